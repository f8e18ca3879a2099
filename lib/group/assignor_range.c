/*
 * assignor_range.c: Kafka's RangeAssignor. Each topic on its own: its
 * subscribers in MemberInfo order (static members by group.instance.id
 * first, then the others by member id) get consecutive ranges of its
 * partitions, the first (partitions % subscribers) of them one more.
 *
 * With 2 members and 2 topics of 3 partitions, C0 gets t0 0-1 and t1 0-1,
 * C1 t0 2 and t1 2: range favours the first members on every topic alike,
 * which is what makes it co-partition topics and also what unbalances it.
 */
#include "group/group_impl.h"

#include <stdlib.h>

int ks__assign_range(struct ks__assign *g)
{
	size_t *order, *subs, t, i, k;

	if (!(order = malloc(2 * g->nmembers * sizeof *order)))
		return KS_ENOMEM;
	subs = order + g->nmembers;
	ks__members_by_instance(g, order);
	for (t = 0; t < g->ntopics; t++) {
		size_t n = (size_t)g->nparts[t], each, extra, start;

		for (i = 0, k = 0; i < g->nmembers; i++)
			if (ks__subscribes(g, order[i], t))
				subs[k++] = order[i];
		if (k == 0) /* cannot happen: only subscribed topics */
			continue;
		each = n / k;
		extra = n % k;
		for (i = 0, start = 0; i < k; i++) {
			size_t len = each + (i < extra), p;

			for (p = start; p < start + len; p++)
				g->owner[g->base[t] + p] = (int32_t)subs[i];
			start += len;
		}
	}
	free(order);
	return 0;
}
