;; Loads the Jepsen-dependent namespaces against the stand-ins in stubs/
;; (classpath src:stubs:data.json), so unresolved names and malformed forms
;; show up without Jepsen, then exercises what can run without it: the test
;; map, the option spec, the Knossos model records and the client's op
;; mapping. Prints "COMPILE <passed> <failed>".
(require '[clojure.test :refer [is deftest run-tests]])
(import '(java.net ServerSocket))
(require 'knossos.model)

(def nss '[jepsen.paxos.model jepsen.paxos.http jepsen.paxos.client
           jepsen.paxos.db jepsen.paxos.nemesis jepsen.paxos.core])

(deftest namespaces-load
  (doseq [n nss]
    (is (nil? (require n)) (str n))))

(deftest test-map
  (require 'jepsen.paxos.core)
  (let [paxos-test (resolve 'jepsen.paxos.core/paxos-test)]
    (doseq [nem [:partition-random-halves :partition-majorities-ring :kill :pause :none]
            m   [:strict :appendable-list]
            reads [false true]]
      (let [t (paxos-test {:nemesis nem, :model m, :reads reads, :rate 20,
                           :nemesis-interval 5, :time-limit 30, :nodes ["a" "b" "c"]})]
        (is (= #{:linear :duplicates :timeline :perf :stats :exceptions}
               (set (keys (:checker t)))))
        (is (some? (:db t)))
        (is (some? (:client t)))))))

(deftest unique-values
  (let [workload (resolve 'jepsen.paxos.core/workload)
        g        (workload {:reads true})
        ops      (repeatedly 500 g)
        vs       (keep #(when (= :append (:f %)) (:value %)) ops)]
    (is (some #(= :read (:f %)) ops))
    (is (= (count vs) (count (distinct vs))))
    (is (= [0 1 2 3 4] (map :value (take 5 (workload {})))))))

(deftest cli-defaults
  (let [spec  (get-in ((resolve 'jepsen.paxos.core/test-cmd)) ["test" :opt-spec])
        opt   (fn [long-opt] (first (filter #(= long-opt (second %)) spec)))
        dflt  (fn [o] (second (drop-while #(not= :default %) o)))]
    (is (= "5" (dflt (opt "--concurrency NUMBER"))))
    (is (= 30 (dflt (opt "--time-limit SECONDS"))))
    (is (= :partition-random-halves (dflt (opt "--nemesis NAME"))))
    (is (= :strict (dflt (opt "--model NAME"))))))

(deftest model-records
  (let [models @(resolve 'jepsen.paxos.model/models)
        step   (fn [m op] (.step ^knossos.model.Model m op))
        ok     (fn [v s] {:f :append, :value {:appended-value v, :new-state s}})]
    (doseq [[k ctor] models]
      (let [m (-> (ctor) (step (ok 1 [1])) (step {:f :append, :value 2})
                  (step (ok 3 [1 2 3])))]
        (is (= [1 2 3] (:state m)) (str k))
        (is (knossos.model/inconsistent? (step m (ok 4 [4]))) (str k))
        (is (knossos.model/inconsistent? (step m {:f :read, :value [1]})) (str k))))))

(deftest client-op-mapping
  (let [client ((resolve 'jepsen.paxos.client/client))
        invoke (resolve 'jepsen.client/invoke!)
        open   (resolve 'jepsen.client/open!)
        port   (with-open [s (ServerSocket. 0)] (.getLocalPort s))
        test   {:nodes ["127.0.0.1"], :http-port port, :request-timeout-ms 1000}
        c      (open client test "127.0.0.1")
        app    (invoke c test {:type :invoke, :f :append, :value 7, :process 3})
        rd     (invoke c test {:type :invoke, :f :read, :value nil, :process 4})]
    (is (= :fail (:type app)) "nothing listens: connection refused")
    (is (= 7 (:value app)) ":fail keeps the invocation's value")
    (is (= :connection-refused (first (:error app))))
    (is (= :fail (:type rd)))
    (is (nil? (:value rd)))))

(let [{:keys [pass fail error]} (run-tests)]
  (println "COMPILE" pass (+ fail error))
  (shutdown-agents)
  (System/exit (if (zero? (+ fail error)) 0 1)))
