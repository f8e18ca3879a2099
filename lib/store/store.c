/*
 * store.c: the store handle: open (the lock, the scan of the directory and
 * what a crash left behind), close, the topic table, and the cleaner.
 */
#include "core/internal.h"
#include "log/meta.h"
#include "store/store_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void ks_store_config_init(ks_store_config_t *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	ks_topic_config_init(&cfg->topic_defaults);
	cfg->cleaner_interval_ms = 300000;
	cfg->group_min_session_timeout_ms = 6000;
	cfg->group_max_session_timeout_ms = 1800000;
	cfg->group_initial_rebalance_delay_ms = 0;
	cfg->log_cb = ks_log_stderr;
}

const char *ks_store_dir(ks_store_t *store)
{
	return store ? store->dir : NULL;
}

int ks__store_path(const ks_store_t *s, char *buf, size_t len,
    const char *name)
{
	int n = snprintf(buf, len, "%s/%s", s->dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int ks__partition_path(const ks_store_t *s, char *buf, size_t len,
    const char *topic, int32_t p)
{
	int n = snprintf(buf, len, "%s/%s-%" PRId32, s->dir, topic, p);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* ---- the topic table -------------------------------------------------- */

/* Position of name in the table, or where it would go (*found 0). */
static size_t table_pos(ks_store_t *s, const char *name, int *found)
{
	size_t lo = 0, hi = s->ntopics;
	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->topics[mid]->name, name);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

ks_topic_t *ks__store_find(ks_store_t *s, const char *name)
{
	int found;
	size_t i = table_pos(s, name, &found);
	return found ? s->topics[i] : NULL;
}

int ks__store_insert(ks_store_t *s, ks_topic_t *t)
{
	int found;
	size_t i = table_pos(s, t->name, &found);
	if (found)
		return KS_EEXIST;
	if (s->ntopics == s->captopics) {
		size_t cap = s->captopics ? 2 * s->captopics : 16;
		ks_topic_t **n = realloc(s->topics, cap * sizeof *n);
		if (!n)
			return KS_ENOMEM;
		s->topics = n;
		s->captopics = cap;
	}
	memmove(&s->topics[i + 1], &s->topics[i],
	    (s->ntopics - i) * sizeof *s->topics);
	s->topics[i] = t;
	s->ntopics++;
	return 0;
}

int ks__store_unlink(ks_store_t *s, ks_topic_t *t)
{
	int found;
	size_t i = table_pos(s, t->name, &found);
	if (found && s->topics[i] == t) {
		memmove(&s->topics[i], &s->topics[i + 1],
		    (s->ntopics - i - 1) * sizeof *s->topics);
		s->ntopics--;
	}
	__atomic_store_n(&t->deleted, 1, __ATOMIC_RELEASE);
	if (--t->refs == 0)
		return 1;
	t->dead_next = s->dead;
	s->dead = t;
	return 0;
}

int ks__store_name_held(ks_store_t *s, const char *name)
{
	ks_topic_t *t;
	for (t = s->dead; t; t = t->dead_next)
		if (strcmp(t->name, name) == 0)
			return 1;
	return 0;
}

void ks__store_forget_dead(ks_store_t *s, ks_topic_t *t)
{
	ks_topic_t **pp;
	for (pp = &s->dead; *pp; pp = &(*pp)->dead_next)
		if (*pp == t) {
			*pp = t->dead_next;
			return;
		}
}

/* ---- handle lifetime -------------------------------------------------- */

static void store_free(ks_store_t *s)
{
	pthread_mutex_destroy(&s->admin_mu);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->ext_mu);
	pthread_mutex_destroy(&s->cleaner_mu);
	pthread_cond_destroy(&s->cleaner_cv);
	pthread_mutex_destroy(&s->stats_mu);
	pthread_cond_destroy(&s->stats_cv);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->topics);
	free(s->dir);
	free(s);
}

void ks__store_unref(ks_store_t *s)
{
	int last;
	pthread_mutex_lock(&s->mu);
	last = --s->refs == 0;
	pthread_mutex_unlock(&s->mu);
	if (last)
		store_free(s);
}

/* ---- partition directories -------------------------------------------- */

int ks__partition_remove(const char *path)
{
	char file[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir(path);
	int rc = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, KS__STORE_LOCK) == 0)
			continue;
		snprintf(file, sizeof file, "%s/%s", path, e->d_name);
		if (unlink(file) < 0 && errno != ENOENT && rc == 0)
			rc = -errno;
	}
	closedir(d);
	snprintf(file, sizeof file, "%s/%s", path, KS__STORE_LOCK);
	if (unlink(file) < 0 && errno != ENOENT && rc == 0)
		rc = -errno;
	if (rmdir(path) < 0 && errno != ENOENT && rc == 0)
		rc = -errno;
	return rc;
}

/*
 * Whether a directory named like a partition is one the store made: a
 * writer creates .lock in it first thing, and ks__partition_remove()
 * removes .lock last, so it is empty or holds .lock. Anything else was
 * put there by someone else and is not the store's to remove.
 */
int ks__partition_dir_ours(const char *path)
{
	struct dirent *e;
	DIR *d = opendir(path);
	int entries = 0, lock = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0)
			continue;
		entries++;
		if (strcmp(e->d_name, KS__STORE_LOCK) == 0)
			lock = 1;
	}
	closedir(d);
	return lock || entries == 0;
}

/* The names in the directory (store_impl.h): store_check.c reads them
 * with these too. */
int ks__store_partition_dir(const char *ent, size_t *tlen, int32_t *p)
{
	const char *dash = strrchr(ent, '-'), *q;
	char topic[KS__TOPIC_NAME_MAX + 1];
	int64_t v = 0;

	if (!dash || dash == ent || !dash[1] ||
	    (dash[1] == '0' && dash[2]) ||
	    (size_t)(dash - ent) > KS__TOPIC_NAME_MAX)
		return 0;
	for (q = dash + 1; *q; q++) {
		if (*q < '0' || *q > '9' || q - dash > 10)
			return 0;
		v = v * 10 + (*q - '0');
	}
	if (v > INT32_MAX)
		return 0;
	memcpy(topic, ent, (size_t)(dash - ent));
	topic[dash - ent] = 0;
	if (!ks__topic_name_ok(topic))
		return 0;
	*tlen = (size_t)(dash - ent);
	*p = (int32_t)v;
	return 1;
}

size_t ks__store_suffixed(const char *ent, const char *suffix)
{
	size_t n = strlen(ent), sl = strlen(suffix);
	char topic[KS__TOPIC_NAME_MAX + 1];

	if (n <= sl || n - sl > KS__TOPIC_NAME_MAX ||
	    strcmp(ent + n - sl, suffix) != 0)
		return 0;
	memcpy(topic, ent, n - sl);
	topic[n - sl] = 0;
	return ks__topic_name_ok(topic) ? n - sl : 0;
}

static int is_dir(const char *dir, const struct dirent *e)
{
	char path[PATH_MAX];
	struct stat st;
	if (e->d_type != DT_UNKNOWN)
		return e->d_type == DT_DIR;
	snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A growable array of strings. */
struct names {
	char **v;
	size_t n, cap;
};

static int names_add(struct names *ns, const char *s, size_t len)
{
	char *c;
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? 2 * ns->cap : 16;
		char **v = realloc(ns->v, cap * sizeof *v);
		if (!v)
			return KS_ENOMEM;
		ns->v = v;
		ns->cap = cap;
	}
	if (!(c = strndup(s, len)))
		return KS_ENOMEM;
	ns->v[ns->n++] = c;
	return 0;
}

static void names_free(struct names *ns)
{
	size_t i;
	for (i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	memset(ns, 0, sizeof *ns);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The names in the store's directory: topics (from their metadata
 * files), leftover temporary files and partition directories. Each list
 * may be NULL when not wanted. metas comes back sorted.
 */
static int list_dir(ks_store_t *s, struct names *metas, struct names *tmps,
    struct names *pdirs)
{
	DIR *d = opendir(s->dir);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return -errno;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		size_t n;
		int32_t p;
		if (metas &&
		    (n = ks__store_suffixed(e->d_name, KS__TOPIC_SUFFIX)))
			rc = names_add(metas, e->d_name, n);
		else if (tmps &&
		    (n = ks__store_suffixed(e->d_name, KS__TOPIC_TMP)))
			rc = names_add(tmps, e->d_name, strlen(e->d_name));
		else if (pdirs && ks__store_partition_dir(e->d_name, &n, &p) &&
		    is_dir(s->dir, e))
			rc = names_add(pdirs, e->d_name, strlen(e->d_name));
	}
	closedir(d);
	if (rc == 0 && metas && metas->n)
		qsort(metas->v, metas->n, sizeof *metas->v, cmp_str);
	return rc;
}

/*
 * The writer removes what an interrupted create, add_partitions or delete
 * left: temporary metadata files, and partition directories that no
 * metadata file covers (of a topic without one, or numbered past its
 * partition count).
 */
static int remove_leftovers(ks_store_t *s, struct names *tmps,
    struct names *pdirs)
{
	char path[PATH_MAX];
	size_t i;
	int removed = 0;

	for (i = 0; i < tmps->n; i++) {
		if (ks__store_path(s, path, sizeof path, tmps->v[i]) == 0 &&
		    unlink(path) == 0)
			removed = 1;
	}
	for (i = 0; i < pdirs->n; i++) {
		const char *ent = pdirs->v[i];
		char topic[KS__TOPIC_NAME_MAX + 1];
		ks_topic_t *t;
		size_t tlen;
		int32_t p;
		int rc;

		(void)ks__store_partition_dir(ent, &tlen, &p);
		memcpy(topic, ent, tlen);
		topic[tlen] = 0;
		t = ks__store_find(s, topic);
		if (t && p < ks__topic_parts(t)->n)
			continue;
		if (ks__store_path(s, path, sizeof path, ent) != 0)
			continue;
		if (!ks__partition_dir_ours(path)) {
			ks__logf(s->cfg.log_cb, s->cfg.log_opaque,
			    KS_LOG_WARNING, "%s: named like a partition of "
			    "topic %s, which %s, but not made by kstream: "
			    "left alone", path, topic, t ? "has fewer "
			    "partitions" : "does not exist");
			continue;
		}
		rc = ks__partition_remove(path);
		ks__logf(s->cfg.log_cb, s->cfg.log_opaque,
		    rc ? KS_LOG_WARNING : KS_LOG_NOTICE,
		    "%s: partition directory without topic metadata (an "
		    "interrupted create or delete)%s%s", path,
		    rc ? ": cannot remove it: " : ": removed",
		    rc ? ks_strerror(rc) : "");
		removed = 1;
	}
	/* Not needed for safety (the metadata decides), but a removal that
	 * comes back after a power failure would be removed again. */
	return removed ? ks__fsync_dir(s->dir) : 0;
}

static int scan(ks_store_t *s)
{
	struct names metas = { 0 }, tmps = { 0 }, pdirs = { 0 };
	size_t i;
	int rc;

	rc = list_dir(s, &metas, s->rdonly ? NULL : &tmps,
	    s->rdonly ? NULL : &pdirs);
	for (i = 0; rc == 0 && i < metas.n; i++) {
		ks_topic_t *t;
		rc = ks__topic_load(s, metas.v[i], &t);
		if (rc == -ENOENT) {
			/* read-only: the writer deleted it meanwhile */
			rc = 0;
			continue;
		}
		if (rc == 0 && (rc = ks__store_insert(s, t)) != 0)
			ks__topic_free(t);
	}
	if (rc == 0 && !s->rdonly)
		rc = remove_leftovers(s, &tmps, &pdirs);
	names_free(&metas);
	names_free(&tmps);
	names_free(&pdirs);
	return rc;
}

int ks__store_rescan(ks_store_t *s)
{
	struct names metas = { 0 }, gone = { 0 };
	size_t i;
	int rc;

	if ((rc = list_dir(s, &metas, NULL, NULL)) != 0)
		goto out;
	/* Topics whose file went: refreshing them drops them. The table
	 * only changes under admin_mu, which the caller holds. */
	for (i = 0; rc == 0 && i < s->ntopics; i++) {
		const char *name = s->topics[i]->name;
		if (!bsearch(&name, metas.v, metas.n, sizeof *metas.v,
		        cmp_str))
			rc = names_add(&gone, name, strlen(name));
	}
	for (i = 0; rc == 0 && i < gone.n; i++)
		rc = ks__topic_refresh(s, gone.v[i]);
	for (i = 0; rc == 0 && i < metas.n; i++)
		rc = ks__topic_refresh(s, metas.v[i]);
out:
	names_free(&metas);
	names_free(&gone);
	return rc;
}

int ks__store_lock_topics(ks_store_t *s)
{
	int rc = 0;

	if (s->rdonly) {
		pthread_mutex_lock(&s->admin_mu);
		if (!s->closed)
			rc = ks__store_rescan(s);
		pthread_mutex_unlock(&s->admin_mu);
		if (rc)
			return rc;
	}
	pthread_mutex_lock(&s->mu);
	if (s->closed) {
		pthread_mutex_unlock(&s->mu);
		return KS_ECLOSED;
	}
	return 0;
}

/* ---- the lock ----------------------------------------------------------- */

static int take_lock(ks_store_t *s)
{
	return ks__dir_lock(s->dir, "store", s->cfg.log_cb, s->cfg.log_opaque,
	    &s->lock_fd);
}

/* ---- cleaning ----------------------------------------------------------- */

/*
 * One partition's cleaning. Compaction comes from lib/log/compact.c: the
 * cleaner passes the topic's compaction settings and the pass's time.
 */
static int clean_log(ks_log_t *log, int policy, const ks_compact_config_t *cc,
    int64_t now_ms)
{
	int rc = 0, r;
	if (policy & KS_CLEANUP_DELETE)
		rc = ks_log_retention(log, now_ms, NULL);
	if (policy & KS_CLEANUP_COMPACT) {
		r = ks_log_compact(log, cc, now_ms, NULL);
		/* KS_EBUSY: someone else's pass on this log is running. */
		if (r && r != KS_EBUSY && !rc)
			rc = r;
	}
	return rc;
}

/* One pass over the topics alive when it starts; the first error. */
static int clean_pass(ks_store_t *s, int64_t now_ms)
{
	ks_topic_t **ts;
	size_t n, i;
	int rc = 0;

	if (now_ms < 0)
		now_ms = ks__wallclock_ms();
	pthread_mutex_lock(&s->mu);
	if (s->closed) {
		pthread_mutex_unlock(&s->mu);
		return KS_ECLOSED;
	}
	n = s->ntopics;
	ts = malloc((n ? n : 1) * sizeof *ts);
	if (!ts) {
		pthread_mutex_unlock(&s->mu);
		return KS_ENOMEM;
	}
	for (i = 0; i < n; i++) {
		ts[i] = s->topics[i];
		ts[i]->refs++;
	}
	pthread_mutex_unlock(&s->mu);

	for (i = 0; i < n; i++) {
		ks_topic_t *t = ts[i];
		ks_compact_config_t cc;
		struct ks__parts *parts;
		int policy;
		int32_t p;

		ks_compact_config_init(&cc);
		pthread_mutex_lock(&t->mu);
		policy = t->cfg.cleanup_policy;
		cc.delete_retention_ms = t->cfg.delete_retention_ms;
		cc.min_compaction_lag_ms = t->cfg.min_compaction_lag_ms;
		cc.min_cleanable_dirty_ratio = t->cfg.min_cleanable_dirty_ratio;
		pthread_mutex_unlock(&t->mu);
		parts = ks__topic_parts(t);
		for (p = 0; p < parts->n; p++) {
			int r;
			if (__atomic_load_n(&t->deleted, __ATOMIC_ACQUIRE))
				break;
			r = clean_log(parts->logs[p], policy, &cc, now_ms);
			/* A topic deleted under the pass fails for want of
			 * its directory: that is no error of the pass. */
			if (r == 0 || __atomic_load_n(&t->deleted,
			        __ATOMIC_ACQUIRE))
				continue;
			ks__logf(s->cfg.log_cb, s->cfg.log_opaque,
			    KS_LOG_WARNING, "%s: cleaning: %s",
			    ks_log_dir(parts->logs[p]), ks_strerror(r));
			if (!rc)
				rc = r;
		}
	}
	for (i = 0; i < n; i++)
		ks_topic_release(ts[i]);
	free(ts);
	return rc;
}

int ks_store_clean(ks_store_t *store, int64_t now_ms)
{
	if (!store)
		return KS_EINVAL;
	if (store->rdonly)
		return KS_ERDONLY;
	return clean_pass(store, now_ms);
}

static void *cleaner_main(void *arg)
{
	ks_store_t *s = arg;
	struct timespec at;

	pthread_mutex_lock(&s->cleaner_mu);
	while (!s->cleaner_stop) {
		int64_t ns;
		clock_gettime(CLOCK_MONOTONIC, &at);
		ns = at.tv_nsec + s->cfg.cleaner_interval_ms % 1000 * 1000000;
		at.tv_sec += (time_t)(s->cfg.cleaner_interval_ms / 1000 +
		    ns / 1000000000);
		at.tv_nsec = (long)(ns % 1000000000);
		while (!s->cleaner_stop && pthread_cond_timedwait(
		           &s->cleaner_cv, &s->cleaner_mu, &at) != ETIMEDOUT)
			;
		if (s->cleaner_stop)
			break;
		pthread_mutex_unlock(&s->cleaner_mu);
		(void)clean_pass(s, -1); /* errors are reported as they come */
		pthread_mutex_lock(&s->cleaner_mu);
	}
	pthread_mutex_unlock(&s->cleaner_mu);
	return NULL;
}

static void stop_cleaner(ks_store_t *s)
{
	if (!s->cleaner_on)
		return;
	pthread_mutex_lock(&s->cleaner_mu);
	s->cleaner_stop = 1;
	pthread_cond_signal(&s->cleaner_cv);
	pthread_mutex_unlock(&s->cleaner_mu);
	pthread_join(s->cleaner, NULL);
	s->cleaner_on = 0;
}

/* ---- open and close --------------------------------------------------- */

/*
 * Closes every topic's logs, the live and the deleted still held, and
 * drops the table's references. Deleted topics' directories go too, as
 * the last release will not touch the disk once the store is closed.
 */
static int close_topics(ks_store_t *s)
{
	ks_topic_t **live, *t, *dead = NULL;
	size_t n, i;
	int rc = 0, r;

	pthread_mutex_lock(&s->admin_mu);
	pthread_mutex_lock(&s->mu);
	s->closed = 1;
	live = s->topics;
	n = s->ntopics;
	s->topics = NULL;
	s->ntopics = s->captopics = 0;
	dead = s->dead;
	pthread_mutex_unlock(&s->mu);

	/* A dead topic freed meanwhile would have taken admin_mu first. */
	for (t = dead; t; t = t->dead_next) {
		(void)ks__topic_close_logs(t);
		if (!s->rdonly) {
			struct ks__parts *parts = ks__topic_parts(t);
			char path[PATH_MAX];
			int32_t p;
			for (p = 0; p < parts->n; p++)
				if (ks__partition_path(s, path, sizeof path,
				        t->name, p) == 0)
					(void)ks__partition_remove(path);
		}
	}
	for (i = 0; i < n; i++)
		if ((r = ks__topic_close_logs(live[i])) != 0 && !rc)
			rc = r;
	pthread_mutex_unlock(&s->admin_mu);

	for (i = 0; i < n; i++) {
		int last;
		pthread_mutex_lock(&s->mu);
		last = --live[i]->refs == 0;
		pthread_mutex_unlock(&s->mu);
		if (last)
			ks__topic_free(live[i]);
	}
	free(live);
	return rc;
}

int ks_store_open(const char *dir, const ks_store_config_t *cfg,
    ks_store_t **storep)
{
	pthread_condattr_t ca;
	ks_store_t *s;
	int rc;

	if (!storep)
		return KS_EINVAL;
	*storep = NULL;
	if (!dir || !*dir)
		return KS_EINVAL;
	if (!(s = calloc(1, sizeof *s)))
		return KS_ENOMEM;
	if (cfg)
		s->cfg = *cfg;
	else
		ks_store_config_init(&s->cfg);
	s->rdonly = !!(s->cfg.flags & KS_STORE_RDONLY);
	s->lock_fd = -1;
	s->refs = 1;
	pthread_mutex_init(&s->admin_mu, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->ext_mu, NULL);
	pthread_mutex_init(&s->cleaner_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cleaner_cv, &ca);
	pthread_mutex_init(&s->stats_mu, NULL);
	pthread_cond_init(&s->stats_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (!(s->dir = strdup(dir))) {
		store_free(s);
		return KS_ENOMEM;
	}
	if (s->cfg.cleaner_interval_ms < 0 || s->cfg.stats_interval_ms < 0 ||
	    ks__topic_config_check(&s->cfg.topic_defaults) != 0) {
		store_free(s);
		return KS_ECONFIG;
	}
	if ((rc = ks__dir_check(dir, (s->cfg.flags & KS_STORE_CREATE) &&
	                              !s->rdonly)) != 0)
		goto fail;
	if (!s->rdonly && (rc = take_lock(s)) != 0)
		goto fail;
	if ((rc = scan(s)) != 0)
		goto fail;
	if (!s->rdonly && s->cfg.cleaner_interval_ms > 0) {
		if (pthread_create(&s->cleaner, NULL, cleaner_main, s) != 0) {
			rc = KS_ENOMEM;
			goto fail;
		}
		s->cleaner_on = 1;
	}
	if ((rc = ks__store_stats_start(s)) != 0) {
		stop_cleaner(s);
		goto fail;
	}
	*storep = s;
	return 0;
fail:
	(void)close_topics(s);
	ks__store_unref(s);
	return rc;
}

int ks_store_close(ks_store_t *store)
{
	int rc;
	if (!store)
		return 0;
	ks__store_stats_stop(store); /* no callback after close returns */
	stop_cleaner(store);
	/* The coordinator appends to __consumer_offsets: it goes first. */
	pthread_mutex_lock(&store->ext_mu);
	if (store->group_ext)
		store->group_ext_free(store->group_ext);
	store->group_ext = NULL;
	pthread_mutex_unlock(&store->ext_mu);
	rc = close_topics(store);
	/* The writer is done: another may open the store now, even while
	 * topic handles of this one are still to be released. */
	if (store->lock_fd >= 0) {
		close(store->lock_fd);
		store->lock_fd = -1;
	}
	ks__store_unref(store);
	return rc;
}
