/**
 * Instances announce themselves in KV under an expiring key, refreshed every few
 * seconds, so /queue/stats can list who is alive and how busy each one is.
 */
const PREFIX = ["fila", "instances"];
const HEARTBEAT_MS = 5_000;
/** Older heartbeats mean a dead instance (local KV expires keys lazily). */
const STALE_MS = 3 * HEARTBEAT_MS;

export interface InstanceInfo {
  id: string;
  role: string;
  driver: string;
  concurrency: number;
  in_flight: number;
  started_at: string;
  last_heartbeat: string;
}

export class InstanceRegistry {
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly kv: Deno.Kv,
    private readonly info: { id: string; role: string; driver: string; concurrency: number },
    /** Tasks running here now (0 on an instance without workers). */
    private readonly inFlight: () => number,
  ) {}

  /** Announces this instance now and every few seconds. */
  start(): void {
    this.beat();
    this.timer = setInterval(() => this.beat(), HEARTBEAT_MS);
  }

  private async beat(): Promise<void> {
    const entry: InstanceInfo = {
      ...this.info,
      in_flight: this.inFlight(),
      started_at: this.startedAt,
      last_heartbeat: new Date().toISOString(),
    };
    await this.kv.set([...PREFIX, this.info.id], entry, { expireIn: STALE_MS }).catch(() => {});
  }

  /** Every instance with a recent heartbeat, this one first, with its live in-flight count. */
  async list(): Promise<InstanceInfo[]> {
    const out: InstanceInfo[] = [];
    for await (const { value } of this.kv.list<InstanceInfo>({ prefix: PREFIX })) {
      if (Date.now() - Date.parse(value.last_heartbeat) > STALE_MS) continue;
      out.push(
        value.id === this.info.id ? { ...value, in_flight: this.inFlight() } : value,
      );
    }
    // this one first, then by id (code points: localeCompare would load ICU's collation data)
    const others = (e: { id: string }) => (e.id === this.info.id ? 0 : 1);
    return out.sort((a, b) => others(a) - others(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Stops announcing and removes this instance's entry. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.kv.delete([...PREFIX, this.info.id]).catch(() => {});
  }
}
