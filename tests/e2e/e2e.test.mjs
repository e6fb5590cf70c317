// End-to-end: the release build of the page, in headless Chromium, measuring the real mock LLM server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { ROOT, startMock, startStatic, launchBrowser, newPage } from "./harness.mjs";

let mock, site, browser;
const SHOTS = join(ROOT, "tests", "e2e", "screenshots");

before(async () => {
  [mock, site] = await Promise.all([startMock(), startStatic()]);
  browser = await launchBrowser();
  await mkdir(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  mock?.stop();
  site?.stop();
});

/** The page URL, prefilled to call the mock with the given timing knobs. */
function pageUrl(knobs) {
  const endpoint = `${mock.url}/v1/chat/completions?${new URLSearchParams(knobs)}`;
  return `${site.url}/?${new URLSearchParams({ url: endpoint, model: "mock-model", max_tokens: "20" })}`;
}

test("one streamed request: the shown TTFT matches the server's injected 200 ms", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(pageUrl({ ttft_ms: "200", itl_ms: "10", tokens: "20" }));
  // The first request also pays the CORS preflight and the TCP connect (both shown in its TTFT, as they should
  // be); the second rides the cached preflight and the kept-alive connection, so only the server's 200 ms remain.
  await page.click("#run");
  await page.waitForSelector('#status[data-status="done"]', { timeout: 15000 });
  const coldTtft = Number(await page.textContent("#ttft"));
  // Delays on a busy machine only ever add time, so the fastest of a few warm runs is the honest estimate of
  // what the client itself adds.
  const warm = [];
  for (let i = 0; i < 3; i++) {
    await page.click("#run");
    await page.waitForSelector('#status[data-status="running"]', { timeout: 15000 });
    await page.waitForSelector('#status[data-status="done"]', { timeout: 15000 });
    warm.push(Number(await page.textContent("#ttft")));
  }
  const ttft = Math.min(...warm);
  const ttlt = Number(await page.textContent("#ttlt"));
  const tokens = Number(await page.textContent("#output-tokens"));
  await page.screenshot({ path: join(SHOTS, "single-request.png"), fullPage: true });
  console.log(`TTFT cold ${coldTtft} ms, warm ${warm.join(", ")} ms, TTLT ${ttlt} ms (server: 200 ms + 19 x 10 ms)`);
  assert.ok(coldTtft >= 200, `cold TTFT ${coldTtft} ms cannot beat the server's 200 ms`);
  assert.ok(warm.every((t) => t >= 200), `no TTFT (${warm}) can beat the server's 200 ms`);
  assert.ok(ttft <= 200 + 15, `best warm TTFT ${ttft} ms should be within a few ms of 200 ms`);
  assert.ok(ttlt >= ttft + 19 * 10, `TTLT ${ttlt} ms should include 19 inter-token gaps of 10 ms`);
  assert.equal(tokens, 20);
  assert.equal(await page.textContent("#http-status"), "200");
  assert.deepEqual(errors, []);
  await page.close();
});

test("an HTTP 429 is shown as a typed, throttled failure and the page keeps working", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(pageUrl({ status: "429" }));
  await page.click("#run");
  await page.waitForSelector('#status[data-status="failed"]', { timeout: 15000 });
  assert.match(await page.textContent("#status"), /^throttled: HTTP 429/);
  assert.equal(await page.textContent("#http-status"), "429");
  // The same page then runs a healthy request.
  await page.fill("#endpoint-url", `${mock.url}/v1/chat/completions?ttft_ms=20`);
  await page.click("#run");
  await page.waitForSelector('#status[data-status="done"]', { timeout: 15000 });
  // Chromium logs failed fetches (the 429) to the console by itself; only uncaught page errors count here.
  assert.deepEqual(errors.filter((e) => e.startsWith("pageerror")), []);
  await page.close();
});

test("an unreachable endpoint is a network failure, not a crash", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(pageUrl({}));
  await page.fill("#endpoint-url", "http://127.0.0.1:9/v1/chat/completions");
  await page.click("#run");
  await page.waitForSelector('#status[data-status="failed"]', { timeout: 15000 });
  assert.match(await page.textContent("#status"), /^network: /);
  assert.deepEqual(errors.filter((e) => e.startsWith("pageerror")), []);
  await page.close();
});
