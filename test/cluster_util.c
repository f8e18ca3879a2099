/*
 * cluster_util.c: three kstream-broker processes as one cluster for the
 * fault suite; see cluster_util.h.
 */
#define _GNU_SOURCE
#include "cluster_util.h"

#include "kafka/msg.h"
#include "kafka/proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* kstream-cluster(7)'s fast failure detection, for tests. */
static const char *const fast_sets[] = {
	"broker.session.timeout.ms=1500",
	"broker.heartbeat.interval.ms=250",
	"raft.election.timeout.ms=500",
	"replica.lag.time.max.ms=3000",
	NULL,
};

#define READY_TIMEOUT_MS 30000

static int verbose(void)
{
	return getenv("KT_VERBOSE") != NULL;
}

static void sleep_ms(int ms)
{
	usleep((useconds_t)ms * 1000);
}

int kt_member_of(const struct kt_cluster *c, int32_t id)
{
	ck_assert_msg(id >= 1 && id <= KT_MEMBERS, "no member %d", id);
	return id - 1;
}

int kt_member_live(const struct kt_cluster *c, int i)
{
	return c->m[i].pid > 0 && !c->m[i].paused;
}

const char *kt_member_tail(const struct kt_cluster *c, int i)
{
	static char buf[2048];
	FILE *f = fopen(c->m[i].log, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (!f)
		return "(no log)";
	if (fseek(f, -(long)(sizeof buf - 1), SEEK_END) != 0)
		rewind(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* What member i's log holds from byte off on (malloc'd, NUL-terminated). */
static char *log_since(const struct kt_cluster *c, int i, long off)
{
	FILE *f = fopen(c->m[i].log, "r");
	char *s = NULL;
	size_t len = 0;
	char b[4096];
	size_t n;

	kt_buf_add(&s, &len, "", 0);
	if (!f)
		return s;
	if (fseek(f, off, SEEK_SET) == 0)
		while ((n = fread(b, 1, sizeof b, f)) > 0)
			kt_buf_add(&s, &len, b, n);
	fclose(f);
	return s;
}

/* Member i's own Metadata lists it among the brokers. */
static int registered(const struct kt_cluster *c, int i)
{
	struct kt_meta md;
	int32_t k;

	if (kt_meta(c, i, NULL, &md, 1000) != 0)
		return 0;
	for (k = 0; k < md.nbrokers; k++)
		if (md.brokers[k] == c->m[i].id)
			return 1;
	return 0;
}


/* Starts member i's process; the size its log had before (where to look). */
static long member_spawn(struct kt_cluster *c, int i)
{
	struct kt_member *m = &c->m[i];
	char listen[64], id[16];
	char *argv[64];
	int n = 0, k, in, out;
	long off;

	ck_assert_msg(m->pid == 0, "member %d runs already", m->id);
	snprintf(listen, sizeof listen, "tcp://127.0.0.1:%d", m->kafka_port);
	snprintf(id, sizeof id, "%d", m->id);
	argv[n++] = c->bin;
	argv[n++] = "--dir";
	argv[n++] = m->dir;
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--node-id";
	argv[n++] = id;
	argv[n++] = "--voters";
	argv[n++] = c->voters;
	for (k = 0; fast_sets[k]; k++) {
		argv[n++] = "--set";
		argv[n++] = (char *)fast_sets[k];
	}
	for (k = 0; c->sets && c->sets[k]; k++) {
		ck_assert_int_lt(n, 60);
		argv[n++] = "--set";
		argv[n++] = (char *)c->sets[k];
	}
	argv[n] = NULL;

	off = (long)kt_file_size(m->log);
	if (off < 0)
		off = 0;
	in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	out = open(m->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	ck_assert(in >= 0 && out >= 0);
	m->pid = kt_spawn(argv, in, out, out);
	m->paused = 0;
	close(in);
	close(out);
	if (verbose())
		fprintf(stderr, "member %d: pid %d, kafka %d, raft %d, log %s\n",
		    m->id, (int)m->pid, m->kafka_port, m->raft_port, m->log);
	return off;
}

/*
 * Waits for "cluster member N ready" past byte off of member i's log.
 * Its own Metadata listing it says much the same; after half the wait
 * that is taken too, with a note, so that a missing line is reported
 * without failing every test.
 */
static void member_wait_ready(struct kt_cluster *c, int i, long off)
{
	struct kt_member *m = &c->m[i];
	char ready[64];
	int64_t start = kt_now_ns();
	int64_t deadline = start + (int64_t)READY_TIMEOUT_MS * 1000000;
	int status;

	snprintf(ready, sizeof ready, "cluster member %d ready", m->id);
	for (;;) {
		char *s = log_since(c, i, off);
		int got = strstr(s, ready) != NULL;
		int listening = strstr(s, "listening on") != NULL;

		free(s);
		if (got)
			return;
		if (listening && kt_now_ns() - start >
		    (int64_t)(READY_TIMEOUT_MS / 2) * 1000000 &&
		    registered(c, i)) {
			fprintf(stderr, "note: member %d is in Metadata but "
			    "never said \"%s\"\n", m->id, ready);
			return;
		}
		ck_assert_msg(waitpid(m->pid, &status, WNOHANG) == 0,
		    "member %d exited early (status %#x):\n%s", m->id, status,
		    kt_member_tail(c, i));
		ck_assert_msg(kt_now_ns() < deadline, "member %d never got "
		    "ready in %d ms:\n%s", m->id, READY_TIMEOUT_MS,
		    kt_member_tail(c, i));
		sleep_ms(50);
	}
}

void kt_member_start(struct kt_cluster *c, int i, int wait)
{
	long off = member_spawn(c, i);

	if (wait)
		member_wait_ready(c, i, off);
}

void kt_member_kill(struct kt_cluster *c, int i)
{
	struct kt_member *m = &c->m[i];

	ck_assert_msg(m->pid > 0, "member %d is not running", m->id);
	kill(m->pid, SIGKILL);
	kt_child_wait(m->pid, 10000);
	m->pid = 0;
	m->paused = 0;
}

void kt_member_term(struct kt_cluster *c, int i, int timeout_ms)
{
	struct kt_member *m = &c->m[i];
	int status;

	ck_assert_msg(m->pid > 0, "member %d is not running", m->id);
	kill(m->pid, SIGTERM);
	status = kt_child_wait(m->pid, timeout_ms);
	m->pid = 0;
	m->paused = 0;
	ck_assert_msg(status >= 0 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "member %d did not stop cleanly on "
	    "SIGTERM within %d ms (status %#x):\n%s", m->id, timeout_ms,
	    status, kt_member_tail(c, i));
}

void kt_member_pause(struct kt_cluster *c, int i)
{
	ck_assert(c->m[i].pid > 0);
	ck_assert_int_eq(kill(c->m[i].pid, SIGSTOP), 0);
	c->m[i].paused = 1;
}

void kt_member_resume(struct kt_cluster *c, int i)
{
	ck_assert(c->m[i].pid > 0);
	ck_assert_int_eq(kill(c->m[i].pid, SIGCONT), 0);
	c->m[i].paused = 0;
}

void kt_cluster_start(struct kt_cluster *c, const char *base,
    const char *const *sets)
{
	int ports[KT_MEMBERS * 2], i;
	long off[KT_MEMBERS];
	size_t vl = 0, bl = 0;
	int64_t deadline;

	memset(c, 0, sizeof *c);
	c->base = strdup(base);
	c->bin = kt_program("kstream-broker");
	c->sets = sets;
	kt_free_ports(ports, KT_MEMBERS * 2);
	for (i = 0; i < KT_MEMBERS; i++) {
		struct kt_member *m = &c->m[i];
		char name[32];

		m->id = i + 1;
		m->raft_port = ports[i];
		m->kafka_port = ports[KT_MEMBERS + i];
		snprintf(name, sizeof name, "n%d", m->id);
		m->dir = kt_path(base, name);
		snprintf(name, sizeof name, "n%d.log", m->id);
		m->log = kt_path(base, name);
		vl += (size_t)snprintf(c->voters + vl, sizeof c->voters - vl,
		    "%s%d@127.0.0.1:%d", i ? "," : "", m->id, m->raft_port);
		bl += (size_t)snprintf(c->bootstrap + bl,
		    sizeof c->bootstrap - bl, "%s127.0.0.1:%d", i ? "," : "",
		    m->kafka_port);
	}
	for (i = 0; i < KT_MEMBERS; i++)
		off[i] = member_spawn(c, i);
	for (i = 0; i < KT_MEMBERS; i++)
		member_wait_ready(c, i, off[i]);

	/* formed: every member lists all three */
	deadline = kt_now_ns() + 15 * (int64_t)1000000000;
	for (;;) {
		int all = 1;
		for (i = 0; i < KT_MEMBERS; i++) {
			struct kt_meta md;
			if (kt_meta(c, i, NULL, &md, 2000) != 0 ||
			    md.nbrokers != KT_MEMBERS || md.controller < 0)
				all = 0;
		}
		if (all)
			return;
		ck_assert_msg(kt_now_ns() < deadline, "the cluster never "
		    "formed (three brokers and a controller in every "
		    "member's Metadata); member 1's log:\n%s",
		    kt_member_tail(c, 0));
		sleep_ms(50);
	}
}

void kt_cluster_stop(struct kt_cluster *c)
{
	int i;

	for (i = 0; i < KT_MEMBERS; i++) {
		if (c->m[i].pid > 0) {
			kill(c->m[i].pid, SIGKILL);
			kt_child_wait(c->m[i].pid, 10000);
		}
		free(c->m[i].dir);
		free(c->m[i].log);
	}
	free(c->base);
	free(c->bin);
	memset(c, 0, sizeof *c);
}

/* ---- raw requests -------------------------------------------------------- */

/* A connection to 127.0.0.1:port within timeout_ms, reads and writes
 * bounded by it too; -1 if none. */
static int raw_connect(int port, int timeout_ms)
{
	struct sockaddr_in sa;
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
		.tv_usec = (timeout_ms % 1000) * 1000 };
	struct pollfd pf;
	int fd, one = 1, err = 0;
	socklen_t el = sizeof err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		if (errno != EINPROGRESS)
			goto fail;
		pf.fd = fd;
		pf.events = POLLOUT;
		if (poll(&pf, 1, timeout_ms) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 ||
		    err != 0)
			goto fail;
	}
	if (fcntl(fd, F_SETFL, 0) != 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
fail:
	close(fd);
	return -1;
}

/*
 * All of p[0..len) written (out) or read; -1 on an error or EOF. An
 * interrupted read tries again only before deadline.
 */
static int raw_io(int fd, uint8_t *p, size_t len, int out, int64_t deadline)
{
	while (len) {
		ssize_t n = out ? write(fd, p, len) : read(fd, p, len);
		if (n < 0 && errno == EINTR &&
		    (out || kt_now_ns() < deadline))
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int kt_raw_call(const struct kt_cluster *c, int i, int16_t key, int16_t ver,
    void *req, kp_arena_t *arena, void *resp, int timeout_ms)
{
	kp_req_hdr_t h = { .api_key = key, .api_version = ver,
		.correlation_id = 7 };
	int64_t deadline = kt_now_ns() + (int64_t)timeout_ms * 1000000;
	uint8_t *buf, hdr[4], *frame;
	size_t len;
	int32_t got;
	kp_io_t io;
	int fd, rc = -1;

	if (c->m[i].pid <= 0)
		return -1;
	h.client_id = kp_cstr("kt-cluster");
	kp_writer_init(&io);
	kp_w_frame_begin(&io);
	KT_OK(kp_req_hdr(&io, &h));
	KT_OK(kp_req_body(&io, key, req));
	KT_OK(kp_w_frame_end(&io));
	KT_OK(kp_w_flatten(&io, &buf, &len));
	kp_writer_free(&io);

	fd = raw_connect(c->m[i].kafka_port, timeout_ms);
	if (fd < 0)
		goto out;
	if (raw_io(fd, buf, len, 1, deadline) != 0 ||
	    raw_io(fd, hdr, 4, 0, deadline) != 0)
		goto out;
	len = ntohl(*(uint32_t *)hdr);
	if (len == 0 || len > (64u << 20))
		goto out;
	frame = kp_arena_alloc(arena, len);
	ck_assert_ptr_nonnull(frame);
	if (raw_io(fd, frame, len, 0, deadline) != 0)
		goto out;
	kp_reader_init(&io, frame, len, arena);
	/* a garbled answer is the server's bug: that asserts */
	KT_OK(kp_resp_hdr(&io, key, ver, &got));
	ck_assert_int_eq(got, 7);
	KT_OK(kp_resp_body(&io, key, resp));
	ck_assert_uint_eq(kp_r_left(&io), 0);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

int kt_meta(const struct kt_cluster *c, int i, const char *topic,
    struct kt_meta *out, int timeout_ms)
{
	kp_str_t name = kp_cstr(topic);
	kp_metadata_req_t req = { .n_topics = topic ? 1 : 0,
		.topics = &name, .allow_auto_topic_creation = false };
	kp_metadata_resp_t resp;
	kp_arena_t arena;
	int32_t k, p;
	int rc;

	memset(out, 0, sizeof *out);
	out->controller = -1;
	out->topic_err = -1;
	kp_arena_init(&arena);
	memset(&resp, 0, sizeof resp);
	rc = kt_raw_call(c, i, KP_METADATA, 5, &req, &arena, &resp,
	    timeout_ms);
	if (rc != 0)
		goto out;
	out->controller = resp.controller_id;
	for (k = 0; k < resp.n_brokers && k < KT_MEMBERS * 2; k++)
		out->brokers[out->nbrokers++] = resp.brokers[k].node_id;
	for (k = 0; topic && k < resp.n_topics; k++) {
		kp_metadata_topic_t *t = &resp.topics[k];
		if (!kp_str_eq_c(t->name, topic))
			continue;
		out->topic_err = t->error_code;
		for (p = 0; p < t->n_partitions; p++) {
			kp_metadata_part_t *mp = &t->partitions[p];
			struct kt_part *o;
			int32_t r;
			if (mp->partition < 0 || mp->partition >= KT_MAX_PARTS)
				continue;
			o = &out->parts[mp->partition];
			if (mp->partition + 1 > out->nparts)
				out->nparts = mp->partition + 1;
			o->err = mp->error_code;
			o->leader = mp->leader_id;
			for (r = 0; r < mp->n_replicas &&
			    o->nrep < KT_MEMBERS * 2; r++)
				o->rep[o->nrep++] = mp->replicas[r];
			for (r = 0; r < mp->n_isr &&
			    o->nisr < KT_MEMBERS * 2; r++)
				o->isr[o->nisr++] = mp->isr[r];
		}
	}
out:
	kp_arena_free(&arena);
	return rc;
}

/* ---- waiting ------------------------------------------------------------- */

/* Whether node id is a member that runs and is not paused. */
static int id_live(const struct kt_cluster *c, int32_t id)
{
	return id >= 1 && id <= KT_MEMBERS && kt_member_live(c, id - 1);
}

/* What a wait asks of the cluster; each check uses the fields it needs. */
struct want {
	const char *topic;
	int32_t p, nparts, not_id;
	int min_isr;
};

/*
 * The leader every live member names for w's topic-p (see
 * kt_wait_leader), or -1.
 */
static int32_t agreed_leader(const struct kt_cluster *c,
    const struct want *w)
{
	int32_t leader = -1;
	int i, asked = 0;

	for (i = 0; i < KT_MEMBERS; i++) {
		struct kt_meta md;
		struct kt_part *pp;
		if (!kt_member_live(c, i))
			continue;
		if (kt_meta(c, i, w->topic, &md, 2000) != 0 ||
		    md.topic_err != 0 || w->p >= md.nparts)
			return -1;
		pp = &md.parts[w->p];
		if (pp->err != 0 || pp->leader < 0 ||
		    pp->leader == w->not_id || !id_live(c, pp->leader) ||
		    pp->nisr < w->min_isr || (asked && pp->leader != leader))
			return -1;
		leader = pp->leader;
		asked++;
	}
	return asked ? leader : -1;
}

/* 0 if every partition of w's topic has an agreed leader, else -1. */
static int32_t agreed_topic(const struct kt_cluster *c,
    const struct want *w)
{
	struct want one = *w;

	for (one.p = 0; one.p < w->nparts; one.p++)
		if (agreed_leader(c, &one) < 0)
			return -1;
	return 0;
}

/* 0 if every live member lists exactly the live members, else -1. */
static int32_t agreed_brokers(const struct kt_cluster *c,
    const struct want *w)
{
	int i, j, ok = 1, live = 0;

	for (i = 0; i < KT_MEMBERS; i++)
		live += kt_member_live(c, i);
	for (i = 0; i < KT_MEMBERS && ok; i++) {
		struct kt_meta md;
		if (!kt_member_live(c, i))
			continue;
		if (kt_meta(c, i, NULL, &md, 2000) != 0 ||
		    md.nbrokers != live)
			ok = 0;
		for (j = 0; ok && j < md.nbrokers; j++)
			ok = id_live(c, md.brokers[j]);
	}
	return ok ? 0 : -1;
}

/* The live controller every live member names, or -1. */
static int32_t agreed_controller(const struct kt_cluster *c,
    const struct want *w)
{
	int32_t ctl = -1;
	int i, ok = 1;

	for (i = 0; i < KT_MEMBERS && ok; i++) {
		struct kt_meta md;
		if (!kt_member_live(c, i))
			continue;
		if (kt_meta(c, i, NULL, &md, 2000) != 0 ||
		    !id_live(c, md.controller) ||
		    (ctl >= 0 && md.controller != ctl))
			ok = 0;
		ctl = md.controller;
	}
	return ok && ctl >= 0 ? ctl : -1;
}

/*
 * Asks check every 50 ms until it answers >= 0, and returns that answer,
 * or -1 once timeout_ms has passed.
 */
static int32_t wait_for(const struct kt_cluster *c,
    int32_t (*check)(const struct kt_cluster *, const struct want *),
    const struct want *w, int timeout_ms)
{
	int64_t deadline = kt_now_ns() + (int64_t)timeout_ms * 1000000;

	for (;;) {
		int32_t r = check(c, w);
		if (r >= 0)
			return r;
		if (kt_now_ns() > deadline)
			return -1;
		sleep_ms(50);
	}
}

int32_t kt_wait_leader(const struct kt_cluster *c, const char *topic,
    int32_t p, int32_t not_id, int min_isr, int timeout_ms)
{
	struct want w = { .topic = topic, .p = p, .not_id = not_id,
		.min_isr = min_isr };

	return wait_for(c, agreed_leader, &w, timeout_ms);
}

int kt_wait_topic(const struct kt_cluster *c, const char *topic,
    int32_t nparts, int min_isr, int timeout_ms)
{
	struct want w = { .topic = topic, .nparts = nparts, .not_id = -1,
		.min_isr = min_isr };

	return wait_for(c, agreed_topic, &w, timeout_ms);
}

int kt_wait_brokers(const struct kt_cluster *c, int timeout_ms)
{
	return wait_for(c, agreed_brokers, NULL, timeout_ms);
}

int32_t kt_wait_controller(const struct kt_cluster *c, int timeout_ms)
{
	return wait_for(c, agreed_controller, NULL, timeout_ms);
}

/* ---- librdkafka ---------------------------------------------------------- */

rd_kafka_t *kt_rk_new(const struct kt_cluster *c, rd_kafka_type_t type,
    const char *const *kv,
    void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
    void *opaque)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

#define KT_SET(k, v)                                                         \
	ck_assert_msg(rd_kafka_conf_set(conf, k, v, err, sizeof err) ==      \
	    RD_KAFKA_CONF_OK, "%s=%s: %s", k, v, err)
	KT_SET("bootstrap.servers", c->bootstrap);
	/* dead members are the point here: their refused connections
	 * are not news */
	KT_SET("log_level", verbose() ? "7" : "2");
	KT_SET("topic.metadata.refresh.interval.ms", "1000");
	if (getenv("KT_RK_DEBUG")) /* e.g. msg,protocol,broker */
		KT_SET("debug", getenv("KT_RK_DEBUG"));
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

rd_kafka_resp_err_t kt_create_topic(const struct kt_cluster *c,
    const char *name, int parts, int rf, const char *const *configs,
    int timeout_ms)
{
	rd_kafka_t *rk = kt_rk_new(c, RD_KAFKA_PRODUCER, NULL, NULL, NULL);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *opt;
	rd_kafka_NewTopic_t *nt;
	rd_kafka_event_t *ev;
	const rd_kafka_CreateTopics_result_t *res;
	const rd_kafka_topic_result_t **tr;
	rd_kafka_resp_err_t rc;
	size_t n;
	char err[512];

	nt = rd_kafka_NewTopic_new(name, parts, rf, err, sizeof err);
	ck_assert_msg(nt != NULL, "NewTopic: %s", err);
	for (; configs && configs[0]; configs += 2)
		ck_assert_int_eq(rd_kafka_NewTopic_set_config(nt, configs[0],
		    configs[1]), 0);
	opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	ck_assert_int_eq(rd_kafka_AdminOptions_set_request_timeout(opt,
	    timeout_ms, err, sizeof err), 0);
	ck_assert_int_eq(rd_kafka_AdminOptions_set_operation_timeout(opt,
	    timeout_ms / 2, err, sizeof err), 0);
	rd_kafka_CreateTopics(rk, &nt, 1, opt, q);
	ev = rd_kafka_queue_poll(q, timeout_ms + 10000);
	ck_assert_msg(ev != NULL, "CreateTopics %s: no result", name);
	rc = rd_kafka_event_error(ev);
	if (rc == 0) {
		res = rd_kafka_event_CreateTopics_result(ev);
		ck_assert_ptr_nonnull(res);
		tr = rd_kafka_CreateTopics_result_topics(res, &n);
		ck_assert_uint_eq(n, 1);
		rc = rd_kafka_topic_result_error(tr[0]);
		if (rc && verbose())
			fprintf(stderr, "CreateTopics %s: %s (%s)\n", name,
			    rd_kafka_err2str(rc),
			    rd_kafka_topic_result_error_string(tr[0]) ?
			    rd_kafka_topic_result_error_string(tr[0]) : "");
	} else if (verbose()) {
		fprintf(stderr, "CreateTopics %s: %s\n", name,
		    rd_kafka_event_error_string(ev));
	}
	rd_kafka_event_destroy(ev);
	rd_kafka_AdminOptions_destroy(opt);
	rd_kafka_NewTopic_destroy(nt);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
	return rc;
}

/* ---- the producer thread ------------------------------------------------- */

/* Records handed to librdkafka and not yet reported, at most. */
#define LOAD_WINDOW 5000

static void load_dr(rd_kafka_t *rk, const rd_kafka_message_t *m,
    void *opaque)
{
	struct kt_load *l = opaque;
	int64_t seq = (int64_t)(intptr_t)m->_private;

	(void)rk;
	pthread_mutex_lock(&l->mu);
	if (seq >= 0 && seq < l->cap) {
		if (m->err == 0) {
			l->offset[seq] = m->offset;
			l->part[seq] = m->partition;
			l->acked++;
			if (seq >= l->mark_seq && l->mark_ack_ns == 0)
				l->mark_ack_ns = kt_now_ns();
		} else {
			l->err[seq] = (int16_t)m->err;
			l->failed++;
			l->last_err = (int16_t)m->err;
			l->last_err_part = m->partition;
		}
	}
	pthread_mutex_unlock(&l->mu);
}

static void *load_main(void *arg)
{
	struct kt_load *l = arg;

	for (;;) {
		char k[32], v[32];
		int64_t seq;
		size_t kl, vl;
		rd_kafka_resp_err_t err;

		pthread_mutex_lock(&l->mu);
		seq = l->produced;
		if (l->stop) {
			pthread_mutex_unlock(&l->mu);
			break;
		}
		pthread_mutex_unlock(&l->mu);
		/* all produced (or ahead of the rate): delivery reports still
		 * come through polls */
		if (seq >= l->cap || rd_kafka_outq_len(l->rk) >= LOAD_WINDOW ||
		    (l->rate && seq >= l->rate * (kt_now_ns() - l->t0_ns) /
		    1000000000)) {
			rd_kafka_poll(l->rk, 5);
			continue;
		}
		kl = (size_t)snprintf(k, sizeof k, "k%" PRId64, seq);
		vl = (size_t)snprintf(v, sizeof v, "%" PRId64, seq);
		err = rd_kafka_producev(l->rk, RD_KAFKA_V_TOPIC(l->topic),
		    RD_KAFKA_V_PARTITION(l->partition),
		    RD_KAFKA_V_KEY(k, kl), RD_KAFKA_V_VALUE(v, vl),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_OPAQUE((void *)(intptr_t)seq), RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			rd_kafka_poll(l->rk, 5);
			continue;
		}
		pthread_mutex_lock(&l->mu);
		if (err == 0) {
			l->produced++;
		} else {
			l->refused++;
			l->last_refusal = (int16_t)err;
		}
		pthread_mutex_unlock(&l->mu);
		rd_kafka_poll(l->rk, err ? 10 : 0);
	}
	return NULL;
}

void kt_load_start(struct kt_load *l, const struct kt_cluster *c,
    const char *topic, int32_t partition, int64_t cap,
    const char *const *kv)
{
	const char *base[] = { "acks", "all", "enable.idempotence", "false",
		"retries", "1000000", "retry.backoff.ms", "50",
		"message.timeout.ms", "30000", "linger.ms", "2",
		"max.in.flight.requests.per.connection", "5", NULL };
	const char *all[64];
	int64_t i;
	int n = 0, k;

	memset(l, 0, sizeof *l);
	l->topic = topic;
	l->partition = partition;
	l->cap = cap;
	l->mark_seq = INT64_MAX;
	l->offset = malloc((size_t)cap * sizeof *l->offset);
	l->part = malloc((size_t)cap * sizeof *l->part);
	l->err = calloc((size_t)cap, sizeof *l->err);
	ck_assert(l->offset && l->part && l->err);
	for (i = 0; i < cap; i++) {
		l->offset[i] = -1;
		l->part[i] = -1;
	}
	pthread_mutex_init(&l->mu, NULL);
	/* kv after base: librdkafka keeps the last value set */
	for (k = 0; base[k]; k++)
		all[n++] = base[k];
	for (k = 0; kv && kv[k]; k += 2) {
		ck_assert_msg(kv[k + 1] != NULL, "kv: %s has no value", kv[k]);
		if (strcmp(kv[k], "kt.rate") == 0) { /* ours, not librdkafka's */
			l->rate = atoll(kv[k + 1]);
			continue;
		}
		ck_assert_int_lt(n, 61);
		all[n++] = kv[k];
		all[n++] = kv[k + 1];
	}
	all[n] = NULL;
	l->rk = kt_rk_new(c, RD_KAFKA_PRODUCER, all, load_dr, l);
	l->t0_ns = kt_now_ns();
	ck_assert_int_eq(pthread_create(&l->thread, NULL, load_main, l), 0);
}

int64_t kt_load_acked(struct kt_load *l)
{
	int64_t n;

	pthread_mutex_lock(&l->mu);
	n = l->acked;
	pthread_mutex_unlock(&l->mu);
	return n;
}

void kt_load_wait(struct kt_load *l, int64_t n, int timeout_ms)
{
	int64_t deadline = kt_now_ns() + (int64_t)timeout_ms * 1000000;
	int64_t got;

	while ((got = kt_load_acked(l)) < n) {
		ck_assert_msg(kt_now_ns() < deadline, "only %" PRId64 " of "
		    "%" PRId64 " records acked within %d ms (%" PRId64
		    " failed, the last with %s on partition %d; %" PRId64
		    " refused by producev)", got, n, timeout_ms, l->failed,
		    l->failed ? rd_kafka_err2str(l->last_err) : "-",
		    l->last_err_part, l->refused);
		sleep_ms(10);
	}
}

void kt_load_mark(struct kt_load *l)
{
	pthread_mutex_lock(&l->mu);
	l->mark_seq = l->produced;
	l->mark_ack_ns = 0;
	pthread_mutex_unlock(&l->mu);
}

void kt_load_stop(struct kt_load *l)
{
	pthread_mutex_lock(&l->mu);
	l->stop = 1;
	pthread_mutex_unlock(&l->mu);
	ck_assert_int_eq(pthread_join(l->thread, NULL), 0);
	ck_assert_msg(rd_kafka_flush(l->rk, 60000) == 0, "flush: %d records "
	    "still queued", rd_kafka_outq_len(l->rk));
	rd_kafka_destroy(l->rk);
	l->rk = NULL;
	ck_assert_int_eq(l->acked + l->failed, l->produced);
	if (verbose())
		fprintf(stderr, "load %s: %" PRId64 " produced, %" PRId64
		    " acked, %" PRId64 " failed, %" PRId64 " refused by "
		    "producev\n", l->topic, l->produced, l->acked, l->failed,
		    l->refused);
}

void kt_load_free(struct kt_load *l)
{
	free(l->offset);
	free(l->part);
	free(l->err);
	pthread_mutex_destroy(&l->mu);
	memset(l, 0, sizeof *l);
}

int64_t kt_load_end(const struct kt_load *l, int32_t p)
{
	int64_t end = 0, i;

	for (i = 0; i < l->produced; i++)
		if (l->offset[i] >= 0 && l->part[i] == p &&
		    l->offset[i] + 1 > end)
			end = l->offset[i] + 1;
	return end;
}

/* ---- reading back -------------------------------------------------------- */

static int64_t parse_value(const void *p, size_t len)
{
	char b[32];
	char *e;
	long long v;

	if (len == 0 || len >= sizeof b)
		return -2;
	memcpy(b, p, len);
	b[len] = '\0';
	errno = 0;
	v = strtoll(b, &e, 10);
	if (errno || *e || v < 0)
		return -2;
	return v;
}

void kt_read_back(const struct kt_cluster *c, const char *topic, int32_t p,
    int64_t upto, int64_t *vals, int timeout_ms)
{
	const char *kv[] = { "enable.partition.eof", "true",
		"enable.auto.commit", "false", "auto.offset.reset", "earliest",
		"group.id", "kt-read-back", NULL };
	int64_t deadline = kt_now_ns() + (int64_t)timeout_ms * 1000000;
	int64_t i, next = 0, hw_seen = -1;
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_t *rk;
	char last_err[256] = "";

	for (i = 0; i < upto; i++)
		vals[i] = -1;
	if (upto == 0)
		return;
	rk = kt_rk_new(c, RD_KAFKA_CONSUMER, kv, NULL, NULL);
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, p)->offset =
	    RD_KAFKA_OFFSET_BEGINNING;
	ck_assert_int_eq(rd_kafka_assign(rk, l), 0);
	rd_kafka_topic_partition_list_destroy(l);

	while (next < upto) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);

		ck_assert_msg(kt_now_ns() < deadline, "%s-%d read up to offset "
		    "%" PRId64 " of %" PRId64 " within %d ms (last end of "
		    "partition at %" PRId64 "; last error: %s)", topic, p,
		    next, upto, timeout_ms, hw_seen, last_err);
		if (!m)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			hw_seen = m->offset;
		} else if (m->err) {
			snprintf(last_err, sizeof last_err, "%s",
			    rd_kafka_message_errstr(m));
		} else {
			if (m->offset >= 0 && m->offset < upto)
				vals[m->offset] = parse_value(m->payload,
				    m->len);
			if (m->offset + 1 > next)
				next = m->offset + 1;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}

int64_t kt_check_acked(const struct kt_load *l, int32_t p,
    const int64_t *vals, int64_t upto)
{
	int64_t *owner = calloc((size_t)(upto ? upto : 1), sizeof *owner);
	int64_t seq, off, dups = 0;

	ck_assert_ptr_nonnull(owner);
	for (seq = 0; seq < l->produced; seq++) {
		if (l->offset[seq] < 0 || l->part[seq] != p)
			continue;
		off = l->offset[seq];
		ck_assert_msg(off < upto, "record %" PRId64 " acked at %" PRId64
		    ", past the end %" PRId64, seq, off, upto);
		ck_assert_msg(owner[off] == 0, "records %" PRId64 " and %"
		    PRId64 " were both acknowledged at offset %" PRId64
		    " of partition %d", owner[off] - 1, seq, off, p);
		owner[off] = seq + 1;
		ck_assert_msg(vals[off] == seq, "record %" PRId64 " was "
		    "acknowledged at offset %" PRId64 " of partition %d, "
		    "which holds %s%" PRId64, seq, off, p,
		    vals[off] == -1 ? "nothing: " : vals[off] == -2 ?
		    "a value that is not a number: " : "record ", vals[off]);
	}
	for (off = 0; off < upto; off++) {
		int64_t v = vals[off];
		if (v >= 0 && v < l->produced && l->offset[v] >= 0 &&
		    l->offset[v] != off)
			dups++;
	}
	free(owner);
	return dups;
}

int64_t kt_high_watermark(const struct kt_cluster *c, const char *topic,
    int32_t p)
{
	rd_kafka_t *rk = kt_rk_new(c, RD_KAFKA_PRODUCER, NULL, NULL, NULL);
	int64_t lo = -1, hi = -1;
	rd_kafka_resp_err_t err;
	int tries = 0;

	/* a leader that has just moved answers NOT_LEADER for a moment */
	while ((err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi,
	    5000)) != 0 && ++tries < 10)
		sleep_ms(200);
	ck_assert_msg(err == 0, "watermarks of %s-%d: %s", topic, p,
	    rd_kafka_err2str(err));
	rd_kafka_destroy(rk);
	return hi;
}

/* ---- replicas offline ---------------------------------------------------- */

static ks_log_t *open_replica(const struct kt_cluster *c, int i,
    const char *topic, int32_t p)
{
	char name[300];
	char *path;
	ks_log_config_t cfg;
	ks_log_t *log = NULL;
	int rc;

	snprintf(name, sizeof name, "%s-%d", topic, p);
	path = kt_path(c->m[i].dir, name);
	ks_log_config_init(&cfg);
	cfg.flags = KS_LOG_RDONLY;
	rc = ks_log_open(path, &cfg, &log);
	ck_assert_msg(rc == 0, "member %d's replica %s: %s", c->m[i].id, path,
	    ks_strerror(rc));
	free(path);
	return log;
}

void kt_compare_replicas(const struct kt_cluster *c, int a, int b,
    const char *topic, int32_t p, int64_t hw, int64_t *end_a,
    int64_t *end_b)
{
	ks_log_t *la = open_replica(c, a, topic, p);
	ks_log_t *lb = open_replica(c, b, topic, p);
	ks_log_iter_t *ia, *ib;
	ks_record_t ra, rb;
	int64_t off;
	int ida = c->m[a].id, idb = c->m[b].id;

	*end_a = ks_log_end_offset(la);
	*end_b = ks_log_end_offset(lb);
	ck_assert_msg(ks_log_start_offset(la) == 0 &&
	    ks_log_start_offset(lb) == 0, "replicas start at %" PRId64
	    " and %" PRId64, ks_log_start_offset(la),
	    ks_log_start_offset(lb));
	KT_OK(ks_log_iter_new(la, 0, &ia));
	KT_OK(ks_log_iter_new(lb, 0, &ib));
	for (off = 0; off < hw;) {
		int na = ks_log_iter_next(ia, &ra);
		int nb = ks_log_iter_next(ib, &rb);

		ck_assert_msg(na == 1 && nb == 1, "%s-%d below the high "
		    "watermark %" PRId64 ": member %d's replica %s at %"
		    PRId64 ", member %d's %s", topic, p, hw, ida,
		    na == 1 ? "goes on" : "ends", off, idb,
		    nb == 1 ? "goes on" : "ends");
		if (ra.offset >= hw)
			break;
		ck_assert_msg(ra.offset == rb.offset, "%s-%d: member %d's "
		    "next record is at %" PRId64 ", member %d's at %" PRId64,
		    topic, p, ida, ra.offset, idb, rb.offset);
		ck_assert_msg(kt_same_bytes(ra.key, ra.key_len, rb.key,
		    rb.key_len) && kt_same_bytes(ra.value, ra.value_len,
		    rb.value, rb.value_len), "%s-%d offset %" PRId64 ": member "
		    "%d has %.*s=%.*s, member %d %.*s=%.*s", topic, p,
		    ra.offset, ida, (int)ra.key_len, (const char *)ra.key,
		    (int)ra.value_len, (const char *)ra.value, idb,
		    (int)rb.key_len, (const char *)rb.key,
		    (int)rb.value_len, (const char *)rb.value);
		off = ra.offset + 1;
	}
	ks_log_iter_free(ia);
	ks_log_iter_free(ib);
	ks_log_close(la);
	ks_log_close(lb);
}
