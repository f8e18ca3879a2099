/*
 * server_meta.c: the server's cluster and topic APIs: ApiVersions,
 * Metadata, ListOffsets, CreateTopics, DeleteTopics.
 *
 * One broker is the whole cluster: it is every partition's leader, its
 * only replica and its in-sync set, and the controller.
 */
#include "kafka/server_impl.h"
#include "store/store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INTERNAL_TOPIC "__consumer_offsets"

/* Arena allocation of n elements, or NULL; n may be 0. */
int ks__kapi_versions_fill(kp_api_versions_resp_t *m, kp_arena_t *arena,
    int16_t error_code)
{
	memset(m, 0, sizeof *m);
	m->error_code = error_code;
	return kp_api_versions_fill(m, arena);
}

int ks__kh_api_versions(ks__kreq_t *rq)
{
	kp_api_versions_req_t req;
	kp_api_versions_resp_t m;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_api_versions_req(rq->in, &req)) != 0)
		return rc;
	if ((rc = ks__kapi_versions_fill(&m, rq->arena, KP_NONE)) != 0)
		return rc;
	ks__kmetrics_resp(rq->srv->hub, KP_API_VERSIONS, &m);
	return kp_api_versions_resp(&rq->out, &m);
}

/* ---- Metadata ------------------------------------------------------------- */

/* Creates name as Metadata's auto-creation does: the store's topic
 * defaults with num.partitions partitions. */
static int auto_create(ks_kafka_server_t *srv, const char *name)
{
	ks_topic_config_t tc = srv->store->cfg.topic_defaults;
	int rc;

	tc.partitions = srv->cfg.num_partitions;
	rc = ks_topic_create(srv->store, name, &tc);
	if (rc == 0)
		KS__KLOG(srv, KS_LOG_INFO, "kafka server: created topic %s "
		    "(%d partitions) on a Metadata request", name,
		    tc.partitions);
	return rc == KS_EEXIST ? 0 : rc;
}

/* One topic's entry: its partitions, or an error. */
static int describe_topic(ks__kreq_t *rq, const char *name, int create,
    kp_metadata_topic_t *mt)
{
	ks_kafka_server_t *srv = rq->srv;
	int32_t node = srv->cfg.node_id, *one, i, n;
	ks_topic_t *t;
	ks_log_t *log;
	int rc;

	mt->name = kp_cstr(name);
	mt->is_internal = strcmp(name, INTERNAL_TOPIC) == 0;
	rc = ks__ksrv_log(srv, name, 0, &log); /* exists and is not deleted */
	if (rc == KS_ETOPIC && create && (rc = auto_create(srv, name)) == 0)
		rc = ks__ksrv_log(srv, name, 0, &log);
	if (rc == 0 && !(t = ks__ksrv_topic(srv, name, &rc)))
		rc = rc ? rc : KS_ETOPIC;
	if (rc) {
		mt->error_code = rc == KS_ENAME ? KP_INVALID_TOPIC_EXCEPTION :
		    rc == KS_ETOPIC || rc == KS_EPARTITION ?
		    KP_UNKNOWN_TOPIC_OR_PARTITION : ks__ksrv_err(rc);
		return 0;
	}
	n = ks_topic_partitions(t);
	if (!(mt->partitions = ks__kalloc_n(rq->arena, (size_t)n, sizeof *mt->partitions)) ||
	    !(one = kp_arena_alloc(rq->arena, sizeof *one)))
		return KS_ENOMEM;
	*one = node;
	mt->n_partitions = n;
	for (i = 0; i < n; i++) {
		kp_metadata_part_t *p = &mt->partitions[i];
		p->partition = i;
		p->leader_id = node;
		p->n_replicas = p->n_isr = 1;
		p->replicas = p->isr = one;
	}
	return 0;
}

int ks__kh_metadata(ks__kreq_t *rq)
{
	ks_kafka_server_t *srv = rq->srv;
	kp_metadata_req_t req;
	kp_metadata_resp_t m;
	kp_metadata_broker_t broker;
	char host[256], **names = NULL;
	size_t count = 0, i;
	int32_t port;
	int rc, create;

	memset(&req, 0, sizeof req);
	if ((rc = kp_metadata_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	if (srv->cops) {
		char scheme[32];

		ks__ksrv_scheme(rq->kc, scheme, sizeof scheme);
		if ((rc = srv->cops->metadata(srv->cl, scheme,
		    srv->cfg.auto_create_topics, &req, &m, rq->arena)) != 0)
			return rc;
		m.cluster_id = kp_cstr(srv->cluster_id);
		ks__kmetrics_resp(srv->hub, KP_METADATA, &m);
		return kp_metadata_resp(&rq->out, &m);
	}
	ks__ksrv_advertised(rq->kc, host, sizeof host, &port);
	memset(&broker, 0, sizeof broker);
	broker.node_id = srv->cfg.node_id;
	broker.host = kp_cstr(host);
	broker.port = port;
	broker.rack = kp_cstr(NULL);
	m.brokers = &broker;
	m.n_brokers = 1;
	m.cluster_id = kp_cstr(srv->cluster_id);
	m.controller_id = srv->cfg.node_id;

	if (req.n_topics < 0) {
		/* All topics: what the store has now. */
		if ((rc = ks_topic_list(srv->store, &names, &count)) != 0)
			return rc;
		m.topics = ks__kalloc_n(rq->arena, count, sizeof *m.topics);
		for (i = 0; m.topics && i < count && rc == 0; i++) {
			rc = describe_topic(rq, names[i], 0, &m.topics[i]);
			/* the name must outlive names[] */
			m.topics[i].name.s = kp_arena_alloc(rq->arena,
			    strlen(names[i]) + 1);
			if (!m.topics[i].name.s)
				rc = KS_ENOMEM;
			else
				strcpy((char *)m.topics[i].name.s, names[i]);
		}
		m.n_topics = (int32_t)count;
		ks_topic_list_free(names);
		if (!m.topics)
			return KS_ENOMEM;
	} else {
		create = srv->cfg.auto_create_topics &&
		    req.allow_auto_topic_creation;
		m.topics = ks__kalloc_n(rq->arena, (size_t)req.n_topics, sizeof *m.topics);
		if (!m.topics)
			return KS_ENOMEM;
		m.n_topics = req.n_topics;
		for (i = 0; i < (size_t)req.n_topics && rc == 0; i++)
			rc = describe_topic(rq, req.topics[i].s, create,
			    &m.topics[i]);
	}
	if (rc)
		return rc;
	ks__kmetrics_resp(rq->srv->hub, KP_METADATA, &m);
	return kp_metadata_resp(&rq->out, &m);
}

/* ---- ListOffsets ---------------------------------------------------------- */

/* The timestamp of the record at offset (ListOffsets v1+ tells it), or -1
 * if it cannot be read without decompressing. */
/* The timestamp of the record at offset (inside compressed batches too:
 * the log iterator decompresses them), or -1. */
static int64_t timestamp_at(ks_log_t *log, int64_t offset)
{
	ks_log_iter_t *it;
	ks_record_t rec;
	int64_t ts = -1;

	if (ks_log_iter_new(log, offset, &it) != 0)
		return -1;
	if (ks_log_iter_next(it, &rec) == 1 && rec.offset == offset)
		ts = rec.timestamp;
	ks_log_iter_free(it);
	return ts;
}

static void list_offset(ks_kafka_server_t *srv, const char *topic,
    int32_t replica_id, const kp_list_offsets_req_part_t *rp,
    kp_list_offsets_resp_part_t *p)
{
	ks_log_t *log;
	int64_t off = -1, hw = -1, limit;
	int rc;

	p->partition = rp->partition;
	p->timestamp = -1;
	p->offset = -1;
	/* A member answers for the partitions it leads; a consumer's
	 * "latest" is the high watermark. */
	if (srv->cops && (p->error_code = srv->cops->fetch_check(srv->cl,
	    topic, rp->partition, replica_id, -1, -1, &hw, &limit)) != 0)
		return;
	if ((rc = ks__ksrv_log(srv, topic, rp->partition, &log)) != 0) {
		p->error_code = rc == KS_ENAME || rc == KS_ETOPIC ||
		    rc == KS_EPARTITION ? KP_UNKNOWN_TOPIC_OR_PARTITION :
		    ks__ksrv_err(rc);
		return;
	}
	if (rp->timestamp == -1) {
		p->offset = srv->cops ? hw : ks_log_end_offset(log);
	} else if (rp->timestamp == -2) {
		p->offset = ks_log_start_offset(log);
	} else if (rp->timestamp < 0) {
		p->error_code = KP_INVALID_REQUEST;
	} else if ((rc = ks_log_offset_for_time(log, rp->timestamp,
	    &off)) != 0) {
		p->error_code = ks__ksrv_err(rc);
	} else if (off >= 0) {
		p->offset = off;
		p->timestamp = timestamp_at(log, off);
	}
	/* v0 gives a list of offsets; where a time found none, it is []. */
}

int ks__kh_list_offsets(ks__kreq_t *rq)
{
	kp_list_offsets_req_t req;
	kp_list_offsets_resp_t m;
	int32_t i, j;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_list_offsets_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	m.n_topics = req.n_topics;
	if (!(m.topics = ks__kalloc_n(rq->arena, (size_t)req.n_topics, sizeof *m.topics)))
		return KS_ENOMEM;
	for (i = 0; i < req.n_topics; i++) {
		kp_list_offsets_req_topic_t *rt = &req.topics[i];
		kp_list_offsets_resp_topic_t *t = &m.topics[i];
		t->name = rt->name;
		t->n_partitions = rt->n_partitions;
		t->partitions = ks__kalloc_n(rq->arena, (size_t)rt->n_partitions,
		    sizeof *t->partitions);
		if (!t->partitions)
			return KS_ENOMEM;
		for (j = 0; j < rt->n_partitions; j++)
			list_offset(rq->srv, rt->name.s, req.replica_id,
			    &rt->partitions[j],
			    &t->partitions[j]);
	}
	ks__kmetrics_resp(rq->srv->hub, KP_LIST_OFFSETS, &m);
	return kp_list_offsets_resp(&rq->out, &m);
}

/* ---- CreateTopics, DeleteTopics ------------------------------------------- */

/*
 * A cluster member's CreateTopics: the configuration checked here, the
 * topic made by the controller (which places the replicas).
 */
static void cluster_create(ks__kreq_t *rq, const kp_creatable_topic_t *ct,
    int validate_only, kp_create_topics_result_t *r)
{
	ks_kafka_server_t *srv = rq->srv;
	ks_topic_config_t tc = srv->store->cfg.topic_defaults;
	const char *msg = NULL;
	size_t len = 1;
	char *cfg;
	int32_t i;

	for (i = 0; i < ct->n_configs; i++)
		len += (size_t)KS__MAX(ct->configs[i].name.len, 0) +
		    (size_t)KS__MAX(ct->configs[i].value.len, 0) + 2;
	if (!(cfg = kp_arena_alloc(rq->arena, len))) {
		r->error_code = KP_UNKNOWN_SERVER_ERROR;
		return;
	}
	cfg[0] = '\0';
	for (i = 0; i < ct->n_configs; i++) {
		const kp_create_topics_config_t *c = &ct->configs[i];
		if (c->value.len < 0)
			continue;
		/* min.insync.replicas is the cluster's (replication), the
		 * others the store's */
		if (!c->name.s || strchr(c->name.s, '=') ||
		    strchr(c->name.s, '\n') || strchr(c->value.s, '\n') ||
		    (strcmp(c->name.s, "min.insync.replicas") == 0 ?
		    atoi(c->value.s) < 1 || strspn(c->value.s,
		    "0123456789") != strlen(c->value.s) :
		    ks_topic_config_set(&tc, c->name.s, c->value.s) != 0)) {
			r->error_code = KP_INVALID_CONFIG;
			r->error_message = kp_cstr("unknown topic config or "
			    "bad value");
			return;
		}
		strcat(strcat(strcat(strcat(cfg, c->name.s), "="),
		    c->value.s), "\n");
	}
	if (ct->n_assignments > 0) {
		r->error_code = KP_INVALID_REQUEST;
		msg = "manual replica assignment is not supported";
	} else {
		r->error_code = srv->cops->create_topic(srv->cl, ct->name.s,
		    ct->num_partitions == -1 ? srv->cfg.num_partitions :
		    ct->num_partitions, ct->replication_factor, cfg,
		    validate_only, &msg);
	}
	if (msg)
		r->error_message = kp_cstr(msg);
	if (!validate_only && r->error_code == 0)
		KS__KLOG(srv, KS_LOG_INFO, "kafka server: topic %s handed to "
		    "the controller", ct->name.s);
}

static void create_one(ks__kreq_t *rq, const kp_creatable_topic_t *ct,
    int validate_only, kp_create_topics_result_t *r)
{
	ks_kafka_server_t *srv = rq->srv;
	ks_topic_config_t tc = srv->store->cfg.topic_defaults;
	const char *msg = NULL;
	char *buf;
	ks_topic_t *t;
	int32_t i;
	int rc;

	r->name = ct->name;
	r->error_message = kp_cstr(NULL);
	tc.partitions = ct->num_partitions == -1 ? srv->cfg.num_partitions :
	    ct->num_partitions;
	if (srv->cops) {
		cluster_create(rq, ct, validate_only, r);
		return;
	}
	if (ct->n_assignments > 0) {
		/* Manual assignment: every replica list must be this node. */
		if (ct->num_partitions != -1 || ct->replication_factor != -1) {
			r->error_code = KP_INVALID_REQUEST;
			msg = "give either assignments or partitions and "
			    "replication factor";
			goto out;
		}
		for (i = 0; i < ct->n_assignments; i++) {
			const kp_create_topics_assignment_t *a =
			    &ct->assignments[i];
			if (a->partition != i || a->n_broker_ids != 1 ||
			    a->broker_ids[0] != srv->cfg.node_id) {
				r->error_code = KP_INVALID_REPLICA_ASSIGNMENT;
				msg = "this cluster has one broker";
				goto out;
			}
		}
		tc.partitions = ct->n_assignments;
	} else if (tc.partitions < 1) {
		r->error_code = KP_INVALID_PARTITIONS;
		msg = "the partition count must be at least 1";
		goto out;
	} else if (ct->replication_factor != -1 &&
	    ct->replication_factor != 1) {
		r->error_code = KP_INVALID_REPLICATION_FACTOR;
		msg = "this cluster has one broker: replication factor 1";
		goto out;
	}
	for (i = 0; i < ct->n_configs; i++) {
		const kp_create_topics_config_t *c = &ct->configs[i];
		if (c->value.len < 0)
			continue; /* null: the default */
		if (ks_topic_config_set(&tc, c->name.s, c->value.s) != 0) {
			r->error_code = KP_INVALID_CONFIG;
			buf = kp_arena_alloc(rq->arena, 64 +
			    (size_t)c->name.len + (size_t)c->value.len);
			if (buf)
				sprintf(buf, "unknown topic config or bad "
				    "value: %s=%s", c->name.s, c->value.s);
			msg = buf ? buf : "invalid config";
			goto out;
		}
	}
	/* A handle we cached on a topic deleted elsewhere would keep the
	 * name busy. */
	ks__ksrv_topic_forget(srv, ct->name.s);
	if (validate_only) {
		rc = ks_topic_open(srv->store, ct->name.s, &t);
		if (rc == 0) {
			ks_topic_release(t);
			rc = KS_EEXIST;
		} else if (rc == KS_ETOPIC) {
			rc = 0;
		}
	} else {
		rc = ks_topic_create(srv->store, ct->name.s, &tc);
	}
	switch (rc) {
	case 0:
		break;
	case KS_EEXIST:
		r->error_code = KP_TOPIC_ALREADY_EXISTS;
		msg = "topic already exists";
		break;
	case KS_EBUSY:
		r->error_code = KP_TOPIC_ALREADY_EXISTS;
		msg = "a deleted topic of that name is still in use";
		break;
	case KS_ENAME:
		r->error_code = KP_INVALID_TOPIC_EXCEPTION;
		msg = "topic names are 1 to 249 of [a-zA-Z0-9._-]";
		break;
	case KS_ECONFIG:
		r->error_code = KP_INVALID_CONFIG;
		msg = "invalid topic configuration";
		break;
	default:
		r->error_code = ks__ksrv_err(rc);
		msg = ks_strerror(rc);
	}
out:
	if (msg)
		r->error_message = kp_cstr(msg);
	if (!validate_only && r->error_code == 0)
		KS__KLOG(srv, KS_LOG_INFO, "kafka server: created topic %s "
		    "(%d partitions)", ct->name.s, tc.partitions);
}

int ks__kh_create_topics(ks__kreq_t *rq)
{
	kp_create_topics_req_t req;
	kp_create_topics_resp_t m;
	int32_t i;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_create_topics_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	m.n_topics = req.n_topics;
	if (!(m.topics = ks__kalloc_n(rq->arena, (size_t)req.n_topics, sizeof *m.topics)))
		return KS_ENOMEM;
	for (i = 0; i < req.n_topics; i++)
		create_one(rq, &req.topics[i], req.validate_only, &m.topics[i]);
	ks__kmetrics_resp(rq->srv->hub, KP_CREATE_TOPICS, &m);
	return kp_create_topics_resp(&rq->out, &m);
}

int ks__kh_delete_topics(ks__kreq_t *rq)
{
	ks_kafka_server_t *srv = rq->srv;
	kp_delete_topics_req_t req;
	kp_delete_topics_resp_t m;
	int32_t i;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_delete_topics_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	m.n_topics = req.n_topics;
	if (!(m.topics = ks__kalloc_n(rq->arena, (size_t)req.n_topics, sizeof *m.topics)))
		return KS_ENOMEM;
	for (i = 0; i < req.n_topics; i++) {
		const char *name = req.topics[i].s;
		m.topics[i].name = req.topics[i];
		if (srv->cops) {
			m.topics[i].error_code = strcmp(name,
			    INTERNAL_TOPIC) == 0 ? KP_INVALID_REQUEST :
			    srv->cops->delete_topic(srv->cl, name);
			continue;
		}
		/* Our own handle must not keep the files alive. */
		ks__ksrv_topic_forget(srv, name);
		rc = strcmp(name, INTERNAL_TOPIC) == 0 ? KS_EINVAL :
		    ks_topic_delete(srv->store, name);
		m.topics[i].error_code = rc == 0 ? KP_NONE :
		    rc == KS_ETOPIC || rc == KS_ENAME ?
		    KP_UNKNOWN_TOPIC_OR_PARTITION :
		    rc == KS_EINVAL ? KP_INVALID_REQUEST : ks__ksrv_err(rc);
		if (rc == 0)
			KS__KLOG(srv, KS_LOG_INFO, "kafka server: deleted "
			    "topic %s", name);
	}
	ks__kmetrics_resp(rq->srv->hub, KP_DELETE_TOPICS, &m);
	return kp_delete_topics_resp(&rq->out, &m);
}
