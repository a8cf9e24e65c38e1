-- 007: the two ways a share may leave, each only through the admin role
-- and an admin command that writes its audit row in the same transaction:
--
--   sharekeep prune --keep N   superseded versions of an identity beyond
--                              its newest N; never the newest one.
--   sharekeep purge CLIENT     every share of one client (a user's right to
--                              erasure), with the client's delivery ids, so
--                              that a late redelivery of an old webhook is
--                              stored again rather than answered "stored".
--
-- The trigger lets a DELETE of a share_record row through only when all
-- of these hold, so that no DELETE typed by hand, even by an admin, and no
-- bug in a command, removes a share recovery may still need:
--   * the current user is a member of sharekeep_admin (the runtime role has
--     no DELETE privilege at all; the owner is not a member);
--   * the transaction says which removal it is:
--       SET LOCAL sharekeep.share_removal = 'superseded'
--         and the row has a newer version of its identity (the newest of an
--         identity has none, so it can never go this way), or
--       SET LOCAL sharekeep.share_removal = 'purge' and
--       SET LOCAL sharekeep.purge_client = '<client id>'
--         and the row is that client's.
-- UPDATE keeps the rules of sql/004 and sql/006; TRUNCATE stays refused.

CREATE OR REPLACE FUNCTION share_record_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF pg_has_role(current_user, 'sharekeep_admin', 'MEMBER') THEN
            IF current_setting('sharekeep.share_removal', true) = 'superseded'
               AND EXISTS (SELECT 1 FROM share_record n
                            WHERE n.client_id = OLD.client_id AND n.kind = OLD.kind
                              AND n.backup_method = OLD.backup_method
                              AND n.pair_id = OLD.pair_id AND n.version > OLD.version) THEN
                RETURN OLD;
            END IF;
            IF current_setting('sharekeep.share_removal', true) = 'purge'
               AND current_setting('sharekeep.purge_client', true) = OLD.client_id THEN
                RETURN OLD;
            END IF;
        END IF;
        RAISE EXCEPTION 'share_record is append-only: DELETE refused (but to sharekeep prune '
            '--keep for superseded versions, or sharekeep purge for one client, as sharekeep_admin)'
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

GRANT DELETE ON share_record TO sharekeep_admin;
