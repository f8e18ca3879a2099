/*
 * check_faults.c: the disk says no during append (ENOSPC, EFBIG). The append
 * fails with the system's code, the log stays consistent, and the next open
 * has every batch acknowledged before the error.
 */
#define _GNU_SOURCE
#include "util.h"
#include "log/segment.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define VALUE_LEN 1000

static void fill_value(char *v, int64_t offset)
{
	size_t i;
	for (i = 0; i < VALUE_LEN; i++)
		v[i] = (char)('a' + (offset * 7 + (int64_t)i) % 26);
}

/*
 * Appends batches of 100 records until the disk refuses; returns the
 * failing code and leaves the last acknowledged offset in *acked.
 */
static int append_until_error(ks_log_t *log, int64_t *acked)
{
	static char vals[100][VALUE_LEN];
	ks_record_t recs[100];
	ks_append_info_t info;
	int i, rc;

	*acked = -1;
	for (;;) {
		int64_t base = ks_log_end_offset(log);
		memset(recs, 0, sizeof recs);
		for (i = 0; i < 100; i++) {
			fill_value(vals[i], base + i);
			recs[i].value = vals[i];
			recs[i].value_len = VALUE_LEN;
			recs[i].timestamp = 1000 + base + i;
		}
		rc = ks_log_append(log, recs, 100, &info);
		if (rc)
			return rc;
		ck_assert_int_eq(info.base_offset, base);
		*acked = info.last_offset;
	}
}

/* Every record below end reads back as written. */
static void verify(ks_log_t *log, int64_t end)
{
	ks_log_iter_t *it;
	ks_record_t rec;
	char want[VALUE_LEN];
	int64_t n = 0;
	int r;

	KT_OK(ks_log_iter_new(log, 0, &it));
	while ((r = ks_log_iter_next(it, &rec)) > 0) {
		ck_assert_int_eq(rec.offset, n);
		ck_assert_uint_eq(rec.value_len, VALUE_LEN);
		fill_value(want, n);
		ck_assert(memcmp(rec.value, want, VALUE_LEN) == 0);
		n++;
	}
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(n, end);
	ks_log_iter_free(it);
}

static void small_config(ks_log_config_t *cfg)
{
	ks_log_config_init(cfg);
	cfg->flags = KS_LOG_CREATE;
	cfg->segment_bytes = 64 << 20;
	cfg->segment_index_bytes = 64 << 10;
	cfg->log_cb = NULL;
}

/* A file-size limit: the growth of the segment fails with EFBIG. */
START_TEST(file_size_limit)
{
	char *dir = kt_tmpdir("efbig"), *logdir = kt_path(dir, "p-0");
	int pfd[2], status;
	int64_t msg[2], acked;
	ks_log_config_t cfg;
	ks_log_t *log;
	pid_t pid;

	small_config(&cfg);
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit rl = { 20 << 20, 20 << 20 };
		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		close(pfd[0]);
		if (ks_log_open(logdir, &cfg, &log) != 0)
			_exit(2);
		msg[0] = append_until_error(log, &acked);
		msg[1] = acked;
		/* nothing of the failed batch is in the log, and the same
		 * batch fails the same way again */
		if (ks_log_end_offset(log) != acked + 1 ||
		    append_until_error(log, &acked) != msg[0] ||
		    acked != -1 || ks_log_end_offset(log) != msg[1] + 1)
			_exit(3);
		if (write(pfd[1], msg, sizeof msg) != sizeof msg)
			_exit(4);
		_exit(0); /* no close: as if it crashed right after */
	}
	close(pfd[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child failed at step %d (status %d)",
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1, status);
	ck_assert_int_eq(read(pfd[0], msg, sizeof msg), (ssize_t)sizeof msg);
	close(pfd[0]);
	ck_assert_msg(msg[0] == -EFBIG, "append failed with %s",
	    ks_strerror((int)msg[0]));
	ck_assert_int_gt(msg[1], 1000);

	KT_OK(ks_log_open(logdir, &cfg, &log));
	ck_assert_int_eq(ks_log_end_offset(log), msg[1] + 1);
	verify(log, msg[1] + 1);
	KT_OK(ks_log_close(log));
	kt_rmrf(dir);
	free(logdir);
	free(dir);
}
END_TEST

/* ENOSPC on a small tmpfs, mounted in a private mount namespace. */
static int enospc_child(const char *mnt)
{
	ks_log_config_t cfg;
	ks_log_t *log;
	int64_t acked;
	int rc;

	if (geteuid() != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return 10;
	if (geteuid() == 0 && unshare(CLONE_NEWNS) < 0)
		return 11;
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 12;
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=12m") < 0)
		return 13;
	small_config(&cfg);
	if (ks_log_open(mnt, &cfg, &log) != 0)
		return 14;
	rc = append_until_error(log, &acked);
	if (rc != -ENOSPC)
		return 15;
	if (acked < 1000)
		return 16;
	/* still consistent: reads work, the end is the last ack */
	if (ks_log_end_offset(log) != acked + 1)
		return 17;
	verify(log, acked + 1);
	/* a clean close must work on a full disk: it only shrinks files */
	if (ks_log_close(log) != 0)
		return 18;
	cfg.flags = 0;
	if (ks_log_open(mnt, &cfg, &log) != 0)
		return 19;
	if (ks_log_end_offset(log) != acked + 1)
		return 20;
	verify(log, acked + 1);
	if (ks_log_close(log) != 0)
		return 21;
	return 0;
}

START_TEST(disk_full)
{
	char *dir = kt_tmpdir("enospc");
	int status;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(enospc_child(dir));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child failed at step %d (status %d)",
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1, status);
	kt_rmrf(dir);
	free(dir);
}
END_TEST


/* The disk fails an fdatasync (EIO): the append that waited for it is not
 * acknowledged, the log refuses further writes (the kernel may have dropped
 * the pages), and a reopen has every batch acknowledged before. */
static int fail_eio(int fd)
{
	(void)fd;
	errno = EIO;
	return -1;
}

START_TEST(fsync_eio)
{
	char *dir = kt_tmpdir("eio"), *logdir = kt_path(dir, "p-0");
	static char vals[10][VALUE_LEN];
	ks_record_t recs[10];
	ks_append_info_t info;
	ks_log_config_t cfg;
	ks_log_t *log;
	int64_t acked = -1;
	int i, round, rc;

	small_config(&cfg);
	cfg.flush_messages = 1;
	KT_OK(ks_log_open(logdir, &cfg, &log));
	for (round = 0; round < 30; round++) {
		int64_t base = ks_log_end_offset(log);
		memset(recs, 0, sizeof recs);
		for (i = 0; i < 10; i++) {
			fill_value(vals[i], base + i);
			recs[i].value = vals[i];
			recs[i].value_len = VALUE_LEN;
		}
		if (round == 20)
			ks__segment_fdatasync = fail_eio;
		rc = ks_log_append(log, recs, 10, &info);
		if (round < 20) {
			KT_OK(rc);
			ck_assert_int_eq(info.durable, 1);
			acked = info.last_offset;
		} else if (round == 20) {
			ck_assert_int_eq(rc, -EIO);
			ck_assert_int_eq(info.durable, 0);
			ck_assert_int_le(ks_log_durable_offset(log), acked + 1);
		} else {
			ck_assert_int_eq(rc, KS_EFATAL);
		}
	}
	ks__segment_fdatasync = fdatasync;
	ck_assert_int_eq(ks_log_truncate(log, 0), KS_EFATAL);
	ck_assert_int_eq(ks_log_flush(log, -1), KS_EFATAL);
	/* reads still work, and close reports the failure */
	verify(log, acked + 11);
	ck_assert_int_eq(ks_log_close(log), KS_EFATAL);

	KT_OK(ks_log_open(logdir, &cfg, &log));
	ck_assert_int_ge(ks_log_end_offset(log), acked + 1);
	verify(log, ks_log_end_offset(log));
	KT_OK(ks_log_close(log));
	kt_rmrf(dir);
	free(logdir);
	free(dir);
}
END_TEST

Suite *faults_suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("faults");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, file_size_limit);
	tcase_add_test(tc, disk_full);
	tcase_add_test(tc, fsync_eio);
	suite_add_tcase(s, tc);
	return s;
}
