/* In-process pipeline tests, in the manner of kcgi's regress/: each test is
 * one behaviour of a whole request. A FastCGI-shaped request (a CGI
 * environment and a body behind an in-memory http_io) goes through
 * app_handle() with a real config, keyring and auth, and the in-memory
 * store of fake_store.c; the test then compares the exact bytes written
 * (status line, headers, body) and the store's rows and audit rows.
 *
 * Every request carries X-Request-Id t<N>, so a response is known byte for
 * byte and its audit rows can be picked out. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "app.h"
#include "config.h"
#include "fake_store.h"
#include "http.h"
#include "keyring.h"
#include "metrics.h"
#include "unit.h"

#define SHARED_SECRET "pipeline-shared-secret-0123456789abcdef"
#define JWT_SECRET    "pipeline-jwt-hs256-secret-0123456789abcdefgh"
#define MSG_MISSING   "webhook signature headers are missing"
#define MSG_BADSIG    "webhook signature is not valid"
#define MSG_NO_SECRET  "the webhook secret header is missing"
#define MSG_BAD_SECRET "the webhook secret is not valid"
#define MSG_UNAVAIL   "storage is unavailable; retry later"
#define MSG_NOTFOUND  "no backup share is stored for this client"
#define MSG_INTERNAL  "the share could not be processed"
#define MSG_METHOD    "field 'backupMethod' must be 1 to 64 printable ASCII characters"
#define MSG_CLIENT_ID "clientId must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-'"
#define MSG_ONE_OF    "exactly one of the fields 'backupShare' and 'cipherText' is required"
#define RETRY         "Retry-After: 2\r\n"

/* ---- strings that live until the test ends ---------------------------- */

static char **arena;
static size_t narena;

/* Out of memory ends the run: not a behaviour under test. */
static void *need(void *p)
{
    if (p == NULL) {
        fprintf(stderr, "test_pipeline: out of memory\n");
        abort();
    }
    return p;
}

static char *keep(char *s)
{
    char **n = need(realloc(arena, (narena + 1) * sizeof(*n)));

    arena = n;
    arena[narena++] = s;
    return s;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, f);
    n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    s = need(malloc((size_t)n + 1));
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return keep(s);
}

static void arena_free(void)
{
    for (size_t i = 0; i < narena; i++)
        free(arena[i]);
    free(arena);
    arena = NULL;
    narena = 0;
}

/* s as a JSON string literal: quotes and backslashes escaped (the tests'
 * strings hold nothing else that needs it). */
static const char *jstr(const char *s)
{
    char *out = keep(need(malloc(2 * strlen(s) + 3))), *p = out;

    *p++ = '"';
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '"';
    *p = '\0';
    return out;
}

/* n characters of c. */
static const char *repeat(char c, size_t n)
{
    char *s = keep(need(malloc(n + 1)));

    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static const char *b64(const uint8_t *in, size_t n)
{
    char *out = keep(need(malloc(4 * ((n + 2) / 3) + 1)));

    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

static const char *b64url(const uint8_t *in, size_t n)
{
    char *s = (char *)b64(in, n);
    size_t len = strlen(s);

    while (len > 0 && s[len - 1] == '=')
        s[--len] = '\0';
    for (char *p = s; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return s;
}

static void hmac_sha256(const void *key, size_t key_len, const char *data, size_t len,
                        uint8_t out[32])
{
    size_t out_len = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, key_len,
                                           (const unsigned char *)data, len, out, 32, &out_len));
    CU_ASSERT_EQUAL(out_len, 32);
}

/* ---- the in-memory FastCGI transport ---------------------------------- */

struct mem_io {
    const char *in;
    size_t in_len;
    size_t in_pos;
    int reads;             /* read calls: 0 means the body was never read */
    char *out;
    size_t out_len;
    size_t out_cap;
};

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
    struct mem_io *m = ctx;
    size_t left = m->in_len - m->in_pos;

    m->reads++;
    if (n > left)
        n = left;
    memcpy(buf, m->in + m->in_pos, n);
    m->in_pos += n;
    return (ssize_t)n;
}

static int mem_write(void *ctx, const void *buf, size_t n)
{
    struct mem_io *m = ctx;

    if (m->out_len + n + 1 > m->out_cap) {
        size_t cap = (m->out_len + n + 1) * 2;
        char *p = realloc(m->out, cap);

        if (p == NULL)
            return -1;
        m->out = p;
        m->out_cap = cap;
    }
    memcpy(m->out + m->out_len, buf, n);
    m->out_len += n;
    m->out[m->out_len] = '\0';
    return 0;
}

/* ---- the fixture: one worker's app, as server.c builds it -------------- */

enum wh_mode { SHARED, STANDARD };

static struct {
    struct config cfg;
    struct keyring *kr;
    struct auth *auth;
    struct store *st;
    struct app app;
    enum wh_mode mode;
    uint8_t wh_key[32];
    unsigned seq;
    char rid[16];          /* the last request's X-Request-Id */
    struct mem_io io;
    int status;            /* what app_handle returned */
} P;

static struct keyring *ring(void)
{
    struct keyring *kr = NULL;
    uint8_t key[KEK_LEN];

    CU_ASSERT_EQUAL_FATAL(keyring_new(&kr), KEYRING_OK);
    for (uint8_t id = 1; id <= 2; id++) {
        for (size_t i = 0; i < KEK_LEN; i++)
            key[i] = (uint8_t)(id * 0x40 + i);
        CU_ASSERT_EQUAL_FATAL(keyring_add(kr, id, id == 1 ? KEK_ACTIVE : KEK_DECRYPT, key,
                                          sizeof(key)), KEYRING_OK);
    }
    OPENSSL_cleanse(key, sizeof(key));
    return kr;
}

/* Starts the fixture: webhooks in mode, client JWTs (HS256), metrics for
 * 127.0.0.1, and extra config lines. */
static void pipe_open(enum wh_mode mode, const char *extra)
{
    char err[512] = "";
    const char *secrets, *jwt, *text;

    memset(&P, 0, sizeof(P));
    CU_ASSERT_EQUAL_FATAL(metrics_init(), 0);
    P.mode = mode;
    for (size_t i = 0; i < sizeof(P.wh_key); i++)
        P.wh_key[i] = (uint8_t)(0x20 + i);
    unit_tmp_setup("pipe");
    secrets = fmt("%s", unit_write_file("webhook.secrets",
                                        mode == SHARED ? SHARED_SECRET "\n"
                                        : fmt("whsec_%s\n", b64(P.wh_key, sizeof(P.wh_key))),
                                        0600));
    jwt = fmt("%s", unit_write_file("jwt.secret", JWT_SECRET "\n", 0600));
    text = fmt("keyring = /nonexistent/keyring\n"
               "webhook_auth = %s\n"
               "webhook_secrets = %s\n"
               "jwt_hs256_secret = %s\n"
               "metrics_allow = 127.0.0.1\n"
               "%s",
               mode == SHARED ? "shared-secret" : "standard-webhooks", secrets, jwt,
               extra != NULL ? extra : "");
    CU_ASSERT_EQUAL_FATAL(config_load_text(text, strlen(text), "pipeline.conf", NULL, &P.cfg,
                                           err, sizeof(err)), 0);
    P.kr = ring();
    if (auth_load(&P.cfg, &P.auth, err, sizeof(err)) != 0)
        fprintf(stderr, "auth_load: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(P.auth);
    unit_tmp_teardown();        /* the secrets are in memory now */
    CU_ASSERT_EQUAL_FATAL(store_new("fake", &P.st), STORE_OK);
    P.app.cfg = &P.cfg;
    P.app.kr = P.kr;
    P.app.auth = P.auth;
    P.app.store = P.st;
}

static void pipe_close(void)
{
    store_free(P.st);
    auth_free(P.auth);
    keyring_free(P.kr);
    config_free(&P.cfg);
    free(P.io.out);
    arena_free();
    memset(&P, 0, sizeof(P));
}

/* ---- requests --------------------------------------------------------- */

struct rq {
    const char *method;    /* NULL: no REQUEST_METHOD */
    const char *uri;
    const char *body;      /* NULL: none */
    const char *ctype;     /* NULL: application/json (with a body) */
    int no_length;         /* a body without CONTENT_LENGTH (streamed) */
    const char *peer;      /* the transport's peer; NULL: "unix" */
    const char *env[8];    /* more "NAME=value"; they win over the defaults */
};

/* Runs one request through app_handle; the response is in P.io. */
static int run(const struct rq *r)
{
    char *env[32];
    size_t n = 0;

    P.seq++;
    snprintf(P.rid, sizeof(P.rid), "t%u", P.seq);
    for (size_t i = 0; i < 8 && r->env[i] != NULL; i++)
        env[n++] = (char *)r->env[i];
    if (r->method != NULL)
        env[n++] = fmt("REQUEST_METHOD=%s", r->method);
    env[n++] = fmt("REQUEST_URI=%s", r->uri);
    env[n++] = fmt("HTTP_X_REQUEST_ID=%s", P.rid);
    env[n++] = "REMOTE_ADDR=127.0.0.1";
    if (r->body != NULL) {
        env[n++] = fmt("CONTENT_TYPE=%s", r->ctype != NULL ? r->ctype : "application/json");
        if (!r->no_length)
            env[n++] = fmt("CONTENT_LENGTH=%zu", strlen(r->body));
    }
    env[n] = NULL;
    free(P.io.out);
    memset(&P.io, 0, sizeof(P.io));
    P.io.in = r->body != NULL ? r->body : "";
    P.io.in_len = strlen(P.io.in);
    {
        struct http_io io = { mem_read, mem_write, &P.io };

        P.status = app_handle(&P.app, env, &io, r->peer != NULL ? r->peer : "unix");
    }
    return P.status;
}

/* POST {root}<path>: signed with delivery id (NULL: a fresh one) in
 * standard mode, with the secret header in shared mode; extra: one more
 * environment entry or NULL. */
static int hook_with(const char *path, const char *body, const char *id, const char *extra)
{
    struct rq r = { "POST", fmt("/webhook%s", path), body, NULL, 0, NULL, { extra } };

    if (P.mode == STANDARD) {
        const char *ts = fmt("%lld", (long long)time(NULL));
        const char *msg_id = id != NULL ? id : fmt("msg_%u", P.seq + 1);
        const char *signed_text = fmt("%s.%s.%s", msg_id, ts, body);
        uint8_t mac[32];

        hmac_sha256(P.wh_key, sizeof(P.wh_key), signed_text, strlen(signed_text), mac);
        r.env[1] = fmt("HTTP_WEBHOOK_ID=%s", msg_id);
        r.env[2] = fmt("HTTP_WEBHOOK_TIMESTAMP=%s", ts);
        r.env[3] = fmt("HTTP_WEBHOOK_SIGNATURE=v1,%s", b64(mac, sizeof(mac)));
        if (extra == NULL) {
            r.env[0] = r.env[1];
            r.env[1] = r.env[2];
            r.env[2] = r.env[3];
            r.env[3] = NULL;
        }
    } else if (extra == NULL) {
        r.env[0] = "HTTP_X_WEBHOOK_SECRET=" SHARED_SECRET;
    } else {
        r.env[1] = "HTTP_X_WEBHOOK_SECRET=" SHARED_SECRET;
    }
    return run(&r);
}

static int hook(const char *path, const char *body)
{
    return hook_with(path, body, NULL, NULL);
}

/* A webhook request with exactly the headers given (no credential added). */
static int hook_raw(const char *path, const char *body, const char *h1, const char *h2,
                    const char *h3)
{
    struct rq r = { "POST", fmt("/webhook%s", path), body, NULL, 0, NULL, { h1, h2, h3 } };

    return run(&r);
}

/* An HS256 client token for sub, expiring exp_in seconds from now. */
static const char *token(const char *sub, long exp_in)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    const char *payload = fmt("{\"sub\":\"%s\",\"exp\":%lld}", sub,
                              (long long)time(NULL) + exp_in);
    const char *input = fmt("%s.%s", b64url((const uint8_t *)header, sizeof(header) - 1),
                            b64url((const uint8_t *)payload, strlen(payload)));
    uint8_t mac[32];

    hmac_sha256(JWT_SECRET, strlen(JWT_SECRET), input, strlen(input), mac);
    return fmt("%s.%s", input, b64url(mac, sizeof(mac)));
}

/* A client route: /portal/clients/<cid>/backup<query>, with a token for
 * sub (NULL: no Authorization header). */
static int client_as(const char *method, const char *cid, const char *query, const char *body,
                     const char *sub)
{
    struct rq r = { method, fmt("/portal/clients/%s/backup%s", cid, query ? query : ""), body,
                    NULL, 0, NULL, { NULL } };

    if (sub != NULL)
        r.env[0] = fmt("HTTP_AUTHORIZATION=Bearer %s", token(sub, 300));
    return run(&r);
}

static int client(const char *method, const char *cid, const char *query, const char *body)
{
    return client_as(method, cid, query, body, cid);
}

/* ---- bodies ----------------------------------------------------------- */

/* {"clientId":cid,"share":share[,"backupMethod":method]} */
static const char *store_body(const char *cid, const char *share, const char *method)
{
    return fmt("{\"clientId\":\"%s\",\"share\":%s%s}", cid, jstr(share),
               method != NULL ? fmt(",\"backupMethod\":\"%s\"", method) : "");
}

static const char *fetch_body(const char *cid)
{
    return fmt("{\"clientId\":\"%s\"}", cid);
}

/* A custodian share as Portal's SDK stringifies it: an object that carries
 * its pair id. */
static const char *portal_share(const char *pair, const char *curve, const char *material)
{
    return fmt("{\"backupSharePairId\":\"%s\",\"share\":\"%s\",\"curve\":\"%s\"}", pair,
               material, curve);
}

static const char *stored(unsigned version, int created)
{
    return fmt("{\"ok\":true,\"version\":%u,\"created\":%s}", version,
               created ? "true" : "false");
}

static const char *error_body(const char *code, const char *message)
{
    return fmt("{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
}

/* {"backupShares":[s...],"backupShare":s[0]} for n shares, newest first. */
static const char *shares_body(size_t n, ...)
{
    const char *list = "", *first = NULL;
    va_list ap;

    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        const char *s = va_arg(ap, const char *);

        if (i == 0)
            first = s;
        list = fmt("%s%s%s", list, i > 0 ? "," : "", jstr(s));
    }
    va_end(ap);
    return fmt("{\"backupShares\":[%s],\"backupShare\":%s}", list, jstr(first));
}

/* The client fetch answer; methods: the "backupMethods" list, NULL for a
 * fetch by method. */
static const char *client_body(const char *method, const char *share, const char *methods)
{
    return fmt("{\"backupMethod\":\"%s\",\"backupShare\":%s,\"cipherText\":%s%s}", method,
               jstr(share), jstr(share),
               methods != NULL ? fmt(",\"backupMethods\":[%s]", methods) : "");
}

/* ---- what came back --------------------------------------------------- */

static void check_at(int line, int ok, const char *what)
{
    CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned)line, what, __FILE__, "",
                            CU_FALSE);
}

/* The whole response, byte for byte: status line, the fixed headers,
 * headers (the optional ones, in http_send's order), the body. */
static void expect_at(int line, int status, const char *ctype, const char *headers,
                      const char *body)
{
    const char *want = fmt("Status: %d %s\r\n"
                           "Content-Type: %s\r\n"
                           "Content-Length: %zu\r\n"
                           "Cache-Control: no-store\r\n"
                           "X-Content-Type-Options: nosniff\r\n"
                           "X-Request-Id: %s\r\n"
                           "%s\r\n%s",
                           status, http_reason(status),
                           ctype != NULL ? ctype : "application/json", strlen(body), P.rid,
                           headers != NULL ? headers : "", body);
    int same = P.io.out != NULL && strcmp(P.io.out, want) == 0;

    check_at(line, P.status == status, "app_handle returns the status sent");
    check_at(line, same, "the response bytes are the expected ones");
    if (!same)
        fprintf(stderr, "\nline %d: expected\n%s\n---- got\n%s\n----\n", line, want,
                P.io.out != NULL ? P.io.out : "(nothing)");
}
#define EXPECT(status, headers, body) expect_at(__LINE__, status, NULL, headers, body)
#define EXPECT_ERROR(status, headers, code, message) \
    expect_at(__LINE__, status, NULL, headers, error_body(code, message))

/* Only the status line and the error code (for messages another module
 * words, e.g. the JSON parser's). */
static void expect_code_at(int line, int status, const char *code)
{
    const char *line1 = fmt("Status: %d %s\r\n", status, http_reason(status));
    const char *body = P.io.out != NULL ? strstr(P.io.out, "\r\n\r\n") : NULL;
    const char *prefix = fmt("{\"error\":{\"code\":\"%s\",\"message\":\"", code);

    check_at(line, P.status == status, "app_handle returns the status sent");
    check_at(line, P.io.out != NULL && strncmp(P.io.out, line1, strlen(line1)) == 0,
             "status line");
    check_at(line, body != NULL && strncmp(body + 4, prefix, strlen(prefix)) == 0,
             "error code");
    if (P.status != status)
        fprintf(stderr, "\nline %d: got\n%s\n", line, P.io.out != NULL ? P.io.out : "");
}
#define EXPECT_CODE(status, code) expect_code_at(__LINE__, status, code)

static const char *resp_body(void)
{
    const char *b = P.io.out != NULL ? strstr(P.io.out, "\r\n\r\n") : NULL;

    return b != NULL ? b + 4 : "";
}

/* The audit rows of the last request. */
static size_t audits_of_last(const struct fake_audit **first)
{
    size_t n = 0;

    *first = NULL;
    for (size_t i = 0; i < fake_store_naudits(P.st); i++) {
        const struct fake_audit *a = fake_store_audit_row(P.st, i);

        if (strcmp(a->request_id, P.rid) != 0 &&
            !(a->has_claimed_request && strcmp(a->claimed_request_id, P.rid) == 0))
            continue;
        if (n++ == 0)
            *first = a;
    }
    return n;
}

/* The last request left exactly one audit row, with these columns; client
 * and method NULL for SQL NULL, served -1 and unopened 0 likewise. */
static void expect_audit_at(int line, const char *endpoint, const char *client_id, int result,
                            uint32_t version, const char *method, int served, int unopened)
{
    const struct fake_audit *a = NULL;
    size_t n = audits_of_last(&a);

    check_at(line, n == 1, "exactly one audit row for the request");
    if (a == NULL)
        return;
    check_at(line, strcmp(a->endpoint, endpoint) == 0, "audit endpoint");
    check_at(line, client_id == NULL ? !a->has_client
                                     : a->has_client && strcmp(a->client_id, client_id) == 0,
             "audit client_id");
    check_at(line, a->result == result, "audit result");
    check_at(line, a->version == version, "audit version");
    check_at(line, method == NULL ? !a->has_method
                                  : a->has_method && strcmp(a->backup_method, method) == 0,
             "audit backup_method");
    check_at(line, a->served == served, "audit served");
    check_at(line, a->unopened == unopened, "audit unopened");
}
#define EXPECT_AUDIT(endpoint, client_id, result, version, method, served, unopened) \
    expect_audit_at(__LINE__, endpoint, client_id, result, version, method, served, unopened)

/* The audit row of a request refused before its credential passed (or
 * before the body it is checked over was read): no version, method or
 * share count; claimed is the client the request named (the path's), NULL
 * when none. */
static void expect_refusal_at(int line, const char *endpoint, const char *claimed, int result)
{
    const struct fake_audit *a = NULL;

    /* Nothing it claimed is trusted: client_id NULL, the claims apart, and
     * the request id its own (ours is the claim). */
    expect_audit_at(line, endpoint, NULL, result, 0, NULL, -1, 0);
    if (audits_of_last(&a) != 1 || a == NULL)
        return;
    check_at(line, claimed == NULL ? !a->has_claimed_client
                                   : a->has_claimed_client &&
                                         strcmp(a->claimed_client_id, claimed) == 0,
             "refusal claimed_client_id");
    check_at(line, a->has_claimed_request && strcmp(a->claimed_request_id, P.rid) == 0,
             "refusal claimed_request_id");
    check_at(line, strlen(a->request_id) == 32 && strspn(a->request_id, "0123456789abcdef") == 32,
             "refusal request_id is our own");
}
#define EXPECT_REFUSAL(endpoint, claimed, result) \
    expect_refusal_at(__LINE__, endpoint, claimed, result)

static void expect_no_audit_at(int line)
{
    const struct fake_audit *a;

    check_at(line, audits_of_last(&a) == 0, "no audit row for the request");
}
#define EXPECT_NO_AUDIT() expect_no_audit_at(__LINE__)

/* Record i (in insertion order) has this identity and version. */
static void expect_record_at(int line, size_t i, const char *client_id, int kind,
                             const char *method, const char *pair_id, uint32_t version)
{
    const struct fake_record *r = fake_store_record(P.st, i);

    check_at(line, r != NULL, "record exists");
    if (r == NULL)
        return;
    check_at(line, strcmp(r->client_id, client_id) == 0, "record client_id");
    check_at(line, r->kind == kind, "record kind");
    check_at(line, strcmp(r->backup_method, method) == 0, "record backup_method");
    check_at(line, strcmp(r->pair_id, pair_id) == 0, "record pair_id");
    check_at(line, r->version == version, "record version");
    check_at(line, r->kek_id == 1, "sealed under the active KEK");
}
#define EXPECT_RECORD(i, client_id, kind, method, pair_id, version) \
    expect_record_at(__LINE__, i, client_id, kind, method, pair_id, version)

/* Flips a bit of the last byte of record i, as tampering in the database
 * would. */
static void tamper_at(int line, size_t i)
{
    const struct fake_record *r = fake_store_record(P.st, i);

    check_at(line, r != NULL && fake_store_tamper(P.st, i, r->sealed_len - 1) == 0,
             "record tampered with");
}
#define TAMPER(i) tamper_at(__LINE__, i)

/* The value of one sample of the metrics exposition, or -1. */
static long long metric(const char *sample)
{
    char *body = NULL, *p;
    size_t len = 0;
    long long v = -1;
    const char *want = fmt("\n%s ", sample);

    CU_ASSERT_EQUAL_FATAL(metrics_render(&body, &len), 0);
    p = strstr(body, want);
    if (p != NULL)
        v = strtoll(p + strlen(want), NULL, 10);
    free(body);
    return v;
}

/* ==== routing ============================================================ */

static void test_unknown_path_is_404_before_anything(void)
{
    pipe_open(SHARED, NULL);
    run(&(struct rq){ "POST", "/webhook/nothing", "{}", NULL, 0, NULL, { NULL } });
    EXPECT_ERROR(404, NULL, "not_found", "no such resource");
    CU_ASSERT_EQUAL(P.io.reads, 0);
    CU_ASSERT_EQUAL(fake_store_naudits(P.st), 0);
    pipe_close();
}

static void test_trailing_slash_is_another_path(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup/", store_body("c1", "s", NULL));
    EXPECT_ERROR(404, NULL, "not_found", "no such resource");
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 0);
    pipe_close();
}

static void test_wrong_method_is_405_with_allow(void)
{
    pipe_open(SHARED, NULL);
    run(&(struct rq){ "GET", "/webhook/backup", NULL, NULL, 0, NULL, { NULL } });
    EXPECT_ERROR(405, "Allow: POST\r\n", "method_not_allowed",
                 "method not allowed for this resource");
    CU_ASSERT_EQUAL(fake_store_naudits(P.st), 0);
    pipe_close();
}

static void test_client_path_allows_get_and_post(void)
{
    pipe_open(SHARED, NULL);
    run(&(struct rq){ "DELETE", "/portal/clients/c1/backup", NULL, NULL, 0, NULL, { NULL } });
    EXPECT_ERROR(405, "Allow: GET, HEAD, POST\r\n", "method_not_allowed",
                 "method not allowed for this resource");
    pipe_close();
}

static void test_lowercase_method_is_not_a_method(void)
{
    pipe_open(SHARED, NULL);
    run(&(struct rq){ "get", "/healthz", NULL, NULL, 0, NULL, { NULL } });
    EXPECT_ERROR(405, "Allow: GET, HEAD\r\n", "method_not_allowed",
                 "method not allowed for this resource");
    pipe_close();
}

/* HEAD answers as GET would, headers only: the same status and
 * Content-Length, no body. */
static void test_head_is_get_without_the_body(void)
{
    const char *get, *head;
    size_t getlen;

    pipe_open(SHARED, NULL);
    run(&(struct rq){ "GET", "/healthz", NULL, NULL, 0, NULL, { "HTTP_X_REQUEST_ID=h1" } });
    get = fmt("%.*s", (int)P.io.out_len, P.io.out);
    getlen = P.io.out_len;
    run(&(struct rq){ "HEAD", "/healthz", NULL, NULL, 0, NULL, { "HTTP_X_REQUEST_ID=h1" } });
    head = fmt("%.*s", (int)P.io.out_len, P.io.out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(strstr(get, "\r\n\r\n"));
    CU_ASSERT_EQUAL(P.io.out_len, (size_t)(strstr(get, "\r\n\r\n") + 4 - get));
    CU_ASSERT_EQUAL(strncmp(get, head, P.io.out_len), 0);
    CU_ASSERT(getlen > P.io.out_len);
    pipe_close();
}

static void test_missing_request_method_is_400(void)
{
    pipe_open(SHARED, NULL);
    run(&(struct rq){ NULL, "/healthz", NULL, NULL, 0, NULL, { NULL } });
    EXPECT_ERROR(400, NULL, "bad_request", "no request method");
    pipe_close();
}

static void test_invalid_request_id_is_replaced(void)
{
    const char *id;

    pipe_open(SHARED, NULL);
    /* An invalid X-Request-Id (listed first, so it wins) is replaced. */
    run(&(struct rq){ "GET", "/healthz", NULL, NULL, 0, NULL, { "HTTP_X_REQUEST_ID=bad id" } });
    CU_ASSERT_EQUAL(P.status, 200);
    id = strstr(P.io.out, "X-Request-Id: ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    id += strlen("X-Request-Id: ");
    CU_ASSERT_EQUAL(strspn(id, "0123456789abcdef"), 32);
    CU_ASSERT_NSTRING_EQUAL(id + 32, "\r\n", 2);
    pipe_close();
}

/* ==== webhook authentication ============================================= */

static void test_shared_secret_missing_is_401_and_audited(void)
{
    pipe_open(SHARED, NULL);
    hook_raw("/backup", store_body("c1", "s", NULL), NULL, NULL, NULL);
    EXPECT_ERROR(401, NULL, "unauthenticated", MSG_NO_SECRET);
    /* The body was not parsed, so the row names no client. */
    EXPECT_REFUSAL("custodian.store", NULL, 401);
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 0);
    CU_ASSERT_EQUAL(fake_store_calls(P.st, FAKE_PUT_FIRST), 0);
    pipe_close();
}

static void test_shared_secret_wrong_is_401(void)
{
    pipe_open(SHARED, NULL);
    hook_raw("/backup", store_body("c1", "s", NULL),
             "HTTP_X_WEBHOOK_SECRET=" SHARED_SECRET "x", NULL, NULL);
    EXPECT_ERROR(401, NULL, "unauthenticated", MSG_BAD_SECRET);
    hook_raw("/backup/fetch", fetch_body("c1"), "HTTP_X_WEBHOOK_SECRET=", NULL, NULL);
    EXPECT_ERROR(401, NULL, "unauthenticated", MSG_BAD_SECRET);
    EXPECT_REFUSAL("custodian.fetch", NULL, 401);
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 0);
    pipe_close();
}

static void test_shared_secret_ignores_webhook_id(void)
{
    pipe_open(SHARED, NULL);
    /* Nothing signs a Webhook-Id in shared-secret mode: no replay check. */
    hook_with("/backup", store_body("c1", "s1", NULL), NULL, "HTTP_WEBHOOK_ID=msg_same");
    EXPECT(200, NULL, stored(1, 1));
    hook_with("/backup", store_body("c1", "s2", NULL), NULL, "HTTP_WEBHOOK_ID=msg_same");
    EXPECT(200, NULL, stored(2, 1));
    CU_ASSERT_EQUAL(fake_store_ndeliveries(P.st), 0);
    pipe_close();
}

static void test_standard_signature_accepted_and_delivery_kept(void)
{
    const char *body;
    const struct fake_delivery *d;
    uint8_t sha[32];

    pipe_open(STANDARD, NULL);
    body = store_body("c1", "share-one", "PASSWORD");
    hook_with("/backup", body, "msg_first", NULL);
    EXPECT(200, NULL, stored(1, 1));
    CU_ASSERT_EQUAL_FATAL(fake_store_ndeliveries(P.st), 1);
    d = fake_store_delivery(P.st, 0);
    CU_ASSERT_STRING_EQUAL(d->delivery_id, "msg_first");
    CU_ASSERT_STRING_EQUAL(d->client_id, "c1");
    CU_ASSERT_EQUAL(d->version, 1);
    CU_ASSERT_PTR_NOT_NULL(EVP_Q_digest(NULL, "SHA256", NULL, body, strlen(body), sha, NULL));
    CU_ASSERT_EQUAL(memcmp(d->body_sha256, sha, 32), 0);
    EXPECT_AUDIT("custodian.store", "c1", 200, 1, "PASSWORD", -1, 0);
    pipe_close();
}

static void test_standard_missing_headers_is_401(void)
{
    pipe_open(STANDARD, NULL);
    hook_raw("/backup", store_body("c1", "s", NULL), "HTTP_X_WEBHOOK_SECRET=" SHARED_SECRET,
             NULL, NULL);
    EXPECT_ERROR(401, NULL, "unauthenticated", MSG_MISSING);
    pipe_close();
}

static void test_standard_bad_signature_is_401(void)
{
    const char *ts = fmt("HTTP_WEBHOOK_TIMESTAMP=%lld", (long long)time(NULL));

    pipe_open(STANDARD, NULL);
    hook_raw("/backup", store_body("c1", "s", NULL), "HTTP_WEBHOOK_ID=msg_1", ts,
             fmt("HTTP_WEBHOOK_SIGNATURE=v1,%s", b64((const uint8_t *)repeat('k', 32), 32)));
    EXPECT_ERROR(401, NULL, "unauthenticated", MSG_BADSIG);
    CU_ASSERT_EQUAL(fake_store_ndeliveries(P.st), 0);
    pipe_close();
}

static void test_standard_stale_timestamp_is_401(void)
{
    pipe_open(STANDARD, NULL);
    hook_raw("/backup", store_body("c1", "s", NULL), "HTTP_WEBHOOK_ID=msg_1",
             "HTTP_WEBHOOK_TIMESTAMP=1000000000",
             fmt("HTTP_WEBHOOK_SIGNATURE=v1,%s", b64((const uint8_t *)repeat('k', 32), 32)));
    EXPECT_ERROR(401, NULL, "unauthenticated", "webhook timestamp is outside the tolerance");
    pipe_close();
}

static void test_standard_redelivery_answers_the_same(void)
{
    const char *body;

    pipe_open(STANDARD, NULL);
    body = store_body("c1", "share-one", "PASSWORD");
    hook_with("/backup", body, "msg_1", NULL);
    EXPECT(200, NULL, stored(1, 1));
    hook_with("/backup", body, "msg_1", NULL);
    EXPECT(200, NULL, stored(1, 0));
    EXPECT_AUDIT("custodian.store", "c1", 200, 1, "PASSWORD", -1, 0);
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 1);
    CU_ASSERT_EQUAL(fake_store_ndeliveries(P.st), 1);
    pipe_close();
}

static void test_standard_delivery_id_replayed_with_other_body_is_409(void)
{
    pipe_open(STANDARD, NULL);
    hook_with("/backup", store_body("c1", "share-one", NULL), "msg_1", NULL);
    EXPECT(200, NULL, stored(1, 1));
    hook_with("/backup", store_body("c1", "share-two", NULL), "msg_1", NULL);
    EXPECT_ERROR(409, NULL, "delivery_conflict",
                 "this delivery id was already used with a different body");
    EXPECT_AUDIT("custodian.store", "c1", 409, 0, NULL, -1, 0);
    /* A delivery id is one delivery, whichever client it named. */
    hook_with("/backup", store_body("c2", "share-one", NULL), "msg_1", NULL);
    EXPECT_CODE(409, "delivery_conflict");
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 1);
    pipe_close();
}

static void test_standard_redelivery_unaudited_is_503(void)
{
    const char *body;

    pipe_open(STANDARD, NULL);
    body = store_body("c1", "share-one", NULL);
    hook_with("/backup", body, "msg_1", NULL);
    fake_store_fail(P.st, FAKE_AUDIT, 1, STORE_UNAVAILABLE);
    hook_with("/backup", body, "msg_1", NULL);
    EXPECT_ERROR(503, RETRY, "unavailable", MSG_UNAVAIL);
    EXPECT_AUDIT("custodian.store", "c1", 503, 0, NULL, -1, 0);
    pipe_close();
}

static void test_standard_lost_insert_race_looks_again(void)
{
    const char *body;

    pipe_open(STANDARD, NULL);
    body = store_body("c1", "share-one", NULL);
    hook_with("/backup", store_body("c1", "share-zero", NULL), "msg_0", NULL);
    /* A concurrent writer took version 2 between our look and our insert
     * (the fault writes nothing): the next turn looks again. */
    fake_store_fail(P.st, FAKE_PUT, 1, STORE_CONFLICT);
    hook_with("/backup", body, "msg_1", NULL);
    EXPECT(200, NULL, stored(2, 1));
    CU_ASSERT_EQUAL(fake_store_calls(P.st, FAKE_LOOKUP), 2);
    pipe_close();
}

/* ==== request bodies ===================================================== */

static void test_wrong_content_type_is_415_unread(void)
{
    pipe_open(SHARED, NULL);
    run(&(struct rq){ "POST", "/webhook/backup", store_body("c1", "s", NULL), "text/plain", 0,
                      NULL, { "HTTP_X_WEBHOOK_SECRET=" SHARED_SECRET } });
    EXPECT_ERROR(415, NULL, "unsupported_media_type", "Content-Type must be application/json");
    CU_ASSERT_EQUAL(P.io.reads, 0);
    EXPECT_REFUSAL("custodian.store", NULL, 415);
    pipe_close();
}

static void test_declared_length_over_max_body_is_413_unread(void)
{
    pipe_open(SHARED, "max_body = 1k\n");
    hook("/backup", store_body("c1", repeat('a', 1100), NULL));
    EXPECT_ERROR(413, NULL, "payload_too_large", "request body exceeds the configured limit");
    CU_ASSERT_EQUAL(P.io.reads, 0);
    EXPECT_REFUSAL("custodian.store", NULL, 413);
    pipe_close();
}

static void test_streamed_body_over_max_body_is_413(void)
{
    pipe_open(SHARED, "max_body = 1k\n");
    run(&(struct rq){ "POST", "/webhook/backup", store_body("c1", repeat('a', 1100), NULL), NULL,
                      1, NULL, { "HTTP_X_WEBHOOK_SECRET=" SHARED_SECRET } });
    EXPECT_ERROR(413, NULL, "payload_too_large", "request body exceeds the configured limit");
    CU_ASSERT_TRUE(P.io.reads > 0);
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 0);
    pipe_close();
}

static void test_body_shorter_than_length_is_400(void)
{
    pipe_open(SHARED, NULL);
    run(&(struct rq){ "POST", "/webhook/backup", "{}", NULL, 0, NULL,
                      { "CONTENT_LENGTH=10", "HTTP_X_WEBHOOK_SECRET=" SHARED_SECRET } });
    EXPECT_ERROR(400, NULL, "bad_request", "request body shorter than Content-Length");
    pipe_close();
}

static void test_malformed_json_is_400(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup", "{\"clientId\":");
    EXPECT_CODE(400, "malformed_json");
    EXPECT_AUDIT("custodian.store", NULL, 400, 0, NULL, -1, 0);
    hook("/backup", "{\"clientId\":\"a\",\"clientId\":\"b\",\"share\":\"s\"}");
    EXPECT_CODE(400, "malformed_json");
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 0);
    pipe_close();
}

static void test_json_that_is_not_an_object_is_422(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup", "[\"c1\",\"s\"]");
    EXPECT_CODE(422, "invalid_body");
    pipe_close();
}

static void test_missing_or_mistyped_fields_are_422(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup", "{\"share\":\"s\"}");
    EXPECT_ERROR(422, NULL, "invalid_field", "field 'clientId' is required");
    hook("/backup", "{\"clientId\":7,\"share\":\"s\"}");
    EXPECT_ERROR(422, NULL, "invalid_field", "field 'clientId' must be a string");
    hook("/backup", "{\"clientId\":\"c1\"}");
    EXPECT_ERROR(422, NULL, "invalid_field", "field 'share' is required");
    /* The client id was valid: the row names it. */
    EXPECT_AUDIT("custodian.store", "c1", 422, 0, NULL, -1, 0);
    hook("/backup", "{\"clientId\":\"c1\",\"share\":\"\"}");
    EXPECT_ERROR(422, NULL, "invalid_field", "field 'share' must not be empty");
    hook("/backup/fetch", "{\"clientId\":null}");
    EXPECT_ERROR(422, NULL, "invalid_field", "field 'clientId' must be a string");
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 0);
    pipe_close();
}

static void test_invalid_client_id_is_422_unnamed(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup", store_body("bad id!", "s", NULL));
    EXPECT_ERROR(422, NULL, "invalid_client_id", MSG_CLIENT_ID);
    EXPECT_AUDIT("custodian.store", NULL, 422, 0, NULL, -1, 0);
    hook("/backup/fetch", fetch_body(repeat('a', CLIENT_ID_MAX + 1)));
    EXPECT_ERROR(422, NULL, "invalid_client_id", MSG_CLIENT_ID);
    pipe_close();
}

static void test_invalid_identity_fields_are_422(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup", store_body("c1", "s", repeat('M', BACKUP_METHOD_MAX + 1)));
    EXPECT_ERROR(422, NULL, "invalid_field", MSG_METHOD);
    hook("/backup", "{\"clientId\":\"c1\",\"share\":\"s\",\"backupMethod\":7}");
    EXPECT_ERROR(422, NULL, "invalid_field", MSG_METHOD);
    hook("/backup", store_body("c1", portal_share(repeat('p', PAIR_ID_MAX + 1), "ED25519", "x"),
                               "PASSWORD"));
    EXPECT_ERROR(422, NULL, "invalid_field",
                 "the share's backupSharePairId must be 1 to 128 printable ASCII characters");
    hook("/backup", "{\"clientId\":\"c1\",\"share\":\"s\",\"backupSharePairId\":\"\"}");
    EXPECT_ERROR(422, NULL, "invalid_field",
                 "field 'backupSharePairId' must be 1 to 128 printable ASCII characters");
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 0);
    pipe_close();
}

/* ==== custodian: Portal's multi-backup sequence ========================== */

static void test_portal_backup_per_method_and_curve(void)
{
    static const char *const methods[] = { "PASSWORD-SECP256K1", "PASSWORD-ED25519",
                                           "GDRIVE-SECP256K1", "GDRIVE-ED25519" };
    const char *s[4];

    pipe_open(SHARED, NULL);
    for (size_t i = 0; i < 4; i++) {
        s[i] = portal_share(fmt("pair-%zu", i), strchr(methods[i], '-') + 1,
                            fmt("material-%zu", i));
        hook("/backup", store_body("u1", s[i], methods[i]));
        EXPECT(200, NULL, stored(1, 1));
        EXPECT_AUDIT("custodian.store", "u1", 200, 1, methods[i], -1, 0);
        EXPECT_RECORD(i, "u1", SHARE_KIND_CUSTODIAN, methods[i], fmt("pair-%zu", i), 1);
        /* The validation fetch Portal makes at once: every newest share,
         * newest first. */
        hook("/backup/fetch", fetch_body("u1"));
        switch (i) {
        case 0: EXPECT(200, NULL, shares_body(1, s[0])); break;
        case 1: EXPECT(200, NULL, shares_body(2, s[1], s[0])); break;
        case 2: EXPECT(200, NULL, shares_body(3, s[2], s[1], s[0])); break;
        case 3: EXPECT(200, NULL, shares_body(4, s[3], s[2], s[1], s[0])); break;
        }
    }
    /* A fetch of several: no single method, served 4, the newest version. */
    EXPECT_AUDIT("custodian.fetch", "u1", 200, 1, NULL, 4, 0);
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 4);
    pipe_close();
}

static void test_fetch_of_one_share_audits_its_method(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup", store_body("u1", "only", "PASSWORD"));
    hook("/backup/fetch", fetch_body("u1"));
    EXPECT(200, NULL, shares_body(1, "only"));
    EXPECT_AUDIT("custodian.fetch", "u1", 200, 1, "PASSWORD", 1, 0);
    pipe_close();
}

static void test_rebackup_is_next_version_and_served_first(void)
{
    const char *a, *b, *a2;

    pipe_open(SHARED, NULL);
    a = portal_share("pa", "SECP256K1", "one");
    b = portal_share("pb", "ED25519", "two");
    a2 = portal_share("pa", "SECP256K1", "one-again");
    hook("/backup", store_body("u1", a, "PASSWORD"));
    hook("/backup", store_body("u1", b, "GDRIVE"));
    hook("/backup", store_body("u1", a2, "PASSWORD"));
    EXPECT(200, NULL, stored(2, 1));
    EXPECT_RECORD(2, "u1", SHARE_KIND_CUSTODIAN, "PASSWORD", "pa", 2);
    hook("/backup/fetch", fetch_body("u1"));
    EXPECT(200, NULL, shares_body(2, a2, b));
    EXPECT_AUDIT("custodian.fetch", "u1", 200, 2, NULL, 2, 0);
    pipe_close();
}

static void test_identical_retry_adds_no_version(void)
{
    const char *a, *b;

    pipe_open(SHARED, NULL);
    a = portal_share("pa", "SECP256K1", "one");
    b = portal_share("pb", "ED25519", "two");
    hook("/backup", store_body("u1", a, "PASSWORD"));
    hook("/backup", store_body("u1", b, "GDRIVE"));
    /* A retry of an identity that is not the newest stored one. */
    hook("/backup", store_body("u1", a, "PASSWORD"));
    EXPECT(200, NULL, stored(1, 0));
    EXPECT_AUDIT("custodian.store", "u1", 200, 1, "PASSWORD", -1, 0);
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 2);
    CU_ASSERT_EQUAL(fake_store_calls(P.st, FAKE_NOTE), 1);
    hook("/backup/fetch", fetch_body("u1"));
    EXPECT(200, NULL, shares_body(2, b, a));
    pipe_close();
}

static void test_older_share_sent_again_is_a_new_version(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup", store_body("u1", "A", "PASSWORD"));
    hook("/backup", store_body("u1", "B", "PASSWORD"));
    EXPECT(200, NULL, stored(2, 1));
    /* A again: equal to version 1, not to the newest, so it is version 3. */
    hook("/backup", store_body("u1", "A", "PASSWORD"));
    EXPECT(200, NULL, stored(3, 1));
    hook("/backup/fetch", fetch_body("u1"));
    EXPECT(200, NULL, shares_body(1, "A"));
    EXPECT_AUDIT("custodian.fetch", "u1", 200, 3, "PASSWORD", 1, 0);
    pipe_close();
}

static void test_legacy_backup_is_unknown_method(void)
{
    const char *legacy, *multi;

    pipe_open(SHARED, NULL);
    legacy = portal_share("pl", "SECP256K1", "legacy");
    multi = portal_share("pm", "SECP256K1", "multi");
    hook("/backup", store_body("u1", legacy, NULL));
    EXPECT(200, NULL, stored(1, 1));
    EXPECT_RECORD(0, "u1", SHARE_KIND_CUSTODIAN, "UNKNOWN", "pl", 1);
    EXPECT_AUDIT("custodian.store", "u1", 200, 1, "UNKNOWN", -1, 0);
    /* The legacy client upgrades: its old share stays next to the new. */
    hook("/backup", store_body("u1", multi, "PASSWORD-SECP256K1"));
    EXPECT(200, NULL, stored(1, 1));
    hook("/backup/fetch", fetch_body("u1"));
    EXPECT(200, NULL, shares_body(2, multi, legacy));
    pipe_close();
}

static void test_top_level_pair_id_wins_over_the_shares(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup", fmt("{\"clientId\":\"u1\",\"share\":%s,\"backupSharePairId\":\"top\"}",
                        jstr(portal_share("inner", "ED25519", "m"))));
    EXPECT(200, NULL, stored(1, 1));
    EXPECT_RECORD(0, "u1", SHARE_KIND_CUSTODIAN, "UNKNOWN", "top", 1);
    /* A plain string share has no pair id. */
    hook("/backup", store_body("u2", "plain", NULL));
    EXPECT_RECORD(1, "u2", SHARE_KIND_CUSTODIAN, "UNKNOWN", "", 1);
    pipe_close();
}

static void test_fetch_of_unknown_client_is_404(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup", store_body("u1", "s", NULL));
    hook("/backup/fetch", fetch_body("u2"));
    EXPECT_ERROR(404, NULL, "not_found", MSG_NOTFOUND);
    EXPECT_AUDIT("custodian.fetch", "u2", 404, 0, NULL, -1, 0);
    pipe_close();
}

static void test_custodian_and_client_shares_are_apart(void)
{
    pipe_open(SHARED, NULL);
    client("POST", "u1", NULL, "{\"cipherText\":\"client-share\"}");
    EXPECT(200, NULL, stored(1, 1));
    hook("/backup/fetch", fetch_body("u1"));
    EXPECT_ERROR(404, NULL, "not_found", MSG_NOTFOUND);
    hook("/backup", store_body("u1", "custodian-share", NULL));
    EXPECT(200, NULL, stored(1, 1));
    client("GET", "u1", NULL, NULL);
    EXPECT(200, NULL, client_body("UNKNOWN", "client-share", "\"UNKNOWN\""));
    pipe_close();
}

/* ==== custodian fetch bounds and incidents =============================== */

static void test_fetch_max_shares_leaves_out_the_oldest(void)
{
    long long truncated;

    pipe_open(SHARED, "fetch_max_shares = 2\n");
    truncated = metric("sharekeep_fetch_truncated_total");
    hook("/backup", store_body("u1", "first", "M1"));
    hook("/backup", store_body("u1", "second", "M2"));
    hook("/backup", store_body("u1", "third", "M3"));
    hook("/backup/fetch", fetch_body("u1"));
    EXPECT(200, NULL, shares_body(2, "third", "second"));
    EXPECT_AUDIT("custodian.fetch", "u1", 200, 1, NULL, 2, 0);
    CU_ASSERT_EQUAL(metric("sharekeep_fetch_truncated_total"), truncated + 1);
    pipe_close();
}

static void test_fetch_max_bytes_serves_what_fits(void)
{
    const char *a, *b, *c;

    pipe_open(SHARED, "fetch_max_bytes = 1k\n");
    a = repeat('a', 400);
    b = repeat('b', 400);
    c = repeat('c', 400);
    hook("/backup", store_body("u1", a, "M1"));
    hook("/backup", store_body("u1", b, "M2"));
    hook("/backup", store_body("u1", c, "M3"));
    hook("/backup/fetch", fetch_body("u1"));
    /* 800 bytes fit in 1024, the third 400 do not. */
    EXPECT(200, NULL, shares_body(2, c, b));
    pipe_close();
}

static void test_fetch_serves_the_newest_even_over_max_bytes(void)
{
    const char *big;

    pipe_open(SHARED, "fetch_max_bytes = 1k\n");
    big = repeat('z', 2000);
    hook("/backup", store_body("u1", "small", "M1"));
    hook("/backup", store_body("u1", big, "M2"));
    hook("/backup/fetch", fetch_body("u1"));
    EXPECT(200, NULL, shares_body(1, big));
    pipe_close();
}

static void test_unopenable_record_is_left_out_and_audited(void)
{
    long long incidents;

    pipe_open(SHARED, NULL);
    incidents = metric("sharekeep_records_unopenable_total");
    hook("/backup", store_body("u1", "good", "M1"));
    hook("/backup", store_body("u1", "tampered", "M2"));
    TAMPER(1);
    hook("/backup/fetch", fetch_body("u1"));
    EXPECT(200, NULL, shares_body(1, "good"));
    /* One row for the request: what was served and the incident. */
    EXPECT_AUDIT("custodian.fetch", "u1", 200, 1, "M1", 1, 1);
    CU_ASSERT_EQUAL(metric("sharekeep_records_unopenable_total"), incidents + 1);
    pipe_close();
}

static void test_no_record_opens_is_500(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup", store_body("u1", "tampered", "M1"));
    TAMPER(0);
    hook("/backup/fetch", fetch_body("u1"));
    EXPECT_ERROR(500, NULL, "internal", MSG_INTERNAL);
    EXPECT_AUDIT("custodian.fetch", "u1", 500, 0, NULL, -1, 1);
    pipe_close();
}

static void test_share_resent_over_an_unopenable_newest_is_kept(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup", store_body("u1", "same", "M1"));
    TAMPER(0);
    /* The newest cannot be compared, so the resent share is a new version. */
    hook("/backup", store_body("u1", "same", "M1"));
    EXPECT(200, NULL, stored(2, 1));
    hook("/backup/fetch", fetch_body("u1"));
    EXPECT(200, NULL, shares_body(1, "same"));
    pipe_close();
}

/* ==== client routes ====================================================== */

static void test_client_store_cipher_text(void)
{
    pipe_open(SHARED, NULL);
    client("POST", "app-1", NULL, "{\"cipherText\":\"enc-1\",\"backupMethod\":\"PASSWORD\"}");
    EXPECT(200, NULL, stored(1, 1));
    EXPECT_RECORD(0, "app-1", SHARE_KIND_CLIENT, "PASSWORD", "", 1);
    EXPECT_AUDIT("client.store", "app-1", 200, 1, "PASSWORD", -1, 0);
    client("GET", "app-1", "?backupMethod=PASSWORD", NULL);
    EXPECT(200, NULL, client_body("PASSWORD", "enc-1", NULL));
    EXPECT_AUDIT("client.fetch", "app-1", 200, 1, "PASSWORD", 1, 0);
    pipe_close();
}

static void test_client_store_backup_share(void)
{
    pipe_open(SHARED, NULL);
    client("POST", "app-1", NULL, "{\"backupShare\":\"enc-1\"}");
    EXPECT(200, NULL, stored(1, 1));
    client("POST", "app-1", NULL, "{\"backupShare\":\"enc-1\"}");
    EXPECT(200, NULL, stored(1, 0));
    client("POST", "app-1", NULL, "{\"backupShare\":\"enc-2\"}");
    EXPECT(200, NULL, stored(2, 1));
    EXPECT_RECORD(1, "app-1", SHARE_KIND_CLIENT, "UNKNOWN", "", 2);
    pipe_close();
}

static void test_client_store_needs_exactly_one_share_field(void)
{
    pipe_open(SHARED, NULL);
    client("POST", "app-1", NULL, "{\"cipherText\":\"a\",\"backupShare\":\"b\"}");
    EXPECT_ERROR(422, NULL, "invalid_field", MSG_ONE_OF);
    EXPECT_AUDIT("client.store", "app-1", 422, 0, NULL, -1, 0);
    client("POST", "app-1", NULL, "{\"backupMethod\":\"PASSWORD\"}");
    EXPECT_ERROR(422, NULL, "invalid_field", MSG_ONE_OF);
    client("POST", "app-1", NULL, "{\"cipherText\":null}");
    EXPECT_ERROR(422, NULL, "invalid_field", MSG_ONE_OF);
    client("POST", "app-1", NULL, "{\"cipherText\":\"\"}");
    EXPECT_ERROR(422, NULL, "invalid_field", "field 'cipherText' must not be empty");
    client("POST", "app-1", NULL, "{\"backupShare\":\"\"}");
    EXPECT_ERROR(422, NULL, "invalid_field", "field 'backupShare' must not be empty");
    client("POST", "app-1", NULL, "{\"cipherText\":1}");
    EXPECT_ERROR(422, NULL, "invalid_field", "field 'cipherText' must be a string");
    client("POST", "app-1", NULL, "{\"cipherText\":\"a\",\"backupMethod\":\"\"}");
    EXPECT_ERROR(422, NULL, "invalid_field", MSG_METHOD);
    client("POST", "app-1", NULL, "{}x");
    EXPECT_CODE(400, "malformed_json");
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 0);
    pipe_close();
}

static void test_client_fetch_by_method_falls_back_to_unknown(void)
{
    pipe_open(SHARED, NULL);
    client("POST", "app-1", NULL, "{\"cipherText\":\"legacy\"}");
    client("POST", "app-1", NULL, "{\"cipherText\":\"pw\",\"backupMethod\":\"PASSWORD\"}");
    client("GET", "app-1", "?backupMethod=GDRIVE", NULL);
    EXPECT(200, NULL, client_body("UNKNOWN", "legacy", NULL));
    EXPECT_AUDIT("client.fetch", "app-1", 200, 1, "UNKNOWN", 1, 0);
    client("GET", "app-1", "?backupMethod=PASSWORD", NULL);
    EXPECT(200, NULL, client_body("PASSWORD", "pw", NULL));
    /* Form encoding: '+' is a space, %XX an escape. */
    client("POST", "app-1", NULL, "{\"cipherText\":\"sp\",\"backupMethod\":\"A B/C\"}");
    client("GET", "app-1", "?backupMethod=A+B%2FC", NULL);
    EXPECT(200, NULL, client_body("A B/C", "sp", NULL));
    pipe_close();
}

static void test_client_fetch_by_method_without_fallback_is_404(void)
{
    pipe_open(SHARED, NULL);
    client("POST", "app-1", NULL, "{\"cipherText\":\"pw\",\"backupMethod\":\"PASSWORD\"}");
    client("GET", "app-1", "?backupMethod=GDRIVE", NULL);
    EXPECT_ERROR(404, NULL, "not_found", MSG_NOTFOUND);
    EXPECT_AUDIT("client.fetch", "app-1", 404, 0, NULL, -1, 0);
    pipe_close();
}

static void test_client_fetch_lists_methods_newest_first(void)
{
    pipe_open(SHARED, NULL);
    client("POST", "app-1", NULL, "{\"cipherText\":\"one\",\"backupMethod\":\"PASSWORD\"}");
    client("POST", "app-1", NULL, "{\"cipherText\":\"two\",\"backupMethod\":\"GDRIVE\"}");
    client("POST", "app-1", NULL, "{\"cipherText\":\"three\",\"backupMethod\":\"ICLOUD\"}");
    client("GET", "app-1", NULL, NULL);
    EXPECT(200, NULL, client_body("ICLOUD", "three", "\"ICLOUD\",\"GDRIVE\",\"PASSWORD\""));
    EXPECT_AUDIT("client.fetch", "app-1", 200, 1, "ICLOUD", 1, 0);
    pipe_close();
}

static void test_client_fetch_skips_an_unopenable_newest(void)
{
    pipe_open(SHARED, NULL);
    client("POST", "app-1", NULL, "{\"cipherText\":\"one\",\"backupMethod\":\"PASSWORD\"}");
    client("POST", "app-1", NULL, "{\"cipherText\":\"two\",\"backupMethod\":\"GDRIVE\"}");
    TAMPER(1);
    client("GET", "app-1", NULL, NULL);
    EXPECT(200, NULL, client_body("PASSWORD", "one", "\"PASSWORD\""));
    EXPECT_AUDIT("client.fetch", "app-1", 200, 1, "PASSWORD", 1, 1);
    client("GET", "app-1", "?backupMethod=GDRIVE", NULL);
    EXPECT_ERROR(500, NULL, "internal", MSG_INTERNAL);
    EXPECT_AUDIT("client.fetch", "app-1", 500, 0, NULL, -1, 1);
    pipe_close();
}

static void test_client_fetch_query_is_strict(void)
{
    static const char *const bad[] = { "?other=1", "?backupMethod=A&backupMethod=B",
                                       "?backupMethod", "?backupMethod=%zz",
                                       "?backupMethod=%00", "?backupMethod=A&" };

    pipe_open(SHARED, NULL);
    client("POST", "app-1", NULL, "{\"cipherText\":\"pw\"}");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        client("GET", "app-1", bad[i], NULL);
        EXPECT_CODE(400, "invalid_query");
        EXPECT_AUDIT("client.fetch", "app-1", 400, 0, NULL, -1, 0);
    }
    client("GET", "app-1", "?backupMethod=", NULL);
    EXPECT_ERROR(422, NULL, "invalid_field",
                 "query parameter 'backupMethod' must be 1 to 64 printable ASCII characters");
    CU_ASSERT_EQUAL(fake_store_calls(P.st, FAKE_FETCH_METHOD), 0);
    pipe_close();
}

static void test_client_fetch_of_nothing_is_404(void)
{
    pipe_open(SHARED, NULL);
    client("GET", "app-1", NULL, NULL);
    EXPECT_ERROR(404, NULL, "not_found", MSG_NOTFOUND);
    pipe_close();
}

/* ==== client authentication ============================================== */

static void test_client_without_token_is_401_unread(void)
{
    pipe_open(SHARED, NULL);
    client_as("POST", "app-1", NULL, "{\"cipherText\":\"x\"}", NULL);
    EXPECT_ERROR(401, "WWW-Authenticate: Bearer\r\n", "unauthenticated",
                 "a Bearer token is required");
    CU_ASSERT_EQUAL(P.io.reads, 0);
    /* The path names the client: the refusal is audited under it. */
    EXPECT_REFUSAL("client.store", "app-1", 401);
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 0);
    pipe_close();
}

static void test_client_bad_token_is_401(void)
{
    pipe_open(SHARED, NULL);
    run(&(struct rq){ "GET", "/portal/clients/app-1/backup", NULL, NULL, 0, NULL,
                      { "HTTP_AUTHORIZATION=Bearer not.a.token" } });
    EXPECT_ERROR(401, "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n", "unauthenticated",
                 "token is not valid");
    pipe_close();
}

static void test_client_expired_token_is_401(void)
{
    pipe_open(SHARED, NULL);
    run(&(struct rq){ "GET", "/portal/clients/app-1/backup", NULL, NULL, 0, NULL,
                      { fmt("HTTP_AUTHORIZATION=Bearer %s", token("app-1", -3600)) } });
    EXPECT_ERROR(401, "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n", "unauthenticated",
                 "token has expired");
    pipe_close();
}

/* A client whose token verified has proved who it is: a body refused after
 * that is audited as that client's, not as a refusal. */
static void test_client_bad_body_after_token_is_audited_as_the_client(void)
{
    pipe_open(SHARED, NULL);
    run(&(struct rq){ "POST", "/portal/clients/app-1/backup", "{\"cipherText\":\"x\"}",
                      "text/plain", 0, NULL,
                      { fmt("HTTP_AUTHORIZATION=Bearer %s", token("app-1", 300)) } });
    EXPECT_ERROR(415, NULL, "unsupported_media_type", "Content-Type must be application/json");
    EXPECT_AUDIT("client.store", "app-1", 415, 0, NULL, -1, 0);
    pipe_close();
}

static void test_client_token_for_another_client_is_403_unread(void)
{
    pipe_open(SHARED, NULL);
    client_as("POST", "app-1", NULL, "{\"cipherText\":\"x\"}", "app-2");
    EXPECT_ERROR(403, NULL, "forbidden", "token is for another client");
    CU_ASSERT_EQUAL(P.io.reads, 0);
    EXPECT_REFUSAL("client.store", "app-1", 403);
    client_as("GET", "app-1", NULL, NULL, "app-2");
    EXPECT_ERROR(403, NULL, "forbidden", "token is for another client");
    EXPECT_REFUSAL("client.fetch", "app-1", 403);
    pipe_close();
}

static void test_client_invalid_path_id_is_422(void)
{
    pipe_open(SHARED, NULL);
    /* A token may name any printable subject; the path id is still checked. */
    client("GET", "a.b", NULL, NULL);
    EXPECT_ERROR(422, NULL, "invalid_client_id", MSG_CLIENT_ID);
    EXPECT_AUDIT("client.fetch", NULL, 422, 0, NULL, -1, 0);
    client("POST", "a.b", NULL, "{\"cipherText\":\"x\"}");
    EXPECT_ERROR(422, NULL, "invalid_client_id", MSG_CLIENT_ID);
    pipe_close();
}

static void test_trusted_header_mode(void)
{
    pipe_open(SHARED, "client_auth = trusted-header\ntrusted_peers = unix\n");
    /* From the trusted front end, for this client. */
    run(&(struct rq){ "POST", "/portal/clients/app-1/backup", "{\"cipherText\":\"x\"}", NULL, 0,
                      NULL, { "HTTP_X_SHAREKEEP_CLIENT=app-1" } });
    EXPECT(200, NULL, stored(1, 1));
    /* The same header from any other peer is nobody's word. */
    run(&(struct rq){ "GET", "/portal/clients/app-1/backup", NULL, NULL, 0, "10.0.0.9",
                      { "HTTP_X_SHAREKEEP_CLIENT=app-1" } });
    EXPECT_ERROR(401, NULL, "unauthenticated", "client is not authenticated");
    run(&(struct rq){ "GET", "/portal/clients/app-1/backup", NULL, NULL, 0, NULL, { NULL } });
    EXPECT_ERROR(401, NULL, "unauthenticated", "client is not authenticated");
    run(&(struct rq){ "GET", "/portal/clients/app-1/backup", NULL, NULL, 0, NULL,
                      { "HTTP_X_SHAREKEEP_CLIENT=app-2" } });
    EXPECT_ERROR(403, NULL, "forbidden", "credential is for another client");
    run(&(struct rq){ "GET", "/portal/clients/app-1/backup", NULL, NULL, 0, NULL,
                      { "HTTP_X_SHAREKEEP_CLIENT=app-1" } });
    EXPECT(200, NULL, client_body("UNKNOWN", "x", "\"UNKNOWN\""));
    pipe_close();
}

/* ==== the store failing ================================================== */

/* Issue 11 item 2: an identical retry whose note loses the race on every
 * turn (five concurrent notes of one delivery) is "retry later", never an
 * internal error. */
static void test_identical_retry_losing_every_race_is_503_not_500(void)
{
    const char *body;

    pipe_open(SHARED, NULL);
    body = store_body("u1", "same", "PASSWORD");
    hook("/backup", body);
    EXPECT(200, NULL, stored(1, 1));
    fake_store_fail(P.st, FAKE_NOTE, 5, STORE_CONFLICT);
    hook("/backup", body);
    EXPECT_ERROR(503, RETRY, "unavailable", MSG_UNAVAIL);
    CU_ASSERT_EQUAL(fake_store_calls(P.st, FAKE_PUT_FIRST), 2);
    CU_ASSERT_EQUAL(fake_store_calls(P.st, FAKE_LOOKUP), 5);
    CU_ASSERT_EQUAL(fake_store_calls(P.st, FAKE_NOTE), 5);
    EXPECT_AUDIT("custodian.store", "u1", 503, 0, NULL, -1, 0);
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 1);
    /* Once the race is over the same retry is answered. */
    hook("/backup", body);
    EXPECT(200, NULL, stored(1, 0));
    pipe_close();
}

static void test_new_version_losing_every_race_is_503(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup", store_body("u1", "A", "PASSWORD"));
    fake_store_fail(P.st, FAKE_PUT, 5, STORE_CONFLICT);
    hook("/backup", store_body("u1", "B", "PASSWORD"));
    EXPECT_ERROR(503, RETRY, "unavailable", MSG_UNAVAIL);
    CU_ASSERT_EQUAL(fake_store_calls(P.st, FAKE_PUT), 5);
    EXPECT_AUDIT("custodian.store", "u1", 503, 0, NULL, -1, 0);
    pipe_close();
}

static void test_race_lost_once_settles(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup", store_body("u1", "A", "PASSWORD"));
    fake_store_fail(P.st, FAKE_PUT, 1, STORE_CONFLICT);
    hook("/backup", store_body("u1", "B", "PASSWORD"));
    EXPECT(200, NULL, stored(2, 1));
    CU_ASSERT_EQUAL(fake_store_calls(P.st, FAKE_PUT), 2);
    EXPECT_AUDIT("custodian.store", "u1", 200, 2, "PASSWORD", -1, 0);
    pipe_close();
}

static void test_store_unavailable_is_503_retry_after(void)
{
    pipe_open(SHARED, NULL);
    fake_store_fail(P.st, FAKE_PUT_FIRST, 1, STORE_UNAVAILABLE);
    hook("/backup", store_body("u1", "A", NULL));
    EXPECT_ERROR(503, RETRY, "unavailable", MSG_UNAVAIL);
    EXPECT_AUDIT("custodian.store", "u1", 503, 0, NULL, -1, 0);
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 0);
    /* A look that fails is the same. */
    hook("/backup", store_body("u1", "A", NULL));
    fake_store_fail(P.st, FAKE_LOOKUP, 1, STORE_UNAVAILABLE);
    hook("/backup", store_body("u1", "B", NULL));
    EXPECT_ERROR(503, RETRY, "unavailable", MSG_UNAVAIL);
    pipe_close();
}

static void test_store_error_is_500(void)
{
    pipe_open(SHARED, NULL);
    fake_store_fail(P.st, FAKE_PUT_FIRST, 1, STORE_ERROR);
    hook("/backup", store_body("u1", "A", NULL));
    EXPECT_ERROR(500, NULL, "internal", MSG_INTERNAL);
    EXPECT_AUDIT("custodian.store", "u1", 500, 0, NULL, -1, 0);
    hook("/backup", store_body("u1", "A", NULL));
    fake_store_fail(P.st, FAKE_NOTE, 1, STORE_ERROR);
    hook("/backup", store_body("u1", "A", NULL));
    EXPECT_ERROR(500, NULL, "internal", MSG_INTERNAL);
    pipe_close();
}

static void test_commit_with_warning_is_503_then_the_retry_is_answered(void)
{
    const char *body;

    pipe_open(SHARED, NULL);
    body = store_body("u1", "A", "PASSWORD");
    fake_store_warn(P.st, FAKE_PUT_FIRST, 1);
    hook("/backup", body);
    /* Committed, maybe on this server only: not acknowledged. */
    EXPECT_ERROR(503, RETRY, "unavailable", MSG_UNAVAIL);
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 1);
    /* The statement's own row (200) and the outcome's (503). */
    CU_ASSERT_EQUAL_FATAL(fake_store_naudits(P.st), 2);
    CU_ASSERT_EQUAL(fake_store_audit_row(P.st, 0)->result, 200);
    CU_ASSERT_EQUAL(fake_store_audit_row(P.st, 1)->result, 503);
    hook("/backup", body);
    EXPECT(200, NULL, stored(1, 0));
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 1);
    pipe_close();
}

static void test_fetch_store_failures(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup", store_body("u1", "A", NULL));
    fake_store_fail(P.st, FAKE_FETCH_NEWEST, 1, STORE_UNAVAILABLE);
    hook("/backup/fetch", fetch_body("u1"));
    EXPECT_ERROR(503, RETRY, "unavailable", MSG_UNAVAIL);
    EXPECT_AUDIT("custodian.fetch", "u1", 503, 0, NULL, -1, 0);
    fake_store_fail(P.st, FAKE_FETCH_NEWEST, 1, STORE_ERROR);
    hook("/backup/fetch", fetch_body("u1"));
    EXPECT_ERROR(500, NULL, "internal", MSG_INTERNAL);
    client("POST", "u1", NULL, "{\"cipherText\":\"c\"}");
    fake_store_fail(P.st, FAKE_FETCH_METHOD, 1, STORE_UNAVAILABLE);
    client("GET", "u1", "?backupMethod=X", NULL);
    EXPECT_ERROR(503, RETRY, "unavailable", MSG_UNAVAIL);
    fake_store_fail(P.st, FAKE_FETCH_NEWEST, 1, STORE_UNAVAILABLE);
    client("GET", "u1", NULL, NULL);
    EXPECT_ERROR(503, RETRY, "unavailable", MSG_UNAVAIL);
    pipe_close();
}

static void test_no_share_leaves_without_its_audit_row(void)
{
    pipe_open(SHARED, NULL);
    hook("/backup", store_body("u1", "secret-share", NULL));
    fake_store_fail(P.st, FAKE_AUDIT, 1, STORE_UNAVAILABLE);
    hook("/backup/fetch", fetch_body("u1"));
    EXPECT_ERROR(503, RETRY, "unavailable", MSG_UNAVAIL);
    CU_ASSERT_PTR_NULL(strstr(P.io.out, "secret-share"));
    /* The first audit (the fetch's) failed; the outcome's went through. */
    EXPECT_AUDIT("custodian.fetch", "u1", 503, 0, NULL, -1, 0);
    CU_ASSERT_EQUAL(fake_store_calls(P.st, FAKE_AUDIT), 2);
    pipe_close();
}

static void test_failed_outcome_audit_does_not_change_the_answer(void)
{
    pipe_open(SHARED, NULL);
    fake_store_fail(P.st, FAKE_AUDIT, 1, STORE_UNAVAILABLE);
    hook("/backup", store_body("u1", "", NULL));
    EXPECT_ERROR(422, NULL, "invalid_field", "field 'share' must not be empty");
    EXPECT_NO_AUDIT();
    CU_ASSERT_EQUAL(fake_store_calls(P.st, FAKE_AUDIT), 1);
    pipe_close();
}

static void test_version_limit_is_409_and_the_newest_still_answers(void)
{
    pipe_open(SHARED, "max_versions = 2\n");
    hook("/backup", store_body("u1", "A", "PASSWORD"));
    hook("/backup", store_body("u1", "B", "PASSWORD"));
    EXPECT(200, NULL, stored(2, 1));
    hook("/backup", store_body("u1", "C", "PASSWORD"));
    EXPECT_ERROR(409, NULL, "version_limit",
                 "this share already has the most versions allowed (max_versions); "
                 "nothing was stored");
    EXPECT_AUDIT("custodian.store", "u1", 409, 0, NULL, -1, 0);
    CU_ASSERT_EQUAL(fake_store_nrecords(P.st), 2);
    /* A retry of the newest is no new version: still answered. */
    hook("/backup", store_body("u1", "B", "PASSWORD"));
    EXPECT(200, NULL, stored(2, 0));
    /* Other identities have their own count. */
    hook("/backup", store_body("u1", "C", "GDRIVE"));
    EXPECT(200, NULL, stored(1, 1));
    pipe_close();
}

static void test_each_request_gets_a_deadline(void)
{
    long long before, after;

    pipe_open(SHARED, NULL);
    before = store_now_ms();
    run(&(struct rq){ "GET", "/healthz", NULL, NULL, 0, NULL, { NULL } });
    after = store_now_ms();
    CU_ASSERT_TRUE(fake_store_deadline(P.st) >= before + P.cfg.request_timeout * 1000LL);
    CU_ASSERT_TRUE(fake_store_deadline(P.st) <= after + P.cfg.request_timeout * 1000LL);
    pipe_close();
}

/* ==== operational routes ================================================= */

static void test_health_ok_unaudited(void)
{
    pipe_open(SHARED, NULL);
    run(&(struct rq){ "GET", "/healthz", NULL, NULL, 0, NULL, { NULL } });
    EXPECT(200, NULL, "{\"status\":\"ok\"}");
    CU_ASSERT_EQUAL(fake_store_calls(P.st, FAKE_PING), 1);
    CU_ASSERT_EQUAL(fake_store_naudits(P.st), 0);
    pipe_close();
}

static void test_health_without_database_is_503(void)
{
    pipe_open(SHARED, NULL);
    fake_store_fail(P.st, FAKE_PING, 1, STORE_UNAVAILABLE);
    run(&(struct rq){ "GET", "/healthz", NULL, NULL, 0, NULL, { NULL } });
    EXPECT_ERROR(503, RETRY, "unavailable", "database is not answering");
    pipe_close();
}

static void test_metrics_for_allowed_address(void)
{
    long long before;

    pipe_open(SHARED, NULL);
    run(&(struct rq){ "GET", "/healthz", NULL, NULL, 0, NULL, { NULL } });
    before = metric("sharekeep_requests_total{route=\"health\",status=\"200\"}");
    CU_ASSERT_TRUE(before >= 1);
    run(&(struct rq){ "GET", "/healthz", NULL, NULL, 0, NULL, { NULL } });
    run(&(struct rq){ "GET", "/metrics", NULL, NULL, 0, NULL, { NULL } });
    CU_ASSERT_EQUAL(P.status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(P.io.out, "Status: 200 OK\r\n"
                                            "Content-Type: text/plain; version=0.0.4; "
                                            "charset=utf-8\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(resp_body(),
                                  fmt("sharekeep_requests_total{route=\"health\",status=\"200\"}"
                                      " %lld\n", before + 1)));
    CU_ASSERT_PTR_NOT_NULL(strstr(resp_body(), "# TYPE sharekeep_shares_stored_total counter"));
    CU_ASSERT_EQUAL(fake_store_naudits(P.st), 0);
    pipe_close();
}

static void test_metrics_refused_to_other_addresses(void)
{
    pipe_open(SHARED, NULL);
    run(&(struct rq){ "GET", "/metrics", NULL, NULL, 0, NULL, { "REMOTE_ADDR=10.1.2.3" } });
    EXPECT_ERROR(403, NULL, "forbidden", "metrics are not served to this address");
    run(&(struct rq){ "GET", "/metrics", NULL, NULL, 0, NULL, { "REMOTE_ADDR=" } });
    EXPECT_ERROR(403, NULL, "forbidden", "metrics are not served to this address");
    pipe_close();
}

static void test_metrics_count_stored_shares_and_unmatched_requests(void)
{
    long long stored_before, none_before;

    pipe_open(SHARED, NULL);
    stored_before = metric("sharekeep_shares_stored_total");
    none_before = metric("sharekeep_requests_total{route=\"none\",status=\"404\"}");
    hook("/backup", store_body("u1", "A", NULL));
    hook("/backup", store_body("u1", "A", NULL));     /* a retry stores nothing */
    run(&(struct rq){ "GET", "/nowhere", NULL, NULL, 0, NULL, { NULL } });
    CU_ASSERT_EQUAL(metric("sharekeep_shares_stored_total"), stored_before + 1);
    CU_ASSERT_EQUAL(metric("sharekeep_requests_total{route=\"none\",status=\"404\"}"),
                    (none_before < 0 ? 0 : none_before) + 1);
    pipe_close();
}

/* ==== loading ============================================================ */

static void test_app_load_reads_config_keyring_and_secrets(void)
{
    struct app_loaded l;
    char err[512] = "";
    const char *ring_path, *conf;

    unit_tmp_setup("pipeload");
    ring_path = fmt("%s", unit_tmp_path("keyring"));
    CU_ASSERT_EQUAL_FATAL(keyring_file_create(ring_path, err, sizeof(err)), KEYRING_OK);
    conf = fmt("keyring = %s\nwebhook_secrets = %s\njwt_hs256_secret = %s\n", ring_path,
               fmt("%s", unit_write_file("wh", SHARED_SECRET "\n", 0600)),
               fmt("%s", unit_write_file("jwt", JWT_SECRET "\n", 0600)));
    conf = fmt("%s", unit_write_file("sharekeep.conf", conf, 0600));
    CU_ASSERT_EQUAL(app_load(conf, &l, err, sizeof(err)), 0);
    CU_ASSERT_PTR_NOT_NULL(l.kr);
    CU_ASSERT_PTR_NOT_NULL(l.auth);
    CU_ASSERT_EQUAL(keyring_active_id(l.kr), 1);
    app_loaded_free(&l);
    CU_ASSERT_PTR_NULL(l.kr);
    /* Without the keyring nothing is loaded, and err says which file. */
    CU_ASSERT_EQUAL(unlink(ring_path), 0);
    CU_ASSERT_EQUAL(app_load(conf, &l, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ring_path));
    CU_ASSERT_PTR_NULL(l.kr);
    CU_ASSERT_PTR_NULL(l.auth);
    unit_tmp_teardown();
    arena_free();
}

int unit_register(void)
{
    static const struct unit_test routing[] = {
        { "an unknown path is 404 before anything", test_unknown_path_is_404_before_anything },
        { "a trailing slash is another path", test_trailing_slash_is_another_path },
        { "a wrong method is 405 with Allow", test_wrong_method_is_405_with_allow },
        { "the client path allows GET and POST", test_client_path_allows_get_and_post },
        { "a lowercase method is not a method", test_lowercase_method_is_not_a_method },
        { "HEAD is GET without the body", test_head_is_get_without_the_body },
        { "a request without a method is 400", test_missing_request_method_is_400 },
        { "an invalid X-Request-Id is replaced by a fresh one",
          test_invalid_request_id_is_replaced },
        { NULL, NULL }
    };
    static const struct unit_test webhook_auth[] = {
        { "shared secret missing: 401, audited", test_shared_secret_missing_is_401_and_audited },
        { "shared secret wrong: 401", test_shared_secret_wrong_is_401 },
        { "shared-secret mode ignores Webhook-Id", test_shared_secret_ignores_webhook_id },
        { "standard signature accepted, delivery kept",
          test_standard_signature_accepted_and_delivery_kept },
        { "standard headers missing: 401", test_standard_missing_headers_is_401 },
        { "standard bad signature: 401", test_standard_bad_signature_is_401 },
        { "standard stale timestamp: 401", test_standard_stale_timestamp_is_401 },
        { "a redelivery answers the same", test_standard_redelivery_answers_the_same },
        { "a delivery id replayed with another body is 409",
          test_standard_delivery_id_replayed_with_other_body_is_409 },
        { "a redelivery that cannot be audited is 503", test_standard_redelivery_unaudited_is_503 },
        { "a lost race on the insert looks again",
          test_standard_lost_insert_race_looks_again },
        { NULL, NULL }
    };
    static const struct unit_test bodies[] = {
        { "a wrong content type is 415, body unread", test_wrong_content_type_is_415_unread },
        { "a declared length over max_body is 413, body unread",
          test_declared_length_over_max_body_is_413_unread },
        { "a streamed body over max_body is 413", test_streamed_body_over_max_body_is_413 },
        { "a body shorter than its length is 400", test_body_shorter_than_length_is_400 },
        { "malformed JSON is 400", test_malformed_json_is_400 },
        { "JSON that is not an object is 422", test_json_that_is_not_an_object_is_422 },
        { "missing or mistyped fields are 422", test_missing_or_mistyped_fields_are_422 },
        { "an invalid client id is 422, audited unnamed", test_invalid_client_id_is_422_unnamed },
        { "invalid identity fields are 422", test_invalid_identity_fields_are_422 },
        { NULL, NULL }
    };
    static const struct unit_test custodian[] = {
        { "Portal: a backup per method and curve, each fetched",
          test_portal_backup_per_method_and_curve },
        { "a fetch of one share audits its method", test_fetch_of_one_share_audits_its_method },
        { "a re-backup is the next version, served first",
          test_rebackup_is_next_version_and_served_first },
        { "an identical retry adds no version", test_identical_retry_adds_no_version },
        { "an older share sent again is a new version",
          test_older_share_sent_again_is_a_new_version },
        { "a legacy backup is method UNKNOWN", test_legacy_backup_is_unknown_method },
        { "a top-level pair id wins over the share's", test_top_level_pair_id_wins_over_the_shares },
        { "a fetch of an unknown client is 404", test_fetch_of_unknown_client_is_404 },
        { "custodian and client shares are apart", test_custodian_and_client_shares_are_apart },
        { "fetch_max_shares leaves out the oldest", test_fetch_max_shares_leaves_out_the_oldest },
        { "fetch_max_bytes serves what fits", test_fetch_max_bytes_serves_what_fits },
        { "the newest is served even over fetch_max_bytes",
          test_fetch_serves_the_newest_even_over_max_bytes },
        { "an unopenable record is left out and audited",
          test_unopenable_record_is_left_out_and_audited },
        { "no record opens: 500", test_no_record_opens_is_500 },
        { "a share resent over an unopenable newest is kept",
          test_share_resent_over_an_unopenable_newest_is_kept },
        { NULL, NULL }
    };
    static const struct unit_test clients[] = {
        { "client store with cipherText", test_client_store_cipher_text },
        { "client store with backupShare", test_client_store_backup_share },
        { "client store needs exactly one share field",
          test_client_store_needs_exactly_one_share_field },
        { "client fetch by method falls back to UNKNOWN",
          test_client_fetch_by_method_falls_back_to_unknown },
        { "client fetch by method without fallback is 404",
          test_client_fetch_by_method_without_fallback_is_404 },
        { "client fetch lists methods newest first", test_client_fetch_lists_methods_newest_first },
        { "client fetch skips an unopenable newest", test_client_fetch_skips_an_unopenable_newest },
        { "client fetch query is strict", test_client_fetch_query_is_strict },
        { "client fetch of nothing is 404", test_client_fetch_of_nothing_is_404 },
        { "no token: 401, body unread", test_client_without_token_is_401_unread },
        { "a bad token: 401", test_client_bad_token_is_401 },
        { "an expired token: 401", test_client_expired_token_is_401 },
        { "a token for another client: 403, body unread",
          test_client_token_for_another_client_is_403_unread },
        { "a bad body after a good client token is that client's audit row",
          test_client_bad_body_after_token_is_audited_as_the_client },
        { "an invalid path id is 422", test_client_invalid_path_id_is_422 },
        { "trusted-header mode", test_trusted_header_mode },
        { NULL, NULL }
    };
    static const struct unit_test failures[] = {
        { "an identical retry losing every race is 503, not 500",
          test_identical_retry_losing_every_race_is_503_not_500 },
        { "a new version losing every race is 503", test_new_version_losing_every_race_is_503 },
        { "a race lost once settles", test_race_lost_once_settles },
        { "store unavailable: 503 with Retry-After", test_store_unavailable_is_503_retry_after },
        { "store error: 500", test_store_error_is_500 },
        { "a commit with a WARNING is 503, then the retry is answered",
          test_commit_with_warning_is_503_then_the_retry_is_answered },
        { "fetch store failures", test_fetch_store_failures },
        { "no share leaves without its audit row", test_no_share_leaves_without_its_audit_row },
        { "a failed outcome audit does not change the answer",
          test_failed_outcome_audit_does_not_change_the_answer },
        { "the version limit is 409, and the newest still answers",
          test_version_limit_is_409_and_the_newest_still_answers },
        { "each request gets a deadline", test_each_request_gets_a_deadline },
        { NULL, NULL }
    };
    static const struct unit_test ops[] = {
        { "health: 200, unaudited", test_health_ok_unaudited },
        { "health without the database: 503", test_health_without_database_is_503 },
        { "metrics for an allowed address", test_metrics_for_allowed_address },
        { "metrics refused to other addresses", test_metrics_refused_to_other_addresses },
        { "metrics count stored shares and unmatched requests",
          test_metrics_count_stored_shares_and_unmatched_requests },
        { "app_load reads config, keyring and secrets",
          test_app_load_reads_config_keyring_and_secrets },
        { NULL, NULL }
    };

    if (unit_add_suite("pipeline: routing", routing) != 0 ||
        unit_add_suite("pipeline: webhook auth", webhook_auth) != 0 ||
        unit_add_suite("pipeline: request bodies", bodies) != 0 ||
        unit_add_suite("pipeline: custodian", custodian) != 0 ||
        unit_add_suite("pipeline: client", clients) != 0 ||
        unit_add_suite("pipeline: store failures", failures) != 0 ||
        unit_add_suite("pipeline: ops and loading", ops) != 0)
        return -1;
    return 0;
}
