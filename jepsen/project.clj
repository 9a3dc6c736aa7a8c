(defproject jepsen.paxos "0.1.0-SNAPSHOT"
  :description "Jepsen test for paxos-ts, a Multi-Paxos replicated list of integers"
  :license {:name "Eclipse Public License"
            :url  "http://www.eclipse.org/legal/epl-v10.html"}
  :main jepsen.paxos.core
  ; Jepsen 0.3.5 brings Knossos (0.3.x), tools.cli, tools.logging.
  :dependencies [[org.clojure/clojure "1.11.1"]
                 [jepsen "0.3.5"]
                 [org.clojure/data.json "2.4.0"]]
  :jvm-opts ["-Xmx8g" "-Djava.awt.headless=true" "-server"]
  :test-paths ["test"])
