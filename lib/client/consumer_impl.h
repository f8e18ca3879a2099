/*
 * consumer_impl.h: the consumer's state, shared by consumer.c (positions,
 * polls, waiting) and consumer_group.c (membership, rebalances, commits).
 */
#ifndef KS_CLIENT_CONSUMER_IMPL_H
#define KS_CLIENT_CONSUMER_IMPL_H

#include "core/internal.h"

#include <kstream/client.h>
#include <pthread.h>

/* An assigned partition. */
struct ks__cpart {
	char *topic;
	int32_t partition;
	ks_topic_t *t;
	ks_log_t *log;     /* borrowed from t */
	int64_t pos;       /* the next offset a poll returns */
	int paused;
};

struct ks__cgroup; /* consumer_group.c */

struct ks_consumer {
	ks_store_t *store;
	ks_consumer_config_t cfg; /* its strings point to the copies below */
	char *group_id, *instance_id, *client_id, *assignors;
	int busy;                 /* atomic: calls in progress, all in owner */
	pthread_t owner;          /* the thread inside, while busy */
	int pending_err;          /* an error for the next poll, after a poll
	                             that still had records to return */

	struct ks__cpart *parts;
	size_t nparts, capparts;
	size_t rr;                /* where the next fetch starts */

	ks_message_t *msgs;       /* the last poll's records */
	size_t nmsgs;
	ks_log_view_t *views;     /* and the views that keep them mapped */
	size_t nviews, capviews;
	/* Compressed batches of the last poll, decompressed: one buffer a
	 * batch, nz in use; the buffers are kept for the next polls. */
	struct ks__zbuf *zbufs;
	size_t nz, capz;
	ks_topic_partition_t *list; /* ks_consumer_assignment's answer */

	int efd;                  /* readable: records arrived */
	int armed;                /* atomic: the next append writes efd */

	int rdonly;               /* a partition's writer is another process */
	int subscribed;
	struct ks__cgroup *group; /* NULL without group.id */
	struct ks__rconsumer *remote; /* ks_consumer_connect's: the public
	                                 calls go there (lib/kafka) */
};

int ks__consumer_enter(ks_consumer_t *c);
void ks__consumer_leave(ks_consumer_t *c);
void ks__consumer_free(ks_consumer_t *c);

struct ks__cpart *ks__consumer_find(ks_consumer_t *c, const char *topic,
    int32_t partition);
int ks__consumer_add(ks_consumer_t *c, const char *topic, int32_t partition,
    int64_t offset);
void ks__consumer_remove(ks_consumer_t *c, struct ks__cpart *p);
void ks__consumer_clear(ks_consumer_t *c);
int ks__consumer_resolve(ks_consumer_t *c, struct ks__cpart *p,
    int64_t offset, int64_t *pos);

/* consumer_group.c */
/* Heartbeats, rebalances and auto-commit that are due: < 0 on error. */
int ks__consumer_group_step(ks_consumer_t *c, int64_t now_ns);
/* Nanoseconds until the group needs the thread again (INT64_MAX: never). */
int64_t ks__consumer_group_due(ks_consumer_t *c, int64_t now_ns);
/* The final commit and the leave, at close. */
int ks__consumer_group_close(ks_consumer_t *c);
/* The group's committed offset for a partition, -1 if none. */
int ks__consumer_committed(ks_consumer_t *c, const char *topic,
    int32_t partition, int64_t *offset);

#endif /* KS_CLIENT_CONSUMER_IMPL_H */
