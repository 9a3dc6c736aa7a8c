(ns jepsen.paxos.http-test
  "jepsen.paxos.http against a real local 3-node paxos-ts cluster (OS
  processes on 127.0.0.1, started and stopped here), and against tiny local
  servers that misbehave on purpose."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [jepsen.paxos.http :as http]
            [jepsen.paxos.model-core :as mc]
            [jepsen.paxos.test-support :refer [linearizable?]])
  (:import (com.sun.net.httpserver HttpExchange HttpHandler HttpServer)
           (java.net InetSocketAddress ServerSocket)
           (java.nio.file Files)
           (java.nio.file.attribute FileAttribute)
           (java.util.concurrent TimeUnit)))

(def repo-root
  "The paxos-ts checkout (with dist/ built). PAXOS_ROOT, or the parent of the
  working directory (bin/ci-test.sh runs from jepsen/)."
  (or (System/getenv "PAXOS_ROOT") ".."))

(defn free-port []
  (with-open [s (ServerSocket. 0)] (.getLocalPort s)))

(def ^:dynamic *urls* nil)

(defn- record-pid!
  "Appends a child's pid to PAXOS_TEST_PIDFILE, so bin/ci-test.sh can stop it
  even if this JVM dies."
  [^Process p]
  (when-let [f (System/getenv "PAXOS_TEST_PIDFILE")]
    (spit f (str (.pid p) "\n") :append true)))

(defn- stop! [procs]
  (doseq [^Process p procs] (.destroy p)) ; SIGTERM: clean stop
  (doseq [^Process p procs]
    (when-not (.waitFor p 5 TimeUnit/SECONDS)
      (.destroyForcibly p)
      (.waitFor p 5 TimeUnit/SECONDS))))

(defn- await-leader!
  "Appends through node 0 until one append succeeds (an election has
  happened), for up to 30 s."
  [client url]
  (let [deadline (+ (System/currentTimeMillis) 30000)]
    (loop [i 0]
      (let [r (http/append! client url {:client-id 999999, :command-id (inc i),
                                        :payload -1}
                            {:timeout-ms 3000})]
        (cond (= :ok (:type r)) r
              (< deadline (System/currentTimeMillis))
              (throw (ex-info "no leader elected in 30 s" {:last r}))
              :else (do (Thread/sleep 200) (recur (inc i))))))))

(defn cluster-fixture [f]
  (let [dir    (.toFile (Files/createTempDirectory "paxos-jepsen-test"
                                                   (make-array FileAttribute 0)))
        ports  (vec (repeatedly 3 (fn [] [(free-port) (free-port)])))
        config (io/file dir "config")
        script (.getCanonicalPath (io/file repo-root "bin" "paxos.js"))
        procs  (atom [])]
    (spit config (str/join "\n" (for [[h g] ports] (str "127.0.0.1:" h ":" g))))
    (try
      (doseq [i (range 3)]
        (let [pb (doto (ProcessBuilder.
                         ^java.util.List
                         ["node" script "node" (.getPath config)
                          "--self" (str i)
                          "--data-dir" (.getPath (io/file dir (str "node-" i)))
                          "--log-file" (.getPath (io/file dir (str "node-" i ".log")))])
                   (.redirectErrorStream true)
                   (.redirectOutput (io/file dir (str "node-" i ".out"))))
              p  (.start pb)]
          (record-pid! p)
          (swap! procs conj p)))
      (let [urls (mapv (fn [[h _]] (http/base-url "127.0.0.1" h)) ports)]
        (await-leader! (http/make-client) (first urls))
        (binding [*urls* urls] (f)))
      (catch Throwable t
        (doseq [i (range 3)]
          (let [out (io/file dir (str "node-" i ".out"))]
            (when (.exists out)
              (println "---- node" i "output:\n" (slurp out)))))
        (throw t))
      (finally
        (stop! @procs)
        (doseq [^java.io.File file (reverse (file-seq dir))] (.delete file))))))

(use-fixtures :once cluster-fixture)

(def client (http/make-client))

(def client-id-base (* 1000 (+ 1000 (rand-int 1000000))))

(deftest appends-through-each-node
  (let [before (:state (http/read-state client (first *urls*)))
        rs     (vec (for [[i url] (map-indexed vector *urls*)]
                      (http/append! client url {:client-id  (+ client-id-base i)
                                                :command-id 1
                                                :payload    (+ 100 i)})))]
    (is (vector? before))
    (is (= [:ok :ok :ok] (map :type rs)) (pr-str rs))
    (testing "each reply is the list right after that append"
      (is (= (conj before 100) (:state (rs 0))))
      (is (= (conj before 100 101) (:state (rs 1))))
      (is (= (conj before 100 101 102) (:state (rs 2)))))
    (testing "a read through any node sees every acknowledged append"
      (doseq [url *urls*]
        (let [r (http/read-state client url)]
          (is (= :ok (:type r)))
          (is (= (:state (rs 2)) (:state r))))))))

(deftest retry-is-applied-once
  (let [cmd {:client-id (+ client-id-base 10), :command-id 7, :payload 4242}
        a   (http/append! client (nth *urls* 0) cmd)
        b   (http/append! client (nth *urls* 2) cmd)]
    (is (= :ok (:type a) (:type b)))
    (is (= (:state a) (:state b)) "a retry gets the original reply")
    (is (= 1 (count (filter #{4242} (:state (http/read-state client (nth *urls* 1)))))))))

(deftest bad-input-is-a-definite-fail
  (let [r (http/append! client (first *urls*)
                        {:client-id (+ client-id-base 20), :command-id 1,
                         :payload 9007199254740992})]
    (is (= :fail (:type r)))
    (is (= :bad-request (first (:error r))) (pr-str r))))

(deftest concurrent-appends-are-linearizable
  (let [prefix  (:state (http/read-state client (first *urls*)))
        t0      (System/nanoTime)
        ops     (->> (range 3)
                     (mapv (fn [t]
                             (future
                               (vec (for [k (range 3)]
                                      (let [v     (+ 1000 (* 10 t) k)
                                            start (System/nanoTime)
                                            r     (http/append!
                                                    client (nth *urls* t)
                                                    {:client-id  (+ client-id-base 30 t)
                                                     :command-id (inc k)
                                                     :payload    v})]
                                        {:r r, :v v, :start (- start t0),
                                         :end (- (System/nanoTime) t0)}))))))
                     (mapcat deref)
                     vec)]
    (is (every? #(= :ok (:type (:r %))) ops) (pr-str (map :r ops)))
    ; The history starts from whatever the list held before (read above):
    ; strip that prefix from every reply and check the 9 appends from the
    ; empty list.
    (is (vector? prefix))
    (let [hist   (for [{:keys [r v start end]} ops]
                   (do (is (mc/prefix? prefix (:state r)))
                       {:op    {:f :append
                                :value {:appended-value v
                                        :new-state (subvec (:state r) (count prefix))}}
                        :start start, :end end}))]
      (is (= prefix (vec (take (count prefix) (:state (http/read-state client (first *urls*)))))))
      (is (linearizable? mc/strict-list-step hist))
      (is (linearizable? mc/append-list-step hist))
      (is (= [] (mc/observed-duplicates
                  (for [{:keys [r v]} ops]
                    {:f :append, :value {:appended-value v, :new-state (:state r)}})))))))

;; Failure mapping, against servers that misbehave on purpose.

(deftest timeout-is-info
  ; A listening socket that never accepts: the kernel completes the TCP
  ; handshake, the request is sent, no answer ever comes.
  (with-open [silent (ServerSocket. 0 50)]
    (let [url (http/base-url "127.0.0.1" (.getLocalPort silent))
          t0  (System/currentTimeMillis)
          r   (http/append! client url {:client-id 1, :command-id 1, :payload 5}
                            {:timeout-ms 500})]
      (is (= :info (:type r)) (pr-str r))
      (is (= :timeout (first (:error r))))
      (is (< (- (System/currentTimeMillis) t0) 5000) "the timeout is enforced")
      (is (= :fail (:type (http/read-state client url {:timeout-ms 500})))
          "a timed-out read changes nothing: :fail"))))

(deftest connection-refused-is-fail
  (let [port (free-port) ; bound, then closed: nothing listens
        url  (http/base-url "127.0.0.1" port)
        r    (http/append! client url {:client-id 1, :command-id 1, :payload 5})]
    (is (= :fail (:type r)) (pr-str r))
    (is (= :connection-refused (first (:error r))))
    (is (= :fail (:type (http/read-state client url))))))

(defn- with-canned-server
  "Runs (f url) against a local HTTP server answering every request with
  status and body."
  [status ^String body f]
  (let [server (HttpServer/create (InetSocketAddress. "127.0.0.1" 0) 0)]
    (.createContext server "/"
                    (reify HttpHandler
                      (handle [_ ex]
                        (let [^HttpExchange ex ex
                              bytes (.getBytes body "UTF-8")]
                          (.readAllBytes (.getRequestBody ex))
                          (.sendResponseHeaders ex status (alength bytes))
                          (with-open [o (.getResponseBody ex)] (.write o bytes))))))
    (.start server)
    (try (f (http/base-url "127.0.0.1" (.getPort (.getAddress server))))
         (finally (.stop server 0)))))

(deftest status-mapping
  (let [cmd {:client-id 1, :command-id 1, :payload 5}]
    (doseq [[status body type] [[503 "{\"error\":\"x\",\"outcome\":\"not_applied\"}" :fail]
                                [503 "{\"error\":\"x\",\"outcome\":\"unknown\"}"     :info]
                                [503 "{\"error\":\"x\"}"                             :info]
                                [400 "{\"error\":\"bad\"}"                           :fail]
                                [500 "oops"                                          :info]
                                [200 "{\"state\":[1,\"two\"]}"                       :info]
                                [200 "not json"                                      :info]
                                [200 "{\"state\":[1,5]}"                             :ok]]]
      (with-canned-server status body
        (fn [url]
          (let [r (http/append! client url cmd)]
            (is (= type (:type r)) (str status " " body " -> " (pr-str r)))
            (when (= :ok type) (is (= [1 5] (:state r))))
            (let [rr (http/read-state client url)]
              (is (= (if (= :ok type) :ok :fail) (:type rr))
                  (str "read: " status " " body " -> " (pr-str rr))))))))))
