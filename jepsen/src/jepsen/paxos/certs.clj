(ns jepsen.paxos.certs
  "Certificates for one cluster, made with the project's own `paxos certs`
  (node bin/paxos.js certs ..., from a checkout with node_modules and dist/)
  on the control node: a fresh CA, one node certificate per config line
  naming that line's host, and client certificates. Needs only Clojure and
  node (no Jepsen), so the HTTP tests use it too.

  Files in dir: ca.crt (and ca.key until forget-ca-key!), node-<i>.crt and
  node-<i>.key for config line i (0-based), client.<user>.crt and
  client.<user>.key, and the config they were made from. Keys are PKCS#8 PEM
  (ECDSA P-256), mode 0600."
  (:require [clojure.java.io :as io]
            [clojure.java.shell :as sh]
            [clojure.string :as str]))

(defn paxos!
  "Runs `node <repo-root>/bin/paxos.js args...`; returns its stdout, or throws
  with its output when it fails."
  [repo-root & args]
  (let [script (.getCanonicalPath (io/file repo-root "bin" "paxos.js"))
        cmd    (into ["node" script] (map str args))
        {:keys [exit out err]} (apply sh/sh cmd)]
    (when-not (zero? exit)
      (throw (ex-info (str "paxos certs failed (exit " exit "): " (str/trim (str err out)))
                      {:cmd cmd, :exit exit, :out out, :err err})))
    out))

(defn node-files
  "The certificate and key of config line i."
  [dir i]
  {:cert-file (str (io/file dir (str "node-" i ".crt")))
   :key-file  (str (io/file dir (str "node-" i ".key")))})

(defn client-tls
  "make-client options (jepsen.paxos.http) for user's certificate in certs
  (as make! returns it)."
  [certs user]
  {:ca-file   (:ca-file certs)
   :cert-file (str (io/file (:dir certs) (str "client." user ".crt")))
   :key-file  (str (io/file (:dir certs) (str "client." user ".key")))})

(defn make!
  "Makes a new CA in dir (created if missing; files there are replaced), a
  node certificate for each of config-lines (host, host:http, ...: the
  cluster config, in order) and a client certificate for each of users.
  Returns {:dir, :ca-file, :nodes [{:cert-file :key-file} ...]}."
  [{:keys [repo-root dir config-lines users]}]
  (let [dir    (.getCanonicalFile (io/file dir))
        config (io/file dir "config")
        d      (str dir)]
    (.mkdirs dir)
    (spit config (str (str/join "\n" config-lines) "\n"))
    (paxos! repo-root "certs" "create-ca" "--certs-dir" d "--overwrite")
    (paxos! repo-root "certs" "create-node" "--certs-dir" d "--overwrite"
            "--config" (str config))
    (doseq [u users]
      (paxos! repo-root "certs" "create-client" "--certs-dir" d "--overwrite" u))
    {:dir     d
     :ca-file (str (io/file dir "ca.crt"))
     :nodes   (mapv #(node-files d %) (range (count config-lines)))}))

(defn node-flags
  "`paxos node` flags for a node with this certificate, key and CA: mutual
  TLS with its peers, HTTPS (and TLS gRPC) for clients, who must present a
  certificate signed by the CA."
  [{:keys [ca-file cert-file key-file]}]
  ["--peer-cert-file" cert-file "--peer-key-file" key-file
   "--peer-trusted-ca-file" ca-file "--peer-client-cert-auth"
   "--cert-file" cert-file "--key-file" key-file
   "--trusted-ca-file" ca-file "--client-cert-auth"])

(defn forget-ca-key!
  "Deletes dir's ca.key: no certificate can be signed for this CA any more
  (once the run's certificates exist, nothing needs it)."
  [certs]
  (io/delete-file (io/file (:dir certs) "ca.key") true)
  certs)
