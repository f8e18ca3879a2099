/*
 * check.c: ks_log_check, the verification of a partition directory behind
 * `kstream check`, and its repair.
 *
 * The check reads the files itself, read-only, by the rules of
 * docs/format.md (7.1 for the batches, 5 and 6 for the indexes, 8 for the
 * small files), holding the directory's writer lock so that no writer
 * changes them meanwhile (read-only handles take no lock and may stay).
 *
 * A repair writes no recovery of its own: it removes leftovers that are
 * safe to remove, makes the next open scan the whole log (recovery point
 * moved to the first segment's start, clean-shutdown marker removed), and
 * opens and closes the log, whose recovery cuts at the first bad batch,
 * removes the later segments and rebuilds every index. It then checks
 * again: a problem of the first pass that the second no longer finds is
 * reported as repaired. Problems are therefore held until the end.
 */
#include "core/internal.h"
#include "log/check.h"
#include "log/compact.h"
#include "log/log_impl.h"
#include "log/meta.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define KS__CHECK_INDEX_MAX (256u << 20) /* larger index files: damage */

/* What a repair does about a problem. */
enum fix {
	FIX_NONE,       /* nothing can: reported, left alone */
	FIX_UNLINK,     /* a leftover file: removed */
	FIX_OPEN,       /* the log's own recovery on a full scan */
};

struct prob {
	char *file;
	uint64_t pos;
	int64_t off;
	int err;
	char *what;
	enum fix fix;
	int cut;        /* the first bad batch: where the log is cut */
};

/* A good batch of the segment being checked, for the index checks. */
struct bpos {
	uint64_t pos;
	int64_t base, last, max_ts;
};

/* One segment after its walk. */
struct seg {
	int64_t base;
	int has_log, has_index, has_timeindex;
	uint64_t file_len;  /* the .log file's size */
	uint64_t good_end;  /* end of the valid batches */
	uint64_t extent;    /* end of the last non-zero byte or good_end */
	int64_t next;       /* offset after the valid batches */
	int bad;            /* the walk stopped at a bad batch */
};

struct ctx {
	const char *dir;
	struct prob *pv;
	size_t pn, pcap;
	struct seg *segs;
	size_t nsegs, capsegs;
	struct bpos *bv;     /* current segment's batches */
	size_t bn, bcap;
	ks_check_stat_t st;
	int lso_bad;         /* log-start-offset damaged: no repair opens */
	uint64_t cut_pred_bytes;
	int err;             /* what stopped the pass (ENOMEM, I/O) */
};

static void add_prob(struct ctx *c, const char *file, uint64_t pos,
    int64_t off, int err, enum fix fix, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void add_prob(struct ctx *c, const char *file, uint64_t pos,
    int64_t off, int err, enum fix fix, const char *fmt, ...)
{
	struct prob *p;
	va_list ap;
	char buf[512];

	if (c->pn == c->pcap) {
		size_t cap = c->pcap ? 2 * c->pcap : 16;
		struct prob *v = realloc(c->pv, cap * sizeof *v);
		if (!v) {
			c->err = KS_ENOMEM;
			return;
		}
		c->pv = v;
		c->pcap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	p = &c->pv[c->pn];
	memset(p, 0, sizeof *p);
	p->file = strdup(file);
	p->what = strdup(buf);
	if (!p->file || !p->what) {
		free(p->file);
		free(p->what);
		c->err = KS_ENOMEM;
		return;
	}
	p->pos = pos;
	p->off = off;
	p->err = err;
	p->fix = fix;
	c->pn++;
}

static void ctx_free(struct ctx *c)
{
	size_t i;
	for (i = 0; i < c->pn; i++) {
		free(c->pv[i].file);
		free(c->pv[i].what);
	}
	free(c->pv);
	free(c->segs);
	free(c->bv);
	memset(c, 0, sizeof *c);
}

static void path_of(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void seg_path(char *buf, size_t len, const char *dir, int64_t base,
    const char *ext)
{
	snprintf(buf, len, "%s/%020" PRId64 "%s", dir, base, ext);
}

/* ---- names ------------------------------------------------------------ */

/* The base offset of a "<20 digits><rest>" name, or -1. */
static int64_t name_base(const char *n, const char **rest)
{
	uint64_t v = 0;
	int i;
	for (i = 0; i < 20; i++) {
		if (n[i] < '0' || n[i] > '9')
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(n[i] - '0');
	}
	if (v > (uint64_t)INT64_MAX)
		return -1;
	*rest = n + 20;
	return (int64_t)v;
}

static struct seg *seg_get(struct ctx *c, int64_t base)
{
	size_t i;
	for (i = 0; i < c->nsegs; i++)
		if (c->segs[i].base == base)
			return &c->segs[i];
	if (c->nsegs == c->capsegs) {
		size_t cap = c->capsegs ? 2 * c->capsegs : 16;
		struct seg *v = realloc(c->segs, cap * sizeof *v);
		if (!v) {
			c->err = KS_ENOMEM;
			return NULL;
		}
		c->segs = v;
		c->capsegs = cap;
	}
	memset(&c->segs[c->nsegs], 0, sizeof *c->segs);
	c->segs[c->nsegs].base = base;
	return &c->segs[c->nsegs++];
}

static int cmp_seg(const void *a, const void *b)
{
	int64_t x = ((const struct seg *)a)->base;
	int64_t y = ((const struct seg *)b)->base;
	return x < y ? -1 : x > y;
}

static int is_meta_name(const char *n)
{
	return strcmp(n, KS__RP_FILE) == 0 || strcmp(n, KS__CLEAN_FILE) == 0 ||
	    strcmp(n, KS__START_FILE) == 0 || strcmp(n, KS__CLEANER_FILE) == 0;
}

/* Sorts the directory's names into segments, leftovers and strays. */
static int list_files(struct ctx *c)
{
	char path[PATH_MAX];
	DIR *d = opendir(c->dir);
	struct dirent *e;
	size_t i;

	if (!d)
		return -errno;
	while (!c->err && (e = readdir(d)) != NULL) {
		const char *n = e->d_name, *rest;
		size_t len = strlen(n);
		int64_t base;
		struct seg *s;

		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 ||
		    strcmp(n, KS__LOCK_FILE) == 0 || is_meta_name(n))
			continue;
		path_of(path, sizeof path, c->dir, n);
		if (len > 4 && strcmp(n + len - 4, ".tmp") == 0) {
			char m[64];
			if (len - 4 < sizeof m) {
				memcpy(m, n, len - 4);
				m[len - 4] = 0;
				if (is_meta_name(m)) {
					add_prob(c, path, 0, -1, KS_ECORRUPT,
					    FIX_UNLINK, "leftover of an "
					    "interrupted write of %s", m);
					continue;
				}
			}
		}
		base = name_base(n, &rest);
		if (base >= 0) {
			if (strcmp(rest, ".log") == 0 ||
			    strcmp(rest, ".index") == 0 ||
			    strcmp(rest, ".timeindex") == 0) {
				if (!(s = seg_get(c, base)))
					break;
				if (rest[1] == 'l')
					s->has_log = 1;
				else if (rest[1] == 'i')
					s->has_index = 1;
				else
					s->has_timeindex = 1;
				continue;
			}
			if (strcmp(rest, ".log.cleaned") == 0 ||
			    strcmp(rest, ".index.cleaned") == 0 ||
			    strcmp(rest, ".timeindex.cleaned") == 0 ||
			    strcmp(rest, ".log.swap") == 0 ||
			    strcmp(rest, ".index.swap") == 0 ||
			    strcmp(rest, ".timeindex.swap") == 0) {
				add_prob(c, path, 0, base, KS_ECORRUPT,
				    FIX_OPEN, "leftover of an interrupted "
				    "compaction; the next writer settles it");
				continue;
			}
		}
		add_prob(c, path, 0, -1, KS_ECORRUPT, FIX_NONE,
		    "stray file: not one of a log's files (left alone)");
	}
	closedir(d);
	if (c->err)
		return c->err;
	if (c->nsegs)
		qsort(c->segs, c->nsegs, sizeof *c->segs, cmp_seg);
	/* Index files without their .log: an interrupted deletion. */
	for (i = 0; i < c->nsegs; i++) {
		struct seg *s = &c->segs[i];
		if (s->has_log)
			continue;
		if (s->has_index) {
			seg_path(path, sizeof path, c->dir, s->base, ".index");
			add_prob(c, path, 0, -1, KS_ECORRUPT, FIX_UNLINK,
			    "index without its segment (an interrupted "
			    "deletion)");
		}
		if (s->has_timeindex) {
			seg_path(path, sizeof path, c->dir, s->base,
			    ".timeindex");
			add_prob(c, path, 0, -1, KS_ECORRUPT, FIX_UNLINK,
			    "index without its segment (an interrupted "
			    "deletion)");
		}
	}
	/* Keep only the segments, those a .log defines. */
	{
		size_t j = 0;
		for (i = 0; i < c->nsegs; i++)
			if (c->segs[i].has_log)
				c->segs[j++] = c->segs[i];
		c->nsegs = j;
	}
	return c->err;
}

/* ---- the .log walk ---------------------------------------------------- */

/* Position of the first non-zero byte of p[from, to), or to. */
static uint64_t first_nonzero(const uint8_t *p, uint64_t from, uint64_t to)
{
	while (from < to && p[from] == 0)
		from++;
	return from;
}

/* Position after the last non-zero byte of p[from, to), or from. */
static uint64_t last_nonzero_end(const uint8_t *p, uint64_t from, uint64_t to)
{
	while (to > from && p[to - 1] == 0)
		to--;
	return to;
}

/*
 * Where the damaged data from pos ends, as recovery measures what it cuts:
 * past the chain of plausible batch headers from pos and past the last
 * non-zero byte, whichever is further.
 */
static uint64_t data_end(const uint8_t *m, uint64_t pos, uint64_t len)
{
	uint64_t chain = pos, nz = last_nonzero_end(m, pos, len);
	while (len - chain >= KS_BATCH_HEADER_SIZE && m[chain + 16] ==
	    KS_BATCH_MAGIC) {
		uint64_t total = (uint64_t)ks__be32(m + chain + 8) +
		    KS_BATCH_LOG_OVERHEAD;
		if (total < KS_BATCH_HEADER_SIZE || total > len - chain)
			break;
		chain += total;
	}
	return chain > nz ? chain : nz;
}

static int bpos_add(struct ctx *c, uint64_t pos, int64_t base, int64_t last,
    int64_t max_ts)
{
	if (c->bn == c->bcap) {
		size_t cap = c->bcap ? 2 * c->bcap : 256;
		struct bpos *v = realloc(c->bv, cap * sizeof *v);
		if (!v)
			return c->err = KS_ENOMEM;
		c->bv = v;
		c->bcap = cap;
	}
	c->bv[c->bn].pos = pos;
	c->bv[c->bn].base = base;
	c->bv[c->bn].last = last;
	c->bv[c->bn].max_ts = max_ts;
	c->bn++;
	return 0;
}

/*
 * Walks the batches of segment s (mapped at m, file_len bytes) by the
 * rules of docs/format.md 7.1; next_base is the following segment's base
 * offset (-1: none). Fills s's ends and c->bv with the good batches.
 */
static void walk_log(struct ctx *c, struct seg *s, const uint8_t *m,
    int64_t next_base, const char *path)
{
	uint64_t pos = 0, len = s->file_len;
	int64_t next = s->base;

	c->bn = 0;
	while (pos < len) {
		uint64_t left = len - pos, total, nz;
		ks_batch_info_t info;
		uint32_t blen, crc;
		int64_t last;
		int rc;

		if (left < KS_BATCH_LOG_OVERHEAD) {
			if (first_nonzero(m, pos, len) < len) {
				add_prob(c, path, pos, next, KS_EBATCH, FIX_OPEN,
				    "torn batch: %" PRIu64 " bytes, too few "
				    "for a batch header", left);
				s->bad = 1;
			}
			break;
		}
		blen = ks__be32(m + pos + 8);
		if (blen == 0) {
			/* The zero tail of a preallocated file: only zeros
			 * may follow (recovery cuts the log here if not). */
			nz = first_nonzero(m, pos, len);
			if (nz < len) {
				add_prob(c, path, nz, next, KS_ECORRUPT,
				    FIX_OPEN, "data after the zero-filled "
				    "tail that begins at position %" PRIu64
				    " (the log ends there)", pos);
				s->bad = 1;
				s->good_end = pos;
				s->next = next;
				s->extent = data_end(m, pos, len);
				return;
			}
			break;
		}
		total = (uint64_t)blen + KS_BATCH_LOG_OVERHEAD;
		if (blen < KS_BATCH_HEADER_SIZE - KS_BATCH_LOG_OVERHEAD ||
		    blen > INT32_MAX) {
			add_prob(c, path, pos, next, KS_EBATCH, FIX_OPEN,
			    "impossible batch length %" PRIu32, blen);
			s->bad = 1;
			break;
		}
		if (total > left) {
			add_prob(c, path, pos, next, KS_EBATCH, FIX_OPEN,
			    "torn batch: %" PRIu64 " bytes long, %" PRIu64
			    " left in the file", total, left);
			s->bad = 1;
			break;
		}
		if (m[pos + 16] != KS_BATCH_MAGIC) {
			add_prob(c, path, pos, next, KS_EMAGIC, FIX_OPEN,
			    "batch magic %d, not %d", (int)(int8_t)m[pos + 16],
			    KS_BATCH_MAGIC);
			s->bad = 1;
			break;
		}
		rc = ks_batch_parse(m + pos, total, &info);
		if (rc) {
			add_prob(c, path, pos, next, rc, FIX_OPEN,
			    "inconsistent batch header (recordCount %" PRId32
			    ", lastOffsetDelta %" PRId32 ", attributes "
			    "0x%x)", (int32_t)ks__be32(m + pos + 57),
			    (int32_t)ks__be32(m + pos + 23),
			    (unsigned)ks__be16(m + pos + 21));
			s->bad = 1;
			break;
		}
		crc = ks_crc32c(0, m + pos + 21, total - 21);
		if (crc != info.crc) {
			add_prob(c, path, pos, next, KS_ECRC, FIX_OPEN,
			    "CRC-32C mismatch: stored 0x%08" PRIx32
			    ", computed 0x%08" PRIx32, info.crc, crc);
			s->bad = 1;
			break;
		}
		if (info.base_offset < next) {
			if (c->bn == 0)
				add_prob(c, path, pos, next, KS_ESEQUENCE,
				    FIX_OPEN, "first batch's base offset %"
				    PRId64 " is below the segment's base "
				    "offset %" PRId64, info.base_offset,
				    s->base);
			else
				add_prob(c, path, pos, next, KS_ESEQUENCE,
				    FIX_OPEN, "base offset %" PRId64 " does "
				    "not follow the previous batch's last "
				    "offset %" PRId64, info.base_offset,
				    next - 1);
			s->bad = 1;
			break;
		}
		if (info.base_offset > INT64_MAX - 1 - info.last_offset_delta ||
		    info.base_offset + info.last_offset_delta - s->base >
		        INT32_MAX) {
			/* Relative offsets must fit an int32. */
			add_prob(c, path, pos, next, KS_EBATCH, FIX_OPEN,
			    "offsets %" PRId64 " + %" PRId32 " out of the "
			    "segment's range", info.base_offset,
			    info.last_offset_delta);
			s->bad = 1;
			break;
		}
		last = info.base_offset + info.last_offset_delta;
		if (next_base >= 0 && last >= next_base) {
			add_prob(c, path, pos, next, KS_ESEQUENCE, FIX_OPEN,
			    "batch of offsets %" PRId64 "-%" PRId64 " reaches "
			    "into the next segment, which begins at offset %"
			    PRId64, info.base_offset, last, next_base);
			s->bad = 1;
			break;
		}
		if (bpos_add(c, pos, info.base_offset, last,
		        info.max_timestamp) != 0)
			return;
		c->st.batches++;
		c->st.bytes += total;
		next = last + 1;
		pos += total;
	}
	s->good_end = pos;
	s->next = next;
	s->extent = s->bad ? data_end(m, pos, len) : pos;
}

/*
 * Sets lo to the index of the first good batch whose member `field` is
 * >= v (c->bn if none): c->bv is in file order, so sorted by position
 * and by offsets alike.
 */
#define BATCH_LOWER_BOUND(c, field, v, lo)				\
	do {								\
		size_t hi_ = (c)->bn;					\
									\
		(lo) = 0;						\
		while ((lo) < hi_) {					\
			size_t mid_ = (lo) + (hi_ - (lo)) / 2;		\
			if ((c)->bv[mid_].field < (v))			\
				(lo) = mid_ + 1;			\
			else						\
				hi_ = mid_;				\
		}							\
	} while (0)

/* The good batch that starts at pos, or NULL. */
static const struct bpos *batch_at_pos(const struct ctx *c, uint64_t pos)
{
	size_t lo;

	BATCH_LOWER_BOUND(c, pos, pos, lo);
	return lo < c->bn && c->bv[lo].pos == pos ? &c->bv[lo] : NULL;
}

/* The good batch whose last offset is >= off (the one holding it, or the
 * next after a gap), or NULL. */
static const struct bpos *batch_for(const struct ctx *c, int64_t off)
{
	size_t lo;

	BATCH_LOWER_BOUND(c, last, off, lo);
	return lo < c->bn ? &c->bv[lo] : NULL;
}

int ks__file_read(const char *path, size_t max, char **buf, size_t *len)
{
	struct stat st;
	size_t got = 0;
	char *b;
	int fd, rc = 0;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		*len = (size_t)st.st_size;
		return -EFBIG;
	}
	if (!(b = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return KS_ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break; /* shorter than its size: what there is */
		}
		got += (size_t)n;
	}
	close(fd);
	if (rc) {
		free(b);
		return rc;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return 0;
	return 1;
}

/*
 * An index b[0..len) whose entries (esz bytes) end with the zero one at
 * byte at: where a reader stops. Reports the first entry after it that
 * is not all zeros.
 */
static void zero_end(struct ctx *c, const char *path, const uint8_t *b,
    size_t len, uint64_t at, size_t esz)
{
	uint64_t nz = at;

	if (all_zero(b + at, len - at))
		return;
	while (!b[nz])
		nz++;
	add_prob(c, path, nz - nz % esz, -1, KS_ECORRUPT, FIX_OPEN,
	    "entry after the zero-filled end of the index");
}

/* Opens an index of s, reporting a missing or unreadable one. */
static int load_index(struct ctx *c, const struct seg *s, const char *ext,
    int present, char *path, size_t plen, uint8_t **b, size_t *len,
    size_t esz)
{
	char *p;
	int rc;
	seg_path(path, plen, c->dir, s->base, ext);
	if (!present) {
		add_prob(c, path, 0, -1, -ENOENT, FIX_OPEN, "missing: lookups "
		    "in this segment walk it from the start");
		return -1;
	}
	rc = ks__file_read(path, KS__CHECK_INDEX_MAX, &p, len);
	*b = (uint8_t *)p; /* NULL on an error */
	if (rc != 0) {
		if (rc == KS_ENOMEM) {
			c->err = rc;
			return -1;
		}
		add_prob(c, path, 0, -1, rc, FIX_OPEN, "cannot be read: %s",
		    ks_strerror(rc));
		return -1;
	}
	if (*len % esz)
		add_prob(c, path, *len - *len % esz, -1, KS_ECORRUPT, FIX_OPEN,
		    "%zu bytes of a partial entry at the end", *len % esz);
	return 0;
}

/*
 * The offset index: entries until the first zero one (only zeros after
 * it), increasing in both fields, each naming a good batch of the segment
 * that holds its offset. One problem per file: a reader keeps only the
 * entries before the first bad one. Entries past a bad batch are the same
 * damage and not reported twice.
 */
static void check_offidx(struct ctx *c, const struct seg *s)
{
	char path[PATH_MAX];
	uint8_t *b;
	size_t len, n, i;
	int64_t prev_off = -1;
	uint32_t prev_pos = 0;

	if (load_index(c, s, ".index", s->has_index, path, sizeof path, &b,
	        &len, KS__OFFIDX_ENTRY) != 0)
		return;
	n = len / KS__OFFIDX_ENTRY;
	for (i = 0; i < n; i++) {
		const uint8_t *e = b + i * KS__OFFIDX_ENTRY;
		int32_t rel = (int32_t)ks__be32(e);
		uint32_t pos = ks__be32(e + 4);
		uint64_t at = i * KS__OFFIDX_ENTRY;
		int64_t off = s->base + rel;
		const struct bpos *bp;

		if (rel == 0 && pos == 0) {
			zero_end(c, path, b, len, at, KS__OFFIDX_ENTRY);
			break;
		}
		if (s->bad && pos >= s->good_end)
			break;
		if (rel < 0 || pos == 0) {
			add_prob(c, path, at, off, KS_ECORRUPT, FIX_OPEN,
			    "entry %zu (offset %" PRId64 ", position %" PRIu32
			    ") is impossible", i, off, pos);
			break;
		}
		if (i > 0 && (off <= prev_off || pos <= prev_pos)) {
			add_prob(c, path, at, off, KS_ECORRUPT, FIX_OPEN,
			    "entry %zu (offset %" PRId64 ", position %" PRIu32
			    ") does not follow entry %zu (offset %" PRId64
			    ", position %" PRIu32 ")", i, off, pos, i - 1,
			    prev_off, prev_pos);
			break;
		}
		if (pos >= s->good_end) {
			add_prob(c, path, at, off, KS_ECORRUPT, FIX_OPEN,
			    "entry %zu (offset %" PRId64 ") points at "
			    "position %" PRIu32 ", past the segment's data "
			    "(%" PRIu64 " bytes)", i, off, pos, s->good_end);
			break;
		}
		if (!(bp = batch_at_pos(c, pos))) {
			add_prob(c, path, at, off, KS_ECORRUPT, FIX_OPEN,
			    "entry %zu (offset %" PRId64 ") points at "
			    "position %" PRIu32 ", where no batch begins", i,
			    off, pos);
			break;
		}
		if (off < bp->base || off > bp->last) {
			add_prob(c, path, at, off, KS_ECORRUPT, FIX_OPEN,
			    "entry %zu names offset %" PRId64 " but the "
			    "batch at position %" PRIu32 " holds offsets %"
			    PRId64 "-%" PRId64, i, off, pos, bp->base,
			    bp->last);
			break;
		}
		prev_off = off;
		prev_pos = pos;
	}
	free(b);
}

/*
 * The time index: entries until a zero one (after the first, or a first
 * one followed by zeros only), timestamps increasing, offsets not
 * decreasing, each the newest timestamp of the batch whose last offset it
 * names, as the writer records them.
 */
static void check_timeidx(struct ctx *c, const struct seg *s)
{
	char path[PATH_MAX];
	uint8_t *b;
	size_t len, n, i;
	int64_t prev_ts = 0, prev_off = 0;

	if (load_index(c, s, ".timeindex", s->has_timeindex, path,
	        sizeof path, &b, &len, KS__TIMEIDX_ENTRY) != 0)
		return;
	n = len / KS__TIMEIDX_ENTRY;
	for (i = 0; i < n; i++) {
		const uint8_t *e = b + i * KS__TIMEIDX_ENTRY;
		int64_t ts = (int64_t)ks__be64(e);
		int32_t rel = (int32_t)ks__be32(e + 8);
		uint64_t at = i * KS__TIMEIDX_ENTRY;
		int64_t off = s->base + rel;
		const struct bpos *bp;

		if (all_zero(e, KS__TIMEIDX_ENTRY) &&
		    (i > 0 || all_zero(e, len - at))) {
			zero_end(c, path, b, len, at, KS__TIMEIDX_ENTRY);
			break;
		}
		if (s->bad && (rel < 0 || off >= s->next))
			break;
		if (rel < 0) {
			add_prob(c, path, at, off, KS_ECORRUPT, FIX_OPEN,
			    "entry %zu has a negative relative offset %"
			    PRId32, i, rel);
			break;
		}
		if (i > 0 && (ts <= prev_ts || off < prev_off)) {
			add_prob(c, path, at, off, KS_ECORRUPT, FIX_OPEN,
			    "entry %zu (timestamp %" PRId64 ", offset %"
			    PRId64 ") does not follow entry %zu (timestamp %"
			    PRId64 ", offset %" PRId64 ")", i, ts, off, i - 1,
			    prev_ts, prev_off);
			break;
		}
		if (off >= s->next) {
			add_prob(c, path, at, off, KS_ECORRUPT, FIX_OPEN,
			    "entry %zu names offset %" PRId64 ", past the "
			    "segment's last offset %" PRId64, i, off,
			    s->next - 1);
			break;
		}
		bp = batch_for(c, off);
		if (!bp || bp->last != off) {
			add_prob(c, path, at, off, KS_ECORRUPT, FIX_OPEN,
			    "entry %zu names offset %" PRId64 ", which is "
			    "not the last offset of a batch", i, off);
			break;
		}
		if (bp->max_ts != ts) {
			add_prob(c, path, at, off, KS_ECORRUPT, FIX_OPEN,
			    "entry %zu has timestamp %" PRId64 " but the "
			    "batch ending at offset %" PRId64 " has newest "
			    "timestamp %" PRId64, i, ts, off, bp->max_ts);
			break;
		}
		prev_ts = ts;
		prev_off = off;
	}
	free(b);
}

static void check_segment(struct ctx *c, size_t i)
{
	struct seg *s = &c->segs[i];
	char path[PATH_MAX];
	struct stat st;
	uint8_t *m = NULL;
	int fd;

	seg_path(path, sizeof path, c->dir, s->base, ".log");
	c->st.segments++;
	c->bn = 0;
	s->next = s->base;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int rc = -errno;
		if (fd >= 0)
			close(fd);
		add_prob(c, path, 0, s->base, rc, FIX_NONE,
		    "cannot be read: %s", ks_strerror(rc));
		s->bad = 1;
		return;
	}
	s->file_len = (uint64_t)st.st_size;
	if (s->file_len > 0) {
		/* The lock keeps writers out, so the file does not shrink
		 * under the mapping. */
		m = mmap(NULL, (size_t)s->file_len, PROT_READ, MAP_SHARED, fd,
		    0);
		if (m == MAP_FAILED) {
			int rc = -errno;
			close(fd);
			add_prob(c, path, 0, s->base, rc, FIX_NONE,
			    "cannot be mapped: %s", ks_strerror(rc));
			s->bad = 1;
			return;
		}
		walk_log(c, s, m, i + 1 < c->nsegs ? c->segs[i + 1].base : -1,
		    path);
		munmap(m, (size_t)s->file_len);
	}
	close(fd);
	if (c->err)
		return;
	check_offidx(c, s);
	check_timeidx(c, s);
}

/* ---- kstream's own files ---------------------------------------------- */

static void check_meta(struct ctx *c)
{
	char path[PATH_MAX];
	int64_t v[3];
	const struct seg *last = c->nsegs ? &c->segs[c->nsegs - 1] : NULL;
	int rc, damaged = 0;
	size_t i;

	for (i = 0; i < c->nsegs; i++)
		damaged |= c->segs[i].bad;

	path_of(path, sizeof path, c->dir, KS__RP_FILE);
	rc = ks__meta_read(c->dir, KS__RP_FILE, KS__META_RECOVERY, v, 2);
	if (rc == KS_ECORRUPT) {
		add_prob(c, path, 0, -1, rc, FIX_OPEN, "damaged (size, magic "
		    "or checksum); recovery scans the whole log");
	} else if (rc == 0 && !damaged) {
		/* A point inside a segment must be a batch boundary there
		 * (one naming a segment that is gone is merely stale). */
		for (i = 0; i < c->nsegs; i++) {
			const struct seg *s = &c->segs[i];
			if (s->base != v[0])
				continue;
			if (v[1] < 0 || (uint64_t)v[1] > s->good_end)
				add_prob(c, path, 8, -1, KS_ECORRUPT, FIX_OPEN,
				    "recovery point %" PRId64 " lies past "
				    "the data of segment %" PRId64 " (%"
				    PRIu64 " bytes)", v[1], v[0],
				    s->good_end);
		}
	} else if (rc != 0 && rc != -ENOENT) {
		add_prob(c, path, 0, -1, rc, FIX_OPEN, "cannot be read: %s",
		    ks_strerror(rc));
	}

	path_of(path, sizeof path, c->dir, KS__CLEAN_FILE);
	rc = ks__meta_read(c->dir, KS__CLEAN_FILE, KS__META_CLEAN, v, 3);
	if (rc == KS_ECORRUPT) {
		add_prob(c, path, 0, -1, rc, FIX_OPEN, "damaged (size, magic "
		    "or checksum)");
	} else if (rc == 0 && last && v[1] == last->base &&
	    (uint64_t)v[2] == last->file_len && !damaged && v[0] != last->next) {
		/* A marker that matches the files is trusted by the next
		 * open: its log end must be the files' own. */
		add_prob(c, path, 8, v[0], KS_ECORRUPT, FIX_OPEN,
		    "says the log ends at offset %" PRId64 " but its "
		    "segments end at %" PRId64, v[0], last->next);
	} else if (rc != 0 && rc != -ENOENT) {
		add_prob(c, path, 0, -1, rc, FIX_OPEN, "cannot be read: %s",
		    ks_strerror(rc));
	}

	path_of(path, sizeof path, c->dir, KS__START_FILE);
	rc = ks__meta_read(c->dir, KS__START_FILE, KS__META_START, v, 1);
	if (rc != 0 && rc != -ENOENT) {
		/* Records deleted below it would come back without it: a
		 * writer refuses the log, and so does a repair. */
		c->lso_bad = 1;
		add_prob(c, path, 0, -1, rc, FIX_NONE, "%s: the log start "
		    "offset is lost and a writer refuses to open the log",
		    rc == KS_ECORRUPT ? "damaged (size, magic or checksum)" :
		    ks_strerror(rc));
	}

	path_of(path, sizeof path, c->dir, KS__CLEANER_FILE);
	rc = ks__meta_read(c->dir, KS__CLEANER_FILE, KS__META_CLEANER, v, 1);
	if (rc != 0 && rc != -ENOENT)
		add_prob(c, path, 0, -1, rc, FIX_UNLINK, "%s: the next "
		    "compaction counts every segment as dirty",
		    rc == KS_ECORRUPT ? "damaged (size, magic or checksum)" :
		    ks_strerror(rc));
}

/* One pass over the directory (the lock held). */
static int check_pass(struct ctx *c)
{
	size_t i;
	int rc;

	c->st.partitions = 1;
	if ((rc = list_files(c)) != 0)
		return rc;
	for (i = 0; i < c->nsegs && !c->err; i++)
		check_segment(c, i);
	if (c->err)
		return c->err;
	/* What a repair cuts: from the first bad batch to the end. */
	for (i = 0; i < c->nsegs; i++) {
		const struct seg *s = &c->segs[i];
		char want[PATH_MAX];
		size_t j, k;
		if (!s->bad)
			continue;
		c->cut_pred_bytes = s->extent - s->good_end;
		for (j = i + 1; j < c->nsegs; j++)
			c->cut_pred_bytes += c->segs[j].file_len;
		seg_path(want, sizeof want, c->dir, s->base, ".log");
		for (k = 0; k < c->pn; k++)
			if (c->pv[k].fix == FIX_OPEN &&
			    c->pv[k].off == s->next &&
			    strcmp(want, c->pv[k].file) == 0) {
				c->pv[k].cut = 1;
				break;
			}
		break;
	}
	check_meta(c);
	return c->err;
}

/* ---- ks_log_check ------------------------------------------------------ */

static void quiet_log(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

/* The lock holder's complaint, kept for the problem report. */
static void lock_log(void *opaque, int level, const char *msg)
{
	(void)level;
	snprintf(opaque, 256, "%s", msg);
}

static int lock_dir(const char *dir, ks_check_cb *cb, void *opaque, int *fd)
{
	char msg[256] = "", path[PATH_MAX];
	int rc = ks__dir_lock(dir, "log", lock_log, msg, fd);
	if (rc && cb) {
		ks_check_problem_t p;
		path_of(path, sizeof path, dir, KS__LOCK_FILE);
		memset(&p, 0, sizeof p);
		p.file = path;
		p.offset = -1;
		p.error = rc;
		p.what = *msg ? msg : ks_strerror(rc);
		cb(opaque, &p);
	}
	return rc;
}

/*
 * Cuts the log at the first bad batch the check found, as recovery cuts
 * (docs/format.md 7.3): the later segments' files go, last first, then
 * that segment's .log is cut there. The check's rules include recovery's,
 * so its first bad batch is never after recovery's; it may be before, for
 * a batch whose offsets leave its segment (the base offset is outside the
 * CRC), which a walk of one segment cannot see. The recovery point
 * already names the first segment's start, so a crash in the middle
 * leaves a log whose next open cuts the same way. The open that follows
 * rebuilds the indexes. Returns 0 or -errno, with the bytes removed added
 * to *cut.
 */
static int cut_files(struct ctx *c, uint64_t *cut)
{
	char path[PATH_MAX];
	const char *ext[3] = { ".log", ".index", ".timeindex" };
	size_t i, j;
	int k;

	for (i = 0; i < c->nsegs && !c->segs[i].bad; i++)
		;
	if (i == c->nsegs)
		return 0;
	for (j = c->nsegs; j-- > i + 1;) {
		for (k = 0; k < 3; k++) {
			seg_path(path, sizeof path, c->dir, c->segs[j].base,
			    ext[k]);
			if (unlink(path) < 0 && errno != ENOENT)
				return -errno;
		}
		*cut += c->segs[j].file_len;
	}
	seg_path(path, sizeof path, c->dir, c->segs[i].base, ".log");
	if (truncate(path, (off_t)c->segs[i].good_end) < 0)
		return -errno;
	*cut += c->segs[i].extent - c->segs[i].good_end;
	return ks__fsync_dir(c->dir);
}

static int same_prob(const struct prob *a, const struct prob *b)
{
	return a->pos == b->pos && a->err == b->err &&
	    strcmp(a->file, b->file) == 0;
}

int ks__log_check(const char *dir, const ks_log_config_t *cfg, int flags,
    ks_check_cb *cb, void *opaque, ks_check_stat_t *stp)
{
	struct ctx c, c2;
	ks_log_stat_t ls;
	int fd = -1, rc, reopened = 0, open_rc = 0, pass2 = 0;
	uint64_t cut = 0;
	size_t i, j;

	if (stp)
		memset(stp, 0, sizeof *stp);
	if (!dir || !*dir || (flags & ~KS_CHECK_REPAIR))
		return KS_EINVAL;
	memset(&c, 0, sizeof c);
	memset(&c2, 0, sizeof c2);
	memset(&ls, 0, sizeof ls);
	ls.recovery_cut_offset = -1;
	if ((rc = ks__dir_check(dir, 0)) != 0)
		return rc;
	if ((rc = lock_dir(dir, cb, opaque, &fd)) != 0)
		return rc;
	c.dir = dir;
	rc = check_pass(&c);
	if (rc == 0 && (flags & KS_CHECK_REPAIR) && c.pn) {
		int need_open = 0;
		for (i = 0; i < c.pn; i++) {
			if (c.pv[i].fix == FIX_UNLINK)
				(void)unlink(c.pv[i].file);
			need_open |= c.pv[i].fix == FIX_OPEN;
		}
		if (need_open && !c.lso_bad) {
			ks_log_config_t lc;
			ks_log_t *log;
			char path[PATH_MAX];
			int64_t rp[2] = { c.nsegs ? c.segs[0].base : 0, 0 };

			/* The next open must scan everything: a recovery
			 * point from the start, no clean-shutdown marker. */
			if (c.nsegs)
				open_rc = ks__meta_write(dir, KS__RP_FILE,
				    KS__META_RECOVERY, rp, 2, 1);
			path_of(path, sizeof path, dir, KS__CLEAN_FILE);
			if (open_rc == 0 && unlink(path) < 0 && errno != ENOENT)
				open_rc = -errno;
			if (open_rc == 0)
				open_rc = cut_files(&c, &cut);
			if (cfg)
				lc = *cfg;
			else
				ks_log_config_init(&lc);
			lc.flags = 0;
			lc.flush_ms = 0;
			lc.flush_messages = 0;
			lc.log_cb = quiet_log;
			lc.log_opaque = NULL;
			close(fd);
			fd = -1;
			if (open_rc == 0)
				open_rc = ks_log_open(dir, &lc, &log);
			if (open_rc == 0) {
				(void)ks_log_stat(log, &ls);
				open_rc = ks_log_close(log);
			}
			reopened = 1;
			if (lock_dir(dir, NULL, NULL, &fd) != 0)
				fd = -1;
		}
		/* Check again: what is no longer there was repaired. */
		if (fd >= 0) {
			c2.dir = dir;
			if (check_pass(&c2) == 0)
				pass2 = 1;
		}
	}
	if (fd >= 0)
		close(fd);
	if (rc) {
		ctx_free(&c);
		ctx_free(&c2);
		return rc;
	}

	for (i = 0; i < c.pn; i++) {
		struct prob *p = &c.pv[i];
		ks_check_problem_t out;
		char what[768];
		int fixed = 0;

		if (flags & KS_CHECK_REPAIR) {
			if (pass2) {
				fixed = 1;
				for (j = 0; j < c2.pn; j++)
					if (same_prob(p, &c2.pv[j]))
						fixed = 0;
			} else {
				fixed = p->fix == FIX_UNLINK ||
				    (p->fix == FIX_OPEN && reopened &&
				        open_rc == 0);
			}
		}
		if (p->cut && fixed)
			snprintf(what, sizeof what, "%s; cut %" PRIu64
			    " bytes, offsets from %" PRId64 " on", p->what,
			    cut + ls.recovery_cut, p->off);
		else if (p->cut)
			snprintf(what, sizeof what, "%s; the log ends here: a "
			    "repair cuts %" PRIu64 " bytes, offsets from %"
			    PRId64 " on", p->what, c.cut_pred_bytes, p->off);
		else
			snprintf(what, sizeof what, "%s", p->what);
		if (!fixed && p->fix == FIX_OPEN && (flags & KS_CHECK_REPAIR) &&
		    c.lso_bad)
			snprintf(what + strlen(what), sizeof what - strlen(what),
			    " (not repaired: log-start-offset is damaged)");
		else if (!fixed && p->fix == FIX_OPEN && open_rc)
			snprintf(what + strlen(what), sizeof what - strlen(what),
			    " (repair failed: %s)", ks_strerror(open_rc));
		c.st.problems++;
		c.st.repaired += (uint64_t)fixed;
		if (cb) {
			memset(&out, 0, sizeof out);
			out.file = p->file;
			out.position = p->pos;
			out.offset = p->off;
			out.error = p->err;
			out.what = what;
			out.repaired = fixed;
			cb(opaque, &out);
		}
	}
	/* A repair should not have made anything new; if it did, say so. */
	for (j = 0; pass2 && j < c2.pn; j++) {
		int old = 0;
		for (i = 0; i < c.pn; i++)
			if (same_prob(&c.pv[i], &c2.pv[j]))
				old = 1;
		if (old)
			continue;
		c.st.problems++;
		if (cb) {
			ks_check_problem_t out;
			memset(&out, 0, sizeof out);
			out.file = c2.pv[j].file;
			out.position = c2.pv[j].pos;
			out.offset = c2.pv[j].off;
			out.error = c2.pv[j].err;
			out.what = c2.pv[j].what;
			cb(opaque, &out);
		}
	}
	c.st.cut_bytes = cut + ls.recovery_cut;
	if (stp)
		*stp = c.st;
	rc = c.st.problems > c.st.repaired ? KS_ECORRUPT : 0;
	if (rc == 0 && reopened && open_rc)
		rc = open_rc;
	ctx_free(&c);
	ctx_free(&c2);
	return rc;
}

int ks_log_check(const char *dir, int flags, ks_check_cb *cb, void *opaque,
    ks_check_stat_t *st)
{
	return ks__log_check(dir, NULL, flags, cb, opaque, st);
}
