/*
 * demo.c: a short tour of kstream's partition log (`make demo`).
 *
 * Appends a million records, reads them back through the record iterator
 * and as zero-copy batch views, looks an offset up by time, then lets a
 * child process append with fsync-on-every-append, kills it with SIGKILL in
 * the middle and shows that reopening keeps every acknowledged record.
 */
#define _GNU_SOURCE
#include <kstream/kstream.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define CHECK(expr)                                                         \
	do {                                                                \
		int rc_ = (expr);                                           \
		if (rc_ < 0) {                                              \
			fprintf(stderr, "%s: %s\n", #expr, ks_strerror(rc_)); \
			exit(1);                                            \
		}                                                           \
	} while (0)

int main(void)
{
	char dir[] = "/tmp/kstream-demo-XXXXXX", cmd[64];
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_iter_t *it;
	ks_record_t recs[1000], rec;
	ks_append_info_t info;
	ks_log_view_t view;
	ks_log_stat_t st;
	char value[100];
	int64_t off, n = 0, t0_ms = 1700000000000LL;
	int pfd[2], i, r;
	double t;
	pid_t pid;

	if (!mkdtemp(dir))
		return 1;
	printf("kstream %s: a partition log in %s\n\n", ks_version_string(), dir);

	ks_log_config_init(&cfg);
	cfg.flags = KS_LOG_CREATE;
	cfg.segment_bytes = 32 << 20;
	CHECK(ks_log_open(dir, &cfg, &log));

	/* 1. Append: 1000 batches of 1000 records, 100-byte values. */
	memset(value, 'v', sizeof value);
	for (i = 0; i < 1000; i++) {
		memset(&recs[i], 0, sizeof recs[i]);
		recs[i].value = value;
		recs[i].value_len = sizeof value;
	}
	t = now();
	for (i = 0; i < 1000; i++) {
		int j;
		for (j = 0; j < 1000; j++)
			recs[j].timestamp = t0_ms + i; /* one ms per batch */
		CHECK(ks_log_append(log, recs, 1000, &info));
	}
	t = now() - t;
	CHECK(ks_log_stat(log, &st));
	printf("appended 1,000,000 records of 100 bytes in %.3f s (%.1f M records/s)\n",
	    t, 1.0 / t);
	printf("  offsets %lld..%lld, %u segments, %.1f MiB\n",
	    (long long)ks_log_start_offset(log),
	    (long long)ks_log_end_offset(log) - 1, st.segment_count,
	    st.size_bytes / 1048576.0);

	/* 2. Read every record back through the iterator. */
	t = now();
	CHECK(ks_log_iter_new(log, 0, &it));
	while ((r = ks_log_iter_next(it, &rec)) > 0)
		n += (int64_t)rec.value_len == 100;
	CHECK(r);
	ks_log_iter_free(it);
	t = now() - t;
	printf("iterated %lld records in %.3f s (%.1f M records/s)\n",
	    (long long)n, t, n / t / 1e6);

	/* 3. Zero-copy reads of whole batches, as a Fetch would send them. */
	CHECK(ks_log_read(log, 123456, 1 << 20, &view));
	printf("read(offset 123456, 1 MiB): %zu bytes of whole batches, offsets %lld..%lld, no copy\n",
	    view.len, (long long)view.base_offset, (long long)view.next_offset - 1);
	ks_log_view_release(&view);

	/* 4. Offset by timestamp. */
	CHECK(ks_log_offset_for_time(log, t0_ms + 500, &off));
	printf("first record at or after timestamp base+500 ms: offset %lld\n",
	    (long long)off);
	CHECK(ks_log_close(log));

	/* 5. Crash: a child appends, fsync on every append, and is killed. */
	printf("\nchild appends with flush.messages=1 and reports each acknowledged offset...\n");
	if (pipe(pfd) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		cfg.flush_messages = 1;
		close(pfd[0]);
		CHECK(ks_log_open(dir, &cfg, &log));
		for (;;) {
			CHECK(ks_log_append(log, recs, 10, &info));
			if (write(pfd[1], &info.last_offset, 8) != 8)
				_exit(1);
		}
	}
	close(pfd[1]);
	{
		int64_t ack = -1, a;
		int acks = 0;
		while (acks < 200 && read(pfd[0], &a, 8) == 8) {
			ack = a;
			acks++;
		}
		kill(pid, SIGKILL);
		while (read(pfd[0], &a, 8) == 8)
			ack = a; /* acks already in the pipe */
		waitpid(pid, NULL, 0);
		close(pfd[0]);
		printf("killed it with SIGKILL after %d+ acknowledged appends; last acknowledged offset %lld\n",
		    acks, (long long)ack);
		cfg.flush_messages = 0;
		cfg.log_cb = NULL;
		CHECK(ks_log_open(dir, &cfg, &log));
		CHECK(ks_log_stat(log, &st));
		printf("reopened: clean=%d, recovery scanned %llu bytes, cut %llu bytes; end offset %lld: %s\n",
		    st.clean_open, (unsigned long long)st.recovery_scanned,
		    (unsigned long long)st.recovery_cut,
		    (long long)st.end_offset,
		    st.end_offset > ack ? "every acknowledged record is there" :
		                          "RECORDS LOST");
		CHECK(ks_log_close(log));
		if (st.end_offset <= ack)
			return 1;
	}
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	printf("\ndone; removed %s\n", dir);
	return 0;
}
