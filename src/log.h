/* Structured (logfmt) log lines on stderr. Callers pass only metadata:
 * never a share, a key, a token or a raw client id (use log_client_tag). */
#ifndef SHAREKEEP_LOG_H
#define SHAREKEEP_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

void log_set_level(enum log_level lvl);
int log_parse_level(const char *s, enum log_level *out);

/* msg is a fixed, human-readable event; fmt formats extra "key=value"
 * fields. */
void log_event(enum log_level lvl, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An event without fields. */
void log_message(enum log_level lvl, const char *msg);

/* log_info("event") or log_info("event", "key=%s", value): the macros pick
 * log_message or log_event by the number of arguments (up to 12 fields). */
#define LOG_PICK_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, name, ...) name
#define LOG_(lvl, ...)                                                                     \
    LOG_PICK_(__VA_ARGS__, log_event, log_event, log_event, log_event, log_event,          \
              log_event, log_event, log_event, log_event, log_event, log_event, log_event, \
              log_event, log_message, unused)(lvl, __VA_ARGS__)
#define log_debug(...) LOG_(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...)  LOG_(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...)  LOG_(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) LOG_(LOG_LVL_ERROR, __VA_ARGS__)

/* A short, stable tag for a client id so that log lines of one client can
 * be correlated without the log holding the id itself: the first 64 bits of
 * HMAC-SHA256 under the key log_set_tag_key gave (keyring_log_tag_key), so
 * that nobody without the keyring can test guessed ids against a log. Until
 * a key is set (or if it could not be), "-". out receives 16 hex chars +
 * NUL. */
#define LOG_CLIENT_TAG_LEN 17
void log_client_tag(const char *client_id, size_t len, char out[LOG_CLIENT_TAG_LEN]);
/* Sets (key != NULL) or forgets the tag key; the copy is wiped on change. */
void log_set_tag_key(const uint8_t key[32]);

#endif
