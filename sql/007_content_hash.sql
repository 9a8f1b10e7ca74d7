-- A reused Message-ID no longer hides a message, version 7.
--
-- Until now a message was stored once per (account, Message-ID): the
-- first copy won, so a sender, a broken mailer or an attacker could
-- make a legitimate message vanish by sending another one under its
-- Message-ID first. A copy is now the same message only when its
-- content is the same too: content_hash is the SHA-256 (hex) of the
-- sender's address, the Date, the normalized subject, the body with
-- its white space removed and the attachments' types and sizes
-- (ingest_plan.c says exactly how). Copies from INBOX and Sent, a
-- re-sync under a new UIDVALIDITY or a second delivery with other
-- Received headers hash the same and stay one row; a different
-- message under a known Message-ID gets a row of its own, threaded
-- with the id's conversation. Such rows are found with
--
--   SELECT account_id, rfc_message_id, count(*)
--   FROM conversation_messages
--   GROUP BY account_id, rfc_message_id HAVING count(*) > 1;
--
-- Rows stored before this version, and rows other applications
-- insert, have no content_hash: the daemon takes any copy with their
-- Message-ID for them, as it always did.

ALTER TABLE conversation_messages
    ADD COLUMN IF NOT EXISTS content_hash text;

-- One row per (account, Message-ID, content) replaces one row per
-- (account, Message-ID). The new index exists before the old one goes,
-- so that the rule is never unguarded.
CREATE UNIQUE INDEX IF NOT EXISTS ux_messages_account_rfc_id_content
    ON conversation_messages (account_id, rfc_message_id, coalesce(content_hash, ''))
    WHERE account_id IS NOT NULL AND rfc_message_id IS NOT NULL;
DROP INDEX IF EXISTS ux_messages_account_rfc_id;
