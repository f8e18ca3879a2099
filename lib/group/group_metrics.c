/*
 * group_metrics.c: a coordinator's groups as metric samples, for the
 * store's ks_store_metrics() (store_coordinator.c).
 *
 * The groups are copied under c->mu, then turned into samples without it:
 * the partitions' end offsets (for the lag) come from the store, whose
 * locks are never taken while c->mu is held.
 */
#include "core/metrics_impl.h"
#include "group/coordinator_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

struct gm_offset {
	char *topic;
	int32_t partition;
	int64_t offset;
};

struct gm_group {
	char *id;
	int state;
	size_t members;
	uint64_t rebalances;
	struct gm_offset *offs;
	size_t noffs;
};

static void groups_free(struct gm_group *gs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < gs[i].noffs; j++)
			free(gs[i].offs[j].topic);
		free(gs[i].offs);
		free(gs[i].id);
	}
	free(gs);
}

/* Copies g (under c->mu) into out; KS_ENOMEM. */
static int group_copy(const struct ks__group *g, struct gm_group *out)
{
	memset(out, 0, sizeof *out);
	out->state = g->state;
	out->members = g->nmembers;
	out->rebalances = g->rebalances;
	if (!(out->id = strdup(g->id)))
		return KS_ENOMEM;
	if (!g->ocount)
		return 0;
	if (!(out->offs = calloc(g->ocount, sizeof *out->offs)))
		return KS_ENOMEM;
	for (size_t b = 0; b < g->ocap; b++)
		for (const struct ks__offset *o = g->otab[b]; o; o = o->next) {
			struct gm_offset *d = &out->offs[out->noffs];
			if (out->noffs == g->ocount)
				return 0;
			if (!(d->topic = strdup(o->topic)))
				return KS_ENOMEM;
			d->partition = o->partition;
			d->offset = o->offset;
			out->noffs++;
		}
	return 0;
}

static int cmp_group(const void *a, const void *b)
{
	return strcmp(((const struct gm_group *)a)->id,
	    ((const struct gm_group *)b)->id);
}

static int cmp_offset(const void *a, const void *b)
{
	const struct gm_offset *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);
	if (c)
		return c;
	return x->partition < y->partition ? -1 : x->partition > y->partition;
}

/* The groups, sorted by id, their offsets by topic and partition. */
static int snapshot(ks_coordinator_t *c, struct gm_group **gsp, size_t *np)
{
	struct gm_group *gs;
	size_t n = 0;
	int rc = 0;

	pthread_mutex_lock(&c->mu);
	gs = calloc(c->gcount ? c->gcount : 1, sizeof *gs);
	if (!gs)
		rc = KS_ENOMEM;
	for (size_t b = 0; b < c->gcap && !rc; b++)
		for (const struct ks__group *g = c->gtab[b]; g && !rc &&
		     n < c->gcount; g = g->next) {
			rc = group_copy(g, &gs[n]);
			n++;
		}
	pthread_mutex_unlock(&c->mu);
	if (rc) {
		groups_free(gs, n);
		return rc;
	}
	qsort(gs, n, sizeof *gs, cmp_group);
	for (size_t i = 0; i < n; i++)
		if (gs[i].noffs)
			qsort(gs[i].offs, gs[i].noffs, sizeof *gs[i].offs,
			    cmp_offset);
	*gsp = gs;
	*np = n;
	return 0;
}

int ks__coordinator_metrics(ks_coordinator_t *c, ks_metrics_t *m,
    int64_t (*end_offset)(void *arg, const char *topic, int32_t partition),
    void *arg)
{
	struct gm_group *gs;
	size_t n;
	int rc = snapshot(c, &gs, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		const struct gm_group *g = &gs[i];
		const char *lg[2] = { "group", g->id };
		const char *ls[4] = { "group", g->id, "state",
			ks_group_state_name(g->state) };
		rc = ks__metrics_value(m, "kstream_group_state",
		    "The group's state, as the label state; the value is 1.",
		    KS_METRIC_GAUGE, 1, 2, ls);
		if (!rc)
			rc = ks__metrics_value(m, "kstream_group_members",
			    "Members of the group.", KS_METRIC_GAUGE,
			    (double)g->members, 1, lg);
		if (!rc)
			rc = ks__metrics_value(m,
			    "kstream_group_rebalances_total",
			    "Times the group began a rebalance "
			    "(entered PreparingRebalance).",
			    KS_METRIC_COUNTER, (double)g->rebalances, 1, lg);
		for (size_t j = 0; j < g->noffs && !rc; j++) {
			const struct gm_offset *o = &g->offs[j];
			char part[16];
			snprintf(part, sizeof part, "%" PRId32, o->partition);
			const char *lo[6] = { "group", g->id, "topic", o->topic,
				"partition", part };
			rc = ks__metrics_value(m,
			    "kstream_group_committed_offset",
			    "The group's committed offset: the next record "
			    "it reads.", KS_METRIC_GAUGE, (double)o->offset,
			    3, lo);
			int64_t end = end_offset(arg, o->topic, o->partition);
			if (rc || end < 0)
				continue;
			rc = ks__metrics_value(m, "kstream_group_lag",
			    "Records from the committed offset to the "
			    "partition's end offset (never negative).",
			    KS_METRIC_GAUGE,
			    (double)(end > o->offset ? end - o->offset : 0),
			    3, lo);
		}
	}
	groups_free(gs, n);
	return rc;
}
