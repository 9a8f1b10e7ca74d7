-- The mirror of each copy's state, version 5.
--
-- An IMAP copy of a message carries flags (\Seen, \Answered, \Flagged,
-- \Draft, keywords) that the user changes in a mail client, and a copy
-- disappears when the user deletes or moves it. The IMAP driver learns
-- both (CONDSTORE/QRESYNC, or a UID diff) and hands them to
--
--   inboxd.apply_location_changes(account, mailbox, uidvalidity,
--                                 changes, removed, mirror_archive)
--
-- which updates message_locations and writes the events that say so,
-- in the caller's transaction. The message row itself stays: other
-- copies may live in other folders, and applications hold its id.

ALTER TABLE message_locations
    ADD COLUMN IF NOT EXISTS flags text[] NOT NULL DEFAULT '{}';

-- A set of flags in one canonical form, so that sets compare as arrays:
-- each flag once, sorted, empty entries and \Recent (a session flag,
-- never the same twice) dropped, the system flags spelled as RFC 9051
-- does (flag names are case-insensitive; keywords are kept as sent).
CREATE OR REPLACE FUNCTION inboxd.normalize_flags(p_flags text[])
RETURNS text[]
LANGUAGE sql IMMUTABLE
AS $$
    SELECT coalesce(array_agg(DISTINCT f ORDER BY f), '{}'::text[])
    FROM (
        SELECT CASE lower(x)
                   WHEN '\seen' THEN '\Seen'
                   WHEN '\answered' THEN '\Answered'
                   WHEN '\flagged' THEN '\Flagged'
                   WHEN '\deleted' THEN '\Deleted'
                   WHEN '\draft' THEN '\Draft'
                   ELSE x
               END AS f
        FROM unnest(p_flags) AS u(x)
        WHERE x IS NOT NULL AND x <> '' AND lower(x) <> '\recent'
    ) n;
$$;

-- What the server says changed in one folder generation (account,
-- mailbox, uidvalidity), applied to the stored copies:
--
--   p_changes  NULL, or a JSON array of {"uid": n, "flags": ["\\Seen", ...]}:
--              the whole flag set of each copy now. A copy whose set
--              differs from the stored one (order does not matter) is
--              updated, with a message.flags_changed event. A uid
--              listed twice counts once, the last entry winning.
--   p_removed  uids the folder no longer holds (expunged or moved
--              away): each stored copy is deleted, with a
--              message.removed event. The message row stays.
--   p_mirror_archive
--              with p_mailbox 'INBOX': a conversation that lost a copy
--              here and has no message of the account left in INBOX
--              (locations of an older UIDVALIDITY are deleted when the
--              folder's cursor moves to a new one) becomes 'archived', with a
--              conversation.status_changed event, as the user archived
--              it in the mailbox. A human inbound message arriving
--              later reopens it (the daemon's status rules).
--
-- Unknown uids are ignored. Bad input (p_changes not an array, an
-- entry without a uid in 1..4294967295 or without an array of string
-- flags, a removed uid out of range) raises invalid_parameter_value
-- and changes nothing. Returns the number of events written; they are
-- announced with ONE notification on inboxd_events, "first-last" ids,
-- as the daemon's ingest transactions do.
CREATE OR REPLACE FUNCTION inboxd.apply_location_changes(p_account integer,
    p_mailbox text, p_uidvalidity bigint, p_changes jsonb,
    p_removed bigint[], p_mirror_archive boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_account text;
    v_bad text;
    v_first bigint;
    v_last bigint;
    v_min bigint;
    v_max bigint;
    v_n int;
    v_total int := 0;
    v_convs uuid[];
    v_changes jsonb;
BEGIN
    IF p_account IS NULL OR p_mailbox IS NULL OR p_mailbox = ''
       OR p_uidvalidity IS NULL OR p_uidvalidity NOT BETWEEN 1 AND 4294967295 THEN
        RAISE EXCEPTION 'inboxd.apply_location_changes: account, mailbox and uidvalidity (1..4294967295) are required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT name INTO v_account FROM mail_accounts WHERE id = p_account;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'inboxd.apply_location_changes: no account %', p_account
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(p_changes) NOT IN ('array', 'null') THEN
        RAISE EXCEPTION 'inboxd.apply_location_changes: changes must be a JSON array, not %',
            jsonb_typeof(p_changes)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_changes := CASE WHEN jsonb_typeof(p_changes) = 'array'
                      THEN p_changes ELSE '[]'::jsonb END;
    -- CASE, not OR: the casts must only see what the tests before
    -- them let through.
    SELECT e::text INTO v_bad
    FROM jsonb_array_elements(v_changes) e
    WHERE CASE
        WHEN jsonb_typeof(e) <> 'object' THEN true
        WHEN jsonb_typeof(e->'uid') IS DISTINCT FROM 'number' THEN true
        WHEN (e->>'uid')::numeric NOT BETWEEN 1 AND 4294967295 THEN true
        WHEN (e->>'uid')::numeric <> trunc((e->>'uid')::numeric) THEN true
        WHEN jsonb_typeof(e->'flags') IS DISTINCT FROM 'array' THEN true
        ELSE EXISTS (SELECT 1 FROM jsonb_array_elements(e->'flags') f
                     WHERE jsonb_typeof(f) <> 'string')
    END
    LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'inboxd.apply_location_changes: bad change %: want {"uid": 1..4294967295, "flags": [strings]}',
            left(v_bad, 200)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT r::text INTO v_bad
    FROM unnest(p_removed) r
    WHERE r IS NULL OR r NOT BETWEEN 1 AND 4294967295
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'inboxd.apply_location_changes: bad removed uid %: want 1..4294967295',
            coalesce(v_bad, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Flags. The old set is read under a row lock, so that it is the
    -- one the update replaces.
    WITH ch AS (
        SELECT DISTINCT ON (uid) uid, flags
        FROM (
            SELECT (e->>'uid')::bigint AS uid, n,
                   inboxd.normalize_flags(ARRAY(
                       SELECT jsonb_array_elements_text(e->'flags'))) AS flags
            FROM jsonb_array_elements(v_changes)
                 WITH ORDINALITY AS t(e, n)
        ) c
        ORDER BY uid, n DESC
    ), old AS (
        SELECT l.uid, l.flags AS previous, ch.flags
        FROM message_locations l JOIN ch ON ch.uid = l.uid
        WHERE l.account_id = p_account AND l.mailbox = p_mailbox
          AND l.uidvalidity = p_uidvalidity
          AND NOT (l.flags @> ch.flags AND ch.flags @> l.flags)
        FOR UPDATE OF l
    ), upd AS (
        UPDATE message_locations l SET flags = old.flags
        FROM old
        WHERE l.account_id = p_account AND l.mailbox = p_mailbox
          AND l.uidvalidity = p_uidvalidity AND l.uid = old.uid
        RETURNING l.uid, l.message_id, old.previous, l.flags
    ), ins AS (
        INSERT INTO events (type, conversation_id, message_id, account, payload)
        SELECT 'message.flags_changed', m.conversation_id, u.message_id,
               v_account,
               jsonb_build_object('mailbox', p_mailbox,
                   'uidvalidity', p_uidvalidity, 'uid', u.uid,
                   'flags', to_jsonb(u.flags),
                   'previous_flags', to_jsonb(u.previous))
        FROM upd u JOIN conversation_messages m ON m.id = u.message_id
        ORDER BY u.uid
        RETURNING id
    )
    SELECT min(id), max(id), count(*) INTO v_min, v_max, v_n FROM ins;
    v_first := least(v_first, v_min);
    v_last := greatest(v_last, v_max);
    v_total := v_total + v_n;

    -- Copies gone from the folder.
    WITH del AS (
        DELETE FROM message_locations l
        WHERE l.account_id = p_account AND l.mailbox = p_mailbox
          AND l.uidvalidity = p_uidvalidity
          AND l.uid = ANY (coalesce(p_removed, '{}'::bigint[]))
        RETURNING l.uid, l.message_id
    ), gone AS (
        SELECT d.uid, d.message_id, m.conversation_id
        FROM del d JOIN conversation_messages m ON m.id = d.message_id
    ), ins AS (
        INSERT INTO events (type, conversation_id, message_id, account, payload)
        SELECT 'message.removed', g.conversation_id, g.message_id, v_account,
               jsonb_build_object('mailbox', p_mailbox,
                   'uidvalidity', p_uidvalidity, 'uid', g.uid)
        FROM gone g
        ORDER BY g.uid
        RETURNING id, conversation_id
    )
    SELECT min(id), max(id), count(*), array_agg(DISTINCT conversation_id)
    INTO v_min, v_max, v_n, v_convs
    FROM ins;
    v_first := least(v_first, v_min);
    v_last := greatest(v_last, v_max);
    v_total := v_total + v_n;

    -- Conversations archived in the mailbox. Their rows are locked
    -- first, as the ingest transaction locks the ones it updates.
    IF p_mirror_archive AND p_mailbox = 'INBOX' AND v_convs IS NOT NULL THEN
        WITH gone AS (
            SELECT c.id, c.status AS old
            FROM conversations c
            WHERE c.id = ANY (v_convs)
              AND c.status <> 'archived'
              AND NOT EXISTS (
                  SELECT 1
                  FROM conversation_messages m
                  JOIN message_locations l ON l.message_id = m.id
                  WHERE m.conversation_id = c.id
                    AND m.account_id = p_account
                    AND l.account_id = p_account
                    AND l.mailbox = 'INBOX')
            FOR UPDATE OF c
        ), upd AS (
            UPDATE conversations c
            SET status = 'archived',
                status_reason = 'no message left in INBOX',
                updated_at = now()
            FROM gone
            WHERE c.id = gone.id
            RETURNING c.id, gone.old, c.status_reason
        ), ins AS (
            INSERT INTO events (type, conversation_id, message_id, account, payload)
            SELECT 'conversation.status_changed', u.id, NULL, v_account,
                   jsonb_build_object('old', u.old::text, 'new', 'archived',
                       'reason', u.status_reason)
            FROM upd u
            ORDER BY u.id
            RETURNING id
        )
        SELECT min(id), max(id), count(*) INTO v_min, v_max, v_n FROM ins;
        v_first := least(v_first, v_min);
        v_last := greatest(v_last, v_max);
        v_total := v_total + v_n;
    END IF;

    IF v_total > 0 THEN
        PERFORM pg_notify('inboxd_events', v_first || '-' || v_last);
    END IF;
    RETURN v_total;
END
$$;

-- Pinned to the schema that holds the tables, as 002 pins the jobs API.
DO $$
DECLARE
    v_schema text;
BEGIN
    SELECT n.nspname INTO v_schema
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = 'message_locations'::regclass;

    EXECUTE format('ALTER FUNCTION inboxd.normalize_flags(text[]) SET search_path = %I, pg_temp',
                   v_schema);
    EXECUTE format('ALTER FUNCTION inboxd.apply_location_changes(integer, text, bigint, jsonb, bigint[], boolean) SET search_path = %I, pg_temp',
                   v_schema);
END
$$;
