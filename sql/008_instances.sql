-- The daemons sharing this database, version 8 (doc/accounts.md,
-- "Several daemons").
--
-- Each running inboxd keeps one row here: it writes it when it starts,
-- writes heartbeat_at every 3 seconds, and deletes it when it stops
-- cleanly. The other instances read the table to share the accounts
-- fairly: an instance is live while its heartbeat is at most 12 seconds
-- old and the database session that holds its accounts (backend_pid,
-- started at backend_start) still exists. A dead instance's row is
-- deleted by the first live instance that sees it; when its session is
-- still there (a daemon paused with SIGSTOP, or hung), that instance
-- ends it with pg_terminate_backend(), which frees the advisory locks
-- by which the dead instance held its accounts.
--
-- accounts_held is what the instance held at its last heartbeat, for
-- people (inboxctl status); the advisory locks are the truth.
CREATE TABLE IF NOT EXISTS inboxd_instances (
    name text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    backend_pid integer,
    backend_start timestamptz,
    accounts_held integer NOT NULL DEFAULT 0
);
