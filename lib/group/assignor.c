/*
 * assignor.c: the assignor registry, and what every assignor shares: the
 * checked, sorted view of the group it works on (struct ks__assign), the
 * conversion of its answer into one assignment per member, and the
 * difference of two assignments that a cooperative consumer acts on.
 */
#include "group/group_impl.h"

#include <stdlib.h>
#include <string.h>

struct ks_assignor {
	const char *name;
	unsigned protocols;
	int (*assign)(struct ks__assign *g);
};

#define EAGER (1u << KS_REBALANCE_PROTOCOL_EAGER)
#define COOPERATIVE (1u << KS_REBALANCE_PROTOCOL_COOPERATIVE)

/*
 * Kafka's CooperativeStickyAssignor also supports EAGER, so that a group
 * can move to it from range or roundrobin one rolling restart at a time.
 */
static const struct ks_assignor assignors[] = {
	{ "range", EAGER, ks__assign_range },
	{ "roundrobin", EAGER, ks__assign_roundrobin },
	{ "cooperative-sticky", EAGER | COOPERATIVE, ks__assign_sticky },
};

#define NASSIGNORS (sizeof assignors / sizeof assignors[0])

const ks_assignor_t *ks_assignor_at(size_t i)
{
	return i < NASSIGNORS ? &assignors[i] : NULL;
}

const ks_assignor_t *ks_assignor_find(const char *name)
{
	size_t i;

	for (i = 0; name && i < NASSIGNORS; i++)
		if (strcmp(assignors[i].name, name) == 0)
			return &assignors[i];
	return NULL;
}

const char *ks_assignor_name(const ks_assignor_t *a)
{
	return a ? a->name : NULL;
}

unsigned ks_assignor_protocols(const ks_assignor_t *a)
{
	return a ? a->protocols : 0;
}

int ks_assignor_rebalance_protocol(const char *names)
{
	unsigned common = EAGER | COOPERATIVE;
	const char *p = names;
	char name[64];

	if (!names)
		return KS_EINVAL;
	for (;;) {
		const char *e;
		const ks_assignor_t *a;
		size_t n;

		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strcspn(p, ",");
		n = (size_t)(e - p);
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0 || n >= sizeof name)
			return KS_EINVAL;
		memcpy(name, p, n);
		name[n] = '\0';
		if (!(a = ks_assignor_find(name)))
			return KS_EINVAL;
		common &= a->protocols;
		if (*e == '\0')
			break;
		p = e + 1;
	}
	if (common & COOPERATIVE)
		return KS_REBALANCE_PROTOCOL_COOPERATIVE;
	return common & EAGER ? KS_REBALANCE_PROTOCOL_EAGER : KS_EINVAL;
}

/* ---- the group, checked and sorted -------------------------------------- */

size_t ks__topic_index(const struct ks__assign *g, const char *name)
{
	size_t lo = 0, hi = g->ntopics;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, g->topic[mid]);

		if (c == 0)
			return mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return KS__NO_TOPIC;
}

static int cmp_topic_meta(const void *a, const void *b, void *arg)
{
	const ks_assignor_topic_t *t = arg;

	return strcmp(t[*(const size_t *)a].name, t[*(const size_t *)b].name);
}

static int cmp_member_id(const void *a, const void *b, void *arg)
{
	const ks_assignor_member_t *m = arg;

	return strcmp(m[*(const size_t *)a].member_id,
	    m[*(const size_t *)b].member_id);
}

/*
 * Kafka's MemberInfo order: static members before dynamic ones, statics by
 * group.instance.id, dynamics by member id. Member ids are unique, so the
 * last comparison makes the order total.
 */
static int cmp_member_info(const void *a, const void *b, void *arg)
{
	const ks_assignor_member_t *x = (const ks_assignor_member_t *)arg +
	    *(const size_t *)a;
	const ks_assignor_member_t *y = (const ks_assignor_member_t *)arg +
	    *(const size_t *)b;
	int c;

	if (x->group_instance_id && y->group_instance_id) {
		c = strcmp(x->group_instance_id, y->group_instance_id);
		if (c)
			return c;
	} else if (x->group_instance_id) {
		return -1;
	} else if (y->group_instance_id) {
		return 1;
	}
	return strcmp(x->member_id, y->member_id);
}

void ks__members_by_instance(const struct ks__assign *g, size_t *order)
{
	size_t i;

	for (i = 0; i < g->nmembers; i++)
		order[i] = i;
	qsort_r(order, g->nmembers, sizeof *order, cmp_member_info,
	    (void *)g->members);
}

static int check_lists(const ks_partition_list_t *l, size_t n)
{
	size_t i;

	if (n && !l)
		return KS_EINVAL;
	for (i = 0; i < n; i++)
		if (!l[i].topic || (l[i].partition_count && !l[i].partitions))
			return KS_EINVAL;
	return 0;
}

static int check_members(const ks_assignor_member_t *m, size_t n,
    size_t *order)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		const ks_subscription_t *s = m[i].subscription;

		if (!m[i].member_id || !s || (s->topic_count && !s->topics))
			return KS_EINVAL;
		for (j = 0; j < s->topic_count; j++)
			if (!s->topics[j])
				return KS_EINVAL;
		if (check_lists(s->owned, s->owned_count) != 0)
			return KS_EINVAL;
		order[i] = i;
	}
	qsort_r(order, n, sizeof *order, cmp_member_id, (void *)m);
	for (i = 1; i < n; i++)
		if (strcmp(m[order[i]].member_id, m[order[i - 1]].member_id) ==
		    0)
			return KS_EINVAL;
	return 0;
}

#define ROUND16(x) (((x) + 15) & ~(size_t)15)

/* Hands out n * size bytes of *p, keeping the next one 16-byte aligned. */
static void *grab(void **p, size_t n, size_t size)
{
	void *r = *p;

	*p = (char *)*p + ROUND16(n * size);
	return r;
}

/*
 * Builds g from the caller's arguments: checks them, keeps the topics
 * with partitions that someone subscribes to, sorts them, numbers their
 * partitions. *mem receives the one allocation behind g's arrays.
 */
static int build(struct ks__assign *g, const ks_assignor_member_t *members,
    size_t nmembers, const ks_assignor_topic_t *topics, size_t ntopics,
    void **mem)
{
	size_t *order, *mids, i, j, t, n, npart = 0, size;
	uint8_t *used;
	void *p;
	int rc;

	memset(g, 0, sizeof *g);
	*mem = NULL;
	if (nmembers > INT32_MAX)
		return KS_EINVAL;
	for (i = 0; i < ntopics; i++) {
		if (!topics[i].name || topics[i].partition_count < 0)
			return KS_EINVAL;
		npart += (size_t)topics[i].partition_count;
	}
	/* Every grab below, at its largest. */
	size = ROUND16(ntopics * sizeof *order) +
	    ROUND16(nmembers * sizeof *mids) + ROUND16(ntopics) +
	    ROUND16(ntopics * sizeof *g->topic) +
	    ROUND16(ntopics * sizeof *g->nparts) +
	    ROUND16(ntopics * sizeof *g->base) +
	    ROUND16(npart * sizeof *g->topic_of) +
	    ROUND16(npart * sizeof *g->owner) + ROUND16(nmembers * ntopics);
	if (!(p = *mem = calloc(1, size ? size : 1)))
		return KS_ENOMEM;
	order = grab(&p, ntopics, sizeof *order);
	mids = grab(&p, nmembers, sizeof *mids);
	used = grab(&p, ntopics, 1);
	if ((rc = check_members(members, nmembers, mids)) != 0)
		return rc;

	/* The metadata by name: no name twice, and no empty topic. */
	for (i = 0; i < ntopics; i++)
		order[i] = i;
	qsort_r(order, ntopics, sizeof *order, cmp_topic_meta,
	    (void *)topics);
	for (i = 1; i < ntopics; i++)
		if (strcmp(topics[order[i]].name,
		    topics[order[i - 1]].name) == 0)
			return KS_EINVAL;
	for (i = 0, n = 0; i < ntopics; i++)
		if (topics[order[i]].partition_count > 0)
			order[n++] = order[i];

	/* Of those, keep the topics someone subscribes to. */
	g->ntopics = n;
	g->topic = grab(&p, n, sizeof *g->topic);
	for (i = 0; i < n; i++)
		g->topic[i] = topics[order[i]].name;
	for (i = 0; i < nmembers; i++) {
		const ks_subscription_t *s = members[i].subscription;

		for (j = 0; j < s->topic_count; j++)
			if ((t = ks__topic_index(g, s->topics[j])) !=
			    KS__NO_TOPIC)
				used[t] = 1;
	}
	for (i = 0, t = 0; i < n; i++)
		if (used[i])
			order[t++] = order[i];
	g->ntopics = t;
	g->nparts = grab(&p, g->ntopics, sizeof *g->nparts);
	g->base = grab(&p, g->ntopics, sizeof *g->base);
	for (i = 0, npart = 0; i < g->ntopics; i++) {
		g->topic[i] = topics[order[i]].name;
		g->nparts[i] = topics[order[i]].partition_count;
		g->base[i] = npart;
		npart += (size_t)g->nparts[i];
	}
	g->npart = npart;
	g->topic_of = grab(&p, npart, sizeof *g->topic_of);
	for (t = 0; t < g->ntopics; t++)
		for (i = 0; i < (size_t)g->nparts[t]; i++)
			g->topic_of[g->base[t] + i] = t;
	g->owner = grab(&p, npart, sizeof *g->owner);
	for (i = 0; i < npart; i++)
		g->owner[i] = -1;

	g->members = members;
	g->nmembers = nmembers;
	g->sub = grab(&p, nmembers * g->ntopics, 1);
	for (i = 0; i < nmembers; i++) {
		const ks_subscription_t *s = members[i].subscription;

		for (j = 0; j < s->topic_count; j++)
			if ((t = ks__topic_index(g, s->topics[j])) !=
			    KS__NO_TOPIC)
				g->sub[i * g->ntopics + t] = 1;
	}
	return 0;
}

int ks_assignor_assign(const ks_assignor_t *a,
    const ks_assignor_member_t *members, size_t member_count,
    const ks_assignor_topic_t *topics, size_t topic_count,
    ks_assignment_t **out)
{
	struct ks__assign g;
	struct ks__tp *tps = NULL;
	void *mem = NULL;
	size_t i, p, n;
	int rc;

	if (!out)
		return KS_EINVAL;
	for (i = 0; i < member_count; i++)
		out[i] = NULL;
	if (!a || (member_count && !members) || (topic_count && !topics))
		return KS_EINVAL;
	if ((rc = build(&g, members, member_count, topics, topic_count,
	    &mem)) != 0)
		goto done;
	if (g.nmembers && (rc = a->assign(&g)) != 0)
		goto done;
	if (!(tps = malloc((g.npart + 1) * sizeof *tps))) {
		rc = KS_ENOMEM;
		goto done;
	}
	for (i = 0; i < member_count; i++) {
		int16_t v = members[i].subscription->version;

		/*
		 * Answer in the member's own version, so that an old member
		 * reads a version it knows (all four are encoded alike).
		 */
		if (v < 0 || v > KS_CONSUMER_PROTOCOL_VERSION)
			v = KS_CONSUMER_PROTOCOL_VERSION;
		for (p = 0, n = 0; p < g.npart; p++) {
			if (g.owner[p] != (int32_t)i)
				continue;
			tps[n].topic = g.topic[g.topic_of[p]];
			tps[n].partition = (int32_t)(p - g.base[g.topic_of[p]]);
			n++;
		}
		if (!(out[i] = ks__assignment_build(tps, n, v))) {
			rc = KS_ENOMEM;
			goto done;
		}
	}
done:
	if (rc != 0)
		for (i = 0; i < member_count; i++) {
			ks_assignment_free(out[i]);
			out[i] = NULL;
		}
	free(tps);
	free(mem);
	return rc;
}

/* ---- the difference of two assignments ---------------------------------- */

static int cmp_tp(const void *a, const void *b)
{
	const struct ks__tp *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);

	if (c)
		return c;
	return (x->partition > y->partition) - (x->partition < y->partition);
}

/* a's partitions, sorted, without duplicates; *tpsp is malloc'd. */
static int flatten(const ks_assignment_t *a, struct ks__tp **tpsp,
    size_t *np)
{
	struct ks__tp *tps;
	size_t i, j, n = 0, k;

	*tpsp = NULL;
	*np = 0;
	if (!a)
		return 0;
	if (check_lists(a->assigned, a->assigned_count) != 0)
		return KS_EINVAL;
	for (i = 0; i < a->assigned_count; i++)
		n += a->assigned[i].partition_count;
	if (!(tps = malloc((n + 1) * sizeof *tps)))
		return KS_ENOMEM;
	for (i = 0, k = 0; i < a->assigned_count; i++)
		for (j = 0; j < a->assigned[i].partition_count; j++) {
			tps[k].topic = a->assigned[i].topic;
			tps[k++].partition = a->assigned[i].partitions[j];
		}
	qsort(tps, n, sizeof *tps, cmp_tp);
	for (i = 0, k = 0; i < n; i++)
		if (k == 0 || cmp_tp(&tps[k - 1], &tps[i]) != 0)
			tps[k++] = tps[i];
	*tpsp = tps;
	*np = k;
	return 0;
}

int ks_assignment_diff(const ks_assignment_t *old_a,
    const ks_assignment_t *new_a, ks_assignment_t **addedp,
    ks_assignment_t **revokedp)
{
	struct ks__tp *o = NULL, *nw = NULL, *add = NULL, *rev = NULL;
	size_t no, nn, i = 0, j = 0, na = 0, nr = 0;
	int rc;

	if (addedp)
		*addedp = NULL;
	if (revokedp)
		*revokedp = NULL;
	if (!addedp || !revokedp)
		return KS_EINVAL;
	if ((rc = flatten(old_a, &o, &no)) != 0 ||
	    (rc = flatten(new_a, &nw, &nn)) != 0)
		goto done;
	add = malloc((nn + 1) * sizeof *add);
	rev = malloc((no + 1) * sizeof *rev);
	if (!add || !rev) {
		rc = KS_ENOMEM;
		goto done;
	}
	while (i < no || j < nn) {
		int c = i == no ? 1 : j == nn ? -1 : cmp_tp(&o[i], &nw[j]);

		if (c < 0)
			rev[nr++] = o[i++];
		else if (c > 0)
			add[na++] = nw[j++];
		else
			i++, j++;
	}
	*addedp = ks__assignment_build(add, na, KS_CONSUMER_PROTOCOL_VERSION);
	*revokedp = ks__assignment_build(rev, nr,
	    KS_CONSUMER_PROTOCOL_VERSION);
	if (!*addedp || !*revokedp) {
		ks_assignment_free(*addedp);
		ks_assignment_free(*revokedp);
		*addedp = *revokedp = NULL;
		rc = KS_ENOMEM;
	}
done:
	free(o);
	free(nw);
	free(add);
	free(rev);
	return rc;
}
