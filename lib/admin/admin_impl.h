/*
 * admin_impl.h: the admin handle (admin.h) and the hooks by which
 * lib/admin reaches lib/kafka for a handle made by ks_admin_connect().
 *
 * A handle is either local (store set: every call goes to the store and
 * its group coordinator) or remote (remote set: every call goes to
 * lib/kafka/client_admin.c). The remote hooks exist only in a build with
 * KS_WITH_NET (KC_DISPATCH, client_impl.h); without it no remote handle
 * can be made, so admin.c never calls them.
 */
#ifndef KS_ADMIN_IMPL_H
#define KS_ADMIN_IMPL_H

#include "core/internal.h"

#include <kstream/admin.h>

struct ks__radmin;

struct ks_admin {
	ks_store_t *store;          /* local: borrowed */
	struct ks__radmin *remote;  /* remote: owned */
};

/* admin.c: a handle whose every call goes to r (which it then owns). */
int ks__admin_wrap(struct ks__radmin *r, ks_admin_t **ap);

/*
 * Result builders shared by both sides (admin.c): each result is one
 * allocation, so ks_admin_topics_free (and lib/group's ks_*_free, plain
 * free()) release a remote result as they do a local one.
 */

/* A topic as a builder collects it before packing. */
struct ks__atopic {
	char *name;
	int internal;
	int32_t partition_count;
	ks_partition_info_t *parts;   /* describe: partition_count of them */
	char **cnames, **cvalues;     /* describe: config_count of them */
	int *cdefault;
	size_t config_count;
};
void ks__atopic_clear(struct ks__atopic *t);
/* Packs t[0..n) into one allocation, sorted by name (a list) or as is. */
int ks__atopics_pack(const struct ks__atopic *t, size_t n,
    ks_topic_info_t **out);

/* Packs listings (strings copied) sorted by id. */
int ks__alistings_pack(const ks_group_listing_t *l, size_t n,
    ks_group_listing_t **out);
/* Packs a group description (strings and bytes copied). */
int ks__agroup_pack(const ks_group_info_t *g, ks_group_info_t **out);
/* Packs committed offsets (strings copied), sorted by topic, partition. */
int ks__acommitted_pack(const ks_committed_t *c, size_t n,
    ks_committed_t **out);

/* ---- lib/kafka/client_admin.c (KS_WITH_NET only) ------------------------- */

void ks__ra_free(struct ks__radmin *r);
int ks__ra_list_topics(struct ks__radmin *r, int flags,
    ks_topic_info_t **out, size_t *count);
int ks__ra_describe_topic(struct ks__radmin *r, const char *name,
    ks_topic_info_t **out);
int ks__ra_create_topic(struct ks__radmin *r, const char *name,
    int32_t partitions, const char *const *configs);
int ks__ra_delete_topic(struct ks__radmin *r, const char *name);
int ks__ra_alter_topic(struct ks__radmin *r, const char *name,
    const char *const *configs);
int ks__ra_add_partitions(struct ks__radmin *r, const char *name,
    int32_t total);
int ks__ra_list_offset(struct ks__radmin *r, const char *topic,
    int32_t partition, int64_t when, int64_t *offset);
int ks__ra_list_groups(struct ks__radmin *r, ks_group_listing_t **out,
    size_t *count);
int ks__ra_describe_group(struct ks__radmin *r, const char *group,
    ks_group_info_t **out);
int ks__ra_group_offsets(struct ks__radmin *r, const char *group,
    ks_committed_t **out, size_t *count);
int ks__ra_commit_offsets(struct ks__radmin *r, const char *group,
    const ks_topic_partition_t *offsets, size_t n);
int ks__ra_delete_group(struct ks__radmin *r, const char *group);

#endif /* KS_ADMIN_IMPL_H */
