/*
 * stats.c: kstream stats, a store's metrics (ks_store_metrics) or a
 * broker's, fetched from its HTTP endpoint (kstream-broker --metrics,
 * ks_kafka_server_metrics_listen) with a small blocking HTTP/1.0 GET and
 * read back with ks_metrics_parse. Printed as a table, in Prometheus's
 * text format or as JSON, once or every --interval seconds (the table
 * then shows counters as rates per second over the interval).
 */
#define _GNU_SOURCE
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
	OPT_METRICS = KST_OPT_FIRST_FREE,
	OPT_FORMAT,
	OPT_FILTER,
	OPT_INTERVAL,
	OPT_COUNT,
};

static const struct option longopts[] = {
	KST_TARGET_LONGOPTS,
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "count", required_argument, NULL, OPT_COUNT },
	KST_LONGOPTS_END,
};

#define FMT_TABLE -1 /* beside KS_METRICS_PROMETHEUS and KS_METRICS_JSON */

/* A response bigger than this is not a metrics page. */
#define MAX_RESPONSE (64 * 1024 * 1024)

static const char usage[] =
    "usage: kstream stats --store DIR [options]\n"
    "       kstream stats --metrics URL [options]\n\n"
    "Prints a store's metrics, or a broker's from its HTTP endpoint\n"
    "(kstream-broker --metrics URL; Kafka's protocol carries none).\n\n"
    "  --metrics URL        http://HOST:PORT/PATH of a broker's "
    "metrics\n"
    "  --format F           table (default), prometheus or json\n"
    "  --filter TEXT        only metrics whose name contains TEXT\n"
    "  --interval SEC       print again every SEC seconds; the table "
    "then\n"
    "                       shows counters as rates per second\n"
    "  --count N            with --interval: stop after N prints\n"
    "  --timeout MS         --metrics: give up after MS (30000)\n"
    "  --store DIR          a store directory on this machine (opened "
    "read-only\n"
    "                       if a broker holds it: then only what this "
    "process\n"
    "                       sees, such as sizes and offsets)\n";

/* ---- fetching over HTTP ---------------------------------------------------- */

struct http_url {
	char host[256];
	char port[8];
	char path[1024]; /* with the query, if any */
};

static int parse_url(const char *url, struct http_url *u)
{
	const char *p, *h, *he, *q;
	size_t n;

	if (strncmp(url, "http://", 7) != 0)
		return -1;
	p = url + 7;
	if (*p == '[') {
		h = p + 1;
		if (!(he = strchr(h, ']')))
			return -1;
		p = he + 1;
	} else {
		h = p;
		p += strcspn(p, ":/?#");
		he = p;
	}
	n = (size_t)(he - h);
	if (n == 0 || n >= sizeof u->host)
		return -1;
	memcpy(u->host, h, n);
	u->host[n] = '\0';
	for (q = u->host; *q; q++)
		if (*q <= ' ' || *q == '/' || *q == '@')
			return -1;
	snprintf(u->port, sizeof u->port, "80");
	if (*p == ':') {
		int64_t v;
		char digits[8];
		n = strspn(p + 1, "0123456789");
		if (n == 0 || n > 5)
			return -1;
		memcpy(digits, p + 1, n);
		digits[n] = '\0';
		if (kst_parse_int(digits, 1, 65535, &v) != 0)
			return -1;
		snprintf(u->port, sizeof u->port, "%d", (int)v);
		p += 1 + n;
	}
	if (*p == '#')
		return -1;
	if (!*p)
		p = "/metrics";
	else if (*p == '?')
		return -1; /* a query needs a path */
	if (*p != '/' || strlen(p) >= sizeof u->path)
		return -1;
	for (q = p; *q; q++)
		if (*q <= ' ' || *q == 127 || *q == '#')
			return -1;
	snprintf(u->path, sizeof u->path, "%s", p);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for ev until deadline: 0, or -ETIMEDOUT. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = ev };
	int64_t left;
	int r;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/*
 * After a send or recv on the non-blocking fd that moved nothing (n <= 0):
 * 1 to try again (interrupted, or fd became ready for ev before the
 * deadline); else 0 with the error in *err (0 bytes sent: EPIPE).
 */
static int io_again(int fd, ssize_t n, short ev, int64_t deadline, int *err)
{
	int rc;

	*err = n < 0 ? errno : EPIPE;
	if (*err == EINTR)
		return 1;
	if (*err == EAGAIN || *err == EWOULDBLOCK) {
		if ((rc = wait_fd(fd, ev, deadline)) == 0)
			return 1;
		*err = -rc;
	}
	return 0;
}

/* A connected non-blocking socket to u, or -errno. */
static int http_connect(const struct http_url *u, int64_t deadline,
    char *why, size_t wlen)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, rc, err = ECONNREFUSED;
	socklen_t elen;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(u->host, u->port, &hints, &res);
	if (rc != 0) {
		snprintf(why, wlen, "%s: %s", u->host, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			rc = wait_fd(fd, POLLOUT, deadline);
			elen = sizeof err;
			if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
			    &elen) == 0 && err == 0)
				break;
			if (rc)
				err = -rc;
		} else {
			err = errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(why, wlen, "cannot connect to %s port %s: %s",
		    u->host, u->port, strerror(err));
	return fd >= 0 ? fd : -err;
}

/* Finds a header's value in the head (lines ending in \r\n), or NULL. */
static const char *find_header(const char *head, size_t hlen,
    const char *name, size_t *vlen)
{
	const char *p = memchr(head, '\n', hlen), *end = head + hlen, *e;
	size_t n = strlen(name);

	while (p && ++p < end) {
		e = memchr(p, '\n', (size_t)(end - p));
		if (!e)
			e = end;
		if ((size_t)(e - p) > n && strncasecmp(p, name, n) == 0 &&
		    p[n] == ':') {
			p += n + 1;
			while (p < e && (*p == ' ' || *p == '\t'))
				p++;
			*vlen = (size_t)(e - p);
			while (*vlen && (p[*vlen - 1] == '\r' ||
			    p[*vlen - 1] == ' '))
				(*vlen)--;
			return p;
		}
		p = e;
	}
	return NULL;
}

/*
 * GET u's path; the body of a 200 answer in *bodyp (malloc()ed, NUL
 * terminated). On failure a message in why and -1.
 */
static int http_get(const struct http_url *u, int timeout_ms, char **bodyp,
    size_t *blen, char *why, size_t wlen)
{
	int64_t deadline = now_ms() + timeout_ms;
	char *req = NULL, *buf = NULL, *nb;
	const char *hend, *v;
	size_t len = 0, cap = 0, off = 0, reqlen, vlen;
	ssize_t n;
	int fd, rc, err, status, ret = -1;

	fd = http_connect(u, deadline, why, wlen);
	if (fd < 0)
		return -1;
	rc = asprintf(&req, "GET %s HTTP/1.0\r\nHost: %s%s%s:%s\r\n"
	    "User-Agent: kstream-stats\r\nAccept: text/plain\r\n"
	    "Connection: close\r\n\r\n", u->path,
	    strchr(u->host, ':') ? "[" : "", u->host,
	    strchr(u->host, ':') ? "]" : "", u->port);
	if (rc < 0) {
		snprintf(why, wlen, "out of memory");
		goto out;
	}
	reqlen = (size_t)rc;
	while (off < reqlen) {
		n = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (io_again(fd, n, POLLOUT, deadline, &err))
			continue;
		snprintf(why, wlen, "sending the request: %s", strerror(err));
		goto out;
	}
	for (;;) {
		if (cap - len < 65536) {
			if (cap >= MAX_RESPONSE) {
				snprintf(why, wlen, "the answer is over %d "
				    "bytes", MAX_RESPONSE);
				goto out;
			}
			cap = cap ? cap * 2 : 65536;
			if (!(nb = realloc(buf, cap + 1))) {
				snprintf(why, wlen, "out of memory");
				goto out;
			}
			buf = nb;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		if (io_again(fd, n, POLLIN, deadline, &err))
			continue;
		snprintf(why, wlen, "reading the answer: %s", strerror(err));
		goto out;
	}
	if (!buf) {
		snprintf(why, wlen, "empty answer");
		goto out;
	}
	buf[len] = '\0';
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 ||
	    sscanf(buf + 9, "%3d", &status) != 1) {
		snprintf(why, wlen, "not an HTTP answer");
		goto out;
	}
	if (!(hend = strstr(buf, "\r\n\r\n"))) {
		snprintf(why, wlen, "truncated HTTP answer");
		goto out;
	}
	if (status != 200) {
		const char *eol = strstr(buf, "\r\n");
		snprintf(why, wlen, "%.*s", (int)(eol - buf - 9), buf + 9);
		goto out;
	}
	v = find_header(buf, (size_t)(hend - buf), "Transfer-Encoding", &vlen);
	if (v && !(vlen == 8 && strncasecmp(v, "identity", 8) == 0)) {
		snprintf(why, wlen, "unsupported Transfer-Encoding");
		goto out;
	}
	hend += 4;
	*blen = len - (size_t)(hend - buf);
	memmove(buf, hend, *blen + 1);
	*bodyp = buf;
	buf = NULL;
	ret = 0;
out:
	free(req);
	free(buf);
	close(fd);
	return ret;
}

/* ---- printing ------------------------------------------------------------------- */

struct ctx {
	kst_target_t t;
	struct http_url url;
	const char *url_text;
	int format;
	const char *filter;
};

/*
 * Groups are the coordinator's, which a store makes on first use; made
 * here (when groups ever committed, and the store is ours to write) so
 * that their offsets and lag are reported. Never made otherwise: that
 * would create __consumer_offsets in a store that has none.
 */
static void load_groups(ks_store_t *store)
{
	ks_topic_t *t;
	if (ks_topic_open(store, "__consumer_offsets", &t) != 0)
		return;
	ks_topic_release(t);
	(void)ks_store_coordinator(store);
}

/* The current snapshot; prints why it cannot and returns nonzero. */
static int collect(struct ctx *c, ks_metrics_t **mp)
{
	char why[512], *body = NULL;
	size_t len = 0;
	int rc;

	*mp = NULL;
	if (!c->url_text) {
		if ((rc = ks_metrics_new(mp)) != 0 ||
		    (rc = ks_store_metrics(c->t.store, *mp)) != 0) {
			ks_metrics_free(*mp);
			*mp = NULL;
			kst_errk(rc, "%s", c->t.store_dir);
			return rc;
		}
		return 0;
	}
	if (http_get(&c->url, c->t.timeout_ms, &body, &len, why,
	    sizeof why) != 0) {
		kst_err("%s: %s", c->url_text, why);
		return KS_EINVAL;
	}
	rc = ks_metrics_parse(body, len, mp);
	free(body);
	if (rc) {
		kst_errk(rc, "%s: not a metrics page", c->url_text);
		return rc;
	}
	return 0;
}

static int wanted(const struct ctx *c, const ks_metric_t *s)
{
	return !c->filter || strstr(s->name, c->filter);
}

/* The same series (name and labels) in prev, or NULL. */
static const ks_metric_t *same_series(const ks_metrics_t *prev,
    const ks_metric_t *s)
{
	size_t i, n = prev ? ks_metrics_count(prev) : 0;
	int k, l;

	for (i = 0; i < n; i++) {
		const ks_metric_t *p = ks_metrics_at(prev, i);
		if (strcmp(p->name, s->name) || p->nlabels != s->nlabels ||
		    p->type != s->type)
			continue;
		for (k = 0; k < s->nlabels; k++) {
			for (l = 0; l < p->nlabels; l++)
				if (!strcmp(s->labels[k].name,
				    p->labels[l].name) &&
				    !strcmp(s->labels[k].value,
				    p->labels[l].value))
					break;
			if (l == p->nlabels)
				break;
		}
		if (k == s->nlabels)
			return p;
	}
	return NULL;
}

static void labels_text(const ks_metric_t *s, char *buf, size_t len)
{
	size_t off = 0;
	int k, n;

	buf[0] = '\0';
	for (k = 0; k < s->nlabels && off < len; k++) {
		n = snprintf(buf + off, len - off, "%s%s=%s", k ? "," : "",
		    s->labels[k].name, s->labels[k].value);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (!buf[0])
		snprintf(buf, len, "-");
}

static void num_text(double v, int seconds, char *buf, size_t len)
{
	double a = v < 0 ? -v : v;

	if (seconds && v != 0 && a < 1e-3)
		snprintf(buf, len, "%.3gus", v * 1e6);
	else if (seconds && v != 0 && a < 1)
		snprintf(buf, len, "%.3gms", v * 1e3);
	else if (seconds)
		snprintf(buf, len, "%.3gs", v);
	else if (a < 1e15 && v == (double)(int64_t)v)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.6g", v);
}

/*
 * The q-quantile of a histogram's observations (cumulative buckets b over
 * bounds, total count), interpolated inside its bucket as Prometheus's
 * histogram_quantile does; beyond the last bound, that bound. *over is set
 * when the answer is only a lower bound.
 */
static double quantile(double q, const double *bounds, const uint64_t *b,
    int nb, uint64_t count, int *over)
{
	double rank = q * (double)count, lo, prev;
	int i;

	*over = 0;
	for (i = 0; i < nb; i++) {
		if ((double)b[i] >= rank) {
			lo = i ? bounds[i - 1] : 0;
			if (lo > bounds[i])
				lo = 0;
			prev = i ? (double)b[i - 1] : 0;
			if ((double)b[i] <= prev)
				return bounds[i];
			return lo + (bounds[i] - lo) * (rank - prev) /
			    ((double)b[i] - prev);
		}
	}
	*over = 1;
	return nb ? bounds[nb - 1] : 0;
}

/* A histogram's cell: count (or its rate), mean, p50 and p99; with prev,
 * over the observations since prev. */
static void hist_text(const ks_metric_t *s, const ks_metric_t *prev,
    double secs, char *buf, size_t len)
{
	int seconds = kst_ends_with(s->name, "_seconds"), i, over50, over99;
	uint64_t count = s->count, *b = NULL;
	double sum = s->value, p50, p99;
	char mean_t[32], p50_t[32], p99_t[32], cnt_t[48];

	if (prev && prev->nbuckets == s->nbuckets && prev->count <= count) {
		count -= prev->count;
		sum -= prev->value;
		b = malloc((size_t)(s->nbuckets ? s->nbuckets : 1) *
		    sizeof *b);
		for (i = 0; b && i < s->nbuckets; i++)
			b[i] = s->buckets[i] >= prev->buckets[i] ?
			    s->buckets[i] - prev->buckets[i] : 0;
		if (!b)
			prev = NULL;
	}
	if (prev)
		snprintf(cnt_t, sizeof cnt_t, "%.4g/s", (double)count / secs);
	else
		snprintf(cnt_t, sizeof cnt_t, "%" PRIu64, count);
	if (count == 0) {
		snprintf(buf, len, "count=%s", cnt_t);
		free(b);
		return;
	}
	num_text(sum / (double)count, seconds, mean_t, sizeof mean_t);
	p50 = quantile(0.5, s->bounds, b ? b : s->buckets, s->nbuckets, count,
	    &over50);
	p99 = quantile(0.99, s->bounds, b ? b : s->buckets, s->nbuckets,
	    count, &over99);
	num_text(p50, seconds, p50_t, sizeof p50_t);
	num_text(p99, seconds, p99_t, sizeof p99_t);
	snprintf(buf, len, "count=%s mean=%s p50=%s%s p99=%s%s", cnt_t, mean_t,
	    over50 ? ">" : "", p50_t, over99 ? ">" : "", p99_t);
	free(b);
}

/* The table: NAME LABELS VALUE; with prev, counters as rates per second
 * over secs. */
static void print_table(const struct ctx *c, const ks_metrics_t *m,
    const ks_metrics_t *prev, double secs)
{
	size_t i, n = ks_metrics_count(m);
	int wname = 4, wlab = 6;
	char lab[512], val[256];

	for (i = 0; i < n; i++) {
		const ks_metric_t *s = ks_metrics_at(m, i);
		if (!wanted(c, s))
			continue;
		wname = kst_width(wname, s->name);
		labels_text(s, lab, sizeof lab);
		wlab = kst_width(wlab, lab);
	}
	printf("%-*s  %-*s  %s\n", wname, "NAME", wlab, "LABELS",
	    prev ? "VALUE (counters per second)" : "VALUE");
	for (i = 0; i < n; i++) {
		const ks_metric_t *s = ks_metrics_at(m, i), *p;
		if (!wanted(c, s))
			continue;
		p = prev ? same_series(prev, s) : NULL;
		labels_text(s, lab, sizeof lab);
		if (s->type == KS_METRIC_HISTOGRAM) {
			hist_text(s, prev ? p : NULL, secs, val, sizeof val);
		} else if (prev && s->type == KS_METRIC_COUNTER) {
			double d = s->value - (p ? p->value : 0);
			/* a counter that went down was reset: from zero */
			if (d < 0)
				d = s->value;
			snprintf(val, sizeof val, "%.4g/s", d / secs);
		} else {
			num_text(s->value, kst_ends_with(s->name, "_seconds"),
			    val, sizeof val);
		}
		printf("%-*s  %-*s  %s\n", wname, s->name, wlab, lab, val);
	}
}

/* Prometheus or JSON text of the samples --filter lets through. */
static int print_formatted(const struct ctx *c, const ks_metrics_t *m)
{
	ks_metrics_t *f = NULL;
	size_t i, n = ks_metrics_count(m), len = 0;
	char *text = NULL;
	int rc;

	if ((rc = ks_metrics_new(&f)) != 0)
		goto out;
	for (i = 0; i < n && rc == 0; i++)
		if (wanted(c, ks_metrics_at(m, i)))
			rc = ks_metrics_add(f, ks_metrics_at(m, i));
	if (rc == 0)
		rc = ks_metrics_format(f, c->format, &text, &len);
	if (rc == 0) {
		fwrite(text, 1, len, stdout);
		if (len && text[len - 1] != '\n')
			putchar('\n');
	}
out:
	if (rc)
		kst_errk(rc, "formatting the metrics");
	free(text);
	ks_metrics_free(f);
	return rc;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
		.tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int kst_stats(int argc, char **argv)
{
	struct ctx c;
	kst_args_t args = { argc, argv, ":h", longopts, usage, &c.t, 0 };
	ks_metrics_t *m = NULL, *prev = NULL;
	int64_t interval_ms = 0, count = 0, t_prev = 0, t_now, printed = 0;
	int opt, ret = KST_EXIT_USAGE;
	double d;
	char *end;

	memset(&c, 0, sizeof c);
	kst_target_init(&c.t);
	c.format = FMT_TABLE;
	while ((opt = kst_getopt(&args)) != -1) {
		switch (opt) {
		case KST_OPT_EXIT:
			ret = args.status;
			goto out;
		case OPT_METRICS:
			c.url_text = optarg;
			break;
		case OPT_FORMAT:
			if (!strcmp(optarg, "table"))
				c.format = FMT_TABLE;
			else if (!strcmp(optarg, "prometheus"))
				c.format = KS_METRICS_PROMETHEUS;
			else if (!strcmp(optarg, "json"))
				c.format = KS_METRICS_JSON;
			else {
				kst_err("--format: table, prometheus or json, "
				    "not '%s'", optarg);
				goto out;
			}
			break;
		case OPT_FILTER:
			c.filter = optarg;
			break;
		case OPT_INTERVAL:
			errno = 0;
			d = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(d >= 0.001) ||
			    d > 86400 * 365) {
				kst_err("--interval: '%s' is not a number of "
				    "seconds", optarg);
				goto out;
			}
			interval_ms = (int64_t)(d * 1000 + 0.5);
			break;
		case OPT_COUNT:
			if (kst_opt_int("--count", optarg, 1, INT64_MAX,
			        "a number above 0", &count) != 0)
				goto out;
			break;
		}
	}
	if (kst_operands(&args, NULL, NULL, NULL) < 0)
		goto out;
	if (count && !interval_ms) {
		kst_err("--count goes with --interval");
		goto out;
	}
	if (c.url_text) {
		if (c.t.named) {
			kst_err("give --metrics URL or --store DIR, not both");
			goto out;
		}
		if (parse_url(c.url_text, &c.url) != 0) {
			kst_err("--metrics: '%s' is not an "
			    "http://HOST:PORT/PATH URL", c.url_text);
			goto out;
		}
	} else {
		if (c.t.broker && !c.t.store_dir) {
			kst_err("--broker: Kafka's protocol carries no broker "
			    "metrics; use --metrics http://HOST:PORT/metrics "
			    "(kstream-broker --metrics)");
			goto out;
		}
		if (!c.t.store_dir && !c.t.broker) {
			kst_err("no target: give --store DIR or --metrics URL");
			goto out;
		}
		if (kst_target_check(&c.t) != 0)
			goto out;
		if (kst_target_store(&c.t, 0) != 0) {
			ret = KST_EXIT_FAIL;
			goto out;
		}
		load_groups(c.t.store);
	}

	ret = KST_EXIT_OK;
	for (;;) {
		if (collect(&c, &m) != 0) {
			ret = KST_EXIT_FAIL;
			break;
		}
		t_now = now_ms();
		if (c.format == FMT_TABLE) {
			if (interval_ms && prev)
				printf("\n");
			print_table(&c, m, prev, prev ? (double)(t_now >
			    t_prev ? t_now - t_prev : 1) / 1000.0 : 0);
		} else if (print_formatted(&c, m) != 0) {
			ret = KST_EXIT_FAIL;
			break;
		}
		fflush(stdout);
		ks_metrics_free(prev);
		prev = m;
		m = NULL;
		t_prev = t_now;
		if (!interval_ms || (count && ++printed >= count))
			break;
		sleep_ms(interval_ms);
	}
	if (ferror(stdout)) {
		kst_err("writing: %s", strerror(errno));
		ret = KST_EXIT_FAIL;
	}
out:
	ks_metrics_free(m);
	ks_metrics_free(prev);
	kst_target_close(&c.t);
	return ret;
}
