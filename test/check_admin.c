/*
 * check_admin.c: the admin API (admin.h). Every scenario runs twice: on a
 * local store (ks_admin_new) and, in a KS_WITH_NET build, through an
 * in-process Kafka server on the same kind of store (ks_admin_connect
 * to tcp://127.0.0.1:<port>), so both sides must give the same answers.
 */
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef KS_WITH_NET
#include <kstream/kafka.h>
#define NMODES 2
#else
#define NMODES 1
#endif

#define NODE 7 /* the server's node id: the leader of every partition */

static char *dir;
static ks_store_t *store;
static ks_admin_t *adm;
static int remote;
#ifdef KS_WITH_NET
static ks_kafka_server_t *srv;
#endif

static void quiet_log(void *opaque, int level, const char *msg)
{
	(void)opaque;
	if (level <= KS_LOG_ERR)
		fprintf(stderr, "admin test: %s\n", msg);
}

/* mode 0: local; 1: through a Kafka server. */
static void fx_start(int mode)
{
	ks_store_config_t cfg;

	dir = kt_tmpdir("admin");
	kt_store_config(&cfg, KS_STORE_CREATE, quiet_log);
	cfg.group_min_session_timeout_ms = 100;
	/* store defaults that differ from Kafka's: is_default must follow
	 * the store, not Kafka */
	cfg.topic_defaults.partitions = 2;
	KT_OK(ks_topic_config_set(&cfg.topic_defaults, "retention.ms",
	    "3600000"));
	KT_OK(ks_store_open(dir, &cfg, &store));
	remote = mode;
	if (!mode) {
		KT_OK(ks_admin_new(store, &adm));
		return;
	}
#ifdef KS_WITH_NET
	{
		ks_kafka_server_config_t sc;
		ks_remote_config_t rc;
		char url[256];

		ks_kafka_server_config_init(&sc);
		sc.node_id = NODE;
		sc.auto_create_topics = 0;
		sc.num_partitions = 2;
		sc.log_cb = quiet_log;
		KT_OK(ks_kafka_server_new(store, &sc, &srv));
		KT_OK(ks_kafka_server_listen(srv, "tcp://127.0.0.1:0", NULL));
		KT_OK(ks_kafka_server_url(srv, 0, url, sizeof url));
		ks_remote_config_init(&rc);
		rc.request_timeout_ms = 20000;
		KT_OK(ks_admin_connect(url, &rc, &adm));
	}
#endif
}

static void fx_stop(void)
{
	ks_admin_free(adm);
	adm = NULL;
#ifdef KS_WITH_NET
	ks_kafka_server_free(srv);
	srv = NULL;
#endif
	if (store)
		KT_OK(ks_store_close(store));
	store = NULL;
	kt_rmrf_free(&dir);
}

/* n records of topic/partition, with timestamps ts[i] (NULL: now). */
static void produce(const char *topic, int32_t part, int n,
    const int64_t *ts)
{
	ks_producer_t *p;
	ks_record_t recs[16];
	int i;

	ck_assert_int_le(n, 16);
	memset(recs, 0, sizeof recs);
	for (i = 0; i < n; i++) {
		recs[i].value = "v";
		recs[i].value_len = 1;
		recs[i].timestamp = ts ? ts[i] : -1;
	}
	KT_OK(ks_producer_new(store, NULL, &p));
	KT_OK(ks_produce(p, topic, part, recs, (size_t)n, 0, NULL));
	ks_producer_free(p);
}

static const ks_config_entry_t *config(const ks_topic_info_t *t,
    const char *name)
{
	size_t i;

	for (i = 0; i < t->config_count; i++)
		if (strcmp(t->configs[i].name, name) == 0)
			return &t->configs[i];
	ck_abort_msg("no property %s in the description", name);
	return NULL;
}

/* Topic's property name, as described now, has value and, unless
 * is_default is -1, is or is not the default. */
static void expect_config(const char *topic, const char *name,
    const char *value, int is_default)
{
	const ks_config_entry_t *e;
	ks_topic_info_t *t;

	KT_OK(ks_admin_describe_topic(adm, topic, &t));
	e = config(t, name);
	ck_assert_str_eq(e->value, value);
	if (is_default >= 0)
		ck_assert_int_eq(e->is_default, is_default);
	ks_admin_topics_free(t);
}

/* ---- topics --------------------------------------------------------------- */

START_TEST(test_create_list)
{
	static const char *const compact[] = { "cleanup.policy", "compact",
		NULL };
	static const char *const unknown[] = { "no.such.property", "1",
		NULL };
	static const char *const badval[] = { "retention.ms", "soon", NULL };
	ks_topic_info_t *l;
	size_t n, i;
	int saw_internal = 0;

	fx_start(_i);
	KT_OK(ks_admin_create_topic(adm, "beta", 0, NULL));
	KT_OK(ks_admin_create_topic(adm, "alpha", 3, compact));
	/* __consumer_offsets exists once the coordinator is used */
	ck_assert_ptr_nonnull(ks_store_coordinator(store));

	KT_OK(ks_admin_list_topics(adm, 0, &l, &n));
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(l[0].name, "alpha");
	ck_assert_int_eq(l[0].partition_count, 3);
	ck_assert_str_eq(l[1].name, "beta");
	ck_assert_int_eq(l[1].partition_count, 2); /* the default */
	ck_assert_int_eq(l[0].internal, 0);
	ck_assert_ptr_null(l[0].partitions);
	ck_assert_ptr_null(l[0].configs);
	ks_admin_topics_free(l);

	KT_OK(ks_admin_list_topics(adm, KS_ADMIN_INTERNAL, &l, &n));
	ck_assert_uint_eq(n, 3);
	for (i = 0; i < n; i++) {
		if (i)
			ck_assert_int_lt(strcmp(l[i - 1].name, l[i].name), 0);
		if (strcmp(l[i].name, "__consumer_offsets") == 0) {
			ck_assert_int_eq(l[i].internal, 1);
			saw_internal = 1;
		}
	}
	ck_assert_int_eq(saw_internal, 1);
	ks_admin_topics_free(l);

	ck_assert_int_eq(ks_admin_create_topic(adm, "alpha", 1, NULL),
	    KS_EEXIST);
#ifdef KS_WITH_NET
	if (remote) /* Kafka's own code: TOPIC_ALREADY_EXISTS */
		ck_assert_int_eq(ks_kafka_last_error(), 36);
#endif
	ck_assert_int_eq(ks_admin_create_topic(adm, "bad/name", 1, NULL),
	    KS_ENAME);
	ck_assert_int_eq(ks_admin_create_topic(adm, "gamma", 1, unknown),
	    KS_ECONFIG);
	ck_assert_int_eq(ks_admin_create_topic(adm, "gamma", 1, badval),
	    KS_ECONFIG);
	/* refused creations leave nothing behind */
	KT_OK(ks_admin_list_topics(adm, 0, &l, &n));
	ck_assert_uint_eq(n, 2);
	ks_admin_topics_free(l);
	ck_assert_int_eq(ks_admin_list_topics(adm, 0x100, &l, &n), KS_EINVAL);
	fx_stop();
}
END_TEST

START_TEST(test_describe)
{
	static const char *const compact[] = { "cleanup.policy", "compact",
		NULL };
	ks_topic_info_t *t;
	const ks_config_entry_t *e;
	int32_t p;

	fx_start(_i);
	KT_OK(ks_admin_create_topic(adm, "alpha", 3, compact));
	produce("alpha", 0, 5, NULL);
	produce("alpha", 2, 2, NULL);
	KT_OK(ks_admin_describe_topic(adm, "alpha", &t));
	ck_assert_str_eq(t->name, "alpha");
	ck_assert_int_eq(t->internal, 0);
	ck_assert_int_eq(t->partition_count, 3);
	ck_assert_ptr_nonnull(t->partitions);
	for (p = 0; p < 3; p++) {
		ck_assert_int_eq(t->partitions[p].partition, p);
		ck_assert_int_eq(t->partitions[p].error, 0);
		ck_assert_int_eq(t->partitions[p].start_offset, 0);
		ck_assert_int_eq(t->partitions[p].leader, remote ? NODE : -1);
	}
	ck_assert_int_eq(t->partitions[0].end_offset, 5);
	ck_assert_int_eq(t->partitions[1].end_offset, 0);
	ck_assert_int_eq(t->partitions[2].end_offset, 2);
	ck_assert_uint_gt(t->config_count, 5);
	e = config(t, "cleanup.policy");
	ck_assert_str_eq(e->value, "compact");
	ck_assert_int_eq(e->is_default, 0);
	e = config(t, "retention.ms");
	ck_assert_str_eq(e->value, "3600000"); /* the store's default */
	ck_assert_int_eq(e->is_default, 1);
	ks_admin_topics_free(t);

	ck_assert_int_eq(ks_admin_describe_topic(adm, "nope", &t), KS_ETOPIC);
	ck_assert_ptr_null(t);
	fx_stop();
}
END_TEST

START_TEST(test_alter)
{
	static const char *const set[] = { "retention.ms", "1000",
		"cleanup.policy", "compact", NULL };
	static const char *const reset[] = { "cleanup.policy", "", NULL };
	static const char *const bad[] = { "retention.ms", "5",
		"no.such.property", "1", NULL };

	fx_start(_i);
	KT_OK(ks_admin_create_topic(adm, "alpha", 1, NULL));
	KT_OK(ks_admin_alter_topic(adm, "alpha", set));
	expect_config("alpha", "retention.ms", "1000", 0);
	expect_config("alpha", "cleanup.policy", "compact", -1);

	/* "" returns one property to its default, the others stay */
	KT_OK(ks_admin_alter_topic(adm, "alpha", reset));
	expect_config("alpha", "cleanup.policy", "delete", 1);
	expect_config("alpha", "retention.ms", "1000", -1);

	/* all or nothing: a bad property changes nothing */
	ck_assert_int_eq(ks_admin_alter_topic(adm, "alpha", bad), KS_ECONFIG);
	expect_config("alpha", "retention.ms", "1000", -1);

	ck_assert_int_eq(ks_admin_alter_topic(adm, "nope", set), KS_ETOPIC);
	fx_stop();
}
END_TEST

START_TEST(test_add_partitions)
{
	ks_topic_info_t *t;

	fx_start(_i);
	KT_OK(ks_admin_create_topic(adm, "alpha", 2, NULL));
	KT_OK(ks_admin_add_partitions(adm, "alpha", 5));
	KT_OK(ks_admin_describe_topic(adm, "alpha", &t));
	ck_assert_int_eq(t->partition_count, 5);
	ck_assert_int_eq(t->partitions[4].partition, 4);
	ck_assert_int_eq(t->partitions[4].error, 0);
	ck_assert_int_eq(t->partitions[4].end_offset, 0);
	ks_admin_topics_free(t);
	ck_assert_int_eq(ks_admin_add_partitions(adm, "alpha", 5), KS_EINVAL);
	ck_assert_int_eq(ks_admin_add_partitions(adm, "alpha", 3), KS_EINVAL);
	ck_assert_int_eq(ks_admin_add_partitions(adm, "nope", 9), KS_ETOPIC);
	fx_stop();
}
END_TEST

START_TEST(test_list_offset)
{
	static const int64_t ts[] = { 1000, 2000, 3000 };
	int64_t off;

	fx_start(_i);
	KT_OK(ks_admin_create_topic(adm, "times", 2, NULL));
	produce("times", 0, 3, ts);
	KT_OK(ks_admin_list_offset(adm, "times", 0, KS_OFFSET_BEGINNING,
	    &off));
	ck_assert_int_eq(off, 0);
	KT_OK(ks_admin_list_offset(adm, "times", 0, KS_OFFSET_END, &off));
	ck_assert_int_eq(off, 3);
	KT_OK(ks_admin_list_offset(adm, "times", 0, 0, &off));
	ck_assert_int_eq(off, 0);
	KT_OK(ks_admin_list_offset(adm, "times", 0, 1500, &off));
	ck_assert_int_eq(off, 1);
	KT_OK(ks_admin_list_offset(adm, "times", 0, 2000, &off));
	ck_assert_int_eq(off, 1);
	KT_OK(ks_admin_list_offset(adm, "times", 0, 3001, &off));
	ck_assert_int_eq(off, 3); /* none that late: the log end */
	KT_OK(ks_admin_list_offset(adm, "times", 1, KS_OFFSET_END, &off));
	ck_assert_int_eq(off, 0);
	ck_assert_int_eq(ks_admin_list_offset(adm, "times", 7, KS_OFFSET_END,
	    &off), KS_EPARTITION);
	ck_assert_int_eq(ks_admin_list_offset(adm, "nope", 0, KS_OFFSET_END,
	    &off), KS_ETOPIC);
	ck_assert_int_eq(ks_admin_list_offset(adm, "times", 0, -5, &off),
	    KS_EINVAL);
	fx_stop();
}
END_TEST

START_TEST(test_delete_topic)
{
	ks_topic_info_t *t;
	size_t n;

	fx_start(_i);
	KT_OK(ks_admin_create_topic(adm, "alpha", 1, NULL));
	KT_OK(ks_admin_create_topic(adm, "beta", 1, NULL));
	ck_assert_ptr_nonnull(ks_store_coordinator(store));
	KT_OK(ks_admin_delete_topic(adm, "alpha"));
	ck_assert_int_eq(ks_admin_describe_topic(adm, "alpha", &t),
	    KS_ETOPIC);
	KT_OK(ks_admin_list_topics(adm, 0, &t, &n));
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(t[0].name, "beta");
	ks_admin_topics_free(t);
	ck_assert_int_eq(ks_admin_delete_topic(adm, "alpha"), KS_ETOPIC);
	ck_assert_int_eq(ks_admin_delete_topic(adm, "__consumer_offsets"),
	    KS_EINVAL);
	/* the name can be used again */
	KT_OK(ks_admin_create_topic(adm, "alpha", 1, NULL));
	fx_stop();
}
END_TEST

/* ---- groups --------------------------------------------------------------- */

/* A consumer of group g on topic gt, polled until it owns partitions. */
static ks_consumer_t *join(const char *g)
{
	static const char *const topics[] = { "gt" };
	ks_consumer_config_t cfg;
	ks_consumer_t *c;
	const ks_topic_partition_t *parts;
	const ks_message_t *msgs;
	size_t n = 0;
	int i;

	ks_consumer_config_init(&cfg);
	cfg.group_id = g;
	cfg.client_id = "admin-test";
	cfg.enable_auto_commit = 0;
	cfg.auto_offset_reset = KS_RESET_EARLIEST;
	cfg.session_timeout_ms = 30000;
	KT_OK(ks_consumer_new(store, &cfg, &c));
	KT_OK(ks_consumer_subscribe(c, topics, 1));
	for (i = 0; i < 200 && n == 0; i++) {
		ck_assert_int_ge(ks_consumer_poll(c, 50, &msgs), 0);
		KT_OK(ks_consumer_assignment(c, &parts, &n));
	}
	ck_assert_uint_eq(n, 2);
	return c;
}

/* Whether ListGroups names g (its state in *state); ptype: its protocol
 * type ("" for a group with offsets only). */
static int listed(const char *g, int *state, const char *ptype)
{
	ks_group_listing_t *l;
	size_t n, i;
	int found = 0;

	KT_OK(ks_admin_list_groups(adm, &l, &n));
	for (i = 0; i < n; i++) {
		if (i)
			ck_assert_int_lt(strcmp(l[i - 1].group_id,
			    l[i].group_id), 0);
		if (strcmp(l[i].group_id, g) == 0) {
			found = 1;
			if (state)
				*state = l[i].state;
			ck_assert_str_eq(l[i].protocol_type, ptype);
		}
	}
	ks_group_list_free(l);
	return found;
}

static void expect_offsets(const char *g, int64_t o0, int64_t o1)
{
	ks_committed_t *c;
	size_t n;

	KT_OK(ks_admin_group_offsets(adm, g, &c, &n));
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(c[0].topic, "gt");
	ck_assert_int_eq(c[0].partition, 0);
	ck_assert_int_eq(c[0].offset, o0);
	ck_assert_str_eq(c[1].topic, "gt");
	ck_assert_int_eq(c[1].partition, 1);
	ck_assert_int_eq(c[1].offset, o1);
	ks_committed_free(c);
}

START_TEST(test_groups)
{
	ks_topic_partition_t commit[2] = { { "gt", 0, 2 }, { "gt", 1, 3 } };
	ks_topic_partition_t reset[2] = {
		{ "gt", 0, KS_OFFSET_BEGINNING }, { "gt", 1, 1 } };
	ks_topic_partition_t to_end[2] = {
		{ "gt", 0, KS_OFFSET_END }, { "gt", 1, KS_OFFSET_END } };
	ks_topic_partition_t bad_topic = { "nope", 0, 1 };
	ks_topic_partition_t bad_part = { "gt", 9, 1 };
	ks_group_info_t *gi;
	ks_committed_t *co;
	ks_consumer_t *c;
	size_t n;
	int state = -1;

	fx_start(_i);
	KT_OK(ks_admin_create_topic(adm, "gt", 2, NULL));
	produce("gt", 0, 4, NULL);
	produce("gt", 1, 4, NULL);
	c = join("g1");
	KT_OK(ks_consumer_commit(c, commit, 2, 0));

	ck_assert_int_eq(listed("g1", &state, "consumer"), 1);
	ck_assert_int_eq(state, KS_GROUP_STABLE);
	KT_OK(ks_admin_describe_group(adm, "g1", &gi));
	ck_assert_str_eq(gi->group_id, "g1");
	ck_assert_int_eq(gi->state, KS_GROUP_STABLE);
	ck_assert_str_eq(gi->protocol_type, "consumer");
	ck_assert_str_eq(gi->protocol_name, "range");
	ck_assert_uint_eq(gi->member_count, 1);
	ck_assert_str_eq(gi->members[0].client_id, "admin-test");
	ck_assert_uint_gt(gi->members[0].assignment_len, 0);
	ck_assert_uint_gt(gi->members[0].metadata_len, 0);
	ks_group_info_free(gi);
	expect_offsets("g1", 2, 3);

	/* a live group moves its own offsets and cannot be deleted */
	ck_assert_int_eq(ks_admin_commit_offsets(adm, "g1", reset, 2),
	    KS_EBUSY);
	ck_assert_int_eq(ks_admin_delete_group(adm, "g1"), KS_EBUSY);
	expect_offsets("g1", 2, 3);

	KT_OK(ks_consumer_close(c));
	KT_OK(ks_admin_describe_group(adm, "g1", &gi));
	ck_assert_int_eq(gi->state, KS_GROUP_EMPTY);
	ck_assert_uint_eq(gi->member_count, 0);
	ks_group_info_free(gi);

	KT_OK(ks_admin_commit_offsets(adm, "g1", reset, 2));
	expect_offsets("g1", 0, 1);
	KT_OK(ks_admin_commit_offsets(adm, "g1", to_end, 2));
	expect_offsets("g1", 4, 4);
	ck_assert_int_eq(ks_admin_commit_offsets(adm, "g1", &bad_topic, 1),
	    KS_ETOPIC);
	ck_assert_int_eq(ks_admin_commit_offsets(adm, "g1", &bad_part, 1),
	    KS_EPARTITION);
	expect_offsets("g1", 4, 4);

	/* a group that never had members: commits make it */
	KT_OK(ks_admin_commit_offsets(adm, "fresh", commit, 2));
	expect_offsets("fresh", 2, 3);

	KT_OK(ks_admin_delete_group(adm, "g1"));
	ck_assert_int_eq(listed("g1", NULL, ""), 0);
	KT_OK(ks_admin_group_offsets(adm, "g1", &co, &n));
	ck_assert_uint_eq(n, 0);
	ks_committed_free(co);
	ck_assert_int_eq(ks_admin_delete_group(adm, "g1"), KS_EGROUP);
	ck_assert_int_eq(ks_admin_delete_group(adm, "never"), KS_EGROUP);
	KT_OK(ks_admin_describe_group(adm, "never", &gi));
	ck_assert_int_eq(gi->state, KS_GROUP_DEAD);
	ck_assert_uint_eq(gi->member_count, 0);
	ks_group_info_free(gi);
	ck_assert_int_eq(listed("fresh", &state, ""), 1);
	ck_assert_int_eq(state, KS_GROUP_EMPTY);
	fx_stop();
}
END_TEST

/* ---- handles -------------------------------------------------------------- */

START_TEST(test_local_args)
{
	ks_store_config_t cfg;
	ks_store_t *ro;
	ks_admin_t *a = (ks_admin_t *)1;
	ks_topic_info_t *t;
	size_t n;

	ck_assert_int_eq(ks_admin_new(NULL, &a), KS_EINVAL);
	ck_assert_ptr_null(a);
	ks_admin_free(NULL);
	fx_start(0);
	KT_OK(ks_admin_create_topic(adm, "alpha", 1, NULL));
	ck_assert_int_eq(ks_admin_create_topic(adm, NULL, 1, NULL),
	    KS_EINVAL);
	ck_assert_int_eq(ks_admin_describe_group(adm, "", NULL), KS_EINVAL);

	/* a read-only store lists and describes, and changes nothing */
	kt_store_config(&cfg, KS_STORE_RDONLY, quiet_log);
	KT_OK(ks_store_open(dir, &cfg, &ro));
	KT_OK(ks_admin_new(ro, &a));
	KT_OK(ks_admin_list_topics(a, 0, &t, &n));
	ck_assert_uint_eq(n, 1);
	ks_admin_topics_free(t);
	KT_OK(ks_admin_describe_topic(a, "alpha", &t));
	ks_admin_topics_free(t);
	ck_assert_int_eq(ks_admin_create_topic(a, "beta", 1, NULL),
	    KS_ERDONLY);
	ck_assert_int_eq(ks_admin_delete_topic(a, "alpha"), KS_ERDONLY);
	ck_assert_int_eq(ks_admin_delete_group(a, "g"), KS_ERDONLY);
	ks_admin_free(a);
	KT_OK(ks_store_close(ro));
	fx_stop();
}
END_TEST

#ifdef KS_WITH_NET
/* A loopback port nobody listens on (bound, then closed). */
static int dead_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

START_TEST(test_remote_no_broker)
{
	ks_remote_config_t rc;
	ks_admin_t *a;
	ks_topic_info_t *t;
	ks_group_listing_t *gl;
	char url[64];
	size_t n;
	int rv;

	ck_assert_int_eq(ks_admin_connect("bogus://x", NULL, &a), KS_EINVAL);
	ck_assert_ptr_null(a);
	ck_assert_int_eq(ks_admin_connect("127.0.0.1", NULL, &a), KS_EINVAL);
	ck_assert_int_eq(ks_admin_connect(NULL, NULL, &a), KS_EINVAL);

	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", dead_port());
	ks_remote_config_init(&rc);
	rc.request_timeout_ms = 20000;
	/* the handle is made; the calls fail with the connection's error */
	KT_OK(ks_admin_connect(url, &rc, &a));
	rv = ks_admin_list_topics(a, 0, &t, &n);
	ck_assert_int_eq(rv, -ECONNREFUSED);
	ck_assert_ptr_null(t);
	rv = ks_admin_list_groups(a, &gl, &n);
	ck_assert_int_lt(rv, 0);
	ck_assert_int_ne(rv, KS_ETIMEDOUT);
	ks_admin_free(a);
}
END_TEST

/* A peer that accepts connections (the kernel's backlog) and never
 * answers: every call ends with KS_ETIMEDOUT, the handle stays usable. */
START_TEST(test_remote_timeout)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	ks_remote_config_t rc;
	ks_admin_t *a;
	ks_topic_info_t *t;
	char url[64];
	size_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
	ks_remote_config_init(&rc);
	rc.request_timeout_ms = 300;
	KT_OK(ks_admin_connect(url, &rc, &a));
	ck_assert_int_eq(ks_admin_list_topics(a, 0, &t, &n), KS_ETIMEDOUT);
	ck_assert_int_eq(ks_admin_create_topic(a, "x", 1, NULL),
	    KS_ETIMEDOUT);
	ks_admin_free(a);
	close(fd);
}
END_TEST
#endif

Suite *admin_suite(void)
{
	Suite *s = suite_create("admin");
	TCase *tc = tcase_create("admin");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_create_list, 0, NMODES);
	tcase_add_loop_test(tc, test_describe, 0, NMODES);
	tcase_add_loop_test(tc, test_alter, 0, NMODES);
	tcase_add_loop_test(tc, test_add_partitions, 0, NMODES);
	tcase_add_loop_test(tc, test_list_offset, 0, NMODES);
	tcase_add_loop_test(tc, test_delete_topic, 0, NMODES);
	tcase_add_loop_test(tc, test_groups, 0, NMODES);
	tcase_add_test(tc, test_local_args);
#ifdef KS_WITH_NET
	tcase_add_test(tc, test_remote_no_broker);
	tcase_add_test(tc, test_remote_timeout);
#endif
	tcase_add_checked_fixture(tc, NULL, fx_stop);
	suite_add_tcase(s, tc);
	return s;
}
