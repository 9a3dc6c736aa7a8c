;; Loads the Jepsen-dependent namespaces against the stand-ins in stubs/
;; (classpath src:stubs:data.json), so unresolved names and malformed forms
;; show up without Jepsen, then exercises what can run without it: the test
;; map, the option spec, the Knossos model records and the client's op
;; mapping, the --tls certificates (made once, with PAXOS_ROOT's `paxos
;; certs`) and the node's flags. Prints "COMPILE <passed> <failed>".
(require '[clojure.test :refer [is deftest run-tests testing]])
(import '(java.net ServerSocket)
        '(java.nio.file Files)
        '(java.nio.file.attribute FileAttribute))
(require 'knossos.model)

(def nss '[jepsen.paxos.model jepsen.paxos.http jepsen.paxos.certs jepsen.paxos.client
           jepsen.paxos.db jepsen.paxos.nemesis jepsen.paxos.core])

(deftest namespaces-load
  (doseq [n nss]
    (is (nil? (require n)) (str n))))

(deftest test-map
  (require 'jepsen.paxos.core)
  (let [paxos-test (resolve 'jepsen.paxos.core/paxos-test)]
    (doseq [nem [:partition-random-halves :partition-majorities-ring :kill :pause :none]
            m   [:strict :appendable-list]
            reads [false true]
            tls [false true]]
      (let [t (paxos-test {:nemesis nem, :model m, :reads reads, :tls tls, :rate 20,
                           :nemesis-interval 5, :time-limit 30, :nodes ["a" "b" "c"]})]
        (is (= #{:linear :duplicates :timeline :perf :stats :exceptions}
               (set (keys (:checker t)))))
        (is (some? (:db t)))
        (is (some? (:client t)))
        (is (= tls (boolean (re-find #" tls$" (:name t)))))
        (is (instance? clojure.lang.Atom (:tls-files t)))
        (is (some #{:tls-files} (:nonserializable-keys t)))))
    (let [tokens (repeatedly 2 #(:cluster-token (paxos-test {:nemesis :none, :model :strict,
                                                             :rate 20, :nodes ["a"]})))]
      (is (every? #(re-matches #"jepsen-[0-9a-f-]{36}" %) tokens))
      (is (apply distinct? tokens) "every run has a cluster token of its own"))))

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
    (is (= :strict (dflt (opt "--model NAME"))))
    (is (false? (dflt (opt "--tls"))))
    (is (= ".." (dflt (opt "--paxos-root DIR"))))))

(def paxos-root (or (System/getenv "PAXOS_ROOT") ".."))

(defn tls-test-map
  "A test map with --tls whose store directory is dir."
  [dir]
  {:name "ci", :start-time "t", :tls true, :tls-files (atom nil),
   :paxos-root paxos-root, :nodes ["n1" "n2" "n3"], :http-port 5000,
   :install-dir "/opt/paxos-ts", :data-dir "/var/lib/paxos-ts",
   :log-dir "/var/log/paxos-ts", :cluster-token "jepsen-x"})

(defn temp-dir []
  (.toFile (Files/createTempDirectory "paxos-compile-check" (make-array FileAttribute 0))))

(deftest tls-files-made-once
  (require 'jepsen.paxos.db 'jepsen.store 'jepsen.paxos.certs)
  (let [dir       (temp-dir)
        tls-files (resolve 'jepsen.paxos.db/tls-files)
        made      (atom 0)
        make!     @(resolve 'jepsen.paxos.certs/make!)]
    (try
      (with-redefs-fn {(resolve 'jepsen.store/path) (fn [& _] (java.io.File. dir "certs"))
                       (resolve 'jepsen.paxos.certs/make!)
                       (fn [opts] (swap! made inc) (make! opts))}
        (fn []
          (let [t     (tls-test-map dir)
                files (mapv deref (doall (repeatedly 6 #(future (tls-files t)))))
                f     (first files)]
            (is (= 1 @made) "made once, though setup! runs on every node at once")
            (is (apply = files))
            (is (= 3 (count (:nodes f))))
            (doseq [file (concat [(:ca-file f)] (mapcat vals (:nodes f))
                                 (vals ((resolve 'jepsen.paxos.db/client-tls) t)))]
              (is (.exists (java.io.File. (str file))) (str file)))
            (is (.endsWith (str (:cert-file ((resolve 'jepsen.paxos.db/client-tls) t)))
                           "client.jepsen.crt"))
            (is (not (.exists (java.io.File. dir "certs/ca.key"))) "the CA's key is gone")
            (is (= ["n1:5000" "n2:5000" "n3:5000"]
                   (clojure.string/split-lines (slurp (java.io.File. dir "certs/config")))))
            (is (nil? (tls-files (assoc t :tls false))))
            (is (= {} ((resolve 'jepsen.paxos.db/client-tls) (assoc t :tls false)))))))
      (finally
        (doseq [^java.io.File f (reverse (file-seq dir))] (.delete f))))))

(deftest node-flags-and-uploads
  (require 'jepsen.paxos.db)
  (let [dir     (temp-dir)
        t       (tls-test-map dir)
        started (atom nil)
        uploads (atom [])]
    (try
      (with-redefs-fn {(resolve 'jepsen.store/path) (fn [& _] (java.io.File. dir "certs"))
                       (resolve 'jepsen.control.util/start-daemon!)
                       (fn [opts bin & args] (reset! started (->> (flatten args) (remove nil?)
                                                        (map #(if (keyword? %) (name %) (str %))))) :started)
                       (resolve 'jepsen.control/upload)
                       (fn [local remote] (swap! uploads conj [(str local) remote]) remote)}
        (fn []
          (let [flags (fn [] (let [a (vec @started)]
                               (into {} (for [[k v] (map vector a (rest a))
                                              :when (.startsWith ^String k "--")]
                                          [k v]))))]
            ((resolve 'jepsen.paxos.db/start-node!) (assoc t :tls false) "n2")
            (is (= "jepsen-x" (get (flags) "--cluster-token")))
            (is (= "1" (get (flags) "--self")))
            (is (not-any? #(.startsWith ^String % "--peer") @started) "no TLS without --tls")
            ((resolve 'jepsen.paxos.db/start-node!) t "n2")
            (is (= "jepsen-x" (get (flags) "--cluster-token")))
            (is (= "/opt/paxos-ts/certs/node.crt" (get (flags) "--peer-cert-file")
                   (get (flags) "--cert-file")))
            (is (= "/opt/paxos-ts/certs/node.key" (get (flags) "--peer-key-file")
                   (get (flags) "--key-file")))
            (is (= "/opt/paxos-ts/certs/ca.crt" (get (flags) "--peer-trusted-ca-file")
                   (get (flags) "--trusted-ca-file")))
            (is (some #{"--client-cert-auth"} @started))
            ((resolve 'jepsen.paxos.db/install-certs!) t "n3")
            (is (= ["ca.crt" "node-2.crt" "node-2.key"]
                   (map #(.getName (java.io.File. ^String (first %))) @uploads))
                "node n3 gets line 2's certificate, and never the CA's key")
            (is (= ["ca.crt" "node.crt" "node.key"]
                   (map #(.getName (java.io.File. ^String (second %))) @uploads))))))
      (finally
        (doseq [^java.io.File f (reverse (file-seq dir))] (.delete f))))))

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
    (is (nil? (:value rd)))
    (testing "with --tls the client uses the run's CA and client certificate"
      (let [dir (temp-dir)]
        (try
          (with-redefs-fn {(resolve 'jepsen.store/path) (fn [& _] (java.io.File. dir "certs"))}
            (fn []
              (let [t   (assoc (tls-test-map dir) :nodes ["127.0.0.1"], :http-port port,
                               :request-timeout-ms 1000)
                    c   (open client t "127.0.0.1")
                    app (invoke c t {:type :invoke, :f :append, :value 8, :process 0})]
                (is (.endsWith (str (:cert-file (:tls c))) "client.jepsen.crt"))
                (is (= :fail (:type app)))
                (is (= :connection-refused (first (:error app)))))))
          (finally
            (doseq [^java.io.File f (reverse (file-seq dir))] (.delete f))))))))

(let [{:keys [pass fail error]} (run-tests)]
  (println "COMPILE" pass (+ fail error))
  (shutdown-agents)
  (System/exit (if (zero? (+ fail error)) 0 1)))
