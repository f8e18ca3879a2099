/*
 * compact.c: log compaction (Kafka's cleanup.policy=compact): sealed
 * segments rewritten to keep only the latest record of each key.
 *
 * A pass, as Kafka's log cleaner makes one:
 *   1. snapshot the sealed segments (never the active one) and skip the
 *      pass if the part written since the last pass is below
 *      min.cleanable.dirty.ratio of them;
 *   2. flush them: only durable records may decide what goes, or a power
 *      failure could take a key's new value after its old one was cleaned;
 *   3. build the key map, XXH3-128 of each key -> offset of its latest record
 *      in those segments;
 *   4. for each segment that loses records, write <base>.*.cleaned and sync
 *      them, then, under the writer lock for a few renames, check that the
 *      segment is still the log's, rename .cleaned -> .swap -> final and put
 *      a new segment in the array. Readers holding the old segment keep its
 *      mapping: the renames leave the old inode alive until they let go.
 *
 * Offsets never change: a rewritten batch keeps its baseOffset and
 * lastOffsetDelta and drops records, as Kafka's cleaner does. A compressed
 * batch is read through a decompressed copy and, when it loses records,
 * written again compressed with its own codec.
 * No data is read or written under the writer lock, so appends go on.
 */
#include "core/internal.h"
#include "core/varint.h"
#include "log/compact.h"
#include "log/compress.h"
#include "log/log_impl.h"
#include "log/meta.h"
#include "log/segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

/* Batch header fields (docs/format.md, 4.1). */
#define OFF_LENGTH 8
#define OFF_CRC 17
#define OFF_ATTR 21
#define OFF_LAST_DELTA 23
#define OFF_BASE_TS 27
#define OFF_MAX_TS 35
#define OFF_COUNT 57

#define OUT_BUF (1u << 20) /* write buffer of a cleaned .log */
#define ABORTED 1          /* the log changed under the pass: stop quietly */

void ks_compact_config_init(ks_compact_config_t *cfg)
{
	if (!cfg)
		return;
	cfg->delete_retention_ms = 86400000;
	cfg->min_compaction_lag_ms = 0;
	cfg->min_cleanable_dirty_ratio = 0.5;
}

/* ---- one pass per log at a time --------------------------------------- */

struct cleaning {
	ks_log_t *log;
	struct cleaning *next;
};
static pthread_mutex_t cleaning_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cleaning *cleaning_list;

/* Registers c->log as being compacted; KS_EBUSY if it already is. */
static int cleaning_enter(struct cleaning *c)
{
	struct cleaning *e;
	int rc = 0;
	pthread_mutex_lock(&cleaning_mu);
	for (e = cleaning_list; e; e = e->next)
		if (e->log == c->log)
			rc = KS_EBUSY;
	if (!rc) {
		c->next = cleaning_list;
		cleaning_list = c;
	}
	pthread_mutex_unlock(&cleaning_mu);
	return rc;
}

static void cleaning_leave(struct cleaning *c)
{
	struct cleaning **pp;
	pthread_mutex_lock(&cleaning_mu);
	for (pp = &cleaning_list; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	pthread_mutex_unlock(&cleaning_mu);
}

/* ---- the key map -------------------------------------------------------- */

/*
 * Open addressing (linear probing) over XXH3-128 hashes of the keys, at
 * most three quarters full. Two keys equal in all 128 bits would share an
 * entry; as with Kafka's MD5, the odds are negligible. 24 bytes a slot,
 * 4/3 to 8/3 slots a record.
 */
struct kslot {
	uint64_t lo, hi;
	int64_t off1; /* offset + 1 of the key's latest record; 0: empty */
};

struct keymap {
	struct kslot *slot;
	size_t mask;
};

static int map_init(struct keymap *m, uint64_t records)
{
	size_t cap = 64;
	while (cap / 4 * 3 < records) {
		if (cap > SIZE_MAX / 4 / sizeof *m->slot)
			return KS_ENOMEM;
		cap *= 2;
	}
	m->slot = calloc(cap, sizeof *m->slot);
	if (!m->slot)
		return KS_ENOMEM;
	m->mask = cap - 1;
	return 0;
}

/* The key's slot, or the empty one where it would go (off1 0). */
static struct kslot *map_find(const struct keymap *m, const void *key,
    size_t len, XXH128_hash_t *hp)
{
	XXH128_hash_t h = XXH3_128bits(key, len);
	size_t i = (size_t)h.low64 & m->mask;
	*hp = h;
	for (;;) {
		struct kslot *e = &m->slot[i];
		if (!e->off1 || (e->lo == h.low64 && e->hi == h.high64))
			return e;
		i = (i + 1) & m->mask;
	}
}

/* Records that the key's record at off1 - 1 is the latest seen so far. */
static void map_put(struct keymap *m, const void *key, size_t len,
    int64_t off1)
{
	XXH128_hash_t h;
	struct kslot *e = map_find(m, key, len, &h);
	e->lo = h.low64;
	e->hi = h.high64;
	if (off1 > e->off1)
		e->off1 = off1;
}

/* offset + 1 of the key's latest record, 0 if the map lacks the key. */
static int64_t map_get(const struct keymap *m, const void *key, size_t len)
{
	XXH128_hash_t h;
	return map_find(m, key, len, &h)->off1;
}

/* ---- decoding ----------------------------------------------------------- */

/* A record of an uncompressed batch, pointing into it. */
struct crec {
	uint8_t attr;
	int64_t ts_delta;
	int32_t off_delta;
	const uint8_t *key;   /* NULL: null key */
	size_t key_len;
	int tombstone;        /* null value */
	const uint8_t *tail;  /* keyLength to the end: copied as it is */
	size_t tail_len;
};

/* Kafka's 32-bit varint: bytes consumed, 0 if malformed. */
static size_t get_vi32(const uint8_t *p, const uint8_t *end, int32_t *v)
{
	int64_t x;
	size_t n = ks__varint_get(p, end, &x);
	if (!n || n > 5 || x < INT32_MIN || x > INT32_MAX)
		return 0;
	*v = (int32_t)x;
	return n;
}

/* A length-prefixed field (-1: null, if nullable); 0 or -1. */
static int get_field(const uint8_t **pp, const uint8_t *end, int nullable,
    const uint8_t **ptr, int32_t *len)
{
	size_t n = get_vi32(*pp, end, len);
	if (!n || *len < -nullable)
		return -1;
	*pp += n;
	*ptr = NULL;
	if (*len >= 0) {
		if ((size_t)(end - *pp) < (size_t)*len)
			return -1;
		*ptr = *pp;
		*pp += *len;
	}
	return 0;
}

/*
 * The record at *pp within end, checked as ks_batch_validate() checks it
 * (the log checked it on append; a mismatch here is damage or a truncation
 * racing the pass). 0 and *pp advanced, or KS_ECORRUPT.
 */
static int rec_next(const uint8_t **pp, const uint8_t *end, struct crec *r)
{
	const uint8_t *p = *pp, *rend, *v;
	int32_t len, klen, vlen, nh, i;
	size_t n;

	n = get_vi32(p, end, &len);
	if (!n || len < 1)
		return KS_ECORRUPT;
	p += n;
	if ((size_t)(end - p) < (size_t)len)
		return KS_ECORRUPT;
	rend = p + len;
	r->attr = *p++;
	if (!(n = ks__varint_get(p, rend, &r->ts_delta)))
		return KS_ECORRUPT;
	p += n;
	if (!(n = get_vi32(p, rend, &r->off_delta)) || r->off_delta < 0)
		return KS_ECORRUPT;
	p += n;
	r->tail = p;
	if (get_field(&p, rend, 1, &r->key, &klen) ||
	    get_field(&p, rend, 1, &v, &vlen))
		return KS_ECORRUPT;
	r->key_len = klen < 0 ? 0 : (size_t)klen;
	r->tombstone = vlen < 0;
	if (!(n = get_vi32(p, rend, &nh)) || nh < 0)
		return KS_ECORRUPT;
	p += n;
	for (i = 0; i < nh; i++) {
		const uint8_t *x;
		int32_t xl;
		if (get_field(&p, rend, 0, &x, &xl) ||
		    get_field(&p, rend, 1, &x, &xl))
			return KS_ECORRUPT;
	}
	if (p != rend)
		return KS_ECORRUPT;
	r->tail_len = (size_t)(rend - r->tail);
	*pp = rend;
	return 0;
}

/* The batch at pos (of size bytes of batches), header and CRC checked. */
static int load_batch(const ks__segment_t *s, size_t pos, size_t size,
    ks_batch_info_t *bi, size_t *total)
{
	const uint8_t *b = s->map + pos;
	if (size - pos < KS_BATCH_HEADER_SIZE || ks_batch_parse(b, size - pos,
	        bi) != 0)
		return KS_ECORRUPT;
	*total = (size_t)bi->batch_length + KS_BATCH_LOG_OVERHEAD;
	if (ks_crc32c(0, b + OFF_ATTR, *total - OFF_ATTR) != bi->crc)
		return KS_ECORRUPT;
	return 0;
}

/* Batches whose records compaction reads: not control, and compressed
 * only with a codec this build has. */
static int decodable(const ks_batch_info_t *bi)
{
	int codec = bi->attributes & KS_BATCH_COMPRESSION_MASK;
	return !(bi->attributes & KS_BATCH_CONTROL) &&
	    bi->record_count > 0 &&
	    (codec == KS_COMPRESSION_NONE || ks__codec_available(codec));
}

/* Timestamp arithmetic that wraps instead of overflowing on odd input. */
static int64_t ts_add(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* ---- the pass ----------------------------------------------------------- */

struct pass {
	ks_log_t *log;
	int64_t tomb_before;  /* latest tombstones older than this go */
	int64_t young_after;  /* records newer than this stay (the lag) */
	uint64_t gen;         /* the log's truncation count at the snapshot */
	ks__segment_t **segs; /* the cleanable segments, referenced */
	size_t nsegs;
	struct keymap map;
	uint8_t *keep;        /* one decision per record of a batch */
	size_t keep_cap;
	uint8_t *scratch;     /* a rewritten batch */
	size_t scratch_cap;
	ks__zbuf_t z;         /* a compressed batch, decompressed */
	int64_t dirty_from;   /* the next cleaner offset */
	ks_compact_stat_t st;
};

/* What one segment keeps and loses. */
struct segcount {
	uint64_t kept, removed, tombs;
	uint64_t young;       /* kept only for min.compaction.lag.ms */
};

static int grow(uint8_t **buf, size_t *cap, size_t want)
{
	uint8_t *n;
	if (want <= *cap)
		return 0;
	n = realloc(*buf, want);
	if (!n)
		return KS_ENOMEM;
	*buf = n;
	*cap = want;
	return 0;
}

static void report(const struct pass *p, const ks__segment_t *s, size_t pos,
    const char *what)
{
	ks__logf(p->log->cfg.log_cb, p->log->cfg.log_opaque, KS_LOG_ERR,
	    "compaction: %s: position %zu: %s", s->path, pos, what);
}

/* A decoding failure: damage, or a truncation that overtook the pass. */
static int damaged(const struct pass *p, const ks__segment_t *s, size_t pos)
{
	if (__atomic_load_n(&p->log->gen, __ATOMIC_ACQUIRE) != p->gen)
		return ABORTED;
	report(p, s, pos, "damaged batch");
	return KS_ECORRUPT;
}

/*
 * The decodable batch b (total bytes) as an uncompressed batch: b itself,
 * or its decompressed copy in p->z (valid until the next call). 0 with
 * *pb and *pbi (its header); 1 for a compressed batch that does not
 * decode to well-formed records, which is kept as it is (it passed its
 * CRC: it is what the producer sent, and no reason to stop compacting);
 * or KS_ENOMEM.
 */
static int plain(struct pass *p, const uint8_t *b, const ks_batch_info_t *bi,
    size_t total, const uint8_t **pb, ks_batch_info_t *pbi)
{
	size_t n;
	int rc;

	if (!(bi->attributes & KS_BATCH_COMPRESSION_MASK)) {
		*pb = b;
		*pbi = *bi;
		return 0;
	}
	rc = ks__batch_inflate(b, total, 0, &p->z, &n);
	if (rc == KS_ENOMEM)
		return rc;
	if (rc || ks_batch_validate(p->z.p, n, pbi))
		return 1;
	*pb = p->z.p;
	return 0;
}

/* Step 3: every key's latest offset in the cleanable segments. */
static int build_map(struct pass *p)
{
	uint64_t records = 0;
	ks_batch_info_t bi;
	size_t i, pos, total;
	int rc;

	for (i = 0; i < p->nsegs; i++) {
		ks__segment_t *s = p->segs[i];
		size_t size = ks__seg_size(s);
		for (pos = 0; pos < size; pos += total) {
			if (load_batch(s, pos, size, &bi, &total))
				return damaged(p, s, pos);
			if (decodable(&bi))
				records += (uint64_t)bi.record_count;
		}
	}
	if ((rc = map_init(&p->map, records)) != 0)
		return rc;
	for (i = 0; i < p->nsegs; i++) {
		ks__segment_t *s = p->segs[i];
		size_t size = ks__seg_size(s);
		for (pos = 0; pos < size; pos += total) {
			const uint8_t *q, *end;
			struct crec r;
			int32_t k, prev = -1;

			if (load_batch(s, pos, size, &bi, &total))
				return damaged(p, s, pos);
			if (!decodable(&bi))
				continue;
			if ((rc = plain(p, s->map + pos, &bi, total, &q,
				&bi)) < 0)
				return rc;
			if (rc) {
				report(p, s, pos, "compressed batch does not "
				    "decode: kept as it is");
				continue;
			}
			end = q + KS_BATCH_LOG_OVERHEAD + bi.batch_length;
			q += KS_BATCH_HEADER_SIZE;
			for (k = 0; k < bi.record_count; k++) {
				if (rec_next(&q, end, &r) ||
				    r.off_delta <= prev ||
				    r.off_delta > bi.last_offset_delta)
					return damaged(p, s, pos);
				prev = r.off_delta;
				if (r.key)
					map_put(&p->map, r.key, r.key_len,
					    bi.base_offset + r.off_delta + 1);
			}
			if (q != end)
				return damaged(p, s, pos);
		}
	}
	return 0;
}

/*
 * Decides which records of the decodable batch b survive, into p->keep,
 * and counts them. A record goes when a later record has its key, or when
 * it is its key's latest, a tombstone, and older than delete.retention.ms;
 * records without a key and records younger than min.compaction.lag.ms
 * stay.
 */
static int decide(struct pass *p, const uint8_t *b, const ks_batch_info_t *bi,
    struct segcount *c, int32_t *nkeep)
{
	const uint8_t *q = b + KS_BATCH_HEADER_SIZE;
	const uint8_t *end = b + bi->batch_length + KS_BATCH_LOG_OVERHEAD;
	int log_append = bi->attributes & KS_BATCH_TIMESTAMP_LOG_APPEND;
	int32_t i, prev = -1;
	struct crec r;
	int rc;

	if ((rc = grow(&p->keep, &p->keep_cap, (size_t)bi->record_count)))
		return rc;
	*nkeep = 0;
	for (i = 0; i < bi->record_count; i++) {
		int64_t off1, ts;
		int drop = 0;

		if (rec_next(&q, end, &r) || r.off_delta <= prev ||
		    r.off_delta > bi->last_offset_delta)
			return KS_ECORRUPT;
		prev = r.off_delta;
		off1 = bi->base_offset + r.off_delta + 1;
		ts = log_append ? bi->max_timestamp :
		                  ts_add(bi->base_timestamp, r.ts_delta);
		if (r.key) {
			/* Only a later record removes one; a key missing from
			 * the map (the bytes changed under us) keeps it. */
			if (map_get(&p->map, r.key, r.key_len) > off1)
				drop = 1;
			else if (r.tombstone && ts < p->tomb_before)
				drop = 1;
		}
		if (drop && ts > p->young_after) {
			drop = 0;
			c->young++;
		}
		p->keep[i] = !drop;
		if (drop) {
			c->removed++;
			c->tombs += (uint64_t)r.tombstone;
		} else {
			c->kept++;
			(*nkeep)++;
		}
	}
	return q == end ? 0 : KS_ECORRUPT;
}

/*
 * Re-encodes the decodable batch b with the records p->keep marks (nkeep of
 * them, at least one) into p->scratch: same baseOffset, lastOffsetDelta,
 * epoch, attributes and producer fields; baseTimestamp is the first kept
 * record's timestamp, maxTimestamp their largest (a LogAppendTime batch
 * keeps its own), and the CRC is new. 0 with the size in *len, KS_ENOMEM,
 * or KS_ECORRUPT.
 */
static int rebuild(struct pass *p, const uint8_t *b, const ks_batch_info_t *bi,
    int32_t nkeep, size_t *len)
{
	size_t total = (size_t)bi->batch_length + KS_BATCH_LOG_OVERHEAD;
	const uint8_t *q, *end = b + total;
	int64_t base_ts = 0, max_ts = INT64_MIN;
	uint8_t *d, *w;
	struct crec r;
	int32_t i;
	int first = 1;

	/* A kept record grows by at most 9 bytes of timestamp delta and one
	 * of length. */
	if (grow(&p->scratch, &p->scratch_cap,
	        total + 10 * (size_t)bi->record_count))
		return KS_ENOMEM;
	for (q = b + KS_BATCH_HEADER_SIZE, i = 0; i < bi->record_count; i++) {
		int64_t ts;
		if (rec_next(&q, end, &r))
			return KS_ECORRUPT;
		if (!p->keep[i])
			continue;
		ts = ts_add(bi->base_timestamp, r.ts_delta);
		if (first)
			base_ts = ts;
		first = 0;
		if (ts > max_ts)
			max_ts = ts;
	}
	d = p->scratch;
	memcpy(d, b, KS_BATCH_HEADER_SIZE);
	w = d + KS_BATCH_HEADER_SIZE;
	for (q = b + KS_BATCH_HEADER_SIZE, i = 0; i < bi->record_count; i++) {
		int64_t td;
		size_t rlen;
		if (rec_next(&q, end, &r))
			return KS_ECORRUPT;
		if (!p->keep[i])
			continue;
		td = ts_add(ts_add(bi->base_timestamp, r.ts_delta), -base_ts);
		rlen = 1 + ks__varint_len(td) + ks__varint_len(r.off_delta) +
		    r.tail_len;
		w += ks__varint_put(w, (int64_t)rlen);
		*w++ = r.attr;
		w += ks__varint_put(w, td);
		w += ks__varint_put(w, r.off_delta);
		memcpy(w, r.tail, r.tail_len);
		w += r.tail_len;
	}
	total = (size_t)(w - d);
	if (bi->attributes & KS_BATCH_TIMESTAMP_LOG_APPEND)
		max_ts = bi->max_timestamp;
	ks__put_be32(d + OFF_LENGTH, (uint32_t)(total - KS_BATCH_LOG_OVERHEAD));
	ks__put_be64(d + OFF_BASE_TS, (uint64_t)base_ts);
	ks__put_be64(d + OFF_MAX_TS, (uint64_t)max_ts);
	ks__put_be32(d + OFF_COUNT, (uint32_t)nkeep);
	ks__put_be32(d + OFF_CRC, ks_crc32c(0, d + OFF_ATTR, total - OFF_ATTR));
	*len = total;
	/* What goes to disk must be what an append would have accepted. */
	return ks_batch_validate(d, total, NULL) == 0 ? 0 : KS_ECORRUPT;
}

/* ---- writing a cleaned segment ------------------------------------------ */

/* The three files of a cleaned segment being written. */
struct out {
	int fd[3];             /* .index, .timeindex, .log (as names[]) */
	uint8_t *buf;          /* unwritten .log bytes */
	size_t len;
	uint64_t pos;          /* bytes of batches so far */
	int64_t base;
	size_t interval, since;
	int64_t max_ts, max_off;
	uint8_t *ix[2];        /* offset and time index entries */
	size_t ixn[2], ixcap[2], ixmax[2];
};

static const char *const ext[3] = { ".index", ".timeindex", ".log" };
static const unsigned esz[2] = { KS__OFFIDX_ENTRY, KS__TIMEIDX_ENTRY };

static void name(char *buf, size_t len, const char *dir, int64_t base,
    int e, const char *stage)
{
	char x[32];
	snprintf(x, sizeof x, "%s%s", ext[e], stage);
	ks__segment_path(buf, len, dir, base, x);
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Removes whatever files of stage ("cleaned", "swap") the pass left. */
static void discard(const char *dir, int64_t base, const char *stage)
{
	char path[PATH_MAX];
	int e;
	for (e = 2; e >= 0; e--) {
		name(path, sizeof path, dir, base, e, stage);
		unlink(path);
	}
}

static int out_open(struct out *o, ks_log_t *log, int64_t base)
{
	char path[PATH_MAX];
	int e;

	memset(o, 0, sizeof *o);
	o->fd[0] = o->fd[1] = o->fd[2] = -1;
	o->base = base;
	o->interval = log->cfg.index_interval_bytes;
	o->max_ts = o->max_off = -1;
	o->ixmax[0] = log->cfg.segment_index_bytes / KS__OFFIDX_ENTRY;
	o->ixmax[1] = log->cfg.segment_index_bytes / KS__TIMEIDX_ENTRY;
	if (!(o->buf = malloc(OUT_BUF)))
		return KS_ENOMEM;
	for (e = 0; e < 3; e++) {
		name(path, sizeof path, log->dir, base, e, ".cleaned");
		o->fd[e] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644);
		if (o->fd[e] < 0)
			return -errno;
	}
	return 0;
}

static void out_close(struct out *o)
{
	int e;
	for (e = 0; e < 3; e++)
		if (o->fd[e] >= 0)
			close(o->fd[e]);
	free(o->buf);
	free(o->ix[0]);
	free(o->ix[1]);
}

static int ix_add(struct out *o, int k, int64_t a, int64_t b)
{
	uint8_t *e;
	if (o->ixn[k] == o->ixcap[k]) {
		size_t cap = o->ixcap[k] ? o->ixcap[k] * 2 : 256;
		uint8_t *n = realloc(o->ix[k], cap * esz[k]);
		if (!n)
			return KS_ENOMEM;
		o->ix[k] = n;
		o->ixcap[k] = cap;
	}
	e = o->ix[k] + o->ixn[k]++ * esz[k];
	if (k == 0) {
		ks__put_be32(e, (uint32_t)(a - o->base));
		ks__put_be32(e + 4, (uint32_t)b);
	} else {
		ks__put_be64(e, (uint64_t)a);
		ks__put_be32(e + 8, (uint32_t)(b - o->base));
	}
	return 0;
}

static int64_t ix_last_ts(const struct out *o)
{
	return (int64_t)ks__be64(o->ix[1] + (o->ixn[1] - 1) * KS__TIMEIDX_ENTRY);
}

/*
 * Appends one batch, indexing it by the rules an append follows
 * (docs/format.md, sections 5 and 6), so that the cleaned segment's
 * indexes look like those of a segment appended that way.
 */
static int out_batch(struct out *o, const uint8_t *b, size_t len)
{
	int64_t last = (int64_t)ks__be64(b) + (int32_t)ks__be32(b + OFF_LAST_DELTA);
	int64_t mts = (int64_t)ks__be64(b + OFF_MAX_TS);
	int rc;

	if (mts > o->max_ts) {
		o->max_ts = mts;
		o->max_off = last;
	}
	if (o->since >= o->interval && o->pos > 0 &&
	    o->ixn[0] < o->ixmax[0] && o->ixn[1] < o->ixmax[1]) {
		if ((rc = ix_add(o, 0, last, (int64_t)o->pos)) != 0)
			return rc;
		if ((!o->ixn[1] || o->max_ts > ix_last_ts(o)) &&
		    (rc = ix_add(o, 1, o->max_ts, o->max_off)) != 0)
			return rc;
		o->since = 0;
	}
	o->since += len;
	o->pos += len;
	if (o->len + len > OUT_BUF) {
		if ((rc = write_all(o->fd[2], o->buf, o->len)) != 0)
			return rc;
		o->len = 0;
	}
	if (len >= OUT_BUF)
		return write_all(o->fd[2], b, len);
	memcpy(o->buf + o->len, b, len);
	o->len += len;
	return 0;
}

/* Writes out the rest and the indexes (with the sealed segment's last time
 * index entry) and syncs the three files. */
static int out_finish(struct out *o)
{
	int rc, e;
	if ((rc = write_all(o->fd[2], o->buf, o->len)) != 0)
		return rc;
	o->len = 0;
	if (o->max_ts >= 0 && o->ixn[1] < o->ixmax[1] &&
	    (!o->ixn[1] || o->max_ts > ix_last_ts(o)) &&
	    (rc = ix_add(o, 1, o->max_ts, o->max_off)) != 0)
		return rc;
	for (e = 0; e < 2; e++)
		if (o->ixn[e] &&
		    (rc = write_all(o->fd[e], o->ix[e], o->ixn[e] * esz[e])))
			return rc;
	if (ks__segment_fdatasync(o->fd[2]) < 0 || fdatasync(o->fd[0]) < 0 ||
	    fdatasync(o->fd[1]) < 0)
		return -errno;
	return 0;
}

/* ---- the swap ----------------------------------------------------------- */

/*
 * After the commit point the names belong to the new files while the array
 * still holds the old segment: a truncation reactivating it would append
 * to an inode that is no longer the segment's. The handle takes no more
 * writes; the next open completes the swap.
 */
static int swap_failed(ks_log_t *log, const ks__segment_t *old, int rc)
{
	pthread_mutex_lock(&log->sync_mu);
	log->failed = 1;
	pthread_mutex_unlock(&log->sync_mu);
	pthread_mutex_unlock(&log->wlock);
	ks__logf(log->cfg.log_cb, log->cfg.log_opaque, KS_LOG_ERR,
	    "compaction: %s: swapping in the cleaned segment: %s; the log "
	    "must be reopened", old->path, ks_strerror(rc));
	return rc;
}

static ssize_t seg_index(ks_log_t *log, const ks__segment_t *s)
{
	size_t i;
	for (i = 0; i < log->nsegs; i++)
		if (log->segs[i] == s)
			return (ssize_t)i;
	return -1;
}

/*
 * Puts the cleaned files of old in its place, on disk and in the array.
 * 0, ABORTED (truncation or retention took the segment meanwhile; the
 * cleaned files are gone), or an error. The writer lock is held for the
 * renames and the opening of the new files only.
 */
static int swap_in(struct pass *p, ks__segment_t *old)
{
	ks_log_t *log = p->log;
	char from[PATH_MAX], to[PATH_MAX];
	ks__segment_t *ns;
	int rc, e;

	if ((rc = ks__log_lock_writer(log)) != 0) {
		discard(log->dir, old->base, ".cleaned");
		return rc;
	}
	if (__atomic_load_n(&log->gen, __ATOMIC_ACQUIRE) != p->gen ||
	    !__atomic_load_n(&old->sealed, __ATOMIC_ACQUIRE) ||
	    seg_index(log, old) < 0) {
		pthread_mutex_unlock(&log->wlock);
		discard(log->dir, old->base, ".cleaned");
		return ABORTED;
	}
	/* .cleaned -> .swap, the .log last: its rename commits the swap. */
	for (e = 0; e < 3; e++) {
		name(from, sizeof from, log->dir, old->base, e, ".cleaned");
		name(to, sizeof to, log->dir, old->base, e, ".swap");
		if (rename(from, to) < 0) {
			rc = -errno;
			pthread_mutex_unlock(&log->wlock);
			discard(log->dir, old->base, ".swap");
			discard(log->dir, old->base, ".cleaned");
			return rc;
		}
	}
	/* .swap -> final, the .log last. A failure from here on leaves the
	 * rest for the next open to complete; readers go on reading the old
	 * segment until then. */
	for (e = 0; e < 3; e++) {
		name(from, sizeof from, log->dir, old->base, e, ".swap");
		name(to, sizeof to, log->dir, old->base, e, "");
		if (rename(from, to) < 0)
			return swap_failed(log, old, -errno);
	}
	rc = ks__segment_open(log->dir, old->base, log->reserve, 0, 1, &ns);
	if (rc)
		return swap_failed(log, old, rc);
	ns->next_offset = ks__seg_next(old);
	ns->synced = ns->size;
	ns->sealed = 1;
	pthread_mutex_lock(&ns->grow_mu);
	ns->frozen = 1;
	pthread_mutex_unlock(&ns->grow_mu);
	ks__segment_check_indexes(ns);
	ks__log_seg_max_ts(ns);
	pthread_mutex_lock(&log->seglock);
	log->segs[seg_index(log, old)] = ns;
	pthread_mutex_unlock(&log->seglock);
	pthread_mutex_unlock(&log->wlock);
	/* The log's reference: readers still holding old keep its mapping,
	 * and its files, renamed over, are freed with their last reference.
	 * It is not unlinked: its names are the new segment's now. */
	ks__segment_unref(old);
	return 0;
}

/* Appends a rebuilt batch, compressed again with the codec it had. */
static int out_rebuilt(struct out *o, const uint8_t *b, size_t len,
    int codec)
{
	void *cb;
	size_t clen;
	int rc;

	if (codec == KS_COMPRESSION_NONE)
		return out_batch(o, b, len);
	if ((rc = ks__batch_compress(codec, b, len, &cb, &clen)) != 0)
		return rc;
	rc = out_batch(o, cb, clen);
	free(cb);
	return rc;
}

/* Step 4 for one segment. */
static int clean_segment(struct pass *p, ks__segment_t *s, int *swapped)
{
	ks_log_t *log = p->log;
	size_t size = ks__seg_size(s), pos, total;
	struct segcount c = { 0, 0, 0, 0 };
	ks_batch_info_t bi, pbi;
	const uint8_t *pb;
	struct out o;
	int32_t nkeep;
	int rc;

	*swapped = 0;
	/* A dry run first: most segments of a compacted log lose nothing. */
	for (pos = 0; pos < size; pos += total) {
		if (load_batch(s, pos, size, &bi, &total))
			return damaged(p, s, pos);
		if (!decodable(&bi)) {
			c.kept += (uint64_t)bi.record_count;
			continue;
		}
		if ((rc = plain(p, s->map + pos, &bi, total, &pb, &pbi)) < 0)
			return rc;
		if (rc) {
			c.kept += (uint64_t)bi.record_count;
			continue;
		}
		if ((rc = decide(p, pb, &pbi, &c, &nkeep)) != 0)
			return rc == KS_ECORRUPT ? damaged(p, s, pos) : rc;
	}
	if (c.young && p->dirty_from < 0)
		p->dirty_from = s->base;
	if (!c.removed) {
		p->st.records_kept += c.kept;
		p->st.bytes_before += size;
		p->st.bytes_after += size;
		return 0;
	}

	if ((rc = out_open(&o, log, s->base)) != 0)
		goto fail;
	for (pos = 0; pos < size; pos += total) {
		const uint8_t *b = s->map + pos;
		struct segcount dummy = { 0, 0, 0, 0 };
		size_t nlen;

		if (load_batch(s, pos, size, &bi, &total)) {
			rc = damaged(p, s, pos);
			goto fail;
		}
		if (!decodable(&bi)) {
			rc = out_batch(&o, b, total);
		} else if ((rc = plain(p, b, &bi, total, &pb, &pbi)) != 0) {
			if (rc == 1)
				rc = out_batch(&o, b, total);
		} else if ((rc = decide(p, pb, &pbi, &dummy, &nkeep)) != 0) {
			if (rc == KS_ECORRUPT)
				rc = damaged(p, s, pos);
		} else if (nkeep == bi.record_count) {
			rc = out_batch(&o, b, total);
		} else if (nkeep > 0) {
			rc = rebuild(p, pb, &pbi, nkeep, &nlen);
			if (rc == KS_ECORRUPT)
				rc = damaged(p, s, pos);
			else if (rc == 0)
				rc = out_rebuilt(&o, p->scratch, nlen,
				    bi.attributes & KS_BATCH_COMPRESSION_MASK);
		}
		if (rc)
			goto fail;
	}
	if (o.pos > INT32_MAX) {
		/* Cannot happen with batches that only lose records; the
		 * offset index could not address it. */
		report(p, s, 0, "cleaned segment too large; left as it is");
		out_close(&o);
		discard(log->dir, s->base, ".cleaned");
		p->st.records_kept += c.kept + c.removed;
		p->st.bytes_before += size;
		p->st.bytes_after += size;
		return 0;
	}
	if ((rc = out_finish(&o)) != 0)
		goto fail;
	out_close(&o);
	if ((rc = swap_in(p, s)) != 0)
		return rc;
	*swapped = 1;
	p->st.segments_cleaned++;
	p->st.records_kept += c.kept;
	p->st.records_removed += c.removed;
	p->st.tombstones_removed += c.tombs;
	p->st.bytes_before += size;
	p->st.bytes_after += o.pos;
	return 0;
fail:
	out_close(&o);
	discard(log->dir, s->base, ".cleaned");
	return rc;
}

/* ---- the public call ---------------------------------------------------- */

/*
 * Step 1: references the sealed segments and says whether the pass is worth
 * making: 1 yes, 0 skip, < 0 an error.
 */
static int snapshot(struct pass *p, const ks_compact_config_t *cfg)
{
	ks_log_t *log = p->log;
	uint64_t total = 0, dirty = 0;
	int64_t clean_to = -1, end;
	size_t i;

	pthread_mutex_lock(&log->seglock);
	p->gen = __atomic_load_n(&log->gen, __ATOMIC_ACQUIRE);
	p->segs = malloc((log->nsegs ? log->nsegs : 1) * sizeof *p->segs);
	if (!p->segs) {
		pthread_mutex_unlock(&log->seglock);
		return KS_ENOMEM;
	}
	/* Never the last segment: the active one, or the one a roll is
	 * making active while its predecessor is not sealed yet. */
	for (i = 0; i + 1 < log->nsegs; i++) {
		ks__segment_t *s = log->segs[i];
		if (!__atomic_load_n(&s->sealed, __ATOMIC_ACQUIRE))
			break;
		ks__segment_ref(s);
		p->segs[p->nsegs++] = s;
	}
	pthread_mutex_unlock(&log->seglock);
	if (!p->nsegs)
		return 0;
	end = ks__seg_next(p->segs[p->nsegs - 1]);
	/* Where the last pass got to. Past the cleanable end only after a
	 * truncation: everything is dirty then. */
	if (ks__meta_read(log->dir, KS__CLEANER_FILE, KS__META_CLEANER,
	        &clean_to, 1) != 0 || clean_to > end)
		clean_to = -1;
	for (i = 0; i < p->nsegs; i++) {
		size_t size = ks__seg_size(p->segs[i]);
		total += size;
		if (p->segs[i]->base >= clean_to)
			dirty += size;
	}
	if (!total || (double)dirty / (double)total < cfg->min_cleanable_dirty_ratio)
		return 0;
	return 1;
}

/* Drops the snapshot's segments from i on. */
static void release_from(struct pass *p, size_t i)
{
	while (p->nsegs > i)
		ks__segment_unref(p->segs[--p->nsegs]);
}

int ks_log_compact(ks_log_t *log, const ks_compact_config_t *cfg,
    int64_t now_ms, ks_compact_stat_t *st)
{
	struct cleaning me;
	struct pass p;
	int64_t durable, upto;
	size_t i, n;
	int rc, swapped = 0;

	if (st)
		memset(st, 0, sizeof *st);
	if (!log || !cfg)
		return KS_EINVAL;
	if (cfg->delete_retention_ms < 0 || cfg->min_compaction_lag_ms < 0 ||
	    !(cfg->min_cleanable_dirty_ratio >= 0.0 &&
	        cfg->min_cleanable_dirty_ratio <= 1.0))
		return KS_EINVAL;
	if ((rc = ks__log_writable(log)) != 0)
		return rc;
	if (now_ms < 0)
		now_ms = ks__wallclock_ms();
	me.log = log;
	if ((rc = cleaning_enter(&me)) != 0)
		return rc;
	/* Like an iterator, the pass keeps the handle alive through a close
	 * from another thread; it then stops with KS_ECLOSED. */
	__atomic_add_fetch(&log->refs, 1, __ATOMIC_RELAXED);

	memset(&p, 0, sizeof p);
	p.log = log;
	p.dirty_from = -1;
	p.tomb_before = now_ms - cfg->delete_retention_ms;
	p.young_after = cfg->min_compaction_lag_ms > 0 ?
	    now_ms - cfg->min_compaction_lag_ms : INT64_MAX;
	if ((rc = snapshot(&p, cfg)) <= 0)
		goto out;

	/* Step 2. */
	upto = ks__seg_next(p.segs[p.nsegs - 1]);
	if ((rc = ks_log_flush(log, upto)) != 0)
		goto out;
	durable = ks__load64(&log->durable);
	for (n = 0; n < p.nsegs && ks__seg_next(p.segs[n]) <= durable; n++)
		;
	release_from(&p, n);
	if (!p.nsegs)
		goto out;

	if ((rc = build_map(&p)) != 0)
		goto out;
	for (i = 0; i < p.nsegs; i++) {
		int one;
		if ((rc = clean_segment(&p, p.segs[i], &one)) != 0)
			break;
		swapped |= one;
	}
	if (swapped)
		(void)ks__fsync_dir(log->dir);
	if (rc == 0) {
		/* Not synced: a lost update only makes the next pass look at
		 * more than it must. */
		int64_t to = p.dirty_from >= 0 ? p.dirty_from :
		    ks__seg_next(p.segs[p.nsegs - 1]);
		(void)ks__meta_write(log->dir, KS__CLEANER_FILE,
		    KS__META_CLEANER, &to, 1, 0);
	}
out:
	if (rc == ABORTED)
		rc = 0;
	if (st && rc == 0)
		*st = p.st;
	release_from(&p, 0);
	free(p.segs);
	free(p.map.slot);
	free(p.keep);
	free(p.scratch);
	ks__zbuf_free(&p.z);
	ks__log_unref(log);
	cleaning_leave(&me);
	return rc;
}

/* ---- settling what a crash left (the open path) ------------------------ */

/* Whether name is <20 digits><suffix>; its base in *base. */
static int seg_file(const char *fname, const char *suffix, int64_t *base)
{
	size_t sl = strlen(suffix);
	int64_t b = 0;
	int i;

	if (strlen(fname) != 20 + sl || strcmp(fname + 20, suffix) != 0)
		return 0;
	for (i = 0; i < 20; i++) {
		if (fname[i] < '0' || fname[i] > '9')
			return 0;
		b = b * 10 + (fname[i] - '0');
	}
	*base = b;
	return b >= 0;
}

struct leftover {
	int64_t base;
	int e;       /* ext[] index */
	int swap;    /* 1: .swap, 0: .cleaned */
};

/* Whether fname is a file a compaction leaves behind; which, in *l. */
static int leftover_name(const char *fname, struct leftover *l)
{
	char sfx[32];
	for (l->e = 0; l->e < 3; l->e++)
		for (l->swap = 0; l->swap < 2; l->swap++) {
			snprintf(sfx, sizeof sfx, "%s%s", ext[l->e],
			    l->swap ? ".swap" : ".cleaned");
			if (seg_file(fname, sfx, &l->base))
				return 1;
		}
	return 0;
}

static int cmp_leftover(const void *a, const void *b)
{
	const struct leftover *x = a, *y = b;
	if (x->base != y->base)
		return x->base < y->base ? -1 : 1;
	return x->e - y->e;
}

int ks__compact_finish(const char *dir, ks_log_cb *cb, void *opaque)
{
	struct leftover *v = NULL;
	size_t n = 0, cap = 0, i, j;
	char from[PATH_MAX], to[PATH_MAX];
	struct dirent *de;
	int rc = 0, changed = 0;
	DIR *d;

	if (!(d = opendir(dir)))
		return -errno;
	/* Collected first: the directory changes as they are settled. */
	while ((de = readdir(d)) != NULL) {
		struct leftover l;
		if (!leftover_name(de->d_name, &l))
			continue;
		if (n == cap) {
			struct leftover *nv;
			cap = cap ? cap * 2 : 8;
			if (!(nv = realloc(v, cap * sizeof *v))) {
				closedir(d);
				free(v);
				return KS_ENOMEM;
			}
			v = nv;
		}
		v[n++] = l;
	}
	closedir(d);
	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmp_leftover);

	for (i = 0; i < n; i = j) {
		int64_t base = v[i].base;
		int commit = 0;
		struct stat st;

		for (j = i; j < n && v[j].base == base; j++)
			if (v[j].swap && v[j].e == 2)
				commit = 1;
		/* A swap whose segment is gone (retention, truncation) is
		 * no longer wanted. */
		ks__segment_path(to, sizeof to, dir, base, ".log");
		if (commit && stat(to, &st) < 0)
			commit = 0;
		for (j = i; j < n && v[j].base == base; j++) {
			/* In ext[] order: the indexes, then the .log. */
			name(from, sizeof from, dir, base, v[j].e,
			    v[j].swap ? ".swap" : ".cleaned");
			name(to, sizeof to, dir, base, v[j].e, "");
			changed = 1;
			if (v[j].swap && commit) {
				if (rename(from, to) < 0 && !rc) {
					rc = -errno;
					ks__logf(cb, opaque, KS_LOG_ERR,
					    "%s: cannot complete compaction: "
					    "%s", from, strerror(errno));
				}
			} else {
				unlink(from);
			}
		}
		ks__logf(cb, opaque, commit ? KS_LOG_NOTICE : KS_LOG_INFO,
		    "%s/%020" PRId64 ".log: %s an interrupted compaction",
		    dir, base, commit ? "completed" : "discarded");
	}
	free(v);
	if (changed && !rc)
		rc = ks__fsync_dir(dir);
	return rc;
}
