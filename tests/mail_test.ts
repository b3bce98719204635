import assert from "node:assert/strict";
import { startTestFila, storeCombos } from "./support/harness.ts";
import { startSmtpSink } from "./support/smtp_sink.ts";

for (const { store, driver, name } of storeCombos("libsql/kv", "postgres/pg")) {
  Deno.test(`[${name}] mail: send_email and send_report arrive at a real SMTP server with recipient, subject and attachment`, async () => {
    const sink = await startSmtpSink();
    const fila = await startTestFila({
      store,
      driver,
      env: { SMTP_URL: sink.url, MAIL_FROM: "Fila <fila@test.local>" },
    });
    try {
      const mail = await fila.post("/tasks", {
        type: "send_email",
        payload: { to: "ana@example.com", subject: "Olá from Fila", text: "The body." },
      });
      assert.equal(mail.status, 202);
      const sent = await fila.waitForTask(mail.body.id);
      assert.equal(sent.status, "succeeded", JSON.stringify(sent));
      assert.equal(sent.result.via, "smtp");
      const [first] = await sink.waitFor(1);
      assert.deepEqual(first.to, ["ana@example.com"]);
      assert.equal(first.from, "fila@test.local");
      assert.match(first.raw, /Subject: =\?UTF-8\?Q\?Ol=C3=A1_from_Fila\?=|Subject: Olá from Fila/);
      assert.match(first.raw, /The body\./);

      const seed = await fila.post("/process-csv?filename=report-seed.csv&num_rows=500");
      await fila.waitForTask(seed.body.task_id);
      const report = await fila.post("/send-report?email=boss@example.com&report_type=vendas");
      assert.equal(report.status, 202);
      const done = await fila.waitForTask(report.body.task_id);
      assert.equal(done.status, "succeeded", JSON.stringify(done));
      const [, second] = await sink.waitFor(2);
      assert.deepEqual(second.to, ["boss@example.com"]);
      assert.match(second.raw, /Subject: Fila report: Sales by region/);
      assert.match(second.raw, /500 orders/);
      assert.match(
        second.raw,
        /Content-Disposition: attachment; filename=sales-\d{4}-\d{2}-\d{2}\.csv/,
      );
      assert.match(second.raw, /Content-Type: text\/csv/);
      assert.equal(
        (await fila.get("/outbox")).body.total,
        0,
        "with SMTP nothing goes to the outbox",
      );
    } finally {
      await fila.stop();
      await sink.close();
    }
  });

  Deno.test(`[${name}] mail: with no SMTP_URL mail lands in /outbox, newest first; bad addresses are 400`, async () => {
    const fila = await startTestFila({ store, driver });
    try {
      const a = await fila.post("/tasks", {
        type: "send_email",
        payload: { to: "a@example.com", subject: "first", text: "1" },
      });
      await fila.waitForTask(a.body.id);
      const b = await fila.post("/tasks", {
        type: "send_report",
        payload: { email: "b@example.com", report_type: "tasks" },
      });
      const report = await fila.waitForTask(b.body.id);
      assert.equal(report.result.via, "outbox");
      const outbox = await fila.get("/outbox");
      assert.equal(outbox.status, 200);
      assert.equal(outbox.body.total, 2);
      const [newest, oldest] = outbox.body.messages;
      assert.equal(oldest.subject, "first");
      assert.equal(oldest.to, "a@example.com");
      assert.match(newest.subject, /Fila report: Tasks/);
      assert.equal(newest.attachments[0].contentType, "text/csv");
      assert.match(
        newest.attachments[0].content,
        /^type,status,count\r\nsend_email,succeeded,1\r\n/,
      );
      assert.equal((await fila.get("/outbox?limit=1&offset=1")).body.messages[0].subject, "first");
      const bad = await fila.post("/tasks", {
        type: "send_email",
        payload: { to: "not-an-address", subject: "x", text: "y" },
      });
      assert.equal(bad.status, 400);
      assert.equal((await fila.post("/send-report?email=nope")).status, 400);
      assert.equal((await fila.post("/send-report?email=a@b.co&report_type=weather")).status, 400);
    } finally {
      await fila.stop();
    }
  });
}
