// The `paxos` command line: one executable, one subcommand per job.

import { Command, InvalidArgumentError } from "commander";
import { ConfigError, DEFAULT_HTTP_PORT } from "../config/cluster-config.js";
import { NodeStartError } from "../node/cluster-node.js";
import { CorruptLogError } from "../storage/record-file.js";
import { runClient, UsageError } from "./client-command.js";
import { runNode } from "./node-command.js";
import { startServers } from "./start-servers.js";

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
    .action(async (config: string, o: { port: number; dataDir: string; logLevel: string }) => {
      process.exitCode = await startServers(config, entryScript, o);
    });

  program
    .command("node")
    .description("Run one node of the cluster in this process (for EC2, Jepsen and start-servers).")
    .argument("<config>", "cluster config: one host[:port[:grpcPort]] per line")
    .requiredOption("--self <node>", "which line is this node: its 0-based index, its host, or host:port")
    .option("--port <port>", "HTTP port for config lines without one", port, DEFAULT_HTTP_PORT)
    .option("--data-dir <dir>", "where this node keeps its durable log (default data/node-<id>)")
    .option("--log-file <file>", "write JSON logs here instead of stdout")
    .option("--log-level <level>", "trace, debug, info, warn or error", "info")
    .option("--request-timeout-ms <ms>", "longest a client request waits before a 503", intOption("timeout", 100, 600_000), 10_000)
    .option("--tick-ms <ms>", "protocol tick (heartbeat every 5 ticks, elections after 30-60)", intOption("tick", 1, 1000), 10)
    .action(runNode);

  program
    .command("client")
    .description("Append PAYLOAD through one node and print the new list, e.g. [1, 2, 3]. Exit 1 when no reply comes.")
    .argument("<config>", "cluster config: one host[:port[:grpcPort]] per line")
    .argument("<payload>", "the integer to append")
    .option("--port <port>", "HTTP port for config lines without one", port, DEFAULT_HTTP_PORT)
    .option("--server <n>", "0-based index of the node to ask", intOption("server", 0, 10_000), 0)
    .option("--timeout <s>", "seconds to keep trying", intOption("timeout", 1, 3600), 20)
    .action(async (config: string, payload: string, o: { port: number; server: number; timeout: number }) => {
      process.exitCode = await runClient(config, payload, o);
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
    if (e instanceof NodeStartError) {
      const hint = /EADDRINUSE/.test(e.message) ? " (is another node already running on this port?)" : "";
      console.error(`paxos: ${e.message}${hint}`);
      process.exit(1); // also ends timers and sockets a half-started node may hold
    }
    throw e;
  }
}
