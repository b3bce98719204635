/** GET /outbox: the mail kept when no SMTP server is configured, newest first. */
import { createRoute, z } from "@hono/zod-openapi";
import type { Mailer } from "../tasks/clients/mailer.ts";
import { newRouter } from "./env.ts";
import { failures, STORE_FAILURES } from "./openapi.ts";
import { wholeNumber } from "./params.ts";
import { toMailView } from "./views.ts";

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
  operationId: "listOutbox",
  tags: ["mail"],
  summary: "Mail kept in the outbox (no SMTP_URL set), newest first",
  request: {
    query: z.object({
      limit: wholeNumber("limit", 1, 100).default(20),
      offset: wholeNumber("offset", 0, 1_000_000_000).default(0),
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
          }).openapi("OutboxPage"),
        },
      },
      description: "A page of mail",
    },
    ...failures({ 400: "Bad paging" }),
    ...STORE_FAILURES,
  },
});

export function outboxRouter(mailer: Mailer) {
  const app = newRouter();
  app.openapi(listRoute, async (c) => {
    const { limit, offset } = c.req.valid("query");
    const { mails, total } = await mailer.outbox(limit, offset);
    return c.json({ messages: mails.map(toMailView), count: mails.length, total }, 200);
  });
  return app;
}
