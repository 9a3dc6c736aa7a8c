(ns jepsen.paxos.http
  "The HTTP JSON client for one paxos-ts node: POST /proposer/client-request
  and GET /state, over the JDK's java.net.http, in plain HTTP or in HTTPS
  with the cluster's CA and, when the nodes require one, a client
  certificate (see make-client). Needs only Clojure, clojure.data.json and
  the JDK (no Jepsen), so it is tested without Jepsen.

  Every call returns a map whose :type says what Jepsen may conclude:

    {:type :ok,   :state [...]}     the server answered 200 with the list
    {:type :fail, :error ...}       definitely not applied (and never will be)
    {:type :info, :error ...}       unknown: the append may have happened or may
                                    still happen

  For appends:
    200 {\"state\": [...]}                         -> :ok
    400 {\"error\": ...}                           -> :fail (bad input, nothing appended)
    403 {\"error\": ...}                           -> :fail: the node refused the
      connection's client certificate (missing, or not signed by the cluster's
      CA); it checks that before it looks at the request at all
    503 {\"outcome\": \"not_applied\"}               -> :fail
    503 {\"outcome\": \"unknown\"} (or no outcome)   -> :info
    any other status, a malformed 200 body        -> :info
    connection refused (java.net.ConnectException) -> :fail: the TCP connection
      was never established, so no byte of the request reached a server
    TLS handshake failed (javax.net.ssl.SSLHandshakeException: the node's
      certificate is not signed by our CA or does not name the host we
      dialled, or the node refused the handshake) -> :fail: the request is
      written only once the handshake is complete, and a node hands nothing
      to its HTTP layer from a connection whose handshake failed
    request timeout, connect timeout, reset, EOF, any other TLS error -> :info

  Reads change nothing, so every failed or timed-out read is :fail.

  Membership (for the member nemesis): GET /members and /status, POST
  /members, POST /members/{id}/promote and DELETE /members/{id}, through any
  member (it forwards a change to the leader and answers once the change is
  chosen and applied); see member-call for what each answer means."
  (:require [clojure.data.json :as json]
            [clojure.java.io :as io])
  (:import (java.net ConnectException URI)
           (java.net.http HttpClient HttpClient$Version HttpRequest
                          HttpRequest$BodyPublishers HttpResponse
                          HttpResponse$BodyHandlers HttpTimeoutException)
           (java.security KeyFactory KeyStore PrivateKey)
           (java.security.cert Certificate CertificateFactory)
           (java.security.spec PKCS8EncodedKeySpec)
           (java.lang AutoCloseable)
           (java.time Duration)
           (java.util Base64)
           (java.util.concurrent Executors ExecutorService ThreadFactory)
           (javax.net.ssl KeyManagerFactory SSLContext SSLHandshakeException
                          TrustManagerFactory)))

(def default-timeout-ms
  "Per-request timeout. The server answers every request within 10 s (its
  --request-timeout-ms), so a little more lets its own 503 verdict arrive."
  12000)

(def default-connect-timeout-ms 2000)

;; TLS from PEM files, with the JDK only.

(defn read-certificates
  "Every X.509 certificate in a PEM file (or DER), in order."
  [file]
  (with-open [in (io/input-stream (io/file file))]
    (let [certs (vec (.generateCertificates (CertificateFactory/getInstance "X.509") in))]
      (when (empty? certs)
        (throw (ex-info (str "no certificate in " file) {:file (str file)})))
      certs)))

(defn- pem-body
  "The bytes between -----BEGIN label----- and -----END label----- in text,
  or nil."
  [^String text label]
  (when-let [[_ b64] (re-find (re-pattern (str "(?s)-----BEGIN " label "-----(.*?)-----END "
                                               label "-----"))
                              text)]
    (.decode (Base64/getMimeDecoder) ^String b64)))

(defn read-private-key
  "The unencrypted PKCS#8 private key (-----BEGIN PRIVATE KEY-----) in a PEM
  file: EC (what `paxos certs` writes: ECDSA P-256), else RSA."
  ^PrivateKey [file]
  (let [text (slurp (io/file file))
        der  (pem-body text "PRIVATE KEY")]
    (when-not der
      (throw (ex-info (str file " holds no unencrypted PKCS#8 key (-----BEGIN PRIVATE KEY-----)"
                           (when (re-find #"BEGIN (EC|RSA) PRIVATE KEY" text)
                             "; convert it with openssl pkcs8 -topk8 -nocrypt"))
                      {:file (str file)})))
    (let [spec (PKCS8EncodedKeySpec. der)]
      (try (.generatePrivate (KeyFactory/getInstance "EC") spec)
           (catch java.security.spec.InvalidKeySpecException _
             (try (.generatePrivate (KeyFactory/getInstance "RSA") spec)
                  (catch java.security.spec.InvalidKeySpecException e
                    (throw (ex-info (str file ": neither an EC nor an RSA PKCS#8 key")
                                    {:file (str file)} e)))))))))

(defn- empty-key-store
  ^KeyStore []
  (doto (KeyStore/getInstance "PKCS12") (.load nil nil)))

(defn- trust-managers
  "Trust managers that accept the certificates in ca-file (and nothing else),
  or nil (the JDK's default CAs) without one."
  [ca-file]
  (when ca-file
    (let [ks (empty-key-store)]
      (doseq [[i cert] (map-indexed vector (read-certificates ca-file))]
        (.setCertificateEntry ks (str "ca-" i) cert))
      (.getTrustManagers (doto (TrustManagerFactory/getInstance
                                 (TrustManagerFactory/getDefaultAlgorithm))
                           (.init ks))))))

(defn- key-managers
  "Key managers presenting the certificate chain in cert-file with the key in
  key-file, or nil (no certificate) without them."
  [cert-file key-file]
  (when (or cert-file key-file)
    (when-not (and cert-file key-file)
      (throw (ex-info "a client certificate needs both :cert-file and :key-file"
                      {:cert-file cert-file, :key-file key-file})))
    (let [password (char-array 0)
          ks       (empty-key-store)]
      (.setKeyEntry ks "self" (read-private-key key-file) password
                    (into-array Certificate (read-certificates cert-file)))
      (.getKeyManagers (doto (KeyManagerFactory/getInstance
                               (KeyManagerFactory/getDefaultAlgorithm))
                         (.init ks password))))))

(defn ssl-context
  "A javax.net.ssl.SSLContext from PEM files: :ca-file, the CA(s) whose
  signature a peer's certificate must carry (without it, the JDK's default
  CAs); :cert-file and :key-file, the certificate (chain) and PKCS#8 key to
  present. Clients present the latter when the server asks; a server (in
  tests) serves them."
  ^SSLContext [{:keys [ca-file cert-file key-file]}]
  (doto (SSLContext/getInstance "TLS")
    (.init (key-managers cert-file key-file) (trust-managers ca-file) nil)))

(defn tls?
  "Whether these make-client options ask for TLS."
  [opts]
  (boolean (some opts [:ca-file :cert-file :key-file])))

(defn- daemon-executor
  "An executor of daemon threads for one HttpClient (its async work), so that
  close-client! can shut down what the client made."
  ^ExecutorService []
  (let [n (atom 0)]
    (Executors/newCachedThreadPool
      (reify ThreadFactory
        (newThread [_ r]
          (doto (Thread. ^Runnable r (str "paxos-http-" (swap! n inc)))
            (.setDaemon true)))))))

(defn make-client
  "A java.net.http.HttpClient speaking HTTP/1.1 with a connect timeout, and
  an executor of its own (close-client! shuts it down). With
  any of :ca-file, :cert-file, :key-file (PEM files, see ssl-context) it
  speaks HTTPS: it trusts only :ca-file's CA and presents the client
  certificate :cert-file with :key-file when the node asks for one. The
  JDK's client checks that the node's certificate names the host of the URL
  (its hostname verification stays on: the node certificates of `paxos
  certs` name the hosts as written in the config; only the system property
  jdk.internal.httpclient.disableHostnameVerification turns it off). Use
  base-url with the same options for https:// URLs."
  ([] (make-client {}))
  ([{:keys [connect-timeout-ms]
     :or   {connect-timeout-ms default-connect-timeout-ms}
     :as   opts}]
   (cond-> (HttpClient/newBuilder)
     true        (.executor (daemon-executor))
     true        (.version HttpClient$Version/HTTP_1_1)
     true        (.connectTimeout (Duration/ofMillis connect-timeout-ms))
     (tls? opts) (.sslContext (ssl-context opts))
     true        (.build))))

(defn close-client!
  "Releases what make-client made: on a JDK whose HttpClient is
  AutoCloseable (21 and later) closes it, which waits for requests in flight
  and closes its connections; then shuts down its executor. On JDK 17 the
  client's connections and selector thread end once nothing refers to the
  client any more (the caller drops it). nil is fine."
  [^HttpClient client]
  (when client
    (when (instance? AutoCloseable client)
      (.close ^AutoCloseable client))
    (when-let [^ExecutorService ex (.orElse (.executor client) nil)]
      (.shutdownNow ex)))
  nil)

(defn base-url
  "http://host:port, or https://host:port when tls (a make-client options map
  with TLS files, or true) says so."
  ([host port] (base-url host port nil))
  ([host port tls]
   (str (if (or (true? tls) (and (map? tls) (tls? tls))) "https" "http")
        "://" host ":" port)))

(defn- parse-json
  "Parses a JSON body, or returns nil if it is not JSON."
  [^String body]
  (try (json/read-str body :key-fn keyword)
       (catch Exception _ nil)))

(defn- int-list?
  [xs]
  (and (sequential? xs) (every? integer? xs)))

(defn- ok-state
  "Turns a 200 body into {:type :ok :state [...]}, or nil when malformed."
  [body]
  (let [m (parse-json body)]
    (when (and (map? m) (int-list? (:state m)))
      {:type :ok, :state (vec (:state m))})))

(defn- send!
  "Sends a request; returns {:status s :body b} or {:exception e}."
  [^HttpClient client ^HttpRequest request]
  (try
    (let [^HttpResponse resp (.send client request (HttpResponse$BodyHandlers/ofString))]
      {:status (.statusCode resp), :body (.body resp)})
    (catch InterruptedException e
      ; Jepsen interrupts workers at the end of a test; keep the flag set.
      (.interrupt (Thread/currentThread))
      {:exception e})
    (catch Exception e
      {:exception e})))

(defn- exception-outcome
  "Classifies a transport failure of an append."
  [^Exception e]
  (cond
    ; HttpConnectTimeoutException is a subclass: also :info.
    (instance? HttpTimeoutException e)
    {:type :info, :error [:timeout (.getMessage e)]}

    (instance? ConnectException e)
    {:type :fail, :error [:connection-refused (str (.getMessage e))]}

    (instance? SSLHandshakeException e)
    {:type :fail, :error [:tls-handshake (str (.getMessage e))]}

    :else
    {:type :info, :error [:io (.getName (class e)) (str (.getMessage e))]}))

(defn append!
  "Appends payload through the node at url (see base-url). cmd is
  {:client-id int, :command-id int, :payload int}. opts: {:timeout-ms ms}."
  ([client url cmd] (append! client url cmd {}))
  ([client url {:keys [client-id command-id payload]}
    {:keys [timeout-ms] :or {timeout-ms default-timeout-ms}}]
   (let [body    (json/write-str {:client_id  client-id
                                  :command_id command-id
                                  :payload    payload})
         request (-> (HttpRequest/newBuilder
                       (URI/create (str url "/proposer/client-request")))
                     (.timeout (Duration/ofMillis timeout-ms))
                     (.header "Content-Type" "application/json")
                     (.POST (HttpRequest$BodyPublishers/ofString body))
                     (.build))
         {:keys [status body exception]} (send! client request)]
     (if exception
       (exception-outcome exception)
       (let [reply (parse-json body)]
         (case (int status)
           200 (or (ok-state body)
                   {:type :info, :error [:malformed-reply status body]})
           400 {:type :fail, :error [:bad-request (:error reply)]}
           403 {:type :fail, :error [:forbidden (or (:error reply) body)]}
           503 (if (= "not_applied" (:outcome reply))
                 {:type :fail, :error [:not-applied (:error reply)]}
                 {:type :info, :error [:unknown (:error reply)]})
           {:type :info, :error [:http-status status body]}))))))

(defn read-state
  "Reads the list through the node at url with GET /state (a linearizable
  read). opts: {:timeout-ms ms}."
  ([client url] (read-state client url {}))
  ([client url {:keys [timeout-ms] :or {timeout-ms default-timeout-ms}}]
   (let [request (-> (HttpRequest/newBuilder (URI/create (str url "/state")))
                     (.timeout (Duration/ofMillis timeout-ms))
                     (.GET)
                     (.build))
         {:keys [status body exception]} (send! client request)]
     (cond
       exception
       (assoc (exception-outcome exception) :type :fail)

       (= 200 status)
       (or (ok-state body)
           {:type :fail, :error [:malformed-reply status body]})

       :else
       {:type :fail, :error [:http-status status body]}))))

;; Membership: GET /members, POST /members, POST /members/{id}/promote,
;; DELETE /members/{id}, and GET /status.

(defn member-call
  "One membership request (method :get, :post or :delete; body a map sent
  as JSON, or nil). Returns

    {:type :ok, :body {...}}                            200, the JSON body
    {:type :refused, :refusal \"...\", :error \"...\"}    400, 404 or 409 with a
                                                        refusal: nothing changed
    {:type :fail, :error ...}                           503 not_applied (no leader, a
                                                        removed or joining node): nothing
                                                        changed
    {:type :info, :error ...}                           anything else (503 unknown, a
                                                        timeout, a reset): it may have
                                                        happened

  A refusal after an :info attempt may mean the attempt took effect (add:
  address_taken, remove: unknown_member, promote: not_a_learner); the caller
  decides."
  ([client url method body] (member-call client url method body {}))
  ([client url method body {:keys [timeout-ms] :or {timeout-ms default-timeout-ms}}]
   (let [publisher (if body
                     (HttpRequest$BodyPublishers/ofString (json/write-str body))
                     (HttpRequest$BodyPublishers/noBody))
         request   (-> (HttpRequest/newBuilder (URI/create url))
                       (.timeout (Duration/ofMillis timeout-ms))
                       (.header "Content-Type" "application/json")
                       (.method (case method :get "GET", :post "POST", :delete "DELETE")
                                publisher)
                       (.build))
         {:keys [status body exception]} (send! client request)]
     (if exception
       (exception-outcome exception)
       (let [reply (parse-json body)]
         (cond
           (and (= 200 status) (map? reply))
           {:type :ok, :body reply}

           (and (#{400 404 409} status) (string? (:refusal reply)))
           {:type :refused, :status status, :refusal (:refusal reply), :error (:error reply)}

           (and (= 503 status) (= "not_applied" (:outcome reply)))
           {:type :fail, :error [:not-applied (:error reply)]}

           :else
           {:type :info, :error [:http-status status body]}))))))

(defn list-members
  "GET /members: {:type :ok, :body {:members [{:id :address :grpc :role}],
  :config_slot n}}, or a failure (see member-call)."
  ([client url] (list-members client url {}))
  ([client url opts] (member-call client (str url "/members") :get nil opts)))

(defn node-status
  "GET /status (its :member is voter, learner, removed or joining)."
  ([client url] (node-status client url {}))
  ([client url opts] (member-call client (str url "/status") :get nil opts)))

(defn add-member!
  "POST /members {address}: adds a learner; :body :member is it (with its new
  :id)."
  ([client url address] (add-member! client url address {}))
  ([client url address opts]
   (member-call client (str url "/members") :post {:address address} opts)))

(defn promote-member!
  "POST /members/{id}/promote: the learner becomes a voter (refused
  learner_behind until it has caught up)."
  ([client url id] (promote-member! client url id {}))
  ([client url id opts]
   (member-call client (str url "/members/" id "/promote") :post nil opts)))

(defn remove-member!
  "DELETE /members/{id}: removes a voter or a learner (the leader too)."
  ([client url id] (remove-member! client url id {}))
  ([client url id opts]
   (member-call client (str url "/members/" id) :delete nil opts)))
