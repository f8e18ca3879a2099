/*
 * check_kadmin.c: the server's admin APIs (DescribeConfigs, AlterConfigs,
 * IncrementalAlterConfigs, CreatePartitions, DeleteGroups) as clients use
 * them: librdkafka's Admin API for the first four it has, and a raw
 * loopback socket with lib/kafka's codec for IncrementalAlterConfigs
 * (which librdkafka 2.0.2 lacks) and for what librdkafka does not show
 * (flexible versions, synonyms, the broker resource's edge cases).
 *
 * Each test runs a server on a fresh store in a temp dir, on 127.0.0.1
 * port 0.
 */
#define _GNU_SOURCE
#include "kserver_util.h"
#include "util.h"

#include "kafka/msg.h"
#include "kafka/proto.h"

#include <kstream/kafka.h>
#include <librdkafka/rdkafka.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 30000

static char *dir;
static ks_store_t *store;
static ks_kafka_server_t *srv;
static char bootstrap[64];
static int port;
static kp_arena_t arena; /* decoded raw responses of one test */

static void quiet_log(void *opaque, int level, const char *msg)
{
	(void)opaque;
	if (getenv("KT_VERBOSE") || level <= KS_LOG_ERR)
		fprintf(stderr, "[kstream %d] %s\n", level, msg);
}

/*
 * A failed assertion ends the test's process without its teardown: each
 * test's directory lives under one the parent process makes and removes
 * around the whole test case.
 */
static char *base_dir;

static void base_setup(void)
{
	base_dir = kt_tmpdir("kadmin");
}

static void base_teardown(void)
{
	kt_rmrf_free(&base_dir);
}

static void setup(void)
{
	ks_store_config_t cfg;

	signal(SIGPIPE, SIG_IGN);
	dir = kt_subdir(base_dir);
	kt_store_config(&cfg, KS_STORE_CREATE, quiet_log);
	KT_OK(ks_store_open(dir, &cfg, &store));
	port = kt_kserver_start(store, NULL, &srv);
	snprintf(bootstrap, sizeof bootstrap, "127.0.0.1:%d", port);
	kp_arena_init(&arena);
}

static void teardown(void)
{
	kp_arena_free(&arena);
	kt_kserver_stop(&srv, &store, &dir);
}

/* A topic of parts partitions with the given properties (name, value
 * pairs, NULL-terminated). */
static void create(const char *name, int32_t parts, const char *const *kv)
{
	ks_topic_config_t tc;

	ks_topic_config_init(&tc);
	tc.partitions = parts;
	for (; kv && kv[0]; kv += 2)
		KT_OK(ks_topic_config_set(&tc, kv[0], kv[1]));
	KT_OK(ks_topic_create(store, name, &tc));
}

static ks_topic_config_t config_of(const char *name)
{
	ks_topic_config_t tc;
	ks_topic_t *t;

	KT_OK(ks_topic_open(store, name, &t));
	KT_OK(ks_topic_config(t, &tc));
	ks_topic_release(t);
	return tc;
}

/* ---- librdkafka ------------------------------------------------------------ */

static rd_kafka_t *rk_new(void)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

	ck_assert(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err,
	    sizeof err) == RD_KAFKA_CONF_OK);
	ck_assert(rd_kafka_conf_set(conf, "log_level",
	    getenv("KT_VERBOSE") ? "7" : "3", err, sizeof err) ==
	    RD_KAFKA_CONF_OK);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	ck_assert_msg(rk != NULL, "rd_kafka_new: %s", err);
	return rk;
}

static rd_kafka_AdminOptions_t *options(rd_kafka_t *rk,
    rd_kafka_admin_op_t op, int validate_only)
{
	rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
	char err[256];

	ck_assert(rd_kafka_AdminOptions_set_request_timeout(o, WAIT_MS, err,
	    sizeof err) == RD_KAFKA_RESP_ERR_NO_ERROR);
	if (validate_only)
		ck_assert(rd_kafka_AdminOptions_set_validate_only(o, 1, err,
		    sizeof err) == RD_KAFKA_RESP_ERR_NO_ERROR);
	return o;
}

/* The admin result event of type on q; the request itself succeeded. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q,
    rd_kafka_event_type_t type)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, WAIT_MS + 5000);

	ck_assert_msg(ev != NULL, "no admin result");
	ck_assert_int_eq(rd_kafka_event_type(ev), type);
	ck_assert_msg(rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR,
	    "admin request failed: %s", rd_kafka_event_error_string(ev));
	return ev;
}

static const rd_kafka_ConfigResource_t *find_resource(
    const rd_kafka_ConfigResource_t **rs, size_t n,
    rd_kafka_ResourceType_t type, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (rd_kafka_ConfigResource_type(rs[i]) == type &&
		    strcmp(rd_kafka_ConfigResource_name(rs[i]), name) == 0)
			return rs[i];
	ck_abort_msg("no result for %s", name);
	return NULL;
}

static const rd_kafka_ConfigEntry_t *find_entry(
    const rd_kafka_ConfigResource_t *r, const char *name)
{
	size_t n, i;
	const rd_kafka_ConfigEntry_t **es =
	    rd_kafka_ConfigResource_configs(r, &n);

	for (i = 0; i < n; i++)
		if (strcmp(rd_kafka_ConfigEntry_name(es[i]), name) == 0)
			return es[i];
	return NULL;
}

/* ---- DescribeConfigs ----------------------------------------------------------- */

START_TEST(describe_topic_configs)
{
	static const char *const kv[] = { "cleanup.policy", "compact",
		"retention.ms", "12345", NULL };
	rd_kafka_t *rk;
	rd_kafka_queue_t *q;
	rd_kafka_ConfigResource_t *res[3];
	rd_kafka_AdminOptions_t *opts;
	const rd_kafka_ConfigResource_t **out, *r;
	const rd_kafka_ConfigEntry_t *e;
	const char *const *names = ks_topic_config_names();
	rd_kafka_event_t *ev;
	size_t n, i, nnames = 0, ndefault = 0;

	create("cfg", 2, kv);
	rk = rk_new();
	q = rd_kafka_queue_new(rk);
	res[0] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, "cfg");
	res[1] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, "nope");
	res[2] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, "0");
	opts = options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, 0);
	rd_kafka_DescribeConfigs(rk, res, 3, opts, q);
	rd_kafka_AdminOptions_destroy(opts);
	ev = admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT);
	out = rd_kafka_DescribeConfigs_result_resources(
	    rd_kafka_event_DescribeConfigs_result(ev), &n);
	ck_assert_uint_eq(n, 3);

	/* the two set properties: their values, from the topic */
	r = find_resource(out, n, RD_KAFKA_RESOURCE_TOPIC, "cfg");
	ck_assert_int_eq(rd_kafka_ConfigResource_error(r), 0);
	e = find_entry(r, "cleanup.policy");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(rd_kafka_ConfigEntry_value(e), "compact");
	ck_assert_int_eq(rd_kafka_ConfigEntry_is_default(e), 0);
	ck_assert_int_eq(rd_kafka_ConfigEntry_source(e),
	    RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG);
	ck_assert_int_eq(rd_kafka_ConfigEntry_is_read_only(e), 0);
	e = find_entry(r, "retention.ms");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(rd_kafka_ConfigEntry_value(e), "12345");
	ck_assert_int_eq(rd_kafka_ConfigEntry_source(e),
	    RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG);
	/* every other property: listed, default */
	for (i = 0; names[i]; i++, nnames++) {
		e = find_entry(r, names[i]);
		ck_assert_msg(e != NULL, "%s not described", names[i]);
		if (rd_kafka_ConfigEntry_is_default(e)) {
			ck_assert_int_eq(rd_kafka_ConfigEntry_source(e),
			    RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG);
			ndefault++;
		}
	}
	ck_assert_uint_eq(ndefault, nnames - 2);
	rd_kafka_ConfigResource_configs(r, &n);
	ck_assert_uint_eq(n, nnames);
	e = find_entry(r, "segment.bytes");
	ck_assert_str_eq(rd_kafka_ConfigEntry_value(e), "1073741824");

	r = find_resource(out, 3, RD_KAFKA_RESOURCE_TOPIC, "nope");
	ck_assert_int_eq(rd_kafka_ConfigResource_error(r),
	    RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);

	/* the broker: its id, read-only */
	r = find_resource(out, 3, RD_KAFKA_RESOURCE_BROKER, "0");
	ck_assert_int_eq(rd_kafka_ConfigResource_error(r), 0);
	e = find_entry(r, "broker.id");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(rd_kafka_ConfigEntry_value(e), "0");
	ck_assert_int_eq(rd_kafka_ConfigEntry_is_read_only(e), 1);
	e = find_entry(r, "log.retention.ms");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(rd_kafka_ConfigEntry_value(e), "604800000");

	rd_kafka_event_destroy(ev);
	rd_kafka_ConfigResource_destroy_array(res, 3);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
}
END_TEST

/* ---- AlterConfigs ----------------------------------------------------------------- */

/* AlterConfigs of topic with pairs; the resource's error and message. */
static rd_kafka_resp_err_t alter(rd_kafka_t *rk, const char *topic,
    const char *const *kv, int validate_only, char *msg, size_t msglen)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_ConfigResource_t *res =
	    rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
	const rd_kafka_ConfigResource_t **out;
	rd_kafka_AdminOptions_t *opts;
	rd_kafka_event_t *ev;
	rd_kafka_resp_err_t err;
	const char *s;
	size_t n;

	for (; kv[0]; kv += 2)
		ck_assert(rd_kafka_ConfigResource_set_config(res, kv[0],
		    kv[1]) == RD_KAFKA_RESP_ERR_NO_ERROR);
	opts = options(rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS, validate_only);
	rd_kafka_AlterConfigs(rk, &res, 1, opts, q);
	rd_kafka_AdminOptions_destroy(opts);
	ev = admin_wait(q, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT);
	out = rd_kafka_AlterConfigs_result_resources(
	    rd_kafka_event_AlterConfigs_result(ev), &n);
	ck_assert_uint_eq(n, 1);
	err = rd_kafka_ConfigResource_error(out[0]);
	s = rd_kafka_ConfigResource_error_string(out[0]);
	if (msg)
		snprintf(msg, msglen, "%s", s ? s : "");
	rd_kafka_event_destroy(ev);
	rd_kafka_ConfigResource_destroy(res);
	rd_kafka_queue_destroy(q);
	return err;
}

START_TEST(alter_topic_configs)
{
	static const char *const kv[] = { "cleanup.policy", "compact",
		"retention.ms", "1000", NULL };
	static const char *const to5000[] = { "retention.ms", "5000", NULL };
	static const char *const bad[] = { "retention.ms", "soon", NULL };
	static const char *const unknown[] = { "no.such.property", "1", NULL };
	static const char *const policy[] = { "cleanup.policy",
		"compact,delete", "flush.messages", "7", NULL };
	ks_topic_config_t tc;
	rd_kafka_t *rk;
	char msg[256];

	create("alt", 1, kv);
	rk = rk_new();

	/* validate_only: accepted, nothing changes */
	ck_assert_int_eq(alter(rk, "alt", to5000, 1, NULL, 0), 0);
	tc = config_of("alt");
	ck_assert_int_eq(tc.log.retention_ms, 1000);
	ck_assert_int_eq(tc.cleanup_policy, KS_CLEANUP_COMPACT);

	/* the whole configuration is replaced: cleanup.policy, not named,
	 * returns to its default */
	ck_assert_int_eq(alter(rk, "alt", to5000, 0, NULL, 0), 0);
	tc = config_of("alt");
	ck_assert_int_eq(tc.log.retention_ms, 5000);
	ck_assert_int_eq(tc.cleanup_policy, KS_CLEANUP_DELETE);

	ck_assert_int_eq(alter(rk, "alt", policy, 0, NULL, 0), 0);
	tc = config_of("alt");
	ck_assert_int_eq(tc.cleanup_policy,
	    KS_CLEANUP_COMPACT | KS_CLEANUP_DELETE);
	ck_assert_int_eq(tc.log.flush_messages, 7);
	ck_assert_int_eq(tc.log.retention_ms, 7 * 86400000LL);

	/* bad value, unknown name: INVALID_CONFIG, said why, unchanged */
	ck_assert_int_eq(alter(rk, "alt", bad, 0, msg, sizeof msg),
	    RD_KAFKA_RESP_ERR_INVALID_CONFIG);
	ck_assert_msg(strstr(msg, "retention.ms") != NULL, "message: %s",
	    msg);
	ck_assert_int_eq(alter(rk, "alt", unknown, 0, msg, sizeof msg),
	    RD_KAFKA_RESP_ERR_INVALID_CONFIG);
	ck_assert_msg(strstr(msg, "no.such.property") != NULL, "message: %s",
	    msg);
	ck_assert_int_eq(alter(rk, "alt", bad, 1, NULL, 0),
	    RD_KAFKA_RESP_ERR_INVALID_CONFIG);
	tc = config_of("alt");
	ck_assert_int_eq(tc.log.flush_messages, 7);
	ck_assert_int_eq(tc.cleanup_policy,
	    KS_CLEANUP_COMPACT | KS_CLEANUP_DELETE);

	ck_assert_int_eq(alter(rk, "absent", to5000, 0, NULL, 0),
	    RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
	rd_kafka_destroy(rk);
}
END_TEST

/* ---- CreatePartitions ------------------------------------------------------------ */

static rd_kafka_resp_err_t grow(rd_kafka_t *rk, const char *topic,
    size_t total, int validate_only)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_NewPartitions_t *np;
	rd_kafka_AdminOptions_t *opts;
	const rd_kafka_topic_result_t **out;
	rd_kafka_event_t *ev;
	rd_kafka_resp_err_t err;
	char errstr[256];
	size_t n;

	np = rd_kafka_NewPartitions_new(topic, total, errstr, sizeof errstr);
	ck_assert_msg(np != NULL, "%s", errstr);
	opts = options(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, validate_only);
	rd_kafka_CreatePartitions(rk, &np, 1, opts, q);
	rd_kafka_AdminOptions_destroy(opts);
	ev = admin_wait(q, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT);
	out = rd_kafka_CreatePartitions_result_topics(
	    rd_kafka_event_CreatePartitions_result(ev), &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(rd_kafka_topic_result_name(out[0]), topic);
	err = rd_kafka_topic_result_error(out[0]);
	rd_kafka_event_destroy(ev);
	rd_kafka_NewPartitions_destroy(np);
	rd_kafka_queue_destroy(q);
	return err;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
    void *opaque)
{
	(void)rk;
	(void)opaque;
	*(rd_kafka_resp_err_t *)m->_private = m->err;
}

START_TEST(create_partitions)
{
	rd_kafka_t *rk;
	rd_kafka_conf_t *conf;
	rd_kafka_resp_err_t dr = (rd_kafka_resp_err_t)-12345;
	ks_topic_t *t;
	ks_log_t *log;
	char err[256];

	create("grow", 1, NULL);
	rk = rk_new();
	ck_assert_int_eq(grow(rk, "grow", 3, 1), 0);
	KT_OK(ks_topic_open(store, "grow", &t));
	ck_assert_int_eq(ks_topic_partitions(t), 1);
	ck_assert_int_eq(grow(rk, "grow", 3, 0), 0);
	ck_assert_int_eq(ks_topic_partitions(t), 3);
	/* it can only grow */
	ck_assert_int_eq(grow(rk, "grow", 2, 0),
	    RD_KAFKA_RESP_ERR_INVALID_PARTITIONS);
	ck_assert_int_eq(grow(rk, "grow", 3, 0),
	    RD_KAFKA_RESP_ERR_INVALID_PARTITIONS);
	ck_assert_int_eq(ks_topic_partitions(t), 3);
	ck_assert_int_eq(grow(rk, "absent", 3, 0),
	    RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
	rd_kafka_destroy(rk);

	/* a new producer sees 3 partitions and writes to the last one */
	conf = rd_kafka_conf_new();
	ck_assert(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err,
	    sizeof err) == RD_KAFKA_CONF_OK);
	ck_assert(rd_kafka_conf_set(conf, "log_level", "3", err,
	    sizeof err) == RD_KAFKA_CONF_OK);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	ck_assert_msg(rk != NULL, "%s", err);
	ck_assert_int_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("grow"),
	    RD_KAFKA_V_PARTITION(2), RD_KAFKA_V_VALUE("new", 3),
	    RD_KAFKA_V_OPAQUE(&dr), RD_KAFKA_V_END), 0);
	ck_assert_int_eq(rd_kafka_flush(rk, WAIT_MS), 0);
	ck_assert_int_eq(dr, RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(rk);
	KT_OK(ks_topic_partition(t, 2, &log));
	ck_assert_int_eq(ks_log_end_offset(log), 1);
	ks_topic_release(t);
}
END_TEST

/* ---- DeleteGroups ------------------------------------------------------------------ */

struct joined {
	atomic_int done;
	int err;
	char member_id[256];
};

static void on_join(void *opaque, int err, const ks_join_result_t *r)
{
	struct joined *j = opaque;

	j->err = err;
	snprintf(j->member_id, sizeof j->member_id, "%s",
	    r->member_id ? r->member_id : "");
	atomic_store(&j->done, 1);
}

START_TEST(delete_groups)
{
	ks_coordinator_t *c = ks_store_coordinator(store);
	ks_offset_commit_t o[2] = {
		{ "t", 0, 10, -1, NULL, 0 },
		{ "t", 1, 20, -1, "meta", 0 },
	};
	ks_group_protocol_t proto = { "range", "x", 1 };
	ks_join_request_t jr;
	static struct joined j;
	ks_group_leave_t l = { NULL, NULL, 0 };
	const char *names[3] = { "done", "live", "unknown" };
	rd_kafka_resp_err_t want[3] = { RD_KAFKA_RESP_ERR_NO_ERROR,
		RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP,
		RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND };
	rd_kafka_DeleteGroup_t *dg[3];
	rd_kafka_AdminOptions_t *opts;
	const rd_kafka_group_result_t **out;
	rd_kafka_event_t *ev;
	rd_kafka_queue_t *q;
	rd_kafka_t *rk;
	ks_committed_t *got;
	size_t n, i, k;
	int waited;

	ck_assert_ptr_nonnull(c);
	KT_OK(ks_group_commit(c, "done", -1, NULL, NULL, o, 2, 0));
	KT_OK(ks_group_commit(c, "live", -1, NULL, NULL, o, 1, 0));
	/* a member in "live" */
	ks_join_request_init(&jr);
	jr.group_id = "live";
	jr.member_id = "";
	jr.session_timeout_ms = 60000;
	jr.rebalance_timeout_ms = 60000;
	jr.protocol_type = "consumer";
	jr.protocols = &proto;
	jr.protocol_count = 1;
	atomic_store(&j.done, 0);
	KT_OK(ks_group_join(c, &jr, on_join, &j));
	for (waited = 0; !atomic_load(&j.done) && waited < WAIT_MS; waited += 10)
		usleep(10000);
	ck_assert_int_eq(atomic_load(&j.done), 1);
	KT_OK(j.err);

	rk = rk_new();
	q = rd_kafka_queue_new(rk);
	for (i = 0; i < 3; i++)
		dg[i] = rd_kafka_DeleteGroup_new(names[i]);
	opts = options(rk, RD_KAFKA_ADMIN_OP_DELETEGROUPS, 0);
	rd_kafka_DeleteGroups(rk, dg, 3, opts, q);
	rd_kafka_AdminOptions_destroy(opts);
	ev = admin_wait(q, RD_KAFKA_EVENT_DELETEGROUPS_RESULT);
	out = rd_kafka_DeleteGroups_result_groups(
	    rd_kafka_event_DeleteGroups_result(ev), &n);
	ck_assert_uint_eq(n, 3);
	for (i = 0; i < 3; i++) {
		const rd_kafka_error_t *e;
		for (k = 0; k < n; k++)
			if (strcmp(rd_kafka_group_result_name(out[k]),
			    names[i]) == 0)
				break;
		ck_assert_uint_lt(k, n);
		e = rd_kafka_group_result_error(out[k]);
		ck_assert_msg((e ? rd_kafka_error_code(e) : 0) == want[i],
		    "%s: %s", names[i], e ? rd_kafka_error_string(e) : "ok");
	}
	rd_kafka_event_destroy(ev);
	rd_kafka_DeleteGroup_destroy_array(dg, 3);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);

	/* "done" has nothing committed any more; "live" kept its offset */
	KT_OK(ks_group_fetch_offsets(c, "done", NULL, 0, &got, &n));
	ck_assert_uint_eq(n, 0);
	ks_committed_free(got);
	KT_OK(ks_group_fetch_offsets(c, "live", NULL, 0, &got, &n));
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(got[0].offset, 10);
	ks_committed_free(got);
	l.member_id = j.member_id;
	KT_OK(ks_group_leave(c, "live", &l, 1));
}
END_TEST

/* ---- the raw client ------------------------------------------------------------ */

/* One request (key, ver) with body req; its response decoded into resp. */
static void call(int fd, int16_t key, int16_t ver, void *req, void *resp)
{
	static int32_t corr = 1;

	kt_kafka_send(fd, key, ver, ++corr, "kadmin-test", req);
	kt_kafka_recv(fd, key, ver, corr, &arena, resp);
}

/* IncrementalAlterConfigs of one resource with one operation. */
static kp_alter_configs_result_t incr(int fd, int16_t ver, int8_t type,
    const char *topic, const char *name, int8_t op, const char *value,
    int validate_only)
{
	kp_alter_configs_entry_t e = { kp_cstr(name), op, kp_cstr(value) };
	kp_alter_configs_resource_t r = { type, kp_cstr(topic), 1, &e };
	kp_incremental_alter_configs_req_t req = { 1, &r, validate_only };
	kp_incremental_alter_configs_resp_t resp;

	memset(&resp, 0, sizeof resp);
	call(fd, KP_INCREMENTAL_ALTER_CONFIGS, ver, &req, &resp);
	ck_assert_int_eq(resp.n_results, 1);
	ck_assert_int_eq(resp.results[0].resource_type, type);
	ck_assert(kp_str_eq_c(resp.results[0].resource_name, topic));
	return resp.results[0];
}

START_TEST(incremental_alter_configs)
{
	static const char *const kv[] = { "retention.ms", "1000",
		"segment.ms", "60000", "max.message.bytes", "4096", NULL };
	ks_topic_config_t tc, def;
	kp_alter_configs_result_t r;
	int fd;

	create("inc", 1, kv);
	ks_topic_config_init(&def);
	fd = kt_tcp_connect(port, 20);

	/* v1 (flexible): SET, DELETE (= default), APPEND to a list; the
	 * other properties stay */
	r = incr(fd, 1, KP_RESOURCE_TOPIC, "inc", "retention.ms",
	    KP_CONFIG_OP_SET, "2000", 0);
	ck_assert_int_eq(r.error_code, 0);
	ck_assert_int_eq(r.error_message.len, -1);
	r = incr(fd, 1, KP_RESOURCE_TOPIC, "inc", "segment.ms",
	    KP_CONFIG_OP_DELETE, NULL, 0);
	ck_assert_int_eq(r.error_code, 0);
	r = incr(fd, 0, KP_RESOURCE_TOPIC, "inc", "cleanup.policy",
	    KP_CONFIG_OP_APPEND, "compact", 0);
	ck_assert_int_eq(r.error_code, 0);
	tc = config_of("inc");
	ck_assert_int_eq(tc.log.retention_ms, 2000);
	ck_assert_int_eq(tc.log.segment_ms, def.log.segment_ms);
	ck_assert_int_eq(tc.log.max_message_bytes, 4096);
	ck_assert_int_eq(tc.cleanup_policy,
	    KS_CLEANUP_DELETE | KS_CLEANUP_COMPACT);

	/* SUBTRACT, but not down to nothing */
	r = incr(fd, 0, KP_RESOURCE_TOPIC, "inc", "cleanup.policy",
	    KP_CONFIG_OP_SUBTRACT, "delete", 0);
	ck_assert_int_eq(r.error_code, 0);
	ck_assert_int_eq(config_of("inc").cleanup_policy, KS_CLEANUP_COMPACT);
	r = incr(fd, 1, KP_RESOURCE_TOPIC, "inc", "cleanup.policy",
	    KP_CONFIG_OP_SUBTRACT, "compact", 0);
	ck_assert_int_eq(r.error_code, KP_INVALID_CONFIG);
	ck_assert_int_gt(r.error_message.len, 0);
	ck_assert_int_eq(config_of("inc").cleanup_policy, KS_CLEANUP_COMPACT);

	/* refused, and nothing changes */
	r = incr(fd, 1, KP_RESOURCE_TOPIC, "inc", "retention.ms",
	    KP_CONFIG_OP_APPEND, "5", 0);
	ck_assert_int_eq(r.error_code, KP_INVALID_CONFIG);
	r = incr(fd, 1, KP_RESOURCE_TOPIC, "inc", "retention.ms",
	    KP_CONFIG_OP_SET, "-7x", 0);
	ck_assert_int_eq(r.error_code, KP_INVALID_CONFIG);
	ck_assert(strstr(r.error_message.s, "retention.ms") != NULL);
	r = incr(fd, 1, KP_RESOURCE_TOPIC, "inc", "nonsense",
	    KP_CONFIG_OP_DELETE, NULL, 0);
	ck_assert_int_eq(r.error_code, KP_INVALID_CONFIG);
	r = incr(fd, 1, KP_RESOURCE_TOPIC, "inc", "retention.ms", 9, "1", 0);
	ck_assert_int_eq(r.error_code, KP_INVALID_REQUEST);
	r = incr(fd, 1, KP_RESOURCE_BROKER, "0", "log.retention.ms",
	    KP_CONFIG_OP_SET, "1", 0);
	ck_assert_int_eq(r.error_code, KP_INVALID_REQUEST);
	r = incr(fd, 1, KP_RESOURCE_TOPIC, "absent", "retention.ms",
	    KP_CONFIG_OP_SET, "1", 0);
	ck_assert_int_eq(r.error_code, KP_UNKNOWN_TOPIC_OR_PARTITION);
	/* validate_only: a good change, checked, not made */
	r = incr(fd, 1, KP_RESOURCE_TOPIC, "inc", "retention.ms",
	    KP_CONFIG_OP_SET, "99", 1);
	ck_assert_int_eq(r.error_code, 0);
	tc = config_of("inc");
	ck_assert_int_eq(tc.log.retention_ms, 2000);
	ck_assert_int_eq(tc.cleanup_policy, KS_CLEANUP_COMPACT);

	/* and the change survives a reopening of the store */
	close(fd);
	ks_kafka_server_free(srv);
	srv = NULL;
	KT_OK(ks_store_close(store));
	store = NULL;
	{
		ks_store_config_t cfg;
		kt_store_config(&cfg, 0, quiet_log);
		KT_OK(ks_store_open(dir, &cfg, &store));
	}
	tc = config_of("inc");
	ck_assert_int_eq(tc.log.retention_ms, 2000);
	ck_assert_int_eq(tc.cleanup_policy, KS_CLEANUP_COMPACT);
}
END_TEST

/* ---- DescribeConfigs on the wire ---------------------------------------------------- */

static const kp_describe_configs_entry_t *entry(
    const kp_describe_configs_result_t *r, const char *name)
{
	for (int32_t i = 0; i < r->n_configs; i++)
		if (kp_str_eq_c(r->configs[i].name, name))
			return &r->configs[i];
	return NULL;
}

START_TEST(describe_configs_wire)
{
	static const char *const kv[] = { "retention.ms", "777", NULL };
	kp_str_t keys[2] = { kp_cstr("retention.ms"), kp_cstr("no.such") };
	kp_describe_configs_resource_t rs[5] = {
		{ KP_RESOURCE_TOPIC, kp_cstr("wire"), 2, keys },
		{ KP_RESOURCE_BROKER, kp_cstr(""), -1, NULL },
		{ KP_RESOURCE_BROKER, kp_cstr("5"), -1, NULL },
		{ 99, kp_cstr("x"), -1, NULL },
		{ KP_RESOURCE_TOPIC, kp_cstr("wire"), -1, NULL },
	};
	kp_describe_configs_req_t req = { 5, rs, true, true };
	kp_describe_configs_resp_t resp;
	const kp_describe_configs_entry_t *e;
	const kp_describe_configs_result_t *r;
	int fd;

	create("wire", 1, kv);
	fd = kt_tcp_connect(port, 20);

	/* v4, flexible, with synonyms: the topic's value, then the
	 * broker-level default it overrides */
	memset(&resp, 0, sizeof resp);
	call(fd, KP_DESCRIBE_CONFIGS, 4, &req, &resp);
	ck_assert_int_eq(resp.n_results, 5);
	r = &resp.results[0];
	ck_assert_int_eq(r->error_code, 0);
	ck_assert_int_eq(r->n_configs, 1);
	e = &r->configs[0];
	ck_assert(kp_str_eq_c(e->name, "retention.ms"));
	ck_assert(kp_str_eq_c(e->value, "777"));
	ck_assert_int_eq(e->config_source, KP_CONFIG_SOURCE_TOPIC);
	ck_assert_int_eq(e->config_type, KP_CONFIG_TYPE_LONG);
	ck_assert_int_eq(e->n_synonyms, 2);
	ck_assert(kp_str_eq_c(e->synonyms[0].name, "retention.ms"));
	ck_assert_int_eq(e->synonyms[0].source, KP_CONFIG_SOURCE_TOPIC);
	ck_assert(kp_str_eq_c(e->synonyms[1].name, "log.retention.ms"));
	ck_assert(kp_str_eq_c(e->synonyms[1].value, "604800000"));
	ck_assert_int_eq(e->synonyms[1].source, KP_CONFIG_SOURCE_DEFAULT);
	/* the cluster-wide broker defaults: none, no error */
	ck_assert_int_eq(resp.results[1].error_code, 0);
	ck_assert_int_eq(resp.results[1].n_configs, 0);
	/* another broker, an unknown resource type: refused, per resource */
	ck_assert_int_eq(resp.results[2].error_code, KP_INVALID_REQUEST);
	ck_assert_int_gt(resp.results[2].error_message.len, 0);
	ck_assert_int_eq(resp.results[3].error_code, KP_INVALID_REQUEST);
	ck_assert_int_eq(resp.results[3].resource_type, 99);
	ck_assert(kp_str_eq_c(resp.results[3].resource_name, "x"));
	e = entry(&resp.results[4], "cleanup.policy");
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->config_type, KP_CONFIG_TYPE_LIST);
	ck_assert_int_eq(e->n_synonyms, 1); /* default: the broker's only */

	/* v0: is_default instead of a source */
	memset(&resp, 0, sizeof resp);
	call(fd, KP_DESCRIBE_CONFIGS, 0, &req, &resp);
	ck_assert_int_eq(resp.n_results, 5);
	e = entry(&resp.results[4], "retention.ms");
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->is_default, 0);
	e = entry(&resp.results[4], "segment.ms");
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->is_default, 1);
	ck_assert(kp_str_eq_c(e->value, "604800000"));
	close(fd);
}
END_TEST

/* CreatePartitions and DeleteGroups at their flexible versions, and
 * replica assignments. */
START_TEST(create_partitions_delete_groups_wire)
{
	int32_t me = 0, other = 3;
	kp_create_partitions_assignment_t good[2] = { { 1, &me }, { 1, &me } };
	kp_create_partitions_assignment_t bad[1] = { { 1, &other } };
	kp_create_partitions_topic_t ts[3] = {
		{ kp_cstr("w"), 2, 1, bad },
		{ kp_cstr("w"), 4, 1, good },   /* 3 new, 1 assignment */
		{ kp_cstr("w"), 3, 2, good },
	};
	kp_create_partitions_req_t req = { 3, ts, 5000, false };
	kp_create_partitions_resp_t resp;
	kp_str_t groups[2] = { kp_cstr("nobody"), kp_cstr("") };
	kp_delete_groups_req_t dreq = { 2, groups };
	kp_delete_groups_resp_t dresp;
	ks_topic_t *t;
	int fd;

	create("w", 1, NULL);
	fd = kt_tcp_connect(port, 20);
	memset(&resp, 0, sizeof resp);
	call(fd, KP_CREATE_PARTITIONS, 3, &req, &resp);
	ck_assert_int_eq(resp.n_results, 3);
	ck_assert_int_eq(resp.results[0].error_code,
	    KP_INVALID_REPLICA_ASSIGNMENT);
	ck_assert_int_eq(resp.results[1].error_code,
	    KP_INVALID_REPLICA_ASSIGNMENT);
	ck_assert_int_eq(resp.results[2].error_code, 0);
	KT_OK(ks_topic_open(store, "w", &t));
	ck_assert_int_eq(ks_topic_partitions(t), 3);
	ks_topic_release(t);

	memset(&dresp, 0, sizeof dresp);
	call(fd, KP_DELETE_GROUPS, 2, &dreq, &dresp);
	ck_assert_int_eq(dresp.n_results, 2);
	ck_assert(kp_str_eq_c(dresp.results[0].group_id, "nobody"));
	ck_assert_int_eq(dresp.results[0].error_code, KP_GROUP_ID_NOT_FOUND);
	ck_assert_int_eq(dresp.results[1].error_code, KP_INVALID_GROUP_ID);
	close(fd);
}
END_TEST

Suite *kadmin_suite(void)
{
	Suite *s = suite_create("kadmin");
	TCase *tc = tcase_create("admin");

	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, describe_topic_configs);
	tcase_add_test(tc, alter_topic_configs);
	tcase_add_test(tc, create_partitions);
	tcase_add_test(tc, delete_groups);
	tcase_add_test(tc, incremental_alter_configs);
	tcase_add_test(tc, describe_configs_wire);
	tcase_add_test(tc, create_partitions_delete_groups_wire);
	suite_add_tcase(s, tc);
	return s;
}
