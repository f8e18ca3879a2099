/*
 * meta.c: the cluster metadata image and the commands that change it.
 *
 * Every voter applies the same commands in the same order, so apply must
 * be a pure function of (image, bytes): no clocks, no randomness, no
 * iteration over anything unordered. A command is decoded whole and
 * checked before the image is touched, so bytes that do not decode leave
 * it as it was, and every allocation an apply needs is made before the
 * first change, so KS_ENOMEM leaves it as it was too.
 */
#include "replication/meta.h"

#include <stdlib.h>
#include <string.h>

#define SNAP_MAGIC 0x4b53524dU         /* "KSRM" */
#define SNAP_VERSION 1

/* ---- image ------------------------------------------------------------ */

struct ks__rimage *ks__rimage_new(void)
{
	struct ks__rimage *img = calloc(1, sizeof *img);

	if (img)
		atomic_init(&img->refs, 1);
	return img;
}

static void topic_clear(struct ks__rtopic *t)
{
	free(t->name);
	free(t->configs);
	free(t->parts);
	memset(t, 0, sizeof *t);
}

static void image_free(struct ks__rimage *img)
{
	int32_t i;

	for (i = 0; i < img->ntopics; i++)
		topic_clear(&img->topics[i]);
	free(img->topics);
	free(img->brokers);
	free(img);
}

static int topic_copy(struct ks__rtopic *dst, const struct ks__rtopic *src)
{
	memset(dst, 0, sizeof *dst);
	dst->name = strdup(src->name);
	dst->configs = strdup(src->configs ? src->configs : "");
	if (src->nparts > 0)
		dst->parts = malloc((size_t)src->nparts * sizeof *dst->parts);
	if (!dst->name || !dst->configs || (src->nparts > 0 && !dst->parts)) {
		topic_clear(dst);
		return KS_ENOMEM;
	}
	if (src->nparts > 0)
		memcpy(dst->parts, src->parts,
		    (size_t)src->nparts * sizeof *dst->parts);
	dst->nparts = src->nparts;
	return 0;
}

struct ks__rimage *ks__rimage_dup(const struct ks__rimage *img)
{
	struct ks__rimage *d = ks__rimage_new();
	int32_t i;

	if (!d)
		return NULL;
	d->applied = img->applied;
	d->unclean = img->unclean;
	if (img->nbrokers > 0) {
		d->brokers = malloc((size_t)img->nbrokers * sizeof *d->brokers);
		if (!d->brokers)
			goto fail;
		memcpy(d->brokers, img->brokers,
		    (size_t)img->nbrokers * sizeof *d->brokers);
		d->nbrokers = img->nbrokers;
	}
	if (img->ntopics > 0) {
		d->topics = calloc((size_t)img->ntopics, sizeof *d->topics);
		if (!d->topics)
			goto fail;
		for (i = 0; i < img->ntopics; i++) {
			if (topic_copy(&d->topics[i], &img->topics[i]))
				goto fail;
			d->ntopics = i + 1;
		}
	}
	return d;
fail:
	image_free(d);
	return NULL;
}

void ks__rimage_ref(struct ks__rimage *img)
{
	atomic_fetch_add_explicit(&img->refs, 1, memory_order_relaxed);
}

void ks__rimage_unref(struct ks__rimage *img)
{
	if (img && atomic_fetch_sub_explicit(&img->refs, 1,
	    memory_order_acq_rel) == 1)
		image_free(img);
}

/* ---- lookups ------------------------------------------------------------ */

/* Index of broker id, or -(insertion point) - 1. */
static int32_t broker_find(const struct ks__rimage *img, int32_t id)
{
	int32_t lo = 0, hi = img->nbrokers;

	while (lo < hi) {
		int32_t mid = lo + (hi - lo) / 2;

		if (img->brokers[mid].id == id)
			return mid;
		if (img->brokers[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -lo - 1;
}

static int32_t topic_find(const struct ks__rimage *img, const char *name)
{
	int32_t lo = 0, hi = img->ntopics;

	while (lo < hi) {
		int32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(img->topics[mid].name, name);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -lo - 1;
}

const struct ks__rbroker *ks__rimage_broker(const struct ks__rimage *img,
    int32_t id)
{
	int32_t i = broker_find(img, id);

	return i >= 0 ? &img->brokers[i] : NULL;
}

const struct ks__rtopic *ks__rimage_topic(const struct ks__rimage *img,
    const char *name)
{
	int32_t i = topic_find(img, name);

	return i >= 0 ? &img->topics[i] : NULL;
}

const struct ks__rpart *ks__rimage_part(const struct ks__rimage *img,
    const char *topic, int32_t p)
{
	const struct ks__rtopic *t = ks__rimage_topic(img, topic);

	if (!t || p < 0 || p >= t->nparts)
		return NULL;
	return &t->parts[p];
}

const struct ks__rendpoint *ks__rimage_endpoint(const struct ks__rimage *img,
    int32_t id, const char *scheme)
{
	const struct ks__rbroker *b = ks__rimage_broker(img, id);
	int32_t i;

	if (!b || b->nendpoints < 1)
		return NULL;
	if (!scheme)
		return &b->ep[0];
	for (i = 0; i < b->nendpoints; i++)
		if (strcmp(b->ep[i].scheme, scheme) == 0)
			return &b->ep[i];
	return NULL;
}

static int ids_has(const int32_t *ids, int32_t n, int32_t id)
{
	int32_t i;

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

int ks__rpart_in_isr(const struct ks__rpart *p, int32_t id)
{
	return ids_has(p->isr, p->nisr, id);
}

int ks__rpart_is_replica(const struct ks__rpart *p, int32_t id)
{
	return ids_has(p->replicas, p->nreplicas, id);
}

static int is_live(const struct ks__rimage *img, int32_t id)
{
	const struct ks__rbroker *b = ks__rimage_broker(img, id);

	return b && b->registered && !b->fenced;
}

/* ---- encoding ----------------------------------------------------------- */

/* A growing buffer; the first failure sticks and is reported at the end. */
struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static uint8_t *wb_room(struct wbuf *w, size_t n)
{
	if (w->err)
		return NULL;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		uint8_t *np;

		while (cap < w->len + n)
			cap *= 2;
		np = realloc(w->p, cap);
		if (!np) {
			w->err = KS_ENOMEM;
			return NULL;
		}
		w->p = np;
		w->cap = cap;
	}
	w->len += n;
	return w->p + w->len - n;
}

static void wb_u8(struct wbuf *w, uint8_t v)
{
	uint8_t *p = wb_room(w, 1);

	if (p)
		*p = v;
}

static void wb_u16(struct wbuf *w, uint16_t v)
{
	uint8_t *p = wb_room(w, 2);

	if (p)
		ks__put_be16(p, v);
}

static void wb_i32(struct wbuf *w, int32_t v)
{
	uint8_t *p = wb_room(w, 4);

	if (p)
		ks__put_be32(p, (uint32_t)v);
}

static void wb_u64(struct wbuf *w, uint64_t v)
{
	uint8_t *p = wb_room(w, 8);

	if (p)
		ks__put_be64(p, v);
}

static void wb_str(struct wbuf *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	uint8_t *p;

	if (n > UINT16_MAX) {
		if (!w->err)
			w->err = KS_EINVAL;
		return;
	}
	wb_u16(w, (uint16_t)n);
	p = wb_room(w, n);
	if (p && n)
		memcpy(p, s, n);
}

static void wb_ids(struct wbuf *w, const int32_t *ids, int32_t n)
{
	int32_t i;

	wb_u16(w, (uint16_t)n);
	for (i = 0; i < n; i++)
		wb_i32(w, ids[i]);
}

static int wb_finish(struct wbuf *w, struct ks__rcmd *out)
{
	if (w->err) {
		free(w->p);
		out->p = NULL;
		out->len = 0;
		return w->err;
	}
	out->p = w->p;
	out->len = w->len;
	return 0;
}

/* Replica (or ISR) lists: 1..KS_CLUSTER_MAX_REPLICAS distinct ids >= 0. */
static int ids_valid(const int32_t *ids, int32_t n)
{
	int32_t i;

	if (n < 1 || n > KS_CLUSTER_MAX_REPLICAS)
		return 0;
	for (i = 0; i < n; i++)
		if (ids[i] < 0 || ids_has(ids, i, ids[i]))
			return 0;
	return 1;
}

static int name_valid(const char *name)
{
	return name && *name && strlen(name) <= UINT16_MAX;
}

int ks__rcmd_register(struct ks__rcmd *out, int32_t id, int unclean,
    const struct ks__rendpoint *eps, int32_t n)
{
	struct wbuf w = { 0 };
	int32_t i;

	if (id < 0 || n < 0 || n > KS__R_MAX_ENDPOINTS || (n > 0 && !eps))
		return KS_EINVAL;
	for (i = 0; i < n; i++)
		if (strnlen(eps[i].scheme, sizeof eps[i].scheme) >=
		    sizeof eps[i].scheme ||
		    strnlen(eps[i].host, sizeof eps[i].host) >=
		    sizeof eps[i].host)
			return KS_EINVAL;
	wb_u8(&w, KS__RCMD_REGISTER);
	wb_i32(&w, id);
	wb_u8(&w, unclean ? 1 : 0);
	wb_u16(&w, (uint16_t)n);
	for (i = 0; i < n; i++) {
		wb_str(&w, eps[i].scheme);
		wb_str(&w, eps[i].host);
		wb_i32(&w, eps[i].port);
	}
	return wb_finish(&w, out);
}

static int cmd_id(struct ks__rcmd *out, int type, int32_t id)
{
	struct wbuf w = { 0 };

	if (id < 0)
		return KS_EINVAL;
	wb_u8(&w, (uint8_t)type);
	wb_i32(&w, id);
	return wb_finish(&w, out);
}

int ks__rcmd_fence(struct ks__rcmd *out, int32_t id)
{
	return cmd_id(out, KS__RCMD_FENCE, id);
}

int ks__rcmd_unfence(struct ks__rcmd *out, int32_t id)
{
	return cmd_id(out, KS__RCMD_UNFENCE, id);
}

/* nparts partitions of rf replicas each, as arrays of arrays. */
static int wb_parts(struct wbuf *w, int32_t nparts, int32_t rf,
    const int32_t *replicas)
{
	int32_t i;

	if (nparts < 1 || nparts > UINT16_MAX || !replicas)
		return KS_EINVAL;
	for (i = 0; i < nparts; i++)
		if (!ids_valid(replicas + (size_t)i * rf, rf))
			return KS_EINVAL;
	wb_u16(w, (uint16_t)nparts);
	for (i = 0; i < nparts; i++)
		wb_ids(w, replicas + (size_t)i * rf, rf);
	return 0;
}

int ks__rcmd_create_topic(struct ks__rcmd *out, const char *name,
    const char *configs, int32_t nparts, int32_t rf,
    const int32_t *replicas)
{
	struct wbuf w = { 0 };
	int rc;

	if (!name_valid(name))
		return KS_EINVAL;
	wb_u8(&w, KS__RCMD_CREATE_TOPIC);
	wb_str(&w, name);
	wb_str(&w, configs ? configs : "");
	rc = wb_parts(&w, nparts, rf, replicas);
	if (rc) {
		free(w.p);
		return rc;
	}
	return wb_finish(&w, out);
}

int ks__rcmd_delete_topic(struct ks__rcmd *out, const char *name)
{
	struct wbuf w = { 0 };

	if (!name_valid(name))
		return KS_EINVAL;
	wb_u8(&w, KS__RCMD_DELETE_TOPIC);
	wb_str(&w, name);
	return wb_finish(&w, out);
}

int ks__rcmd_create_partitions(struct ks__rcmd *out, const char *name,
    int32_t nnew, int32_t rf, const int32_t *replicas)
{
	struct wbuf w = { 0 };
	int rc;

	if (!name_valid(name))
		return KS_EINVAL;
	wb_u8(&w, KS__RCMD_CREATE_PARTITIONS);
	wb_str(&w, name);
	rc = wb_parts(&w, nnew, rf, replicas);
	if (rc) {
		free(w.p);
		return rc;
	}
	return wb_finish(&w, out);
}

int ks__rcmd_alter_isr(struct ks__rcmd *out, const char *topic, int32_t p,
    int32_t leader, int32_t leader_epoch, int32_t partition_epoch,
    const int32_t *isr, int32_t nisr)
{
	struct wbuf w = { 0 };

	if (!name_valid(topic) || p < 0 || !isr || !ids_valid(isr, nisr))
		return KS_EINVAL;
	wb_u8(&w, KS__RCMD_ALTER_ISR);
	wb_str(&w, topic);
	wb_i32(&w, p);
	wb_i32(&w, leader);
	wb_i32(&w, leader_epoch);
	wb_i32(&w, partition_epoch);
	wb_ids(&w, isr, nisr);
	return wb_finish(&w, out);
}

/* ---- decoding ----------------------------------------------------------- */

/* A bounded reader; any short read or bad value sets bad and sticks. */
struct rbuf {
	const uint8_t *p;
	size_t left;
	int bad;
};

static const uint8_t *rb_take(struct rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || r->left < n) {
		r->bad = 1;
		return NULL;
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

static uint8_t rb_u8(struct rbuf *r)
{
	const uint8_t *p = rb_take(r, 1);

	return p ? *p : 0;
}

static uint16_t rb_u16(struct rbuf *r)
{
	const uint8_t *p = rb_take(r, 2);

	return p ? ks__be16(p) : 0;
}

static int32_t rb_i32(struct rbuf *r)
{
	const uint8_t *p = rb_take(r, 4);

	return p ? (int32_t)ks__be32(p) : 0;
}

static uint64_t rb_u64(struct rbuf *r)
{
	const uint8_t *p = rb_take(r, 8);

	return p ? ks__be64(p) : 0;
}

/* A string into dst (NUL-terminated, at most cap - 1 bytes, no NUL). */
static void rb_str_into(struct rbuf *r, char *dst, size_t cap)
{
	uint16_t n = rb_u16(r);
	const uint8_t *p = rb_take(r, n);

	if (!p || n >= cap || memchr(p, 0, n)) {
		r->bad = 1;
		dst[0] = 0;
		return;
	}
	memcpy(dst, p, n);
	dst[n] = 0;
}

/* A string as a fresh malloc'd copy; NULL on a bad read or no memory
 * (*nomem tells which). */
static char *rb_str_dup(struct rbuf *r, int *nomem)
{
	uint16_t n = rb_u16(r);
	const uint8_t *p = rb_take(r, n);
	char *s;

	if (!p || memchr(p, 0, n)) {
		r->bad = 1;
		return NULL;
	}
	s = malloc((size_t)n + 1);
	if (!s) {
		*nomem = 1;
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = 0;
	return s;
}

/* An id list into ids[KS_CLUSTER_MAX_REPLICAS]; valid as ids_valid says. */
static int32_t rb_ids(struct rbuf *r, int32_t *ids)
{
	uint16_t n = rb_u16(r);
	int32_t i;

	if (r->bad || n < 1 || n > KS_CLUSTER_MAX_REPLICAS) {
		r->bad = 1;
		return 0;
	}
	for (i = 0; i < n; i++)
		ids[i] = rb_i32(r);
	if (r->bad || !ids_valid(ids, n)) {
		r->bad = 1;
		return 0;
	}
	return n;
}

/* A decoded command: strings and arrays are the command's own. */
struct dcmd {
	int type;
	int32_t id;
	int unclean;
	int32_t nep;
	struct ks__rendpoint ep[KS__R_MAX_ENDPOINTS];
	char *name;
	char *configs;
	int32_t nparts;
	struct ks__rpart *parts;    /* replicas only */
	int32_t p, leader, leader_epoch, partition_epoch, nisr;
	int32_t isr[KS_CLUSTER_MAX_REPLICAS];
};

static void dcmd_free(struct dcmd *c)
{
	free(c->name);
	free(c->configs);
	free(c->parts);
}

static int rb_parts(struct rbuf *r, struct dcmd *c)
{
	uint16_t n = rb_u16(r);
	int32_t i;

	/* Every partition takes at least 6 bytes: no allocation for a count
	 * the buffer cannot hold. */
	if (r->bad || n < 1 || (size_t)n * 6 > r->left) {
		r->bad = 1;
		return 0;
	}
	c->parts = calloc(n, sizeof *c->parts);
	if (!c->parts)
		return KS_ENOMEM;
	c->nparts = n;
	for (i = 0; i < n && !r->bad; i++)
		c->parts[i].nreplicas = rb_ids(r, c->parts[i].replicas);
	return 0;
}

static int cmd_decode(const void *buf, size_t len, struct dcmd *c)
{
	struct rbuf r = { buf, len, 0 };
	int nomem = 0, rc = 0;
	uint16_t n;
	int32_t i;

	memset(c, 0, sizeof *c);
	if (!buf)
		return KS_ECORRUPT;
	c->type = rb_u8(&r);
	switch (c->type) {
	case KS__RCMD_REGISTER:
		c->id = rb_i32(&r);
		c->unclean = rb_u8(&r);
		n = rb_u16(&r);
		if (n > KS__R_MAX_ENDPOINTS || c->unclean > 1)
			r.bad = 1;
		for (i = 0; i < n && !r.bad; i++) {
			rb_str_into(&r, c->ep[i].scheme,
			    sizeof c->ep[i].scheme);
			rb_str_into(&r, c->ep[i].host, sizeof c->ep[i].host);
			c->ep[i].port = rb_i32(&r);
		}
		c->nep = n;
		break;
	case KS__RCMD_FENCE:
	case KS__RCMD_UNFENCE:
		c->id = rb_i32(&r);
		break;
	case KS__RCMD_CREATE_TOPIC:
		c->name = rb_str_dup(&r, &nomem);
		if (c->name)
			c->configs = rb_str_dup(&r, &nomem);
		if (c->configs)
			rc = rb_parts(&r, c);
		break;
	case KS__RCMD_DELETE_TOPIC:
		c->name = rb_str_dup(&r, &nomem);
		break;
	case KS__RCMD_CREATE_PARTITIONS:
		c->name = rb_str_dup(&r, &nomem);
		if (c->name)
			rc = rb_parts(&r, c);
		break;
	case KS__RCMD_ALTER_ISR:
		c->name = rb_str_dup(&r, &nomem);
		c->p = rb_i32(&r);
		c->leader = rb_i32(&r);
		c->leader_epoch = rb_i32(&r);
		c->partition_epoch = rb_i32(&r);
		c->nisr = rb_ids(&r, c->isr);
		break;
	default:
		r.bad = 1;
	}
	if (nomem)
		rc = KS_ENOMEM;
	if (!rc && (r.bad || r.left != 0 || c->id < 0 ||
	    (c->name && !c->name[0])))
		rc = KS_ECORRUPT;
	if (rc)
		dcmd_free(c);
	return rc;
}

/* ---- apply ---------------------------------------------------------- */

static void isr_remove(struct ks__rpart *p, int32_t id)
{
	int32_t i, j = 0;

	for (i = 0; i < p->nisr; i++)
		if (p->isr[i] != id)
			p->isr[j++] = p->isr[i];
	/* Unused slots stay zero: equal images are equal bytes. */
	for (i = j; i < p->nisr; i++)
		p->isr[i] = 0;
	p->nisr = j;
}

static void fence_parts(struct ks__rimage *img, int32_t id)
{
	int32_t t, i, j;

	for (t = 0; t < img->ntopics; t++) {
		for (i = 0; i < img->topics[t].nparts; i++) {
			struct ks__rpart *p = &img->topics[t].parts[i];
			int32_t next = -1;

			if (p->leader == id) {
				/* Clean election: the first live replica that
				 * is in sync; none leaves the partition offline
				 * with its ISR as it was, so the last in-sync
				 * replica can come back and lead. */
				for (j = 0; j < p->nreplicas; j++) {
					int32_t r = p->replicas[j];

					if (r != id && ks__rpart_in_isr(p, r) &&
					    is_live(img, r)) {
						next = r;
						break;
					}
				}
				p->leader = next;
				if (next >= 0)
					isr_remove(p, id);
				p->leader_epoch++;
				p->partition_epoch++;
			} else if (p->leader >= 0 && ks__rpart_in_isr(p, id)) {
				isr_remove(p, id);
				p->partition_epoch++;
			}
		}
	}
}

/* id became live: offline partitions it can lead get it as leader. */
static void elect_live(struct ks__rimage *img, int32_t id)
{
	int32_t t, i, j;

	for (t = 0; t < img->ntopics; t++) {
		for (i = 0; i < img->topics[t].nparts; i++) {
			struct ks__rpart *p = &img->topics[t].parts[i];
			int any_live = 0;

			if (p->leader >= 0 || !ks__rpart_is_replica(p, id))
				continue;
			if (ks__rpart_in_isr(p, id)) {
				p->leader = id;
				p->leader_epoch++;
				p->partition_epoch++;
				continue;
			}
			if (!img->unclean)
				continue;
			for (j = 0; j < p->nisr; j++)
				any_live |= is_live(img, p->isr[j]);
			if (any_live)
				continue;
			/* Unclean: records only the old ISR had are lost. */
			p->leader = id;
			memset(p->isr, 0, sizeof p->isr);
			p->isr[0] = id;
			p->nisr = 1;
			p->leader_epoch++;
			p->partition_epoch++;
		}
	}
}

static int apply_register(struct ks__rimage *img, const struct dcmd *c)
{
	int32_t i = broker_find(img, c->id), k;
	struct ks__rbroker *b;

	if (i < 0) {
		struct ks__rbroker *nb = realloc(img->brokers,
		    ((size_t)img->nbrokers + 1) * sizeof *nb);

		if (!nb)
			return KS_ENOMEM;
		img->brokers = nb;
		i = -i - 1;
		memmove(&nb[i + 1], &nb[i],
		    (size_t)(img->nbrokers - i) * sizeof *nb);
		memset(&nb[i], 0, sizeof nb[i]);
		nb[i].id = c->id;
		nb[i].fenced = 1;
		img->nbrokers++;
	}
	/* The first registration of the cluster decides unclean election. */
	for (k = 0; k < img->nbrokers; k++)
		if (img->brokers[k].registered)
			break;
	if (k == img->nbrokers)
		img->unclean = c->unclean;
	b = &img->brokers[i];
	b->registered = 1;
	b->fenced = 0;
	b->nendpoints = c->nep;
	memset(b->ep, 0, sizeof b->ep);
	memcpy(b->ep, c->ep, (size_t)c->nep * sizeof c->ep[0]);
	elect_live(img, c->id);
	return 0;
}

static void apply_fence(struct ks__rimage *img, const struct dcmd *c, int on)
{
	int32_t i = broker_find(img, c->id);
	struct ks__rbroker *b;

	if (i < 0)
		return;
	b = &img->brokers[i];
	if (!b->registered || b->fenced == on)
		return;
	b->fenced = on;
	if (on)
		fence_parts(img, c->id);
	else
		elect_live(img, c->id);
}

/* New partitions from c->parts: leader the first live replica, ISR every
 * live replica (every replica when none is live: none has data yet). */
static void init_parts(const struct ks__rimage *img, struct ks__rpart *dst,
    const struct dcmd *c)
{
	int32_t i, j;

	for (i = 0; i < c->nparts; i++) {
		struct ks__rpart *p = &dst[i];

		*p = c->parts[i];
		p->leader = -1;
		p->leader_epoch = 0;
		p->partition_epoch = 0;
		p->nisr = 0;
		for (j = 0; j < p->nreplicas; j++)
			if (is_live(img, p->replicas[j]))
				p->isr[p->nisr++] = p->replicas[j];
		if (p->nisr > 0) {
			p->leader = p->isr[0];
		} else {
			memcpy(p->isr, p->replicas, sizeof p->isr);
			p->nisr = p->nreplicas;
		}
	}
}

static int apply_create_topic(struct ks__rimage *img, struct dcmd *c)
{
	int32_t i = topic_find(img, c->name);
	struct ks__rtopic *nt;

	if (i >= 0)
		return 0;
	nt = realloc(img->topics, ((size_t)img->ntopics + 1) * sizeof *nt);
	if (!nt)
		return KS_ENOMEM;
	img->topics = nt;
	i = -i - 1;
	memmove(&nt[i + 1], &nt[i], (size_t)(img->ntopics - i) * sizeof *nt);
	img->ntopics++;
	/* The command's arrays become the topic's. */
	init_parts(img, c->parts, c);
	nt[i].name = c->name;
	nt[i].configs = c->configs;
	nt[i].nparts = c->nparts;
	nt[i].parts = c->parts;
	c->name = c->configs = NULL;
	c->parts = NULL;
	return 0;
}

static void apply_delete_topic(struct ks__rimage *img, const struct dcmd *c)
{
	int32_t i = topic_find(img, c->name);

	if (i < 0)
		return;
	topic_clear(&img->topics[i]);
	memmove(&img->topics[i], &img->topics[i + 1],
	    (size_t)(img->ntopics - i - 1) * sizeof img->topics[0]);
	img->ntopics--;
}

static int apply_create_parts(struct ks__rimage *img, const struct dcmd *c)
{
	int32_t i = topic_find(img, c->name);
	struct ks__rtopic *t;
	struct ks__rpart *np;

	if (i < 0)
		return 0;
	t = &img->topics[i];
	if ((int64_t)t->nparts + c->nparts > INT32_MAX)
		return 0;
	np = realloc(t->parts, ((size_t)t->nparts + c->nparts) * sizeof *np);
	if (!np)
		return KS_ENOMEM;
	t->parts = np;
	init_parts(img, np + t->nparts, c);
	t->nparts += c->nparts;
	return 0;
}

static void apply_alter_isr(struct ks__rimage *img, const struct dcmd *c)
{
	int32_t ti = topic_find(img, c->name), i;
	struct ks__rpart *p;

	if (ti < 0 || c->p < 0 || c->p >= img->topics[ti].nparts)
		return;
	p = &img->topics[ti].parts[c->p];
	if (c->leader != p->leader || c->leader < 0 ||
	    c->leader_epoch != p->leader_epoch ||
	    c->partition_epoch != p->partition_epoch)
		return;
	if (!ids_has(c->isr, c->nisr, c->leader))
		return;
	for (i = 0; i < c->nisr; i++) {
		if (!ks__rpart_is_replica(p, c->isr[i]))
			return;
		if (!ks__rpart_in_isr(p, c->isr[i]) &&
		    !is_live(img, c->isr[i]))
			return;
	}
	memcpy(p->isr, c->isr, sizeof p->isr);
	p->nisr = c->nisr;
	p->partition_epoch++;
}

int ks__rimage_apply(struct ks__rimage *img, const void *buf, size_t len)
{
	struct dcmd c;
	int rc = cmd_decode(buf, len, &c);

	if (rc)
		return rc;
	switch (c.type) {
	case KS__RCMD_REGISTER:
		rc = apply_register(img, &c);
		break;
	case KS__RCMD_FENCE:
		apply_fence(img, &c, 1);
		break;
	case KS__RCMD_UNFENCE:
		apply_fence(img, &c, 0);
		break;
	case KS__RCMD_CREATE_TOPIC:
		rc = apply_create_topic(img, &c);
		break;
	case KS__RCMD_DELETE_TOPIC:
		apply_delete_topic(img, &c);
		break;
	case KS__RCMD_CREATE_PARTITIONS:
		rc = apply_create_parts(img, &c);
		break;
	case KS__RCMD_ALTER_ISR:
		apply_alter_isr(img, &c);
		break;
	}
	dcmd_free(&c);
	return rc;
}

/* ---- snapshots ---------------------------------------------------------- */

int ks__rimage_encode(const struct ks__rimage *img, struct ks__rcmd *out)
{
	struct wbuf w = { 0 };
	int32_t i, j;

	wb_i32(&w, (int32_t)SNAP_MAGIC);
	wb_u8(&w, SNAP_VERSION);
	wb_u64(&w, img->applied);
	wb_u8(&w, img->unclean ? 1 : 0);
	wb_i32(&w, img->nbrokers);
	for (i = 0; i < img->nbrokers; i++) {
		const struct ks__rbroker *b = &img->brokers[i];

		wb_i32(&w, b->id);
		wb_u8(&w, b->registered ? 1 : 0);
		wb_u8(&w, b->fenced ? 1 : 0);
		wb_u16(&w, (uint16_t)b->nendpoints);
		for (j = 0; j < b->nendpoints; j++) {
			wb_str(&w, b->ep[j].scheme);
			wb_str(&w, b->ep[j].host);
			wb_i32(&w, b->ep[j].port);
		}
	}
	wb_i32(&w, img->ntopics);
	for (i = 0; i < img->ntopics; i++) {
		const struct ks__rtopic *t = &img->topics[i];

		wb_str(&w, t->name);
		wb_str(&w, t->configs);
		wb_i32(&w, t->nparts);
		for (j = 0; j < t->nparts; j++) {
			const struct ks__rpart *p = &t->parts[j];

			wb_i32(&w, p->leader);
			wb_i32(&w, p->leader_epoch);
			wb_i32(&w, p->partition_epoch);
			wb_ids(&w, p->replicas, p->nreplicas);
			wb_ids(&w, p->isr, p->nisr);
		}
	}
	return wb_finish(&w, out);
}

static int snap_topic(struct rbuf *r, struct ks__rtopic *t)
{
	int nomem = 0;
	int32_t n, j;

	t->name = rb_str_dup(r, &nomem);
	if (t->name)
		t->configs = rb_str_dup(r, &nomem);
	if (nomem)
		return KS_ENOMEM;
	n = rb_i32(r);
	/* A partition takes at least 16 bytes. */
	if (r->bad || !t->name[0] || n < 0 || (size_t)n * 16 > r->left) {
		r->bad = 1;
		return 0;
	}
	if (n > 0) {
		t->parts = calloc((size_t)n, sizeof *t->parts);
		if (!t->parts)
			return KS_ENOMEM;
	}
	t->nparts = n;
	for (j = 0; j < n && !r->bad; j++) {
		struct ks__rpart *p = &t->parts[j];

		p->leader = rb_i32(r);
		p->leader_epoch = rb_i32(r);
		p->partition_epoch = rb_i32(r);
		p->nreplicas = rb_ids(r, p->replicas);
		p->nisr = rb_ids(r, p->isr);
		if (!r->bad && p->leader != -1 &&
		    !ks__rpart_in_isr(p, p->leader))
			r->bad = 1;
	}
	return 0;
}

int ks__rimage_decode(const void *buf, size_t len, struct ks__rimage **imgp)
{
	struct rbuf r = { buf, len, 0 };
	struct ks__rimage *img;
	int32_t n, i, j;
	int rc = 0;

	*imgp = NULL;
	if (!buf)
		return KS_ECORRUPT;
	img = ks__rimage_new();
	if (!img)
		return KS_ENOMEM;
	if ((uint32_t)rb_i32(&r) != SNAP_MAGIC || rb_u8(&r) != SNAP_VERSION)
		r.bad = 1;
	img->applied = rb_u64(&r);
	img->unclean = rb_u8(&r);
	n = rb_i32(&r);
	/* A broker takes at least 8 bytes. */
	if (r.bad || img->unclean > 1 || n < 0 || (size_t)n * 8 > r.left)
		goto corrupt;
	if (n > 0 && !(img->brokers = calloc((size_t)n, sizeof *img->brokers)))
		goto nomem;
	img->nbrokers = n;
	for (i = 0; i < n && !r.bad; i++) {
		struct ks__rbroker *b = &img->brokers[i];
		uint16_t ne;

		b->id = rb_i32(&r);
		b->registered = rb_u8(&r);
		b->fenced = rb_u8(&r);
		ne = rb_u16(&r);
		if (b->id < 0 || (i > 0 && b->id <= b[-1].id) ||
		    b->registered > 1 || b->fenced > 1 ||
		    ne > KS__R_MAX_ENDPOINTS)
			r.bad = 1;
		for (j = 0; j < ne && !r.bad; j++) {
			rb_str_into(&r, b->ep[j].scheme, sizeof b->ep[j].scheme);
			rb_str_into(&r, b->ep[j].host, sizeof b->ep[j].host);
			b->ep[j].port = rb_i32(&r);
		}
		b->nendpoints = ne;
	}
	n = rb_i32(&r);
	/* A topic takes at least 8 bytes. */
	if (r.bad || n < 0 || (size_t)n * 8 > r.left)
		goto corrupt;
	if (n > 0 && !(img->topics = calloc((size_t)n, sizeof *img->topics)))
		goto nomem;
	for (i = 0; i < n && !r.bad; i++) {
		img->ntopics = i + 1;
		rc = snap_topic(&r, &img->topics[i]);
		if (rc)
			goto fail;
		if (!r.bad && i > 0 && strcmp(img->topics[i - 1].name,
		    img->topics[i].name) >= 0)
			r.bad = 1;
	}
	if (r.bad || r.left != 0)
		goto corrupt;
	*imgp = img;
	return 0;
corrupt:
	rc = KS_ECORRUPT;
	goto fail;
nomem:
	rc = KS_ENOMEM;
fail:
	image_free(img);
	return rc;
}

/* ---- assignment --------------------------------------------------------- */

int ks__rassign(const struct ks__rimage *img, int32_t first, int32_t nparts,
    int32_t rf, int32_t *replicas)
{
	int32_t live[1024], n = 0, i, j;

	for (i = 0; i < img->nbrokers && n < (int32_t)(sizeof live /
	    sizeof live[0]); i++)
		if (img->brokers[i].registered && !img->brokers[i].fenced)
			live[n++] = img->brokers[i].id;
	if (rf < 1 || rf > n || rf > KS_CLUSTER_MAX_REPLICAS || nparts < 0 ||
	    first < 0)
		return KS_EINVAL;
	/* Partition first + k starts one member further than the one before
	 * it, so both leaders and followers spread evenly. */
	for (i = 0; i < nparts; i++)
		for (j = 0; j < rf; j++)
			replicas[(size_t)i * rf + j] =
			    live[((int64_t)first + i + j) % n];
	return 0;
}
