-- 005: retention of the audit trail and of webhook delivery ids.
--
-- Every request leaves an audit row, and every accepted signed delivery a
-- delivery id; without an end both fill the disk (and then every store
-- answers 503). `sharekeep prune`, run as a member of sharekeep_admin,
-- removes audit rows older than audit_retention and delivery ids older than
-- delivery_retention. Nothing here touches share_record: shares stay
-- append-only and are never removed.
--
-- The audit trail stays append-only for everyone else. Its trigger lets a
-- DELETE through only when, for that row, all of these hold:
--   * the transaction says it is a retention run:
--       SET LOCAL sharekeep.retention = 'on'
--     so that no DELETE typed by hand, even by an admin, removes evidence;
--   * the current user is a member of sharekeep_admin (the runtime role has
--     no DELETE privilege at all; the owner is not a member);
--   * the row is older than 30 days, the least audit_retention there is
--     (AUDIT_RETENTION_MIN in src/bounds.h): whatever the caller asks for,
--     the last 30 days of evidence stay.
-- UPDATE and TRUNCATE stay refused for everyone.

CREATE FUNCTION audit_event_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('sharekeep.retention', true) = 'on'
           AND pg_has_role(current_user, 'sharekeep_admin', 'MEMBER')
           AND OLD.at < now() - interval '30 days' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_event is append-only: DELETE refused (permission denied but '
            'to a retention run of sharekeep_admin, for rows older than 30 days)'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'sharekeep prune removes the rows older than audit_retention';
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER audit_event_append_only ON audit_event;
CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_guard();
-- audit_event_no_truncate (sql/002) stays as it is.

-- What an admin command's own row says beyond the columns of a request's
-- (a prune: how many rows it removed, up to when, which database user ran
-- it). NULL for requests; adding a nullable column rewrites no row.
ALTER TABLE audit_event ADD COLUMN detail jsonb;

-- A prune removes the oldest delivery ids first; the table is keyed by
-- delivery id. (audit_event needs no such index: a prune walks its ids,
-- which follow time, and an index there would cost every request.)
CREATE INDEX webhook_delivery_received_at ON webhook_delivery (received_at);

-- The admin role removes rows of both (it had DELETE on webhook_delivery
-- already, sql/002) and writes its own audit rows.
GRANT INSERT, DELETE ON audit_event TO sharekeep_admin;
