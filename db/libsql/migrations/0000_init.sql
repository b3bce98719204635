CREATE TABLE `outbox` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`task_id` text,
	`from` text NOT NULL,
	`to` text NOT NULL,
	`subject` text NOT NULL,
	`text` text NOT NULL,
	`html` text,
	`attachments` text DEFAULT '[]' NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `outbox_created_idx` ON `outbox` (`created_at`);--> statement-breakpoint
CREATE TABLE `quotes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`pair` text NOT NULL,
	`code` text NOT NULL,
	`codein` text NOT NULL,
	`name` text NOT NULL,
	`high` real NOT NULL,
	`low` real NOT NULL,
	`bid` real NOT NULL,
	`ask` real NOT NULL,
	`var_bid` real,
	`pct_change` real,
	`timestamp` integer NOT NULL,
	`create_date` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `quotes_pair_timestamp_uq` ON `quotes` (`pair`,`timestamp`);--> statement-breakpoint
CREATE TABLE `sales` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`dataset` text NOT NULL,
	`date` text NOT NULL,
	`region` text NOT NULL,
	`product` text NOT NULL,
	`quantity` integer NOT NULL,
	`unit_price` real NOT NULL,
	`amount` real NOT NULL
);
--> statement-breakpoint
CREATE INDEX `sales_dataset_idx` ON `sales` (`dataset`);--> statement-breakpoint
CREATE INDEX `sales_region_date_idx` ON `sales` (`region`,`date`);--> statement-breakpoint
CREATE TABLE `task_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`task_id` text NOT NULL,
	`at` integer NOT NULL,
	`status` text NOT NULL,
	`progress` integer,
	`message` text
);
--> statement-breakpoint
CREATE INDEX `task_events_task_idx` ON `task_events` (`task_id`,`id`);--> statement-breakpoint
CREATE TABLE `tasks` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`title` text,
	`description` text,
	`payload` text NOT NULL,
	`status` text NOT NULL,
	`priority` integer NOT NULL,
	`progress` integer DEFAULT 0 NOT NULL,
	`progress_message` text,
	`result` text,
	`error` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`max_attempts` integer NOT NULL,
	`timeout_ms` integer NOT NULL,
	`run_at` integer NOT NULL,
	`lease_until` integer,
	`worker_id` text,
	`idempotency_key` text,
	`cancel_requested` integer DEFAULT false NOT NULL,
	`request_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`started_at` integer,
	`finished_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tasks_idempotency_key_uq` ON `tasks` (`idempotency_key`);--> statement-breakpoint
CREATE INDEX `tasks_ready_idx` ON `tasks` (`priority`,`run_at`) WHERE status in ('queued', 'scheduled', 'retrying');--> statement-breakpoint
CREATE INDEX `tasks_status_idx` ON `tasks` (`status`,`priority`);--> statement-breakpoint
CREATE INDEX `tasks_created_idx` ON `tasks` (`created_at`);--> statement-breakpoint
CREATE INDEX `tasks_type_created_idx` ON `tasks` (`type`,`created_at`);--> statement-breakpoint
CREATE INDEX `tasks_worker_idx` ON `tasks` (`worker_id`,`status`);