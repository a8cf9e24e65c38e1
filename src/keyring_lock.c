/* The key file's lock: edits of one key file take turns (keyring_file.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


#include "bounds.h"
#include "errbuf.h"
#include "file.h"
#include "keyring.h"
#include "keyring_internal.h"

#define PATH_BUF 4096

/* ---- the lock file ---------------------------------------------------- */

/* An edit of the key file reads it, changes the keyring in memory and writes
 * it back (a temp file renamed over it). Two edits at once would both add
 * "the next id" to the same old file, and the last rename would win: a KEK
 * that rotate reported, and that records may already be sealed with, gone.
 * So every edit holds an exclusive flock() on "<keyring>.lock" from before
 * it reads until after the rename and the directory fsync.
 *
 * Not a lock on the key file itself: rename replaces its inode, and a lock
 * belongs to an inode. A writer that opened the path before the first
 * rename would wait on the old inode, one that opens it after would lock
 * the new inode at once, and both would then edit. The lock file is never
 * renamed nor removed (removing it would let two writers lock two inodes
 * by one name), so all writers meet on the same inode. keygen takes it too:
 * O_EXCL already lets only one of two keygens create the file, and under
 * the lock the other says "already exists" only once the file is whole.
 *
 * Readers (keyring_load: serve at start and on SIGHUP, the admin commands)
 * take no lock: rename is atomic, so they see the old key file or the new
 * one, never a mix. (keygen writes a new file in place; a reader racing it
 * may see a short file, which it refuses, never uses.)
 *
 * The lock file is empty and holds nothing secret, but it follows the key
 * file's rules (never through a symlink; a regular file owned by the
 * effective uid, no group/other bits): flock() needs only read access, and
 * a lock file another user could open is one they could hold forever. It is
 * never mistaken for a keyring: loaded as one, it has no active key.
 *
 * flock() has no timeout of its own. It is retried without blocking, for at
 * most KEYRING_LOCK_WAIT_MS, and then the edit fails naming the lock file:
 * a command stuck while holding it must not hang every later one. */

#define LOCK_SUFFIX       ".lock"
#define LOCK_POLL_MIN_MS  1
#define LOCK_POLL_MAX_MS  25

static long ms_since(const struct timespec *t0)
{
    struct timespec now;

    (void)clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t0->tv_sec) * 1000L + (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The lock file's type, owner and mode, on the open descriptor. */
static keyring_status check_lock_file(int fd, const char *path, const char *lock, char *err,
                                      size_t errlen)
{
    struct stat sb;

    if (fstat(fd, &sb) != 0) {
        errbuf_set(err, errlen, "keyring %s: cannot stat its lock file %s: %s", path, lock,
                 strerror(errno));
        return KEYRING_ERR_IO;
    }
    if (!S_ISREG(sb.st_mode)) {
        errbuf_set(err, errlen, "keyring %s: lock file %s is not a regular file; remove it",
                 path, lock);
        return KEYRING_ERR_PERM;
    }
    if (sb.st_uid != geteuid()) {
        char advice[768];

        file_owner_advice(advice, sizeof(advice), lock, (unsigned long)sb.st_uid);
        errbuf_set(err, errlen, "keyring %s: lock file %s: %s", path, lock, advice);
        return KEYRING_ERR_PERM;
    }
    if ((sb.st_mode & 077) != 0) {
        errbuf_set(err, errlen, "keyring %s: lock file %s: mode %04o is too open; chmod 600 it",
                 path, lock, (unsigned)(sb.st_mode & 07777));
        return KEYRING_ERR_PERM;
    }
    return KEYRING_OK;
}

/* Opens (creating it 0600 if need be) and exclusively locks path's lock file,
 * waiting at most wait_ms; *fd holds the lock until lock_release. */
keyring_status keyring_lock_acquire(const char *path, unsigned wait_ms, int *fd, char *err,
                                   size_t errlen)
{
    char lock[PATH_BUF];
    struct timespec t0;
    long poll_ms = LOCK_POLL_MIN_MS, left;
    keyring_status st;
    int lfd;

    *fd = -1;
    if (snprintf(lock, sizeof(lock), "%s" LOCK_SUFFIX, path) >= (int)sizeof(lock)) {
        errbuf_set(err, errlen, "keyring %s: path too long", path);
        return KEYRING_ERR_IO;
    }
    /* O_NONBLOCK: a FIFO planted there is refused below, not waited on. */
    lfd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
    if (lfd < 0) {
        struct stat sb;
        int e = errno;

        /* Another user's lock file, e.g. root's from a rotate run as root
         * before rotate checked the key file first: say whose. */
        if (e == EACCES && lstat(lock, &sb) == 0 && sb.st_uid != geteuid()) {
            char advice[768];

            file_owner_advice(advice, sizeof(advice), lock, (unsigned long)sb.st_uid);
            errbuf_set(err, errlen, "keyring %s: cannot open its lock file %s: %s; %s", path,
                       lock, strerror(e), advice);
            return KEYRING_ERR_IO;
        }
        errno = e;
        if (errno == ELOOP || errno == EISDIR) {
            errbuf_set(err, errlen, "keyring %s: lock file %s is %s; remove it", path, lock,
                     errno == ELOOP ? "a symbolic link" : "not a regular file");
            return KEYRING_ERR_PERM;
        }
        errbuf_set(err, errlen, "keyring %s: cannot open its lock file %s: %s", path, lock,
                 strerror(errno));
        return KEYRING_ERR_IO;
    }
    if ((st = check_lock_file(lfd, path, lock, err, errlen)) != KEYRING_OK)
        goto fail;
    (void)clock_gettime(CLOCK_MONOTONIC, &t0);
    while (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK) {
            st = KEYRING_ERR_IO;
            errbuf_set(err, errlen, "keyring %s: cannot lock %s: %s", path, lock,
                     strerror(errno));
            goto fail;
        }
        left = (long)wait_ms - ms_since(&t0);
        if (left <= 0) {
            st = KEYRING_ERR_IO;
            errbuf_set(err, errlen, "keyring %s: gave up after %u.%03u s waiting for the lock "
                     "file %s: another keygen, rotate or retire is editing the key file, or "
                     "is stuck holding it", path, wait_ms / 1000, wait_ms % 1000, lock);
            goto fail;
        }
        sleep_ms(poll_ms < left ? poll_ms : left);
        if (poll_ms < LOCK_POLL_MAX_MS)
            poll_ms *= 2;
    }
    *fd = lfd;
    return KEYRING_OK;
fail:
    (void)close(lfd);
    return st;
}

/* Closing the descriptor drops the lock; the lock file stays (see above). */
void keyring_lock_release(int fd)
{
    if (fd >= 0)
        (void)close(fd);
}
