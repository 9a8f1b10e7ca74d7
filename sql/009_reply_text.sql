-- What the person wrote, separately, version 9.
--
-- content holds the whole text of a message, quoted history and
-- signature included: a reply repeats the thread it answers. reply_text
-- holds only what the message adds: the text without the quoted
-- history ("On ... wrote:" and its translations with the ">" block
-- under it, Outlook's From:/Sent:/To:/Subject: blocks, "Original
-- Message" separators) and without the signature ("--", "Sent from my
-- ..."). A forward keeps the text written above the forwarded message;
-- a bare forward keeps the forwarded text. src/reply_text.c has the
-- rules. embed_message and suggest_reply workers want this column
-- rather than the thread again.
--
-- It is NULL for rows stored before this version, for rows other
-- applications insert, and for messages with no text left (a message
-- that is only a quote of an earlier one); fall back to content then:
--
--   SELECT coalesce(reply_text, content) FROM conversation_messages ...

ALTER TABLE conversation_messages
    ADD COLUMN IF NOT EXISTS reply_text text;

DO $$
BEGIN
    ALTER TABLE conversation_messages
        ALTER COLUMN reply_text SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available; keeping the default compression';
END
$$;
