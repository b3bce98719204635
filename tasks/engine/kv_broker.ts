/**
 * The `kv` driver: Deno KV `enqueue` / `listenQueue`. Each message is `{ id }`;
 * a batch goes out in one atomic commit (KV allows 1,000 mutations per commit).
 */
import type { Broker, WakeHandler, WakeUp } from "./broker.ts";

const MAX_MUTATIONS = 1_000;

export class KvBroker implements Broker {
  readonly name = "kv" as const;
  private listening = false;

  constructor(private readonly kv: Deno.Kv) {}

  async notify(wakeUps: WakeUp[]): Promise<void> {
    if (wakeUps.length === 1) {
      const [{ id, delayMs }] = wakeUps;
      await this.kv.enqueue({ id }, { delay: delayMs });
      return;
    }
    for (let i = 0; i < wakeUps.length; i += MAX_MUTATIONS) {
      const op = this.kv.atomic();
      for (const { id, delayMs } of wakeUps.slice(i, i + MAX_MUTATIONS)) {
        op.enqueue({ id }, { delay: delayMs });
      }
      await op.commit();
    }
  }

  listen(handler: WakeHandler): void {
    if (this.listening) throw new Error("listenQueue may be called once per KV handle");
    this.listening = true;
    // The handler never throws: a thrown error would make KV redeliver a message
    // whose only meaning ("look for work") the sweeper already covers.
    this.kv.listenQueue(async () => {
      await handler().catch(() => 0);
    }).catch(() => {});
  }

  close(): void {
    // The KV handle belongs to main.ts, which closes it and so ends listenQueue.
  }
}
