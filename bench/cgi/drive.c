/* bench/cgi/drive: runs a CGI program N times, one process per request as a
 * web server would, and prints for each request, in microseconds, two wall
 * times from fork: to the end of its stdout (when a web server has the whole
 * response) and to the end of wait4 (the process's life); then the CPU time
 * (user + system) the process used.
 *
 *     drive N STATUS BODY_TEMPLATE PREFIX PROGRAM [ARG...]
 *
 * The request's CGI variables come from drive's own environment; drive sets
 * CONTENT_LENGTH for each body. Each body is BODY_TEMPLATE's bytes with
 * every "@ID@" replaced by PREFIX-i (i = 0..N-1, zero-padded), so every store
 * is a new client's. The body goes in as a file (read() until
 * CONTENT_LENGTH, as from mod_cgi's pipe), the response comes back on a
 * pipe; a non-zero exit, or a response whose first line is not
 * "Status: STATUS" (STATUS "-": any), stops the run with exit 1, printing
 * the response. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
    *len = (size_t)n;
out:
    if (f != NULL)
        fclose(f);
    return buf;
}

/* The template with each @ID@ replaced by id, into fd (truncated first). */
static int write_body(int fd, const char *tpl, const char *id)
{
    const char *p = tpl, *q;
    FILE *f;

    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0 || (f = fdopen(dup(fd), "wb")) == NULL)
        return -1;
    while ((q = strstr(p, "@ID@")) != NULL) {
        fwrite(p, 1, (size_t)(q - p), f);
        fputs(id, f);
        p = q + 4;
    }
    fputs(p, f);
    if (fclose(f) != 0)
        return -1;
    return (int)lseek(fd, 0, SEEK_END);
}

static long us(const struct timespec *a, const struct timespec *b)
{
    return (long)((b->tv_sec - a->tv_sec) * 1000000L + (b->tv_nsec - a->tv_nsec) / 1000);
}

int main(int argc, char **argv)
{
    struct timespec t0, te, t1;
    char id[128], len_s[24], head[64];
    size_t tlen;
    char *tpl;
    int n, in, len;

    if (argc < 6 || (n = atoi(argv[1])) <= 0) {
        fprintf(stderr, "usage: drive N STATUS BODY_TEMPLATE PREFIX PROGRAM [ARG...]\n");
        return 2;
    }
    tpl = slurp(argv[3], &tlen);
    in = memfd_create("body", 0);
    if (tpl == NULL || in < 0) {
        perror("drive: setup");
        return 2;
    }
    snprintf(head, sizeof(head), "Status: %s", argv[2]);
    for (int i = 0; i < n; i++) {
        pid_t pid;
        int st, fds[2];
        ssize_t got;
        size_t have;
        char resp[512], sink[4096];
        struct rusage ru;

        snprintf(id, sizeof(id), "%s-%06d", argv[4], i);
        if ((len = write_body(in, tpl, id)) < 0) {
            perror("drive: body");
            return 2;
        }
        snprintf(len_s, sizeof(len_s), "%d", len);
        setenv("CONTENT_LENGTH", len_s, 1);
        lseek(in, 0, SEEK_SET);
        if (pipe(fds) != 0) {
            perror("drive: pipe");
            return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pid = fork();
        if (pid == 0) {
            dup2(in, 0);
            dup2(fds[1], 1);
            close(fds[0]);
            close(fds[1]);
            execv(argv[5], argv + 5);
            _exit(127);
        }
        close(fds[1]);
        have = 0;
        while ((got = read(fds[0], have < sizeof(resp) - 1 ? resp + have : sink,
                           have < sizeof(resp) - 1 ? sizeof(resp) - 1 - have : sizeof(sink))) > 0)
            if (have < sizeof(resp) - 1)
                have += (size_t)got;
        clock_gettime(CLOCK_MONOTONIC, &te);
        close(fds[0]);
        resp[have] = '\0';
        if (pid < 0 || wait4(pid, &st, 0, &ru) != pid) {
            perror("drive: fork");
            return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
            (strcmp(argv[2], "-") != 0 && strncmp(resp, head, strlen(head)) != 0)) {
            fprintf(stderr, "drive: request %d: exit %d, response:\n%s\n", i,
                    WIFEXITED(st) ? WEXITSTATUS(st) : -1, resp);
            return 1;
        }
        printf("%ld %ld %ld\n", us(&t0, &te), us(&t0, &t1),
               (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec +
                   ru.ru_stime.tv_usec);
    }
    return 0;
}
