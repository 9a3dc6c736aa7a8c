;; Loads (compiles) every namespace under the directories given on the
;; command line (src and test), on the real Jepsen 0.3.5 classpath of
;; ../shared/jepsen-offline: unresolved names, wrong arities of macros and
;; malformed forms fail here, as they would under `lein run`. One line per
;; namespace, then "COMPILE <loaded> <failed>".
(require '[clojure.java.io :as io]
         '[clojure.string :as str])

(defn file->ns
  "The namespace symbol of a .clj file under root (my_ns.clj -> my-ns)."
  [root ^java.io.File f]
  (let [rel (str (.relativize (.toPath (io/file root)) (.toPath f)))]
    (-> rel
        (str/replace #"\.clj$" "")
        (str/replace "/" ".")
        (str/replace "_" "-")
        symbol)))

(let [roots   *command-line-args*
      nss     (for [root roots
                    ^java.io.File f (file-seq (io/file root))
                    :when (.endsWith (.getName f) ".clj")]
                (file->ns root f))
      results (doall
                (for [n (sort nss)]
                  (try (require n)
                       (println "loaded" n)
                       true
                       (catch Throwable t
                         (println "COMPILE FAILED" n ":" (.getMessage t))
                         (when-let [c (.getCause t)] (println "  cause:" (.getMessage c)))
                         false))))
      ok      (count (filter true? results))]
  (println "COMPILE" ok (- (count results) ok))
  (shutdown-agents)
  (System/exit (if (and (pos? ok) (= ok (count results))) 0 1)))
