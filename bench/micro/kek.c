/* bench/micro/kek.c: µs per KEK operation on each keyring backend, in one
 * process, without HTTP or PostgreSQL:
 *
 *   file    a key file KEK (AES-256-KWP by OpenSSL in the worker)
 *   direct  a token KEK, SoftHSM2 loaded in this process (libsofthsm2.so):
 *           C_WrapKey / C_UnwrapKey with CKM_AES_KEY_WRAP_PAD (RFC 5649)
 *   server  the same token KEK through `p11-kit server` + p11-kit-client.so:
 *           the RPC carries no key-wrap mechanism, so sharekeep computes
 *           RFC 5649 from the token's CKM_AES_ECB (24 block calls a wrap)
 *
 * For each: keyring_wrap and keyring_unwrap of a 32-byte data key, and a
 * whole seal_share / seal_open of a share of SHARE_BYTES (default 6144).
 * Plus, per module, one PKCS#11 round trip that does nothing
 * (C_GetSessionInfo): the floor under every token call.
 *
 * The backends take turns, ROUNDS times (each op runs for MS ms a round),
 * so that a machine that gets busier or quieter moves them all alike; the
 * table gives the median round and the fastest, and the ratio of the
 * medians to the file backend's. Lines starting with KEKRESULT are JSON for
 * bench/token's report.
 *
 *   kek DIR PIN_FILE URI MODULE_DIRECT [MODULE_CLIENT] [ROUNDS [MS [SHARE_BYTES]]]
 *
 * DIR is a scratch dir for the key files; the token (URI, its user PIN in
 * PIN_FILE) must exist, SOFTHSM2_CONF must name it, and with MODULE_CLIENT
 * (non-empty), P11_KIT_SERVER_ADDRESS must name a p11-kit server for it.
 * bench/micro/kek sets all that up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>
#include <p11-kit/p11-kit.h>

#include "keyring.h"
#include "seal.h"

#define MAX_ROUNDS 50

enum { B_FILE, B_DIRECT, B_SERVER, NB };
enum { OP_WRAP, OP_UNWRAP, OP_SEAL, OP_OPEN, OP_RPC, NOP };
static const char *const bname[NB] = { "file", "direct", "server" };
static const char *const bdesc[NB] = {
    "key file (OpenSSL KWP)", "SoftHSM2 direct (C_WrapKey KWP)",
    "p11-kit server (KW from ECB)" };
static const char *const opname[NOP] = { "wrap", "unwrap", "seal_share", "seal_open",
                                         "rpc_noop" };

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

struct backend {
    int on;
    struct keyring *kr;
    uint8_t scheme;            /* what keyring_wrap answered */
    uint8_t wrapped[WRAPPED_KEY_LEN];
    uint32_t kek_id;
    uint8_t *rec;              /* a sealed share, for seal_open */
    size_t rec_len;
    CK_FUNCTION_LIST *fn;      /* for the raw round trip */
    CK_SESSION_HANDLE session;
    double us[NOP][MAX_ROUNDS];
    long ops[NOP];
};

static struct backend be[NB];
static uint8_t *share;
static size_t share_len = 6144;
static struct seal_context ctx = { "kek-bench-client", 16, SHARE_KIND_CUSTODIAN, 1,
                                   "GDRIVE", 6, NULL, 0 };

static void fail(const char *what, const char *msg)
{
    fprintf(stderr, "kek: %s: %s\n", what, msg);
    exit(1);
}

/* One op, once. Returns 0 on success. */
static int op_once(struct backend *b, int op)
{
    uint8_t dk[DATA_KEY_LEN], back[DATA_KEY_LEN], w[WRAPPED_KEY_LEN], scheme;
    uint8_t *out = NULL;
    size_t out_len = 0;
    uint32_t id;
    int rc = 0;

    switch (op) {
    case OP_WRAP:
        memset(dk, 0x5a, sizeof(dk));
        rc = keyring_wrap(b->kr, dk, &id, &scheme, w) != KEYRING_OK || scheme != b->scheme;
        break;
    case OP_UNWRAP:
        rc = keyring_unwrap(b->kr, b->kek_id, b->scheme, b->wrapped, WRAPPED_KEY_LEN, back) !=
             KEYRING_OK || back[0] != 0x5a;
        break;
    case OP_SEAL:
        rc = seal_share(b->kr, &ctx, share, share_len, &out, &out_len) != SEAL_OK;
        seal_buf_free(out, out_len);
        break;
    case OP_OPEN:
        rc = seal_open(b->kr, &ctx, b->rec, b->rec_len, &out, &out_len) != SEAL_OK ||
             out_len != share_len;
        seal_buf_free(out, out_len);
        break;
    case OP_RPC: {
        CK_SESSION_INFO si;
        rc = b->fn->C_GetSessionInfo(b->session, &si) != CKR_OK;
        break;
    }
    }
    return rc;
}

/* Runs op for at least ms milliseconds (and 10 times), in batches that
 * grow until one takes a tenth of that; answers µs per op. */
static double timed(struct backend *b, int op, double ms, long *count)
{
    long n = 0, batch = 1;
    double t0 = now_us(), t;

    for (;;) {
        for (long i = 0; i < batch; i++)
            if (op_once(b, op) != 0) {
                fprintf(stderr, "kek: %s %s failed\n", bname[b - be], opname[op]);
                exit(1);
            }
        n += batch;
        t = now_us() - t0;
        if (t >= ms * 1000.0 && n >= 10)
            break;
        if (t < ms * 100.0)
            batch *= 2;
    }
    *count += n;
    return t / (double)n;
}

static void token_keyring(struct backend *b, const char *keys, const char *module,
                          const char *uri, const char *pin_file)
{
    struct keyring_token_config tc = { module, uri, pin_file };
    char err[512];

    if (keyring_load_with(keys, &tc, &b->kr, err, sizeof(err)) != KEYRING_OK)
        fail(module, err);
    b->on = 1;
}

/* A session of its own on the token, for the raw round trip. */
static void raw_session(struct backend *b, const char *module, const char *label)
{
    CK_SLOT_ID slots[16];
    CK_ULONG n = 16;
    CK_TOKEN_INFO ti;
    size_t ll = strlen(label);

    b->fn = p11_kit_module_load(module, 0);
    if (b->fn == NULL || p11_kit_module_initialize(b->fn) != CKR_OK)
        fail(module, "cannot load and initialize the module");
    if (b->fn->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
        fail(module, "C_GetSlotList");
    for (CK_ULONG i = 0; i < n; i++) {
        if (b->fn->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        if (memcmp(ti.label, label, ll) == 0 && (ll == 32 || ti.label[ll] == ' ') &&
            b->fn->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &b->session) == CKR_OK)
            return;
    }
    fail(module, "no token with that label");
}

static void raw_close(struct backend *b)
{
    if (b->fn == NULL)
        return;
    b->fn->C_CloseSession(b->session);
    p11_kit_module_finalize(b->fn);
    p11_kit_module_release(b->fn);
    b->fn = NULL;
}

int main(int argc, char **argv)
{
    const char *dir, *pin_file, *uri, *mod_direct, *mod_client;
    int rounds = 7;
    double ms = 200;
    char keys[512], label[64], err[512];
    uint8_t kek[KEK_LEN];
    uint32_t id = 0;

    if (argc < 5) {
        fprintf(stderr, "usage: kek DIR PIN_FILE URI MODULE_DIRECT [MODULE_CLIENT] "
                "[ROUNDS [MS [SHARE_BYTES]]]\n");
        return 2;
    }
    dir = argv[1];
    pin_file = argv[2];
    uri = argv[3];
    mod_direct = argv[4];
    mod_client = argc > 5 ? argv[5] : "";
    if (argc > 6)
        rounds = atoi(argv[6]);
    if (argc > 7)
        ms = atof(argv[7]);
    if (argc > 8)
        share_len = (size_t)atol(argv[8]);
    if (rounds < 1 || rounds > MAX_ROUNDS || ms <= 0)
        fail("arguments", "ROUNDS must be 1..50 and MS > 0");
    {
        const char *t = strstr(uri, "token=");
        size_t l;

        if (t == NULL)
            fail(uri, "the URI must name the token (token=LABEL)");
        t += 6;
        l = strcspn(t, ";?");
        if (l == 0 || l >= sizeof(label))
            fail(uri, "bad token label");
        memcpy(label, t, l);
        label[l] = '\0';
    }
    secure_heap_start();
    share = malloc(share_len + 1);
    if (share == NULL)
        fail("malloc", "out of memory");
    for (size_t i = 0; i < share_len; i++)
        share[i] = (uint8_t)("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i % 64]);

    /* file: one random KEK in memory */
    RAND_bytes(kek, sizeof(kek));
    if (keyring_new(&be[B_FILE].kr) != KEYRING_OK ||
        keyring_add(be[B_FILE].kr, 1, KEK_ACTIVE, kek, KEK_LEN) != KEYRING_OK ||
        keyring_validate(be[B_FILE].kr) != KEYRING_OK)
        fail("file keyring", "setup failed");
    be[B_FILE].on = 1;
    /* token: KEK 1 generated inside the token, the key file names it */
    snprintf(keys, sizeof(keys), "%s/keys-token", dir);
    {
        struct keyring_token_config tc = { mod_direct, uri, pin_file };

        if (keyring_file_add_key(keys, &tc, 1, 1, &id, err, sizeof(err)) != KEYRING_OK)
            fail("keygen in the token", err);
    }
    token_keyring(&be[B_DIRECT], keys, mod_direct, uri, pin_file);
    if (mod_client[0] != '\0')
        token_keyring(&be[B_SERVER], keys, mod_client, uri, pin_file);

    /* first use connects (load, login, known-answer test): not timed */
    for (int b = 0; b < NB; b++) {
        uint8_t dk[DATA_KEY_LEN];

        if (!be[b].on)
            continue;
        memset(dk, 0x5a, sizeof(dk));
        if (keyring_wrap(be[b].kr, dk, &be[b].kek_id, &be[b].scheme, be[b].wrapped) != KEYRING_OK)
            fail(bname[b], "keyring_wrap failed");
        if (seal_share(be[b].kr, &ctx, share, share_len, &be[b].rec, &be[b].rec_len) != SEAL_OK)
            fail(bname[b], "seal_share failed");
        /* the record keeps the scheme at byte 10 (doc/record-format.md) */
        if (be[b].rec_len < 11 || be[b].rec[10] != be[b].scheme)
            fail(bname[b], "the record's scheme byte is not the wrap's");
    }
    /* RFC 5649 everywhere: by sharekeep, by C_WrapKey, built from ECB. */
    if (be[B_FILE].scheme != KEYRING_SCHEME_FILE_KWP || be[B_DIRECT].scheme != KEYRING_SCHEME_P11_KWP ||
        (be[B_SERVER].on && be[B_SERVER].scheme != KEYRING_SCHEME_P11_KWP))
        fail("schemes", "not the expected 0 (file), 1 (direct), 1 (server)");
    raw_session(&be[B_DIRECT], mod_direct, label);
    if (be[B_SERVER].on)
        raw_session(&be[B_SERVER], mod_client, label);

    printf("kek: %d rounds, %.0f ms per op per round, share %zu bytes, record %zu bytes\n",
           rounds, ms, share_len, be[B_FILE].rec_len);
    for (int b = 0; b < NB; b++)
        if (be[b].on)
            printf("kek: %-6s %-32s scheme %u\n", bname[b], bdesc[b], be[b].scheme);
    for (int r = 0; r < rounds; r++)
        for (int op = 0; op < NOP; op++)
            for (int b = 0; b < NB; b++) {
                if (!be[b].on || (op == OP_RPC && be[b].fn == NULL))
                    continue;
                be[b].us[op][r] = timed(&be[b], op, ms, &be[b].ops[op]);
            }

    printf("\n%-12s %-7s %12s %12s %9s %10s\n", "op", "backend", "median µs", "fastest µs",
           "ops", "× file");
    for (int op = 0; op < NOP; op++) {
        double file_med = 0;

        for (int b = 0; b < NB; b++) {
            double s[MAX_ROUNDS], med;

            if (!be[b].on || (op == OP_RPC && be[b].fn == NULL))
                continue;
            memcpy(s, be[b].us[op], sizeof(double) * (size_t)rounds);
            qsort(s, (size_t)rounds, sizeof(double), cmp_double);
            med = rounds % 2 ? s[rounds / 2] : (s[rounds / 2 - 1] + s[rounds / 2]) / 2;
            if (b == B_FILE)
                file_med = med;
            if (file_med > 0)
                printf("%-12s %-7s %12.2f %12.2f %9ld %10.1f\n", opname[op], bname[b], med, s[0],
                       be[b].ops[op], med / file_med);
            else
                printf("%-12s %-7s %12.2f %12.2f %9ld %10s\n", opname[op], bname[b], med, s[0],
                       be[b].ops[op], "-");
            printf("KEKRESULT {\"op\":\"%s\",\"backend\":\"%s\",\"scheme\":%u,\"median_us\":%.3f,"
                   "\"min_us\":%.3f,\"max_us\":%.3f,\"ops\":%ld,\"rounds\":%d,\"share_bytes\":%zu}\n",
                   opname[op], bname[b], be[b].scheme, med, s[0], s[rounds - 1], be[b].ops[op],
                   rounds, share_len);
        }
    }
    for (int b = 0; b < NB; b++) {
        raw_close(&be[b]);
        seal_buf_free(be[b].rec, be[b].rec_len);
        keyring_free(be[b].kr);
    }
    free(share);
    return 0;
}
