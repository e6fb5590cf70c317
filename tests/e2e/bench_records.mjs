// Benchmark (figures, not pass/fail), issue 22: a run of REQUESTS (default 1,000,000) against the simulated model
// at zero latency (64 clients, 16 tokens each), responses kept in the record store. Reports the renderer's memory
// growth (after the run and its figures), the longest main-thread task during and after the run, requests/s, the
// time to export responses.jsonl from the store, its line count, and LLMeter's Result.load of the exported folder.
// Run it through scripts/bench.sh (REQUESTS=100000 for a shorter one).
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rename, stat } from "node:fs/promises";
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startStatic, launchBrowser, newPage, rendererMemoryBytes, watchLongTasks, longTasks, longFrames } from "./harness.mjs";

const CLIENTS = 64;
const wanted = Number(process.env.REQUESTS ?? 1_000_000);
const perClient = Math.ceil(wanted / CLIENTS);
const total = perClient * CLIENTS;
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

const site = await startStatic();
const browser = await launchBrowser();
const page = await newPage(browser, []);
await page.goto(`${site.url}/?${new URLSearchParams({ clients: String(CLIENTS), requests: String(perClient),
  sim_ttft: "fixed:0", sim_itl: "fixed:0", sim_tokens: "fixed:16", check: "false" })}`);
await page.waitForSelector("#run:not([disabled])");
await page.waitForTimeout(1000);
const before = await rendererMemoryBytes(browser);
await watchLongTasks(page);
const estimate = async () => (await page.textContent("#memory-estimate")) ?? "";
await page.click("#run");
let peak = 0;
const sampler = setInterval(async () => {
  peak = Math.max(peak, (await rendererMemoryBytes(browser).catch(() => 0)) - before);
}, 2000);
await page.waitForSelector('#status[data-run-state="done"]', { timeout: 3 * 3600 * 1000 });
const status = await page.textContent("#status");
const duringRun = await longTasks(page);
const framesDuringRun = await longFrames(page);
await watchLongTasks(page);
await page.waitForSelector('#figures[data-complete="true"]', { timeout: 3600 * 1000 });
await page.waitForTimeout(2000);
clearInterval(sampler);
const grown = (await rendererMemoryBytes(browser)) - before;
const seconds = Number(status.match(/in ([\d.]+) s/)?.[1]);
const dir = await mkdtemp(join(tmpdir(), "tm-bench-records-"));
const download = async (file) => {
  const next = page.waitForEvent("download", { timeout: 3600 * 1000 });
  const started = Date.now();
  await page.click(`.download-file[data-file="${file}"]`);
  const path = await (await next).path();
  await rename(path, join(dir, file));
  return (Date.now() - started) / 1000;
};
const exportSecs = await download("responses.jsonl");
for (const file of ["stats.json", "run_config.json", "summary.json"]) await download(file);
const afterRun = await longTasks(page);
const framesAfterRun = await longFrames(page);
let lines = 0;
for await (const line of createInterface({ input: createReadStream(join(dir, "responses.jsonl")) })) if (line) lines++;
const size = (await stat(join(dir, "responses.jsonl"))).size;
const { stdout } = await promisify(execFile)("python3", ["-c",
  "import sys; from llmeter.results import Result; r = Result.load(sys.argv[1]); print(r.total_requests, len(r.responses))",
  dir], { maxBuffer: 1 << 20 }).catch((e) => ({ stdout: `failed: ${e.message.split("\n")[0]}` }));
const longest = (tasks) => (tasks.length ? `${Math.max(...tasks).toFixed(0)} ms (${tasks.length} over 50 ms)` : "none over 50 ms");
console.log(`BENCH records: ${total} requests in ${seconds} s = ${(total / seconds).toFixed(0)} requests/s`);
console.log(`BENCH records: estimate shown: ${await estimate()}`);
console.log(`BENCH records: renderer growth ${mb(grown)} after the run and its figures (peak seen ${mb(peak)})`);
console.log(`BENCH records: longest main-thread task: during the run ${longest(duringRun)}; after it ${longest(afterRun)}`);
// Where the longest frames' time went (Long Animation Frames: scripts by invoker, and rendering).
for (const [phase, frames] of [["during the run", framesDuringRun], ["after it", framesAfterRun]]) {
  for (const f of frames.slice(0, 3)) console.log(`BENCH records: long frame ${phase}: ${JSON.stringify(f)}`);
}
console.log(`BENCH records: responses.jsonl exported in ${exportSecs.toFixed(1)} s: ${lines} lines, ${mb(size)}`);
console.log(`BENCH records: LLMeter Result.load: total_requests, responses = ${stdout.trim()}`);
await browser.close();
site.stop();
