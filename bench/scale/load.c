/* bench/scale/load: N records sealed through sharekeep's real seal path,
 * written as PostgreSQL COPY text for share_record, so a table of millions
 * of records can be loaded at COPY speed and every record still opens.
 *
 *   load KEYRING N [SHARE_BYTES [FIRST [LAYOUT]]]
 *
 * KEYRING   a key file (sharekeep keygen); its active KEK seals
 * N         records to write
 * SHARE_BYTES  each share's length (default 6000: a real custodian share is
 *           a 5-6 kB JSON string), random printable bytes
 * FIRST     number of the first client (default 0), for loading in steps
 * LAYOUT    "split" (envelope, payload: sql/006 and later, the default) or
 *           "sealed" (one column: the layout before sql/006, to measure it)
 *
 * Columns, in order: client_id, kind, backup_method, pair_id, version,
 * kek_id, then envelope and payload (or sealed). Each client gets two
 * identities, PASSWORD-SECP256K1 and PASSWORD-ED25519, as Portal stores
 * for a wallet, version 1 each: records 2k and 2k+1 are client FIRST+k.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "keyring.h"
#include "seal.h"

static void put_hex(FILE *out, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char buf[8192];
    size_t used = 0;

    fputs("\\\\x", out);
    for (size_t i = 0; i < n; i++) {
        buf[used++] = hex[p[i] >> 4];
        buf[used++] = hex[p[i] & 15];
        if (used == sizeof(buf)) {
            fwrite(buf, 1, used, out);
            used = 0;
        }
    }
    fwrite(buf, 1, used, out);
}

int main(int argc, char **argv)
{
    static const char *const methods[2] = { "PASSWORD-SECP256K1", "PASSWORD-ED25519" };
    struct keyring *kr = NULL;
    char err[512], cid[32];
    uint8_t *share = NULL, *rec = NULL;
    size_t share_len = 6000, rec_len = 0;
    long long n, first = 0;
    int split = 1, rc = 1;

    if (argc < 3 || argc > 6) {
        fprintf(stderr, "usage: load KEYRING N [SHARE_BYTES [FIRST [split|sealed]]]\n");
        return 2;
    }
    n = atoll(argv[2]);
    if (argc > 3)
        share_len = (size_t)atoll(argv[3]);
    if (argc > 4)
        first = atoll(argv[4]);
    if (argc > 5)
        split = strcmp(argv[5], "sealed") != 0;
    if (n < 0 || share_len == 0 || share_len > 1000000) {
        fprintf(stderr, "load: bad N or SHARE_BYTES\n");
        return 2;
    }
    (void)secure_heap_start();
    if (keyring_load(argv[1], &kr, err, sizeof(err)) != KEYRING_OK) {
        fprintf(stderr, "load: %s\n", err);
        return 1;
    }
    share = malloc(share_len);
    if (share == NULL)
        goto out;
    for (long long i = 0; i < n; i++) {
        const char *method = methods[i & 1];
        struct seal_context ctx;

        snprintf(cid, sizeof(cid), "scale-%010lld", first + i / 2);
        ctx = (struct seal_context){ cid, strlen(cid), SHARE_KIND_CUSTODIAN, 1, method,
                                     strlen(method), "", 0 };
        if (RAND_bytes(share, (int)share_len) != 1)
            goto out;
        for (size_t k = 0; k < share_len; k++)
            share[k] = (uint8_t)('!' + share[k] % 90);     /* printable, as a JSON share is */
        if (seal_share(kr, &ctx, share, share_len, &rec, &rec_len) != SEAL_OK) {
            fprintf(stderr, "load: sealing record %lld failed\n", i);
            goto out;
        }
        printf("%s\t1\t%s\t\t1\t%u\t", cid, method, keyring_active_id(kr));
        if (split) {
            put_hex(stdout, rec, SEAL_ENVELOPE_LEN);
            putchar('\t');
            put_hex(stdout, rec + SEAL_ENVELOPE_LEN, rec_len - SEAL_ENVELOPE_LEN);
        } else {
            put_hex(stdout, rec, rec_len);
        }
        putchar('\n');
        seal_buf_free(rec, rec_len);
        rec = NULL;
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    seal_buf_free(rec, rec_len);
    if (share != NULL)
        OPENSSL_cleanse(share, share_len);
    free(share);
    keyring_free(kr);
    return rc;
}
