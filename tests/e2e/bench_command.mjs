// Benchmark (figures, not pass/fail) of the `tokenmeter` command against mock-llm over plain HTTP/1.1: TTFT p50/p99,
// requests/min and browser-queue p99 at 4 (the baseline), 64 and 256 concurrent streams for browser shards, one
// browser with *.localhost fan-out, the native engine, and one browser without fan-out (the 6-connection cap).
// Every row also checks the server's own count against the merged total. Run by scripts/bench.sh with release builds.
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, startMock, runProgram } from "./harness.mjs";

const BIN = process.env.TOKENMETER ?? join(ROOT, "target", "release", "tokenmeter");
const SERVER = { MOCK_TTFT_MS: "200", MOCK_ITL_MS: "10", MOCK_TOKENS: "20" };
const LEVELS = (process.env.BENCH_LEVELS ?? "4,64,256").split(",").map(Number);
const MODES = [
  ["browser shards (4, fan-out auto)", ["--engine", "browser", "--shards", "4"], {}],
  ["1 browser, fan-out", ["--engine", "browser"], {}],
  ["native engine", ["--engine", "native"], {}],
  ["1 browser, no fan-out", ["--engine", "browser"], { fan_out: "off" }],
];

const mock = await startMock(SERVER);
const served = async () => (await (await fetch(`${mock.url}/mock/stats`)).json()).requests;

const tokenmeter = (args) => runProgram(BIN, args);

const rows = [];
for (const clients of LEVELS) {
  for (const [mode, args, extra] of MODES) {
    if (clients < 4 && args.includes("--shards")) continue;
    const dir = await mkdtemp(join(tmpdir(), "tokenmeter-bench-"));
    const input = { endpoint: "http", api: "openai-chat", url: `${mock.url}/v1`, model: "mock-model", mode: "closed",
      clients: String(clients), requests: "4", max_tokens: "20", timeout: "60", check: "false", ...extra };
    await writeFile(join(dir, "config.json"), JSON.stringify({ tokenmeter_input: input }));
    const before = await served();
    const { code, out } = await tokenmeter(["run", join(dir, "config.json"), ...args, "--out", join(dir, "out")]);
    if (code !== 0) {
      rows.push(`| ${mode} | ${clients} | failed (exit ${code}) | | | | |`);
      console.error(out);
      continue;
    }
    const stats = JSON.parse(await readFile(join(dir, "out", "stats.json"), "utf8"));
    const count = (await served()) - before;
    const ms = (key) => (stats[key] === undefined || stats[key] === null ? "—" : (stats[key] * 1e3).toFixed(1));
    rows.push(`| ${mode} | ${clients} | ${stats.total_requests} (server ${count}) | ${ms("time_to_first_token-p50")} | ` +
      `${ms("time_to_first_token-p99")} | ${stats.requests_per_minute.toFixed(0)} | ${ms("browser_queue_time-p99")} |`);
    console.error(rows.at(-1));
  }
}
mock.stop();
console.log(`Server: mock-llm over plain HTTP/1.1 on loopback, TTFT ${SERVER.MOCK_TTFT_MS} ms, ITL ${SERVER.MOCK_ITL_MS} ms, ` +
  `${SERVER.MOCK_TOKENS} tokens; 4 requests per client.`);
console.log("| mode | streams | requests (server count) | TTFT p50 (ms) | TTFT p99 (ms) | requests/min | browser queue p99 (ms) |");
console.log("|---|---|---|---|---|---|---|");
for (const row of rows) console.log(row);
