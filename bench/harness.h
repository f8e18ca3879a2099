/*
 * harness.h: what the benchmark programs (bench_log.c, bench_bus.c,
 * bench_kafka.c, bench_cluster.c, bench_tool.c) share: samples and their
 * median, the scratch directory, child processes (spawn, stop, their logs
 * and stdout), free loopback ports, dying cleanly (die, KS_TRY, PT_TRY,
 * signals), clocks, progress lines, the machine context, reading /proc
 * fields, pseudo-random values, a few librdkafka chores (for a program
 * that includes <librdkafka/rdkafka.h> first), and the table with its
 * units, rows, ratios, targets and notes. Header-only and static: each
 * program is one file, built on its own.
 */
#ifndef KS_BENCH_HARNESS_H
#define KS_BENCH_HARNESS_H

#include <kstream/kstream.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MAX_RUNS
#define MAX_RUNS 101
#endif

typedef struct {
	double v[MAX_RUNS];
	int n;
} samples_t;

static int rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* rm -rf path; a missing path is fine. */
static inline void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static inline double median(const samples_t *s)
{
	double t[MAX_RUNS];

	if (s->n == 0)
		return -1;
	memcpy(t, s->v, sizeof(double) * (size_t)s->n);
	qsort(t, (size_t)s->n, sizeof(double), cmp_double);
	if (s->n % 2)
		return t[s->n / 2];
	return (t[s->n / 2 - 1] + t[s->n / 2]) / 2;
}

static inline void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The filesystem type and source of the mount holding path. */
static inline void fs_of(const char *path, char *fstype, size_t tcap,
    char *source, size_t scap)
{
	char real[PATH_MAX], line[4096];
	size_t best = 0;
	FILE *f;

	copy_str(fstype, tcap, "unknown");
	copy_str(source, scap, "?");
	if (realpath(path, real) == NULL ||
	    !(f = fopen("/proc/self/mountinfo", "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX], typ[64], src[PATH_MAX];
		char *dash = strstr(line, " - ");
		size_t n;

		if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
		    sscanf(dash + 3, "%63s %4095s", typ, src) != 2)
			continue;
		n = strlen(mnt);
		if (strncmp(real, mnt, n) != 0 ||
		    (n > 1 && real[n] != '/' && real[n] != '\0'))
			continue;
		if (n >= best) {
			best = n;
			copy_str(fstype, tcap, typ);
			copy_str(source, scap, src);
		}
	}
	fclose(f);
}

/* " - text", word-wrapped at 78 columns with hanging indent. */
static inline void print_wrapped(const char *s)
{
	const char *lead = " - ";
	int col = 0;

	while (*s) {
		size_t w;

		while (*s == ' ')
			s++;
		w = strcspn(s, " ");
		if (col > 0 && col + 1 + (int)w > 78) {
			putchar('\n');
			col = 0;
		}
		if (col == 0) {
			col = printf("%s", lead);
			lead = "   ";
		} else {
			col += printf(" ");
		}
		col += printf("%.*s", (int)w, s);
		s += w;
	}
	putchar('\n');
}

/*
 * The scratch directory, children, and dying cleanly. Each program sets
 * bench_prog (its name in messages) and calls make_scratch(), which makes
 * its scratch directory and arranges for bench_cleanup to run at exit, on
 * die() and on a fatal signal: it kills and reaps the children spawn()
 * started and removes the directory, in this process only (a forked
 * child exits without cleaning up).
 */
static const char *bench_prog = "bench";
static char *bench_scratch;     /* the program's buffer, "" once removed */
static pid_t bench_owner;       /* the process that cleans up */
static int bench_verbose;       /* -v: every sample on stderr */

#ifndef MAX_KIDS
#define MAX_KIDS 16
#endif
static pid_t bench_kids[MAX_KIDS];

static void bench_cleanup(void)
{
	int i;

	if (getpid() != bench_owner)
		return;
	for (i = 0; i < MAX_KIDS; i++)
		if (bench_kids[i] > 0) {
			kill(bench_kids[i], SIGKILL);
			waitpid(bench_kids[i], NULL, 0);
			bench_kids[i] = 0;
		}
	if (bench_scratch && bench_scratch[0] != '\0') {
		rm_rf(bench_scratch);
		bench_scratch[0] = '\0';
	}
}

static void bench_on_signal(int sig)
{
	/* Best effort: not async-signal-safe, but we die right after. */
	bench_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn, unused));

static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", bench_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A kstream call that must succeed (a negative KS_E* or -errno dies). */
#define KS_TRY(expr)                                                          \
	do {                                                                  \
		int ks__rc = (expr);                                          \
		if (ks__rc < 0)                                               \
			die("%s:%d: %s: %s (%s)", __FILE__, __LINE__, #expr,  \
			    ks_strerror(ks__rc), ks_errname(ks__rc));         \
	} while (0)

/* A pthread call that must succeed (it returns an errno value). */
#define PT_TRY(expr)                                                          \
	do {                                                                  \
		int pt__rc = (expr);                                          \
		if (pt__rc != 0)                                              \
			die("%s:%d: %s: %s", __FILE__, __LINE__, #expr,       \
			    strerror(pt__rc));                                \
	} while (0)

/* Progress on stderr, unbuffered, so a long run shows where it is. */
static void progress(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), unused));

static void progress(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline double now_s(void)
{
	return (double)now_ns() * 1e-9;
}

/* The options every program takes: -q (quick sizes), -r RUNS, -d DIR (the
 * scratch directory's parent), -v (bench_verbose). Returns 1 if getopt's
 * c was one of them, 0 if not. */
static inline int common_opt(int c, int *quick, int *runs, const char **base)
{
	switch (c) {
	case 'q':
		*quick = 1;
		return 1;
	case 'r':
		*runs = atoi(optarg);
		if (*runs < 1 || *runs > MAX_RUNS)
			die("-r: between 1 and %d", MAX_RUNS);
		return 1;
	case 'd':
		*base = optarg;
		return 1;
	case 'v':
		bench_verbose = 1;
		return 1;
	}
	return 0;
}

/* argv of a program that takes only those options; on anything else,
 * the usage (*runs holds the default) and exit status 2. */
static inline void common_args(int argc, char **argv, int *quick, int *runs,
    const char **base)
{
	int c, dflt = *runs;

	while ((c = getopt(argc, argv, "qr:d:vh")) != -1)
		if (!common_opt(c, quick, runs, base))
			break;
	if (c == -1 && optind == argc)
		return;
	fprintf(stderr, "usage: %s [-q] [-r RUNS] [-d DIR] [-v]\n"
	    "  -q       quick run with smaller sizes\n"
	    "  -r RUNS  runs per figure, medians reported (default %d)\n"
	    "  -d DIR   scratch directory (default $TMPDIR or /tmp)\n"
	    "  -v       print every sample\n", bench_prog, dflt);
	exit(2);
}

/* A fresh directory kstream-bench-XXXXXX under base (-d, else $TMPDIR,
 * else /tmp) into scratch[PATH_MAX]; cleaned up as said above. */
static inline void make_scratch(const char *base, char *scratch)
{
	if (!base || !*base)
		base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	if (snprintf(scratch, PATH_MAX, "%s/kstream-bench-XXXXXX", base) >=
	    PATH_MAX)
		die("-d: path too long");
	if (!mkdtemp(scratch))
		die("mkdtemp %s: %s", scratch, strerror(errno));
	bench_scratch = scratch;
	bench_owner = getpid();
	atexit(bench_cleanup);
	signal(SIGINT, bench_on_signal);
	signal(SIGTERM, bench_on_signal);
	signal(SIGHUP, bench_on_signal);
}

/* Writes back what earlier rows left dirty, so that no figure pays for
 * another's writeback. */
static inline void settle(void)
{
	int fd = open(bench_scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
}

static inline void kid_add(pid_t pid)
{
	int i;

	for (i = 0; i < MAX_KIDS; i++)
		if (bench_kids[i] == 0) {
			bench_kids[i] = pid;
			return;
		}
}

static inline void kid_del(pid_t pid)
{
	int i;

	for (i = 0; i < MAX_KIDS; i++)
		if (bench_kids[i] == pid)
			bench_kids[i] = 0;
}

/* SIGTERM, up to 10 s for a clean exit, then SIGKILL; always reaped.
 * Returns its wait status. */
static inline int kid_stop(pid_t pid)
{
	int st = 0, i;

	if (pid <= 0)
		return 0;
	kill(pid, SIGTERM);
	for (i = 0; i < 1000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			goto done;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
done:
	kid_del(pid);
	return st;
}

/* Forks and execs argv with stdin from /dev/null, stdout on out_fd (< 0:
 * /dev/null) and stderr appended to log. The child dies with this
 * process (PR_SET_PDEATHSIG); bench_cleanup kills it at exit. */
static inline pid_t spawn(char *const argv[], int out_fd, const char *log)
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
		if (getppid() != bench_owner)
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

/* The last lines of a child's stderr log on our stderr, to say why it
 * failed. */
static inline void log_tail(const char *log)
{
	char buf[4096];
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

/*
 * Reads the lines a child (pid, who in messages) prints on fd, each
 * NUL-terminated without its newline, into on_line until it returns
 * nonzero. Dies, with the end of log, if the child exits first or secs
 * pass. For a server's "listening on URL" line.
 */
static inline void await_lines(pid_t pid, int fd, const char *log,
    const char *who, int secs, int (*on_line)(char *line, void *arg),
    void *arg)
{
	char buf[4096];
	size_t len = 0;
	double dl = now_s() + secs;

	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		char *nl;
		ssize_t n;
		int st, done;

		if (waitpid(pid, &st, WNOHANG) == pid) {
			kid_del(pid);
			log_tail(log);
			die("%s exited (status %d) before it was ready", who,
			    WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
		}
		if (now_s() > dl) {
			log_tail(log);
			die("%s: not ready (its stdout) after %d s", who, secs);
		}
		if (poll(&pf, 1, 100) <= 0)
			continue;
		if ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) <= 0) {
			usleep(10000);
			continue;
		}
		len += (size_t)n;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n'))) {
			*nl = '\0';
			done = on_line(buf, arg);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
			if (done)
				return;
		}
		if (len == sizeof(buf) - 1)
			len = 0;
	}
}

/* The program name next to this one's directory (where make builds it:
 * self/../name), else $env; 0, its real path in out[PATH_MAX], or -1 if
 * neither is executable. */
static inline int find_program(const char *self, const char *name,
    const char *env, char *out)
{
	char path[PATH_MAX + 64], *slash;
	const char *e = getenv(env);

	snprintf(path, sizeof(path), "%s", self);
	if ((slash = strrchr(path, '/'))) {
		snprintf(slash, sizeof(path) - (size_t)(slash - path),
		    "/../%s", name);
		if (access(path, X_OK) == 0 && realpath(path, out))
			return 0;
	}
	if (e && *e && access(e, X_OK) == 0 && realpath(e, out))
		return 0;
	out[0] = '\0';
	return -1;
}

/* This program's own path, from /proc/self/exe, into out[PATH_MAX]. */
static inline void self_path(char *out)
{
	ssize_t n = readlink("/proc/self/exe", out, PATH_MAX - 1);

	if (n <= 0)
		die("/proc/self/exe: %s", strerror(errno));
	out[n] = '\0';
}

/* A loopback port nobody listened on a moment ago (bound to port 0,
 * read, released), for a server that must be told its port. */
static inline int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		die("free port: %s", strerror(errno));
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* The kstream-broker to run: arg (-b), which must be executable, else as
 * find_program finds it next to self or in $KSTREAM_BROKER; 0, its real
 * path in out[PATH_MAX], or -1 if there is none. */
static inline int find_broker(const char *arg, const char *self, char *out)
{
	if (!arg)
		return find_program(self, "kstream-broker", "KSTREAM_BROKER",
		    out);
	if (access(arg, X_OK) != 0 || !realpath(arg, out))
		die("-b %s: %s", arg, strerror(errno));
	return 0;
}

static inline int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile q/1000 of sorted a[0..n). */
static inline double pct(const int64_t *a, long n, long q)
{
	long k = (n * q + 999) / 1000;

	if (k < 1)
		k = 1;
	return (double)a[k - 1];
}

/* v[0..len) pseudo-random (xorshift64 from seed), the same for a seed. */
static inline void fill_value(uint8_t *v, size_t len, uint64_t seed)
{
	uint64_t x = seed | 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v[i] = (uint8_t)x;
	}
}

/* Records to append or produce, made once. */
typedef struct {
	ks_record_t *recs;
	uint8_t *values;
	size_t n;
} recset_t;

/* n records with distinct pseudo-random values of value_len bytes, null
 * keys, no headers, timestamp -1 ("now"). */
static inline void recset_init(recset_t *rs, size_t n, size_t value_len)
{
	size_t i;

	rs->n = n;
	rs->recs = calloc(n, sizeof(ks_record_t));
	rs->values = malloc(n * value_len);
	if (!rs->recs || !rs->values)
		die("out of memory");
	fill_value(rs->values, n * value_len, 0x9e3779b97f4a7c15ULL);
	for (i = 0; i < n; i++) {
		rs->recs[i].timestamp = -1;
		rs->recs[i].value = rs->values + i * value_len;
		rs->recs[i].value_len = value_len;
	}
}

static inline void recset_free(recset_t *rs)
{
	free(rs->recs);
	free(rs->values);
}

#ifdef RD_KAFKA_VERSION
/* ---- librdkafka, for the programs that include it before this header */

static inline void conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
	char err[512];

	if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
		die("librdkafka: %s=%s: %s", k, v, err);
}

/*
 * Produces n copies of value[0..len) to partition part of rkt (a topic
 * of rk), polling for delivery reports every 1024; while librdkafka's
 * queue is full it polls and tries again, counted in *qfull, and dies,
 * naming who, if that lasts past limit_s seconds from now_s() = t0.
 */
static inline void produce_copies(rd_kafka_t *rk, rd_kafka_topic_t *rkt,
    int32_t part, const void *value, size_t len, long n, double t0,
    int limit_s, long *qfull, const char *who)
{
	long i = 0;

	while (i < n) {
		if (rd_kafka_produce(rkt, part, RD_KAFKA_MSG_F_COPY,
		    (void *)value, len, NULL, 0, NULL) == -1) {
			rd_kafka_resp_err_t e = rd_kafka_last_error();

			if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
				die("rd_kafka_produce: %s",
				    rd_kafka_err2str(e));
			(*qfull)++;
			rd_kafka_poll(rk, 1);
			if (now_s() - t0 > limit_s)
				die("%s: producer stuck (queue full) after %ld "
				    "messages", who, i);
			continue;
		}
		if ((++i & 1023) == 0)
			rd_kafka_poll(rk, 0);
	}
}
#endif

/* The notes printed under a table (a program may size them first). */
#ifndef MAX_NOTES
#define MAX_NOTES 48
#endif
#ifndef NOTE_LEN
#define NOTE_LEN 1400
#endif
static char notes[MAX_NOTES][NOTE_LEN];
static int nnotes;

static void note(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), unused));

static void note(const char *fmt, ...)
{
	va_list ap;

	if (nnotes == MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(notes[nnotes++], sizeof(notes[0]), fmt, ap);
	va_end(ap);
}

/* The first line of file, or the value after "key:" in it, into buf
 * ("unknown" if there is none). */
static inline void read_field(const char *file, const char *key, char *buf,
    size_t cap)
{
	FILE *f = fopen(file, "r");
	char line[512];

	copy_str(buf, cap, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *p = line;

		if (key) {
			if (strncmp(line, key, strlen(key)) != 0 ||
			    !(p = strchr(line, ':')))
				continue;
			p++;
			while (*p == ' ' || *p == '\t')
				p++;
		}
		p[strcspn(p, "\n")] = '\0';
		copy_str(buf, cap, p);
		break;
	}
	fclose(f);
}

/* The context lines after a program's title line: the machine, its
 * kernel (kernel_extra after it), the scratch directory's filesystem
 * (its type also into fstype[64]). */
static inline void print_machine(const char *kernel_extra, char *fstype)
{
	char cpu[256], source[256];
	struct utsname u;
	double ram = (double)sysconf(_SC_PHYS_PAGES) *
	    (double)sysconf(_SC_PAGESIZE);

	read_field("/proc/cpuinfo", "model name", cpu, sizeof(cpu));
	fs_of(bench_scratch, fstype, 64, source, sizeof(source));
	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	printf("machine: %ld CPUs online, %s, %.1f GiB RAM\n",
	    sysconf(_SC_NPROCESSORS_ONLN), cpu,
	    ram / (1024.0 * 1024.0 * 1024.0));
	printf("kernel:  %s %s %s%s\n", u.sysname, u.release, u.machine,
	    kernel_extra);
	printf("scratch: %s on %s (%s)\n", bench_scratch, source, fstype);
}

/* The context's last lines, after the program's own: the load, the
 * build. */
static inline void print_context_end(void)
{
	double load[3];

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

/* The lines after the table: the load, the time since t0. */
static inline void print_end(double t0)
{
	double load[1];

	if (getloadavg(load, 1) == 1)
		printf("\nLoad average at the end: %.2f (1 min).", load[0]);
	printf("\nTotal time %.0f s. Targets are printed, never asserted.\n",
	    now_s() - t0);
}

/* ------------------------------------------------------------------ */
/* Samples and the table                                               */

/*
 * The table every program prints: a row a workload with kstream's median,
 * each peer's median and kstream's ratio to it, and the row's target. A
 * program describes its columns and its units in a bench_layout_t, points
 * bench_layout at it before its first sample, and fills rows by add_row.
 */

/* How a value of a unit prints: by the first step whose min the value
 * reaches, value / div in fmt. A unit's last step has min 0. */
typedef struct {
	double min, div;
	const char *fmt;
} bench_step_t;

typedef struct {
	bench_step_t step[3];
	int lower_better;       /* times, sizes: the peer's over kstream's is
	                           the ratio */
} bench_unit_t;

/* Records (or messages) per second, in every program. */
#define BENCH_UNIT_RATE                                                       \
	{ { { 1e6, 1e6, "%.2f M/s" }, { 0, 1e3, "%.1f k/s" } }, 0 }

#define BENCH_MAX_COLS 3        /* kstream and up to two peers */

typedef struct {
	const bench_unit_t *units;      /* by a row's unit */
	const char *cols[BENCH_MAX_COLS]; /* "kstream", then the peers' names */
	int what_w, val_w, ratio_w, target_w;   /* column widths */
	int rule;                       /* dashes under the heading */
	int peer_is_w;                  /* > 0: a "peer is" column of each
	                                   row's peer_name before its peer */
	const char *none;               /* a peer's missing figure or ratio */
} bench_layout_t;

static const bench_layout_t *bench_layout;

typedef struct {
	const char *id;
	char what[64];
	int unit;
	double v[BENCH_MAX_COLS];       /* medians, v[0] kstream's; < 0: none */
	const char *peer_name;          /* for the "peer is" column */
	const char *target;             /* "" for informational rows */
	double target_val;
} row_t;

#ifndef MAX_ROWS
#define MAX_ROWS 16
#endif
static row_t table[MAX_ROWS];
static int nrows;

static row_t *add_row(const char *id, int unit, const char *target,
    double target_val, const char *fmt, ...)
    __attribute__((format(printf, 5, 6), unused));

/* A row with no figures yet (every v[] < 0). */
static row_t *add_row(const char *id, int unit, const char *target,
    double target_val, const char *fmt, ...)
{
	row_t *r;
	va_list ap;
	int i;

	if (nrows == MAX_ROWS)
		die("too many rows");
	r = &table[nrows++];
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->unit = unit;
	for (i = 0; i < BENCH_MAX_COLS; i++)
		r->v[i] = -1;
	r->peer_name = "-";
	r->target = target;
	r->target_val = target_val;
	va_start(ap, fmt);
	vsnprintf(r->what, sizeof(r->what), fmt, ap);
	va_end(ap);
	return r;
}

static inline const char *fmt_val(char *buf, size_t cap, int unit, double v)
{
	const bench_step_t *s = bench_layout->units[unit].step;

	if (v < 0) {
		snprintf(buf, cap, "-");
		return buf;
	}
	while (v < s->min)
		s++;
	snprintf(buf, cap, s->fmt, v / s->div);
	return buf;
}

/* How many times better kstream did than column c: a rate over the
 * peer's, the peer's time or size over kstream's. Above 1, kstream won. */
static inline const char *fmt_ratio(char *buf, size_t cap, const row_t *r,
    int c)
{
	double ks = r->v[0], x;

	if (ks <= 0 || r->v[c] <= 0) {
		snprintf(buf, cap, "%s", bench_layout->none);
		return buf;
	}
	x = bench_layout->units[r->unit].lower_better ? r->v[c] / ks :
	    ks / r->v[c];
	snprintf(buf, cap, x >= 10 ? "%.0fx" : "%.2fx", x);
	return buf;
}

/* Whether kstream's figure meets the row's target, by the comparison its
 * text starts with ("< 5 us", "<= 2 ms", ">= 1 M/s"). */
static inline int target_met(const row_t *r)
{
	const char *t = r->target;

	if (strncmp(t, "<=", 2) == 0)
		return r->v[0] <= r->target_val;
	if (t[0] == '<')
		return r->v[0] < r->target_val;
	if (t[0] == '>' && t[1] != '=')
		return r->v[0] > r->target_val;
	if (strncmp(t, ">=", 2) == 0)
		return r->v[0] >= r->target_val;
	return bench_layout->units[r->unit].lower_better ?
	    r->v[0] <= r->target_val : r->v[0] >= r->target_val;
}

/* Records a run's sample and echoes it when -v. */
static inline void sample(samples_t *s, const char *what, int unit, double v)
{
	char b[32];

	s->v[s->n++] = v;
	if (bench_verbose)
		progress("    %-34s run %d: %s\n", what, s->n,
		    fmt_val(b, sizeof(b), unit, v));
}

static inline void done_msg(const char *what, int unit, double v)
{
	char b[32];

	progress("  %-38s median %s\n", what, fmt_val(b, sizeof(b), unit, v));
}

/* One line of the table: val[c] and ratio[c] for every column. */
static inline void table_line(const char *id, const char *what,
    const char *const val[], const char *const ratio[], const char *peer_is,
    const char *target, const char *status)
{
	const bench_layout_t *l = bench_layout;
	int c;

	printf(" %-3s %-*s %*s", id, l->what_w, what, l->val_w, val[0]);
	for (c = 1; c < BENCH_MAX_COLS && l->cols[c]; c++) {
		if (l->peer_is_w > 0)
			printf(" %-*s", l->peer_is_w, peer_is);
		printf(" %*s %*s", l->val_w, val[c], l->ratio_w, ratio[c]);
	}
	printf("  %-*s %s\n", l->target_w, target, status);
}

/* The table, then the notes. */
static inline void print_table(void)
{
	const bench_layout_t *l = bench_layout;
	char vb[BENCH_MAX_COLS][32], rb[BENCH_MAX_COLS][32];
	const char *val[BENCH_MAX_COLS], *ratio[BENCH_MAX_COLS];
	int i, c;

	for (c = 0; c < BENCH_MAX_COLS && l->cols[c]; c++) {
		val[c] = l->cols[c];
		snprintf(rb[c], sizeof(rb[c]), "ks/%s", l->cols[c]);
		ratio[c] = rb[c];
	}
	putchar('\n');
	table_line("#", "workload", val, ratio, "peer is", "target", "");
	for (i = 0; i < l->rule; i++)
		putchar('-');
	putchar('\n');
	for (i = 0; i < nrows; i++) {
		const row_t *r = &table[i];

		for (c = 0; c < BENCH_MAX_COLS && l->cols[c]; c++) {
			val[c] = c > 0 && r->v[c] < 0 ? l->none :
			    fmt_val(vb[c], sizeof(vb[c]), r->unit, r->v[c]);
			ratio[c] = c == 0 ? "" :
			    fmt_ratio(rb[c], sizeof(rb[c]), r, c);
		}
		table_line(r->id, r->what, val, ratio, r->peer_name,
		    r->target[0] ? r->target : "(info)",
		    r->target[0] == '\0' || r->v[0] < 0 ? "" :
		    target_met(r) ? "met" : "not met");
	}
	printf("\nNotes:\n");
	for (i = 0; i < nnotes; i++)
		print_wrapped(notes[i]);
}

#endif /* KS_BENCH_HARNESS_H */
