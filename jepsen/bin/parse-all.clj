;; Reads every form of every .clj file given on the command line (or found
;; under the current directory). Prints one line per failure and a final
;; "PARSE <ok> <failed>" line.
(require '[clojure.java.io :as io])
(import '(clojure.lang LineNumberingPushbackReader))

(defn read-all [f]
  (with-open [r (LineNumberingPushbackReader. (io/reader f))]
    (binding [*ns* (create-ns 'parse-check)]
      (loop [n 0]
        (let [form (read {:eof ::eof, :read-cond :allow} r)]
          (if (= ::eof form) n (recur (inc n))))))))

(let [files (->> (or (seq *command-line-args*) ["."])
                 (mapcat #(file-seq (io/file %)))
                 (filter #(.endsWith (.getName ^java.io.File %) ".clj"))
                 (sort-by str))
      results (for [f files]
                (try (read-all f) (println "parsed" (str f)) true
                     (catch Throwable t
                       (println "PARSE FAILED" (str f) ":" (.getMessage t)) false)))
      ok (count (filter true? results))]
  (println "PARSE" ok (- (count files) ok))
  (shutdown-agents)
  (System/exit (if (= ok (count files)) 0 1)))
