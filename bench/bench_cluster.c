/*
 * bench_cluster.c: the replicated cluster's benchmark table.
 *
 * Three kstream-broker processes on loopback form a cluster (--voters,
 * fast failure detection), and an unmodified librdkafka producer writes
 * to it with acks=all. Two figures: (1) producer throughput to a topic of
 * 6 partitions with replication factor 3 and min.insync.replicas=2,
 * against the same producer writing with acks=1 to one kstream-broker that
 * is not a cluster member; (2) failover, from kill -9 of a partition's
 * leader to the first acknowledged write of a record sent after the kill,
 * over repeated kills of whichever member leads. Prints one table with
 * the cluster/single ratio and the targets, never asserted. See
 * kstream-cluster(7) for the cluster and its failure detection.
 *
 *   bench_cluster [-q] [-r RUNS] [-n MSGS] [-k KILLS] [-p PART] [-d DIR]
 *                 [-b BROKER] [-v]
 *
 *   -q        quick run: 200000 messages, 5 kills
 *   -r RUNS   throughput runs, median reported (default 3)
 *   -n MSGS   messages per throughput run (default 2000000)
 *   -k KILLS  failover runs (default 20)
 *   -p PART   "tput" or "failover": that part only (default both)
 *   -d DIR    scratch directory (default $TMPDIR, else /tmp)
 *   -b PATH   the kstream-broker program (default: ../kstream-broker next
 *             to this program, else $KSTREAM_BROKER)
 *   -v        print every sample
 *
 * Every broker is a child with its store in one fresh scratch directory;
 * all are killed and the directory removed at exit, also on error or
 * Ctrl-C, and the brokers get SIGKILL if this process dies.
 */
#define _GNU_SOURCE
#include <kstream/kstream.h>

#include <librdkafka/rdkafka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_NOTES 16
#define NOTE_LEN 1400
#include "harness.h"

#define NMEMBERS 3
#define VALUE_LEN 100           /* bytes per value, every figure */
#define TPUT_TOPIC "tput"
#define TPUT_PARTS 6
#define FO_TOPIC "failover"
#define RF "3"                  /* as a string for the notes */
#define MIN_ISR "2"
#define LINGER_MS "5"           /* throughput producer */
#define BATCH_SIZE "1048576"    /* batch.size: 1 MiB */
#define BATCH_MSGS "100000"     /* high enough that batch.size binds */
#define QUEUE_MSGS "10000000"
#define FO_INTERVAL_NS 1000000  /* failover producer: a record per 1 ms */
#define FO_WARM_MS 500          /* acknowledged writes before the kill */
#define FO_REFRESH_MS "100"     /* topic.metadata.refresh.fast.interval.ms */
#define FO_DEADLINE_S 60        /* no acknowledged write after this: die */
#define SPAWN_SECS 30           /* a member must be ready within this */
#define PHASE_SECS 300          /* a produce phase's deadline */

/* Fast failure detection, from the cluster specification. */
static const char *const fast_settings[] = {
	"broker.session.timeout.ms=1500",
	"broker.heartbeat.interval.ms=250",
	"raft.election.timeout.ms=500",
	"replica.lag.time.max.ms=3000",
	"min.insync.replicas=" MIN_ISR,
};
#define NSETTINGS (sizeof(fast_settings) / sizeof(fast_settings[0]))

static struct {
	int runs;
	int quick;
	long n;                 /* messages per throughput run */
	int kills;
	int do_tput, do_failover;
	const char *base;
	char scratch[PATH_MAX];
	char self[PATH_MAX];
	char broker[PATH_MAX];
} opt = { .runs = 3, .do_tput = 1, .do_failover = 1 };

enum unit { U_RATE, U_NS };
enum col { C_CLUSTER, C_SINGLE };

static const bench_unit_t units[] = {
	[U_RATE] = BENCH_UNIT_RATE,
	[U_NS] = { { { 1e9, 1e9, "%.2f s" }, { 0, 1e6, "%.0f ms" } }, 1 },
};

static const bench_layout_t layout = {
	.units = units, .cols = { "cluster", "single" },
	.what_w = 44, .val_w = 10, .ratio_w = 9, .target_w = 10, .rule = 94,
	.none = "-",
};

/* ------------------------------------------------------------------ */
/* CPU time of a process, from /proc (the scheduler's count)           */

typedef struct {
	double run, wait;       /* seconds running, runnable but waiting */
} cpu_t;

static cpu_t proc_cpu(pid_t pid)
{
	char path[PATH_MAX], buf[256];
	struct dirent *de;
	cpu_t c = { 0, 0 };
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return c;
	while ((de = readdir(d))) {
		ssize_t n;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat",
		    (int)pid, de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		if ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
			char *e;

			buf[n] = '\0';
			c.run += (double)strtoull(buf, &e, 10) * 1e-9;
			c.wait += (double)strtoull(e, NULL, 10) * 1e-9;
		}
		close(fd);
	}
	closedir(d);
	return c;
}

/* ------------------------------------------------------------------ */
/* Members: kstream-broker processes                                   */

typedef struct {
	int id;                 /* node id; 0 for a broker outside a cluster */
	pid_t pid;
	int out;                /* read end of its stdout */
	int raft_port;
	int port;               /* Kafka listener, as it printed it */
	int ready;              /* its "cluster member N ready" line seen */
	char voters[256];
	char dir[PATH_MAX + 32];
	char log[PATH_MAX + 32];
} member_t;

typedef struct {
	member_t m[NMEMBERS];
	int n;
	char bootstrap[256];    /* "127.0.0.1:P1,..." of the live members */
} cluster_t;

static int cluster_seq;
static const cluster_t *cur_cluster;   /* whose logs to show on failure */

/* The end of every member's log, to say why the cluster failed. */
static void cluster_logs(void)
{
	int i;

	for (i = 0; cur_cluster && i < cur_cluster->n; i++)
		log_tail(cur_cluster->m[i].log);
}

/* "listening on tcp://HOST:PORT" gives the port; for a cluster member,
 * "cluster member N ready" ends the wait, else the listening line does. */
static int member_line(char *line, void *arg)
{
	member_t *m = arg;
	char *p, *colon;

	if (bench_verbose)
		progress("    member %d: %s\n", m->id, line);
	if ((p = strstr(line, "listening on "))) {
		p += strlen("listening on ");
		colon = strrchr(p, ':');
		if (!colon || (m->port = atoi(colon + 1)) <= 0) {
			log_tail(m->log);
			die("member %d: cannot parse \"%s\"", m->id, line);
		}
		return m->id == 0;
	}
	if (strncmp(line, "cluster member ", 15) == 0 && strstr(line, "ready")) {
		if (atoi(line + 15) != m->id) {
			log_tail(m->log);
			die("member %d says \"%s\"", m->id, line);
		}
		m->ready = 1;
		return 1;
	}
	return 0;
}

/* Starts m's process (its dir, voters and raft port already set); does
 * not wait. */
static void member_spawn(member_t *m)
{
	char *argv[16 + 2 * NSETTINGS], idbuf[16];
	int p[2], i = 0;
	size_t k;

	snprintf(idbuf, sizeof(idbuf), "%d", m->id);
	argv[i++] = opt.broker;
	argv[i++] = "--dir";
	argv[i++] = m->dir;
	argv[i++] = "--listen";
	argv[i++] = "tcp://127.0.0.1:0";
	if (m->id > 0) {
		argv[i++] = "--node-id";
		argv[i++] = idbuf;
		argv[i++] = "--voters";
		argv[i++] = m->voters;
		for (k = 0; k < NSETTINGS; k++) {
			argv[i++] = "--set";
			argv[i++] = (char *)fast_settings[k];
		}
	}
	argv[i] = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	m->port = 0;
	m->ready = 0;
	m->pid = spawn(argv, p[1], m->log);
	close(p[1]);
	m->out = p[0];
}

static void member_await(member_t *m)
{
	char who[64];

	snprintf(who, sizeof(who), "member %d (%s)", m->id, m->dir);
	await_lines(m->pid, m->out, m->log, who, SPAWN_SECS, member_line, m);
}

static void cluster_bootstrap(cluster_t *c)
{
	size_t off = 0;
	int i;

	c->bootstrap[0] = '\0';
	for (i = 0; i < c->n; i++)
		if (c->m[i].pid > 0 && c->m[i].port > 0)
			off += (size_t)snprintf(c->bootstrap + off,
			    sizeof(c->bootstrap) - off, "%s127.0.0.1:%d",
			    off ? "," : "", c->m[i].port);
}

/* n = NMEMBERS: a fresh three-member cluster, every member ready; n = 1:
 * one broker outside any cluster. */
static void cluster_start(cluster_t *c, int n)
{
	char voters[256];
	size_t off = 0;
	int i, k = ++cluster_seq;

	memset(c, 0, sizeof(*c));
	c->n = n;
	cur_cluster = c;
	voters[0] = '\0';
	for (i = 0; i < n && n > 1; i++) {
		int port, j, again;

		do {
			port = free_port();
			for (again = 0, j = 0; j < i; j++)
				again |= c->m[j].raft_port == port;
		} while (again);
		c->m[i].raft_port = port;
		off += (size_t)snprintf(voters + off, sizeof(voters) - off,
		    "%s%d@127.0.0.1:%d", off ? "," : "", i + 1, port);
	}
	for (i = 0; i < n; i++) {
		member_t *m = &c->m[i];

		m->id = n > 1 ? i + 1 : 0;
		snprintf(m->voters, sizeof(m->voters), "%s", voters);
		snprintf(m->dir, sizeof(m->dir), "%s/c%d-m%d", opt.scratch, k,
		    i + 1);
		snprintf(m->log, sizeof(m->log), "%s/c%d-m%d.log", opt.scratch,
		    k, i + 1);
		member_spawn(m);
	}
	/* All spawned first: none is ready before a majority runs. */
	for (i = 0; i < n; i++)
		member_await(&c->m[i]);
	cluster_bootstrap(c);
}

static void member_close_out(member_t *m)
{
	if (m->out >= 0)
		close(m->out);
	m->out = -1;
}

/* Reaps member i after its kill -9; its store stays. */
static void member_reap(cluster_t *c, int i)
{
	member_t *m = &c->m[i];

	waitpid(m->pid, NULL, 0);
	kid_del(m->pid);
	m->pid = 0;
	m->port = 0;
	member_close_out(m);
}

static void member_restart(cluster_t *c, int i)
{
	member_spawn(&c->m[i]);
	member_await(&c->m[i]);
	cluster_bootstrap(c);
}

static void cluster_stop(cluster_t *c)
{
	int i;

	for (i = 0; i < c->n; i++) {
		if (c->m[i].pid > 0)
			kid_stop(c->m[i].pid);
		c->m[i].pid = 0;
		member_close_out(&c->m[i]);
		rm_rf(c->m[i].dir);
	}
}

static cpu_t cluster_cpu(const cluster_t *c)
{
	cpu_t t = { 0, 0 };
	int i;

	for (i = 0; i < c->n; i++) {
		cpu_t x = proc_cpu(c->m[i].pid);

		t.run += x.run;
		t.wait += x.wait;
	}
	return t;
}

/* ------------------------------------------------------------------ */
/* Metadata by hand, for what librdkafka's API does not tell: the       */
/* active controller                                                    */

static int tcp_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int io_full(int fd, void *buf, size_t len, int writing)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = writing ? write(fd, p, len) : read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * A Metadata v1 request for no topics to the member on port: the active
 * controller's node id into *controller and the number of live brokers
 * listed into *nbrokers. 0, or -1 if the member does not answer or the
 * answer does not parse.
 */
static int raw_metadata(int port, int32_t *controller, int *nbrokers)
{
	static const uint8_t req[] = {
		0, 0, 0, 27,            /* length */
		0, 3, 0, 1,             /* Metadata v1 */
		0, 0, 0, 7,             /* correlation id */
		0, 13, 'b', 'e', 'n', 'c', 'h', '_', 'c', 'l', 'u', 's', 't',
		'e', 'r',
		0, 0, 0, 0,             /* topics: none */
	};
	uint8_t hdr[4], *r = NULL;
	uint32_t len, o, i, nb;
	int fd = tcp_connect(port), rc = -1;

	if (fd < 0)
		return -1;
	if (io_full(fd, (void *)req, sizeof(req), 1) ||
	    io_full(fd, hdr, 4, 0) || (len = be32(hdr)) < 12 ||
	    len > 1 << 20 || !(r = malloc(len)) || io_full(fd, r, len, 0) ||
	    be32(r) != 7)
		goto out;
	nb = be32(r + 4);
	o = 8;
	for (i = 0; i < nb; i++) {
		uint16_t hl, rl;

		if (o + 6 > len)
			goto out;
		hl = (uint16_t)(r[o + 4] << 8 | r[o + 5]);
		o += 6 + hl + 4;        /* node id, host, port */
		if (o + 2 > len)
			goto out;
		rl = (uint16_t)(r[o] << 8 | r[o + 1]);
		o += 2 + (rl == 0xffff ? 0 : rl);       /* rack */
	}
	if (o + 4 > len)
		goto out;
	*controller = (int32_t)be32(r + o);
	*nbrokers = (int)nb;
	rc = 0;
out:
	free(r);
	close(fd);
	return rc;
}

/* ------------------------------------------------------------------ */
/* librdkafka                                                          */

static rd_kafka_conf_t *conf_new(const cluster_t *c)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	conf_set(conf, "bootstrap.servers", c->bootstrap);
	conf_set(conf, "client.id", "bench_cluster");
	/* Connection failures are the point of the failover runs: only
	 * critical messages, unless -v. */
	conf_set(conf, "log_level", bench_verbose ? "6" : "2");
	return conf;
}

/* Creates topic through the admin API (librdkafka sends it to Metadata's
 * controller). min_isr: also sets min.insync.replicas; if the cluster
 * refuses that with INVALID_CONFIG, creates it without (the brokers'
 * own default is the same) and says so in *no_cfg. */
static void create_topic(rd_kafka_t *rk, const char *topic, int parts,
    int rf, int min_isr, int *no_cfg)
{
	char err[512];
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		rd_kafka_NewTopic_t *nt;
		rd_kafka_AdminOptions_t *ao;
		rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
		const rd_kafka_CreateTopics_result_t *res;
		const rd_kafka_topic_result_t **tr;
		rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
		const char *es = NULL;
		rd_kafka_event_t *ev;
		size_t n;

		if (!(nt = rd_kafka_NewTopic_new(topic, parts, rf, err,
		    sizeof(err))))
			die("rd_kafka_NewTopic_new: %s", err);
		if (min_isr && attempt == 0 &&
		    rd_kafka_NewTopic_set_config(nt, "min.insync.replicas",
		    MIN_ISR))
			die("rd_kafka_NewTopic_set_config failed");
		ao = rd_kafka_AdminOptions_new(rk,
		    RD_KAFKA_ADMIN_OP_CREATETOPICS);
		rd_kafka_AdminOptions_set_operation_timeout(ao, 15000, err,
		    sizeof(err));
		rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
		if (!(ev = rd_kafka_queue_poll(q, 30000)))
			die("CreateTopics %s: no answer within 30 s", topic);
		if (rd_kafka_event_error(ev))
			die("CreateTopics %s: %s", topic,
			    rd_kafka_event_error_string(ev));
		if (!(res = rd_kafka_event_CreateTopics_result(ev)))
			die("CreateTopics: unexpected event %s",
			    rd_kafka_event_name(ev));
		tr = rd_kafka_CreateTopics_result_topics(res, &n);
		if (n == 1) {
			e = rd_kafka_topic_result_error(tr[0]);
			es = rd_kafka_topic_result_error_string(tr[0]);
		}
		if (e == RD_KAFKA_RESP_ERR_INVALID_CONFIG && min_isr &&
		    attempt == 0) {
			*no_cfg = 1;
			progress("  CreateTopics %s: min.insync.replicas "
			    "refused (%s); created without it\n", topic,
			    es ? es : "INVALID_CONFIG");
		} else if (e) {
			die("CreateTopics %s: %s (%s)", topic,
			    rd_kafka_err2name(e), es ? es : "");
		}
		rd_kafka_event_destroy(ev);
		rd_kafka_AdminOptions_destroy(ao);
		rd_kafka_NewTopic_destroy(nt);
		rd_kafka_queue_destroy(q);
		if (!e)
			return;
	}
}

/* What Metadata tells of one partition. */
typedef struct {
	int32_t leader;
	int isr;
	int nbrokers;
} pinfo_t;

static int part_info(rd_kafka_t *rk, const char *topic, int p, pinfo_t *pi)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	const struct rd_kafka_metadata *md;
	int rc = -1;

	if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) ==
	    RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (md->topic_cnt == 1 && md->topics[0].err == 0 &&
		    md->topics[0].partition_cnt > p) {
			const struct rd_kafka_metadata_partition *mp =
			    &md->topics[0].partitions[p];

			pi->leader = mp->err ? -1 : mp->leader;
			pi->isr = mp->isr_cnt;
			pi->nbrokers = md->broker_cnt;
			rc = 0;
		}
		rd_kafka_metadata_destroy(md);
	}
	rd_kafka_topic_destroy(rkt);
	return rc;
}

/* Waits until every partition of topic has a leader and isr in-sync
 * replicas, as Metadata tells. */
static void await_isr(rd_kafka_t *rk, const char *topic, int parts, int isr,
    int secs)
{
	double dl = now_s() + secs;
	pinfo_t pi;
	int p;

	for (;;) {
		for (p = 0; p < parts; p++)
			if (part_info(rk, topic, p, &pi) || pi.leader < 0 ||
			    pi.isr < isr)
				break;
		if (p == parts)
			return;
		if (now_s() > dl) {
			cluster_logs();
			die("topic %s: partition %d has no leader or fewer than "
			    "%d in-sync replicas after %d s", topic, p, isr,
			    secs);
		}
		usleep(50000);
	}
}

typedef struct {
	long ok, failed;
	rd_kafka_resp_err_t first_err;
	/* failover: the first record at or after kill_seq acknowledged */
	long kill_seq;
	int64_t first_ack_ns;
	long acked_before;      /* acknowledged before the kill */
} dr_t;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	dr_t *d = opaque;
	long seq = (long)(intptr_t)m->_private;

	(void)rk;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (d->failed++ == 0)
			d->first_err = m->err;
		return;
	}
	d->ok++;
	if (d->kill_seq < 0)
		d->acked_before++;
	else if (seq >= d->kill_seq && d->first_ack_ns == 0)
		d->first_ack_ns = now_ns();
}

/* ------------------------------------------------------------------ */
/* Part 1: throughput                                                  */

typedef struct {
	double rate, secs;
	cpu_t srv, cli;
	long qfull;
	long pmin, pmax;        /* records per partition, fewest and most */
} tput_res_t;

static int tput_no_cfg;        /* the topic config was refused */

/* One run: a fresh cluster (or single broker), the topic, opt.n records
 * from one producer, every delivery report checked, then the partitions'
 * high watermarks summed. */
static void tput_run(int cluster, tput_res_t *res)
{
	uint8_t value[VALUE_LEN];
	rd_kafka_conf_t *conf;
	rd_kafka_topic_t *rkt;
	rd_kafka_t *rk;
	char err[512];
	dr_t dr;
	cluster_t c;
	cpu_t s0, s1, c0, c1;
	double t0, t1;
	long sum = 0;
	int p;

	memset(res, 0, sizeof(*res));
	memset(&dr, 0, sizeof(dr));
	dr.kill_seq = -1;
	fill_value(value, sizeof(value), 0x9e3779b97f4a7c15ULL);
	cluster_start(&c, cluster ? NMEMBERS : 1);
	conf = conf_new(&c);
	conf_set(conf, "acks", cluster ? "all" : "1");
	conf_set(conf, "linger.ms", LINGER_MS);
	conf_set(conf, "batch.size", BATCH_SIZE);
	conf_set(conf, "batch.num.messages", BATCH_MSGS);
	conf_set(conf, "queue.buffering.max.messages", QUEUE_MSGS);
	conf_set(conf, "queue.buffering.max.kbytes", "2097151");
	conf_set(conf, "compression.codec", "none");
	conf_set(conf, "message.timeout.ms", "120000");
	conf_set(conf, "socket.nagle.disable", "true");
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_conf_set_opaque(conf, &dr);
	if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))))
		die("rd_kafka_new: %s", err);
	create_topic(rk, TPUT_TOPIC, TPUT_PARTS, cluster ? NMEMBERS : 1,
	    cluster, &tput_no_cfg);
	await_isr(rk, TPUT_TOPIC, TPUT_PARTS, cluster ? NMEMBERS : 1, 30);
	rkt = rd_kafka_topic_new(rk, TPUT_TOPIC, NULL);
	s0 = cluster_cpu(&c);
	c0 = proc_cpu(getpid());
	t0 = now_s();
	produce_copies(rk, rkt, RD_KAFKA_PARTITION_UA, value, VALUE_LEN, opt.n,
	    t0, PHASE_SECS, &res->qfull, cluster ? "cluster" : "single");
	if (rd_kafka_flush(rk, PHASE_SECS * 1000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		die("%d messages undelivered after %d s", rd_kafka_outq_len(rk),
		    PHASE_SECS);
	t1 = now_s();
	c1 = proc_cpu(getpid());
	s1 = cluster_cpu(&c);
	if (dr.failed)
		die("%s: %ld of %ld deliveries failed, the first with %s",
		    cluster ? "cluster" : "single", dr.failed, opt.n,
		    rd_kafka_err2name(dr.first_err));
	if (dr.ok != opt.n)
		die("%ld delivery reports for %ld messages", dr.ok, opt.n);
	res->pmin = -1;
	for (p = 0; p < TPUT_PARTS; p++) {
		int64_t lo, hi;

		if (rd_kafka_query_watermark_offsets(rk, TPUT_TOPIC, p, &lo,
		    &hi, 10000))
			die("partition %d: cannot query the watermarks", p);
		sum += (long)hi;
		if (res->pmin < 0 || hi < res->pmin)
			res->pmin = (long)hi;
		if (hi > res->pmax)
			res->pmax = (long)hi;
	}
	/* The high watermark: what every in-sync replica has. */
	if (sum != opt.n)
		die("%s: the partitions' high watermarks add up to %ld after "
		    "%ld acknowledged records", cluster ? "cluster" : "single",
		    sum, opt.n);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	cluster_stop(&c);
	res->secs = t1 - t0;
	res->rate = (double)opt.n / res->secs;
	res->srv.run = s1.run - s0.run;
	res->srv.wait = s1.wait - s0.wait;
	res->cli.run = c1.run - c0.run;
	res->cli.wait = c1.wait - c0.wait;
}

static void rows_tput(void)
{
	samples_t cs = { .n = 0 }, ss = { .n = 0 };
	tput_res_t cr, sr;
	long cq = 0, sq = 0;
	row_t *r;
	int i;

	progress("[1] producer throughput, %ld records of %d B, %d partitions"
	    "\n", opt.n, VALUE_LEN, TPUT_PARTS);
	for (i = 0; i < opt.runs; i++) {
		tput_run(1, &cr);
		sample(&cs, "3 members, RF 3, acks=all", U_RATE, cr.rate);
		cq += cr.qfull;
		settle();
		tput_run(0, &sr);
		sample(&ss, "1 broker, acks=1", U_RATE, sr.rate);
		sq += sr.qfull;
		settle();
	}
	done_msg("cluster, acks=all", U_RATE, median(&cs));
	done_msg("single broker, acks=1", U_RATE, median(&ss));
	r = add_row("1", U_RATE, ">= 500 k/s", 5e5,
	    "produce, RF %d acks=all vs 1 broker acks=1", NMEMBERS);
	r->v[C_CLUSTER] = median(&cs);
	r->v[C_SINGLE] = median(&ss);
	note("1: one librdkafka %s producer in this process, %ld records of "
	    "%d B (null key, sticky partitioner over %d partitions) per run, "
	    "rd_kafka_produce with RD_KAFKA_MSG_F_COPY from one thread; "
	    "linger.ms=%s, batch.size=%s, batch.num.messages=%s (so that "
	    "batch.size binds), compression none. Timed from the first "
	    "produce call until rd_kafka_flush() returns with every delivery "
	    "report in and checked; then the partitions' high watermarks "
	    "must add up to the records sent. Cluster: three kstream-broker "
	    "processes formed afresh for each run, topic created through "
	    "librdkafka's admin API with replication factor %d and "
	    "min.insync.replicas=%s%s, acks=all, started once every "
	    "partition had %d in-sync replicas. Single: one kstream-broker "
	    "without --voters, the same topic with replication factor 1, "
	    "acks=1. Runs alternate between the two. QUEUE_FULL retries: "
	    "cluster %ld, single %ld.", rd_kafka_version_str(), opt.n,
	    VALUE_LEN, TPUT_PARTS, LINGER_MS, BATCH_SIZE, BATCH_MSGS,
	    NMEMBERS, MIN_ISR, tput_no_cfg ? " (refused as a topic config: "
	    "the brokers' --set default instead)" : "", NMEMBERS, cq, sq);
	note("1: CPU time, last run (the scheduler's count): the three "
	    "members %.2f CPU-s in %.2f s (%.2f us per record), runnable but "
	    "waiting for a CPU %.2f s; the client %.2f CPU-s (waiting %.2f s). "
	    "Single broker: %.2f CPU-s in %.2f s, client %.2f. Records per "
	    "partition, last cluster run: %ld to %ld. Every member keeps its "
	    "own copy in the page cache of one disk: three times the writes "
	    "of the single broker, on the same %ld CPUs.", cr.srv.run,
	    cr.secs, cr.srv.run * 1e6 / (double)opt.n, cr.srv.wait,
	    cr.cli.run, cr.cli.wait, sr.srv.run, sr.secs, sr.cli.run, cr.pmin,
	    cr.pmax, sysconf(_SC_NPROCESSORS_ONLN));
}

/* ------------------------------------------------------------------ */
/* Part 2: failover                                                    */

static int member_of(const cluster_t *c, int32_t id)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (c->m[i].id == id)
			return i;
	return -1;
}

/* Sleeps until the absolute CLOCK_MONOTONIC time t (ns). */
static void sleep_until(int64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000,
	    .tv_nsec = t % 1000000000 };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		;
}

typedef struct {
	double ns;              /* kill to first acknowledged write */
	int32_t victim;
	int was_controller;
	long failed;            /* deliveries that failed in the run */
	double restart_s;       /* restart to ISR 3 again */
} fo_res_t;

static void failover_run(cluster_t *c, rd_kafka_t *obs, fo_res_t *res)
{
	uint8_t value[VALUE_LEN];
	rd_kafka_conf_t *conf;
	rd_kafka_topic_t *rkt;
	rd_kafka_t *rk;
	char err[512];
	pinfo_t pi;
	dr_t dr;
	int64_t next, t_kill = 0, warm_end;
	int32_t ctl = -1;
	long seq = 0;
	int v, nb, i;
	double t;

	memset(res, 0, sizeof(*res));
	memset(&dr, 0, sizeof(dr));
	dr.kill_seq = -1;
	fill_value(value, sizeof(value), 42);
	conf = conf_new(c);
	conf_set(conf, "acks", "all");
	conf_set(conf, "linger.ms", "0");
	conf_set(conf, "message.timeout.ms", "60000");
	conf_set(conf, "topic.metadata.refresh.fast.interval.ms",
	    FO_REFRESH_MS);
	conf_set(conf, "socket.nagle.disable", "true");
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_conf_set_opaque(conf, &dr);
	if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))))
		die("rd_kafka_new: %s", err);
	rkt = rd_kafka_topic_new(rk, FO_TOPIC, NULL);
	/* Members learn metadata a moment apart: one that has not yet
	 * applied the latest may answer, so ask again for a while. */
	t = now_s();
	while (part_info(obs, FO_TOPIC, 0, &pi) || pi.leader < 0 ||
	    (v = member_of(c, pi.leader)) < 0) {
		if (now_s() - t > 10)
			die("failover: no leader for %s before the kill",
			    FO_TOPIC);
		usleep(20000);
	}
	res->victim = pi.leader;
	for (i = 0; i < c->n; i++)
		if (i != v && raw_metadata(c->m[i].port, &ctl, &nb) == 0)
			break;
	res->was_controller = ctl == pi.leader;

	/* One record every millisecond: FO_WARM_MS of them acknowledged
	 * first, then the kill, then on until a record sent after the
	 * kill is acknowledged. */
	next = now_ns();
	warm_end = next + (int64_t)FO_WARM_MS * 1000000;
	for (;;) {
		int64_t now;

		sleep_until(next);
		next += FO_INTERVAL_NS;
		if (rd_kafka_produce(rkt, 0, RD_KAFKA_MSG_F_COPY, value,
		    VALUE_LEN, NULL, 0, (void *)(intptr_t)seq) == -1)
			die("failover: rd_kafka_produce: %s",
			    rd_kafka_err2str(rd_kafka_last_error()));
		seq++;
		rd_kafka_poll(rk, 0);
		now = now_ns();
		if (!t_kill && now >= warm_end && dr.acked_before > 0) {
			dr.kill_seq = seq;
			t_kill = now_ns();
			kill(c->m[v].pid, SIGKILL);
		}
		if (dr.first_ack_ns)
			break;
		if (t_kill && now - t_kill > (int64_t)FO_DEADLINE_S *
		    1000000000) {
			cluster_logs();
			die("failover: no record acknowledged %d s after the "
			    "kill of member %d", FO_DEADLINE_S, res->victim);
		}
		if (!t_kill && now - warm_end > 30 * (int64_t)1000000000)
			die("failover: no record acknowledged before the kill");
	}
	res->ns = (double)(dr.first_ack_ns - t_kill);
	/* Reap the victim, then let the producer finish its records. */
	member_reap(c, v);
	if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		die("failover: %d records undelivered 60 s after the kill",
		    rd_kafka_outq_len(rk));
	res->failed = dr.failed;
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);

	/* Back to three in-sync replicas before the next run. */
	t = now_s();
	member_restart(c, v);
	await_isr(obs, FO_TOPIC, 1, NMEMBERS, 60);
	res->restart_s = now_s() - t;
}

static void rows_failover(void)
{
	double ns[MAX_RUNS], restart = 0;
	samples_t s = { .n = 0 };
	fo_res_t fr;
	rd_kafka_conf_t *conf;
	rd_kafka_t *obs;
	cluster_t c;
	char err[512], victims[256];
	long failed = 0;
	size_t off = 0;
	int i, no_cfg = 0, ctl_kills = 0, k90;
	row_t *r;

	progress("[2] failover: kill -9 of the leader, %d runs\n", opt.kills);
	cluster_start(&c, NMEMBERS);
	/* The observer: Metadata and the topic's creation. It bootstraps
	 * from all three and learns restarted members' new ports. */
	conf = conf_new(&c);
	if (!(obs = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))))
		die("rd_kafka_new: %s", err);
	create_topic(obs, FO_TOPIC, 1, NMEMBERS, 1, &no_cfg);
	await_isr(obs, FO_TOPIC, 1, NMEMBERS, 30);
	victims[0] = '\0';
	for (i = 0; i < opt.kills; i++) {
		failover_run(&c, obs, &fr);
		sample(&s, "kill to first ack", U_NS, fr.ns);
		ns[i] = fr.ns;
		ctl_kills += fr.was_controller;
		failed += fr.failed;
		restart += fr.restart_s;
		if (off + 8 < sizeof(victims))
			off += (size_t)snprintf(victims + off,
			    sizeof(victims) - off, "%s%d%s", i ? " " : "",
			    fr.victim, fr.was_controller ? "*" : "");
	}
	rd_kafka_destroy(obs);
	cluster_stop(&c);
	qsort(ns, (size_t)s.n, sizeof(double), cmp_double);
	k90 = (s.n * 900 + 999) / 1000;
	done_msg("kill to first acknowledged write", U_NS, median(&s));
	r = add_row("2", U_NS, "< 5 s", 5e9, "failover median, kill -9 to "
	    "first ack");
	r->v[C_CLUSTER] = median(&s);
	r = add_row("2b", U_NS, "", 0, "failover p90");
	r->v[C_CLUSTER] = ns[k90 - 1];
	r = add_row("2c", U_NS, "", 0, "failover max");
	r->v[C_CLUSTER] = ns[s.n - 1];
	r = add_row("2d", U_NS, "", 0, "failover min");
	r->v[C_CLUSTER] = ns[0];
	note("2: %d runs on one three-member cluster, a 1-partition topic "
	    "with replication factor %d and min.insync.replicas=%s%s. Each "
	    "run: a fresh librdkafka producer (acks=all, linger.ms=0, "
	    "topic.metadata.refresh.fast.interval.ms=%s, other settings "
	    "librdkafka's defaults) sends one %d-byte record every 1 ms; "
	    "after %d ms, once a record has been acknowledged, the "
	    "partition's leader (from Metadata) gets SIGKILL; the figure is "
	    "the time from "
	    "the kill to the first delivery report of a record sent after the "
	    "kill (the reports are polled every 1 ms). The killed member is "
	    "then restarted on its store, and the next run waits until the "
	    "partition has %d in-sync replicas again (%.1f s on average). "
	    "Leadership is not moved back, so the kills go round the "
	    "members. Failure detection as in kstream-cluster(7): "
	    "broker.session.timeout.ms=1500, broker.heartbeat.interval.ms="
	    "250, raft.election.timeout.ms=500, replica.lag.time.max.ms=3000. "
	    "The node ids killed, * where it was also the active controller "
	    "(%d of %d runs): %s. Deliveries that failed (librdkafka gave up "
	    "on the record): %ld; the target is a new leader "
	    "serving within 5 s.", s.n, NMEMBERS, MIN_ISR, no_cfg ?
	    " (refused as a topic config: the brokers' --set default "
	    "instead)" : "", FO_REFRESH_MS, VALUE_LEN, FO_WARM_MS, NMEMBERS,
	    restart / (s.n ? s.n : 1), ctl_kills, s.n, victims, failed);
}

/* ------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr, "usage: bench_cluster [-q] [-r RUNS] [-n MSGS] "
	    "[-k KILLS] [-p tput|failover] [-d DIR] [-b BROKER] [-v]\n"
	    "  -q        quick run: 200000 records, 5 kills\n"
	    "  -r RUNS   throughput runs, medians reported (default 3)\n"
	    "  -n MSGS   records per throughput run (default 2000000)\n"
	    "  -k KILLS  failover runs (default 20)\n"
	    "  -p PART   tput or failover: that part only\n"
	    "  -d DIR    scratch directory (default $TMPDIR or /tmp)\n"
	    "  -b PATH   the kstream-broker program\n"
	    "  -v        print every sample\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *barg = NULL;
	char fstype[64];
	double t0;
	int c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "qr:n:k:p:d:b:vh")) != -1) {
		if (common_opt(c, &opt.quick, &opt.runs, &opt.base))
			continue;
		switch (c) {
		case 'n':
			if ((opt.n = atol(optarg)) < 1)
				die("-n: at least 1");
			break;
		case 'k':
			opt.kills = atoi(optarg);
			if (opt.kills < 1 || opt.kills > MAX_RUNS)
				die("-k: between 1 and %d", MAX_RUNS);
			break;
		case 'p':
			opt.do_tput = strcmp(optarg, "tput") == 0;
			opt.do_failover = strcmp(optarg, "failover") == 0;
			if (!opt.do_tput && !opt.do_failover)
				die("-p: tput or failover");
			break;
		case 'b':
			barg = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (opt.n < 1)
		opt.n = opt.quick ? 200000 : 2000000;
	if (opt.kills < 1)
		opt.kills = opt.quick ? 5 : 20;
	self_path(opt.self);
	if (find_broker(barg, opt.self, opt.broker) < 0)
		die("no kstream-broker next to this program or in "
		    "$KSTREAM_BROKER (make builds it)");
	signal(SIGPIPE, SIG_IGN);

	bench_prog = "bench_cluster";
	make_scratch(opt.base, opt.scratch);
	bench_layout = &layout;

	printf("kstream %s cluster benchmark over loopback: %d members%s\n",
	    ks_version_string(), NMEMBERS, opt.quick ? " (quick sizes)" : "");
	print_machine("", fstype);
	printf("broker:  %s\n", opt.broker);
	printf("client:  librdkafka %s\n", rd_kafka_version_str());
	print_context_end();
	t0 = now_s();
	if (opt.do_tput)
		rows_tput();
	if (opt.do_failover)
		rows_failover();

	print_table();
	printf("\nPublished figure (context only: other machines, other "
	    "conditions):\n"
	    " - Kafka, three machines, replication factor 3, synchronous "
	    "(acks=all): 421,823 records/s of 100 B\n");
	print_end(t0);
	return 0;
}
