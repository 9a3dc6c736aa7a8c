// The append lane: the common, well-formed append skips Fastify's router.
//
// Under load every append is one HTTP request, and Fastify's per-request
// work (its Request and Reply objects, the hook and content-type parser
// chains, the async handler's promises) was the largest cost left at the
// node it enters: skipping it cut what the three nodes spend per append
// together by about a tenth on the dev VM (docs/performance.md). So the server's request listener hands a request
// to the gateway's append handler directly when it is a plain append, and
// everything else to Fastify. The lane changes which code reads the body,
// not what anyone sees: a request takes it only if every edge check
// (http-edge.ts) passes and Fastify would read its body as text with our
// catch-all parser; the append handler and its bytes on the wire are the
// same on both paths (hostile-http.test.ts compares them).

import type { IncomingMessage } from "node:http";
import { requestProblem } from "./http-edge.js";

/**
 * Content-Type values the lane takes: the ones clients send (none, JSON,
 * curl -d's form type), matched whole. Fastify reads each of them with the
 * same text parser; any other value (and a malformed one, which Fastify
 * refuses) takes Fastify's path.
 */
const PLAIN_CONTENT_TYPES: ReadonlySet<string | undefined> = new Set([
  undefined,
  "application/json",
  "application/json; charset=utf-8",
  "application/x-www-form-urlencoded",
]);

/**
 * Whether `req` is a plain append: POST to `path` in origin form, framed by
 * a Content-Length within `bodyLimit` (no chunked body, no content coding),
 * with a Content-Type from the list above, and no edge refusal. Only the
 * request line and headers are looked at, so it can be asked before the
 * body arrives.
 */
export function isPlainAppend(req: IncomingMessage, path: string, bodyLimit: number): boolean {
  if (req.method !== "POST" || req.url !== path) return false;
  const h = req.headers;
  const length = h["content-length"]; // Node refuses a malformed or repeated one before 'request'
  return (
    length !== undefined &&
    Number(length) <= bodyLimit &&
    h["transfer-encoding"] === undefined &&
    h["content-encoding"] === undefined &&
    PLAIN_CONTENT_TYPES.has(h["content-type"]) &&
    requestProblem(req) === null
  );
}

/**
 * Reads a plain append's body and hands it over as text, decoded as
 * Fastify's string parser decodes it (UTF-8, once, at the end). Nothing is
 * handed over if the request never completes (its connection closed or
 * failed first): Node then emits 'aborted', never 'end', and nothing was
 * applied.
 */
export function readPlainBody(req: IncomingMessage, onText: (text: string) => void): void {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.once("end", () => onText(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8")));
}
