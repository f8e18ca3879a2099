/*
 * kstream/record.h: records and Kafka RecordBatch v2, the one record format.
 *
 * A batch is stored on disk and sent on the wire byte for byte as produced
 * (docs/format.md). These functions encode, validate and decode batches in
 * memory; they allocate nothing and are safe to call from any thread on
 * distinct buffers.
 */
#ifndef KSTREAM_RECORD_H
#define KSTREAM_RECORD_H

#include <kstream/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KS_BATCH_MAGIC 2
#define KS_BATCH_HEADER_SIZE 61     /* bytes before the first record */
#define KS_BATCH_LOG_OVERHEAD 12    /* baseOffset + batchLength */

/* Batch attribute bits. */
/* 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd */
#define KS_BATCH_COMPRESSION_MASK 0x07
#define KS_BATCH_TIMESTAMP_LOG_APPEND 0x08
#define KS_BATCH_TRANSACTIONAL 0x10
#define KS_BATCH_CONTROL 0x20

/* Compression codecs: attributes & KS_BATCH_COMPRESSION_MASK. */
#define KS_COMPRESSION_NONE 0
#define KS_COMPRESSION_GZIP 1
#define KS_COMPRESSION_SNAPPY 2
#define KS_COMPRESSION_LZ4 3
#define KS_COMPRESSION_ZSTD 4

/* A record header. value NULL is a null value (value_len then 0). */
typedef struct ks_header {
	const void *key;
	size_t key_len;
	const void *value;
	size_t value_len;
} ks_header_t;

/*
 * A record. As input (append, encode): offset is ignored, timestamp < 0 means
 * "now", key or value NULL means null (a null value is a tombstone), and
 * headers/header_count describe the headers.
 *
 * As output (iterators): every pointer points into the batch bytes the
 * iterator walks (zero copy) and stays valid exactly as long as those bytes;
 * headers is NULL and header_count counts them: read them with
 * ks_record_header_next(). The _raw fields are private.
 */
typedef struct ks_record {
	int64_t offset;
	int64_t timestamp;
	const void *key;
	size_t key_len;
	const void *value;
	size_t value_len;
	const ks_header_t *headers;
	size_t header_count;
	const uint8_t *_hdr_raw;
	size_t _hdr_raw_len;
} ks_record_t;

/*
 * ks_record_header_next: the next header of an output record. *pos starts at
 * 0 and is advanced; returns 1 with *h filled, 0 after the last header, or
 * KS_ERECORD if the encoded headers are malformed.
 */
KS_API int ks_record_header_next(const ks_record_t *rec, size_t *pos,
    ks_header_t *h);

/* Fixed fields of a batch header, decoded. */
typedef struct ks_batch_info {
	int64_t base_offset;
	int32_t batch_length;   /* bytes after the batchLength field */
	int32_t leader_epoch;
	int8_t magic;
	uint32_t crc;
	int16_t attributes;
	int32_t last_offset_delta;
	int64_t base_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t record_count;
} ks_batch_info_t;

/*
 * ks_batch_size: the encoded size of one uncompressed batch holding
 * recs[0..n): exact, except when records with timestamps < 0 ("now") are
 * mixed with explicit ones, where it is an upper bound that
 * ks_batch_encode never exceeds. KS_EINVAL for n == 0 or NULL pointers,
 * KS_EMSGSIZE beyond INT32_MAX.
 */
KS_API int ks_batch_size(const ks_record_t *recs, size_t n, size_t *size);

/*
 * ks_batch_encode: encodes recs[0..n) as one uncompressed RecordBatch v2 into
 * buf (cap bytes; -ENOBUFS if too small), with base offset base_offset,
 * producer id -1 and CreateTime timestamps (a record timestamp < 0 becomes
 * now_ms). The CRC is computed. *len receives the encoded size.
 */
KS_API int ks_batch_encode(void *buf, size_t cap, const ks_record_t *recs,
    size_t n, int64_t base_offset, int64_t now_ms, size_t *len);

/*
 * ks_batch_parse: reads the header of the batch at the start of buf and
 * checks what can be checked without reading the records: length (the whole
 * batch must lie within len), magic, and the header's own consistency.
 * Returns 0, KS_EBATCH (truncated or inconsistent), or KS_EMAGIC.
 */
KS_API int ks_batch_parse(const void *buf, size_t len, ks_batch_info_t *info);

/*
 * ks_batch_validate: ks_batch_parse, then the CRC-32C (KS_ECRC), then, for
 * uncompressed batches, every record: its framing, offset deltas in order
 * and the record count (KS_ERECORD). Compressed batches are checked up to the
 * CRC. On success *info is filled.
 */
KS_API int ks_batch_validate(const void *buf, size_t len,
    ks_batch_info_t *info);

/*
 * Record iterator over a buffer of whole batches (a log view, a Fetch
 * response). Stack-allocated; ks_batch_iter_init never fails. Records with
 * an offset below min_offset are skipped (a read starts at the batch that
 * holds the wanted offset).
 */
typedef struct ks_batch_iter {
	const uint8_t *_buf, *_end;   /* remaining batches */
	const uint8_t *_rec, *_rend;  /* remaining records of the current batch */
	int64_t _base_offset, _base_ts, _max_ts;
	int32_t _left;
	int16_t _attr;
	int64_t _min_offset;
} ks_batch_iter_t;

KS_API void ks_batch_iter_init(ks_batch_iter_t *it, const void *buf,
    size_t len, int64_t min_offset);

/*
 * ks_batch_iter_next: 1 with *rec filled, 0 when the buffer is exhausted (a
 * trailing partial batch is ignored, as Kafka consumers do, and left
 * unconsumed in _buf), or a negative error, which repeats on every later
 * call: KS_EBATCH, KS_EMAGIC, KS_ERECORD for malformed data,
 * KS_ECOMPRESSION for a compressed batch (ks_batch_decompress() makes an
 * uncompressed copy to iterate; log iterators and consumers decompress on
 * their own). Control batches, and batches
 * wholly below min_offset, are skipped. Batches are not CRC-checked here:
 * the log checked them on append and on recovery. An output record may be
 * appended again as input: its encoded headers are copied as they are.
 */
KS_API int ks_batch_iter_next(ks_batch_iter_t *it, ks_record_t *rec);

/*
 * ks_batch_decompress: the compressed batch at the start of batch[0..len)
 * (which must hold it whole) as an uncompressed equivalent: the same
 * header fields (baseOffset, timestamps, producer fields, ...) with the
 * codec bits cleared and batchLength and CRC recomputed. On success *out
 * is a malloc'd buffer of *outlen bytes that the caller owns and releases
 * with free(); on failure *out is NULL. The input's CRC and the records
 * inside are checked. Returns 0, KS_EINVAL (NULL pointers, or a batch that
 * is not compressed), KS_EBATCH / KS_EMAGIC (as ks_batch_parse), KS_ECRC,
 * KS_ECOMPRESSION (codec not built in), KS_ECORRUPT (undecodable data, or
 * records that would expand past 64 MiB), KS_ERECORD or KS_ENOMEM.
 * Records of compressed batches read through a log iterator or a consumer
 * need no call: those decompress them themselves.
 */
KS_API int ks_batch_decompress(const void *batch, size_t len, void **out,
    size_t *outlen);

/*
 * ks_compression_parse: "none", "gzip", "snappy", "lz4" or "zstd" to its
 * KS_COMPRESSION_* value; KS_EINVAL for anything else, KS_ECOMPRESSION
 * for a codec this build left out. ks_compression_name: the reverse,
 * static; "unknown" for other values.
 */
KS_API int ks_compression_parse(const char *name);
KS_API const char *ks_compression_name(int codec);

/* ks_crc32c: CRC-32C (Castagnoli) of buf, continuing from crc (0 to start). */
KS_API uint32_t ks_crc32c(uint32_t crc, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* KSTREAM_RECORD_H */
