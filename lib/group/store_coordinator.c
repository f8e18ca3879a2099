/*
 * store_coordinator.c: one group coordinator per store, its committed
 * offsets in the store's internal topic __consumer_offsets (compacted, as
 * in Kafka), created on first use and freed by ks_store_close().
 */
#include "core/internal.h"
#include "group/coordinator_impl.h"
#include "store/store_impl.h"

#include <kstream/group.h>
#include <stdlib.h>

#define KS__OFFSETS_TOPIC "__consumer_offsets"

struct store_group {
	ks_coordinator_t *coord;
	ks_topic_t *offsets;
	ks_store_t *store;
};

static void store_group_free(void *p)
{
	struct store_group *sg = p;
	ks_coordinator_free(sg->coord);
	ks_topic_release(sg->offsets);
	free(sg);
}

/* A partition's end offset for a group's lag; -1 if it is not there. */
static int64_t store_end_offset(void *arg, const char *topic,
    int32_t partition)
{
	ks_topic_t *t;
	ks_log_t *log;
	int64_t end = -1;
	if (ks_topic_open(arg, topic, &t) != 0)
		return -1;
	if (ks_topic_partition(t, partition, &log) == 0)
		end = ks_log_end_offset(log);
	ks_topic_release(t);
	return end;
}

/* ks_store_metrics's groups (store->group_ext_metrics), under ext_mu. */
static int store_group_metrics(void *p, ks_metrics_t *m)
{
	struct store_group *sg = p;
	return ks__coordinator_metrics(sg->coord, m, store_end_offset,
	    sg->store);
}

static struct store_group *store_group_new(ks_store_t *s)
{
	ks_coordinator_config_t cc;
	ks_topic_config_t tc;
	struct store_group *sg;
	ks_log_t *log;
	int rc;

	if (!(sg = calloc(1, sizeof *sg)))
		return NULL;
	sg->store = s;
	/* Offsets are what a group resumes from: each commit is synced
	 * unless the consumer asked for an asynchronous one. */
	ks_topic_config_init(&tc);
	tc.partitions = 1;
	tc.cleanup_policy = KS_CLEANUP_COMPACT;
	tc.log.segment_bytes = 100u << 20;
	rc = ks_topic_create(s, KS__OFFSETS_TOPIC, &tc);
	if (rc == 0 || rc == KS_EEXIST)
		rc = ks_topic_open(s, KS__OFFSETS_TOPIC, &sg->offsets);
	if (rc == 0)
		rc = ks_topic_partition(sg->offsets, 0, &log);
	if (rc == 0) {
		ks_coordinator_config_init(&cc);
		if (s->cfg.group_min_session_timeout_ms > 0)
			cc.min_session_timeout_ms =
			    s->cfg.group_min_session_timeout_ms;
		if (s->cfg.group_max_session_timeout_ms > 0)
			cc.max_session_timeout_ms =
			    s->cfg.group_max_session_timeout_ms;
		if (s->cfg.group_initial_rebalance_delay_ms > 0)
			cc.initial_rebalance_delay_ms =
			    s->cfg.group_initial_rebalance_delay_ms;
		cc.log_cb = s->cfg.log_cb;
		cc.log_opaque = s->cfg.log_opaque;
		rc = ks_coordinator_new(&cc, log, &sg->coord);
	}
	if (rc) {
		ks__logf(s->cfg.log_cb, s->cfg.log_opaque, KS_LOG_ERR,
		    "%s: group coordinator: %s", s->dir, ks_strerror(rc));
		ks_topic_release(sg->offsets);
		free(sg);
		return NULL;
	}
	return sg;
}

ks_coordinator_t *ks_store_coordinator(ks_store_t *s)
{
	struct store_group *sg;

	if (!s || s->rdonly)
		return NULL;
	pthread_mutex_lock(&s->ext_mu);
	if (!s->group_ext && (s->group_ext = store_group_new(s)) != NULL) {
		s->group_ext_free = store_group_free;
		s->group_ext_metrics = store_group_metrics;
	}
	sg = s->group_ext;
	pthread_mutex_unlock(&s->ext_mu);
	return sg ? sg->coord : NULL;
}
