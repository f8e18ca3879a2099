/*
 * check_kcompat.c: kstream's Kafka server against real Kafka clients:
 * kcat (plain, TLS, mutual TLS), librdkafka's producer with every
 * compression codec, its high-level consumer in a group (alone and next
 * to an in-process kstream member), and the kstream-broker program.
 *
 * Every test starts a server on a fresh store in a temp dir, on
 * 127.0.0.1 port 0; children (kcat, the broker program) run under
 * deadlines and are killed if they outlive them.
 */
#define _GNU_SOURCE
#include "proc.h"
#include "util.h"

#include <kstream/kafka.h>
#include <librdkafka/rdkafka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <netinet/in.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CMD_TIMEOUT_MS 60000

static char *dir;           /* the test's temp dir */
static char *store_dir;     /* dir/store */
static ks_store_t *store;
static ks_kafka_server_t *srv;
static char bootstrap[300]; /* "127.0.0.1:PORT", "[::1]:PORT" */
static int port;

/* Extra "-X k=v" options every kcat of the test gets (TLS). */
static const char *kcat_x[8];
static int kcat_nx;

/* ---- helpers: the server ------------------------------------------------- */

static int verbose(void)
{
	return getenv("KT_VERBOSE") != NULL;
}

static void quiet_log(void *opaque, int level, const char *msg)
{
	(void)opaque;
	if (verbose() || level <= KS_LOG_ERR)
		fprintf(stderr, "[kstream %d] %s\n", level, msg);
}

/*
 * A failed assertion ends the test's process without its teardown, so
 * each test's temp dir lives under one made and removed by the parent
 * process, around the whole test case (children die with the test's
 * process: see kt_spawn()).
 */
static char *base_dir;

static void base_setup(void)
{
	base_dir = kt_tmpdir("kcompat");
}

static void base_teardown(void)
{
	kt_rmrf(base_dir);
	free(base_dir);
	base_dir = NULL;
}

/* A fresh directory under base_dir; free() it. */
static char *test_dir(void)
{
	char *p;
	ck_assert_int_ge(asprintf(&p, "%s/t-XXXXXX", base_dir), 0);
	ck_assert_ptr_nonnull(mkdtemp(p));
	return p;
}

static void setup(void)
{
	ks_store_config_t cfg;

	signal(SIGPIPE, SIG_IGN);
	kcat_nx = 0;
	dir = test_dir();
	store_dir = kt_path(dir, "store");
	ks_store_config_init(&cfg);
	cfg.flags = KS_STORE_CREATE;
	cfg.cleaner_interval_ms = 0;
	cfg.log_cb = quiet_log;
	KT_OK(ks_store_open(store_dir, &cfg, &store));
}

static void teardown(void)
{
	kt_children_kill();
	ks_kafka_server_free(srv);
	srv = NULL;
	KT_OK(ks_store_close(store));
	kt_rmrf(dir);
	free(store_dir);
	free(dir);
}

/* Starts the server on url (port 0); sets port and bootstrap. */
static void serve(const char *url, const ks_tls_config_t *tls)
{
	ks_kafka_server_config_t sc;
	ks_url_t u;
	char bound[300];

	ks_kafka_server_config_init(&sc);
	KT_OK(ks_kafka_server_new(store, &sc, &srv));
	KT_OK(ks_kafka_server_listen(srv, url, tls));
	KT_OK(ks_kafka_server_url(srv, 0, bound, sizeof bound));
	KT_OK(ks_url_parse(bound, &u));
	ck_assert_int_gt(u.port, 0);
	port = u.port;
	snprintf(bootstrap, sizeof bootstrap,
	    strchr(u.host, ':') ? "[%s]:%d" : "%s:%d", u.host, port);
}

static void create(const char *name, int32_t parts)
{
	ks_topic_config_t tc;
	ks_topic_config_init(&tc);
	tc.partitions = parts;
	KT_OK(ks_topic_create(store, name, &tc));
}

static ks_log_t *partition_log(const char *topic, int32_t p)
{
	ks_topic_t *t;
	ks_log_t *log;
	KT_OK(ks_topic_open(store, topic, &t));
	KT_OK(ks_topic_partition(t, p, &log));
	/* the store keeps the topic open: the log outlives this handle */
	ks_topic_release(t);
	return log;
}

/* ---- helpers: kcat ------------------------------------------------------- */

/*
 * Runs "kcat -b bootstrap <kcat_x> args... " with stdin in. The list of
 * args ends with NULL.
 */
static void kcat(struct kt_cmd_out *o, const char *in, ...)
{
	char *argv[64];
	int n = 0, i;
	va_list ap;
	const char *a;

	argv[n++] = "kcat";
	argv[n++] = "-b";
	argv[n++] = bootstrap;
	for (i = 0; i < kcat_nx; i++) {
		argv[n++] = "-X";
		argv[n++] = (char *)kcat_x[i];
	}
	va_start(ap, in);
	while ((a = va_arg(ap, const char *)) != NULL) {
		ck_assert_int_lt(n, 62);
		argv[n++] = (char *)a;
	}
	va_end(ap);
	argv[n] = NULL;
	kt_run_cmd(argv, in, CMD_TIMEOUT_MS, o);
	if (verbose())
		fprintf(stderr, "kcat status %d\nstdout:\n%s\nstderr:\n%s\n",
		    o->status, o->out, o->err);
}

/* Lines "key-P-I:value P I" for I in [0, n). */
static char *kcat_lines(int p, int n)
{
	char *s = NULL;
	size_t len = 0;
	int i;
	kt_buf_add(&s, &len, "", 0);
	for (i = 0; i < n; i++) {
		char l[64];
		int k = snprintf(l, sizeof l, "key-%d-%d:value %d %d\n", p, i,
		    p, i);
		kt_buf_add(&s, &len, l, (size_t)k);
	}
	return s;
}

/* What kcat -f '%o %k %s\n' prints for offsets [from, to) of kcat_lines. */
static char *kcat_expect(int p, int from, int to)
{
	char *s = NULL;
	size_t len = 0;
	int i;
	kt_buf_add(&s, &len, "", 0);
	for (i = from; i < to; i++) {
		char l[64];
		int k = snprintf(l, sizeof l, "%d key-%d-%d value %d %d\n", i,
		    p, i, p, i);
		kt_buf_add(&s, &len, l, (size_t)k);
	}
	return s;
}

static void kcat_produce(const char *topic, int p, int n)
{
	struct kt_cmd_out o;
	char ps[16];
	char *in = kcat_lines(p, n);
	snprintf(ps, sizeof ps, "%d", p);
	kcat(&o, in, "-P", "-t", topic, "-p", ps, "-K:", "-X", "acks=all",
	    "-X", "message.timeout.ms=30000", NULL);
	ck_assert_msg(kt_cmd_ok(&o), "kcat -P -p %d: status %d: %s", p,
	    o.status, o.err);
	kt_cmd_out_free(&o);
	free(in);
}

/* kcat -C of partition p from offset (a kcat -o value) to the end. */
static void kcat_consume_check(const char *topic, int p, const char *off,
    int from, int to)
{
	struct kt_cmd_out o;
	char ps[16];
	char *want = kcat_expect(p, from, to);
	snprintf(ps, sizeof ps, "%d", p);
	kcat(&o, NULL, "-C", "-q", "-t", topic, "-p", ps, "-o", off, "-e",
	    "-f", "%o %k %s\n", NULL);
	ck_assert_msg(kt_cmd_ok(&o), "kcat -C -p %d -o %s: status %d: %s", p,
	    off, o.status, o.err);
	ck_assert_msg(strcmp(o.out, want) == 0,
	    "kcat -C -p %d -o %s printed:\n%s\nexpected:\n%s", p, off, o.out,
	    want);
	kt_cmd_out_free(&o);
	free(want);
}

/* The records of partition p in the store are exactly kcat_lines(p, n). */
static void store_check_lines(const char *topic, int p, int n)
{
	ks_log_t *log = partition_log(topic, p);
	ks_log_iter_t *it;
	ks_record_t rec;
	int i = 0, rc;

	ck_assert_int_eq(ks_log_end_offset(log), n);
	KT_OK(ks_log_iter_new(log, 0, &it));
	while ((rc = ks_log_iter_next(it, &rec)) == 1) {
		char k[32], v[32];
		snprintf(k, sizeof k, "key-%d-%d", p, i);
		snprintf(v, sizeof v, "value %d %d", p, i);
		ck_assert_int_eq(rec.offset, i);
		ck_assert(kt_same_bytes(rec.key, rec.key_len, k, strlen(k)));
		ck_assert(kt_same_bytes(rec.value, rec.value_len, v,
		    strlen(v)));
		i++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(i, n);
	ks_log_iter_free(it);
}

/*
 * The partition count kcat -L -J reports for topic, or -1 if the topic
 * is not listed. Reads kcat's JSON loosely: the topic's object in the
 * "topics" list, then the "partition": keys up to the next topic.
 */
static int json_partitions(const char *json, const char *topic)
{
	char key[300];
	const char *p, *next;
	int n = 0;

	snprintf(key, sizeof key, "\"topic\":\"%s\"", topic);
	p = strstr(json, "\"topics\":"); /* not the "query" object */
	if (!p || !(p = strstr(p, key)))
		return -1;
	p += strlen(key);
	next = strstr(p, "\"topic\":");
	while ((p = strstr(p, "\"partition\":")) && (!next || p < next)) {
		n++;
		p++;
	}
	return n;
}

/* Runs gen_certs.sh into dir/certs; returns that path (free()). */
static char *make_certs(void)
{
	char *ed = kt_exe_dir(), *script, *certs = kt_path(dir, "certs");
	char *argv[4];
	struct kt_cmd_out o;

	ck_assert_int_ge(asprintf(&script, "%s/../../../test/gen_certs.sh",
	    ed), 0);
	ck_assert_msg(access(script, R_OK) == 0, "%s missing", script);
	ck_assert_int_eq(mkdir(certs, 0700), 0);
	argv[0] = "sh";
	argv[1] = script;
	argv[2] = certs;
	argv[3] = NULL;
	kt_run_cmd(argv, NULL, CMD_TIMEOUT_MS, &o);
	ck_assert_msg(kt_cmd_ok(&o), "gen_certs.sh: %s", o.err);
	kt_cmd_out_free(&o);
	free(script);
	free(ed);
	return certs;
}

/* ---- kcat ---------------------------------------------------------------- */

START_TEST(kcat_metadata)
{
	struct kt_cmd_out o;
	char name[300];

	create("alpha", 3);
	create("beta", 1);
	serve("tcp://127.0.0.1:0", NULL);
	kcat(&o, NULL, "-L", "-J", "-m", "20", NULL);
	ck_assert_msg(kt_cmd_ok(&o), "kcat -L: status %d: %s", o.status, o.err);
	/* the one broker, at the address we listen on */
	snprintf(name, sizeof name, "\"name\":\"127.0.0.1:%d\"", port);
	ck_assert_msg(strstr(o.out, name), "broker %s not in %s", name, o.out);
	ck_assert_int_eq(json_partitions(o.out, "alpha"), 3);
	ck_assert_int_eq(json_partitions(o.out, "beta"), 1);
	ck_assert_int_eq(json_partitions(o.out, "gamma"), -1);
	kt_cmd_out_free(&o);

	/* one topic asked by name */
	kcat(&o, NULL, "-L", "-J", "-t", "alpha", "-m", "20", NULL);
	ck_assert_msg(kt_cmd_ok(&o), "kcat -L -t: %s", o.err);
	ck_assert_int_eq(json_partitions(o.out, "alpha"), 3);
	ck_assert_int_eq(json_partitions(o.out, "beta"), -1);
	kt_cmd_out_free(&o);
}
END_TEST

/* Produce with acks=all to three partitions, consume by offset. */
static void kcat_round_trip(const char *topic)
{
	static const int n[3] = { 10, 12, 3 };
	int p;

	for (p = 0; p < 3; p++)
		kcat_produce(topic, p, n[p]);
	for (p = 0; p < 3; p++)
		store_check_lines(topic, p, n[p]);
	kcat_consume_check(topic, 1, "5", 5, 12);
	kcat_consume_check(topic, 0, "beginning", 0, 10);
	kcat_consume_check(topic, 0, "-3", 7, 10); /* 3 from the end */
	kcat_consume_check(topic, 2, "0", 0, 3);
	kcat_consume_check(topic, 2, "3", 3, 3);   /* at the end: nothing */
}

START_TEST(kcat_produce_consume)
{
	create("lines", 3);
	serve("tcp://127.0.0.1:0", NULL);
	kcat_round_trip("lines");
}
END_TEST

/* Whether this host can listen on ::1 (some containers cannot). */
static int have_ipv6_loopback(void)
{
	struct sockaddr_in6 sa;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;
	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof sa);
	sa.sin6_family = AF_INET6;
	sa.sin6_addr = in6addr_loopback;
	ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return ok;
}

/* The same over IPv6: the broker advertises [::1] and kcat follows. */
START_TEST(kcat_ipv6)
{
	if (!have_ipv6_loopback()) {
		fprintf(stderr, "kcat_ipv6: no ::1 here, skipped\n");
		return;
	}
	create("six", 3);
	serve("tcp://[::1]:0", NULL);
	ck_assert_msg(strncmp(bootstrap, "[::1]:", 6) == 0, "bound %s",
	    bootstrap);
	kcat_round_trip("six");
}
END_TEST

START_TEST(kcat_tls)
{
	char *certs = make_certs();
	char *cert = kt_path(certs, "server.pem");
	char *key = kt_path(certs, "server.key");
	char ca_opt[PATH_MAX + 32];
	ks_tls_config_t tls;
	struct kt_cmd_out o;

	ks_tls_config_init(&tls, 1);
	tls.cert_file = cert;
	tls.key_file = key;
	create("secret", 3);
	serve("tls+tcp://127.0.0.1:0", &tls);

	/* without our CA, the server's certificate is not trusted */
	kcat_x[0] = "security.protocol=ssl";
	kcat_nx = 1;
	kcat(&o, NULL, "-L", "-m", "5", NULL);
	ck_assert_msg(!kt_cmd_ok(&o), "kcat without the CA listed metadata:\n%s",
	    o.out);
	ck_assert_msg(strstr(o.err, "certificate"), "kcat failed, but not on "
	    "the certificate:\n%s", o.err);
	kt_cmd_out_free(&o);

	snprintf(ca_opt, sizeof ca_opt, "ssl.ca.location=%s/ca.pem", certs);
	kcat_x[1] = ca_opt;
	kcat_nx = 2;
	kcat_round_trip("secret");
	kcat_nx = 0;
	free(cert);
	free(key);
	free(certs);
}
END_TEST

/* Serves on tls+tcp://127.0.0.1:0 with certs' server certificate,
 * asking clients for one signed by certs' CA. */
static void serve_mutual_tls(const char *certs)
{
	char *cert = kt_path(certs, "server.pem");
	char *key = kt_path(certs, "server.key");
	char *ca = kt_path(certs, "ca.pem");
	ks_tls_config_t tls;

	ks_tls_config_init(&tls, 1);
	tls.cert_file = cert;
	tls.key_file = key;
	tls.ca_file = ca;
	tls.verify_peer = 1;
	serve("tls+tcp://127.0.0.1:0", &tls);
	free(ca);
	free(cert);
	free(key);
}

START_TEST(kcat_mutual_tls)
{
	char *certs = make_certs();
	char *ca = kt_path(certs, "ca.pem");
	char ca_opt[PATH_MAX + 32], cc_opt[PATH_MAX + 32];
	char ck_opt[PATH_MAX + 32];
	struct kt_cmd_out o;

	create("mutual", 3);
	serve_mutual_tls(certs);

	snprintf(ca_opt, sizeof ca_opt, "ssl.ca.location=%s", ca);
	snprintf(cc_opt, sizeof cc_opt,
	    "ssl.certificate.location=%s/client.pem", certs);
	snprintf(ck_opt, sizeof ck_opt, "ssl.key.location=%s/client.key",
	    certs);
	kcat_x[0] = "security.protocol=ssl";
	kcat_x[1] = ca_opt;
	kcat_nx = 2;
	/* no client certificate: refused */
	kcat(&o, NULL, "-L", "-m", "5", NULL);
	ck_assert_msg(!kt_cmd_ok(&o), "kcat without a client certificate listed "
	    "metadata:\n%s", o.out);
	ck_assert_msg(strstr(o.err, "certificate"), "kcat failed, but not on "
	    "the certificate:\n%s", o.err);
	kt_cmd_out_free(&o);

	kcat_x[2] = cc_opt;
	kcat_x[3] = ck_opt;
	kcat_nx = 4;
	kcat_round_trip("mutual");
	kcat_nx = 0;
	free(ca);
	free(certs);
}
END_TEST

/* ---- librdkafka ---------------------------------------------------------- */

/* A client on our broker; kv: NULL-terminated key, value pairs. */
static rd_kafka_t *rk_new(rd_kafka_type_t type, const char *const *kv,
    void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
    void *opaque)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

#define KT_SET(k, v)                                                         \
	ck_assert_msg(rd_kafka_conf_set(conf, k, v, err, sizeof err) ==      \
	    RD_KAFKA_CONF_OK, "%s=%s: %s", k, v, err)
	KT_SET("bootstrap.servers", bootstrap);
	KT_SET("log_level", verbose() ? "7" : "3");
	for (; kv && kv[0]; kv += 2)
		KT_SET(kv[0], kv[1]);
#undef KT_SET
	if (dr)
		rd_kafka_conf_set_dr_msg_cb(conf, dr);
	rd_kafka_conf_set_opaque(conf, opaque);
	rk = rd_kafka_new(type, conf, err, sizeof err);
	ck_assert_msg(rk != NULL, "rd_kafka_new: %s", err);
	if (type == RD_KAFKA_CONSUMER)
		rd_kafka_poll_set_consumer(rk);
	return rk;
}

#define BULK_N 50000
#define BULK_PARTS 3

/* Record i of the bulk test: key "key-<i>", a compressible value. */
static size_t bulk_value(int i, char *buf, size_t cap)
{
	static const char text[] = "the quick brown fox jumps over the lazy "
	    "dog while kstream keeps every byte of it; ";
	int n = snprintf(buf, cap, "value-%06d-", i);
	size_t len = (size_t)n + (size_t)(i * 7 % 90);
	size_t k;
	for (k = (size_t)n; k < len && k < cap; k++)
		buf[k] = text[(k + (size_t)i) % (sizeof text - 1)];
	return len;
}

struct dr_state {
	int64_t *offset;
	int32_t *partition;
	int reports, errors;
	char first_error[256];
};

static void bulk_dr(rd_kafka_t *rk, const rd_kafka_message_t *m,
    void *opaque)
{
	struct dr_state *st = opaque;
	intptr_t i = (intptr_t)m->_private;
	(void)rk;
	st->reports++;
	if (m->err || i < 0 || i >= BULK_N) {
		if (st->errors++ == 0)
			snprintf(st->first_error, sizeof st->first_error,
			    "record %ld: %s", (long)i,
			    rd_kafka_err2str(m->err));
		return;
	}
	st->offset[i] = m->offset;
	st->partition[i] = m->partition;
}

/*
 * Batches of one partition as stored: records in batches with each codec
 * (counts[KS_COMPRESSION_*]), anything else fails.
 */
static void count_batches(const char *topic, int32_t p, int64_t counts[5])
{
	ks_log_t *log = partition_log(topic, p);
	int64_t off = ks_log_start_offset(log), end = ks_log_end_offset(log);

	while (off < end) {
		ks_log_view_t v;
		const uint8_t *b;
		size_t left;
		KT_OK(ks_log_read(log, off, 1 << 20, &v));
		ck_assert_uint_gt(v.len, 0);
		b = v.data;
		left = v.len;
		while (left >= KS_BATCH_LOG_OVERHEAD) {
			ks_batch_info_t bi;
			int codec;
			if (ks_batch_parse(b, left, &bi) != 0)
				break; /* a view may end inside a batch */
			codec = bi.attributes & KS_BATCH_COMPRESSION_MASK;
			ck_assert_msg(codec <= KS_COMPRESSION_ZSTD,
			    "partition %d batch at %" PRId64
			    ": attributes %#x", p,
			    bi.base_offset, bi.attributes);
			counts[codec] += bi.record_count;
			b += KS_BATCH_LOG_OVERHEAD + (size_t)bi.batch_length;
			left -= KS_BATCH_LOG_OVERHEAD + (size_t)bi.batch_length;
		}
		off = v.next_offset;
		ks_log_view_release(&v);
	}
}

static const struct {
	const char *name;
	int codec;
} codecs[] = {
	{ "none", KS_COMPRESSION_NONE },
	{ "gzip", KS_COMPRESSION_GZIP },
	{ "snappy", KS_COMPRESSION_SNAPPY },
	{ "lz4", KS_COMPRESSION_LZ4 },
	{ "zstd", KS_COMPRESSION_ZSTD },
};

/*
 * 50,000 records from librdkafka with acks=all and linger.ms 5, each
 * acknowledged with an offset; read back byte for byte by an in-process
 * consumer on the same store. With a codec, batches stay compressed on
 * disk.
 */
START_TEST(rdkafka_producer_bulk)
{
	const char *codec = codecs[_i].name;
	int64_t counts[5] = { 0 };
	const char *kv[] = { "acks", "all", "linger.ms", "5",
		"compression.codec", codec, "message.timeout.ms", "60000",
		NULL };
	struct dr_state st;
	rd_kafka_t *rk;
	ks_consumer_config_t cc;
	ks_consumer_t *c;
	ks_topic_partition_t tp[BULK_PARTS];
	uint8_t *seen;
	int i, got = 0;
	int64_t deadline;

	create("bulk", BULK_PARTS);
	serve("tcp://127.0.0.1:0", NULL);
	memset(&st, 0, sizeof st);
	st.offset = calloc(BULK_N, sizeof *st.offset);
	st.partition = calloc(BULK_N, sizeof *st.partition);
	seen = calloc(BULK_N, 1);
	ck_assert(st.offset && st.partition && seen);
	for (i = 0; i < BULK_N; i++)
		st.offset[i] = -1;

	rk = rk_new(RD_KAFKA_PRODUCER, kv, bulk_dr, &st);
	for (i = 0; i < BULK_N; i++) {
		char k[32], v[160];
		size_t klen = (size_t)snprintf(k, sizeof k, "key-%d", i);
		size_t vlen = bulk_value(i, v, sizeof v);
		rd_kafka_resp_err_t err;
		do {
			err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("bulk"),
			    RD_KAFKA_V_KEY(k, klen), RD_KAFKA_V_VALUE(v, vlen),
			    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			    RD_KAFKA_V_OPAQUE((void *)(intptr_t)i),
			    RD_KAFKA_V_END);
			if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
				rd_kafka_poll(rk, 10);
		} while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
		ck_assert_msg(err == 0, "producev: %s", rd_kafka_err2str(err));
		rd_kafka_poll(rk, 0);
	}
	ck_assert_msg(rd_kafka_flush(rk, 120000) == 0,
	    "flush: %d records still queued", rd_kafka_outq_len(rk));
	rd_kafka_destroy(rk);
	ck_assert_msg(st.errors == 0, "%d failed deliveries, first: %s",
	    st.errors, st.first_error);
	ck_assert_int_eq(st.reports, BULK_N);
	for (i = 0; i < BULK_N; i++)
		ck_assert_msg(st.offset[i] >= 0, "record %d: no offset", i);

	/*
	 * Batches are stored as librdkafka sent them: compressed with the
	 * codec, except the few it sends plain because compression did not
	 * make them smaller (a batch of one short record). librdkafka up to
	 * 2.8 compresses with gzip, snappy or lz4 only if the broker's
	 * ApiVersions answer lists Produce v0 (librdkafka issue 4956; Kafka
	 * 4 lists it for that reason, KAFKA-18659): with Produce from v3
	 * they arrive plain.
	 */
	for (i = 0; i < BULK_PARTS; i++)
		count_batches("bulk", i, counts);
	ck_assert_int_eq(counts[0] + counts[1] + counts[2] + counts[3] +
	    counts[4], BULK_N);
	ck_assert_msg(counts[codecs[_i].codec] >= BULK_N * 9 / 10,
	    "%s: only %" PRId64 " of %d records in %s batches on disk "
	    "(does ApiVersions list Produce v0?)", codec,
	    counts[codecs[_i].codec], BULK_N, codec);
	if (codecs[_i].codec != KS_COMPRESSION_NONE) /* and no other codec */
		ck_assert_int_eq(counts[codecs[_i].codec] + counts[0], BULK_N);

	/* the in-process consumer reads every record back */
	ks_consumer_config_init(&cc);
	cc.max_poll_records = 5000;
	KT_OK(ks_consumer_new(store, &cc, &c));
	for (i = 0; i < BULK_PARTS; i++) {
		tp[i].topic = "bulk";
		tp[i].partition = i;
		tp[i].offset = KS_OFFSET_BEGINNING;
	}
	KT_OK(ks_consumer_assign(c, tp, BULK_PARTS));
	deadline = kt_now_ns() + 60 * (int64_t)1000000000;
	while (got < BULK_N && kt_now_ns() < deadline) {
		const ks_message_t *m;
		int n = ks_consumer_poll(c, 200, &m), j;
		ck_assert_msg(n >= 0, "ks_consumer_poll (%s): %s", codec,
		    ks_strerror(n));
		for (j = 0; j < n; j++) {
			char v[160], k[32];
			size_t vlen;
			long idx;
			ck_assert_uint_lt(m[j].rec.key_len, sizeof k);
			memcpy(k, m[j].rec.key, m[j].rec.key_len);
			k[m[j].rec.key_len] = '\0';
			ck_assert_int_eq(sscanf(k, "key-%ld", &idx), 1);
			ck_assert(idx >= 0 && idx < BULK_N);
			ck_assert_msg(!seen[idx], "record %ld twice", idx);
			seen[idx] = 1;
			vlen = bulk_value((int)idx, v, sizeof v);
			ck_assert_msg(kt_same_bytes(m[j].rec.value,
			    m[j].rec.value_len, v, vlen),
			    "record %ld: value differs", idx);
			ck_assert_int_eq(m[j].partition, st.partition[idx]);
			ck_assert_int_eq(m[j].rec.offset, st.offset[idx]);
			got++;
		}
	}
	ck_assert_int_eq(got, BULK_N);
	KT_OK(ks_consumer_close(c));
	free(seen);
	free(st.offset);
	free(st.partition);
}
END_TEST

/* ---- librdkafka consumer groups ------------------------------------------ */

#define GP 4      /* partitions */
#define GMAX 128  /* offsets tracked per partition */

/* What one consumer saw: counts per partition and offset. */
struct seen {
	int n[GP][GMAX];
	int total;
};

static const char *const group_kv[] = {
	"group.id", "kt-group",
	"enable.auto.commit", "false",
	"auto.offset.reset", "earliest",
	"session.timeout.ms", "6000",
	"heartbeat.interval.ms", "500",
	"fetch.wait.max.ms", "100",
	"topic.metadata.refresh.interval.ms", "1000",
	NULL
};

/* Polls rk once; a message is checked ("p<P>-o<O>") and counted. */
static void rk_poll_once(rd_kafka_t *rk, struct seen *s, int timeout_ms)
{
	rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, timeout_ms);
	char want[64];

	if (!m)
		return;
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		rd_kafka_message_destroy(m);
		return;
	}
	ck_assert_msg(m->err == 0, "consumer %s: %s", rd_kafka_name(rk),
	    rd_kafka_message_errstr(m));
	ck_assert(m->partition >= 0 && m->partition < GP);
	ck_assert(m->offset >= 0 && m->offset < GMAX);
	snprintf(want, sizeof want, "p%d-o%" PRId64, m->partition, m->offset);
	ck_assert_msg(kt_same_bytes(m->payload, m->len, want, strlen(want)),
	    "value at %d/%" PRId64 " is not %s", m->partition, m->offset,
	    want);
	s->n[m->partition][m->offset]++;
	s->total++;
	rd_kafka_message_destroy(m);
}

/* The partitions rk holds, as a bit set. */
static int rk_assigned(rd_kafka_t *rk)
{
	rd_kafka_topic_partition_list_t *l = NULL;
	int i, bits = 0;
	ck_assert_int_eq(rd_kafka_assignment(rk, &l), 0);
	for (i = 0; i < l->cnt; i++)
		bits |= 1 << l->elems[i].partition;
	rd_kafka_topic_partition_list_destroy(l);
	return bits;
}

static int popcount(int x)
{
	return __builtin_popcount((unsigned)x);
}

/* Appends n records to each partition in mask, after what is there. */
static void group_produce(const char *topic, int mask, int n)
{
	ks_producer_t *p;
	int part, i;
	KT_OK(ks_producer_new(store, NULL, &p));
	for (part = 0; part < GP; part++) {
		int64_t end;
		if (!(mask & (1 << part)))
			continue;
		end = ks_log_end_offset(partition_log(topic, part));
		for (i = 0; i < n; i++) {
			char v[64];
			ks_record_t r;
			memset(&r, 0, sizeof r);
			r.value = v;
			r.value_len = (size_t)snprintf(v, sizeof v,
			    "p%d-o%" PRId64, part, end + i);
			r.timestamp = -1;
			KT_OK(ks_produce(p, topic, part, &r, 1, 0, NULL));
		}
	}
	ks_producer_free(p);
}

/* Whether s saw every offset in [from, to) of each partition in mask. */
static int seen_all(const struct seen *s, int mask, int from, int to)
{
	int p, o;
	for (p = 0; p < GP; p++)
		if (mask & (1 << p))
			for (o = from; o < to; o++)
				if (!s->n[p][o])
					return 0;
	return 1;
}

/* Asserts s saw exactly [from, to) of each partition in mask, once each,
 * and nothing of the other partitions. */
static void seen_exactly(const struct seen *s, int mask, int from, int to,
    const char *who)
{
	int p, o;
	for (p = 0; p < GP; p++)
		for (o = 0; o < GMAX; o++) {
			int want = (mask & (1 << p)) && o >= from && o < to;
			ck_assert_msg(s->n[p][o] == want,
			    "%s saw partition %d offset %d %d times, want %d",
			    who, p, o, s->n[p][o], want);
		}
}

static int64_t rk_committed(rd_kafka_t *rk, const char *topic, int p)
{
	rd_kafka_topic_partition_list_t *l =
	    rd_kafka_topic_partition_list_new(1);
	int64_t off;
	rd_kafka_topic_partition_list_add(l, topic, p);
	ck_assert_int_eq(rd_kafka_committed(rk, l, 20000), 0);
	ck_assert_int_eq(l->elems[0].err, 0);
	off = l->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(l);
	return off;
}

/*
 * Two librdkafka members split a 4-partition topic; A commits part of
 * what it read and leaves; B takes A's partitions from A's committed
 * offsets: nothing committed is read again, nothing is lost.
 */
START_TEST(rdkafka_group_takeover)
{
	static struct seen sa, sb, sb2; /* sb2: B after the takeover */
	const char *kva[32], *kvb[32];
	rd_kafka_topic_partition_list_t *topics, *commit;
	ks_consumer_config_t cc;
	ks_consumer_t *c;
	rd_kafka_t *a, *b;
	int ma = 0, mb = 0, stable = 0, i, p;
	int64_t deadline;

	memset(&sa, 0, sizeof sa);
	memset(&sb, 0, sizeof sb);
	memset(&sb2, 0, sizeof sb2);
	create("grp", GP);
	serve("tcp://127.0.0.1:0", NULL);
	for (i = 0; group_kv[i]; i++)
		kva[i] = kvb[i] = group_kv[i];
	kva[i] = "client.id";
	kva[i + 1] = "kt-a";
	kvb[i] = "client.id";
	kvb[i + 1] = "kt-b";
	kva[i + 2] = kvb[i + 2] = NULL;
	a = rk_new(RD_KAFKA_CONSUMER, kva, NULL, NULL);
	b = rk_new(RD_KAFKA_CONSUMER, kvb, NULL, NULL);
	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, "grp", RD_KAFKA_PARTITION_UA);
	ck_assert_int_eq(rd_kafka_subscribe(a, topics), 0);
	ck_assert_int_eq(rd_kafka_subscribe(b, topics), 0);
	rd_kafka_topic_partition_list_destroy(topics);

	/* the group settles on two partitions each (the topic is empty) */
	deadline = kt_now_ns() + 60 * (int64_t)1000000000;
	while (stable < 5) {
		ck_assert_msg(kt_now_ns() < deadline, "no even split: A %#x, "
		    "B %#x", ma, mb);
		rk_poll_once(a, &sa, 100);
		rk_poll_once(b, &sb, 100);
		ma = rk_assigned(a);
		mb = rk_assigned(b);
		if (popcount(ma) == 2 && popcount(mb) == 2 && !(ma & mb))
			stable++;
		else
			stable = 0;
	}
	ck_assert_int_eq(sa.total + sb.total, 0);

	/* phase 1: 50 records per partition, split between them */
	group_produce("grp", 0xf, 50);
	deadline = kt_now_ns() + 60 * (int64_t)1000000000;
	while (!(seen_all(&sa, ma, 0, 50) && seen_all(&sb, mb, 0, 50))) {
		ck_assert_msg(kt_now_ns() < deadline, "phase 1: A saw %d, B "
		    "saw %d of 200", sa.total, sb.total);
		rk_poll_once(a, &sa, 50);
		rk_poll_once(b, &sb, 50);
	}
	ck_assert_int_eq(rk_assigned(a), ma);
	ck_assert_int_eq(rk_assigned(b), mb);
	seen_exactly(&sa, ma, 0, 50, "A");
	seen_exactly(&sb, mb, 0, 50, "B");
	ck_assert_int_eq(rd_kafka_commit(a, NULL, 0), 0);
	ck_assert_int_eq(rd_kafka_commit(b, NULL, 0), 0);

	/* phase 2: 50 more each; A commits only up to 75 */
	group_produce("grp", 0xf, 50);
	deadline = kt_now_ns() + 60 * (int64_t)1000000000;
	while (!(seen_all(&sa, ma, 50, 100) && seen_all(&sb, mb, 50, 100))) {
		ck_assert_msg(kt_now_ns() < deadline, "phase 2: A saw %d, B "
		    "saw %d of 400", sa.total, sb.total);
		rk_poll_once(a, &sa, 50);
		rk_poll_once(b, &sb, 50);
	}
	seen_exactly(&sa, ma, 0, 100, "A");
	seen_exactly(&sb, mb, 0, 100, "B");
	commit = rd_kafka_topic_partition_list_new(GP);
	for (p = 0; p < GP; p++)
		if (ma & (1 << p))
			rd_kafka_topic_partition_list_add(commit, "grp", p)
			    ->offset = 75;
	ck_assert_int_eq(rd_kafka_commit(a, commit, 0), 0);
	rd_kafka_topic_partition_list_destroy(commit);
	ck_assert_int_eq(rd_kafka_commit(b, NULL, 0), 0);
	for (p = 0; p < GP; p++)
		ck_assert_int_eq(rk_committed(b, "grp", p),
		    (ma & (1 << p)) ? 75 : 100);

	/* A leaves (LeaveGroup); B takes over all four partitions */
	ck_assert_int_eq(rd_kafka_consumer_close(a), 0);
	rd_kafka_destroy(a);
	deadline = kt_now_ns() + 60 * (int64_t)1000000000;
	while (!(rk_assigned(b) == 0xf && seen_all(&sb2, ma, 75, 100))) {
		ck_assert_msg(kt_now_ns() < deadline, "takeover: B holds %#x, "
		    "saw %d", rk_assigned(b), sb2.total);
		rk_poll_once(b, &sb2, 100);
	}
	/* phase 3: 10 more each, all for B */
	group_produce("grp", 0xf, 10);
	deadline = kt_now_ns() + 60 * (int64_t)1000000000;
	while (!seen_all(&sb2, 0xf, 100, 110)) {
		ck_assert_msg(kt_now_ns() < deadline, "phase 3: B saw %d",
		    sb2.total);
		rk_poll_once(b, &sb2, 100);
	}
	/* drain: nothing else may come */
	for (i = 0; i < 5; i++)
		rk_poll_once(b, &sb2, 100);
	for (p = 0; p < GP; p++) {
		int from = (ma & (1 << p)) ? 75 : 100, o;
		for (o = 0; o < GMAX; o++) {
			int want = o >= from && o < 110;
			ck_assert_msg(sb2.n[p][o] == want,
			    "after the takeover B saw partition %d offset "
			    "%d %d times, want %d (committed %d)", p, o,
			    sb2.n[p][o], want, from);
		}
	}
	ck_assert_int_eq(rd_kafka_consumer_close(b), 0);
	rd_kafka_destroy(b);

	/* the commits live in the store's coordinator, seen in-process */
	ks_consumer_config_init(&cc);
	cc.group_id = "kt-group";
	KT_OK(ks_consumer_new(store, &cc, &c));
	for (p = 0; p < GP; p++) {
		int64_t off;
		KT_OK(ks_consumer_committed(c, "grp", p, &off));
		ck_assert_int_eq(off, (ma & (1 << p)) ? 75 : 100);
	}
	KT_OK(ks_consumer_close(c));
}
END_TEST

/* The partitions a kstream consumer holds, as a bit set. */
static int ks_assigned(ks_consumer_t *c)
{
	const ks_topic_partition_t *tp;
	size_t n, i;
	int bits = 0;
	KT_OK(ks_consumer_assignment(c, &tp, &n));
	for (i = 0; i < n; i++)
		bits |= 1 << tp[i].partition;
	return bits;
}

/* Polls a kstream consumer once, counting its records like rk_poll_once. */
static void ks_poll_once(ks_consumer_t *c, struct seen *s, int timeout_ms)
{
	const ks_message_t *m;
	int n = ks_consumer_poll(c, timeout_ms, &m), i;
	ck_assert_msg(n >= 0, "ks_consumer_poll: %s", ks_strerror(n));
	for (i = 0; i < n; i++) {
		char want[64];
		ck_assert(m[i].partition >= 0 && m[i].partition < GP);
		ck_assert(m[i].rec.offset >= 0 && m[i].rec.offset < GMAX);
		snprintf(want, sizeof want, "p%d-o%" PRId64, m[i].partition,
		    m[i].rec.offset);
		ck_assert(kt_same_bytes(m[i].rec.value, m[i].rec.value_len,
		    want, strlen(want)));
		s->n[m[i].partition][m[i].rec.offset]++;
		s->total++;
	}
}

/*
 * One group, two kinds of member: librdkafka over the wire and a kstream
 * consumer in the broker's process. They split the partitions.
 */
START_TEST(mixed_group)
{
	static struct seen sr, sk;
	const char *kv[32];
	rd_kafka_topic_partition_list_t *topics;
	ks_consumer_config_t cc;
	ks_consumer_t *c;
	const char *t = "mix";
	rd_kafka_t *rk;
	int mr = 0, mk = 0, stable = 0, i;
	int64_t deadline;

	memset(&sr, 0, sizeof sr);
	memset(&sk, 0, sizeof sk);
	create("mix", GP);
	serve("tcp://127.0.0.1:0", NULL);
	for (i = 0; group_kv[i]; i++)
		kv[i] = group_kv[i];
	kv[i] = NULL;
	rk = rk_new(RD_KAFKA_CONSUMER, kv, NULL, NULL);
	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, "mix", RD_KAFKA_PARTITION_UA);
	ck_assert_int_eq(rd_kafka_subscribe(rk, topics), 0);
	rd_kafka_topic_partition_list_destroy(topics);

	ks_consumer_config_init(&cc);
	cc.group_id = "kt-group";
	cc.client_id = "kt-kstream";
	cc.auto_offset_reset = KS_RESET_EARLIEST;
	cc.enable_auto_commit = 0;
	cc.session_timeout_ms = 6000;
	cc.heartbeat_interval_ms = 500;
	KT_OK(ks_consumer_new(store, &cc, &c));
	KT_OK(ks_consumer_subscribe(c, &t, 1));

	deadline = kt_now_ns() + 60 * (int64_t)1000000000;
	while (stable < 5) {
		ck_assert_msg(kt_now_ns() < deadline, "no even split: "
		    "librdkafka %#x, kstream %#x", mr, mk);
		rk_poll_once(rk, &sr, 100);
		ks_poll_once(c, &sk, 100);
		mr = rk_assigned(rk);
		mk = ks_assigned(c);
		if (popcount(mr) == 2 && popcount(mk) == 2 && !(mr & mk))
			stable++;
		else
			stable = 0;
	}
	group_produce("mix", 0xf, 40);
	deadline = kt_now_ns() + 60 * (int64_t)1000000000;
	while (!(seen_all(&sr, mr, 0, 40) && seen_all(&sk, mk, 0, 40))) {
		ck_assert_msg(kt_now_ns() < deadline, "librdkafka saw %d, "
		    "kstream saw %d of 160", sr.total, sk.total);
		rk_poll_once(rk, &sr, 50);
		ks_poll_once(c, &sk, 50);
	}
	for (i = 0; i < 3; i++) {
		rk_poll_once(rk, &sr, 50);
		ks_poll_once(c, &sk, 50);
	}
	ck_assert_int_eq(rk_assigned(rk), mr);
	ck_assert_int_eq(ks_assigned(c), mk);
	seen_exactly(&sr, mr, 0, 40, "librdkafka");
	seen_exactly(&sk, mk, 0, 40, "kstream");

	ck_assert_int_eq(rd_kafka_consumer_close(rk), 0);
	rd_kafka_destroy(rk);
	KT_OK(ks_consumer_close(c));
}
END_TEST

/* ---- the kstream tool over TLS ------------------------------------------- */

/* Runs build/<b>/kstream with args (NULL-terminated) and stdin in. */
static void tool(struct kt_cmd_out *o, const char *in, ...)
{
	char *bin = kt_program("kstream"), *argv[24];
	const char *a;
	va_list ap;
	int n = 0;

	argv[n++] = bin;
	va_start(ap, in);
	while ((a = va_arg(ap, const char *)) != NULL && n < 23)
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	kt_run_cmd(argv, in, CMD_TIMEOUT_MS, o);
	free(bin);
}

/*
 * The tool's --broker tls+tcp:// with --ca, --cert and --key, against a
 * broker that asks for client certificates: refused without the CA or
 * without the certificate (one line, exit 1), a round trip with both.
 */
START_TEST(tool_mutual_tls)
{
	char *certs = make_certs();
	char *ca = kt_path(certs, "ca.pem");
	char *ccert = kt_path(certs, "client.pem");
	char *ckey = kt_path(certs, "client.key");
	char url[300];
	struct kt_cmd_out o;

	serve_mutual_tls(certs);
	snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", port);

	/* the broker's certificate is not trusted without our CA */
	tool(&o, NULL, "topics", "list", "--broker", url, "--timeout", "5000",
	    NULL);
	ck_assert_msg(kt_cmd_exit(&o) == 1 && strchr(o.err, '\n') ==
	    o.err + o.err_len - 1, "no CA: exit %d\n%s", kt_cmd_exit(&o),
	    o.err);
	kt_cmd_out_free(&o);
	/* trusted, but the broker wants our certificate */
	tool(&o, NULL, "topics", "list", "--broker", url, "--ca", ca,
	    "--timeout", "5000", NULL);
	ck_assert_msg(kt_cmd_exit(&o) == 1, "no client certificate: exit %d\n%s",
	    kt_cmd_exit(&o), o.err);
	kt_cmd_out_free(&o);
	/* a certificate without its key is a usage error */
	tool(&o, NULL, "topics", "list", "--broker", url, "--ca", ca,
	    "--cert", ccert, NULL);
	ck_assert_msg(kt_cmd_exit(&o) == 2, "--cert alone: exit %d\n%s",
	    kt_cmd_exit(&o), o.err);
	kt_cmd_out_free(&o);

	tool(&o, NULL, "topics", "create", "sealed", "--partitions", "1",
	    "--broker", url, "--ca", ca, "--cert", ccert, "--key", ckey, NULL);
	ck_assert_msg(kt_cmd_ok(&o), "create: %s", o.err);
	kt_cmd_out_free(&o);
	tool(&o, "k1:one\nk2:two\nk3:three\n", "produce", "sealed", "-K", ":",
	    "--broker", url, "--ca", ca, "--cert", ccert, "--key", ckey, NULL);
	ck_assert_msg(kt_cmd_ok(&o), "produce: %s", o.err);
	kt_cmd_out_free(&o);
	tool(&o, NULL, "consume", "sealed", "--offset", "beginning", "-f",
	    "%o %k=%s\n", "--broker", url, "--ca", ca, "--cert", ccert,
	    "--key", ckey, NULL);
	ck_assert_msg(kt_cmd_ok(&o), "consume: %s", o.err);
	ck_assert_str_eq(o.out, "0 k1=one\n1 k2=two\n2 k3=three\n");
	kt_cmd_out_free(&o);

	free(ckey);
	free(ccert);
	free(ca);
	free(certs);
}
END_TEST

/* ---- the kstream-broker program ------------------------------------------ */

START_TEST(broker_program)
{
	char *ed = kt_exe_dir(), *bin, *sdir = kt_path(dir, "store-prog");
	char *logpath = kt_path(dir, "broker.log");
	int status;
	pid_t pid;

	ck_assert_int_ge(asprintf(&bin, "%s/../kstream-broker", ed), 0);
	ck_assert_msg(access(bin, X_OK) == 0, "%s not built", bin);

	pid = kt_broker_start(bin, sdir, logpath, &port);
	snprintf(bootstrap, sizeof bootstrap, "127.0.0.1:%d", port);
	kcat_produce("prog", 0, 20); /* created on first use */
	kcat_consume_check("prog", 0, "beginning", 0, 20);
	kcat_consume_check("prog", 0, "15", 15, 20);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	status = kt_child_wait(pid, 30000);
	ck_assert_msg(status >= 0 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "SIGTERM: wait status %#x", status);

	/* the same directory, a new process: the same records */
	pid = kt_broker_start(bin, sdir, logpath, &port);
	snprintf(bootstrap, sizeof bootstrap, "127.0.0.1:%d", port);
	kcat_consume_check("prog", 0, "beginning", 0, 20);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	status = kt_child_wait(pid, 30000);
	ck_assert_msg(status >= 0 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "SIGTERM: wait status %#x", status);
	free(logpath);
	free(sdir);
	free(bin);
	free(ed);
}
END_TEST

Suite *kcompat_suite(void)
{
	Suite *s = suite_create("kcompat");
	TCase *tk = tcase_create("kcat");
	TCase *tr = tcase_create("librdkafka");
	TCase *tp = tcase_create("program");

	tcase_add_unchecked_fixture(tk, base_setup, base_teardown);
	tcase_add_checked_fixture(tk, setup, teardown);
	tcase_set_timeout(tk, 300);
	tcase_add_test(tk, kcat_metadata);
	tcase_add_test(tk, kcat_produce_consume);
	tcase_add_test(tk, kcat_ipv6);
	tcase_add_test(tk, kcat_tls);
	tcase_add_test(tk, kcat_mutual_tls);
	tcase_add_test(tp, tool_mutual_tls);
	suite_add_tcase(s, tk);

	tcase_add_unchecked_fixture(tr, base_setup, base_teardown);
	tcase_add_checked_fixture(tr, setup, teardown);
	tcase_set_timeout(tr, 600);
	tcase_add_loop_test(tr, rdkafka_producer_bulk, 0,
	    (int)(sizeof codecs / sizeof codecs[0]));
	tcase_add_test(tr, rdkafka_group_takeover);
	tcase_add_test(tr, mixed_group);
	suite_add_tcase(s, tr);

	tcase_add_unchecked_fixture(tp, base_setup, base_teardown);
	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_set_timeout(tp, 300);
	tcase_add_test(tp, broker_program);
	suite_add_tcase(s, tp);
	return s;
}
