// Which requests take the append lane (src/gateway/append-lane.ts): only a
// plain append; every variant that Fastify or the edge checks would treat
// differently goes through Fastify. (hostile-http.test.ts checks that both
// paths answer with the same bytes.)

import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { isPlainAppend } from "../../src/gateway/append-lane.js";
import { APPEND_PATH, BODY_LIMIT_BYTES } from "../../src/gateway/http-gateway.js";

interface Head {
  method?: string;
  url?: string;
  minor?: number;
  headers?: IncomingHttpHeaders;
}

/** The request line and headers of a request, as Node hands them to 'request' (only what the lane reads). */
function head(o: Head = {}): IncomingMessage {
  const headers: IncomingHttpHeaders = o.headers ?? { host: "paxos", "content-length": "52", "content-type": "application/json" };
  // Cast: a stand-in with the fields isPlainAppend and requestProblem read, not a whole IncomingMessage.
  return {
    method: o.method ?? "POST",
    url: o.url ?? APPEND_PATH,
    httpVersion: `1.${o.minor ?? 1}`,
    httpVersionMajor: 1,
    httpVersionMinor: o.minor ?? 1,
    headers,
    rawHeaders: Object.entries(headers).flatMap(([name, value]) => [name, String(value)]),
  } as unknown as IncomingMessage;
}

const plain = (extra: IncomingHttpHeaders = {}): IncomingHttpHeaders => ({ host: "paxos", "content-length": "52", ...extra });
const lane = (o: Head) => isPlainAppend(head(o), APPEND_PATH, BODY_LIMIT_BYTES);

describe("the append lane", () => {
  it("takes a plain append, with the Content-Types clients send or none", () => {
    expect(lane({})).toBe(true);
    expect(lane({ headers: plain() })).toBe(true);
    for (const type of ["application/json", "application/json; charset=utf-8", "application/x-www-form-urlencoded"]) {
      expect(lane({ headers: plain({ "content-type": type }) }), type).toBe(true);
    }
    expect(lane({ headers: plain({ prefer: "return=minimal", expect: "100-continue" }) })).toBe(true);
    expect(lane({ headers: plain({ "content-length": String(BODY_LIMIT_BYTES) }) })).toBe(true);
  });

  it("leaves every other request to Fastify", () => {
    const others: [string, Head][] = [
      ["GET", { method: "GET" }],
      ["PUT", { method: "PUT" }],
      ["another path", { url: "/state" }],
      ["a query", { url: `${APPEND_PATH}?x=1` }],
      ["absolute form", { url: `http://paxos${APPEND_PATH}` }],
      ["no Content-Length", { headers: { host: "paxos", "content-type": "application/json" } }],
      ["chunked", { headers: plain({ "transfer-encoding": "chunked" }) }],
      ["over the body limit", { headers: plain({ "content-length": String(BODY_LIMIT_BYTES + 1) }) }],
      ["a content coding", { headers: plain({ "content-encoding": "gzip" }) }],
      ["identity coding", { headers: plain({ "content-encoding": "identity" }) }],
      ["another Content-Type", { headers: plain({ "content-type": "text/plain" }) }],
      ["upper-case charset", { headers: plain({ "content-type": "application/json; charset=UTF-8" }) }],
      ["a malformed Content-Type", { headers: plain({ "content-type": "application/json;;" }) }],
      ["an upgrade", { headers: plain({ upgrade: "h2c" }) }],
      ["no Host in HTTP/1.1", { headers: { "content-length": "52" } }],
      ["Transfer-Encoding in HTTP/1.0", { minor: 0, headers: plain({ "transfer-encoding": "chunked" }) }],
    ];
    for (const [what, o] of others) expect(lane(o), what).toBe(false);
  });
});
