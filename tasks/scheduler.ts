/**
 * Recurring schedules (Celery beat, BullMQ job schedulers): each minute's tick
 * submits the task of every schedule due in that minute, with the idempotency
 * key `schedule:<name>:<minute>`. `Deno.cron` fires in every instance, so N
 * instances submit the same key and one task results; a tick missed while
 * every instance was down is made up once, at the next tick or start -- the
 * latest missed minute, not one per minute missed. The quote refresh is a
 * built-in schedule whose cron comes from the configuration (QUOTES_CRON).
 */
import { getLogger } from "@logtape/logtape";
import { parseCron } from "./cron_expression.ts";
import type { Engine, Submitted } from "./engine/engine.ts";
import { InvalidTaskError } from "./engine/errors.ts";
import { type Priority, priorityName, priorityRank } from "./engine/model.ts";
import type { Schedule, ScheduleStore } from "./stores.ts";

/** A schedule as PUT /schedules/{name} gives it. */
export interface ScheduleInput {
  cron: string;
  type: string;
  payload?: unknown;
  priority?: Priority;
  maxAttempts?: number;
  timezone?: string;
  paused?: boolean;
}

/** No such schedule, or an operation its kind does not allow (a built-in one). */
export class ScheduleError extends Error {
  constructor(readonly kind: "not_found" | "conflict", message: string) {
    super(message);
    this.name = "ScheduleError";
  }
}

const log = getLogger(["fila", "scheduler"]);

/** A schedule Fila defines itself; `payloadFor` gives each run its payload. */
export interface BuiltinSchedule {
  name: string;
  cron: string;
  type: string;
  payloadFor(tick: Date): unknown;
}

/** `2026-11-22T10:15Z`: the minute a tick belongs to. */
export function tickKey(tick: Date): string {
  return `${tick.toISOString().slice(0, 16)}Z`;
}

/** The start of `at`'s minute. */
function minuteOf(at: Date): Date {
  return new Date(Math.floor(at.getTime() / 60_000) * 60_000);
}

export class Scheduler {
  private readonly builtins: Map<string, BuiltinSchedule>;

  constructor(
    private readonly store: ScheduleStore,
    private readonly engine: Engine,
    builtins: BuiltinSchedule[],
  ) {
    this.builtins = new Map(builtins.map((b) => [b.name, b]));
  }

  /** Writes the built-in schedules as configured (keeping whether they are paused). */
  async install(now = Date.now()): Promise<void> {
    for (const builtin of this.builtins.values()) {
      const current = await this.store.get(builtin.name);
      const cron = parseCron(builtin.cron).source;
      if (current?.builtin && current.cron === cron && current.type === builtin.type) continue;
      await this.store.put({
        name: builtin.name,
        cron,
        timezone: "UTC",
        type: builtin.type,
        payload: {},
        priority: null,
        maxAttempts: null,
        paused: current?.paused ?? false,
        builtin: true,
        createdAt: current?.createdAt ?? now,
        updatedAt: now,
      });
    }
  }

  /**
   * Submits every unpaused schedule due at `now`'s minute, or missed since its
   * last run (once); resolves to the tasks submitted (or matched) per schedule.
   */
  async tick(now = new Date()): Promise<Map<string, Submitted>> {
    const minute = minuteOf(now);
    const fired = new Map<string, Submitted>();
    for (const schedule of await this.store.list()) {
      if (schedule.paused) continue;
      try {
        const due = this.latestDue(schedule, minute);
        if (due) fired.set(schedule.name, await this.run(schedule, due, false));
      } catch (error) {
        log.error("schedule {name} did not run: {error}", {
          name: schedule.name,
          error: String(error),
        });
      }
    }
    return fired;
  }

  /** Runs schedule `name` now, whatever its cron says (and whether paused). */
  async trigger(name: string, now = new Date()): Promise<Submitted> {
    return await this.run(await this.get(name), now, true);
  }

  list(): Promise<Schedule[]> {
    return this.store.list();
  }

  /** The schedule, or a ScheduleError. */
  async get(name: string): Promise<Schedule> {
    const schedule = await this.store.get(name);
    if (!schedule) throw new ScheduleError("not_found", `no schedule named '${name}'`);
    return schedule;
  }

  /**
   * Creates or replaces schedule `name`; every field is checked as a submit of
   * its task would be (an InvalidTaskError names the field). Resolves to the
   * schedule and whether it is new.
   */
  async put(name: string, input: ScheduleInput): Promise<{ schedule: Schedule; created: boolean }> {
    const timezone = input.timezone ?? "UTC";
    let cron: string;
    try {
      cron = parseCron(input.cron, timezone).source;
    } catch (error) {
      const message = (error as Error).message;
      const path = /time ?zone/i.test(message) ? "timezone" : "cron";
      throw new InvalidTaskError(`${path}: ${message}`, [{ path, message }]);
    }
    this.engine.check({
      type: input.type,
      payload: input.payload,
      priority: input.priority,
      maxAttempts: input.maxAttempts,
    });
    const current = await this.store.get(name);
    if (current?.builtin) {
      throw new ScheduleError(
        "conflict",
        `'${name}' is built in: its cron comes from the configuration (QUOTES_CRON); it can be ` +
          "paused, resumed and triggered",
      );
    }
    const now = Date.now();
    const schedule = await this.store.put({
      name,
      cron,
      timezone,
      type: input.type,
      payload: input.payload ?? {},
      priority: input.priority === undefined ? null : priorityRank(input.priority),
      maxAttempts: input.maxAttempts ?? null,
      paused: input.paused ?? false,
      builtin: false,
      createdAt: current?.createdAt ?? now,
      updatedAt: now,
    });
    return { schedule, created: current === undefined };
  }

  /** Deletes schedule `name`; a built-in one cannot be. */
  async delete(name: string): Promise<Schedule> {
    const schedule = await this.get(name);
    if (schedule.builtin) {
      throw new ScheduleError("conflict", `'${name}' is built in: pause it instead`);
    }
    await this.store.delete(name);
    return schedule;
  }

  async setPaused(name: string, paused: boolean): Promise<Schedule> {
    const schedule = await this.store.setPaused(name, paused, Date.now());
    if (!schedule) throw new ScheduleError("not_found", `no schedule named '${name}'`);
    return schedule;
  }

  /** When the schedule runs next (null while paused). */
  nextRun(schedule: Schedule, after = new Date()): Date | null {
    if (schedule.paused) return null;
    return parseCron(schedule.cron, schedule.timezone).next(after);
  }

  /** The last minute <= `minute` the cron names that the schedule has not run for yet. */
  private latestDue(schedule: Schedule, minute: Date): Date | null {
    const latest = parseCron(schedule.cron, schedule.timezone).latest(minute);
    if (!latest) return null;
    // not before it existed (created at 10:15:30, a '* * * * *' first runs at 10:16)
    const after = schedule.lastRunAt ?? schedule.createdAt - 1;
    return latest.getTime() > after ? latest : null;
  }

  private async run(schedule: Schedule, tick: Date, manual: boolean): Promise<Submitted> {
    const builtin = schedule.builtin ? this.builtins.get(schedule.name) : undefined;
    const submitted = await this.engine.submit({
      type: schedule.type,
      payload: builtin ? builtin.payloadFor(tick) : schedule.payload,
      priority: schedule.priority === null ? undefined : priorityName(schedule.priority),
      maxAttempts: schedule.maxAttempts ?? undefined,
      // a manual run is its own; a tick's run is one across every instance
      idempotencyKey: manual ? undefined : `schedule:${schedule.name}:${tickKey(tick)}`,
      title: `schedule ${schedule.name}`,
    });
    await this.store.markRun(schedule.name, tick.getTime(), submitted.task.id);
    return submitted;
  }
}

/** How long the minute cron may spend running ready work where the broker needs it. */
export { CRON_DRAIN_MS } from "./engine/engine.ts";

/** One minute: the schedules due, then the engine's own tick (a sweep; a drain where needed). */
export async function runMinute(
  scheduler: Scheduler,
  engine: Engine,
  now: Date = new Date(),
  drainMs?: number,
): Promise<void> {
  await scheduler.tick(now).catch((error) =>
    log.error("schedules did not run: {error}", { error: String(error) })
  );
  await engine.minuteTick(drainMs);
}

/**
 * Registers the minute cron; call at the top level of main, before serving
 * (Deno Deploy reads crons there). `running` is read at each tick: the instance
 * starts after the registration.
 */
export function registerMinuteCron(
  running: () => { scheduler: Scheduler; engine: Engine } | undefined,
): void {
  Deno.cron("fila-minute", "* * * * *", async () => {
    const instance = running();
    if (instance) await runMinute(instance.scheduler, instance.engine);
  });
}
