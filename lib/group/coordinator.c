/*
 * coordinator.c: the group coordinator: members, generations, rebalances
 * and their timers, as Kafka's classic GroupCoordinator runs them.
 *
 * A group moves Empty -> PreparingRebalance (joins are held until every
 * known member has joined again, or the rebalance timeout) ->
 * CompletingRebalance (the joins are answered; the leader computes the
 * assignment) -> Stable (the leader's SyncGroup arrived and every held
 * sync is answered), and back to PreparingRebalance whenever a member
 * comes, goes or changes its protocols. docs/group.md records where this
 * follows Kafka and where Kafka left a choice.
 *
 * Everything that can fail for want of memory is allocated before the
 * lock is taken, so that a request is either refused at once or carried
 * through; only answers (their result bytes) are allocated under it, and
 * an answer that cannot be allocated becomes KS_ENOMEM.
 */
#include "group/coordinator_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* ---- configuration ------------------------------------------------------ */

void ks_coordinator_config_init(ks_coordinator_config_t *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->min_session_timeout_ms = 6000;
	cfg->max_session_timeout_ms = 1800000;
	cfg->initial_rebalance_delay_ms = 0;
	cfg->max_group_size = 0;
	cfg->offset_metadata_max_bytes = 4096;
	cfg->tick_interval_ms = 100;
	cfg->log_cb = ks_log_stderr;
}

static int parse_i32(const char *s, int32_t lo, int32_t hi, int32_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return KS_ECONFIG;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return KS_ECONFIG;
	*out = (int32_t)v;
	return 0;
}

int ks_coordinator_config_set(ks_coordinator_config_t *cfg, const char *name,
    const char *value)
{
	static const struct {
		const char *name;
		size_t off;
		int32_t lo, hi;
	} props[] = {
		{ "group.min.session.timeout.ms",
		  offsetof(ks_coordinator_config_t, min_session_timeout_ms),
		  1, INT32_MAX },
		{ "group.max.session.timeout.ms",
		  offsetof(ks_coordinator_config_t, max_session_timeout_ms),
		  1, INT32_MAX },
		{ "group.initial.rebalance.delay.ms",
		  offsetof(ks_coordinator_config_t, initial_rebalance_delay_ms),
		  0, INT32_MAX },
		{ "group.max.size",
		  offsetof(ks_coordinator_config_t, max_group_size),
		  0, INT32_MAX },
		{ "offset.metadata.max.bytes",
		  offsetof(ks_coordinator_config_t, offset_metadata_max_bytes),
		  0, INT16_MAX },
	};
	size_t i;
	int32_t v;

	if (!cfg || !name)
		return KS_ECONFIG;
	for (i = 0; i < sizeof props / sizeof props[0]; i++) {
		if (strcmp(name, props[i].name) != 0)
			continue;
		if (parse_i32(value, props[i].lo, props[i].hi, &v))
			return KS_ECONFIG;
		memcpy((char *)cfg + props[i].off, &v, sizeof v);
		return 0;
	}
	return KS_ECONFIG;
}

static int config_valid(const ks_coordinator_config_t *cfg)
{
	return cfg->min_session_timeout_ms > 0 &&
	    cfg->max_session_timeout_ms >= cfg->min_session_timeout_ms &&
	    cfg->initial_rebalance_delay_ms >= 0 &&
	    cfg->max_group_size >= 0 &&
	    cfg->offset_metadata_max_bytes >= 0 &&
	    cfg->offset_metadata_max_bytes <= INT16_MAX &&
	    cfg->tick_interval_ms >= 0;
}

/* ---- small helpers ------------------------------------------------------ */

int64_t ks__coord_now(ks_coordinator_t *c)
{
	if (c->cfg.clock_ms)
		return c->cfg.clock_ms(c->cfg.clock_opaque);
	return ks__monotonic_ns() / 1000000;
}

uint64_t ks__hash_str(const char *s)
{
	return XXH3_64bits(s, strlen(s));
}

static int empty(const char *s)
{
	return !s || !*s;
}

static int same_str(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static char *dup_str(const char *s, int *fail)
{
	char *d;
	if (!s)
		return NULL;
	if (!(d = strdup(s)))
		*fail = 1;
	return d;
}

static void *dup_mem(const void *p, size_t len, int *fail)
{
	void *d;
	if (!len)
		return NULL;
	if (!(d = malloc(len)))
		*fail = 1;
	else
		memcpy(d, p, len);
	return d;
}

/*
 * A member id as Kafka makes one: "<prefix>-<random UUID>", where the
 * prefix is the group.instance.id of a static member and the client id
 * of a dynamic one.
 */
static char *make_member_id(const char *prefix)
{
	static uint64_t counter;
	uint8_t b[16];
	char *id;
	size_t n = strlen(prefix) + 1 + 36 + 1;

	if (getrandom(b, sizeof b, GRND_NONBLOCK) != (ssize_t)sizeof b) {
		/* no entropy yet: unique is what matters, not secret */
		uint64_t seed[3] = {
			__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED),
			(uint64_t)ks__monotonic_ns(), (uint64_t)getpid()
		};
		XXH128_hash_t h = XXH3_128bits(seed, sizeof seed);
		memcpy(b, &h.low64, 8);
		memcpy(b + 8, &h.high64, 8);
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);  /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);  /* variant 1 */
	if (!(id = malloc(n)))
		return NULL;
	snprintf(id, n,
	    "%s-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", prefix,
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
	    b[10], b[11], b[12], b[13], b[14], b[15]);
	return id;
}

/* ---- answers ------------------------------------------------------------ */

static void ob_init(struct ks__outbox *ob)
{
	ob->head = NULL;
	ob->tail = &ob->head;
}

static void ob_push(struct ks__outbox *ob, struct ks__call *call)
{
	call->next = NULL;
	*ob->tail = call;
	ob->tail = &call->next;
}

/* Calls every collected callback, in order, and frees the calls. Called
 * without c->mu. */
static void ob_run(struct ks__outbox *ob)
{
	struct ks__call *call, *next;

	for (call = ob->head; call; call = next) {
		next = call->next;
		if (call->kind == KS__CALL_JOIN)
			call->jcb(call->opaque, call->err, &call->r.join);
		else
			call->scb(call->opaque, call->err, &call->r.sync);
		free(call->payload);
		free(call);
	}
	ob_init(ob);
}

static void answer_join_err(struct ks__outbox *ob, struct ks__call *call,
    int err, const char *member_id, int required)
{
	ks_join_result_t *r = &call->r.join;

	memset(r, 0, sizeof *r);
	r->generation = -1;
	r->protocol_type = r->protocol_name = r->leader_id = "";
	r->member_id = "";
	if (member_id && (call->payload = strdup(member_id)))
		r->member_id = call->payload;
	r->member_id_required = required;
	call->err = err;
	ob_push(ob, call);
}

/* The metadata member m sent for protocol name. */
static const struct ks__proto *member_proto(const struct ks__member *m,
    const char *name)
{
	size_t i;
	for (i = 0; name && i < m->nprotos; i++)
		if (strcmp(m->protos[i].name, name) == 0)
			return &m->protos[i];
	return NULL;
}

struct join_view {
	const struct ks__group *g;
	const char *member_id;
	const char *leader_id;
	int with_members;
	int skip;
};

static void fill_join(struct ks__pack *pk, ks_join_result_t *r,
    const struct join_view *v)
{
	const struct ks__group *g = v->g;
	const struct ks__member *m;
	ks_join_member_t *arr = NULL;
	size_t i = 0;

	memset(r, 0, sizeof *r);
	if (v->with_members)
		arr = ks__pack_mem(pk, NULL, g->nmembers * sizeof *arr,
		    _Alignof(ks_join_member_t));
	r->generation = g->generation;
	r->protocol_type = ks__pack_str(pk, g->protocol_type ? g->protocol_type
	    : "");
	r->protocol_name = ks__pack_str(pk, g->protocol_name ? g->protocol_name
	    : "");
	r->leader_id = ks__pack_str(pk, v->leader_id ? v->leader_id : "");
	r->member_id = ks__pack_str(pk, v->member_id);
	r->skip_assignment = v->skip;
	if (!v->with_members)
		return;
	for (m = g->members; m; m = m->next, i++) {
		const struct ks__proto *p = member_proto(m, g->protocol_name);
		ks_join_member_t e;
		e.member_id = ks__pack_str(pk, m->id);
		e.instance_id = ks__pack_str(pk, m->instance_id);
		e.metadata = ks__pack_bytes(pk, p ? p->meta : NULL,
		    p ? p->len : 0);
		e.metadata_len = p ? p->len : 0;
		if (arr)
			arr[i] = e;
	}
	r->members = arr;
	r->member_count = g->nmembers;
}

static void answer_join(struct ks__outbox *ob, struct ks__call *call,
    const struct join_view *v)
{
	struct ks__pack pk = { NULL, 0 };
	ks_join_result_t scratch;

	fill_join(&pk, &scratch, v);
	if (!(pk.base = malloc(pk.off))) {
		answer_join_err(ob, call, KS_ENOMEM, v->member_id, 0);
		return;
	}
	call->payload = pk.base;
	pk.off = 0;
	fill_join(&pk, &call->r.join, v);
	call->err = 0;
	ob_push(ob, call);
}

static void answer_sync_err(struct ks__outbox *ob, struct ks__call *call,
    int err)
{
	ks_sync_result_t *r = &call->r.sync;
	r->protocol_type = r->protocol_name = "";
	r->assignment = "";
	r->assignment_len = 0;
	call->err = err;
	ob_push(ob, call);
}

static void answer_sync(struct ks__outbox *ob, struct ks__call *call,
    const struct ks__group *g, const struct ks__member *m)
{
	const char *type = g->protocol_type ? g->protocol_type : "";
	const char *name = g->protocol_name ? g->protocol_name : "";
	size_t tl = strlen(type) + 1, nl = strlen(name) + 1;
	ks_sync_result_t *r = &call->r.sync;
	char *p;

	if (!(p = malloc(tl + nl + m->assignment_len + 1))) {
		answer_sync_err(ob, call, KS_ENOMEM);
		return;
	}
	call->payload = p;
	r->protocol_type = memcpy(p, type, tl);
	r->protocol_name = memcpy(p + tl, name, nl);
	r->assignment = p + tl + nl;
	if (m->assignment_len)
		memcpy(p + tl + nl, m->assignment, m->assignment_len);
	r->assignment_len = m->assignment_len;
	call->err = 0;
	ob_push(ob, call);
}

/* ---- groups and members ------------------------------------------------- */

static void free_protos(struct ks__proto *p, size_t n)
{
	size_t i;
	for (i = 0; p && i < n; i++) {
		free(p[i].name);
		free(p[i].meta);
	}
	free(p);
}

static void free_member(struct ks__member *m)
{
	if (!m)
		return;
	free(m->id);
	free(m->instance_id);
	free(m->client_id);
	free(m->client_host);
	free(m->protocol_type);
	free_protos(m->protos, m->nprotos);
	free(m->assignment);
	free(m);
}

static void free_group(struct ks__group *g)
{
	struct ks__member *m, *mn;
	struct ks__pending *p, *pn;

	for (m = g->members; m; m = mn) {
		mn = m->next;
		free_member(m);
	}
	for (p = g->pending; p; p = pn) {
		pn = p->next;
		free(p->id);
		free(p);
	}
	ks__offsets_free(g);
	free(g->protocol_type);
	free(g->protocol_name);
	free(g->id);
	free(g);
}

struct ks__group *ks__group_find(ks_coordinator_t *c, const char *id)
{
	uint64_t h;
	struct ks__group *g;

	if (!c->gcap)
		return NULL;
	h = ks__hash_str(id);
	for (g = c->gtab[h & (c->gcap - 1)]; g; g = g->next)
		if (g->hash == h && strcmp(g->id, id) == 0)
			return g;
	return NULL;
}

static void gtab_grow(ks_coordinator_t *c)
{
	size_t ncap = c->gcap ? c->gcap * 2 : 16, i;
	struct ks__group **nt = calloc(ncap, sizeof *nt), *g, *gn;

	if (!nt)
		return; /* longer chains, still correct */
	for (i = 0; i < c->gcap; i++)
		for (g = c->gtab[i]; g; g = gn) {
			gn = g->next;
			g->next = nt[g->hash & (ncap - 1)];
			nt[g->hash & (ncap - 1)] = g;
		}
	free(c->gtab);
	c->gtab = nt;
	c->gcap = ncap;
}

struct ks__group *ks__group_get(ks_coordinator_t *c, const char *id)
{
	struct ks__group *g = ks__group_find(c, id);

	if (g)
		return g;
	if (c->gcount + 1 > c->gcap / 4 * 3)
		gtab_grow(c);
	if (!c->gcap || !(g = calloc(1, sizeof *g)))
		return NULL;
	if (!(g->id = strdup(id))) {
		free(g);
		return NULL;
	}
	g->hash = ks__hash_str(id);
	g->state = KS_GROUP_EMPTY;
	g->initial_cap = -1;
	g->next = c->gtab[g->hash & (c->gcap - 1)];
	c->gtab[g->hash & (c->gcap - 1)] = g;
	c->gcount++;
	return g;
}

void ks__group_maybe_drop(ks_coordinator_t *c, struct ks__group *g)
{
	struct ks__group **pp;

	if (!g || g->state != KS_GROUP_EMPTY || g->nmembers || g->npending ||
	    g->ocount || g->pins)
		return;
	for (pp = &c->gtab[g->hash & (c->gcap - 1)]; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			c->gcount--;
			free_group(g);
			return;
		}
}

static struct ks__member *find_member(const struct ks__group *g,
    const char *id)
{
	struct ks__member *m;
	if (empty(id))
		return NULL;
	for (m = g->members; m; m = m->next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

static struct ks__member *find_static(const struct ks__group *g,
    const char *instance_id)
{
	struct ks__member *m;
	if (!instance_id)
		return NULL;
	for (m = g->members; m; m = m->next)
		if (m->instance_id && strcmp(m->instance_id, instance_id) == 0)
			return m;
	return NULL;
}

static struct ks__pending **find_pending(struct ks__group *g, const char *id)
{
	struct ks__pending **pp;
	if (empty(id))
		return NULL;
	for (pp = &g->pending; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->id, id) == 0)
			return pp;
	return NULL;
}

static void drop_pending(struct ks__group *g, struct ks__pending **pp)
{
	struct ks__pending *p = *pp;
	*pp = p->next;
	g->npending--;
	free(p->id);
	free(p);
}

/*
 * Kafka's isStaticMemberFenced: the instance id belongs to a member whose
 * id is not the one given (a newer instance replaced the caller).
 */
static int fenced(const struct ks__group *g, const char *instance_id,
    const char *member_id)
{
	const struct ks__member *s = find_static(g, instance_id);
	return s && !empty(member_id) && strcmp(s->id, member_id) != 0;
}

static int protos_equal(const struct ks__member *m, const struct ks__proto *p,
    size_t n)
{
	size_t i;
	if (m->nprotos != n)
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(m->protos[i].name, p[i].name) != 0 ||
		    m->protos[i].len != p[i].len ||
		    (p[i].len && memcmp(m->protos[i].meta, p[i].meta,
		    p[i].len) != 0))
			return 0;
	return 1;
}

/* Whether every member but except supports protocol name. */
static int supported_by_all(const struct ks__group *g, const char *name,
    const struct ks__member *except)
{
	const struct ks__member *m;
	for (m = g->members; m; m = m->next)
		if (m != except && !member_proto(m, name))
			return 0;
	return 1;
}

/*
 * Kafka's supportsProtocols: a joining member must name a protocol type
 * and at least one protocol, and, unless it would be alone, the group's
 * type and a protocol every other member supports. A member that joins
 * again is not held to its own previous protocols (except).
 */
static int supports_protocols(const struct ks__group *g, const char *type,
    const struct ks__proto *p, size_t n, const struct ks__member *except)
{
	const struct ks__member *m;
	size_t i;
	int alone = 1;

	if (empty(type) || n == 0)
		return 0;
	for (m = g->members; m; m = m->next)
		alone &= m == except;
	if (alone)
		return 1;
	if (g->protocol_type && strcmp(type, g->protocol_type) != 0)
		return 0;
	for (i = 0; i < n; i++)
		if (supported_by_all(g, p[i].name, except))
			return 1;
	return 0;
}

/* The first of m's protocols that every member supports. */
static const char *vote(const struct ks__group *g, const struct ks__member *m)
{
	size_t i;
	for (i = 0; i < m->nprotos; i++)
		if (supported_by_all(g, m->protos[i].name, NULL))
			return m->protos[i].name;
	return NULL;
}

/*
 * Kafka's selectProtocol: among the protocols every member supports, the
 * one most members prefer; ties go to the leader's preference.
 */
static const char *select_protocol(const struct ks__group *g)
{
	const struct ks__member *lead = g->leader ? g->leader : g->members, *m;
	const char *best = NULL;
	size_t i, votes, best_votes = 0;

	for (i = 0; lead && i < lead->nprotos; i++) {
		const char *name = lead->protos[i].name;
		if (!supported_by_all(g, name, NULL))
			continue;
		votes = 0;
		for (m = g->members; m; m = m->next)
			votes += same_str(vote(g, m), name);
		if (!best || votes > best_votes) {
			best = name;
			best_votes = votes;
		}
	}
	return best;
}

static int32_t max_rebalance_timeout(const struct ks__group *g)
{
	const struct ks__member *m;
	int32_t t = 0;
	for (m = g->members; m; m = m->next)
		t = KS__MAX(t, m->rebalance_timeout_ms);
	return t;
}

static void log_group(ks_coordinator_t *c, const struct ks__group *g,
    const char *what, const char *member)
{
	ks__logf(c->cfg.log_cb, c->cfg.log_opaque, KS_LOG_INFO,
	    "group %s generation %d: %s%s%s", g->id, (int)g->generation, what,
	    member ? " " : "", member ? member : "");
}

/* ---- state transitions -------------------------------------------------- */

static void prepare_rebalance(ks_coordinator_t *c, struct ks__group *g,
    int64_t now, struct ks__outbox *ob);

/* Takes m out of the group, answering its held requests with KS_EMEMBER. */
static void unlink_member(struct ks__group *g, struct ks__member *m,
    struct ks__outbox *ob)
{
	struct ks__member **pp;

	for (pp = &g->members; *pp != m; pp = &(*pp)->next)
		;
	*pp = m->next;
	g->nmembers--;
	if (m->join) {
		answer_join_err(ob, m->join, KS_EMEMBER, m->id, 0);
		m->join = NULL;
		g->awaiting_join--;
	}
	if (m->sync) {
		answer_sync_err(ob, m->sync, KS_EMEMBER);
		m->sync = NULL;
	}
	if (g->leader == m)
		g->leader = g->members; /* the oldest remaining member */
	free_member(m);
}

/*
 * Kafka's onCompleteJoin: every known member has joined, or the rebalance
 * timeout passed. Dynamic members that did not join are removed (static
 * ones are left to their session timeout, as Kafka does), a new
 * generation starts, and every held join is answered.
 */
static void complete_join(ks_coordinator_t *c, struct ks__group *g,
    int64_t now, struct ks__outbox *ob)
{
	struct ks__member *m, *next;
	const char *name;
	char *proto = NULL;
	struct join_view v;

	for (m = g->members; m; m = next) {
		next = m->next;
		if (!m->join && !m->instance_id) {
			log_group(c, g, "did not join in time:", m->id);
			unlink_member(g, m, ob);
		}
	}
	if (g->nmembers && !g->awaiting_join) {
		/* only static members that have not come back: wait again,
		 * and let their sessions decide */
		g->join_deadline = now + max_rebalance_timeout(g);
		return;
	}
	if (g->leader && !g->leader->join)
		for (g->leader = g->members; g->leader; g->leader = g->leader->next)
			if (g->leader->join)
				break;
	if (g->nmembers) {
		name = select_protocol(g);
		if (!name || !(proto = strdup(name))) {
			/* out of memory (or, in theory, no common protocol):
			 * keep the joins and try again shortly */
			g->join_deadline = now + 1000;
			return;
		}
	}
	g->generation++;
	free(g->protocol_name);
	g->protocol_name = proto;
	g->initial_cap = -1;
	if (!g->nmembers) {
		g->state = KS_GROUP_EMPTY;
		g->leader = NULL;
		log_group(c, g, "is empty", NULL);
		return;
	}
	g->state = KS_GROUP_COMPLETING_REBALANCE;
	g->sync_deadline = now + max_rebalance_timeout(g);
	log_group(c, g, "joined, leader", g->leader->id);
	v.g = g;
	v.leader_id = g->leader->id;
	v.skip = 0;
	for (m = g->members; m; m = m->next) {
		m->pending_sync = 1;
		m->session_deadline = now + m->session_timeout_ms;
		if (!m->join)
			continue;
		v.member_id = m->id;
		v.with_members = m == g->leader;
		answer_join(ob, m->join, &v);
		m->join = NULL;
		g->awaiting_join--;
	}
}

static void try_complete_join(ks_coordinator_t *c, struct ks__group *g,
    int64_t now, struct ks__outbox *ob)
{
	if (g->state == KS_GROUP_PREPARING_REBALANCE && g->initial_cap < 0 &&
	    g->awaiting_join == g->nmembers && !g->npending)
		complete_join(c, g, now, ob);
}

static void prepare_rebalance(ks_coordinator_t *c, struct ks__group *g,
    int64_t now, struct ks__outbox *ob)
{
	struct ks__member *m;
	int32_t timeout = max_rebalance_timeout(g);
	int32_t delay = c->cfg.initial_rebalance_delay_ms;

	for (m = g->members; m; m = m->next) {
		if (g->state == KS_GROUP_COMPLETING_REBALANCE) {
			/* this generation's assignment will never come */
			free(m->assignment);
			m->assignment = NULL;
			m->assignment_len = 0;
			if (m->sync) {
				answer_sync_err(ob, m->sync, KS_EREBALANCE);
				m->sync = NULL;
				m->session_deadline =
				    now + m->session_timeout_ms;
			}
		}
		m->pending_sync = 0;
	}
	if (g->state == KS_GROUP_EMPTY && delay > 0) {
		/* Kafka's InitialDelayedJoin: let a starting group's members
		 * arrive before the first generation */
		g->initial_cap = now + timeout;
		g->join_deadline = now + KS__MIN(delay, timeout);
		g->new_member_added = 0;
	} else {
		g->initial_cap = -1;
		g->join_deadline = now + timeout;
	}
	if (g->state != KS_GROUP_PREPARING_REBALANCE)
		g->rebalances++; /* kstream_group_rebalances_total */
	g->state = KS_GROUP_PREPARING_REBALANCE;
	log_group(c, g, "rebalancing", NULL);
	try_complete_join(c, g, now, ob);
}

/* Kafka's maybePrepareRebalance, and the completion check that a change
 * during PreparingRebalance calls for. */
static void rebalance(ks_coordinator_t *c, struct ks__group *g, int64_t now,
    struct ks__outbox *ob)
{
	switch (g->state) {
	case KS_GROUP_EMPTY:
	case KS_GROUP_STABLE:
	case KS_GROUP_COMPLETING_REBALANCE:
		prepare_rebalance(c, g, now, ob);
		break;
	case KS_GROUP_PREPARING_REBALANCE:
		try_complete_join(c, g, now, ob);
		break;
	}
}

static void remove_member(ks_coordinator_t *c, struct ks__group *g,
    struct ks__member *m, int64_t now, struct ks__outbox *ob)
{
	unlink_member(g, m, ob);
	if (g->state != KS_GROUP_EMPTY)
		rebalance(c, g, now, ob);
}

/* m's held join, replaced by call: the older one is answered KS_EBUSY. */
static void set_join(struct ks__group *g, struct ks__member *m,
    struct ks__call *call, struct ks__outbox *ob)
{
	if (m->join)
		answer_join_err(ob, m->join, KS_EBUSY, m->id, 0);
	else
		g->awaiting_join++;
	m->join = call;
}

/* Moves a join's protocols, timeouts and client fields from nm to m (nm
 * gets m's old ones, freed with it). */
static void take_join_fields(struct ks__member *m, struct ks__member *nm)
{
	struct ks__proto *p = m->protos;
	size_t n = m->nprotos;
	char *s;

	m->protos = nm->protos;
	m->nprotos = nm->nprotos;
	nm->protos = p;
	nm->nprotos = n;
	s = m->client_id, m->client_id = nm->client_id, nm->client_id = s;
	s = m->client_host, m->client_host = nm->client_host,
	    nm->client_host = s;
	s = m->protocol_type, m->protocol_type = nm->protocol_type,
	    nm->protocol_type = s;
	m->session_timeout_ms = nm->session_timeout_ms;
	m->rebalance_timeout_ms = nm->rebalance_timeout_ms;
	m->join_flags = nm->join_flags;
}

static void add_member(ks_coordinator_t *c, struct ks__group *g,
    struct ks__member **nmp, struct ks__call *call, int64_t now,
    struct ks__outbox *ob)
{
	struct ks__member *nm = *nmp, **pp;

	if (!g->nmembers && !same_str(g->protocol_type, nm->protocol_type)) {
		char *t = strdup(nm->protocol_type);
		if (!t) {
			answer_join_err(ob, call, KS_ENOMEM, nm->id, 0);
			return;
		}
		free(g->protocol_type);
		g->protocol_type = t;
	}
	*nmp = NULL;
	for (pp = &g->members; *pp; pp = &(*pp)->next)
		;
	*pp = nm;
	g->nmembers++;
	if (!g->leader)
		g->leader = nm;
	nm->join = call;
	g->awaiting_join++;
	nm->session_deadline = now + nm->session_timeout_ms;
	if (g->state == KS_GROUP_PREPARING_REBALANCE && g->initial_cap >= 0)
		g->new_member_added = 1;
	log_group(c, g, "member joins:", nm->id);
	rebalance(c, g, now, ob);
}

/*
 * Kafka's updateStaticMemberAndRebalance: a static member came back with
 * a new member id. It takes over old's place (and leadership); the
 * previous instance's held requests are fenced. In a stable group, and
 * with unchanged protocols and metadata, no rebalance: the member is told
 * the current generation and gets its assignment through SyncGroup.
 */
static void replace_static(ks_coordinator_t *c, struct ks__group *g,
    struct ks__member *old, struct ks__member *nm, struct ks__call *call,
    int64_t now, struct ks__outbox *ob)
{
	int same = protos_equal(old, nm->protos, nm->nprotos);
	const char *prev_leader;
	char *s;

	if (old->join) {
		answer_join_err(ob, old->join, KS_EMEMBER, old->id, 0);
		old->join = NULL;
		g->awaiting_join--;
	}
	if (old->sync) {
		answer_sync_err(ob, old->sync, KS_EMEMBER);
		old->sync = NULL;
	}
	/* nm keeps the old id's string (freed with it), so that prev_leader
	 * stays valid */
	prev_leader = g->leader ? g->leader->id : NULL;
	s = old->id, old->id = nm->id, nm->id = s;
	take_join_fields(old, nm);
	log_group(c, g, "static member replaced by", old->id);
	set_join(g, old, call, ob);
	old->session_deadline = now + old->session_timeout_ms;

	switch (g->state) {
	case KS_GROUP_STABLE:
		if (same) {
			int skip = (old->join_flags & KS_JOIN_SKIP_ASSIGNMENT) &&
			    g->leader == old;
			struct join_view v = {
				.g = g, .member_id = old->id,
				/* Kafka: a client that does not know
				 * skip_assignment is told the previous leader
				 * id, so that it does not assign */
				.leader_id = (old->join_flags &
				    KS_JOIN_SKIP_ASSIGNMENT) ? g->leader->id :
				    prev_leader,
				.with_members = skip, .skip = skip,
			};
			answer_join(ob, old->join, &v);
			old->join = NULL;
			g->awaiting_join--;
		} else {
			prepare_rebalance(c, g, now, ob);
		}
		break;
	case KS_GROUP_COMPLETING_REBALANCE:
		prepare_rebalance(c, g, now, ob);
		break;
	default:
		try_complete_join(c, g, now, ob);
		break;
	}
}

/* ---- JoinGroup ---------------------------------------------------------- */

void ks_join_request_init(ks_join_request_t *req)
{
	if (!req)
		return;
	memset(req, 0, sizeof *req);
	req->session_timeout_ms = 45000;
	req->rebalance_timeout_ms = 300000;
	req->protocol_type = "consumer";
}

/* A member made from a join request, with a fresh id; NULL: no memory. */
static struct ks__member *member_from(const ks_join_request_t *req)
{
	struct ks__member *m = calloc(1, sizeof *m);
	int fail = 0;
	size_t i;

	if (!m)
		return NULL;
	m->id = make_member_id(req->instance_id ? req->instance_id :
	    req->client_id ? req->client_id : "");
	fail |= !m->id;
	m->instance_id = dup_str(req->instance_id, &fail);
	m->client_id = dup_str(req->client_id ? req->client_id : "", &fail);
	m->client_host = dup_str(req->client_host ? req->client_host : "",
	    &fail);
	m->protocol_type = dup_str(req->protocol_type ? req->protocol_type :
	    "", &fail);
	m->session_timeout_ms = req->session_timeout_ms;
	m->rebalance_timeout_ms = req->rebalance_timeout_ms < 0 ?
	    req->session_timeout_ms : req->rebalance_timeout_ms;
	m->join_flags = req->flags;
	if (req->protocol_count &&
	    !(m->protos = calloc(req->protocol_count, sizeof *m->protos)))
		fail = 1;
	for (i = 0; !fail && i < req->protocol_count; i++) {
		const ks_group_protocol_t *p = &req->protocols[i];
		m->nprotos++;
		m->protos[i].name = dup_str(p->name, &fail);
		m->protos[i].meta = dup_mem(p->metadata, p->metadata_len,
		    &fail);
		m->protos[i].len = p->metadata_len;
	}
	if (fail) {
		free_member(m);
		return NULL;
	}
	return m;
}

static void join_locked(ks_coordinator_t *c, const ks_join_request_t *req,
    struct ks__call *call, struct ks__member **nmp, int64_t now,
    struct ks__outbox *ob)
{
	struct ks__member *nm = *nmp, *m, *s;
	struct ks__group *g = ks__group_find(c, req->group_id);
	struct ks__pending **pp, *pend;
	const char *mid = req->member_id;

	if (empty(mid)) {
		if (!g && !(g = ks__group_get(c, req->group_id))) {
			answer_join_err(ob, call, KS_ENOMEM, "", 0);
			return;
		}
		s = find_static(g, req->instance_id);
		if (!supports_protocols(g, nm->protocol_type, nm->protos,
		    nm->nprotos, s)) {
			answer_join_err(ob, call, KS_EPROTOCOL, "", 0);
		} else if (s) {
			replace_static(c, g, s, nm, call, now, ob);
		} else if (c->cfg.max_group_size && g->nmembers +
		    g->npending >= (size_t)c->cfg.max_group_size) {
			answer_join_err(ob, call, KS_EBUSY, "", 0);
		} else if (!req->instance_id &&
		    (req->flags & KS_JOIN_REQUIRE_MEMBER_ID)) {
			/* Kafka v4+: the member learns its id, then joins
			 * with it; until then it holds up the rebalance */
			if (!(pend = calloc(1, sizeof *pend))) {
				answer_join_err(ob, call, KS_ENOMEM, "", 0);
			} else {
				pend->id = nm->id;
				nm->id = NULL;
				pend->deadline = now + nm->session_timeout_ms;
				pend->next = g->pending;
				g->pending = pend;
				g->npending++;
				answer_join_err(ob, call, KS_EMEMBER, pend->id,
				    1);
			}
		} else {
			add_member(c, g, nmp, call, now, ob);
		}
		ks__group_maybe_drop(c, g);
		return;
	}

	if (!g) {
		answer_join_err(ob, call, KS_EMEMBER, mid, 0);
		return;
	}
	m = find_member(g, mid);
	if (!supports_protocols(g, nm->protocol_type, nm->protos, nm->nprotos,
	    m)) {
		answer_join_err(ob, call, KS_EPROTOCOL, mid, 0);
		return;
	}
	if ((pp = find_pending(g, mid))) {
		/* the id we gave: now a member */
		if (req->instance_id) {
			answer_join_err(ob, call, KS_EMEMBER, mid, 0);
			return;
		}
		free(nm->id);
		nm->id = (*pp)->id;
		(*pp)->id = NULL;
		drop_pending(g, pp);
		add_member(c, g, nmp, call, now, ob);
		return;
	}
	if (fenced(g, req->instance_id, mid) || !m ||
	    (req->instance_id && !find_static(g, req->instance_id))) {
		answer_join_err(ob, call, KS_EMEMBER, mid, 0);
		return;
	}

	switch (g->state) {
	case KS_GROUP_PREPARING_REBALANCE:
		take_join_fields(m, nm);
		set_join(g, m, call, ob);
		try_complete_join(c, g, now, ob);
		break;
	case KS_GROUP_COMPLETING_REBALANCE:
	case KS_GROUP_STABLE:
		if (!protos_equal(m, nm->protos, nm->nprotos) ||
		    (g->state == KS_GROUP_STABLE && m == g->leader)) {
			/* new metadata, or the leader asks for a new
			 * assignment: rebalance */
			take_join_fields(m, nm);
			set_join(g, m, call, ob);
			prepare_rebalance(c, g, now, ob);
		} else {
			/* the member lost its answer: the same again */
			struct join_view v = {
				.g = g, .member_id = m->id,
				.leader_id = g->leader->id,
				.with_members = m == g->leader &&
				    g->state == KS_GROUP_COMPLETING_REBALANCE,
			};
			m->session_deadline = now + m->session_timeout_ms;
			answer_join(ob, call, &v);
		}
		break;
	default:
		answer_join_err(ob, call, KS_EMEMBER, mid, 0);
		break;
	}
}

int ks_group_join(ks_coordinator_t *c, const ks_join_request_t *req,
    ks_join_cb *cb, void *opaque)
{
	struct ks__outbox ob;
	struct ks__call *call;
	struct ks__member *nm;
	size_t i;
	int64_t now;

	if (!c || !req || !cb || empty(req->group_id) ||
	    (req->protocol_count && !req->protocols) ||
	    req->session_timeout_ms < c->cfg.min_session_timeout_ms ||
	    req->session_timeout_ms > c->cfg.max_session_timeout_ms)
		return KS_EINVAL;
	for (i = 0; i < req->protocol_count; i++)
		if (!req->protocols[i].name || (!req->protocols[i].metadata &&
		    req->protocols[i].metadata_len))
			return KS_EINVAL;
	if (!(call = calloc(1, sizeof *call)))
		return KS_ENOMEM;
	if (!(nm = member_from(req))) {
		free(call);
		return KS_ENOMEM;
	}
	call->kind = KS__CALL_JOIN;
	call->jcb = cb;
	call->opaque = opaque;
	ob_init(&ob);
	now = ks__coord_now(c);
	pthread_mutex_lock(&c->mu);
	join_locked(c, req, call, &nm, now, &ob);
	pthread_mutex_unlock(&c->mu);
	free_member(nm);
	ob_run(&ob);
	return 0;
}

/* ---- SyncGroup ---------------------------------------------------------- */

void ks_sync_request_init(ks_sync_request_t *req)
{
	if (!req)
		return;
	memset(req, 0, sizeof *req);
	req->generation = -1;
}

/* The leader's assignments, copied before the lock. */
struct sync_copy {
	const char *member_id;      /* the caller's, valid during the call */
	void *bytes;
	size_t len;
};

static void sync_locked(ks_coordinator_t *c, const ks_sync_request_t *req,
    struct ks__call *call, struct sync_copy *cp, int64_t now,
    struct ks__outbox *ob)
{
	struct ks__group *g = ks__group_find(c, req->group_id);
	struct ks__member *m;
	size_t i;
	int err = 0;

	if (!g || fenced(g, req->instance_id, req->member_id) ||
	    !(m = find_member(g, req->member_id)))
		err = KS_EMEMBER;
	else if (req->generation != g->generation)
		err = KS_EGENERATION;
	else if ((req->protocol_type && !same_str(req->protocol_type,
	    g->protocol_type)) || (req->protocol_name &&
	    !same_str(req->protocol_name, g->protocol_name)))
		err = KS_EPROTOCOL;
	else if (g->state == KS_GROUP_PREPARING_REBALANCE)
		err = KS_EREBALANCE;
	else if (g->state != KS_GROUP_COMPLETING_REBALANCE &&
	    g->state != KS_GROUP_STABLE)
		err = KS_EMEMBER;
	if (err) {
		answer_sync_err(ob, call, err);
		return;
	}
	m->pending_sync = 0;
	m->session_deadline = now + m->session_timeout_ms;
	if (g->state == KS_GROUP_STABLE) {
		answer_sync(ob, call, g, m);
		return;
	}
	if (m->sync)
		answer_sync_err(ob, m->sync, KS_EBUSY);
	m->sync = call;
	if (m != g->leader)
		return;
	/* the leader's assignment: every member gets its bytes (none if the
	 * leader left it out), and the group is stable */
	for (m = g->members; m; m = m->next) {
		free(m->assignment);
		m->assignment = NULL;
		m->assignment_len = 0;
		for (i = 0; i < req->assignment_count; i++)
			if (cp[i].bytes && same_str(cp[i].member_id, m->id)) {
				m->assignment = cp[i].bytes;
				m->assignment_len = cp[i].len;
				cp[i].bytes = NULL;
				break;
			}
	}
	g->state = KS_GROUP_STABLE;
	log_group(c, g, "stable", NULL);
	for (m = g->members; m; m = m->next)
		if (m->sync) {
			answer_sync(ob, m->sync, g, m);
			m->sync = NULL;
			m->session_deadline = now + m->session_timeout_ms;
		}
}

int ks_group_sync(ks_coordinator_t *c, const ks_sync_request_t *req,
    ks_sync_cb *cb, void *opaque)
{
	struct ks__outbox ob;
	struct ks__call *call;
	struct sync_copy *cp = NULL;
	size_t i, n;
	int fail = 0;
	int64_t now;

	if (!c || !req || !cb || empty(req->group_id) ||
	    empty(req->member_id) ||
	    (req->assignment_count && !req->assignments))
		return KS_EINVAL;
	n = req->assignment_count;
	for (i = 0; i < n; i++)
		if (!req->assignments[i].member_id ||
		    (!req->assignments[i].assignment &&
		    req->assignments[i].assignment_len))
			return KS_EINVAL;
	if (!(call = calloc(1, sizeof *call)))
		return KS_ENOMEM;
	if (n && !(cp = calloc(n, sizeof *cp)))
		fail = 1;
	for (i = 0; !fail && i < n; i++) {
		const ks_group_assignment_t *a = &req->assignments[i];
		cp[i].member_id = a->member_id;
		cp[i].len = a->assignment_len;
		/* a non-NULL pointer even for an empty assignment, so that
		 * it counts as given */
		if ((cp[i].bytes = malloc(a->assignment_len ?
		    a->assignment_len : 1)) == NULL)
			fail = 1;
		else if (a->assignment_len)
			memcpy(cp[i].bytes, a->assignment, a->assignment_len);
	}
	if (fail) {
		for (i = 0; cp && i < n; i++)
			free(cp[i].bytes);
		free(cp);
		free(call);
		return KS_ENOMEM;
	}
	call->kind = KS__CALL_SYNC;
	call->scb = cb;
	call->opaque = opaque;
	ob_init(&ob);
	now = ks__coord_now(c);
	pthread_mutex_lock(&c->mu);
	sync_locked(c, req, call, cp, now, &ob);
	pthread_mutex_unlock(&c->mu);
	for (i = 0; i < n; i++)
		free(cp[i].bytes);
	free(cp);
	ob_run(&ob);
	return 0;
}

/* ---- Heartbeat, LeaveGroup ---------------------------------------------- */

int ks_group_heartbeat(ks_coordinator_t *c, const char *group_id,
    int32_t generation, const char *member_id, const char *instance_id)
{
	struct ks__group *g;
	struct ks__member *m;
	int64_t now;
	int rc = 0;

	if (!c || empty(group_id) || empty(member_id))
		return KS_EINVAL;
	now = ks__coord_now(c);
	pthread_mutex_lock(&c->mu);
	g = ks__group_find(c, group_id);
	if (!g || fenced(g, instance_id, member_id) ||
	    !(m = find_member(g, member_id)) || g->state == KS_GROUP_EMPTY)
		rc = KS_EMEMBER;
	else if (generation != g->generation)
		rc = KS_EGENERATION;
	else {
		m->session_deadline = now + m->session_timeout_ms;
		if (g->state == KS_GROUP_PREPARING_REBALANCE)
			rc = KS_EREBALANCE;
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int ks_group_leave(ks_coordinator_t *c, const char *group_id,
    ks_group_leave_t *members, size_t n)
{
	struct ks__outbox ob;
	struct ks__group *g;
	struct ks__pending **pp;
	struct ks__member *m;
	int64_t now;
	size_t i;
	int rc = 0;

	if (!c || empty(group_id) || !members || !n)
		return KS_EINVAL;
	ob_init(&ob);
	now = ks__coord_now(c);
	pthread_mutex_lock(&c->mu);
	g = ks__group_find(c, group_id);
	for (i = 0; i < n; i++) {
		const char *mid = members[i].member_id;
		const char *iid = members[i].instance_id;
		int err = 0;

		if (!g) {
			err = KS_EMEMBER;
		} else if ((pp = find_pending(g, mid))) {
			drop_pending(g, pp);
			try_complete_join(c, g, now, &ob);
		} else if (iid) {
			/* by instance id; a member id, if given, must be
			 * the instance's current one */
			m = find_static(g, iid);
			if (!m || fenced(g, iid, mid))
				err = KS_EMEMBER;
			else
				remove_member(c, g, m, now, &ob);
		} else if ((m = find_member(g, mid))) {
			/* by member id: static members too, as Kafka */
			remove_member(c, g, m, now, &ob);
		} else {
			err = KS_EMEMBER;
		}
		if (!err && g)
			log_group(c, g, "member left:", iid ? iid : mid);
		members[i].err = err;
		if (err && !rc)
			rc = err;
	}
	ks__group_maybe_drop(c, g);
	pthread_mutex_unlock(&c->mu);
	ob_run(&ob);
	return rc;
}

/* ---- OffsetCommit's membership check ------------------------------------ */

int ks__group_check_commit(ks_coordinator_t *c, const char *group_id,
    int32_t generation, const char *member_id, const char *instance_id,
    int64_t now, struct ks__group **gp)
{
	struct ks__group *g = ks__group_find(c, group_id);
	struct ks__member *m;

	if (!g) {
		/* Kafka: a group unknown to the coordinator takes commits
		 * only from simple consumers (generation < 0) */
		if (generation >= 0)
			return KS_EGENERATION;
		if (!empty(member_id) || instance_id)
			return KS_EMEMBER;
		if (!(g = ks__group_get(c, group_id)))
			return KS_ENOMEM;
	} else if (fenced(g, instance_id, member_id)) {
		return KS_EMEMBER;
	} else if (generation >= 0 || !empty(member_id) || instance_id) {
		if (!(m = find_member(g, member_id)))
			return KS_EMEMBER;
		if (generation != g->generation)
			return KS_EGENERATION;
		/* between the join and the sync, the member does not know
		 * its partitions yet */
		if (g->state == KS_GROUP_COMPLETING_REBALANCE)
			return KS_EREBALANCE;
		if (!m->join && !m->sync)
			m->session_deadline = now + m->session_timeout_ms;
	} else if (g->nmembers) {
		/* a group with members takes commits from members only */
		return KS_EMEMBER;
	}
	if (!g->ocap) {
		g->otab = calloc(16, sizeof *g->otab);
		if (!g->otab) {
			ks__group_maybe_drop(c, g);
			return KS_ENOMEM;
		}
		g->ocap = 16;
	}
	g->pins++;
	*gp = g;
	return 0;
}

/* ---- timers ------------------------------------------------------------- */

/* Every timeout of one group that is due at now. */
static void tick_group(ks_coordinator_t *c, struct ks__group *g, int64_t now,
    struct ks__outbox *ob)
{
	struct ks__pending **pp;
	struct ks__member *m;
	int again, expired = 0;

	for (pp = &g->pending; *pp;) {
		if ((*pp)->deadline <= now) {
			drop_pending(g, pp);
			expired = 1;
		} else {
			pp = &(*pp)->next;
		}
	}
	if (expired)
		try_complete_join(c, g, now, ob);

	/* sessions: a member waiting for an answer is alive (Kafka) */
	do {
		again = 0;
		for (m = g->members; m; m = m->next)
			if (!m->join && !m->sync && m->session_deadline <= now) {
				log_group(c, g, "session expired:", m->id);
				remove_member(c, g, m, now, ob);
				again = 1;
				break;
			}
	} while (again);

	/* members that never sent SyncGroup after their join */
	if ((g->state == KS_GROUP_COMPLETING_REBALANCE ||
	    g->state == KS_GROUP_STABLE) && g->sync_deadline <= now) {
		struct ks__member *next;
		int removed = 0;
		for (m = g->members; m; m = next) {
			next = m->next;
			if (m->pending_sync) {
				log_group(c, g, "no sync in time:", m->id);
				unlink_member(g, m, ob);
				removed = 1;
			}
		}
		if (removed)
			prepare_rebalance(c, g, now, ob);
	}

	if (g->state == KS_GROUP_PREPARING_REBALANCE &&
	    g->join_deadline <= now) {
		if (g->initial_cap >= 0 && g->new_member_added &&
		    g->join_deadline < g->initial_cap) {
			/* members still arriving: wait a little more */
			g->new_member_added = 0;
			g->join_deadline = KS__MIN(g->join_deadline +
			    c->cfg.initial_rebalance_delay_ms, g->initial_cap);
		} else {
			g->initial_cap = -1;
			complete_join(c, g, now, ob);
		}
	}
}

int ks_coordinator_tick(ks_coordinator_t *c, int64_t now_ms)
{
	struct ks__outbox ob;
	struct ks__group *g, *next;
	size_t i;

	if (!c)
		return KS_EINVAL;
	if (now_ms < 0)
		now_ms = ks__coord_now(c);
	ob_init(&ob);
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->gcap; i++)
		for (g = c->gtab[i]; g; g = next) {
			next = g->next;
			tick_group(c, g, now_ms, &ob);
			ks__group_maybe_drop(c, g);
		}
	pthread_mutex_unlock(&c->mu);
	ob_run(&ob);
	return 0;
}

static void *timer_main(void *arg)
{
	ks_coordinator_t *c = arg;
	struct timespec ts;

	pthread_mutex_lock(&c->tmu);
	while (!c->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += c->cfg.tick_interval_ms / 1000;
		ts.tv_nsec += (long)(c->cfg.tick_interval_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		while (!c->stop &&
		    pthread_cond_timedwait(&c->tcv, &c->tmu, &ts) != ETIMEDOUT)
			;
		if (c->stop)
			break;
		pthread_mutex_unlock(&c->tmu);
		ks_coordinator_tick(c, -1);
		pthread_mutex_lock(&c->tmu);
	}
	pthread_mutex_unlock(&c->tmu);
	return NULL;
}

/* ---- lifetime ----------------------------------------------------------- */

static void free_tables(ks_coordinator_t *c)
{
	struct ks__group *g, *next;
	size_t i;

	for (i = 0; i < c->gcap; i++)
		for (g = c->gtab[i]; g; g = next) {
			next = g->next;
			free_group(g);
		}
	free(c->gtab);
}

/* Under c->mu: every join and sync g's members wait on is answered
 * KS_ECLOSED (through ob, run once c->mu is dropped). */
static void close_pending(struct ks__outbox *ob, struct ks__group *g)
{
	struct ks__member *m;

	for (m = g->members; m; m = m->next) {
		if (m->join)
			answer_join_err(ob, m->join, KS_ECLOSED, m->id, 0);
		if (m->sync)
			answer_sync_err(ob, m->sync, KS_ECLOSED);
		m->join = m->sync = NULL;
	}
}

int ks__coordinator_activate(ks_coordinator_t *c, int active)
{
	struct ks__outbox ob;
	struct ks__group *g, **pp;
	size_t i;
	int rc = 0;

	if (!c)
		return KS_EINVAL;
	ob_init(&ob);
	pthread_mutex_lock(&c->commit_mu);
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->gcap; i++) {
		for (pp = &c->gtab[i]; (g = *pp);) {
			close_pending(&ob, g);
			if (g->pins) { /* a commit waits for commit_mu */
				pp = &g->next;
				continue;
			}
			*pp = g->next;
			c->gcount--;
			free_group(g);
		}
	}
	c->inactive = !active;
	pthread_mutex_unlock(&c->mu);
	ob_run(&ob);
	if (active && c->log)
		rc = ks__offsets_replay(c);
	pthread_mutex_unlock(&c->commit_mu);
	return rc;
}

int ks_coordinator_new(const ks_coordinator_config_t *cfg,
    ks_log_t *offsets_log, ks_coordinator_t **cp)
{
	ks_coordinator_t *c;
	pthread_condattr_t ca;
	int rc;

	if (!cp)
		return KS_EINVAL;
	*cp = NULL;
	if (!(c = calloc(1, sizeof *c)))
		return KS_ENOMEM;
	if (cfg)
		c->cfg = *cfg;
	else
		ks_coordinator_config_init(&c->cfg);
	if (!config_valid(&c->cfg)) {
		free(c);
		return KS_ECONFIG;
	}
	c->log = offsets_log;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->commit_mu, NULL);
	pthread_mutex_init(&c->tmu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->tcv, &ca);
	pthread_condattr_destroy(&ca);
	gtab_grow(c);
	rc = c->gcap ? 0 : KS_ENOMEM;
	if (!rc && c->log)
		rc = ks__offsets_replay(c);
	if (!rc && c->cfg.tick_interval_ms > 0) {
		rc = -pthread_create(&c->thread, NULL, timer_main, c);
		c->has_thread = rc == 0;
	}
	if (rc) {
		free_tables(c);
		pthread_mutex_destroy(&c->mu);
		pthread_mutex_destroy(&c->commit_mu);
		pthread_mutex_destroy(&c->tmu);
		pthread_cond_destroy(&c->tcv);
		free(c);
		return rc;
	}
	*cp = c;
	return 0;
}

void ks_coordinator_free(ks_coordinator_t *c)
{
	struct ks__outbox ob;
	struct ks__group *g;
	size_t i;

	if (!c)
		return;
	if (c->has_thread) {
		pthread_mutex_lock(&c->tmu);
		c->stop = 1;
		pthread_cond_signal(&c->tcv);
		pthread_mutex_unlock(&c->tmu);
		pthread_join(c->thread, NULL);
	}
	ob_init(&ob);
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->gcap; i++)
		for (g = c->gtab[i]; g; g = g->next)
			close_pending(&ob, g);
	pthread_mutex_unlock(&c->mu);
	ob_run(&ob);
	free_tables(c);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->commit_mu);
	pthread_mutex_destroy(&c->tmu);
	pthread_cond_destroy(&c->tcv);
	free(c);
}

/* ---- DescribeGroups, ListGroups ----------------------------------------- */

const char *ks_group_state_name(int state)
{
	switch (state) {
	case KS_GROUP_EMPTY: return "Empty";
	case KS_GROUP_PREPARING_REBALANCE: return "PreparingRebalance";
	case KS_GROUP_COMPLETING_REBALANCE: return "CompletingRebalance";
	case KS_GROUP_STABLE: return "Stable";
	case KS_GROUP_DEAD: return "Dead";
	default: return "Unknown";
	}
}

static void fill_info(struct ks__pack *pk, const struct ks__group *g,
    const char *id)
{
	ks_group_info_t *info = ks__pack_mem(pk, NULL, sizeof *info,
	    _Alignof(ks_group_info_t));
	ks_group_member_info_t *arr = NULL;
	const struct ks__member *m;
	int stable = g && g->state == KS_GROUP_STABLE;
	size_t i = 0, n = g ? g->nmembers : 0;

	if (n)
		arr = ks__pack_mem(pk, NULL, n * sizeof *arr,
		    _Alignof(ks_group_member_info_t));
	if (info) {
		info->state = g ? g->state : KS_GROUP_DEAD;
		info->generation = g ? g->generation : -1;
		info->members = arr;
		info->member_count = n;
	}
	id = ks__pack_str(pk, id);
	if (info)
		info->group_id = id;
	id = ks__pack_str(pk, g && g->protocol_type ? g->protocol_type : "");
	if (info)
		info->protocol_type = id;
	id = ks__pack_str(pk, stable && g->protocol_name ? g->protocol_name :
	    "");
	if (info)
		info->protocol_name = id;
	id = ks__pack_str(pk, g && g->leader ? g->leader->id : "");
	if (info)
		info->leader_id = id;
	for (m = g ? g->members : NULL; m; m = m->next, i++) {
		const struct ks__proto *p = stable ?
		    member_proto(m, g->protocol_name) : NULL;
		ks_group_member_info_t e;
		memset(&e, 0, sizeof e);
		e.member_id = ks__pack_str(pk, m->id);
		e.instance_id = ks__pack_str(pk, m->instance_id);
		e.client_id = ks__pack_str(pk, m->client_id);
		e.client_host = ks__pack_str(pk, m->client_host);
		if (p) {
			e.metadata = ks__pack_bytes(pk, p->meta, p->len);
			e.metadata_len = p->len;
		}
		if (stable) {
			e.assignment = ks__pack_bytes(pk, m->assignment,
			    m->assignment_len);
			e.assignment_len = m->assignment_len;
		}
		if (arr)
			arr[i] = e;
	}
}

int ks_group_describe(ks_coordinator_t *c, const char *group_id,
    ks_group_info_t **out)
{
	struct ks__pack pk = { NULL, 0 };
	const struct ks__group *g;

	if (!out)
		return KS_EINVAL;
	*out = NULL;
	if (!c || !group_id)
		return KS_EINVAL;
	pthread_mutex_lock(&c->mu);
	g = ks__group_find(c, group_id);
	fill_info(&pk, g, group_id);
	if ((pk.base = malloc(pk.off))) {
		pk.off = 0;
		fill_info(&pk, g, group_id);
	}
	pthread_mutex_unlock(&c->mu);
	if (!pk.base)
		return KS_ENOMEM;
	*out = (ks_group_info_t *)pk.base;
	return 0;
}

void ks_group_info_free(ks_group_info_t *info)
{
	free(info);
}

static void fill_list(struct ks__pack *pk, ks_coordinator_t *c, int mask,
    size_t *count)
{
	ks_group_listing_t *arr;
	struct ks__group *g;
	size_t i, n = 0;

	for (i = 0; i < c->gcap; i++)
		for (g = c->gtab[i]; g; g = g->next)
			n += !mask || (mask & (1 << g->state));
	arr = ks__pack_mem(pk, NULL, n * sizeof *arr,
	    _Alignof(ks_group_listing_t));
	n = 0;
	for (i = 0; i < c->gcap; i++)
		for (g = c->gtab[i]; g; g = g->next) {
			ks_group_listing_t e;
			if (mask && !(mask & (1 << g->state)))
				continue;
			e.group_id = ks__pack_str(pk, g->id);
			e.protocol_type = ks__pack_str(pk, g->protocol_type ?
			    g->protocol_type : "");
			e.state = g->state;
			if (arr)
				arr[n] = e;
			n++;
		}
	*count = n;
}

static int cmp_listing(const void *a, const void *b)
{
	return strcmp(((const ks_group_listing_t *)a)->group_id,
	    ((const ks_group_listing_t *)b)->group_id);
}

int ks_group_list(ks_coordinator_t *c, int states_mask,
    ks_group_listing_t **out, size_t *count)
{
	struct ks__pack pk = { NULL, 0 };
	size_t n = 0;

	if (out)
		*out = NULL;
	if (count)
		*count = 0;
	if (!c || !out || !count)
		return KS_EINVAL;
	pthread_mutex_lock(&c->mu);
	fill_list(&pk, c, states_mask, &n);
	/* at least a byte, so that an empty list is not NULL */
	if ((pk.base = malloc(pk.off ? pk.off : 1))) {
		pk.off = 0;
		fill_list(&pk, c, states_mask, &n);
	}
	pthread_mutex_unlock(&c->mu);
	if (!pk.base)
		return KS_ENOMEM;
	qsort(pk.base, n, sizeof(ks_group_listing_t), cmp_listing);
	*out = (ks_group_listing_t *)pk.base;
	*count = n;
	return 0;
}

void ks_group_list_free(ks_group_listing_t *list)
{
	free(list);
}
