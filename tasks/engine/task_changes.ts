/**
 * An in-process signal that a task changed, so live streams of this instance
 * answer at once; streams also poll the store, which covers other instances.
 */
type Listener = () => void;

export class TaskChanges {
  private readonly listeners = new Map<string, Set<Listener>>();

  /** Calls `listener` whenever task `id` changes here; returns the unsubscribe function. */
  subscribe(id: string, listener: Listener): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, set = new Set());
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0) this.listeners.delete(id);
    };
  }

  /** How many listeners are attached (live streams of this instance). */
  get size(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  emit(id: string): void {
    const set = this.listeners.get(id);
    if (set) { for (const listener of set) listener(); }
  }
}
