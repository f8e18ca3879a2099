/*
 * metrics.c: metric snapshots (metrics.h), their Prometheus and JSON text,
 * the Prometheus text parser, and the histograms layers keep
 * (metrics_impl.h).
 *
 * A snapshot is an array of pointers to samples; each sample is one
 * malloc()ed block holding its ks_metric_t, bounds, buckets and strings,
 * so a pointer from ks_metrics_at() stays valid while more are added.
 */
#include "core/internal.h"
#include "core/metrics_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

struct ks_metrics {
	ks_metric_t **v;
	size_t n, cap;
};

/* --- histograms ---------------------------------------------------------- */

/* The bucket of a duration: the first i with ns <= 2^i us. */
static inline int hist_bucket(uint64_t ns)
{
	uint64_t us = ns / 1000 + (ns % 1000 != 0);
	if (us <= 1)
		return 0;
	int i = 64 - __builtin_clzll(us - 1);
	return i < KS__HIST_N - 1 ? i : KS__HIST_N - 1;
}

void ks__hist_add(ks__hist_t *h, uint64_t ns)
{
	__atomic_fetch_add(&h->b[hist_bucket(ns)], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->sum_ns, ns, __ATOMIC_RELAXED);
}

void ks__hist_add1(ks__hist_t *h, uint64_t ns)
{
	ks__count1(&h->b[hist_bucket(ns)], 1);
	ks__count1(&h->sum_ns, ns);
}

void ks__hist_read(const ks__hist_t *h, ks__hist_t *out)
{
	for (int i = 0; i < KS__HIST_N; i++)
		out->b[i] = ks__count_get(&h->b[i]);
	out->sum_ns = ks__count_get(&h->sum_ns);
}

void ks__hist_merge(ks__hist_t *into, const ks__hist_t *from)
{
	for (int i = 0; i < KS__HIST_N; i++)
		into->b[i] += from->b[i];
	into->sum_ns += from->sum_ns;
}

/* --- samples ------------------------------------------------------------- */

static int valid_name(const char *s, int colon)
{
	if (!s || !*s)
		return 0;
	for (const char *p = s; *p; p++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (colon && c == ':') ||
		    (p != s && c >= '0' && c <= '9');
		if (!ok)
			return 0;
	}
	return 1;
}

/* A copy of *s as one block; s is trusted (checked by the caller). */
static ks_metric_t *sample_copy(const ks_metric_t *s)
{
	size_t nb = s->type == KS_METRIC_HISTOGRAM ? (size_t)s->nbuckets : 0;
	const char *help = s->help ? s->help : "";
	size_t slen = strlen(s->name) + 1 + strlen(help) + 1;
	for (int i = 0; i < s->nlabels; i++)
		slen += strlen(s->labels[i].name) + 1 +
		    strlen(s->labels[i].value) + 1;
	size_t size = sizeof(ks_metric_t) + nb * (sizeof(double) +
	    sizeof(uint64_t)) + slen;
	ks_metric_t *m = malloc(size);
	if (!m)
		return NULL;
	*m = *s;
	double *bounds = (double *)(m + 1);
	uint64_t *buckets = (uint64_t *)(bounds + nb);
	char *str = (char *)(buckets + nb);
#define KS__PUT(dst, src)                      \
	do {                                   \
		size_t l_ = strlen(src) + 1;   \
		memcpy(str, (src), l_);        \
		(dst) = str;                   \
		str += l_;                     \
	} while (0)
	KS__PUT(m->name, s->name);
	KS__PUT(m->help, help);
	for (int i = 0; i < s->nlabels; i++) {
		KS__PUT(m->labels[i].name, s->labels[i].name);
		KS__PUT(m->labels[i].value, s->labels[i].value);
	}
#undef KS__PUT
	for (int i = s->nlabels; i < KS_METRIC_MAX_LABELS; i++)
		m->labels[i].name = m->labels[i].value = NULL;
	if (nb) {
		memcpy(bounds, s->bounds, nb * sizeof(double));
		memcpy(buckets, s->buckets, nb * sizeof(uint64_t));
	}
	m->nbuckets = (int)nb;
	m->bounds = nb ? bounds : NULL;
	m->buckets = nb ? buckets : NULL;
	if (s->type != KS_METRIC_HISTOGRAM)
		m->count = 0;
	return m;
}

/*
 * An array of n elements of size bytes, with room for *cap, made room
 * for one more: itself, or a larger copy (*cap doubled, from first when
 * 0). NULL out of memory, with arr left as it was.
 */
static void *room_for_one(void *arr, size_t n, size_t *cap, size_t first,
    size_t size)
{
	size_t c = *cap ? *cap * 2 : first;
	void *v;

	if (n < *cap)
		return arr;
	if (!(v = realloc(arr, c * size)))
		return NULL;
	*cap = c;
	return v;
}

static int push(ks_metrics_t *m, ks_metric_t *s)
{
	ks_metric_t **v = room_for_one(m->v, m->n, &m->cap, 32, sizeof *v);

	if (!v)
		return KS_ENOMEM;
	m->v = v;
	m->v[m->n++] = s;
	return 0;
}

static int add_trusted(ks_metrics_t *m, const ks_metric_t *s)
{
	ks_metric_t *c = sample_copy(s);
	if (!c)
		return KS_ENOMEM;
	int rc = push(m, c);
	if (rc)
		free(c);
	return rc;
}

int ks_metrics_new(ks_metrics_t **mp)
{
	if (!mp)
		return KS_EINVAL;
	*mp = calloc(1, sizeof(**mp));
	return *mp ? 0 : KS_ENOMEM;
}

void ks_metrics_free(ks_metrics_t *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i]);
	free(m->v);
	free(m);
}

int ks_metrics_add(ks_metrics_t *m, const ks_metric_t *s)
{
	if (!m || !s || !valid_name(s->name, 1) || s->type < KS_METRIC_COUNTER ||
	    s->type > KS_METRIC_HISTOGRAM || s->nlabels < 0 ||
	    s->nlabels > KS_METRIC_MAX_LABELS)
		return KS_EINVAL;
	for (int i = 0; i < s->nlabels; i++) {
		if (!valid_name(s->labels[i].name, 0) || !s->labels[i].value)
			return KS_EINVAL;
		/* le is the bucket's own label in the text format */
		if (s->type == KS_METRIC_HISTOGRAM &&
		    !strcmp(s->labels[i].name, "le"))
			return KS_EINVAL;
		for (int j = 0; j < i; j++)
			if (!strcmp(s->labels[i].name, s->labels[j].name))
				return KS_EINVAL;
	}
	if (s->type == KS_METRIC_HISTOGRAM) {
		if (s->nbuckets < 0 || (s->nbuckets && (!s->bounds ||
		    !s->buckets)))
			return KS_EINVAL;
		for (int i = 0; i < s->nbuckets; i++)
			if (isnan(s->bounds[i]) || (i && !(s->bounds[i] >
			    s->bounds[i - 1])))
				return KS_EINVAL;
	}
	/* One name, one type: the text format has one # TYPE per name. */
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->v[i]->name, s->name) && m->v[i]->type != s->type)
			return KS_EINVAL;
	return add_trusted(m, s);
}

size_t ks_metrics_count(const ks_metrics_t *m)
{
	return m ? m->n : 0;
}

const ks_metric_t *ks_metrics_at(const ks_metrics_t *m, size_t i)
{
	return m && i < m->n ? m->v[i] : NULL;
}

/* Whether s carries every name=value pair of match (a,b separated). */
static int labels_match(const ks_metric_t *s, const char *match)
{
	const char *p = match;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t plen = comma ? (size_t)(comma - p) : strlen(p);
		const char *eq = memchr(p, '=', plen);
		if (!eq)
			return 0;
		size_t nlen = (size_t)(eq - p), vlen = plen - nlen - 1;
		int found = 0;
		for (int i = 0; i < s->nlabels && !found; i++) {
			const ks_metric_label_t *l = &s->labels[i];
			found = strlen(l->name) == nlen &&
			    !memcmp(l->name, p, nlen) &&
			    strlen(l->value) == vlen &&
			    !memcmp(l->value, eq + 1, vlen);
		}
		if (!found)
			return 0;
		p += plen;
		if (*p == ',')
			p++;
	}
	return 1;
}

const ks_metric_t *ks_metrics_find(const ks_metrics_t *m, const char *name,
    const char *match)
{
	if (!m || !name)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->v[i]->name, name) &&
		    (!match || labels_match(m->v[i], match)))
			return m->v[i];
	return NULL;
}

/* --- what layers add ----------------------------------------------------- */

static void set_labels(ks_metric_t *s, int nlabels, const char *const *labels)
{
	s->nlabels = nlabels;
	for (int i = 0; i < nlabels; i++) {
		s->labels[i].name = labels[2 * i];
		s->labels[i].value = labels[2 * i + 1];
	}
}

int ks__metrics_value(ks_metrics_t *m, const char *name, const char *help,
    int type, double value, int nlabels, const char *const *labels)
{
	ks_metric_t s = { .name = name, .help = help, .type = type,
		.value = value };
	set_labels(&s, nlabels, labels);
	return add_trusted(m, &s);
}

int ks__metrics_hist(ks_metrics_t *m, const char *name, const char *help,
    const ks__hist_t *h, int nlabels, const char *const *labels)
{
	double bounds[KS__HIST_N - 1];
	uint64_t buckets[KS__HIST_N - 1], n = 0;
	for (int i = 0; i < KS__HIST_N - 1; i++) {
		/* 2^i / 1e6 is correctly rounded: it prints as written */
		bounds[i] = (double)(1ull << i) / 1e6;
		n += h->b[i];
		buckets[i] = n;
	}
	ks_metric_t s = { .name = name, .help = help,
		.type = KS_METRIC_HISTOGRAM, .value = (double)h->sum_ns / 1e9,
		.count = n + h->b[KS__HIST_N - 1], .nbuckets = KS__HIST_N - 1,
		.bounds = bounds, .buckets = buckets };
	set_labels(&s, nlabels, labels);
	return add_trusted(m, &s);
}

/* --- a string-keyed hash table (names, label sets) ------------------------ */

struct smap_ent {
	char *key;
	size_t klen;
	uint64_t hash;
	size_t val;
};

struct smap {
	struct smap_ent *t;
	size_t cap, n;
};

static uint64_t hash_bytes(const char *k, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)k[i]) * 1099511628211ull;
	return h;
}

static struct smap_ent *smap_slot(const struct smap *s, const char *k,
    size_t len, uint64_t h)
{
	size_t i = h & (s->cap - 1);
	for (;; i = (i + 1) & (s->cap - 1)) {
		struct smap_ent *e = &s->t[i];
		if (!e->key || (e->hash == h && e->klen == len &&
		    !memcmp(e->key, k, len)))
			return e;
	}
}

/* The value stored under k, or (size_t)-1. */
static size_t smap_get(const struct smap *s, const char *k, size_t len)
{
	if (!s->cap)
		return (size_t)-1;
	struct smap_ent *e = smap_slot(s, k, len, hash_bytes(k, len));
	return e->key ? e->val : (size_t)-1;
}

/* Stores val under a copy of k (replacing any). 0 or KS_ENOMEM. */
static int smap_put(struct smap *s, const char *k, size_t len, size_t val)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct smap_ent *t = calloc(cap, sizeof(*t));
		if (!t)
			return KS_ENOMEM;
		struct smap old = *s;
		s->t = t;
		s->cap = cap;
		for (size_t i = 0; i < old.cap; i++)
			if (old.t[i].key)
				*smap_slot(s, old.t[i].key, old.t[i].klen,
				    old.t[i].hash) = old.t[i];
		free(old.t);
	}
	uint64_t h = hash_bytes(k, len);
	struct smap_ent *e = smap_slot(s, k, len, h);
	if (!e->key) {
		char *c = malloc(len + 1);
		if (!c)
			return KS_ENOMEM;
		memcpy(c, k, len);
		c[len] = 0;
		*e = (struct smap_ent){ c, len, h, val };
		s->n++;
	}
	e->val = val;
	return 0;
}

static void smap_free(struct smap *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->t[i].key);
	free(s->t);
	memset(s, 0, sizeof(*s));
}

/* --- text out ------------------------------------------------------------ */

struct sbuf {
	char *p;
	size_t n, cap;
	int err;
};

static void sb_grow(struct sbuf *b, size_t more)
{
	if (b->err || b->n + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->n + more + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->err = KS_ENOMEM;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void sb_put(struct sbuf *b, const char *s, size_t len)
{
	sb_grow(b, len);
	if (b->err)
		return;
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = 0;
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* A number as Prometheus and JSON readers take it back exactly: integers
 * plainly, others in the fewest digits that read back the same. */
static void fmt_double(char out[32], double v)
{
	if (isnan(v)) {
		strcpy(out, "NaN");
	} else if (isinf(v)) {
		strcpy(out, v > 0 ? "+Inf" : "-Inf");
	} else if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(out, 32, "%.0f", v);
		if (!strcmp(out, "-0"))
			strcpy(out, "0");
	} else {
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(out, 32, "%.*g", prec, v);
			if (prec == 17 || strtod(out, NULL) == v)
				break;
		}
	}
}

static void sb_double(struct sbuf *b, double v)
{
	char num[32];
	fmt_double(num, v);
	sb_str(b, num);
}

static void sb_u64(struct sbuf *b, uint64_t v)
{
	char num[24];
	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	sb_str(b, num);
}

/* Prometheus escapes: \ and newline everywhere, " in label values too. */
static void sb_prom_escaped(struct sbuf *b, const char *s, int quote)
{
	for (const char *p = s; *p; p++) {
		if (*p == '\\')
			sb_put(b, "\\\\", 2);
		else if (*p == '\n')
			sb_put(b, "\\n", 2);
		else if (quote && *p == '"')
			sb_put(b, "\\\"", 2);
		else
			sb_put(b, p, 1);
	}
}

/* {a="x",b="y"[,le="bound"]}, nothing if there are no labels. */
static void sb_prom_labels(struct sbuf *b, const ks_metric_t *s,
    const char *le)
{
	if (!s->nlabels && !le)
		return;
	sb_put(b, "{", 1);
	for (int i = 0; i < s->nlabels; i++) {
		if (i)
			sb_put(b, ",", 1);
		sb_str(b, s->labels[i].name);
		sb_put(b, "=\"", 2);
		sb_prom_escaped(b, s->labels[i].value, 1);
		sb_put(b, "\"", 1);
	}
	if (le) {
		if (s->nlabels)
			sb_put(b, ",", 1);
		sb_put(b, "le=\"", 4);
		sb_str(b, le);
		sb_put(b, "\"", 1);
	}
	sb_put(b, "}", 1);
}

static const char *type_name(int type)
{
	return type == KS_METRIC_COUNTER ? "counter" :
	    type == KS_METRIC_HISTOGRAM ? "histogram" : "gauge";
}

/* A line's start: the name (and suffix), the labels (and le), a space. */
static void prom_key(struct sbuf *b, const ks_metric_t *s,
    const char *suffix, const char *le)
{
	sb_str(b, s->name);
	sb_str(b, suffix);
	sb_prom_labels(b, s, le);
	sb_put(b, " ", 1);
}

static void prom_sample(struct sbuf *b, const ks_metric_t *s)
{
	if (s->type != KS_METRIC_HISTOGRAM) {
		prom_key(b, s, "", NULL);
		sb_double(b, s->value);
		sb_put(b, "\n", 1);
		return;
	}
	char le[32];
	for (int i = 0; i <= s->nbuckets; i++) {
		if (i < s->nbuckets)
			fmt_double(le, s->bounds[i]);
		else
			strcpy(le, "+Inf");
		prom_key(b, s, "_bucket", le);
		sb_u64(b, i < s->nbuckets ? s->buckets[i] : s->count);
		sb_put(b, "\n", 1);
	}
	prom_key(b, s, "_sum", NULL);
	sb_double(b, s->value);
	sb_put(b, "\n", 1);
	prom_key(b, s, "_count", NULL);
	sb_u64(b, s->count);
	sb_put(b, "\n", 1);
}

static void sb_json_str(struct sbuf *b, const char *s)
{
	sb_put(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			char e[2] = { '\\', (char)*p };
			sb_put(b, e, 2);
		} else if (*p == '\n') {
			sb_put(b, "\\n", 2);
		} else if (*p == '\t') {
			sb_put(b, "\\t", 2);
		} else if (*p == '\r') {
			sb_put(b, "\\r", 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			char e[8];
			snprintf(e, sizeof(e), "\\u%04x", *p);
			sb_str(b, e);
		} else {
			sb_put(b, (const char *)p, 1);
		}
	}
	sb_put(b, "\"", 1);
}

/* JSON has no NaN or infinities: those are written as strings. */
static void sb_json_double(struct sbuf *b, double v)
{
	char num[32];
	fmt_double(num, v);
	if (isfinite(v)) {
		sb_str(b, num);
	} else {
		sb_put(b, "\"", 1);
		sb_str(b, num);
		sb_put(b, "\"", 1);
	}
}

static void json_sample(struct sbuf *b, const ks_metric_t *s)
{
	sb_str(b, "{\"name\":");
	sb_json_str(b, s->name);
	sb_str(b, ",\"help\":");
	sb_json_str(b, s->help ? s->help : "");
	sb_str(b, ",\"type\":\"");
	sb_str(b, type_name(s->type));
	sb_str(b, "\",\"labels\":{");
	for (int i = 0; i < s->nlabels; i++) {
		if (i)
			sb_put(b, ",", 1);
		sb_json_str(b, s->labels[i].name);
		sb_put(b, ":", 1);
		sb_json_str(b, s->labels[i].value);
	}
	sb_str(b, "},\"value\":");
	sb_json_double(b, s->value);
	if (s->type == KS_METRIC_HISTOGRAM) {
		sb_str(b, ",\"sum\":");
		sb_json_double(b, s->value);
		sb_str(b, ",\"count\":");
		sb_u64(b, s->count);
		sb_str(b, ",\"buckets\":[");
		for (int i = 0; i <= s->nbuckets; i++) {
			if (i)
				sb_put(b, ",", 1);
			sb_str(b, "{\"le\":");
			if (i < s->nbuckets)
				sb_json_double(b, s->bounds[i]);
			else
				sb_str(b, "\"+Inf\"");
			sb_str(b, ",\"count\":");
			sb_u64(b, i < s->nbuckets ? s->buckets[i] : s->count);
			sb_put(b, "}", 1);
		}
		sb_put(b, "]", 1);
	}
	sb_put(b, "}", 1);
}

/*
 * The order samples are written in: grouped by name, names in the order
 * they first appear, samples of a name in their own order (a stable
 * counting sort on the name's first position).
 */
static int output_order(const ks_metrics_t *m, size_t **orderp)
{
	size_t *group = malloc((m->n + 1) * sizeof(size_t));
	size_t *start = calloc(m->n + 2, sizeof(size_t));
	size_t *order = malloc((m->n + 1) * sizeof(size_t));
	struct smap names = { 0 };
	int rc = group && start && order ? 0 : KS_ENOMEM;
	size_t ngroups = 0;
	for (size_t i = 0; i < m->n && !rc; i++) {
		const char *name = m->v[i]->name;
		size_t g = smap_get(&names, name, strlen(name));
		if (g == (size_t)-1) {
			g = ngroups++;
			rc = smap_put(&names, name, strlen(name), g);
		}
		group[i] = g;
		start[g + 1]++;
	}
	smap_free(&names);
	if (!rc) {
		for (size_t g = 0; g < ngroups; g++)
			start[g + 1] += start[g];
		for (size_t i = 0; i < m->n; i++)
			order[start[group[i]]++] = i;
	}
	free(group);
	free(start);
	if (rc) {
		free(order);
		return rc;
	}
	*orderp = order;
	return 0;
}

int ks_metrics_format(const ks_metrics_t *m, int format, char **out,
    size_t *len)
{
	if (!m || !out || (format != KS_METRICS_PROMETHEUS &&
	    format != KS_METRICS_JSON))
		return KS_EINVAL;
	size_t *order;
	int rc = output_order(m, &order);
	if (rc)
		return rc;
	struct sbuf b = { 0 };
	sb_grow(&b, 0);
	if (b.p)
		b.p[0] = 0;
	if (format == KS_METRICS_JSON)
		sb_str(&b, "{\"metrics\":[");
	for (size_t k = 0; k < m->n; k++) {
		const ks_metric_t *s = m->v[order[k]];
		int first = !k || strcmp(m->v[order[k - 1]]->name, s->name);
		if (format == KS_METRICS_JSON) {
			if (k)
				sb_put(&b, ",", 1);
			json_sample(&b, s);
			continue;
		}
		if (first) {
			if (s->help && *s->help) {
				sb_str(&b, "# HELP ");
				sb_str(&b, s->name);
				sb_put(&b, " ", 1);
				sb_prom_escaped(&b, s->help, 0);
				sb_put(&b, "\n", 1);
			}
			sb_str(&b, "# TYPE ");
			sb_str(&b, s->name);
			sb_put(&b, " ", 1);
			sb_str(&b, type_name(s->type));
			sb_put(&b, "\n", 1);
		}
		prom_sample(&b, s);
	}
	if (format == KS_METRICS_JSON)
		sb_str(&b, "]}\n");
	free(order);
	if (b.err) {
		free(b.p);
		return b.err;
	}
	*out = b.p;
	if (len)
		*len = b.n;
	return 0;
}

/* --- text in ------------------------------------------------------------- */

#define FAM_UNTYPED (-1)
#define FAM_SUMMARY (-2)

/* What # HELP and # TYPE said about a name. */
struct fam {
	int type;      /* KS_METRIC_*, FAM_UNTYPED, FAM_SUMMARY */
	int typed;     /* a # TYPE line came */
	int used;      /* samples came: a later # TYPE is an error */
	char *help;    /* NULL: no # HELP */
};

/* A sample being read; histograms gather their lines here. */
struct psample {
	char *name;           /* the family's name for a histogram */
	size_t fam;           /* index into fams for its help, or -1 */
	int type;
	int nlabels;
	char *lname[KS_METRIC_MAX_LABELS], *lvalue[KS_METRIC_MAX_LABELS];
	double value;
	uint64_t count;
	int have_count, have_inf;
	int nb, capb;
	double *bounds;
	uint64_t *buckets;
};

struct parser {
	struct smap fam_ix;   /* name -> fams index */
	struct fam *fams;
	size_t nfams, capfams;
	struct smap hist_ix;  /* family + labels -> samples index */
	struct psample *samples;
	size_t n, cap;
};

static void psample_free(struct psample *s)
{
	free(s->name);
	for (int i = 0; i < s->nlabels; i++) {
		free(s->lname[i]);
		free(s->lvalue[i]);
	}
	free(s->bounds);
	free(s->buckets);
}

static void parser_free(struct parser *p)
{
	smap_free(&p->fam_ix);
	for (size_t i = 0; i < p->nfams; i++)
		free(p->fams[i].help);
	free(p->fams);
	smap_free(&p->hist_ix);
	for (size_t i = 0; i < p->n; i++)
		psample_free(&p->samples[i]);
	free(p->samples);
}

static struct fam *fam_find(struct parser *p, const char *name, size_t len,
    size_t *ix)
{
	size_t i = smap_get(&p->fam_ix, name, len);
	if (i == (size_t)-1)
		return NULL;
	if (ix)
		*ix = i;
	return &p->fams[i];
}

static int fam_get(struct parser *p, const char *name, size_t len,
    struct fam **fp)
{
	struct fam *f;
	size_t i;
	if ((*fp = fam_find(p, name, len, &i)))
		return 0;
	if (!(f = room_for_one(p->fams, p->nfams, &p->capfams, 16,
	    sizeof *f)))
		return KS_ENOMEM;
	p->fams = f;
	int rc = smap_put(&p->fam_ix, name, len, p->nfams);
	if (rc)
		return rc;
	*fp = &p->fams[p->nfams++];
	**fp = (struct fam){ .type = FAM_UNTYPED };
	return 0;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static const char *skip_blank(const char *s, const char *e)
{
	while (s < e && is_blank(*s))
		s++;
	return s;
}

/* The end of a name starting at s ([a-zA-Z_:][a-zA-Z0-9_:]*), s if none. */
static const char *scan_name(const char *s, const char *e, int colon)
{
	const char *p = s;
	while (p < e) {
		char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (colon && c == ':') || (p != s && c >= '0' &&
		    c <= '9'))
			p++;
		else
			break;
	}
	return p;
}

/* A number token: Go's ParseFloat accepts what strtod does, less hex. */
static int parse_double(const char *s, size_t len, double *v)
{
	char buf[64];
	if (!len || len >= sizeof(buf))
		return KS_EINVAL;
	memcpy(buf, s, len);
	buf[len] = 0;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == 'x' || buf[i] == 'X')
			return KS_EINVAL;
	char *end;
	errno = 0;
	*v = strtod(buf, &end);
	if (*end || (errno == ERANGE && !isinf(*v) && *v != 0))
		return KS_EINVAL;
	return 0;
}

static int parse_int(const char *s, size_t len)
{
	size_t i = 0;
	if (len && (s[0] == '-' || s[0] == '+'))
		i++;
	if (i == len || len > 20)
		return KS_EINVAL;
	for (; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return KS_EINVAL;
	return 0;
}

static char *dup_n(const char *s, size_t len)
{
	char *c = malloc(len + 1);
	if (c) {
		memcpy(c, s, len);
		c[len] = 0;
	}
	return c;
}

/* # HELP text: \\ and \n are escapes; any other backslash stays. */
static char *unescape_help(const char *s, const char *e)
{
	char *out = malloc((size_t)(e - s) + 1), *o = out;
	if (!out)
		return NULL;
	for (; s < e; s++) {
		if (*s == '\\' && s + 1 < e && (s[1] == '\\' || s[1] == 'n')) {
			*o++ = s[1] == 'n' ? '\n' : '\\';
			s++;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
	return out;
}

static int parse_comment(struct parser *p, const char *s, const char *e)
{
	s = skip_blank(s + 1, e);
	int help = e - s >= 4 && !memcmp(s, "HELP", 4);
	int type = e - s >= 4 && !memcmp(s, "TYPE", 4);
	if ((!help && !type) || (s + 4 < e && !is_blank(s[4])))
		return 0; /* a comment */
	if (s + 4 == e)
		return KS_EINVAL;
	s = skip_blank(s + 4, e);
	const char *ne = scan_name(s, e, 1);
	if (ne == s || (ne < e && !is_blank(*ne)))
		return KS_EINVAL;
	struct fam *f;
	int rc = fam_get(p, s, (size_t)(ne - s), &f);
	if (rc)
		return rc;
	s = skip_blank(ne, e);
	if (help) {
		if (f->help)
			return KS_EINVAL; /* a second # HELP */
		return (f->help = unescape_help(s, e)) ? 0 : KS_ENOMEM;
	}
	const char *te = s;
	while (te < e && !is_blank(*te))
		te++;
	if (skip_blank(te, e) != e || f->typed || f->used)
		return KS_EINVAL;
	size_t tl = (size_t)(te - s);
	static const struct {
		const char *name;
		int type;
	} types[] = {
		{ "counter", KS_METRIC_COUNTER },
		{ "gauge", KS_METRIC_GAUGE },
		{ "histogram", KS_METRIC_HISTOGRAM },
		{ "summary", FAM_SUMMARY },
		{ "untyped", FAM_UNTYPED },
		{ "unknown", FAM_UNTYPED }, /* OpenMetrics */
		{ "info", FAM_UNTYPED },
		{ "stateset", FAM_UNTYPED },
		{ "gaugehistogram", FAM_UNTYPED },
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strlen(types[i].name) == tl && !memcmp(types[i].name, s, tl)) {
			f->type = types[i].type;
			f->typed = 1;
			return 0;
		}
	}
	return KS_EINVAL;
}

/* One label as read from a line (value unescaped into a buffer). */
struct plabel {
	const char *name;
	size_t nlen;
	char *value;
	size_t vlen;
};

static int parse_labels(const char **sp, const char *e, struct plabel *lab,
    int *nlab, int maxlab)
{
	const char *s = skip_blank(*sp + 1, e); /* past '{' */
	while (s < e && *s != '}') {
		const char *ne = scan_name(s, e, 0);
		if (ne == s)
			return KS_EINVAL;
		if (*nlab == maxlab)
			return KS_EINVAL; /* more labels than a sample holds */
		struct plabel *l = &lab[(*nlab)++];
		l->name = s;
		l->nlen = (size_t)(ne - s);
		l->value = NULL;
		for (int i = 0; i < *nlab - 1; i++)
			if (lab[i].nlen == l->nlen &&
			    !memcmp(lab[i].name, s, l->nlen))
				return KS_EINVAL; /* the same label twice */
		s = skip_blank(ne, e);
		if (s == e || *s != '=')
			return KS_EINVAL;
		s = skip_blank(s + 1, e);
		if (s == e || *s != '"')
			return KS_EINVAL;
		s++;
		const char *q = s;
		while (q < e && *q != '"')
			q += *q == '\\' ? 2 : 1;
		if (q >= e)
			return KS_EINVAL;
		char *v = malloc((size_t)(q - s) + 1), *o = v;
		if (!v)
			return KS_ENOMEM;
		l->value = v;
		for (; s < q; s++) {
			if (*s != '\\') {
				*o++ = *s;
				continue;
			}
			s++;
			if (*s == '\\' || *s == '"')
				*o++ = *s;
			else if (*s == 'n')
				*o++ = '\n';
			else
				return KS_EINVAL;
		}
		*o = 0;
		l->vlen = (size_t)(o - v);
		s = skip_blank(q + 1, e);
		if (s < e && *s == ',')
			s = skip_blank(s + 1, e);
		else if (s < e && *s != '}')
			return KS_EINVAL;
	}
	if (s == e)
		return KS_EINVAL;
	*sp = s + 1;
	return 0;
}

static int ends_with(const char *s, size_t len, const char *suffix,
    size_t *stem)
{
	size_t sl = strlen(suffix);
	if (len <= sl || memcmp(s + len - sl, suffix, sl))
		return 0;
	*stem = len - sl;
	return 1;
}

static int new_sample(struct parser *p, struct psample **sp)
{
	struct psample *v = room_for_one(p->samples, p->n, &p->cap, 64,
	    sizeof *v);

	if (!v)
		return KS_ENOMEM;
	p->samples = v;
	*sp = &p->samples[p->n++];
	memset(*sp, 0, sizeof(**sp));
	(*sp)->fam = (size_t)-1;
	return 0;
}

/* Moves labels (all but skip) into s; they are freed with it. */
static void take_labels(struct psample *s, struct plabel *lab, int nlab,
    int skip)
{
	for (int i = 0; i < nlab; i++) {
		if (i == skip)
			continue;
		s->lname[s->nlabels] = dup_n(lab[i].name, lab[i].nlen);
		s->lvalue[s->nlabels] = lab[i].value;
		lab[i].value = NULL;
		s->nlabels++;
	}
}

static int labels_ok(const struct psample *s)
{
	for (int i = 0; i < s->nlabels; i++)
		if (!s->lname[i])
			return 0;
	return 1;
}

/* The key of a histogram series: its family and labels but le, sorted. */
static int series_key(const char *fam, size_t flen, const struct plabel *lab,
    int nlab, int skip, struct sbuf *key)
{
	int ord[KS_METRIC_MAX_LABELS + 1], n = 0;
	for (int i = 0; i < nlab; i++)
		if (i != skip)
			ord[n++] = i;
	for (int i = 1; i < n; i++) /* insertion sort by name */
		for (int j = i; j > 0; j--) {
			const struct plabel *a = &lab[ord[j - 1]], *b = &lab[ord[j]];
			size_t l = KS__MIN(a->nlen, b->nlen);
			int c = memcmp(a->name, b->name, l);
			if (c < 0 || (c == 0 && a->nlen <= b->nlen))
				break;
			int t = ord[j];
			ord[j] = ord[j - 1];
			ord[j - 1] = t;
		}
	sb_put(key, fam, flen);
	for (int i = 0; i < n; i++) {
		const struct plabel *l = &lab[ord[i]];
		char num[24];
		snprintf(num, sizeof(num), "%zu:", l->vlen);
		sb_put(key, "\n", 1);
		sb_put(key, l->name, l->nlen);
		sb_put(key, "=", 1);
		sb_str(key, num);
		sb_put(key, l->value, l->vlen);
	}
	return key->err;
}

static int hist_line(struct parser *p, const char *fam, size_t flen,
    size_t famix, int part, struct plabel *lab, int nlab, double v)
{
	int le = -1;
	for (int i = 0; i < nlab; i++)
		if (lab[i].nlen == 2 && !memcmp(lab[i].name, "le", 2))
			le = i;
	if ((part == 0) != (le >= 0))
		return KS_EINVAL; /* le on _bucket lines only, always there */
	if (nlab - (le >= 0) > KS_METRIC_MAX_LABELS)
		return KS_EINVAL;
	struct sbuf key = { 0 };
	int rc = series_key(fam, flen, lab, nlab, le, &key);
	size_t ix = rc ? 0 : smap_get(&p->hist_ix, key.p, key.n);
	struct psample *s = NULL;
	if (!rc && ix == (size_t)-1) {
		rc = new_sample(p, &s);
		if (!rc)
			rc = smap_put(&p->hist_ix, key.p, key.n, p->n - 1);
		if (!rc) {
			s->type = KS_METRIC_HISTOGRAM;
			s->fam = famix;
			s->name = dup_n(fam, flen);
			take_labels(s, lab, nlab, le);
			if (!s->name || !labels_ok(s))
				rc = KS_ENOMEM;
		}
	} else if (!rc) {
		s = &p->samples[ix];
	}
	free(key.p);
	if (rc)
		return rc;
	if (part == 1) {
		s->value = v;
		return 0;
	}
	if (part == 2) {
		if (!(v >= 0) || v > 1.8e19 || v != floor(v))
			return KS_EINVAL;
		s->count = (uint64_t)v;
		s->have_count = 1;
		return 0;
	}
	double bound;
	if (parse_double(lab[le].value, lab[le].vlen, &bound) || isnan(bound) ||
	    !(v >= 0) || v > 1.8e19)
		return KS_EINVAL;
	if (isinf(bound) && bound > 0) {
		if (s->have_inf)
			return KS_EINVAL;
		s->have_inf = 1;
		if (!s->have_count)
			s->count = (uint64_t)v;
		return 0;
	}
	for (int i = 0; i < s->nb; i++)
		if (s->bounds[i] == bound)
			return KS_EINVAL; /* one bucket twice */
	if (s->nb == s->capb) {
		int cap = s->capb ? s->capb * 2 : 16;
		double *b = realloc(s->bounds, (size_t)cap * sizeof(double));
		if (!b)
			return KS_ENOMEM;
		s->bounds = b;
		uint64_t *c = realloc(s->buckets, (size_t)cap * sizeof(uint64_t));
		if (!c)
			return KS_ENOMEM;
		s->buckets = c;
		s->capb = cap;
	}
	s->bounds[s->nb] = bound;
	s->buckets[s->nb++] = (uint64_t)v;
	return 0;
}

static int parse_sample(struct parser *p, const char *s, const char *e)
{
	const char *name = s, *ne = scan_name(s, e, 1);
	size_t nlen = (size_t)(ne - s);
	if (!nlen)
		return KS_EINVAL;
	struct plabel lab[KS_METRIC_MAX_LABELS + 1];
	int nlab = 0, rc = 0;
	const char *l = skip_blank(ne, e), *ve = NULL;
	if (l < e && *l == '{')
		rc = parse_labels(&l, e, lab, &nlab, KS_METRIC_MAX_LABELS + 1);
	else
		l = ne;
	double v = 0;
	if (!rc) { /* blanks, then the value */
		s = skip_blank(l, e);
		if (s == l || s == e)
			rc = KS_EINVAL;
	}
	if (!rc) {
		ve = s;
		while (ve < e && !is_blank(*ve))
			ve++;
		rc = parse_double(s, (size_t)(ve - s), &v);
	}
	if (!rc) { /* an optional timestamp, in ms; ignored */
		s = skip_blank(ve, e);
		const char *te = s;
		while (te < e && !is_blank(*te))
			te++;
		if (te > s)
			rc = parse_int(s, (size_t)(te - s));
		if (!rc && skip_blank(te, e) != e)
			rc = KS_EINVAL;
	}
	if (rc)
		goto out;

	/* Which family this line belongs to, and so its type. */
	size_t stem, famix = (size_t)-1;
	struct fam *f;
	static const char *const hparts[] = { "_bucket", "_sum", "_count" };
	for (int part = 0; part < 3; part++) {
		if (ends_with(name, nlen, hparts[part], &stem) &&
		    (f = fam_find(p, name, stem, &famix)) &&
		    f->type == KS_METRIC_HISTOGRAM) {
			f->used = 1;
			rc = hist_line(p, name, stem, famix, part, lab, nlab, v);
			goto out;
		}
	}
	int type = KS_METRIC_GAUGE;
	famix = (size_t)-1;
	if ((f = fam_find(p, name, nlen, &famix))) {
		if (f->type == KS_METRIC_HISTOGRAM) {
			rc = KS_EINVAL; /* a histogram's bare name */
			goto out;
		}
		if (f->type == KS_METRIC_COUNTER)
			type = KS_METRIC_COUNTER;
	} else if (ends_with(name, nlen, "_total", &stem) &&
	    (f = fam_find(p, name, stem, &famix)) &&
	    f->type == KS_METRIC_COUNTER) {
		type = KS_METRIC_COUNTER; /* OpenMetrics names the family */
	} else if ((ends_with(name, nlen, "_sum", &stem) ||
	    ends_with(name, nlen, "_count", &stem)) &&
	    (f = fam_find(p, name, stem, &famix)) && f->type == FAM_SUMMARY) {
		/* a summary's parts: gauges under their own names */
	} else {
		/* remembered, so that a # TYPE coming later is refused */
		famix = (size_t)-1;
		if ((rc = fam_get(p, name, nlen, &f)) != 0)
			goto out;
	}
	f->used = 1;
	if (nlab > KS_METRIC_MAX_LABELS) {
		rc = KS_EINVAL;
		goto out;
	}
	struct psample *ps;
	if ((rc = new_sample(p, &ps)))
		goto out;
	ps->type = type;
	ps->fam = famix;
	ps->value = v;
	ps->name = dup_n(name, nlen);
	take_labels(ps, lab, nlab, -1);
	nlab = 0;
	if (!ps->name || !labels_ok(ps))
		rc = KS_ENOMEM;
out:
	for (int i = 0; i < nlab; i++)
		free(lab[i].value);
	return rc;
}

/* Sorts a histogram's buckets by bound (exporters write them in order,
 * but nothing requires it). */
static void sort_buckets(struct psample *s)
{
	for (int i = 1; i < s->nb; i++)
		for (int j = i; j > 0 && s->bounds[j - 1] > s->bounds[j]; j--) {
			double b = s->bounds[j];
			s->bounds[j] = s->bounds[j - 1];
			s->bounds[j - 1] = b;
			uint64_t c = s->buckets[j];
			s->buckets[j] = s->buckets[j - 1];
			s->buckets[j - 1] = c;
		}
}

int ks_metrics_parse(const char *text, size_t len, ks_metrics_t **mp)
{
	if (!mp || (!text && len))
		return KS_EINVAL;
	*mp = NULL;
	if (len && memchr(text, 0, len))
		return KS_EINVAL;
	struct parser p = { 0 };
	int rc = 0;
	const char *s = text, *end = text + len;
	while (s < end && !rc) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *e = nl ? nl : end;
		const char *t = e;
		if (t > s && t[-1] == '\r')
			t--;
		const char *b = skip_blank(s, t);
		if (b < t)
			rc = *b == '#' ? parse_comment(&p, b, t) :
			    parse_sample(&p, b, t);
		s = nl ? nl + 1 : end;
	}
	ks_metrics_t *m = NULL;
	if (!rc)
		rc = ks_metrics_new(&m);
	for (size_t i = 0; i < p.n && !rc; i++) {
		struct psample *ps = &p.samples[i];
		ks_metric_t out = { .name = ps->name, .type = ps->type,
			.nlabels = ps->nlabels, .value = ps->value,
			.count = ps->count };
		if (ps->fam != (size_t)-1 && p.fams[ps->fam].help)
			out.help = p.fams[ps->fam].help;
		for (int j = 0; j < ps->nlabels; j++) {
			out.labels[j].name = ps->lname[j];
			out.labels[j].value = ps->lvalue[j];
		}
		if (ps->type == KS_METRIC_HISTOGRAM) {
			sort_buckets(ps);
			/* without _count or +Inf, the widest bucket */
			if (!ps->have_count && !ps->have_inf && ps->nb)
				out.count = ps->buckets[ps->nb - 1];
			out.nbuckets = ps->nb;
			out.bounds = ps->bounds;
			out.buckets = ps->buckets;
		}
		rc = add_trusted(m, &out);
	}
	parser_free(&p);
	if (rc) {
		ks_metrics_free(m);
		return rc;
	}
	*mp = m;
	return 0;
}
