(ns jepsen.paxos.model
  "Knossos models of the replicated list, wrapping the pure step functions of
  jepsen.paxos.model-core."
  (:require [knossos.model :as model]
            [jepsen.paxos.model-core :as core])
  (:import (knossos.model Model)))

(defrecord AppendableList [state]
  Model
  (step [this op]
    (let [s (core/append-list-step state op)]
      (if (core/inconsistent? s)
        (model/inconsistent (:inconsistent s))
        (AppendableList. s))))

  Object
  (toString [this] (pr-str state)))

(defrecord StrictList [state]
  Model
  (step [this op]
    (let [s (core/strict-list-step state op)]
      (if (core/inconsistent? s)
        (model/inconsistent (:inconsistent s))
        (StrictList. s))))

  Object
  (toString [this] (pr-str state)))

(defn appendable-list
  "The contract's AppendableList model, from the empty list."
  []
  (AppendableList. []))

(defn strict-list
  "The strict model (every reply is exactly the state with v appended), from
  the empty list."
  []
  (StrictList. []))

(def models
  "--model names to model constructors."
  {:appendable-list appendable-list
   :strict          strict-list})
