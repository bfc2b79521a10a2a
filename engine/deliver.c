/* deliver.c: --on-success CMD, the hand-over of a night's results (a copy to a file share, a
 * mail): run by /bin/sh after the outputs are committed, only then, while the run still holds
 * the output folder's lock (the next run cannot replace the files being sent). The command gets
 * the output folder as $1 and in DEFECTOR_OUT (an absolute path), the as-of date in
 * DEFECTOR_AS_OF and the rule file in DEFECTOR_RULES; its output (stdout too) goes to the run's
 * stderr, so into --log as well. A
 * command that fails (exit status not 0, or killed) fails the run with DF_ERR_DELIVERY: the
 * outputs stay committed. */
#define _DEFAULT_SOURCE /* realpath */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deliver.h"

df_status deliver_run(const char *cmd, const char *out_dir, const char *as_of, const char *rules, int *rc, df_error *err)
{
    char abs[PATH_MAX];
    if (!realpath(out_dir, abs)) snprintf(abs, sizeof abs, "%s", out_dir);
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return DF_FAIL(err, DF_ERR_DELIVERY, "--on-success", "cannot start the command: %s", strerror(errno));
    if (pid == 0) {
        setenv("DEFECTOR_OUT", abs, 1);
        setenv("DEFECTOR_AS_OF", as_of, 1);
        setenv("DEFECTOR_RULES", rules ? rules : "", 1);
        dup2(2, 1); /* what it prints goes where the run's messages go (--log, cron's mail, the journal) */
        execl("/bin/sh", "sh", "-c", cmd, "defector-on-success", abs, (char *)NULL);
        _exit(127);
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR) return DF_FAIL(err, DF_ERR_DELIVERY, "--on-success", "cannot wait for the command: %s", strerror(errno));
    *rc = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    if (*rc == 0) return DF_OK;
    if (WIFSIGNALED(ws))
        return DF_FAIL(err, DF_ERR_DELIVERY, "--on-success", "the command was killed by signal %d; the outputs in %s are committed: hand them on by hand, or run again", WTERMSIG(ws), out_dir);
    return DF_FAIL(err, DF_ERR_DELIVERY, "--on-success",
                   "the command failed with exit status %d%s; the outputs in %s are committed: hand them on by hand, or fix the command and run again",
                   *rc, *rc == 127 ? " (command not found?)" : "", out_dir);
}
