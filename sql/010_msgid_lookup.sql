-- Replies find the messages other applications recorded, version 10.
--
-- An application that sends through an ESP records the outbound message
-- itself, in conversation_messages (seed 000), under the Message-ID it
-- gave or under the ESP's id. It writes the id as it pleases:
-- "<app-1@crm.example>" as the header has it, "app-1@crm.example",
-- " <app-1@CRM.example> ". The daemon parses ids from headers into one
-- form (src/msgid.c): no angle brackets, no white space, the domain part
-- (after the last '@') in lower case, the local part as written, since
-- a domain is case-insensitive and a local part need not be.
-- inboxd.msgid_norm() is that rule in SQL, and the lookup of known ids
-- compares inboxd.msgid_norm(rfc_message_id) with the parsed ids.
--
-- Why an expression index rather than a trigger that rewrites the
-- column on INSERT and UPDATE: the column belongs to the applications as
-- much as to the daemon. An application that wrote "<app-1@crm.example>"
-- looks its row up again by what it wrote; a trigger would change the
-- value under it and break that query. The index leaves every value as
-- written and still makes the normalized lookup an index scan, for rows
-- written before this version, by the daemon or by anyone else.
--
-- Postmark: an application that sends through Postmark's API gets back
-- a "MessageID", a UUID, and records it in postmark_message_id. Postmark
-- writes the Message-ID header of that message as "<UUID@mtasv.net>"
-- (mail sent through Postmark, for example to public mailing lists,
-- carries "Message-Id: <f7ead9bc-fe6e-49c1-bb7d-6efd14eb6766@mtasv.net>"
-- for API MessageID f7ead9bc-fe6e-49c1-bb7d-6efd14eb6766), and that is
-- the id a reply names in In-Reply-To. inboxd.postmark_msgid() forms it
-- from the column; a value that holds an '@' already is taken as a whole
-- Message-ID. The UUID is lower-cased: its hex digits are the same in
-- either case (RFC 4122 3) and Postmark writes them in lower case.
--
-- thread_ids holds ids the daemon parsed before this version, whose
-- domains may be in upper case; they are normalized here, keeping one
-- row where two spellings of one id meet.

CREATE OR REPLACE FUNCTION inboxd.msgid_norm(id text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT nullif(CASE WHEN s LIKE '%@%'
        THEN substring(s FROM '^(.*)@') || '@' ||
            translate(substring(s FROM '@([^@]*)$'),
                'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
        ELSE s END, '')
    FROM (SELECT left(rtrim(ltrim(regexp_replace(id, '\s+', '', 'g'), '<'),
        '>'), 512) AS s) x
$$;

-- The bodies name nothing outside pg_catalog: the planner reads them
-- for the expression indexes below whenever anyone queries
-- conversation_messages, and a role without USAGE on the schema inboxd
-- (a web app reading its rows) must not fail on that.
CREATE OR REPLACE FUNCTION inboxd.postmark_msgid(postmark_id text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN s LIKE '%@%'
        THEN substring(s FROM '^(.*)@') || '@' ||
            translate(substring(s FROM '@([^@]*)$'),
                'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
        ELSE nullif(lower(s) || '@mtasv.net', '@mtasv.net') END
    FROM (SELECT left(rtrim(ltrim(regexp_replace(postmark_id, '\s+', '', 'g'),
        '<'), '>'), 512) AS s) x
$$;

CREATE INDEX IF NOT EXISTS ix_messages_rfc_message_id_norm
    ON conversation_messages (inboxd.msgid_norm(rfc_message_id));
CREATE INDEX IF NOT EXISTS ix_messages_postmark_msgid
    ON conversation_messages (inboxd.postmark_msgid(postmark_message_id));

DELETE FROM thread_ids t
 USING thread_ids u
 WHERE u.account_id = t.account_id
   AND t.message_id <> inboxd.msgid_norm(t.message_id)
   AND inboxd.msgid_norm(u.message_id) = inboxd.msgid_norm(t.message_id)
   AND (u.message_id = inboxd.msgid_norm(u.message_id)
        OR u.message_id < t.message_id);

UPDATE thread_ids SET message_id = inboxd.msgid_norm(message_id)
 WHERE message_id <> inboxd.msgid_norm(message_id);
