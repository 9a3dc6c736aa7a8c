// The append body, read strictly. JSON.parse alone is lenient where the
// contract must not be: a duplicate key silently keeps its last value
// (`{"payload":1,"payload":2}` appends 2, also when the second spelling is
// `"pay\u006coad"`), and `1.0`, `1e3`, `-0`, `0.5e1` all parse to integers.
// The contract's fields are integer literals, -?(0|[1-9][0-9]*) and not -0,
// each present exactly once (RFC 8259 §4 leaves duplicate names to the
// receiver; we refuse them).
//
// Cost on the hot path: a body already in canonical form (the three members
// once each, integer literals, any JSON whitespace between tokens) is
// recognized after JSON.parse by comparing the text, whitespace removed, with
// the canonical text rebuilt from the parsed value. Every other body is read
// by momoa (ESLint's JSON parser), which keeps each member and each number's
// literal text, to name the problem. See test/gateway/hostile-http.test.ts
// for the measured cost.

import { parse as parseJsonAst, type DocumentNode } from "@humanwhocodes/momoa";
import type { Command } from "../core/types.js";
import { validateAppendBody } from "./validate.js";

/** RFC 8259 §2: the only insignificant whitespace. */
const ONLY_JSON_WS = /^[ \t\n\r]*$/;
/** An integer literal as the contract wants it: no fraction, no exponent, no -0. */
const INTEGER_LITERAL = /^(?:0|-?[1-9][0-9]*)$/;

export const EMPTY_BODY = 'empty body: expected {"client_id": int, "command_id": int, "payload": int}';

/**
 * Reads an append body (the request's bytes, decoded as UTF-8). Returns the
 * command, or a message naming the problem (for a 400).
 */
export function parseAppendBody(text: string): Command | string {
  // RFC 8259 §8.1: a networked JSON text carries no byte order mark.
  if (text.charCodeAt(0) === 0xfeff) return "body starts with a byte order mark (U+FEFF); JSON over the network has none (RFC 8259 §8.1)";
  if (ONLY_JSON_WS.test(text)) return EMPTY_BODY;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return `body is not valid JSON: ${(e as Error).message}`;
  }
  const command = validateAppendBody(value);
  if (typeof command !== "string" && isCanonical(text, value as Record<string, number>)) return command;
  return diagnose(text, command);
}

/**
 * True when `text` is, up to JSON whitespace, exactly the object's members in
 * their parsed order with canonical integer literals. JSON.parse accepted the
 * text and every member name is a contract field (so no string holds
 * whitespace), hence the token sequences are equal: no duplicate, no escape,
 * no other literal form.
 */
function isCanonical(text: string, obj: Record<string, number>): boolean {
  let canonical = "{";
  for (const k in obj) canonical += `${canonical.length > 1 ? "," : ""}"${k}":${obj[k]}`;
  canonical += "}";
  if (text.length === canonical.length) return text === canonical;
  let j = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue; // JSON whitespace (RFC 8259 §2)
    if (c !== canonical.charCodeAt(j++)) return false;
  }
  return j === canonical.length;
}

/**
 * The slow path: parses the text again with momoa, which keeps every member
 * and literal, and names the first problem: a duplicate member, else the
 * shape or type problem `validated` found, else a non-integer literal form.
 * A body with none of these (e.g. an escaped but unique field name) is accepted.
 */
function diagnose(text: string, validated: Command | string): Command | string {
  let doc: DocumentNode;
  try {
    doc = parseJsonAst(text, { mode: "json", ranges: true });
  } catch (e) {
    // JSON.parse accepted it; momoa is stricter only about raw control
    // characters inside strings (RFC 8259 §7 forbids them too).
    return `body is not valid JSON: ${(e as Error).message}`;
  }
  const root = doc.body;
  if (root.type === "Object") {
    const seen = new Set<string>();
    for (const m of root.members) {
      const name = m.name.type === "String" ? m.name.value : m.name.name;
      if (seen.has(name)) return `duplicate field: ${name} (each field must appear exactly once)`;
      seen.add(name);
    }
  }
  if (typeof validated === "string") return validated;
  if (root.type === "Object") {
    for (const m of root.members) {
      if (m.value.type !== "Number" || m.value.range === undefined) continue;
      const literal = text.slice(m.value.range[0], m.value.range[1]);
      if (!INTEGER_LITERAL.test(literal)) {
        const name = m.name.type === "String" ? m.name.value : m.name.name;
        return `${name} must be written as an integer literal (-?(0|[1-9][0-9]*), not -0), got ${literal}`;
      }
    }
  }
  return validated;
}

/**
 * Reads POST /members' body, {"address": "host:port[:grpcPort[:peerPort]]"},
 * as strictly as an append's: one object, that one member exactly once, a
 * string. Returns the address, or a message naming the problem (for a 400).
 */
export function parseAddMemberBody(text: string): { address: string } | string {
  const expected = 'expected {"address": "host:port[:grpcPort[:peerPort]]"}';
  if (text.charCodeAt(0) === 0xfeff) return "body starts with a byte order mark (U+FEFF); JSON over the network has none (RFC 8259 §8.1)";
  if (ONLY_JSON_WS.test(text)) return `empty body: ${expected}`;
  let doc: DocumentNode;
  try {
    doc = parseJsonAst(text, { mode: "json" });
  } catch (e) {
    return `body is not valid JSON: ${(e as Error).message}`;
  }
  const root = doc.body;
  if (root.type !== "Object") return `body must be a JSON object: ${expected}`;
  let address: string | null = null;
  for (const m of root.members) {
    const name = m.name.type === "String" ? m.name.value : m.name.name;
    if (name !== "address") return `unknown field ${JSON.stringify(name)}: ${expected}`;
    if (address !== null) return "duplicate field: address (each field must appear exactly once)";
    if (m.value.type !== "String") return `address must be a string: ${expected}`;
    address = m.value.value;
  }
  return address === null ? `missing field address: ${expected}` : { address };
}
