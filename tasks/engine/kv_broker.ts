/**
 * The `kv` driver: Deno KV `enqueue` / `listenQueue`. A message is only
 * `{ due }`, the time it was meant for; a batch goes out in one atomic commit
 * (KV allows 1,000 mutations per commit). Local KV delivers a message only to the
 * process that enqueued it, so other instances learn of work from the sweeper.
 */
import { type Broker, coalesce, type WakeHandler, type WakeUp } from "./broker.ts";

const MAX_MUTATIONS = 1_000;

export class KvBroker implements Broker {
  readonly name = "kv";
  readonly capabilities = { wakesEveryInstance: false, needsCronDrain: false };
  private listening = false;

  constructor(private readonly kv: Deno.Kv) {}

  async notify(wakeUps: WakeUp[]): Promise<void> {
    const delays = coalesce(wakeUps);
    const now = Date.now();
    for (let i = 0; i < delays.length; i += MAX_MUTATIONS) {
      const op = this.kv.atomic();
      for (const delay of delays.slice(i, i + MAX_MUTATIONS)) {
        op.enqueue({ due: now + delay }, { delay });
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

  close(): Promise<void> {
    // The KV handle belongs to main.ts, which closes it and so ends listenQueue.
    return Promise.resolve();
  }
}
