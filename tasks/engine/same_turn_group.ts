/**
 * Writes that are asked for in the same turn of the event loop go to the store
 * together: one transaction (one commit) for, say, 32 single submissions that
 * arrived at once, instead of 32. Each caller still gets its own result or error.
 */
import { setImmediate } from "node:timers";

/** An item waiting to be written, with its caller's promise. */
export interface Pending<I, O> {
  item: I;
  resolve: (out: O) => void;
  reject: (error: unknown) => void;
}

export class SameTurnGroup<I, O> {
  private pending: Pending<I, O>[] = [];

  /** `write` gets the items of one turn and returns one result per item, in order. */
  constructor(private readonly write: (items: I[]) => Promise<O[]>) {}

  add(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      // setImmediate, not setTimeout(0): chained timers are clamped to 1–4 ms
      if (this.pending.length === 0) setImmediate(() => this.flush());
      this.pending.push({ item, resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const group = this.pending;
    this.pending = [];
    try {
      const results = await this.write(group.map((g) => g.item));
      group.forEach((g, i) => g.resolve(results[i]));
    } catch (error) {
      for (const g of group) g.reject(error);
    }
  }
}
