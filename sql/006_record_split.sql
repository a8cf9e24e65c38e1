-- 006: a sealed record kept as two columns, the way it is worked on.
--
-- envelope: the record's first 132 bytes (doc/record-format.md): magic,
--   format, suite, KEK id, wrap scheme, wrapped data key, salt,
--   commitment, nonce, ciphertext length. The only part a KEK rewrap
--   changes.
-- payload: the rest, the share's AES-GCM ciphertext and tag. Written once,
--   never changed: no UPDATE may even name it (trigger below), and the
--   admin role may UPDATE only kek_id and envelope. It is incompressible,
--   so STORAGE EXTERNAL: kept out of line past about 2 kB without first
--   trying to compress it (a real custodian share is 5-6 kB).
-- A rewrap then rewrites a row of tens of bytes plus a pointer to the
-- unchanged out-of-line payload, not the kilobytes of ciphertext, and
-- reads only envelopes. What leaves sharekeep (export, the wire format) is
-- still the one record, envelope || payload.
--
-- The identity's unique index is rebuilt with version DESC, so "the newest
-- version of each identity" (DISTINCT ON ... ORDER BY ..., version DESC)
-- is read in index order, without a sort.
--
-- This migration rewrites every row once (the UPDATE), so it takes about
-- as long as a full-table rewrite; run it in a maintenance window on a
-- large table. Rows are only moved between columns: no byte of any record
-- changes, and `sharekeep verify` opens every one afterwards.

ALTER TABLE share_record
    ADD COLUMN envelope bytea,
    ADD COLUMN payload bytea;
ALTER TABLE share_record ALTER COLUMN payload SET STORAGE EXTERNAL;

UPDATE share_record
   SET envelope = substring(sealed from 1 for 132),
       payload = substring(sealed from 133);

ALTER TABLE share_record DROP COLUMN sealed;
ALTER TABLE share_record
    ALTER COLUMN envelope SET NOT NULL,
    ALTER COLUMN payload SET NOT NULL,
    ADD CONSTRAINT share_record_envelope_check
        CHECK (length(envelope) = 132 AND substring(envelope from 1 for 4) = '\x534b5352'::bytea),
    -- at least the 16-byte GCM tag (an empty share has nothing else)
    ADD CONSTRAINT share_record_payload_check CHECK (length(payload) >= 16);

CREATE UNIQUE INDEX share_record_identity_newest
    ON share_record (client_id, kind, backup_method, pair_id, version DESC);
ALTER TABLE share_record DROP CONSTRAINT share_record_identity_version_key;

-- UPDATE OF payload fires whenever an UPDATE names the column, changed or
-- not, so refusing costs a rewrap (which never names it) nothing: no
-- detoasting of kilobytes to compare them.
CREATE FUNCTION share_record_payload_fixed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'share_record is append-only: a share''s ciphertext never changes'
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER share_record_payload_fixed
    BEFORE UPDATE OF payload ON share_record
    FOR EACH ROW EXECUTE FUNCTION share_record_payload_fixed();

REVOKE UPDATE ON share_record FROM sharekeep_admin;
GRANT UPDATE (kek_id, envelope) ON share_record TO sharekeep_admin;

COMMENT ON COLUMN share_record.envelope IS
    'sharekeep: bytes 0-131 of the sealed record (header, KEK id, wrap scheme, wrapped data key, salt, commitment, nonce, length); what a rewrap changes';
COMMENT ON COLUMN share_record.payload IS
    'sharekeep: the rest of the sealed record (AES-256-GCM ciphertext and tag); never changes';
