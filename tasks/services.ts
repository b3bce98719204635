/**
 * What a running task may use besides its input: the store, the configuration,
 * and the outside systems of `tasks/clients/`. Built once in `main.ts`.
 */
import type { Config } from "../config.ts";
import type { Database } from "../db/client.ts";
import type { QuotesService } from "./clients/quotes_service.ts";
import type { Mailer } from "./clients/mailer.ts";

export interface TaskServices {
  db: Database;
  config: Config;
  quotes: QuotesService;
  mailer: Mailer;
}
