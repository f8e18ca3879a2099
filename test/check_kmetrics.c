/*
 * check_kmetrics.c: the Kafka server's metrics as a user reads them: the
 * HTTP endpoint scraped over a plain socket and read back with
 * ks_metrics_parse, the stats callback, kstream-broker --metrics and
 * kstream stats against a broker's endpoint and a store.
 */
#define _GNU_SOURCE
#include "proc.h"
#include "util.h"

#include "kafka/msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <kstream/kafka.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define NRECS 50

static char *dir;
static ks_store_t *store;
static ks_kafka_server_t *srv;
static int port;          /* Kafka */
static int mport;         /* HTTP */
static char murl[256];
static atomic_int stats_calls;
static atomic_int stats_had_conns;

static void quiet_log(void *opaque, int level, const char *msg)
{
	(void)opaque;
	if (level <= KS_LOG_WARNING)
		fprintf(stderr, "kmetrics test: %s\n", msg);
}

static void on_stats(void *opaque, const ks_metrics_t *m)
{
	ck_assert_ptr_eq(opaque, &stats_calls);
	if (ks_metrics_find(m, "kstream_net_connections", NULL))
		atomic_store(&stats_had_conns, 1);
	atomic_fetch_add(&stats_calls, 1);
}

/* The port in "scheme://host:PORT[/...]". */
static int url_port(const char *url)
{
	const char *p = strstr(url, "://"), *c;

	ck_assert_ptr_nonnull(p);
	p += 3;
	if (*p == '[')
		p = strchr(p, ']');
	ck_assert_ptr_nonnull(p);
	c = strchr(p, ':');
	ck_assert_ptr_nonnull(c);
	return atoi(c + 1);
}

static void setup(void)
{
	ks_store_config_t cfg;
	ks_kafka_server_config_t sc;
	char url[256];

	dir = kt_tmpdir("kmetrics");
	ks_store_config_init(&cfg);
	cfg.flags = KS_STORE_CREATE;
	cfg.cleaner_interval_ms = 0;
	cfg.log_cb = quiet_log;
	KT_OK(ks_store_open(dir, &cfg, &store));
	ks_kafka_server_config_init(&sc);
	sc.auto_create_topics = 0;
	sc.log_cb = quiet_log;
	sc.stats_cb = on_stats;
	sc.stats_opaque = &stats_calls;
	sc.stats_interval_ms = 20;
	atomic_store(&stats_calls, 0);
	atomic_store(&stats_had_conns, 0);
	KT_OK(ks_kafka_server_new(store, &sc, &srv));
	KT_OK(ks_kafka_server_listen(srv, "tcp://127.0.0.1:0", NULL));
	KT_OK(ks_kafka_server_url(srv, 0, url, sizeof url));
	port = url_port(url);
	ck_assert_int_gt(port, 0);
	KT_OK(ks_kafka_server_metrics_listen(srv,
	    "http://127.0.0.1:0/metrics"));
	KT_OK(ks_kafka_server_metrics_url(srv, murl, sizeof murl));
	ck_assert_msg(!strncmp(murl, "http://127.0.0.1:", 17), "%s", murl);
	ck_assert_msg(strstr(murl, "/metrics") != NULL, "%s", murl);
	mport = url_port(murl);
	ck_assert_int_gt(mport, 0);
}

static void teardown(void)
{
	ks_kafka_server_free(srv);
	srv = NULL;
	KT_OK(ks_store_close(store));
	kt_rmrf(dir);
	free(dir);
}

/* ---- a plain HTTP client ------------------------------------------------------ */

static int tcp_connect(int p)
{
	struct sockaddr_in sa;
	struct timeval tv = { .tv_sec = 30 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)p);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	/* a broken server fails the test instead of hanging it */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		ck_assert_msg(n > 0, "write: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

struct http_resp {
	int status;
	char *head;   /* status line and headers, NUL-terminated */
	char *body;   /* NUL-terminated */
	size_t body_len;
	char *raw;
};

/* One HTTP/1.0 request to the metrics port; the whole answer. */
static void http_do(int p, const char *method, const char *path,
    struct http_resp *r)
{
	char req[512], *sep;
	size_t len = 0;
	ssize_t n;
	int fd = tcp_connect(p);

	snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
	    method, path);
	write_all(fd, req, strlen(req));
	memset(r, 0, sizeof *r);
	r->raw = calloc(1, 1);
	for (;;) {
		char buf[16384];
		n = read(fd, buf, sizeof buf);
		ck_assert_msg(n >= 0, "read: %s", strerror(errno));
		if (n == 0)
			break;
		kt_buf_add(&r->raw, &len, buf, (size_t)n);
	}
	close(fd);
	ck_assert_msg(sscanf(r->raw, "HTTP/1.%*d %d", &r->status) == 1,
	    "not HTTP: %s", r->raw);
	sep = strstr(r->raw, "\r\n\r\n");
	ck_assert_ptr_nonnull(sep);
	*sep = '\0';
	r->head = r->raw;
	r->body = sep + 4;
	r->body_len = len - (size_t)(r->body - r->raw);
}

static void http_free(struct http_resp *r)
{
	free(r->raw);
	memset(r, 0, sizeof *r);
}

/* The endpoint's snapshot, parsed. */
static ks_metrics_t *scrape(int p)
{
	struct http_resp r;
	ks_metrics_t *m = NULL;

	http_do(p, "GET", "/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strcasestr(r.head, "Content-Type: text/plain; "
	    "version=0.0.4") != NULL, "%s", r.head);
	KT_OK(ks_metrics_parse(r.body, r.body_len, &m));
	http_free(&r);
	return m;
}

static double value_of(const ks_metrics_t *m, const char *name,
    const char *match)
{
	const ks_metric_t *s = ks_metrics_find(m, name, match);

	ck_assert_msg(s != NULL, "no %s{%s}", name, match ? match : "");
	return s->value;
}

/* ---- Kafka traffic ---------------------------------------------------------- */

static void produce_n(int p, const char *topic, int n)
{
	ks_producer_t *prod;
	ks_produce_result_t res[NRECS];
	ks_record_t recs[NRECS];
	char boot[64], vals[NRECS][16];
	int i;

	ck_assert_int_le(n, NRECS);
	snprintf(boot, sizeof boot, "127.0.0.1:%d", p);
	KT_OK(ks_producer_connect(boot, NULL, NULL, &prod));
	memset(recs, 0, sizeof recs);
	for (i = 0; i < n; i++) {
		recs[i].value = vals[i];
		recs[i].value_len = (size_t)snprintf(vals[i], sizeof vals[i],
		    "v%d", i);
	}
	/* with res: waits for the broker's acknowledgement */
	KT_OK(ks_produce(prod, topic, 0, recs, (size_t)n, 0, res));
	ck_assert_int_eq(res[n - 1].offset, n - 1);
	ks_producer_free(prod);
}

/* Metadata v1 for a topic that does not exist (no auto-creation): the
 * answer's topic error. fd stays open. */
static int16_t metadata_unknown(int fd)
{
	kp_req_hdr_t h = { .api_key = KP_METADATA, .api_version = 1,
		.correlation_id = 42 };
	kp_str_t name = kp_cstr("no-such-topic");
	kp_metadata_req_t req = { .n_topics = 1, .topics = &name };
	kp_metadata_resp_t resp;
	kp_arena_t arena;
	uint8_t *buf, hdr[4], *frame;
	size_t len, got;
	int32_t corr;
	ssize_t n;
	kp_io_t io;
	int16_t err;

	h.client_id = kp_cstr("kmetrics-test");
	kp_writer_init(&io);
	kp_w_frame_begin(&io);
	KT_OK(kp_req_hdr(&io, &h));
	KT_OK(kp_req_body(&io, KP_METADATA, &req));
	KT_OK(kp_w_frame_end(&io));
	KT_OK(kp_w_flatten(&io, &buf, &len));
	write_all(fd, buf, len);
	free(buf);
	kp_writer_free(&io);

	for (got = 0; got < 4; got += (size_t)n) {
		n = read(fd, hdr + got, 4 - got);
		ck_assert_msg(n > 0, "read: %s", n ? strerror(errno) : "EOF");
	}
	len = ntohl(*(uint32_t *)hdr);
	ck_assert_uint_lt(len, 1u << 20);
	frame = malloc(len);
	ck_assert_ptr_nonnull(frame);
	for (got = 0; got < len; got += (size_t)n) {
		n = read(fd, frame + got, len - got);
		ck_assert_msg(n > 0, "read: %s", n ? strerror(errno) : "EOF");
	}
	kp_arena_init(&arena);
	kp_reader_init(&io, frame, len, &arena);
	KT_OK(kp_resp_hdr(&io, KP_METADATA, 1, &corr));
	ck_assert_int_eq(corr, 42);
	memset(&resp, 0, sizeof resp);
	KT_OK(kp_resp_body(&io, KP_METADATA, &resp));
	ck_assert_int_eq(resp.n_topics, 1);
	err = resp.topics[0].error_code;
	kp_arena_free(&arena);
	free(frame);
	return err;
}

/* ---- the tests -------------------------------------------------------------- */

START_TEST(scrape_after_produce)
{
	ks_topic_config_t tc;
	const ks_metric_t *h;
	ks_metrics_t *m, *direct;
	int fd;

	ks_topic_config_init(&tc);
	tc.partitions = 1;
	KT_OK(ks_topic_create(store, "orders", &tc));
	produce_n(port, "orders", NRECS);

	fd = tcp_connect(port); /* open while scraping */
	ck_assert_int_eq(metadata_unknown(fd), KP_UNKNOWN_TOPIC_OR_PARTITION);

	m = scrape(mport);
	ck_assert(value_of(m, "kstream_kafka_requests_total",
	    "api=Produce") >= 1);
	ck_assert(value_of(m, "kstream_kafka_requests_total",
	    "api=Metadata") >= 2);
	ck_assert_int_eq((int)value_of(m, "kstream_topic_records_in_total",
	    "topic=orders"), NRECS);
	ck_assert(value_of(m, "kstream_net_connections", NULL) >= 1);
	ck_assert(value_of(m, "kstream_net_connections_accepted_total",
	    NULL) >= 2);
	ck_assert(value_of(m, "kstream_net_bytes_received_total", NULL) >
	    NRECS * 2);
	ck_assert(value_of(m, "kstream_net_bytes_sent_total", NULL) > 0);
	ck_assert_int_eq((int)value_of(m, "kstream_kafka_request_errors_total",
	    "api=Metadata,error=UNKNOWN_TOPIC_OR_PARTITION"), 1);
	/* Produce went well: no error series for it */
	ck_assert_ptr_null(ks_metrics_find(m,
	    "kstream_kafka_request_errors_total", "api=Produce"));
	ck_assert_int_eq((int)value_of(m, "kstream_kafka_bad_requests_total",
	    NULL), 0);
	h = ks_metrics_find(m, "kstream_kafka_request_seconds", "api=Produce");
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(h->type, KS_METRIC_HISTOGRAM);
	ck_assert_uint_ge(h->count, 1);
	ck_assert_int_gt(h->nbuckets, 0);
	ks_metrics_free(m);

	/* the same figures straight from the library */
	KT_OK(ks_metrics_new(&direct));
	KT_OK(ks_kafka_server_metrics(srv, direct));
	ck_assert_int_eq((int)value_of(direct,
	    "kstream_kafka_request_errors_total",
	    "api=Metadata,error=UNKNOWN_TOPIC_OR_PARTITION"), 1);
	ck_assert_int_eq((int)value_of(direct,
	    "kstream_topic_records_in_total", "topic=orders"), NRECS);
	ks_metrics_free(direct);
	ck_assert_int_eq(ks_kafka_server_metrics(srv, NULL), KS_EINVAL);
	ck_assert_int_eq(ks_kafka_server_metrics(NULL, NULL), KS_EINVAL);
	close(fd);
}
END_TEST

START_TEST(http_answers)
{
	struct http_resp r;
	char buf[8];

	http_do(mport, "GET", "/other", &r);
	ck_assert_int_eq(r.status, 404);
	http_free(&r);
	http_do(mport, "GET", "/metrics/x", &r);
	ck_assert_int_eq(r.status, 404);
	http_free(&r);
	http_do(mport, "POST", "/metrics", &r);
	ck_assert_int_eq(r.status, 405);
	http_free(&r);
	http_do(mport, "GET", "/metrics?format=xml", &r);
	ck_assert_int_eq(r.status, 400);
	http_free(&r);

	http_do(mport, "GET", "/metrics?format=json", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strcasestr(r.head, "Content-Type: application/json") !=
	    NULL, "%s", r.head);
	ck_assert_msg(!strncmp(r.body, "{\"metrics\":", 11), "%.80s", r.body);
	ck_assert_msg(strstr(r.body, "\"kstream_kafka_requests_total\"") !=
	    NULL, "%.200s", r.body);
	ck_assert_int_eq(r.body[r.body_len - 1] == '\n' ?
	    r.body[r.body_len - 2] : r.body[r.body_len - 1], '}');
	http_free(&r);

	http_do(mport, "GET", "/metrics?format=prometheus", &r);
	ck_assert_int_eq(r.status, 200);
	http_free(&r);

	/* one endpoint per server; bad URLs are refused */
	ck_assert_int_eq(ks_kafka_server_metrics_listen(srv,
	    "http://127.0.0.1:0/metrics"), KS_EBUSY);
	ck_assert_int_eq(ks_kafka_server_metrics_listen(srv,
	    "tcp://127.0.0.1:0"), KS_EINVAL);
	ck_assert_int_eq(ks_kafka_server_metrics_listen(srv,
	    "http://127.0.0.1:99999/metrics"), KS_EINVAL);
	ck_assert_int_eq(ks_kafka_server_metrics_listen(srv,
	    "http://127.0.0.1:0/m?x=1"), KS_EINVAL);
	ck_assert_int_eq(ks_kafka_server_metrics_url(srv, buf, sizeof buf),
	    KS_EINVAL);
}
END_TEST

START_TEST(port_in_use)
{
	ks_kafka_server_t *s2;
	char url[128];

	KT_OK(ks_kafka_server_new(store, NULL, &s2));
	ck_assert_int_eq(ks_kafka_server_metrics_url(s2, url, sizeof url),
	    KS_EINVAL);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", mport);
	ck_assert_int_eq(ks_kafka_server_metrics_listen(s2, url),
	    -EADDRINUSE);
	/* no path: /metrics */
	KT_OK(ks_kafka_server_metrics_listen(s2, "http://127.0.0.1:0"));
	KT_OK(ks_kafka_server_metrics_url(s2, url, sizeof url));
	ck_assert_msg(strstr(url, "/metrics") != NULL, "%s", url);
	ks_metrics_free(scrape(url_port(url)));
	ks_kafka_server_free(s2);
}
END_TEST

START_TEST(bad_request_counted)
{
	static const uint8_t junk[] = { 0, 0, 0, 3, 0xff, 0xff, 0xff };
	static const uint8_t huge[] = { 0x7f, 0xff, 0xff, 0xff, 0, 0 };
	ks_metrics_t *m;
	char b;
	int fd = tcp_connect(port);

	/* a frame too short for a request header: closed */
	write_all(fd, junk, sizeof junk);
	ck_assert_int_eq(read(fd, &b, 1), 0);
	close(fd);
	m = scrape(mport);
	ck_assert_int_eq((int)value_of(m, "kstream_kafka_bad_requests_total",
	    NULL), 1);
	ks_metrics_free(m);

	/* a length prefix beyond any frame the server takes: closed too */
	fd = tcp_connect(port);
	write_all(fd, huge, sizeof huge);
	ck_assert_int_eq(read(fd, &b, 1), 0);
	close(fd);
	m = scrape(mport);
	ck_assert_int_eq((int)value_of(m, "kstream_kafka_bad_requests_total",
	    NULL), 2);
	ks_metrics_free(m);
}
END_TEST

START_TEST(stats_callback)
{
	int64_t deadline = kt_now_ns() + 30 * (int64_t)1000000000;

	while (atomic_load(&stats_calls) < 3 && kt_now_ns() < deadline)
		usleep(10000);
	ck_assert_int_ge(atomic_load(&stats_calls), 3);
	ck_assert_int_eq(atomic_load(&stats_had_conns), 1);
}
END_TEST

START_TEST(config_checked)
{
	ks_kafka_server_config_t sc;
	ks_kafka_server_t *s2 = NULL;

	ks_kafka_server_config_init(&sc);
	ck_assert_int_eq(sc.stats_interval_ms, 0);
	ck_assert_ptr_null(sc.stats_cb);
	sc.stats_interval_ms = -1;
	ck_assert_int_eq(ks_kafka_server_new(store, &sc, &s2), KS_EINVAL);
	ck_assert_ptr_null(s2);
}
END_TEST

/* ---- the programs ----------------------------------------------------------- */

/* Runs kstream with args; its output in o. */
static void run_kstream(struct kt_cmd_out *o, const char *a1, const char *a2,
    const char *a3, const char *a4, const char *a5, const char *a6)
{
	char *ed = kt_exe_dir(), *bin;
	char *argv[] = { NULL, "stats", (char *)a1, (char *)a2, (char *)a3,
		(char *)a4, (char *)a5, (char *)a6, NULL };

	ck_assert_int_ge(asprintf(&bin, "%s/../kstream", ed), 0);
	ck_assert_msg(access(bin, X_OK) == 0, "%s not built", bin);
	argv[0] = bin;
	kt_run_cmd(argv, NULL, 60000, o);
	free(bin);
	free(ed);
}

static int exit_code(const struct kt_cmd_out *o)
{
	return o->status >= 0 && WIFEXITED(o->status) ?
	    WEXITSTATUS(o->status) : -1;
}

/* One line on stderr, nothing on stdout. */
static void one_line_error(const struct kt_cmd_out *o)
{
	ck_assert_uint_eq(o->out_len, 0);
	ck_assert_uint_gt(o->err_len, 0);
	ck_assert_msg(strchr(o->err, '\n') == o->err + o->err_len - 1,
	    "not one line: %s", o->err);
	ck_assert_msg(!strncmp(o->err, "kstream stats: ", 15), "%s", o->err);
}

/* Starts kstream-broker with --metrics; its Kafka and HTTP ports. */
static pid_t broker_start(const char *sdir, const char *logpath, int *kp,
    char *mu, size_t mulen)
{
	char *ed = kt_exe_dir(), *bin;
	int64_t deadline = kt_now_ns() + 30 * (int64_t)1000000000;
	int in, out;
	pid_t pid;

	ck_assert_int_ge(asprintf(&bin, "%s/../kstream-broker", ed), 0);
	ck_assert_msg(access(bin, X_OK) == 0, "%s not built", bin);
	{
		char *argv[] = { bin, "--dir", (char *)sdir, "--listen",
			"tcp://127.0.0.1:0", "--metrics",
			"http://127.0.0.1:0/metrics", NULL };
		in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		out = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
		ck_assert(in >= 0 && out >= 0);
		pid = kt_spawn(argv, in, out, out);
		close(in);
		close(out);
	}
	for (;;) {
		char buf[8192];
		const char *l, *ml, *e;
		FILE *f = fopen(logpath, "r");
		size_t n = 0;
		int status;

		if (f) {
			n = fread(buf, 1, sizeof buf - 1, f);
			fclose(f);
		}
		buf[n] = '\0';
		l = strstr(buf, "listening on tcp://127.0.0.1:");
		ml = strstr(buf, "metrics on ");
		if (l && ml && (e = strchr(ml, '\n'))) {
			*kp = atoi(l + strlen("listening on tcp://127.0.0.1:"));
			ml += strlen("metrics on ");
			ck_assert_uint_lt((size_t)(e - ml), mulen);
			memcpy(mu, ml, (size_t)(e - ml));
			mu[e - ml] = '\0';
			break;
		}
		ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0,
		    "kstream-broker exited early:\n%s", buf);
		ck_assert_msg(kt_now_ns() < deadline, "kstream-broker never "
		    "said where it listens:\n%s", buf);
		usleep(20000);
	}
	free(bin);
	free(ed);
	return pid;
}

START_TEST(programs)
{
	char *sdir = kt_path(dir, "store-prog");
	char *logpath = kt_path(dir, "broker.log");
	char mu[256], bad[64], boot[64];
	struct kt_cmd_out o;
	ks_metrics_t *m;
	int kp, status;
	pid_t pid;

	pid = broker_start(sdir, logpath, &kp, mu, sizeof mu);
	ck_assert_msg(!strncmp(mu, "http://127.0.0.1:", 17), "%s", mu);
	produce_n(kp, "prog", 10); /* created on first use */

	m = scrape(url_port(mu));
	ck_assert(value_of(m, "kstream_kafka_requests_total",
	    "api=Produce") >= 1);
	ck_assert_int_eq((int)value_of(m, "kstream_topic_records_in_total",
	    "topic=prog"), 10);
	ks_metrics_free(m);

	/* the table, filtered */
	run_kstream(&o, "--metrics", mu, "--filter", "records_in", NULL, NULL);
	ck_assert_msg(exit_code(&o) == 0, "status %#x: %s", o.status, o.err);
	ck_assert_msg(strstr(o.out, "kstream_topic_records_in_total") &&
	    strstr(o.out, "topic=prog"), "%s", o.out);
	ck_assert_msg(strstr(o.out, " 10\n") != NULL, "%s", o.out);
	ck_assert_msg(strstr(o.out, "kstream_kafka_requests_total") == NULL,
	    "not filtered: %s", o.out);
	kt_cmd_out_free(&o);

	/* Prometheus's format, read back */
	run_kstream(&o, "--metrics", mu, "--format", "prometheus", NULL,
	    NULL);
	ck_assert_msg(exit_code(&o) == 0, "status %#x: %s", o.status, o.err);
	KT_OK(ks_metrics_parse(o.out, o.out_len, &m));
	ck_assert(value_of(m, "kstream_kafka_requests_total",
	    "api=Produce") >= 1);
	ks_metrics_free(m);
	kt_cmd_out_free(&o);

	/* rates: two prints */
	run_kstream(&o, "--metrics", mu, "--interval", "0.05", "--count",
	    "2");
	ck_assert_msg(exit_code(&o) == 0, "status %#x: %s", o.status, o.err);
	ck_assert_msg(strstr(o.out, "per second") != NULL, "%s", o.out);
	kt_cmd_out_free(&o);

	/* --broker: there is nothing to ask over Kafka's protocol */
	snprintf(boot, sizeof boot, "127.0.0.1:%d", kp);
	run_kstream(&o, "--broker", boot, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(exit_code(&o), 2);
	one_line_error(&o);
	ck_assert_msg(strstr(o.err, "--metrics") != NULL, "%s", o.err);
	kt_cmd_out_free(&o);

	/* bad URLs */
	run_kstream(&o, "--metrics", "ftp://127.0.0.1/x", NULL, NULL, NULL,
	    NULL);
	ck_assert_int_eq(exit_code(&o), 2);
	one_line_error(&o);
	kt_cmd_out_free(&o);
	snprintf(bad, sizeof bad, "http://127.0.0.1:%d/nothing-here",
	    url_port(mu));
	run_kstream(&o, "--metrics", bad, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(exit_code(&o), 1);
	one_line_error(&o);
	ck_assert_msg(strstr(o.err, "404") != NULL, "%s", o.err);
	kt_cmd_out_free(&o);

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	status = kt_child_wait(pid, 30000);
	ck_assert_msg(status >= 0 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "SIGTERM: wait status %#x", status);

	/* nothing listens there now */
	run_kstream(&o, "--metrics", mu, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(exit_code(&o), 1);
	one_line_error(&o);
	kt_cmd_out_free(&o);

	/* the store itself: the records are there */
	run_kstream(&o, "--store", sdir, "--filter", "partition_end_offset",
	    NULL, NULL);
	ck_assert_msg(exit_code(&o) == 0, "status %#x: %s", o.status, o.err);
	{
		const char *l = strstr(o.out, "topic=prog,partition=0");
		ck_assert_msg(l && strstr(l, " 10\n") &&
		    strstr(o.out, "kstream_partition_end_offset"), "%s", o.out);
	}
	kt_cmd_out_free(&o);
	run_kstream(&o, "--store", sdir, "--format", "json", NULL, NULL);
	ck_assert_msg(exit_code(&o) == 0, "status %#x: %s", o.status, o.err);
	ck_assert_msg(!strncmp(o.out, "{\"metrics\":", 11), "%s", o.out);
	kt_cmd_out_free(&o);

	free(logpath);
	free(sdir);
}
END_TEST

Suite *kmetrics_suite(void)
{
	Suite *s = suite_create("kmetrics");
	TCase *tc = tcase_create("server");
	TCase *tp = tcase_create("programs");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, scrape_after_produce);
	tcase_add_test(tc, http_answers);
	tcase_add_test(tc, port_in_use);
	tcase_add_test(tc, bad_request_counted);
	tcase_add_test(tc, stats_callback);
	tcase_add_test(tc, config_checked);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_set_timeout(tp, 300);
	tcase_add_test(tp, programs);
	suite_add_tcase(s, tp);
	return s;
}
