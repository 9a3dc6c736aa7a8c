(ns jepsen.paxos.db
  "Installs Node.js 20 and paxos-ts on a Debian worker, runs one node as a
  daemon, kills, pauses and restarts it, and wipes it between tests.

  Every path comes from the test map (command-line options): :package (the
  tarball built on the control node by bin/package.sh), :install-dir,
  :data-dir, :log-dir and :http-port."
  (:require [clojure.string :as str]
            [clojure.tools.logging :refer [info]]
            [jepsen [control :as c]
                    [db :as db]]
            [jepsen.control.util :as cu]
            [jepsen.os.debian :as debian]))

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
     :pidfile  (str log-dir "/paxos.pid")}))

(defn install-package!
  "Uploads the paxos-ts tarball, unpacks it into the install dir and installs
  its runtime dependencies from the npm registry."
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
      (c/cd install
        (if (cu/exists? (str install "/package-lock.json"))
          (c/exec :npm :ci :--omit=dev :--no-audit :--no-fund)
          (c/exec :npm :install :--omit=dev :--no-audit :--no-fund))))))

(defn write-config!
  "One line per Jepsen node: host:http-port (gRPC on http-port + 1000)."
  [test]
  (let [{:keys [config]} (paths test)]
    (c/su
      (cu/write-file! (str (str/join "\n" (map #(str % ":" (:http-port test))
                                               (:nodes test)))
                           "\n")
                      config))))

(defn start-node!
  "Starts this worker's node under start-stop-daemon with a pidfile."
  [test node]
  (let [{:keys [install data log-dir log stdout config pidfile]} (paths test)
        self (str (.indexOf ^java.util.List (vec (:nodes test)) node))]
    (c/su
      (c/exec :mkdir :-p data log-dir)
      (let [node-bin (c/exec :readlink :-f (c/exec :which :node))]
        (cu/start-daemon!
          {:logfile stdout
           :pidfile pidfile
           :chdir   install
           :exec    node-bin}
          node-bin
          (str install "/bin/paxos.js") :node config
          :--self self
          :--data-dir data
          :--log-file log)))))

(defn stop-node!
  "SIGTERM (a clean stop), then SIGKILL after 10 s."
  [test]
  (let [{:keys [pidfile]} (paths test)]
    (c/su
      (c/exec :start-stop-daemon :--stop :--oknodo :--pidfile pidfile
              :--retry "TERM/10/KILL/5")
      (c/exec :rm :-f pidfile))))

(defn- signal!
  [test sig]
  (let [{:keys [pidfile]} (paths test)]
    (c/su
      (when (cu/exists? pidfile)
        (c/exec :kill (str "-" sig) (c/exec :cat pidfile))))))

(defrecord DB []
  db/DB
  (setup! [this test node]
    (install-nodejs!)
    (c/su (debian/install [:netcat-openbsd]))
    (install-package! test)
    (write-config! test)
    (start-node! test node)
    (cu/await-tcp-port (:http-port test) {:timeout 60000})
    ; Let the cluster elect a leader before the clients start.
    (Thread/sleep 5000))

  (teardown! [this test node]
    (info node "tearing down paxos-ts")
    (stop-node! test)
    (let [{:keys [data log stdout]} (paths test)]
      (c/su (c/exec :rm :-rf data log stdout))))

  db/LogFiles
  (log-files [this test node]
    (let [{:keys [log stdout]} (paths test)]
      {log    "paxos.log"
       stdout "stdout.log"}))

  db/Kill
  (kill! [this test node]
    ; SIGKILL: the durable log makes this safe.
    (cu/stop-daemon! (:pidfile (paths test))))

  (start! [this test node]
    (start-node! test node))

  db/Pause
  (pause! [this test node] (signal! test "STOP"))
  (resume! [this test node] (signal! test "CONT")))

(defn db [] (DB.))
