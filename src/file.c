/* Reading a whole small file under a permission policy: see file.h. */
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

#include "file.h"

/* The file being read, for error messages. */
struct where {
    const char *label;   /* NULL: the message starts with the path */
    const char *path;
    char *err;
    size_t errlen;
};

/* Writes "<label> <path>: <message>", or "<path>: <message>" without a label. */
__attribute__((format(printf, 2, 3)))
static void fail(const struct where *w, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (w->err == NULL || w->errlen == 0)
        return;
    n = snprintf(w->err, w->errlen, "%s%s%s: ", w->label != NULL ? w->label : "",
                 w->label != NULL ? " " : "", w->path);
    if (n < 0 || (size_t)n >= w->errlen)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(w->err + n, w->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Opens path for reading; a secret is never reached through a symlink.
 * O_NONBLOCK: a FIFO planted at path must not hang start-up; it is then
 * refused as not a regular file. */
static file_status open_file(const struct where *w, enum file_policy policy, int *fd)
{
    int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;

    if (policy == FILE_SECRET)
        flags |= O_NOFOLLOW;
    *fd = open(w->path, flags);
    if (*fd >= 0)
        return FILE_OK;
    if (policy == FILE_SECRET && errno == ELOOP) {
        fail(w, "is a symbolic link; point the config at the real file");
        return FILE_ERR_PERM;
    }
    fail(w, "cannot open: %s", strerror(errno));
    return FILE_ERR_IO;
}

/* The type, owner and mode rules of policy for the open file sb describes. */
static file_status check_policy(const struct where *w, enum file_policy policy,
                                const struct stat *sb)
{
    if (!S_ISREG(sb->st_mode)) {
        fail(w, "not a regular file");
        return FILE_ERR_PERM;
    }
    if (policy == FILE_SECRET && sb->st_uid != geteuid()) {
        fail(w, "owned by uid %lu, but sharekeep runs as uid %lu; chown it",
             (unsigned long)sb->st_uid, (unsigned long)geteuid());
        return FILE_ERR_PERM;
    }
    if (policy == FILE_SECRET && (sb->st_mode & 077) != 0) {
        fail(w, "mode %04o is too open; chmod 600 it", (unsigned)(sb->st_mode & 07777));
        return FILE_ERR_PERM;
    }
    if (policy == FILE_PUBLIC && (sb->st_mode & S_IWOTH) != 0) {
        fail(w, "mode %04o lets any user replace the key; chmod o-w it",
             (unsigned)(sb->st_mode & 07777));
        return FILE_ERR_PERM;
    }
    return FILE_OK;
}

/* Reads fd to its end into a new buffer, NUL-terminated. size is what fstat
 * said: one byte past it is asked for, so a file that grew since is noticed
 * and refused rather than cut short. */
static file_status read_to_end(const struct where *w, int fd, size_t size, uint8_t **out,
                               size_t *out_len)
{
    size_t cap = size + 2, got = 0;   /* the spare byte, and the NUL */
    uint8_t *data = malloc(cap);
    ssize_t n;

    if (data == NULL) {
        fail(w, "out of memory");
        return FILE_ERR_NOMEM;
    }
    while (got < cap - 1) {
        n = read(fd, data + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fail(w, "read failed: %s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got > size) {
        fail(w, "file changed while being read");
        goto fail;
    }
    data[got] = '\0';
    *out = data;
    *out_len = got;
    return FILE_OK;
fail:
    OPENSSL_cleanse(data, cap);
    free(data);
    return FILE_ERR_IO;
}

file_status file_read(const char *label, const char *path, size_t max_len,
                      enum file_policy policy, uint8_t **buf, size_t *len, char *err,
                      size_t errlen)
{
    const struct where w = { label, path, err, errlen };
    file_status st = FILE_ERR_ARG;
    struct stat sb;
    int fd = -1;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (buf != NULL)
        *buf = NULL;
    if (len != NULL)
        *len = 0;
    if (path == NULL || buf == NULL || len == NULL) {
        if (err != NULL && errlen > 0)
            (void)snprintf(err, errlen, "%s: no path given", label != NULL ? label : "file");
        goto out;
    }
    if (policy != FILE_SECRET && policy != FILE_PUBLIC && policy != FILE_PLAIN) {
        fail(&w, "unknown file policy %d", (int)policy);
        goto out;
    }
    if (max_len > SIZE_MAX - 2) {
        fail(&w, "size limit too large");
        goto out;
    }
    st = open_file(&w, policy, &fd);
    if (st != FILE_OK)
        goto out;
    if (fstat(fd, &sb) != 0) {
        st = FILE_ERR_IO;
        fail(&w, "cannot stat: %s", strerror(errno));
        goto out;
    }
    st = check_policy(&w, policy, &sb);
    if (st != FILE_OK)
        goto out;
    if (sb.st_size < 0 || (unsigned long long)sb.st_size > (unsigned long long)max_len) {
        st = FILE_ERR_TOO_BIG;
        fail(&w, "%lld bytes is over the %zu byte limit", (long long)sb.st_size, max_len);
        goto out;
    }
    st = read_to_end(&w, fd, (size_t)sb.st_size, buf, len);
out:
    if (fd >= 0)
        (void)close(fd);
    return st;
}

void file_free(uint8_t *buf, size_t len)
{
    if (buf == NULL)
        return;
    OPENSSL_cleanse(buf, len + 1);
    free(buf);
}
