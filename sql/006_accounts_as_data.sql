-- Mailboxes as data: the apps inboxd feeds add, change and remove
-- accounts with SQL; the daemon hears of it through NOTIFY
-- inboxd_accounts and writes back each account's live state.
-- doc/accounts.md describes the contract. mail_accounts now has
-- last_error and last_success_at as sync_state does: a query joining
-- the two names the table of each.

CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA public;
CREATE SCHEMA IF NOT EXISTS inboxd;

-- Existing rows came from the configuration file; a row an app inserts
-- is a database account unless it says otherwise.
ALTER TABLE mail_accounts
    ADD COLUMN IF NOT EXISTS source text NOT NULL DEFAULT 'config';
ALTER TABLE mail_accounts ALTER COLUMN source SET DEFAULT 'database';

ALTER TABLE mail_accounts
    ADD COLUMN IF NOT EXISTS enabled boolean NOT NULL DEFAULT true,
    ADD COLUMN IF NOT EXISTS host text,
    ADD COLUMN IF NOT EXISTS port integer,
    ADD COLUMN IF NOT EXISTS tls text,
    ADD COLUMN IF NOT EXISTS tls_verify boolean,
    ADD COLUMN IF NOT EXISTS username text,
    ADD COLUMN IF NOT EXISTS auth text,
    ADD COLUMN IF NOT EXISTS addresses text[],
    ADD COLUMN IF NOT EXISTS folders text[],
    ADD COLUMN IF NOT EXISTS sent_folder text,
    ADD COLUMN IF NOT EXISTS poll_interval interval,
    ADD COLUMN IF NOT EXISTS settings jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS state text,
    ADD COLUMN IF NOT EXISTS last_error text,
    ADD COLUMN IF NOT EXISTS last_success_at timestamptz;

ALTER TABLE mail_accounts
    ADD CONSTRAINT mail_accounts_type_check
        CHECK (type IN ('imap', 'gmail')),
    ADD CONSTRAINT mail_accounts_source_check
        CHECK (source IN ('config', 'database')),
    ADD CONSTRAINT mail_accounts_name_check
        CHECK (name ~ '^[A-Za-z0-9._@-]+$'),
    ADD CONSTRAINT mail_accounts_port_check
        CHECK (port IS NULL OR port BETWEEN 1 AND 65535),
    ADD CONSTRAINT mail_accounts_tls_check
        CHECK (tls IS NULL OR tls IN ('implicit', 'starttls', 'none')),
    ADD CONSTRAINT mail_accounts_auth_check
        CHECK (auth IS NULL OR auth IN ('password', 'xoauth2')),
    ADD CONSTRAINT mail_accounts_poll_interval_check
        CHECK (poll_interval IS NULL OR poll_interval >= interval '1 second'),
    ADD CONSTRAINT mail_accounts_settings_check
        CHECK (jsonb_typeof(settings) = 'object'),
    ADD CONSTRAINT mail_accounts_state_check
        CHECK (state IS NULL OR state IN ('starting', 'syncing', 'idle',
            'failing', 'auth_failed', 'disabled'));

-- The daemon's public key (OpenPGP, RSA), written by inboxctl keygen and
-- rekey. The private key never enters the database: it is a file only
-- the daemon's user can read.
CREATE TABLE IF NOT EXISTS inboxd.account_key (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    public_key  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Account secrets, only ever as ciphertext for the key above.
CREATE TABLE IF NOT EXISTS public.account_secrets (
    account_id  integer NOT NULL REFERENCES public.mail_accounts(id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('password', 'refresh_token',
                    'client_secret', 'service_account')),
    ciphertext  bytea NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, kind)
);

-- Sets (or replaces) one secret of an account, encrypted with the
-- daemon's public key. Refuses when no key was made (inboxctl keygen).
-- It runs with its owner's rights, so that an app may set secrets
-- without any right on account_secrets (doc/accounts.md, grants).
CREATE OR REPLACE FUNCTION inboxd.set_account_secret(
    p_account text, p_kind text, p_secret text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    v_key bytea;
    v_id integer;
BEGIN
    SELECT public_key INTO v_key FROM inboxd.account_key;
    IF v_key IS NULL THEN
        RAISE EXCEPTION 'inboxd has no account key yet'
            USING HINT = 'run inboxctl keygen on the daemon''s host';
    END IF;
    SELECT id INTO v_id FROM public.mail_accounts WHERE name = p_account;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'no account named "%"', p_account;
    END IF;
    IF p_secret IS NULL OR p_secret = '' THEN
        RAISE EXCEPTION 'the secret is empty';
    END IF;
    INSERT INTO public.account_secrets (account_id, kind, ciphertext)
    VALUES (v_id, p_kind, pgp_pub_encrypt(p_secret, v_key))
    ON CONFLICT (account_id, kind) DO UPDATE
        SET ciphertext = EXCLUDED.ciphertext, updated_at = now();
END;
$$;

-- pgcrypto may live in another schema of a host database.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION inboxd.set_account_secret(text, text, text)'
        ' SET search_path = public, %I, pg_temp',
        (SELECT n.nspname FROM pg_extension e
         JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'pgcrypto'));
END;
$$;
REVOKE ALL ON FUNCTION inboxd.set_account_secret(text, text, text) FROM PUBLIC;

-- Tells the daemon which account changed. The daemon's own writes (its
-- live state, its hold) announce nothing, or it would hear itself.
CREATE OR REPLACE FUNCTION inboxd.accounts_notify()
RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_name text;
    v_live text[] := ARRAY['state', 'last_error', 'last_success_at',
        'held_by', 'held_since'];
BEGIN
    IF TG_TABLE_NAME = 'mail_accounts' THEN
        -- The configuration file's accounts are the file's business.
        IF (TG_OP = 'INSERT' AND NEW.source <> 'database') OR
           (TG_OP = 'DELETE' AND OLD.source <> 'database') OR
           (TG_OP = 'UPDATE' AND OLD.source <> 'database' AND
            NEW.source <> 'database') THEN
            RETURN NULL;
        END IF;
        IF TG_OP = 'UPDATE' AND
            (to_jsonb(OLD) - v_live) = (to_jsonb(NEW) - v_live) THEN
            RETURN NULL;
        END IF;
        IF TG_OP = 'DELETE' THEN
            v_name := OLD.name;
        ELSE
            v_name := NEW.name;
        END IF;
    ELSE
        SELECT name INTO v_name FROM public.mail_accounts
        WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.account_id
            ELSE NEW.account_id END;
    END IF;
    PERFORM pg_notify('inboxd_accounts', coalesce(v_name, ''));
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS mail_accounts_notify ON mail_accounts;
CREATE TRIGGER mail_accounts_notify
    AFTER INSERT OR UPDATE OR DELETE ON mail_accounts
    FOR EACH ROW EXECUTE FUNCTION inboxd.accounts_notify();
DROP TRIGGER IF EXISTS account_secrets_notify ON public.account_secrets;
CREATE TRIGGER account_secrets_notify
    AFTER INSERT OR UPDATE OR DELETE ON public.account_secrets
    FOR EACH ROW EXECUTE FUNCTION inboxd.accounts_notify();

-- account.added / account.removed for database accounts, written in
-- the app's own transaction, announced like the other events.
CREATE OR REPLACE FUNCTION inboxd.accounts_events()
RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    IF TG_OP = 'INSERT' AND NEW.source = 'database' THEN
        INSERT INTO public.events (type, account, payload)
        VALUES ('account.added', NEW.name,
            jsonb_build_object('type', NEW.type, 'enabled', NEW.enabled))
        RETURNING id INTO v_id;
    ELSIF TG_OP = 'DELETE' AND OLD.source = 'database' THEN
        INSERT INTO public.events (type, account, payload)
        VALUES ('account.removed', OLD.name,
            jsonb_build_object('type', OLD.type))
        RETURNING id INTO v_id;
    END IF;
    IF v_id IS NOT NULL THEN
        PERFORM pg_notify('inboxd_events', v_id || '-' || v_id);
    END IF;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS mail_accounts_events ON mail_accounts;
CREATE TRIGGER mail_accounts_events
    AFTER INSERT OR DELETE ON mail_accounts
    FOR EACH ROW EXECUTE FUNCTION inboxd.accounts_events();

-- account.failed, account.auth_failed and account.recovered, when the
-- daemon writes a new state: once per change, not once per retry.
CREATE OR REPLACE FUNCTION inboxd.accounts_state_events()
RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_type text;
    v_id bigint;
BEGIN
    IF NEW.state IS NOT DISTINCT FROM OLD.state THEN
        RETURN NULL;
    ELSIF NEW.state IN ('failing', 'auth_failed') THEN
        v_type := CASE NEW.state WHEN 'failing' THEN 'account.failed'
            ELSE 'account.auth_failed' END;
    ELSIF NEW.state = 'idle' AND (SELECT e.type FROM public.events e
            WHERE e.account = NEW.name AND e.type IN ('account.failed',
                'account.auth_failed', 'account.recovered', 'account.added')
            ORDER BY e.id DESC LIMIT 1)
            IN ('account.failed', 'account.auth_failed') THEN
        -- A restart passes through "syncing": the last event says
        -- whether the account was failing.
        v_type := 'account.recovered';
    ELSE
        RETURN NULL;
    END IF;
    INSERT INTO public.events (type, account, payload)
    VALUES (v_type, NEW.name, jsonb_build_object('state', NEW.state,
        'error', NEW.last_error, 'source', NEW.source))
    RETURNING id INTO v_id;
    PERFORM pg_notify('inboxd_events', v_id || '-' || v_id);
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS mail_accounts_state_events ON mail_accounts;
CREATE TRIGGER mail_accounts_state_events
    AFTER UPDATE OF state ON mail_accounts
    FOR EACH ROW EXECUTE FUNCTION inboxd.accounts_state_events();
