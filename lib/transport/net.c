/*
 * net.c: ks_net_t, an event loop in a thread of its own, and the framed
 * connections and listeners it owns.
 *
 * Everything below the call queue runs on the loop thread only, so the
 * connection state needs no locks; other threads reach the loop through
 * ks_net_call (a locked queue and an event made active).
 *
 * A connection is freed only by conn_close_now, which first frees its
 * bufferevent and its events (so no libevent callback can reach it
 * again) and, when the frame dispatcher or the read callback is on the
 * stack, leaves the free() itself to them.
 *
 * tcp and unix connections read their socket themselves in big chunks
 * (see struct ks_conn's rbuf); other transports' bufferevents read.
 */
#include "transport/transport_impl.h"
#include "core/internal.h"
#include "core/metrics_impl.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Read and write in big chunks: no per-frame syscalls at 150 MB/s. */
#define KS__IO_CHUNK (256 * 1024)
/* A connection's read buffer: allocated whole for a frame up to EAGER
 * bytes (beyond, it doubles as the data arrives, so a length prefix
 * alone cannot make us allocate much), kept between frames up to KEEP. */
#define KS__RBUF_EAGER (8 * 1024 * 1024)
#define KS__RBUF_KEEP (4 * 1024 * 1024)

struct call {
	void (*fn)(void *arg);
	void *arg;
	struct call *next;
};

struct ks_net {
	ks_net_config_t cfg;
	struct event_base *base;
	pthread_t thread;
	struct event *call_ev;

	pthread_mutex_t mu;          /* the call queue and closing */
	struct call *head, *tail;
	int closing;

	/* loop thread only */
	uint8_t *scratch;            /* KS__IO_CHUNK: direct reads land here */
	struct ks_conn *conns;
	struct ks_listener *listeners;
	struct ks_timer *timers;
	int naccepted;               /* live accepted connections */

	/* Counters for ks__net_stats: written on the loop (and the byte
	 * counts wherever libevent moves a buffer), read by any thread. */
	uint64_t n_opened, n_accepted, n_closed, n_bytes_in, n_bytes_out;
};

struct ks_listener {
	ks_net_t *net;
	const ks_transport_ops_t *ops;
	void *tl;                    /* the transport's listener */
	ks_conn_handler_t h;
	int port;
	char url[320];
	struct ks_listener *prev, *next;
};

enum conn_state {
	C_DIALING,   /* ks_net_dial waits for it */
	C_OPEN,
	C_CLOSING,   /* ks_conn_close: flushing, no more frames */
	C_DEAD       /* closed; memory kept while the dispatcher runs */
};

struct dial_req;

struct ks_conn {
	ks_net_t *net;
	struct bufferevent *bev;
	ks_conn_handler_t h;
	void *data;
	struct ks_conn *prev, *next;
	enum conn_state state;
	int accepted;       /* counts against max_connections */
	int held;           /* the handler returned KS_FRAME_HOLD */
	int resumed;        /* ks_conn_resume during the frame call */
	int full;           /* the input holds a whole frame at least */
	int reading;        /* EV_READ enabled */
	int bp;             /* output over max_conn_buffer: not reading */
	int dispatching;    /* depth of conn_dispatch on the stack */
	struct event *resume_ev;
	struct event *timer_ev;
	int64_t timer_at;   /* when timer_ev fires (ms); 0: not armed */
	int64_t last_ms;    /* last frame in or out */
	int64_t partial_ms; /* first byte of an incomplete frame; 0: none */
	int64_t close_by;   /* C_CLOSING: forced close at */
	struct dial_req *dial;
	/*
	 * Direct reading (tcp and unix sockets): libevent 2.1 reads a socket
	 * 4 KiB at a time whatever the bufferevent's max_single_read, so
	 * the bufferevent only writes; rd_ev reads the fd in big chunks,
	 * into the loop's scratch buffer when nothing is pending (whole
	 * frames are delivered from there, no copy) or into rbuf, which
	 * holds the rest of the input: rbuf[roff, roff + rlen). rbuf grows
	 * to the size of the frame being read so that big frames are read
	 * in place and delivered without a copy.
	 */
	struct event *rd_ev;  /* NULL: the bufferevent reads (TLS, others) */
	int direct;           /* a socket transport: use rd_ev once open */
	uint8_t *rbuf;
	size_t roff, rlen, rcap;
	char peer[72];
};

/* A ks_net_dial in progress, shared by the caller and the loop. */
struct dial_req {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	int done;
	int abandoned;        /* the caller gave up waiting */
	int rc;
	ks_conn_t *conn;
	ks_net_t *net;
	const ks_transport_ops_t *ops;
	ks_url_t url;
	const char *urlstr;
	int has_tls;
	ks_tls_config_t tls;  /* strings point into strs */
	char *strs[5];
	ks_conn_handler_t h;
	int timeout_ms;
};

/* The ks_net whose loop runs on this thread, if any. */
static __thread ks_net_t *cur_loop;

static void conn_close_now(ks_conn_t *c, int err);
static void conn_dispatch(ks_conn_t *c);

int64_t ks__net_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct event_base *ks__net_base(ks_net_t *net)
{
	return net->base;
}

void ks__net_stats(ks_net_t *net, ks__net_stats_t *st)
{
	uint64_t closed = ks__count_get(&net->n_closed);

	/* closed first: open never comes out negative */
	st->opened = ks__count_get(&net->n_opened);
	st->closed = closed;
	st->open = st->opened >= closed ? st->opened - closed : 0;
	st->accepted = ks__count_get(&net->n_accepted);
	st->bytes_in = ks__count_get(&net->n_bytes_in);
	st->bytes_out = ks__count_get(&net->n_bytes_out);
}

/* evbuffer callbacks: bytes a bufferevent read (TLS and other
 * non-direct transports) and bytes written out of the output buffer. */
static void count_in_cb(struct evbuffer *b, const struct evbuffer_cb_info *i,
    void *arg)
{
	(void)b;
	if (i->n_added)
		ks__count(&((ks_net_t *)arg)->n_bytes_in, i->n_added);
}

static void count_out_cb(struct evbuffer *b, const struct evbuffer_cb_info *i,
    void *arg)
{
	(void)b;
	if (i->n_deleted)
		ks__count(&((ks_net_t *)arg)->n_bytes_out, i->n_deleted);
}

#define LOG(net, level, ...) \
	ks__logf((net)->cfg.log_cb, (net)->cfg.log_opaque, level, __VA_ARGS__)

KS_API void ks_net_config_init(ks_net_config_t *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->max_frame = 104857600;
	cfg->max_connections = 10000;
	cfg->idle_timeout_ms = 600000;
	cfg->request_timeout_ms = 30000;
	cfg->max_conn_buffer = 4194304;
	cfg->log_cb = ks_log_stderr;
}

/* ---- the call queue ------------------------------------------------------ */

static void calls_cb(evutil_socket_t fd, short what, void *arg)
{
	ks_net_t *net = arg;
	struct call *list, *next;

	pthread_mutex_lock(&net->mu);
	list = net->head;
	net->head = net->tail = NULL;
	pthread_mutex_unlock(&net->mu);
	for (; list; list = next) {
		next = list->next;
		list->fn(list->arg);
		free(list);
	}
}

/* Queues fn unless the net is closing (force: the teardown itself). */
static int enqueue(ks_net_t *net, void (*fn)(void *), void *arg, int force)
{
	struct call *c = malloc(sizeof *c);

	if (!c)
		return KS_ENOMEM;
	c->fn = fn;
	c->arg = arg;
	c->next = NULL;
	pthread_mutex_lock(&net->mu);
	if (net->closing && !force) {
		pthread_mutex_unlock(&net->mu);
		free(c);
		return KS_ECLOSED;
	}
	if (force)
		net->closing = 1;
	if (net->tail)
		net->tail->next = c;
	else
		net->head = c;
	net->tail = c;
	/* Under the lock: ks_net_free cannot free call_ev meanwhile. */
	event_active(net->call_ev, EV_READ, 0);
	pthread_mutex_unlock(&net->mu);
	return 0;
}

KS_API int ks_net_call(ks_net_t *net, void (*fn)(void *arg), void *arg)
{
	if (!net || !fn)
		return KS_EINVAL;
	return enqueue(net, fn, arg, 0);
}

struct sync_call {
	void (*fn)(void *);
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

static void sync_tramp(void *arg)
{
	struct sync_call *s = arg;

	s->fn(s->arg);
	pthread_mutex_lock(&s->mu);
	s->done = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Runs fn(arg) on the loop and waits for it (directly on the loop). */
static int run_sync(ks_net_t *net, void (*fn)(void *), void *arg)
{
	struct sync_call s = { .fn = fn, .arg = arg };
	int rc;

	if (cur_loop == net) {
		fn(arg);
		return 0;
	}
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	rc = ks_net_call(net, sync_tramp, &s);
	if (rc == 0) {
		pthread_mutex_lock(&s.mu);
		while (!s.done)
			pthread_cond_wait(&s.cv, &s.mu);
		pthread_mutex_unlock(&s.mu);
	}
	pthread_cond_destroy(&s.cv);
	pthread_mutex_destroy(&s.mu);
	return rc;
}

/* ---- the loop thread ----------------------------------------------------- */

static void *loop_main(void *arg)
{
	ks_net_t *net = arg;
	sigset_t set;

	/*
	 * A write to a peer that is gone must fail with EPIPE, not kill the
	 * process; the process-wide disposition is the application's.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	cur_loop = net;
	event_base_loop(net->base, EVLOOP_NO_EXIT_ON_EMPTY);
	cur_loop = NULL;
	return NULL;
}

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_rc;

static void evthread_init(void)
{
	/* Before any event_base exists: event_active from other threads. */
	evthread_rc = evthread_use_pthreads();
}

KS_API int ks_net_new(const ks_net_config_t *cfg, ks_net_t **netp)
{
	ks_net_t *net;
	int rc;

	if (!netp)
		return KS_EINVAL;
	*netp = NULL;
	if (cfg && (cfg->max_frame == 0 || cfg->max_frame > INT32_MAX ||
	    cfg->max_connections <= 0 || cfg->idle_timeout_ms < 0 ||
	    cfg->request_timeout_ms < 0 || cfg->max_conn_buffer == 0))
		return KS_EINVAL;
	pthread_once(&evthread_once, evthread_init);
	if (evthread_rc != 0)
		return KS_ENOMEM;
	net = calloc(1, sizeof *net);
	if (!net)
		return KS_ENOMEM;
	if (cfg)
		net->cfg = *cfg;
	else
		ks_net_config_init(&net->cfg);
	pthread_mutex_init(&net->mu, NULL);
	net->base = event_base_new();
	if (net->base)
		net->call_ev = event_new(net->base, -1, 0, calls_cb, net);
	if (!net->base || !net->call_ev) {
		rc = KS_ENOMEM;
		goto fail;
	}
	rc = pthread_create(&net->thread, NULL, loop_main, net);
	if (rc != 0) {
		rc = -rc;
		goto fail;
	}
	*netp = net;
	return 0;
fail:
	if (net->call_ev)
		event_free(net->call_ev);
	if (net->base)
		event_base_free(net->base);
	pthread_mutex_destroy(&net->mu);
	free(net);
	return rc;
}

static void listener_free(ks_listener_t *l)
{
	ks_net_t *net = l->net;

	if (l->prev)
		l->prev->next = l->next;
	else
		net->listeners = l->next;
	if (l->next)
		l->next->prev = l->prev;
	l->ops->close(l->tl);
	free(l);
}

/* The last call: everything goes, then the loop stops. */
static void teardown(void *arg)
{
	ks_net_t *net = arg;

	while (net->conns)
		conn_close_now(net->conns, 0);
	while (net->listeners)
		listener_free(net->listeners);
	ks__timer_free_all(net);
	event_base_loopbreak(net->base);
}

KS_API void ks_net_free(ks_net_t *net)
{
	if (!net)
		return;
	if (cur_loop == net) {
		/* Joining itself would hang: refuse, loudly. */
		LOG(net, KS_LOG_ERR, "ks_net_free called on the loop thread");
		return;
	}
	if (enqueue(net, teardown, net, 1) != 0) {
		LOG(net, KS_LOG_ERR, "ks_net_free: out of memory");
		return;
	}
	pthread_join(net->thread, NULL);
	free(net->scratch);
	event_free(net->call_ev);
	/* Runs libevent's pending finalizers: send_ref releases among them. */
	event_base_free(net->base);
	pthread_mutex_destroy(&net->mu);
	free(net);
}

void ks__net_timer_link(ks_net_t *net, ks_timer_t *t)
{
	t->prev = NULL;
	t->next = net->timers;
	if (net->timers)
		net->timers->prev = t;
	net->timers = t;
}

void ks__net_timer_unlink(ks_net_t *net, ks_timer_t *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		net->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
}

void ks__timer_free_all(ks_net_t *net)
{
	while (net->timers)
		ks_timer_free(net->timers);
}

/* ---- connections: timers, reading, dispatch ------------------------------ */

static size_t out_len(const ks_conn_t *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* Makes timer_ev fire at `at` unless it already fires earlier. */
static void conn_arm(ks_conn_t *c, int64_t at, int64_t now)
{
	struct timeval tv;
	int64_t d;

	if (c->timer_at && c->timer_at <= at)
		return;
	d = at > now ? at - now : 0;
	tv.tv_sec = d / 1000;
	tv.tv_usec = (d % 1000) * 1000;
	c->timer_at = at;
	evtimer_add(c->timer_ev, &tv);
}

/* Arms the idle and request deadlines of an open connection. */
static void conn_arm_deadlines(ks_conn_t *c, int64_t now)
{
	int64_t at = 0, t;

	if (c->net->cfg.idle_timeout_ms > 0)
		at = c->last_ms + c->net->cfg.idle_timeout_ms;
	if (c->net->cfg.request_timeout_ms > 0 && c->partial_ms) {
		t = c->partial_ms + c->net->cfg.request_timeout_ms;
		if (!at || t < at)
			at = t;
	}
	if (at)
		conn_arm(c, at, now);
}

/*
 * Reading goes on unless the connection is closing, its peer does not
 * read its answers (bp), or frames are held and a whole one is waiting
 * already (a pipelining peer is pushed back by TCP).
 */
static void conn_update_read(ks_conn_t *c)
{
	int want = c->state == C_OPEN && !c->bp && !(c->held && c->full);

	if (want == c->reading)
		return;
	c->reading = want;
	if (c->rd_ev) {
		if (want)
			event_add(c->rd_ev, NULL);
		else
			event_del(c->rd_ev);
	} else if (want) {
		bufferevent_enable(c->bev, EV_READ);
	} else {
		bufferevent_disable(c->bev, EV_READ);
	}
}

/* Input bytes not yet delivered. */
static size_t in_len(ks_conn_t *c)
{
	if (c->rd_ev)
		return c->rlen;
	return evbuffer_get_length(bufferevent_get_input(c->bev));
}

/* The size of the frame whose first len bytes are at p: 0 if fewer than
 * 4, -1 if its length is out of range. */
static int64_t frame_size(ks_conn_t *c, const uint8_t *p, size_t len)
{
	int32_t n;

	if (len < 4)
		return 0;
	n = (int32_t)ks__be32(p);
	if (n < 0 || (size_t)n > c->net->cfg.max_frame)
		return -1;
	return (int64_t)n + 4;
}

/* The frame at the head of the input: its total size, 0 if fewer than 4
 * bytes are there, -1 if its length is bad. */
static int64_t head_size(ks_conn_t *c, size_t *avail)
{
	uint8_t hdr[4];

	*avail = in_len(c);
	if (c->rd_ev)
		return frame_size(c, c->rbuf + c->roff, c->rlen);
	if (*avail < 4)
		return 0;
	evbuffer_copyout(bufferevent_get_input(c->bev), hdr, 4);
	return frame_size(c, hdr, 4);
}

/* Closes c for the bad length prefix at p. */
static void conn_bad_frame(ks_conn_t *c, const uint8_t *p)
{
	LOG(c->net, KS_LOG_INFO, "%s: frame length %d out of range (max %zu): "
	    "closing", c->peer, (int32_t)ks__be32(p), c->net->cfg.max_frame);
	conn_close_now(c, KS_EMSGSIZE);
}

/* Closes c for the bad length prefix at the head of its input. */
static void conn_bad_head(ks_conn_t *c)
{
	uint8_t hdr[4];

	if (c->rd_ev)
		memcpy(hdr, c->rbuf + c->roff, 4);
	else
		evbuffer_copyout(bufferevent_get_input(c->bev), hdr, 4);
	conn_bad_frame(c, hdr);
}

/*
 * Delivers the whole frames at p[0, len) while the handler takes them and
 * the peer reads its answers; returns the bytes consumed. p stays valid
 * meanwhile: only the read callback moves or frees input buffers.
 */
static size_t deliver(ks_conn_t *c, const uint8_t *p, size_t len,
    int64_t now)
{
	size_t off = 0;
	int64_t need;
	int r;

	while (c->state == C_OPEN && !c->held && !c->bp) {
		need = frame_size(c, p + off, len - off);
		if (need < 0) {
			conn_bad_frame(c, p + off);
			break;
		}
		if (need == 0 || (int64_t)(len - off) < need)
			break;
		c->last_ms = now;
		c->resumed = 0;
		r = c->h.frame(c->h.arg, c, p + off + 4, (size_t)need - 4);
		if (c->state == C_DEAD)
			break;
		off += (size_t)need;
		if (r == KS_FRAME_HOLD && !c->resumed)
			c->held = 1;
	}
	return off;
}

/* Drops n delivered bytes from the head of rbuf. */
static void rbuf_consume(ks_conn_t *c, size_t n)
{
	c->roff += n;
	c->rlen -= n;
	if (c->rlen > 0)
		return;
	c->roff = 0;
	if (c->rcap > KS__RBUF_KEEP) {
		free(c->rbuf);
		c->rbuf = NULL;
		c->rcap = 0;
	}
}

/*
 * Makes room in rbuf for want more bytes after the pending ones, moving
 * them to the front or growing the buffer; for a frame beyond
 * KS__RBUF_EAGER the room may be smaller (the buffer at most doubles).
 */
static int rbuf_reserve(ks_conn_t *c, size_t want)
{
	size_t cap;
	uint8_t *nb;

	if (c->roff + c->rlen + want <= c->rcap)
		return 0;
	if (c->rlen + want <= c->rcap) {
		memmove(c->rbuf, c->rbuf + c->roff, c->rlen);
		c->roff = 0;
		return 0;
	}
	cap = c->rlen + want;
	if (cap > KS__RBUF_EAGER && cap > 2 * c->rcap)
		cap = 2 * c->rcap > KS__RBUF_EAGER ? 2 * c->rcap :
		    KS__RBUF_EAGER;
	if (c->roff == 0) {
		/* realloc: mremap for big blocks, no copy */
		nb = realloc(c->rbuf, cap);
		if (!nb)
			return KS_ENOMEM;
	} else {
		nb = malloc(cap);
		if (!nb)
			return KS_ENOMEM;
		memcpy(nb, c->rbuf + c->roff, c->rlen);
		free(c->rbuf);
		c->roff = 0;
	}
	c->rbuf = nb;
	c->rcap = cap;
	return 0;
}

/* After input changed: the request timer and whether to read on. */
static void conn_after_input(ks_conn_t *c, int64_t now)
{
	size_t avail;
	int64_t need = head_size(c, &avail);

	if (need < 0) {
		conn_bad_head(c);
		return;
	}
	c->full = need > 0 && (int64_t)avail >= need;
	if (avail > 0 && !c->full) {
		if (!c->partial_ms) {
			c->partial_ms = now ? now : 1;
			conn_arm_deadlines(c, now);
		}
	} else {
		c->partial_ms = 0;
	}
	conn_update_read(c);
}

static void conn_free(ks_conn_t *c)
{
	free(c->rbuf);
	free(c);
}

/*
 * Delivers whole frames one at a time while the handler takes them and
 * the peer reads its answers. rbuf's frames are handed over in place. In
 * a bufferevent's input, a frame lying in one buffer chain is handed over
 * in place; one spanning chains is made contiguous (one copy).
 */
static void conn_dispatch(ks_conn_t *c)
{
	struct evbuffer *in;
	int64_t now = ks__net_now_ms(), need;
	size_t avail, n;
	uint8_t *p;
	int r;

	if (c->state != C_OPEN)
		return;
	c->dispatching++;
	if (c->rd_ev) {
		n = deliver(c, c->rbuf + c->roff, c->rlen, now);
		if (c->state != C_DEAD)
			rbuf_consume(c, n);
		goto out;
	}
	in = bufferevent_get_input(c->bev);
	while (c->state == C_OPEN && !c->held && !c->bp) {
		need = head_size(c, &avail);
		if (need < 0) {
			conn_bad_head(c);
			break;
		}
		if (need == 0 || (int64_t)avail < need)
			break;
		p = evbuffer_pullup(in, (ev_ssize_t)need);
		if (!p) {
			LOG(c->net, KS_LOG_ERR, "%s: out of memory for a "
			    "frame of %lld bytes", c->peer, (long long)need);
			conn_close_now(c, KS_ENOMEM);
			break;
		}
		c->last_ms = now;
		c->resumed = 0;
		r = c->h.frame(c->h.arg, c, p + 4, (size_t)need - 4);
		if (c->state == C_DEAD)
			break;
		evbuffer_drain(in, (size_t)need);
		if (r == KS_FRAME_HOLD && !c->resumed)
			c->held = 1;
	}
out:
	c->dispatching--;
	if (c->state == C_DEAD) {
		if (!c->dispatching)
			conn_free(c);
		return;
	}
	if (c->state == C_OPEN)
		conn_after_input(c, now);
}

/*
 * One read of a direct connection: into rbuf when input is pending (with
 * room for the rest of its frame) or rbuf is big already, else into the
 * loop's scratch buffer, from which whole frames are delivered at once
 * and the rest saved in rbuf. Returns the bytes read and whether the read
 * filled the room given (*more: more may be waiting), 0 at EOF, or
 * -errno (-EAGAIN: nothing to read).
 */
static ssize_t conn_read_some(ks_conn_t *c, int *more)
{
	ks_net_t *net = c->net;
	int64_t need;
	size_t want, left, used;
	ssize_t n;
	int fd = event_get_fd(c->rd_ev);

	*more = 0;
	if (c->rlen > 0 || c->rcap >= KS__IO_CHUNK) {
		need = frame_size(c, c->rbuf + c->roff, c->rlen);
		want = need > (int64_t)c->rlen ? (size_t)need - c->rlen : 0;
		if (want < 4096)
			want = 4096;
		if (rbuf_reserve(c, want) != 0)
			return KS_ENOMEM;
		want = c->rcap - c->roff - c->rlen;
		do
			n = read(fd, c->rbuf + c->roff + c->rlen, want);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return n == 0 ? 0 : -errno;
		ks__count(&net->n_bytes_in, (uint64_t)n);
		c->rlen += (size_t)n;
		*more = (size_t)n == want;
		conn_dispatch(c);
		return n;
	}
	if (!net->scratch && !(net->scratch = malloc(KS__IO_CHUNK)))
		return KS_ENOMEM;
	do
		n = read(fd, net->scratch, KS__IO_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n == 0 ? 0 : -errno;
	ks__count(&net->n_bytes_in, (uint64_t)n);
	*more = n == KS__IO_CHUNK;
	c->dispatching++;
	used = deliver(c, net->scratch, (size_t)n, ks__net_now_ms());
	c->dispatching--;
	left = (size_t)n - used;
	/* what a closing connection has not taken is dropped */
	if (c->state == C_OPEN && left > 0) {
		need = frame_size(c, net->scratch + used, left);
		want = need > (int64_t)left ? (size_t)need : left;
		if (want < left + 4096)
			want = left + 4096;
		if (rbuf_reserve(c, want) != 0)
			return KS_ENOMEM;
		memcpy(c->rbuf, net->scratch + used, left);
		c->rlen = left;
	}
	conn_dispatch(c);
	return n;
}

/* rd_ev: the socket of a direct connection is readable. */
static void conn_sock_read_cb(evutil_socket_t fd, short what, void *arg)
{
	ks_conn_t *c = arg;
	size_t total = 0;
	ssize_t n;
	int more = 1;

	c->dispatching++;
	/* a few reads while the socket keeps filling them, then the others'
	 * turn */
	while (more && c->state == C_OPEN && c->reading &&
	    total < 4 * KS__IO_CHUNK) {
		n = conn_read_some(c, &more);
		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		if (c->state != C_OPEN || n == -EAGAIN || n == -EWOULDBLOCK)
			break;
		if (n == 0) {
			conn_close_now(c, 0);
		} else if (n == KS_ENOMEM) {
			LOG(c->net, KS_LOG_ERR, "%s: out of memory reading a "
			    "frame", c->peer);
			conn_close_now(c, KS_ENOMEM);
		} else {
			conn_close_now(c, (int)n);
		}
		break;
	}
	c->dispatching--;
	if (c->state == C_DEAD && !c->dispatching)
		conn_free(c);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	conn_dispatch(arg);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_dispatch(arg);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	ks_conn_t *c = arg;
	size_t n = out_len(c);

	if (c->state == C_CLOSING) {
		if (n == 0)
			conn_close_now(c, 0);
		return;
	}
	if (c->bp && n <= c->net->cfg.max_conn_buffer / 2) {
		c->bp = 0;
		conn_update_read(c);
		/* frames read before the pause wait in the input */
		if (in_len(c) > 0)
			event_active(c->resume_ev, EV_READ, 0);
	}
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	ks_conn_t *c = arg;
	const ks_net_config_t *cfg = &c->net->cfg;
	int64_t now = ks__net_now_ms();

	c->timer_at = 0;
	switch (c->state) {
	case C_DIALING:
		conn_close_now(c, KS_ETIMEDOUT);
		return;
	case C_CLOSING:
		if (out_len(c) == 0 || now >= c->close_by)
			conn_close_now(c, 0);
		else
			conn_arm(c, c->close_by, now);
		return;
	case C_OPEN:
		break;
	default:
		return;
	}
	if (cfg->idle_timeout_ms > 0 &&
	    now - c->last_ms >= cfg->idle_timeout_ms) {
		LOG(c->net, KS_LOG_DEBUG, "%s: idle for %d ms: closing",
		    c->peer, cfg->idle_timeout_ms);
		conn_close_now(c, KS_ETIMEDOUT);
		return;
	}
	/* Not reading (backpressure, a held frame): the frame's lateness is
	 * ours, so its clock starts again when reading does. */
	if (c->partial_ms && !c->reading)
		c->partial_ms = now;
	if (cfg->request_timeout_ms > 0 && c->partial_ms &&
	    now - c->partial_ms >= cfg->request_timeout_ms) {
		LOG(c->net, KS_LOG_INFO, "%s: frame incomplete after %d ms: "
		    "closing", c->peer, cfg->request_timeout_ms);
		conn_close_now(c, KS_ETIMEDOUT);
		return;
	}
	conn_arm_deadlines(c, now);
}

/*
 * Why a connection failed: -EPROTO with OpenSSL's reason logged for a
 * TLS failure, else the socket's -errno (captured by the caller).
 */
static int conn_error(ks_conn_t *c, int sock_errno, int level)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	char reason[256] = "", one[160];
	unsigned long e;
	long vr;
	size_t n;

	if (!ssl)
		return sock_errno ? -sock_errno : -ECONNRESET;
	while ((e = bufferevent_get_openssl_error(c->bev)) != 0) {
		ERR_error_string_n(e, one, sizeof one);
		n = strlen(reason);
		snprintf(reason + n, sizeof reason - n, "%s%s", n ? "; " : "",
		    one);
	}
	vr = SSL_get_verify_result(ssl);
	if (vr != X509_V_OK) {
		n = strlen(reason);
		snprintf(reason + n, sizeof reason - n, "%s%s", n ? "; " : "",
		    X509_verify_cert_error_string(vr));
	}
	if (!reason[0])
		/* a plain socket error under TLS (refused, reset, EOF) */
		return sock_errno ? -sock_errno : -ECONNRESET;
	LOG(c->net, level, "%s: TLS %s failed: %s", c->peer,
	    c->state == C_DIALING || !SSL_is_init_finished(ssl) ?
	    "handshake" : "session", reason);
	return -EPROTO;
}

static void dial_finish(struct dial_req *d, int rc, ks_conn_t *c);

static void conn_start(ks_conn_t *c)
{
	int64_t now = ks__net_now_ms();
	int fd = bufferevent_getfd(c->bev);

	/* No event: the bufferevent reads, slower but correct. */
	if (c->direct && fd >= 0)
		c->rd_ev = event_new(c->net->base, fd, EV_READ | EV_PERSIST,
		    conn_sock_read_cb, c);
	c->last_ms = now;
	c->state = C_OPEN;
	ks__count(&c->net->n_opened, 1);
	conn_update_read(c);
	conn_arm_deadlines(c, now);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	ks_conn_t *c = arg;
	int sock_errno = EVUTIL_SOCKET_ERROR(), err;
	struct sockaddr_storage ss;
	socklen_t slen = sizeof ss;
	struct dial_req *d;

	if (what & BEV_EVENT_CONNECTED) {
		if (c->state != C_DIALING)
			return;
		if (getpeername(bufferevent_getfd(bev), (struct sockaddr *)&ss,
		    &slen) == 0)
			ks__sock_name((struct sockaddr *)&ss, c->peer,
			    sizeof c->peer);
		d = c->dial;
		c->dial = NULL;
		evtimer_del(c->timer_ev);
		c->timer_at = 0;
		conn_start(c);
		dial_finish(d, 0, c);
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if (what & BEV_EVENT_ERROR) {
		err = conn_error(c, sock_errno, c->state == C_DIALING ?
		    KS_LOG_WARNING : KS_LOG_INFO);
	} else if (c->state == C_DIALING && bufferevent_openssl_get_ssl(bev)) {
		/* closed during the handshake: refused by the peer */
		LOG(c->net, KS_LOG_WARNING, "%s: TLS handshake failed: the "
		    "peer closed the connection", c->peer);
		err = -EPROTO;
	} else if (c->state == C_DIALING) {
		err = -ECONNRESET;
	} else {
		err = 0;
	}
	if (c->state == C_CLOSING)
		err = 0;
	conn_close_now(c, err);
}

static ks_conn_t *conn_new(ks_net_t *net, struct bufferevent *bev,
    const ks_conn_handler_t *h, const char *peer,
    const ks_transport_ops_t *ops)
{
	ks_conn_t *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->resume_ev = event_new(net->base, -1, 0, resume_cb, c);
	c->timer_ev = evtimer_new(net->base, conn_timer_cb, c);
	if (!c->resume_ev || !c->timer_ev) {
		if (c->resume_ev)
			event_free(c->resume_ev);
		if (c->timer_ev)
			event_free(c->timer_ev);
		free(c);
		return NULL;
	}
	c->net = net;
	c->bev = bev;
	/* plain socket bufferevents: tcp.c makes them */
	c->direct = ops == &ks__transport_tcp || ops == &ks__transport_unix;
	c->h = *h;
	c->state = C_DIALING;
	snprintf(c->peer, sizeof c->peer, "%s", peer);
	bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	/* Counting only: a failure (no memory) costs the counts, not the
	 * connection. Removed again in conn_close_now. */
	evbuffer_add_cb(bufferevent_get_input(bev), count_in_cb, net);
	evbuffer_add_cb(bufferevent_get_output(bev), count_out_cb, net);
	bufferevent_set_max_single_read(bev, KS__IO_CHUNK);
	bufferevent_set_max_single_write(bev, KS__IO_CHUNK);
	/* the write callback runs when the output drains to half the cap */
	bufferevent_setwatermark(bev, EV_WRITE, net->cfg.max_conn_buffer / 2,
	    0);
	bufferevent_disable(bev, EV_READ);
	c->next = net->conns;
	if (net->conns)
		net->conns->prev = c;
	net->conns = c;
	return c;
}

static void conn_close_now(ks_conn_t *c, int err)
{
	ks_net_t *net = c->net;
	enum conn_state was = c->state;

	if (was == C_DEAD)
		return;
	c->state = C_DEAD;
	if (c->prev)
		c->prev->next = c->next;
	else
		net->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->accepted)
		net->naccepted--;
	if (was != C_DIALING)
		ks__count(&net->n_closed, 1);
	event_free(c->resume_ev);
	event_free(c->timer_ev);
	if (c->rd_ev)
		event_free(c->rd_ev);
	c->resume_ev = c->timer_ev = c->rd_ev = NULL;
	evbuffer_remove_cb(bufferevent_get_input(c->bev), count_in_cb, net);
	evbuffer_remove_cb(bufferevent_get_output(c->bev), count_out_cb, net);
	/* Unsent send_ref data is released by libevent here (or at
	 * event_base_free when libevent defers the finalizing). */
	bufferevent_free(c->bev);
	c->bev = NULL;
	if (was == C_DIALING) {
		dial_finish(c->dial, err ? err : -ECONNRESET, NULL);
		c->dial = NULL;
	} else if (c->h.event) {
		c->h.event(c->h.arg, c, KS_CONN_CLOSED, err);
	}
	if (!c->dispatching)
		conn_free(c);
}

/* ---- connections: the API ------------------------------------------------ */

KS_API int ks_conn_send(ks_conn_t *conn, const void *buf, size_t len)
{
	if (!conn || conn->state != C_OPEN)
		return KS_ECLOSED;
	if (len == 0)
		return 0;
	if (evbuffer_add(bufferevent_get_output(conn->bev), buf, len) != 0)
		return KS_ENOMEM;
	conn->last_ms = ks__net_now_ms();
	if (!conn->bp && out_len(conn) > conn->net->cfg.max_conn_buffer) {
		conn->bp = 1;
		conn_update_read(conn);
	}
	return 0;
}

struct send_ref {
	void (*release)(void *arg);
	void *arg;
};

static void send_ref_cleanup(const void *data, size_t len, void *extra)
{
	struct send_ref *r = extra;

	r->release(r->arg);
	free(r);
}

KS_API int ks_conn_send_ref(ks_conn_t *conn, const void *buf, size_t len,
    void (*release)(void *arg), void *arg)
{
	struct send_ref *r;

	if (!release)
		return KS_EINVAL;
	if (!conn || conn->state != C_OPEN) {
		release(arg);
		return KS_ECLOSED;
	}
	if (len == 0) {
		release(arg);
		return 0;
	}
	r = malloc(sizeof *r);
	if (!r) {
		release(arg);
		return KS_ENOMEM;
	}
	r->release = release;
	r->arg = arg;
	if (evbuffer_add_reference(bufferevent_get_output(conn->bev), buf, len,
	    send_ref_cleanup, r) != 0) {
		free(r);
		release(arg);
		return KS_ENOMEM;
	}
	conn->last_ms = ks__net_now_ms();
	if (!conn->bp && out_len(conn) > conn->net->cfg.max_conn_buffer) {
		conn->bp = 1;
		conn_update_read(conn);
	}
	return 0;
}

KS_API void ks_conn_resume(ks_conn_t *conn)
{
	if (!conn || conn->state != C_OPEN)
		return;
	conn->resumed = 1;
	if (!conn->held)
		return;
	conn->held = 0;
	conn_update_read(conn);
	/* from the loop, not inside the caller: it may hold its own locks */
	event_active(conn->resume_ev, EV_READ, 0);
}

KS_API void ks_conn_close(ks_conn_t *conn)
{
	int64_t now;

	if (!conn || conn->state != C_OPEN)
		return;
	now = ks__net_now_ms();
	conn->state = C_CLOSING;
	conn_update_read(conn);
	conn->close_by = now + 1000;
	bufferevent_setwatermark(conn->bev, EV_WRITE, 0, 0);
	evtimer_del(conn->timer_ev);
	conn->timer_at = 0;
	if (out_len(conn) == 0)
		/* never inside the caller: KS_CONN_CLOSED comes from the loop */
		event_active(conn->timer_ev, EV_TIMEOUT, 0);
	else
		conn_arm(conn, conn->close_by, now);
}

KS_API const char *ks_conn_peer(const ks_conn_t *conn)
{
	return conn ? conn->peer : "";
}

KS_API void ks_conn_set_data(ks_conn_t *conn, void *data)
{
	if (conn)
		conn->data = data;
}

KS_API void *ks_conn_data(const ks_conn_t *conn)
{
	return conn ? conn->data : NULL;
}

KS_API size_t ks_conn_pending(const ks_conn_t *conn)
{
	if (!conn || !conn->bev)
		return 0;
	return out_len(conn);
}

KS_API ks_net_t *ks_conn_net(const ks_conn_t *conn)
{
	return conn ? conn->net : NULL;
}

/* ---- listeners ----------------------------------------------------------- */

static void accept_fn(void *arg, struct bufferevent *bev, const char *peer)
{
	ks_listener_t *l = arg;
	ks_net_t *net = l->net;
	ks_conn_t *c;

	if (net->naccepted >= net->cfg.max_connections) {
		LOG(net, KS_LOG_NOTICE, "%s: %d connections already: "
		    "refusing %s", l->url, net->naccepted, peer);
		bufferevent_free(bev);
		return;
	}
	c = conn_new(net, bev, &l->h, peer, l->ops);
	if (!c) {
		LOG(net, KS_LOG_ERR, "%s: out of memory accepting %s", l->url,
		    peer);
		bufferevent_free(bev);
		return;
	}
	c->accepted = 1;
	net->naccepted++;
	ks__count(&net->n_accepted, 1);
	conn_start(c);
	if (c->h.event)
		c->h.event(c->h.arg, c, KS_CONN_OPEN, 0);
}

struct listen_req {
	ks_listener_t *l;
	ks_url_t url;
	const ks_tls_config_t *tls;
	const char *urlstr;
	int rc;
};

static void listen_fn(void *arg)
{
	struct listen_req *r = arg;
	ks_listener_t *l = r->l;
	ks_net_t *net = l->net;
	ks_url_t bu;

	ks__tls_error[0] = '\0';
	r->rc = l->ops->listen(&r->url, r->tls, net->base, accept_fn, l,
	    &l->tl);
	if (r->rc != 0) {
		LOG(net, KS_LOG_ERR, "listen %s: %s%s%s", r->urlstr,
		    ks_strerror(r->rc), ks__tls_error[0] ? ": " : "",
		    ks__tls_error);
		return;
	}
	if (l->ops->bound(l->tl, l->url, sizeof l->url) != 0)
		snprintf(l->url, sizeof l->url, "%s", r->urlstr);
	l->port = ks_url_parse(l->url, &bu) == 0 ? bu.port : r->url.port;
	l->next = net->listeners;
	if (net->listeners)
		net->listeners->prev = l;
	net->listeners = l;
}

KS_API int ks_net_listen(ks_net_t *net, const char *url,
    const ks_tls_config_t *tls, const ks_conn_handler_t *h,
    ks_listener_t **lp)
{
	struct listen_req r = { .tls = tls, .urlstr = url };
	ks_listener_t *l;
	int rc;

	if (lp)
		*lp = NULL;
	if (!net || !url || !h || !h->frame || !lp)
		return KS_EINVAL;
	if (ks_url_parse(url, &r.url) != 0)
		return KS_EINVAL;
	l = calloc(1, sizeof *l);
	if (!l)
		return KS_ENOMEM;
	l->ops = ks_transport_find(r.url.scheme);
	if (!l->ops || (strcmp(r.url.scheme, "tls+tcp") == 0 && !tls)) {
		LOG(net, KS_LOG_ERR, "listen %s: %s", url, l->ops ?
		    "tls+tcp needs a TLS configuration" : "unknown scheme");
		free(l);
		return KS_EINVAL;
	}
	l->net = net;
	l->h = *h;
	r.l = l;
	rc = run_sync(net, listen_fn, &r);
	if (rc == 0)
		rc = r.rc;
	if (rc != 0) {
		free(l);
		return rc;
	}
	*lp = l;
	return 0;
}

KS_API int ks_listener_url(ks_listener_t *l, char *buf, size_t len)
{
	int n;

	if (!l || !buf)
		return KS_EINVAL;
	n = snprintf(buf, len, "%s", l->url);
	return n < 0 || (size_t)n >= len ? KS_EINVAL : 0;
}

KS_API int ks_listener_port(ks_listener_t *l)
{
	return l ? l->port : -1;
}

static void listener_close_fn(void *arg)
{
	listener_free(arg);
}

KS_API void ks_listener_close(ks_listener_t *l)
{
	if (l)
		run_sync(l->net, listener_close_fn, l);
}

/* ---- dialing ------------------------------------------------------------- */

static void dial_unref(struct dial_req *d)
{
	int last, i;

	pthread_mutex_lock(&d->mu);
	last = --d->refs == 0;
	pthread_mutex_unlock(&d->mu);
	if (!last)
		return;
	for (i = 0; i < 5; i++)
		free(d->strs[i]);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

/*
 * The loop's side of a dial ends here, once: hands c to the caller, or,
 * when the caller has given up, closes c without telling its handler.
 */
static void dial_finish(struct dial_req *d, int rc, ks_conn_t *c)
{
	int abandoned;

	pthread_mutex_lock(&d->mu);
	abandoned = d->abandoned;
	d->rc = rc;
	d->conn = c;
	d->done = 1;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	if (abandoned && c) {
		c->h.event = NULL;
		conn_close_now(c, 0);
	}
	dial_unref(d);
}

static void dial_start(void *arg)
{
	struct dial_req *d = arg;
	ks_net_t *net = d->net;
	struct bufferevent *bev = NULL;
	char hp[300];
	ks_conn_t *c;
	int rc, abandoned;

	pthread_mutex_lock(&d->mu);
	abandoned = d->abandoned;
	pthread_mutex_unlock(&d->mu);
	if (abandoned) {
		dial_unref(d);
		return;
	}
	ks__tls_error[0] = '\0';
	rc = d->ops->dial(&d->url, d->has_tls ? &d->tls : NULL, net->base,
	    &bev);
	if (rc != 0) {
		LOG(net, KS_LOG_WARNING, "dial %s: %s%s%s", d->urlstr,
		    ks_strerror(rc), ks__tls_error[0] ? ": " : "",
		    ks__tls_error);
		dial_finish(d, rc, NULL);
		return;
	}
	if (d->url.port >= 0)
		ks__url_hostport(&d->url, hp, sizeof hp);
	else
		snprintf(hp, sizeof hp, "unix");
	c = conn_new(net, bev, &d->h, hp, d->ops);
	if (!c) {
		bufferevent_free(bev);
		dial_finish(d, KS_ENOMEM, NULL);
		return;
	}
	c->dial = d;
	if (d->timeout_ms > 0)
		conn_arm(c, ks__net_now_ms() + d->timeout_ms, ks__net_now_ms());
}

static char *dup_or_null(const char *s, int *fail)
{
	char *p;

	if (!s)
		return NULL;
	p = strdup(s);
	if (!p)
		*fail = 1;
	return p;
}

KS_API int ks_net_dial(ks_net_t *net, const char *url,
    const ks_tls_config_t *tls, int timeout_ms, const ks_conn_handler_t *h,
    ks_conn_t **connp)
{
	struct dial_req *d;
	struct timespec dl;
	int rc, fail = 0, wrc = 0;

	if (connp)
		*connp = NULL;
	if (!net || !url || !h || !h->frame || !connp || cur_loop == net)
		return KS_EINVAL;
	d = calloc(1, sizeof *d);
	if (!d)
		return KS_ENOMEM;
	if (ks_url_parse(url, &d->url) != 0 ||
	    !(d->ops = ks_transport_find(d->url.scheme))) {
		LOG(net, KS_LOG_WARNING, "dial %s: %s", url,
		    d->ops ? "bad URL" : "bad URL or unknown scheme");
		free(d);
		return KS_EINVAL;
	}
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	d->refs = 2;
	d->net = net;
	d->h = *h;
	d->timeout_ms = timeout_ms;
	d->urlstr = d->strs[0] = dup_or_null(url, &fail);
	if (tls) {
		d->has_tls = 1;
		d->tls = *tls;
		d->tls.cert_file = d->strs[1] = dup_or_null(tls->cert_file,
		    &fail);
		d->tls.key_file = d->strs[2] = dup_or_null(tls->key_file,
		    &fail);
		d->tls.ca_file = d->strs[3] = dup_or_null(tls->ca_file, &fail);
		d->tls.server_name = d->strs[4] =
		    dup_or_null(tls->server_name, &fail);
	}
	if (fail) {
		d->refs = 1;
		dial_unref(d);
		return KS_ENOMEM;
	}
	rc = ks_net_call(net, dial_start, d);
	if (rc != 0) {
		d->refs = 1;
		dial_unref(d);
		return rc;
	}
	if (timeout_ms > 0) {
		/* a grace second: the loop's own timer reports first */
		int64_t ms = (int64_t)timeout_ms + 1000;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += ms / 1000;
		dl.tv_nsec += (ms % 1000) * 1000000;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&d->mu);
	while (!d->done && wrc != ETIMEDOUT) {
		if (timeout_ms > 0)
			wrc = pthread_cond_timedwait(&d->cv, &d->mu, &dl);
		else
			pthread_cond_wait(&d->cv, &d->mu);
	}
	if (d->done) {
		rc = d->rc;
		*connp = d->conn;
	} else {
		d->abandoned = 1;
		rc = KS_ETIMEDOUT;
	}
	pthread_mutex_unlock(&d->mu);
	dial_unref(d);
	return rc;
}
