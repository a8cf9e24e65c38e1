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

/* Writes "<label> <path>: <message>", or "<path>: <message>" without a label. */
__attribute__((format(printf, 5, 6)))
static void set_err(char *err, size_t errlen, const char *label, const char *path,
                    const char *fmt, ...)
{
    va_list ap;
    int n;

    if (err == NULL || errlen == 0)
        return;
    n = snprintf(err, errlen, "%s%s%s: ", label != NULL ? label : "",
                 label != NULL ? " " : "", path);
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

secretfile_status secretfile_load(const char *label, const char *path, size_t max_len,
                                  uint8_t **buf, size_t *len, char *err, size_t errlen)
{
    secretfile_status st = SECRETFILE_ERR_ARG;
    struct stat sb;
    uint8_t *data = NULL;
    size_t cap = 0, got = 0;
    ssize_t n;
    int fd = -1;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (buf != NULL)
        *buf = NULL;
    if (len != NULL)
        *len = 0;
    if (path == NULL || buf == NULL || len == NULL) {
        if (err != NULL && errlen > 0)
            (void)snprintf(err, errlen, "%s: no path given",
                           label != NULL ? label : "secret file");
        goto out;
    }
    if (max_len > SIZE_MAX - 2) {
        set_err(err, errlen, label, path, "size limit too large");
        goto out;
    }
    /* O_NONBLOCK: a FIFO planted at path must not hang start-up; it is then
     * refused as not a regular file. */
    st = SECRETFILE_ERR_IO;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ELOOP) {
            st = SECRETFILE_ERR_PERM;
            set_err(err, errlen, label, path,
                    "is a symbolic link; point the config at the real file");
        } else {
            set_err(err, errlen, label, path, "cannot open: %s", strerror(errno));
        }
        goto out;
    }
    if (fstat(fd, &sb) != 0) {
        set_err(err, errlen, label, path, "cannot stat: %s", strerror(errno));
        goto out;
    }
    st = SECRETFILE_ERR_PERM;
    if (!S_ISREG(sb.st_mode)) {
        set_err(err, errlen, label, path, "not a regular file");
        goto out;
    }
    if (sb.st_uid != geteuid()) {
        set_err(err, errlen, label, path,
                "owned by uid %lu, but sharekeep runs as uid %lu; chown it",
                (unsigned long)sb.st_uid, (unsigned long)geteuid());
        goto out;
    }
    if ((sb.st_mode & 077) != 0) {
        set_err(err, errlen, label, path, "mode %04o is too open; chmod 600 it",
                (unsigned)(sb.st_mode & 07777));
        goto out;
    }
    st = SECRETFILE_ERR_TOO_BIG;
    if (sb.st_size < 0 || (unsigned long long)sb.st_size > (unsigned long long)max_len) {
        set_err(err, errlen, label, path, "%lld bytes is over the %zu byte limit",
                (long long)sb.st_size, max_len);
        goto out;
    }

    /* One spare byte notices a file that grew since fstat, one for the NUL. */
    st = SECRETFILE_ERR_NOMEM;
    cap = (size_t)sb.st_size + 2;
    data = malloc(cap);
    if (data == NULL) {
        set_err(err, errlen, label, path, "out of memory");
        goto out;
    }
    st = SECRETFILE_ERR_IO;
    while (got < cap - 1) {
        n = read(fd, data + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            set_err(err, errlen, label, path, "read failed: %s", strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got > (size_t)sb.st_size) {
        set_err(err, errlen, label, path, "file changed while being read");
        goto out;
    }
    data[got] = '\0';
    *buf = data;
    *len = got;
    data = NULL;
    st = SECRETFILE_OK;
out:
    if (data != NULL) {
        OPENSSL_cleanse(data, cap);
        free(data);
    }
    if (fd >= 0)
        (void)close(fd);
    return st;
}

int secretfile_read(const char *path, size_t max_len, uint8_t **buf, size_t *len,
                    char *err, size_t errlen)
{
    return secretfile_load(NULL, path, max_len, buf, len, err, errlen) == SECRETFILE_OK ? 0 : -1;
}

void secretfile_free(uint8_t *buf, size_t len)
{
    if (buf == NULL)
        return;
    OPENSSL_cleanse(buf, len + 1);
    free(buf);
}
