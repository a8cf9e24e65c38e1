/* Strict base64 decoding: see base64.h for what is accepted.
 *
 * Table-driven: one lookup gives a character's 6-bit value, or BAD for a
 * character outside the alphabet. The shape check ORs the lookups of all
 * data characters together and tests for BAD once, with no branch per
 * character; the decode then turns each 4 characters into 3 bytes. These are
 * two passes over the input because a refused input must leave out
 * untouched (base64.h): nothing is decoded before all of it is known good. */
#include <stdlib.h>

#include <openssl/evp.h>

#include "base64.h"

/* Bit 7, which no value 0..63 has. */
#define BAD 0x80

/* The value of each character, by its byte: A-Z a-z 0-9 then + / (std) or
 * - _ (url). Every other byte, NUL and 0x80..0xff included, is BAD. */
static const uint8_t std_sextet[256] = {
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,  62, BAD, BAD, BAD,  63,
     52,  53,  54,  55,  56,  57,  58,  59,  60,  61, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
     15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, BAD, BAD, BAD, BAD, BAD,
    BAD,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
     41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
};

static const uint8_t url_sextet[256] = {
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,  62, BAD, BAD,
     52,  53,  54,  55,  56,  57,  58,  59,  60,  61, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
     15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, BAD, BAD, BAD, BAD,  63,
    BAD,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
     41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
};

static const uint8_t *sextets(enum base64_alphabet alpha)
{
    return alpha == BASE64_STD_PADDED ? std_sextet
         : alpha == BASE64_URL_UNPADDED ? url_sextet : NULL;
}

/* Checks that in is well-formed for alpha; *chars receives how many leading
 * characters carry data (all but the padding). */
static int data_chars(const char *in, size_t len, enum base64_alphabet alpha, size_t *chars)
{
    const uint8_t *t = sextets(alpha);
    const unsigned char *p = (const unsigned char *)in;
    size_t i, pad = 0;
    unsigned bad = 0;

    if (t == NULL || (in == NULL && len > 0))
        return -1;
    if (alpha == BASE64_STD_PADDED) {
        if (len % 4 != 0)
            return -1;
        while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
            pad++;
    }
    /* One character alone carries 6 bits: not even one byte. */
    if ((len - pad) % 4 == 1)
        return -1;
    for (i = 0; i < len - pad; i++)
        bad |= t[p[i]];
    if (bad & BAD)
        return -1;
    *chars = len - pad;
    return 0;
}

static size_t bytes_of(size_t chars)
{
    return chars / 4 * 3 + (chars % 4 == 0 ? 0 : chars % 4 - 1);
}

int base64_decoded_len(const char *in, size_t len, enum base64_alphabet alpha,
                       size_t *out_len)
{
    size_t n = 0;
    int rc = data_chars(in, len, alpha, &n);

    if (out_len != NULL)
        *out_len = rc == 0 ? bytes_of(n) : 0;
    return rc;
}

int base64_decode(const char *in, size_t len, enum base64_alphabet alpha,
                  uint8_t *out, size_t out_cap, size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)in;
    const uint8_t *t = sextets(alpha);
    size_t n = 0, i, o = 0;
    uint32_t v;

    if (out_len == NULL)
        return -1;
    *out_len = 0;
    if (data_chars(in, len, alpha, &n) != 0 || bytes_of(n) > out_cap || (out == NULL && n > 0))
        return -1;
    /* A final group of 2 characters has 4 unused bits, one of 3 has 2. */
    if (n % 4 != 0 && (t[p[n - 1]] & (n % 4 == 2 ? 0x0f : 0x03)) != 0)
        return -1;
    for (i = 0; i + 4 <= n; i += 4) {
        v = (uint32_t)t[p[i]] << 18 | (uint32_t)t[p[i + 1]] << 12 |
            (uint32_t)t[p[i + 2]] << 6 | t[p[i + 3]];
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    if (n - i >= 2) {
        v = (uint32_t)t[p[i]] << 18 | (uint32_t)t[p[i + 1]] << 12 |
            (n - i == 3 ? (uint32_t)t[p[i + 2]] << 6 : 0);
        out[o++] = (uint8_t)(v >> 16);
        if (n - i == 3)
            out[o++] = (uint8_t)(v >> 8);
    }
    *out_len = o;
    return 0;
}

int base64_encode(const uint8_t *in, size_t len, char **out, size_t *out_len)
{
    size_t n = (len + 2) / 3 * 4;
    char *buf;

    if (len > (size_t)INT32_MAX / 4 * 3)
        return -1;
    buf = malloc(n + 1);
    if (buf == NULL)
        return -1;
    if (EVP_EncodeBlock((unsigned char *)buf, in, (int)len) != (int)n) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = n;
    return 0;
}
