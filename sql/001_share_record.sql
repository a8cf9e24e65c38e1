-- 001: sealed share records.
--
-- Append-only by design: a new backup for a client adds a version, and the
-- version that recovery may still need is never overwritten or deleted. The
-- only change allowed to an existing row is a KEK rewrap (kek_id and the
-- header of sealed), which does not touch the share ciphertext.

CREATE TABLE share_record (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id   text        NOT NULL CHECK (client_id ~ '^[A-Za-z0-9_-]{1,128}$'),
    kind        smallint    NOT NULL CHECK (kind IN (1, 2)),   -- 1 custodian, 2 client
    version     integer     NOT NULL CHECK (version > 0),
    kek_id      bigint      NOT NULL CHECK (kek_id BETWEEN 1 AND 4294967295),
    -- Envelope-encrypted record (doc/record-format.md); never plaintext.
    sealed      bytea       NOT NULL CHECK (substring(sealed from 1 for 4) = '\x534b5352'::bytea),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT share_record_version_key UNIQUE (client_id, kind, version)
);

COMMENT ON TABLE share_record IS
    'sharekeep: append-only, envelope-encrypted backup shares; newest version per (client_id, kind) is served';

CREATE FUNCTION share_record_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'share_record is append-only: DELETE refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id
       OR NEW.client_id IS DISTINCT FROM OLD.client_id
       OR NEW.kind IS DISTINCT FROM OLD.kind
       OR NEW.version IS DISTINCT FROM OLD.version
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'share_record is append-only: only a KEK rewrap may change a row'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER share_record_append_only
    BEFORE UPDATE OR DELETE ON share_record
    FOR EACH ROW EXECUTE FUNCTION share_record_guard();

CREATE FUNCTION share_record_no_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'share_record is append-only: TRUNCATE refused'
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER share_record_no_truncate
    BEFORE TRUNCATE ON share_record
    FOR EACH STATEMENT EXECUTE FUNCTION share_record_no_truncate();
