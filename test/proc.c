/*
 * proc.c: child processes for the suites that run programs as a user
 * would (kcat, kstream-broker, the kstream tool): start under a deadline,
 * collect output, reap, and kill whatever a failed test left running.
 */
#define _GNU_SOURCE
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CHILDREN 8
static pid_t children[MAX_CHILDREN];

void kt_child_add(pid_t pid)
{
	int i;
	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == 0) {
			children[i] = pid;
			return;
		}
	kill(pid, SIGKILL);
	ck_abort_msg("too many children");
}

void kt_child_forget(pid_t pid)
{
	int i;
	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
}

/* Kills and reaps whatever a failed test left running. */
void kt_children_kill(void)
{
	int i;
	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
}

/*
 * Waits up to timeout_ms for pid to exit; returns its wait status, or -1
 * after killing it on timeout.
 */
int kt_child_wait(pid_t pid, int timeout_ms)
{
	int64_t deadline = kt_now_ns() + (int64_t)timeout_ms * 1000000;
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			kt_child_forget(pid);
			return status;
		}
		if (r < 0 && errno != EINTR) {
			kt_child_forget(pid);
			return -1;
		}
		if (kt_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			kt_child_forget(pid);
			return -1;
		}
		usleep(10000);
	}
}

/* Where PATH finds prog (or prog itself if it has a slash); free(). */
char *kt_find_program(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy, *d, *save = NULL, *full = NULL;

	if (strchr(prog, '/'))
		return strdup(prog);
	copy = strdup(path && *path ? path : "/usr/bin:/bin");
	for (d = strtok_r(copy, ":", &save); d;
	    d = strtok_r(NULL, ":", &save)) {
		ck_assert_int_ge(asprintf(&full, "%s/%s", d, prog), 0);
		if (access(full, X_OK) == 0)
			break;
		free(full);
		full = NULL;
	}
	free(copy);
	ck_assert_msg(full != NULL, "%s not found in PATH", prog);
	return full;
}

/*
 * Starts argv[0] (PATH searched) with fds 0, 1, 2 from in, out, err, and
 * registers it as a child. The child dies with this process
 * (PR_SET_PDEATHSIG), so a test killed by Check's timeout leaves nothing
 * behind.
 */
pid_t kt_spawn(char *const argv[], int in, int out, int err)
{
	char *bin = kt_find_program(argv[0]);
	pid_t parent = getpid(), pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* only async-signal-safe calls from here to exec */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(127);
		execv(bin, argv);
		_exit(127);
	}
	free(bin);
	kt_child_add(pid);
	return pid;
}


void kt_cmd_out_free(struct kt_cmd_out *o)
{
	free(o->out);
	free(o->err);
	memset(o, 0, sizeof *o);
}

int kt_cmd_ok(const struct kt_cmd_out *o)
{
	return kt_cmd_exit(o) == 0;
}

int kt_cmd_exit(const struct kt_cmd_out *o)
{
	return o->status >= 0 && WIFEXITED(o->status) ?
	    WEXITSTATUS(o->status) : -1;
}

void kt_buf_add(char **b, size_t *len, const char *p, size_t n)
{
	*b = realloc(*b, *len + n + 1);
	ck_assert_ptr_nonnull(*b);
	memcpy(*b + *len, p, n);
	*len += n;
	(*b)[*len] = '\0';
}

/*
 * Runs argv (PATH searched) with in as its stdin, collecting stdout and
 * stderr, for at most timeout_ms (then SIGKILL).
 */
void kt_run_cmd(char *const argv[], const char *in, int timeout_ms,
    struct kt_cmd_out *o)
{
	int pin[2], pout[2], perr[2];
	size_t in_len = in ? strlen(in) : 0, in_off = 0;
	int64_t deadline = kt_now_ns() + (int64_t)timeout_ms * 1000000;
	pid_t pid;
	int rc, killed = 0;

	memset(o, 0, sizeof *o);
	kt_buf_add(&o->out, &o->out_len, "", 0);
	kt_buf_add(&o->err, &o->err_len, "", 0);
	ck_assert_int_eq(pipe2(pin, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(pout, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(perr, O_CLOEXEC), 0);
	pid = kt_spawn(argv, pin[0], pout[1], perr[1]);
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	fcntl(pin[1], F_SETFL, O_NONBLOCK);
	if (in_len == 0) {
		close(pin[1]);
		pin[1] = -1;
	}

	while (pout[0] >= 0 || perr[0] >= 0) {
		struct pollfd pf[3] = {
			{ .fd = pout[0], .events = POLLIN },
			{ .fd = perr[0], .events = POLLIN },
			{ .fd = pin[1], .events = POLLOUT },
		};
		int64_t left = (deadline - kt_now_ns()) / 1000000;
		char b[4096];
		ssize_t k;
		int i;

		if (left <= 0) {
			kill(pid, SIGKILL);
			killed = 1;
			break;
		}
		rc = poll(pf, 3, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		ck_assert_int_ge(rc, 0);
		for (i = 0; i < 2; i++) {
			int *fd = i == 0 ? &pout[0] : &perr[0];
			if (*fd < 0 || !pf[i].revents)
				continue;
			k = read(*fd, b, sizeof b);
			if (k > 0) {
				if (i == 0)
					kt_buf_add(&o->out, &o->out_len, b,
					    (size_t)k);
				else
					kt_buf_add(&o->err, &o->err_len, b,
					    (size_t)k);
			} else if (k == 0 || errno != EINTR) {
				close(*fd);
				*fd = -1;
			}
		}
		if (pin[1] >= 0 && pf[2].revents) {
			k = write(pin[1], in + in_off, in_len - in_off);
			if (k > 0)
				in_off += (size_t)k;
			if ((k < 0 && errno != EAGAIN && errno != EINTR) ||
			    in_off == in_len) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
	}
	if (pin[1] >= 0)
		close(pin[1]);
	if (pout[0] >= 0)
		close(pout[0]);
	if (perr[0] >= 0)
		close(perr[0]);
	o->status = kt_child_wait(pid, killed ? 1000 : timeout_ms);
	if (killed)
		o->status = -1;
}

/* The directory this test binary is in (build/rel/test). */
char *kt_exe_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	return strdup(dirname(buf));
}

/* <the test binary's directory>/../name, which must be executable. */
char *kt_program(const char *name)
{
	char *ed = kt_exe_dir(), *bin;

	ck_assert_int_ge(asprintf(&bin, "%s/../%s", ed, name), 0);
	ck_assert_msg(access(bin, X_OK) == 0, "%s is not built", bin);
	free(ed);
	return bin;
}

/* ---- the kstream-broker program ------------------------------------------ */

#define LISTENING "listening on tcp://127.0.0.1:"
#define METRICS_ON "metrics on "

/*
 * Starts the program bin on store directory sdir, its output going to
 * logpath; waits for "listening on tcp://127.0.0.1:PORT" and sets *portp.
 * With mu, it also serves metrics (--metrics) and the URL it says it
 * serves them on goes to mu[mulen].
 */
static pid_t broker_start(const char *bin, const char *sdir,
    const char *logpath, int *portp, char *mu, size_t mulen)
{
	char *argv[] = { (char *)bin, "--dir", (char *)sdir, "--listen",
		"tcp://127.0.0.1:0", mu ? "--metrics" : NULL,
		"http://127.0.0.1:0/metrics", NULL };
	int64_t deadline = kt_now_ns() + 30 * (int64_t)1000000000;
	int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int out = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	pid_t pid;

	ck_assert(in >= 0 && out >= 0);
	pid = kt_spawn(argv, in, out, out);
	close(in);
	close(out);

	for (;;) {
		char buf[8192];
		const char *l, *ml = NULL, *e = NULL;
		FILE *f = fopen(logpath, "r");
		size_t n = 0;
		int status;
		if (f) {
			n = fread(buf, 1, sizeof buf - 1, f);
			fclose(f);
		}
		buf[n] = '\0';
		l = strstr(buf, LISTENING);
		if (mu && (ml = strstr(buf, METRICS_ON)) != NULL)
			e = strchr(ml, '\n');
		if (l && strchr(l, '\n') && (!mu || e)) {
			*portp = atoi(l + strlen(LISTENING));
			ck_assert_int_gt(*portp, 0);
			if (mu) {
				ml += strlen(METRICS_ON);
				ck_assert_uint_lt((size_t)(e - ml), mulen);
				memcpy(mu, ml, (size_t)(e - ml));
				mu[e - ml] = '\0';
			}
			return pid;
		}
		ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0,
		    "kstream-broker exited early:\n%s", buf);
		ck_assert_msg(kt_now_ns() < deadline, "kstream-broker never "
		    "said where it listens:\n%s", buf);
		usleep(20000);
	}
}

pid_t kt_broker_start(const char *bin, const char *sdir,
    const char *logpath, int *portp)
{
	return broker_start(bin, sdir, logpath, portp, NULL, 0);
}

pid_t kt_broker_start_metrics(const char *bin, const char *sdir,
    const char *logpath, int *portp, char *mu, size_t mulen)
{
	return broker_start(bin, sdir, logpath, portp, mu, mulen);
}
