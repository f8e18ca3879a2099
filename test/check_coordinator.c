/*
 * check_coordinator.c: the group coordinator: joins, syncs, heartbeats,
 * rebalances and their timeouts (on a fake clock, driven through
 * ks_coordinator_tick), static membership, leaves, committed offsets and
 * their log, and many threads at once.
 */
#define _GNU_SOURCE
#include "util.h"

#include <kstream/group.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- a fake clock --------------------------------------------------------- */

static int64_t fake_ms;

static int64_t fake_clock(void *opaque)
{
	(void)opaque;
	return __atomic_load_n(&fake_ms, __ATOMIC_RELAXED);
}

/* Moves the fake clock on by ms and runs the coordinator's timers. */
static void advance(ks_coordinator_t *c, int64_t ms)
{
	__atomic_add_fetch(&fake_ms, ms, __ATOMIC_RELAXED);
	KT_OK(ks_coordinator_tick(c, -1));
}

static int log_warnings;

static void count_warnings(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)msg;
	if (level <= KS_LOG_WARNING)
		__atomic_add_fetch(&log_warnings, 1, __ATOMIC_RELAXED);
}

static ks_coordinator_t *coord_on(ks_log_t *log)
{
	ks_coordinator_config_t cfg;
	ks_coordinator_t *c = NULL;

	ks_coordinator_config_init(&cfg);
	cfg.min_session_timeout_ms = 10;
	cfg.tick_interval_ms = 0;
	cfg.clock_ms = fake_clock;
	cfg.log_cb = count_warnings;
	KT_OK(ks_coordinator_new(&cfg, log, &c));
	ck_assert_ptr_nonnull(c);
	return c;
}

static ks_coordinator_t *coord(void)
{
	return coord_on(NULL);
}

/* ---- capturing answers ---------------------------------------------------- */

#define MAXM 16
#define IDLEN 160

struct reply {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls, err;
	int32_t generation;
	char member_id[IDLEN], leader_id[IDLEN], protocol[64], ptype[64];
	int required, skip;
	size_t nmembers;
	char members[MAXM][IDLEN];
	char metas[MAXM][64];
	char assignment[256];
	size_t assignment_len;
};

static void reply_init(struct reply *r)
{
	memset(r, 0, sizeof *r);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->err = 1; /* no answer yet */
}

static void reply_destroy(struct reply *r)
{
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
}

static void on_join(void *opaque, int err, const ks_join_result_t *res)
{
	struct reply *r = opaque;
	size_t i;

	ck_assert_ptr_nonnull(res);
	pthread_mutex_lock(&r->mu);
	r->calls++;
	r->err = err;
	r->generation = res->generation;
	snprintf(r->member_id, IDLEN, "%s", res->member_id);
	snprintf(r->leader_id, IDLEN, "%s", res->leader_id);
	snprintf(r->protocol, sizeof r->protocol, "%s", res->protocol_name);
	snprintf(r->ptype, sizeof r->ptype, "%s", res->protocol_type);
	r->required = res->member_id_required;
	r->skip = res->skip_assignment;
	r->nmembers = res->member_count;
	for (i = 0; i < res->member_count && i < MAXM; i++) {
		snprintf(r->members[i], IDLEN, "%s", res->members[i].member_id);
		snprintf(r->metas[i], sizeof r->metas[i], "%.*s",
		    (int)res->members[i].metadata_len,
		    (const char *)res->members[i].metadata);
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void on_sync(void *opaque, int err, const ks_sync_result_t *res)
{
	struct reply *r = opaque;

	ck_assert_ptr_nonnull(res);
	pthread_mutex_lock(&r->mu);
	r->calls++;
	r->err = err;
	snprintf(r->protocol, sizeof r->protocol, "%s", res->protocol_name);
	r->assignment_len = res->assignment_len;
	ck_assert_uint_lt(res->assignment_len, sizeof r->assignment);
	memcpy(r->assignment, res->assignment, res->assignment_len);
	r->assignment[res->assignment_len] = 0;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* Waits for the answer; its error. */
static int reply_wait(struct reply *r)
{
	int err;
	pthread_mutex_lock(&r->mu);
	while (!r->calls)
		pthread_cond_wait(&r->cv, &r->mu);
	err = r->err;
	pthread_mutex_unlock(&r->mu);
	return err;
}

static int reply_calls(struct reply *r)
{
	int n;
	pthread_mutex_lock(&r->mu);
	n = r->calls;
	pthread_mutex_unlock(&r->mu);
	return n;
}

static int32_t session_ms = 1000, rebalance_ms = 3000;

/*
 * Joins group (member "" or NULL: new) with the comma-separated protocols,
 * each with metadata meta. The answer lands in r (re-initialised).
 */
static void join_f(ks_coordinator_t *c, const char *group, const char *member,
    const char *instance, const char *protos, const char *meta, int flags,
    struct reply *r)
{
	ks_join_request_t req;
	ks_group_protocol_t p[4];
	char buf[128], mid[IDLEN], *save = NULL, *tok;
	size_t n = 0;

	/* member may point into r, which is about to be cleared */
	snprintf(mid, sizeof mid, "%s", member ? member : "");
	reply_init(r);
	snprintf(buf, sizeof buf, "%s", protos);
	for (tok = strtok_r(buf, ",", &save); tok && n < 4;
	    tok = strtok_r(NULL, ",", &save)) {
		p[n].name = tok;
		p[n].metadata = meta;
		p[n].metadata_len = strlen(meta);
		n++;
	}
	ks_join_request_init(&req);
	req.group_id = group;
	req.member_id = mid;
	req.instance_id = instance;
	req.client_id = "client";
	req.client_host = "/127.0.0.1";
	req.session_timeout_ms = session_ms;
	req.rebalance_timeout_ms = rebalance_ms;
	req.protocols = p;
	req.protocol_count = n;
	req.flags = flags;
	KT_OK(ks_group_join(c, &req, on_join, r));
}

static void join(ks_coordinator_t *c, const char *group, const char *member,
    const char *instance, const char *protos, const char *meta,
    struct reply *r)
{
	join_f(c, group, member, instance, protos, meta, 0, r);
}

/* Syncs; assignments as "member=bytes" pairs, NULL-terminated. */
static void sync_as(ks_coordinator_t *c, const char *group, int32_t gen,
    const char *member, const char *const *pairs, struct reply *r)
{
	ks_sync_request_t req;
	ks_group_assignment_t a[MAXM];
	char ids[MAXM][IDLEN], mid[IDLEN];
	size_t n = 0;

	snprintf(mid, sizeof mid, "%s", member);
	reply_init(r);
	for (; pairs && *pairs && n < MAXM; pairs++, n++) {
		const char *eq = strchr(*pairs, '=');
		ck_assert_ptr_nonnull(eq);
		snprintf(ids[n], IDLEN, "%.*s", (int)(eq - *pairs), *pairs);
		a[n].member_id = ids[n];
		a[n].assignment = eq + 1;
		a[n].assignment_len = strlen(eq + 1);
	}
	ks_sync_request_init(&req);
	req.group_id = group;
	req.generation = gen;
	req.member_id = mid;
	req.assignments = a;
	req.assignment_count = n;
	KT_OK(ks_group_sync(c, &req, on_sync, r));
}

static int state_of(ks_coordinator_t *c, const char *group)
{
	ks_group_info_t *info;
	int st;
	KT_OK(ks_group_describe(c, group, &info));
	st = info->state;
	ks_group_info_free(info);
	return st;
}

/*
 * Two members a and b (a the leader) in a stable group "g" with
 * assignments "A" and "B".
 */
struct pair {
	struct reply a, b, sa, sb;
	int32_t gen;
};

static void make_pair(ks_coordinator_t *c, struct pair *p)
{
	join(c, "g", "", NULL, "range", "ma", &p->a);
	ck_assert_int_eq(p->a.err, 0);
	join(c, "g", "", NULL, "range", "mb", &p->b);
	ck_assert_int_eq(reply_calls(&p->b), 0);
	ck_assert_int_eq(ks_group_heartbeat(c, "g", p->a.generation,
	    p->a.member_id, NULL), KS_EREBALANCE);
	join(c, "g", p->a.member_id, NULL, "range", "ma", &p->a);
	ck_assert_int_eq(p->a.err, 0);
	ck_assert_int_eq(p->b.err, 0);
	p->gen = p->a.generation;
	{
		char ea[IDLEN + 4], eb[IDLEN + 4];
		const char *pairs[] = { ea, eb, NULL };
		snprintf(ea, sizeof ea, "%s=A", p->a.member_id);
		snprintf(eb, sizeof eb, "%s=B", p->b.member_id);
		sync_as(c, "g", p->gen, p->b.member_id, NULL, &p->sb);
		sync_as(c, "g", p->gen, p->a.member_id, pairs, &p->sa);
	}
	ck_assert_int_eq(p->sa.err, 0);
	ck_assert_int_eq(p->sb.err, 0);
	ck_assert_int_eq(state_of(c, "g"), KS_GROUP_STABLE);
}

/* ---- tests ------------------------------------------------------------------ */

START_TEST(one_member)
{
	ks_coordinator_t *c = coord();
	struct reply j, s;

	join(c, "g", "", NULL, "range,roundrobin", "meta", &j);
	/* alone, the member completes the rebalance itself, in its call */
	ck_assert_int_eq(j.calls, 1);
	ck_assert_int_eq(j.err, 0);
	ck_assert_int_eq(j.generation, 1);
	ck_assert_str_eq(j.protocol, "range");
	ck_assert_str_eq(j.ptype, "consumer");
	ck_assert_str_eq(j.leader_id, j.member_id);
	ck_assert_msg(strncmp(j.member_id, "client-", 7) == 0 &&
	    strlen(j.member_id) == 7 + 36, "member id %s", j.member_id);
	ck_assert_uint_eq(j.nmembers, 1);
	ck_assert_str_eq(j.members[0], j.member_id);
	ck_assert_str_eq(j.metas[0], "meta");
	ck_assert_int_eq(state_of(c, "g"), KS_GROUP_COMPLETING_REBALANCE);
	/* between join and sync, heartbeats are fine */
	KT_OK(ks_group_heartbeat(c, "g", 1, j.member_id, NULL));
	{
		char e[IDLEN + 8];
		const char *pairs[] = { e, NULL };
		snprintf(e, sizeof e, "%s=parts", j.member_id);
		sync_as(c, "g", 1, j.member_id, pairs, &s);
	}
	ck_assert_int_eq(s.calls, 1);
	ck_assert_int_eq(s.err, 0);
	ck_assert_str_eq(s.assignment, "parts");
	ck_assert_str_eq(s.protocol, "range");
	ck_assert_int_eq(state_of(c, "g"), KS_GROUP_STABLE);
	KT_OK(ks_group_heartbeat(c, "g", 1, j.member_id, NULL));
	/* a sync again in a stable group: the same bytes at once */
	sync_as(c, "g", 1, j.member_id, NULL, &s);
	ck_assert_int_eq(s.err, 0);
	ck_assert_str_eq(s.assignment, "parts");
	/* time passes with heartbeats: still there */
	advance(c, 600);
	KT_OK(ks_group_heartbeat(c, "g", 1, j.member_id, NULL));
	advance(c, 600);
	KT_OK(ks_group_heartbeat(c, "g", 1, j.member_id, NULL));
	ks_coordinator_free(c);
	reply_destroy(&j);
	reply_destroy(&s);
}
END_TEST

START_TEST(two_members)
{
	ks_coordinator_t *c = coord();
	struct reply a, b, sa, sb;
	char ea[IDLEN + 4], eb[IDLEN + 4];
	const char *pairs[] = { ea, eb, NULL };

	join(c, "g", "", NULL, "range", "ma", &a);
	ck_assert_int_eq(a.generation, 1);
	sync_as(c, "g", 1, a.member_id, NULL, &sa);
	ck_assert_int_eq(sa.err, 0);
	ck_assert_uint_eq(sa.assignment_len, 0);

	/* the second member's join starts a rebalance and is held */
	join(c, "g", "", NULL, "range", "mb", &b);
	ck_assert_int_eq(b.calls, 0);
	ck_assert_int_eq(state_of(c, "g"), KS_GROUP_PREPARING_REBALANCE);
	ck_assert_int_eq(ks_group_heartbeat(c, "g", 1, a.member_id, NULL),
	    KS_EREBALANCE);
	/* a sync now is told the same */
	sync_as(c, "g", 1, a.member_id, NULL, &sa);
	ck_assert_int_eq(sa.err, KS_EREBALANCE);
	/* the first rejoins: both complete, in the same generation */
	join(c, "g", a.member_id, NULL, "range", "ma", &a);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(a.err, 0);
	ck_assert_int_eq(b.err, 0);
	ck_assert_int_eq(a.generation, 2);
	ck_assert_int_eq(b.generation, 2);
	ck_assert_str_eq(a.leader_id, a.member_id);
	ck_assert_str_eq(b.leader_id, a.member_id);
	ck_assert_str_ne(a.member_id, b.member_id);
	/* only the leader gets the member list */
	ck_assert_uint_eq(a.nmembers, 2);
	ck_assert_uint_eq(b.nmembers, 0);
	ck_assert_str_eq(a.members[0], a.member_id);
	ck_assert_str_eq(a.metas[0], "ma");
	ck_assert_str_eq(a.members[1], b.member_id);
	ck_assert_str_eq(a.metas[1], "mb");

	/* the follower's sync waits for the leader's */
	sync_as(c, "g", 2, b.member_id, NULL, &sb);
	ck_assert_int_eq(sb.calls, 0);
	snprintf(ea, sizeof ea, "%s=A", a.member_id);
	snprintf(eb, sizeof eb, "%s=BB", b.member_id);
	sync_as(c, "g", 2, a.member_id, pairs, &sa);
	ck_assert_int_eq(sa.calls, 1);
	ck_assert_int_eq(sb.calls, 1);
	ck_assert_int_eq(sa.err, 0);
	ck_assert_int_eq(sb.err, 0);
	ck_assert_str_eq(sa.assignment, "A");
	ck_assert_str_eq(sb.assignment, "BB");
	KT_OK(ks_group_heartbeat(c, "g", 2, a.member_id, NULL));
	KT_OK(ks_group_heartbeat(c, "g", 2, b.member_id, NULL));

	/* a follower that rejoins unchanged gets the same answer, no
	 * rebalance; the leader's rejoin rebalances */
	join(c, "g", b.member_id, NULL, "range", "mb", &b);
	ck_assert_int_eq(b.err, 0);
	ck_assert_int_eq(b.generation, 2);
	ck_assert_uint_eq(b.nmembers, 0);
	ck_assert_int_eq(state_of(c, "g"), KS_GROUP_STABLE);
	join(c, "g", a.member_id, NULL, "range", "ma", &a);
	ck_assert_int_eq(a.calls, 0);
	ck_assert_int_eq(ks_group_heartbeat(c, "g", 2, b.member_id, NULL),
	    KS_EREBALANCE);
	join(c, "g", b.member_id, NULL, "range", "mb", &b);
	ck_assert_int_eq(a.generation, 3);
	ck_assert_int_eq(b.generation, 3);
	ks_coordinator_free(c);
}
END_TEST

START_TEST(sync_held_until_leader)
{
	ks_coordinator_t *c = coord();
	struct reply a, b, d, sa, sb, sd;
	char ea[IDLEN + 4], ed[IDLEN + 4];
	const char *pairs[] = { ea, ed, NULL };

	join(c, "g", "", NULL, "range", "ma", &a);
	join(c, "g", "", NULL, "range", "mb", &b);
	join(c, "g", "", NULL, "range", "md", &d);
	join(c, "g", a.member_id, NULL, "range", "ma", &a);
	ck_assert_int_eq(b.err, 0);
	ck_assert_int_eq(d.err, 0);
	ck_assert_uint_eq(a.nmembers, 3);
	sync_as(c, "g", a.generation, b.member_id, NULL, &sb);
	sync_as(c, "g", a.generation, d.member_id, NULL, &sd);
	ck_assert_int_eq(sb.calls + sd.calls, 0);
	/* the leader leaves b out: b gets empty bytes; an unknown member in
	 * the assignment is ignored */
	snprintf(ea, sizeof ea, "%s=1", a.member_id);
	snprintf(ed, sizeof ed, "%s=333", d.member_id);
	{
		const char *more[] = { ea, ed, "nobody=x", NULL };
		(void)pairs;
		sync_as(c, "g", a.generation, a.member_id, more, &sa);
	}
	ck_assert_int_eq(sa.err, 0);
	ck_assert_int_eq(sb.err, 0);
	ck_assert_int_eq(sd.err, 0);
	ck_assert_str_eq(sa.assignment, "1");
	ck_assert_uint_eq(sb.assignment_len, 0);
	ck_assert_str_eq(sd.assignment, "333");

	/* a held follower sync gets KS_EREBALANCE when a rebalance starts */
	join(c, "g", "", NULL, "range", "me", &sa);
	join(c, "g", a.member_id, NULL, "range", "ma", &a);
	join(c, "g", b.member_id, NULL, "range", "mb", &b);
	join(c, "g", d.member_id, NULL, "range", "md", &d);
	ck_assert_int_eq(a.err, 0);
	ck_assert_int_eq(sa.err, 0); /* the new member's join */
	sync_as(c, "g", a.generation, b.member_id, NULL, &sb);
	ck_assert_int_eq(sb.calls, 0);
	join(c, "g", "", NULL, "range", "mf", &sd);
	ck_assert_int_eq(sb.calls, 1);
	ck_assert_int_eq(sb.err, KS_EREBALANCE);
	ks_coordinator_free(c);
	/* and the held join of the last one gets KS_ECLOSED */
	ck_assert_int_eq(sd.calls, 1);
	ck_assert_int_eq(sd.err, KS_ECLOSED);
}
END_TEST

START_TEST(no_common_protocol)
{
	ks_coordinator_t *c = coord();
	struct reply a, b;
	ks_join_request_t req;

	join(c, "g", "", NULL, "range,sticky", "m", &a);
	ck_assert_int_eq(a.err, 0);
	join(c, "g", "", NULL, "roundrobin", "m", &b);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(b.err, KS_EPROTOCOL);
	/* the group is untouched */
	ck_assert_int_eq(state_of(c, "g"), KS_GROUP_COMPLETING_REBALANCE);
	/* one in common is enough; the group's members vote for it */
	join(c, "g", "", NULL, "roundrobin,sticky", "m", &b);
	ck_assert_int_eq(b.calls, 0);
	join(c, "g", a.member_id, NULL, "range,sticky", "m", &a);
	ck_assert_int_eq(b.err, 0);
	ck_assert_str_eq(a.protocol, "sticky");
	ck_assert_str_eq(b.protocol, "sticky");
	/* another protocol type */
	reply_init(&b);
	ks_join_request_init(&req);
	req.group_id = "g";
	req.protocol_type = "connect";
	req.session_timeout_ms = session_ms;
	{
		ks_group_protocol_t p = { "sticky", "m", 1 };
		req.protocols = &p;
		req.protocol_count = 1;
		KT_OK(ks_group_join(c, &req, on_join, &b));
	}
	ck_assert_int_eq(b.err, KS_EPROTOCOL);
	/* no protocol at all, even for a new group */
	req.group_id = "other";
	req.protocol_count = 0;
	req.protocols = NULL;
	KT_OK(ks_group_join(c, &req, on_join, &b));
	ck_assert_int_eq(b.err, KS_EPROTOCOL);
	ck_assert_int_eq(state_of(c, "other"), KS_GROUP_DEAD);
	/* refused calls never call back */
	req.protocol_count = 1;
	ck_assert_int_eq(ks_group_join(c, &req, on_join, &b), KS_EINVAL);
	req.protocols = &(ks_group_protocol_t){ "x", NULL, 0 };
	req.session_timeout_ms = 5; /* below group.min.session.timeout.ms */
	ck_assert_int_eq(ks_group_join(c, &req, on_join, &b), KS_EINVAL);
	req.session_timeout_ms = session_ms;
	req.group_id = "";
	ck_assert_int_eq(ks_group_join(c, &req, on_join, &b), KS_EINVAL);
	ck_assert_int_eq(ks_group_join(c, NULL, on_join, &b), KS_EINVAL);
	req.group_id = "g";
	ck_assert_int_eq(ks_group_join(c, &req, NULL, &b), KS_EINVAL);
	ck_assert_int_eq(b.calls, 2);
	ks_coordinator_free(c);
}
END_TEST

START_TEST(session_timeout)
{
	ks_coordinator_t *c = coord();
	struct pair p;
	struct reply a;
	int i;

	make_pair(c, &p);
	/* a heartbeats every 400 ms, b stays silent */
	for (i = 0; i < 2; i++) {
		advance(c, 400);
		KT_OK(ks_group_heartbeat(c, "g", p.gen, p.a.member_id, NULL));
	}
	ck_assert_int_eq(state_of(c, "g"), KS_GROUP_STABLE);
	advance(c, 400); /* 1200 ms since b's sync: its session is over */
	ck_assert_int_eq(state_of(c, "g"), KS_GROUP_PREPARING_REBALANCE);
	ck_assert_int_eq(ks_group_heartbeat(c, "g", p.gen, p.b.member_id,
	    NULL), KS_EMEMBER);
	ck_assert_int_eq(ks_group_heartbeat(c, "g", p.gen, p.a.member_id,
	    NULL), KS_EREBALANCE);
	join(c, "g", p.a.member_id, NULL, "range", "ma", &a);
	ck_assert_int_eq(a.err, 0);
	ck_assert_int_eq(a.generation, p.gen + 1);
	ck_assert_uint_eq(a.nmembers, 1);
	/* the evicted member joins as new */
	join(c, "g", p.b.member_id, NULL, "range", "mb", &p.b);
	ck_assert_int_eq(p.b.err, KS_EMEMBER);
	/* b comes back; now a goes silent. b waits in its held join longer
	 * than its session, but a member waiting for an answer is alive:
	 * a's session ends, and b completes the rebalance alone */
	join(c, "g", "", NULL, "range", "mb", &p.b);
	ck_assert_int_eq(p.b.calls, 0);
	advance(c, 900);
	ck_assert_int_eq(p.b.calls, 0);
	advance(c, 600);
	ck_assert_int_eq(p.b.calls, 1);
	ck_assert_int_eq(p.b.err, 0);
	ck_assert_int_eq(p.b.generation, a.generation + 1);
	ck_assert_str_eq(p.b.leader_id, p.b.member_id);
	ck_assert_uint_eq(p.b.nmembers, 1);
	ks_coordinator_free(c);
}
END_TEST

START_TEST(rebalance_timeout)
{
	ks_coordinator_t *c = coord();
	struct pair p;
	struct reply d;
	int i;

	make_pair(c, &p);
	join(c, "g", "", NULL, "range", "md", &d);
	ck_assert_int_eq(d.calls, 0);
	join(c, "g", p.a.member_id, NULL, "range", "ma", &p.a);
	ck_assert_int_eq(p.a.calls, 0);
	/* b keeps heartbeating (alive) but never rejoins */
	for (i = 0; i < 5; i++) {
		advance(c, 500);
		ck_assert_int_eq(ks_group_heartbeat(c, "g", p.gen,
		    p.b.member_id, NULL), KS_EREBALANCE);
	}
	ck_assert_int_eq(d.calls, 0);
	advance(c, 500); /* 3000 ms: the rebalance timeout */
	ck_assert_int_eq(p.a.calls, 1);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(p.a.generation, p.gen + 1);
	ck_assert_int_eq(d.generation, p.gen + 1);
	ck_assert_uint_eq(p.a.nmembers, 2);
	ck_assert_str_eq(p.a.leader_id, p.a.member_id);
	ck_assert_int_eq(ks_group_heartbeat(c, "g", p.gen, p.b.member_id,
	    NULL), KS_EMEMBER);

	/* a member that got its join but never syncs is removed after the
	 * rebalance timeout, and the group rebalances without it */
	sync_as(c, "g", p.a.generation, p.a.member_id, NULL, &p.sa);
	ck_assert_int_eq(p.sa.err, 0);
	for (i = 0; i < 6; i++) {
		advance(c, 500);
		ks_group_heartbeat(c, "g", p.a.generation, p.a.member_id, NULL);
		ks_group_heartbeat(c, "g", p.a.generation, d.member_id, NULL);
	}
	ck_assert_int_eq(state_of(c, "g"), KS_GROUP_PREPARING_REBALANCE);
	ck_assert_int_eq(ks_group_heartbeat(c, "g", p.a.generation,
	    d.member_id, NULL), KS_EMEMBER);
	ks_coordinator_free(c);
}
END_TEST

START_TEST(leave)
{
	ks_coordinator_t *c = coord();
	struct pair p;
	struct reply a, s;
	ks_group_leave_t l[2];
	ks_group_info_t *info;

	make_pair(c, &p);
	memset(l, 0, sizeof l);
	l[0].member_id = p.b.member_id;
	l[1].member_id = "nobody";
	ck_assert_int_eq(ks_group_leave(c, "g", l, 2), KS_EMEMBER);
	ck_assert_int_eq(l[0].err, 0);
	ck_assert_int_eq(l[1].err, KS_EMEMBER);
	ck_assert_int_eq(ks_group_heartbeat(c, "g", p.gen, p.a.member_id,
	    NULL), KS_EREBALANCE);
	join(c, "g", p.a.member_id, NULL, "range", "ma", &a);
	ck_assert_int_eq(a.generation, p.gen + 1);
	ck_assert_uint_eq(a.nmembers, 1);
	sync_as(c, "g", a.generation, a.member_id, NULL, &s);
	ck_assert_int_eq(s.err, 0);
	/* the last one leaves: the group is empty, and without offsets it
	 * is forgotten */
	l[0].member_id = a.member_id;
	KT_OK(ks_group_leave(c, "g", l, 1));
	KT_OK(ks_group_describe(c, "g", &info));
	ck_assert_int_eq(info->state, KS_GROUP_DEAD);
	ck_assert_str_eq(info->group_id, "g");
	ck_assert_uint_eq(info->member_count, 0);
	ks_group_info_free(info);
	ck_assert_int_eq(ks_group_leave(c, "g", l, 1), KS_EMEMBER);
	ck_assert_int_eq(ks_group_leave(c, "g", l, 0), KS_EINVAL);
	ck_assert_int_eq(ks_group_leave(c, NULL, l, 1), KS_EINVAL);

	/* a leave completes a rebalance that waited for the leaver */
	make_pair(c, &p);
	join(c, "g", p.a.member_id, NULL, "range", "ma", &p.a);
	ck_assert_int_eq(p.a.calls, 0);
	l[0].member_id = p.b.member_id;
	KT_OK(ks_group_leave(c, "g", l, 1));
	ck_assert_int_eq(p.a.calls, 1);
	ck_assert_int_eq(p.a.err, 0);
	ck_assert_uint_eq(p.a.nmembers, 1);
	/* a newcomer waits for a, which leaves instead of joining again:
	 * the newcomer is alone and complete */
	join(c, "g", "", NULL, "range", "mb", &p.b);
	ck_assert_int_eq(p.b.calls, 0);
	l[0].member_id = p.a.member_id;
	KT_OK(ks_group_leave(c, "g", l, 1));
	ck_assert_int_eq(p.b.calls, 1);
	ck_assert_int_eq(p.b.err, 0);
	ck_assert_str_eq(p.b.leader_id, p.b.member_id);
	ks_coordinator_free(c);
}
END_TEST

START_TEST(static_membership)
{
	ks_coordinator_t *c = coord();
	struct reply a, b, a2, s, sb, old;
	char ea[IDLEN + 4], eb[IDLEN + 4];
	const char *pairs[] = { ea, eb, NULL };
	ks_group_leave_t l;
	int32_t gen;

	/* b dynamic (and the leader), a static */
	join(c, "g", "", NULL, "range", "mb", &b);
	join(c, "g", "", "inst-a", "range", "ma", &a);
	join(c, "g", b.member_id, NULL, "range", "mb", &b);
	ck_assert_int_eq(a.err, 0);
	ck_assert_msg(strncmp(a.member_id, "inst-a-", 7) == 0, "%s",
	    a.member_id);
	gen = a.generation;
	snprintf(ea, sizeof ea, "%s=A", a.member_id);
	snprintf(eb, sizeof eb, "%s=B", b.member_id);
	sync_as(c, "g", gen, a.member_id, NULL, &s);
	sync_as(c, "g", gen, b.member_id, pairs, &sb);
	ck_assert_str_eq(s.assignment, "A");

	/* a restarts: same instance id, no member id, same metadata: it
	 * takes the old id's place without a rebalance */
	join(c, "g", "", "inst-a", "range", "ma", &a2);
	ck_assert_int_eq(a2.calls, 1);
	ck_assert_int_eq(a2.err, 0);
	ck_assert_int_eq(a2.generation, gen);
	ck_assert_str_ne(a2.member_id, a.member_id);
	ck_assert_str_eq(a2.leader_id, b.member_id);
	ck_assert_uint_eq(a2.nmembers, 0);
	ck_assert_int_eq(state_of(c, "g"), KS_GROUP_STABLE);
	KT_OK(ks_group_heartbeat(c, "g", gen, b.member_id, NULL));
	/* it gets its assignment back through SyncGroup */
	sync_as(c, "g", gen, a2.member_id, NULL, &s);
	ck_assert_int_eq(s.err, 0);
	ck_assert_str_eq(s.assignment, "A");
	/* the old instance is fenced */
	ck_assert_int_eq(ks_group_heartbeat(c, "g", gen, a.member_id,
	    "inst-a"), KS_EMEMBER);
	ck_assert_int_eq(ks_group_heartbeat(c, "g", gen, a.member_id, NULL),
	    KS_EMEMBER);
	KT_OK(ks_group_heartbeat(c, "g", gen, a2.member_id, "inst-a"));
	sync_as(c, "g", gen, a.member_id, NULL, &old);
	ck_assert_int_eq(old.err, KS_EMEMBER);
	join(c, "g", a.member_id, "inst-a", "range", "ma", &old);
	ck_assert_int_eq(old.err, KS_EMEMBER);

	/* with other metadata, the restart rebalances */
	join(c, "g", "", "inst-a", "range", "ma2", &a);
	ck_assert_int_eq(a.calls, 0);
	ck_assert_int_eq(ks_group_heartbeat(c, "g", gen, b.member_id, NULL),
	    KS_EREBALANCE);
	join(c, "g", b.member_id, NULL, "range", "mb", &b);
	ck_assert_int_eq(a.err, 0);
	ck_assert_int_eq(a.generation, gen + 1);
	ck_assert_uint_eq(b.nmembers, 2);
	ck_assert(strcmp(b.metas[0], "ma2") == 0 ||
	    strcmp(b.metas[1], "ma2") == 0);
	gen = a.generation;
	snprintf(ea, sizeof ea, "%s=A", a.member_id);
	snprintf(eb, sizeof eb, "%s=B", b.member_id);
	sync_as(c, "g", gen, b.member_id, pairs, &sb);
	sync_as(c, "g", gen, a.member_id, NULL, &s);

	/* a static leader that restarts: told the old leader id (so it does
	 * not assign), or with KS_JOIN_SKIP_ASSIGNMENT the member list and
	 * skip_assignment */
	l.member_id = b.member_id;
	l.instance_id = NULL;
	KT_OK(ks_group_leave(c, "g", &l, 1));
	join(c, "g", a.member_id, "inst-a", "range", "ma2", &a);
	ck_assert_int_eq(a.err, 0);
	ck_assert_str_eq(a.leader_id, a.member_id);
	gen = a.generation;
	sync_as(c, "g", gen, a.member_id, NULL, &s);
	join(c, "g", "", "inst-a", "range", "ma2", &a2);
	ck_assert_int_eq(a2.err, 0);
	ck_assert_str_eq(a2.leader_id, a.member_id);
	ck_assert_str_ne(a2.leader_id, a2.member_id);
	ck_assert_int_eq(a2.skip, 0);
	join_f(c, "g", "", "inst-a", "range", "ma2", KS_JOIN_SKIP_ASSIGNMENT,
	    &a);
	ck_assert_int_eq(a.err, 0);
	ck_assert_str_eq(a.leader_id, a.member_id);
	ck_assert_int_eq(a.skip, 1);
	ck_assert_uint_eq(a.nmembers, 1);
	ck_assert_int_eq(a.generation, gen);
	ck_assert_int_eq(state_of(c, "g"), KS_GROUP_STABLE);

	/* leave by instance id, with the wrong member id: fenced */
	l.member_id = a2.member_id;
	l.instance_id = "inst-a";
	ck_assert_int_eq(ks_group_leave(c, "g", &l, 1), KS_EMEMBER);
	/* a static member's session expires: removed, rebalance */
	join(c, "g", "", NULL, "range", "mb", &b);
	ck_assert_int_eq(b.calls, 0);
	advance(c, 1100); /* a is silent; b waits in its join */
	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(b.err, 0);
	ck_assert_uint_eq(b.nmembers, 1);
	ck_assert_int_eq(ks_group_heartbeat(c, "g", gen, a.member_id,
	    "inst-a"), KS_EMEMBER);
	/* and by instance id alone */
	join(c, "g", "", "inst-c", "range", "mc", &a);
	join(c, "g", b.member_id, NULL, "range", "mb", &b);
	ck_assert_int_eq(a.err, 0);
	l.member_id = "";
	l.instance_id = "inst-c";
	KT_OK(ks_group_leave(c, "g", &l, 1));
	ck_assert_int_eq(ks_group_heartbeat(c, "g", a.generation, a.member_id,
	    "inst-c"), KS_EMEMBER);
	/* and by member id, as Kafka does: removed at once, rebalance */
	join(c, "g", b.member_id, NULL, "range", "mb", &b);
	sync_as(c, "g", b.generation, b.member_id, NULL, &sb);
	join(c, "g", "", "inst-d", "range", "md", &a);
	join(c, "g", b.member_id, NULL, "range", "mb", &b);
	ck_assert_int_eq(a.err, 0);
	sync_as(c, "g", b.generation, b.member_id, NULL, &sb);
	ck_assert_int_eq(state_of(c, "g"), KS_GROUP_STABLE);
	l.member_id = a.member_id;
	l.instance_id = NULL;
	KT_OK(ks_group_leave(c, "g", &l, 1));
	ck_assert_int_eq(state_of(c, "g"), KS_GROUP_PREPARING_REBALANCE);
	ck_assert_int_eq(ks_group_heartbeat(c, "g", a.generation, a.member_id,
	    "inst-d"), KS_EMEMBER);
	ks_coordinator_free(c);
}
END_TEST

/* A consumer that syncs from inside its join callback, as an in-process
 * client may: callbacks run without the coordinator's lock. */
struct chain {
	ks_coordinator_t *c;
	struct reply sync;
	int32_t generation;
};

static void join_then_sync(void *opaque, int err, const ks_join_result_t *r)
{
	struct chain *ch = opaque;
	ks_group_assignment_t a = { r->member_id, "mine", 4 };
	ks_sync_request_t req;

	ck_assert_int_eq(err, 0);
	ch->generation = r->generation;
	ks_sync_request_init(&req);
	req.group_id = "g";
	req.generation = r->generation;
	req.member_id = r->member_id;
	req.assignments = &a;
	req.assignment_count = 1;
	reply_init(&ch->sync);
	KT_OK(ks_group_sync(ch->c, &req, on_sync, &ch->sync));
}

START_TEST(reentrant_callbacks)
{
	ks_coordinator_t *c = coord();
	struct chain ch = { .c = c };
	ks_join_request_t req;
	ks_group_protocol_t p = { "range", "m", 1 };

	ks_join_request_init(&req);
	req.group_id = "g";
	req.session_timeout_ms = session_ms;
	req.protocols = &p;
	req.protocol_count = 1;
	KT_OK(ks_group_join(c, &req, join_then_sync, &ch));
	ck_assert_int_eq(ch.generation, 1);
	ck_assert_int_eq(ch.sync.calls, 1);
	ck_assert_int_eq(ch.sync.err, 0);
	ck_assert_str_eq(ch.sync.assignment, "mine");
	ck_assert_int_eq(state_of(c, "g"), KS_GROUP_STABLE);

	/* freeing answers a held sync with KS_ECLOSED */
	{
		struct reply a, b, sb;
		join(c, "h", "", NULL, "range", "ma", &a);
		join(c, "h", "", NULL, "range", "mb", &b);
		join(c, "h", a.member_id, NULL, "range", "ma", &a);
		ck_assert_int_eq(b.err, 0);
		sync_as(c, "h", b.generation, b.member_id, NULL, &sb);
		ck_assert_int_eq(sb.calls, 0);
		ks_coordinator_free(c);
		ck_assert_int_eq(sb.calls, 1);
		ck_assert_int_eq(sb.err, KS_ECLOSED);
		ck_assert_str_eq(sb.protocol, "");
		ck_assert_uint_eq(sb.assignment_len, 0);
	}
}
END_TEST

START_TEST(stale_generation_unknown_member)
{
	ks_coordinator_t *c = coord();
	struct pair p;
	struct reply s, d;
	ks_offset_commit_t o = { "t", 0, 5, -1, NULL, 0 };

	make_pair(c, &p);
	/* heartbeat */
	ck_assert_int_eq(ks_group_heartbeat(c, "g", p.gen - 1, p.a.member_id,
	    NULL), KS_EGENERATION);
	ck_assert_int_eq(ks_group_heartbeat(c, "g", p.gen, "nobody", NULL),
	    KS_EMEMBER);
	ck_assert_int_eq(ks_group_heartbeat(c, "nogroup", p.gen,
	    p.a.member_id, NULL), KS_EMEMBER);
	ck_assert_int_eq(ks_group_heartbeat(c, "g", p.gen, "", NULL),
	    KS_EINVAL);
	/* sync */
	sync_as(c, "g", p.gen + 1, p.b.member_id, NULL, &s);
	ck_assert_int_eq(s.err, KS_EGENERATION);
	sync_as(c, "g", p.gen, "nobody", NULL, &s);
	ck_assert_int_eq(s.err, KS_EMEMBER);
	sync_as(c, "nogroup", p.gen, p.a.member_id, NULL, &s);
	ck_assert_int_eq(s.err, KS_EMEMBER);
	{
		ks_sync_request_t req;
		ks_sync_request_init(&req);
		req.group_id = "g";
		req.generation = p.gen;
		req.member_id = p.b.member_id;
		req.protocol_type = "consumer";
		req.protocol_name = "roundrobin";
		reply_init(&s);
		KT_OK(ks_group_sync(c, &req, on_sync, &s));
		ck_assert_int_eq(s.err, KS_EPROTOCOL);
		req.protocol_name = "range";
		KT_OK(ks_group_sync(c, &req, on_sync, &s));
		ck_assert_int_eq(s.err, 0);
		ck_assert_str_eq(s.assignment, "B");
		req.member_id = "";
		ck_assert_int_eq(ks_group_sync(c, &req, on_sync, &s),
		    KS_EINVAL);
	}
	/* commit */
	ck_assert_int_eq(ks_group_commit(c, "g", p.gen - 1, p.a.member_id,
	    NULL, &o, 1, 0), KS_EGENERATION);
	ck_assert_int_eq(o.err, KS_EGENERATION);
	ck_assert_int_eq(ks_group_commit(c, "g", p.gen, "nobody", NULL, &o, 1,
	    0), KS_EMEMBER);
	ck_assert_int_eq(o.err, KS_EMEMBER);
	/* a group with members takes no simple commits */
	ck_assert_int_eq(ks_group_commit(c, "g", -1, "", NULL, &o, 1, 0),
	    KS_EMEMBER);
	/* an unknown group takes none with a generation */
	ck_assert_int_eq(ks_group_commit(c, "nogroup", 3, "m", NULL, &o, 1, 0),
	    KS_EGENERATION);
	KT_OK(ks_group_commit(c, "g", p.gen, p.a.member_id, NULL, &o, 1, 0));
	ck_assert_int_eq(o.err, 0);
	/* while preparing a rebalance commits are still taken, but between
	 * join and sync they are not */
	join(c, "g", "", NULL, "range", "md", &d);
	KT_OK(ks_group_commit(c, "g", p.gen, p.a.member_id, NULL, &o, 1, 0));
	join(c, "g", p.a.member_id, NULL, "range", "ma", &p.a);
	join(c, "g", p.b.member_id, NULL, "range", "mb", &p.b);
	ck_assert_int_eq(d.err, 0);
	ck_assert_int_eq(ks_group_commit(c, "g", p.a.generation,
	    p.a.member_id, NULL, &o, 1, 0), KS_EREBALANCE);
	ck_assert_int_eq(ks_group_commit(c, "g", p.gen, p.a.member_id, NULL,
	    &o, 1, 0), KS_EGENERATION);
	/* a sync of the old generation */
	sync_as(c, "g", p.gen, p.b.member_id, NULL, &s);
	ck_assert_int_eq(s.err, KS_EGENERATION);
	ks_coordinator_free(c);
}
END_TEST

START_TEST(commits_and_fetches)
{
	ks_coordinator_t *c = coord();
	ks_offset_commit_t o[3] = {
		{ "orders", 1, 100, 7, "m1", 0 },
		{ "orders", 0, 50, -1, NULL, 0 },
		{ "audit", 3, 9, 2, "x", 0 },
	};
	ks_group_tp_t tps[3] = { { "orders", 0 }, { "orders", 2 },
	    { "audit", 3 } };
	ks_committed_t *got;
	ks_group_listing_t *list;
	size_t n;
	char big[5000];

	/* a simple consumer: generation -1, no member id */
	KT_OK(ks_group_commit(c, "simple", -1, NULL, NULL, o, 3, 0));
	KT_OK(ks_group_fetch_offsets(c, "simple", tps, 3, &got, &n));
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(got[0].topic, "orders");
	ck_assert_int_eq(got[0].partition, 0);
	ck_assert_int_eq(got[0].offset, 50);
	ck_assert_int_eq(got[0].leader_epoch, -1);
	ck_assert_str_eq(got[0].metadata, "");
	ck_assert_int_gt(got[0].commit_timestamp, 0);
	ck_assert_int_eq(got[1].offset, -1); /* nothing committed */
	ck_assert_int_eq(got[1].commit_timestamp, -1);
	ck_assert_int_eq(got[2].offset, 9);
	ck_assert_int_eq(got[2].leader_epoch, 2);
	ck_assert_str_eq(got[2].metadata, "x");
	ks_committed_free(got);
	/* all of them, sorted */
	KT_OK(ks_group_fetch_offsets(c, "simple", NULL, 0, &got, &n));
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(got[0].topic, "audit");
	ck_assert_str_eq(got[1].topic, "orders");
	ck_assert_int_eq(got[1].partition, 0);
	ck_assert_int_eq(got[2].partition, 1);
	ck_assert_int_eq(got[2].offset, 100);
	ck_assert_str_eq(got[2].metadata, "m1");
	ks_committed_free(got);
	/* a later commit wins */
	o[0].offset = 101;
	KT_OK(ks_group_commit(c, "simple", -1, "", NULL, o, 1, 0));
	KT_OK(ks_group_fetch_offsets(c, "simple", tps + 0, 1, &got, &n));
	ks_committed_free(got);
	KT_OK(ks_group_fetch_offsets(c, "simple", NULL, 0, &got, &n));
	ck_assert_int_eq(got[2].offset, 101);
	ks_committed_free(got);
	/* metadata too long: that partition only */
	memset(big, 'm', sizeof big - 1);
	big[sizeof big - 1] = 0;
	o[1].metadata = big;
	o[1].offset = 51;
	ck_assert_int_eq(ks_group_commit(c, "simple", -1, "", NULL, o, 2, 0),
	    KS_EMSGSIZE);
	ck_assert_int_eq(o[0].err, 0);
	ck_assert_int_eq(o[1].err, KS_EMSGSIZE);
	KT_OK(ks_group_fetch_offsets(c, "simple", tps, 1, &got, &n));
	ck_assert_int_eq(got[0].offset, 50);
	ks_committed_free(got);
	/* an unknown group has no offsets */
	KT_OK(ks_group_fetch_offsets(c, "none", NULL, 0, &got, &n));
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_nonnull(got);
	ks_committed_free(got);
	KT_OK(ks_group_fetch_offsets(c, "none", tps, 2, &got, &n));
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(got[1].offset, -1);
	ks_committed_free(got);
	/* an offsets-only group is listed as Empty */
	KT_OK(ks_group_list(c, 0, &list, &n));
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(list[0].group_id, "simple");
	ck_assert_int_eq(list[0].state, KS_GROUP_EMPTY);
	ck_assert_str_eq(list[0].protocol_type, "");
	ks_group_list_free(list);
	/* delete */
	KT_OK(ks_group_delete_offsets(c, "simple", tps, 3));
	KT_OK(ks_group_fetch_offsets(c, "simple", NULL, 0, &got, &n));
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(got[0].partition, 1);
	ks_committed_free(got);
	/* bad arguments */
	ck_assert_int_eq(ks_group_commit(c, "", -1, "", NULL, o, 1, 0),
	    KS_EINVAL);
	ck_assert_int_eq(ks_group_commit(c, "g", -1, "", NULL, NULL, 1, 0),
	    KS_EINVAL);
	ck_assert_int_eq(ks_group_fetch_offsets(c, "g", NULL, 0, NULL, &n),
	    KS_EINVAL);
	ck_assert_int_eq(ks_group_fetch_offsets(NULL, "g", NULL, 0, &got, &n),
	    KS_EINVAL);
	ks_coordinator_free(c);
}
END_TEST

START_TEST(describe_and_list)
{
	ks_coordinator_t *c = coord();
	struct pair p;
	struct reply d;
	ks_group_info_t *info;
	ks_group_listing_t *list;
	size_t n, i;
	ks_offset_commit_t o = { "t", 0, 1, -1, NULL, 0 };

	make_pair(c, &p);
	KT_OK(ks_group_describe(c, "g", &info));
	ck_assert_int_eq(info->state, KS_GROUP_STABLE);
	ck_assert_str_eq(info->protocol_type, "consumer");
	ck_assert_str_eq(info->protocol_name, "range");
	ck_assert_int_eq(info->generation, p.gen);
	ck_assert_str_eq(info->leader_id, p.a.member_id);
	ck_assert_uint_eq(info->member_count, 2);
	for (i = 0; i < 2; i++) {
		const ks_group_member_info_t *m = &info->members[i];
		int is_a = strcmp(m->member_id, p.a.member_id) == 0;
		ck_assert_ptr_null(m->instance_id);
		ck_assert_str_eq(m->client_id, "client");
		ck_assert_str_eq(m->client_host, "/127.0.0.1");
		ck_assert_uint_eq(m->metadata_len, 2);
		ck_assert(memcmp(m->metadata, is_a ? "ma" : "mb", 2) == 0);
		ck_assert_uint_eq(m->assignment_len, 1);
		ck_assert(memcmp(m->assignment, is_a ? "A" : "B", 1) == 0);
	}
	ks_group_info_free(info);
	/* outside Stable: no protocol, metadata or assignment */
	join(c, "g", "", NULL, "range", "md", &d);
	KT_OK(ks_group_describe(c, "g", &info));
	ck_assert_int_eq(info->state, KS_GROUP_PREPARING_REBALANCE);
	ck_assert_str_eq(info->protocol_name, "");
	ck_assert_uint_eq(info->member_count, 3);
	ck_assert_uint_eq(info->members[0].metadata_len, 0);
	ck_assert_uint_eq(info->members[0].assignment_len, 0);
	ks_group_info_free(info);

	KT_OK(ks_group_commit(c, "offsets-only", -1, NULL, NULL, &o, 1, 0));
	KT_OK(ks_group_list(c, 0, &list, &n));
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(list[0].group_id, "g");
	ck_assert_int_eq(list[0].state, KS_GROUP_PREPARING_REBALANCE);
	ck_assert_str_eq(list[0].protocol_type, "consumer");
	ck_assert_str_eq(list[1].group_id, "offsets-only");
	ks_group_list_free(list);
	KT_OK(ks_group_list(c, 1 << KS_GROUP_EMPTY, &list, &n));
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(list[0].group_id, "offsets-only");
	ks_group_list_free(list);
	KT_OK(ks_group_list(c, 1 << KS_GROUP_STABLE, &list, &n));
	ck_assert_uint_eq(n, 0);
	ks_group_list_free(list);

	ck_assert_str_eq(ks_group_state_name(KS_GROUP_EMPTY), "Empty");
	ck_assert_str_eq(ks_group_state_name(KS_GROUP_PREPARING_REBALANCE),
	    "PreparingRebalance");
	ck_assert_str_eq(ks_group_state_name(KS_GROUP_COMPLETING_REBALANCE),
	    "CompletingRebalance");
	ck_assert_str_eq(ks_group_state_name(KS_GROUP_STABLE), "Stable");
	ck_assert_str_eq(ks_group_state_name(KS_GROUP_DEAD), "Dead");
	ck_assert_str_eq(ks_group_state_name(42), "Unknown");
	ks_coordinator_free(c);
}
END_TEST

START_TEST(member_id_required)
{
	ks_coordinator_t *c = coord();
	struct reply a, b;
	char id[IDLEN];

	join_f(c, "g", "", NULL, "range", "ma", KS_JOIN_REQUIRE_MEMBER_ID, &a);
	ck_assert_int_eq(a.err, KS_EMEMBER);
	ck_assert_int_eq(a.required, 1);
	ck_assert_msg(strncmp(a.member_id, "client-", 7) == 0, "%s",
	    a.member_id);
	snprintf(id, sizeof id, "%s", a.member_id);
	/* not a member yet; then joins with the id it was given */
	ck_assert_int_eq(ks_group_heartbeat(c, "g", 0, id, NULL), KS_EMEMBER);
	join_f(c, "g", id, NULL, "range", "ma", KS_JOIN_REQUIRE_MEMBER_ID, &a);
	ck_assert_int_eq(a.err, 0);
	ck_assert_str_eq(a.member_id, id);
	ck_assert_int_eq(a.generation, 1);
	/* a pending member holds up a rebalance until it joins or expires */
	join_f(c, "g", "", NULL, "range", "mb", KS_JOIN_REQUIRE_MEMBER_ID, &b);
	ck_assert_int_eq(b.err, KS_EMEMBER);
	join(c, "g", "", NULL, "range", "mc", &b); /* a real one */
	join(c, "g", id, NULL, "range", "ma", &a);
	ck_assert_int_eq(a.calls, 0);
	advance(c, 1100); /* the pending id's session */
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.err, 0);
	ck_assert_uint_eq(a.nmembers, 2);
	ks_coordinator_free(c);
}
END_TEST

START_TEST(initial_delay_and_max_size)
{
	ks_coordinator_config_t cfg;
	ks_coordinator_t *c;
	struct reply a, b, d;

	ks_coordinator_config_init(&cfg);
	cfg.min_session_timeout_ms = 10;
	cfg.tick_interval_ms = 0;
	cfg.clock_ms = fake_clock;
	KT_OK(ks_coordinator_config_set(&cfg, "group.initial.rebalance.delay.ms",
	    "500"));
	KT_OK(ks_coordinator_config_set(&cfg, "group.max.size", "2"));
	ck_assert_int_eq(ks_coordinator_config_set(&cfg, "group.max.size",
	    "-1"), KS_ECONFIG);
	ck_assert_int_eq(ks_coordinator_config_set(&cfg, "nope", "1"),
	    KS_ECONFIG);
	ck_assert_int_eq(ks_coordinator_config_set(&cfg,
	    "offset.metadata.max.bytes", "12x"), KS_ECONFIG);
	KT_OK(ks_coordinator_new(&cfg, NULL, &c));
	/* a new group waits for members to arrive */
	join(c, "g", "", NULL, "range", "ma", &a);
	ck_assert_int_eq(a.calls, 0);
	advance(c, 300);
	join(c, "g", "", NULL, "range", "mb", &b);
	advance(c, 300); /* the first delay is over, but b came: again */
	ck_assert_int_eq(a.calls, 0);
	join(c, "g", "", NULL, "range", "md", &d);
	ck_assert_int_eq(d.err, KS_EBUSY); /* group.max.size */
	advance(c, 500);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(a.generation, 1);
	ck_assert_uint_eq(a.nmembers, 2);
	ks_coordinator_free(c);

	cfg.min_session_timeout_ms = 100;
	cfg.max_session_timeout_ms = 50;
	ck_assert_int_eq(ks_coordinator_new(&cfg, NULL, &c), KS_ECONFIG);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(ks_coordinator_new(NULL, NULL, NULL), KS_EINVAL);
	ks_coordinator_free(NULL);
}
END_TEST

/* ---- offsets in a log --------------------------------------------------- */

static char *dir;

static void setup(void)
{
	dir = kt_tmpdir("coordinator");
	__atomic_store_n(&fake_ms, 1000000, __ATOMIC_RELAXED);
	log_warnings = 0;
}

static void teardown(void)
{
	kt_rmrf(dir);
	free(dir);
}

static ks_log_t *open_offsets(void)
{
	ks_log_config_t cfg;
	ks_log_t *log = NULL;
	char *p = kt_path(dir, "__consumer_offsets-0");

	ks_log_config_init(&cfg);
	cfg.flags = KS_LOG_CREATE;
	KT_OK(ks_log_open(p, &cfg, &log));
	free(p);
	return log;
}

static int64_t fetch_one(ks_coordinator_t *c, const char *group,
    const char *topic, int32_t partition, char *meta, size_t metalen)
{
	ks_group_tp_t tp = { topic, partition };
	ks_committed_t *got;
	size_t n;
	int64_t off;

	KT_OK(ks_group_fetch_offsets(c, group, &tp, 1, &got, &n));
	ck_assert_uint_eq(n, 1);
	off = got[0].offset;
	if (meta)
		snprintf(meta, metalen, "%s", got[0].metadata);
	ks_committed_free(got);
	return off;
}

START_TEST(offsets_survive)
{
	ks_log_t *log = open_offsets();
	ks_coordinator_t *c = coord_on(log);
	struct reply a, s;
	ks_offset_commit_t o[2] = {
		{ "orders", 0, 10, 3, "first", 0 },
		{ "orders", 1, 20, 3, NULL, 0 },
	};
	ks_group_tp_t tp = { "orders", 1 };
	ks_log_iter_t *it;
	ks_record_t rec;
	char meta[64];
	static const uint8_t want_key[] = {
		0, 1, 0, 1, 'g', 0, 6, 'o', 'r', 'd', 'e', 'r', 's', 0, 0, 0, 0
	};
	const uint8_t *v;

	join(c, "g", "", NULL, "range", "m", &a);
	sync_as(c, "g", a.generation, a.member_id, NULL, &s);
	KT_OK(ks_group_commit(c, "g", a.generation, a.member_id, NULL, o, 2,
	    0));
	ck_assert_int_eq(ks_log_end_offset(log), 2);
	o[0].offset = 11;
	o[0].metadata = "second";
	KT_OK(ks_group_commit(c, "g", a.generation, a.member_id, NULL, o, 1,
	    KS_GROUP_COMMIT_DURABLE));
	ck_assert_int_ge(ks_log_durable_offset(log), 3);
	KT_OK(ks_group_commit(c, "s", -1, NULL, NULL, o + 1, 1, 0));
	KT_OK(ks_group_delete_offsets(c, "s", &tp, 1));
	ck_assert_int_eq(ks_log_end_offset(log), 5);

	/* the records are Kafka's __consumer_offsets records */
	KT_OK(ks_log_iter_new(log, 0, &it));
	ck_assert_int_eq(ks_log_iter_next(it, &rec), 1);
	ck_assert_uint_eq(rec.key_len, sizeof want_key);
	ck_assert(memcmp(rec.key, want_key, sizeof want_key) == 0);
	ck_assert_uint_eq(rec.value_len, 2 + 8 + 4 + 2 + 5 + 8);
	v = rec.value;
	ck_assert_int_eq(v[0] << 8 | v[1], 3);             /* version */
	ck_assert_int_eq(v[9], 10);                        /* offset */
	ck_assert_int_eq(v[13], 3);                        /* epoch */
	ck_assert_int_eq(v[14] << 8 | v[15], 5);           /* metadata */
	ck_assert(memcmp(v + 16, "first", 5) == 0);
	ck_assert_int_eq(ks_log_iter_next(it, &rec), 1);
	ck_assert_int_eq(ks_log_iter_next(it, &rec), 1);
	ck_assert_int_eq(ks_log_iter_next(it, &rec), 1);
	ck_assert_int_eq(ks_log_iter_next(it, &rec), 1);
	ck_assert_ptr_null(rec.value); /* the delete: a tombstone */
	ck_assert_int_eq(ks_log_iter_next(it, &rec), 0);
	ks_log_iter_free(it);

	ks_coordinator_free(c);
	KT_OK(ks_log_close(log));

	log = open_offsets();
	c = coord_on(log);
	ck_assert_int_eq(fetch_one(c, "g", "orders", 0, meta, sizeof meta),
	    11);
	ck_assert_str_eq(meta, "second");
	ck_assert_int_eq(fetch_one(c, "g", "orders", 1, meta, sizeof meta),
	    20);
	ck_assert_str_eq(meta, "");
	ck_assert_int_eq(fetch_one(c, "s", "orders", 1, NULL, 0), -1);
	ck_assert_int_eq(fetch_one(c, "g", "orders", 2, NULL, 0), -1);
	ck_assert_int_eq(log_warnings, 0);
	/* the restored group has no members: simple commits are welcome */
	ck_assert_int_eq(state_of(c, "g"), KS_GROUP_EMPTY);
	KT_OK(ks_group_commit(c, "g", -1, NULL, NULL, o, 1, 0));
	ks_coordinator_free(c);
	KT_OK(ks_log_close(log));
}
END_TEST

/* DeleteGroups: only without members; the offsets go, in the log too. */
START_TEST(group_delete)
{
	ks_log_t *log = open_offsets();
	ks_coordinator_t *c = coord_on(log);
	struct reply a, s;
	ks_offset_commit_t o[2] = {
		{ "orders", 0, 10, 3, "first", 0 },
		{ "orders", 1, 20, 3, NULL, 0 },
	};
	ks_offset_commit_t big[300];
	ks_group_leave_t l = { NULL, NULL, 0 };
	ks_committed_t *got;
	ks_group_listing_t *list;
	int64_t end;
	size_t i, n;

	ck_assert_int_eq(ks_group_delete(NULL, "g"), KS_EINVAL);
	ck_assert_int_eq(ks_group_delete(c, NULL), KS_EINVAL);
	ck_assert_int_eq(ks_group_delete(c, ""), KS_EINVAL);
	ck_assert_int_eq(ks_group_delete(c, "none"), KS_EGROUP);

	join(c, "g", "", NULL, "range", "m", &a);
	sync_as(c, "g", a.generation, a.member_id, NULL, &s);
	KT_OK(ks_group_commit(c, "g", a.generation, a.member_id, NULL, o, 2,
	    0));
	/* a member: refused, nothing removed */
	end = ks_log_end_offset(log);
	ck_assert_int_eq(ks_group_delete(c, "g"), KS_EBUSY);
	ck_assert_int_eq(ks_log_end_offset(log), end);
	ck_assert_int_eq(fetch_one(c, "g", "orders", 0, NULL, 0), 10);
	l.member_id = a.member_id;
	KT_OK(ks_group_leave(c, "g", &l, 1));
	/* gone: offsets, tombstones in the log, the group itself */
	KT_OK(ks_group_delete(c, "g"));
	ck_assert_int_eq(ks_log_end_offset(log), end + 2);
	ck_assert_int_eq(fetch_one(c, "g", "orders", 0, NULL, 0), -1);
	ck_assert_int_eq(fetch_one(c, "g", "orders", 1, NULL, 0), -1);
	KT_OK(ks_group_list(c, 0, &list, &n));
	ck_assert_uint_eq(n, 0);
	ks_group_list_free(list);
	ck_assert_int_eq(ks_group_delete(c, "g"), KS_EGROUP);

	/* more offsets than one append takes */
	for (i = 0; i < 300; i++)
		big[i] = (ks_offset_commit_t){ "wide", (int32_t)i,
		    (int64_t)i + 1, -1, NULL, 0 };
	KT_OK(ks_group_commit(c, "big", -1, NULL, NULL, big, 300, 0));
	KT_OK(ks_group_commit(c, "kept", -1, NULL, NULL, o, 1, 0));
	KT_OK(ks_group_delete(c, "big"));
	KT_OK(ks_group_fetch_offsets(c, "big", NULL, 0, &got, &n));
	ck_assert_uint_eq(n, 0);
	ks_committed_free(got);

	/* a group that had members but no offsets is forgotten at once */
	join(c, "h", "", NULL, "range", "m", &a);
	l.member_id = a.member_id;
	KT_OK(ks_group_leave(c, "h", &l, 1));
	ck_assert_int_eq(ks_group_delete(c, "h"), KS_EGROUP);

	/* a deleted group's name is free for a new group */
	KT_OK(ks_group_commit(c, "g", -1, NULL, NULL, o + 1, 1, 0));
	ck_assert_int_eq(fetch_one(c, "g", "orders", 1, NULL, 0), 20);
	ks_coordinator_free(c);
	KT_OK(ks_log_close(log));

	/* a replay agrees */
	log = open_offsets();
	c = coord_on(log);
	ck_assert_int_eq(fetch_one(c, "g", "orders", 0, NULL, 0), -1);
	ck_assert_int_eq(fetch_one(c, "g", "orders", 1, NULL, 0), 20);
	ck_assert_int_eq(fetch_one(c, "kept", "orders", 0, NULL, 0), 10);
	KT_OK(ks_group_fetch_offsets(c, "big", NULL, 0, &got, &n));
	ck_assert_uint_eq(n, 0);
	ks_committed_free(got);
	ck_assert_int_eq(ks_group_delete(c, "big"), KS_EGROUP);
	ck_assert_int_eq(log_warnings, 0);
	ks_coordinator_free(c);
	KT_OK(ks_log_close(log));
}
END_TEST

/* A record as another writer (a Kafka broker, a tool) might have left. */
static void append_raw(ks_log_t *log, const void *key, size_t klen,
    const void *value, size_t vlen)
{
	ks_record_t r;
	memset(&r, 0, sizeof r);
	r.timestamp = -1;
	r.key = key;
	r.key_len = klen;
	r.value = value;
	r.value_len = vlen;
	KT_OK(ks_log_append(log, &r, 1, NULL));
}

START_TEST(tombstone_deletes)
{
	ks_log_t *log = open_offsets();
	ks_coordinator_t *c = coord_on(log);
	ks_offset_commit_t o[2] = {
		{ "t", 0, 10, -1, NULL, 0 },
		{ "t", 1, 11, -1, NULL, 0 },
	};
	static const uint8_t key_t0[] = {
		0, 1, 0, 2, 'g', 'g', 0, 1, 't', 0, 0, 0, 0
	};
	/* a version 1 value: offset, metadata, commit and expire time */
	static const uint8_t v1[] = {
		0, 1, 0, 0, 0, 0, 0, 0, 0, 77, 0, 2, 'o', 'k',
		0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2
	};
	static const uint8_t group_key[] = { 0, 2, 0, 2, 'g', 'g' };
	static const uint8_t bad_key[] = { 0, 1, 0, 9, 'g' };

	KT_OK(ks_group_commit(c, "gg", -1, NULL, NULL, o, 2, 0));
	ks_coordinator_free(c);
	/* a tombstone for t-0, a group metadata record (skipped quietly) and
	 * a damaged key (skipped with a warning) */
	append_raw(log, key_t0, sizeof key_t0, NULL, 0);
	append_raw(log, group_key, sizeof group_key, "x", 1);
	append_raw(log, bad_key, sizeof bad_key, "x", 1);
	c = coord_on(log);
	ck_assert_int_eq(fetch_one(c, "gg", "t", 0, NULL, 0), -1);
	ck_assert_int_eq(fetch_one(c, "gg", "t", 1, NULL, 0), 11);
	ck_assert_int_eq(log_warnings, 1);
	ks_coordinator_free(c);
	/* an older value version is read too */
	append_raw(log, key_t0, sizeof key_t0, v1, sizeof v1);
	c = coord_on(log);
	{
		char meta[8];
		ck_assert_int_eq(fetch_one(c, "gg", "t", 0, meta, sizeof meta),
		    77);
		ck_assert_str_eq(meta, "ok");
	}
	ks_coordinator_free(c);
	KT_OK(ks_log_close(log));
}
END_TEST

/* ---- many threads ------------------------------------------------------- */

#define WORKERS 6
#define COMMITS 40

struct worker {
	ks_coordinator_t *c;
	int index;
	int rejoins;
};

/* A consumer's life: join, sync, heartbeat and commit, rejoining when
 * told to, then leave. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct reply j, s;
	char id[IDLEN] = "", meta[16];
	int32_t gen = -1;
	int commits = 0, rc;

	snprintf(meta, sizeof meta, "w%d", w->index);
	while (commits < COMMITS) {
		if (gen < 0) {
			char pairs_buf[MAXM][IDLEN + 8];
			const char *pairs[MAXM + 1];
			size_t i;

			join(w->c, "busy", id, NULL, "range", meta, &j);
			rc = reply_wait(&j);
			w->rejoins++;
			if (rc == KS_EMEMBER)
				id[0] = 0;
			if (rc) {
				reply_destroy(&j);
				continue;
			}
			snprintf(id, sizeof id, "%s", j.member_id);
			gen = j.generation;
			/* the leader assigns each member its own id */
			for (i = 0; i < j.nmembers && i < MAXM; i++) {
				snprintf(pairs_buf[i], sizeof pairs_buf[i],
				    "%s=%s", j.members[i], j.members[i]);
				pairs[i] = pairs_buf[i];
			}
			pairs[i] = NULL;
			sync_as(w->c, "busy", gen, id, pairs, &s);
			rc = reply_wait(&s);
			if (rc == 0)
				ck_assert_str_eq(s.assignment, id);
			reply_destroy(&j);
			reply_destroy(&s);
			if (rc) {
				if (rc == KS_EMEMBER)
					id[0] = 0;
				gen = -1;
				continue;
			}
		}
		rc = ks_group_heartbeat(w->c, "busy", gen, id, NULL);
		if (rc == 0) {
			ks_offset_commit_t o = { "t", w->index, commits + 1,
			    -1, NULL, 0 };
			rc = ks_group_commit(w->c, "busy", gen, id, NULL, &o,
			    1, commits % 8 == 0 ? KS_GROUP_COMMIT_DURABLE : 0);
			if (rc == 0)
				commits++;
		}
		if (rc == KS_EMEMBER)
			id[0] = 0;
		if (rc)
			gen = -1;
	}
	{
		ks_group_leave_t l = { id, NULL, 0 };
		ks_group_leave(w->c, "busy", &l, 1);
	}
	return NULL;
}

/* A simple consumer committing to its own group, and an observer. */
static void *bystander_main(void *arg)
{
	ks_coordinator_t *c = arg;
	ks_group_info_t *info;
	ks_group_listing_t *list;
	ks_committed_t *got;
	size_t n;
	int i;

	for (i = 0; i < 200; i++) {
		ks_offset_commit_t o = { "s", i % 4, i, -1, "m", 0 };
		KT_OK(ks_group_commit(c, "simple", -1, NULL, NULL, &o, 1, 0));
		KT_OK(ks_group_describe(c, "busy", &info));
		ks_group_info_free(info);
		KT_OK(ks_group_list(c, 0, &list, &n));
		ks_group_list_free(list);
		KT_OK(ks_group_fetch_offsets(c, "busy", NULL, 0, &got, &n));
		ks_committed_free(got);
	}
	return NULL;
}

START_TEST(threads)
{
	ks_coordinator_config_t cfg;
	ks_coordinator_t *c;
	ks_log_t *log = open_offsets();
	struct worker w[WORKERS];
	pthread_t t[WORKERS], by;
	ks_committed_t *got;
	size_t n;
	int i;

	/* the real clock and the coordinator's own timer thread */
	ks_coordinator_config_init(&cfg);
	cfg.tick_interval_ms = 2;
	KT_OK(ks_coordinator_new(&cfg, log, &c));
	session_ms = 10000;
	rebalance_ms = 10000;
	for (i = 0; i < WORKERS; i++) {
		w[i].c = c;
		w[i].index = i;
		w[i].rejoins = 0;
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker_main,
		    &w[i]), 0);
	}
	ck_assert_int_eq(pthread_create(&by, NULL, bystander_main, c), 0);
	for (i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	pthread_join(by, NULL);
	session_ms = 1000;
	rebalance_ms = 3000;

	KT_OK(ks_group_fetch_offsets(c, "busy", NULL, 0, &got, &n));
	ck_assert_uint_eq(n, WORKERS);
	for (i = 0; i < WORKERS; i++) {
		ck_assert_int_eq(got[i].partition, i);
		ck_assert_int_eq(got[i].offset, COMMITS);
	}
	ks_committed_free(got);
	ck_assert_int_eq(state_of(c, "busy"), KS_GROUP_EMPTY);
	ks_coordinator_free(c);
	/* and the log agrees */
	c = coord_on(log);
	for (i = 0; i < WORKERS; i++)
		ck_assert_int_eq(fetch_one(c, "busy", "t", i, NULL, 0),
		    COMMITS);
	ks_coordinator_free(c);
	KT_OK(ks_log_close(log));
}
END_TEST

Suite *coordinator_suite(void)
{
	Suite *s = suite_create("coordinator");
	TCase *tc = tcase_create("coordinator");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, one_member);
	tcase_add_test(tc, two_members);
	tcase_add_test(tc, sync_held_until_leader);
	tcase_add_test(tc, no_common_protocol);
	tcase_add_test(tc, session_timeout);
	tcase_add_test(tc, rebalance_timeout);
	tcase_add_test(tc, leave);
	tcase_add_test(tc, static_membership);
	tcase_add_test(tc, reentrant_callbacks);
	tcase_add_test(tc, stale_generation_unknown_member);
	tcase_add_test(tc, commits_and_fetches);
	tcase_add_test(tc, describe_and_list);
	tcase_add_test(tc, member_id_required);
	tcase_add_test(tc, initial_delay_and_max_size);
	tcase_add_test(tc, offsets_survive);
	tcase_add_test(tc, group_delete);
	tcase_add_test(tc, tombstone_deletes);
	tcase_add_test(tc, threads);
	suite_add_tcase(s, tc);
	return s;
}
