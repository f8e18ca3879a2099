/*
 * client_admin.c: the admin API (admin.h) on a Kafka-protocol broker or
 * cluster, for a handle made by ks_admin_connect(). Each call is a few
 * synchronous requests: Metadata for topics, partitions and leaders;
 * ListOffsets to each leader; CreateTopics, DeleteTopics,
 * CreatePartitions, DescribeConfigs and IncrementalAlterConfigs to the
 * controller (any broker when the cluster names none); the group calls
 * to the group's coordinator (FindCoordinator). Results are packed by
 * lib/admin's builders, so they are freed as local ones are.
 *
 * The cluster (kc_cluster) is made on the first call, not by
 * ks_admin_connect, and again on a later call if that failed: a handle
 * made while the broker is down works once it is up.
 */
#include "admin/admin_impl.h"
#include "kafka/client_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ks__radmin {
	char *bootstrap;
	ks_remote_config_t rc;
	ks_tls_config_t tls;        /* rc.tls points here when set */
	char *tls_strs[KC_TLS_STRS];
	struct kc_cluster *cl;
};

/* Kafka's internal topics: never deleted through the admin API. */
static int is_internal(const char *name)
{
	return strcmp(name, "__consumer_offsets") == 0 ||
	    strcmp(name, "__transaction_state") == 0;
}

/*
 * kc_err (which records the code for ks_kafka_last_error) with the admin
 * calls' own mapping of the codes only they meet.
 */
static int ra_err(int16_t k)
{
	int rc = kc_err(k);

	switch (k) {
	case KP_GROUP_ID_NOT_FOUND:
		return KS_EGROUP;
	case KP_NON_EMPTY_GROUP:
		return KS_EBUSY;
	case KP_INVALID_PARTITIONS:
	case KP_INVALID_GROUP_ID:
	case KP_INVALID_REPLICATION_FACTOR:
	case KP_INVALID_REPLICA_ASSIGNMENT:
	case KP_POLICY_VIOLATION:
		return KS_EINVAL;
	default:
		return rc;
	}
}

/*
 * A broker's explanation of a refused change, for the user (the local
 * side names a bad property through the store's log callback the same
 * way): only where it adds to the error code, which property or count.
 */
static void ra_say(const ks_remote_config_t *rc, const char *what,
    const char *name, int16_t code, kp_str_t msg)
{
	if (code != KP_INVALID_CONFIG && code != KP_INVALID_PARTITIONS &&
	    code != KP_INVALID_REQUEST && code != KP_POLICY_VIOLATION &&
	    code != KP_INVALID_REPLICATION_FACTOR)
		return;
	if (msg.s && msg.len > 0)
		ks__logf(rc->log_cb ? rc->log_cb : ks_log_stderr,
		    rc->log_opaque, KS_LOG_WARNING, "%s %s: %.*s", what,
		    name, (int)msg.len, msg.s);
}

/* Checks each bootstrap entry as kc_cluster_new will read it. */
static int check_bootstrap(const char *bootstrap)
{
	const char *p, *e;
	char buf[320], url[340];
	size_t len, n = 0;
	ks_url_t u;

	for (p = bootstrap; *p; p = *e ? e + 1 : e) {
		while (*p == ' ')
			p++;
		e = p + strcspn(p, ",");
		len = (size_t)(e - p);
		if (len == 0 || len >= sizeof buf)
			return KS_EINVAL;
		memcpy(buf, p, len);
		buf[len] = 0;
		snprintf(url, sizeof url, strstr(buf, "://") ? "%s" :
		    "tcp://%s", buf);
		if (ks_url_parse(url, &u) != 0 || u.port <= 0 ||
		    (strcmp(u.scheme, "tcp") && strcmp(u.scheme, "tls+tcp")))
			return KS_EINVAL;
		n++;
	}
	return n ? 0 : KS_EINVAL;
}

int ks_admin_connect(const char *bootstrap, const ks_remote_config_t *remote,
    ks_admin_t **ap)
{
	struct ks__radmin *r;
	int rc = 0;

	if (!ap)
		return KS_EINVAL;
	*ap = NULL;
	if (!bootstrap || check_bootstrap(bootstrap) != 0)
		return KS_EINVAL;
	if (!(r = calloc(1, sizeof *r)))
		return KS_ENOMEM;
	if (remote)
		r->rc = *remote;
	else
		ks_remote_config_init(&r->rc);
	if (r->rc.request_timeout_ms <= 0)
		r->rc.request_timeout_ms = 30000;
	/* the TLS settings are used at the first call: keep copies */
	if (remote && remote->tls) {
		rc = kc_tls_copy(&r->tls, r->tls_strs, remote->tls);
		r->rc.tls = &r->tls;
	}
	if (rc || !(r->bootstrap = strdup(bootstrap)) ||
	    ks__admin_wrap(r, ap) != 0) {
		ks__ra_free(r);
		return KS_ENOMEM;
	}
	return 0;
}

void ks__ra_free(struct ks__radmin *r)
{
	int i;

	if (!r)
		return;
	kc_cluster_free(r->cl);
	for (i = 0; i < KC_TLS_STRS; i++)
		free(r->tls_strs[i]);
	free(r->bootstrap);
	free(r);
}

/* The cluster, made now if it is not yet (see the top). */
static int ra_cluster(struct ks__radmin *r, struct kc_cluster **clp)
{
	int rc;

	if (!r->cl && (rc = kc_cluster_new(r->bootstrap, &r->rc,
	    "kstream-admin", &r->cl)) != 0)
		return rc;
	*clp = r->cl;
	return 0;
}

static int ra_any(struct ks__radmin *r, struct kc_broker **bp)
{
	struct kc_cluster *cl;
	int rc;

	if ((rc = ra_cluster(r, &cl)) != 0)
		return rc;
	return kc_any_broker(cl, bp);
}

/* The connected broker with node id `id`, which metadata named. */
static int ra_node(struct ks__radmin *r, int32_t id, struct kc_broker **bp)
{
	struct kc_broker *b;

	*bp = NULL;
	if (id < 0 || !(b = kc_broker_get(r->cl, id)))
		return kc_err(KP_LEADER_NOT_AVAILABLE);
	*bp = b;
	return kc_broker_connect(b);
}

/*
 * Metadata for topics[0..n) (n < 0: every topic; no auto-creation), its
 * brokers learned so that their ids can be dialed. *m lives in keep.
 */
static int ra_metadata(struct ks__radmin *r, const char *const *topics,
    int32_t n, kp_metadata_resp_t *m, kc_resp_t *keep)
{
	kp_metadata_req_t q;
	struct kc_broker *b;
	int32_t i;
	int rc;

	memset(keep, 0, sizeof *keep);
	if ((rc = ra_any(r, &b)) != 0)
		return rc;
	memset(&q, 0, sizeof q);
	q.n_topics = n;
	q.allow_auto_topic_creation = false;
	if (n > 0 && !(q.topics = calloc((size_t)n, sizeof *q.topics)))
		return KS_ENOMEM;
	for (i = 0; i < n; i++)
		q.topics[i] = kp_cstr(topics[i]);
	rc = KC_RPC(b, KP_METADATA, &q, m, keep);
	free(q.topics);
	for (i = 0; rc == 0 && i < m->n_brokers; i++) {
		const kp_metadata_broker_t *br = &m->brokers[i];
		if (br->port > 0 && br->port < 65536 && br->host.len > 0 &&
		    !kc_broker_learn(r->cl, br->node_id, br->host.s, br->port))
			rc = KS_ENOMEM;
	}
	return rc;
}

/*
 * Where topic changes go: the controller Metadata names, or any broker
 * (a cluster that forwards them, or one that names none).
 */
static int ra_controller(struct ks__radmin *r, struct kc_broker **bp)
{
	kp_metadata_resp_t m;
	kc_resp_t keep;
	int rc;

	rc = ra_metadata(r, NULL, 0, &m, &keep);
	if (rc == 0 && m.controller_id >= 0 &&
	    ra_node(r, m.controller_id, bp) == 0) {
		kc_resp_free(&keep);
		return 0;
	}
	kc_resp_free(&keep);
	return rc ? rc : ra_any(r, bp);
}

/* The metadata of one topic: its error mapped (KS_ETOPIC...). */
static int ra_topic_md(struct ks__radmin *r, const char *name,
    kp_metadata_resp_t *m, kc_resp_t *keep, const kp_metadata_topic_t **tp)
{
	int rc;
	int32_t i;

	if ((rc = ra_metadata(r, &name, 1, m, keep)) != 0)
		return rc;
	for (i = 0; i < m->n_topics; i++)
		if (m->topics[i].name.s && strcmp(m->topics[i].name.s,
		    name) == 0)
			break;
	if (i == m->n_topics)
		return kc_err(KP_UNKNOWN_TOPIC_OR_PARTITION);
	/* a topic being created has no leader yet: still a topic */
	if (m->topics[i].error_code &&
	    m->topics[i].error_code != KP_LEADER_NOT_AVAILABLE) {
		rc = ra_err(m->topics[i].error_code);
		/* a name no topic can have: no such topic, as on a store */
		return rc == KS_ENAME ? KS_ETOPIC : rc;
	}
	*tp = &m->topics[i];
	return 0;
}

static int32_t part_leader(const kp_metadata_topic_t *t, int32_t p)
{
	int32_t i;

	for (i = 0; i < t->n_partitions; i++)
		if (t->partitions[i].partition == p)
			return t->partitions[i].leader_id;
	return -1;
}

/* ---- topics -------------------------------------------------------------- */

int ks__ra_list_topics(struct ks__radmin *r, int flags,
    ks_topic_info_t **out, size_t *count)
{
	struct ks__atopic *t = NULL;
	kp_metadata_resp_t m;
	kc_resp_t keep;
	int32_t i;
	size_t k = 0;
	int rc;

	if ((rc = ra_metadata(r, NULL, -1, &m, &keep)) != 0)
		goto out;
	if (!(t = calloc(m.n_topics > 0 ? (size_t)m.n_topics : 1,
	    sizeof *t))) {
		rc = KS_ENOMEM;
		goto out;
	}
	for (i = 0; i < m.n_topics; i++) {
		const kp_metadata_topic_t *mt = &m.topics[i];
		int internal = mt->is_internal ||
		    (mt->name.s && is_internal(mt->name.s));

		if (!mt->name.s || (internal && !(flags & KS_ADMIN_INTERNAL)))
			continue;
		if (mt->error_code && mt->error_code != KP_LEADER_NOT_AVAILABLE)
			continue; /* not a topic (any more) */
		t[k].name = (char *)mt->name.s; /* borrowed from keep */
		t[k].internal = internal;
		t[k].partition_count = mt->n_partitions;
		k++;
	}
	if ((rc = ks__atopics_pack(t, k, out)) == 0)
		*count = k;
out:
	free(t);
	kc_resp_free(&keep);
	return rc;
}

/*
 * ListOffsets of parts[0..n) of topic at `when` (-2 earliest, -1 latest,
 * else a time), all led by broker b: into offs[i], errs[i] per partition.
 * A timestamp past every record gives -1 (the caller resolves it).
 */
static int ra_list_offsets(struct kc_broker *b, const char *topic,
    const int32_t *parts, size_t n, int64_t when, int64_t *offs, int *errs)
{
	kp_list_offsets_req_t q;
	kp_list_offsets_req_topic_t qt;
	kp_list_offsets_resp_t m;
	kc_resp_t keep;
	size_t i;
	int32_t j, k;
	int rc;

	if (when >= 0 && kc_version(b, KP_LIST_OFFSETS) < 1)
		return kc_err(KP_UNSUPPORTED_VERSION); /* v0 has no times */
	memset(&q, 0, sizeof q);
	memset(&qt, 0, sizeof qt);
	memset(&keep, 0, sizeof keep);
	q.replica_id = -1;
	q.n_topics = 1;
	q.topics = &qt;
	qt.name = kp_cstr(topic);
	if (!(qt.partitions = calloc(n ? n : 1, sizeof *qt.partitions)))
		return KS_ENOMEM;
	qt.n_partitions = (int32_t)n;
	for (i = 0; i < n; i++) {
		qt.partitions[i].partition = parts[i];
		qt.partitions[i].timestamp = when;
		qt.partitions[i].max_num_offsets = 1;
		offs[i] = -1;
		errs[i] = kc_err(KP_UNKNOWN_TOPIC_OR_PARTITION);
	}
	rc = KC_RPC(b, KP_LIST_OFFSETS, &q, &m, &keep);
	free(qt.partitions);
	for (j = 0; rc == 0 && j < m.n_topics; j++) {
		const kp_list_offsets_resp_topic_t *t = &m.topics[j];
		if (!t->name.s || strcmp(t->name.s, topic) != 0)
			continue;
		for (k = 0; k < t->n_partitions; k++)
			for (i = 0; i < n; i++)
				if (parts[i] == t->partitions[k].partition) {
					errs[i] = ra_err(
					    t->partitions[k].error_code);
					offs[i] = t->partitions[k].offset;
				}
	}
	kc_resp_free(&keep);
	return rc;
}

/* Every partition's start and end offsets, one ListOffsets pair per
 * leader. A partition whose leader cannot be reached gets its error. */
static void ra_fill_offsets(struct ks__radmin *r, const char *topic,
    ks_partition_info_t *pi, int32_t n)
{
	int32_t *parts = calloc(n > 0 ? (size_t)n : 1, sizeof *parts);
	int64_t *offs = calloc(n > 0 ? (size_t)n : 1, sizeof *offs);
	int *errs = calloc(n > 0 ? (size_t)n : 1, sizeof *errs);
	int32_t i, j, k;
	int pass, rc;

	for (i = 0; i < n; i++)
		pi[i].error = pi[i].leader < 0 ?
		    kc_err(KP_LEADER_NOT_AVAILABLE) : 1; /* 1: not done */
	if (!parts || !offs || !errs) {
		for (i = 0; i < n; i++)
			pi[i].error = KS_ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct kc_broker *b = NULL;

		if (pi[i].error != 1)
			continue;
		/* the not-yet-done partitions of this leader */
		for (j = i, k = 0; j < n; j++)
			if (pi[j].error == 1 && pi[j].leader == pi[i].leader)
				parts[k++] = j;
		rc = ra_node(r, pi[i].leader, &b);
		for (pass = 0; rc == 0 && pass < 2; pass++) {
			rc = ra_list_offsets(b, topic, parts, (size_t)k,
			    pass ? -1 : -2, offs, errs);
			for (j = 0; rc == 0 && j < k; j++) {
				ks_partition_info_t *p = &pi[parts[j]];
				if (pass)
					p->end_offset = offs[j];
				else
					p->start_offset = offs[j];
				if (errs[j] && p->error == 1)
					p->error = errs[j];
			}
		}
		for (j = 0; j < k; j++) {
			ks_partition_info_t *p = &pi[parts[j]];
			if (rc)
				p->error = rc;
			else if (p->error == 1)
				p->error = 0;
		}
	}
out:
	for (i = 0; i < n; i++)
		if (pi[i].error)
			pi[i].start_offset = pi[i].end_offset = -1;
	free(parts);
	free(offs);
	free(errs);
}

/* DescribeConfigs of one topic into t (nothing if b does not have it). */
static int ra_describe_configs(struct kc_broker *b, const char *name,
    struct ks__atopic *t)
{
	kp_describe_configs_req_t q;
	kp_describe_configs_resource_t res;
	kp_describe_configs_resp_t m;
	kc_resp_t keep;
	int16_t ver = kc_version(b, KP_DESCRIBE_CONFIGS);
	int32_t i, j;
	int rc;

	if (ver < 0)
		return 0; /* an old broker: a description without configs */
	memset(&q, 0, sizeof q);
	memset(&res, 0, sizeof res);
	memset(&keep, 0, sizeof keep);
	res.resource_type = KP_RESOURCE_TOPIC;
	res.resource_name = kp_cstr(name);
	res.n_configuration_keys = -1; /* all */
	q.n_resources = 1;
	q.resources = &res;
	if ((rc = KC_RPC(b, KP_DESCRIBE_CONFIGS, &q, &m, &keep)) != 0)
		goto out;
	for (i = 0; i < m.n_results; i++) {
		const kp_describe_configs_result_t *rs = &m.results[i];
		size_t n = rs->n_configs > 0 ? (size_t)rs->n_configs : 0;

		if (rs->error_code) {
			ra_say(&b->cl->rc, "describe configs of", name, rs->error_code,
			    rs->error_message);
			rc = ra_err(rs->error_code);
			goto out;
		}
		if (!(t->cnames = calloc(n ? n : 1, sizeof *t->cnames)) ||
		    !(t->cvalues = calloc(n ? n : 1, sizeof *t->cvalues)) ||
		    !(t->cdefault = calloc(n ? n : 1, sizeof *t->cdefault))) {
			rc = KS_ENOMEM;
			goto out;
		}
		for (j = 0; j < (int32_t)n; j++) {
			const kp_describe_configs_entry_t *e = &rs->configs[j];
			t->config_count++;
			t->cnames[j] = strdup(e->name.s ? e->name.s : "");
			t->cvalues[j] = strdup(e->value.s ? e->value.s : "");
			if (!t->cnames[j] || !t->cvalues[j]) {
				rc = KS_ENOMEM;
				goto out;
			}
			/* v1+: anything not set on the topic itself is a
			 * default, the broker's or Kafka's */
			t->cdefault[j] = ver >= 1 ?
			    e->config_source != KP_CONFIG_SOURCE_TOPIC &&
			    e->config_source > KP_CONFIG_SOURCE_UNKNOWN :
			    e->is_default;
		}
		break; /* one resource asked, one answered */
	}
out:
	kc_resp_free(&keep);
	return rc;
}

int ks__ra_describe_topic(struct ks__radmin *r, const char *name,
    ks_topic_info_t **out)
{
	const kp_metadata_topic_t *mt = NULL;
	kp_metadata_resp_t m;
	struct ks__atopic t;
	struct kc_broker *b;
	kc_resp_t keep;
	int32_t i, n;
	int rc;

	memset(&t, 0, sizeof t);
	if ((rc = ra_topic_md(r, name, &m, &keep, &mt)) != 0)
		goto out;
	n = mt->n_partitions > 0 ? mt->n_partitions : 0;
	t.internal = mt->is_internal || is_internal(name);
	t.partition_count = n;
	if (!(t.name = strdup(name)) ||
	    !(t.parts = calloc(n ? (size_t)n : 1, sizeof *t.parts))) {
		rc = KS_ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		t.parts[i].partition = i;
		t.parts[i].leader = part_leader(mt, i);
	}
	ra_fill_offsets(r, name, t.parts, n);
	if ((rc = ra_controller(r, &b)) == 0 &&
	    (rc = ra_describe_configs(b, name, &t)) == 0)
		rc = ks__atopics_pack(&t, 1, out);
out:
	kc_resp_free(&keep);
	ks__atopic_clear(&t);
	return rc;
}

/*
 * The start of a change to a topic: *np, the name/value pairs in configs
 * (NULL-terminated; KS_EINVAL for a name without a value), and *bp, the
 * controller that takes the change.
 */
static int ra_change_start(struct ks__radmin *r, const char *const *configs,
    size_t *np, struct kc_broker **bp)
{
	size_t n;

	for (n = 0; configs && configs[2 * n]; n++)
		if (!configs[2 * n + 1])
			return KS_EINVAL;
	*np = n;
	return ra_controller(r, bp);
}

/*
 * Sets rc to the outcome of a change to one named thing: the error of
 * the result among arr[0..n) whose member `key` is name (a broker's
 * explanation said as ra_say does), KS_ECORRUPT when none is for name.
 */
#define RA_NAMED_RESULT(rc, r, what, name, arr, n, key)			\
	do {								\
		int32_t i_;						\
									\
		(rc) = KS_ECORRUPT;					\
		for (i_ = 0; i_ < (n); i_++) {				\
			if (!(arr)[i_].key.s ||				\
			    strcmp((arr)[i_].key.s, (name)) != 0)	\
				continue;				\
			if ((arr)[i_].error_code)			\
				ra_say(&(r)->rc, (what), (name),	\
				    (arr)[i_].error_code,		\
				    (arr)[i_].error_message);		\
			(rc) = ra_err((arr)[i_].error_code);		\
			break;						\
		}							\
	} while (0)

int ks__ra_create_topic(struct ks__radmin *r, const char *name,
    int32_t partitions, const char *const *configs)
{
	kp_create_topics_req_t q;
	kp_creatable_topic_t ct;
	kp_create_topics_resp_t m;
	struct kc_broker *b;
	kc_resp_t keep;
	size_t i, n;
	int rc;

	if ((rc = ra_change_start(r, configs, &n, &b)) != 0)
		return rc;
	/* The broker's default partition count needs v4; before, say so. */
	if (partitions <= 0 && kc_version(b, KP_CREATE_TOPICS) < 4) {
		ks__logf(ks_log_stderr, NULL, KS_LOG_WARNING, "create topic "
		    "%s: this broker needs a partition count", name);
		return KS_EINVAL;
	}
	memset(&q, 0, sizeof q);
	memset(&ct, 0, sizeof ct);
	memset(&keep, 0, sizeof keep);
	ct.name = kp_cstr(name);
	ct.num_partitions = partitions > 0 ? partitions : -1;
	ct.replication_factor = -1;
	if (kc_version(b, KP_CREATE_TOPICS) < 4)
		ct.replication_factor = 1;
	if (n && !(ct.configs = calloc(n, sizeof *ct.configs)))
		return KS_ENOMEM;
	ct.n_configs = (int32_t)n;
	for (i = 0; i < n; i++) {
		ct.configs[i].name = kp_cstr(configs[2 * i]);
		ct.configs[i].value = kp_cstr(configs[2 * i + 1]);
	}
	q.n_topics = 1;
	q.topics = &ct;
	q.timeout_ms = r->rc.request_timeout_ms;
	rc = KC_RPC(b, KP_CREATE_TOPICS, &q, &m, &keep);
	free(ct.configs);
	if (rc == 0)
		RA_NAMED_RESULT(rc, r, "create topic", name, m.topics,
		    m.n_topics, name);
	kc_resp_free(&keep);
	return rc;
}

int ks__ra_delete_topic(struct ks__radmin *r, const char *name)
{
	kp_delete_topics_req_t q;
	kp_delete_topics_resp_t m;
	struct kc_broker *b;
	kp_str_t s = kp_cstr(name);
	kc_resp_t keep;
	int32_t i;
	int rc;

	if (is_internal(name))
		return KS_EINVAL;
	if ((rc = ra_controller(r, &b)) != 0)
		return rc;
	memset(&q, 0, sizeof q);
	memset(&keep, 0, sizeof keep);
	q.n_topics = 1;
	q.topics = &s;
	q.timeout_ms = r->rc.request_timeout_ms;
	rc = KC_RPC(b, KP_DELETE_TOPICS, &q, &m, &keep);
	for (i = 0; rc == 0 && i < m.n_topics; i++)
		if (m.topics[i].name.s && strcmp(m.topics[i].name.s, name) == 0)
			break;
	if (rc == 0)
		rc = i < m.n_topics ? ra_err(m.topics[i].error_code) :
		    KS_ECORRUPT;
	kc_resp_free(&keep);
	return rc;
}

int ks__ra_alter_topic(struct ks__radmin *r, const char *name,
    const char *const *configs)
{
	kp_alter_configs_req_t q;
	kp_alter_configs_resource_t res;
	kp_alter_configs_resp_t m;
	struct kc_broker *b;
	kc_resp_t keep;
	size_t i, n;
	int rc;

	if ((rc = ra_change_start(r, configs, &n, &b)) != 0)
		return rc;
	/*
	 * IncrementalAlterConfigs (Kafka 2.3+) changes only the properties
	 * named, all or nothing; the older AlterConfigs would replace the
	 * topic's whole set, so it is not used.
	 */
	if (kc_version(b, KP_INCREMENTAL_ALTER_CONFIGS) < 0)
		return kc_err(KP_UNSUPPORTED_VERSION);
	memset(&q, 0, sizeof q);
	memset(&res, 0, sizeof res);
	memset(&keep, 0, sizeof keep);
	res.resource_type = KP_RESOURCE_TOPIC;
	res.resource_name = kp_cstr(name);
	if (n && !(res.configs = calloc(n, sizeof *res.configs)))
		return KS_ENOMEM;
	res.n_configs = (int32_t)n;
	for (i = 0; i < n; i++) {
		const char *v = configs[2 * i + 1];
		res.configs[i].name = kp_cstr(configs[2 * i]);
		/* "": back to the default */
		res.configs[i].op = *v ? KP_CONFIG_OP_SET : KP_CONFIG_OP_DELETE;
		res.configs[i].value = *v ? kp_cstr(v) : kp_cstr(NULL);
	}
	q.n_resources = 1;
	q.resources = &res;
	rc = KC_RPC(b, KP_INCREMENTAL_ALTER_CONFIGS, &q, &m, &keep);
	free(res.configs);
	if (rc == 0)
		RA_NAMED_RESULT(rc, r, "alter topic", name, m.results,
		    m.n_results, resource_name);
	kc_resp_free(&keep);
	return rc;
}

int ks__ra_add_partitions(struct ks__radmin *r, const char *name,
    int32_t total)
{
	kp_create_partitions_req_t q;
	kp_create_partitions_topic_t t;
	kp_create_partitions_resp_t m;
	struct kc_broker *b;
	kc_resp_t keep;
	int rc;

	if (total <= 0)
		return KS_EINVAL;
	if ((rc = ra_controller(r, &b)) != 0)
		return rc;
	memset(&q, 0, sizeof q);
	memset(&t, 0, sizeof t);
	memset(&keep, 0, sizeof keep);
	t.name = kp_cstr(name);
	t.count = total;
	t.n_assignments = -1; /* the broker places them */
	q.n_topics = 1;
	q.topics = &t;
	q.timeout_ms = r->rc.request_timeout_ms;
	rc = KC_RPC(b, KP_CREATE_PARTITIONS, &q, &m, &keep);
	if (rc == 0)
		RA_NAMED_RESULT(rc, r, "add partitions to", name, m.results,
		    m.n_results, name);
	kc_resp_free(&keep);
	return rc;
}

/* One partition's offset at `when` (as ks_admin_list_offset). */
static int ra_offset(struct ks__radmin *r, const char *topic,
    int32_t partition, int64_t when, int64_t *offset)
{
	const kp_metadata_topic_t *mt;
	kp_metadata_resp_t m;
	struct kc_broker *b = NULL;
	kc_resp_t keep;
	int err = 0, rc;

	if (when < 0 && when != KS_OFFSET_BEGINNING && when != KS_OFFSET_END)
		return KS_EINVAL;
	if ((rc = ra_topic_md(r, topic, &m, &keep, &mt)) == 0) {
		if (partition < 0 || partition >= mt->n_partitions)
			rc = KS_EPARTITION;
		else
			rc = ra_node(r, part_leader(mt, partition), &b);
	}
	kc_resp_free(&keep);
	if (rc)
		return rc;
	/* KS_OFFSET_BEGINNING and _END are Kafka's -2 and -1 */
	rc = ra_list_offsets(b, topic, &partition, 1, when, offset, &err);
	if (rc == 0 && err == 0 && when >= 0 && *offset < 0)
		/* no record that late: the log end */
		rc = ra_list_offsets(b, topic, &partition, 1, -1, offset, &err);
	return rc ? rc : err;
}

int ks__ra_list_offset(struct ks__radmin *r, const char *topic,
    int32_t partition, int64_t when, int64_t *offset)
{
	return ra_offset(r, topic, partition, when, offset);
}

/* ---- groups -------------------------------------------------------------- */

/* The group's coordinator, found with FindCoordinator and connected. */
static int ra_coordinator(struct ks__radmin *r, const char *group,
    struct kc_broker **bp)
{
	kp_find_coordinator_req_t q;
	kp_find_coordinator_resp_t m;
	struct kc_broker *b;
	kc_resp_t keep;
	int64_t deadline = ks__monotonic_ns() +
	    (int64_t)r->rc.request_timeout_ms * 1000000;
	int rc;

	memset(&q, 0, sizeof q);
	q.key = kp_cstr(group);
	q.key_type = 0; /* a group */
	for (;;) {
		if ((rc = ra_any(r, &b)) != 0)
			return rc;
		memset(&keep, 0, sizeof keep);
		if ((rc = KC_RPC(b, KP_FIND_COORDINATOR, &q, &m, &keep)) != 0) {
			kc_resp_free(&keep);
			return rc;
		}
		if (!m.error_code) {
			if (m.host.len <= 0 || m.port <= 0 || m.port >= 65536)
				rc = KS_ECORRUPT;
			else if (!(*bp = kc_broker_learn(r->cl, m.node_id,
			    m.host.s, m.port)))
				rc = KS_ENOMEM;
			kc_resp_free(&keep);
			return rc ? rc : kc_broker_connect(*bp);
		}
		kc_resp_free(&keep);
		rc = ra_err(m.error_code);
		/* the coordinator is loading or moving: a while, then again */
		if (!kc_retriable(m.error_code) ||
		    ks__monotonic_ns() > deadline)
			return rc;
		usleep((useconds_t)(r->rc.retry_backoff_ms > 0 ?
		    r->rc.retry_backoff_ms : 100) * 1000);
	}
}

static int state_of(kp_str_t s)
{
	static const struct { const char *name; int state; } map[] = {
		{ "Empty", KS_GROUP_EMPTY },
		{ "PreparingRebalance", KS_GROUP_PREPARING_REBALANCE },
		{ "CompletingRebalance", KS_GROUP_COMPLETING_REBALANCE },
		{ "AwaitingSync", KS_GROUP_COMPLETING_REBALANCE }, /* old */
		{ "Stable", KS_GROUP_STABLE },
		{ "Dead", KS_GROUP_DEAD },
	};
	size_t i;

	for (i = 0; s.s && i < sizeof map / sizeof map[0]; i++)
		if (strcmp(s.s, map[i].name) == 0)
			return map[i].state;
	return KS_GROUP_DEAD;
}

/* DescribeGroups of groups[0..n) on b (their coordinator). */
static int ra_describe(struct kc_broker *b, const char *const *groups,
    int32_t n, kp_describe_groups_resp_t *m, kc_resp_t *keep)
{
	kp_describe_groups_req_t q;
	int32_t i;
	int rc;

	memset(keep, 0, sizeof *keep);
	memset(&q, 0, sizeof q);
	if (!(q.groups = calloc(n > 0 ? (size_t)n : 1, sizeof *q.groups)))
		return KS_ENOMEM;
	q.n_groups = n;
	for (i = 0; i < n; i++)
		q.groups[i] = kp_cstr(groups[i]);
	rc = KC_RPC(b, KP_DESCRIBE_GROUPS, &q, m, keep);
	free(q.groups);
	return rc;
}

/* ListGroups of one broker, appended to *l (strings kept in keep), each
 * group's state from a DescribeGroups of the same broker. */
static int ra_list_broker(struct kc_broker *b, ks_group_listing_t **l,
    size_t *n, size_t *cap, kc_resp_t *keep, kc_resp_t *dkeep)
{
	kp_list_groups_req_t q;
	kp_list_groups_resp_t m;
	kp_describe_groups_resp_t d;
	const char **ids = NULL;
	size_t first = *n;
	int32_t i, j;
	int rc;

	memset(&q, 0, sizeof q);
	memset(keep, 0, sizeof *keep);
	memset(dkeep, 0, sizeof *dkeep);
	if ((rc = KC_RPC(b, KP_LIST_GROUPS, &q, &m, keep)) != 0)
		return rc;
	if (m.error_code)
		return ra_err(m.error_code);
	if (m.n_groups <= 0)
		return 0;
	if (*n + (size_t)m.n_groups > *cap) {
		size_t nc = *n + (size_t)m.n_groups;
		ks_group_listing_t *nl = realloc(*l, nc * sizeof *nl);
		if (!nl)
			return KS_ENOMEM;
		*l = nl;
		*cap = nc;
	}
	if (!(ids = calloc((size_t)m.n_groups, sizeof *ids)))
		return KS_ENOMEM;
	for (i = 0; i < m.n_groups; i++) {
		ks_group_listing_t *g = &(*l)[(*n)++];
		g->group_id = m.groups[i].group_id.s ? m.groups[i].group_id.s :
		    "";
		g->protocol_type = m.groups[i].protocol_type.s ?
		    m.groups[i].protocol_type.s : "";
		g->state = KS_GROUP_EMPTY;
		ids[i] = g->group_id;
	}
	/* ListGroups before v4 tells no state: the coordinator does */
	if ((rc = ra_describe(b, ids, m.n_groups, &d, dkeep)) == 0)
		for (j = 0; j < d.n_groups; j++)
			for (i = 0; i < m.n_groups; i++)
				if (d.groups[j].group_id.s &&
				    strcmp(d.groups[j].group_id.s, ids[i]) == 0)
					(*l)[first + (size_t)i].state =
					    state_of(d.groups[j].state);
	free(ids);
	return rc;
}

static int listing_cmp(const void *a, const void *b)
{
	return strcmp(((const ks_group_listing_t *)a)->group_id,
	    ((const ks_group_listing_t *)b)->group_id);
}

int ks__ra_list_groups(struct ks__radmin *r, ks_group_listing_t **out,
    size_t *count)
{
	kp_metadata_resp_t m;
	kc_resp_t mkeep, *keeps = NULL;
	ks_group_listing_t *l = NULL;
	size_t n = 0, cap = 0, i, k, nb;
	int rc;

	/* every broker coordinates some groups: ask each */
	if ((rc = ra_metadata(r, NULL, 0, &m, &mkeep)) != 0)
		goto out;
	nb = m.n_brokers > 0 ? (size_t)m.n_brokers : 0;
	if (!(keeps = calloc(2 * (nb ? nb : 1), sizeof *keeps))) {
		rc = KS_ENOMEM;
		goto out;
	}
	for (i = 0; i < nb && rc == 0; i++) {
		struct kc_broker *b = NULL;
		if ((rc = ra_node(r, m.brokers[i].node_id, &b)) == 0)
			rc = ra_list_broker(b, &l, &n, &cap, &keeps[2 * i],
			    &keeps[2 * i + 1]);
	}
	if (rc)
		goto out;
	/* a group moving between coordinators may be listed twice */
	if (n)
		qsort(l, n, sizeof *l, listing_cmp);
	for (i = k = 0; i < n; i++)
		if (k == 0 || strcmp(l[k - 1].group_id, l[i].group_id) != 0)
			l[k++] = l[i];
	if ((rc = ks__alistings_pack(l, k, out)) == 0)
		*count = k;
out:
	for (i = 0; keeps && i < 2 * nb; i++)
		kc_resp_free(&keeps[i]);
	free(keeps);
	free(l);
	kc_resp_free(&mkeep);
	return rc;
}

int ks__ra_describe_group(struct ks__radmin *r, const char *group,
    ks_group_info_t **out)
{
	kp_describe_groups_resp_t m;
	ks_group_member_info_t *mem = NULL;
	ks_group_info_t gi;
	struct kc_broker *b;
	kc_resp_t keep;
	int32_t i, j;
	int rc;

	memset(&keep, 0, sizeof keep);
	if ((rc = ra_coordinator(r, group, &b)) != 0 ||
	    (rc = ra_describe(b, &group, 1, &m, &keep)) != 0)
		goto out;
	for (i = 0; i < m.n_groups; i++)
		if (m.groups[i].group_id.s &&
		    strcmp(m.groups[i].group_id.s, group) == 0)
			break;
	if (i == m.n_groups) {
		rc = KS_ECORRUPT;
		goto out;
	}
	memset(&gi, 0, sizeof gi);
	gi.group_id = group;
	gi.generation = -1; /* DescribeGroups tells neither generation */
	gi.leader_id = "";  /* nor leader */
	if (m.groups[i].error_code == KP_GROUP_ID_NOT_FOUND) {
		gi.state = KS_GROUP_DEAD; /* unknown: Dead, as local */
		gi.protocol_type = gi.protocol_name = "";
		rc = ks__agroup_pack(&gi, out);
		goto out;
	}
	if (m.groups[i].error_code) {
		rc = ra_err(m.groups[i].error_code);
		goto out;
	}
	gi.state = state_of(m.groups[i].state);
	gi.protocol_type = m.groups[i].protocol_type.s ?
	    m.groups[i].protocol_type.s : "";
	gi.protocol_name = m.groups[i].protocol_data.s ?
	    m.groups[i].protocol_data.s : "";
	if (m.groups[i].n_members > 0) {
		if (!(mem = calloc((size_t)m.groups[i].n_members,
		    sizeof *mem))) {
			rc = KS_ENOMEM;
			goto out;
		}
		for (j = 0; j < m.groups[i].n_members; j++) {
			const kp_described_member_t *s = &m.groups[i].members[j];
			mem[j].member_id = s->member_id.s ? s->member_id.s : "";
			mem[j].instance_id = s->group_instance_id.s;
			mem[j].client_id = s->client_id.s ? s->client_id.s : "";
			mem[j].client_host = s->client_host.s ?
			    s->client_host.s : "";
			mem[j].metadata = s->metadata.p;
			mem[j].metadata_len = s->metadata.len > 0 ?
			    (size_t)s->metadata.len : 0;
			mem[j].assignment = s->assignment.p;
			mem[j].assignment_len = s->assignment.len > 0 ?
			    (size_t)s->assignment.len : 0;
		}
		gi.members = mem;
		gi.member_count = (size_t)m.groups[i].n_members;
	}
	rc = ks__agroup_pack(&gi, out);
out:
	free(mem);
	kc_resp_free(&keep);
	return rc;
}

int ks__ra_group_offsets(struct ks__radmin *r, const char *group,
    ks_committed_t **out, size_t *count)
{
	kp_offset_fetch_req_t q;
	kp_offset_fetch_resp_t m;
	ks_committed_t *c = NULL;
	struct kc_broker *b;
	kc_resp_t keep;
	size_t n = 0, cap = 0;
	int32_t i, j;
	int rc;

	memset(&keep, 0, sizeof keep);
	if ((rc = ra_coordinator(r, group, &b)) != 0)
		goto out;
	/* every committed partition: a null topic list, from v2 */
	if (kc_version(b, KP_OFFSET_FETCH) < 2) {
		rc = kc_err(KP_UNSUPPORTED_VERSION);
		goto out;
	}
	memset(&q, 0, sizeof q);
	q.group_id = kp_cstr(group);
	q.n_topics = -1;
	if ((rc = KC_RPC(b, KP_OFFSET_FETCH, &q, &m, &keep)) != 0)
		goto out;
	if (m.error_code) {
		rc = ra_err(m.error_code);
		goto out;
	}
	for (i = 0; i < m.n_topics; i++)
		cap += m.topics[i].n_partitions > 0 ?
		    (size_t)m.topics[i].n_partitions : 0;
	if (!(c = calloc(cap ? cap : 1, sizeof *c))) {
		rc = KS_ENOMEM;
		goto out;
	}
	for (i = 0; i < m.n_topics; i++) {
		const kp_offset_fetch_resp_topic_t *t = &m.topics[i];
		for (j = 0; t->name.s && j < t->n_partitions; j++) {
			const kp_offset_fetch_resp_part_t *p =
			    &t->partitions[j];
			if (p->error_code || p->offset < 0)
				continue; /* nothing committed there */
			c[n].topic = t->name.s;
			c[n].partition = p->partition;
			c[n].offset = p->offset;
			c[n].leader_epoch = p->leader_epoch;
			c[n].metadata = p->metadata.s ? p->metadata.s : "";
			c[n].commit_timestamp = -1; /* not in OffsetFetch */
			n++;
		}
	}
	if ((rc = ks__acommitted_pack(c, n, out)) == 0)
		*count = n;
out:
	free(c);
	kc_resp_free(&keep);
	return rc;
}

int ks__ra_commit_offsets(struct ks__radmin *r, const char *group,
    const ks_topic_partition_t *offsets, size_t n)
{
	kp_offset_commit_req_t q;
	kp_offset_commit_resp_t m;
	kp_offset_commit_req_topic_t *qt = NULL;
	int64_t *offs = NULL;
	struct kc_broker *b;
	kc_resp_t keep;
	size_t i, j, nt = 0;
	int32_t k, l;
	int rc = 0;

	/* admin.c has checked that the group has no members and n > 0 */
	memset(&keep, 0, sizeof keep);
	if (!(offs = calloc(n, sizeof *offs)) ||
	    !(qt = calloc(n, sizeof *qt))) {
		rc = KS_ENOMEM;
		goto out;
	}
	/* each offset resolved (and its partition checked) first */
	for (i = 0; i < n && rc == 0; i++) {
		if (!offsets[i].topic)
			rc = KS_EINVAL;
		else if (offsets[i].offset >= 0)
			/* the partition must exist: ask for its end */
			rc = ra_offset(r, offsets[i].topic,
			    offsets[i].partition, KS_OFFSET_END, &offs[i]);
		else
			rc = ra_offset(r, offsets[i].topic,
			    offsets[i].partition, offsets[i].offset, &offs[i]);
		if (rc == 0 && offsets[i].offset >= 0)
			offs[i] = offsets[i].offset;
	}
	if (rc)
		goto out;
	/* grouped by topic, as OffsetCommit wants them */
	for (i = 0; i < n && rc == 0; i++) {
		kp_offset_commit_req_topic_t *t = NULL;
		kp_offset_commit_req_part_t *p;
		for (j = 0; j < nt; j++)
			if (strcmp(qt[j].name.s, offsets[i].topic) == 0)
				t = &qt[j];
		if (!t) {
			t = &qt[nt++];
			t->name = kp_cstr(offsets[i].topic);
			if (!(t->partitions = calloc(n, sizeof *t->partitions))) {
				rc = KS_ENOMEM;
				break;
			}
		}
		p = &t->partitions[t->n_partitions++];
		p->partition = offsets[i].partition;
		p->offset = offs[i];
		p->leader_epoch = -1;
		p->commit_timestamp = -1;
		p->metadata = kp_cstr("");
	}
	if (rc || (rc = ra_coordinator(r, group, &b)) != 0)
		goto out;
	memset(&q, 0, sizeof q);
	q.group_id = kp_cstr(group);
	q.generation_id = -1; /* from outside the group (a simple commit) */
	q.member_id = kp_cstr("");
	q.group_instance_id = kp_cstr(NULL);
	q.retention_time_ms = -1;
	q.n_topics = (int32_t)nt;
	q.topics = qt;
	if ((rc = KC_RPC(b, KP_OFFSET_COMMIT, &q, &m, &keep)) != 0)
		goto out;
	for (k = 0; k < m.n_topics && rc == 0; k++)
		for (l = 0; l < m.topics[k].n_partitions && rc == 0; l++) {
			int16_t e = m.topics[k].partitions[l].error_code;
			rc = ra_err(e);
			/* a member joined since we looked */
			if (e == KP_UNKNOWN_MEMBER_ID ||
			    e == KP_ILLEGAL_GENERATION ||
			    e == KP_REBALANCE_IN_PROGRESS)
				rc = KS_EBUSY;
		}
out:
	for (j = 0; qt && j < nt; j++)
		free(qt[j].partitions);
	free(qt);
	free(offs);
	kc_resp_free(&keep);
	return rc;
}

int ks__ra_delete_group(struct ks__radmin *r, const char *group)
{
	kp_delete_groups_req_t q;
	kp_delete_groups_resp_t m;
	kp_str_t s = kp_cstr(group);
	struct kc_broker *b;
	kc_resp_t keep;
	int32_t i;
	int rc;

	memset(&keep, 0, sizeof keep);
	if ((rc = ra_coordinator(r, group, &b)) != 0)
		return rc;
	memset(&q, 0, sizeof q);
	q.n_groups = 1;
	q.groups = &s;
	rc = KC_RPC(b, KP_DELETE_GROUPS, &q, &m, &keep);
	for (i = 0; rc == 0 && i < m.n_results; i++)
		if (m.results[i].group_id.s &&
		    strcmp(m.results[i].group_id.s, group) == 0)
			break;
	if (rc == 0)
		rc = i < m.n_results ? ra_err(m.results[i].error_code) :
		    KS_ECORRUPT;
	kc_resp_free(&keep);
	return rc;
}
