/* Reading a whole small file under a permission policy: see file.h. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "file.h"

/* Who runs this process, for the advice of an owner mismatch (file_set_runner). */
static struct {
    int service;          /* serve, check or CGI: the service's own files */
    char cmdline[256];    /* the command as it was typed; "" when unknown */
} runner = { 1, "" };

/* Arguments made only of these are shown unquoted. */
static int shell_safe(const char *s)
{
    if (*s == '\0')
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                     "_-+=/.,:@%") == strlen(s);
}

void file_set_runner(int service, int argc, char *const argv[])
{
    size_t used = 0;

    runner.service = service;
    runner.cmdline[0] = '\0';
    for (int i = 0; i < argc && argv[i] != NULL; i++) {
        const char *a = argv[i];
        int n;

        /* A quote inside an argument would need escaping: name no command. */
        if (!shell_safe(a) && strchr(a, '\'') != NULL) {
            runner.cmdline[0] = '\0';
            return;
        }
        n = snprintf(runner.cmdline + used, sizeof(runner.cmdline) - used,
                     shell_safe(a) ? "%s%s" : "%s'%s'", i > 0 ? " " : "", a);
        if (n < 0 || (size_t)n >= sizeof(runner.cmdline) - used) {
            runner.cmdline[0] = '\0';   /* too long to show whole: show none */
            return;
        }
        used += (size_t)n;
    }
}

/* One uid, named for a message. */
struct who {
    char desc[96];   /* "user sharekeep (uid 999)", "root (uid 0)", "uid 999" */
    char as[72];     /* what runuser -u and chown take: "sharekeep", or "999" */
    int named;       /* as is a user name */
};

static void who_of(struct who *w, unsigned long uid)
{
    const struct passwd *pw = getpwuid((uid_t)uid);

    w->named = pw != NULL && pw->pw_name != NULL && strlen(pw->pw_name) < sizeof(w->as);
    if (w->named) {
        (void)snprintf(w->as, sizeof(w->as), "%s", pw->pw_name);
        (void)snprintf(w->desc, sizeof(w->desc), "%s%s (uid %lu)", uid == 0 ? "" : "user ",
                       w->as, uid);
    } else {
        (void)snprintf(w->as, sizeof(w->as), "%lu", uid);
        (void)snprintf(w->desc, sizeof(w->desc), "uid %lu", uid);
    }
}

/* ", e.g. runuser -u NAME -- <the command>", or "" without a user name or a
 * command line to show. */
static void runuser_example(char *buf, size_t len, const struct who *w)
{
    buf[0] = '\0';
    if (w->named && runner.cmdline[0] != '\0')
        (void)snprintf(buf, len, ", e.g. runuser -u %s -- %s", w->as, runner.cmdline);
}

void file_owner_advice(char *buf, size_t len, const char *path, unsigned long owner)
{
    const unsigned long me = (unsigned long)geteuid();
    struct who file, mine;
    char eg[384];

    who_of(&file, owner);
    who_of(&mine, me);
    if (owner == 0) {
        /* Root-owned: wrong for every side, as sharekeep never runs as root;
         * the file goes to the user the service runs as. */
        (void)snprintf(buf, len, "owned by root (uid 0), not by %s that %s: key files belong "
                       "to the user the service runs as, never to root: chown it to that user "
                       "(chown %s %s, if the service runs as %s)", mine.desc,
                       runner.service ? "sharekeep runs as" : "runs this command", mine.as,
                       path, mine.as);
        return;
    }
    runuser_example(eg, sizeof(eg), &file);
    if (!runner.service || me == 0) {
        /* The file is likely right and the command run by the wrong user
         * (root, by habit): a chown here would lock the service out. */
        (void)snprintf(buf, len, "owned by %s, not by %s that %s: run it as %s%s", file.desc,
                       mine.desc, runner.service ? "runs sharekeep" : "runs this command",
                       file.as, eg);
        return;
    }
    /* The service as one user, its file of another: either may be wrong. */
    (void)snprintf(buf, len, "owned by %s, not by %s that sharekeep runs as: the service's files "
                   "must belong to the user it runs as: run it as %s%s, or, if it is to run as "
                   "%s, chown %s %s", file.desc, mine.desc, file.as, eg, mine.as, mine.as, path);
}

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

/* "cannot open: Permission denied; <what> (owner O, group G, mode M) is
 * closed to <user> that runs <this command>: ...", for the file or the
 * directory that refused this user, as sb describes it. */
static void closed_to(const struct where *w, const char *what, const struct stat *sb)
{
    const struct passwd *pw;
    const struct group *gr;
    struct who mine;

    /* First: getpwuid's answer lasts only until its next call. */
    who_of(&mine, (unsigned long)geteuid());
    pw = getpwuid(sb->st_uid);
    gr = getgrgid(sb->st_gid);
    fail(w, "cannot open: %s; %s (owner %s, group %s, mode %04o) is closed to %s that runs %s: "
         "run it as the user the service runs as", strerror(EACCES), what,
         pw != NULL ? pw->pw_name : "?", gr != NULL ? gr->gr_name : "?",
         (unsigned)(sb->st_mode & 07777), mine.desc,
         runner.service ? "sharekeep" : "this command");
}

/* The open was refused (EACCES): says whose file it is, as far as that can
 * be seen, and which user to run as. (Root is never refused.) FILE_ERR_IO,
 * as for any file that cannot be opened. */
static file_status denied(const struct where *w, enum file_policy policy)
{
    char advice[768], dir[4096];
    struct stat sb;

    if (lstat(w->path, &sb) == 0) {
        if (sb.st_uid == geteuid()) {
            fail(w, "cannot open: %s", strerror(EACCES));
        } else if (policy == FILE_SECRET) {
            /* A secret is its owner's alone: the owner is who to run as. */
            file_owner_advice(advice, sizeof(advice), w->path, (unsigned long)sb.st_uid);
            fail(w, "cannot open: %s; %s", strerror(EACCES), advice);
        } else {
            /* The config, say, root's and readable by the service's group. */
            closed_to(w, "it", &sb);
        }
        return FILE_ERR_IO;
    }
    /* Its directory may not be searched. */
    (void)snprintf(dir, sizeof(dir), "%s", w->path);
    if (stat(dirname(dir), &sb) == 0) {
        char what[4200];

        (void)snprintf(what, sizeof(what), "its directory %s", dir);
        closed_to(w, what, &sb);
        return FILE_ERR_IO;
    }
    fail(w, "cannot open: %s", strerror(EACCES));
    return FILE_ERR_IO;
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
    if (errno == EACCES)
        return denied(w, policy);
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
        char advice[768];

        file_owner_advice(advice, sizeof(advice), w->path, (unsigned long)sb->st_uid);
        fail(w, "%s", advice);
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
