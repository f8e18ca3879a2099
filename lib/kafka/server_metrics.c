/*
 * server_metrics.c: what the Kafka server counts (requests, their latency
 * and the errors answered, per API), ks_kafka_server_metrics(), the stats
 * callback's timer and the HTTP endpoint that serves the snapshot
 * (libevent's evhttp on the server's own loop).
 *
 * Counting is relaxed atomics in the hub's ks__kmetrics (see
 * server_impl.h); the latency of a request is measured from its decoding
 * to its answer being queued on the connection, for held requests too.
 */
#include "kafka/server_impl.h"
#include "transport/transport_impl.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

/* ---- counting -------------------------------------------------------------- */

void ks__kmetrics_error(struct ks__khub *hub, int16_t api, int code)
{
	if (code == 0 || api < 0 || api >= KS__KM_APIS)
		return;
	/* codes we have no slot for: UNKNOWN_SERVER_ERROR, which is also
	 * the name ks_kafka_error_name() gives them */
	if (code < -1 || code >= KS__KM_ERRS - 1)
		code = -1;
	ks__count(&hub->km.errors[api][code + 1], 1);
}

void ks__kmetrics_resp(struct ks__khub *hub, int16_t api, const void *msg)
{
	int32_t i, j;

#define ERR(c) ks__kmetrics_error(hub, api, (c))
	/* the error code of each element of an array that may be NULL */
#define ERR_EACH(a, n)							\
	for (i = 0; (a) && i < (n); i++)				\
		ERR((a)[i].error_code)
	/* every partition's error code in a topics[].partitions[] answer */
#define ERR_PARTITIONS(m)						\
	for (j = 0; (m)->topics && j < (m)->n_topics; j++)		\
		ERR_EACH((m)->topics[j].partitions,			\
		    (m)->topics[j].n_partitions)
	switch (api) {
	case KP_PRODUCE:
		ERR_PARTITIONS((const kp_produce_resp_t *)msg);
		break;
	case KP_FETCH: {
		const kp_fetch_resp_t *m = msg;
		ERR(m->error_code);
		ERR_PARTITIONS(m);
		break;
	}
	case KP_LIST_OFFSETS:
		ERR_PARTITIONS((const kp_list_offsets_resp_t *)msg);
		break;
	case KP_METADATA: {
		const kp_metadata_resp_t *m = msg;
		ERR_EACH(m->topics, m->n_topics);
		ERR_PARTITIONS(m);
		break;
	}
	case KP_OFFSET_COMMIT:
		ERR_PARTITIONS((const kp_offset_commit_resp_t *)msg);
		break;
	case KP_OFFSET_FETCH: {
		const kp_offset_fetch_resp_t *m = msg;
		ERR(m->error_code);
		ERR_PARTITIONS(m);
		break;
	}
	case KP_FIND_COORDINATOR:
		ERR(((const kp_find_coordinator_resp_t *)msg)->error_code);
		break;
	case KP_JOIN_GROUP:
		ERR(((const kp_join_group_resp_t *)msg)->error_code);
		break;
	case KP_HEARTBEAT:
		ERR(((const kp_heartbeat_resp_t *)msg)->error_code);
		break;
	case KP_SYNC_GROUP:
		ERR(((const kp_sync_group_resp_t *)msg)->error_code);
		break;
	case KP_LEAVE_GROUP: {
		const kp_leave_group_resp_t *m = msg;
		ERR(m->error_code);
		ERR_EACH(m->members, m->n_members);
		break;
	}
	case KP_DESCRIBE_GROUPS: {
		const kp_describe_groups_resp_t *m = msg;
		ERR_EACH(m->groups, m->n_groups);
		break;
	}
	case KP_LIST_GROUPS:
		ERR(((const kp_list_groups_resp_t *)msg)->error_code);
		break;
	case KP_API_VERSIONS:
		ERR(((const kp_api_versions_resp_t *)msg)->error_code);
		break;
	case KP_CREATE_TOPICS: {
		const kp_create_topics_resp_t *m = msg;
		ERR_EACH(m->topics, m->n_topics);
		break;
	}
	case KP_DELETE_TOPICS: {
		const kp_delete_topics_resp_t *m = msg;
		ERR_EACH(m->topics, m->n_topics);
		break;
	}
	case KP_OFFSET_FOR_LEADER_EPOCH: {
		const kp_offset_for_leader_epoch_resp_t *m = msg;
		ERR_PARTITIONS(m);
		break;
	}
	default:
		/* the admin APIs (server_admin.c) count theirs with
		 * ks__kmetrics_error as they set them */
		break;
	}
#undef ERR_PARTITIONS
#undef ERR_EACH
#undef ERR
}

void ks__kmetrics_request(struct ks__kconn *kc, int16_t api)
{
	struct ks__kmetrics *km = &kc->srv->hub->km;

	kc->req_api = api;
	kc->req_t0 = ks__monotonic_ns();
	if (api >= 0 && api < KS__KM_APIS)
		ks__count1(&km->requests[api], 1); /* the loop only */
}

void ks__kmetrics_answered(struct ks__kconn *kc)
{
	int64_t d;

	if (!kc->req_t0)
		return;
	d = ks__monotonic_ns() - kc->req_t0;
	kc->req_t0 = 0;
	if (kc->req_api >= 0 && kc->req_api < KS__KM_APIS)
		ks__hist_add1(&kc->srv->hub->km.latency[kc->req_api],
		    d > 0 ? (uint64_t)d : 0);
}

void ks__kmetrics_bad(ks_kafka_server_t *srv)
{
	ks__count1(&srv->hub->km.bad_requests, 1);
}

/* ---- the snapshot ------------------------------------------------------------ */

static int add_value(ks_metrics_t *m, const char *name, const char *help,
    int type, uint64_t v, int nlabels, const char *const *labels)
{
	return ks__metrics_value(m, name, help, type, (double)v, nlabels,
	    labels);
}

int ks_kafka_server_metrics(ks_kafka_server_t *srv, ks_metrics_t *m)
{
	struct ks__kmetrics *km;
	ks__net_stats_t st;
	ks__hist_t h;
	size_t i, n;
	int rc = 0, c;

	if (!srv || !m)
		return KS_EINVAL;
	km = &srv->hub->km;
	ks__net_stats(srv->net, &st);
	rc = add_value(m, "kstream_net_connections", "Client connections "
	    "open now", KS_METRIC_GAUGE, st.open, 0, NULL);
	if (!rc)
		rc = add_value(m, "kstream_net_connections_accepted_total",
		    "Client connections accepted", KS_METRIC_COUNTER,
		    st.accepted, 0, NULL);
	if (!rc)
		rc = add_value(m, "kstream_net_connections_closed_total",
		    "Client connections closed", KS_METRIC_COUNTER, st.closed,
		    0, NULL);
	if (!rc)
		rc = add_value(m, "kstream_net_bytes_received_total",
		    "Bytes read from clients", KS_METRIC_COUNTER, st.bytes_in,
		    0, NULL);
	if (!rc)
		rc = add_value(m, "kstream_net_bytes_sent_total",
		    "Bytes written to clients", KS_METRIC_COUNTER,
		    st.bytes_out, 0, NULL);
	if (!rc)
		rc = add_value(m, "kstream_kafka_bad_requests_total",
		    "Connections closed for a malformed, unknown or "
		    "unsupported request", KS_METRIC_COUNTER,
		    ks__count_get(&km->bad_requests), 0, NULL);

	/* every API served, even at zero: rates need the series to exist */
	n = kp_api_count();
	for (i = 0; !rc && i < n; i++) {
		const kp_api_t *a = &kp_apis[i];
		const char *l[2] = { "api", a->name };

		if (a->key < 0 || a->key >= KS__KM_APIS)
			continue;
		rc = add_value(m, "kstream_kafka_requests_total",
		    "Kafka requests received, per API", KS_METRIC_COUNTER,
		    ks__count_get(&km->requests[a->key]), 1, l);
	}
	for (i = 0; !rc && i < n; i++) {
		const kp_api_t *a = &kp_apis[i];
		const char *l[2] = { "api", a->name };

		if (a->key < 0 || a->key >= KS__KM_APIS ||
		    !ks__count_get(&km->requests[a->key]))
			continue;
		ks__hist_read(&km->latency[a->key], &h);
		rc = ks__metrics_hist(m, "kstream_kafka_request_seconds",
		    "Time from a request's arrival to its answer being queued",
		    &h, 1, l);
	}
	for (i = 0; !rc && i < n; i++) {
		const kp_api_t *a = &kp_apis[i];

		if (a->key < 0 || a->key >= KS__KM_APIS)
			continue;
		for (c = 0; !rc && c < KS__KM_ERRS; c++) {
			uint64_t v = ks__count_get(&km->errors[a->key][c]);
			const char *l[4] = { "api", a->name, "error",
				ks_kafka_error_name(c - 1) };

			if (v)
				rc = add_value(m,
				    "kstream_kafka_request_errors_total",
				    "Error codes answered (top level, per "
				    "topic, partition, group or member)",
				    KS_METRIC_COUNTER, v, 2, l);
		}
	}
	if (rc)
		return rc;
	return ks_store_metrics(srv->store, m);
}

/* ---- the stats callback ------------------------------------------------------- */

static int stats_ms(const ks_kafka_server_t *srv)
{
	return srv->cfg.stats_interval_ms > INT32_MAX ? INT32_MAX :
	    (int)srv->cfg.stats_interval_ms;
}

static void stats_fire(void *arg)
{
	ks_kafka_server_t *srv = arg;
	ks_metrics_t *m = NULL;
	int rc;

	rc = ks_metrics_new(&m);
	if (!rc)
		rc = ks_kafka_server_metrics(srv, m);
	if (!rc)
		srv->cfg.stats_cb(srv->cfg.stats_opaque, m);
	else
		KS__KLOG(srv, KS_LOG_WARNING, "kafka server: no statistics "
		    "this time: %s", ks_strerror(rc));
	ks_metrics_free(m);
	ks_timer_arm(srv->stats_timer, stats_ms(srv));
}

/* ---- the HTTP endpoint -------------------------------------------------------- */

static void reply_text(struct evhttp_request *req, int code,
    const char *reason, const char *body)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);

	evhttp_add_header(oh, "Content-Type", "text/plain; charset=utf-8");
	evbuffer_add_printf(evhttp_request_get_output_buffer(req), "%s\n",
	    body);
	evhttp_send_reply(req, code, reason, NULL);
}

static void free_text(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

/* GET (or HEAD) on the configured path: the snapshot; ?format=json for
 * JSON. Everything else is answered with an error status. */
static void http_cb(struct evhttp_request *req, void *arg)
{
	ks_kafka_server_t *srv = arg;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	const char *query = u ? evhttp_uri_get_query(u) : NULL, *f;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req), q;
	int format = KS_METRICS_PROMETHEUS, rc;
	ks_metrics_t *m = NULL;
	char *text = NULL;
	size_t len = 0;

	if (!path || strcmp(path, srv->http_path) != 0) {
		reply_text(req, HTTP_NOTFOUND, "Not Found", "not found");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(oh, "Allow", "GET, HEAD");
		reply_text(req, 405, "Method Not Allowed", "use GET");
		return;
	}
	if (query && *query) {
		/* evhttp_parse_query_str initialises q */
		memset(&q, 0, sizeof q);
		if (evhttp_parse_query_str(query, &q) != 0) {
			reply_text(req, HTTP_BADREQUEST, "Bad Request",
			    "malformed query");
			return;
		}
		f = evhttp_find_header(&q, "format");
		if (f && !strcmp(f, "json"))
			format = KS_METRICS_JSON;
		else if (f && strcmp(f, "prometheus") && strcmp(f, "text"))
			format = -1;
		evhttp_clear_headers(&q);
		if (format < 0) {
			reply_text(req, HTTP_BADREQUEST, "Bad Request",
			    "format: json or prometheus");
			return;
		}
	}
	rc = ks_metrics_new(&m);
	if (!rc)
		rc = ks_kafka_server_metrics(srv, m);
	if (!rc)
		rc = ks_metrics_format(m, format, &text, &len);
	ks_metrics_free(m);
	if (rc) {
		KS__KLOG(srv, KS_LOG_WARNING, "kafka server: metrics: %s",
		    ks_strerror(rc));
		reply_text(req, HTTP_INTERNAL, "Internal Server Error",
		    ks_strerror(rc));
		return;
	}
	if (evbuffer_add_reference(evhttp_request_get_output_buffer(req),
	    text, len, free_text, NULL) != 0) {
		free(text);
		reply_text(req, HTTP_INTERNAL, "Internal Server Error",
		    "out of memory");
		return;
	}
	evhttp_add_header(oh, "Content-Type", format == KS_METRICS_JSON ?
	    "application/json" : "text/plain; version=0.0.4; charset=utf-8");
	evhttp_add_header(oh, "Cache-Control", "no-store");
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

/*
 * "http://host[:port][/path]", host a name, an IPv4 address or an IPv6
 * one in brackets; no query or fragment. No path: /metrics.
 */
static int parse_http_url(const char *url, char *host, size_t hlen,
    int *port, char *path, size_t plen)
{
	const char *p, *h, *he, *q;
	long v = 0;

	if (strncmp(url, "http://", 7) != 0)
		return KS_EINVAL;
	p = url + 7;
	if (*p == '[') {
		h = p + 1;
		if (!(he = strchr(h, ']')))
			return KS_EINVAL;
		p = he + 1;
	} else {
		h = p;
		p += strcspn(p, ":/?#");
		he = p;
	}
	if (he == h || (size_t)(he - h) >= hlen)
		return KS_EINVAL;
	for (q = h; q < he; q++)
		if (!(*q >= 'a' && *q <= 'z') && !(*q >= 'A' && *q <= 'Z') &&
		    !(*q >= '0' && *q <= '9') && *q != '.' && *q != '-' &&
		    !(*q == ':' && h != url + 7))
			return KS_EINVAL;
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	*port = 80;
	if (*p == ':') {
		for (q = ++p; *q >= '0' && *q <= '9' && q - p < 6; q++)
			v = v * 10 + (*q - '0');
		if (q == p || q - p > 5 || v > 65535)
			return KS_EINVAL;
		*port = (int)v;
		p = q;
	}
	if (!*p)
		p = "/metrics";
	if (*p != '/' || strlen(p) >= plen)
		return KS_EINVAL;
	for (q = p; *q; q++)
		if (*q <= ' ' || *q >= 127 || *q == '?' || *q == '#')
			return KS_EINVAL;
	memcpy(path, p, strlen(p) + 1);
	return 0;
}

struct http_listen {
	ks_kafka_server_t *srv;
	char host[256];
	char path[256];
	int port;
	int rc;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

/* The port a listening socket got. */
static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t slen = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &slen) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

static int http_start(struct http_listen *hl)
{
	ks_kafka_server_t *srv = hl->srv;
	struct evhttp_bound_socket *bs;
	struct evhttp *http;
	int port;

	if (srv->http)
		return KS_EBUSY;
	if (!(http = evhttp_new(ks__net_base(srv->net))))
		return KS_ENOMEM;
	/* Every method reaches http_cb, which answers 405 itself. */
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	/* A scraper sends small requests; slow or big ones are cut off. */
	evhttp_set_timeout(http, 30);
	evhttp_set_max_headers_size(http, 16384);
	evhttp_set_max_body_size(http, 16384);
	evhttp_set_gencb(http, http_cb, srv);
	errno = 0;
	bs = evhttp_bind_socket_with_handle(http, hl->host,
	    (ev_uint16_t)hl->port);
	if (!bs) {
		int e = errno;
		evhttp_free(http);
		return e ? -e : KS_EINVAL;
	}
	port = bound_port(evhttp_bound_socket_get_fd(bs));
	srv->http = http;
	memcpy(srv->http_path, hl->path, sizeof srv->http_path);
	pthread_mutex_lock(&srv->mu);
	snprintf(srv->http_url, sizeof srv->http_url, "http://%s%s%s:%d%s",
	    strchr(hl->host, ':') ? "[" : "", hl->host,
	    strchr(hl->host, ':') ? "]" : "", port >= 0 ? port : hl->port,
	    hl->path);
	pthread_mutex_unlock(&srv->mu);
	return 0;
}

static void http_start_on_loop(void *arg)
{
	struct http_listen *hl = arg;

	hl->rc = http_start(hl);
	pthread_mutex_lock(&hl->mu);
	hl->done = 1;
	pthread_cond_signal(&hl->cv);
	pthread_mutex_unlock(&hl->mu);
}

int ks_kafka_server_metrics_listen(ks_kafka_server_t *srv, const char *url)
{
	struct http_listen hl;
	int rc;

	if (!srv || !url)
		return KS_EINVAL;
	memset(&hl, 0, sizeof hl);
	if (parse_http_url(url, hl.host, sizeof hl.host, &hl.port, hl.path,
	    sizeof hl.path) != 0)
		return KS_EINVAL;
	hl.srv = srv;
	pthread_mutex_init(&hl.mu, NULL);
	pthread_cond_init(&hl.cv, NULL);
	/* evhttp is not thread-safe: it is made and used on the loop */
	rc = ks_net_call(srv->net, http_start_on_loop, &hl);
	if (rc == 0) {
		pthread_mutex_lock(&hl.mu);
		while (!hl.done)
			pthread_cond_wait(&hl.cv, &hl.mu);
		pthread_mutex_unlock(&hl.mu);
		rc = hl.rc;
	}
	pthread_cond_destroy(&hl.cv);
	pthread_mutex_destroy(&hl.mu);
	return rc;
}

int ks_kafka_server_metrics_url(ks_kafka_server_t *srv, char *buf,
    size_t len)
{
	int rc, n;

	if (!srv || !buf || !len)
		return KS_EINVAL;
	pthread_mutex_lock(&srv->mu);
	if (!srv->http_url[0]) {
		rc = KS_EINVAL;
	} else {
		n = snprintf(buf, len, "%s", srv->http_url);
		rc = n < 0 || (size_t)n >= len ? KS_EINVAL : 0;
	}
	pthread_mutex_unlock(&srv->mu);
	return rc;
}

/* ---- start and stop (loop thread) ------------------------------------------------ */

void ks__kmetrics_start(ks_kafka_server_t *srv)
{
	if (!srv->cfg.stats_cb || srv->cfg.stats_interval_ms <= 0)
		return;
	if (ks_timer_new(srv->net, stats_fire, srv, &srv->stats_timer) != 0) {
		KS__KLOG(srv, KS_LOG_ERR, "kafka server: out of memory: no "
		    "stats callback");
		return;
	}
	ks_timer_arm(srv->stats_timer, stats_ms(srv));
}

void ks__kmetrics_stop(ks_kafka_server_t *srv)
{
	ks_timer_free(srv->stats_timer);
	srv->stats_timer = NULL;
	if (srv->http) {
		evhttp_free(srv->http); /* its connections too */
		srv->http = NULL;
	}
	pthread_mutex_lock(&srv->mu);
	srv->http_url[0] = '\0';
	pthread_mutex_unlock(&srv->mu);
}
