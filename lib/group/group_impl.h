/*
 * group_impl.h: what the ConsumerProtocol codec and the assignors share.
 *
 * An assignor sees the group through struct ks__assign: the members in the
 * caller's order, the topics it may assign (those with partitions that some
 * member subscribes to) sorted by name, and every partition of those topics
 * numbered 0..npart in topic order, then partition order. It answers by
 * filling owner[] with a member index (or -1 for "nobody"); assignor.c
 * turns that into one ks_assignment_t per member.
 */
#ifndef KS_GROUP_IMPL_H
#define KS_GROUP_IMPL_H

#include "core/internal.h"

#include <kstream/assignor.h>

#include <stddef.h>
#include <stdint.h>

struct ks__assign {
	const ks_assignor_member_t *members;
	size_t nmembers;

	size_t ntopics;
	const char **topic;       /* [ntopics] names, sorted (strcmp) */
	int32_t *nparts;          /* [ntopics] partition counts, all > 0 */
	size_t *base;             /* [ntopics] number of partition 0 */
	size_t *topic_of;         /* [npart] the topic of each partition */
	size_t npart;

	uint8_t *sub;             /* [nmembers * ntopics]: m subscribes to t */

	int32_t *owner;           /* [npart] the answer, initially all -1 */
};

/* Whether member m subscribes to topic t. */
static inline int ks__subscribes(const struct ks__assign *g, size_t m,
    size_t t)
{
	return g->sub[m * g->ntopics + t];
}

/* The topic's index, or KS__NO_TOPIC if the group may not be assigned it. */
#define KS__NO_TOPIC SIZE_MAX
size_t ks__topic_index(const struct ks__assign *g, const char *name);

/*
 * Member indexes sorted as Kafka's MemberInfo sorts them (range and
 * roundrobin): static members first, by group.instance.id, then dynamic
 * ones by member id. order[] has nmembers entries.
 */
void ks__members_by_instance(const struct ks__assign *g, size_t *order);

/* The assignors: fill g->owner, return 0 or KS_ENOMEM. */
int ks__assign_range(struct ks__assign *g);
int ks__assign_roundrobin(struct ks__assign *g);
int ks__assign_sticky(struct ks__assign *g);

/* One assigned partition, for ks__assignment_build. */
struct ks__tp {
	const char *topic;
	int32_t partition;
};

/*
 * ks__assignment_build: one allocation holding an assignment of
 * tps[0..n), which must be sorted by topic (strcmp), then partition, and
 * hold no duplicates; topic names are copied. Returns NULL when out of
 * memory.
 */
ks_assignment_t *ks__assignment_build(const struct ks__tp *tps, size_t n,
    int16_t version);

#endif /* KS_GROUP_IMPL_H */
