/**
 * Fila's typed client for TypeScript callers (Deno, Node, browsers): every
 * operation of the OpenAPI document as a method named by its operationId, with
 * the request and answer types generated from the document (`deno task client`).
 *
 * ```ts
 * const fila = createFilaClient({ baseUrl: "http://127.0.0.1:8000", token: "..." });
 * const { data: task, error } = await fila.submitTask({ type: "sum", payload: { numbers: [1, 2] } });
 * for await (const frame of fila.followTask(task!.id)) console.log(frame.event, frame.data.status);
 * ```
 *
 * Methods answer openapi-fetch's `{ data, error, response }` (`error` is Fila's
 * error body); `followTask` yields the live stream's frames.
 */
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.d.ts";
import { bindOperations } from "./operations.ts";

export interface FilaClientOptions {
  /** Where Fila answers, e.g. `http://127.0.0.1:8000` (or its `/api/v1` mount). */
  baseUrl: string;
  /** The server's `API_TOKEN`, sent as `Authorization: Bearer <token>`; omit when it has none. */
  token?: string;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** A fetch to use instead of the global one. */
  fetch?: (request: Request) => Promise<Response>;
}

/** A client of the Fila at `options.baseUrl`. */
export function createFilaClient(options: FilaClientOptions) {
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    headers: {
      ...options.headers,
      ...(options.token === undefined ? {} : { Authorization: `Bearer ${options.token}` }),
    },
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  return { ...bindOperations(client), client };
}

export type FilaClient = ReturnType<typeof createFilaClient>;

type Schemas = components["schemas"];
export type Task = Schemas["Task"];
export type TaskEvent = Schemas["TaskEvent"];
export type TaskSubmit = Schemas["TaskSubmit"];
export type Quote = Schemas["Quote"];
export type ErrorBody = Schemas["Error"];

export { FilaError, type TaskFrame } from "./stream.ts";
export { OPERATIONS, type Options } from "./operations.ts";
export type { components, operations, paths } from "./schema.d.ts";
