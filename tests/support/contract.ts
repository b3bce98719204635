/**
 * The contract between a Fila instance and the OpenAPI document it serves,
 * checked on each exchange the tests make (`contractFetch`), so the document and
 * the server cannot drift apart unnoticed:
 *
 * - the request is checked against its operation (path, query and header
 *   parameters, body media type and schema); a request the document refuses
 *   must get a documented 4xx, never a 2xx;
 * - the answer's status must be documented for the operation, its documented
 *   required headers present and valid, its media type documented, and its body
 *   valid against the schema (JSON bodies whole; Server-Sent Events frame by
 *   frame, as the client reads them, against `x-itemSchema`);
 * - a path or method the document does not describe may only answer 404 (or 401
 *   before the token check), with the error body.
 *
 * Schemas are checked by Ajv (JSON Schema 2020-12, OpenAPI 3.1's dialect) with
 * ajv-formats; refs resolve inside the document itself.
 */
import { addFormatsModule, Ajv2020, type ValidateFunction } from "./deps.ts";
import { createParser, type EventSourceMessage } from "eventsource-parser";

// deno-lint-ignore no-explicit-any
type Json = any;

/** ajv-formats is CommonJS: its default export arrives wrapped or not, by loader. */
const addFormats = ((addFormatsModule as Json).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => void;

/** Thrown by `contractFetch` when an exchange breaks the document. */
export class ContractViolation extends Error {
  override name = "ContractViolation";
}

/** The mount every API path is also served under, unless the path says otherwise. */
const VERSIONED_MOUNT = "/api/v1";
const DOC_ID = "https://fila.invalid/openapi.json";
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  pointer: string[];
  spec: Json;
  rootOnly: boolean;
}

/** One request as sent: `body` is the text sent, or undefined when none or unreadable. */
export interface SentRequest {
  method: string;
  url: URL;
  headers: Headers;
  body: string | undefined;
}

/** An OpenAPI document made checkable. */
export class Contract {
  readonly operations: Operation[] = [];
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly coercing = new Ajv2020({ strict: false, allErrors: true, coerceTypes: true });
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(readonly document: Json) {
    for (const ajv of [this.ajv, this.coercing]) {
      addFormats(ajv);
      ajv.addSchema(document, DOC_ID);
    }
    for (const [template, item] of Object.entries<Json>(document.paths ?? {})) {
      // braces are left alone by the escape, so `{name}` still marks each parameter
      const source = template.replace(/[.*+?^$()|[\]\\]/g, "\\$&")
        .replace(/\{\w+\}/g, "([^/]+)");
      for (const method of METHODS) {
        if (!item[method]) continue;
        this.operations.push({
          method,
          template,
          pattern: new RegExp(`^${source}$`),
          pointer: ["paths", template, method],
          spec: item[method],
          rootOnly: Array.isArray(item.servers) &&
            !item.servers.some((s: Json) => s.url === VERSIONED_MOUNT),
        });
      }
    }
    this.sortOperations();
  }

  /** Literal paths before templated ones: `/tasks/batch` is not `/tasks/{id}`. */
  private sortOperations() {
    const params = (o: Operation) => (o.template.match(/\{/g) ?? []).length;
    this.operations.sort((a, b) => params(a) - params(b));
  }

  /** The operation a request is for, and the path's parameters; null when none is. */
  match(method: string, pathname: string) {
    let path = pathname;
    let versioned = false;
    if (path === VERSIONED_MOUNT || path.startsWith(`${VERSIONED_MOUNT}/`)) {
      path = path.slice(VERSIONED_MOUNT.length) || "/";
      versioned = true;
    }
    // the app is not strict about a trailing slash
    if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
    const wanted = method.toLowerCase() === "head" ? "get" : method.toLowerCase();
    for (const operation of this.operations) {
      if (operation.method !== wanted) continue;
      const found = operation.pattern.exec(path);
      if (!found || (versioned && operation.rootOnly)) continue;
      return { operation, pathValues: found.slice(1).map(decodeURIComponent) };
    }
    return null;
  }

  /** Problems of the request against the document ([] when it conforms). */
  checkRequest(request: SentRequest): string[] {
    const found = this.match(request.method, request.url.pathname);
    if (!found) return ["no documented operation"];
    const { operation, pathValues } = found;
    const problems: string[] = [];
    const parameters: Json[] = operation.spec.parameters ?? [];
    const pathParams = parameters.filter((p) => p.in === "path");
    pathParams.forEach((param, i) => {
      problems.push(...this.checkParameter(operation, param, pathValues[i]));
    });
    for (const param of parameters.filter((p) => p.in === "query")) {
      const values = request.url.searchParams.getAll(param.name);
      problems.push(...this.checkParameter(operation, param, values.at(-1)));
    }
    for (const param of parameters.filter((p) => p.in === "header")) {
      problems.push(
        ...this.checkParameter(operation, param, request.headers.get(param.name) ?? undefined),
      );
    }
    const body = operation.spec.requestBody;
    if (body) problems.push(...this.checkRequestBody(operation, body, request));
    return problems;
  }

  private checkParameter(operation: Operation, param: Json, value: string | undefined) {
    if (value === undefined) {
      return param.required ? [`${param.in} parameter ${param.name} is required`] : [];
    }
    const index = operation.spec.parameters.indexOf(param);
    const validate = this.validator(
      [...operation.pointer, "parameters", String(index), "schema"],
      true,
    );
    const holder = { value };
    return validate(holder) ? [] : this.errors(validate, `${param.in} parameter ${param.name}`);
  }

  private checkRequestBody(operation: Operation, body: Json, request: SentRequest): string[] {
    const type = mediaType(request.headers.get("content-type"));
    if (request.body === undefined || request.body === "") {
      return body.required ? ["the body is required"] : [];
    }
    const media = type === null ? undefined : matchMedia(Object.keys(body.content), type);
    if (!media) return [`body media type ${type ?? "(none)"} is not documented`];
    if (!isJson(media)) return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(request.body);
    } catch {
      return ["the body is not JSON"];
    }
    const validate = this.validator([
      ...operation.pointer,
      "requestBody",
      "content",
      media,
      "schema",
    ]);
    return validate(parsed) ? [] : this.errors(validate, "body");
  }

  /**
   * Problems of the answer to `request` ([] when it conforms). `body` is the
   * answer's text, or null for a stream (checked frame by frame instead).
   */
  checkResponse(
    request: SentRequest,
    requestProblems: string[],
    response: Response,
    body: string | null,
  ): string[] {
    const status = response.status;
    const found = this.match(request.method, request.url.pathname);
    if (!found) {
      if (status !== 404 && status !== 401) {
        return [`undocumented route answered ${status} (only 404, or 401, may)`];
      }
      return body === null || body === "" ? [] : this.checkErrorBody(body);
    }
    const { operation } = found;
    const key = responseKey(operation.spec.responses, status);
    if (key === null) return [`status ${status} is not documented for ${describe(operation)}`];
    const problems: string[] = [];
    if (requestProblems.length > 0 && status < 400) {
      problems.push(
        `the document refuses this request (${
          requestProblems.join("; ")
        }) but it was answered ${status}`,
      );
    }
    const spec = operation.spec.responses[key];
    const pointer = [...operation.pointer, "responses", key];
    for (const [name, header] of Object.entries<Json>(spec.headers ?? {})) {
      const value = response.headers.get(name);
      if (value === null) {
        if (header.required) problems.push(`header ${name} is missing`);
        continue;
      }
      const validate = this.validator([...pointer, "headers", name, "schema"], true);
      if (!validate({ value })) problems.push(...this.errors(validate, `header ${name}`));
    }
    const content = spec.content as Record<string, Json> | undefined;
    const isHead = request.method.toUpperCase() === "HEAD";
    if (!content) {
      if (body && !isHead) problems.push(`status ${status} is documented without a body`);
      return problems;
    }
    const type = mediaType(response.headers.get("content-type"));
    const media = type === null ? undefined : matchMedia(Object.keys(content), type);
    if (!media) {
      problems.push(`answer media type ${type ?? "(none)"} is not documented`);
      return problems;
    }
    if (isHead || body === null || !isJson(media)) return problems;
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return [...problems, "the answer is not JSON"];
    }
    const validate = this.validator([...pointer, "content", media, "schema"]);
    if (!validate(parsed)) problems.push(...this.errors(validate, "answer"));
    return problems;
  }

  private checkErrorBody(body: string): string[] {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return ["the error body is not JSON"];
    }
    const validate = this.validator(["components", "schemas", "Error"]);
    return validate(parsed) ? [] : this.errors(validate, "error body");
  }

  /**
   * A checker of one stream's frames against the operation's `x-itemSchema`:
   * each frame as `{ event, id?, data }`, and its `data` parsed against the
   * `contentSchema` of the frame kind it is.
   */
  frameChecker(request: SentRequest, response: Response): (frame: EventSourceMessage) => string[] {
    const found = this.match(request.method, request.url.pathname)!;
    const key = responseKey(found.operation.spec.responses, response.status)!;
    const media = matchMedia(
      Object.keys(found.operation.spec.responses[key].content),
      mediaType(response.headers.get("content-type"))!,
    )!;
    const pointer = [...found.operation.pointer, "responses", key, "content", media];
    const itemSchema = found.operation.spec.responses[key].content[media]["x-itemSchema"];
    if (!itemSchema) return () => [`${describe(found.operation)} documents no x-itemSchema`];
    const validate = this.validator([...pointer, "x-itemSchema"]);
    const branches: Json[] = itemSchema.oneOf ?? [itemSchema];
    return (message) => {
      const frame: Record<string, string> = { event: message.event ?? "message" };
      if (message.id !== undefined) frame.id = message.id;
      frame.data = message.data;
      if (!validate(frame)) return this.errors(validate, `frame ${message.event ?? "message"}`);
      const index = branches.findIndex((b) => b.properties?.event?.const === frame.event);
      const dataSchema = branches[index]?.properties?.data;
      if (!dataSchema?.contentSchema) return [];
      const where = itemSchema.oneOf
        ? [
          ...pointer,
          "x-itemSchema",
          "oneOf",
          String(index),
          "properties",
          "data",
          "contentSchema",
        ]
        : [...pointer, "x-itemSchema", "properties", "data", "contentSchema"];
      const validateData = this.validator(where);
      try {
        return validateData(JSON.parse(frame.data))
          ? []
          : this.errors(validateData, `frame ${frame.event} data`);
      } catch {
        return [`frame ${frame.event} data is not JSON`];
      }
    };
  }

  /** A compiled check of the schema at `pointer` in the document (`holder`: `{ value }`, coerced). */
  private validator(pointer: string[], holder = false): ValidateFunction {
    const ref = `${DOC_ID}#/${pointer.map(escapePointer).join("/")}`;
    const key = `${holder}:${ref}`;
    let validate = this.validators.get(key);
    if (!validate) {
      validate = holder
        ? this.coercing.compile({
          type: "object",
          properties: { value: { $ref: ref } },
        })
        : this.ajv.compile({ $ref: ref });
      this.validators.set(key, validate);
    }
    return validate;
  }

  private errors(validate: ValidateFunction, what: string): string[] {
    return (validate.errors ?? []).slice(0, 8).map((e) =>
      `${what}${e.instancePath.replace(/^\/value/, "")} ${e.message}${
        e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ""
      }`
    );
  }
}

function escapePointer(segment: string): string {
  return encodeURIComponent(segment.replaceAll("~", "~0").replaceAll("/", "~1"));
}

function describe(operation: Operation): string {
  return `${
    operation.spec.operationId ?? ""
  } (${operation.method.toUpperCase()} ${operation.template})`;
}

/** `application/json; charset=utf-8` → `application/json`. */
function mediaType(header: string | null): string | null {
  return header?.split(";")[0].trim().toLowerCase() || null;
}

function isJson(media: string): boolean {
  return media === "application/json" || media.endsWith("+json");
}

/** The documented media type `type` falls under (exact, `type/*`, or `*\/*`). */
function matchMedia(documented: string[], type: string): string | undefined {
  return documented.find((d) => d === type) ??
    documented.find((d) => d.endsWith("/*") && type.startsWith(d.slice(0, -1))) ??
    documented.find((d) => d === "*/*");
}

/** The key of `responses` that describes `status`: exact, `4XX` range, or default. */
function responseKey(responses: Record<string, unknown>, status: number): string | null {
  const exact = String(status);
  if (exact in responses) return exact;
  const range = `${exact[0]}XX`;
  if (range in responses) return range;
  return "default" in responses ? "default" : null;
}

/** `init.contract: false` sends a request unchecked (for exchanges the test breaks on purpose). */
export type ContractInit = RequestInit & { contract?: false };

/**
 * A fetch bound to `baseUrl` whose every exchange is checked against `contract`
 * (loaded on first use); a broken exchange throws ContractViolation naming it.
 */
export function contractFetch(baseUrl: string, contract: () => Promise<Contract>) {
  return async (path: string, init: ContractInit = {}): Promise<Response> => {
    const { contract: check, ...rest } = init;
    const request = new Request(baseUrl + path, rest);
    if (check === false) return fetch(request);
    const sent: SentRequest = {
      method: request.method,
      url: new URL(request.url),
      headers: request.headers,
      body: typeof rest.body === "string" ? rest.body : rest.body == null ? "" : undefined,
    };
    const checked = await contract();
    const requestProblems = checked.checkRequest(sent);
    const response = await fetch(request);
    const fail = (problems: string[]) =>
      new ContractViolation(
        `${sent.method} ${sent.url.pathname}${sent.url.search} → ${response.status}: ` +
          problems.join("; "),
      );
    const isStream = mediaType(response.headers.get("content-type")) === "text/event-stream" &&
      response.body !== null && response.ok;
    const text = isStream ? null : await response.clone().text();
    const problems = checked.checkResponse(sent, requestProblems, response, text);
    if (problems.length > 0) {
      await response.body?.cancel();
      throw fail(problems);
    }
    if (!isStream) return response;
    const checkFrame = checked.frameChecker(sent, response);
    let violation: ContractViolation | null = null;
    const parser = createParser({
      onEvent: (frame) => {
        const frameProblems = checkFrame(frame);
        if (frameProblems.length > 0 && !violation) violation = fail(frameProblems);
      },
    });
    const decoder = new TextDecoder();
    const body = response.body!.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          parser.feed(decoder.decode(chunk, { stream: true }));
          if (violation) controller.error(violation);
          else controller.enqueue(chunk);
        },
      }),
    );
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

/** The document `baseUrl` serves, or, when it serves none (ROLE=worker), `fallback`'s. */
export async function loadContract(
  baseUrl: string,
  fallback?: () => unknown,
): Promise<Contract> {
  const res = await fetch(`${baseUrl}/openapi.json`);
  if (res.status === 404 && fallback) {
    await res.body?.cancel();
    return new Contract(structuredClone(fallback()));
  }
  if (!res.ok) throw new Error(`GET /openapi.json answered ${res.status}: ${await res.text()}`);
  return new Contract(await res.json());
}
