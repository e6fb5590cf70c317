// Benchmark (figures, not pass/fail), issue 18 §8: the page's start-up with 20 stored runs of 100,000 requests
// each (2,000,000 stored responses, written straight into the record store in the shape the engine's worker
// writes). Reports the time from navigation until the 20 runs are listed, the renderer's memory and the page's
// JS heap once they are. Before issue 22, every stored run was loaded whole at start-up (its responses inside
// its files): 20 such runs are some 2.8 GB of text, more than a tab can hold.
import { startStatic, launchBrowser, rendererMemoryBytes } from "./harness.mjs";

const RUNS = Number(process.env.RUNS ?? 20);
const LINES = Number(process.env.LINES ?? 100_000);
const site = await startStatic();
const browser = await launchBrowser();
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const form = new URLSearchParams({ clients: "4", requests: "4", sim_ttft: "fixed:0", sim_itl: "fixed:0",
  sim_tokens: "fixed:16", check: "false" });
await page.goto(`${site.url}/?${form}`);
await page.click("#run");
await page.waitForSelector('#status[data-run-state="done"]');
await page.waitForTimeout(1000);
// The run just stored, as a template: its SavedRun and one of its stored lines.
const seeded = await page.evaluate(async ({ runs, lines }) => {
  const db = await new Promise((ok) => { indexedDB.open("tokenmeter").onsuccess = (e) => ok(e.target.result); });
  const all = (store) => new Promise((ok) => { db.transaction(store).objectStore(store).getAll().onsuccess = (e) => ok(e.target.result); });
  const [template] = await all("runs");
  const saved = JSON.parse(template.json);
  const [batch] = (await all("checkpoints")).filter((e) => e.responses);
  const line = batch.responses.split("\n")[0] + "\n";
  const extra = batch.extras.split("\n")[0] + "\n";
  const put = (store, values) => new Promise((ok, fail) => {
    const tx = db.transaction(store, "readwrite");
    for (const v of values) tx.objectStore(store).put(v);
    tx.oncomplete = ok; tx.onerror = fail;
  });
  const responses = line.repeat(512), extras = extra.repeat(512);
  for (let r = 0; r < runs; r++) {
    const key = `${String(900 + r).padStart(20, "0")}/bench-${r}`;
    for (let b = 0; b * 512 < lines; b += 16) {
      const values = [];
      for (let i = b; i < b + 16 && i * 512 < lines; i++) {
        values.push({ key: `${key}/batch/${String(i).padStart(10, "0")}`, responses, extras });
      }
      await put("checkpoints", values);
    }
    const run = { ...saved, id: `bench-${r}`, name: `bench-${r}`, records: { key, lines, extras: true } };
    await put("runs", [{ id: run.id, json: JSON.stringify(run) }]);
  }
  return (line.length + extra.length) * lines * runs;
}, { runs: RUNS, lines: LINES });
await page.close();
const before = await rendererMemoryBytes(browser);
const fresh = await context.newPage();
const started = Date.now();
await fresh.goto(`${site.url}/`);
await fresh.waitForFunction((n) => document.querySelectorAll("#results-list tbody tr").length >= n, RUNS + 1,
  { timeout: 600000 });
const listed = Date.now() - started;
await fresh.waitForTimeout(2000);
const heap = await fresh.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
const memory = await rendererMemoryBytes(browser);
console.log(`BENCH startup: ${RUNS} stored runs of ${LINES} requests (${(seeded / 1e9).toFixed(2)} GB of stored lines)`);
console.log(`BENCH startup: listed ${RUNS + 1} runs ${listed} ms after navigation; renderer ${(memory / 1e6).toFixed(0)} MB `
  + `(${((memory - before) / 1e6).toFixed(0)} MB more than before the page opened), page JS heap ${(heap / 1e6).toFixed(1)} MB`);
await browser.close();
site.stop();
