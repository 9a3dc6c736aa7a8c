(ns jepsen.client)
(defprotocol Client
  (open! [client test node])
  (close! [client test])
  (setup! [client test])
  (invoke! [client test operation])
  (teardown! [client test]))
