-- The start of each attempt goes into a task's history in the statement that
-- claims it: only a claim raises `attempts` while setting `running`. (Matching a
-- claim's rows afterwards needed a claim time unique per claim, which ran the
-- timestamps ahead of the clock when claims came faster than one a millisecond.)
CREATE TRIGGER `tasks_attempt_started` AFTER UPDATE OF `attempts` ON `tasks`
WHEN NEW.`status` = 'running' AND NEW.`attempts` = OLD.`attempts` + 1
BEGIN
  INSERT INTO `task_events` (`task_id`, `at`, `status`, `progress`, `message`)
  VALUES (NEW.`id`, NEW.`started_at`, 'running', 0,
          'attempt ' || NEW.`attempts` || ' of ' || NEW.`max_attempts` || ' on ' || NEW.`worker_id`);
END;
