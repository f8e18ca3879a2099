/*
 * check_kserver.c: the Kafka server (ks_kafka_server_new) spoken to by a
 * tiny client in this file: a blocking socket, requests encoded and
 * responses decoded with lib/kafka's codec. Covers every served API, the
 * ordering of answers, acks=0, long polls, and a group shared by a wire
 * member and an in-process consumer.
 */
#define _GNU_SOURCE
#include "kserver_util.h"
#include "util.h"

#include "core/internal.h"
#include "kafka/msg.h"
#include "kafka/proto.h"
#include "kafka/server_impl.h"
#include "log/compress.h"
#include "log/segment.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define NODE 7

static char *dir;
static ks_store_t *store;
static ks_kafka_server_t *srv;
static int port;
/* decoded responses of one test; one per thread (a thread's starts
 * zeroed, which is an empty arena; it frees its own) */
static __thread kp_arena_t arena;

static void quiet_log(void *opaque, int level, const char *msg)
{
	(void)opaque;
	if (level <= KS_LOG_WARNING)
		fprintf(stderr, "kserver test: %s\n", msg);
}

static void start_server(int auto_create)
{
	ks_kafka_server_config_t cfg;
	char url[256];

	ks_kafka_server_config_init(&cfg);
	cfg.node_id = NODE;
	cfg.auto_create_topics = auto_create;
	cfg.num_partitions = 3;
	cfg.log_cb = quiet_log;
	port = kt_kserver_start(store, &cfg, &srv);
	ck_assert_int_eq(ks_kafka_server_url(srv, 1, url, sizeof url),
	    KS_EINVAL);
}

static void setup_common(int auto_create)
{
	ks_store_config_t cfg;

	dir = kt_tmpdir("kserver");
	kt_store_config(&cfg, KS_STORE_CREATE, quiet_log);
	cfg.group_min_session_timeout_ms = 100;
	KT_OK(ks_store_open(dir, &cfg, &store));
	kp_arena_init(&arena);
	start_server(auto_create);
}

static void setup(void)
{
	setup_common(1);
}

static void setup_noauto(void)
{
	setup_common(0);
}

static void teardown(void)
{
	kp_arena_free(&arena);
	kt_kserver_stop(&srv, &store, &dir);
}

/* ---- the tiny client ------------------------------------------------------- */

static int cl_connect(void)
{
	return kt_tcp_connect(port, 20);
}

/* Sends one request: header v1/v2 for (key, ver), then body m. */
static void cl_send(int fd, int16_t key, int16_t ver, int32_t corr, void *m)
{
	kt_kafka_send(fd, key, ver, corr, "kserver-test", m);
}

/* Reads one frame into the arena; 0 at EOF (the server closed). */
static size_t read_frame(int fd, uint8_t **framep)
{
	return kt_kafka_read_frame(fd, &arena, framep);
}

/* Reads the next response, which must be for corr, into m. */
static void cl_recv(int fd, int16_t key, int16_t ver, int32_t corr, void *m)
{
	kt_kafka_recv(fd, key, ver, corr, &arena, m);
}

static int32_t next_corr = 1;

static void call(int fd, int16_t key, int16_t ver, void *req, void *resp)
{
	int32_t corr = next_corr++;

	cl_send(fd, key, ver, corr, req);
	cl_recv(fd, key, ver, corr, resp);
}

/* ---- helpers ------------------------------------------------------------ */

static void create_topic(const char *name, int32_t parts)
{
	ks_topic_config_t tc;

	ks_topic_config_init(&tc);
	tc.partitions = parts;
	KT_OK(ks_topic_create(store, name, &tc));
}

/* A batch of n records "v0".. with timestamps ts0, ts0 + 1000, ... */
static size_t make_batch(uint8_t *buf, size_t cap, int n, int64_t ts0,
    const char *prefix)
{
	ks_record_t recs[16];
	char vals[16][32];
	size_t len;
	int i;

	ck_assert_int_le(n, 16);
	memset(recs, 0, sizeof recs);
	for (i = 0; i < n; i++) {
		snprintf(vals[i], sizeof vals[i], "%s%d", prefix, i);
		recs[i].value = vals[i];
		recs[i].value_len = strlen(vals[i]);
		recs[i].timestamp = ts0 + 1000 * i;
	}
	KT_OK(ks_batch_encode(buf, cap, recs, (size_t)n, 0, ts0, &len));
	return len;
}

static kp_produce_resp_part_t produce(int fd, int16_t ver, const char *topic,
    int32_t part, const void *records, size_t len, int16_t acks)
{
	kp_produce_req_part_t rp = { .index = part };
	kp_produce_req_topic_t rt = { .n_partitions = 1, .partitions = &rp };
	kp_produce_req_t req = { .acks = acks, .timeout_ms = 5000,
		.n_topics = 1, .topics = &rt };
	kp_produce_resp_t resp;
	kp_produce_resp_part_t none = { .error_code = -100 };

	req.transactional_id = kp_cstr(NULL);
	rt.name = kp_cstr(topic);
	rp.records.p = records;
	rp.records.len = (int32_t)len;
	if (acks == 0) {
		cl_send(fd, KP_PRODUCE, ver, next_corr++, &req);
		return none;
	}
	memset(&resp, 0, sizeof resp);
	call(fd, KP_PRODUCE, ver, &req, &resp);
	ck_assert_int_eq(resp.n_topics, 1);
	ck_assert(kp_str_eq_c(resp.topics[0].name, topic));
	ck_assert_int_eq(resp.topics[0].n_partitions, 1);
	return resp.topics[0].partitions[0];
}

/* A fetch request of one partition. */
static void fetch_req(kp_fetch_req_t *req, kp_fetch_req_topic_t *rt,
    kp_fetch_req_part_t *rp, const char *topic, int32_t part, int64_t off,
    int32_t max_wait, int32_t min_bytes)
{
	memset(req, 0, sizeof *req);
	memset(rt, 0, sizeof *rt);
	memset(rp, 0, sizeof *rp);
	rp->partition = part;
	rp->fetch_offset = off;
	rp->current_leader_epoch = -1;
	rp->log_start_offset = -1;
	rp->partition_max_bytes = 1 << 20;
	rt->topic = kp_cstr(topic);
	rt->n_partitions = 1;
	rt->partitions = rp;
	req->replica_id = -1;
	req->max_wait_ms = max_wait;
	req->min_bytes = min_bytes;
	req->max_bytes = 50 << 20;
	req->session_epoch = -1;
	req->n_topics = 1;
	req->topics = rt;
	req->rack_id = kp_cstr("");
}

static kp_fetch_resp_part_t fetch(int fd, int16_t ver, const char *topic,
    int32_t part, int64_t off, int32_t max_wait, int32_t min_bytes)
{
	kp_fetch_req_t req;
	kp_fetch_req_topic_t rt;
	kp_fetch_req_part_t rp;
	kp_fetch_resp_t resp;

	fetch_req(&req, &rt, &rp, topic, part, off, max_wait, min_bytes);
	memset(&resp, 0, sizeof resp);
	call(fd, KP_FETCH, ver, &req, &resp);
	ck_assert_int_eq(resp.error_code, 0);
	ck_assert_int_eq(resp.session_id, 0);
	ck_assert_int_eq(resp.n_topics, 1);
	ck_assert_int_eq(resp.topics[0].n_partitions, 1);
	return resp.topics[0].partitions[0];
}

/* The values of the records in a fetched buffer, joined with ','. */
static void values_of(const void *buf, size_t len, int64_t from, char *out,
    size_t cap, int64_t *first_offset)
{
	ks_batch_iter_t it;
	ks_record_t rec;
	size_t used = 0;
	int rc;

	out[0] = '\0';
	*first_offset = -1;
	ks_batch_iter_init(&it, buf, len, from);
	while ((rc = ks_batch_iter_next(&it, &rec)) == 1) {
		if (*first_offset < 0)
			*first_offset = rec.offset;
		used += (size_t)snprintf(out + used, cap - used, "%s%.*s",
		    used ? "," : "", (int)rec.value_len,
		    (const char *)rec.value);
		ck_assert_uint_lt(used, cap);
	}
	ck_assert_int_eq(rc, 0);
}

/* ---- ApiVersions ----------------------------------------------------------- */

static const kp_api_version_t *find_api(const kp_api_versions_resp_t *m,
    int16_t key)
{
	int32_t i;

	for (i = 0; i < m->n_api_keys; i++)
		if (m->api_keys[i].api_key == key)
			return &m->api_keys[i];
	return NULL;
}

START_TEST(api_versions)
{
	int fd = cl_connect();
	int16_t v;
	size_t i;

	for (v = 0; v <= 3; v++) {
		kp_api_versions_req_t req = { .client_software_name =
			{ "kserver-test", 12 }, .client_software_version =
			{ "1", 1 } };
		kp_api_versions_resp_t resp;
		const kp_api_version_t *a;

		memset(&resp, 0, sizeof resp);
		call(fd, KP_API_VERSIONS, v, &req, &resp);
		ck_assert_int_eq(resp.error_code, 0);
		/* Exactly the codec's table, which the server implements. */
		ck_assert_int_eq(resp.n_api_keys, (int32_t)kp_api_count());
		for (i = 0; i < kp_api_count(); i++) {
			ck_assert_ptr_nonnull(a = find_api(&resp,
			    kp_apis[i].key));
			ck_assert_int_eq(a->min_version,
			    kp_apis[i].min_version);
			ck_assert_int_eq(a->max_version,
			    kp_apis[i].max_version);
		}
		ck_assert_ptr_nonnull(a = find_api(&resp, KP_PRODUCE));
		ck_assert_int_le(a->min_version, 3);
		ck_assert_int_eq(a->max_version, 7);
		ck_assert_ptr_nonnull(a = find_api(&resp, KP_FETCH));
		ck_assert_int_eq(a->min_version, 4);
		ck_assert_int_eq(a->max_version, 11);
		ck_assert_ptr_nonnull(a = find_api(&resp, KP_FIND_COORDINATOR));
		ck_assert_int_eq(a->min_version, 0);
		/* 16 + 5 admin + 4 replication */
		ck_assert_int_eq(resp.n_api_keys, 25);
	}
	close(fd);
}
END_TEST

/* v99: error 35 in a v0-shaped answer that still lists our ranges. */
START_TEST(api_versions_unsupported)
{
	kp_api_versions_req_t req;
	kp_api_versions_resp_t resp;
	const kp_api_version_t *a;
	int fd = cl_connect();
	uint8_t *frame;
	int32_t corr;
	size_t len;
	kp_io_t io;

	memset(&req, 0, sizeof req);
	/* Encoded as v3 (flexible), announced as v99. */
	{
		kp_req_hdr_t h = { .api_key = KP_API_VERSIONS,
			.api_version = 3, .correlation_id = 99 };
		uint8_t *buf;
		kp_writer_init(&io);
		kp_w_frame_begin(&io);
		h.client_id = kp_cstr("x");
		KT_OK(kp_req_hdr(&io, &h));
		KT_OK(kp_api_versions_req(&io, &req));
		KT_OK(kp_w_frame_end(&io));
		KT_OK(kp_w_flatten(&io, &buf, &len));
		ks__put_be16(buf + 6, 99); /* the version field */
		kt_write_all(fd, buf, len);
		free(buf);
		kp_writer_free(&io);
	}
	len = read_frame(fd, &frame);
	ck_assert_uint_gt(len, 0);
	kp_reader_init(&io, frame, len, &arena);
	KT_OK(kp_resp_hdr(&io, KP_API_VERSIONS, 0, &corr));
	ck_assert_int_eq(corr, 99);
	memset(&resp, 0, sizeof resp);
	KT_OK(kp_api_versions_resp(&io, &resp));
	ck_assert_uint_eq(kp_r_left(&io), 0);
	ck_assert_int_eq(resp.error_code, KP_UNSUPPORTED_VERSION);
	ck_assert_ptr_nonnull(a = find_api(&resp, KP_API_VERSIONS));
	ck_assert_int_eq(a->max_version, 3);
	/* The connection goes on: the client retries lower. */
	memset(&resp, 0, sizeof resp);
	call(fd, KP_API_VERSIONS, 0, &req, &resp);
	ck_assert_int_eq(resp.error_code, 0);
	close(fd);
}
END_TEST

/* ---- Metadata --------------------------------------------------------------- */

static kp_metadata_resp_t metadata(int fd, int16_t ver, const char *topic,
    bool allow)
{
	kp_str_t name = kp_cstr(topic);
	kp_metadata_req_t req = { .n_topics = topic ? 1 : -1,
		.topics = topic ? &name : NULL,
		.allow_auto_topic_creation = allow };
	kp_metadata_resp_t resp;

	memset(&resp, 0, sizeof resp);
	call(fd, KP_METADATA, ver, &req, &resp);
	ck_assert_int_eq(resp.n_brokers, 1);
	ck_assert_int_eq(resp.brokers[0].node_id, NODE);
	ck_assert(kp_str_eq_c(resp.brokers[0].host, "127.0.0.1"));
	ck_assert_int_eq(resp.brokers[0].port, port);
	if (ver >= 1)
		ck_assert_int_eq(resp.controller_id, NODE);
	if (ver >= 2)
		ck_assert(kp_str_eq_c(resp.cluster_id, "kstream"));
	return resp;
}

START_TEST(metadata_auto_create)
{
	kp_metadata_resp_t m;
	int fd = cl_connect(), i, seen = 0;
	ks_topic_t *t;

	/* Not allowed by the request: unknown, and not created. */
	m = metadata(fd, 4, "auto1", false);
	ck_assert_int_eq(m.n_topics, 1);
	ck_assert_int_eq(m.topics[0].error_code,
	    KP_UNKNOWN_TOPIC_OR_PARTITION);
	ck_assert_int_eq(ks_topic_open(store, "auto1", &t), KS_ETOPIC);

	/* Allowed: created with num_partitions, this node leading. */
	m = metadata(fd, 6, "auto1", true);
	ck_assert_int_eq(m.topics[0].error_code, 0);
	ck_assert_int_eq(m.topics[0].n_partitions, 3);
	for (i = 0; i < 3; i++) {
		kp_metadata_part_t *p = &m.topics[0].partitions[i];
		ck_assert_int_eq(p->partition, i);
		ck_assert_int_eq(p->leader_id, NODE);
		ck_assert_int_eq(p->n_replicas, 1);
		ck_assert_int_eq(p->replicas[0], NODE);
		ck_assert_int_eq(p->n_isr, 1);
		ck_assert_int_eq(p->isr[0], NODE);
	}
	KT_OK(ks_topic_open(store, "auto1", &t));
	ck_assert_int_eq(ks_topic_partitions(t), 3);
	ks_topic_release(t);

	/* v0 asks with [] and auto-creates (no flag before v4). */
	m = metadata(fd, 0, "auto0", true);
	ck_assert_int_eq(m.topics[0].error_code, 0);

	/* A bad name. */
	m = metadata(fd, 1, "bad name!", true);
	ck_assert_int_eq(m.topics[0].error_code, KP_INVALID_TOPIC_EXCEPTION);

	/* All topics (null, v1+): ours and the internal offsets topic. */
	m = metadata(fd, 1, NULL, true);
	for (i = 0; i < m.n_topics; i++) {
		if (kp_str_eq_c(m.topics[i].name, "__consumer_offsets")) {
			ck_assert(m.topics[i].is_internal);
			seen |= 1;
		} else if (kp_str_eq_c(m.topics[i].name, "auto1")) {
			ck_assert(!m.topics[i].is_internal);
			seen |= 2;
		} else if (kp_str_eq_c(m.topics[i].name, "auto0")) {
			seen |= 4;
		}
	}
	ck_assert_int_eq(seen, 7);
	close(fd);
}
END_TEST

START_TEST(metadata_no_auto_create)
{
	kp_metadata_resp_t m;
	int fd = cl_connect();
	ks_topic_t *t;

	m = metadata(fd, 5, "nope", true);
	ck_assert_int_eq(m.topics[0].error_code,
	    KP_UNKNOWN_TOPIC_OR_PARTITION);
	ck_assert_int_eq(ks_topic_open(store, "nope", &t), KS_ETOPIC);
	create_topic("there", 2);
	m = metadata(fd, 5, "there", true);
	ck_assert_int_eq(m.topics[0].error_code, 0);
	ck_assert_int_eq(m.topics[0].n_partitions, 2);
	close(fd);
}
END_TEST

/* Each listener's clients are told that listener's port. */
START_TEST(metadata_per_listener)
{
	kp_metadata_resp_t m;
	char url[256], path[128];
	int first = port, second, fd1, fd2;

	fd1 = cl_connect();
	snprintf(path, sizeof path, "unix://%s/sock", dir);
	KT_OK(ks_kafka_server_listen(srv, path, NULL));
	KT_OK(ks_kafka_server_listen(srv, "tcp://127.0.0.1:0", NULL));
	KT_OK(ks_kafka_server_url(srv, 2, url, sizeof url));
	second = atoi(strrchr(url, ':') + 1);
	ck_assert_int_ne(second, first);
	port = second;
	fd2 = cl_connect();
	m = metadata(fd2, 1, NULL, false); /* asserts the port */
	ck_assert_int_eq(m.brokers[0].port, second);
	port = first;
	m = metadata(fd1, 1, NULL, false);
	ck_assert_int_eq(m.brokers[0].port, first);
	close(fd1);
	close(fd2);
}
END_TEST

/* ---- Produce and Fetch ------------------------------------------------------ */

START_TEST(produce_fetch)
{
	uint8_t b1[1024], b2[1024], both[2048];
	size_t l1, l2;
	kp_produce_resp_part_t pr;
	kp_fetch_resp_part_t fr;
	int fd = cl_connect();
	char vals[256];
	int64_t first;
	int16_t v;

	create_topic("t", 2);
	l1 = make_batch(b1, sizeof b1, 3, 1000, "a");
	pr = produce(fd, 7, "t", 1, b1, l1, 1);
	ck_assert_int_eq(pr.error_code, 0);
	ck_assert_int_eq(pr.base_offset, 0);
	ck_assert_int_eq(pr.log_append_time_ms, -1);
	ck_assert_int_eq(pr.log_start_offset, 0);

	/* The same batch again, at v3: offsets follow. */
	pr = produce(fd, 3, "t", 1, b1, l1, -1);
	ck_assert_int_eq(pr.error_code, 0);
	ck_assert_int_eq(pr.base_offset, 3);

	/* Two batches in one records field. */
	l2 = make_batch(b2, sizeof b2, 2, 5000, "b");
	memcpy(both, b2, l2);
	memcpy(both + l2, b1, l1);
	pr = produce(fd, 5, "t", 1, both, l1 + l2, 1);
	ck_assert_int_eq(pr.error_code, 0);
	ck_assert_int_eq(pr.base_offset, 6);

	for (v = 4; v <= 11; v++) {
		fr = fetch(fd, v, "t", 1, 0, 0, 1);
		ck_assert_int_eq(fr.error_code, 0);
		ck_assert_int_eq(fr.high_watermark, 11);
		ck_assert_int_eq(fr.last_stable_offset, 11);
		if (v >= 5)
			ck_assert_int_eq(fr.log_start_offset, 0);
		if (v >= 11)
			ck_assert_int_eq(fr.preferred_read_replica, -1);
		/* The batches as sent, the log's offsets in them. */
		ck_assert_int_eq(fr.records.len, (int32_t)(3 * l1 + l2));
		ck_assert_int_eq(ks__be64(fr.records.p), 0);
		ck_assert_int_eq(ks__be64(fr.records.p + l1), 3);
		ck_assert_int_eq(ks__be64(fr.records.p + 2 * l1), 6);
		ck_assert_int_eq(ks__be64(fr.records.p + 2 * l1 + l2), 8);
		ck_assert(memcmp(fr.records.p + 16, b1 + 16, l1 - 16) == 0);
		ck_assert(memcmp(fr.records.p + 2 * l1 + 16, b2 + 16,
		    l2 - 16) == 0);
		values_of(fr.records.p, (size_t)fr.records.len, 0, vals,
		    sizeof vals, &first);
		ck_assert_str_eq(vals, "a0,a1,a2,a0,a1,a2,b0,b1,a0,a1,a2");
	}
	/* From the middle: the batch holding 4 comes whole. */
	fr = fetch(fd, 11, "t", 1, 4, 0, 1);
	ck_assert_int_eq(ks__be64(fr.records.p), 3);
	values_of(fr.records.p, (size_t)fr.records.len, 4, vals,
	    sizeof vals, &first);
	ck_assert_int_eq(first, 4);
	/* At the end: nothing, no error. */
	fr = fetch(fd, 11, "t", 1, 11, 0, 1);
	ck_assert_int_eq(fr.error_code, 0);
	ck_assert_int_le(fr.records.len, 0);
	/* Partition 0 was untouched. */
	fr = fetch(fd, 11, "t", 0, 0, 0, 0);
	ck_assert_int_eq(fr.high_watermark, 0);
	close(fd);
}
END_TEST

START_TEST(produce_errors)
{
	uint8_t b[1024];
	size_t l;
	kp_produce_resp_part_t pr;
	int fd = cl_connect();

	create_topic("t", 1);
	l = make_batch(b, sizeof b, 2, 1000, "x");
	pr = produce(fd, 7, "nosuch", 0, b, l, 1);
	ck_assert_int_eq(pr.error_code, KP_UNKNOWN_TOPIC_OR_PARTITION);
	pr = produce(fd, 7, "t", 5, b, l, 1);
	ck_assert_int_eq(pr.error_code, KP_UNKNOWN_TOPIC_OR_PARTITION);
	pr = produce(fd, 7, "t", 0, b, l, 2);
	ck_assert_int_eq(pr.error_code, KP_INVALID_REQUIRED_ACKS);
	pr = produce(fd, 7, "__consumer_offsets", 0, b, l, 1);
	ck_assert_int_eq(pr.error_code, KP_INVALID_TOPIC_EXCEPTION);
	b[30] ^= 0xff; /* inside the CRC's range */
	pr = produce(fd, 7, "t", 0, b, l, 1);
	ck_assert_int_eq(pr.error_code, KP_CORRUPT_MESSAGE);
	b[30] ^= 0xff;
	pr = produce(fd, 7, "t", 0, b, l - 1, 1); /* truncated */
	ck_assert_int_eq(pr.error_code, KP_CORRUPT_MESSAGE);
	/* An old message format (magic 1): only RecordBatch v2 is kept. */
	b[16] = 1;
	pr = produce(fd, 7, "t", 0, b, l, 1);
	ck_assert_int_eq(pr.error_code, KP_UNSUPPORTED_FOR_MESSAGE_FORMAT);
	b[16] = 2;
	/* zstd below Produce v7, as Kafka refuses it. */
	b[22] |= KS_COMPRESSION_ZSTD;
	pr = produce(fd, 6, "t", 0, b, l, 1);
	ck_assert_int_eq(pr.error_code, KP_UNSUPPORTED_COMPRESSION_TYPE);
	b[22] &= (uint8_t)~KS_BATCH_COMPRESSION_MASK;
	pr = produce(fd, 7, "t", 0, b, l, 1);
	ck_assert_int_eq(pr.error_code, 0);
	ck_assert_int_eq(pr.base_offset, 0);
	close(fd);
}
END_TEST

/*
 * Produce v0-2: served when the codec's table admits them (librdkafka
 * 2.0.2 compresses only toward a broker advertising Produce v0); a
 * RecordBatch v2 is taken at any version. Otherwise such a request
 * closes the connection, as any unsupported version does.
 */
START_TEST(produce_old_versions)
{
	uint8_t b[1024], *got;
	size_t l;
	kp_produce_resp_part_t pr;
	int fd = cl_connect();
	int16_t v;

	create_topic("t", 1);
	l = make_batch(b, sizeof b, 2, 1000, "o");
	if (!kp_api_supported(KP_PRODUCE, 0)) {
		kp_produce_req_part_t rp = { .index = 0 };
		kp_produce_req_topic_t rt = { .n_partitions = 1,
			.partitions = &rp };
		kp_produce_req_t req = { .acks = 1, .timeout_ms = 5000,
			.n_topics = 1, .topics = &rt };
		rt.name = kp_cstr("t");
		rp.records.p = b;
		rp.records.len = (int32_t)l;
		cl_send(fd, KP_PRODUCE, 0, next_corr++, &req);
		ck_assert_uint_eq(read_frame(fd, &got), 0);
		close(fd);
		return;
	}
	for (v = 0; v <= 2; v++) {
		pr = produce(fd, v, "t", 0, b, l, 1);
		ck_assert_int_eq(pr.error_code, 0);
		ck_assert_int_eq(pr.base_offset, 2 * v);
	}
	close(fd);
}
END_TEST

/* acks=0: no answer at all; the next answer is the next request's. */
START_TEST(produce_acks0)
{
	uint8_t b[1024];
	size_t l;
	kp_api_versions_req_t req;
	kp_api_versions_resp_t resp;
	ks_topic_t *t;
	ks_log_t *log;
	int fd = cl_connect();

	create_topic("t", 1);
	l = make_batch(b, sizeof b, 4, 1000, "z");
	produce(fd, 7, "t", 0, b, l, 0);
	produce(fd, 7, "t", 0, b, l, 0);
	memset(&req, 0, sizeof req);
	memset(&resp, 0, sizeof resp);
	call(fd, KP_API_VERSIONS, 2, &req, &resp); /* checks the corr id */
	KT_OK(ks_topic_open(store, "t", &t));
	KT_OK(ks_topic_partition(t, 0, &log));
	ck_assert_int_eq(ks_log_end_offset(log), 8);
	ks_topic_release(t);
	close(fd);
}
END_TEST

/* Requests sent back to back are answered in order, a held one too. */
START_TEST(pipelined)
{
	kp_fetch_req_t freq;
	kp_fetch_req_topic_t rt;
	kp_fetch_req_part_t rp;
	kp_fetch_resp_t fresp;
	kp_api_versions_req_t areq;
	kp_api_versions_resp_t aresp;
	kp_metadata_req_t mreq = { .n_topics = -1 };
	kp_metadata_resp_t mresp;
	int fd = cl_connect();

	create_topic("t", 1);
	memset(&areq, 0, sizeof areq);
	/* A long poll that ends by its timer, then two quick ones. */
	fetch_req(&freq, &rt, &rp, "t", 0, 0, 300, 1);
	cl_send(fd, KP_FETCH, 11, 100, &freq);
	cl_send(fd, KP_API_VERSIONS, 3, 101, &areq);
	cl_send(fd, KP_METADATA, 1, 102, &mreq);
	memset(&fresp, 0, sizeof fresp);
	cl_recv(fd, KP_FETCH, 11, 100, &fresp);
	ck_assert_int_eq(fresp.topics[0].partitions[0].error_code, 0);
	ck_assert_int_le(fresp.topics[0].partitions[0].records.len, 0);
	memset(&aresp, 0, sizeof aresp);
	cl_recv(fd, KP_API_VERSIONS, 3, 101, &aresp);
	memset(&mresp, 0, sizeof mresp);
	cl_recv(fd, KP_METADATA, 1, 102, &mresp);
	close(fd);
}
END_TEST

struct delayed {
	int64_t delay_ms;
	const char *value;
};

/* Produces one record in process after a while (into "t" partition 0). */
static void *produce_later(void *arg)
{
	struct delayed *d = arg;
	ks_producer_t *p;
	ks_record_t r;

	usleep((useconds_t)d->delay_ms * 1000);
	memset(&r, 0, sizeof r);
	r.value = d->value;
	r.value_len = strlen(d->value);
	r.timestamp = -1;
	if (ks_producer_new(store, NULL, &p) == 0) {
		ks_produce(p, "t", 0, &r, 1, 0, NULL);
		ks_producer_free(p);
	}
	return NULL;
}

/* A long poll is answered by an in-process append. */
START_TEST(long_poll_wakes)
{
	struct delayed d = { 200, "late" };
	kp_fetch_resp_part_t fr;
	pthread_t th;
	char vals[64];
	int64_t first;
	int fd = cl_connect();

	create_topic("t", 1);
	ck_assert_int_eq(pthread_create(&th, NULL, produce_later, &d), 0);
	/* The wait is far longer than the test's: only the append can
	 * answer it in time (the socket's 20 s timeout fails it). */
	fr = fetch(fd, 11, "t", 0, 0, 30000, 1);
	pthread_join(th, NULL);
	ck_assert_int_eq(fr.error_code, 0);
	ck_assert_int_eq(fr.high_watermark, 1);
	values_of(fr.records.p, (size_t)fr.records.len, 0, vals, sizeof vals,
	    &first);
	ck_assert_str_eq(vals, "late");
	close(fd);
}
END_TEST

/* Nothing comes: an empty answer after max_wait_ms. */
START_TEST(long_poll_times_out)
{
	kp_fetch_resp_part_t fr;
	int fd = cl_connect();

	create_topic("t", 1);
	fr = fetch(fd, 10, "t", 0, 0, 200, 1);
	ck_assert_int_eq(fr.error_code, 0);
	ck_assert_int_le(fr.records.len, 0);
	ck_assert_int_eq(fr.high_watermark, 0);
	/* min_bytes larger than what comes: still answered at the timer,
	 * with what there is. */
	{
		struct delayed d = { 0, "small" };
		produce_later(&d);
	}
	fr = fetch(fd, 10, "t", 0, 0, 200, 1 << 20);
	ck_assert_int_eq(fr.error_code, 0);
	ck_assert_int_gt(fr.records.len, 0);
	close(fd);
}
END_TEST

START_TEST(fetch_out_of_range)
{
	uint8_t b[1024];
	size_t l;
	kp_fetch_resp_part_t fr;
	int fd = cl_connect();

	create_topic("t", 1);
	l = make_batch(b, sizeof b, 3, 1000, "a");
	produce(fd, 7, "t", 0, b, l, 1);
	fr = fetch(fd, 11, "t", 0, 100, 500, 1);
	ck_assert_int_eq(fr.error_code, KP_OFFSET_OUT_OF_RANGE);
	ck_assert_int_eq(fr.high_watermark, 3);
	fr = fetch(fd, 4, "t", 0, -5, 500, 1);
	ck_assert_int_eq(fr.error_code, KP_OFFSET_OUT_OF_RANGE);
	fr = fetch(fd, 11, "nosuch", 0, 0, 500, 1);
	ck_assert_int_eq(fr.error_code, KP_UNKNOWN_TOPIC_OR_PARTITION);
	close(fd);
}
END_TEST

/* ---- ListOffsets ------------------------------------------------------------ */

static kp_list_offsets_resp_part_t list_offsets(int fd, int16_t ver,
    const char *topic, int64_t ts)
{
	kp_list_offsets_req_part_t rp = { .partition = 0, .timestamp = ts,
		.max_num_offsets = 1 };
	kp_list_offsets_req_topic_t rt = { .n_partitions = 1,
		.partitions = &rp };
	kp_list_offsets_req_t req = { .replica_id = -1, .n_topics = 1,
		.topics = &rt };
	kp_list_offsets_resp_t resp;

	rt.name = kp_cstr(topic);
	memset(&resp, 0, sizeof resp);
	call(fd, KP_LIST_OFFSETS, ver, &req, &resp);
	ck_assert_int_eq(resp.n_topics, 1);
	ck_assert_int_eq(resp.topics[0].n_partitions, 1);
	return resp.topics[0].partitions[0];
}

START_TEST(list_offsets_all)
{
	uint8_t b[1024];
	size_t l;
	kp_list_offsets_resp_part_t p;
	int fd = cl_connect();
	int16_t v;

	create_topic("t", 1);
	/* timestamps 1000, 2000, 3000 at offsets 0, 1, 2 */
	l = make_batch(b, sizeof b, 3, 1000, "a");
	produce(fd, 7, "t", 0, b, l, 1);
	for (v = 0; v <= 3; v++) {
		p = list_offsets(fd, v, "t", -1);
		ck_assert_int_eq(p.error_code, 0);
		ck_assert_int_eq(p.offset, 3);
		if (v == 0) {
			ck_assert_int_eq(p.n_old_offsets, 1);
			ck_assert_int_eq(p.old_offsets[0], 3);
		}
		p = list_offsets(fd, v, "t", -2);
		ck_assert_int_eq(p.offset, 0);
	}
	p = list_offsets(fd, 1, "t", 1500);
	ck_assert_int_eq(p.error_code, 0);
	ck_assert_int_eq(p.offset, 1);
	ck_assert_int_eq(p.timestamp, 2000);
	p = list_offsets(fd, 3, "t", 3000);
	ck_assert_int_eq(p.offset, 2);
	p = list_offsets(fd, 2, "t", 9000);
	ck_assert_int_eq(p.error_code, 0);
	ck_assert_int_eq(p.offset, -1);
	p = list_offsets(fd, 0, "t", 9000); /* v0: an empty list */
	ck_assert_int_eq(p.n_old_offsets, 0);
	p = list_offsets(fd, 1, "nosuch", -1);
	ck_assert_int_eq(p.error_code, KP_UNKNOWN_TOPIC_OR_PARTITION);

	/* in a compressed batch, the found record's own time */
	{
		void *z;
		size_t zl;

		create_topic("tz", 1);
		l = make_batch(b, sizeof b, 3, 1000, "z");
		KT_OK(ks__batch_compress(KS_COMPRESSION_GZIP, b, l, &z, &zl));
		ck_assert_int_eq(produce(fd, 7, "tz", 0, z, zl, 1).error_code,
		    0);
		free(z);
		p = list_offsets(fd, 1, "tz", 1500);
		ck_assert_int_eq(p.error_code, 0);
		ck_assert_int_eq(p.offset, 1);
		ck_assert_int_eq(p.timestamp, 2000);
	}
	close(fd);
}
END_TEST

/* ---- CreateTopics, DeleteTopics ------------------------------------------ */

static int16_t create(int fd, int16_t ver, const char *name, int32_t parts,
    int16_t rf, const char *cfg_name, const char *cfg_value, bool validate)
{
	kp_create_topics_config_t c;
	kp_creatable_topic_t ct;
	kp_create_topics_req_t req;
	kp_create_topics_resp_t resp;

	memset(&ct, 0, sizeof ct);
	ct.name = kp_cstr(name);
	ct.num_partitions = parts;
	ct.replication_factor = rf;
	if (cfg_name) {
		c.name = kp_cstr(cfg_name);
		c.value = kp_cstr(cfg_value);
		ct.configs = &c;
		ct.n_configs = 1;
	}
	memset(&req, 0, sizeof req);
	req.n_topics = 1;
	req.topics = &ct;
	req.timeout_ms = 5000;
	req.validate_only = validate;
	memset(&resp, 0, sizeof resp);
	call(fd, KP_CREATE_TOPICS, ver, &req, &resp);
	ck_assert_int_eq(resp.n_topics, 1);
	ck_assert(kp_str_eq_c(resp.topics[0].name, name));
	if (ver >= 1 && resp.topics[0].error_code)
		ck_assert_int_gt(resp.topics[0].error_message.len, 0);
	return resp.topics[0].error_code;
}

static int16_t delete(int fd, int16_t ver, const char *name)
{
	kp_str_t n = kp_cstr(name);
	kp_delete_topics_req_t req = { .n_topics = 1, .topics = &n,
		.timeout_ms = 5000 };
	kp_delete_topics_resp_t resp;

	memset(&resp, 0, sizeof resp);
	call(fd, KP_DELETE_TOPICS, ver, &req, &resp);
	ck_assert_int_eq(resp.n_topics, 1);
	return resp.topics[0].error_code;
}

START_TEST(create_delete)
{
	ks_topic_config_t tc;
	ks_topic_t *t;
	int fd = cl_connect();
	uint8_t b[512];
	size_t l;

	ck_assert_int_eq(create(fd, 4, "c1", 4, -1, "retention.ms",
	    "12345", false), 0);
	KT_OK(ks_topic_open(store, "c1", &t));
	ck_assert_int_eq(ks_topic_partitions(t), 4);
	KT_OK(ks_topic_config(t, &tc));
	ck_assert_int_eq(tc.log.retention_ms, 12345);
	ks_topic_release(t);
	ck_assert_int_eq(create(fd, 0, "c1", 1, 1, NULL, NULL, false),
	    KP_TOPIC_ALREADY_EXISTS);
	ck_assert_int_eq(create(fd, 4, "c2", -1, -1, NULL, NULL, false), 0);
	KT_OK(ks_topic_open(store, "c2", &t));
	ck_assert_int_eq(ks_topic_partitions(t), 3); /* num_partitions */
	ks_topic_release(t);
	ck_assert_int_eq(create(fd, 2, "c3", 1, 3, NULL, NULL, false),
	    KP_INVALID_REPLICATION_FACTOR);
	ck_assert_int_eq(create(fd, 3, "c3", 0, 1, NULL, NULL, false),
	    KP_INVALID_PARTITIONS);
	ck_assert_int_eq(create(fd, 1, "c3", 1, 1, "no.such.config", "1",
	    false), KP_INVALID_CONFIG);
	ck_assert_int_eq(create(fd, 1, "c3", 1, 1, "retention.ms", "x",
	    false), KP_INVALID_CONFIG);
	ck_assert_int_eq(create(fd, 1, "bad/name", 1, 1, NULL, NULL, false),
	    KP_INVALID_TOPIC_EXCEPTION);
	/* validate_only: checked, not created */
	ck_assert_int_eq(create(fd, 1, "c3", 1, 1, NULL, NULL, true), 0);
	ck_assert_int_eq(ks_topic_open(store, "c3", &t), KS_ETOPIC);
	ck_assert_int_eq(create(fd, 1, "c1", 1, 1, NULL, NULL, true),
	    KP_TOPIC_ALREADY_EXISTS);

	/* The server caches a handle once it produced: delete still works
	 * and the name can be made again. */
	l = make_batch(b, sizeof b, 1, 1000, "d");
	ck_assert_int_eq(produce(fd, 7, "c1", 0, b, l, 1).error_code, 0);
	ck_assert_int_eq(delete(fd, 3, "c1"), 0);
	ck_assert_int_eq(ks_topic_open(store, "c1", &t), KS_ETOPIC);
	ck_assert_int_eq(delete(fd, 0, "c1"), KP_UNKNOWN_TOPIC_OR_PARTITION);
	ck_assert_int_eq(produce(fd, 7, "c1", 0, b, l, 1).error_code,
	    KP_UNKNOWN_TOPIC_OR_PARTITION);
	ck_assert_int_eq(create(fd, 4, "c1", 1, 1, NULL, NULL, false), 0);
	ck_assert_int_eq(produce(fd, 7, "c1", 0, b, l, 1).base_offset, 0);

	/* Deleted in process while the server holds a handle: the server
	 * lets go of it (within a second), so the name can be made again
	 * in process too. */
	KT_OK(ks_topic_delete(store, "c1"));
	{
		int i, rc = KS_EBUSY;
		for (i = 0; i < 200 && rc == KS_EBUSY; i++) {
			rc = ks_topic_create(store, "c1", NULL);
			if (rc == KS_EBUSY)
				usleep(50000);
		}
		KT_OK(rc);
	}
	ck_assert_int_eq(produce(fd, 7, "c1", 0, b, l, 1).base_offset, 0);
	close(fd);
}
END_TEST

/* ---- groups ----------------------------------------------------------------- */

static void subscription(const char *topic, kp_bytes_t *out)
{
	ks_subscription_t sub;
	const char *topics[1] = { topic };
	size_t len;
	uint8_t *buf;

	ks_subscription_init(&sub);
	sub.topics = topics;
	sub.topic_count = 1;
	ck_assert_int_eq(ks_subscription_encode(&sub, NULL, 0, &len),
	    -ENOBUFS);
	buf = kp_arena_alloc(&arena, len);
	KT_OK(ks_subscription_encode(&sub, buf, len, &len));
	out->p = buf;
	out->len = (int32_t)len;
}

static void join_req(kp_join_group_req_t *req, kp_join_group_protocol_t *pr,
    const char *group, const char *member, const char *topic)
{
	memset(req, 0, sizeof *req);
	memset(pr, 0, sizeof *pr);
	pr->name = kp_cstr("range");
	subscription(topic, &pr->metadata);
	req->group_id = kp_cstr(group);
	req->session_timeout_ms = 10000;
	req->rebalance_timeout_ms = 10000;
	req->member_id = kp_cstr(member);
	req->group_instance_id = kp_cstr(NULL);
	req->protocol_type = kp_cstr("consumer");
	req->n_protocols = 1;
	req->protocols = pr;
}

static kp_join_group_resp_t join(int fd, int16_t ver, const char *group,
    const char *member, const char *topic)
{
	kp_join_group_req_t req;
	kp_join_group_protocol_t pr;
	kp_join_group_resp_t resp;

	join_req(&req, &pr, group, member, topic);
	memset(&resp, 0, sizeof resp);
	call(fd, KP_JOIN_GROUP, ver, &req, &resp);
	return resp;
}

static int16_t heartbeat(int fd, const char *group, int32_t gen,
    const char *member)
{
	kp_heartbeat_req_t req = { .generation_id = gen };
	kp_heartbeat_resp_t resp;

	req.group_id = kp_cstr(group);
	req.member_id = kp_cstr(member);
	req.group_instance_id = kp_cstr(NULL);
	memset(&resp, 0, sizeof resp);
	call(fd, KP_HEARTBEAT, 3, &req, &resp);
	return resp.error_code;
}

static kp_sync_group_resp_t sync_group(int fd, const char *group,
    int32_t gen, const char *member, const void *assign, size_t alen)
{
	kp_sync_group_assignment_t a;
	kp_sync_group_req_t req = { .generation_id = gen };
	kp_sync_group_resp_t resp;

	req.group_id = kp_cstr(group);
	req.member_id = kp_cstr(member);
	req.group_instance_id = kp_cstr(NULL);
	if (assign) {
		a.member_id = kp_cstr(member);
		a.assignment.p = assign;
		a.assignment.len = (int32_t)alen;
		req.assignments = &a;
		req.n_assignments = 1;
	}
	memset(&resp, 0, sizeof resp);
	call(fd, KP_SYNC_GROUP, 3, &req, &resp);
	return resp;
}

START_TEST(group_round)
{
	kp_find_coordinator_req_t freq;
	kp_find_coordinator_resp_t fresp;
	kp_join_group_resp_t j;
	kp_sync_group_resp_t s;
	char member[256];
	int fd = cl_connect();
	int16_t v;

	create_topic("gt", 2);
	/* FindCoordinator: this node; none for transactions. */
	for (v = 0; v <= 2; v++) {
		memset(&freq, 0, sizeof freq);
		freq.key = kp_cstr("g1");
		memset(&fresp, 0, sizeof fresp);
		call(fd, KP_FIND_COORDINATOR, v, &freq, &fresp);
		ck_assert_int_eq(fresp.error_code, 0);
		ck_assert_int_eq(fresp.node_id, NODE);
		ck_assert(kp_str_eq_c(fresp.host, "127.0.0.1"));
		ck_assert_int_eq(fresp.port, port);
	}
	freq.key_type = 1;
	memset(&fresp, 0, sizeof fresp);
	call(fd, KP_FIND_COORDINATOR, 2, &freq, &fresp);
	ck_assert_int_eq(fresp.error_code, KP_COORDINATOR_NOT_AVAILABLE);

	/* JoinGroup v5 without an id: MEMBER_ID_REQUIRED and an id. */
	j = join(fd, 5, "g1", "", "gt");
	ck_assert_int_eq(j.error_code, KP_MEMBER_ID_REQUIRED);
	ck_assert_int_gt(j.member_id.len, 0);
	snprintf(member, sizeof member, "%s", j.member_id.s);
	j = join(fd, 5, "g1", member, "gt");
	ck_assert_int_eq(j.error_code, 0);
	ck_assert_int_eq(j.generation_id, 1);
	ck_assert(kp_str_eq_c(j.protocol_name, "range"));
	ck_assert(kp_str_eq_c(j.leader, member));
	ck_assert(kp_str_eq_c(j.member_id, member));
	ck_assert_int_eq(j.n_members, 1);
	ck_assert(kp_str_eq_c(j.members[0].member_id, member));

	/* SyncGroup: the leader's bytes come back undecoded. */
	s = sync_group(fd, "g1", 1, member, "\x00\x01opaque", 8);
	ck_assert_int_eq(s.error_code, 0);
	ck_assert_int_eq(s.assignment.len, 8);
	ck_assert(memcmp(s.assignment.p, "\x00\x01opaque", 8) == 0);
	ck_assert_int_eq(heartbeat(fd, "g1", 1, member), 0);
	ck_assert_int_eq(heartbeat(fd, "g1", 5, member),
	    KP_ILLEGAL_GENERATION);

	/* OffsetCommit, then OffsetFetch by name and all. */
	{
		kp_offset_commit_req_part_t cp[2] = {
			{ .partition = 0, .offset = 42, .leader_epoch = -1,
			  .commit_timestamp = -1 },
			{ .partition = 1, .offset = 7, .leader_epoch = -1,
			  .commit_timestamp = -1 } };
		kp_offset_commit_req_topic_t ct = { .n_partitions = 2,
			.partitions = cp };
		kp_offset_commit_req_t creq = { .generation_id = 1,
			.retention_time_ms = -1, .n_topics = 1, .topics = &ct };
		kp_offset_commit_resp_t cresp;
		kp_offset_fetch_req_topic_t ft;
		int32_t parts[3] = { 0, 1, 2 };
		kp_offset_fetch_req_t ofreq;
		kp_offset_fetch_resp_t ofresp;

		cp[0].metadata = kp_cstr("m0");
		cp[1].metadata = kp_cstr(NULL);
		ct.name = kp_cstr("gt");
		creq.group_id = kp_cstr("g1");
		creq.member_id = kp_cstr(member);
		creq.group_instance_id = kp_cstr(NULL);
		for (v = 2; v <= 7; v++) {
			memset(&cresp, 0, sizeof cresp);
			call(fd, KP_OFFSET_COMMIT, v, &creq, &cresp);
			ck_assert_int_eq(cresp.topics[0].partitions[0].error_code,
			    0);
			ck_assert_int_eq(cresp.topics[0].partitions[1].error_code,
			    0);
		}
		/* a wrong generation */
		creq.generation_id = 9;
		memset(&cresp, 0, sizeof cresp);
		call(fd, KP_OFFSET_COMMIT, 7, &creq, &cresp);
		ck_assert_int_eq(cresp.topics[0].partitions[0].error_code,
		    KP_ILLEGAL_GENERATION);

		ft.name = kp_cstr("gt");
		ft.n_partitions = 3;
		ft.partitions = parts;
		ofreq.group_id = kp_cstr("g1");
		ofreq.n_topics = 1;
		ofreq.topics = &ft;
		for (v = 1; v <= 5; v++) {
			memset(&ofresp, 0, sizeof ofresp);
			call(fd, KP_OFFSET_FETCH, v, &ofreq, &ofresp);
			ck_assert_int_eq(ofresp.error_code, 0);
			ck_assert_int_eq(ofresp.n_topics, 1);
			ck_assert_int_eq(ofresp.topics[0].n_partitions, 3);
			ck_assert_int_eq(ofresp.topics[0].partitions[0].offset,
			    42);
			ck_assert(kp_str_eq_c(
			    ofresp.topics[0].partitions[0].metadata, "m0"));
			ck_assert_int_eq(ofresp.topics[0].partitions[1].offset,
			    7);
			ck_assert_int_eq(ofresp.topics[0].partitions[2].offset,
			    -1);
		}
		ofreq.n_topics = -1; /* all */
		ofreq.topics = NULL;
		memset(&ofresp, 0, sizeof ofresp);
		call(fd, KP_OFFSET_FETCH, 3, &ofreq, &ofresp);
		ck_assert_int_eq(ofresp.n_topics, 1);
		ck_assert(kp_str_eq_c(ofresp.topics[0].name, "gt"));
		ck_assert_int_eq(ofresp.topics[0].n_partitions, 2);
		ck_assert_int_eq(ofresp.topics[0].partitions[1].offset, 7);
	}

	/* DescribeGroups and ListGroups. */
	{
		kp_str_t names[2] = { kp_cstr("g1"), kp_cstr("nogroup") };
		kp_describe_groups_req_t dreq = { .n_groups = 2,
			.groups = names };
		kp_describe_groups_resp_t dresp;
		kp_list_groups_req_t lreq;
		kp_list_groups_resp_t lresp;
		int32_t i, found = 0;

		for (v = 0; v <= 4; v++) {
			memset(&dresp, 0, sizeof dresp);
			call(fd, KP_DESCRIBE_GROUPS, v, &dreq, &dresp);
			ck_assert_int_eq(dresp.n_groups, 2);
			ck_assert_int_eq(dresp.groups[0].error_code, 0);
			ck_assert(kp_str_eq_c(dresp.groups[0].state, "Stable"));
			ck_assert(kp_str_eq_c(dresp.groups[0].protocol_type,
			    "consumer"));
			ck_assert(kp_str_eq_c(dresp.groups[0].protocol_data,
			    "range"));
			ck_assert_int_eq(dresp.groups[0].n_members, 1);
			ck_assert(kp_str_eq_c(
			    dresp.groups[0].members[0].member_id, member));
			ck_assert(kp_str_eq_c(
			    dresp.groups[0].members[0].client_id,
			    "kserver-test"));
			ck_assert(kp_str_eq_c(
			    dresp.groups[0].members[0].client_host,
			    "/127.0.0.1"));
			ck_assert_int_eq(
			    dresp.groups[0].members[0].assignment.len, 8);
			ck_assert(kp_str_eq_c(dresp.groups[1].state, "Dead"));
		}
		memset(&lreq, 0, sizeof lreq);
		for (v = 0; v <= 2; v++) {
			memset(&lresp, 0, sizeof lresp);
			call(fd, KP_LIST_GROUPS, v, &lreq, &lresp);
			ck_assert_int_eq(lresp.error_code, 0);
			for (i = 0; i < lresp.n_groups; i++)
				if (kp_str_eq_c(lresp.groups[i].group_id, "g1")) {
					ck_assert(kp_str_eq_c(
					    lresp.groups[i].protocol_type,
					    "consumer"));
					found++;
				}
		}
		ck_assert_int_eq(found, 3);
	}

	/* LeaveGroup v3 (a batch), then the member is unknown. */
	{
		kp_leave_group_member_t lm[2];
		kp_leave_group_req_t lreq;
		kp_leave_group_resp_t lresp;

		memset(&lreq, 0, sizeof lreq);
		lm[0].member_id = kp_cstr(member);
		lm[0].group_instance_id = kp_cstr(NULL);
		lm[1].member_id = kp_cstr("stranger");
		lm[1].group_instance_id = kp_cstr(NULL);
		lreq.group_id = kp_cstr("g1");
		lreq.n_members = 2;
		lreq.members = lm;
		memset(&lresp, 0, sizeof lresp);
		call(fd, KP_LEAVE_GROUP, 3, &lreq, &lresp);
		ck_assert_int_eq(lresp.n_members, 2);
		ck_assert_int_eq(lresp.members[0].error_code, 0);
		ck_assert_int_eq(lresp.members[1].error_code,
		    KP_UNKNOWN_MEMBER_ID);
		ck_assert_int_eq(heartbeat(fd, "g1", 1, member),
		    KP_UNKNOWN_MEMBER_ID);
		/* v0 shape: one member, its error on top. */
		lreq.member_id = kp_cstr("stranger");
		memset(&lresp, 0, sizeof lresp);
		call(fd, KP_LEAVE_GROUP, 0, &lreq, &lresp);
		ck_assert_int_eq(lresp.error_code, KP_UNKNOWN_MEMBER_ID);
	}
	/* A v0 join needs no member id round. */
	j = join(fd, 0, "g2", "", "gt");
	ck_assert_int_eq(j.error_code, 0);
	ck_assert_int_gt(j.member_id.len, 0);
	close(fd);
}
END_TEST

/* A simple consumer: generation -1, no member, commits offsets only. */
START_TEST(simple_commit)
{
	kp_offset_commit_req_part_t cp = { .partition = 0, .offset = 5,
		.leader_epoch = -1, .commit_timestamp = -1 };
	kp_offset_commit_req_topic_t ct = { .n_partitions = 1,
		.partitions = &cp };
	kp_offset_commit_req_t creq = { .generation_id = -1,
		.retention_time_ms = -1, .n_topics = 1, .topics = &ct };
	kp_offset_commit_resp_t cresp;
	ks_committed_t *out;
	size_t n;
	int fd = cl_connect();

	create_topic("st", 1);
	ct.name = kp_cstr("st");
	cp.metadata = kp_cstr("");
	creq.group_id = kp_cstr("simple");
	creq.member_id = kp_cstr("");
	creq.group_instance_id = kp_cstr(NULL);
	memset(&cresp, 0, sizeof cresp);
	call(fd, KP_OFFSET_COMMIT, 2, &creq, &cresp);
	ck_assert_int_eq(cresp.topics[0].partitions[0].error_code, 0);
	/* The same coordinator as in-process consumers. */
	KT_OK(ks_group_fetch_offsets(ks_store_coordinator(store), "simple",
	    NULL, 0, &out, &n));
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(out[0].offset, 5);
	ks_committed_free(out);
	close(fd);
}
END_TEST

/* ---- a wire member and an in-process consumer in one group ---------------- */

static atomic_int poll_stop; /* set by the test's thread, read by the poller */

static void *poller(void *arg)
{
	ks_consumer_t *c = arg;
	const ks_message_t *msgs;

	while (!poll_stop)
		ks_consumer_poll(c, 20, &msgs);
	return NULL;
}

START_TEST(mixed_group)
{
	ks_consumer_config_t cc;
	ks_consumer_t *c;
	const ks_topic_partition_t *parts;
	const ks_message_t *msgs;
	const char *topics[1] = { "mt" };
	kp_join_group_resp_t j;
	kp_sync_group_resp_t s;
	ks_assignment_t *a;
	pthread_t th;
	char member[256];
	size_t n = 0;
	int fd = cl_connect(), i, wire_p;

	create_topic("mt", 2);
	ks_consumer_config_init(&cc);
	cc.group_id = "mixed";
	cc.session_timeout_ms = 10000;
	cc.heartbeat_interval_ms = 100;
	cc.assignors = "range";
	KT_OK(ks_consumer_new(store, &cc, &c));
	KT_OK(ks_consumer_subscribe(c, topics, 1));
	/* Alone, the in-process consumer gets both partitions. */
	for (i = 0; i < 200 && n != 2; i++) {
		ck_assert_int_ge(ks_consumer_poll(c, 20, &msgs), 0);
		KT_OK(ks_consumer_assignment(c, &parts, &n));
	}
	ck_assert_uint_eq(n, 2);

	/* The wire member joins; the other rejoins from its poll loop, so
	 * the join is answered once both are in. */
	poll_stop = 0;
	ck_assert_int_eq(pthread_create(&th, NULL, poller, c), 0);
	j = join(fd, 3, "mixed", "", "mt");
	ck_assert_int_eq(j.error_code, 0);
	ck_assert_int_eq(j.generation_id, 2);
	ck_assert(!kp_str_eq(j.leader, j.member_id)); /* it led before */
	snprintf(member, sizeof member, "%s", j.member_id.s);
	s = sync_group(fd, "mixed", j.generation_id, member, NULL, 0);
	ck_assert_int_eq(s.error_code, 0);
	KT_OK(ks_assignment_decode(s.assignment.p, (size_t)s.assignment.len,
	    &a));
	ck_assert_uint_eq(a->assigned_count, 1);
	ck_assert_str_eq(a->assigned[0].topic, "mt");
	ck_assert_uint_eq(a->assigned[0].partition_count, 1);
	wire_p = a->assigned[0].partitions[0];
	ks_assignment_free(a);

	/* The in-process consumer ends up with the other partition. */
	for (i = 0; i < 500; i++) {
		ck_assert_int_eq(heartbeat(fd, "mixed", 2, member), 0);
		poll_stop = 1;
		pthread_join(th, NULL);
		KT_OK(ks_consumer_assignment(c, &parts, &n));
		if (n == 1)
			break;
		poll_stop = 0;
		ck_assert_int_eq(pthread_create(&th, NULL, poller, c), 0);
		usleep(10000);
	}
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(parts[0].partition, 1 - wire_p);
	KT_OK(ks_consumer_close(c));
	close(fd);
}
END_TEST

/* ---- bad requests ----------------------------------------------------------- */

START_TEST(unknown_api_closes)
{
	kp_api_versions_req_t req;
	kp_api_versions_resp_t resp;
	int bad = cl_connect(), good = cl_connect();
	uint8_t frame[] = { 0, 0, 0, 10, 0x03, 0xe7, 0, 0, 0, 0, 0, 1,
		0xff, 0xff }; /* key 999, v0, corr 1, null client id */
	uint8_t *got;

	memset(&req, 0, sizeof req);
	memset(&resp, 0, sizeof resp);
	call(good, KP_API_VERSIONS, 3, &req, &resp);
	kt_write_all(bad, frame, sizeof frame);
	ck_assert_uint_eq(read_frame(bad, &got), 0); /* closed, no answer */
	/* Unsupported version of another API: closed too. */
	close(bad);
	bad = cl_connect();
	frame[5] = KP_PRODUCE;
	frame[4] = 0;
	frame[7] = 1;
	kt_write_all(bad, frame, sizeof frame);
	ck_assert_uint_eq(read_frame(bad, &got), 0);
	/* A body that does not decode: closed. */
	close(bad);
	bad = cl_connect();
	frame[5] = KP_METADATA;
	frame[7] = 1;
	kt_write_all(bad, frame, sizeof frame);
	ck_assert_uint_eq(read_frame(bad, &got), 0);
	/* The other connection never noticed. */
	memset(&resp, 0, sizeof resp);
	call(good, KP_API_VERSIONS, 1, &req, &resp);
	ck_assert_int_eq(resp.error_code, 0);
	close(bad);
	close(good);
}
END_TEST

/* Answers that complete after their connection closed are dropped. */
START_TEST(answers_after_close)
{
	kp_join_group_req_t jreq;
	kp_join_group_protocol_t pr;
	kp_fetch_req_t freq;
	kp_fetch_req_topic_t rt;
	kp_fetch_req_part_t rp;
	kp_join_group_resp_t j;
	char member[256];
	int a = cl_connect(), b = cl_connect(), c = cl_connect();
	struct delayed d = { 0, "after" };

	create_topic("t", 1);
	j = join(a, 3, "gc", "", "t");
	ck_assert_int_eq(j.error_code, 0);
	snprintf(member, sizeof member, "%s", j.member_id.s);
	/* b's join waits for a to rejoin; b goes away meanwhile. */
	join_req(&jreq, &pr, "gc", "", "t");
	cl_send(b, KP_JOIN_GROUP, 3, 1, &jreq);
	/* c's long poll is cut short by its close. */
	fetch_req(&freq, &rt, &rp, "t", 0, 0, 30000, 1);
	cl_send(c, KP_FETCH, 11, 1, &freq);
	usleep(100000);
	close(b);
	close(c);
	usleep(100000);
	/* a rejoins: the rebalance completes, b's answer has nowhere to
	 * go; an append finds no poll to wake. */
	j = join(a, 3, "gc", member, "t");
	ck_assert_int_eq(j.error_code, 0);
	ck_assert_int_eq(j.generation_id, 2);
	produce_later(&d);
	/* The server goes on. */
	ck_assert_int_eq(fetch(a, 11, "t", 0, 0, 0, 1).high_watermark, 1);
	close(a);
}
END_TEST

/* ---- durable produce off the loop ------------------------------------- */

/*
 * A ks__segment_fdatasync that counts calls and, while the gate is shut,
 * blocks until the test opens it (a stand-in for a slow disk).
 */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_shut, gate_blocked, gate_calls;

static int gated_fdatasync(int fd)
{
	pthread_mutex_lock(&gate_mu);
	gate_calls++;
	if (gate_shut) {
		gate_blocked++;
		pthread_cond_broadcast(&gate_cv);
		while (gate_shut)
			pthread_cond_wait(&gate_cv, &gate_mu);
		gate_blocked--;
	}
	pthread_mutex_unlock(&gate_mu);
	return fdatasync(fd);
}

static void gate_install(int shut)
{
	pthread_mutex_lock(&gate_mu);
	gate_shut = shut;
	gate_blocked = gate_calls = 0;
	pthread_mutex_unlock(&gate_mu);
	ks__segment_fdatasync = gated_fdatasync;
}

/* Waits (20 s at most) until n appenders are blocked in the hook. */
static void gate_wait_blocked(int n)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	pthread_mutex_lock(&gate_mu);
	while (gate_blocked < n)
		if (pthread_cond_timedwait(&gate_cv, &gate_mu, &ts) != 0)
			break;
	ck_assert_int_ge(gate_blocked, n);
	pthread_mutex_unlock(&gate_mu);
}

static void gate_open(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_shut = 0;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/* Restores fdatasync; the lock orders it after every hook call made so
 * far (those whose answers the test has read). */
static int gate_remove(void)
{
	int calls;

	pthread_mutex_lock(&gate_mu);
	calls = gate_calls;
	pthread_mutex_unlock(&gate_mu);
	ks__segment_fdatasync = fdatasync;
	return calls;
}

static void create_durable_topic(const char *name, int32_t parts)
{
	ks_topic_config_t tc;

	ks_topic_config_init(&tc);
	tc.partitions = parts;
	tc.log.flush_messages = 1;
	KT_OK(ks_topic_create(store, name, &tc));
}

static void produce_req(kp_produce_req_t *req, kp_produce_req_topic_t *rt,
    kp_produce_req_part_t *rp, const char *topic, int32_t part,
    const void *records, size_t len, int16_t acks)
{
	memset(rp, 0, sizeof *rp);
	memset(rt, 0, sizeof *rt);
	memset(req, 0, sizeof *req);
	rp->index = part;
	rp->records.p = records;
	rp->records.len = (int32_t)len;
	rt->name = kp_cstr(topic);
	rt->n_partitions = 1;
	rt->partitions = rp;
	req->transactional_id = kp_cstr(NULL);
	req->acks = acks;
	req->timeout_ms = 5000;
	req->n_topics = 1;
	req->topics = rt;
}

/* A durable topic's fsync holds its producer's connection only: the
 * broker's other connections are answered meanwhile. */
START_TEST(durable_off_loop)
{
	kp_produce_req_t req;
	kp_produce_req_topic_t rt;
	kp_produce_req_part_t rp;
	kp_produce_resp_t resp;
	kp_api_versions_req_t areq;
	kp_api_versions_resp_t aresp;
	kp_metadata_resp_t m;
	kp_produce_resp_part_t pr;
	uint8_t b[1024], b2[1024];
	size_t l, l2;
	ks_topic_t *t;
	ks_log_t *log;
	int a, c;

	create_durable_topic("d", 1);
	create_topic("n", 1);
	a = cl_connect();
	c = cl_connect();
	/* a first durable append with the gate open: offsets 0-1 */
	gate_install(0);
	l = make_batch(b, sizeof b, 2, 1000, "x");
	pr = produce(a, 7, "d", 0, b, l, -1);
	ck_assert_int_eq(pr.error_code, 0);
	ck_assert_int_eq(pr.base_offset, 0);

	pthread_mutex_lock(&gate_mu);
	gate_shut = 1;
	pthread_mutex_unlock(&gate_mu);
	l2 = make_batch(b2, sizeof b2, 3, 2000, "y");
	produce_req(&req, &rt, &rp, "d", 0, b2, l2, -1);
	cl_send(a, KP_PRODUCE, 7, 500, &req);
	memset(&areq, 0, sizeof areq);
	cl_send(a, KP_API_VERSIONS, 3, 501, &areq); /* waits behind it */
	gate_wait_blocked(1);

	/* Meanwhile on c: ApiVersions, Metadata, a non-durable produce. */
	memset(&aresp, 0, sizeof aresp);
	call(c, KP_API_VERSIONS, 3, &areq, &aresp);
	ck_assert_int_eq(aresp.error_code, 0);
	m = metadata(c, 5, "d", 0);
	ck_assert_int_eq(m.topics[0].error_code, 0);
	l = make_batch(b, sizeof b, 4, 1000, "n");
	pr = produce(c, 7, "n", 0, b, l, 1);
	ck_assert_int_eq(pr.error_code, 0);
	ck_assert_int_eq(pr.base_offset, 0);
	pr = produce(c, 7, "n", 0, b, l, -1);
	ck_assert_int_eq(pr.base_offset, 4);
	pthread_mutex_lock(&gate_mu);
	ck_assert_int_eq(gate_blocked, 1); /* still held */
	pthread_mutex_unlock(&gate_mu);

	gate_open();
	memset(&resp, 0, sizeof resp);
	cl_recv(a, KP_PRODUCE, 7, 500, &resp);
	ck_assert_int_eq(resp.n_topics, 1);
	ck_assert_int_eq(resp.topics[0].partitions[0].error_code, 0);
	ck_assert_int_eq(resp.topics[0].partitions[0].base_offset, 2);
	ck_assert_int_eq(resp.topics[0].partitions[0].log_start_offset, 0);
	memset(&aresp, 0, sizeof aresp);
	cl_recv(a, KP_API_VERSIONS, 3, 501, &aresp);
	ck_assert_int_ge(gate_remove(), 2);
	KT_OK(ks_topic_open(store, "d", &t));
	KT_OK(ks_topic_partition(t, 0, &log));
	ck_assert_int_eq(ks_log_end_offset(log), 5);
	ck_assert_int_eq(ks_log_durable_offset(log), 5);
	ks_topic_release(t);

	/* acks=0 to a durable topic: no answer, the next request after. */
	l = make_batch(b, sizeof b, 2, 3000, "z");
	produce(a, 7, "d", 0, b, l, 0);
	pr = produce(a, 7, "d", 0, b, l, 1);
	ck_assert_int_eq(pr.base_offset, 7);
	close(a);
	close(c);
}
END_TEST

#define DUR_CONNS 4
#define DUR_ROUNDS 4
#define DUR_PIPE 3

struct dur_conn {
	int id;
	int64_t base[DUR_ROUNDS * DUR_PIPE];
};

/* One connection: rounds of DUR_PIPE pipelined durable produces, each
 * answer checked to come in request order. */
static void *dur_producer(void *arg)
{
	struct dur_conn *dc = arg;
	int fd = cl_connect(), r, i;

	for (r = 0; r < DUR_ROUNDS; r++) {
		uint8_t b[DUR_PIPE][1024];
		size_t l[DUR_PIPE];
		kp_produce_req_t req;
		kp_produce_req_topic_t rt;
		kp_produce_req_part_t rp;
		kp_produce_resp_t resp;
		char prefix[32];

		for (i = 0; i < DUR_PIPE; i++) {
			int k = r * DUR_PIPE + i;
			snprintf(prefix, sizeof prefix, "c%d-%d-", dc->id, k);
			l[i] = make_batch(b[i], sizeof b[i], 3, 1000, prefix);
			produce_req(&req, &rt, &rp, "d", 0, b[i], l[i], -1);
			cl_send(fd, KP_PRODUCE, 7, 1000 * dc->id + k, &req);
		}
		for (i = 0; i < DUR_PIPE; i++) {
			int k = r * DUR_PIPE + i;
			memset(&resp, 0, sizeof resp);
			cl_recv(fd, KP_PRODUCE, 7, 1000 * dc->id + k, &resp);
			ck_assert_int_eq(resp.topics[0].partitions[0].error_code,
			    0);
			dc->base[k] = resp.topics[0].partitions[0].base_offset;
		}
	}
	close(fd);
	kp_arena_free(&arena); /* this thread's */
	return NULL;
}

/* Durable producers on several connections at once: every acknowledged
 * batch is in the log where its answer said. */
START_TEST(durable_concurrent)
{
	struct dur_conn dc[DUR_CONNS];
	pthread_t th[DUR_CONNS];
	int i, k, fd, seen[DUR_CONNS * DUR_ROUNDS * DUR_PIPE];

	create_durable_topic("d", 1);
	gate_install(0);
	for (i = 0; i < DUR_CONNS; i++) {
		dc[i].id = i + 1;
		ck_assert_int_eq(pthread_create(&th[i], NULL, dur_producer,
		    &dc[i]), 0);
	}
	for (i = 0; i < DUR_CONNS; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	/* fewer fdatasyncs than appends is allowed (group commit), not
	 * required: not asserted */
	ck_assert_int_ge(gate_remove(), 1);

	memset(seen, 0, sizeof seen);
	fd = cl_connect();
	for (i = 0; i < DUR_CONNS; i++) {
		for (k = 0; k < DUR_ROUNDS * DUR_PIPE; k++) {
			kp_fetch_resp_part_t f;
			char want[128], got[4096];
			int64_t first, b = dc[i].base[k];
			size_t wl;

			ck_assert_int_ge(b, 0);
			ck_assert_int_eq(b % 3, 0);
			ck_assert_int_lt(b / 3, DUR_CONNS * DUR_ROUNDS *
			    DUR_PIPE);
			ck_assert_int_eq(seen[b / 3]++, 0); /* each once */
			f = fetch(fd, 11, "d", 0, b, 0, 1);
			ck_assert_int_eq(f.error_code, 0);
			ck_assert_int_eq(f.high_watermark,
			    3 * DUR_CONNS * DUR_ROUNDS * DUR_PIPE);
			values_of(f.records.p, (size_t)f.records.len, b, got,
			    sizeof got, &first);
			ck_assert_int_eq(first, b);
			wl = (size_t)snprintf(want, sizeof want,
			    "c%d-%d-0,c%d-%d-1,c%d-%d-2", dc[i].id, k, dc[i].id,
			    k, dc[i].id, k);
			ck_assert_msg(strncmp(got, want, wl) == 0 &&
			    (got[wl] == ',' || got[wl] == '\0'),
			    "at %lld: %s, not %s", (long long)b, got, want);
		}
	}
	close(fd);
}
END_TEST

struct opener {
	int64_t delay_us;
};

static void *open_later(void *arg)
{
	usleep((useconds_t)((struct opener *)arg)->delay_us);
	gate_open();
	return NULL;
}

/*
 * ks_kafka_server_free with durable appends running (blocked in the
 * fsync) and one queued: the running ones finish once the disk answers,
 * the queued one is dropped, the connections close. Nothing crashes or
 * leaks (ASan). Run twice: the gate opened during free, and opened just
 * before it.
 */
static void free_while_durable(int64_t delay_us)
{
	enum { N = KS__KPRODUCE_WORKERS + 1 };
	struct opener op = { delay_us };
	kp_produce_req_t req;
	kp_produce_req_topic_t rt;
	kp_produce_req_part_t rp;
	uint8_t b[1024];
	size_t l;
	pthread_t th;
	int fd[N], i;

	create_durable_topic("d", N);
	gate_install(1);
	l = make_batch(b, sizeof b, 2, 1000, "f");
	/* one partition each: each worker blocks in its own log's fsync */
	for (i = 0; i < N; i++) {
		fd[i] = cl_connect();
		produce_req(&req, &rt, &rp, "d", i, b, l, -1);
		cl_send(fd[i], KP_PRODUCE, 7, 1, &req);
	}
	gate_wait_blocked(KS__KPRODUCE_WORKERS);
	if (delay_us < 0)
		gate_open();
	else
		ck_assert_int_eq(pthread_create(&th, NULL, open_later, &op), 0);
	ks_kafka_server_free(srv);
	srv = NULL;
	if (delay_us >= 0)
		ck_assert_int_eq(pthread_join(th, NULL), 0);
	gate_remove();
	/* Each connection: an answer (the free came after it) or the
	 * close, nothing else. */
	for (i = 0; i < N; i++) {
		uint8_t *frame;
		size_t len = read_frame(fd[i], &frame);
		if (len) {
			kp_produce_resp_t resp;
			kp_io_t io;
			int32_t corr;
			memset(&resp, 0, sizeof resp);
			kp_reader_init(&io, frame, len, &arena);
			KT_OK(kp_resp_hdr(&io, KP_PRODUCE, 7, &corr));
			ck_assert_int_eq(corr, 1);
			KT_OK(kp_resp_body(&io, KP_PRODUCE, &resp));
			ck_assert_int_eq(resp.topics[0].partitions[0].error_code,
			    0);
			ck_assert_uint_eq(read_frame(fd[i], &frame), 0);
		}
		close(fd[i]);
	}
}

START_TEST(durable_free_blocked)
{
	free_while_durable(200000);
}
END_TEST

START_TEST(durable_free_released)
{
	free_while_durable(-1);
}
END_TEST

/* ---- lifecycle ---------------------------------------------------------------- */

START_TEST(lifecycle)
{
	ks_kafka_server_config_t cfg;
	ks_kafka_server_t *s2;
	ks_store_config_t sc;
	ks_store_t *ro;
	kp_fetch_req_t freq;
	kp_fetch_req_topic_t rt;
	kp_fetch_req_part_t rp;
	int fd;

	ck_assert_int_eq(ks_kafka_server_new(NULL, NULL, &s2), KS_EINVAL);
	ks_kafka_server_config_init(&cfg);
	cfg.num_partitions = 0;
	ck_assert_int_eq(ks_kafka_server_new(store, &cfg, &s2), KS_EINVAL);
	ck_assert_ptr_null(s2);
	ks_store_config_init(&sc);
	sc.flags = KS_STORE_RDONLY;
	sc.log_cb = quiet_log;
	KT_OK(ks_store_open(dir, &sc, &ro));
	ck_assert_int_eq(ks_kafka_server_new(ro, NULL, &s2), KS_ERDONLY);
	KT_OK(ks_store_close(ro));
	ck_assert_int_eq(ks_kafka_server_listen(srv, "bogus://x:1", NULL),
	    KS_EINVAL);
	ks_kafka_server_free(NULL);

	/* Freed with a long poll and a join pending. */
	create_topic("t", 1);
	fd = cl_connect();
	fetch_req(&freq, &rt, &rp, "t", 0, 0, 30000, 1);
	cl_send(fd, KP_FETCH, 11, 1, &freq);
	{
		int fd2 = cl_connect();
		kp_join_group_req_t jreq;
		kp_join_group_protocol_t pr;
		kp_join_group_resp_t j;
		/* A first member, then a second one held by the first's
		 * rebalance. */
		j = join(fd2, 3, "held", "", "t");
		ck_assert_int_eq(j.error_code, 0);
		join_req(&jreq, &pr, "held", "", "t");
		cl_send(fd2, KP_JOIN_GROUP, 3, 2, &jreq);
		usleep(100000);
		ks_kafka_server_free(srv);
		srv = NULL;
		close(fd2);
	}
	close(fd);
}
END_TEST

Suite *kserver_suite(void)
{
	Suite *s = suite_create("kserver");
	TCase *tc = tcase_create("api");
	TCase *tn = tcase_create("noauto");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, api_versions);
	tcase_add_test(tc, api_versions_unsupported);
	tcase_add_test(tc, metadata_auto_create);
	tcase_add_test(tc, metadata_per_listener);
	tcase_add_test(tc, produce_fetch);
	tcase_add_test(tc, produce_errors);
	tcase_add_test(tc, produce_old_versions);
	tcase_add_test(tc, produce_acks0);
	tcase_add_test(tc, pipelined);
	tcase_add_test(tc, long_poll_wakes);
	tcase_add_test(tc, long_poll_times_out);
	tcase_add_test(tc, fetch_out_of_range);
	tcase_add_test(tc, list_offsets_all);
	tcase_add_test(tc, create_delete);
	tcase_add_test(tc, group_round);
	tcase_add_test(tc, simple_commit);
	tcase_add_test(tc, mixed_group);
	tcase_add_test(tc, unknown_api_closes);
	tcase_add_test(tc, answers_after_close);
	tcase_add_test(tc, lifecycle);
	tcase_add_test(tc, durable_off_loop);
	tcase_add_test(tc, durable_concurrent);
	tcase_add_test(tc, durable_free_blocked);
	tcase_add_test(tc, durable_free_released);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tn, setup_noauto, teardown);
	tcase_set_timeout(tn, 60);
	tcase_add_test(tn, metadata_no_auto_create);
	suite_add_tcase(s, tn);
	return s;
}
