(ns jepsen.paxos.nemesis
  "Nemeses by name, and their on/off schedule."
  (:require [jepsen [db :as db]
                    [generator :as gen]
                    [nemesis :as nemesis]]))

(def names
  #{:none :partition-random-halves :partition-majorities-ring :kill :pause})

(defn nemesis
  "The nemesis for a --nemesis name. :kill and :pause act on one random node
  per :start, through the DB's Kill and Pause protocols."
  [kind]
  (case kind
    :none                      nemesis/noop
    :partition-random-halves   (nemesis/partition-random-halves)
    :partition-majorities-ring (nemesis/partition-majorities-ring)
    :kill  (nemesis/node-start-stopper
             rand-nth
             (fn start [test node] (db/kill! (:db test) test node) [:killed node])
             (fn stop [test node] (db/start! (:db test) test node) [:restarted node]))
    :pause (nemesis/node-start-stopper
             rand-nth
             (fn start [test node] (db/pause! (:db test) test node) [:paused node])
             (fn stop [test node] (db/resume! (:db test) test node) [:resumed node]))))

(defn generator
  "interval seconds healthy, :start, interval seconds of fault, :stop, forever."
  [interval]
  (cycle [(gen/sleep interval)
          {:type :info, :f :start}
          (gen/sleep interval)
          {:type :info, :f :stop}]))
