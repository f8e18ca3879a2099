/*
 * compress.h: compressed record batches (compress.c).
 *
 * A compressed batch keeps its 61-byte header plain and compresses only the
 * records after it (attributes bits 0-2 name the codec). The functions here
 * convert whole batches between the two forms, keeping every header field
 * but the codec bits, batchLength and the CRC, which are recomputed.
 *
 * Built without KS_WITH_COMPRESSION every codec is missing: compressing or
 * decompressing fails with KS_ECOMPRESSION. Thread-safe on distinct buffers.
 */
#ifndef KS_LOG_COMPRESS_H
#define KS_LOG_COMPRESS_H

#include <kstream/record.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The most bytes a compressed batch's records may expand to. Decompressing
 * beyond it fails (KS_ECORRUPT: a decompression bomb), and compressing a
 * batch whose records exceed it fails (KS_EMSGSIZE), so that whatever
 * kstream writes it can read back.
 */
#define KS__DECOMPRESS_MAX ((size_t)64 << 20)

/* 1 if codec (KS_COMPRESSION_*, not NONE) is built in, else 0. */
int ks__codec_available(int codec);

/*
 * ks__batch_compress: the uncompressed batch at the start of batch[0..len)
 * (as ks_batch_encode makes it; len must hold it whole and bytes after it
 * are ignored; its CRC is not checked) with its records compressed with
 * codec. *out receives a malloc'd batch of *outlen bytes that the caller
 * frees; codec KS_COMPRESSION_NONE yields a copy. Returns 0, KS_EINVAL
 * (codec not 0-4, an input already compressed, NULL pointers), KS_EBATCH /
 * KS_EMAGIC (not a whole batch), KS_EMSGSIZE (records beyond
 * KS__DECOMPRESS_MAX), KS_ECOMPRESSION (codec not built) or KS_ENOMEM.
 * Nothing is allocated on failure.
 */
int ks__batch_compress(int codec, const void *batch, size_t len,
    void **out, size_t *outlen);

/*
 * A growable output buffer that a reader keeps across batches so that
 * decompression allocates only when a batch is bigger than any before it.
 * Zero-initialise; release with ks__zbuf_free().
 */
typedef struct ks__zbuf {
	uint8_t *p;
	size_t cap;
} ks__zbuf_t;

void ks__zbuf_free(ks__zbuf_t *z);

/*
 * ks__batch_inflate: the compressed batch at batch[0..len) (its header
 * already checked by ks_batch_parse, len its exact size) decompressed into
 * z->p[0..*outlen) as a whole uncompressed batch (codec bits cleared,
 * batchLength and CRC recomputed). z->p may move; earlier contents are
 * lost. The records are not checked here: iterate them. Returns 0,
 * KS_ECORRUPT (undecodable, or more than limit bytes of records; limit 0
 * means KS__DECOMPRESS_MAX), KS_ECOMPRESSION (codec not built), KS_EBATCH,
 * KS_EINVAL (not compressed) or KS_ENOMEM.
 */
int ks__batch_inflate(const void *batch, size_t len, size_t limit,
    ks__zbuf_t *z, size_t *outlen);

/*
 * ks__batch_iter_next_z: ks_batch_iter_next that also walks compressed
 * batches, decompressing each into z (batch.c). Records of a compressed
 * batch point into z and stay valid until the iterator loads its next
 * batch or z is freed; z may be NULL (compressed batches then fail with
 * KS_ECOMPRESSION as in ks_batch_iter_next). Errors are those of
 * ks_batch_iter_next plus those of ks__batch_inflate, and stick.
 */
int ks__batch_iter_next_z(ks_batch_iter_t *it, ks_record_t *rec,
    ks__zbuf_t *z);

#endif /* KS_LOG_COMPRESS_H */
