/*
 * client_group.c: the remote consumer as a group member, through the
 * broker's coordinator: FindCoordinator, JoinGroup (again with the given
 * id on MEMBER_ID_REQUIRED), the leader's assignment with kstream's
 * assignors, SyncGroup, Heartbeat, LeaveGroup. Driven from inside
 * ks_consumer_poll: each request goes out asynchronously and its answer
 * (kept in a slot, the consumer's eventfd woken) is acted on in the next
 * step, so one thread can run several members.
 *
 * Rebalances are eager: every partition is given up (REVOKED, then the
 * auto-commit) before a join. A configuration of cooperative assignors
 * only is run eagerly too, which the cooperative-sticky assignor
 * tolerates: it then assigns as if nothing were owned.
 */
#include "client/consumer_impl.h"
#include "kafka/client_impl.h"

#include <errno.h>
#include <kstream/assignor.h>
#include <regex.h>
#include <stdio.h>

enum { G_IDLE, G_JOINING, G_SYNCING, G_STABLE };

struct kc_group {
	int state;
	char *member_id;           /* "" until the coordinator gives one */
	int32_t generation;
	ks_assignment_t *owned;
	char **subs;               /* subscribe()'s names and patterns */
	size_t nsubs;
	regex_t *res;
	int has_regex;
	char **topics;             /* what they named at the join, sorted */
	size_t ntopics;
	int32_t *nparts;
	struct kc_slot slot;       /* the join, sync or heartbeat in flight */
	int64_t next_hb_ns, retry_ns;
	int left;                  /* unsubscribed: no rejoin */
};

#define R(c) ((struct ks__rconsumer *)(c)->remote)

static void strv_free(char **v, size_t n)
{
	size_t i;
	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static void subs_clear(struct kc_group *g)
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
	g->has_regex = 0;
}

void kc_group_free(struct kc_group *g)
{
	if (!g)
		return;
	subs_clear(g);
	ks_assignment_free(g->owned);
	free(g->member_id);
	free(g->slot.body);
	free(g);
}

static int slot_busy(struct kc_group *g)
{
	int b;
	pthread_mutex_lock(&g->slot.cl->mu);
	b = g->slot.busy;
	pthread_mutex_unlock(&g->slot.cl->mu);
	return b;
}

/* ---- subscriptions --------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Refreshes metadata and lists what the subscription names now: the plain
 * names, and every topic a pattern matches ("__" topics excepted), sorted,
 * with partition counts (0 for a topic not there).
 */
static int expand(ks_consumer_t *c, struct kc_group *g, char ***outp,
    int32_t **npp, size_t *np)
{
	struct kc_cluster *cl = R(c)->cl;
	char **out;
	int32_t *cnt;
	size_t n = 0, i, j, cap;
	int rc;

	if (g->has_regex)
		rc = kc_metadata(cl, NULL, 0, 0);
	else
		rc = kc_metadata(cl, (const char *const *)g->subs, g->nsubs, 0);
	if (rc)
		return rc;
	pthread_mutex_lock(&cl->mu);
	cap = g->nsubs + cl->ntopics + 1;
	out = calloc(cap, sizeof *out);
	for (i = 0; out && i < g->nsubs; i++) {
		if (g->subs[i][0] != '^') {
			out[n++] = strdup(g->subs[i]);
			continue;
		}
		for (j = 0; j < cl->ntopics; j++) {
			const char *t = cl->topics[j].name;
			regmatch_t m;
			if (strncmp(t, "__", 2) != 0 && cl->topics[j].err == 0 &&
			    regexec(&g->res[i], t, 1, &m, 0) == 0 &&
			    m.rm_so == 0 && (size_t)m.rm_eo == strlen(t))
				out[n++] = strdup(t);
		}
	}
	pthread_mutex_unlock(&cl->mu);
	if (!out)
		return KS_ENOMEM;
	for (i = 0; i < n; i++)
		if (!out[i]) {
			strv_free(out, n);
			return KS_ENOMEM;
		}
	qsort(out, n, sizeof *out, cmp_str);
	for (i = j = 0; i < n; i++) {
		if (j && strcmp(out[j - 1], out[i]) == 0)
			free(out[i]);
		else
			out[j++] = out[i];
	}
	n = j;
	if (!(cnt = calloc(n + 1, sizeof *cnt))) {
		strv_free(out, n);
		return KS_ENOMEM;
	}
	pthread_mutex_lock(&cl->mu);
	for (i = 0; i < n; i++) {
		struct kc_mtopic *t = kc_topic_find(cl, out[i]);
		cnt[i] = t && t->err == 0 ? t->nparts : 0;
	}
	pthread_mutex_unlock(&cl->mu);
	*outp = out;
	*npp = cnt;
	*np = n;
	return 0;
}

/* Whether the subscribed topics or their partition counts changed since
 * the join: then the group must rebalance. */
static int metadata_changed(ks_consumer_t *c, struct kc_group *g)
{
	char **now;
	int32_t *cnt;
	size_t n, i;
	int changed;

	if (expand(c, g, &now, &cnt, &n) != 0)
		return 0;
	changed = n != g->ntopics;
	for (i = 0; !changed && i < n; i++)
		changed = strcmp(now[i], g->topics[i]) != 0 ||
		    cnt[i] != g->nparts[i];
	strv_free(now, n);
	free(cnt);
	return changed;
}

int ks__rc_subscribe(ks_consumer_t *c, const char *const *topics, size_t n)
{
	struct ks__rconsumer *r;
	struct kc_group *g, tmp;
	size_t i;
	int rc, proto;

	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	r = R(c);
	if (!topics || n == 0 || (r->nparts && !r->subscribed) ||
	    !c->cfg.group_id || !*c->cfg.group_id) {
		rc = KS_EINVAL;
		goto out;
	}
	if ((proto = ks_assignor_rebalance_protocol(c->cfg.assignors)) < 0) {
		rc = proto;
		goto out;
	}
	if (!(g = r->g)) {
		if (!(g = calloc(1, sizeof *g)) ||
		    !(g->member_id = strdup(""))) {
			free(g);
			rc = KS_ENOMEM;
			goto out;
		}
		g->generation = -1;
		g->slot.cl = r->cl;
		g->slot.efd = c->efd;
		r->g = g;
	}
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
			if (topics[i][0] == '^') {
				tmp.has_regex = 1;
				if (regcomp(&tmp.res[i], topics[i],
				        REG_EXTENDED)) {
					tmp.subs[i][0] = '!';
					rc = KS_EINVAL;
				}
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
	g->has_regex = tmp.has_regex;
	g->left = 0;
	r->subscribed = 1;
	if (g->state == G_STABLE)
		g->state = G_IDLE; /* a new subscription: join again */
out:
	ks__consumer_leave(c);
	return rc;
}

/* ---- assignment changes and their callbacks ------------------------------ */

static void notify(ks_consumer_t *c, int event, const ks_topic_partition_t *v,
    size_t n)
{
	/* Every completed rebalance ends with ASSIGNED, even with nothing
	 * assigned (as Kafka's onPartitionsAssigned): a member then knows it
	 * joined with no partitions. Revocations of nothing are not told. */
	if (c->cfg.rebalance_cb && (n || event == KS_REBALANCE_ASSIGNED))
		c->cfg.rebalance_cb(c->cfg.opaque, c, event, v, n);
}

/* Gives up every partition: the callback first, with the positions still
 * there to commit, then (REVOKED) the auto-commit, then removal. */
static void give_up_all(ks_consumer_t *c, int event)
{
	struct ks__rconsumer *r = R(c);
	struct kc_group *g = r->g;
	ks_topic_partition_t *v;
	size_t n = r->nparts, i;

	if (n && (v = calloc(n, sizeof *v))) {
		for (i = 0; i < n; i++) {
			v[i].topic = r->parts[i].topic;
			v[i].partition = r->parts[i].part;
			v[i].offset = r->parts[i].pos;
		}
		notify(c, event, v, n);
		free(v);
		if (event == KS_REBALANCE_REVOKED && c->cfg.enable_auto_commit &&
		    r->nparts)
			(void)kc_commit(c, NULL, 0, g->generation, g->member_id);
	}
	c->nmsgs = 0;
	kc_cpart_clear(r);
	ks_assignment_free(g->owned);
	g->owned = NULL;
}

/* The membership is gone (fenced, session expired): lost, not revoked. */
static void lose_all(ks_consumer_t *c, struct kc_group *g)
{
	give_up_all(c, KS_REBALANCE_LOST);
	free(g->member_id);
	g->member_id = strdup("");
	g->generation = -1;
	g->state = G_IDLE;
}

/* ---- the join/sync cycle ------------------------------------------------- */

static int send_join(ks_consumer_t *c, struct kc_group *g)
{
	kp_join_group_req_t q;
	struct kc_broker *b;
	struct kc_req *req;
	ks_subscription_t sub;
	char *list, *save = NULL, *name;
	uint8_t *meta = NULL;
	size_t len = 0;
	int rc;

	if (R(c)->nparts || g->owned)
		give_up_all(c, KS_REBALANCE_REVOKED); /* eager */
	strv_free(g->topics, g->ntopics);
	free(g->nparts);
	g->topics = NULL;
	g->nparts = NULL;
	g->ntopics = 0;
	if ((rc = expand(c, g, &g->topics, &g->nparts, &g->ntopics)) != 0)
		return rc;
	ks_subscription_init(&sub);
	sub.topics = (const char *const *)g->topics;
	sub.topic_count = g->ntopics;
	rc = ks_subscription_encode(&sub, NULL, 0, &len);
	if (rc == 0 || rc == -ENOBUFS) {
		if (!(meta = malloc(len ? len : 1)))
			return KS_ENOMEM;
		rc = ks_subscription_encode(&sub, meta, len, &len);
	}
	if (rc) {
		free(meta);
		return rc;
	}
	if ((rc = kc_coordinator(c, &b)) != 0) {
		free(meta);
		return rc;
	}
	/* static membership needs JoinGroup v5 */
	if (c->cfg.group_instance_id && kc_version(b, KP_JOIN_GROUP) < 5) {
		free(meta);
		return KS_EBROKER;
	}
	memset(&q, 0, sizeof q);
	q.group_id = kp_cstr(c->cfg.group_id);
	q.session_timeout_ms = c->cfg.session_timeout_ms;
	q.rebalance_timeout_ms = c->cfg.rebalance_timeout_ms;
	q.member_id = kp_cstr(g->member_id);
	q.group_instance_id = kp_cstr(c->cfg.group_instance_id);
	q.protocol_type = kp_cstr("consumer");
	/* one protocol per assignor named, each with the subscription */
	list = strdup(c->cfg.assignors);
	q.protocols = calloc(strlen(c->cfg.assignors) / 2 + 1,
	    sizeof *q.protocols);
	for (name = list && q.protocols ? strtok_r(list, ", ", &save) : NULL;
	     name; name = strtok_r(NULL, ", ", &save)) {
		kp_join_group_protocol_t *pr = &q.protocols[q.n_protocols++];
		pr->name = kp_cstr(name);
		pr->metadata.p = meta;
		pr->metadata.len = (int32_t)len;
	}
	rc = list && q.protocols ? kc_req_new(b, KP_JOIN_GROUP, &q, &req) :
	    KS_ENOMEM;
	free(q.protocols);
	free(list);
	free(meta);
	if (rc)
		return rc;
	/* The broker holds the answer until the group has rebalanced: the
	 * request may wait that long (Kafka clients do the same). */
	req->deadline_ns = ks__monotonic_ns() +
	    ((int64_t)c->cfg.rebalance_timeout_ms + 5000) * 1000000;
	if ((rc = kc_slot_send(&g->slot, req)) != 0)
		return rc;
	g->state = G_JOINING;
	return 0;
}

/* The leader's work: every member's assignment, encoded into as[i] (the
 * bytes malloc'd: the caller frees them, also after an error). */
static int leader_assign(ks_consumer_t *c, const char *protocol,
    const kp_join_group_member_t *mem, size_t n,
    kp_sync_group_assignment_t *as)
{
	struct kc_cluster *cl = R(c)->cl;
	const ks_assignor_t *asg = ks_assignor_find(protocol);
	ks_assignor_member_t *m;
	ks_assignor_topic_t *topics = NULL;
	ks_subscription_t **subs;
	ks_assignment_t **res;
	const char **names = NULL;
	size_t i, j, k, nt = 0, cap = 0;
	int rc = 0;

	if (!asg)
		return KS_EPROTOCOL;
	m = calloc(n, sizeof *m);
	subs = calloc(n, sizeof *subs);
	res = calloc(n, sizeof *res);
	if (!m || !subs || !res)
		rc = KS_ENOMEM;
	for (i = 0; i < n && rc == 0; i++) {
		rc = ks_subscription_decode(mem[i].metadata.p,
		    mem[i].metadata.len > 0 ? (size_t)mem[i].metadata.len : 0,
		    &subs[i]);
		m[i].member_id = mem[i].member_id.s;
		m[i].group_instance_id = mem[i].group_instance_id.s;
		m[i].subscription = subs[i];
		for (j = 0; rc == 0 && j < subs[i]->topic_count; j++) {
			for (k = 0; k < nt; k++)
				if (!strcmp(topics[k].name, subs[i]->topics[j]))
					break;
			if (k < nt)
				continue;
			if (nt == cap) {
				ks_assignor_topic_t *t2;
				cap = cap ? cap * 2 : 16;
				if (!(t2 = realloc(topics, cap * sizeof *t2))) {
					rc = KS_ENOMEM;
					break;
				}
				topics = t2;
			}
			topics[nt].name = subs[i]->topics[j];
			topics[nt++].partition_count = 0;
		}
	}
	/* the partition counts of every member's topics */
	if (rc == 0 && nt) {
		if (!(names = calloc(nt, sizeof *names)))
			rc = KS_ENOMEM;
		for (k = 0; rc == 0 && k < nt; k++)
			names[k] = topics[k].name;
		if (rc == 0)
			rc = kc_metadata(cl, names, nt, 0);
		pthread_mutex_lock(&cl->mu);
		for (k = 0; rc == 0 && k < nt; k++) {
			struct kc_mtopic *t = kc_topic_find(cl, topics[k].name);
			topics[k].partition_count = t && !t->err ? t->nparts : 0;
		}
		pthread_mutex_unlock(&cl->mu);
		for (k = j = 0; rc == 0 && k < nt; k++)
			if (topics[k].partition_count > 0)
				topics[j++] = topics[k];
		nt = j;
	}
	if (rc == 0)
		rc = ks_assignor_assign(asg, m, n, topics, nt, res);
	for (i = 0; rc == 0 && i < n; i++) {
		size_t len = 0;
		uint8_t *buf;
		rc = ks_assignment_encode(res[i], NULL, 0, &len);
		if (rc != 0 && rc != -ENOBUFS)
			break;
		if (!(buf = malloc(len ? len : 1))) {
			rc = KS_ENOMEM;
			break;
		}
		rc = ks_assignment_encode(res[i], buf, len, &len);
		as[i].member_id = mem[i].member_id;
		as[i].assignment.p = buf;
		as[i].assignment.len = (int32_t)len;
	}
	for (i = 0; res && i < n; i++)
		ks_assignment_free(res[i]);
	for (i = 0; subs && i < n; i++)
		ks_subscription_free(subs[i]);
	free(res);
	free(subs);
	free(m);
	free(topics);
	free(names);
	return rc;
}

/* SyncGroup after a join of generation gen: the leader (members given)
 * brings every member's assignment. */
static int send_sync(ks_consumer_t *c, struct kc_group *g, int32_t gen,
    const kp_join_group_resp_t *j, int leader)
{
	kp_sync_group_req_t q;
	struct kc_broker *b;
	struct kc_req *req;
	int32_t i;
	int rc;

	if ((rc = kc_coordinator(c, &b)) != 0)
		return rc;
	memset(&q, 0, sizeof q);
	q.group_id = kp_cstr(c->cfg.group_id);
	q.generation_id = gen;
	q.member_id = kp_cstr(g->member_id);
	q.group_instance_id = kp_cstr(c->cfg.group_instance_id);
	if (leader && j->n_members > 0) {
		if (!(q.assignments = calloc((size_t)j->n_members,
		          sizeof *q.assignments)))
			return KS_ENOMEM;
		q.n_assignments = j->n_members;
		rc = leader_assign(c, j->protocol_name.s, j->members,
		    (size_t)j->n_members, q.assignments);
	}
	if (rc == 0)
		rc = kc_req_new(b, KP_SYNC_GROUP, &q, &req);
	for (i = 0; i < q.n_assignments; i++)
		free((void *)q.assignments[i].assignment.p);
	free(q.assignments);
	if (rc)
		return rc;
	/* held until the leader syncs */
	req->deadline_ns = ks__monotonic_ns() +
	    ((int64_t)c->cfg.rebalance_timeout_ms + 5000) * 1000000;
	if ((rc = kc_slot_send(&g->slot, req)) == 0)
		g->state = G_SYNCING;
	return rc;
}

/* The JoinGroup answer: the next step of the cycle. */
static int on_join(ks_consumer_t *c, struct kc_group *g, int16_t ver,
    const uint8_t *body, size_t len)
{
	kp_join_group_resp_t m;
	kp_arena_t arena;
	int16_t err;
	int rc;

	kp_arena_init(&arena);
	rc = kc_decode(KP_JOIN_GROUP, ver, body, len, &arena, &m, sizeof m);
	err = m.error_code;
	g->state = G_IDLE;
	if (rc == 0 && (err == 0 || err == KP_MEMBER_ID_REQUIRED)) {
		free(g->member_id);
		if (!(g->member_id = strdup(m.member_id.s)))
			rc = KS_ENOMEM;
	}
	if (rc) {
		/* nothing to do but try again */
	} else if (err == KP_MEMBER_ID_REQUIRED) {
		g->retry_ns = 0; /* again at once, with the id given */
	} else if (err == KP_UNKNOWN_MEMBER_ID) {
		free(g->member_id);
		g->member_id = strdup("");
		g->generation = -1;
	} else if (err == KP_REBALANCE_IN_PROGRESS) {
		g->retry_ns = 0;
	} else if (err) {
		if (err == KP_NOT_COORDINATOR ||
		    err == KP_COORDINATOR_NOT_AVAILABLE)
			R(c)->coord = NULL;
		g->retry_ns = ks__monotonic_ns() +
		    (int64_t)R(c)->cl->rc.retry_backoff_ms * 1000000;
		if (!kc_retriable(err))
			rc = kc_err(err);
	} else {
		g->generation = m.generation_id;
		rc = send_sync(c, g, m.generation_id, &m,
		    kp_str_eq_c(m.leader, g->member_id));
	}
	kp_arena_free(&arena);
	if (!g->member_id)
		return KS_ENOMEM;
	return rc;
}

/* Applies the assignment SyncGroup brought. */
static int apply(ks_consumer_t *c, struct kc_group *g, const void *bytes,
    size_t len, int64_t now)
{
	struct ks__rconsumer *r = R(c);
	ks_assignment_t *na = NULL;
	ks_topic_partition_t *v;
	size_t i, j, n = 0;
	int rc = 0;

	if (len && (rc = ks_assignment_decode(bytes, len, &na)) != 0)
		return rc;
	for (i = 0; na && i < na->assigned_count; i++)
		n += na->assigned[i].partition_count;
	if (!(v = calloc(n ? n : 1, sizeof *v))) {
		ks_assignment_free(na);
		return KS_ENOMEM;
	}
	for (n = 0, i = 0; na && i < na->assigned_count; i++)
		for (j = 0; j < na->assigned[i].partition_count; j++) {
			const char *t = na->assigned[i].topic;
			int32_t p = na->assigned[i].partitions[j];
			if (!kc_cpart_find(r, t, p) &&
			    (rc = kc_cpart_add(c, t, p, KS_OFFSET_STORED)) != 0)
				break;
			v[n].topic = t;
			v[n].partition = p;
			v[n++].offset = kc_cpart_find(r, t, p)->pos;
		}
	if (rc) {
		kc_cpart_clear(r);
		free(v);
		ks_assignment_free(na);
		return rc;
	}
	ks_assignment_free(g->owned);
	g->owned = na;
	g->state = G_STABLE;
	g->next_hb_ns = now + (int64_t)c->cfg.heartbeat_interval_ms * 1000000;
	r->next_commit_ns = now + c->cfg.auto_commit_interval_ms * 1000000;
	notify(c, KS_REBALANCE_ASSIGNED, v, n);
	free(v);
	return 0;
}

static int send_heartbeat(ks_consumer_t *c, struct kc_group *g)
{
	kp_heartbeat_req_t q;
	struct kc_broker *b;
	struct kc_req *req;
	int rc;

	if ((rc = kc_coordinator(c, &b)) != 0)
		return rc;
	memset(&q, 0, sizeof q);
	q.group_id = kp_cstr(c->cfg.group_id);
	q.generation_id = g->generation;
	q.member_id = kp_cstr(g->member_id);
	q.group_instance_id = kp_cstr(c->cfg.group_instance_id);
	if ((rc = kc_req_new(b, KP_HEARTBEAT, &q, &req)) != 0)
		return rc;
	return kc_slot_send(&g->slot, req);
}

/* The SyncGroup answer. */
static int on_sync(ks_consumer_t *c, struct kc_group *g, int16_t ver,
    const uint8_t *body, size_t len, int64_t now)
{
	kp_sync_group_resp_t m;
	kp_arena_t arena;
	int16_t err;
	int rc = 0;

	kp_arena_init(&arena);
	if (kc_decode(KP_SYNC_GROUP, ver, body, len, &arena, &m, sizeof m))
		g->state = G_IDLE;
	else if ((err = m.error_code) == KP_UNKNOWN_MEMBER_ID ||
	         err == KP_ILLEGAL_GENERATION || err == KP_FENCED_INSTANCE_ID)
		lose_all(c, g);
	else if (err)
		g->state = G_IDLE;
	else
		rc = apply(c, g, m.assignment.p, m.assignment.len > 0 ?
		    (size_t)m.assignment.len : 0, now);
	kp_arena_free(&arena);
	return rc;
}

/* The Heartbeat answer (one we cannot read changes nothing). */
static void on_heartbeat(ks_consumer_t *c, struct kc_group *g, int16_t ver,
    const uint8_t *body, size_t len)
{
	kp_heartbeat_resp_t m;
	kp_arena_t arena;
	int16_t err;

	kp_arena_init(&arena);
	err = kc_decode(KP_HEARTBEAT, ver, body, len, &arena, &m, sizeof m) ?
	    0 : m.error_code;
	kp_arena_free(&arena);
	if (err == KP_REBALANCE_IN_PROGRESS)
		g->state = G_IDLE;
	else if (err == KP_UNKNOWN_MEMBER_ID || err == KP_ILLEGAL_GENERATION ||
	         err == KP_FENCED_INSTANCE_ID)
		lose_all(c, g);
	else if (err == KP_NOT_COORDINATOR ||
	         err == KP_COORDINATOR_NOT_AVAILABLE)
		R(c)->coord = NULL;
}

int kc_group_step(ks_consumer_t *c, int64_t now)
{
	struct ks__rconsumer *r = R(c);
	struct kc_group *g = r->g;
	uint8_t *body = NULL;
	size_t len;
	int16_t ver;
	int err, rc = 0;

	if (!g || !r->subscribed)
		return 0;
	if (kc_slot_take(&g->slot, &err, &body, &len, &ver)) {
		if (err) {
			/* the coordinator's connection failed: find it again */
			r->coord = NULL;
			g->state = g->state == G_STABLE ? G_STABLE : G_IDLE;
			g->retry_ns = now +
			    (int64_t)r->cl->rc.retry_backoff_ms * 1000000;
		} else if (g->state == G_JOINING) {
			rc = on_join(c, g, ver, body, len);
		} else if (g->state == G_SYNCING) {
			rc = on_sync(c, g, ver, body, len, now);
		} else if (g->state == G_STABLE) {
			on_heartbeat(c, g, ver, body, len);
		}
		free(body);
	}
	if (rc)
		return rc;
	if (slot_busy(g))
		return 0;
	switch (g->state) {
	case G_IDLE:
		if (g->left || now < g->retry_ns)
			break;
		if ((rc = send_join(c, g)) != 0) {
			g->retry_ns = now +
			    (int64_t)r->cl->rc.retry_backoff_ms * 1000000;
			if (rc == KS_ECLOSED || rc == -ECONNREFUSED ||
			    rc == KS_ETIMEDOUT || rc == -ENOTCONN)
				rc = 0; /* the coordinator again, later */
		}
		break;
	case G_STABLE:
		if (now < g->next_hb_ns)
			break;
		g->next_hb_ns = now +
		    (int64_t)c->cfg.heartbeat_interval_ms * 1000000;
		if (metadata_changed(c, g)) {
			g->state = G_IDLE;
			g->retry_ns = 0;
			break;
		}
		(void)send_heartbeat(c, g);
		break;
	}
	/* auto-commit while stable */
	if (rc == 0 && g->state == G_STABLE && c->cfg.enable_auto_commit &&
	    r->nparts && now >= r->next_commit_ns) {
		r->next_commit_ns = now + c->cfg.auto_commit_interval_ms *
		    1000000;
		(void)kc_commit(c, NULL, 0, g->generation, g->member_id);
	}
	return rc;
}

int64_t kc_group_due(ks_consumer_t *c, int64_t now)
{
	struct ks__rconsumer *r = R(c);
	struct kc_group *g = r->g;
	int64_t due = INT64_MAX;

	if (!r->subscribed || !g) {
		if (c->cfg.enable_auto_commit && r->nparts && c->cfg.group_id)
			due = r->next_commit_ns - now;
		return due < 0 ? 0 : due;
	}
	if (g->state == G_IDLE && !g->left && !slot_busy(g))
		due = g->retry_ns - now;
	if (g->state == G_STABLE) {
		due = g->next_hb_ns - now;
		if (c->cfg.enable_auto_commit && r->nparts)
			due = KS__MIN(due, r->next_commit_ns - now);
	}
	return due < 0 ? 0 : due;
}

int kc_group_commit(ks_consumer_t *c, const ks_topic_partition_t *parts,
    size_t n)
{
	struct ks__rconsumer *r = R(c);
	struct kc_group *g = r->g;
	size_t i;

	if (!r->subscribed || !g)
		return kc_commit(c, parts, n, -1, "");
	for (i = 0; parts && i < n; i++)
		if (!kc_cpart_find(r, parts[i].topic, parts[i].partition))
			return KS_ENOTASSIGNED;
	if (g->state != G_STABLE)
		return KS_EREBALANCE;
	return kc_commit(c, parts, n, g->generation, g->member_id);
}

/* Leaves the group: REVOKED (and the auto-commit), then LeaveGroup. */
static void leave(ks_consumer_t *c, struct kc_group *g)
{
	struct kc_broker *b;

	if (g->state == G_STABLE)
		give_up_all(c, KS_REBALANCE_REVOKED);
	else
		give_up_all(c, KS_REBALANCE_LOST);
	/* A static member does not leave: its partitions wait for it until
	 * its session times out (KIP-345). A join still pending would hold
	 * the leave behind it on the coordinator's connection. */
	if (*g->member_id && !c->cfg.group_instance_id && !slot_busy(g) &&
	    kc_coordinator(c, &b) == 0) {
		kp_leave_group_req_t q;
		kp_leave_group_member_t me;
		kp_leave_group_resp_t m;
		kc_resp_t keep;

		memset(&q, 0, sizeof q);
		memset(&me, 0, sizeof me);
		memset(&keep, 0, sizeof keep);
		q.group_id = kp_cstr(c->cfg.group_id);
		q.member_id = kp_cstr(g->member_id);    /* v0-2 */
		me.member_id = q.member_id;             /* v3+ */
		me.group_instance_id = kp_cstr(NULL);
		q.n_members = 1;
		q.members = &me;
		(void)KC_RPC(b, KP_LEAVE_GROUP, &q, &m, &keep);
		kc_resp_free(&keep);
	}
	free(g->member_id);
	g->member_id = strdup("");
	g->generation = -1;
	g->state = G_IDLE;
}

int ks__rc_unsubscribe(ks_consumer_t *c)
{
	struct ks__rconsumer *r;
	int rc;

	if ((rc = ks__consumer_enter(c)) != 0)
		return rc;
	r = R(c);
	if (r->g && r->subscribed) {
		leave(c, r->g);
		subs_clear(r->g);
		r->g->left = 1;
		r->subscribed = 0;
		if (!r->g->member_id)
			rc = KS_ENOMEM;
	}
	ks__consumer_leave(c);
	return rc;
}

void kc_group_close(ks_consumer_t *c)
{
	struct ks__rconsumer *r = R(c);
	if (r->g && r->subscribed)
		leave(c, r->g);
}
