/*
 * fetcher.c: follower fetch threads. One per member this member follows
 * (Kafka's ReplicaFetcherThread per source broker): each round it takes
 * the replicas whose leader is that member, cuts the divergent tail of
 * any that entered a new leader epoch (OffsetForLeaderEpoch), and sends
 * one Fetch for all of them with this member's replica id and each log
 * end as fetch offset, then appends what comes back with the leader's
 * offsets and epochs. The leader holds the Fetch until it has records
 * (fetch.wait.max 500 ms), so a follower learns of an append at once and
 * its next fetch tells the leader how far it got: an acks=-1 produce is
 * answered within two round trips of the followers.
 *
 * The connection is kstream's own Kafka client (lib/kafka), to the
 * leader's listener of the scheme this member's first listener has.
 */
#include "replication/repl_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_WAIT_MS 500
#define FETCH_MAX_BYTES (64 << 20)
#define PART_MAX_BYTES (8 << 20)

static int stopping(struct ks__rfetcher *f)
{
	int s;

	pthread_mutex_lock(&f->c->mu);
	s = f->stop || f->c->stop;
	pthread_mutex_unlock(&f->c->mu);
	return s;
}

/* Sleeps ms or until the cluster signals (a new image, a stop). */
static void nap(struct ks__rfetcher *f, int ms)
{
	pthread_mutex_lock(&f->c->mu);
	if (!f->stop && !f->c->stop)
		ks__rcluster_wait(f->c, ms);
	pthread_mutex_unlock(&f->c->mu);
}

/* The replicas this fetcher serves now, with their epochs. */
struct fpart {
	struct ks__rreplica *rp;
	int32_t epoch;
	int truncated;
	int64_t leo;
};

static size_t collect(struct ks__rfetcher *f, struct fpart **out)
{
	struct ks_cluster *c = f->c;
	struct fpart *v = NULL;
	size_t i, n = 0;

	pthread_mutex_lock(&c->mu);
	if (c->nreps && !(v = calloc(c->nreps, sizeof *v))) {
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	for (i = 0; i < c->nreps; i++) {
		struct ks__rreplica *rp = c->reps[i];
		pthread_mutex_lock(&rp->mu);
		if (rp->role == KS__R_FOLLOWER && rp->leader == f->leader) {
			ks__rreplica_get(rp);
			v[n].rp = rp;
			v[n].epoch = rp->leader_epoch;
			v[n].truncated = rp->truncated;
			v[n++].leo = ks_log_end_offset(rp->log);
		}
		pthread_mutex_unlock(&rp->mu);
	}
	pthread_mutex_unlock(&c->mu);
	*out = v;
	return n;
}

static int connect_leader(struct ks__rfetcher *f, struct kc_broker **bp)
{
	struct ks_cluster *c = f->c;
	char url[600];
	int err;

	if (ks__rcluster_url(c, f->leader, url, sizeof url) != 0)
		return KS_EINVAL;
	if (f->conn && strcmp(url, f->url) != 0) {
		kc_cluster_free(f->conn);
		f->conn = NULL;
	}
	if (!f->conn) {
		if ((err = ks__rcluster_connect(c, url, "replica",
		    FETCH_WAIT_MS + 2000, &f->conn)) != 0)
			return err;
		snprintf(f->url, sizeof f->url, "%s", url);
	}
	return kc_any_broker(f->conn, bp);
}

static void drop_conn(struct ks__rfetcher *f)
{
	kc_cluster_free(f->conn);
	f->conn = NULL;
}

/*
 * Cuts each new-epoch replica where the leader says its last epoch ends
 * (or, if the leader never had that epoch, where the largest epoch both
 * have ends here). 0, or an error of the request.
 */
static int truncate_all(struct ks__rfetcher *f, struct kc_broker *b,
    struct fpart *v, size_t n)
{
	struct ks_cluster *c = f->c;
	kp_offset_for_leader_epoch_req_t req;
	kp_offset_for_leader_epoch_resp_t resp;
	kp_ofle_req_topic_t *topics;
	kp_ofle_req_part_t *parts;
	int32_t *asked;
	kc_resp_t keep;
	size_t i, k = 0;
	int32_t t, j;
	int rc;

	topics = calloc(n, sizeof *topics);
	parts = calloc(n, sizeof *parts);
	asked = calloc(n, sizeof *asked);
	if (!topics || !parts || !asked) {
		free(topics);
		free(parts);
		free(asked);
		return KS_ENOMEM;
	}
	/* One topic entry per replica: simple, and correct on the wire. */
	for (i = 0; i < n; i++) {
		int32_t last;
		if (v[i].truncated)
			continue;
		last = ks__rreplica_last_epoch(v[i].rp);
		if (last < 0) {
			/* an empty log has nothing to cut */
			ks__rreplica_truncate(c, v[i].rp, INT64_MAX);
			continue;
		}
		asked[k] = last;
		parts[k].partition = v[i].rp->p;
		parts[k].current_leader_epoch = v[i].epoch;
		parts[k].leader_epoch = last;
		topics[k].topic = kp_cstr(v[i].rp->topic);
		topics[k].n_partitions = 1;
		topics[k].partitions = &parts[k];
		k++;
	}
	rc = 0;
	if (k > 0) {
		memset(&req, 0, sizeof req);
		req.replica_id = c->node;
		req.n_topics = (int32_t)k;
		req.topics = topics;
		memset(&keep, 0, sizeof keep);
		memset(&resp, 0, sizeof resp);
		rc = KC_RPC(b, KP_OFFSET_FOR_LEADER_EPOCH, &req, &resp, &keep);
		for (t = 0; rc == 0 && t < resp.n_topics; t++) {
			kp_ofle_resp_topic_t *rt = &resp.topics[t];
			for (j = 0; j < rt->n_partitions; j++) {
				kp_ofle_resp_part_t *p = &rt->partitions[j];
				struct ks__rreplica *rp = NULL;
				int32_t mine = -1;
				int64_t cut;
				for (i = 0; i < k; i++)
					if (parts[i].partition == p->partition &&
					    rt->topic.s && strcmp(rt->topic.s,
					    topics[i].topic.s) == 0) {
						mine = asked[i];
						break;
					}
				for (i = 0; i < n && mine >= 0; i++)
					if (v[i].rp->p == p->partition &&
					    strcmp(v[i].rp->topic,
					    rt->topic.s) == 0)
						rp = v[i].rp;
				if (!rp || p->error_code)
					continue; /* asked again next round */
				if (p->leader_epoch < 0 || p->end_offset < 0)
					cut = 0;
				else if (p->leader_epoch == mine)
					cut = p->end_offset;
				else
					cut = KS__MIN(p->end_offset,
					    ks__rreplica_epoch_end_local(rp,
					    p->leader_epoch));
				ks__rreplica_truncate(c, rp, cut);
			}
		}
		kc_resp_free(&keep);
	}
	free(topics);
	free(parts);
	free(asked);
	return rc;
}

/* One Fetch for every truncated replica; appends the answers. */
static int fetch_once(struct ks__rfetcher *f, struct kc_broker *b,
    struct fpart *v, size_t n)
{
	struct ks_cluster *c = f->c;
	kp_fetch_req_t req;
	kp_fetch_resp_t resp;
	kp_fetch_req_topic_t *topics;
	kp_fetch_req_part_t *parts;
	kc_resp_t keep;
	size_t i, k = 0;
	int32_t t, j;
	int rc, lost = 0;

	topics = calloc(n, sizeof *topics);
	parts = calloc(n, sizeof *parts);
	if (!topics || !parts) {
		free(topics);
		free(parts);
		return KS_ENOMEM;
	}
	for (i = 0; i < n; i++) {
		if (!v[i].truncated)
			continue;
		parts[k].partition = v[i].rp->p;
		parts[k].current_leader_epoch = v[i].epoch;
		parts[k].fetch_offset = v[i].leo;
		parts[k].log_start_offset = -1;
		parts[k].partition_max_bytes = PART_MAX_BYTES;
		topics[k].topic = kp_cstr(v[i].rp->topic);
		topics[k].n_partitions = 1;
		topics[k].partitions = &parts[k];
		k++;
	}
	if (k == 0) {
		free(topics);
		free(parts);
		return 0;
	}
	memset(&req, 0, sizeof req);
	req.replica_id = c->node;
	req.max_wait_ms = FETCH_WAIT_MS;
	req.min_bytes = 1;
	req.max_bytes = FETCH_MAX_BYTES;
	req.session_epoch = -1;
	req.n_topics = (int32_t)k;
	req.topics = topics;
	req.rack_id = kp_cstr("");
	memset(&keep, 0, sizeof keep);
	memset(&resp, 0, sizeof resp);
	rc = KC_RPC(b, KP_FETCH, &req, &resp, &keep);
	for (t = 0; rc == 0 && t < resp.n_topics; t++) {
		kp_fetch_resp_topic_t *rt = &resp.topics[t];
		for (j = 0; j < rt->n_partitions; j++) {
			kp_fetch_resp_part_t *p = &rt->partitions[j];
			struct ks__rreplica *rp = NULL;
			int err;
			for (i = 0; i < n; i++)
				if (v[i].truncated &&
				    v[i].rp->p == p->partition &&
				    rt->topic.s &&
				    strcmp(v[i].rp->topic, rt->topic.s) == 0)
					rp = v[i].rp;
			if (!rp)
				continue;
			if (p->error_code) {
				if (p->error_code != KP_OFFSET_OUT_OF_RANGE)
					lost = 1; /* metadata moved on */
				else
					KS__RLOG(c, KS_LOG_WARNING,
					    "replication: %s-%d: the leader "
					    "no longer has offset %lld",
					    rp->topic, rp->p, (long long)
					    ks_log_end_offset(rp->log));
				continue;
			}
			err = ks__rreplica_append(c, rp,
			    p->records.len > 0 ? p->records.p : NULL,
			    p->records.len > 0 ? (size_t)p->records.len : 0,
			    p->high_watermark);
			if (err == KS_ESEQUENCE && p->records.len >= 12) {
				/* The leader's batch starts before our log
				 * end: our last batches are not its. Cut back
				 * to where its batch begins and fetch again. */
				int64_t base = (int64_t)ks__be64(
				    (const uint8_t *)p->records.p);
				KS__RLOG(c, KS_LOG_WARNING, "replication: "
				    "%s-%d: the leader's batch at %lld does "
				    "not follow our log end: cutting there",
				    rp->topic, rp->p, (long long)base);
				ks__rreplica_truncate(c, rp, base);
				continue;
			}
			if (err && err != KS_EBUSY)
				KS__RLOG(c, KS_LOG_WARNING, "replication: "
				    "%s-%d: append: %s", rp->topic, rp->p,
				    ks_strerror(err));
		}
	}
	kc_resp_free(&keep);
	free(topics);
	free(parts);
	return rc ? rc : lost;
}

/* Drops collect()'s references and the array. */
static void release(struct fpart *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ks__rreplica_put(v[i].rp);
	free(v);
}

static void *fetcher_main(void *arg)
{
	struct ks__rfetcher *f = arg;
	struct kc_broker *b;
	struct fpart *v;
	size_t n;
	int rc;

	while (!stopping(f)) {
		v = NULL;
		if ((n = collect(f, &v)) == 0) {
			free(v);
			nap(f, 100);
			continue;
		}
		rc = connect_leader(f, &b);
		if (rc == 0)
			rc = truncate_all(f, b, v, n);
		if (rc == 0) {
			release(v, n);
			v = NULL;
			n = collect(f, &v); /* with the truncation done */
			rc = n ? fetch_once(f, b, v, n) : 0;
		}
		release(v, n);
		if (rc < 0) {
			drop_conn(f);
			nap(f, 100);
		} else if (rc > 0) {
			nap(f, 50); /* a leader change on its way */
		}
	}
	drop_conn(f);
	return NULL;
}

int ks__rfetcher_start(struct ks_cluster *c, int32_t leader)
{
	struct ks__rfetcher *f;

	for (f = c->fetchers; f; f = f->next)
		if (f->leader == leader)
			return 0;
	if (!(f = calloc(1, sizeof *f)))
		return KS_ENOMEM;
	f->c = c;
	f->leader = leader;
	if (pthread_create(&f->thread, NULL, fetcher_main, f) != 0) {
		free(f);
		return KS_ENOMEM;
	}
	f->next = c->fetchers;
	c->fetchers = f;
	return 0;
}

void ks__rfetchers_stop(struct ks_cluster *c)
{
	struct ks__rfetcher *f, *next;

	pthread_mutex_lock(&c->mu);
	for (f = c->fetchers; f; f = f->next)
		f->stop = 1;
	pthread_cond_broadcast(&c->cv);
	f = c->fetchers;
	c->fetchers = NULL;
	pthread_mutex_unlock(&c->mu);
	for (; f; f = next) {
		next = f->next;
		pthread_join(f->thread, NULL);
		free(f);
	}
}
