-- One rule writes every task's history (see tasks/engine/store.ts): each change
-- of status, attempt, progress or note adds one task_events row in the same
-- statement, with the note the change set as its message. It replaces the three
-- triggers of 0002/0003 and the inserts the repository used to make itself.
DROP TRIGGER IF EXISTS `tasks_attempt_started`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `tasks_submitted`;
--> statement-breakpoint
DROP TRIGGER IF EXISTS `tasks_succeeded`;
--> statement-breakpoint
CREATE TRIGGER `tasks_history_insert` AFTER INSERT ON `tasks`
BEGIN
  INSERT INTO `task_events` (`task_id`, `at`, `status`, `progress`, `message`)
  VALUES (NEW.`id`, NEW.`created_at`, NEW.`status`, NEW.`progress`, NEW.`note`);
END;
--> statement-breakpoint
CREATE TRIGGER `tasks_history_update`
AFTER UPDATE OF `status`, `attempts`, `progress`, `note` ON `tasks`
WHEN NEW.`status` IS NOT OLD.`status` OR NEW.`attempts` IS NOT OLD.`attempts`
  OR NEW.`progress` IS NOT OLD.`progress` OR NEW.`note` IS NOT OLD.`note`
BEGIN
  INSERT INTO `task_events` (`task_id`, `at`, `status`, `progress`, `message`)
  VALUES (NEW.`id`, NEW.`updated_at`, NEW.`status`, NEW.`progress`, NEW.`note`);
END;
