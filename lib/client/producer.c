/*
 * producer.c: producing records to a store's topics: choosing partitions
 * and appending one batch per partition.
 */
#include "core/internal.h"
#include "log/compress.h"

#include <kstream/client.h>
#include <kstream/kafka.h>
#include <pthread.h>
#include <stdlib.h>
#include <xxhash.h>
#include "kafka/client_impl.h"

/* A topic the producer has opened, kept until the producer goes. */
struct ptopic {
	char *name;
	ks_topic_t *topic;
};

struct ks_producer {
	ks_store_t *store;
	ks_producer_config_t cfg;
	pthread_mutex_t mu;   /* the topic cache */
	struct ptopic *topics;
	size_t ntopics, cap;
	uint64_t sticky;       /* atomic: the keyless records' partition seed */
	uint64_t sticky_bytes; /* atomic: bytes sent there since it changed */
	struct ks__rproducer *remote; /* ks_producer_connect's: every call
	                                 goes there (kafka/client_producer.c) */
};

void ks_producer_config_init(ks_producer_config_t *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->batch_bytes = 16384;
	cfg->acks = -1;
	cfg->linger_ms = 5;
}

int ks_producer_new(ks_store_t *store, const ks_producer_config_t *cfg,
    ks_producer_t **prodp)
{
	ks_producer_t *p;

	if (!prodp)
		return KS_EINVAL;
	*prodp = NULL;
	if (!store)
		return KS_EINVAL;
	p = calloc(1, sizeof *p);
	if (!p)
		return KS_ENOMEM;
	p->store = store;
	if (cfg)
		p->cfg = *cfg;
	else
		ks_producer_config_init(&p->cfg);
	if (p->cfg.batch_bytes == 0)
		p->cfg.batch_bytes = 16384;
	if (p->cfg.compression != KS_COMPRESSION_NONE &&
	    !ks__codec_available(p->cfg.compression)) {
		int c = p->cfg.compression;
		free(p);
		return c < 0 || c > KS_COMPRESSION_ZSTD ? KS_EINVAL :
		    KS_ECOMPRESSION;
	}
	p->sticky = (uint64_t)ks__monotonic_ns() * 0x9e3779b97f4a7c15ULL;
	pthread_mutex_init(&p->mu, NULL);
	*prodp = p;
	return 0;
}

void ks_producer_free(ks_producer_t *p)
{
	size_t i;
	if (!p)
		return;
#ifdef KS_WITH_NET
	if (p->remote)
		ks__remote_producer_free(p->remote);
#endif
	for (i = 0; i < p->ntopics; i++) {
		ks_topic_release(p->topics[i].topic);
		free(p->topics[i].name);
	}
	free(p->topics);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* The producer's handle on a topic, opened on first use. */
static int topic_get(ks_producer_t *p, const char *name, ks_topic_t **tp)
{
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&p->mu);
	for (i = 0; i < p->ntopics; i++)
		if (strcmp(p->topics[i].name, name) == 0) {
			*tp = p->topics[i].topic;
			goto out;
		}
	if (p->ntopics == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct ptopic *n = realloc(p->topics, cap * sizeof *n);
		if (!n) {
			rc = KS_ENOMEM;
			goto out;
		}
		p->topics = n;
		p->cap = cap;
	}
	if ((rc = ks_topic_open(p->store, name, tp)) != 0)
		goto out;
	p->topics[p->ntopics].topic = *tp;
	p->topics[p->ntopics].name = strdup(name);
	if (!p->topics[p->ntopics].name) {
		ks_topic_release(*tp);
		rc = KS_ENOMEM;
		goto out;
	}
	p->ntopics++;
out:
	pthread_mutex_unlock(&p->mu);
	return rc;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * The default choice: keyed records by their key's hash, so that one key
 * always lands in one partition; keyless ones stay on one partition until
 * a batch's worth went there, then move (Kafka's sticky partitioner): big
 * batches, spread over time.
 */
static int32_t choose(ks_producer_t *p, const char *topic,
    const ks_record_t *r, int32_t nparts)
{
	uint64_t s, sent;

	if (p->cfg.partitioner) {
		int32_t c = p->cfg.partitioner(p->cfg.partitioner_opaque, topic,
		    r->key, r->key_len, nparts);
		if (c >= 0)
			return c < nparts ? c : KS_EPARTITION;
	}
	if (r->key)
		return (int32_t)(XXH64(r->key, r->key_len, 0) % (uint64_t)nparts);
	s = __atomic_load_n(&p->sticky, __ATOMIC_RELAXED);
	sent = __atomic_add_fetch(&p->sticky_bytes, r->value_len + 1,
	    __ATOMIC_RELAXED);
	if (sent >= p->cfg.batch_bytes) {
		/* a different partition, when there is one to move to: the
		 * new seed's residue is the next partition */
		uint64_t np = (uint64_t)nparts, rnd = mix64(s + 1);
		uint64_t next = np > 1 ?
		    (s % np + 1 + rnd % (np - 1)) % np : 0;
		uint64_t n = rnd / np * np + next;
		if (__atomic_compare_exchange_n(&p->sticky, &s, n, 0,
		        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			__atomic_store_n(&p->sticky_bytes, 0, __ATOMIC_RELAXED);
	}
	return (int32_t)(s % (uint64_t)nparts);
}

/*
 * Appends recs[0..n) as one batch compressed with codec: encoded, then
 * compressed, then appended (the log assigns the offsets).
 */
static int append_compressed(ks_log_t *log, int codec,
    const ks_record_t *recs, size_t n, ks_append_info_t *info)
{
	void *batch, *cb = NULL;
	size_t size, len, clen;
	int rc;

	if ((rc = ks_batch_size(recs, n, &size)) != 0)
		return rc;
	if (!(batch = malloc(size)))
		return KS_ENOMEM;
	rc = ks_batch_encode(batch, size, recs, n, 0, ks__wallclock_ms(),
	    &len);
	if (!rc)
		rc = ks__batch_compress(codec, batch, len, &cb, &clen);
	free(batch);
	if (!rc)
		rc = ks_log_append_batch(log, cb, clen, 0, info);
	free(cb);
	return rc;
}

/* Appends recs[0..n) to one partition; fills res for them. */
static int append_to(ks_topic_t *t, int32_t part, const ks_record_t *recs,
    size_t n, int flags, ks_produce_result_t *res, const size_t *idx,
    int codec)
{
	ks_append_info_t info;
	ks_log_t *log;
	size_t i;
	int rc;

	if ((rc = ks_topic_partition(t, part, &log)) != 0)
		return rc;
	if (codec != KS_COMPRESSION_NONE)
		rc = append_compressed(log, codec, recs, n, &info);
	else
		rc = ks_log_append(log, recs, n, &info);
	if (rc)
		return rc;
	if ((flags & KS_PRODUCE_DURABLE) && !info.durable) {
		if ((rc = ks_log_flush(log, info.last_offset + 1)) != 0)
			return rc;
		info.durable = 1;
	}
	for (i = 0; res && i < n; i++) {
		ks_produce_result_t *o = &res[idx ? idx[i] : i];
		o->partition = part;
		o->offset = info.base_offset + (int64_t)i;
		o->durable = info.durable;
	}
	return 0;
}

int ks_produce(ks_producer_t *p, const char *topic, int32_t partition,
    const ks_record_t *recs, size_t n, int flags, ks_produce_result_t *res)
{
	ks_topic_t *t;
	int32_t nparts, *parts = NULL, first;
	ks_record_t *group = NULL;
	size_t *idx = NULL, *starts = NULL, i, j;
	int rc, same = 1;

	if (!p || !topic || !recs || n == 0)
		return KS_EINVAL;
#ifdef KS_WITH_NET
	if (p->remote)
		return ks__remote_produce(p->remote, topic, partition, recs, n,
		    flags, res);
#endif
	for (i = 0; res && i < n; i++) {
		res[i].partition = -1;
		res[i].offset = -1;
		res[i].durable = 0;
	}
	if ((rc = topic_get(p, topic, &t)) != 0)
		return rc;
	nparts = ks_topic_partitions(t);
	if (partition != KS_PARTITION_ANY) {
		if (partition < 0 || partition >= nparts)
			return KS_EPARTITION;
		return append_to(t, partition, recs, n, flags, res, NULL,
		    p->cfg.compression);
	}
	if (n == 1) {
		if ((first = choose(p, topic, &recs[0], nparts)) < 0)
			return first;
		return append_to(t, first, recs, 1, flags, res, NULL,
		    p->cfg.compression);
	}
	parts = malloc(n * sizeof *parts);
	if (!parts)
		return KS_ENOMEM;
	for (i = 0; i < n; i++) {
		if ((parts[i] = choose(p, topic, &recs[i], nparts)) < 0) {
			rc = parts[i];
			goto out;
		}
		same &= parts[i] == parts[0];
	}
	if (same) {
		rc = append_to(t, parts[0], recs, n, flags, res, NULL,
		    p->cfg.compression);
		goto out;
	}
	/* One batch per partition, each keeping the records' order: a
	 * stable counting sort of the record indexes by partition. */
	group = malloc(n * sizeof *group);
	idx = malloc(n * sizeof *idx);
	starts = calloc((size_t)nparts + 1, sizeof *starts);
	if (!group || !idx || !starts) {
		rc = KS_ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		starts[parts[i] + 1]++;
	for (first = 0; first < nparts; first++)
		starts[first + 1] += starts[first];
	for (i = 0; i < n; i++)
		idx[starts[parts[i]]++] = i;
	for (i = 0; i < n && rc == 0; i = j) {
		for (j = i; j < n && parts[idx[j]] == parts[idx[i]]; j++)
			group[j - i] = recs[idx[j]];
		rc = append_to(t, parts[idx[i]], group, j - i, flags, res,
		    idx + i, p->cfg.compression);
	}
out:
	free(parts);
	free(group);
	free(idx);
	free(starts);
	return rc;
}

int ks__producer_wrap(struct ks__rproducer *r, ks_producer_t **prodp)
{
	ks_producer_t *p = calloc(1, sizeof *p);
	if (!p)
		return KS_ENOMEM;
	pthread_mutex_init(&p->mu, NULL);
	p->remote = r;
	*prodp = p;
	return 0;
}

/* Waits for a remote producer's queued records; a local one has none. */
int ks_producer_flush(ks_producer_t *p, int timeout_ms)
{
	if (!p)
		return KS_EINVAL;
#ifdef KS_WITH_NET
	if (p->remote)
		return ks__remote_flush(p->remote, timeout_ms);
#endif
	(void)timeout_ms;
	return 0;
}
