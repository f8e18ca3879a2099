/*
 * check_compress.c: compressed record batches: the codecs and their
 * framings, hostile input, and compressed batches through the log's
 * iterator, a consumer, compaction and the producer.
 */
#define _GNU_SOURCE
#include "util.h"

#include "log/compress.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef KS_WITH_COMPRESSION
#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>
#endif

#define SEED 0x636f6d7072657373ULL
#define T0 1700000000000LL
#define HDR KS_BATCH_HEADER_SIZE

static const int codecs[] = { KS_COMPRESSION_GZIP, KS_COMPRESSION_SNAPPY,
	KS_COMPRESSION_LZ4, KS_COMPRESSION_ZSTD };
#define NCODECS 4

/* ---- records and batches ------------------------------------------------ */

enum kind { TEXT, RANDOM };

/*
 * The record at off: kt_gen_record's, whose values are random bytes
 * (incompressible); TEXT replaces the value with repetitive text.
 */
static void gen(enum kind kind, int64_t off, struct kt_gen *g)
{
	size_t i, n;
	char word[24];

	kt_gen_record(SEED, T0, off, g);
	if (kind != TEXT)
		return;
	n = (size_t)snprintf(word, sizeof word, "value-%" PRId64 ";", off);
	for (i = 0; i < g->rec.value_len; i++)
		g->value[i] = (uint8_t)word[i % n];
}

/* An uncompressed batch of n records at offsets base..; malloc'd. */
static uint8_t *encode(enum kind kind, int64_t base, int n, size_t *len)
{
	struct kt_gen *g = calloc((size_t)n, sizeof *g);
	ks_record_t *recs = calloc((size_t)n, sizeof *recs);
	size_t size;
	uint8_t *b;
	int i;

	ck_assert(g && recs);
	for (i = 0; i < n; i++) {
		gen(kind, base + i, &g[i]);
		recs[i] = g[i].rec;
	}
	KT_OK(ks_batch_size(recs, (size_t)n, &size));
	ck_assert_ptr_nonnull(b = malloc(size));
	KT_OK(ks_batch_encode(b, size, recs, (size_t)n, base, 0, len));
	free(recs);
	free(g);
	return b;
}

/* Sets batchLength for total bytes and recomputes the CRC. */
static void fix(uint8_t *b, size_t total)
{
	uint32_t v = (uint32_t)(total - KS_BATCH_LOG_OVERHEAD);
	b[8] = (uint8_t)(v >> 24);
	b[9] = (uint8_t)(v >> 16);
	b[10] = (uint8_t)(v >> 8);
	b[11] = (uint8_t)v;
	v = ks_crc32c(0, b + 21, total - 21);
	b[17] = (uint8_t)(v >> 24);
	b[18] = (uint8_t)(v >> 16);
	b[19] = (uint8_t)(v >> 8);
	b[20] = (uint8_t)v;
}

static int attr_codec(const uint8_t *b)
{
	return b[22] & KS_BATCH_COMPRESSION_MASK;
}

/* plain's header with codec and payload as the records: malloc'd. */
static uint8_t *wrap(const uint8_t *plain, int codec, const void *payload,
    size_t plen, size_t *len)
{
	uint8_t *b = malloc(HDR + plen);
	ck_assert_ptr_nonnull(b);
	memcpy(b, plain, HDR);
	b[22] = (uint8_t)((b[22] & ~KS_BATCH_COMPRESSION_MASK) | codec);
	if (plen)
		memcpy(b + HDR, payload, plen);
	*len = HDR + plen;
	fix(b, *len);
	return b;
}

#ifdef KS_WITH_COMPRESSION
/* Every record of the batches in buf is the generator's, n from first. */
static void check_records(const void *buf, size_t len, enum kind kind,
    int64_t first, int n)
{
	ks_batch_iter_t it;
	ks_record_t r;
	struct kt_gen g;
	char why[256];
	int got = 0, rc;

	ks_batch_iter_init(&it, buf, len, 0);
	while ((rc = ks_batch_iter_next(&it, &r)) == 1) {
		gen(kind, first + got, &g);
		ck_assert_msg(kt_gen_compare(&g, first + got, &r, KT_WHY_FIELD,
		                  why, sizeof why) == 0, "%s", why);
		got++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(got, n);
}

/* The header fields a conversion keeps are the same in a and b. */
static void same_header(const uint8_t *a, const uint8_t *b)
{
	ck_assert(memcmp(a, b, 8) == 0);            /* baseOffset */
	ck_assert(memcmp(a + 12, b + 12, 5) == 0);  /* epoch, magic */
	ck_assert_int_eq(a[21], b[21]);             /* attributes, high */
	ck_assert_int_eq(a[22] & ~7, b[22] & ~7);
	ck_assert(memcmp(a + 23, b + 23, HDR - 23) == 0);
}

/* Compresses, checks, decompresses and compares with the original. */
static void round_trip(const uint8_t *plain, size_t len, int codec)
{
	void *c, *d;
	size_t clen, dlen;
	ks_batch_info_t bi;

	KT_OK(ks__batch_compress(codec, plain, len, &c, &clen));
	ck_assert_int_eq(attr_codec(c), codec);
	same_header(plain, c);
	/* A valid batch as an append would check it: length and CRC. */
	KT_OK(ks_batch_validate(c, clen, &bi));
	ck_assert_int_eq((size_t)bi.batch_length + 12, clen);
	KT_OK(ks_batch_decompress(c, clen, &d, &dlen));
	/* Byte for byte the original, CRC included. */
	ck_assert_uint_eq(dlen, len);
	ck_assert(memcmp(d, plain, len) == 0);
	free(c);
	free(d);
}

#endif

/* ---- tests ------------------------------------------------------------- */

START_TEST(test_names)
{
	static const char *const names[] = { "none", "gzip", "snappy", "lz4",
		"zstd" };
	int i;

	for (i = 0; i <= KS_COMPRESSION_ZSTD; i++) {
#ifdef KS_WITH_COMPRESSION
		ck_assert_int_eq(ks_compression_parse(names[i]), i);
#else
		ck_assert_int_eq(ks_compression_parse(names[i]),
		    i ? KS_ECOMPRESSION : 0);
#endif
		ck_assert_str_eq(ks_compression_name(i), names[i]);
	}
	ck_assert_int_eq(ks_compression_parse("GZIP"), KS_EINVAL);
	ck_assert_int_eq(ks_compression_parse("lz4 "), KS_EINVAL);
	ck_assert_int_eq(ks_compression_parse(""), KS_EINVAL);
	ck_assert_int_eq(ks_compression_parse(NULL), KS_EINVAL);
	ck_assert_str_eq(ks_compression_name(5), "unknown");
	ck_assert_str_eq(ks_compression_name(-1), "unknown");
}
END_TEST

#ifdef KS_WITH_COMPRESSION

START_TEST(test_round_trip)
{
	static const struct { enum kind kind; int n; } cases[] = {
		{ TEXT, 1 }, { RANDOM, 1 }, { TEXT, 10 }, { TEXT, 10000 },
		{ RANDOM, 3000 },
	};
	size_t i, len;
	int k;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t *b = encode(cases[i].kind, 1000, cases[i].n, &len);
		for (k = 0; k < NCODECS; k++) {
			void *c, *d;
			size_t clen, dlen;
			round_trip(b, len, codecs[k]);
			/* and its records read back right */
			KT_OK(ks__batch_compress(codecs[k], b, len, &c, &clen));
			if (cases[i].kind == TEXT && cases[i].n >= 10)
				ck_assert_uint_lt(clen, len / 2);
			KT_OK(ks_batch_decompress(c, clen, &d, &dlen));
			check_records(d, dlen, cases[i].kind, 1000,
			    cases[i].n);
			free(c);
			free(d);
		}
		free(b);
	}
}
END_TEST

/* A batch whose records compaction removed: an empty records section. */
START_TEST(test_empty_records)
{
	size_t len;
	uint8_t *b = encode(TEXT, 0, 3, &len);
	int k;

	memset(b + 57, 0, 4);  /* recordCount 0; lastOffsetDelta stays 2 */
	fix(b, HDR);
	KT_OK(ks_batch_validate(b, HDR, NULL));
	for (k = 0; k < NCODECS; k++)
		round_trip(b, HDR, codecs[k]);
	free(b);
}
END_TEST

START_TEST(test_codec_none_and_args)
{
	size_t len, clen;
	uint8_t *b = encode(TEXT, 0, 5, &len);
	void *c = NULL, *d;

	/* NONE: a copy. */
	KT_OK(ks__batch_compress(KS_COMPRESSION_NONE, b, len, &c, &clen));
	ck_assert_uint_eq(clen, len);
	ck_assert(memcmp(c, b, len) == 0);
	free(c);
	ck_assert_int_eq(ks__batch_compress(5, b, len, &c, &clen), KS_EINVAL);
	ck_assert_int_eq(ks__batch_compress(-1, b, len, &c, &clen), KS_EINVAL);
	ck_assert_int_eq(ks__batch_compress(1, NULL, len, &c, &clen),
	    KS_EINVAL);
	ck_assert_int_eq(ks__batch_compress(1, b, len - 1, &c, &clen),
	    KS_EBATCH);
	/* Not twice. */
	KT_OK(ks__batch_compress(KS_COMPRESSION_LZ4, b, len, &c, &clen));
	ck_assert_int_eq(ks__batch_compress(1, c, clen, &d, &len), KS_EINVAL);
	/* Decompressing: arguments, an uncompressed batch, a bad CRC. */
	ck_assert_int_eq(ks_batch_decompress(NULL, clen, &d, &len),
	    KS_EINVAL);
	ck_assert_int_eq(ks_batch_decompress(c, clen, NULL, &len), KS_EINVAL);
	ck_assert_int_eq(ks_batch_decompress(c, clen - 1, &d, &len),
	    KS_EBATCH);
	d = b;
	ck_assert_int_eq(ks_batch_decompress(b, HDR, &d, &len), KS_EBATCH);
	ck_assert_ptr_null(d);
	len = (size_t)(((uint8_t *)b)[10] << 8 | b[11]) + 12;
	ck_assert_int_eq(ks_batch_decompress(b, len, &d, &len), KS_EINVAL);
	((uint8_t *)c)[HDR + 3] ^= 0x40;
	ck_assert_int_eq(ks_batch_decompress(c, clen, &d, &len), KS_ECRC);
	free(c);
	free(b);
}
END_TEST

/* Codec ids 5 to 7 are not Kafka's: malformed, whatever follows. */
START_TEST(test_bad_codec_ids)
{
	size_t len, clen, dlen;
	uint8_t *b = encode(TEXT, 0, 5, &len), *c;
	ks__zbuf_t z = { NULL, 0 };
	ks_batch_iter_t it;
	ks_record_t r;
	void *d;
	int id;

	for (id = 5; id <= 7; id++) {
		c = wrap(b, id, b + HDR, len - HDR, &clen);
		ck_assert_int_eq(ks_batch_decompress(c, clen, &d, &dlen),
		    KS_EBATCH);
		ck_assert_int_eq(ks__batch_inflate(c, clen, 0, &z, &dlen),
		    KS_EBATCH);
		ks_batch_iter_init(&it, c, clen, 0);
		ck_assert_int_eq(ks__batch_iter_next_z(&it, &r, &z),
		    KS_EBATCH);
		free(c);
	}
	ks__zbuf_free(&z);
	free(b);
}
END_TEST

START_TEST(test_snappy_framings)
{
	size_t len, plen, n, pos, clen;
	uint8_t *b = encode(TEXT, 7, 2000, &len), *x, *c;
	char *raw;
	void *d;
	size_t dlen, chunk;

	plen = len - HDR;
	/* Our own output is xerial-framed, as the Java client writes. */
	KT_OK(ks__batch_compress(KS_COMPRESSION_SNAPPY, b, len, (void **)&c,
	    &clen));
	ck_assert(memcmp(c + HDR, "\x82SNAPPY\0\0\0\0\1\0\0\0\1", 16) == 0);
	free(c);

	/* One raw block, as librdkafka may send. */
	n = snappy_max_compressed_length(plen);
	ck_assert_ptr_nonnull(raw = malloc(n));
	ck_assert_int_eq(snappy_compress((const char *)b + HDR, plen, raw, &n),
	    SNAPPY_OK);
	c = wrap(b, KS_COMPRESSION_SNAPPY, raw, n, &clen);
	KT_OK(ks_batch_decompress(c, clen, &d, &dlen));
	ck_assert_uint_eq(dlen, len);
	ck_assert(memcmp(d, b, len) == 0);
	free(d);
	free(c);
	free(raw);

	/* Xerial with odd chunk sizes made here. */
	for (chunk = 1000; chunk <= 70000; chunk *= 7) {
		size_t cap = 16 + (plen / chunk + 1) *
		    (4 + snappy_max_compressed_length(chunk));
		ck_assert_ptr_nonnull(x = malloc(cap));
		memcpy(x, "\x82SNAPPY\0\0\0\0\1\0\0\0\1", 16);
		n = 16;
		for (pos = 0; pos < plen; pos += chunk) {
			size_t in = plen - pos < chunk ? plen - pos : chunk;
			size_t out = cap - n - 4;
			ck_assert_int_eq(snappy_compress((const char *)b +
			                     HDR + pos, in, (char *)x + n + 4,
			                     &out), SNAPPY_OK);
			x[n] = (uint8_t)(out >> 24);
			x[n + 1] = (uint8_t)(out >> 16);
			x[n + 2] = (uint8_t)(out >> 8);
			x[n + 3] = (uint8_t)out;
			n += 4 + out;
		}
		c = wrap(b, KS_COMPRESSION_SNAPPY, x, n, &clen);
		KT_OK(ks_batch_decompress(c, clen, &d, &dlen));
		ck_assert_uint_eq(dlen, len);
		ck_assert(memcmp(d, b, len) == 0);
		free(d);
		free(c);
		free(x);
	}
	free(b);
}
END_TEST

/* Records compressed by the codec libraries' other front ends. */
START_TEST(test_foreign_streams)
{
	size_t len, plen, n, clen, dlen, half;
	uint8_t *b = encode(TEXT, 3, 3000, &len), *p, *c;
	char *dir = kt_tmpdir("compress_gz"), *path = kt_path(dir, "x.gz");
	LZ4F_preferences_t prefs;
	void *d;
	gzFile gz;
	FILE *f;
	int k;

	plen = len - HDR;
	half = plen / 2;
	ck_assert_ptr_nonnull(p = malloc(2 * plen + 65536));

	/* gzip by zlib's file API (its own header), and zlib-wrapped. */
	ck_assert_ptr_nonnull(gz = gzopen(path, "wb9"));
	ck_assert_int_eq(gzwrite(gz, b + HDR, (unsigned)plen), (int)plen);
	ck_assert_int_eq(gzclose(gz), Z_OK);
	ck_assert_ptr_nonnull(f = fopen(path, "rb"));
	n = fread(p, 1, 2 * plen + 65536, f);
	fclose(f);
	ck_assert_uint_gt(n, 18);
	for (k = 0; k < 2; k++) {
		uLongf zl = (uLongf)(2 * plen + 65536);
		if (k == 1)
			ck_assert_int_eq(compress2(p, &zl, b + HDR, plen, 1),
			    Z_OK);
		c = wrap(b, KS_COMPRESSION_GZIP, p, k ? zl : n, &clen);
		KT_OK(ks_batch_decompress(c, clen, &d, &dlen));
		ck_assert(dlen == len && memcmp(d, b, len) == 0);
		free(d);
		free(c);
	}
	/* Two gzip members, each half of the records; trailing zeros
	 * after them are ignored, as Java's GZIPInputStream does. */
	{
		z_stream zs;
		size_t at = 0, part;
		for (part = 0; part < 2; part++) {
			memset(&zs, 0, sizeof zs);
			ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8,
			                     Z_DEFAULT_STRATEGY), Z_OK);
			zs.next_in = b + HDR + (part ? half : 0);
			zs.avail_in = (uInt)(part ? plen - half : half);
			zs.next_out = p + at;
			zs.avail_out = (uInt)(2 * plen + 65536 - at);
			ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
			at += zs.total_out;
			deflateEnd(&zs);
		}
		memset(p + at, 0, 8);
		c = wrap(b, KS_COMPRESSION_GZIP, p, at + 8, &clen);
		KT_OK(ks_batch_decompress(c, clen, &d, &dlen));
		ck_assert(dlen == len && memcmp(d, b, len) == 0);
		free(d);
		free(c);
	}

	/* lz4: the library's default frame (linked blocks), one with the
	 * content size and checksums, and two frames in a row. */
	for (k = 0; k < 3; k++) {
		memset(&prefs, 0, sizeof prefs);
		if (k == 1) {
			prefs.frameInfo.contentSize = plen;
			prefs.frameInfo.contentChecksumFlag =
			    LZ4F_contentChecksumEnabled;
			prefs.frameInfo.blockChecksumFlag =
			    LZ4F_blockChecksumEnabled;
			prefs.frameInfo.blockSizeID = LZ4F_max4MB;
		}
		if (k < 2) {
			n = LZ4F_compressFrame(p, 2 * plen + 65536, b + HDR,
			    plen, k ? &prefs : NULL);
		} else {
			n = LZ4F_compressFrame(p, plen + 65536, b + HDR, half,
			    NULL);
			ck_assert(!LZ4F_isError(n));
			n += LZ4F_compressFrame(p + n, plen + 65536,
			    b + HDR + half, plen - half, NULL);
		}
		ck_assert(!LZ4F_isError(n));
		c = wrap(b, KS_COMPRESSION_LZ4, p, n, &clen);
		KT_OK(ks_batch_decompress(c, clen, &d, &dlen));
		ck_assert(dlen == len && memcmp(d, b, len) == 0);
		free(d);
		free(c);
	}

	/* zstd: streamed (no content size in the header), and two frames. */
	for (k = 0; k < 2; k++) {
		ZSTD_CCtx *cc = ZSTD_createCCtx();
		ZSTD_inBuffer ib = { b + HDR, k ? half : plen, 0 };
		ZSTD_outBuffer ob = { p, 2 * plen + 65536, 0 };
		ck_assert_ptr_nonnull(cc);
		ck_assert(!ZSTD_isError(ZSTD_compressStream2(cc, &ob, &ib,
		    ZSTD_e_continue)));
		ck_assert_int_eq(ZSTD_compressStream2(cc, &ob, &ib,
		                     ZSTD_e_end), 0);
		ck_assert_uint_eq(ZSTD_getFrameContentSize(p, ob.pos),
		    ZSTD_CONTENTSIZE_UNKNOWN);
		n = ob.pos;
		if (k) {
			n += ZSTD_compress(p + n, 2 * plen + 65536 - n,
			    b + HDR + half, plen - half, 1);
			ck_assert(!ZSTD_isError(n));
		}
		ZSTD_freeCCtx(cc);
		c = wrap(b, KS_COMPRESSION_ZSTD, p, n, &clen);
		KT_OK(ks_batch_decompress(c, clen, &d, &dlen));
		ck_assert(dlen == len && memcmp(d, b, len) == 0);
		free(d);
		free(c);
	}
	free(p);
	free(b);
	kt_rmrf(dir);
	free(path);
	free(dir);
}
END_TEST

START_TEST(test_truncated)
{
	size_t len, clen, tlen, dlen;
	uint8_t *b = encode(TEXT, 0, 300, &len), *c, *t;
	size_t cuts[5];
	void *d;
	int k, i;

	for (k = 0; k < NCODECS; k++) {
		KT_OK(ks__batch_compress(codecs[k], b, len, (void **)&c,
		    &clen));
		cuts[0] = 1;
		cuts[1] = 5;
		cuts[2] = (clen - HDR) / 2;
		cuts[3] = clen - HDR - 1;
		cuts[4] = clen - HDR;
		for (i = 0; i < 5; i++) {
			t = wrap(c, codecs[k], c + HDR, clen - HDR - cuts[i],
			    &tlen);
			d = t;
			ck_assert_msg(ks_batch_decompress(t, tlen, &d, &dlen) ==
			        KS_ECORRUPT, "%s cut %zu",
			    ks_compression_name(codecs[k]), cuts[i]);
			ck_assert_ptr_null(d);
			free(t);
		}
		free(c);
	}
	free(b);
}
END_TEST

/* Damaged compressed bytes never crash or overrun (run under ASan). */
START_TEST(test_flipped_bytes)
{
	uint64_t rng = kt_seed(SEED);
	size_t len, clen, dlen;
	uint8_t *b = encode(TEXT, 0, 50, &len), *c, *t;
	ks__zbuf_t z = { NULL, 0 };
	int k, i, j, rc, ok = 0;

	for (k = 0; k < NCODECS; k++) {
		KT_OK(ks__batch_compress(codecs[k], b, len, (void **)&c,
		    &clen));
		ck_assert_ptr_nonnull(t = malloc(clen));
		for (i = 0; i < 400; i++) {
			ks_batch_iter_t it;
			ks_record_t r;
			void *d;
			memcpy(t, c, clen);
			for (j = 0; j < 1 + i % 3; j++) {
				rng = kt_mix64(rng);
				t[HDR + rng % (clen - HDR)] ^=
				    (uint8_t)(1u << (rng >> 61));
			}
			/* The iterator path, which checks no CRC. */
			ks_batch_iter_init(&it, t, clen, 0);
			while ((rc = ks__batch_iter_next_z(&it, &r, &z)) == 1)
				;
			ck_assert_msg(rc == 0 || rc == KS_ECORRUPT ||
			        rc == KS_ERECORD, "%s: %s",
			    ks_compression_name(codecs[k]), ks_errname(rc));
			/* The public call, with the CRC made right. */
			fix(t, clen);
			rc = ks_batch_decompress(t, clen, &d, &dlen);
			ck_assert_msg(rc == 0 || rc == KS_ECORRUPT ||
			        rc == KS_ERECORD, "%s: %s",
			    ks_compression_name(codecs[k]), ks_errname(rc));
			if (rc == 0) {
				KT_OK(ks_batch_validate(d, dlen, NULL));
				free(d);
				ok++;
			}
		}
		free(t);
		free(c);
	}
	(void)ok;
	ks__zbuf_free(&z);
	free(b);
}
END_TEST

/* Records expanding past the cap fail without taking more memory. */
START_TEST(test_bomb)
{
	size_t big = KS__DECOMPRESS_MAX + 4096, len, clen, n, dlen;
	size_t pcap = snappy_max_compressed_length(big);
	uint8_t *zeros, *p, *c, *b = encode(TEXT, 0, 1, &len);
	ks__zbuf_t z = { NULL, 0 };
	void *d;
	int k;

	ck_assert_ptr_nonnull(zeros = calloc(1, big));
	ck_assert_ptr_nonnull(p = malloc(pcap));
	for (k = 0; k < NCODECS; k++) {
		switch (codecs[k]) {
		case KS_COMPRESSION_GZIP: {
			z_stream zs;
			memset(&zs, 0, sizeof zs);
			ck_assert_int_eq(deflateInit2(&zs, 1, Z_DEFLATED, 31, 8,
			                     Z_DEFAULT_STRATEGY), Z_OK);
			zs.next_in = zeros;
			zs.avail_in = (uInt)big;
			zs.next_out = p;
			zs.avail_out = (uInt)(big / 8);
			ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
			n = zs.total_out;
			deflateEnd(&zs);
			break;
		}
		case KS_COMPRESSION_SNAPPY:
			n = pcap;
			ck_assert_int_eq(snappy_compress((char *)zeros, big,
			                     (char *)p, &n), SNAPPY_OK);
			break;
		case KS_COMPRESSION_LZ4:
			n = LZ4F_compressFrame(p, pcap, zeros, big, NULL);
			ck_assert(!LZ4F_isError(n));
			break;
		default:
			n = ZSTD_compress(p, pcap, zeros, big, 1);
			ck_assert(!ZSTD_isError(n));
			break;
		}
		c = wrap(b, codecs[k], p, n, &clen);
		ck_assert_int_eq(ks_batch_decompress(c, clen, &d, &dlen),
		    KS_ECORRUPT);
		ck_assert_int_eq(ks__batch_inflate(c, clen, 0, &z, &dlen),
		    KS_ECORRUPT);
		ck_assert_uint_le(z.cap, HDR + KS__DECOMPRESS_MAX + 1);
		/* A caller's smaller limit holds too. */
		ck_assert_int_eq(ks__batch_inflate(c, clen, 1 << 20, &z, &dlen),
		    KS_ECORRUPT);
		free(c);
	}
	/* The limit is exact: records of just that size pass. */
	free(b);
	b = encode(TEXT, 0, 2000, &len);
	for (k = 0; k < NCODECS; k++) {
		KT_OK(ks__batch_compress(codecs[k], b, len, (void **)&c,
		    &clen));
		ks__zbuf_free(&z);
		KT_OK(ks__batch_inflate(c, clen, len - HDR, &z, &dlen));
		ck_assert(dlen == len && memcmp(z.p, b, len) == 0);
		ck_assert_int_eq(ks__batch_inflate(c, clen, len - HDR - 1, &z,
		                     &dlen), KS_ECORRUPT);
		free(c);
	}
	/* A raw snappy block that claims 1 GiB: refused before allocating. */
	memcpy(p, "\x80\x80\x80\x80\x04\x00\x00", 7);
	c = wrap(b, KS_COMPRESSION_SNAPPY, p, 7, &clen);
	ks__zbuf_free(&z);
	ck_assert_int_eq(ks__batch_inflate(c, clen, 0, &z, &dlen),
	    KS_ECORRUPT);
	ck_assert_uint_lt(z.cap, 1 << 20);
	free(c);
	/* What kstream would not read back, it does not write. */
	free(b);
	b = malloc(big + HDR);
	ck_assert_ptr_nonnull(b);
	{
		uint8_t *one = encode(TEXT, 0, 1, &len);
		memcpy(b, one, HDR);
		free(one);
	}
	memset(b + HDR, 0, big);
	fix(b, HDR + big);
	ck_assert_int_eq(ks__batch_compress(KS_COMPRESSION_ZSTD, b, HDR + big,
	                     &d, &dlen), KS_EMSGSIZE);
	ks__zbuf_free(&z);
	free(zeros);
	free(p);
	free(b);
}
END_TEST

/* ---- through the library ------------------------------------------------ */

/* A log of batches of 40 records, codecs in turn (none included). */
#define PER 40
static void fill_log(ks_log_t *log, int nbatches)
{
	int i;
	for (i = 0; i < nbatches; i++) {
		size_t len, clen;
		uint8_t *b = encode(TEXT, (int64_t)i * PER, PER, &len);
		void *c;
		ks_append_info_t info;
		KT_OK(ks__batch_compress(i % 5, b, len, &c, &clen));
		KT_OK(ks_log_append_batch(log, c, clen, 0, &info));
		ck_assert_int_eq(info.base_offset, (int64_t)i * PER);
		free(c);
		free(b);
	}
}

START_TEST(test_log_iter)
{
	char *dir = kt_tmpdir("compress_log");
	ks_log_config_t cfg;
	ks_log_t *log;
	ks_log_iter_t *it;
	ks_log_view_t v;
	ks_record_t r;
	struct kt_gen g;
	char why[256];
	int64_t off, start, found;
	int rc, seen[5] = { 0 };

	ks_log_config_init(&cfg);
	cfg.segment_bytes = 16384;
	log = kt_open_log(dir, &cfg);
	fill_log(log, 25);
	/* The batches are stored as they came, compressed. */
	for (off = 0; off < 25 * PER; off += PER) {
		KT_OK(ks_log_read(log, off, 1, &v));
		seen[attr_codec(v.data)]++;
		ks_log_view_release(&v);
	}
	for (rc = 0; rc < 5; rc++)
		ck_assert_int_eq(seen[rc], 5);

	/* From the start, and from inside compressed batches. */
	for (start = 0; start < 25 * PER; start += 37) {
		KT_OK(ks_log_iter_new(log, start, &it));
		off = start;
		while ((rc = ks_log_iter_next(it, &r)) == 1) {
			gen(TEXT, off, &g);
			ck_assert_int_eq(r.offset, off);
			ck_assert_msg(kt_gen_compare(&g, off, &r, KT_WHY_FIELD,
			                  why, sizeof why) == 0, "%s", why);
			off++;
		}
		ck_assert_int_eq(rc, 0);
		ck_assert_int_eq(off, 25 * PER);
		ks_log_iter_free(it);
		if (start > 200)
			start += 150;
	}
	/* A time lookup lands on the exact record inside a batch. */
	KT_OK(ks_log_offset_for_time(log, T0 + 3 * PER + 17, &found));
	ck_assert_int_eq(found, 3 * PER + 17);
	KT_OK(ks_log_offset_for_time(log, T0 + 21 * PER + 1, &found));
	ck_assert_int_eq(found, 21 * PER + 1);

	KT_OK(ks_log_close(log));
	kt_rmrf(dir);
	free(dir);
}
END_TEST

/* A compressed batch that does not decode stops readers, clearly. */
START_TEST(test_log_undecodable)
{
	char *dir = kt_tmpdir("compress_bad");
	size_t len, clen;
	uint8_t *b, *c;
	ks_log_config_t cfg;
	ks_log_iter_t *it;
	ks_log_t *log;
	ks_record_t r;
	int64_t off = 0;
	int rc;

	ks_log_config_init(&cfg);
	cfg.log_cb = NULL;  /* the damage is expected here */
	log = kt_open_log(dir, &cfg);
	fill_log(log, 1);                          /* 0-39, readable */
	b = encode(TEXT, 40, PER, &len);
	c = wrap(b, KS_COMPRESSION_ZSTD, "not a zstd frame", 16, &clen);
	KT_OK(ks_log_append_batch(log, c, clen, 0, NULL)); /* 40-79 */
	free(c);
	free(b);
	b = encode(TEXT, 80, PER, &len);
	KT_OK(ks__batch_compress(KS_COMPRESSION_LZ4, b, len, (void **)&c,
	    &clen));
	KT_OK(ks_log_append_batch(log, c, clen, 0, NULL)); /* 80-119 */
	free(c);
	free(b);

	KT_OK(ks_log_iter_new(log, 0, &it));
	while ((rc = ks_log_iter_next(it, &r)) == 1)
		ck_assert_int_eq(r.offset, off++);
	ck_assert_int_eq(off, PER);
	ck_assert_int_eq(rc, KS_ECORRUPT);
	ck_assert_int_eq(ks_log_iter_next(it, &r), KS_ECORRUPT);
	/* Past it, reading goes on. */
	KT_OK(ks_log_iter_seek(it, 2 * PER));
	for (off = 2 * PER; (rc = ks_log_iter_next(it, &r)) == 1; off++)
		ck_assert_int_eq(r.offset, off);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(off, 3 * PER);
	ks_log_iter_free(it);
	KT_OK(ks_log_close(log));
	kt_rmrf(dir);
	free(dir);
}
END_TEST

static ks_store_t *open_store(char **dirp)
{
	ks_store_config_t cfg;
	ks_store_t *store;
	*dirp = kt_tmpdir("compress_store");
	ks_store_config_init(&cfg);
	cfg.flags = KS_STORE_CREATE;
	cfg.cleaner_interval_ms = 0;
	KT_OK(ks_store_open(*dirp, &cfg, &store));
	return store;
}

static ks_log_t *topic_log(ks_store_t *store, const char *name, int create,
    ks_topic_t **tp)
{
	ks_topic_config_t tc;
	ks_log_t *log;
	if (create) {
		ks_topic_config_init(&tc);
		tc.partitions = 1;
		KT_OK(ks_topic_create(store, name, &tc));
	}
	KT_OK(ks_topic_open(store, name, tp));
	KT_OK(ks_topic_partition(*tp, 0, &log));
	return log;
}

START_TEST(test_consumer)
{
	char *dir;
	ks_store_t *store = open_store(&dir);
	ks_consumer_config_t cc;
	ks_consumer_t *cons;
	ks_topic_t *t;
	ks_topic_partition_t tp = { "c", 0, KS_OFFSET_BEGINNING };
	const ks_message_t *m;
	struct kt_gen g;
	char why[256];
	int64_t off = 0;
	int n, i, polls = 0;

	fill_log(topic_log(store, "c", 1, &t), 30);
	ks_consumer_config_init(&cc);
	/* Polls that end inside batches and span several. */
	cc.max_poll_records = 97;
	KT_OK(ks_consumer_new(store, &cc, &cons));
	KT_OK(ks_consumer_assign(cons, &tp, 1));
	while (off < 30 * PER) {
		n = ks_consumer_poll(cons, 5000, &m);
		ck_assert_int_gt(n, 0);
		polls++;
		/* Every record of the poll still valid at its end. */
		for (i = 0; i < n; i++, off++) {
			gen(TEXT, off, &g);
			ck_assert_int_eq(m[i].rec.offset, off);
			ck_assert_msg(kt_gen_compare(&g, off, &m[i].rec,
			                  KT_WHY_FIELD, why, sizeof why) == 0,
			    "%s", why);
		}
	}
	ck_assert_int_eq(off, 30 * PER);
	ck_assert_int_ge(polls, 30 * PER / 97);
	ck_assert_int_eq(ks_consumer_poll(cons, 0, &m), 0);
	KT_OK(ks_consumer_close(cons));
	ks_topic_release(t);
	KT_OK(ks_store_close(store));
	kt_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_producer)
{
	char *dir;
	ks_store_t *store = open_store(&dir);
	ks_producer_config_t pc;
	ks_producer_t *p;
	ks_topic_t *t;
	ks_log_t *log;
	ks_log_iter_t *it;
	ks_log_view_t v;
	ks_produce_result_t res[50];
	ks_record_t recs[50], r;
	struct kt_gen g[50];
	char why[256];
	int codec, i, rc;
	int64_t off;

	log = topic_log(store, "p", 1, &t);
	for (codec = 0; codec <= KS_COMPRESSION_ZSTD; codec++) {
		int64_t base = ks_log_end_offset(log);
		ks_producer_config_init(&pc);
		pc.compression = codec;
		KT_OK(ks_producer_new(store, &pc, &p));
		for (i = 0; i < 50; i++) {
			gen(TEXT, base + i, &g[i]);
			recs[i] = g[i].rec;
		}
		KT_OK(ks_produce(p, "p", 0, recs, 50, 0, res));
		ck_assert_int_eq(res[49].offset, base + 49);
		ks_producer_free(p);
		/* On disk: one batch, with the codec's bits. */
		KT_OK(ks_log_read(log, base, 1, &v));
		ck_assert_int_eq(attr_codec(v.data), codec);
		ks_log_view_release(&v);
		KT_OK(ks_log_iter_new(log, base, &it));
		for (off = base; (rc = ks_log_iter_next(it, &r)) == 1; off++)
			ck_assert_msg(kt_gen_compare(&g[off - base], off, &r,
			                  KT_WHY_FIELD, why, sizeof why) == 0,
			    "%s", why);
		ck_assert_int_eq(rc, 0);
		ck_assert_int_eq(off, base + 50);
		ks_log_iter_free(it);
	}
	ks_producer_config_init(&pc);
	pc.compression = 5;
	ck_assert_int_eq(ks_producer_new(store, &pc, &p), KS_EINVAL);
	ck_assert_ptr_null(p);
	ks_topic_release(t);
	KT_OK(ks_store_close(store));
	kt_rmrf(dir);
	free(dir);
}
END_TEST

/*
 * Compaction over compressed batches: 10 keys written over and over, in
 * batches of each codec; afterwards each key's latest value is there, the
 * batches that lost records are still compressed with their codec, and
 * the offsets are those the records had.
 */
START_TEST(test_compaction)
{
	char *dir = kt_tmpdir("compress_compact");
	ks_log_config_t cfg;
	ks_compact_config_t cc;
	ks_compact_stat_t st;
	ks_log_t *log;
	ks_log_iter_t *it;
	ks_log_view_t v;
	ks_record_t r;
	int64_t latest[10], off;
	int i, k, rc, seen = 0, codec_seen[5] = { 0 };
	const int nb = 30, per = 20;

	ks_log_config_init(&cfg);
	cfg.segment_bytes = 4096;
	log = kt_open_log(dir, &cfg);
	for (i = 0; i < nb; i++) {
		ks_record_t recs[20];
		char keys[20][8], vals[20][48];
		size_t len, clen, size;
		uint8_t *b;
		void *c;
		for (k = 0; k < per; k++) {
			int64_t o = (int64_t)i * per + k;
			memset(&recs[k], 0, sizeof recs[k]);
			snprintf(keys[k], sizeof keys[k], "k%d", (int)(o % 10));
			snprintf(vals[k], sizeof vals[k],
			    "value of offset %06" PRId64 " padding padding", o);
			recs[k].key = keys[k];
			recs[k].key_len = strlen(keys[k]);
			recs[k].value = vals[k];
			recs[k].value_len = strlen(vals[k]);
			recs[k].timestamp = T0 + o;
			latest[o % 10] = o;
		}
		KT_OK(ks_batch_size(recs, (size_t)per, &size));
		b = malloc(size);
		KT_OK(ks_batch_encode(b, size, recs, (size_t)per, 0, 0, &len));
		KT_OK(ks__batch_compress(1 + i % 4, b, len, &c, &clen));
		KT_OK(ks_log_append_batch(log, c, clen, 0, NULL));
		free(c);
		free(b);
	}
	KT_OK(ks_log_roll(log));
	ks_compact_config_init(&cc);
	cc.min_cleanable_dirty_ratio = 0.0;
	KT_OK(ks_log_compact(log, &cc, T0 + 1000, &st));
	ck_assert_uint_eq(st.records_kept, 10);
	ck_assert_uint_eq(st.records_removed, (uint64_t)(nb * per - 10));

	KT_OK(ks_log_iter_new(log, ks_log_start_offset(log), &it));
	while ((rc = ks_log_iter_next(it, &r)) == 1) {
		char want[48];
		int key = atoi((const char *)r.key + 1);
		ck_assert_int_eq(r.offset, latest[key]);
		snprintf(want, sizeof want,
		    "value of offset %06" PRId64 " padding padding", r.offset);
		ck_assert(kt_same_bytes(r.value, r.value_len, want,
		    strlen(want)));
		ck_assert_int_eq(r.timestamp, T0 + r.offset);
		seen++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(seen, 10);
	ks_log_iter_free(it);
	/* The surviving batches kept their codec (batch i used 1 + i % 4). */
	for (k = 0; k < 10; k++) {
		off = latest[k];
		KT_OK(ks_log_read(log, off, 1, &v));
		KT_OK(ks_batch_validate(v.data, v.len, NULL));
		ck_assert_int_eq(attr_codec(v.data), 1 + (off / per) % 4);
		codec_seen[attr_codec(v.data)]++;
		ks_log_view_release(&v);
	}
	ck_assert_int_eq(codec_seen[0], 0);
	KT_OK(ks_log_close(log));
	kt_rmrf(dir);
	free(dir);
}
END_TEST

#else /* !KS_WITH_COMPRESSION */

START_TEST(test_without_codecs)
{
	char *dir = kt_tmpdir("compress_none");
	size_t len, clen, dlen;
	uint8_t *b = encode(TEXT, 0, 5, &len), *c;
	ks_producer_config_t pc;
	ks_producer_t *prod;
	ks_store_config_t sc;
	ks_store_t *store;
	ks_log_iter_t *it;
	ks_log_t *log;
	ks_record_t r;
	void *d;
	int k;

	log = kt_open_log(dir, NULL);
	for (k = 0; k < NCODECS; k++) {
		ck_assert_int_eq(ks_compression_parse(
		                     ks_compression_name(codecs[k])),
		    KS_ECOMPRESSION);
		ck_assert_int_eq(ks__batch_compress(codecs[k], b, len, &d,
		                     &dlen), KS_ECOMPRESSION);
		c = wrap(b, codecs[k], b + HDR, len - HDR, &clen);
		ck_assert_int_eq(attr_codec(c), codecs[k]);
		ck_assert_int_eq(ks_batch_decompress(c, clen, &d, &dlen),
		    KS_ECOMPRESSION);
		KT_OK(ks_log_append_batch(log, c, clen, 0, NULL));
		free(c);
	}
	/* Stored as they came, they cannot be read here. */
	KT_OK(ks_log_iter_new(log, 0, &it));
	ck_assert_int_eq(ks_log_iter_next(it, &r), KS_ECOMPRESSION);
	ks_log_iter_free(it);
	KT_OK(ks_log_close(log));
	kt_rmrf(dir);
	free(dir);

	dir = kt_tmpdir("compress_none_store");
	ks_store_config_init(&sc);
	sc.flags = KS_STORE_CREATE;
	sc.cleaner_interval_ms = 0;
	KT_OK(ks_store_open(dir, &sc, &store));
	ks_producer_config_init(&pc);
	pc.compression = KS_COMPRESSION_LZ4;
	ck_assert_int_eq(ks_producer_new(store, &pc, &prod), KS_ECOMPRESSION);
	KT_OK(ks_store_close(store));
	kt_rmrf(dir);
	free(dir);
	free(b);
}
END_TEST

#endif /* KS_WITH_COMPRESSION */

Suite *compress_suite(void)
{
	Suite *s = suite_create("compress");
	TCase *tc = tcase_create("compress");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_names);
#ifdef KS_WITH_COMPRESSION
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_empty_records);
	tcase_add_test(tc, test_codec_none_and_args);
	tcase_add_test(tc, test_bad_codec_ids);
	tcase_add_test(tc, test_snappy_framings);
	tcase_add_test(tc, test_foreign_streams);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_flipped_bytes);
	tcase_add_test(tc, test_bomb);
	tcase_add_test(tc, test_log_iter);
	tcase_add_test(tc, test_log_undecodable);
	tcase_add_test(tc, test_consumer);
	tcase_add_test(tc, test_producer);
	tcase_add_test(tc, test_compaction);
#else
	tcase_add_test(tc, test_without_codecs);
#endif
	suite_add_tcase(s, tc);
	return s;
}
