/*
 * offsets.c: committed offsets: the per-group tables, OffsetCommit,
 * OffsetFetch, OffsetDelete and DeleteGroups, and their records in the
 * offsets log.
 *
 * The log holds Kafka's __consumer_offsets records, one per committed
 * partition (docs/group.md):
 *   key   int16 version (1), string group, string topic, int32 partition
 *   value int16 version (3), int64 offset, int32 leader epoch,
 *         string metadata, int64 commit timestamp
 * where a string is an int16 length and its bytes, all big-endian. A null
 * value (a tombstone) deletes the key. At creation the log is replayed in
 * order, so the latest record of each key wins, as compaction would have
 * it. Replay also reads value versions 0 to 2, and skips group metadata
 * records (key version 2) and anything it cannot parse.
 */
#include "group/coordinator_impl.h"

#include <stdlib.h>
#include <xxhash.h>

#define KEY_VERSION 1
#define VALUE_VERSION 3

/* ---- the table ---------------------------------------------------------- */

static uint64_t tp_hash(const char *topic, int32_t partition)
{
	return XXH3_64bits_withSeed(topic, strlen(topic),
	    (uint64_t)(uint32_t)partition);
}

static void free_node(struct ks__offset *o)
{
	if (!o)
		return;
	free(o->topic);
	free(o->metadata);
	free(o);
}

void ks__offsets_free(struct ks__group *g)
{
	struct ks__offset *o, *n;
	size_t i;

	for (i = 0; i < g->ocap; i++)
		for (o = g->otab[i]; o; o = n) {
			n = o->next;
			free_node(o);
		}
	free(g->otab);
	g->otab = NULL;
	g->ocap = g->ocount = 0;
}

static struct ks__offset **slot(struct ks__group *g, const char *topic,
    int32_t partition, uint64_t h)
{
	struct ks__offset **pp;

	for (pp = &g->otab[h & (g->ocap - 1)]; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->partition == partition &&
		    strcmp((*pp)->topic, topic) == 0)
			break;
	return pp;
}

static const struct ks__offset *lookup(struct ks__group *g,
    const char *topic, int32_t partition)
{
	if (!g || !g->ocap)
		return NULL;
	return *slot(g, topic, partition, tp_hash(topic, partition));
}

/* A table for g; 0 or KS_ENOMEM. */
static int ensure_table(struct ks__group *g)
{
	if (g->ocap)
		return 0;
	if (!(g->otab = calloc(16, sizeof *g->otab)))
		return KS_ENOMEM;
	g->ocap = 16;
	return 0;
}

static void grow(struct ks__group *g)
{
	size_t ncap = g->ocap * 2, i;
	struct ks__offset **nt = calloc(ncap, sizeof *nt), *o, *n;

	if (!nt)
		return; /* longer chains, still correct */
	for (i = 0; i < g->ocap; i++)
		for (o = g->otab[i]; o; o = n) {
			n = o->next;
			o->next = nt[o->hash & (ncap - 1)];
			nt[o->hash & (ncap - 1)] = o;
		}
	free(g->otab);
	g->otab = nt;
	g->ocap = ncap;
}

/* Puts node o into g's table (which exists), replacing the key's entry.
 * Never fails. */
static void put(struct ks__group *g, struct ks__offset *o)
{
	struct ks__offset **pp;

	o->hash = tp_hash(o->topic, o->partition);
	pp = slot(g, o->topic, o->partition, o->hash);
	if (*pp) {
		o->next = (*pp)->next;
		free_node(*pp);
		*pp = o;
		return;
	}
	if (g->ocount + 1 > g->ocap / 4 * 3) {
		grow(g);
		pp = slot(g, o->topic, o->partition, o->hash);
	}
	o->next = NULL;
	*pp = o;
	g->ocount++;
}

static void del(struct ks__group *g, const char *topic, int32_t partition)
{
	struct ks__offset **pp, *o;

	if (!g->ocap)
		return;
	pp = slot(g, topic, partition, tp_hash(topic, partition));
	if ((o = *pp)) {
		*pp = o->next;
		free_node(o);
		g->ocount--;
	}
}

static struct ks__offset *new_node(const char *topic, int32_t partition,
    int64_t offset, int32_t epoch, const char *meta, size_t meta_len,
    int64_t ts)
{
	struct ks__offset *o = calloc(1, sizeof *o);

	if (!o)
		return NULL;
	o->topic = strdup(topic);
	o->metadata = malloc(meta_len + 1);
	if (!o->topic || !o->metadata) {
		free_node(o);
		return NULL;
	}
	memcpy(o->metadata, meta, meta_len);
	o->metadata[meta_len] = 0;
	o->partition = partition;
	o->offset = offset;
	o->leader_epoch = epoch;
	o->commit_ts = ts;
	return o;
}

/* ---- records ------------------------------------------------------------ */

static uint8_t *put_str(uint8_t *p, const char *s, size_t len)
{
	ks__put_be16(p, (uint16_t)len);
	memcpy(p + 2, s, len);
	return p + 2 + len;
}

static size_t key_size(const char *group, const char *topic)
{
	return 2 + 2 + strlen(group) + 2 + strlen(topic) + 4;
}

static uint8_t *put_key(uint8_t *p, const char *group, const char *topic,
    int32_t partition)
{
	ks__put_be16(p, KEY_VERSION);
	p = put_str(p + 2, group, strlen(group));
	p = put_str(p, topic, strlen(topic));
	ks__put_be32(p, (uint32_t)partition);
	return p + 4;
}

static size_t value_size(const struct ks__offset *o)
{
	return 2 + 8 + 4 + 2 + strlen(o->metadata) + 8;
}

static uint8_t *put_value(uint8_t *p, const struct ks__offset *o)
{
	ks__put_be16(p, VALUE_VERSION);
	ks__put_be64(p + 2, (uint64_t)o->offset);
	ks__put_be32(p + 10, (uint32_t)o->leader_epoch);
	p = put_str(p + 14, o->metadata, strlen(o->metadata));
	ks__put_be64(p, (uint64_t)o->commit_ts);
	return p + 8;
}

/* A reader over a record's key or value; any overrun sets bad. */
struct rd {
	const uint8_t *p, *end;
	int bad;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	r->p += n;
	return p;
}

static int16_t rd16(struct rd *r)
{
	const uint8_t *p = take(r, 2);
	return p ? (int16_t)ks__be16(p) : 0;
}

static int32_t rd32(struct rd *r)
{
	const uint8_t *p = take(r, 4);
	return p ? (int32_t)ks__be32(p) : 0;
}

static int64_t rd64(struct rd *r)
{
	const uint8_t *p = take(r, 8);
	return p ? (int64_t)ks__be64(p) : 0;
}

/* A string into buf (cap bytes, NUL-terminated); its length in *len. */
static void rdstr(struct rd *r, char *buf, size_t cap, size_t *len)
{
	int16_t n = rd16(r);
	const uint8_t *p;

	if (n < 0 || (size_t)n >= cap) {
		r->bad = 1;
		return;
	}
	if ((p = take(r, (size_t)n))) {
		memcpy(buf, p, (size_t)n);
		buf[n] = 0;
		*len = (size_t)n;
	}
}

/* Room for the strings of one record: int16-length, 32767 bytes at most. */
struct scratch {
	char group[32768], topic[32768], meta[32768];
};

/* Applies one log record. 0, 1 if skipped as unreadable, or KS_ENOMEM. */
static int replay_one(ks_coordinator_t *c, const ks_record_t *rec,
    struct scratch *sc)
{
	char *group = sc->group, *topic = sc->topic, *meta = sc->meta;
	struct rd k = { rec->key, (const uint8_t *)rec->key + rec->key_len, 0 };
	struct rd v = { rec->value,
	    (const uint8_t *)rec->value + rec->value_len, 0 };
	struct ks__group *g;
	struct ks__offset *o;
	int64_t offset, ts;
	int32_t partition, epoch = -1;
	int16_t kver, vver;
	size_t glen = 0, tlen = 0, mlen = 0;

	if (!rec->key)
		return 1;
	kver = rd16(&k);
	if (!k.bad && kver == 2)
		return 0; /* group metadata: not kept across restarts here */
	if (k.bad || (kver != 0 && kver != 1))
		return 1;
	rdstr(&k, group, sizeof sc->group, &glen);
	rdstr(&k, topic, sizeof sc->topic, &tlen);
	partition = rd32(&k);
	if (k.bad || k.p != k.end || memchr(group, 0, glen) ||
	    memchr(topic, 0, tlen) || !glen)
		return 1;
	if (!rec->value) {
		if ((g = ks__group_find(c, group))) {
			del(g, topic, partition);
			ks__group_maybe_drop(c, g);
		}
		return 0;
	}
	vver = rd16(&v);
	offset = rd64(&v);
	if (vver == 3)
		epoch = rd32(&v);
	rdstr(&v, meta, sizeof sc->meta, &mlen);
	ts = rd64(&v);
	if (vver == 1)
		(void)rd64(&v); /* expire timestamp */
	if (v.bad || vver < 0 || vver > 3)
		return 1;
	if (!(g = ks__group_get(c, group)) || ensure_table(g))
		return KS_ENOMEM;
	if (!(o = new_node(topic, partition, offset, epoch, meta, mlen, ts)))
		return KS_ENOMEM;
	put(g, o);
	return 0;
}

int ks__offsets_replay(ks_coordinator_t *c)
{
	struct scratch *sc;
	ks_log_iter_t *it;
	ks_record_t rec;
	uint64_t skipped = 0;
	int rc;

	if (!(sc = malloc(sizeof *sc)))
		return KS_ENOMEM;
	rc = ks_log_iter_new(c->log, ks_log_start_offset(c->log), &it);
	if (rc) {
		free(sc);
		return rc;
	}
	/* at creation (not shared yet) or at a cluster member's activation
	 * (commits held off by commit_mu) */
	pthread_mutex_lock(&c->mu);
	while ((rc = ks_log_iter_next(it, &rec)) == 1) {
		if ((rc = replay_one(c, &rec, sc)) < 0)
			break;
		skipped += (uint64_t)rc;
	}
	pthread_mutex_unlock(&c->mu);
	ks_log_iter_free(it);
	free(sc);
	if (skipped)
		ks__logf(c->cfg.log_cb, c->cfg.log_opaque, KS_LOG_WARNING,
		    "%s: skipped %llu unreadable offset records",
		    ks_log_dir(c->log), (unsigned long long)skipped);
	return rc < 0 ? rc : 0;
}

/* ---- OffsetCommit ------------------------------------------------------- */

int ks_group_commit(ks_coordinator_t *c, const char *group_id,
    int32_t generation, const char *member_id, const char *instance_id,
    ks_offset_commit_t *offsets, size_t n, int flags)
{
	struct ks__offset **nodes = NULL;
	struct ks__group *g = NULL;
	ks_record_t *recs = NULL;
	ks_append_info_t info = { 0, 0, 0, 0 };
	uint8_t *buf = NULL, *p;
	size_t i, nrec = 0, bytes = 0, maxmeta;
	int64_t now, ts;
	int rc = 0, first = 0;

	if (!c || !group_id || !*group_id || strlen(group_id) > INT16_MAX ||
	    (n && !offsets))
		return KS_EINVAL;
	for (i = 0; i < n; i++)
		if (!offsets[i].topic || strlen(offsets[i].topic) > INT16_MAX)
			return KS_EINVAL;
	maxmeta = (size_t)c->cfg.offset_metadata_max_bytes;

	/* everything the commit needs, before any lock */
	if (n && (!(nodes = calloc(n, sizeof *nodes)) ||
	    !(recs = calloc(n, sizeof *recs)))) {
		rc = KS_ENOMEM;
		goto out;
	}
	ts = ks__wallclock_ms();
	for (i = 0; i < n; i++) {
		const ks_offset_commit_t *e = &offsets[i];
		const char *meta = e->metadata ? e->metadata : "";
		size_t ml = strlen(meta);
		offsets[i].err = 0;
		if (ml > maxmeta) {
			offsets[i].err = KS_EMSGSIZE;
			continue;
		}
		nodes[i] = new_node(e->topic, e->partition, e->offset,
		    e->leader_epoch, meta, ml, ts);
		if (!nodes[i]) {
			rc = KS_ENOMEM;
			goto out;
		}
		bytes += key_size(group_id, e->topic) + value_size(nodes[i]);
	}
	if (c->log && bytes && !(buf = malloc(bytes))) {
		rc = KS_ENOMEM;
		goto out;
	}

	now = ks__coord_now(c);
	pthread_mutex_lock(&c->mu);
	rc = ks__group_check_commit(c, group_id, generation, member_id,
	    instance_id, now, &g);
	pthread_mutex_unlock(&c->mu);
	if (rc)
		goto out;

	/* append and apply in one order, so that a replay agrees */
	pthread_mutex_lock(&c->commit_mu);
	if (c->inactive)
		rc = KS_ECLOSED; /* a cluster member's, not coordinating */
	for (i = 0, p = buf; !rc && c->log && i < n; i++) {
		if (!nodes[i])
			continue;
		recs[nrec].timestamp = -1;
		recs[nrec].key = p;
		p = put_key(p, group_id, nodes[i]->topic, nodes[i]->partition);
		recs[nrec].key_len = (size_t)(p - (const uint8_t *)recs[nrec].key);
		recs[nrec].value = p;
		p = put_value(p, nodes[i]);
		recs[nrec].value_len =
		    (size_t)(p - (const uint8_t *)recs[nrec].value);
		nrec++;
	}
	if (nrec && !rc)
		rc = ks_log_append(c->log, recs, nrec, &info);
	pthread_mutex_lock(&c->mu);
	for (i = 0; !rc && i < n; i++)
		if (nodes[i]) {
			put(g, nodes[i]);
			nodes[i] = NULL;
		}
	g->pins--;
	ks__group_maybe_drop(c, g);
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_unlock(&c->commit_mu);

	if (!rc && nrec && (flags & KS_GROUP_COMMIT_DURABLE) && !info.durable)
		rc = ks_log_flush(c->log, info.last_offset + 1);
out:
	for (i = 0; i < n; i++) {
		if (rc && offsets[i].err != KS_EMSGSIZE)
			offsets[i].err = rc;
		if (offsets[i].err && !first)
			first = offsets[i].err;
		if (nodes)
			free_node(nodes[i]);
	}
	free(nodes);
	free(recs);
	free(buf);
	return first ? first : rc;
}

/* ---- OffsetDelete ------------------------------------------------------- */

int ks_group_delete_offsets(ks_coordinator_t *c, const char *group_id,
    const ks_group_tp_t *tps, size_t n)
{
	struct ks__group *g;
	ks_record_t *recs = NULL;
	uint8_t *buf = NULL, *p;
	size_t i, bytes = 0;
	int rc = 0;

	if (!c || !group_id || !*group_id || strlen(group_id) > INT16_MAX ||
	    (n && !tps))
		return KS_EINVAL;
	for (i = 0; i < n; i++) {
		if (!tps[i].topic || strlen(tps[i].topic) > INT16_MAX)
			return KS_EINVAL;
		bytes += key_size(group_id, tps[i].topic);
	}
	if (!n)
		return 0;
	if (c->log && (!(recs = calloc(n, sizeof *recs)) ||
	    !(buf = malloc(bytes)))) {
		free(recs);
		return KS_ENOMEM;
	}
	pthread_mutex_lock(&c->mu);
	g = ks__group_find(c, group_id);
	if (g && (g->nmembers || g->npending))
		rc = KS_EBUSY;
	else if (g)
		g->pins++;
	pthread_mutex_unlock(&c->mu);
	if (rc || !g)
		goto out;

	pthread_mutex_lock(&c->commit_mu);
	for (i = 0, p = buf; c->log && i < n; i++) {
		recs[i].timestamp = -1;
		recs[i].key = p;
		p = put_key(p, group_id, tps[i].topic, tps[i].partition);
		recs[i].key_len = (size_t)(p - (const uint8_t *)recs[i].key);
	}
	if (c->log)
		rc = ks_log_append(c->log, recs, n, NULL);
	pthread_mutex_lock(&c->mu);
	for (i = 0; !rc && i < n; i++)
		del(g, tps[i].topic, tps[i].partition);
	g->pins--;
	ks__group_maybe_drop(c, g);
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_unlock(&c->commit_mu);
out:
	free(recs);
	free(buf);
	return rc;
}

/* ---- DeleteGroups ------------------------------------------------------- */

/* Tombstones per append: keeps each batch far below max.message.bytes
 * whatever the number of partitions a group committed. */
#define DELETE_CHUNK 256

/*
 * commit_mu is held throughout: every change to an offset table happens
 * under it, so the offsets listed here are still the table's when their
 * tombstones have been appended, and memory agrees with a replay. A
 * member may join meanwhile; the deletion then simply came first.
 */
int ks_group_delete(ks_coordinator_t *c, const char *group_id)
{
	struct ks__group *g;
	struct ks__offset *o;
	ks_record_t *recs = NULL;
	uint8_t *buf = NULL, *p;
	char **topics = NULL;
	int32_t *parts = NULL;
	size_t i, k, n = 0, bytes = 0, done;
	int rc = 0;

	if (!c || !group_id || !*group_id || strlen(group_id) > INT16_MAX)
		return KS_EINVAL;
	pthread_mutex_lock(&c->commit_mu);
	pthread_mutex_lock(&c->mu);
	g = ks__group_find(c, group_id);
	if (!g || (!g->nmembers && !g->npending && !g->ocount))
		rc = KS_EGROUP;
	else if (g->nmembers || g->npending)
		rc = KS_EBUSY;
	if (!rc) {
		/* the keys, copied: the table is only read again once
		 * the tombstones are in the log */
		n = g->ocount;
		topics = calloc(n, sizeof *topics);
		parts = calloc(n, sizeof *parts);
		for (i = 0, k = 0; topics && parts && i < g->ocap; i++)
			for (o = g->otab[i]; o && k < n; o = o->next, k++) {
				if (!(topics[k] = strdup(o->topic)))
					break;
				parts[k] = o->partition;
				bytes += key_size(group_id, o->topic);
			}
		if (!topics || !parts || k < n)
			rc = KS_ENOMEM;
		else
			g->pins++;
	}
	pthread_mutex_unlock(&c->mu);
	if (rc)
		goto out;

	if (c->log && (!(recs = calloc(n < DELETE_CHUNK ? n : DELETE_CHUNK,
	    sizeof *recs)) || !(buf = malloc(bytes ? bytes : 1))))
		rc = KS_ENOMEM;
	for (done = 0; !rc && done < n; done += k) {
		k = n - done < DELETE_CHUNK ? n - done : DELETE_CHUNK;
		if (c->log) {
			for (i = 0, p = buf; i < k; i++) {
				recs[i].timestamp = -1;
				recs[i].key = p;
				recs[i].value = NULL; /* a tombstone */
				recs[i].value_len = 0;
				p = put_key(p, group_id, topics[done + i],
				    parts[done + i]);
				recs[i].key_len =
				    (size_t)(p - (const uint8_t *)recs[i].key);
			}
			rc = ks_log_append(c->log, recs, k, NULL);
		}
		pthread_mutex_lock(&c->mu);
		for (i = 0; !rc && i < k; i++)
			del(g, topics[done + i], parts[done + i]);
		pthread_mutex_unlock(&c->mu);
	}
	pthread_mutex_lock(&c->mu);
	g->pins--;
	ks__group_maybe_drop(c, g);
	pthread_mutex_unlock(&c->mu);
out:
	pthread_mutex_unlock(&c->commit_mu);
	for (i = 0; topics && i < n; i++)
		free(topics[i]);
	free(topics);
	free(parts);
	free(recs);
	free(buf);
	return rc;
}

/* ---- OffsetFetch -------------------------------------------------------- */

static void fill_one(struct ks__pack *pk, ks_committed_t *e,
    const char *topic, int32_t partition, const struct ks__offset *o)
{
	const char *t = ks__pack_str(pk, topic);
	const char *m = ks__pack_str(pk, o ? o->metadata : "");

	if (!e)
		return;
	e->topic = t;
	e->partition = partition;
	e->offset = o ? o->offset : -1;
	e->leader_epoch = o ? o->leader_epoch : -1;
	e->metadata = m;
	e->commit_timestamp = o ? o->commit_ts : -1;
}

static void fill_fetch(struct ks__pack *pk, struct ks__group *g,
    const ks_group_tp_t *tps, size_t n, size_t *count)
{
	ks_committed_t *arr;
	struct ks__offset *o;
	size_t i, k = 0;

	if (!tps)
		n = g ? g->ocount : 0;
	arr = ks__pack_mem(pk, NULL, n * sizeof *arr,
	    _Alignof(ks_committed_t));
	if (tps) {
		for (i = 0; i < n; i++)
			fill_one(pk, arr ? &arr[i] : NULL, tps[i].topic,
			    tps[i].partition,
			    lookup(g, tps[i].topic, tps[i].partition));
	} else {
		for (i = 0; g && i < g->ocap; i++)
			for (o = g->otab[i]; o; o = o->next, k++)
				fill_one(pk, arr ? &arr[k] : NULL, o->topic,
				    o->partition, o);
	}
	*count = n;
}

static int cmp_committed(const void *a, const void *b)
{
	const ks_committed_t *x = a, *y = b;
	int d = strcmp(x->topic, y->topic);
	if (d)
		return d;
	return (x->partition > y->partition) - (x->partition < y->partition);
}

int ks_group_fetch_offsets(ks_coordinator_t *c, const char *group_id,
    const ks_group_tp_t *tps, size_t n, ks_committed_t **out,
    size_t *count)
{
	struct ks__pack pk = { NULL, 0 };
	struct ks__group *g;
	size_t i, k = 0;

	if (out)
		*out = NULL;
	if (count)
		*count = 0;
	if (!c || !group_id || !out || !count)
		return KS_EINVAL;
	for (i = 0; tps && i < n; i++)
		if (!tps[i].topic)
			return KS_EINVAL;
	pthread_mutex_lock(&c->mu);
	g = ks__group_find(c, group_id);
	fill_fetch(&pk, g, tps, n, &k);
	if ((pk.base = malloc(pk.off ? pk.off : 1))) {
		pk.off = 0;
		fill_fetch(&pk, g, tps, n, &k);
	}
	pthread_mutex_unlock(&c->mu);
	if (!pk.base)
		return KS_ENOMEM;
	if (!tps)
		qsort(pk.base, k, sizeof(ks_committed_t), cmp_committed);
	*out = (ks_committed_t *)pk.base;
	*count = k;
	return 0;
}

void ks_committed_free(ks_committed_t *list)
{
	free(list);
}
