(ns jepsen.paxos.http-test
  "jepsen.paxos.http against real local 3-node paxos-ts clusters (OS
  processes on 127.0.0.1, started and stopped here): one in plain HTTP, one
  with TLS everywhere (certificates from `paxos certs`, client certificates
  required), and against tiny local servers that misbehave on purpose."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [jepsen.paxos.certs :as certs]
            [jepsen.paxos.http :as http]
            [jepsen.paxos.model-core :as mc]
            [jepsen.paxos.test-support :refer [linearizable?]])
  (:import (com.sun.net.httpserver HttpExchange HttpHandler HttpServer
                                   HttpsConfigurator HttpsServer)
           (java.net InetSocketAddress ServerSocket)
           (java.nio.file Files)
           (java.nio.file.attribute FileAttribute)
           (java.security KeyPairGenerator)
           (java.security.interfaces ECPrivateKey RSAPrivateKey)
           (java.util Base64)
           (java.util.concurrent TimeUnit)))

(def repo-root
  "The paxos-ts checkout (with dist/ built). PAXOS_ROOT, or the parent of the
  working directory (bin/ci-test.sh runs from jepsen/)."
  (or (System/getenv "PAXOS_ROOT") ".."))

(defn free-ports
  "n distinct ports, free on all interfaces when asked (all held open
  together, then closed), picked at random in 20000-32767: below Linux's
  ephemeral range (32768-60999), where outgoing connections take their local
  ports and bind(0) hands them out, so none of those can take a port between
  this check and a node's bind; and apart from the 10000-19999 a node's
  warm-up listens in (src/node/warm-up.ts), as src/config/free-ports.ts
  does for the TypeScript tests."
  [n]
  (let [held (java.util.ArrayList.)]
    (try
      (loop [ports [], attempts 0]
        (cond
          (= n (count ports)) ports
          (< 1000 attempts) (throw (ex-info "no free ports in 20000-32767" {:n n}))
          :else
          (let [port (+ 20000 (rand-int 12768))
                s    (when-not (some #{port} ports)
                       (try (ServerSocket. port 50 (java.net.InetAddress/getByName "0.0.0.0"))
                            (catch java.io.IOException _ nil)))]
            (if s
              (do (.add held s) (recur (conj ports port) (inc attempts)))
              (recur ports (inc attempts))))))
      (finally
        (doseq [^ServerSocket s held] (.close s))))))

(defn free-port [] (first (free-ports 1)))

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

(defn- temp-dir
  ^java.io.File [prefix]
  (.toFile (Files/createTempDirectory prefix (make-array FileAttribute 0))))

(defn- delete-tree! [^java.io.File dir]
  (doseq [^java.io.File file (reverse (file-seq dir))] (.delete file)))

(defn with-cluster
  "Starts a 3-node cluster on free loopback ports (HTTP, gRPC and peer port
  of each given in the config), with a cluster token of its own, waits for a
  leader, calls (f cluster), then stops it and deletes its files. cluster:
  {:urls [...], :lines (host:http:grpc:peer of each node), :client-tls
  make-client options, :certs (make!'s map), :dir}.
  With :tls, a fresh CA and certificates from `paxos certs` (in dir/certs),
  and every node runs with jepsen.paxos.certs/node-flags, as on EC2: mutual
  TLS between peers, HTTPS requiring client certificates; the client
  presents client.jepsen.crt."
  [{:keys [tls]} f]
  (let [dir    (temp-dir "paxos-jepsen-test")
        ports  (vec (partition 3 (free-ports 9)))
        lines  (vec (for [[h g p] ports] (str "127.0.0.1:" h ":" g ":" p)))
        config (io/file dir "config")
        script (.getCanonicalPath (io/file repo-root "bin" "paxos.js"))
        token  (str "http-test-" (java.util.UUID/randomUUID))
        procs  (atom [])]
    (spit config (str/join "\n" lines))
    (try
      (let [crts     (when tls
                       (certs/make! {:repo-root repo-root, :dir (io/file dir "certs"),
                                     :config-lines lines, :users ["jepsen"]}))
            client   (if crts (certs/client-tls crts "jepsen") {})
            tls-args (fn [i] (when crts
                               (certs/node-flags (assoc (get-in crts [:nodes i])
                                                        :ca-file (:ca-file crts)))))]
        (doseq [i (range 3)]
          (let [pb (doto (ProcessBuilder.
                           ^java.util.List
                           (into ["node" script "node" (.getPath config)
                                  "--self" (str i)
                                  "--cluster-token" token
                                  "--data-dir" (.getPath (io/file dir (str "node-" i)))
                                  "--log-file" (.getPath (io/file dir (str "node-" i ".log")))]
                                 (tls-args i)))
                     (.redirectErrorStream true)
                     (.redirectOutput (io/file dir (str "node-" i ".out"))))
                p  (.start pb)]
            (record-pid! p)
            (swap! procs conj p)))
        (let [urls (mapv (fn [[h _]] (http/base-url "127.0.0.1" h client)) ports)]
          (await-leader! (http/make-client client) (first urls))
          (f {:urls urls, :lines lines, :client-tls client, :certs crts, :dir dir})))
      (catch Throwable t
        (doseq [i (range 3)]
          (let [out (io/file dir (str "node-" i ".out"))]
            (when (.exists out)
              (println "---- node" i "output:\n" (slurp out)))))
        (throw t))
      (finally
        (stop! @procs)
        (delete-tree! dir)))))

(defn cluster-fixture [f]
  (with-cluster {} (fn [{:keys [urls]}] (binding [*urls* urls] (f)))))

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

;; Membership, on a cluster of its own: what the member nemesis does, and
;; what the Jepsen client makes of a removed or a joining node.

(defn- retry-until
  "Calls (f) every 300 ms until (done? result) or 30 s; returns the last result."
  [done? f]
  (let [deadline (+ (System/currentTimeMillis) 30000)]
    (loop []
      (let [r (f)]
        (if (or (done? r) (< deadline (System/currentTimeMillis)))
          r
          (do (Thread/sleep 300) (recur)))))))

(deftest membership-changes
  (with-cluster {}
    (fn [{:keys [urls lines dir]}]
      (let [c       (http/make-client)
            append  (fn [url cmd-id v]
                      (http/append! c url {:client-id 4242, :command-id cmd-id, :payload v}
                                    {:timeout-ms 5000}))
            m0      (http/list-members c (urls 0))
            node-2  (first (filter #(= 2 (:id %)) (get-in m0 [:body :members])))]
        (is (= :ok (:type m0)))
        (is (= ["voter" "voter" "voter"] (map :role (get-in m0 [:body :members]))))
        (testing "remove a voter through another member"
          (let [r (http/remove-member! c (urls 0) 2)]
            (is (= :ok (:type r)) (pr-str r))
            (is (= [0 1] (map :id (get-in r [:body :members]))))
            (is (< (get-in m0 [:body :config_slot]) (get-in r [:body :config_slot]))))
          (is (= {:type :refused, :refusal "unknown_member"}
                 (select-keys (http/remove-member! c (urls 1) 2) [:type :refusal]))
              "removing it again: refused, so a retry after a lost answer knows it took effect"))
        (testing "the removed node: its clients' appends and reads fail (503 not_applied)"
          (is (= "removed" (get-in (retry-until #(= "removed" (get-in % [:body :member]))
                                                #(http/node-status c (urls 2)))
                                   [:body :member])))
          (let [r (append (urls 2) 1 1)]
            (is (= :fail (:type r)) (pr-str r))
            (is (= :not-applied (first (:error r)))))
          (is (= :fail (:type (http/read-state c (urls 2))))))
        (let [[h g p] (free-ports 3)
              self    (str "127.0.0.1:" h ":" g ":" p)
              url     (http/base-url "127.0.0.1" h)
              joiner  (.start (doto (ProcessBuilder.
                                      ^java.util.List
                                      ["node" (.getCanonicalPath (io/file repo-root "bin" "paxos.js"))
                                       "node" "--join" (lines 0) "--self" self
                                       "--data-dir" (.getPath (io/file dir "joiner"))
                                       "--log-file" (.getPath (io/file dir "joiner.log"))])
                                (.redirectErrorStream true)
                                (.redirectOutput (io/file dir "joiner.out"))))]
          (record-pid! joiner)
          (try
            (testing "a joining node: not a member yet, its clients' appends fail"
              (let [st (retry-until #(= :ok (:type %)) #(http/node-status c url))]
                (is (= "joining" (get-in st [:body :member])) (pr-str st)))
              (let [r (append url 2 2)]
                (is (= :fail (:type r)) (pr-str r))
                (is (= :not-applied (first (:error r))))))
            (testing "add it as a learner, then promote it once it has caught up"
              (let [added (http/add-member! c (urls 1) self)
                    id    (get-in added [:body :member :id])]
                (is (= :ok (:type added)) (pr-str added))
                (is (= "learner" (get-in added [:body :member :role])))
                (is (= 3 id) "a new id: ids are never reused")
                (is (= {:type :refused, :refusal "address_taken"}
                       (select-keys (http/add-member! c (urls 0) self) [:type :refusal])))
                (let [p (retry-until #(not= "learner_behind" (:refusal %))
                                     #(http/promote-member! c (urls 0) id))]
                  (is (= :ok (:type p)) (pr-str p))
                  (is (= "voter" (get-in p [:body :member :role]))))
                (is (= "not_a_learner" (:refusal (http/promote-member! c (urls 1) id))))
                (is (= [0 1 3] (map :id (get-in (http/list-members c url) [:body :members]))))
                (let [r (retry-until #(= :ok (:type %)) #(append url 3 3))]
                  (is (= :ok (:type r)) (pr-str r))
                  (is (= 3 (last (:state r))))
                  (is (not-any? #{1 2} (:state r))
                      "what the removed and the joining node refused was never applied"))))
            (finally
              (stop! [joiner]))))
        (http/close-client! c)))))

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

;; TLS: PEM files, a cluster with client certificates, hostname verification.

(defn- pem
  "PEM text of der bytes under label."
  [label ^bytes der]
  (str "-----BEGIN " label "-----\n"
       (.encodeToString (Base64/getMimeEncoder 64 (.getBytes "\n")) der)
       "\n-----END " label "-----\n"))

(deftest private-keys-from-pem
  (let [dir (temp-dir "paxos-jepsen-pem")]
    (try
      (testing "an RSA PKCS#8 key is read too (EC first, then RSA)"
        (let [kp  (.generateKeyPair (doto (KeyPairGenerator/getInstance "RSA")
                                      (.initialize 2048)))
              f   (io/file dir "rsa.key")]
          (spit f (pem "PRIVATE KEY" (.getEncoded (.getPrivate kp))))
          (let [k (http/read-private-key f)]
            (is (instance? RSAPrivateKey k))
            (is (= (seq (.getEncoded (.getPrivate kp))) (seq (.getEncoded k)))))))
      (testing "a key that is not PKCS#8 is refused, saying how to convert it"
        (let [f (io/file dir "sec1.key")]
          (spit f "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
          (is (thrown-with-msg? clojure.lang.ExceptionInfo #"pkcs8 -topk8"
                                (http/read-private-key f)))))
      (testing "a certificate without its key is refused"
        (is (thrown? clojure.lang.ExceptionInfo
                     (http/make-client {:cert-file (str (io/file dir "x.crt"))}))))
      (testing "base-url"
        (is (= "http://h:1" (http/base-url "h" 1) (http/base-url "h" 1 {})))
        (is (= "https://h:1" (http/base-url "h" 1 true)
               (http/base-url "h" 1 {:ca-file "ca.crt"}))))
      (finally (delete-tree! dir)))))

(defn- not-appended?
  "Whether payload is absent from the list read through url."
  [client url payload]
  (let [r (http/read-state client url)]
    (and (= :ok (:type r)) (not-any? #{payload} (:state r)))))

(deftest tls-cluster
  (with-cluster {:tls true}
    (fn [{:keys [urls client-tls certs dir]}]
      (let [client  (http/make-client client-tls)
            base    (+ client-id-base 500)
            ; A second CA, with a client certificate of its own.
            other   (certs/make! {:repo-root repo-root, :dir (io/file dir "other-ca"),
                                  :config-lines ["127.0.0.1"], :users ["jepsen"]})
            append  (fn [c url id payload]
                      (http/append! c url {:client-id id, :command-id 1, :payload payload}
                                    {:timeout-ms 5000}))]
        (is (every? #(str/starts-with? % "https://127.0.0.1:") urls))
        (is (instance? ECPrivateKey (http/read-private-key (:key-file client-tls)))
            "paxos certs writes PKCS#8 EC keys")

        (testing "with the client certificate: the usual outcomes over HTTPS"
          (let [before (:state (http/read-state client (first urls)))
                rs     (vec (for [[i url] (map-indexed vector urls)]
                              (append client url (+ base i) (+ 7100 i))))]
            (is (vector? before))
            (is (= [:ok :ok :ok] (map :type rs)) (pr-str rs))
            (is (= (conj before 7100) (:state (rs 0))))
            (is (= (conj before 7100 7101 7102) (:state (rs 2))))
            (doseq [url urls]
              (is (= (:state (rs 2)) (:state (http/read-state client url)))))
            (let [again (append client (nth urls 1) base 7100)]
              (is (= (rs 0) again) "a retry through another node gets the original reply"))
            (is (= :bad-request
                   (first (:error (append client (first urls) (+ base 9) 9007199254740992)))))))

        (testing "no client certificate: 403, :fail, nothing appended"
          (let [c (http/make-client {:ca-file (:ca-file certs)})
                r (append c (second urls) (+ base 10) 7110)]
            (is (= :fail (:type r)) (pr-str r))
            (is (= :forbidden (first (:error r))))
            (is (re-find #"client certificate" (str (second (:error r)))))
            (is (= :fail (:type (http/read-state c (first urls)))))
            (is (not-appended? client (first urls) 7110))))

        (testing "a client certificate of another CA: 403, :fail, nothing appended"
          (let [c (http/make-client (assoc (certs/client-tls other "jepsen")
                                           :ca-file (:ca-file certs)))
                r (append c (first urls) (+ base 11) 7111)]
            (is (= :fail (:type r)) (pr-str r))
            (is (= :forbidden (first (:error r))))
            (is (not-appended? client (first urls) 7111))))

        (testing "a CA that did not sign the node certificates: the handshake
                  fails before the request is written, so :fail"
          (let [c (http/make-client (assoc client-tls :ca-file (:ca-file other)))
                r (append c (first urls) (+ base 12) 7112)]
            (is (= :fail (:type r)) (pr-str r))
            (is (= :tls-handshake (first (:error r))))
            (is (= :fail (:type (http/read-state c (first urls)))))
            (is (not-appended? client (first urls) 7112))))

        (testing "hostname verification: the node certificates name 127.0.0.1,
                  not localhost"
          (let [url (str/replace (first urls) "127.0.0.1" "localhost")
                r   (append client url (+ base 13) 7113)]
            (is (= :fail (:type r)) (pr-str r))
            (is (= :tls-handshake (first (:error r))))
            (is (re-find #"localhost" (str (second (:error r)))))
            (is (not-appended? client (first urls) 7113))))

        (testing "plain HTTP to the HTTPS port is never :ok, and appends nothing"
          (let [url (str/replace (first urls) "https://" "http://")
                r   (append (http/make-client) url (+ base 14) 7114)]
            (is (not= :ok (:type r)) (pr-str r))
            (is (not-appended? client (first urls) 7114))))))))

(defn- with-canned-https-server
  "Runs (f url hits) against a local HTTPS server presenting cert-file and
  key-file and answering every request 200 {\"state\":[1,5]}; hits counts
  the requests it received."
  [tls f]
  (let [server (HttpsServer/create (InetSocketAddress. "127.0.0.1" 0) 0)
        hits   (atom 0)
        body   (.getBytes "{\"state\":[1,5]}" "UTF-8")]
    (.setHttpsConfigurator server (HttpsConfigurator. (http/ssl-context tls)))
    (.createContext server "/"
                    (reify HttpHandler
                      (handle [_ ex]
                        (let [^HttpExchange ex ex]
                          (swap! hits inc)
                          (.readAllBytes (.getRequestBody ex))
                          (.sendResponseHeaders ex 200 (alength body))
                          (with-open [o (.getResponseBody ex)] (.write o body))))))
    (.start server)
    (try (f (http/base-url "127.0.0.1" (.getPort (.getAddress server)) true) hits)
         (finally (.stop server 0)))))

(deftest tls-handshake-failures-send-nothing
  (let [dir (temp-dir "paxos-jepsen-hosts")]
    (try
      (let [crts  (certs/make! {:repo-root repo-root, :dir (io/file dir "ca"),
                                :config-lines ["127.0.0.1"], :users []})
            other (certs/make! {:repo-root repo-root, :dir (io/file dir "other"),
                                :config-lines ["127.0.0.1"], :users []})
            _     (certs/paxos! repo-root "certs" "create-node" "--certs-dir" (:dir crts)
                                "--name" "elsewhere" "elsewhere.example")
            right (http/make-client {:ca-file (:ca-file crts)})
            cmd   {:client-id 1, :command-id 1, :payload 5}]
        (testing "a certificate naming the host dialled, signed by our CA: :ok"
          (with-canned-https-server (get-in crts [:nodes 0])
            (fn [url hits]
              (is (= {:type :ok, :state [1 5]} (http/append! right url cmd)))
              (is (= 1 @hits)))))
        (testing "a certificate of our CA for another host: refused, nothing sent"
          (with-canned-https-server
            {:cert-file (str (io/file (:dir crts) "elsewhere.crt"))
             :key-file  (str (io/file (:dir crts) "elsewhere.key"))}
            (fn [url hits]
              (let [r (http/append! right url cmd)]
                (is (= :fail (:type r)) (pr-str r))
                (is (= :tls-handshake (first (:error r))))
                (is (= :fail (:type (http/read-state right url))))
                (is (zero? @hits) "no request reached the server")))))
        (testing "a certificate for the right host from another CA: refused, nothing sent"
          (with-canned-https-server (get-in other [:nodes 0])
            (fn [url hits]
              (let [r (http/append! right url cmd)]
                (is (= :fail (:type r)) (pr-str r))
                (is (= :tls-handshake (first (:error r))))
                (is (zero? @hits) "no request reached the server"))))))
      (finally (delete-tree! dir)))))
