(ns jepsen.paxos.db-test
  "jepsen.paxos.db on real Jepsen 0.3.5's jepsen.control: which commands a
  worker gets and as whom (a recording remote: as with SSH to a Debian AMI,
  the login user is not root, so every signal to the node must go through
  c/su), and the process handling itself against real local processes
  (a local remote that runs the commands with bash, sudo included)."
  (:require [clojure.java.io :as io]
            [clojure.java.shell :as sh]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [jepsen.control :as c]
            [jepsen.control.core :as cc]
            [jepsen.db :as db]
            [jepsen.paxos.db :as pdb]
            [jepsen.paxos.os]
            [jepsen.store :as store])
  (:import (java.nio.file Files)
           (java.nio.file.attribute FileAttribute)
           (java.util.concurrent TimeUnit)))

(defn temp-dir []
  (.toFile (Files/createTempDirectory "paxos-db-test" (make-array FileAttribute 0))))

(defn delete-tree! [^java.io.File dir]
  (doseq [^java.io.File f (reverse (file-seq dir))] (.delete f)))

(defn test-map
  [& {:as more}]
  (merge {:name "db-test", :start-time "t", :nodes ["n1" "n2" "n3"], :http-port 5000,
          :install-dir "/opt/paxos-ts", :data-dir "/var/lib/paxos-ts",
          :log-dir "/var/log/paxos-ts", :package "paxos-ts.tgz",
          :cluster-token "jepsen-x", :tls false, :tls-files (atom nil)}
         more))

;; A remote that records every command and answers from a function of it.

(defrecord RecordingRemote [log respond]
  cc/Remote
  (connect [this _] this)
  (disconnect! [this] this)
  (execute! [this _ action]
    (swap! log conj (:cmd action))
    (merge action {:out "", :err "", :exit 0} (respond (:cmd action))))
  (upload! [this _ local remote _]
    (doseq [l (if (sequential? local) local [local])]
      (swap! log conj (str "upload " l " " remote))))
  (download! [this _ remote local _]
    (swap! log conj (str "download " remote " " local))))

(defn recording
  "Calls (f) with commands on host \"n2\" going to a RecordingRemote that
  answers with (respond cmd) (a map merged into {:out \"\" :exit 0}), as a
  non-root login user. Returns [result commands]."
  [respond f]
  (let [log    (atom [])
        remote (RecordingRemote. log respond)]
    (c/with-session "n2" remote
      (binding [c/*sudo* nil]
        (let [r (f)]
          [r @log])))))

(defn as-root? [cmd] (str/starts-with? cmd "sudo -k -S -u root bash -c "))

(defn answers
  "A respond function: the first [substring reply] pair whose substring the
  command contains gives the reply; reply may be a map or a fn of no args
  (called each time)."
  [& pairs]
  (let [pairs (partition 2 pairs)]
    (fn [cmd]
      (when-let [[_ r] (first (filter #(str/includes? cmd (first %)) pairs))]
        (if (fn? r) (r) r)))))

(deftest kill-runs-as-root-and-finds-the-node-by-process
  (let [[r cmds] (recording (answers "find-pids" {:out "4242\n4243"}
                                     "await-exit" {:out "gone"})
                            #(db/kill! (pdb/db) (test-map) "n2"))
        kills (filter #(str/includes? % "kill -KILL") cmds)]
    (is (= ["4242" "4243"] r) "returns the pids it killed")
    (is (= 1 (count kills)) (pr-str cmds))
    (is (every? as-root? kills) "as the SSH user, only root can signal a root-owned node")
    (is (str/includes? (first kills) "4242 4243"))
    (is (every? as-root? (filter #(str/includes? % "find-pids") cmds))
        "the processes are looked up as root")
    (is (not-any? #(str/includes? % "cat /var/log/paxos-ts/paxos.pid") cmds)
        "the pidfile does not decide which process dies")
    (is (some #(and (as-root? %) (str/includes? % "rm -f /var/log/paxos-ts/paxos.pid")) cmds)))
  (testing "a node that survives SIGKILL is an error, not a silent no-op"
    (is (thrown? clojure.lang.ExceptionInfo
                 (recording (answers "find-pids" {:out "4242"} "await-exit" {:out "alive"})
                            #(pdb/kill-node! (test-map) "n2"))))))

(deftest stop-sends-term-then-kill
  (let [waits (atom ["alive" "gone"])
        [r cmds] (recording (answers "find-pids" {:out "77"}
                                     "await-exit" #(let [[w] @waits] (swap! waits rest) {:out w}))
                            #(pdb/stop-node! (test-map) "n2"))
        signals (filter #(re-find #"kill -(TERM|KILL)" %) cmds)]
    (is (= ["77"] r))
    (is (= 2 (count signals)))
    (is (str/includes? (first signals) "kill -TERM 77"))
    (is (str/includes? (second signals) "kill -KILL 77"))
    (is (every? as-root? signals))))

(deftest pause-and-resume-signal-the-process
  (let [[_ cmds] (recording (answers "find-pids" {:out "55"})
                            #(do (db/pause! (pdb/db) (test-map) "n3")
                                 (db/resume! (pdb/db) (test-map) "n3")))
        signals (filter #(re-find #"kill -(STOP|CONT)" %) cmds)]
    (is (= 2 (count signals)))
    (is (every? as-root? signals))
    (is (str/includes? (first signals) "kill -STOP 55"))
    (is (str/includes? (second signals) "kill -CONT 55"))))

(defn- flags
  "The --flag value pairs of the start-stop-daemon command in cmds."
  [cmds]
  (let [ssd (first (filter #(str/includes? % "start-stop-daemon --start") cmds))
        ws  (-> ssd (str/replace #"[\\'\"]" " ") (str/split #"\s+"))]
    (into {} (for [[k v] (map vector ws (rest ws)) :when (str/starts-with? k "--")] [k v]))))

(deftest start-node
  (testing "not running: a stale pidfile is removed, then the node starts with the run's flags"
    (let [[r cmds] (recording (answers "find-pids" {:out ""}
                                       "member.json" {:exit 1}
                                       "which node" {:out "/usr/bin/node"}
                                       "readlink -f" {:out "/usr/bin/node"})
                              #(db/start! (pdb/db) (test-map) "n2"))
          ssd (first (filter #(str/includes? % "start-stop-daemon --start") cmds))
          rm  (.indexOf ^java.util.List cmds
                        (first (filter #(str/includes? % "rm -f /var/log/paxos-ts/paxos.pid") cmds)))]
      (is (= :started r))
      (is (some? ssd))
      (is (as-root? ssd))
      (is (< -1 rm (.indexOf ^java.util.List cmds ssd)) "the pidfile goes before the start")
      (is (= "jepsen-x" (get (flags cmds) "--cluster-token")))
      (is (= "1" (get (flags cmds) "--self")))
      (is (str/includes? ssd "paxos.js node /opt/paxos-ts/jepsen-config --self 1 ")
          (str "from the config " ssd))
      (is (not-any? #(str/starts-with? % "--peer") (keys (flags cmds))) "no TLS without --tls")))
  (testing "running (found by its process): nothing is started"
    (let [[r cmds] (recording (answers "find-pids" {:out "999"})
                              #(db/start! (pdb/db) (test-map) "n2"))]
      (is (= :already-running r))
      (is (not-any? #(str/includes? % "start-stop-daemon") cmds)))))

(deftest start-after-membership-changes
  (let [start (fn [t member-file?]
                (recording (answers "find-pids" {:out ""}
                                    "member.json" {:exit (if member-file? 0 1)}
                                    "which node" {:out "/usr/bin/node"}
                                    "readlink -f" {:out "/usr/bin/node"})
                           #(db/start! (pdb/db) t "n2")))
        ssd   (fn [cmds] (first (filter #(str/includes? % "start-stop-daemon --start") cmds)))]
    (testing "member.json in the data dir: the node joined once, and starts from it alone"
      (let [[r cmds] (start (test-map) true)
            f        (flags cmds)]
        (is (= :started r))
        (is (str/includes? (ssd cmds) "paxos.js node --data-dir /var/lib/paxos-ts --log-file")
            (ssd cmds))
        (is (not (str/includes? (ssd cmds) "jepsen-config")) "never with the config")
        (is (nil? (get f "--self")))
        (is (nil? (get f "--cluster-token")))))
    (testing "brought back by the member nemesis, no member.json yet: joins again"
      (let [t        (test-map :member-states (atom {"n2" {:status :joined, :via "n3"}}))
            [r cmds] (start t false)
            f        (flags cmds)]
        (is (= :started r))
        (is (= "n3:5000" (get f "--join")))
        (is (= "n2:5000" (get f "--self")))
        (is (= "/var/lib/paxos-ts" (get f "--data-dir")))
        (is (not (str/includes? (ssd cmds) "jepsen-config")))))
    (testing "removed by the member nemesis: never started, above all not from the config"
      (let [t        (test-map :member-states (atom {"n2" {:status :removed}}))
            [r cmds] (start t false)]
        (is (= :removed r))
        (is (nil? (ssd cmds)))))
    (testing "wipe! deletes the data dir as root"
      (let [[_ cmds] (recording (constantly nil) #(pdb/wipe! (test-map) "n2"))]
        (is (some #(and (as-root? %) (str/includes? % "rm -rf /var/lib/paxos-ts")) cmds))))
    (testing "kill and pause leave removed nodes alone"
      (let [t (test-map :member-states (atom {"n1" {:status :removed}}))]
        (is (= ["n2" "n3"] (pdb/live-nodes t)))
        (is (= ["n1" "n2" "n3"] (pdb/live-nodes (test-map))))))))

(deftest tls-flags-and-certificates
  (let [dir (temp-dir)]
    (try
      (with-redefs [store/path (fn [& _] (io/file dir "certs"))]
        (let [t (test-map :tls true, :paxos-root (or (System/getenv "PAXOS_ROOT") ".."))
              [_ cmds] (recording (answers "find-pids" {:out ""} "member.json" {:exit 1}
                                           "which node" {:out "/usr/bin/node"}
                                           "readlink -f" {:out "/usr/bin/node"})
                                  #(pdb/start-node! t "n2"))
              f (flags cmds)]
          (is (= "jepsen-x" (get f "--cluster-token")))
          (is (= "/opt/paxos-ts/certs/node.crt" (get f "--peer-cert-file") (get f "--cert-file")))
          (is (= "/opt/paxos-ts/certs/node.key" (get f "--peer-key-file") (get f "--key-file")))
          (is (= "/opt/paxos-ts/certs/ca.crt" (get f "--peer-trusted-ca-file")
                 (get f "--trusted-ca-file")))
          (is (some #(str/includes? % "--client-cert-auth") cmds))
          (let [[_ cmds] (recording (answers "mktemp" {:out "/tmp/paxos-ts-certs.x"})
                                    #(pdb/install-certs! t "n3"))
                uploads (keep #(second (re-matches #"upload (\S+) (\S+)" %)) cmds)
                targets (keep #(nth (re-matches #"upload (\S+) (\S+)" %) 2 nil) cmds)]
            (is (= ["ca.crt" "node-2.crt" "node-2.key"] (map #(.getName (io/file %)) uploads))
                "node n3 gets line 2's certificate, and never the CA's key")
            (is (= ["ca.crt" "node.crt" "node.key"] (map #(.getName (io/file %)) targets))))))
      (finally
        (delete-tree! dir)))))

(deftest install-uses-the-bundled-node-modules
  (testing "a tarball with node_modules: no npm on the worker"
    (let [[_ cmds] (recording (constantly nil) #(pdb/install-package! (test-map)))]
      (is (some #(str/includes? % "tar -xzf") cmds))
      (is (not-any? #(re-find #"\bnpm\b" %) cmds) (pr-str cmds))))
  (testing "without node_modules: npm ci --omit=dev"
    (let [[_ cmds] (recording (answers "stat /opt/paxos-ts/node_modules" {:exit 1})
                              #(pdb/install-package! (test-map)))]
      (is (some #(and (as-root? %) (str/includes? % "npm ci --omit=dev")) cmds) (pr-str cmds)))))

;; Real processes: a local remote runs each command with bash on this
;; machine (sudo included, so as root only).

(defrecord LocalRemote []
  cc/Remote
  (connect [this _] this)
  (disconnect! [this] this)
  (execute! [this _ action]
    (let [{:keys [exit out err]} (sh/sh "bash" "-c" (:cmd action))]
      (assoc action :exit exit, :out out, :err err)))
  (upload! [this _ _ _ _] (throw (ex-info "no uploads here" {})))
  (download! [this _ _ _ _] (throw (ex-info "no downloads here" {}))))

(defn root? [] (= "0" (str/trim (:out (sh/sh "id" "-u")))))

(defn sudo? [] (zero? (:exit (sh/sh "sh" "-c" "command -v sudo"))))

(defn- proc-state
  "The state letter of pid in /proc, or nil once it is gone (or a zombie)."
  [pid]
  (let [s (str/trim (:out (sh/sh "ps" "-o" "stat=" "-p" (str pid))))]
    (when-not (or (str/blank? s) (str/starts-with? s "Z"))
      (subs s 0 1))))

(defn- fake-node!
  "Starts `node <dir>/bin/paxos.js node <dir>/jepsen-config --self i ...`,
  where that paxos.js only waits: a process whose command line is a node's."
  [dir i]
  (let [pb (ProcessBuilder. ^java.util.List
                            ["node" (str dir "/bin/paxos.js") "node" (str dir "/jepsen-config")
                             "--self" (str i) "--data-dir" (str dir "/data")])]
    (.start pb)))

(deftest real-processes-found-killed-paused
  (if-not (and (root?) (sudo?))
    (println "db-test: skipping the real-process test (needs root and sudo)")
    (let [dir   (temp-dir)
          _     (io/make-parents (io/file dir "bin" "paxos.js"))
          _     (spit (io/file dir "bin" "paxos.js") "setTimeout(() => {}, 600000);\n")
          t     (test-map :install-dir (str dir), :log-dir (str dir "/log"),
                          :nodes ["n1" "n2" "n3" "n4" "n5" "n6" "n7" "n8" "n9" "n10" "n11" "n12"])
          mine  (fake-node! dir 1)  ; n2's node
          other (fake-node! dir 11) ; n12's node: --self 11 must not pass for --self 1
          third (fake-node! dir 2)
          sleeper (.start (ProcessBuilder. ^java.util.List ["sleep" "600"]))]
      (try
        (Thread/sleep 500)
        (c/with-session "n2" (LocalRemote.)
          (binding [c/*sudo* nil]
            (is (= [(str (.pid mine))] (pdb/node-pids t "n2")))
            (is (= [(str (.pid other))] (pdb/node-pids t "n12")))
            (testing "pause and resume"
              (db/pause! (pdb/db) t "n2")
              (Thread/sleep 200)
              (is (= "T" (proc-state (.pid mine))))
              (is (not= "T" (proc-state (.pid other))))
              (db/resume! (pdb/db) t "n2")
              (Thread/sleep 200)
              (is (not= "T" (proc-state (.pid mine)))))
            (testing "kill, with a stale pidfile naming another live process"
              (io/make-parents (io/file dir "log" "paxos.pid"))
              (spit (io/file dir "log" "paxos.pid") (str (.pid sleeper) "\n"))
              (is (= [(str (.pid mine))] (db/kill! (pdb/db) t "n2")))
              (is (.waitFor mine 5 TimeUnit/SECONDS))
              (is (not (.isAlive mine)) "the node is dead")
              (is (.isAlive sleeper) "the process the stale pidfile named lives")
              (is (.isAlive other))
              (is (.isAlive third))
              (is (not (.exists (io/file dir "log" "paxos.pid"))))
              (is (= [] (pdb/node-pids t "n2"))))
            (testing "stop: SIGTERM ends a node that obeys it"
              (is (= [(str (.pid third))] (pdb/stop-node! t "n3")))
              (is (.waitFor third 5 TimeUnit/SECONDS))
              (is (.isAlive other)))))
        (finally
          (doseq [^Process p [mine other third sleeper]] (.destroyForcibly p))
          (delete-tree! dir))))))

(deftest real-joined-node-found-by-its-data-dir
  (if-not (and (root?) (sudo?))
    (println "db-test: skipping the joined-node process test (needs root and sudo)")
    (let [dir    (temp-dir)
          _      (io/make-parents (io/file dir "bin" "paxos.js"))
          _      (spit (io/file dir "bin" "paxos.js") "setTimeout(() => {}, 600000);\n")
          data   (str dir "/data")
          t      (test-map :install-dir (str dir), :log-dir (str dir "/log"), :data-dir data)
          start  (fn [args] (.start (ProcessBuilder. ^java.util.List
                                                     (into ["node" (str dir "/bin/paxos.js") "node"] args))))
          joined (start ["--data-dir" data "--log-file" (str dir "/log/paxos.log")])
          other  (start ["--data-dir" (str data "-other")])    ; not this worker's data dir
          config-node (fake-node! dir 0)]                      ; n1's node, from the config
      (try
        (Thread/sleep 500)
        (c/with-session "n2" (LocalRemote.)
          (binding [c/*sudo* nil]
            (is (= [(str (.pid joined))] (pdb/node-pids t "n2"))
                "a joined node (no config, no --self) is found by its data dir")
            (is (= [(str (.pid joined))] (db/kill! (pdb/db) t "n2")))
            (is (.waitFor joined 5 TimeUnit/SECONDS))
            (is (.isAlive other))
            (is (.isAlive config-node))))
        (finally
          (doseq [^Process p [joined other config-node]] (.destroyForcibly p))
          (delete-tree! dir))))))

(deftest first-boot-apt-jobs-are-awaited
  (let [[r cmds] (recording (answers "await-apt" {:out "idle"})
                            #(jepsen.paxos.os/await-apt! 600))]
    (is (= :idle r))
    (is (as-root? (first cmds)))
    (is (str/includes? (first cmds) "cloud-init status --wait")))
  (is (= :busy (first (recording (answers "await-apt" {:out "busy"})
                                 #(jepsen.paxos.os/await-apt! 1)))))
  (testing "the script itself, here (no cloud-init; apt idle unless someone runs it)"
    (when (and (root?) (sudo?))
      (let [[r] (c/with-session "n1" (LocalRemote.)
                  (binding [c/*sudo* nil] [(jepsen.paxos.os/await-apt! 5)]))]
        (is (#{:idle :busy} r))))))
