// Shared set-up for the end-to-end tests and the browser benchmark: the mock LLM server, a static server for
// the built dist/, and headless Debian Chromium driven by playwright-core (no browser download).
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DIST = join(ROOT, "dist");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css",
  ".svg": "image/svg+xml", ".json": "application/json" };

/**
 * Starts target/debug/mock-llm on a free port; resolves to { url, stop }. `env` adds environment variables
 * (MOCK_TTFT_MS, …). With `{ tls: true }` it serves HTTPS with HTTP/2 (ALPN h2, http/1.1) on a self-signed
 * certificate and `url` is `https://127.0.0.1:PORT`; launchBrowser's Chromium accepts that certificate.
 */
export async function startMock(env = {}, { tls = false } = {}) {
  // The benchmark points MOCK_LLM at a release build, so the server adds as little as it can.
  const bin = process.env.MOCK_LLM ?? join(ROOT, "target", "debug", "mock-llm");
  const child = spawn(bin, tls ? ["--tls"] : [], {
    env: { ...process.env, PORT: "0", MOCK_TLS: "", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`mock-llm did not start: ${out}`)), 15000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (https?:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on("exit", (code) => reject(new Error(`mock-llm exited with ${code}: ${out}`)));
  });
  return { url, stop: () => child.kill("SIGTERM") };
}

/**
 * Serves dist/ on a free port; resolves to { url, stop }. `url` has no trailing slash (pages append `/?…`).
 * Options: `base`, the path the site is published under (default `/`; `/tools/tokenmeter/` serves it there, the
 * bare `/tools/tokenmeter` redirects as static hosts do, and anything outside it is a 404); `headers`, sent with
 * every response (such as hostedHeaders(…)).
 */
/** Runs the program `bin` (the `tokenmeter` command) with `args` from the repository root; resolves to
 * `{ code, out }`, its exit code and its stdout and stderr together. */
export function runProgram(bin, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("exit", (code) => resolve({ code, out }));
  });
}

export async function startStatic({ base = "/", headers = {} } = {}) {
  const prefix = base.endsWith("/") ? base : `${base}/`;
  const server = createServer(async (req, res) => {
    const pathname = new URL(req.url, "http://x").pathname;
    if (`${pathname}/` === prefix) {
      res.writeHead(301, { ...headers, location: prefix }).end();
      return;
    }
    if (!pathname.startsWith(prefix)) {
      res.writeHead(404, headers).end("not found");
      return;
    }
    const path = normalize(`/${decodeURIComponent(pathname.slice(prefix.length))}`).replace(/^\/+/, "");
    const file = path === "" || path === "." ? "index.html" : path;
    try {
      const body = await readFile(join(DIST, file));
      res.writeHead(200, { ...headers, "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404, headers).end("not found");
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}${prefix.slice(0, -1)}`;
  return { url, stop: () => server.close() };
}

/** The Content-Security-Policy of the built page: the one in dist/index.html's meta tag. */
export async function builtPolicy() {
  const html = await readFile(join(DIST, "index.html"), "utf8");
  const meta = html.match(/<meta http-equiv="Content-Security-Policy" content="([^"]+)"/);
  if (!meta) throw new Error("dist/index.html has no Content-Security-Policy meta tag");
  return meta[1];
}

/**
 * The response headers README's "Publishing the page" asks a host to send, for the page's `policy` (see
 * builtPolicy): cross-origin isolation, and the CSP with frame-ancestors, which a meta tag cannot carry.
 */
export function hostedHeaders(policy) {
  return {
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
    "content-security-policy": `${policy}; frame-ancestors 'none'`,
    "x-content-type-options": "nosniff",
  };
}

/**
 * Launches headless Chromium with the flags this closed network needs. `--ignore-certificate-errors` lets it
 * reach startMock(…, { tls: true })'s self-signed https server (and so speak HTTP/2 to it); the tests only
 * talk to loopback. `extraArgs` adds flags (e.g. `--host-resolver-rules` to give loopback another name).
 */
export async function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
      "--ignore-certificate-errors", ...extraArgs],
  });
}

/** A page that records console errors and uncaught exceptions into `errors`. */
export async function newPage(browser, errors) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
  return page;
}

/**
 * The resident memory of `browser`'s renderer processes, in bytes (Linux: /proc/PID/status VmRSS of every process
 * the browser reports as a renderer; workers live in their page's renderer). A page's growth is the difference of
 * two readings.
 */
export async function rendererMemoryBytes(browser) {
  const cdp = await browser.newBrowserCDPSession();
  try {
    const { processInfo } = await cdp.send("SystemInfo.getProcessInfo");
    let total = 0;
    for (const p of processInfo.filter((p) => p.type === "renderer")) {
      const status = await readFile(`/proc/${p.id}/status`, "utf8").catch(() => "");
      const kb = Number(status.match(/VmRSS:\s+(\d+) kB/)?.[1] ?? 0);
      total += kb * 1024;
    }
    return total;
  } finally {
    await cdp.detach();
  }
}

/**
 * Starts collecting the page's long tasks (main thread, ≥ 50 ms) into `window.__longTasks`, and the long animation
 * frames (≥ 50 ms) with what ran in them into `window.__longFrames`, to say where a long task came from.
 */
export async function watchLongTasks(page) {
  await page.evaluate(() => {
    window.__longTasks = [];
    window.__longFrames = [];
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
    }).observe({ type: "longtask" });
    if (PerformanceObserver.supportedEntryTypes.includes("long-animation-frame")) {
      new PerformanceObserver((list) => {
        for (const f of list.getEntries()) {
          window.__longFrames.push({
            duration: Math.round(f.duration),
            blocking: Math.round(f.blockingDuration),
            render: Math.round(f.renderStart ? f.startTime + f.duration - f.renderStart : 0),
            layout: Math.round(f.styleAndLayoutStart ? f.startTime + f.duration - f.styleAndLayoutStart : 0),
            scripts: f.scripts.map((s) => ({
              ms: Math.round(s.duration),
              invoker: s.invoker,
              fn: s.sourceFunctionName,
              layout: Math.round(s.forcedStyleAndLayoutDuration),
            })),
          });
        }
      }).observe({ type: "long-animation-frame" });
    }
  });
}

/** The long tasks collected since watchLongTasks, in ms. */
export const longTasks = (page) => page.evaluate(() => window.__longTasks);

/** The long animation frames collected since watchLongTasks, longest first: where the time went. */
export const longFrames = (page) =>
  page.evaluate(() => [...window.__longFrames].sort((a, b) => b.duration - a.duration));
