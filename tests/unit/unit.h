/* Shared CUnit runner: each test binary defines unit_register(), which adds
 * its suites; cunit_main.c runs them all and exits non-zero on any failure. */
#ifndef SHAREKEEP_UNIT_H
#define SHAREKEEP_UNIT_H

#include <CUnit/CUnit.h>

/* Returns 0 on success, non-zero if a suite could not be registered. */
int unit_register(void);

/* Adds a suite with the given tests (NULL-terminated by name). */
struct unit_test { const char *name; CU_TestFunc fn; };
int unit_add_suite(const char *name, const struct unit_test *tests);

#endif
