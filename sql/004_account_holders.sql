-- Which daemon instance holds each account. The hold itself is a
-- session advisory lock (released the moment the holder's connection
-- dies); these columns only show it to people (inboxctl status).
ALTER TABLE mail_accounts
    ADD COLUMN IF NOT EXISTS held_by text,
    ADD COLUMN IF NOT EXISTS held_since timestamptz;
