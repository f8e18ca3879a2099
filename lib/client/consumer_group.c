/*
 * consumer_group.c: the consumer as a group member: subscriptions, the
 * join/sync cycle driven from ks_consumer_poll, heartbeats, the leader's
 * assignment, eager and cooperative rebalances with their callbacks, and
 * committed offsets.
 *
 * The coordinator answers joins and syncs through callbacks that may run in
 * other threads; they only store the answer and wake the consumer (its
 * eventfd), and the consumer's own thread acts on it in the next step.
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

#include <errno.h>
#include <kstream/assignor.h>
#include <kstream/group.h>
#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <unistd.h>

enum { G_IDLE, G_JOINING, G_SYNCING, G_STABLE };

struct ks__cgroup {
	ks_coordinator_t *coord;
	int state;
	char *member_id;          /* "" until the coordinator gives one */
	int32_t generation;
	int cooperative;          /* the assignors' rebalance protocol */
	ks_assignment_t *owned;   /* the current assignment, decoded */
	int64_t next_hb_ns, next_commit_ns;

	char **subs;              /* subscribe()'s names and patterns */
	size_t nsubs;
	regex_t *res;             /* compiled patterns, NULL for names */
	char **topics;            /* what they name now, sorted */
	size_t ntopics;
	int32_t *nparts;          /* and their partition counts, at join */

	/*
	 * The coordinator's callbacks get the group, never the consumer: a
	 * callback may come after the consumer closed (a join answered when
	 * the rebalance completes). refs: the consumer's, and one per join or
	 * sync not yet answered; the last one frees. efd: a dup of the
	 * consumer's eventfd, to wake it.
	 */
	int refs;
	int efd;
	pthread_mutex_t mu;       /* refs and the callbacks' answers below */
	int join_done, join_err, sync_done, sync_err;
	char *j_member, *j_protocol, *j_leader;
	int32_t j_gen;
	ks_join_member_t *j_members; /* the leader's copy */
	size_t j_nmembers;
	void *s_bytes;
	size_t s_len;
};

static void strv_free(char **v, size_t n)
{
	size_t i;
	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}


/* ---- the group handle ------------------------------------------------ */

static int group_get(ks_consumer_t *c, struct ks__cgroup **gp)
{
	struct ks__cgroup *g = c->group;
	if (!c->cfg.group_id || !*c->cfg.group_id)
		return KS_EINVAL;
	if (!g) {
		if (!(g = calloc(1, sizeof *g)))
			return KS_ENOMEM;
		g->coord = ks_store_coordinator(c->store);
		g->member_id = strdup("");
		g->generation = -1;
		g->refs = 1;
		g->efd = dup(c->efd);
		pthread_mutex_init(&g->mu, NULL);
		if (!g->coord || !g->member_id || g->efd < 0) {
			int rc = !g->coord ? KS_ERDONLY : KS_ENOMEM;
			free(g->member_id);
			if (g->efd >= 0)
				close(g->efd);
			pthread_mutex_destroy(&g->mu);
			free(g);
			return rc;
		}
		c->group = g;
	}
	*gp = g;
	return 0;
}

static void answers_clear(struct ks__cgroup *g)
{
	size_t i;
	free(g->j_member);
	free(g->j_protocol);
	free(g->j_leader);
	for (i = 0; i < g->j_nmembers; i++) {
		free((char *)g->j_members[i].member_id);
		free((char *)g->j_members[i].instance_id);
		free((void *)g->j_members[i].metadata);
	}
	free(g->j_members);
	free(g->s_bytes);
	g->j_member = g->j_protocol = g->j_leader = NULL;
	g->j_members = NULL;
	g->j_nmembers = 0;
	g->s_bytes = NULL;
	g->s_len = 0;
	g->join_done = g->sync_done = 0;
}

static void subs_clear(struct ks__cgroup *g)
{
	size_t i;
	for (i = 0; g->res && i < g->nsubs; i++)
		if (g->subs[i][0] == '^')
			regfree(&g->res[i]);
	free(g->res);
	strv_free(g->subs, g->nsubs);
	strv_free(g->topics, g->ntopics);
	free(g->nparts);
	g->res = NULL;
	g->subs = g->topics = NULL;
	g->nsubs = g->ntopics = 0;
	g->nparts = NULL;
}

/* ---- the coordinator's answers (any thread) ---------------------------- */

static char *dup0(const char *s)
{
	return strdup(s ? s : "");
}

static void *dupb(const void *p, size_t n)
{
	void *d = malloc(n ? n : 1);
	if (d && n)
		memcpy(d, p, n);
	return d;
}

static void group_free(struct ks__cgroup *g);

/* Drops a reference (g->mu held); the last one frees. */
static void unref_locked(struct ks__cgroup *g)
{
	uint64_t one = 1;
	if (--g->refs > 0) {
		if (write(g->efd, &one, sizeof one) < 0) {
			/* full: readable anyway */
		}
		pthread_mutex_unlock(&g->mu);
		return;
	}
	pthread_mutex_unlock(&g->mu);
	group_free(g);
}

static void join_cb(void *opaque, int err, const ks_join_result_t *r)
{
	struct ks__cgroup *g = opaque;
	size_t i;

	pthread_mutex_lock(&g->mu);
	g->join_err = err;
	g->j_member = dup0(r->member_id);
	g->j_gen = r->generation;
	if (!err) {
		g->j_protocol = dup0(r->protocol_name);
		g->j_leader = dup0(r->leader_id);
		g->j_members = calloc(r->member_count ? r->member_count : 1,
		    sizeof *g->j_members);
		for (i = 0; g->j_members && i < r->member_count; i++) {
			ks_join_member_t *m = &g->j_members[i];
			m->member_id = dup0(r->members[i].member_id);
			m->instance_id = r->members[i].instance_id ?
			    strdup(r->members[i].instance_id) : NULL;
			m->metadata = dupb(r->members[i].metadata,
			    r->members[i].metadata_len);
			m->metadata_len = r->members[i].metadata_len;
		}
		g->j_nmembers = g->j_members ? r->member_count : 0;
		if (!g->j_protocol || !g->j_leader || !g->j_members)
			g->join_err = KS_ENOMEM;
	}
	g->join_done = 1;
	unref_locked(g);
}

static void sync_cb(void *opaque, int err, const ks_sync_result_t *r)
{
	struct ks__cgroup *g = opaque;

	pthread_mutex_lock(&g->mu);
	g->sync_err = err;
	if (!err) {
		g->s_bytes = dupb(r->assignment, r->assignment_len);
		g->s_len = r->assignment_len;
		if (!g->s_bytes)
			g->sync_err = KS_ENOMEM;
	}
	g->sync_done = 1;
	unref_locked(g);
}

/* ---- subscriptions ------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What the subscription names now: the plain names, and every topic a
 * pattern matches (internal "__" topics excepted, as Kafka does). */
static int expand(ks_consumer_t *c, struct ks__cgroup *g, char ***outp,
    size_t *np)
{
	char **all = NULL, **out;
	size_t nall = 0, n = 0, i, j;
	int rc;

	if ((rc = ks_topic_list(c->store, &all, &nall)) != 0)
		return rc;
	out = calloc(g->nsubs + nall + 1, sizeof *out);
	if (!out) {
		ks_topic_list_free(all);
		return KS_ENOMEM;
	}
	for (i = 0; i < g->nsubs; i++) {
		if (g->subs[i][0] != '^') {
			out[n++] = strdup(g->subs[i]);
			continue;
		}
		for (j = 0; j < nall; j++) {
			regmatch_t m;
			/* the whole name must match, as in Kafka */
			if (strncmp(all[j], "__", 2) != 0 &&
			    regexec(&g->res[i], all[j], 1, &m, 0) == 0 &&
			    m.rm_so == 0 && (size_t)m.rm_eo == strlen(all[j]))
				out[n++] = strdup(all[j]);
		}
	}
	ks_topic_list_free(all);
	for (i = 0; i < n; i++)
		if (!out[i]) {
			strv_free(out, n);
			return KS_ENOMEM;
		}
	qsort(out, n, sizeof *out, cmp_str);
	for (i = j = 0; i < n; i++) { /* merge duplicates */
		if (j && strcmp(out[j - 1], out[i]) == 0)
			free(out[i]);
		else
			out[j++] = out[i];
	}
	*outp = out;
	*np = j;
	return 0;
}

/* A topic's partition count, 0 if it does not exist (yet). */
static int32_t partitions_of(ks_store_t *store, const char *name)
{
	ks_topic_t *t;
	int32_t n;
	if (ks_topic_open(store, name, &t) != 0)
		return 0;
	n = ks_topic_partitions(t);
	ks_topic_release(t);
	return n;
}

/* Whether the topics the subscription names, or their partition counts,
 * changed since the join: then the group must rebalance. */
static int metadata_changed(ks_consumer_t *c, struct ks__cgroup *g)
{
	char **now;
	size_t n, i;
	int changed;

	if (expand(c, g, &now, &n) != 0)
		return 0;
	changed = n != g->ntopics;
	for (i = 0; !changed && i < n; i++)
		changed = strcmp(now[i], g->topics[i]) != 0 ||
		    partitions_of(c->store, now[i]) != g->nparts[i];
	strv_free(now, n);
	return changed;
}

int ks_consumer_subscribe(ks_consumer_t *c, const char *const *topics,
    size_t n)
{
	struct ks__cgroup *g, tmp;
	size_t i;
	int rc, proto;

	KS__REMOTE(c, ks__rc_subscribe(c, topics, n));
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	if (!topics || n == 0 || (c->nparts && !c->subscribed)) {
		rc = KS_EINVAL;
		goto out;
	}
	if ((proto = ks_assignor_rebalance_protocol(c->cfg.assignors)) < 0) {
		rc = proto;
		goto out;
	}
	if ((rc = group_get(c, &g)) != 0)
		goto out;
	/* The new names and patterns, built aside: a bad one leaves the
	 * current subscription as it was. */
	memset(&tmp, 0, sizeof tmp);
	tmp.subs = calloc(n, sizeof *tmp.subs);
	tmp.res = calloc(n, sizeof *tmp.res);
	if (!tmp.subs || !tmp.res)
		rc = KS_ENOMEM;
	for (i = 0; rc == 0 && i < n; i++) {
		if (!topics[i] || !*topics[i]) {
			rc = KS_EINVAL;
		} else if (!(tmp.subs[i] = strdup(topics[i]))) {
			rc = KS_ENOMEM;
		} else {
			tmp.nsubs = i + 1;
			if (topics[i][0] == '^' &&
			    regcomp(&tmp.res[i], topics[i], REG_EXTENDED)) {
				tmp.subs[i][0] = '!'; /* nothing to regfree */
				rc = KS_EINVAL;
			}
		}
	}
	if (rc) {
		subs_clear(&tmp);
		goto out;
	}
	subs_clear(g);
	g->subs = tmp.subs;
	g->res = tmp.res;
	g->nsubs = tmp.nsubs;
	g->cooperative = proto == KS_REBALANCE_PROTOCOL_COOPERATIVE;
	c->subscribed = 1;
	if (g->state == G_STABLE)
		g->state = G_IDLE; /* a new subscription: join again */
out:
	ks__consumer_leave(c);
	return rc;
}

/* ---- assignment changes and their callbacks ----------------------------- */

/* Flattens an assignment into topic-partitions (offset: KS_OFFSET_STORED). */
static ks_topic_partition_t *flatten(const ks_assignment_t *a, size_t *np)
{
	ks_topic_partition_t *v;
	size_t i, j, n = 0;

	for (i = 0; a && i < a->assigned_count; i++)
		n += a->assigned[i].partition_count;
	v = calloc(n ? n : 1, sizeof *v);
	if (!v)
		return NULL;
	for (n = 0, i = 0; a && i < a->assigned_count; i++)
		for (j = 0; j < a->assigned[i].partition_count; j++) {
			v[n].topic = a->assigned[i].topic;
			v[n].partition = a->assigned[i].partitions[j];
			v[n++].offset = KS_OFFSET_STORED;
		}
	*np = n;
	return v;
}

static void notify(ks_consumer_t *c, int event,
    const ks_topic_partition_t *v, size_t n)
{
	/* Every completed rebalance ends with ASSIGNED, even with nothing
	 * assigned (as Kafka's onPartitionsAssigned): a member then knows it
	 * joined with no partitions. Revocations of nothing are not told. */
	if (c->cfg.rebalance_cb && (n || event == KS_REBALANCE_ASSIGNED))
		c->cfg.rebalance_cb(c->cfg.opaque, c, event, v, n);
}

static int commit_parts(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n, int flags);

/* Gives up the partitions of a (all if NULL): the callback first, with the
 * positions still there to commit, then auto-commit, then removal. */
static void give_up(ks_consumer_t *c, const ks_assignment_t *a, int event)
{
	ks_topic_partition_t *v;
	size_t n = 0, i;

	if (a) {
		v = flatten(a, &n);
	} else {
		v = calloc(c->nparts ? c->nparts : 1, sizeof *v);
		for (i = 0; v && i < c->nparts; i++) {
			v[i].topic = c->parts[i].topic;
			v[i].partition = c->parts[i].partition;
		}
		n = v ? c->nparts : 0;
	}
	if (!v)
		return;
	for (i = 0; i < n; i++) {
		struct ks__cpart *p = ks__consumer_find(c, v[i].topic,
		    v[i].partition);
		v[i].offset = p ? p->pos : -1;
	}
	notify(c, event, v, n);
	if (event == KS_REBALANCE_REVOKED && c->cfg.enable_auto_commit)
		(void)commit_parts(c, v, n, 0);
	for (i = 0; i < n; i++) {
		struct ks__cpart *p = ks__consumer_find(c, v[i].topic,
		    v[i].partition);
		if (p)
			ks__consumer_remove(c, p);
	}
	free(v);
}

/* Takes the partitions of a, each from its committed offset. */
static int take(ks_consumer_t *c, const ks_assignment_t *a)
{
	ks_topic_partition_t *v;
	size_t n = 0, i;
	int rc = 0;

	if (!(v = flatten(a, &n)))
		return KS_ENOMEM;
	for (i = 0; i < n && rc == 0; i++)
		if (!ks__consumer_find(c, v[i].topic, v[i].partition))
			rc = ks__consumer_add(c, v[i].topic, v[i].partition,
			    KS_OFFSET_STORED);
	if (rc == 0) {
		for (i = 0; i < n; i++)
			v[i].offset = ks__consumer_find(c, v[i].topic,
			    v[i].partition)->pos;
		notify(c, KS_REBALANCE_ASSIGNED, v, n);
	}
	free(v);
	return rc;
}

/* The membership is gone (session expired, fenced): partitions are lost,
 * not revoked: nothing may be committed for them. */
static void lose_all(ks_consumer_t *c, struct ks__cgroup *g)
{
	give_up(c, NULL, KS_REBALANCE_LOST);
	ks_assignment_free(g->owned);
	g->owned = NULL;
	free(g->member_id);
	g->member_id = strdup("");
	g->generation = -1;
	g->state = G_IDLE;
}

/* ---- the join/sync cycle ------------------------------------------------ */

static int send_join(ks_consumer_t *c, struct ks__cgroup *g)
{
	ks_group_protocol_t protos[8];
	ks_subscription_t sub;
	ks_join_request_t req;
	char *list, *save = NULL, *name;
	uint8_t *meta = NULL;
	size_t len = 0, np = 0, i;
	int rc;

	if (!g->cooperative && c->nparts) {
		/* eager: everything goes back before the join */
		give_up(c, NULL, KS_REBALANCE_REVOKED);
		ks_assignment_free(g->owned);
		g->owned = NULL;
	}
	strv_free(g->topics, g->ntopics);
	free(g->nparts);
	g->topics = NULL;
	g->nparts = NULL;
	g->ntopics = 0;
	if ((rc = expand(c, g, &g->topics, &g->ntopics)) != 0)
		return rc;
	if (!(g->nparts = calloc(g->ntopics + 1, sizeof *g->nparts)))
		return KS_ENOMEM;
	for (i = 0; i < g->ntopics; i++)
		g->nparts[i] = partitions_of(c->store, g->topics[i]);

	ks_subscription_init(&sub);
	sub.topics = (const char *const *)g->topics;
	sub.topic_count = g->ntopics;
	if (g->owned) {
		sub.owned = g->owned->assigned;
		sub.owned_count = g->owned->assigned_count;
	}
	sub.generation_id = g->generation;
	for (;;) {
		rc = ks_subscription_encode(&sub, meta, len, &len);
		if (rc != -ENOBUFS && !(rc == 0 && !meta))
			break;
		free(meta);
		if (!(meta = malloc(len ? len : 1)))
			return KS_ENOMEM;
	}
	if (rc) {
		free(meta);
		return rc;
	}
	if (!(list = strdup(c->cfg.assignors))) {
		free(meta);
		return KS_ENOMEM;
	}
	for (name = strtok_r(list, ", ", &save); name && np < 8;
	     name = strtok_r(NULL, ", ", &save)) {
		protos[np].name = name;
		protos[np].metadata = meta;
		protos[np++].metadata_len = len;
	}
	ks_join_request_init(&req);
	req.group_id = c->cfg.group_id;
	req.member_id = g->member_id;
	req.instance_id = c->cfg.group_instance_id;
	req.client_id = c->cfg.client_id;
	req.session_timeout_ms = c->cfg.session_timeout_ms;
	req.rebalance_timeout_ms = c->cfg.rebalance_timeout_ms;
	req.protocol_type = "consumer";
	req.protocols = protos;
	req.protocol_count = np;
	/* Always with a member id first (JoinGroup v4's way): then a leave
	 * can name this member even while its first join is pending. */
	req.flags = KS_JOIN_REQUIRE_MEMBER_ID;
	pthread_mutex_lock(&g->mu);
	answers_clear(g);
	g->refs++;
	pthread_mutex_unlock(&g->mu);
	g->state = G_JOINING;
	rc = ks_group_join(g->coord, &req, join_cb, g);
	if (rc) {
		g->state = G_IDLE;
		pthread_mutex_lock(&g->mu);
		g->refs--;
		pthread_mutex_unlock(&g->mu);
	}
	free(list);
	free(meta);
	return rc;
}

/* The leader's work: every member's assignment, encoded. */
static int leader_assign(ks_consumer_t *c, struct ks__cgroup *g,
    ks_group_assignment_t **outp)
{
	const ks_assignor_t *as = ks_assignor_find(g->j_protocol);
	ks_assignor_member_t *m;
	ks_assignor_topic_t *topics = NULL;
	ks_subscription_t **subs;
	ks_assignment_t **res = NULL;
	ks_group_assignment_t *out;
	size_t n = g->j_nmembers, i, j, k, nt = 0, captopics = 0;
	int rc = 0;

	if (!as)
		return KS_EPROTOCOL;
	m = calloc(n, sizeof *m);
	subs = calloc(n, sizeof *subs);
	out = calloc(n, sizeof *out);
	res = calloc(n, sizeof *res);
	if (!m || !subs || !out || !res) {
		rc = KS_ENOMEM;
		goto done;
	}
	for (i = 0; i < n && rc == 0; i++) {
		rc = ks_subscription_decode(g->j_members[i].metadata,
		    g->j_members[i].metadata_len, &subs[i]);
		m[i].member_id = g->j_members[i].member_id;
		m[i].group_instance_id = g->j_members[i].instance_id;
		m[i].subscription = subs[i];
		/* the union of subscribed topics, with their partitions */
		for (j = 0; rc == 0 && j < subs[i]->topic_count; j++) {
			for (k = 0; k < nt; k++)
				if (!strcmp(topics[k].name, subs[i]->topics[j]))
					break;
			if (k < nt)
				continue;
			if (nt == captopics) {
				ks_assignor_topic_t *t2;
				captopics = captopics ? captopics * 2 : 16;
				t2 = realloc(topics, captopics * sizeof *t2);
				if (!t2) {
					rc = KS_ENOMEM;
					break;
				}
				topics = t2;
			}
			topics[nt].name = subs[i]->topics[j];
			topics[nt].partition_count =
			    partitions_of(c->store, subs[i]->topics[j]);
			if (topics[nt].partition_count > 0)
				nt++;
		}
	}
	if (rc == 0)
		rc = ks_assignor_assign(as, m, n, topics, nt, res);
	for (i = 0; rc == 0 && i < n; i++) {
		size_t len = 0;
		void *buf = NULL;
		rc = ks_assignment_encode(res[i], NULL, 0, &len);
		if (rc == -ENOBUFS || rc == 0) {
			buf = malloc(len ? len : 1);
			rc = buf ? ks_assignment_encode(res[i], buf, len, &len) :
			           KS_ENOMEM;
		}
		out[i].member_id = g->j_members[i].member_id;
		out[i].assignment = buf;
		out[i].assignment_len = len;
		if (rc)
			free(buf);
	}
done:
	for (i = 0; res && i < n; i++)
		ks_assignment_free(res[i]);
	for (i = 0; subs && i < n; i++)
		ks_subscription_free(subs[i]);
	free(res);
	free(subs);
	free(m);
	free(topics);
	if (rc) {
		for (i = 0; out && i < n; i++)
			free((void *)out[i].assignment);
		free(out);
		return rc;
	}
	*outp = out;
	return 0;
}

static int send_sync(ks_consumer_t *c, struct ks__cgroup *g)
{
	ks_group_assignment_t *as = NULL;
	ks_sync_request_t req;
	size_t n = 0, i;
	int rc;

	if (strcmp(g->j_leader, g->member_id) == 0) {
		if ((rc = leader_assign(c, g, &as)) != 0)
			return rc;
		n = g->j_nmembers;
	}
	ks_sync_request_init(&req);
	req.group_id = c->cfg.group_id;
	req.generation = g->generation;
	req.member_id = g->member_id;
	req.instance_id = c->cfg.group_instance_id;
	req.protocol_type = "consumer";
	req.protocol_name = g->j_protocol;
	req.assignments = as;
	req.assignment_count = n;
	g->state = G_SYNCING;
	pthread_mutex_lock(&g->mu);
	g->sync_done = 0;
	g->refs++;
	pthread_mutex_unlock(&g->mu);
	rc = ks_group_sync(g->coord, &req, sync_cb, g);
	if (rc) {
		g->state = G_IDLE;
		pthread_mutex_lock(&g->mu);
		g->refs--;
		pthread_mutex_unlock(&g->mu);
	}
	for (i = 0; i < n; i++)
		free((void *)as[i].assignment);
	free(as);
	return rc;
}

/* Applies the assignment the sync brought. */
static int apply(ks_consumer_t *c, struct ks__cgroup *g, const void *bytes,
    size_t len, int64_t now)
{
	ks_assignment_t *na, *added = NULL, *revoked = NULL;
	int rc;

	na = NULL; /* an empty assignment: nothing */
	if (len && (rc = ks_assignment_decode(bytes, len, &na)) != 0)
		return rc;
	if ((rc = ks_assignment_diff(g->owned, na, &added, &revoked)) != 0) {
		ks_assignment_free(na);
		return rc;
	}
	if (revoked && revoked->assigned_count)
		give_up(c, revoked, KS_REBALANCE_REVOKED);
	rc = take(c, added);
	ks_assignment_free(g->owned);
	g->owned = na;
	g->state = G_STABLE;
	g->next_hb_ns = now + (int64_t)c->cfg.heartbeat_interval_ms * 1000000;
	/* cooperative: what was revoked goes to its new owner in a second
	 * rebalance, which this member's rejoin starts */
	if (g->cooperative && revoked && revoked->assigned_count)
		g->state = G_IDLE;
	ks_assignment_free(added);
	ks_assignment_free(revoked);
	return rc;
}

static void autocommit(ks_consumer_t *c, struct ks__cgroup *g, int64_t now)
{
	if (!c->cfg.enable_auto_commit || now < g->next_commit_ns)
		return;
	g->next_commit_ns = now + c->cfg.auto_commit_interval_ms * 1000000;
	if (c->nparts && (!c->subscribed || g->state == G_STABLE) &&
	    commit_parts(c, NULL, 0, 0) != 0)
		g->next_commit_ns = now; /* a rebalance is on: try later */
}

int ks__consumer_group_step(ks_consumer_t *c, int64_t now)
{
	struct ks__cgroup *g = c->group;
	int rc = 0, done, err;

	/* assign() with a group: the group exists for auto-commit */
	if (!g && c->nparts && c->cfg.enable_auto_commit && c->cfg.group_id &&
	    *c->cfg.group_id) {
		if ((rc = group_get(c, &g)) != 0)
			return rc;
		g->next_commit_ns = now + c->cfg.auto_commit_interval_ms *
		    1000000;
	}
	if (!g)
		return 0;
	if (c->subscribed) {
		switch (g->state) {
		case G_IDLE:
			rc = send_join(c, g);
			break;
		case G_JOINING:
			pthread_mutex_lock(&g->mu);
			done = g->join_done;
			err = g->join_err;
			pthread_mutex_unlock(&g->mu);
			if (!done)
				break;
			free(g->member_id);
			g->member_id = strdup(g->j_member ? g->j_member : "");
			if (err) {
				g->state = G_IDLE;
				if (err == KS_EMEMBER && g->member_id &&
				    !*g->member_id)
					g->generation = -1;
				break;
			}
			g->generation = g->j_gen;
			rc = send_sync(c, g);
			break;
		case G_SYNCING:
			pthread_mutex_lock(&g->mu);
			done = g->sync_done;
			err = g->sync_err;
			pthread_mutex_unlock(&g->mu);
			if (!done)
				break;
			if (err == KS_EMEMBER || err == KS_EGENERATION)
				lose_all(c, g);
			else if (err)
				g->state = G_IDLE;
			else
				rc = apply(c, g, g->s_bytes, g->s_len, now);
			break;
		case G_STABLE:
			if (now < g->next_hb_ns)
				break;
			g->next_hb_ns = now +
			    (int64_t)c->cfg.heartbeat_interval_ms * 1000000;
			err = ks_group_heartbeat(g->coord, c->cfg.group_id,
			    g->generation, g->member_id,
			    c->cfg.group_instance_id);
			if (err == KS_EREBALANCE || metadata_changed(c, g))
				g->state = G_IDLE;
			else if (err == KS_EMEMBER || err == KS_EGENERATION)
				lose_all(c, g);
			break;
		}
		if (!g->member_id)
			return KS_ENOMEM;
	}
	autocommit(c, g, now);
	return rc < 0 ? rc : 0;
}

int64_t ks__consumer_group_due(ks_consumer_t *c, int64_t now)
{
	struct ks__cgroup *g = c->group;
	int64_t due = INT64_MAX;

	if (!g)
		return due;
	if (c->subscribed) {
		if (g->state == G_IDLE)
			return 0;
		if (g->state == G_STABLE)
			due = g->next_hb_ns - now;
	}
	if (c->cfg.enable_auto_commit && c->nparts)
		due = KS__MIN(due, g->next_commit_ns - now);
	return due < 0 ? 0 : due;
}

int ks_consumer_unsubscribe(ks_consumer_t *c)
{
	struct ks__cgroup *g;
	int rc;

	KS__REMOTE(c, ks__rc_unsubscribe(c));
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	g = c->group;
	if (g && c->subscribed) {
		ks_group_leave_t lv = { g->member_id, c->cfg.group_instance_id,
			0 };
		give_up(c, NULL, KS_REBALANCE_REVOKED);
		if (*g->member_id)
			(void)ks_group_leave(g->coord, c->cfg.group_id, &lv, 1);
		ks_assignment_free(g->owned);
		g->owned = NULL;
		subs_clear(g);
		free(g->member_id);
		g->member_id = strdup("");
		g->generation = -1;
		g->state = G_IDLE;
		c->subscribed = 0;
	}
	ks__consumer_leave(c);
	return rc;
}

/* ---- commits ------------------------------------------------------------ */

static int commit_parts(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n, int flags)
{
	struct ks__cgroup *g;
	ks_offset_commit_t *oc;
	size_t i;
	int rc;

	if ((rc = group_get(c, &g)) != 0)
		return rc;
	if (!parts)
		n = c->nparts;
	if (n == 0)
		return 0;
	if (!(oc = calloc(n, sizeof *oc)))
		return KS_ENOMEM;
	for (i = 0; i < n; i++) {
		const struct ks__cpart *p = parts ?
		    ks__consumer_find(c, parts[i].topic, parts[i].partition) :
		    &c->parts[i];
		if (parts && c->subscribed && !p) {
			free(oc);
			return KS_ENOTASSIGNED;
		}
		oc[i].topic = parts ? parts[i].topic : p->topic;
		oc[i].partition = parts ? parts[i].partition : p->partition;
		oc[i].offset = parts ? parts[i].offset : p->pos;
		oc[i].leader_epoch = -1;
		if (oc[i].offset < 0) {
			free(oc);
			return KS_EOFFSET;
		}
	}
	/* A member commits with its generation; a consumer that only
	 * assigns commits as the group's "simple" consumer. */
	rc = ks_group_commit(g->coord, c->cfg.group_id,
	    c->subscribed ? g->generation : -1,
	    c->subscribed ? g->member_id : "", c->cfg.group_instance_id, oc, n,
	    (flags & KS_COMMIT_ASYNC) ? 0 : KS_GROUP_COMMIT_DURABLE);
	free(oc);
	return rc;
}

int ks_consumer_commit(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n, int flags)
{
	int rc;

	KS__REMOTE(c, ks__rc_commit(c, parts, n, flags));
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	if (n && !parts)
		rc = KS_EINVAL;
	else
		rc = commit_parts(c, parts, n, flags);
	if (rc && (flags & KS_COMMIT_ASYNC)) {
		/* the documented place for an asynchronous commit's error */
		ks_log_stderr(NULL, KS_LOG_WARNING, ks_strerror(rc));
		rc = 0;
	}
	ks__consumer_leave(c);
	return rc;
}

int ks__consumer_committed(ks_consumer_t *c, const char *topic,
    int32_t partition, int64_t *offset)
{
	struct ks__cgroup *g;
	ks_group_tp_t tp = { topic, partition };
	ks_committed_t *out = NULL;
	size_t n = 0;
	int rc;

	*offset = -1;
	if (!c->cfg.group_id || !*c->cfg.group_id)
		return 0; /* no group: nothing committed */
	if ((rc = group_get(c, &g)) != 0)
		return rc;
	if ((rc = ks_group_fetch_offsets(g->coord, c->cfg.group_id, &tp, 1,
	         &out, &n)) != 0)
		return rc;
	if (n == 1)
		*offset = out[0].offset;
	ks_committed_free(out);
	return 0;
}

int ks_consumer_committed(ks_consumer_t *c, const char *topic,
    int32_t partition, int64_t *offset)
{
	int rc;
	KS__REMOTE(c, ks__rc_committed(c, topic, partition, offset));
	if (!offset || !topic)
		return KS_EINVAL;
	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	if (!c->cfg.group_id || !*c->cfg.group_id)
		rc = KS_EINVAL;
	else
		rc = ks__consumer_committed(c, topic, partition, offset);
	ks__consumer_leave(c);
	return rc;
}

int ks__consumer_group_close(ks_consumer_t *c)
{
	struct ks__cgroup *g = c->group;
	int rc = 0;

	if (!g)
		return 0;
	if (c->cfg.enable_auto_commit && c->nparts &&
	    (!c->subscribed || g->state == G_STABLE))
		rc = commit_parts(c, NULL, 0, 0);
	if (c->subscribed) {
		give_up(c, NULL, KS_REBALANCE_REVOKED);
		/* A static member does not leave on close: its partitions
		 * wait for it until its session times out (KIP-345). */
		if (*g->member_id && !c->cfg.group_instance_id) {
			ks_group_leave_t lv = { g->member_id, NULL, 0 };
			(void)ks_group_leave(g->coord, c->cfg.group_id, &lv, 1);
		}
	}
	/* A join or sync still pending holds the group until answered. */
	c->group = NULL;
	pthread_mutex_lock(&g->mu);
	unref_locked(g);
	return rc;
}

static void group_free(struct ks__cgroup *g)
{
	answers_clear(g);
	ks_assignment_free(g->owned);
	subs_clear(g);
	free(g->member_id);
	close(g->efd);
	pthread_mutex_destroy(&g->mu);
	free(g);
}
