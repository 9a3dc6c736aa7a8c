// Notes a test harness shows on the live page, such as the nemesis's
// current fault during `paxos jepsen`.
//
// Why a file and not an HTTP endpoint: what the page shows about faults must
// come from whoever injects them, and a node cannot tell a harness from any
// other client over HTTP (the contract's clients are not authenticated). So
// a node only reads a file named on its own command line
// (`paxos node --ui-annotations FILE`, for harnesses), which the harness on
// the same machine rewrites atomically (write a temporary file, rename it
// over), and GET /cluster passes it on. Nothing in it changes what the node
// does; the page renders it as text.

import { renameSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";

export interface UiFault {
  /** The nemesis, e.g. "partition", "kill". */
  readonly kind: string;
  /** What it did, e.g. "partition {0} | {1,2}". */
  readonly description: string;
  /** When it began (ms since the epoch). */
  readonly since: number;
}

export interface UiAnnotations {
  /** Who writes the file, e.g. "paxos jepsen". */
  readonly source: string;
  /** The fault in force now; null while the cluster is healthy. */
  readonly fault: UiFault | null;
  /** When the file was last written (ms since the epoch): a stale file means its writer stopped. */
  readonly updated: number;
}

/** Larger files are not read (the page polls every second). */
export const MAX_ANNOTATIONS_BYTES = 16 * 1024;

/** Replaces the file at once: a reader sees the old content or the new, never half of it. */
export function writeAnnotations(file: string, a: UiAnnotations): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(a) + "\n");
  renameSync(tmp, file);
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const text = (x: unknown, max = 500): string | null => (typeof x === "string" ? x.slice(0, max) : null);
const time = (x: unknown): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null);

/** The annotations in `json`, keeping only the known fields; a string says what is wrong. */
export function parseAnnotations(json: string): UiAnnotations | string {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  if (!isObject(v)) return "not a JSON object";
  let fault: UiFault | null = null;
  if (v.fault !== null && v.fault !== undefined) {
    const f = v.fault;
    if (!isObject(f)) return "fault is not an object or null";
    const kind = text(f.kind, 100);
    const description = text(f.description);
    const since = time(f.since);
    if (kind === null || description === null || since === null) return "fault needs kind, description (strings) and since (ms)";
    fault = { kind, description, since };
  }
  const updated = time(v.updated);
  if (updated === null) return "updated (ms since the epoch) is missing";
  return { source: text(v.source, 200) ?? "", fault, updated };
}

/** Reads the file (at most MAX_ANNOTATIONS_BYTES); a missing file is no annotations, not an error. */
export async function readAnnotations(file: string): Promise<{ annotations: UiAnnotations | null; error: string | null }> {
  let content: string;
  try {
    const h = await open(file, "r");
    try {
      const buf = Buffer.alloc(MAX_ANNOTATIONS_BYTES + 1);
      const { bytesRead } = await h.read(buf, 0, buf.length, 0);
      if (bytesRead > MAX_ANNOTATIONS_BYTES) return { annotations: null, error: `${file} is larger than ${MAX_ANNOTATIONS_BYTES} bytes` };
      content = buf.subarray(0, bytesRead).toString("utf8");
    } finally {
      await h.close();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { annotations: null, error: null };
    return { annotations: null, error: `cannot read ${file}: ${(e as Error).message}` };
  }
  const a = parseAnnotations(content);
  return typeof a === "string" ? { annotations: null, error: `${file}: ${a}` } : { annotations: a, error: null };
}
