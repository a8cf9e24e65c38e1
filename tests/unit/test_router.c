/* Unit tests for router.c: each route with its method, 405 with the Allow
 * value, 404 for every near miss of a known path, a configurable webhooks
 * root, and the {clientId} parameter kept as raw (still encoded) text. */
#include <string.h>

#include "bounds.h"
#include "handlers/handlers.h"
#include "router.h"
#include "unit.h"

#define ROOT "/webhook"

/* Runs router_match and checks it found the row with this handler; returns
 * the match. */
static struct route_match match_ok(const char *root, const char *method, const char *path,
                                   route_handler handler, const char *name, int needs_body)
{
    struct route_match m;
    const char *allow = "sentinel";
    int rc = router_match(root, method, path, &m, &allow);

    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m.route);
    CU_ASSERT_PTR_EQUAL(m.route, &router_routes[m.index]);
    CU_ASSERT(m.route->handler == handler);
    CU_ASSERT_STRING_EQUAL(m.route->name, name);
    CU_ASSERT_STRING_EQUAL(m.route->method, method);
    CU_ASSERT_EQUAL(m.route->body == ROUTE_BODY_JSON, needs_body);
    CU_ASSERT_PTR_NULL(allow);
    return m;
}

static void expect_status(const char *root, const char *method, const char *path, int status,
                          const char *want_allow)
{
    struct route_match m;
    const char *allow = "sentinel";
    int rc = router_match(root, method, path, &m, &allow);

    CU_ASSERT_EQUAL(rc, status);
    if (want_allow == NULL) {
        CU_ASSERT_PTR_NULL(allow);
    } else {
        CU_ASSERT_PTR_NOT_NULL(allow);
        if (allow != NULL)
            CU_ASSERT_STRING_EQUAL(allow, want_allow);
    }
    /* A miss never leaves a half-filled match behind. */
    CU_ASSERT_PTR_NULL(m.route);
    CU_ASSERT_STRING_EQUAL(m.param, "");
}

static void test_post_root_backup_is_custodian_store(void)
{
    struct route_match m = match_ok(ROOT, "POST", "/webhook/backup", handle_custodian_store,
                                    "custodian.store", 1);

    CU_ASSERT_STRING_EQUAL(m.param, "");
}

static void test_post_root_backup_fetch_is_custodian_fetch(void)
{
    struct route_match m = match_ok(ROOT, "POST", "/webhook/backup/fetch",
                                    handle_custodian_fetch, "custodian.fetch", 1);

    CU_ASSERT_STRING_EQUAL(m.param, "");
}

static void test_post_client_backup_is_client_store_with_param(void)
{
    struct route_match m = match_ok(ROOT, "POST", "/portal/clients/client_42-x/backup",
                                    handle_client_store, "client.store", 1);

    CU_ASSERT_STRING_EQUAL(m.param, "client_42-x");
}

static void test_get_client_backup_is_client_fetch_with_param(void)
{
    struct route_match m = match_ok(ROOT, "GET", "/portal/clients/abc/backup",
                                    handle_client_fetch, "client.fetch", 0);

    CU_ASSERT_STRING_EQUAL(m.param, "abc");
}

static void test_get_healthz_is_health(void)
{
    struct route_match m = match_ok(ROOT, "GET", "/healthz", handle_health, "health", 0);

    CU_ASSERT_STRING_EQUAL(m.param, "");
}

static void test_wrong_method_on_root_backup_is_405_allow_post(void)
{
    expect_status(ROOT, "GET", "/webhook/backup", 405, "POST");
    expect_status(ROOT, "PUT", "/webhook/backup", 405, "POST");
    expect_status(ROOT, "DELETE", "/webhook/backup", 405, "POST");
}

static void test_wrong_method_on_backup_fetch_is_405_allow_post(void)
{
    expect_status(ROOT, "GET", "/webhook/backup/fetch", 405, "POST");
}

static void test_wrong_method_on_client_backup_is_405_allow_get_post(void)
{
    expect_status(ROOT, "DELETE", "/portal/clients/abc/backup", 405, "GET, HEAD, POST");
    expect_status(ROOT, "PUT", "/portal/clients/abc/backup", 405, "GET, HEAD, POST");
}

static void test_wrong_method_on_healthz_is_405_allow_get(void)
{
    expect_status(ROOT, "POST", "/healthz", 405, "GET, HEAD");
    expect_status(ROOT, "OPTIONS", "/healthz", 405, "GET, HEAD");
}

/* HEAD takes GET's row (the response then has no body); on a POST-only
 * path it is a 405 like any other method. */
static void test_head_takes_the_get_row(void)
{
    struct route_match m;
    const char *allow = "sentinel";

    CU_ASSERT_EQUAL(router_match(ROOT, "HEAD", "/healthz", &m, &allow), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m.route);
    CU_ASSERT(m.route->handler == handle_health);
    CU_ASSERT_EQUAL(router_match(ROOT, "HEAD", "/portal/clients/abc/backup", &m, &allow), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m.route);
    CU_ASSERT(m.route->handler == handle_client_fetch);
    CU_ASSERT_STRING_EQUAL(m.param, "abc");
    expect_status(ROOT, "HEAD", "/webhook/backup", 405, "POST");
}

static void test_method_match_is_case_sensitive(void)
{
    expect_status(ROOT, "get", "/healthz", 405, "GET, HEAD");
    expect_status(ROOT, "post", "/webhook/backup", 405, "POST");
}

static void test_trailing_slash_is_404(void)
{
    expect_status(ROOT, "POST", "/webhook/backup/", 404, NULL);
    expect_status(ROOT, "POST", "/webhook/backup/fetch/", 404, NULL);
    expect_status(ROOT, "GET", "/healthz/", 404, NULL);
    expect_status(ROOT, "GET", "/portal/clients/abc/backup/", 404, NULL);
}

static void test_prefix_only_paths_are_404(void)
{
    expect_status(ROOT, "POST", "/webhook", 404, NULL);
    expect_status(ROOT, "POST", "/webhook/", 404, NULL);
    expect_status(ROOT, "POST", "/", 404, NULL);
    expect_status(ROOT, "POST", "", 404, NULL);
    expect_status(ROOT, "GET", "/portal/clients/", 404, NULL);
    expect_status(ROOT, "GET", "/portal/clients/abc", 404, NULL);
    expect_status(ROOT, "GET", "/portal/clients/abc/", 404, NULL);
    expect_status(ROOT, "GET", "/health", 404, NULL);
}

static void test_near_miss_suffixes_are_404(void)
{
    expect_status(ROOT, "POST", "/webhook/backupx", 404, NULL);
    expect_status(ROOT, "POST", "/webhook/backup/fetchx", 404, NULL);
    expect_status(ROOT, "POST", "/webhook/backup/other", 404, NULL);
    expect_status(ROOT, "POST", "/webhookx/backup", 404, NULL);
    expect_status(ROOT, "GET", "/healthzx", 404, NULL);
    expect_status(ROOT, "GET", "/portal/clients/abc/backupx", 404, NULL);
}

static void test_other_root_is_404(void)
{
    expect_status(ROOT, "POST", "/hooks/backup", 404, NULL);
    expect_status(ROOT, "POST", "/other/webhook/backup", 404, NULL);
    expect_status(ROOT, "POST", "/WEBHOOK/backup", 404, NULL);
}

static void test_empty_client_segment_is_404(void)
{
    expect_status(ROOT, "GET", "/portal/clients//backup", 404, NULL);
    expect_status(ROOT, "POST", "/portal/clients//backup", 404, NULL);
}

static void test_client_segment_with_slash_is_404(void)
{
    expect_status(ROOT, "GET", "/portal/clients/a/b/backup", 404, NULL);
    expect_status(ROOT, "POST", "/portal/clients/a/b/backup", 404, NULL);
    expect_status(ROOT, "GET", "/portal/clients/a/backup/backup", 404, NULL);
}

static void test_custom_root_routes_custodian_paths(void)
{
    match_ok("/hooks/portal", "POST", "/hooks/portal/backup", handle_custodian_store,
             "custodian.store", 1);
    match_ok("/hooks/portal", "POST", "/hooks/portal/backup/fetch", handle_custodian_fetch,
             "custodian.fetch", 1);
    expect_status("/hooks/portal", "GET", "/hooks/portal/backup", 405, "POST");
}

static void test_custom_root_no_longer_serves_default_root(void)
{
    expect_status("/hooks/portal", "POST", "/webhook/backup", 404, NULL);
    expect_status("/hooks/portal", "POST", "/hooks/backup", 404, NULL);
    expect_status("/hooks/portal", "POST", "/hooks/portalx/backup", 404, NULL);
}

static void test_custom_root_keeps_fixed_routes(void)
{
    match_ok("/hooks/portal", "GET", "/healthz", handle_health, "health", 0);
    match_ok("/hooks/portal", "GET", "/portal/clients/abc/backup", handle_client_fetch,
             "client.fetch", 0);
}

static void test_client_param_keeps_raw_encoded_text(void)
{
    struct route_match m = match_ok(ROOT, "GET", "/portal/clients/a%2Fb/backup",
                                    handle_client_fetch, "client.fetch", 0);

    CU_ASSERT_STRING_EQUAL(m.param, "a%2Fb");
    m = match_ok(ROOT, "POST", "/portal/clients/%2E%2E/backup", handle_client_store,
                 "client.store", 1);
    CU_ASSERT_STRING_EQUAL(m.param, "%2E%2E");
    /* Not a valid client id either; that is the handler's 422, not a 404. */
    m = match_ok(ROOT, "GET", "/portal/clients/..;x/backup", handle_client_fetch,
                 "client.fetch", 0);
    CU_ASSERT_STRING_EQUAL(m.param, "..;x");
}

static void test_long_client_param_is_copied_whole(void)
{
    static const char prefix[] = "/portal/clients/";
    static const char suffix[] = "/backup";
    char path[PATH_MAX_LEN + 1];
    size_t idlen = PATH_MAX_LEN - (sizeof(prefix) - 1) - (sizeof(suffix) - 1);
    struct route_match m;

    memcpy(path, prefix, sizeof(prefix) - 1);
    memset(path + sizeof(prefix) - 1, 'x', idlen);
    memcpy(path + sizeof(prefix) - 1 + idlen, suffix, sizeof(suffix));
    CU_ASSERT_EQUAL(strlen(path), PATH_MAX_LEN);
    m = match_ok(ROOT, "GET", path, handle_client_fetch, "client.fetch", 0);
    CU_ASSERT_EQUAL(strlen(m.param), idlen);
    CU_ASSERT_EQUAL(strspn(m.param, "x"), idlen);
}

static void test_match_clears_previous_param(void)
{
    struct route_match m;
    const char *allow;

    CU_ASSERT_EQUAL(router_match(ROOT, "GET", "/portal/clients/abc/backup", &m, &allow), 0);
    CU_ASSERT_STRING_EQUAL(m.param, "abc");
    CU_ASSERT_EQUAL(router_match(ROOT, "GET", "/healthz", &m, &allow), 0);
    CU_ASSERT_STRING_EQUAL(m.param, "");
}

static void test_metrics_route_is_routed(void)
{
    match_ok(ROOT, "GET", "/metrics", handle_metrics, "metrics", 0);
    expect_status(ROOT, "POST", "/metrics", 405, "GET, HEAD");
}

/* What each row promises, checked row by row: share routes audit every
 * outcome and name a credential, operational ones do neither. */
static void test_every_row_says_auth_body_and_audit(void)
{
    for (size_t i = 0; i < router_nroutes; i++) {
        const struct route *r = &router_routes[i];
        int share_route = strncmp(r->name, "custodian.", 10) == 0 ||
                          strncmp(r->name, "client.", 7) == 0;

        CU_ASSERT_PTR_NOT_NULL(r->handler);
        CU_ASSERT_EQUAL(r->audit == ROUTE_AUDIT_ALL, share_route);
        if (share_route)
            CU_ASSERT(r->auth == ROUTE_AUTH_WEBHOOK || r->auth == ROUTE_AUTH_CLIENT);
        CU_ASSERT_EQUAL(r->body == ROUTE_BODY_JSON, strcmp(r->method, "POST") == 0);
        for (size_t j = 0; j < i; j++)
            CU_ASSERT(strcmp(router_routes[j].name, r->name) != 0);
    }
}

int unit_register(void)
{
    static const struct unit_test match_tests[] = {
        { "POST root/backup is custodian.store", test_post_root_backup_is_custodian_store },
        { "POST root/backup/fetch is custodian.fetch",
          test_post_root_backup_fetch_is_custodian_fetch },
        { "POST client backup is client.store with param",
          test_post_client_backup_is_client_store_with_param },
        { "GET client backup is client.fetch with param",
          test_get_client_backup_is_client_fetch_with_param },
        { "GET /healthz is health", test_get_healthz_is_health },
        { "client param keeps raw encoded text", test_client_param_keeps_raw_encoded_text },
        { "long client param is copied whole", test_long_client_param_is_copied_whole },
        { "a match clears the previous param", test_match_clears_previous_param },
        { "GET /metrics is metrics", test_metrics_route_is_routed },
        { "every row says its auth, body and audit policy",
          test_every_row_says_auth_body_and_audit },
        { NULL, NULL },
    };
    static const struct unit_test method_tests[] = {
        { "wrong method on root/backup is 405 Allow POST",
          test_wrong_method_on_root_backup_is_405_allow_post },
        { "wrong method on backup/fetch is 405 Allow POST",
          test_wrong_method_on_backup_fetch_is_405_allow_post },
        { "wrong method on client backup is 405 Allow GET, HEAD, POST",
          test_wrong_method_on_client_backup_is_405_allow_get_post },
        { "wrong method on /healthz is 405 Allow GET, HEAD",
          test_wrong_method_on_healthz_is_405_allow_get },
        { "method match is case-sensitive", test_method_match_is_case_sensitive },
        { "HEAD takes the GET row", test_head_takes_the_get_row },
        { NULL, NULL },
    };
    static const struct unit_test miss_tests[] = {
        { "trailing slash is 404", test_trailing_slash_is_404 },
        { "prefix-only paths are 404", test_prefix_only_paths_are_404 },
        { "near-miss suffixes are 404", test_near_miss_suffixes_are_404 },
        { "another root is 404", test_other_root_is_404 },
        { "empty client segment is 404", test_empty_client_segment_is_404 },
        { "client segment with a slash is 404", test_client_segment_with_slash_is_404 },
        { NULL, NULL },
    };
    static const struct unit_test root_tests[] = {
        { "custom root routes custodian paths", test_custom_root_routes_custodian_paths },
        { "custom root no longer serves /webhook",
          test_custom_root_no_longer_serves_default_root },
        { "custom root keeps the fixed routes", test_custom_root_keeps_fixed_routes },
        { NULL, NULL },
    };

    if (unit_add_suite("router: matches", match_tests) != 0 ||
        unit_add_suite("router: 405", method_tests) != 0 ||
        unit_add_suite("router: 404", miss_tests) != 0)
        return -1;
    return unit_add_suite("router: webhooks_root", root_tests);
}
