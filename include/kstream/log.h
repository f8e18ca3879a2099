/*
 * kstream/log.h: one partition's log.
 *
 * A log is a directory of segments named as Kafka names them
 * (<20-digit base offset>.log, .index, .timeindex), holding RecordBatch v2
 * batches mapped into memory. See kstream(7), ks_log_open(3) and
 * docs/format.md.
 *
 * Threads: a ks_log_t may be shared by any number of threads. Appends,
 * truncation, deletion and retention are serialised by the log's writer lock;
 * reads (ks_log_read, iterators) never take it and only ever see whole,
 * CRC-checked batches. A ks_log_iter_t belongs to one thread at a time.
 *
 * Processes: one process opens a log for writing (a lock file keeps out a
 * second writer); any number of others may open it with KS_LOG_RDONLY and
 * read what the writer appends as it arrives.
 */
#ifndef KSTREAM_LOG_H
#define KSTREAM_LOG_H

#include <kstream/common.h>
#include <kstream/record.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ks_log ks_log_t;
typedef struct ks_log_iter ks_log_iter_t;

/* ks_log_config_t.flags */
#define KS_LOG_CREATE 0x1 /* create the directory if missing */
#define KS_LOG_RDONLY 0x2 /* read-only: no lock, no recovery, no writes */

/*
 * Log configuration, with Kafka's topic-level names in the comments. Always
 * initialise with ks_log_config_init() (Kafka's defaults), then change
 * fields or call ks_log_config_set() with Kafka's property names.
 */
typedef struct ks_log_config {
	int flags;
	uint64_t segment_bytes;        /* segment.bytes: roll at this size (1 GiB) */
	int64_t segment_ms;            /* segment.ms: roll at this age (7 days) */
	uint32_t segment_index_bytes;  /* segment.index.bytes (10 MiB) */
	uint32_t index_interval_bytes; /* index.interval.bytes (4096) */
	uint32_t max_message_bytes;    /* max.message.bytes: largest batch (1048588) */
	int64_t retention_ms;          /* retention.ms (7 days); -1: unlimited */
	int64_t retention_bytes;       /* retention.bytes (-1: unlimited) */
	/*
	 * Flush policy. flush_messages: 0 none, 1 every append (the append
	 * returns only once durable), N: after every N records. flush_ms: 0
	 * none, T: a background thread flushes at most T ms after an append.
	 * With neither, data is durable only after ks_log_flush() or close.
	 */
	uint64_t flush_messages;       /* flush.messages */
	int64_t flush_ms;              /* flush.ms */
	int32_t leader_epoch;          /* stamped on appended batches (0) */
	ks_log_cb *log_cb;             /* damage and recovery reports; the
	                                  default is ks_log_stderr */
	void *log_opaque;
} ks_log_config_t;

KS_API void ks_log_config_init(ks_log_config_t *cfg);

/*
 * ks_log_config_set: sets a field by Kafka's property name ("segment.bytes",
 * "segment.ms", "segment.index.bytes", "index.interval.bytes",
 * "max.message.bytes", "retention.ms", "retention.bytes", "flush.messages",
 * "flush.ms") from its decimal string. KS_ECONFIG for an unknown name or a
 * value out of range; cfg is unchanged then.
 */
KS_API int ks_log_config_set(ks_log_config_t *cfg, const char *name,
    const char *value);

/*
 * ks_log_open: opens (with KS_LOG_CREATE, creates) the log in directory dir.
 * cfg may be NULL for the defaults; it is copied. After a clean close the
 * log is not scanned; after a crash, only what lies past the last recovery
 * point is scanned, and the first torn or corrupt batch and everything after
 * it are cut (reported through cfg->log_cb and ks_log_stat()).
 * Errors: KS_ELOCKED (another writer holds dir, whose pid the log callback
 * names), KS_ECORRUPT (a damaged log-start-offset file, which recovery may
 * not guess at: reported with its path through the log callback),
 * KS_ECONFIG, -ENOENT, -ENOTDIR, -EACCES, ... On failure *logp is NULL.
 * To release, call ks_log_close().
 */
KS_API int ks_log_open(const char *dir, const ks_log_config_t *cfg,
    ks_log_t **logp);

/*
 * ks_log_close: flushes (unless read-only), trims the active segment's files
 * to their exact size, records a clean shutdown, releases the writer lock
 * and frees the handle. Views still held stay readable until released;
 * iterators still held return KS_ECLOSED and must still be freed. Closing
 * NULL is a no-op. Returns the first flush error, if any (the handle is
 * freed regardless, and no clean shutdown is recorded).
 */
KS_API int ks_log_close(ks_log_t *log);

/* What an append got. */
typedef struct ks_append_info {
	int64_t base_offset;   /* offset of the first appended record */
	int64_t last_offset;   /* offset of the last appended record */
	int64_t durable_offset;/* log's durable offset when the call returned */
	int durable;           /* 1: the records were fsynced before return */
} ks_append_info_t;

/* ks_log_append_batch flags */
#define KS_APPEND_KEEP_OFFSETS 0x1 /* follower: keep the batches' offsets and
                                      epochs; the first must start at the log
                                      end, each later one after the one
                                      before (gaps allowed, as compaction
                                      leaves them) */

/*
 * ks_log_append_batch: appends buf, one or more whole RecordBatch v2
 * batches as a Kafka producer sends them. All are validated first (magic,
 * length, CRC-32C, records, max.message.bytes) and appended all or none.
 * Unless KS_APPEND_KEEP_OFFSETS, base offsets and leader epochs are assigned
 * by overwriting the two fields the CRC leaves out, in the log's copy (buf is
 * not modified). info may be NULL.
 * Errors: KS_EMAGIC, KS_EBATCH, KS_ECRC, KS_ERECORD, KS_EMSGSIZE,
 * KS_ESEQUENCE, KS_ERDONLY, KS_ECLOSED, -ENOSPC, -EIO; the log is unchanged
 * then. One exception: when the fdatasync that flush.messages asks for
 * fails (-EIO), the records are in the log but not acknowledged as durable
 * (info->durable is 0), and every later write fails with KS_EFATAL.
 */
KS_API int ks_log_append_batch(ks_log_t *log, const void *buf, size_t len,
    int flags, ks_append_info_t *info);

/*
 * ks_log_append: encodes recs[0..n) as one batch directly into the log
 * (timestamps < 0 become now) and appends it. Errors as ks_log_append_batch.
 */
KS_API int ks_log_append(ks_log_t *log, const ks_record_t *recs, size_t n,
    ks_append_info_t *info);

/*
 * ks_log_flush: makes every record below upto durable (upto < 0: everything
 * appended so far) and returns once the durable offset covers it. Threads
 * flushing at once share one fdatasync (group commit).
 */
KS_API int ks_log_flush(ks_log_t *log, int64_t upto);

/* Offsets. The log end offset is the offset the next record will get. */
KS_API int64_t ks_log_start_offset(ks_log_t *log);
KS_API int64_t ks_log_end_offset(ks_log_t *log);
/* Every record below the durable offset has been fsynced. A read-only
 * handle returns the end offset it saw at open. */
KS_API int64_t ks_log_durable_offset(ks_log_t *log);

/*
 * A zero-copy view of whole batches, as a Fetch sends them. data points into
 * the mapped segment and stays valid until ks_log_view_release(), even if
 * retention removes the segment meanwhile (its disk is freed on release).
 */
typedef struct ks_log_view {
	const void *data;
	size_t len;
	int64_t base_offset;   /* base offset of the first batch */
	int64_t next_offset;   /* offset after the last batch */
	void *_seg;            /* private */
} ks_log_view_t;

/*
 * ks_log_read: a view of the batches from the one holding offset onwards,
 * within one segment, at most max_bytes long except that the first batch is
 * always whole (as Kafka's Fetch). At the log end, len is 0 and the call
 * succeeds; so it does when no batch lies at or after offset though offset
 * is below the end (compaction removed the last batches), and then
 * next_offset is the log end, where reading goes on. KS_EOFFSET if offset is below the start or above the end;
 * KS_ECORRUPT if the batch there is damaged (below the recovery point,
 * where recovery does not look; reported through the log callback).
 * A read-only log first looks for what the writer appended since.
 * Release with ks_log_view_release() (also after an error: then a no-op).
 */
KS_API int ks_log_read(ks_log_t *log, int64_t offset, size_t max_bytes,
    ks_log_view_t *view);
KS_API void ks_log_view_release(ks_log_view_t *view);

/*
 * Record iterator from an offset to the end of the log, following appends
 * as they come. ks_log_iter_next: 1 with *rec filled (valid until the next
 * call or ks_log_iter_free), 0 at the current end (call again later), < 0 on
 * error (KS_EOFFSET when retention or truncation overtook the iterator,
 * KS_ECORRUPT at a damaged batch, KS_ECOMPRESSION at a compressed one
 * when the library was built without its codec, KS_ECLOSED once the log is
 * closed). Records of compressed batches are decompressed into a buffer the
 * iterator owns; like the others they stay valid until the next call.
 * To release, ks_log_iter_free(). Free NULL is a no-op.
 */
KS_API int ks_log_iter_new(ks_log_t *log, int64_t offset, ks_log_iter_t **itp);
KS_API int ks_log_iter_next(ks_log_iter_t *it, ks_record_t *rec);
KS_API int ks_log_iter_seek(ks_log_iter_t *it, int64_t offset);
KS_API void ks_log_iter_free(ks_log_iter_t *it);

/*
 * ks_log_wait: blocks until the log end is above offset (a record at offset
 * can be read), timeout_ms passes (KS_ETIMEDOUT; < 0 waits for ever, 0 only
 * looks), or returns at once if it already is. Appenders wake waiters
 * without a syscall when there are none. A read-only handle in another
 * process has no signal from the writer: it looks every millisecond.
 */
KS_API int ks_log_wait(ks_log_t *log, int64_t offset, int timeout_ms);

/*
 * Watchers: fn(arg) is called after every append that published records,
 * in the appending thread, outside the log's locks, once per append. It must
 * be quick and must not block or call into this log: the intended use is to
 * set a flag or write an eventfd that a reader waits on (its own event loop,
 * or a consumer watching many logs). ks_log_unwatch removes the pair
 * (KS_EINVAL if it was not registered); once it returns, fn is not called
 * with arg again. A read-only handle, whose writer is another process,
 * has nothing to call: KS_ERDONLY.
 */
typedef void ks_log_wake_fn(void *arg);
KS_API int ks_log_watch(ks_log_t *log, ks_log_wake_fn *fn, void *arg);
KS_API int ks_log_unwatch(ks_log_t *log, ks_log_wake_fn *fn, void *arg);

/*
 * ks_log_offset_for_time: the first offset whose record timestamp is >= ts,
 * or -1 in *offset if there is none (as Kafka's ListOffsets).
 */
KS_API int ks_log_offset_for_time(ks_log_t *log, int64_t ts, int64_t *offset);

/*
 * ks_log_truncate: removes every batch whose last offset is >= offset (a
 * batch holding offset goes whole, as in Kafka); the log end becomes the
 * base offset of the first batch removed. Replication cuts a divergent tail
 * with it. Views already held over the removed range keep their mapping but
 * their bytes may be overwritten by later appends.
 */
KS_API int ks_log_truncate(ks_log_t *log, int64_t offset);

/*
 * ks_log_delete_records: raises the log start offset to offset (Kafka's
 * DeleteRecords) and removes segments entirely below it. Durable on return.
 * KS_EOFFSET if offset is above the log end.
 */
KS_API int ks_log_delete_records(ks_log_t *log, int64_t offset);

/*
 * ks_log_retention: applies retention.ms (segments whose newest timestamp
 * is older than now_ms - retention.ms) and retention.bytes (the oldest
 * segments, as long as what remains is still at least retention.bytes, as
 * Kafka does: the log keeps at least that much), always from the oldest
 * segment on and never removing the active segment. now_ms < 0: the
 * current time. *removed (may be NULL) counts the segments removed.
 */
KS_API int ks_log_retention(ks_log_t *log, int64_t now_ms, size_t *removed);

/*
 * Compaction (Kafka's cleanup.policy=compact). Always initialise the
 * configuration with ks_compact_config_init() (Kafka's defaults).
 */
typedef struct ks_compact_config {
	int64_t delete_retention_ms;   /* delete.retention.ms: how long a
	                                  latest tombstone stays (86400000) */
	int64_t min_compaction_lag_ms; /* min.compaction.lag.ms: records
	                                  younger stay uncompacted (0) */
	double min_cleanable_dirty_ratio; /* min.cleanable.dirty.ratio (0.5):
	                                  skip the pass below it */
} ks_compact_config_t;

/* What a compaction pass did, over the segments it looked at. */
typedef struct ks_compact_stat {
	uint64_t segments_cleaned;   /* segments rewritten */
	uint64_t bytes_before, bytes_after;
	uint64_t records_kept, records_removed;
	uint64_t tombstones_removed; /* of records_removed */
} ks_compact_stat_t;

KS_API void ks_compact_config_init(ks_compact_config_t *cfg);

/*
 * ks_log_compact: one pass of Kafka's log cleaner over the sealed segments
 * (never the active one): keeps, for each key, only its latest record, drops
 * a latest record that is a tombstone older than now_ms -
 * delete_retention_ms, keeps records without a key and records younger than
 * now_ms - min_compaction_lag_ms. Offsets never change. The segments are
 * flushed first, and only durable records decide. Skipped (0, *st zeroed)
 * when the bytes appended since the last pass are less than
 * min_cleanable_dirty_ratio of the sealed segments'. Appends and reads go
 * on meanwhile; views and iterators keep reading the records they had.
 * now_ms < 0: the current time. st may be NULL. Errors: KS_EINVAL,
 * KS_ERDONLY, KS_ECLOSED, KS_EFATAL, KS_EBUSY (a pass on this log is
 * running), KS_ECORRUPT (a damaged batch: nothing more is cleaned),
 * KS_ENOMEM, -ENOSPC, -EIO. See ks_log_compact(3).
 */
KS_API int ks_log_compact(ks_log_t *log, const ks_compact_config_t *cfg,
    int64_t now_ms, ks_compact_stat_t *st);

/*
 * ks_log_roll: closes the active segment and starts a new one at the log
 * end (no-op if the active segment is empty).
 */
KS_API int ks_log_roll(ks_log_t *log);

/* Statistics and the last open's recovery report. */
typedef struct ks_log_stat {
	int64_t start_offset;
	int64_t end_offset;
	int64_t durable_offset;
	uint64_t size_bytes;       /* bytes of batches in all segments */
	uint32_t segment_count;
	int clean_open;            /* 1: opened after a clean close, no scan */
	uint64_t recovery_scanned; /* bytes scanned by recovery at open */
	uint64_t recovery_cut;     /* bytes cut at open */
	int64_t recovery_cut_offset;/* offset where the cut began, -1 if none */
	uint64_t fsyncs;           /* fdatasync calls made */
} ks_log_stat_t;

KS_API int ks_log_stat(ks_log_t *log, ks_log_stat_t *st);

/* ---- checking and repair (kstream check) ----------------------------- */

/* ks_log_check flags */
#define KS_CHECK_REPAIR 0x1  /* cut the damage as recovery would */

/* One problem found, as ks_check_cb receives it (valid during the call). */
typedef struct ks_check_problem {
	const char *file;       /* the damaged file's path */
	uint64_t position;      /* byte position in it */
	int64_t offset;         /* first offset affected; -1 if none */
	int error;              /* KS_ECRC, KS_EBATCH, KS_ESEQUENCE,
	                           KS_ECORRUPT, KS_ELOCKED, -errno... */
	const char *what;       /* one line: what is wrong there */
	int repaired;           /* KS_CHECK_REPAIR fixed it */
} ks_check_problem_t;

typedef void ks_check_cb(void *opaque, const ks_check_problem_t *p);

typedef struct ks_check_stat {
	uint64_t partitions;    /* partition directories checked */
	uint64_t segments;      /* segment files */
	uint64_t batches;       /* batches whose CRC was verified */
	uint64_t bytes;         /* bytes of batches */
	uint64_t problems;      /* problems reported */
	uint64_t repaired;      /* of which repaired */
	uint64_t cut_bytes;     /* bytes of batches removed by the repair */
} ks_check_stat_t;

/*
 * ks_log_check: verifies one partition directory without opening it as a
 * log: every batch of every segment (header, CRC-32C, offsets increasing
 * without overlap and within the segment's base offset, within the
 * segment's size), each offset and time index entry (pointing at the
 * batch it names, increasing), and the files' names. Each problem is
 * passed to cb (may be NULL). With KS_CHECK_REPAIR it then does what
 * recovery does with such damage: the log is cut at the first bad batch
 * (later segments removed) and indexes rebuilt; what follows the cut is
 * lost, and said so. The directory must not be open for writing
 * (KS_ELOCKED). Returns 0 when nothing is wrong or all was repaired,
 * KS_ECORRUPT when damage remains, or the error that stopped it.
 */
KS_API int ks_log_check(const char *dir, int flags, ks_check_cb *cb,
    void *opaque, ks_check_stat_t *st);

/* ks_log_dir: the directory the log was opened on. */
KS_API const char *ks_log_dir(ks_log_t *log);

#ifdef __cplusplus
}
#endif

#endif /* KSTREAM_LOG_H */
