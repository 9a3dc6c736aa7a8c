// Flags for the `node` executable that runs a cluster node, used by every
// launcher this repository has (start-servers, the bench, the local Jepsen
// harness; the Clojure DB passes the same).
//
// --max-semi-space-size=4: V8's young generation grows to 16 MB per
// semi-space by default, and a busy node keeps it there (most of its
// allocations are per-request objects that die young). Capped at 4 MB, a
// node's RSS after 100,000 appends was about 20 MB lower (150-170 vs
// 170-190 MB on the dev VM) with no loss of throughput: scavenges run more
// often, but each only copies what survives.
export const NODE_PROCESS_FLAGS: readonly string[] = ["--max-semi-space-size=4"];
