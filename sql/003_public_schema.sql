-- 003: only the schema owner creates objects in "public".
--
-- PostgreSQL 15 already revokes CREATE on schema public from PUBLIC; older
-- servers grant it, which would let the runtime role create tables beside
-- ours. Where the migrating role does not own the schema (older servers:
-- postgres does), say so instead of failing the whole migration.
DO $$
BEGIN
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'sharekeep: could not revoke CREATE on schema public from PUBLIC; '
        'as a superuser run: REVOKE CREATE ON SCHEMA public FROM PUBLIC';
END
$$;
