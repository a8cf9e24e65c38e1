/* Reading a small secret from a file (the keyring, webhook secrets, a JWT
 * HMAC key).
 *
 * The file must be a regular file, not a symbolic link, owned by the
 * effective uid of the process, with no group/other permission bits (mode
 * 0600 or 0400), and at most max_len bytes. The checks are made with fstat on
 * the descriptor that is read, so the file cannot be swapped in between.
 */
#ifndef SHAREKEEP_SECRETFILE_H
#define SHAREKEEP_SECRETFILE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SECRETFILE_OK = 0,
    SECRETFILE_ERR_ARG,       /* no path, or an impossible size limit */
    SECRETFILE_ERR_IO,        /* cannot open, stat or read; grew while being read */
    SECRETFILE_ERR_PERM,      /* symlink, not a regular file, wrong owner or mode */
    SECRETFILE_ERR_TOO_BIG,   /* over max_len bytes */
    SECRETFILE_ERR_NOMEM,
} secretfile_status;

/* Reads path whole into *buf (*len bytes plus a terminating NUL that len does
 * not count). On failure *buf is NULL, *len 0 and err (if non-NULL) holds one
 * line that names the file and says how to fix it, e.g. "keyring /etc/x: mode
 * 0644 is too open; chmod 600 it" for label "keyring". A NULL label leaves
 * the message starting with the path. The message never contains file
 * content. */
secretfile_status secretfile_load(const char *label, const char *path, size_t max_len,
                                  uint8_t **buf, size_t *len, char *err, size_t errlen);

/* secretfile_load without a label, as 0 or -1. */
int secretfile_read(const char *path, size_t max_len, uint8_t **buf, size_t *len,
                    char *err, size_t errlen);

/* Cleanses len + 1 bytes (the content and its NUL), then frees; NULL is fine. */
void secretfile_free(uint8_t *buf, size_t len);

#endif
