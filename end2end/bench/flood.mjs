// The page under a flood: how much main-thread work each incoming message
// costs the reader's page, and whether it keeps drawing frames.
//
// Not a test (speed is measured here, never asserted): for each run it
// starts a fresh server (as tests/fixtures.ts does), opens the room in
// Chromium as a reader, floods N messages from a socket.io-client at a fixed
// rate, and prints frames per second (requestAnimationFrame), long tasks
// (PerformanceObserver "longtask"), main-thread task time per message (the
// DevTools protocol's TaskDuration), the time from the last message sent to
// the page showing it ("catch-up"), and the page's DOM nodes and JS heap.
//
//   cargo leptos build
//   node end2end/bench/flood.mjs                    # 2,000 at 100/s, then 3,000 at 1,000/s
//   node end2end/bench/flood.mjs 10000@1000 500@100 # runs of your choice: COUNT@RATE
//
// CHATROOM_SERVER_BIN and CHATROOM_SITE_ROOT point it at another build (say,
// main's, for a "before" figure). FLOOD_PROFILE=1 also records the page's
// CPU profile during each flood and prints the functions with the most self
// time (the WASM's names come from a debug build's name section).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "@playwright/test";
import { io } from "socket.io-client";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const serverBin = process.env.CHATROOM_SERVER_BIN ?? path.join(repo, "target", "debug", "server");
const siteRoot = process.env.CHATROOM_SITE_ROOT ?? path.join(repo, "target", "site");
const PASSWORD = "correct horse battery";
// Limits far above the flood: the page is measured, not the rate limiter.
const CHATTY = ["--message-burst", "100000", "--message-rate", "600000", "--event-burst", "100000",
  "--event-rate", "600000", "--events-in-flight", "100000", "--send-queue", "100000"];

const runs = (process.argv.slice(2).length ? process.argv.slice(2) : ["2000@100", "3000@1000"]).map((arg) => {
  const [count, rate] = arg.split("@").map(Number);
  if (!(count > 0 && rate > 0)) throw new Error(`a run is COUNT@RATE, not ${arg}`);
  return { count, rate };
});

/** Starts a server on a free port with its own data directory. */
async function startServer() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "chatroom-flood-"));
  const env = { ...process.env, LEPTOS_SITE_ROOT: siteRoot, RUST_LOG: "warn,server=info", NO_COLOR: "1" };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  const child = spawn(serverBin, ["--addr", "127.0.0.1:0", "--data-dir", dataDir, ...CHATTY], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no "listening on" within 20 s:\n${out}`)), 20_000);
    child.once("exit", (code) => reject(new Error(`the server exited (${code}):\n${out}`)));
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const found = /listening on (http:\/\/\S+)/.exec(out);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
  });
  return {
    url,
    async remove() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function registerToken(url, username) {
  const response = await fetch(`${url}/api/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  if (response.status !== 201) throw new Error(`register ${username}: ${response.status}`);
  return (await response.json()).token;
}

/** Installed in the page before the flood: frames per second and long tasks. */
function instrument() {
  const w = window;
  w.__flood = { frames: [], longTasks: [] };
  const frame = (t) => {
    w.__flood.frames.push(t);
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) w.__flood.longTasks.push([entry.startTime, entry.duration]);
  }).observe({ type: "longtask" });
}

async function metrics(cdp) {
  const { metrics } = await cdp.send("Performance.getMetrics");
  return Object.fromEntries(metrics.map((m) => [m.name, m.value]));
}

async function run(browser, { count, rate }) {
  const server = await startServer();
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await context.newPage();
  const sender = io(server.url, {
    transports: ["websocket"],
    auth: { token: await registerToken(server.url, "flooder") },
  });
  try {
    await page.goto(server.url);
    await page.locator("body[data-hydrated]").waitFor();
    await page.locator("#show-register").click();
    await page.locator("#username").fill("reader");
    await page.locator("#password").fill(PASSWORD);
    await page.locator("#auth-submit").click();
    await page.locator("main#room").waitFor();
    await sender.timeout(10_000).emitWithAck("add user", "flooder");
    await page.locator("#messages", { hasText: "flooder joined" }).waitFor();

    const cdp = await context.newCDPSession(page);
    await cdp.send("Performance.enable");
    await page.evaluate(instrument);
    if (process.env.FLOOD_PROFILE) {
      await cdp.send("Profiler.enable");
      await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
      await cdp.send("Profiler.start");
    }
    const before = await metrics(cdp);
    const start = await page.evaluate(() => performance.now());
    const t0 = Date.now();

    // The flood: `rate` a second, sent in 10 ms slices.
    const acked = [];
    let sent = 0;
    await new Promise((resolve) => {
      const slice = () => {
        const due = Math.min(count, Math.floor(((Date.now() - t0) / 1000) * rate) + 1);
        for (; sent < due; sent++) {
          const n = sent + 1;
          acked.push(sender.timeout(60_000).emitWithAck("new message", `flood ${n} of ${count}: the quick brown fox jumps over the lazy dog`));
        }
        if (sent >= count) resolve();
        else setTimeout(slice, 10);
      };
      slice();
    });
    await Promise.all(acked);
    const sentAt = Date.now();
    const last = `flood ${count} of ${count}:`;
    await page.waitForFunction((text) => document.querySelector("#messages")?.textContent?.includes(text), last, {
      polling: "raf",
      timeout: 600_000,
    });
    const caughtUp = Date.now();
    const end = await page.evaluate(() => performance.now());
    const after = await metrics(cdp);
    if (process.env.FLOOD_PROFILE) printProfile((await cdp.send("Profiler.stop")).profile);
    // After the flood: is the page still smooth when idle?
    const idleFrom = await page.evaluate(() => performance.now());
    await page.waitForTimeout(2_000);
    const data = await page.evaluate(() => window.__flood);

    const frames = (from, to) => data.frames.filter((t) => t >= from && t < to).length;
    const seconds = (end - start) / 1000;
    const longTasks = data.longTasks.filter(([t]) => t >= start && t < end);
    const lastSecond = frames(end - 1000, end);
    const perMessage = (metric) => +(((after[metric] - before[metric]) * 1000) / count).toFixed(2);
    return {
      run: `${count}@${rate}/s`,
      "flood s": +((sentAt - t0) / 1000).toFixed(1),
      "catch-up s": +((caughtUp - sentAt) / 1000).toFixed(2),
      "fps (whole flood)": +(frames(start, end) / seconds).toFixed(1),
      "fps (last second)": lastSecond,
      "fps (idle after)": +(frames(idleFrom, idleFrom + 2000) / 2).toFixed(1),
      "long tasks": longTasks.length,
      "long task ms": Math.round(longTasks.reduce((sum, [, d]) => sum + d, 0)),
      "main-thread ms/message": perMessage("TaskDuration"),
      "of which script": perMessage("ScriptDuration"),
      "layout": perMessage("LayoutDuration"),
      "style": perMessage("RecalcStyleDuration"),
      "DOM nodes": after.Nodes,
      "JS heap MB": +(after.JSHeapUsedSize / 1e6).toFixed(1),
    };
  } finally {
    sender.disconnect();
    await context.close();
    await server.remove();
  }
}

/** Prints the 20 functions with the most self time in a CPU profile. */
function printProfile(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  const deltas = profile.timeDeltas;
  profile.samples.forEach((id, i) => {
    const { functionName, url } = byId.get(id).callFrame;
    const name = functionName || `(${url.split("/").pop() || "program"})`;
    self.set(name, (self.get(name) ?? 0) + (deltas[i] ?? 0) / 1000);
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20);
  for (const [name, ms] of top) console.log(`${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${name.slice(0, 110)}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
});
try {
  const results = [];
  for (const r of runs) {
    const result = await run(browser, r);
    console.log(JSON.stringify(result));
    results.push(result);
  }
  console.table(results);
} finally {
  await browser.close();
}
