/**
 * The live stream of one task (`GET /tasks/:id/events`): its history as
 * `event: task` frames, then one frame per change, and `event: end` with the
 * task once it is done. Changes made on this instance wake the stream at once;
 * changes made elsewhere are seen by reading the store every half second. The
 * loop ends with the task, with the request (whatever its method), or when the
 * instance stops.
 */
import type { SSEStreamingApi } from "hono/streaming";
import type { Engine } from "../tasks/engine/engine.ts";
import { isFinal } from "../tasks/engine/model.ts";
import { toEventView, toTaskView } from "./views.ts";

const POLL_MS = 500;

/** Writes task `id`'s events after event id `after` until the task ends or the client goes. */
export async function followTask(
  stream: SSEStreamingApi,
  engine: Engine,
  id: string,
  after: number,
  request: AbortSignal,
): Promise<void> {
  let wake: () => void = () => {};
  const unsubscribe = engine.subscribe(id, () => wake());
  const onGone = () => wake();
  stream.onAbort(onGone);
  request.addEventListener("abort", onGone);
  engine.stopSignal.addEventListener("abort", onGone);
  const gone = () =>
    stream.aborted || stream.closed || request.aborted || engine.stopSignal.aborted;
  const writeNew = async () => {
    for (const event of await engine.events(id, after)) {
      after = event.id;
      await stream.writeSSE({
        event: "task",
        id: String(event.id),
        data: JSON.stringify(toEventView(event)),
      });
    }
  };
  try {
    while (!gone()) {
      await writeNew();
      const task = await engine.get(id);
      if (isFinal(task.status)) {
        await writeNew(); // the final event may have been written after the read above
        await stream.writeSSE({ event: "end", data: JSON.stringify(toTaskView(task)) });
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (gone()) wake();
      });
    }
  } finally {
    unsubscribe();
    request.removeEventListener("abort", onGone);
    engine.stopSignal.removeEventListener("abort", onGone);
  }
}
