/* Who may call which route: webhook signatures (Standard Webhooks or a shared
 * secret header) and client share credentials (JWT or a trusted header set by
 * an nginx auth_request in front of us). Loaded with the config, checked by
 * app.c before any handler runs. */
#ifndef SHAREKEEP_AUTH_H
#define SHAREKEEP_AUTH_H

#include <stddef.h>

#include "config.h"
#include "http.h"

struct auth;

/* Reads the secret and key files the config names. Serving without webhook
 * secrets, or with client_auth = jwt and no JWT key, is refused here. */
int auth_load(const struct config *cfg, struct auth **out, char *err, size_t errlen);
void auth_free(struct auth *a);

/* Verifies the webhook over the raw body. Returns 0, or 401 with res set. */
int auth_webhook(const struct auth *a, const struct http_request *req, struct http_response *res);

/* The webhook's delivery id, for replay protection, or NULL: only a
 * Standard Webhooks id is signed (and so was checked by auth_webhook); in
 * shared-secret mode nothing covers a Webhook-Id header, so it is ignored. */
const char *auth_webhook_delivery_id(const struct auth *a, const struct http_request *req);

/* Checks the caller may act for client_id (the path's raw id). Returns 0, or
 * 401 (no or bad credential) / 403 (another client's) with res set. */
int auth_client(const struct auth *a, const struct http_request *req, const char *client_id,
                struct http_response *res);

/* /metrics: only for the HTTP client addresses on metrics_allow (the
 * REMOTE_ADDR the web server passes). Returns 0, or 403 with res set. */
int auth_metrics(const struct auth *a, const struct http_request *req, struct http_response *res);

#endif
