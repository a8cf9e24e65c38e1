/* Reading a small secret from a file (webhook secrets, a JWT HMAC key).
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

/* Reads path whole into *buf (*len bytes plus a terminating NUL that len does
 * not count). Returns 0, or -1 with *buf NULL, *len 0 and err (if non-NULL)
 * holding one line that starts with the path and says how to fix it, e.g.
 * "/etc/x: mode 0644 is too open; chmod 600 it". Callers prefix what the
 * file is for. The message never contains file content. */
int secretfile_read(const char *path, size_t max_len, uint8_t **buf, size_t *len,
                    char *err, size_t errlen);

/* Cleanses len + 1 bytes (the content and its NUL), then frees; NULL is fine. */
void secretfile_free(uint8_t *buf, size_t len);

#endif
