/**
 * The OpenAPI document against the app: it is valid, it describes every route
 * the app serves and nothing else, its security is the middleware's, its
 * examples validate — and the contract checker every API test goes through
 * (support/contract.ts) does catch a document that drifted from the server.
 */
import assert from "node:assert/strict";
import { addFormatsModule, Ajv2020, validateOpenApi as validate } from "./support/deps.ts";
import { Contract, contractFetch, ContractViolation } from "./support/contract.ts";
import { type Json, startTestFila, type TestFila } from "./support/harness.ts";

const addFormats = ((addFormatsModule as Json).default ?? addFormatsModule) as (a: Ajv2020) => void;

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/** Every operation of `doc` as `METHOD /path`. */
function documentedOperations(doc: Json): string[] {
  return Object.entries<Json>(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path}`)
  );
}

/** Every route `fila`'s app serves as `METHOD /path` (middleware excluded), with `{param}`s. */
function servedRoutes(fila: TestFila): string[] {
  return [
    ...new Set(
      fila.instance.app.routes.filter((r) => r.method !== "ALL").map((r) =>
        `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`
      ),
    ),
  ];
}

Deno.test("openapi: the document is valid OpenAPI 3.1 and describes every route the app serves, and nothing else", async () => {
  const fila = await startTestFila({ env: { ROLE: "api" } });
  try {
    const { status, body: doc } = await fila.get("/openapi.json");
    assert.equal(status, 200);
    assert.equal(doc.openapi, "3.1.0");
    const result = await validate(structuredClone(doc));
    assert.ok(result.valid, JSON.stringify(result).slice(0, 1500));

    const documented = documentedOperations(doc);
    const served = servedRoutes(fila);
    const rootServed = served.filter((r) => !r.split(" ")[1].startsWith("/api/v1"));
    assert.deepEqual(
      rootServed.filter((r) => !documented.includes(r)),
      [],
      "served but undocumented",
    );
    assert.deepEqual(
      documented.filter((r) => !rootServed.includes(r)),
      [],
      "documented, not served",
    );
    // the /api/v1 mount: a path without its own `servers` is served there too, and only those are
    for (const operation of documented) {
      const [method, path] = operation.split(" ");
      const rootOnly = doc.paths[path].servers !== undefined;
      assert.equal(
        served.includes(`${method} /api/v1${path}`),
        !rootOnly,
        `${operation}: /api/v1 mount ${
          rootOnly ? "served although" : "missing although not"
        } root-only`,
      );
    }
    const ids = documented.map((op) => {
      const [method, path] = op.split(" ");
      return doc.paths[path][method.toLowerCase()].operationId;
    });
    assert.ok(ids.every((id) => typeof id === "string" && /^[a-z][A-Za-z]+$/.test(id)), `${ids}`);
    assert.equal(new Set(ids).size, ids.length, "operationIds are unique");
    const variants = doc.components.schemas.TaskSubmit.oneOf.map((v: Json) => v.$ref);
    assert.deepEqual(
      variants.sort(),
      [
        ...fila.instance.engine.taskTypes().map((t) => `#/components/schemas/TaskSubmit.${t.type}`),
        "#/components/schemas/TaskSubmitAliases",
      ].sort(),
    );
  } finally {
    await fila.stop();
  }
});

Deno.test("openapi: every operation marked with the bearer scheme answers 401 without the token, and no other does", async () => {
  const fila = await startTestFila({ env: { ROLE: "api", API_TOKEN: "contract-token" } });
  try {
    const doc = (await fila.get("/openapi.json")).body;
    assert.deepEqual(doc.components.securitySchemes.bearerAuth, {
      type: "http",
      scheme: "bearer",
      description: doc.components.securitySchemes.bearerAuth.description,
    });
    for (const operation of documentedOperations(doc)) {
      const [method, template] = operation.split(" ");
      const spec = doc.paths[template][method.toLowerCase()];
      assert.ok(Array.isArray(spec.security), `${operation} states its security`);
      const protectedOp = spec.security.length > 0;
      if (protectedOp) {
        assert.deepEqual(spec.security, [{ bearerAuth: [] }], operation);
        assert.ok(spec.responses["401"], `${operation} documents its 401`);
      }
      const path = template.replace(/\{file\}/, "swagger-ui.css").replace(/\{\w+\}/g, "x");
      // unchecked: a request with no body is what this probes, whatever the operation wants
      const res = await fila.fetch(path, { method, contract: false });
      await res.body?.cancel();
      assert.equal(res.status === 401, protectedOp, `${operation} answered ${res.status}`);
    }
  } finally {
    await fila.stop();
  }
});

Deno.test("openapi: every example in the document validates against its schema", async () => {
  const fila = await startTestFila({ env: { ROLE: "api" } });
  try {
    const doc = (await fila.get("/openapi.json")).body;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema(doc, "doc");
    const failures: string[] = [];
    let checked = 0;
    const check = (pointer: string, value: unknown, where: string) => {
      checked++;
      const validate = ajv.compile({ $ref: `doc#${pointer}` });
      if (!validate(value)) failures.push(`${where}: ${ajv.errorsText(validate.errors)}`);
    };
    const escape = (s: string) => encodeURIComponent(s.replaceAll("~", "~0").replaceAll("/", "~1"));
    const at = (pointer: string[]) => `/${pointer.map(escape).join("/")}`;
    /** A schema and every schema inside it. */
    const walkSchema = (schema: Json, pointer: string[]) => {
      if (typeof schema !== "object" || schema === null || schema.$ref) return;
      if ("example" in schema) check(at(pointer), schema.example, `${at(pointer)} example`);
      for (const [i, example] of (schema.examples ?? []).entries()) {
        check(at(pointer), example, `${at(pointer)} examples/${i}`);
      }
      for (const key of ["properties", "patternProperties", "$defs"]) {
        for (const [name, sub] of Object.entries<Json>(schema[key] ?? {})) {
          walkSchema(sub, [...pointer, key, name]);
        }
      }
      for (const key of ["oneOf", "anyOf", "allOf", "prefixItems"]) {
        (schema[key] ?? []).forEach((sub: Json, i: number) =>
          walkSchema(sub, [...pointer, key, String(i)])
        );
      }
      for (const key of ["items", "additionalProperties", "not", "contentSchema"]) {
        if (schema[key]) walkSchema(schema[key], [...pointer, key]);
      }
    };
    /** A media type's examples, against its schema; then the schema itself. */
    const walkContent = (content: Json, pointer: string[]) => {
      for (const [type, media] of Object.entries<Json>(content ?? {})) {
        const here = [...pointer, type];
        for (const [name, example] of Object.entries<Json>(media.examples ?? {})) {
          check(at([...here, "schema"]), example.value, `${at(here)} example ${name}`);
        }
        if ("example" in media) check(at([...here, "schema"]), media.example, `${at(here)}`);
        walkSchema(media.schema, [...here, "schema"]);
        walkSchema(media["x-itemSchema"], [...here, "x-itemSchema"]);
      }
    };
    const walk = (doc: Json) => {
      for (const [name, schema] of Object.entries<Json>(doc.components.schemas)) {
        walkSchema(schema, ["components", "schemas", name]);
      }
      for (const [path, item] of Object.entries<Json>(doc.paths)) {
        for (const method of METHODS.filter((m) => item[m])) {
          const op = ["paths", path, method];
          item[method].parameters?.forEach((p: Json, i: number) => {
            walkSchema(p.schema, [...op, "parameters", String(i), "schema"]);
            if ("example" in p) {
              check(at([...op, "parameters", String(i), "schema"]), p.example, path);
            }
          });
          walkContent(item[method].requestBody?.content, [...op, "requestBody", "content"]);
          for (const [status, response] of Object.entries<Json>(item[method].responses)) {
            walkContent(response.content, [...op, "responses", status, "content"]);
            for (const [name, header] of Object.entries<Json>(response.headers ?? {})) {
              walkSchema(header.schema, [...op, "responses", status, "headers", name, "schema"]);
            }
          }
        }
      }
    };
    walk(doc);
    assert.ok(checked > 20, `only ${checked} examples found`);
    assert.deepEqual(failures, []);
  } finally {
    await fila.stop();
  }
});

/** A fetch checked against `doc` as `tamper` changed it, on `fila`. */
function checkedAgainst(fila: TestFila, doc: Json, tamper: (doc: Json) => void) {
  const changed = structuredClone(doc);
  tamper(changed);
  const contract = new Contract(changed);
  return contractFetch(fila.url, () => Promise.resolve(contract));
}

const postJson = (body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

Deno.test("contract: the checker refuses a document that drifted from the server", async () => {
  const fila = await startTestFila();
  try {
    const doc = (await fila.get("/openapi.json")).body;
    const refused = async (
      tamper: (doc: Json) => void,
      exchange: (f: ReturnType<typeof contractFetch>) => Promise<unknown>,
      reason: RegExp,
    ) => {
      const checked = checkedAgainst(fila, doc, tamper);
      await assert.rejects(() => exchange(checked), (e: Error) => {
        assert.ok(e instanceof ContractViolation, String(e));
        assert.match(e.message, reason);
        return true;
      });
    };
    const submitNoop = (f: ReturnType<typeof contractFetch>) =>
      f("/tasks", postJson({ type: "noop", priority: "HIGH" }));

    // as served, the same exchanges pass
    const untouched = checkedAgainst(fila, doc, () => {});
    const accepted = await submitNoop(untouched);
    assert.equal(accepted.status, 202);
    const task = await accepted.json();
    await fila.waitForTask(task.id);

    // a status the server answers but the document does not list
    await refused(
      (d) => delete d.paths["/tasks"].post.responses["202"],
      submitNoop,
      /status 202 is not documented for submitTask/,
    );
    // an answer body off its schema
    await refused(
      (d) => d.components.schemas.Task.properties.priority = { enum: ["low"] },
      submitNoop,
      /answer\/priority must be equal to one of the allowed values/,
    );
    // a request the document refuses, accepted by the server
    await refused(
      (d) => d.components.schemas["TaskSubmit.noop"].properties.priority.pattern = "^low$",
      submitNoop,
      /the document refuses this request \(body.*priority.*\) but it was answered 202/,
    );
    // a required header the server does not send
    await refused(
      (d) =>
        d.paths["/tasks"].post.responses["202"].headers["X-Missing"] = {
          required: true,
          schema: { type: "string" },
        },
      submitNoop,
      /header X-Missing is missing/,
    );
    // a route the server serves that the document lost
    await refused(
      (d) => delete d.paths["/tasks/{id}/status"],
      (f) => f(`/tasks/${task.id}/status`),
      /undocumented route answered 200/,
    );
    // a Server-Sent Events frame off its schema: the stream's reader fails
    await refused(
      (d) => d.components.schemas.TaskEvent.properties.status = { enum: ["running"] },
      async (f) => await (await f(`/tasks/${task.id}/events`)).text(),
      /frame task data\/status must be equal to one of the allowed values/,
    );
  } finally {
    await fila.stop();
  }
});
