/*
 * check_metrics.c: metric snapshots (kstream/metrics.h): building them,
 * Prometheus text and JSON out, Prometheus text in (ours and a
 * hand-written exporter's), malformed input, lookups; and what a store
 * counts (ks_store_metrics): records and bytes in and out per topic,
 * latency histograms, partition gauges, a group's committed offsets, lag
 * and rebalances, the stats thread, a read-only store.
 */
#define _GNU_SOURCE
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *g_base;

static void suite_setup(void)
{
	g_base = kt_tmpdir("metrics");
}

static void suite_teardown(void)
{
	kt_rmrf_free(&g_base);
}

/* ---- snapshots and their text -------------------------------------------- */

static const double k_bounds[] = { 0.001, 0.01, 0.1 };
static const uint64_t k_buckets[] = { 1, 3, 3 };

/* A snapshot with a counter (escapes in a label), a gauge, a histogram. */
static ks_metrics_t *sample_snapshot(void)
{
	ks_metrics_t *m;
	KT_OK(ks_metrics_new(&m));
	ks_metric_t c = { .name = "app_requests_total",
		.help = "Requests, by path.\nSecond line \\ backslash",
		.type = KS_METRIC_COUNTER, .nlabels = 2,
		.labels = { { "path", "/a\"b\\c\nd" }, { "code", "200" } },
		.value = 42 };
	KT_OK(ks_metrics_add(m, &c));
	ks_metric_t g = { .name = "app_temperature", .help = "",
		.type = KS_METRIC_GAUGE, .value = -1.5 };
	KT_OK(ks_metrics_add(m, &g));
	ks_metric_t h = { .name = "app_latency_seconds", .help = "Latency.",
		.type = KS_METRIC_HISTOGRAM, .nlabels = 1,
		.labels = { { "op", "get" } }, .value = 0.25, .count = 4,
		.nbuckets = 3, .bounds = k_bounds, .buckets = k_buckets };
	KT_OK(ks_metrics_add(m, &h));
	/* a second sample of the first name, added last: printed with it */
	c.labels[1].value = "500";
	c.value = 1;
	KT_OK(ks_metrics_add(m, &c));
	return m;
}

static const char k_prom[] =
    "# HELP app_requests_total Requests, by path.\\nSecond line \\\\ "
    "backslash\n"
    "# TYPE app_requests_total counter\n"
    "app_requests_total{path=\"/a\\\"b\\\\c\\nd\",code=\"200\"} 42\n"
    "app_requests_total{path=\"/a\\\"b\\\\c\\nd\",code=\"500\"} 1\n"
    "# TYPE app_temperature gauge\n"
    "app_temperature -1.5\n"
    "# HELP app_latency_seconds Latency.\n"
    "# TYPE app_latency_seconds histogram\n"
    "app_latency_seconds_bucket{op=\"get\",le=\"0.001\"} 1\n"
    "app_latency_seconds_bucket{op=\"get\",le=\"0.01\"} 3\n"
    "app_latency_seconds_bucket{op=\"get\",le=\"0.1\"} 3\n"
    "app_latency_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"
    "app_latency_seconds_sum{op=\"get\"} 0.25\n"
    "app_latency_seconds_count{op=\"get\"} 4\n";

/* Two samples are the same, field by field. */
static void assert_same_sample(const ks_metric_t *a, const ks_metric_t *b)
{
	ck_assert_str_eq(a->name, b->name);
	ck_assert_str_eq(a->help, b->help);
	ck_assert_int_eq(a->type, b->type);
	ck_assert_int_eq(a->nlabels, b->nlabels);
	for (int i = 0; i < a->nlabels; i++) {
		ck_assert_str_eq(a->labels[i].name, b->labels[i].name);
		ck_assert_str_eq(a->labels[i].value, b->labels[i].value);
	}
	ck_assert_msg(a->value == b->value || (isnan(a->value) &&
	    isnan(b->value)), "%s: %g != %g", a->name, a->value, b->value);
	if (a->type != KS_METRIC_HISTOGRAM)
		return;
	ck_assert_uint_eq(a->count, b->count);
	ck_assert_int_eq(a->nbuckets, b->nbuckets);
	for (int i = 0; i < a->nbuckets; i++) {
		ck_assert(a->bounds[i] == b->bounds[i]);
		ck_assert_uint_eq(a->buckets[i], b->buckets[i]);
	}
}

START_TEST(prometheus_round_trip)
{
	ks_metrics_t *m = sample_snapshot(), *back;
	char *text;
	size_t len;

	ck_assert_uint_eq(ks_metrics_count(m), 4);
	KT_OK(ks_metrics_format(m, KS_METRICS_PROMETHEUS, &text, &len));
	ck_assert_uint_eq(len, strlen(text));
	ck_assert_str_eq(text, k_prom);
	KT_OK(ks_metrics_parse(text, len, &back));
	/* grouped by name on the way out, so in that order on the way in */
	ck_assert_uint_eq(ks_metrics_count(back), 4);
	static const size_t order[] = { 0, 3, 1, 2 };
	for (size_t i = 0; i < 4; i++)
		assert_same_sample(ks_metrics_at(m, order[i]),
		    ks_metrics_at(back, i));
	ck_assert_ptr_null(ks_metrics_at(back, 4));
	free(text);
	ks_metrics_free(back);
	ks_metrics_free(m);
}
END_TEST

/* ---- a small JSON checker: the text is one valid JSON value ------------- */

static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

static const char *json_value(const char *p, int depth);

static const char *json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p && *p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF",
					    p[i]) || !p[i])
						return NULL;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
		p++;
	}
	return *p == '"' ? p + 1 : NULL;
}

static const char *json_number(const char *p)
{
	const char *s = p;
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		if (!(*++p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p > s ? p : NULL;
}

static const char *json_value(const char *p, int depth)
{
	p = json_ws(p);
	if (depth > 32)
		return NULL;
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		int obj = *p == '{';
		p = json_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (obj) {
				if (!(p = json_string(json_ws(p))))
					return NULL;
				p = json_ws(p);
				if (*p++ != ':')
					return NULL;
			}
			if (!(p = json_value(p, depth + 1)))
				return NULL;
			p = json_ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	if (*p == '"')
		return json_string(p);
	if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	return json_number(p);
}

static int json_valid(const char *text)
{
	const char *end = json_value(text, 0);
	return end && !*json_ws(end);
}

/* m printed in Prometheus's format and parsed back: as many samples. */
static ks_metrics_t *reparsed(const ks_metrics_t *m)
{
	ks_metrics_t *back;
	char *text;
	size_t len;

	KT_OK(ks_metrics_format(m, KS_METRICS_PROMETHEUS, &text, &len));
	KT_OK(ks_metrics_parse(text, len, &back));
	ck_assert_uint_eq(ks_metrics_count(back), ks_metrics_count(m));
	free(text);
	return back;
}

START_TEST(json_format)
{
	ks_metrics_t *m = sample_snapshot();
	char *text;
	size_t len;

	/* the checker itself tells good from bad */
	ck_assert(json_valid("{\"a\":[1,-2.5e3,\"x\\n\",null,{}]}"));
	ck_assert(!json_valid("{\"a\":[1,]}"));
	ck_assert(!json_valid("{\"a\":NaN}"));
	ck_assert(!json_valid("{\"a\":\"\x01\"}"));

	ks_metric_t nan = { .name = "app_ratio", .type = KS_METRIC_GAUGE,
		.value = NAN };
	KT_OK(ks_metrics_add(m, &nan));
	ks_metric_t ctl = { .name = "app_info", .type = KS_METRIC_GAUGE,
		.nlabels = 1, .labels = { { "v", "tab\there\x01" } },
		.value = 1 };
	KT_OK(ks_metrics_add(m, &ctl));
	KT_OK(ks_metrics_format(m, KS_METRICS_JSON, &text, &len));
	ck_assert_uint_eq(len, strlen(text));
	ck_assert_msg(json_valid(text), "not JSON: %s", text);
	ck_assert_ptr_nonnull(strstr(text, "{\"metrics\":[{\"name\":"
	    "\"app_requests_total\",\"help\":\"Requests, by path.\\n"
	    "Second line \\\\ backslash\",\"type\":\"counter\",\"labels\":"
	    "{\"path\":\"/a\\\"b\\\\c\\nd\",\"code\":\"200\"},\"value\":42}"));
	ck_assert_ptr_nonnull(strstr(text, "\"type\":\"histogram\",\"labels\":"
	    "{\"op\":\"get\"},\"value\":0.25,\"sum\":0.25,\"count\":4,"
	    "\"buckets\":[{\"le\":0.001,\"count\":1},{\"le\":0.01,\"count\":3},"
	    "{\"le\":0.1,\"count\":3},{\"le\":\"+Inf\",\"count\":4}]}"));
	ck_assert_ptr_nonnull(strstr(text, "\"value\":\"NaN\""));
	ck_assert_ptr_nonnull(strstr(text, "\"tab\\there\\u0001\""));
	free(text);

	/* an empty snapshot is valid text in both formats */
	ks_metrics_t *e;
	KT_OK(ks_metrics_new(&e));
	KT_OK(ks_metrics_format(e, KS_METRICS_JSON, &text, NULL));
	ck_assert_str_eq(text, "{\"metrics\":[]}\n");
	free(text);
	KT_OK(ks_metrics_format(e, KS_METRICS_PROMETHEUS, &text, &len));
	ck_assert_str_eq(text, "");
	ck_assert_uint_eq(len, 0);
	free(text);
	ck_assert_int_eq(ks_metrics_format(e, 7, &text, NULL), KS_EINVAL);
	ks_metrics_free(e);
	ks_metrics_free(m);
}
END_TEST

/* What another exporter may write: comments, blank lines, timestamps,
 * special values, a histogram with its lines out of order and without a
 * +Inf bucket, a summary, untyped samples, CRLF, OpenMetrics' # EOF. */
static const char k_exporter[] =
    "# A comment line\n"
    "\n"
    "# HELP http_requests_total The total number of HTTP requests.\n"
    "# TYPE http_requests_total counter\n"
    "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
    "http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n"
    "\n"
    "# Escaping in label values:\n"
    "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\","
    "error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n"
    "metric_without_timestamp_and_labels 12.47\n"
    "  something_weird{problem=\"division by zero\"} +Inf -3982045\n"
    "minus_inf -Inf\n"
    "not_a_number NaN\r\n"
    "# HELP rpc_seconds A histogram.\n"
    "# TYPE rpc_seconds histogram\n"
    "rpc_seconds_bucket{le=\"1\"} 133988\n"
    "rpc_seconds_bucket{le=\"0.05\"} 24054\n"
    "rpc_seconds_bucket{le=\"0.5\" , } 129389\n"
    "rpc_seconds_sum 53423\n"
    "rpc_seconds_count 144320\n"
    "# TYPE rpc_summary summary\n"
    "rpc_summary{quantile=\"0.5\"} 4773\n"
    "rpc_summary_sum 1.7560473e+07\n"
    "rpc_summary_count 2693\n"
    "# EOF\n";

START_TEST(parse_exporter_text)
{
	ks_metrics_t *m;
	const ks_metric_t *s;

	KT_OK(ks_metrics_parse(k_exporter, strlen(k_exporter), &m));
	ck_assert_uint_eq(ks_metrics_count(m), 11);

	s = ks_metrics_find(m, "http_requests_total", "code=400");
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(s->type, KS_METRIC_COUNTER);
	ck_assert_str_eq(s->help, "The total number of HTTP requests.");
	ck_assert(s->value == 3);
	ck_assert_int_eq(s->nlabels, 2);
	ck_assert_str_eq(s->labels[0].name, "method");

	s = ks_metrics_find(m, "msdos_file_access_time_seconds", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(s->type, KS_METRIC_GAUGE); /* untyped */
	ck_assert_str_eq(s->help, "");
	ck_assert_str_eq(s->labels[0].value, "C:\\DIR\\FILE.TXT");
	ck_assert_str_eq(s->labels[1].value, "Cannot find file:\n\"FILE.TXT\"");
	ck_assert(s->value == 1.458255915e9);

	s = ks_metrics_find(m, "something_weird", "problem=division by zero");
	ck_assert_ptr_nonnull(s);
	ck_assert(isinf(s->value) && s->value > 0);
	s = ks_metrics_find(m, "minus_inf", "");
	ck_assert(isinf(s->value) && s->value < 0);
	s = ks_metrics_find(m, "not_a_number", NULL);
	ck_assert(isnan(s->value));

	s = ks_metrics_find(m, "rpc_seconds", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(s->type, KS_METRIC_HISTOGRAM);
	ck_assert_str_eq(s->help, "A histogram.");
	ck_assert_int_eq(s->nlabels, 0);
	ck_assert_int_eq(s->nbuckets, 3);
	ck_assert(s->bounds[0] == 0.05 && s->bounds[1] == 0.5 &&
	    s->bounds[2] == 1);
	ck_assert_uint_eq(s->buckets[0], 24054);
	ck_assert_uint_eq(s->buckets[1], 129389);
	ck_assert_uint_eq(s->buckets[2], 133988);
	ck_assert_uint_eq(s->count, 144320);
	ck_assert(s->value == 53423);
	ck_assert_ptr_null(ks_metrics_find(m, "rpc_seconds_bucket", NULL));

	/* a summary's lines stay as they are, as gauges */
	s = ks_metrics_find(m, "rpc_summary", "quantile=0.5");
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(s->type, KS_METRIC_GAUGE);
	ck_assert_ptr_nonnull(ks_metrics_find(m, "rpc_summary_count", NULL));

	/* and it all prints again and reads back the same */
	ks_metrics_t *back = reparsed(m);
	for (size_t i = 0; i < ks_metrics_count(m); i++) {
		const ks_metric_t *a = ks_metrics_at(m, i), *b;
		/* summary parts come back untyped: gauges, as they left */
		b = ks_metrics_at(back, i);
		assert_same_sample(a, b);
	}
	ks_metrics_free(back);
	ks_metrics_free(m);

	/* a histogram's +Inf bucket is its count when _count is missing */
	static const char inf[] = "# TYPE h histogram\n"
	    "h_bucket{x=\"1\",le=\"0.5\"} 2\nh_bucket{le=\"+Inf\",x=\"1\"} 5\n"
	    "h_sum{x=\"1\"} 1.25\n";
	KT_OK(ks_metrics_parse(inf, sizeof inf - 1, &m));
	ck_assert_uint_eq(ks_metrics_count(m), 1);
	s = ks_metrics_at(m, 0);
	ck_assert_int_eq(s->nbuckets, 1);
	ck_assert_uint_eq(s->count, 5);
	ck_assert_str_eq(s->labels[0].value, "1");
	ks_metrics_free(m);

	/* nothing at all is an empty snapshot */
	KT_OK(ks_metrics_parse("", 0, &m));
	ck_assert_uint_eq(ks_metrics_count(m), 0);
	ks_metrics_free(m);
}
END_TEST

START_TEST(parse_malformed)
{
	static const char *const bad[] = {
		"x",                              /* no value */
		"x{} ",                           /* no value */
		"x 1 2 3",                        /* too many fields */
		"x abc",                          /* not a number */
		"x 0x10",                         /* hex is not Go's */
		"x 1 12.5",                       /* timestamp not an integer */
		"x{a=\"1\" 1",                    /* unclosed labels */
		"x{a=1} 1",                       /* unquoted value */
		"x{a=\"1} 1",                     /* unterminated value */
		"x{a=\"\\t\"} 1",                 /* unknown escape */
		"x{a=\"1\",a=\"2\"} 1",           /* a label twice */
		"x{1a=\"1\"} 1",                  /* bad label name */
		"x{a=\"1\"}1",                    /* no blank before the value */
		"1x 1",                           /* bad metric name */
		"x-y 1",                          /* bad metric name */
		"x{a=\"1\",b=\"2\",c=\"3\",d=\"4\",e=\"5\"} 1", /* > 4 labels */
		"# TYPE x bogus",                 /* unknown type */
		"# TYPE x counter extra",
		"# TYPE x counter\n# TYPE x gauge", /* typed twice */
		"x 1\n# TYPE x counter",          /* type after samples */
		"# HELP",
		"# TYPE h histogram\nh_bucket 1", /* bucket without le */
		"# TYPE h histogram\nh_sum{le=\"1\"} 1", /* le elsewhere */
		"# TYPE h histogram\nh_bucket{le=\"x\"} 1",
		"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1\"} 2",
		"# TYPE h histogram\nh_bucket{le=\"1\"} -1",
		"# TYPE h histogram\nh 1",        /* a histogram's bare name */
		"# TYPE h histogram\nh_count 1.5",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ks_metrics_t *m = (ks_metrics_t *)1;
		int rc = ks_metrics_parse(bad[i], strlen(bad[i]), &m);
		ck_assert_msg(rc == KS_EINVAL, "\"%s\": %d", bad[i], rc);
		ck_assert_ptr_null(m);
	}
	/* a NUL inside the text */
	ks_metrics_t *m;
	ck_assert_int_eq(ks_metrics_parse("x 1\0y 2", 7, &m), KS_EINVAL);
	ck_assert_int_eq(ks_metrics_parse(NULL, 1, &m), KS_EINVAL);
	ck_assert_int_eq(ks_metrics_parse("x 1", 3, NULL), KS_EINVAL);
}
END_TEST

/* Mutated exporter text: parsed or refused, never a crash or a leak (the
 * sanitizer builds watch), and what parses formats again. */
START_TEST(parse_mutations)
{
	size_t len = strlen(k_exporter);
	char *buf = malloc(len + 1);
	uint64_t x = kt_seed(0x6d657472696373);
	static const char alphabet[] = "{}\",=\\ \n#_+-.eEaIN0123456789le";
	int parsed = 0;
	ck_assert_ptr_nonnull(buf);
	for (int i = 0; i < 3000; i++) {
		memcpy(buf, k_exporter, len + 1);
		size_t n = len;
		int edits = 1 + (int)((x = kt_mix64(x)) % 4);
		for (int e = 0; e < edits; e++) {
			x = kt_mix64(x);
			size_t at = (size_t)(x % n);
			if ((x >> 32) % 5 == 0)
				n = at; /* cut short */
			else
				buf[at] = alphabet[(x >> 40) %
				    (sizeof alphabet - 1)];
			if (!n)
				break;
		}
		ks_metrics_t *m = NULL;
		int rc = ks_metrics_parse(buf, n, &m);
		ck_assert_msg(rc == 0 || rc == KS_EINVAL, "rc %d", rc);
		if (rc)
			continue;
		parsed++;
		char *text;
		KT_OK(ks_metrics_format(m, KS_METRICS_PROMETHEUS, &text, NULL));
		free(text);
		KT_OK(ks_metrics_format(m, KS_METRICS_JSON, &text, NULL));
		ck_assert(json_valid(text));
		free(text);
		ks_metrics_free(m);
	}
	/* some mutations keep the text valid, most do not */
	ck_assert_int_gt(parsed, 0);
	ck_assert_int_lt(parsed, 3000);
	free(buf);
}
END_TEST

START_TEST(add_and_find)
{
	ks_metrics_t *m;
	KT_OK(ks_metrics_new(&m));
	ks_metric_t s = { .name = "a:b_c", .type = KS_METRIC_GAUGE,
		.nlabels = 2, .labels = { { "topic", "t" }, { "partition",
		"1" } }, .value = 7 };
	KT_OK(ks_metrics_add(m, &s));
	s.labels[1].value = "10";
	s.value = 8;
	KT_OK(ks_metrics_add(m, &s));

	/* the snapshot holds copies */
	char name[] = "a:b_c";
	s.name = name;
	ks_metric_t bad = s;
	bad.name = "9a";
	ck_assert_int_eq(ks_metrics_add(m, &bad), KS_EINVAL);
	bad.name = "a b";
	ck_assert_int_eq(ks_metrics_add(m, &bad), KS_EINVAL);
	bad = s;
	bad.labels[0].name = "to:pic"; /* no colon in label names */
	ck_assert_int_eq(ks_metrics_add(m, &bad), KS_EINVAL);
	bad = s;
	bad.labels[1].name = "topic";
	ck_assert_int_eq(ks_metrics_add(m, &bad), KS_EINVAL);
	bad = s;
	bad.labels[0].value = NULL;
	ck_assert_int_eq(ks_metrics_add(m, &bad), KS_EINVAL);
	bad = s;
	bad.nlabels = KS_METRIC_MAX_LABELS + 1;
	ck_assert_int_eq(ks_metrics_add(m, &bad), KS_EINVAL);
	bad = s;
	bad.type = KS_METRIC_COUNTER; /* the name is a gauge already */
	ck_assert_int_eq(ks_metrics_add(m, &bad), KS_EINVAL);
	bad = s;
	bad.type = 9;
	ck_assert_int_eq(ks_metrics_add(m, &bad), KS_EINVAL);
	static const double down[] = { 1, 0.5 };
	static const uint64_t two[] = { 1, 2 };
	ks_metric_t h = { .name = "h", .type = KS_METRIC_HISTOGRAM,
		.nbuckets = 2, .bounds = down, .buckets = two, .count = 2 };
	ck_assert_int_eq(ks_metrics_add(m, &h), KS_EINVAL);
	h.bounds = k_bounds;
	h.nlabels = 1;
	h.labels[0].name = "le";
	h.labels[0].value = "1";
	ck_assert_int_eq(ks_metrics_add(m, &h), KS_EINVAL);
	ck_assert_int_eq(ks_metrics_add(NULL, &s), KS_EINVAL);
	ck_assert_int_eq(ks_metrics_new(NULL), KS_EINVAL);
	ck_assert_uint_eq(ks_metrics_count(m), 2);
	memset(name, 'x', 5);
	ck_assert_str_eq(ks_metrics_at(m, 0)->name, "a:b_c");

	/* find: every pair of match must be among the labels, exactly */
	const ks_metric_t *f = ks_metrics_find(m, "a:b_c", "partition=1");
	ck_assert_ptr_nonnull(f);
	ck_assert(f->value == 7);
	f = ks_metrics_find(m, "a:b_c", "partition=10,topic=t");
	ck_assert(f && f->value == 8);
	ck_assert_ptr_null(ks_metrics_find(m, "a:b_c", "partition=2"));
	ck_assert_ptr_null(ks_metrics_find(m, "a:b_c", "topic=t,group=g"));
	ck_assert_ptr_null(ks_metrics_find(m, "a:b_c", "partition"));
	ck_assert(ks_metrics_find(m, "a:b_c", NULL)->value == 7);
	ck_assert(ks_metrics_find(m, "a:b_c", "")->value == 7);
	ck_assert_ptr_null(ks_metrics_find(m, "a:b", NULL));
	ck_assert_ptr_null(ks_metrics_find(NULL, "a:b_c", NULL));
	ck_assert_uint_eq(ks_metrics_count(NULL), 0);
	ks_metrics_free(m);
	ks_metrics_free(NULL);
}
END_TEST

/* ---- a store's metrics ---------------------------------------------------- */

static ks_store_t *open_store(const char *dir, int flags)
{
	ks_store_config_t cfg;
	ks_store_t *s;
	ks_store_config_init(&cfg);
	cfg.flags = flags;
	KT_OK(ks_store_open(dir, &cfg, &s));
	return s;
}

/* A new store, dir name in the suite's directory (*dirp; free() it),
 * holding topic of partitions partitions (0: the default). */
static ks_store_t *store_with_topic(const char *name, const char *topic,
    int partitions, char **dirp)
{
	ks_store_t *s;
	ks_topic_config_t tc;

	*dirp = kt_fresh_path(g_base, name);
	s = open_store(*dirp, KS_STORE_CREATE);
	ks_topic_config_init(&tc);
	if (partitions)
		tc.partitions = partitions;
	KT_OK(ks_topic_create(s, topic, &tc));
	return s;
}

static ks_metrics_t *store_snapshot(ks_store_t *s)
{
	ks_metrics_t *m;
	KT_OK(ks_metrics_new(&m));
	KT_OK(ks_store_metrics(s, m));
	return m;
}

static const ks_metric_t *hist_of(const ks_metrics_t *m, const char *name,
    const char *match)
{
	const ks_metric_t *s = ks_metrics_find(m, name, match);
	ck_assert_msg(s != NULL, "no %s{%s}", name, match ? match : "");
	ck_assert_int_eq(s->type, KS_METRIC_HISTOGRAM);
	for (int i = 1; i < s->nbuckets; i++)
		ck_assert(s->buckets[i] >= s->buckets[i - 1]);
	ck_assert(!s->nbuckets || s->buckets[s->nbuckets - 1] <= s->count);
	return s;
}

struct reader {
	ks_log_t *log;
	int calls;
};

/* ks_log_read from a thread of its own: its first call is timed. */
static void *read_thread(void *arg)
{
	struct reader *r = arg;
	for (int i = 0; i < r->calls; i++) {
		ks_log_view_t v;
		if (ks_log_read(r->log, 0, 1 << 20, &v) == 0)
			ks_log_view_release(&v);
	}
	return NULL;
}

#define N0 37 /* records to partition 0 */
#define N1 21 /* to partition 1 */

START_TEST(store_counts)
{
	char *dir;
	ks_store_t *st = store_with_topic("counts", "t", 2, &dir);

	/* one record per call, values of different sizes */
	ks_producer_t *prod;
	KT_OK(ks_producer_new(st, NULL, &prod));
	uint64_t batch_bytes = 0;
	char val[200];
	memset(val, 'v', sizeof val);
	for (int i = 0; i < N0 + N1; i++) {
		ks_record_t r = { .key = "k", .key_len = 1, .value = val,
			.value_len = (size_t)(i % 150) };
		ks_produce_result_t res;
		size_t size;
		KT_OK(ks_produce(prod, "t", i < N0 ? 0 : 1, &r, 1, 0, &res));
		KT_OK(ks_batch_size(&r, 1, &size));
		batch_bytes += size;
	}

	ks_metrics_t *m = store_snapshot(st);
	ck_assert(kt_value(m, "kstream_topic_records_in_total", "topic=t") ==
	    N0 + N1);
	double bytes_in = kt_value(m, "kstream_topic_bytes_in_total",
	    "topic=t");
	ck_assert(bytes_in == (double)batch_bytes);
	ck_assert(kt_value(m, "kstream_topic_records_out_total", "topic=t") ==
	    0);
	/* one append call in 16 is timed, per partition, from the first */
	const ks_metric_t *h = hist_of(m, "kstream_log_append_seconds",
	    "topic=t");
	ck_assert_uint_eq(h->count, (N0 + 15) / 16 + (N1 + 15) / 16);
	ck_assert(h->value > 0);
	ck_assert(hist_of(m, "kstream_log_read_seconds", "topic=t")->count ==
	    0);
	/* the partitions as ks_log_stat sees them */
	uint64_t size_sum = 0;
	for (int32_t p = 0; p < 2; p++) {
		ks_topic_t *t;
		ks_log_t *log;
		ks_log_stat_t ls;
		char match[32];
		KT_OK(ks_topic_open(st, "t", &t));
		KT_OK(ks_topic_partition(t, p, &log));
		KT_OK(ks_log_stat(log, &ls));
		snprintf(match, sizeof match, "topic=t,partition=%d", p);
		ck_assert(kt_value(m, "kstream_partition_start_offset",
		    match) == ls.start_offset);
		ck_assert(kt_value(m, "kstream_partition_end_offset", match) ==
		    ls.end_offset);
		ck_assert(kt_value(m, "kstream_partition_size_bytes", match) ==
		    ls.size_bytes);
		ck_assert(kt_value(m, "kstream_partition_segments", match) ==
		    ls.segment_count);
		ck_assert_int_eq(ls.end_offset, p ? N1 : N0);
		size_sum += ls.size_bytes;
		ks_topic_release(t);
	}
	ck_assert(bytes_in == (double)size_sum);
	/* no coordinator yet: no group samples */
	ck_assert_ptr_null(ks_metrics_find(m, "kstream_group_state", NULL));
	ks_metrics_free(m);

	/* a consumer in group g reads everything and commits */
	ks_consumer_config_t cc;
	ks_consumer_t *c;
	ks_consumer_config_init(&cc);
	cc.group_id = "g";
	cc.auto_offset_reset = KS_RESET_EARLIEST;
	cc.enable_auto_commit = 0;
	KT_OK(ks_consumer_new(st, &cc, &c));
	const char *topics[] = { "t" };
	KT_OK(ks_consumer_subscribe(c, topics, 1));
	int got = 0;
	int64_t deadline = kt_now_ns() + 20 * 1000000000LL;
	while (got < N0 + N1 && kt_now_ns() < deadline) {
		const ks_message_t *msgs;
		int n = ks_consumer_poll(c, 100, &msgs);
		ck_assert_int_ge(n, 0);
		got += n;
	}
	ck_assert_int_eq(got, N0 + N1);
	KT_OK(ks_consumer_commit(c, NULL, 0, 0));

	m = store_snapshot(st);
	ck_assert(kt_value(m, "kstream_topic_records_out_total", "topic=t") ==
	    N0 + N1);
	ck_assert(kt_value(m, "kstream_topic_bytes_out_total", "topic=t") ==
	    bytes_in);
	/* the consumer's reads: which are timed depends on its thread's calls */
	uint64_t reads_timed = hist_of(m, "kstream_log_read_seconds",
	    "topic=t")->count;
	ck_assert(kt_value(m, "kstream_group_state", "group=g,state=Stable") ==
	    1);
	ck_assert(kt_value(m, "kstream_group_members", "group=g") == 1);
	ck_assert(kt_value(m, "kstream_group_rebalances_total", "group=g") ==
	    1);
	ck_assert(kt_value(m, "kstream_group_committed_offset",
	    "group=g,topic=t,partition=0") == N0);
	ck_assert(kt_value(m, "kstream_group_committed_offset",
	    "group=g,topic=t,partition=1") == N1);
	ck_assert(kt_value(m, "kstream_group_lag",
	    "group=g,topic=t,partition=0") == 0);
	/* the offsets topic is counted under its own name */
	ck_assert(kt_value(m, "kstream_topic_records_in_total",
	    "topic=__consumer_offsets") >= 1);
	ks_metrics_free(m);

	/* three more records to partition 0: lag 3 there, 0 on 1 */
	for (int i = 0; i < 3; i++) {
		ks_record_t r = { .value = "x", .value_len = 1 };
		KT_OK(ks_produce(prod, "t", 0, &r, 1, 0, NULL));
	}
	m = store_snapshot(st);
	ck_assert(kt_value(m, "kstream_group_lag",
	    "group=g,topic=t,partition=0") == 3);
	ck_assert(kt_value(m, "kstream_group_lag",
	    "group=g,topic=t,partition=1") == 0);
	ks_metrics_free(m);

	/* leaving empties the group: one more rebalance, no members */
	KT_OK(ks_consumer_close(c));
	m = store_snapshot(st);
	ck_assert(kt_value(m, "kstream_group_state", "group=g,state=Empty") ==
	    1);
	ck_assert_ptr_null(ks_metrics_find(m, "kstream_group_state",
	    "group=g,state=Stable"));
	ck_assert(kt_value(m, "kstream_group_members", "group=g") == 0);
	ck_assert(kt_value(m, "kstream_group_rebalances_total", "group=g") ==
	    2);
	ck_assert(kt_value(m, "kstream_group_committed_offset",
	    "group=g,topic=t,partition=0") == N0);
	ks_metrics_free(m);

	/* an iterator counts the records it returns and the batches it
	 * walked; a reader thread's first ks_log_read call is timed */
	ks_topic_t *t;
	ks_log_t *log1;
	ks_log_stat_t ls1;
	KT_OK(ks_topic_open(st, "t", &t));
	KT_OK(ks_topic_partition(t, 1, &log1));
	KT_OK(ks_log_stat(log1, &ls1));
	ks_log_iter_t *it;
	ks_record_t rec;
	KT_OK(ks_log_iter_new(log1, 0, &it));
	int n = 0;
	while (ks_log_iter_next(it, &rec) == 1)
		n++;
	ck_assert_int_eq(n, N1);
	ks_log_iter_free(it);
	struct reader rd = { log1, 16 };
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, read_thread, &rd), 0);
	pthread_join(th, NULL);
	KT_OK(ks_log_flush(log1, -1));
	KT_OK(ks_log_stat(log1, &ls1));
	m = store_snapshot(st);
	double out = kt_value(m, "kstream_topic_records_out_total", "topic=t");
	ck_assert_msg(out == N0 + N1 + N1 + 16 * N1, "records out %g", out);
	out = kt_value(m, "kstream_topic_bytes_out_total", "topic=t");
	ck_assert_msg(out == bytes_in + 17 * (double)ls1.size_bytes,
	    "bytes out %g", out);
	ck_assert_uint_eq(hist_of(m, "kstream_log_read_seconds",
	    "topic=t")->count, reads_timed + 1);
	/* flushes: as many as the logs' fdatasync rounds, each timed */
	KT_OK(ks_log_stat(log1, &ls1));
	ks_log_t *log0;
	ks_log_stat_t ls0;
	KT_OK(ks_topic_partition(t, 0, &log0));
	KT_OK(ks_log_stat(log0, &ls0));
	ck_assert_uint_ge(ls1.fsyncs, 1);
	ck_assert(kt_value(m, "kstream_log_flushes_total", "topic=t") ==
	    ls0.fsyncs + ls1.fsyncs);
	ck_assert_uint_eq(hist_of(m, "kstream_log_flush_seconds",
	    "topic=t")->count, ls0.fsyncs + ls1.fsyncs);
	ks_topic_release(t);

	/* the whole snapshot prints and parses back */
	char *text;
	size_t len;
	ks_metrics_free(reparsed(m));
	KT_OK(ks_metrics_format(m, KS_METRICS_JSON, &text, &len));
	ck_assert(json_valid(text));
	free(text);
	ks_metrics_free(m);

	ks_producer_free(prod);
	KT_OK(ks_store_close(st));
	/* a closed store has no metrics to give */
	free(dir);
}
END_TEST

/* A local consumer that takes a few records per poll reads each view
 * again from where it stopped: every record still counts once. */
START_TEST(consumer_counts_once)
{
	char *dir;
	ks_store_t *st = store_with_topic("once", "o", 0, &dir);
	ks_producer_t *prod;
	KT_OK(ks_producer_new(st, NULL, &prod));
	ks_record_t recs[10];
	memset(recs, 0, sizeof recs);
	for (int i = 0; i < 10; i++) {
		recs[i].value = "0123456789";
		recs[i].value_len = (size_t)i + 1;
	}
	/* 30 batches of 10 records, then 7 single ones */
	for (int i = 0; i < 30; i++)
		KT_OK(ks_produce(prod, "o", 0, recs, 10, 0, NULL));
	for (int i = 0; i < 7; i++)
		KT_OK(ks_produce(prod, "o", 0, recs, 1, 0, NULL));

	ks_consumer_config_t cc;
	ks_consumer_t *c;
	ks_consumer_config_init(&cc);
	cc.max_poll_records = 7; /* stops within batches */
	KT_OK(ks_consumer_new(st, &cc, &c));
	ks_topic_partition_t tp = { "o", 0, KS_OFFSET_BEGINNING };
	KT_OK(ks_consumer_assign(c, &tp, 1));
	int got = 0, polls = 0;
	while (got < 307 && polls++ < 1000) {
		const ks_message_t *msgs;
		int n = ks_consumer_poll(c, 100, &msgs);
		ck_assert_int_ge(n, 0);
		got += n;
	}
	ck_assert_int_eq(got, 307);
	ks_metrics_t *m = store_snapshot(st);
	ck_assert(kt_value(m, "kstream_topic_records_out_total", "topic=o") ==
	    307);
	ck_assert(kt_value(m, "kstream_topic_bytes_out_total", "topic=o") ==
	    kt_value(m, "kstream_topic_bytes_in_total", "topic=o"));
	ks_metrics_free(m);
	KT_OK(ks_consumer_close(c));
	ks_producer_free(prod);
	KT_OK(ks_store_close(st));
	free(dir);
}
END_TEST

/* ---- the stats callback ---------------------------------------------------- */

struct stats_seen {
	pthread_mutex_t mu;
	int calls;
	int had_topic;
	int closed;       /* set once ks_store_close returned */
	int after_close;  /* calls that came after */
};

static void stats_cb(void *opaque, const ks_metrics_t *m)
{
	struct stats_seen *s = opaque;
	pthread_mutex_lock(&s->mu);
	s->calls++;
	if (ks_metrics_find(m, "kstream_partition_end_offset",
	    "topic=s,partition=0"))
		s->had_topic++;
	if (s->closed)
		s->after_close++;
	pthread_mutex_unlock(&s->mu);
}

START_TEST(stats_callback)
{
	char *dir = kt_fresh_path(g_base, "stats");
	struct stats_seen seen = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0 };
	ks_store_config_t cfg;
	ks_store_t *st;

	ks_store_config_init(&cfg);
	cfg.flags = KS_STORE_CREATE;
	cfg.stats_cb = stats_cb;
	cfg.stats_opaque = &seen;
	cfg.stats_interval_ms = -1;
	ck_assert_int_eq(ks_store_open(dir, &cfg, &st), KS_ECONFIG);
	cfg.stats_interval_ms = 50;
	KT_OK(ks_store_open(dir, &cfg, &st));
	ks_topic_config_t tc;
	ks_topic_config_init(&tc);
	KT_OK(ks_topic_create(st, "s", &tc));

	int64_t deadline = kt_now_ns() + 20 * 1000000000LL;
	int calls = 0, had = 0;
	while ((calls < 2 || had < 1) && kt_now_ns() < deadline) {
		usleep(10000);
		pthread_mutex_lock(&seen.mu);
		calls = seen.calls;
		had = seen.had_topic;
		pthread_mutex_unlock(&seen.mu);
	}
	ck_assert_int_ge(calls, 2);
	ck_assert_int_ge(had, 1);
	KT_OK(ks_store_close(st));
	pthread_mutex_lock(&seen.mu);
	seen.closed = 1;
	calls = seen.calls;
	pthread_mutex_unlock(&seen.mu);
	usleep(200000); /* four intervals */
	pthread_mutex_lock(&seen.mu);
	ck_assert_int_eq(seen.calls, calls);
	ck_assert_int_eq(seen.after_close, 0);
	pthread_mutex_unlock(&seen.mu);

	/* a long interval: close does not wait for it */
	cfg.stats_interval_ms = 3600 * 1000;
	KT_OK(ks_store_open(dir, &cfg, &st));
	int64_t t0 = kt_now_ns();
	KT_OK(ks_store_close(st));
	ck_assert_msg(kt_now_ns() - t0 < 10 * 1000000000LL,
	    "close waited for the interval");
	free(dir);
}
END_TEST

/* ---- a read-only store ------------------------------------------------------ */

START_TEST(read_only_store)
{
	char *dir;
	ks_store_t *w = store_with_topic("rdonly", "a", 0, &dir);
	/* the writer has a coordinator and a group */
	ck_assert_ptr_nonnull(ks_store_coordinator(w));
	ks_offset_commit_t oc[2] = {
		{ .topic = "a", .partition = 0, .offset = 0, .leader_epoch = -1 },
		{ .topic = "zz", .partition = 3, .offset = 9, .leader_epoch = -1 },
	};
	KT_OK(ks_group_commit(ks_store_coordinator(w), "g", -1, "", NULL,
	    oc, 2, 0));

	ks_store_t *r = open_store(dir, KS_STORE_RDONLY);
	/* created after the reader opened: a snapshot still sees it */
	ks_topic_config_t tc;
	ks_topic_config_init(&tc);
	KT_OK(ks_topic_create(w, "b", &tc));
	ks_producer_t *prod;
	KT_OK(ks_producer_new(w, NULL, &prod));
	ks_record_t rec = { .value = "x", .value_len = 1 };
	for (int i = 0; i < 5; i++)
		KT_OK(ks_produce(prod, "b", 0, &rec, 1, 0, NULL));

	ks_metrics_t *m = store_snapshot(r);
	ck_assert(kt_value(m, "kstream_partition_end_offset",
	    "topic=b,partition=0") == 5);
	ck_assert(kt_value(m, "kstream_partition_end_offset",
	    "topic=a,partition=0") == 0);
	/* what this handle counted: it appended nothing */
	ck_assert(kt_value(m, "kstream_topic_records_in_total", "topic=b") ==
	    0);
	ck_assert_ptr_null(ks_metrics_find(m, "kstream_group_state", NULL));
	ck_assert_ptr_null(ks_metrics_find(m, "kstream_group_members", NULL));
	ks_metrics_free(m);
	/* and it follows the writer's appends to a topic it knew */
	for (int i = 0; i < 2; i++)
		KT_OK(ks_produce(prod, "a", 0, &rec, 1, 0, NULL));
	m = store_snapshot(r);
	ck_assert(kt_value(m, "kstream_partition_end_offset",
	    "topic=a,partition=0") == 2);
	ks_metrics_free(m);

	m = store_snapshot(w);
	ck_assert(kt_value(m, "kstream_topic_records_in_total", "topic=b") ==
	    5);
	ck_assert(kt_value(m, "kstream_group_state", "group=g,state=Empty") ==
	    1);
	ck_assert(kt_value(m, "kstream_group_lag",
	    "group=g,topic=a,partition=0") == 2);
	/* a topic that is not there: its offset, no lag */
	ck_assert(kt_value(m, "kstream_group_committed_offset",
	    "group=g,topic=zz,partition=3") == 9);
	ck_assert_ptr_null(ks_metrics_find(m, "kstream_group_lag",
	    "topic=zz"));
	ks_metrics_free(m);

	ks_metrics_t *e;
	KT_OK(ks_metrics_new(&e));
	ck_assert_int_eq(ks_store_metrics(NULL, e), KS_EINVAL);
	ck_assert_int_eq(ks_store_metrics(r, NULL), KS_EINVAL);
	ks_metrics_free(e);

	ks_producer_free(prod);
	KT_OK(ks_store_close(r));
	KT_OK(ks_store_close(w));
	free(dir);
}
END_TEST

Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("snapshots");
	tcase_add_test(tc, prometheus_round_trip);
	tcase_add_test(tc, json_format);
	tcase_add_test(tc, parse_exporter_text);
	tcase_add_test(tc, parse_malformed);
	tcase_add_test(tc, parse_mutations);
	tcase_add_test(tc, add_and_find);
	suite_add_tcase(s, tc);

	tc = tcase_create("store");
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, store_counts);
	tcase_add_test(tc, consumer_counts_once);
	tcase_add_test(tc, stats_callback);
	tcase_add_test(tc, read_only_store);
	suite_add_tcase(s, tc);
	return s;
}
