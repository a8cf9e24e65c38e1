/* The one table of sharekeep's commands: name, what runs it, and the text
 * that the overview, `sharekeep CMD --help`, usage errors and the man pages
 * say about it. main() dispatches through it, usage.c prints from it. */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "app.h"
#include "command.h"
#include "config.h"
#include "keyring.h"
#include "log.h"
#include "migrate.h"
#include "server.h"
#include "usage.h"

extern char **environ;

/* Commands without arguments of their own: anything after them is a usage
 * error. */
static int no_arguments(int argc, char **argv)
{
    if (argc == 1)
        return 0;
    usage_command(stderr, argv[0]);
    return 2;
}

static int load_all(const char *path, struct app_loaded *l)
{
    char err[512];

    if (app_load(path, l, err, sizeof(err)) != 0) {
        fprintf(stderr, "sharekeep: %s\n", err);
        return -1;
    }
    log_set_level(l->cfg.log_level);
    return 0;
}

static int command_serve(const char *config_path, int argc, char **argv)
{
    struct app_loaded l;
    int rc;

    if ((rc = no_arguments(argc, argv)) != 0)
        return rc;
    if (load_all(config_path, &l) != 0)
        return 1;
    return server_run(config_path, &l);
}

static int command_migrate(const char *config_path, int argc, char **argv)
{
    struct config cfg;
    char err[512];
    int rc;

    if ((rc = no_arguments(argc, argv)) != 0)
        return rc;
    if (config_load(config_path, environ, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "sharekeep: %s\n", err);
        return 1;
    }
    log_set_level(cfg.log_level);
    rc = migrate_run(&cfg);
    config_free(&cfg);
    return rc;
}

static int command_check(const char *config_path, int argc, char **argv)
{
    struct app_loaded l;
    int rc;

    if ((rc = no_arguments(argc, argv)) != 0)
        return rc;
    if (load_all(config_path, &l) != 0)
        return 1;
    printf("config, keyring and auth files OK (active KEK %u, %zu keys)\n",
           keyring_active_id(l.kr), keyring_count(l.kr));
    app_loaded_free(&l);
    return 0;
}

const struct command commands[] = {
    { "serve", command_serve, "serve",
      "FastCGI server (the default command); one request when run as CGI",
      "Listens on the config's `listen` address, or on a socket inherited from\n"
      "spawn-fcgi (fd 0) or systemd (LISTEN_FDS, fd 3). Prefork workers, each with\n"
      "one PostgreSQL connection. SIGTERM/SIGINT: finish in-flight requests, exit.\n"
      "SIGHUP: reload config, keyring and secret files. Refuses to start without\n"
      "webhook secrets or with key files that are not 0600 and owned by its user.\n" },
    { "migrate", command_migrate, "migrate",
      "apply sql/NNN_*.sql migrations that are not applied yet",
      "Applies each file of sql_dir once, in order, each in its own transaction,\n"
      "under an advisory lock; records them in schema_migration. Run it as the\n"
      "database owner (e.g. SHAREKEEP_DATABASE='... user=owner').\n" },
    { "keygen", admin_keygen, "keygen [--backend file|pkcs11] FILE",
      "write a new key file (mode 0600) with one active KEK",
      "Refuses to overwrite an existing file. Use 'rotate' to add keys later.\n"
      "With --backend pkcs11 the KEK is generated inside the token that the\n"
      "config's pkcs11_uri names (never leaving it); the file then lists only\n"
      "its id and state.\n" },
    { "check", command_check, "check",
      "load and validate the config, keyring and auth files, then exit",
      "Exits 0 when `serve` would start; otherwise prints what is wrong.\n" },
    { "status", admin_status, "status",
      "KEKs in the keyring and how many records each protects",
      "Also names KEK ids used by records but missing from the keyring, then\n"
      "counts records per kind and backupMethod, with the number of identities\n"
      "(client and backupSharePairId) they belong to, e.g.\n"
      "  custodian PASSWORD-SECP256K1: 12 records, 10 identities\n" },
    { "rotate", admin_rotate, "rotate [--backend file|pkcs11]",
      "add a new KEK to the key file and make it active",
      "The previous active KEK stays for decryption. Then reload the server\n"
      "(SIGHUP) and run 'sharekeep rewrap'. The new KEK is generated inside the\n"
      "PKCS#11 token when the config sets pkcs11_uri (unless --backend file), so\n"
      "rotate + rewrap move a key file deployment into the token, and\n"
      "--backend file + rewrap move it back.\n" },
    { "rewrap", admin_rewrap, "rewrap [--batch N] [--jobs N]",
      "move every record's data key to the active KEK",
      "N records (default 500) per UPDATE, each its own transaction, without\n"
      "decrypting any share or reading its ciphertext (only the 132-byte\n"
      "envelopes); --jobs N processes (default: one per CPU, at most 8) take an\n"
      "id range each. Prints a progress line per batch with the rate and the\n"
      "time left. Safe to stop and run again. Records of every format (1 and 2)\n"
      "are moved alike; their identity is unchanged.\n" },
    { "retire", admin_retire, "retire KEK_ID",
      "mark a KEK retired in the key file",
      "Refused for the active KEK and while any record still uses the KEK.\n" },
    { "verify", admin_verify, "verify [--batch N] [--jobs N]",
      "open every stored record with the keyring and report counts",
      "Opens each record under its identity (client, kind, backupMethod, pair id,\n"
      "version): a record moved to another identity does not open. Exits 1 if\n"
      "any record does not open; names those records by id, kind, backupMethod\n"
      "and version (never a share). --jobs N processes (default: one per CPU, at\n"
      "most 8) take an id range each.\n" },
    { "export", admin_export, "export [--batch N] > FILE",
      "write every sealed record as JSON lines to stdout",
      "A header line {\"format\":\"sharekeep-export\",\"version\":2}, then one line\n"
      "per record with its clientId, kind, backupMethod, backupSharePairId (null:\n"
      "none), version, kekId, createdAt and sealed bytes (base64). Shares stay\n"
      "sealed: the file is useless without the keyring, which is never written\n"
      "to it.\n" },
    { "import", admin_import, "import [--batch N] < FILE",
      "insert the records of an 'export' file",
      "Reads export format versions 1 and 2; the records of a version 1 file\n"
      "(written before shares had a backupMethod) become backupMethod UNKNOWN\n"
      "without a pair id. Opens every record under that identity with the\n"
      "keyring first, so a restore is proven readable. Records already present\n"
      "with the same bytes are skipped; different bytes for the same identity\n"
      "and version stop the import, with every record before it committed.\n"
      "Commits N records per transaction (--batch N, default 500); running it\n"
      "again after a stop or a crash is safe and finishes the job.\n" },
    { "prune", admin_prune, "prune [--keep N] [--older-than AGE] [--batch N]",
      "remove old audit rows and delivery ids, or superseded share versions",
      "Without --keep: removes audit rows older than audit_retention (default 400\n"
      "days; or AGE days, e.g. 400d, never under 30) and webhook delivery ids\n"
      "older than delivery_retention (default 30 days), N rows per batch (--batch\n"
      "N, default 500), with a progress line per batch. Then writes one audit row\n"
      "of its own, endpoint admin.prune, with how many of each it removed and up\n"
      "to when. Shares are never touched.\n"
      "With --keep N: removes the versions of each share identity beyond its\n"
      "newest N (only those older than AGE, with --older-than), never the newest\n"
      "one; each batch is one transaction with its own audit row (endpoint\n"
      "admin.prune-versions).\n"
      "Connects with admin_database, which must be a member of sharekeep_admin.\n"
      "Safe to stop and run again.\n" },
    { "purge", admin_purge, "purge CLIENT --yes",
      "remove every share of one client (the right to erasure)",
      "Removes every share of client CLIENT, custodian and client shares of every\n"
      "method and version, and its webhook delivery ids (so a late redelivery is\n"
      "stored again, not answered as stored), in one transaction with one audit\n"
      "row (endpoint admin.purge) that says how many. The audit rows of its\n"
      "requests stay: they hold no share. Without --yes it only says what it\n"
      "would do. Connects with admin_database, which must be a member of\n"
      "sharekeep_admin.\n" },
};
const size_t ncommands = sizeof(commands) / sizeof(commands[0]);

const struct command *command_find(const char *name)
{
    for (size_t i = 0; i < ncommands; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}
