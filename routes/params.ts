/**
 * Schemas for values that come as text (query strings, path parameters) and
 * for words accepted in any case, with messages a person would write. Their
 * JSON Schema patterns are plain ECMAScript (character classes, no flags), so
 * OpenAPI validators and generated clients accept what the server accepts.
 */
import { z } from "@hono/zod-openapi";

/** `^(?:[hH][iI][gG][hH]|...)$`: matches any of `words` in any case. */
export function anyCasePattern(words: readonly string[]): string {
  const cased = words.map((w) =>
    [...w].map((ch) => {
      const lower = ch.toLowerCase();
      const upper = ch.toUpperCase();
      if (lower !== upper) return `[${lower}${upper}]`;
      return /[\w-]/.test(ch) ? ch : `\\${ch}`;
    }).join("")
  );
  return `^(?:${cased.join("|")})$`;
}

/** One of `words` in any case, answered in lower case. */
export function anyCaseWord<const W extends readonly string[]>(
  words: W,
  what: string,
) {
  return z.string()
    .regex(new RegExp(anyCasePattern(words)), {
      message: `${what} must be one of ${words.join(", ")} (any case)`,
    })
    .transform((s) => s.toLowerCase() as W[number]);
}

/**
 * `n` with a comma between thousands (5,000,000). Not toLocaleString: the first
 * call loads ICU's number data, ~6 MiB of resident memory for a few messages.
 */
export function thousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A whole number given as text (a query parameter), from `min` to `max`. */
export function wholeNumber(name: string, min: number, max: number) {
  const message = `${name} must be a whole number from ${thousands(min)} to ${thousands(max)}`;
  return z.coerce.number({ error: message }).int({ error: message }).min(min, { error: message })
    .max(max, { error: message });
}
