/* Operator commands over the keyring and every record: rewrap, verify,
 * status, rotate, retire, and what they share (config, keyring and admin
 * connection; batches of records). Export and import: admin_transfer.c. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "admin.h"
#include "admin_int.h"
#include "bounds.h"
#include "config.h"
#include "keyring.h"
#include "log.h"
#include "seal.h"
#include "store.h"
#include "usage.h"

extern char **environ;

/* The admin command's store, for admin_db_failed's explanations. */
static struct store *admin_store;
static const char *admin_database_in_use = "unset";


void admin_free(struct admin *a)
{
    if (admin_store == a->st)
        admin_store = NULL;
    store_free(a->st);
    keyring_free(a->kr);
    config_free(&a->cfg);
    memset(a, 0, sizeof(*a));
}

/* Admin commands connect with admin_database: the runtime role cannot
 * UPDATE share_record (rewrap) nor read everything they need. */
int admin_open(const char *config_path, struct admin *a, int need_keyring, int need_db)
{
    struct keyring_token_config tc;
    char err[512];

    memset(a, 0, sizeof(*a));
    if (config_load(config_path, environ, &a->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "sharekeep: %s\n", err);
        return -1;
    }
    log_set_level(a->cfg.log_level);
    config_token(&a->cfg, &tc);
    if (need_keyring &&
        keyring_load_with(a->cfg.keyring, &tc, &a->kr, err, sizeof(err)) != KEYRING_OK) {
        fprintf(stderr, "sharekeep: %s\n", err);
        goto fail;
    }
    if (need_db && store_new(a->cfg.admin_database[0] ? a->cfg.admin_database : a->cfg.database,
                             &a->st) != STORE_OK) {
        fprintf(stderr, "sharekeep: out of memory\n");
        goto fail;
    }
    admin_store = a->st;
    admin_database_in_use = a->cfg.admin_database[0] ? "set" : "unset: it falls back to database";
    return 0;
fail:
    admin_free(a);
    return -1;
}

const char *admin_kind_name(int kind)
{
    return kind == SHARE_KIND_CUSTODIAN ? "custodian" : kind == SHARE_KIND_CLIENT ? "client" : "?";
}

void admin_role_advice(void)
{
    fprintf(stderr, "  Admin commands connect with the config's admin_database (now %s); set it to a\n"
            "  login role that is a member of sharekeep_admin, e.g. after\n"
            "  CREATE ROLE sharekeep_ops LOGIN IN ROLE sharekeep_admin:\n"
            "  admin_database = ... user=sharekeep_ops (or SHAREKEEP_ADMIN_DATABASE='... "
            "user=sharekeep_ops')\n", admin_database_in_use);
}

int admin_db_failed(const char *what, store_status s)
{
    char user[64] = "?";
    int member = 0;

    if (strcmp(store_last_sqlstate(admin_store), "42501") == 0) {
        if (store_admin_role(admin_store, user, &member) != STORE_OK)
            snprintf(user, sizeof(user), "?");
        fprintf(stderr, "sharekeep: %s: permission denied for database user %s (sqlstate 42501).\n",
                what, user);
        admin_role_advice();
        return 1;
    }
    fprintf(stderr, "sharekeep: %s: %s (see the log line above)\n", what, store_strerror(s));
    return 1;
}

/* Parses --batch N (and, with jobs non-NULL, --jobs N) for the batch
 * commands. */
static int parse_batch_jobs(int argc, char **argv, int *batch, int *jobs, const char *cmd)
{
    static const struct option opts[] = {
        { "batch", required_argument, NULL, 'b' },
        { "jobs", required_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int c;

    optind = 0;   /* GNU getopt: start over on the subcommand's own argv */
    *batch = ADMIN_BATCH_DEFAULT;
    if (jobs != NULL)
        *jobs = cpus < 1 ? 1 : cpus > ADMIN_JOBS_MAX ? ADMIN_JOBS_MAX : (int)cpus;
    while ((c = getopt_long(argc, argv, jobs != NULL ? "b:j:h" : "b:h", opts, NULL)) != -1) {
        char *end;
        long v;

        switch (c) {
        case 'b':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || v < 1 || v > ADMIN_BATCH_MAX) {
                fprintf(stderr, "sharekeep: --batch must be 1 to %d\n", ADMIN_BATCH_MAX);
                return 2;
            }
            *batch = (int)v;
            break;
        case 'j':
            if (jobs == NULL) {
                usage_command(stderr, cmd);
                return 2;
            }
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || v < 1 || v > ADMIN_JOBS_MAX) {
                fprintf(stderr, "sharekeep: --jobs must be 1 to %d\n", ADMIN_JOBS_MAX);
                return 2;
            }
            *jobs = (int)v;
            break;
        case 'h':
            usage_command(stdout, cmd);
            return -1;
        default:
            usage_command(stderr, cmd);
            return 2;
        }
    }
    if (optind != argc) {
        usage_command(stderr, cmd);
        return 2;
    }
    return 0;
}

int admin_parse_batch(int argc, char **argv, int *batch, const char *cmd)
{
    return parse_batch_jobs(argc, argv, batch, NULL, cmd);
}

int admin_parse_jobs(int argc, char **argv, int *batch, int *jobs, const char *cmd)
{
    return parse_batch_jobs(argc, argv, batch, jobs, cmd);
}


static double seconds_since(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Blocks below this come from the heap (32 MiB: glibc's largest allowed on
 * 64-bit), and up to twice it of free heap stays mapped. */
#define BATCH_MMAP_THRESHOLD (32 * 1024 * 1024)

/* Each batch's result and records (a few MB) are freed before the next
 * batch is read. By default glibc gives that memory back to the kernel
 * (trimming the heap, unmapping large blocks) and the next batch faults it
 * in again: 3 page faults a record, about a third of export's CPU (63,000
 * faults for 20,000 records; 2,100 kept mapped) and of verify's. Keeping it
 * mapped barely moves the peak RSS (export: 14.3 MiB, not 14.0, for 20,000
 * records). A failure only costs the speed. */
static void keep_batch_memory(void)
{
    mallopt(M_MMAP_THRESHOLD, BATCH_MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, 2 * BATCH_MMAP_THRESHOLD);
}

/* fn over the records with id in (after, max_id], batch by batch. */
static int each_batch_range(struct admin *a, const char *what, uint32_t skip_kek, int batch,
                            long long after, long long max_id, batch_fn fn, void *arg)
{
    struct store_record *recs = NULL;
    const long long lo = after;
    long long seen = 0;
    struct timespec t0;
    size_t n = 0;
    store_status s;
    int rc = 1, tty = isatty(STDERR_FILENO);

    keep_batch_memory();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        store_records_free(recs, n);
        recs = NULL;
        s = store_records(a->st, after, max_id, skip_kek, batch, &recs, &n);
        if (s != STORE_OK) {
            admin_db_failed(what, s);
            goto out;
        }
        if (n == 0)
            break;
        if (fn(a, recs, n, arg) != 0)
            goto out;
        after = recs[n - 1].id;
        seen += (long long)n;
        /* On a terminal, where an operator waits: how fast and how long. */
        if (tty) {
            double secs = seconds_since(&t0), rate = secs > 0 ? (double)seen / secs : 0;

            fprintf(stderr, "%s: %lld records up to id %lld, %.0f records/s, about %.0f s left\n",
                    what, seen, after, rate,
                    after < max_id && after > lo ? secs * (double)(max_id - after) /
                                                       (double)(after - lo) : 0.0);
        }
    }
    rc = 0;
out:
    store_records_free(recs, n);
    return rc;
}

int admin_each_batch(struct admin *a, const char *what, uint32_t skip_kek, int batch,
                     batch_fn fn, void *arg)
{
    long long max_id = 0;
    store_status s;

    if ((s = store_max_id(a->st, &max_id)) != STORE_OK)
        return admin_db_failed(what, s);
    return each_batch_range(a, what, skip_kek, batch, 0, max_id, fn, arg);
}

/* The id range (lo, hi] of every record, and how many of the jobs asked
 * for are worth it: a few batches' worth is not worth a second process.
 * 0, or 1 after saying why. */
static int id_range(struct admin *a, const char *what, int batch, long long *lo,
                    long long *hi, int *jobs)
{
    store_status s;

    if ((s = store_min_id(a->st, lo)) != STORE_OK || (s = store_max_id(a->st, hi)) != STORE_OK)
        return admin_db_failed(what, s);
    *lo = *lo > 0 ? *lo - 1 : 0;
    if (*hi - *lo < 2LL * batch)
        *jobs = 1;
    return 0;
}

/* ---- parallel ranges ------------------------------------------------------ */
/* jobs processes, process k on the id range (lo + (hi-lo)*k/jobs,
 * lo + (hi-lo)*(k+1)/jobs], each on a connection of its own (the parent's
 * is never touched by a child, not even to close it): run(a, from, to, k,
 * state) fills a copy of state, which goes back through a pipe and is
 * merged into the parent's. */
typedef int (*range_fn)(struct admin *a, long long from, long long to, int job, int jobs,
                        void *state);
typedef void (*merge_fn)(void *into, const void *from);

static int run_ranges(struct admin *a, long long lo, long long hi, int jobs, range_fn run,
                      void *state, size_t state_len, merge_fn merge)
{
    const char *conninfo = a->cfg.admin_database[0] ? a->cfg.admin_database : a->cfg.database;
    pid_t pids[ADMIN_JOBS_MAX];
    int fds[ADMIN_JOBS_MAX], started = 0, rc = 0;
    unsigned char got[256];

    if (state_len > sizeof(got))
        return 1;
    fflush(stdout);
    fflush(stderr);
    for (int k = 0; k < jobs; k++) {
        long long from = lo + (hi - lo) * k / jobs, to = lo + (hi - lo) * (k + 1) / jobs;
        int p[2];

        if (pipe(p) != 0) {
            rc = 1;
            break;
        }
        pids[k] = fork();
        if (pids[k] < 0) {
            close(p[0]);
            close(p[1]);
            rc = 1;
            break;
        }
        if (pids[k] == 0) {
            struct store *st = NULL;
            int crc = 1;

            close(p[0]);
            if (store_new(conninfo, &st) == STORE_OK) {
                a->st = st;
                admin_store = st;
                crc = run(a, from, to, k + 1, jobs, state);
            }
            if (write(p[1], state, state_len) != (ssize_t)state_len)
                crc = 1;
            fflush(stdout);
            fflush(stderr);
            store_free(st);
            _exit(crc);
        }
        close(p[1]);
        fds[k] = p[0];
        started++;
    }
    for (int k = 0; k < started; k++) {
        int wst = 0;

        if (read(fds[k], got, state_len) == (ssize_t)state_len)
            merge(state, got);
        else
            rc = 1;
        close(fds[k]);
        if (waitpid(pids[k], &wst, 0) != pids[k] || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
            rc = 1;
    }
    return rc;
}

/* ---- rewrap ------------------------------------------------------------ */
/* Reads envelopes only (the first 132 bytes of each record, never the
 * ciphertext), rewraps them in memory and writes a batch back with one
 * UPDATE (its own transaction); with --jobs N, N processes take one id
 * range each, on connections of their own. Safe to stop and run again:
 * a record already on the active KEK is skipped, one moved meanwhile by
 * another run is left alone (the UPDATE checks its old KEK). */

struct rewrap_state {
    uint32_t active;
    long long moved, skipped, seen;
};


/* Records with id in (lo, hi] of job (1-based, of jobs): rewrapped. */
static int rewrap_range(struct admin *a, struct store *st, long long lo, long long hi,
                        int batch, int job, int jobs, struct rewrap_state *rw)
{
    struct store_envelope *e = NULL;
    struct timespec t0;
    long long after = lo, updated;
    size_t n = 0;
    store_status s;
    int rc = 1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        double secs, rate;

        if (e != NULL)
            OPENSSL_cleanse(e, n * sizeof(*e));
        free(e);
        e = NULL;
        if ((s = store_envelopes(st, after, hi, rw->active, batch, &e, &n)) != STORE_OK) {
            admin_db_failed("rewrap", s);
            goto out;
        }
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            seal_status ss = seal_rewrap_envelope(a->kr, e[i].envelope, sizeof(e[i].envelope),
                                                  e[i].envelope);
            if (ss != SEAL_OK) {
                fprintf(stderr, "sharekeep: rewrap: record %lld (KEK %u): %s\n", e[i].id,
                        e[i].kek_id, seal_strerror(ss));
                goto out;
            }
        }
        if ((s = store_rewrap_batch(st, e, n, rw->active, &updated)) != STORE_OK) {
            admin_db_failed("rewrap", s);
            goto out;
        }
        rw->moved += updated;
        rw->skipped += (long long)n - updated;
        rw->seen += (long long)n;
        after = e[n - 1].id;
        secs = seconds_since(&t0);
        rate = secs > 0 ? (double)rw->seen / secs : 0;
        /* ids are dense enough that the share of the id range done is a
         * fair guess at the share of the work done. */
        fprintf(stderr, "rewrap: %s%d/%d: %lld records moved to KEK %u, %lld already moved, up to "
                "id %lld, %.0f records/s, about %.0f s left\n", jobs > 1 ? "job " : "", job, jobs,
                rw->moved, rw->active, rw->skipped, after, rate,
                after < hi && rate > 0 && after > lo
                    ? secs * (double)(hi - after) / (double)(after - lo) : 0.0);
    }
    rc = 0;
out:
    if (e != NULL)
        OPENSSL_cleanse(e, n * sizeof(*e));
    free(e);
    return rc;
}

/* The children's share of a parallel rewrap. */
struct rewrap_job {
    int batch;
    struct rewrap_state rw;
};

static int rewrap_job_run(struct admin *a, long long from, long long to, int job, int jobs,
                          void *state)
{
    struct rewrap_job *rj = state;

    /* The children start from zero; their counts are added to the parent's. */
    rj->rw.moved = rj->rw.skipped = rj->rw.seen = 0;
    return rewrap_range(a, a->st, from, to, rj->batch, job, jobs, &rj->rw);
}

static void rewrap_job_merge(void *into, const void *from)
{
    struct rewrap_job *t = into;
    const struct rewrap_job *f = from;

    t->rw.moved += f->rw.moved;
    t->rw.skipped += f->rw.skipped;
    t->rw.seen += f->rw.seen;
}

int admin_rewrap(const char *config_path, int argc, char **argv)
{
    struct rewrap_state rw = { 0 };
    struct admin a;
    long long lo = 0, hi = 0;
    int batch, jobs, rc;

    if ((rc = admin_parse_jobs(argc, argv, &batch, &jobs, "rewrap")) != 0)
        return rc < 0 ? 0 : rc;
    if (admin_open(config_path, &a, 1, 1) != 0)
        return 1;
    /* Records added while we run were sealed by workers: with the new KEK
     * once they have reloaded, and a later run picks up any others. */
    rw.active = keyring_active_id(a.kr);
    rc = 1;
    if (id_range(&a, "rewrap", batch, &lo, &hi, &jobs) != 0)
        goto out;
    if (jobs > 1) {
        struct rewrap_job rj = { batch, rw };

        rc = run_ranges(&a, lo, hi, jobs, rewrap_job_run, &rj, sizeof(rj), rewrap_job_merge);
        rw = rj.rw;
    } else {
        rc = rewrap_range(&a, a.st, lo, hi, batch, 1, 1, &rw);
    }
    if (rc == 0)
        printf("rewrap: done: %lld records moved to KEK %u (%lld checked)\n", rw.moved,
               rw.active, rw.seen);
out:
    admin_free(&a);
    return rc;
}

/* ---- verify ------------------------------------------------------------ */


struct verify_state {
    long long ok, failed;
};

/* The record's identity as the seal binds it: what verify and import open
 * it under. */
struct seal_context admin_record_context(const struct store_record *r)
{
    return (struct seal_context){
        .client_id = r->client_id,
        .client_id_len = strlen(r->client_id),
        .kind = (enum share_kind)r->kind,
        .version = r->version,
        .backup_method = r->backup_method,
        .backup_method_len = strlen(r->backup_method),
        .pair_id = r->pair_id,
        .pair_id_len = strlen(r->pair_id),
    };
}

/* A format 1 record binds no method or pair id: it opens only as a legacy
 * share. Says so when a failure is that case, else "". */
const char *admin_format_hint(const struct store_record *r)
{
    unsigned format = 0;

    if (seal_record_format(r->sealed, r->sealed_len, &format) == SEAL_OK && format == 1 &&
        (strcmp(r->backup_method, SEAL_METHOD_UNKNOWN) != 0 || r->pair_id[0] != '\0'))
        return " (a format 1 record opens only as backupMethod " SEAL_METHOD_UNKNOWN
               " without a pair id)";
    return "";
}

static int verify_batch(struct admin *a, const struct store_record *recs, size_t n, void *arg)
{
    struct verify_state *v = arg;

    for (size_t i = 0; i < n; i++) {
        struct seal_context ctx = admin_record_context(&recs[i]);
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        seal_status ss = seal_open(a->kr, &ctx, recs[i].sealed, recs[i].sealed_len, &plain,
                                   &plain_len);

        seal_buf_free(plain, plain_len);
        if (ss == SEAL_OK) {
            v->ok++;
            continue;
        }
        v->failed++;
        printf("verify: record %lld (%s %s version %u, KEK %u) does not open: %s%s\n",
               recs[i].id, admin_kind_name(recs[i].kind), recs[i].backup_method, recs[i].version,
               recs[i].kek_id, seal_strerror(ss), admin_format_hint(&recs[i]));
    }
    return 0;
}

struct verify_job {
    int batch;
    struct verify_state v;
};

static int verify_job_run(struct admin *a, long long from, long long to, int job, int jobs,
                          void *state)
{
    struct verify_job *vj = state;

    (void)job;
    (void)jobs;
    vj->v.ok = vj->v.failed = 0;
    return each_batch_range(a, "verify", 0, vj->batch, from, to, verify_batch, &vj->v);
}

static void verify_job_merge(void *into, const void *from)
{
    struct verify_job *t = into;
    const struct verify_job *f = from;

    t->v.ok += f->v.ok;
    t->v.failed += f->v.failed;
}

int admin_verify(const char *config_path, int argc, char **argv)
{
    struct verify_state v = { 0 };
    struct admin a;
    long long lo = 0, hi = 0;
    int batch, jobs, rc;

    if ((rc = admin_parse_jobs(argc, argv, &batch, &jobs, "verify")) != 0)
        return rc < 0 ? 0 : rc;
    if (admin_open(config_path, &a, 1, 1) != 0)
        return 1;
    if ((rc = id_range(&a, "verify", batch, &lo, &hi, &jobs)) != 0)
        goto out;
    if (jobs > 1) {
        struct verify_job vj = { batch, v };

        rc = run_ranges(&a, lo, hi, jobs, verify_job_run, &vj, sizeof(vj), verify_job_merge);
        v = vj.v;
    } else {
        rc = each_batch_range(&a, "verify", 0, batch, lo, hi, verify_batch, &v);
    }
    if (rc == 0) {
        printf("verify: %lld records, %lld opened, %lld failed\n", v.ok + v.failed, v.ok,
               v.failed);
        rc = v.failed == 0 ? 0 : 1;
    }
out:
    admin_free(&a);
    return rc;
}

/* ---- status ------------------------------------------------------------ */

int admin_status(const char *config_path, int argc, char **argv)
{
    struct admin a;
    struct store_method_count *methods = NULL;
    size_t nmethods = 0;
    uint32_t *ids = NULL;
    long long *counts = NULL;
    size_t n = 0;
    store_status s;
    int rc = 1;

    if (argc > 1) {
        usage_command(stderr, "status");
        return 2;
    }
    if (admin_open(config_path, &a, 1, 1) != 0)
        return 1;
    if ((s = store_kek_counts(a.st, &ids, &counts, &n)) != STORE_OK) {
        rc = admin_db_failed("status", s);
        goto out;
    }
    printf("active KEK: %u\n", keyring_active_id(a.kr));
    for (size_t i = 0; i < keyring_count(a.kr); i++) {
        uint32_t id;
        enum kek_state state;
        long long used = 0;

        if (keyring_key_info(a.kr, i, &id, &state) != KEYRING_OK)
            continue;
        for (size_t j = 0; j < n; j++)
            if (ids[j] == id)
                used = counts[j];
        printf("KEK %u: %s, %lld records, %s\n", id,
               state == KEK_ACTIVE ? "active" : state == KEK_DECRYPT ? "decrypt" : "retired",
               used, keyring_key_backend(a.kr, i) == KEK_BACKEND_PKCS11 ? "in the PKCS#11 token"
                                                                         : "in the key file");
    }
    for (size_t j = 0; j < n; j++) {
        enum kek_state state;
        if (keyring_state(a.kr, ids[j], &state) != KEYRING_OK)
            printf("KEK %u: NOT IN KEYRING, %lld records cannot be opened\n", ids[j], counts[j]);
    }
    /* An identity is one (client, pair id) within its kind and method: the
     * shares Portal keeps apart; each has one or more versions. */
    if ((s = store_method_counts(a.st, &methods, &nmethods)) != STORE_OK) {
        rc = admin_db_failed("status", s);
        goto out;
    }
    for (size_t j = 0; j < nmethods; j++)
        printf("%s %s: %lld records, %lld identities\n", admin_kind_name(methods[j].kind),
               methods[j].backup_method, methods[j].records, methods[j].identities);
    rc = 0;
out:
    free(methods);
    free(ids);
    free(counts);
    admin_free(&a);
    return rc;
}

/* ---- rotate / retire ----------------------------------------------------- */

static int admin_parse_backend(int argc, char **argv, const char *cmd, int *pkcs11)
{
    static const struct option opts[] = {
        { "backend", required_argument, NULL, 'B' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    optind = 0;   /* GNU getopt: start over on the subcommand's own argv */
    while ((c = getopt_long(argc, argv, "+B:h", opts, NULL)) != -1) {
        switch (c) {
        case 'B':
            if (strcmp(optarg, "file") == 0) {
                *pkcs11 = 0;
            } else if (strcmp(optarg, "pkcs11") == 0) {
                *pkcs11 = 1;
            } else {
                fprintf(stderr, "sharekeep: --backend must be file or pkcs11\n");
                return -2;
            }
            break;
        case 'h':
            usage_command(stdout, cmd);
            return -1;
        default:
            usage_command(stderr, cmd);
            return -2;
        }
    }
    return optind;
}

int admin_keygen(const char *config_path, int argc, char **argv)
{
    struct keyring_token_config tc;
    struct config cfg;
    char err[512];
    uint32_t id = 0;
    int rc = 1, pkcs11 = 0, first, have_cfg = 0;

    first = admin_parse_backend(argc, argv, "keygen", &pkcs11);
    if (first < 0)
        return first == -1 ? 0 : 2;
    if (first != argc - 1) {
        usage_command(stderr, "keygen");
        return 2;
    }
    /* A file KEK needs nothing but the path; a token KEK needs the token
     * settings from the config. */
    if (pkcs11) {
        if (config_load(config_path, environ, &cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "sharekeep: %s\n", err);
            return 1;
        }
        have_cfg = 1;
        if (cfg.pkcs11_uri[0] == '\0') {
            fprintf(stderr, "sharekeep: keygen --backend pkcs11: pkcs11_uri is not set in the "
                    "config\n");
            goto out;
        }
        config_token(&cfg, &tc);
    }
    if (keyring_file_add_key(argv[first], pkcs11 ? &tc : NULL, 1, 1, &id, err, sizeof(err)) !=
        KEYRING_OK) {
        fprintf(stderr, "sharekeep: %s\n", err);
        goto out;
    }
    printf(pkcs11 ? "wrote %s (one active KEK, id %u, generated inside the PKCS#11 token; "
                    "mode 0600)\n"
                  : "wrote %s (one active KEK, mode 0600)\n", argv[first], id);
    rc = 0;
    if (geteuid() == 0) {
        /* Written, as asked; but no sharekeep serves a root-owned key file,
         * and the lock file beside it is root's too. */
        const char *user = getpwnam("sharekeep") != NULL ? "sharekeep" : "USER";

        fprintf(stderr, "keygen: note: %s and %s.lock belong to root, and sharekeep uses key "
                "files only of the user it runs as (never root): chown %s %s %s.lock, for a "
                "service that runs as %s\n", argv[first], argv[first], user, argv[first],
                argv[first], user);
    }
out:
    if (have_cfg)
        config_free(&cfg);
    return rc;
}

int admin_rotate(const char *config_path, int argc, char **argv)
{
    struct keyring_token_config tc;
    struct admin a;
    char err[512];
    uint32_t id = 0;
    int rc = 1, pkcs11 = -1, first;

    first = admin_parse_backend(argc, argv, "rotate", &pkcs11);
    if (first < 0)
        return first == -1 ? 0 : 2;
    if (first != argc) {
        usage_command(stderr, "rotate");
        return 2;
    }
    if (admin_open(config_path, &a, 0, 0) != 0)
        return 1;
    config_token(&a.cfg, &tc);
    /* With a token configured, new KEKs are made in it unless asked not to:
     * that is how a deployment moves into an HSM (rotate, then rewrap). */
    if (pkcs11 < 0)
        pkcs11 = a.cfg.pkcs11_uri[0] != '\0';
    if (pkcs11 && a.cfg.pkcs11_uri[0] == '\0') {
        fprintf(stderr, "sharekeep: rotate --backend pkcs11: pkcs11_uri is not set in the "
                "config\n");
        goto out;
    }
    if (keyring_file_add_key(a.cfg.keyring, pkcs11 ? &tc : NULL, 0, 1, &id, err, sizeof(err)) !=
        KEYRING_OK) {
        fprintf(stderr, "sharekeep: %s\n", err);
        goto out;
    }
    printf("rotate: KEK %u is now active in %s%s\n"
           "next: reload sharekeep (SIGHUP), then run 'sharekeep rewrap'\n", id, a.cfg.keyring,
           pkcs11 ? " (generated inside the PKCS#11 token)" : "");
    rc = 0;
out:
    admin_free(&a);
    return rc;
}

int admin_retire(const char *config_path, int argc, char **argv)
{
    struct admin a;
    uint32_t *ids = NULL;
    long long *counts = NULL;
    size_t n = 0;
    char err[512], *end;
    unsigned long id;
    store_status s;
    int rc = 1;

    if (argc != 2) {
        usage_command(stderr, "retire");
        return 2;
    }
    errno = 0;
    id = strtoul(argv[1], &end, 10);
    if (errno != 0 || *end != '\0' || id == 0 || id > UINT32_MAX) {
        fprintf(stderr, "sharekeep: retire: '%s' is not a KEK id\n", argv[1]);
        return 2;
    }
    if (admin_open(config_path, &a, 1, 1) != 0)
        return 1;
    if (keyring_active_id(a.kr) == id) {
        fprintf(stderr, "sharekeep: retire: KEK %lu is active; run 'sharekeep rotate' first\n", id);
        goto out;
    }
    if ((s = store_kek_counts(a.st, &ids, &counts, &n)) != STORE_OK) {
        rc = admin_db_failed("retire", s);
        goto out;
    }
    for (size_t j = 0; j < n; j++)
        if (ids[j] == id && counts[j] > 0) {
            fprintf(stderr, "sharekeep: retire: KEK %lu still protects %lld records; run "
                    "'sharekeep rewrap' first\n", id, counts[j]);
            goto out;
        }
    if (keyring_file_retire(a.cfg.keyring, (uint32_t)id, err, sizeof(err)) != KEYRING_OK) {
        fprintf(stderr, "sharekeep: %s\n", err);
        goto out;
    }
    printf("retire: KEK %lu is retired in %s; reload sharekeep (SIGHUP)\n", id, a.cfg.keyring);
    rc = 0;
out:
    free(ids);
    free(counts);
    admin_free(&a);
    return rc;
}
