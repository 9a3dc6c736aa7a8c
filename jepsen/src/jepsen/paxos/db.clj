(ns jepsen.paxos.db
  "Installs Node.js 20 and paxos-ts on a Debian worker, runs one node as a
  daemon, kills, pauses and restarts it, and wipes it between tests.

  Every path comes from the test map (command-line options): :package (the
  tarball built on the control node by bin/package.sh), :install-dir,
  :data-dir, :log-dir and :http-port. Every node of a run gets the run's
  :cluster-token. With :tls, the control node makes the run's certificates
  once (tls-files), each worker gets the CA's certificate and its own node
  certificate and key, and the node runs with mutual TLS between peers and
  HTTPS for clients, requiring client certificates.

  Membership (the member nemesis): a worker's node runs in one of three ways.
  A node of the bootstrap config (the default) starts from the config with
  --self <line>. A node the member nemesis removed is killed and wiped, and
  must never start from the config again: with an empty data directory it
  would come back as the old member id with no memory of its votes. A node
  the nemesis brought back joins with --join and gets a new id; once added
  it keeps that identity in <data-dir>/member.json and restarts from that
  alone. The test's :member-states atom (node -> {:status :removed|:joined,
  :via contact}) records the first two; the worker's member.json decides
  how a joined node starts."
  (:require [clojure.string :as str]
            [clojure.tools.logging :refer [info]]
            [jepsen [control :as c]
                    [db :as db]
                    [store :as store]]
            [jepsen.control.util :as cu]
            [jepsen.os.debian :as debian]
            [jepsen.paxos.certs :as certs]))

(def nodesource-key "https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key")
(def nodesource-keyring "/etc/apt/keyrings/nodesource.gpg")
(def nodesource-list "/etc/apt/sources.list.d/nodesource.list")
(def nodesource-line
  (str "deb [signed-by=" nodesource-keyring "] "
       "https://deb.nodesource.com/node_20.x nodistro main"))

(defn node-major
  "The major version of the installed node, or nil."
  []
  (try (let [v (c/exec :node :--version)]
         (some-> (re-find #"^v(\d+)\." v) second Long/parseLong))
       (catch Exception _ nil)))

(defn install-nodejs!
  "Installs Node.js 20 from NodeSource's Debian repository (Debian 12 ships
  18), unless node 20 or later is already there."
  []
  (let [major (node-major)]
    (when-not (and major (<= 20 major))
      (info "installing Node.js 20 from NodeSource")
      (c/su
        (debian/install [:ca-certificates :curl :gnupg])
        (c/exec :mkdir :-p "/etc/apt/keyrings")
        (c/exec :curl :-fsSL nodesource-key c/| :gpg :--dearmor :--yes
                :-o nodesource-keyring)
        (c/exec :echo nodesource-line :> nodesource-list)
        (c/exec :apt-get :update)
        (c/exec :env "DEBIAN_FRONTEND=noninteractive"
                :apt-get :install :-y :nodejs)))))

(defn- paths
  [test]
  (let [log-dir (:log-dir test)]
    {:install  (:install-dir test)
     :data     (:data-dir test)
     :log-dir  log-dir
     :log      (str log-dir "/paxos.log")   ; the node's JSON log (pino)
     :stdout   (str log-dir "/stdout.log")  ; its stdout and stderr
     :config   (str (:install-dir test) "/jepsen-config")
     :certs    (str (:install-dir test) "/certs") ; ca.crt, node.crt, node.key
     :pidfile  (str log-dir "/paxos.pid")
     :member-file (str (:data-dir test) "/member.json")}))

(defn- node-index
  "node's 0-based line in the config (the order of :nodes)."
  [test node]
  (.indexOf ^java.util.List (vec (:nodes test)) node))

(defn member-state
  "What the member nemesis did to node: nil (a node of the bootstrap config),
  {:status :removed} (removed, killed and wiped), or {:status :joined, :via
  contact} (started with --join through contact). A test map without
  :member-states (no member nemesis) has only bootstrap nodes."
  [test node]
  (some-> (:member-states test) deref (get node)))

(defn set-member-state!
  [test node state]
  (when-let [states (:member-states test)]
    (swap! states assoc node state)))

(defn removed?
  [test node]
  (= :removed (:status (member-state test node))))

(defn live-nodes
  "The nodes the member nemesis has not removed: the ones whose process may
  run, and that other nemeses may act on."
  [test]
  (vec (remove #(removed? test %) (:nodes test))))

(defn member-address
  "node's address as the cluster knows it: host:http-port (its gRPC and peer
  ports are http-port + 1000 and + 2000, as in the config)."
  [test node]
  (str node ":" (:http-port test)))

(defn config-lines
  "The cluster config, one line per Jepsen node in :nodes order:
  host:http-port. Each node serves gRPC clients on http-port + 1000 and its
  peers on http-port + 2000."
  [test]
  (map #(str % ":" (:http-port test)) (:nodes test)))

(def client-user
  "The Jepsen clients' certificate: client.jepsen.crt."
  "jepsen")

(defn- make-tls-files!
  "Makes the run's CA, node and client certificates in the test's store
  directory (certs/), then deletes the CA's key: nothing signs anything
  after that."
  [test]
  (let [dir (store/path test "certs")]
    (info "making this run's certificates in" (str dir) "with" (:paxos-root test))
    (certs/forget-ca-key!
      (certs/make! {:repo-root    (:paxos-root test)
                    :dir          dir
                    :config-lines (config-lines test)
                    :users        [client-user]}))))

(defn tls-files
  "With :tls, this run's certificates (as jepsen.paxos.certs/make! returns
  them), made on the control node by the first caller and the same for every
  later one: setup! runs on every node at once, and clients open later.
  :tls-files holds them (an atom, made by the test map). nil without :tls."
  [test]
  (when (:tls test)
    (let [holder (:tls-files test)]
      (locking holder
        (or @holder (reset! holder (make-tls-files! test)))))))

(defn client-tls
  "make-client options (jepsen.paxos.http) for the Jepsen clients: the run's
  CA and client.jepsen.crt with TLS, {} without."
  [test]
  (if-let [files (tls-files test)]
    (certs/client-tls files client-user)
    {}))

(defn install-package!
  "Uploads the paxos-ts tarball and unpacks it into the install dir. A
  tarball from bin/package.sh carries its production node_modules, so the
  worker needs no npm registry; a tarball without node_modules (e.g. from
  npm pack) gets its runtime dependencies from the registry with npm."
  [test]
  (let [{:keys [install]} (paths test)
        remote "/tmp/paxos-ts-jepsen.tgz"]
    (info "uploading" (:package test))
    (c/upload (:package test) remote)
    (c/su
      (c/exec :rm :-rf install)
      (c/exec :mkdir :-p install)
      ; npm pack and bin/package.sh both put everything under package/
      (c/exec :tar :-xzf remote :-C install :--strip-components=1)
      (c/exec :rm :-f remote)
      (c/cd install
        (cond
          (cu/exists? (str install "/node_modules"))
          (info "using the node_modules bundled in" (:package test))

          (cu/exists? (str install "/package-lock.json"))
          (c/exec :npm :ci :--omit=dev :--no-audit :--no-fund)

          :else
          (c/exec :npm :install :--omit=dev :--no-audit :--no-fund))))))

(defn write-config!
  "Writes config-lines to the worker's config file."
  [test]
  (let [{:keys [config]} (paths test)]
    (c/su
      (cu/write-file! (str (str/join "\n" (config-lines test)) "\n") config))))

(defn install-certs!
  "Uploads the CA's certificate and this node's certificate and key (never
  the CA's key) into the certs dir, which only root can read. scp runs as the
  SSH user, so the files go through a private temporary directory."
  [test node]
  (let [{:keys [certs]} (paths test)
        files (tls-files test)
        {:keys [cert-file key-file]} (nth (:nodes files) (node-index test node))
        tmp   (c/exec :mktemp :-d "/tmp/paxos-ts-certs.XXXXXX")]
    (c/upload (:ca-file files) (str tmp "/ca.crt"))
    (c/upload cert-file (str tmp "/node.crt"))
    (c/upload key-file (str tmp "/node.key"))
    (c/su
      (c/exec :rm :-rf certs)
      (c/exec :mkdir :-p :-m "0700" certs)
      (c/exec :install :-m "0644" (str tmp "/ca.crt") (str tmp "/node.crt") certs)
      (c/exec :install :-m "0600" (str tmp "/node.key") certs)
      (c/exec :rm :-rf tmp))))

(defn tls-args
  "The node's TLS flags (jepsen.paxos.certs/node-flags) for the files
  install-certs! put in certs-dir."
  [certs-dir]
  (certs/node-flags {:ca-file   (str certs-dir "/ca.crt")
                     :cert-file (str certs-dir "/node.crt")
                     :key-file  (str certs-dir "/node.key")}))

(defn- regex-quote
  "s as a POSIX extended regular expression that matches s literally."
  [s]
  (str/replace s #"[.\[\]{}()*+?^$|\\]" #(str "\\" %)))

(defn node-command-pattern
  "A regular expression (pgrep -f) for the command line of this worker's
  node, as start-node! starts it: node <install>/bin/paxos.js node <config>
  --self <index> ... for a node of the config, node <install>/bin/paxos.js
  node --data-dir <data> ... for one that joined (or is joining). A worker
  runs one node, so its data dir names it."
  [test node]
  (let [{:keys [install config data]} (paths test)]
    (str "^[^ ]*node " (regex-quote (str install "/bin/paxos.js"))
         " node (" (regex-quote config) " --self " (node-index test node)
         "|--data-dir " (regex-quote data) ")( |$)")))

(def ^:private find-pids-sh
  "Prints the pids of the processes whose command line matches the regular
  expression $1 and that share this shell's mount namespace (on EC2, every
  process; workers made of namespaces on one host share one pid space, and
  this keeps each worker to its own node)."
  (str "me=$(readlink /proc/self/ns/mnt); "
       "for p in $(pgrep -f -- \"$1\"); do "
       "[ \"$(readlink /proc/$p/ns/mnt 2>/dev/null)\" = \"$me\" ] && echo $p; "
       "done; true"))

(def ^:private await-exit-sh
  "Waits up to $1 seconds until none of the pids $2... is alive (a zombie
  counts as dead); prints gone or alive."
  (str "t=$1; shift; list=$(IFS=,; echo \"$*\"); "
       "for i in $(seq $((t * 10))); do "
       "ps -o stat= -p \"$list\" | grep -qv '^Z' || { echo gone; exit 0; }; sleep 0.1; "
       "done; echo alive"))

(defn node-pids
  "The pids of this worker's node processes, found by what they are (their
  command line: node running this install's paxos.js with this worker's
  --self), not by the pidfile, which may be stale or missing. Runs as root:
  only root sees every process's namespace."
  [test node]
  (c/su
    (->> (c/exec :bash :-c find-pids-sh "find-pids" (node-command-pattern test node))
         str/split-lines
         (remove str/blank?)
         vec)))

(defn- signal-pids!
  "Sends sig (TERM, KILL, STOP, CONT) to pids as root. A process that is
  already gone is not an error."
  [sig pids]
  (when (seq pids)
    (c/su (c/exec :kill (str "-" sig) pids (c/lit "2>/dev/null") (c/lit "|| true")))))

(defn- await-exit!
  "True once none of pids is alive, false if some still is after timeout-s
  seconds."
  [pids timeout-s]
  (or (empty? pids)
      (= "gone" (c/exec :bash :-c await-exit-sh "await-exit" timeout-s pids))))

(defn start-mode
  "How node starts now: :removed (it must not start: the member nemesis
  removed it), :joined (its data dir holds member.json: it starts from that,
  without the config), :join (the nemesis brought it back and it has no
  member.json yet: it joins again, through the same member; a join that was
  already added just finds itself and writes member.json), or :bootstrap
  (from the config)."
  [test node]
  (let [{:keys [status]} (member-state test node)]
    (cond (= :removed status)                             :removed
          (c/su (cu/exists? (:member-file (paths test)))) :joined
          (= :joined status)                              :join
          :else                                           :bootstrap)))

(defn start-node!
  "Starts this worker's node under start-stop-daemon with a pidfile, as
  start-mode says: from the config with the run's cluster token, or from
  its member file, or joining through the member it was brought back by;
  with :tls, with the TLS flags. Returns :started, :removed (nothing
  started: the member nemesis removed this node), or :already-running when
  the node's process is there (found by node-pids; a pidfile left by a dead
  process is removed first, so a reused pid cannot pass for the node)."
  [test node]
  (let [{:keys [install data log-dir log stdout config certs pidfile]} (paths test)
        mode (start-mode test node)]
    (c/su
      (cond
        (= :removed mode) :removed
        (seq (node-pids test node)) :already-running
        :else
        (do
          (c/exec :rm :-f pidfile)
          (c/exec :mkdir :-p data log-dir)
          (let [node-bin (c/exec :readlink :-f (c/exec :which :node))]
            (cu/start-daemon!
              {:logfile stdout
               :pidfile pidfile
               :chdir   install
               :exec    node-bin}
              node-bin
              (str install "/bin/paxos.js") :node
              (case mode
                ; --data-dir first: node-command-pattern finds a joined node by it.
                :joined    [:--data-dir data]
                :join      [:--data-dir data
                            :--join (member-address test (:via (member-state test node)))
                            :--self (member-address test node)]
                :bootstrap [config
                            :--self (str (node-index test node))
                            :--data-dir data
                            :--cluster-token (:cluster-token test)])
              :--log-file log
              (when (:tls test) (tls-args certs)))))))))

(defn kill-node!
  "SIGKILL to this worker's node processes (as root: a node runs as root,
  and the SSH user may not signal it), then waits until they are gone.
  Returns the pids killed; throws if one survives."
  [test node]
  (c/su
    (let [pids (node-pids test node)]
      (signal-pids! "KILL" pids)
      (when-not (await-exit! pids 10)
        (throw (ex-info (str "node process still alive after SIGKILL: " pids)
                        {:node node, :pids pids})))
      (c/exec :rm :-f (:pidfile (paths test)))
      pids)))

(defn stop-node!
  "Stops this worker's node processes, found by node-pids: SIGTERM (a clean
  stop), then SIGKILL after 10 s. Returns their pids."
  [test node]
  (c/su
    (let [pids (node-pids test node)]
      (signal-pids! "TERM" pids)
      (when-not (await-exit! pids 10)
        (info node "node still running 10 s after SIGTERM, sending SIGKILL")
        (signal-pids! "KILL" pids)
        (when-not (await-exit! pids 5)
          (throw (ex-info (str "node process still alive after SIGKILL: " pids)
                          {:node node, :pids pids}))))
      (c/exec :rm :-f (:pidfile (paths test)))
      pids)))

(defn wipe!
  "Deletes this worker's data dir (its log, snapshot, cluster id and member
  file): what the member nemesis does to a node it removed, whose id the
  cluster will never take back."
  [test node]
  (c/su (c/exec :rm :-rf (:data (paths test)))))

(defn start-joining!
  "Starts node (killed and wiped) as a new node that joins the cluster
  through the member via (paxos node --join), and waits until it serves
  GET /status (it serves nothing else until it is added). From now on it
  never starts from the config."
  [test node via]
  (set-member-state! test node {:status :joined, :via via})
  (let [r (start-node! test node)]
    (cu/await-tcp-port (:http-port test) {:timeout 30000})
    r))

(defrecord DB []
  db/DB
  (setup! [this test node]
    (tls-files test) ; with --tls, fails here at once if no certificates can be made
    (set-member-state! test node nil) ; every node starts from the config
    (install-nodejs!)
    (c/su (debian/install [:netcat-openbsd]))
    (install-package! test)
    (write-config! test)
    (when (:tls test) (install-certs! test node))
    (start-node! test node)
    (cu/await-tcp-port (:http-port test) {:timeout 60000})
    ; Let the cluster elect a leader before the clients start.
    (Thread/sleep 5000))

  (teardown! [this test node]
    (info node "tearing down paxos-ts")
    (stop-node! test node)
    (let [{:keys [data log stdout certs]} (paths test)]
      (c/su (c/exec :rm :-rf data log stdout certs))))

  db/LogFiles
  (log-files [this test node]
    (let [{:keys [log stdout]} (paths test)]
      {log    "paxos.log"
       stdout "stdout.log"}))

  db/Kill
  (kill! [this test node]
    ; SIGKILL: the durable log makes this safe.
    (kill-node! test node))

  (start! [this test node]
    (start-node! test node))

  db/Pause
  (pause! [this test node]
    (let [pids (node-pids test node)]
      (signal-pids! "STOP" pids)
      pids))

  (resume! [this test node]
    (let [pids (node-pids test node)]
      (signal-pids! "CONT" pids)
      pids)))

(defn db [] (DB.))
