/* Reading a small secret file: see secretfile.h for the rules. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "secretfile.h"

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int secretfile_read(const char *path, size_t max_len, uint8_t **buf, size_t *len,
                    char *err, size_t errlen)
{
    struct stat sb;
    uint8_t *data = NULL;
    size_t cap = 0, got = 0;
    ssize_t n;
    int fd = -1, rc = -1;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (buf != NULL)
        *buf = NULL;
    if (len != NULL)
        *len = 0;
    if (path == NULL || buf == NULL || len == NULL) {
        set_err(err, errlen, "secret file: no path given");
        goto out;
    }
    if (max_len > SIZE_MAX - 2) {
        set_err(err, errlen, "%s: size limit too large", path);
        goto out;
    }
    /* O_NONBLOCK: a FIFO planted at path must not hang start-up; it is then
     * refused as not a regular file. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ELOOP)
            set_err(err, errlen, "%s: is a symbolic link; point the config at the real file",
                    path);
        else
            set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &sb) != 0) {
        set_err(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        set_err(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    if (sb.st_uid != geteuid()) {
        set_err(err, errlen, "%s: owned by uid %lu, but sharekeep runs as uid %lu; chown it",
                path, (unsigned long)sb.st_uid, (unsigned long)geteuid());
        goto out;
    }
    if ((sb.st_mode & 077) != 0) {
        set_err(err, errlen, "%s: mode %04o is too open; chmod 600 it",
                path, (unsigned)(sb.st_mode & 07777));
        goto out;
    }
    if (sb.st_size < 0 || (unsigned long long)sb.st_size > (unsigned long long)max_len) {
        set_err(err, errlen, "%s: %lld bytes is over the %zu byte limit",
                path, (long long)sb.st_size, max_len);
        goto out;
    }

    /* One spare byte notices a file that grew since fstat, one for the NUL. */
    cap = (size_t)sb.st_size + 2;
    data = malloc(cap);
    if (data == NULL) {
        set_err(err, errlen, "%s: out of memory", path);
        goto out;
    }
    while (got < cap - 1) {
        n = read(fd, data + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            set_err(err, errlen, "%s: read failed: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got > (size_t)sb.st_size) {
        set_err(err, errlen, "%s: file changed while being read", path);
        goto out;
    }
    data[got] = '\0';
    *buf = data;
    *len = got;
    data = NULL;
    rc = 0;
out:
    if (data != NULL) {
        OPENSSL_cleanse(data, cap);
        free(data);
    }
    if (fd >= 0)
        (void)close(fd);
    return rc;
}

void secretfile_free(uint8_t *buf, size_t len)
{
    if (buf == NULL)
        return;
    OPENSSL_cleanse(buf, len + 1);
    free(buf);
}
