/*
 * client_consumer.c: kstream's consumer on a Kafka cluster: assigned
 * partitions and their positions, Fetch requests kept in flight per leader
 * (prefetch) whose answers the polling thread walks, offsets from
 * ListOffsets and OffsetFetch, commits. Group membership is
 * client_group.c.
 */
#include "client/consumer_impl.h"
#include "kafka/client_impl.h"
#include "log/compress.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define C_REMOTE(c) ((struct ks__rconsumer *)(c)->remote)

void kc_fbuf_unref(struct kc_fbuf *f)
{
	if (f && --f->refs == 0) {
		free(f->data);
		free(f);
	}
}

static struct kc_fbuf *fbuf_new(uint8_t *data, size_t len)
{
	struct kc_fbuf *f = malloc(sizeof *f);
	if (!f)
		return NULL;
	f->refs = 1;
	f->data = data;
	f->len = len;
	return f;
}

/* ---- partitions ---------------------------------------------------------- */

struct kc_cpart *kc_cpart_find(struct ks__rconsumer *r, const char *topic,
    int32_t part)
{
	size_t i;
	if (!topic)
		return NULL;
	for (i = 0; i < r->nparts; i++)
		if (r->parts[i].part == part && !strcmp(r->parts[i].topic, topic))
			return &r->parts[i];
	return NULL;
}

/* Forgets what was fetched for p (a seek, or its removal). */
static void cpart_drop_data(struct kc_cpart *p)
{
	kc_fbuf_unref(p->buf);
	kc_fbuf_unref(p->itbuf);
	p->buf = p->itbuf = NULL;
	p->bp = NULL;
	p->blen = 0;
}

void kc_cpart_remove(struct ks__rconsumer *r, struct kc_cpart *p)
{
	size_t i = (size_t)(p - r->parts);
	cpart_drop_data(p);
	free(p->topic);
	memmove(&r->parts[i], &r->parts[i + 1],
	    (r->nparts - i - 1) * sizeof *r->parts);
	r->nparts--;
}

void kc_cpart_clear(struct ks__rconsumer *r)
{
	while (r->nparts)
		kc_cpart_remove(r, &r->parts[r->nparts - 1]);
}

/* ---- offsets ------------------------------------------------------------- */

/* The leader of topic/part, connected; refreshes metadata once. */
static int leader_of(struct ks__rconsumer *r, const char *topic, int32_t part,
    struct kc_broker **bp)
{
	int32_t id = kc_leader(r->cl, topic, part);
	int rc;

	if (id < 0) {
		if ((rc = kc_metadata(r->cl, &topic, 1, 0)) != 0)
			return rc;
		id = kc_leader(r->cl, topic, part);
	}
	if (id < 0) {
		struct kc_mtopic *t;
		int16_t err = KE_LEADER_NOT_AVAILABLE;
		pthread_mutex_lock(&r->cl->mu);
		t = kc_topic_find(r->cl, topic);
		if (t && t->err)
			err = t->err;
		else if (t && (part < 0 || part >= t->nparts))
			err = KE_UNKNOWN_TOPIC_OR_PARTITION;
		pthread_mutex_unlock(&r->cl->mu);
		if (t && !t->err && err == KE_UNKNOWN_TOPIC_OR_PARTITION)
			return KS_EPARTITION;
		return err ? kc_err(err) : KS_EBROKER;
	}
	if (!(*bp = kc_broker_get(r->cl, id)))
		return KS_EBROKER;
	return kc_broker_connect(*bp);
}

/* ListOffsets: the offset for ts (-2 earliest, -1 latest, or a time; -1
 * out when no record is that late). */
static int list_offset(struct ks__rconsumer *r, const char *topic,
    int32_t part, int64_t ts, int64_t *off)
{
	struct kc_broker *b = NULL;
	struct kc_req *req;
	uint8_t *body;
	size_t len;
	kc_r_t rd;
	int32_t nt, np, i, j;
	int16_t err = KE_UNKNOWN_TOPIC_OR_PARTITION;
	int rc;

	if ((rc = leader_of(r, topic, part, &b)) != 0 ||
	    (rc = kc_req_new(b, KC_LIST_OFFSETS, &req)) != 0)
		return rc;
	kc_w_i32(&req->w, -1); /* replica id: a consumer */
	kc_w_i32(&req->w, 1);
	kc_w_str(&req->w, topic);
	kc_w_i32(&req->w, 1);
	kc_w_i32(&req->w, part);
	kc_w_i64(&req->w, ts);
	if ((rc = kc_call(req, &body, &len)) != 0)
		return rc;
	rd.p = body;
	rd.end = body + len;
	rd.err = 0;
	*off = -1;
	nt = kc_r_array(&rd);
	for (i = 0; i < nt && !rd.err; i++) {
		int match = kc_r_streq(&rd, topic);
		np = kc_r_array(&rd);
		for (j = 0; j < np && !rd.err; j++) {
			int32_t idx = kc_r_i32(&rd);
			int16_t e = kc_r_i16(&rd);
			int64_t o;
			(void)kc_r_i64(&rd); /* timestamp */
			o = kc_r_i64(&rd);
			if (match && idx == part) {
				err = e;
				*off = o;
			}
		}
	}
	free(body);
	if (rd.err)
		return rd.err;
	if (err && kc_retriable(err))
		r->md_stale = 1;
	return kc_err(err);
}

int kc_coordinator(ks_consumer_t *c, struct kc_broker **bp)
{
	struct ks__rconsumer *r = C_REMOTE(c);
	struct kc_broker *b;
	struct kc_req *req;
	uint8_t *body;
	size_t len, l;
	kc_r_t rd;
	int16_t err;
	int32_t id, port;
	char *host;
	int rc = 0, tries;

	for (tries = 0;; tries++) {
		if (r->coord && (rc = kc_broker_connect(r->coord)) == 0) {
			*bp = r->coord;
			return 0;
		}
		r->coord = NULL;
		if (tries >= 5)
			return rc ? rc : KS_ETIMEDOUT;
		if (tries)
			usleep((useconds_t)r->cl->rc.retry_backoff_ms * 1000);
		if ((rc = kc_any_broker(r->cl, &b)) != 0 ||
		    (rc = kc_req_new(b, KC_FIND_COORDINATOR, &req)) != 0)
			continue;
		kc_w_str(&req->w, c->cfg.group_id);
		kc_w_i8(&req->w, 0); /* a group */
		if ((rc = kc_call(req, &body, &len)) != 0)
			continue;
		rd.p = body;
		rd.end = body + len;
		rd.err = 0;
		(void)kc_r_i32(&rd); /* throttle */
		err = kc_r_i16(&rd);
		(void)kc_r_str(&rd, &l);
		id = kc_r_i32(&rd);
		host = kc_r_strdup(&rd);
		port = kc_r_i32(&rd);
		if (!rd.err && !err && host && port > 0 && port < 65536)
			r->coord = kc_broker_learn(r->cl, id, host, port);
		free(host);
		free(body);
		rc = rd.err ? rd.err : err ? kc_err(err) : 0;
		if (rc && !kc_retriable(err))
			return rc;
	}
}

/* OffsetFetch: the group's committed offset of topic/part, -1 if none. */
static int offset_fetch(ks_consumer_t *c, const char *topic, int32_t part,
    int64_t *off)
{
	struct kc_broker *b;
	struct kc_req *req;
	uint8_t *body;
	size_t len, l;
	kc_r_t rd;
	int32_t nt, np, i, j;
	int16_t err = 0;
	int rc;

	*off = -1;
	if ((rc = kc_coordinator(c, &b)) != 0 ||
	    (rc = kc_req_new(b, KC_OFFSET_FETCH, &req)) != 0)
		return rc;
	kc_w_str(&req->w, c->cfg.group_id);
	kc_w_i32(&req->w, 1);
	kc_w_str(&req->w, topic);
	kc_w_i32(&req->w, 1);
	kc_w_i32(&req->w, part);
	if ((rc = kc_call(req, &body, &len)) != 0)
		return rc;
	rd.p = body;
	rd.end = body + len;
	rd.err = 0;
	nt = kc_r_array(&rd);
	for (i = 0; i < nt && !rd.err; i++) {
		int match = kc_r_streq(&rd, topic);
		np = kc_r_array(&rd);
		for (j = 0; j < np && !rd.err; j++) {
			int32_t idx = kc_r_i32(&rd);
			int64_t o = kc_r_i64(&rd);
			int16_t e;
			(void)kc_r_str(&rd, &l); /* metadata */
			e = kc_r_i16(&rd);
			if (match && idx == part) {
				*off = o;
				err = e;
			}
		}
	}
	free(body);
	if (rd.err)
		return rd.err;
	if (err == KE_NOT_COORDINATOR || err == KE_COORDINATOR_NOT_AVAILABLE)
		C_REMOTE(c)->coord = NULL;
	return kc_err(err);
}

/* Resolves an offset spec as the local consumer does: KS_OFFSET_STORED
 * (else auto.offset.reset), KS_OFFSET_BEGINNING, KS_OFFSET_END. */
static int resolve(ks_consumer_t *c, const char *topic, int32_t part,
    int64_t offset, int64_t *pos)
{
	struct ks__rconsumer *r = C_REMOTE(c);
	int rc;

	if (offset == KS_OFFSET_STORED) {
		offset = -1;
		if (c->cfg.group_id && *c->cfg.group_id &&
		    (rc = offset_fetch(c, topic, part, &offset)) != 0)
			return rc;
		if (offset < 0) {
			if (c->cfg.auto_offset_reset == KS_RESET_NONE)
				return KS_ENOOFFSET;
			offset = c->cfg.auto_offset_reset == KS_RESET_EARLIEST ?
			    KS_OFFSET_BEGINNING : KS_OFFSET_END;
		}
	}
	if (offset == KS_OFFSET_BEGINNING || offset == KS_OFFSET_END) {
		if ((rc = list_offset(r, topic, part, offset, &offset)) != 0)
			return rc;
		if (offset < 0)
			return KS_EOFFSET;
	}
	if (offset < 0)
		return KS_EOFFSET;
	*pos = offset;
	return 0;
}

int kc_cpart_add(ks_consumer_t *c, const char *topic, int32_t part,
    int64_t offset)
{
	struct ks__rconsumer *r = C_REMOTE(c);
	struct kc_cpart *p;
	int64_t pos;
	int rc;

	if ((rc = resolve(c, topic, part, offset, &pos)) != 0)
		return rc;
	if (r->nparts % 8 == 0) {
		struct kc_cpart *n = realloc(r->parts,
		    (r->nparts + 8) * sizeof *n);
		if (!n)
			return KS_ENOMEM;
		r->parts = n;
	}
	p = &r->parts[r->nparts];
	memset(p, 0, sizeof *p);
	if (!(p->topic = strdup(topic)))
		return KS_ENOMEM;
	p->part = part;
	p->pos = pos;
	p->hw = -1;
	r->nparts++;
	return 0;
}

int ks__rc_assign(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n)
{
	struct ks__rconsumer *r;
	size_t i;
	int rc;

	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	r = C_REMOTE(c);
	if (r->subscribed || (n && !parts)) {
		rc = KS_EINVAL;
		goto out;
	}
	c->nmsgs = 0;
	kc_cpart_clear(r);
	for (i = 0; i < n && rc == 0; i++) {
		if (!parts[i].topic || parts[i].partition < 0)
			rc = KS_EINVAL;
		else if (kc_cpart_find(r, parts[i].topic, parts[i].partition))
			continue;
		else
			rc = kc_cpart_add(c, parts[i].topic, parts[i].partition,
			    parts[i].offset);
	}
	if (rc)
		kc_cpart_clear(r); /* all or nothing */
	r->next_commit_ns = ks__monotonic_ns() +
	    c->cfg.auto_commit_interval_ms * 1000000;
out:
	ks__consumer_leave(c);
	return rc;
}

/* ---- fetching -------------------------------------------------------------- */

static void fetch_done(void *arg, int err, const uint8_t *body, size_t len)
{
	struct kc_fresp *f = arg;
	ks_consumer_t *c = (ks_consumer_t *)f->next; /* parked there */
	struct ks__rconsumer *r = C_REMOTE(c);
	uint64_t one = 1;
	uint8_t *copy = NULL;

	f->next = NULL;
	f->err = err;
	if (!err && (!(copy = malloc(len ? len : 1)) ||
	        !(f->body = fbuf_new(copy, len)))) {
		free(copy);
		f->err = KS_ENOMEM;
	} else if (!err && len) {
		memcpy(copy, body, len);
	}
	pthread_mutex_lock(&r->mu);
	if (r->qtail)
		r->qtail->next = f;
	else
		r->q = f;
	r->qtail = f;
	pthread_mutex_unlock(&r->mu);
	if (write(c->efd, &one, sizeof one) < 0) {
		/* full: readable anyway */
	}
}

static void fresp_free(struct kc_fresp *f)
{
	size_t i;
	for (i = 0; i < f->nparts; i++)
		free(f->asked[i].topic);
	free(f->asked);
	kc_fbuf_unref(f->body);
	free(f);
}

static int node_busy(struct ks__rconsumer *r, int32_t node)
{
	size_t i;
	for (i = 0; i < r->nbusy; i++)
		if (r->busy_nodes[i] == node)
			return 1;
	return 0;
}

static void node_idle(struct ks__rconsumer *r, int32_t node)
{
	size_t i;
	for (i = 0; i < r->nbusy; i++)
		if (r->busy_nodes[i] == node) {
			r->busy_nodes[i] = r->busy_nodes[--r->nbusy];
			return;
		}
}

/* Sends one Fetch to node for every partition it leads that has nothing
 * buffered, is not paused and is not being fetched. */
static int fetch_from(ks_consumer_t *c, int32_t node)
{
	struct ks__rconsumer *r = C_REMOTE(c);
	const ks_remote_config_t *rc = &r->cl->rc;
	struct kc_broker *b = kc_broker_get(r->cl, node);
	struct kc_fresp *f;
	struct kc_req *req;
	size_t i, k, n = 0;
	int32_t *busy;
	int err;

	if (!b || kc_broker_connect(b) != 0) {
		r->md_stale = 1;
		return 0; /* metadata again, and another try */
	}
	if (!(f = calloc(1, sizeof *f)) ||
	    !(f->asked = calloc(r->nparts, sizeof *f->asked))) {
		free(f);
		return KS_ENOMEM;
	}
	f->node = node;
	for (i = 0; i < r->nparts; i++) {
		struct kc_cpart *p = &r->parts[i];
		if (p->inflight || p->paused || p->bp || p->itbuf ||
		    p->fetch_node != node)
			continue;
		if (!(f->asked[n].topic = strdup(p->topic)))
			break;
		f->asked[n].part = p->part;
		f->asked[n++].off = p->pos;
	}
	f->nparts = n;
	if (n == 0) {
		fresp_free(f);
		return 0;
	}
	if ((err = kc_req_new(b, KC_FETCH, &req)) != 0) {
		fresp_free(f);
		return err;
	}
	kc_w_i32(&req->w, -1); /* replica id */
	kc_w_i32(&req->w, rc->fetch_max_wait_ms);
	kc_w_i32(&req->w, rc->fetch_min_bytes);
	kc_w_i32(&req->w, rc->fetch_max_bytes);
	kc_w_i8(&req->w, 0);   /* read uncommitted */
	/* topics: runs of one name (asked is in assignment order) */
	{
		size_t nt = 0, j;
		for (i = 0; i < n; i++) {
			for (j = 0; j < i; j++)
				if (!strcmp(f->asked[j].topic, f->asked[i].topic))
					break;
			nt += j == i;
		}
		kc_w_i32(&req->w, (int32_t)nt);
		for (i = 0; i < n; i++) {
			size_t cnt = 0;
			for (j = 0; j < i; j++)
				if (!strcmp(f->asked[j].topic, f->asked[i].topic))
					break;
			if (j < i)
				continue;
			for (j = i; j < n; j++)
				cnt += !strcmp(f->asked[j].topic,
				    f->asked[i].topic);
			kc_w_str(&req->w, f->asked[i].topic);
			kc_w_i32(&req->w, (int32_t)cnt);
			for (j = i; j < n; j++)
				if (!strcmp(f->asked[j].topic,
				        f->asked[i].topic)) {
					kc_w_i32(&req->w, f->asked[j].part);
					kc_w_i64(&req->w, f->asked[j].off);
					kc_w_i32(&req->w,
					    rc->max_partition_fetch_bytes);
				}
		}
	}
	if (!(busy = realloc(r->busy_nodes, (r->nbusy + 1) * sizeof *busy))) {
		kc_req_free(req);
		fresp_free(f);
		return KS_ENOMEM;
	}
	r->busy_nodes = busy;
	/* the broker may hold it fetch_max_wait_ms before answering */
	req->deadline_ns = ks__monotonic_ns() + ((int64_t)rc->request_timeout_ms +
	    rc->fetch_max_wait_ms) * 1000000;
	f->next = (struct kc_fresp *)c; /* fetch_done's consumer */
	if ((err = kc_req_send(req, fetch_done, f)) != 0) {
		fresp_free(f);
		r->md_stale = 1;
		return 0;
	}
	busy[r->nbusy++] = node;
	for (k = 0; k < n; k++) {
		struct kc_cpart *p = kc_cpart_find(r, f->asked[k].topic,
		    f->asked[k].part);
		if (p)
			p->inflight = 1;
	}
	return 0;
}

static int refresh_metadata(ks_consumer_t *c)
{
	struct ks__rconsumer *r = C_REMOTE(c);
	const char **names;
	size_t i, n = 0;
	int64_t now = ks__monotonic_ns();
	int rc;

	if (now < r->md_retry_ns)
		return 0;
	r->md_retry_ns = now + (int64_t)r->cl->rc.retry_backoff_ms * 1000000;
	if (!(names = calloc(r->nparts + 1, sizeof *names)))
		return KS_ENOMEM;
	for (i = 0; i < r->nparts; i++)
		names[n++] = r->parts[i].topic;
	rc = n ? kc_metadata(r->cl, names, n, 0) : 0;
	free(names);
	if (rc == 0)
		r->md_stale = 0;
	return 0;
}

/* Every leader with nothing in flight gets a Fetch. */
static int fetch_all(ks_consumer_t *c)
{
	struct ks__rconsumer *r = C_REMOTE(c);
	size_t i, k;
	int rc;

	if (r->md_stale)
		(void)refresh_metadata(c);
	for (i = 0; i < r->nparts; i++) {
		struct kc_cpart *p = &r->parts[i];
		if (!p->inflight)
			p->fetch_node = kc_leader(r->cl, p->topic, p->part);
		if (p->fetch_node < 0)
			r->md_stale = 1;
	}
	for (i = 0; i < r->nparts; i++) {
		int32_t node = r->parts[i].fetch_node;
		if (node < 0 || node_busy(r, node))
			continue;
		for (k = 0; k < i; k++)
			if (r->parts[k].fetch_node == node)
				break;
		if (k < i)
			continue;
		if ((rc = fetch_from(c, node)) != 0)
			return rc;
	}
	return 0;
}

/* Applies one Fetch answer: data to the partitions still at the offsets
 * asked, errors acted on. */
static int fresp_apply(ks_consumer_t *c, struct kc_fresp *f)
{
	struct ks__rconsumer *r = C_REMOTE(c);
	kc_r_t rd;
	int32_t nt, np, t, k, na;
	size_t i;
	int rc = 0;

	node_idle(r, f->node);
	for (i = 0; i < f->nparts; i++) {
		struct kc_cpart *p = kc_cpart_find(r, f->asked[i].topic,
		    f->asked[i].part);
		if (p)
			p->inflight = 0;
	}
	if (f->err) {
		r->md_stale = 1;
		return 0;
	}
	rd.p = f->body->data;
	rd.end = rd.p + f->body->len;
	rd.err = 0;
	(void)kc_r_i32(&rd); /* throttle */
	nt = kc_r_array(&rd);
	for (t = 0; t < nt && !rd.err; t++) {
		size_t tl;
		const char *tn = kc_r_str(&rd, &tl);
		char name[256];
		if (tl >= sizeof name)
			tl = sizeof name - 1;
		if (tn)
			memcpy(name, tn, tl);
		name[tl] = 0;
		np = kc_r_array(&rd);
		for (k = 0; k < np && !rd.err; k++) {
			int32_t idx = kc_r_i32(&rd), a;
			int16_t err = kc_r_i16(&rd);
			int64_t hw = kc_r_i64(&rd);
			const uint8_t *rec;
			size_t rl;
			struct kc_cpart *p;

			(void)kc_r_i64(&rd); /* last stable offset */
			na = kc_r_array(&rd);
			for (a = 0; a < na; a++) {
				(void)kc_r_i64(&rd);
				(void)kc_r_i64(&rd);
			}
			rec = kc_r_bytes(&rd, &rl);
			if (rd.err)
				break;
			p = kc_cpart_find(r, name, idx);
			for (i = 0; p && i < f->nparts; i++)
				if (f->asked[i].part == idx &&
				    !strcmp(f->asked[i].topic, name))
					break;
			/* unassigned meanwhile, or moved by a seek: stale */
			if (!p || i == f->nparts || p->pos != f->asked[i].off ||
			    p->bp || p->itbuf)
				continue;
			if (err == KE_OFFSET_OUT_OF_RANGE) {
				int64_t to = c->cfg.auto_offset_reset ==
				        KS_RESET_EARLIEST ?
				    KS_OFFSET_BEGINNING : KS_OFFSET_END;
				if (c->cfg.auto_offset_reset == KS_RESET_NONE)
					rc = KS_EOFFSET;
				else if (resolve(c, p->topic, p->part, to,
				             &p->pos) != 0)
					r->md_stale = 1;
				continue;
			}
			if (err) {
				if (kc_retriable(err) ||
				    err == KE_UNKNOWN_TOPIC_OR_PARTITION)
					r->md_stale = 1;
				else
					rc = kc_err(err);
				continue;
			}
			p->hw = hw;
			if (rec && rl) {
				p->buf = f->body;
				f->body->refs++;
				p->bp = rec;
				p->blen = rl;
			}
		}
	}
	return rd.err ? rd.err : rc;
}

static int hold(struct ks__rconsumer *r, struct kc_fbuf *f)
{
	if (r->nheld && r->held[r->nheld - 1] == f)
		return 0;
	if (r->nheld == r->capheld) {
		size_t cap = r->capheld ? r->capheld * 2 : 16;
		struct kc_fbuf **n = realloc(r->held, cap * sizeof *n);
		if (!n)
			return KS_ENOMEM;
		r->held = n;
		r->capheld = cap;
	}
	f->refs++;
	r->held[r->nheld++] = f;
	return 0;
}

static void held_release(struct ks__rconsumer *r)
{
	size_t i;
	for (i = 0; i < r->nheld; i++)
		kc_fbuf_unref(r->held[i]);
	r->nheld = 0;
}

/* Loads p's next whole batch into its iterator: 1, 0 when none is left
 * (a cut-short last batch is dropped, as clients do), or an error. */
static int next_batch(struct kc_cpart *p)
{
	ks_batch_info_t bi;
	size_t size;
	int rc;

	kc_fbuf_unref(p->itbuf);
	p->itbuf = NULL;
	if (!p->bp || p->blen < KS_BATCH_LOG_OVERHEAD ||
	    ks_batch_parse(p->bp, p->blen, &bi) != 0) {
		cpart_drop_data(p);
		return 0;
	}
	size = KS_BATCH_LOG_OVERHEAD + (size_t)bi.batch_length;
	if (bi.attributes & KS_BATCH_COMPRESSION_MASK) {
		ks__zbuf_t z = { NULL, 0 };
		size_t zlen;
		if ((rc = ks__batch_inflate(p->bp, size, 0, &z, &zlen)) != 0 ||
		    !(p->itbuf = fbuf_new(z.p, zlen))) {
			ks__zbuf_free(&z);
			cpart_drop_data(p);
			return rc ? rc : KS_ENOMEM;
		}
	} else {
		/* the response itself: batches are not copied */
		p->itbuf = p->buf;
		p->buf->refs++;
	}
	ks_batch_iter_init(&p->it, p->itbuf == p->buf ? p->bp : p->itbuf->data,
	    p->itbuf == p->buf ? size : p->itbuf->len, p->pos);
	p->it_next = bi.base_offset + bi.last_offset_delta + 1;
	p->bp += size;
	p->blen -= size;
	return 1;
}

/* Moves records from the partitions' fetched batches into c->msgs. */
static int take_records(ks_consumer_t *c)
{
	struct ks__rconsumer *r = C_REMOTE(c);
	size_t k, max = c->cfg.max_poll_records;
	int rc = 0;

	for (k = 0; k < r->nparts && c->nmsgs < max; k++) {
		struct kc_cpart *p = &r->parts[(r->rr + k) % r->nparts];
		ks_record_t rec;
		int n;

		if (p->paused)
			continue;
		while (c->nmsgs < max) {
			if (!p->itbuf) {
				if ((n = next_batch(p)) <= 0) {
					rc = n;
					break;
				}
			}
			n = ks_batch_iter_next(&p->it, &rec);
			if (n < 0) {
				cpart_drop_data(p);
				rc = n;
				break;
			}
			if (n == 0) {
				/* past control records and compacted gaps */
				if (p->it_next > p->pos)
					p->pos = p->it_next;
				kc_fbuf_unref(p->itbuf);
				p->itbuf = NULL;
				continue;
			}
			if (rec.offset < p->pos)
				continue;
			if ((rc = hold(r, p->itbuf)) != 0)
				break;
			c->msgs[c->nmsgs].topic = p->topic;
			c->msgs[c->nmsgs].partition = p->part;
			c->msgs[c->nmsgs++].rec = rec;
			p->pos = rec.offset + 1;
		}
		if (rc)
			break;
	}
	r->rr++;
	if (rc && c->nmsgs) {
		c->pending_err = rc;
		rc = 0;
	}
	return rc;
}

static void drain_fd(ks_consumer_t *c)
{
	uint64_t v;
	while (read(c->efd, &v, sizeof v) == sizeof v)
		;
}

/* Auto-commit of an assign()-only consumer with a group id. */
static void autocommit_assigned(ks_consumer_t *c, int64_t now)
{
	struct ks__rconsumer *r = C_REMOTE(c);
	if (r->subscribed || !c->cfg.enable_auto_commit || !c->cfg.group_id ||
	    !*c->cfg.group_id || !r->nparts || now < r->next_commit_ns)
		return;
	r->next_commit_ns = now + c->cfg.auto_commit_interval_ms * 1000000;
	(void)kc_commit(c, NULL, 0, -1, "");
}

int ks__rc_poll(ks_consumer_t *c, int timeout_ms, const ks_message_t **msgs)
{
	struct ks__rconsumer *r;
	int64_t deadline = 0;
	int rc;

	if (msgs)
		*msgs = NULL;
	if (!msgs)
		return KS_EINVAL;
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	r = C_REMOTE(c);
	held_release(r);
	c->nmsgs = 0;
	if (timeout_ms > 0)
		deadline = ks__monotonic_ns() + (int64_t)timeout_ms * 1000000;
	for (;;) {
		int64_t now = ks__monotonic_ns(), wait_ns;
		struct kc_fresp *q, *f;
		struct pollfd pfd;

		drain_fd(c);
		if (c->pending_err) {
			rc = c->pending_err;
			c->pending_err = 0;
			break;
		}
		if ((rc = kc_group_step(c, now)) < 0)
			break;
		autocommit_assigned(c, now);
		pthread_mutex_lock(&r->mu);
		q = r->q;
		r->q = r->qtail = NULL;
		pthread_mutex_unlock(&r->mu);
		while ((f = q)) {
			q = f->next;
			if (rc == 0)
				rc = fresp_apply(c, f);
			fresp_free(f);
		}
		if (rc < 0)
			break;
		if ((rc = take_records(c)) < 0)
			break;
		/* the next batches are on their way while these are used */
		if ((rc = fetch_all(c)) < 0)
			break;
		if (c->nmsgs > 0) {
			rc = (int)c->nmsgs;
			break;
		}
		if (timeout_ms == 0 || (timeout_ms > 0 && now >= deadline)) {
			rc = 0;
			break;
		}
		wait_ns = timeout_ms < 0 ? INT64_MAX : deadline - now;
		wait_ns = KS__MIN(wait_ns, kc_group_due(c, now));
		if (r->md_stale)
			wait_ns = KS__MIN(wait_ns,
			    (int64_t)r->cl->rc.retry_backoff_ms * 1000000);
		pfd.fd = c->efd;
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, wait_ns >= INT32_MAX * 1000000LL ? -1 :
		    (int)((wait_ns + 999999) / 1000000));
	}
	if (rc > 0)
		*msgs = c->msgs;
	ks__consumer_leave(c);
	return rc;
}

void ks__rc_release(ks_consumer_t *c)
{
	if (ks__consumer_enter(c) != 0)
		return;
	held_release(C_REMOTE(c));
	c->nmsgs = 0;
	ks__consumer_leave(c);
}

/* ---- seek, pause, position ---------------------------------------------- */

int ks__rc_seek(ks_consumer_t *c, const char *topic, int32_t partition,
    int64_t offset)
{
	struct kc_cpart *p;
	int64_t pos;
	int rc;

	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	if (!(p = kc_cpart_find(C_REMOTE(c), topic, partition)))
		rc = KS_ENOTASSIGNED;
	else if (offset < 0 && offset != KS_OFFSET_BEGINNING &&
	         offset != KS_OFFSET_END)
		rc = KS_EOFFSET;
	else if ((rc = resolve(c, topic, partition, offset, &pos)) == 0 &&
	         (p = kc_cpart_find(C_REMOTE(c), topic, partition))) {
		cpart_drop_data(p);
		p->pos = pos;
	}
	ks__consumer_leave(c);
	return rc;
}

int ks__rc_seek_time(ks_consumer_t *c, const char *topic, int32_t partition,
    int64_t ts)
{
	struct ks__rconsumer *r;
	struct kc_cpart *p;
	int64_t off;
	int rc;

	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	r = C_REMOTE(c);
	if (!kc_cpart_find(r, topic, partition))
		rc = KS_ENOTASSIGNED;
	else if (ts < 0)
		rc = KS_EINVAL;
	else if ((rc = list_offset(r, topic, partition, ts, &off)) == 0 &&
	         (off >= 0 || (rc = list_offset(r, topic, partition,
	                           KS_OFFSET_END, &off)) == 0) &&
	         (p = kc_cpart_find(r, topic, partition))) {
		cpart_drop_data(p);
		p->pos = off;
	}
	ks__consumer_leave(c);
	return rc;
}

int ks__rc_pause(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n, int paused)
{
	struct ks__rconsumer *r;
	size_t i;
	int rc;

	if (n && !parts)
		return KS_EINVAL;
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	r = C_REMOTE(c);
	for (i = 0; i < n && rc == 0; i++)
		if (!kc_cpart_find(r, parts[i].topic, parts[i].partition))
			rc = KS_ENOTASSIGNED;
	for (i = 0; i < n && rc == 0; i++)
		kc_cpart_find(r, parts[i].topic, parts[i].partition)->paused =
		    paused;
	ks__consumer_leave(c);
	return rc;
}

int ks__rc_position(ks_consumer_t *c, const char *topic, int32_t partition,
    int64_t *offset, int lag)
{
	struct kc_cpart *p;
	int rc;

	if (!offset)
		return KS_EINVAL;
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	if (!(p = kc_cpart_find(C_REMOTE(c), topic, partition))) {
		rc = KS_ENOTASSIGNED;
	} else if (!lag) {
		*offset = p->pos;
	} else {
		int64_t hw = p->hw;
		/* not fetched yet: ask the leader for the end */
		if (hw < 0 && (rc = list_offset(C_REMOTE(c), topic, partition,
		                    KS_OFFSET_END, &hw)) == 0 &&
		    (p = kc_cpart_find(C_REMOTE(c), topic, partition)))
			p->hw = hw;
		if (rc == 0)
			*offset = hw > p->pos ? hw - p->pos : 0;
	}
	ks__consumer_leave(c);
	return rc;
}

int ks__rc_assignment(ks_consumer_t *c, const ks_topic_partition_t **parts,
    size_t *n)
{
	struct ks__rconsumer *r;
	size_t i;
	int rc;

	if (!parts || !n)
		return KS_EINVAL;
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	r = C_REMOTE(c);
	free(c->list);
	if (!(c->list = malloc((r->nparts ? r->nparts : 1) * sizeof *c->list))) {
		rc = KS_ENOMEM;
	} else {
		for (i = 0; i < r->nparts; i++) {
			c->list[i].topic = r->parts[i].topic;
			c->list[i].partition = r->parts[i].part;
			c->list[i].offset = r->parts[i].pos;
		}
		*parts = c->list;
		*n = r->nparts;
	}
	ks__consumer_leave(c);
	return rc;
}

/* ---- commits ----------------------------------------------------------- */

int kc_commit(ks_consumer_t *c, const ks_topic_partition_t *parts, size_t n,
    int32_t generation, const char *member)
{
	struct ks__rconsumer *r = C_REMOTE(c);
	struct kc_broker *b;
	struct kc_req *req;
	uint8_t *body;
	size_t len, i;
	kc_r_t rd;
	int32_t nt, np, t, k;
	int16_t err = 0;
	int rc;

	if (!c->cfg.group_id || !*c->cfg.group_id)
		return KS_EINVAL;
	if (!parts)
		n = r->nparts;
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		int64_t o = parts ? parts[i].offset : r->parts[i].pos;
		if (o < 0 || (parts && !parts[i].topic))
			return KS_EOFFSET;
	}
	if ((rc = kc_coordinator(c, &b)) != 0 ||
	    (rc = kc_req_new(b, KC_OFFSET_COMMIT, &req)) != 0)
		return rc;
	kc_w_str(&req->w, c->cfg.group_id);
	kc_w_i32(&req->w, generation);
	kc_w_str(&req->w, member);
	kc_w_i64(&req->w, -1); /* retention: the broker's */
	/* one topic entry per partition: brokers accept repeated topics */
	kc_w_i32(&req->w, (int32_t)n);
	for (i = 0; i < n; i++) {
		kc_w_str(&req->w, parts ? parts[i].topic : r->parts[i].topic);
		kc_w_i32(&req->w, 1);
		kc_w_i32(&req->w, parts ? parts[i].partition : r->parts[i].part);
		kc_w_i64(&req->w, parts ? parts[i].offset : r->parts[i].pos);
		kc_w_str(&req->w, NULL);
	}
	if ((rc = kc_call(req, &body, &len)) != 0)
		return rc;
	rd.p = body;
	rd.end = body + len;
	rd.err = 0;
	nt = kc_r_array(&rd);
	for (t = 0; t < nt && !rd.err; t++) {
		size_t l;
		(void)kc_r_str(&rd, &l);
		np = kc_r_array(&rd);
		for (k = 0; k < np && !rd.err; k++) {
			int16_t e;
			(void)kc_r_i32(&rd);
			e = kc_r_i16(&rd);
			if (e && !err)
				err = e;
		}
	}
	free(body);
	if (rd.err)
		return rd.err;
	if (err == KE_NOT_COORDINATOR || err == KE_COORDINATOR_NOT_AVAILABLE)
		r->coord = NULL;
	return kc_err(err);
}

int ks__rc_commit(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n, int flags)
{
	int rc;

	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	if (n && !parts)
		rc = KS_EINVAL;
	else if (!c->cfg.group_id || !*c->cfg.group_id)
		rc = KS_EINVAL;
	else
		rc = kc_group_commit(c, parts, n);
	if (rc && (flags & KS_COMMIT_ASYNC)) {
		ks_log_stderr(NULL, KS_LOG_WARNING, ks_strerror(rc));
		rc = 0;
	}
	ks__consumer_leave(c);
	return rc;
}

int ks__rc_committed(ks_consumer_t *c, const char *topic, int32_t partition,
    int64_t *offset)
{
	int rc;
	if (!offset || !topic)
		return KS_EINVAL;
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	if (!c->cfg.group_id || !*c->cfg.group_id)
		rc = KS_EINVAL;
	else
		rc = offset_fetch(c, topic, partition, offset);
	ks__consumer_leave(c);
	return rc;
}

/* ---- lifetime ----------------------------------------------------------- */

void ks__remote_consumer_free(struct ks__rconsumer *r)
{
	struct kc_fresp *f;
	if (!r)
		return;
	/* first the loop: no answer can arrive after this */
	kc_cluster_free(r->cl);
	while ((f = r->q)) {
		r->q = f->next;
		fresp_free(f);
	}
	kc_group_free(r->g);
	held_release(r);
	free(r->held);
	kc_cpart_clear(r);
	free(r->parts);
	free(r->busy_nodes);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

int ks__rc_close(ks_consumer_t *c)
{
	struct ks__rconsumer *r;
	int rc = 0;

	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	r = C_REMOTE(c);
	if (r->subscribed) {
		kc_group_close(c);
	} else if (c->cfg.enable_auto_commit && c->cfg.group_id &&
	           *c->cfg.group_id && r->nparts) {
		rc = kc_commit(c, NULL, 0, -1, "");
	}
	held_release(r);
	ks__remote_consumer_free(r);
	c->remote = NULL;
	ks__consumer_free(c);
	return rc;
}

static char *dup_or_null(const char *s, int *fail)
{
	char *d;
	if (!s)
		return NULL;
	if (!(d = strdup(s)))
		*fail = 1;
	return d;
}

int ks_consumer_connect(const char *bootstrap, const ks_consumer_config_t *cfg,
    const ks_remote_config_t *remote, ks_consumer_t **cp)
{
	struct ks__rconsumer *r;
	ks_consumer_t *c;
	int fail = 0, rc;

	if (!cp)
		return KS_EINVAL;
	*cp = NULL;
	if (!bootstrap || !KC_DISPATCH)
		return KS_EINVAL;
	if (!(c = calloc(1, sizeof *c)))
		return KS_ENOMEM;
	c->efd = -1;
	if (cfg)
		c->cfg = *cfg;
	else
		ks_consumer_config_init(&c->cfg);
	if (c->cfg.max_poll_records == 0)
		c->cfg.max_poll_records = 500;
	if (c->cfg.heartbeat_interval_ms <= 0)
		c->cfg.heartbeat_interval_ms = 3000;
	if (c->cfg.auto_commit_interval_ms <= 0)
		c->cfg.auto_commit_interval_ms = 5000;
	c->cfg.group_id = c->group_id = dup_or_null(c->cfg.group_id, &fail);
	c->cfg.group_instance_id = c->instance_id =
	    dup_or_null(c->cfg.group_instance_id, &fail);
	c->cfg.client_id = c->client_id =
	    dup_or_null(c->cfg.client_id ? c->cfg.client_id : "kstream", &fail);
	c->cfg.assignors = c->assignors = dup_or_null(
	    c->cfg.assignors ? c->cfg.assignors : "range,roundrobin", &fail);
	c->msgs = malloc(c->cfg.max_poll_records * sizeof *c->msgs);
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	r = calloc(1, sizeof *r);
	if (fail || !c->msgs || c->efd < 0 || !r) {
		rc = c->efd < 0 ? -errno : KS_ENOMEM;
		free(r);
		ks__consumer_free(c);
		return rc;
	}
	pthread_mutex_init(&r->mu, NULL);
	c->remote = r;
	if ((rc = kc_cluster_new(bootstrap, remote, c->cfg.client_id,
	         &r->cl)) != 0) {
		ks__remote_consumer_free(r);
		c->remote = NULL;
		ks__consumer_free(c);
		return rc;
	}
	*cp = c;
	return 0;
}
