/**
 * What a running task may use besides its input: the outside systems of
 * `tasks/clients/` and the app's stores -- never a raw database. Built once in
 * `main.ts`.
 */
import type { QuotesService } from "./clients/quotes_service.ts";
import type { Mailer } from "./clients/mailer.ts";
import type { OutboundInit } from "./clients/outbound_fetch.ts";
import type { SalesStore } from "./stores.ts";

export interface TaskServices {
  quotes: QuotesService;
  mailer: Mailer;
  sales: SalesStore;
  /**
   * `fetch` for URLs a task was given: refuses loopback, private, link-local and
   * metadata addresses (also after DNS and on redirects) unless the configured
   * allow-list (OUTBOUND_ALLOWED_HOSTS) names the host.
   */
  fetch(url: string, init?: OutboundInit): Promise<Response>;
  /**
   * Why `fetch` would refuse `url` whatever DNS says (an IP literal that is not
   * public and not allow-listed), or null; for refusing such a URL at submit time.
   */
  literalUrlRefusal(url: string): string | null;
  /** The key `http` tasks sign their requests with (HTTP_TASK_SECRET); null: unsigned. */
  httpTaskSecret: string | null;
  /** Task counts per (type, status), for the tasks report. */
  taskCounts(): Promise<{ type: string; status: string; n: number }[]>;
}
