-- Progress of a long run, version 13.
--
-- A backfill (inboxctl import) or a daemon's first sync of a big folder
-- can take hours; how far it has got is written with the cursor, in the
-- transaction of each batch, so that inboxctl status can tell it:
--
--   backlog_started_at   when this run listed what it has to do
--   backlog_total        messages listed in this run; NULL when unknown
--   backlog_done         messages of this run done so far
--   backlog_bytes        bytes of this run done so far: what the source
--                        read of backlog_bytes_total when it knows it,
--                        else the sizes of the messages stored
--   backlog_bytes_total  bytes of the run (an mbox file's size); NULL
--                        when unknown (IMAP)
--
-- A run that ended keeps its figures until the next one starts. A
-- source that tells nothing (a Gmail sync) leaves them as they are.

ALTER TABLE sync_state
    ADD COLUMN IF NOT EXISTS backlog_total integer,
    ADD COLUMN IF NOT EXISTS backlog_done integer,
    ADD COLUMN IF NOT EXISTS backlog_bytes bigint,
    ADD COLUMN IF NOT EXISTS backlog_bytes_total bigint,
    ADD COLUMN IF NOT EXISTS backlog_started_at timestamptz;
