(ns jepsen.cli (:refer-clojure :exclude [run!]))
(defn one-of [coll] (str coll))
(def test-opt-spec [[nil "--concurrency NUMBER" "" :default "1n"]
                    [nil "--time-limit SECONDS" "" :default 60 :parse-fn identity]])
(defn single-test-cmd [opts]
  {"test" {:opt-spec (into test-opt-spec (:opt-spec opts)) :run (:test-fn opts)}})
(defn serve-cmd [] {"serve" {}})
(defn run! [subcommands args] [subcommands args])
