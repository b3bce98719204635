import { z } from "zod";
import { defineTask } from "./define_task.ts";

export const sendEmail = defineTask({
  type: "send_email",
  description: "Sends an e-mail (over SMTP_URL, or into the outbox when none is set).",
  input: z.object({
    to: z.union([z.email(), z.array(z.email()).min(1).max(50)]),
    subject: z.string().min(1).max(300),
    text: z.string().max(100_000),
    html: z.string().max(200_000).optional(),
  }).strict(),
  example: { to: "ana@example.com", subject: "Hello from Fila", text: "Your task is done." },
  async run({ input, taskId, services }) {
    const to = Array.isArray(input.to) ? input.to : [input.to];
    const sent = await services.mailer.send({
      to,
      subject: input.subject,
      text: input.text,
      html: input.html,
      taskId,
    });
    return { ...sent, to };
  },
});
