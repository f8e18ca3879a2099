/*
 * log_metrics.h: what a partition log counts (metrics_impl.h's counters
 * and histograms), for the store's ks_store_metrics().
 *
 * Who adds: the writer under its lock (appends, ks__count1), the one
 * flusher syncing at a time (flushes), readers from any thread (reads,
 * ks__count). Latencies are timed for one call in KS__LOG_SAMPLE: a
 * clock_gettime pair costs about a quarter of a one-record append, so
 * timing every call would slow the hot path; the counters are exact.
 */
#ifndef KS_LOG_METRICS_H
#define KS_LOG_METRICS_H

#include "core/metrics_impl.h"

#include <kstream/log.h>

#define KS__LOG_SAMPLE 16 /* power of two */

typedef struct ks__log_metrics {
	/* the writer's, under wlock */
	uint64_t recs_in, bytes_in;
	uint64_t appends;        /* successful append calls; picks samples */
	ks__hist_t append;
	/* the flusher's, under sync_mu while syncing */
	uint64_t flushes;
	ks__hist_t flush;
	/* the readers' (on cache lines apart from the writer's) */
	char pad_[64];
	uint64_t recs_out, bytes_out;
	ks__hist_t read;
} ks__log_metrics_t;

/* A copy of log's counters (each loaded relaxed; no lock). */
void ks__log_metrics_read(ks_log_t *log, ks__log_metrics_t *out);

/*
 * For a reader that uses only part of each view (read.c, "Records out"):
 * ks_log_read without counting the view as read, and the count of what
 * it did consume (records, and bytes of the batches it finished).
 */
int ks__log_read_uncounted(ks_log_t *log, int64_t offset, size_t max_bytes,
    ks_log_view_t *view);
void ks__log_count_out(ks_log_t *log, uint64_t records, uint64_t bytes);

#endif /* KS_LOG_METRICS_H */
