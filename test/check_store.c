/*
 * check_store.c: the store of topics (kstream/store.h): topic
 * configuration and names, create, describe, list, alter, add partitions
 * and delete, persistence across reopens, the writer's lock (in this
 * process and from another), read-only stores following a writer, what a
 * crash leaves (every topic whole or absent, leftovers removed), damaged
 * metadata, handles across deletion and close, the cleaner, and the error
 * paths a user can hit.
 */
#define _GNU_SOURCE
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define SEG_BYTES 16384
#define T_OLD INT64_C(1600000000000) /* timestamps retention removes */

static char *g_base;

static void suite_setup(void)
{
	g_base = kt_tmpdir("store");
}

static void suite_teardown(void)
{
	kt_rmrf_free(&g_base);
}

/* ---- what the library logged --------------------------------------------- */

static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_log[16384];

static void capture_cb(void *opaque, int level, const char *msg)
{
	size_t n;
	(void)opaque;
	(void)level;
	pthread_mutex_lock(&g_log_mu);
	n = strlen(g_log);
	snprintf(g_log + n, sizeof g_log - n, "%s\n", msg);
	pthread_mutex_unlock(&g_log_mu);
}

static void log_reset(void)
{
	pthread_mutex_lock(&g_log_mu);
	g_log[0] = 0;
	pthread_mutex_unlock(&g_log_mu);
}

static int log_has(const char *needle)
{
	int r;
	pthread_mutex_lock(&g_log_mu);
	r = strstr(g_log, needle) != NULL;
	pthread_mutex_unlock(&g_log_mu);
	return r;
}

/* ---- configurations and stores ------------------------------------------- */

/* Small files: the tests make many partitions. */
static void small_topic(ks_topic_config_t *tc, int32_t parts)
{
	ks_topic_config_init(tc);
	tc->partitions = parts;
	tc->log.segment_bytes = SEG_BYTES;
	tc->log.segment_index_bytes = 4096;
	tc->log.max_message_bytes = 8192;
}

static void store_cfg(ks_store_config_t *c, int flags)
{
	ks_store_config_init(c);
	c->flags = flags;
	c->cleaner_interval_ms = 0;
	c->log_cb = capture_cb;
	small_topic(&c->topic_defaults, 1);
}

static ks_store_t *open_store(const char *dir, int flags)
{
	ks_store_config_t c;
	ks_store_t *s;
	store_cfg(&c, flags);
	KT_OK(ks_store_open(dir, &c, &s));
	ck_assert_ptr_nonnull(s);
	return s;
}

static void create_small(ks_store_t *s, const char *name, int32_t parts)
{
	ks_topic_config_t tc;
	small_topic(&tc, parts);
	KT_OK(ks_topic_create(s, name, &tc));
}

/* The persisted fields of two configurations are equal. */
static void same_config(const ks_topic_config_t *a, const ks_topic_config_t *b)
{
	ck_assert_int_eq(a->partitions, b->partitions);
	ck_assert_int_eq(a->cleanup_policy, b->cleanup_policy);
	ck_assert_int_eq(a->delete_retention_ms, b->delete_retention_ms);
	ck_assert_int_eq(a->min_compaction_lag_ms, b->min_compaction_lag_ms);
	ck_assert(a->min_cleanable_dirty_ratio == b->min_cleanable_dirty_ratio);
	ck_assert_uint_eq(a->log.segment_bytes, b->log.segment_bytes);
	ck_assert_int_eq(a->log.segment_ms, b->log.segment_ms);
	ck_assert_uint_eq(a->log.segment_index_bytes,
	    b->log.segment_index_bytes);
	ck_assert_uint_eq(a->log.index_interval_bytes,
	    b->log.index_interval_bytes);
	ck_assert_uint_eq(a->log.max_message_bytes, b->log.max_message_bytes);
	ck_assert_int_eq(a->log.retention_ms, b->log.retention_ms);
	ck_assert_int_eq(a->log.retention_bytes, b->log.retention_bytes);
	ck_assert_uint_eq(a->log.flush_messages, b->log.flush_messages);
	ck_assert_int_eq(a->log.flush_ms, b->log.flush_ms);
}

static int path_exists(const char *dir, const char *name)
{
	char *p = kt_path(dir, name);
	struct stat st;
	int r = lstat(p, &st) == 0;
	free(p);
	return r;
}

/* ---- records ------------------------------------------------------------- */

/* The value of the record at off in a partition tagged tag. */
static int value_of(char *buf, size_t len, const char *tag, int64_t off)
{
	return snprintf(buf, len, "%s#%" PRId64, tag, off);
}

/* Appends n records at the log end, in batches of up to 16, with
 * timestamp ts (-1: now) and, if key, the key. */
static void append_n(ks_log_t *log, const char *tag, int n, int64_t ts,
    const char *key)
{
	char vals[16][300];
	ks_record_t r[16];
	int done = 0;

	while (done < n) {
		int64_t base = ks_log_end_offset(log);
		int k = n - done < 16 ? n - done : 16, i;
		memset(r, 0, sizeof r);
		for (i = 0; i < k; i++) {
			r[i].value_len = (size_t)value_of(vals[i],
			    sizeof vals[i], tag, base + i);
			r[i].value = vals[i];
			r[i].timestamp = ts;
			if (key) {
				r[i].key = key;
				r[i].key_len = strlen(key);
			}
		}
		KT_OK(ks_log_append(log, r, (size_t)k, NULL));
		done += k;
	}
}

/* Checks that log holds offsets [from, n) as append_n wrote them. */
static void check_records(ks_log_t *log, const char *tag, int64_t from,
    int64_t n)
{
	ks_log_iter_t *it;
	ks_record_t rec;
	char want[300];
	int64_t off = from;
	int rc;

	ck_assert_int_eq(ks_log_start_offset(log), from);
	ck_assert_int_eq(ks_log_end_offset(log), n);
	KT_OK(ks_log_iter_new(log, from, &it));
	while ((rc = ks_log_iter_next(it, &rec)) == 1) {
		int len = value_of(want, sizeof want, tag, off);
		ck_assert_int_eq(rec.offset, off);
		ck_assert_msg(kt_same_bytes(rec.value, rec.value_len, want,
		    (size_t)len), "%s: offset %" PRId64 " differs", tag, off);
		off++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(off, n);
	ks_log_iter_free(it);
}

static ks_log_t *part(ks_topic_t *t, int32_t p)
{
	ks_log_t *log;
	KT_OK(ks_topic_partition(t, p, &log));
	ck_assert_ptr_nonnull(log);
	return log;
}

/* Appends n records to partition p of topic name, tagged "<name>/<p>". */
static void topic_append(ks_store_t *s, const char *name, int32_t p, int n)
{
	char tag[300];
	ks_topic_t *t;
	KT_OK(ks_topic_open(s, name, &t));
	snprintf(tag, sizeof tag, "%s/%d", name, (int)p);
	append_n(part(t, p), tag, n, -1, NULL);
	ks_topic_release(t);
}

static void topic_check(ks_store_t *s, const char *name, int32_t p, int n)
{
	char tag[300];
	ks_topic_t *t;
	KT_OK(ks_topic_open(s, name, &t));
	snprintf(tag, sizeof tag, "%s/%d", name, (int)p);
	check_records(part(t, p), tag, 0, n);
	ks_topic_release(t);
}

/* The store's topics, as one comma-separated string. */
static void list_str(ks_store_t *s, char *buf, size_t len)
{
	char **names;
	size_t n, i, pos = 0;
	KT_OK(ks_topic_list(s, &names, &n));
	buf[0] = 0;
	for (i = 0; i < n; i++)
		pos += (size_t)snprintf(buf + pos, len - pos, "%s%s",
		    i ? "," : "", names[i]);
	ck_assert_ptr_null(names[n]);
	ks_topic_list_free(names);
}

#define CK_LIST(s, want)                                                     \
	do {                                                                 \
		char got_[4096];                                             \
		list_str((s), got_, sizeof got_);                            \
		ck_assert_str_eq(got_, (want));                              \
	} while (0)

/* ---- configuration ------------------------------------------------------- */

START_TEST(test_config)
{
	ks_topic_config_t c, before;

	ks_topic_config_init(&c);
	ck_assert_int_eq(c.partitions, 1);
	ck_assert_int_eq(c.cleanup_policy, KS_CLEANUP_DELETE);
	ck_assert_int_eq(c.delete_retention_ms, 86400000);
	ck_assert_int_eq(c.min_compaction_lag_ms, 0);
	ck_assert(c.min_cleanable_dirty_ratio == 0.5);
	ck_assert_int_eq(c.log.retention_ms, 7LL * 24 * 3600 * 1000);

	KT_OK(ks_topic_config_set(&c, "cleanup.policy", "compact"));
	ck_assert_int_eq(c.cleanup_policy, KS_CLEANUP_COMPACT);
	KT_OK(ks_topic_config_set(&c, "cleanup.policy", "compact,delete"));
	ck_assert_int_eq(c.cleanup_policy,
	    KS_CLEANUP_COMPACT | KS_CLEANUP_DELETE);
	KT_OK(ks_topic_config_set(&c, "cleanup.policy", "delete"));
	ck_assert_int_eq(c.cleanup_policy, KS_CLEANUP_DELETE);
	KT_OK(ks_topic_config_set(&c, "cleanup.policy", "delete, compact"));
	ck_assert_int_eq(c.cleanup_policy,
	    KS_CLEANUP_COMPACT | KS_CLEANUP_DELETE);
	KT_OK(ks_topic_config_set(&c, "delete.retention.ms", "1000"));
	ck_assert_int_eq(c.delete_retention_ms, 1000);
	KT_OK(ks_topic_config_set(&c, "min.compaction.lag.ms", "5"));
	ck_assert_int_eq(c.min_compaction_lag_ms, 5);
	KT_OK(ks_topic_config_set(&c, "min.cleanable.dirty.ratio", "0.25"));
	ck_assert(c.min_cleanable_dirty_ratio == 0.25);
	KT_OK(ks_topic_config_set(&c, "min.cleanable.dirty.ratio", "1"));
	KT_OK(ks_topic_config_set(&c, "min.cleanable.dirty.ratio", "0"));
	ck_assert(c.min_cleanable_dirty_ratio == 0.0);
	/* forwarded to the log's configuration */
	KT_OK(ks_topic_config_set(&c, "retention.ms", "1234"));
	ck_assert_int_eq(c.log.retention_ms, 1234);
	KT_OK(ks_topic_config_set(&c, "segment.bytes", "100000"));
	ck_assert_uint_eq(c.log.segment_bytes, 100000);
	KT_OK(ks_topic_config_set(&c, "flush.messages", "1"));
	ck_assert_uint_eq(c.log.flush_messages, 1);

	/* every bad value leaves the configuration as it was */
	before = c;
	static const char *const bad[][2] = {
		{ "cleanup.policy", "" },
		{ "cleanup.policy", "comp" },
		{ "cleanup.policy", "delete," },
		{ "cleanup.policy", ",delete" },
		{ "cleanup.policy", "delete;compact" },
		{ "cleanup.policy", "Delete" },
		{ "delete.retention.ms", "-1" },
		{ "delete.retention.ms", "1x" },
		{ "delete.retention.ms", "" },
		{ "min.compaction.lag.ms", "-5" },
		{ "min.cleanable.dirty.ratio", "1.5" },
		{ "min.cleanable.dirty.ratio", "-0.1" },
		{ "min.cleanable.dirty.ratio", "nan" },
		{ "min.cleanable.dirty.ratio", "0.5x" },
		{ "min.cleanable.dirty.ratio", "" },
		{ "segment.bytes", "10" },
		{ "retention.ms", "-2" },
		{ "num.partitions", "3" },
		{ "partitions", "3" },
		{ "bogus", "1" },
	};
	size_t i;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(ks_topic_config_set(&c, bad[i][0], bad[i][1]) ==
		    KS_ECONFIG, "%s=%s accepted", bad[i][0], bad[i][1]);
		ck_assert_msg(memcmp(&c, &before, sizeof c) == 0,
		    "%s=%s changed the configuration", bad[i][0], bad[i][1]);
	}
	ck_assert_int_eq(ks_topic_config_set(NULL, "retention.ms", "1"),
	    KS_EINVAL);
	ck_assert_int_eq(ks_topic_config_set(&c, NULL, "1"), KS_EINVAL);
	ck_assert_int_eq(ks_topic_config_set(&c, "retention.ms", NULL),
	    KS_EINVAL);

	/* a locale with a decimal comma changes nothing */
	if (setlocale(LC_NUMERIC, "de_DE.UTF-8") ||
	    setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
		KT_OK(ks_topic_config_set(&c, "min.cleanable.dirty.ratio",
		    "0.75"));
		ck_assert(c.min_cleanable_dirty_ratio == 0.75);
		setlocale(LC_NUMERIC, "C");
	}
}
END_TEST

/*
 * ks_topic_config_get gives each property as ks_topic_config_set takes it
 * back: every listed name round-trips onto a fresh configuration; unknown
 * names, NULLs and short buffers fail.
 */
START_TEST(test_config_get)
{
	const char *const *names = ks_topic_config_names();
	ks_topic_config_t c, d;
	char buf[64], again[64];
	int i;

	ks_topic_config_init(&c);
	KT_OK(ks_topic_config_set(&c, "cleanup.policy", "compact,delete"));
	KT_OK(ks_topic_config_set(&c, "retention.ms", "1234"));
	KT_OK(ks_topic_config_set(&c, "min.cleanable.dirty.ratio", "0.25"));
	KT_OK(ks_topic_config_get(&c, "cleanup.policy", buf, sizeof buf));
	ck_assert_str_eq(buf, "compact,delete");
	KT_OK(ks_topic_config_get(&c, "retention.ms", buf, sizeof buf));
	ck_assert_str_eq(buf, "1234");
	KT_OK(ks_topic_config_get(&c, "min.cleanable.dirty.ratio", buf,
	    sizeof buf));
	ck_assert_str_eq(buf, "0.25");

	ks_topic_config_init(&d);
	for (i = 0; names[i]; i++) {
		KT_OK(ks_topic_config_get(&c, names[i], buf, sizeof buf));
		KT_OK(ks_topic_config_set(&d, names[i], buf));
		KT_OK(ks_topic_config_get(&d, names[i], again, sizeof again));
		ck_assert_str_eq(again, buf);
	}
	ck_assert_int_ge(i, 13);

	ck_assert_int_eq(ks_topic_config_get(&c, "no.such", buf, sizeof buf),
	    KS_ECONFIG);
	ck_assert_int_eq(ks_topic_config_get(&c, "partitions", buf,
	    sizeof buf), KS_ECONFIG);
	ck_assert_int_eq(ks_topic_config_get(&c, "retention.ms", buf, 4),
	    KS_EINVAL);
	ck_assert_int_eq(ks_topic_config_get(NULL, "retention.ms", buf,
	    sizeof buf), KS_EINVAL);
	ck_assert_int_eq(ks_topic_config_get(&c, NULL, buf, sizeof buf),
	    KS_EINVAL);
	ck_assert_int_eq(ks_topic_config_get(&c, "retention.ms", NULL, 0),
	    KS_EINVAL);
}
END_TEST

START_TEST(test_store_config)
{
	ks_store_config_t c;
	ks_store_config_init(&c);
	ck_assert_int_eq(c.flags, 0);
	ck_assert_int_eq(c.cleaner_interval_ms, 300000);
	ck_assert_ptr_eq(c.log_cb, ks_log_stderr);
	ck_assert_int_eq(c.topic_defaults.partitions, 1);
	ck_assert_int_eq(c.topic_defaults.cleanup_policy, KS_CLEANUP_DELETE);
}
END_TEST

/* ---- names --------------------------------------------------------------- */

START_TEST(test_names)
{
	char *dir = kt_fresh_path(g_base, "names");
	char n249[250], n250[251];
	ks_store_t *s;
	ks_topic_t *t;
	size_t i;

	memset(n249, 'a', 249);
	n249[249] = 0;
	memset(n250, 'b', 250);
	n250[250] = 0;
	const char *good[] = { n249, ".a", "a..b", "__consumer_offsets",
		"A-Z_0.9", "-", "_", "..." };
	const char *bad[] = { "", ".", "..", n250, "a/b", "a b", "\xc3\xa9",
		"a~", "a\n", "a:b", "/" };

	s = open_store(dir, KS_STORE_CREATE);
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		ck_assert_msg(ks_topic_create(s, good[i], NULL) == 0,
		    "create %s", good[i]);
		KT_OK(ks_topic_open(s, good[i], &t));
		ck_assert_str_eq(ks_topic_name(t), good[i]);
		ks_topic_release(t);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(ks_topic_create(s, bad[i], NULL) == KS_ENAME,
		    "create '%s' not KS_ENAME", bad[i]);
		ck_assert_int_eq(ks_topic_open(s, bad[i], &t), KS_ENAME);
		ck_assert_ptr_null(t);
	}
	/* the longest name survives a reopen: its files fit NAME_MAX */
	topic_append(s, n249, 0, 3);
	KT_OK(ks_store_close(s));
	s = open_store(dir, 0);
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		KT_OK(ks_topic_open(s, good[i], &t));
		ks_topic_release(t);
	}
	topic_check(s, n249, 0, 3);
	KT_OK(ks_topic_delete(s, n249));
	KT_OK(ks_store_close(s));
	free(dir);
}
END_TEST

/* ---- create, describe, list ---------------------------------------------- */

START_TEST(test_create_describe)
{
	char *dir = kt_fresh_path(g_base, "create");
	ks_topic_config_t c, got;
	ks_log_t *l0, *l1, *l2, *l;
	ks_store_config_t sc;
	ks_store_t *s;
	ks_topic_t *t;
	char *meta, buf[2048];
	FILE *f;
	size_t n;

	store_cfg(&sc, KS_STORE_CREATE);
	sc.topic_defaults.partitions = 2;
	KT_OK(ks_store_open(dir, &sc, &s));
	ck_assert_str_eq(ks_store_dir(s), dir);
	CK_LIST(s, "");

	small_topic(&c, 3);
	KT_OK(ks_topic_config_set(&c, "cleanup.policy", "compact"));
	KT_OK(ks_topic_config_set(&c, "min.cleanable.dirty.ratio", "0.1"));
	KT_OK(ks_topic_config_set(&c, "retention.ms", "3600000"));
	c.log.retention_bytes = 1 << 20;
	KT_OK(ks_topic_create(s, "orders", &c));
	KT_OK(ks_topic_create(s, "events", NULL)); /* the store's defaults */
	KT_OK(ks_topic_create(s, "__consumer_offsets", NULL));
	CK_LIST(s, "__consumer_offsets,events,orders");
	ck_assert_int_eq(ks_topic_create(s, "orders", NULL), KS_EEXIST);
	ck_assert_int_eq(ks_topic_create(s, "orders", &c), KS_EEXIST);

	KT_OK(ks_topic_open(s, "orders", &t));
	ck_assert_str_eq(ks_topic_name(t), "orders");
	ck_assert_int_eq(ks_topic_partitions(t), 3);
	KT_OK(ks_topic_config(t, &got));
	same_config(&got, &c);
	ck_assert_ptr_eq(got.log.log_cb, capture_cb);
	ck_assert_int_eq(got.log.flags, 0);
	l0 = part(t, 0);
	l1 = part(t, 1);
	l2 = part(t, 2);
	ck_assert(l0 != l1 && l1 != l2 && l0 != l2);
	ck_assert_int_eq(ks_topic_partition(t, 3, &l), KS_EPARTITION);
	ck_assert_ptr_null(l);
	ck_assert_int_eq(ks_topic_partition(t, -1, &l), KS_EPARTITION);
	n = strlen(ks_log_dir(l2));
	ck_assert_str_eq(ks_log_dir(l2) + n - 9, "/orders-2");
	ks_topic_release(t);

	KT_OK(ks_topic_open(s, "events", &t));
	ck_assert_int_eq(ks_topic_partitions(t), 2);
	KT_OK(ks_topic_config(t, &got));
	same_config(&got, &sc.topic_defaults);
	ks_topic_release(t);

	/* on disk: the metadata file and one directory per partition */
	ck_assert(path_exists(dir, ".lock"));
	ck_assert(path_exists(dir, "orders.topic"));
	ck_assert(path_exists(dir, "orders-0"));
	ck_assert(path_exists(dir, "orders-2"));
	ck_assert(!path_exists(dir, "orders-3"));
	ck_assert(path_exists(dir, "events-1"));
	meta = kt_path(dir, "orders.topic");
	ck_assert_ptr_nonnull(f = fopen(meta, "r"));
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = 0;
	fclose(f);
	free(meta);
	ck_assert_msg(strncmp(buf, "version=1\nid=", 13) == 0, "%s", buf);
	ck_assert(strstr(buf, "\npartitions=3\n"));
	ck_assert(strstr(buf, "\ncleanup.policy=compact\n"));
	ck_assert(strstr(buf, "\nmin.cleanable.dirty.ratio=0.1\n"));
	ck_assert(strstr(buf, "\nretention.ms=3600000\n"));
	ck_assert(strstr(buf, "\nretention.bytes=1048576\n"));
	ck_assert(strstr(buf, "\nsegment.bytes=16384\n"));
	ck_assert_int_eq(n - (size_t)(strstr(buf, "\nxxh64=") - buf), 24);

	/* refused configurations leave nothing behind */
	small_topic(&c, 0);
	ck_assert_int_eq(ks_topic_create(s, "bad", &c), KS_ECONFIG);
	small_topic(&c, -3);
	ck_assert_int_eq(ks_topic_create(s, "bad", &c), KS_ECONFIG);
	small_topic(&c, 1);
	c.cleanup_policy = 0;
	ck_assert_int_eq(ks_topic_create(s, "bad", &c), KS_ECONFIG);
	c.cleanup_policy = 4;
	ck_assert_int_eq(ks_topic_create(s, "bad", &c), KS_ECONFIG);
	small_topic(&c, 1);
	c.min_cleanable_dirty_ratio = 2.0;
	ck_assert_int_eq(ks_topic_create(s, "bad", &c), KS_ECONFIG);
	small_topic(&c, 1);
	c.log.segment_bytes = 1;
	ck_assert_int_eq(ks_topic_create(s, "bad", &c), KS_ECONFIG);
	small_topic(&c, 1);
	c.log.retention_ms = -7;
	ck_assert_int_eq(ks_topic_create(s, "bad", &c), KS_ECONFIG);
	small_topic(&c, 1);
	c.delete_retention_ms = -1;
	ck_assert_int_eq(ks_topic_create(s, "bad", &c), KS_ECONFIG);
	ck_assert(!path_exists(dir, "bad.topic"));
	ck_assert(!path_exists(dir, "bad-0"));
	CK_LIST(s, "__consumer_offsets,events,orders");
	KT_OK(ks_store_close(s));
	free(dir);
}
END_TEST

/* ---- delete -------------------------------------------------------------- */

START_TEST(test_delete)
{
	char *dir = kt_fresh_path(g_base, "delete");
	ks_topic_config_t c;
	ks_store_t *s;
	ks_topic_t *t;

	s = open_store(dir, KS_STORE_CREATE);
	create_small(s, "a", 2);
	create_small(s, "b", 1);
	topic_append(s, "a", 0, 10);
	topic_append(s, "a", 1, 10);
	KT_OK(ks_topic_delete(s, "a"));
	CK_LIST(s, "b");
	ck_assert(!path_exists(dir, "a.topic"));
	ck_assert(!path_exists(dir, "a-0"));
	ck_assert(!path_exists(dir, "a-1"));
	ck_assert_int_eq(ks_topic_open(s, "a", &t), KS_ETOPIC);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(ks_topic_delete(s, "a"), KS_ETOPIC);
	ck_assert_int_eq(ks_topic_delete(s, "never"), KS_ETOPIC);
	small_topic(&c, 1);
	ck_assert_int_eq(ks_topic_alter(s, "a", &c), KS_ETOPIC);
	ck_assert_int_eq(ks_topic_add_partitions(s, "a", 5), KS_ETOPIC);

	/* created again, it starts empty */
	create_small(s, "a", 1);
	KT_OK(ks_topic_open(s, "a", &t));
	ck_assert_int_eq(ks_log_end_offset(part(t, 0)), 0);
	ks_topic_release(t);
	KT_OK(ks_store_close(s));

	/* and the deletion held across a reopen */
	s = open_store(dir, 0);
	CK_LIST(s, "a,b");
	KT_OK(ks_topic_open(s, "a", &t));
	ck_assert_int_eq(ks_topic_partitions(t), 1);
	ks_topic_release(t);
	KT_OK(ks_store_close(s));
	free(dir);
}
END_TEST

START_TEST(test_delete_held)
{
	char *dir = kt_fresh_path(g_base, "held");
	ks_topic_t *t, *t2;
	ks_log_t *log, *l;
	ks_store_t *s;

	s = open_store(dir, KS_STORE_CREATE);
	create_small(s, "h", 1);
	KT_OK(ks_topic_open(s, "h", &t));
	KT_OK(ks_topic_open(s, "h", &t2)); /* counted: two handles */
	ck_assert_ptr_eq(t, t2);
	ks_topic_release(t2);
	log = part(t, 0);
	append_n(log, "h/0", 5, -1, NULL);

	KT_OK(ks_topic_delete(s, "h"));
	CK_LIST(s, "");
	ck_assert(!path_exists(dir, "h.topic"));
	ck_assert(!path_exists(dir, "h-0"));
	/* the handle refuses new partitions; the borrowed log still reads,
	 * and takes appends into its unlinked files */
	ck_assert_int_eq(ks_topic_partition(t, 0, &l), KS_ETOPIC);
	ck_assert_ptr_null(l);
	ck_assert_str_eq(ks_topic_name(t), "h");
	check_records(log, "h/0", 0, 5);
	append_n(log, "h/0", 2, -1, NULL);
	check_records(log, "h/0", 0, 7);
	/* the name stays taken while the deleted topic is held */
	ck_assert_int_eq(ks_topic_create(s, "h", NULL), KS_EBUSY);
	ks_topic_release(t);
	ck_assert(!path_exists(dir, "h-0"));

	create_small(s, "h", 2);
	KT_OK(ks_topic_open(s, "h", &t));
	ck_assert_int_eq(ks_topic_partitions(t), 2);
	ck_assert_int_eq(ks_log_end_offset(part(t, 0)), 0);
	ks_topic_release(t);
	KT_OK(ks_store_close(s));
	free(dir);
}
END_TEST

/* ---- alter and add_partitions -------------------------------------------- */

START_TEST(test_alter)
{
	char *dir = kt_fresh_path(g_base, "alter");
	ks_topic_config_t c, got, want;
	ks_store_t *s;
	ks_topic_t *t;

	s = open_store(dir, KS_STORE_CREATE);
	create_small(s, "t", 2);
	KT_OK(ks_topic_open(s, "t", &t));
	small_topic(&c, 7); /* the count is not altered */
	KT_OK(ks_topic_config_set(&c, "cleanup.policy", "compact,delete"));
	KT_OK(ks_topic_config_set(&c, "retention.ms", "1000"));
	KT_OK(ks_topic_config_set(&c, "min.cleanable.dirty.ratio", "0.1"));
	KT_OK(ks_topic_config_set(&c, "delete.retention.ms", "77"));
	KT_OK(ks_topic_config_set(&c, "min.compaction.lag.ms", "88"));
	KT_OK(ks_topic_alter(s, "t", &c));
	want = c;
	want.partitions = 2;
	KT_OK(ks_topic_config(t, &got));
	same_config(&got, &want);
	ck_assert_int_eq(ks_topic_partitions(t), 2);

	/* refused: nothing changes */
	c.min_cleanable_dirty_ratio = -1;
	ck_assert_int_eq(ks_topic_alter(s, "t", &c), KS_ECONFIG);
	small_topic(&c, 2);
	c.log.max_message_bytes = 3;
	ck_assert_int_eq(ks_topic_alter(s, "t", &c), KS_ECONFIG);
	ck_assert_int_eq(ks_topic_alter(s, "t", NULL), KS_EINVAL);
	ck_assert_int_eq(ks_topic_alter(s, "nope", &want), KS_ETOPIC);
	KT_OK(ks_topic_config(t, &got));
	same_config(&got, &want);
	ks_topic_release(t);
	KT_OK(ks_store_close(s));

	s = open_store(dir, 0);
	KT_OK(ks_topic_open(s, "t", &t));
	KT_OK(ks_topic_config(t, &got));
	same_config(&got, &want);
	ks_topic_release(t);
	KT_OK(ks_store_close(s));
	free(dir);
}
END_TEST

START_TEST(test_add_partitions)
{
	char *dir = kt_fresh_path(g_base, "grow");
	ks_store_t *s;
	ks_topic_t *t;
	ks_log_t *l;

	s = open_store(dir, KS_STORE_CREATE);
	create_small(s, "g", 1);
	topic_append(s, "g", 0, 4);
	KT_OK(ks_topic_open(s, "g", &t));
	l = part(t, 0);
	KT_OK(ks_topic_add_partitions(s, "g", 3));
	/* the handle sees the new partitions; the old log is the same */
	ck_assert_int_eq(ks_topic_partitions(t), 3);
	ck_assert_ptr_eq(part(t, 0), l);
	ck_assert(path_exists(dir, "g-2"));
	topic_append(s, "g", 2, 6);
	ck_assert_int_eq(ks_topic_add_partitions(s, "g", 3), KS_EINVAL);
	ck_assert_int_eq(ks_topic_add_partitions(s, "g", 2), KS_EINVAL);
	ck_assert_int_eq(ks_topic_add_partitions(s, "g", -1), KS_EINVAL);
	ck_assert_int_eq(ks_topic_add_partitions(s, "x", 2), KS_ETOPIC);
	ck_assert_int_eq(ks_topic_partitions(t), 3);
	ks_topic_release(t);
	KT_OK(ks_store_close(s));

	s = open_store(dir, 0);
	KT_OK(ks_topic_open(s, "g", &t));
	ck_assert_int_eq(ks_topic_partitions(t), 3);
	ks_topic_release(t);
	topic_check(s, "g", 0, 4);
	topic_check(s, "g", 1, 0);
	topic_check(s, "g", 2, 6);
	KT_OK(ks_store_close(s));
	free(dir);
}
END_TEST

/* ---- persistence --------------------------------------------------------- */

START_TEST(test_persistence)
{
	char *dir = kt_fresh_path(g_base, "persist");
	ks_topic_config_t c[3], got;
	const char *names[3] = { "alpha", "beta.b", "__consumer_offsets" };
	ks_store_t *s;
	ks_topic_t *t;
	int i, p, round;

	s = open_store(dir, KS_STORE_CREATE);
	for (i = 0; i < 3; i++) {
		small_topic(&c[i], 1 + i * 2);
		c[i].log.retention_ms = 1000 * (i + 1);
		c[i].log.flush_ms = i * 10;
		c[i].min_cleanable_dirty_ratio = 0.1 * (i + 1);
		c[i].cleanup_policy = i == 2 ? KS_CLEANUP_COMPACT :
		    KS_CLEANUP_DELETE;
		KT_OK(ks_topic_create(s, names[i], &c[i]));
		for (p = 0; p < c[i].partitions; p++)
			topic_append(s, names[i], p, 3 + 7 * p + i);
	}
	KT_OK(ks_store_close(s));
	for (round = 0; round < 2; round++) {
		s = open_store(dir, round ? KS_STORE_RDONLY : 0);
		CK_LIST(s, "__consumer_offsets,alpha,beta.b");
		for (i = 0; i < 3; i++) {
			KT_OK(ks_topic_open(s, names[i], &t));
			KT_OK(ks_topic_config(t, &got));
			same_config(&got, &c[i]);
			ks_topic_release(t);
			for (p = 0; p < c[i].partitions; p++)
				topic_check(s, names[i], p, 3 + 7 * p + i);
		}
		KT_OK(ks_store_close(s));
	}
	free(dir);
}
END_TEST

/* ---- the lock ------------------------------------------------------------ */

START_TEST(test_locked_inproc)
{
	char *dir = kt_fresh_path(g_base, "lock");
	ks_store_config_t c;
	ks_store_t *s, *s2, *r;
	char pid[64];

	s = open_store(dir, KS_STORE_CREATE);
	create_small(s, "x", 1);
	store_cfg(&c, 0);
	log_reset();
	s2 = (ks_store_t *)&c; /* must come back NULL */
	ck_assert_int_eq(ks_store_open(dir, &c, &s2), KS_ELOCKED);
	ck_assert_ptr_null(s2);
	snprintf(pid, sizeof pid, "(pid %ld)", (long)getpid());
	ck_assert_msg(log_has(pid), "log: %s", g_log);
	/* readers need no lock */
	r = open_store(dir, KS_STORE_RDONLY);
	CK_LIST(r, "x");
	KT_OK(ks_store_close(r));
	KT_OK(ks_store_close(s));
	s = open_store(dir, 0);
	KT_OK(ks_store_close(s));
	free(dir);
}
END_TEST

START_TEST(test_locked_fork)
{
	char *dir = kt_fresh_path(g_base, "lockfork");
	int up[2], down[2], status, i;
	ks_store_config_t c;
	ks_store_t *s;
	char pid[64], b;
	pid_t child;

	s = open_store(dir, KS_STORE_CREATE);
	KT_OK(ks_store_close(s));
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(pipe(up), 0);
		ck_assert_int_eq(pipe(down), 0);
		child = fork();
		ck_assert_int_ge(child, 0);
		if (child == 0) {
			ks_store_t *cs;
			store_cfg(&c, 0);
			if (ks_store_open(dir, &c, &cs) != 0)
				_exit(1);
			if (write(up[1], "1", 1) != 1)
				_exit(2);
			if (read(down[0], &b, 1) != 1) /* the parent is done */
				_exit(3);
			_exit(ks_store_close(cs) == 0 ? 0 : 4);
		}
		ck_assert_int_eq(read(up[0], &b, 1), 1);
		store_cfg(&c, 0);
		log_reset();
		ck_assert_int_eq(ks_store_open(dir, &c, &s), KS_ELOCKED);
		ck_assert_ptr_null(s);
		snprintf(pid, sizeof pid, "(pid %ld)", (long)child);
		ck_assert_msg(log_has(pid), "want %s, log: %s", pid, g_log);
		if (i == 0) {
			/* a clean close releases it */
			ck_assert_int_eq(write(down[1], "1", 1), 1);
			ck_assert_int_eq(waitpid(child, &status, 0), child);
			ck_assert(WIFEXITED(status));
			ck_assert_int_eq(WEXITSTATUS(status), 0);
		} else {
			/* so does a death: the kernel drops the lock */
			kill(child, SIGKILL);
			ck_assert_int_eq(waitpid(child, &status, 0), child);
		}
		close(up[0]);
		close(up[1]);
		close(down[0]);
		close(down[1]);
		s = open_store(dir, 0);
		KT_OK(ks_store_close(s));
	}
	free(dir);
}
END_TEST

/* ---- read-only stores ---------------------------------------------------- */

START_TEST(test_rdonly_follow)
{
	char *dir = kt_fresh_path(g_base, "follow");
	ks_topic_t *rt, *rt2, *wt;
	ks_topic_config_t c, got;
	ks_store_t *w, *r;
	ks_log_t *rl, *l;
	ks_record_t rec;

	w = open_store(dir, KS_STORE_CREATE);
	r = open_store(dir, KS_STORE_RDONLY);
	CK_LIST(r, "");
	ck_assert_int_eq(ks_topic_open(r, "late", &rt), KS_ETOPIC);

	/* a topic created after the reader opened */
	create_small(w, "late", 2);
	topic_append(w, "late", 0, 3);
	KT_OK(ks_topic_open(r, "late", &rt));
	ck_assert_int_eq(ks_topic_partitions(rt), 2);
	rl = part(rt, 0);
	check_records(rl, "late/0", 0, 3);
	/* and records appended after the reader opened it */
	topic_append(w, "late", 0, 4);
	check_records(rl, "late/0", 0, 7);

	/* partitions added, configuration altered */
	KT_OK(ks_topic_add_partitions(w, "late", 4));
	ck_assert_int_eq(ks_topic_partitions(rt), 4);
	topic_append(w, "late", 3, 2);
	check_records(part(rt, 3), "late/3", 0, 2);
	small_topic(&c, 4);
	c.log.retention_ms = 4242;
	KT_OK(ks_topic_alter(w, "late", &c));
	KT_OK(ks_topic_config(rt, &got));
	ck_assert_int_eq(got.log.retention_ms, 4242);
	ck_assert_int_eq(got.partitions, 4);

	/* no writes through a reader */
	ck_assert_int_eq(ks_topic_create(r, "z", NULL), KS_ERDONLY);
	ck_assert_int_eq(ks_topic_delete(r, "late"), KS_ERDONLY);
	ck_assert_int_eq(ks_topic_alter(r, "late", &c), KS_ERDONLY);
	ck_assert_int_eq(ks_topic_add_partitions(r, "late", 9), KS_ERDONLY);
	ck_assert_int_eq(ks_store_clean(r, -1), KS_ERDONLY);
	memset(&rec, 0, sizeof rec);
	ck_assert_int_eq(ks_log_append(rl, &rec, 1, NULL), KS_ERDONLY);

	/* listing follows creation and deletion */
	create_small(w, "other", 1);
	CK_LIST(r, "late,other");
	KT_OK(ks_topic_delete(w, "other"));
	CK_LIST(r, "late");
	ck_assert_int_eq(ks_topic_open(r, "other", &rt2), KS_ETOPIC);

	/* deleted and created again: the old handle is of a deleted topic,
	 * a new one reaches the new topic */
	KT_OK(ks_topic_delete(w, "late"));
	create_small(w, "late", 1);
	topic_append(w, "late", 0, 1);
	KT_OK(ks_topic_open(r, "late", &rt2));
	ck_assert(rt2 != rt);
	ck_assert_int_eq(ks_topic_partitions(rt2), 1);
	check_records(part(rt2, 0), "late/0", 0, 1);
	ck_assert_int_eq(ks_topic_partition(rt, 0, &l), KS_ETOPIC);
	check_records(rl, "late/0", 0, 7); /* still mapped */
	ks_topic_release(rt);
	ks_topic_release(rt2);

	/* the writer's own handle sees none of the reader's doing */
	KT_OK(ks_topic_open(w, "late", &wt));
	ck_assert_int_eq(ks_topic_partitions(wt), 1);
	ks_topic_release(wt);
	KT_OK(ks_store_close(r));
	KT_OK(ks_store_close(w));
	free(dir);
}
END_TEST

START_TEST(test_rdonly_fork)
{
	char *dir = kt_fresh_path(g_base, "followfork");
	int up[2], status;
	ks_store_t *w, *r;
	ks_topic_t *t;
	pid_t child;
	char b;

	w = open_store(dir, KS_STORE_CREATE);
	KT_OK(ks_store_close(w));
	r = open_store(dir, KS_STORE_RDONLY);
	ck_assert_int_eq(pipe(up), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		ks_store_config_t c;
		ks_topic_config_t tc;
		ks_topic_t *ct;
		ks_log_t *log;
		store_cfg(&c, 0);
		small_topic(&tc, 2);
		if (ks_store_open(dir, &c, &w) != 0 ||
		    ks_topic_create(w, "fresh", &tc) != 0 ||
		    ks_topic_open(w, "fresh", &ct) != 0 ||
		    ks_topic_partition(ct, 1, &log) != 0)
			_exit(1);
		append_n(log, "fresh/1", 50, -1, NULL);
		ks_topic_release(ct);
		if (write(up[1], "1", 1) != 1)
			_exit(2);
		/* exits without closing: a reader must not care */
		_exit(0);
	}
	ck_assert_int_eq(read(up[0], &b, 1), 1);
	KT_OK(ks_topic_open(r, "fresh", &t));
	ck_assert_int_eq(ks_topic_partitions(t), 2);
	check_records(part(t, 1), "fresh/1", 0, 50);
	check_records(part(t, 0), "fresh/0", 0, 0);
	ks_topic_release(t);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	close(up[0]);
	close(up[1]);
	KT_OK(ks_store_close(r));
	free(dir);
}
END_TEST

/*
 * An alter that shrinks segment.bytes reaches the metadata at once but the
 * writer's open logs only at its next open: a reader opened in between
 * must still see the whole of the writer's (larger) active segment.
 */
START_TEST(test_rdonly_after_alter)
{
	char *dir = kt_fresh_path(g_base, "followalter");
	static char big[4000];
	ks_topic_config_t c;
	ks_store_t *w, *r;
	ks_topic_t *t, *wt;
	ks_log_stat_t st;
	ks_record_t rec;
	ks_log_t *wl;
	int i;

	w = open_store(dir, KS_STORE_CREATE);
	small_topic(&c, 1);
	c.log.segment_bytes = 64u << 20;
	c.log.segment_index_bytes = 1u << 20; /* a full index rolls too */
	KT_OK(ks_topic_create(w, "shrunk", &c));
	c.log.segment_bytes = SEG_BYTES;
	KT_OK(ks_topic_alter(w, "shrunk", &c));
	r = open_store(dir, KS_STORE_RDONLY);
	KT_OK(ks_topic_open(r, "shrunk", &t));
	/* past the writer's first 8 MiB of preallocation, in one segment */
	KT_OK(ks_topic_open(w, "shrunk", &wt));
	wl = part(wt, 0);
	memset(big, 'v', sizeof big);
	memset(&rec, 0, sizeof rec);
	rec.value = big;
	rec.value_len = sizeof big;
	rec.timestamp = -1;
	for (i = 0; i < 2600; i++)
		KT_OK(ks_log_append(wl, &rec, 1, NULL));
	KT_OK(ks_log_stat(wl, &st));
	ck_assert_uint_eq(st.segment_count, 1);
	ck_assert_uint_gt(st.size_bytes, 10u << 20);
	ck_assert_int_eq(ks_log_end_offset(part(t, 0)), 2600);
	ks_topic_release(wt);
	ks_topic_release(t);
	KT_OK(ks_store_close(r));
	KT_OK(ks_store_close(w));
	free(dir);
}
END_TEST

/* ---- crash safety -------------------------------------------------------- */

/* What the crash child does to topic j of its round. */
static int32_t crash_parts(int j)
{
	return 1 + j % 3;
}

/*
 * Creates topics r<round>-t<j> one after another, appends to each, grows
 * every fourth and deletes every fifth's predecessor, until killed, or,
 * with limit >= 0, _exit()s after that many without closing.
 */
static void crash_child(const char *dir, int round, int limit)
{
	ks_store_config_t c;
	ks_store_t *s;
	int j;

	store_cfg(&c, KS_STORE_CREATE);
	c.log_cb = NULL;
	if (ks_store_open(dir, &c, &s) != 0)
		_exit(2);
	for (j = 0; limit < 0 || j < limit; j++) {
		char name[32], tag[48];
		ks_topic_config_t tc;
		ks_topic_t *t;
		ks_log_t *log;
		int32_t p;

		snprintf(name, sizeof name, "r%d-t%d", round, j);
		small_topic(&tc, crash_parts(j));
		tc.log.retention_ms = 1000 + j;
		if (ks_topic_create(s, name, &tc) != 0 ||
		    ks_topic_open(s, name, &t) != 0)
			_exit(3);
		for (p = 0; p < crash_parts(j); p++) {
			if (ks_topic_partition(t, p, &log) != 0)
				_exit(4);
			snprintf(tag, sizeof tag, "%s/%d", name, (int)p);
			append_n(log, tag, 1 + j % 5, -1, NULL);
		}
		ks_topic_release(t);
		if (j % 4 == 3 && ks_topic_add_partitions(s, name,
		                      crash_parts(j) + 2) != 0)
			_exit(5);
		if (j % 5 == 4) {
			snprintf(name, sizeof name, "r%d-t%d", round, j - 1);
			if (ks_topic_delete(s, name) != 0)
				_exit(6);
		}
	}
	_exit(0);
}

/*
 * Every topic is whole: its configuration is the one it was created with,
 * its partition count one it had, every partition opens and holds the
 * records appended to it or none; no partition directory, and no
 * temporary file, is left that no topic covers. Returns the topic count.
 */
static size_t check_whole(const char *dir)
{
	ks_store_t *s = open_store(dir, 0);
	char **names;
	size_t n, i;
	DIR *d;
	struct dirent *e;

	KT_OK(ks_topic_list(s, &names, &n));
	for (i = 0; i < n; i++) {
		ks_topic_config_t got;
		ks_topic_t *t;
		int round, j;
		int32_t np, p;

		ck_assert_int_eq(sscanf(names[i], "r%d-t%d", &round, &j), 2);
		KT_OK(ks_topic_open(s, names[i], &t));
		KT_OK(ks_topic_config(t, &got));
		ck_assert_int_eq(got.log.retention_ms, 1000 + j);
		ck_assert_uint_eq(got.log.segment_bytes, SEG_BYTES);
		np = ks_topic_partitions(t);
		ck_assert_msg(np == crash_parts(j) || (j % 4 == 3 &&
		    np == crash_parts(j) + 2), "%s: %d partitions", names[i],
		    (int)np);
		for (p = 0; p < np; p++) {
			char tag[64];
			ks_log_t *log = part(t, p);
			int64_t end = ks_log_end_offset(log);
			snprintf(tag, sizeof tag, "%s/%d", names[i], (int)p);
			ck_assert_int_le(end, p < crash_parts(j) ? 1 + j % 5 :
			    0);
			check_records(log, tag, 0, end);
		}
		ks_topic_release(t);
	}
	ck_assert_ptr_nonnull(d = opendir(dir));
	while ((e = readdir(d)) != NULL) {
		char topic[256];
		int p = -1, covered = 0;
		size_t k;
		const char *dash = strrchr(e->d_name, '-');
		ck_assert_msg(!strstr(e->d_name, "~"), "left: %s", e->d_name);
		if (e->d_name[0] != 'r' || strstr(e->d_name, ".topic") || !dash)
			continue;
		snprintf(topic, sizeof topic, "%.*s",
		    (int)(dash - e->d_name), e->d_name);
		p = atoi(dash + 1);
		for (k = 0; k < n; k++) {
			ks_topic_t *t;
			if (strcmp(names[k], topic) != 0)
				continue;
			KT_OK(ks_topic_open(s, topic, &t));
			covered = p < ks_topic_partitions(t);
			ks_topic_release(t);
		}
		ck_assert_msg(covered, "leftover partition directory %s",
		    e->d_name);
	}
	closedir(d);
	ks_topic_list_free(names);
	KT_OK(ks_store_close(s));
	return n;
}

START_TEST(test_crash_exit)
{
	char *dir = kt_fresh_path(g_base, "crashexit");
	int status;
	pid_t child;

	/* _exit() after the last create, and so without closing */
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		crash_child(dir, 0, 12);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	/* 12 created, 2 of them deleted (t3 and t8) */
	ck_assert_int_eq(check_whole(dir), 10);
	free(dir);
}
END_TEST

START_TEST(test_crash_kill)
{
	char *dir = kt_fresh_path(g_base, "crashkill");
	uint64_t seed = kt_seed(0x73746f7265ULL);
	int round, status;
	size_t total = 0;
	ks_store_t *s;
	pid_t child;

	s = open_store(dir, KS_STORE_CREATE); /* a child may die before */
	KT_OK(ks_store_close(s));
	for (round = 0; round < 12; round++) {
		struct timespec ts;
		long us = (long)(kt_mix64(seed + (uint64_t)round) % 40000) +
		    500;
		child = fork();
		ck_assert_int_ge(child, 0);
		if (child == 0)
			crash_child(dir, round, -1);
		ts.tv_sec = 0;
		ts.tv_nsec = us * 1000;
		nanosleep(&ts, NULL);
		kill(child, SIGKILL);
		ck_assert_int_eq(waitpid(child, &status, 0), child);
		ck_assert_msg(WIFSIGNALED(status), "seed %#llx round %d: "
		    "child exited with %d", (unsigned long long)seed, round,
		    WEXITSTATUS(status));
		total = check_whole(dir);
	}
	ck_assert_int_gt(total, 0);
	free(dir);
}
END_TEST

static void touch(const char *dir, const char *name)
{
	char *p = kt_path(dir, name);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs("x\n", f);
	fclose(f);
	free(p);
}

static void make_dir(const char *dir, const char *name)
{
	char *p = kt_path(dir, name);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	free(p);
}

START_TEST(test_crash_leftovers)
{
	char *dir = kt_fresh_path(g_base, "leftovers");
	ks_store_t *s;
	ks_topic_t *t;

	s = open_store(dir, KS_STORE_CREATE);
	create_small(s, "keep", 1);
	topic_append(s, "keep", 0, 2);
	KT_OK(ks_store_close(s));

	/* what interrupted operations leave, made by hand */
	make_dir(dir, "ghost-0");      /* a create before its metadata */
	touch(dir, "ghost-0/.lock");
	touch(dir, "ghost-0/00000000000000000000.log");
	make_dir(dir, "ghost-1");
	touch(dir, "ghost-1/.lock");
	make_dir(dir, "keep-1");       /* an add_partitions */
	touch(dir, "keep-1/.lock");
	make_dir(dir, "empty-0");      /* a create right after mkdir */
	touch(dir, "keep.tmp~");       /* a metadata rewrite */
	touch(dir, "ghost.tmp~");
	make_dir(dir, "user-3");       /* not the store's: left alone */
	touch(dir, "user-3/notes.txt");
	touch(dir, "file-0");          /* not a directory */

	/* a reader changes nothing */
	s = open_store(dir, KS_STORE_RDONLY);
	CK_LIST(s, "keep");
	KT_OK(ks_store_close(s));
	ck_assert(path_exists(dir, "ghost-0"));
	ck_assert(path_exists(dir, "keep.tmp~"));

	log_reset();
	s = open_store(dir, 0);
	CK_LIST(s, "keep");
	KT_OK(ks_topic_open(s, "keep", &t));
	ck_assert_int_eq(ks_topic_partitions(t), 1);
	ks_topic_release(t);
	topic_check(s, "keep", 0, 2);
	KT_OK(ks_store_close(s));
	ck_assert(!path_exists(dir, "ghost-0"));
	ck_assert(!path_exists(dir, "ghost-1"));
	ck_assert(!path_exists(dir, "keep-1"));
	ck_assert(!path_exists(dir, "empty-0"));
	ck_assert(!path_exists(dir, "keep.tmp~"));
	ck_assert(!path_exists(dir, "ghost.tmp~"));
	ck_assert(path_exists(dir, "user-3/notes.txt"));
	ck_assert(path_exists(dir, "file-0"));
	ck_assert_msg(log_has("ghost-0: partition directory without topic "
	    "metadata"), "log: %s", g_log);
	ck_assert_msg(log_has("user-3: named like a partition"), "log: %s",
	    g_log);
	free(dir);
}
END_TEST

/* Writes dir/name.topic with body and a correct checksum line. */
static void write_meta(const char *dir, const char *name, const char *body)
{
	char file[300], *p;
	FILE *f;
	snprintf(file, sizeof file, "%s.topic", name);
	p = kt_path(dir, file);
	ck_assert_ptr_nonnull(f = fopen(p, "w"));
	fprintf(f, "%sxxh64=%016llx\n", body,
	    (unsigned long long)XXH64(body, strlen(body), 0));
	fclose(f);
	free(p);
}

static void expect_corrupt(const char *dir, const char *what)
{
	ks_store_config_t c;
	ks_store_t *s;
	int flags[2] = { 0, KS_STORE_RDONLY }, i;
	for (i = 0; i < 2; i++) {
		store_cfg(&c, flags[i]);
		log_reset();
		s = (ks_store_t *)&c;
		ck_assert_msg(ks_store_open(dir, &c, &s) == KS_ECORRUPT,
		    "opened despite: %s", what);
		ck_assert_ptr_null(s);
		ck_assert_msg(log_has(what), "want '%s', log: %s", what, g_log);
	}
}

START_TEST(test_corrupt_meta)
{
	char *dir = kt_fresh_path(g_base, "corrupt");
	char *meta, *path, good[2048], body[2048];
	ks_store_t *s;
	FILE *f;
	size_t n;
	int fd;

	s = open_store(dir, KS_STORE_CREATE);
	create_small(s, "m", 2);
	KT_OK(ks_store_close(s));
	meta = kt_path(dir, "m.topic");
	ck_assert_ptr_nonnull(f = fopen(meta, "r"));
	n = fread(good, 1, sizeof good - 1, f);
	good[n] = 0;
	fclose(f);

	/* one byte changed (a digit of the id) */
	ck_assert_int_ge(fd = open(meta, O_WRONLY), 0);
	ck_assert_int_eq(pwrite(fd, good[30] == '0' ? "1" : "0", 1, 30), 1);
	close(fd);
	expect_corrupt(dir, "m.topic: damaged topic metadata: checksum");
	/* cut short */
	ck_assert_int_eq(truncate(meta, (off_t)n / 2), 0);
	expect_corrupt(dir, "m.topic: damaged topic metadata");
	ck_assert_int_eq(truncate(meta, 0), 0);
	expect_corrupt(dir, "m.topic: damaged topic metadata");

	/* checksums right, content not */
	memcpy(body, good, n - 23);
	body[n - 23] = 0;
	strcat(body, "future.property=1\n");
	write_meta(dir, "m", body);
	expect_corrupt(dir, "unknown property or bad value: future.property");
	write_meta(dir, "m", "version=2\nid=00000000000000000000000000000000\n"
	    "partitions=2\n");
	expect_corrupt(dir, "not version=1");
	write_meta(dir, "m", "version=1\npartitions=2\n");
	expect_corrupt(dir, "no id line");
	write_meta(dir, "m", "version=1\nid=00000000000000000000000000000000\n"
	    "partitions=0\n");
	expect_corrupt(dir, "bad partition count");

	/* the file whole again, but a partition directory gone */
	ck_assert_ptr_nonnull(f = fopen(meta, "w"));
	fputs(good, f);
	fclose(f);
	s = open_store(dir, 0);
	KT_OK(ks_store_close(s));
	path = kt_path(dir, "m-1");
	kt_rmrf(path);
	free(path);
	expect_corrupt(dir, "m-1: missing");
	free(meta);
	free(dir);
}
END_TEST

/* ---- handles and close --------------------------------------------------- */

START_TEST(test_close_with_handles)
{
	char *dir = kt_fresh_path(g_base, "closeheld");
	ks_topic_t *t, *d, *z;
	ks_store_t *s;
	ks_log_t *l;

	s = open_store(dir, KS_STORE_CREATE);
	create_small(s, "t", 1);
	create_small(s, "z", 1);
	KT_OK(ks_topic_open(s, "t", &t));
	KT_OK(ks_topic_open(s, "z", &z));
	topic_append(s, "t", 0, 3);
	KT_OK(ks_topic_delete(s, "z"));
	ck_assert(!path_exists(dir, "z-0"));
	KT_OK(ks_store_close(s));
	/* the handles may only be released now; these calls are harmless */
	ck_assert_int_eq(ks_topic_partition(t, 0, &l), KS_ECLOSED);
	ck_assert_str_eq(ks_topic_name(t), "t");

	/* a new store on the directory, with a new "z", before the old
	 * handles go: releasing them must not touch it */
	s = open_store(dir, 0);
	create_small(s, "z", 1);
	topic_append(s, "z", 0, 5);
	ks_topic_release(z);
	ks_topic_release(t);
	ck_assert(path_exists(dir, "z-0"));
	topic_check(s, "z", 0, 5);
	topic_check(s, "t", 0, 3);
	KT_OK(ks_topic_open(s, "t", &d));
	KT_OK(ks_store_close(s));
	ks_topic_release(d);
	free(dir);
}
END_TEST

/* ---- cleaning ------------------------------------------------------------ */

/*
 * A topic whose segments retention removes: several, all stamped T_OLD
 * (counted unless a cleaner thread may already be removing them).
 */
static void fill_old(ks_store_t *s, const char *name, int policy, int count)
{
	ks_topic_config_t c;
	char tag[64];
	ks_topic_t *t;
	ks_log_t *log;
	ks_log_stat_t st;

	small_topic(&c, 1);
	c.cleanup_policy = policy;
	c.log.retention_ms = 1000;
	KT_OK(ks_topic_create(s, name, &c));
	KT_OK(ks_topic_open(s, name, &t));
	log = part(t, 0);
	snprintf(tag, sizeof tag, "%s/0", name);
	append_n(log, tag, 3000, T_OLD, NULL);
	KT_OK(ks_log_roll(log));
	KT_OK(ks_log_stat(log, &st));
	if (count)
		ck_assert_uint_ge(st.segment_count, 3);
	ks_topic_release(t);
}

static int64_t start_of(ks_store_t *s, const char *name)
{
	ks_topic_t *t;
	int64_t v;
	KT_OK(ks_topic_open(s, name, &t));
	v = ks_log_start_offset(part(t, 0));
	ks_topic_release(t);
	return v;
}

START_TEST(test_clean)
{
	char *dir = kt_fresh_path(g_base, "clean");
	ks_topic_config_t c;
	ks_log_iter_t *it;
	ks_record_t rec;
	ks_store_t *s;
	ks_topic_t *t;
	ks_log_t *log;
	int64_t last = -1;
	int i, n = 0, rc;

	s = open_store(dir, KS_STORE_CREATE);
	fill_old(s, "old", KS_CLEANUP_DELETE, 1);
	fill_old(s, "kept", KS_CLEANUP_COMPACT, 1);
	fill_old(s, "both", KS_CLEANUP_COMPACT | KS_CLEANUP_DELETE, 1);

	/* compaction: one key written over and over */
	small_topic(&c, 1);
	c.cleanup_policy = KS_CLEANUP_COMPACT;
	c.min_cleanable_dirty_ratio = 0;
	KT_OK(ks_topic_create(s, "keyed", &c));
	KT_OK(ks_topic_open(s, "keyed", &t));
	log = part(t, 0);
	for (i = 0; i < 6; i++) {
		append_n(log, "keyed/0", 100, -1, "k");
		KT_OK(ks_log_roll(log));
	}
	KT_OK(ks_log_flush(log, -1));

	/* with "now" close to the records, nothing is old enough */
	KT_OK(ks_store_clean(s, T_OLD + 10));
	ck_assert_int_eq(start_of(s, "old"), 0);
	KT_OK(ks_store_clean(s, -1));
	ck_assert_int_gt(start_of(s, "old"), 0);
	ck_assert_int_gt(start_of(s, "both"), 0);
	ck_assert_int_eq(start_of(s, "kept"), 0);
	/* compacted: fewer records, the latest one kept, offsets unchanged */
	KT_OK(ks_log_iter_new(log, 0, &it));
	while ((rc = ks_log_iter_next(it, &rec)) == 1) {
		ck_assert_int_gt(rec.offset, last);
		last = rec.offset;
		n++;
	}
	ck_assert_int_eq(rc, 0);
	ks_log_iter_free(it);
	ck_assert_int_lt(n, 600);
	ck_assert_int_eq(last, 599);
	ks_topic_release(t);
	KT_OK(ks_store_close(s));
	free(dir);
}
END_TEST

START_TEST(test_cleaner_thread)
{
	char *dir = kt_fresh_path(g_base, "cleaner");
	ks_store_config_t c;
	ks_store_t *s;
	int64_t deadline;

	store_cfg(&c, KS_STORE_CREATE);
	c.cleaner_interval_ms = 20;
	KT_OK(ks_store_open(dir, &c, &s));
	fill_old(s, "old", KS_CLEANUP_DELETE, 0);
	deadline = kt_now_ns() + INT64_C(10000000000);
	while (start_of(s, "old") == 0 && kt_now_ns() < deadline) {
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	ck_assert_int_gt(start_of(s, "old"), 0);
	KT_OK(ks_store_close(s));
	free(dir);
}
END_TEST

/* ---- errors -------------------------------------------------------------- */

START_TEST(test_errors)
{
	char *dir = kt_fresh_path(g_base, "errors"), *file;
	ks_store_config_t c;
	ks_topic_config_t tc;
	ks_store_t *s, *x;
	ks_topic_t *t;
	ks_log_t *l;
	char **names;
	size_t n;

	store_cfg(&c, 0);
	ck_assert_int_eq(ks_store_open(NULL, &c, &s), KS_EINVAL);
	ck_assert_int_eq(ks_store_open("", &c, &s), KS_EINVAL);
	ck_assert_int_eq(ks_store_open(dir, &c, NULL), KS_EINVAL);
	ck_assert_int_eq(ks_store_open(dir, &c, &s), -ENOENT);
	c.flags = KS_STORE_RDONLY | KS_STORE_CREATE;
	ck_assert_int_eq(ks_store_open(dir, &c, &s), -ENOENT);
	store_cfg(&c, KS_STORE_CREATE);
	c.cleaner_interval_ms = -1;
	ck_assert_int_eq(ks_store_open(dir, &c, &s), KS_ECONFIG);
	store_cfg(&c, KS_STORE_CREATE);
	c.topic_defaults.partitions = 0;
	ck_assert_int_eq(ks_store_open(dir, &c, &s), KS_ECONFIG);
	file = kt_path(g_base, "errors-file");
	touch(g_base, "errors-file");
	store_cfg(&c, 0);
	ck_assert_int_eq(ks_store_open(file, &c, &s), -ENOTDIR);
	free(file);
	KT_OK(ks_store_close(NULL));
	ck_assert_ptr_null(ks_store_dir(NULL));
	ck_assert_int_eq(ks_store_clean(NULL, -1), KS_EINVAL);

	x = NULL;
	KT_OK(ks_store_close(x));
	s = open_store(dir, KS_STORE_CREATE);
	create_small(s, "e", 1);
	small_topic(&tc, 1);
	ck_assert_int_eq(ks_topic_create(NULL, "a", &tc), KS_EINVAL);
	ck_assert_int_eq(ks_topic_create(s, NULL, &tc), KS_EINVAL);
	ck_assert_int_eq(ks_topic_delete(NULL, "e"), KS_EINVAL);
	ck_assert_int_eq(ks_topic_delete(s, NULL), KS_EINVAL);
	ck_assert_int_eq(ks_topic_alter(NULL, "e", &tc), KS_EINVAL);
	ck_assert_int_eq(ks_topic_alter(s, NULL, &tc), KS_EINVAL);
	ck_assert_int_eq(ks_topic_add_partitions(NULL, "e", 2), KS_EINVAL);
	ck_assert_int_eq(ks_topic_add_partitions(s, NULL, 2), KS_EINVAL);
	ck_assert_int_eq(ks_topic_list(NULL, &names, &n), KS_EINVAL);
	ck_assert_int_eq(ks_topic_list(s, NULL, &n), KS_EINVAL);
	KT_OK(ks_topic_list(s, &names, NULL));
	ck_assert_str_eq(names[0], "e");
	ck_assert_ptr_null(names[1]);
	ks_topic_list_free(names);
	ks_topic_list_free(NULL);
	ck_assert_int_eq(ks_topic_open(s, "e", NULL), KS_EINVAL);
	ck_assert_int_eq(ks_topic_open(NULL, "e", &t), KS_EINVAL);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(ks_topic_open(s, NULL, &t), KS_EINVAL);
	ck_assert_int_eq(ks_topic_open(s, "unknown", &t), KS_ETOPIC);
	ck_assert_ptr_null(t);
	ks_topic_release(NULL);
	ck_assert_ptr_null(ks_topic_name(NULL));
	ck_assert_int_lt(ks_topic_partitions(NULL), 0);
	ck_assert_int_eq(ks_topic_config(NULL, &tc), KS_EINVAL);
	ck_assert_int_eq(ks_topic_partition(NULL, 0, &l), KS_EINVAL);
	ck_assert_ptr_null(l);
	KT_OK(ks_topic_open(s, "e", &t));
	ck_assert_int_eq(ks_topic_config(t, NULL), KS_EINVAL);
	ck_assert_int_eq(ks_topic_partition(t, 0, NULL), KS_EINVAL);
	ck_assert_int_eq(ks_topic_partition(t, 1, &l), KS_EPARTITION);
	ck_assert_int_eq(ks_topic_partition(t, INT32_MAX, &l), KS_EPARTITION);
	ks_topic_release(t);
	KT_OK(ks_store_close(s));
	free(dir);
}
END_TEST

/* ---- threads ------------------------------------------------------------- */

struct churn {
	ks_store_t *s;
	int id;
	int err;
};

/* Creates, writes, opens its neighbours' topics, deletes, over and over. */
static void *churn_main(void *arg)
{
	struct churn *c = arg;
	int i;
	for (i = 0; i < 30 && !c->err; i++) {
		char name[32], other[32], tag[48];
		ks_topic_config_t tc;
		ks_topic_t *t;
		ks_log_t *log;
		int rc;

		snprintf(name, sizeof name, "c%d-%d", c->id, i);
		snprintf(other, sizeof other, "c%d-%d", (c->id + 1) % 4, i);
		small_topic(&tc, 2);
		if ((rc = ks_topic_create(c->s, name, &tc)) != 0 ||
		    (rc = ks_topic_open(c->s, name, &t)) != 0) {
			c->err = rc;
			break;
		}
		if ((rc = ks_topic_partition(t, i % 2, &log)) == 0) {
			snprintf(tag, sizeof tag, "%s/%d", name, i % 2);
			ks_record_t r = { .value = tag, .value_len = 5,
				.timestamp = -1 };
			rc = ks_log_append(log, &r, 1, NULL);
		}
		if (rc == 0 && i % 3 == 0)
			rc = ks_topic_add_partitions(c->s, name, 3);
		if (rc == 0)
			rc = ks_topic_delete(c->s, name);
		ks_topic_release(t);
		if (rc) {
			c->err = rc;
			break;
		}
		/* a neighbour's topic may or may not exist */
		rc = ks_topic_open(c->s, other, &t);
		if (rc == 0) {
			(void)ks_topic_partitions(t);
			ks_topic_release(t);
		} else if (rc != KS_ETOPIC) {
			c->err = rc;
		}
		if (i % 5 == 0) {
			char **names;
			if ((rc = ks_topic_list(c->s, &names, NULL)) != 0)
				c->err = rc;
			else
				ks_topic_list_free(names);
			if ((rc = ks_store_clean(c->s, -1)) != 0)
				c->err = rc;
		}
	}
	return NULL;
}

START_TEST(test_threads)
{
	char *dir = kt_fresh_path(g_base, "threads");
	struct churn c[4];
	pthread_t th[4];
	ks_store_config_t sc;
	ks_store_t *s;
	int i;

	store_cfg(&sc, KS_STORE_CREATE);
	sc.cleaner_interval_ms = 1;
	KT_OK(ks_store_open(dir, &sc, &s));
	for (i = 0; i < 4; i++) {
		c[i] = (struct churn){ s, i, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, churn_main,
		    &c[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(c[i].err == 0, "thread %d: %s", i,
		    ks_strerror(c[i].err));
	}
	CK_LIST(s, "");
	KT_OK(ks_store_close(s));
	free(dir);
}
END_TEST

Suite *store_suite(void); /* for test/main.c */

Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_config);
	tcase_add_test(tc, test_config_get);
	tcase_add_test(tc, test_store_config);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_create_describe);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_delete_held);
	tcase_add_test(tc, test_alter);
	tcase_add_test(tc, test_add_partitions);
	tcase_add_test(tc, test_persistence);
	tcase_add_test(tc, test_locked_inproc);
	tcase_add_test(tc, test_locked_fork);
	tcase_add_test(tc, test_rdonly_follow);
	tcase_add_test(tc, test_rdonly_fork);
	tcase_add_test(tc, test_rdonly_after_alter);
	tcase_add_test(tc, test_crash_exit);
	tcase_add_test(tc, test_crash_kill);
	tcase_add_test(tc, test_crash_leftovers);
	tcase_add_test(tc, test_corrupt_meta);
	tcase_add_test(tc, test_close_with_handles);
	tcase_add_test(tc, test_clean);
	tcase_add_test(tc, test_cleaner_thread);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}
