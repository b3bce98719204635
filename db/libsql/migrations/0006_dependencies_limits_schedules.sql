CREATE TABLE `schedules` (
	`name` text PRIMARY KEY NOT NULL,
	`cron` text NOT NULL,
	`timezone` text DEFAULT 'UTC' NOT NULL,
	`type` text NOT NULL,
	`payload` text NOT NULL,
	`priority` integer,
	`max_attempts` integer,
	`paused` integer DEFAULT false NOT NULL,
	`builtin` integer DEFAULT false NOT NULL,
	`last_run_at` integer,
	`last_task_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `task_dependencies` (
	`task_id` text NOT NULL,
	`depends_on_id` text NOT NULL,
	PRIMARY KEY(`task_id`, `depends_on_id`)
);
--> statement-breakpoint
CREATE INDEX `task_dependencies_parent_idx` ON `task_dependencies` (`depends_on_id`);--> statement-breakpoint
CREATE TABLE `type_limits` (
	`type` text PRIMARY KEY NOT NULL,
	`concurrency` integer,
	`rate_per_minute` integer,
	`paused` integer DEFAULT false NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `type_starts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`type` text NOT NULL,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `type_starts_type_at_idx` ON `type_starts` (`type`,`at`);--> statement-breakpoint
ALTER TABLE `tasks` ADD `dependency_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `tasks` ADD `has_dependents` integer DEFAULT false NOT NULL;