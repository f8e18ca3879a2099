/*
 * topic.c: topics: create, delete, alter, add partitions, list, and the
 * counted handles through which their partitions are reached.
 *
 * The order of the file operations is what makes a topic whole or absent
 * after a crash (docs/format.md, "The store directory"): creation makes the
 * partition directories, syncs the store directory, then writes the
 * metadata file; deletion removes the metadata file, syncs, then the
 * directories; adding partitions makes the new directories before it
 * rewrites the metadata. A writer's open removes what no metadata covers.
 */
#include "core/internal.h"
#include "log/meta.h"
#include "store/store_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

int ks__topic_name_ok(const char *name)
{
	size_t n;
	for (n = 0; name[n]; n++) {
		char c = name[n];
		if (n == KS__TOPIC_NAME_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-'))
			return 0;
	}
	return n > 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* A new topic's identity, as Kafka's topic IDs: 16 random bytes. It tells
 * a reader a topic deleted and created again from the one it had. */
static void new_topic_id(uint8_t *id, const char *name)
{
	static uint64_t counter;
	uint64_t h[2];
	size_t got = 0;
	while (got < KS__TOPIC_ID_LEN) {
		ssize_t n = getrandom(id + got, KS__TOPIC_ID_LEN - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == KS__TOPIC_ID_LEN)
		return;
	/* No getrandom (an old kernel): unique enough for this purpose. */
	h[0] = (uint64_t)ks__monotonic_ns() ^ ((uint64_t)getpid() << 32);
	h[1] = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	h[0] = XXH64(h, sizeof h, (uint64_t)ks__wallclock_ms());
	h[1] = XXH64(name, strlen(name), h[0]);
	memcpy(id, h, KS__TOPIC_ID_LEN);
}

/* The settings a partition's log is opened with: the topic's, with the
 * fields that are the store's rather than the topic's. */
static void log_config(const ks_store_t *s, const ks_topic_config_t *cfg,
    int create, ks_log_config_t *lc)
{
	*lc = cfg->log;
	lc->flags = s->rdonly ? KS_LOG_RDONLY : create ? KS_LOG_CREATE : 0;
	lc->leader_epoch = 0;
	lc->log_cb = s->cfg.log_cb;
	lc->log_opaque = s->cfg.log_opaque;
	/*
	 * A reader maps each segment as large as segment.bytes says, and
	 * cannot see past its mapping. The writer's logs keep the size they
	 * were opened with across an alter, so the metadata may say less:
	 * readers take the largest (address space, not memory).
	 */
	if (s->rdonly)
		lc->segment_bytes = INT32_MAX;
}

/* As a topic's configuration is kept and reported. */
static void normalise(const ks_store_t *s, ks_topic_config_t *cfg)
{
	cfg->log.flags = 0;
	cfg->log.leader_epoch = 0;
	cfg->log.log_cb = s->cfg.log_cb;
	cfg->log.log_opaque = s->cfg.log_opaque;
}

/* ---- the topic structure ------------------------------------------------ */

static ks_topic_t *topic_new(ks_store_t *s, const char *name)
{
	ks_topic_t *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	if (!(t->name = strdup(name))) {
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->mu, NULL);
	t->store = s;
	t->refs = 1;
	pthread_mutex_lock(&s->mu);
	s->refs++;
	pthread_mutex_unlock(&s->mu);
	return t;
}

int ks__topic_close_logs(ks_topic_t *t)
{
	struct ks__parts *parts = ks__topic_parts(t);
	int rc = 0, r;
	int32_t p;

	if (__atomic_exchange_n(&t->closed, 1, __ATOMIC_ACQ_REL) || !parts)
		return 0;
	for (p = 0; p < parts->n; p++)
		if ((r = ks_log_close(parts->logs[p])) != 0 && !rc)
			rc = r;
	return rc;
}

void ks__topic_free(ks_topic_t *t)
{
	ks_store_t *s = t->store;
	struct ks__parts *parts, *prev;

	/* A deleted topic's logs fail to write their clean-shutdown
	 * files in directories that are gone: nothing to report. */
	(void)ks__topic_close_logs(t);
	for (parts = t->parts; parts; parts = prev) {
		prev = parts->prev;
		free(parts);
	}
	pthread_mutex_destroy(&t->mu);
	free(t->name);
	free(t);
	ks__store_unref(s);
}

/* Removes the directories of partitions [from, to) of topic name. */
static void remove_partitions(ks_store_t *s, const char *name, int32_t from,
    int32_t to)
{
	char path[PATH_MAX];
	int32_t p;
	for (p = from; p < to; p++)
		if (ks__partition_path(s, path, sizeof path, name, p) == 0)
			(void)ks__partition_remove(path);
}

/*
 * Opens partitions [old->n, total) of t (old may be NULL: from 0) into a
 * new array that starts with old's logs. With create, each directory is
 * made afresh: one that exists is a leftover no metadata covers. On
 * failure the partitions it opened are closed (and, with create,
 * removed) and old is untouched.
 */
static int open_partitions(ks_store_t *s, ks_topic_t *t,
    const ks_topic_config_t *cfg, struct ks__parts *old, int32_t total,
    int create, struct ks__parts **out)
{
	int32_t from = old ? old->n : 0, p;
	struct ks__parts *np;
	ks_log_config_t lc;
	char path[PATH_MAX];
	int rc = 0;

	*out = NULL;
	np = calloc(1, sizeof *np + (size_t)total * sizeof np->logs[0]);
	if (!np)
		return KS_ENOMEM;
	if (old)
		memcpy(np->logs, old->logs, (size_t)from * sizeof np->logs[0]);
	np->n = from;
	log_config(s, cfg, create, &lc);
	for (p = from; p < total; p++) {
		if ((rc = ks__partition_path(s, path, sizeof path, t->name,
		         p)) != 0)
			break;
		if (create && (rc = ks__partition_remove(path)) != 0)
			break;
		if ((rc = ks_log_open(path, &lc, &np->logs[p])) != 0)
			break;
		np->n = p + 1;
	}
	if (rc == 0) {
		*out = np;
		return 0;
	}
	if (rc == -ENOENT && !create && !s->rdonly) {
		/* Made before the metadata that names it: removed by hand. */
		ks__logf(s->cfg.log_cb, s->cfg.log_opaque, KS_LOG_ERR,
		    "%s: missing: topic %s has %d partitions", path, t->name,
		    (int)total);
		rc = KS_ECORRUPT;
	} else if (rc != -ENOENT || !s->rdonly) {
		ks__logf(s->cfg.log_cb, s->cfg.log_opaque, KS_LOG_ERR,
		    "%s: %s", path, ks_strerror(rc));
	}
	for (p = from; p < np->n; p++)
		(void)ks_log_close(np->logs[p]);
	if (create)
		remove_partitions(s, t->name, from, np->n + 1);
	free(np);
	return rc;
}

/* Publishes a longer partition array; the old one stays until the end. */
static void publish_parts(ks_topic_t *t, struct ks__parts *np)
{
	np->prev = t->parts;
	__atomic_store_n(&t->parts, np, __ATOMIC_RELEASE);
}

/* A topic from its metadata, its partitions opened: one reference. */
static int topic_build(ks_store_t *s, const char *name,
    const ks_topic_config_t *cfg, const uint8_t *id, uint64_t sum,
    ks_topic_t **tp)
{
	struct ks__parts *parts;
	ks_topic_t *t;
	int rc;

	*tp = NULL;
	if (!(t = topic_new(s, name)))
		return KS_ENOMEM;
	t->cfg = *cfg;
	normalise(s, &t->cfg);
	memcpy(t->id, id, KS__TOPIC_ID_LEN);
	t->meta_sum = sum;
	rc = open_partitions(s, t, &t->cfg, NULL, cfg->partitions, 0, &parts);
	if (rc) {
		ks__topic_free(t);
		return rc;
	}
	publish_parts(t, parts);
	*tp = t;
	return 0;
}

int ks__topic_load(ks_store_t *s, const char *name, ks_topic_t **tp)
{
	uint8_t id[KS__TOPIC_ID_LEN];
	ks_topic_config_t cfg;
	char path[PATH_MAX] = "";
	uint64_t sum, sum2;
	struct stat st;
	int rc, tries;
	int32_t p;

	*tp = NULL;
	for (tries = 0; tries < 3; tries++) {
		if ((rc = ks__topic_meta_read(s, name, &cfg, id, &sum)) != 0)
			return rc;
		rc = topic_build(s, name, &cfg, id, sum, tp);
		if (rc != -ENOENT || !s->rdonly)
			return rc;
		/*
		 * A reader: a partition directory went missing. The writer
		 * removes the metadata file before the directories, so if
		 * the file is still the one we read, this is damage; if it
		 * is gone or new, the topic was deleted (and created again).
		 */
		rc = ks__topic_meta_read(s, name, &cfg, id, &sum2);
		if (rc != 0)
			return rc;
		if (sum2 == sum)
			break;
	}
	for (p = 0; p < cfg.partitions; p++) {
		if (ks__partition_path(s, path, sizeof path, name, p) != 0 ||
		    stat(path, &st) < 0)
			break;
	}
	ks__logf(s->cfg.log_cb, s->cfg.log_opaque, KS_LOG_ERR,
	    "%s: missing: topic %s has %d partitions", path, name,
	    (int)cfg.partitions);
	return KS_ECORRUPT;
}

/* Takes t out of the table; frees it if no handle holds it. */
static void drop_topic(ks_store_t *s, ks_topic_t *t)
{
	int last;
	pthread_mutex_lock(&s->mu);
	last = ks__store_unlink(s, t);
	pthread_mutex_unlock(&s->mu);
	if (last)
		ks__topic_free(t);
}

int ks__topic_refresh(ks_store_t *s, const char *name)
{
	ks_topic_t *t = ks__store_find(s, name), *nt;
	uint8_t id[KS__TOPIC_ID_LEN];
	ks_topic_config_t cfg;
	uint64_t sum;
	int rc;

	rc = ks__topic_meta_read(s, name, &cfg, id, &sum);
	if (rc == -ENOENT) {
		if (t)
			drop_topic(s, t);
		return 0;
	}
	if (rc)
		return rc;
	if (t && memcmp(t->id, id, KS__TOPIC_ID_LEN) == 0) {
		struct ks__parts *old = ks__topic_parts(t), *np;
		if (sum == t->meta_sum)
			return 0;
		/* Altered, or grown: partitions are only ever added. */
		if (cfg.partitions > old->n) {
			rc = open_partitions(s, t, &cfg, old, cfg.partitions,
			    0, &np);
			if (rc == -ENOENT)
				return 0; /* being deleted: the next look */
			if (rc)
				return rc;
		} else {
			np = NULL;
			cfg.partitions = old->n;
		}
		normalise(s, &cfg);
		pthread_mutex_lock(&t->mu);
		t->cfg = cfg;
		if (np)
			publish_parts(t, np);
		pthread_mutex_unlock(&t->mu);
		t->meta_sum = sum;
		return 0;
	}
	/* Deleted and created again under the same name. */
	if (t)
		drop_topic(s, t);
	rc = topic_build(s, name, &cfg, id, sum, &nt);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	pthread_mutex_lock(&s->mu);
	rc = ks__store_insert(s, nt);
	pthread_mutex_unlock(&s->mu);
	if (rc)
		ks__topic_free(nt);
	return rc;
}

/* Read-only store: brings t up to date before a call reports on it. */
static void follow(ks_topic_t *t)
{
	ks_store_t *s = t->store;
	int closed;
	if (!s->rdonly || __atomic_load_n(&t->deleted, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&s->admin_mu);
	pthread_mutex_lock(&s->mu);
	closed = s->closed;
	pthread_mutex_unlock(&s->mu);
	if (!closed)
		(void)ks__topic_refresh(s, t->name);
	pthread_mutex_unlock(&s->admin_mu);
}

/* ---- administration ----------------------------------------------------- */

/*
 * The start of every change: admin_mu taken, the store open, and the
 * live topic named name in *tp (or none: KS_ETOPIC, unless want_none).
 * On error admin_mu is released.
 */
static int admin_begin(ks_store_t *s, const char *name, int want_none,
    ks_topic_t **tp)
{
	ks_topic_t *t;
	int rc = 0;

	pthread_mutex_lock(&s->admin_mu);
	pthread_mutex_lock(&s->mu);
	t = ks__store_find(s, name);
	if (s->closed)
		rc = KS_ECLOSED;
	else if (want_none && t)
		rc = KS_EEXIST;
	else if (want_none && ks__store_name_held(s, name))
		rc = KS_EBUSY;
	else if (!want_none && !t)
		rc = KS_ETOPIC;
	pthread_mutex_unlock(&s->mu);
	if (rc)
		pthread_mutex_unlock(&s->admin_mu);
	*tp = t;
	return rc;
}

static int admin_args(ks_store_t *s, const char *name)
{
	if (!s || !name)
		return KS_EINVAL;
	if (s->rdonly)
		return KS_ERDONLY;
	return 0;
}

int ks_topic_create(ks_store_t *store, const char *name,
    const ks_topic_config_t *cfg)
{
	char path[PATH_MAX], file[PATH_MAX];
	struct ks__parts *parts;
	ks_topic_config_t c;
	ks_topic_t *t;
	int rc;

	if ((rc = admin_args(store, name)) != 0)
		return rc;
	if (!ks__topic_name_ok(name))
		return KS_ENAME;
	c = cfg ? *cfg : store->cfg.topic_defaults;
	if (c.partitions < 1 || ks__topic_config_check(&c) != 0)
		return KS_ECONFIG;
	normalise(store, &c);
	if ((rc = admin_begin(store, name, 1, &t)) != 0)
		return rc;
	if (!(t = topic_new(store, name))) {
		rc = KS_ENOMEM;
		goto out;
	}
	t->cfg = c;
	new_topic_id(t->id, name);
	rc = open_partitions(store, t, &c, NULL, c.partitions, 1, &parts);
	if (rc) {
		ks__topic_free(t);
		goto out;
	}
	publish_parts(t, parts);
	/* The directories must exist before the metadata that names them. */
	if ((rc = ks__fsync_dir(store->dir)) == 0)
		rc = ks__topic_meta_write(store, name, &c, t->id);
	if (rc) {
		/* The rename may have happened with only the sync failing. */
		snprintf(file, sizeof file, "%s%s", name, KS__TOPIC_SUFFIX);
		if (ks__store_path(store, path, sizeof path, file) == 0 &&
		    unlink(path) == 0)
			(void)ks__fsync_dir(store->dir);
		(void)ks__topic_close_logs(t);
		remove_partitions(store, name, 0, c.partitions);
		ks__topic_free(t);
		goto out;
	}
	pthread_mutex_lock(&store->mu);
	rc = ks__store_insert(store, t);
	pthread_mutex_unlock(&store->mu);
	if (rc)
		ks__topic_free(t); /* only KS_ENOMEM: on disk, not here */
out:
	pthread_mutex_unlock(&store->admin_mu);
	return rc;
}

int ks_topic_delete(ks_store_t *store, const char *name)
{
	char path[PATH_MAX], file[PATH_MAX];
	ks_topic_t *t;
	int32_t n;
	int rc, last;

	if ((rc = admin_args(store, name)) != 0)
		return rc;
	if ((rc = admin_begin(store, name, 0, &t)) != 0)
		return rc;
	snprintf(file, sizeof file, "%s%s", name, KS__TOPIC_SUFFIX);
	if ((rc = ks__store_path(store, path, sizeof path, file)) != 0 ||
	    (unlink(path) < 0 && errno != ENOENT)) {
		rc = rc ? rc : -errno;
		goto out;
	}
	/*
	 * The metadata is gone for this process. If its removal did not
	 * reach the disk the directories stay, in case a crash brings the
	 * metadata back; the next open, or a create of the name, removes
	 * them otherwise.
	 */
	rc = ks__fsync_dir(store->dir);
	n = ks__topic_parts(t)->n;
	pthread_mutex_lock(&store->mu);
	last = ks__store_unlink(store, t);
	pthread_mutex_unlock(&store->mu);
	/* Unheld, its logs close before their files go; held, they stay
	 * open on unlinked files until the last release. */
	if (last)
		(void)ks__topic_close_logs(t);
	if (rc == 0)
		remove_partitions(store, name, 0, n);
	if (last)
		ks__topic_free(t);
out:
	pthread_mutex_unlock(&store->admin_mu);
	return rc;
}

int ks_topic_add_partitions(ks_store_t *store, const char *name,
    int32_t total)
{
	struct ks__parts *old, *np;
	ks_topic_config_t c;
	ks_topic_t *t;
	int32_t p;
	int rc;

	if ((rc = admin_args(store, name)) != 0)
		return rc;
	if ((rc = admin_begin(store, name, 0, &t)) != 0)
		return rc;
	old = ks__topic_parts(t);
	if (total <= old->n) {
		rc = KS_EINVAL;
		goto out;
	}
	pthread_mutex_lock(&t->mu);
	c = t->cfg;
	pthread_mutex_unlock(&t->mu);
	c.partitions = total;
	if ((rc = open_partitions(store, t, &c, old, total, 1, &np)) != 0)
		goto out;
	if ((rc = ks__fsync_dir(store->dir)) == 0)
		rc = ks__topic_meta_write(store, name, &c, t->id);
	if (rc) {
		/* A failed rewrite leaves the old metadata, which does not
		 * cover the new directories. */
		for (p = old->n; p < total; p++)
			(void)ks_log_close(np->logs[p]);
		remove_partitions(store, name, old->n, total);
		free(np);
		goto out;
	}
	pthread_mutex_lock(&t->mu);
	t->cfg.partitions = total;
	publish_parts(t, np);
	pthread_mutex_unlock(&t->mu);
out:
	pthread_mutex_unlock(&store->admin_mu);
	return rc;
}

int ks_topic_alter(ks_store_t *store, const char *name,
    const ks_topic_config_t *cfg)
{
	ks_topic_config_t c;
	ks_topic_t *t;
	int rc;

	if ((rc = admin_args(store, name)) != 0)
		return rc;
	if (!cfg)
		return KS_EINVAL;
	if ((rc = admin_begin(store, name, 0, &t)) != 0)
		return rc;
	c = *cfg;
	c.partitions = ks__topic_parts(t)->n;
	normalise(store, &c);
	if ((rc = ks__topic_config_check(&c)) != 0)
		goto out;
	if ((rc = ks__topic_meta_write(store, name, &c, t->id)) != 0)
		goto out;
	pthread_mutex_lock(&t->mu);
	t->cfg = c;
	pthread_mutex_unlock(&t->mu);
out:
	pthread_mutex_unlock(&store->admin_mu);
	return rc;
}

int ks_topic_list(ks_store_t *store, char ***namesp, size_t *countp)
{
	char **v;
	size_t i, n;
	int rc = 0;

	if (namesp)
		*namesp = NULL;
	if (countp)
		*countp = 0;
	if (!store || !namesp)
		return KS_EINVAL;
	if ((rc = ks__store_lock_topics(store)) != 0)
		return rc;
	n = store->ntopics;
	v = calloc(n + 1, sizeof *v);
	for (i = 0; v && i < n; i++)
		if (!(v[i] = strdup(store->topics[i]->name))) {
			ks_topic_list_free(v);
			v = NULL;
		}
	pthread_mutex_unlock(&store->mu);
	if (!v)
		return KS_ENOMEM;
	*namesp = v;
	if (countp)
		*countp = n;
	return 0;
}

void ks_topic_list_free(char **names)
{
	size_t i;
	if (!names)
		return;
	for (i = 0; names[i]; i++)
		free(names[i]);
	free(names);
}

/* ---- handles ------------------------------------------------------------ */

int ks_topic_open(ks_store_t *store, const char *name, ks_topic_t **topicp)
{
	ks_topic_t *t;
	int rc = 0;

	if (!topicp)
		return KS_EINVAL;
	*topicp = NULL;
	if (!store || !name)
		return KS_EINVAL;
	if (!ks__topic_name_ok(name))
		return KS_ENAME;
	if (store->rdonly) {
		/* A topic the writer created, altered or deleted since. */
		pthread_mutex_lock(&store->admin_mu);
		if (!store->closed)
			rc = ks__topic_refresh(store, name);
		pthread_mutex_unlock(&store->admin_mu);
		if (rc)
			return rc;
	}
	pthread_mutex_lock(&store->mu);
	if (store->closed) {
		rc = KS_ECLOSED;
	} else if ((t = ks__store_find(store, name)) != NULL) {
		t->refs++;
		*topicp = t;
	} else {
		rc = KS_ETOPIC;
	}
	pthread_mutex_unlock(&store->mu);
	return rc;
}

void ks_topic_release(ks_topic_t *topic)
{
	ks_store_t *s;
	int last, closed;

	if (!topic)
		return;
	s = topic->store;
	pthread_mutex_lock(&s->mu);
	last = --topic->refs == 0;
	pthread_mutex_unlock(&s->mu);
	if (!last)
		return;
	/*
	 * Only a deleted topic, or one whose store is closed, has no
	 * reference left. Under admin_mu no topic of the same name can be
	 * created while its directories go; once the store is closed, the
	 * directory may belong to another writer and is not touched.
	 */
	pthread_mutex_lock(&s->admin_mu);
	(void)ks__topic_close_logs(topic);
	pthread_mutex_lock(&s->mu);
	closed = s->closed;
	ks__store_forget_dead(s, topic);
	pthread_mutex_unlock(&s->mu);
	if (!closed && !s->rdonly)
		remove_partitions(s, topic->name, 0,
		    ks__topic_parts(topic)->n);
	pthread_mutex_unlock(&s->admin_mu);
	ks__topic_free(topic);
}

const char *ks_topic_name(const ks_topic_t *topic)
{
	return topic ? topic->name : NULL;
}

int32_t ks_topic_partitions(ks_topic_t *topic)
{
	if (!topic)
		return KS_EINVAL;
	follow(topic);
	return ks__topic_parts(topic)->n;
}

int ks_topic_config(ks_topic_t *topic, ks_topic_config_t *cfg)
{
	if (!topic || !cfg)
		return KS_EINVAL;
	follow(topic);
	pthread_mutex_lock(&topic->mu);
	*cfg = topic->cfg;
	pthread_mutex_unlock(&topic->mu);
	return 0;
}

int ks_topic_partition(ks_topic_t *topic, int32_t p, ks_log_t **logp)
{
	struct ks__parts *parts;

	if (!logp)
		return KS_EINVAL;
	*logp = NULL;
	if (!topic)
		return KS_EINVAL;
	if (__atomic_load_n(&topic->closed, __ATOMIC_ACQUIRE))
		return KS_ECLOSED;
	if (__atomic_load_n(&topic->deleted, __ATOMIC_ACQUIRE))
		return KS_ETOPIC;
	if (p < 0)
		return KS_EPARTITION;
	parts = ks__topic_parts(topic);
	if (p >= parts->n && topic->store->rdonly) {
		follow(topic);
		if (__atomic_load_n(&topic->deleted, __ATOMIC_ACQUIRE))
			return KS_ETOPIC;
		parts = ks__topic_parts(topic);
	}
	if (p >= parts->n)
		return KS_EPARTITION;
	*logp = parts->logs[p];
	return 0;
}
