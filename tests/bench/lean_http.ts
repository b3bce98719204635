/**
 * A minimal HTTP/1.1 client for the latency figures: a pool of kept-alive TCP
 * connections, one request at a time on each, responses framed by
 * Content-Length or chunked encoding.
 *
 * Why not fetch: on this 2-core machine the load generator shares the CPU with
 * the instance, and fetch's own work per request (~0.3 ms, more in its tail)
 * was larger than the server's; the figures measured the client. The peers are
 * measured through their own lean Redis clients, so this keeps the comparison
 * about the services. (undici under Deno was tried: its p99 was worse than fetch's.)
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface LeanResponse {
  status: number;
  body: string;
  /** Round trip in ms, from writing the request to the last byte of the response. */
  ms: number;
}

class Connection {
  busy = false;
  private buffer = new Uint8Array(0);
  private readonly chunk = new Uint8Array(64 * 1024);

  constructor(readonly conn: Deno.TcpConn) {
    conn.setNoDelay(true);
  }

  async request(head: Uint8Array, body: Uint8Array | null): Promise<LeanResponse> {
    const started = performance.now();
    if (body) {
      const both = new Uint8Array(head.length + body.length);
      both.set(head);
      both.set(body, head.length);
      await this.writeAll(both);
    } else await this.writeAll(head);
    const response = await this.readResponse();
    return { ...response, ms: performance.now() - started };
  }

  private async writeAll(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) written += await this.conn.write(bytes.subarray(written));
  }

  private async fill(): Promise<void> {
    const n = await this.conn.read(this.chunk);
    if (n === null) throw new Error("connection closed by the server");
    const next = new Uint8Array(this.buffer.length + n);
    next.set(this.buffer);
    next.set(this.chunk.subarray(0, n), this.buffer.length);
    this.buffer = next;
  }

  private take(n: number): Uint8Array {
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  private async line(): Promise<string> {
    for (;;) {
      const end = indexOfCrlf(this.buffer, 0);
      if (end >= 0) {
        const text = decoder.decode(this.buffer.subarray(0, end));
        this.take(end + 2);
        return text;
      }
      await this.fill();
    }
  }

  private async bytes(n: number): Promise<Uint8Array> {
    while (this.buffer.length < n) await this.fill();
    return this.take(n).slice();
  }

  private async readResponse(): Promise<{ status: number; body: string }> {
    const status = Number((await this.line()).split(" ")[1]);
    let length = -1;
    let chunked = false;
    for (;;) {
      const header = await this.line();
      if (header === "") break;
      const colon = header.indexOf(":");
      const name = header.slice(0, colon).trim().toLowerCase();
      const value = header.slice(colon + 1).trim();
      if (name === "content-length") length = Number(value);
      if (name === "transfer-encoding" && value.toLowerCase().includes("chunked")) chunked = true;
    }
    if (chunked) {
      const parts: Uint8Array[] = [];
      for (;;) {
        const size = parseInt(await this.line(), 16);
        if (size === 0) {
          await this.line();
          break;
        }
        parts.push(await this.bytes(size));
        await this.line();
      }
      return { status, body: parts.map((p) => decoder.decode(p)).join("") };
    }
    if (length < 0) throw new Error("response without Content-Length or chunked encoding");
    return { status, body: decoder.decode(await this.bytes(length)) };
  }
}

function indexOfCrlf(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 1 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10) return i;
  }
  return -1;
}

/** Kept-alive connections to one server; a request waits for a free one if all are busy. */
export class LeanHttpPool {
  private readonly waiting: ((c: Connection) => void)[] = [];

  private constructor(private readonly host: string, private readonly connections: Connection[]) {}

  static async open(baseUrl: string, size = 32): Promise<LeanHttpPool> {
    const url = new URL(baseUrl);
    const connections = await Promise.all(
      Array.from({ length: size }, async () =>
        new Connection(
          await Deno.connect({ hostname: url.hostname, port: Number(url.port) }),
        )),
    );
    return new LeanHttpPool(url.host, connections);
  }

  async request(method: string, path: string, json?: unknown): Promise<LeanResponse> {
    const body = json === undefined ? null : encoder.encode(JSON.stringify(json));
    const head = encoder.encode(
      `${method} ${path} HTTP/1.1\r\nHost: ${this.host}\r\n` +
        (body ? `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` : "") +
        "\r\n",
    );
    const connection = await this.acquire();
    try {
      return await connection.request(head, body);
    } finally {
      this.release(connection);
    }
  }

  close(): void {
    for (const c of this.connections) c.conn.close();
  }

  private acquire(): Promise<Connection> {
    const free = this.connections.find((c) => !c.busy);
    if (free) {
      free.busy = true;
      return Promise.resolve(free);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(connection: Connection): void {
    const next = this.waiting.shift();
    if (next) next(connection);
    else connection.busy = false;
  }
}
