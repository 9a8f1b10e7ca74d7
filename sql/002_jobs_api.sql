-- The job queue's consumer API, version 2.
--
-- Applications in any language work the queue through these functions
-- instead of writing to the jobs table themselves, so that every
-- consumer follows the same rules:
--
--   inboxd.claim(kind, worker, n)         take up to n due jobs
--   inboxd.heartbeat(id, attempt)         keep the lease of a long job
--   inboxd.complete(id, attempt, result)  done
--   inboxd.fail(id, attempt, error)       retry later with backoff, or dead
--   inboxd.enqueue(kind, payload, ...)    add a job (idempotent)
--   inboxd.retry(id), retry_dead(kind)    revive failed or dead jobs
--   inboxd.maintain(retention, since)     the daemon's periodic sweep
--
-- Fencing: claim() increments attempts, and the pair (id, attempts) it
-- returns is the worker's token. complete(), fail() and heartbeat() do
-- nothing for a stale token, so a worker whose lease expired and whose
-- job went to another worker cannot overwrite that worker's outcome.
-- attempts therefore never goes down, not even on retry().
--
-- NOTIFY on channel inboxd_jobs is a hint that jobs of the kinds named
-- in the payload (comma-separated, or "*" when too many to list) may be
-- due. The jobs table is the truth: consumers also poll on a timeout.
--
-- Each function pins its search_path to the schema that holds the jobs
-- table (see the end of this file), so a caller whose own search_path
-- has another "jobs" table still reaches this one.

CREATE SCHEMA IF NOT EXISTS inboxd;

-- A job without a message can still be deduplicated by its key: the
-- live-job index of 001 treats NULL message ids as all different.
CREATE UNIQUE INDEX IF NOT EXISTS ux_jobs_live_key
    ON jobs (kind, dedup_key)
    WHERE message_id IS NULL AND dedup_key <> ''
      AND state IN ('queued', 'running', 'failed');

-- maintain() looks for delayed jobs that came due without a kind.
CREATE INDEX IF NOT EXISTS ix_jobs_due ON jobs (run_at)
    WHERE state IN ('queued', 'failed');

-- Helpers -------------------------------------------------------------------

-- Delay before the next try after the given attempt failed: 2^attempt
-- seconds capped at one hour, times a random factor in [0.5, 1) so that
-- jobs that failed together do not all come back together.
CREATE OR REPLACE FUNCTION inboxd.backoff(p_attempt int)
RETURNS interval
LANGUAGE sql VOLATILE
AS $$
    SELECT make_interval(secs =>
        least(3600, power(2, least(greatest(p_attempt, 0), 12)))
        * (0.5 + random() / 2));
$$;

-- Appends {attempt, error, at} to a job's error history, keeping the
-- latest 20 entries so that a job retried for weeks stays small.
CREATE OR REPLACE FUNCTION inboxd.push_error(p_errors jsonb, p_attempt int,
    p_error text)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(jsonb_agg(e ORDER BY n), '[]'::jsonb)
    FROM jsonb_array_elements(coalesce(p_errors, '[]'::jsonb)
             || jsonb_build_array(jsonb_build_object(
                    'attempt', p_attempt,
                    'error', left(p_error, 4000),
                    'at', now())))
         WITH ORDINALITY AS t(e, n)
    WHERE n > jsonb_array_length(coalesce(p_errors, '[]'::jsonb)) + 1 - 20;
$$;

-- Consumers -----------------------------------------------------------------

-- Takes up to p_n due jobs of a kind, best priority first, then oldest.
-- Rows another worker is claiming right now are skipped, not waited for;
-- a worker may therefore get fewer than p_n while more are due.
CREATE OR REPLACE FUNCTION inboxd.claim(p_kind text, p_worker text,
    p_n int DEFAULT 1)
RETURNS SETOF jobs
LANGUAGE sql VOLATILE
AS $$
    UPDATE jobs
    SET state = 'running',
        attempts = attempts + 1,
        locked_by = p_worker,
        locked_at = now(),
        heartbeat_at = now(),
        updated_at = now()
    -- An array, not a join: the planner cannot know how many rows the
    -- LIMIT lets through and would otherwise hash-join the whole table.
    WHERE id = ANY (ARRAY(
        SELECT id
        FROM jobs
        WHERE kind = p_kind
          AND state IN ('queued', 'failed')
          AND run_at <= now()
        ORDER BY priority DESC, run_at, id
        LIMIT greatest(coalesce(p_n, 1), 0)
        FOR UPDATE SKIP LOCKED))
    RETURNING *;
$$;

-- Marks a claimed job done. False when the token is stale: the lease
-- expired and the job was requeued (or taken by another worker).
CREATE OR REPLACE FUNCTION inboxd.complete(p_id bigint, p_attempt int,
    p_result jsonb DEFAULT NULL)
RETURNS boolean
LANGUAGE sql VOLATILE
AS $$
    WITH done AS (
        UPDATE jobs
        SET state = 'succeeded',
            result = p_result,
            finished_at = now(),
            updated_at = now(),
            locked_by = NULL,
            locked_at = NULL,
            heartbeat_at = NULL
        WHERE id = p_id AND state = 'running' AND attempts = p_attempt
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM done);
$$;

-- Records a failed attempt. Returns the new state, 'failed' (to be
-- retried at run_at) or 'dead' (out of attempts), or NULL for a stale
-- token. p_retry_in overrides the exponential backoff.
CREATE OR REPLACE FUNCTION inboxd.fail(p_id bigint, p_attempt int,
    p_error text, p_retry_in interval DEFAULT NULL)
RETURNS text
LANGUAGE sql VOLATILE
AS $$
    UPDATE jobs
    SET state = CASE WHEN attempts >= max_attempts
                     THEN 'dead' ELSE 'failed' END,
        run_at = CASE WHEN attempts >= max_attempts THEN run_at
                      ELSE now() + coalesce(p_retry_in,
                                            inboxd.backoff(attempts)) END,
        finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
        errors = inboxd.push_error(errors, attempts, p_error),
        last_error = left(p_error, 4000),
        locked_by = NULL,
        locked_at = NULL,
        heartbeat_at = NULL,
        updated_at = now()
    WHERE id = p_id AND state = 'running' AND attempts = p_attempt
    RETURNING state;
$$;

-- Extends the lease of a running job by lease_seconds from now.
CREATE OR REPLACE FUNCTION inboxd.heartbeat(p_id bigint, p_attempt int)
RETURNS boolean
LANGUAGE sql VOLATILE
AS $$
    WITH beat AS (
        UPDATE jobs
        SET heartbeat_at = now(), updated_at = now()
        WHERE id = p_id AND state = 'running' AND attempts = p_attempt
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM beat);
$$;

-- Producers -----------------------------------------------------------------

-- Adds a job, or nothing when a live job (queued, running or failed)
-- with the same kind and message id, or the same kind and non-empty
-- dedup key when there is no message, exists already: then the result
-- is NULL. A job due now is announced on inboxd_jobs; PostgreSQL sends
-- identical notifications of one transaction once, so a transaction
-- that enqueues many jobs of one kind wakes consumers once.
CREATE OR REPLACE FUNCTION inboxd.enqueue(p_kind text, p_payload jsonb,
    p_message_id uuid DEFAULT NULL, p_dedup_key text DEFAULT '',
    p_priority int DEFAULT 0, p_run_at timestamptz DEFAULT now(),
    p_max_attempts int DEFAULT 5)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_id bigint;
BEGIN
    -- Kinds travel comma-separated in NOTIFY payloads of at most 8000
    -- bytes: keep them short and comma-free.
    IF p_kind IS NULL OR p_kind = '' OR octet_length(p_kind) > 200
       OR strpos(p_kind, ',') > 0 THEN
        RAISE EXCEPTION 'inboxd.enqueue: invalid job kind %', quote_nullable(p_kind)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- No conflict target: either live-job index may match, and both
    -- mean "already queued".
    INSERT INTO jobs (kind, payload, message_id, dedup_key, priority,
                      run_at, max_attempts)
    VALUES (p_kind, coalesce(p_payload, '{}'::jsonb), p_message_id,
            coalesce(p_dedup_key, ''), coalesce(p_priority, 0),
            coalesce(p_run_at, now()), coalesce(p_max_attempts, 5))
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_id;

    -- A delayed job is announced by maintain() when it comes due.
    IF v_id IS NOT NULL AND coalesce(p_run_at, now()) <= now() THEN
        PERFORM pg_notify('inboxd_jobs', p_kind);
    END IF;
    RETURN v_id;
END
$$;

-- Operators -----------------------------------------------------------------

-- Makes a failed or dead job due now. attempts is kept (it is the
-- fencing token); a dead job gets p_attempts more tries, by default as
-- many as max_attempts allowed before. False when the job is not failed
-- or dead, or when a live copy of it was enqueued since it died.
CREATE OR REPLACE FUNCTION inboxd.retry(p_id bigint, p_attempts int DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_kind text;
BEGIN
    UPDATE jobs
    SET state = 'queued',
        run_at = now(),
        max_attempts = CASE WHEN state = 'dead'
                            THEN attempts + greatest(coalesce(p_attempts, max_attempts), 1)
                            ELSE max_attempts END,
        finished_at = NULL,
        locked_by = NULL,
        locked_at = NULL,
        heartbeat_at = NULL,
        updated_at = now()
    WHERE id = p_id AND state IN ('failed', 'dead')
    RETURNING kind INTO v_kind;

    IF v_kind IS NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_notify('inboxd_jobs', v_kind);
    RETURN true;
EXCEPTION WHEN unique_violation THEN
    RETURN false;
END
$$;

-- Revives every dead job, or those of one kind; returns how many. Where
-- a live copy exists, or several dead copies share a key, only what the
-- live-job indexes allow comes back: the newest dead copy of each key.
CREATE OR REPLACE FUNCTION inboxd.retry_dead(p_kind text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_count int;
    v_kinds text;
BEGIN
    WITH candidates AS (
        SELECT d.id,
               -- Keyless jobs without a message never collide.
               (d.message_id IS NULL AND d.dedup_key = '') AS keyless,
               row_number() OVER (PARTITION BY d.kind, d.message_id, d.dedup_key
                                  ORDER BY d.id DESC) AS rn
        FROM jobs d
        WHERE d.state = 'dead'
          AND (p_kind IS NULL OR d.kind = p_kind)
          AND NOT EXISTS (
              SELECT 1 FROM jobs l
              WHERE l.state IN ('queued', 'running', 'failed')
                AND l.kind = d.kind
                AND l.dedup_key = d.dedup_key
                AND (l.message_id = d.message_id
                     OR (l.message_id IS NULL AND d.message_id IS NULL
                         AND d.dedup_key <> '')))
    ), revived AS (
        UPDATE jobs j
        SET state = 'queued',
            run_at = now(),
            max_attempts = j.attempts + j.max_attempts,
            finished_at = NULL,
            updated_at = now()
        FROM candidates c
        WHERE j.id = c.id AND (c.keyless OR c.rn = 1)
        RETURNING j.kind
    )
    SELECT count(*), string_agg(DISTINCT kind, ',')
    INTO v_count, v_kinds
    FROM revived;

    IF v_count > 0 THEN
        PERFORM pg_notify('inboxd_jobs', inboxd.kinds_payload(v_kinds));
    END IF;
    RETURN v_count;
END
$$;

-- A NOTIFY payload must stay under 8000 bytes; past that, "*" asks every
-- consumer to look.
CREATE OR REPLACE FUNCTION inboxd.kinds_payload(p_kinds text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE WHEN octet_length(p_kinds) < 7900 THEN p_kinds ELSE '*' END;
$$;

-- The daemon ----------------------------------------------------------------

-- One sweep, run by the daemon on a timer:
--
--  1. Running jobs whose lease expired (no heartbeat for lease_seconds)
--     go back to 'failed', due at once, with a "lease expired" error;
--     out of attempts, they are dead. Their worker's token is stale.
--  2. Succeeded jobs finished more than p_retention ago are deleted,
--     at most 10,000 per call so one sweep never holds locks for long.
--     Dead jobs stay until retried or removed by hand.
--  3. Jobs whose run_at fell in (p_due_since, now()] after a delay (a
--     retry's backoff, a scheduled run_at) and the jobs requeued in 1
--     are announced with ONE notification listing their kinds. NULL
--     p_due_since means "since ever", for the daemon's first sweep.
--
-- due_until is the now() of this sweep: pass it as p_due_since next
-- time, so that no instant is skipped or counted twice.
CREATE OR REPLACE FUNCTION inboxd.maintain(p_retention interval,
    p_due_since timestamptz)
RETURNS TABLE(requeued int, dead int, deleted int, due_kinds text[],
    due_until timestamptz)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
    v_requeued int;
    v_dead int;
    v_deleted int;
    v_requeued_kinds text[];
    v_due_kinds text[];
BEGIN
    WITH expired AS (
        SELECT id
        FROM jobs
        WHERE state = 'running'
          AND coalesce(heartbeat_at, locked_at, updated_at)
              + make_interval(secs => lease_seconds) < now()
        FOR UPDATE SKIP LOCKED
    ), moved AS (
        UPDATE jobs j
        SET state = CASE WHEN j.attempts >= j.max_attempts
                         THEN 'dead' ELSE 'failed' END,
            run_at = now(),
            finished_at = CASE WHEN j.attempts >= j.max_attempts
                               THEN now() END,
            errors = inboxd.push_error(j.errors, j.attempts, 'lease expired'),
            last_error = 'lease expired',
            locked_by = NULL,
            locked_at = NULL,
            heartbeat_at = NULL,
            updated_at = now()
        FROM expired
        WHERE j.id = expired.id
        RETURNING j.state, j.kind
    )
    SELECT count(*) FILTER (WHERE state = 'failed'),
           count(*) FILTER (WHERE state = 'dead'),
           array_agg(DISTINCT kind) FILTER (WHERE state = 'failed')
    INTO v_requeued, v_dead, v_requeued_kinds
    FROM moved;

    WITH gone AS (
        DELETE FROM jobs
        WHERE id = ANY (ARRAY(
            SELECT id
            FROM jobs
            WHERE state = 'succeeded'
              AND finished_at < now() - p_retention
            ORDER BY finished_at
            LIMIT 10000
            FOR UPDATE SKIP LOCKED))
        RETURNING 1
    )
    SELECT count(*) INTO v_deleted FROM gone;

    -- run_at > created_at leaves out jobs due from the start: their
    -- enqueue has announced them already.
    SELECT array_agg(DISTINCT kind ORDER BY kind)
    INTO v_due_kinds
    FROM (
        SELECT kind
        FROM jobs
        WHERE state IN ('queued', 'failed')
          AND run_at <= now()
          AND run_at > coalesce(p_due_since, '-infinity')
          AND run_at > created_at
        UNION
        SELECT unnest(v_requeued_kinds)
    ) k;

    IF v_due_kinds IS NOT NULL THEN
        PERFORM pg_notify('inboxd_jobs',
            inboxd.kinds_payload(array_to_string(v_due_kinds, ',')));
    END IF;

    RETURN QUERY SELECT v_requeued, v_dead, v_deleted,
        coalesce(v_due_kinds, '{}'::text[]), now();
END
$$;

-- Pin every function of the schema to the schema that holds jobs. The
-- name comes from the catalog, not from any input, and is quoted.
DO $$
DECLARE
    v_schema text;
    v_fn regprocedure;
BEGIN
    SELECT n.nspname INTO v_schema
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = 'jobs'::regclass;

    FOR v_fn IN
        SELECT p.oid::regprocedure
        FROM pg_proc p
        WHERE p.pronamespace = 'inboxd'::regnamespace
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp',
                       v_fn, v_schema);
    END LOOP;
END
$$;
