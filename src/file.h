/* Reading a whole small file under a permission policy: the one reader for
 * the keyring, webhook secrets, the JWT keys, the config file and the SQL
 * migrations.
 *
 * Every policy wants a regular file of at most max_len bytes; the checks are
 * made with fstat on the descriptor that is then read, so the file cannot be
 * swapped in between. A FIFO planted at the path is refused, not waited on.
 * On top of that:
 *
 *   FILE_SECRET  not a symbolic link (opened with O_NOFOLLOW), owned by the
 *                effective uid, no group/other permission bits (0600, 0400)
 *
 * A file this user may not open, or a secret owned by another, is refused
 * with a message naming the owner and the user to run as (file_owner_advice).
 *   FILE_PUBLIC  a public key: anyone may read it, but not writable by others
 *                (a file others can rewrite would let them choose the key)
 *   FILE_PLAIN   nothing more (config file, migrations)
 */
#ifndef SHAREKEEP_FILE_H
#define SHAREKEEP_FILE_H

#include <stddef.h>
#include <stdint.h>

enum file_policy { FILE_SECRET = 1, FILE_PUBLIC, FILE_PLAIN };

typedef enum {
    FILE_OK = 0,
    FILE_ERR_ARG,       /* no path, an unknown policy or an impossible size limit */
    FILE_ERR_IO,        /* cannot open, stat or read; grew while being read */
    FILE_ERR_PERM,      /* symlink, not a regular file, wrong owner or mode */
    FILE_ERR_TOO_BIG,   /* over max_len bytes */
    FILE_ERR_NOMEM,
} file_status;

/* Reads path whole into *buf (*len bytes plus a terminating NUL that len does
 * not count). On failure *buf is NULL, *len 0 and err (if non-NULL) holds one
 * line that names the file and says how to fix it, e.g. "keyring /etc/x: mode
 * 0644 is too open; chmod 600 it" for label "keyring". A NULL label leaves
 * the message starting with the path. The message never contains file
 * content. */
file_status file_read(const char *label, const char *path, size_t max_len,
                      enum file_policy policy, uint8_t **buf, size_t *len, char *err,
                      size_t errlen);

/* Who runs this process, for what an owner mismatch advises: service is 1
 * for the service itself (serve, check, CGI: the default), 0 for an admin
 * command; argv is the command line as typed, shown in "e.g. runuser -u
 * OWNER -- <command line>" (none is shown when argc is 0). Called once from
 * main(), before any file is read. */
void file_set_runner(int service, int argc, char *const argv[]);

/* Writes into buf the end of a message for path, owned by uid owner but not
 * by the effective uid: "owned by user sharekeep (uid 999), not by root
 * (uid 0) that runs this command: run it as sharekeep, e.g. runuser -u
 * sharekeep -- sharekeep rotate". It says to chown only where that cannot
 * lock the other side out: a file owned by root (never right), or the
 * service's file of another user (one of two choices). */
void file_owner_advice(char *buf, size_t len, const char *path, unsigned long owner);

/* Cleanses len + 1 bytes (the content and its NUL), then frees; NULL is fine.
 * Every buffer from file_read goes back through here, secret or not. */
void file_free(uint8_t *buf, size_t len);

#endif
