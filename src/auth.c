#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "auth_jwt.h"
#include "auth_webhook.h"
#include "bounds.h"
#include "log.h"

enum client_mode { CLIENT_JWT = 1, CLIENT_TRUSTED_HEADER = 2 };

struct auth {
    struct webhook_secrets *webhook;
    enum webhook_mode webhook_mode;
    char *secret_header;
    long tolerance;

    enum client_mode client_mode;
    struct jwt_keys *jwt;
    char *audience;          /* NULL = not checked */
    char *issuer;            /* NULL = not checked */
    long leeway;
    char *trusted_header;
    char *trusted_peers;     /* " a b c " with spaces around each entry */
    char *metrics_allow;     /* same shape */
};

static char *dup_or_null(const char *s)
{
    return s[0] != '\0' ? strdup(s) : NULL;
}

void auth_free(struct auth *a)
{
    if (a == NULL)
        return;
    webhook_secrets_free(a->webhook);
    jwt_keys_free(a->jwt);
    free(a->secret_header);
    free(a->audience);
    free(a->issuer);
    free(a->trusted_header);
    free(a->trusted_peers);
    free(a->metrics_allow);
    free(a);
}

/* A list of addresses, padded with spaces so that a lookup is one strstr
 * of " addr ". Commas and tabs separate too. */
static char *word_list(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 3);

    if (out == NULL)
        return NULL;
    snprintf(out, n + 3, " %s ", s);
    for (char *p = out; *p; p++)
        if (*p == ',' || *p == '\t')
            *p = ' ';
    return out;
}

static int on_list(const char *list, const char *word)
{
    char needle[80];

    if (word == NULL || word[0] == '\0' || strlen(word) > sizeof(needle) - 3)
        return 0;
    snprintf(needle, sizeof(needle), " %s ", word);
    return strstr(list, needle) != NULL;
}

int auth_load(const struct config *cfg, struct auth **out, char *err, size_t errlen)
{
    struct auth *a = calloc(1, sizeof(*a));
    int rc = -1;

    *out = NULL;
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    a->webhook_mode = strcmp(cfg->webhook_auth, "shared-secret") == 0 ? WEBHOOK_SHARED
                                                                      : WEBHOOK_STANDARD;
    a->tolerance = cfg->webhook_tolerance;
    a->client_mode = strcmp(cfg->client_auth, "trusted-header") == 0 ? CLIENT_TRUSTED_HEADER
                                                                     : CLIENT_JWT;
    a->leeway = cfg->jwt_leeway;
    if (cfg->webhook_secrets[0] == '\0') {
        snprintf(err, errlen, "webhook_secrets: not set; sharekeep does not accept unsigned "
                 "webhooks (see conf/sharekeep.conf.example)");
        goto out;
    }
    if (webhook_secrets_load(cfg->webhook_secrets, a->webhook_mode, &a->webhook, err,
                             errlen) != 0)
        goto out;
    if (a->client_mode == CLIENT_JWT) {
        if (cfg->jwt_hs256_secret[0] == '\0' && cfg->jwt_es256_public_key[0] == '\0') {
            snprintf(err, errlen, "client_auth = jwt needs jwt_hs256_secret or "
                     "jwt_es256_public_key");
            goto out;
        }
        if (jwt_keys_load(cfg->jwt_hs256_secret[0] ? cfg->jwt_hs256_secret : NULL,
                          cfg->jwt_es256_public_key[0] ? cfg->jwt_es256_public_key : NULL,
                          &a->jwt, err, errlen) != 0)
            goto out;
    }
    a->trusted_peers = word_list(cfg->trusted_peers);
    a->metrics_allow = word_list(cfg->metrics_allow);
    a->secret_header = strdup(cfg->webhook_secret_header);
    a->trusted_header = strdup(cfg->trusted_header);
    a->audience = dup_or_null(cfg->jwt_audience);
    a->issuer = dup_or_null(cfg->jwt_issuer);
    if (a->secret_header == NULL || a->trusted_header == NULL || a->trusted_peers == NULL ||
        a->metrics_allow == NULL ||
        (cfg->jwt_audience[0] && a->audience == NULL) || (cfg->jwt_issuer[0] && a->issuer == NULL)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    *out = a;
    a = NULL;
    rc = 0;
out:
    auth_free(a);
    return rc;
}

static int deny(struct http_response *res, int status, const char *code, const char *message)
{
    http_error(res, status, code, message);
    return status;
}

int auth_webhook(const struct auth *a, const struct http_request *req, struct http_response *res)
{
    wh_status st;

    if (a->webhook_mode == WEBHOOK_SHARED)
        st = webhook_verify_shared(a->webhook, http_header(req, a->secret_header));
    else
        st = webhook_verify_standard(a->webhook, http_header(req, "Webhook-Id"),
                                     http_header(req, "Webhook-Timestamp"),
                                     http_header(req, "Webhook-Signature"), req->body,
                                     req->body_len, time(NULL), a->tolerance);
    if (st == WH_OK)
        return 0;
    log_warn("webhook refused", "reason=\"%s\" request_id=%s", wh_strerror(st), req->request_id);
    /* Portal's mode says what it lacks in Portal's terms; the header name
     * is the config's, not a secret. */
    if (a->webhook_mode == WEBHOOK_SHARED)
        return deny(res, 401, "unauthenticated",
                    st == WH_MISSING ? "the webhook secret header is missing"
                                     : "the webhook secret is not valid");
    switch (st) {
    case WH_MISSING:
        return deny(res, 401, "unauthenticated", "webhook signature headers are missing");
    case WH_STALE:
        return deny(res, 401, "unauthenticated", "webhook timestamp is outside the tolerance");
    default:
        return deny(res, 401, "unauthenticated", "webhook signature is not valid");
    }
}

const char *auth_webhook_delivery_id(const struct auth *a, const struct http_request *req)
{
    return a->webhook_mode == WEBHOOK_STANDARD ? http_header(req, "Webhook-Id") : NULL;
}

static int auth_trusted_header(const struct auth *a, const struct http_request *req,
                               const char *client_id, struct http_response *res)
{
    const char *who;

    /* Anyone can send the header; only the front end we trust may set it. */
    if (!on_list(a->trusted_peers, req->peer)) {
        log_warn("trusted header from an untrusted peer", "peer=%s request_id=%s",
                 req->peer[0] ? req->peer : "-", req->request_id);
        return deny(res, 401, "unauthenticated", "client is not authenticated");
    }
    who = http_header(req, a->trusted_header);
    if (who == NULL || who[0] == '\0')
        return deny(res, 401, "unauthenticated", "client is not authenticated");
    if (strcmp(who, client_id) != 0)
        return deny(res, 403, "forbidden", "credential is for another client");
    return 0;
}

int auth_client(const struct auth *a, const struct http_request *req, const char *client_id,
                struct http_response *res)
{
    struct jwt_expect expect = { a->audience, a->issuer, a->leeway, time(NULL) };
    char sub[CLIENT_ID_MAX + 2];
    const char *token = NULL;
    jwt_status st;
    int rc;

    if (a->client_mode == CLIENT_TRUSTED_HEADER)
        return auth_trusted_header(a, req, client_id, res);
    st = jwt_from_authorization(http_header(req, "Authorization"), &token);
    if (st == JWT_OK)
        st = jwt_verify(a->jwt, token, &expect, sub, sizeof(sub));
    if (st != JWT_OK) {
        log_warn("client token refused", "reason=\"%s\" request_id=%s", jwt_strerror(st),
                 req->request_id);
        rc = deny(res, 401, "unauthenticated",
                  st == JWT_MISSING ? "a Bearer token is required"
                  : st == JWT_EXPIRED ? "token has expired" : "token is not valid");
        res->www_authenticate = st == JWT_MISSING ? "Bearer" : "Bearer error=\"invalid_token\"";
        goto out;
    }
    if (strcmp(sub, client_id) != 0) {
        rc = deny(res, 403, "forbidden", "token is for another client");
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(sub, sizeof(sub));
    return rc;
}

int auth_metrics(const struct auth *a, const struct http_request *req, struct http_response *res)
{
    if (on_list(a->metrics_allow, http_param(req->envp, "REMOTE_ADDR")))
        return 0;
    return deny(res, 403, "forbidden", "metrics are not served to this address");
}
