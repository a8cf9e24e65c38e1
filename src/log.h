/* Structured (logfmt) log lines on stderr. Callers pass only metadata:
 * never a share, a key, a token or a raw client id (use log_client_tag). */
#ifndef SHAREKEEP_LOG_H
#define SHAREKEEP_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

void log_set_level(enum log_level lvl);
int log_parse_level(const char *s, enum log_level *out);

/* msg is a fixed, human-readable event; fields are extra "key=value" pairs
 * already formatted by the caller (may be NULL). */
void log_event(enum log_level lvl, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_info(msg, ...)  log_event(LOG_LVL_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_event(LOG_LVL_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_event(LOG_LVL_ERROR, msg, __VA_ARGS__)

/* A short, stable, non-reversible tag for a client id so that log lines of
 * one client can be correlated without the log holding the id itself.
 * out receives 16 hex chars + NUL. */
#define LOG_CLIENT_TAG_LEN 17
void log_client_tag(const char *client_id, size_t len, char out[LOG_CLIENT_TAG_LEN]);

#endif
