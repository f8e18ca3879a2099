/*
 * server_admin.c: the server's configuration and admin APIs:
 * DescribeConfigs, AlterConfigs, IncrementalAlterConfigs,
 * CreatePartitions and DeleteGroups.
 *
 * Topic properties are the store's (ks_topic_config_names); a property
 * whose value equals the store's topic default is reported as Kafka's
 * DEFAULT_CONFIG, any other as TOPIC_CONFIG. The broker resource lists a
 * few read-only properties of this broker and the store's topic defaults
 * under Kafka's broker-level names. Errors are per resource, with a
 * message, and counted with ks__kmetrics_error; a malformed request
 * closes the connection as elsewhere.
 */
#include "kafka/server_impl.h"
#include "store/store_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_MAX 64 /* ks_topic_config_get: always enough */

/* ---- helpers --------------------------------------------------------------- */

/* A message in the request's arena (fallback: a fixed text). */
static kp_str_t amsg(ks__kreq_t *rq, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static kp_str_t amsg(ks__kreq_t *rq, const char *fmt, ...)
{
	va_list ap;
	char *buf;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(buf = kp_arena_alloc(rq->arena, (size_t)n + 1)))
		return kp_cstr("error");
	va_start(ap, fmt);
	vsnprintf(buf, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return kp_cstr(buf);
}

/* A copy of a C string in the arena, as a kp_str_t (NULL: null). */
static kp_str_t astr(ks__kreq_t *rq, const char *s)
{
	size_t n;
	char *p;

	if (!s)
		return kp_cstr(NULL);
	n = strlen(s);
	if (!(p = kp_arena_alloc(rq->arena, n + 1)))
		return kp_cstr(NULL);
	memcpy(p, s, n + 1);
	return kp_cstr(p);
}

/*
 * An answer's results: m.results, n zeroed entries in the arena, and
 * m.n_results. 0 or KS_ENOMEM.
 */
#define RESULTS_ALLOC(rq, m, n)						\
	((m).n_results = (n),						\
	 ((m).results = ks__kalloc_n((rq)->arena, (size_t)(n),		\
	    sizeof *(m).results)) ? 0 : KS_ENOMEM)

/* Counts each result's error code for the API, once the answer is made. */
#define RESULTS_COUNT(rq, key, m)					\
	for (int32_t i_ = 0; i_ < (m).n_results; i_++)			\
		ks__kmetrics_error((rq)->srv->hub, (key),		\
		    (m).results[i_].error_code)

/*
 * The Kafka code and message for rc, an error from opening topic name:
 * a topic that does not exist, or cannot (a bad name), is unknown.
 */
static int16_t topic_error(ks__kreq_t *rq, int rc, const char *name,
    kp_str_t *msg)
{
	if (rc == KS_ETOPIC || rc == KS_ENAME) {
		*msg = amsg(rq, "unknown topic %s", name);
		return KP_UNKNOWN_TOPIC_OR_PARTITION;
	}
	*msg = kp_cstr(ks_strerror(rc));
	return ks__ksrv_err(rc);
}

/*
 * What DescribeConfigs tells about each topic property: its type and the
 * broker-level property (Kafka's name) its default comes from.
 */
static const struct prop {
	const char *name;
	const char *broker_name;
	int8_t type;
} props[] = {
	{ "cleanup.policy", "log.cleanup.policy", KP_CONFIG_TYPE_LIST },
	{ "delete.retention.ms", "log.cleaner.delete.retention.ms",
	    KP_CONFIG_TYPE_LONG },
	{ "min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms",
	    KP_CONFIG_TYPE_LONG },
	{ "min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio",
	    KP_CONFIG_TYPE_DOUBLE },
	{ "segment.bytes", "log.segment.bytes", KP_CONFIG_TYPE_INT },
	{ "segment.ms", "log.roll.ms", KP_CONFIG_TYPE_LONG },
	{ "segment.index.bytes", "log.index.size.max.bytes",
	    KP_CONFIG_TYPE_INT },
	{ "index.interval.bytes", "log.index.interval.bytes",
	    KP_CONFIG_TYPE_INT },
	{ "max.message.bytes", "message.max.bytes", KP_CONFIG_TYPE_INT },
	{ "retention.ms", "log.retention.ms", KP_CONFIG_TYPE_LONG },
	{ "retention.bytes", "log.retention.bytes", KP_CONFIG_TYPE_LONG },
	{ "flush.messages", "log.flush.interval.messages",
	    KP_CONFIG_TYPE_LONG },
	{ "flush.ms", "log.flush.interval.ms", KP_CONFIG_TYPE_LONG },
};
#define NPROPS (sizeof props / sizeof props[0])

static const struct prop *prop_find(const char *name)
{
	for (size_t i = 0; i < NPROPS; i++)
		if (strcmp(props[i].name, name) == 0)
			return &props[i];
	return NULL;
}

/* Whether keys (null: every key) asks for name. */
static int wanted(const kp_describe_configs_resource_t *r, const char *name)
{
	if (r->n_configuration_keys < 0)
		return 1;
	for (int32_t i = 0; i < r->n_configuration_keys; i++)
		if (kp_str_eq_c(r->configuration_keys[i], name))
			return 1;
	return 0;
}

/* The store's topic defaults (what a property returns to). */
static const ks_topic_config_t *topic_defaults(ks_kafka_server_t *srv)
{
	return &srv->store->cfg.topic_defaults;
}

/* ---- DescribeConfigs --------------------------------------------------------- */

/* Fills e with a property; the strings are copied into the arena. */
static void entry_fill(ks__kreq_t *rq, kp_describe_configs_entry_t *e,
    const char *name, const char *value, int8_t source, int8_t type,
    int read_only)
{
	e->name = astr(rq, name);
	e->value = astr(rq, value);
	e->read_only = read_only;
	e->config_source = source;
	e->is_default = source == KP_CONFIG_SOURCE_DEFAULT;
	e->is_sensitive = false;
	e->config_type = type;
	e->documentation = kp_cstr(NULL);
}

/*
 * The synonyms of a topic property, in Kafka's order of precedence: the
 * topic's own value when it is set, then the broker-level default.
 */
static int topic_synonyms(ks__kreq_t *rq, kp_describe_configs_entry_t *e,
    const struct prop *p, const char *value, const char *dvalue)
{
	int over = e->config_source == KP_CONFIG_SOURCE_TOPIC;
	int32_t n = (over ? 1 : 0) + (p ? 1 : 0), k = 0;

	e->n_synonyms = n;
	if (!n)
		return 0;
	if (!(e->synonyms = ks__kalloc_n(rq->arena, (size_t)n,
	    sizeof *e->synonyms)))
		return KS_ENOMEM;
	if (over)
		e->synonyms[k++] = (kp_describe_configs_synonym_t){
		    e->name, astr(rq, value), KP_CONFIG_SOURCE_TOPIC };
	if (p)
		e->synonyms[k++] = (kp_describe_configs_synonym_t){
		    kp_cstr(p->broker_name), astr(rq, dvalue),
		    KP_CONFIG_SOURCE_DEFAULT };
	return 0;
}

static int describe_topic(ks__kreq_t *rq,
    const kp_describe_configs_req_t *req,
    const kp_describe_configs_resource_t *r,
    kp_describe_configs_result_t *res)
{
	const char *const *names = ks_topic_config_names();
	const ks_topic_config_t *defaults = topic_defaults(rq->srv);
	char value[VALUE_MAX], dvalue[VALUE_MAX];
	ks_topic_config_t cfg;
	ks_topic_t *t;
	size_t i, n = 0;
	int rc;

	if ((rc = ks_topic_open(rq->srv->store, r->resource_name.s, &t))
	    == 0) {
		rc = ks_topic_config(t, &cfg);
		ks_topic_release(t);
	}
	if (rc) {
		res->error_code = topic_error(rq, rc, r->resource_name.s,
		    &res->error_message);
		return 0;
	}
	for (i = 0; names[i]; i++)
		n++;
	if (!(res->configs = ks__kalloc_n(rq->arena, n, sizeof *res->configs)))
		return KS_ENOMEM;
	for (i = 0; names[i]; i++) {
		kp_describe_configs_entry_t *e = &res->configs[res->n_configs];
		const struct prop *p = prop_find(names[i]);
		int8_t source;

		if (!wanted(r, names[i]))
			continue;
		if (ks_topic_config_get(&cfg, names[i], value, sizeof value) ||
		    ks_topic_config_get(defaults, names[i], dvalue,
		    sizeof dvalue))
			continue; /* cannot happen: the store's own names */
		source = strcmp(value, dvalue) == 0 ?
		    KP_CONFIG_SOURCE_DEFAULT : KP_CONFIG_SOURCE_TOPIC;
		entry_fill(rq, e, names[i], value, source,
		    p ? p->type : KP_CONFIG_TYPE_UNKNOWN, 0);
		if (req->include_synonyms &&
		    (rc = topic_synonyms(rq, e, p, value, dvalue)) != 0)
			return rc;
		res->n_configs++;
	}
	return 0;
}

/*
 * This broker's properties: a few of its own, read-only, and the store's
 * topic defaults under their broker-level names (STATIC_BROKER_CONFIG
 * where they differ from Kafka's defaults). Resource name: our node id;
 * "" (the cluster-wide dynamic defaults, which we do not have) lists
 * nothing.
 */
static int describe_broker(ks__kreq_t *rq,
    const kp_describe_configs_resource_t *r,
    kp_describe_configs_result_t *res)
{
	ks_kafka_server_t *srv = rq->srv;
	const ks_topic_config_t *defaults = topic_defaults(srv);
	ks_topic_config_t kafka;
	char id[16], np[16], value[VALUE_MAX], kvalue[VALUE_MAX];
	struct {
		const char *name, *value;
		int8_t type;
	} own[] = {
		{ "broker.id", id, KP_CONFIG_TYPE_INT },
		{ "num.partitions", np, KP_CONFIG_TYPE_INT },
		{ "auto.create.topics.enable",
		    srv->cfg.auto_create_topics ? "true" : "false",
		    KP_CONFIG_TYPE_BOOLEAN },
		{ "default.replication.factor", "1", KP_CONFIG_TYPE_INT },
		{ "offsets.topic.replication.factor", "1",
		    KP_CONFIG_TYPE_SHORT },
	};
	size_t nown = sizeof own / sizeof own[0], i;

	snprintf(id, sizeof id, "%d", (int)srv->cfg.node_id);
	snprintf(np, sizeof np, "%d", (int)srv->cfg.num_partitions);
	if (r->resource_name.len == 0)
		return 0;
	if (strcmp(r->resource_name.s, id) != 0) {
		res->error_code = KP_INVALID_REQUEST;
		res->error_message = amsg(rq, "this is broker %s, not %s", id,
		    r->resource_name.s);
		return 0;
	}
	if (!(res->configs = ks__kalloc_n(rq->arena, nown + NPROPS,
	    sizeof *res->configs)))
		return KS_ENOMEM;
	for (i = 0; i < nown; i++) {
		if (!wanted(r, own[i].name))
			continue;
		entry_fill(rq, &res->configs[res->n_configs++], own[i].name,
		    own[i].value, KP_CONFIG_SOURCE_STATIC_BROKER, own[i].type,
		    1);
	}
	ks_topic_config_init(&kafka);
	for (i = 0; i < NPROPS; i++) {
		if (!wanted(r, props[i].broker_name) ||
		    ks_topic_config_get(defaults, props[i].name, value,
		    sizeof value) ||
		    ks_topic_config_get(&kafka, props[i].name, kvalue,
		    sizeof kvalue))
			continue;
		entry_fill(rq, &res->configs[res->n_configs++],
		    props[i].broker_name, value, strcmp(value, kvalue) == 0 ?
		    KP_CONFIG_SOURCE_DEFAULT : KP_CONFIG_SOURCE_STATIC_BROKER,
		    props[i].type, 1);
	}
	return 0;
}

int ks__kh_describe_configs(ks__kreq_t *rq)
{
	kp_describe_configs_req_t req;
	kp_describe_configs_resp_t m;
	int32_t i;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_describe_configs_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	if ((rc = RESULTS_ALLOC(rq, m, req.n_resources)) != 0)
		return rc;
	for (i = 0; i < req.n_resources; i++) {
		const kp_describe_configs_resource_t *r = &req.resources[i];
		kp_describe_configs_result_t *res = &m.results[i];

		res->error_message = kp_cstr(NULL);
		res->resource_type = r->resource_type;
		res->resource_name = r->resource_name;
		if (r->resource_type == KP_RESOURCE_TOPIC) {
			rc = describe_topic(rq, &req, r, res);
		} else if (r->resource_type == KP_RESOURCE_BROKER) {
			rc = describe_broker(rq, r, res);
		} else {
			res->error_code = KP_INVALID_REQUEST;
			res->error_message = amsg(rq, "resource type %d is "
			    "not supported", r->resource_type);
		}
		if (rc)
			return rc;
	}
	RESULTS_COUNT(rq, KP_DESCRIBE_CONFIGS, m);
	return kp_describe_configs_resp(&rq->out, &m);
}

/* ---- AlterConfigs, IncrementalAlterConfigs ------------------------------------ */

/* Sets name to its default; KS_ECONFIG for an unknown name. */
static int set_default(ks_kafka_server_t *srv, ks_topic_config_t *cfg,
    const char *name)
{
	char dvalue[VALUE_MAX];
	int rc;

	if ((rc = ks_topic_config_get(topic_defaults(srv), name, dvalue,
	    sizeof dvalue)) != 0)
		return KS_ECONFIG;
	return ks_topic_config_set(cfg, name, dvalue);
}

/*
 * APPEND / SUBTRACT on a list-valued property: only cleanup.policy is
 * one. The value is a list of policies as cleanup.policy takes it.
 */
static int list_op(ks__kreq_t *rq, ks_topic_config_t *cfg,
    const kp_alter_configs_entry_t *e, kp_str_t *msg)
{
	ks_topic_config_t scratch = *cfg;
	const char *name = e->name.s;

	if (strcmp(name, "cleanup.policy") != 0) {
		*msg = amsg(rq, "%s is not a list: it cannot be %s", name,
		    e->op == KP_CONFIG_OP_APPEND ? "appended to" :
		    "subtracted from");
		return KS_ECONFIG;
	}
	if (ks_topic_config_set(&scratch, name, e->value.s) != 0) {
		*msg = amsg(rq, "bad value for %s: %s", name, e->value.s);
		return KS_ECONFIG;
	}
	if (e->op == KP_CONFIG_OP_APPEND) {
		cfg->cleanup_policy |= scratch.cleanup_policy;
	} else {
		if (!(cfg->cleanup_policy & ~scratch.cleanup_policy)) {
			*msg = amsg(rq, "%s cannot become empty", name);
			return KS_ECONFIG;
		}
		cfg->cleanup_policy &= ~scratch.cleanup_policy;
	}
	return 0;
}

/*
 * Applies one property of an alter request to cfg. AlterConfigs: a value
 * (null: the default). IncrementalAlterConfigs: the operation. Returns 0
 * or a Kafka code, with *msg set.
 */
static int16_t apply_one(ks__kreq_t *rq, ks_topic_config_t *cfg,
    const kp_alter_configs_entry_t *e, int incremental, kp_str_t *msg)
{
	ks_kafka_server_t *srv = rq->srv;
	const char *name = e->name.s;
	char probe[VALUE_MAX];
	int op = incremental ? e->op : KP_CONFIG_OP_SET;

	if (ks_topic_config_get(cfg, name, probe, sizeof probe) == KS_ECONFIG) {
		*msg = amsg(rq, "unknown topic config %s", name);
		return KP_INVALID_CONFIG;
	}
	switch (op) {
	case KP_CONFIG_OP_SET:
		if (e->value.len < 0) {
			if (incremental) {
				*msg = amsg(rq, "SET %s without a value",
				    name);
				return KP_INVALID_REQUEST;
			}
			set_default(srv, cfg, name);
			return 0;
		}
		if (ks_topic_config_set(cfg, name, e->value.s) != 0) {
			*msg = amsg(rq, "bad value for %s: %s", name,
			    e->value.s);
			return KP_INVALID_CONFIG;
		}
		return 0;
	case KP_CONFIG_OP_DELETE:
		set_default(srv, cfg, name);
		return 0;
	case KP_CONFIG_OP_APPEND:
	case KP_CONFIG_OP_SUBTRACT:
		if (e->value.len < 0) {
			*msg = amsg(rq, "%s on %s without a value",
			    op == KP_CONFIG_OP_APPEND ? "APPEND" : "SUBTRACT",
			    name);
			return KP_INVALID_REQUEST;
		}
		return list_op(rq, cfg, e, msg) ? KP_INVALID_CONFIG : 0;
	default:
		*msg = amsg(rq, "unknown config operation %d on %s", op, name);
		return KP_INVALID_REQUEST;
	}
}

static void alter_one(ks__kreq_t *rq, const kp_alter_configs_resource_t *r,
    int incremental, int validate_only, kp_alter_configs_result_t *res)
{
	ks_kafka_server_t *srv = rq->srv;
	const char *name = r->resource_name.s;
	ks_topic_config_t cfg, cur;
	ks_topic_t *t;
	int32_t i;
	int rc;

	res->error_message = kp_cstr(NULL);
	res->resource_type = r->resource_type;
	res->resource_name = r->resource_name;
	if (r->resource_type != KP_RESOURCE_TOPIC) {
		res->error_code = KP_INVALID_REQUEST;
		res->error_message = amsg(rq, "only topic configurations can "
		    "be altered (resource type %d)", r->resource_type);
		return;
	}
	if ((rc = ks_topic_open(srv->store, name, &t)) == 0) {
		rc = ks_topic_config(t, &cur);
		ks_topic_release(t);
	}
	if (rc) {
		res->error_code = topic_error(rq, rc, name,
		    &res->error_message);
		return;
	}
	/* AlterConfigs replaces the whole configuration: what it does not
	 * name returns to the default. */
	if (incremental) {
		cfg = cur;
	} else {
		cfg = *topic_defaults(srv);
		cfg.partitions = cur.partitions;
	}
	for (i = 0; i < r->n_configs; i++) {
		res->error_code = apply_one(rq, &cfg, &r->configs[i],
		    incremental, &res->error_message);
		if (res->error_code)
			return;
	}
	/* What ks_topic_alter checks too (the value in a file that a
	 * reopening must read back). */
	if (ks__topic_config_check(&cfg) != 0) {
		res->error_code = KP_INVALID_CONFIG;
		res->error_message = kp_cstr("invalid topic configuration");
		return;
	}
	if (validate_only)
		return;
	if ((rc = ks_topic_alter(srv->store, name, &cfg)) != 0) {
		res->error_code = rc == KS_ETOPIC ?
		    KP_UNKNOWN_TOPIC_OR_PARTITION : ks__ksrv_err(rc);
		res->error_message = kp_cstr(ks_strerror(rc));
		return;
	}
	KS__KLOG(srv, KS_LOG_INFO, "kafka server: altered the configuration "
	    "of topic %s", name);
}

static int alter_configs(ks__kreq_t *rq, int incremental)
{
	int16_t key = incremental ? KP_INCREMENTAL_ALTER_CONFIGS :
	    KP_ALTER_CONFIGS;
	kp_alter_configs_req_t req;
	kp_alter_configs_resp_t m;
	int32_t i;
	int rc;

	memset(&req, 0, sizeof req);
	rc = incremental ? kp_incremental_alter_configs_req(rq->in, &req) :
	    kp_alter_configs_req(rq->in, &req);
	if (rc)
		return rc;
	memset(&m, 0, sizeof m);
	if ((rc = RESULTS_ALLOC(rq, m, req.n_resources)) != 0)
		return rc;
	for (i = 0; i < req.n_resources; i++)
		alter_one(rq, &req.resources[i], incremental,
		    req.validate_only, &m.results[i]);
	RESULTS_COUNT(rq, key, m);
	return incremental ? kp_incremental_alter_configs_resp(&rq->out, &m) :
	    kp_alter_configs_resp(&rq->out, &m);
}

int ks__kh_alter_configs(ks__kreq_t *rq)
{
	return alter_configs(rq, 0);
}

int ks__kh_incremental_alter_configs(ks__kreq_t *rq)
{
	return alter_configs(rq, 1);
}

/* ---- CreatePartitions -------------------------------------------------------- */

static void create_partitions_one(ks__kreq_t *rq,
    const kp_create_partitions_topic_t *ct, int validate_only,
    kp_create_partitions_result_t *res)
{
	ks_kafka_server_t *srv = rq->srv;
	const char *name = ct->name.s;
	int32_t cur, i;
	ks_topic_t *t;
	int rc;

	res->name = ct->name;
	res->error_message = kp_cstr(NULL);
	if (srv->cops) {
		const char *msg = NULL;

		if (ct->n_assignments >= 0) {
			res->error_code = KP_INVALID_REPLICA_ASSIGNMENT;
			msg = "manual replica assignment is not supported";
		} else {
			res->error_code = srv->cops->create_partitions(srv->cl,
			    name, ct->count, validate_only, &msg);
		}
		if (msg)
			res->error_message = kp_cstr(msg);
		return;
	}
	if ((rc = ks_topic_open(srv->store, name, &t)) != 0) {
		res->error_code = topic_error(rq, rc, name,
		    &res->error_message);
		return;
	}
	cur = ks_topic_partitions(t);
	ks_topic_release(t);
	if (ct->count <= cur) {
		res->error_code = KP_INVALID_PARTITIONS;
		res->error_message = amsg(rq, "topic %s has %d partitions: "
		    "the count can only grow, not become %d", name, (int)cur,
		    (int)ct->count);
		return;
	}
	/* Assignments: one per new partition, each this broker alone. */
	if (ct->n_assignments >= 0) {
		if (ct->n_assignments != ct->count - cur) {
			res->error_code = KP_INVALID_REPLICA_ASSIGNMENT;
			res->error_message = amsg(rq, "%d assignments for %d "
			    "new partitions", (int)ct->n_assignments,
			    (int)(ct->count - cur));
			return;
		}
		for (i = 0; i < ct->n_assignments; i++) {
			const kp_create_partitions_assignment_t *a =
			    &ct->assignments[i];
			if (a->n_broker_ids != 1 ||
			    a->broker_ids[0] != srv->cfg.node_id) {
				res->error_code =
				    KP_INVALID_REPLICA_ASSIGNMENT;
				res->error_message = amsg(rq, "this cluster "
				    "has one broker (%d)",
				    (int)srv->cfg.node_id);
				return;
			}
		}
	}
	if (validate_only)
		return;
	if ((rc = ks_topic_add_partitions(srv->store, name, ct->count)) != 0) {
		res->error_code = rc == KS_ETOPIC ?
		    KP_UNKNOWN_TOPIC_OR_PARTITION : rc == KS_EINVAL ?
		    KP_INVALID_PARTITIONS : ks__ksrv_err(rc);
		res->error_message = kp_cstr(ks_strerror(rc));
		return;
	}
	KS__KLOG(srv, KS_LOG_INFO, "kafka server: topic %s now has %d "
	    "partitions", name, (int)ct->count);
}

int ks__kh_create_partitions(ks__kreq_t *rq)
{
	kp_create_partitions_req_t req;
	kp_create_partitions_resp_t m;
	int32_t i;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_create_partitions_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	if ((rc = RESULTS_ALLOC(rq, m, req.n_topics)) != 0)
		return rc;
	for (i = 0; i < req.n_topics; i++)
		create_partitions_one(rq, &req.topics[i], req.validate_only,
		    &m.results[i]);
	RESULTS_COUNT(rq, KP_CREATE_PARTITIONS, m);
	return kp_create_partitions_resp(&rq->out, &m);
}

/* ---- DeleteGroups ------------------------------------------------------------ */

int ks__kh_delete_groups(ks__kreq_t *rq)
{
	ks_kafka_server_t *srv = rq->srv;
	kp_delete_groups_req_t req;
	kp_delete_groups_resp_t m;
	int32_t i;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_delete_groups_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	if ((rc = RESULTS_ALLOC(rq, m, req.n_groups)) != 0)
		return rc;
	for (i = 0; i < req.n_groups; i++) {
		const char *g = req.groups[i].s;
		int16_t code;

		m.results[i].group_id = req.groups[i];
		if (!ks__ksrv_coord(srv)) {
			m.results[i].error_code = ks__ksrv_nocoord(srv);
			continue;
		}
		rc = *g ? ks_group_delete(ks__ksrv_coord(srv), g) : KS_EINVAL;
		switch (rc) {
		case 0: code = KP_NONE; break;
		case KS_EBUSY: code = KP_NON_EMPTY_GROUP; break;
		case KS_EGROUP: code = KP_GROUP_ID_NOT_FOUND; break;
		case KS_EINVAL: code = KP_INVALID_GROUP_ID; break;
		case KS_ECLOSED: code = KP_COORDINATOR_NOT_AVAILABLE; break;
		default: code = ks__ksrv_err(rc); break;
		}
		m.results[i].error_code = code;
		if (rc == 0)
			KS__KLOG(srv, KS_LOG_INFO, "kafka server: deleted "
			    "group %s", g);
	}
	RESULTS_COUNT(rq, KP_DELETE_GROUPS, m);
	return kp_delete_groups_resp(&rq->out, &m);
}
