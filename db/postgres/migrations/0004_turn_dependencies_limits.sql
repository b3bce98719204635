-- Custom migration (drizzle-kit generate --custom): dependencies and per-type limits in the turn.
--
-- fila_resolve_dependents(roots, now) is db/libsql/dependencies.ts's resolution on PostgreSQL:
-- every blocked task downstream of a root that failed or was cancelled is cancelled, its error
-- naming that root; then each blocked task that waits on a root and whose dependencies all
-- succeeded is released (queued, or scheduled when its run_at is still ahead). It runs inside
-- the transaction of the change that decides it: a submit with dependencies, an end of a task
-- with dependents (the turn below), a cancel (task_store.ts); the sweeper runs it over every
-- blocked task as a safety net (TaskStore.resolveBlocked).
--
-- Races between instances, which libSQL's single writer rules out: a submit locks the tasks it
-- waits for (marking them has_dependents, or FOR SHARE when they are marked already) before it
-- reads their status, and an end writes its task's row before it resolves. Whichever comes
-- second waits for the other's commit and then sees it: the end reads has_dependents from the
-- row it wrote and the new task_dependencies rows; the submit reads the ended status.
CREATE FUNCTION fila_resolve_dependents(roots text[], resolve_now bigint)
  RETURNS integer
  LANGUAGE plpgsql
AS $$
DECLARE
  cancelled integer;
  released integer;
BEGIN
  IF cardinality(roots) IS NULL OR cardinality(roots) = 0 THEN
    RETURN 0;
  END IF;
  WITH RECURSIVE down(id, root) AS (
    SELECT d.task_id, d.depends_on_id FROM task_dependencies d
      JOIN tasks p ON p.id = d.depends_on_id
      WHERE d.depends_on_id = ANY(roots) AND p.status IN ('failed', 'cancelled')
    UNION
    SELECT d.task_id, down.root FROM task_dependencies d JOIN down ON d.depends_on_id = down.id
  ), named AS (
    -- one root per cancelled task, as libSQL's `limit 1` picks it: the first found
    SELECT DISTINCT ON (down.id) down.id, down.root, p.status AS root_status
    FROM down JOIN tasks p ON p.id = down.root
    ORDER BY down.id, down.root
  )
  UPDATE tasks t SET
    status = 'cancelled',
    cancel_requested = true,
    error = 'dependency ' || n.root || ' did not succeed (' || n.root_status || ')',
    note = 'cancelled: dependency ' || n.root || ' did not succeed',
    finished_at = resolve_now,
    updated_at = resolve_now,
    expires_at = CASE WHEN t.result_ttl_ms IS NULL THEN NULL ELSE resolve_now + t.result_ttl_ms END
  FROM named n
  WHERE t.id = n.id AND t.status = 'blocked';
  GET DIAGNOSTICS cancelled = ROW_COUNT;

  UPDATE tasks t SET
    status = CASE WHEN t.run_at > resolve_now THEN 'scheduled' ELSE 'queued' END,
    run_at = greatest(t.run_at, resolve_now),
    note = 'dependencies succeeded',
    updated_at = resolve_now
  WHERE t.status = 'blocked'
    AND t.id IN (SELECT task_id FROM task_dependencies WHERE depends_on_id = ANY(roots))
    AND NOT EXISTS (
      SELECT 1 FROM task_dependencies d JOIN tasks p ON p.id = d.depends_on_id
      WHERE d.task_id = t.id AND p.status <> 'succeeded');
  GET DIAGNOSTICS released = ROW_COUNT;
  RETURN cancelled + released;
END
$$;
--> statement-breakpoint
DROP FUNCTION fila_turn(text[], text[], text[], text[], text[], text[], integer[], integer[],
  bigint[], bigint[], text[], text[], bigint[], bigint[], text[], text[], integer[], text[], text[],
  bigint[], bigint, text, integer, bigint);
--> statement-breakpoint
-- fila_turn as migration 0002 made it (read its notes there), plus:
-- * submissions may wait for other tasks (new_depends_on: a JSON array of ids, or null): they are
--   stored `blocked` with their task_dependencies rows, then resolved at once (released if every
--   dependency succeeded already, cancelled if one failed or was cancelled);
-- * an end of a task that others wait for releases or cancels them in the same transaction;
-- * the claim respects the types' cluster-wide limits (claim_limits: a JSON array of
--   {type, concurrency, rate_per_minute, paused} for the types that have any): the usual claim
--   over the other types first, then per limited type a claim capped by what its limits leave.
--   Each limited type's count and claim hold a transaction-level advisory lock of that type, so
--   instances claiming at once count each other's claims (the lock is taken only for types with
--   limits: the common case costs nothing more). Starts of rate-limited types go to type_starts.
CREATE FUNCTION fila_turn(
    -- submissions, one array per column
    new_id text[], new_type text[], new_title text[], new_description text[],
    new_payload text[], new_status text[], new_priority integer[], new_max_attempts integer[],
    new_timeout_ms bigint[], new_run_at bigint[], new_idempotency_key text[],
    new_request_id text[], new_result_ttl_ms bigint[], new_created_at bigint[],
    new_depends_on text[],
    -- ends of attempts: the outcome, and its text (the result's JSON, the error or the reason)
    end_id text[], end_worker text[], end_attempt integer[], end_outcome text[], end_text text[],
    end_retry_at bigint[], end_releases boolean[],
    turn_now bigint,
    -- the claim (none when claim_limit is 0)
    claim_worker text, claim_limit integer, claim_lease_until bigint, claim_limits json)
  RETURNS json
  LANGUAGE plpgsql
  SET enable_sort = off
  SET enable_bitmapscan = off
  SET jit = off
AS $$
DECLARE
  created text[];
  ended text[];
  settled text[];
  parents text[];
  claimed json;
  part json;
  held text[];
  lim record;
  remaining integer;
  cap integer;
  n integer;
BEGIN
  IF cardinality(new_id) > 0 THEN
    WITH stored AS (
      INSERT INTO tasks (id, type, title, description, payload, status, priority, max_attempts,
        timeout_ms, run_at, idempotency_key, request_id, result_ttl_ms, created_at, updated_at,
        note, dependency_count)
      SELECT n.id, n.type, n.title, n.description, n.payload::json,
        CASE WHEN n.depends_on IS NULL THEN n.status ELSE 'blocked' END, n.priority,
        n.max_attempts, n.timeout_ms, n.run_at, n.idempotency_key, n.request_id,
        n.result_ttl_ms, n.created_at, n.created_at, 'submitted',
        coalesce(json_array_length(n.depends_on::json), 0)
      FROM unnest(new_id, new_type, new_title, new_description, new_payload, new_status,
        new_priority, new_max_attempts, new_timeout_ms, new_run_at, new_idempotency_key,
        new_request_id, new_result_ttl_ms, new_created_at, new_depends_on)
        AS n(id, type, title, description, payload, status, priority, max_attempts, timeout_ms,
          run_at, idempotency_key, request_id, result_ttl_ms, created_at, depends_on)
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING tasks.id)
    SELECT array_agg(stored.id) INTO created FROM stored;

    -- dependencies of the submissions stored now (an idempotent replay adds none)
    IF created IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(new_depends_on) d WHERE d IS NOT NULL)
    THEN
      INSERT INTO task_dependencies (task_id, depends_on_id)
        SELECT n.id, p.value
        FROM unnest(new_id, new_depends_on) AS n(id, depends_on),
          json_array_elements_text(n.depends_on::json) AS p(value)
        WHERE n.depends_on IS NOT NULL AND n.id = ANY(created)
        ON CONFLICT DO NOTHING;
      parents := ARRAY(
        SELECT DISTINCT p.value
        FROM unnest(new_id, new_depends_on) AS n(id, depends_on),
          json_array_elements_text(n.depends_on::json) AS p(value)
        WHERE n.depends_on IS NOT NULL AND n.id = ANY(created));
      -- locked in id order before their status is read (see the notes above)
      UPDATE tasks SET has_dependents = true
        WHERE id IN (SELECT id FROM tasks WHERE id = ANY(parents) AND NOT has_dependents
          ORDER BY id FOR UPDATE);
      PERFORM 1 FROM tasks WHERE id = ANY(parents) ORDER BY id FOR SHARE;
      PERFORM fila_resolve_dependents(parents, turn_now);
    END IF;
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
      FROM unnest(end_id, end_worker, end_attempt, end_outcome, end_text, end_retry_at,
        end_releases)
        AS e(id, worker_id, attempt, outcome, text, retry_at, releases)
      WHERE t.id = e.id AND t.status = 'running' AND t.worker_id = e.worker_id
        AND t.attempts = e.attempt
      RETURNING t.id, t.status, t.has_dependents OR coalesce(e.releases, false) AS releases)
    SELECT array_agg(closed.id),
      array_agg(closed.id) FILTER (WHERE closed.releases AND closed.status <> 'retrying')
      INTO ended, settled FROM closed;
    -- the tasks that waited for those that ended for good: released or cancelled
    IF settled IS NOT NULL THEN
      PERFORM fila_resolve_dependents(settled, turn_now);
    END IF;
  END IF;

  IF claim_limit > 0 THEN
    held := ARRAY(SELECT l->>'type' FROM json_array_elements(claim_limits) l);
    WITH taken AS (
      UPDATE tasks SET status = 'running', attempts = attempts + 1,
        lease_until = claim_lease_until, worker_id = claim_worker, started_at = turn_now,
        updated_at = turn_now, progress = 0, progress_message = NULL,
        note = 'attempt ' || (attempts + 1) || ' of ' || max_attempts || ' on ' || claim_worker
      WHERE tasks.id IN (
        SELECT ready.id FROM tasks ready
        WHERE ready.status IN ('queued', 'scheduled', 'retrying') AND ready.run_at <= turn_now
          AND NOT ready.cancel_requested AND ready.type <> ALL(held)
        ORDER BY ready.priority, ready.run_at
        LIMIT claim_limit
        FOR UPDATE SKIP LOCKED)
      RETURNING tasks.*)
    SELECT json_agg(taken), count(*) INTO claimed, n FROM taken;
    remaining := claim_limit - n;

    FOR lim IN
      SELECT l->>'type' AS type, (l->>'concurrency')::integer AS concurrency,
        (l->>'rate_per_minute')::integer AS rate, coalesce((l->>'paused')::boolean, false) AS paused
      FROM json_array_elements(claim_limits) l
    LOOP
      EXIT WHEN remaining <= 0;
      CONTINUE WHEN lim.paused;
      -- "fila" in ASCII, and the type: held to the end of this transaction
      PERFORM pg_advisory_xact_lock(1718185057, hashtext(lim.type));
      cap := remaining;
      IF lim.concurrency IS NOT NULL THEN
        cap := least(cap, lim.concurrency -
          (SELECT count(*) FROM tasks WHERE status = 'running' AND type = lim.type)::integer);
      END IF;
      IF lim.rate IS NOT NULL THEN
        cap := least(cap, lim.rate - (SELECT count(*) FROM type_starts
          WHERE type = lim.type AND at > turn_now - 60000)::integer);
      END IF;
      CONTINUE WHEN cap <= 0;
      WITH taken AS (
        UPDATE tasks SET status = 'running', attempts = attempts + 1,
          lease_until = claim_lease_until, worker_id = claim_worker, started_at = turn_now,
          updated_at = turn_now, progress = 0, progress_message = NULL,
          note = 'attempt ' || (attempts + 1) || ' of ' || max_attempts || ' on ' || claim_worker
        WHERE tasks.id IN (
          SELECT ready.id FROM tasks ready
          WHERE ready.status IN ('queued', 'scheduled', 'retrying') AND ready.run_at <= turn_now
            AND NOT ready.cancel_requested AND ready.type = lim.type
          ORDER BY ready.priority, ready.run_at
          LIMIT cap
          FOR UPDATE SKIP LOCKED)
        RETURNING tasks.*)
      SELECT json_agg(taken), count(*) INTO part, n FROM taken;
      CONTINUE WHEN n = 0;
      IF lim.rate IS NOT NULL THEN
        INSERT INTO type_starts (type, at) SELECT lim.type, turn_now FROM generate_series(1, n);
      END IF;
      claimed := CASE WHEN claimed IS NULL THEN part ELSE (
        SELECT json_agg(r) FROM (
          SELECT json_array_elements(claimed) r UNION ALL SELECT json_array_elements(part)) x)
      END;
      remaining := remaining - n;
    END LOOP;
  END IF;

  RETURN json_build_object('created', created, 'ended', ended, 'claimed', claimed);
END
$$;
