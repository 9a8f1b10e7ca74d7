-- Gmail labels mirrored, version 12.
--
-- A Gmail message has labels where an IMAP copy has flags and a
-- folder: INBOX and SENT say where it is, UNREAD, STARRED, IMPORTANT,
-- CATEGORY_* and the user's own labels (Label_12) what the user made
-- of it. The Gmail copy of a message (gmail_locations) now keeps its
-- labels in flags, as an IMAP copy keeps its flags: sorted, each once,
-- as Gmail names them (UNREAD is Gmail's way of saying "no \Seen").
-- The driver reads what changed from history.list (labels added,
-- labels removed, messages deleted) and hands it, in the order Gmail
-- told it, to
--
--   inboxd.apply_gmail_changes(account, changes, mirror_archive)
--
-- which writes the same events as inboxd.apply_location_changes() does
-- for IMAP (sql/005_location_flags.sql), in the caller's transaction.

ALTER TABLE gmail_locations
    ADD COLUMN IF NOT EXISTS flags text[] NOT NULL DEFAULT '{}';

-- Copies stored before: the labels their message was fetched with,
-- the best knowledge there is until Gmail tells of a change.
UPDATE gmail_locations g
SET flags = inboxd.normalize_flags(m.gmail_labels)
FROM conversation_messages m
WHERE m.id = g.message_id AND m.gmail_labels IS NOT NULL
  AND g.flags = '{}';

-- What Gmail's history says changed, applied to the account's stored
-- Gmail copies:
--
--   p_changes  a JSON array, in history order, of
--                {"id": ID, "add": [labels]}     labels added
--                {"id": ID, "remove": [labels]}  labels removed
--                {"id": ID, "deleted": true}     the message deleted
--              ID is the Gmail message id. A label's last entry wins
--              (added then removed: removed), so the same changes
--              applied twice leave what applying them once left.
--
-- For each stored copy the changes name:
--   - deleted, left with neither INBOX nor SENT (the labels that make
--     a message synced), or labelled TRASH or SPAM (which a listing
--     passes over): the copy (gmail_locations row) is deleted, with a
--     message.removed event. The message row stays.
--   - otherwise, when its labels differ from the stored ones: flags
--     (and the message row's gmail_labels, when the row was fetched as
--     this copy) take the new set, with a message.flags_changed event.
-- Ids of copies not stored are ignored.
--
-- p_mirror_archive: a conversation that had a message in INBOX among
-- those changed or removed, and has no message of the account left in
-- INBOX (a Gmail copy labelled INBOX, or an IMAP copy there), becomes
-- 'archived', with a conversation.status_changed event, as for IMAP.
--
-- Bad input (p_changes not an array, an entry without a non-empty
-- string id, or not exactly one of add / remove (arrays of non-empty
-- strings) / deleted (true)) raises invalid_parameter_value and changes
-- nothing. Returns the number of events written; they are announced
-- with ONE notification on inboxd_events, "first-last" ids.
CREATE OR REPLACE FUNCTION inboxd.apply_gmail_changes(p_account integer,
    p_changes jsonb, p_mirror_archive boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_account text;
    v_bad text;
    v_first bigint;
    v_last bigint;
    v_total int := 0;
    v_convs uuid[] := '{}';
    v_min bigint;
    v_max bigint;
    v_n int;
BEGIN
    IF p_account IS NULL THEN
        RAISE EXCEPTION 'inboxd.apply_gmail_changes: the account is required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT name INTO v_account FROM mail_accounts WHERE id = p_account;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'inboxd.apply_gmail_changes: no account %', p_account
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(p_changes) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'inboxd.apply_gmail_changes: changes must be a JSON array, not %',
            coalesce(jsonb_typeof(p_changes), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- CASE, not OR: each test only sees what the ones before it let
    -- through.
    SELECT e::text INTO v_bad
    FROM jsonb_array_elements(p_changes) e
    WHERE CASE
        WHEN jsonb_typeof(e) <> 'object' THEN true
        WHEN jsonb_typeof(e->'id') IS DISTINCT FROM 'string' THEN true
        WHEN e->>'id' = '' THEN true
        WHEN (e ? 'add')::int + (e ? 'remove')::int + (e ? 'deleted')::int <> 1
            THEN true
        WHEN e ? 'deleted' THEN e->'deleted' IS DISTINCT FROM 'true'::jsonb
        WHEN jsonb_typeof(coalesce(e->'add', e->'remove')) <> 'array' THEN true
        ELSE EXISTS (SELECT 1
                     FROM jsonb_array_elements(coalesce(e->'add', e->'remove')) l
                     WHERE jsonb_typeof(l) <> 'string' OR l #>> '{}' = '')
    END
    LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'inboxd.apply_gmail_changes: bad change %: want {"id": ID} with "add" or "remove": [labels], or "deleted": true',
            left(v_bad, 200)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Each copy named, locked, with the labels it is left with: those
    -- it had less the ones last removed, and the ones last added; then
    -- the copies gone and the ones changed, with their events. The
    -- copies are locked in id order, as every writer takes them. One
    -- statement, every step a join on the id: the cost grows with the
    -- number of changes, not with its square.
    WITH ops AS (
        SELECT e->>'id' AS id, n, e
        FROM jsonb_array_elements(p_changes) WITH ORDINALITY AS t(e, n)
    ), last_op AS (
        SELECT DISTINCT ON (o.id, l.label) o.id, l.label, o.e ? 'add' AS present
        FROM ops o,
             jsonb_array_elements_text(coalesce(o.e->'add', o.e->'remove')) AS l(label)
        WHERE NOT o.e ? 'deleted'
        ORDER BY o.id, l.label, o.n DESC
    ), added AS (
        SELECT id, array_agg(label) AS labels
        FROM last_op WHERE present GROUP BY id
    ), removed AS (
        SELECT id, array_agg(label) AS labels
        FROM last_op WHERE NOT present GROUP BY id
    ), deleted AS (
        SELECT DISTINCT id FROM ops WHERE e ? 'deleted'
    ), cur AS (
        SELECT g.gmail_message_id AS id, g.message_id, g.flags AS previous
        FROM gmail_locations g
        WHERE g.account_id = p_account
          AND g.gmail_message_id IN (SELECT id FROM ops)
        ORDER BY g.gmail_message_id
        FOR UPDATE OF g
    ), fin AS (
        SELECT c.id, c.message_id, c.previous, m.conversation_id,
               m.gmail_message_id = c.id AS fetched_as,
               d.id IS NOT NULL AS deleted,
               inboxd.normalize_flags(ARRAY(
                   SELECT unnest(c.previous)
                   EXCEPT
                   SELECT unnest(rm.labels)) || ad.labels) AS flags
        FROM cur c
        JOIN conversation_messages m ON m.id = c.message_id
        LEFT JOIN added ad ON ad.id = c.id
        LEFT JOIN removed rm ON rm.id = c.id
        LEFT JOIN deleted d ON d.id = c.id
    ), verdict AS (
        SELECT f.*,
               f.deleted OR NOT f.flags && ARRAY['INBOX', 'SENT']
                   OR f.flags && ARRAY['TRASH', 'SPAM'] AS gone,
               f.flags @> f.previous AND f.previous @> f.flags AS same
        FROM fin f
    ), del AS (
        DELETE FROM gmail_locations g
        USING verdict v
        WHERE v.gone AND g.account_id = p_account AND g.gmail_message_id = v.id
    ), upd AS (
        UPDATE gmail_locations g SET flags = v.flags
        FROM verdict v
        WHERE NOT v.gone AND NOT v.same
          AND g.account_id = p_account AND g.gmail_message_id = v.id
    ), row_labels AS (
        UPDATE conversation_messages m SET gmail_labels = v.flags
        FROM verdict v
        WHERE NOT v.gone AND NOT v.same AND v.fetched_as
          AND m.id = v.message_id
    ), ins AS (
        INSERT INTO events (type, conversation_id, message_id, account, payload)
        SELECT CASE WHEN v.gone THEN 'message.removed'
                    ELSE 'message.flags_changed' END,
               v.conversation_id, v.message_id, v_account,
               CASE WHEN v.gone
                    THEN jsonb_build_object('mailbox', 'gmail',
                        'gmail_message_id', v.id, 'deleted', v.deleted,
                        'previous_flags', to_jsonb(v.previous))
                    ELSE jsonb_build_object('mailbox', 'gmail',
                        'gmail_message_id', v.id, 'flags', to_jsonb(v.flags),
                        'previous_flags', to_jsonb(v.previous))
               END
        FROM verdict v
        WHERE v.gone OR NOT v.same
        ORDER BY v.id
        RETURNING id, conversation_id,
                  (payload->'previous_flags') ? 'INBOX' AS had_inbox
    )
    SELECT min(id), max(id), count(*),
           coalesce(array_agg(DISTINCT conversation_id)
                    FILTER (WHERE had_inbox), '{}')
    INTO v_first, v_last, v_total, v_convs
    FROM ins;

    -- Conversations archived in the mailbox, their rows locked first
    -- as the ingest transaction locks the ones it updates.
    IF p_mirror_archive AND cardinality(v_convs) > 0 THEN
        WITH gone AS (
            SELECT c.id, c.status AS old
            FROM conversations c
            WHERE c.id = ANY (v_convs)
              AND c.status <> 'archived'
              AND NOT EXISTS (
                  SELECT 1
                  FROM conversation_messages m
                  JOIN gmail_locations g ON g.message_id = m.id
                  WHERE m.conversation_id = c.id
                    AND m.account_id = p_account
                    AND g.account_id = p_account
                    AND 'INBOX' = ANY (g.flags))
              AND NOT EXISTS (
                  SELECT 1
                  FROM conversation_messages m
                  JOIN message_locations l ON l.message_id = m.id
                  WHERE m.conversation_id = c.id
                    AND m.account_id = p_account
                    AND l.account_id = p_account
                    AND l.mailbox = 'INBOX')
            ORDER BY c.id
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

-- Pinned to the schemas that hold the tables, as 005 pins its own:
-- gmail_locations (version 3) may have been made in another schema than
-- the tables of version 1, when the role's own schema came first.
DO $$
DECLARE
    v_tables text;
    v_gmail text;
BEGIN
    SELECT n.nspname INTO v_tables
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = 'mail_accounts'::regclass;
    SELECT n.nspname INTO v_gmail
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = 'gmail_locations'::regclass;

    EXECUTE format('ALTER FUNCTION inboxd.apply_gmail_changes(integer, jsonb, boolean) SET search_path = %I, %I, pg_temp',
                   v_tables, v_gmail);
END
$$;
