(ns jepsen.paxos.http
  "The HTTP JSON client for one paxos-ts node: POST /proposer/client-request
  and GET /state, over the JDK's java.net.http. Needs only Clojure,
  clojure.data.json and the JDK (no Jepsen), so it is tested without Jepsen.

  Every call returns a map whose :type says what Jepsen may conclude:

    {:type :ok,   :state [...]}     the server answered 200 with the list
    {:type :fail, :error ...}       definitely not applied (and never will be)
    {:type :info, :error ...}       unknown: the append may have happened or may
                                    still happen

  For appends:
    200 {\"state\": [...]}                         -> :ok
    400 {\"error\": ...}                           -> :fail (bad input, nothing appended)
    503 {\"outcome\": \"not_applied\"}               -> :fail
    503 {\"outcome\": \"unknown\"} (or no outcome)   -> :info
    any other status, a malformed 200 body        -> :info
    connection refused (java.net.ConnectException) -> :fail: the TCP connection
      was never established, so no byte of the request reached a server
    request timeout, connect timeout, reset, EOF  -> :info

  Reads change nothing, so every failed or timed-out read is :fail."
  (:require [clojure.data.json :as json])
  (:import (java.net ConnectException URI)
           (java.net.http HttpClient HttpClient$Version HttpRequest
                          HttpRequest$BodyPublishers HttpResponse
                          HttpResponse$BodyHandlers HttpTimeoutException)
           (java.time Duration)))

(def default-timeout-ms
  "Per-request timeout. The server answers every request within 10 s (its
  --request-timeout-ms), so a little more lets its own 503 verdict arrive."
  12000)

(def default-connect-timeout-ms 2000)

(defn make-client
  "A java.net.http.HttpClient speaking HTTP/1.1 with a connect timeout."
  ([] (make-client {}))
  ([{:keys [connect-timeout-ms]
     :or   {connect-timeout-ms default-connect-timeout-ms}}]
   (-> (HttpClient/newBuilder)
       (.version HttpClient$Version/HTTP_1_1)
       (.connectTimeout (Duration/ofMillis connect-timeout-ms))
       (.build))))

(defn base-url
  "http://host:port"
  [host port]
  (str "http://" host ":" port))

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
