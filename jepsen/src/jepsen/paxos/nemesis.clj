(ns jepsen.paxos.nemesis
  "Nemeses by name, alone or several at once (--nemesis member,partition,kill),
  and their schedule: healthy for a while, then a fault, in turn.

  The member nemesis changes the cluster's membership within the test's
  nodes, as jepsen-io/etcd's does: :shrink removes a voter (the leader and a
  random follower in turn) through another member, then kills its node and
  wipes its data;
  :grow brings every node that is not a voter back: wiped, started with
  --join, added as a learner, then promoted once it has caught up. It never
  leaves fewer voters than a majority of the test's nodes (2 of 3)."
  (:require [clojure.string :as str]
            [clojure.tools.logging :refer [info warn]]
            [jepsen [control :as c]
                    [db :as db]
                    [generator :as gen]
                    [nemesis :as nemesis]]
            [jepsen.paxos [db :as pdb]
                          [http :as http]]))

(def faults
  "Each fault by name: the nemesis op that starts it and the one that ends
  it (distinct for every fault, so that several can share one nemesis)."
  {:partition-random-halves   {:start :start-partition, :stop :stop-partition}
   :partition-majorities-ring {:start :start-ring,      :stop :stop-ring}
   :kill                      {:start :kill,            :stop :restart}
   :pause                     {:start :pause,           :stop :resume}
   :member                    {:start :shrink,          :stop :grow}})

(def aliases
  "Short names: partition is Jepsen's partition-random-halves (as in the
  local harness's --nemesis partition,kill)."
  {:partition :partition-random-halves})

(def names
  "Every name --nemesis takes."
  (into #{:none} (concat (keys faults) (keys aliases))))

(defn parse-kinds
  "--nemesis's value: comma-separated names -> a vector of fault names
  (aliases resolved). none is no fault at all: []."
  [s]
  (->> (str/split (str s) #",")
       (map (comp keyword str/trim))
       (mapv #(aliases % %))))

(defn kinds-error
  "Why a parsed --nemesis value is not usable, or nil."
  [kinds]
  (cond (empty? kinds)                        "give at least one name"
        (not-every? names kinds)              (str "unknown: " (str/join ", " (map name (remove names kinds)))
                                                   "; use " (str/join ", " (map name (sort names))))
        (and (some #{:none} kinds) (next kinds)) "none cannot be combined"
        (not (apply distinct? kinds))         "a fault is named twice"))

(defn faults-of
  "The fault names of a parsed --nemesis value (none is no fault)."
  [kinds]
  (vec (remove #{:none} kinds)))

;; The member nemesis.

(def change-timeout-ms
  "How long one membership change is tried (through any member, again after
  no leader, a pending change, a timeout) before the nemesis gives up."
  30000)

(defn- host-of
  "The test node a member's address (host:port) names."
  [test address]
  (let [host (first (str/split (str address) #":"))]
    (some #{host} (:nodes test))))

(defn- with-client
  "Calls (f client url-of) with an HTTP client for the nodes (with --tls,
  the run's CA and client certificate), and closes it."
  [test f]
  (let [tls    (pdb/client-tls test)
        client (http/make-client tls)]
    (try (f client #(http/base-url % (:http-port test) tls))
         (finally (http/close-client! client)))))

(defn membership
  "The newest membership any node answers with: the members with their
  :node (test node) added, and :config-slot. A removed node or a joining
  one may answer an old membership; the highest config slot wins. nil if no
  node answers."
  [test client url-of]
  (let [answers (->> (:nodes test)
                     (pmap #(http/list-members client (url-of %) {:timeout-ms 3000}))
                     (filter #(= :ok (:type %)))
                     (map :body))]
    (when (seq answers)
      (let [{:keys [members config_slot]} (apply max-key :config_slot answers)]
        {:config-slot config_slot
         :members     (mapv #(assoc % :node (host-of test (:address %))) members)}))))

(defn- voters [m] (filter #(= "voter" (:role %)) (:members m)))

(defn min-voters
  "Never fewer voters than a majority of the test's nodes (2 of 3): a
  shrink takes one node out, never the cluster down to one."
  [test]
  (inc (quot (count (:nodes test)) 2)))

(defn- describe
  "A membership, short: config slot and id:node:role."
  [m]
  (when m
    [(:config-slot m) (mapv #(str (:id %) ":" (:node %) ":" (:role %)) (:members m))]))

(defn- change!
  "Runs one membership change until it is chosen or refused: (call client
  url) through each contact in turn, again and again until
  change-timeout-ms. done? (of a refusal) says which refusals mean an earlier
  attempt took effect; retry? which mean wait and try again (a change
  pending, a learner behind). :fail and :info answers (no leader, a timeout)
  are tried again through the next contact: a change whose first attempt
  took effect is refused on the next one, and done? sees it. Returns the
  last answer, with :via (the contact) and :attempts."
  [client url-of contacts call {:keys [done? retry?]}]
  (let [deadline (+ (System/currentTimeMillis) change-timeout-ms)]
    (if (empty? contacts)
      {:type :fail, :error :no-member-to-ask}
      (loop [[contact & more] (cycle contacts), attempts 1]
        (let [r        (assoc (call client (url-of contact)) :via contact, :attempts attempts)
              refused? (= :refused (:type r))]
          (cond
            (= :ok (:type r))                     r
            (and refused? (done? (:refusal r)))   (assoc r :type :ok, :already true)
            (and refused? (not (retry? (:refusal r)))) r
            (< deadline (System/currentTimeMillis)) r
            :else (do (Thread/sleep 500) (recur more (inc attempts)))))))))

(defn- leader-id
  "The leader most voters name in GET /status, or nil."
  [client url-of vs]
  (->> vs
       (pmap #(get-in (http/node-status client (url-of (:node %)) {:timeout-ms 3000})
                      [:body :leader]))
       (remove nil?)
       frequencies
       (sort-by val >)
       ffirst))

(defn shrink!
  "Removes a voter through another member, kills its node and wipes its data
  dir: the leader when target is :leader (and some leader is known), else a
  random voter that does not lead. Does nothing while there are only
  min-voters voters, or the cluster has a learner (a grow that did not
  finish)."
  [test target]
  (with-client test
    (fn [client url-of]
      (let [m (membership test client url-of)
            vs (voters m)]
        (cond
          (nil? m) {:shrink :no-member-answered}
          (<= (count vs) (min-voters test)) {:shrink :too-few-voters, :members (describe m)}
          (< (count vs) (count (:members m))) {:shrink :learner-present, :members (describe m)}
          :else
          (let [leader   (leader-id client url-of vs)
                [lead others] ((juxt filter remove) #(= leader (:id %)) vs)
                victim   (rand-nth (vec (if (and (= :leader target) (seq lead)) lead others)))
                node     (:node victim)
                contacts (shuffle (keep #(when (not= node (:node %)) (:node %)) (:members m)))
                ; unknown_member: an earlier attempt whose answer was lost removed it
                r (change! client url-of contacts #(http/remove-member! %1 %2 (:id victim))
                           {:done? #{"unknown_member"}, :retry? #{"change_pending"}})]
            (if-not (= :ok (:type r))
              (do (warn "could not remove" node r)
                  {:shrink :not-removed, :node node, :id (:id victim), :answer (dissoc r :body)})
              (do
                ; Marked first: from now on nothing starts it from the config.
                (pdb/set-member-state! test node {:status :removed})
                (let [killed (c/on-nodes test [node]
                                         (fn [test node]
                                           (let [pids (db/kill! (:db test) test node)]
                                             (pdb/wipe! test node)
                                             pids)))]
                  {:removed  node
                   :id       (:id victim)
                   :leader?  (= leader (:id victim))
                   :via      (:via r)
                   :attempts (:attempts r)
                   :killed   (get killed node)
                   :members  (describe (membership test client url-of))})))))))))

(defn- grow-node!
  "Brings node (not a member, or a learner) back as a voter: unless it is
  waiting to be added already (its /status says joining), kills it, wipes
  its data and starts it with --join through a member; adds it; promotes
  it (learner_behind: not caught up yet, try again)."
  [test client url-of m node]
  (let [mine      (first (filter #(= node (:node %)) (:members m)))
        contacts  (shuffle (keep #(when (and (not= node (:node %)) (= "voter" (:role %))) (:node %))
                                 (:members m)))
        status    (http/node-status client (url-of node) {:timeout-ms 3000})
        joining?  (= "joining" (get-in status [:body :member]))
        started   (when-not (or mine joining? (empty? contacts))
                    (get (c/on-nodes test [node]
                                     (fn [test node]
                                       (db/kill! (:db test) test node)
                                       (pdb/wipe! test node)
                                       (pdb/start-joining! test node (first contacts))))
                         node))
        added     (when-not mine
                    ; address_taken: an earlier attempt whose answer was lost added it
                    (change! client url-of contacts
                             #(http/add-member! %1 %2 (pdb/member-address test node))
                             {:done? #{"address_taken"}, :retry? #{"change_pending"}}))
        id        (or (:id mine)
                      (get-in added [:body :member :id])
                      (:id (first (filter #(= node (:node %))
                                          (:members (membership test client url-of))))))
        promoted  (when id
                    (change! client url-of contacts #(http/promote-member! %1 %2 id)
                             {:done?  #{"not_a_learner"}
                              :retry? #{"learner_behind" "change_pending"}}))]
    {:node     node
     :id       id
     :started  (if (empty? contacts) :no-voter-to-join started)
     :added    (when added (select-keys added [:type :refusal :via :attempts :already]))
     :promoted (when promoted (select-keys promoted [:type :refusal :via :attempts :already]))}))

(defn grow!
  "Brings every test node that is not a voter back into the cluster as a
  voter, one at a time (one change at a time)."
  [test]
  (with-client test
    (fn [client url-of]
      (let [m (membership test client url-of)]
        (if (nil? m)
          {:grow :no-member-answered}
          (let [voting (set (map :node (voters m)))
                todo   (remove voting (:nodes test))]
            (if (empty? todo)
              {:grow :full, :members (describe m)}
              (let [results (mapv #(grow-node! test client url-of
                                               (membership test client url-of) %)
                                  todo)]
                {:grew    results
                 :members (describe (membership test client url-of))}))))))))

(defn member-nemesis
  "Responds to :shrink and :grow (see shrink! and grow!). Ops are :info, with
  what was done and the membership after it as :value. Shrinks remove the
  leader and a follower in turn, the leader first: removing the leader is
  the harder change (it must step down once its removal is chosen, and
  another be elected), and even a short run should make it."
  []
  (let [shrinks (atom 0)]
    (reify nemesis/Nemesis
      (setup! [this test] this)
      (invoke! [this test op]
        (let [v (case (:f op)
                  :shrink (shrink! test (if (odd? (swap! shrinks inc)) :leader :follower))
                  :grow   (grow! test))]
          (info "member nemesis" (:f op) (pr-str v))
          (assoc op :type :info, :value v)))
      (teardown! [this test])
      nemesis/Reflection
      (fs [this] #{:shrink :grow}))))

;; Nemeses by name, composed.

(defn- live-target
  "A random node the member nemesis has not removed (kill and pause act on
  a running node)."
  [test nodes]
  (rand-nth (pdb/live-nodes test)))

(defn fault-nemesis
  "The nemesis of one fault, answering :start and :stop (the member
  nemesis: :shrink and :grow). :kill and :pause act on one random live node
  per :start, through the DB's Kill and Pause protocols; their :info ops
  name the node and the pids it acted on."
  [kind]
  (case kind
    :partition-random-halves   (nemesis/partition-random-halves)
    :partition-majorities-ring (nemesis/partition-majorities-ring)
    :kill  (nemesis/node-start-stopper
             live-target
             (fn start [test node] [:killed node (db/kill! (:db test) test node)])
             (fn stop [test node] [:restarted node (db/start! (:db test) test node)]))
    :pause (nemesis/node-start-stopper
             live-target
             (fn start [test node] [:paused node (db/pause! (:db test) test node)])
             (fn stop [test node] [:resumed node (db/resume! (:db test) test node)]))
    :member (member-nemesis)))

(defn nemesis
  "One nemesis for the parsed --nemesis value: each fault's own ops (see
  faults) routed to its nemesis."
  [kinds]
  (if-let [fs (seq (faults-of kinds))]
    (nemesis/compose
      (into {} (for [k fs
                     :let [{:keys [start stop]} (faults k)]]
                 [(if (= :member k)
                    {start :shrink, stop :grow}
                    {start :start, stop :stop})
                  (fault-nemesis k)])))
    nemesis/noop))

(defn generator
  "healthy seconds without a fault, then one fault for faulty seconds, in
  turn: each fault of kinds round-robin, so a fault always ends (a removed
  node is back, a killed one restarted) before the next starts, and every
  healthy stretch has the whole cluster. No faults: nil."
  [kinds healthy faulty]
  (when-let [fs (seq (faults-of kinds))]
    (cycle (mapcat (fn [k]
                     [(gen/sleep healthy)
                      {:type :info, :f (:start (faults k))}
                      (gen/sleep faulty)
                      {:type :info, :f (:stop (faults k))}])
                   fs))))

(defn final-generator
  "After the time limit: ends every fault (healed partitions and restarted
  nodes first, then the membership grown back)."
  [kinds]
  (let [order [:pause :partition-random-halves :partition-majorities-ring :kill :member]
        fs    (set (faults-of kinds))]
    (vec (for [k order :when (fs k)]
           {:type :info, :f (:stop (faults k))}))))

(defn perf-nemeses
  "The perf checker's nemesis specs: each fault's time shaded in the
  graphs."
  [kinds]
  (set (for [k (faults-of kinds)
             :let [{:keys [start stop]} (faults k)]]
         {:name (name k), :start #{start}, :stop #{stop}})))
