/**
 * A real local HTTP server answering like AwesomeAPI's `/json/last/A-B,C-D`, with
 * switchable faults: slow, 500, 429 with Retry-After, HTML, a pair missing.
 */

import type { StoreCombo } from "./harness.ts";

export type UpstreamMode = "ok" | "slow" | "error500" | "rate_limited" | "html" | "missing_pair";

export interface Reading {
  bid: number;
  ask: number;
  high: number;
  low: number;
  varBid: number;
  pctChange: number;
  /** epoch seconds (a string is sent as is: a malformed reading) */
  timestamp: number | string;
}

export interface FakeAwesomeApi {
  /** Base URL to use as QUOTES_API_URL (ends with `/json/last/`). */
  url: string;
  mode: UpstreamMode;
  slowMs: number;
  retryAfterSeconds: number;
  requests: number;
  /** Sets the reading of a pair (e.g. "USD-BRL"). */
  setReading(pair: string, reading: Partial<Reading>): void;
  close(): Promise<void>;
}

const NAMES: Record<string, string> = {
  USD: "Dólar Americano",
  EUR: "Euro",
  BTC: "Bitcoin",
  BRL: "Real Brasileiro",
};

/**
 * Epoch seconds of a recent whole minute (an hour before the tests started): the
 * default reading time, and a base for tests' own, since readings far from the
 * clock are refused.
 */
export const RECENT_READING_SECONDS = Math.floor(Date.now() / 60_000) * 60 - 3_600;

/** The local time text AwesomeAPI gives in create_date (São Paulo, UTC−3). */
export function saoPauloText(epochSeconds: number): string {
  return new Date((epochSeconds - 3 * 3600) * 1000).toISOString().slice(0, 19).replace("T", " ");
}

export function startFakeAwesomeApi(): FakeAwesomeApi {
  const readings = new Map<string, Reading>();
  const base = (pair: string): Reading =>
    readings.get(pair) ?? {
      bid: 5.3541,
      ask: 5.3571,
      high: 5.4,
      low: 5.3,
      varBid: 0.0123,
      pctChange: 0.23,
      timestamp: RECENT_READING_SECONDS,
    };
  const controller = new AbortController();
  const state = { mode: "ok" as UpstreamMode, slowMs: 1_000, retryAfterSeconds: 2, requests: 0 };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen: () => {} },
    async (req) => {
      state.requests++;
      const url = new URL(req.url);
      const match = url.pathname.match(/^\/json\/last\/(.+)$/);
      if (!match) return new Response("not found", { status: 404 });
      if (state.mode === "slow") await new Promise((r) => setTimeout(r, state.slowMs));
      if (state.mode === "error500") return new Response("internal trouble", { status: 500 });
      if (state.mode === "rate_limited") {
        return new Response(JSON.stringify({ status: 429, message: "limit" }), {
          status: 429,
          headers: { "retry-after": String(state.retryAfterSeconds) },
        });
      }
      if (state.mode === "html") return new Response("<html><body>maintenance</body></html>");
      const pairs = decodeURIComponent(match[1]).split(",");
      const body: Record<string, Record<string, string>> = {};
      for (const [i, pair] of pairs.entries()) {
        if (state.mode === "missing_pair" && i === pairs.length - 1) continue;
        const [code, codein] = pair.split("-");
        const r = base(pair);
        body[`${code}${codein}`] = {
          code,
          codein,
          name: `${NAMES[code] ?? code}/${NAMES[codein] ?? codein}`,
          high: String(r.high),
          low: String(r.low),
          varBid: String(r.varBid),
          pctChange: String(r.pctChange),
          bid: String(r.bid),
          ask: String(r.ask),
          timestamp: String(r.timestamp),
          // a malformed timestamp keeps a sane create_date, as the real API's would be
          create_date: saoPauloText(
            Math.abs(Number(r.timestamp)) < 8.64e12 ? Number(r.timestamp) : Date.now() / 1000,
          ),
        };
      }
      return Response.json(body);
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/json/last/`,
    get mode() {
      return state.mode;
    },
    set mode(m) {
      state.mode = m;
    },
    get slowMs() {
      return state.slowMs;
    },
    set slowMs(v) {
      state.slowMs = v;
    },
    get retryAfterSeconds() {
      return state.retryAfterSeconds;
    },
    set retryAfterSeconds(v) {
      state.retryAfterSeconds = v;
    },
    get requests() {
      return state.requests;
    },
    setReading(pair, reading) {
      readings.set(pair, { ...base(pair), ...reading });
    },
    async close() {
      controller.abort();
      await server.finished;
    },
  };
}

/** The pairs the quote tests configure. */
export const TEST_PAIRS = "USD-BRL,EUR-BRL,BTC-BRL";

/** A test instance (on `combo`'s store, libSQL by default) whose quotes upstream is a fresh fake; `stop` ends both. */
export async function startWithFakeUpstream(
  env: Record<string, string> = {},
  combo?: Pick<StoreCombo, "store" | "driver">,
) {
  // imported here: the harness imports main.ts, which a bare upstream does not need
  const { startTestFila } = await import("./harness.ts");
  const upstream = startFakeAwesomeApi();
  const fila = await startTestFila({
    store: combo?.store,
    driver: combo?.driver,
    env: {
      QUOTES_API_URL: upstream.url,
      QUOTE_PAIRS: TEST_PAIRS,
      QUOTES_TIMEOUT_MS: "3000",
      ...env,
    },
  });
  return {
    upstream,
    fila,
    async stop() {
      await fila.stop();
      await upstream.close();
    },
  };
}
