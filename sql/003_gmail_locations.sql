-- Where each Gmail copy of a message lives: one row per Gmail message
-- id, pointing at the one stored row (a message with the same
-- Message-ID fetched twice is stored once).
CREATE TABLE IF NOT EXISTS gmail_locations (
    account_id        integer NOT NULL REFERENCES mail_accounts(id) ON DELETE CASCADE,
    gmail_message_id  text NOT NULL,
    message_id        uuid NOT NULL REFERENCES conversation_messages(id) ON DELETE CASCADE,
    PRIMARY KEY (account_id, gmail_message_id)
);
CREATE INDEX IF NOT EXISTS ix_gmail_locations_message ON gmail_locations (message_id);
