(ns jepsen.paxos.model-core-test
  (:require [clojure.test :refer [deftest is testing]]
            [jepsen.paxos.model-core :as mc]
            [jepsen.paxos.test-support :refer [linearizable? ok-append
                                               info-append ok-read]]))

(def lax    mc/append-list-step)
(def strict mc/strict-list-step)

(defn ok  [v s] {:f :append, :value {:appended-value v, :new-state s}})
(defn rd  [r]   {:f :read, :value r})

(defn accepts? [step ops] (not (mc/inconsistent? (mc/run-sequential step ops))))

(deftest sequential-good-histories
  (doseq [step [lax strict]]
    (is (= [1 2 3] (mc/run-sequential step [(ok 1 [1]) (ok 2 [1 2]) (ok 3 [1 2 3])])))
    (is (= [1 2] (mc/run-sequential step [(ok 1 [1]) (rd [1]) (ok 2 [1 2]) (rd [1 2]) (rd nil)])))
    (testing "an indeterminate append that happened"
      (is (= [7 8] (mc/run-sequential step [{:f :append, :value 7} (ok 8 [7 8])]))))
    (is (= [] (mc/run-sequential step [])))
    (is (= [1] (mc/run-sequential step [(ok 1 [1]) {:f :start, :value nil}])))))

(deftest stale-reply-rejected
  (doseq [step [lax strict]]
    (testing "a reply missing an acknowledged append"
      (let [r (mc/run-sequential step [(ok 1 [1]) (ok 2 [1 2]) (ok 3 [1 3])])]
        (is (mc/inconsistent? r))
        (is (= 2 (:index r)))))
    (testing "a stale read"
      (is (not (accepts? step [(ok 1 [1]) (ok 2 [1 2]) (rd [1])]))))
    (testing "a reply shorter than the state"
      (is (not (accepts? step [(ok 1 [1]) (ok 2 [1 2]) (ok 3 [3])]))))))

(deftest lost-append-rejected
  (doseq [step [lax strict]]
    (is (not (accepts? step [(ok 1 [1]) (ok 2 [2])])))
    (is (not (accepts? step [(ok 1 [1]) (ok 2 [1 2]) (rd [2])])))
    (testing "a reply that does not contain the appended value"
      (is (not (accepts? step [(ok 1 [1]) (ok 2 [1 5])]))))))

(deftest duplicate-rejected
  (testing "the strict model rejects a duplicated element"
    (is (not (accepts? strict [(ok 1 [1]) (ok 2 [1 1 2])])))
    (is (not (accepts? strict [(ok 1 [1 1])])))
    (is (not (accepts? strict [(ok 1 [1]) (ok 2 [1 2]) (rd [1 2 2])]))))
  (testing "the contract's lax model lets it through (why strict is the default)"
    (is (accepts? lax [(ok 1 [1]) (ok 2 [1 1 2])])))
  (testing "the duplicates checker flags it whatever the model"
    (let [ops [(ok 1 [1]) (ok 2 [1 1 2]) (rd [1 2]) (rd [1 2 2])]
          ds  (mc/observed-duplicates ops)]
      (is (= [#{1} #{2}] (map :duplicates ds)))
      (is (= [] (mc/observed-duplicates [(ok 1 [1]) (rd [1]) (rd nil)]))))))

(deftest strict-is-stricter
  (testing "a reply with elements after the appended value"
    (is (accepts? lax [(ok 1 [1 2])]))
    (is (not (accepts? strict [(ok 1 [1 2])])))))

;; Concurrent histories, checked by brute force over all linearizations.

(deftest concurrent-good-histories
  (doseq [step [lax strict]]
    (testing "overlapping appends that took effect in the other order"
      (is (linearizable? step [(ok-append 0 3 1 [2 1])
                               (ok-append 1 2 2 [2])])))
    (testing "an indeterminate append that happened before a later one"
      (is (linearizable? step [(info-append 0 1)
                               (ok-append 1 2 2 [1 2])])))
    (testing "an indeterminate append that never happened"
      (is (linearizable? step [(info-append 0 1)
                               (ok-append 1 2 2 [2])
                               (ok-read 3 4 [2])])))
    (testing "an indeterminate append that happened late, seen by a read"
      (is (linearizable? step [(info-append 0 1)
                               (ok-append 1 2 2 [2])
                               (ok-read 3 4 [2 1])])))
    (testing "a read concurrent with an append sees it or not"
      (is (linearizable? step [(ok-append 0 3 1 [1]) (ok-read 1 2 [])]))
      (is (linearizable? step [(ok-append 0 3 1 [1]) (ok-read 1 2 [1])])))))

(deftest concurrent-bad-histories
  (doseq [step [lax strict]]
    (testing "real time: an append acknowledged before another began is lost"
      (is (not (linearizable? step [(ok-append 0 1 1 [1])
                                    (ok-append 2 3 2 [2])]))))
    (testing "stale read after an acknowledged append"
      (is (not (linearizable? step [(ok-append 0 1 1 [1])
                                    (ok-read 2 3 [])]))))
    (testing "two reads disagree on order"
      (is (not (linearizable? step [(ok-append 0 10 1 [1 2])
                                    (info-append 0 2)
                                    (ok-read 11 12 [1 2])
                                    (ok-read 13 14 [2 1])]))))
    (testing "an append that never happened cannot be read"
      (is (not (linearizable? step [(ok-append 0 1 1 [1])
                                    (ok-read 2 3 [1 9])])))))
  (testing "replies that disagree on the order of two overlapping appends"
    (let [h [(ok-append 0 3 1 [2 1]) (ok-append 1 4 2 [1 2])]]
      (is (not (linearizable? strict h)))
      (is (linearizable? lax h) "the contract's model misses this one"))))
