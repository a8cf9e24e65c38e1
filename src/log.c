#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log.h"

static enum log_level min_level = LOG_LVL_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level lvl)
{
    min_level = lvl;
}

int log_parse_level(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Writes the line: prefix, then the fields (fmt may be NULL: none). */
static void emit(enum log_level lvl, const char *msg, const char *fmt, va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int r;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, sizeof(line) - n, ".%03ldZ level=%s pid=%ld msg=\"%s\"",
                 ts.tv_nsec / 1000000L, level_names[lvl], (long)getpid(), msg);
    if (r > 0)
        n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
    if (fmt != NULL && *fmt != '\0' && n < sizeof(line) - 2) {
        line[n++] = ' ';
        r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        if (r > 0)
            n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
        else
            n--;   /* no fields after all: drop the separator */
    }
    /* One write() per line so lines from several workers never interleave. */
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, n);
}

void log_event(enum log_level lvl, const char *msg, const char *fmt, ...)
{
    va_list ap;

    if (lvl < min_level)
        return;
    va_start(ap, fmt);
    emit(lvl, msg, fmt, ap);
    va_end(ap);
}

/* No fields: a va_list that is never read. */
static void emit_plain(enum log_level lvl, const char *msg, ...)
{
    va_list ap;

    va_start(ap, msg);
    emit(lvl, msg, NULL, ap);
    va_end(ap);
}

void log_message(enum log_level lvl, const char *msg)
{
    if (lvl >= min_level)
        emit_plain(lvl, msg);
}

static uint8_t tag_key[32];
static int tag_key_set;

void log_set_tag_key(const uint8_t key[32])
{
    OPENSSL_cleanse(tag_key, sizeof(tag_key));
    tag_key_set = key != NULL;
    if (key != NULL)
        memcpy(tag_key, key, sizeof(tag_key));
}

void log_client_tag(const char *client_id, size_t len, char out[LOG_CLIENT_TAG_LEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!tag_key_set || HMAC(EVP_sha256(), tag_key, (int)sizeof(tag_key),
                             (const unsigned char *)client_id, len, md, &mdlen) == NULL ||
        mdlen < 8) {
        memcpy(out, "-", 2);
        return;
    }
    for (int i = 0; i < 8; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[16] = '\0';
    OPENSSL_cleanse(md, sizeof(md));
}
