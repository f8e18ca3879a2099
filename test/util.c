/* util.c: helpers shared by the test suites. */
#define _GNU_SOURCE
#include "util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *kt_tmpdir(const char *tag)
{
	const char *base = getenv("KS_TEST_TMP");
	char *p;
	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&p, "%s/kstream-%s-XXXXXX", base, tag) < 0)
		abort();
	if (!mkdtemp(p))
		abort();
	return p;
}

char *kt_subdir(const char *base)
{
	char *p;
	if (asprintf(&p, "%s/t-XXXXXX", base) < 0)
		abort();
	ck_assert_msg(mkdtemp(p) != NULL, "mkdtemp %s", p);
	return p;
}

char *kt_fresh_path(const char *base, const char *name)
{
	char *p = kt_path(base, name);
	kt_rmrf(p);
	return p;
}

static int rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void kt_rmrf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void kt_rmrf_free(char **dirp)
{
	if (*dirp)
		kt_rmrf(*dirp);
	free(*dirp);
	*dirp = NULL;
}

char *kt_path(const char *dir, const char *name)
{
	char *p;
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	return p;
}

long long kt_file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

void kt_free_ports(int *ports, int n)
{
	int *fds, i;

	ck_assert_int_gt(n, 0);
	fds = calloc((size_t)n, sizeof *fds);
	ck_assert_ptr_nonnull(fds);
	for (i = 0; i < n; i++) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof sa;

		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(fds[i], 0);
		memset(&sa, 0, sizeof sa);
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ck_assert_int_eq(bind(fds[i], (struct sockaddr *)&sa,
		    sizeof sa), 0);
		ck_assert_int_eq(getsockname(fds[i], (struct sockaddr *)&sa,
		    &sl), 0);
		ports[i] = ntohs(sa.sin_port);
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
}

int kt_free_port(void)
{
	int port;

	kt_free_ports(&port, 1);
	return port;
}

/* ---- the record generator */

uint64_t kt_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t kt_seed(uint64_t dflt)
{
	const char *s = getenv("KS_TEST_SEED");
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

int64_t kt_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void kt_gen_record(uint64_t seed, int64_t t0, int64_t off, struct kt_gen *g)
{
	uint64_t h = kt_mix64(seed ^ kt_mix64((uint64_t)off));
	uint64_t s = h;
	size_t vlen = 10 + h % 291, i;

	memset(&g->rec, 0, sizeof g->rec);
	for (i = 0; i < vlen; i++) {
		if (i % 8 == 0)
			s = kt_mix64(s);
		g->value[i] = (uint8_t)(s >> (8 * (i % 8)));
	}
	g->rec.value = g->value;
	g->rec.value_len = vlen;
	g->rec.timestamp = t0 + off;
	if ((h >> 32) % 4 != 0) {
		g->rec.key_len = (size_t)snprintf(g->key, sizeof g->key,
		    "key-%" PRId64, off);
		g->rec.key = g->key;
	}
	if ((h >> 40) % 3 == 0) {
		size_t hl = (h >> 44) % 17;
		for (i = 0; i < hl; i++)
			g->hval[i] = (uint8_t)(h >> (i % 8 * 8)) ^ (uint8_t)i;
		g->hdrs[0] = (ks_header_t){ "trace", 5, g->hval, hl };
		g->hdrs[1] = (ks_header_t){ "nil", 3, NULL, 0 };
		g->rec.headers = g->hdrs;
		g->rec.header_count = 1 + (h >> 50) % 2;
	}
}

int kt_same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	if ((a == NULL) != (b == NULL) || alen != blen)
		return 0;
	return alen == 0 || memcmp(a, b, alen) == 0;
}

/* The record's own fields under KT_WHY_FIELD: the first one that differs. */
static int field_why(const ks_record_t *w, int64_t off,
    const ks_record_t *rec, char *why, size_t whylen)
{
	if (rec->offset != off) {
		snprintf(why, whylen, "record offset %" PRId64 ", expected %"
		    PRId64, rec->offset, off);
		return -1;
	}
	if (rec->timestamp != w->timestamp) {
		snprintf(why, whylen, "offset %" PRId64 ": timestamp %" PRId64
		    ", expected %" PRId64, off, rec->timestamp, w->timestamp);
		return -1;
	}
	if (!kt_same_bytes(rec->key, rec->key_len, w->key, w->key_len)) {
		snprintf(why, whylen, "offset %" PRId64 ": key differs (len %zu"
		    ", expected %s%zu)", off, rec->key_len,
		    w->key ? "" : "null ", w->key_len);
		return -1;
	}
	if (!kt_same_bytes(rec->value, rec->value_len, w->value,
	    w->value_len)) {
		snprintf(why, whylen, "offset %" PRId64 ": value differs "
		    "(len %zu, expected %zu)", off, rec->value_len,
		    w->value_len);
		return -1;
	}
	if (rec->header_count != w->header_count) {
		snprintf(why, whylen, "offset %" PRId64 ": %zu headers, "
		    "expected %zu", off, rec->header_count, w->header_count);
		return -1;
	}
	return 0;
}

/* The same test under KT_WHY_RECORD: all of rec in one line. */
static int record_why(const ks_record_t *w, int64_t off,
    const ks_record_t *rec, char *why, size_t whylen)
{
	if (rec->offset != off || rec->timestamp != w->timestamp ||
	    !kt_same_bytes(rec->key, rec->key_len, w->key, w->key_len) ||
	    !kt_same_bytes(rec->value, rec->value_len, w->value,
	    w->value_len) || rec->header_count != w->header_count) {
		snprintf(why, whylen, "record at offset %" PRId64 " (offset %"
		    PRId64 ", ts %" PRId64 ", key %zu, value %zu, %zu headers)"
		    " differs from what was appended", off, rec->offset,
		    rec->timestamp, rec->key_len, rec->value_len,
		    rec->header_count);
		return -1;
	}
	return 0;
}

int kt_gen_compare(const struct kt_gen *want, int64_t off,
    const ks_record_t *rec, enum kt_why how, char *why, size_t whylen)
{
	ks_header_t h;
	size_t pos = 0, i;
	int rc;

	rc = how == KT_WHY_FIELD ?
	    field_why(&want->rec, off, rec, why, whylen) :
	    record_why(&want->rec, off, rec, why, whylen);
	if (rc != 0)
		return -1;
	for (i = 0; i < want->rec.header_count; i++) {
		rc = ks_record_header_next(rec, &pos, &h);
		if (rc != 1 || !kt_same_bytes(h.key, h.key_len,
		    want->hdrs[i].key, want->hdrs[i].key_len) ||
		    !kt_same_bytes(h.value, h.value_len, want->hdrs[i].value,
		    want->hdrs[i].value_len)) {
			snprintf(why, whylen, "offset %" PRId64 ": header %zu "
			    "differs (rc %d)", off, i, rc);
			return -1;
		}
	}
	if ((rc = ks_record_header_next(rec, &pos, &h)) != 0) {
		if (how == KT_WHY_FIELD)
			snprintf(why, whylen, "offset %" PRId64 ": header_next "
			    "after the last header returned %d", off, rc);
		else
			snprintf(why, whylen, "offset %" PRId64 ": extra "
			    "header", off);
		return -1;
	}
	return 0;
}

int kt_gen_check(uint64_t seed, int64_t t0, int64_t off,
    const ks_record_t *rec, char *why, size_t whylen)
{
	struct kt_gen g;

	kt_gen_record(seed, t0, off, &g);
	return kt_gen_compare(&g, off, rec, KT_WHY_RECORD, why, whylen);
}

/* ---- segment files */

ks_log_t *kt_open_log(const char *dir, const ks_log_config_t *cfg)
{
	ks_log_t *log = NULL;

	KT_OK(ks_log_open(dir, cfg, &log));
	ck_assert_ptr_nonnull(log);
	return log;
}

char *kt_seg_file(const char *dir, int64_t base, const char *ext)
{
	char name[64];

	snprintf(name, sizeof name, "%020" PRId64 "%s", base, ext);
	return kt_path(dir, name);
}

int kt_seg_exists(const char *dir, int64_t base, const char *ext)
{
	char *p = kt_seg_file(dir, base, ext);
	int r = kt_file_size(p) >= 0;

	free(p);
	return r;
}

size_t kt_list_segments(const char *dir, int64_t *bases, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0, i, j;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		const char *s = e->d_name;
		if (strlen(s) != 24 || strcmp(s + 20, ".log") != 0)
			continue;
		for (i = 0; i < 20; i++)
			if (s[i] < '0' || s[i] > '9')
				break;
		if (i < 20)
			continue;
		ck_assert_uint_lt(n, cap);
		bases[n++] = strtoll(s, NULL, 10);
	}
	closedir(d);
	/* Insertion sort: a test directory holds a few dozen segments. */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && bases[j - 1] > bases[j]; j--) {
			int64_t t = bases[j];
			bases[j] = bases[j - 1];
			bases[j - 1] = t;
		}
	return n;
}

/* ---- stores and their metrics */

void kt_store_config(ks_store_config_t *cfg, int flags, ks_log_cb *log_cb)
{
	ks_store_config_init(cfg);
	cfg->flags = flags;
	cfg->cleaner_interval_ms = 0;
	if (log_cb)
		cfg->log_cb = log_cb;
}

double kt_value(const ks_metrics_t *m, const char *name, const char *match)
{
	const ks_metric_t *s = ks_metrics_find(m, name, match);

	ck_assert_msg(s != NULL, "no %s{%s}", name, match ? match : "");
	return s->value;
}
