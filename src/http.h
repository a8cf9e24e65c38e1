/* One HTTP request as FastCGI or CGI hands it to us: CGI-style parameters,
 * a bounded body, and a JSON response. Transport-neutral through http_io so
 * the same code serves FastCGI workers, plain CGI and unit tests. */
#ifndef SHAREKEEP_HTTP_H
#define SHAREKEEP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bounds.h"

struct http_io {
    /* Returns bytes read, 0 at end of input, < 0 on error. */
    ssize_t (*read)(void *ctx, void *buf, size_t n);
    /* Returns 0 when all n bytes were written. */
    int (*write)(void *ctx, const void *buf, size_t n);
    void *ctx;
};


struct http_request {
    const char *method;
    char path[PATH_MAX_LEN + 1];
    const char *content_type;
    long long content_length;        /* -1 when absent */
    const char *query;               /* raw query string, "" when none */
    /* How long the request waited before we got it: the front end's
     * SHAREKEEP_REQUEST_START (nginx's $msec when it passed the request on)
     * to now, in ms; 0 when not given. A parameter, not a header, so only
     * the web server sets it. */
    long long queued_ms;
    char *const *envp;
    char request_id[HTTP_REQUEST_ID_MAX + 1];  /* the caller's X-Request-Id, else local_id */
    char local_id[HTTP_REQUEST_ID_MAX + 1];    /* always ours: random hex */
    int request_id_claimed;                    /* request_id came from the caller */
    /* The FastCGI peer (the web server in front of us), as set by the
     * transport: an IP address, "unix" or "cgi"; "" when unknown. Never
     * taken from the request itself. */
    char peer[64];
    uint8_t *body;                   /* NUL-terminated; may hold a share */
    size_t body_len;
};

struct http_response {
    int status;
    char *body;                      /* owned; may hold a share; wiped on free */
    size_t body_len;
    const char *content_type;        /* NULL = application/json */
    const char *allow;               /* for 405 */
    const char *www_authenticate;    /* for 401 on Bearer routes */
    int retry_after;                 /* seconds, 0 = none */
    int head;                        /* a HEAD request: headers only, Content-Length kept */
};

/* The path a request is routed on, from envp (at most PATH_MAX_LEN bytes).
 * Returns 0, 404 when it is too long, 400 when it is not absolute. */
int http_request_path(char *const *envp, char path[PATH_MAX_LEN + 1]);
/* Fills method, path, content type/length and request id from envp.
 * Returns 0, or an HTTP status (400/404) with res set to the error. */
int http_request_init(struct http_request *req, char *const *envp, struct http_response *res);

/* Requires a JSON content type and reads at most max_body bytes.
 * Returns 0, or an HTTP status (400/413/415) with res set to the error. */
int http_request_read_json_body(struct http_request *req, const struct http_io *io,
                                size_t max_body, struct http_response *res);

void http_request_free(struct http_request *req);

const char *http_param(char *const *envp, const char *name);
/* Value of the request header (e.g. "X-Request-Id"), or NULL. */
const char *http_header(const struct http_request *req, const char *name);

/* Parses req->query strictly: "name=value" pairs joined by '&', %XX
 * escapes (hex) decoded and '+' read as a space (form encoding), every name
 * one of names[0..n-1] and given at most once. values[i] gets the decoded
 * value of names[i] (malloc'd, NUL-terminated; NULL when absent); free them
 * with http_query_free. A decoded NUL, a bad escape, an unknown or repeated
 * name, or a pair without '=' is 400 (res set). Returns 0 or 400. */
int http_query(const struct http_request *req, const char *const *names, size_t n,
               char **values, struct http_response *res);
void http_query_free(char **values, size_t n);

/* Sets res to {"error":{"code":code,"message":message}}. */
void http_error(struct http_response *res, int status, const char *code, const char *message);
/* Takes ownership of body (a complete JSON document). */
void http_json(struct http_response *res, int status, char *body, size_t len);

int http_send(const struct http_io *io, const struct http_response *res, const char *request_id);
void http_response_free(struct http_response *res);

const char *http_reason(int status);

#endif
