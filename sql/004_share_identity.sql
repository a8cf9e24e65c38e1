-- 004: a share's identity is what Portal keys on: (client, kind,
-- backupMethod, backupSharePairId).
--
-- Portal backs a wallet up once per method and curve (PASSWORD-SECP256K1,
-- PASSWORD-ED25519, ...) and fetches every share at once, so one client
-- holds several current shares. Versions now count per identity.
--
-- Existing rows become the legacy identity ('UNKNOWN', no pair id), which
-- is what their records (format 1, doc/record-format.md) can be opened as.
-- ADD COLUMN with a constant default changes only the catalog: no row, and
-- so no share ciphertext, is rewritten; building the new unique index reads
-- the table once.

ALTER TABLE share_record
    ADD COLUMN backup_method text NOT NULL DEFAULT 'UNKNOWN'
        CONSTRAINT share_record_backup_method_check
        CHECK (backup_method ~ '^[ -~]{1,64}$'),
    -- '' = none; a pair id is at most 128 printable ASCII characters.
    ADD COLUMN pair_id text NOT NULL DEFAULT ''
        CONSTRAINT share_record_pair_id_check
        CHECK (pair_id ~ '^[ -~]{0,128}$');

ALTER TABLE share_record
    ADD CONSTRAINT share_record_identity_version_key
        UNIQUE (client_id, kind, backup_method, pair_id, version);
ALTER TABLE share_record DROP CONSTRAINT share_record_version_key;

COMMENT ON TABLE share_record IS
    'sharekeep: append-only, envelope-encrypted backup shares; newest version per (client_id, kind, backup_method, pair_id) is served';

-- The identity columns are as immutable as the rest of a row.
CREATE OR REPLACE FUNCTION share_record_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'share_record is append-only: DELETE refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id
       OR NEW.client_id IS DISTINCT FROM OLD.client_id
       OR NEW.kind IS DISTINCT FROM OLD.kind
       OR NEW.backup_method IS DISTINCT FROM OLD.backup_method
       OR NEW.pair_id IS DISTINCT FROM OLD.pair_id
       OR NEW.version IS DISTINCT FROM OLD.version
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'share_record is append-only: only a KEK rewrap may change a row'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

-- Which identity a stored or served share had, how many shares a fetch
-- answered with (a custodian fetch serves every identity at once), and how
-- many stored records did not open for it (an incident: tampering or a
-- missing KEK). Still one row per request.
--
-- A request refused for what it did not prove (401, 403) proves nothing
-- about who sent it either: what it claimed, the path's client id and its
-- X-Request-Id, goes into claimed_* and never into client_id or request_id
-- (which then holds sharekeep's own id for the request).
ALTER TABLE audit_event
    ADD COLUMN backup_method text,
    ADD COLUMN served integer,
    ADD COLUMN unopened integer,
    ADD COLUMN claimed_client_id text,
    ADD COLUMN claimed_request_id text;
