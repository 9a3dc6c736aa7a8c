(ns jepsen.paxos.model-core
  "The models of the replicated list as pure step functions, needing only
  Clojure. jepsen.paxos.model wraps them as Knossos models; the tests drive them
  directly.

  A step takes the model's state (a vector: the list as the model believes it
  is) and an operation, and returns the next state, or {:inconsistent msg}.
  The operations are what Knossos hands a model once it has completed the
  history:

    {:f :append, :value {:appended-value v, :new-state S}}  an :ok append: the
                                                            server said the list
                                                            became S
    {:f :append, :value v}                                  an append whose
                                                            outcome is unknown
                                                            (:info); if it is
                                                            linearized, it
                                                            happened
    {:f :read, :value R}                                    an :ok read of R
    {:f :read, :value nil}                                  a read of unknown
                                                            result"
  (:require [clojure.string :as str]))

(defn inconsistent [msg] {:inconsistent msg})

(defn brief
  "A list for a message: whole when short, else its length and last elements.
  Knossos builds a message for every linearization it rejects, thousands of
  times per op with :info ops pending; printing whole lists of a thousand
  elements there made the analysis of a 60 s run take hours."
  [xs]
  (if (<= (count xs) 8)
    (pr-str xs)
    (str "[... " (str/join " " (take-last 4 xs)) "] ("
         (count xs) " elements)")))

(defn- first-difference
  "The first index where vectors a and b differ (or the shorter's length)."
  [a b]
  (let [n (min (count a) (count b))]
    (loop [i 0]
      (if (and (< i n) (= (nth a i) (nth b i))) (recur (inc i)) i))))

(defn inconsistent?
  [x]
  (and (map? x) (contains? x :inconsistent)))

(defn prefix?
  "Is vector a a prefix of vector b?"
  [a b]
  (and (<= (count a) (count b))
       (= a (subvec b 0 (count a)))))

(defn- ok-append?
  [op]
  (and (= :append (:f op)) (map? (:value op))))

(defn read-step
  "Both models: an :ok read must return exactly the state (a read without a
  value, i.e. not :ok, constrains nothing)."
  [state op]
  (let [r (:value op)]
    (if (or (nil? r) (= state (vec r)))
      state
      (inconsistent (str "read " (brief (vec r)) ", expected " (brief state))))))

;; Both models read and take :info appends alike; they differ only in what an
;; :ok append's reply must be. list-step builds a step function from that rule.
(defn- list-step
  [ok-append]
  (fn [state op]
    (let [state (vec state)]
      (case (:f op)
        :append (if (ok-append? op)
                  (let [{v :appended-value, s :new-state} (:value op)]
                    (ok-append state v (vec s)))
                  (conj state (:value op)))
        :read   (read-step state op)
        ; Not a client op of ours (e.g. a nemesis op): no change.
        state))))

(def append-list-step
  "The AppendableList model of the old test's contract. For an :ok append of v
  with reply S, from state st: inconsistent if S is shorter than st, or st is
  not a prefix of S, or v does not occur in S after the first (count st)
  elements; otherwise the state becomes st with v appended. Lax on purpose (it
  is the contract's): S may hold elements after v, or v twice. The contract had
  no reads; a read of R must return exactly st, as in the strict model."
  (list-step
    (fn [state v s]
      (cond
        (< (count s) (count state))
        (inconsistent (str "reply " (brief s) " is shorter than the state "
                           (brief state)))

        (not (prefix? state s))
        (inconsistent (str "state " (brief state) " is not a prefix of reply "
                           (brief s) " (they differ at index "
                           (first-difference state s) ")"))

        (not (some #(= v %) (subvec s (count state))))
        (inconsistent (str "appended " v " is not in the new part of reply "
                           (brief s) " (state " (brief state) ")"))

        :else
        (conj state v)))))

(def strict-list-step
  "The strict model: an :ok append of v must answer exactly the state with v
  appended, and an :ok read must return exactly the state."
  (list-step
    (fn [state v s]
      (let [expected (conj state v)]
        (if (= expected s)
          expected
          (inconsistent (str "appending " v " to " (brief state)
                             " should answer " (brief expected)
                             ", got " (brief s)
                             (when (and (< 8 (count s)) (< 8 (count expected)))
                               (str " (they differ at index "
                                    (first-difference expected s) ")")))))))))

(def steps
  "Model names (as given to --model) to step functions."
  {:appendable-list append-list-step
   :strict          strict-list-step})

(defn run-sequential
  "Applies step to ops in order from the empty list. Returns the final state,
  or {:inconsistent msg, :index i} for the first op that does not fit."
  [step ops]
  (reduce (fn [state [i op]]
            (let [state' (step state op)]
              (if (inconsistent? state')
                (reduced (assoc state' :index i))
                state')))
          []
          (map-indexed vector ops)))

(defn duplicates
  "The elements that occur more than once in a list, as a set."
  [xs]
  (->> (frequencies xs)
       (keep (fn [[x n]] (when (< 1 n) x)))
       set))

(defn observed-duplicates
  "Takes :ok completions (maps with :f and :value as the client returns them)
  and returns [{:op op, :duplicates #{...}} ...] for each observed list that
  holds some element twice. Appends use unique values, so any duplicate is a
  bug, whatever the model."
  [ops]
  (->> ops
       (keep (fn [op]
               (let [xs (case (:f op)
                          :append (:new-state (:value op))
                          :read   (:value op)
                          nil)
                     d  (when (sequential? xs) (duplicates xs))]
                 (when (seq d) {:op op, :duplicates d}))))
       vec))
