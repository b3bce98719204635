-- Custom migration (drizzle-kit generate --custom): the history rule and the wake-ups.
--
-- History (the rule of tasks/engine/store.ts, as libSQL's migration 0005 writes it): each change
-- of a task's status, attempts, progress or note adds one task_events row in the same statement,
-- with the note the change set as its message.
--
-- Wake-ups: a statement that leaves tasks waiting (a submit, a retry, a replay, a requeue of a
-- lost or handed-back task) also sends NOTIFY fila_wakeups with the times those tasks become
-- due (epoch ms, rounded up to 10 ms, soonest first, at most 20, comma-separated), after the
-- writer's `fila.origin` setting and a colon (`<origin>:<due>,<due>…`): the instance that wrote
-- them has claimed what it could already, and skips its own wake-ups for tasks due now. NOTIFY
-- is delivered at commit and only then, so every instance that LISTENs hears of work exactly
-- when it can be claimed, without a message of its own (tasks/engine/pg_broker.ts).
--
-- Both are statement-level triggers over transition tables: a batch of 1,000 submissions costs
-- one INSERT … SELECT into task_events and one NOTIFY, not 1,000 trigger calls.
CREATE FUNCTION fila_tasks_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  due text;
BEGIN
  INSERT INTO task_events (task_id, at, status, progress, message)
    SELECT id, created_at, status, progress, note FROM inserted_rows;
  SELECT string_agg(at::text, ',' ORDER BY at) INTO due FROM (
    SELECT DISTINCT (run_at + 9) / 10 * 10 AS at FROM inserted_rows
    WHERE status IN ('queued', 'scheduled', 'retrying')
    ORDER BY at LIMIT 20
  ) soonest;
  IF due IS NOT NULL THEN
    PERFORM pg_notify('fila_wakeups',
      coalesce(current_setting('fila.origin', true), '') || ':' || due);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE FUNCTION fila_tasks_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  due text;
BEGIN
  INSERT INTO task_events (task_id, at, status, progress, message)
    SELECT n.id, n.updated_at, n.status, n.progress, n.note
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE n.status IS DISTINCT FROM o.status OR n.attempts IS DISTINCT FROM o.attempts
      OR n.progress IS DISTINCT FROM o.progress OR n.note IS DISTINCT FROM o.note;
  -- most updates end or claim tasks: look for tasks left waiting only when there are some
  IF EXISTS (SELECT 1 FROM new_rows WHERE status IN ('queued', 'scheduled', 'retrying')) THEN
    SELECT string_agg(at::text, ',' ORDER BY at) INTO due FROM (
      SELECT DISTINCT (n.run_at + 9) / 10 * 10 AS at
      FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE n.status IN ('queued', 'scheduled', 'retrying')
        AND (o.status NOT IN ('queued', 'scheduled', 'retrying') OR n.run_at <> o.run_at)
      ORDER BY at LIMIT 20
    ) soonest;
    IF due IS NOT NULL THEN
      PERFORM pg_notify('fila_wakeups',
        coalesce(current_setting('fila.origin', true), '') || ':' || due);
    END IF;
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER tasks_history_insert AFTER INSERT ON tasks
  REFERENCING NEW TABLE AS inserted_rows
  FOR EACH STATEMENT EXECUTE FUNCTION fila_tasks_inserted();
--> statement-breakpoint
CREATE TRIGGER tasks_history_update AFTER UPDATE ON tasks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION fila_tasks_updated();
