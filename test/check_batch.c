/*
 * check_batch.c: RecordBatch v2 encoding, validation and iteration, from
 * the format's own byte layout up to a mutation loop that feeds damaged
 * batches to the validator and the iterator.
 */
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)(v >> 32));
	wr32(p + 4, (uint32_t)v);
}

/* CRC-32C by its definition, independent of the library's. */
static uint32_t ref_crc32c(const uint8_t *p, size_t len)
{
	uint32_t crc = ~0u;
	while (len--) {
		int k;
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & -(crc & 1));
	}
	return ~crc;
}

/* Recomputes the CRC of the batch at b (its batchLength must fit len). */
static void fix_crc(uint8_t *b, size_t len)
{
	uint32_t blen;
	if (len < KS_BATCH_HEADER_SIZE)
		return;
	blen = rd32(b + 8);
	if (blen < 49 || blen > len - 12)
		return;
	wr32(b + 17, ks_crc32c(0, b + 21, 12 + blen - 21));
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static size_t encode(uint8_t *buf, size_t cap, const ks_record_t *recs,
    size_t n, int64_t base)
{
	size_t len = 0;
	KT_OK(ks_batch_encode(buf, cap, recs, n, base, 777, &len));
	return len;
}

/* A batch of n records with offsets base.., timestamps ts0 + 10 i. */
static size_t simple_batch(uint8_t *buf, size_t cap, int64_t base, size_t n,
    int64_t ts0)
{
	static char vals[64][8];
	ks_record_t recs[64];
	size_t i;

	ck_assert_uint_le(n, 64);
	memset(recs, 0, sizeof recs);
	for (i = 0; i < n; i++) {
		snprintf(vals[i], sizeof vals[i], "v%zu", i);
		recs[i].timestamp = ts0 + 10 * (int64_t)i;
		recs[i].value = vals[i];
		recs[i].value_len = strlen(vals[i]);
	}
	return encode(buf, cap, recs, n, base);
}

static void assert_bytes(const void *p, size_t len, const void *want,
    size_t want_len)
{
	ck_assert_uint_eq(len, want_len);
	if (len)
		ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(memcmp(p, want, len), 0);
}

/* ---- round trip -------------------------------------------------------- */

static const ks_header_t hdrs_a[] = {
	{ "h1", 2, "v1", 2 },
	{ "nullv", 5, NULL, 0 },
	{ "", 0, "", 0 },
};
static const ks_header_t hdrs_b[] = {
	{ "only", 4, NULL, 0 },
};

static char big_key[300], big_val[1000];

static void make_round_trip_records(ks_record_t *r)
{
	memset(big_key, 'K', sizeof big_key);
	memset(big_val, 'V', sizeof big_val);
	memset(r, 0, 6 * sizeof *r);
	r[0] = (ks_record_t){ .timestamp = 1000, .value = "v0", .value_len = 2 };
	r[1] = (ks_record_t){ .timestamp = 500, .key = "k1", .key_len = 2 };
	r[2] = (ks_record_t){ .timestamp = 2000, .key = "", .value = "",
		.headers = hdrs_a, .header_count = 3 };
	r[3] = (ks_record_t){ .timestamp = 1999, .key = big_key,
		.key_len = sizeof big_key, .value = big_val,
		.value_len = sizeof big_val };
	r[4] = (ks_record_t){ .timestamp = 0, .key = "k4", .key_len = 2,
		.value = "v4", .value_len = 2, .headers = hdrs_b,
		.header_count = 1 };
	r[5] = (ks_record_t){ .timestamp = 1000 + 100000000000ll };
}

static void check_record(const ks_record_t *got, const ks_record_t *want,
    int64_t offset)
{
	ks_header_t h;
	size_t pos = 0, i;

	ck_assert_int_eq(got->offset, offset);
	ck_assert_int_eq(got->timestamp, want->timestamp);
	if (want->key)
		assert_bytes(got->key, got->key_len, want->key, want->key_len);
	else
		ck_assert(got->key == NULL && got->key_len == 0);
	if (want->value)
		assert_bytes(got->value, got->value_len, want->value,
		    want->value_len);
	else
		ck_assert(got->value == NULL && got->value_len == 0);
	ck_assert_ptr_null(got->headers);
	ck_assert_uint_eq(got->header_count, want->header_count);
	for (i = 0; i < want->header_count; i++) {
		const ks_header_t *w = &want->headers[i];
		ck_assert_int_eq(ks_record_header_next(got, &pos, &h), 1);
		ck_assert_ptr_nonnull(h.key);
		assert_bytes(h.key, h.key_len, w->key, w->key_len);
		if (w->value)
			assert_bytes(h.value, h.value_len, w->value,
			    w->value_len);
		else
			ck_assert(h.value == NULL && h.value_len == 0);
	}
	ck_assert_int_eq(ks_record_header_next(got, &pos, &h), 0);
	ck_assert_int_eq(ks_record_header_next(got, &pos, &h), 0);
}

START_TEST(test_round_trip)
{
	static uint8_t buf[4096];
	ks_record_t recs[6], got;
	ks_batch_info_t bi;
	ks_batch_iter_t it;
	size_t len, size, i;

	make_round_trip_records(recs);
	KT_OK(ks_batch_size(recs, 6, &size));
	len = encode(buf, sizeof buf, recs, 6, 4242);
	ck_assert_uint_eq(len, size);

	KT_OK(ks_batch_validate(buf, len, &bi));
	ck_assert_int_eq(bi.base_offset, 4242);
	ck_assert_int_eq(bi.batch_length, (int32_t)len - 12);
	ck_assert_int_eq(bi.leader_epoch, -1);
	ck_assert_int_eq(bi.magic, 2);
	ck_assert_int_eq(bi.attributes, 0);
	ck_assert_int_eq(bi.last_offset_delta, 5);
	ck_assert_int_eq(bi.base_timestamp, 1000);
	ck_assert_int_eq(bi.max_timestamp, 1000 + 100000000000ll);
	ck_assert_int_eq(bi.producer_id, -1);
	ck_assert_int_eq(bi.producer_epoch, -1);
	ck_assert_int_eq(bi.base_sequence, -1);
	ck_assert_int_eq(bi.record_count, 6);

	ks_batch_iter_init(&it, buf, len, 0);
	for (i = 0; i < 6; i++) {
		ck_assert_int_eq(ks_batch_iter_next(&it, &got), 1);
		check_record(&got, &recs[i], 4242 + (int64_t)i);
		/* Empty but not null: a real pointer of length 0. */
		if (i == 2)
			ck_assert(got.key && got.value);
	}
	ck_assert_int_eq(ks_batch_iter_next(&it, &got), 0);
	ck_assert_int_eq(ks_batch_iter_next(&it, &got), 0);
}
END_TEST

/* Records read back and appended again encode to the same bytes. */
START_TEST(test_reencode_output_records)
{
	static uint8_t a[4096], b[4096];
	ks_record_t recs[6], out[6];
	ks_batch_iter_t it;
	size_t la, lb, size, i;

	make_round_trip_records(recs);
	la = encode(a, sizeof a, recs, 6, 10);
	ks_batch_iter_init(&it, a, la, 0);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(ks_batch_iter_next(&it, &out[i]), 1);
	KT_OK(ks_batch_size(out, 6, &size));
	lb = encode(b, sizeof b, out, 6, 10);
	ck_assert_uint_eq(size, lb);
	assert_bytes(b, lb, a, la);
}
END_TEST

START_TEST(test_now_timestamps)
{
	static uint8_t buf[1024];
	ks_record_t recs[3], got;
	ks_batch_info_t bi;
	ks_batch_iter_t it;
	size_t len, size, i;

	memset(recs, 0, sizeof recs);
	for (i = 0; i < 3; i++)
		recs[i].timestamp = -1;
	KT_OK(ks_batch_size(recs, 3, &size));
	KT_OK(ks_batch_encode(buf, sizeof buf, recs, 3, 0, 12345, &len));
	ck_assert_uint_eq(len, size);
	KT_OK(ks_batch_validate(buf, len, &bi));
	ck_assert_int_eq(bi.base_timestamp, 12345);
	ck_assert_int_eq(bi.max_timestamp, 12345);
	ks_batch_iter_init(&it, buf, len, 0);
	while (ks_batch_iter_next(&it, &got) == 1)
		ck_assert_int_eq(got.timestamp, 12345);

	/* "now" mixed with explicit times: the size is a bound. */
	recs[1].timestamp = 5;
	KT_OK(ks_batch_size(recs, 3, &size));
	KT_OK(ks_batch_encode(buf, sizeof buf, recs, 3, 0, 1LL << 40, &len));
	ck_assert_uint_le(len, size);
	KT_OK(ks_batch_validate(buf, len, &bi));
	ck_assert_int_eq(bi.base_timestamp, 1LL << 40);
	ck_assert_int_eq(bi.max_timestamp, 1LL << 40);
	ks_batch_iter_init(&it, buf, len, 0);
	ck_assert_int_eq(ks_batch_iter_next(&it, &got), 1);
	ck_assert_int_eq(ks_batch_iter_next(&it, &got), 1);
	ck_assert_int_eq(got.timestamp, 5);
}
END_TEST

/* ---- the format, byte for byte ---------------------------------------- */

START_TEST(test_known_bytes)
{
	/*
	 * One record, key "k", value "hello", one header h=v, timestamp
	 * 1700000000000 (0x18BCFE56800), base offset 42, laid out by hand.
	 */
	static const uint8_t rec[] = {
		0x20,                   /* length 16, zigzag 32 */
		0x00,                   /* attributes */
		0x00,                   /* timestampDelta 0 */
		0x00,                   /* offsetDelta 0 */
		0x02, 'k',              /* keyLength 1 */
		0x0a, 'h', 'e', 'l', 'l', 'o', /* valueLength 5 */
		0x02,                   /* headerCount 1 */
		0x02, 'h', 0x02, 'v',   /* header h = v */
	};
	static const uint8_t hdr[61] = {
		0, 0, 0, 0, 0, 0, 0, 42,        /* 0 baseOffset */
		0, 0, 0, 49 + sizeof rec,       /* 8 batchLength */
		0xff, 0xff, 0xff, 0xff,         /* 12 partitionLeaderEpoch */
		2,                              /* 16 magic */
		0, 0, 0, 0,                     /* 17 crc, filled below */
		0, 0,                           /* 21 attributes */
		0, 0, 0, 0,                     /* 23 lastOffsetDelta */
		0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, /* 27 baseTimestamp */
		0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, /* 35 maxTimestamp */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 43 producerId */
		0xff, 0xff,                     /* 51 producerEpoch */
		0xff, 0xff, 0xff, 0xff,         /* 53 baseSequence */
		0, 0, 0, 1,                     /* 57 recordCount */
	};
	static const ks_header_t h = { "h", 1, "v", 1 };
	ks_record_t r = { .timestamp = 1700000000000ll, .key = "k",
		.key_len = 1, .value = "hello", .value_len = 5,
		.headers = &h, .header_count = 1 };
	uint8_t want[sizeof hdr + sizeof rec], got[256];
	size_t len;

	ck_assert_uint_eq(sizeof rec, 17);
	memcpy(want, hdr, sizeof hdr);
	memcpy(want + sizeof hdr, rec, sizeof rec);
	wr32(want + 17, ref_crc32c(want + 21, sizeof want - 21));

	KT_OK(ks_batch_encode(got, sizeof got, &r, 1, 42, 0, &len));
	assert_bytes(got, len, want, sizeof want);
	KT_OK(ks_batch_validate(want, sizeof want, NULL));
}
END_TEST

START_TEST(test_field_offsets)
{
	static uint8_t buf[1024];
	ks_batch_info_t bi;
	size_t len;

	len = simple_batch(buf, sizeof buf, 0x0102030405060708ll, 7,
	    0x1122334455ll);
	ck_assert_uint_eq(rd64(buf + 0), 0x0102030405060708ull);
	ck_assert_uint_eq(rd32(buf + 8), len - 12);
	ck_assert_uint_eq(rd32(buf + 12), 0xffffffffu);
	ck_assert_uint_eq(buf[16], 2);
	ck_assert_uint_eq(rd32(buf + 17), ref_crc32c(buf + 21, len - 21));
	ck_assert_uint_eq(rd16(buf + 21), 0);
	ck_assert_uint_eq(rd32(buf + 23), 6);
	ck_assert_uint_eq(rd64(buf + 27), 0x1122334455ull);
	ck_assert_uint_eq(rd64(buf + 35), 0x1122334455ull + 60);
	ck_assert_uint_eq(rd64(buf + 43), UINT64_MAX);
	ck_assert_uint_eq(rd16(buf + 51), 0xffff);
	ck_assert_uint_eq(rd32(buf + 53), 0xffffffffu);
	ck_assert_uint_eq(rd32(buf + 57), 7);
	/* First record: length, attributes 0, timestampDelta 0, offsetDelta 0. */
	ck_assert_uint_eq(buf[62], 0);
	ck_assert_uint_eq(buf[63], 0);
	ck_assert_uint_eq(buf[64], 0);

	KT_OK(ks_batch_parse(buf, len, &bi));
	ck_assert_int_eq(bi.base_offset, 0x0102030405060708ll);
	ck_assert_int_eq(bi.crc, rd32(buf + 17));
	ck_assert_int_eq(bi.record_count, 7);
	ck_assert_int_eq(bi.last_offset_delta, 6);
	ck_assert_int_eq(bi.base_timestamp, 0x1122334455ll);
}
END_TEST

/* ---- rejection --------------------------------------------------------- */

START_TEST(test_validate_rejects)
{
	static uint8_t good[1024], b[1024];
	size_t len, i;

	len = simple_batch(good, sizeof good, 100, 5, 1000);
	KT_OK(ks_batch_validate(good, len, NULL));

	/* Wrong magic, with the CRC even recomputed. */
	memcpy(b, good, len);
	b[16] = 1;
	ck_assert_int_eq(ks_batch_validate(b, len, NULL), KS_EMAGIC);
	ck_assert_int_eq(ks_batch_parse(b, 17, NULL), KS_EMAGIC);

	/* Truncated anywhere. */
	for (i = 0; i < len; i++)
		ck_assert_int_eq(ks_batch_validate(good, i, NULL), KS_EBATCH);
	/* Longer buffers are fine: only 12 + batchLength bytes are read. */
	KT_OK(ks_batch_validate(good, sizeof good, NULL));

	for (i = 0; i < len; i++) {
		int rc;
		memcpy(b, good, len);
		b[i] ^= 0x40;
		rc = ks_batch_validate(b, len, NULL);
		if (i < 8 || (i >= 12 && i < 16))
			/* baseOffset, partitionLeaderEpoch: outside the CRC. */
			ck_assert_int_eq(rc, 0);
		else if (i < 12)
			ck_assert_int_eq(rc, KS_EBATCH);
		else if (i == 16)
			ck_assert_int_eq(rc, KS_EMAGIC);
		else if (i < 21 || i >= 61 || (i >= 27 && i < 57))
			ck_assert_int_eq(rc, KS_ECRC);
		else
			ck_assert(rc == KS_ECRC || rc == KS_EBATCH);
	}
}
END_TEST

START_TEST(test_validate_records)
{
	static uint8_t good[1024], b[1024];
	size_t len;

	len = simple_batch(good, sizeof good, 0, 5, 1000);

	/* First record's length one too long, CRC made right again. */
	memcpy(b, good, len);
	ck_assert_uint_lt(b[61], 0x7e);
	b[61] += 2;
	fix_crc(b, len);
	ck_assert_int_eq(ks_batch_validate(b, len, NULL), KS_ERECORD);
	b[61] -= 4;
	fix_crc(b, len);
	ck_assert_int_eq(ks_batch_validate(b, len, NULL), KS_ERECORD);

	/* Fewer records declared than present: bytes left over. */
	memcpy(b, good, len);
	wr32(b + 57, 4);
	fix_crc(b, len);
	ck_assert_int_eq(ks_batch_validate(b, len, NULL), KS_ERECORD);

	/* More declared than present. */
	wr32(b + 57, 6);
	wr32(b + 23, 5);
	fix_crc(b, len);
	ck_assert_int_eq(ks_batch_validate(b, len, NULL), KS_ERECORD);

	/* More declared than lastOffsetDelta allows: a header error. */
	memcpy(b, good, len);
	wr32(b + 57, 6);
	fix_crc(b, len);
	ck_assert_int_eq(ks_batch_validate(b, len, NULL), KS_EBATCH);

	/* Second record's offsetDelta (1, zigzag 2) repeated as 0. */
	memcpy(b, good, len);
	{
		size_t r2 = 61 + 1 + (size_t)(good[61] >> 1);
		ck_assert_uint_eq(b[r2 + 3], 2);
		b[r2 + 3] = 0;
		fix_crc(b, len);
		ck_assert_int_eq(ks_batch_validate(b, len, NULL), KS_ERECORD);
		/* Past lastOffsetDelta. */
		b[r2 + 3] = 2 * 9;
		fix_crc(b, len);
		ck_assert_int_eq(ks_batch_validate(b, len, NULL), KS_ERECORD);
	}

	/* A batch without records, as compaction may leave: valid. */
	memcpy(b, good, 61);
	wr32(b + 8, 49);
	wr32(b + 57, 0);
	fix_crc(b, 61);
	KT_OK(ks_batch_validate(b, 61, NULL));
}
END_TEST

START_TEST(test_parse_header_checks)
{
	static uint8_t good[1024], b[1024];
	ks_batch_info_t bi;
	size_t len;

	len = simple_batch(good, sizeof good, 0, 3, 1000);
	ck_assert_int_eq(ks_batch_parse(good, 16, &bi), KS_EBATCH);
	ck_assert_int_eq(ks_batch_parse(good, 17, &bi), KS_EBATCH);
	ck_assert_int_eq(ks_batch_parse(good, 60, &bi), KS_EBATCH);
	ck_assert_int_eq(ks_batch_parse(NULL, 100, &bi), KS_EINVAL);
	KT_OK(ks_batch_parse(good, len, NULL));

	memcpy(b, good, len);
	wr32(b + 8, 48);
	ck_assert_int_eq(ks_batch_parse(b, len, &bi), KS_EBATCH);
	wr32(b + 8, 0x80000000u);
	ck_assert_int_eq(ks_batch_parse(b, len, &bi), KS_EBATCH);

	memcpy(b, good, len);
	wr32(b + 57, 0xffffffffu);
	ck_assert_int_eq(ks_batch_parse(b, len, &bi), KS_EBATCH);
	memcpy(b, good, len);
	wr32(b + 23, 0xffffffffu);
	ck_assert_int_eq(ks_batch_parse(b, len, &bi), KS_EBATCH);
	memcpy(b, good, len);
	b[22] = 5; /* no such codec */
	ck_assert_int_eq(ks_batch_parse(b, len, &bi), KS_EBATCH);
	b[22] = 4; /* zstd: parses; the CRC is another matter */
	KT_OK(ks_batch_parse(b, len, &bi));
	fix_crc(b, len);
	KT_OK(ks_batch_validate(b, len, &bi));
	ck_assert_int_eq(bi.attributes, 4);
}
END_TEST

START_TEST(test_encode_errors)
{
	static uint8_t buf[2048];
	ks_record_t recs[6];
	size_t len, size, cap;
	int rc;

	make_round_trip_records(recs);
	recs[3] = (ks_record_t){ .value = "x", .value_len = 1 };
	KT_OK(ks_batch_size(recs, 4, &size));
	for (cap = 0; cap < size; cap++) {
		rc = ks_batch_encode(buf, cap, recs, 4, 0, 0, &len);
		ck_assert_int_eq(rc, -ENOBUFS);
	}
	KT_OK(ks_batch_encode(buf, size, recs, 4, 0, 0, &len));
	ck_assert_uint_eq(len, size);

	ck_assert_int_eq(ks_batch_encode(buf, sizeof buf, recs, 0, 0, 0, &len),
	    KS_EINVAL);
	ck_assert_int_eq(ks_batch_encode(NULL, sizeof buf, recs, 1, 0, 0, &len),
	    KS_EINVAL);
	ck_assert_int_eq(ks_batch_encode(buf, sizeof buf, NULL, 1, 0, 0, &len),
	    KS_EINVAL);
	ck_assert_int_eq(ks_batch_encode(buf, sizeof buf, recs, 1, 0, 0, NULL),
	    KS_EINVAL);
	ck_assert_int_eq(ks_batch_size(recs, 0, &size), KS_EINVAL);
	ck_assert_int_eq(ks_batch_size(NULL, 1, &size), KS_EINVAL);
	ck_assert_int_eq(ks_batch_size(recs, 1, NULL), KS_EINVAL);

	/* A NULL pointer with a length is a caller's mistake, not a null. */
	recs[0] = (ks_record_t){ .key = NULL, .key_len = 3 };
	ck_assert_int_eq(ks_batch_size(recs, 1, &size), KS_EINVAL);
	ck_assert_int_eq(ks_batch_encode(buf, sizeof buf, recs, 1, 0, 0, &len),
	    KS_EINVAL);
	recs[0] = (ks_record_t){ .header_count = 2 };
	ck_assert_int_eq(ks_batch_size(recs, 1, &size), KS_EINVAL);
	/* Lengths Kafka cannot frame; nothing is read from the pointer. */
	recs[0] = (ks_record_t){ .value = "x", .value_len = (size_t)INT32_MAX + 1 };
	ck_assert_int_eq(ks_batch_size(recs, 1, &size), KS_EMSGSIZE);
	ck_assert_int_eq(ks_batch_encode(buf, sizeof buf, recs, 1, 0, 0, &len),
	    KS_EMSGSIZE);
}
END_TEST

/* ---- iteration --------------------------------------------------------- */

/* Iterates buf, checking offsets run first, first + 1, ...; returns count. */
static int iterate_offsets(const uint8_t *buf, size_t len, int64_t min,
    int64_t first, int *end_rc)
{
	ks_batch_iter_t it;
	ks_record_t r;
	int n = 0, rc;

	ks_batch_iter_init(&it, buf, len, min);
	while ((rc = ks_batch_iter_next(&it, &r)) == 1) {
		ck_assert_int_eq(r.offset, first + n);
		n++;
	}
	*end_rc = rc;
	return n;
}

START_TEST(test_iter_min_offset)
{
	static uint8_t buf[1024];
	static const int64_t mins[] = { INT64_MIN, -1, 0, 100, 103, 109, 110,
		1000, INT64_MAX };
	size_t len, i;
	int rc;

	len = simple_batch(buf, sizeof buf, 100, 10, 0);
	for (i = 0; i < sizeof mins / sizeof mins[0]; i++) {
		int64_t first = mins[i] < 100 ? 100 : mins[i];
		int64_t want = first >= 110 ? 0 : 110 - first;
		ck_assert_int_eq(iterate_offsets(buf, len, mins[i], first, &rc),
		    want);
		ck_assert_int_eq(rc, 0);
	}
}
END_TEST

/* Three batches: offsets 0-2, 3-4, 5-8. */
static size_t three_batches(uint8_t *buf, size_t cap, size_t *ends)
{
	size_t len = simple_batch(buf, cap, 0, 3, 0);
	ends[0] = len;
	len += simple_batch(buf + len, cap - len, 3, 2, 100);
	ends[1] = len;
	len += simple_batch(buf + len, cap - len, 5, 4, 200);
	ends[2] = len;
	return len;
}

START_TEST(test_iter_multi_batch)
{
	static uint8_t buf[2048];
	size_t ends[3], len;
	int rc;

	len = three_batches(buf, sizeof buf, ends);
	ck_assert_int_eq(iterate_offsets(buf, len, 0, 0, &rc), 9);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(iterate_offsets(buf, len, 4, 4, &rc), 5);
	ck_assert_int_eq(iterate_offsets(buf, len, 5, 5, &rc), 4);
	ck_assert_int_eq(iterate_offsets(buf, len, 8, 8, &rc), 1);
	ck_assert_int_eq(iterate_offsets(buf, len, 9, 9, &rc), 0);
	ck_assert_int_eq(rc, 0);
}
END_TEST

START_TEST(test_iter_partial_tail)
{
	static uint8_t buf[2048];
	size_t ends[3], len, cut;
	int rc;

	len = three_batches(buf, sizeof buf, ends);
	for (cut = ends[1]; cut < len; cut++) {
		ck_assert_int_eq(iterate_offsets(buf, cut, 0, 0, &rc), 5);
		ck_assert_int_eq(rc, 0);
	}
	for (cut = 0; cut < ends[0]; cut++) {
		ck_assert_int_eq(iterate_offsets(buf, cut, 0, 0, &rc), 0);
		ck_assert_int_eq(rc, 0);
	}
	ck_assert_int_eq(iterate_offsets(NULL, 0, 0, 0, &rc), 0);
	ck_assert_int_eq(rc, 0);
}
END_TEST

START_TEST(test_iter_control_skipped)
{
	static uint8_t buf[2048];
	ks_batch_iter_t it;
	ks_record_t r;
	size_t ends[3], len;
	int64_t want[] = { 0, 1, 2, 5, 6, 7, 8 };
	int i;

	len = three_batches(buf, sizeof buf, ends);
	buf[ends[0] + 22] |= KS_BATCH_CONTROL;
	fix_crc(buf + ends[0], ends[1] - ends[0]);
	KT_OK(ks_batch_validate(buf + ends[0], ends[1] - ends[0], NULL));
	ks_batch_iter_init(&it, buf, len, 0);
	for (i = 0; i < 7; i++) {
		ck_assert_int_eq(ks_batch_iter_next(&it, &r), 1);
		ck_assert_int_eq(r.offset, want[i]);
	}
	ck_assert_int_eq(ks_batch_iter_next(&it, &r), 0);
}
END_TEST

START_TEST(test_iter_compressed)
{
	static uint8_t buf[2048];
	ks_batch_iter_t it;
	ks_record_t r;
	size_t ends[3], len;
	int i, rc;

	len = three_batches(buf, sizeof buf, ends);
	buf[ends[0] + 22] |= 1; /* gzip */
	fix_crc(buf + ends[0], ends[1] - ends[0]);
	/* Checked up to the CRC: the records are not looked at. */
	KT_OK(ks_batch_validate(buf + ends[0], ends[1] - ends[0], NULL));

	ks_batch_iter_init(&it, buf, len, 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(ks_batch_iter_next(&it, &r), 1);
	ck_assert_int_eq(ks_batch_iter_next(&it, &r), KS_ECOMPRESSION);
	/* The error sticks: retrying does not skip records silently. */
	ck_assert_int_eq(ks_batch_iter_next(&it, &r), KS_ECOMPRESSION);

	/* Wholly below min_offset, it is skipped like any other batch. */
	ck_assert_int_eq(iterate_offsets(buf, len, 5, 5, &rc), 4);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(iterate_offsets(buf, len, 4, 4, &rc), 0);
	ck_assert_int_eq(rc, KS_ECOMPRESSION);
}
END_TEST

START_TEST(test_iter_log_append_time)
{
	static uint8_t buf[1024];
	ks_batch_iter_t it;
	ks_record_t r;
	size_t len;
	int n = 0;

	len = simple_batch(buf, sizeof buf, 0, 4, 1000);
	ks_batch_iter_init(&it, buf, len, 0);
	while (ks_batch_iter_next(&it, &r) == 1) {
		ck_assert_int_eq(r.timestamp, 1000 + 10 * n);
		n++;
	}
	buf[22] |= KS_BATCH_TIMESTAMP_LOG_APPEND;
	wr64(buf + 35, 99999);
	ks_batch_iter_init(&it, buf, len, 0);
	while (ks_batch_iter_next(&it, &r) == 1) {
		ck_assert_int_eq(r.timestamp, 99999);
		n++;
	}
	ck_assert_int_eq(n, 8);
}
END_TEST

START_TEST(test_iter_malformed)
{
	static uint8_t good[2048], b[2048];
	size_t ends[3], len;
	int rc;

	len = three_batches(good, sizeof good, ends);

	memcpy(b, good, len);
	wr32(b + ends[0] + 8, 10); /* batchLength below the header's size */
	ck_assert_int_eq(iterate_offsets(b, len, 0, 0, &rc), 3);
	ck_assert_int_eq(rc, KS_EBATCH);

	memcpy(b, good, len);
	b[ends[0] + 16] = 1;
	ck_assert_int_eq(iterate_offsets(b, len, 0, 0, &rc), 3);
	ck_assert_int_eq(rc, KS_EMAGIC);

	/* Second batch: its first record's length varint overstated. */
	memcpy(b, good, len);
	b[ends[0] + 61] += 2;
	ck_assert_int_eq(iterate_offsets(b, len, 0, 0, &rc), 3);
	ck_assert_int_eq(rc, KS_ERECORD);

	/* Second batch declares one record too few: bytes left over. */
	memcpy(b, good, len);
	wr32(b + ends[0] + 57, 1);
	ck_assert_int_eq(iterate_offsets(b, len, 0, 0, &rc), 4);
	ck_assert_int_eq(rc, KS_ERECORD);

	ck_assert_int_eq(ks_batch_iter_next(NULL, NULL), KS_EINVAL);
}
END_TEST

START_TEST(test_header_next_input)
{
	ks_record_t r = { .headers = hdrs_a, .header_count = 3 };
	ks_header_t h;
	size_t pos = 0;
	int i;

	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(ks_record_header_next(&r, &pos, &h), 1);
		ck_assert_ptr_eq(h.key, hdrs_a[i].key);
	}
	ck_assert_int_eq(ks_record_header_next(&r, &pos, &h), 0);
	ck_assert_int_eq(ks_record_header_next(NULL, &pos, &h), KS_EINVAL);

	/* Damaged encoded headers are an error, not a read past them. */
	{
		static const uint8_t raw[] = { 0x02, 'a', 0x08, 'x' };
		ks_record_t o = { .header_count = 1, ._hdr_raw = raw,
			._hdr_raw_len = sizeof raw };
		pos = 0;
		ck_assert_int_eq(ks_record_header_next(&o, &pos, &h),
		    KS_ERECORD);
		ck_assert_uint_eq(pos, 0);
	}
}
END_TEST

/* ---- damaged input ----------------------------------------------------- */

static uint8_t pool[4096];

/* A random valid batch of 1..6 records at base offset base. */
static size_t random_batch(uint8_t *buf, size_t cap, int64_t base)
{
	ks_record_t recs[6];
	ks_header_t hs[6][3];
	size_t n = 1 + rnd() % 6, i, j;

	memset(recs, 0, sizeof recs);
	for (i = 0; i < n; i++) {
		ks_record_t *r = &recs[i];
		r->timestamp = (int64_t)(rnd() % 3000) - 1;
		if (rnd() % 4) {
			r->key = pool + rnd() % 2048;
			r->key_len = rnd() % 20;
		}
		if (rnd() % 5) {
			r->value = pool + rnd() % 2048;
			r->value_len = rnd() % (rnd() % 8 ? 40 : 300);
		}
		r->header_count = rnd() % 4;
		if (r->header_count)
			r->headers = hs[i];
		for (j = 0; j < r->header_count; j++) {
			hs[i][j].key = pool + rnd() % 2048;
			hs[i][j].key_len = rnd() % 8;
			hs[i][j].value = rnd() % 3 ? pool + rnd() % 2048 : NULL;
			hs[i][j].value_len =
			    hs[i][j].value ? rnd() % 10 : 0;
		}
	}
	return encode(buf, cap, recs, n, base);
}

static void mutate(uint8_t *b, size_t *len)
{
	size_t i, k;

	switch (rnd() % 6) {
	case 0: /* a few random bit flips */
		for (k = 1 + rnd() % 4; k; k--)
			b[rnd() % *len] ^= (uint8_t)(1u << (rnd() % 8));
		break;
	case 1: /* random bytes */
		for (k = 1 + rnd() % 3; k; k--)
			b[rnd() % *len] = (uint8_t)rnd();
		break;
	case 2: /* truncation */
		*len = rnd() % *len;
		break;
	case 3: /* a byte in the records, where varints live */
		if (*len > 61)
			b[61 + rnd() % (*len - 61)] = (uint8_t)rnd();
		break;
	case 4: /* batchLength nudged */
		if (*len >= 12) {
			uint32_t v = rd32(b + 8) + (uint32_t)(rnd() % 9) - 4;
			wr32(b + 8, v);
		}
		break;
	default: /* a header field set to something extreme */
		i = 21 + rnd() % 40;
		if (i + 4 <= *len)
			wr32(b + i, (uint32_t)rnd() | (rnd() % 2 ? 0x80000000u : 0));
		break;
	}
	/* Often the CRC is made right, so the record checks are reached. */
	if (rnd() % 3)
		fix_crc(b, *len);
}

static int within(const void *p, size_t n, const uint8_t *lo,
    const uint8_t *hi)
{
	const uint8_t *q = p;
	return q >= lo && q <= hi && n <= (size_t)(hi - q);
}

/*
 * Iterates buf[0..len) (an exact-size heap copy, so ASan sees any read
 * past it), checking every pointer handed out. Returns the final code and
 * the number of records in *count.
 */
static int iterate_checked(const uint8_t *buf, size_t len, int64_t min,
    int *count)
{
	const uint8_t *end = buf + len;
	ks_batch_iter_t it;
	ks_record_t r;
	ks_header_t h;
	int rc, n = 0;
	size_t calls = 0;

	ks_batch_iter_init(&it, buf, len, min);
	while ((rc = ks_batch_iter_next(&it, &r)) == 1) {
		size_t pos = 0, nh = 0;
		int hr;
		ck_assert_uint_le(++calls, len); /* each record takes bytes */
		ck_assert_int_ge(r.offset, min);
		ck_assert(r.key ? within(r.key, r.key_len, buf, end) :
				  r.key_len == 0);
		ck_assert(r.value ? within(r.value, r.value_len, buf, end) :
				    r.value_len == 0);
		ck_assert(within(r._hdr_raw, r._hdr_raw_len, buf, end));
		while ((hr = ks_record_header_next(&r, &pos, &h)) == 1) {
			ck_assert(within(h.key, h.key_len, buf, end));
			ck_assert(h.value ? within(h.value, h.value_len, buf,
						end) :
					    h.value_len == 0);
			nh++;
		}
		/* The iterator checked the headers' framing already. */
		ck_assert_int_eq(hr, 0);
		ck_assert_uint_eq(nh, r.header_count);
		n++;
	}
	ck_assert(rc == 0 || rc == KS_EBATCH || rc == KS_ERECORD ||
	    rc == KS_EMAGIC || rc == KS_ECOMPRESSION);
	ck_assert_int_eq(ks_batch_iter_next(&it, &r), rc);
	*count = n;
	return rc;
}

START_TEST(test_mutations)
{
	static uint8_t work[8192];
	int round, rounds = 20000;

	for (round = 0; round < (int)sizeof pool; round++)
		pool[round] = (uint8_t)rnd();
	for (round = 0; round < rounds; round++) {
		size_t len = random_batch(work, sizeof work, (int64_t)(rnd() % 1000));
		size_t mlen = len, tail = 0;
		ks_batch_info_t bi;
		uint8_t *copy;
		int vrc, irc, n;

		mutate(work, &mlen);
		if (rnd() % 4 == 0) /* a valid batch behind the damaged one */
			tail = random_batch(work + mlen, sizeof work - mlen, 5000);
		copy = malloc(mlen + tail ? mlen + tail : 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, work, mlen + tail);

		vrc = ks_batch_validate(copy, mlen, &bi);
		ck_assert(vrc == 0 || vrc == KS_EBATCH || vrc == KS_EMAGIC ||
		    vrc == KS_ECRC || vrc == KS_ERECORD);
		iterate_checked(copy, mlen + tail,
		    rnd() % 2 ? INT64_MIN : (int64_t)(rnd() % 1100), &n);
		iterate_checked(copy, mlen, INT64_MIN, &n);
		if (vrc == 0 && !(bi.attributes & (KS_BATCH_CONTROL |
				     KS_BATCH_COMPRESSION_MASK))) {
			/* What validates, iterates: all of it. */
			irc = iterate_checked(copy, 12 + (size_t)bi.batch_length,
			    INT64_MIN, &n);
			ck_assert_int_eq(irc, 0);
			ck_assert_int_eq(n, bi.record_count);
		}
		free(copy);
	}
}
END_TEST

Suite *batch_suite(void); /* for test/main.c */

Suite *batch_suite(void)
{
	Suite *s = suite_create("batch");
	TCase *tc = tcase_create("format");
	TCase *ti = tcase_create("iterator");
	TCase *tm = tcase_create("mutations");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_reencode_output_records);
	tcase_add_test(tc, test_now_timestamps);
	tcase_add_test(tc, test_known_bytes);
	tcase_add_test(tc, test_field_offsets);
	tcase_add_test(tc, test_validate_rejects);
	tcase_add_test(tc, test_validate_records);
	tcase_add_test(tc, test_parse_header_checks);
	tcase_add_test(tc, test_encode_errors);
	suite_add_tcase(s, tc);

	tcase_add_test(ti, test_iter_min_offset);
	tcase_add_test(ti, test_iter_multi_batch);
	tcase_add_test(ti, test_iter_partial_tail);
	tcase_add_test(ti, test_iter_control_skipped);
	tcase_add_test(ti, test_iter_compressed);
	tcase_add_test(ti, test_iter_log_append_time);
	tcase_add_test(ti, test_iter_malformed);
	tcase_add_test(ti, test_header_next_input);
	suite_add_tcase(s, ti);

	tcase_add_test(tm, test_mutations);
	tcase_set_timeout(tm, 120);
	suite_add_tcase(s, tm);
	return s;
}
