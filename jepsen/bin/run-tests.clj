;; Runs the clojure.test suites named on the command line; prints
;; "TESTS <passed assertions> <failed+errored assertions>".
(require 'clojure.test)
(let [nss (map symbol *command-line-args*)]
  (apply require nss)
  (let [{:keys [pass fail error]} (apply clojure.test/run-tests nss)]
    (println "TESTS" pass (+ fail error))
    (shutdown-agents)
    (System/exit (if (zero? (+ fail error)) 0 1))))
