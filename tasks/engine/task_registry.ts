/**
 * Looks task types up by name and checks payloads against their own schemas.
 */
import { z } from "zod";
import type { TaskDefinition } from "../types/define_task.ts";
import { FilaError } from "./errors.ts";

export class TaskRegistry {
  private readonly byType = new Map<string, TaskDefinition>();

  constructor(definitions: TaskDefinition[]) {
    for (const definition of definitions) {
      if (this.byType.has(definition.type)) {
        throw new Error(`task type '${definition.type}' is defined twice`);
      }
      this.byType.set(definition.type, definition);
    }
  }

  get(type: string): TaskDefinition | undefined {
    return this.byType.get(type);
  }

  all(): TaskDefinition[] {
    return [...this.byType.values()];
  }

  names(): string[] {
    return [...this.byType.keys()];
  }

  /** The definition of `type`, or a 400-class error naming the known types. */
  require(type: string): TaskDefinition {
    const definition = this.byType.get(type);
    if (!definition) {
      throw new FilaError("validation_failed", `unknown task type '${type}'`, {
        known_types: this.names(),
      });
    }
    return definition;
  }

  /** Checks `payload` against the type's schema; returns the payload as stored. */
  validatePayload(type: string, payload: unknown): unknown {
    const definition = this.require(type);
    const parsed = definition.input.safeParse(payload);
    if (!parsed.success) {
      throw new FilaError("validation_failed", `payload does not fit task type '${type}'`, {
        issues: z.treeifyError(parsed.error),
      });
    }
    // Store what the client sent (defaults are applied again at run time).
    return payload ?? {};
  }
}
