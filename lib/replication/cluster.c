/*
 * cluster.c: a cluster member. It joins a Kafka-protocol server (the
 * member's listeners, store and loop) to the metadata quorum
 * (controller.c) and runs three kinds of threads:
 *
 *   the reconciler, woken by every new metadata image and every 100 ms:
 *     makes the replicas the image assigns here (creating topics in the
 *     store as needed), applies leaders, epochs and ISRs to them
 *     (replica.c), starts fetchers for the members it follows, and sends
 *     the ISR changes the leaders propose;
 *   the heartbeat thread: registers this member's listeners with the
 *     active controller and heartbeats it every heartbeat_interval_ms
 *     (the controller fences members it does not hear from);
 *   fetchers (fetcher.c), one per member followed.
 *
 * Requests to the controller go, as in KRaft, over the Kafka protocol
 * (BrokerRegistration, BrokerHeartbeat, AlterPartition) to the active
 * controller's listener; on the active controller itself they are
 * submitted directly. The server's hooks (server_cluster.h) answer from
 * the image and the replicas.
 */
#include "replication/repl_impl.h"
#include "store/store_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- configuration ----------------------------------------------------- */

void ks_cluster_config_init(ks_cluster_config_t *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->default_replication_factor = -1;
	cfg->min_insync_replicas = 1;
	cfg->replica_lag_time_max_ms = 30000;
	cfg->session_timeout_ms = 9000;
	cfg->heartbeat_interval_ms = 2000;
	cfg->election_timeout_ms = 1000;
}

static int parse_i32(const char *s, int32_t lo, int32_t *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > INT32_MAX)
		return KS_EINVAL;
	*out = (int32_t)v;
	return 0;
}

int ks_cluster_config_set(ks_cluster_config_t *cfg, const char *name,
    const char *value)
{
	static const struct {
		const char *name;
		size_t off;
		int32_t lo;
	} ints[] = {
#define I(n, f, lo) { n, offsetof(ks_cluster_config_t, f), lo }
		I("node.id", node_id, 0),
		I("default.replication.factor", default_replication_factor,
		    -1),
		I("min.insync.replicas", min_insync_replicas, 1),
		I("replica.lag.time.max.ms", replica_lag_time_max_ms, 1),
		I("broker.session.timeout.ms", session_timeout_ms, 1),
		I("broker.heartbeat.interval.ms", heartbeat_interval_ms, 1),
		I("raft.election.timeout.ms", election_timeout_ms, 10),
#undef I
	};
	size_t i;

	if (!cfg || !name || !value)
		return KS_EINVAL;
	for (i = 0; i < sizeof ints / sizeof ints[0]; i++)
		if (!strcmp(name, ints[i].name))
			return parse_i32(value, ints[i].lo,
			    (int32_t *)((char *)cfg + ints[i].off));
	if (value[0] == '\0')
		return KS_EINVAL;
	if (!strcmp(name, "controller.quorum.voters"))
		cfg->voters = value;
	else if (!strcmp(name, "metadata.log.dir"))
		cfg->raft_dir = value;
	else if (!strcmp(name, "unclean.leader.election.enable") &&
	    (!strcmp(value, "true") || !strcmp(value, "false")))
		cfg->unclean_leader_election = !strcmp(value, "true");
	else
		return KS_EINVAL;
	return 0;
}

/* ---- replicas ---------------------------------------------------------- */

static int rep_cmp(const struct ks__rreplica *rp, const char *topic,
    int32_t p)
{
	int c = strcmp(rp->topic, topic);

	return c ? c : (rp->p > p) - (rp->p < p);
}

/* Under c->mu: index of topic-p, or where it goes (*found 0). */
static size_t rep_find(struct ks_cluster *c, const char *topic, int32_t p,
    int *found)
{
	size_t lo = 0, hi = c->nreps;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = rep_cmp(c->reps[mid], topic, p);
		if (r == 0) {
			*found = 1;
			return mid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

struct ks__rreplica *ks__rcluster_replica(struct ks_cluster *c,
    const char *topic, int32_t p)
{
	struct ks__rreplica *rp = NULL;
	int found;
	size_t i;

	if (!topic)
		return NULL;
	pthread_mutex_lock(&c->mu);
	i = rep_find(c, topic, p, &found);
	if (found) {
		rp = c->reps[i];
		ks__rreplica_get(rp);
	}
	pthread_mutex_unlock(&c->mu);
	return rp;
}

/* Inserts rp (not present) in order. */
static int rep_insert(struct ks_cluster *c, struct ks__rreplica *rp)
{
	size_t i;
	int found;

	pthread_mutex_lock(&c->mu);
	if (c->nreps == c->capreps) {
		size_t cap = c->capreps ? 2 * c->capreps : 16;
		struct ks__rreplica **v = realloc(c->reps, cap * sizeof *v);
		if (!v) {
			pthread_mutex_unlock(&c->mu);
			return KS_ENOMEM;
		}
		c->reps = v;
		c->capreps = cap;
	}
	i = rep_find(c, rp->topic, rp->p, &found);
	memmove(&c->reps[i + 1], &c->reps[i],
	    (c->nreps - i) * sizeof *c->reps);
	c->reps[i] = rp;
	c->nreps++;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* rp, a replica the image no longer places here, serves nothing. */
static void stop_serving(struct ks_cluster *c, struct ks__rreplica *rp)
{
	struct ks__rpart none;

	memset(&none, 0, sizeof none);
	none.leader = -1;
	ks__rreplica_update(c, rp, &none);
}

int ks__rcluster_url(struct ks_cluster *c, int32_t id, char *buf,
    size_t len)
{
	struct ks__rimage *img = ks__ctl_image(c->ctl);
	const struct ks__rendpoint *ep = ks__rimage_endpoint(img, id,
	    c->scheme);
	int rc = KS_EINVAL;

	if (ep) {
		int v6 = strchr(ep->host, ':') != NULL;
		snprintf(buf, len, "%s://%s%s%s:%d", ep->scheme,
		    v6 ? "[" : "", ep->host, v6 ? "]" : "", (int)ep->port);
		rc = 0;
	}
	ks__rimage_unref(img);
	return rc;
}

/* ---- the local topics ----------------------------------------------------- */

/* The store's configuration for a topic the cluster made: the store's
 * defaults, the cluster's "k=v" lines (min.insync.replicas is the
 * cluster's, not the store's). */
static void topic_config(struct ks_cluster *c, const struct ks__rtopic *t,
    ks_topic_config_t *tc)
{
	const char *s = t->configs ? t->configs : "";

	*tc = c->store->cfg.topic_defaults;
	tc->partitions = t->nparts;
	while (*s) {
		const char *nl = strchr(s, '\n'), *eq;
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		char line[1024];

		if (n < sizeof line) {
			memcpy(line, s, n);
			line[n] = '\0';
			if ((eq = strchr(line, '=')) != NULL) {
				line[eq - line] = '\0';
				if (strcmp(line, "min.insync.replicas") != 0)
					ks_topic_config_set(tc, line,
					    eq + 1);
			}
		}
		s += n + (nl != NULL);
	}
}

/* Makes sure the store has topic t with all its partitions. */
static int local_topic(struct ks_cluster *c, const struct ks__rtopic *t)
{
	ks_topic_config_t tc;
	ks_topic_t *th;
	int32_t have;
	int rc;

	if ((rc = ks_topic_open(c->store, t->name, &th)) == KS_ETOPIC) {
		topic_config(c, t, &tc);
		rc = ks_topic_create(c->store, t->name, &tc);
		if (rc == 0)
			KS__RLOG(c, KS_LOG_INFO, "replication: created topic "
			    "%s (%d partitions) here", t->name,
			    (int)t->nparts);
		return rc == KS_EEXIST ? 0 : rc;
	}
	if (rc)
		return rc;
	have = ks_topic_partitions(th);
	ks_topic_release(th);
	if (have < t->nparts)
		rc = ks_topic_add_partitions(c->store, t->name, t->nparts);
	return rc;
}

/* ---- the reconciler ---------------------------------------------------- */

/* Applies img to the replicas here; starts fetchers it needs. */
static void apply_image(struct ks_cluster *c, struct ks__rimage *img)
{
	int32_t t, p;
	int reapply = 0;
	size_t i;

	pthread_mutex_lock(&c->mu);
	ks__rimage_unref(c->img);
	ks__rimage_ref(img);
	c->img = img;
	pthread_mutex_unlock(&c->mu);

	for (t = 0; t < img->ntopics; t++) {
		const struct ks__rtopic *tp = &img->topics[t];
		int made = 0;
		for (p = 0; p < tp->nparts; p++) {
			const struct ks__rpart *mp = &tp->parts[p];
			struct ks__rreplica *rp;
			int err;

			if (!ks__rpart_is_replica(mp, c->node))
				continue;
			if (!made) {
				if ((err = local_topic(c, tp)) != 0) {
					/* KS_EBUSY: a deleted topic of the
					 * name is still held: again soon */
					if (err != KS_EBUSY)
						KS__RLOG(c, KS_LOG_ERR,
						    "replication: topic %s: %s",
						    tp->name, ks_strerror(err));
					reapply = 1;
					break;
				}
				made = 1;
			}
			if (!(rp = ks__rcluster_replica(c, tp->name, p))) {
				if (!(rp = ks__rreplica_new(c, tp->name, p,
				    &err)) || (err = rep_insert(c, rp))) {
					KS__RLOG(c, KS_LOG_ERR, "replication: "
					    "%s-%d: %s", tp->name, (int)p,
					    ks_strerror(err));
					ks__rreplica_put(rp);
					reapply = 1;
					continue;
				}
				ks__rreplica_get(rp); /* the table's, and ours */
			}
			ks__rreplica_update(c, rp, mp);
			ks__rreplica_put(rp);
			if (mp->leader >= 0 && mp->leader != c->node) {
				pthread_mutex_lock(&c->mu);
				ks__rfetcher_start(c, mp->leader);
				pthread_mutex_unlock(&c->mu);
			}
		}
	}
	/* Replicas the image no longer places here stop serving; those of
	 * a deleted topic leave the table, and the topic leaves the store
	 * (its files go with the last handle, as ks_topic_delete says). */
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->nreps;) {
		struct ks__rreplica *rp = c->reps[i];
		const struct ks__rpart *mp = ks__rimage_part(img, rp->topic,
		    rp->p);
		int gone = !ks__rimage_topic(img, rp->topic);

		if (mp && ks__rpart_is_replica(mp, c->node)) {
			i++;
			continue;
		}
		if (gone) {
			memmove(&c->reps[i], &c->reps[i + 1],
			    (c->nreps - i - 1) * sizeof *c->reps);
			c->nreps--;
		} else {
			ks__rreplica_get(rp);
			i++;
		}
		pthread_mutex_unlock(&c->mu);
		stop_serving(c, rp);
		if (gone) {
			int err = ks_topic_delete(c->store, rp->topic);
			if (err == 0)
				KS__RLOG(c, KS_LOG_INFO, "replication: "
				    "deleted topic %s here", rp->topic);
		}
		ks__rreplica_put(rp); /* the table's, or ours */
		pthread_mutex_lock(&c->mu);
	}
	c->reapply = reapply;
	pthread_cond_broadcast(&c->cv); /* fetchers look again */
	pthread_mutex_unlock(&c->mu);
}

/* ---- requests to the controller ------------------------------------------ */

/* On the active controller (this member): submits cmd without waiting
 * for it to be applied, and frees it. ks__ctl_submit's result. */
static int submit_free(struct ks_cluster *c, struct ks__rcmd *cmd)
{
	int rc = ks__ctl_submit(c->ctl, cmd, NULL, NULL);

	free(cmd->p);
	return rc;
}

/* The Raft index of the last image the controller published. */
static uint64_t applied_index(struct ks_cluster *c)
{
	struct ks__rimage *img = ks__ctl_image(c->ctl);
	uint64_t index = img->applied;

	ks__rimage_unref(img);
	return index;
}

/* Whether the controller's last image has topic name. */
static int knows_topic(struct ks_cluster *c, const char *name)
{
	struct ks__rimage *img = ks__ctl_image(c->ctl);
	int have = ks__rimage_topic(img, name) != NULL;

	ks__rimage_unref(img);
	return have;
}

int ks__rcluster_connect(struct ks_cluster *c, const char *url,
    const char *role, int timeout_ms, struct kc_cluster **out)
{
	ks_remote_config_t rc;
	char cid[64];

	ks_remote_config_init(&rc);
	rc.tls = c->have_tls ? &c->tls : NULL;
	rc.request_timeout_ms = timeout_ms;
	rc.log_cb = c->log_cb;
	rc.log_opaque = c->log_opaque;
	snprintf(cid, sizeof cid, "kstream-%s-%d", role, (int)c->node);
	return kc_cluster_new(url, &rc, cid, out);
}

/* A controller request (api, req) answered into resp: on the active
 * controller's listener, through a connection kept to it. */
static int ctl_rpc(struct ks_cluster *c, int32_t leader, int16_t api,
    void *req, void *resp, size_t size, kc_resp_t *keep)
{
	struct kc_broker *b;
	char url[600];
	int err;

	pthread_mutex_lock(&c->ctl_mu);
	if (c->ctl_conn && c->ctl_conn_id != leader) {
		kc_cluster_free(c->ctl_conn);
		c->ctl_conn = NULL;
	}
	if (!c->ctl_conn) {
		if ((err = ks__rcluster_url(c, leader, url, sizeof url))) {
			pthread_mutex_unlock(&c->ctl_mu);
			return err;
		}
		if ((err = ks__rcluster_connect(c, url, "member",
		    KS__MAX(c->cfg.heartbeat_interval_ms, 1000),
		    &c->ctl_conn))) {
			c->ctl_conn = NULL;
			pthread_mutex_unlock(&c->ctl_mu);
			return err;
		}
		c->ctl_conn_id = leader;
	}
	err = kc_any_broker(c->ctl_conn, &b);
	if (err == 0)
		err = kc_rpc(b, api, req, resp, size, keep);
	if (err < 0 && err != KS_ENOMEM) {
		kc_cluster_free(c->ctl_conn);
		c->ctl_conn = NULL;
	}
	pthread_mutex_unlock(&c->ctl_mu);
	return err;
}

/* ctl_rpc for a request whose answer is not read. */
static void ctl_send(struct ks_cluster *c, int32_t leader, int16_t api,
    void *req, void *resp, size_t size)
{
	kc_resp_t keep;

	memset(&keep, 0, sizeof keep);
	ctl_rpc(c, leader, api, req, resp, size, &keep);
	kc_resp_free(&keep);
}

/* A BrokerHeartbeat to the active controller, another member; leaving,
 * a controlled shutdown's, which asks it to fence this member now. */
static void send_heartbeat(struct ks_cluster *c, int32_t leader,
    bool leaving)
{
	kp_broker_heartbeat_req_t req;
	kp_broker_heartbeat_resp_t resp;

	memset(&req, 0, sizeof req);
	req.broker_id = c->node;
	req.broker_epoch = leaving ? (int64_t)c->reg_index : -1;
	req.want_fence = leaving;
	req.want_shut_down = leaving;
	ctl_send(c, leader, KP_BROKER_HEARTBEAT, &req, &resp, sizeof resp);
}

static void send_alter(struct ks_cluster *c, const struct ks__ralter *a)
{
	int32_t leader = ks__ctl_leader(c->ctl);
	struct ks__rcmd cmd;

	if (leader < 0)
		return;
	if (leader == c->node) {
		if (ks__rcmd_alter_isr(&cmd, a->topic, a->p, c->node,
		    a->leader_epoch, a->partition_epoch, a->isr,
		    a->nisr) == 0)
			submit_free(c, &cmd);
	} else {
		kp_alter_partition_req_t req;
		kp_alter_partition_req_topic_t t;
		kp_alter_partition_req_part_t p;
		kp_alter_partition_resp_t resp;

		memset(&req, 0, sizeof req);
		memset(&t, 0, sizeof t);
		memset(&p, 0, sizeof p);
		p.partition_index = a->p;
		p.leader_epoch = a->leader_epoch;
		p.partition_epoch = a->partition_epoch;
		p.n_new_isr = a->nisr;
		p.new_isr = (int32_t *)a->isr;
		t.topic_name = kp_cstr(a->topic);
		t.n_partitions = 1;
		t.partitions = &p;
		req.broker_id = c->node;
		req.broker_epoch = -1;
		req.n_topics = 1;
		req.topics = &t;
		ctl_send(c, leader, KP_ALTER_PARTITION, &req, &resp,
		    sizeof resp);
	}
}

/*
 * Group coordination follows the leadership of __consumer_offsets-0: the
 * store's coordinator is activated (its groups read back from the log
 * replication filled) when this member leads it, deactivated otherwise.
 */
static void coordination(struct ks_cluster *c)
{
	struct ks__rreplica *rp = ks__rcluster_replica(c, KS__R_OFFSETS, 0);
	ks_coordinator_t *coord;
	int32_t epoch = -1;
	int lead = 0, rc;

	if (rp) {
		pthread_mutex_lock(&rp->mu);
		lead = rp->role == KS__R_LEADER;
		epoch = rp->leader_epoch;
		pthread_mutex_unlock(&rp->mu);
		ks__rreplica_put(rp);
	}
	if (!lead)
		epoch = -1;
	if (epoch == c->coord_epoch)
		return;
	if (!(coord = ks_store_coordinator(c->store)))
		return;
	atomic_store(&c->coordinating, 0);
	rc = ks__coordinator_activate(coord, lead);
	c->coord_epoch = epoch;
	if (rc == 0 && lead) {
		atomic_store(&c->coordinating, 1);
		KS__RLOG(c, KS_LOG_NOTICE, "cluster: member %d coordinates "
		    "the groups (epoch %d)", (int)c->node, (int)epoch);
	} else if (rc) {
		KS__RLOG(c, KS_LOG_ERR, "cluster: reading the groups back: "
		    "%s", ks_strerror(rc));
	}
}

static int16_t create_cmd(struct ks_cluster *c, const struct ks__rimage *img,
    const char *name, int32_t nparts, int32_t rf, const char *configs,
    struct ks__rcmd *cmd, const char **msg);

/* The active controller makes the offsets topic once enough members
 * live to give it the replication factor of the others (3 or all). */
static void offsets_topic(struct ks_cluster *c)
{
	struct ks__rimage *img;
	struct ks__rcmd cmd;
	const char *msg;
	int32_t rf, i, n = 0;
	int64_t now = ks__rnow_ms();

	if (ks__ctl_leader(c->ctl) != c->node ||
	    now - c->offsets_asked_ms < 1000)
		return;
	img = ks__ctl_image(c->ctl);
	for (i = 0; i < img->nbrokers; i++)
		n += img->brokers[i].registered && !img->brokers[i].fenced;
	rf = KS__MIN(3, ks__ctl_nvoters(c->ctl));
	if (c->cfg.default_replication_factor > 0)
		rf = KS__MIN(rf, c->cfg.default_replication_factor);
	if (!ks__rimage_topic(img, KS__R_OFFSETS) && n >= rf &&
	    create_cmd(c, img, KS__R_OFFSETS, 1, rf, "cleanup.policy=compact\n"
	    "segment.bytes=104857600\n", &cmd, &msg) == 0) {
		c->offsets_asked_ms = now;
		submit_free(c, &cmd);
	}
	ks__rimage_unref(img);
}

/* Leaders' ticks: ISR proposals (sent outside c->mu), expired waiters. */
static void tick_all(struct ks_cluster *c)
{
	struct ks__rreplica **v = NULL;
	struct ks__ralter a;
	int64_t now = ks__rnow_ms();
	size_t i, n;

	pthread_mutex_lock(&c->mu);
	n = c->nreps;
	if (n && (v = malloc(n * sizeof *v)))
		for (i = 0; i < n; i++) {
			v[i] = c->reps[i];
			ks__rreplica_get(v[i]);
		}
	pthread_mutex_unlock(&c->mu);
	for (i = 0; v && i < n; i++) {
		if (ks__rreplica_tick(c, v[i], now, &a))
			send_alter(c, &a);
		ks__rreplica_put(v[i]);
	}
	free(v);
}

/* ms from now, on the clock pthread_cond_timedwait reads. */
static void abstime_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	ts->tv_sec += ts->tv_nsec / 1000000000L;
	ts->tv_nsec %= 1000000000L;
}

void ks__rcluster_wait(struct ks_cluster *c, int ms)
{
	struct timespec ts;

	abstime_in(&ts, ms);
	pthread_cond_timedwait(&c->cv, &c->mu, &ts);
}

static void *reconciler_main(void *arg)
{
	struct ks_cluster *c = arg;
	struct ks__rimage *img;
	uint64_t applied = 0;
	int first = 1;

	for (;;) {
		pthread_mutex_lock(&c->mu);
		if (!c->stop && !c->changed)
			ks__rcluster_wait(c, 100);
		c->changed = 0;
		if (c->stop) {
			pthread_mutex_unlock(&c->mu);
			break;
		}
		pthread_mutex_unlock(&c->mu);
		img = ks__ctl_image(c->ctl);
		pthread_mutex_lock(&c->mu);
		if (!c->reg_index || img->applied < c->reg_index) {
			/* not caught up with the cluster since this start */
			pthread_mutex_unlock(&c->mu);
			ks__rimage_unref(img);
			continue;
		}
		pthread_mutex_unlock(&c->mu);
		pthread_mutex_lock(&c->mu);
		if (c->reapply)
			first = 1;
		pthread_mutex_unlock(&c->mu);
		if (first || img->applied != applied) {
			apply_image(c, img);
			applied = img->applied;
			first = 0;
		}
		ks__rimage_unref(img);
		tick_all(c);
		coordination(c);
		offsets_topic(c);
	}
	return NULL;
}

/* The controller thread: a new image. */
static void on_changed(void *arg, struct ks__rimage *img)
{
	struct ks_cluster *c = arg;

	(void)img;
	pthread_mutex_lock(&c->mu);
	c->changed = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* ---- registration and heartbeats ----------------------------------------- */

/* Whether the image has this member with the endpoints it has now. */
static int registered_as_now(struct ks_cluster *c)
{
	struct ks__rimage *img = ks__ctl_image(c->ctl);
	const struct ks__rbroker *b = ks__rimage_broker(img, c->node);
	int ok = b && b->registered && b->nendpoints == c->neps &&
	    memcmp(b->ep, c->eps, (size_t)c->neps * sizeof *c->eps) == 0;

	ks__rimage_unref(img);
	return ok;
}

static int submit_wait(struct ks_cluster *c, const struct ks__rcmd *cmd,
    int timeout_ms);

/*
 * A registration: a new process of member id (or new listeners). As
 * KRaft does with a new incarnation, the member is fenced first: what it
 * led moves to its in-sync followers with a new leader epoch, since the
 * new process's log may lack what the old one had (unflushed at a crash),
 * and it leaves every ISR, to come back as a follower that has caught up.
 * The FENCE is submitted here; *cmd is the REGISTER that follows it.
 */
static int register_cmds(struct ks_cluster *c, int32_t id,
    const struct ks__rendpoint *eps, int32_t n, struct ks__rcmd *cmd)
{
	struct ks__rcmd fence;
	int rc;

	if ((rc = ks__rcmd_fence(&fence, id)) != 0 ||
	    (rc = submit_free(c, &fence)) != 0)
		return rc;
	return ks__rcmd_register(cmd, id, c->cfg.unclean_leader_election,
	    eps, n);
}

static void set_reg_index(struct ks_cluster *c, uint64_t index)
{
	pthread_mutex_lock(&c->mu);
	if (index > c->reg_index) {
		c->reg_index = index;
		c->changed = 1;
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
}

/* Registers this member's listeners; on success notes the Raft index by
 * which the registration was applied. */
static void do_register(struct ks_cluster *c, int32_t leader)
{
	if (leader == c->node) {
		struct ks__rcmd cmd;
		if (register_cmds(c, c->node, c->eps, c->neps, &cmd) == 0) {
			if (submit_wait(c, &cmd, 3000) == 0)
				set_reg_index(c, applied_index(c));
			free(cmd.p);
		}
	} else {
		kp_broker_registration_req_t req;
		kp_broker_registration_resp_t resp;
		kp_broker_listener_t ls[KS__R_MAX_ENDPOINTS];
		kc_resp_t keep;
		int32_t i;

		memset(&req, 0, sizeof req);
		memset(ls, 0, sizeof ls);
		for (i = 0; i < c->neps; i++) {
			ls[i].name = kp_cstr(c->eps[i].scheme);
			ls[i].host = kp_cstr(c->eps[i].host);
			ls[i].port = c->eps[i].port;
			ls[i].security_protocol =
			    strcmp(c->eps[i].scheme, "tcp") ? 1 : 0;
		}
		req.broker_id = c->node;
		req.cluster_id = kp_cstr("kstream");
		memcpy(req.incarnation_id, &c, sizeof c < 16 ? sizeof c : 16);
		req.n_listeners = c->neps;
		req.listeners = ls;
		req.rack = kp_cstr(NULL);
		memset(&keep, 0, sizeof keep);
		memset(&resp, 0, sizeof resp);
		if (ctl_rpc(c, leader, KP_BROKER_REGISTRATION, &req, &resp,
		    sizeof resp, &keep) == 0 && resp.error_code == 0 &&
		    resp.broker_epoch > 0)
			set_reg_index(c, (uint64_t)resp.broker_epoch);
		kc_resp_free(&keep);
	}
}

static void do_heartbeat(struct ks_cluster *c, int32_t leader)
{
	if (leader == c->node)
		ks__ctl_heartbeat(c->ctl, c->node);
	else
		send_heartbeat(c, leader, false);
}

static void *heartbeat_main(void *arg)
{
	struct ks_cluster *c = arg;

	for (;;) {
		int32_t leader = ks__ctl_leader(c->ctl);

		if (leader >= 0) {
			uint64_t reg;
			pthread_mutex_lock(&c->mu);
			reg = c->reg_index;
			pthread_mutex_unlock(&c->mu);
			if (!reg || !registered_as_now(c))
				do_register(c, leader);
			do_heartbeat(c, leader);
		}
		pthread_mutex_lock(&c->mu);
		if (!c->stop)
			ks__rcluster_wait(c, leader >= 0 ?
			    c->cfg.heartbeat_interval_ms : 50);
		if (c->stop) {
			pthread_mutex_unlock(&c->mu);
			break;
		}
		pthread_mutex_unlock(&c->mu);
	}
	return NULL;
}

/* ---- the controller's side of the controller APIs --------------------------- */

/* Submits cmd and waits (up to 5 s) until it is applied: for requests
 * whose answer must see their effect (CreateTopics). */
struct waitsub {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, rc, refs;
};

static void waitsub_put(struct waitsub *w)
{
	int last;

	pthread_mutex_lock(&w->mu);
	last = --w->refs == 0;
	pthread_mutex_unlock(&w->mu);
	if (last) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
	}
}

static void waitsub_done(void *arg, int rc)
{
	struct waitsub *w = arg;

	pthread_mutex_lock(&w->mu);
	w->done = 1;
	w->rc = rc;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	waitsub_put(w);
}

static int submit_wait(struct ks_cluster *c, const struct ks__rcmd *cmd,
    int timeout_ms)
{
	struct waitsub *w = calloc(1, sizeof *w);
	struct timespec ts;
	int rc;

	if (!w)
		return KS_ENOMEM;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->refs = 2;
	if ((rc = ks__ctl_submit(c->ctl, cmd, waitsub_done, w)) != 0) {
		w->refs = 1;
		waitsub_put(w);
		return rc;
	}
	abstime_in(&ts, timeout_ms);
	pthread_mutex_lock(&w->mu);
	while (!w->done && pthread_cond_timedwait(&w->cv, &w->mu, &ts) == 0)
		;
	rc = w->done ? w->rc : KS_ETIMEDOUT;
	pthread_mutex_unlock(&w->mu);
	waitsub_put(w);
	return rc;
}

/*
 * The end of a request the controller answers once applied (CreateTopics,
 * DeleteTopics, CreatePartitions): cmd, made only if code is 0, is dropped
 * if the request only validates, else submitted, waited for (5 s) and
 * freed. The Kafka code to answer, and why into *msg if msg.
 */
static int16_t commit_cmd(struct ks_cluster *c, struct ks__rcmd *cmd,
    int16_t code, int validate_only, const char **msg)
{
	int rc;

	if (code || validate_only) {
		if (!code)
			free(cmd->p);
		return code;
	}
	rc = submit_wait(c, cmd, 5000);
	free(cmd->p);
	if (rc == 0)
		return 0;
	if (rc == KS_EBUSY) {
		if (msg)
			*msg = "not the active controller";
		return KP_NOT_CONTROLLER;
	}
	if (msg)
		*msg = "the controller did not commit the topic in time";
	return KP_REQUEST_TIMED_OUT;
}

static int h_registration(struct ks_cluster *c, kp_io_t *in, kp_io_t *out)
{
	kp_broker_registration_req_t req;
	kp_broker_registration_resp_t resp;
	struct ks__rendpoint eps[KS__R_MAX_ENDPOINTS];
	struct ks__rcmd cmd;
	int32_t i, n = 0;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_broker_registration_req(in, &req)) != 0)
		return rc;
	memset(&resp, 0, sizeof resp);
	resp.broker_epoch = -1;
	memset(eps, 0, sizeof eps);
	for (i = 0; i < req.n_listeners && n < KS__R_MAX_ENDPOINTS; i++) {
		const kp_broker_listener_t *l = &req.listeners[i];
		if (!l->name.s || !l->host.s ||
		    strlen(l->name.s) >= sizeof eps[n].scheme ||
		    strlen(l->host.s) >= sizeof eps[n].host)
			continue;
		strcpy(eps[n].scheme, l->name.s);
		strcpy(eps[n].host, l->host.s);
		eps[n++].port = l->port;
	}
	if (req.broker_id < 0 || n == 0)
		resp.error_code = KP_INVALID_REQUEST;
	else if (register_cmds(c, req.broker_id, eps, n, &cmd) == 0) {
		/* Answered once applied, with an index at or after it (the
		 * broker epoch): the member acts on no older image. A short
		 * wait on the loop: one Raft round on this network. */
		ks__ctl_heartbeat(c->ctl, req.broker_id);
		rc = submit_wait(c, &cmd, 2000);
		if (rc == 0)
			resp.broker_epoch = (int64_t)applied_index(c);
		else
			resp.error_code = rc == KS_EBUSY ? KP_NOT_CONTROLLER :
			    KP_REQUEST_TIMED_OUT;
		free(cmd.p);
	} else {
		resp.error_code = KP_UNKNOWN_SERVER_ERROR;
	}
	return kp_broker_registration_resp(out, &resp);
}

static int h_heartbeat(struct ks_cluster *c, kp_io_t *in, kp_io_t *out)
{
	kp_broker_heartbeat_req_t req;
	kp_broker_heartbeat_resp_t resp;
	struct ks__rimage *img;
	const struct ks__rbroker *b;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_broker_heartbeat_req(in, &req)) != 0)
		return rc;
	memset(&resp, 0, sizeof resp);
	if (req.want_fence || req.want_shut_down) {
		/* a controlled shutdown: its partitions move now */
		struct ks__rcmd cmd;
		if (ks__rcmd_fence(&cmd, req.broker_id) == 0 &&
		    submit_free(c, &cmd) != 0)
			resp.error_code = KP_NOT_CONTROLLER;
		resp.is_fenced = true;
		resp.should_shut_down = req.want_shut_down;
	} else {
		ks__ctl_heartbeat(c->ctl, req.broker_id);
		img = ks__ctl_image(c->ctl);
		b = ks__rimage_broker(img, req.broker_id);
		resp.is_caught_up = true;
		resp.is_fenced = !b || b->fenced;
		ks__rimage_unref(img);
	}
	return kp_broker_heartbeat_resp(out, &resp);
}

static int h_alter_partition(struct ks_cluster *c, kp_io_t *in,
    kp_io_t *out)
{
	kp_alter_partition_req_t req;
	kp_alter_partition_resp_t resp;
	struct ks__rimage *img;
	int32_t i, j;
	int rc;

	memset(&req, 0, sizeof req);
	if ((rc = kp_alter_partition_req(in, &req)) != 0)
		return rc;
	memset(&resp, 0, sizeof resp);
	img = ks__ctl_image(c->ctl);
	resp.n_topics = req.n_topics;
	resp.topics = kp_arena_alloc(in->arena,
	    (size_t)KS__MAX(req.n_topics, 1) * sizeof *resp.topics);
	for (i = 0; resp.topics && i < req.n_topics; i++) {
		kp_alter_partition_req_topic_t *rt = &req.topics[i];
		kp_alter_partition_resp_topic_t *t = &resp.topics[i];
		t->topic_name = rt->topic_name;
		t->n_partitions = rt->n_partitions;
		t->partitions = kp_arena_alloc(in->arena,
		    (size_t)KS__MAX(rt->n_partitions, 1) *
		    sizeof *t->partitions);
		if (!t->partitions) {
			t->n_partitions = 0;
			continue;
		}
		for (j = 0; j < rt->n_partitions; j++) {
			kp_alter_partition_req_part_t *rp = &rt->partitions[j];
			kp_alter_partition_resp_part_t *p = &t->partitions[j];
			const struct ks__rpart *mp = rt->topic_name.s ?
			    ks__rimage_part(img, rt->topic_name.s,
			    rp->partition_index) : NULL;
			struct ks__rcmd cmd;

			p->partition_index = rp->partition_index;
			if (!mp) {
				p->error_code = KP_UNKNOWN_TOPIC_OR_PARTITION;
				continue;
			}
			p->leader_id = mp->leader;
			p->leader_epoch = mp->leader_epoch;
			p->partition_epoch = mp->partition_epoch;
			if (rp->n_new_isr < 1 ||
			    rp->n_new_isr > KS_CLUSTER_MAX_REPLICAS ||
			    ks__rcmd_alter_isr(&cmd, rt->topic_name.s,
			    rp->partition_index, req.broker_id,
			    rp->leader_epoch, rp->partition_epoch,
			    rp->new_isr, rp->n_new_isr) != 0) {
				p->error_code = KP_INVALID_REQUEST;
				continue;
			}
			/* decided when applied: a stale one changes nothing */
			if (submit_free(c, &cmd) != 0)
				p->error_code = KP_NOT_CONTROLLER;
		}
	}
	ks__rimage_unref(img);
	if (!resp.topics)
		return KS_ENOMEM;
	return kp_alter_partition_resp(out, &resp);
}

/* ---- the server's hooks ------------------------------------------------- */

static int caught_up(struct ks_cluster *c);

/* n zeroed elements from arena (at least one, so that none is not taken
 * for a failed allocation). */
static void *aalloc(kp_arena_t *arena, size_t n, size_t size)
{
	return kp_arena_alloc(arena, (n ? n : 1) * size);
}

static char *adup(kp_arena_t *arena, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = kp_arena_alloc(arena, n);

	if (d)
		memcpy(d, s, n);
	return d;
}

/* Metadata from a member that knows no leader: every topic asked is
 * LEADER_NOT_AVAILABLE (clients ask again), the full listing empty. */
static int no_metadata(const kp_metadata_req_t *req, kp_metadata_resp_t *m,
    kp_arena_t *arena)
{
	int32_t i;

	m->controller_id = -1;
	if (req->n_topics < 0)
		return 0;
	m->n_topics = req->n_topics;
	if (!(m->topics = aalloc(arena, (size_t)req->n_topics,
	    sizeof *m->topics)))
		return KS_ENOMEM;
	for (i = 0; i < req->n_topics; i++) {
		m->topics[i].name = req->topics[i];
		m->topics[i].error_code = KP_LEADER_NOT_AVAILABLE;
	}
	return 0;
}

/* The live members: registered and not fenced. */
static int live(const struct ks__rbroker *b)
{
	return b->registered && !b->fenced;
}

static int32_t nlive(const struct ks__rimage *img)
{
	int32_t i, n = 0;

	for (i = 0; i < img->nbrokers; i++)
		n += live(&img->brokers[i]);
	return n;
}

static int fill_topic(const struct ks__rimage *img, const char *name,
    kp_metadata_topic_t *mt, kp_arena_t *arena)
{
	const struct ks__rtopic *t = ks__rimage_topic(img, name);
	int32_t p, i;

	mt->name = kp_cstr(adup(arena, name));
	if (!mt->name.s)
		return KS_ENOMEM;
	mt->is_internal = name[0] == '_' && name[1] == '_';
	if (!t) {
		mt->error_code = KP_UNKNOWN_TOPIC_OR_PARTITION;
		return 0;
	}
	mt->n_partitions = t->nparts;
	if (!(mt->partitions = aalloc(arena, (size_t)t->nparts,
	    sizeof *mt->partitions)))
		return KS_ENOMEM;
	for (p = 0; p < t->nparts; p++) {
		const struct ks__rpart *mp = &t->parts[p];
		kp_metadata_part_t *o = &mt->partitions[p];
		o->partition = p;
		o->leader_id = mp->leader;
		o->error_code = mp->leader < 0 ? KP_LEADER_NOT_AVAILABLE : 0;
		o->replicas = aalloc(arena, (size_t)mp->nreplicas,
		    sizeof(int32_t));
		o->isr = aalloc(arena, (size_t)mp->nisr,
		    sizeof(int32_t));
		o->offline = aalloc(arena, (size_t)mp->nreplicas,
		    sizeof(int32_t));
		if (!o->replicas || !o->isr || !o->offline)
			return KS_ENOMEM;
		o->n_replicas = mp->nreplicas;
		memcpy(o->replicas, mp->replicas,
		    (size_t)mp->nreplicas * sizeof(int32_t));
		o->n_isr = mp->nisr;
		memcpy(o->isr, mp->isr, (size_t)mp->nisr * sizeof(int32_t));
		for (i = 0; i < mp->nreplicas; i++) {
			const struct ks__rbroker *b =
			    ks__rimage_broker(img, mp->replicas[i]);
			if (!b || !live(b))
				o->offline[o->n_offline++] = mp->replicas[i];
		}
	}
	return 0;
}

/* Under the controller's lock-free image: a CREATE_TOPIC for name. */
static int16_t create_cmd(struct ks_cluster *c, const struct ks__rimage *img,
    const char *name, int32_t nparts, int32_t rf, const char *configs,
    struct ks__rcmd *cmd, const char **msg)
{
	int32_t *reps;
	int16_t code = 0;

	if (rf == -1)
		rf = c->cfg.default_replication_factor;
	if (rf == -1)
		rf = KS__MIN(3, nlive(img));
	if (nparts < 1) {
		*msg = "the partition count must be at least 1";
		return KP_INVALID_PARTITIONS;
	}
	if (rf < 1 || rf > KS_CLUSTER_MAX_REPLICAS || rf > nlive(img)) {
		*msg = "replication factor larger than the live members";
		return KP_INVALID_REPLICATION_FACTOR;
	}
	if (!(reps = malloc((size_t)nparts * (size_t)rf * sizeof *reps)))
		return KP_UNKNOWN_SERVER_ERROR;
	if (ks__rassign(img, 0, nparts, rf, reps) != 0 ||
	    ks__rcmd_create_topic(cmd, name, configs ? configs : "", nparts,
	    rf, reps) != 0) {
		code = KP_INVALID_REPLICATION_FACTOR;
		*msg = "cannot place the replicas";
	}
	free(reps);
	return code;
}

static int16_t h_create_topic(void *arg, const char *name, int32_t nparts,
    int32_t rf, const char *configs, int validate_only, const char **msg)
{
	struct ks_cluster *c = arg;
	struct ks__rimage *img;
	struct ks__rcmd cmd;
	int16_t code;

	*msg = NULL;
	if (!name || !ks__topic_name_ok(name)) {
		*msg = "topic names are 1 to 249 of [a-zA-Z0-9._-]";
		return KP_INVALID_TOPIC_EXCEPTION;
	}
	if (strcmp(name, KS__R_OFFSETS) == 0) {
		/* the cluster makes it itself (offsets_topic) */
		*msg = "__consumer_offsets is internal";
		return KP_INVALID_REQUEST;
	}
	if (ks__ctl_leader(c->ctl) != c->node) {
		*msg = "not the active controller";
		return KP_NOT_CONTROLLER;
	}
	img = ks__ctl_image(c->ctl);
	if (ks__rimage_topic(img, name)) {
		ks__rimage_unref(img);
		*msg = "topic already exists";
		return KP_TOPIC_ALREADY_EXISTS;
	}
	code = create_cmd(c, img, name, nparts, rf, configs, &cmd, msg);
	ks__rimage_unref(img);
	return commit_cmd(c, &cmd, code, validate_only, msg);
}

static int h_metadata(void *arg, const char *scheme, int auto_create,
    const kp_metadata_req_t *req, kp_metadata_resp_t *m, kp_arena_t *arena)
{
	struct ks_cluster *c = arg;
	struct ks__rimage *img;
	int32_t i, n = 0;
	int rc = 0;

	/* not caught up: no topic is known to be absent */
	if (!caught_up(c))
		return no_metadata(req, m, arena);
	img = ks__ctl_image(c->ctl);
	m->controller_id = ks__ctl_leader(c->ctl);
	m->brokers = aalloc(arena, (size_t)img->nbrokers,
	    sizeof *m->brokers);
	for (i = 0; m->brokers && i < img->nbrokers; i++) {
		const struct ks__rbroker *b = &img->brokers[i];
		const struct ks__rendpoint *ep;
		if (!live(b) || !(ep = ks__rimage_endpoint(img, b->id,
		    scheme)))
			continue;
		m->brokers[n].node_id = b->id;
		m->brokers[n].host = kp_cstr(adup(arena, ep->host));
		m->brokers[n].port = ep->port;
		m->brokers[n].rack = kp_cstr(NULL);
		if (!m->brokers[n++].host.s)
			rc = KS_ENOMEM;
	}
	m->n_brokers = n;
	if (!m->brokers)
		rc = KS_ENOMEM;
	if (rc == 0 && req->n_topics < 0) {
		m->n_topics = img->ntopics;
		m->topics = aalloc(arena, (size_t)img->ntopics,
		    sizeof *m->topics);
		for (i = 0; m->topics && rc == 0 && i < img->ntopics; i++)
			rc = fill_topic(img, img->topics[i].name,
			    &m->topics[i], arena);
	} else if (rc == 0) {
		m->n_topics = req->n_topics;
		m->topics = aalloc(arena, (size_t)req->n_topics,
		    sizeof *m->topics);
		for (i = 0; m->topics && rc == 0 && i < req->n_topics; i++) {
			const char *name = req->topics[i].s ?
			    req->topics[i].s : "";
			rc = fill_topic(img, name, &m->topics[i], arena);
			if (rc == 0 && m->topics[i].error_code ==
			    KP_UNKNOWN_TOPIC_OR_PARTITION && auto_create &&
			    req->allow_auto_topic_creation &&
			    ks__ctl_leader(c->ctl) == c->node) {
				struct ks__rcmd cmd;
				const char *msg;
				if (create_cmd(c, img, name,
				    ks__kafka_server_partitions(c->srv), -1, NULL, &cmd, &msg) == 0) {
					submit_free(c, &cmd);
					m->topics[i].error_code =
					    KP_LEADER_NOT_AVAILABLE;
				}
			}
		}
	}
	if (rc == 0 && !m->topics)
		rc = KS_ENOMEM;
	ks__rimage_unref(img);
	return rc;
}

/* The replica, or the Kafka code for its absence. */
/*
 * Whether this process has caught up with the cluster: its registration
 * is in the image the reconciler applied. Before that it serves nothing:
 * its store and its own Raft log may hold the roles of before its
 * restart (Kafka's brokers wait for the metadata log likewise).
 */
static int caught_up_locked(struct ks_cluster *c)
{
	return c->reg_index && c->img && c->img->applied >= c->reg_index;
}

static int caught_up(struct ks_cluster *c)
{
	int ok;

	pthread_mutex_lock(&c->mu);
	ok = caught_up_locked(c);
	pthread_mutex_unlock(&c->mu);
	return ok;
}

/* The replica with a reference, or the Kafka code for its absence; one
 * trip through c->mu (the Produce and Fetch paths call it per partition). */
static struct ks__rreplica *replica_or(struct ks_cluster *c,
    const char *topic, int32_t p, int16_t *code)
{
	struct ks__rreplica *rp = NULL;
	struct ks__rimage *img;
	int ready, found = 0;
	size_t i;

	pthread_mutex_lock(&c->mu);
	if ((ready = caught_up_locked(c)) && topic) {
		i = rep_find(c, topic, p, &found);
		if (found) {
			rp = c->reps[i];
			ks__rreplica_get(rp);
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (!ready) {
		*code = KP_NOT_LEADER_OR_FOLLOWER;
		return NULL;
	}
	if (rp)
		return rp;
	img = ks__ctl_image(c->ctl);
	*code = topic && ks__rimage_part(img, topic, p) ?
	    KP_NOT_LEADER_OR_FOLLOWER : KP_UNKNOWN_TOPIC_OR_PARTITION;
	ks__rimage_unref(img);
	return NULL;
}

static int16_t h_produce_check(void *arg, const char *topic, int32_t p,
    int16_t acks)
{
	struct ks_cluster *c = arg;
	int16_t code = 0;
	struct ks__rreplica *rp = replica_or(c, topic, p, &code);

	if (rp) {
		code = ks__rreplica_produce_check(rp, acks);
		ks__rreplica_put(rp);
	}
	return code;
}

static int h_await_hw(void *arg, const char *topic, int32_t p,
    int64_t last, int32_t timeout_ms, ks__khw_done_fn *done, void *darg)
{
	struct ks_cluster *c = arg;
	int16_t code = 0;
	struct ks__rreplica *rp = replica_or(c, topic, p, &code);
	int r = code;

	if (rp) {
		r = ks__rreplica_await(c, rp, last, timeout_ms, done, darg);
		ks__rreplica_put(rp);
	}
	return r;
}

static int16_t h_fetch_check(void *arg, const char *topic, int32_t p,
    int32_t replica_id, int32_t cur_epoch, int64_t fetch_offset,
    int64_t *hw, int64_t *limit)
{
	struct ks_cluster *c = arg;
	int16_t code = 0;
	struct ks__rreplica *rp = replica_or(c, topic, p, &code);

	if (rp) {
		code = ks__rreplica_fetch_check(c, rp, replica_id, cur_epoch,
		    fetch_offset, hw, limit);
		ks__rreplica_put(rp);
	}
	return code;
}

static int16_t h_epoch_end(void *arg, const char *topic, int32_t p,
    int32_t cur_epoch, int32_t epoch, int32_t *epoch_out, int64_t *end)
{
	struct ks_cluster *c = arg;
	int16_t code = 0;
	struct ks__rreplica *rp = replica_or(c, topic, p, &code);

	*epoch_out = -1;
	*end = -1;
	if (rp) {
		code = ks__rreplica_epoch_end(rp, cur_epoch, epoch, epoch_out,
		    end);
		ks__rreplica_put(rp);
	}
	return code;
}

static int16_t h_delete_topic(void *arg, const char *name)
{
	struct ks_cluster *c = arg;
	struct ks__rcmd cmd;

	if (ks__ctl_leader(c->ctl) != c->node)
		return KP_NOT_CONTROLLER;
	if (!name || !knows_topic(c, name))
		return KP_UNKNOWN_TOPIC_OR_PARTITION;
	if (ks__rcmd_delete_topic(&cmd, name) != 0)
		return KP_UNKNOWN_SERVER_ERROR;
	return commit_cmd(c, &cmd, 0, 0, NULL);
}

static int16_t h_create_partitions(void *arg, const char *name,
    int32_t count, int validate_only, const char **msg)
{
	struct ks_cluster *c = arg;
	const struct ks__rtopic *t;
	struct ks__rimage *img;
	struct ks__rcmd cmd;
	int32_t *reps = NULL, rf, nnew;
	int16_t code = 0;

	*msg = NULL;
	if (ks__ctl_leader(c->ctl) != c->node) {
		*msg = "not the active controller";
		return KP_NOT_CONTROLLER;
	}
	img = ks__ctl_image(c->ctl);
	if (!name || !(t = ks__rimage_topic(img, name))) {
		ks__rimage_unref(img);
		return KP_UNKNOWN_TOPIC_OR_PARTITION;
	}
	rf = t->nparts ? t->parts[0].nreplicas : 1;
	nnew = count - t->nparts;
	if (nnew <= 0) {
		*msg = "the partition count can only grow";
		code = KP_INVALID_PARTITIONS;
	} else if (rf > nlive(img)) {
		*msg = "replication factor larger than the live members";
		code = KP_INVALID_REPLICATION_FACTOR;
	} else if (!(reps = malloc((size_t)nnew * (size_t)rf *
	    sizeof *reps)) || ks__rassign(img, t->nparts, nnew, rf, reps) ||
	    ks__rcmd_create_partitions(&cmd, name, nnew, rf, reps)) {
		code = KP_UNKNOWN_SERVER_ERROR;
	}
	free(reps);
	ks__rimage_unref(img);
	return commit_cmd(c, &cmd, code, validate_only, NULL);
}

static int16_t h_coordinator(void *arg, const char *scheme, int32_t *node,
    char *host, size_t hostlen, int32_t *port)
{
	struct ks_cluster *c = arg;
	struct ks__rimage *img = ks__ctl_image(c->ctl);
	const struct ks__rpart *mp = ks__rimage_part(img, KS__R_OFFSETS, 0);
	const struct ks__rendpoint *ep = NULL;

	/* every group: the leader of the offsets topic's partition */
	if (mp && mp->leader >= 0 &&
	    (ep = ks__rimage_endpoint(img, mp->leader, scheme))) {
		*node = mp->leader;
		snprintf(host, hostlen, "%s", ep->host);
		*port = ep->port;
	}
	ks__rimage_unref(img);
	return ep ? 0 : KP_COORDINATOR_NOT_AVAILABLE;
}

static int h_is_coordinator(void *arg)
{
	struct ks_cluster *c = arg;

	return atomic_load(&c->coordinating);
}

/* The controller's APIs answered NOT_CONTROLLER: on a member that is not
 * the active controller, or has left (arg unused). */
static int not_controller(void *arg, int16_t api, kp_io_t *in, kp_io_t *out)
{
	union {
		kp_broker_registration_req_t reg;
		kp_broker_heartbeat_req_t hb;
		kp_alter_partition_req_t ap;
	} req;
	union {
		kp_broker_registration_resp_t reg;
		kp_broker_heartbeat_resp_t hb;
		kp_alter_partition_resp_t ap;
	} resp;
	int rc;

	memset(&req, 0, sizeof req);
	memset(&resp, 0, sizeof resp);
	switch (api) {
	case KP_BROKER_REGISTRATION:
		if ((rc = kp_broker_registration_req(in, &req.reg)) != 0)
			return rc;
		resp.reg.error_code = KP_NOT_CONTROLLER;
		resp.reg.broker_epoch = -1;
		return kp_broker_registration_resp(out, &resp.reg);
	case KP_BROKER_HEARTBEAT:
		if ((rc = kp_broker_heartbeat_req(in, &req.hb)) != 0)
			return rc;
		resp.hb.error_code = KP_NOT_CONTROLLER;
		return kp_broker_heartbeat_resp(out, &resp.hb);
	case KP_ALTER_PARTITION:
		if ((rc = kp_alter_partition_req(in, &req.ap)) != 0)
			return rc;
		resp.ap.error_code = KP_NOT_CONTROLLER;
		return kp_alter_partition_resp(out, &resp.ap);
	}
	return KS_EINVAL;
}

static int h_controller_request(void *arg, int16_t api, kp_io_t *in,
    kp_io_t *out)
{
	struct ks_cluster *c = arg;

	if (ks__ctl_leader(c->ctl) != c->node)
		return not_controller(arg, api, in, out);
	switch (api) {
	case KP_BROKER_REGISTRATION:
		return h_registration(c, in, out);
	case KP_BROKER_HEARTBEAT:
		return h_heartbeat(c, in, out);
	case KP_ALTER_PARTITION:
		return h_alter_partition(c, in, out);
	}
	return KS_EINVAL;
}

static const struct ks__kcluster_ops ops = {
	.metadata = h_metadata,
	.produce_check = h_produce_check,
	.await_hw = h_await_hw,
	.fetch_check = h_fetch_check,
	.epoch_end = h_epoch_end,
	.create_topic = h_create_topic,
	.delete_topic = h_delete_topic,
	.create_partitions = h_create_partitions,
	.coordinator = h_coordinator,
	.controller_request = h_controller_request,
	.is_coordinator = h_is_coordinator,
};

/* ---- lifecycle ---------------------------------------------------------- */

/* This member's endpoints, from the server's listeners (unix ones are
 * not reachable by other members). */
static int endpoints(struct ks_cluster *c)
{
	char url[600];
	int i;

	for (i = 0; c->neps < KS__R_MAX_ENDPOINTS &&
	    ks_kafka_server_url(c->srv, i, url, sizeof url) == 0; i++) {
		struct ks__rendpoint *ep = &c->eps[c->neps];
		ks_url_t u;
		if (ks_url_parse(url, &u) != 0 || !strcmp(u.scheme, "unix") ||
		    strlen(u.scheme) >= sizeof ep->scheme ||
		    strlen(u.host) >= sizeof ep->host)
			continue;
		memset(ep, 0, sizeof *ep);
		strcpy(ep->scheme, u.scheme);
		/* a wildcard address is no address to be reached at */
		strcpy(ep->host, !strcmp(u.host, "0.0.0.0") ||
		    !strcmp(u.host, "::") ? "127.0.0.1" : u.host);
		ep->port = u.port;
		if (c->neps == 0) /* ep->scheme's length was checked */
			memcpy(c->scheme, ep->scheme, sizeof c->scheme);
		c->neps++;
	}
	return c->neps ? 0 : KS_EINVAL;
}

static void cluster_release(struct ks_cluster *c)
{
	int i;

	for (i = 0; i < KC_TLS_STRS; i++)
		free(c->tls_strs[i]);
	free(c->voters);
	free(c->raft_dir);
	pthread_mutex_destroy(&c->ctl_mu);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int ks_cluster_new(ks_kafka_server_t *srv, const ks_cluster_config_t *cfg,
    ks_cluster_t **cp)
{
	struct ks__ctl_config cc;
	struct ks_cluster *c;
	char dir[4096];
	int rc;

	if (!srv || !cfg || !cp || !cfg->voters || cfg->node_id < 0)
		return KS_EINVAL;
	*cp = NULL;
	if (!(c = calloc(1, sizeof *c)))
		return KS_ENOMEM;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	pthread_mutex_init(&c->ctl_mu, NULL);
	c->srv = srv;
	c->store = ks__kafka_server_store(srv);
	c->node = cfg->node_id;
	c->cfg = *cfg;
	c->ctl_conn_id = -1;
	c->coord_epoch = -2;
	atomic_init(&c->coordinating, 0);
	c->log_cb = cfg->log_cb ? cfg->log_cb : c->store->cfg.log_cb;
	c->log_opaque = cfg->log_cb ? cfg->log_opaque :
	    c->store->cfg.log_opaque;
	if (cfg->raft_dir)
		snprintf(dir, sizeof dir, "%s", cfg->raft_dir);
	else
		snprintf(dir, sizeof dir, "%s/__cluster_metadata",
		    ks_store_dir(c->store));
	c->voters = strdup(cfg->voters);
	c->raft_dir = strdup(dir);
	rc = !c->voters || !c->raft_dir ? KS_ENOMEM : 0;
	if (rc == 0 && cfg->tls) {
		c->have_tls = 1;
		rc = kc_tls_copy(&c->tls, c->tls_strs, cfg->tls);
	}
	c->cfg.voters = c->voters;
	c->cfg.raft_dir = c->raft_dir;
	c->cfg.tls = c->have_tls ? &c->tls : NULL;
	if (rc == 0 && ks__kafka_server_node(srv) != c->node) {
		KS__RLOG(c, KS_LOG_ERR, "cluster: node.id %d but the server "
		    "is node %d", (int)c->node,
		    (int)ks__kafka_server_node(srv));
		rc = KS_EINVAL;
	}
	if (rc == 0 && (rc = endpoints(c)) != 0)
		KS__RLOG(c, KS_LOG_ERR, "cluster: the server has no TCP "
		    "listener to be reached at");
	if (rc) {
		cluster_release(c);
		return rc;
	}
	memset(&cc, 0, sizeof cc);
	cc.node_id = c->node;
	cc.voters = c->voters;
	cc.dir = c->raft_dir;
	cc.election_timeout_ms = cfg->election_timeout_ms;
	cc.session_timeout_ms = cfg->session_timeout_ms;
	cc.log_cb = c->log_cb;
	cc.log_opaque = c->log_opaque;
	cc.changed = on_changed;
	cc.arg = c;
	if ((rc = ks__ctl_start(&cc, &c->ctl)) != 0) {
		cluster_release(c);
		return rc;
	}
	ks__kafka_server_set_cluster(srv, &ops, c);
	if (pthread_create(&c->reconciler, NULL, reconciler_main, c) == 0)
		c->threads++;
	if (c->threads == 1 &&
	    pthread_create(&c->heartbeater, NULL, heartbeat_main, c) == 0)
		c->threads++;
	if (c->threads != 2) {
		ks_cluster_free(c);
		return KS_ENOMEM;
	}
	KS__RLOG(c, KS_LOG_INFO, "cluster: member %d started (voters %s)",
	    (int)c->node, c->voters);
	*cp = c;
	return 0;
}

/* ---- a member that left ---------------------------------------------- */

/*
 * The hooks of a server whose member has left (ks_cluster_free): it leads
 * nothing and knows no one. A server that was a member never goes back to
 * answering alone: its store holds replicas whose leaders are elsewhere,
 * and an acknowledgement from it would be one no other replica has.
 */
static int gone_metadata(void *arg, const char *scheme, int auto_create,
    const kp_metadata_req_t *req, kp_metadata_resp_t *m, kp_arena_t *arena)
{
	return no_metadata(req, m, arena);
}

static int16_t gone_produce(void *arg, const char *topic, int32_t p,
    int16_t acks)
{
	return KP_NOT_LEADER_OR_FOLLOWER;
}

static int gone_await(void *arg, const char *topic, int32_t p, int64_t last,
    int32_t timeout_ms, ks__khw_done_fn *done, void *darg)
{
	return KP_NOT_LEADER_OR_FOLLOWER;
}

static int16_t gone_fetch(void *arg, const char *topic, int32_t p,
    int32_t replica_id, int32_t cur_epoch, int64_t fetch_offset,
    int64_t *hw, int64_t *limit)
{
	return KP_NOT_LEADER_OR_FOLLOWER;
}

static int16_t gone_epoch(void *arg, const char *topic, int32_t p,
    int32_t cur_epoch, int32_t epoch, int32_t *epoch_out, int64_t *end)
{
	*epoch_out = -1;
	*end = -1;
	return KP_NOT_LEADER_OR_FOLLOWER;
}

static int16_t gone_create(void *arg, const char *name, int32_t nparts,
    int32_t rf, const char *configs, int validate_only, const char **msg)
{
	*msg = "this member has left the cluster";
	return KP_NOT_CONTROLLER;
}

static int16_t gone_delete(void *arg, const char *name)
{
	return KP_NOT_CONTROLLER;
}

static int16_t gone_partitions(void *arg, const char *name, int32_t count,
    int validate_only, const char **msg)
{
	*msg = "this member has left the cluster";
	return KP_NOT_CONTROLLER;
}

static int16_t gone_coordinator(void *arg, const char *scheme,
    int32_t *node, char *host, size_t hostlen, int32_t *port)
{
	return KP_COORDINATOR_NOT_AVAILABLE;
}

static int gone_is_coordinator(void *arg)
{
	return 0;
}

static const struct ks__kcluster_ops gone_ops = {
	.metadata = gone_metadata,
	.produce_check = gone_produce,
	.await_hw = gone_await,
	.fetch_check = gone_fetch,
	.epoch_end = gone_epoch,
	.create_topic = gone_create,
	.delete_topic = gone_delete,
	.create_partitions = gone_partitions,
	.coordinator = gone_coordinator,
	.controller_request = not_controller,
	.is_coordinator = gone_is_coordinator,
};

static void poll_nap(void);

/* Until the image shows this member fenced, or ms pass. */
static void wait_fenced(struct ks_cluster *c, int ms)
{
	int64_t end = ks__rnow_ms() + ms;

	while (ks__rnow_ms() < end) {
		struct ks__rimage *img = ks__ctl_image(c->ctl);
		const struct ks__rbroker *b = ks__rimage_broker(img, c->node);
		int fenced = !b || b->fenced;
		ks__rimage_unref(img);
		if (fenced)
			return;
		poll_nap();
	}
}

/*
 * A controlled shutdown (Kafka's): the member stops serving, then asks
 * the active controller to fence it, so that its partitions move to their
 * in-sync followers now rather than after broker.session.timeout.ms.
 */
static void leave(struct ks_cluster *c)
{
	int32_t leader = ks__ctl_leader(c->ctl);
	struct ks__rcmd cmd;
	size_t i;

	for (i = 0; i < c->nreps; i++)
		stop_serving(c, c->reps[i]);
	if (leader < 0 || !c->reg_index)
		return;
	if (leader == c->node) {
		if (ks__rcmd_fence(&cmd, c->node) == 0)
			submit_free(c, &cmd);
	} else {
		send_heartbeat(c, leader, true);
	}
	wait_fenced(c, 2000);
}

void ks_cluster_free(ks_cluster_t *c)
{
	size_t i;

	if (!c)
		return;
	/* from here the server serves nothing: no acknowledgement of a
	 * write its followers may not get */
	ks__kafka_server_set_cluster(c->srv, &gone_ops, NULL);
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (c->threads > 0)
		pthread_join(c->reconciler, NULL);
	if (c->threads > 1)
		pthread_join(c->heartbeater, NULL);
	leave(c);
	ks__rfetchers_stop(c);
	/* the store's coordinator serves alone again, from what its log has */
	if (c->coord_epoch != -2 && !atomic_load(&c->coordinating))
		ks__coordinator_activate(ks_store_coordinator(c->store), 1);
	ks__ctl_stop(c->ctl);
	pthread_mutex_lock(&c->ctl_mu);
	kc_cluster_free(c->ctl_conn);
	c->ctl_conn = NULL;
	pthread_mutex_unlock(&c->ctl_mu);
	for (i = 0; i < c->nreps; i++)
		ks__rreplica_put(c->reps[i]);
	free(c->reps);
	ks__rimage_unref(c->img);
	cluster_release(c);
}

/* ---- inspection ---------------------------------------------------------- */

int32_t ks_cluster_controller(ks_cluster_t *c)
{
	return c ? ks__ctl_leader(c->ctl) : -1;
}

int ks_cluster_partition(ks_cluster_t *c, const char *topic, int32_t p,
    ks_cluster_partition_t *out)
{
	struct ks__rimage *img;
	const struct ks__rpart *mp;
	struct ks__rreplica *rp;

	if (!c || !topic || !out)
		return KS_EINVAL;
	img = ks__ctl_image(c->ctl);
	if (!(mp = ks__rimage_part(img, topic, p))) {
		ks__rimage_unref(img);
		return KS_ETOPIC;
	}
	memset(out, 0, sizeof *out);
	out->leader = mp->leader;
	out->leader_epoch = mp->leader_epoch;
	out->nreplicas = mp->nreplicas;
	out->nisr = mp->nisr;
	memcpy(out->replicas, mp->replicas, sizeof out->replicas);
	memcpy(out->isr, mp->isr, sizeof out->isr);
	ks__rimage_unref(img);
	out->high_watermark = out->log_end_offset = -1;
	if ((rp = ks__rcluster_replica(c, topic, p))) {
		pthread_mutex_lock(&rp->mu);
		out->high_watermark = rp->hw;
		out->log_end_offset = ks_log_end_offset(rp->log);
		pthread_mutex_unlock(&rp->mu);
		ks__rreplica_put(rp);
	}
	return 0;
}

/* Sleeps a little while polling for a condition. */
static void poll_nap(void)
{
	struct timespec ts = { 0, 20 * 1000000L };

	nanosleep(&ts, NULL);
}

/* CreateTopics sent to the active controller. */
static int remote_create(struct ks_cluster *c, const char *topic,
    int32_t partitions, int32_t rf, const char *configs)
{
	kp_create_topics_config_t cv[64];
	kp_create_topics_req_t req;
	kp_create_topics_resp_t resp;
	kp_creatable_topic_t t;
	char buf[2048], *line, *save = NULL;
	kc_resp_t keep;
	int32_t n = 0;
	int rc;

	snprintf(buf, sizeof buf, "%s", configs);
	for (line = strtok_r(buf, "\n", &save); line && n < 64;
	    line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		cv[n].name = kp_cstr(line);
		cv[n++].value = kp_cstr(eq + 1);
	}
	memset(&t, 0, sizeof t);
	t.name = kp_cstr(topic);
	t.num_partitions = partitions > 0 ? partitions : -1;
	t.replication_factor = (int16_t)(rf > 0 ? rf : -1);
	t.n_assignments = 0;
	t.n_configs = n;
	t.configs = cv;
	memset(&req, 0, sizeof req);
	req.n_topics = 1;
	req.topics = &t;
	req.timeout_ms = 5000;
	memset(&keep, 0, sizeof keep);
	memset(&resp, 0, sizeof resp);
	rc = ctl_rpc(c, ks__ctl_leader(c->ctl), KP_CREATE_TOPICS, &req, &resp,
	    sizeof resp, &keep);
	if (rc == 0 && resp.n_topics == 1) {
		switch (resp.topics[0].error_code) {
		case 0:
			break;
		case KP_TOPIC_ALREADY_EXISTS:
			rc = KS_EEXIST;
			break;
		case KP_INVALID_TOPIC_EXCEPTION:
			rc = KS_ENAME;
			break;
		case KP_INVALID_REPLICATION_FACTOR:
		case KP_INVALID_PARTITIONS:
		case KP_INVALID_REQUEST:
			rc = KS_EINVAL;
			break;
		case KP_INVALID_CONFIG:
			rc = KS_ECONFIG;
			break;
		default:
			rc = KS_EBROKER; /* NOT_CONTROLLER...: again */
		}
		if (rc && rc != KS_EBROKER && rc != KS_EEXIST &&
		    resp.topics[0].error_message.s)
			KS__RLOG(c, KS_LOG_ERR, "cluster: topic %s: %s",
			    topic, resp.topics[0].error_message.s);
	} else if (rc == 0) {
		rc = KS_ECORRUPT;
	}
	kc_resp_free(&keep);
	return rc;
}

int ks_cluster_topic_create(ks_cluster_t *c, const char *topic,
    int32_t partitions, int32_t replication_factor,
    const ks_topic_config_t *cfg, int timeout_ms)
{
	int64_t deadline = ks__rnow_ms() + KS__MAX(timeout_ms, 0);
	char configs[2048] = "";
	const char *msg;
	int16_t code;

	if (!c || !topic)
		return KS_EINVAL;
	if (cfg) {
		const char *const *names = ks_topic_config_names();
		size_t len = 0, i;
		for (i = 0; names[i]; i++) {
			char v[64];
			if (ks_topic_config_get(cfg, names[i], v,
			    sizeof v) == 0)
				len += (size_t)snprintf(configs + len,
				    len < sizeof configs ?
				    sizeof configs - len : 0, "%s=%s\n",
				    names[i], v);
		}
		if (len >= sizeof configs)
			return KS_EINVAL;
	}
	for (;;) {
		if (knows_topic(c, topic))
			return KS_EEXIST;
		if (ks__ctl_leader(c->ctl) == c->node) {
			code = h_create_topic(c, topic, partitions,
			    replication_factor, configs, 0, &msg);
		} else {
			code = KP_NOT_CONTROLLER;
		}
		if (code == 0)
			break;
		if (code == KP_INVALID_TOPIC_EXCEPTION)
			return KS_ENAME;
		if (code == KP_TOPIC_ALREADY_EXISTS)
			return KS_EEXIST;
		if (code == KP_INVALID_REPLICATION_FACTOR ||
		    code == KP_INVALID_PARTITIONS) {
			KS__RLOG(c, KS_LOG_ERR, "cluster: topic %s: %s",
			    topic, msg ? msg : "refused");
			return KS_EINVAL;
		}
		if (code == KP_NOT_CONTROLLER &&
		    ks__ctl_leader(c->ctl) >= 0) {
			/* another member leads: ask it through Kafka's
			 * CreateTopics */
			int rc = remote_create(c, topic, partitions,
			    replication_factor, configs);
			if (rc == 0)
				break;
			if (rc == KS_EEXIST || rc == KS_ENAME ||
			    rc == KS_EINVAL || rc == KS_ECONFIG)
				return rc;
		}
		if (ks__rnow_ms() >= deadline)
			return KS_ETIMEDOUT;
		poll_nap();
	}
	/* until this member knows it */
	for (;;) {
		if (knows_topic(c, topic))
			return 0;
		if (ks__rnow_ms() >= deadline)
			return KS_ETIMEDOUT;
		poll_nap();
	}
}

int ks_cluster_wait(ks_cluster_t *c, int timeout_ms)
{
	int64_t deadline = ks__rnow_ms() + KS__MAX(timeout_ms, 0);

	if (!c)
		return KS_EINVAL;
	for (;;) {
		struct ks__rimage *img = ks__ctl_image(c->ctl);
		const struct ks__rbroker *me = ks__rimage_broker(img, c->node);
		int ok = me && live(me) && ks__ctl_leader(c->ctl) >= 0;
		pthread_mutex_lock(&c->mu);
		ok = ok && c->reg_index && img->applied >= c->reg_index;
		pthread_mutex_unlock(&c->mu);
		int32_t t, p;
		for (t = 0; ok && t < img->ntopics; t++)
			for (p = 0; ok && p < img->topics[t].nparts; p++)
				ok = img->topics[t].parts[p].leader >= 0;
		ks__rimage_unref(img);
		if (ok)
			return 0;
		if (ks__rnow_ms() >= deadline)
			return KS_ETIMEDOUT;
		poll_nap();
	}
}
