/* A private temp dir per test, shared by the suites that read key and
 * secret files (keyring, webhook secrets, JWT keys). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"

char unit_tmpdir[64];
static char pathbuf[256];

void unit_tmp_setup(const char *tag)
{
    snprintf(unit_tmpdir, sizeof(unit_tmpdir), "/tmp/sharekeep-%s-XXXXXX", tag);
    if (mkdtemp(unit_tmpdir) == NULL) {
        unit_tmpdir[0] = '\0';
        CU_FAIL_FATAL("mkdtemp failed");
    }
}

void unit_tmp_teardown(void)
{
    DIR *d;
    struct dirent *e;
    char p[384];

    if (unit_tmpdir[0] == '\0')
        return;
    d = opendir(unit_tmpdir);
    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof(p), "%s/%s", unit_tmpdir, e->d_name);
            if (unlink(p) != 0)
                (void)rmdir(p);
        }
        closedir(d);
    }
    (void)rmdir(unit_tmpdir);
    unit_tmpdir[0] = '\0';
}

const char *unit_tmp_path(const char *name)
{
    snprintf(pathbuf, sizeof(pathbuf), "%s/%s", unit_tmpdir, name);
    return pathbuf;
}

const char *unit_write_file_n(const char *name, const char *text, size_t len, mode_t mode)
{
    const char *p = unit_tmp_path(name);
    FILE *f = fopen(p, "w");

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(text, 1, len, f), len);
    CU_ASSERT_EQUAL(fclose(f), 0);
    CU_ASSERT_EQUAL(chmod(p, mode), 0);
    return p;
}

const char *unit_write_file(const char *name, const char *text, mode_t mode)
{
    return unit_write_file_n(name, text, strlen(text), mode);
}
