#!/usr/bin/env node
// Entry point of the `paxos` command; the code lives in src/cli (built into dist/).
import { fileURLToPath } from "node:url";
import { main } from "../dist/src/cli/main.js";

await main(process.argv, fileURLToPath(import.meta.url));
