/*
 * compress.c: the four codecs Kafka uses for record batches, with Kafka's
 * framings, and the conversion of whole batches between compressed and
 * uncompressed form.
 *
 * Framings (what the Java client writes and librdkafka reads):
 *   gzip    a gzip stream (RFC 1952); zlib-wrapped input is read too, and
 *           so are concatenated members
 *   snappy  xerial framing: "\x82SNAPPY\0", int32 version 1, int32
 *           compatible 1, then chunks of [int32 BE length][raw snappy
 *           block]; input may also be one plain raw snappy block
 *   lz4     LZ4 frames (independent 64 KiB blocks, no content size); input
 *           may hold several frames
 *   zstd    zstd frames, read with the streaming API since the content
 *           size may be absent
 *
 * Decompression takes hostile input: each codec writes only into the room
 * it is given, the output never grows past a limit (a bomb fails), and
 * every failure is KS_ECORRUPT. This is the only file that knows whether
 * the codecs are built in (KS_WITH_COMPRESSION).
 */
#include "core/internal.h"
#include "log/compress.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#ifdef KS_WITH_COMPRESSION
#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>
#endif

#define HDR KS_BATCH_HEADER_SIZE
#define OFF_LENGTH 8
#define OFF_CRC 17
#define OFF_ATTR 21

static const char *const codec_names[] = {
	"none", "gzip", "snappy", "lz4", "zstd"
};

int ks_compression_parse(const char *name)
{
	int i;

	if (!name)
		return KS_EINVAL;
	for (i = 0; i <= KS_COMPRESSION_ZSTD; i++) {
		if (strcmp(name, codec_names[i]) == 0) {
			if (i != KS_COMPRESSION_NONE && !ks__codec_available(i))
				return KS_ECOMPRESSION;
			return i;
		}
	}
	return KS_EINVAL;
}

const char *ks_compression_name(int codec)
{
	if (codec < 0 || codec > KS_COMPRESSION_ZSTD)
		return "unknown";
	return codec_names[codec];
}

int ks__codec_available(int codec)
{
#ifdef KS_WITH_COMPRESSION
	return codec >= KS_COMPRESSION_GZIP && codec <= KS_COMPRESSION_ZSTD;
#else
	(void)codec;
	return 0;
#endif
}

void ks__zbuf_free(ks__zbuf_t *z)
{
	if (!z)
		return;
	free(z->p);
	z->p = NULL;
	z->cap = 0;
}

/* Copies the header of src over dst's, with the codec bits, batchLength
 * and the CRC of a batch of total bytes. */
static void finish_header(uint8_t *dst, const uint8_t *src, int codec,
    size_t total)
{
	uint16_t attr;

	memcpy(dst, src, HDR);
	attr = ks__be16(src + OFF_ATTR);
	attr = (uint16_t)((attr & ~KS_BATCH_COMPRESSION_MASK) | codec);
	ks__put_be16(dst + OFF_ATTR, attr);
	ks__put_be32(dst + OFF_LENGTH, (uint32_t)(total - KS_BATCH_LOG_OVERHEAD));
	ks__put_be32(dst + OFF_CRC,
	    ks_crc32c(0, dst + OFF_ATTR, total - OFF_ATTR));
}

#ifdef KS_WITH_COMPRESSION

/* ---- compression ------------------------------------------------------ */

/* Java's SnappyOutputStream chunk size, which Kafka uses. */
#define SNAPPY_CHUNK (32u << 10)
static const uint8_t xerial_magic[8] = {
	0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0
};
#define XERIAL_HDR 16

/* Each compressor writes in[0..n) to dst (cap bytes, at least the codec's
 * bound) and returns 0 with *dlen set, or an error. */
static int gzip_compress(const uint8_t *in, size_t n, uint8_t *dst,
    size_t cap, size_t *dlen)
{
	z_stream zs;
	int zr;

	memset(&zs, 0, sizeof zs);
	/* windowBits 15 + 16: a gzip header and trailer, as Kafka writes. */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
		Z_DEFAULT_STRATEGY) != Z_OK)
		return KS_ENOMEM;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)n;
	zs.next_out = dst;
	zs.avail_out = (uInt)cap;
	zr = deflate(&zs, Z_FINISH);
	*dlen = cap - zs.avail_out;
	deflateEnd(&zs);
	return zr == Z_STREAM_END ? 0 : KS_ENOMEM;
}

static size_t gzip_bound(size_t n)
{
	/* deflateBound() without a stream, plus the gzip wrapper (18). */
	return (size_t)compressBound((uLong)n) + 18;
}

static size_t snappy_bound(size_t n)
{
	size_t chunks = n / SNAPPY_CHUNK + 1;
	return XERIAL_HDR + chunks * 4 +
	    snappy_max_compressed_length(SNAPPY_CHUNK) * (chunks - 1) +
	    snappy_max_compressed_length(n % SNAPPY_CHUNK);
}

static int snappy_compress_xerial(const uint8_t *in, size_t n, uint8_t *dst,
    size_t cap, size_t *dlen)
{
	uint8_t *p = dst;
	size_t pos = 0;

	memcpy(p, xerial_magic, sizeof xerial_magic);
	ks__put_be32(p + 8, 1);   /* version */
	ks__put_be32(p + 12, 1);  /* minimum compatible version */
	p += XERIAL_HDR;
	/* An empty input is the header alone, as SnappyOutputStream writes. */
	while (pos < n) {
		size_t len = KS__MIN(n - pos, (size_t)SNAPPY_CHUNK);
		size_t out = cap - (size_t)(p - dst) - 4;
		if (snappy_compress((const char *)in + pos, len,
			(char *)p + 4, &out) != SNAPPY_OK)
			return KS_ENOMEM;
		ks__put_be32(p, (uint32_t)out);
		p += 4 + out;
		pos += len;
	}
	*dlen = (size_t)(p - dst);
	return 0;
}

static void lz4_prefs(LZ4F_preferences_t *prefs)
{
	memset(prefs, 0, sizeof *prefs);
	/* Kafka's Java reader handles independent 64 KiB blocks only. */
	prefs->frameInfo.blockSizeID = LZ4F_max64KB;
	prefs->frameInfo.blockMode = LZ4F_blockIndependent;
}

static size_t lz4_bound(size_t n)
{
	LZ4F_preferences_t prefs;
	lz4_prefs(&prefs);
	return LZ4F_compressFrameBound(n, &prefs);
}

static int lz4_compress(const uint8_t *in, size_t n, uint8_t *dst,
    size_t cap, size_t *dlen)
{
	LZ4F_preferences_t prefs;
	size_t r;

	lz4_prefs(&prefs);
	r = LZ4F_compressFrame(dst, cap, in, n, &prefs);
	if (LZ4F_isError(r))
		return KS_ENOMEM;
	*dlen = r;
	return 0;
}

static int zstd_compress(const uint8_t *in, size_t n, uint8_t *dst,
    size_t cap, size_t *dlen)
{
	size_t r = ZSTD_compress(dst, cap, in, n, ZSTD_CLEVEL_DEFAULT);
	if (ZSTD_isError(r))
		return KS_ENOMEM;
	*dlen = r;
	return 0;
}

static int codec_compress(int codec, const uint8_t *in, size_t n,
    uint8_t **out, size_t *outlen)
{
	size_t bound, clen = 0;
	uint8_t *buf;
	int rc;

	switch (codec) {
	case KS_COMPRESSION_GZIP: bound = gzip_bound(n); break;
	case KS_COMPRESSION_SNAPPY: bound = snappy_bound(n); break;
	case KS_COMPRESSION_LZ4: bound = lz4_bound(n); break;
	default: bound = ZSTD_compressBound(n); break;
	}
	if (!(buf = malloc(HDR + bound)))
		return KS_ENOMEM;
	switch (codec) {
	case KS_COMPRESSION_GZIP:
		rc = gzip_compress(in, n, buf + HDR, bound, &clen);
		break;
	case KS_COMPRESSION_SNAPPY:
		rc = snappy_compress_xerial(in, n, buf + HDR, bound, &clen);
		break;
	case KS_COMPRESSION_LZ4:
		rc = lz4_compress(in, n, buf + HDR, bound, &clen);
		break;
	default:
		rc = zstd_compress(in, n, buf + HDR, bound, &clen);
		break;
	}
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = HDR + clen;
	return 0;
}

/* ---- decompression ---------------------------------------------------- */

/*
 * The output's records go to z->p + HDR; "used" counts them. The room is
 * what z holds, but never more than limit.
 */
static size_t zb_room(const ks__zbuf_t *z, size_t limit)
{
	size_t r = z->cap > HDR ? z->cap - HDR : 0;
	return KS__MIN(r, limit);
}

/* Makes room for at least n bytes of records (n <= limit). */
static int zb_fit(ks__zbuf_t *z, size_t n)
{
	uint8_t *p;

	if (z->cap >= HDR + n)
		return 0;
	if (!(p = realloc(z->p, HDR + n)))
		return KS_ENOMEM;
	z->p = p;
	z->cap = HDR + n;
	return 0;
}

/* Grows a full room (used bytes) geometrically; KS_ECORRUPT once the
 * output would pass limit. */
static int zb_more(ks__zbuf_t *z, size_t used, size_t need, size_t limit)
{
	size_t n;

	if (used >= limit || need > limit - used)
		return KS_ECORRUPT;
	n = KS__MAX(used + need, used < 8192 ? (size_t)16384 : used * 2);
	return zb_fit(z, KS__MIN(n, limit));
}

static int gzip_decompress(const uint8_t *in, size_t len, ks__zbuf_t *z,
    size_t limit, size_t *outlen)
{
	size_t pos = 0, used = 0;
	z_stream zs;
	int zr, rc = 0;

	memset(&zs, 0, sizeof zs);
	/* 15 + 32: a gzip or a zlib header, detected. */
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		return KS_ENOMEM;
	for (;;) {
		size_t room = zb_room(z, limit), ain, aout;
		if (used == room) {
			if ((rc = zb_more(z, used, 1, limit)) != 0)
				break;
			room = zb_room(z, limit);
		}
		ain = KS__MIN(len - pos, (size_t)UINT_MAX);
		aout = KS__MIN(room - used, (size_t)UINT_MAX);
		zs.next_in = (Bytef *)(uintptr_t)(in + pos);
		zs.avail_in = (uInt)ain;
		zs.next_out = z->p + HDR + used;
		zs.avail_out = (uInt)aout;
		zr = inflate(&zs, Z_NO_FLUSH);
		pos += ain - zs.avail_in;
		used += aout - zs.avail_out;
		if (zr == Z_OK)
			continue;
		if (zr == Z_STREAM_END) {
			/*
			 * Another gzip member follows: read it too. Other
			 * trailing bytes are ignored, as Java's
			 * GZIPInputStream does.
			 */
			if (len - pos >= 2 && in[pos] == 0x1f &&
			    in[pos + 1] == 0x8b && inflateReset(&zs) == Z_OK)
				continue;
			break;
		}
		/* Z_BUF_ERROR with room to write: the input ends early. */
		rc = zr == Z_MEM_ERROR ? KS_ENOMEM : KS_ECORRUPT;
		break;
	}
	inflateEnd(&zs);
	*outlen = used;
	return rc;
}

/* One raw snappy block appended to the records. */
static int snappy_block(const uint8_t *in, size_t len, ks__zbuf_t *z,
    size_t limit, size_t *used)
{
	size_t n;
	int rc;

	if (snappy_uncompressed_length((const char *)in, len, &n) !=
	    SNAPPY_OK)
		return KS_ECORRUPT;
	if (n > zb_room(z, limit) - *used &&
	    (rc = zb_more(z, *used, n, limit)) != 0)
		return rc;
	/* snappy_uncompress checks its input against the claimed length. */
	if (snappy_uncompress((const char *)in, len,
		(char *)z->p + HDR + *used, &n) != SNAPPY_OK)
		return KS_ECORRUPT;
	*used += n;
	return 0;
}

static int snappy_decompress(const uint8_t *in, size_t len, ks__zbuf_t *z,
    size_t limit, size_t *outlen)
{
	size_t pos = XERIAL_HDR, clen;
	int rc = 0;

	*outlen = 0;
	if (len < XERIAL_HDR || memcmp(in, xerial_magic, sizeof xerial_magic))
		return snappy_block(in, len, z, limit, outlen);
	while (pos < len) {
		if (len - pos < 4)
			return KS_ECORRUPT;
		clen = ks__be32(in + pos);
		pos += 4;
		if (clen > len - pos)
			return KS_ECORRUPT;
		if ((rc = snappy_block(in + pos, clen, z, limit, outlen)) != 0)
			return rc;
		pos += clen;
	}
	return 0;
}

static int lz4_decompress(const uint8_t *in, size_t len, ks__zbuf_t *z,
    size_t limit, size_t *outlen)
{
	LZ4F_dctx *dc;
	size_t pos = 0, used = 0, hint = 1;
	int frames = 0, rc = 0;

	if (LZ4F_isError(LZ4F_createDecompressionContext(&dc, LZ4F_VERSION)))
		return KS_ENOMEM;
	while (pos < len || hint != 0) {
		size_t room = zb_room(z, limit), ssz, dsz;
		if (used == room) {
			if ((rc = zb_more(z, used, 1, limit)) != 0)
				break;
			room = zb_room(z, limit);
		}
		ssz = len - pos;
		dsz = room - used;
		hint = LZ4F_decompress(dc, z->p + HDR + used, &dsz, in + pos,
		    &ssz, NULL);
		if (LZ4F_isError(hint)) {
			rc = KS_ECORRUPT;
			break;
		}
		pos += ssz;
		used += dsz;
		if (hint == 0)
			frames++;  /* a frame ends; another may follow */
		else if (ssz == 0 && dsz == 0) {
			rc = KS_ECORRUPT;  /* the input ends mid-frame */
			break;
		}
	}
	if (!rc && !frames)
		rc = KS_ECORRUPT;
	LZ4F_freeDecompressionContext(dc);
	*outlen = used;
	return rc;
}

static int zstd_decompress(const uint8_t *in, size_t len, ks__zbuf_t *z,
    size_t limit, size_t *outlen)
{
	ZSTD_inBuffer ib = { in, len, 0 };
	ZSTD_DCtx *dc;
	size_t used = 0, r;
	int rc = 0, progress;

	if (!(dc = ZSTD_createDCtx()))
		return KS_ENOMEM;
	/* No window larger than the output may be: a hostile frame header
	 * cannot make us allocate more than the cap. */
	ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, 26);
	for (;;) {
		size_t room = zb_room(z, limit), in0 = ib.pos;
		ZSTD_outBuffer ob;
		if (used == room) {
			if ((rc = zb_more(z, used, 1, limit)) != 0)
				break;
			room = zb_room(z, limit);
		}
		ob.dst = z->p + HDR;
		ob.size = room;
		ob.pos = used;
		r = ZSTD_decompressStream(dc, &ob, &ib);
		if (ZSTD_isError(r)) {
			rc = ZSTD_getErrorCode(r) ==
			    ZSTD_error_memory_allocation ? KS_ENOMEM :
			    KS_ECORRUPT;
			break;
		}
		progress = ob.pos != used || ib.pos != in0;
		used = ob.pos;
		if (r == 0 && ib.pos == ib.size)
			break;  /* the last frame is complete and flushed */
		if (!progress) {
			rc = KS_ECORRUPT;  /* the input ends mid-frame */
			break;
		}
	}
	ZSTD_freeDCtx(dc);
	*outlen = used;
	return rc;
}

static int codec_decompress(int codec, const uint8_t *in, size_t len,
    ks__zbuf_t *z, size_t limit, size_t *outlen)
{
	/* A first guess at the room: the codecs then grow it by doubling. */
	size_t guess = KS__MIN(KS__MAX(len * 4, (size_t)4096), limit);
	int rc;

	if ((rc = zb_fit(z, guess)) != 0)
		return rc;
	switch (codec) {
	case KS_COMPRESSION_GZIP:
		return gzip_decompress(in, len, z, limit, outlen);
	case KS_COMPRESSION_SNAPPY:
		return snappy_decompress(in, len, z, limit, outlen);
	case KS_COMPRESSION_LZ4:
		return lz4_decompress(in, len, z, limit, outlen);
	case KS_COMPRESSION_ZSTD:
		return zstd_decompress(in, len, z, limit, outlen);
	default:
		return KS_EBATCH;
	}
}

#else /* !KS_WITH_COMPRESSION */

static int codec_compress(int codec, const uint8_t *in, size_t n,
    uint8_t **out, size_t *outlen)
{
	(void)codec, (void)in, (void)n, (void)out, (void)outlen;
	return KS_ECOMPRESSION;
}

static int codec_decompress(int codec, const uint8_t *in, size_t len,
    ks__zbuf_t *z, size_t limit, size_t *outlen)
{
	(void)codec, (void)in, (void)len, (void)z, (void)limit, (void)outlen;
	return KS_ECOMPRESSION;
}

#endif /* KS_WITH_COMPRESSION */

/* ---- whole batches ---------------------------------------------------- */

int ks__batch_compress(int codec, const void *batch, size_t len,
    void **out, size_t *outlen)
{
	const uint8_t *b = batch;
	ks_batch_info_t bi;
	uint8_t *buf;
	size_t size, clen;
	int rc;

	if (!batch || !out || !outlen)
		return KS_EINVAL;
	if (codec < KS_COMPRESSION_NONE || codec > KS_COMPRESSION_ZSTD)
		return KS_EINVAL;
	if ((rc = ks_batch_parse(batch, len, &bi)) != 0)
		return rc;
	if (bi.attributes & KS_BATCH_COMPRESSION_MASK)
		return KS_EINVAL;
	size = KS_BATCH_LOG_OVERHEAD + (size_t)bi.batch_length;
	if (codec == KS_COMPRESSION_NONE) {
		if (!(buf = malloc(size)))
			return KS_ENOMEM;
		memcpy(buf, b, size);
		*out = buf;
		*outlen = size;
		return 0;
	}
	if (!ks__codec_available(codec))
		return KS_ECOMPRESSION;
	if (size - HDR > KS__DECOMPRESS_MAX)
		return KS_EMSGSIZE;
	if ((rc = codec_compress(codec, b + HDR, size - HDR, &buf, &clen)))
		return rc;
	/* Incompressible records may grow; the batch must still fit. */
	if (clen - KS_BATCH_LOG_OVERHEAD > INT32_MAX) {
		free(buf);
		return KS_EMSGSIZE;
	}
	finish_header(buf, b, codec, clen);
	*out = buf;
	*outlen = clen;
	return 0;
}

int ks__batch_inflate(const void *batch, size_t len, size_t limit,
    ks__zbuf_t *z, size_t *outlen)
{
	const uint8_t *b = batch;
	size_t size, used = 0;
	int codec, rc;

	if (!batch || !z || !outlen || len < HDR)
		return KS_EINVAL;
	codec = ks__be16(b + OFF_ATTR) & KS_BATCH_COMPRESSION_MASK;
	if (codec == KS_COMPRESSION_NONE)
		return KS_EINVAL;
	if (codec > KS_COMPRESSION_ZSTD)
		return KS_EBATCH;
	if (!ks__codec_available(codec))
		return KS_ECOMPRESSION;
	size = KS_BATCH_LOG_OVERHEAD + ks__be32(b + OFF_LENGTH);
	if (size < HDR || size > len)
		return KS_EBATCH;
	if (limit == 0 || limit > KS__DECOMPRESS_MAX)
		limit = KS__DECOMPRESS_MAX;
	/*
	 * One byte of room past the limit: a codec that fills its room
	 * exactly cannot always tell that its stream ended there.
	 */
	rc = codec_decompress(codec, b + HDR, size - HDR, z, limit + 1, &used);
	if (!rc && used > limit)
		rc = KS_ECORRUPT;
	if (rc)
		return rc;
	finish_header(z->p, b, KS_COMPRESSION_NONE, HDR + used);
	*outlen = HDR + used;
	return 0;
}

int ks_batch_decompress(const void *batch, size_t len, void **out,
    size_t *outlen)
{
	ks__zbuf_t z = { NULL, 0 };
	ks_batch_info_t bi;
	size_t n;
	uint8_t *p;
	int rc;

	if (!batch || !out || !outlen)
		return KS_EINVAL;
	*out = NULL;
	*outlen = 0;
	if ((rc = ks_batch_parse(batch, len, &bi)) != 0)
		return rc;
	if (!(bi.attributes & KS_BATCH_COMPRESSION_MASK))
		return KS_EINVAL;
	/* The CRC covers the compressed bytes: damage is named as such. */
	if ((rc = ks_batch_validate(batch, len, NULL)) != 0)
		return rc;
	rc = ks__batch_inflate(batch, len, 0, &z, &n);
	/* The records inside must be well formed, as in any batch. */
	if (!rc)
		rc = ks_batch_validate(z.p, n, NULL);
	if (rc) {
		ks__zbuf_free(&z);
		return rc;
	}
	/* Give back what the doubling overshot. */
	if (z.cap > n + 4096 && (p = realloc(z.p, n)) != NULL)
		z.p = p;
	*out = z.p;
	*outlen = n;
	return 0;
}
