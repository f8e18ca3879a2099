/*
 * assignor_sticky.c: Kafka's CooperativeStickyAssignor (KIP-54, KIP-429).
 *
 * Sticky: each member's subscription names the partitions it owns now
 * (ownedPartitions) and the generation it got them in; they stay with it
 * as far as balance allows. Balanced: among members with the same
 * subscription, assignment sizes differ by at most one. Cooperative: a
 * partition that must change hands is only taken from its owner in this
 * assignment; its new owner gets it in the next rebalance, once the old
 * one has let go of it (the consumer rejoins after revoking).
 *
 * The work follows Kafka's AbstractStickyAssignor:
 *
 * 1. Claims. A partition claimed by several members goes to the claim of
 *    the highest generation; if two members claim it in that generation,
 *    neither keeps it. Claims on partitions that do not exist, or on
 *    topics nobody subscribes to, are dropped.
 * 2. If every member subscribes to the same topics, the "constrained"
 *    algorithm: each member keeps up to its quota (total / members, one
 *    more for the first total % members that own enough) of what it owns,
 *    the rest is dealt round-robin to the members below quota.
 * 3. Otherwise the "general" algorithm: members keep what they own and
 *    still subscribe to, the rest goes one by one to the least loaded
 *    subscriber, then partitions move from loaded members to lighter
 *    subscribers until no move improves the balance; if the moves did not
 *    improve it, they are undone.
 * 4. Cooperative adjustment: a partition assigned to a member whose claim
 *    on it did not hold (or that had none) while another member still
 *    claims it is withheld: assigned to nobody this time.
 *
 * Where Kafka walks a Java HashMap, whose order is that of hash codes,
 * this file walks members by member id and topics by name, so the result
 * is a function of the input alone. Kafka's constrained path withholds
 * exactly what step 4 does; its general path withholds a partition only
 * from a member that did not claim it at all. Step 4 applies the first
 * rule to both: a member whose stale claim lost is treated as a new owner,
 * since the member whose claim held may still be consuming the partition.
 */
#include "group/group_impl.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

struct sticky {
	struct ks__assign *g;
	size_t M, P, T;
	size_t *rank;        /* [M] position of member m by member id */
	size_t *by_id;       /* [M] members by member id */
	int64_t *gen;        /* [M] generation of the member's claims */
	size_t *own_off;     /* [M + 1] member m's claims: own[off[m]..] */
	size_t *own;         /* [all claims] partitions, in claim order */
	uint32_t *nclaims;   /* [P] members claiming p */
	int32_t *claimer;    /* [P] the first of them */
	int64_t *topgen;     /* [P] the highest generation claiming p */
	uint32_t *ntop;      /* [P] members claiming p in that generation */
	int32_t *seen;       /* [P] the last member whose claim was read */
	int32_t *winner;     /* [P] whose claim holds, or -1 */
	int32_t *prev;       /* [P] the best claim that lost, or -1 */
	size_t *cnt;         /* [M] partitions assigned to m */
	size_t *maxsize;     /* [M] partitions of the topics m subscribes */
	uint8_t *part;       /* [M] m takes part in the balancing */
	size_t *npot;        /* [T] members subscribed to t */
	int32_t *mv_src;     /* [P] partition movements: from */
	int32_t *mv_dst;     /* [P]                      to */
	size_t *mv_topic;    /* [T] movements recorded for t */
	size_t moves_left;   /* a bound on the balancing's moves */
};

/* The generation a member's claims belong to, -1 when it has none. */
static int64_t generation(const ks_subscription_t *s)
{
	const uint8_t *u = s->user_data;

	if (s->generation_id >= 0)
		return s->generation_id;
	/*
	 * Before subscription v2, Kafka's CooperativeStickyAssignor sent its
	 * generation as the user data: one int32.
	 */
	if (u && s->user_data_len == 4)
		return (int32_t)ks__be32(u);
	return -1;
}

static int cmp_id(const void *a, const void *b, void *arg)
{
	const ks_assignor_member_t *m = arg;

	return strcmp(m[*(const size_t *)a].member_id,
	    m[*(const size_t *)b].member_id);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- 1. claims ---------------------------------------------------------- */

static size_t count_claims(const struct ks__assign *g)
{
	size_t m, i, n = 0;

	for (m = 0; m < g->nmembers; m++) {
		const ks_subscription_t *s = g->members[m].subscription;

		for (i = 0; i < s->owned_count; i++)
			n += s->owned[i].partition_count;
	}
	return n;
}

/* The end of member m's claims in own[]. */
static size_t own_end(const struct sticky *st, size_t m)
{
	size_t r = st->rank[m];

	return r + 1 < st->M ? st->own_off[st->by_id[r + 1]] :
	    st->own_off[st->M];
}

/*
 * Reads every member's claims into own[] (members in id order, each one's
 * claims in its own order, a partition claimed twice by one member kept
 * once), then settles who holds each partition: the only claim of the
 * highest generation, or nobody on a tie.
 */
static void claims(struct sticky *st)
{
	struct ks__assign *g = st->g;
	size_t k, i, j, n = 0, p;

	for (p = 0; p < st->P; p++) {
		st->claimer[p] = st->seen[p] = st->winner[p] = st->prev[p] = -1;
		st->topgen[p] = INT64_MIN;
	}
	for (k = 0; k < st->M; k++) {
		size_t m = st->by_id[k];
		const ks_subscription_t *s = g->members[m].subscription;

		st->gen[m] = generation(s);
		st->own_off[m] = n;
		for (i = 0; i < s->owned_count; i++) {
			const ks_partition_list_t *l = &s->owned[i];
			size_t t = ks__topic_index(g, l->topic);

			if (t == KS__NO_TOPIC)
				continue;
			for (j = 0; j < l->partition_count; j++) {
				int32_t q = l->partitions[j];

				if (q < 0 || q >= g->nparts[t])
					continue;
				p = g->base[t] + (size_t)q;
				if (st->seen[p] == (int32_t)m)
					continue;
				st->seen[p] = (int32_t)m;
				st->own[n++] = p;
				if (st->nclaims[p]++ == 0)
					st->claimer[p] = (int32_t)m;
				if (st->gen[m] > st->topgen[p]) {
					st->topgen[p] = st->gen[m];
					st->ntop[p] = 0;
				}
				if (st->gen[m] == st->topgen[p]) {
					st->ntop[p]++;
					st->winner[p] = (int32_t)m;
				}
			}
		}
	}
	st->own_off[st->M] = n;
	for (p = 0; p < st->P; p++)
		if (st->ntop[p] != 1)
			st->winner[p] = -1;
	/* prev: the highest-generation claim other than the winner's. */
	for (k = 0; k < st->M; k++) {
		size_t m = st->by_id[k];

		for (i = st->own_off[m]; i < own_end(st, m); i++) {
			p = st->own[i];
			if (st->winner[p] == (int32_t)m)
				continue;
			if (st->prev[p] < 0 ||
			    st->gen[m] > st->gen[st->prev[p]])
				st->prev[p] = (int32_t)m;
		}
	}
}


/* ---- 2. every member subscribes to the same topics --------------------- */

/*
 * Whether all members subscribe to the same set of topics, as written in
 * their subscriptions (topics without metadata count too).
 */
static int same_subscriptions(const struct ks__assign *g, int *same)
{
	const char **a = NULL, **b = NULL;
	size_t m, na = 0, nb, i, max = 0;

	*same = 1;
	for (m = 0; m < g->nmembers; m++)
		if (g->members[m].subscription->topic_count > max)
			max = g->members[m].subscription->topic_count;
	if (!(a = malloc((2 * max + 1) * sizeof *a)))
		return KS_ENOMEM;
	b = a + max;
	for (m = 0; m < g->nmembers && *same; m++) {
		const ks_subscription_t *s = g->members[m].subscription;
		const char **d = m == 0 ? a : b;

		memcpy(d, s->topics, s->topic_count * sizeof *d);
		qsort(d, s->topic_count, sizeof *d, cmp_str);
		for (i = 0, nb = 0; i < s->topic_count; i++)
			if (nb == 0 || strcmp(d[nb - 1], d[i]) != 0)
				d[nb++] = d[i];
		if (m == 0) {
			na = nb;
			continue;
		}
		if (nb != na)
			*same = 0;
		for (i = 0; i < nb && *same; i++)
			if (strcmp(a[i], b[i]) != 0)
				*same = 0;
	}
	free(a);
	return 0;
}

static void give(struct sticky *st, size_t p, size_t m)
{
	st->g->owner[p] = (int32_t)m;
	st->cnt[m]++;
}

/*
 * The constrained algorithm. under[] holds the members below the minimum
 * quota, in id order; exact[] a queue of those at the minimum that may
 * still take one more.
 */
static int constrained(struct sticky *st)
{
	size_t M = st->M, P = st->P, min_q = P / M, max_q = (P + M - 1) / M;
	size_t want_over = P % M, over = 0, k, i, p;
	size_t *under, *exact, nunder = 0, ehead = 0, etail = 0, it = 0;

	if (!(under = malloc(2 * M * sizeof *under)))
		return KS_ENOMEM;
	exact = under + M;
	for (k = 0; k < M; k++) {
		size_t m = st->by_id[k], n = 0, keep, beg = st->own_off[m];
		size_t end = own_end(st, m);

		for (i = beg; i < end; i++)
			n += st->winner[st->own[i]] == (int32_t)m;
		if (n < min_q) {
			keep = n;
			under[nunder++] = m;
		} else if (n >= max_q && over < want_over) {
			keep = max_q;
			if (++over == want_over)
				ehead = etail = 0; /* no more room above */
		} else {
			keep = min_q;
			if (over < want_over)
				exact[etail++] = m;
		}
		/* The first ones it claimed, as Kafka keeps them. */
		for (i = beg; i < end && st->cnt[m] < keep; i++) {
			p = st->own[i];
			if (st->winner[p] == (int32_t)m && st->g->owner[p] < 0)
				give(st, p, m);
		}
	}
	/* Deal the rest, in topic then partition order. */
	for (p = 0; p < P; p++) {
		size_t m;

		if (st->g->owner[p] >= 0)
			continue;
		if (it < nunder) {
			m = under[it++];
		} else if (nunder == 0 && ehead < etail) {
			m = exact[ehead++];
		} else if (nunder) {
			it = 0;
			m = under[it++];
		} else {
			/* Cannot happen (the quotas add up to P): stay safe. */
			m = st->by_id[0];
			for (k = 1; k < M; k++)
				if (st->cnt[st->by_id[k]] < st->cnt[m])
					m = st->by_id[k];
		}
		give(st, p, m);
		if (st->cnt[m] == min_q && it > 0 && under[it - 1] == m) {
			memmove(&under[it - 1], &under[it],
			    (nunder - it) * sizeof *under);
			nunder--;
			it--;
			exact[etail++] = m;
		} else if (st->cnt[m] == max_q) {
			over++;
		}
	}
	free(under);
	return 0;
}

/* ---- 3. the general case ------------------------------------------------ */

/* Whether a lies before b among members sorted by (size, member id). */
static int lighter(const struct sticky *st, size_t a, size_t b)
{
	if (st->cnt[a] != st->cnt[b])
		return st->cnt[a] < st->cnt[b];
	return st->rank[a] < st->rank[b];
}

/* The lightest member subscribed to t (among those balancing, if only). */
static ssize_t lightest(const struct sticky *st, size_t t, int only)
{
	ssize_t best = -1;
	size_t m;

	for (m = 0; m < st->M; m++) {
		if (!ks__subscribes(st->g, m, t) || (only && !st->part[m]))
			continue;
		if (best < 0 || lighter(st, m, (size_t)best))
			best = (ssize_t)m;
	}
	return best;
}

/*
 * Kafka's isBalanced: sizes within one of each other, or no member could
 * take a partition it subscribes to from one that has two more than it.
 */
static int balanced(const struct sticky *st)
{
	const struct ks__assign *g = st->g;
	size_t m, t, p, lo = SIZE_MAX, hi = 0;

	for (m = 0; m < st->M; m++) {
		if (!st->part[m])
			continue;
		lo = KS__MIN(lo, st->cnt[m]);
		hi = KS__MAX(hi, st->cnt[m]);
	}
	if (lo == SIZE_MAX || lo + 1 >= hi)
		return 1;
	for (m = 0; m < st->M; m++) {
		if (!st->part[m] || st->cnt[m] == st->maxsize[m])
			continue;
		for (t = 0; t < st->T; t++) {
			size_t end = g->base[t] + (size_t)g->nparts[t];

			if (!ks__subscribes(g, m, t))
				continue;
			for (p = g->base[t]; p < end; p++) {
				int32_t o = g->owner[p];

				if (o >= 0 && (size_t)o != m && st->part[o] &&
				    st->cnt[m] + 1 < st->cnt[o])
					return 0;
			}
		}
	}
	return 1;
}

/* Sum of the size differences of all pairs: 0 is perfectly even. */
static uint64_t balance_score(const struct sticky *st, const size_t *cnt)
{
	uint64_t s = 0;
	size_t a, b;

	for (a = 0; a < st->M; a++)
		for (b = a + 1; b < st->M; b++)
			if (st->part[a] && st->part[b])
				s += cnt[a] > cnt[b] ? cnt[a] - cnt[b] :
				    cnt[b] - cnt[a];
	return s;
}

/*
 * Kafka's PartitionMovements: when p is to go from old to new and some
 * partition of the same topic earlier went from new to (p's first owner),
 * that one moves back instead, so that no two members end up swapping
 * partitions of one topic, which stickiness would count as two moves.
 */
static size_t to_move(const struct sticky *st, size_t p, size_t old,
    size_t nw)
{
	const struct ks__assign *g = st->g;
	size_t t = g->topic_of[p], q;

	if (st->mv_topic[t] == 0)
		return p;
	if (st->mv_src[p] >= 0)
		old = (size_t)st->mv_src[p];
	for (q = g->base[t]; q < g->base[t] + (size_t)g->nparts[t]; q++)
		if (st->mv_src[q] == (int32_t)nw &&
		    st->mv_dst[q] == (int32_t)old)
			return q;
	return p;
}

static void move(struct sticky *st, size_t p, size_t nw)
{
	size_t old = (size_t)st->g->owner[p], t = st->g->topic_of[p];

	if (st->mv_src[p] >= 0) {
		int32_t src = st->mv_src[p];

		st->mv_src[p] = st->mv_dst[p] = -1;
		st->mv_topic[t]--;
		if (src != (int32_t)nw) {
			st->mv_src[p] = src;
			st->mv_dst[p] = (int32_t)nw;
			st->mv_topic[t]++;
		}
	} else {
		st->mv_src[p] = (int32_t)old;
		st->mv_dst[p] = (int32_t)nw;
		st->mv_topic[t]++;
	}
	st->cnt[old]--;
	st->cnt[nw]++;
	st->g->owner[p] = (int32_t)nw;
}

static void reassign(struct sticky *st, size_t p, size_t nw)
{
	move(st, to_move(st, p, (size_t)st->g->owner[p], nw), nw);
}

/* Kafka's performReassignments over list[0..n); 1 if anything moved. */
static int reassign_all(struct sticky *st, const size_t *list, size_t n)
{
	const struct ks__assign *g = st->g;
	int performed = 0, modified;
	size_t i;

	do {
		modified = 0;
		for (i = 0; i < n && st->moves_left && !balanced(st); i++) {
			size_t p = list[i], t = g->topic_of[p], c;
			int32_t q = st->prev[p];
			ssize_t to;

			if (g->owner[p] < 0)
				continue;
			c = (size_t)g->owner[p];
			/* Back to its previous owner if that evens things. */
			if (q >= 0 && (size_t)q != c &&
			    ks__subscribes(g, (size_t)q, t) && st->part[q] &&
			    st->cnt[c] > st->cnt[q] + 1) {
				reassign(st, p, (size_t)q);
				st->moves_left--;
				performed = modified = 1;
				continue;
			}
			to = lightest(st, t, 1);
			if (to >= 0 && st->cnt[c] > st->cnt[to] + 1) {
				reassign(st, p, (size_t)to);
				st->moves_left--;
				performed = modified = 1;
			}
		}
	} while (modified && st->moves_left);
	return performed;
}

static int general(struct sticky *st)
{
	struct ks__assign *g = st->g;
	size_t M = st->M, P = st->P, T = st->T, m, t, i, p, k, n, nun = 0;
	size_t *torder, *sorted, *unassigned, *pre_cnt;
	int32_t *pre_owner;
	int revocation = 0, initializing = 1, performed;

	torder = malloc(T * sizeof *torder + 2 * P * sizeof *sorted +
	    M * sizeof *pre_cnt + 1);
	pre_owner = malloc(P * sizeof *pre_owner + 1);
	if (!torder || !pre_owner) {
		free(torder);
		free(pre_owner);
		return KS_ENOMEM;
	}
	sorted = torder + T;
	unassigned = sorted + P;
	pre_cnt = unassigned + P;

	for (t = 0; t < T; t++)
		for (m = 0; m < M; m++)
			st->npot[t] += ks__subscribes(g, m, t);
	for (m = 0; m < M; m++)
		for (t = 0; t < T; t++)
			if (ks__subscribes(g, m, t))
				st->maxsize[m] += (size_t)g->nparts[t];

	/* Keep what members hold and still subscribe to. */
	for (m = 0; m < M; m++) {
		for (i = st->own_off[m]; i < own_end(st, m); i++) {
			p = st->own[i];
			if (st->winner[p] != (int32_t)m)
				continue;
			if (!ks__subscribes(g, m, g->topic_of[p]))
				revocation = 1;
			else
				give(st, p, m);
		}
		if (st->cnt[m])
			initializing = 0;
	}

	/* Topics with fewest subscribers first, then by name. */
	for (t = 0; t < T; t++) {
		for (k = t; k > 0 && st->npot[torder[k - 1]] > st->npot[t];
		    k--)
			torder[k] = torder[k - 1];
		torder[k] = t;
	}
	for (k = 0, n = 0; k < T; k++)
		for (p = g->base[torder[k]];
		    p < g->base[torder[k]] + (size_t)g->nparts[torder[k]]; p++)
			sorted[n++] = p;
	for (i = 0; i < P; i++)
		if (g->owner[sorted[i]] < 0)
			unassigned[nun++] = sorted[i];

	/* Each unassigned partition to its lightest subscriber. */
	for (i = 0; i < nun; i++) {
		ssize_t to = lightest(st, g->topic_of[unassigned[i]], 0);

		if (to >= 0)
			give(st, unassigned[i], (size_t)to);
	}

	/* Only topics with two or more subscribers can move. */
	for (i = 0, k = 0; i < P; i++)
		if (st->npot[g->topic_of[sorted[i]]] >= 2)
			sorted[k++] = sorted[i];
	n = k;
	for (i = 0, k = 0; i < nun; i++)
		if (st->npot[g->topic_of[unassigned[i]]] >= 2)
			unassigned[k++] = unassigned[i];
	nun = k;
	/*
	 * Only members that lack some partition they could have, or hold
	 * one that could move, take part in the balancing.
	 */
	for (m = 0; m < M; m++)
		st->part[m] = st->cnt[m] < st->maxsize[m];
	for (p = 0; p < P; p++)
		if (g->owner[p] >= 0 && st->npot[g->topic_of[p]] >= 2)
			st->part[g->owner[p]] = 1;

	memcpy(pre_owner, g->owner, P * sizeof *pre_owner);
	memcpy(pre_cnt, st->cnt, M * sizeof *pre_cnt);
	/*
	 * A move to a lighter member lowers the sum of squared sizes, so the
	 * passes end; a move redirected by to_move() need not, hence the
	 * bound, never reached in practice.
	 */
	st->moves_left = 4 * (P + 1) * (M + 1);
	if (!revocation)
		reassign_all(st, unassigned, nun);
	performed = reassign_all(st, sorted, n);
	if (!initializing && performed &&
	    balance_score(st, st->cnt) >= balance_score(st, pre_cnt)) {
		memcpy(g->owner, pre_owner, P * sizeof *pre_owner);
		memcpy(st->cnt, pre_cnt, M * sizeof *pre_cnt);
	}
	free(torder);
	free(pre_owner);
	return 0;
}

/* ---- the assignor ------------------------------------------------------- */

/*
 * Lays st's arrays out from base, or with base NULL only measures them;
 * returns the size.
 */
static size_t layout(struct sticky *st, char *base, size_t nclaims)
{
	size_t M = st->M, P = st->P, T = st->T, off = 0;

#define TAKE(field, n)                                                      \
	do {                                                                 \
		if (base)                                                    \
			st->field = (void *)(base + off);                    \
		off += (((n) * sizeof *st->field) + 15) & ~(size_t)15;       \
	} while (0)
	TAKE(rank, M);
	TAKE(by_id, M);
	TAKE(gen, M);
	TAKE(own_off, M + 1);
	TAKE(own, nclaims);
	TAKE(nclaims, P);
	TAKE(claimer, P);
	TAKE(topgen, P);
	TAKE(ntop, P);
	TAKE(seen, P);
	TAKE(winner, P);
	TAKE(prev, P);
	TAKE(cnt, M);
	TAKE(maxsize, M);
	TAKE(part, M);
	TAKE(npot, T);
	TAKE(mv_src, P);
	TAKE(mv_dst, P);
	TAKE(mv_topic, T);
#undef TAKE
	return off;
}

int ks__assign_sticky(struct ks__assign *g)
{
	struct sticky st = { .g = g, .M = g->nmembers, .P = g->npart,
	    .T = g->ntopics };
	size_t M = st.M, P = st.P, nclaims = count_claims(g), k, p;
	void *mem;
	int same, rc;

	if (!(mem = calloc(1, layout(&st, NULL, nclaims) + 1)))
		return KS_ENOMEM;
	layout(&st, mem, nclaims);
	for (k = 0; k < M; k++)
		st.by_id[k] = k;
	qsort_r(st.by_id, M, sizeof *st.by_id, cmp_id, (void *)g->members);
	for (k = 0; k < M; k++)
		st.rank[st.by_id[k]] = k;
	for (p = 0; p < P; p++)
		st.mv_src[p] = st.mv_dst[p] = -1;

	claims(&st);
	if ((rc = same_subscriptions(g, &same)) == 0)
		rc = same ? constrained(&st) : general(&st);

	/*
	 * 4. Cooperative: a partition changing hands while another member
	 * still claims it goes to nobody now; that member revokes it, and
	 * the next rebalance hands it out.
	 */
	for (p = 0; rc == 0 && p < P; p++) {
		int32_t o = g->owner[p];

		if (o >= 0 && st.winner[p] != o && (st.nclaims[p] > 1 ||
		    (st.nclaims[p] == 1 && st.claimer[p] != o)))
			g->owner[p] = -1;
	}
	free(mem);
	return rc;
}
