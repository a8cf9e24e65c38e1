/* What the admin commands (admin.c, admin_transfer.c) share. */
#ifndef SHAREKEEP_ADMIN_INT_H
#define SHAREKEEP_ADMIN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "keyring.h"
#include "seal.h"
#include "store.h"

struct admin {
    struct config cfg;
    struct keyring *kr;
    struct store *st;
};

/* Loads the config (and the keyring, and a handle on admin_database, as
 * asked). 0, or -1 after printing why. */
int admin_open(const char *config_path, struct admin *a, int need_keyring, int need_db);
void admin_free(struct admin *a);

const char *admin_kind_name(int kind);
/* The identity a record is sealed under, as its row names it. */
struct seal_context admin_record_context(const struct store_record *r);
/* Why a record may not open that one would not guess: "" or a note. */
const char *admin_format_hint(const struct store_record *r);
/* Prints a database failure of what; returns 1 (the exit status). A
 * permission error (42501) names the database user and admin_database. */
int admin_db_failed(const char *what, store_status s);
/* The lines after a database user was refused: which setting names the
 * admin commands' role, what it is now, and what to set it to. */
void admin_role_advice(void);
/* --batch N and --help of the batch commands: 0, -1 after --help, or 2. */
int admin_parse_batch(int argc, char **argv, int *batch, const char *cmd);
/* admin_parse_batch plus --jobs N (default: the CPUs online, at most
 * ADMIN_JOBS_MAX): how many processes share the work. */
int admin_parse_jobs(int argc, char **argv, int *batch, int *jobs, const char *cmd);

/* Calls fn for each batch of at most `batch` records, in id order, up to the
 * highest id when it starts (records added meanwhile belong to a later run);
 * records under KEK skip_kek are left out (0: none). Returns 0, or 1 after a
 * failure (reported) or when fn returns non-zero. */
typedef int (*batch_fn)(struct admin *a, const struct store_record *recs, size_t n, void *arg);
int admin_each_batch(struct admin *a, const char *what, uint32_t skip_kek, int batch,
                     batch_fn fn, void *arg);

#endif
