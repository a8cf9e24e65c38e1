/* Unit tests for http.c: request fields from CGI-style parameters, request
 * ids, the bounded JSON body read (through an in-memory http_io), error
 * bodies and the exact shape of what http_send writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bounds.h"
#include "http.h"
#include "unit.h"

/* ---- in-memory transport ---------------------------------------------- */

struct mem_io {
    const char *in;
    size_t in_len;
    size_t in_pos;
    size_t chunk;          /* most bytes one read returns; 0 = no limit */
    int reads;             /* read calls so far */
    int fail_at_read;      /* this read call (1-based) returns -1; 0 = never */
    char out[16384];
    size_t out_len;
    int fail_write;
};

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
    struct mem_io *m = ctx;
    size_t left = m->in_len - m->in_pos;

    m->reads++;
    if (m->fail_at_read != 0 && m->reads >= m->fail_at_read)
        return -1;
    if (n > left)
        n = left;
    if (m->chunk != 0 && n > m->chunk)
        n = m->chunk;
    memcpy(buf, m->in + m->in_pos, n);
    m->in_pos += n;
    return (ssize_t)n;
}

static int mem_write(void *ctx, const void *buf, size_t n)
{
    struct mem_io *m = ctx;

    if (m->fail_write || n > sizeof(m->out) - 1 - m->out_len)
        return -1;
    memcpy(m->out + m->out_len, buf, n);
    m->out_len += n;
    m->out[m->out_len] = '\0';
    return 0;
}

static struct mem_io *mem_new(const char *in, size_t len)
{
    struct mem_io *m = calloc(1, sizeof(*m));

    if (m != NULL) {
        m->in = in;
        m->in_len = len;
    }
    return m;
}

static struct http_io io_of(struct mem_io *m)
{
    struct http_io io = { mem_read, mem_write, m };

    return io;
}

/* ---- helpers ---------------------------------------------------------- */

static int init(char *const *envp, struct http_request *req, struct http_response *res)
{
    memset(res, 0, sizeof(*res));
    return http_request_init(req, envp, res);
}

/* Checks res holds status and {"error":{"code":code,"message":<string>}}. */
static void assert_error_body(const struct http_response *res, int status, const char *code)
{
    struct json_object *root, *err = NULL, *c = NULL, *msg = NULL;

    CU_ASSERT_EQUAL(res->status, status);
    CU_ASSERT_PTR_NOT_NULL_FATAL(res->body);
    CU_ASSERT_EQUAL(strlen(res->body), res->body_len);
    root = json_tokener_parse(res->body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_TRUE(json_object_is_type(root, json_type_object));
    CU_ASSERT_EQUAL(json_object_object_length(root), 1);
    CU_ASSERT_TRUE(json_object_object_get_ex(root, "error", &err));
    CU_ASSERT_TRUE(json_object_is_type(err, json_type_object));
    CU_ASSERT_TRUE(json_object_object_get_ex(err, "code", &c));
    CU_ASSERT_TRUE(json_object_object_get_ex(err, "message", &msg));
    CU_ASSERT_TRUE(json_object_is_type(c, json_type_string));
    CU_ASSERT_TRUE(json_object_is_type(msg, json_type_string));
    if (json_object_is_type(c, json_type_string))
        CU_ASSERT_STRING_EQUAL(json_object_get_string(c), code);
    if (json_object_is_type(msg, json_type_string))
        CU_ASSERT_TRUE(json_object_get_string_len(msg) > 0);
    json_object_put(root);
}

static int is_random_id(const char *id)
{
    return strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32;
}

/* Env with a POST, a JSON content type and the given CONTENT_LENGTH
 * ("" leaves it out). */
struct body_env {
    char cl[64];
    char *env[5];
};

static void body_env_set(struct body_env *e, const char *ctype_var, const char *cl)
{
    size_t i = 0;

    e->env[i++] = "REQUEST_METHOD=POST";
    e->env[i++] = "REQUEST_URI=/webhook/backup";
    if (ctype_var != NULL)
        e->env[i++] = (char *)ctype_var;
    if (cl[0] != '\0') {
        snprintf(e->cl, sizeof(e->cl), "CONTENT_LENGTH=%s", cl);
        e->env[i++] = e->cl;
    }
    e->env[i] = NULL;
}

/* Runs init + read_json_body for input in; returns the read status. */
static int read_body(const char *ctype_var, const char *cl, const char *in, size_t in_len,
                     size_t max_body, struct mem_io **mio, struct http_request *req,
                     struct http_response *res)
{
    struct body_env e;
    struct http_io io;
    struct mem_io *m = mem_new(in, in_len);

    *mio = m;
    if (m == NULL) {
        CU_FAIL("out of memory");
        return -1;
    }
    body_env_set(&e, ctype_var, cl);
    if (init(e.env, req, res) != 0) {
        CU_FAIL("request init failed");
        return -1;
    }
    io = io_of(m);
    return http_request_read_json_body(req, &io, max_body, res);
}

#define JSON_CT "CONTENT_TYPE=application/json"

/* ---- http_request_init ------------------------------------------------ */

static void test_init_reads_method_path_type_and_length(void)
{
    char *env[] = { "PATH=/usr/bin", "REQUEST_METHOD=POST", "REQUEST_URI=/webhook/backup",
                    JSON_CT, "CONTENT_LENGTH=42", NULL };
    struct http_request req;
    struct http_response res;

    CU_ASSERT_EQUAL_FATAL(init(env, &req, &res), 0);
    CU_ASSERT_STRING_EQUAL(req.method, "POST");
    CU_ASSERT_STRING_EQUAL(req.path, "/webhook/backup");
    CU_ASSERT_STRING_EQUAL(req.content_type, "application/json");
    CU_ASSERT_EQUAL(req.content_length, 42);
    CU_ASSERT_PTR_NULL(req.body);
    CU_ASSERT_PTR_NULL(res.body);
    http_request_free(&req);
}

static void test_init_path_drops_query_and_fragment(void)
{
    char *q[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/portal/clients/a/backup?x=1&y=/z", NULL };
    char *f[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/healthz#top", NULL };
    char *e[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/healthz?", NULL };
    struct http_request req;
    struct http_response res;

    CU_ASSERT_EQUAL(init(q, &req, &res), 0);
    CU_ASSERT_STRING_EQUAL(req.path, "/portal/clients/a/backup");
    CU_ASSERT_EQUAL(init(f, &req, &res), 0);
    CU_ASSERT_STRING_EQUAL(req.path, "/healthz");
    CU_ASSERT_EQUAL(init(e, &req, &res), 0);
    CU_ASSERT_STRING_EQUAL(req.path, "/healthz");
}

static void test_init_path_keeps_percent_encoding_raw(void)
{
    char *env[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/portal/clients/a%2Fb/backup", NULL };
    struct http_request req;
    struct http_response res;

    CU_ASSERT_EQUAL(init(env, &req, &res), 0);
    CU_ASSERT_STRING_EQUAL(req.path, "/portal/clients/a%2Fb/backup");
}

static void test_init_falls_back_to_script_name_and_path_info(void)
{
    char *both[] = { "REQUEST_METHOD=POST", "SCRIPT_NAME=/webhook", "PATH_INFO=/backup", NULL };
    char *empty_uri[] = { "REQUEST_METHOD=POST", "REQUEST_URI=", "SCRIPT_NAME=/webhook",
                          "PATH_INFO=/backup/fetch", NULL };
    char *info_only[] = { "REQUEST_METHOD=GET", "PATH_INFO=/healthz", NULL };
    char *script_only[] = { "REQUEST_METHOD=GET", "SCRIPT_NAME=/healthz", NULL };
    struct http_request req;
    struct http_response res;

    CU_ASSERT_EQUAL(init(both, &req, &res), 0);
    CU_ASSERT_STRING_EQUAL(req.path, "/webhook/backup");
    CU_ASSERT_EQUAL(init(empty_uri, &req, &res), 0);
    CU_ASSERT_STRING_EQUAL(req.path, "/webhook/backup/fetch");
    CU_ASSERT_EQUAL(init(info_only, &req, &res), 0);
    CU_ASSERT_STRING_EQUAL(req.path, "/healthz");
    CU_ASSERT_EQUAL(init(script_only, &req, &res), 0);
    CU_ASSERT_STRING_EQUAL(req.path, "/healthz");
}

static void test_init_request_uri_wins_over_script_name(void)
{
    char *env[] = { "REQUEST_METHOD=GET", "SCRIPT_NAME=/other", "PATH_INFO=/x",
                    "REQUEST_URI=/healthz", NULL };
    struct http_request req;
    struct http_response res;

    CU_ASSERT_EQUAL(init(env, &req, &res), 0);
    CU_ASSERT_STRING_EQUAL(req.path, "/healthz");
}

static void test_init_missing_method_is_400(void)
{
    char *none[] = { "REQUEST_URI=/healthz", NULL };
    char *empty[] = { "REQUEST_METHOD=", "REQUEST_URI=/healthz", NULL };
    char *prefix[] = { "REQUEST_METHODX=GET", "REQUEST_URI=/healthz", NULL };
    struct http_request req;
    struct http_response res;

    CU_ASSERT_EQUAL(init(none, &req, &res), 400);
    assert_error_body(&res, 400, "bad_request");
    /* Still has an id for the error response. */
    CU_ASSERT_TRUE(is_random_id(req.request_id));
    http_response_free(&res);
    CU_ASSERT_EQUAL(init(empty, &req, &res), 400);
    assert_error_body(&res, 400, "bad_request");
    http_response_free(&res);
    CU_ASSERT_EQUAL(init(prefix, &req, &res), 400);
    http_response_free(&res);
    memset(&res, 0, sizeof(res));
    CU_ASSERT_EQUAL(http_request_init(&req, NULL, &res), 400);
    http_response_free(&res);
}

static void test_init_path_not_starting_with_slash_is_400(void)
{
    char *rel[] = { "REQUEST_METHOD=GET", "REQUEST_URI=healthz", NULL };
    char *absolute[] = { "REQUEST_METHOD=GET", "REQUEST_URI=http://h/healthz", NULL };
    char *query[] = { "REQUEST_METHOD=GET", "REQUEST_URI=?a=/b", NULL };
    char *nothing[] = { "REQUEST_METHOD=GET", NULL };
    char *const *cases[] = { rel, absolute, query, nothing };
    struct http_request req;
    struct http_response res;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CU_ASSERT_EQUAL(init(cases[i], &req, &res), 400);
        assert_error_body(&res, 400, "bad_request");
        http_response_free(&res);
    }
}

static void test_init_bad_content_length_is_400(void)
{
    static const char *const bad[] = { "12a", "-1", "+1", " 1", "1 ", "0x10", "1.0", "1e3",
                                       "99999999999999999999999" };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct body_env e;
        struct http_request req;
        struct http_response res;

        body_env_set(&e, JSON_CT, bad[i]);
        CU_ASSERT_EQUAL(init(e.env, &req, &res), 400);
        assert_error_body(&res, 400, "bad_request");
        http_response_free(&res);
    }
}

static void test_init_absent_or_empty_content_length_is_minus_one(void)
{
    char *absent[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/x", NULL };
    char *empty[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/x", "CONTENT_LENGTH=", NULL };
    char *zero[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/x", "CONTENT_LENGTH=0", NULL };
    char *lead0[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/x", "CONTENT_LENGTH=0012", NULL };
    struct http_request req;
    struct http_response res;

    CU_ASSERT_EQUAL(init(absent, &req, &res), 0);
    CU_ASSERT_EQUAL(req.content_length, -1);
    CU_ASSERT_PTR_NULL(req.content_type);
    CU_ASSERT_EQUAL(init(empty, &req, &res), 0);
    CU_ASSERT_EQUAL(req.content_length, -1);
    CU_ASSERT_EQUAL(init(zero, &req, &res), 0);
    CU_ASSERT_EQUAL(req.content_length, 0);
    CU_ASSERT_EQUAL(init(lead0, &req, &res), 0);
    CU_ASSERT_EQUAL(req.content_length, 12);
}

/* "REQUEST_URI=" + path of len bytes + tail. */
static char *uri_var(const char *name, size_t len, const char *tail)
{
    size_t nlen = strlen(name), tlen = strlen(tail);
    char *s = malloc(nlen + 2 + len + tlen);

    if (s == NULL)
        return NULL;
    memcpy(s, name, nlen);
    s[nlen] = '=';
    s[nlen + 1] = '/';
    memset(s + nlen + 2, 'a', len - 1);
    memcpy(s + nlen + 1 + len, tail, tlen + 1);
    return s;
}

static void test_init_path_of_path_max_len_is_accepted(void)
{
    char *uri = uri_var("REQUEST_URI", PATH_MAX_LEN, "?q=1");
    char *env[] = { "REQUEST_METHOD=GET", uri, NULL };
    struct http_request req;
    struct http_response res;

    CU_ASSERT_PTR_NOT_NULL_FATAL(uri);
    CU_ASSERT_EQUAL(init(env, &req, &res), 0);
    CU_ASSERT_EQUAL(strlen(req.path), PATH_MAX_LEN);
    free(uri);
}

static void test_init_over_long_path_is_404(void)
{
    char *uri = uri_var("REQUEST_URI", PATH_MAX_LEN + 1, "");
    char *info = uri_var("PATH_INFO", PATH_MAX_LEN, "");
    char *env[] = { "REQUEST_METHOD=GET", uri, NULL };
    char *cgi[] = { "REQUEST_METHOD=GET", "SCRIPT_NAME=/s", info, NULL };
    struct http_request req;
    struct http_response res;

    CU_ASSERT_PTR_NOT_NULL_FATAL(uri);
    CU_ASSERT_PTR_NOT_NULL_FATAL(info);
    CU_ASSERT_EQUAL(init(env, &req, &res), 404);
    assert_error_body(&res, 404, "not_found");
    http_response_free(&res);
    CU_ASSERT_EQUAL(init(cgi, &req, &res), 404);
    assert_error_body(&res, 404, "not_found");
    http_response_free(&res);
    free(uri);
    free(info);
}

static void test_long_query_string_does_not_make_path_too_long(void)
{
    char *uri = uri_var("REQUEST_URI", 8, "?");
    char *big = NULL;
    char *env[] = { "REQUEST_METHOD=GET", NULL, NULL };
    struct http_request req;
    struct http_response res;
    size_t n;

    CU_ASSERT_PTR_NOT_NULL_FATAL(uri);
    n = strlen(uri);
    big = malloc(n + 4000 + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memcpy(big, uri, n);
    memset(big + n, 'q', 4000);
    big[n + 4000] = '\0';
    env[1] = big;
    CU_ASSERT_EQUAL(init(env, &req, &res), 0);
    CU_ASSERT_EQUAL(strlen(req.path), 8);
    free(big);
    free(uri);
}

/* ---- request id ------------------------------------------------------- */

static void id_for(const char *header_var, char out[HTTP_REQUEST_ID_MAX + 1])
{
    char *env[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/healthz", (char *)header_var, NULL };
    struct http_request req;
    struct http_response res;

    CU_ASSERT_EQUAL(init(env, &req, &res), 0);
    memcpy(out, req.request_id, HTTP_REQUEST_ID_MAX + 1);
}

static void test_valid_request_id_is_echoed(void)
{
    char id[HTTP_REQUEST_ID_MAX + 1];

    id_for("HTTP_X_REQUEST_ID=abc-123_X.y", id);
    CU_ASSERT_STRING_EQUAL(id, "abc-123_X.y");
    id_for("HTTP_X_REQUEST_ID=7f3c2a9e-1b4d-4c8e-9a6f-0123456789ab", id);
    CU_ASSERT_STRING_EQUAL(id, "7f3c2a9e-1b4d-4c8e-9a6f-0123456789ab");
}

static void test_request_id_of_max_length_is_echoed(void)
{
    char var[32 + HTTP_REQUEST_ID_MAX];
    char id[HTTP_REQUEST_ID_MAX + 1];
    int n = snprintf(var, sizeof(var), "HTTP_X_REQUEST_ID=");

    memset(var + n, 'r', HTTP_REQUEST_ID_MAX);
    var[n + HTTP_REQUEST_ID_MAX] = '\0';
    id_for(var, id);
    CU_ASSERT_EQUAL(strlen(id), HTTP_REQUEST_ID_MAX);
    CU_ASSERT_EQUAL(strspn(id, "r"), HTTP_REQUEST_ID_MAX);
}

static void test_invalid_request_id_is_replaced_by_random_hex(void)
{
    static const char *const bad[] = {
        "HTTP_X_REQUEST_ID=has space",
        "HTTP_X_REQUEST_ID=",
        "HTTP_X_REQUEST_ID=a/b",
        "HTTP_X_REQUEST_ID=id\r\nX-Evil: 1",
        "HTTP_X_REQUEST_ID=\"quoted\"",
        "HTTP_X_REQUEST_ID=caf\xc3\xa9",
    };
    char var[32 + HTTP_REQUEST_ID_MAX + 1];
    char id[HTTP_REQUEST_ID_MAX + 1];
    int n;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        id_for(bad[i], id);
        CU_ASSERT_TRUE(is_random_id(id));
    }
    /* One byte too long. */
    n = snprintf(var, sizeof(var), "HTTP_X_REQUEST_ID=");
    memset(var + n, 'r', HTTP_REQUEST_ID_MAX + 1);
    var[n + HTTP_REQUEST_ID_MAX + 1] = '\0';
    id_for(var, id);
    CU_ASSERT_TRUE(is_random_id(id));
}

static void test_missing_request_id_gets_fresh_random_hex(void)
{
    char a[HTTP_REQUEST_ID_MAX + 1], b[HTTP_REQUEST_ID_MAX + 1];

    id_for("OTHER=1", a);
    id_for("OTHER=1", b);
    CU_ASSERT_TRUE(is_random_id(a));
    CU_ASSERT_TRUE(is_random_id(b));
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
}

/* ---- headers and params ----------------------------------------------- */

static void test_header_name_maps_to_http_variable(void)
{
    char *env[] = { "REQUEST_METHOD=GET", "HTTP_X_REQUEST_ID_EXTRA=no", "HTTP_X_REQUEST_ID=r1",
                    "HTTP_X_SIGNATURE=sig", NULL };
    struct http_request req;

    memset(&req, 0, sizeof(req));
    req.envp = env;
    CU_ASSERT_PTR_NOT_NULL_FATAL(http_header(&req, "X-Request-Id"));
    CU_ASSERT_STRING_EQUAL(http_header(&req, "X-Request-Id"), "r1");
    CU_ASSERT_STRING_EQUAL(http_header(&req, "x-request-id"), "r1");
    CU_ASSERT_STRING_EQUAL(http_header(&req, "X-Signature"), "sig");
    CU_ASSERT_PTR_NULL(http_header(&req, "X-Request"));
    CU_ASSERT_PTR_NULL(http_header(&req, "Authorization"));
}

static void test_over_long_header_name_is_not_found(void)
{
    char name[300];
    char *env[] = { "REQUEST_METHOD=GET", NULL };
    struct http_request req;

    memset(&req, 0, sizeof(req));
    req.envp = env;
    memset(name, 'A', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    CU_ASSERT_PTR_NULL(http_header(&req, name));
}

static void test_param_needs_exact_name(void)
{
    char *env[] = { "REQUEST_METHODS=x", "REQUEST_METHOD=GET", "EMPTY=", NULL };

    CU_ASSERT_STRING_EQUAL(http_param(env, "REQUEST_METHOD"), "GET");
    CU_ASSERT_STRING_EQUAL(http_param(env, "EMPTY"), "");
    CU_ASSERT_PTR_NULL(http_param(env, "REQUEST"));
    CU_ASSERT_PTR_NULL(http_param(NULL, "REQUEST_METHOD"));
}

/* ---- JSON body read --------------------------------------------------- */

static void test_missing_content_type_is_415_without_reading(void)
{
    struct mem_io *m;
    struct http_request req;
    struct http_response res;

    CU_ASSERT_EQUAL(read_body(NULL, "2", "{}", 2, 1024, &m, &req, &res), 415);
    assert_error_body(&res, 415, "unsupported_media_type");
    CU_ASSERT_EQUAL(m->reads, 0);
    CU_ASSERT_PTR_NULL(req.body);
    http_response_free(&res);
    http_request_free(&req);
    free(m);
}

static void test_wrong_content_type_is_415(void)
{
    static const char *const bad[] = {
        "CONTENT_TYPE=text/plain",
        "CONTENT_TYPE=",
        "CONTENT_TYPE=application/jsonx",
        "CONTENT_TYPE=application/json-patch+json",
        "CONTENT_TYPE=application/x-www-form-urlencoded",
        "CONTENT_TYPE=text/json",
        "CONTENT_TYPE= application/json",
        "CONTENT_TYPE=application/jso",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct mem_io *m;
        struct http_request req;
        struct http_response res;

        CU_ASSERT_EQUAL(read_body(bad[i], "2", "{}", 2, 1024, &m, &req, &res), 415);
        assert_error_body(&res, 415, "unsupported_media_type");
        CU_ASSERT_EQUAL(m->reads, 0);
        http_response_free(&res);
        http_request_free(&req);
        free(m);
    }
}

static void test_json_content_type_variants_are_accepted(void)
{
    static const char *const good[] = {
        JSON_CT,
        "CONTENT_TYPE=application/json; charset=utf-8",
        "CONTENT_TYPE=Application/JSON",
        "CONTENT_TYPE=APPLICATION/JSON;charset=UTF-8",
        "CONTENT_TYPE=application/json ;charset=utf-8",
        "CONTENT_TYPE=application/json\t",
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct mem_io *m;
        struct http_request req;
        struct http_response res;

        CU_ASSERT_EQUAL(read_body(good[i], "2", "{}", 2, 1024, &m, &req, &res), 0);
        CU_ASSERT_EQUAL(req.body_len, 2);
        CU_ASSERT_PTR_NULL(res.body);
        http_response_free(&res);
        http_request_free(&req);
        free(m);
    }
}

static void test_content_length_over_cap_is_413_without_reading(void)
{
    struct mem_io *m;
    struct http_request req;
    struct http_response res;

    CU_ASSERT_EQUAL(read_body(JSON_CT, "1025", "{}", 2, 1024, &m, &req, &res), 413);
    assert_error_body(&res, 413, "payload_too_large");
    CU_ASSERT_EQUAL(m->reads, 0);
    CU_ASSERT_PTR_NULL(req.body);
    http_response_free(&res);
    free(m);
    /* A length no allocation could satisfy is refused the same way. */
    CU_ASSERT_EQUAL(read_body(JSON_CT, "1099511627776", "{}", 2, BODY_MAX_CEILING, &m, &req,
                              &res), 413);
    CU_ASSERT_EQUAL(m->reads, 0);
    http_response_free(&res);
    free(m);
}

static void test_content_length_at_cap_is_read_whole(void)
{
    char in[1024];
    struct mem_io *m;
    struct http_request req;
    struct http_response res;

    memset(in, 'x', sizeof(in));
    CU_ASSERT_EQUAL(read_body(JSON_CT, "1024", in, sizeof(in), 1024, &m, &req, &res), 0);
    CU_ASSERT_EQUAL(req.body_len, 1024);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req.body);
    CU_ASSERT_EQUAL(memcmp(req.body, in, sizeof(in)), 0);
    CU_ASSERT_EQUAL(req.body[1024], '\0');
    http_request_free(&req);
    free(m);
}

static void test_body_shorter_than_content_length_is_400(void)
{
    struct mem_io *m;
    struct http_request req;
    struct http_response res;

    CU_ASSERT_EQUAL(read_body(JSON_CT, "10", "{\"a\":", 5, 1024, &m, &req, &res), 400);
    assert_error_body(&res, 400, "bad_request");
    CU_ASSERT_PTR_NULL(req.body);
    http_response_free(&res);
    free(m);
}

static void test_body_longer_than_content_length_is_cut_at_it(void)
{
    static const char in[] = "{\"a\":\"b\"}trailing";
    struct mem_io *m;
    struct http_request req;
    struct http_response res;

    CU_ASSERT_EQUAL(read_body(JSON_CT, "9", in, sizeof(in) - 1, 1024, &m, &req, &res), 0);
    CU_ASSERT_EQUAL(req.body_len, 9);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req.body);
    CU_ASSERT_STRING_EQUAL((const char *)req.body, "{\"a\":\"b\"}");
    CU_ASSERT_EQUAL(m->in_pos, 9);
    http_request_free(&req);
    free(m);
}

static void test_short_reads_are_reassembled(void)
{
    static const char in[] = "{\"clientId\":\"abc\",\"share\":\"c2hhcmU=\"}";
    struct body_env e;
    struct http_request req;
    struct http_response res;
    struct http_io io;
    struct mem_io *m = mem_new(in, sizeof(in) - 1);
    char cl[16];

    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    m->chunk = 1;
    snprintf(cl, sizeof(cl), "%zu", sizeof(in) - 1);
    body_env_set(&e, JSON_CT, cl);
    CU_ASSERT_EQUAL_FATAL(init(e.env, &req, &res), 0);
    io = io_of(m);
    CU_ASSERT_EQUAL(http_request_read_json_body(&req, &io, 1024, &res), 0);
    CU_ASSERT_EQUAL(req.body_len, sizeof(in) - 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req.body);
    CU_ASSERT_STRING_EQUAL((const char *)req.body, in);
    CU_ASSERT_EQUAL(m->reads, (int)(sizeof(in) - 1));
    http_request_free(&req);
    free(m);
}

static void test_no_content_length_reads_to_eof(void)
{
    static const char in[] = "{\"a\":\"b\"}";
    struct mem_io *m;
    struct http_request req;
    struct http_response res;

    CU_ASSERT_EQUAL(read_body(JSON_CT, "", in, sizeof(in) - 1, 1024, &m, &req, &res), 0);
    CU_ASSERT_EQUAL(req.content_length, -1);
    CU_ASSERT_EQUAL(req.body_len, sizeof(in) - 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req.body);
    CU_ASSERT_STRING_EQUAL((const char *)req.body, in);
    http_request_free(&req);
    free(m);
}

static void test_no_content_length_over_cap_is_413(void)
{
    char in[2048];
    struct mem_io *m;
    struct http_request req;
    struct http_response res;

    memset(in, ' ', sizeof(in));
    CU_ASSERT_EQUAL(read_body(JSON_CT, "", in, 1025, 1024, &m, &req, &res), 413);
    assert_error_body(&res, 413, "payload_too_large");
    CU_ASSERT_PTR_NULL(req.body);
    http_response_free(&res);
    free(m);
    /* Much more than the cap: stops reading one byte past it. */
    CU_ASSERT_EQUAL(read_body(JSON_CT, "", in, sizeof(in), 1024, &m, &req, &res), 413);
    CU_ASSERT_EQUAL(m->in_pos, 1025);
    http_response_free(&res);
    free(m);
}

static void test_no_content_length_at_cap_is_accepted(void)
{
    char in[1024];
    struct mem_io *m;
    struct http_request req;
    struct http_response res;

    memset(in, ' ', sizeof(in));
    CU_ASSERT_EQUAL(read_body(JSON_CT, "", in, sizeof(in), 1024, &m, &req, &res), 0);
    CU_ASSERT_EQUAL(req.body_len, 1024);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req.body);
    CU_ASSERT_EQUAL(req.body[1024], '\0');
    http_request_free(&req);
    free(m);
}

static void test_empty_body_reads_as_empty_string(void)
{
    struct mem_io *m;
    struct http_request req;
    struct http_response res;

    CU_ASSERT_EQUAL(read_body(JSON_CT, "0", "{}", 2, 1024, &m, &req, &res), 0);
    CU_ASSERT_EQUAL(req.body_len, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req.body);
    CU_ASSERT_EQUAL(req.body[0], '\0');
    CU_ASSERT_EQUAL(m->in_pos, 0);
    http_request_free(&req);
    free(m);
    CU_ASSERT_EQUAL(read_body(JSON_CT, "", "", 0, 1024, &m, &req, &res), 0);
    CU_ASSERT_EQUAL(req.body_len, 0);
    CU_ASSERT_PTR_NOT_NULL(req.body);
    http_request_free(&req);
    free(m);
}

static void test_read_error_is_400(void)
{
    static const char in[] = "{\"a\":\"b\"}";
    static const int fail_at[] = { 1, 2 };

    for (size_t i = 0; i < sizeof(fail_at) / sizeof(fail_at[0]); i++) {
        for (int with_length = 0; with_length < 2; with_length++) {
            struct body_env e;
            struct http_request req;
            struct http_response res;
            struct http_io io;
            struct mem_io *m = mem_new(in, sizeof(in) - 1);

            CU_ASSERT_PTR_NOT_NULL_FATAL(m);
            m->chunk = 3;
            m->fail_at_read = fail_at[i];
            body_env_set(&e, JSON_CT, with_length ? "9" : "");
            CU_ASSERT_EQUAL_FATAL(init(e.env, &req, &res), 0);
            io = io_of(m);
            CU_ASSERT_EQUAL(http_request_read_json_body(&req, &io, 1024, &res), 400);
            assert_error_body(&res, 400, "bad_request");
            CU_ASSERT_PTR_NULL(req.body);
            CU_ASSERT_EQUAL(req.body_len, 0);
            http_response_free(&res);
            http_request_free(&req);
            free(m);
        }
    }
}

static void test_body_is_nul_terminated(void)
{
    static const char in[] = "{\"a\":\"b\"}XXXX";
    struct mem_io *m;
    struct http_request req;
    struct http_response res;

    CU_ASSERT_EQUAL(read_body(JSON_CT, "9", in, sizeof(in) - 1, 1024, &m, &req, &res), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req.body);
    CU_ASSERT_EQUAL(req.body[req.body_len], '\0');
    CU_ASSERT_EQUAL(strlen((const char *)req.body), 9);
    http_request_free(&req);
    CU_ASSERT_PTR_NULL(req.body);
    CU_ASSERT_EQUAL(req.body_len, 0);
    http_request_free(&req);    /* twice is harmless */
    free(m);
}

/* ---- responses -------------------------------------------------------- */

/* Sends res; returns the output (owned by *mio) and where the body starts. */
static const char *send_res(const struct http_response *res, const char *rid,
                            struct mem_io **mio, const char **body)
{
    struct mem_io *m = mem_new("", 0);
    struct http_io io;
    char *end;

    *mio = m;
    *body = NULL;
    if (m == NULL)
        return NULL;
    io = io_of(m);
    CU_ASSERT_EQUAL(http_send(&io, res, rid), 0);
    end = strstr(m->out, "\r\n\r\n");
    CU_ASSERT_PTR_NOT_NULL(end);
    if (end != NULL)
        *body = end + 4;
    return m->out;
}

/* Header block (up to and including the first CRLF of the blank line)
 * holds line exactly once. */
static int header_has(const char *out, const char *body, const char *line)
{
    const char *p = strstr(out, line);

    if (p == NULL || body == NULL || p >= body)
        return 0;
    return strstr(p + 1, line) == NULL || strstr(p + 1, line) >= body;
}

static void test_send_writes_status_headers_blank_line_and_body(void)
{
    struct http_response res;
    struct mem_io *m;
    const char *out, *body;
    char cl[64];

    memset(&res, 0, sizeof(res));
    http_json(&res, 200, strdup("{\"ok\":true}"), strlen("{\"ok\":true}"));
    out = send_res(&res, "req-1", &m, &body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_EQUAL(strncmp(out, "Status: 200 OK\r\n", 16), 0);
    CU_ASSERT_TRUE(header_has(out, body, "\r\nContent-Type: application/json\r\n"));
    snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", strlen("{\"ok\":true}"));
    CU_ASSERT_TRUE(header_has(out, body, cl));
    CU_ASSERT_TRUE(header_has(out, body, "\r\nCache-Control: no-store\r\n"));
    CU_ASSERT_TRUE(header_has(out, body, "\r\nX-Request-Id: req-1\r\n"));
    CU_ASSERT_PTR_NULL(strstr(out, "Allow:"));
    CU_ASSERT_PTR_NULL(strstr(out, "Retry-After:"));
    CU_ASSERT_STRING_EQUAL(body, "{\"ok\":true}");
    CU_ASSERT_EQUAL(m->out_len, (size_t)(body - out) + strlen("{\"ok\":true}"));
    /* Every header line ends in CRLF: no bare LF before the body. */
    for (const char *p = out; p < body; p++)
        if (*p == '\n')
            CU_ASSERT_TRUE(p > out && p[-1] == '\r');
    http_response_free(&res);
    free(m);
}

static void test_send_content_length_matches_body_bytes(void)
{
    static const char payload[] = "{\"s\":\"\xc3\xa9\\u0000\"}";
    struct http_response res;
    struct mem_io *m;
    const char *out, *body;
    char cl[64];

    memset(&res, 0, sizeof(res));
    http_json(&res, 200, strdup(payload), sizeof(payload) - 1);
    out = send_res(&res, "r", &m, &body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", sizeof(payload) - 1);
    CU_ASSERT_TRUE(header_has(out, body, cl));
    CU_ASSERT_EQUAL(m->out_len - (size_t)(body - out), sizeof(payload) - 1);
    http_response_free(&res);
    free(m);
}

static void test_send_405_carries_allow(void)
{
    struct http_response res;
    struct mem_io *m;
    const char *out, *body;

    memset(&res, 0, sizeof(res));
    http_error(&res, 405, "method_not_allowed", "method not allowed");
    res.allow = "GET, POST";
    out = send_res(&res, "r", &m, &body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_EQUAL(strncmp(out, "Status: 405 Method Not Allowed\r\n", 32), 0);
    CU_ASSERT_TRUE(header_has(out, body, "\r\nAllow: GET, POST\r\n"));
    http_response_free(&res);
    free(m);
}

static void test_send_retry_after_only_when_set(void)
{
    struct http_response res;
    struct mem_io *m;
    const char *out, *body;

    memset(&res, 0, sizeof(res));
    http_error(&res, 503, "unavailable", "database unavailable");
    res.retry_after = 5;
    out = send_res(&res, "r", &m, &body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_EQUAL(strncmp(out, "Status: 503 Service Unavailable\r\n", 33), 0);
    CU_ASSERT_TRUE(header_has(out, body, "\r\nRetry-After: 5\r\n"));
    free(m);
    res.retry_after = 0;
    out = send_res(&res, "r", &m, &body);
    CU_ASSERT_PTR_NULL(strstr(out, "Retry-After"));
    http_response_free(&res);
    free(m);
}

static void test_send_empty_body_has_zero_length(void)
{
    struct http_response res;
    struct mem_io *m;
    const char *out, *body;

    memset(&res, 0, sizeof(res));
    res.status = 200;
    out = send_res(&res, "r", &m, &body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_TRUE(header_has(out, body, "\r\nContent-Length: 0\r\n"));
    CU_ASSERT_STRING_EQUAL(body, "");
    free(m);
}

static void test_send_reports_write_failure(void)
{
    struct http_response res;
    struct mem_io *m = mem_new("", 0);
    struct http_io io;

    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    memset(&res, 0, sizeof(res));
    http_error(&res, 500, "internal", "internal error");
    m->fail_write = 1;
    io = io_of(m);
    CU_ASSERT_EQUAL(http_send(&io, &res, "r"), -1);
    http_response_free(&res);
    free(m);
}

static void test_status_lines_use_standard_reasons(void)
{
    static const struct { int status; const char *line; } cases[] = {
        { 400, "Status: 400 Bad Request\r\n" },
        { 401, "Status: 401 Unauthorized\r\n" },
        { 404, "Status: 404 Not Found\r\n" },
        { 409, "Status: 409 Conflict\r\n" },
        { 413, "Status: 413 Payload Too Large\r\n" },
        { 415, "Status: 415 Unsupported Media Type\r\n" },
        { 422, "Status: 422 Unprocessable Entity\r\n" },
        { 500, "Status: 500 Internal Server Error\r\n" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_response res;
        struct mem_io *m;
        const char *out, *body;

        memset(&res, 0, sizeof(res));
        http_error(&res, cases[i].status, "x", "y");
        out = send_res(&res, "r", &m, &body);
        CU_ASSERT_PTR_NOT_NULL(out);
        if (out != NULL)
            CU_ASSERT_EQUAL(strncmp(out, cases[i].line, strlen(cases[i].line)), 0);
        http_response_free(&res);
        free(m);
    }
    CU_ASSERT_STRING_EQUAL(http_reason(299), "Unknown");
}

static void test_error_body_is_json_with_code_and_message(void)
{
    struct http_response res;
    struct json_object *root, *err, *msg;

    memset(&res, 0, sizeof(res));
    http_error(&res, 422, "invalid_client_id", "clientId must be \"[A-Za-z0-9_-]\"\n\\ok");
    assert_error_body(&res, 422, "invalid_client_id");
    root = json_tokener_parse(res.body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_TRUE(json_object_object_get_ex(root, "error", &err));
    CU_ASSERT_TRUE(json_object_object_get_ex(err, "message", &msg));
    CU_ASSERT_STRING_EQUAL(json_object_get_string(msg), "clientId must be \"[A-Za-z0-9_-]\"\n\\ok");
    json_object_put(root);
    http_response_free(&res);
    CU_ASSERT_PTR_NULL(res.body);
    CU_ASSERT_EQUAL(res.body_len, 0);
}

static void test_error_replaces_previous_body(void)
{
    struct http_response res;

    memset(&res, 0, sizeof(res));
    http_json(&res, 200, strdup("{\"share\":\"secret\"}"), strlen("{\"share\":\"secret\"}"));
    http_error(&res, 500, "internal", "internal error");
    assert_error_body(&res, 500, "internal");
    CU_ASSERT_PTR_NULL(strstr(res.body, "secret"));
    http_response_free(&res);
    http_response_free(&res);    /* twice is harmless */
}

static void test_init_error_can_be_sent_with_its_request_id(void)
{
    char *env[] = { "REQUEST_URI=/healthz", "HTTP_X_REQUEST_ID=trace-9", NULL };
    struct http_request req;
    struct http_response res;
    struct mem_io *m;
    const char *out, *body;
    struct json_object *root;

    CU_ASSERT_EQUAL_FATAL(init(env, &req, &res), 400);
    CU_ASSERT_STRING_EQUAL(req.request_id, "trace-9");
    out = send_res(&res, req.request_id, &m, &body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_EQUAL(strncmp(out, "Status: 400 Bad Request\r\n", 25), 0);
    CU_ASSERT_TRUE(header_has(out, body, "\r\nX-Request-Id: trace-9\r\n"));
    root = json_tokener_parse(body);
    CU_ASSERT_PTR_NOT_NULL(root);
    json_object_put(root);
    http_response_free(&res);
    http_request_free(&req);
    free(m);
}

/* ---- query strings ---------------------------------------------------- */

static const char *const qnames[] = { "backupMethod" };

/* Parses QUERY_STRING q (or, with q NULL, what REQUEST_URI carries) and
 * returns the status; *value gets a copy of the decoded value ("" absent). */
static int query_of(const char *q, const char *uri, char *value, size_t cap)
{
    char qs[512], ru[512];
    char *env[4] = { "REQUEST_METHOD=GET", NULL, NULL, NULL };
    struct http_request req;
    struct http_response res;
    char *vals[1];
    int st;

    snprintf(ru, sizeof(ru), "REQUEST_URI=%s", uri ? uri : "/portal/clients/a/backup");
    env[1] = ru;
    if (q != NULL) {
        snprintf(qs, sizeof(qs), "QUERY_STRING=%s", q);
        env[2] = qs;
    }
    CU_ASSERT_EQUAL_FATAL(init(env, &req, &res), 0);
    st = http_query(&req, qnames, 1, vals, &res);
    value[0] = '\0';
    if (st == 0 && vals[0] != NULL)
        snprintf(value, cap, "%s", vals[0]);
    if (st == 0) {
        CU_ASSERT_PTR_NULL(res.body);
    } else {
        assert_error_body(&res, st, "invalid_query");
    }
    http_query_free(vals, 1);
    http_response_free(&res);
    http_request_free(&req);
    return st;
}

static void test_query_absent_or_empty_is_no_parameter(void)
{
    char v[80];

    CU_ASSERT_EQUAL(query_of(NULL, NULL, v, sizeof(v)), 0);
    CU_ASSERT_STRING_EQUAL(v, "");
    CU_ASSERT_EQUAL(query_of("", NULL, v, sizeof(v)), 0);
    CU_ASSERT_STRING_EQUAL(v, "");
    CU_ASSERT_EQUAL(query_of(NULL, "/portal/clients/a/backup?", v, sizeof(v)), 0);
}

static void test_query_value_is_decoded(void)
{
    char v[80];

    CU_ASSERT_EQUAL(query_of("backupMethod=PASSKEY", NULL, v, sizeof(v)), 0);
    CU_ASSERT_STRING_EQUAL(v, "PASSKEY");
    CU_ASSERT_EQUAL(query_of("backupMethod=PASS%4bEY", NULL, v, sizeof(v)), 0);
    CU_ASSERT_STRING_EQUAL(v, "PASSKEY");
    CU_ASSERT_EQUAL(query_of("backup%4Dethod=GDRIVE-ED25519", NULL, v, sizeof(v)), 0);
    CU_ASSERT_STRING_EQUAL(v, "GDRIVE-ED25519");
    CU_ASSERT_EQUAL(query_of("backupMethod=a+b%20c%2B", NULL, v, sizeof(v)), 0);
    CU_ASSERT_STRING_EQUAL(v, "a b c+");
    CU_ASSERT_EQUAL(query_of("backupMethod=", NULL, v, sizeof(v)), 0);
    CU_ASSERT_STRING_EQUAL(v, "");
    /* Without QUERY_STRING, the part of REQUEST_URI after '?'. */
    CU_ASSERT_EQUAL(query_of(NULL, "/portal/clients/a/backup?backupMethod=ICLOUD", v, sizeof(v)),
                    0);
    CU_ASSERT_STRING_EQUAL(v, "ICLOUD");
}

static void test_query_refuses_what_is_not_strict(void)
{
    static const char *const bad[] = {
        "x=1", "backupMethod=A&backupMethod=B", "backupMethod=A&x=1", "backupMethod",
        "backupMethod=%zz", "backupMethod=%4", "backupMethod=%", "backupMethod=%00",
        "backupMethod=A&", "&backupMethod=A", "backupmethod=A", "backupMethod=A&&x=1",
        "=A", "backup%00Method=A",
    };
    char v[80];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_EQUAL(query_of(bad[i], NULL, v, sizeof(v)), 400);
}

int unit_register(void)
{
    static const struct unit_test init_tests[] = {
        { "reads method, path, content type and length",
          test_init_reads_method_path_type_and_length },
        { "path drops query string and fragment", test_init_path_drops_query_and_fragment },
        { "path keeps percent-encoding raw", test_init_path_keeps_percent_encoding_raw },
        { "falls back to SCRIPT_NAME + PATH_INFO",
          test_init_falls_back_to_script_name_and_path_info },
        { "REQUEST_URI wins over SCRIPT_NAME", test_init_request_uri_wins_over_script_name },
        { "missing method is 400", test_init_missing_method_is_400 },
        { "path not starting with '/' is 400", test_init_path_not_starting_with_slash_is_400 },
        { "bad CONTENT_LENGTH is 400", test_init_bad_content_length_is_400 },
        { "absent or empty CONTENT_LENGTH is -1",
          test_init_absent_or_empty_content_length_is_minus_one },
        { "path of PATH_MAX_LEN is accepted", test_init_path_of_path_max_len_is_accepted },
        { "over-long path is 404", test_init_over_long_path_is_404 },
        { "long query string does not make the path too long",
          test_long_query_string_does_not_make_path_too_long },
        { NULL, NULL },
    };
    static const struct unit_test query_tests[] = {
        { "absent or empty query is no parameter", test_query_absent_or_empty_is_no_parameter },
        { "query values are percent- and plus-decoded", test_query_value_is_decoded },
        { "unknown, repeated or badly encoded parameters are 400",
          test_query_refuses_what_is_not_strict },
        { NULL, NULL },
    };
    static const struct unit_test id_tests[] = {
        { "valid X-Request-Id is echoed", test_valid_request_id_is_echoed },
        { "X-Request-Id of max length is echoed", test_request_id_of_max_length_is_echoed },
        { "invalid X-Request-Id is replaced by random hex",
          test_invalid_request_id_is_replaced_by_random_hex },
        { "missing X-Request-Id gets fresh random hex",
          test_missing_request_id_gets_fresh_random_hex },
        { "header name maps to HTTP_ variable", test_header_name_maps_to_http_variable },
        { "over-long header name is not found", test_over_long_header_name_is_not_found },
        { "param lookup needs the exact name", test_param_needs_exact_name },
        { NULL, NULL },
    };
    static const struct unit_test body_tests[] = {
        { "missing Content-Type is 415 without reading",
          test_missing_content_type_is_415_without_reading },
        { "wrong Content-Type is 415", test_wrong_content_type_is_415 },
        { "JSON Content-Type variants are accepted",
          test_json_content_type_variants_are_accepted },
        { "Content-Length over cap is 413 without reading",
          test_content_length_over_cap_is_413_without_reading },
        { "Content-Length at cap is read whole", test_content_length_at_cap_is_read_whole },
        { "body shorter than Content-Length is 400",
          test_body_shorter_than_content_length_is_400 },
        { "body longer than Content-Length is cut at it",
          test_body_longer_than_content_length_is_cut_at_it },
        { "short reads are reassembled", test_short_reads_are_reassembled },
        { "no Content-Length reads to EOF", test_no_content_length_reads_to_eof },
        { "no Content-Length over cap is 413", test_no_content_length_over_cap_is_413 },
        { "no Content-Length at cap is accepted", test_no_content_length_at_cap_is_accepted },
        { "empty body reads as empty string", test_empty_body_reads_as_empty_string },
        { "read error is 400", test_read_error_is_400 },
        { "body is NUL-terminated", test_body_is_nul_terminated },
        { NULL, NULL },
    };
    static const struct unit_test send_tests[] = {
        { "send writes status, headers, blank line and body",
          test_send_writes_status_headers_blank_line_and_body },
        { "Content-Length matches the body bytes", test_send_content_length_matches_body_bytes },
        { "405 carries Allow", test_send_405_carries_allow },
        { "Retry-After only when set", test_send_retry_after_only_when_set },
        { "empty body has Content-Length 0", test_send_empty_body_has_zero_length },
        { "write failure is reported", test_send_reports_write_failure },
        { "status lines use standard reasons", test_status_lines_use_standard_reasons },
        { "error body is JSON with code and message",
          test_error_body_is_json_with_code_and_message },
        { "error replaces a previous body", test_error_replaces_previous_body },
        { "init error can be sent with its request id",
          test_init_error_can_be_sent_with_its_request_id },
        { NULL, NULL },
    };

    if (unit_add_suite("http: request init", init_tests) != 0 ||
        unit_add_suite("http: request id and headers", id_tests) != 0 ||
        unit_add_suite("http: query strings", query_tests) != 0 ||
        unit_add_suite("http: JSON body read", body_tests) != 0)
        return -1;
    return unit_add_suite("http: responses", send_tests);
}
