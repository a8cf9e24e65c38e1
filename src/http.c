#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "body.h"
#include "http.h"

const char *http_param(char *const *envp, const char *name)
{
    size_t n = strlen(name);

    if (envp == NULL)
        return NULL;
    for (char *const *e = envp; *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

const char *http_header(const struct http_request *req, const char *name)
{
    char key[128] = "HTTP_";
    size_t i = 5;

    for (; *name != '\0' && i < sizeof(key) - 1; name++, i++)
        key[i] = *name == '-' ? '_' : (char)toupper((unsigned char)*name);
    if (*name != '\0')
        return NULL;
    key[i] = '\0';
    return http_param(req->envp, key);
}

const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default:  return "Unknown";
    }
}

static int valid_request_id(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++)
        if (n >= HTTP_REQUEST_ID_MAX || (!isalnum((unsigned char)s[n]) && s[n] != '-' &&
                                         s[n] != '_' && s[n] != '.'))
            return 0;
    return n > 0;
}

static void new_request_id(char out[HTTP_REQUEST_ID_MAX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[16] = { 0 };

    (void)RAND_bytes(rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++) {
        out[2 * i] = hex[rnd[i] >> 4];
        out[2 * i + 1] = hex[rnd[i] & 15];
    }
    out[2 * sizeof(rnd)] = '\0';
}

/* Content-Length as the gateway passed it: digits only, or absent. */
static int parse_content_length(const char *s, long long *out)
{
    long long v = 0;

    if (s == NULL || *s == '\0') {
        *out = -1;
        return 0;
    }
    for (; *s != '\0'; s++) {
        if (!isdigit((unsigned char)*s) || v > (1LL << 40))
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

/* "seconds.milliseconds" of the wall clock (nginx's $msec) to how long ago
 * that was, in ms; 0 when absent, malformed or in the future (clock skew
 * between front end and us shortens nothing). */
static long long queued_since(const char *start)
{
    long long sec = 0, ms = 0, then, now;
    struct timespec ts;
    int digits = 0;

    if (start == NULL)
        return 0;
    for (; *start >= '0' && *start <= '9' && digits < 12; start++, digits++)
        sec = sec * 10 + (*start - '0');
    if (digits == 0 || *start++ != '.')
        return 0;
    for (digits = 0; *start >= '0' && *start <= '9'; start++, digits++)
        if (digits < 3)
            ms = ms * 10 + (*start - '0');
    if (digits != 3 || *start != '\0')
        return 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    then = sec * 1000 + ms;
    now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return now > then ? now - then : 0;
}

int http_request_path(char *const *envp, char path[PATH_MAX_LEN + 1])
{
    const char *uri = http_param(envp, "REQUEST_URI");
    /* Route on the path nginx picked its location by (DOCUMENT_URI, decoded
     * and normalised), so that what nginx adds or blanks for a location,
     * such as the trusted client header, applies to the route we take: an
     * escaped "/portal/clients/..%2F..%2Fwebhook/backup" is nginx's webhook
     * location and our webhook route alike. Elsewhere (Apache, CGI) route
     * on the raw path, whose escapes never decode into another route. */
    const char *doc = http_param(envp, "DOCUMENT_URI");
    const char *raw = doc != NULL && doc[0] != '\0' ? doc : uri;
    size_t n;

    if (raw != NULL && raw[0] != '\0') {
        n = raw == doc ? strlen(raw) : strcspn(raw, "?#");
        if (n > PATH_MAX_LEN)
            return 404;
        memcpy(path, raw, n);
        path[n] = '\0';
    } else {
        const char *script = http_param(envp, "SCRIPT_NAME");
        const char *info = http_param(envp, "PATH_INFO");
        int w = snprintf(path, PATH_MAX_LEN + 1, "%s%s", script ? script : "",
                         info ? info : "");
        if (w < 0 || (size_t)w > PATH_MAX_LEN)
            return 404;
    }
    return path[0] == '/' ? 0 : 400;
}

int http_request_init(struct http_request *req, char *const *envp, struct http_response *res)
{
    const char *uri, *rid;

    memset(req, 0, sizeof(*req));
    req->envp = envp;
    req->content_length = -1;
    new_request_id(req->local_id);
    rid = http_header(req, "X-Request-Id");
    req->request_id_claimed = rid != NULL && valid_request_id(rid);
    snprintf(req->request_id, sizeof(req->request_id), "%s",
             req->request_id_claimed ? rid : req->local_id);

    req->queued_ms = queued_since(http_param(envp, "SHAREKEEP_REQUEST_START"));
    req->method = http_param(envp, "REQUEST_METHOD");
    if (req->method == NULL || req->method[0] == '\0') {
        http_error(res, 400, "bad_request", "no request method");
        return 400;
    }
    uri = http_param(envp, "REQUEST_URI");
    /* The query as the gateway passed it (CGI's QUERY_STRING), else what
     * follows the path in REQUEST_URI. */
    req->query = http_param(envp, "QUERY_STRING");
    if (req->query == NULL && uri != NULL && strchr(uri, '?') != NULL)
        req->query = strchr(uri, '?') + 1;
    if (req->query == NULL)
        req->query = "";
    switch (http_request_path(envp, req->path)) {
    case 404:
        http_error(res, 404, "not_found", "no such resource");
        return 404;
    case 400:
        http_error(res, 400, "bad_request", "request path must start with '/'");
        return 400;
    }
    req->content_type = http_param(envp, "CONTENT_TYPE");
    if (parse_content_length(http_param(envp, "CONTENT_LENGTH"), &req->content_length) != 0) {
        http_error(res, 400, "bad_request", "invalid Content-Length");
        return 400;
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..len) (%XX, '+' = space) into a malloc'd string. NULL when an
 * escape is bad, a NUL would result, or out of memory (*nomem set). */
static char *query_decode(const char *s, size_t len, int *nomem)
{
    char *out = malloc(len + 1);
    size_t o = 0;

    if (out == NULL) {
        *nomem = 1;
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        int hi, lo;

        if (s[i] == '+') {
            out[o++] = ' ';
            continue;
        }
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        if (i + 2 >= len)
            goto bad;
        hi = hexval(s[i + 1]);
        lo = hexval(s[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            goto bad;
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

void http_query_free(char **values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(values[i]);
        values[i] = NULL;
    }
}

int http_query(const struct http_request *req, const char *const *names, size_t n,
               char **values, struct http_response *res)
{
    const char *q = req->query, *why = NULL;
    int nomem = 0;

    for (size_t i = 0; i < n; i++)
        values[i] = NULL;
    while (*q != '\0') {
        size_t len = strcspn(q, "&"), klen;
        const char *eq = memchr(q, '=', len);
        char *key = NULL;
        size_t i;

        if (eq == NULL) {
            why = "query parameters must be name=value";
            goto bad;
        }
        klen = (size_t)(eq - q);
        key = query_decode(q, klen, &nomem);
        if (key == NULL) {
            why = "bad percent-encoding in the query string";
            goto bad;
        }
        for (i = 0; i < n && strcmp(key, names[i]) != 0; i++)
            ;
        free(key);
        if (i == n) {
            why = "unknown query parameter";
            goto bad;
        }
        if (values[i] != NULL) {
            why = "query parameter given more than once";
            goto bad;
        }
        values[i] = query_decode(eq + 1, len - klen - 1, &nomem);
        if (values[i] == NULL) {
            why = "bad percent-encoding in the query string";
            goto bad;
        }
        q += len;
        if (*q == '&') {
            q++;
            if (*q == '\0') {
                why = "empty query parameter";
                goto bad;
            }
        }
    }
    return 0;
bad:
    http_query_free(values, n);
    if (nomem) {
        http_error(res, 503, "unavailable", "out of memory");
        return 503;
    }
    http_error(res, 400, "invalid_query", why);
    return 400;
}

/* application/json, any case, optionally followed by parameters. */
static int is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;

    if (ct == NULL || strncasecmp(ct, want, n) != 0)
        return 0;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

int http_request_read_json_body(struct http_request *req, const struct http_io *io,
                                size_t max_body, struct http_response *res)
{
    size_t cap, len = 0;
    uint8_t *buf = NULL;
    int status = 0;

    if (!is_json_type(req->content_type)) {
        http_error(res, 415, "unsupported_media_type", "Content-Type must be application/json");
        return 415;
    }
    if (req->content_length > (long long)max_body) {
        http_error(res, 413, "payload_too_large", "request body exceeds the configured limit");
        return 413;
    }
    /* Without a length (CGI servers that stream) read to EOF, one byte past
     * the cap so an oversized body is told apart from one exactly at it. */
    cap = req->content_length >= 0 ? (size_t)req->content_length : max_body + 1;
    buf = malloc(cap + 1);
    if (buf == NULL) {
        http_error(res, 503, "unavailable", "out of memory");
        status = 503;
        goto out;
    }
    while (len < cap) {
        ssize_t r = io->read(io->ctx, buf + len, cap - len);
        if (r < 0) {
            http_error(res, 400, "bad_request", "error reading request body");
            status = 400;
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (req->content_length >= 0 && len != cap) {
        http_error(res, 400, "bad_request", "request body shorter than Content-Length");
        status = 400;
        goto out;
    }
    if (len > max_body) {
        http_error(res, 413, "payload_too_large", "request body exceeds the configured limit");
        status = 413;
        goto out;
    }
    buf[len] = '\0';
    req->body = buf;
    req->body_len = len;
    buf = NULL;
out:
    if (buf != NULL) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
    return status;
}

void http_request_free(struct http_request *req)
{
    if (req->body != NULL) {
        OPENSSL_cleanse(req->body, req->body_len);
        free(req->body);
    }
    req->body = NULL;
    req->body_len = 0;
}

void http_json(struct http_response *res, int status, char *body, size_t len)
{
    http_response_free(res);
    res->status = status;
    res->body = body;
    res->body_len = len;
}

void http_error(struct http_response *res, int status, const char *code, const char *message)
{
    struct body_writer w;

    body_writer_init(&w);
    body_writer_raw(&w, "{\"error\":{\"code\":");
    body_writer_string(&w, code, strlen(code));
    body_writer_raw(&w, ",\"message\":");
    body_writer_string(&w, message, strlen(message));
    body_writer_raw(&w, "}}");
    if (body_writer_failed(&w)) {
        /* Static fallback: an error must reach the client even without memory. */
        static const char oom[] = "{\"error\":{\"code\":\"unavailable\",\"message\":\"out of memory\"}}";
        body_writer_free(&w);
        http_response_free(res);
        res->status = 503;
        res->body = strdup(oom);
        res->body_len = res->body ? sizeof(oom) - 1 : 0;
        return;
    }
    http_json(res, status, w.buf, w.len);
}

int http_send(const struct http_io *io, const struct http_response *res, const char *request_id)
{
    char head[512];
    int n;

    n = snprintf(head, sizeof(head),
                 "Status: %d %s\r\n"
                 "Content-Type: %s\r\n"
                 "Content-Length: %zu\r\n"
                 "Cache-Control: no-store\r\n"
                 "X-Content-Type-Options: nosniff\r\n"
                 "X-Request-Id: %s\r\n",
                 res->status, http_reason(res->status),
                 res->content_type ? res->content_type : "application/json", res->body_len,
                 request_id);
    if (n < 0 || (size_t)n >= sizeof(head))
        return -1;
    if (res->allow != NULL) {
        int m = snprintf(head + n, sizeof(head) - (size_t)n, "Allow: %s\r\n", res->allow);
        if (m < 0 || (size_t)m >= sizeof(head) - (size_t)n)
            return -1;
        n += m;
    }
    if (res->www_authenticate != NULL) {
        int m = snprintf(head + n, sizeof(head) - (size_t)n, "WWW-Authenticate: %s\r\n",
                         res->www_authenticate);
        if (m < 0 || (size_t)m >= sizeof(head) - (size_t)n)
            return -1;
        n += m;
    }
    if (res->retry_after > 0) {
        int m = snprintf(head + n, sizeof(head) - (size_t)n, "Retry-After: %d\r\n",
                         res->retry_after);
        if (m < 0 || (size_t)m >= sizeof(head) - (size_t)n)
            return -1;
        n += m;
    }
    if ((size_t)n + 2 >= sizeof(head))
        return -1;
    memcpy(head + n, "\r\n", 2);
    n += 2;
    if (io->write(io->ctx, head, (size_t)n) != 0)
        return -1;
    if (!res->head && res->body_len > 0 && io->write(io->ctx, res->body, res->body_len) != 0)
        return -1;
    return 0;
}

void http_response_free(struct http_response *res)
{
    if (res->body != NULL) {
        OPENSSL_cleanse(res->body, res->body_len);
        free(res->body);
    }
    res->body = NULL;
    res->body_len = 0;
}
