/* Unit tests for base64.c: RFC 4648 test vectors in both alphabets, and
 * refusal of every second spelling (bad characters, padding, lengths,
 * non-zero unused bits). */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "base64.h"
#include "unit.h"

#define STD BASE64_STD_PADDED
#define URL BASE64_URL_UNPADDED

/* Decodes a NUL-terminated string; returns base64_decode's result. */
static int dec(const char *in, enum base64_alphabet alpha, uint8_t *out, size_t cap,
               size_t *out_len)
{
    return base64_decode(in, strlen(in), alpha, out, cap, out_len);
}

/* Decodes in and checks it gives want (want_len bytes), and that
 * base64_decoded_len agrees. */
static void decodes_to(const char *in, enum base64_alphabet alpha, const void *want,
                       size_t want_len)
{
    uint8_t out[64];
    size_t len = 99, n = 99;

    CU_ASSERT_EQUAL(base64_decoded_len(in, strlen(in), alpha, &n), 0);
    CU_ASSERT_EQUAL(n, want_len);
    CU_ASSERT_EQUAL(dec(in, alpha, out, sizeof(out), &len), 0);
    CU_ASSERT_EQUAL(len, want_len);
    CU_ASSERT(len == want_len && memcmp(out, want, want_len) == 0);
    if (len != want_len || memcmp(out, want, want_len) != 0)
        fprintf(stderr, "\n  decoding '%s' gave the wrong bytes\n", in);
}

/* in must be refused, with nothing written and *out_len 0. */
static void refused(const char *in, enum base64_alphabet alpha)
{
    uint8_t out[64];
    size_t len = 99;
    int rc;

    memset(out, 0xa5, sizeof(out));
    rc = dec(in, alpha, out, sizeof(out), &len);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_EQUAL(out[0], 0xa5);
    CU_ASSERT_EQUAL(out[1], 0xa5);
    if (rc != -1)
        fprintf(stderr, "\n  '%s' was accepted\n", in);
}

/* RFC 4648 section 10; the base64url spellings are the same without '='. */
static void test_rfc4648_vectors_in_both_alphabets(void)
{
    static const struct { const char *raw, *std, *url; } v[] = {
        { "", "", "" },
        { "f", "Zg==", "Zg" },
        { "fo", "Zm8=", "Zm8" },
        { "foo", "Zm9v", "Zm9v" },
        { "foob", "Zm9vYg==", "Zm9vYg" },
        { "fooba", "Zm9vYmE=", "Zm9vYmE" },
        { "foobar", "Zm9vYmFy", "Zm9vYmFy" },
    };
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        decodes_to(v[i].std, STD, v[i].raw, strlen(v[i].raw));
        decodes_to(v[i].url, URL, v[i].raw, strlen(v[i].raw));
    }
}

static void test_values_62_and_63_differ_by_alphabet(void)
{
    static const uint8_t b[] = { 0xfb, 0xef, 0xbe, 0xff, 0xff, 0xff, 0xfb, 0xff };

    decodes_to("++++////+/8=", STD, b, sizeof(b));
    decodes_to("----____-_8", URL, b, sizeof(b));
    refused("----____-_8=", STD);
    refused("++++////+/8", URL);
    refused("+/8=", URL);
    refused("-_8=", STD);
}

static void test_wrong_padding_refused(void)
{
    refused("Zg", STD);          /* padding missing */
    refused("Zg=", STD);
    refused("Zm8", STD);
    refused("Zg===", STD);
    refused("Z===", STD);        /* one character is not a byte */
    refused("====", STD);
    refused("=", STD);
    refused("Zg==Zg==", STD);    /* padding only at the very end */
    refused("Zm=v", STD);
    refused("Zm9v=", STD);
    refused("Zg==", URL);        /* no padding at all */
    refused("Zm8=", URL);
}

static void test_wrong_length_refused(void)
{
    refused("Z", URL);
    refused("Zm9vY", URL);
    refused("Zm9vY", STD);
    refused("A", STD);
}

static void test_characters_outside_the_alphabet_refused(void)
{
    static const char std[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char in[5] = "AAAA";
    uint8_t out[3];
    size_t len;
    unsigned c, wrong = 0;

    for (c = 1; c < 256; c++) {
        in[2] = (char)c;
        if ((dec(in, STD, out, sizeof(out), &len) == 0) != (strchr(std, (int)c) != NULL))
            wrong++;
        if ((dec(in, URL, out, sizeof(out), &len) == 0) != (strchr(url, (int)c) != NULL))
            wrong++;
    }
    CU_ASSERT_EQUAL(wrong, 0);
    /* A NUL inside the counted length is a character too. */
    CU_ASSERT_EQUAL(base64_decode("AA\0A", 4, STD, out, sizeof(out), &len), -1);
    CU_ASSERT_EQUAL(base64_decode("AA\0A", 4, URL, out, sizeof(out), &len), -1);
    refused("Zm9 v", URL);
    refused("Zm9\nv", URL);
    refused("Zm9vYmFy\n", STD);
    refused(" Zm9v", STD);
}

/* Every byte and byte pair has exactly one spelling: setting any unused
 * low bit of the last character (4 bits after 2 characters, 2 after 3) must
 * be refused, in either alphabet. */
static void test_non_zero_unused_bits_refused(void)
{
    static const char std[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char in[5];
    uint8_t out[3];
    size_t len, accepted2 = 0, accepted3 = 0;
    unsigned a, v;

    for (a = 0; a < 64; a++) {
        for (v = 0; v < 64; v++) {
            snprintf(in, sizeof(in), "%c%c==", std[a], std[v]);
            if (dec(in, STD, out, sizeof(out), &len) == 0) {
                accepted2++;
                CU_ASSERT_EQUAL(v & 0x0f, 0);
                CU_ASSERT_EQUAL(out[0], (uint8_t)(a << 2 | v >> 4));
            }
            snprintf(in, sizeof(in), "A%c%c=", std[a], std[v]);
            if (dec(in, STD, out, sizeof(out), &len) == 0) {
                accepted3++;
                CU_ASSERT_EQUAL(v & 0x03, 0);
            }
        }
    }
    CU_ASSERT_EQUAL(accepted2, 256);       /* one spelling per byte */
    CU_ASSERT_EQUAL(accepted3, 64 * 16);   /* one per 10 data bits */

    refused("Zh==", STD);
    refused("Zh", URL);
    refused("Zm9=", STD);
    refused("Zm9", URL);
    refused("Zm9vYh==", STD);
    refused("Zm9vYmF=", STD);
    refused("Zm9vYmF", URL);
}

/* OpenSSL's encoder as the reference: every length 0..300 of pseudo-random
 * bytes decodes back from its padded spelling, and from the same spelling
 * in the url alphabet without padding. Covers all three tail lengths and
 * every character in every position of a group. */
static void test_decodes_what_openssl_encodes(void)
{
    static uint8_t raw[300], out[300];
    static char std[404], url[404];
    uint32_t x = 12345;
    size_t len, n, k, wrong = 0;

    for (k = 0; k < sizeof(raw); k++) {
        x = x * 1103515245u + 12345u;
        raw[k] = (uint8_t)(x >> 16);
    }
    for (len = 0; len <= sizeof(raw); len++) {
        int enc = EVP_EncodeBlock((unsigned char *)std, raw, (int)len);

        for (k = 0; k < (size_t)enc; k++)
            url[k] = std[k] == '+' ? '-' : std[k] == '/' ? '_' : std[k];
        while (enc > 0 && url[enc - 1] == '=')
            enc--;
        url[enc] = '\0';
        if (dec(std, STD, out, sizeof(out), &n) != 0 || n != len || memcmp(out, raw, len) != 0)
            wrong++;
        if (dec(url, URL, out, sizeof(out), &n) != 0 || n != len || memcmp(out, raw, len) != 0)
            wrong++;
    }
    CU_ASSERT_EQUAL(wrong, 0);
}

/* All 64 characters in order spell the bytes 00 10 83 10 51 87 ...: each
 * must decode to its own value. */
static void test_every_character_has_its_value(void)
{
    static const char std[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t want[48], out[48];
    size_t len = 0;
    unsigned i;

    for (i = 0; i < 16; i++) {
        unsigned v = (4 * i) << 18 | (4 * i + 1) << 12 | (4 * i + 2) << 6 | (4 * i + 3);

        want[3 * i] = (uint8_t)(v >> 16);
        want[3 * i + 1] = (uint8_t)(v >> 8);
        want[3 * i + 2] = (uint8_t)v;
    }
    CU_ASSERT_EQUAL(dec(std, STD, out, sizeof(out), &len), 0);
    CU_ASSERT(len == 48 && memcmp(out, want, 48) == 0);
    CU_ASSERT_EQUAL(dec(url, URL, out, sizeof(out), &len), 0);
    CU_ASSERT(len == 48 && memcmp(out, want, 48) == 0);
}

/* A bad character anywhere in a long input, last one included, is found
 * before any byte is written: out stays as it was. */
static void test_late_bad_character_writes_nothing(void)
{
    char in[401];
    uint8_t out[300];
    size_t len, pos, wrong = 0;

    for (pos = 0; pos < 400; pos++) {
        memset(in, 'Q', 400);
        in[400] = '\0';
        in[pos] = pos % 2 ? '*' : '\x80';
        memset(out, 0xa5, sizeof(out));
        len = 99;
        if (dec(in, STD, out, sizeof(out), &len) != -1 || len != 0 || out[0] != 0xa5 ||
            out[299] != 0xa5)
            wrong++;
        if (dec(in, URL, out, sizeof(out), &len) != -1 || len != 0 || out[0] != 0xa5)
            wrong++;
    }
    CU_ASSERT_EQUAL(wrong, 0);
    /* ...and a bad character where padding could be, or after it */
    refused("Zm9vYm=y", STD);
    refused("Zm9vY===", STD);
    refused("Zm9vYg=A", STD);
}

static void test_output_capacity_is_respected(void)
{
    uint8_t out[6];
    size_t len = 99;

    memset(out, 0xa5, sizeof(out));
    CU_ASSERT_EQUAL(dec("Zm9vYmFy", STD, out, 5, &len), -1);
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_EQUAL(out[0], 0xa5);
    CU_ASSERT_EQUAL(dec("Zm9vYmE", URL, out, 4, &len), -1);
    CU_ASSERT_EQUAL(dec("Zm9vYmFy", STD, out, 6, &len), 0);
    CU_ASSERT_EQUAL(len, 6);
    CU_ASSERT_EQUAL(memcmp(out, "foobar", 6), 0);
    CU_ASSERT_EQUAL(dec("", STD, NULL, 0, &len), 0);
    CU_ASSERT_EQUAL(len, 0);
}

static void test_decoded_len_checks_shape_only(void)
{
    size_t n = 99;

    /* Non-zero unused bits are base64_decode's business. */
    CU_ASSERT_EQUAL(base64_decoded_len("Zh==", 4, STD, &n), 0);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(base64_decoded_len("Zm9", 3, URL, &n), 0);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(base64_decoded_len("Zm9vY", 5, URL, &n), -1);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(base64_decoded_len("Zm8=", 4, URL, NULL), -1);
    CU_ASSERT_EQUAL(base64_decoded_len("Zm8", 3, URL, NULL), 0);
}

static void test_bad_arguments_refused(void)
{
    uint8_t out[4];
    size_t len = 99;

    CU_ASSERT_EQUAL(base64_decode(NULL, 4, STD, out, sizeof(out), &len), -1);
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_EQUAL(base64_decode("Zm9v", 4, STD, NULL, 3, &len), -1);
    CU_ASSERT_EQUAL(base64_decode("Zm9v", 4, STD, out, sizeof(out), NULL), -1);
    CU_ASSERT_EQUAL(base64_decode("Zm9v", 4, (enum base64_alphabet)7, out, sizeof(out), &len),
                    -1);
    CU_ASSERT_EQUAL(base64_decoded_len(NULL, 1, URL, &len), -1);
    CU_ASSERT_EQUAL(base64_decoded_len(NULL, 0, URL, &len), 0);
    CU_ASSERT_EQUAL(len, 0);
}

int unit_register(void)
{
    static const struct unit_test tests[] = {
        { "RFC 4648 vectors in both alphabets", test_rfc4648_vectors_in_both_alphabets },
        { "values 62 and 63 differ by alphabet", test_values_62_and_63_differ_by_alphabet },
        { "wrong padding refused", test_wrong_padding_refused },
        { "wrong length refused", test_wrong_length_refused },
        { "characters outside the alphabet refused",
          test_characters_outside_the_alphabet_refused },
        { "non-zero unused bits refused", test_non_zero_unused_bits_refused },
        { "decodes what OpenSSL encodes", test_decodes_what_openssl_encodes },
        { "every character has its value", test_every_character_has_its_value },
        { "a late bad character writes nothing", test_late_bad_character_writes_nothing },
        { "output capacity is respected", test_output_capacity_is_respected },
        { "decoded_len checks the shape only", test_decoded_len_checks_shape_only },
        { "bad arguments refused", test_bad_arguments_refused },
        { NULL, NULL },
    };

    return unit_add_suite("base64", tests);
}
