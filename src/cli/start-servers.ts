// `paxos start-servers`: one `paxos node` process per config line on this
// machine, with their logs shown compactly; Ctrl-C stops them all cleanly.

import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { loadClusterConfig } from "../config/cluster-config.js";

export interface StartServersOptions {
  port: number;
  dataDir: string;
  logLevel: string;
}

/** Turns one pino JSON line into `[node 0] 12:00:00.123 INFO msg key=value ...`. */
export function formatLogLine(id: number, line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `[node ${id}] ${line}`;
  }
  const { level, time, msg, pid: _pid, hostname: _host, node: _node, ...rest } = rec;
  const names: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
  const when = typeof time === "number" ? new Date(time).toISOString().slice(11, 23) : "";
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `[node ${id}] ${when} ${names[Number(level)] ?? level} ${String(msg ?? "")}${fields ? " " + fields : ""}`;
}

export async function startServers(configPath: string, entryScript: string, o: StartServersOptions): Promise<number> {
  const nodes = loadClusterConfig(configPath, o.port);
  const children: ChildProcess[] = [];
  let stopping = false;
  const exits = nodes.map(
    (n) =>
      new Promise<number>((resolve) => {
        const child = spawn(
          process.execPath,
          [entryScript, "node", configPath, "--self", String(n.id), "--port", String(o.port), "--data-dir", join(o.dataDir, `node-${n.id}`), "--log-level", o.logLevel],
          { stdio: ["ignore", "pipe", "pipe"] },
        );
        children.push(child);
        createInterface({ input: child.stdout! }).on("line", (l) => console.log(formatLogLine(n.id, l)));
        createInterface({ input: child.stderr! }).on("line", (l) => console.error(`[node ${n.id}] ${l}`));
        child.on("exit", (code, signal) => {
          if (!stopping || code !== 0) console.error(`[node ${n.id}] exited (${signal ?? `code ${code}`})`);
          resolve(code ?? 1);
        });
        console.log(`node ${n.id}: HTTP ${n.host}:${n.httpPort}, gRPC ${n.host}:${n.grpcPort}, data ${join(o.dataDir, `node-${n.id}`)}`);
      }),
  );
  const stop = () => {
    if (stopping) return;
    stopping = true;
    console.log("stopping all nodes...");
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const codes = await Promise.all(exits);
  return codes.every((c) => c === 0) ? 0 : 1;
}
