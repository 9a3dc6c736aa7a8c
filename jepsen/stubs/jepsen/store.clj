(ns jepsen.store (:require [clojure.java.io :as io]))
(defn path ([test] (io/file "store" (:name test) (str (:start-time test))))
  ([test & args] (apply io/file (path test) (map str (flatten args)))))
