#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "file.h"
#include "log.h"
#include "migrate.h"
#include "store.h"

/* NNN_anything.sql: the number fixes the order, so names sort as applied. */
static int is_migration(const struct dirent *d)
{
    size_t n = strlen(d->d_name);

    return n > 8 && isdigit((unsigned char)d->d_name[0]) && isdigit((unsigned char)d->d_name[1]) &&
           isdigit((unsigned char)d->d_name[2]) && d->d_name[3] == '_' &&
           strcmp(d->d_name + n - 4, ".sql") == 0;
}

/* Says why migration name failed; a permission error (42501) names the
 * database user and the setting to fix: migrate creates the schema, so it
 * must log in as the database's owner, not as the runtime or admin role. */
static void migrate_failed(struct store *st, const char *name, store_status s)
{
    char user[64] = "?";
    int member = 0;

    if (strcmp(store_last_sqlstate(st), "42501") != 0) {
        fprintf(stderr, "sharekeep migrate: %s failed: %s (see the log line above)\n", name,
                store_strerror(s));
        return;
    }
    if (store_admin_role(st, user, &member) != STORE_OK)
        snprintf(user, sizeof(user), "?");
    fprintf(stderr, "sharekeep migrate: %s failed: permission denied for database user %s "
            "(sqlstate 42501).\n"
            "  migrate connects with the config's database (or SHAREKEEP_DATABASE) and must log\n"
            "  in as the database's owner, e.g. SHAREKEEP_DATABASE='... user=sharekeep_owner'\n"
            "  sharekeep migrate\n", name, user);
}

int migrate_run(const struct config *cfg)
{
    struct dirent **list = NULL;
    struct store *st = NULL;
    int n, rc = 1;

    n = scandir(cfg->sql_dir, &list, is_migration, alphasort);
    if (n < 0) {
        fprintf(stderr, "sharekeep migrate: cannot read %s: %s\n", cfg->sql_dir, strerror(errno));
        return 1;
    }
    if (n == 0) {
        fprintf(stderr, "sharekeep migrate: no NNN_*.sql files in %s\n", cfg->sql_dir);
        goto out;
    }
    if (store_new(cfg->database, &st) != STORE_OK)
        goto out;
    for (int i = 0; i < n; i++) {
        char path[4096], err[512];
        uint8_t *sql = NULL;
        size_t sql_len = 0;
        int applied = 0;
        store_status s;

        snprintf(path, sizeof(path), "%s/%s", cfg->sql_dir, list[i]->d_name);
        if (file_read(NULL, path, MIGRATION_FILE_MAX, FILE_PLAIN, &sql, &sql_len, err,
                      sizeof(err)) != FILE_OK) {
            fprintf(stderr, "sharekeep migrate: cannot read %s\n", err);
            goto out;
        }
        s = store_migrate(st, list[i]->d_name, (const char *)sql, &applied);
        file_free(sql, sql_len);
        if (s != STORE_OK) {
            migrate_failed(st, list[i]->d_name, s);
            goto out;
        }
        printf("%s %s\n", applied ? "applied" : "present", list[i]->d_name);
    }
    rc = 0;
out:
    store_free(st);
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return rc;
}
