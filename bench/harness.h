/*
 * harness.h: what the benchmark programs (bench_log.c, bench_bus.c, bench_kafka.c) share:
 * samples and their median, scratch-directory removal, the filesystem of a
 * path, notes and their wrapping, progress lines, reading /proc fields,
 * and dying cleanly (die, KS_TRY, PT_TRY, signals). Header-only and static: each program is one
 * file, built on its own.
 */
#ifndef KS_BENCH_HARNESS_H
#define KS_BENCH_HARNESS_H

#include <kstream/kstream.h>

#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
 * Dying cleanly. Each program sets bench_prog (its name in messages) and
 * bench_cleanup (what to undo: children, scratch files), then calls
 * bench_catch_signals(); die() and a fatal signal run bench_cleanup first.
 */
static const char *bench_prog = "bench";
static void (*bench_cleanup)(void);

static void bench_on_signal(int sig)
{
	/* Best effort: not async-signal-safe, but we die right after. */
	if (bench_cleanup)
		bench_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static inline void bench_catch_signals(void)
{
	signal(SIGINT, bench_on_signal);
	signal(SIGTERM, bench_on_signal);
	signal(SIGHUP, bench_on_signal);
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

#endif /* KS_BENCH_HARNESS_H */
