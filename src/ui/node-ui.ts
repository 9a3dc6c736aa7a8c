// The live cluster page on every node's HTTP port:
//
//   GET /ui            the page (ui/index.html in the package)
//   GET /ui/live.js    its script, GET /ui/live.css its style
//   GET /cluster       every member's /status in one JSON document (cluster-view.ts)
//
// and the `stats` field of this node's GET /status (live-stats.ts). The
// gateway calls register() and statusStats(); nothing else of the gateway
// knows about the page.
//
// The page is static files from the package's ui/ folder, which tsc does
// not copy: they are found from this module's location (src/ui/ when run
// from source, dist/src/ui/ when built), read once, and served from memory.
// Only these names are served (no path from the request reaches the file
// system). The page is plain script, fetches only /cluster from its own
// origin, and its Content-Security-Policy says so: no CDN, nothing inline.

import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from "fastify";
import type { Logger } from "pino";
import type { NodeService } from "../service/node-service.js";
import { ClusterView, type MemberTls } from "./cluster-view.js";
import type { LiveStats, StatsJson } from "./live-stats.js";

/** The gateway's Fastify instance (it logs with pino). */
export type GatewayApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, Logger>;

/** What the gateway needs from the page (GatewayOptions.ui). */
export interface GatewayUi {
  /** The `stats` field of this node's GET /status. */
  statusStats(): Promise<StatsJson>;
  /** Adds GET /ui, its files and GET /cluster to the gateway. */
  register(app: GatewayApp): void;
}

export interface NodeUiOptions {
  readonly service: NodeService;
  readonly stats: LiveStats;
  /** The gateway's HTTPS material for requests to the other members; null: the cluster speaks plain HTTP. */
  readonly tls: () => MemberTls | null;
  /** paxos node --ui-annotations: a file a harness rewrites (annotations.ts). */
  readonly annotationsFile?: string | undefined;
}

/** The page's files: URL path -> file name in ui/ and its content type. */
const FILES: ReadonlyMap<string, { readonly file: string; readonly type: string }> = new Map([
  ["/ui", { file: "index.html", type: "text/html; charset=utf-8" }],
  ["/ui/", { file: "index.html", type: "text/html; charset=utf-8" }],
  ["/ui/live.js", { file: "live.js", type: "text/javascript; charset=utf-8" }],
  ["/ui/live.css", { file: "live.css", type: "text/css; charset=utf-8" }],
]);

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The package's ui/ folder: the nearest one above this module that holds index.html. */
export function findUiDir(from = dirname(fileURLToPath(import.meta.url))): string | null {
  for (let dir = from, i = 0; i < 6; i++, dir = dirname(dir)) {
    const candidate = join(dir, "ui");
    if (existsSync(join(candidate, "index.html"))) return candidate;
  }
  return null;
}

export function nodeUi(o: NodeUiOptions): GatewayUi {
  const view = new ClusterView({
    self: () => {
      const s = o.service.status();
      return { id: s.member === "joining" ? null : s.id, clusterId: s.clusterId, members: s.members.members, configSlot: s.members.configSlot };
    },
    tls: o.tls,
    annotationsFile: o.annotationsFile,
  });
  const uiDir = findUiDir();
  const cache = new Map<string, Buffer>();
  const load = async (file: string): Promise<Buffer | null> => {
    if (uiDir === null) return null;
    let b = cache.get(file);
    if (b === undefined) {
      b = await readFile(join(uiDir, file)).catch(() => undefined);
      if (b === undefined) return null;
      cache.set(file, b);
    }
    return b;
  };
  const json = (reply: FastifyReply, code: number, body: unknown) =>
    reply.code(code).header("content-type", "application/json; charset=utf-8").header("cache-control", "no-store").send(JSON.stringify(body));

  return {
    statusStats: () => {
      const s = o.service.status();
      return o.stats.json(s.members.members.map((m) => m.id).filter((id) => id !== s.id));
    },
    register: (app) => {
      for (const [path, f] of FILES) {
        app.get(path, async (_req, reply) => {
          const body = await load(f.file);
          if (body === null) return json(reply, 404, { error: `the live page's files are missing from this installation (ui/${f.file} next to the package's dist/)` });
          return reply
            .code(200)
            .header("content-type", f.type)
            .header("cache-control", "no-cache")
            .header("x-content-type-options", "nosniff")
            .header("content-security-policy", CSP)
            .send(body);
        });
      }
      app.get("/cluster", async (_req, reply) => json(reply, 200, await view.get()));
      app.addHook("onClose", async () => view.close());
    },
  };
}
