-- The two other entries every task's history gets on the hot path, written in
-- the statement that makes the change (as tasks_attempt_started is): a task's
-- submission, and its success. Rarer changes (failures, cancels, replays,
-- hand-backs, expired leases) are written by the repository with their message.
CREATE TRIGGER `tasks_submitted` AFTER INSERT ON `tasks`
BEGIN
  INSERT INTO `task_events` (`task_id`, `at`, `status`, `progress`, `message`)
  VALUES (NEW.`id`, NEW.`created_at`, NEW.`status`, 0, 'submitted');
END;
--> statement-breakpoint
CREATE TRIGGER `tasks_succeeded` AFTER UPDATE OF `status` ON `tasks`
WHEN NEW.`status` = 'succeeded' AND OLD.`status` <> 'succeeded'
BEGIN
  INSERT INTO `task_events` (`task_id`, `at`, `status`, `progress`, `message`)
  VALUES (NEW.`id`, NEW.`finished_at`, 'succeeded', NEW.`progress`, NULL);
END;
