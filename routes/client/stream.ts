/**
 * A task's live stream (`GET /tasks/{id}/events`) as typed frames: `task` frames
 * with a TaskEvent each, then one `end` frame with the ended Task.
 */
import { EventSourceParserStream } from "eventsource-parser/stream";
import type { components } from "./schema.d.ts";

type Schemas = components["schemas"];

/** One frame of a task's stream, its JSON `data` parsed. */
export type TaskFrame =
  | { event: "task"; id: string; data: Schemas["TaskEvent"] }
  | { event: "end"; data: Schemas["Task"] };

/** An answer of the API that was not a success, with Fila's error body when it sent one. */
export class FilaError extends Error {
  override name = "FilaError";
  constructor(readonly status: number, readonly body: Schemas["Error"] | undefined) {
    super(body?.error?.message ?? `Fila answered ${status}`);
  }
}

/**
 * The frames of a streamed answer (openapi-fetch with `parseAs: "stream"`), in
 * order, until the task ends or the caller stops reading (which closes the stream).
 * Throws FilaError when the API refused (an unknown task: 404).
 */
export async function* taskFrames(
  answer: Promise<{ data?: unknown; error?: unknown; response: Response }>,
): AsyncGenerator<TaskFrame, void, undefined> {
  const { data, error, response } = await answer;
  if (!(data instanceof ReadableStream)) {
    throw new FilaError(response.status, error as Schemas["Error"] | undefined);
  }
  // a TransformStream rather than TextDecoderStream: the DOM's and Deno's typings of it differ
  const decoder = new TextDecoder();
  const messages = (data as ReadableStream<Uint8Array>)
    .pipeThrough(
      new TransformStream<Uint8Array, string>({
        transform: (chunk, out) => out.enqueue(decoder.decode(chunk, { stream: true })),
      }),
    )
    .pipeThrough(new EventSourceParserStream());
  for await (const message of messages) {
    if (message.event === "task") {
      yield { event: "task", id: message.id ?? "", data: JSON.parse(message.data) };
    } else if (message.event === "end") {
      yield { event: "end", data: JSON.parse(message.data) };
    }
  }
}
