/* check_wait.c: waking readers: ks_log_wait and watchers. */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;

static void setup(void)
{
	dir = kt_tmpdir("wait");
}

static void teardown(void)
{
	kt_rmrf(dir);
	free(dir);
}

static ks_log_t *open_new(const char *name, ks_log_config_t *cfg)
{
	char *p = kt_path(dir, name);
	ks_log_t *log = NULL;
	ks_log_config_init(cfg);
	cfg->flags = KS_LOG_CREATE;
	KT_OK(ks_log_open(p, cfg, &log));
	free(p);
	return log;
}

static void append_one(ks_log_t *log)
{
	ks_record_t r = { .value = "v", .value_len = 1, .timestamp = -1 };
	KT_OK(ks_log_append(log, &r, 1, NULL));
}

struct later {
	ks_log_t *log;
	int delay_ms;
	int count;
};

static void *append_later(void *arg)
{
	struct later *l = arg;
	int i;
	for (i = 0; i < l->count; i++) {
		usleep((useconds_t)l->delay_ms * 1000);
		append_one(l->log);
	}
	return NULL;
}

START_TEST(wait_for_records)
{
	ks_log_config_t cfg;
	ks_log_t *log = open_new("w", &cfg);
	struct later l = { log, 50, 3 };
	pthread_t t;

	ck_assert_int_eq(ks_log_wait(NULL, 0, 0), KS_EINVAL);
	/* nothing at offset 0 yet */
	ck_assert_int_eq(ks_log_wait(log, 0, 0), KS_ETIMEDOUT);
	ck_assert_int_eq(ks_log_wait(log, 0, 30), KS_ETIMEDOUT);
	append_one(log);
	ck_assert_int_eq(ks_log_wait(log, 0, 0), 0);
	/* woken by appends from another thread, with and without a limit */
	ck_assert_int_eq(pthread_create(&t, NULL, append_later, &l), 0);
	ck_assert_int_eq(ks_log_wait(log, 1, -1), 0);
	ck_assert_int_ge(ks_log_end_offset(log), 2);
	ck_assert_int_eq(ks_log_wait(log, 3, 10000), 0);
	ck_assert_int_eq(ks_log_end_offset(log), 4);
	pthread_join(t, NULL);
	KT_OK(ks_log_close(log));
}
END_TEST

struct counter {
	int calls;
	int efd;
};

static void count_wake(void *arg)
{
	struct counter *c = arg;
	__atomic_add_fetch(&c->calls, 1, __ATOMIC_RELAXED);
}

static void eventfd_wake(void *arg)
{
	struct counter *c = arg;
	uint64_t one = 1;
	if (write(c->efd, &one, sizeof one) != sizeof one)
		abort();
}

START_TEST(watchers)
{
	ks_log_config_t cfg;
	ks_log_t *log = open_new("w", &cfg);
	struct counter a = { 0, -1 }, b = { 0, -1 };

	ck_assert_int_eq(ks_log_watch(NULL, count_wake, &a), KS_EINVAL);
	ck_assert_int_eq(ks_log_watch(log, NULL, &a), KS_EINVAL);
	ck_assert_int_eq(ks_log_unwatch(log, count_wake, &a), KS_EINVAL);
	KT_OK(ks_log_watch(log, count_wake, &a));
	KT_OK(ks_log_watch(log, count_wake, &a)); /* once is enough */
	append_one(log);
	append_one(log);
	ck_assert_int_eq(a.calls, 2);
	KT_OK(ks_log_watch(log, count_wake, &b));
	append_one(log);
	ck_assert_int_eq(a.calls, 3);
	ck_assert_int_eq(b.calls, 1);
	KT_OK(ks_log_unwatch(log, count_wake, &a));
	append_one(log);
	ck_assert_int_eq(a.calls, 3);
	ck_assert_int_eq(b.calls, 2);
	/* a failed append wakes nobody */
	ck_assert_int_eq(ks_log_append(log, NULL, 1, NULL), KS_EINVAL);
	ck_assert_int_eq(b.calls, 2);
	KT_OK(ks_log_unwatch(log, count_wake, &b));
	ck_assert_int_eq(ks_log_unwatch(log, count_wake, &b), KS_EINVAL);
	KT_OK(ks_log_close(log));
}
END_TEST

/* The event-loop case: a thread sleeps in poll() on an eventfd that a
 * watcher writes, and wakes when another thread appends. */
START_TEST(eventfd_in_poll)
{
	ks_log_config_t cfg;
	ks_log_t *log = open_new("w", &cfg);
	struct counter c = { 0, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) };
	struct later l = { log, 20, 1 };
	struct pollfd pfd;
	pthread_t t;
	uint64_t v;

	ck_assert_int_ge(c.efd, 0);
	KT_OK(ks_log_watch(log, eventfd_wake, &c));
	ck_assert_int_eq(pthread_create(&t, NULL, append_later, &l), 0);
	pfd.fd = c.efd;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
	ck_assert_int_eq(read(c.efd, &v, sizeof v), (ssize_t)sizeof v);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(ks_log_end_offset(log), 1);
	pthread_join(t, NULL);
	KT_OK(ks_log_unwatch(log, eventfd_wake, &c));
	close(c.efd);
	KT_OK(ks_log_close(log));
}
END_TEST

/* A reader in another process waits for what the writer appends. */
START_TEST(wait_across_processes)
{
	ks_log_config_t cfg;
	ks_log_t *log = open_new("w", &cfg);
	char *p = kt_path(dir, "w");
	int status, i;
	pid_t pid;

	append_one(log);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		ks_log_t *ro = NULL;
		ks_log_config_t rc;
		ks_log_config_init(&rc);
		rc.flags = KS_LOG_RDONLY;
		if (ks_log_open(p, &rc, &ro) != 0)
			_exit(2);
		if (ks_log_wait(ro, 5, 0) != KS_ETIMEDOUT)
			_exit(3);
		if (ks_log_wait(ro, 5, 20000) != 0)
			_exit(4);
		_exit(ks_log_end_offset(ro) >= 6 ? 0 : 5);
	}
	for (i = 0; i < 5; i++) {
		usleep(20 * 1000);
		append_one(log);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "reader failed at step %d", WEXITSTATUS(status));
	KT_OK(ks_log_close(log));
	free(p);
}
END_TEST

Suite *wait_suite(void)
{
	Suite *s = suite_create("wait");
	TCase *tc = tcase_create("wait");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, wait_for_records);
	tcase_add_test(tc, watchers);
	tcase_add_test(tc, eventfd_in_poll);
	tcase_add_test(tc, wait_across_processes);
	suite_add_tcase(s, tc);
	return s;
}
