/* Shared CUnit runner: each test binary defines unit_register(), which adds
 * its suites; cunit_main.c runs them all and exits non-zero on any failure. */
#ifndef SHAREKEEP_UNIT_H
#define SHAREKEEP_UNIT_H

#include <stddef.h>
#include <sys/types.h>

#include <CUnit/CUnit.h>

/* Returns 0 on success, non-zero if a suite could not be registered. */
int unit_register(void);

/* Adds a suite with the given tests (NULL-terminated by name). */
struct unit_test { const char *name; CU_TestFunc fn; };
int unit_add_suite(const char *name, const struct unit_test *tests);

/* A private temp dir for one test (unit_tmp.c): unit_tmp_setup at its
 * start, unit_tmp_teardown at its end. Paths come back in a static buffer
 * that the next call reuses. */
extern char unit_tmpdir[64];
void unit_tmp_setup(const char *tag);
void unit_tmp_teardown(void);
const char *unit_tmp_path(const char *name);
/* Writes text (len bytes) to unit_tmpdir/name with mode; returns the path. */
const char *unit_write_file_n(const char *name, const char *text, size_t len, mode_t mode);
const char *unit_write_file(const char *name, const char *text, mode_t mode);

#endif
