;; usage: clojure.main bin/fault-evidence.clj RUN-DIR WATCH-LOG NEMESIS [MIN-GAP-S [CONCURRENCY]]
;;
;; Did the nemesis really do what Jepsen's log says it did? Judged from
;; evidence outside Jepsen's own log, for one run of the test: RUN-DIR is its
;; store directory (store/<name>/<time>/, with history.edn and the node logs
;; Jepsen fetched into n*/paxos.log), WATCH-LOG what bin/fault-watch.sh saw on
;; the workers while the test ran.
;;
;;   kill       the nodes' own logs hold more "node started" lines than there
;;              are nodes; some ops failed with a refused connection; the
;;              watcher saw a worker without its node, and a node with a new pid;
;;   pause      the watcher saw a node stopped (state T); the history has a
;;              stretch of at least MIN-GAP-S seconds (default 8) in which a
;;              client of one node waited and no client of that node got an
;;              :ok, while the other nodes' clients got some;
;;   partition-*
;;              the watcher saw iptables DROP rules inside a worker, and none
;;              once the test was over;
;;   none       no DROP rule, no restart, no stopped node.
;;
;; Needs only Clojure. Prints the op counts and one line per check, then
;; "EVIDENCE ok" or "EVIDENCE FAILED"; exits 0 or 1.
(require '[clojure.edn :as edn]
         '[clojure.java.io :as io]
         '[clojure.string :as str])

(defn read-history
  "The ops of history.edn, one EDN map per line (unknown tags read as their
  value)."
  [file]
  (with-open [r (java.io.PushbackReader. (io/reader file))]
    (->> (repeatedly #(edn/read {:eof ::eof, :default (fn [_ v] v)} r))
         (take-while #(not= ::eof %))
         vec)))

(defn node-dirs
  "The node directories Jepsen fetched logs into, sorted by name (n1, n2, ...:
  the order of the nodes file, so index i serves the worker threads t with
  t mod node-count = i; process p runs on thread p mod concurrency)."
  [run-dir]
  (->> (.listFiles (io/file run-dir))
       (filter #(.exists (io/file % "paxos.log")))
       (sort-by #(.getName ^java.io.File %))
       vec))

(defn node-starts
  "node name -> how many times its node logged \"node started\"."
  [dirs]
  (into (sorted-map)
        (for [^java.io.File d dirs]
          [(.getName d)
           (count (re-seq #"\"msg\":\"node started\"" (slurp (io/file d "paxos.log"))))])))

(defn read-watch
  "The watcher's samples: [{:t ms, :worker w, :drops n, :nodes [[pid state] ...]}]."
  [file]
  (vec (for [line (str/split-lines (slurp file))
             :let [[_ t w drops nodes] (re-matches #"(\d+) (\S+) drops=(\d+) nodes=(\S+)" line)]
             :when t]
         {:t      (Long/parseLong t)
          :worker w
          :drops  (Long/parseLong drops)
          :nodes  (if (= "-" nodes)
                    []
                    (mapv #(str/split % #":") (str/split nodes #",")))})))

(defn client-op? [op] (integer? (:process op)))

(defn op-counts
  "{[f type] count} of completed client ops."
  [history]
  (->> history
       (filter client-op?)
       (remove #(= :invoke (:type %)))
       (map (juxt :f :type))
       frequencies
       (into (sorted-map))))

(defn calls
  "Every client call: {:process p, :start ns, :end ns-or-nil, :type t} (an
  invocation paired with its completion; :end nil if it never completed)."
  [history]
  (->> history
       (filter client-op?)
       (group-by :process)
       vals
       (mapcat (fn [ops]
                 (->> ops
                      (partition-by #(= :invoke (:type %)))
                      (partition-all 2)
                      (mapcat (fn [[invokes [done]]]
                                (for [i invokes]
                                  {:process (:process i), :start (:time i),
                                   :end (:time done), :type (:type done)}))))))))

(defn longest-silence
  "For node index i of node-count: the longest stretch [from to] (s, history
  time) with no :ok answer to a client of node i (process p with (p mod
  concurrency) mod node-count = i), between two such answers or from one to
  the end of the history, in which a client of node i was waiting all along;
  and how many :ok answers the other nodes' clients got within it."
  [history concurrency node-count i]
  (let [mine?   #(= i (mod (mod (:process %) concurrency) node-count))
        cs      (calls history)
        end     (apply max 0 (keep :time (filter client-op? history)))
        oks     (->> cs (filter #(= :ok (:type %))))
        mine    (->> oks (filter mine?) (map :end) sort)
        others  (->> oks (remove mine?) (map :end))
        waiting (filter mine? cs)
        gaps    (for [[from to] (partition 2 1 (concat mine [end]))
                      ; the call pending longest inside [from to]
                      :let [w (apply max 0 (for [c waiting
                                                 :let [s (max from (:start c))
                                                       e (min to (or (:end c) end))]]
                                             (- e s)))]]
                  {:from from, :to to, :waiting w})
        best    (apply max-key #(- (:to %) (:from %)) {:from 0, :to 0, :waiting 0} gaps)]
    {:node      i
     :gap-s     (/ (- (:to best) (:from best)) 1e9)
     :from-s    (/ (:from best) 1e9)
     :waiting-s (/ (:waiting best) 1e9)
     :others    (count (filter #(< (:from best) % (:to best)) others))}))

(def checks (atom []))

(defn check!
  [ok? what]
  (let [ok? (boolean ok?)]
    (swap! checks conj ok?)
    (println (if ok? "  ok    " "  FAILED") what)))

(let [[run-dir watch-log nemesis min-gap concurrency] *command-line-args*
      nemesis  (keyword nemesis)
      min-gap  (if min-gap (Double/parseDouble min-gap) 8.0)
      concurrency (if concurrency (Long/parseLong concurrency) 5)
      history  (read-history (io/file run-dir "history.edn"))
      dirs     (node-dirs run-dir)
      n        (count dirs)
      starts   (node-starts dirs)
      watch    (read-watch watch-log)
      counts   (op-counts history)
      refused  (count (filter #(and (client-op? %) (= :fail (:type %))
                                    (= :connection-refused (first (:error %))))
                              history))
      drops    (filter #(pos? (:drops %)) watch)
      stopped  (filter (fn [s] (some #(= "T" (second %)) (:nodes s))) watch)
      ; "While the cluster ran": from the first to the last sample in which
      ; every worker had its node (not the setup and teardown around it).
      all-up   (->> (group-by :t watch)
                    (filter (fn [[_ ss]] (every? #(seq (:nodes %)) ss)))
                    (map key))
      [up0 up1] [(apply min Long/MAX_VALUE all-up) (apply max 0 all-up)]
      running  (filter #(<= up0 (:t %) up1) watch)
      no-node  (filter #(empty? (:nodes %)) running)
      pids-by-worker (->> running
                          (group-by :worker)
                          (map (fn [[w ss]] [w (set (mapcat #(map first (:nodes %)) ss))]))
                          (into (sorted-map)))
      last-t   (apply max 0 (map :t watch))
      at-end   (filter #(= last-t (:t %)) watch)
      silences (map #(longest-silence history concurrency n %) (range n))
      silence  (apply max-key :waiting-s {:waiting-s 0} silences)]
  (println "ops (f type count):"
           (str/join ", " (for [[[f t] c] counts] (str (name f) " " (name t) " " c))))
  (println "nodes:" n "| node starts (n*/paxos.log):" starts
           "| refused connections:" refused)
  (println "watcher:" (count watch) "samples | with DROP rules:"
           (count drops) (str (frequencies (map :worker drops)))
           "| node stopped (T):" (count stopped) (str (frequencies (map :worker stopped)))
           "| no node (while the cluster ran):" (count no-node) (str (frequencies (map :worker no-node)))
           "| node pids per worker:" pids-by-worker)
  (println "longest stretch without an :ok per node (s):"
           (str/join ", " (for [s silences]
                            (format "node %d %.1f from %.1f (a client waiting %.1f of it; others' ok meanwhile: %d)"
                                    (:node s) (:gap-s s) (:from-s s) (:waiting-s s) (:others s)))))
  (check! (pos? n) "node logs were fetched into the store")
  (check! (< 10 (count watch)) "the watcher sampled the workers during the run")
  (case nemesis
    :kill
    (do (check! (< n (reduce + (vals starts)))
                (str "more node starts than nodes in the fetched logs ("
                     (reduce + (vals starts)) " > " n ")"))
        (check! (pos? refused) (str "clients got refused connections (" refused ")"))
        (check! (seq no-node) "the watcher saw a worker without its node process")
        (check! (some #(< 1 (count %)) (vals pids-by-worker))
                "the watcher saw a node come back with a new pid"))

    :pause
    (do (check! (seq stopped) "the watcher saw a node process stopped (state T)")
        (check! (and (<= min-gap (:waiting-s silence)) (pos? (:others silence)))
                (format (str "one node's clients waited %.1f s (>= %.1f) without an :ok "
                             "while the others got %d")
                        (:waiting-s silence) min-gap (:others silence))))

    (:partition-random-halves :partition-majorities-ring)
    (do (check! (seq drops) "the watcher saw iptables DROP rules inside a worker")
        (check! (every? #(zero? (:drops %)) at-end)
                "no DROP rule left when the watcher stopped"))

    :none
    (do (check! (empty? drops) "no DROP rule")
        (check! (= n (reduce + (vals starts))) "every node started once")
        (check! (empty? stopped) "no node stopped"))

    (check! false (str "unknown nemesis " nemesis)))
  (let [ok? (every? true? @checks)]
    (println (if ok? "EVIDENCE ok" "EVIDENCE FAILED"))
    (shutdown-agents)
    (System/exit (if ok? 0 1))))
