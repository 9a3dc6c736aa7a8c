// `paxos sim --seeds N` as a real process: progress goes to stderr only, and
// stdout is the same with it as without it.

import { execFile, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { PAXOS_BIN, ROOT } from "../support/process-cluster.js";

function sim(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [PAXOS_BIN, "sim", "--seeds", "6", "--nodes", "mixed", "--fault-phase-ms", "2000"],
      { cwd: ROOT, timeout: 60_000, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        if (err !== null && child.exitCode === null) reject(err);
        else resolve({ code: child.exitCode, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** The summary ends with the wall-clock time of the run, the only thing that differs between two runs. */
const wallClock = (s: string) => s.replace(/ simulated in \d+(\.\d+)? s\)/g, " simulated in <t> s)");

describe("paxos sim --seeds N: progress", () => {
  it("prints progress lines on stderr (not a terminal: plain lines), and the same stdout as without progress", async () => {
    const without = await sim({ PAXOS_PROGRESS: "0" });
    const withIt = await sim({ PAXOS_PROGRESS: "1", PAXOS_PROGRESS_INTERVAL_MS: "1" });
    expect(without.code).toBe(0);
    expect(withIt.code).toBe(0);
    expect(without.stderr).toBe("");
    expect(wallClock(withIt.stdout)).toBe(wallClock(without.stdout));
    expect(withIt.stdout).toMatch(/^6 seeds: 6 passed, 0 failed \(.*\)\n$/);
    const lines = withIt.stderr.trimEnd().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const l of lines) expect(l).toMatch(/^sim: [1-6]\/6 seeds, [\d.]+\/s, ETA (\d+ s|\?)$/);
    expect(withIt.stderr).not.toContain("\x1b"); // no terminal codes in a pipe
  }, 60_000);

  // On a terminal (util-linux `script` gives the command a pty for stdout and stderr alike).
  const hasScript = spawnSync("script", ["--version"]).status === 0;
  it.skipIf(!hasScript)("on a terminal draws a bar in place and clears it: the screen ends with just the output", () => {
    const cmd = `${process.execPath} ${PAXOS_BIN} sim --seeds 20 --fault-phase-ms 4000`;
    const r = spawnSync("script", ["-qec", cmd, "/dev/null"], { cwd: ROOT, encoding: "utf8", timeout: 60_000, env: { ...process.env, PAXOS_PROGRESS: "1", TERM: "xterm" } });
    expect(r.status).toBe(0);
    const raw = r.stdout;
    expect(raw).toMatch(/\r\x1b\[Ksim [█░]{20} +\d+% \d+\/20 seeds, /); // the bar was drawn
    // What the terminal shows in the end: \r returns, ESC[K clears the rest of the line.
    const rows: string[] = [""];
    let col = 0;
    for (let i = 0; i < raw.length; i++) {
      const row = rows.length - 1;
      if (raw.startsWith("\x1b[K", i)) {
        rows[row] = rows[row]!.slice(0, col);
        i += 2;
      } else if (raw[i] === "\r") col = 0;
      else if (raw[i] === "\n") {
        rows.push("");
        col = 0;
      } else {
        rows[row] = rows[row]!.slice(0, col) + raw[i] + rows[row]!.slice(col + 1);
        col++;
      }
    }
    expect(rows.filter((l) => l !== "")).toHaveLength(1);
    expect(rows[0]).toMatch(/^20 seeds: 20 passed, 0 failed \(.*\)$/);
  }, 60_000);
});
