DROP INDEX `tasks_status_idx`;--> statement-breakpoint
DROP INDEX `tasks_type_created_idx`;--> statement-breakpoint
DROP INDEX `tasks_ready_idx`;--> statement-breakpoint
ALTER TABLE `tasks` ADD `note` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `result_ttl_ms` integer;--> statement-breakpoint
ALTER TABLE `tasks` ADD `expires_at` integer;--> statement-breakpoint
CREATE INDEX `tasks_status_id_idx` ON `tasks` (`status`,`id`);--> statement-breakpoint
CREATE INDEX `tasks_type_id_idx` ON `tasks` (`type`,`id`);--> statement-breakpoint
CREATE INDEX `tasks_finished_idx` ON `tasks` (`finished_at`,`status`) WHERE finished_at is not null;--> statement-breakpoint
CREATE INDEX `tasks_expires_idx` ON `tasks` (`expires_at`) WHERE expires_at is not null;--> statement-breakpoint
CREATE INDEX `tasks_ready_idx` ON `tasks` (`priority`,`run_at`,`status`) WHERE status in ('queued', 'scheduled', 'retrying');