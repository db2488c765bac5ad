// First and repeat page load of a running Chatroom on a throttled slow 4G
// link, in Chromium driven by Playwright over the DevTools protocol:
// 400 kbit/s down and up, 400 ms round trip, the CPU slowed four times.
//
//   node bench/page-load.mjs http://127.0.0.1:3000 [runs]
//
// For each run, a fresh browser context (an empty cache) opens the page and
// waits until it has hydrated (`body[data-hydrated]`): "first load". The
// same context then opens it again: "repeat load" (what the cache saves).
// Bytes are what crossed the wire (compressed sizes, headers included), from
// the DevTools protocol's `encodedDataLength`; times are from the start of
// the navigation until hydration. Prints each run and the median as a
// Markdown table. Needs the npm packages of end2end/ (`npm ci` there) and
// Debian's Chromium at /usr/bin/chromium.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(repo, "end2end", "package.json"));
const { chromium } = require("@playwright/test");

const url = process.argv[2] ?? "http://127.0.0.1:3000";
const runs = Number(process.argv[3] ?? 3);
/** Slow 4G as issue #13 names it: bytes per second, milliseconds. */
const LINK = { offline: false, latency: 400, downloadThroughput: 400_000 / 8, uploadThroughput: 400_000 / 8 };
const CPU_SLOWDOWN = 4;
/** How long after hydration the bytes still arriving are counted. */
const SETTLE_MS = 1_000;
/** A load that takes longer than this has failed. */
const TIMEOUT_MS = 180_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});

/** Opens `url` in `page` and waits for hydration; returns bytes, requests and milliseconds. */
async function load(page, cdp) {
  let bytes = 0;
  let requests = 0;
  const finished = (event) => {
    bytes += event.encodedDataLength;
    requests += 1;
  };
  cdp.on("Network.loadingFinished", finished);
  const started = performance.now();
  await page.goto(url, { waitUntil: "commit", timeout: TIMEOUT_MS });
  await page.waitForSelector("body[data-hydrated]", { timeout: TIMEOUT_MS });
  const ms = performance.now() - started;
  // What was still arriving at hydration counts too. (Not "network idle":
  // the page's own requests after hydration may keep it from ever being so.)
  await page.waitForTimeout(SETTLE_MS);
  cdp.off("Network.loadingFinished", finished);
  return { bytes, requests, ms };
}

const results = [];
try {
  for (let run = 0; run < runs; run++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", LINK);
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: CPU_SLOWDOWN });
    const first = await load(page, cdp);
    const repeat = await load(page, cdp);
    results.push({ first, repeat });
    console.error(`run ${run + 1}: first ${fmt(first)}; repeat ${fmt(repeat)}`);
    await context.close();
  }
} finally {
  await browser.close();
}

function fmt({ bytes, requests, ms }) {
  return `${(bytes / 1000).toFixed(1)} kB in ${requests} requests, ${(ms / 1000).toFixed(2)} s`;
}

const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log(`| load (median of ${runs}) | bytes | requests | until hydrated |`);
console.log("|---|---|---|---|");
for (const kind of ["first", "repeat"]) {
  const bytes = median(results.map((r) => r[kind].bytes));
  const requests = median(results.map((r) => r[kind].requests));
  const ms = median(results.map((r) => r[kind].ms));
  console.log(`| ${kind} | ${(bytes / 1000).toFixed(1)} kB | ${requests} | ${(ms / 1000).toFixed(2)} s |`);
}
