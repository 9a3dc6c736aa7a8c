(ns jepsen.checker.timeline)
(defn html [] nil)
