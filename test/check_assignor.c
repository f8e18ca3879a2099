/*
 * check_assignor.c: the assignors. range and roundrobin against the
 * examples of Kafka's documentation and its assignors' own tests;
 * cooperative-sticky through scripted rebalances (a member joins, one
 * leaves, claims conflict) and randomized ones that check its promises:
 * no partition to two members, none handed over while another member
 * still holds it, balance, stickiness, and convergence after the
 * follow-up rebalance. Also the registry and ks_assignment_diff.
 */
#include "util.h"

#include <kstream/assignor.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a small group harness ---------------------------------------------- */

#define MAXM 32
#define MAXT 6
#define MAXP 64

struct member {
	char id[24];
	const char *instance;
	int present;
	int ntopics;
	const char *topics[MAXT + 1];
	uint8_t own[MAXT][MAXP];    /* what it owns now */
	int32_t gen;                /* the generation it got it in */
	int16_t version;
	/* the subscription handed to the assignor */
	ks_partition_list_t lists[MAXT];
	int32_t parts[MAXT][MAXP];
	ks_subscription_t sub;
};

struct group {
	int ntopics;
	char tname[MAXT][16];
	ks_assignor_topic_t meta[MAXT];
	struct member m[MAXM];
	int nm;
	int32_t generation;
	/* the last assignment, by member slot */
	ks_assignment_t *out[MAXM];
	int idx[MAXM];              /* slot of each assignor input */
	int nin;
};

static void g_init(struct group *g, int ntopics, const int32_t *nparts)
{
	int t;

	memset(g, 0, sizeof *g);
	g->ntopics = ntopics;
	for (t = 0; t < ntopics; t++) {
		snprintf(g->tname[t], sizeof g->tname[t], "t%d", t);
		g->meta[t].name = g->tname[t];
		g->meta[t].partition_count = nparts[t];
	}
	g->generation = 1;
}

/* Adds member id subscribed to the topics set in mask; returns its slot. */
static int g_add(struct group *g, const char *id, unsigned mask)
{
	struct member *m = &g->m[g->nm];
	int t;

	ck_assert_int_lt(g->nm, MAXM);
	memset(m, 0, sizeof *m);
	snprintf(m->id, sizeof m->id, "%s", id);
	m->present = 1;
	m->gen = -1;
	m->version = 3;
	for (t = 0; t < g->ntopics; t++)
		if (mask & (1u << t))
			m->topics[m->ntopics++] = g->tname[t];
	return g->nm++;
}

static void free_out(struct group *g)
{
	int i;

	for (i = 0; i < MAXM; i++) {
		ks_assignment_free(g->out[i]);
		g->out[i] = NULL;
	}
}

/* Runs the assignor on the present members, as they are. */
static int g_run(struct group *g, const char *assignor)
{
	ks_assignor_member_t in[MAXM];
	ks_assignment_t *res[MAXM];
	int i, t, p, n = 0, rc;

	free_out(g);
	for (i = 0; i < g->nm; i++) {
		struct member *m = &g->m[i];
		size_t nl = 0;

		if (!m->present)
			continue;
		ks_subscription_init(&m->sub);
		m->sub.version = m->version;
		m->sub.topics = m->topics;
		m->sub.topic_count = (size_t)m->ntopics;
		for (t = 0; t < g->ntopics; t++) {
			size_t k = 0;

			for (p = 0; p < MAXP; p++)
				if (m->own[t][p])
					m->parts[nl][k++] = p;
			if (!k)
				continue;
			m->lists[nl].topic = g->tname[t];
			m->lists[nl].partitions = m->parts[nl];
			m->lists[nl].partition_count = k;
			nl++;
		}
		m->sub.owned = m->lists;
		m->sub.owned_count = nl;
		m->sub.generation_id = m->gen;
		in[n].member_id = m->id;
		in[n].group_instance_id = m->instance;
		in[n].subscription = &m->sub;
		g->idx[n++] = i;
	}
	g->nin = n;
	rc = ks_assignor_assign(ks_assignor_find(assignor), in, (size_t)n,
	    g->meta, (size_t)g->ntopics, res);
	for (i = 0; i < n; i++)
		g->out[g->idx[i]] = res[i];
	return rc;
}

/* Whether member slot i was given t/p in the last run. */
static int got(const struct group *g, int i, int t, int p)
{
	const ks_assignment_t *a = g->out[i];
	size_t k, j;

	for (k = 0; a && k < a->assigned_count; k++) {
		if (strcmp(a->assigned[k].topic, g->tname[t]) != 0)
			continue;
		for (j = 0; j < a->assigned[k].partition_count; j++)
			if (a->assigned[k].partitions[j] == p)
				return 1;
	}
	return 0;
}

static size_t count(const struct group *g, int i)
{
	const ks_assignment_t *a = g->out[i];
	size_t k, n = 0;

	for (k = 0; a && k < a->assigned_count; k++)
		n += a->assigned[k].partition_count;
	return n;
}

/* "t0p0 t0p1 t1p0": member slot i's assignment, in a static buffer. */
static const char *fmt(const struct group *g, int i)
{
	static char buf[4096];
	const ks_assignment_t *a = g->out[i];
	size_t k, j, n = 0;

	buf[0] = '\0';
	for (k = 0; a && k < a->assigned_count; k++)
		for (j = 0; j < a->assigned[k].partition_count; j++)
			n += (size_t)snprintf(buf + n, sizeof buf - n,
			    "%s%sp%d", n ? " " : "", a->assigned[k].topic,
			    a->assigned[k].partitions[j]);
	return buf;
}

#define ASSIGNED(g, i, want) ck_assert_str_eq(fmt(g, i), want)

/* The consumers take what they got: it is what they own now. */
static void g_apply(struct group *g)
{
	int i, t, p;

	for (i = 0; i < g->nm; i++) {
		struct member *m = &g->m[i];

		if (!m->present)
			continue;
		memset(m->own, 0, sizeof m->own);
		for (t = 0; t < g->ntopics; t++)
			for (p = 0; p < g->meta[t].partition_count; p++)
				m->own[t][p] = (uint8_t)got(g, i, t, p);
		m->gen = g->generation;
	}
	g->generation++;
}

/* ---- the registry ------------------------------------------------------- */

START_TEST(test_registry)
{
	const ks_assignor_t *a;
	size_t i;

	ck_assert_str_eq(ks_assignor_name(ks_assignor_at(0)), "range");
	ck_assert_str_eq(ks_assignor_name(ks_assignor_at(1)), "roundrobin");
	ck_assert_str_eq(ks_assignor_name(ks_assignor_at(2)),
	    "cooperative-sticky");
	ck_assert_ptr_null(ks_assignor_at(3));
	for (i = 0; (a = ks_assignor_at(i)) != NULL; i++)
		ck_assert_ptr_eq(ks_assignor_find(ks_assignor_name(a)), a);
	ck_assert_uint_eq(i, 3);
	ck_assert_ptr_null(ks_assignor_find("sticky"));
	ck_assert_ptr_null(ks_assignor_find("Range"));
	ck_assert_ptr_null(ks_assignor_find(NULL));
	ck_assert_ptr_null(ks_assignor_name(NULL));

	ck_assert_uint_eq(ks_assignor_protocols(ks_assignor_find("range")),
	    1u << KS_REBALANCE_PROTOCOL_EAGER);
	ck_assert_uint_eq(ks_assignor_protocols(
	    ks_assignor_find("roundrobin")), 1u << KS_REBALANCE_PROTOCOL_EAGER);
	ck_assert_uint_eq(ks_assignor_protocols(
	    ks_assignor_find("cooperative-sticky")),
	    (1u << KS_REBALANCE_PROTOCOL_EAGER) |
	    (1u << KS_REBALANCE_PROTOCOL_COOPERATIVE));
	ck_assert_uint_eq(ks_assignor_protocols(NULL), 0);

	ck_assert_int_eq(ks_assignor_rebalance_protocol("range,roundrobin"),
	    KS_REBALANCE_PROTOCOL_EAGER);
	ck_assert_int_eq(ks_assignor_rebalance_protocol("cooperative-sticky"),
	    KS_REBALANCE_PROTOCOL_COOPERATIVE);
	/* A list mixing both stays eager, as Kafka's consumer does. */
	ck_assert_int_eq(ks_assignor_rebalance_protocol(
	    " cooperative-sticky , range "), KS_REBALANCE_PROTOCOL_EAGER);
	ck_assert_int_eq(ks_assignor_rebalance_protocol(""), KS_EINVAL);
	ck_assert_int_eq(ks_assignor_rebalance_protocol("range,"), KS_EINVAL);
	ck_assert_int_eq(ks_assignor_rebalance_protocol("range,,roundrobin"),
	    KS_EINVAL);
	ck_assert_int_eq(ks_assignor_rebalance_protocol("sticky"), KS_EINVAL);
	ck_assert_int_eq(ks_assignor_rebalance_protocol(NULL), KS_EINVAL);
}
END_TEST

/* ---- range and roundrobin ----------------------------------------------- */

/* Kafka's documented example: C0, C1 on t0 and t1 of 3 partitions each. */
START_TEST(test_documented_examples)
{
	static const int32_t n[] = { 3, 3 };
	struct group g;
	int c0, c1;

	g_init(&g, 2, n);
	c1 = g_add(&g, "C1", 3);
	c0 = g_add(&g, "C0", 3);
	KT_OK(g_run(&g, "range"));
	ASSIGNED(&g, c0, "t0p0 t0p1 t1p0 t1p1");
	ASSIGNED(&g, c1, "t0p2 t1p2");
	KT_OK(g_run(&g, "roundrobin"));
	ASSIGNED(&g, c0, "t0p0 t0p2 t1p1");
	ASSIGNED(&g, c1, "t0p1 t1p0 t1p2");
	free_out(&g);
}
END_TEST

/*
 * RoundRobinAssignor's documented uneven case: C0 on t0, C1 on t0 and t1,
 * C2 on t0, t1 and t2; t0, t1 and t2 with 1, 2 and 3 partitions.
 */
START_TEST(test_roundrobin_uneven)
{
	static const int32_t n[] = { 1, 2, 3 };
	struct group g;
	int c0, c1, c2;

	g_init(&g, 3, n);
	c2 = g_add(&g, "C2", 7);
	c0 = g_add(&g, "C0", 1);
	c1 = g_add(&g, "C1", 3);
	KT_OK(g_run(&g, "roundrobin"));
	ASSIGNED(&g, c0, "t0p0");
	ASSIGNED(&g, c1, "t1p0");
	ASSIGNED(&g, c2, "t1p1 t2p0 t2p1 t2p2");
	/* Range on the same group: each topic among its own subscribers. */
	KT_OK(g_run(&g, "range"));
	ASSIGNED(&g, c0, "t0p0");
	ASSIGNED(&g, c1, "t1p0");
	ASSIGNED(&g, c2, "t1p1 t2p0 t2p1 t2p2");
	free_out(&g);
}
END_TEST

/* RangeAssignorTest's mixed topics: t0 3 partitions, t1 2. */
START_TEST(test_range_uneven)
{
	static const int32_t n[] = { 3, 2 };
	struct group g;
	int a, b, c;

	g_init(&g, 2, n);
	a = g_add(&g, "consumer1", 1);
	b = g_add(&g, "consumer2", 3);
	c = g_add(&g, "consumer3", 1);
	KT_OK(g_run(&g, "range"));
	ASSIGNED(&g, a, "t0p0");
	ASSIGNED(&g, b, "t0p1 t1p0 t1p1");
	ASSIGNED(&g, c, "t0p2");
	KT_OK(g_run(&g, "roundrobin"));
	ASSIGNED(&g, a, "t0p0");
	ASSIGNED(&g, b, "t0p1 t1p0 t1p1");
	ASSIGNED(&g, c, "t0p2");
	free_out(&g);
}
END_TEST

/* Range's extra partitions go to the first members, on every topic. */
START_TEST(test_range_extra)
{
	static const int32_t n[] = { 7, 2 };
	struct group g;
	int a, b, c;

	g_init(&g, 2, n);
	c = g_add(&g, "c", 3);
	b = g_add(&g, "b", 3);
	a = g_add(&g, "a", 3);
	KT_OK(g_run(&g, "range"));
	ASSIGNED(&g, a, "t0p0 t0p1 t0p2 t1p0");
	ASSIGNED(&g, b, "t0p3 t0p4 t1p1");
	ASSIGNED(&g, c, "t0p5 t0p6");
	KT_OK(g_run(&g, "roundrobin"));
	ASSIGNED(&g, a, "t0p0 t0p3 t0p6");
	ASSIGNED(&g, b, "t0p1 t0p4 t1p0");
	ASSIGNED(&g, c, "t0p2 t0p5 t1p1");
	free_out(&g);
}
END_TEST

START_TEST(test_more_members_than_partitions)
{
	static const int32_t n[] = { 2 };
	const char *an[] = { "range", "roundrobin", "cooperative-sticky" };
	struct group g;
	int a, b, c, k;

	for (k = 0; k < 3; k++) {
		g_init(&g, 1, n);
		c = g_add(&g, "m3", 1);
		a = g_add(&g, "m1", 1);
		b = g_add(&g, "m2", 1);
		KT_OK(g_run(&g, an[k]));
		ASSIGNED(&g, a, "t0p0");
		ASSIGNED(&g, b, "t0p1");
		ASSIGNED(&g, c, "");
		ck_assert_uint_eq(g.out[c]->assigned_count, 0);
		free_out(&g);
	}
}
END_TEST

/*
 * Empty topics, topics without metadata, members subscribed to nothing,
 * and metadata of topics nobody wants.
 */
START_TEST(test_zero_partitions)
{
	static const int32_t n[] = { 0, 2, 3 };
	const char *an[] = { "range", "roundrobin", "cooperative-sticky" };
	struct group g;
	int a, b, c, k;

	for (k = 0; k < 3; k++) {
		g_init(&g, 3, n);
		a = g_add(&g, "a", 3);     /* t0 (empty), t1 */
		b = g_add(&g, "b", 1);     /* t0 only */
		c = g_add(&g, "c", 0);     /* nothing */
		g.m[a].topics[g.m[a].ntopics++] = "no-such-topic";
		KT_OK(g_run(&g, an[k]));
		ASSIGNED(&g, a, "t1p0 t1p1");
		ASSIGNED(&g, b, "");
		ASSIGNED(&g, c, "");
		free_out(&g);
	}
	/* No partitions at all, and no members at all. */
	g_init(&g, 1, n);
	a = g_add(&g, "a", 1);
	for (k = 0; k < 3; k++) {
		KT_OK(g_run(&g, an[k]));
		ASSIGNED(&g, a, "");
	}
	free_out(&g);
	KT_OK(ks_assignor_assign(ks_assignor_find("range"), NULL, 0, NULL, 0,
	    g.out));
}
END_TEST

/*
 * Static members sort by group.instance.id, ahead of dynamic ones, in
 * range and roundrobin alike (Kafka's MemberInfo).
 */
START_TEST(test_static_members)
{
	static const int32_t n[] = { 4 };
	struct group g;
	int a, b, c, d;

	g_init(&g, 1, n);
	a = g_add(&g, "a-dynamic", 1);
	b = g_add(&g, "b-static", 1);
	c = g_add(&g, "c-static", 1);
	d = g_add(&g, "0-dynamic", 1);
	g.m[b].instance = "instance-2";
	g.m[c].instance = "instance-1";
	KT_OK(g_run(&g, "range"));
	ASSIGNED(&g, c, "t0p0");
	ASSIGNED(&g, b, "t0p1");
	ASSIGNED(&g, d, "t0p2");
	ASSIGNED(&g, a, "t0p3");
	KT_OK(g_run(&g, "roundrobin"));
	ASSIGNED(&g, c, "t0p0");
	ASSIGNED(&g, b, "t0p1");
	ASSIGNED(&g, d, "t0p2");
	ASSIGNED(&g, a, "t0p3");
	/* A new member id for the same instance keeps the place. */
	snprintf(g.m[c].id, sizeof g.m[c].id, "zzz-new-id");
	KT_OK(g_run(&g, "range"));
	ASSIGNED(&g, c, "t0p0");
	free_out(&g);
}
END_TEST

/* Each assignment comes in its member's own protocol version. */
START_TEST(test_versions)
{
	static const int32_t n[] = { 2 };
	struct group g;
	int a, b;

	g_init(&g, 1, n);
	a = g_add(&g, "a", 1);
	b = g_add(&g, "b", 1);
	g.m[a].version = 0;
	g.m[b].version = 9; /* decoded from a newer member */
	KT_OK(g_run(&g, "range"));
	ck_assert_int_eq(g.out[a]->version, 0);
	ck_assert_int_eq(g.out[b]->version, 3);
	ck_assert_ptr_null(g.out[a]->user_data);
	free_out(&g);
}
END_TEST

START_TEST(test_invalid)
{
	const ks_assignor_t *r = ks_assignor_find("range");
	static const char *const t0[] = { "t0" };
	ks_assignor_member_t m[2];
	ks_assignor_topic_t meta[2] = { { "t0", 2 }, { "t1", 1 } };
	ks_assignment_t *out[2] = { (void *)1, (void *)1 };
	ks_subscription_t s;

	ks_subscription_init(&s);
	s.topics = t0;
	s.topic_count = 1;
	m[0] = (ks_assignor_member_t){ "a", NULL, &s };
	m[1] = (ks_assignor_member_t){ "a", NULL, &s };
	/* Duplicate member ids. */
	ck_assert_int_eq(ks_assignor_assign(r, m, 2, meta, 2, out), KS_EINVAL);
	ck_assert_ptr_null(out[0]);
	ck_assert_ptr_null(out[1]);
	m[1].member_id = "b";
	KT_OK(ks_assignor_assign(r, m, 2, meta, 2, out));
	ks_assignment_free(out[0]);
	ks_assignment_free(out[1]);
	/* Duplicate topics, even an empty one; negative counts; NULLs. */
	meta[1].name = "t0";
	meta[1].partition_count = 0;
	ck_assert_int_eq(ks_assignor_assign(r, m, 2, meta, 2, out), KS_EINVAL);
	meta[1].name = "t1";
	meta[1].partition_count = -1;
	ck_assert_int_eq(ks_assignor_assign(r, m, 2, meta, 2, out), KS_EINVAL);
	meta[1].partition_count = 1;
	meta[1].name = NULL;
	ck_assert_int_eq(ks_assignor_assign(r, m, 2, meta, 2, out), KS_EINVAL);
	meta[1].name = "t1";
	m[1].subscription = NULL;
	ck_assert_int_eq(ks_assignor_assign(r, m, 2, meta, 2, out), KS_EINVAL);
	m[1].subscription = &s;
	m[1].member_id = NULL;
	ck_assert_int_eq(ks_assignor_assign(r, m, 2, meta, 2, out), KS_EINVAL);
	m[1].member_id = "b";
	ck_assert_int_eq(ks_assignor_assign(NULL, m, 2, meta, 2, out),
	    KS_EINVAL);
	ck_assert_int_eq(ks_assignor_assign(r, NULL, 2, meta, 2, out),
	    KS_EINVAL);
	ck_assert_int_eq(ks_assignor_assign(r, m, 2, NULL, 2, out), KS_EINVAL);
	ck_assert_int_eq(ks_assignor_assign(r, m, 2, meta, 2, NULL),
	    KS_EINVAL);
	s.topic_count = 2; /* topics[1] would be read: make it NULL */
	s.topics = (const char *const[]){ "t0", NULL };
	ck_assert_int_eq(ks_assignor_assign(r, m, 2, meta, 2, out), KS_EINVAL);

	s.topic_count = 1;

	/* Owned lists: a NULL topic, or partitions missing. */
	{
		static const int32_t p[] = { 0 };
		ks_partition_list_t l = { NULL, p, 1 };

		s.owned = &l;
		s.owned_count = 1;
		ck_assert_int_eq(ks_assignor_assign(r, m, 2, meta, 2, out),
		    KS_EINVAL);
		l.topic = "t0";
		l.partitions = NULL;
		ck_assert_int_eq(ks_assignor_assign(r, m, 2, meta, 2, out),
		    KS_EINVAL);
		l.partitions = p;
		KT_OK(ks_assignor_assign(r, m, 2, meta, 2, out));
		ks_assignment_free(out[0]);
		ks_assignment_free(out[1]);
	}
}
END_TEST

/* ---- cooperative-sticky, scripted --------------------------------------- */

/* Checks what every cooperative assignment must hold; returns the count. */
static size_t check_round(struct group *g, int all)
{
	size_t total = 0;
	int t, p, i, j;

	for (t = 0; t < g->ntopics; t++) {
		for (p = 0; p < g->meta[t].partition_count; p++) {
			int holders = 0, wanted = 0;

			for (i = 0; i < g->nm; i++) {
				struct member *m = &g->m[i];
				int sub = 0, k;

				if (!m->present)
					continue;
				for (k = 0; k < m->ntopics; k++)
					sub |= strcmp(m->topics[k],
					    g->tname[t]) == 0;
				wanted |= sub;
				if (!got(g, i, t, p))
					continue;
				holders++;
				ck_assert_msg(sub, "%s got t%dp%d unsubscribed",
				    m->id, t, p);
				/* Never while another member still owns it. */
				if (!m->own[t][p])
					for (j = 0; j < g->nm; j++)
						ck_assert_msg(j == i ||
						    !g->m[j].present ||
						    !g->m[j].own[t][p],
						    "t%dp%d to %s, still owned "
						    "by %s", t, p, m->id,
						    g->m[j].id);
			}
			ck_assert_msg(holders <= 1, "t%dp%d assigned %d times",
			    t, p, holders);
			if (all && wanted)
				ck_assert_msg(holders == 1,
				    "t%dp%d not assigned", t, p);
			total += (size_t)holders;
		}
	}
	return total;
}

/* Sizes differ by at most one among the present members. */
static void check_even(const struct group *g)
{
	size_t lo = SIZE_MAX, hi = 0;
	int i;

	for (i = 0; i < g->nm; i++) {
		if (!g->m[i].present)
			continue;
		lo = count(g, i) < lo ? count(g, i) : lo;
		hi = count(g, i) > hi ? count(g, i) : hi;
	}
	ck_assert_msg(hi <= lo + 1, "sizes from %zu to %zu", lo, hi);
}

/* Whether member slot i subscribes to topic t. */
static int subscribes(const struct group *g, int i, int t)
{
	int k;

	for (k = 0; k < g->m[i].ntopics; k++)
		if (strcmp(g->m[i].topics[k], g->tname[t]) == 0)
			return 1;
	return 0;
}

/*
 * Balance with different subscriptions, as Kafka defines it: no member
 * could take a partition it subscribes to from a member holding two more
 * partitions than it.
 */
static void check_balanced(const struct group *g)
{
	int i, j, t, p;

	for (i = 0; i < g->nm; i++) {
		for (t = 0; g->m[i].present && t < g->ntopics; t++) {
			if (!subscribes(g, i, t))
				continue;
			for (p = 0; p < g->meta[t].partition_count; p++) {
				for (j = 0; j < g->nm; j++) {
					if (!g->m[j].present ||
					    !got(g, j, t, p))
						continue;
					ck_assert_msg(count(g, i) + 1 >=
					    count(g, j), "%s (%zu) could "
					    "take t%dp%d from %s (%zu)",
					    g->m[i].id, count(g, i), t, p,
					    g->m[j].id, count(g, j));
				}
			}
		}
	}
}

/* Nothing moves: every member got exactly what it owns. */
static void check_unchanged(const struct group *g)
{
	int i, t, p;

	for (i = 0; i < g->nm; i++)
		for (t = 0; g->m[i].present && t < g->ntopics; t++)
			for (p = 0; p < g->meta[t].partition_count; p++)
				ck_assert_msg(got(g, i, t, p) ==
				    g->m[i].own[t][p], "%s: t%dp%d moved",
				    g->m[i].id, t, p);
}

START_TEST(test_sticky_first)
{
	static const int32_t n[] = { 5, 4 };
	struct group g;
	int a, b, c;

	g_init(&g, 2, n);
	c = g_add(&g, "c", 3);
	a = g_add(&g, "a", 3);
	b = g_add(&g, "b", 3);
	KT_OK(g_run(&g, "cooperative-sticky"));
	ck_assert_uint_eq(check_round(&g, 1), 9);
	check_even(&g);
	/* With nothing owned, partitions are dealt in order. */
	ASSIGNED(&g, a, "t0p0 t0p3 t1p1");
	ASSIGNED(&g, b, "t0p1 t0p4 t1p2");
	ASSIGNED(&g, c, "t0p2 t1p0 t1p3");
	g_apply(&g);
	/* Same members again: nothing moves. */
	KT_OK(g_run(&g, "cooperative-sticky"));
	check_unchanged(&g);
	free_out(&g);
}
END_TEST

START_TEST(test_sticky_join)
{
	static const int32_t n[] = { 6, 6 };
	uint8_t before[2][MAXT][MAXP];
	struct group g;
	int a, b, c, t, p, revoked = 0;

	g_init(&g, 2, n);
	a = g_add(&g, "a", 3);
	b = g_add(&g, "b", 3);
	KT_OK(g_run(&g, "cooperative-sticky"));
	ck_assert_uint_eq(check_round(&g, 1), 12);
	g_apply(&g);
	memcpy(before[0], g.m[a].own, sizeof before[0]);
	memcpy(before[1], g.m[b].own, sizeof before[1]);

	/* c joins: a and b give up 2 each, and c gets nothing yet. */
	c = g_add(&g, "c", 3);
	KT_OK(g_run(&g, "cooperative-sticky"));
	ck_assert_uint_eq(check_round(&g, 0), 8);
	ck_assert_uint_eq(count(&g, a), 4);
	ck_assert_uint_eq(count(&g, b), 4);
	ck_assert_uint_eq(count(&g, c), 0);
	for (t = 0; t < 2; t++)
		for (p = 0; p < 6; p++) {
			/* a and b keep only what they had. */
			ck_assert(!got(&g, a, t, p) || before[0][t][p]);
			ck_assert(!got(&g, b, t, p) || before[1][t][p]);
		}
	g_apply(&g);

	/* The follow-up: c gets exactly what the others let go of. */
	KT_OK(g_run(&g, "cooperative-sticky"));
	ck_assert_uint_eq(check_round(&g, 1), 12);
	check_even(&g);
	for (t = 0; t < 2; t++)
		for (p = 0; p < 6; p++) {
			int gone = (before[0][t][p] && !g.m[a].own[t][p]) ||
			    (before[1][t][p] && !g.m[b].own[t][p]);

			ck_assert_int_eq(got(&g, c, t, p), gone);
			revoked += gone;
			ck_assert_int_eq(got(&g, a, t, p), g.m[a].own[t][p]);
			ck_assert_int_eq(got(&g, b, t, p), g.m[b].own[t][p]);
		}
	ck_assert_int_eq(revoked, 4);
	g_apply(&g);
	KT_OK(g_run(&g, "cooperative-sticky"));
	check_unchanged(&g);
	free_out(&g);
}
END_TEST

START_TEST(test_sticky_leave)
{
	static const int32_t n[] = { 7, 5 };
	struct group g;
	int a, b, c, t, p;

	g_init(&g, 2, n);
	a = g_add(&g, "a", 3);
	b = g_add(&g, "b", 3);
	c = g_add(&g, "c", 3);
	KT_OK(g_run(&g, "cooperative-sticky"));
	g_apply(&g);

	/* c leaves: its partitions go out at once, nobody else loses one. */
	g.m[c].present = 0;
	KT_OK(g_run(&g, "cooperative-sticky"));
	ck_assert_uint_eq(check_round(&g, 1), 12);
	check_even(&g);
	for (t = 0; t < 2; t++)
		for (p = 0; p < n[t]; p++) {
			ck_assert(!g.m[a].own[t][p] || got(&g, a, t, p));
			ck_assert(!g.m[b].own[t][p] || got(&g, b, t, p));
		}
	free_out(&g);
}
END_TEST

/*
 * Two members claim the same partitions: the claim of the higher
 * generation holds; a tie in the highest generation holds for nobody, and
 * the partition is handed out only once both have let go of it.
 */
START_TEST(test_sticky_conflicts)
{
	static const int32_t n[] = { 4 };
	struct group g;
	int a, b, c;

	g_init(&g, 1, n);
	a = g_add(&g, "a", 1);
	b = g_add(&g, "b", 1);
	/* a (generation 5) owns p0 p1; b, stale at 4, claims p1 p2 p3. */
	g.m[a].own[0][0] = g.m[a].own[0][1] = 1;
	g.m[a].gen = 5;
	g.m[b].own[0][1] = g.m[b].own[0][2] = g.m[b].own[0][3] = 1;
	g.m[b].gen = 4;
	KT_OK(g_run(&g, "cooperative-sticky"));
	ASSIGNED(&g, a, "t0p0 t0p1");
	ASSIGNED(&g, b, "t0p2 t0p3");
	check_round(&g, 1);
	free_out(&g);

	/* The other way round: b is newer, so p1 stays with b. */
	g.m[a].gen = 4;
	g.m[b].gen = 5;
	KT_OK(g_run(&g, "cooperative-sticky"));
	/* b keeps 2 of its 3; a keeps p0 and cannot have p1 yet. */
	check_round(&g, 0);
	ck_assert(got(&g, a, 0, 0));
	ck_assert(!got(&g, a, 0, 1));
	ck_assert_uint_eq(count(&g, b), 2);
	free_out(&g);

	/* Same generation: nobody keeps p1, and nobody gets it yet. */
	g.m[a].gen = g.m[b].gen = 5;
	KT_OK(g_run(&g, "cooperative-sticky"));
	check_round(&g, 0);
	ck_assert(!got(&g, a, 0, 1) && !got(&g, b, 0, 1));
	ck_assert(got(&g, a, 0, 0));
	g_apply(&g);
	KT_OK(g_run(&g, "cooperative-sticky"));
	check_round(&g, 1);
	check_even(&g);
	free_out(&g);

	/* Generations from a v0/v1 member's user data (Kafka's int32). */
	g_init(&g, 1, n);
	a = g_add(&g, "a", 1);
	b = g_add(&g, "b", 1);
	c = g_add(&g, "c", 1);
	g.m[a].own[0][0] = g.m[b].own[0][0] = 1;
	g.m[a].gen = -1;
	g.m[b].gen = 3;
	KT_OK(g_run(&g, "cooperative-sticky"));
	ck_assert(got(&g, b, 0, 0));
	ck_assert_uint_gt(count(&g, c), 0);
	free_out(&g);
	{
		/* a says generation 7 the old way: a wins now. */
		static const uint8_t seven[4] = { 0, 0, 0, 7 };
		ks_assignor_member_t in[3];
		ks_assignment_t *out[3];
		ks_subscription_t s[3];
		static const int32_t p0[] = { 0 };
		static const ks_partition_list_t l[] = { { "t0", p0, 1 } };
		static const char *const t0[] = { "t0" };
		const char *ids[] = { "a", "b", "c" };
		int i;

		for (i = 0; i < 3; i++) {
			ks_subscription_init(&s[i]);
			s[i].topics = t0;
			s[i].topic_count = 1;
			in[i] = (ks_assignor_member_t){ ids[i], NULL, &s[i] };
		}
		s[0].version = 1;
		s[0].owned = l;
		s[0].owned_count = 1;
		s[0].user_data = seven;
		s[0].user_data_len = 4;
		s[1].owned = l;
		s[1].owned_count = 1;
		s[1].generation_id = 3;
		KT_OK(ks_assignor_assign(ks_assignor_find(
		    "cooperative-sticky"), in, 3, g.meta, 1, out));
		ck_assert_uint_eq(out[0]->assigned_count, 1);
		ck_assert_int_eq(out[0]->assigned[0].partitions[0], 0);
		for (i = 0; i < 3; i++)
			ks_assignment_free(out[i]);
	}
}
END_TEST

/* Claims on partitions or topics that no longer exist are dropped. */
START_TEST(test_sticky_stale_claims)
{
	static const int32_t n[] = { 2, 2 };
	struct group g;
	int a, b;

	g_init(&g, 2, n);
	a = g_add(&g, "a", 1);
	b = g_add(&g, "b", 1);
	g.m[a].own[0][1] = 1;
	g.m[a].own[0][5] = 1;   /* t0 has 2 partitions */
	g.m[a].own[1][0] = 1;   /* nobody subscribes to t1 */
	g.m[a].gen = g.m[b].gen = 1;
	KT_OK(g_run(&g, "cooperative-sticky"));
	ASSIGNED(&g, a, "t0p1");
	ASSIGNED(&g, b, "t0p0");
	free_out(&g);
}
END_TEST

/*
 * Different subscriptions: the general algorithm. a alone on t1, b on t0
 * and t1, c on t0: a takes all of t1's, the rest evens out on t0.
 */
START_TEST(test_sticky_general)
{
	static const int32_t n[] = { 6, 3 };
	struct group g;
	int a, b, c;

	g_init(&g, 2, n);
	a = g_add(&g, "a", 2);
	b = g_add(&g, "b", 3);
	c = g_add(&g, "c", 1);
	KT_OK(g_run(&g, "cooperative-sticky"));
	ck_assert_uint_eq(check_round(&g, 1), 9);
	ck_assert_uint_eq(count(&g, a) + count(&g, b) + count(&g, c), 9);
	ck_assert_uint_le(count(&g, a), 3);
	ck_assert_uint_eq(count(&g, a), 3);
	ck_assert_uint_eq(count(&g, b), 3);
	ck_assert_uint_eq(count(&g, c), 3);
	g_apply(&g);
	KT_OK(g_run(&g, "cooperative-sticky"));
	check_unchanged(&g);

	/*
	 * b drops t0 for t1 alone: it gives up its t0 partitions, which c,
	 * now t0's only subscriber, gets in the follow-up; b evens out with
	 * a on t1, again through the follow-up.
	 */
	g.m[b].ntopics = 0;
	g.m[b].topics[g.m[b].ntopics++] = "t1";
	KT_OK(g_run(&g, "cooperative-sticky"));
	ck_assert_uint_eq(check_round(&g, 0), 5);
	ck_assert_uint_eq(count(&g, b), 0);
	ck_assert_uint_eq(count(&g, c), 3);
	g_apply(&g);
	KT_OK(g_run(&g, "cooperative-sticky"));
	ck_assert_uint_eq(check_round(&g, 1), 9);
	ck_assert_uint_eq(count(&g, a), 2);
	ck_assert_uint_eq(count(&g, b), 1);
	ck_assert_uint_eq(count(&g, c), 6);
	g_apply(&g);
	KT_OK(g_run(&g, "cooperative-sticky"));
	check_unchanged(&g);
	free_out(&g);
}
END_TEST

/* ---- cooperative-sticky, randomized ------------------------------------- */

static uint64_t rnd(uint64_t *x, uint64_t n)
{
	*x = kt_mix64(*x);
	return n ? *x % n : 0;
}

static void random_group(struct group *g, uint64_t *x, int same)
{
	int32_t n[MAXT];
	int nt = 1 + (int)rnd(x, 4), t, i, nm = 1 + (int)rnd(x, 9);

	for (t = 0; t < nt; t++)
		n[t] = 1 + (int32_t)rnd(x, 12);
	g_init(g, nt, n);
	for (i = 0; i < nm; i++) {
		char id[24];
		unsigned mask = same ? (1u << nt) - 1 :
		    (unsigned)rnd(x, 1u << nt);

		snprintf(id, sizeof id, "m%02d-%llx", i,
		    (unsigned long long)rnd(x, 1000));
		g_add(g, id, mask);
	}
}

/* Members leave, members join, and sometimes a topic grows. */
static void random_change(struct group *g, uint64_t *x, int same)
{
	int i, t, k;

	for (i = 0; i < g->nm; i++)
		if (g->m[i].present && rnd(x, 4) == 0)
			g->m[i].present = 0;
	for (k = (int)rnd(x, 4); k > 0 && g->nm < MAXM; k--) {
		char id[24];

		snprintf(id, sizeof id, "new%02d", g->nm);
		g_add(g, id, same ? (1u << g->ntopics) - 1 :
		    (unsigned)rnd(x, 1u << g->ntopics));
	}
	for (t = 0; t < g->ntopics; t++)
		if (rnd(x, 6) == 0 && g->meta[t].partition_count < MAXP - 4)
			g->meta[t].partition_count += (int32_t)rnd(x, 4);
}

/* Every present member subscribes to the same topics. */
static int same_subs(const struct group *g)
{
	int i, k, first = -1;

	for (i = 0; i < g->nm; i++) {
		if (!g->m[i].present)
			continue;
		if (first < 0) {
			first = i;
			continue;
		}
		if (g->m[i].ntopics != g->m[first].ntopics)
			return 0;
		for (k = 0; k < g->m[i].ntopics; k++)
			if (strcmp(g->m[i].topics[k], g->m[first].topics[k]))
				return 0;
	}
	return 1;
}

static int present(const struct group *g)
{
	int i, n = 0;

	for (i = 0; i < g->nm; i++)
		n += g->m[i].present;
	return n;
}

/* Partitions of the topics some present member subscribes to. */
static size_t wanted(const struct group *g)
{
	size_t n = 0;
	int t, i, k, sub;

	for (t = 0; t < g->ntopics; t++) {
		for (i = 0, sub = 0; i < g->nm && !sub; i++)
			for (k = 0; g->m[i].present && k < g->m[i].ntopics; k++)
				sub |= strcmp(g->m[i].topics[k],
				    g->tname[t]) == 0;
		if (sub)
			n += (size_t)g->meta[t].partition_count;
	}
	return n;
}

/* The most follow-ups any trial needed, for the curious. */
static int max_follow;

static void random_trial(uint64_t seed, int same)
{
	uint64_t x = seed;
	struct group g;
	int round, follow;

	random_group(&g, &x, same);
	/* A first assignment: everything, evenly. */
	KT_OK(g_run(&g, "cooperative-sticky"));
	check_round(&g, 1);
	if (same)
		check_even(&g);
	check_balanced(&g);
	g_apply(&g);
	for (round = 0; round < 4; round++) {
		random_change(&g, &x, same);
		if (present(&g) == 0)
			g_add(&g, "last", (1u << g.ntopics) - 1);
		KT_OK(g_run(&g, "cooperative-sticky"));
		check_round(&g, 0);
		g_apply(&g);
		/*
		 * Follow-ups until all is assigned: one suffices when the
		 * subscriptions are the same; in the general case a
		 * follow-up may move partitions again, each such move
		 * costing one more.
		 */
		for (follow = 0;; follow++) {
			KT_OK(g_run(&g, "cooperative-sticky"));
			if (check_round(&g, 0) == wanted(&g)) {
				if (same_subs(&g))
					check_even(&g);
				check_balanced(&g);
				g_apply(&g);
				break;
			}
			ck_assert_msg(!same_subs(&g) && follow < 4,
			    "seed %#llx: follow-up %d left some out",
			    (unsigned long long)seed, follow);
			g_apply(&g);
		}
		if (follow > max_follow)
			max_follow = follow;
		/* Nothing changes: nothing moves. */
		KT_OK(g_run(&g, "cooperative-sticky"));
		check_unchanged(&g);
		g_apply(&g);
	}
	free_out(&g);
}

START_TEST(test_sticky_random_same)
{
	uint64_t seed = kt_seed(0x5eed);
	int i;

	for (i = 0; i < 400; i++)
		random_trial(kt_mix64(seed + (uint64_t)i), 1);
}
END_TEST

START_TEST(test_sticky_random_general)
{
	uint64_t seed = kt_seed(0x6e6e);
	int i;

	for (i = 0; i < 400; i++)
		random_trial(kt_mix64(seed + (uint64_t)i), 0);
	if (getenv("KS_TEST_VERBOSE"))
		printf("sticky: at most %d extra follow-ups\n", max_follow);
}
END_TEST

/* range and roundrobin on random groups: everything, once, evenly. */
START_TEST(test_random_eager)
{
	uint64_t seed = kt_seed(0xea6e), x = seed;
	int i, k, t, same;

	for (i = 0; i < 600; i++) {
		struct group g;

		same = i & 1;
		random_group(&g, &x, same);
		for (k = 0; k < 2; k++) {
			KT_OK(g_run(&g, k ? "roundrobin" : "range"));
			ck_assert_uint_eq(check_round(&g, 1), wanted(&g));
			if (same && k)
				check_even(&g);
			if (!same || k)
				continue;
			/* range: even on every topic. */
			for (t = 0; t < g.ntopics; t++) {
				int32_t n = g.meta[t].partition_count, p;
				int j, lo = INT32_MAX, hi = 0;

				for (j = 0; j < g.nm; j++) {
					int c = 0;

					for (p = 0; p < n; p++)
						c += got(&g, j, t, p);
					lo = c < lo ? c : lo;
					hi = c > hi ? c : hi;
				}
				ck_assert_int_le(hi, lo + 1);
			}
		}
		free_out(&g);
	}
}
END_TEST

/*
 * The whole way, as between real members: subscriptions encoded and
 * decoded, assigned, assignments encoded and decoded.
 */
START_TEST(test_through_codec)
{
	static const char *const topics[] = { "t0", "t1" };
	static const ks_assignor_topic_t meta[] = { { "t0", 3 }, { "t1", 3 } };
	const char *ids[] = { "C1", "C0" };
	ks_subscription_t s, *dec[2];
	ks_assignor_member_t in[2];
	ks_assignment_t *out[2], *back;
	uint8_t buf[256];
	size_t len;
	int i;

	for (i = 0; i < 2; i++) {
		ks_subscription_init(&s);
		s.version = (int16_t)i;
		s.topics = topics;
		s.topic_count = 2;
		KT_OK(ks_subscription_encode(&s, buf, sizeof buf, &len));
		KT_OK(ks_subscription_decode(buf, len, &dec[i]));
		in[i] = (ks_assignor_member_t){ ids[i], NULL, dec[i] };
	}
	KT_OK(ks_assignor_assign(ks_assignor_find("range"), in, 2, meta, 2,
	    out));
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(out[i]->version, i);
		KT_OK(ks_assignment_encode(out[i], buf, sizeof buf, &len));
		KT_OK(ks_assignment_decode(buf, len, &back));
		ck_assert_uint_eq(back->assigned_count, 2);
		ck_assert_str_eq(back->assigned[0].topic, "t0");
		ck_assert_uint_eq(back->assigned[0].partition_count,
		    i ? 2 : 1);
		ck_assert_int_eq(back->assigned[0].partitions[0], i ? 0 : 2);
		ks_assignment_free(back);
		ks_assignment_free(out[i]);
		ks_subscription_free(dec[i]);
	}
}
END_TEST

/* ---- ks_assignment_diff ------------------------------------------------- */

START_TEST(test_diff)
{
	static const int32_t a0[] = { 3, 1, 0, 1 }, a1[] = { 0 };
	static const int32_t b0[] = { 1, 2 }, b2[] = { 5 };
	static const ks_partition_list_t la[] = {
		{ "x", a0, 4 }, { "w", a1, 1 }, { "x", a1, 1 },
	};
	static const ks_partition_list_t lb[] = {
		{ "z", b2, 1 }, { "x", b0, 2 },
	};
	ks_assignment_t a, b, *add, *rev;

	ks_assignment_init(&a);
	a.assigned = la;
	a.assigned_count = 3;
	ks_assignment_init(&b);
	b.assigned = lb;
	b.assigned_count = 2;
	KT_OK(ks_assignment_diff(&a, &b, &add, &rev));
	/* added: x2 z5; revoked: w0 x0 x3 (x1 stays). */
	ck_assert_uint_eq(add->assigned_count, 2);
	ck_assert_str_eq(add->assigned[0].topic, "x");
	ck_assert_uint_eq(add->assigned[0].partition_count, 1);
	ck_assert_int_eq(add->assigned[0].partitions[0], 2);
	ck_assert_str_eq(add->assigned[1].topic, "z");
	ck_assert_int_eq(add->assigned[1].partitions[0], 5);
	ck_assert_uint_eq(rev->assigned_count, 2);
	ck_assert_str_eq(rev->assigned[0].topic, "w");
	ck_assert_int_eq(rev->assigned[0].partitions[0], 0);
	ck_assert_str_eq(rev->assigned[1].topic, "x");
	ck_assert_uint_eq(rev->assigned[1].partition_count, 2);
	ck_assert_int_eq(rev->assigned[1].partitions[0], 0);
	ck_assert_int_eq(rev->assigned[1].partitions[1], 3);
	ck_assert_int_eq(add->version, 3);
	ck_assert_ptr_null(add->user_data);
	ks_assignment_free(add);
	ks_assignment_free(rev);

	/* From nothing: all added; to nothing: all revoked. */
	KT_OK(ks_assignment_diff(NULL, &b, &add, &rev));
	ck_assert_uint_eq(add->assigned_count, 2);
	ck_assert_uint_eq(rev->assigned_count, 0);
	ck_assert_ptr_null(rev->assigned);
	ks_assignment_free(add);
	ks_assignment_free(rev);
	KT_OK(ks_assignment_diff(&b, NULL, &add, &rev));
	ck_assert_uint_eq(add->assigned_count, 0);
	ck_assert_uint_eq(rev->assigned_count, 2);
	ks_assignment_free(add);
	ks_assignment_free(rev);
	/* Equal: nothing either way. */
	KT_OK(ks_assignment_diff(&a, &a, &add, &rev));
	ck_assert_uint_eq(add->assigned_count + rev->assigned_count, 0);
	ks_assignment_free(add);
	ks_assignment_free(rev);

	/* Bad input. */
	ck_assert_int_eq(ks_assignment_diff(&a, &b, NULL, &rev), KS_EINVAL);
	ck_assert_ptr_null(rev);
	b.assigned = NULL;
	ck_assert_int_eq(ks_assignment_diff(&a, &b, &add, &rev), KS_EINVAL);
	ck_assert_ptr_null(add);
	ck_assert_ptr_null(rev);
}
END_TEST

/* A whole cooperative round as a consumer sees it, through the codec. */
START_TEST(test_diff_round)
{
	static const int32_t n[] = { 4 };
	ks_assignment_t *old_a, *add, *rev;
	struct group g;
	int a;

	g_init(&g, 1, n);
	a = g_add(&g, "a", 1);
	KT_OK(g_run(&g, "cooperative-sticky"));
	old_a = g.out[a];
	g.out[a] = NULL;
	g_apply(&g);
	g_add(&g, "b", 1);
	KT_OK(g_run(&g, "cooperative-sticky"));
	KT_OK(ks_assignment_diff(old_a, g.out[a], &add, &rev));
	ck_assert_uint_eq(add->assigned_count, 0);
	ck_assert_uint_eq(rev->assigned_count, 1);
	ck_assert_uint_eq(rev->assigned[0].partition_count, 2);
	ks_assignment_free(add);
	ks_assignment_free(rev);
	ks_assignment_free(old_a);
	free_out(&g);
}
END_TEST

Suite *assignor_suite(void)
{
	Suite *s = suite_create("assignor");
	TCase *tc = tcase_create("assignor");

	tcase_add_test(tc, test_registry);
	tcase_add_test(tc, test_documented_examples);
	tcase_add_test(tc, test_roundrobin_uneven);
	tcase_add_test(tc, test_range_uneven);
	tcase_add_test(tc, test_range_extra);
	tcase_add_test(tc, test_more_members_than_partitions);
	tcase_add_test(tc, test_zero_partitions);
	tcase_add_test(tc, test_static_members);
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_invalid);
	tcase_add_test(tc, test_sticky_first);
	tcase_add_test(tc, test_sticky_join);
	tcase_add_test(tc, test_sticky_leave);
	tcase_add_test(tc, test_sticky_conflicts);
	tcase_add_test(tc, test_sticky_stale_claims);
	tcase_add_test(tc, test_sticky_general);
	tcase_add_test(tc, test_sticky_random_same);
	tcase_add_test(tc, test_sticky_random_general);
	tcase_add_test(tc, test_random_eager);
	tcase_add_test(tc, test_through_codec);
	tcase_add_test(tc, test_diff);
	tcase_add_test(tc, test_diff_round);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	return s;
}
