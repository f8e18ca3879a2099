/*
 * consumer.c: consuming from assigned partitions: positions, zero-copy
 * polls, waiting (an eventfd woken by the logs' watchers), seek, pause.
 * The group side (subscribe, rebalances, commits) is consumer_group.c.
 */
#include "client/consumer_impl.h"
#ifdef KS_WITH_NET
#include "kafka/client_impl.h"
#define KS__REMOTE(c, call) \
	do { \
		if ((c) && (c)->remote) \
			return call; \
	} while (0)
#else
#define KS__REMOTE(c, call) ((void)0)
#endif
#include "log/compress.h"
#include "log/log_metrics.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define KS__FETCH_BYTES (1u << 20) /* read per partition per poll */

void ks_consumer_config_init(ks_consumer_config_t *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->client_id = "kstream";
	cfg->auto_offset_reset = KS_RESET_LATEST;
	cfg->enable_auto_commit = 1;
	cfg->auto_commit_interval_ms = 5000;
	cfg->session_timeout_ms = 45000;
	cfg->rebalance_timeout_ms = 300000;
	cfg->heartbeat_interval_ms = 3000;
	cfg->assignors = "range,roundrobin";
	cfg->max_poll_records = 500;
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

int ks_consumer_new(ks_store_t *store, const ks_consumer_config_t *cfg,
    ks_consumer_t **cp)
{
	ks_consumer_t *c;
	int fail = 0;

	if (!cp)
		return KS_EINVAL;
	*cp = NULL;
	if (!store)
		return KS_EINVAL;
	c = calloc(1, sizeof *c);
	if (!c)
		return KS_ENOMEM;
	c->store = store;
	c->efd = -1;
	if (cfg)
		c->cfg = *cfg;
	else
		ks_consumer_config_init(&c->cfg);
	if (c->cfg.max_poll_records == 0)
		c->cfg.max_poll_records = 500;
	c->cfg.group_id = c->group_id = dup_or_null(c->cfg.group_id, &fail);
	c->cfg.group_instance_id = c->instance_id =
	    dup_or_null(c->cfg.group_instance_id, &fail);
	c->cfg.client_id = c->client_id =
	    dup_or_null(c->cfg.client_id ? c->cfg.client_id : "kstream", &fail);
	c->cfg.assignors = c->assignors = dup_or_null(
	    c->cfg.assignors ? c->cfg.assignors : "range,roundrobin", &fail);
	c->msgs = malloc(c->cfg.max_poll_records * sizeof *c->msgs);
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fail || !c->msgs || c->efd < 0) {
		int rc = c->efd < 0 ? -errno : KS_ENOMEM;
		ks__consumer_free(c);
		return rc;
	}
	*cp = c;
	return 0;
}

/* ---- the one-thread rule ------------------------------------------------ */

/*
 * A consumer is one thread's at a time, but that thread may call in again
 * from a rebalance callback (to commit, seek, pause): the owner may nest.
 *
 * Another thread reads owner while the owner may be writing it, so both
 * busy and owner are accessed atomically only. A thread clears owner before
 * it lets go of busy: otherwise, between another thread's winning of busy
 * and its storing of owner, the thread that left would still find its own
 * id there, take itself for the owner, and nest inside the other's call.
 * No thread has id 0 (glibc's pthread_t is its thread's address).
 */
int ks__consumer_enter(ks_consumer_t *c)
{
	pthread_t self = pthread_self();
	int z = 0;

	if (!c)
		return KS_EINVAL;
	if (__atomic_compare_exchange_n(&c->busy, &z, 1, 0, __ATOMIC_ACQUIRE,
	        __ATOMIC_RELAXED)) {
		__atomic_store_n(&c->owner, self, __ATOMIC_RELAXED);
		return 0;
	}
	/* only the owner can find its own id here (see above) */
	if (pthread_equal(__atomic_load_n(&c->owner, __ATOMIC_RELAXED), self)) {
		__atomic_add_fetch(&c->busy, 1, __ATOMIC_RELAXED);
		return 0;
	}
	return KS_ETHREAD;
}

void ks__consumer_leave(ks_consumer_t *c)
{
	if (__atomic_load_n(&c->busy, __ATOMIC_RELAXED) > 1) {
		__atomic_sub_fetch(&c->busy, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_store_n(&c->owner, (pthread_t)0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->busy, 0, __ATOMIC_RELEASE);
}

/* ---- partitions ----------------------------------------------------------- */

/* Called by appends to an assigned partition, in the appending thread:
 * wakes the consumer only if it said it is about to sleep. */
static void wake(void *arg)
{
	ks_consumer_t *c = arg;
	uint64_t one = 1;
	if (__atomic_exchange_n(&c->armed, 0, __ATOMIC_ACQ_REL) &&
	    write(c->efd, &one, sizeof one) < 0) {
		/* the counter is full: it is readable anyway */
	}
}

static void views_release(ks_consumer_t *c)
{
	size_t i;
	for (i = 0; i < c->nviews; i++)
		ks_log_view_release(&c->views[i]);
	c->nviews = 0;
	c->nz = 0;
}

/*
 * The buffer the next compressed batch of this poll decompresses into: one
 * not holding records already taken. NULL without memory.
 */
static ks__zbuf_t *zbuf_next(ks_consumer_t *c)
{
	if (c->nz == c->capz) {
		size_t cap = c->capz ? c->capz * 2 : 4;
		ks__zbuf_t *nz = realloc(c->zbufs, cap * sizeof *nz);
		if (!nz)
			return NULL;
		memset(nz + c->capz, 0, (cap - c->capz) * sizeof *nz);
		c->zbufs = nz;
		c->capz = cap;
	}
	return &c->zbufs[c->nz];
}

/* Whether the iterator walks records held in z (a batch it decompressed). */
static int walks(const ks_batch_iter_t *bi, const ks__zbuf_t *z)
{
	uintptr_t r = (uintptr_t)bi->_rec, p = (uintptr_t)z->p;
	return z->p && r >= p && r <= p + z->cap;
}

static void part_drop(ks_consumer_t *c, struct ks__cpart *p)
{
	if (p->log)
		(void)ks_log_unwatch(p->log, wake, c);
	ks_topic_release(p->t);
	free(p->topic);
	memset(p, 0, sizeof *p);
}

struct ks__cpart *ks__consumer_find(ks_consumer_t *c, const char *topic,
    int32_t partition)
{
	size_t i;
	if (!topic)
		return NULL;
	for (i = 0; i < c->nparts; i++)
		if (c->parts[i].partition == partition &&
		    strcmp(c->parts[i].topic, topic) == 0)
			return &c->parts[i];
	return NULL;
}

/* Resolves KS_OFFSET_* (and out-of-range offsets, by auto.offset.reset)
 * to a position in p's log. */
int ks__consumer_resolve(ks_consumer_t *c, struct ks__cpart *p,
    int64_t offset, int64_t *pos)
{
	int64_t start = ks_log_start_offset(p->log);
	int64_t end = ks_log_end_offset(p->log);
	int rc;

	if (offset == KS_OFFSET_STORED) {
		if ((rc = ks__consumer_committed(c, p->topic, p->partition,
		         &offset)) != 0)
			return rc;
		if (offset < 0) {
			if (c->cfg.auto_offset_reset == KS_RESET_NONE)
				return KS_ENOOFFSET;
			offset = c->cfg.auto_offset_reset == KS_RESET_EARLIEST ?
			    KS_OFFSET_BEGINNING : KS_OFFSET_END;
		}
	}
	if (offset == KS_OFFSET_BEGINNING)
		offset = start;
	else if (offset == KS_OFFSET_END)
		offset = end;
	if (offset < start || offset > end)
		return KS_EOFFSET;
	*pos = offset;
	return 0;
}

int ks__consumer_add(ks_consumer_t *c, const char *topic, int32_t partition,
    int64_t offset)
{
	struct ks__cpart *p;
	int rc;

	if (c->nparts == c->capparts) {
		size_t cap = c->capparts ? c->capparts * 2 : 8;
		struct ks__cpart *n = realloc(c->parts, cap * sizeof *n);
		if (!n)
			return KS_ENOMEM;
		c->parts = n;
		c->capparts = cap;
	}
	p = &c->parts[c->nparts];
	memset(p, 0, sizeof *p);
	p->partition = partition;
	if (!(p->topic = strdup(topic)))
		return KS_ENOMEM;
	if ((rc = ks_topic_open(c->store, topic, &p->t)) != 0 ||
	    (rc = ks_topic_partition(p->t, partition, &p->log)) != 0 ||
	    (rc = ks__consumer_resolve(c, p, offset, &p->pos)) != 0 ||
	    ((rc = ks_log_watch(p->log, wake, c)) != 0 &&
	        rc != KS_ERDONLY)) {
		if (rc != KS_ETOPIC && p->log)
			(void)ks_log_unwatch(p->log, wake, c);
		p->log = NULL;
		ks_topic_release(p->t);
		free(p->topic);
		return rc;
	}
	if (rc == KS_ERDONLY)
		c->rdonly = 1; /* no wake-ups: poll looks every millisecond */
	c->nparts++;
	return 0;
}

void ks__consumer_remove(ks_consumer_t *c, struct ks__cpart *p)
{
	size_t i = (size_t)(p - c->parts);
	part_drop(c, p);
	memmove(&c->parts[i], &c->parts[i + 1],
	    (c->nparts - i - 1) * sizeof *c->parts);
	c->nparts--;
}

void ks__consumer_clear(ks_consumer_t *c)
{
	while (c->nparts)
		ks__consumer_remove(c, &c->parts[c->nparts - 1]);
}

int ks_consumer_assign(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n)
{
	size_t i;
	int rc;

	KS__REMOTE(c, ks__rc_assign(c, parts, n));
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	if (c->subscribed || (n && !parts)) {
		rc = KS_EINVAL;
		goto out;
	}
	views_release(c);
	c->nmsgs = 0;
	ks__consumer_clear(c);
	for (i = 0; i < n && rc == 0; i++)
		rc = ks__consumer_add(c, parts[i].topic, parts[i].partition,
		    parts[i].offset);
	if (rc)
		ks__consumer_clear(c); /* all or nothing */
out:
	ks__consumer_leave(c);
	return rc;
}

/* ---- polling ---------------------------------------------------------------- */

/* Reads what is ready from the unpaused partitions into c->msgs. */
static int fetch(ks_consumer_t *c)
{
	size_t k, max = c->cfg.max_poll_records;
	int rc = 0;

	for (k = 0; k < c->nparts && c->nmsgs < max; k++) {
		struct ks__cpart *p = &c->parts[(c->rr + k) % c->nparts];
		ks_log_view_t v;
		ks_batch_iter_t bi;
		ks_record_t rec;
		ks_message_t *m;
		size_t before = c->nmsgs;
		const uint8_t *batch = NULL; /* where the current batch began */
		uint64_t done = 0;           /* bytes of the batches finished */
		int r = 0;

		if (p->paused)
			continue;
		/* A poll may use only part of the view and read the rest
		 * again next time: it counts what it delivers itself (the
		 * records, and the batches it finished), not the view. */
		rc = ks__log_read_uncounted(p->log, p->pos, KS__FETCH_BYTES,
		    &v);
		if (rc == KS_EOFFSET) {
			/* retention or truncation overtook us: Kafka's
			 * out-of-range handling, by auto.offset.reset */
			int64_t to = c->cfg.auto_offset_reset ==
			        KS_RESET_EARLIEST ?
			    KS_OFFSET_BEGINNING : KS_OFFSET_END;
			if (c->cfg.auto_offset_reset == KS_RESET_NONE) {
				rc = KS_EOFFSET;
				goto fail;
			}
			if ((rc = ks__consumer_resolve(c, p, to, &p->pos)) != 0)
				goto fail;
			rc = ks__log_read_uncounted(p->log, p->pos,
			    KS__FETCH_BYTES, &v);
		}
		if (rc)
			goto fail;
		if (v.len == 0) {
			/* a gap to the end (compaction): step over it */
			if (v.next_offset > p->pos)
				p->pos = v.next_offset;
			continue;
		}
		ks_batch_iter_init(&bi, v.data, v.len, p->pos);
		/* Uncompressed records point into the view (zero copy);
		 * each compressed batch that yields records gets its own
		 * buffer, so all stay valid until the next poll. */
		while (c->nmsgs < max) {
			ks__zbuf_t *z = zbuf_next(c);
			const uint8_t *at = bi._buf;
			if (!z) {
				r = KS_ENOMEM;
				break;
			}
			if ((r = ks__batch_iter_next_z(&bi, &rec, z)) <= 0)
				break;
			if (bi._buf != at)
				batch = at; /* a batch was loaded */
			if (walks(&bi, z))
				c->nz++;
			m = &c->msgs[c->nmsgs++];
			m->topic = p->topic;
			m->partition = p->partition;
			m->rec = rec;
			p->pos = rec.offset + 1;
			if (bi._left == 0 && batch) /* its last record */
				done += (uint64_t)(bi._buf - batch);
		}
		if (c->nmsgs == before && r == 0) {
			/* a batch of control records only: step over it */
			p->pos = v.next_offset;
			done = v.len;
		}
		ks__log_count_out(p->log, c->nmsgs - before, done);
		if (r < 0 && c->nmsgs == before) {
			ks_log_view_release(&v);
			rc = r;
			goto fail;
		}
		if (c->nmsgs > before) {
			/* the view keeps the records' bytes mapped */
			if (c->nviews == c->capviews) {
				size_t cap = c->capviews ? c->capviews * 2 : 8;
				ks_log_view_t *nv = realloc(c->views,
				    cap * sizeof *nv);
				if (!nv) {
					ks_log_view_release(&v);
					c->nmsgs = before;
					return KS_ENOMEM;
				}
				c->views = nv;
				c->capviews = cap;
			}
			c->views[c->nviews++] = v;
		} else {
			ks_log_view_release(&v);
		}
	}
	c->rr++;
	return 0;
fail:
	/* Records already taken are returned; the error comes next time. */
	if (c->nmsgs > 0) {
		c->pending_err = rc;
		return 0;
	}
	return rc;
}

/* Whether some unpaused partition has records past its position. */
static int ready(ks_consumer_t *c)
{
	size_t i;
	for (i = 0; i < c->nparts; i++)
		if (!c->parts[i].paused &&
		    ks_log_end_offset(c->parts[i].log) > c->parts[i].pos)
			return 1;
	return 0;
}

static void drain_fd(ks_consumer_t *c)
{
	uint64_t v;
	while (read(c->efd, &v, sizeof v) == sizeof v)
		;
}

int ks_consumer_poll(ks_consumer_t *c, int timeout_ms,
    const ks_message_t **msgs)
{
	int64_t deadline = 0;
	int rc;

	KS__REMOTE(c, ks__rc_poll(c, timeout_ms, msgs));
	if (msgs)
		*msgs = NULL;
	if (!msgs)
		return KS_EINVAL;
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	views_release(c);
	c->nmsgs = 0;
	if (timeout_ms > 0)
		deadline = ks__monotonic_ns() + (int64_t)timeout_ms * 1000000;
	for (;;) {
		int64_t now = ks__monotonic_ns(), wait_ns;
		struct pollfd pfd;

		drain_fd(c);
		if (c->pending_err) {
			rc = c->pending_err;
			c->pending_err = 0;
			break;
		}
		if ((rc = ks__consumer_group_step(c, now)) < 0)
			break;
		if ((rc = fetch(c)) < 0)
			break;
		if (c->nmsgs > 0) {
			rc = (int)c->nmsgs;
			break;
		}
		/* Arm the watchers (the fd is readable after a poll that
		 * returned nothing), then look once more: an append between
		 * the fetch and the arming would otherwise go unnoticed. */
		__atomic_store_n(&c->armed, 1, __ATOMIC_SEQ_CST);
		if (ready(c))
			continue;
		if (timeout_ms == 0 || (timeout_ms > 0 && now >= deadline)) {
			rc = 0;
			break;
		}
		if (c->cfg.busy_poll) {
			sched_yield();
			continue;
		}
		wait_ns = timeout_ms < 0 ? INT64_MAX : deadline - now;
		wait_ns = KS__MIN(wait_ns, ks__consumer_group_due(c, now));
		/* a read-only store's writer is another process, whose
		 * appends wake nobody here: look every millisecond */
		if (c->rdonly)
			wait_ns = KS__MIN(wait_ns, 1000000);
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

void ks_consumer_release(ks_consumer_t *c)
{
#ifdef KS_WITH_NET
	if (c && c->remote) {
		ks__rc_release(c);
		return;
	}
#endif
	if (!c || ks__consumer_enter(c) != 0)
		return;
	views_release(c);
	c->nmsgs = 0;
	ks__consumer_leave(c);
}

int ks_consumer_fd(ks_consumer_t *c)
{
	if (!c)
		return KS_EINVAL;
	/* Whoever waits on the fd is about to sleep: arm the watchers. */
	__atomic_store_n(&c->armed, 1, __ATOMIC_SEQ_CST);
	return c->efd;
}

/* ---- seek, pause, position -------------------------------------------- */

int ks_consumer_seek(ks_consumer_t *c, const char *topic, int32_t partition,
    int64_t offset)
{
	struct ks__cpart *p;
	int rc;

	KS__REMOTE(c, ks__rc_seek(c, topic, partition, offset));
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	if (!(p = ks__consumer_find(c, topic, partition)))
		rc = KS_ENOTASSIGNED;
	else if (offset < 0 && offset != KS_OFFSET_BEGINNING &&
	         offset != KS_OFFSET_END)
		rc = KS_EOFFSET;
	else
		rc = ks__consumer_resolve(c, p, offset, &p->pos);
	ks__consumer_leave(c);
	return rc;
}

int ks_consumer_seek_time(ks_consumer_t *c, const char *topic,
    int32_t partition, int64_t ts)
{
	struct ks__cpart *p;
	int64_t off;
	int rc;

	KS__REMOTE(c, ks__rc_seek_time(c, topic, partition, ts));
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	if (!(p = ks__consumer_find(c, topic, partition)))
		rc = KS_ENOTASSIGNED;
	else if ((rc = ks_log_offset_for_time(p->log, ts, &off)) == 0)
		p->pos = off >= 0 ? off : ks_log_end_offset(p->log);
	ks__consumer_leave(c);
	return rc;
}

static int set_paused(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n, int paused)
{
	size_t i;
	int rc;

	KS__REMOTE(c, ks__rc_pause(c, parts, n, paused));
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	for (i = 0; i < n && rc == 0; i++)
		if (!ks__consumer_find(c, parts[i].topic, parts[i].partition))
			rc = KS_ENOTASSIGNED;
	for (i = 0; i < n && rc == 0; i++)
		ks__consumer_find(c, parts[i].topic, parts[i].partition)
		    ->paused = paused;
	ks__consumer_leave(c);
	return rc;
}

int ks_consumer_pause(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n)
{
	return n && !parts ? KS_EINVAL : set_paused(c, parts, n, 1);
}

int ks_consumer_resume(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n)
{
	return n && !parts ? KS_EINVAL : set_paused(c, parts, n, 0);
}

int ks_consumer_position(ks_consumer_t *c, const char *topic,
    int32_t partition, int64_t *offset)
{
	struct ks__cpart *p;
	int rc;

	KS__REMOTE(c, ks__rc_position(c, topic, partition, offset, 0));
	if (!offset)
		return KS_EINVAL;
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	if (!(p = ks__consumer_find(c, topic, partition)))
		rc = KS_ENOTASSIGNED;
	else
		*offset = p->pos;
	ks__consumer_leave(c);
	return rc;
}

int ks_consumer_lag(ks_consumer_t *c, const char *topic, int32_t partition,
    int64_t *lag)
{
	struct ks__cpart *p;
	int rc;

	KS__REMOTE(c, ks__rc_position(c, topic, partition, lag, 1));
	if (!lag)
		return KS_EINVAL;
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	if (!(p = ks__consumer_find(c, topic, partition)))
		rc = KS_ENOTASSIGNED;
	else
		*lag = ks_log_end_offset(p->log) - p->pos;
	ks__consumer_leave(c);
	return rc;
}

int ks_consumer_assignment(ks_consumer_t *c,
    const ks_topic_partition_t **parts, size_t *n)
{
	size_t i;
	int rc;

	KS__REMOTE(c, ks__rc_assignment(c, parts, n));
	if (!parts || !n)
		return KS_EINVAL;
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	free(c->list);
	c->list = malloc((c->nparts ? c->nparts : 1) * sizeof *c->list);
	if (!c->list) {
		rc = KS_ENOMEM;
	} else {
		for (i = 0; i < c->nparts; i++) {
			c->list[i].topic = c->parts[i].topic;
			c->list[i].partition = c->parts[i].partition;
			c->list[i].offset = c->parts[i].pos;
		}
		*parts = c->list;
		*n = c->nparts;
	}
	ks__consumer_leave(c);
	return rc;
}

/* ---- lifetime ------------------------------------------------------------ */

void ks__consumer_free(ks_consumer_t *c)
{
	views_release(c);
	ks__consumer_clear(c);
	free(c->parts);
	free(c->views);
	for (size_t i = 0; i < c->capz; i++)
		ks__zbuf_free(&c->zbufs[i]);
	free(c->zbufs);
	free(c->msgs);
	free(c->list);
	free(c->group_id);
	free(c->instance_id);
	free(c->client_id);
	free(c->assignors);
	if (c->efd >= 0)
		close(c->efd);
	free(c);
}

int ks_consumer_close(ks_consumer_t *c)
{
	int rc;
	if (!c)
		return 0;
	KS__REMOTE(c, ks__rc_close(c));
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	rc = ks__consumer_group_close(c);
	ks__consumer_free(c);
	return rc;
}
