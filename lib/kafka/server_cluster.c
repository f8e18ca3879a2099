/*
 * server_cluster.c: what the server does for a cluster member beyond the
 * hooks it calls elsewhere (server_cluster.h): OffsetForLeaderEpoch, the
 * controller's APIs, waking long polls when a high watermark moves.
 *
 * A server standing alone answers OffsetForLeaderEpoch too: its logs are
 * written in leader epoch 0, so any epoch >= 0 ends at the log end.
 */
#include "kafka/server_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ks_store_t *ks__kafka_server_store(ks_kafka_server_t *srv)
{
	return srv->store;
}

int32_t ks__kafka_server_node(ks_kafka_server_t *srv)
{
	return srv->cfg.node_id;
}

int32_t ks__kafka_server_partitions(ks_kafka_server_t *srv)
{
	return srv->cfg.num_partitions;
}

void ks__ksrv_scheme(const struct ks__kconn *kc, char *buf, size_t len)
{
	char url[512];
	const char *sep;

	snprintf(buf, len, "tcp");
	if (!kc->kl || ks_listener_url(kc->kl->l, url, sizeof url) != 0)
		return;
	if ((sep = strstr(url, "://")) && (size_t)(sep - url) < len)
		snprintf(buf, len, "%.*s", (int)(sep - url), url);
}

/* Loop: every long poll looks again (a high watermark moved). */
static void wake_hw(void *arg)
{
	ks_kafka_server_t *srv = arg;
	struct ks__kfetch *f;

	atomic_store(&srv->hw_wake_queued, 0);
	for (f = srv->fetches; f; f = ks__kfetch_next(f))
		ks__kfetch_flag(f);
	ks__kfetch_wake_all(srv);
}

void ks__kafka_server_wake(ks_kafka_server_t *srv)
{
	if (!atomic_exchange(&srv->hw_wake_queued, 1) &&
	    ks_net_call(srv->net, wake_hw, srv) != 0)
		atomic_store(&srv->hw_wake_queued, 0);
}

/* An answer parked until a high watermark (ks__ksrv_answer_at_hw). */
struct hwans {
	struct ks__khub *hub;
	struct ks__kconn *kc;      /* a reference */
	kp_io_t out;
};

static void hwans_done(void *arg, int16_t code)
{
	struct hwans *a = arg;

	if (code == 0) {
		ks__khub_post(a->hub, a->kc, &a->out);
	} else {
		kp_writer_free(&a->out);
		ks__khub_resume(a->hub, a->kc);
	}
	free(a);
}

int ks__ksrv_answer_at_hw(ks__kreq_t *rq, const char *topic, int32_t p,
    int32_t timeout_ms)
{
	ks_kafka_server_t *srv = rq->srv;
	struct hwans *a;
	ks_log_t *log;
	int64_t end;
	int r;

	if (!srv->cops || ks__ksrv_log(srv, topic, p, &log) != 0 ||
	    (end = ks_log_end_offset(log)) <= 0)
		return KS__K_ANSWER;
	if (!(a = malloc(sizeof *a)))
		return KS_ENOMEM;
	a->hub = srv->hub;
	a->kc = rq->kc;
	a->out = rq->out;
	ks__kconn_ref(rq->kc);
	r = srv->cops->await_hw(srv->cl, topic, p, end - 1, timeout_ms,
	    hwans_done, a);
	if (r != 0) {
		/* replicated already (1), or it cannot be (a code): the
		 * answer goes now, or never */
		ks__kconn_unref(rq->kc);
		free(a);
		if (r == 1)
			return KS__K_ANSWER;
		KS__KLOG(srv, KS_LOG_INFO, "kafka server: %s-%d: %s: the "
		    "answer is dropped", topic, (int)p,
		    ks_kafka_error_name(r));
		kp_writer_free(&rq->out);
		kp_writer_init(&rq->out);
		return KS__K_SILENT;
	}
	kp_writer_init(&rq->out); /* moved */
	return KS__K_HOLD;
}

/* A lone server: epoch 0 is the only one, ending at the log end. */
static int16_t epoch_end_alone(ks_kafka_server_t *srv, const char *topic,
    int32_t p, int32_t epoch, int32_t *epoch_out, int64_t *end)
{
	ks_log_t *log;
	int rc = ks__ksrv_log(srv, topic, p, &log);

	*epoch_out = -1;
	*end = -1;
	if (rc)
		return rc == KS_ETOPIC || rc == KS_EPARTITION ||
		    rc == KS_ENAME ? KP_UNKNOWN_TOPIC_OR_PARTITION :
		    ks__ksrv_err(rc);
	if (epoch >= 0) {
		*epoch_out = 0;
		*end = ks_log_end_offset(log);
	}
	return 0;
}

int ks__kh_offset_for_leader_epoch(ks__kreq_t *rq)
{
	ks_kafka_server_t *srv = rq->srv;
	kp_offset_for_leader_epoch_req_t req;
	kp_offset_for_leader_epoch_resp_t m;
	int32_t i, j;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_offset_for_leader_epoch_req(rq->in, &req)) != 0)
		return rc;
	memset(&m, 0, sizeof m);
	m.n_topics = req.n_topics;
	m.topics = ks__kalloc_n(rq->arena, (size_t)KS__MAX(req.n_topics, 0),
	    sizeof *m.topics);
	if (!m.topics)
		return KS_ENOMEM;
	for (i = 0; i < req.n_topics; i++) {
		kp_ofle_req_topic_t *rt = &req.topics[i];
		kp_ofle_resp_topic_t *t = &m.topics[i];

		t->topic = rt->topic;
		t->n_partitions = rt->n_partitions;
		t->partitions = ks__kalloc_n(rq->arena,
		    (size_t)KS__MAX(rt->n_partitions, 0),
		    sizeof *t->partitions);
		if (!t->partitions)
			return KS_ENOMEM;
		for (j = 0; j < rt->n_partitions; j++) {
			kp_ofle_req_part_t *rp = &rt->partitions[j];
			kp_ofle_resp_part_t *p = &t->partitions[j];
			const char *name = rt->topic.s ? rt->topic.s : "";

			p->partition = rp->partition;
			if (srv->cops)
				p->error_code = srv->cops->epoch_end(srv->cl,
				    name, rp->partition,
				    rp->current_leader_epoch,
				    rp->leader_epoch, &p->leader_epoch,
				    &p->end_offset);
			else
				p->error_code = epoch_end_alone(srv, name,
				    rp->partition, rp->leader_epoch,
				    &p->leader_epoch, &p->end_offset);
		}
	}
	ks__kmetrics_resp(srv->hub, KP_OFFSET_FOR_LEADER_EPOCH, &m);
	return kp_offset_for_leader_epoch_resp(&rq->out, &m);
}

/* BrokerRegistration, BrokerHeartbeat, AlterPartition: the cluster's. A
 * server that is no cluster member treats them as unknown. */
int ks__kh_controller(ks__kreq_t *rq)
{
	ks_kafka_server_t *srv = rq->srv;

	if (!srv->cops)
		return KS_EINVAL;
	return srv->cops->controller_request(srv->cl, rq->hdr.api_key,
	    rq->in, &rq->out);
}
