/* Strict base64 decoding: see base64.h for what is accepted. */
#include <stdlib.h>

#include <openssl/evp.h>

#include "base64.h"

/* The 6-bit value of c in alpha, or -1. */
static int sextet(char c, enum base64_alphabet alpha)
{
    int url = alpha == BASE64_URL_UNPADDED;

    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/* Checks that in is well-formed for alpha; *chars receives how many leading
 * characters carry data (all but the padding). */
static int data_chars(const char *in, size_t len, enum base64_alphabet alpha, size_t *chars)
{
    size_t i, pad = 0;

    if (in == NULL && len > 0)
        return -1;
    if (alpha == BASE64_STD_PADDED) {
        if (len % 4 != 0)
            return -1;
        while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
            pad++;
    } else if (alpha != BASE64_URL_UNPADDED) {
        return -1;
    }
    /* One character alone carries 6 bits: not even one byte. */
    if ((len - pad) % 4 == 1)
        return -1;
    for (i = 0; i < len - pad; i++)
        if (sextet(in[i], alpha) < 0)
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
    size_t n = 0, i, o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (out_len == NULL)
        return -1;
    *out_len = 0;
    if (data_chars(in, len, alpha, &n) != 0 || bytes_of(n) > out_cap || (out == NULL && n > 0))
        return -1;
    /* A final group of 2 characters has 4 unused bits, one of 3 has 2. */
    if (n % 4 != 0 && (sextet(in[n - 1], alpha) & (n % 4 == 2 ? 0x0f : 0x03)) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        acc = (acc << 6 | (uint32_t)sextet(in[i], alpha)) & 0xfff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
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
