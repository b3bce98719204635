-- Custom migration (drizzle-kit generate --custom): a turn of the engine (TaskStore.turn) as one
-- call, so one round trip and one commit: the submissions, then the ends of attempts, then the
-- claim, each statement seeing what the one before it wrote (a task submitted while a worker slot
-- is free is claimed in the call that stores it). node-postgres sends a transaction's statements
-- one at a time; as separate statements the same turn took 2-3 times as long on a busy 2-core
-- machine, where every round trip waits for both processes to be scheduled.
--
-- The claim always walks tasks_ready_idx in (priority, run_at) order and stops after
-- claim_limit tasks: sorts and bitmap scans are off inside this function. As a plain statement
-- the plan followed the statistics, and right after a burst of submissions, before autovacuum
-- analyzed the table, PostgreSQL expected a handful of waiting tasks and read and sorted every
-- one of them on each claim (9 ms for 4,000 waiting tasks, growing with the backlog). JIT is off
-- too: the cost a disabled sort adds to a plan would otherwise pass JIT's threshold and compile
-- the triggers' small queries (0.4 s for a batch of 1,000).
--
-- FOR UPDATE SKIP LOCKED: instances claiming at once take disjoint tasks without waiting.
-- Every end is fenced on (worker, attempt, status running), as in db/libsql/task_store.ts.
-- History and wake-ups come from migration 0001's triggers, inside the same transaction.
CREATE FUNCTION fila_turn(
    -- submissions, one array per column
    new_id text[], new_type text[], new_title text[], new_description text[],
    new_payload text[], new_status text[], new_priority integer[], new_max_attempts integer[],
    new_timeout_ms bigint[], new_run_at bigint[], new_idempotency_key text[],
    new_request_id text[], new_result_ttl_ms bigint[], new_created_at bigint[],
    -- ends of attempts: the outcome, and its text (the result's JSON, the error or the reason)
    end_id text[], end_worker text[], end_attempt integer[], end_outcome text[], end_text text[],
    end_retry_at bigint[],
    turn_now bigint,
    -- the claim (none when claim_limit is 0)
    claim_worker text, claim_limit integer, claim_lease_until bigint)
  RETURNS json
  LANGUAGE plpgsql
  SET enable_sort = off
  SET enable_bitmapscan = off
  SET jit = off
AS $$
DECLARE
  created text[];
  ended text[];
  claimed json;
BEGIN
  IF cardinality(new_id) > 0 THEN
    WITH stored AS (
      INSERT INTO tasks (id, type, title, description, payload, status, priority, max_attempts,
        timeout_ms, run_at, idempotency_key, request_id, result_ttl_ms, created_at, updated_at,
        note)
      SELECT n.id, n.type, n.title, n.description, n.payload::json, n.status, n.priority,
        n.max_attempts, n.timeout_ms, n.run_at, n.idempotency_key, n.request_id,
        n.result_ttl_ms, n.created_at, n.created_at, 'submitted'
      FROM unnest(new_id, new_type, new_title, new_description, new_payload, new_status,
        new_priority, new_max_attempts, new_timeout_ms, new_run_at, new_idempotency_key,
        new_request_id, new_result_ttl_ms, new_created_at)
        AS n(id, type, title, description, payload, status, priority, max_attempts, timeout_ms,
          run_at, idempotency_key, request_id, result_ttl_ms, created_at)
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING tasks.id)
    SELECT array_agg(stored.id) INTO created FROM stored;
  END IF;

  IF cardinality(end_id) > 0 THEN
    WITH closed AS (
      UPDATE tasks t SET
        status = e.outcome,
        result = CASE WHEN e.outcome = 'succeeded' THEN e.text::json ELSE t.result END,
        error = CASE e.outcome WHEN 'succeeded' THEN NULL WHEN 'cancelled' THEN t.error
          ELSE e.text END,
        progress = CASE WHEN e.outcome = 'succeeded' THEN 100 ELSE t.progress END,
        note = CASE WHEN e.outcome = 'succeeded' THEN NULL ELSE e.text END,
        run_at = CASE WHEN e.outcome = 'retrying' THEN e.retry_at ELSE t.run_at END,
        lease_until = NULL,
        worker_id = CASE WHEN e.outcome = 'retrying' THEN NULL ELSE t.worker_id END,
        finished_at = CASE WHEN e.outcome = 'retrying' THEN t.finished_at ELSE turn_now END,
        expires_at = CASE
          WHEN e.outcome = 'retrying' THEN t.expires_at
          WHEN t.result_ttl_ms IS NULL THEN NULL
          ELSE turn_now + t.result_ttl_ms END,
        updated_at = turn_now
      FROM unnest(end_id, end_worker, end_attempt, end_outcome, end_text, end_retry_at)
        AS e(id, worker_id, attempt, outcome, text, retry_at)
      WHERE t.id = e.id AND t.status = 'running' AND t.worker_id = e.worker_id
        AND t.attempts = e.attempt
      RETURNING t.id)
    SELECT array_agg(closed.id) INTO ended FROM closed;
  END IF;

  IF claim_limit > 0 THEN
    WITH taken AS (
      UPDATE tasks SET status = 'running', attempts = attempts + 1,
        lease_until = claim_lease_until, worker_id = claim_worker, started_at = turn_now,
        updated_at = turn_now, progress = 0, progress_message = NULL,
        note = 'attempt ' || (attempts + 1) || ' of ' || max_attempts || ' on ' || claim_worker
      WHERE tasks.id IN (
        SELECT ready.id FROM tasks ready
        WHERE ready.status IN ('queued', 'scheduled', 'retrying') AND ready.run_at <= turn_now
          AND NOT ready.cancel_requested
        ORDER BY ready.priority, ready.run_at
        LIMIT claim_limit
        FOR UPDATE SKIP LOCKED)
      RETURNING tasks.*)
    SELECT json_agg(taken) INTO claimed FROM taken;
  END IF;

  RETURN json_build_object('created', created, 'ended', ended, 'claimed', claimed);
END
$$;
