(ns jepsen.os.debian)
(def os nil)
(defn install [pkgs] pkgs)
