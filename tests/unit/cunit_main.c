#include <stdio.h>
#include <stdlib.h>

#include <CUnit/Basic.h>

#include "unit.h"

int unit_add_suite(const char *name, const struct unit_test *tests)
{
    CU_pSuite suite = CU_add_suite(name, NULL, NULL);
    if (suite == NULL)
        return -1;
    for (; tests->name != NULL; tests++)
        if (CU_add_test(suite, tests->name, tests->fn) == NULL)
            return -1;
    return 0;
}

int main(void)
{
    unsigned int failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 99;
    if (unit_register() != 0) {
        fprintf(stderr, "registering suites failed: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        return 99;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    /* CUnit counts a test that failed to run as "inactive"/error, not failed. */
    if (CU_get_error() != CUE_SUCCESS)
        failures++;
    CU_cleanup_registry();
    return failures == 0 ? 0 : 1;
}
