#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <fcgiapp.h>

#include "app.h"
#include "keyring.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

extern char **environ;

#define LISTEN_BACKLOG 1024
/* After SIGTERM, workers get this long to finish in-flight requests. */
#define STOP_GRACE_SECONDS 30
/* A worker that dies sooner than this after start is crash-looping. */
#define CRASH_WINDOW_SECONDS 2

static volatile sig_atomic_t got_term, got_hup, got_chld;

static void on_signal(int sig)
{
    if (sig == SIGTERM || sig == SIGINT)
        got_term = 1;
    else if (sig == SIGHUP)
        got_hup = 1;
    else if (sig == SIGCHLD)
        got_chld = 1;
}

/* No SA_RESTART: a worker blocked in accept() must wake up to stop. */
static void install(int sig, void (*fn)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static int fd_is_socket(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* A listening socket (spawn-fcgi, systemd), as opposed to a connected one:
 * mod_cgid hands a CGI program its client connection, a connected unix
 * socket, as stdin. */
static int fd_is_listener(int fd)
{
    int on = 0;
    socklen_t len = sizeof(on);

    return fd_is_socket(fd) && getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

int server_is_cgi(void)
{
    return getenv("GATEWAY_INTERFACE") != NULL && !fd_is_listener(STDIN_FILENO);
}

/* systemd socket activation hands the socket over as fd 3. */
static int inherited_socket(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

    if (pid != NULL && fds != NULL && atol(pid) == (long)getpid() && atoi(fds) >= 1 &&
        fd_is_listener(3))
        return 3;
    if (fd_is_listener(STDIN_FILENO))   /* spawn-fcgi */
        return STDIN_FILENO;
    return -1;
}

static int open_unix(const char *path, unsigned mode)
{
    struct sockaddr_un sa;
    struct stat st;
    int fd = -1;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path))
        goto fail;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* A stale socket from an unclean stop is replaced; any other file is not. */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            log_error("listen path exists and is not a socket", "path=%s", path);
            goto fail;
        }
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        chmod(path, mode) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        log_error("cannot listen", "path=%s error=\"%s\"", path, strerror(errno));
        goto fail;
    }
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    return -1;
}

static int open_tcp(const char *spec)
{
    struct addrinfo hints, *res = NULL, *ai;
    char host[256];
    const char *colon = strrchr(spec, ':');
    size_t hlen = (size_t)(colon - spec);
    int fd = -1, one = 1, rc;

    if (hlen >= sizeof(host))
        return -1;
    memcpy(host, spec, hlen);
    host[hlen] = '\0';
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
    if (rc != 0) {
        log_error("cannot resolve listen address", "listen=%s error=\"%s\"", spec,
                  gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0)
            break;
        close(fd);
        fd = -1;
    }
    if (fd < 0)
        log_error("cannot listen", "listen=%s error=\"%s\"", spec, strerror(errno));
    freeaddrinfo(res);
    return fd;
}

static int open_listener(const struct config *cfg)
{
    if (strncmp(cfg->listen, "unix:", 5) == 0)
        return open_unix(cfg->listen + 5, cfg->socket_mode);
    return open_tcp(cfg->listen);
}

/* ---- transport adapters -------------------------------------------------- */

static ssize_t fcgx_read(void *ctx, void *buf, size_t n)
{
    FCGX_Request *r = ctx;
    int want = n > (size_t)INT32_MAX ? INT32_MAX : (int)n;
    int got = FCGX_GetStr(buf, want, r->in);

    if (got == 0 && FCGX_GetError(r->in) != 0)
        return -1;
    return got;
}

static int fcgx_write(void *ctx, const void *buf, size_t n)
{
    FCGX_Request *r = ctx;

    return n <= (size_t)INT32_MAX && FCGX_PutStr(buf, (int)n, r->out) == (int)n ? 0 : -1;
}

static ssize_t stdio_read(void *ctx, void *buf, size_t n)
{
    ssize_t r;

    do {
        r = read(STDIN_FILENO, buf, n);
    } while (r < 0 && errno == EINTR);
    return r;
}

static int stdio_write(void *ctx, const void *buf, size_t n)
{
    return fwrite(buf, 1, n, stdout) == n ? 0 : -1;
}

/* The FastCGI peer: the web server that connected to us. */
static void peer_name(int fd, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    out[0] = '\0';
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return;
    if (ss.ss_family == AF_UNIX)
        snprintf(out, len, "unix");
    else if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)len);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)len);
}

/* ---- worker -------------------------------------------------------------- */

/* A worker leaves through _exit(), which skips atexit handlers, and gcov
 * writes its counts from one: a coverage build dumps them first. */
#ifdef SHAREKEEP_COVERAGE
void __gcov_dump(void);
#endif
static _Noreturn void worker_exit(int code)
{
#ifdef SHAREKEEP_COVERAGE
    __gcov_dump();
#endif
    _exit(code);
}

static void worker_main(int listen_fd, const struct app_loaded *l)
{
    const struct config *cfg = &l->cfg;
    struct app app = { cfg, l->kr, l->auth, NULL };
    char peer[64];
    FCGX_Request req;
    struct http_io io = { fcgx_read, fcgx_write, &req };
    sigset_t none;
    int code = 0;

#ifdef __linux__
    /* If the master is killed outright, workers must not linger on the socket. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    install(SIGTERM, on_signal);
    install(SIGINT, on_signal);
    install(SIGHUP, SIG_IGN);
    install(SIGCHLD, SIG_DFL);
    install(SIGPIPE, SIG_IGN);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (getppid() == 1)
        worker_exit(0);

    if (store_new(cfg->database, &app.store) != STORE_OK) {
        log_error("worker cannot allocate store");
        worker_exit(1);
    }
    store_set_timeout(app.store, cfg->request_timeout * 1000);
    /* This process's own token session (PKCS#11 sessions do not survive
     * fork); a token that is down is retried on each request. */
    keyring_connect(l->kr, store_now_ms() + cfg->request_timeout * 1000LL);
    /* Connect up front so the first request does not pay for it; a database
     * that is down now is retried on each request. */
    store_set_deadline(app.store, store_now_ms() + cfg->request_timeout * 1000LL);
    (void)store_ping(app.store);

    if (FCGX_InitRequest(&req, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
        log_error("FCGX_InitRequest failed");
        worker_exit(1);
    }
    while (!got_term) {
        int rc = FCGX_Accept_r(&req);

        if (rc < 0) {
            if (got_term)
                break;
            if (errno == EINTR)
                continue;
            log_error("accept failed", "rc=%d error=\"%s\"", rc, strerror(errno));
            code = 1;
            break;
        }
        peer_name(req.ipcFd, peer, sizeof(peer));
        (void)app_handle(&app, req.envp, &io, peer);
        FCGX_Finish_r(&req);
        if (keyring_wedged(l->kr)) {
            /* Its token thread is stuck inside the PKCS#11 module; the
             * master starts a worker that connects afresh. */
            log_error("worker leaves: its token connection is stuck");
            code = 1;
            break;
        }
    }
    FCGX_Free(&req, 0);
    store_free(app.store);
    worker_exit(code);
}

/* ---- master -------------------------------------------------------------- */

struct slot {
    pid_t pid;
    time_t started;
};

/* Every live child, current or from before a reload, so a stop can wait for
 * (and if need be kill) exactly our own workers. */
#define KIDS_MAX (WORKERS_MAX * 4)
static pid_t kids[KIDS_MAX];

static int kid_add(pid_t pid)
{
    for (int i = 0; i < KIDS_MAX; i++)
        if (kids[i] == 0) {
            kids[i] = pid;
            return 1;
        }
    return 0;
}

static void kid_del(pid_t pid)
{
    for (int i = 0; i < KIDS_MAX; i++)
        if (kids[i] == pid)
            kids[i] = 0;
}

static void kids_signal(int sig)
{
    for (int i = 0; i < KIDS_MAX; i++)
        if (kids[i] > 0)
            kill(kids[i], sig);
}

static pid_t spawn(int listen_fd, const struct app_loaded *l)
{
    pid_t pid = fork();

    if (pid == 0)
        worker_main(listen_fd, l);
    if (pid < 0)
        log_error("fork failed", "error=\"%s\"", strerror(errno));
    else
        kid_add(pid);
    return pid;
}

static int reload(const char *config_path, struct app_loaded *l)
{
    struct app_loaded n;
    char err[512];
    char *keep_listen;

    if (app_load(config_path, &n, err, sizeof(err)) != 0) {
        log_error("reload refused; keeping the running config", "error=\"%s\"", err);
        return -1;
    }
    /* The socket stays: a new listen address needs a restart. */
    if (strcmp(n.cfg.listen, l->cfg.listen) != 0)
        log_warn("listen address change needs a restart", "kept=%s", l->cfg.listen);
    keep_listen = l->cfg.listen;
    l->cfg.listen = n.cfg.listen;
    n.cfg.listen = keep_listen;
    app_loaded_free(l);
    *l = n;
    return 0;
}

/* The master's view of its workers. */
struct master {
    struct slot slots[WORKERS_MAX];
    int nslots;          /* the config's workers */
    int live;            /* children not yet reaped, any generation */
    int listen_fd;
    struct app_loaded *l;
};

/* Starts a worker in slot i. */
static void fill(struct master *m, int i)
{
    m->slots[i].pid = spawn(m->listen_fd, m->l);
    m->slots[i].started = time(NULL);
    if (m->slots[i].pid > 0)
        m->live++;
}

/* Signals are handled between sigsuspend() calls only: blocked otherwise,
 * so the flags are never read half-set. *orig gets the mask to wait with. */
static void take_signals(sigset_t *orig)
{
    static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
    sigset_t block;

    sigemptyset(&block);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&block, sigs[i]);
    sigprocmask(SIG_BLOCK, &block, orig);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        install(sigs[i], on_signal);
    install(SIGPIPE, SIG_IGN);
}

/* Reaps exited children and replaces the current generation's, slowly when
 * one dies right after starting (a crash loop must not spin). */
static void reap(struct master *m)
{
    pid_t pid;
    int wst;

    while ((pid = waitpid(-1, &wst, WNOHANG)) > 0) {
        m->live--;
        kid_del(pid);
        for (int i = 0; i < m->nslots; i++) {
            if (m->slots[i].pid != pid)
                continue;
            m->slots[i].pid = 0;
            if (got_term)
                break;
            metrics_worker_restart();
            log_warn("worker exited; replacing", "worker_pid=%ld %s=%d", (long)pid,
                     WIFSIGNALED(wst) ? "signal" : "status",
                     WIFSIGNALED(wst) ? WTERMSIG(wst) : WEXITSTATUS(wst));
            if (time(NULL) - m->slots[i].started < CRASH_WINDOW_SECONDS)
                sleep(1);
            fill(m, i);
        }
    }
    got_chld = 0;
}

/* SIGHUP: a config that loads replaces every worker; old ones finish their
 * in-flight request, then exit. A bad one is refused and nothing changes. */
static void reload_workers(struct master *m, const char *config_path)
{
    if (reload(config_path, m->l) != 0)
        return;
    for (int i = 0; i < m->nslots; i++)
        if (m->slots[i].pid > 0)
            kill(m->slots[i].pid, SIGTERM);
    for (int i = 0; i < WORKERS_MAX; i++)
        m->slots[i].pid = 0;
    m->nslots = m->l->cfg.workers;
    for (int i = 0; i < m->nslots; i++)
        fill(m, i);
    log_info("reloaded", "workers=%d", m->nslots);
}

/* SIGTERM to every child of every generation, then up to
 * STOP_GRACE_SECONDS for their in-flight requests, then SIGKILL. */
static void stop_workers(struct master *m, const sigset_t *orig)
{
    time_t deadline = time(NULL) + STOP_GRACE_SECONDS;

    log_info("stopping", "workers=%d", m->live);
    kids_signal(SIGTERM);
    signal(SIGCHLD, SIG_DFL);
    sigprocmask(SIG_SETMASK, orig, NULL);
    while (m->live > 0) {
        pid_t pid = waitpid(-1, NULL, WNOHANG);

        if (pid > 0) {
            m->live--;
            kid_del(pid);
            continue;
        }
        if (pid < 0 && errno == ECHILD)
            break;
        if (time(NULL) >= deadline) {
            log_warn("grace period over; killing workers", "left=%d", m->live);
            kids_signal(SIGKILL);
            deadline = time(NULL) + STOP_GRACE_SECONDS;
        }
        usleep(20000);
    }
}

int server_run(const char *config_path, struct app_loaded *l)
{
    struct master *m = calloc(1, sizeof(*m));
    int exit_code = 1, inherited = inherited_socket();
    sigset_t orig;

    if (m == NULL)
        goto out;
    m->l = l;
    m->listen_fd = inherited >= 0 ? inherited : open_listener(&l->cfg);
    if (m->listen_fd < 0)
        goto out;
    if (metrics_init() != 0)
        log_warn("metrics disabled: shared memory unavailable", "error=\"%s\"", strerror(errno));
    if (FCGX_Init() != 0) {
        log_error("FCGX_Init failed");
        goto out;
    }
    take_signals(&orig);
    m->nslots = l->cfg.workers;
    for (int i = 0; i < m->nslots; i++)
        fill(m, i);
    log_info("started", "workers=%d listen=%s", m->nslots,
             inherited >= 0 ? "inherited" : l->cfg.listen);
    while (!got_term) {
        sigsuspend(&orig);
        reap(m);
        if (got_hup && !got_term) {
            got_hup = 0;
            reload_workers(m, config_path);
        }
    }
    stop_workers(m, &orig);
    if (inherited < 0 && strncmp(l->cfg.listen, "unix:", 5) == 0)
        unlink(l->cfg.listen + 5);
    log_info("stopped");
    exit_code = 0;
out:
    if (m != NULL && m->listen_fd >= 0 && inherited < 0)
        close(m->listen_fd);
    free(m);
    app_loaded_free(l);
    return exit_code;
}

/* Whether this CGI request's route writes an audit row, whatever its
 * outcome: then it will use the database, and connecting can start before
 * the key files are read. Anything else (404, 405, /healthz, /metrics)
 * connects when, and if, it gets there. */
static int cgi_audited(const struct config *cfg)
{
    extern char **environ;
    char path[PATH_MAX_LEN + 1];
    struct route_match m;
    const char *allow, *method = getenv("REQUEST_METHOD");

    return method != NULL && http_request_path(environ, path) == 0 &&
           router_match(cfg->webhooks_root, method, path, &m, &allow) == 0 &&
           m.route->audit == ROUTE_AUDIT_ALL;
}

_Noreturn void server_run_cgi(const char *config_path)
{
    struct app_loaded l;
    struct app app = { &l.cfg, NULL, NULL, NULL };
    struct http_io io = { stdio_read, stdio_write, NULL };
    char err[512];
    int status, rc = 1;

    if (app_load_config(config_path, &l, err, sizeof(err)) != 0)
        goto misconfigured;
    log_set_level(l.cfg.log_level);
    if (store_new(l.cfg.database, &app.store) != STORE_OK)
        goto out;
    store_set_timeout(app.store, l.cfg.request_timeout * 1000);
    /* One request, then exit: nothing is worth preparing. */
    store_set_one_shot(app.store);
    /* The server's side of a connect (a backend forked and started) runs
     * while this process reads its keys, the body, and seals. */
    if (cgi_audited(&l.cfg))
        store_connect_start(app.store);
    if (app_load_keys(&l, err, sizeof(err)) != 0)
        goto misconfigured;
    app.kr = l.kr;
    app.auth = l.auth;
    /* The web server that ran us is the peer; it speaks for itself. */
    status = app_handle(&app, environ, &io, "cgi");
    rc = status < 0 ? 1 : 0;
    goto sent;
misconfigured:
    fprintf(stderr, "sharekeep: %s\n", err);
    fputs("Status: 503 Service Unavailable\r\nContent-Type: application/json\r\n"
          "Cache-Control: no-store\r\nRetry-After: 30\r\n\r\n"
          "{\"error\":{\"code\":\"unavailable\",\"message\":\"misconfigured\"}}", stdout);
sent:
    /* The end of stdout is the end of the response: the web server can
     * finish it while this process closes its connection and wipes its
     * keys. */
    if (fclose(stdout) != 0)
        rc = 1;
out:
    store_free(app.store);
    app_loaded_free(&l);
    /* Every buffer that held a key, a secret or a share has been wiped and
     * freed, and stdout closed: what exit() would add (OpenSSL's and libc's
     * teardown) only frees memory that the kernel takes back. */
    worker_exit(rc);
}
