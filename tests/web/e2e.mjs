// Drives the web app in Debian's Chromium for tests/web.rs: one scenario
// per run, its findings printed as one JSON line on stdout. The Rust test
// decides what they must be; this script only acts as a singer would and
// reports what the page showed.
//
//   E2E='{"scenario":"sing","app":"http://127.0.0.1:PORT","wav":"…","out":"…"}' node tests/web/e2e.mjs
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const spec = JSON.parse(process.env.E2E ?? "{}");
const SETTLED = "#result:not([hidden]), #problem:not([hidden])";
const LONG = 180_000;

async function launch(fakeAudio) {
  const args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--autoplay-policy=no-user-gesture-required"];
  if (fakeAudio) {
    args.push("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", `--use-file-for-fake-audio-capture=${fakeAudio}`);
  }
  return chromium.launch({ executablePath: spec.chromium ?? "/usr/bin/chromium", headless: true, args });
}

async function open(browser, options = {}) {
  const context = await browser.newContext({ locale: options.locale ?? "en-US", viewport: options.viewport ?? { width: 900, height: 1100 } });
  await context.grantPermissions(["microphone"], { origin: spec.app });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  page.on("console", (message) => message.type() === "error" && consoleErrors.push(message.text()));
  await page.goto(spec.app + "/", { waitUntil: "load" });
  await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
  return { context, page, consoleErrors };
}

// From the keyboard alone: Tab to the record button (reporting how many
// presses it took), Enter to start, Enter again once the page's clock
// shows `seconds`.
async function sing(page, seconds) {
  let tabs = 0;
  while (tabs < 10 && (await page.evaluate(() => document.activeElement?.id)) !== "rec") {
    await page.keyboard.press("Tab");
    tabs += 1;
  }
  if ((await page.evaluate(() => document.activeElement?.id)) !== "rec") throw new Error("Tab never reached the record button");
  await page.keyboard.press("Enter");
  await page.waitForFunction((s) => parseFloat(document.getElementById("clock").value) >= s, seconds, { timeout: LONG });
  await page.keyboard.press("Enter");
  return tabs;
}

async function findings(page, consoleErrors) {
  return page.evaluate((errors) => {
    const text = (id) => document.getElementById(id)?.textContent ?? "";
    const visible = (id) => !document.getElementById(id).hidden;
    const range = document.getElementById("range-text");
    return {
      result: visible("result"),
      problem: visible("problem") ? document.getElementById("problem").dataset.code : null,
      problemText: visible("problem") ? text("problem-text") : null,
      sendAnyway: !document.getElementById("send-anyway").hidden,
      lowest: range.dataset.lowest ?? null,
      highest: range.dataset.highest ?? null,
      rangeText: text("range-text"),
      voiceType: text("voice-type"),
      songs: [...document.querySelectorAll("#songs li")].map((li) => ({ text: li.textContent, keyShift: li.dataset.keyShift ?? null })),
      states: [...document.querySelectorAll("#states li")].map((li) => li.dataset.state),
      heading: text("record-title"),
      who: text("who"),
      lang: document.documentElement.lang,
      keyboardLabel: document.querySelector("#keyboard svg")?.getAttribute("aria-label") ?? null,
      stopToResultMs: Number(document.body.dataset.stopToResultMs ?? NaN),
      uploadId: document.body.dataset.uploadId ?? null,
      errors,
    };
  }, consoleErrors);
}

// Chooses `spec.file` on a fresh page opened with `options` and reports
// what the page settled on.
async function chooseFile(options, screenshot) {
  const browser = await launch(null);
  const { page, consoleErrors } = await open(browser, options);
  await page.setInputFiles("#file", spec.file);
  await page.waitForSelector(SETTLED, { timeout: LONG });
  const found = await findings(page, consoleErrors);
  await page.screenshot({ path: join(spec.out, screenshot), fullPage: true });
  await browser.close();
  return found;
}

async function scriptSeconds(cdp) {
  const { metrics } = await cdp.send("Performance.getMetrics");
  return metrics.find((m) => m.name === "ScriptDuration").value;
}

async function transferBytes(page) {
  return page.evaluate(() => performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"))
    .filter((e) => new URL(e.name).origin === location.origin && !e.name.includes("/v1/"))
    .reduce((sum, e) => sum + (e.transferSize || e.encodedBodySize || 0), 0));
}

const scenarios = {
  // A take from the fake microphone, with the live readout's cost measured.
  async sing() {
    const browser = await launch(spec.wav);
    const { page, context, consoleErrors } = await open(browser);
    const cdp = await context.newCDPSession(page);
    await cdp.send("Performance.enable");
    const idleStart = await scriptSeconds(cdp);
    const idleWall = performance.now();
    await page.waitForTimeout(3000);
    const idle = (await scriptSeconds(cdp) - idleStart) / ((performance.now() - idleWall) / 1000);
    const recStart = await scriptSeconds(cdp);
    const recWall = performance.now();
    let notesSeen = new Set();
    const watch = setInterval(() => page.evaluate(() => document.getElementById("note").value).then((n) => notesSeen.add(n)).catch(() => {}), 250);
    const tabs = await sing(page, spec.seconds ?? 7.4);
    clearInterval(watch);
    const recording = (await scriptSeconds(cdp) - recStart) / ((performance.now() - recWall) / 1000);
    await page.waitForSelector(SETTLED, { timeout: LONG });
    const found = await findings(page, consoleErrors);
    await page.screenshot({ path: join(spec.out, "sing.png"), fullPage: true });
    const bytes = await transferBytes(page);
    await browser.close();
    return { ...found, tabs, liveNotes: [...notesSeen].filter((n) => n !== "–"), cpu: { idle, recording }, transferBytes: bytes };
  },

  // A recording chosen from disk instead of sung.
  async file() {
    return chooseFile({ viewport: { width: 390, height: 844 } }, "file.png");
  },

  // A silent microphone: flagged before sending; sent anyway, explained.
  async silent() {
    const browser = await launch(spec.wav);
    const { page, consoleErrors } = await open(browser);
    await sing(page, spec.seconds ?? 3.5);
    await page.waitForSelector("#problem:not([hidden])", { timeout: LONG });
    const before = await findings(page, consoleErrors);
    await page.screenshot({ path: join(spec.out, "silent-before.png"), fullPage: true });
    if (before.sendAnyway) {
      await page.click("#send-anyway");
      await page.waitForFunction(() => document.getElementById("problem").dataset.code && document.getElementById("problem").dataset.code !== "quiet", null, { timeout: LONG });
    }
    const after = await findings(page, consoleErrors);
    await page.screenshot({ path: join(spec.out, "silent.png"), fullPage: true });
    await browser.close();
    return { before, after, errors: after.errors };
  },

  // The page in Korean, from the browser's language, through to songs.
  async korean() {
    return chooseFile({ locale: "ko-KR" }, "korean.png");
  },

  // A take too short to measure, then the network gone: plain words both times.
  async problems() {
    const browser = await launch(null);
    const { page, context, consoleErrors } = await open(browser);
    await page.setInputFiles("#file", spec.shortFile);
    await page.waitForSelector("#problem:not([hidden])", { timeout: LONG });
    const short = await findings(page, consoleErrors);
    await page.screenshot({ path: join(spec.out, "too-short.png"), fullPage: true });
    await page.click("#problem-again");
    await context.setOffline(true);
    await page.setInputFiles("#file", spec.file);
    await page.waitForSelector("#problem:not([hidden])", { timeout: LONG });
    const offline = await findings(page, consoleErrors);
    await page.screenshot({ path: join(spec.out, "offline.png"), fullPage: true });
    await browser.close();
    const errors = offline.errors.filter((e) => !e.includes("ERR_INTERNET_DISCONNECTED"));
    return { short, offline, errors };
  },

  // The PUT reaches the store after its presigned URL has expired.
  async expired() {
    const browser = await launch(null);
    const { page, consoleErrors } = await open(browser);
    let held = 0;
    await page.route((url) => url.port === String(spec.storePort), async (route) => {
      if (route.request().method() === "PUT") {
        held += 1;
        await new Promise((resolve) => setTimeout(resolve, spec.holdMs));
      }
      await route.continue();
    });
    await page.setInputFiles("#file", spec.file);
    await page.waitForSelector("#problem:not([hidden])", { timeout: LONG });
    const found = await findings(page, consoleErrors);
    await page.screenshot({ path: join(spec.out, "expired.png"), fullPage: true });
    await browser.close();
    // The store's refusal of the late PUT is the expected failure: 403, or
    // 502 from the CORS front when s3s-fs hangs up before reading the body.
    const errors = found.errors.filter((e) => !e.includes("status of 403") && !e.includes("status of 502"));
    return { ...found, held, errors };
  },

  // Sign-in through the identity provider (authorization code + PKCE).
  async oidc() {
    const browser = await launch(null);
    const context = await browser.newContext({ locale: "en-US" });
    const page = await context.newPage();
    const consoleErrors = [];
    page.on("pageerror", (error) => consoleErrors.push(String(error)));
    await page.goto(spec.app + "/", { waitUntil: "load" });
    await page.waitForSelector("body[data-ready=true]");
    const before = await findings(page, consoleErrors);
    await page.click("#sign-in");
    await page.waitForSelector("#approve", { timeout: 30_000 });
    await page.click("#approve");
    await page.waitForURL((url) => url.origin === spec.app && !url.search, { timeout: 30_000 });
    await page.waitForSelector("body[data-ready=true]");
    await page.setInputFiles("#file", spec.file);
    await page.waitForSelector(SETTLED, { timeout: LONG });
    const after = await findings(page, consoleErrors);
    await page.screenshot({ path: join(spec.out, "oidc.png"), fullPage: true });
    await browser.close();
    return { before, after, errors: after.errors };
  },
};

mkdirSync(spec.out, { recursive: true });
try {
  const found = await scenarios[spec.scenario]();
  console.log(JSON.stringify({ scenario: spec.scenario, ...found }));
} catch (error) {
  console.log(JSON.stringify({ scenario: spec.scenario, failure: String(error?.stack ?? error) }));
  process.exitCode = 1;
}
