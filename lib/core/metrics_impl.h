/*
 * metrics_impl.h: the counters and histograms layers keep, and how they
 * put them into a ks_metrics_t snapshot (core/metrics.c).
 *
 * Counters are plain uint64_t updated with __atomic builtins, relaxed:
 * ks__count() where several threads add, ks__count1() where one writer
 * at a time does (a log's appends, under its writer lock), which is a
 * load and a store, no locked instruction. Readers load relaxed.
 */
#ifndef KS_CORE_METRICS_IMPL_H
#define KS_CORE_METRICS_IMPL_H

#include <kstream/metrics.h>

#include <stdint.h>

static inline void ks__count(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static inline void ks__count1(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n,
	    __ATOMIC_RELAXED);
}

static inline uint64_t ks__count_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/*
 * A histogram of durations in nanoseconds on a log2 scale of
 * microseconds: bucket i counts values <= 2^i us (1 us .. 2^(N-2) us,
 * about 67 s); the last bucket counts the rest. Published to Prometheus
 * in seconds, cumulative.
 */
#define KS__HIST_N 28

typedef struct ks__hist {
	uint64_t b[KS__HIST_N];
	uint64_t sum_ns;
} ks__hist_t;

/* Adds one observation; ks__hist_add1 for one writer at a time. */
void ks__hist_add(ks__hist_t *h, uint64_t ns);
void ks__hist_add1(ks__hist_t *h, uint64_t ns);

/* A consistent-enough copy (each bucket read once, relaxed). */
void ks__hist_read(const ks__hist_t *h, ks__hist_t *out);

/* Adds `from` into `into` (summing partitions into a topic). */
void ks__hist_merge(ks__hist_t *into, const ks__hist_t *from);

/*
 * Adds a sample to m. labels: nlabels name, value string pairs.
 * ks__metrics_value: a counter or gauge; ks__metrics_hist: a histogram
 * from h (nanoseconds) in seconds. Both copy everything. 0 or KS_ENOMEM.
 */
int ks__metrics_value(ks_metrics_t *m, const char *name, const char *help,
    int type, double value, int nlabels, const char *const *labels);
int ks__metrics_hist(ks_metrics_t *m, const char *name, const char *help,
    const ks__hist_t *h, int nlabels, const char *const *labels);

#endif /* KS_CORE_METRICS_IMPL_H */
