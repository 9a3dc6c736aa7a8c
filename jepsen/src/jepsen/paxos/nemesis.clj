(ns jepsen.paxos.nemesis
  "Nemeses by name, and their schedule: healthy for a while, then a fault,
  in turn."
  (:require [jepsen [db :as db]
                    [generator :as gen]
                    [nemesis :as nemesis]]))

(def names
  #{:none :partition-random-halves :partition-majorities-ring :kill :pause})

(defn nemesis
  "The nemesis for a --nemesis name. :kill and :pause act on one random node
  per :start, through the DB's Kill and Pause protocols; their :info ops
  name the node and the pids it acted on."
  [kind]
  (case kind
    :none                      nemesis/noop
    :partition-random-halves   (nemesis/partition-random-halves)
    :partition-majorities-ring (nemesis/partition-majorities-ring)
    :kill  (nemesis/node-start-stopper
             rand-nth
             (fn start [test node] [:killed node (db/kill! (:db test) test node)])
             (fn stop [test node] [:restarted node (db/start! (:db test) test node)]))
    :pause (nemesis/node-start-stopper
             rand-nth
             (fn start [test node] [:paused node (db/pause! (:db test) test node)])
             (fn stop [test node] [:resumed node (db/resume! (:db test) test node)]))))

(defn generator
  "healthy seconds without a fault, :start, faulty seconds of fault, :stop,
  forever."
  [healthy faulty]
  (cycle [(gen/sleep healthy)
          {:type :info, :f :start}
          (gen/sleep faulty)
          {:type :info, :f :stop}]))
