/* Unit tests for auth_webhook.c (Standard Webhooks and shared-secret
 * verification, secrets parsing) and file.c (the one file reader and its
 * FILE_SECRET / FILE_PUBLIC / FILE_PLAIN policies). File tests work in their
 * own mkdtemp directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth_webhook.h"
#include "file.h"
#include "unit.h"

#define NOBODY_UID 65534
#define TOL        300L

/* The signing test vector of the Standard Webhooks reference libraries
 * (libraries/go/webhook_test.go, TestWebhookSign, and its siblings). */
#define SW_SECRET    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_SECRET_B64 "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID        "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS        "1614265330"
#define SW_NOW       ((time_t)1614265330)
#define SW_BODY      "{\"test\": 2432232314}"
#define SW_SIG       "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
/* The same MAC with non-zero unused bits in its last base64 quantum. */
#define SW_SIG_NONCANON "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF="
/* From the Go tests: a well-formed v1 MAC that matches nothing. */
#define OTHER_SIG    "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="

#define SHARED_A     "correct-horse-battery-staple-0001"
#define SHARED_B     "rotated in: 7Qm2 pX9v Lk4s Zt8w"

static char err[512];

/* Each test starts with a fresh temp dir and no message left in err. */
static void tmp_setup(void)
{
    unit_tmp_setup("webhook");
    memset(err, 0, sizeof(err));
}

static struct webhook_secrets *parse_ok(const char *text, enum webhook_mode mode)
{
    struct webhook_secrets *s = NULL;

    err[0] = '\0';
    CU_ASSERT_EQUAL(webhook_secrets_parse(text, strlen(text), mode, &s, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(err[0], '\0');
    CU_ASSERT_PTR_NOT_NULL(s);
    return s;
}

/* Expects a parse failure whose message contains want. */
static void parse_fails(const char *text, size_t len, enum webhook_mode mode, const char *want)
{
    struct webhook_secrets *s = (struct webhook_secrets *)1;

    err[0] = '\0';
    CU_ASSERT_EQUAL(webhook_secrets_parse(text, len, mode, &s, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    if (strstr(err, want) == NULL)
        fprintf(stderr, "\n  message was: %s (wanted '%s')\n", err, want);
}

/* "whsec_" + base64 of len bytes fill, fill+1, ... */
static const char *make_secret(uint8_t fill, size_t len, char *out)
{
    uint8_t key[96];
    size_t i;

    for (i = 0; i < len; i++)
        key[i] = (uint8_t)(fill + i);
    memcpy(out, "whsec_", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, key, (int)len);
    return out;
}

/* "v1,<base64 HMAC-SHA256(key, id.ts.body)>" with key given as base64. */
static const char *sign_v1(const char *key_b64, const char *id, const char *ts,
                           const char *body, char *out)
{
    unsigned char key[96], mac[32];
    char msg[1024];
    size_t outl = 0;
    int klen, n;

    klen = EVP_DecodeBlock(key, (const unsigned char *)key_b64, (int)strlen(key_b64));
    CU_ASSERT_FATAL(klen > 0);
    /* EVP_DecodeBlock counts '=' padding as zero bytes. */
    klen -= (key_b64[strlen(key_b64) - 1] == '=') + (key_b64[strlen(key_b64) - 2] == '=');
    n = snprintf(msg, sizeof(msg), "%s.%s.%s", id, ts, body);
    CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(msg));
    CU_ASSERT_PTR_NOT_NULL_FATAL(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key,
                                           (size_t)klen, (unsigned char *)msg, (size_t)n,
                                           mac, sizeof(mac), &outl));
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)sizeof(mac));
    return out;
}

static wh_status verify_vector(const struct webhook_secrets *s, const char *id, const char *ts,
                               const char *sig, const char *body, time_t now)
{
    return webhook_verify_standard(s, id, ts, sig, (const uint8_t *)body, strlen(body),
                                   now, TOL);
}

/* ---- Standard Webhooks ---------------------------------------------- */

static void test_published_vector_verifies(void)
{
    struct webhook_secrets *s = parse_ok(SW_SECRET "\n", WEBHOOK_STANDARD);
    char sig[64];

    CU_ASSERT_EQUAL(webhook_secrets_count(s), 1);
    CU_ASSERT_EQUAL(webhook_secrets_mode(s), WEBHOOK_STANDARD);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW), WH_OK);
    /* Our signer agrees with the published one, so the other tests'
     * signatures mean what they say. */
    CU_ASSERT_STRING_EQUAL(sign_v1(SW_SECRET_B64, SW_ID, SW_TS, SW_BODY, sig), SW_SIG);
    webhook_secrets_free(s);
}

static void test_secret_without_prefix_is_base64_too(void)
{
    struct webhook_secrets *s = parse_ok(SW_SECRET_B64, WEBHOOK_STANDARD);

    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW), WH_OK);
    webhook_secrets_free(s);
}

static void test_timestamp_tolerance_both_directions(void)
{
    struct webhook_secrets *s = parse_ok(SW_SECRET, WEBHOOK_STANDARD);

    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW + 301), WH_STALE);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW - 301), WH_STALE);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW + 300), WH_OK);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW - 300), WH_OK);
    /* Far off in either direction, and a clock before 1970. */
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, SW_SIG, SW_BODY, 0), WH_STALE);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, SW_SIG, SW_BODY, (time_t)-1), WH_STALE);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, "9999999999999999999", SW_SIG, SW_BODY, SW_NOW),
                    WH_STALE);
    /* A negative tolerance is no tolerance. */
    CU_ASSERT_EQUAL(webhook_verify_standard(s, SW_ID, SW_TS, SW_SIG, (const uint8_t *)SW_BODY,
                                            strlen(SW_BODY), SW_NOW, -5), WH_OK);
    CU_ASSERT_EQUAL(webhook_verify_standard(s, SW_ID, SW_TS, SW_SIG, (const uint8_t *)SW_BODY,
                                            strlen(SW_BODY), SW_NOW + 1, -5), WH_STALE);
    webhook_secrets_free(s);
}

static void test_tampered_body_id_timestamp_fail(void)
{
    struct webhook_secrets *s = parse_ok(SW_SECRET, WEBHOOK_STANDARD);

    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, SW_SIG, "{\"test\": 2432232315}", SW_NOW),
                    WH_BAD_SIGNATURE);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, SW_SIG, "{\"test\":2432232314}", SW_NOW),
                    WH_BAD_SIGNATURE);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, SW_SIG, "", SW_NOW), WH_BAD_SIGNATURE);
    CU_ASSERT_EQUAL(verify_vector(s, "msg_p5jXN8AQM9LWM0D4loKWxJeK", SW_TS, SW_SIG, SW_BODY,
                                  SW_NOW), WH_BAD_SIGNATURE);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, "1614265331", SW_SIG, SW_BODY, SW_NOW),
                    WH_BAD_SIGNATURE);
    /* Same number, different digits: the signed content is the header text. */
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, "01614265330", SW_SIG, SW_BODY, SW_NOW),
                    WH_BAD_SIGNATURE);
    webhook_secrets_free(s);
}

static void test_wrong_secret_fails(void)
{
    char other[128];
    struct webhook_secrets *s = parse_ok(make_secret(0x11, 32, other), WEBHOOK_STANDARD);

    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW), WH_BAD_SIGNATURE);
    webhook_secrets_free(s);
}

static void test_rotation_second_secret_verifies(void)
{
    char old[128], cur[128], text[512], sig[64];
    struct webhook_secrets *s;

    make_secret(0x20, 32, old);
    make_secret(0x60, 48, cur);
    snprintf(text, sizeof(text), "# old, until 2024-06\n%s\n# new\n%s\n", old, cur);
    s = parse_ok(text, WEBHOOK_STANDARD);
    CU_ASSERT_EQUAL(webhook_secrets_count(s), 2);
    sign_v1(cur + 6, SW_ID, SW_TS, SW_BODY, sig);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, sig, SW_BODY, SW_NOW), WH_OK);
    sign_v1(old + 6, SW_ID, SW_TS, SW_BODY, sig);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, sig, SW_BODY, SW_NOW), WH_OK);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW), WH_BAD_SIGNATURE);
    webhook_secrets_free(s);
}

static void test_one_matching_entry_among_several_verifies(void)
{
    struct webhook_secrets *s = parse_ok(SW_SECRET, WEBHOOK_STANDARD);

    /* The Go library's multi-signature case. */
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS,
                                  OTHER_SIG " v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
                                  SW_SIG " " OTHER_SIG, SW_BODY, SW_NOW), WH_OK);
    /* A signature from a v1a (asymmetric) signer and broken entries
     * alongside do not spoil a matching entry; extra spaces are fine. */
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS,
                                  "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw== garbage v1,!!  "
                                  SW_SIG "  ", SW_BODY, SW_NOW), WH_OK);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, OTHER_SIG " " OTHER_SIG, SW_BODY, SW_NOW),
                    WH_BAD_SIGNATURE);
    /* A well-formed v1 entry that fails next to a broken one: bad signature. */
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, OTHER_SIG " nocomma", SW_BODY, SW_NOW),
                    WH_BAD_SIGNATURE);
    /* The right MAC under a version other than v1 is not a v1 signature. */
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS,
                                  "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", SW_BODY,
                                  SW_NOW), WH_BAD_SIGNATURE);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS,
                                  "V1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", SW_BODY,
                                  SW_NOW), WH_BAD_SIGNATURE);
    webhook_secrets_free(s);
}

static void test_missing_headers(void)
{
    struct webhook_secrets *s = parse_ok(SW_SECRET, WEBHOOK_STANDARD);

    CU_ASSERT_EQUAL(verify_vector(s, NULL, SW_TS, SW_SIG, SW_BODY, SW_NOW), WH_MISSING);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, NULL, SW_SIG, SW_BODY, SW_NOW), WH_MISSING);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, NULL, SW_BODY, SW_NOW), WH_MISSING);
    CU_ASSERT_EQUAL(verify_vector(s, NULL, NULL, NULL, SW_BODY, SW_NOW), WH_MISSING);
    webhook_secrets_free(s);
}

static void test_malformed_signature_header(void)
{
    struct webhook_secrets *s = parse_ok(SW_SECRET, WEBHOOK_STANDARD);
    char big[WEBHOOK_SIGNATURE_MAX + 64], many[64 * (WEBHOOK_SIGNATURES_MAX + 2)];
    size_t i;

    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, "", SW_BODY, SW_NOW), WH_MALFORMED);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, "   ", SW_BODY, SW_NOW), WH_MALFORMED);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, "v1", SW_BODY, SW_NOW), WH_MALFORMED);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS,
                                  "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", SW_BODY,
                                  SW_NOW), WH_MALFORMED);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, "v1,", SW_BODY, SW_NOW), WH_MALFORMED);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS,
                                  ",g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", SW_BODY,
                                  SW_NOW), WH_MALFORMED);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, "v1,!!!!", SW_BODY, SW_NOW), WH_MALFORMED);
    /* URL-safe alphabet, missing padding, a 31-byte MAC, a tab separator. */
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS,
                                  "v1,g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE=", SW_BODY,
                                  SW_NOW), WH_MALFORMED);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS,
                                  "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE", SW_BODY,
                                  SW_NOW), WH_MALFORMED);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS,
                                  "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1A==", SW_BODY,
                                  SW_NOW), WH_MALFORMED);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, "v1a,xyz\t" SW_SIG, SW_BODY, SW_NOW),
                    WH_MALFORMED);
    /* A second spelling of the right MAC is not accepted. */
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, SW_SIG_NONCANON, SW_BODY, SW_NOW),
                    WH_MALFORMED);
    /* Only entries of versions we do not verify: nothing to match. */
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw==",
                                  SW_BODY, SW_NOW), WH_BAD_SIGNATURE);

    /* Over-long: a valid entry padded with spaces past the limit. */
    memset(big, ' ', sizeof(big));
    memcpy(big, SW_SIG, strlen(SW_SIG));
    big[WEBHOOK_SIGNATURE_MAX] = '\0';
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, big, SW_BODY, SW_NOW), WH_OK);
    big[WEBHOOK_SIGNATURE_MAX] = ' ';
    big[WEBHOOK_SIGNATURE_MAX + 1] = '\0';
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, big, SW_BODY, SW_NOW), WH_MALFORMED);

    /* Too many entries, even with the right one among them. */
    many[0] = '\0';
    for (i = 0; i < WEBHOOK_SIGNATURES_MAX - 1; i++)
        strcat(many, OTHER_SIG " ");
    strcat(many, SW_SIG);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, many, SW_BODY, SW_NOW), WH_OK);
    strcat(many, " " OTHER_SIG);
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, many, SW_BODY, SW_NOW), WH_MALFORMED);
    webhook_secrets_free(s);
}

static void test_malformed_id_and_timestamp(void)
{
    struct webhook_secrets *s = parse_ok(SW_SECRET, WEBHOOK_STANDARD);
    static const char *bad_ts[] = {
        "", "16142653a0", "+1614265330", "-1614265330", " 1614265330", "1614265330 ",
        "1614265330.5", "1e9", "0x60367bf2", "12345678901234567890",
    };
    static const char *bad_id[] = {
        "", "msg.1", "msg 1", "msg\t1", "msg\x7f", "msg\xc3\xa9", ".",
    };
    char id[WEBHOOK_ID_MAX + 2], sig[64];
    size_t i;

    for (i = 0; i < sizeof(bad_ts) / sizeof(bad_ts[0]); i++)
        CU_ASSERT_EQUAL(verify_vector(s, SW_ID, bad_ts[i], SW_SIG, SW_BODY, SW_NOW),
                        WH_MALFORMED);
    for (i = 0; i < sizeof(bad_id) / sizeof(bad_id[0]); i++)
        CU_ASSERT_EQUAL(verify_vector(s, bad_id[i], SW_TS, SW_SIG, SW_BODY, SW_NOW),
                        WH_MALFORMED);

    /* WEBHOOK_ID_MAX bytes is fine, one more is not. */
    memset(id, 'a', sizeof(id));
    id[WEBHOOK_ID_MAX] = '\0';
    sign_v1(SW_SECRET_B64, id, SW_TS, SW_BODY, sig);
    CU_ASSERT_EQUAL(verify_vector(s, id, SW_TS, sig, SW_BODY, SW_NOW), WH_OK);
    id[WEBHOOK_ID_MAX] = 'a';
    id[WEBHOOK_ID_MAX + 1] = '\0';
    CU_ASSERT_EQUAL(verify_vector(s, id, SW_TS, sig, SW_BODY, SW_NOW), WH_MALFORMED);

    /* Punctuation a UUID or ULID id might use is fine. */
    sign_v1(SW_SECRET_B64, "evt_1f81eb52-5198:4599~803e", SW_TS, SW_BODY, sig);
    CU_ASSERT_EQUAL(verify_vector(s, "evt_1f81eb52-5198:4599~803e", SW_TS, sig, SW_BODY,
                                  SW_NOW), WH_OK);
    webhook_secrets_free(s);
}

static void test_body_with_nul_bytes_is_signed_whole(void)
{
    static const uint8_t body[] = { 'a', 0, 'b' };
    unsigned char key[24], mac[32];
    char msg[64], sig[64];
    struct webhook_secrets *s = parse_ok(SW_SECRET, WEBHOOK_STANDARD);
    size_t n, outl = 0;

    CU_ASSERT_EQUAL_FATAL(EVP_DecodeBlock(key, (const unsigned char *)SW_SECRET_B64, 32), 24);
    n = (size_t)snprintf(msg, sizeof(msg), "%s.%s.", SW_ID, SW_TS);
    memcpy(msg + n, body, sizeof(body));
    n += sizeof(body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 24,
                                           (unsigned char *)msg, n, mac, 32, &outl));
    memcpy(sig, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)sig + 3, mac, 32);
    CU_ASSERT_EQUAL(webhook_verify_standard(s, SW_ID, SW_TS, sig, body, sizeof(body), SW_NOW,
                                            TOL), WH_OK);
    CU_ASSERT_EQUAL(webhook_verify_standard(s, SW_ID, SW_TS, sig, body, 1, SW_NOW, TOL),
                    WH_BAD_SIGNATURE);
    webhook_secrets_free(s);
}

/* ---- secrets parsing ------------------------------------------------- */

static void test_secrets_file_format(void)
{
    char a[128], b[128], text[512];
    struct webhook_secrets *s;

    make_secret(0x01, 24, a);
    make_secret(0x40, 64, b);
    snprintf(text, sizeof(text),
             "# Portal endpoint secrets\r\n"
             "\n"
             "   \t\n"
             "  %s\t\r\n"
             "\t# rotated 2024-06\n"
             "%s", a, b);
    s = parse_ok(text, WEBHOOK_STANDARD);
    CU_ASSERT_EQUAL(webhook_secrets_count(s), 2);
    webhook_secrets_free(s);
}

static void test_secrets_parse_errors(void)
{
    char text[4096], sec[128];
    size_t i;

    parse_fails("", 0, WEBHOOK_STANDARD, "no secrets");
    parse_fails("# only a comment\n\n  \n", 21, WEBHOOK_STANDARD, "no secrets");
    parse_fails("whsec_!!!!", 10, WEBHOOK_STANDARD, "line 1: secret is not valid base64");
    parse_fails("\nwhsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", 38, WEBHOOK_STANDARD,
                "line 2: secret is not valid base64");
    parse_fails("whsec_MfKQ9r8G KYqrTwjUPD8ILPZIo2LaLaSw", 39, WEBHOOK_STANDARD,
                "not valid base64");
    parse_fails("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw # inline", 47, WEBHOOK_STANDARD,
                "not valid base64");
    parse_fails("whsec_", 6, WEBHOOK_STANDARD, "not valid base64");
    parse_fails("a shared secret of some length", 30, WEBHOOK_STANDARD, "not valid base64");
    /* 16 and 65 bytes are out of range; 24 and 64 are in. */
    make_secret(0x01, 16, sec);
    parse_fails(sec, strlen(sec), WEBHOOK_STANDARD, "decodes to 16 bytes; expected 24 to 64");
    make_secret(0x01, 65, sec);
    parse_fails(sec, strlen(sec), WEBHOOK_STANDARD, "decodes to 65 bytes");
    make_secret(0x01, 23, sec);
    parse_fails(sec, strlen(sec), WEBHOOK_STANDARD, "decodes to 23 bytes");
    /* Non-zero unused bits: "...LaSw" -> "...LaSx" changes no byte of a
     * 24-byte key, so use a 25-byte one ("==" padding) instead. */
    make_secret(0x01, 25, sec);
    sec[strlen(sec) - 3] = (char)(sec[strlen(sec) - 3] == 'A' ? 'B' : sec[strlen(sec) - 3] + 1);
    parse_fails(sec, strlen(sec), WEBHOOK_STANDARD, "not canonical base64");
    parse_fails("whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 37, WEBHOOK_STANDARD, "asymmetric");
    parse_fails("whpk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 37, WEBHOOK_STANDARD, "asymmetric");
    parse_fails(SW_SECRET "\n\0" SW_SECRET, 2 * strlen(SW_SECRET) + 2, WEBHOOK_STANDARD,
                "NUL byte");

    /* At most WEBHOOK_SECRETS_MAX secrets. */
    text[0] = '\0';
    for (i = 0; i < WEBHOOK_SECRETS_MAX; i++) {
        strcat(text, SW_SECRET);
        strcat(text, "\n");
    }
    webhook_secrets_free(parse_ok(text, WEBHOOK_STANDARD));
    strcat(text, SW_SECRET);
    parse_fails(text, strlen(text), WEBHOOK_STANDARD, "more than 16 secrets");

    /* No message ever echoes the secret. */
    parse_fails("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!", 38, WEBHOOK_STANDARD, "line 1");
    CU_ASSERT_PTR_NULL(strstr(err, "MfKQ9r8G"));
    parse_fails("short secret", 12, WEBHOOK_SHARED, "line 1");
    CU_ASSERT_PTR_NULL(strstr(err, "short"));

    parse_fails(SW_SECRET, strlen(SW_SECRET), (enum webhook_mode)7, "unknown mode");
}

/* ---- shared secret --------------------------------------------------- */

static void test_shared_secret_compare(void)
{
    struct webhook_secrets *s = parse_ok("# current\n  " SHARED_A "  \n" SHARED_B "\n",
                                         WEBHOOK_SHARED);
    char big[WEBHOOK_SHARED_MAX + 2];

    CU_ASSERT_EQUAL(webhook_secrets_count(s), 2);
    CU_ASSERT_EQUAL(webhook_secrets_mode(s), WEBHOOK_SHARED);
    CU_ASSERT_EQUAL(webhook_verify_shared(s, SHARED_A), WH_OK);
    CU_ASSERT_EQUAL(webhook_verify_shared(s, SHARED_B), WH_OK);
    CU_ASSERT_EQUAL(webhook_verify_shared(s, "correct-horse-battery-staple-0002"),
                    WH_BAD_SIGNATURE);
    CU_ASSERT_EQUAL(webhook_verify_shared(s, "correct-horse-battery-staple-000"),
                    WH_BAD_SIGNATURE);
    CU_ASSERT_EQUAL(webhook_verify_shared(s, SHARED_A "1"), WH_BAD_SIGNATURE);
    CU_ASSERT_EQUAL(webhook_verify_shared(s, " " SHARED_A), WH_BAD_SIGNATURE);
    CU_ASSERT_EQUAL(webhook_verify_shared(s, "CORRECT-HORSE-BATTERY-STAPLE-0001"),
                    WH_BAD_SIGNATURE);
    CU_ASSERT_EQUAL(webhook_verify_shared(s, ""), WH_BAD_SIGNATURE);
    CU_ASSERT_EQUAL(webhook_verify_shared(s, NULL), WH_MISSING);
    memset(big, 'x', sizeof(big));
    big[WEBHOOK_SHARED_MAX] = '\0';
    CU_ASSERT_EQUAL(webhook_verify_shared(s, big), WH_BAD_SIGNATURE);
    big[WEBHOOK_SHARED_MAX] = 'x';
    big[WEBHOOK_SHARED_MAX + 1] = '\0';
    CU_ASSERT_EQUAL(webhook_verify_shared(s, big), WH_MALFORMED);
    webhook_secrets_free(s);
}

static void test_shared_secret_parse_rules(void)
{
    char big[WEBHOOK_SHARED_MAX + 2];
    struct webhook_secrets *s;

    parse_fails("fifteen bytes!!", 15, WEBHOOK_SHARED, "15 bytes; expected 16 to 1024");
    parse_fails("sixteen bytes!!\x01", 16, WEBHOOK_SHARED, "printable ASCII");
    parse_fails("sixteen bytes\xc3\xa9!", 16, WEBHOOK_SHARED, "printable ASCII");
    parse_fails("\n\n", 2, WEBHOOK_SHARED, "no secrets");
    s = parse_ok("sixteen bytes!!!", WEBHOOK_SHARED);
    CU_ASSERT_EQUAL(webhook_verify_shared(s, "sixteen bytes!!!"), WH_OK);
    webhook_secrets_free(s);
    memset(big, 'y', sizeof(big));
    big[WEBHOOK_SHARED_MAX] = '\0';
    s = parse_ok(big, WEBHOOK_SHARED);
    CU_ASSERT_EQUAL(webhook_verify_shared(s, big), WH_OK);
    webhook_secrets_free(s);
    big[WEBHOOK_SHARED_MAX] = 'y';
    big[WEBHOOK_SHARED_MAX + 1] = '\0';
    parse_fails(big, strlen(big), WEBHOOK_SHARED, "1025 bytes");
}

static void test_mode_mismatch_fails_closed(void)
{
    struct webhook_secrets *std = parse_ok(SW_SECRET, WEBHOOK_STANDARD);
    struct webhook_secrets *shared = parse_ok(SHARED_A, WEBHOOK_SHARED);

    CU_ASSERT_EQUAL(verify_vector(shared, SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW),
                    WH_BAD_SIGNATURE);
    CU_ASSERT_EQUAL(webhook_verify_shared(std, SW_SECRET), WH_BAD_SIGNATURE);
    CU_ASSERT_EQUAL(verify_vector(NULL, SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW),
                    WH_BAD_SIGNATURE);
    CU_ASSERT_EQUAL(webhook_verify_shared(NULL, SHARED_A), WH_BAD_SIGNATURE);
    webhook_secrets_free(std);
    webhook_secrets_free(shared);
}

/* ---- secret files ---------------------------------------------------- */

static void test_good_0600_file_loads(void)
{
    struct webhook_secrets *s = NULL;

    tmp_setup();
    CU_ASSERT_EQUAL(webhook_secrets_load(unit_write_file("secrets", SW_SECRET "\n", 0600),
                                         WEBHOOK_STANDARD, &s, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(err[0], '\0');
    CU_ASSERT_EQUAL(verify_vector(s, SW_ID, SW_TS, SW_SIG, SW_BODY, SW_NOW), WH_OK);
    webhook_secrets_free(s);
    s = NULL;
    CU_ASSERT_EQUAL(webhook_secrets_load(unit_write_file("ro", SHARED_A, 0400), WEBHOOK_SHARED, &s,
                                         err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(webhook_verify_shared(s, SHARED_A), WH_OK);
    webhook_secrets_free(s);
    unit_tmp_teardown();
}

static void test_open_mode_refused(void)
{
    static const mode_t modes[] = { 0644, 0640, 0604, 0660, 0601, 0610 };
    struct webhook_secrets *s = NULL;
    char want[64];
    const char *p;
    size_t i;

    tmp_setup();
    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        p = unit_write_file("secrets", SW_SECRET, modes[i]);
        CU_ASSERT_EQUAL(webhook_secrets_load(p, WEBHOOK_STANDARD, &s, err, sizeof(err)), -1);
        CU_ASSERT_PTR_NULL(s);
        snprintf(want, sizeof(want), "mode %04o is too open; chmod 600 it", (unsigned)modes[i]);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "webhook secrets "));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, p));
    }
    unit_tmp_teardown();
}

static void test_symlink_refused(void)
{
    struct webhook_secrets *s = NULL;
    char target[256];

    tmp_setup();
    snprintf(target, sizeof(target), "%s", unit_write_file("real", SW_SECRET, 0600));
    CU_ASSERT_EQUAL_FATAL(symlink(target, unit_tmp_path("link")), 0);
    CU_ASSERT_EQUAL(webhook_secrets_load(unit_tmp_path("link"), WEBHOOK_STANDARD, &s, err,
                                         sizeof(err)), -1);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
    unit_tmp_teardown();
}

static void test_foreign_owner_refused(void)
{
    struct webhook_secrets *s = NULL;
    const char *p;

    if (geteuid() != 0) {
        /* Only root can hand a file to another uid; CI runs as root. */
        return;
    }
    tmp_setup();
    p = unit_write_file("secrets", SW_SECRET, 0600);
    CU_ASSERT_EQUAL_FATAL(chown(p, NOBODY_UID, NOBODY_UID), 0);
    CU_ASSERT_EQUAL(webhook_secrets_load(p, WEBHOOK_STANDARD, &s, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "owned by user nobody (uid 65534)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "run it as nobody"));
    CU_ASSERT_PTR_NULL(strstr(err, "chown"));
    unit_tmp_teardown();
}

static void test_missing_directory_fifo_and_oversized_refused(void)
{
    struct webhook_secrets *s = NULL;
    char big[WEBHOOK_SECRETS_FILE_MAX + 2];

    tmp_setup();
    CU_ASSERT_EQUAL(webhook_secrets_load(unit_tmp_path("nope"), WEBHOOK_STANDARD, &s, err,
                                         sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot open"));

    CU_ASSERT_EQUAL_FATAL(mkdir(unit_tmp_path("dir"), 0700), 0);
    CU_ASSERT_EQUAL(webhook_secrets_load(unit_tmp_path("dir"), WEBHOOK_STANDARD, &s, err,
                                         sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));

    /* Must not block waiting for a writer. */
    CU_ASSERT_EQUAL_FATAL(mkfifo(unit_tmp_path("fifo"), 0600), 0);
    CU_ASSERT_EQUAL(webhook_secrets_load(unit_tmp_path("fifo"), WEBHOOK_STANDARD, &s, err,
                                         sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));

    memset(big, '#', sizeof(big));
    big[WEBHOOK_SECRETS_FILE_MAX + 1] = '\0';
    CU_ASSERT_EQUAL(webhook_secrets_load(unit_write_file("big", big, 0600), WEBHOOK_STANDARD, &s,
                                         err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "byte limit"));
    CU_ASSERT_PTR_NULL(s);

    CU_ASSERT_EQUAL(webhook_secrets_load(unit_write_file("empty", "", 0600), WEBHOOK_STANDARD, &s,
                                         err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no secrets"));
    CU_ASSERT_EQUAL(webhook_secrets_load(NULL, WEBHOOK_STANDARD, &s, err, sizeof(err)), -1);
    unit_tmp_teardown();
}

/* ---- file_read: the shared reader ------------------------------------ */

static const enum file_policy policies[] = { FILE_SECRET, FILE_PUBLIC, FILE_PLAIN };
#define NPOLICIES (sizeof(policies) / sizeof(policies[0]))

/* file_read into a buffer that is freed again; the status, err filled. */
static file_status read_with(enum file_policy policy, const char *path, size_t max)
{
    uint8_t *buf = (uint8_t *)1;
    size_t len = 99;
    file_status st;

    st = file_read("test file", path, max, policy, &buf, &len, err, sizeof(err));
    if (st != FILE_OK) {
        CU_ASSERT_PTR_NULL(buf);
        CU_ASSERT_EQUAL(len, 0);
        CU_ASSERT_NOT_EQUAL(err[0], '\0');
    }
    file_free(buf, len);
    return st;
}

static void test_file_read_reads_whole_files(void)
{
    uint8_t *buf = (uint8_t *)1;
    size_t len = 99, i;

    tmp_setup();
    for (i = 0; i < NPOLICIES; i++) {
        /* Exactly at the limit is read whole (a NUL byte too), NUL-terminated;
         * one byte over is not. */
        CU_ASSERT_EQUAL(file_read(NULL, unit_write_file_n("four", "ab\0d", 4, 0600), 4,
                                  policies[i], &buf, &len, err, sizeof(err)), FILE_OK);
        CU_ASSERT_EQUAL_FATAL(len, 4);
        CU_ASSERT_EQUAL(memcmp(buf, "ab\0d", 5), 0);
        file_free(buf, len);
        CU_ASSERT_EQUAL(read_with(policies[i], unit_tmp_path("four"), 3), FILE_ERR_TOO_BIG);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "4 bytes is over the 3 byte limit"));
        CU_ASSERT_EQUAL(read_with(policies[i], unit_write_file("empty", "", 0600), 0), FILE_OK);
    }
    /* The message names the label and the path; without a label the path. */
    CU_ASSERT_EQUAL(file_read(NULL, unit_tmp_path("four"), 3, FILE_SECRET, &buf, &len, err,
                              sizeof(err)), FILE_ERR_TOO_BIG);
    CU_ASSERT_EQUAL(strncmp(err, unit_tmp_path("four"), strlen(unit_tmp_path("four"))), 0);
    CU_ASSERT_EQUAL(read_with(FILE_SECRET, unit_tmp_path("four"), 3), FILE_ERR_TOO_BIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "test file "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, unit_tmp_path("four")));
    unit_tmp_teardown();
}

static void test_file_read_argument_checks(void)
{
    uint8_t *buf = (uint8_t *)1;
    size_t len = 99;

    CU_ASSERT_EQUAL(file_read("test file", NULL, 10, FILE_PLAIN, &buf, &len, err, sizeof(err)),
                    FILE_ERR_ARG);
    CU_ASSERT_PTR_NULL(buf);
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "test file: no path given"));
    CU_ASSERT_EQUAL(read_with((enum file_policy)0, "/etc/hostname", 10), FILE_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "policy"));
    CU_ASSERT_EQUAL(read_with((enum file_policy)99, "/etc/hostname", 10), FILE_ERR_ARG);
    CU_ASSERT_EQUAL(read_with(FILE_PLAIN, "/etc/hostname", SIZE_MAX), FILE_ERR_ARG);
    CU_ASSERT_EQUAL(file_read(NULL, "/etc/hostname", 10, FILE_PLAIN, NULL, &len, NULL, 0),
                    FILE_ERR_ARG);
    file_free(NULL, 0);
}

/* No policy reads a directory or a FIFO (and a FIFO never blocks); a missing
 * file is an I/O error that says why. */
static void test_file_read_refuses_non_regular_files(void)
{
    size_t i;

    tmp_setup();
    CU_ASSERT_EQUAL_FATAL(mkdir(unit_tmp_path("dir"), 0700), 0);
    CU_ASSERT_EQUAL_FATAL(mkfifo(unit_tmp_path("fifo"), 0600), 0);
    for (i = 0; i < NPOLICIES; i++) {
        CU_ASSERT_EQUAL(read_with(policies[i], unit_tmp_path("dir"), 100), FILE_ERR_PERM);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));
        CU_ASSERT_EQUAL(read_with(policies[i], unit_tmp_path("fifo"), 100), FILE_ERR_PERM);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));
        CU_ASSERT_EQUAL(read_with(policies[i], "/dev/null", 100), FILE_ERR_PERM);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));
        CU_ASSERT_EQUAL(read_with(policies[i], unit_tmp_path("nope"), 100), FILE_ERR_IO);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot open"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, strerror(ENOENT)));
    }
    unit_tmp_teardown();
}

/* FILE_SECRET alone refuses a symlink, even to a good file; the others
 * follow it (and then judge the target). */
static void test_file_read_symlinks(void)
{
    char target[256];

    tmp_setup();
    snprintf(target, sizeof(target), "%s", unit_write_file("real", "x", 0600));
    CU_ASSERT_EQUAL_FATAL(symlink(target, unit_tmp_path("link")), 0);
    CU_ASSERT_EQUAL(read_with(FILE_SECRET, unit_tmp_path("link"), 10), FILE_ERR_PERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "is a symbolic link; point the config at the real file"));
    CU_ASSERT_EQUAL(read_with(FILE_SECRET, target, 10), FILE_OK);
    CU_ASSERT_EQUAL(read_with(FILE_PUBLIC, unit_tmp_path("link"), 10), FILE_OK);
    CU_ASSERT_EQUAL(read_with(FILE_PLAIN, unit_tmp_path("link"), 10), FILE_OK);
    CU_ASSERT_EQUAL_FATAL(symlink(unit_tmpdir, unit_tmp_path("dirlink")), 0);
    CU_ASSERT_EQUAL(read_with(FILE_PLAIN, unit_tmp_path("dirlink"), 10), FILE_ERR_PERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));
    unit_tmp_teardown();
}

/* Mode bits: FILE_SECRET wants no group/other bits at all, FILE_PUBLIC only
 * no write bit for others, FILE_PLAIN anything. */
static void test_file_read_mode_rules(void)
{
    static const struct {
        mode_t mode;
        file_status secret, public_key, plain;
    } cases[] = {
        { 0600, FILE_OK, FILE_OK, FILE_OK },
        { 0400, FILE_OK, FILE_OK, FILE_OK },
        { 0700, FILE_OK, FILE_OK, FILE_OK },
        { 0640, FILE_ERR_PERM, FILE_OK, FILE_OK },
        { 0604, FILE_ERR_PERM, FILE_OK, FILE_OK },
        { 0644, FILE_ERR_PERM, FILE_OK, FILE_OK },
        { 0660, FILE_ERR_PERM, FILE_OK, FILE_OK },
        { 0601, FILE_ERR_PERM, FILE_OK, FILE_OK },
        { 0602, FILE_ERR_PERM, FILE_ERR_PERM, FILE_OK },
        { 0666, FILE_ERR_PERM, FILE_ERR_PERM, FILE_OK },
        { 0646, FILE_ERR_PERM, FILE_ERR_PERM, FILE_OK },
    };
    char want[80];
    const char *p;
    size_t i;

    tmp_setup();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p = unit_write_file("f", "content", cases[i].mode);
        CU_ASSERT_EQUAL(read_with(FILE_SECRET, p, 100), cases[i].secret);
        if (cases[i].secret != FILE_OK) {
            snprintf(want, sizeof(want), "mode %04o is too open; chmod 600 it",
                     (unsigned)cases[i].mode);
            CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
        }
        CU_ASSERT_EQUAL(read_with(FILE_PUBLIC, p, 100), cases[i].public_key);
        if (cases[i].public_key != FILE_OK) {
            snprintf(want, sizeof(want), "mode %04o lets any user replace the key; chmod o-w it",
                     (unsigned)cases[i].mode);
            CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
        }
        CU_ASSERT_EQUAL(read_with(FILE_PLAIN, p, 100), cases[i].plain);
        CU_ASSERT_PTR_NULL(strstr(err, "content"));
    }
    unit_tmp_teardown();
}

/* More bytes than fstat reported means the file changed under us: refused,
 * not cut short. A /proc file reports size 0 and then has content. */
static void test_file_read_refuses_a_file_that_grew(void)
{
    size_t i;

    if (access("/proc/self/status", R_OK) != 0)
        return;   /* no procfs here */
    for (i = 1; i < NPOLICIES; i++) {   /* FILE_SECRET: root owns it */
        CU_ASSERT_EQUAL(read_with(policies[i], "/proc/self/status", 4096), FILE_ERR_IO);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "file changed while being read"));
    }
}

/* Only FILE_SECRET cares who owns the file. */
static void test_file_read_owner_rule(void)
{
    const char *p;

    if (geteuid() != 0)
        return;   /* only root can give a file away; CI runs as root */
    tmp_setup();
    p = unit_write_file("theirs", "x", 0600);
    CU_ASSERT_EQUAL_FATAL(chown(p, NOBODY_UID, NOBODY_UID), 0);
    CU_ASSERT_EQUAL(read_with(FILE_SECRET, p, 10), FILE_ERR_PERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "owned by user nobody (uid 65534), not by root (uid 0) "
                                       "that runs sharekeep: run it as nobody"));
    CU_ASSERT_EQUAL(read_with(FILE_PUBLIC, p, 10), FILE_OK);
    CU_ASSERT_EQUAL(read_with(FILE_PLAIN, p, 10), FILE_OK);
    unit_tmp_teardown();
}

/* Root running an admin command on the service user's file is told to run
 * it as that user, with the command it typed; never to chown, which would
 * lock the service out. */
static void test_file_read_owner_advice(void)
{
    char *typed[] = { "sharekeep", "-c", "/etc/sk conf", "rotate", NULL };
    char *bad[] = { "sharekeep", "it's", NULL };
    const char *p;

    if (geteuid() != 0)
        return;   /* only root can give a file away; CI runs as root */
    tmp_setup();
    p = unit_write_file("theirs", "x", 0600);
    CU_ASSERT_EQUAL_FATAL(chown(p, NOBODY_UID, NOBODY_UID), 0);
    file_set_runner(0, 4, typed);
    CU_ASSERT_EQUAL(read_with(FILE_SECRET, p, 10), FILE_ERR_PERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "owned by user nobody (uid 65534), not by root (uid 0) "
                                       "that runs this command: run it as nobody, e.g. runuser -u "
                                       "nobody -- sharekeep -c '/etc/sk conf' rotate"));
    CU_ASSERT_PTR_NULL(strstr(err, "chown"));
    /* An argument that cannot be quoted simply: no command line is shown. */
    file_set_runner(0, 2, bad);
    CU_ASSERT_EQUAL(read_with(FILE_SECRET, p, 10), FILE_ERR_PERM);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "run it as nobody"));
    CU_ASSERT_PTR_NULL(strstr(err, "runuser"));
    file_set_runner(1, 0, NULL);
    unit_tmp_teardown();
}

static void test_strerror(void)
{
    wh_status st;

    for (st = WH_OK; st <= WH_BAD_SIGNATURE; st++)
        CU_ASSERT(strlen(wh_strerror(st)) > 1);
    CU_ASSERT_PTR_NOT_NULL(wh_strerror((wh_status)99));
}

int unit_register(void)
{
    static const struct unit_test standard_tests[] = {
        { "the published Standard Webhooks vector verifies", test_published_vector_verifies },
        { "a secret without whsec_ is base64 too", test_secret_without_prefix_is_base64_too },
        { "timestamps outside the tolerance are stale, both ways",
          test_timestamp_tolerance_both_directions },
        { "tampered body, id or timestamp fail", test_tampered_body_id_timestamp_fail },
        { "a wrong secret fails", test_wrong_secret_fails },
        { "rotation: either configured secret verifies", test_rotation_second_secret_verifies },
        { "one matching entry among several verifies",
          test_one_matching_entry_among_several_verifies },
        { "missing headers", test_missing_headers },
        { "malformed signature headers", test_malformed_signature_header },
        { "malformed id and timestamp", test_malformed_id_and_timestamp },
        { "a body with NUL bytes is signed whole", test_body_with_nul_bytes_is_signed_whole },
        { "every status has a message", test_strerror },
        { NULL, NULL },
    };
    static const struct unit_test secrets_tests[] = {
        { "comments, blank lines and blanks are ignored", test_secrets_file_format },
        { "bad secrets are refused with the line number", test_secrets_parse_errors },
        { "shared secrets compare exactly", test_shared_secret_compare },
        { "shared secret length and charset", test_shared_secret_parse_rules },
        { "a secrets set of the other mode fails closed", test_mode_mismatch_fails_closed },
        { NULL, NULL },
    };
    static const struct unit_test file_tests[] = {
        { "a 0600 or 0400 file loads", test_good_0600_file_loads },
        { "group/other mode bits are refused", test_open_mode_refused },
        { "a symlink is refused", test_symlink_refused },
        { "a file owned by another uid is refused", test_foreign_owner_refused },
        { "missing, directory, FIFO, oversized and empty files",
          test_missing_directory_fifo_and_oversized_refused },
        { NULL, NULL },
    };

    static const struct unit_test reader_tests[] = {
        { "whole files up to the limit, NUL-terminated", test_file_read_reads_whole_files },
        { "argument checks", test_file_read_argument_checks },
        { "no policy reads a directory, FIFO or device", test_file_read_refuses_non_regular_files },
        { "only FILE_SECRET refuses a symlink", test_file_read_symlinks },
        { "mode rules of each policy", test_file_read_mode_rules },
        { "only FILE_SECRET checks the owner", test_file_read_owner_rule },
        { "an owner mismatch names the user to run as", test_file_read_owner_advice },
        { "a file that grew after fstat is refused", test_file_read_refuses_a_file_that_grew },
        { NULL, NULL },
    };

    if (unit_add_suite("standard webhooks", standard_tests) != 0)
        return -1;
    if (unit_add_suite("webhook secrets", secrets_tests) != 0)
        return -1;
    if (unit_add_suite("secret files", file_tests) != 0)
        return -1;
    return unit_add_suite("file_read policies", reader_tests);
}
