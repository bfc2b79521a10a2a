/* runlog.c: --log FILE, a log of the run for when nobody watches: every line the run writes to
 * stderr (its own messages, the post-run command's), also appended to FILE with a UTC timestamp
 * and a level (error, warning, note, info), as text or (json) one JSON object a line; plus a
 * line when the run starts (its command line) and when it ends (its exit code). stderr is
 * handed to a small child process that copies it to the real stderr and to the log, so every
 * message is in both, even one written just before the process is ended by a budget. A
 * progress line (ended by CR) goes to stderr only. */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "runlog.h"

#define CONTROL '\001' /* a line for the log only */

static pid_t tee_pid = -1;

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, s, n);
        if (k > 0) s += k, n -= (size_t)k;
        else if (k < 0 && errno != EINTR) return;
    }
}

static const char *level_of(const char *line)
{
    if (line[0] == CONTROL) return "info";
    if (!strncmp(line, "defector: error:", 16)) return "error";
    if (!strncmp(line, "defector: warning:", 18)) return "warning";
    if (!strncmp(line, "defector: note:", 15)) return "note";
    return "info";
}

/* One log record for line (NUL-terminated, no newline). */
static void log_line(int fd, int json, const char *line)
{
    char when[32], out[8192];
    time_t now;
    df_error e;
    if (clock_now(&now, &e) != DF_OK) now = time(NULL);
    clock_iso(now, when);
    const char *level = level_of(line), *msg = line[0] == CONTROL ? line + 1 : line;
    size_t n = 0;
    if (!json) {
        n = (size_t)snprintf(out, sizeof out, "%s %-7s %s\n", when, level, msg);
    } else {
        n = (size_t)snprintf(out, sizeof out, "{\"time\": \"%s\", \"level\": \"%s\", \"message\": \"", when, level);
        for (const char *p = msg; *p && n < sizeof out - 16; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == '"' || c == '\\') n += (size_t)snprintf(out + n, sizeof out - n, "\\%c", c);
            else if (c < 0x20) n += (size_t)snprintf(out + n, sizeof out - n, "\\u%04x", c);
            else out[n++] = (char)c;
        }
        n += (size_t)snprintf(out + n, sizeof out - n, "\"}\n");
    }
    write_all(fd, out, n < sizeof out ? n : sizeof out - 1);
}

/* The child: copies in to err_fd, and each whole line to log_fd, until every writer is gone. */
static _Noreturn void tee(int in, int err_fd, int log_fd, int json)
{
    char buf[4096], line[4096];
    size_t len = 0;
    ssize_t k;
    while ((k = read(in, buf, sizeof buf)) != 0) {
        if (k < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (ssize_t i = 0; i < k; i++) {
            char c = buf[i];
            if (c == '\n' || c == '\r') {
                line[len] = 0;
                if (c == '\n' && len) log_line(log_fd, json, line);
                if (line[0] != CONTROL || !len) write_all(err_fd, line, len), write_all(err_fd, &c, 1);
                len = 0;
            } else if (len < sizeof line - 1) {
                line[len++] = c;
            }
        }
    }
    if (len) line[len] = 0, log_line(log_fd, json, line), write_all(err_fd, line, len);
    fsync(log_fd);
    _exit(0);
}

df_status runlog_start(const char *path, int json, int argc, char **argv, df_error *err)
{
    int log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640), p[2];
    if (log_fd < 0) return DF_FAIL(err, DF_ERR_OUTPUT, path, "cannot open the log file: %s; check --log", strerror(errno));
    if (pipe(p) != 0) return close(log_fd), DF_FAIL(err, DF_ERR_OUTPUT, path, "cannot start the log: %s", strerror(errno));
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return close(log_fd), close(p[0]), close(p[1]), DF_FAIL(err, DF_ERR_OUTPUT, path, "cannot start the log: %s", strerror(errno));
    if (pid == 0) {
        close(p[1]);
        signal(SIGINT, SIG_IGN), signal(SIGTERM, SIG_IGN); /* ends with its writers, after their last words */
        int err_fd = dup(2);
        close(2);
        tee(p[0], err_fd, log_fd, json);
    }
    close(p[0]), close(log_fd);
    signal(SIGPIPE, SIG_IGN); /* a log process that was killed loses the messages, not the run */
    dup2(p[1], 2);
    close(p[1]);
    tee_pid = pid;
    char start[2048];
    size_t n = (size_t)snprintf(start, sizeof start, "%crun started (pid %ld):", CONTROL, (long)getpid());
    for (int i = 0; i < argc && n < sizeof start - 2; i++) n += (size_t)snprintf(start + n, sizeof start - n, " %s", argv[i]);
    if (n > sizeof start - 2) n = sizeof start - 2;
    start[n++] = '\n';
    write_all(2, start, n);
    return DF_OK;
}

void runlog_end(int rc, const char *status)
{
    if (tee_pid < 0) return;
    fprintf(stderr, "%crun finished: exit code %d (%s)\n", CONTROL, rc, status);
    fflush(stderr);
    close(2);
    for (int i = 0; i < 100; i++) { /* at most 10 s: a daemon the post-run command left may hold the pipe */
        if (waitpid(tee_pid, NULL, WNOHANG) != 0) break;
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    tee_pid = -1;
}
