// End-to-end: results as a first-class view — live over-time figures during a run, the per-run figure set with SVG
// and PNG downloads, LoadTest figures across a sweep, the sweep exported as a LoadTest .zip that the native
// `recompute` reads, runs kept across a reload (renamed, deleted, storage full), LLMeter folders and .zip imports.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, mkdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT, startStatic, launchBrowser, newPage, rendererMemoryBytes, watchLongTasks, longTasks } from "./harness.mjs";

const run_ = promisify(execFile);
let site, browser;
const SHOTS = join(ROOT, "tests", "e2e", "screenshots");
const SAMPLE = join(ROOT, "tests", "data", "llmeter", "sample-openai");

before(async () => {
  site = await startStatic();
  browser = await launchBrowser();
  await mkdir(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  site?.stop();
});

const url = (form) => `${site.url}/?${new URLSearchParams(form)}`;
const pageErrors = (errors) => errors.filter((e) => e.startsWith("pageerror"));
const FAST = { sim_ttft: "fixed:0.02", sim_itl: "fixed:0.002", sim_tokens: "uniform:4,12" };

async function run(page) {
  await page.click("#run");
  await page.waitForSelector('#status[data-run-state="done"]', { timeout: 60000 });
}

const PER_RUN = ["ttft-histogram", "ttlt-histogram", "tpot-histogram", "itl-histogram", "ttft-cdf", "ttlt-cdf",
  "latency-boxplots", "ttft-vs-input-tokens", "ttlt-vs-output-tokens", "ttft-over-time", "requests-over-time",
  "output-tokens-over-time", "latency-over-time", "ttft-heatmap", "ttlt-heatmap"];

test("a run draws live over-time figures while it goes on, then every per-run figure; each downloads as SVG and PNG", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(url({ clients: "4", requests: "", duration: "3", ...FAST }));
  await page.click("#run");
  // Live: drawn from the engine's timeline while the run goes on (and gone when it ends).
  await page.waitForSelector('#live-figures [data-figure="requests-over-time"] svg', { timeout: 15000 });
  assert.equal(await page.getAttribute("#status", "data-run-state"), "running");
  await page.screenshot({ path: join(SHOTS, "live-figures.png"), fullPage: true });
  await page.waitForSelector('#status[data-run-state="done"]', { timeout: 30000 });
  await page.waitForSelector("#live-figures", { state: "detached" });
  // The per-run set comes from the figures worker, a moment after the run ends.
  await page.waitForSelector('#figures[data-complete="true"] [data-figure="ttft-histogram"] svg', { timeout: 30000 });
  for (const id of PER_RUN) {
    const figure = page.locator(`#figures [data-figure="${id}"]`);
    assert.equal(await figure.locator("svg").count(), 1, id);
    assert.ok((await figure.locator(".figure-title").textContent()).length > 5, `${id} has a title`);
  }
  // Titles, units and legends are drawn text.
  const cdf = await page.locator('#figures [data-figure="ttft-cdf"] svg').innerHTML();
  assert.match(cdf, /p50/);
  assert.match(cdf, /ms|s\)/);
  await page.screenshot({ path: join(SHOTS, "figures.png"), fullPage: true });

  const svg = page.waitForEvent("download");
  await page.locator('#figures [data-figure="ttft-histogram"] .download-svg').click();
  const svgFile = await svg;
  assert.equal(svgFile.suggestedFilename(), "ttft-histogram.svg");
  assert.match(await readFile(await svgFile.path(), "utf8"), /^<svg[\s\S]*<\/svg>\s*$/);
  const png = page.waitForEvent("download");
  await page.locator('#figures [data-figure="ttft-histogram"] .download-png').click();
  const pngFile = await png;
  assert.equal(pngFile.suggestedFilename(), "ttft-histogram.png");
  const bytes = await readFile(await pngFile.path());
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "a PNG file");
  assert.ok(bytes.length > 5000, `the PNG holds a drawing (${bytes.length} bytes)`);

  // Readable on a narrow screen: no horizontal scroll.
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px at 390 px`);
  await page.screenshot({ path: join(SHOTS, "figures-narrow.png"), fullPage: true });
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("a sweep draws LoadTest figures by clients and exports as a LoadTest .zip that recompute reads", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(url({ clients: "1", requests: "1", max_tokens: "8", sweep: "1,2,4", ...FAST }));
  await run(page);
  for (const id of ["requests-per-minute-by-clients", "output-tokens-per-second-by-clients", "ttft-by-clients",
    "ttlt-by-clients", "error-rate-by-clients", "input-tokens-per-minute-by-clients", "output-tokens-per-minute-by-clients"]) {
    assert.equal(await page.locator(`#load-test-figures [data-figure="${id}"] svg`).count(), 1, id);
  }
  assert.match(await page.locator('#load-test-figures [data-figure="ttft-by-clients"] svg').innerHTML(), />\s*4\s*</);
  await page.screenshot({ path: join(SHOTS, "load-test-figures.png"), fullPage: true });
  const next = page.waitForEvent("download");
  await page.click("#export-sweep");
  const zip = await next;
  assert.equal(zip.suggestedFilename(), "tokenmeter-loadtest.zip");
  const dir = await mkdtemp(join(tmpdir(), "tm-sweep-"));
  const path = join(dir, "sweep.zip");
  await writeFile(path, await readFile(await zip.path()));
  // The native recompute reads it as a LoadTest: one level per client count.
  const { stdout } = await run_(join(ROOT, "target", "debug", "examples", "recompute"), [path]);
  const out = JSON.parse(stdout);
  const text = JSON.stringify(out);
  for (const level of ["00001-clients", "00002-clients", "00004-clients"]) assert.ok(text.includes(level), level);
  // And it imports back as a sweep, in another browser profile: three runs, charted by clients.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const other = await context.newPage();
  other.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  await other.goto(url({}));
  await other.setInputFiles("#import", path);
  await other.waitForSelector('#load-test-figures [data-figure="requests-per-minute-by-clients"] svg');
  assert.deepEqual(await other.$$eval("#results-list .run-name", (i) => i.map((e) => e.value)),
    ["00001-clients (imported)", "00002-clients (imported)", "00004-clients (imported)"]);
  await context.close();
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("runs survive a reload; they can be renamed, deleted, zipped; a full storage keeps the newest", async () => {
  const errors = [];
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  await page.goto(url({ clients: "2", requests: "2", ...FAST, api_key: "" }));
  await run(page);
  await run(page);
  assert.equal(await page.locator("#results-list tbody tr").count(), 2);
  await page.locator("#results-list tbody tr").first().locator(".run-name").fill("baseline");
  await page.locator("#results-list tbody tr").first().locator(".run-name").press("Enter");
  await page.locator("#results-list tbody tr").first().locator(".run-name").blur();
  await page.waitForTimeout(300);
  await page.reload();
  await page.waitForSelector("#results-list tbody tr >> nth=1");
  const names = await page.$$eval("#results-list .run-name", (inputs) => inputs.map((i) => i.value));
  assert.deepEqual(names, ["baseline", "run-2"]);
  assert.match(await page.textContent("#comparison thead"), /baseline.*run-2/s);
  // One click: every file of a run in one .zip.
  const next = page.waitForEvent("download");
  await page.locator("#results-list tbody tr").first().locator(".download-zip").click();
  const zip = await next;
  assert.equal(zip.suggestedFilename(), "baseline.zip");
  const bytes = await readFile(await zip.path());
  assert.equal(bytes.subarray(0, 2).toString(), "PK");
  // Deleted runs stay deleted.
  await page.locator("#results-list tbody tr").first().locator(".delete-run").click();
  await page.waitForTimeout(300);
  await page.reload();
  await page.waitForSelector("#results-list tbody tr");
  assert.equal(await page.locator("#results-list tbody tr").count(), 1);

  // Storage full: the browser refuses the next write once; the oldest run makes room.
  await page.evaluate(() => {
    const put = IDBObjectStore.prototype.put;
    let refuse = 1;
    IDBObjectStore.prototype.put = function (...args) {
      if (refuse-- > 0) throw new DOMException("full", "QuotaExceededError");
      return put.apply(this, args);
    };
  });
  await run(page);
  await page.waitForSelector("#storage-notice");
  assert.match(await page.textContent("#storage-notice"), /Storage was full: removed the oldest run \(run-2\)/);
  await page.reload();
  await page.waitForSelector("#results-list tbody tr");
  // The new run is numbered after the kept ones, never reusing a kept run's name.
  assert.deepEqual(await page.$$eval("#results-list .run-name", (i) => i.map((e) => e.value)), ["run-3"]);
  // Nothing stored holds a credential: the stored texts are the run files.
  const stored = await page.evaluate(() => new Promise((resolve) => {
    indexedDB.open("tokenmeter").onsuccess = (e) => {
      e.target.result.transaction("runs").objectStore("runs").getAll().onsuccess = (r) =>
        resolve(JSON.stringify(r.target.result));
    };
  }));
  assert.ok(stored.length > 1000 && !/sk-|secret|api_key":\s*"[^"]/.test(stored));
  assert.deepEqual(pageErrors(errors), []);
  await context.close();
});

test("imports: an LLMeter folder with its own numbers or Tokenmeter's side by side, a .zip of folders, a corrupt .zip", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(url({}));
  await page.selectOption("#import-rules", "both");
  await page.setInputFiles("#import", ["run_config.json", "responses.jsonl", "summary.json", "stats.json"]
    .map((f) => join(SAMPLE, f)));
  await page.waitForSelector("#comparison");
  const header = await page.textContent("#comparison thead");
  assert.match(header, /sample-openai \(imported\).*sample-openai \(Tokenmeter rules\)/s);
  const own = JSON.parse(await readFile(join(SAMPLE, "stats.json"), "utf8"));
  const cells = await page.$$eval('#comparison [data-stat="time_to_first_token-p90"]', (c) => c.map((e) => e.textContent));
  assert.equal(cells[0], (own["time_to_first_token-p90"] * 1e3).toFixed(1), "LLMeter's own p90");
  // Tokenmeter's send window counts the N−1 intervals between N sends: its requests/min differs from LLMeter's.
  const rpm = await page.$$eval('#comparison [data-stat="requests_per_minute"]', (c) => c.map((e) => e.textContent));
  assert.equal(rpm.length, 2);
  assert.notEqual(rpm[1], rpm[0], "the two rules side by side");
  assert.match(await page.textContent("#status"), /Tokenmeter's rules \(percentiles: linear/);

  // A .zip of a run folder (the page's own one-click export) imports back.
  const next = page.waitForEvent("download");
  await page.locator("#results-list tbody tr").first().locator(".download-zip").click();
  const zipPath = await (await next).path();
  await page.setInputFiles("#import", zipPath);
  await page.waitForFunction(() => document.querySelectorAll("#results-list tbody tr").length === 4, null, { timeout: 5000 })
    .catch(async (e) => { throw new Error(`${e.message}: ${await page.textContent("#status")} ${await page.locator("#import-error").textContent().catch(() => "")}`); });
  // A corrupt .zip: a clear error, nothing lost.
  await page.setInputFiles("#import", { name: "broken.zip", mimeType: "application/zip", buffer: Buffer.from("PK\x03\x04 not really") });
  await page.waitForSelector("#import-error");
  assert.match(await page.textContent("#import-error"), /broken\.zip: .*(zip|archive)/i);
  assert.equal(await page.locator("#results-list tbody tr").count(), 4);
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

// r22: a picked folder's responses.jsonl is read a slice at a time (4 MB), folded into its statistics batch by
// batch and stored in the record store, never whole in the page: 17,200 lines (12 MB, three slices) import with
// every request counted, and the run's .zip holds the file as it was picked, line for line.
test("r22: a large folder imports a slice at a time, every line counted and kept", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(url({}));
  const dir = await mkdtemp(join(tmpdir(), "tm-r22-import-"));
  const folder = join(dir, "big-run");
  await mkdir(folder);
  const lines = (await readFile(join(SAMPLE, "responses.jsonl"), "utf8")).split("\n").filter((l) => l.length > 0);
  const big = Array.from({ length: 860 }, () => lines.join("\n")).join("\n") + "\n";
  await writeFile(join(folder, "responses.jsonl"), big);
  await writeFile(join(folder, "run_config.json"), await readFile(join(SAMPLE, "run_config.json")));
  await page.setInputFiles("#import-folder", folder);
  await page.waitForSelector("#results-list tbody tr", { timeout: 60000 });
  await page.waitForFunction(() => /Imported/.test(document.querySelector("#status")?.textContent ?? ""), null,
    { timeout: 60000 });
  assert.equal(await page.textContent('#live-table [data-stat="total_requests"]'), "17200");
  const next = page.waitForEvent("download");
  await page.locator("#results-list tbody tr").first().locator(".download-zip").click();
  const zipPath = await (await next).path();
  const { stdout } = await run_("python3", ["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); "
    + "name = [n for n in z.namelist() if n.endswith('responses.jsonl')][0]; sys.stdout.write(z.read(name).decode())",
  zipPath], { maxBuffer: 64 << 20 });
  assert.equal(stdout, big, "the stored lines are the picked file");
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("a latency heatmap runs from the form over prompt × output lengths and draws TTFT and TTLT heatmaps", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(url({ heatmap: "10,200x8,32", clients: "2", requests: "2", sim_ttft: "fixed:0.02",
    sim_itl: "fixed:0.001", sim_tokens: "fixed:64" }));
  await run(page);
  assert.equal(await page.textContent('#live-table [data-stat="total_requests"]'), "8");
  for (const id of ["ttft-heatmap", "ttlt-heatmap"]) {
    const svg = await page.locator(`#figures [data-figure="${id}"] svg`).innerHTML();
    assert.match(svg, /input tokens/i, id);
  }
  await page.screenshot({ path: join(SHOTS, "heatmap.png"), fullPage: true });
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("r18-7: one bad folder among good ones keeps the good, names the bad, and skips a folder's other files unread", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(url({}));
  const dir = await mkdtemp(join(tmpdir(), "tokenmeter-import-"));
  const picked = join(dir, "runs");
  for (const folder of ["good", "bad"]) await mkdir(join(picked, folder), { recursive: true });
  for (const f of ["run_config.json", "responses.jsonl", "summary.json", "stats.json"]) {
    await writeFile(join(picked, "good", f), await readFile(join(SAMPLE, f)));
  }
  await writeFile(join(picked, "bad", "stats.json"), "{ this is not json");
  await writeFile(join(picked, "bad", "clip.mp4"), Buffer.alloc(1024));
  await page.setInputFiles("#import-folder", picked);
  await page.waitForSelector("#import-error");
  const error = await page.textContent("#import-error");
  assert.match(error, /runs\/bad: .*stats\.json/, error);
  assert.match(error, /Imported: 1 run: .*sample-openai \(imported\)/, error);
  assert.match(error, /runs\/bad\/clip\.mp4: not a run file, skipped/, error);
  await page.waitForSelector("#comparison");
  assert.match(await page.textContent("#comparison thead"), /sample-openai/);
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("r18-11: a reload mid-run keeps every request that had finished: the run comes back, marked interrupted", async () => {
  const errors = [];
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  // Two arrivals a second, each answered in 50 ms, for a minute: between arrivals nothing is in flight.
  await page.goto(url({ mode: "rate", rate: "2", clients: "4", requests: "", duration: "60", sim_ttft: "fixed:0.05",
    sim_itl: "fixed:0.001", sim_tokens: "fixed:4" }));
  await page.click("#run");
  const finished = async () => Number((await page.textContent("#progress")).match(/(\d+) finished/)[1]);
  await page.waitForFunction(() => Number(document.querySelector("#progress").textContent.match(/(\d+) finished/)[1]) >= 4,
    null, { timeout: 30000 });
  // Just after a request finished (the page shows it within 200 ms), and well before the next arrival.
  const seen = await finished();
  await page.waitForFunction((n) => Number(document.querySelector("#progress").textContent.match(/(\d+) finished/)[1]) > n,
    seen, { timeout: 5000 });
  await page.waitForTimeout(150);
  const kept = await finished();
  await page.reload();
  await page.waitForSelector("#storage-notice");
  assert.match(await page.textContent("#storage-notice"), /^Recovered from a closed or reloaded tab/);
  const names = await page.$$eval("#results-list .run-name", (i) => i.map((e) => e.value));
  assert.equal(names.length, 1, JSON.stringify(names));
  assert.match(names[0], /\(interrupted\)$/);
  await page.locator("#results-list tbody tr").first().locator(".select-run").check();
  await page.waitForSelector("#comparison");
  assert.equal(await page.textContent('#comparison [data-stat="total_requests"]'), String(kept),
    "every request that had finished, no more");
  // Recovered once: another reload finds it stored, not recovered again.
  await page.reload();
  await page.waitForSelector("#results-list tbody tr");
  assert.equal(await page.locator("#results-list tbody tr").count(), 1);
  assert.deepEqual(pageErrors(errors), []);
  await context.close();
});

// r22: records leave memory for the record store as they finish. 50,048 requests against the simulated model at
// zero latency (64 clients, 16 tokens each): the renderer grows by less than 200 MB (83-116 MB measured; about
// 900 MB when every record was kept: 18 KB a request), no main-thread task passes 50 ms during the run, while
// its figures are shown (drawn in a worker from the figure data the engine built) or during the export, and
// responses.jsonl, streamed from the store, has every line.
const GROWTH_BOUND = 200e6;
test("r22: a 50,000-request run keeps memory flat, never holds the page's thread 50 ms while it runs or exports, and exports every line", async () => {
  const own = await launchBrowser();
  const errors = [];
  const page = await newPage(own, errors);
  await page.goto(url({ clients: "64", requests: "782", sim_ttft: "fixed:0", sim_itl: "fixed:0", sim_tokens: "fixed:16",
    check: "false" }));
  await page.waitForSelector("#run:not([disabled])");
  await page.waitForTimeout(1000);
  const before = await rendererMemoryBytes(own);
  await watchLongTasks(page);
  await page.click("#run");
  await page.waitForSelector('#status[data-run-state="done"]', { timeout: 240000 });
  assert.equal(await page.textContent('#live-table [data-stat="total_requests"]'), "50048");
  const duringRun = await longTasks(page);
  await watchLongTasks(page);
  await page.waitForSelector('#figures[data-complete="true"]', { timeout: 120000 });
  await page.waitForTimeout(1000);
  const showingFigures = await longTasks(page);
  const grown = (await rendererMemoryBytes(own)) - before;
  await watchLongTasks(page);
  const download = page.waitForEvent("download", { timeout: 120000 });
  await page.click('.download-file[data-file="responses.jsonl"]');
  const file = await readFile(await (await download).path(), "utf8");
  const exporting = await longTasks(page);
  const lines = file.split("\n").filter((l) => l.length > 0);
  assert.equal(lines.length, 50048, "every request's line, streamed from the record store");
  assert.ok(lines.every((l) => l.startsWith("{") && l.endsWith("}")));
  console.log(`r22: renderer grew ${(grown / 1e6).toFixed(1)} MB; long tasks: run ${JSON.stringify(duringRun)}, `
    + `figures ${JSON.stringify(showingFigures)}, export ${JSON.stringify(exporting)}`);
  assert.ok(grown < GROWTH_BOUND, `the renderer grew by ${(grown / 1e6).toFixed(1)} MB`);
  assert.ok(duringRun.every((ms) => ms <= 50), `main-thread tasks over 50 ms during the run: ${duringRun}`);
  assert.ok(exporting.every((ms) => ms <= 50), `main-thread tasks over 50 ms during the export: ${exporting}`);
  // The figures come drawn from the worker and go into the page one per animation frame.
  assert.ok(showingFigures.every((ms) => ms <= 50), `main-thread tasks over 50 ms showing the figures: ${showingFigures}`);
  assert.deepEqual(pageErrors(errors), []);
  await own.close();
});

// r22: storage full (a test cap of 2 MB on what the run may store, about half of the run's lines; a stored batch
// is at most 512 lines, some 600 KB): record keeping ends cleanly, the run goes on
// with exact statistics, it says so in the page and in stats.json, and every record stored before is intact, after
// a reload too.
test("r22: storage full ends record keeping with a note; statistics stay exact and stored records intact", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript(() => { window.__tokenmeter_store_cap_bytes = 2000000; });
  const errors = [];
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  await page.goto(url({ clients: "8", requests: "500", sim_ttft: "fixed:0", sim_itl: "fixed:0", sim_tokens: "fixed:8",
    check: "false" }));
  await run(page);
  assert.equal(await page.textContent('#live-table [data-stat="total_requests"]'), "4000", "statistics count every request");
  await page.waitForSelector("#storage-notice");
  const note = await page.textContent("#storage-notice");
  const kept = Number(note.match(/Record keeping stopped after (\d+) requests/)?.[1]);
  assert.ok(kept > 0 && kept < 4000, note);
  const lines = async () => {
    const download = page.waitForEvent("download");
    await page.click('.download-file[data-file="responses.jsonl"]');
    return (await readFile(await (await download).path(), "utf8")).split("\n").filter((l) => l).length;
  };
  assert.equal(await lines(), kept, "every stored record, intact");
  const stats = async () => {
    const download = page.waitForEvent("download");
    await page.click('.download-file[data-file="stats.json"]');
    return JSON.parse(await readFile(await (await download).path(), "utf8"));
  };
  const saved = await stats();
  assert.equal(saved.total_requests, 4000);
  assert.equal(saved.tokenmeter_records_kept, kept);
  assert.match(saved.tokenmeter_records_note, /Record keeping stopped/);
  // After a reload the run and its stored records are still there.
  await page.reload();
  await page.waitForSelector("#results-list tbody tr");
  const zip = page.waitForEvent("download");
  await page.locator("#results-list tbody tr").first().locator(".download-zip").click();
  const dir = await mkdtemp(join(tmpdir(), "tm-r22-"));
  const zipPath = join(dir, "run.zip");
  await writeFile(zipPath, await readFile(await (await zip).path()));
  const { stdout } = await run_("python3", ["-c",
    "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); n = [x for x in z.namelist() if x.endswith('/responses.jsonl')][0]; print(len([l for l in z.read(n).splitlines() if l]))",
    zipPath]);
  assert.equal(Number(stdout.trim()), kept, "the zip, deflated batch by batch, holds the same lines");
  assert.deepEqual(pageErrors(errors), []);
  await context.close();
});

test("issue 20: the page's one-file report of the run in focus opens offline under the page's CSP with no console error", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(url({ clients: "4", requests: "25", max_tokens: "8", ...FAST }));
  await run(page);
  await page.waitForSelector('#figures[data-complete="true"]', { timeout: 60000 });
  const next = page.waitForEvent("download");
  await page.click("#export-report");
  const download = await next;
  assert.match(download.suggestedFilename(), /^tokenmeter-report-.*\.html$/);
  const html = await readFile(await download.path(), "utf8");
  assert.ok(html.length < 2_000_000, `${html.length} bytes`);
  const dir = await mkdtemp(join(tmpdir(), "tm-report-"));
  const path = join(dir, "report.html");
  await writeFile(path, html);
  const context = await browser.newContext({ offline: true });
  const report = await context.newPage();
  const problems = [];
  report.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`); });
  report.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  report.on("request", (r) => { if (!r.url().startsWith("file:")) problems.push(`request: ${r.url()}`); });
  await report.goto(`file://${path}`);
  assert.equal(await report.textContent('[data-stat="total_requests"]'), "100");
  assert.equal(await report.locator("figure svg").count(), PER_RUN.length);
  assert.match(await report.textContent('[data-stat="time_to_first_token-p50"] + td'), /95% CI/);
  assert.deepEqual(problems, []);
  await context.close();
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});

test("issue 20: GuideLLM, AIPerf and vLLM result files import by content: their own numbers beside Tokenmeter's, with how each defines them", async () => {
  const errors = [];
  const page = await newPage(browser, errors);
  await page.goto(url({}));
  await page.selectOption("#import-rules", "both");
  const dir = join(ROOT, "tests", "fixtures", "foreign");
  await page.setInputFiles("#import", [join(dir, "guidellm", "benchmarks.json"), join(dir, "aiperf", "ok", "profile_export.jsonl"),
    join(dir, "aiperf", "ok", "profile_export_aiperf.json"), join(dir, "vllm", "vllm-bench-serve.json")]);
  await page.waitForFunction(() => document.querySelectorAll("#results-list .run-name").length >= 6);
  const names = await page.$$eval("#results-list .run-name", (i) => i.map((e) => e.value));
  for (const name of ["guidellm concurrent 1 (GuideLLM numbers)", "guidellm concurrent 1 (Tokenmeter rules)",
    "aiperf profile (AIPerf numbers)", "aiperf profile (Tokenmeter rules)", "vllm openai-chat (vLLM bench serve numbers)",
    "vllm openai-chat (Tokenmeter rules)"]) assert.ok(names.includes(name), `${name} in ${names}`);
  const aiperf = JSON.parse(await readFile(join(dir, "aiperf", "ok", "profile_export_aiperf.json"), "utf8"));
  // The comparison shows the tool's own TTFT p50 exactly (ms, one decimal) beside Tokenmeter's recompute.
  const cells = await page.$$eval('#comparison [data-stat="time_to_first_token-p50"]', (c) => c.map((e) => e.textContent));
  assert.ok(cells.includes(aiperf.time_to_first_token.p50.toFixed(1)), `${cells} has ${aiperf.time_to_first_token.p50}`);
  const notes = await page.$$eval("#results-list .run-rules", (n) => n.map((e) => e.textContent));
  assert.ok(notes.some((n) => n.startsWith("AIPerf: TTFT to the first content chunk")), `${notes}`);
  // Not a known tool's file: named, nothing else lost.
  const bad = join(await mkdtemp(join(tmpdir(), "tm-foreign-")), "notes.json");
  await writeFile(bad, '{"hello": 1}');
  await page.setInputFiles("#import", bad);
  await page.waitForSelector("#import-error");
  assert.match(await page.textContent("#import-error"), /notes\.json: not a file of a known tool/);
  assert.deepEqual(pageErrors(errors), []);
  await page.close();
});
