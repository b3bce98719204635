DROP INDEX `tasks_created_idx`;--> statement-breakpoint
DROP INDEX `tasks_worker_idx`;