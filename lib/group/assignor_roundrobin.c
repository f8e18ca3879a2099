/*
 * assignor_roundrobin.c: Kafka's RoundRobinAssignor. Every partition of
 * every subscribed topic, sorted by topic name then partition, is dealt in
 * turn to the members in MemberInfo order (static members by
 * group.instance.id first, then the others by member id); a member not
 * subscribed to the partition's topic is skipped, and the turn goes on
 * from the member after the one that got it.
 *
 * With 2 members and 2 topics of 3 partitions, C0 gets t0p0 t0p2 t1p1 and
 * C1 t0p1 t1p0 t1p2.
 */
#include "group/group_impl.h"

#include <stdlib.h>

int ks__assign_roundrobin(struct ks__assign *g)
{
	size_t *order, next = 0, p;

	if (!(order = malloc(g->nmembers * sizeof *order)))
		return KS_ENOMEM;
	ks__members_by_instance(g, order);
	/* Partition numbers already run in topic-name, partition order. */
	for (p = 0; p < g->npart; p++) {
		size_t t = g->topic_of[p], tries;

		/* Someone subscribes to t, so this stops within a lap. */
		for (tries = 0; tries < g->nmembers &&
		    !ks__subscribes(g, order[next], t); tries++)
			next = (next + 1) % g->nmembers;
		g->owner[p] = (int32_t)order[next];
		next = (next + 1) % g->nmembers;
	}
	free(order);
	return 0;
}
