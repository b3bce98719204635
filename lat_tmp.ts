import { LeanHttpPool } from "./tests/bench/lean_http.ts";
const [url, rateS, secS, what] = Deno.args;
const http = await LeanHttpPool.open(url);
const rate = Number(rateS), total = rate * Number(secS);
const times: number[] = [];
const start = performance.now();
const pending: Promise<void>[] = [];
for (let i = 0; i < total; i++) {
  const w = start + i * 1000 / rate - performance.now();
  if (w > 1) await new Promise((r) => setTimeout(r, w));
  const t = performance.now();
  const p = what === "get"
    ? http.request("GET", "/currency")
    : http.request("POST", "/tasks", { type: "noop", payload: { n: i } });
  pending.push(p.then(() => {
    times.push(performance.now() - t);
  }));
}
await Promise.all(pending);
times.sort((a, b) => a - b);
const p = (q: number) => times[Math.floor(times.length * q / 100)].toFixed(2);
console.log(
  what,
  "p50",
  p(50),
  "p90",
  p(90),
  "p99",
  p(99),
  "p99.9",
  p(99.9),
  "max",
  times.at(-1)!.toFixed(1),
  ">3ms:",
  times.filter((t) => t > 3).length,
);
http.close();
