-- Bounces land where they belong, version 11.
--
-- A delivery status notification about one of our messages (a failure
-- or a delay; RFC 3464 reports and the text notices older mailers
-- write) joins the conversation of the message it returned: its
-- Message-ID, read from the returned message or its quoted headers, is
-- threading evidence like a References entry (it is stored in
-- reference_ids). src/bounce.c reads the notice. The row keeps what
-- the notice says:
--
--   bounce_kind         'failed' or 'delayed'; NULL for other mail
--   bounce_recipients   the addresses that failed (or are delayed)
--   bounce_status       the RFC 3463 status code of the first, '5.1.1'
--   bounce_diagnostic   why, on one line: the Diagnostic-Code, or the
--                       reason the text gives
--   bounce_original_id  the Message-ID of the returned message
--                       (normalized as inboxd.msgid_norm() does)
--
-- A failure newer than every human message of its conversation makes
-- the conversation 'active' with status_reason "delivery to X failed:
-- ..." and writes a message.bounced event. conversations.last_bounce_at
-- is the date of its latest failure notice, so that the status comes
-- out the same whichever of the notice and the message it returned is
-- stored first. A delay notice is stored (automated) and changes no
-- status.

ALTER TABLE conversation_messages
    ADD COLUMN IF NOT EXISTS bounce_kind text,
    ADD COLUMN IF NOT EXISTS bounce_recipients text[],
    ADD COLUMN IF NOT EXISTS bounce_status text,
    ADD COLUMN IF NOT EXISTS bounce_diagnostic text,
    ADD COLUMN IF NOT EXISTS bounce_original_id text;

ALTER TABLE conversations
    ADD COLUMN IF NOT EXISTS last_bounce_at timestamptz;
