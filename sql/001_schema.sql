-- inboxd schema, version 1.
--
-- The conversations, conversation_messages, ai_suggestions, leads and
-- users tables, their enums and indexes follow the application's
-- conversation schema (seed 000): other applications query them, so
-- their names and columns are a contract. inboxd adds columns and
-- tables of its own but never renames or drops theirs.
--
-- Every statement tolerates a database where the application already
-- created its tables (IF NOT EXISTS, guarded DO blocks).

-- Enums -------------------------------------------------------------------

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'conversation_status') THEN
        CREATE TYPE conversation_status AS ENUM ('active', 'needs_reply', 'waiting', 'archived');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'message_direction') THEN
        CREATE TYPE message_direction AS ENUM ('inbound', 'outbound');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'suggestion_status') THEN
        CREATE TYPE suggestion_status AS ENUM ('pending', 'approved', 'rejected', 'edited');
    END IF;
END
$$;

-- Host tables that may already exist ---------------------------------------

CREATE TABLE IF NOT EXISTS users (
    id          serial PRIMARY KEY,
    email       text,
    name        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS leads (
    id          serial PRIMARY KEY,
    email       text NOT NULL,
    name        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS ux_leads_email_lower ON leads (lower(email));

-- Mail accounts, one row per [account NAME] ever configured. The name is
-- the key: a renamed account is a new account.
CREATE TABLE IF NOT EXISTS mail_accounts (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    type        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Conversations (seed 000) -------------------------------------------------

CREATE TABLE IF NOT EXISTS conversations (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    lead_id          integer REFERENCES leads(id) ON DELETE CASCADE,
    subject          text,
    status           conversation_status NOT NULL DEFAULT 'active',
    last_message_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE conversations
    ADD COLUMN IF NOT EXISTS account_id integer REFERENCES mail_accounts(id),
    ADD COLUMN IF NOT EXISTS status_reason text,
    ADD COLUMN IF NOT EXISTS gmail_thread_id text,
    ADD COLUMN IF NOT EXISTS counterparty_email text,
    ADD COLUMN IF NOT EXISTS subject_key text,
    ADD COLUMN IF NOT EXISTS last_human_at timestamptz,
    ADD COLUMN IF NOT EXISTS last_human_direction message_direction;

CREATE INDEX IF NOT EXISTS ix_conversations_lead_id ON conversations (lead_id);
CREATE INDEX IF NOT EXISTS ix_conversations_status ON conversations (status);
CREATE INDEX IF NOT EXISTS ix_conversations_last_message_at ON conversations (last_message_at);
CREATE INDEX IF NOT EXISTS ix_conversations_created_at ON conversations (created_at);
CREATE INDEX IF NOT EXISTS ix_conversations_lead_status_last_message
    ON conversations (lead_id, status, last_message_at);
CREATE INDEX IF NOT EXISTS ix_conversations_account_thread
    ON conversations (account_id, gmail_thread_id) WHERE gmail_thread_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS ix_conversations_account_subject
    ON conversations (account_id, subject_key, last_message_at) WHERE subject_key IS NOT NULL;

-- Messages (seed 000) -------------------------------------------------------

CREATE TABLE IF NOT EXISTS conversation_messages (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id      uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    direction            message_direction NOT NULL,
    content              text,
    html_content         text,
    sent_at              timestamptz,
    sender_email         text,
    recipient_email      text,
    gmail_message_id     text,
    postmark_message_id  text,
    gmail_thread_id      text,
    headers              jsonb,
    attachments          jsonb,
    created_at           timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE conversation_messages
    ADD COLUMN IF NOT EXISTS account_id integer REFERENCES mail_accounts(id),
    ADD COLUMN IF NOT EXISTS mailbox text,
    ADD COLUMN IF NOT EXISTS uidvalidity bigint,
    ADD COLUMN IF NOT EXISTS imap_uid bigint,
    ADD COLUMN IF NOT EXISTS rfc_message_id text,
    ADD COLUMN IF NOT EXISTS in_reply_to text,
    ADD COLUMN IF NOT EXISTS reference_ids text[],
    ADD COLUMN IF NOT EXISTS subject text,
    ADD COLUMN IF NOT EXISTS cc text,
    ADD COLUMN IF NOT EXISTS is_automated boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS automated_reason text,
    ADD COLUMN IF NOT EXISTS size_bytes bigint,
    ADD COLUMN IF NOT EXISTS truncated boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS gmail_labels text[];

-- The embedding column is vector(1536) where pgvector is installed and a
-- plain real[] elsewhere, so the schema works on stock Debian 12.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_name = 'conversation_messages' AND column_name = 'embedding') THEN
        RETURN;
    END IF;
    BEGIN
        CREATE EXTENSION IF NOT EXISTS vector;
        EXECUTE 'ALTER TABLE conversation_messages ADD COLUMN embedding vector(1536)';
        EXECUTE 'CREATE INDEX IF NOT EXISTS ix_messages_embedding_cosine ON conversation_messages
                 USING ivfflat (embedding vector_cosine_ops) WITH (lists = 100)';
    EXCEPTION WHEN undefined_file OR feature_not_supported OR insufficient_privilege
              OR undefined_object THEN
        RAISE NOTICE 'pgvector not available; embedding is real[]';
        EXECUTE 'ALTER TABLE conversation_messages ADD COLUMN embedding real[]';
    END;
END
$$;

-- Mail bodies dominate the storage cost; lz4 compresses them several
-- times faster than the default pglz.
DO $$
BEGIN
    ALTER TABLE conversation_messages
        ALTER COLUMN content SET COMPRESSION lz4,
        ALTER COLUMN html_content SET COMPRESSION lz4,
        ALTER COLUMN headers SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available; keeping the default compression';
END
$$;

CREATE INDEX IF NOT EXISTS ix_messages_conversation_id ON conversation_messages (conversation_id);
CREATE INDEX IF NOT EXISTS ix_messages_sent_at ON conversation_messages (sent_at);
CREATE INDEX IF NOT EXISTS ix_messages_direction ON conversation_messages (direction);
CREATE INDEX IF NOT EXISTS ix_messages_sender_email ON conversation_messages (sender_email);
CREATE INDEX IF NOT EXISTS ix_messages_recipient_email ON conversation_messages (recipient_email);
CREATE INDEX IF NOT EXISTS ix_messages_gmail_message_id ON conversation_messages (gmail_message_id);
CREATE INDEX IF NOT EXISTS ix_messages_postmark_message_id ON conversation_messages (postmark_message_id);
CREATE INDEX IF NOT EXISTS ix_messages_gmail_thread_id ON conversation_messages (gmail_thread_id);
CREATE INDEX IF NOT EXISTS ix_messages_conversation_sent ON conversation_messages (conversation_id, sent_at);
CREATE INDEX IF NOT EXISTS ix_messages_rfc_message_id ON conversation_messages (rfc_message_id);
-- A message is stored once per account, whatever folder or API it came from.
CREATE UNIQUE INDEX IF NOT EXISTS ux_messages_account_rfc_id
    ON conversation_messages (account_id, rfc_message_id)
    WHERE account_id IS NOT NULL AND rfc_message_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS ux_messages_account_gmail_id
    ON conversation_messages (account_id, gmail_message_id)
    WHERE account_id IS NOT NULL AND gmail_message_id IS NOT NULL;

-- AI suggestions (seed 000) -------------------------------------------------

CREATE TABLE IF NOT EXISTS ai_suggestions (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id         uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    in_reply_to_message_id  uuid REFERENCES conversation_messages(id) ON DELETE CASCADE,
    suggested_content       text,
    suggested_html_content  text,
    confidence_score        double precision,
    sentiment_analysis      jsonb,
    context_used            jsonb,
    model_used              varchar(100),
    tokens_used             integer,
    generation_cost         double precision,
    status                  suggestion_status NOT NULL DEFAULT 'pending',
    user_feedback           text,
    edited_content          text,
    approved_at             timestamptz,
    approved_by             integer REFERENCES users(id) ON DELETE SET NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ix_suggestions_conversation_id ON ai_suggestions (conversation_id);
CREATE INDEX IF NOT EXISTS ix_suggestions_in_reply_to ON ai_suggestions (in_reply_to_message_id);
CREATE INDEX IF NOT EXISTS ix_suggestions_status ON ai_suggestions (status);
CREATE INDEX IF NOT EXISTS ix_suggestions_confidence_score ON ai_suggestions (confidence_score);
CREATE INDEX IF NOT EXISTS ix_suggestions_created_at ON ai_suggestions (created_at);
CREATE INDEX IF NOT EXISTS ix_suggestions_approved_by ON ai_suggestions (approved_by);
CREATE INDEX IF NOT EXISTS ix_suggestions_conversation_status ON ai_suggestions (conversation_id, status);
CREATE UNIQUE INDEX IF NOT EXISTS ix_suggestions_unique_pending
    ON ai_suggestions (conversation_id, in_reply_to_message_id, status)
    WHERE status = 'pending';

-- Where each copy of a message lives ----------------------------------------

-- One row per (account, mailbox, uidvalidity, uid): a copy seen in INBOX
-- and in Sent, or under a new UIDVALIDITY, points at the one message row.
CREATE TABLE IF NOT EXISTS message_locations (
    account_id   integer NOT NULL REFERENCES mail_accounts(id) ON DELETE CASCADE,
    mailbox      text NOT NULL,
    uidvalidity  bigint NOT NULL,
    uid          bigint NOT NULL,
    message_id   uuid NOT NULL REFERENCES conversation_messages(id) ON DELETE CASCADE,
    PRIMARY KEY (account_id, mailbox, uidvalidity, uid)
);
CREATE INDEX IF NOT EXISTS ix_message_locations_message ON message_locations (message_id);

-- The Message-ID graph: every id a message carries or references, seen
-- or not ("ghost"), and the conversation it belongs to.
CREATE TABLE IF NOT EXISTS thread_ids (
    account_id       integer NOT NULL REFERENCES mail_accounts(id) ON DELETE CASCADE,
    message_id       text NOT NULL,
    conversation_id  uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    message_row_id   uuid REFERENCES conversation_messages(id) ON DELETE SET NULL,
    PRIMARY KEY (account_id, message_id)
);
CREATE INDEX IF NOT EXISTS ix_thread_ids_conversation ON thread_ids (conversation_id);

-- Sync cursors, committed with the rows they cover.
CREATE TABLE IF NOT EXISTS sync_state (
    account_id       integer NOT NULL REFERENCES mail_accounts(id) ON DELETE CASCADE,
    mailbox          text NOT NULL,
    uidvalidity      bigint,
    last_uid         bigint NOT NULL DEFAULT 0,
    highest_modseq   bigint,
    history_id       text,
    last_success_at  timestamptz,
    last_error       text,
    last_error_at    timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, mailbox)
);

-- Job queue ------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS jobs (
    id             bigserial PRIMARY KEY,
    kind           text NOT NULL,
    payload        jsonb NOT NULL DEFAULT '{}',
    message_id     uuid,
    dedup_key      text NOT NULL DEFAULT '',
    state          text NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'dead')),
    priority       integer NOT NULL DEFAULT 0,
    run_at         timestamptz NOT NULL DEFAULT now(),
    attempts       integer NOT NULL DEFAULT 0,
    max_attempts   integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    lease_seconds  integer NOT NULL DEFAULT 300 CHECK (lease_seconds > 0),
    locked_by      text,
    locked_at      timestamptz,
    heartbeat_at   timestamptz,
    last_error     text,
    errors         jsonb NOT NULL DEFAULT '[]',
    result         jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);
-- Claim path: the oldest due job of a kind, by priority.
CREATE INDEX IF NOT EXISTS ix_jobs_claim ON jobs (kind, priority DESC, run_at, id)
    WHERE state IN ('queued', 'failed');
CREATE INDEX IF NOT EXISTS ix_jobs_running ON jobs (locked_at) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS ix_jobs_finished ON jobs (finished_at) WHERE state = 'succeeded';
-- Enqueueing is idempotent while a job is alive.
CREATE UNIQUE INDEX IF NOT EXISTS ux_jobs_live
    ON jobs (kind, message_id, dedup_key)
    WHERE state IN ('queued', 'running', 'failed');

-- Event log --------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS events (
    id               bigserial PRIMARY KEY,
    type             text NOT NULL,
    conversation_id  uuid,
    message_id       uuid,
    account          text,
    payload          jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ix_events_type ON events (type);
CREATE INDEX IF NOT EXISTS ix_events_conversation ON events (conversation_id);
