/**
 * Sends mail: over SMTP with nodemailer when `SMTP_URL` is set, otherwise into
 * the outbox table that `GET /outbox` and the dashboard show.
 */
// @ts-types="npm:@types/nodemailer@^8.0.2"
import nodemailer from "nodemailer";
import type { OutboxRepository } from "../../db/outbox_repository.ts";

export interface Attachment {
  filename: string;
  contentType: string;
  content: string;
}

export interface Mail {
  to: string[];
  subject: string;
  text: string;
  html?: string;
  attachments?: Attachment[];
  taskId?: string;
}

export interface SentMail {
  via: "smtp" | "outbox";
  id: string;
}

export class Mailer {
  private readonly transport: ReturnType<typeof nodemailer.createTransport> | null;

  constructor(
    smtpUrl: string | undefined,
    private readonly from: string,
    private readonly outbox: OutboxRepository,
  ) {
    this.transport = smtpUrl ? nodemailer.createTransport(smtpUrl) : null;
  }

  async send(mail: Mail): Promise<SentMail> {
    if (this.transport) {
      const info = await this.transport.sendMail({
        from: this.from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        attachments: mail.attachments?.map((a) => ({ ...a })),
      });
      return { via: "smtp", id: String(info.messageId) };
    }
    const row = await this.outbox.add({
      taskId: mail.taskId ?? null,
      from: this.from,
      to: mail.to.join(", "),
      subject: mail.subject,
      text: mail.text,
      html: mail.html ?? null,
      attachments: mail.attachments ?? [],
      createdAt: Date.now(),
    });
    return { via: "outbox", id: String(row.id) };
  }

  close(): void {
    this.transport?.close();
  }
}
