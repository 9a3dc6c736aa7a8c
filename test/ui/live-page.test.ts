// The live cluster page (GET /ui) in headless Chromium, against a real
// cluster of three `paxos node` processes under a light load: it renders,
// shows one leader and two followers, shows the leader's kill -9 as a down
// node within a few seconds and the new leader, and shows the fault a
// harness wrote to the nodes' --ui-annotations file. Screenshots go to
// $UI_SHOT_DIR (or a temporary directory, printed); with UI_DOCS_SCREENSHOT=1
// the test runs longer (fuller charts) and also writes docs/img/ui.png, the
// README's screenshot:
//
//   UI_DOCS_SCREENSHOT=1 npx vitest run test/ui/live-page.test.ts

import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeAnnotations } from "../../src/ui/annotations.js";
import { haveChromium, launchChromium, warnIfNoChromium, watchPage } from "../support/chromium.js";
import { ProcessCluster, ROOT, sleep } from "../support/process-cluster.js";

warnIfNoChromium("live-page.test.ts");

const DOCS = process.env.UI_DOCS_SCREENSHOT === "1";
const tmp = mkdtempSync(join(tmpdir(), "paxos-ui-page-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Polls `cond` every 100 ms; throws with `what` and the last detail after `ms`. Returns how long it took. */
async function within(ms: number, what: string, cond: () => Promise<boolean>, detail: () => Promise<string> = async () => ""): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await cond()) return Date.now() - t0;
    await sleep(100);
  }
  throw new Error(`not within ${ms} ms: ${what}\n${await detail()}`);
}

describe.skipIf(!haveChromium)("the live cluster page in headless Chromium, on a real 3-process cluster", () => {
  it("shows one leader and two followers, the leader's kill -9 as a down node within seconds, and the new leader", { timeout: 180_000 }, async () => {
    // Kept only where UI_SHOT_DIR says; by default it goes with this file's temp dir.
    const shotDir = process.env.UI_SHOT_DIR ?? join(tmp, "shots");
    mkdirSync(shotDir, { recursive: true });
    // This test plays the harness: it writes the file the nodes read (paxos node --ui-annotations).
    const notes = join(tmp, "ui-annotations.json");
    const source = "live-page test";
    writeAnnotations(notes, { source, fault: null, updated: Date.now() });
    const cluster = await ProcessCluster.start(3, ["--ui-annotations", notes]);
    let stopLoad = false;
    let load: Promise<void> = Promise.resolve();
    try {
      const leader = await cluster.waitForLeader();
      // The page is served by a follower, which outlives the leader's kill.
      const viewer = [0, 1, 2].find((i) => i !== leader)!;
      // A light load (about 20 appends/s) through every node that runs, for the charts.
      load = (async () => {
        for (let n = 1; !stopLoad; n++) {
          const i = n % 3;
          if (cluster.isRunning(i)) await cluster.append(i, 77, n, n, 3000).catch(() => {});
          await sleep(40);
        }
      })();

      const { tab, close } = await launchChromium({ width: 1200, height: 900 });
      try {
        const origin = new URL(cluster.url(viewer, "/")).origin;
        const { errors, requests: foreign } = watchPage(tab, (url) => new URL(url).origin !== origin);
        const cards = tab.locator(".node");
        const detail = async () => `page: ${(await tab.locator("main").innerText().catch(() => "?")).slice(0, 1500)}\n${cluster.tailLogs(5)}`;

        await tab.goto(cluster.url(viewer, "/ui"), { waitUntil: "load" });
        // It renders: three members answering, one leader and two followers.
        await within(
          10_000,
          "three members up, one leader, two followers",
          async () =>
            (await tab.locator('.node[data-up="true"]').count()) === 3 &&
            (await tab.locator('.node[data-role="leader"]').count()) === 1 &&
            (await tab.locator('.node[data-role="follower"]').count()) === 2,
          detail,
        );
        expect(await cards.count()).toBe(3);
        expect(await tab.locator(`.node[data-node-id="${leader}"]`).getAttribute("data-role")).toBe("leader");
        expect(await tab.locator("#leader").innerText()).toContain(`node ${leader}`);
        expect(await tab.locator("body").getAttribute("data-leader")).toBe(String(leader));
        expect(await tab.locator(`.node[data-node-id="${viewer}"] .addr`).innerText()).toContain("serves this page");
        // The healthy nemesis banner, from the annotations file.
        expect(await tab.locator("#nemesis").innerText()).toContain("healthy");
        // Throughput and latency charts get lines once the nodes' 5 s windows fill.
        await within(12_000, "a throughput line", async () => ((await tab.locator("#chart-ops path.s-ok").getAttribute("d")) ?? "").includes("L"), detail);
        await sleep(DOCS ? 40_000 : 1_000);

        // kill -9 the leader, and the fault in the annotations file as a harness would write it.
        const pid = cluster.pid(leader);
        const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
        expect(comm).toMatch(/node/);
        let exitCode: number | null | undefined;
        cluster.onExit(leader, (code) => (exitCode = code));
        const killedAt = Date.now();
        writeAnnotations(notes, { source, fault: { kind: "kill", description: `SIGKILL node ${leader} (the leader)`, since: killedAt }, updated: killedAt });
        await cluster.kill(leader, "SIGKILL");
        // Outside evidence that it died: the OS reaped it (no exit code: ended by a signal) and its pid is gone.
        expect(exitCode).toBeNull();
        expect(existsSync(`/proc/${pid}`)).toBe(false);
        expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);

        // The page shows it down within a few seconds, and then the new leader.
        const downMs = await within(5_000, `node ${leader} shown down`, async () => (await tab.locator(`.node[data-node-id="${leader}"]`).getAttribute("data-up")) === "false", detail);
        const newLeaderCard = tab.locator('.node[data-role="leader"][data-up="true"]');
        const leaderMs = await within(
          8_000,
          "a new leader",
          async () => (await newLeaderCard.count()) === 1 && (await newLeaderCard.getAttribute("data-node-id")) !== String(leader),
          detail,
        );
        const shown = Number(await newLeaderCard.getAttribute("data-node-id"));
        // The page's leader is the one the surviving nodes agree on.
        expect(await cluster.waitForLeader()).toBe(shown);
        await within(3_000, "the header names the new leader", async () => (await tab.locator("#leader").innerText()).includes(`node ${shown}`), detail);
        expect(await tab.locator(`.node[data-node-id="${leader}"] .error`).innerText()).toMatch(/ECONNREFUSED/);
        expect(await tab.locator(`.node[data-node-id="${leader}"]`).innerText()).toContain("(leader)"); // last seen as the leader
        expect(await tab.locator('#events li[data-kind="down"]').count()).toBe(1);
        expect(await tab.locator('#events li[data-kind="leader"]').count()).toBeGreaterThanOrEqual(1);
        await within(3_000, "the nemesis banner shows the kill", async () => (await tab.locator("#nemesis").innerText()).includes(`SIGKILL node ${leader}`), detail);
        expect(await tab.locator('#events li[data-kind="fault"]').count()).toBe(1);
        expect(await tab.locator("#timeline rect.down").count()).toBeGreaterThanOrEqual(1);

        await sleep(DOCS ? 12_000 : 1_500); // a little of the new leader's throughput on the charts
        const shot = join(shotDir, "live-page.png");
        await tab.screenshot({ path: shot, fullPage: true });
        expect(statSync(shot).size).toBeGreaterThan(10_000);
        if (DOCS) {
          mkdirSync(join(ROOT, "docs/img"), { recursive: true });
          copyFileSync(shot, join(ROOT, "docs/img/ui.png"));
        }
        console.log(`live page: the kill of leader ${leader} shown after ${downMs} ms, new leader ${shown} after ${leaderMs} ms more; screenshot ${shot}`);
        expect(errors).toEqual([]);
        expect(foreign).toEqual([]); // nothing but the node itself: no CDN, no fonts
      } finally {
        await close();
      }
    } finally {
      stopLoad = true;
      await load;
      await cluster.destroy();
    }
  });
});
