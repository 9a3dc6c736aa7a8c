// The `paxos` command line: one executable, one subcommand per job.

import { Command, InvalidArgumentError } from "commander";
import { ConfigError, DEFAULT_HTTP_PORT } from "../config/cluster-config.js";
import { DEFAULT_CLUSTER_TOKEN } from "../storage/cluster-identity.js";
import { ClusterMismatchError } from "../storage/cluster-identity.js";
import { NodeStartError } from "../node/cluster-node.js";
import { CorruptLogError } from "../storage/record-file.js";
import { parseModelOption, runCheck } from "./check-command.js";
import { configureBenchCommand } from "./bench-command.js";
import { configureCertsCommand } from "./certs-command.js";
import { runClient, UsageError, type ClientOptions } from "./client-command.js";
import { runJepsen, type JepsenCommandOptions } from "./jepsen-command.js";
import { configureMembersCommand } from "./members-command.js";
import { runNode } from "./node-command.js";
import { runSim, type SimCommandOptions } from "./sim-command.js";
import { startServers, type StartServersOptions } from "./start-servers.js";

function intOption(what: string, min: number, max: number) {
  return (text: string): number => {
    if (!/^\d+$/.test(text)) throw new InvalidArgumentError(`${what} must be a whole number`);
    const n = Number(text);
    if (n < min || n > max) throw new InvalidArgumentError(`${what} must be in [${min}, ${max}]`);
    return n;
  };
}

const port = intOption("port", 1, 65535);

export function buildProgram(entryScript: string): Command {
  const program = new Command("paxos")
    .description("A Multi-Paxos replicated list of integers, tested the Jepsen way.")
    .showHelpAfterError()
    .exitOverride();

  program
    .command("start-servers")
    .description("Start one node process per line of CONFIG on this machine and wait for them (Ctrl-C stops all).")
    .argument("<config>", "cluster config: one host[:port[:grpcPort]] per line")
    .option("--port <port>", "HTTP port for config lines without one", port, DEFAULT_HTTP_PORT)
    .option("--data-dir <dir>", "parent of the nodes' data directories (node-0, node-1, ...)", "data")
    .option("--log-level <level>", "trace, debug, info, warn or error", "info")
    .option("--insecure-peers", "plaintext peer ports (by default peers use mutual TLS with certificates made in DIR/certs)", false)
    .option("--tls", "also serve clients over TLS and require client certificates (HTTPS, TLS on the gRPC port)", false)
    .option("--certs-dir <dir>", "use ca.crt, node.crt and node.key from here instead of making development certificates")
    .option("--cluster-token <token>", "names the cluster at bootstrap (see `paxos node --help`)")
    .action(async (config: string, o: StartServersOptions) => {
      process.exitCode = await startServers(config, entryScript, o);
    });

  program
    .command("node")
    .description(
      "Run one node of the cluster in this process (for EC2, Jepsen and start-servers). A node of the bootstrap config: " +
        "`paxos node CONFIG --self N`. A new node of a running cluster: `paxos node --join MEMBER --self HOST:PORT --data-dir DIR`, " +
        "then `paxos members add HOST:PORT --server MEMBER`; restart it with `paxos node --data-dir DIR`.",
    )
    .argument("[config]", "cluster config that bootstrapped the cluster: one host[:port[:grpcPort[:peerPort]]] per line")
    .option("--self <node>", "with a config: which line is this node (0-based index, host, or host:port); with --join: this node's host:port[:grpcPort[:peerPort]]")
    .option("--join <member>", "join a running cluster through this member (host:port[:grpcPort[:peerPort]]) instead of reading a config")
    .option("--port <port>", "HTTP port for config lines without one", port, DEFAULT_HTTP_PORT)
    .option("--data-dir <dir>", "where this node keeps its durable log (default data/node-<id>)")
    .option("--log-file <file>", "write JSON logs here instead of stdout")
    .option("--log-level <level>", "trace, debug, info, warn or error", "info")
    .option("--request-timeout-ms <ms>", "longest a client request waits before a 503", intOption("timeout", 100, 600_000), 10_000)
    .option("--tick-ms <ms>", "protocol tick (heartbeat every 5 ticks, elections after 30-60)", intOption("tick", 1, 1000), 10)
    .option("--snapshot-every <slots>", "fold the applied log into a snapshot every this many slots", intOption("snapshot interval", 1, 100_000_000), 10_000)
    .option("--cluster-token <token>", "names the cluster at bootstrap, with its members; give each cluster its own", DEFAULT_CLUSTER_TOKEN)
    .option("--peer-cert-file <file>", "this node's certificate for the peer port (mutual TLS between nodes; must name its config host)")
    .option("--peer-key-file <file>", "the key of --peer-cert-file")
    .option("--peer-trusted-ca-file <file>", "the cluster CA: peers must present a certificate it signed")
    .option("--peer-client-cert-auth", "accepted for etcd-style command lines: with peer TLS, peers always need a certificate")
    .option("--cert-file <file>", "serve clients over TLS (HTTPS gateway, TLS on the gRPC client port) with this certificate")
    .option("--key-file <file>", "the key of --cert-file")
    .option("--trusted-ca-file <file>", "the CA that signs client certificates (with --client-cert-auth)")
    .option("--client-cert-auth", "require clients to present a certificate signed by --trusted-ca-file")
    .option("--no-warm-up", "serve at once, without first running a scratch cluster in-process to warm up V8 (src/node/warm-up.ts)")
    .option("--trace-steps <file>", "record when each request reaches each step (gateway, messages, fdatasync), written to FILE on stop (for paxos bench --breakdown)")
    .option("--ui-annotations <file>", "for test harnesses: a JSON file (e.g. the nemesis's current fault) that the live page (GET /ui) shows; rewritten by the harness")
    .action(runNode);

  program
    .command("client")
    .description("Append PAYLOAD through one node and print the new list, e.g. [1, 2, 3]. Exit 1 when no reply comes.")
    .argument("<config>", "cluster config: one host[:port[:grpcPort]] per line")
    .argument("<payload>", "the integer to append")
    .option("--port <port>", "HTTP port for config lines without one", port, DEFAULT_HTTP_PORT)
    .option("--server <n>", "0-based index of the node to ask", intOption("server", 0, 10_000), 0)
    .option("--timeout <s>", "seconds to keep trying", intOption("timeout", 1, 3600), 20)
    .option("--minimal", "ask for the new element's index only (Prefer: return=minimal) and print it", false)
    .option("--cacert <file>", "talk HTTPS, trusting this CA (for nodes started with --cert-file)")
    .option("--cert <file>", "client certificate (for nodes started with --client-cert-auth)")
    .option("--key <file>", "the key of --cert")
    .action(async (config: string, payload: string, o: ClientOptions) => {
      process.exitCode = await runClient(config, payload, o);
    });

  program
    .command("check")
    .description(
      "Check a history (JSON lines, Jepsen's shape: process, type, f, value, state, time) of appends and reads for linearizability. Exit 0 linearizable, 1 not, 2 unknown (timeout) or unreadable.",
    )
    .argument("<history>", "history file, e.g. history.jsonl: one event per line")
    .option("--model <model>", "strict (a reply is exactly the list right after the op) or appendable-list (Jepsen's old, looser model)", parseModelOption, "strict")
    .option("--timeout-ms <ms>", "give up (exit 2) after this long", intOption("timeout", 1, 86_400_000), 60_000)
    .action(async (history: string, o: { model: "strict" | "appendable-list"; timeoutMs: number }) => {
      process.exitCode = await runCheck(history, o);
    });

  program
    .command("jepsen")
    .description(
      "The Jepsen-style test on this machine (needs root): nodes in network namespaces, clients over HTTP, partitions/kills/pauses/membership changes, " +
        "then a linearizability check and a report in store/. Exit 0 valid, 1 not linearizable (or two memberships seen for one config slot), " +
        "2 unknown (or the member nemesis ran and no change was observed).",
    )
    .option("--nodes <n>", "3 or 5: the nodes that bootstrap the cluster (with the member nemesis, spare slots up to 5 join later)", intOption("nodes", 3, 5), 3)
    .option("--concurrency <n>", "client processes (process p talks to node p mod nodes; with the member nemesis, slot p mod 5)", intOption("concurrency", 1, 1000), 5)
    .option("--time-limit <s>", "seconds of load and faults", intOption("time limit", 1, 86_400), 30)
    .option("--rate <n>", "target operations per second, all clients together", intOption("rate", 1, 100_000), 20)
    .option("--nemesis <list>", "comma-separated: partition, partition-leader, kill, pause, member (grow, shrink and replace nodes, 3 to 5 voters), none", "partition")
    .option("--reads", "also read the list (GET /state)", false)
    .option("--healthy <s>", "seconds without faults between fault periods", intOption("healthy", 0, 3600), 5)
    .option("--faulty <s>", "seconds each fault lasts", intOption("faulty", 1, 3600), 5)
    .option("--model <model>", "strict or appendable-list", "strict")
    .option("--name <name>", "test name (results go to store/<name>/<time>/)", "paxos")
    .option("--store <dir>", "where results go", "store")
    .option("--request-timeout-ms <ms>", "client timeout per request (then the op is :info)", intOption("timeout", 100, 600_000), 5000)
    .option("--tls", "mutual TLS end to end: a CA for the run, peers with mutual TLS, HTTPS clients with certificates", false)
    .action(async (o: JepsenCommandOptions) => {
      process.exitCode = await runJepsen(o, entryScript);
    });

  configureBenchCommand(program.command("bench"));
  configureCertsCommand(program.command("certs"));
  configureMembersCommand(program.command("members"));

  program
    .command("sim")
    .description("Run the deterministic simulator: the real core under crashes, partitions and lossy links, all from a seed. Exit 1 when any seed fails.")
    .option("--seed <n>", "the (first) seed; alone, runs just this seed", intOption("seed", 0, 2 ** 31), undefined)
    .option("--seeds <n>", "how many seeds to run, from --seed (default 1) on", intOption("seeds", 1, 10_000_000), undefined)
    .option("--nodes <n>", "3, 5, or mixed (alternating by seed)", (v: string) => {
      if (v !== "3" && v !== "5" && v !== "mixed") throw new InvalidArgumentError("--nodes must be 3, 5 or mixed");
      return v;
    }, "3")
    .option("--fault-phase-ms <ms>", "simulated time with faults and client load, before the recovery check", intOption("fault phase", 1000, 3_600_000), 20_000)
    .option("--trace", "print every event of the run as it happens", false)
    .option("--html <file>", "write a step-by-step viewer of the one --seed's run to this HTML file (opens at the first violated invariant)")
    .action((o: SimCommandOptions) => {
      process.exitCode = runSim(o);
    });

  return program;
}

export async function main(argv: string[], entryScript: string): Promise<void> {
  const program = buildProgram(entryScript);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof Error && "exitCode" in e && "code" in e && String(e.code).startsWith("commander.")) {
      process.exitCode = Number(e.exitCode); // commander already printed the message or help
      return;
    }
    if (e instanceof UsageError || e instanceof ConfigError || e instanceof CorruptLogError) {
      console.error(`paxos: ${e.message}`);
      process.exitCode = 2;
      return;
    }
    if (e instanceof NodeStartError || e instanceof ClusterMismatchError) {
      const hint = /EADDRINUSE/.test(e.message) ? " (is another node already running on this port?)" : "";
      console.error(`paxos: ${e.message}${hint}`);
      process.exit(1); // also ends timers and sockets a half-started node may hold
    }
    throw e;
  }
}
