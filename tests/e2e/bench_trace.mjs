// Benchmark (figures, not pass/fail) of trace replay (issue 19): a 1,000-request trace in Mooncake's schema
// (Poisson arrivals at about 120/s, prompts of 1 to 3,000 tokens sharing leading 512-token blocks) replayed at its
// own speed by the release `tokenmeter` command, with the native engine and with one browser (the page's engine in
// its worker), against the release mock-llm. Reports schedule lag p50/p99/max (how late each request started
// against its trace time) and checks the server's journal: every input length and output limit as the trace asks.
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, startMock, runProgram } from "./harness.mjs";

const BIN = process.env.TOKENMETER ?? join(ROOT, "target", "release", "tokenmeter");
const N = Number(process.env.TRACE_REQUESTS ?? 1000);
const mock = await startMock({ MOCK_TTFT_MS: "100", MOCK_ITL_MS: "5", MOCK_TOKENS: "8" });

// A seeded trace: exponential gaps (mean 8.3 ms), lengths uniform in 1..3000, outputs in 1..8.
let state = 0x7ace;
const rand = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
let at = 0;
const rows = [];
for (let i = 0; i < N; i++) {
  at += -Math.log(1 - rand()) * 1000 / 120;
  const input = 1 + Math.floor(rand() * 3000);
  const blocks = Math.ceil(input / 512);
  const hash_ids = Array.from({ length: blocks }, (_, b) => (b === 0 ? Math.floor(rand() * 4) : 100 + i * 8 + b));
  rows.push({ timestamp: Math.round(at), input_length: input, output_length: 1 + Math.floor(rand() * 8), hash_ids });
}
const asked = rows.map((r) => `${r.input_length}/${r.output_length}`).sort();

const tokenmeter = (args) => runProgram(BIN, args);

const table = [];
for (const [mode, args] of [["native engine", ["--engine", "native"]], ["1 browser (page engine)", ["--engine", "browser"]]]) {
  const dir = await mkdtemp(join(tmpdir(), "tokenmeter-trace-"));
  await writeFile(join(dir, "trace.jsonl"), rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const input = { endpoint: "http", api: "openai-chat", url: `${mock.url}/v1`, model: "mock-model", mode: "trace",
    trace: "trace.jsonl", clients: "256", timeout: "60", check: "false" };
  await writeFile(join(dir, "config.json"), JSON.stringify({ tokenmeter_input: input }));
  await fetch(`${mock.url}/mock/journal`, { method: "DELETE" });
  const { code, out } = await tokenmeter(["run", join(dir, "config.json"), ...args, "--out", join(dir, "out")]);
  if (code !== 0) {
    table.push(`| ${mode} | failed (exit ${code}) | | | | |`);
    console.error(out.slice(-3000));
    continue;
  }
  const stats = JSON.parse(await readFile(join(dir, "out", "stats.json"), "utf8"));
  const journal = (await (await fetch(`${mock.url}/mock/journal`)).json()).requests;
  const received = journal.map((r) => `${r.input_tokens}/${r.max_output_tokens}`).sort();
  const exact = JSON.stringify(received) === JSON.stringify(asked) ? "exact" : "DIFFERENT";
  const ms = (key) => (stats[key] == null ? "—" : (stats[key] * 1e3).toFixed(2));
  table.push(`| ${mode} | ${stats.total_requests} | ${ms("schedule_lag-p50")} | ${ms("schedule_lag-p99")} | ` +
    `${ms("schedule_lag-max")} | ${exact} |`);
  console.error(table.at(-1));
}
mock.stop();
console.log(`Trace replay: ${N} requests over ${(at / 1000).toFixed(1)} s at the trace's own speed, mock-llm TTFT 100 ms.`);
console.log("| engine | requests | schedule lag p50 (ms) | p99 (ms) | max (ms) | lengths in the server's journal |");
console.log("|---|---|---|---|---|---|");
for (const row of table) console.log(row);
