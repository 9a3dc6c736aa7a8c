(ns jepsen.paxos.core
  "The Jepsen test of paxos-ts: `lein run test --nodes-file ~/nodes ...`."
  (:gen-class)
  (:require [clojure.string :as str]
            [jepsen [checker :as checker]
                    [cli :as cli]
                    [generator :as gen]
                    [tests :as tests]]
            [jepsen.checker.timeline :as timeline]
            [jepsen.os.debian :as debian]
            [jepsen.paxos [client :as pclient]
                          [db :as pdb]
                          [model :as model]
                          [model-core :as mc]
                          [nemesis :as pnemesis]]))

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

(defn paxos-test
  "Builds the test map from the parsed command-line options."
  [opts]
  (let [nemesis-kind (:nemesis opts)
        model-kind   (:model opts)]
    (merge tests/noop-test
           opts
           {:name      (str "paxos-ts " (name nemesis-kind) " " (name model-kind)
                            (when (:reads opts) " reads")
                            (when (:tls opts) " tls"))
            :cluster-token (cluster-token)
            ; With --tls, the run's certificates, made once (pdb/tls-files).
            :tls-files (atom nil)
            :nonserializable-keys [:tls-files]
            :os        debian/os
            :db        (pdb/db)
            :client    (pclient/client)
            :nemesis   (pnemesis/nemesis nemesis-kind)
            :generator (gen/phases
                         (->> (workload opts)
                              (gen/stagger (/ 1 (:rate opts)))
                              (gen/nemesis (pnemesis/generator (:nemesis-interval opts)))
                              (gen/time-limit (:time-limit opts)))
                         (gen/log "Healing the cluster")
                         (gen/nemesis {:type :info, :f :stop})
                         (gen/sleep 10)
                         (if (:reads opts)
                           (gen/clients (gen/each-thread {:f :read}))
                           []))
            :checker   (checker/compose
                         {:linear     (checker/linearizable
                                        {:model     ((model/models model-kind))
                                         :algorithm :linear})
                          :duplicates (duplicates-checker)
                          :timeline   (timeline/html)
                          :perf       (checker/perf)
                          :stats      (checker/stats)
                          :exceptions (checker/unhandled-exceptions)})})))

(def cli-opts
  "Options besides Jepsen's own (--nodes-file, --username, --ssh-private-key,
  --concurrency, --time-limit, ...)."
  [[nil "--nemesis NAME" "partition-random-halves, partition-majorities-ring, kill, pause or none"
    :default  :partition-random-halves
    :parse-fn keyword
    :validate [pnemesis/names (cli/one-of pnemesis/names)]]
   [nil "--nemesis-interval SECONDS" "Seconds healthy, then seconds of fault, in turn"
    :default  5
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

(defn test-cmd
  "Jepsen's single-test command, with the old test's defaults: 5 clients, 30 s."
  []
  (update-in (cli/single-test-cmd {:test-fn paxos-test, :opt-spec cli-opts})
             ["test" :opt-spec]
             (fn [spec]
               (-> spec
                   (with-default "--concurrency NUMBER" "5")
                   (with-default "--time-limit SECONDS" 30)))))

(defn -main
  [& args]
  (cli/run! (merge (test-cmd) (cli/serve-cmd)) args))
