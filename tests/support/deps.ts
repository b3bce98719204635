/**
 * Packages that only the tests and dev tools use, named here with their npm
 * specifiers instead of in deno.json's imports: `deno task dev` and `start`
 * install what deno.json imports, so these stay off a machine that only runs
 * the service. Their versions are locked in tests/deno.lock (the service's in
 * deno.lock).
 */
export { type Browser, chromium, type Page } from "npm:playwright-core@^1.65.1";
export { default as fc } from "npm:fast-check@^4.10.2";
// @ts-types="npm:@types/smtp-server@^3.5.13"
export { SMTPServer } from "npm:smtp-server@^3.21.6";
export { validate as validateOpenApi } from "npm:@readme/openapi-parser@^9.0.0";
export { Ajv2020, type ValidateFunction } from "npm:ajv@^8.20.0/dist/2020.js";
export { default as addFormatsModule } from "npm:ajv-formats@^3.0.1";
/** postgres.js, the harness test's client (the service uses pg; tests/bench/pg_drivers.ts imports it by specifier on demand). */
export { default as postgres } from "npm:postgres@^3.4.9";
