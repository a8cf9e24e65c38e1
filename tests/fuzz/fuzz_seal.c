/* libFuzzer target: sealed records (seal.c over keyring.c) with a fixed
 * in-memory keyring: KEK 1 active, KEK 2 decrypt-only, KEK 3 retired (key n
 * is 32 bytes of n * 0x11).
 *
 * Input:
 *   byte 0   mode (bit 0): 0 = the rest is a record to decode,
 *            1 = the rest is a share to seal
 *            bit 1: kind (0 = client, 1 = custodian); bits 2-6: version - 1;
 *            bit 7: backupMethod (0 = "UNKNOWN", the only identity a format 1
 *            record opens as; 1 = "PASSWORD-SECP256K1"), no pair id
 *   then a NUL-terminated client id (empty: FZ_SEAL_CLIENT), then the rest.
 *
 * Decoding (mode 0): seal_record_kek, seal_open and seal_rewrap on the
 * record. A record that opens also rewraps, to the active KEK, and the
 * rewrapped record opens to the same share; a record that rewraps has the
 * same length and differs only in the KEK id and wrapped key; one that does
 * not open under its own context never opens under another.
 * Sealing (mode 1): seal_share, then seal_open gives back the same bytes;
 * the record is 148 + share bytes, names KEK 1, refuses every other context
 * (version, kind, client id, backupMethod, pair id) and every single-bit
 * flip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "bounds.h"
#include "fuzz_common.h"
#include "keyring.h"
#include "seal.h"

#define REC_OVERHEAD 148u
#define OFF_KEK_ID   6u
#define OFF_WRAPPED  12u
#define WRAPPED_END  52u
#define OFF_CT       132u

static struct keyring *kr;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const enum kek_state states[3] = { KEK_ACTIVE, KEK_DECRYPT, KEK_RETIRED };
    uint8_t key[KEK_LEN];

    (void)argc;
    (void)argv;
    /* Instantiate OpenSSL's DRBGs before starting the secure heap (as main
     * does, so the keys live there): afterwards their state would live in
     * the secure heap, an mmap LeakSanitizer does not scan, and the DRBG's
     * ordinary allocations, referenced only from there, would be reported
     * as leaks. */
    if (RAND_bytes(key, sizeof(key)) != 1 || RAND_priv_bytes(key, sizeof(key)) != 1)
        abort();
    (void)secure_heap_start();
    if (keyring_new(&kr) != KEYRING_OK)
        abort();
    for (uint32_t id = 1; id <= 3; id++) {
        memset(key, (int)(id * 0x11), sizeof(key));
        if (keyring_add(kr, id, states[id - 1], key, sizeof(key)) != KEYRING_OK)
            abort();
    }
    if (keyring_validate(kr) != KEYRING_OK || keyring_active_id(kr) != 1)
        abort();
    return 0;
}

static void decode(const struct seal_context *ctx, const uint8_t *rec, size_t len)
{
    uint8_t *share = NULL, *share2 = NULL, *re = NULL;
    size_t share_len = 0, share2_len = 0, re_len = 0;
    struct seal_context other = *ctx;
    seal_status so, sr, s2;
    uint32_t kek = 0;

    (void)seal_record_kek(rec, len, &kek);
    so = seal_open(kr, ctx, rec, len, &share, &share_len);
    FZ_ASSERT(seal_strerror(so) != NULL);
    if (so == SEAL_OK) {
        FZ_ASSERT(share != NULL && share_len == len - REC_OVERHEAD);
        FZ_ASSERT(share[share_len] == 0);
        FZ_ASSERT(kek == 1 || kek == 2);
    } else {
        FZ_ASSERT(share == NULL && share_len == 0);
    }

    sr = seal_rewrap(kr, rec, len, &re, &re_len);
    if (so == SEAL_OK)
        FZ_ASSERT(sr == SEAL_OK);
    if (sr == SEAL_OK) {
        uint32_t nk = 0;
        FZ_ASSERT(re != NULL && re_len == len);
        FZ_ASSERT(seal_record_kek(re, re_len, &nk) == SEAL_OK && nk == 1);
        FZ_ASSERT(memcmp(re, rec, OFF_KEK_ID) == 0);
        FZ_ASSERT(memcmp(re + WRAPPED_END, rec + WRAPPED_END, len - WRAPPED_END) == 0);
        s2 = seal_open(kr, ctx, re, re_len, &share2, &share2_len);
        FZ_ASSERT(s2 == so);
        if (so == SEAL_OK)
            FZ_ASSERT(share2_len == share_len && memcmp(share, share2, share_len) == 0);
        seal_buf_free(share2, share2_len);
        seal_buf_free(re, re_len);
    } else {
        FZ_ASSERT(re == NULL && re_len == 0);
    }

    /* another version or identity of the same client never opens a record
     * of this one */
    if (so == SEAL_OK) {
        other.version = ctx->version + 1;
        share2 = NULL;
        FZ_ASSERT(seal_open(kr, &other, rec, len, &share2, &share2_len) == SEAL_ERR_AUTH);
        FZ_ASSERT(share2 == NULL);
        other = *ctx;
        other.pair_id = "p";
        other.pair_id_len = 1;
        FZ_ASSERT(seal_open(kr, &other, rec, len, &share2, &share2_len) == SEAL_ERR_AUTH);
        FZ_ASSERT(share2 == NULL);
    }
    seal_buf_free(share, share_len);
}

static void roundtrip(const struct seal_context *ctx, const uint8_t *in, size_t len)
{
    uint8_t *rec = NULL, *out = NULL, *re = NULL;
    size_t rec_len = 0, out_len = 0, re_len = 0;
    struct seal_context other;
    uint32_t kek = 0;
    seal_status st;

    st = seal_share(kr, ctx, in, len, &rec, &rec_len);
    if (ctx->client_id_len == 0 || ctx->client_id_len > CLIENT_ID_MAX) {
        FZ_ASSERT(st == SEAL_ERR_ARG && rec == NULL);
        return;
    }
    FZ_ASSERT(st == SEAL_OK);
    FZ_ASSERT(rec_len == REC_OVERHEAD + len);
    FZ_ASSERT(memcmp(rec, "SKSR\x02\x01", 6) == 0);
    FZ_ASSERT(seal_record_kek(rec, rec_len, &kek) == SEAL_OK && kek == 1);
    /* the ciphertext is not the plaintext */
    if (len >= 8)
        FZ_ASSERT(memcmp(rec + OFF_CT, in, len) != 0);

    st = seal_open(kr, ctx, rec, rec_len, &out, &out_len);
    FZ_ASSERT(st == SEAL_OK);
    FZ_ASSERT(out_len == len && (len == 0 || memcmp(out, in, len) == 0));
    seal_buf_free(out, out_len);

    st = seal_rewrap(kr, rec, rec_len, &re, &re_len);
    FZ_ASSERT(st == SEAL_OK);
    st = seal_open(kr, ctx, re, re_len, &out, &out_len);
    FZ_ASSERT(st == SEAL_OK && out_len == len && (len == 0 || memcmp(out, in, len) == 0));
    seal_buf_free(out, out_len);
    seal_buf_free(re, re_len);

    /* bound to its context */
    other = *ctx;
    other.version ^= 1;
    FZ_ASSERT(seal_open(kr, &other, rec, rec_len, &out, &out_len) == SEAL_ERR_AUTH);
    other = *ctx;
    other.kind = ctx->kind == SHARE_KIND_CLIENT ? SHARE_KIND_CUSTODIAN : SHARE_KIND_CLIENT;
    FZ_ASSERT(seal_open(kr, &other, rec, rec_len, &out, &out_len) == SEAL_ERR_AUTH);
    other = *ctx;
    other.client_id_len = ctx->client_id_len - 1;
    if (other.client_id_len > 0)
        FZ_ASSERT(seal_open(kr, &other, rec, rec_len, &out, &out_len) == SEAL_ERR_AUTH);
    other = *ctx;
    other.backup_method_len = ctx->backup_method_len - 1;
    FZ_ASSERT(seal_open(kr, &other, rec, rec_len, &out, &out_len) == SEAL_ERR_AUTH);
    other = *ctx;
    other.pair_id = "p";
    other.pair_id_len = 1;
    FZ_ASSERT(seal_open(kr, &other, rec, rec_len, &out, &out_len) == SEAL_ERR_AUTH);

    /* any single flipped bit is refused (one bit, chosen by the input) */
    {
        size_t bit = (len * 2654435761u + (len ? in[0] : 0)) % (rec_len * 8);
        rec[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        st = seal_open(kr, ctx, rec, rec_len, &out, &out_len);
        FZ_ASSERT(st != SEAL_OK && out == NULL);
    }
    seal_buf_free(rec, rec_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_fields ff = { 0 };
    struct seal_context ctx;
    const uint8_t *rest;
    size_t rest_len;
    uint8_t *copy;

    if (size < 1)
        return 0;
    if (fz_split(data + 1, size - 1, 1, &ff, &rest, &rest_len) != 0)
        abort();
    ctx.client_id = ff.f[0][0] != '\0' ? ff.f[0] : FZ_SEAL_CLIENT;
    ctx.client_id_len = strlen(ctx.client_id);
    ctx.kind = (data[0] & 2) ? SHARE_KIND_CUSTODIAN : SHARE_KIND_CLIENT;
    ctx.version = (uint32_t)((data[0] >> 2) & 0x1f) + 1;
    ctx.backup_method = (data[0] & 0x80) ? "PASSWORD-SECP256K1" : "UNKNOWN";
    ctx.backup_method_len = strlen(ctx.backup_method);
    ctx.pair_id = "";
    ctx.pair_id_len = 0;
    copy = fz_dup(rest, rest_len);
    if (data[0] & 1)
        roundtrip(&ctx, copy, rest_len);
    else
        decode(&ctx, copy, rest_len);
    free(copy);
    fz_fields_free(&ff);
    return 0;
}
