// End-to-end: the release build published as a static site under a sub-path, with the response headers README's
// "Publishing the page" asks for (COOP/COEP, the CSP header): it loads only its own files, runs, is cross-origin
// isolated, and the CSP is in force without the page itself breaking any of it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ROOT, startMock, startStatic, builtPolicy, hostedHeaders, launchBrowser, newPage } from "./harness.mjs";

const BASE = "/tools/tokenmeter/";
let mock, site, browser, policy;

before(async () => {
  policy = await builtPolicy();
  [mock, site] = await Promise.all([startMock(), startStatic({ base: BASE, headers: hostedHeaders(policy) })]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  mock?.stop();
  site?.stop();
});

/** Clicks Run and waits for the run to end. */
async function run(page) {
  await page.click("#run");
  await page.waitForSelector('#status[data-status="done"]', { timeout: 30000 });
}

const stat = async (page, key) => page.textContent(`#live-table [data-stat="${key}"]`);

test("the built site under a sub-path with COOP/COEP and the CSP header: runs, cross-origin isolated, no violations", async () => {
  // The build links only relative URLs and names no other host; README documents the page's own policy.
  const html = await readFile(join(ROOT, "dist", "index.html"), "utf8");
  const links = [...html.matchAll(/\b(?:src|href|data-js|data-wasm)="([^"]*)"/g)].map((m) => m[1]);
  assert.ok(links.length >= 6, `links in dist/index.html: ${links}`);
  for (const link of links) assert.match(link, /^\.\/[\w.-]+$/, `dist/index.html links ${link}`);
  assert.doesNotMatch(html.replace(policy, ""), /(?:https?:)?\/\/[\w-]+\.[\w.-]+/, "dist/index.html names no other host");
  assert.doesNotMatch(policy, /'unsafe-inline'|'unsafe-eval'|(?:^|[\s;])\*(?:[\s;]|$)/, "no inline script, eval or wildcard");
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  assert.ok(readme.includes(`Content-Security-Policy: ${policy}; frame-ancestors 'none'`),
    "README documents the CSP header index.html carries");

  const errors = [];
  const page = await newPage(browser, errors);
  // Every CSP violation the page reports, whichever policy (meta or header) it breaks.
  await page.addInitScript(() => {
    self.cspViolations = [];
    addEventListener("securitypolicyviolation", (e) =>
      self.cspViolations.push(`${e.effectiveDirective} ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`));
  });
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));

  const response = await page.goto(`${site.url}/?${new URLSearchParams({ clients: "2", requests: "2" })}`);
  assert.equal(response.headers()["cross-origin-embedder-policy"], "require-corp");
  await run(page);
  assert.equal(await stat(page, "total_requests"), "4", await page.textContent("#status"));
  assert.equal(await stat(page, "failed_requests"), "0");
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, "COOP + COEP make the page cross-origin isolated");
  // So the page times finely and says nothing about a coarse clock.
  assert.equal(await page.locator("#isolation-note").count(), 0);
  assert.deepEqual(await page.evaluate(() => self.cspViolations), []);
  // r18-10: the figures (drawn in a figures worker, text measured with a canvas) need no patched DOM method and
  // no exception to the style policy.
  await page.waitForSelector('#figures [data-figure="ttft-cdf"] svg', { timeout: 30000 });
  assert.match(await page.evaluate(() => Element.prototype.setAttribute.toString()), /\[native code\]/);
  assert.match(await page.locator('#figures [data-figure="ttft-cdf"] svg').innerHTML(), /p50/);
  assert.deepEqual(await page.evaluate(() => self.cspViolations), []);

  // A user's endpoint stays reachable under COEP and connect-src: the mock server on 127.0.0.1, over CORS.
  await page.goto(`${site.url}/?${new URLSearchParams({ url: `${mock.url}/v1?tokens=4`, clients: "2", requests: "2" })}`);
  await run(page);
  assert.equal(await stat(page, "total_requests"), "4", await page.textContent("#status"));
  assert.equal(await stat(page, "failed_requests"), "0", await page.textContent("#status"));
  // Isolated, the engine's worker times to microseconds: its run_config.json says so, and the latencies are not
  // on the 100 µs grid an unisolated page is held to.
  const file = async (name) => {
    const next = page.waitForEvent("download");
    await page.getByRole("button", { name, exact: true }).click();
    return readFile(await (await next).path(), "utf8");
  };
  const clock = JSON.parse(await file("run_config.json")).tokenmeter_clock;
  assert.equal(clock.cross_origin_isolated, true);
  assert.ok(clock.timer_resolution_us <= 20, `timer resolution ${clock.timer_resolution_us} µs`);
  const latencies = (await file("responses.jsonl")).trim().split("\n").map((l) => JSON.parse(l))
    .flatMap((r) => [r.time_to_first_token, r.time_to_last_token]);
  const offGrid = latencies.filter((v) => Math.abs(v * 1e4 - Math.round(v * 1e4)) > 1e-6);
  assert.ok(offGrid.length > 0, `every latency is a whole 100 µs: ${latencies}`);

  // The page loaded nothing outside its own sub-path, and broke no rule of its policy.
  const own = requests.filter((u) => !u.startsWith(mock.url));
  assert.ok(own.some((u) => u.endsWith(".wasm")), `the page's own requests: ${own}`);
  for (const u of own) assert.ok(u.startsWith(site.url + "/"), `${u} is outside ${BASE}`);
  assert.deepEqual(await page.evaluate(() => self.cspViolations), []);
  assert.deepEqual(errors, []);

  // The policy is in force: an inline script and a connection outside connect-src (a data: URL, which needs no
  // network) are refused.
  const probe = await page.evaluate(async () => {
    const script = document.createElement("script");
    script.textContent = "self.inlineRan = true";
    document.head.append(script);
    const fetched = await fetch("data:text/plain,x").then(() => "sent", () => "refused");
    await new Promise((r) => setTimeout(r, 100)); // violation events are queued as tasks
    return { inlineRan: self.inlineRan === true, fetched, directives: [...new Set(self.cspViolations.map((v) => v.split(" ")[0]))] };
  });
  assert.deepEqual(probe, { inlineRan: false, fetched: "refused", directives: ["script-src-elem", "connect-src"] });
  await page.close();
});
