(ns jepsen.paxos.core-test
  "The test map, the command line, the nemesis schedule, the Knossos models
  and the Jepsen client, on real Jepsen 0.3.5 (the classpath of
  ../shared/jepsen-offline): no stand-ins."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [clojure.tools.cli :as tools-cli]
            [jepsen.checker :as checker]
            [jepsen.client :as client]
            [jepsen.history :as h]
            [jepsen.nemesis]
            [jepsen.paxos [client :as pclient]
                          [core :as core]
                          [db :as pdb]
                          [model :as model]
                          [nemesis :as pnemesis]]
            [jepsen.store :as store]
            [knossos.model :as knossos])
  (:import (java.net ServerSocket)
           (java.nio.file Files)
           (java.nio.file.attribute FileAttribute)
           (java.util.concurrent ExecutorService)))

(defn temp-dir []
  (.toFile (Files/createTempDirectory "paxos-core-test" (make-array FileAttribute 0))))

(defn delete-tree! [^java.io.File dir]
  (doseq [^java.io.File f (reverse (file-seq dir))] (.delete f)))

(def paxos-root
  "The checkout, whose `paxos certs` makes --tls certificates."
  (or (System/getenv "PAXOS_ROOT") ".."))

(defn parse
  "Parses a `lein run test` command line the way jepsen.cli does (with our
  opt-fn), returning the options map."
  [& args]
  (let [{:keys [opt-spec opt-fn]} (get (core/test-cmd) "test")
        parsed (opt-fn (tools-cli/parse-opts args opt-spec))]
    (is (empty? (:errors parsed)) (pr-str (:errors parsed)))
    (:options parsed)))

(deftest test-map
  (doseq [nem   (concat (map vector (sort pnemesis/names))
                        [[:member :partition-random-halves :kill] [:pause :member]])
          m     [:strict :appendable-list]
          reads [false true]
          tls   [false true]]
    (let [t (core/paxos-test {:nemesis (mapv #(pnemesis/aliases % %) nem), :model m,
                              :reads reads, :tls tls, :rate 20,
                              :healthy 10, :faulty 20, :time-limit 30,
                              :nodes ["a" "b" "c"]})]
      (is (= #{:linear :duplicates :timeline :perf :stats :exceptions}
             (set (keys (core/checkers m)))))
      (is (every? #(satisfies? checker/Checker %) (vals (core/checkers m))))
      (is (satisfies? checker/Checker (:checker t)))
      (is (satisfies? client/Client (:client t)))
      (is (some? (:db t)))
      (is (some? (:nemesis t)))
      (is (= tls (boolean (re-find #" tls$" (:name t)))))
      (is (instance? clojure.lang.Atom (:tls-files t)))
      (is (some #{:tls-files} (:nonserializable-keys t)))
      (is (instance? clojure.lang.Atom (:member-states t)))
      (is (some #{:member-states} (:nonserializable-keys t)))))
  (let [tokens (repeatedly 2 #(:cluster-token (core/paxos-test {:nemesis [:none], :model :strict,
                                                                :rate 20, :healthy 1, :faulty 1,
                                                                :time-limit 30, :nodes ["a"]})))]
    (is (every? #(re-matches #"jepsen-[0-9a-f-]{36}" %) tokens))
    (is (apply distinct? tokens) "every run has a cluster token of its own")))

(deftest unique-values
  (let [g   (core/workload {:reads true})
        ops (repeatedly 500 g)
        vs  (keep #(when (= :append (:f %)) (:value %)) ops)]
    (is (some #(= :read (:f %)) ops))
    (is (= (count vs) (count (distinct vs))))
    (is (= [0 1 2 3 4] (map :value (take 5 (core/workload {})))))))

(deftest command-line
  (testing "defaults: 3 clients per node, 60 s, faults of 20 s after 10 s healthy"
    (let [o (parse "--nodes" "a,b,c")]
      (is (= 9 (:concurrency o)))
      (is (= 15 (:concurrency (parse "--nodes" "a,b,c,d,e"))))
      (is (= 60 (:time-limit o)))
      (is (= 10 (:healthy o)))
      (is (= 20 (:faulty o)))
      (is (< 10 (:faulty o)) "a fault outlasts the nodes' 10 s request timeout")
      (is (= [:partition-random-halves] (:nemesis o)))
      (is (= :strict (:model o)))
      (is (false? (:tls o)))
      (is (= ".." (:paxos-root o)))
      (is (= ["a" "b" "c"] (:nodes o)))))
  (testing "--healthy and --faulty, and --nemesis-interval for both"
    (let [o (parse "--nodes" "a" "--healthy" "3" "--faulty" "12.5")]
      (is (= [3.0 12.5] [(:healthy o) (:faulty o)])))
    (let [o (parse "--nodes" "a" "--nemesis-interval" "7")]
      (is (= [7.0 7.0] [(:healthy o) (:faulty o)]))))
  (testing "bad values are refused"
    (let [{:keys [opt-spec]} (get (core/test-cmd) "test")]
      (is (seq (:errors (tools-cli/parse-opts ["--faulty" "0"] opt-spec))))
      (is (seq (:errors (tools-cli/parse-opts ["--nemesis" "flood"] opt-spec))))
      (is (seq (:errors (tools-cli/parse-opts ["--nemesis" "member,flood"] opt-spec))))
      (is (seq (:errors (tools-cli/parse-opts ["--nemesis" "kill,kill"] opt-spec))))
      (is (seq (:errors (tools-cli/parse-opts ["--nemesis" "partition,partition-random-halves"]
                                              opt-spec)))
          "partition is partition-random-halves")
      (is (seq (:errors (tools-cli/parse-opts ["--nemesis" "none,kill"] opt-spec))))))
  (testing "several nemeses, joined by commas"
    (is (= [:member :partition-random-halves :kill]
           (:nemesis (parse "--nodes" "a" "--nemesis" "member,partition,kill"))))
    (is (= [:member] (:nemesis (parse "--nodes" "a" "--nemesis" "member"))))
    (is (= [:none] (:nemesis (parse "--nodes" "a" "--nemesis" "none"))))))

(deftest nemesis-schedule
  (let [[healthy start faulty stop healthy2] (take 5 (pnemesis/generator [:kill] 3 12))]
    (is (= {:type :info, :f :kill} start))
    (is (= {:type :info, :f :restart} stop))
    (is (= [{:type :sleep, :value 3} {:type :sleep, :value 12} {:type :sleep, :value 3}]
           [healthy faulty healthy2])
        "sleeps of healthy, then faulty seconds"))
  (testing "several faults take turns: each ends before the next starts"
    (let [kinds [:member :partition-random-halves :kill]
          ops   (filter #(= :info (:type %)) (take 24 (pnemesis/generator kinds 1 2)))]
      (is (= [:shrink :grow :start-partition :stop-partition :kill :restart :shrink :grow]
             (map :f (take 8 ops))))
      (is (every? #(= :info (:type %)) ops))
      (is (= [:stop-partition :restart :grow] (map :f (pnemesis/final-generator kinds)))
          "after the time limit: heal, restart, then grow the membership back")))
  (testing "none: no nemesis ops"
    (is (nil? (pnemesis/generator [:none] 1 2)))
    (is (= [] (pnemesis/final-generator [:none]))))
  (testing "every fault's ops reach its own nemesis"
    (let [n (pnemesis/nemesis [:member :partition-random-halves :kill :pause])]
      (is (= #{:shrink :grow :start-partition :stop-partition :kill :restart :pause :resume}
             (set (jepsen.nemesis/fs n))))))
  (testing "the perf graphs shade each fault"
    (is (= #{{:name "member", :start #{:shrink}, :stop #{:grow}}
             {:name "kill", :start #{:kill}, :stop #{:restart}}}
           (pnemesis/perf-nemeses [:member :kill])))))

(deftest member-changes-are-retried-and-recognized
  (let [change! @#'pnemesis/change!
        scripted (fn [answers]
                   ; a call that answers from answers, one per attempt, and
                   ; records which contact it was sent through
                   (let [left (atom answers), sent (atom [])]
                     [(fn [_ url] (swap! sent conj url)
                        (let [[a] @left] (swap! left rest) a))
                      sent]))
        run (fn [answers opts]
              (let [[call sent] (scripted answers)]
                [(change! nil identity ["n1" "n2"] call opts) @sent]))]
    (testing "an answer lost (503 unknown), then refused unknown_member: the first removal took effect"
      (let [[r sent] (run [{:type :info, :error [:unknown "timed out"]}
                           {:type :refused, :refusal "unknown_member"}]
                          {:done? #{"unknown_member"}, :retry? #{"change_pending"}})]
        (is (= :ok (:type r)))
        (is (:already r))
        (is (= ["n1" "n2"] sent) "the retry goes through the next member")))
    (testing "change_pending and learner_behind are waited out"
      (let [[r] (run [{:type :refused, :refusal "change_pending"}
                      {:type :refused, :refusal "learner_behind"}
                      {:type :ok, :body {:member {:id 3}}}]
                     {:done? #{"not_a_learner"}, :retry? #{"learner_behind" "change_pending"}})]
        (is (= :ok (:type r)))
        (is (= 3 (:attempts r)))))
    (testing "any other refusal ends it: nothing changed"
      (let [[r sent] (run [{:type :refused, :refusal "would_lose_quorum"}]
                          {:done? #{"unknown_member"}, :retry? #{"change_pending"}})]
        (is (= "would_lose_quorum" (:refusal r)))
        (is (= 1 (count sent)))))
    (testing "no member to ask"
      (is (= :fail (:type (change! nil identity [] (fn [& _] (throw (Exception. "called")))
                                   {:done? #{}, :retry? #{}})))))))

(deftest member-shrink-picks-the-leader-then-a-follower
  (let [leader-id @#'pnemesis/leader-id
        vs [{:id 0, :node "n1"} {:id 1, :node "n2"} {:id 2, :node "n3"}]]
    (with-redefs [jepsen.paxos.http/node-status
                  (fn [_ url _] (if (= url "n2") {:type :info} {:type :ok, :body {:leader 2}}))]
      (is (= 2 (leader-id nil identity vs)) "the leader most voters name"))
    (with-redefs [jepsen.paxos.http/node-status (fn [& _] {:type :fail})]
      (is (nil? (leader-id nil identity vs)))))
  (is (= 2 (pnemesis/min-voters {:nodes ["a" "b" "c"]})))
  (is (= 3 (pnemesis/min-voters {:nodes ["a" "b" "c" "d" "e"]}))))

(deftest gnuplot-is-checked-before-the-run
  (with-redefs [core/gnuplot? (constantly false)]
    (let [e (try (core/check-control-node!) nil (catch clojure.lang.ExceptionInfo e e))]
      (is (some? e))
      (is (re-find #"gnuplot-nox" (str (.getMessage ^Exception e))))))
  (with-redefs [core/gnuplot? (constantly true)]
    (is (nil? (core/check-control-node!)))))

(deftest model-records
  (let [step (fn [m op] (knossos/step m op))
        ok   (fn [v s] {:f :append, :value {:appended-value v, :new-state s}})]
    (doseq [[k ctor] model/models]
      (let [m (-> (ctor) (step (ok 1 [1])) (step {:f :append, :value 2})
                  (step (ok 3 [1 2 3])))]
        (is (= [1 2 3] (:state m)) (str k))
        (is (knossos/inconsistent? (step m (ok 4 [4]))) (str k))
        (is (knossos/inconsistent? (step m {:f :read, :value [1]})) (str k))))))

(defn tls-test-map
  "A test map with --tls whose store directory is dir."
  [dir]
  {:name "ci", :start-time "t", :tls true, :tls-files (atom nil),
   :paxos-root paxos-root, :nodes ["n1" "n2" "n3"], :http-port 5000,
   :install-dir "/opt/paxos-ts", :data-dir "/var/lib/paxos-ts",
   :log-dir "/var/log/paxos-ts", :cluster-token "jepsen-x"})

(deftest tls-files-made-once
  (let [dir  (temp-dir)
        made (atom 0)]
    (try
      (let [make! @#'jepsen.paxos.certs/make!]
        (with-redefs [store/path (fn [& _] (io/file dir "certs"))
                      jepsen.paxos.certs/make! (fn [opts] (swap! made inc) (make! opts))]
          (let [t     (tls-test-map dir)
                files (mapv deref (doall (repeatedly 6 #(future (pdb/tls-files t)))))
                f     (first files)]
            (is (= 1 @made) "made once, though setup! runs on every node at once")
            (is (apply = files))
            (is (= 3 (count (:nodes f))))
            (doseq [file (concat [(:ca-file f)] (mapcat vals (:nodes f))
                                 (vals (pdb/client-tls t)))]
              (is (.exists (io/file (str file))) (str file)))
            (is (str/ends-with? (str (:cert-file (pdb/client-tls t))) "client.jepsen.crt"))
            (is (not (.exists (io/file dir "certs/ca.key"))) "the CA's key is gone")
            (is (= ["n1:5000" "n2:5000" "n3:5000"]
                   (str/split-lines (slurp (io/file dir "certs/config")))))
            (is (nil? (pdb/tls-files (assoc t :tls false))))
            (is (= {} (pdb/client-tls (assoc t :tls false)))))))
      (finally
        (delete-tree! dir)))))

(defn- executor-of
  ^ExecutorService [c]
  (.orElse (.executor ^java.net.http.HttpClient (:http-client c)) nil))

(deftest client-op-mapping-and-close
  (let [port (with-open [s (ServerSocket. 0)] (.getLocalPort s))
        test {:nodes ["127.0.0.1"], :http-port port, :request-timeout-ms 1000}
        c    (client/open! (pclient/client) test "127.0.0.1")
        app  (client/invoke! c test {:type :invoke, :f :append, :value 7, :process 3})
        rd   (client/invoke! c test {:type :invoke, :f :read, :value nil, :process 4})]
    (is (= :fail (:type app)) "nothing listens: connection refused")
    (is (= 7 (:value app)) ":fail keeps the invocation's value")
    (is (= :connection-refused (first (:error app))))
    (is (= :fail (:type rd)))
    (is (nil? (:value rd)))
    (testing "close! closes what open! made"
      (let [ex (executor-of c)]
        (is (instance? ExecutorService ex))
        (is (not (.isShutdown ex)))
        (let [closed (client/close! c test)]
          (is (.isShutdown ex))
          (is (nil? (:http-client closed))))))
    (testing "each open! makes a client of its own"
      (let [a (client/open! (pclient/client) test "127.0.0.1")
            b (client/open! (pclient/client) test "127.0.0.1")]
        (is (not (identical? (:http-client a) (:http-client b))))
        (client/close! a test)
        (is (.isShutdown (executor-of a)))
        (is (not (.isShutdown (executor-of b))) "closing one leaves the other open")
        (client/close! b test))))
  (testing "with --tls the client uses the run's CA and client certificate"
    (let [dir  (temp-dir)
          port (with-open [s (ServerSocket. 0)] (.getLocalPort s))]
      (try
        (with-redefs [store/path (fn [& _] (io/file dir "certs"))]
          (let [t   (assoc (tls-test-map dir) :nodes ["127.0.0.1"], :http-port port,
                           :request-timeout-ms 1000)
                c   (client/open! (pclient/client) t "127.0.0.1")
                app (client/invoke! c t {:type :invoke, :f :append, :value 8, :process 0})]
            (is (str/ends-with? (str (:cert-file (:tls c))) "client.jepsen.crt"))
            (is (= :fail (:type app)))
            (is (= :connection-refused (first (:error app))))
            (client/close! c t)))
        (finally
          (delete-tree! dir))))))

;; Dropping the :info appends nobody saw, before Knossos.

(defn- history
  "A jepsen.history from [process type f value time-ms] rows."
  [rows]
  (h/history (for [[p t f v ms] rows]
               {:process p, :type t, :f f, :value v, :time (* ms 1000000)})))

(defn- ok-append [p v s ms] [p :ok :append {:appended-value v, :new-state s} ms])

(defn- linear
  [rows]
  (checker/check (core/without-unseen-info
                   (checker/linearizable {:model ((model/models :strict)), :algorithm :linear}))
                 {:name "t", :start-time "t"} (history rows) {}))

(deftest unseen-info-appends
  (testing "an append that timed out and never showed up is dropped; the rest is checked"
    (let [r (linear [[0 :invoke :append 1 0] (ok-append 0 1 [1] 1)
                     [1 :invoke :append 2 2] [1 :info :append 2 3]
                     [0 :invoke :append 3 4] (ok-append 0 3 [1 3] 5)])]
      (is (true? (:valid? r)))
      (is (= 1 (:unseen-info-appends r)))))
  (testing "an :info append that a later reply shows is kept, and must fit"
    (let [r (linear [[1 :invoke :append 2 0] [1 :info :append 2 1]
                     [0 :invoke :append 1 2] (ok-append 0 1 [2 1] 3)])]
      (is (true? (:valid? r)))
      (is (= 0 (:unseen-info-appends r))))
    (let [r (linear [[0 :invoke :append 1 0] (ok-append 0 1 [1] 1)
                     [1 :invoke :append 2 2] [1 :info :append 2 3]
                     ; 2 shows up before 1: it cannot have been appended after [1]
                     [0 :invoke :append 3 4] (ok-append 0 3 [2 1 3] 5)])]
      (is (false? (:valid? r)))))
  (testing "a violation is still found with unseen :info appends around it"
    (let [r (linear [[1 :invoke :append 9 0] [1 :info :append 9 1]
                     [0 :invoke :append 1 2] (ok-append 0 1 [1] 3)
                     [0 :invoke :append 2 4] (ok-append 0 2 [2] 5)])]
      (is (false? (:valid? r)))
      (is (= 1 (:unseen-info-appends r)))))
  (testing "many unseen :info appends: Knossos alone would try every order of them
            before each later op; without them the check is quick"
    (let [infos (for [i (range 12)] [[(+ 100 i) :invoke :append (+ 1000 i) i]
                                     [(+ 100 i) :info :append (+ 1000 i) (+ 20 i)]])
          oks   (for [v (range 300)]
                  [[0 :invoke :append v (+ 40 (* 2 v))]
                   (ok-append 0 v (vec (range (inc v))) (+ 41 (* 2 v)))])
          t0    (System/nanoTime)
          r     (linear (sort-by last (apply concat (concat infos oks))))]
      (is (true? (:valid? r)))
      (is (= 12 (:unseen-info-appends r)))
      (is (< (- (System/nanoTime) t0) 30e9)))))
