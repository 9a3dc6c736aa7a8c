(ns jepsen.tests)
(def noop-test {})
