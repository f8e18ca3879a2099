/*
 * controller.c: the metadata state machine (meta.c) replicated by libraft
 * among the controller voters, and the leader's liveness checks.
 *
 * Why libraft's own libuv I/O on a thread of its own, and not a raft_io
 * over kstream's log and transport: raft_io is a whole storage engine
 * (asynchronous durable appends, truncation, snapshots with their
 * trailing entries, term and vote persistence) plus a transport with its
 * own framing. raft_uv is the implementation libraft tests and dqlite
 * ships in production; writing another one over kstream's log and
 * transport would duplicate that work and its bugs for no gain to users,
 * who only see the metadata it decides. The price is a libuv loop on one
 * more thread, which the code below keeps to itself: other threads talk
 * to it only through a queue and uv_async_send.
 *
 * Threads. The loop thread owns struct raft, the private image and the
 * in-flight requests. Any thread may submit (queued under mu), send a
 * heartbeat (the table, under mu) and read the published image (under
 * mu, a reference) or the leader (an atomic the loop keeps).
 *
 * Raft ids must be > 0 and Kafka node ids may be 0: raft id = node + 1.
 */
#include "replication/meta.h"

#include <errno.h>
#include <pthread.h>
#include <raft.h>
#include <signal.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#define TICK_MS 50              /* leader and liveness checks */
#define ADDR_MAX 300

struct voter {
	int32_t node;
	char addr[ADDR_MAX];        /* "host:port" */
};

/* A submitted command waiting for the loop. */
struct sub {
	struct sub *next;
	struct ks__rcmd cmd;
	void (*done)(void *arg, int rc);
	void *arg;
};

/* A raft_apply in flight. */
struct req {
	struct raft_apply a;
	struct ks__ctl *c;
	void (*done)(void *arg, int rc);
	void *arg;
};

/* What the leader knows of a member's heartbeats. */
struct hb {
	int32_t id;
	int64_t heard_ms;           /* last heartbeat */
	int64_t fenced_ms;          /* when this leader saw it fenced; 0 */
	int inflight;               /* a FENCE or UNFENCE not yet done */
};

struct ks__ctl {
	struct ks__ctl_config cfg;
	char *dir;
	int32_t nvoters;
	struct voter *voters;
	int self;                   /* index in voters */

	uv_loop_t loop;
	uv_async_t async;
	uv_timer_t timer;
	struct raft_uv_transport transport;
	struct raft_io io;
	struct raft raft;
	struct raft_fsm fsm;
	pthread_t thread;
	int closing;                /* loop thread: raft_close called */

	/* Loop thread only: the latest applied image (also the published
	 * one: it is never changed once applied, the next apply works on a
	 * copy). */
	struct ks__rimage *img;
	int32_t last_leader;
	int was_leader;
	int tick_no;

	pthread_mutex_t mu;
	struct sub *qhead, **qtail;
	int stopping;
	struct ks__rimage *pub;
	struct hb *hbs;
	int32_t nhbs, hbcap;

	atomic_int leader_node;     /* -1: none known */
	atomic_int is_leader;
};

static int64_t now_ms(void)
{
	return ks__monotonic_ns() / 1000000;
}

#define LOGF(c, level, ...) \
	ks__logf((c)->cfg.log_cb, (c)->cfg.log_opaque, (level), __VA_ARGS__)

/* ---- voters ------------------------------------------------------------- */

static int parse_voters(struct ks__ctl *c, const char *s)
{
	const char *p = s;

	c->self = -1;
	while (p && *p) {
		const char *end = strchr(p, ','), *at, *colon;
		size_t n = end ? (size_t)(end - p) : strlen(p);
		struct voter *v, *nv;
		char *stop;
		long id;
		int32_t i;

		at = memchr(p, '@', n);
		if (!at)
			return KS_EINVAL;
		errno = 0;
		id = strtol(p, &stop, 10);
		if (stop != at || errno || id < 0 || id >= INT32_MAX ||
		    stop == p)
			return KS_EINVAL;
		n -= (size_t)(at + 1 - p);
		colon = n ? memrchr(at + 1, ':', n) : NULL;
		if (!colon || colon == at + 1 || n >= ADDR_MAX ||
		    (size_t)(colon - at) >= n)
			return KS_EINVAL;
		for (i = 0; i < c->nvoters; i++)
			if (c->voters[i].node == id)
				return KS_EINVAL;
		nv = realloc(c->voters, ((size_t)c->nvoters + 1) * sizeof *nv);
		if (!nv)
			return KS_ENOMEM;
		c->voters = nv;
		v = &nv[c->nvoters++];
		v->node = (int32_t)id;
		memcpy(v->addr, at + 1, n);
		v->addr[n] = 0;
		for (i = 0; i < c->nvoters - 1; i++)
			if (strcmp(c->voters[i].addr, v->addr) == 0)
				return KS_EINVAL;
		if (v->node == c->cfg.node_id)
			c->self = c->nvoters - 1;
		p = end ? end + 1 : NULL;
	}
	return c->nvoters > 0 && c->self >= 0 ? 0 : KS_EINVAL;
}

static int32_t node_of(struct ks__ctl *c, raft_id rid)
{
	return rid > 0 ? (int32_t)(rid - 1) : -1;
}

/* mkdir -p */
static int mkdirs(const char *dir)
{
	char *d = strdup(dir), *p;
	int rc = 0;

	if (!d)
		return KS_ENOMEM;
	for (p = d + 1; ; p++) {
		if (*p == '/' || *p == 0) {
			char ch = *p;

			*p = 0;
			if (mkdir(d, 0755) && errno != EEXIST) {
				rc = -errno;
				break;
			}
			*p = ch;
			if (!ch)
				break;
		}
	}
	free(d);
	return rc ? rc : ks__dir_check(dir, 0);
}

/* ---- publishing --------------------------------------------------------- */

/* Makes img (a fresh reference, now immutable) the current image. */
static void publish(struct ks__ctl *c, struct ks__rimage *img)
{
	struct ks__rimage *old;

	ks__rimage_unref(c->img);
	c->img = img;
	ks__rimage_ref(img);
	pthread_mutex_lock(&c->mu);
	old = c->pub;
	c->pub = img;
	pthread_mutex_unlock(&c->mu);
	ks__rimage_unref(old);
	if (c->cfg.changed)
		c->cfg.changed(c->cfg.arg, img);
}

/* ---- the FSM ------------------------------------------------------------ */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
    void **result)
{
	struct ks__ctl *c = fsm->data;
	/* Entries apply in order and last_applied moves after each one. */
	uint64_t index = raft_last_applied(&c->raft) + 1;
	struct ks__rimage *next = ks__rimage_dup(c->img);
	int rc;

	*result = NULL;
	if (!next)
		return RAFT_NOMEM;
	/* The entry is framed (see loop_apply). */
	if (buf->len < 4 || ks__be32(buf->base) > buf->len - 4)
		rc = KS_ECORRUPT;
	else
		rc = ks__rimage_apply(next, (uint8_t *)buf->base + 4,
		    ks__be32(buf->base));
	if (rc == KS_ENOMEM) {
		ks__rimage_unref(next);
		return RAFT_NOMEM;
	}
	/* Every voter skips the same undecodable entry alike. */
	if (rc)
		LOGF(c, KS_LOG_WARNING, "controller: entry %llu: %s, skipped",
		    (unsigned long long)index, ks_strerror(rc));
	next->applied = index;
	publish(c, next);
	return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
    unsigned *n_bufs)
{
	struct ks__ctl *c = fsm->data;
	struct ks__rcmd enc;
	int rc = ks__rimage_encode(c->img, &enc);

	if (rc)
		return RAFT_NOMEM;
	*bufs = raft_malloc(sizeof **bufs);
	if (!*bufs) {
		free(enc.p);
		return RAFT_NOMEM;
	}
	(*bufs)[0].base = enc.p;
	(*bufs)[0].len = enc.len;
	*n_bufs = 1;
	return 0;
}

/* fsm version 2: raft hands the buffers back once written. */
static int fsm_snapshot_finalize(struct raft_fsm *fsm,
    struct raft_buffer *bufs[], unsigned *n_bufs)
{
	unsigned i;

	if (*bufs) {
		for (i = 0; i < *n_bufs; i++)
			free((*bufs)[i].base);
		raft_free(*bufs);
	}
	*bufs = NULL;
	*n_bufs = 0;
	return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct ks__ctl *c = fsm->data;
	struct ks__rimage *img;
	int rc = ks__rimage_decode(buf->base, buf->len, &img);

	if (rc) {
		LOGF(c, KS_LOG_ERR, "controller: snapshot: %s",
		    ks_strerror(rc));
		return rc == KS_ENOMEM ? RAFT_NOMEM : RAFT_CORRUPT;
	}
	/* On success the buffer is ours. */
	raft_free(buf->base);
	publish(c, img);
	return 0;
}

/* ---- submitting ------------------------------------------------------ */

/* Loop thread. */
static int map_status(struct ks__ctl *c, int status)
{
	if (status == 0)
		return 0;
	if (c->closing || status == RAFT_SHUTDOWN || status == RAFT_CANCELED)
		return KS_ECLOSED;
	if (status == RAFT_LEADERSHIPLOST || status == RAFT_NOTLEADER)
		return KS_EBUSY;
	if (status == RAFT_NOMEM)
		return KS_ENOMEM;
	return -EIO;
}

static void apply_cb(struct raft_apply *a, int status, void *result)
{
	struct req *r = a->data;

	if (r->done)
		r->done(r->arg, map_status(r->c, status));
	free(r);
}

/* On the loop thread: proposes cmd's bytes (copied); done gets the
 * outcome unless this returns an error. */
static int loop_apply(struct ks__ctl *c, const struct ks__rcmd *cmd,
    void (*done)(void *arg, int rc), void *arg)
{
	struct raft_buffer buf;
	struct req *r;
	int rv;

	if (c->closing)
		return KS_ECLOSED;
	if (raft_state(&c->raft) != RAFT_LEADER)
		return KS_EBUSY;
	if (cmd->len > UINT32_MAX - 16)
		return KS_EINVAL;
	/*
	 * A u32 length, the command, zeros to a multiple of 8 bytes: raft_uv
	 * pads entries to 8 bytes on disk and libraft 0.15 reloads entries
	 * of other lengths from the wrong offsets after a restart.
	 */
	r = calloc(1, sizeof *r);
	buf.len = (4 + cmd->len + 7) & ~(size_t)7;
	buf.base = raft_calloc(1, buf.len);
	if (!r || !buf.base) {
		free(r);
		raft_free(buf.base);
		return KS_ENOMEM;
	}
	ks__put_be32(buf.base, (uint32_t)cmd->len);
	memcpy((uint8_t *)buf.base + 4, cmd->p, cmd->len);
	r->a.data = r;
	r->c = c;
	r->done = done;
	r->arg = arg;
	rv = raft_apply(&c->raft, &r->a, &buf, 1, apply_cb);
	if (rv) {
		raft_free(buf.base);
		free(r);
		return map_status(c, rv);
	}
	return 0;
}

static void close_cb(struct raft *raft)
{
	struct ks__ctl *c = raft->data;

	raft_uv_close(&c->io);
	raft_uv_tcp_close(&c->transport);
	uv_close((uv_handle_t *)&c->timer, NULL);
	uv_close((uv_handle_t *)&c->async, NULL);
}

static void async_cb(uv_async_t *h)
{
	struct ks__ctl *c = h->data;
	struct sub *q, *next;
	int stopping;

	pthread_mutex_lock(&c->mu);
	q = c->qhead;
	c->qhead = NULL;
	c->qtail = &c->qhead;
	stopping = c->stopping;
	pthread_mutex_unlock(&c->mu);
	for (; q; q = next) {
		int rc = stopping ? KS_ECLOSED :
		    loop_apply(c, &q->cmd, q->done, q->arg);

		next = q->next;
		if (rc && q->done)
			q->done(q->arg, rc);
		free(q->cmd.p);
		free(q);
	}
	if (stopping && !c->closing) {
		c->closing = 1;
		atomic_store(&c->is_leader, 0);
		uv_timer_stop(&c->timer);
		raft_close(&c->raft, close_cb);
	}
}

int ks__ctl_submit(struct ks__ctl *c, const struct ks__rcmd *cmd,
    void (*done)(void *arg, int rc), void *arg)
{
	struct sub *s;

	if (!c || !cmd || !cmd->p)
		return KS_EINVAL;
	if (!atomic_load(&c->is_leader))
		return KS_EBUSY;
	s = calloc(1, sizeof *s);
	if (!s || !(s->cmd.p = malloc(cmd->len ? cmd->len : 1))) {
		free(s);
		return KS_ENOMEM;
	}
	memcpy(s->cmd.p, cmd->p, cmd->len);
	s->cmd.len = cmd->len;
	s->done = done;
	s->arg = arg;
	pthread_mutex_lock(&c->mu);
	if (c->stopping) {
		pthread_mutex_unlock(&c->mu);
		free(s->cmd.p);
		free(s);
		return KS_ECLOSED;
	}
	*c->qtail = s;
	c->qtail = &s->next;
	/* Under mu: the loop closes the handle only once it has seen
	 * stopping, which no send can then follow. */
	uv_async_send(&c->async);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* ---- liveness ----------------------------------------------------------- */

/* The entry of id, added if missing (heard_ms as given); mu held. */
static struct hb *hb_get(struct ks__ctl *c, int32_t id, int64_t heard)
{
	int32_t i;

	for (i = 0; i < c->nhbs; i++)
		if (c->hbs[i].id == id)
			return &c->hbs[i];
	if (c->nhbs == c->hbcap) {
		int32_t cap = c->hbcap ? c->hbcap * 2 : 8;
		struct hb *n = realloc(c->hbs, (size_t)cap * sizeof *n);

		if (!n)
			return NULL;
		c->hbs = n;
		c->hbcap = cap;
	}
	c->hbs[c->nhbs] = (struct hb){ .id = id, .heard_ms = heard };
	return &c->hbs[c->nhbs++];
}

void ks__ctl_heartbeat(struct ks__ctl *c, int32_t id)
{
	struct hb *h;
	int64_t now = now_ms();

	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	h = hb_get(c, id, now);
	if (h)
		h->heard_ms = now;
	pthread_mutex_unlock(&c->mu);
}

struct fence_req {
	struct ks__ctl *c;
	int32_t id;
};

static void fence_done(void *arg, int rc)
{
	struct fence_req *f = arg;
	struct ks__ctl *c = f->c;
	struct hb *h;

	pthread_mutex_lock(&c->mu);
	h = hb_get(c, f->id, now_ms());
	if (h)
		h->inflight = 0;
	pthread_mutex_unlock(&c->mu);
	if (rc)
		LOGF(c, rc == KS_EBUSY ? KS_LOG_INFO : KS_LOG_WARNING,
		    "controller: (un)fencing node %d: %s",
		    f->id, ks_strerror(rc));
	free(f);
}

/* Loop thread, mu not held. */
static void submit_fence(struct ks__ctl *c, int32_t id, int fence)
{
	struct ks__rcmd cmd;
	struct fence_req *f = malloc(sizeof *f);
	int rc = KS_ENOMEM;

	if (f) {
		f->c = c;
		f->id = id;
		rc = fence ? ks__rcmd_fence(&cmd, id) :
		    ks__rcmd_unfence(&cmd, id);
	}
	if (!rc) {
		rc = loop_apply(c, &cmd, fence_done, f);
		free(cmd.p);
	}
	if (rc) {
		free(f);
		pthread_mutex_lock(&c->mu);
		for (int32_t i = 0; i < c->nhbs; i++)
			if (c->hbs[i].id == id)
				c->hbs[i].inflight = 0;
		pthread_mutex_unlock(&c->mu);
	}
}

static void check_liveness(struct ks__ctl *c, int64_t now)
{
	const struct ks__rimage *img = c->img;
	int64_t timeout = c->cfg.session_timeout_ms;
	int32_t i, n = 0;
	struct {
		int32_t id;
		int fence;
	} *todo = calloc(img->nbrokers ? (size_t)img->nbrokers : 1,
	    sizeof *todo);

	if (!todo)
		return;
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < img->nbrokers; i++) {
		const struct ks__rbroker *b = &img->brokers[i];
		struct hb *h;

		if (!b->registered)
			continue;
		h = hb_get(c, b->id, now);
		if (!h)
			break;
		if (b->id == c->cfg.node_id)
			h->heard_ms = now;
		if (!b->fenced)
			h->fenced_ms = 0;
		if (h->inflight)
			continue;
		if (!b->fenced && now - h->heard_ms > timeout) {
			LOGF(c, KS_LOG_NOTICE, "controller: fencing node %d "
			    "(no heartbeat for %lld ms)", b->id,
			    (long long)(now - h->heard_ms));
			h->inflight = 1;
			todo[n].id = b->id;
			todo[n++].fence = 1;
		} else if (b->fenced && !h->fenced_ms) {
			h->fenced_ms = now;
		} else if (b->fenced && h->heard_ms > h->fenced_ms) {
			LOGF(c, KS_LOG_NOTICE, "controller: unfencing node %d "
			    "(heartbeat again)", b->id);
			h->inflight = 1;
			todo[n].id = b->id;
			todo[n++].fence = 0;
		}
	}
	pthread_mutex_unlock(&c->mu);
	for (i = 0; i < n; i++)
		submit_fence(c, todo[i].id, todo[i].fence);
	free(todo);
}

static void timer_cb(uv_timer_t *t)
{
	struct ks__ctl *c = t->data;
	int leader = raft_state(&c->raft) == RAFT_LEADER;
	int64_t now = now_ms();
	const char *addr;
	raft_id rid;
	int32_t node;
	int32_t i;

	raft_leader(&c->raft, &rid, &addr);
	node = node_of(c, rid);
	if (leader)
		node = c->cfg.node_id;
	atomic_store(&c->leader_node, node);
	atomic_store(&c->is_leader, leader);
	if (node != c->last_leader) {
		if (node >= 0)
			LOGF(c, KS_LOG_NOTICE, "controller: node %d leads the "
			    "quorum (term %llu)", node,
			    (unsigned long long)c->raft.current_term);
		else
			LOGF(c, KS_LOG_NOTICE, "controller: no leader known "
			    "(term %llu)",
			    (unsigned long long)c->raft.current_term);
		c->last_leader = node;
	}
	if (leader && !c->was_leader) {
		/* Grace: a new leader counts every member as just heard. */
		pthread_mutex_lock(&c->mu);
		for (i = 0; i < c->nhbs; i++) {
			c->hbs[i].heard_ms = now;
			c->hbs[i].fenced_ms = 0;
			c->hbs[i].inflight = 0;
		}
		pthread_mutex_unlock(&c->mu);
	}
	c->was_leader = leader;
	if (leader && (++c->tick_no & 1) == 0)
		check_liveness(c, now);
}

/* ---- start and stop ------------------------------------------------------ */

static void *loop_main(void *arg)
{
	struct ks__ctl *c = arg;
	sigset_t set;

	/* A write to a voter that is gone must fail with EPIPE, not kill the
	 * process; the process-wide disposition is the application's. */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	uv_run(&c->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void ctl_free(struct ks__ctl *c)
{
	struct sub *q, *next;

	for (q = c->qhead; q; q = next) {
		next = q->next;
		free(q->cmd.p);
		free(q);
	}
	ks__rimage_unref(c->img);
	ks__rimage_unref(c->pub);
	pthread_mutex_destroy(&c->mu);
	free(c->hbs);
	free(c->voters);
	free(c->dir);
	free(c);
}

/* Runs the loop on this thread until every handle is closed. */
static void loop_finish(struct ks__ctl *c)
{
	uv_run(&c->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&c->loop))
		LOGF(c, KS_LOG_ERR, "controller: handles left open at close");
}

static int bootstrap(struct ks__ctl *c)
{
	struct raft_configuration conf;
	int32_t i;
	int rv = 0;

	raft_configuration_init(&conf);
	for (i = 0; i < c->nvoters && !rv; i++)
		rv = raft_configuration_add(&conf,
		    (raft_id)c->voters[i].node + 1, c->voters[i].addr,
		    RAFT_VOTER);
	if (!rv) {
		rv = raft_bootstrap(&c->raft, &conf);
		if (rv == RAFT_CANTBOOTSTRAP)
			rv = 0;         /* bootstrapped before */
	}
	raft_configuration_close(&conf);
	return rv;
}

int ks__ctl_start(const struct ks__ctl_config *cfg, struct ks__ctl **cp)
{
	struct ks__ctl *c;
	unsigned et;
	int rc, rv;

	*cp = NULL;
	if (!cfg || !cfg->voters || !cfg->dir || cfg->node_id < 0)
		return KS_EINVAL;
	c = calloc(1, sizeof *c);
	if (!c)
		return KS_ENOMEM;
	c->cfg = *cfg;
	c->qtail = &c->qhead;
	c->last_leader = -1;
	atomic_init(&c->leader_node, -1);
	atomic_init(&c->is_leader, 0);
	pthread_mutex_init(&c->mu, NULL);
	c->dir = strdup(cfg->dir);
	c->img = ks__rimage_new();
	if (!c->dir || !c->img) {
		ctl_free(c);
		return KS_ENOMEM;
	}
	c->pub = c->img;
	ks__rimage_ref(c->img);
	rc = parse_voters(c, cfg->voters);
	if (!rc)
		rc = mkdirs(c->dir);
	if (rc) {
		if (rc == KS_EINVAL)
			LOGF(c, KS_LOG_ERR, "controller: bad voters \"%s\" for "
			    "node %d", cfg->voters, cfg->node_id);
		ctl_free(c);
		return rc;
	}
	c->cfg.voters = NULL;   /* not kept */
	c->cfg.dir = c->dir;
	if (c->cfg.election_timeout_ms <= 0)
		c->cfg.election_timeout_ms = 1000;
	if (c->cfg.session_timeout_ms <= 0)
		c->cfg.session_timeout_ms = 9000;

	if ((rv = uv_loop_init(&c->loop))) {
		LOGF(c, KS_LOG_ERR, "controller: uv_loop_init: %s",
		    uv_strerror(rv));
		ctl_free(c);
		return -EIO;
	}
	uv_async_init(&c->loop, &c->async, async_cb);
	uv_timer_init(&c->loop, &c->timer);
	c->async.data = c;
	c->timer.data = c;

	c->fsm.version = 2;
	c->fsm.data = c;
	c->fsm.apply = fsm_apply;
	c->fsm.snapshot = fsm_snapshot;
	c->fsm.snapshot_finalize = fsm_snapshot_finalize;
	c->fsm.restore = fsm_restore;

	rv = raft_uv_tcp_init(&c->transport, &c->loop);
	if (rv) {
		LOGF(c, KS_LOG_ERR, "controller: raft_uv_tcp_init: %s",
		    raft_strerror(rv));
		goto fail_handles;
	}
	rv = raft_uv_init(&c->io, &c->loop, c->dir, &c->transport);
	if (rv) {
		LOGF(c, KS_LOG_ERR, "controller: raft_uv_init %s: %s", c->dir,
		    c->io.errmsg);
		raft_uv_tcp_close(&c->transport);
		goto fail_handles;
	}
	rv = raft_init(&c->raft, &c->io, &c->fsm,
	    (raft_id)cfg->node_id + 1, c->voters[c->self].addr);
	if (rv) {
		LOGF(c, KS_LOG_ERR, "controller: raft_init: %s",
		    raft_errmsg(&c->raft));
		raft_uv_close(&c->io);
		raft_uv_tcp_close(&c->transport);
		goto fail_handles;
	}
	c->raft.data = c;
	et = (unsigned)c->cfg.election_timeout_ms;
	raft_set_election_timeout(&c->raft, et);
	raft_set_heartbeat_timeout(&c->raft, et / 10 > 10 ? et / 10 : 10);
	raft_set_pre_vote(&c->raft, true);
	raft_set_snapshot_threshold(&c->raft, 1024);
	raft_set_snapshot_trailing(&c->raft, 128);
	rv = bootstrap(c);
	if (!rv)
		rv = raft_start(&c->raft);
	if (rv) {
		LOGF(c, KS_LOG_ERR, "controller: starting raft in %s: %s (%s)",
		    c->dir, raft_strerror(rv), raft_errmsg(&c->raft));
		c->closing = 1;
		raft_close(&c->raft, close_cb);
		loop_finish(c);
		ctl_free(c);
		return -EIO;
	}
	uv_timer_start(&c->timer, timer_cb, TICK_MS, TICK_MS);
	if (pthread_create(&c->thread, NULL, loop_main, c)) {
		c->closing = 1;
		uv_timer_stop(&c->timer);
		raft_close(&c->raft, close_cb);
		loop_finish(c);
		ctl_free(c);
		return KS_ENOMEM;
	}
	*cp = c;
	return 0;

fail_handles:
	uv_close((uv_handle_t *)&c->timer, NULL);
	uv_close((uv_handle_t *)&c->async, NULL);
	loop_finish(c);
	ctl_free(c);
	return -EIO;
}

void ks__ctl_stop(struct ks__ctl *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	uv_async_send(&c->async);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	if (uv_loop_close(&c->loop))
		LOGF(c, KS_LOG_ERR, "controller: handles left open at close");
	ctl_free(c);
}

/* ---- readers ------------------------------------------------------------ */

struct ks__rimage *ks__ctl_image(struct ks__ctl *c)
{
	struct ks__rimage *img;

	pthread_mutex_lock(&c->mu);
	img = c->pub;
	ks__rimage_ref(img);
	pthread_mutex_unlock(&c->mu);
	return img;
}

int32_t ks__ctl_leader(struct ks__ctl *c)
{
	return atomic_load(&c->leader_node);
}

int32_t ks__ctl_nvoters(struct ks__ctl *c)
{
	return c->nvoters;
}

int32_t ks__ctl_voter(struct ks__ctl *c, int32_t i)
{
	return i >= 0 && i < c->nvoters ? c->voters[i].node : -1;
}
