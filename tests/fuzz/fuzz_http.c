/* libFuzzer target: the request side of http.c (and the router that comes
 * right after it in app_handle), driven by a fuzzed CGI environment and
 * body through an in-memory struct http_io.
 *
 * Input:
 *   byte 0   flags
 *            bits 0-1  CONTENT_LENGTH: 0 = the CONTENT_LENGTH field as is,
 *                      1 = the real body length, 2 = body length + (int8)
 *                      byte 1, 3 = absent
 *            bit 2     REQUEST_URI absent (route on SCRIPT_NAME + PATH_INFO)
 *            bit 3     the transport fails: read number (byte 1 & 3) + 1
 *                      returns -1
 *            bits 4-7  most bytes one read returns: 0 = no limit, else
 *                      1 << (k - 1)
 *   byte 1   length delta / failing read (see above)
 *   byte 2   max_body = 1024 << (byte 2 % 6)  (1 KiB .. 32 KiB)
 *   then NUL-separated: REQUEST_METHOD, REQUEST_URI, SCRIPT_NAME, PATH_INFO,
 *   CONTENT_TYPE, CONTENT_LENGTH, HTTP_X_REQUEST_ID, extra "NAME=value"
 *   environment entries separated by '\n'; the rest is the body.
 *
 * Invariants checked beyond ASan/UBSan: a status is returned exactly when
 * an error response was set and the response is a well-formed JSON error;
 * an accepted body is the sent bytes, NUL-terminated, within max_body and
 * equal to CONTENT_LENGTH when one was given; the request id is a plain
 * token of at most HTTP_REQUEST_ID_MAX bytes; the path starts with '/'. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bounds.h"
#include "fuzz_common.h"
#include "http.h"
#include "router.h"

#define NFIELDS   8
#define ENV_MAX   64

struct mem_io {
    const uint8_t *in;
    size_t len, pos;
    size_t chunk;
    int reads, fail_at;
    size_t written;
};

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
    struct mem_io *m = ctx;
    size_t left = m->len - m->pos;

    m->reads++;
    if (m->fail_at != 0 && m->reads == m->fail_at)
        return -1;
    if (n > left)
        n = left;
    if (m->chunk != 0 && n > m->chunk)
        n = m->chunk;
    if (n > 0)
        memcpy(buf, m->in + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static int mem_write(void *ctx, const void *buf, size_t n)
{
    struct mem_io *m = ctx;
    volatile const uint8_t *p = buf;
    uint8_t acc = 0;

    /* touch every byte so ASan checks the whole range */
    for (size_t i = 0; i < n; i++)
        acc ^= p[i];
    (void)acc;
    m->written += n;
    return 0;
}

static char *env_entry(const char *name, const char *value)
{
    size_t a = strlen(name), b = strlen(value);
    char *e = malloc(a + b + 2);

    if (e == NULL)
        abort();
    memcpy(e, name, a);
    e[a] = '=';
    memcpy(e + a + 1, value, b + 1);
    return e;
}

static void check_error_body(const struct http_response *res, int status)
{
    struct json_object *root, *err, *code, *msg;

    FZ_ASSERT(res->status == status);
    FZ_ASSERT(res->body != NULL && res->body_len > 0);
    FZ_ASSERT(strlen(res->body) == res->body_len);
    root = json_tokener_parse(res->body);
    FZ_ASSERT(root != NULL);
    FZ_ASSERT(json_object_object_get_ex(root, "error", &err));
    FZ_ASSERT(json_object_object_get_ex(err, "code", &code) &&
              json_object_is_type(code, json_type_string));
    FZ_ASSERT(json_object_object_get_ex(err, "message", &msg) &&
              json_object_is_type(msg, json_type_string));
    json_object_put(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_fields ff = { 0 };
    const uint8_t *body;
    size_t body_len, max_body, nenv = 0;
    char *env[ENV_MAX + 1];
    char cl[32];
    uint8_t flags, b1, b2;
    struct http_request req;
    struct http_response res = { 0 };
    struct mem_io m = { 0 };
    struct http_io io = { mem_read, mem_write, &m };
    struct route_match route;
    const char *allow = NULL;
    uint8_t *body_copy;
    int st, cl_mode;

    if (size < 3)
        return 0;
    flags = data[0];
    b1 = data[1];
    b2 = data[2];
    if (fz_split(data + 3, size - 3, NFIELDS, &ff, &body, &body_len) != 0)
        abort();
    max_body = (size_t)1024 << (b2 % 6);
    cl_mode = flags & 3;

    env[nenv++] = env_entry("REQUEST_METHOD", ff.f[0]);
    if (!(flags & 4))
        env[nenv++] = env_entry("REQUEST_URI", ff.f[1]);
    env[nenv++] = env_entry("SCRIPT_NAME", ff.f[2]);
    env[nenv++] = env_entry("PATH_INFO", ff.f[3]);
    env[nenv++] = env_entry("CONTENT_TYPE", ff.f[4]);
    switch (cl_mode) {
    case 0:
        env[nenv++] = env_entry("CONTENT_LENGTH", ff.f[5]);
        break;
    case 1:
        snprintf(cl, sizeof(cl), "%zu", body_len);
        env[nenv++] = env_entry("CONTENT_LENGTH", cl);
        break;
    case 2: {
        long long v = (long long)body_len + (int8_t)b1;
        snprintf(cl, sizeof(cl), "%lld", v < 0 ? 0 : v);
        env[nenv++] = env_entry("CONTENT_LENGTH", cl);
        break;
    }
    default:
        break;
    }
    env[nenv++] = env_entry("HTTP_X_REQUEST_ID", ff.f[6]);
    /* extra entries: taken as they are, '=' or not */
    for (char *p = ff.f[7]; *p != '\0' && nenv < ENV_MAX;) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *e = malloc(n + 1);

        if (e == NULL)
            abort();
        memcpy(e, p, n);
        e[n] = '\0';
        env[nenv++] = e;
        p += n + (nl ? 1 : 0);
    }
    env[nenv] = NULL;

    /* the body in an exact-size heap buffer so any over-read is caught */
    body_copy = fz_dup(body, body_len);
    m.in = body_copy;
    m.len = body_len;
    m.chunk = (flags >> 4) == 0 ? 0 : (size_t)1 << ((flags >> 4) - 1);
    m.fail_at = (flags & 8) ? (b1 & 3) + 1 : 0;

    st = http_request_init(&req, env, &res);
    FZ_ASSERT(strlen(req.request_id) > 0 && strlen(req.request_id) <= HTTP_REQUEST_ID_MAX);
    for (const char *r = req.request_id; *r; r++)
        FZ_ASSERT(isalnum((unsigned char)*r) || *r == '-' || *r == '_' || *r == '.');
    if (st != 0) {
        FZ_ASSERT(st == 400 || st == 404);
        check_error_body(&res, st);
        goto send;
    }
    FZ_ASSERT(res.body == NULL && res.status == 0);
    FZ_ASSERT(req.method != NULL && req.method[0] != '\0');
    FZ_ASSERT(req.path[0] == '/' && strlen(req.path) <= PATH_MAX_LEN);
    FZ_ASSERT(req.content_length >= -1);

    /* a few header lookups, including ones that cannot exist */
    (void)http_header(&req, "X-Request-Id");
    (void)http_header(&req, "Webhook-Signature");
    (void)http_header(&req, "Authorization");
    (void)http_header(&req, ff.f[4]);

    st = router_match("/webhook", req.method, req.path, &route, &allow);
    FZ_ASSERT(st == 0 || st == 404 || st == 405);
    FZ_ASSERT((st == 405) == (allow != NULL));
    if (st == 0) {
        FZ_ASSERT(route.route != NULL && route.route->name != NULL);
        FZ_ASSERT(strlen(route.param) <= PATH_MAX_LEN);
    }

    st = http_request_read_json_body(&req, &io, max_body, &res);
    if (st != 0) {
        FZ_ASSERT(st == 400 || st == 413 || st == 415 || st == 503);
        check_error_body(&res, st);
        FZ_ASSERT(req.body == NULL);
    } else {
        FZ_ASSERT(req.body != NULL);
        FZ_ASSERT(req.body_len <= max_body);
        FZ_ASSERT(req.body[req.body_len] == '\0');
        FZ_ASSERT(req.body_len <= body_len);
        FZ_ASSERT(req.body_len == 0 || memcmp(req.body, body, req.body_len) == 0);
        if (req.content_length >= 0)
            FZ_ASSERT((long long)req.body_len == req.content_length);
        else
            FZ_ASSERT(req.body_len == body_len); /* read to EOF */
        FZ_ASSERT(m.fail_at == 0 || m.reads < m.fail_at);
        http_error(&res, 422, "invalid_body", "fuzz");
        check_error_body(&res, 422);
    }
send:
    if (res.status == 405)
        res.allow = "GET, POST";
    FZ_ASSERT(http_send(&io, &res, req.request_id) == 0);
    FZ_ASSERT(m.written > res.body_len);
    http_response_free(&res);
    http_request_free(&req);
    free(body_copy);
    for (size_t i = 0; i < nenv; i++)
        free(env[i]);
    fz_fields_free(&ff);
    return 0;
}
