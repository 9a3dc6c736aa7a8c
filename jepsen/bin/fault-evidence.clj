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
;;   member     the watcher's GET /status answers show the config slot growing,
;;              a membership without one of the workers and, later, that worker
;;              back as a member under a new id; the worker's own log shows it
;;              joining ("added to the cluster") and starting under two ids; at
;;              the end every worker answers as a voter;
;;   none       no DROP rule, no restart, no stopped node, no membership change.
;;
;; NEMESIS may name several, joined by commas (member,partition,kill): each
;; is checked. With member, a kill is told from a member change by the node
;; logs: a restart after a kill logs "node started" without "added to the
;; cluster" before it.
;;
;; Needs only Clojure. Prints the op counts and one line per check, then
;; "EVIDENCE ok" or "EVIDENCE FAILED"; exits 0 or 1.
(require '[clojure.data.json :as json]
         '[clojure.edn :as edn]
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

(defn log-lines
  "The JSON lines of a node's paxos.log, parsed (others skipped)."
  [^java.io.File d]
  (with-open [r (io/reader (io/file d "paxos.log"))]
    (into [] (keep #(try (json/read-str % :key-fn keyword) (catch Exception _ nil)))
          (line-seq r))))

(defn node-logs
  "node name -> its log lines."
  [dirs]
  (into (sorted-map) (for [^java.io.File d dirs] [(.getName d) (log-lines d)])))

(defn msgs [lines msg] (filter #(= msg (:msg %)) lines))

(defn node-starts
  "node name -> how many times its node logged \"node started\"."
  [logs]
  (into (sorted-map) (for [[n lines] logs] [n (count (msgs lines "node started"))])))

(def joined-msg "added to the cluster: starting as its member")
(def removed-msg "this node was removed from the cluster: it takes no further part, and answers clients 503")

(defn node-joins
  "node name -> how many times its node joined the cluster (paxos node --join, then added)."
  [logs]
  (into (sorted-map) (for [[n lines] logs] [n (count (msgs lines joined-msg))])))

(defn start-ids
  "node name -> the member ids its node started as, in order (distinct)."
  [logs]
  (into (sorted-map) (for [[n lines] logs] [n (vec (distinct (keep :id (msgs lines "node started"))))])))

(defn read-watch
  "The watcher's samples: [{:t ms, :worker w, :drops n, :nodes [[pid state] ...]}
  and, when the node answered GET /status, :member (\"voter\", \"learner\",
  \"removed\", \"joining\"), :id, :slot and :members [[id role host] ...]}]."
  [file]
  (vec (for [line (str/split-lines (slurp file))
             :let [[_ t w drops nodes st] (re-matches #"(\d+) (\S+) drops=(\d+) nodes=(\S+)( .*)?" line)
                   [_ member id slot members]
                   (some->> st (re-find #"member=(\S+) id=(\S+) slot=(\S+) members=(\S+)"))]
             :when t]
         (cond-> {:t      (Long/parseLong t)
                  :worker w
                  :drops  (Long/parseLong drops)
                  :nodes  (if (= "-" nodes)
                            []
                            (mapv #(str/split % #":") (str/split nodes #",")))}
           (and member (not= "-" member))
           (assoc :member  member
                  :id      (parse-long id)
                  :slot    (parse-long slot)
                  :members (if (= "-" members)
                             []
                             (mapv #(let [[i r h] (str/split % #":")] [(parse-long i) r h])
                                   (str/split members #","))))))))

(defn membership-timeline
  "[[t-ms slot members]] each membership a voter answered, the first time it
  was seen: the membership over time."
  [watch]
  (->> watch
       (filter #(= "voter" (:member %)))
       (sort-by (juxt :t :slot))
       (reduce (fn [[seen out] s]
                 (let [k [(:slot s) (:members s)]]
                   (if (seen k) [seen out] [(conj seen k) (conj out [(:t s) (:slot s) (:members s)])])))
               [#{} []])
       second))

(defn member-evidence
  "From the watcher's answers: the workers seen left out of a voter's
  membership, and for each worker the ids it answered as a member."
  [watch]
  (let [workers (set (map :worker watch))
        voter-views (filter #(= "voter" (:member %)) watch)]
    {:left-out (into (sorted-set)
                     (for [s voter-views, w workers
                           :when (not-any? #(= w (nth % 2)) (:members s))]
                       w))
     :ids      (into (sorted-map)
                     (for [[w ss] (group-by :worker watch)]
                       [w (vec (distinct (keep #(when (#{"voter" "learner"} (:member %)) (:id %))
                                               (sort-by :t ss))))]))}))

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
      min-gap  (if min-gap (Double/parseDouble min-gap) 8.0)
      concurrency (if concurrency (Long/parseLong concurrency) 5)
      history  (read-history (io/file run-dir "history.edn"))
      kinds    (set (map keyword (str/split (name nemesis) #",")))
      dirs     (node-dirs run-dir)
      n        (count dirs)
      logs     (node-logs dirs)
      starts   (node-starts logs)
      joins    (node-joins logs)
      ; Starts that were neither the first nor a join: restarts after a kill.
      restarts (- (reduce + (vals starts)) (reduce + (vals joins)) n)
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
      silence  (apply max-key :waiting-s {:waiting-s 0} silences)
      timeline (membership-timeline watch)
      ; Times in the membership timeline: from the first answer of a node.
      t0       (apply min Long/MAX_VALUE (map :t (filter :member watch)))
      {:keys [left-out ids]} (member-evidence watch)
      answered (filter :member watch)
      slots    (keep :slot (filter #(= "voter" (:member %)) answered))
      ; The last sample in which every worker's node answered.
      last-all (some->> (group-by :t answered)
                        (filter (fn [[_ ss]] (= n (count ss))))
                        (sort-by key)
                        last
                        val)]
  (println "ops (f type count):"
           (str/join ", " (for [[[f t] c] counts] (str (name f) " " (name t) " " c))))
  (println "nemesis ops that did something (f count):"
           (->> history
                (filter #(and (= :nemesis (:process %)) (= :info (:type %)) (some? (:value %))))
                (map :f) frequencies (into (sorted-map))))
  (println "nodes:" n "| node starts (n*/paxos.log):" starts "| joins:" joins
           "| restarts besides joins:" restarts "| ids started as:" (start-ids logs)
           "| removals logged:" (into (sorted-map) (for [[k ls] logs] [k (count (msgs ls removed-msg))]))
           "| refused connections:" refused)
  (println (str "membership over time (s since a node first answered, config slot, id:role:host),"
                " as the voters answered GET /status:"))
  (doseq [[t slot members] timeline]
    (println (format "  %6.1f  slot %3d  %s" (/ (- t t0) 1e3) slot
                     (str/join " " (for [[i r h] members] (str i ":" r ":" h))))))
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
  (when (:kill kinds)
    (check! (pos? restarts)
            (str "node starts beyond the first and the joins in the fetched logs (" restarts ")"))
    (check! (pos? refused) (str "clients got refused connections (" refused ")"))
    (check! (seq no-node) "the watcher saw a worker without its node process")
    (check! (some #(< 1 (count %)) (vals pids-by-worker))
            "the watcher saw a node come back with a new pid"))

  (when (:pause kinds)
    (check! (seq stopped) "the watcher saw a node process stopped (state T)")
    (check! (and (<= min-gap (:waiting-s silence)) (pos? (:others silence)))
            (format (str "one node's clients waited %.1f s (>= %.1f) without an :ok "
                         "while the others got %d")
                    (:waiting-s silence) min-gap (:others silence))))

  (when (some kinds [:partition-random-halves :partition-majorities-ring :partition])
    (check! (seq drops) "the watcher saw iptables DROP rules inside a worker")
    (check! (every? #(zero? (:drops %)) at-end)
            "no DROP rule left when the watcher stopped"))

  (when (:member kinds)
    (check! (and (seq slots) (< (apply min slots) (apply max slots)))
            (str "the config slot the voters answered grew (" (when (seq slots) (apply min slots))
                 " -> " (when (seq slots) (apply max slots)) ")"))
    (check! (seq left-out) (str "a voter's membership left a worker out " left-out))
    (check! (some #(< 1 (count %)) (vals ids))
            (str "a worker answered as a member under a new id " ids))
    (check! (some pos? (vals joins)) (str "a node's log shows it joined (" joins ")"))
    (check! (some #(< 1 (count %)) (vals (start-ids logs)))
            "a worker's log shows its node starting under two ids")
    (check! (and (seq last-all) (every? #(= "voter" (:member %)) last-all)
                 (apply = (map :slot last-all)))
            (str "at the end every worker answered as a voter of one config "
                 (mapv (juxt :worker :member :id :slot) last-all))))

  (when (:none kinds)
    (check! (empty? drops) "no DROP rule")
    (check! (= n (reduce + (vals starts))) "every node started once")
    (check! (empty? stopped) "no node stopped")
    (check! (or (empty? slots) (apply = slots)) "no membership change"))

  (when-let [unknown (seq (remove #{:kill :pause :partition-random-halves :partition-majorities-ring
                                    :partition :member :none} kinds))]
    (check! false (str "unknown nemesis " (str/join "," (map name unknown)))))
  (let [ok? (every? true? @checks)]
    (println (if ok? "EVIDENCE ok" "EVIDENCE FAILED"))
    (shutdown-agents)
    (System/exit (if ok? 0 1))))
