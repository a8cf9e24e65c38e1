/* Unit tests for identity.c: how a request body names a share's identity
 * (backupMethod, backupSharePairId), Portal's real shapes among them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "bounds.h"
#include "identity.h"
#include "unit.h"

struct got {
    int rc;
    char method[BACKUP_METHOD_MAX + 1];
    char pair[PAIR_ID_MAX + 1];
    const char *why;
};

/* Parses the body, then reads its identity with the body's "share" field. */
static struct got identity_of(const char *json)
{
    struct body_doc doc = { 0 };
    struct got g;
    const char *share = "", *why = NULL;
    size_t share_len = 0;

    memset(&g, 0, sizeof(g));
    CU_ASSERT_EQUAL_FATAL(body_parse((const uint8_t *)json, strlen(json), &doc, &why), BODY_OK);
    (void)body_get_string(&doc, "share", &share, &share_len);
    g.rc = identity_method(&doc, g.method, &g.why);
    if (g.rc == 0)
        g.rc = identity_pair_id(&doc, share, share_len, g.pair, &g.why);
    if (g.rc != 0)
        CU_ASSERT_PTR_NOT_NULL(g.why);
    body_doc_free(&doc);
    return g;
}

static void test_method_given_is_kept_exactly(void)
{
    struct got g = identity_of("{\"share\":\"s\",\"backupMethod\":\"PASSWORD-SECP256K1\"}");

    CU_ASSERT_EQUAL(g.rc, 0);
    CU_ASSERT_STRING_EQUAL(g.method, "PASSWORD-SECP256K1");
    CU_ASSERT_STRING_EQUAL(g.pair, "");
    /* A value Portal has not used yet is a value like any other. */
    g = identity_of("{\"share\":\"s\",\"backupMethod\":\"some new Method ~!\"}");
    CU_ASSERT_EQUAL(g.rc, 0);
    CU_ASSERT_STRING_EQUAL(g.method, "some new Method ~!");
}

static void test_method_absent_or_null_is_unknown(void)
{
    struct got g = identity_of("{\"share\":\"s\"}");

    CU_ASSERT_EQUAL(g.rc, 0);
    CU_ASSERT_STRING_EQUAL(g.method, "UNKNOWN");
    g = identity_of("{\"share\":\"s\",\"backupMethod\":null}");
    CU_ASSERT_EQUAL(g.rc, 0);
    CU_ASSERT_STRING_EQUAL(g.method, "UNKNOWN");
}

static void test_method_bounds_and_types(void)
{
    char body[256], m[BACKUP_METHOD_MAX + 2];
    static const char *const bad[] = {
        "{\"backupMethod\":\"\"}", "{\"backupMethod\":7}", "{\"backupMethod\":true}",
        "{\"backupMethod\":{\"a\":\"b\"}}", "{\"backupMethod\":[\"GDRIVE\"]}",
        "{\"backupMethod\":\"TAB\\there\"}", "{\"backupMethod\":\"caf\\u00e9\"}",
        "{\"backupMethod\":\"NUL\\u0000\"}", "{\"backupMethod\":\"DEL\\u007f\"}",
    };
    struct got g;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        g = identity_of(bad[i]);
        CU_ASSERT_EQUAL(g.rc, -1);
        if (g.why != NULL)
            CU_ASSERT_PTR_NOT_NULL(strstr(g.why, "backupMethod"));
    }
    memset(m, 'M', sizeof(m));
    m[BACKUP_METHOD_MAX] = '\0';
    snprintf(body, sizeof(body), "{\"backupMethod\":\"%s\"}", m);
    g = identity_of(body);
    CU_ASSERT_EQUAL(g.rc, 0);
    CU_ASSERT_EQUAL(strlen(g.method), BACKUP_METHOD_MAX);
    m[BACKUP_METHOD_MAX] = 'M';
    m[BACKUP_METHOD_MAX + 1] = '\0';
    snprintf(body, sizeof(body), "{\"backupMethod\":\"%s\"}", m);
    CU_ASSERT_EQUAL(identity_of(body).rc, -1);
}

static void test_pair_id_top_level_wins(void)
{
    struct got g = identity_of(
        "{\"share\":\"{\\\"backupSharePairId\\\":\\\"inner\\\"}\",\"backupSharePairId\":\"outer\"}");

    CU_ASSERT_EQUAL(g.rc, 0);
    CU_ASSERT_STRING_EQUAL(g.pair, "outer");
}

static void test_pair_id_from_portal_share(void)
{
    /* Portal's share: a JSON-stringified object with nested parameters. */
    struct got g = identity_of(
        "{\"clientId\":\"c1\",\"backupMethod\":\"GDRIVE-ED25519\",\"share\":"
        "\"{\\\"clientId\\\":\\\"c1\\\",\\\"backupSharePairId\\\":\\\"cmdguzcsh155lzqjweb2xkeq0\\\","
        "\\\"share\\\":\\\"0x1234\\\",\\\"bks\\\":{\\\"client\\\":{\\\"X\\\":\\\"1\\\",\\\"Rank\\\":0}},"
        "\\\"pederson\\\":{\\\"client\\\":{\\\"n\\\":\\\"9\\\",\\\"s\\\":\\\"8\\\"}}}\"}");

    CU_ASSERT_EQUAL(g.rc, 0);
    CU_ASSERT_STRING_EQUAL(g.method, "GDRIVE-ED25519");
    CU_ASSERT_STRING_EQUAL(g.pair, "cmdguzcsh155lzqjweb2xkeq0");
}

static void test_pair_id_none(void)
{
    static const char *const none[] = {
        "{\"share\":\"not json at all\"}",
        "{\"share\":\"[\\\"an\\\",\\\"array\\\"]\"}",
        "{\"share\":\"{\\\"other\\\":1}\"}",
        "{\"share\":\"{\\\"backupSharePairId\\\":null}\"}",
        "{\"share\":\"{\\\"backupSharePairId\\\":42}\"}",
        "{\"share\":\"{\\\"backupSharePairId\\\":\\\"\\\"}\"}",
        "{\"share\":\"{\\\"backupSharePairId\\\":\\\"x\\\"\"}",          /* truncated JSON */
        "{\"share\":\"{\\\"a\\\":{\\\"backupSharePairId\\\":\\\"deep\\\"}}\"}", /* not top level */
        "{\"share\":\"s\",\"backupSharePairId\":null}",
    };

    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        struct got g = identity_of(none[i]);

        CU_ASSERT_EQUAL(g.rc, 0);
        CU_ASSERT_STRING_EQUAL(g.pair, "");
    }
}

static void test_pair_id_bounds(void)
{
    char body[1024], p[PAIR_ID_MAX + 2];
    struct got g;

    memset(p, 'p', sizeof(p));
    p[PAIR_ID_MAX] = '\0';
    snprintf(body, sizeof(body), "{\"share\":\"s\",\"backupSharePairId\":\"%s\"}", p);
    g = identity_of(body);
    CU_ASSERT_EQUAL(g.rc, 0);
    CU_ASSERT_EQUAL(strlen(g.pair), PAIR_ID_MAX);
    snprintf(body, sizeof(body), "{\"share\":\"{\\\"backupSharePairId\\\":\\\"%s\\\"}\"}", p);
    g = identity_of(body);
    CU_ASSERT_EQUAL(g.rc, 0);
    CU_ASSERT_EQUAL(strlen(g.pair), PAIR_ID_MAX);

    p[PAIR_ID_MAX] = 'p';
    p[PAIR_ID_MAX + 1] = '\0';
    snprintf(body, sizeof(body), "{\"share\":\"s\",\"backupSharePairId\":\"%s\"}", p);
    CU_ASSERT_EQUAL(identity_of(body).rc, -1);
    snprintf(body, sizeof(body), "{\"share\":\"{\\\"backupSharePairId\\\":\\\"%s\\\"}\"}", p);
    g = identity_of(body);
    CU_ASSERT_EQUAL(g.rc, -1);
    if (g.why != NULL)
        CU_ASSERT_PTR_NOT_NULL(strstr(g.why, "share"));
    CU_ASSERT_EQUAL(identity_of("{\"share\":\"s\",\"backupSharePairId\":\"\"}").rc, -1);
    CU_ASSERT_EQUAL(identity_of("{\"share\":\"s\",\"backupSharePairId\":5}").rc, -1);
    CU_ASSERT_EQUAL(identity_of("{\"share\":\"s\",\"backupSharePairId\":\"a\\nb\"}").rc, -1);
    CU_ASSERT_EQUAL(
        identity_of("{\"share\":\"{\\\"backupSharePairId\\\":\\\"a\\\\u0001b\\\"}\"}").rc, -1);
}

int unit_register(void)
{
    static const struct unit_test tests[] = {
        { "a given backupMethod is kept exactly", test_method_given_is_kept_exactly },
        { "absent or null backupMethod is UNKNOWN", test_method_absent_or_null_is_unknown },
        { "backupMethod types and bounds", test_method_bounds_and_types },
        { "a top-level backupSharePairId wins over the share's",
          test_pair_id_top_level_wins },
        { "the pair id inside a Portal share", test_pair_id_from_portal_share },
        { "shares without a usable pair id have none", test_pair_id_none },
        { "pair id types and bounds", test_pair_id_bounds },
        { NULL, NULL },
    };

    return unit_add_suite("identity", tests);
}
