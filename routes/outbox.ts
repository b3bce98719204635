/** GET /outbox: the mail kept when no SMTP server is configured, newest first. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { OutboxRepository } from "../db/outbox_repository.ts";
import type { OutboxRow } from "../db/schema.ts";
import { errorSchema, validationHook } from "./errors.ts";

const mailSchema = z.object({
  id: z.number().int(),
  task_id: z.string().nullable(),
  from: z.string(),
  to: z.string(),
  subject: z.string(),
  text: z.string(),
  html: z.string().nullable(),
  attachments: z.array(
    z.object({ filename: z.string(), contentType: z.string(), content: z.string() }),
  ),
  created_at: z.string(),
}).openapi("OutboxMail");

const listRoute = createRoute({
  method: "get",
  path: "/outbox",
  tags: ["mail"],
  summary: "Mail kept in the outbox (no SMTP_URL set), newest first",
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(100).default(20),
      offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
    }),
  },
  responses: {
    200: {
      content: {
        "application/json": {
          schema: z.object({
            messages: z.array(mailSchema),
            count: z.number().int(),
            total: z.number().int(),
          }),
        },
      },
      description: "A page of mail",
    },
    400: { content: { "application/json": { schema: errorSchema } }, description: "Bad paging" },
  },
});

export function toMailView(row: OutboxRow) {
  return {
    id: row.id,
    task_id: row.taskId,
    from: row.from,
    to: row.to,
    subject: row.subject,
    text: row.text,
    html: row.html,
    attachments: row.attachments as { filename: string; contentType: string; content: string }[],
    created_at: new Date(row.createdAt).toISOString(),
  };
}

export function outboxRouter(outbox: OutboxRepository) {
  const app = new OpenAPIHono({ defaultHook: validationHook });
  app.openapi(listRoute, async (c) => {
    const { limit, offset } = c.req.valid("query");
    const { rows, total } = await outbox.list(limit, offset);
    return c.json({ messages: rows.map(toMailView), count: rows.length, total }, 200);
  });
  return app;
}
