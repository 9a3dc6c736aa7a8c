(ns jepsen.paxos.client
  "The Jepsen client: each op goes over HTTP JSON (jepsen.paxos.http) to the
  node Jepsen opened the client for (worker thread t gets node t mod
  node-count, and keeps it when a crashed process is replaced, as with
  etcd's client); with --tls, over HTTPS, trusting the run's CA and
  presenting its client certificate client.jepsen.crt."
  (:require [jepsen.client :as client]
            [jepsen.paxos.db :as pdb]
            [jepsen.paxos.http :as http]))

(defrecord Client [http-client tls node counter client-id-base]
  client/Client
  (open! [this test node]
    (let [tls (pdb/client-tls test)]
      (assoc this :http-client (http/make-client tls), :tls tls, :node node)))

  (setup! [this test])

  (invoke! [this test op]
    (let [p     (:process op)
          url   (http/base-url node (:http-port test) tls)
          opts  {:timeout-ms (:request-timeout-ms test)}]
      (case (:f op)
        :append
        (let [r (http/append! http-client url
                              {:client-id  (+ client-id-base p)
                               :command-id (swap! counter inc)
                               :payload    (:value op)}
                              opts)]
          (if (= :ok (:type r))
            (assoc op :type :ok
                   :value {:appended-value (:value op), :new-state (:state r)})
            ; :fail and :info keep the invocation's :value (Knossos needs it)
            (assoc op :type (:type r), :error (:error r))))

        :read
        (let [r (http/read-state http-client url opts)]
          (if (= :ok (:type r))
            (assoc op :type :ok, :value (:state r))
            (assoc op :type :fail, :error (:error r)))))))

  (teardown! [this test])

  (close! [this test]
    ; Closes the HttpClient that open! made (and its executor).
    (http/close-client! http-client)
    (assoc this :http-client nil)))

(defn client
  "A fresh client. client_id = a random base + the Jepsen process (unique per
  process); command_id increases with every op."
  []
  (map->Client {:counter        (atom 0)
                :client-id-base (* 1000000 (inc (rand-int 1000000)))}))
