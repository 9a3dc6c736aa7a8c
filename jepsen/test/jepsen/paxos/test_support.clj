(ns jepsen.paxos.test-support
  "A tiny brute-force linearizability search, for small histories in tests.
  Not Knossos: it exists so the models can be checked against concurrent
  histories without Jepsen on the classpath."
  (:require [jepsen.paxos.model-core :as mc]))

(defn linearizable?
  "ops: a collection of {:op {:f .. :value ..}, :start t, :end t-or-nil}. An op
  with :end nil is indeterminate (:info): it may take effect at any point after
  :start, or never. Every op with an :end must take effect between :start and
  :end. Returns true if some order of the ops satisfies real time and step
  (a model-core step function) from the empty list."
  [step ops]
  (let [ops (vec (map-indexed (fn [i o] (assoc o :id i)) ops))]
    (letfn [(search [state remaining]
              (let [required (filter :end remaining)]
                (if (empty? required)
                  true
                  (let [deadline (apply min (map :end required))]
                    (some (fn [o]
                            ; o can go next only if it began before every
                            ; pending completed op ended.
                            (when (< (:start o) deadline)
                              (let [state' (step state (:op o))]
                                (when-not (mc/inconsistent? state')
                                  (search state'
                                          (remove #(= (:id o) (:id %))
                                                  remaining))))))
                          remaining)))))]
      (boolean (search [] ops)))))

(defn ok-append
  "An :ok append of v answered with state s, invoked at start, completed at end."
  [start end v s]
  {:op {:f :append, :value {:appended-value v, :new-state s}}
   :start start, :end end})

(defn info-append
  "An append of v with unknown outcome, invoked at start."
  [start v]
  {:op {:f :append, :value v}, :start start, :end nil})

(defn ok-read
  [start end r]
  {:op {:f :read, :value r}, :start start, :end end})
