(ns jepsen.paxos.os
  "Jepsen's Debian OS setup, made safe on freshly booted EC2 instances: on
  first boot cloud-init and unattended-upgrades run apt, and Jepsen's own
  apt-get then fails on the dpkg lock. So each worker first waits for
  cloud-init to finish and for apt and dpkg to be idle (up to
  apt-wait-seconds), then Jepsen's Debian setup runs as usual."
  (:require [clojure.tools.logging :refer [info]]
            [jepsen [control :as c]
                    [os :as os]]
            [jepsen.os.debian :as debian]))

(def apt-wait-seconds
  "How long a worker waits for first boot's package jobs."
  600)

(def ^:private await-apt-sh
  "Waits for cloud-init (when installed) and then until no apt, apt-get,
  dpkg or unattended-upgrades process runs, for up to $1 seconds; prints
  idle or busy."
  (str "t=$1; end=$(( $(date +%s) + t )); "
       "if command -v cloud-init >/dev/null 2>&1; then "
       "timeout \"$t\" cloud-init status --wait >/dev/null 2>&1; fi; "
       "while [ \"$(date +%s)\" -lt \"$end\" ]; do "
       "pgrep -x 'apt|apt-get|dpkg|unattended-upgr' >/dev/null || { echo idle; exit 0; }; "
       "sleep 2; done; echo busy"))

(defn await-apt!
  "Waits until first boot's package jobs are done on this worker; returns
  :idle, or :busy if they still run after timeout-s seconds (Jepsen's apt-get
  may then fail on the lock)."
  [timeout-s]
  (let [r (c/su (c/exec :bash :-c await-apt-sh "await-apt" timeout-s))]
    (if (= "idle" r)
      :idle
      (do (info "apt or dpkg still busy after" timeout-s "s; going on")
          :busy))))

(def os
  "debian/os, after await-apt!."
  (reify os/OS
    (setup! [_ test node]
      (await-apt! apt-wait-seconds)
      (os/setup! debian/os test node))

    (teardown! [_ test node]
      (os/teardown! debian/os test node))))
