/* sharekeep prune: the audit trail and the webhook delivery ids past their
 * retention, removed in batches through the admin role (sql/005), and one
 * audit row that says so. Never a share, except as asked for:
 *   prune --keep N   superseded versions beyond the newest N of each
 *                    identity (sql/007; the newest always stays);
 *   purge CLIENT     every share of one client, the right to erasure. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "admin.h"
#include "admin_int.h"
#include "bounds.h"
#include "config.h"
#include "share.h"
#include "store.h"
#include "usage.h"

#define PRUNE_ENDPOINT "admin.prune"
#define PRUNE_VERSIONS_ENDPOINT "admin.prune-versions"
#define PURGE_ENDPOINT "admin.purge"

struct prune {
    int batch;
    int keep;                             /* --keep N: versions, not audit rows */
    int older_days;                       /* --older-than, as given; 0 = not */
    int audit_days;                       /* audit_retention or --older-than */
    char audit_before[STORE_TIME_LEN];
    char delivery_before[STORE_TIME_LEN];
    long long audit_removed;
    long long deliveries_removed;
};

/* --batch N, --older-than AGE. 0, -1 after --help, or 2. */
static int prune_options(int argc, char **argv, struct prune *p)
{
    static const struct option opts[] = {
        { "batch", required_argument, NULL, 'b' },
        { "older-than", required_argument, NULL, 'o' },
        { "keep", required_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c, v;

    optind = 0;   /* GNU getopt: start over on the subcommand's own argv */
    p->batch = ADMIN_BATCH_DEFAULT;
    p->audit_days = 0;
    p->keep = 0;
    p->older_days = 0;
    while ((c = getopt_long(argc, argv, "b:o:k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': {
            char *end;
            long n = strtol(optarg, &end, 10);

            if (*optarg == '\0' || *end != '\0' || n < 1 || n > ADMIN_BATCH_MAX) {
                fprintf(stderr, "sharekeep: --batch must be 1 to %d\n", ADMIN_BATCH_MAX);
                return 2;
            }
            p->batch = (int)n;
            break;
        }
        case 'o':
            if (config_parse_days(optarg, &v) != 0 || v < 1) {
                fprintf(stderr, "sharekeep: --older-than must be a number of days up to %d "
                        "(e.g. 400d)\n", RETENTION_DAYS_MAX);
                return 2;
            }
            p->older_days = v;
            break;
        case 'k': {
            char *end;
            long n = strtol(optarg, &end, 10);

            if (*optarg == '\0' || *end != '\0' || n < 1 || n > VERSIONS_MAX) {
                fprintf(stderr, "sharekeep: --keep must be 1 to %d versions\n", VERSIONS_MAX);
                return 2;
            }
            p->keep = (int)n;
            break;
        }
        case 'h':
            usage_command(stdout, "prune");
            return -1;
        default:
            usage_command(stderr, "prune");
            return 2;
        }
    }
    if (optind != argc) {
        usage_command(stderr, "prune");
        return 2;
    }
    /* For the audit trail, shorter than the minimum is refused here, before
     * anything is asked of the database (whose trigger would refuse it
     * too); superseded versions may go at any age. */
    if (p->keep == 0 && p->older_days > 0 && p->older_days < AUDIT_RETENTION_MIN) {
        fprintf(stderr, "sharekeep: --older-than must be a number of days from %d to %d "
                "(e.g. 400d)\n", AUDIT_RETENTION_MIN, RETENTION_DAYS_MAX);
        return 2;
    }
    p->audit_days = p->keep == 0 ? p->older_days : 0;
    return 0;
}

/* A request id of the same shape as a request's own (32 hex digits), so
 * that the run's audit row can be found from its output. */
static int new_request_id(char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[16];

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
    return 0;
}

/* Walks audit_event in id order, one transaction per batch, until a batch
 * holds no row older than the cutoff (or the table ends). */
static int prune_audit(struct admin *a, struct prune *p)
{
    long long after = 0, last = 0, removed = 0;
    int scanned = 0;
    store_status s;

    for (;;) {
        s = store_prune_audit(a->st, p->audit_before, after, p->batch, &scanned, &last,
                              &removed);
        if (s != STORE_OK)
            return admin_db_failed("prune: audit_event", s);
        p->audit_removed += removed;
        if (removed > 0)
            fprintf(stderr, "prune: audit_event: %lld rows removed, up to id %lld\n",
                    p->audit_removed, last);
        if (removed == 0 || scanned < p->batch)
            return 0;
        after = last;
    }
}

static int prune_deliveries(struct admin *a, struct prune *p)
{
    long long removed = 0;
    store_status s;

    do {
        s = store_prune_deliveries(a->st, p->delivery_before, p->batch, &removed);
        if (s != STORE_OK)
            return admin_db_failed("prune: webhook_delivery", s);
        p->deliveries_removed += removed;
        if (removed > 0)
            fprintf(stderr, "prune: webhook_delivery: %lld delivery ids removed\n",
                    p->deliveries_removed);
    } while (removed == p->batch);
    return 0;
}

/* The admin database user must be in sharekeep_admin: 0, or 1 with why. */
static int admin_member(struct admin *a, const char *cmd)
{
    char user[64];
    int member = 0;
    store_status s;

    if ((s = store_admin_role(a->st, user, &member)) != STORE_OK)
        return admin_db_failed(cmd, s);
    if (!member) {
        fprintf(stderr, "sharekeep: %s: database user %s is not a member of sharekeep_admin.\n",
                cmd, user);
        admin_role_advice();
        return 1;
    }
    return 0;
}

/* prune --keep N: walks share_record in id order, one transaction (and,
 * when it removed something, one audit row) per batch. */
static int prune_versions(struct admin *a, struct prune *p, const char *request_id)
{
    struct store_prune_versions pv = { p->keep, p->older_days, PRUNE_VERSIONS_ENDPOINT,
                                       request_id };
    long long after = 0, last = 0, removed = 0, total = 0, seen = 0;
    int scanned = 0;
    store_status s;

    do {
        s = store_prune_versions(a->st, &pv, after, p->batch, &scanned, &last, &removed);
        if (s != STORE_OK)
            return admin_db_failed("prune --keep", s);
        total += removed;
        seen += scanned;
        if (scanned > 0)
            fprintf(stderr, "prune: %lld superseded versions removed of %lld records looked "
                    "at, up to id %lld\n", total, seen, last);
        after = last;
    } while (scanned == p->batch);
    printf("prune: done: %lld superseded versions removed, the newest %d of every identity "
           "kept%s; audit rows %s\n", total, p->keep,
           p->older_days > 0 ? " (only versions older than --older-than went)" : "",
           request_id);
    return 0;
}

int admin_prune(const char *config_path, int argc, char **argv)
{
    struct prune p = { 0 };
    struct store_prune_row row;
    struct admin a;
    char request_id[33];
    int rc;
    store_status s;

    if ((rc = prune_options(argc, argv, &p)) != 0)
        return rc < 0 ? 0 : rc;
    if (admin_open(config_path, &a, 0, 1) != 0)
        return 1;
    rc = 1;
    if (p.audit_days == 0)
        p.audit_days = a.cfg.audit_retention;
    if (new_request_id(request_id) != 0) {
        fprintf(stderr, "sharekeep: prune: no random bytes for the request id\n");
        goto out;
    }
    if (admin_member(&a, "prune") != 0)
        goto out;
    if (p.keep > 0) {
        rc = prune_versions(&a, &p, request_id);
        goto out;
    }
    /* One cutoff each for the whole run, computed by the database's clock,
     * which also wrote every row's time. */
    if ((s = store_retention_cutoff(a.st, p.audit_days, p.audit_before)) != STORE_OK ||
        (s = store_retention_cutoff(a.st, a.cfg.delivery_retention, p.delivery_before)) !=
            STORE_OK) {
        rc = admin_db_failed("prune", s);
        goto out;
    }
    rc = prune_audit(&a, &p);
    if (rc == 0)
        rc = prune_deliveries(&a, &p);
    /* Written after the work, with what was done even when it stopped half
     * way: what was removed stays removed. */
    row = (struct store_prune_row){ PRUNE_ENDPOINT, rc == 0 ? 200 : 500, request_id,
                                    p.audit_before, p.delivery_before, p.audit_removed,
                                    p.deliveries_removed };
    if ((s = store_audit_prune(a.st, &row)) != STORE_OK) {
        rc = admin_db_failed("prune: its audit row", s);
        goto out;
    }
    if (rc == 0)
        printf("prune: done: %lld audit rows from before %s (%d days) and %lld delivery ids "
               "from before %s (%d days) removed; audit row %s\n", p.audit_removed,
               p.audit_before, p.audit_days, p.deliveries_removed, p.delivery_before,
               a.cfg.delivery_retention, request_id);
out:
    admin_free(&a);
    return rc;
}

int admin_purge(const char *config_path, int argc, char **argv)
{
    struct admin a;
    char request_id[33];
    long long shares = 0, deliveries = 0;
    const char *client;
    int rc = 2, yes = 0;
    store_status s;

    if (argc == 3 && strcmp(argv[2], "--yes") == 0)
        yes = 1;
    if ((argc != 2 && !yes) || argv[1][0] == '-' ) {
        if (argc == 2 && strcmp(argv[1], "--help") == 0) {
            usage_command(stdout, "purge");
            return 0;
        }
        usage_command(stderr, "purge");
        return 2;
    }
    client = argv[1];
    if (!share_client_id_valid(client, strlen(client))) {
        fprintf(stderr, "sharekeep: purge: '%.64s' is not a client id (1 to %d of A-Z a-z 0-9 "
                "_ -)\n", client, CLIENT_ID_MAX);
        return 2;
    }
    if (!yes) {
        fprintf(stderr, "sharekeep: purge removes every share of client %s for good; "
                "run 'sharekeep purge %s --yes' to do it\n", client, client);
        return 2;
    }
    if (admin_open(config_path, &a, 0, 1) != 0)
        return 1;
    rc = 1;
    if (new_request_id(request_id) != 0) {
        fprintf(stderr, "sharekeep: purge: no random bytes for the request id\n");
        goto out;
    }
    if (admin_member(&a, "purge") != 0)
        goto out;
    s = store_purge_client(a.st, client, PURGE_ENDPOINT, request_id, &shares, &deliveries);
    if (s != STORE_OK) {
        rc = admin_db_failed("purge", s);
        goto out;
    }
    printf("purge: done: %lld shares and %lld delivery ids of client %s removed; audit row %s\n",
           shares, deliveries, client, request_id);
    rc = 0;
out:
    admin_free(&a);
    return rc;
}
