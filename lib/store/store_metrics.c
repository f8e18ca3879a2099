/*
 * store_metrics.c: ks_store_metrics() (each topic's and partition's
 * counters and gauges, and the groups through the layer above) and the
 * stats thread that hands them to stats_cb.
 */
#include "core/internal.h"
#include "core/metrics_impl.h"
#include "log/log_metrics.h"
#include "store/store_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* A topic's partitions summed. */
struct topic_sums {
	uint64_t recs_in, bytes_in, recs_out, bytes_out, flushes;
	ks__hist_t append, read, flush;
};

static int topic_metrics(ks_topic_t *t, ks_metrics_t *m)
{
	struct ks__parts *parts = ks__topic_parts(t);
	struct topic_sums sum;
	const char *lt[2] = { "topic", t->name };
	int rc = 0;

	memset(&sum, 0, sizeof sum);
	for (int32_t p = 0; p < parts->n && !rc; p++) {
		ks_log_t *log = parts->logs[p];
		ks__log_metrics_t lm;
		ks_log_stat_t st;
		char part[16];

		ks__log_metrics_read(log, &lm);
		sum.recs_in += lm.recs_in;
		sum.bytes_in += lm.bytes_in;
		sum.recs_out += lm.recs_out;
		sum.bytes_out += lm.bytes_out;
		sum.flushes += lm.flushes;
		ks__hist_merge(&sum.append, &lm.append);
		ks__hist_merge(&sum.read, &lm.read);
		ks__hist_merge(&sum.flush, &lm.flush);

		if (t->store->rdonly)
			(void)ks_log_end_offset(log); /* follows the writer */
		if ((rc = ks_log_stat(log, &st)) != 0)
			break;
		snprintf(part, sizeof part, "%" PRId32, p);
		const char *lp[4] = { "topic", t->name, "partition", part };
		rc = ks__metrics_value(m, "kstream_partition_start_offset",
		    "The partition's first offset (log start offset).",
		    KS_METRIC_GAUGE, (double)st.start_offset, 2, lp);
		if (!rc)
			rc = ks__metrics_value(m, "kstream_partition_end_offset",
			    "The offset the partition's next record gets "
			    "(log end offset).",
			    KS_METRIC_GAUGE, (double)st.end_offset, 2, lp);
		if (!rc)
			rc = ks__metrics_value(m, "kstream_partition_size_bytes",
			    "Bytes of record batches in the partition's "
			    "segments.",
			    KS_METRIC_GAUGE, (double)st.size_bytes, 2, lp);
		if (!rc)
			rc = ks__metrics_value(m, "kstream_partition_segments",
			    "Segments of the partition's log.",
			    KS_METRIC_GAUGE, (double)st.segment_count, 2, lp);
	}
	if (rc)
		return rc;
	struct {
		const char *name, *help;
		uint64_t v;
	} counters[] = {
		{ "kstream_topic_records_in_total",
		  "Records appended to the topic's partitions.", sum.recs_in },
		{ "kstream_topic_bytes_in_total",
		  "Bytes of record batches appended to the topic's partitions.",
		  sum.bytes_in },
		{ "kstream_topic_records_out_total",
		  "Records read from the topic's partitions (ks_log_read "
		  "views and log iterators: consumers, Fetch).", sum.recs_out },
		{ "kstream_topic_bytes_out_total",
		  "Bytes of record batches read from the topic's partitions.",
		  sum.bytes_out },
		{ "kstream_log_flushes_total",
		  "Flushes (fdatasync rounds) of the topic's partitions.",
		  sum.flushes },
	};
	for (size_t i = 0; i < sizeof counters / sizeof counters[0] && !rc; i++)
		rc = ks__metrics_value(m, counters[i].name, counters[i].help,
		    KS_METRIC_COUNTER, (double)counters[i].v, 1, lt);
	if (!rc)
		rc = ks__metrics_hist(m, "kstream_log_append_seconds",
		    "Time an append call takes, to the log (without a flush); "
		    "one call in 16 is timed.", &sum.append, 1, lt);
	if (!rc)
		rc = ks__metrics_hist(m, "kstream_log_read_seconds",
		    "Time a ks_log_read call takes; one call in 16 is timed.",
		    &sum.read, 1, lt);
	if (!rc)
		rc = ks__metrics_hist(m, "kstream_log_flush_seconds",
		    "Time a flush (fdatasync of the partition's segments) "
		    "takes.", &sum.flush, 1, lt);
	return rc;
}

int ks_store_metrics(ks_store_t *store, ks_metrics_t *m)
{
	ks_topic_t **ts;
	size_t n, i;
	int rc = 0;

	if (!store || !m)
		return KS_EINVAL;
	if ((rc = ks__store_lock_topics(store)) != 0)
		return rc;
	n = store->ntopics;
	if (!(ts = malloc((n ? n : 1) * sizeof *ts))) {
		pthread_mutex_unlock(&store->mu);
		return KS_ENOMEM;
	}
	for (i = 0; i < n; i++) {
		ts[i] = store->topics[i];
		ts[i]->refs++;
	}
	pthread_mutex_unlock(&store->mu);

	for (i = 0; i < n && !rc; i++)
		if (!__atomic_load_n(&ts[i]->deleted, __ATOMIC_ACQUIRE))
			rc = topic_metrics(ts[i], m);
	for (i = 0; i < n; i++)
		ks_topic_release(ts[i]);
	free(ts);
	/* Groups: from the store's coordinator, if it has one (a
	 * read-only store never does). */
	if (!rc) {
		pthread_mutex_lock(&store->ext_mu);
		if (store->group_ext && store->group_ext_metrics)
			rc = store->group_ext_metrics(store->group_ext, m);
		pthread_mutex_unlock(&store->ext_mu);
	}
	return rc;
}

/* ---- the stats thread ------------------------------------------------- */

static void *stats_main(void *arg)
{
	ks_store_t *s = arg;
	struct timespec at;

	clock_gettime(CLOCK_MONOTONIC, &at);
	pthread_mutex_lock(&s->stats_mu);
	while (!s->stats_stop) {
		ks_metrics_t *m;
		int rc;
		/* every interval from the last deadline: no drift */
		int64_t ns = at.tv_nsec + s->cfg.stats_interval_ms % 1000 *
		    1000000;
		at.tv_sec += (time_t)(s->cfg.stats_interval_ms / 1000 +
		    ns / 1000000000);
		at.tv_nsec = (long)(ns % 1000000000);
		while (!s->stats_stop && pthread_cond_timedwait(&s->stats_cv,
		           &s->stats_mu, &at) != ETIMEDOUT)
			;
		if (s->stats_stop)
			break;
		pthread_mutex_unlock(&s->stats_mu);
		rc = ks_metrics_new(&m);
		if (!rc)
			rc = ks_store_metrics(s, m);
		if (!rc)
			s->cfg.stats_cb(s->cfg.stats_opaque, m);
		else
			ks__logf(s->cfg.log_cb, s->cfg.log_opaque,
			    KS_LOG_WARNING, "%s: stats: %s", s->dir,
			    ks_strerror(rc));
		ks_metrics_free(m);
		pthread_mutex_lock(&s->stats_mu);
		/* a slow callback: the next deadline is from now */
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > at.tv_sec || (now.tv_sec == at.tv_sec &&
		    now.tv_nsec > at.tv_nsec))
			at = now;
	}
	pthread_mutex_unlock(&s->stats_mu);
	return NULL;
}

int ks__store_stats_start(ks_store_t *s)
{
	if (!s->cfg.stats_cb || s->cfg.stats_interval_ms <= 0)
		return 0;
	if (pthread_create(&s->stats, NULL, stats_main, s) != 0)
		return KS_ENOMEM;
	s->stats_on = 1;
	return 0;
}

void ks__store_stats_stop(ks_store_t *s)
{
	if (!s->stats_on)
		return;
	pthread_mutex_lock(&s->stats_mu);
	s->stats_stop = 1;
	pthread_cond_signal(&s->stats_cv);
	pthread_mutex_unlock(&s->stats_mu);
	/* a call in progress finishes first: none comes after this */
	pthread_join(s->stats, NULL);
	s->stats_on = 0;
}
