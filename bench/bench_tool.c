/*
 * bench_tool.c: the kstream command-line tool's and the metrics'
 * benchmark table.
 *
 * Runs the kstream(1) program as a user would, a fresh process per
 * figure, against kstream-broker on loopback and against a store
 * directory, and measures the same work done by kcat (librdkafka's
 * command-line client) against the same broker in the same run: producing
 * a file of lines, consuming a topic to its end, verifying a store
 * (kstream check against cat of the same files), and scraping a broker's
 * metrics endpoint. Every figure is the median of R runs; every run's
 * result is checked (record counts, bytes, exit statuses) before it is
 * counted. Benchmarks are not tests: nothing here asserts a target. See
 * bench/README.md for what every row measures.
 *
 *   bench_tool [-q] [-r RUNS] [-d DIR] [-v]
 *
 *   -q       quick run: smaller sizes
 *   -r RUNS  runs per figure, median reported (default 3)
 *   -d DIR   scratch directory (default $TMPDIR, else /tmp); everything
 *            lives in one fresh subdirectory, removed at exit
 *   -v       print every sample, not only the medians
 *
 * The programs measured are ../kstream and ../kstream-broker next to this
 * program (where make builds them), else $KSTREAM_TOOL and
 * $KSTREAM_BROKER; kcat and cat come from PATH. Every child is killed at
 * exit, also on error or Ctrl-C, and gets SIGKILL if this process dies.
 */
#define _GNU_SOURCE
#include <kstream/kstream.h>
#include <kstream/kafka.h>
#include <kstream/admin.h>
#include <kstream/metrics.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_NOTES 24
#define NOTE_LEN 1400
#include "harness.h"

#define VALUE_LEN 100          /* bytes per record value (a line without
                                  its newline) */
#define RUN_SECS 600           /* any one child must finish within this */
#define SPAWN_SECS 20          /* a broker must be listening within this */
#define M_TOPICS 10            /* row 5: topics ... */
#define M_PARTS 100            /* ... of this many partitions each */
#define M_GROUPS 50            /* row 5: groups with committed offsets */
#define M_RECORDS 10000        /* row 5: keyed records per topic */
#define SCRAPES 20             /* row 5: timed scrapes and stats runs */
#define SCRAPE_TARGET_MS 50.0  /* row 5's target */
/* Row 5's topics: a partition's first append otherwise reserves 64 MiB
 * of log (the prefaulter's reach) and each index its 10 MiB: 84 GB of
 * disk for 1000 partitions. */
#define SMALL_SEGMENT "segment.bytes=1048576"
#define SMALL_INDEX "segment.index.bytes=65536"

/* ------------------------------------------------------------------ */
/* Options, scratch directory, children                                */

static struct {
	int runs;
	int quick;
	long n;                 /* records in the input file */
	double check_bytes;     /* row 4: the store's size to aim at */
	const char *base;
	char scratch[PATH_MAX];
	char tool[PATH_MAX];    /* the kstream program */
	char broker[PATH_MAX];  /* kstream-broker */
	char input[PATH_MAX + 32];  /* N lines of VALUE_LEN bytes */
	double input_bytes;
} opt = { .runs = 3 };

/* "kstream produce t --broker ..." for messages. */
static void cmdline(char *const argv[], char *buf, size_t cap)
{
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; argv[i] && off + 2 < cap; i++) {
		const char *a = argv[i], *s = strrchr(a, '/');

		if (i == 0 && s)
			a = s + 1;
		off += (size_t)snprintf(buf + off, cap - off, "%s%s",
		    i ? " " : "", a);
	}
}

/* ------------------------------------------------------------------ */
/* Running a program to its end                                        */

enum out {
	OUT_NULL,       /* stdout to /dev/null */
	OUT_COUNT,      /* through a pipe: bytes and newlines counted */
	OUT_KEEP        /* through a pipe, counted and kept */
};

typedef struct {
	double secs;            /* from fork until reaped: its whole run */
	double cpu;             /* its user + system CPU time, seconds */
	long long bytes, lines; /* of its stdout (OUT_COUNT, OUT_KEEP) */
	char *text;             /* OUT_KEEP: stdout, NUL-terminated; free() */
} run_t;

static int run_seq;

static int pidfd_of(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/*
 * Runs argv to its end and fills *r. A program that fails (exits with a
 * status other than 0, is killed, or outlives RUN_SECS) ends the
 * benchmark with its command line and the end of its stderr: a figure of
 * a failed run is worse than none.
 */
static void run(char *const argv[], enum out out, run_t *r)
{
	char log[PATH_MAX + 64], cmd[512];
	int p[2] = { -1, -1 }, pfd, st;
	size_t cap = 0;
	struct rusage ru;
	double t0, dl;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	snprintf(log, sizeof(log), "%s/run-%d.log", opt.scratch, ++run_seq);
	cmdline(argv, cmd, sizeof(cmd));
	if (out != OUT_NULL) {
		if (pipe2(p, O_CLOEXEC) < 0)
			die("pipe: %s", strerror(errno));
		/* A larger pipe: fewer wake-ups of reader and writer. */
		fcntl(p[0], F_SETPIPE_SZ, 1 << 20);
	}
	t0 = now_s();
	dl = t0 + RUN_SECS;
	pid = spawn(argv, p[1], log);
	if (p[1] >= 0)
		close(p[1]);
	if ((pfd = pidfd_of(pid)) < 0)
		die("pidfd_open: %s", strerror(errno));

	/* Its stdout until EOF (it exited, or closed it). */
	while (p[0] >= 0) {
		static char buf[1 << 16];
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		ssize_t n;

		if (now_s() > dl)
			goto too_long;
		if (poll(&pf, 1, 200) <= 0)
			continue;
		n = read(p[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("%s: read: %s", cmd, strerror(errno));
		if (n == 0) {
			close(p[0]);
			p[0] = -1;
			break;
		}
		r->bytes += n;
		for (const char *q = buf, *e = buf + n;
		    (q = memchr(q, '\n', (size_t)(e - q))); q++)
			r->lines++;
		if (out == OUT_KEEP) {
			if ((size_t)r->bytes + 1 > cap) {
				cap = ((size_t)r->bytes + 1) * 2;
				if (!(r->text = realloc(r->text, cap)))
					die("out of memory");
			}
			memcpy(r->text + r->bytes - n, buf, (size_t)n);
			r->text[r->bytes] = '\0';
		}
	}
	/* Its exit. */
	for (;;) {
		struct pollfd pf = { .fd = pfd, .events = POLLIN };

		if (poll(&pf, 1, 200) > 0)
			break;
		if (now_s() > dl)
			goto too_long;
	}
	if (wait4(pid, &st, 0, &ru) != pid)
		die("wait4: %s", strerror(errno));
	r->secs = now_s() - t0;
	kid_del(pid);
	close(pfd);
	r->cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
	if (out == OUT_KEEP && !r->text && !(r->text = calloc(1, 1)))
		die("out of memory");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		log_tail(log);
		if (WIFEXITED(st))
			die("`%s` exited with status %d", cmd, WEXITSTATUS(st));
		die("`%s` was killed by signal %d", cmd, WTERMSIG(st));
	}
	unlink(log);
	return;
too_long:
	log_tail(log);
	die("`%s` still running after %d s", cmd, RUN_SECS);
}

/* ------------------------------------------------------------------ */
/* kstream-broker                                                      */

typedef struct {
	pid_t pid;
	int out;                 /* read end of its stdout */
	int port;
	char bootstrap[64];      /* "127.0.0.1:PORT" */
	char metrics[128];       /* "http://127.0.0.1:PORT/metrics" or "" */
	int mport;
	int with_metrics;        /* started with --metrics */
	char dir[PATH_MAX + 32]; /* its store */
	char log[PATH_MAX + 32]; /* its stderr */
	ks_admin_t *admin;       /* ks_admin_connect, for checking counts */
} broker_t;

static int broker_seq;

/* From "...listening on tcp://127.0.0.1:PORT" or "metrics on URL". */
static int port_of(const char *url)
{
	const char *p = strstr(url, "://"), *c;

	p = p ? p + 3 : url;
	c = strchr(p, ':');
	return c ? atoi(c + 1) : -1;
}

/* Its stdout: "listening on URL" and, with --metrics, "metrics on URL"
 * once each is bound; done when it has printed every one it will. */
static int broker_line(char *line, void *arg)
{
	broker_t *b = arg;
	char *s;

	if ((s = strstr(line, "listening on "))) {
		s += strlen("listening on ");
		s[strcspn(s, " \r\t")] = '\0';
		b->port = port_of(s);
	} else if ((s = strstr(line, "metrics on "))) {
		s += strlen("metrics on ");
		s[strcspn(s, " \r\t")] = '\0';
		snprintf(b->metrics, sizeof(b->metrics), "%s", s);
		b->mport = port_of(s);
	}
	return b->port > 0 && (!b->with_metrics || b->mport > 0);
}

/* A fresh broker on 127.0.0.1, any port, on a fresh store; with its
 * metrics endpoint on another port if metrics. */
static void broker_start(broker_t *b, int metrics)
{
	int p[2], k = ++broker_seq, rc;

	memset(b, 0, sizeof(*b));
	b->with_metrics = metrics;
	snprintf(b->dir, sizeof(b->dir), "%s/broker-%d", opt.scratch, k);
	snprintf(b->log, sizeof(b->log), "%s/broker-%d.log", opt.scratch, k);
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	{
		char *argv[] = { opt.broker, "--dir", b->dir, "--listen",
		    "tcp://127.0.0.1:0", metrics ? "--metrics" : NULL,
		    "http://127.0.0.1:0/metrics", NULL };

		b->pid = spawn(argv, p[1], b->log);
	}
	close(p[1]);
	b->out = p[0];
	await_lines(b->pid, b->out, b->log, "kstream-broker", SPAWN_SECS,
	    broker_line, b);
	snprintf(b->bootstrap, sizeof(b->bootstrap), "127.0.0.1:%d", b->port);
	if ((rc = ks_admin_connect(b->bootstrap, NULL, &b->admin)) < 0)
		die("ks_admin_connect %s: %s", b->bootstrap, ks_strerror(rc));
}

static void broker_stop(broker_t *b)
{
	ks_admin_free(b->admin);
	b->admin = NULL;
	kid_stop(b->pid);
	b->pid = 0;
	if (b->out >= 0)
		close(b->out);
	b->out = -1;
	rm_rf(b->dir);
}

static double du_total;

static int du_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)path;
	(void)flag;
	(void)ftw;
	du_total += (double)st->st_blocks * 512;
	return 0;
}

/* The disk space the files under dir take, bytes (du). */
static double disk_usage(const char *dir)
{
	du_total = 0;
	nftw(dir, du_one, 16, FTW_PHYS);
	return du_total;
}

/* The broker's CPU time so far (its threads alive now), seconds. */
static double broker_cpu(const broker_t *b)
{
	char path[64], buf[512], *q;
	unsigned long ut = 0, stt = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)b->pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (!(q = strrchr(buf, ')')) || sscanf(q + 2,
	    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
	    &stt) != 2)
		return 0;
	return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

/* The number of threads of a process (its status file's Threads:). */
static long proc_threads(pid_t pid)
{
	char path[64], v[64];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	read_field(path, "Threads", v, sizeof(v));
	return atol(v);
}

/* The end offset of topic's partition 0 on the broker. */
static int64_t end_offset(const broker_t *b, const char *topic)
{
	int64_t off = -1;
	int rc = ks_admin_list_offset(b->admin, topic, 0, KS_OFFSET_END, &off);

	if (rc < 0)
		die("ListOffsets %s: %s", topic, ks_strerror(rc));
	return off;
}

/* ------------------------------------------------------------------ */
/* HTTP GET of a metrics endpoint                                      */

/*
 * GET path from 127.0.0.1:port over a fresh connection (HTTP/1.1,
 * Connection: close). Returns the seconds from connect() to the body's
 * last byte; the body (NUL-terminated, malloc()ed) in *body, its length
 * in *len. Anything but a 200 with a whole body ends the benchmark.
 */
static double http_get(int port, const char *path, char **body, size_t *len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 30 };
	char req[512], *buf = NULL, *hend, *cl;
	size_t got = 0, cap = 0, want = (size_t)-1, hlen = 0;
	double t0;
	int fd, one = 1, reqlen;

	reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: "
	    "127.0.0.1:%d\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
	    path, port);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	t0 = now_s();
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("metrics: connect 127.0.0.1:%d: %s", port, strerror(errno));
	if (write(fd, req, (size_t)reqlen) != reqlen)
		die("metrics: write: %s", strerror(errno));
	for (;;) {
		ssize_t n;

		if (got + 65536 + 1 > cap) {
			cap = cap ? cap * 2 : 1 << 20;
			if (!(buf = realloc(buf, cap)))
				die("out of memory");
		}
		n = read(fd, buf + got, cap - got - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("metrics: read: %s", strerror(errno));
		got += (size_t)n;
		buf[got] = '\0';
		if (hlen == 0 && (hend = strstr(buf, "\r\n\r\n"))) {
			hlen = (size_t)(hend + 4 - buf);
			if (strncmp(buf, "HTTP/1.", 7) != 0 ||
			    strncmp(buf + 8, " 200", 4) != 0)
				die("metrics: GET %s: \"%.*s\"", path,
				    (int)strcspn(buf, "\r\n"), buf);
			if ((cl = strcasestr(buf, "\r\nContent-Length:")) &&
			    cl < hend)
				want = (size_t)strtoull(cl + 17, NULL, 10);
		}
		if (n == 0 || (hlen && want != (size_t)-1 &&
		    got - hlen >= want))
			break;
	}
	t0 = now_s() - t0;
	close(fd);
	if (hlen == 0)
		die("metrics: GET %s: no complete response header", path);
	if (want != (size_t)-1 && got - hlen != want)
		die("metrics: GET %s: %zu body bytes of %zu", path, got - hlen,
		    want);
	*len = got - hlen;
	memmove(buf, buf + hlen, *len + 1);
	*body = buf;
	return t0;
}

/* ------------------------------------------------------------------ */
/* The table                                                           */

enum unit { U_RATE, U_MBS, U_MS, U_BYTES };
enum col { C_KS, C_PEER };

static const bench_unit_t units[] = {
	[U_RATE] = BENCH_UNIT_RATE,
	[U_MBS] = { { { 0, 1e6, "%.0f MB/s" } }, 0 },
	[U_MS] = { { { 0.01, 1e-3, "%.1f ms" }, { 0, 1e-3, "%.2f ms" } }, 1 },
	[U_BYTES] = { { { 1e6, 1e6, "%.2f MB" }, { 0, 1e3, "%.1f kB" } }, 1 },
};

/* One peer a row, named in the "peer is" column: kcat, cat, or the same
 * tool through a broker; "-" for none. */
static const bench_layout_t layout = {
	.units = units, .cols = { "kstream", "peer" },
	.what_w = 46, .val_w = 11, .ratio_w = 7, .target_w = 9, .rule = 108,
	.peer_is_w = 7, .none = "n/a",
};

/* A row of kstream's figure against peer's. */
static void peer_row(const char *id, enum unit unit, const char *what,
    double ks, const char *peer, double peer_v)
{
	row_t *r = add_row(id, unit, "", 0, "%s", what);

	r->v[C_KS] = ks;
	r->peer_name = peer;
	r->v[C_PEER] = peer_v;
}

/* ------------------------------------------------------------------ */
/* Context and input                                                   */

/* kcat's version and its librdkafka's from `kcat -V` ("Version 1.7.1
 * (JSON, ..., librdkafka 2.0.2 builtin.features=...)"): "1.7.1, librdkafka
 * 2.0.2"; or "not found". */
static void kcat_version(char *buf, size_t cap)
{
	char line[1024], *p;
	FILE *f = popen("kcat -V 2>&1", "r");

	copy_str(buf, cap, "not found");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Version ", 8) == 0) {
			int vl = (int)strcspn(line + 8, " \n");

			if ((p = strstr(line, "librdkafka ")))
				snprintf(buf, cap, "%.*s, librdkafka %.*s", vl,
				    line + 8, (int)strcspn(p + 11, " \n)"),
				    p + 11);
			else
				snprintf(buf, cap, "%.*s", vl, line + 8);
		}
	pclose(f);
}

static void print_context(void)
{
	char fstype[64], kv[256];

	kcat_version(kv, sizeof(kv));
	if (strcmp(kv, "not found") == 0)
		die("kcat is not in PATH (the peer of rows 1 and 2)");
	printf("kstream %s command-line tool benchmark: medians of %d run%s%s\n",
	    ks_version_string(), opt.runs, opt.runs == 1 ? "" : "s",
	    opt.quick ? " (quick sizes)" : "");
	print_machine("", fstype);
	printf("tool:    %s\n", opt.tool);
	printf("broker:  %s\n", opt.broker);
	printf("peer:    kcat %s\n", kv);
	print_context_end();
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng >> 32);
}

/*
 * Writes n lines to path, each a record: with key_sep, "kNNNNN" key_sep
 * and a value filling the line to VALUE_LEN bytes; else a VALUE_LEN-byte
 * value: a 10-digit sequence number and pseudo-random letters and digits.
 * Returns the file's size.
 */
static double write_lines(const char *path, long n, int key_sep)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	char line[VALUE_LEN + 1];
	FILE *f = fopen(path, "w");
	long i;
	int j;

	if (!f)
		die("%s: %s", path, strerror(errno));
	for (i = 0; i < n; i++) {
		j = key_sep ? snprintf(line, sizeof(line), "k%05ld%c",
		    i % 100000, key_sep) : snprintf(line, sizeof(line),
		    "%010ld", i);
		for (; j < VALUE_LEN; j++)
			line[j] = alpha[rnd() % 36];
		line[VALUE_LEN] = '\n';
		if (fwrite(line, 1, sizeof(line), f) != sizeof(line))
			die("%s: %s", path, strerror(errno));
	}
	if (fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
	return (double)n * (VALUE_LEN + 1);
}

/* ------------------------------------------------------------------ */
/* Rows 1-3: producing and consuming a file of lines                   */

/* The counter kstream_kafka_requests_total{api="Produce"} of b. */
static double produce_requests(const broker_t *b)
{
	const ks_metric_t *s;
	ks_metrics_t *m = NULL;
	size_t len;
	char *body;
	double v = -1;

	if (b->mport <= 0)
		return -1;
	http_get(b->mport, "/metrics", &body, &len);
	if (ks_metrics_parse(body, len, &m) == 0 &&
	    (s = ks_metrics_find(m, "kstream_kafka_requests_total",
	    "api=Produce")))
		v = s->value;
	ks_metrics_free(m);
	free(body);
	return v;
}

/* The largest sample (the fastest run of a rate). */
static double max_of(const samples_t *s)
{
	double m = -1;
	int i;

	for (i = 0; i < s->n; i++)
		if (s->v[i] > m)
			m = s->v[i];
	return m;
}

/* A consumer's output must be the input file: N lines, its bytes. */
static void check_output(const run_t *r, const char *who)
{
	if (r->lines != opt.n || (double)r->bytes != opt.input_bytes)
		die("%s printed %lld lines, %lld bytes; expected %ld lines, "
		    "%.0f bytes", who, r->lines, r->bytes, opt.n,
		    opt.input_bytes);
}

static void topic_create(const char *name, const char *target_opt,
    const char *target)
{
	char *argv[] = { opt.tool, "topics", "create", (char *)name,
	    "--partitions", "1", (char *)target_opt, (char *)target, NULL };
	run_t r;

	run(argv, OUT_NULL, &r);
}

/* One client's figures over the runs of rows 1 and 2. */
typedef struct {
	samples_t rate;         /* records/s */
	samples_t cpu;          /* its CPU time, seconds */
	samples_t bcpu;         /* the broker's CPU time meanwhile */
	samples_t req;          /* Produce requests the broker served */
} client_t;

/* Row 1's run of argv (who in messages), producing the input file into
 * topic on b: checked by the topic's end offset. */
static void produce_run(broker_t *b, char *const argv[], const char *topic,
    const char *who, client_t *c)
{
	double c0, q0, v;
	run_t r;

	settle();
	c0 = broker_cpu(b);
	q0 = produce_requests(b);
	run(argv, OUT_NULL, &r);
	if ((v = (double)end_offset(b, topic)) != (double)opt.n)
		die("%s: topic %s ends at offset %.0f, not %ld", who, topic, v,
		    opt.n);
	sample(&c->rate, who, U_RATE, (double)opt.n / r.secs);
	c->cpu.v[c->cpu.n++] = r.cpu;
	c->bcpu.v[c->bcpu.n++] = broker_cpu(b) - c0;
	c->req.v[c->req.n++] = produce_requests(b) - q0;
}

/* Row 2's run of argv (who in messages), consuming from b: checked by
 * its output. */
static void consume_run(broker_t *b, char *const argv[], const char *who,
    client_t *c)
{
	double c0 = broker_cpu(b);
	run_t r;

	run(argv, OUT_COUNT, &r);
	check_output(&r, who);
	sample(&c->rate, who, U_RATE, (double)opt.n / r.secs);
	c->cpu.v[c->cpu.n++] = r.cpu;
	c->bcpu.v[c->bcpu.n++] = broker_cpu(b) - c0;
}

static void rows_produce_consume(broker_t *b)
{
	/* k: kstream, c: kcat; p: produce, c: consume */
	client_t kp = { .rate.n = 0 }, cp = { .rate.n = 0 },
	    kc = { .rate.n = 0 }, cc = { .rate.n = 0 };
	samples_t s_sp = { .n = 0 }, s_sc = { .n = 0 };
	int i;

	progress("[1-3] %ld lines of %d bytes, %d run%s\n", opt.n, VALUE_LEN,
	    opt.runs, opt.runs == 1 ? "" : "s");
	for (i = 0; i < opt.runs; i++) {
		char kt[32], ct[32], sdir[PATH_MAX + 32];
		run_t r;

		snprintf(kt, sizeof(kt), "ks-%d", i);
		snprintf(ct, sizeof(ct), "kcat-%d", i);
		topic_create(kt, "--broker", b->bootstrap);
		topic_create(ct, "--broker", b->bootstrap);

		/* 1: kstream produce, then kcat -P, each to its own topic. */
		{
			char *ka[] = { opt.tool, "produce", kt, "--broker",
			    b->bootstrap, "-f", opt.input, "-q", NULL };
			char *ca[] = { "kcat", "-P", "-b", b->bootstrap,
			    "-t", ct, "-l", opt.input, NULL };

			produce_run(b, ka, kt, "kstream produce --broker", &kp);
			produce_run(b, ca, ct, "kcat -P", &cp);
		}

		/* 2: both consume the topic kstream produce wrote. */
		{
			char *ka[] = { opt.tool, "consume", kt, "--broker",
			    b->bootstrap, "--partition", "0", "--offset",
			    "beginning", NULL };
			char *ca[] = { "kcat", "-C", "-b", b->bootstrap,
			    "-t", kt, "-p", "0", "-o", "beginning", "-e", "-q",
			    NULL };

			consume_run(b, ka, "kstream consume --broker", &kc);
			consume_run(b, ca, "kcat -C", &cc);
		}
		{
			char *d1[] = { opt.tool, "topics", "delete", kt,
			    "--broker", b->bootstrap, NULL };
			char *d2[] = { opt.tool, "topics", "delete", ct,
			    "--broker", b->bootstrap, NULL };

			run(d1, OUT_NULL, &r);
			run(d2, OUT_NULL, &r);
		}

		/* 3: the same file into a store and back, no broker. */
		snprintf(sdir, sizeof(sdir), "%s/store-%d", opt.scratch, i);
		if (mkdir(sdir, 0755) < 0)
			die("mkdir %s: %s", sdir, strerror(errno));
		topic_create("t", "--store", sdir);
		{
			char *argv[] = { opt.tool, "produce", "t", "--store",
			    sdir, "-f", opt.input, "-q", NULL };

			settle();
			run(argv, OUT_NULL, &r);
			sample(&s_sp, "kstream produce --store", U_RATE,
			    (double)opt.n / r.secs);
		}
		{
			char *argv[] = { opt.tool, "consume", "t", "--store",
			    sdir, "--partition", "0", "--offset", "beginning",
			    NULL };

			run(argv, OUT_COUNT, &r);
			check_output(&r, "kstream consume --store");
			sample(&s_sc, "kstream consume --store", U_RATE,
			    (double)opt.n / r.secs);
		}
		rm_rf(sdir);
	}
	done_msg("kstream produce --broker", U_RATE, median(&kp.rate));
	done_msg("kcat -P", U_RATE, median(&cp.rate));
	done_msg("kstream consume --broker", U_RATE, median(&kc.rate));
	done_msg("kcat -C", U_RATE, median(&cc.rate));
	done_msg("kstream produce --store", U_RATE, median(&s_sp));
	done_msg("kstream consume --store", U_RATE, median(&s_sc));

	peer_row("1", U_RATE, "produce --broker, records/s", median(&kp.rate),
	    "kcat", median(&cp.rate));
	peer_row("2", U_RATE, "consume --broker to the end, records/s",
	    median(&kc.rate), "kcat", median(&cc.rate));
	peer_row("3", U_RATE, "produce --store, records/s", median(&s_sp),
	    "broker", median(&kp.rate));
	peer_row("3b", U_RATE, "consume --store to the end, records/s",
	    median(&s_sc), "broker", median(&kc.rate));

	note("1: a file of %ld lines of %d bytes plus a newline (%.1f MB) "
	    "produced into a fresh topic of one partition (created before "
	    "the clock starts) on one kstream-broker, by `kstream produce T "
	    "--broker B -f FILE -q` (its defaults: acks all, no compression) "
	    "and by `kcat -P -b B -t T -l FILE` (librdkafka's defaults: acks "
	    "all, linger.ms 5, no compression). Timed from fork to the "
	    "process reaped: start-up, connection and every delivery. Each "
	    "run checks the topic's end offset is %ld. CPU per run "
	    "(medians): kstream %.2f s, its broker %.2f s; kcat %.2f s, its "
	    "broker %.2f s. Produce requests per run: kstream %.0f (%.0f "
	    "records each), kcat %.0f (%.0f each).", opt.n, VALUE_LEN,
	    opt.input_bytes / 1e6, opt.n, median(&kp.cpu), median(&kp.bcpu),
	    median(&cp.cpu), median(&cp.bcpu), median(&kp.req),
	    median(&kp.req) > 0 ? (double)opt.n / median(&kp.req) : 0,
	    median(&cp.req),
	    median(&cp.req) > 0 ? (double)opt.n / median(&cp.req) : 0);
	note("2: `kstream consume T --broker B --partition 0 --offset "
	    "beginning` (it stops at the end the partition had when it "
	    "started) and `kcat -C -b B -t T -p 0 -o beginning -e -q` (it "
	    "stops at the first fetch that finds nothing new), both reading "
	    "the topic kstream produce wrote in the same run. Their output "
	    "(value and newline per record, both) goes into a pipe this "
	    "program drains and counts instead of /dev/null, so that every "
	    "run is checked: %ld lines and %.0f bytes, the input file's. "
	    "Fastest run: kstream %.2f M/s, kcat %.2f M/s. CPU per run "
	    "(medians): kstream %.2f s, its broker %.2f s; kcat %.2f s, its "
	    "broker %.2f s. kcat's time varies from run to run: traced, it "
	    "pauses for up to 0.7 s between a fetch response and its next "
	    "fetch request (librdkafka's fetch scheduling, with a local "
	    "queue of up to queued.min.messages, 100000); the broker answers "
	    "each fetch within milliseconds.", opt.n, opt.input_bytes,
	    max_of(&kc.rate) / 1e6, max_of(&cc.rate) / 1e6, median(&kc.cpu),
	    median(&kc.bcpu), median(&cc.cpu), median(&cc.bcpu));
	note("3, 3b: the same file into a fresh store directory by `kstream "
	    "produce t --store DIR -f FILE -q` (a topic of one partition "
	    "created first; flush.messages and flush.ms unset: no fsync), and "
	    "read back by `kstream consume t --store DIR --partition 0 "
	    "--offset beginning`, output counted as in row 2. The peer "
	    "column is the same tool through the broker (rows 1 and 2, same "
	    "runs): the ratio is what going through a broker costs.");
}

/* ------------------------------------------------------------------ */
/* Row 4: kstream check against cat                                    */

static char **store_files;
static size_t nstore_files, store_cap;
static double store_bytes;
static long store_logs;

static int collect_file(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	const char *dot = strrchr(path, '.');

	(void)ftw;
	/* Every file check reads, not the lock files (empty anyway). */
	if (flag != FTW_F || !S_ISREG(st->st_mode) ||
	    (dot && strcmp(dot, ".lock") == 0))
		return 0;
	if (nstore_files + 2 > store_cap) {
		store_cap = store_cap ? store_cap * 2 : 64;
		if (!(store_files = realloc(store_files,
		    store_cap * sizeof(char *))))
			die("out of memory");
	}
	if (!(store_files[nstore_files++] = strdup(path)))
		die("out of memory");
	store_files[nstore_files] = NULL;
	store_bytes += (double)st->st_size;
	if (dot && strcmp(dot, ".log") == 0)
		store_logs++;
	return 0;
}

static void row_check(void)
{
	samples_t s_chk = { .n = 0 }, s_cat = { .n = 0 };
	char sdir[PATH_MAX + 32], report[512] = "";
	char **cat_argv;
	double made = 0;
	long times, i;
	char what[64];
	run_t r;

	snprintf(sdir, sizeof(sdir), "%s/check-store", opt.scratch);
	times = (long)((opt.check_bytes + opt.input_bytes - 1) /
	    opt.input_bytes);
	progress("[4] kstream check of a store of %.0f MB (the file produced "
	    "%ld times)\n", times * opt.input_bytes / 1e6, times);
	if (mkdir(sdir, 0755) < 0)
		die("mkdir %s: %s", sdir, strerror(errno));
	topic_create("t", "--store", sdir);
	for (i = 0; i < times; i++) {
		char *argv[] = { opt.tool, "produce", "t", "--store", sdir,
		    "-f", opt.input, "-q", NULL };

		run(argv, OUT_NULL, &r);
		made += opt.input_bytes;
	}
	settle();
	if (nftw(sdir, collect_file, 16, FTW_PHYS) != 0 || nstore_files == 0)
		die("%s: cannot list the store's files", sdir);

	if (!(cat_argv = calloc(nstore_files + 2, sizeof(char *))))
		die("out of memory");
	cat_argv[0] = "cat";
	memcpy(cat_argv + 1, store_files, nstore_files * sizeof(char *));

	/* Both warm: one untimed pass each first. */
	for (i = -1; i < opt.runs; i++) {
		char *argv[] = { opt.tool, "check", "--store", sdir, NULL };

		run(argv, OUT_KEEP, &r);
		if (!strstr(r.text, " 0 problems"))
			die("kstream check %s: \"%s\", expected 0 problems",
			    sdir, r.text);
		snprintf(report, sizeof(report), "%.*s",
		    (int)strcspn(r.text, "\n"), r.text);
		free(r.text);
		if (i >= 0)
			sample(&s_chk, "kstream check", U_MBS,
			    store_bytes / r.secs);
		run(cat_argv, OUT_NULL, &r);
		if (i >= 0)
			sample(&s_cat, "cat > /dev/null", U_MBS,
			    store_bytes / r.secs);
	}
	done_msg("kstream check", U_MBS, median(&s_chk));
	done_msg("cat > /dev/null", U_MBS, median(&s_cat));
	snprintf(what, sizeof(what), "check of a %.0f MB store, MB/s",
	    store_bytes / 1e6);
	peer_row("4", U_MBS, what, median(&s_chk), "cat", median(&s_cat));
	note("4: a store of one topic of one partition made by `kstream "
	    "produce --store` of row 1's file %ld times (%.0f MB of lines; "
	    "segment.bytes at its default of 1 GiB: %ld segment file%s); "
	    "%zu files, %.1f MB in all (logs, indexes, topic metadata). "
	    "`kstream check --store DIR` (CRC-32C of every batch, every "
	    "index entry, offsets in order) against `cat FILES > /dev/null` "
	    "of the same files, each timed over its whole process, MB/s of "
	    "the files' total size (1 MB = 10^6 bytes). Both on a warm page "
	    "cache: one untimed pass of each first (caches cannot be dropped "
	    "reliably here). check maps the segments and reads them in "
	    "place, while cat copies every byte through its buffer, so check "
	    "can come out ahead. Every run of check must report 0 problems; its "
	    "report: \"%s\".", times, made / 1e6, store_logs,
	    store_logs == 1 ? "" : "s", nstore_files, store_bytes / 1e6,
	    report);
	free(cat_argv);
	for (i = 0; i < (long)nstore_files; i++)
		free(store_files[i]);
	free(store_files);
	rm_rf(sdir);
}

/* ------------------------------------------------------------------ */
/* Row 5: scraping a broker's metrics                                  */

static void row_metrics(void)
{
	samples_t s_get = { .n = 0 }, s_stats = { .n = 0 };
	double sorted[MAX_RUNS], p90, disk;
	long threads;
	char keyed[PATH_MAX + 32], path[128];
	const char *slash;
	size_t body_len = 0, nsamples = 0, k;
	long ends = 0, lags = 0, lines = 0;
	ks_topic_partition_t *offs;
	ks_metrics_t *m;
	broker_t b;
	row_t *rw;
	run_t r;
	int t, g, p, rc;

	progress("[5] metrics of a broker with %d partitions and %d groups\n",
	    M_TOPICS * M_PARTS, M_GROUPS);
	broker_start(&b, 1);
	if (!(slash = strchr(b.metrics + strlen("http://"), '/')))
		die("kstream-broker: metrics URL %s without a path", b.metrics);
	snprintf(path, sizeof(path), "%s", slash);
	snprintf(keyed, sizeof(keyed), "%s/keyed.txt", opt.scratch);
	write_lines(keyed, M_RECORDS, ':');
	for (t = 0; t < M_TOPICS; t++) {
		char name[16], nparts[16];

		snprintf(name, sizeof(name), "m%d", t);
		snprintf(nparts, sizeof(nparts), "%d", M_PARTS);
		{
			char *argv[] = { opt.tool, "topics", "create", name,
			    "--partitions", nparts, "--config", SMALL_SEGMENT,
			    "--config", SMALL_INDEX, "--broker", b.bootstrap,
			    NULL };

			run(argv, OUT_NULL, &r);
		}
		{
			char *argv[] = { opt.tool, "produce", name, "--broker",
			    b.bootstrap, "-K", ":", "-f", keyed, "-q", NULL };

			run(argv, OUT_NULL, &r);
		}
	}
	/* Each group commits every partition of one topic at its start,
	 * so that it lags by the whole partition. */
	if (!(offs = calloc(M_PARTS, sizeof(*offs))))
		die("out of memory");
	for (g = 0; g < M_GROUPS; g++) {
		char group[16], topic[16];

		snprintf(group, sizeof(group), "g%02d", g);
		snprintf(topic, sizeof(topic), "m%d", g % M_TOPICS);
		for (p = 0; p < M_PARTS; p++) {
			offs[p].topic = topic;
			offs[p].partition = p;
			offs[p].offset = KS_OFFSET_BEGINNING;
		}
		if ((rc = ks_admin_commit_offsets(b.admin, group, offs,
		    M_PARTS)) < 0)
			die("commit offsets of group %s: %s", group,
			    ks_strerror(rc));
	}
	free(offs);

	/* One untimed scrape, checked: it parses, it has every partition
	 * and every group's lag. */
	{
		char *body;

		http_get(b.mport, path, &body, &body_len);
		if ((rc = ks_metrics_parse(body, body_len, &m)) < 0)
			die("metrics: the body does not parse: %s",
			    ks_strerror(rc));
		nsamples = ks_metrics_count(m);
		for (k = 0; k < nsamples; k++) {
			const ks_metric_t *s = ks_metrics_at(m, k);

			if (strcmp(s->name, "kstream_partition_end_offset") == 0)
				ends++;
			else if (strcmp(s->name, "kstream_group_lag") == 0)
				lags++;
		}
		ks_metrics_free(m);
		free(body);
		if (ends < M_TOPICS * M_PARTS || lags < M_GROUPS * M_PARTS)
			die("metrics: %ld partition end offsets and %ld group "
			    "lags; expected at least %d and %d", ends, lags,
			    M_TOPICS * M_PARTS, M_GROUPS * M_PARTS);
	}
	for (k = 0; k < SCRAPES; k++) {
		size_t len;
		char *body;
		double secs = http_get(b.mport, path, &body, &len);

		free(body);
		if (len < body_len / 2)
			die("metrics: a scrape of %zu bytes after one of %zu",
			    len, body_len);
		sample(&s_get, "GET /metrics", U_MS, secs);
	}
	for (k = 0; k < SCRAPES; k++) {
		char *argv[] = { opt.tool, "stats", "--metrics", b.metrics,
		    NULL };

		run(argv, OUT_KEEP, &r);
		free(r.text);
		if (r.lines < 1000)
			die("kstream stats --metrics printed %lld lines",
			    r.lines);
		lines = (long)r.lines;
		sample(&s_stats, "kstream stats --metrics", U_MS, r.secs);
	}
	disk = disk_usage(b.dir);
	threads = proc_threads(b.pid);
	broker_stop(&b);
	unlink(keyed);

	/* The p90 of the scrapes for the note: nearest rank. */
	memcpy(sorted, s_get.v, sizeof(double) * (size_t)s_get.n);
	qsort(sorted, (size_t)s_get.n, sizeof(double), cmp_double);
	p90 = sorted[(s_get.n * 9 + 9) / 10 - 1];

	done_msg("GET /metrics", U_MS, median(&s_get));
	done_msg("kstream stats --metrics", U_MS, median(&s_stats));
	rw = add_row("5", U_MS, "< 50 ms", SCRAPE_TARGET_MS / 1e3,
	    "metrics scrape, %d partitions, %d groups", M_TOPICS * M_PARTS,
	    M_GROUPS);
	rw->v[C_KS] = median(&s_get);
	rw = add_row("5b", U_BYTES, "", 0, "the scrape's body");
	rw->v[C_KS] = (double)body_len;
	rw = add_row("5c", U_MS, "", 0, "kstream stats --metrics, "
	    "wall time");
	rw->v[C_KS] = median(&s_stats);
	note("5: a fresh kstream-broker --metrics http://127.0.0.1:0/metrics "
	    "with %d topics of %d partitions, %d keyed records produced into "
	    "each, and %d groups, each of which committed (by "
	    "ks_admin_commit_offsets) the log start of all %d partitions of "
	    "one topic. 5: median of %d HTTP/1.1 GETs, each on a fresh "
	    "connection with Connection: close, from connect() to the "
	    "body's last byte (p90 of them %.2f ms); the body (%zu samples "
	    "as ks_metrics_parse reads it: %ld partition end offsets, %ld "
	    "group lags) is checked once. 5c: median of %d runs of `kstream "
	    "stats --metrics URL` (a table of %ld lines), fork to reaped. No "
	    "peer: the ratio is n/a. The topics have %s and %s (the "
	    "defaults would reserve 84 MiB of disk per partition written); "
	    "the broker then ran %ld threads and its store took %.0f MB of "
	    "disk.", M_TOPICS, M_PARTS, M_RECORDS, M_GROUPS, M_PARTS, SCRAPES,
	    p90 * 1e3, nsamples, ends, lags, SCRAPES, lines, SMALL_SEGMENT,
	    SMALL_INDEX, threads, disk / 1e6);
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	char self[PATH_MAX];
	double t0;
	broker_t b;

	bench_prog = "bench_tool";
	bench_layout = &layout;
	setvbuf(stdout, NULL, _IOLBF, 0);
	common_args(argc, argv, &opt.quick, &opt.runs, &opt.base);
	opt.n = opt.quick ? 200000 : 1000000;
	opt.check_bytes = opt.quick ? 200e6 : 1e9;
	self_path(self);
	if (find_program(self, "kstream", "KSTREAM_TOOL", opt.tool) < 0)
		die("no kstream program: build it (make) or set $KSTREAM_TOOL");
	if (find_program(self, "kstream-broker", "KSTREAM_BROKER",
	    opt.broker) < 0)
		die("no kstream-broker program: build it (make) or set "
		    "$KSTREAM_BROKER");
	signal(SIGPIPE, SIG_IGN);

	make_scratch(opt.base, opt.scratch);

	print_context();
	t0 = now_s();
	snprintf(opt.input, sizeof(opt.input), "%s/lines.txt", opt.scratch);
	opt.input_bytes = write_lines(opt.input, opt.n, 0);

	broker_start(&b, 1);
	rows_produce_consume(&b);
	broker_stop(&b);
	row_check();
	row_metrics();

	print_table();
	print_end(t0);
	return 0;
}
