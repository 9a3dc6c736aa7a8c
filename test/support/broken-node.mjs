#!/usr/bin/env node
// A deliberately broken "node" for testing the Jepsen harness: it serves the
// HTTP contract from its own local list, with no consensus at all, so
// clients talking to different nodes see different lists. The harness must
// report such a run as not linearizable. Test-only: nothing in src/ uses it.
//
// Usage (as the harness starts nodes): broken-node.mjs node CONFIG --self I ...
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

const args = process.argv.slice(2);
const config = args[1];
const self = Number(args[args.indexOf("--self") + 1]);
const line = readFileSync(config, "utf8").split("\n").map((l) => l.trim()).filter(Boolean)[self];
const [host, port] = line.split(":");
const list = [];

createServer((req, res) => {
  let body = "";
  req.on("data", (d) => (body += d));
  req.on("end", () => {
    res.setHeader("content-type", "application/json");
    if (req.method === "GET" && req.url === "/status") {
      return res.end(JSON.stringify({ id: self, role: "leader", leader: 0, list_length: list.length }));
    }
    if (req.method === "GET" && req.url === "/state") return res.end(JSON.stringify({ state: list }));
    if (req.method === "POST" && req.url === "/proposer/client-request") {
      list.push(JSON.parse(body).payload);
      return res.end(JSON.stringify({ state: list }));
    }
    res.statusCode = 404;
    res.end("{}");
  });
}).listen(Number(port), host);
process.on("SIGTERM", () => process.exit(0));
