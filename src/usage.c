#include <string.h>

#include "usage.h"

struct command_doc {
    const char *name;
    const char *synopsis;
    const char *summary;
    const char *details;
};

static const struct command_doc docs[] = {
    { "serve", "serve",
      "FastCGI server (the default command); one request when run as CGI",
      "Listens on the config's `listen` address, or on a socket inherited from\n"
      "spawn-fcgi (fd 0) or systemd (LISTEN_FDS, fd 3). Prefork workers, each with\n"
      "one PostgreSQL connection. SIGTERM/SIGINT: finish in-flight requests, exit.\n"
      "SIGHUP: reload config, keyring and secret files. Refuses to start without\n"
      "webhook secrets or with key files that are not 0600 and owned by its user.\n" },
    { "migrate", "migrate",
      "apply sql/NNN_*.sql migrations that are not applied yet",
      "Applies each file of sql_dir once, in order, each in its own transaction,\n"
      "under an advisory lock; records them in schema_migration. Run it as the\n"
      "database owner (e.g. SHAREKEEP_DATABASE='... user=owner').\n" },
    { "keygen", "keygen FILE",
      "write a new key file (mode 0600) with one active KEK",
      "Refuses to overwrite an existing file. Use 'rotate' to add keys later.\n" },
    { "check", "check",
      "load and validate the config, keyring and auth files, then exit",
      "Exits 0 when `serve` would start; otherwise prints what is wrong.\n" },
    { "status", "status",
      "KEKs in the keyring and how many records each protects",
      "Also names KEK ids used by records but missing from the keyring, then\n"
      "counts records per kind and backupMethod, with the number of identities\n"
      "(client and backupSharePairId) they belong to, e.g.\n"
      "  custodian PASSWORD-SECP256K1: 12 records, 10 identities\n" },
    { "rotate", "rotate",
      "add a new KEK to the key file and make it active",
      "The previous active KEK stays for decryption. Then reload the server\n"
      "(SIGHUP) and run 'sharekeep rewrap'.\n" },
    { "rewrap", "rewrap [--batch N]",
      "move every record's data key to the active KEK",
      "N records (default 500) per transaction, without decrypting any share;\n"
      "prints a progress line per batch. Safe to stop and run again. Records of\n"
      "every format (1 and 2) are moved alike; their identity is unchanged.\n" },
    { "retire", "retire KEK_ID",
      "mark a KEK retired in the key file",
      "Refused for the active KEK and while any record still uses the KEK.\n" },
    { "verify", "verify [--batch N]",
      "open every stored record with the keyring and report counts",
      "Opens each record under its identity (client, kind, backupMethod, pair id,\n"
      "version): a record moved to another identity does not open. Exits 1 if\n"
      "any record does not open; names those records by id, kind, backupMethod\n"
      "and version (never a share).\n" },
    { "export", "export [--batch N] > FILE",
      "write every sealed record as JSON lines to stdout",
      "A header line {\"format\":\"sharekeep-export\",\"version\":2}, then one line\n"
      "per record with its clientId, kind, backupMethod, backupSharePairId (null:\n"
      "none), version, kekId, createdAt and sealed bytes (base64). Shares stay\n"
      "sealed: the file is useless without the keyring, which is never written\n"
      "to it.\n" },
    { "import", "import < FILE",
      "insert the records of an 'export' file",
      "Reads export format versions 1 and 2; the records of a version 1 file\n"
      "(written before shares had a backupMethod) become backupMethod UNKNOWN\n"
      "without a pair id. Opens every record under that identity with the\n"
      "keyring first, so a restore is proven readable. Records already present\n"
      "with the same bytes are skipped; different bytes for the same identity\n"
      "and version stop the import.\n" },
};
#define NDOCS (sizeof(docs) / sizeof(docs[0]))

void usage_all(FILE *f)
{
    fprintf(f, "usage: sharekeep [-c CONFIG] [COMMAND [ARGS]]\n\ncommands:\n");
    for (size_t i = 0; i < NDOCS; i++)
        fprintf(f, "  %-26s %s\n", docs[i].synopsis, docs[i].summary);
    fprintf(f,
            "\noptions:\n"
            "  -c, --config FILE   config file (default: $SHAREKEEP_CONFIG, else built-in\n"
            "                      defaults); SHAREKEEP_<KEY> variables override it\n"
            "  -V, --version       print the version\n"
            "  -h, --help          this text; 'sharekeep COMMAND --help' for one command\n"
            "\nAdmin commands (status ... import) connect with admin_database\n"
            "(default: database). See sharekeep(8).\n");
}

int usage_command(FILE *f, const char *cmd)
{
    for (size_t i = 0; i < NDOCS; i++)
        if (strcmp(docs[i].name, cmd) == 0) {
            fprintf(f, "usage: sharekeep [-c CONFIG] %s\n%s.\n\n%s", docs[i].synopsis,
                    docs[i].summary, docs[i].details);
            return 0;
        }
    return -1;
}

int usage_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}
