/**
 * Cron expressions as `Deno.cron` reads them (five fields: minute, hour, day of
 * month, month, day of week), parsed by croner so a bad one is refused with a
 * reason before anything is registered, and the next run can be computed in a
 * time zone (schedules show `next_run_at`).
 */
import { Cron } from "croner";

/** A parsed expression. */
export interface CronExpression {
  source: string;
  /** The first run strictly after `after`, or null. */
  next(after: Date): Date | null;
  /** The last run at or before `at` (to the second), or null. */
  latest(at: Date): Date | null;
}

/** Parses `source` (in `timezone`, an IANA name, UTC by default) or throws an Error saying why. */
export function parseCron(source: string, timezone = "UTC"): CronExpression {
  const fields = source.trim().split(/\s+/);
  if (fields.length !== 5) {
    throw new Error(
      `'${source}' is not a cron expression: five fields (minute hour day month weekday) are ` +
        `needed, e.g. '*/5 * * * *'`,
    );
  }
  let cron: Cron;
  try {
    // UTC as an offset: croner then counts in UTC itself, where a time zone makes it
    // load ICU's time-zone data through Intl (~5 MiB of resident memory)
    const zone = timezone === "UTC" ? { utcOffset: 0 } : { timezone };
    cron = new Cron(fields.join(" "), { paused: true, ...zone });
    cron.nextRun(); // an unknown time zone fails here
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `'${source}' is not a valid cron expression: ${reason.replace(/^Cron\w*: /, "")}`,
    );
  }
  return {
    source: fields.join(" "),
    next: (after) => cron.nextRun(after),
    latest: (at) => cron.previousRuns(1, new Date(at.getTime() + 1_000))[0] ?? null,
  };
}
