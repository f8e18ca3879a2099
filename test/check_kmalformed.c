/*
 * check_kmalformed.c: the Kafka server against malformed input. Requests
 * are written byte by byte here, on raw sockets, without kstream's codec,
 * so the suite stays independent of the decoder it tests. Every case ends
 * by checking that the broker still answers a fresh connection correctly
 * (ApiVersions v3, Metadata v1) and that the records produced before it
 * are all still there.
 */
#define _GNU_SOURCE
#include "kserver_util.h"
#include "util.h"

#include <kstream/kafka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FRAME (1u << 20)
#define REQUEST_TIMEOUT_MS 1000
#define TOPIC "t"
#define PARTS 3
#define RECORDS 30
#define IO_TIMEOUT_MS 15000

static char *dir;
static ks_store_t *store;
static ks_kafka_server_t *srv;
static int port;

/* The server logs every bad request as a warning: keep the output quiet. */
static void quiet_log(void *opaque, int level, const char *msg)
{
	(void)opaque;
	if (getenv("KT_VERBOSE"))
		fprintf(stderr, "[%d] %s\n", level, msg);
}

/* Record i of the setup: partition i % PARTS, key "k<i>", value "v<i>". */
static void produce_setup_records(void)
{
	ks_producer_t *p;
	char k[16], v[16];
	int i;

	KT_OK(ks_producer_new(store, NULL, &p));
	for (i = 0; i < RECORDS; i++) {
		ks_record_t r;
		memset(&r, 0, sizeof r);
		r.key = k;
		r.key_len = (size_t)snprintf(k, sizeof k, "k%d", i);
		r.value = v;
		r.value_len = (size_t)snprintf(v, sizeof v, "v%d", i);
		r.timestamp = -1;
		KT_OK(ks_produce(p, TOPIC, i % PARTS, &r, 1, 0, NULL));
	}
	ks_producer_free(p);
}

/*
 * A failed assertion ends the test's process without its teardown, so
 * each test's temp dir lives under one made and removed by the parent
 * process, around the whole test case (children die with the test's
 * process: see spawn()).
 */
static char *base_dir;

static void base_setup(void)
{
	base_dir = kt_tmpdir("kmalformed");
}

static void base_teardown(void)
{
	kt_rmrf_free(&base_dir);
}

static void setup(void)
{
	ks_store_config_t cfg;
	ks_topic_config_t tc;
	ks_kafka_server_config_t sc;

	signal(SIGPIPE, SIG_IGN);
	dir = kt_subdir(base_dir);
	kt_store_config(&cfg, KS_STORE_CREATE, quiet_log);
	KT_OK(ks_store_open(dir, &cfg, &store));
	ks_topic_config_init(&tc);
	tc.partitions = PARTS;
	KT_OK(ks_topic_create(store, TOPIC, &tc));
	produce_setup_records();

	ks_kafka_server_config_init(&sc);
	sc.net.max_frame = MAX_FRAME;
	sc.net.request_timeout_ms = REQUEST_TIMEOUT_MS;
	sc.net.idle_timeout_ms = 120000;
	port = kt_kserver_start(store, &sc, &srv);
}

static void teardown(void)
{
	kt_kserver_stop(&srv, &store, &dir);
}

/* ---- writing requests by hand -------------------------------------------- */

struct wb {
	uint8_t b[8192];
	size_t n;
};

static void w_raw(struct wb *w, const void *p, size_t n)
{
	ck_assert_uint_le(w->n + n, sizeof w->b);
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void w8(struct wb *w, uint8_t v)
{
	w_raw(w, &v, 1);
}

static void w16(struct wb *w, int16_t v)
{
	uint8_t b[2] = { (uint8_t)((uint16_t)v >> 8), (uint8_t)v };
	w_raw(w, b, 2);
}

static void w32(struct wb *w, int32_t v)
{
	uint32_t u = (uint32_t)v;
	uint8_t b[4] = { (uint8_t)(u >> 24), (uint8_t)(u >> 16),
		(uint8_t)(u >> 8), (uint8_t)u };
	w_raw(w, b, 4);
}

/* A classic string: int16 length, bytes. */
static void wstr(struct wb *w, const char *s)
{
	w16(w, (int16_t)strlen(s));
	w_raw(w, s, strlen(s));
}

/* An unsigned varint (flexible versions' lengths and tag counts). */
static void wuv(struct wb *w, uint32_t v)
{
	while (v >= 0x80) {
		w8(w, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	w8(w, (uint8_t)v);
}

/* A compact string: uvarint length + 1, bytes. */
static void wcstr(struct wb *w, const char *s)
{
	wuv(w, (uint32_t)strlen(s) + 1);
	w_raw(w, s, strlen(s));
}

/* Starts a frame: a length placeholder that frame_end() fills. */
static void frame_begin(struct wb *w)
{
	w->n = 0;
	w32(w, 0);
}

static void frame_end(struct wb *w)
{
	uint32_t len = (uint32_t)(w->n - 4);
	w->b[0] = (uint8_t)(len >> 24);
	w->b[1] = (uint8_t)(len >> 16);
	w->b[2] = (uint8_t)(len >> 8);
	w->b[3] = (uint8_t)len;
}

/* Request header v1: api_key, api_version, correlation_id, client_id. */
static void header_v1(struct wb *w, int16_t key, int16_t ver, int32_t corr)
{
	w16(w, key);
	w16(w, ver);
	w32(w, corr);
	wstr(w, "kt-malformed");
}

/* ---- reading answers ----------------------------------------------------- */

/* Reads wait under their own deadlines (poll), not a socket timeout. */
static int dial(void)
{
	return kt_tcp_connect(port, 0);
}

/*
 * Sends everything it can; the server may close while we write (it is
 * allowed to stop reading an oversized frame), so errors are not fatal.
 */
static void send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		b += k;
		n -= (size_t)k;
	}
}

/* Milliseconds left until deadline (kt_now_ns based), at least 0. */
static int left_ms(int64_t deadline)
{
	int64_t d = (deadline - kt_now_ns()) / 1000000;
	return d < 0 ? 0 : (int)d;
}

/* Reads n bytes: 0, -1 when the peer closed, -2 on timeout. */
static int read_exact(int fd, void *p, size_t n, int64_t deadline)
{
	uint8_t *b = p;
	while (n > 0) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t k;
		int rc = poll(&pf, 1, left_ms(deadline));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return -2;
		k = read(fd, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/* One response frame (without its length); free() it. Asserts it comes. */
static uint8_t *read_frame(int fd, size_t *lenp)
{
	int64_t deadline = kt_now_ns() + (int64_t)IO_TIMEOUT_MS * 1000000;
	uint8_t hdr[4], *buf;
	uint32_t len;
	int rc = read_exact(fd, hdr, 4, deadline);

	ck_assert_msg(rc == 0, "no response frame: %s",
	    rc == -1 ? "connection closed" : "timed out");
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	ck_assert_msg(len >= 4 && len <= MAX_FRAME * 4,
	    "response frame length %u", len);
	buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	rc = read_exact(fd, buf, len, deadline);
	ck_assert_msg(rc == 0, "response cut short (%u bytes announced)", len);
	*lenp = len;
	return buf;
}

/*
 * Waits for the server to close fd, failing if it answers anything first
 * or does not close within timeout_ms. A reset counts as closed (the
 * server may close with our bytes unread).
 */
static void expect_closed(int fd, int timeout_ms, const char *what)
{
	int64_t deadline = kt_now_ns() + (int64_t)timeout_ms * 1000000;
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		uint8_t b[256];
		ssize_t k;
		int rc = poll(&pf, 1, left_ms(deadline));
		if (rc < 0 && errno == EINTR)
			continue;
		ck_assert_msg(rc > 0, "%s: connection still open after %d ms",
		    what, timeout_ms);
		k = read(fd, b, sizeof b);
		if (k < 0 && errno == EINTR)
			continue;
		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return;
		ck_assert_msg(k < 0, "%s: expected the connection closed, got "
		    "%zd bytes of answer", what, k);
		ck_abort_msg("%s: read: %s", what, strerror(errno));
	}
}

/* A cursor over a response. Reading past the end fails the test. */
struct rd {
	const uint8_t *p, *end;
	const char *what;
};

static void r_need(struct rd *r, size_t n)
{
	ck_assert_msg((size_t)(r->end - r->p) >= n,
	    "%s: response ends early (%zu bytes left, %zu wanted)", r->what,
	    (size_t)(r->end - r->p), n);
}

static int16_t r16(struct rd *r)
{
	int16_t v;
	r_need(r, 2);
	v = (int16_t)((uint16_t)r->p[0] << 8 | r->p[1]);
	r->p += 2;
	return v;
}

static int32_t r32(struct rd *r)
{
	uint32_t v;
	r_need(r, 4);
	v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	    (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	return (int32_t)v;
}

static uint32_t ruv(struct rd *r)
{
	uint32_t v = 0;
	int shift;
	for (shift = 0; shift < 35; shift += 7) {
		uint8_t b;
		r_need(r, 1);
		b = *r->p++;
		v |= (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	ck_abort_msg("%s: varint too long", r->what);
	return 0;
}

/* Skips a flexible version's tagged fields. */
static void r_tags(struct rd *r)
{
	uint32_t n = ruv(r);
	while (n-- > 0) {
		uint32_t size;
		(void)ruv(r); /* tag */
		size = ruv(r);
		r_need(r, size);
		r->p += size;
	}
}

/* A classic string into buf (NUL-terminated); -1 length gives "". */
static void rstr(struct rd *r, char *buf, size_t cap)
{
	int16_t n = r16(r);
	if (n < 0) {
		buf[0] = '\0';
		return;
	}
	r_need(r, (size_t)n);
	ck_assert_uint_lt((size_t)n, cap);
	memcpy(buf, r->p, (size_t)n);
	buf[n] = '\0';
	r->p += n;
}

/* ---- what a healthy broker answers --------------------------------------- */

struct api_range {
	int16_t key, min, max;
};

static const struct api_range *find_api(const struct api_range *a, int n,
    int16_t key)
{
	int i;
	for (i = 0; i < n; i++)
		if (a[i].key == key)
			return &a[i];
	return NULL;
}

/* The APIs the last ApiVersions v3 answer listed. */
static struct api_range last_apis[128];
static int last_napis;

/* ApiVersions v3 on fd: error 0 and the APIs a Kafka client needs. */
static void check_api_versions_v3(int fd, int32_t corr)
{
	struct wb w;
	struct rd r;
	struct api_range apis[128];
	const struct api_range *a;
	uint8_t *resp;
	size_t len;
	uint32_t n, i;

	frame_begin(&w);
	w16(&w, 18);
	w16(&w, 3);
	w32(&w, corr);
	wstr(&w, "kt-malformed");
	wuv(&w, 0);            /* header v2 tagged fields */
	wcstr(&w, "kt-malformed");
	wcstr(&w, "1.0");
	wuv(&w, 0);            /* body tagged fields */
	frame_end(&w);
	send_all(fd, w.b, w.n);

	resp = read_frame(fd, &len);
	r.p = resp;
	r.end = resp + len;
	r.what = "ApiVersions v3";
	/* ApiVersions answers always use response header v0 */
	ck_assert_int_eq(r32(&r), corr);
	ck_assert_int_eq(r16(&r), 0);
	n = ruv(&r);
	ck_assert_uint_ge(n, 2);
	n -= 1;
	ck_assert_uint_le(n, 128);
	for (i = 0; i < n; i++) {
		apis[i].key = r16(&r);
		apis[i].min = r16(&r);
		apis[i].max = r16(&r);
		r_tags(&r);
		ck_assert_int_le(apis[i].min, apis[i].max);
	}
	(void)r32(&r); /* throttle_time_ms */
	r_tags(&r);
	ck_assert_msg(r.p == r.end, "ApiVersions v3: %zu trailing bytes",
	    (size_t)(r.end - r.p));
	memcpy(last_apis, apis, n * sizeof apis[0]);
	last_napis = (int)n;
	a = find_api(apis, (int)n, 18);
	ck_assert_msg(a && a->min == 0 && a->max >= 3,
	    "ApiVersions not advertised as 0..3+");
	a = find_api(apis, (int)n, 3);
	ck_assert_msg(a && a->min <= 1 && a->max >= 4, "Metadata range");
	a = find_api(apis, (int)n, 0);
	ck_assert_msg(a && a->min <= 3 && a->max >= 7, "Produce range");
	a = find_api(apis, (int)n, 1);
	ck_assert_msg(a && a->min <= 4 && a->max >= 11, "Fetch range");
	free(resp);
}

/* Metadata v1 for TOPIC on fd: this broker, PARTS partitions it leads. */
static void check_metadata_v1(int fd, int32_t corr)
{
	struct wb w;
	struct rd r;
	uint8_t *resp;
	size_t len;
	char s[300];
	int32_t nb, nt, np, i, node, seen = 0;

	frame_begin(&w);
	header_v1(&w, 3, 1, corr);
	w32(&w, 1);
	wstr(&w, TOPIC);
	frame_end(&w);
	send_all(fd, w.b, w.n);

	resp = read_frame(fd, &len);
	r.p = resp;
	r.end = resp + len;
	r.what = "Metadata v1";
	ck_assert_int_eq(r32(&r), corr);
	nb = r32(&r);
	ck_assert_int_eq(nb, 1);
	node = r32(&r);
	rstr(&r, s, sizeof s);
	ck_assert_str_eq(s, "127.0.0.1");
	ck_assert_int_eq(r32(&r), port);
	rstr(&r, s, sizeof s); /* rack */
	ck_assert_int_eq(r32(&r), node); /* controller */
	nt = r32(&r);
	ck_assert_int_eq(nt, 1);
	ck_assert_int_eq(r16(&r), 0);
	rstr(&r, s, sizeof s);
	ck_assert_str_eq(s, TOPIC);
	r_need(&r, 1);
	ck_assert_int_eq(*r.p++, 0); /* is_internal */
	np = r32(&r);
	ck_assert_int_eq(np, PARTS);
	for (i = 0; i < np; i++) {
		int32_t idx, k, n;
		ck_assert_int_eq(r16(&r), 0);
		idx = r32(&r);
		ck_assert_int_ge(idx, 0);
		ck_assert_int_lt(idx, PARTS);
		seen |= 1 << idx;
		ck_assert_int_eq(r32(&r), node); /* leader */
		for (k = 0; k < 2; k++) {       /* replicas, isr */
			n = r32(&r);
			ck_assert_int_eq(n, 1);
			ck_assert_int_eq(r32(&r), node);
		}
	}
	ck_assert_int_eq(seen, (1 << PARTS) - 1);
	ck_assert_msg(r.p == r.end, "Metadata v1: %zu trailing bytes",
	    (size_t)(r.end - r.p));
	free(resp);
}

/* Every record of the setup is still in the store, unchanged. */
static void check_records(void)
{
	ks_topic_t *t;
	int p, total = 0;

	KT_OK(ks_topic_open(store, TOPIC, &t));
	for (p = 0; p < PARTS; p++) {
		ks_log_t *log;
		ks_log_iter_t *it;
		ks_record_t rec;
		int rc, i = p;
		KT_OK(ks_topic_partition(t, p, &log));
		KT_OK(ks_log_iter_new(log, 0, &it));
		while ((rc = ks_log_iter_next(it, &rec)) == 1) {
			char k[16], v[16];
			snprintf(k, sizeof k, "k%d", i);
			snprintf(v, sizeof v, "v%d", i);
			ck_assert(kt_same_bytes(rec.key, rec.key_len, k,
			    strlen(k)));
			ck_assert(kt_same_bytes(rec.value, rec.value_len, v,
			    strlen(v)));
			ck_assert_int_eq(rec.offset, i / PARTS);
			i += PARTS;
			total++;
		}
		ck_assert_int_eq(rc, 0);
		ks_log_iter_free(it);
	}
	ks_topic_release(t);
	ck_assert_int_eq(total, RECORDS);
}

/* The broker still serves a newcomer, and the data is intact. */
static void check_alive(void)
{
	int fd = dial();
	check_api_versions_v3(fd, 1001);
	check_metadata_v1(fd, 1002);
	/* again on the same connection: answers keep their order */
	check_api_versions_v3(fd, 1003);
	close(fd);
	check_records();
}

/* ---- the bad frames ------------------------------------------------------ */

static void bad_oversized(struct wb *w)
{
	/* announces twice max_frame, sends only the beginning */
	w->n = 0;
	w32(w, (int32_t)(2 * MAX_FRAME));
	header_v1(w, 0, 7, 1);
	w16(w, -1);
	w16(w, -1);
	w32(w, 1000);
}

static void bad_negative_length(struct wb *w)
{
	w->n = 0;
	w32(w, -256);
	header_v1(w, 18, 0, 1);
}

static void bad_zero_length(struct wb *w)
{
	w->n = 0;
	w32(w, 0);
}

static void bad_short_header(struct wb *w)
{
	frame_begin(w);
	w16(w, 3);
	w8(w, 0);
	frame_end(w);
}

static void bad_truncated_topic_name(struct wb *w)
{
	/* Metadata v1, one topic whose name announces 10 bytes, 3 follow */
	frame_begin(w);
	header_v1(w, 3, 1, 1);
	w32(w, 1);
	w16(w, 10);
	w_raw(w, "top", 3);
	frame_end(w);
}

static void bad_client_id_past_end(struct wb *w)
{
	frame_begin(w);
	w16(w, 18);
	w16(w, 0);
	w32(w, 1);
	w16(w, 1000);
	w_raw(w, "abc", 3);
	frame_end(w);
}

static void bad_metadata_negative_array(struct wb *w)
{
	frame_begin(w);
	header_v1(w, 3, 1, 1);
	w32(w, -2);
	frame_end(w);
}

/* Produce v3..v7 body up to the topic array. */
static void produce_head(struct wb *w, int16_t ver)
{
	header_v1(w, 0, ver, 1);
	w16(w, -1);      /* transactional_id: null */
	w16(w, -1);      /* acks */
	w32(w, 5000);    /* timeout_ms */
}

static void bad_produce_negative_array(struct wb *w)
{
	frame_begin(w);
	produce_head(w, 7);
	w32(w, -5);
	frame_end(w);
}

static void bad_metadata_huge_array(struct wb *w)
{
	frame_begin(w);
	header_v1(w, 3, 1, 1);
	w32(w, 0x7fffffff);
	wstr(w, TOPIC);
	frame_end(w);
}

static void bad_produce_huge_topics(struct wb *w)
{
	frame_begin(w);
	produce_head(w, 7);
	w32(w, 0x7fffffff);
	wstr(w, TOPIC);
	frame_end(w);
}

static void bad_produce_huge_partitions(struct wb *w)
{
	frame_begin(w);
	produce_head(w, 3);
	w32(w, 1);
	wstr(w, TOPIC);
	w32(w, 0x7fffffff);
	w32(w, 0);
	frame_end(w);
}

static void bad_produce_records_past_end(struct wb *w)
{
	/* one partition whose record set announces 1000 bytes, 16 follow */
	frame_begin(w);
	produce_head(w, 7);
	w32(w, 1);
	wstr(w, TOPIC);
	w32(w, 1);
	w32(w, 0);
	w32(w, 1000);
	w_raw(w, "0123456789abcdef", 16);
	frame_end(w);
}

static void bad_random_garbage(struct wb *w)
{
	uint64_t x = kt_seed(0x6b6d616c);
	int i;
	frame_begin(w);
	for (i = 0; i < 100; i++) {
		x = kt_mix64(x);
		w8(w, (uint8_t)x);
	}
	/* an api key no Kafka broker has (the rest stays random) */
	w->b[4] = 0xc3;
	frame_end(w);
}

static void bad_unknown_api(struct wb *w)
{
	frame_begin(w);
	header_v1(w, 999, 0, 1);
	frame_end(w);
}

static void bad_produce_v99(struct wb *w)
{
	frame_begin(w);
	produce_head(w, 99);
	w32(w, 0);
	frame_end(w);
}

static void bad_metadata_negative_version(struct wb *w)
{
	frame_begin(w);
	header_v1(w, 3, -1, 1);
	w32(w, -1);
	frame_end(w);
}

/* The admin APIs, non-flexible versions: cut or impossible counts. */
static void bad_describe_configs_cut_name(struct wb *w)
{
	/* DescribeConfigs v1: a topic resource whose name announces 20
	 * bytes, 3 follow */
	frame_begin(w);
	header_v1(w, 32, 1, 1);
	w32(w, 1);
	w8(w, 2);
	w16(w, 20);
	w_raw(w, "top", 3);
	frame_end(w);
}

static void bad_describe_configs_huge_keys(struct wb *w)
{
	frame_begin(w);
	header_v1(w, 32, 0, 1);
	w32(w, 1);
	w8(w, 2);
	wstr(w, TOPIC);
	w32(w, 0x7fffffff); /* configuration keys */
	wstr(w, "retention.ms");
	frame_end(w);
}

static void bad_alter_configs_no_validate_only(struct wb *w)
{
	/* AlterConfigs v0: one resource, one config, then the end */
	frame_begin(w);
	header_v1(w, 33, 0, 1);
	w32(w, 1);
	w8(w, 2);
	wstr(w, TOPIC);
	w32(w, 1);
	wstr(w, "retention.ms");
	wstr(w, "1000");
	frame_end(w);
}

static void bad_incremental_alter_configs_cut_op(struct wb *w)
{
	/* IncrementalAlterConfigs v0: the config ends before its op */
	frame_begin(w);
	header_v1(w, 44, 0, 1);
	w32(w, 1);
	w8(w, 2);
	wstr(w, TOPIC);
	w32(w, 1);
	wstr(w, "retention.ms");
	frame_end(w);
}

static void bad_create_partitions_huge_assignments(struct wb *w)
{
	frame_begin(w);
	header_v1(w, 37, 1, 1);
	w32(w, 1);
	wstr(w, TOPIC);
	w32(w, 3);
	w32(w, 0x7fffffff); /* assignments */
	w32(w, 1);
	w32(w, 0);
	frame_end(w);
}

static void bad_delete_groups_negative_array(struct wb *w)
{
	frame_begin(w);
	header_v1(w, 42, 1, 1);
	w32(w, -2);
	frame_end(w);
}

static const struct bad_case {
	const char *name;
	void (*make)(struct wb *w);
} bad_cases[] = {
	{ "frame longer than max_frame", bad_oversized },
	{ "negative frame length", bad_negative_length },
	{ "zero-length frame", bad_zero_length },
	{ "request header cut short", bad_short_header },
	{ "Metadata v1 cut in a topic name", bad_truncated_topic_name },
	{ "client_id length past the end", bad_client_id_past_end },
	{ "Metadata v1 topic array of -2", bad_metadata_negative_array },
	{ "Produce v7 topic array of -5", bad_produce_negative_array },
	{ "Metadata v1 array of 0x7fffffff", bad_metadata_huge_array },
	{ "Produce v7 topic array of 0x7fffffff", bad_produce_huge_topics },
	{ "Produce v3 partition array of 0x7fffffff",
	  bad_produce_huge_partitions },
	{ "Produce v7 record set past the end", bad_produce_records_past_end },
	{ "100 bytes of random garbage", bad_random_garbage },
	{ "unknown API key 999", bad_unknown_api },
	{ "Produce v99", bad_produce_v99 },
	{ "Metadata version -1", bad_metadata_negative_version },
	{ "DescribeConfigs v1 cut in a resource name",
	  bad_describe_configs_cut_name },
	{ "DescribeConfigs v0 key array of 0x7fffffff",
	  bad_describe_configs_huge_keys },
	{ "AlterConfigs v0 without validate_only",
	  bad_alter_configs_no_validate_only },
	{ "IncrementalAlterConfigs v0 cut before an operation",
	  bad_incremental_alter_configs_cut_op },
	{ "CreatePartitions v1 assignment array of 0x7fffffff",
	  bad_create_partitions_huge_assignments },
	{ "DeleteGroups v1 group array of -2",
	  bad_delete_groups_negative_array },
};

#define N_BAD_CASES ((int)(sizeof bad_cases / sizeof bad_cases[0]))

/* Each bad frame closes its connection; the broker serves on. */
START_TEST(bad_frame_closes)
{
	const struct bad_case *c = &bad_cases[_i];
	struct wb w;
	int fd;

	c->make(&w);
	fd = dial();
	send_all(fd, w.b, w.n);
	expect_closed(fd, IO_TIMEOUT_MS, c->name);
	close(fd);
	check_alive();
}
END_TEST

/*
 * What may follow a request with a random body: the connection closes,
 * or an answer with our correlation id comes, or nothing within a second
 * (a request the broker holds, as a JoinGroup waiting for a rebalance).
 * Never someone else's answer; and the broker lives on.
 */
static void expect_close_or_answer(int fd, int32_t corr, const char *what)
{
	int64_t deadline = kt_now_ns() + 1000000000LL;
	uint8_t hdr[8];
	int32_t got;

	if (read_exact(fd, hdr, sizeof hdr, deadline) != 0)
		return;
	got = (int32_t)((uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 |
	    (uint32_t)hdr[6] << 8 | hdr[7]);
	ck_assert_msg(got == corr, "%s: answer with correlation id %d, sent %d",
	    what, got, corr);
}

/*
 * Every proper prefix of a valid Metadata v1 request, framed as if whole,
 * closes the connection; then a random body after a valid header, for
 * every API version the broker advertises, never crashes it.
 */
START_TEST(truncations_and_random_bodies)
{
	uint64_t x = kt_seed(0x7472756e63);
	struct wb good, w;
	size_t cut;
	int i, k, fd, cases = 0;
	int16_t v;

	frame_begin(&good);
	header_v1(&good, 3, 1, 5);
	w32(&good, 2);
	wstr(&good, TOPIC);
	wstr(&good, "other");
	frame_end(&good);
	for (cut = 4; cut < good.n; cut++) {
		char what[96];
		memcpy(w.b, good.b, cut);
		w.n = cut;
		frame_end(&w);
		snprintf(what, sizeof what, "Metadata v1 cut to %zu of %zu "
		    "bytes", cut - 4, good.n - 4);
		fd = dial();
		send_all(fd, w.b, w.n);
		expect_closed(fd, IO_TIMEOUT_MS, what);
		close(fd);
	}
	check_alive(); /* and learn the advertised versions */

	for (i = 0; i < last_napis; i++)
		for (v = last_apis[i].min; v <= last_apis[i].max; v++)
			for (k = 0; k < 3; k++) {
				int32_t corr = 10000 + cases++;
				size_t len, j;
				char what[96];
				frame_begin(&w);
				header_v1(&w, last_apis[i].key, v, corr);
				x = kt_mix64(x);
				len = (size_t)(x % 96);
				for (j = 0; j < len; j++) {
					x = kt_mix64(x);
					w8(&w, (uint8_t)x);
				}
				frame_end(&w);
				snprintf(what, sizeof what, "API %d v%d, %zu "
				    "random bytes", last_apis[i].key, v, len);
				fd = dial();
				send_all(fd, w.b, w.n);
				expect_close_or_answer(fd, corr, what);
				close(fd);
			}
	ck_assert_int_gt(cases, 3 * 16);
	check_alive();
}
END_TEST

/* A good request followed by a bad one: the answer, then the close. */
START_TEST(good_then_bad)
{
	struct wb good, bad;
	struct rd r;
	uint8_t *resp;
	size_t len;
	int fd;

	frame_begin(&good);
	header_v1(&good, 18, 0, 77);
	frame_end(&good);
	bad_unknown_api(&bad);
	ck_assert_uint_le(good.n + bad.n, sizeof good.b);
	memcpy(good.b + good.n, bad.b, bad.n); /* one write, two frames */
	good.n += bad.n;

	fd = dial();
	send_all(fd, good.b, good.n);
	resp = read_frame(fd, &len);
	r.p = resp;
	r.end = resp + len;
	r.what = "ApiVersions v0";
	ck_assert_int_eq(r32(&r), 77);
	ck_assert_int_eq(r16(&r), 0);
	free(resp);
	expect_closed(fd, IO_TIMEOUT_MS, "unknown API after a good request");
	close(fd);
	check_alive();
}
END_TEST

/*
 * ApiVersions at a version the broker does not know: error 35
 * (UNSUPPORTED_VERSION) in a v0-shaped answer that still lists the
 * ApiVersions range, so that a client can retry lower on the same
 * connection.
 */
START_TEST(api_versions_v99)
{
	struct wb w;
	struct rd r;
	uint8_t *resp;
	size_t len;
	int32_t n, i;
	int fd, found = 0;

	frame_begin(&w);
	header_v1(&w, 18, 99, 4242);
	wuv(&w, 0); /* a future version is flexible: header v2's tags */
	/* whatever a future version carries: the broker must not parse it */
	wcstr(&w, "future-client");
	wcstr(&w, "99.0");
	w32(&w, 0x7fffffff);
	wuv(&w, 0);
	frame_end(&w);
	fd = dial();
	send_all(fd, w.b, w.n);

	resp = read_frame(fd, &len);
	r.p = resp;
	r.end = resp + len;
	r.what = "ApiVersions v99";
	ck_assert_int_eq(r32(&r), 4242);
	ck_assert_int_eq(r16(&r), 35);
	n = r32(&r);
	ck_assert_int_ge(n, 1);
	ck_assert_int_le(n, 128);
	for (i = 0; i < n; i++) {
		int16_t key = r16(&r), min = r16(&r), max = r16(&r);
		if (key == 18) {
			ck_assert_int_eq(min, 0);
			ck_assert_int_ge(max, 3);
			found = 1;
		}
	}
	ck_assert_msg(found, "no ApiVersions entry in the v0 answer");
	ck_assert_msg(r.p == r.end, "not v0-shaped: %zu trailing bytes",
	    (size_t)(r.end - r.p));
	free(resp);

	/* the client's retry, on the same connection */
	check_api_versions_v3(fd, 4243);
	close(fd);
	check_alive();
}
END_TEST

/*
 * Produce v2 carrying a message in the legacy format (magic 1), as an old
 * client sends: the broker answers UNSUPPORTED_FOR_MESSAGE_FORMAT (43)
 * for the partition, appends nothing, and keeps the connection.
 */
/* CRC-32 (IEEE, zlib's), bit by bit: the legacy message format's. */
static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	int k;
	while (n-- > 0) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

START_TEST(produce_v2_legacy_message)
{
	struct wb w, msg;
	struct rd r;
	uint8_t *resp;
	size_t len;
	uint32_t crc;
	char name[64];
	int fd;

	/* one magic-1 message; its CRC-32 covers magic to the end */
	msg.n = 0;
	w8(&msg, 1);          /* magic */
	w8(&msg, 0);          /* attributes */
	w32(&msg, 0);         /* timestamp, high half */
	w32(&msg, 1000);      /* timestamp, low half */
	w32(&msg, 3);
	w_raw(&msg, "key", 3);
	w32(&msg, 5);
	w_raw(&msg, "value", 5);
	crc = crc32_ieee(msg.b, msg.n);

	frame_begin(&w);
	header_v1(&w, 0, 2, 1);
	w16(&w, -1);          /* acks (v2 has no transactional_id) */
	w32(&w, 5000);        /* timeout_ms */
	w32(&w, 1);
	wstr(&w, TOPIC);
	w32(&w, 1);
	w32(&w, 0);           /* partition */
	w32(&w, (int32_t)(8 + 4 + 4 + msg.n)); /* message set size */
	w32(&w, 0);           /* offset */
	w32(&w, 0);
	w32(&w, (int32_t)(4 + msg.n)); /* message size */
	w32(&w, (int32_t)crc);
	w_raw(&w, msg.b, msg.n);
	frame_end(&w);

	fd = dial();
	send_all(fd, w.b, w.n);
	resp = read_frame(fd, &len);
	r.p = resp;
	r.end = resp + len;
	r.what = "Produce v2";
	ck_assert_int_eq(r32(&r), 1);   /* correlation id */
	ck_assert_int_eq(r32(&r), 1);   /* topics */
	rstr(&r, name, sizeof name);
	ck_assert_str_eq(name, TOPIC);
	ck_assert_int_eq(r32(&r), 1);   /* partitions */
	ck_assert_int_eq(r32(&r), 0);   /* partition index */
	ck_assert_int_eq(r16(&r), 43);  /* UNSUPPORTED_FOR_MESSAGE_FORMAT */
	r_need(&r, 8 + 8 + 4);          /* base_offset, log_append_time, */
	r.p += 8 + 8 + 4;               /* throttle_time_ms */
	ck_assert_msg(r.p == r.end, "Produce v2: %zu trailing bytes",
	    (size_t)(r.end - r.p));
	free(resp);
	check_api_versions_v3(fd, 2); /* the connection stays */
	close(fd);
	check_alive(); /* and nothing was appended */
}
END_TEST

/*
 * A frame that starts and never finishes: the broker serves others
 * meanwhile, and closes it once request_timeout has passed since its
 * first byte (not before).
 */
START_TEST(unfinished_frame)
{
	struct wb w;
	int64_t t0, waited_ms;
	int fd;

	w.n = 0;
	w32(&w, 100);
	header_v1(&w, 3, 1, 1); /* 20 of the 100 bytes announced */
	fd = dial();
	t0 = kt_now_ns();
	send_all(fd, w.b, w.n);
	check_alive();
	expect_closed(fd, IO_TIMEOUT_MS + REQUEST_TIMEOUT_MS,
	    "frame never finished");
	waited_ms = (kt_now_ns() - t0) / 1000000;
	ck_assert_msg(waited_ms >= REQUEST_TIMEOUT_MS / 2,
	    "closed after %lld ms, before the request timeout",
	    (long long)waited_ms);
	close(fd);
	check_alive();
}
END_TEST

#define FLOOD 200

/*
 * 200 connections at once, each sending one garbage byte (a frame
 * length that never completes): all are dropped, and the broker keeps
 * answering others while they hang.
 */
START_TEST(flood_of_garbage)
{
	struct pollfd pf[FLOOD];
	int64_t deadline;
	int i, open_left = FLOOD;

	for (i = 0; i < FLOOD; i++) {
		uint8_t g = (uint8_t)(0x80 | i);
		pf[i].fd = dial();
		pf[i].events = POLLIN;
		send_all(pf[i].fd, &g, 1);
	}
	check_alive();
	deadline = kt_now_ns() + (int64_t)(IO_TIMEOUT_MS * 2) * 1000000;
	while (open_left > 0) {
		int rc = poll(pf, FLOOD, left_ms(deadline));
		if (rc < 0 && errno == EINTR)
			continue;
		ck_assert_msg(rc > 0, "%d of %d connections still open",
		    open_left, FLOOD);
		for (i = 0; i < FLOOD; i++) {
			uint8_t b[64];
			ssize_t k;
			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			k = read(pf[i].fd, b, sizeof b);
			if (k < 0 && errno == EINTR)
				continue;
			ck_assert_msg(k <= 0, "connection %d got %zd bytes", i,
			    k);
			close(pf[i].fd);
			pf[i].fd = -1; /* poll ignores negative fds */
			open_left--;
		}
	}
	check_alive();
}
END_TEST

/* The fixture alone: a healthy broker passes the health check. */
START_TEST(healthy)
{
	check_alive();
}
END_TEST

Suite *kmalformed_suite(void)
{
	Suite *s = suite_create("kmalformed");
	TCase *tc = tcase_create("kmalformed");

	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, healthy);
	tcase_add_loop_test(tc, bad_frame_closes, 0, N_BAD_CASES);
	tcase_add_test(tc, good_then_bad);
	tcase_add_test(tc, api_versions_v99);
	tcase_add_test(tc, produce_v2_legacy_message);
	tcase_add_test(tc, unfinished_frame);
	tcase_add_test(tc, flood_of_garbage);
	tcase_add_test(tc, truncations_and_random_bodies);
	suite_add_tcase(s, tc);
	return s;
}
