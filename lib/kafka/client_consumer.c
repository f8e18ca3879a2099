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
	p->blen = p->cur = 0;
	p->bad = 0;
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
		int16_t err = KP_LEADER_NOT_AVAILABLE;
		pthread_mutex_lock(&r->cl->mu);
		t = kc_topic_find(r->cl, topic);
		if (t && t->err)
			err = t->err;
		else if (t && (part < 0 || part >= t->nparts))
			err = KP_UNKNOWN_TOPIC_OR_PARTITION;
		pthread_mutex_unlock(&r->cl->mu);
		if (t && !t->err && err == KP_UNKNOWN_TOPIC_OR_PARTITION)
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
	kp_list_offsets_req_t q;
	kp_list_offsets_req_topic_t qt;
	kp_list_offsets_req_part_t qp;
	kp_list_offsets_resp_t m;
	struct kc_broker *b = NULL;
	kc_resp_t keep;
	int16_t err = KP_UNKNOWN_TOPIC_OR_PARTITION;
	int32_t i, j;
	int rc;

	*off = -1;
	if ((rc = leader_of(r, topic, part, &b)) != 0)
		return rc;
	/* v0 answers a time with the segments before it: not a search */
	if (ts >= 0 && kc_version(b, KP_LIST_OFFSETS) < 1)
		return kc_err(KP_UNSUPPORTED_VERSION);
	memset(&q, 0, sizeof q);
	memset(&keep, 0, sizeof keep);
	q.replica_id = -1; /* a consumer */
	q.n_topics = 1;
	q.topics = &qt;
	qt.name = kp_cstr(topic);
	qt.n_partitions = 1;
	qt.partitions = &qp;
	qp.partition = part;
	qp.timestamp = ts;
	qp.max_num_offsets = 1;
	rc = KC_RPC(b, KP_LIST_OFFSETS, &q, &m, &keep);
	for (i = 0; rc == 0 && i < m.n_topics; i++)
		for (j = 0; kp_str_eq_c(m.topics[i].name, topic) &&
		     j < m.topics[i].n_partitions; j++)
			if (m.topics[i].partitions[j].partition == part) {
				err = m.topics[i].partitions[j].error_code;
				*off = m.topics[i].partitions[j].offset;
			}
	kc_resp_free(&keep);
	if (rc)
		return rc;
	if (err && kc_retriable(err))
		r->md_stale = 1;
	return kc_err(err);
}

int kc_coordinator(ks_consumer_t *c, struct kc_broker **bp)
{
	struct ks__rconsumer *r = C_REMOTE(c);
	kp_find_coordinator_req_t q;
	kp_find_coordinator_resp_t m;
	struct kc_broker *b;
	kc_resp_t keep;
	int rc = 0, tries;

	memset(&q, 0, sizeof q);
	q.key = kp_cstr(c->cfg.group_id);
	q.key_type = 0; /* a group */
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
		if ((rc = kc_any_broker(r->cl, &b)) != 0)
			continue;
		memset(&keep, 0, sizeof keep);
		if ((rc = KC_RPC(b, KP_FIND_COORDINATOR, &q, &m, &keep)) != 0) {
			kc_resp_free(&keep);
			if (rc == KS_ECORRUPT)
				return rc;
			continue;
		}
		if (!m.error_code && m.host.len > 0 && m.port > 0 &&
		    m.port < 65536)
			r->coord = kc_broker_learn(r->cl, m.node_id, m.host.s,
			    m.port);
		kc_resp_free(&keep);
		rc = kc_err(m.error_code);
		if (rc && !kc_retriable(m.error_code))
			return rc;
	}
}

/* OffsetFetch: the group's committed offset of topic/part, -1 if none. */
static int offset_fetch(ks_consumer_t *c, const char *topic, int32_t part,
    int64_t *off)
{
	kp_offset_fetch_req_t q;
	kp_offset_fetch_req_topic_t qt;
	kp_offset_fetch_resp_t m;
	struct kc_broker *b;
	kc_resp_t keep;
	int16_t err = 0;
	int32_t i, j;
	int rc;

	*off = -1;
	if ((rc = kc_coordinator(c, &b)) != 0)
		return rc;
	memset(&q, 0, sizeof q);
	memset(&keep, 0, sizeof keep);
	q.group_id = kp_cstr(c->cfg.group_id);
	q.n_topics = 1;
	q.topics = &qt;
	qt.name = kp_cstr(topic);
	qt.n_partitions = 1;
	qt.partitions = &part;
	rc = KC_RPC(b, KP_OFFSET_FETCH, &q, &m, &keep);
	for (i = 0; rc == 0 && i < m.n_topics; i++)
		for (j = 0; kp_str_eq_c(m.topics[i].name, topic) &&
		     j < m.topics[i].n_partitions; j++)
			if (m.topics[i].partitions[j].partition == part) {
				*off = m.topics[i].partitions[j].offset;
				err = m.topics[i].partitions[j].error_code;
			}
	if (rc == 0 && !err)
		err = m.error_code; /* v2+: the group's own */
	kc_resp_free(&keep);
	if (rc)
		return rc;
	if (err == KP_NOT_COORDINATOR || err == KP_COORDINATOR_NOT_AVAILABLE)
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
	uint8_t *copy;

	f->next = NULL;
	f->err = kc_body_copy(err, body, len, &copy);
	if (copy && !(f->body = fbuf_new(copy, len))) {
		free(copy);
		f->err = KS_ENOMEM;
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

/* The Fetch request for f->asked: one topic entry per topic, with its
 * partitions in the order asked; no fetch session (id 0, epoch -1: every
 * answer is whole). */
static int fetch_req(ks_consumer_t *c, struct kc_broker *b,
    const struct kc_fresp *f, struct kc_req **reqp)
{
	const ks_remote_config_t *rc = &C_REMOTE(c)->cl->rc;
	kp_fetch_req_t q;
	kp_fetch_req_part_t *parts;
	size_t i, j, n = f->nparts, np = 0;
	int err;

	memset(&q, 0, sizeof q);
	q.replica_id = -1;
	q.max_wait_ms = rc->fetch_max_wait_ms;
	q.min_bytes = rc->fetch_min_bytes;
	q.max_bytes = rc->fetch_max_bytes;
	q.isolation_level = 0; /* read uncommitted */
	q.session_id = 0;
	q.session_epoch = -1;
	q.rack_id = kp_cstr("");
	q.topics = calloc(n, sizeof *q.topics);
	parts = calloc(n, sizeof *parts);
	if (!q.topics || !parts) {
		free(q.topics);
		free(parts);
		return KS_ENOMEM;
	}
	for (i = 0; i < n; i++) {
		kp_fetch_req_topic_t *t;
		for (j = 0; j < i; j++)
			if (!strcmp(f->asked[j].topic, f->asked[i].topic))
				break;
		if (j < i)
			continue; /* listed with its topic's first */
		t = &q.topics[q.n_topics++];
		t->topic = kp_cstr(f->asked[i].topic);
		t->partitions = &parts[np];
		for (j = i; j < n; j++) {
			kp_fetch_req_part_t *p;
			if (strcmp(f->asked[j].topic, f->asked[i].topic))
				continue;
			p = &parts[np++];
			t->n_partitions++;
			p->partition = f->asked[j].part;
			p->current_leader_epoch = -1;
			p->fetch_offset = f->asked[j].off;
			p->log_start_offset = -1;
			p->partition_max_bytes = rc->max_partition_fetch_bytes;
		}
	}
	err = kc_req_new(b, KP_FETCH, &q, reqp);
	free(q.topics);
	free(parts);
	return err;
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
	if ((err = fetch_req(c, b, f, &req)) != 0) {
		fresp_free(f);
		return err;
	}
	f->ver = req->ver;
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
	kp_fetch_resp_t m;
	kp_arena_t arena;
	int32_t t, k;
	size_t i;
	int rc = 0, derr;

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
	kp_arena_init(&arena);
	derr = kc_decode(KP_FETCH, f->ver, f->body->data, f->body->len, &arena,
	    &m, sizeof m);
	if (derr == 0 && m.error_code) { /* v7+: the request's own */
		if (kc_retriable(m.error_code))
			r->md_stale = 1;
		else
			rc = kc_err(m.error_code);
		m.n_topics = 0;
	}
	for (t = 0; derr == 0 && t < m.n_topics; t++) {
		const kp_fetch_resp_topic_t *mt = &m.topics[t];
		for (k = 0; k < mt->n_partitions; k++) {
			const kp_fetch_resp_part_t *mp = &mt->partitions[k];
			struct kc_cpart *p = kc_cpart_find(r, mt->topic.s,
			    mp->partition);
			for (i = 0; p && i < f->nparts; i++)
				if (f->asked[i].part == mp->partition &&
				    !strcmp(f->asked[i].topic, mt->topic.s))
					break;
			/* unassigned meanwhile, or moved by a seek: stale */
			if (!p || i == f->nparts || p->pos != f->asked[i].off ||
			    p->bp || p->itbuf)
				continue;
			if (mp->error_code == KP_OFFSET_OUT_OF_RANGE) {
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
			if (mp->error_code) {
				if (kc_retriable(mp->error_code) ||
				    mp->error_code ==
				        KP_UNKNOWN_TOPIC_OR_PARTITION)
					r->md_stale = 1;
				else
					rc = kc_err(mp->error_code);
				continue;
			}
			p->hw = mp->high_watermark;
			if (mp->records.len > 0) {
				/* zero copy: the records point into the body */
				p->buf = f->body;
				f->body->refs++;
				p->bp = mp->records.p;
				p->blen = (size_t)mp->records.len;
			}
		}
	}
	kp_arena_free(&arena);
	return derr ? derr : rc;
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

/* A failure of p's batch at bp: kept there, and repeated at every poll
 * until a seek (or pause, or unassignment), as the local consumer does
 * with a damaged log; out of memory only is worth another try. */
static int batch_bad(struct kc_cpart *p, int rc)
{
	kc_fbuf_unref(p->itbuf);
	p->itbuf = NULL;
	if (rc == KS_ENOMEM)
		return rc;
	p->bad = rc == KS_ECOMPRESSION ? rc : KS_ECORRUPT;
	return p->bad;
}

/*
 * Loads the first whole batch at p->bp that may hold p->pos into p's
 * iterator, checking its CRC (and, uncompressed, its records): 1, 0 when
 * none is left (a cut-short last batch is dropped, as clients do: it comes
 * whole with the next Fetch), or an error for a damaged one, where bp
 * stays. The batch leaves bp when it is walked (batch_done).
 */
static int next_batch(struct kc_cpart *p)
{
	ks_batch_info_t bi;
	int32_t len;
	size_t size;
	int rc;

	if (p->bad)
		return p->bad;
	for (;;) {
		if (!p->bp || p->blen < KS_BATCH_LOG_OVERHEAD)
			break;
		len = (int32_t)ks__be32(p->bp + 8); /* after baseOffset */
		if (len >= 0 && (size_t)len > p->blen - KS_BATCH_LOG_OVERHEAD)
			break; /* cut short */
		size = KS_BATCH_LOG_OVERHEAD + (size_t)(len < 0 ? 0 : len);
		if ((rc = ks_batch_parse(p->bp, size, &bi)) != 0)
			return batch_bad(p, rc);
		if (bi.base_offset + bi.last_offset_delta < p->pos) {
			p->bp += size; /* wholly before the position */
			p->blen -= size;
			continue;
		}
		if ((rc = ks_batch_validate(p->bp, size, &bi)) != 0)
			return batch_bad(p, rc);
		if (bi.attributes & KS_BATCH_COMPRESSION_MASK) {
			ks__zbuf_t z = { NULL, 0 };
			size_t zlen;
			if ((rc = ks__batch_inflate(p->bp, size, 0, &z,
			         &zlen)) != 0 ||
			    !(p->itbuf = fbuf_new(z.p, zlen))) {
				ks__zbuf_free(&z);
				return batch_bad(p, rc ? rc : KS_ENOMEM);
			}
			ks_batch_iter_init(&p->it, z.p, zlen, p->pos);
		} else {
			/* the response itself: batches are not copied */
			p->itbuf = p->buf;
			p->buf->refs++;
			ks_batch_iter_init(&p->it, p->bp, size, p->pos);
		}
		p->it_next = bi.base_offset + bi.last_offset_delta + 1;
		p->cur = size;
		return 1;
	}
	cpart_drop_data(p);
	return 0;
}

/* p's batch at bp is walked: the position goes past it (control records,
 * compacted gaps) and bp to the next. */
static void batch_done(struct kc_cpart *p)
{
	if (p->it_next > p->pos)
		p->pos = p->it_next;
	kc_fbuf_unref(p->itbuf);
	p->itbuf = NULL;
	p->bp += p->cur;
	p->blen -= p->cur;
	p->cur = 0;
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
				rc = batch_bad(p, n);
				break;
			}
			if (n == 0) {
				batch_done(p);
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
	kp_offset_commit_req_t q;
	kp_offset_commit_req_part_t *qp;
	kp_offset_commit_resp_t m;
	struct kc_broker *b;
	kc_resp_t keep;
	size_t i;
	int32_t t, k;
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
	if ((rc = kc_coordinator(c, &b)) != 0)
		return rc;
	memset(&q, 0, sizeof q);
	memset(&keep, 0, sizeof keep);
	q.group_id = kp_cstr(c->cfg.group_id);
	q.generation_id = generation;
	q.member_id = kp_cstr(member);
	/* a static member names itself (v7+) while it is one */
	q.group_instance_id = kp_cstr(generation >= 0 ?
	    c->cfg.group_instance_id : NULL);
	q.retention_time_ms = -1; /* the broker's */
	/* one topic entry per partition: brokers accept repeated topics */
	q.topics = calloc(n, sizeof *q.topics);
	qp = calloc(n, sizeof *qp);
	if (!q.topics || !qp) {
		free(q.topics);
		free(qp);
		return KS_ENOMEM;
	}
	q.n_topics = (int32_t)n;
	for (i = 0; i < n; i++) {
		q.topics[i].name = kp_cstr(parts ? parts[i].topic :
		    r->parts[i].topic);
		q.topics[i].n_partitions = 1;
		q.topics[i].partitions = &qp[i];
		qp[i].partition = parts ? parts[i].partition : r->parts[i].part;
		qp[i].offset = parts ? parts[i].offset : r->parts[i].pos;
		qp[i].leader_epoch = -1;
		qp[i].commit_timestamp = -1;
		qp[i].metadata = kp_cstr(NULL);
	}
	rc = KC_RPC(b, KP_OFFSET_COMMIT, &q, &m, &keep);
	free(q.topics);
	free(qp);
	for (t = 0; rc == 0 && t < m.n_topics; t++)
		for (k = 0; k < m.topics[t].n_partitions; k++)
			if (!err)
				err = m.topics[t].partitions[k].error_code;
	kc_resp_free(&keep);
	if (rc)
		return rc;
	if (err == KP_NOT_COORDINATOR || err == KP_COORDINATOR_NOT_AVAILABLE)
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
