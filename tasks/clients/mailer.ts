/**
 * Sends mail: over SMTP with nodemailer when `SMTP_URL` is set, otherwise into
 * the outbox table that `GET /outbox` and the dashboard show.
 */
// @ts-types="npm:@types/nodemailer@^8.0.2"
import type { Transporter } from "nodemailer";
import type { MailAttachment, OutboxStore } from "../stores.ts";

export interface Mail {
  to: string[];
  subject: string;
  text: string;
  html?: string;
  attachments?: MailAttachment[];
  taskId?: string;
}

export interface SentMail {
  via: "smtp" | "outbox";
  id: string;
}

export class Mailer {
  private transport: Promise<Transporter> | null = null;

  constructor(
    private readonly smtpUrl: string | undefined,
    private readonly from: string,
    private readonly kept: OutboxStore,
  ) {}

  async send(mail: Mail): Promise<SentMail> {
    if (this.smtpUrl) {
      // nodemailer is loaded on the first mail: ~10 MB an instance without SMTP never needs
      this.transport ??= import("nodemailer").then((m) => m.default.createTransport(this.smtpUrl));
      const info = await (await this.transport).sendMail({
        from: this.from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        attachments: mail.attachments?.map((a) => ({ ...a })),
      });
      return { via: "smtp", id: String(info.messageId) };
    }
    const row = await this.kept.add({
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

  /** Mail kept in the outbox, newest first, with the total. */
  outbox(limit: number, offset: number) {
    return this.kept.list(limit, offset);
  }

  close(): void {
    this.transport?.then((t) => t.close(), () => {});
  }
}
