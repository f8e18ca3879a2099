/* proc.h: running programs from the suites (test/proc.c). */
#ifndef KS_TEST_PROC_H
#define KS_TEST_PROC_H

#include "util.h"

#include <sys/types.h>

/* A finished command: its wait status (-1: killed on timeout) and what it
 * wrote, NUL-terminated; kt_cmd_out_free() frees. */
struct kt_cmd_out {
	int status;
	char *out, *err;
	size_t out_len, err_len;
};

/* Children are registered so that kt_children_kill() can reap them. */
void kt_child_add(pid_t pid);
void kt_child_forget(pid_t pid);
/* Kills and reaps whatever a failed test left running. */
void kt_children_kill(void);
/* Waits up to timeout_ms for pid; its wait status, or -1 after killing it. */
int kt_child_wait(pid_t pid, int timeout_ms);
/* Where PATH finds prog (or prog itself if it has a slash); free(). */
char *kt_find_program(const char *prog);
/*
 * Starts argv[0] (PATH searched) with fds 0, 1, 2 from in, out, err, and
 * registers it. The child dies with this process (PR_SET_PDEATHSIG).
 */
pid_t kt_spawn(char *const argv[], int in, int out, int err);
/* Appends p[0..n) to the malloc'd NUL-terminated *b of *len bytes. */
void kt_buf_add(char **b, size_t *len, const char *p, size_t n);
void kt_cmd_out_free(struct kt_cmd_out *o);
/* Exited with status 0. */
int kt_cmd_ok(const struct kt_cmd_out *o);
/* The exit status, or -1 if it did not exit (killed, timed out). */
int kt_cmd_exit(const struct kt_cmd_out *o);
/* Runs argv with in (may be NULL) as stdin, collecting stdout and stderr,
 * for at most timeout_ms (then SIGKILL). */
void kt_run_cmd(char *const argv[], const char *in, int timeout_ms,
    struct kt_cmd_out *o);
/* The directory this test binary is in (build/rel/test); free(). */
char *kt_exe_dir(void);
/*
 * A program built next to the tests, "<kt_exe_dir()>/../name" (kstream,
 * kstream-broker), asserted executable; free().
 */
char *kt_program(const char *name);
/*
 * Starts the kstream-broker program bin on store sdir, listening on
 * tcp://127.0.0.1:0, its output going to logpath; waits for it to say
 * where it listens and sets *portp.
 */
pid_t kt_broker_start(const char *bin, const char *sdir, const char *logpath,
    int *portp);
/*
 * The same with --metrics http://127.0.0.1:0/metrics; also waits for the
 * metrics URL it says it serves and copies it into mu[mulen].
 */
pid_t kt_broker_start_metrics(const char *bin, const char *sdir,
    const char *logpath, int *portp, char *mu, size_t mulen);

#endif /* KS_TEST_PROC_H */
