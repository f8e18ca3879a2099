/*
 * store_check.c: ks_store_check, `kstream check` on a store directory.
 *
 * The store's lock is held throughout, so no writer opens the store
 * meanwhile; each partition then is checked (and repaired) by the log's
 * own check, under its own lock. Read the way ks_store_open reads the
 * directory (docs/format.md, section 10): the topics are the valid
 * <topic>.topic files; a partition directory is covered when its topic's
 * metadata says the topic has that partition. A repair removes what the
 * next writer would remove anyway (temporary metadata files, partition
 * directories the store made that no metadata covers), with the store's
 * own function; it cannot invent a topic's configuration, nor a missing
 * partition's records.
 */
#include "core/internal.h"
#include "log/check.h"
#include "log/meta.h"
#include "store/store_impl.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct sname {
	char *name;     /* the directory entry */
	char *topic;    /* its topic, for partitions and metadata */
	int32_t part;
	int kind;
};

enum { N_META, N_TMP, N_PART, N_STRAY };

struct sctx {
	const char *dir;
	int flags;
	ks_check_cb *cb;
	void *opaque;
	ks_check_stat_t st;
	int err;        /* the first error that stopped a part of the check */
	char why[256];  /* the metadata reader's complaint */
};

static void report(struct sctx *c, const char *file, uint64_t pos,
    int64_t off, int err, int repaired, const char *what)
{
	ks_check_problem_t p;
	c->st.problems++;
	c->st.repaired += (uint64_t)!!repaired;
	if (!c->cb)
		return;
	memset(&p, 0, sizeof p);
	p.file = file;
	p.position = pos;
	p.offset = off;
	p.error = err;
	p.what = what;
	p.repaired = repaired;
	c->cb(c->opaque, &p);
}

static void keep_msg(void *opaque, int level, const char *msg)
{
	(void)level;
	snprintf(opaque, 256, "%s", msg);
}

/*
 * A partition directory's name, "<topic>-<p>", as the store reads it:
 * 1 with the topic's name in *topic (malloc'd), 0 for another name, -1
 * out of memory.
 */
static int split_partition(const char *ent, char **topic, int32_t *p)
{
	size_t tlen;

	if (!ks__store_partition_dir(ent, &tlen, p))
		return 0;
	return (*topic = strndup(ent, tlen)) ? 1 : -1;
}

/* "<topic><suffix>" with a valid topic name: as split_partition. */
static int split_suffix(const char *ent, const char *suffix, char **topic)
{
	size_t n = ks__store_suffixed(ent, suffix);

	if (!n)
		return 0;
	return (*topic = strndup(ent, n)) ? 1 : -1;
}

static int is_dir(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_sname(const void *a, const void *b)
{
	const struct sname *x = a, *y = b;
	return strcmp(x->name, y->name);
}

static int list_store(const char *dir, struct sname **out, size_t *np)
{
	struct sname *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *d = opendir(dir);
	int rc = 0;

	*out = NULL;
	*np = 0;
	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		char path[PATH_MAX], *topic = NULL;
		int32_t part = -1;
		int kind, r;

		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, KS__STORE_LOCK) == 0 ||
		    /* a cluster member's Raft log (kstream-cluster(7)) */
		    strcmp(e->d_name, "__cluster_metadata") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if ((r = split_suffix(e->d_name, KS__TOPIC_SUFFIX, &topic)) > 0)
			kind = N_META;
		else if (r == 0 && (r = split_suffix(e->d_name, KS__TOPIC_TMP,
		                        &topic)) > 0)
			kind = N_TMP;
		else if (r == 0 && (r = split_partition(e->d_name, &topic,
		                        &part)) > 0 && is_dir(path))
			kind = N_PART;
		else
			kind = N_STRAY;
		if (r < 0) {
			rc = KS_ENOMEM;
			break;
		}
		if (kind == N_STRAY) {
			free(topic);
			topic = NULL;
		}
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 32;
			struct sname *nv = realloc(v, ncap * sizeof *nv);
			if (!nv) {
				free(topic);
				rc = KS_ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		v[n].name = strdup(e->d_name);
		v[n].topic = topic;
		v[n].part = part;
		v[n].kind = kind;
		if (!v[n].name) {
			free(topic);
			rc = KS_ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof *v, cmp_sname);
	*out = v;
	*np = n;
	return rc;
}

static void names_free(struct sname *v, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].topic);
	}
	free(v);
}

static void add_stat(ks_check_stat_t *a, const ks_check_stat_t *b)
{
	a->partitions += b->partitions;
	a->segments += b->segments;
	a->batches += b->batches;
	a->bytes += b->bytes;
	a->problems += b->problems;
	a->repaired += b->repaired;
	a->cut_bytes += b->cut_bytes;
}

static void check_partition(struct sctx *c, const char *path,
    const ks_log_config_t *lc)
{
	ks_check_stat_t ps;
	int rc = ks__log_check(path, lc, c->flags, c->cb, c->opaque, &ps);
	add_stat(&c->st, &ps);
	if (rc == KS_ELOCKED || rc == KS_ENOMEM || rc == KS_EINVAL) {
		if (!c->err)
			c->err = rc;
	} else if (rc != 0 && rc != KS_ECORRUPT) {
		/* Stopped before it could say more: a problem of its own. */
		char what[320];
		snprintf(what, sizeof what, "partition cannot be checked: %s",
		    ks_strerror(rc));
		report(c, path, 0, -1, rc, 0, what);
	}
}

/* A metadata file's topic: 1 with *cfg read, 0 if damaged (reported). */
static int read_topic(struct sctx *c, const char *topic, ks_topic_config_t *cfg)
{
	ks_store_t fake;
	uint8_t id[KS__TOPIC_ID_LEN];
	uint64_t sum;
	char path[PATH_MAX], what[400];
	int rc;

	/* The store's reader, on a handle that has only what it uses. */
	memset(&fake, 0, sizeof fake);
	fake.dir = (char *)c->dir;
	fake.rdonly = 1;
	fake.cfg.log_cb = keep_msg;
	fake.cfg.log_opaque = c->why;
	c->why[0] = 0;
	rc = ks__topic_meta_read(&fake, topic, cfg, id, &sum);
	if (rc == 0)
		return 1;
	snprintf(path, sizeof path, "%s/%s%s", c->dir, topic, KS__TOPIC_SUFFIX);
	if (rc == KS_ECORRUPT) {
		/* "<path>: damaged topic metadata: <why>": keep the why. */
		const char *w = strstr(c->why, ": damaged topic metadata: ");
		snprintf(what, sizeof what, "damaged topic metadata: %s; the "
		    "store cannot be opened (a repair cannot restore the "
		    "topic's configuration)",
		    w ? w + strlen(": damaged topic metadata: ") : "unreadable");
	} else {
		snprintf(what, sizeof what, "topic metadata cannot be read: %s",
		    ks_strerror(rc));
	}
	report(c, path, 0, -1, rc, 0, what);
	return 0;
}

static int covered(const struct sname *v, size_t n, const char *topic,
    int32_t part, const int32_t *counts)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (v[i].kind == N_META && strcmp(v[i].topic, topic) == 0)
			return counts[i] < 0 || part < counts[i];
	return 0;
}

int ks_store_check(const char *dir, int flags, ks_check_cb *cb,
    void *opaque, ks_check_stat_t *stp)
{
	struct sctx c;
	struct sname *v = NULL;
	int32_t *counts = NULL;
	char msg[256] = "", path[PATH_MAX], what[400];
	size_t n = 0, i;
	int fd = -1, rc, removed = 0;

	if (stp)
		memset(stp, 0, sizeof *stp);
	if (!dir || !*dir || (flags & ~KS_CHECK_REPAIR))
		return KS_EINVAL;
	if ((rc = ks__dir_check(dir, 0)) != 0)
		return rc;
	memset(&c, 0, sizeof c);
	c.dir = dir;
	c.flags = flags;
	c.cb = cb;
	c.opaque = opaque;
	if ((rc = ks__dir_lock(dir, "store", keep_msg, msg, &fd)) != 0) {
		snprintf(path, sizeof path, "%s/%s", dir, KS__STORE_LOCK);
		report(&c, path, 0, -1, rc, 0, *msg ? msg : ks_strerror(rc));
		if (stp)
			*stp = c.st;
		return rc;
	}
	if ((rc = list_store(dir, &v, &n)) != 0)
		goto out;
	if (n && !(counts = malloc(n * sizeof *counts))) {
		rc = KS_ENOMEM;
		goto out;
	}

	/* Topics first: each metadata file, then its partitions. A topic
	 * whose metadata is damaged covers every partition directory of
	 * its name (count -1): they are checked, never removed. */
	for (i = 0; i < n; i++) {
		ks_topic_config_t tc;
		int32_t p;

		counts[i] = 0;
		if (v[i].kind != N_META)
			continue;
		if (!read_topic(&c, v[i].topic, &tc)) {
			size_t j;
			ks_log_config_t lc;
			counts[i] = -1;
			ks_log_config_init(&lc);
			for (j = 0; j < n; j++) {
				if (v[j].kind != N_PART ||
				    strcmp(v[j].topic, v[i].topic) != 0)
					continue;
				snprintf(path, sizeof path, "%s/%s", dir,
				    v[j].name);
				check_partition(&c, path, &lc);
			}
			continue;
		}
		counts[i] = tc.partitions;
		tc.log.flags = 0;
		for (p = 0; p < tc.partitions; p++) {
			snprintf(path, sizeof path, "%s/%s-%" PRId32, dir,
			    v[i].topic, p);
			if (!is_dir(path)) {
				report(&c, path, 0, -1, -ENOENT, 0,
				    "partition directory missing (the topic's "
				    "metadata says it has " "partitions up to "
				    "its count): its records are lost");
				continue;
			}
			check_partition(&c, path, &tc.log);
		}
	}

	/* What interrupted operations left, and what is not the store's. */
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, v[i].name);
		if (v[i].kind == N_TMP) {
			int fixed = (flags & KS_CHECK_REPAIR) &&
			    unlink(path) == 0;
			removed |= fixed;
			report(&c, path, 0, -1, KS_ECORRUPT, fixed,
			    "leftover of an interrupted metadata write; the "
			    "next writer removes it");
		} else if (v[i].kind == N_PART &&
		    !covered(v, n, v[i].topic, v[i].part, counts)) {
			if (ks__partition_dir_ours(path)) {
				int fixed = (flags & KS_CHECK_REPAIR) &&
				    ks__partition_remove(path) == 0;
				removed |= fixed;
				report(&c, path, 0, -1, KS_ECORRUPT, fixed,
				    "partition directory without topic "
				    "metadata (an interrupted create or "
				    "delete); the next writer removes it");
			} else {
				snprintf(what, sizeof what, "named like a "
				    "partition of topic %s but not made by "
				    "kstream (left alone)", v[i].topic);
				report(&c, path, 0, -1, KS_ECORRUPT, 0, what);
			}
		} else if (v[i].kind == N_STRAY) {
			report(&c, path, 0, -1, KS_ECORRUPT, 0, "stray file: "
			    "not one of a store's files (left alone)");
		}
	}
	if (removed)
		(void)ks__fsync_dir(dir);
out:
	close(fd);
	names_free(v, n);
	free(counts);
	if (stp)
		*stp = c.st;
	if (rc)
		return rc;
	if (c.err)
		return c.err;
	return c.st.problems > c.st.repaired ? KS_ECORRUPT : 0;
}
