/* Unit tests for body.c: strict parsing of request bodies (one object, no
 * trailing data, depth limit, UTF-8, duplicate keys), typed field access,
 * and the response writer's escaping, checked by a round trip through
 * json-c. Several cases (single-quoted keys, NaN, overlong UTF-8, raw
 * control characters) are ones json-c accepts even in strict mode: they
 * pin down body.c's own recognizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base64.h"
#include "body.h"
#include "bounds.h"
#include "unit.h"

/* Parses n bytes of s, frees the document, returns the status. */
static enum body_status parse_n(const char *s, size_t n, const char **why)
{
    struct body_doc doc;
    const char *w = NULL;
    enum body_status st = body_parse((const uint8_t *)s, n, &doc, &w);

    if (st != BODY_OK)
        CU_ASSERT_PTR_NULL(doc.root);
    body_doc_free(&doc);
    if (why != NULL)
        *why = w;
    return st;
}

static enum body_status parse_str(const char *s)
{
    return parse_n(s, strlen(s), NULL);
}

/* For literals holding NUL bytes. */
#define PARSE_LIT(lit) parse_n((lit), sizeof(lit) - 1, NULL)

static void assert_why_mentions(const char *s, size_t n, const char *word)
{
    const char *why = NULL;

    CU_ASSERT_EQUAL(parse_n(s, n, &why), BODY_MALFORMED);
    CU_ASSERT_PTR_NOT_NULL(why);
    if (why != NULL)
        CU_ASSERT_PTR_NOT_NULL(strstr(why, word));
}

/* ---- parsing ---------------------------------------------------------- */

static void test_object_with_string_fields_parses(void)
{
    static const char in[] = "{\"clientId\":\"abc-1\",\"share\":\"c2hhcmU=\"}";
    struct body_doc doc;
    const char *why = NULL, *v = NULL;
    size_t len = 0;

    CU_ASSERT_EQUAL_FATAL(body_parse((const uint8_t *)in, sizeof(in) - 1, &doc, &why), BODY_OK);
    CU_ASSERT_PTR_NOT_NULL(doc.root);
    CU_ASSERT_EQUAL(body_get_string(&doc, "clientId", &v, &len), BODY_OK);
    CU_ASSERT_EQUAL(len, 5);
    CU_ASSERT_NSTRING_EQUAL(v, "abc-1", 5);
    CU_ASSERT_EQUAL(body_get_string(&doc, "share", &v, &len), BODY_OK);
    CU_ASSERT_EQUAL(len, 8);
    CU_ASSERT_NSTRING_EQUAL(v, "c2hhcmU=", 8);
    body_doc_free(&doc);
    CU_ASSERT_PTR_NULL(doc.root);
    body_doc_free(&doc);    /* a second free is harmless */
}

static void test_whitespace_around_object_is_accepted(void)
{
    CU_ASSERT_EQUAL(parse_str(" \r\n\t{ \"a\" : \"b\" ,\n \"c\":\"d\" }\r\n \t"), BODY_OK);
    CU_ASSERT_EQUAL(parse_str("{}"), BODY_OK);
}

static void test_empty_body_is_malformed(void)
{
    const char *why = NULL;

    CU_ASSERT_EQUAL(parse_n("", 0, &why), BODY_MALFORMED);
    CU_ASSERT_PTR_NOT_NULL(why);
    CU_ASSERT_EQUAL(parse_str("   "), BODY_MALFORMED);
}

static void test_array_string_and_number_are_not_object(void)
{
    CU_ASSERT_EQUAL(parse_str("[]"), BODY_NOT_OBJECT);
    CU_ASSERT_EQUAL(parse_str("[{\"a\":\"b\"}]"), BODY_NOT_OBJECT);
    CU_ASSERT_EQUAL(parse_str("\"share\""), BODY_NOT_OBJECT);
    CU_ASSERT_EQUAL(parse_str("12 "), BODY_NOT_OBJECT);
    CU_ASSERT_EQUAL(parse_str("1.5\n"), BODY_NOT_OBJECT);
    CU_ASSERT_EQUAL(parse_str("true "), BODY_NOT_OBJECT);
}

/* json-c needs a byte after a bare scalar to know it has ended; body_parse
 * treats the end of the buffer as "truncated" and answers 400, although
 * "12" is a complete JSON text that is just not an object (422). A top-level
 * null parses to a NULL json_object, which body_parse takes for a parse
 * error whatever follows it. */
static void test_bare_scalar_at_end_of_body_is_not_object(void)
{
    CU_ASSERT_EQUAL(parse_str("12"), BODY_NOT_OBJECT);
    CU_ASSERT_EQUAL(parse_str("-1"), BODY_NOT_OBJECT);
    CU_ASSERT_EQUAL(parse_str("true"), BODY_NOT_OBJECT);
    CU_ASSERT_EQUAL(parse_str("null"), BODY_NOT_OBJECT);
    CU_ASSERT_EQUAL(parse_str("null\n"), BODY_NOT_OBJECT);
}

static void test_truncated_object_is_malformed(void)
{
    static const char in[] = "{\"a\":\"b\"";

    CU_ASSERT_EQUAL(parse_str("{"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\""), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"b"), BODY_MALFORMED);
    assert_why_mentions(in, sizeof(in) - 1, "truncated");
}

static void test_trailing_garbage_is_malformed(void)
{
    CU_ASSERT_EQUAL(parse_str("{}x"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{} x"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"b\"},"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(PARSE_LIT("{}\0"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(PARSE_LIT("{\"a\":\"b\"}\0{\"a\":\"c\"}"), BODY_MALFORMED);
}

static void test_two_objects_are_malformed(void)
{
    CU_ASSERT_EQUAL(parse_str("{}{}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{} {}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"1\"}\n{\"a\":\"2\"}"), BODY_MALFORMED);
}

static void test_single_quoted_value_is_malformed(void)
{
    CU_ASSERT_EQUAL(parse_str("{\"a\":'x'}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("'x'"), BODY_MALFORMED);
}

/* json-c's STRICT flag does not cover object keys: {'a':"x"} parses. */
static void test_single_quoted_key_is_malformed(void)
{
    CU_ASSERT_EQUAL(parse_str("{'a':\"x\"}"), BODY_MALFORMED);
}

/* Consequence of the above: count_top_level_keys only knows '"' strings, so
 * a single-quoted key holding '"' hides a duplicate and json-c keeps the
 * last value ("y") - the two-parser ambiguity the check exists to stop. */
static void test_single_quoted_keys_cannot_hide_duplicates(void)
{
    CU_ASSERT_EQUAL(parse_str("{'\"':\"x\",'\"':\"y\"}"), BODY_MALFORMED);
}

static void test_trailing_comma_is_malformed(void)
{
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"x\",}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":[\"x\",]}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{,}"), BODY_MALFORMED);
}

static void test_comments_are_malformed(void)
{
    CU_ASSERT_EQUAL(parse_str("{/* c */\"a\":\"x\"}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"x\"}// c"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"x\"}/* c */"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("# c\n{\"a\":\"x\"}"), BODY_MALFORMED);
}

static void test_bad_literals_and_escapes_are_malformed(void)
{
    CU_ASSERT_EQUAL(parse_str("{\"a\":nan}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":TRUE}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":01}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\\x41\"}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{a:\"x\"}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\" \"x\"}"), BODY_MALFORMED);
}

/* json-c parses NaN and Infinity even with JSON_TOKENER_STRICT. */
static void test_nan_and_infinity_are_malformed(void)
{
    CU_ASSERT_EQUAL(parse_str("{\"a\":NaN}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":Infinity}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":-Infinity}"), BODY_MALFORMED);
}

/* RFC 8259 section 7: control characters must be escaped inside strings;
 * "1." is not a number. json-c accepts both. */
static void test_raw_control_chars_and_bare_dot_are_malformed(void)
{
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"x\x01y\"}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"x\ty\"}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"x\ny\"}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":1.}"), BODY_MALFORMED);
}

/* {"a": [ ... ] } with `levels` containers in all, the innermost empty. */
static char *nested(int levels)
{
    size_t cap = 16 + 2 * (size_t)levels;
    char *s = malloc(cap);
    size_t n = 0;

    if (s == NULL)
        return NULL;
    n += (size_t)snprintf(s, cap, "{\"a\":");
    for (int i = 1; i < levels; i++)
        s[n++] = '[';
    for (int i = 1; i < levels; i++)
        s[n++] = ']';
    s[n++] = '}';
    s[n] = '\0';
    return s;
}

static void test_nesting_up_to_depth_max_is_accepted(void)
{
    char *s = nested(JSON_DEPTH_MAX);

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(parse_str(s), BODY_OK);
    free(s);
    CU_ASSERT_EQUAL(parse_str("{\"a\":{\"b\":\"c\"}}"), BODY_OK);
}

static void test_nesting_beyond_depth_max_is_malformed(void)
{
    static const int depths[] = { JSON_DEPTH_MAX + 1, JSON_DEPTH_MAX + 2, 64, 10000 };

    for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
        char *s = nested(depths[i]);

        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        assert_why_mentions(s, strlen(s), "deep");
        free(s);
    }
    CU_ASSERT_EQUAL(parse_str("{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}"), BODY_MALFORMED);
}

static void test_invalid_utf8_is_malformed(void)
{
    static const char ff[] = "{\"a\":\"\xff\"}";

    assert_why_mentions(ff, sizeof(ff) - 1, "UTF-8");
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\xfe\"}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\x80\"}"), BODY_MALFORMED);        /* lone continuation */
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\xc3\"}"), BODY_MALFORMED);        /* cut before '"' */
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\xe2\x82\"}"), BODY_MALFORMED);    /* cut 3-byte */
    CU_ASSERT_EQUAL(parse_str("{\"\xff\":\"x\"}"), BODY_MALFORMED);        /* in a key */
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"x\"}\xff"), BODY_MALFORMED);       /* after the value */
}

/* json-c's UTF-8 check only counts continuation bytes: it lets through
 * overlong forms (the classic "\xc0\xaf" = '/'), UTF-16 surrogates and code
 * points above U+10FFFF. */
static void test_overlong_surrogate_and_too_large_utf8_are_malformed(void)
{
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\xc0\xaf\"}"), BODY_MALFORMED);          /* overlong '/' */
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\xc1\xbf\"}"), BODY_MALFORMED);          /* overlong */
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\xe0\x80\xaf\"}"), BODY_MALFORMED);      /* overlong */
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\xf0\x80\x80\xaf\"}"), BODY_MALFORMED);  /* overlong */
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\xed\xa0\x80\"}"), BODY_MALFORMED);      /* U+D800 */
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\xf4\x90\x80\x80\"}"), BODY_MALFORMED);  /* > U+10FFFF */
}

static void test_valid_multibyte_utf8_is_accepted(void)
{
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\xc3\xa9\"}"), BODY_OK);                   /* é */
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\xe2\x82\xac\"}"), BODY_OK);               /* € */
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\xf0\x9f\x98\x80\"}"), BODY_OK);           /* U+1F600 */
    CU_ASSERT_EQUAL(parse_str("{\"\xc3\xa9\":\"\xf4\x8f\xbf\xbf\"}"), BODY_OK);    /* U+10FFFF */
}

/* ---- duplicate keys --------------------------------------------------- */

static void test_duplicate_top_level_keys_are_malformed(void)
{
    static const char dup[] = "{\"a\":\"1\",\"a\":\"2\"}";

    assert_why_mentions(dup, sizeof(dup) - 1, "duplicate");
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"1\",\"b\":\"2\",\"a\":\"3\"}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"1\",\"a\":{\"x\":\"y\"}}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\":[],\"a\":[]}"), BODY_MALFORMED);
}

static void test_duplicate_after_unescaping_is_malformed(void)
{
    CU_ASSERT_EQUAL(parse_str("{\"\\u0061\":\"1\",\"a\":\"2\"}"), BODY_MALFORMED);
    CU_ASSERT_EQUAL(parse_str("{\"a\\/\":\"1\",\"a/\":\"2\"}"), BODY_MALFORMED);
}

static void test_same_key_in_nested_object_is_fine(void)
{
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"x\",\"n\":{\"a\":\"y\"}}"), BODY_OK);
    CU_ASSERT_EQUAL(parse_str("{\"a\":{\"a\":\"1\",\"b\":{\"a\":\"2\"}},\"b\":\"x\"}"), BODY_OK);
    CU_ASSERT_EQUAL(parse_str("{\"a\":[{\"a\":\"1\"},{\"a\":\"2\"}],\"b\":\"c\"}"), BODY_OK);
}

static void test_key_names_inside_string_values_are_fine(void)
{
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"x:y\",\"b\":\"{\\\"a\\\":1}\"}"), BODY_OK);
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\\\"a\\\":\\\"b\\\"\",\"b\":\":::\"}"), BODY_OK);
    CU_ASSERT_EQUAL(parse_str("{\"a\":[\"x:y\",\"a:b\"],\"c\":\"d\"}"), BODY_OK);
}

static void test_escaped_quote_and_backslash_do_not_confuse_duplicates(void)
{
    /* Distinct keys a" and a. */
    CU_ASSERT_EQUAL(parse_str("{\"a\\\"\":\"1\",\"a\":\"2\"}"), BODY_OK);
    /* Distinct keys a\ and b; values end in a backslash. */
    CU_ASSERT_EQUAL(parse_str("{\"a\\\\\":\"x\\\\\",\"b\":\"\\\\\\\":\"}"), BODY_OK);
    /* A value that ends in an escaped backslash, then a real duplicate. */
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\\\\\",\"a\":\"y\"}"), BODY_MALFORMED);
    /* Same key with an escaped quote in it, twice. */
    CU_ASSERT_EQUAL(parse_str("{\"k\\\\\\\"\":\"1\",\"k\\\\\\\"\":\"2\"}"), BODY_MALFORMED);
    /* An escaped quote followed by what looks like another key. */
    CU_ASSERT_EQUAL(parse_str("{\"a\":\"\\\",\\\"a\\\":\\\"\",\"b\":\"c\"}"), BODY_OK);
}

/* ---- body_get_string ---------------------------------------------------- */

/* Parses in (must succeed) and looks up key. */
static enum body_status get_n(const char *in, size_t inlen, const char *key, char *out,
                              size_t outcap, size_t *len)
{
    struct body_doc doc;
    const char *why = NULL, *v = NULL;
    enum body_status st;

    *len = 0;
    if (body_parse((const uint8_t *)in, inlen, &doc, &why) != BODY_OK) {
        CU_FAIL("body did not parse");
        return BODY_MALFORMED;
    }
    st = body_get_string(&doc, key, &v, len);
    if (st == BODY_OK && *len <= outcap)
        memcpy(out, v, *len);
    body_doc_free(&doc);
    return st;
}

static enum body_status get(const char *in, const char *key, char *out, size_t outcap,
                            size_t *len)
{
    return get_n(in, strlen(in), key, out, outcap, len);
}

static void test_get_string_missing_field(void)
{
    char out[16];
    size_t len;

    CU_ASSERT_EQUAL(get("{\"a\":\"x\"}", "b", out, sizeof(out), &len), BODY_MISSING);
    CU_ASSERT_EQUAL(get("{}", "a", out, sizeof(out), &len), BODY_MISSING);
    CU_ASSERT_EQUAL(get("{\"A\":\"x\"}", "a", out, sizeof(out), &len), BODY_MISSING);
    CU_ASSERT_EQUAL(get("{\"n\":{\"a\":\"x\"}}", "a", out, sizeof(out), &len), BODY_MISSING);
}

static void test_get_string_wrong_type(void)
{
    char out[16];
    size_t len;

    CU_ASSERT_EQUAL(get("{\"a\":1}", "a", out, sizeof(out), &len), BODY_WRONG_TYPE);
    CU_ASSERT_EQUAL(get("{\"a\":1.5}", "a", out, sizeof(out), &len), BODY_WRONG_TYPE);
    CU_ASSERT_EQUAL(get("{\"a\":null}", "a", out, sizeof(out), &len), BODY_WRONG_TYPE);
    CU_ASSERT_EQUAL(get("{\"a\":{}}", "a", out, sizeof(out), &len), BODY_WRONG_TYPE);
    CU_ASSERT_EQUAL(get("{\"a\":[\"x\"]}", "a", out, sizeof(out), &len), BODY_WRONG_TYPE);
    CU_ASSERT_EQUAL(get("{\"a\":true}", "a", out, sizeof(out), &len), BODY_WRONG_TYPE);
}

static void test_get_string_empty_value(void)
{
    char out[16];
    size_t len = 99;

    CU_ASSERT_EQUAL(get("{\"a\":\"\"}", "a", out, sizeof(out), &len), BODY_OK);
    CU_ASSERT_EQUAL(len, 0);
}

static void test_get_string_length_counts_escaped_nul(void)
{
    char out[16];
    size_t len = 0;

    CU_ASSERT_EQUAL(get("{\"a\":\"x\\u0000y\"}", "a", out, sizeof(out), &len), BODY_OK);
    CU_ASSERT_EQUAL(len, 3);
    CU_ASSERT_EQUAL(memcmp(out, "x\0y", 3), 0);
    CU_ASSERT_EQUAL(get("{\"a\":\"\\u0000\"}", "a", out, sizeof(out), &len), BODY_OK);
    CU_ASSERT_EQUAL(len, 1);
    CU_ASSERT_EQUAL(out[0], '\0');
}

static void test_get_string_decodes_unicode_escapes_to_utf8(void)
{
    char out[16];
    size_t len = 0;

    CU_ASSERT_EQUAL(get("{\"a\":\"\\u00e9\"}", "a", out, sizeof(out), &len), BODY_OK);
    CU_ASSERT_EQUAL(len, 2);
    CU_ASSERT_EQUAL(memcmp(out, "\xc3\xa9", 2), 0);
    CU_ASSERT_EQUAL(get("{\"a\":\"\\u20AC\"}", "a", out, sizeof(out), &len), BODY_OK);
    CU_ASSERT_EQUAL(len, 3);
    CU_ASSERT_EQUAL(memcmp(out, "\xe2\x82\xac", 3), 0);
    CU_ASSERT_EQUAL(get("{\"a\":\"\\ud83d\\ude00\"}", "a", out, sizeof(out), &len), BODY_OK);
    CU_ASSERT_EQUAL(len, 4);
    CU_ASSERT_EQUAL(memcmp(out, "\xf0\x9f\x98\x80", 4), 0);
}

static void test_get_string_decodes_simple_escapes(void)
{
    char out[32];
    size_t len = 0;

    CU_ASSERT_EQUAL(get("{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}", "a", out, sizeof(out), &len),
                    BODY_OK);
    CU_ASSERT_EQUAL(len, 8);
    CU_ASSERT_EQUAL(memcmp(out, "\"\\/\b\f\n\r\t", 8), 0);
}

static void test_get_string_keeps_raw_utf8(void)
{
    char out[16];
    size_t len = 0;

    CU_ASSERT_EQUAL(get("{\"a\":\"\xc3\xa9\xe2\x82\xac\"}", "a", out, sizeof(out), &len),
                    BODY_OK);
    CU_ASSERT_EQUAL(len, 5);
    CU_ASSERT_EQUAL(memcmp(out, "\xc3\xa9\xe2\x82\xac", 5), 0);
}

/* ---- writer ----------------------------------------------------------- */

/* Writes s as a JSON string and compares with want. */
static void assert_written(const char *s, size_t n, const char *want)
{
    struct body_writer w;

    body_writer_init(&w);
    body_writer_string(&w, s, n);
    CU_ASSERT_FALSE(body_writer_failed(&w));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w.buf);
    CU_ASSERT_EQUAL(w.len, strlen(want));
    CU_ASSERT_STRING_EQUAL(w.buf, want);
    CU_ASSERT_EQUAL(w.buf[w.len], '\0');
    body_writer_free(&w);
    CU_ASSERT_PTR_NULL(w.buf);
    CU_ASSERT_EQUAL(w.len, 0);
}

#define WRITTEN(lit, want) assert_written((lit), sizeof(lit) - 1, (want))

static void test_writer_plain_and_empty_strings(void)
{
    WRITTEN("", "\"\"");
    WRITTEN("abc", "\"abc\"");
    WRITTEN("a/b", "\"a/b\"");
    WRITTEN("\x7f", "\"\x7f\"");
}

static void test_writer_escapes_quote_and_backslash(void)
{
    WRITTEN("a\"b\\c", "\"a\\\"b\\\\c\"");
    WRITTEN("\"", "\"\\\"\"");
    WRITTEN("\\", "\"\\\\\"");
    WRITTEN("\\\"", "\"\\\\\\\"\"");
}

static void test_writer_escapes_newline_return_tab(void)
{
    WRITTEN("\n\r\t", "\"\\n\\r\\t\"");
    WRITTEN("a\nb", "\"a\\nb\"");
}

static void test_writer_escapes_other_control_chars_as_u00xx(void)
{
    WRITTEN("\x01", "\"\\u0001\"");
    WRITTEN("\x08\x0c", "\"\\u0008\\u000c\"");
    WRITTEN("\x1f", "\"\\u001f\"");
    WRITTEN("\x1b[0m", "\"\\u001b[0m\"");
    WRITTEN("a\0b", "\"a\\u0000b\"");
}

static void test_writer_leaves_utf8_bytes_as_is(void)
{
    WRITTEN("\xc3\xa9", "\"\xc3\xa9\"");
    WRITTEN("\xe2\x80\xa8\xf0\x9f\x98\x80", "\"\xe2\x80\xa8\xf0\x9f\x98\x80\"");
}

static void test_writer_uint(void)
{
    struct body_writer w;

    body_writer_init(&w);
    body_writer_uint(&w, 0);
    body_writer_raw(&w, ",");
    body_writer_uint(&w, 42);
    body_writer_raw(&w, ",");
    body_writer_uint(&w, 18446744073709551615ULL);
    CU_ASSERT_FALSE(body_writer_failed(&w));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w.buf);
    CU_ASSERT_STRING_EQUAL(w.buf, "0,42,18446744073709551615");
    CU_ASSERT_EQUAL(w.len, strlen("0,42,18446744073709551615"));
    body_writer_free(&w);
}

/* body_writer_base64 writes what base64_encode gives, quoted, for every
 * tail length, after other pieces and past several buffer growths; a reset
 * starts the next line at the buffer's start. */
static void test_writer_base64_is_quoted_base64(void)
{
    static uint8_t raw[3000];
    struct body_writer w;
    size_t len, wrong = 0;

    for (len = 0; len < sizeof(raw); len++)
        raw[len] = (uint8_t)(len * 7 + 1);
    body_writer_init(&w);
    for (len = 0; len <= sizeof(raw); len += len < 10 ? 1 : 997) {
        char *b64 = NULL;
        size_t b64_len = 0;

        body_writer_reset(&w);
        body_writer_raw(&w, "{\"sealed\":");
        body_writer_base64(&w, raw, len);
        body_writer_raw(&w, "}");
        CU_ASSERT_FATAL(base64_encode(raw, len, &b64, &b64_len) == 0);
        if (body_writer_failed(&w) || w.len != b64_len + 13 ||
            strncmp(w.buf, "{\"sealed\":\"", 11) != 0 || memcmp(w.buf + 11, b64, b64_len) != 0 ||
            strcmp(w.buf + 11 + b64_len, "\"}") != 0)
            wrong++;
        free(b64);
    }
    CU_ASSERT_EQUAL(wrong, 0);
    body_writer_free(&w);
}

static void test_writer_builds_a_document_from_pieces(void)
{
    struct body_writer w;
    struct json_object *o, *v;

    body_writer_init(&w);
    body_writer_raw(&w, "{\"id\":");
    body_writer_string(&w, "c-1", 3);
    body_writer_raw(&w, ",\"version\":");
    body_writer_uint(&w, 7);
    body_writer_raw(&w, "}");
    CU_ASSERT_FALSE(body_writer_failed(&w));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w.buf);
    CU_ASSERT_STRING_EQUAL(w.buf, "{\"id\":\"c-1\",\"version\":7}");
    o = json_tokener_parse(w.buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_TRUE(json_object_object_get_ex(o, "version", &v));
    CU_ASSERT_EQUAL(json_object_get_int64(v), 7);
    json_object_put(o);
    body_writer_free(&w);
}

static void test_writer_grows_past_many_buffers(void)
{
    struct body_writer w;
    size_t i;
    int ok = 1;

    body_writer_init(&w);
    for (i = 0; i < 100000; i++)
        body_writer_raw(&w, "0123456789");
    CU_ASSERT_FALSE(body_writer_failed(&w));
    CU_ASSERT_EQUAL(w.len, 1000000);
    CU_ASSERT_TRUE(w.cap > w.len);
    for (i = 0; w.buf != NULL && i < w.len; i++)
        if (w.buf[i] != (char)('0' + i % 10))
            ok = 0;
    CU_ASSERT_TRUE(ok);
    body_writer_free(&w);
}

/* Writes s inside {"s": ...}, parses it back with body_parse (json-c) and
 * checks the decoded value is byte-for-byte s. */
static void assert_round_trip(const char *s, size_t n)
{
    struct body_writer w;
    struct body_doc doc;
    const char *why = NULL, *v = NULL;
    size_t len = 0;

    body_writer_init(&w);
    body_writer_raw(&w, "{\"s\":");
    body_writer_string(&w, s, n);
    body_writer_raw(&w, "}");
    CU_ASSERT_FALSE_FATAL(body_writer_failed(&w));
    CU_ASSERT_EQUAL_FATAL(body_parse((const uint8_t *)w.buf, w.len, &doc, &why), BODY_OK);
    CU_ASSERT_EQUAL(body_get_string(&doc, "s", &v, &len), BODY_OK);
    CU_ASSERT_EQUAL(len, n);
    if (len == n)
        CU_ASSERT_EQUAL(memcmp(v, s, n), 0);
    body_doc_free(&doc);
    body_writer_free(&w);
}

#define ROUND_TRIP(lit) assert_round_trip((lit), sizeof(lit) - 1)

static void test_writer_round_trips_tricky_strings(void)
{
    char all_ascii[128];

    ROUND_TRIP("");
    ROUND_TRIP("plain");
    ROUND_TRIP("\"");
    ROUND_TRIP("\\");
    ROUND_TRIP("\\\"\\\\\"");
    ROUND_TRIP("\\u0041");
    ROUND_TRIP("\n\r\t\b\f");
    ROUND_TRIP("\0");
    ROUND_TRIP("a\0b\0");
    ROUND_TRIP("</script><!--");
    ROUND_TRIP("{\"a\":\"b\"}");
    ROUND_TRIP("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xe2\x80\xa8\xe2\x80\xa9\xef\xbb\xbf");
    ROUND_TRIP("\x7f");
    for (size_t i = 0; i < sizeof(all_ascii); i++)
        all_ascii[i] = (char)i;
    assert_round_trip(all_ascii, sizeof(all_ascii));
}

static void test_writer_round_trips_60k_string(void)
{
    /* Whole units only, so no UTF-8 sequence is cut at the end. */
    static const char *const units[] = {
        "a", "\"", "\\", "\n", "\x01", "\x1f", "\0", "\xc3\xa9", "\xf0\x9f\x98\x80", "/", "Z",
    };
    static const size_t unit_len[] = { 1, 1, 1, 1, 1, 1, 1, 2, 4, 1, 1 };
    const size_t target = 60u * 1024u;
    char *s = malloc(target + 8);
    size_t n = 0, k = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    while (n + 4 <= target) {
        size_t u = (k * 7 + k / 11) % (sizeof(units) / sizeof(units[0]));
        memcpy(s + n, units[u], unit_len[u]);
        n += unit_len[u];
        k++;
    }
    while (n < target)
        s[n++] = 'x';
    CU_ASSERT_EQUAL(n, target);
    assert_round_trip(s, n);
    free(s);
}

/* Regressions found by fuzzing (tests/fuzz/corpus/fuzz_body/regress-*). */
static void test_nul_in_key_is_malformed(void)
{
    static const char b[] = "{\"clientId\\u0000x\":\"abc\",\"share\":\"s\"}";
    struct body_doc d = { 0 };
    const char *why = NULL;

    CU_ASSERT_EQUAL(body_parse((const uint8_t *)b, sizeof(b) - 1, &d, &why), BODY_MALFORMED);
    CU_ASSERT_PTR_NULL(d.root);
    body_doc_free(&d);
}

static void test_surrogate_pair_is_exact_or_refused(void)
{
    static const char bad[] = "{\"share\":\"\\ud836\\ude00\"}";
    static const char good[] = "{\"share\":\"\\ud83d\\ude00\"}";
    struct body_doc d = { 0 };
    const char *why = NULL, *v = NULL;
    size_t n = 0;

    /* json-c would turn U+1DA00 into U+FFFD: refused, never stored changed. */
    CU_ASSERT_EQUAL(body_parse((const uint8_t *)bad, sizeof(bad) - 1, &d, &why), BODY_MALFORMED);
    body_doc_free(&d);
    CU_ASSERT_EQUAL_FATAL(body_parse((const uint8_t *)good, sizeof(good) - 1, &d, &why), BODY_OK);
    CU_ASSERT_EQUAL(body_get_string(&d, "share", &v, &n), BODY_OK);
    CU_ASSERT(n == 4 && memcmp(v, "\xf0\x9f\x98\x80", 4) == 0);
    body_doc_free(&d);
}

int unit_register(void)
{
    static const struct unit_test parse_tests[] = {
        { "object with string fields parses", test_object_with_string_fields_parses },
        { "whitespace around the object is accepted", test_whitespace_around_object_is_accepted },
        { "empty body is malformed", test_empty_body_is_malformed },
        { "array, string and number are not an object",
          test_array_string_and_number_are_not_object },
        { "bare scalar at end of body, or null, is not an object",
          test_bare_scalar_at_end_of_body_is_not_object },
        { "truncated object is malformed", test_truncated_object_is_malformed },
        { "trailing garbage is malformed", test_trailing_garbage_is_malformed },
        { "two objects are malformed", test_two_objects_are_malformed },
        { "single-quoted value is malformed", test_single_quoted_value_is_malformed },
        { "single-quoted key is malformed", test_single_quoted_key_is_malformed },
        { "trailing comma is malformed", test_trailing_comma_is_malformed },
        { "comments are malformed", test_comments_are_malformed },
        { "bad literals and escapes are malformed", test_bad_literals_and_escapes_are_malformed },
        { "NaN and Infinity are malformed", test_nan_and_infinity_are_malformed },
        { "raw control chars in strings and \"1.\" are malformed",
          test_raw_control_chars_and_bare_dot_are_malformed },
        { "nesting up to JSON_DEPTH_MAX is accepted", test_nesting_up_to_depth_max_is_accepted },
        { "nesting beyond JSON_DEPTH_MAX is malformed",
          test_nesting_beyond_depth_max_is_malformed },
        { "invalid UTF-8 is malformed", test_invalid_utf8_is_malformed },
        { "overlong, surrogate and >U+10FFFF UTF-8 are malformed",
          test_overlong_surrogate_and_too_large_utf8_are_malformed },
        { "valid multi-byte UTF-8 is accepted", test_valid_multibyte_utf8_is_accepted },
        { NULL, NULL },
    };
    static const struct unit_test dup_tests[] = {
        { "duplicate top-level keys are malformed", test_duplicate_top_level_keys_are_malformed },
        { "duplicate after unescaping is malformed",
          test_duplicate_after_unescaping_is_malformed },
        { "same key in a nested object is fine", test_same_key_in_nested_object_is_fine },
        { "key names inside string values are fine", test_key_names_inside_string_values_are_fine },
        { "escaped quote and backslash do not confuse duplicates",
          test_escaped_quote_and_backslash_do_not_confuse_duplicates },
        { "single-quoted keys cannot hide duplicates",
          test_single_quoted_keys_cannot_hide_duplicates },
        { NULL, NULL },
    };
    static const struct unit_test get_tests[] = {
        { "missing field is BODY_MISSING", test_get_string_missing_field },
        { "number, null, object, array, bool are BODY_WRONG_TYPE", test_get_string_wrong_type },
        { "empty string value has length 0", test_get_string_empty_value },
        { "escaped NUL is counted in the length", test_get_string_length_counts_escaped_nul },
        { "unicode escapes decode to UTF-8", test_get_string_decodes_unicode_escapes_to_utf8 },
        { "simple escapes decode", test_get_string_decodes_simple_escapes },
        { "raw UTF-8 is kept as-is", test_get_string_keeps_raw_utf8 },
        { NULL, NULL },
    };
    static const struct unit_test writer_tests[] = {
        { "plain and empty strings are quoted", test_writer_plain_and_empty_strings },
        { "quote and backslash are escaped", test_writer_escapes_quote_and_backslash },
        { "newline, return and tab are escaped", test_writer_escapes_newline_return_tab },
        { "other control chars become \\u00XX", test_writer_escapes_other_control_chars_as_u00xx },
        { "UTF-8 bytes are left as-is", test_writer_leaves_utf8_bytes_as_is },
        { "uint is written in decimal", test_writer_uint },
        { "base64 is written quoted, unescaped", test_writer_base64_is_quoted_base64 },
        { "a document is built from pieces", test_writer_builds_a_document_from_pieces },
        { "writer grows past many buffers", test_writer_grows_past_many_buffers },
        { "tricky strings round-trip through json-c", test_writer_round_trips_tricky_strings },
        { "a 60 KiB string round-trips through json-c", test_writer_round_trips_60k_string },
        { "NUL in an object key is malformed (json-c would cut the key)", test_nul_in_key_is_malformed },
        { "an escaped surrogate pair json-c mangles is refused, others exact", test_surrogate_pair_is_exact_or_refused },
        { NULL, NULL },
    };

    if (unit_add_suite("body: parse", parse_tests) != 0 ||
        unit_add_suite("body: duplicate keys", dup_tests) != 0 ||
        unit_add_suite("body: get string", get_tests) != 0)
        return -1;
    return unit_add_suite("body: writer", writer_tests);
}
