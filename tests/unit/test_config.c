/* Unit tests for config.c: defaults, the key = value file format, error
 * lines that name the file, line and key, SHAREKEEP_* environment
 * overrides, and validation of every key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounds.h"
#include "config.h"
#include "unit.h"

#define NAME "test.conf"

static char err[1024];

static int load_env(const char *text, char *const *envp, struct config *cfg)
{
    err[0] = '\0';
    return config_load_text(text, text != NULL ? strlen(text) : 0, NAME, envp, cfg, err,
                            sizeof(err));
}

static int load(const char *text, struct config *cfg)
{
    return load_env(text, NULL, cfg);
}

static int err_has(const char *word)
{
    return strstr(err, word) != NULL;
}

/* A failed load leaves nothing allocated and the struct zeroed. */
static void assert_failed_and_clean(int rc, const struct config *cfg)
{
    CU_ASSERT_NOT_EQUAL(rc, 0);
    CU_ASSERT_NOT_EQUAL(err[0], '\0');
    CU_ASSERT_PTR_NULL(cfg->listen);
    CU_ASSERT_PTR_NULL(cfg->database);
    CU_ASSERT_PTR_NULL(cfg->keyring);
    CU_ASSERT_PTR_NULL(cfg->webhooks_root);
    CU_ASSERT_PTR_NULL(cfg->sql_dir);
}

/* "key = value\n" must be refused with an error naming key (and word). */
static void assert_value_refused(const char *key, const char *value, const char *word)
{
    char text[512];
    struct config cfg;
    int rc;

    snprintf(text, sizeof(text), "%s = %s\n", key, value);
    rc = load(text, &cfg);
    assert_failed_and_clean(rc, &cfg);
    if (!err_has(key) || (word != NULL && !err_has(word)))
        fprintf(stderr, "\n    %s = '%s': error was: %s\n", key, value, err);
    CU_ASSERT_TRUE(err_has(key));
    if (word != NULL)
        CU_ASSERT_TRUE(err_has(word));
    config_free(&cfg);
}

/* "key = value\n" must load; cfg is left for the caller to check and free. */
static int load_value(const char *key, const char *value, struct config *cfg)
{
    char text[512];
    int rc;

    snprintf(text, sizeof(text), "%s = %s\n", key, value);
    rc = load(text, cfg);
    if (rc != 0)
        fprintf(stderr, "\n    %s = '%s' refused: %s\n", key, value, err);
    return rc;
}

static void assert_value_ok(const char *key, const char *value)
{
    struct config cfg;

    CU_ASSERT_EQUAL(load_value(key, value, &cfg), 0);
    config_free(&cfg);
}

static void assert_defaults(const struct config *cfg)
{
    CU_ASSERT_STRING_EQUAL(cfg->listen, "127.0.0.1:9000");
    CU_ASSERT_EQUAL(cfg->socket_mode, 0660);
    CU_ASSERT_EQUAL(cfg->workers, 2);
    CU_ASSERT_STRING_EQUAL(cfg->database, "dbname=sharekeep");
    CU_ASSERT_STRING_EQUAL(cfg->keyring, "/etc/sharekeep/keyring");
    CU_ASSERT_STRING_EQUAL(cfg->webhooks_root, "/webhook");
    CU_ASSERT_EQUAL(cfg->max_body, BODY_MAX_DEFAULT);
    CU_ASSERT_STRING_EQUAL(cfg->sql_dir, SHAREKEEP_SQLDIR);
    CU_ASSERT_EQUAL(cfg->log_level, LOG_LVL_INFO);
}

/* ---- defaults and file format ----------------------------------------- */

static void test_defaults_when_no_file(void)
{
    struct config cfg;

    CU_ASSERT_EQUAL_FATAL(config_load(NULL, NULL, &cfg, err, sizeof(err)), 0);
    assert_defaults(&cfg);
    config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(load(NULL, &cfg), 0);
    assert_defaults(&cfg);
    config_free(&cfg);
}

static void test_empty_and_comment_only_files_give_defaults(void)
{
    struct config cfg;

    CU_ASSERT_EQUAL_FATAL(load("", &cfg), 0);
    assert_defaults(&cfg);
    config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(load("# nothing here\n\n   \n\t# still nothing\n", &cfg), 0);
    assert_defaults(&cfg);
    config_free(&cfg);
}

static void test_file_with_comments_blank_lines_and_whitespace(void)
{
    static const char text[] =
        "# sharekeep test config\n"
        "\n"
        "   \t\n"
        "listen = unix:/run/sharekeep/fcgi.sock\n"
        "  workers=8  \n"
        "\tdatabase =  host=db dbname=sk user=sk \t\n"
        "   # indented comment = not a key\n"
        "max_body = 128k\r\n"
        "keyring=/etc/sk/keys\n"
        "webhooks_root = /hooks/portal\n"
        "sql_dir = /opt/sk/sql\n"
        "log_level = debug\n"
        "socket_mode=0600";               /* no final newline */
    struct config cfg;

    CU_ASSERT_EQUAL_FATAL(load(text, &cfg), 0);
    CU_ASSERT_STRING_EQUAL(cfg.listen, "unix:/run/sharekeep/fcgi.sock");
    CU_ASSERT_EQUAL(cfg.workers, 8);
    CU_ASSERT_STRING_EQUAL(cfg.database, "host=db dbname=sk user=sk");
    CU_ASSERT_EQUAL(cfg.max_body, 128u * 1024u);
    CU_ASSERT_STRING_EQUAL(cfg.keyring, "/etc/sk/keys");
    CU_ASSERT_STRING_EQUAL(cfg.webhooks_root, "/hooks/portal");
    CU_ASSERT_STRING_EQUAL(cfg.sql_dir, "/opt/sk/sql");
    CU_ASSERT_EQUAL(cfg.log_level, LOG_LVL_DEBUG);
    CU_ASSERT_EQUAL(cfg.socket_mode, 0600);
    config_free(&cfg);
}

static void test_crlf_file_is_read(void)
{
    struct config cfg;

    CU_ASSERT_EQUAL_FATAL(load("workers = 3\r\n# c\r\n\r\nlog_level = warn\r\n", &cfg), 0);
    CU_ASSERT_EQUAL(cfg.workers, 3);
    CU_ASSERT_EQUAL(cfg.log_level, LOG_LVL_WARN);
    config_free(&cfg);
}

static void test_later_line_wins_for_repeated_key(void)
{
    struct config cfg;

    CU_ASSERT_EQUAL_FATAL(load("workers = 3\nlisten = a:1\nworkers = 5\nlisten = b:2\n", &cfg), 0);
    CU_ASSERT_EQUAL(cfg.workers, 5);
    CU_ASSERT_STRING_EQUAL(cfg.listen, "b:2");
    config_free(&cfg);
}

static void test_value_keeps_text_after_first_equals_and_hash(void)
{
    struct config cfg;

    CU_ASSERT_EQUAL_FATAL(load("database = host=db password=a#b=c\n", &cfg), 0);
    CU_ASSERT_STRING_EQUAL(cfg.database, "host=db password=a#b=c");
    config_free(&cfg);
}

static void test_unknown_key_error_names_key_and_line(void)
{
    struct config cfg;
    int rc = load("workers = 2\n\n# c\nbogus_key = 1\nlisten = x:1\n", &cfg);

    assert_failed_and_clean(rc, &cfg);
    CU_ASSERT_TRUE(err_has("bogus_key"));
    CU_ASSERT_TRUE(err_has(NAME ":4"));
    config_free(&cfg);
}

static void test_key_match_is_exact(void)
{
    struct config cfg;

    assert_failed_and_clean(load("Workers = 2\n", &cfg), &cfg);
    CU_ASSERT_TRUE(err_has("Workers"));
    assert_failed_and_clean(load("worker = 2\n", &cfg), &cfg);
    assert_failed_and_clean(load("workerss = 2\n", &cfg), &cfg);
    assert_failed_and_clean(load("SHAREKEEP_WORKERS = 2\n", &cfg), &cfg);
    assert_failed_and_clean(load("= 2\n", &cfg), &cfg);
    CU_ASSERT_TRUE(err_has(NAME ":1"));
}

static void test_missing_equals_is_an_error_with_line(void)
{
    struct config cfg;
    int rc = load("# first\nworkers 4\n", &cfg);

    assert_failed_and_clean(rc, &cfg);
    CU_ASSERT_TRUE(err_has(NAME ":2"));
    CU_ASSERT_TRUE(err_has("key = value"));
    config_free(&cfg);
}

static void test_error_on_later_line_frees_earlier_values(void)
{
    struct config cfg;
    int rc = load("listen = unix:/tmp/a.sock\ndatabase = dbname=x\nworkers = 0\n", &cfg);

    /* valgrind checks nothing from lines 1-2 leaks. */
    assert_failed_and_clean(rc, &cfg);
    CU_ASSERT_TRUE(err_has(NAME ":3"));
    CU_ASSERT_TRUE(err_has("workers"));
}

static void test_over_long_line_is_refused(void)
{
    size_t n = CONFIG_LINE_MAX + 1;
    char *text = malloc(n + 32);
    struct config cfg;

    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    memcpy(text, "database = ", 11);
    memset(text + 11, 'x', n - 11);
    memcpy(text + n, "\n", 2);
    assert_failed_and_clean(load(text, &cfg), &cfg);
    CU_ASSERT_TRUE(err_has(NAME ":1"));
    /* One byte shorter is a line we accept. */
    memcpy(text + n - 1, "\n", 2);
    CU_ASSERT_EQUAL(load(text, &cfg), 0);
    CU_ASSERT_EQUAL(strlen(cfg.database), CONFIG_LINE_MAX - 11);
    config_free(&cfg);
    free(text);
}

static void test_nul_byte_in_line_is_refused(void)
{
    static const char text[] = "workers = 2\nlisten = a:1\0b:2\n";
    struct config cfg;
    int rc;

    err[0] = '\0';
    rc = config_load_text(text, sizeof(text) - 1, NAME, NULL, &cfg, err, sizeof(err));
    assert_failed_and_clean(rc, &cfg);
    CU_ASSERT_TRUE(err_has(NAME ":2"));
}

static void test_oversized_file_is_refused(void)
{
    size_t n = CONFIG_FILE_MAX + 1;
    char *text = malloc(n);
    struct config cfg;
    int rc;

    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    memset(text, '\n', n);
    err[0] = '\0';
    rc = config_load_text(text, n, NAME, NULL, &cfg, err, sizeof(err));
    assert_failed_and_clean(rc, &cfg);
    CU_ASSERT_TRUE(err_has(NAME));
    free(text);
}

/* ---- environment ------------------------------------------------------ */

static void test_env_override_wins_over_file(void)
{
    char *env[] = { "SHAREKEEP_WORKERS=8", "SHAREKEEP_WEBHOOKS_ROOT=/hooks/portal",
                    "SHAREKEEP_MAX_BODY=1m", "SHAREKEEP_LOG_LEVEL=error", NULL };
    struct config cfg;

    CU_ASSERT_EQUAL_FATAL(load_env("workers = 4\nwebhooks_root = /webhook\nmax_body = 2k\n",
                                   env, &cfg), 0);
    CU_ASSERT_EQUAL(cfg.workers, 8);
    CU_ASSERT_STRING_EQUAL(cfg.webhooks_root, "/hooks/portal");
    CU_ASSERT_EQUAL(cfg.max_body, 1024u * 1024u);
    CU_ASSERT_EQUAL(cfg.log_level, LOG_LVL_ERROR);
    config_free(&cfg);
}

static void test_env_sets_every_key_without_a_file(void)
{
    char *env[] = { "SHAREKEEP_LISTEN=unix:/run/sk.sock", "SHAREKEEP_SOCKET_MODE=0600",
                    "SHAREKEEP_WORKERS=3", "SHAREKEEP_DATABASE=host=db dbname=sk",
                    "SHAREKEEP_KEYRING=/srv/keyring", "SHAREKEEP_WEBHOOKS_ROOT=/a/b",
                    "SHAREKEEP_MAX_BODY=4096", "SHAREKEEP_SQL_DIR=/srv/sql",
                    "SHAREKEEP_LOG_LEVEL=warn", NULL };
    struct config cfg;

    CU_ASSERT_EQUAL_FATAL(config_load(NULL, env, &cfg, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(cfg.listen, "unix:/run/sk.sock");
    CU_ASSERT_EQUAL(cfg.socket_mode, 0600);
    CU_ASSERT_EQUAL(cfg.workers, 3);
    CU_ASSERT_STRING_EQUAL(cfg.database, "host=db dbname=sk");
    CU_ASSERT_STRING_EQUAL(cfg.keyring, "/srv/keyring");
    CU_ASSERT_STRING_EQUAL(cfg.webhooks_root, "/a/b");
    CU_ASSERT_EQUAL(cfg.max_body, 4096);
    CU_ASSERT_STRING_EQUAL(cfg.sql_dir, "/srv/sql");
    CU_ASSERT_EQUAL(cfg.log_level, LOG_LVL_WARN);
    config_free(&cfg);
}

static void test_unrelated_and_prefix_env_names_are_ignored(void)
{
    char *env[] = { "PATH=/usr/bin", "SHAREKEEP_WORKERSX=99", "XSHAREKEEP_WORKERS=99",
                    "SHAREKEEP_WORKERS", "sharekeep_workers=99", "SHAREKEEP_CONFIG=/x", NULL };
    struct config cfg;

    CU_ASSERT_EQUAL_FATAL(load_env("workers = 4\n", env, &cfg), 0);
    CU_ASSERT_EQUAL(cfg.workers, 4);
    config_free(&cfg);
}

static void test_bad_env_value_is_refused_naming_the_variable(void)
{
    char *env[] = { "SHAREKEEP_WORKERS=0", NULL };
    char *root[] = { "SHAREKEEP_WEBHOOKS_ROOT=webhook", NULL };
    struct config cfg;

    assert_failed_and_clean(load_env("workers = 4\n", env, &cfg), &cfg);
    CU_ASSERT_TRUE(err_has("SHAREKEEP_WORKERS"));
    /* Values from the environment are validated like the file's. */
    assert_failed_and_clean(load_env(NULL, root, &cfg), &cfg);
    CU_ASSERT_TRUE(err_has("webhooks_root"));
}

static void test_env_can_repair_a_file_value_before_validation(void)
{
    char *env[] = { "SHAREKEEP_KEYRING=/etc/sk/keyring", NULL };
    struct config cfg;

    CU_ASSERT_EQUAL_FATAL(load_env("keyring = relative/ring\n", env, &cfg), 0);
    CU_ASSERT_STRING_EQUAL(cfg.keyring, "/etc/sk/keyring");
    config_free(&cfg);
}

/* ---- validation of each key ------------------------------------------- */

static void test_workers_out_of_range_or_not_a_number_is_refused(void)
{
    static const char *const bad[] = { "0", "1000", "257", "abc", "-1", "+4", "", "4 workers",
                                       "1e2", "0x10", "99999999999999999999999" };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_value_refused("workers", bad[i], "256");
}

static void test_workers_in_range_is_accepted(void)
{
    struct config cfg;

    CU_ASSERT_EQUAL_FATAL(load_value("workers", "1", &cfg), 0);
    CU_ASSERT_EQUAL(cfg.workers, 1);
    config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(load_value("workers", "256", &cfg), 0);
    CU_ASSERT_EQUAL(cfg.workers, WORKERS_MAX);
    config_free(&cfg);
}

static void test_max_body_outside_limits_is_refused(void)
{
    static const char *const bad[] = { "1023", "0", "16777217", "17m", "16385k", "-1024", "k",
                                       "", "64kb", "1.5m", "0x1000", "64 k", "1g",
                                       "99999999999999999999999k" };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_value_refused("max_body", bad[i], "1024");
}

static void test_max_body_sizes_and_suffixes(void)
{
    static const struct { const char *in; size_t want; } cases[] = {
        { "1024", BODY_MAX_MIN },
        { "1k", 1024 },
        { "64k", 65536 },
        { "64K", 65536 },
        { "16m", BODY_MAX_CEILING },
        { "16M", BODY_MAX_CEILING },
        { "16384k", BODY_MAX_CEILING },
        { "16777216", BODY_MAX_CEILING },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config cfg;

        CU_ASSERT_EQUAL_FATAL(load_value("max_body", cases[i].in, &cfg), 0);
        CU_ASSERT_EQUAL(cfg.max_body, cases[i].want);
        config_free(&cfg);
    }
}

static void test_socket_mode_must_be_octal_up_to_0777(void)
{
    static const char *const bad[] = { "999", "0999", "1777", "", "rw", "-1", "8", "0o660" };
    struct config cfg;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_value_refused("socket_mode", bad[i], "octal");
    CU_ASSERT_EQUAL_FATAL(load_value("socket_mode", "0660", &cfg), 0);
    CU_ASSERT_EQUAL(cfg.socket_mode, 0660);
    config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(load_value("socket_mode", "600", &cfg), 0);
    CU_ASSERT_EQUAL(cfg.socket_mode, 0600);
    config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(load_value("socket_mode", "0777", &cfg), 0);
    CU_ASSERT_EQUAL(cfg.socket_mode, 0777);
    config_free(&cfg);
}

static void test_listen_must_be_unix_absolute_or_host_port(void)
{
    static const char *const bad[] = { "nonsense", "unix:relative", "unix:", "unix:./x.sock",
                                       ":9000", "host:0", "host:65536", "host:", "host:port",
                                       "host:-1", "host:+80", "9000" };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_value_refused("listen", bad[i], NULL);
}

static void test_listen_accepts_unix_path_and_host_port(void)
{
    static const char *const good[] = { "unix:/tmp/x.sock", "[::1]:9000", "127.0.0.1:9000",
                                        "localhost:1", "0.0.0.0:65535" };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct config cfg;

        CU_ASSERT_EQUAL_FATAL(load_value("listen", good[i], &cfg), 0);
        CU_ASSERT_STRING_EQUAL(cfg.listen, good[i]);
        config_free(&cfg);
    }
}

static void test_unix_socket_path_must_fit_sun_path(void)
{
    char value[128];

    /* "unix:" + "/" + 98 x = a 99-byte path: fits with its NUL. */
    memcpy(value, "unix:/", 6);
    memset(value + 6, 'x', 98);
    value[104] = '\0';
    assert_value_ok("listen", value);
    value[104] = 'x';
    value[105] = '\0';
    assert_value_refused("listen", value, "100");
}

static void test_webhooks_root_shape_is_checked(void)
{
    static const char *const bad[] = { "webhook", "/webhook/", "/a//b", "/a/../b", "/", "",
                                       "/a b", "/a?b", "/a%2Fb", "/./a", "/a/.", "//a",
                                       "/a/.hidden", "/a\\b" };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_value_refused("webhooks_root", bad[i], NULL);
}

static void test_webhooks_root_accepts_clean_paths(void)
{
    static const char *const good[] = { "/hooks/portal", "/webhook", "/a", "/a.b/c-d_e",
                                        "/v1/custodian" };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct config cfg;

        CU_ASSERT_EQUAL_FATAL(load_value("webhooks_root", good[i], &cfg), 0);
        CU_ASSERT_STRING_EQUAL(cfg.webhooks_root, good[i]);
        config_free(&cfg);
    }
}

static void test_keyring_must_be_absolute(void)
{
    assert_value_refused("keyring", "keys/ring", "absolute");
    assert_value_refused("keyring", "./ring", "absolute");
    assert_value_refused("keyring", "", "absolute");
    assert_value_ok("keyring", "/etc/sharekeep/other");
}

static void test_empty_database_and_sql_dir_are_refused(void)
{
    assert_value_refused("database", "", NULL);
    assert_value_refused("sql_dir", "", NULL);
}

static void test_log_level_values(void)
{
    static const struct { const char *in; enum log_level want; } good[] = {
        { "debug", LOG_LVL_DEBUG },
        { "info", LOG_LVL_INFO },
        { "warn", LOG_LVL_WARN },
        { "error", LOG_LVL_ERROR },
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct config cfg;

        CU_ASSERT_EQUAL_FATAL(load_value("log_level", good[i].in, &cfg), 0);
        CU_ASSERT_EQUAL(cfg.log_level, good[i].want);
        config_free(&cfg);
    }
    assert_value_refused("log_level", "verbose", "debug");
    assert_value_refused("log_level", "warning", "debug");
    assert_value_refused("log_level", "", "debug");
    assert_value_refused("log_level", "3", "debug");
}

/* ---- files ------------------------------------------------------------ */

static int write_temp(const char *text, char path[64])
{
    int fd;
    size_t n = strlen(text);

    snprintf(path, 64, "/tmp/sharekeep-config-test-XXXXXX");
    fd = mkstemp(path);
    if (fd < 0)
        return -1;
    if (write(fd, text, n) != (ssize_t)n) {
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    return 0;
}

static void test_load_reads_a_file(void)
{
    char path[64];
    struct config cfg;

    CU_ASSERT_EQUAL_FATAL(write_temp("# file\nworkers = 6\nwebhooks_root = /hooks/portal\n",
                                     path), 0);
    CU_ASSERT_EQUAL(config_load(path, NULL, &cfg, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(cfg.workers, 6);
    CU_ASSERT_STRING_EQUAL(cfg.webhooks_root, "/hooks/portal");
    config_free(&cfg);
    unlink(path);
}

static void test_file_error_names_the_path_and_line(void)
{
    char path[64], want[80];
    struct config cfg;

    CU_ASSERT_EQUAL_FATAL(write_temp("workers = 6\nnope = 1\n", path), 0);
    err[0] = '\0';
    assert_failed_and_clean(config_load(path, NULL, &cfg, err, sizeof(err)), &cfg);
    snprintf(want, sizeof(want), "%s:2", path);
    CU_ASSERT_TRUE(err_has(want));
    CU_ASSERT_TRUE(err_has("nope"));
    config_free(&cfg);
    unlink(path);
}

static void test_empty_file_gives_defaults(void)
{
    char path[64];
    struct config cfg;

    CU_ASSERT_EQUAL_FATAL(write_temp("", path), 0);
    CU_ASSERT_EQUAL(config_load(path, NULL, &cfg, err, sizeof(err)), 0);
    assert_defaults(&cfg);
    config_free(&cfg);
    unlink(path);
}

static void test_nonexistent_file_fails_with_path_in_message(void)
{
    static const char path[] = "/nonexistent/sharekeep/test.conf";
    struct config cfg;

    memset(&cfg, 0, sizeof(cfg));
    err[0] = '\0';
    CU_ASSERT_NOT_EQUAL(config_load(path, NULL, &cfg, err, sizeof(err)), 0);
    CU_ASSERT_TRUE(err_has(path));
    CU_ASSERT_TRUE(err_has("config "));
    CU_ASSERT_TRUE(err_has("cannot open"));
    CU_ASSERT_TRUE(err_has(strerror(ENOENT)));
    config_free(&cfg);
}

static void test_directory_is_not_a_config_file(void)
{
    struct config cfg;

    memset(&cfg, 0, sizeof(cfg));
    err[0] = '\0';
    CU_ASSERT_NOT_EQUAL(config_load("/tmp", NULL, &cfg, err, sizeof(err)), 0);
    CU_ASSERT_TRUE(err_has("/tmp"));
    CU_ASSERT_TRUE(err_has("not a regular file"));
    config_free(&cfg);
}

/* A FIFO at the config path is refused at once, not waited on. */
static void test_fifo_is_not_a_config_file(void)
{
    struct config cfg;

    unit_tmp_setup("config");
    CU_ASSERT_EQUAL_FATAL(mkfifo(unit_tmp_path("fifo"), 0644), 0);
    err[0] = '\0';
    assert_failed_and_clean(config_load(unit_tmp_path("fifo"), NULL, &cfg, err, sizeof(err)),
                            &cfg);
    CU_ASSERT_TRUE(err_has("not a regular file"));
    unit_tmp_teardown();
}

/* On disk, CONFIG_FILE_MAX bytes are read and one more is refused. */
static void test_file_over_the_limit_is_refused(void)
{
    size_t n = CONFIG_FILE_MAX + 1;
    char *text = malloc(n), want[64];
    struct config cfg;
    int rc;

    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    memset(text, '\n', n);
    unit_tmp_setup("config");
    err[0] = '\0';
    assert_failed_and_clean(config_load(unit_write_file_n("big", text, n, 0644), NULL, &cfg, err,
                                        sizeof(err)), &cfg);
    snprintf(want, sizeof(want), "over the %u byte limit", CONFIG_FILE_MAX);
    CU_ASSERT_TRUE(err_has(want));
    CU_ASSERT_TRUE(err_has(unit_tmp_path("big")));
    rc = config_load(unit_write_file_n("max", text, n - 1, 0644), NULL, &cfg, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, 0);
    if (rc == 0) {
        assert_defaults(&cfg);
        config_free(&cfg);
    }
    unit_tmp_teardown();
    free(text);
}

/* The config file is not a secret: any mode, any owner, and a symlink (as
 * /etc/sharekeep.conf -> a managed copy) are fine. */
static void test_config_file_needs_no_secret_file_rules(void)
{
    char target[256];
    struct config cfg;

    unit_tmp_setup("config");
    snprintf(target, sizeof(target), "%s", unit_write_file("real", "workers = 5\n", 0666));
    if (geteuid() == 0)
        CU_ASSERT_EQUAL(chown(target, 65534, 65534), 0);
    CU_ASSERT_EQUAL_FATAL(symlink(target, unit_tmp_path("link")), 0);
    CU_ASSERT_EQUAL(config_load(unit_tmp_path("link"), NULL, &cfg, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(cfg.workers, 5);
    config_free(&cfg);
    unit_tmp_teardown();
}

/* config_load_text zeroes *out on every failure, but config_load returns
 * early (file missing, unreadable, not regular, too big) without touching
 * *out, so a caller that did not pre-zero it cannot config_free() it. */
static void test_failed_load_always_leaves_result_freeable(void)
{
    struct config cfg;

    memset(&cfg, 0xa5, sizeof(cfg));
    CU_ASSERT_NOT_EQUAL(config_load("/nonexistent/sharekeep.conf", NULL, &cfg, err,
                                    sizeof(err)), 0);
    CU_ASSERT_PTR_NULL(cfg.listen);
    CU_ASSERT_PTR_NULL(cfg.database);
    CU_ASSERT_PTR_NULL(cfg.keyring);
    CU_ASSERT_PTR_NULL(cfg.webhooks_root);
    CU_ASSERT_PTR_NULL(cfg.sql_dir);
    /* Only free what is now safe to free. */
    if (cfg.listen == NULL && cfg.database == NULL && cfg.keyring == NULL &&
        cfg.webhooks_root == NULL && cfg.sql_dir == NULL)
        config_free(&cfg);
}

static void test_config_free_is_safe_to_repeat(void)
{
    struct config cfg;

    CU_ASSERT_EQUAL_FATAL(load("workers = 2\n", &cfg), 0);
    config_free(&cfg);
    CU_ASSERT_PTR_NULL(cfg.listen);
    config_free(&cfg);
    config_free(NULL);
}

int unit_register(void)
{
    static const struct unit_test file_tests[] = {
        { "defaults when no file", test_defaults_when_no_file },
        { "empty and comment-only files give defaults",
          test_empty_and_comment_only_files_give_defaults },
        { "file with comments, blank lines and whitespace",
          test_file_with_comments_blank_lines_and_whitespace },
        { "CRLF file is read", test_crlf_file_is_read },
        { "later line wins for a repeated key", test_later_line_wins_for_repeated_key },
        { "value keeps text after the first '=' and '#'",
          test_value_keeps_text_after_first_equals_and_hash },
        { "unknown key error names key and line", test_unknown_key_error_names_key_and_line },
        { "key match is exact", test_key_match_is_exact },
        { "missing '=' is an error with its line", test_missing_equals_is_an_error_with_line },
        { "error on a later line frees earlier values",
          test_error_on_later_line_frees_earlier_values },
        { "over-long line is refused", test_over_long_line_is_refused },
        { "NUL byte in a line is refused", test_nul_byte_in_line_is_refused },
        { "oversized file is refused", test_oversized_file_is_refused },
        { NULL, NULL },
    };
    static const struct unit_test env_tests[] = {
        { "env override wins over file", test_env_override_wins_over_file },
        { "env sets every key without a file", test_env_sets_every_key_without_a_file },
        { "unrelated and prefix env names are ignored",
          test_unrelated_and_prefix_env_names_are_ignored },
        { "bad env value is refused naming the variable",
          test_bad_env_value_is_refused_naming_the_variable },
        { "env can repair a file value before validation",
          test_env_can_repair_a_file_value_before_validation },
        { NULL, NULL },
    };
    static const struct unit_test value_tests[] = {
        { "workers out of range or not a number is refused",
          test_workers_out_of_range_or_not_a_number_is_refused },
        { "workers in range is accepted", test_workers_in_range_is_accepted },
        { "max_body outside limits is refused", test_max_body_outside_limits_is_refused },
        { "max_body sizes and k/m suffixes", test_max_body_sizes_and_suffixes },
        { "socket_mode must be octal up to 0777", test_socket_mode_must_be_octal_up_to_0777 },
        { "listen must be unix:/abs or host:port",
          test_listen_must_be_unix_absolute_or_host_port },
        { "listen accepts unix path and host:port", test_listen_accepts_unix_path_and_host_port },
        { "unix socket path must fit sun_path", test_unix_socket_path_must_fit_sun_path },
        { "webhooks_root shape is checked", test_webhooks_root_shape_is_checked },
        { "webhooks_root accepts clean paths", test_webhooks_root_accepts_clean_paths },
        { "keyring must be absolute", test_keyring_must_be_absolute },
        { "empty database and sql_dir are refused", test_empty_database_and_sql_dir_are_refused },
        { "log_level values", test_log_level_values },
        { NULL, NULL },
    };
    static const struct unit_test load_tests[] = {
        { "config_load reads a file", test_load_reads_a_file },
        { "file error names the path and line", test_file_error_names_the_path_and_line },
        { "empty file gives defaults", test_empty_file_gives_defaults },
        { "nonexistent file fails with the path in the message",
          test_nonexistent_file_fails_with_path_in_message },
        { "a directory is not a config file", test_directory_is_not_a_config_file },
        { "a FIFO is not a config file", test_fifo_is_not_a_config_file },
        { "a file over CONFIG_FILE_MAX is refused", test_file_over_the_limit_is_refused },
        { "the config file needs no secret-file rules",
          test_config_file_needs_no_secret_file_rules },
        { "failed config_load always leaves the result freeable",
          test_failed_load_always_leaves_result_freeable },
        { "config_free is safe to repeat", test_config_free_is_safe_to_repeat },
        { NULL, NULL },
    };

    if (unit_add_suite("config: file format", file_tests) != 0 ||
        unit_add_suite("config: environment", env_tests) != 0 ||
        unit_add_suite("config: values", value_tests) != 0)
        return -1;
    return unit_add_suite("config: load", load_tests);
}
