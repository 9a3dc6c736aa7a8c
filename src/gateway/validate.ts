import type { Command } from "../core/types.js";

const FIELDS = ["client_id", "command_id", "payload"] as const;

/**
 * Checks a parsed append body against the contract: a JSON object with exactly
 * client_id, command_id and payload, each an integer in the JavaScript safe
 * range [-(2^53-1), 2^53-1] (larger JSON numbers lose precision, so they are
 * refused rather than rounded). Returns the command, or a message naming the
 * problem. What the parsed value cannot show (duplicate keys, literals such
 * as 1.0 or -0) is checked on the text by strict-json.ts, which calls this.
 */
export function validateAppendBody(body: unknown): Command | string {
  if (body === undefined) return 'empty body: expected {"client_id": int, "command_id": int, "payload": int}';
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return `body must be a JSON object, got ${body === null ? "null" : Array.isArray(body) ? "an array" : typeof body}`;
  }
  const obj = body as Record<string, unknown>;
  const extra = Object.keys(obj).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (extra.length > 0) return `unknown field${extra.length > 1 ? "s" : ""}: ${extra.join(", ")}`;
  const missing = FIELDS.filter((k) => !(k in obj));
  if (missing.length > 0) return `missing field${missing.length > 1 ? "s" : ""}: ${missing.join(", ")}`;
  for (const k of FIELDS) {
    const v = obj[k];
    if (typeof v !== "number" || !Number.isInteger(v)) return `${k} must be an integer, got ${JSON.stringify(v)}`;
    if (!Number.isSafeInteger(v)) return `${k} is outside the safe integer range [-(2^53-1), 2^53-1]`;
  }
  return { clientId: obj.client_id as number, commandId: obj.command_id as number, payload: obj.payload as number };
}
