(ns jepsen.paxos.core
  "The Jepsen test of paxos-ts: `lein run test --nodes-file ~/nodes ...`."
  (:gen-class)
  (:require [clojure.java.shell :as sh]
            [clojure.string :as str]
            [jepsen [checker :as checker]
                    [cli :as cli]
                    [generator :as gen]
                    [tests :as tests]]
            [jepsen.checker.timeline :as timeline]
            [jepsen.history :as h]
            [jepsen.paxos [client :as pclient]
                          [db :as pdb]
                          [model :as model]
                          [model-core :as mc]
                          [nemesis :as pnemesis]
                          [os :as pos]]))

(defn duplicates-checker
  "Values are unique, so no list a client saw may hold an element twice."
  []
  (reify checker/Checker
    (check [this test history opts]
      (let [bad (mc/observed-duplicates
                  (filter #(and (= :ok (:type %)) (integer? (:process %)))
                          history))]
        {:valid?     (empty? bad)
         :count      (count bad)
         :duplicates (take 10 bad)}))))

(defn seen-values
  "Every element of every list an :ok append answered or an :ok read
  returned."
  [history]
  (into #{}
        (comp (filter #(and (= :ok (:type %)) (integer? (:process %))))
              (mapcat #(case (:f %)
                         :append (:new-state (:value %))
                         :read   (:value %)
                         nil)))
        history))

(defn unseen-info-appends
  "The :info appends whose value no client ever saw in a list: their
  completions and invocations, as a set of :index."
  [history]
  (let [seen (seen-values history)]
    (into #{}
          (comp (filter #(and (= :info (:type %)) (= :append (:f %))
                              (integer? (:process %)) (not (seen (:value %)))))
                (mapcat #(vector (:index %) (:index (h/invocation history %)))))
          history)))

(defn without-unseen-info
  "Wraps a linearizability checker. Knossos keeps every :info op pending to
  the end of the history and tries it in every order before every later :ok
  op, so a few indeterminate appends that never took effect (timed out on a
  cut-off node) make it explore millions of orders per op. Every reply and
  read here is the whole list, so an append whose value no client ever saw
  in a list can only have taken effect after every op that returned a list
  (or never): the history with it is linearizable exactly when the history
  without it is. Those appends (their invocations and completions) are
  dropped before the wrapped checker runs; the result says how many, under
  :unseen-info-appends."
  [checker]
  (reify checker/Checker
    (check [this test history opts]
      (let [drop (unseen-info-appends history)]
        (assoc (checker/check checker test (h/remove #(drop (:index %)) history) opts)
               :unseen-info-appends (quot (count drop) 2))))))

(defn workload
  "Appends of unique values 0, 1, 2, ... and, with --reads, one read for
  every four appends."
  [opts]
  (if (:reads opts)
    ; One counter shared by every op, so values stay unique (a seq given to
    ; gen/mix several times would replay the same values).
    (let [last-value (atom -1)]
      (fn []
        (if (< (rand) 0.2)
          {:f :read}
          {:f :append, :value (swap! last-value inc)})))
    (map (fn [v] {:f :append, :value v}) (range))))

(defn cluster-token
  "A token of its own for every test run: a node left over from an earlier
  run on the same workers (or its data directory) belongs to another cluster
  and is refused."
  []
  (str "jepsen-" (java.util.UUID/randomUUID)))

(defn checkers
  "The checkers, by name, for the model named model-kind; the perf graphs
  shade the time of each fault of nemesis-kinds (parsed --nemesis)."
  ([model-kind] (checkers model-kind []))
  ([model-kind nemesis-kinds]
   {:linear     (without-unseen-info
                  (checker/linearizable {:model     ((model/models model-kind))
                                         :algorithm :linear}))
    :duplicates (duplicates-checker)
    :timeline   (timeline/html)
    :perf       (checker/perf {:nemeses (pnemesis/perf-nemeses nemesis-kinds)})
    :stats      (checker/stats)
    :exceptions (checker/unhandled-exceptions)}))

(defn paxos-test
  "Builds the test map from the parsed command-line options."
  [opts]
  (let [nemesis-kinds (:nemesis opts)
        model-kind    (:model opts)]
    (merge tests/noop-test
           opts
           {:name      (str "paxos-ts " (str/join "," (map name nemesis-kinds)) " " (name model-kind)
                            (when (:reads opts) " reads")
                            (when (:tls opts) " tls"))
            :cluster-token (cluster-token)
            ; With --tls, the run's certificates, made once (pdb/tls-files).
            :tls-files (atom nil)
            ; What the member nemesis did to each node (jepsen.paxos.db/member-state).
            :member-states (atom {})
            :nonserializable-keys [:tls-files :member-states]
            :os        pos/os
            :db        (pdb/db)
            :client    (pclient/client)
            :nemesis   (pnemesis/nemesis nemesis-kinds)
            :generator (gen/phases
                         (->> (workload opts)
                              (gen/stagger (/ 1 (:rate opts)))
                              (gen/nemesis (pnemesis/generator nemesis-kinds (:healthy opts)
                                                               (:faulty opts)))
                              (gen/time-limit (:time-limit opts)))
                         (gen/log "Healing the cluster")
                         (gen/nemesis (pnemesis/final-generator nemesis-kinds))
                         (gen/sleep 10)
                         (if (:reads opts)
                           (gen/clients (gen/each-thread {:f :read}))
                           []))
            :checker   (checker/compose (checkers model-kind nemesis-kinds))})))

(def cli-opts
  "Options besides Jepsen's own (--nodes-file, --username, --ssh-private-key,
  --concurrency, --time-limit, ...)."
  [[nil "--nemesis NAMES" (str "partition-random-halves (or partition), partition-majorities-ring, "
                              "kill, pause, member, or several joined by commas "
                              "(member,partition,kill: one fault after the other), or none")
    :default  [:partition-random-halves]
    :default-desc "partition-random-halves"
    :parse-fn pnemesis/parse-kinds
    :validate [#(nil? (pnemesis/kinds-error %))
               (str "must be none, or names joined by commas, each once, of: "
                    (str/join ", " (map name (sort (disj pnemesis/names :none)))))]]
   [nil "--healthy SECONDS" "Seconds without a fault before each fault"
    :default  10
    :parse-fn #(Double/parseDouble %)
    :validate [pos? "Must be positive"]]
   [nil "--faulty SECONDS" "Seconds each fault lasts (longer than the nodes' 10 s request timeout, so requests to a cut-off node time out)"
    :default  20
    :parse-fn #(Double/parseDouble %)
    :validate [pos? "Must be positive"]]
   [nil "--nemesis-interval SECONDS" "Shorthand: sets both --healthy and --faulty"
    :parse-fn #(Double/parseDouble %)
    :validate [pos? "Must be positive"]]
   [nil "--model NAME" "strict (every reply is exactly the state plus the value) or appendable-list (the old contract's model)"
    :default  :strict
    :parse-fn keyword
    :validate [model/models (cli/one-of model/models)]]
   [nil "--reads" "Also read the list with GET /state (and a final read per client)"
    :default false]
   [nil "--rate HZ" "Client operations per second, all clients together"
    :default  20
    :parse-fn #(Double/parseDouble %)
    :validate [pos? "Must be positive"]]
   [nil "--request-timeout-ms MS" "HTTP timeout of one operation"
    :default  12000
    :parse-fn #(Long/parseLong %)
    :validate [pos? "Must be positive"]]
   [nil "--http-port PORT" "The nodes' HTTP port (gRPC clients use PORT + 1000, peers PORT + 2000)"
    :default  5000
    :parse-fn #(Long/parseLong %)]
   [nil "--tls" "Mutual TLS between the nodes, HTTPS with client certificates for the clients (certificates made per run with paxos certs)"
    :default false]
   [nil "--paxos-root DIR" "The paxos-ts checkout on this control node (with node_modules and dist/) whose `paxos certs` makes the --tls certificates"
    :default ".."]
   [nil "--package FILE" "paxos-ts tarball on this control node (bin/package.sh makes it)"
    :default "paxos-ts.tgz"]
   [nil "--install-dir DIR" "Where the workers unpack paxos-ts"
    :default "/opt/paxos-ts"]
   [nil "--data-dir DIR" "The node's durable log on each worker (wiped between tests)"
    :default "/var/lib/paxos-ts"]
   [nil "--log-dir DIR" "The node's logs and pidfile on each worker"
    :default "/var/log/paxos-ts"]])

(defn with-default
  "Changes the :default of the option whose long form is long-opt in a
  tools.cli spec."
  [spec long-opt default]
  (mapv (fn [opt]
          (if (= long-opt (second opt))
            (let [i (.indexOf ^java.util.List opt :default)]
              (if (neg? i)
                (conj opt :default default)
                (assoc opt (inc i) default)))
            opt))
        spec))

(defn interval-opts
  "An opt-fn (of tools.cli's parsed map): --nemesis-interval S, when given,
  sets both --healthy and --faulty."
  [parsed]
  (if-let [s (get-in parsed [:options :nemesis-interval])]
    (update parsed :options assoc :healthy s, :faulty s)
    parsed))

(defn gnuplot?
  "Whether gnuplot is on this control node's PATH."
  []
  (zero? (:exit (sh/sh "sh" "-c" "command -v gnuplot"))))

(defn check-control-node!
  "Fails before anything touches the workers when this control node lacks
  what the analysis needs: Jepsen's perf checker draws its graphs with
  gnuplot, and without it the run ends :unknown (exit 2)."
  []
  (when-not (gnuplot?)
    (throw (ex-info (str "gnuplot is not installed on this control node; Jepsen's perf "
                         "checker needs it (without it every run ends :unknown, exit 2). "
                         "Install it: sudo apt-get install -y gnuplot-nox")
                    {:type ::no-gnuplot}))))

(defn test-cmd
  "Jepsen's single-test command, with 3 clients per node and 60 s by default."
  []
  (update-in (cli/single-test-cmd {:test-fn (fn [opts]
                                              (check-control-node!)
                                              (paxos-test opts))
                                   :opt-spec cli-opts
                                   :opt-fn   interval-opts})
             ["test" :opt-spec]
             (fn [spec]
               (-> spec
                   (with-default "--concurrency NUMBER" "3n")
                   (with-default "--time-limit SECONDS" 60)))))

(defn -main
  [& args]
  (cli/run! (merge (test-cmd) (cli/serve-cmd)) args))
