/* bench/cgi/drive: runs a CGI program N times, one process per request as a
 * web server would, and prints each request's wall time in microseconds,
 * from fork to the end of waitpid (what the web server waits for).
 *
 *     drive N STATUS BODY_TEMPLATE PREFIX PROGRAM [ARG...]
 *
 * The request's CGI variables come from drive's own environment; drive sets
 * CONTENT_LENGTH for each body. Each body is BODY_TEMPLATE's bytes with
 * every "@ID@" replaced by PREFIX-i (i = 0..N-1, zero-padded), so every store
 * is a new client's. The body goes in as a file (what mod_cgi's pipe looks
 * like to the program: read() until CONTENT_LENGTH), the response comes
 * back in one; a non-zero exit, or a response whose first line is not
 * "Status: STATUS" (STATUS "-": any), stops the run with exit 1, printing
 * the response. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

int main(int argc, char **argv)
{
    struct timespec t0, t1;
    char id[128], len_s[24], head[64];
    size_t tlen;
    char *tpl;
    int n, in, out, len;

    if (argc < 6 || (n = atoi(argv[1])) <= 0) {
        fprintf(stderr, "usage: drive N STATUS BODY_TEMPLATE PREFIX PROGRAM [ARG...]\n");
        return 2;
    }
    tpl = slurp(argv[3], &tlen);
    in = memfd_create("body", 0);
    out = memfd_create("response", 0);
    if (tpl == NULL || in < 0 || out < 0) {
        perror("drive: setup");
        return 2;
    }
    snprintf(head, sizeof(head), "Status: %s", argv[2]);
    for (int i = 0; i < n; i++) {
        pid_t pid;
        int st;
        ssize_t got;
        char resp[512];

        snprintf(id, sizeof(id), "%s-%06d", argv[4], i);
        if ((len = write_body(in, tpl, id)) < 0 || ftruncate(out, 0) != 0) {
            perror("drive: body");
            return 2;
        }
        snprintf(len_s, sizeof(len_s), "%d", len);
        setenv("CONTENT_LENGTH", len_s, 1);
        lseek(in, 0, SEEK_SET);
        lseek(out, 0, SEEK_SET);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pid = fork();
        if (pid == 0) {
            dup2(in, 0);
            dup2(out, 1);
            execv(argv[5], argv + 5);
            _exit(127);
        }
        if (pid < 0 || waitpid(pid, &st, 0) != pid) {
            perror("drive: fork");
            return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        got = pread(out, resp, sizeof(resp) - 1, 0);
        resp[got > 0 ? got : 0] = '\0';
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
            (strcmp(argv[2], "-") != 0 && strncmp(resp, head, strlen(head)) != 0)) {
            fprintf(stderr, "drive: request %d: exit %d, response:\n%s\n", i,
                    WIFEXITED(st) ? WEXITSTATUS(st) : -1, resp);
            return 1;
        }
        printf("%ld\n", (long)((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000));
    }
    return 0;
}
