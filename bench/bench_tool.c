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

#define MAX_RUNS 101
#define MAX_NOTES 24
#define NOTE_LEN 1400
#include "harness.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

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
	int verbose;
	long n;                 /* records in the input file */
	double check_bytes;     /* row 4: the store's size to aim at */
	const char *base;
	char scratch[PATH_MAX];
	char tool[PATH_MAX];    /* the kstream program */
	char broker[PATH_MAX];  /* kstream-broker */
	char input[PATH_MAX + 32];  /* N lines of VALUE_LEN bytes */
	double input_bytes;
	pid_t owner;            /* the process that cleans up at exit */
} opt = { .runs = 3 };

#define MAX_KIDS 8
static pid_t kids[MAX_KIDS];

static void kid_add(pid_t pid)
{
	int i;

	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] == 0) {
			kids[i] = pid;
			return;
		}
}

static void kid_del(pid_t pid)
{
	int i;

	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] == pid)
			kids[i] = 0;
}

static void cleanup(void)
{
	int i;

	if (getpid() != opt.owner)
		return;
	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
	if (opt.scratch[0] != '\0') {
		rm_rf(opt.scratch);
		opt.scratch[0] = '\0';
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Writes back what earlier phases left dirty, so that no figure pays
 * for another's writeback. */
static void sync_scratch(void)
{
	int fd = open(opt.scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
}

/* The last lines of a child's stderr log on our stderr. */
static void log_tail(const char *log)
{
	char buf[2048];
	ssize_t n;
	off_t sz;
	int fd = open(log, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	sz = lseek(fd, 0, SEEK_END);
	lseek(fd, sz > (off_t)sizeof(buf) - 1 ? sz - (off_t)sizeof(buf) + 1 :
	    0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		fprintf(stderr, "--- the end of %s:\n%s%s---\n", log, buf,
		    buf[n - 1] == '\n' ? "" : "\n");
	}
}

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

/* Forks and execs argv with stdin from /dev/null, stdout on out_fd and
 * stderr appended to log. The child dies with this process. */
static pid_t spawn(char *const argv[], int out_fd, const char *log)
{
	int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid_t pid;

	if (logfd < 0 || nul < 0)
		die("%s: %s", logfd < 0 ? log : "/dev/null", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != opt.owner)
			_exit(127);
		if (dup2(nul, 0) < 0 || dup2(out_fd < 0 ? nul : out_fd, 1) < 0 ||
		    dup2(logfd, 2) < 0)
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(logfd);
	close(nul);
	kid_add(pid);
	return pid;
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

/* A fresh broker on 127.0.0.1, any port, on a fresh store; with its
 * metrics endpoint on another port if metrics. */
static void broker_start(broker_t *b, int metrics)
{
	char buf[4096];
	size_t len = 0;
	double dl = now_s() + SPAWN_SECS;
	int p[2], k = ++broker_seq, rc;

	memset(b, 0, sizeof(*b));
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
	/* Its stdout: "listening on URL" and, with --metrics, "metrics on
	 * URL" once each is bound. */
	while (b->port <= 0 || (metrics && b->mport <= 0)) {
		struct pollfd pf = { .fd = b->out, .events = POLLIN };
		char *nl;
		ssize_t n;
		int st;

		if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
			kid_del(b->pid);
			log_tail(b->log);
			die("kstream-broker exited before listening");
		}
		if (now_s() > dl) {
			log_tail(b->log);
			die("kstream-broker: not listening after %d s",
			    SPAWN_SECS);
		}
		if (poll(&pf, 1, 100) <= 0)
			continue;
		if ((n = read(b->out, buf + len, sizeof(buf) - 1 - len)) <= 0) {
			usleep(10000);
			continue;
		}
		len += (size_t)n;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n'))) {
			char *s;

			*nl = '\0';
			if ((s = strstr(buf, "listening on "))) {
				s += strlen("listening on ");
				s[strcspn(s, " \r\t")] = '\0';
				b->port = port_of(s);
			} else if ((s = strstr(buf, "metrics on "))) {
				s += strlen("metrics on ");
				s[strcspn(s, " \r\t")] = '\0';
				snprintf(b->metrics, sizeof(b->metrics), "%s",
				    s);
				b->mport = port_of(s);
			}
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
		if (len == sizeof(buf) - 1)
			len = 0;
	}
	snprintf(b->bootstrap, sizeof(b->bootstrap), "127.0.0.1:%d", b->port);
	if ((rc = ks_admin_connect(b->bootstrap, NULL, &b->admin)) < 0)
		die("ks_admin_connect %s: %s", b->bootstrap, ks_strerror(rc));
}

static void broker_stop(broker_t *b)
{
	int st, i;

	ks_admin_free(b->admin);
	b->admin = NULL;
	if (b->pid > 0) {
		kill(b->pid, SIGTERM);
		for (i = 0; i < 1000 && waitpid(b->pid, &st, WNOHANG) != b->pid;
		    i++)
			usleep(10000);
		if (i == 1000) {
			kill(b->pid, SIGKILL);
			waitpid(b->pid, &st, 0);
		}
		kid_del(b->pid);
		b->pid = 0;
	}
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

typedef struct {
	const char *id;
	char what[48];
	enum unit unit;
	double ks, peer;        /* medians; < 0: none */
	const char *peer_name;  /* "kcat", "broker", "cat", "-" */
	const char *target;     /* "" for informational rows */
	double target_val;
} row_t;

#define MAX_ROWS 12
static row_t table[MAX_ROWS];
static int nrows;

static row_t *add_row(const char *id, enum unit unit, const char *peer_name,
    const char *target, double target_val, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static row_t *add_row(const char *id, enum unit unit, const char *peer_name,
    const char *target, double target_val, const char *fmt, ...)
{
	row_t *r;
	va_list ap;

	if (nrows == MAX_ROWS)
		die("too many rows");
	r = &table[nrows++];
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->unit = unit;
	r->ks = r->peer = -1;
	r->peer_name = peer_name;
	r->target = target;
	r->target_val = target_val;
	va_start(ap, fmt);
	vsnprintf(r->what, sizeof(r->what), fmt, ap);
	va_end(ap);
	return r;
}

static int lower_better(enum unit u)
{
	return u == U_MS || u == U_BYTES;
}

static const char *fmt_val(char *buf, size_t cap, enum unit u, double v)
{
	if (v < 0)
		snprintf(buf, cap, "-");
	else if (u == U_MS)
		snprintf(buf, cap, v < 10 ? "%.2f ms" : "%.1f ms", v * 1e3);
	else if (u == U_MBS)
		snprintf(buf, cap, "%.0f MB/s", v / 1e6);
	else if (u == U_BYTES && v >= 1e6)
		snprintf(buf, cap, "%.2f MB", v / 1e6);
	else if (u == U_BYTES)
		snprintf(buf, cap, "%.1f kB", v / 1e3);
	else if (v >= 1e6)
		snprintf(buf, cap, "%.2f M/s", v / 1e6);
	else
		snprintf(buf, cap, "%.1f k/s", v / 1e3);
	return buf;
}

/* kstream's figure over the peer's (the peer's over kstream's for times):
 * above 1, kstream did better. */
static const char *fmt_ratio(char *buf, size_t cap, const row_t *r)
{
	double x;

	if (r->ks <= 0 || r->peer <= 0) {
		snprintf(buf, cap, "n/a");
		return buf;
	}
	x = lower_better(r->unit) ? r->peer / r->ks : r->ks / r->peer;
	snprintf(buf, cap, x >= 10 ? "%.0fx" : "%.2fx", x);
	return buf;
}

static void sample(samples_t *s, const char *what, enum unit u, double v)
{
	char b[32];

	s->v[s->n++] = v;
	if (opt.verbose)
		progress("    %-36s run %d: %s\n", what, s->n,
		    fmt_val(b, sizeof(b), u, v));
}

static void done_msg(const char *what, enum unit u, double v)
{
	char b[32];

	progress("  %-40s median %s\n", what, fmt_val(b, sizeof(b), u, v));
}

static void print_table(void)
{
	char a[32], b[32], c[32];
	int i;

	printf("\n %-3s %-46s %11s %-7s %11s %7s  %-9s %s\n", "#", "workload",
	    "kstream", "peer is", "peer", "ks/peer", "target", "");
	for (i = 0; i < 108; i++)
		putchar('-');
	putchar('\n');
	for (i = 0; i < nrows; i++) {
		const row_t *r = &table[i];
		const char *status = "";

		if (r->target[0] != '\0' && r->ks >= 0)
			status = (lower_better(r->unit) ?
			    r->ks <= r->target_val : r->ks >= r->target_val) ?
			    "met" : "not met";
		printf(" %-3s %-46s %11s %-7s %11s %7s  %-9s %s\n", r->id,
		    r->what, fmt_val(a, sizeof(a), r->unit, r->ks),
		    r->peer_name, r->peer < 0 ? "n/a" :
		    fmt_val(b, sizeof(b), r->unit, r->peer),
		    fmt_ratio(c, sizeof(c), r),
		    r->target[0] ? r->target : "(info)", status);
	}
	printf("\nNotes:\n");
	for (i = 0; i < nnotes; i++)
		print_wrapped(notes[i]);
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
	char cpu[256], fstype[64], source[256], kv[256];
	double load[3];
	struct utsname u;
	double ram = (double)sysconf(_SC_PHYS_PAGES) *
	    (double)sysconf(_SC_PAGESIZE);

	read_field("/proc/cpuinfo", "model name", cpu, sizeof(cpu));
	fs_of(opt.scratch, fstype, sizeof(fstype), source, sizeof(source));
	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	kcat_version(kv, sizeof(kv));
	if (strcmp(kv, "not found") == 0)
		die("kcat is not in PATH (the peer of rows 1 and 2)");
	printf("kstream %s command-line tool benchmark: medians of %d run%s%s\n",
	    ks_version_string(), opt.runs, opt.runs == 1 ? "" : "s",
	    opt.quick ? " (quick sizes)" : "");
	printf("machine: %ld CPUs online, %s, %.1f GiB RAM\n",
	    sysconf(_SC_NPROCESSORS_ONLN), cpu, ram / GIB);
	printf("kernel:  %s %s %s\n", u.sysname, u.release, u.machine);
	printf("scratch: %s on %s (%s)\n", opt.scratch, source, fstype);
	printf("tool:    %s\n", opt.tool);
	printf("broker:  %s\n", opt.broker);
	printf("peer:    kcat %s\n", kv);
	if (getloadavg(load, 3) == 3)
		printf("load:    %.2f %.2f %.2f at start (other work on the "
		    "machine skews every figure)\n", load[0], load[1], load[2]);
	printf("built:   gcc %s, %s\n", __VERSION__,
#ifdef __OPTIMIZE__
	    "optimised"
#else
	    "NOT optimised"
#endif
	    );
	fflush(stdout);
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

static void rows_produce_consume(broker_t *b)
{
	samples_t s_kp = { .n = 0 }, s_cp = { .n = 0 }, s_kc = { .n = 0 },
	    s_cc = { .n = 0 }, s_sp = { .n = 0 }, s_sc = { .n = 0 };
	samples_t cpu_kp = { .n = 0 }, cpu_cp = { .n = 0 },
	    cpu_kc = { .n = 0 }, cpu_cc = { .n = 0 }, bcpu_kp = { .n = 0 },
	    bcpu_cp = { .n = 0 }, bcpu_kc = { .n = 0 }, bcpu_cc = { .n = 0 },
	    req_kp = { .n = 0 }, req_cp = { .n = 0 };
	char n_str[32];
	row_t *rw;
	int i;

	snprintf(n_str, sizeof(n_str), "%ld", opt.n);
	progress("[1-3] %ld lines of %d bytes, %d run%s\n", opt.n, VALUE_LEN,
	    opt.runs, opt.runs == 1 ? "" : "s");
	for (i = 0; i < opt.runs; i++) {
		char kt[32], ct[32], sdir[PATH_MAX + 32];
		double c0, q0, v;
		run_t r;

		snprintf(kt, sizeof(kt), "ks-%d", i);
		snprintf(ct, sizeof(ct), "kcat-%d", i);
		topic_create(kt, "--broker", b->bootstrap);
		topic_create(ct, "--broker", b->bootstrap);

		/* 1: kstream produce, then kcat -P, each to its own topic. */
		{
			char *argv[] = { opt.tool, "produce", kt, "--broker",
			    b->bootstrap, "-f", opt.input, "-q", NULL };

			sync_scratch();
			c0 = broker_cpu(b);
			q0 = produce_requests(b);
			run(argv, OUT_NULL, &r);
			if ((v = (double)end_offset(b, kt)) != (double)opt.n)
				die("kstream produce: topic %s ends at offset "
				    "%.0f, not %ld", kt, v, opt.n);
			sample(&s_kp, "kstream produce --broker", U_RATE,
			    (double)opt.n / r.secs);
			cpu_kp.v[cpu_kp.n++] = r.cpu;
			bcpu_kp.v[bcpu_kp.n++] = broker_cpu(b) - c0;
			req_kp.v[req_kp.n++] = produce_requests(b) - q0;
		}
		{
			char *argv[] = { "kcat", "-P", "-b", b->bootstrap,
			    "-t", ct, "-l", opt.input, NULL };

			sync_scratch();
			c0 = broker_cpu(b);
			q0 = produce_requests(b);
			run(argv, OUT_NULL, &r);
			if ((v = (double)end_offset(b, ct)) != (double)opt.n)
				die("kcat -P: topic %s ends at offset %.0f, "
				    "not %ld", ct, v, opt.n);
			sample(&s_cp, "kcat -P", U_RATE,
			    (double)opt.n / r.secs);
			cpu_cp.v[cpu_cp.n++] = r.cpu;
			bcpu_cp.v[bcpu_cp.n++] = broker_cpu(b) - c0;
			req_cp.v[req_cp.n++] = produce_requests(b) - q0;
		}

		/* 2: both consume the topic kstream produce wrote. */
		{
			char *argv[] = { opt.tool, "consume", kt, "--broker",
			    b->bootstrap, "--partition", "0", "--offset",
			    "beginning", NULL };

			c0 = broker_cpu(b);
			run(argv, OUT_COUNT, &r);
			check_output(&r, "kstream consume --broker");
			sample(&s_kc, "kstream consume --broker", U_RATE,
			    (double)opt.n / r.secs);
			cpu_kc.v[cpu_kc.n++] = r.cpu;
			bcpu_kc.v[bcpu_kc.n++] = broker_cpu(b) - c0;
		}
		{
			char *argv[] = { "kcat", "-C", "-b", b->bootstrap,
			    "-t", kt, "-p", "0", "-o", "beginning", "-e", "-q",
			    NULL };

			c0 = broker_cpu(b);
			run(argv, OUT_COUNT, &r);
			check_output(&r, "kcat -C");
			sample(&s_cc, "kcat -C", U_RATE,
			    (double)opt.n / r.secs);
			cpu_cc.v[cpu_cc.n++] = r.cpu;
			bcpu_cc.v[bcpu_cc.n++] = broker_cpu(b) - c0;
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

			sync_scratch();
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
	done_msg("kstream produce --broker", U_RATE, median(&s_kp));
	done_msg("kcat -P", U_RATE, median(&s_cp));
	done_msg("kstream consume --broker", U_RATE, median(&s_kc));
	done_msg("kcat -C", U_RATE, median(&s_cc));
	done_msg("kstream produce --store", U_RATE, median(&s_sp));
	done_msg("kstream consume --store", U_RATE, median(&s_sc));

	rw = add_row("1", U_RATE, "kcat", "", 0, "produce --broker, records/s");
	rw->ks = median(&s_kp);
	rw->peer = median(&s_cp);
	rw = add_row("2", U_RATE, "kcat", "", 0, "consume --broker to the "
	    "end, records/s");
	rw->ks = median(&s_kc);
	rw->peer = median(&s_cc);
	rw = add_row("3", U_RATE, "broker", "", 0, "produce --store, "
	    "records/s");
	rw->ks = median(&s_sp);
	rw->peer = median(&s_kp);
	rw = add_row("3b", U_RATE, "broker", "", 0, "consume --store to the "
	    "end, records/s");
	rw->ks = median(&s_sc);
	rw->peer = median(&s_kc);

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
	    opt.input_bytes / 1e6, opt.n, median(&cpu_kp), median(&bcpu_kp),
	    median(&cpu_cp), median(&bcpu_cp), median(&req_kp),
	    median(&req_kp) > 0 ? (double)opt.n / median(&req_kp) : 0,
	    median(&req_cp),
	    median(&req_cp) > 0 ? (double)opt.n / median(&req_cp) : 0);
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
	    max_of(&s_kc) / 1e6, max_of(&s_cc) / 1e6, median(&cpu_kc),
	    median(&bcpu_kc), median(&cpu_cc), median(&bcpu_cc));
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
	row_t *rw;
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
	sync_scratch();
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
	rw = add_row("4", U_MBS, "cat", "", 0, "check of a %.0f MB store, MB/s",
	    store_bytes / 1e6);
	rw->ks = median(&s_chk);
	rw->peer = median(&s_cat);
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
	rw = add_row("5", U_MS, "-", "< 50 ms", SCRAPE_TARGET_MS / 1e3,
	    "metrics scrape, %d partitions, %d groups", M_TOPICS * M_PARTS,
	    M_GROUPS);
	rw->ks = median(&s_get);
	rw = add_row("5b", U_BYTES, "-", "", 0, "the scrape's body");
	rw->ks = (double)body_len;
	rw = add_row("5c", U_MS, "-", "", 0, "kstream stats --metrics, "
	    "wall time");
	rw->ks = median(&s_stats);
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

static void usage(void)
{
	fprintf(stderr, "usage: bench_tool [-q] [-r RUNS] [-d DIR] [-v]\n"
	    "  -q       quick run with smaller sizes\n"
	    "  -r RUNS  runs per figure, medians reported (default 3)\n"
	    "  -d DIR   scratch directory (default $TMPDIR or /tmp)\n"
	    "  -v       print every sample\n");
	exit(2);
}

/* name (kstream, kstream-broker) next to this program's directory, else
 * $env; dies if neither is executable. */
static void find_program(const char *self, const char *name, const char *env,
    char *out)
{
	char path[PATH_MAX + 64], *slash;
	const char *e = getenv(env);

	snprintf(path, sizeof(path), "%s", self);
	if ((slash = strrchr(path, '/'))) {
		snprintf(slash, sizeof(path) - (size_t)(slash - path),
		    "/../%s", name);
		if (access(path, X_OK) == 0 && realpath(path, out))
			return;
	}
	if (e && *e && access(e, X_OK) == 0 && realpath(e, out))
		return;
	die("no %s program: build it (make) or set $%s", name, env);
}

int main(int argc, char **argv)
{
	char tmpl[PATH_MAX], self[PATH_MAX];
	double t0, load[1];
	broker_t b;
	ssize_t sl;
	int c;

	bench_prog = "bench_tool";
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "qr:d:vh")) != -1) {
		switch (c) {
		case 'q':
			opt.quick = 1;
			break;
		case 'r':
			opt.runs = atoi(optarg);
			if (opt.runs < 1 || opt.runs > MAX_RUNS)
				die("-r: between 1 and %d", MAX_RUNS);
			break;
		case 'd':
			opt.base = optarg;
			break;
		case 'v':
			opt.verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	opt.n = opt.quick ? 200000 : 1000000;
	opt.check_bytes = opt.quick ? 200e6 : 1e9;
	if (!opt.base)
		opt.base = getenv("TMPDIR");
	if (!opt.base || !*opt.base)
		opt.base = "/tmp";
	if ((sl = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
		die("/proc/self/exe: %s", strerror(errno));
	self[sl] = '\0';
	find_program(self, "kstream", "KSTREAM_TOOL", opt.tool);
	find_program(self, "kstream-broker", "KSTREAM_BROKER", opt.broker);
	signal(SIGPIPE, SIG_IGN);

	if (snprintf(tmpl, sizeof(tmpl), "%s/kstream-bench-XXXXXX", opt.base)
	    >= (int)sizeof(tmpl))
		die("-d: path too long");
	if (!mkdtemp(tmpl))
		die("mkdtemp %s: %s", tmpl, strerror(errno));
	snprintf(opt.scratch, sizeof(opt.scratch), "%s", tmpl);
	opt.owner = getpid();
	atexit(cleanup);
	bench_cleanup = cleanup;
	bench_catch_signals();

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
	if (getloadavg(load, 1) == 1)
		printf("\nLoad average at the end: %.2f (1 min).", load[0]);
	printf("\nTotal time %.0f s. Targets are printed, never asserted.\n",
	    now_s() - t0);
	return 0;
}
