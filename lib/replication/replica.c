/*
 * replica.c: one partition replica on this member, as leader or follower.
 *
 * Leader. Followers fetch with their replica id; each fetch offset is the
 * follower's log end (it asks for what it lacks). A follower is caught up
 * when it asked for everything the leader had at its previous fetch, or
 * has everything now (Kafka's rule: lastCaughtUpTime). The high watermark
 * is the least log end over the in-sync replicas, the leader's included;
 * it only grows while this member leads, and it waits while an in-sync
 * follower's log end is not yet known (just after the election). An
 * in-sync follower not caught up for replica.lag.time.max.ms is proposed
 * out of the ISR; a follower that reached the high watermark and the start
 * of this leader's epoch is proposed in. Proposals go to the controller
 * (cluster.c), which takes them only if the leader and partition epochs
 * still hold: a leader fenced meanwhile changes nothing, and since its ISR
 * still names followers that now fetch elsewhere its high watermark stops,
 * so it acknowledges no acks=-1 write.
 *
 * Follower. Before fetching in a new leader epoch it asks the leader where
 * its own last epoch ends (OffsetForLeaderEpoch, fetcher.c) and cuts its
 * log there, so it keeps nothing the leader never had; then it appends
 * what it fetches with the leader's offsets and epochs, and takes the
 * leader's high watermark (never above its own log end).
 *
 * Leader epochs. Each replica keeps where every epoch begins in its log,
 * read from the batches' headers when it opens and kept as it appends and
 * truncates (Kafka keeps the same list in leader-epoch-checkpoint; here it
 * is rebuilt, which costs a walk over the batch headers at open).
 */
#include "replication/repl_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t ks__rnow_ms(void)
{
	return ks__monotonic_ns() / 1000000;
}

/* ---- leader epochs ----------------------------------------------------- */

static int epoch_push(struct ks__rreplica *rp, int32_t epoch, int64_t start)
{
	struct ks__repoch *e;

	if (rp->nepochs) {
		e = &rp->epochs[rp->nepochs - 1];
		if (e->epoch == epoch)
			return 0;
		if (e->start >= start) { /* an epoch with no records */
			e->epoch = epoch;
			e->start = start;
			return 0;
		}
	}
	if (rp->nepochs == rp->capepochs) {
		size_t cap = rp->capepochs ? 2 * rp->capepochs : 8;
		if (!(e = realloc(rp->epochs, cap * sizeof *e)))
			return KS_ENOMEM;
		rp->epochs = e;
		rp->capepochs = cap;
	}
	rp->epochs[rp->nepochs].epoch = epoch;
	rp->epochs[rp->nepochs++].start = start;
	return 0;
}

/* Walks whole batches in buf, noting where each epoch begins. */
static int epochs_scan(struct ks__rreplica *rp, const uint8_t *buf,
    size_t len)
{
	size_t pos = 0;
	int rc = 0;

	while (rc == 0 && pos + 17 <= len) {
		int64_t base = (int64_t)ks__be64(buf + pos);
		size_t blen = 12 + (size_t)ks__be32(buf + pos + 8);
		int32_t epoch = (int32_t)ks__be32(buf + pos + 12);
		if (blen < 17 || pos + blen > len)
			break;
		if (!rp->nepochs || rp->epochs[rp->nepochs - 1].epoch != epoch)
			rc = epoch_push(rp, epoch, base);
		pos += blen;
	}
	return rc;
}

/* The whole log's epochs, from its batch headers. */
static int epochs_load(struct ks__rreplica *rp)
{
	int64_t off = ks_log_start_offset(rp->log);
	int64_t end = ks_log_end_offset(rp->log);
	int rc = 0;

	while (rc == 0 && off < end) {
		ks_log_view_t v;
		if ((rc = ks_log_read(rp->log, off, 64u << 20, &v)) != 0)
			break;
		if (v.len == 0) {
			ks_log_view_release(&v);
			break;
		}
		rc = epochs_scan(rp, v.data, v.len);
		off = v.next_offset;
		ks_log_view_release(&v);
	}
	return rc;
}

int32_t ks__rreplica_last_epoch(struct ks__rreplica *rp)
{
	int32_t e;

	pthread_mutex_lock(&rp->mu);
	e = rp->nepochs ? rp->epochs[rp->nepochs - 1].epoch : -1;
	pthread_mutex_unlock(&rp->mu);
	return e;
}

/* Under rp->mu: where epoch e's records end here; index of the largest
 * epoch <= e in *idx (-1 none). */
static int64_t epoch_end_locked(struct ks__rreplica *rp, int32_t e,
    ssize_t *idx)
{
	ssize_t i;

	for (i = (ssize_t)rp->nepochs - 1; i >= 0; i--)
		if (rp->epochs[i].epoch <= e)
			break;
	*idx = i;
	if (i >= 0 && (size_t)i + 1 < rp->nepochs)
		return rp->epochs[i + 1].start;
	return ks_log_end_offset(rp->log);
}

int64_t ks__rreplica_epoch_end_local(struct ks__rreplica *rp, int32_t e)
{
	ssize_t idx;
	int64_t end;

	pthread_mutex_lock(&rp->mu);
	end = epoch_end_locked(rp, e, &idx);
	if (idx < 0)
		end = ks_log_start_offset(rp->log);
	pthread_mutex_unlock(&rp->mu);
	return end;
}

int16_t ks__rreplica_epoch_end(struct ks__rreplica *rp, int32_t cur_epoch,
    int32_t epoch, int32_t *epoch_out, int64_t *end)
{
	int16_t code = 0;
	ssize_t idx;

	*epoch_out = -1;
	*end = -1;
	pthread_mutex_lock(&rp->mu);
	if (rp->role != KS__R_LEADER)
		code = KP_NOT_LEADER_OR_FOLLOWER;
	else if (cur_epoch >= 0 && cur_epoch < rp->leader_epoch)
		code = KP_FENCED_LEADER_EPOCH;
	else if (cur_epoch > rp->leader_epoch)
		code = KP_UNKNOWN_LEADER_EPOCH;
	else if (epoch >= rp->leader_epoch) {
		*epoch_out = rp->leader_epoch;
		*end = ks_log_end_offset(rp->log);
	} else {
		int64_t e = epoch_end_locked(rp, epoch, &idx);
		if (idx >= 0) {
			*epoch_out = rp->epochs[idx].epoch;
			*end = e;
		}
	}
	pthread_mutex_unlock(&rp->mu);
	return code;
}

/* ---- the replica ----------------------------------------------------------- */

static int32_t topic_min_isr(struct ks_cluster *c, const char *topic)
{
	const struct ks__rtopic *t;
	const char *s;
	int v = c->cfg.min_insync_replicas;

	pthread_mutex_lock(&c->mu);
	t = c->img ? ks__rimage_topic(c->img, topic) : NULL;
	if (t && t->configs && (s = strstr(t->configs, "min.insync.replicas=")) &&
	    (s == t->configs || s[-1] == '\n'))
		v = atoi(s + strlen("min.insync.replicas="));
	pthread_mutex_unlock(&c->mu);
	return v > 0 ? v : 1;
}

struct ks__rreplica *ks__rreplica_new(struct ks_cluster *c,
    const char *topic, int32_t p, int *err)
{
	struct ks__rreplica *rp = calloc(1, sizeof *rp);

	*err = KS_ENOMEM;
	if (!rp || !(rp->topic = strdup(topic)))
		goto fail;
	rp->p = p;
	if ((*err = ks_topic_open(c->store, topic, &rp->th)) != 0 ||
	    (*err = ks_topic_partition(rp->th, p, &rp->log)) != 0)
		goto fail;
	pthread_mutex_init(&rp->mu, NULL);
	atomic_init(&rp->refs, 1);
	rp->role = KS__R_NONE;
	rp->leader = -1;
	rp->leader_epoch = -1;
	rp->partition_epoch = -1;
	rp->hw = ks_log_start_offset(rp->log);
	rp->min_isr = topic_min_isr(c, topic);
	if ((*err = epochs_load(rp)) != 0) {
		pthread_mutex_destroy(&rp->mu);
		goto fail;
	}
	*err = 0;
	return rp;
fail:
	if (rp) {
		ks_topic_release(rp->th);
		free(rp->topic);
		free(rp->epochs);
		free(rp);
	}
	return NULL;
}

/* Under rp->mu: takes the waiters off (all, or those at or below hw). */
static struct ks__rwaiter *waiters_take(struct ks__rreplica *rp, int all,
    int64_t hw)
{
	struct ks__rwaiter *done = NULL, **pp = &rp->waiters, *w;

	while ((w = *pp)) {
		if (all || w->last < hw) {
			*pp = w->next;
			w->next = done;
			done = w;
		} else {
			pp = &w->next;
		}
	}
	return done;
}

static void waiters_call(struct ks__rwaiter *w, int16_t code)
{
	struct ks__rwaiter *next;

	for (; w; w = next) {
		next = w->next;
		w->done(w->arg, code);
		free(w);
	}
}

void ks__rreplica_put(struct ks__rreplica *rp)
{
	struct ks__rwaiter *w;

	if (!rp || atomic_fetch_sub(&rp->refs, 1) != 1)
		return;
	pthread_mutex_lock(&rp->mu);
	w = waiters_take(rp, 1, 0);
	pthread_mutex_unlock(&rp->mu);
	waiters_call(w, KP_NOT_LEADER_OR_FOLLOWER);
	pthread_mutex_destroy(&rp->mu);
	ks_topic_release(rp->th);
	free(rp->epochs);
	free(rp->topic);
	free(rp);
}

static struct ks__rfollower *follower(struct ks__rreplica *rp, int32_t id)
{
	int32_t i;

	for (i = 0; i < rp->nfol; i++)
		if (rp->fol[i].id == id)
			return &rp->fol[i];
	return NULL;
}

static int in_isr(const struct ks__rreplica *rp, int32_t id)
{
	int32_t i;

	for (i = 0; i < rp->nisr; i++)
		if (rp->isr[i] == id)
			return 1;
	return 0;
}

/* Lowers *m to follower id's log end; 0 if that is not known yet. */
static int hw_bound(struct ks__rreplica *rp, int32_t id, int64_t *m)
{
	struct ks__rfollower *f = follower(rp, id);

	if (!f || f->leo < 0)
		return 0;
	if (f->leo < *m)
		*m = f->leo;
	return 1;
}

/*
 * Under rp->mu, leader: the high watermark from the in-sync replicas'
 * log ends. While an ISR change it proposed is undecided, over the ISR
 * and the proposed one both (Kafka's "maximal ISR"): a follower being
 * added may be in the ISR the controller has already committed, and so
 * may lead next, before this leader hears of it. Returns 1 if it moved
 * (the waiters it satisfied in *done).
 */
static int hw_update(struct ks_cluster *c, struct ks__rreplica *rp,
    struct ks__rwaiter **done)
{
	int64_t m = ks_log_end_offset(rp->log);
	int32_t i;

	for (i = 0; i < rp->nisr; i++)
		if (rp->isr[i] != c->node && !hw_bound(rp, rp->isr[i], &m))
			return 0; /* not known yet: wait */
	for (i = 0; rp->isr_sent_ms && i < rp->npend; i++)
		if (rp->pend[i] != c->node && !hw_bound(rp, rp->pend[i], &m))
			return 0;
	if (m <= rp->hw)
		return 0;
	rp->hw = m;
	*done = waiters_take(rp, 0, m);
	return 1;
}

void ks__rreplica_update(struct ks_cluster *c, struct ks__rreplica *rp,
    const struct ks__rpart *mp)
{
	struct ks__rwaiter *done = NULL, *failed = NULL;
	int64_t now = ks__rnow_ms();
	int32_t i, min_isr = topic_min_isr(c, rp->topic); /* c->mu first */
	int moved = 0;

	pthread_mutex_lock(&rp->mu);
	/* A follower that leaves the ISR (fenced: dead, restarting) is
	 * forgotten: its log end counts again only from its next fetch. Else
	 * a new process of it, truncated below what the old one had, could
	 * be taken back into the ISR on the old one's log end, and the high
	 * watermark pass records it does not have. */
	for (i = 0; i < rp->nisr; i++) {
		struct ks__rfollower *f = follower(rp, rp->isr[i]);
		if (f && !ks__rpart_in_isr(mp, f->id)) {
			f->leo = -1;
			f->last_fetch_leo = -1;
			f->caught_up_ms = now;
		}
	}
	rp->nreplicas = mp->nreplicas;
	memcpy(rp->replicas, mp->replicas, sizeof rp->replicas);
	rp->nisr = mp->nisr;
	memcpy(rp->isr, mp->isr, sizeof rp->isr);
	if (mp->partition_epoch != rp->partition_epoch) {
		rp->isr_sent_ms = 0; /* the proposal was decided */
		rp->npend = 0;
	}
	rp->partition_epoch = mp->partition_epoch;
	rp->min_isr = min_isr;
	if (mp->leader == c->node) {
		if (rp->role != KS__R_LEADER ||
		    rp->leader_epoch != mp->leader_epoch) {
			int64_t leo = ks_log_end_offset(rp->log);
			rp->role = KS__R_LEADER;
			rp->leader = c->node;
			rp->leader_epoch = mp->leader_epoch;
			ks__log_set_leader_epoch(rp->log, mp->leader_epoch);
			epoch_push(rp, mp->leader_epoch, leo);
			rp->nfol = 0;
			for (i = 0; i < mp->nreplicas; i++) {
				struct ks__rfollower *f;
				if (mp->replicas[i] == c->node)
					continue;
				f = &rp->fol[rp->nfol++];
				f->id = mp->replicas[i];
				f->leo = -1;
				f->caught_up_ms = now;
				f->last_fetch_leo = -1;
				f->last_fetch_ms = now;
			}
			rp->isr_sent_ms = 0;
			rp->npend = 0;
			KS__RLOG(c, KS_LOG_NOTICE, "replication: %s-%d: "
			    "leader in epoch %d from offset %lld", rp->topic,
			    rp->p, (int)mp->leader_epoch, (long long)leo);
		}
		moved = hw_update(c, rp, &done);
	} else {
		if (rp->role == KS__R_LEADER || rp->leader != mp->leader ||
		    rp->leader_epoch != mp->leader_epoch) {
			failed = waiters_take(rp, 1, 0);
			if (rp->role != KS__R_FOLLOWER ||
			    rp->leader_epoch != mp->leader_epoch)
				rp->truncated = 0;
			KS__RLOG(c, KS_LOG_INFO, "replication: %s-%d: "
			    "follower of %d in epoch %d", rp->topic, rp->p,
			    (int)mp->leader, (int)mp->leader_epoch);
		}
		rp->role = mp->leader >= 0 ? KS__R_FOLLOWER : KS__R_NONE;
		rp->leader = mp->leader;
		rp->leader_epoch = mp->leader_epoch;
	}
	pthread_mutex_unlock(&rp->mu);
	waiters_call(failed, KP_NOT_LEADER_OR_FOLLOWER);
	waiters_call(done, 0);
	if (moved)
		ks__kafka_server_wake(c->srv);
}

int ks__rreplica_tick(struct ks_cluster *c, struct ks__rreplica *rp,
    int64_t now, struct ks__ralter *a)
{
	struct ks__rwaiter *expired = NULL, **pp, *w;
	int32_t isr[KS_CLUSTER_MAX_REPLICAS], n = 0, i;
	int change = 0, out = 0;

	pthread_mutex_lock(&rp->mu);
	for (pp = &rp->waiters; (w = *pp);) {
		if (w->deadline_ms <= now) {
			*pp = w->next;
			w->next = expired;
			expired = w;
		} else {
			pp = &w->next;
		}
	}
	if (rp->role == KS__R_LEADER && (!rp->isr_sent_ms ||
	    now - rp->isr_sent_ms > 2000)) {
		int64_t estart = rp->nepochs ?
		    rp->epochs[rp->nepochs - 1].start : 0;
		for (i = 0; i < rp->nreplicas; i++) {
			int32_t id = rp->replicas[i];
			struct ks__rfollower *f = follower(rp, id);
			int was = in_isr(rp, id), keep = was;
			if (id == c->node) {
				keep = 1;
			} else if (f && was && now - f->caught_up_ms >
			    c->cfg.replica_lag_time_max_ms) {
				keep = 0;
			} else if (f && !was && f->leo >= rp->hw &&
			    f->leo >= estart && now - f->last_fetch_ms <=
			    c->cfg.replica_lag_time_max_ms) {
				keep = 1; /* caught up, and fetching now */
			}
			change |= keep != was;
			if (keep)
				isr[n++] = id;
		}
		if (!change) {
			/* an undecided proposal not wanted any more (refused:
			 * a member it added was fenced meanwhile) */
			rp->isr_sent_ms = 0;
			rp->npend = 0;
		} else {
			a->topic = rp->topic;
			a->p = rp->p;
			a->leader_epoch = rp->leader_epoch;
			a->partition_epoch = rp->partition_epoch;
			a->nisr = n;
			memcpy(a->isr, isr, sizeof isr);
			rp->npend = n;
			memcpy(rp->pend, isr, sizeof isr);
			rp->isr_sent_ms = now;
			out = 1;
			KS__RLOG(c, KS_LOG_INFO, "replication: %s-%d: asking "
			    "for an ISR of %d (was %d)", rp->topic, rp->p,
			    (int)n, (int)rp->nisr);
		}
	}
	pthread_mutex_unlock(&rp->mu);
	waiters_call(expired, KP_REQUEST_TIMED_OUT);
	return out;
}

int16_t ks__rreplica_fetch_check(struct ks_cluster *c,
    struct ks__rreplica *rp, int32_t replica_id, int32_t cur_epoch,
    int64_t fetch_offset, int64_t *hw, int64_t *limit)
{
	struct ks__rwaiter *done = NULL;
	int16_t code = 0;
	int moved = 0;

	pthread_mutex_lock(&rp->mu);
	if (rp->role != KS__R_LEADER) {
		code = KP_NOT_LEADER_OR_FOLLOWER;
	} else if (cur_epoch >= 0 && cur_epoch < rp->leader_epoch) {
		code = KP_FENCED_LEADER_EPOCH;
	} else if (cur_epoch > rp->leader_epoch) {
		code = KP_UNKNOWN_LEADER_EPOCH;
	} else if (replica_id >= 0 && fetch_offset >= 0) {
		struct ks__rfollower *f = follower(rp, replica_id);
		int64_t now = ks__rnow_ms(), leo = ks_log_end_offset(rp->log);
		if (!f) {
			code = KP_NOT_LEADER_OR_FOLLOWER; /* no replica here */
		} else {
			f->leo = KS__MIN(fetch_offset, leo);
			if (fetch_offset >= leo)
				f->caught_up_ms = now;
			else if (fetch_offset >= f->last_fetch_leo &&
			    f->last_fetch_leo >= 0)
				f->caught_up_ms = f->last_fetch_ms;
			f->last_fetch_leo = leo;
			f->last_fetch_ms = now;
			moved = hw_update(c, rp, &done);
			*limit = INT64_MAX;
			*hw = rp->hw;
		}
	} else {
		moved = hw_update(c, rp, &done);
		*hw = *limit = rp->hw;
	}
	pthread_mutex_unlock(&rp->mu);
	waiters_call(done, 0);
	if (moved)
		ks__kafka_server_wake(c->srv);
	return code;
}

int16_t ks__rreplica_produce_check(struct ks__rreplica *rp, int16_t acks)
{
	int16_t code = 0;

	pthread_mutex_lock(&rp->mu);
	if (rp->role != KS__R_LEADER)
		code = KP_NOT_LEADER_OR_FOLLOWER;
	else if (acks == -1 && rp->nisr < rp->min_isr)
		code = KP_NOT_ENOUGH_REPLICAS;
	pthread_mutex_unlock(&rp->mu);
	return code;
}

int ks__rreplica_await(struct ks_cluster *c, struct ks__rreplica *rp,
    int64_t last, int32_t timeout_ms, ks__khw_done_fn *done, void *arg)
{
	struct ks__rwaiter *w, *ready = NULL;
	int rc = 0, moved = 0;

	if (!(w = malloc(sizeof *w)))
		return KP_UNKNOWN_SERVER_ERROR;
	w->last = last;
	w->deadline_ms = ks__rnow_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	w->done = done;
	w->arg = arg;
	pthread_mutex_lock(&rp->mu);
	if (rp->role != KS__R_LEADER) {
		rc = KP_NOT_LEADER_OR_FOLLOWER;
	} else {
		moved = hw_update(c, rp, &ready);
		if (rp->hw > last) {
			rc = 1;
		} else {
			w->next = rp->waiters;
			rp->waiters = w;
			w = NULL;
		}
	}
	pthread_mutex_unlock(&rp->mu);
	free(w);
	waiters_call(ready, 0);
	if (moved)
		ks__kafka_server_wake(c->srv);
	return rc;
}

/* ---- follower -------------------------------------------------------------- */

int ks__rreplica_truncate(struct ks_cluster *c, struct ks__rreplica *rp,
    int64_t offset)
{
	int64_t before, after;
	int rc = 0;

	pthread_mutex_lock(&rp->mu);
	before = ks_log_end_offset(rp->log);
	if (rp->role == KS__R_FOLLOWER && offset < before)
		rc = ks_log_truncate(rp->log, offset);
	after = ks_log_end_offset(rp->log);
	while (rp->nepochs && rp->epochs[rp->nepochs - 1].start >= after)
		rp->nepochs--;
	if (rp->hw > after)
		rp->hw = after;
	rp->truncated = rc == 0;
	pthread_mutex_unlock(&rp->mu);
	if (after < before)
		KS__RLOG(c, KS_LOG_NOTICE, "replication: %s-%d: cut %lld "
		    "records the leader does not have (log end %lld -> %lld)",
		    rp->topic, rp->p, (long long)(before - after),
		    (long long)before, (long long)after);
	return rc;
}

int ks__rreplica_append(struct ks_cluster *c, struct ks__rreplica *rp,
    const uint8_t *buf, size_t len, int64_t leader_hw)
{
	size_t whole = 0;
	int64_t leo;
	int rc = 0;

	(void)c;
	/* Whole batches only (a leader may end a response mid-batch). */
	while (whole + 12 <= len) {
		size_t blen = 12 + (size_t)ks__be32(buf + whole + 8);
		if (whole + blen > len)
			break;
		whole += blen;
	}
	pthread_mutex_lock(&rp->mu);
	if (rp->role != KS__R_FOLLOWER || !rp->truncated) {
		pthread_mutex_unlock(&rp->mu);
		return KS_EBUSY; /* the role changed under the fetch */
	}
	if (whole > 0) {
		rc = ks_log_append_batch(rp->log, buf, whole,
		    KS_APPEND_KEEP_OFFSETS, NULL);
		if (rc == 0)
			epochs_scan(rp, buf, whole);
	}
	leo = ks_log_end_offset(rp->log);
	if (rc == 0 && leader_hw >= 0 && KS__MIN(leader_hw, leo) > rp->hw)
		rp->hw = KS__MIN(leader_hw, leo);
	pthread_mutex_unlock(&rp->mu);
	return rc;
}
