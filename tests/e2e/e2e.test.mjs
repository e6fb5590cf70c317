// End-to-end: the release build of the page, in headless Chromium, measuring the real mock LLM server and the
// built-in simulated model.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, startMock, startStatic, launchBrowser, newPage } from "./harness.mjs";

let mock, h2mock, site, browser;
const SHOTS = join(ROOT, "tests", "e2e", "screenshots");
const SAMPLE = join(ROOT, "tests", "data", "llmeter", "sample-openai");

before(async () => {
  [mock, h2mock, site] = await Promise.all([startMock(), startMock({}, { tls: true }), startStatic()]);
  browser = await launchBrowser();
  await mkdir(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  mock?.stop();
  h2mock?.stop();
  site?.stop();
});

/** The page URL with the form prefilled; `knobs` configure the mock server through the endpoint URL. */
function pageUrl(form, knobs) {
  const params = { ...form };
  if (knobs) {
    params.endpoint = "openai";
    params.url = `${mock.url}/v1/chat/completions?${new URLSearchParams(knobs)}`;
  }
  return `${site.url}/?${new URLSearchParams(params)}`;
}

/** Clicks Run and waits for the run to end in `status`. */
async function run(page, status = "done") {
  await page.click("#run");
  await page.waitForSelector(`#status[data-status="${status}"]`, { timeout: 30000 });
}

const stat = async (page, key) => page.textContent(`#live-table [data-stat="${key}"]`);
const pageErrors = (errors) => errors.filter((e) => e.startsWith("pageerror"));

test("one streamed request: the shown TTFT matches the server's injected 200 ms", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(pageUrl({ clients: "1", requests: "1", max_tokens: "20" }, { ttft_ms: 200, itl_ms: 10, tokens: 20 }));
  // The first request also pays the CORS preflight and the TCP connect (both belong in its TTFT); later ones ride
  // the cached preflight and the kept-alive connection. Delays on a busy machine only ever add time, so the
  // fastest warm run is the honest estimate of what the client itself adds.
  await run(page);
  const cold = Number(await stat(page, "time_to_first_token-p50"));
  const warm = [];
  for (let i = 0; i < 5; i++) {
    await run(page);
    warm.push(Number(await stat(page, "time_to_first_token-p50")));
  }
  const ttft = Math.min(...warm);
  const ttlt = Number(await stat(page, "time_to_last_token-p50"));
  // The browser's own floor: the same request with a bare fetch() and reader in page JavaScript.
  const bare = await page.evaluate(async (url) => {
    const times = [];
    for (let i = 0; i < 4; i++) {
      const body = JSON.stringify({ model: "mock-model", messages: [{ role: "user", content: "hi" }], stream: true });
      const t0 = performance.now();
      const reader = (await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body }))
        .body.getReader();
      // The first token is the first read with content (the role chunk comes at once, before the TTFT wait).
      const text = new TextDecoder();
      let first = null;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (first === null && text.decode(value, { stream: true }).includes('"content":"tok')) {
          first = performance.now() - t0;
        }
      }
      times.push(first);
    }
    return Math.min(...times.slice(1));
  }, `${mock.url}/v1/chat/completions?ttft_ms=200&itl_ms=10&tokens=20`);
  console.log(`TTFT cold ${cold} ms, warm ${warm.join(", ")} ms; bare fetch() ${bare.toFixed(1)} ms; ` +
    `TTLT ${ttlt} ms (server: 200 ms + 19 x 10 ms)`);
  assert.ok(cold >= 200, `cold TTFT ${cold} ms cannot beat the server's 200 ms`);
  assert.ok(warm.every((t) => t >= 200), `no TTFT (${warm}) can beat the server's 200 ms`);
  // Within a few ms of what the browser itself allows (a bare fetch sees ~205 ms here: the network service adds
  // a few ms on loopback), and never far from the server's 200 ms. Measured on the CI machine: our path adds
  // 4–12 ms over the bare fetch (wasm, futures and the page's own work on the main thread); 15 ms is the bound.
  assert.ok(ttft <= bare + 15, `best warm TTFT ${ttft} ms should be within a few ms of a bare fetch (${bare} ms)`);
  assert.ok(ttft <= 200 + 25, `best warm TTFT ${ttft} ms should be within a few ms of 200 ms`);
  assert.ok(ttlt >= 200 + 19 * 10, `TTLT ${ttlt} ms includes 19 inter-token gaps of 10 ms`);
  assert.equal(await stat(page, "total_output_tokens"), "20");
  assert.equal(await stat(page, "failed_requests"), "0");
  await page.screenshot({ path: join(SHOTS, "single-request.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test("a first run on the built-in simulated model needs no URL or key", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(pageUrl({ clients: "4", requests: "2", max_tokens: "16" }));
  assert.equal(await page.inputValue("#endpoint-kind"), "simulated");
  await run(page);
  assert.equal(await stat(page, "total_requests"), "8");
  assert.equal(await stat(page, "failed_requests"), "0");
  assert.ok(Number(await stat(page, "time_to_first_token-p50")) > 0);
  assert.match(await page.textContent("#progress"), /^8 sent · 8 finished · 0 failed · 0 cancelled · 0 in flight$/);
  assert.match(await page.textContent("#progress-eta"), /^100% · \d+\.\d s elapsed$/);
  assert.equal(await page.getAttribute("#progress-bar", "value"), "1");
  await page.screenshot({ path: join(SHOTS, "simulated-run.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test("HTTP 429s and unreachable servers are typed failures, counted once, and the page keeps working", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  // The cold-start check is off: it would stop these runs before they start (its own test is below).
  await page.goto(pageUrl({ clients: "2", requests: "2", check: "false" }, { status: 429 }));
  await run(page);
  assert.equal(await stat(page, "failed_requests_throttled"), "4");
  assert.equal(await stat(page, "failed_requests_rate"), "100.0%");
  await page.fill("#endpoint-url", "http://127.0.0.1:9/v1/chat/completions");
  await run(page);
  assert.equal(await stat(page, "failed_requests_network"), "4");
  await page.fill("#endpoint-url", `${mock.url}/v1/chat/completions?ttft_ms=5&tokens=3`);
  await run(page);
  assert.equal(await stat(page, "failed_requests"), "0");
  // Chromium itself logs failed fetches to the console; only uncaught page errors would be ours.
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("Stop ends a time-bound run: in-flight requests are cancelled and every request is counted once", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(pageUrl({ clients: "3", requests: "", duration: "60" }, { ttft_ms: 300, itl_ms: 50, tokens: 40 }));
  await page.click("#run");
  await page.waitForFunction(() => /^[1-9]\d* sent/.test(document.querySelector("#progress").textContent));
  await page.waitForTimeout(400);
  await page.click("#stop");
  await page.waitForSelector('#status[data-status="stopped"]', { timeout: 15000 });
  const progress = await page.textContent("#progress");
  const [, sent, finished, failed, cancelled, inFlight] =
    progress.match(/^(\d+) sent · (\d+) finished · (\d+) failed · (\d+) cancelled · (\d+) in flight$/);
  assert.equal(sent, finished);
  assert.equal(inFlight, "0");
  assert.equal(failed, "0");
  // Cancelled requests are counted once, apart: not failures, not in total_requests (LLMeter's interrupted runs).
  assert.equal(await stat(page, "failed_requests_cancelled"), cancelled);
  assert.ok(Number(cancelled) >= 1);
  assert.equal(await stat(page, "failed_requests"), "0");
  assert.equal(Number(await stat(page, "total_requests")), Number(finished) - Number(cancelled));
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("exported files are LLMeter-shaped and never contain the API key", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(pageUrl({ clients: "2", requests: "2", max_tokens: "8" }, { ttft_ms: 10, itl_ms: 1, tokens: 8 }));
  const secret = "sk-test-DO-NOT-EXPORT-123";
  await page.fill("#api-key", secret);
  await run(page);
  const downloads = [];
  page.on("download", (d) => downloads.push(d));
  await page.click("#export");
  await page.waitForFunction(() => true);
  for (let i = 0; i < 50 && downloads.length < 5; i++) await page.waitForTimeout(100);
  const files = {};
  for (const d of downloads) files[d.suggestedFilename()] = await readFile(await d.path(), "utf8");
  assert.deepEqual(Object.keys(files).sort(),
    ["responses.jsonl", "run_config.json", "stats.json", "summary.json", "tokenmeter_responses.jsonl"]);
  for (const [name, text] of Object.entries(files)) assert.ok(!text.includes(secret), `${name} leaks the key`);
  const stats = JSON.parse(files["stats.json"]);
  assert.equal(stats.total_requests, 4);
  // The clock the numbers were taken with: this test page is not cross-origin isolated (100 µs steps).
  const clock = JSON.parse(files["run_config.json"]).tokenmeter_clock;
  assert.equal(clock.cross_origin_isolated, false);
  assert.ok(clock.timer_resolution_us >= 50 && clock.timer_resolution_us <= 200, JSON.stringify(clock));
  assert.match(await page.textContent("#isolation-note"), /not cross-origin isolated/);
  assert.ok(stats["time_to_first_token-p50"] >= 0.01);
  const lines = files["responses.jsonl"].trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 4);
  assert.deepEqual(Object.keys(lines[0]), ["response_text", "input_payload", "id", "input_prompt",
    "time_to_first_token", "time_to_last_token", "num_tokens_input", "num_tokens_output", "num_tokens_input_cached",
    "num_tokens_output_reasoning", "time_per_output_token", "error", "retries", "request_time"]);
  // Scripts wait on data-run-state and fetch one file by its own button, named by the file.
  assert.equal(await page.getAttribute("#status", "data-run-state"), "done");
  const one = page.waitForEvent("download");
  await page.getByRole("button", { name: "stats.json", exact: true }).click();
  const single = await one;
  assert.equal(single.suggestedFilename(), "stats.json");
  assert.equal(JSON.parse(await readFile(await single.path(), "utf8")).total_requests, 4);
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("an LLMeter run folder imports, recomputes and joins the comparison; a bad file gets a clear error", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(pageUrl({}));
  // Without stats.json: every figure shown must come from recomputing the responses.
  await page.setInputFiles("#import", ["run_config.json", "responses.jsonl", "summary.json"]
    .map((f) => join(SAMPLE, f)));
  await page.waitForSelector("#comparison");
  assert.match(await page.textContent("#comparison thead"), /sample-openai \(imported\)/);
  // LLMeter's own stats.json says p50 TTFT = 0.05519584399962696 s.
  assert.equal(await stat(page, "time_to_first_token-p50"), "55.2");
  assert.equal(await stat(page, "total_requests"), "20");
  assert.equal(await stat(page, "total_output_tokens"), "400");
  // Recomputed under LLMeter's own rules (the folder names none), its p90 and p99 equal LLMeter's stats.json,
  // which the linear method would not give for 20 values.
  const own = JSON.parse(await readFile(join(SAMPLE, "stats.json"), "utf8"));
  for (const key of ["time_to_first_token-p90", "time_to_first_token-p99", "time_to_last_token-p99"]) {
    assert.equal(await stat(page, key), (own[key] * 1e3).toFixed(1), key);
  }
  assert.match(await page.textContent("#status"), /own rules \(percentiles: llmeter, rate window: llmeter\)/);
  await page.setInputFiles("#import", { name: "responses.jsonl", mimeType: "application/json",
    buffer: Buffer.from('{"response_text": "a"}\n{not json}\n') });
  await page.waitForSelector("#import-error");
  assert.match(await page.textContent("#import-error"), /responses\.jsonl, line 2/);
  await page.screenshot({ path: join(SHOTS, "import.png"), fullPage: true });
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("over HTTP/1.1 the browser's 6-connection limit is warned about and measured as queue time", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  // Fan-out (on by default for a local server) would spread the clients over *.localhost names: off here.
  await page.goto(pageUrl({ clients: "10", requests: "2", fan_out: "off" }, { ttft_ms: 300, itl_ms: 5, tokens: 5 }));
  // Warned before the run starts: as soon as the settings would queue, with what happens and the fixes.
  const warning = await page.textContent("#client-warning");
  assert.match(warning, /plain HTTP, so the browser speaks HTTP\/1\.1 to it and opens at most 6 connections/);
  assert.match(warning, /Use HTTPS with HTTP\/2, or at most 6 clients/);
  await page.fill("#clients", "6");
  await page.waitForSelector("#client-warning", { state: "detached" });
  await page.fill("#clients", "10");
  await run(page);
  assert.match(await page.textContent("#client-warning"), /at most 6 connections/);
  // Requests 7–10 of each wave wait for a free connection: about one request (≥ 300 ms) in the browser's queue.
  const queueP99 = Number(await stat(page, "browser_queue_time-p99"));
  const ttftP99 = Number(await stat(page, "time_to_first_token-p99"));
  console.log(`browser queue p99 ${queueP99} ms, TTFT p99 ${ttftP99} ms (server TTFT 300 ms)`);
  assert.ok(queueP99 >= 250, `queue p99 ${queueP99} ms should show the wait for a connection`);
  assert.ok(ttftP99 >= 300 + 250, `TTFT p99 ${ttftP99} ms includes that wait`);
  assert.match(await page.textContent(".client-health"), /^Browser-limited: 1% of requests waited more than/);
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("over HTTPS the browser speaks HTTP/2: 32 concurrent streams on one connection, none waits for a connection", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  const url = `${h2mock.url}/v1/chat/completions?${new URLSearchParams({ ttft_ms: 200, itl_ms: 5, tokens: 5 })}`;
  await page.goto(`${site.url}/?${new URLSearchParams({ endpoint: "openai", url, clients: "32", requests: "2" })}`);
  await run(page);
  assert.equal(await stat(page, "total_requests"), "64", await page.textContent("#status"));
  assert.equal(await stat(page, "failed_requests"), "0");
  // Every request went out at once: none waited in the browser for a connection (queue p99 well under a TTFT).
  const queueP99 = Number(await stat(page, "browser_queue_time-p99"));
  const ttftP50 = Number(await stat(page, "time_to_first_token-p50"));
  const ttftP99 = Number(await stat(page, "time_to_first_token-p99"));
  console.log(`HTTP/2, 32 streams: TTFT p50 ${ttftP50} ms, p99 ${ttftP99} ms, browser queue p99 ${queueP99} ms`);
  // Waiting for a connection would cost a whole response (≥ 200 ms here, as over HTTP/1.1 above); what remains is
  // the browser's own cost of starting 32 requests at once (10–45 ms p99 on 2 cores; a bare fetch pays it too).
  assert.ok(queueP99 < 100, `browser queue p99 ${queueP99} ms: requests waited for a connection`);
  // Over HTTP/1.1, 32 clients on 6 connections wait in waves: most requests would take two TTFTs or more.
  assert.ok(ttftP50 < 2 * 200, `TTFT p50 ${ttftP50} ms: requests waited for one another`);
  // The engine's worker saw every request go out over HTTP/2.
  const protocols = await page.workers()[0].evaluate((origin) => [...new Set(performance.getEntriesByType("resource")
    .filter((e) => e.name.startsWith(origin)).map((e) => e.nextHopProtocol))], h2mock.url);
  assert.deepEqual(protocols, ["h2"]);
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("a LoadTest sweep runs one level per client count and charts them side by side", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(pageUrl({ clients: "1", requests: "1", max_tokens: "8", sweep: "1,2,4" }));
  await run(page);
  const header = await page.textContent("#comparison thead");
  assert.match(header, /00001-clients.*00002-clients.*00004-clients/s);
  // LLMeter's sizing: at least 10 requests per level, at least 1 per client.
  const totals = await page.$$eval('#comparison [data-stat="total_requests"]', (cells) => cells.map((c) => c.textContent));
  assert.deepEqual(totals, ["10", "10", "12"]);
  assert.equal(await page.locator("#charts svg").count(), 2);
  await page.screenshot({ path: join(SHOTS, "sweep.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

/** The page URL for `api` (streaming or not) against the mock server's base URL, with the mock's knobs. */
function apiUrl(api, stream, form, knobs) {
  const base = api === "anthropic-messages" ? mock.url : `${mock.url}/v1`;
  const params = { api, stream: stream ? "1" : "0", endpoint: "http", url: `${base}?${new URLSearchParams(knobs)}`, ...form };
  return `${site.url}/?${new URLSearchParams(params)}`;
}

const APIS = ["openai-chat", "openai-responses", "anthropic-messages"];

test("every API, streamed and not, measures the injected timing and counts tokens through the page", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  for (const api of APIS) {
    for (const stream of [true, false]) {
      await page.goto(apiUrl(api, stream, { clients: "1", requests: "4", max_tokens: "50" },
        { ttft_ms: 150, itl_ms: 5, tokens: 10 }));
      assert.equal(await page.inputValue("#api"), api);
      await run(page);
      const label = `${api} stream=${stream}`;
      assert.equal(await stat(page, "failed_requests"), "0", label);
      assert.equal(await stat(page, "total_requests"), "4", label);
      assert.equal(await stat(page, "total_output_tokens"), "40", label);
      // The counts are the server's usage, not the word-count fallback (which would give the same 40 here).
      assert.equal(await page.locator('#live-table [data-stat="requests_with_estimated_tokens"]').count(), 0, label);
      const ttft = Number(await stat(page, "time_to_first_token-p50"));
      const ttlt = Number(await stat(page, "time_to_last_token-p50"));
      if (stream) {
        // p50 of 4 requests: warm ones, past the first request's CORS preflight and connect.
        console.log(`${label}: TTFT p50 ${ttft} ms (server 150 ms), TTLT p50 ${ttlt} ms (server 195 ms)`);
        assert.ok(ttft >= 150 && ttft <= 150 + 25, `${label}: TTFT p50 ${ttft} ms should be within a few ms of 150`);
        assert.ok(ttlt >= 150 + 9 * 5, `${label}: TTLT ${ttlt} ms includes 9 gaps of 5 ms`);
      } else {
        // One body: no token timing exists; the request ends when the whole answer is there.
        console.log(`${label}: TTLT p50 ${ttlt} ms (server 200 ms)`);
        assert.equal(await stat(page, "time_to_first_token-p50"), "—", label);
        assert.ok(ttlt >= 150 + 10 * 5 && ttlt <= 200 + 40, `${label}: TTLT ${ttlt} ms`);
      }
    }
  }
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("each API's faults are typed: HTTP errors, in-stream error events and truncated streams", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  const faults = [
    [{ status: 429 }, "failed_requests_throttled"],
    [{ error_after: 3, error_kind: "throttled" }, "failed_requests_throttled"],
    [{ error_after: 3, error_kind: "server" }, "failed_requests_provider"],
    [{ fail_after: 3 }, "failed_requests_stream"],
  ];
  for (const api of APIS) {
    for (const [knobs, key] of faults) {
      await page.goto(apiUrl(api, true, { clients: "2", requests: "1", check: "false" },
        { ttft_ms: 5, itl_ms: 1, tokens: 8, ...knobs }));
      await run(page);
      const label = `${api} ${JSON.stringify(knobs)}`;
      assert.equal(await stat(page, key), "2", label);
      assert.equal(await stat(page, "failed_requests"), "2", label);
      assert.equal(await stat(page, "total_requests"), "2", `${label}: each request counted once`);
    }
  }
  await page.screenshot({ path: join(SHOTS, "faults.png"), fullPage: true });
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("out-of-range and unknown settings get a clear error beside their field, and the page keeps working", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(pageUrl({ clients: "4000000000", requests: "1" }));
  await page.click("#run");
  await page.waitForSelector('#status[data-status="invalid"]');
  assert.match(await page.textContent("#status"), /^Clients: must be a whole number between 1 and 10000/);
  assert.match(await page.textContent('.field-error[data-field="clients"]'), /between 1 and 10000/);
  await page.fill("#clients", "2");
  await run(page);
  assert.equal(await stat(page, "total_requests"), "2");

  await page.goto(pageUrl({ mode: "burst", requests: "1" }));
  await page.click("#run");
  await page.waitForSelector('#status[data-status="invalid"]');
  assert.match(await page.textContent("#status"), /^Arrivals: unknown mode "burst": use closed, rate, poisson or trace/);
  await page.selectOption("#mode", "closed");
  await run(page);
  assert.equal(await stat(page, "failed_requests"), "0");
  await page.screenshot({ path: join(SHOTS, "invalid-input.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test("a run too large for the browser is warned about before it starts, and low memory bounds its memory", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  // 100 clients × 10,000 requests of up to 200 tokens: a million records. Their responses go to the browser's
  // storage as they finish (r22), so memory holds the statistics, but storage may not hold them all.
  await page.goto(pageUrl({ clients: "100", requests: "10000", max_tokens: "200" }));
  await page.click("#run");
  await page.waitForSelector("#memory-estimate.warning");
  const warning = await page.textContent("#memory-estimate");
  assert.match(warning, /^Memory: about \d+\.\d MB for 1000000 requests of up to 200 chunks; each response goes to the browser's storage as it finishes \(about \d+\.\d GB\)/);
  assert.match(warning, /more storage than the browser gives this page/);
  await page.click("#stop");
  await page.waitForSelector('#status[data-status="stopped"]', { timeout: 15000 });
  await page.check("#low-memory");
  await page.click("#run");
  await page.waitForFunction(() => /inter-token gaps binned \(percentiles within 0\.1%\)/.test(
    document.querySelector("#memory-estimate")?.textContent ?? ""));
  await page.waitForSelector(".precision");
  assert.match(await page.textContent(".precision"), /within 0\.1% of the exact values/);
  await page.click("#stop");
  await page.waitForSelector('#status[data-status="stopped"]', { timeout: 15000 });
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

/** A page measuring an AWS API on the mock server, signed with the documented example credentials. */
async function awsPage(browser, errors, form, knobs, secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY") {
  const page = await newPage(browser, errors);
  const params = { endpoint: "http", region: "us-east-1", aws_auth: "sigv4", url: `${mock.url}?${new URLSearchParams(knobs)}`,
    clients: "1", requests: "4", max_tokens: "50", ...form };
  await page.goto(`${site.url}/?${new URLSearchParams(params)}`);
  // Credentials are typed, never put in the URL.
  await page.fill("#aws-access-key-id", "AKIDEXAMPLE");
  await page.fill("#aws-secret-access-key", secret);
  return page;
}

const AWS_APIS = [
  [{ api: "bedrock-converse", model: "anthropic.claude-3-haiku-20240307-v1:0" }, true],
  [{ api: "bedrock-invoke", body: "anthropic", model: "anthropic.claude-3-haiku-20240307-v1:0" }, true],
  [{ api: "sagemaker", container: "tgi", model: "my-tgi-endpoint" }, false],
];

test("AWS streams signed with SigV4 in the page: TTFT, tokens and the provider's own latency", async () => {
  const errors = [];
  for (const [form, serverLatency] of AWS_APIS) {
    const page = await awsPage(browser, errors, form, { ttft_ms: 150, itl_ms: 5, tokens: 10 });
    await run(page);
    const label = form.api;
    assert.equal(await stat(page, "failed_requests"), "0", `${label}: ${await page.textContent("#status")}`);
    assert.equal(await stat(page, "total_requests"), "4", label);
    assert.equal(await stat(page, "total_output_tokens"), "40", label);
    const ttft = Number(await stat(page, "time_to_first_token-p50"));
    console.log(`${label}: TTFT p50 ${ttft} ms (server 150 ms)`);
    assert.ok(ttft >= 150 && ttft <= 150 + 25, `${label}: TTFT p50 ${ttft} ms should be within a few ms of 150`);
    if (serverLatency) {
      const server = Number(await stat(page, "server_latency-p50"));
      const ttlt = Number(await stat(page, "time_to_last_token-p50"));
      console.log(`${label}: server latency p50 ${server} ms, client TTLT p50 ${ttlt} ms`);
      assert.ok(server >= 150 + 9 * 5 && server <= ttlt + 1, `${label}: server ${server} ms within client TTLT ${ttlt} ms`);
    }
    await page.screenshot({ path: join(SHOTS, `aws-${label}.png`), fullPage: true });
    await page.close();
  }
  assert.deepEqual(pageErrors(errors), []);
});

test("AWS failures are typed: in-stream throttling, a corrupt frame, a bad signature", async () => {
  const errors = [];
  const converse = AWS_APIS[0][0];
  const cases = [
    [{ error_after: 2, error_kind: "throttled" }, undefined, "failed_requests_throttled"],
    [{ corrupt_after: 2 }, undefined, "failed_requests_decode"],
    [{}, "not-the-secret", "failed_requests_auth"],
  ];
  for (const [knobs, secret, key] of cases) {
    const page = await awsPage(browser, errors, { ...converse, clients: "2", requests: "1", check: "false" },
      { ttft_ms: 5, itl_ms: 1, tokens: 6, ...knobs }, secret);
    await run(page);
    const label = `${key} ${JSON.stringify(knobs)}`;
    assert.equal(await stat(page, key), "2", label);
    assert.equal(await stat(page, "failed_requests"), "2", `${label}: counted once`);
    assert.equal(await stat(page, "total_requests"), "2", label);
    if (key === "failed_requests_auth") {
      assert.match(await page.textContent(".client-health"), /^Authentication failed.*clock/);
    }
    await page.close();
  }
  assert.deepEqual(pageErrors(errors), []);
});

/** The page's run_config.json text for `form`, as the Save button writes it. */
async function savedConfig(page) {
  const saved = page.waitForEvent("download");
  await page.click("#save-config");
  const download = await saved;
  assert.equal(download.suggestedFilename(), "run_config.json");
  return readFile(await download.path(), "utf8");
}

test("a saved configuration loads back after a reload and runs; an LLMeter run_config.json maps what it can", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(apiUrl("anthropic-messages", true, { clients: "3", requests: "2", max_tokens: "6", name: "saved-run",
    slo_ttft: "0.5" }, { ttft_ms: 5, itl_ms: 1, tokens: 6 }));
  const secret = "sk-ant-NEVER-SAVED-42";
  await page.fill("#api-key", secret);
  const text = await savedConfig(page);
  assert.ok(!text.includes(secret), "the key is never saved");
  const config = JSON.parse(text);
  assert.equal(config.endpoint.endpoint_type, "AnthropicMessagesStream");
  assert.equal(config.tokenmeter_input.clients, "3");
  await page.goto(`${site.url}/`);
  assert.equal(await page.inputValue("#clients"), "4", "a fresh page has the defaults");
  await page.setInputFiles("#load-config", { name: "run_config.json", mimeType: "application/json", buffer: Buffer.from(text) });
  await page.waitForSelector("#config-note.note");
  assert.equal(await page.inputValue("#clients"), "3");
  assert.equal(await page.inputValue("#api"), "anthropic-messages");
  await run(page);
  assert.equal(await stat(page, "total_requests"), "6");
  assert.equal(await stat(page, "goodput_rate"), "100.0%");
  assert.match(await page.textContent("#comparison thead"), /saved-run/);

  // LLMeter's own file: its API, model and load map; its payload path and tokenizer are named as not mapped.
  await page.setInputFiles("#load-config", join(SAMPLE, "run_config.json"));
  await page.waitForSelector("#config-note.note");
  const note = await page.textContent("#config-note");
  assert.match(note, /^Configuration loaded\. Not mapped: .*endpoint\.base_url .*payload .*tokenizer/);
  assert.equal(await page.inputValue("#api"), "openai-chat");
  assert.equal(await page.inputValue("#endpoint-url"), "", "no URL is guessed: never a public provider");
  await page.fill("#endpoint-url", `${mock.url}/v1?ttft_ms=5&itl_ms=1`);
  await run(page);
  assert.equal(await stat(page, "total_requests"), "20", "LLMeter's 4 clients × 5 requests");
  assert.equal(await stat(page, "failed_requests"), "0");
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("?config=data:…&autorun=1 runs by itself to data-run-state=done, and every file downloads by its own button", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  const settings = { endpoint: "simulated", api: "openai-responses", clients: "2", requests: "3", max_tokens: "8",
    sim_ttft: "fixed:0.05", sim_itl: "fixed:0.002", sim_tokens: "fixed:8", price_input: "3", price_output: "15" };
  const config = { endpoint: { endpoint_type: "OpenAIResponseStreamEndpoint" }, tokenmeter_input: settings };
  const data = `data:application/json;base64,${Buffer.from(JSON.stringify(config)).toString("base64")}`;
  await page.goto(`${site.url}/?${new URLSearchParams({ config: data, autorun: "1" })}`);
  await page.waitForSelector('#status[data-run-state="done"]', { timeout: 30000 });
  assert.equal(await stat(page, "total_requests"), "6");
  assert.equal(await stat(page, "total_output_tokens"), "48");
  assert.ok(Number(await stat(page, "cost_total")) > 0, "prices give a cost");
  const names = ["run_config.json", "responses.jsonl", "tokenmeter_responses.jsonl", "summary.json", "stats.json"];
  const files = {};
  for (const name of names) {
    const next = page.waitForEvent("download");
    await page.getByRole("button", { name, exact: true }).click();
    const download = await next;
    files[download.suggestedFilename()] = await readFile(await download.path(), "utf8");
  }
  assert.deepEqual(Object.keys(files).sort(), [...names].sort());
  const stats = JSON.parse(files["stats.json"]);
  assert.ok(stats.cost_total > 0 && stats["cost_per_request-average"] > 0, "cost in stats.json");
  assert.equal(JSON.parse(files["run_config.json"]).tokenmeter_input.api, "openai-responses");
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("r18-2: a link's autorun against another host waits for a yes that names the target and the load", async () => {
  // remote.test is loopback under another name: a host that is neither this page's origin nor this machine's.
  const remote = await launchBrowser(["--host-resolver-rules=MAP remote.test 127.0.0.1"]);
  const served = async () => (await (await fetch(`${mock.url}/mock/stats`)).json()).requests;
  try {
    const errors = [];
    const page = await newPage(remote, errors);
    const port = new URL(mock.url).port;
    const link = `${site.url}/?${new URLSearchParams({ url: `http://remote.test:${port}/v1`, autorun: "1", check: "0",
      clients: "2", requests: "1", max_tokens: "4" })}`;
    const before = await served();
    const asked = new Promise((resolve) => page.once("dialog", async (d) => { resolve(d.message()); await d.dismiss(); }));
    await page.goto(link);
    const question = await asked;
    assert.match(question, /http:\/\/remote\.test:\d+/);
    assert.match(question, /2 concurrent clients, 2 requests/);
    await page.waitForTimeout(500);
    assert.equal(await page.getAttribute("#status", "data-status"), "idle", "declined: nothing started");
    assert.equal(await served(), before, "declined: nothing sent");
    // Said yes: the run goes.
    page.once("dialog", (d) => d.accept());
    await page.goto(link);
    await page.waitForSelector('#status[data-run-state="done"]', { timeout: 30000 });
    assert.equal(await stat(page, "total_requests"), "2");
    assert.equal(await served(), before + 2);
    // The built-in simulated model and this machine's servers need no question (the other tests autorun so).
    assert.deepEqual(pageErrors(errors), []);
  } finally {
    await remote.close();
  }
});

test("r18-4: a public page reaches this machine only with Local Network Access: refused, it says so; granted, the worker's run goes", async () => {
  // The page is served as a public site would be (a name, a public address by Chromium's override, a secure
  // context as HTTPS would give); the mock stays on loopback.
  const sitePort = new URL(site.url).port;
  const pageOrigin = `http://tokenmeter.test:${sitePort}`;
  const lna = await launchBrowser(["--host-resolver-rules=MAP tokenmeter.test 127.0.0.1",
    `--ip-address-space-overrides=127.0.0.1:${sitePort}=public`, `--unsafely-treat-insecure-origin-as-secure=${pageOrigin}`]);
  const served = async () => (await (await fetch(`${mock.url}/mock/stats`)).json()).requests;
  const link = pageUrl({ clients: "1", requests: "2", max_tokens: "3" }, { ttft_ms: 5, itl_ms: 1, tokens: 3 })
    .replace(site.url, pageOrigin);
  try {
    const refused = await lna.newContext();
    const page = await refused.newPage();
    const before = await served();
    await page.goto(link);
    await page.click("#run");
    await page.waitForFunction(() => ["failed", "invalid"].includes(document.querySelector("#status")?.dataset.runState)
      || document.querySelector("#status")?.dataset.status === "invalid", null, { timeout: 30000 });
    const said = await page.textContent("#status");
    assert.match(said, /Local Network Access/, said);
    assert.equal(await served(), before, "refused: nothing reached the server");

    const granted = await lna.newContext();
    await granted.grantPermissions(["local-network-access"], { origin: pageOrigin });
    const ok = await granted.newPage();
    await ok.goto(link);
    await run(ok);
    assert.equal(await stat(ok, "total_requests"), "2", "granted: the engine's worker reached the server");
    assert.equal(await served(), before + 3, "the untimed check and the two requests");
  } finally {
    await lna.close();
  }
});

test("r18-1: a distinct secret in every input that can carry one reaches no export, no saved configuration and no stored byte", async () => {
  const errors = [];
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  const secrets = {
    key: "sk-SECRET-KEY-01", header: "SECRET-HDR-02", headerValue: "SECRET-HDRVAL-03", url: "SECRET-URL-04",
    payload: "SECRET-PAYLOAD-05", config: "SECRET-CFG-06", awsId: "AKIASECRET07EXAMPLE", awsSecret: "SECRET-AWS-08",
    awsToken: "SECRET-TOKEN-09",
  };
  // A configuration file carries a credential header, another header and a URL with a key in its query.
  const config = { tokenmeter_input: { endpoint: "http", api: "openai-chat", model: "mock-model", check: "false",
    url: `${mock.url}/v1?ttft_ms=5&itl_ms=1&tokens=3&api_key=${secrets.url}`, clients: "2", requests: "2", max_tokens: "3",
    headers: `Authorization: Bearer ${secrets.config}\nX-Api-Key: ${secrets.header}\nX-Team: ${secrets.headerValue}` } };
  await page.goto(`${site.url}/`);
  await page.setInputFiles("#load-config", { name: "run_config.json", mimeType: "application/json",
    buffer: Buffer.from(JSON.stringify(config)) });
  await page.waitForSelector("#config-note.note");
  await page.fill("#api-key", secrets.key);
  await page.click("#payload-options summary");
  await page.setInputFiles("#payload-file", { name: "payload.jsonl", mimeType: "application/x-ndjson", buffer: Buffer.from(
    JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 3, metadata: { api_key: secrets.payload } }) + "\n") });
  await page.waitForSelector("#payload-note");
  await run(page);
  // An AWS run with SigV4 keys (the mock refuses them: typed failures, files all the same).
  await page.goto(`${site.url}/?${new URLSearchParams({ endpoint: "http", api: "bedrock-converse", url: mock.url,
    model: "m", aws_auth: "sigv4", check: "0", clients: "1", requests: "1" })}`);
  await page.fill("#aws-access-key-id", secrets.awsId);
  await page.fill("#aws-secret-access-key", secrets.awsSecret);
  await page.fill("#aws-session-token", secrets.awsToken);
  await run(page);

  // Everything the page writes: each run's .zip (unpacked), every file of the last run, Save configuration.
  const texts = [];
  const download = async (click) => {
    const next = page.waitForEvent("download");
    await click();
    return readFile(await (await next).path());
  };
  const rows = page.locator("#results-list tbody tr");
  for (let i = 0; i < await rows.count(); i++) {
    const zip = await download(() => rows.nth(i).locator(".download-zip").click());
    const dir = await mkdtemp(join(tmpdir(), "tm-secrets-"));
    await writeFile(join(dir, "run.zip"), zip);
    texts.push(execFileSync("python3", ["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); " +
      "print(''.join(z.read(n).decode('utf-8', 'replace') for n in z.namelist()))", join(dir, "run.zip")], { encoding: "utf8" }));
  }
  for (const name of ["run_config.json", "responses.jsonl", "tokenmeter_responses.jsonl", "summary.json", "stats.json"]) {
    texts.push((await download(() => page.getByRole("button", { name, exact: true }).click())).toString("utf8"));
  }
  texts.push((await download(() => page.click("#save-config"))).toString("utf8"));
  // Every byte the page stored: both IndexedDB stores.
  texts.push(await page.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open("tokenmeter");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const names = [...db.objectStoreNames];
      const tx = db.transaction(names, "readonly");
      const all = names.map((n) => new Promise((ok) => { const r = tx.objectStore(n).getAll(); r.onsuccess = () => ok(r.result); }));
      Promise.all(all).then((stores) => resolve(JSON.stringify(stores)));
    };
  })));
  const everything = texts.join("\n");
  assert.ok(everything.includes("X-Team: <redacted>"), "the header is kept by name");
  assert.ok(everything.includes("mock-model"), "the search reads real content");
  for (const [input, secret] of Object.entries(secrets)) {
    assert.ok(!everything.includes(secret), `the ${input} secret (${secret}) was written somewhere`);
  }
  assert.deepEqual(pageErrors(errors), []);
  await context.close();
});

test("chaos for every API class: 35% injected faults, each counted once with its typed kind, no page error", async () => {
  const errors = [];
  const served = async () => (await (await fetch(`${mock.url}/mock/stats`)).json()).requests;
  const knobs = { ttft_ms: 1, itl_ms: 1, tokens: 6, chaos: 0.35 };
  const pages = [
    ...APIS.map((api) => async () => {
      const page = await newPage(browser, errors);
      await page.goto(apiUrl(api, true, { clients: "2", requests: "20", max_tokens: "6", check: "0" }, knobs));
      return [api, page];
    }),
    ...AWS_APIS.map(([form]) => async () => {
      const page = await awsPage(browser, errors, { ...form, clients: "2", requests: "20", max_tokens: "6", check: "0" }, knobs);
      return [form.api, page];
    }),
  ];
  for (const open of pages) {
    const [label, page] = await open();
    const before = await served();
    await run(page);
    const total = Number(await stat(page, "total_requests"));
    const failed = Number(await stat(page, "failed_requests"));
    assert.equal(total, 40, label);
    assert.equal((await served()) - before, 40, `${label}: the server's count is Tokenmeter's`);
    assert.ok(failed >= 5 && failed <= 25, `${label}: ${failed} of 40 failed at a 35% fault rate`);
    const kinds = await page.$$eval('#live-table [data-stat^="failed_requests_"]',
      (cells) => cells.map((c) => [c.dataset.stat.replace("failed_requests_", ""), Number(c.textContent)]));
    const typed = kinds.filter(([kind]) => kind !== "rate");
    assert.equal(typed.reduce((sum, [, n]) => sum + n, 0), failed, `${label}: every failure has one kind ${JSON.stringify(kinds)}`);
    for (const [kind] of typed) {
      assert.ok(["throttled", "http_status", "stream", "provider", "decode"].includes(kind), `${label}: ${kind}`);
    }
    assert.ok(typed.filter(([, n]) => n > 0).length >= 2, `${label}: several kinds ${JSON.stringify(typed)}`);
    console.log(`chaos ${label}: ${failed}/40 failed: ${JSON.stringify(typed)}`);
    await page.close();
  }
  assert.deepEqual(pageErrors(errors), []);
});

test("r18-5: an engine from another deploy (a stale cached worker) is refused with a reload message, never a hang", async () => {
  const errors = [];
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  await page.goto(`${site.url}/`);
  const build = await page.getAttribute("#status", "data-build");
  assert.match(build, /^[0-9a-f]{16}$/);
  // The worker's module as an older deploy would have it: the same code, another build identity.
  await context.route(/tokenmeter-worker_bg\.wasm/, async (route) => {
    const body = Buffer.from(await (await route.fetch()).body());
    const at = body.indexOf(Buffer.from(build));
    assert.ok(at >= 0, "the worker carries its build identity");
    Buffer.from("0123456789abcdef").copy(body, at);
    await route.fulfill({ body, contentType: "application/wasm" });
  });
  await page.reload();
  await page.click("#run");
  await page.waitForSelector('#status[data-status="invalid"]', { timeout: 30000 });
  assert.match(await page.textContent("#status"), /come from different deploys.*reload the page/);
  assert.deepEqual(pageErrors(errors), []);
  await context.close();
});

test("the simulated model's error rate gives that share of typed failures", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(pageUrl({ clients: "10", requests: "20", max_tokens: "4", sim_error_rate: "0.5",
    sim_ttft: "fixed:0.005", sim_itl: "fixed:0.001", sim_tokens: "fixed:4", table: "errors, stream" }));
  await run(page);
  // Only the groups asked for (as LLMeter's progress_bar_stats chooses its live display).
  assert.deepEqual(await page.$$eval("#live-table caption", (c) => c.map((e) => e.textContent)), ["Streaming", "Errors"]);
  const failed = Number(await stat(page, "failed_requests"));
  // Binomial(200, 0.5): sd ≈ 7; allow 5 sd.
  assert.ok(failed >= 65 && failed <= 135, `${failed} of 200 failed`);
  let typed = 0;
  for (const kind of ["throttled", "http_status", "stream"]) {
    typed += Number((await page.locator(`#live-table [data-stat="failed_requests_${kind}"]`).count())
      ? await stat(page, `failed_requests_${kind}`) : 0);
  }
  assert.equal(typed, failed, "every failure has its kind");
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("a payload file with a bad line: the line is named, the good lines are sent in turn, and payload.jsonl saves them", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(pageUrl({ clients: "2", requests: "2", sim_ttft: "fixed:0.01", sim_itl: "fixed:0.001" }));
  const lines = [
    JSON.stringify({ messages: [{ role: "user", content: "first payload" }], max_tokens: 4 }),
    "{not json",
    JSON.stringify({ messages: [{ role: "user", content: "second payload" }], max_tokens: 4 }),
  ];
  await page.click("#payload-options summary"); // folded by default
  await page.setInputFiles("#payload-file", { name: "payload.jsonl", mimeType: "application/x-ndjson",
    buffer: Buffer.from(lines.join("\n") + "\n") });
  await page.waitForSelector("#payload-note");
  assert.match(await page.textContent("#payload-note"), /^2 payloads from payload\.jsonl.*Not used: line 2: not valid JSON/);
  await run(page);
  assert.equal(await stat(page, "total_requests"), "4");
  assert.equal(await stat(page, "failed_requests"), "0");
  const saved = page.waitForEvent("download");
  await page.click("#export-payloads");
  const file = await saved;
  assert.equal(file.suggestedFilename(), "payload.jsonl");
  const exported = (await readFile(await file.path(), "utf8")).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(exported.map((p) => p.messages[0].content), ["first payload", "second payload"]);
  // Both payloads were sent (each client starts at its own payload).
  const next = page.waitForEvent("download");
  await page.getByRole("button", { name: "responses.jsonl", exact: true }).click();
  const responses = (await readFile(await (await next).path(), "utf8")).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual([...new Set(responses.map((r) => r.input_prompt))].sort(), ["first payload", "second payload"]);
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("the payload editor: system prompt, temperature and an image in the API's shape, and a request body edited as JSON", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(apiUrl("anthropic-messages", true, { clients: "1", requests: "1", max_tokens: "5",
    system: "Answer in one word.", temperature: "0.3" }, { ttft_ms: 5, itl_ms: 1, tokens: 5 }));
  // A 1×1 PNG.
  const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");
  await page.click("#payload-options summary"); // folded by default
  await page.setInputFiles("#image", { name: "dot.png", mimeType: "image/png", buffer: png });
  await page.waitForSelector("#image-note");
  await page.click("#show-body");
  await page.waitForFunction(() => document.querySelector("#payload-json").value.includes("\"system\""));
  const body = JSON.parse(await page.inputValue("#payload-json"));
  assert.equal(body.system, "Answer in one word.");
  assert.equal(body.temperature, 0.3);
  assert.equal(body.messages[0].content[0].source.media_type, "image/png");
  assert.equal(body.messages[0].content[0].source.data, png.toString("base64"));
  // A broken edit is refused beside the field; a good one is sent as is.
  await page.fill("#payload-json", "{ not json");
  await page.click("#run");
  await page.waitForSelector('#status[data-status="invalid"]');
  assert.match(await page.textContent('.field-error[data-field="payload_json"]'), /must be valid JSON/);
  body.messages[0].content[1].text = "edited prompt";
  await page.fill("#payload-json", JSON.stringify(body));
  await run(page);
  assert.equal(await stat(page, "failed_requests"), "0");
  const next = page.waitForEvent("download");
  await page.getByRole("button", { name: "responses.jsonl", exact: true }).click();
  const [response] = (await readFile(await (await next).path(), "utf8")).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(response.input_prompt, "Answer in one word.\nedited prompt");
  assert.equal(response.input_payload.temperature, 0.3);
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("a hidden tab flags the run as client-affected; a busy page no longer delays the engine in its worker", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(pageUrl({ clients: "2", requests: "", duration: "2.5", sim_ttft: "fixed:0.05", sim_itl: "fixed:0.01",
    sim_tokens: "fixed:10" }));
  await page.click("#run");
  await page.waitForFunction(() => /^[1-9]\d* sent/.test(document.querySelector("#progress").textContent));
  // The main thread busy for 400 ms: the engine runs in its own worker, so its timers must not notice.
  await page.evaluate(() => { const end = performance.now() + 400; while (performance.now() < end) { /* busy */ } });
  // The tab hidden for a while (as when the user switches tabs): the page tells the worker.
  const setHidden = (hidden) => page.evaluate((hidden) => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
    document.dispatchEvent(new Event("visibilitychange"));
  }, hidden);
  await setHidden(true);
  await page.waitForTimeout(600);
  await setHidden(false);
  await page.waitForSelector('#status[data-status="done"]', { timeout: 15000 });
  const warnings = await page.$$eval(".client-health", (w) => w.map((e) => e.textContent));
  const affected = warnings.find((w) => w.startsWith("Client-affected"));
  assert.ok(affected, JSON.stringify(warnings));
  assert.match(affected, /the tab was hidden for \d+\.\d s/);
  const next = page.waitForEvent("download");
  await page.getByRole("button", { name: "run_config.json", exact: true }).click();
  const config = JSON.parse(await readFile(await (await next).path(), "utf8"));
  assert.ok(config.tokenmeter_page.hidden_secs > 0.3, JSON.stringify(config.tokenmeter_page));
  // In the page, the 400 ms busy loop made the refresh timer fire ≥ 400 ms late; the worker's timers ran on.
  assert.ok(config.tokenmeter_page.max_timer_lateness_ms < 400, JSON.stringify(config.tokenmeter_page));
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("a crashed engine worker is reported, and the next Run starts a new one", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(pageUrl({ clients: "1", requests: "", duration: "30", sim_ttft: "fixed:0.05" }));
  await page.click("#run");
  await page.waitForFunction(() => /^[1-9]\d* sent/.test(document.querySelector("#progress").textContent));
  // An uncaught error inside the engine's worker, as a bug there would raise.
  await page.workers()[0].evaluate(() => setTimeout(() => { throw new Error("engine bug"); }));
  await page.waitForSelector('#status[data-status="invalid"]', { timeout: 15000 });
  assert.match(await page.textContent("#status"), /measuring engine \(a Web Worker\) failed: .*engine bug/);
  await page.fill("#duration", "");
  await page.fill("#requests", "2");
  await run(page);
  assert.equal(await stat(page, "total_requests"), "2");
  await page.close();
});

test("the cold-start check: one untimed request before the run, recorded; a failed check stops the run with its reason", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(pageUrl({ clients: "2", requests: "2" }, { ttft_ms: 5, itl_ms: 1, tokens: 4 }));
  await run(page);
  assert.equal(await page.getAttribute("#cold-check", "data-ok"), "true");
  assert.match(await page.textContent("#cold-check"), /^Checked http:\/\/127\.0\.0\.1:\d+ with one untimed request \(HTTP 200/);
  assert.equal(await stat(page, "total_requests"), "4", "the check is not one of the run's requests");
  const next = page.waitForEvent("download");
  await page.getByRole("button", { name: "run_config.json", exact: true }).click();
  const config = JSON.parse(await readFile(await (await next).path(), "utf8"));
  assert.equal(config.tokenmeter_check.ok, true);
  assert.equal(config.tokenmeter_check.http_status, 200);

  // A refused key: the run never starts, and the page says why.
  await page.fill("#endpoint-url", `${mock.url}/v1/chat/completions?status=401`);
  await run(page, "invalid");
  assert.equal(await page.getAttribute("#status", "data-run-state"), "failed");
  assert.match(await page.textContent("#status"), /check request to http:\/\/127\.0\.0\.1:\d+ failed \(HTTP 401\): the credentials were refused/);
  assert.equal(await page.getAttribute("#cold-check", "data-ok"), "false");
  // An unreachable server (or one refusing this origin): CORS is named.
  await page.fill("#endpoint-url", "http://127.0.0.1:9/v1/chat/completions");
  await page.click("#run");
  await page.waitForFunction(() => /could not be reached, or it refused this page's origin \(CORS\)/
    .test(document.querySelector('#status[data-status="invalid"]')?.textContent), null, { timeout: 30000 });
  // The page keeps working: the check passes again and the run goes on.
  await page.fill("#endpoint-url", `${mock.url}/v1/chat/completions?ttft_ms=5&tokens=3`);
  await run(page);
  assert.equal(await stat(page, "failed_requests"), "0");
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("issue 20: percentiles show their intervals; an SLO search finds a capacity-bound server's knee; stop_when ends a run early", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  // The mock serves 4 requests at once and queues the rest: past 4 clients, some requests wait a whole generation.
  await page.goto(pageUrl(
    { clients: "1", requests: "10", max_tokens: "4", search: "clients:1-6", search_slo: "time_to_first_token-p95<0.11" },
    { capacity: 4, ttft_ms: 60, itl_ms: 2, tokens: 4 },
  ));
  await run(page);
  const summary = await page.textContent("#slo-search-summary");
  // Queueing starts past 4 clients; at 5 the one waiting request may or may not wait long enough for p95 to see
  // it, so the search finds 4 or 5: within one step.
  const knee = summary.match(/the highest load that meets the SLO \(time_to_first_token-p95<0\.11\) is (\d) clients; (\d) clients breaks it/);
  assert.ok(knee && ["4", "5"].includes(knee[1]) && Number(knee[2]) === Number(knee[1]) + 1, summary);
  assert.equal(await page.locator("#slo-search-figure svg").count(), 1);
  assert.match(await page.locator("#slo-search-figure svg").innerHTML(), new RegExp(`knee: ${knee[1]} clients`));
  const steps = await page.$$eval("#results-list .run-name", (i) => i.map((e) => e.value));
  for (const level of [1, 6, 3, 4]) assert.ok(steps.includes(`slo-search-clients-${level}`), `${level}: ${steps}`);
  // The last step's 50 requests: a p50 interval, and too few values for p99's.
  assert.match(await page.textContent('#live-table [data-ci="time_to_first_token-p50"]'), /^95% CI \d+\.\d–\d+\.\d$/);
  assert.match(await page.textContent('#live-table [data-ci="time_to_first_token-p99"]'), /too few for a 95% CI \(needs 368\)/);
  assert.equal(await page.locator('#live-table tr.too-few [data-stat="time_to_first_token-p99"]').count(), 1);
  assert.ok(Number(await stat(page, "time_to_first_token-p99")) > 0, "the value cell stays a number for scripts");
  await page.screenshot({ path: join(SHOTS, "slo-search.png"), fullPage: true });

  // Adaptive stop on the simulated model: 100,000 requests asked, far fewer sent once p50 is known within ±5%.
  await page.goto(`${site.url}/?${new URLSearchParams({
    mode: "rate", rate: "200", clients: "64", requests: "100000", sim_ttft: "lognormal:0.05,0.3",
    sim_itl: "fixed:0.001", sim_tokens: "fixed:4", stop_when: "time_to_first_token-p50:5%",
  })}`);
  await run(page);
  const total = Number(await stat(page, "total_requests"));
  assert.ok(total > 100 && total < 5000, `stopped after ${total}`);
  assert.match(await page.textContent("#status"), /Stopped early, precise enough: time_to_first_token-p50/);
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("issue 20: a race sends one schedule to two targets, shows them side by side, and says which is faster and how sure that is", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(`${site.url}/?${new URLSearchParams({
    endpoint: "http", api: "openai-chat", url: `${mock.url}/v1`, model: "mock-model", max_tokens: "4",
    mode: "poisson", rate: "10", clients: "8", requests: "60", headers: "x-mock-jitter-ms: 4",
    race: "label=fast;headers=x-mock-ttft-ms: 100 | label=slow;headers=x-mock-ttft-ms: 150",
  })}`);
  await run(page);
  assert.deepEqual(await page.$$eval("#race-table thead th", (t) => t.map((e) => e.textContent).slice(1)), ["race-fast", "race-slow"]);
  const totals = await page.$$eval('#race-table [data-stat="total_requests"]', (c) => c.map((e) => e.textContent));
  assert.deepEqual(totals, ["60", "60"]);
  const first = page.locator("#race-comparison li").first();
  assert.match(await first.textContent(), /^race-slow's TTFT p50 is (4\d|5\d)\.\d ms higher than race-fast's, 95% CI/);
  assert.equal(await first.getAttribute("data-significant"), "true");
  const names = await page.$$eval("#results-list .run-name", (i) => i.map((e) => e.value));
  assert.ok(names.includes("race-fast") && names.includes("race-slow"), `${names}`);
  assert.match(await page.textContent("#status"), /Race of 2 targets: race-slow's TTFT p50/);
  // The comparison is kept with the targets' runs: the last one's files offer race.json, as the command writes it.
  const next = page.waitForEvent("download");
  await page.getByRole("button", { name: "race.json", exact: true }).click();
  const race = JSON.parse(await readFile(await (await next).path(), "utf8"));
  assert.equal(race.comparisons[0].b, "race-slow");
  await page.screenshot({ path: join(SHOTS, "race.png"), fullPage: true });
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("issue 19: a picked prompt dataset is sent in turn; a dataset the settings name but the page was not given is asked for", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(`${site.url}/?${new URLSearchParams({
    clients: "2", requests: "12", sim_ttft: "fixed:0.01", sim_itl: "fixed:0.001", sim_tokens: "fixed:4",
  })}`);
  await page.setInputFiles("#dataset-file", join(ROOT, "tests", "data", "datasets", "sample_prompts.csv"));
  await page.waitForSelector("#dataset-note", { state: "attached" });
  assert.match(await page.textContent("#dataset-note"), /^24 prompts from sample_prompts\.csv/);
  await run(page);
  assert.equal(await stat(page, "total_requests"), "24");
  // A configuration naming a dataset file the page has not been given says which file to pick.
  await page.goto(`${site.url}/?${new URLSearchParams({ dataset: "prompts.json" })}`);
  await page.click("#run");
  await page.waitForSelector('#status[data-status="invalid"]');
  assert.match(await page.textContent("#status"), /Pick the dataset file prompts\.json/);
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("issue 19: a picked trace replays at its own times with prompts of its lengths, as the mock's journal shows", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  const file = join(ROOT, "tests", "data", "traces", "sample_trace.jsonl");
  const rows = (await readFile(file, "utf8")).trim().split("\n").map((l) => JSON.parse(l));
  await fetch(`${mock.url}/mock/journal`, { method: "DELETE" });
  await page.goto(`${site.url}/?${new URLSearchParams({
    endpoint: "http", api: "openai-chat", url: `${mock.url}/v1`, model: "mock-model", clients: "64",
    trace_speed: "4", headers: "x-mock-ttft-ms: 20\nx-mock-itl-ms: 1", check: "false",
  })}`);
  await page.setInputFiles("#trace-file", file);
  await page.waitForSelector("#trace-note", { state: "attached" });
  assert.match(await page.textContent("#trace-note"), /^120 requests over 11\.\d s from sample_trace\.jsonl \(\d+ shared 512-token blocks\)/);
  assert.equal(await page.inputValue("#mode"), "trace", "picking a trace chooses the trace replay");
  await run(page);
  assert.equal(await stat(page, "total_requests"), "120");
  const journal = await (await fetch(`${mock.url}/mock/journal`)).json();
  const key = (a, b) => a[0] - b[0] || a[1] - b[1];
  const received = journal.requests.map((r) => [r.input_tokens, r.max_output_tokens]).sort(key);
  const asked = rows.map((r) => [r.input_length, r.output_length]).sort(key);
  assert.deepEqual(received, asked, "every request's input length and output limit, as the trace asks");
  const next = page.waitForEvent("download");
  await page.getByRole("button", { name: "stats.json", exact: true }).click();
  const stats = JSON.parse(await readFile(await (await next).path(), "utf8"));
  console.log(`page trace replay (120 requests at 4x): schedule lag p50 ${(stats["schedule_lag-p50"] * 1e3).toFixed(2)} ms, p99 ${(stats["schedule_lag-p99"] * 1e3).toFixed(2)} ms`);
  // The 5 ms target is the benchmark's (tests/e2e/bench_trace.mjs, release builds, a 1,000-request trace); here,
  // sharing two cores with the rest of the suite, lag is only bounded.
  assert.ok(stats["schedule_lag-p99"] <= 0.05, `schedule lag p99 ${stats["schedule_lag-p99"]} s`);
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("issue 19: a multi-turn run sends each conversation so far, real answers included, and draws TTFT by turn", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await fetch(`${mock.url}/mock/journal`, { method: "DELETE" });
  await page.goto(`${site.url}/?${new URLSearchParams({
    endpoint: "http", api: "openai-chat", url: `${mock.url}/v1`, model: "mock-model", clients: "2", requests: "6",
    turns: "3", think_time: "fixed:0.05", max_tokens: "6", headers: "x-mock-ttft-ms: 10\nx-mock-itl-ms: 1", check: "false",
  })}`);
  await run(page);
  assert.equal(await stat(page, "total_requests"), "12");
  const journal = (await (await fetch(`${mock.url}/mock/journal`)).json()).requests;
  assert.equal(journal.length, 12);
  // Two clients × two conversations, each of turns with 1, 3 and 5 messages: each turn carries the earlier ones.
  assert.deepEqual(journal.map((r) => r.messages).sort(), [1, 1, 1, 1, 3, 3, 3, 3, 5, 5, 5, 5]);
  for (const later of journal.filter((r) => r.messages > 1)) {
    const earlier = journal.filter((r) => r.messages === later.messages - 2 && later.prompt.startsWith(r.prompt));
    assert.ok(earlier.length >= 1, `a turn of ${later.messages} messages starts with an earlier turn: ${later.prompt.slice(0, 80)}`);
    assert.ok(later.input_tokens > earlier[0].input_tokens, "and is longer by the answer and the new prompt");
  }
  await page.waitForSelector('#figures[data-complete="true"] [data-figure="ttft-by-turn"] svg', { state: "attached", timeout: 30000 });
  assert.match(await page.locator('#figures [data-figure="ttft-by-turn"] svg').innerHTML(), /turn of the conversation/);
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("issue 19: the server's own metrics are scraped from the worker, kept with the run and drawn; a refused page is named", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  const form = {
    endpoint: "http", api: "openai-chat", url: `${mock.url}/v1`, model: "mock-model", clients: "4", requests: "",
    duration: "3", max_tokens: "8", headers: "x-mock-ttft-ms: 100\nx-mock-itl-ms: 5", check: "false",
  };
  await page.goto(`${site.url}/?${new URLSearchParams({ ...form, metrics_url: `${mock.url}/metrics` })}`);
  await run(page);
  await page.waitForSelector('#figures[data-complete="true"] [data-figure="server-requests"] svg', { state: "attached", timeout: 30000 });
  for (const id of ["server-requests", "server-kv-cache", "server-tokens"]) {
    assert.equal(await page.locator(`#figures [data-figure="${id}"] svg`).count(), 1, id);
  }
  assert.match(await page.locator('#figures [data-figure="server-requests"] svg').innerHTML(), /running/);
  const next = page.waitForEvent("download");
  await page.getByRole("button", { name: "server_metrics.json", exact: true }).click();
  const metrics = JSON.parse(await readFile(await (await next).path(), "utf8"));
  assert.ok(metrics.scrapes >= 2 && metrics.failed_scrapes === 0, JSON.stringify(metrics).slice(0, 300));
  assert.ok(metrics.series.requests_running.some(([, v]) => v >= 1), "requests were running while scraped");
  // A page the server refuses: the run goes on, and says why there are no server metrics.
  await page.goto(`${site.url}/?${new URLSearchParams({ ...form, duration: "1.5", metrics_url: `${mock.url}/no-metrics-here` })}`);
  await run(page);
  assert.match(await page.textContent("#status"), /could not be read \(HTTP 404\); the run went on without them/);
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("issue 19: a real tokenizer counts the tokens the server did not report, in a worker of its own loaded on first use", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  const fetched = [];
  page.on("request", (r) => { if (/tokenizer|\.tiktoken/.test(r.url())) fetched.push(r.url()); });
  const form = {
    endpoint: "http", api: "openai-chat", url: `${mock.url}/v1`, model: "mock-model", clients: "2", requests: "3",
    max_tokens: "6", prompt: "Antidisestablishmentarianism and internationalisation, tokenised.",
    headers: "x-mock-ttft-ms: 5\nx-mock-itl-ms: 1\nx-mock-include-usage: false", check: "false",
  };
  await page.goto(`${site.url}/?${new URLSearchParams(form)}`);
  await run(page);
  assert.deepEqual(fetched, [], "a run counting words loads no tokenizer");
  assert.equal(Number(await stat(page, "num_tokens_input-p50")), 4, "4 words");
  await page.goto(`${site.url}/?${new URLSearchParams({ ...form, tokenizer: "o200k_base" })}`);
  assert.equal(await page.inputValue("#tokenizer"), "o200k_base");
  await run(page);
  assert.ok(fetched.some((u) => u.endsWith("tokenizers/o200k_base.tiktoken")), fetched.join(" "));
  assert.ok(fetched.some((u) => u.includes("tokenmeter-tokenizer")), "the tokenizer's own module");
  assert.equal(Number(await stat(page, "num_tokens_input-p50")), 13, "o200k_base counts 13 tokens in those 4 words");
  const next = page.waitForEvent("download");
  await page.getByRole("button", { name: "tokenmeter_responses.jsonl", exact: true }).click();
  const lines = (await readFile(await (await next).path(), "utf8")).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 6);
  for (const line of lines) {
    assert.equal(line.tokens_counted_by, "o200k_base");
    assert.equal(line.input_tokens_estimated, true, "counted, not reported");
  }
  // A Hugging Face tokenizer.json the user picks: its pre-tokenizer splits the comma and the full stop off.
  await page.setInputFiles("#tokenizer-file", join(ROOT, "tests", "data", "tokenizers", "word_level.json"));
  await page.waitForFunction(() => document.querySelector("#tokenizer")?.value === "word_level.json");
  await run(page);
  assert.equal(Number(await stat(page, "num_tokens_input-p50")), 6, "word_level.json counts 6 tokens");
  // A configuration naming a tokenizer file the page was not given says which file to pick.
  await page.goto(`${site.url}/?${new URLSearchParams({ ...form, tokenizer: "llama.json" })}`);
  await page.click("#run");
  await page.waitForSelector('#status[data-status="invalid"]');
  assert.match(await page.textContent("#status"), /Pick the tokenizer file llama\.json/);
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("issue 19: shared prefixes report the cached tokens the server reports, and cancelled-by-design requests are counted apart", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  const statsJson = async () => {
    const next = page.waitForEvent("download");
    await page.getByRole("button", { name: "stats.json", exact: true }).click();
    return JSON.parse(await readFile(await (await next).path(), "utf8"));
  };
  // 2 prefixes of 64 tokens, each shared by half the requests, against the mock's prefix cache: every request after
  // the first of its prefix finds the 64 tokens cached, as the API reports them.
  await page.goto(`${site.url}/?${new URLSearchParams({
    endpoint: "http", api: "openai-chat", url: `${mock.url}/v1`, model: "mock-model", clients: "1", requests: "10",
    max_tokens: "4", shared_prefix: "2x64", headers: "x-mock-prefix-cache: 1\nx-mock-ttft-ms: 5\nx-mock-itl-ms: 1",
    check: "false",
  })}`);
  await run(page);
  const shared = await statsJson();
  assert.equal(shared.total_requests, 10);
  assert.equal(shared.total_cached_input_tokens, 8 * 64, JSON.stringify(shared).slice(0, 400));
  // Half the requests aborted on purpose after 5 tokens: sent = succeeded + failed + cancelled by design.
  await page.goto(`${site.url}/?${new URLSearchParams({
    clients: "4", requests: "25", sim_ttft: "fixed:0.01", sim_itl: "fixed:0.002", sim_tokens: "fixed:40",
    cancel: "50%@5tokens",
  })}`);
  await run(page);
  const cancelled = await statsJson();
  const byDesign = cancelled.failed_requests_cancelled_by_design;
  assert.ok(byDesign > 20 && byDesign < 80, `${byDesign} of 100 cancelled by design`);
  assert.equal(cancelled.successful_requests + cancelled.failed_requests + byDesign, 100);
  assert.equal(cancelled.failed_requests, 0);
  assert.match(await page.textContent("#status"), new RegExp(`${byDesign} cancelled by design`));
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});
