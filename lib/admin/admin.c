/*
 * admin.c: the admin API (admin.h). A local handle works on a store and
 * its group coordinator; a remote one (ks_admin_connect, lib/kafka's
 * client_admin.c) sends Kafka's admin requests. Both hand back results
 * built by the packers here, one allocation each, so the same free
 * functions release either.
 */
#include "admin/admin_impl.h"
#include "kafka/client_impl.h" /* KC_DISPATCH */
#include "store/store_impl.h"  /* the store's topic defaults, rdonly */

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- result packing ----------------------------------------------------- */

#define ALIGN_UP(n) (((n) + (_Alignof(max_align_t) - 1)) & \
	~(size_t)(_Alignof(max_align_t) - 1))

/* A bump allocator over one malloc'd block whose size was summed first. */
struct pack {
	char *base;
	size_t off;
};

static void *pk_take(struct pack *pk, size_t len)
{
	void *p = pk->base + pk->off;
	pk->off += ALIGN_UP(len);
	return p;
}

static const char *pk_str(struct pack *pk, const char *s)
{
	size_t len = strlen(s ? s : "") + 1;
	char *p = pk->base + pk->off;

	memcpy(p, s ? s : "", len);
	pk->off += len;
	return p;
}

static const void *pk_bytes(struct pack *pk, const void *b, size_t len)
{
	char *p = pk->base + pk->off;

	if (!len)
		return NULL;
	memcpy(p, b, len);
	pk->off += len;
	return p;
}

static size_t slen(const char *s)
{
	return strlen(s ? s : "") + 1;
}

void ks__atopic_clear(struct ks__atopic *t)
{
	size_t i;

	if (!t)
		return;
	free(t->name);
	free(t->parts);
	for (i = 0; i < t->config_count; i++) {
		free(t->cnames ? t->cnames[i] : NULL);
		free(t->cvalues ? t->cvalues[i] : NULL);
	}
	free(t->cnames);
	free(t->cvalues);
	free(t->cdefault);
	memset(t, 0, sizeof *t);
}

static int atopic_cmp(const void *a, const void *b)
{
	const struct ks__atopic *x = *(const struct ks__atopic *const *)a;
	const struct ks__atopic *y = *(const struct ks__atopic *const *)b;

	return strcmp(x->name, y->name);
}

int ks__atopics_pack(const struct ks__atopic *t, size_t n,
    ks_topic_info_t **out)
{
	const struct ks__atopic **ord;
	struct pack pk;
	size_t i, j, size, strs = 0;

	*out = NULL;
	if (!(ord = malloc((n ? n : 1) * sizeof *ord)))
		return KS_ENOMEM;
	size = ALIGN_UP((n ? n : 1) * sizeof(ks_topic_info_t));
	for (i = 0; i < n; i++) {
		ord[i] = &t[i];
		strs += slen(t[i].name);
		if (t[i].parts)
			size += ALIGN_UP((size_t)t[i].partition_count *
			    sizeof(ks_partition_info_t));
		if (t[i].config_count)
			size += ALIGN_UP(t[i].config_count *
			    sizeof(ks_config_entry_t));
		for (j = 0; j < t[i].config_count; j++)
			strs += slen(t[i].cnames[j]) + slen(t[i].cvalues[j]);
	}
	qsort(ord, n, sizeof *ord, atopic_cmp);
	if (!(pk.base = calloc(1, size + strs))) {
		free(ord);
		return KS_ENOMEM;
	}
	pk.off = 0;
	{
		ks_topic_info_t *arr = pk_take(&pk, (n ? n : 1) * sizeof *arr);
		for (i = 0; i < n; i++) {
			const struct ks__atopic *s = ord[i];
			ks_topic_info_t *d = &arr[i];
			d->internal = s->internal;
			d->partition_count = s->partition_count;
			if (s->parts) {
				ks_partition_info_t *p = pk_take(&pk,
				    (size_t)s->partition_count * sizeof *p);
				memcpy(p, s->parts, (size_t)s->partition_count *
				    sizeof *p);
				d->partitions = p;
			}
			if (s->config_count) {
				d->configs = pk_take(&pk,
				    s->config_count * sizeof(ks_config_entry_t));
				d->config_count = s->config_count;
			}
		}
		/* strings last: they need no alignment */
		for (i = 0; i < n; i++) {
			const struct ks__atopic *s = ord[i];
			ks_config_entry_t *c = (ks_config_entry_t *)arr[i].configs;
			arr[i].name = pk_str(&pk, s->name);
			for (j = 0; j < s->config_count; j++) {
				c[j].name = pk_str(&pk, s->cnames[j]);
				c[j].value = pk_str(&pk, s->cvalues[j]);
				c[j].is_default = s->cdefault ? s->cdefault[j] : 0;
			}
		}
		*out = arr;
	}
	free(ord);
	return 0;
}

static int listing_cmp(const void *a, const void *b)
{
	const ks_group_listing_t *x = a, *y = b;

	return strcmp(x->group_id, y->group_id);
}

int ks__alistings_pack(const ks_group_listing_t *l, size_t n,
    ks_group_listing_t **out)
{
	ks_group_listing_t *arr;
	struct pack pk;
	size_t i, size = ALIGN_UP((n ? n : 1) * sizeof *arr);

	*out = NULL;
	for (i = 0; i < n; i++)
		size += slen(l[i].group_id) + slen(l[i].protocol_type);
	if (!(pk.base = calloc(1, size)))
		return KS_ENOMEM;
	pk.off = 0;
	arr = pk_take(&pk, (n ? n : 1) * sizeof *arr);
	for (i = 0; i < n; i++) {
		arr[i].group_id = pk_str(&pk, l[i].group_id);
		arr[i].protocol_type = pk_str(&pk, l[i].protocol_type);
		arr[i].state = l[i].state;
	}
	qsort(arr, n, sizeof *arr, listing_cmp);
	*out = arr;
	return 0;
}

int ks__agroup_pack(const ks_group_info_t *g, ks_group_info_t **out)
{
	ks_group_info_t *d;
	ks_group_member_info_t *m;
	struct pack pk;
	size_t i, size;

	*out = NULL;
	size = ALIGN_UP(sizeof *d) + ALIGN_UP((g->member_count ?
	    g->member_count : 1) * sizeof *m);
	size += slen(g->group_id) + slen(g->protocol_type) +
	    slen(g->protocol_name) + slen(g->leader_id);
	for (i = 0; i < g->member_count; i++) {
		const ks_group_member_info_t *s = &g->members[i];
		size += slen(s->member_id) + slen(s->client_id) +
		    slen(s->client_host) + s->metadata_len + s->assignment_len;
		if (s->instance_id)
			size += slen(s->instance_id);
	}
	if (!(pk.base = calloc(1, size)))
		return KS_ENOMEM;
	pk.off = 0;
	d = pk_take(&pk, sizeof *d);
	m = pk_take(&pk, (g->member_count ? g->member_count : 1) * sizeof *m);
	d->group_id = pk_str(&pk, g->group_id);
	d->state = g->state;
	d->protocol_type = pk_str(&pk, g->protocol_type);
	d->protocol_name = pk_str(&pk, g->protocol_name);
	d->generation = g->generation;
	d->leader_id = pk_str(&pk, g->leader_id);
	d->members = g->member_count ? m : NULL;
	d->member_count = g->member_count;
	for (i = 0; i < g->member_count; i++) {
		const ks_group_member_info_t *s = &g->members[i];
		m[i].member_id = pk_str(&pk, s->member_id);
		m[i].instance_id = s->instance_id ?
		    pk_str(&pk, s->instance_id) : NULL;
		m[i].client_id = pk_str(&pk, s->client_id);
		m[i].client_host = pk_str(&pk, s->client_host);
		m[i].metadata = pk_bytes(&pk, s->metadata, s->metadata_len);
		m[i].metadata_len = s->metadata_len;
		m[i].assignment = pk_bytes(&pk, s->assignment,
		    s->assignment_len);
		m[i].assignment_len = s->assignment_len;
	}
	*out = d;
	return 0;
}

static int committed_cmp(const void *a, const void *b)
{
	const ks_committed_t *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);

	if (c)
		return c;
	return x->partition < y->partition ? -1 : x->partition > y->partition;
}

int ks__acommitted_pack(const ks_committed_t *c, size_t n,
    ks_committed_t **out)
{
	ks_committed_t *arr;
	struct pack pk;
	size_t i, size = ALIGN_UP((n ? n : 1) * sizeof *arr);

	*out = NULL;
	for (i = 0; i < n; i++)
		size += slen(c[i].topic) + slen(c[i].metadata);
	if (!(pk.base = calloc(1, size)))
		return KS_ENOMEM;
	pk.off = 0;
	arr = pk_take(&pk, (n ? n : 1) * sizeof *arr);
	for (i = 0; i < n; i++) {
		arr[i] = c[i];
		arr[i].topic = pk_str(&pk, c[i].topic);
		arr[i].metadata = pk_str(&pk, c[i].metadata);
	}
	qsort(arr, n, sizeof *arr, committed_cmp);
	*out = arr;
	return 0;
}

/* ---- handles ------------------------------------------------------------- */

int ks_admin_new(ks_store_t *store, ks_admin_t **ap)
{
	ks_admin_t *a;

	if (ap)
		*ap = NULL;
	if (!store || !ap)
		return KS_EINVAL;
	if (!(a = calloc(1, sizeof *a)))
		return KS_ENOMEM;
	a->store = store;
	*ap = a;
	return 0;
}

int ks__admin_wrap(struct ks__radmin *r, ks_admin_t **ap)
{
	ks_admin_t *a;

	*ap = NULL;
	if (!(a = calloc(1, sizeof *a)))
		return KS_ENOMEM;
	a->remote = r;
	*ap = a;
	return 0;
}

void ks_admin_free(ks_admin_t *a)
{
	if (!a)
		return;
#if KC_DISPATCH
	if (a->remote)
		ks__ra_free(a->remote);
#endif
	free(a);
}

/*
 * REMOTE(call): a remote handle's call goes to client_admin.c. Only a
 * KS_WITH_NET build can make one (ks_admin_connect is in lib/kafka).
 */
#if KC_DISPATCH
#define REMOTE(a, call)                                                       \
	do {                                                                  \
		if ((a)->remote)                                              \
			return call;                                          \
	} while (0)
#else
#define REMOTE(a, call) do { } while (0)
#endif

static void alog(ks_admin_t *a, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A message through the store's log callback (a bad property's name). */
static void alog(ks_admin_t *a, int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	ks__logf(a->store->cfg.log_cb, a->store->cfg.log_opaque, level, "%s",
	    buf);
}

/* Kafka's internal topics, which only the broker itself writes to. */
static int is_internal(const char *name)
{
	return strcmp(name, "__consumer_offsets") == 0 ||
	    strcmp(name, "__transaction_state") == 0;
}

static int writable(ks_admin_t *a)
{
	return a->store->rdonly ? KS_ERDONLY : 0;
}

/* ---- topics -------------------------------------------------------------- */

int ks_admin_list_topics(ks_admin_t *a, int flags, ks_topic_info_t **out,
    size_t *count)
{
	struct ks__atopic *t = NULL;
	char **names = NULL;
	size_t i, n = 0, k = 0;
	int rc;

	if (out)
		*out = NULL;
	if (count)
		*count = 0;
	if (!a || !out || !count || (flags & ~KS_ADMIN_INTERNAL))
		return KS_EINVAL;
	REMOTE(a, ks__ra_list_topics(a->remote, flags, out, count));
	if ((rc = ks_topic_list(a->store, &names, &n)) != 0)
		return rc;
	if (!(t = calloc(n ? n : 1, sizeof *t))) {
		rc = KS_ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		ks_topic_t *tp;
		int internal = is_internal(names[i]);

		if (internal && !(flags & KS_ADMIN_INTERNAL))
			continue;
		/* deleted since the listing: not there any more */
		if (ks_topic_open(a->store, names[i], &tp) != 0)
			continue;
		t[k].partition_count = ks_topic_partitions(tp);
		ks_topic_release(tp);
		t[k].internal = internal;
		t[k].name = names[i]; /* borrowed: not cleared below */
		k++;
	}
	if ((rc = ks__atopics_pack(t, k, out)) == 0)
		*count = k;
out:
	free(t);
	ks_topic_list_free(names);
	return rc;
}

/* Describes cfg's properties into t, each compared with the defaults. */
static int describe_configs(const ks_topic_config_t *cfg,
    const ks_topic_config_t *defaults, struct ks__atopic *t)
{
	const char *const *names = ks_topic_config_names();
	char val[128], dval[128];
	size_t i, n = 0;
	int rc;

	while (names[n])
		n++;
	if (!(t->cnames = calloc(n ? n : 1, sizeof *t->cnames)) ||
	    !(t->cvalues = calloc(n ? n : 1, sizeof *t->cvalues)) ||
	    !(t->cdefault = calloc(n ? n : 1, sizeof *t->cdefault)))
		return KS_ENOMEM;
	for (i = 0; i < n; i++) {
		if ((rc = ks_topic_config_get(cfg, names[i], val,
		    sizeof val)) != 0)
			return rc;
		if (ks_topic_config_get(defaults, names[i], dval,
		    sizeof dval) != 0)
			dval[0] = '\0';
		t->cdefault[i] = strcmp(val, dval) == 0;
		t->config_count++;
		if (!(t->cnames[i] = strdup(names[i])) ||
		    !(t->cvalues[i] = strdup(val)))
			return KS_ENOMEM;
	}
	return 0;
}

int ks_admin_describe_topic(ks_admin_t *a, const char *name,
    ks_topic_info_t **out)
{
	struct ks__atopic t;
	ks_topic_config_t cfg;
	ks_topic_t *tp = NULL;
	int32_t p, n;
	int rc;

	if (out)
		*out = NULL;
	if (!a || !name || !out)
		return KS_EINVAL;
	REMOTE(a, ks__ra_describe_topic(a->remote, name, out));
	memset(&t, 0, sizeof t);
	if ((rc = ks_topic_open(a->store, name, &tp)) != 0)
		return rc == KS_ENAME ? KS_ETOPIC : rc;
	if ((rc = ks_topic_config(tp, &cfg)) != 0)
		goto out;
	n = ks_topic_partitions(tp);
	t.internal = is_internal(name);
	t.partition_count = n;
	if (!(t.name = strdup(name)) ||
	    !(t.parts = calloc(n > 0 ? (size_t)n : 1, sizeof *t.parts))) {
		rc = KS_ENOMEM;
		goto out;
	}
	for (p = 0; p < n; p++) {
		ks_partition_info_t *pi = &t.parts[p];
		ks_log_t *log;

		pi->partition = p;
		pi->leader = -1;
		if ((pi->error = ks_topic_partition(tp, p, &log)) != 0) {
			pi->start_offset = pi->end_offset = -1;
			continue;
		}
		pi->start_offset = ks_log_start_offset(log);
		pi->end_offset = ks_log_end_offset(log);
	}
	if ((rc = describe_configs(&cfg, &a->store->cfg.topic_defaults,
	    &t)) == 0)
		rc = ks__atopics_pack(&t, 1, out);
out:
	ks_topic_release(tp);
	ks__atopic_clear(&t);
	return rc;
}

void ks_admin_topics_free(ks_topic_info_t *list)
{
	free(list);
}

/*
 * Applies name/value pairs to cfg; "" (when reset) returns a property to
 * its value in defaults. KS_ECONFIG names the bad one in the log.
 */
static int apply_pairs(ks_admin_t *a, ks_topic_config_t *cfg,
    const char *const *pairs, int reset)
{
	const ks_topic_config_t *defaults = &a->store->cfg.topic_defaults;
	char dval[128];
	size_t i;
	int rc;

	for (i = 0; pairs && pairs[i]; i += 2) {
		const char *name = pairs[i], *value = pairs[i + 1];

		if (!value) {
			alog(a, KS_LOG_ERR, "admin: property %s has no value",
			    name);
			return KS_EINVAL;
		}
		if (reset && !*value) {
			if ((rc = ks_topic_config_get(defaults, name, dval,
			    sizeof dval)) != 0) {
				alog(a, KS_LOG_ERR, "admin: unknown topic "
				    "property %s", name);
				return KS_ECONFIG;
			}
			value = dval;
		}
		if ((rc = ks_topic_config_set(cfg, name, value)) != 0) {
			alog(a, KS_LOG_ERR, "admin: bad topic property %s=%s",
			    name, value);
			return rc;
		}
	}
	return 0;
}

int ks_admin_create_topic(ks_admin_t *a, const char *name,
    int32_t partitions, const char *const *configs)
{
	ks_topic_config_t cfg;
	int rc;

	if (!a || !name)
		return KS_EINVAL;
	REMOTE(a, ks__ra_create_topic(a->remote, name, partitions, configs));
	if ((rc = writable(a)) != 0)
		return rc;
	cfg = a->store->cfg.topic_defaults;
	if (partitions > 0)
		cfg.partitions = partitions;
	if ((rc = apply_pairs(a, &cfg, configs, 0)) != 0)
		return rc;
	return ks_topic_create(a->store, name, &cfg);
}

int ks_admin_delete_topic(ks_admin_t *a, const char *name)
{
	int rc;

	if (!a || !name)
		return KS_EINVAL;
	REMOTE(a, ks__ra_delete_topic(a->remote, name));
	if ((rc = writable(a)) != 0)
		return rc;
	if (is_internal(name))
		return KS_EINVAL;
	rc = ks_topic_delete(a->store, name);
	return rc == KS_ENAME ? KS_ETOPIC : rc;
}

int ks_admin_alter_topic(ks_admin_t *a, const char *name,
    const char *const *configs)
{
	ks_topic_config_t cfg;
	ks_topic_t *tp;
	int rc;

	if (!a || !name)
		return KS_EINVAL;
	REMOTE(a, ks__ra_alter_topic(a->remote, name, configs));
	if ((rc = writable(a)) != 0)
		return rc;
	if ((rc = ks_topic_open(a->store, name, &tp)) != 0)
		return rc == KS_ENAME ? KS_ETOPIC : rc;
	rc = ks_topic_config(tp, &cfg);
	ks_topic_release(tp);
	/* all or nothing: the copy is changed, then stored whole */
	if (rc == 0 && (rc = apply_pairs(a, &cfg, configs, 1)) == 0)
		rc = ks_topic_alter(a->store, name, &cfg);
	return rc;
}

int ks_admin_add_partitions(ks_admin_t *a, const char *name, int32_t total)
{
	int rc;

	if (!a || !name)
		return KS_EINVAL;
	REMOTE(a, ks__ra_add_partitions(a->remote, name, total));
	if ((rc = writable(a)) != 0)
		return rc;
	rc = ks_topic_add_partitions(a->store, name, total);
	return rc == KS_ENAME ? KS_ETOPIC : rc;
}

/* The offset `when` names in a log (see ks_admin_list_offset). */
static int resolve_offset(ks_log_t *log, int64_t when, int64_t *offset)
{
	int rc;

	if (when == KS_OFFSET_BEGINNING) {
		*offset = ks_log_start_offset(log);
	} else if (when == KS_OFFSET_END) {
		*offset = ks_log_end_offset(log);
	} else if (when < 0) {
		return KS_EINVAL;
	} else {
		if ((rc = ks_log_offset_for_time(log, when, offset)) != 0)
			return rc;
		if (*offset < 0)
			*offset = ks_log_end_offset(log);
	}
	return 0;
}

int ks_admin_list_offset(ks_admin_t *a, const char *topic,
    int32_t partition, int64_t when, int64_t *offset)
{
	ks_topic_t *tp;
	ks_log_t *log;
	int rc;

	if (!a || !topic || !offset)
		return KS_EINVAL;
	*offset = -1;
	REMOTE(a, ks__ra_list_offset(a->remote, topic, partition, when,
	    offset));
	if ((rc = ks_topic_open(a->store, topic, &tp)) != 0)
		return rc == KS_ENAME ? KS_ETOPIC : rc;
	if ((rc = ks_topic_partition(tp, partition, &log)) == 0)
		rc = resolve_offset(log, when, offset);
	ks_topic_release(tp);
	return rc;
}

/* ---- groups -------------------------------------------------------------- */

/* The store's coordinator; a read-only store has none. */
static int coordinator(ks_admin_t *a, ks_coordinator_t **cp)
{
	if (a->store->rdonly)
		return KS_ERDONLY;
	/* NULL on a writable store: __consumer_offsets could not be opened
	 * (the store's log callback said why) */
	if (!(*cp = ks_store_coordinator(a->store)))
		return KS_EFATAL;
	return 0;
}

int ks_admin_list_groups(ks_admin_t *a, ks_group_listing_t **out,
    size_t *count)
{
	ks_coordinator_t *c;
	int rc;

	if (out)
		*out = NULL;
	if (count)
		*count = 0;
	if (!a || !out || !count)
		return KS_EINVAL;
	REMOTE(a, ks__ra_list_groups(a->remote, out, count));
	if ((rc = coordinator(a, &c)) != 0)
		return rc;
	return ks_group_list(c, 0, out, count);
}

int ks_admin_describe_group(ks_admin_t *a, const char *group,
    ks_group_info_t **out)
{
	ks_coordinator_t *c;
	int rc;

	if (out)
		*out = NULL;
	if (!a || !group || !*group || !out)
		return KS_EINVAL;
	REMOTE(a, ks__ra_describe_group(a->remote, group, out));
	if ((rc = coordinator(a, &c)) != 0)
		return rc;
	return ks_group_describe(c, group, out);
}

int ks_admin_group_offsets(ks_admin_t *a, const char *group,
    ks_committed_t **out, size_t *count)
{
	ks_coordinator_t *c;
	int rc;

	if (out)
		*out = NULL;
	if (count)
		*count = 0;
	if (!a || !group || !*group || !out || !count)
		return KS_EINVAL;
	REMOTE(a, ks__ra_group_offsets(a->remote, group, out, count));
	if ((rc = coordinator(a, &c)) != 0)
		return rc;
	return ks_group_fetch_offsets(c, group, NULL, 0, out, count);
}

int ks_admin_commit_offsets(ks_admin_t *a, const char *group,
    const ks_topic_partition_t *offsets, size_t n)
{
	ks_offset_commit_t *oc = NULL;
	ks_coordinator_t *c;
	ks_group_info_t *gi;
	size_t i;
	int rc;

	if (!a || !group || !*group || (!offsets && n))
		return KS_EINVAL;
	/* A group with members moves its own offsets (KS_EBUSY), locally
	 * or on a broker; the coordinator refuses a commit from outside
	 * too (KS_EMEMBER) should one join between this look and the
	 * commit. */
	if ((rc = ks_admin_describe_group(a, group, &gi)) != 0)
		return rc;
	i = gi->member_count;
	ks_group_info_free(gi);
	if (i)
		return KS_EBUSY;
	if (!n)
		return 0;
	REMOTE(a, ks__ra_commit_offsets(a->remote, group, offsets, n));
	if ((rc = coordinator(a, &c)) != 0)
		return rc;
	if (!(oc = calloc(n, sizeof *oc)))
		return KS_ENOMEM;
	for (i = 0; i < n && rc == 0; i++) {
		ks_topic_t *tp;
		ks_log_t *log;

		if (!offsets[i].topic)
			rc = KS_EINVAL;
		else if ((rc = ks_topic_open(a->store, offsets[i].topic,
		    &tp)) == KS_ENAME)
			rc = KS_ETOPIC;
		if (rc)
			break;
		if ((rc = ks_topic_partition(tp, offsets[i].partition,
		    &log)) == 0) {
			oc[i].offset = offsets[i].offset;
			if (offsets[i].offset < 0)
				rc = offsets[i].offset == KS_OFFSET_BEGINNING ||
				    offsets[i].offset == KS_OFFSET_END ?
				    resolve_offset(log, offsets[i].offset,
				        &oc[i].offset) : KS_EINVAL;
		}
		ks_topic_release(tp);
		oc[i].topic = offsets[i].topic;
		oc[i].partition = offsets[i].partition;
		oc[i].leader_epoch = -1;
	}
	if (rc == 0) {
		rc = ks_group_commit(c, group, -1, "", NULL, oc, n,
		    KS_GROUP_COMMIT_DURABLE);
		if (rc == KS_EMEMBER || rc == KS_EGENERATION ||
		    rc == KS_EREBALANCE)
			rc = KS_EBUSY;
	}
	free(oc);
	return rc;
}

int ks_admin_delete_group(ks_admin_t *a, const char *group)
{
	ks_coordinator_t *c;
	int rc;

	if (!a || !group || !*group)
		return KS_EINVAL;
	REMOTE(a, ks__ra_delete_group(a->remote, group));
	if ((rc = coordinator(a, &c)) != 0)
		return rc;
	return ks_group_delete(c, group);
}
