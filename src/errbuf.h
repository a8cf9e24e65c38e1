/* One-line error messages into a caller's buffer, for functions that report
 * what went wrong (config, key and secret files) without logging it. */
#ifndef SHAREKEEP_ERRBUF_H
#define SHAREKEEP_ERRBUF_H

#include <stddef.h>

/* err may be NULL or errlen 0: the message is then dropped. */
void errbuf_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
