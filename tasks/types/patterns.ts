/**
 * The shapes of values that several inputs share (task payloads, the shortcut
 * endpoints' query parameters, configuration), defined once.
 */
import { z } from "zod";

/** A calendar month, `YYYY-MM`. */
export const monthSchema = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, {
  message: "month must be YYYY-MM, e.g. 2026-03",
});

/** A generated file's name: letters, digits, '.', '_' and '-'. */
export const filenameSchema = z.string().regex(/^[\w.-]{1,100}$/, {
  message: "filename may hold letters, digits, '.', '_' and '-' only (at most 100)",
});

/** A currency pair as AwesomeAPI names it, e.g. `USD-BRL` (any case; kept upper case). */
export const PAIR_PATTERN = /^[A-Za-z0-9]{2,10}-[A-Za-z0-9]{2,10}$/;
export const pairSchema = z.string().regex(PAIR_PATTERN, {
  message: "a pair looks like USD-BRL",
}).transform((p) => p.toUpperCase());
