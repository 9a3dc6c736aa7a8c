// `paxos check HISTORY.jsonl`: is a Jepsen-style history of appends and reads
// linearizable? Prints a one-line verdict and, for a violation, the explanation.
// Exit code: 0 linearizable, 1 not, 2 unknown (timeout) or unreadable input.

import { InvalidArgumentError } from "commander";
import { HistoryParseError, readHistoryFile, type History } from "../check/history.js";
import { checkHistory } from "../check/linearizability.js";
import { isModelName, MODEL_NAMES, type ModelName } from "../check/models.js";
import { createProgress, phased, type Progress } from "./progress.js";

export interface CheckCommandOptions {
  model: ModelName;
  timeoutMs: number;
  /** Progress on stderr (default: createProgress(), which prints only for a check of a few seconds or more, or on a terminal). */
  progress?: Progress;
}

/** commander option parser for --model. */
export function parseModelOption(text: string): ModelName {
  if (!isModelName(text)) throw new InvalidArgumentError(`model must be one of: ${MODEL_NAMES.join(", ")}`);
  return text;
}

export async function runCheck(file: string, opts: CheckCommandOptions): Promise<number> {
  let history: History;
  try {
    history = await readHistoryFile(file);
  } catch (e) {
    if (e instanceof HistoryParseError) {
      console.error(`paxos check: ${file}: ${e.message}`);
    } else {
      const code = typeof e === "object" && e !== null && "code" in e ? ` (${String(e.code)})` : "";
      console.error(`paxos check: cannot read ${file}${code}: ${e instanceof Error ? e.message : String(e)}`);
    }
    return 2;
  }

  const progress = opts.progress ?? createProgress();
  let result: ReturnType<typeof checkHistory>;
  try {
    result = checkHistory(history, { model: opts.model, timeoutMs: opts.timeoutMs, onProgress: phased(progress, "check", "ops") });
  } finally {
    progress.stop();
  }
  const how = `${result.ops} operations, ${opts.model} model, ${result.method}, ${result.elapsedMs} ms`;
  if (result.valid === true) {
    console.log(`linearizable (${how})`);
    return 0;
  }
  if (result.valid === "unknown") {
    console.log(`unknown (${how}): ${result.reason}`);
    return 2;
  }
  console.log(`NOT linearizable (${how}): op #${result.opIndex}, ${result.kind}`);
  console.log(result.explanation);
  return 1;
}
