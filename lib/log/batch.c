/*
 * batch.c: Kafka RecordBatch v2: encoding, checking and walking batches.
 *
 * Every reader here treats its input as hostile: batches come back from disk
 * after a crash and in from the network. Each length is checked against the
 * end of its enclosing frame (record, batch, buffer) before a byte is read,
 * and lengths are compared as sizes so that no sum can wrap.
 *
 * ks_batch_encode() is on the append path, writing straight into a mapped
 * segment: it makes a single pass over the records, sizing each one just
 * before writing it, and computes the CRC once over the finished batch.
 */
#include "core/internal.h"
#include "core/varint.h"
#include "log/compress.h"

#include <errno.h>
#include <kstream/record.h>
#include <limits.h>

/* Byte offsets of the batch header's fields (docs/format.md). */
#define OFF_BASE_OFFSET 0
#define OFF_LENGTH 8
#define OFF_EPOCH 12
#define OFF_MAGIC 16
#define OFF_CRC 17
#define OFF_ATTR 21
#define OFF_LAST_DELTA 23
#define OFF_BASE_TS 27
#define OFF_MAX_TS 35
#define OFF_PRODUCER_ID 43
#define OFF_PRODUCER_EPOCH 51
#define OFF_BASE_SEQ 53
#define OFF_COUNT 57

/* batchLength of a batch without records. */
#define MIN_BATCH_LENGTH (KS_BATCH_HEADER_SIZE - KS_BATCH_LOG_OVERHEAD)
/* Highest codec id Kafka defines (zstd); higher ids are malformed. */
#define MAX_CODEC 4

/* A decoded record; pointers into the batch. Lengths -1 mean null. */
struct rec_view {
	int64_t ts_delta;
	int32_t off_delta;
	int32_t key_len, value_len;
	int32_t hdr_count;
	const uint8_t *key, *value, *hdr;
	size_t hdr_len;
};

/*
 * Kafka's varint (as opposed to varlong): at most 5 bytes and a value that
 * fits an int32. Returns bytes consumed, 0 if malformed or truncated.
 */
static inline size_t get_varint32(const uint8_t *p, const uint8_t *end,
    int32_t *v)
{
	uint64_t u;
	size_t n = ks__uvarint_get(p, end, &u);
	if (KS__UNLIKELY(n == 0 || n > 5 || u > UINT32_MAX))
		return 0;
	*v = (int32_t)ks__unzigzag64(u);
	return n;
}

/*
 * Reads a length-prefixed field (length -1 for null when nullable) from
 * [*pp, end) into *ptr / *len, advancing *pp. 0 or KS_ERECORD.
 */
static inline int get_bytes(const uint8_t **pp, const uint8_t *end,
    int nullable, const uint8_t **ptr, int32_t *len)
{
	const uint8_t *p = *pp;
	size_t n = get_varint32(p, end, len);
	if (KS__UNLIKELY(!n || *len < -nullable))
		return KS_ERECORD;
	p += n;
	if (*len < 0) {
		*ptr = NULL;
	} else {
		if (KS__UNLIKELY((size_t)(end - p) < (size_t)*len))
			return KS_ERECORD;
		*ptr = p;
		p += *len;
	}
	*pp = p;
	return 0;
}

/* One encoded header at *pp, which must end by end. 0 or KS_ERECORD. */
static int parse_header(const uint8_t **pp, const uint8_t *end,
    ks_header_t *h)
{
	const uint8_t *k, *v;
	int32_t kl, vl;

	/* Kafka rejects a negative header key length: keys are never null. */
	if (get_bytes(pp, end, 0, &k, &kl) || get_bytes(pp, end, 1, &v, &vl))
		return KS_ERECORD;
	h->key = k;
	h->key_len = (size_t)kl;
	h->value = v;
	h->value_len = vl < 0 ? 0 : (size_t)vl;
	return 0;
}

/*
 * Decodes the record at *pp, which must lie within end, and advances *pp
 * past it. The record's length varint must frame its fields exactly.
 * 0 or KS_ERECORD; *pp is unchanged on error.
 */
static int parse_record(const uint8_t **pp, const uint8_t *end,
    struct rec_view *v)
{
	const uint8_t *p = *pp, *rend;
	ks_header_t h;
	int32_t len, i;
	size_t n;

	n = get_varint32(p, end, &len);
	if (KS__UNLIKELY(!n || len < 1))
		return KS_ERECORD;
	p += n;
	if (KS__UNLIKELY((size_t)(end - p) < (size_t)len))
		return KS_ERECORD;
	rend = p + len;
	p++; /* record attributes: unused in v2 */

	n = ks__varint_get(p, rend, &v->ts_delta);
	if (KS__UNLIKELY(!n))
		return KS_ERECORD;
	p += n;
	n = get_varint32(p, rend, &v->off_delta);
	if (KS__UNLIKELY(!n || v->off_delta < 0))
		return KS_ERECORD;
	p += n;
	if (KS__UNLIKELY(get_bytes(&p, rend, 1, &v->key, &v->key_len) ||
		get_bytes(&p, rend, 1, &v->value, &v->value_len)))
		return KS_ERECORD;
	n = get_varint32(p, rend, &v->hdr_count);
	if (KS__UNLIKELY(!n || v->hdr_count < 0))
		return KS_ERECORD;
	p += n;
	v->hdr = p;
	/* Each header takes at least two bytes, so a huge count fails fast. */
	for (i = 0; i < v->hdr_count; i++)
		if (KS__UNLIKELY(parse_header(&p, rend, &h)))
			return KS_ERECORD;
	if (KS__UNLIKELY(p != rend))
		return KS_ERECORD;
	v->hdr_len = (size_t)(rend - v->hdr);
	*pp = rend;
	return 0;
}

int ks_record_header_next(const ks_record_t *rec, size_t *pos,
    ks_header_t *h)
{
	const uint8_t *p;

	if (!rec || !pos || !h)
		return KS_EINVAL;
	if (rec->headers) {
		/* An input record: *pos indexes the array. */
		if (*pos >= rec->header_count)
			return 0;
		*h = rec->headers[(*pos)++];
		return 1;
	}
	/* An output record: *pos is a byte position in the encoded headers. */
	if (!rec->_hdr_raw || *pos >= rec->_hdr_raw_len)
		return 0;
	p = rec->_hdr_raw + *pos;
	if (parse_header(&p, rec->_hdr_raw + rec->_hdr_raw_len, h))
		return KS_ERECORD;
	*pos = (size_t)(p - rec->_hdr_raw);
	return 1;
}

/* ---- encoding ---------------------------------------------------------- */

/* Wrapping difference: timestamps are caller data and may be extreme. */
static inline int64_t ts_sub(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a - (uint64_t)b);
}

static inline size_t field_size(const void *ptr, size_t len)
{
	return ptr ? ks__varint_len((int64_t)len) + len : 1;
}

/* Sizes are summed in 64 bits and capped at INT32_MAX as they grow. */
static int headers_size(const ks_record_t *r, uint64_t *size)
{
	uint64_t s = 0;
	size_t i;

	if (r->header_count > INT32_MAX)
		return KS_EMSGSIZE;
	if (!r->headers) {
		/*
		 * An output record handed back for appending (a copy, a
		 * compaction): its headers travel as they were encoded.
		 */
		if (!r->_hdr_raw)
			return KS_EINVAL;
		s = r->_hdr_raw_len;
	}
	for (i = 0; r->headers && i < r->header_count; i++) {
		const ks_header_t *h = &r->headers[i];
		if (h->key_len > INT32_MAX || h->value_len > INT32_MAX)
			return KS_EMSGSIZE;
		if ((!h->key && h->key_len) || (!h->value && h->value_len))
			return KS_EINVAL;
		s += ks__varint_len((int64_t)h->key_len) + h->key_len +
		    field_size(h->value, h->value_len);
		if (s > INT32_MAX)
			return KS_EMSGSIZE;
	}
	if (s > INT32_MAX)
		return KS_EMSGSIZE;
	*size = s;
	return 0;
}

/*
 * Size of record r's body (what its length varint counts) at timestamp
 * delta td and offset delta od; *hdr receives its headers' share.
 */
static inline int record_size(const ks_record_t *r, int64_t td, int32_t od,
    uint64_t *body, uint64_t *hdr)
{
	uint64_t s, h = 0;
	int rc;

	if (KS__UNLIKELY(r->key_len > INT32_MAX || r->value_len > INT32_MAX))
		return KS_EMSGSIZE;
	if (KS__UNLIKELY((!r->key && r->key_len) ||
		(!r->value && r->value_len)))
		return KS_EINVAL;
	if (r->header_count && (rc = headers_size(r, &h)) != 0)
		return rc;
	s = 1 + ks__varint_len(td) + ks__varint_len(od) +
	    field_size(r->key, r->key_len) + field_size(r->value, r->value_len) +
	    ks__varint_len((int64_t)r->header_count) + h;
	if (KS__UNLIKELY(s > INT32_MAX))
		return KS_EMSGSIZE;
	*body = s;
	*hdr = h;
	return 0;
}

static inline uint8_t *put_field(uint8_t *p, const void *ptr, size_t len)
{
	if (!ptr) {
		*p++ = 1; /* zigzag(-1): null */
		return p;
	}
	p += ks__varint_put(p, (int64_t)len);
	memcpy(p, ptr, len);
	return p + len;
}

static uint8_t *put_headers(uint8_t *p, const ks_record_t *r)
{
	size_t i;

	if (!r->headers) {
		memcpy(p, r->_hdr_raw, r->_hdr_raw_len);
		return p + r->_hdr_raw_len;
	}
	for (i = 0; i < r->header_count; i++) {
		const ks_header_t *h = &r->headers[i];
		/* A header key is never null: NULL with length 0 is "". */
		p += ks__varint_put(p, (int64_t)h->key_len);
		if (h->key_len)
			memcpy(p, h->key, h->key_len);
		p += h->key_len;
		p = put_field(p, h->value, h->value_len);
	}
	return p;
}

/* Batch bytes after the batchLength field may not exceed INT32_MAX. */
#define MAX_BATCH_SIZE ((uint64_t)INT32_MAX + KS_BATCH_LOG_OVERHEAD)

int ks_batch_size(const ks_record_t *recs, size_t n, size_t *size)
{
	uint64_t total = KS_BATCH_HEADER_SIZE, body, hdr;
	int first_now, rc;
	size_t i;

	if (!recs || !size || n == 0)
		return KS_EINVAL;
	if (n > INT32_MAX)
		return KS_EMSGSIZE;
	/*
	 * A timestamp delta is exact unless it mixes "now" (unknown here)
	 * with an explicit time; then it is counted at its longest, so the
	 * result is an upper bound that ks_batch_encode() never exceeds.
	 */
	first_now = recs[0].timestamp < 0;
	for (i = 0; i < n; i++) {
		const ks_record_t *r = &recs[i];
		int64_t td;
		if ((r->timestamp < 0) != first_now)
			td = INT64_MIN;
		else
			td = first_now ? 0 : ts_sub(r->timestamp, recs[0].timestamp);
		if ((rc = record_size(r, td, (int32_t)i, &body, &hdr)) != 0)
			return rc;
		total += ks__varint_len((int64_t)body) + body;
		if (total > MAX_BATCH_SIZE)
			return KS_EMSGSIZE;
	}
	*size = (size_t)total;
	return 0;
}

int ks_batch_encode(void *buf, size_t cap, const ks_record_t *recs,
    size_t n, int64_t base_offset, int64_t now_ms, size_t *len)
{
	uint8_t *const b = buf, *p, *end;
	int64_t base_ts, max_ts;
	uint64_t body, hdr, size;
	size_t i, total;
	int rc;

	if (!buf || !recs || !len || n == 0)
		return KS_EINVAL;
	if (n > INT32_MAX)
		return KS_EMSGSIZE;
	if (cap < KS_BATCH_HEADER_SIZE)
		return -ENOBUFS;
	p = b + KS_BATCH_HEADER_SIZE;
	end = b + cap;
	base_ts = recs[0].timestamp < 0 ? now_ms : recs[0].timestamp;
	max_ts = base_ts;

	for (i = 0; i < n; i++) {
		const ks_record_t *r = &recs[i];
		int64_t ts = r->timestamp < 0 ? now_ms : r->timestamp;
		int64_t td = ts_sub(ts, base_ts);

		if (ts > max_ts)
			max_ts = ts;
		rc = record_size(r, td, (int32_t)i, &body, &hdr);
		if (KS__UNLIKELY(rc))
			return rc;
		size = ks__varint_len((int64_t)body) + body;
		if (KS__UNLIKELY(size > (uint64_t)(end - p))) {
			if ((uint64_t)(p - b) + size > MAX_BATCH_SIZE)
				return KS_EMSGSIZE;
			return -ENOBUFS;
		}
		if (KS__UNLIKELY((uint64_t)(p - b) + size > MAX_BATCH_SIZE))
			return KS_EMSGSIZE;

		p += ks__varint_put(p, (int64_t)body);
		*p++ = 0; /* record attributes */
		p += ks__varint_put(p, td);
		p += ks__varint_put(p, (int64_t)i);
		p = put_field(p, r->key, r->key_len);
		p = put_field(p, r->value, r->value_len);
		p += ks__varint_put(p, (int64_t)r->header_count);
		if (r->header_count)
			p = put_headers(p, r);
	}

	total = (size_t)(p - b);
	ks__put_be64(b + OFF_BASE_OFFSET, (uint64_t)base_offset);
	ks__put_be32(b + OFF_LENGTH,
	    (uint32_t)(total - KS_BATCH_LOG_OVERHEAD));
	ks__put_be32(b + OFF_EPOCH, UINT32_MAX);
	b[OFF_MAGIC] = KS_BATCH_MAGIC;
	ks__put_be16(b + OFF_ATTR, 0);
	ks__put_be32(b + OFF_LAST_DELTA, (uint32_t)(n - 1));
	ks__put_be64(b + OFF_BASE_TS, (uint64_t)base_ts);
	ks__put_be64(b + OFF_MAX_TS, (uint64_t)max_ts);
	ks__put_be64(b + OFF_PRODUCER_ID, UINT64_MAX);
	ks__put_be16(b + OFF_PRODUCER_EPOCH, UINT16_MAX);
	ks__put_be32(b + OFF_BASE_SEQ, UINT32_MAX);
	ks__put_be32(b + OFF_COUNT, (uint32_t)n);
	ks__put_be32(b + OFF_CRC,
	    ks_crc32c(0, b + OFF_ATTR, total - OFF_ATTR));
	*len = total;
	return 0;
}

/* ---- checking ---------------------------------------------------------- */

int ks_batch_parse(const void *buf, size_t len, ks_batch_info_t *info)
{
	const uint8_t *b = buf;
	ks_batch_info_t bi;

	if (!buf)
		return KS_EINVAL;
	/* The magic comes first: an old-format message is not "truncated". */
	if (len <= OFF_MAGIC)
		return KS_EBATCH;
	if ((int8_t)b[OFF_MAGIC] != KS_BATCH_MAGIC)
		return KS_EMAGIC;
	if (len < KS_BATCH_HEADER_SIZE)
		return KS_EBATCH;

	bi.base_offset = (int64_t)ks__be64(b + OFF_BASE_OFFSET);
	bi.batch_length = (int32_t)ks__be32(b + OFF_LENGTH);
	bi.leader_epoch = (int32_t)ks__be32(b + OFF_EPOCH);
	bi.magic = (int8_t)b[OFF_MAGIC];
	bi.crc = ks__be32(b + OFF_CRC);
	bi.attributes = (int16_t)ks__be16(b + OFF_ATTR);
	bi.last_offset_delta = (int32_t)ks__be32(b + OFF_LAST_DELTA);
	bi.base_timestamp = (int64_t)ks__be64(b + OFF_BASE_TS);
	bi.max_timestamp = (int64_t)ks__be64(b + OFF_MAX_TS);
	bi.producer_id = (int64_t)ks__be64(b + OFF_PRODUCER_ID);
	bi.producer_epoch = (int16_t)ks__be16(b + OFF_PRODUCER_EPOCH);
	bi.base_sequence = (int32_t)ks__be32(b + OFF_BASE_SEQ);
	bi.record_count = (int32_t)ks__be32(b + OFF_COUNT);

	if (bi.batch_length < MIN_BATCH_LENGTH ||
	    (size_t)bi.batch_length > len - KS_BATCH_LOG_OVERHEAD)
		return KS_EBATCH;
	/*
	 * Compaction may drop a batch's last records (even all of them) but
	 * keeps lastOffsetDelta, so only "no more records than offsets" holds.
	 */
	if (bi.record_count < 0 || bi.last_offset_delta < 0 ||
	    bi.record_count - 1 > bi.last_offset_delta)
		return KS_EBATCH;
	if ((bi.attributes & KS_BATCH_COMPRESSION_MASK) > MAX_CODEC)
		return KS_EBATCH;
	if (info)
		*info = bi;
	return 0;
}

int ks_batch_validate(const void *buf, size_t len, ks_batch_info_t *info)
{
	const uint8_t *b = buf, *p, *end;
	ks_batch_info_t bi;
	struct rec_view v;
	int32_t i, prev = -1;
	int rc;

	if ((rc = ks_batch_parse(buf, len, &bi)) != 0)
		return rc;
	end = b + KS_BATCH_LOG_OVERHEAD + bi.batch_length;
	if (ks_crc32c(0, b + OFF_ATTR, (size_t)(end - b) - OFF_ATTR) != bi.crc)
		return KS_ECRC;
	if ((bi.attributes & KS_BATCH_COMPRESSION_MASK) == 0) {
		p = b + KS_BATCH_HEADER_SIZE;
		for (i = 0; i < bi.record_count; i++) {
			if (parse_record(&p, end, &v))
				return KS_ERECORD;
			if (v.off_delta <= prev ||
			    v.off_delta > bi.last_offset_delta)
				return KS_ERECORD;
			prev = v.off_delta;
		}
		if (p != end)
			return KS_ERECORD;
	}
	if (info)
		*info = bi;
	return 0;
}

/* ---- iteration --------------------------------------------------------- */

/*
 * Errors are sticky: the iterator keeps returning the first one (held in
 * _left), so a caller that retries cannot skip data unknowingly.
 */
static int iter_fail(ks_batch_iter_t *it, int err)
{
	it->_left = err;
	it->_buf = it->_end;
	it->_rec = it->_rend = NULL;
	return err;
}

/*
 * Moves to the next batch that may hold records at or past _min_offset.
 * 1 when one is loaded, 0 at the end of the buffer, or an error. A
 * compressed batch is decompressed into z (KS_ECOMPRESSION without one)
 * and its records are then walked there.
 */
static int iter_load_batch(ks_batch_iter_t *it, ks__zbuf_t *z)
{
	ks_batch_info_t bi;
	int64_t last;
	int32_t blen;
	size_t left, zlen;
	int rc;

	for (;;) {
		const uint8_t *b = it->_buf;

		left = (size_t)(it->_end - b);
		if (left < KS_BATCH_LOG_OVERHEAD)
			goto end;
		blen = (int32_t)ks__be32(b + OFF_LENGTH);
		if (blen < MIN_BATCH_LENGTH)
			return iter_fail(it, KS_EBATCH);
		/* A batch cut short ends the buffer, as for Kafka consumers. */
		if ((size_t)blen > left - KS_BATCH_LOG_OVERHEAD)
			goto end;
		rc = ks_batch_parse(b, KS_BATCH_LOG_OVERHEAD + (size_t)blen, &bi);
		if (rc)
			return iter_fail(it, rc);
		it->_buf = b + KS_BATCH_LOG_OVERHEAD + blen;

		if (bi.attributes & KS_BATCH_CONTROL)
			continue;
		/* Wholly before the wanted offset: skipped, whatever its codec. */
		if (!__builtin_add_overflow(bi.base_offset,
			(int64_t)bi.last_offset_delta, &last) &&
		    last < it->_min_offset)
			continue;
		if (bi.attributes & KS_BATCH_COMPRESSION_MASK) {
			if (!z)
				return iter_fail(it, KS_ECOMPRESSION);
			rc = ks__batch_inflate(b, KS_BATCH_LOG_OVERHEAD +
			    (size_t)blen, 0, z, &zlen);
			if (rc)
				return iter_fail(it, rc);
			it->_rec = z->p + KS_BATCH_HEADER_SIZE;
			it->_rend = z->p + zlen;
		} else {
			it->_rec = b + KS_BATCH_HEADER_SIZE;
			it->_rend = it->_buf;
		}
		it->_left = bi.record_count;
		it->_base_offset = bi.base_offset;
		it->_base_ts = bi.base_timestamp;
		it->_max_ts = bi.max_timestamp;
		it->_attr = bi.attributes;
		return 1;
	}
end:
	/* _buf stays at the partial batch: a caller that knows its buffer
	 * holds whole batches only (the log) can tell damage from an end. */
	return 0;
}

void ks_batch_iter_init(ks_batch_iter_t *it, const void *buf, size_t len,
    int64_t min_offset)
{
	if (!it)
		return;
	memset(it, 0, sizeof *it);
	it->_buf = buf;
	it->_end = buf ? it->_buf + len : NULL;
	it->_min_offset = min_offset;
}

static int iter_next(ks_batch_iter_t *it, ks_record_t *rec, ks__zbuf_t *z);

int ks_batch_iter_next(ks_batch_iter_t *it, ks_record_t *rec)
{
	return iter_next(it, rec, NULL);
}

int ks__batch_iter_next_z(ks_batch_iter_t *it, ks_record_t *rec,
    ks__zbuf_t *z)
{
	return iter_next(it, rec, z);
}

static int iter_next(ks_batch_iter_t *it, ks_record_t *rec, ks__zbuf_t *z)
{
	struct rec_view v;
	int64_t off;
	int rc;

	if (!it || !rec)
		return KS_EINVAL;
	for (;;) {
		if (it->_left < 0)
			return it->_left;
		if (it->_left > 0) {
			rc = parse_record(&it->_rec, it->_rend, &v);
			if (rc)
				return iter_fail(it, rc);
			it->_left--;
			off = (int64_t)((uint64_t)it->_base_offset +
			    (uint64_t)v.off_delta);
			if (off < it->_min_offset)
				continue;
			rec->offset = off;
			rec->timestamp =
			    (it->_attr & KS_BATCH_TIMESTAMP_LOG_APPEND) ?
			    it->_max_ts :
			    (int64_t)((uint64_t)it->_base_ts +
				(uint64_t)v.ts_delta);
			rec->key = v.key;
			rec->key_len = v.key_len < 0 ? 0 : (size_t)v.key_len;
			rec->value = v.value;
			rec->value_len =
			    v.value_len < 0 ? 0 : (size_t)v.value_len;
			rec->headers = NULL;
			rec->header_count = (size_t)v.hdr_count;
			rec->_hdr_raw = v.hdr;
			rec->_hdr_raw_len = v.hdr_len;
			return 1;
		}
		if (it->_rec) {
			/* Bytes left after recordCount records: misframed. */
			if (it->_rec != it->_rend)
				return iter_fail(it, KS_ERECORD);
			it->_rec = it->_rend = NULL;
		}
		if ((rc = iter_load_batch(it, z)) <= 0)
			return rc;
	}
}
