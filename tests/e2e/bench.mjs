// The end-to-end benchmark (figures, not pass/fail; run by scripts/bench.sh): TTFT through Tokenmeter (engine in its
// Web Worker) against the browser's own floor — a bare fetch() and reader in the same page — at 1, 4 and 32
// clients, over HTTP/1.1 (plain) and HTTP/2 (TLS); then the engine's request ceiling. Prints a markdown table.
import { readFile } from "node:fs/promises";
import { startMock, startStatic, launchBrowser, newPage } from "./harness.mjs";

const SERVER = { ttft_ms: 200, itl_ms: 10, tokens: 20 };
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 160); // per configuration, spread over the clients
// Optional subset, e.g. BENCH_CASES="HTTP/2:32,HTTP/1.1:4"; every protocol × clients pair by default.
const CASES = process.env.BENCH_CASES?.split(",");

const [plain, tls, site] = await Promise.all([startMock(), startMock({}, { tls: true }), startStatic()]);
const browser = await launchBrowser();

/** p-th percentile, linear interpolation (numpy's default, as Tokenmeter's). */
function percentile(values, p) {
  const v = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (v.length - 1);
  const lo = Math.floor(rank);
  return v[lo] + (v[Math.min(lo + 1, v.length - 1)] - v[lo]) * (rank - lo);
}

/** TTFT of every request of `clients` concurrent loops of bare fetch() in the page, after one warm-up request. */
async function bareFetch(page, url, clients, perClient) {
  return page.evaluate(async ({ url, clients, perClient }) => {
    const body = JSON.stringify({ model: "mock-model", messages: [{ role: "user", content: "hi" }], stream: true,
      max_tokens: 20 });
    const one = async () => {
      const t0 = performance.now();
      const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
      const reader = response.body.getReader();
      const text = new TextDecoder();
      let first = null;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (first === null && text.decode(value, { stream: true }).includes('"content":"tok')) first = performance.now() - t0;
      }
      return first;
    };
    await one();
    const times = [];
    await Promise.all(Array.from({ length: clients }, async () => {
      for (let i = 0; i < perClient; i++) times.push(await one());
    }));
    return times;
  }, { url, clients, perClient });
}

/** Tokenmeter's stats.json for the same load, through the page's form and its download button. */
async function tokenmeter(page, form) {
  await page.goto(`${site.url}/?${new URLSearchParams(form)}`);
  await page.click("#run");
  await page.waitForSelector('#status[data-run-state="done"]', { timeout: 300000 });
  const next = page.waitForEvent("download");
  await page.getByRole("button", { name: "stats.json", exact: true }).click();
  return JSON.parse(await readFile(await (await next).path(), "utf8"));
}

const rows = [];
for (const [proto, mock] of [["HTTP/1.1", plain], ["HTTP/2", tls]]) {
  for (const clients of [1, 4, 32]) {
    if (CASES && !CASES.includes(`${proto}:${clients}`)) continue;
    const perClient = Math.max(2, Math.round(REQUESTS / clients));
    const url = `${mock.url}/v1/chat/completions?${new URLSearchParams(SERVER)}`;
    const page = await newPage(browser, []);
    await page.goto(`${site.url}/`);
    const bare = await bareFetch(page, url, clients, perClient);
    // Fan-out off: the same one-host load as the bare fetch() beside it (bench_command.mjs measures fan-out).
    const stats = await tokenmeter(page, { endpoint: "openai", url, clients: String(clients),
      requests: String(perClient), max_tokens: "20", fan_out: "off" });
    const ms = (key) => (stats[key] * 1e3).toFixed(1);
    const queue = stats["browser_queue_time-p99"];
    rows.push(`| ${proto} | ${clients} | ${clients * perClient} | ${percentile(bare, 50).toFixed(1)} | ` +
      `${percentile(bare, 99).toFixed(1)} | ${ms("time_to_first_token-p50")} | ${ms("time_to_first_token-p99")} | ` +
      `${queue === undefined ? "—" : (queue * 1e3).toFixed(1)} |`);
    console.error(rows.at(-1));
    await page.close();
  }
}

// The engine's ceiling: the simulated model answering at once, and the TLS mock answering at once.
const page = await newPage(browser, []);
const rate = (stats) => (stats.total_requests / stats.total_test_time).toFixed(0);
const simulated = await tokenmeter(page, { clients: "64", requests: "300", sim_ttft: "fixed:0", sim_itl: "fixed:0",
  sim_tokens: "fixed:1", low_memory: "true" });
const instant = `${tls.url}/v1/chat/completions?ttft_ms=0&itl_ms=0&tokens=1`;
const h2 = await tokenmeter(page, { endpoint: "openai", url: instant, clients: "32", requests: "60", max_tokens: "1" });
// The same load from bare fetch() loops in the page: the browser's own ceiling against this server.
await page.goto(`${site.url}/`);
const t0 = Date.now();
const bareCount = (await bareFetch(page, instant, 32, 60)).length;
const bareRate = (bareCount / ((Date.now() - t0) / 1000)).toFixed(0);
await browser.close();
plain.stop();
tls.stop();
site.stop();

console.log(`Server: TTFT ${SERVER.ttft_ms} ms, ITL ${SERVER.itl_ms} ms, ${SERVER.tokens} tokens; loopback mock-llm.`);
console.log("| protocol | clients | requests | bare fetch p50 (ms) | bare fetch p99 | Tokenmeter p50 | Tokenmeter p99 | browser queue p99 |");
console.log("|---|---|---|---|---|---|---|---|");
for (const row of rows) console.log(row);
console.log(`Engine ceiling in the worker: simulated model ${rate(simulated)} requests/s (64 clients, 19,200 requests); ` +
  `HTTP/2 mock answering at once ${rate(h2)} requests/s (32 clients, 1,920 requests; bare fetch() loops in the ` +
  `page: ${bareRate} requests/s).`);
