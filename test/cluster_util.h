/*
 * cluster_util.h: three kstream-broker processes as one cluster, for the
 * fault suite (test/check_cluster.c): start them on fixed ports in scratch
 * directories, kill, pause, resume and restart members, ask a member what
 * it knows (Metadata through a raw client that never asserts, so that a
 * dead or paused member is an answer, not a failure), wait with
 * deadlines, drive a librdkafka producer from a thread of its own, read a
 * partition back through librdkafka and a replica's log offline.
 * (test/cluster_util.c; built only with the network layers.)
 */
#ifndef KS_TEST_CLUSTER_UTIL_H
#define KS_TEST_CLUSTER_UTIL_H

#include "proc.h"
#include "util.h"

#include "kafka/proto.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#define KT_MEMBERS 3
#define KT_MAX_PARTS 16

/* One member: node id i + 1, its ports fixed for the cluster's life. */
struct kt_member {
	int32_t id;
	int raft_port, kafka_port;
	pid_t pid;          /* 0: not running */
	int paused;         /* SIGSTOPped */
	char *dir;          /* its store (and Raft log) */
	char *log;          /* its stdout and stderr, every run appended */
};

struct kt_cluster {
	char *base;         /* the test's scratch directory */
	char *bin;          /* kstream-broker */
	char voters[256];
	char bootstrap[256];/* every member's listener */
	const char *const *sets; /* extra --set key=value, NULL-terminated */
	struct kt_member m[KT_MEMBERS];
};

/*
 * Picks free ports and directories under base and starts the three
 * members with the fast failure detection of kstream-cluster(7) and sets
 * (NULL or extra "key=value" strings, NULL-terminated, kept by pointer);
 * returns once every member says it is ready and all three are in
 * Metadata. Failures assert, naming the logs.
 */
void kt_cluster_start(struct kt_cluster *c, const char *base,
    const char *const *sets);
/* Kills every member left and frees c's strings (not base). */
void kt_cluster_stop(struct kt_cluster *c);

/* Member index of node id (asserted valid). */
int kt_member_of(const struct kt_cluster *c, int32_t id);
/* (Re)starts member i on its directory and ports; with wait, until ready. */
void kt_member_start(struct kt_cluster *c, int i, int wait);
/* kill -9 and reap. */
void kt_member_kill(struct kt_cluster *c, int i);
/* SIGTERM; asserts a clean exit (status 0) within timeout_ms. */
void kt_member_term(struct kt_cluster *c, int i, int timeout_ms);
void kt_member_pause(struct kt_cluster *c, int i);
void kt_member_resume(struct kt_cluster *c, int i);
/* Running and not paused. */
int kt_member_live(const struct kt_cluster *c, int i);
/* The last lines of member i's log, for failure messages (static buffer). */
const char *kt_member_tail(const struct kt_cluster *c, int i);

/* ---- what a member says (Metadata v5 through a raw connection) */

struct kt_part {
	int16_t err;
	int32_t leader;
	int32_t nrep, nisr;
	int32_t rep[KT_MEMBERS * 2], isr[KT_MEMBERS * 2];
};

struct kt_meta {
	int32_t controller;
	int32_t nbrokers;
	int32_t brokers[KT_MEMBERS * 2];
	int16_t topic_err;  /* -1: the topic was not in the answer */
	int32_t nparts;
	struct kt_part parts[KT_MAX_PARTS];
};

/*
 * Member i's Metadata for topic (NULL: none), within timeout_ms: 0, or
 * -1 if it did not answer (down, paused, closed the connection).
 */
int kt_meta(const struct kt_cluster *c, int i, const char *topic,
    struct kt_meta *out, int timeout_ms);

/*
 * Waits up to timeout_ms until every live member agrees that topic's
 * partition p has a leader that is live and is not node not_id (-1: any),
 * and at least min_isr in-sync replicas. The leader's node id, or -1 on
 * timeout.
 */
int32_t kt_wait_leader(const struct kt_cluster *c, const char *topic,
    int32_t p, int32_t not_id, int min_isr, int timeout_ms);
/* The same for every partition of topic (nparts of them); 0 or -1. */
int kt_wait_topic(const struct kt_cluster *c, const char *topic,
    int32_t nparts, int min_isr, int timeout_ms);
/*
 * Waits until every live member's Metadata lists exactly the live
 * members as brokers (the dead ones fenced); 0 or -1.
 */
int kt_wait_brokers(const struct kt_cluster *c, int timeout_ms);
/*
 * Waits until every live member names the same live controller; its node
 * id, or -1.
 */
int32_t kt_wait_controller(const struct kt_cluster *c, int timeout_ms);

/* ---- raw requests to one member (no assertion on a dead peer) */

/*
 * Sends (key, ver) req to member i's listener and decodes the answer into
 * resp (parts in arena): 0, or -1 if no answer came within timeout_ms.
 */
int kt_raw_call(const struct kt_cluster *c, int i, int16_t key, int16_t ver,
    void *req, kp_arena_t *arena, void *resp, int timeout_ms);

/* ---- librdkafka */

/* A client bootstrapped from every member; kv: NULL-terminated pairs. */
rd_kafka_t *kt_rk_new(const struct kt_cluster *c, rd_kafka_type_t type,
    const char *const *kv,
    void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
    void *opaque);
/*
 * CreateTopics through librdkafka's admin API (it finds the controller),
 * configs NULL or NULL-terminated pairs: the topic's error code
 * (RD_KAFKA_RESP_ERR_NO_ERROR, or the request's own error such as
 * RD_KAFKA_RESP_ERR__TIMED_OUT).
 */
rd_kafka_resp_err_t kt_create_topic(const struct kt_cluster *c,
    const char *name, int parts, int rf, const char *const *configs,
    int timeout_ms);

/*
 * A producer thread writing records "k<seq>" = "<seq>" to one topic as
 * fast as its window allows, keeping what each delivery report said.
 */
struct kt_load {
	rd_kafka_t *rk;
	const char *topic;
	int32_t partition;      /* RD_KAFKA_PARTITION_UA: the partitioner */
	int64_t cap;            /* records at most */
	int64_t rate;           /* records/s at most (0: as fast as it goes);
	                           "kt.rate" in kt_load_start's kv */
	int64_t t0_ns;
	int64_t *offset;        /* per seq: acked offset, -1 none */
	int32_t *part;          /* per seq: acked partition */
	int16_t *err;           /* per seq: last failure (0 none) */
	pthread_t thread;
	pthread_mutex_t mu;
	int stop;
	int64_t produced;       /* seqs handed to librdkafka */
	int64_t acked, failed;  /* delivery reports */
	int16_t last_err;       /* the last failure's code and partition */
	int32_t last_err_part;
	/* producev refusals (a topic librdkafka was told does not exist):
	 * the record is offered again 10 ms later */
	int64_t refused;
	int16_t last_refusal;
	/* the first success of a record with seq >= mark_seq, in ns */
	int64_t mark_seq, mark_ack_ns;
};

/*
 * Starts the producer: acks=all, no idempotence, retries high,
 * message.timeout.ms 30000, linger.ms 2; kv adds/overrides settings.
 */
void kt_load_start(struct kt_load *l, const struct kt_cluster *c,
    const char *topic, int32_t partition, int64_t cap,
    const char *const *kv);
/* Acked so far (locked read). */
int64_t kt_load_acked(struct kt_load *l);
/* Waits until acked >= n (asserting within timeout_ms). */
void kt_load_wait(struct kt_load *l, int64_t n, int timeout_ms);
/* Marks the next seq: mark_ack_ns will be its first success after. */
void kt_load_mark(struct kt_load *l);
/*
 * Stops producing, flushes (up to 60 s: every record gets its report) and
 * joins; the arrays stay for checking. kt_load_free() frees them.
 */
void kt_load_stop(struct kt_load *l);
void kt_load_free(struct kt_load *l);

/*
 * Reads topic-p from its start through a librdkafka consumer until it
 * has read past offset upto - 1 (the high watermark must reach upto)
 * within timeout_ms. vals[off] = the record's value as a number (-1 for
 * an offset not seen, -2 for a value that is not a number); vals has
 * upto entries.
 */
void kt_read_back(const struct kt_cluster *c, const char *topic, int32_t p,
    int64_t upto, int64_t *vals, int timeout_ms);
/*
 * Asserts that every acked record of l (of partition p) is at its acked
 * offset in vals (upto entries), and no two acked records share an
 * offset; returns how many acked records also appear at another offset
 * (duplicates a producer without idempotence may leave on retries).
 */
int64_t kt_check_acked(const struct kt_load *l, int32_t p,
    const int64_t *vals, int64_t upto);
/* 1 + the largest acked offset of partition p (0 if none). */
int64_t kt_load_end(const struct kt_load *l, int32_t p);

/*
 * The high watermark of topic-p as the leader reports it
 * (rd_kafka_query_watermark_offsets), asserted.
 */
int64_t kt_high_watermark(const struct kt_cluster *c, const char *topic,
    int32_t p);

/*
 * Compares member a's and member b's replicas of topic-p offline
 * (KS_LOG_RDONLY): every record below hw the same offset, key and value;
 * asserts so, with the first difference. Sets the log end offsets.
 */
void kt_compare_replicas(const struct kt_cluster *c, int a, int b,
    const char *topic, int32_t p, int64_t hw, int64_t *end_a,
    int64_t *end_b);

#endif /* KS_TEST_CLUSTER_UTIL_H */
