/*
 * check_kmetrics.c: the Kafka server's metrics as a user reads them: the
 * HTTP endpoint scraped over a plain socket and read back with
 * ks_metrics_parse, the stats callback, kstream-broker --metrics and
 * kstream stats against a broker's endpoint and a store.
 */
#define _GNU_SOURCE
#include "kserver_util.h"
#include "proc.h"
#include "util.h"

#include "kafka/msg.h"

#include <errno.h>
#include <kstream/kafka.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

	dir = kt_tmpdir("kmetrics");
	kt_store_config(&cfg, KS_STORE_CREATE, quiet_log);
	KT_OK(ks_store_open(dir, &cfg, &store));
	ks_kafka_server_config_init(&sc);
	sc.auto_create_topics = 0;
	sc.log_cb = quiet_log;
	sc.stats_cb = on_stats;
	sc.stats_opaque = &stats_calls;
	sc.stats_interval_ms = 20;
	atomic_store(&stats_calls, 0);
	atomic_store(&stats_had_conns, 0);
	port = kt_kserver_start(store, &sc, &srv);
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
	kt_kserver_stop(&srv, &store, &dir);
}

/* ---- a plain HTTP client ------------------------------------------------------ */

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
	int fd = kt_tcp_connect(p, 30);

	snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
	    method, path);
	kt_write_all(fd, req, strlen(req));
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

/* The status of the answer to one request. */
static int http_status(int p, const char *method, const char *path)
{
	struct http_resp r;
	int status;

	http_do(p, method, path, &r);
	status = r.status;
	http_free(&r);
	return status;
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
	kp_str_t name = kp_cstr("no-such-topic");
	kp_metadata_req_t req = { .n_topics = 1, .topics = &name };
	kp_metadata_resp_t resp;
	kp_arena_t arena;
	int16_t err;

	kt_kafka_send(fd, KP_METADATA, 1, 42, "kmetrics-test", &req);
	kp_arena_init(&arena);
	memset(&resp, 0, sizeof resp);
	kt_kafka_recv(fd, KP_METADATA, 1, 42, &arena, &resp);
	ck_assert_int_eq(resp.n_topics, 1);
	err = resp.topics[0].error_code;
	kp_arena_free(&arena);
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

	fd = kt_tcp_connect(port, 30); /* open while scraping */
	ck_assert_int_eq(metadata_unknown(fd), KP_UNKNOWN_TOPIC_OR_PARTITION);

	m = scrape(mport);
	ck_assert(kt_value(m, "kstream_kafka_requests_total",
	    "api=Produce") >= 1);
	ck_assert(kt_value(m, "kstream_kafka_requests_total",
	    "api=Metadata") >= 2);
	ck_assert_int_eq((int)kt_value(m, "kstream_topic_records_in_total",
	    "topic=orders"), NRECS);
	ck_assert(kt_value(m, "kstream_net_connections", NULL) >= 1);
	ck_assert(kt_value(m, "kstream_net_connections_accepted_total",
	    NULL) >= 2);
	ck_assert(kt_value(m, "kstream_net_bytes_received_total", NULL) >
	    NRECS * 2);
	ck_assert(kt_value(m, "kstream_net_bytes_sent_total", NULL) > 0);
	ck_assert_int_eq((int)kt_value(m, "kstream_kafka_request_errors_total",
	    "api=Metadata,error=UNKNOWN_TOPIC_OR_PARTITION"), 1);
	/* Produce went well: no error series for it */
	ck_assert_ptr_null(ks_metrics_find(m,
	    "kstream_kafka_request_errors_total", "api=Produce"));
	ck_assert_int_eq((int)kt_value(m, "kstream_kafka_bad_requests_total",
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
	ck_assert_int_eq((int)kt_value(direct,
	    "kstream_kafka_request_errors_total",
	    "api=Metadata,error=UNKNOWN_TOPIC_OR_PARTITION"), 1);
	ck_assert_int_eq((int)kt_value(direct,
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

	ck_assert_int_eq(http_status(mport, "GET", "/other"), 404);
	ck_assert_int_eq(http_status(mport, "GET", "/metrics/x"), 404);
	ck_assert_int_eq(http_status(mport, "POST", "/metrics"), 405);
	ck_assert_int_eq(http_status(mport, "GET", "/metrics?format=xml"), 400);

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

	ck_assert_int_eq(http_status(mport, "GET",
	    "/metrics?format=prometheus"), 200);

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

/*
 * Sends bytes on a new connection, which the server must close without
 * an answer; the bad requests it has counted then.
 */
static int bad_requests_after(const uint8_t *bytes, size_t len)
{
	ks_metrics_t *m;
	char b;
	int fd = kt_tcp_connect(port, 30), n;

	kt_write_all(fd, bytes, len);
	ck_assert_int_eq(read(fd, &b, 1), 0);
	close(fd);
	m = scrape(mport);
	n = (int)kt_value(m, "kstream_kafka_bad_requests_total", NULL);
	ks_metrics_free(m);
	return n;
}

START_TEST(bad_request_counted)
{
	static const uint8_t junk[] = { 0, 0, 0, 3, 0xff, 0xff, 0xff };
	static const uint8_t huge[] = { 0x7f, 0xff, 0xff, 0xff, 0, 0 };

	/* a frame too short for a request header: closed */
	ck_assert_int_eq(bad_requests_after(junk, sizeof junk), 1);
	/* a length prefix beyond any frame the server takes: closed too */
	ck_assert_int_eq(bad_requests_after(huge, sizeof huge), 2);
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
	char *bin = kt_program("kstream");
	char *argv[] = { bin, "stats", (char *)a1, (char *)a2, (char *)a3,
		(char *)a4, (char *)a5, (char *)a6, NULL };

	kt_run_cmd(argv, NULL, 60000, o);
	free(bin);
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

START_TEST(programs)
{
	char *sdir = kt_path(dir, "store-prog");
	char *logpath = kt_path(dir, "broker.log");
	char *bin = kt_program("kstream-broker");
	char mu[256], bad[64], boot[64];
	struct kt_cmd_out o;
	ks_metrics_t *m;
	int kp, status;
	pid_t pid;

	pid = kt_broker_start_metrics(bin, sdir, logpath, &kp, mu, sizeof mu);
	ck_assert_msg(!strncmp(mu, "http://127.0.0.1:", 17), "%s", mu);
	produce_n(kp, "prog", 10); /* created on first use */

	m = scrape(url_port(mu));
	ck_assert(kt_value(m, "kstream_kafka_requests_total",
	    "api=Produce") >= 1);
	ck_assert_int_eq((int)kt_value(m, "kstream_topic_records_in_total",
	    "topic=prog"), 10);
	ks_metrics_free(m);

	/* the table, filtered */
	run_kstream(&o, "--metrics", mu, "--filter", "records_in", NULL, NULL);
	ck_assert_msg(kt_cmd_exit(&o) == 0, "status %#x: %s", o.status, o.err);
	ck_assert_msg(strstr(o.out, "kstream_topic_records_in_total") &&
	    strstr(o.out, "topic=prog"), "%s", o.out);
	ck_assert_msg(strstr(o.out, " 10\n") != NULL, "%s", o.out);
	ck_assert_msg(strstr(o.out, "kstream_kafka_requests_total") == NULL,
	    "not filtered: %s", o.out);
	kt_cmd_out_free(&o);

	/* Prometheus's format, read back */
	run_kstream(&o, "--metrics", mu, "--format", "prometheus", NULL,
	    NULL);
	ck_assert_msg(kt_cmd_exit(&o) == 0, "status %#x: %s", o.status, o.err);
	KT_OK(ks_metrics_parse(o.out, o.out_len, &m));
	ck_assert(kt_value(m, "kstream_kafka_requests_total",
	    "api=Produce") >= 1);
	ks_metrics_free(m);
	kt_cmd_out_free(&o);

	/* rates: two prints */
	run_kstream(&o, "--metrics", mu, "--interval", "0.05", "--count",
	    "2");
	ck_assert_msg(kt_cmd_exit(&o) == 0, "status %#x: %s", o.status, o.err);
	ck_assert_msg(strstr(o.out, "per second") != NULL, "%s", o.out);
	kt_cmd_out_free(&o);

	/* --broker: there is nothing to ask over Kafka's protocol */
	snprintf(boot, sizeof boot, "127.0.0.1:%d", kp);
	run_kstream(&o, "--broker", boot, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(kt_cmd_exit(&o), 2);
	one_line_error(&o);
	ck_assert_msg(strstr(o.err, "--metrics") != NULL, "%s", o.err);
	kt_cmd_out_free(&o);

	/* bad URLs */
	run_kstream(&o, "--metrics", "ftp://127.0.0.1/x", NULL, NULL, NULL,
	    NULL);
	ck_assert_int_eq(kt_cmd_exit(&o), 2);
	one_line_error(&o);
	kt_cmd_out_free(&o);
	snprintf(bad, sizeof bad, "http://127.0.0.1:%d/nothing-here",
	    url_port(mu));
	run_kstream(&o, "--metrics", bad, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(kt_cmd_exit(&o), 1);
	one_line_error(&o);
	ck_assert_msg(strstr(o.err, "404") != NULL, "%s", o.err);
	kt_cmd_out_free(&o);

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	status = kt_child_wait(pid, 30000);
	ck_assert_msg(status >= 0 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "SIGTERM: wait status %#x", status);

	/* nothing listens there now */
	run_kstream(&o, "--metrics", mu, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(kt_cmd_exit(&o), 1);
	one_line_error(&o);
	kt_cmd_out_free(&o);

	/* the store itself: the records are there */
	run_kstream(&o, "--store", sdir, "--filter", "partition_end_offset",
	    NULL, NULL);
	ck_assert_msg(kt_cmd_exit(&o) == 0, "status %#x: %s", o.status, o.err);
	{
		const char *l = strstr(o.out, "topic=prog,partition=0");
		ck_assert_msg(l && strstr(l, " 10\n") &&
		    strstr(o.out, "kstream_partition_end_offset"), "%s", o.out);
	}
	kt_cmd_out_free(&o);
	run_kstream(&o, "--store", sdir, "--format", "json", NULL, NULL);
	ck_assert_msg(kt_cmd_exit(&o) == 0, "status %#x: %s", o.status, o.err);
	ck_assert_msg(!strncmp(o.out, "{\"metrics\":", 11), "%s", o.out);
	kt_cmd_out_free(&o);

	free(bin);
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
