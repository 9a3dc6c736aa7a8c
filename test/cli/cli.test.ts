// The built `paxos` command (bin/paxos.js -> dist/) run as real processes.
// `npm test` builds dist/ in its pretest step.

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { GENESIS3 } from "../support/genesis.js";
import { DurableLog, LOG_FILE_NAME } from "../../src/storage/durable-log.js";
import { freePort, httpJson, PAXOS_BIN, ROOT, sleep, type NodeStatusJson } from "../support/process-cluster.js";

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `node bin/paxos.js ARGS` to completion (asynchronously, so servers in this process keep serving). */
function paxos(args: readonly string[], timeoutMs = 20_000): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [PAXOS_BIN, ...args], { cwd: ROOT, timeout: timeoutMs, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
      resolve({
        code: child.exitCode,
        signal: child.signalCode,
        stdout: String(stdout),
        stderr: String(stderr),
        ms: Date.now() - started,
      });
      void err;
    });
  });
}

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "paxos-cli-"));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let configSeq = 0;
function writeConfig(lines: readonly string[]): string {
  const path = join(dir, `config-${configSeq++}`);
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

describe("--help", () => {
  it("describes the subcommands at the top level", async () => {
    const r = await paxos(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: paxos");
    expect(r.stdout).toContain("start-servers [options] <config>");
    expect(r.stdout).toContain("node [options] [config]");
    expect(r.stdout).toContain("client [options] <config> <payload>");
    expect(r.stdout).toContain("members");
  });

  it("describes start-servers", async () => {
    const r = await paxos(["start-servers", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: paxos start-servers [options] <config>");
    for (const opt of ["--port <port>", "--data-dir <dir>", "--log-level <level>"]) expect(r.stdout).toContain(opt);
  });

  it("describes node", async () => {
    const r = await paxos(["node", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: paxos node [options] [config]");
    for (const opt of ["--self <node>", "--join <member>", "--port <port>", "--data-dir <dir>", "--log-file <file>", "--log-level <level>", "--request-timeout-ms <ms>", "--tick-ms <ms>"]) {
      expect(r.stdout).toContain(opt);
    }
  });

  it("describes client", async () => {
    const r = await paxos(["client", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: paxos client [options] <config> <payload>");
    expect(r.stdout).toMatch(/payload\s+the integer to append/);
    for (const opt of ["--port <port>", "--server <n>", "--timeout <s>"]) expect(r.stdout).toContain(opt);
  });
});

describe("client errors", () => {
  let server: Server | undefined;
  afterEach(async () => {
    if (server) await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
  });

  it("refuses a PAYLOAD that is not an integer with exit 2, without contacting any node", async () => {
    let connections = 0;
    server = createServer((s) => {
      connections++;
      s.destroy();
    });
    const port = await new Promise<number>((res) =>
      server!.listen(0, "127.0.0.1", () => {
        const a = server!.address();
        res(typeof a === "object" && a ? a.port : -1);
      }),
    );
    const cfg = writeConfig([`127.0.0.1:${port}`]);
    const r = await paxos(["client", cfg, "abc"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('PAYLOAD must be an integer, got "abc"');
    await sleep(100);
    expect(connections).toBe(0);
  });

  it("exits 1 with 'no reply' when nothing listens, within a few seconds of --timeout 1", async () => {
    const port = await freePort();
    const cfg = writeConfig([`127.0.0.1:${port}`]);
    const r = await paxos(["client", cfg, "1", "--timeout", "1"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`no reply from node 0 (127.0.0.1:${port}) within 1 s`);
    expect(r.ms).toBeLessThan(5_000);
  });

  it("refuses --server past the end of the config", async () => {
    const cfg = writeConfig(["127.0.0.1:5999"]);
    const r = await paxos(["client", cfg, "1", "--server", "5", "--timeout", "1"]);
    expect(r.code).not.toBe(0);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("--server 5 is not in the config (it has 1 nodes");
  });

  it("refuses a --timeout that is not a whole number", async () => {
    const cfg = writeConfig(["127.0.0.1:5999"]);
    const r = await paxos(["client", cfg, "1", "--timeout", "soon"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("timeout must be a whole number");
  });
});

describe("node errors", () => {
  it("refuses --self 7 for a 3-line config", async () => {
    const cfg = writeConfig(["127.0.0.1:5001", "127.0.0.1:5002", "127.0.0.1:5003"]);
    const r = await paxos(["node", cfg, "--self", "7", "--data-dir", join(dir, "unused-self")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("node index 7 is not in the config (it has 3 nodes)");
  });

  it("refuses a config with a bad line, naming the line", async () => {
    const cfg = writeConfig(["127.0.0.1:5001", "127.0.0.1:port", "127.0.0.1:5003"]);
    const r = await paxos(["node", cfg, "--self", "0", "--data-dir", join(dir, "unused-bad")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bad port "port" in config line "127.0.0.1:port"');
  });

  it("refuses a config file that does not exist", async () => {
    const missing = join(dir, "no-such-config");
    const r = await paxos(["node", missing, "--self", "0", "--data-dir", join(dir, "unused-missing")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`cannot read config file ${missing}`);
  });

  it("refuses to start on a log with a corrupt middle record, naming the file and the offset", async () => {
    const dataDir = join(dir, "corrupt-node");
    const opened = await DurableLog.open(dataDir, GENESIS3);
    await opened.log.append([{ type: "promised", ballot: { round: 1, node: 0 } }]);
    await opened.log.append([
      { type: "accepted", ballot: { round: 1, node: 0 }, fromSlot: 0, values: [{ kind: "command", command: { clientId: 1, commandId: 1, payload: 5 } }] },
    ]);
    await opened.log.append([{ type: "chosen", fromSlot: 0, values: [{ kind: "command", command: { clientId: 1, commandId: 1, payload: 5 } }] }]);
    await opened.log.close();

    const logPath = join(dataDir, LOG_FILE_NAME);
    const bytes = readFileSync(logPath);
    const secondAt = 8 + bytes.readUInt32LE(0);
    bytes[secondAt + 8 + 1]! ^= 0x10; // a payload byte of the second (middle) record
    writeFileSync(logPath, bytes);

    const [http, grpc, peer] = [await freePort(), await freePort(), await freePort()];
    const cfg = writeConfig([`127.0.0.1:${http}:${grpc}:${peer}`]);
    const r = await paxos(["node", cfg, "--self", "0", "--data-dir", dataDir]);
    expect(r.signal).toBeNull();
    expect(r.code).not.toBe(0);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${logPath}: corrupt record at byte offset ${secondAt} (CRC32 mismatch)`);
    // The log was left as it was for the operator to look at.
    expect(readFileSync(logPath).equals(bytes)).toBe(true);
  });
});

describe("a 1-node cluster", () => {
  let child: ChildProcess | undefined;
  const output: string[] = [];

  afterEach(async () => {
    const c = child;
    child = undefined;
    if (c && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill("SIGKILL");
      await exited;
    }
  });

  it("serves client appends and shuts down cleanly on SIGTERM", async () => {
    const [httpPort, grpcPort, peerPort] = [await freePort(), await freePort(), await freePort()];
    const cfg = writeConfig([`127.0.0.1:${httpPort}:${grpcPort}:${peerPort}`]);
    const dataDir = join(dir, "happy-node");
    const c = spawn(process.execPath, [PAXOS_BIN, "node", cfg, "--self", "0", "--data-dir", dataDir], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = c;
    c.stdout!.on("data", (d: Buffer) => output.push(d.toString()));
    c.stderr!.on("data", (d: Buffer) => output.push(d.toString()));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => c.once("exit", (code, signal) => r({ code, signal })));

    const deadline = Date.now() + 15_000;
    let status: NodeStatusJson | null = null;
    while (Date.now() < deadline) {
      if (c.exitCode !== null) throw new Error(`node exited early (${c.exitCode}):\n${output.join("")}`);
      status = await httpJson(`http://127.0.0.1:${httpPort}/status`, { timeoutMs: 1000 })
        .then((r) => (r.status === 200 ? (r.body as NodeStatusJson) : null))
        .catch(() => null);
      if (status?.role === "leader") break;
      await sleep(50);
    }
    expect(status?.role, output.join("")).toBe("leader");
    expect(status?.id).toBe(0);
    expect(status?.leader).toBe(0);

    const first = await paxos(["client", cfg, "5", "--timeout", "10"]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toBe("[5]\n");

    // A refused payload changes nothing.
    const bad = await paxos(["client", cfg, "abc", "--timeout", "10"]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe("");

    const second = await paxos(["client", cfg, "6", "--timeout", "10"]);
    expect(second.stderr).toBe("");
    expect(second.code).toBe(0);
    expect(second.stdout).toBe("[5, 6]\n");

    c.kill("SIGTERM");
    const result = await Promise.race([exit, sleep(10_000).then(() => null)]);
    expect(result, `node did not exit within 10 s of SIGTERM:\n${output.join("")}`).not.toBeNull();
    expect(result).toEqual({ code: 0, signal: null });
  });
});
