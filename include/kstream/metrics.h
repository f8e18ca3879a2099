/*
 * kstream/metrics.h: what a store, its clients and a server count, as a
 * snapshot of named samples an application reads, prints in Prometheus's
 * text format or as JSON, or receives from a stats callback. See
 * ks_metrics_new(3) and kstream(7), "Observability".
 *
 * Counting is always on and costs a few relaxed atomic additions per
 * append, read or request; a snapshot reads them without stopping anyone.
 * Names follow Prometheus's conventions: counters end in _total,
 * durations are in seconds, sizes in bytes.
 */
#ifndef KSTREAM_METRICS_H
#define KSTREAM_METRICS_H

#include <kstream/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ks_metrics ks_metrics_t;

/* ks_metric_t.type */
#define KS_METRIC_COUNTER 0   /* only grows (until the process restarts) */
#define KS_METRIC_GAUGE 1     /* a value now */
#define KS_METRIC_HISTOGRAM 2 /* a distribution of durations or sizes */

#define KS_METRIC_MAX_LABELS 4

typedef struct ks_metric_label {
	const char *name;  /* "topic", "partition", "group", "api", "error" */
	const char *value;
} ks_metric_label_t;

/*
 * One sample. Strings and arrays belong to the snapshot that holds it and
 * are valid until ks_metrics_free().
 */
typedef struct ks_metric {
	const char *name;            /* "kstream_topic_records_in_total" */
	const char *help;            /* one line; "" if none */
	int type;                    /* KS_METRIC_* */
	int nlabels;
	ks_metric_label_t labels[KS_METRIC_MAX_LABELS];
	double value;                /* counter, gauge; a histogram's sum */
	/* KS_METRIC_HISTOGRAM only, as Prometheus has them: buckets[i]
	 * counts observations <= bounds[i] (cumulative); count is all of
	 * them (the +Inf bucket). */
	uint64_t count;
	int nbuckets;
	const double *bounds;
	const uint64_t *buckets;
} ks_metric_t;

/*
 * ks_metrics_new: an empty snapshot, to collect into with
 * ks_store_metrics(), ks_kafka_server_metrics() or ks_metrics_add(). Free
 * with ks_metrics_free(). Errors: KS_EINVAL, KS_ENOMEM.
 */
KS_API int ks_metrics_new(ks_metrics_t **mp);
/* ks_metrics_free: frees the snapshot and every sample in it; NULL is a
 * no-op. */
KS_API void ks_metrics_free(ks_metrics_t *m);

/*
 * ks_metrics_add: appends a copy of *s (its strings, labels, bounds and
 * buckets are copied), for an application that exports its own figures
 * beside kstream's. name must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]*; bounds must increase. Errors: KS_EINVAL,
 * KS_ENOMEM.
 */
KS_API int ks_metrics_add(ks_metrics_t *m, const ks_metric_t *s);

/* ks_metrics_count: how many samples the snapshot holds. */
KS_API size_t ks_metrics_count(const ks_metrics_t *m);
/* ks_metrics_at: sample i (0 <= i < count), NULL past the end. Valid until
 * ks_metrics_free(). */
KS_API const ks_metric_t *ks_metrics_at(const ks_metrics_t *m, size_t i);

/*
 * ks_metrics_find: the first sample called name whose labels include each
 * name=value pair of match ("topic=orders,partition=0"; NULL or "" matches
 * any labels). NULL if there is none.
 */
KS_API const ks_metric_t *ks_metrics_find(const ks_metrics_t *m,
    const char *name, const char *match);

/* ks_metrics_format formats */
#define KS_METRICS_PROMETHEUS 0 /* text exposition format 0.0.4 */
#define KS_METRICS_JSON 1       /* one JSON object: {"metrics":[...]} */

/*
 * ks_metrics_format: the snapshot as text. *out is a NUL-terminated
 * malloc()ed string the caller frees with free(); *len (if not NULL) its
 * length. Samples of one name are written together under one # HELP and
 * # TYPE, in the order the name first appears. Errors: KS_EINVAL,
 * KS_ENOMEM.
 */
KS_API int ks_metrics_format(const ks_metrics_t *m, int format, char **out,
    size_t *len);

/*
 * ks_metrics_parse: reads Prometheus's text format (what
 * ks_metrics_format writes, or any exporter's) into a new snapshot, freed
 * with ks_metrics_free(). Histograms come back whole (their _bucket, _sum
 * and _count lines joined); samples of unknown type are gauges.
 * Errors: KS_ENOMEM, KS_EINVAL (also for a malformed line: then no
 * snapshot is made).
 */
KS_API int ks_metrics_parse(const char *text, size_t len,
    ks_metrics_t **mp);

/*
 * A stats callback (ks_store_config_t.stats_cb,
 * ks_kafka_server_config_t.stats_cb): called every stats_interval_ms from
 * a library thread with a snapshot valid only during the call. It must
 * not close the handle that called it.
 */
typedef void ks_stats_cb(void *opaque, const ks_metrics_t *m);

#ifdef __cplusplus
}
#endif

#endif /* KSTREAM_METRICS_H */
