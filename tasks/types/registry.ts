/**
 * The task types this service runs. Adding one: a file in this folder and a line here.
 */
import type { FilaTaskDefinition } from "./define_task.ts";
import { aggregate } from "./aggregate.ts";
import { http } from "./http.ts";
import { noop } from "./noop.ts";
import { processCsv } from "./process_csv.ts";
import { sendEmail } from "./send_email.ts";
import { sendReport } from "./send_report.ts";
import { refreshQuotes } from "./refresh_quotes.ts";
import { sum } from "./sum.ts";
import { uppercase } from "./uppercase.ts";
import { work } from "./work.ts";

export const taskTypes: FilaTaskDefinition[] = [
  noop,
  uppercase,
  sum,
  work,
  refreshQuotes,
  processCsv,
  aggregate,
  sendEmail,
  sendReport,
  http,
] as FilaTaskDefinition[];
