/*
 * server_group.c: the consumer-group APIs over the store's coordinator
 * (ks_store_coordinator): FindCoordinator, JoinGroup, SyncGroup,
 * Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups,
 * ListGroups. In-process consumers use the same coordinator, so they and
 * remote members share groups.
 *
 * JoinGroup and SyncGroup are held: the coordinator answers through a
 * callback, in whichever thread completes the rebalance. The callback
 * encodes the response there (its result is valid only during the call)
 * and posts the frame to the loop through the hub, which drops it if the
 * server has gone meanwhile.
 */
#include "kafka/server_impl.h"

#include <stdlib.h>
#include <string.h>

#define KP_GROUP_MAX_SIZE_REACHED 81

/* A held join or sync: what its answer needs. */
struct gop {
	struct ks__khub *hub;        /* a reference */
	struct ks__kconn *kc;        /* a reference */
	kp_req_hdr_t hdr;            /* client_id not kept */
};

static int16_t group_error(int rc)
{
	switch (rc) {
	case 0:
		return KP_NONE;
	case KS_EMEMBER:
		return KP_UNKNOWN_MEMBER_ID;
	case KS_EGENERATION:
		return KP_ILLEGAL_GENERATION;
	case KS_EREBALANCE:
		return KP_REBALANCE_IN_PROGRESS;
	case KS_EPROTOCOL:
		return KP_INCONSISTENT_GROUP_PROTOCOL;
	case KS_ECLOSED:
		return KP_COORDINATOR_NOT_AVAILABLE;
	case KS_EMSGSIZE:
		return KP_OFFSET_METADATA_TOO_LARGE;
	}
	return ks__ksrv_err(rc);
}

static kp_str_t str_or_empty(const char *s)
{
	return kp_cstr(s ? s : "");
}

static struct gop *gop_new(ks__kreq_t *rq)
{
	struct gop *op = malloc(sizeof *op);

	if (!op)
		return NULL;
	op->hub = rq->srv->hub;
	atomic_fetch_add(&op->hub->refs, 1);
	op->kc = rq->kc;
	ks__kconn_ref(op->kc);
	op->hdr = rq->hdr;
	op->hdr.client_id = kp_cstr(NULL);
	return op;
}

/* Any thread: sends out (if encoding went well) and frees op. */
static void gop_finish(struct gop *op, kp_io_t *out, int rc)
{
	struct ks__khub *hub = op->hub;

	if (rc) {
		/* Nothing sensible to send: the client times out and
		 * reconnects. Not expected (out of memory). */
		kp_writer_free(out);
		kp_writer_init(out);
	}
	ks__khub_post(hub, op->kc, out); /* takes kc's reference */
	free(op);
	ks__khub_unref(hub);
}

/* The peer as Kafka shows a client host: "/127.0.0.1". */
static const char *client_host(ks__kreq_t *rq, char *buf, size_t len)
{
	const char *peer = rq->kc->conn ? ks_conn_peer(rq->kc->conn) : "";
	const char *colon = strrchr(peer, ':');
	size_t n = colon ? (size_t)(colon - peer) : strlen(peer);

	if (n && peer[0] == '[' && peer[n - 1] == ']') {
		peer++;
		n -= 2;
	}
	if (n + 2 > len)
		n = len - 2;
	buf[0] = '/';
	memcpy(buf + 1, peer, n);
	buf[n + 1] = '\0';
	return buf;
}

/* ---- FindCoordinator --------------------------------------------------------- */

int ks__kh_find_coordinator(ks__kreq_t *rq)
{
	kp_find_coordinator_req_t req;
	kp_find_coordinator_resp_t m;
	char host[256];
	int32_t port;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_find_coordinator_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	m.error_message = kp_cstr(NULL);
	ks__ksrv_advertised(rq->kc, host, sizeof host, &port);
	if (req.key_type != 0 || !rq->srv->coord) {
		/* No transaction coordinator here. */
		m.error_code = KP_COORDINATOR_NOT_AVAILABLE;
		m.error_message = kp_cstr(req.key_type != 0 ?
		    "no transaction coordinator" : "no group coordinator");
		m.node_id = -1;
		m.host = kp_cstr("");
		m.port = -1;
	} else if (rq->srv->cops) {
		/* A member: the one the cluster names. */
		char scheme[32];

		ks__ksrv_scheme(rq->kc, scheme, sizeof scheme);
		m.error_code = rq->srv->cops->coordinator(rq->srv->cl, scheme,
		    &m.node_id, host, sizeof host, &port);
		if (m.error_code) {
			m.node_id = -1;
			port = -1;
			host[0] = '\0';
		}
		m.host = kp_cstr(host);
		m.port = port;
	} else {
		m.node_id = rq->srv->cfg.node_id;
		m.host = kp_cstr(host);
		m.port = port;
	}
	ks__kmetrics_resp(rq->srv->hub, KP_FIND_COORDINATOR, &m);
	return kp_find_coordinator_resp(&rq->out, &m);
}

/* ---- JoinGroup -------------------------------------------------------------- */

static void join_cb(void *opaque, int err, const ks_join_result_t *r)
{
	struct gop *op = opaque;
	kp_join_group_resp_t m;
	kp_join_group_member_t *members = NULL;
	kp_io_t out;
	size_t i;
	int rc;

	memset(&m, 0, sizeof m);
	m.error_code = group_error(err);
	if (err == KS_EMEMBER && r->member_id_required)
		m.error_code = KP_MEMBER_ID_REQUIRED;
	else if (err == KS_EBUSY)
		m.error_code = KP_GROUP_MAX_SIZE_REACHED;
	m.generation_id = err ? -1 : r->generation;
	m.protocol_name = str_or_empty(err ? NULL : r->protocol_name);
	m.leader = str_or_empty(err ? NULL : r->leader_id);
	m.member_id = str_or_empty(r->member_id);
	if (!err && r->member_count) {
		members = calloc(r->member_count, sizeof *members);
		for (i = 0; members && i < r->member_count; i++) {
			members[i].member_id = kp_cstr(r->members[i].member_id);
			members[i].group_instance_id =
			    kp_cstr(r->members[i].instance_id);
			members[i].metadata.p = r->members[i].metadata;
			members[i].metadata.len =
			    (int32_t)r->members[i].metadata_len;
		}
		m.members = members;
		m.n_members = members ? (int32_t)r->member_count : 0;
	}
	rc = ks__kresp_begin(&out, &op->hdr);
	if (rc == 0 && (r->member_count == 0 || members || err)) {
		ks__kmetrics_resp(op->hub, KP_JOIN_GROUP, &m);
		rc = kp_join_group_resp(&out, &m);
	}
	else if (rc == 0)
		rc = KS_ENOMEM;
	free(members);
	gop_finish(op, &out, rc);
}

int ks__kh_join_group(ks__kreq_t *rq)
{
	ks_kafka_server_t *srv = rq->srv;
	kp_join_group_req_t req;
	kp_join_group_resp_t m;
	ks_join_request_t jr;
	ks_group_protocol_t *protos;
	char host[300];
	struct gop *op;
	int32_t i;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_join_group_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	m.generation_id = -1;
	m.protocol_name = m.leader = kp_cstr("");
	m.member_id = req.member_id;
	if (!ks__ksrv_coord(srv) || !req.group_id.len) {
		m.error_code = ks__ksrv_coord(srv) ? KP_INVALID_GROUP_ID :
		    ks__ksrv_nocoord(srv);
		ks__kmetrics_resp(rq->srv->hub, KP_JOIN_GROUP, &m);
		return kp_join_group_resp(&rq->out, &m);
	}
	protos = ks__kalloc_n(rq->arena, (size_t)req.n_protocols, sizeof *protos);
	if (!protos)
		return KS_ENOMEM;
	for (i = 0; i < req.n_protocols; i++) {
		protos[i].name = req.protocols[i].name.s;
		protos[i].metadata = req.protocols[i].metadata.p;
		protos[i].metadata_len = req.protocols[i].metadata.len > 0 ?
		    (size_t)req.protocols[i].metadata.len : 0;
	}
	ks_join_request_init(&jr);
	jr.group_id = req.group_id.s;
	jr.member_id = req.member_id.s;
	jr.instance_id = req.group_instance_id.len >= 0 ?
	    req.group_instance_id.s : NULL;
	jr.client_id = rq->hdr.client_id.s;
	jr.client_host = client_host(rq, host, sizeof host);
	jr.session_timeout_ms = req.session_timeout_ms;
	jr.rebalance_timeout_ms = req.rebalance_timeout_ms;
	jr.protocol_type = req.protocol_type.s;
	jr.protocols = protos;
	jr.protocol_count = (size_t)req.n_protocols;
	if (rq->hdr.api_version >= 4)
		jr.flags |= KS_JOIN_REQUIRE_MEMBER_ID;
	if (!(op = gop_new(rq)))
		return KS_ENOMEM;
	if ((rc = ks_group_join(ks__ksrv_coord(srv), &jr, join_cb, op)) != 0) {
		/* Refused before it began: no callback comes. */
		ks__kconn_unref(op->kc);
		ks__khub_unref(op->hub);
		free(op);
		if (rc != KS_EINVAL)
			return rc;
		m.error_code = req.n_protocols == 0 ?
		    KP_INCONSISTENT_GROUP_PROTOCOL : KP_INVALID_SESSION_TIMEOUT;
		ks__kmetrics_resp(rq->srv->hub, KP_JOIN_GROUP, &m);
		return kp_join_group_resp(&rq->out, &m);
	}
	return KS__K_HOLD;
}

/* ---- SyncGroup -------------------------------------------------------------- */

static void sync_cb(void *opaque, int err, const ks_sync_result_t *r)
{
	struct gop *op = opaque;
	kp_sync_group_resp_t m;
	kp_io_t out;
	int rc;

	memset(&m, 0, sizeof m);
	m.error_code = group_error(err == KS_EBUSY ? KS_EREBALANCE : err);
	if (!err) {
		m.assignment.p = r->assignment;
		m.assignment.len = (int32_t)r->assignment_len;
	}
	rc = ks__kresp_begin(&out, &op->hdr);
	if (rc == 0) {
		ks__kmetrics_resp(op->hub, KP_SYNC_GROUP, &m);
		rc = kp_sync_group_resp(&out, &m);
	}
	gop_finish(op, &out, rc);
}

int ks__kh_sync_group(ks__kreq_t *rq)
{
	ks_kafka_server_t *srv = rq->srv;
	kp_sync_group_req_t req;
	kp_sync_group_resp_t m;
	ks_sync_request_t sr;
	ks_group_assignment_t *as;
	struct gop *op;
	int32_t i;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_sync_group_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	if (!ks__ksrv_coord(srv) || !req.group_id.len) {
		m.error_code = ks__ksrv_coord(srv) ? KP_INVALID_GROUP_ID :
		    ks__ksrv_nocoord(srv);
		ks__kmetrics_resp(rq->srv->hub, KP_SYNC_GROUP, &m);
		return kp_sync_group_resp(&rq->out, &m);
	}
	as = ks__kalloc_n(rq->arena, (size_t)req.n_assignments, sizeof *as);
	if (!as)
		return KS_ENOMEM;
	for (i = 0; i < req.n_assignments; i++) {
		as[i].member_id = req.assignments[i].member_id.s;
		as[i].assignment = req.assignments[i].assignment.p;
		as[i].assignment_len = req.assignments[i].assignment.len > 0 ?
		    (size_t)req.assignments[i].assignment.len : 0;
	}
	ks_sync_request_init(&sr);
	sr.group_id = req.group_id.s;
	sr.generation = req.generation_id;
	sr.member_id = req.member_id.s;
	sr.instance_id = req.group_instance_id.len >= 0 ?
	    req.group_instance_id.s : NULL;
	sr.assignments = as;
	sr.assignment_count = (size_t)req.n_assignments;
	if (!(op = gop_new(rq)))
		return KS_ENOMEM;
	if ((rc = ks_group_sync(ks__ksrv_coord(srv), &sr, sync_cb, op)) != 0) {
		ks__kconn_unref(op->kc);
		ks__khub_unref(op->hub);
		free(op);
		if (rc != KS_EINVAL)
			return rc;
		m.error_code = KP_UNKNOWN_MEMBER_ID;
		ks__kmetrics_resp(rq->srv->hub, KP_SYNC_GROUP, &m);
		return kp_sync_group_resp(&rq->out, &m);
	}
	return KS__K_HOLD;
}

/* ---- Heartbeat, LeaveGroup ---------------------------------------------- */

int ks__kh_heartbeat(ks__kreq_t *rq)
{
	kp_heartbeat_req_t req;
	kp_heartbeat_resp_t m;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_heartbeat_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	if (!ks__ksrv_coord(rq->srv)) {
		m.error_code = ks__ksrv_nocoord(rq->srv);
	} else {
		rc = ks_group_heartbeat(ks__ksrv_coord(rq->srv), req.group_id.s,
		    req.generation_id, req.member_id.s,
		    req.group_instance_id.len >= 0 ?
		    req.group_instance_id.s : NULL);
		m.error_code = rc == KS_EINVAL ? KP_UNKNOWN_MEMBER_ID :
		    group_error(rc);
	}
	ks__kmetrics_resp(rq->srv->hub, KP_HEARTBEAT, &m);
	return kp_heartbeat_resp(&rq->out, &m);
}

int ks__kh_leave_group(ks__kreq_t *rq)
{
	kp_leave_group_req_t req;
	kp_leave_group_resp_t m;
	ks_group_leave_t one, *lv;
	int32_t i, n;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_leave_group_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	if (!ks__ksrv_coord(rq->srv)) {
		m.error_code = ks__ksrv_nocoord(rq->srv);
		ks__kmetrics_resp(rq->srv->hub, KP_LEAVE_GROUP, &m);
		return kp_leave_group_resp(&rq->out, &m);
	}
	if (rq->hdr.api_version < 3) {
		memset(&one, 0, sizeof one);
		one.member_id = req.member_id.s;
		lv = &one;
		n = 1;
	} else {
		n = req.n_members;
		lv = ks__kalloc_n(rq->arena, (size_t)n, sizeof *lv);
		m.members = ks__kalloc_n(rq->arena, (size_t)n, sizeof *m.members);
		if (!lv || !m.members)
			return KS_ENOMEM;
		for (i = 0; i < n; i++) {
			lv[i].member_id = req.members[i].member_id.s;
			lv[i].instance_id =
			    req.members[i].group_instance_id.len >= 0 ?
			    req.members[i].group_instance_id.s : NULL;
		}
	}
	rc = n ? ks_group_leave(ks__ksrv_coord(rq->srv), req.group_id.s, lv,
	    (size_t)n) : 0;
	if (rc == KS_EINVAL) {
		m.error_code = KP_INVALID_GROUP_ID;
		n = rq->hdr.api_version < 3 ? 1 : 0;
	}
	if (rq->hdr.api_version < 3) {
		if (!m.error_code)
			m.error_code = group_error(lv[0].err);
	} else {
		m.n_members = n;
		for (i = 0; i < n; i++) {
			m.members[i].member_id = req.members[i].member_id;
			m.members[i].group_instance_id =
			    req.members[i].group_instance_id;
			m.members[i].error_code = group_error(lv[i].err);
		}
	}
	ks__kmetrics_resp(rq->srv->hub, KP_LEAVE_GROUP, &m);
	return kp_leave_group_resp(&rq->out, &m);
}

/* ---- OffsetCommit, OffsetFetch -------------------------------------------- */

int ks__kh_offset_commit(ks__kreq_t *rq)
{
	kp_offset_commit_req_t req;
	kp_offset_commit_resp_t m;
	ks_offset_commit_t *oc;
	int32_t i, j, n = 0, k;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_offset_commit_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	m.n_topics = req.n_topics;
	m.topics = ks__kalloc_n(rq->arena, (size_t)req.n_topics, sizeof *m.topics);
	if (!m.topics)
		return KS_ENOMEM;
	for (i = 0; i < req.n_topics; i++)
		n += req.topics[i].n_partitions;
	if (!(oc = ks__kalloc_n(rq->arena, (size_t)n, sizeof *oc)))
		return KS_ENOMEM;
	for (i = 0, k = 0; i < req.n_topics; i++)
		for (j = 0; j < req.topics[i].n_partitions; j++, k++) {
			const kp_offset_commit_req_part_t *p =
			    &req.topics[i].partitions[j];
			oc[k].topic = req.topics[i].name.s;
			oc[k].partition = p->partition;
			oc[k].offset = p->offset;
			oc[k].leader_epoch = p->leader_epoch;
			oc[k].metadata = p->metadata.len >= 0 ?
			    p->metadata.s : NULL;
		}
	if (!ks__ksrv_coord(rq->srv))
		rc = KS_ECLOSED;
	else if (!req.group_id.len)
		rc = KS_EINVAL;
	else if (n)
		/* generation -1 and member "": a simple consumer's commit,
		 * which the coordinator accepts for a group without members. */
		rc = ks_group_commit(ks__ksrv_coord(rq->srv), req.group_id.s,
		    req.generation_id, req.member_id.s,
		    req.group_instance_id.len >= 0 ?
		    req.group_instance_id.s : NULL, oc, (size_t)n, 0);
	for (i = 0, k = 0; i < req.n_topics; i++) {
		kp_offset_commit_resp_topic_t *t = &m.topics[i];
		t->name = req.topics[i].name;
		t->n_partitions = req.topics[i].n_partitions;
		t->partitions = ks__kalloc_n(rq->arena, (size_t)t->n_partitions, sizeof *t->partitions);
		if (!t->partitions)
			return KS_ENOMEM;
		for (j = 0; j < t->n_partitions; j++, k++) {
			int e = oc[k].err ? oc[k].err : rc;
			t->partitions[j].partition = oc[k].partition;
			t->partitions[j].error_code = e == KS_EINVAL ?
			    KP_INVALID_GROUP_ID : group_error(e);
		}
	}
	ks__kmetrics_resp(rq->srv->hub, KP_OFFSET_COMMIT, &m);
	if ((i = kp_offset_commit_resp(&rq->out, &m)) != 0)
		return i;
	/* a cluster member answers once the commit is replicated */
	return rc == 0 && n ? ks__ksrv_answer_at_hw(rq, "__consumer_offsets",
	    0, 10000) : KS__K_ANSWER;
}

/* Fills one partition's answer from a committed offset. */
static void fetched(kp_offset_fetch_resp_part_t *p, const ks_committed_t *c)
{
	p->partition = c->partition;
	p->offset = c->offset;
	p->leader_epoch = c->leader_epoch;
	p->metadata = kp_cstr(c->metadata ? c->metadata : "");
}

int ks__kh_offset_fetch(ks__kreq_t *rq)
{
	kp_offset_fetch_req_t req;
	kp_offset_fetch_resp_t m;
	ks_group_tp_t *tps = NULL;
	ks_committed_t *out = NULL;
	size_t count = 0, k;
	int32_t i, j, n = 0;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_offset_fetch_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	if (!ks__ksrv_coord(rq->srv)) {
		m.error_code = ks__ksrv_nocoord(rq->srv);
		/* v0-1 have no top-level error: say it per partition */
		req.n_topics = req.n_topics < 0 ? 0 : req.n_topics;
		rc = KS_ECLOSED;
		goto build;
	}
	if (req.n_topics >= 0) {
		for (i = 0; i < req.n_topics; i++)
			n += req.topics[i].n_partitions;
		tps = ks__kalloc_n(rq->arena, (size_t)n, sizeof *tps);
		if (!tps)
			return KS_ENOMEM;
		for (i = 0, k = 0; i < req.n_topics; i++)
			for (j = 0; j < req.topics[i].n_partitions; j++, k++) {
				tps[k].topic = req.topics[i].name.s;
				tps[k].partition = req.topics[i].partitions[j];
			}
	}
	rc = ks_group_fetch_offsets(ks__ksrv_coord(rq->srv), req.group_id.s, tps,
	    req.n_topics >= 0 ? (size_t)n : 0, &out, &count);
	if (rc == KS_EINVAL) {
		m.error_code = KP_INVALID_GROUP_ID;
		req.n_topics = req.n_topics < 0 ? 0 : req.n_topics;
		goto build;
	}
	if (rc)
		return rc;
	if (req.n_topics < 0) {
		/* Every committed offset, sorted: one entry per topic. */
		size_t t0;
		m.topics = kp_arena_alloc(rq->arena, (count ? count : 1) *
		    sizeof *m.topics);
		if (!m.topics)
			goto nomem;
		for (k = 0; k < count; k = t0) {
			kp_offset_fetch_resp_topic_t *t = &m.topics[m.n_topics++];
			for (t0 = k; t0 < count &&
			    !strcmp(out[t0].topic, out[k].topic); t0++)
				;
			t->name.len = (int32_t)strlen(out[k].topic);
			t->name.s = kp_arena_alloc(rq->arena,
			    (size_t)t->name.len + 1);
			t->partitions = kp_arena_alloc(rq->arena,
			    (t0 - k) * sizeof *t->partitions);
			if (!t->name.s || !t->partitions)
				goto nomem;
			memcpy((char *)t->name.s, out[k].topic,
			    (size_t)t->name.len + 1);
			for (; k < t0; k++) {
				kp_offset_fetch_resp_part_t *p =
				    &t->partitions[t->n_partitions++];
				fetched(p, &out[k]);
				p->metadata.s = kp_arena_alloc(rq->arena,
				    (size_t)p->metadata.len + 1);
				if (!p->metadata.s)
					goto nomem;
				memcpy((char *)p->metadata.s,
				    out[k].metadata ? out[k].metadata : "",
				    (size_t)p->metadata.len + 1);
			}
		}
		ks_committed_free(out);
		ks__kmetrics_resp(rq->srv->hub, KP_OFFSET_FETCH, &m);
		return kp_offset_fetch_resp(&rq->out, &m);
	}
build:
	m.n_topics = req.n_topics;
	m.topics = ks__kalloc_n(rq->arena, (size_t)req.n_topics, sizeof *m.topics);
	if (!m.topics)
		goto nomem;
	for (i = 0, k = 0; i < req.n_topics; i++) {
		kp_offset_fetch_resp_topic_t *t = &m.topics[i];
		t->name = req.topics[i].name;
		t->n_partitions = req.topics[i].n_partitions;
		t->partitions = ks__kalloc_n(rq->arena, (size_t)t->n_partitions, sizeof *t->partitions);
		if (!t->partitions)
			goto nomem;
		for (j = 0; j < t->n_partitions; j++, k++) {
			kp_offset_fetch_resp_part_t *p = &t->partitions[j];
			if (out && k < count) {
				fetched(p, &out[k]);
			} else {
				p->partition = req.topics[i].partitions[j];
				p->offset = -1;
				p->leader_epoch = -1;
				p->metadata = kp_cstr("");
				p->error_code = m.error_code;
			}
		}
	}
	/* Encoded before out is freed: metadata points into it. */
	ks__kmetrics_resp(rq->srv->hub, KP_OFFSET_FETCH, &m);
	rc = kp_offset_fetch_resp(&rq->out, &m);
	ks_committed_free(out);
	return rc;
nomem:
	ks_committed_free(out);
	return KS_ENOMEM;
}

/* ---- DescribeGroups, ListGroups -------------------------------------------- */

int ks__kh_describe_groups(ks__kreq_t *rq)
{
	kp_describe_groups_req_t req;
	kp_describe_groups_resp_t m;
	ks_group_info_t **infos;
	int32_t i, n;
	size_t k;
	int rc = 0;

	memset(&req, 0, sizeof req);
	if ((rc = kp_describe_groups_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	n = req.n_groups;
	m.n_groups = n;
	m.groups = ks__kalloc_n(rq->arena, (size_t)n, sizeof *m.groups);
	infos = ks__kalloc_n(rq->arena, (size_t)n, sizeof *infos);
	if (!m.groups || !infos)
		return KS_ENOMEM;
	for (i = 0; i < n && rc == 0; i++) {
		kp_described_group_t *g = &m.groups[i];
		ks_group_info_t *info;

		g->group_id = req.groups[i];
		g->authorized_operations = INT32_MIN;
		g->state = g->protocol_type = g->protocol_data = kp_cstr("");
		if (!ks__ksrv_coord(rq->srv)) {
			g->error_code = ks__ksrv_nocoord(rq->srv);
			continue;
		}
		rc = ks_group_describe(ks__ksrv_coord(rq->srv), req.groups[i].s, &info);
		if (rc == KS_EINVAL) {
			g->error_code = KP_INVALID_GROUP_ID;
			rc = 0;
			continue;
		}
		if (rc)
			break;
		infos[i] = info;
		g->state = kp_cstr(ks_group_state_name(info->state));
		g->protocol_type = str_or_empty(info->protocol_type);
		g->protocol_data = str_or_empty(info->protocol_name);
		g->n_members = (int32_t)info->member_count;
		g->members = ks__kalloc_n(rq->arena, info->member_count,
		    sizeof *g->members);
		if (!g->members) {
			rc = KS_ENOMEM;
			break;
		}
		for (k = 0; k < info->member_count; k++) {
			const ks_group_member_info_t *mi = &info->members[k];
			kp_described_member_t *dm = &g->members[k];
			dm->member_id = str_or_empty(mi->member_id);
			dm->group_instance_id = kp_cstr(mi->instance_id);
			dm->client_id = str_or_empty(mi->client_id);
			dm->client_host = str_or_empty(mi->client_host);
			dm->metadata.p = mi->metadata;
			dm->metadata.len = (int32_t)mi->metadata_len;
			dm->assignment.p = mi->assignment;
			dm->assignment.len = (int32_t)mi->assignment_len;
		}
	}
	if (rc == 0) {
		ks__kmetrics_resp(rq->srv->hub, KP_DESCRIBE_GROUPS, &m);
		rc = kp_describe_groups_resp(&rq->out, &m);
	}
	for (i = 0; i < n; i++)
		ks_group_info_free(infos[i]);
	return rc;
}

int ks__kh_list_groups(ks__kreq_t *rq)
{
	kp_list_groups_req_t req;
	kp_list_groups_resp_t m;
	ks_group_listing_t *list = NULL;
	size_t count = 0, k;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_list_groups_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	if (!ks__ksrv_coord(rq->srv)) {
		m.error_code = ks__ksrv_nocoord(rq->srv);
		ks__kmetrics_resp(rq->srv->hub, KP_LIST_GROUPS, &m);
		return kp_list_groups_resp(&rq->out, &m);
	}
	if ((rc = ks_group_list(ks__ksrv_coord(rq->srv), 0, &list, &count)) != 0)
		return rc;
	m.groups = kp_arena_alloc(rq->arena, (count ? count : 1) *
	    sizeof *m.groups);
	if (!m.groups) {
		ks_group_list_free(list);
		return KS_ENOMEM;
	}
	m.n_groups = (int32_t)count;
	for (k = 0; k < count; k++) {
		m.groups[k].group_id = kp_cstr(list[k].group_id);
		m.groups[k].protocol_type = str_or_empty(list[k].protocol_type);
	}
	ks__kmetrics_resp(rq->srv->hub, KP_LIST_GROUPS, &m);
	rc = kp_list_groups_resp(&rq->out, &m);
	ks_group_list_free(list);
	return rc;
}
