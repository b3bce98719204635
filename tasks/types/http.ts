/**
 * HTTP tasks (the Cloud Tasks / QStash model): Fila sends one HTTP request per
 * attempt to a URL the submitter chose, retrying as the answer says, so any
 * language with an HTTP server can have work done "later" by Fila.
 *
 * Payload: `url` (http or https), `method` (GET, HEAD, POST, PUT, PATCH, DELETE or
 * OPTIONS; default POST), `headers` (an object of strings), `body`, `timeout_ms`.
 *
 * Body: a string is sent as its UTF-8 bytes (`text/plain; charset=utf-8` unless
 * `headers` names a content type); any other JSON value (object, array, number,
 * boolean) is sent as `JSON.stringify(body)` with `application/json` unless
 * `headers` names one; absent or null sends no body (GET and HEAD take none).
 * Those exact bytes are what is signed.
 *
 * Every request carries `Fila-Task-Id`, `Fila-Attempt` (1, 2, ... as retries go) and,
 * when HTTP_TASK_SECRET is set, `Fila-Signature: t=<unix seconds>,v1=<hex>` where
 * `v1` is HMAC-SHA256 of `"<t>.<raw body>"` under the secret (Stripe's scheme: the
 * receiver recomputes it over the bytes it read, compares in constant time and
 * refuses a `t` outside a few minutes of its clock). `t` and the signature are
 * made anew for each attempt. Headers named `Fila-*`, `Host`, `Content-Length` and
 * the hop-by-hop ones are Fila's to set: a payload naming them is refused.
 *
 * No HTTP_TASK_SECRET: requests go out unsigned (no `Fila-Signature` at all) and
 * the instance warns at start. This is Cloud Tasks' default (unsigned unless an
 * OIDC token is configured); a per-instance random key, the other option, would
 * sign with something no receiver can know, and with several instances the
 * signatures would not even agree. Unsigned fails closed: a receiver that checks
 * refuses every request (a 401, which fails the task at once, with that status in
 * its error) until the operator sets the key on Fila and on the receiver.
 *
 * Answers:
 * - 2xx: success. The result keeps `status`, `url` (after redirects), `headers`
 *   (only those in RESULT_HEADERS: content-type, content-length, etag,
 *   last-modified, location, retry-after, x-request-id -- not set-cookie or anything
 *   else a receiver might not want on a dashboard), `body` (the first 64 KiB, as
 *   UTF-8 text, or base64 when it is not UTF-8: `body_encoding` says which),
 *   `truncated` (more followed; reading stopped there, the rest was never
 *   buffered), `signed` and `attempt`.
 * - network errors, timeouts, 5xx, 408 and 429: retried with the engine's backoff
 *   until max_attempts (default 5 for this type); a `Retry-After` (seconds or an
 *   HTTP date) on such an answer is honoured, capped at an hour (the quotes
 *   client's cap): the retry comes no sooner than it says.
 * - other 4xx: failed at once (asking again gets the same answer). A 3xx Fila did
 *   not follow (no Location, 304, 300) fails at once too: only 2xx is success.
 *
 * Time: `timeout_ms` (default 30 s, at most 10 min) bounds each attempt's request,
 * from connecting to the last byte of the body kept; the task's own `timeout_ms`
 * (default 630 s for this type, so it never cuts a request short of its own
 * timeout) and a cancel bound it too: both abort the request and the read.
 *
 * Hosts: as `services.fetch` (outbound_fetch.ts) -- public addresses only unless
 * HTTP_TASK_ALLOWED_HOSTS / OUTBOUND_ALLOWED_HOSTS names the host or host:port. A
 * literal private address is a 400 at submit; a name is judged when resolved, and
 * a redirect when followed: either refusal fails the task at once.
 *
 * Redirects (at most 5) are followed, each hop checked like the first. The
 * signature goes along a redirect within the same origin (same body, same `t`); it
 * is dropped on a redirect to another origin (as `Authorization` is: that origin
 * was not the one the submitter named, and could replay the signed request to the
 * receivers sharing the key) and when the redirect drops the body (303, or 301/302
 * after a POST), since it would no longer verify. A receiver that moved should be
 * given its new URL in the task rather than reached through a redirect.
 */
import { Buffer } from "node:buffer";
import { z } from "zod";
import { MAX_RETRY_AFTER_MS } from "../clients/quotes_client.ts";
import { RetryLaterError, UnrecoverableError } from "../engine/errors.ts";
import { defineTask } from "./define_task.ts";

export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
/** How much of an answer's body the result keeps. */
export const MAX_RESULT_BODY_BYTES = 64 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const MAX_REQUEST_TIMEOUT_MS = 600_000;
/** The answer's headers a result keeps: what helps a caller, none that carries a secret. */
export const RESULT_HEADERS = [
  "content-type",
  "content-length",
  "etag",
  "last-modified",
  "location",
  "retry-after",
  "x-request-id",
] as const;
/** How much of a failed answer's body its error message quotes. */
const ERROR_BODY_CHARS = 200;

/** Headers Fila sets (or the HTTP stack owns): a payload may not name them. */
const RESERVED_HEADERS = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "expect",
  "proxy-connection",
]);

const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, {
  message: "not a valid header name",
}).max(256);
const headerValue = z.string().max(8192).refine((v) => !/[\r\n\0]/.test(v), {
  message: "a header value may not hold CR, LF or NUL",
});

export const httpTaskInput = z.object({
  url: z.url({ protocol: /^https?$/ }).max(8192).refine((u) => {
    const url = new URL(u);
    return url.username === "" && url.password === "";
  }, { message: "credentials in the URL are not sent; use headers (e.g. Authorization)" }),
  method: z.enum(HTTP_METHODS).default("POST"),
  headers: z.record(headerName, headerValue).default({}).superRefine((headers, ctx) => {
    const names = Object.keys(headers);
    if (names.length > 64) ctx.addIssue({ code: "custom", message: "at most 64 headers" });
    for (const name of names) {
      const lower = name.toLowerCase();
      if (lower.startsWith("fila-") || RESERVED_HEADERS.has(lower)) {
        ctx.addIssue({ code: "custom", path: [name], message: `${name} is set by Fila` });
      }
    }
    const lowered = names.map((n) => n.toLowerCase());
    if (new Set(lowered).size !== lowered.length) {
      ctx.addIssue({ code: "custom", message: "a header is named twice (names ignore case)" });
    }
  }),
  /** A string is sent as it is; any other JSON value as JSON text; null or absent: no body. */
  body: z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.array(z.unknown()),
    z.record(z.string(), z.unknown()),
  ]).nullable().optional(),
  timeout_ms: z.number().int().min(100).max(MAX_REQUEST_TIMEOUT_MS)
    .default(DEFAULT_REQUEST_TIMEOUT_MS),
}).strict().refine(
  (i) => !((i.method === "GET" || i.method === "HEAD") && i.body !== undefined && i.body !== null),
  { message: "a GET or HEAD request has no body", path: ["body"] },
);

type HttpTaskInput = z.output<typeof httpTaskInput>;

/** The bytes a payload's body is sent as, and the content type they go with. */
export function encodeBody(
  body: HttpTaskInput["body"],
): { bytes: Uint8Array<ArrayBuffer>; contentType: string } | null {
  if (body === undefined || body === null) return null;
  if (typeof body === "string") {
    return { bytes: new TextEncoder().encode(body), contentType: "text/plain; charset=utf-8" };
  }
  return { bytes: new TextEncoder().encode(JSON.stringify(body)), contentType: "application/json" };
}

/**
 * The `Fila-Signature` value of a request sent at `unixSeconds` with `body`:
 * `t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
 */
export async function signatureHeader(
  secret: string,
  unixSeconds: number,
  body: Uint8Array,
): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const prefix = encoder.encode(`${unixSeconds}.`);
  const signed = new Uint8Array(prefix.byteLength + body.byteLength);
  signed.set(prefix);
  signed.set(body, prefix.byteLength);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, signed));
  const hex = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
  return `t=${unixSeconds},v1=${hex}`;
}

/**
 * A `Retry-After` value in ms (delta-seconds or an HTTP date), capped at
 * MAX_RETRY_AFTER_MS; null when absent or unreadable (the engine's backoff rules).
 */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  const text = header?.trim();
  if (!text) return null;
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now;
  if (!Number.isFinite(ms)) return null;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/**
 * Reads at most `limit` bytes of `body`, then cancels the rest: never holds more
 * than the bytes kept plus one chunk. A signal aborting the fetch errors the read.
 */
export async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  if (body === null) return { bytes: new Uint8Array(), truncated: false };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  let truncated = false;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      const room = limit - length;
      if (value.byteLength > room) {
        chunks.push(value.subarray(0, room));
        length = limit;
        truncated = true;
        break;
      }
      chunks.push(value);
      length += value.byteLength;
    }
  } finally {
    // stop the transfer (a body may be endless); also frees the connection on error
    if (truncated) await reader.cancel().catch(() => {});
    else reader.releaseLock();
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { bytes, truncated };
}

/** Body bytes as UTF-8 text when they are, base64 otherwise (a cut may split a character). */
function bodyView(bytes: Uint8Array, truncated: boolean) {
  try {
    // stream mode leaves an incomplete last character out instead of failing on it
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
      .decode(bytes, { stream: truncated });
    return { body: text, body_encoding: "utf-8" as const };
  } catch {
    return { body: Buffer.from(bytes).toString("base64"), body_encoding: "base64" as const };
  }
}

function keptHeaders(headers: Headers): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of RESULT_HEADERS) {
    const value = headers.get(name);
    if (value !== null) kept[name] = value;
  }
  return kept;
}

/**
 * What went wrong on the network, from the innermost cause: fetch's own message
 * is "fetch failed", its cause says "... Connection refused (os error 111)".
 */
function networkReason(error: unknown): string {
  let root = error;
  while (root instanceof Error && root.cause instanceof Error) root = root.cause;
  const message = root instanceof Error ? root.message : String(root);
  return message.replace(/^error sending request for url \([^)]*\): /, "");
}

function isRetryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

export const http = defineTask({
  type: "http",
  description: "Sends an HTTP request (`url`, `method`, `headers`, `body`, `timeout_ms`), signed " +
    "with `HTTP_TASK_SECRET`; network errors, 5xx, 408 and 429 are retried (`Retry-After` " +
    "honoured), other 4xx fail at once. The result keeps the status, some headers and the " +
    "first 64 KiB of the body. Public hosts only unless `HTTP_TASK_ALLOWED_HOSTS` names the host.",
  input: httpTaskInput,
  example: {
    url: "https://example.com/webhooks/fila",
    method: "POST",
    body: { event: "invoice.paid", invoice_id: "inv_123" },
  },
  defaults: { maxAttempts: 5, timeoutMs: MAX_REQUEST_TIMEOUT_MS + 30_000 },
  admit: (input, services) => services.literalUrlRefusal(input.url),
  async run({ input, taskId, attempt, signal, services }) {
    const encoded = encodeBody(input.body);
    const headers = new Headers(input.headers);
    if (encoded && !headers.has("content-type")) headers.set("content-type", encoded.contentType);
    if (!headers.has("user-agent")) headers.set("user-agent", "Fila (http task)");
    headers.set("fila-task-id", taskId);
    headers.set("fila-attempt", String(attempt));
    const secret = services.httpTaskSecret;
    const body = encoded?.bytes ?? new Uint8Array();
    if (secret !== null) {
      headers.set(
        "fila-signature",
        await signatureHeader(secret, Math.floor(Date.now() / 1000), body),
      );
    }
    const what = `${input.method} ${input.url}`;
    const timeout = AbortSignal.timeout(input.timeout_ms);
    const requestSignal = AbortSignal.any([signal, timeout]);
    const started = performance.now();
    try {
      const response = await services.fetch(input.url, {
        method: input.method,
        headers,
        body: encoded?.bytes,
        signal: requestSignal,
        boundHeaders: ["fila-signature"],
      });
      if (response.status < 200 || response.status >= 300) {
        throw await failureOf(what, response);
      }
      const { bytes, truncated } = await readCapped(response.body, MAX_RESULT_BODY_BYTES);
      return {
        status: response.status,
        url: response.url || input.url,
        headers: keptHeaders(response.headers),
        ...bodyView(bytes, truncated),
        body_bytes: bytes.byteLength,
        truncated,
        signed: secret !== null,
        attempt,
        duration_ms: Math.round(performance.now() - started),
      };
    } catch (error) {
      // a cancel, the task's timeout or a shutdown: the engine reads the signal's reason
      if (signal.aborted) throw signal.reason;
      // refusals (unrecoverable) and the answers judged by failureOf, as they are
      if (
        error instanceof UnrecoverableError || error instanceof RetryLaterError ||
        error instanceof RetryableAnswerError
      ) throw error;
      if (timeout.aborted) {
        throw new Error(`${what}: no complete answer within ${input.timeout_ms} ms (timeout_ms)`);
      }
      // a network error: worth another attempt
      throw new Error(`${what}: ${networkReason(error)}`, { cause: error });
    }
  },
});

/** A retryable answer without a Retry-After: the engine's backoff decides when. */
class RetryableAnswerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RetryableAnswerError";
  }
}

/** The error a non-2xx answer ends the attempt with; reads a little of its body for the message. */
async function failureOf(what: string, response: Response): Promise<Error> {
  const { bytes, truncated } = await readCapped(response.body, ERROR_BODY_CHARS * 4)
    .catch(() => ({ bytes: new Uint8Array(), truncated: false }));
  const text = new TextDecoder().decode(bytes).trim();
  const cut = truncated || text.length > ERROR_BODY_CHARS;
  const quoted = text ? `: ${text.slice(0, ERROR_BODY_CHARS)}${cut ? "\u2026" : ""}` : "";
  const statusText = response.statusText ? ` ${response.statusText}` : "";
  const message = `${what} answered ${response.status}${statusText}${quoted}`;
  if (isRetryable(response.status)) {
    const wait = retryAfterMs(response.headers.get("retry-after"));
    return wait === null
      ? new RetryableAnswerError(message)
      : new RetryLaterError(`${message} (Retry-After: ${wait / 1000} s)`, wait);
  }
  if (response.status >= 300 && response.status < 400) {
    return new UnrecoverableError(`${message}: a redirect Fila could not follow`);
  }
  return new UnrecoverableError(message);
}
