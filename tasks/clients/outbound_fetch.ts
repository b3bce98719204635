/**
 * A guarded `fetch` for task code that fetches URLs its callers chose (process_csv's
 * `url`, a future `http` task type). Without it, anyone who may submit a task can
 * make Fila read its own loopback services, the private network, or a cloud
 * metadata endpoint and hand back what they answer (server-side request forgery).
 *
 * Every hop, the first and each redirect, is checked before it is sent:
 * - only http: and https: URLs;
 * - the host is turned into addresses: an IP literal as written (the URL parser has
 *   already turned `0x7f.1`, `2130706433` and `017700000001` into `127.0.0.1`),
 *   IPv4-mapped IPv6 (`::ffff:127.0.0.1`) as the IPv4 it carries, a name through
 *   `Deno.resolveDns` (A and AAAA);
 * - every address must be public unicast: ipaddr.js classifies it, and anything it
 *   does not call `unicast` (loopback, private, link-local -- 169.254.169.254 the
 *   metadata endpoint among them --, unique-local -- fd00:ec2::254 --, CGNAT, multicast,
 *   unspecified, broadcast, reserved, NAT64, 6to4, Teredo ...) is refused, as is IPv6
 *   outside the global unicast block 2000::/3;
 * - redirects are followed here (`redirect: "manual"`), at most `MAX_REDIRECTS`.
 *
 * `OUTBOUND_ALLOWED_HOSTS` (alias `HTTP_TASK_ALLOWED_HOSTS`) names hosts, or
 * host:port pairs, that skip the address check: an operator's own internal service,
 * or the tests' local servers.
 *
 * DNS rebinding: checking the addresses of a name and then letting `fetch` resolve it
 * again leaves a window in which the name can move to an internal address. For
 * http: the request is sent to the checked address itself: the URL names the address
 * and the Host header keeps the name (`Deno.createHttpClient({ allowHost: true })`),
 * so the server sees an ordinary `GET /path` with `Host: name` (a `tcp` transport
 * would pin the address too, but it makes the request line absolute --
 * `GET http://name/path` --, which servers such as Python's http.server take as the
 * path). For https: pinning the address would lose the name TLS needs, so `fetch`
 * resolves the name again; the certificate check closes the gap there, since an
 * internal address cannot prove it is the attacker's name. The resolver `fetch` uses
 * (getaddrinfo) may also read sources `Deno.resolveDns` does not (/etc/hosts entries,
 * mDNS): the same reasoning covers https, and http never uses that second answer.
 */
import ipaddr from "ipaddr.js";
import { UnrecoverableError } from "../engine/errors.ts";

/** How many redirects one fetch follows before it gives up. */
export const MAX_REDIRECTS = 5;

/** The configuration variable that names the allowed hosts (also read as `HTTP_TASK_ALLOWED_HOSTS`). */
export const ALLOW_LIST_VARIABLE = "OUTBOUND_ALLOWED_HOSTS";

/** Well-known cloud metadata endpoints, named in refusals so an operator sees what was tried. */
const METADATA_ADDRESSES = new Set(["169.254.169.254", "fd00:ec2::254", "100.100.100.200"]);

const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR("2000::/3");

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** A refused destination: never worth retrying, and says which host and why. */
export class OutboundRefusedError extends UnrecoverableError {
  constructor(message: string) {
    super(message);
    this.name = "OutboundRefusedError";
  }
}

export interface OutboundOptions {
  /** Normalised entries from `parseAllowList`: `host` (any port) or `host:port`. */
  allowedHosts?: readonly string[];
}

/** The init a guarded fetch accepts: a body must be replayable, since a 307/308 resends it. */
export interface OutboundInit {
  method?: string;
  headers?: HeadersInit;
  body?: string | Uint8Array<ArrayBuffer>;
  signal?: AbortSignal;
  /**
   * Headers that vouch for this exact request (the http task's signature): like
   * `authorization` they do not follow a redirect to another origin, and they are
   * dropped when a redirect drops the body, since they would no longer be true.
   */
  boundHeaders?: readonly string[];
}

/**
 * Parses an allow-list (`host`, `host:port`, `[v6]:port`, comma-separated) into
 * normalised entries; throws a message naming the bad entry.
 */
export function parseAllowList(text: string | undefined): string[] {
  const entries = (text ?? "").split(",").map((e) => e.trim()).filter(Boolean);
  return entries.map((entry) => {
    // a bare IPv6 address has colons but no brackets: it has no port
    const bracketed = entry.includes(":") && !entry.startsWith("[") &&
        ipaddr.IPv6.isValid(entry)
      ? `[${entry}]`
      : entry;
    const port = bracketed.match(/:(\d{1,5})$/)?.[1];
    let url: URL;
    try {
      url = new URL(`http://${bracketed}/`);
    } catch {
      throw new Error(`'${entry}' is not a host or host:port`);
    }
    if (url.pathname !== "/" || url.username || url.password || url.search || url.hash) {
      throw new Error(`'${entry}' is not a host or host:port`);
    }
    if (port !== undefined && Number(port) > 65_535) throw new Error(`'${entry}': bad port`);
    const host = stripDot(url.hostname);
    return port === undefined ? host : `${host}:${Number(port)}`;
  });
}

/**
 * Why a guarded fetch would refuse `url` before any DNS lookup -- not http(s), or
 * an IP literal that is not public and not allow-listed -- or null: a name is only
 * judged when it is resolved, at fetch time. For checks at submit time.
 */
export function literalHostRefusal(
  url: string,
  allowedHosts: readonly string[] = [],
): string | null {
  try {
    const target = parseTarget(url);
    const address = literalAddress(target);
    if (address !== null && !isAllowListed(target, new Set(allowedHosts))) {
      refuseUnlessPublic(target, address, null);
    }
    return null;
  } catch (error) {
    if (error instanceof OutboundRefusedError) return error.message;
    throw error;
  }
}

/**
 * `fetch` for URLs a task was given: refuses non-public destinations (first hop and
 * every redirect) unless the allow-list names them, with an `OutboundRefusedError`.
 */
export async function outboundFetch(
  input: string | URL,
  init: OutboundInit = {},
  options: OutboundOptions = {},
): Promise<Response> {
  const allowed = new Set(options.allowedHosts ?? []);
  let url = parseTarget(String(input));
  let method = (init.method ?? "GET").toUpperCase();
  let body = init.body;
  const headers = new Headers(init.headers);
  for (let hop = 0;; hop++) {
    let target: Target;
    try {
      target = await checkTarget(url, allowed, init.signal);
    } catch (error) {
      if (hop > 0 && error instanceof OutboundRefusedError) {
        throw new OutboundRefusedError(`${input} redirected; ${error.message}`);
      }
      throw error;
    }
    const response = await send(url, target, { method, headers, body, signal: init.signal });
    const location = response.headers.get("location");
    if (!REDIRECTS.has(response.status) || location === null) return response;
    await response.body?.cancel();
    if (hop === MAX_REDIRECTS) {
      throw new OutboundRefusedError(`${input}: more than ${MAX_REDIRECTS} redirects`);
    }
    const next = parseTarget(location, url);
    // as fetch does: 303 (and 301/302 after a POST) becomes a GET without a body
    if (
      response.status === 303 || ((response.status === 301 || response.status === 302) &&
        method === "POST")
    ) {
      if (method !== "HEAD") method = "GET";
      body = undefined;
      headers.delete("content-type");
      for (const name of init.boundHeaders ?? []) headers.delete(name);
    }
    // credentials meant for one origin do not travel to another
    if (next.origin !== url.origin) {
      for (const name of ["authorization", "cookie", ...(init.boundHeaders ?? [])]) {
        headers.delete(name);
      }
    }
    url = next;
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function parseTarget(text: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(text, base);
  } catch {
    throw new OutboundRefusedError(`'${text}' is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new OutboundRefusedError(`${url.href}: only http and https URLs are fetched`);
  }
  return url;
}

/** Where a checked request goes: a pinned address, or (allow-listed, unresolvable) the name. */
interface Target {
  address: string | null;
}

async function checkTarget(
  url: URL,
  allowed: ReadonlySet<string>,
  signal: AbortSignal | undefined,
): Promise<Target> {
  const host = stripDot(url.hostname);
  const isAllowed = isAllowListed(url, allowed);
  const literal = literalAddress(url);
  if (literal !== null) {
    if (!isAllowed) refuseUnlessPublic(url, literal, null);
    return { address: literal.toString() };
  }
  let addresses: Address[];
  try {
    addresses = await resolve(host, signal);
  } catch (error) {
    // an allow-listed name the DNS resolver cannot see (/etc/hosts, mDNS): the
    // operator vouched for it, so fetch may resolve it its own way
    if (isAllowed) return { address: null };
    throw error;
  }
  if (!isAllowed) { for (const address of addresses) refuseUnlessPublic(url, address, host); }
  return { address: addresses[0].toString() };
}

function isAllowListed(url: URL, allowed: ReadonlySet<string>): boolean {
  const host = stripDot(url.hostname);
  return allowed.has(host) || allowed.has(`${host}:${effectivePort(url)}`);
}

/** The address a URL's host spells out (IPv4-mapped IPv6 as its IPv4), or null for a name. */
function literalAddress(url: URL): Address | null {
  const host = stripDot(url.hostname);
  const literal = host.startsWith("[") ? host.slice(1, -1) : host;
  return ipaddr.isValid(literal) ? ipaddr.process(literal) : null;
}

/** A and AAAA records of a name (IPv4 first); refuses a name with none. */
async function resolve(host: string, signal: AbortSignal | undefined) {
  const lookup = async (type: "A" | "AAAA") => {
    try {
      return await Deno.resolveDns(host, type, { signal });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw new Error(`could not resolve ${host}: ${error}`);
    }
  };
  const [v4, v6] = await Promise.all([lookup("A"), lookup("AAAA")]);
  const addresses = [...v4, ...v6].filter((a) => ipaddr.isValid(a)).map((a) => ipaddr.process(a));
  if (addresses.length === 0) throw new OutboundRefusedError(`${host} does not resolve`);
  return addresses;
}

function refuseUnlessPublic(url: URL, address: Address, name: string | null) {
  let range: string = address.range();
  if (range === "unicast" && address.kind() === "ipv6" && !address.match(GLOBAL_UNICAST_V6)) {
    range = "non-global IPv6";
  }
  if (range === "unicast") return;
  const text = address.toString();
  const what = METADATA_ADDRESSES.has(text) ? "a cloud metadata endpoint" : describe(range);
  const subject = name === null ? text : `${name} resolves to ${text}, which`;
  throw new OutboundRefusedError(
    `refused to fetch ${url.href}: ${subject} is ${what}; only public addresses are fetched ` +
      `unless ${ALLOW_LIST_VARIABLE} (or HTTP_TASK_ALLOWED_HOSTS) names the host`,
  );
}

const RANGE_NAMES: Record<string, string> = {
  loopback: "a loopback address",
  private: "a private address",
  linkLocal: "a link-local address",
  uniqueLocal: "a unique-local (private) IPv6 address",
  carrierGradeNat: "a carrier-grade NAT address",
  multicast: "a multicast address",
  unspecified: "an unspecified address",
  broadcast: "the broadcast address",
};

function describe(range: string): string {
  return RANGE_NAMES[range] ?? `a special-purpose address (${range})`;
}

function effectivePort(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === "https:" ? 443 : 80;
}

function stripDot(host: string): string {
  return host.endsWith(".") ? host.slice(0, -1) : host;
}

interface SendInit {
  method: string;
  headers: Headers;
  body: string | Uint8Array<ArrayBuffer> | undefined;
  signal: AbortSignal | undefined;
}

/**
 * One hop, without following redirects; http to a name goes to the checked address
 * itself. The response's `url` is the URL asked for, whatever address served it.
 */
async function send(url: URL, target: Target, init: SendInit): Promise<Response> {
  const request: RequestInit = {
    method: init.method,
    headers: init.headers,
    body: init.body,
    signal: init.signal,
    redirect: "manual",
  };
  // https, an address in the URL already, or an allow-listed name DNS cannot see
  if (url.protocol !== "http:" || target.address === null || literalAddress(url) !== null) {
    return await fetch(url, request);
  }
  const pinned = new URL(url);
  pinned.hostname = target.address.includes(":") ? `[${target.address}]` : target.address;
  const headers = new Headers(init.headers);
  headers.set("host", url.host);
  const client = Deno.createHttpClient({ allowHost: true });
  try {
    const response = await fetch(pinned, { ...request, headers, client });
    // callers (and redirects' relative Locations) read the URL with its name
    Object.defineProperty(response, "url", { value: url.href });
    return response;
  } finally {
    // the response body keeps its connection: closing the client only ends the pool
    client.close();
  }
}
