/* A share's identity as Portal keys on it, read from a request body: the
 * backupMethod (a free string, "UNKNOWN" when absent) and, for custodian
 * shares, the backupSharePairId. Validation only: no I/O. What the values
 * may be is the record format's rule (seal_method_valid, seal_pair_id_valid),
 * since the seal binds them. */
#ifndef SHAREKEEP_IDENTITY_H
#define SHAREKEEP_IDENTITY_H

#include <stddef.h>

#include "body.h"
#include "bounds.h"

/* The body's backupMethod into out: "UNKNOWN" when absent or null. Returns
 * 0, or -1 with *why (a static message for a 422) when it is not a string
 * of 1..BACKUP_METHOD_MAX printable ASCII characters. */
int identity_method(const struct body_doc *doc, char out[BACKUP_METHOD_MAX + 1], const char **why);

/* The pair id: the body's top-level backupSharePairId when given (not
 * null), else the string member backupSharePairId of the share when the
 * share is a JSON object that has one, else none (""). Returns 0, or -1
 * with *why when the one found is not 1..PAIR_ID_MAX printable ASCII (or
 * the top-level field is not a string). */
int identity_pair_id(const struct body_doc *doc, const char *share, size_t share_len,
                     char out[PAIR_ID_MAX + 1], const char **why);

#endif
