CREATE TABLE "outbox" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "outbox_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"task_id" text,
	"from" text NOT NULL,
	"to" text NOT NULL,
	"subject" text NOT NULL,
	"text" text NOT NULL,
	"html" text,
	"attachments" json DEFAULT '[]' NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "quotes" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "quotes_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"pair" text NOT NULL,
	"code" text NOT NULL,
	"codein" text NOT NULL,
	"name" text NOT NULL,
	"high" double precision NOT NULL,
	"low" double precision NOT NULL,
	"bid" double precision NOT NULL,
	"ask" double precision NOT NULL,
	"var_bid" double precision,
	"pct_change" double precision,
	"timestamp" bigint NOT NULL,
	"create_date" text NOT NULL,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sales" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "sales_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"dataset" text NOT NULL,
	"date" text NOT NULL,
	"region" text NOT NULL,
	"product" text NOT NULL,
	"quantity" integer NOT NULL,
	"unit_price" double precision NOT NULL,
	"amount" double precision NOT NULL
);
--> statement-breakpoint
CREATE TABLE "task_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "task_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"task_id" text NOT NULL,
	"at" bigint NOT NULL,
	"status" text NOT NULL,
	"progress" integer,
	"message" text
);
--> statement-breakpoint
CREATE TABLE "tasks" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"title" text,
	"description" text,
	"payload" json NOT NULL,
	"status" text NOT NULL,
	"priority" integer NOT NULL,
	"progress" integer DEFAULT 0 NOT NULL,
	"progress_message" text,
	"result" json,
	"error" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"max_attempts" integer NOT NULL,
	"timeout_ms" bigint NOT NULL,
	"run_at" bigint NOT NULL,
	"lease_until" bigint,
	"worker_id" text,
	"idempotency_key" text,
	"cancel_requested" boolean DEFAULT false NOT NULL,
	"request_id" text,
	"note" text,
	"result_ttl_ms" bigint,
	"expires_at" bigint,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL,
	"started_at" bigint,
	"finished_at" bigint
);
--> statement-breakpoint
CREATE INDEX "outbox_created_idx" ON "outbox" USING btree ("created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "quotes_pair_timestamp_uq" ON "quotes" USING btree ("pair","timestamp");--> statement-breakpoint
CREATE INDEX "sales_dataset_idx" ON "sales" USING btree ("dataset");--> statement-breakpoint
CREATE INDEX "sales_region_date_idx" ON "sales" USING btree ("region","date");--> statement-breakpoint
CREATE INDEX "task_events_task_idx" ON "task_events" USING btree ("task_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_idempotency_key_uq" ON "tasks" USING btree ("idempotency_key");--> statement-breakpoint
CREATE INDEX "tasks_ready_idx" ON "tasks" USING btree ("priority","run_at","status") WHERE status in ('queued', 'scheduled', 'retrying');--> statement-breakpoint
CREATE INDEX "tasks_status_id_idx" ON "tasks" USING btree ("status","id");--> statement-breakpoint
CREATE INDEX "tasks_type_id_idx" ON "tasks" USING btree ("type","id");--> statement-breakpoint
CREATE INDEX "tasks_finished_idx" ON "tasks" USING btree ("finished_at","status") WHERE finished_at is not null;--> statement-breakpoint
CREATE INDEX "tasks_expires_idx" ON "tasks" USING btree ("expires_at") WHERE expires_at is not null;