/* Strict base64 (RFC 4648) for keys, secrets, MACs, JWT parts and exports.
 *
 * Exactly one spelling of any byte string is accepted: characters of the
 * chosen alphabet only (no whitespace or line breaks), padding exactly as
 * the alphabet demands, and zero bits in the unused low bits of the last
 * character (RFC 4648 section 3.5). Anything else is a second spelling that
 * no honest encoder produces, and would make a MAC or a key malleable.
 */
#ifndef SHAREKEEP_BASE64_H
#define SHAREKEEP_BASE64_H

#include <stddef.h>
#include <stdint.h>

enum base64_alphabet {
    BASE64_STD_PADDED,      /* A-Z a-z 0-9 + /, '=' pads to a multiple of 4 (section 4) */
    BASE64_URL_UNPADDED,    /* A-Z a-z 0-9 - _, no '=' (section 5; JWS, RFC 7515 section 2) */
};

/* Checks the shape of in (len characters): alphabet, padding, length. On
 * success stores the number of bytes it decodes to in *out_len (if non-NULL)
 * and returns 0; returns -1 otherwise. It does not look at the unused bits,
 * so a caller can tell "not base64" from "not canonical" (base64_decode). */
int base64_decoded_len(const char *in, size_t len, enum base64_alphabet alpha,
                       size_t *out_len);

/* Decodes in (len characters) into out (room for out_cap bytes), storing the
 * decoded length in *out_len. Returns 0, or -1 if in fails base64_decoded_len,
 * has non-zero unused bits, or decodes to more than out_cap bytes. On failure
 * *out_len is 0 and nothing has been written to out. The empty string is
 * valid in both alphabets and decodes to zero bytes. */
int base64_decode(const char *in, size_t len, enum base64_alphabet alpha,
                  uint8_t *out, size_t out_cap, size_t *out_len);

/* Encodes len bytes as padded standard base64 into a malloc'd,
 * NUL-terminated string of *out_len characters. 0, or -1 without memory. */
int base64_encode(const uint8_t *in, size_t len, char **out, size_t *out_len);

#endif
