-- 002: least-privilege roles, webhook delivery ids (replay protection) and
-- the audit trail.
--
-- Roles are cluster-wide and NOLOGIN: an operator grants them to login roles,
--   CREATE ROLE sharekeep LOGIN PASSWORD '...' IN ROLE sharekeep_runtime;
--   CREATE ROLE sharekeep_ops LOGIN PASSWORD '...' IN ROLE sharekeep_admin;
-- sharekeep serve connects as the runtime role: it can add and read shares
-- and add audit rows, never change or remove anything.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sharekeep_runtime') THEN
        CREATE ROLE sharekeep_runtime NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sharekeep_admin') THEN
        CREATE ROLE sharekeep_admin NOLOGIN;
    END IF;
END
$$;

-- One row per accepted webhook delivery (Standard Webhooks "webhook-id"),
-- written in the same statement as the share it carried. The same id with
-- the same body is a retry (same answer); with another body, a replay (409).
CREATE TABLE webhook_delivery (
    delivery_id  text        PRIMARY KEY CHECK (length(delivery_id) BETWEEN 1 AND 256),
    -- SHA-256 of the raw request body; the share inside is random key
    -- material, so the digest reveals nothing usable.
    body_sha256  bytea       NOT NULL CHECK (length(body_sha256) = 32),
    client_id    text        NOT NULL,
    version      integer     NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_event (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    endpoint    text        NOT NULL,      -- route name, e.g. custodian.store
    client_id   text,                      -- NULL when the request named none we could trust
    result      smallint    NOT NULL,      -- HTTP status answered
    request_id  text        NOT NULL,
    version     integer                    -- share version stored or served
);
CREATE INDEX audit_event_client_at ON audit_event (client_id, at);

CREATE FUNCTION sharekeep_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION sharekeep_append_only();
CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION sharekeep_append_only();
CREATE TRIGGER webhook_delivery_append_only
    BEFORE UPDATE ON webhook_delivery
    FOR EACH ROW EXECUTE FUNCTION sharekeep_append_only();

REVOKE ALL ON share_record, webhook_delivery, audit_event, schema_migration FROM PUBLIC;

-- Runtime: add and read; audit is write-only for it.
GRANT SELECT, INSERT ON share_record, webhook_delivery TO sharekeep_runtime;
GRANT INSERT ON audit_event TO sharekeep_runtime;

-- Admin: migrations, KEK rewrap (UPDATE of kek_id/sealed, policed by the
-- share_record trigger), reading the audit trail, pruning old delivery ids.
GRANT SELECT, INSERT, UPDATE ON share_record TO sharekeep_admin;
GRANT SELECT, INSERT, DELETE ON webhook_delivery TO sharekeep_admin;
GRANT SELECT ON audit_event, schema_migration TO sharekeep_admin;
