/*
 * consumer_protocol.c: Kafka's ConsumerProtocolSubscription and
 * ConsumerProtocolAssignment, versions 0 to 3, in the non-flexible
 * encoding: big-endian integers, strings as an int16 length and bytes,
 * byte fields as an int32 length (-1: null), arrays as an int32 count.
 *
 * Encoding measures and writes in one walk: the writer counts every byte
 * and stores only those that fit, so a call with cap 0 gives the size.
 *
 * Decoding walks the input twice with the same code: first to check it
 * and add up the memory the result needs, then to fill one allocation of
 * exactly that size. A decoded value is then a single free(), and nothing
 * is allocated for input that turns out to be malformed. Every count and
 * length is checked against the bytes left before it is used, so no input
 * makes the decoder read past its end or allocate more than a small
 * multiple of the input's size.
 */
#include "group/group_impl.h"

#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

/* ---- encoding ----------------------------------------------------------- */

struct wr {
	uint8_t *buf;
	size_t cap;
	size_t off;     /* bytes the encoding needs so far */
	int err;        /* KS_EINVAL once the input cannot be encoded */
};

static void put_raw(struct wr *w, const void *p, size_t n)
{
	if (n && w->off <= w->cap && w->cap - w->off >= n)
		memcpy(w->buf + w->off, p, n);
	w->off += n;
}

static void put_i16(struct wr *w, int16_t v)
{
	uint8_t b[2];

	ks__put_be16(b, (uint16_t)v);
	put_raw(w, b, 2);
}

static void put_i32(struct wr *w, int32_t v)
{
	uint8_t b[4];

	ks__put_be32(b, (uint32_t)v);
	put_raw(w, b, 4);
}

/* An array count or a byte length: int32, so at most INT32_MAX. */
static void put_len32(struct wr *w, size_t n)
{
	if (n > INT32_MAX) {
		w->err = KS_EINVAL;
		return;
	}
	put_i32(w, (int32_t)n);
}

/* A string; NULL is written as null only where the schema allows it. */
static void put_str(struct wr *w, const char *s, int nullable)
{
	size_t n;

	if (!s) {
		if (!nullable)
			w->err = KS_EINVAL;
		put_i16(w, -1);
		return;
	}
	n = strlen(s);
	if (n > INT16_MAX) {
		w->err = KS_EINVAL;
		return;
	}
	put_i16(w, (int16_t)n);
	put_raw(w, s, n);
}

static void put_bytes(struct wr *w, const void *p, size_t n)
{
	if (!p) {
		if (n)
			w->err = KS_EINVAL;
		put_i32(w, -1);
		return;
	}
	put_len32(w, n);
	put_raw(w, p, n);
}

static void put_partition_lists(struct wr *w, const ks_partition_list_t *l,
    size_t n)
{
	size_t i, j;

	if (n && !l) {
		w->err = KS_EINVAL;
		return;
	}
	put_len32(w, n);
	for (i = 0; i < n && !w->err; i++) {
		if (l[i].partition_count && !l[i].partitions) {
			w->err = KS_EINVAL;
			return;
		}
		put_str(w, l[i].topic, 0);
		put_len32(w, l[i].partition_count);
		for (j = 0; j < l[i].partition_count && !w->err; j++)
			put_i32(w, l[i].partitions[j]);
	}
}

/* The common end of both encoders: the size, or why there is none. */
static int wr_finish(const struct wr *w, size_t *lenp)
{
	if (w->err)
		return w->err;
	*lenp = w->off;
	return w->off > w->cap ? -ENOBUFS : 0;
}

void ks_subscription_init(ks_subscription_t *sub)
{
	if (!sub)
		return;
	memset(sub, 0, sizeof *sub);
	sub->version = KS_CONSUMER_PROTOCOL_VERSION;
	sub->generation_id = -1;
}

int ks_subscription_encode(const ks_subscription_t *sub, void *buf,
    size_t cap, size_t *lenp)
{
	struct wr w = { .buf = buf, .cap = buf ? cap : 0 };
	size_t i;

	if (!sub || !lenp || (!buf && cap) || sub->version < 0 ||
	    sub->version > KS_CONSUMER_PROTOCOL_VERSION ||
	    (sub->topic_count && !sub->topics))
		return KS_EINVAL;
	put_i16(&w, sub->version);
	put_len32(&w, sub->topic_count);
	for (i = 0; i < sub->topic_count && !w.err; i++)
		put_str(&w, sub->topics[i], 0);
	put_bytes(&w, sub->user_data, sub->user_data_len);
	if (sub->version >= 1)
		put_partition_lists(&w, sub->owned, sub->owned_count);
	if (sub->version >= 2)
		put_i32(&w, sub->generation_id);
	if (sub->version >= 3)
		put_str(&w, sub->rack_id, 1);
	return wr_finish(&w, lenp);
}

void ks_assignment_init(ks_assignment_t *a)
{
	if (!a)
		return;
	memset(a, 0, sizeof *a);
	a->version = KS_CONSUMER_PROTOCOL_VERSION;
}

int ks_assignment_encode(const ks_assignment_t *a, void *buf, size_t cap,
    size_t *lenp)
{
	struct wr w = { .buf = buf, .cap = buf ? cap : 0 };

	if (!a || !lenp || (!buf && cap) || a->version < 0 ||
	    a->version > KS_CONSUMER_PROTOCOL_VERSION)
		return KS_EINVAL;
	put_i16(&w, a->version);
	put_partition_lists(&w, a->assigned, a->assigned_count);
	put_bytes(&w, a->user_data, a->user_data_len);
	return wr_finish(&w, lenp);
}

/* ---- decoding ----------------------------------------------------------- */

/*
 * The reader and the arena it decodes into. With base NULL (the first
 * walk) the arena only counts; with base set (the second) it hands out
 * memory in the same order and the walk stores what it read.
 */
struct rd {
	const uint8_t *p, *end;
	uint8_t *base;
	size_t off;
};

static void *arena(struct rd *r, size_t n, size_t align)
{
	void *p;

	r->off = (r->off + align - 1) & ~(align - 1);
	p = r->base ? r->base + r->off : NULL;
	r->off += n;
	return p;
}

static size_t left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}

static int get_i16(struct rd *r, int16_t *v)
{
	if (left(r) < 2)
		return KS_ECORRUPT;
	*v = (int16_t)ks__be16(r->p);
	r->p += 2;
	return 0;
}

static int get_i32(struct rd *r, int32_t *v)
{
	if (left(r) < 4)
		return KS_ECORRUPT;
	*v = (int32_t)ks__be32(r->p);
	r->p += 4;
	return 0;
}

/*
 * An array count: never negative here (no array of these schemas is
 * nullable), and never more elements than the bytes left could hold at
 * min_size bytes each, so that a forged count cannot make us loop or
 * allocate beyond the input.
 */
static int get_count(struct rd *r, size_t min_size, size_t *n)
{
	int32_t v;

	if (get_i32(r, &v) != 0 || v < 0 ||
	    (size_t)v > left(r) / min_size)
		return KS_ECORRUPT;
	*n = (size_t)v;
	return 0;
}

/*
 * A string, copied into the arena with a NUL. Strings holding a NUL byte
 * are refused: they could not be handed out as C strings unchanged, and
 * no valid topic, member or rack name holds one.
 */
static int get_str(struct rd *r, int nullable, const char **s)
{
	int16_t n;
	char *d;

	if (get_i16(r, &n) != 0)
		return KS_ECORRUPT;
	if (n == -1 && nullable) {
		*s = NULL;
		return 0;
	}
	if (n < 0 || (size_t)n > left(r) || memchr(r->p, 0, (size_t)n))
		return KS_ECORRUPT;
	d = arena(r, (size_t)n + 1, 1);
	if (d) {
		memcpy(d, r->p, (size_t)n);
		d[n] = '\0';
	}
	*s = d;
	r->p += n;
	return 0;
}

static int get_bytes(struct rd *r, const void **data, size_t *len)
{
	int32_t n;
	void *d;

	if (get_i32(r, &n) != 0)
		return KS_ECORRUPT;
	if (n == -1) {
		*data = NULL;
		*len = 0;
		return 0;
	}
	if (n < 0 || (size_t)n > left(r))
		return KS_ECORRUPT;
	/* A zero-length value is not null: it gets a distinct pointer. */
	d = arena(r, (size_t)n ? (size_t)n : 1, 1);
	if (d)
		memcpy(d, r->p, (size_t)n);
	*data = d;
	*len = (size_t)n;
	r->p += n;
	return 0;
}

/* [](topic string, []int32): owned or assigned partitions. */
static int get_partition_lists(struct rd *r, const ks_partition_list_t **lp,
    size_t *np)
{
	ks_partition_list_t *l;
	size_t n, i, j, k;
	int32_t *parts;
	const char *topic;
	int rc;

	/* Each entry takes at least an empty string and a zero count. */
	if ((rc = get_count(r, 2 + 4, &n)) != 0)
		return rc;
	l = arena(r, n * sizeof *l, alignof(ks_partition_list_t));
	for (i = 0; i < n; i++) {
		if ((rc = get_str(r, 0, &topic)) != 0 ||
		    (rc = get_count(r, 4, &k)) != 0)
			return rc;
		parts = arena(r, k * sizeof *parts, alignof(int32_t));
		for (j = 0; j < k; j++) {
			int32_t v;

			if ((rc = get_i32(r, &v)) != 0)
				return rc;
			if (parts)
				parts[j] = v;
		}
		if (l) {
			l[i].topic = topic;
			l[i].partitions = k ? parts : NULL;
			l[i].partition_count = k;
		}
	}
	*lp = n ? l : NULL;
	*np = n;
	return 0;
}

static int walk_subscription(struct rd *r)
{
	ks_subscription_t *sub, tmp;
	const char **topics;
	size_t i;
	int rc;

	sub = arena(r, sizeof *sub, alignof(ks_subscription_t));
	ks_subscription_init(&tmp);
	if ((rc = get_i16(r, &tmp.version)) != 0)
		return rc;
	if (tmp.version < 0)
		return KS_ECORRUPT;
	if ((rc = get_count(r, 2, &tmp.topic_count)) != 0)
		return rc;
	topics = arena(r, tmp.topic_count * sizeof *topics,
	    alignof(const char *));
	for (i = 0; i < tmp.topic_count; i++) {
		const char *s;

		if ((rc = get_str(r, 0, &s)) != 0)
			return rc;
		if (topics)
			topics[i] = s;
	}
	tmp.topics = tmp.topic_count ? topics : NULL;
	if ((rc = get_bytes(r, &tmp.user_data, &tmp.user_data_len)) != 0)
		return rc;
	/* Versions past 3 are read as 3: Kafka only ever appends fields. */
	if (tmp.version >= 1 && (rc = get_partition_lists(r, &tmp.owned,
	    &tmp.owned_count)) != 0)
		return rc;
	if (tmp.version >= 2 && (rc = get_i32(r, &tmp.generation_id)) != 0)
		return rc;
	if (tmp.version >= 3 && (rc = get_str(r, 1, &tmp.rack_id)) != 0)
		return rc;
	if (sub)
		*sub = tmp;
	return 0;
}

static int walk_assignment(struct rd *r)
{
	ks_assignment_t *a, tmp;
	int rc;

	a = arena(r, sizeof *a, alignof(ks_assignment_t));
	ks_assignment_init(&tmp);
	if ((rc = get_i16(r, &tmp.version)) != 0)
		return rc;
	if (tmp.version < 0)
		return KS_ECORRUPT;
	if ((rc = get_partition_lists(r, &tmp.assigned,
	    &tmp.assigned_count)) != 0 ||
	    (rc = get_bytes(r, &tmp.user_data, &tmp.user_data_len)) != 0)
		return rc;
	if (a)
		*a = tmp;
	return 0;
}

/*
 * Runs walk over buf twice, counting then filling; *outp receives the
 * allocation, which begins with the decoded struct.
 */
static int decode(const void *buf, size_t len, int (*walk)(struct rd *),
    void **outp)
{
	const uint8_t *in = buf ? buf : (const uint8_t *)"";
	struct rd r = { .p = in, .end = in };
	size_t size;
	int rc;

	*outp = NULL;
	if (!buf && len)
		return KS_EINVAL;
	r.end = in + len;
	if ((rc = walk(&r)) != 0)
		return rc;
	size = r.off;
	if (!(r.base = malloc(size)))
		return KS_ENOMEM;
	r.p = in;
	r.off = 0;
	rc = walk(&r);
	if (rc != 0 || r.off != size) { /* cannot happen: the same walk */
		free(r.base);
		return rc ? rc : KS_ECORRUPT;
	}
	*outp = r.base;
	return 0;
}

int ks_subscription_decode(const void *buf, size_t len,
    ks_subscription_t **subp)
{
	void *out;
	int rc;

	if (!subp)
		return KS_EINVAL;
	rc = decode(buf, len, walk_subscription, &out);
	*subp = out;
	return rc;
}

void ks_subscription_free(ks_subscription_t *sub)
{
	free(sub);
}

int ks_assignment_decode(const void *buf, size_t len, ks_assignment_t **ap)
{
	void *out;
	int rc;

	if (!ap)
		return KS_EINVAL;
	rc = decode(buf, len, walk_assignment, &out);
	*ap = out;
	return rc;
}

void ks_assignment_free(ks_assignment_t *a)
{
	free(a);
}

/* ---- building assignments ----------------------------------------------- */

ks_assignment_t *ks__assignment_build(const struct ks__tp *tps, size_t n,
    int16_t version)
{
	ks_partition_list_t *l = NULL;
	ks_assignment_t *a;
	size_t ntopics = 0, names = 0, size, i, t;
	int32_t *parts;
	char *str;

	for (i = 0; i < n; i++) {
		if (i == 0 || strcmp(tps[i].topic, tps[i - 1].topic) != 0) {
			ntopics++;
			names += strlen(tps[i].topic) + 1;
		}
	}
	/* struct, then lists, then partitions, then names: each aligned. */
	size = sizeof *a + ntopics * sizeof *l + n * sizeof *parts + names;
	if (!(a = malloc(size)))
		return NULL;
	ks_assignment_init(a);
	a->version = version;
	l = (ks_partition_list_t *)(a + 1);
	parts = (int32_t *)(l + ntopics);
	str = (char *)(parts + n);
	for (i = 0, t = 0; i < n; i++) {
		if (i == 0 || strcmp(tps[i].topic, tps[i - 1].topic) != 0) {
			size_t len = strlen(tps[i].topic) + 1;

			memcpy(str, tps[i].topic, len);
			l[t].topic = str;
			l[t].partitions = parts + i;
			l[t].partition_count = 0;
			str += len;
			t++;
		}
		parts[i] = tps[i].partition;
		l[t - 1].partition_count++;
	}
	a->assigned = ntopics ? l : NULL;
	a->assigned_count = ntopics;
	return a;
}
