/*
 * check.c: `kstream check [--repair] [--quiet] DIR`: verifies a store
 * (ks_store_check) or a single partition directory (ks_log_check), prints
 * each problem as "FILE:POSITION: offset N: what" and a summary line, and
 * with --repair cuts the damage as recovery would and says what it cut.
 * Exit status: 0 clean (or everything repaired), 1 damage remains or the
 * check could not run, 2 usage error.
 */
#define _GNU_SOURCE
#include "tool.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct check_out {
	int quiet;
	int repair;
};

static void on_problem(void *opaque, const ks_check_problem_t *p)
{
	const struct check_out *o = opaque;
	if (o->quiet)
		return;
	printf("%s:%" PRIu64 ": ", p->file, p->position);
	if (p->offset >= 0)
		printf("offset %" PRId64 ": ", p->offset);
	printf("%s", p->what);
	if (o->repair)
		printf(p->repaired ? " [repaired]" : " [not repaired]");
	putchar('\n');
	fflush(stdout);
}

/*
 * Whether dir is a partition directory rather than a store: it holds a
 * segment or one of a log's own files, or, holding neither those nor
 * topic metadata, is named like a partition ("<topic>-<n>").
 */
static int is_partition_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int log = 0, store = 0;
	const char *base, *dash, *q;
	size_t len;

	if (d) {
		while ((e = readdir(d)) != NULL) {
			const char *n = e->d_name;
			size_t k = strlen(n), i;
			if (k > 6 && strcmp(n + k - 6, ".topic") == 0)
				store = 1;
			if (strcmp(n, "recovery-point") == 0 ||
			    strcmp(n, "clean-shutdown") == 0 ||
			    strcmp(n, "log-start-offset") == 0)
				log = 1;
			if (k == 24 && strcmp(n + 20, ".log") == 0) {
				for (i = 0; i < 20 && n[i] >= '0' &&
				    n[i] <= '9'; i++)
					;
				if (i == 20)
					log = 1;
			}
		}
		closedir(d);
	}
	if (log || store)
		return log && !store;
	len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		len--;
	base = dir;
	for (q = dir; q < dir + len; q++)
		if (*q == '/')
			base = q + 1;
	dash = NULL;
	for (q = base; q < dir + len; q++)
		if (*q == '-')
			dash = q;
	if (!dash || dash == base || dash + 1 >= dir + len)
		return 0;
	for (q = dash + 1; q < dir + len; q++)
		if (*q < '0' || *q > '9')
			return 0;
	return 1;
}

static const char usage[] =
    "usage: kstream check [--repair] [--quiet] DIR\n"
    "       kstream check [--repair] [--quiet] --store DIR\n\n"
    "Verifies a store, or one partition directory, without opening\n"
    "it: every batch (length, magic, CRC-32C, offsets), every index\n"
    "entry, the topics' metadata and the log's own files. Each\n"
    "problem is printed as FILE:POSITION: offset N: what.\n"
    "The store must not be open for writing.\n\n"
    "  --store DIR    DIR is a store (else told from its contents)\n"
    "  -R, --repair   cut the damage as recovery would: the log ends\n"
    "                 at the first bad batch; rebuild the indexes;\n"
    "                 remove leftovers of interrupted operations\n"
    "  -q, --quiet    print nothing; the exit status tells\n"
    "  -h, --help     this text\n\n"
    "Exit status: 0 clean (or all repaired), 1 damage remains or the\n"
    "check failed, 2 usage error.\n";

int kst_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, KST_OPT_STORE },
		{ "repair", no_argument, NULL, 'R' },
		{ "quiet", no_argument, NULL, 'q' },
		KST_LONGOPTS_END,
	};
	kst_args_t args = { argc, argv, ":Rqh", longopts, usage, NULL, 0 };
	struct check_out o = { 0, 0 };
	ks_check_stat_t st;
	const char *dir = NULL;
	struct stat sb;
	int c, rc, store = 0;

	while ((c = kst_getopt(&args)) != -1) {
		switch (c) {
		case KST_OPT_EXIT:
			return args.status;
		case KST_OPT_STORE:
			dir = optarg;
			store = 1;
			break;
		case 'R':
			o.repair = 1;
			break;
		case 'q':
			o.quiet = 1;
			break;
		}
	}
	if (optind < argc) {
		if (dir || optind + 1 < argc) {
			kst_err("one directory, please (--help for usage)");
			return KST_EXIT_USAGE;
		}
		dir = argv[optind];
	}
	if (!dir) {
		dir = getenv("KSTREAM_STORE");
		store = 1;
	}
	if (!dir || !*dir) {
		kst_err("no directory given (--help for usage)");
		return KST_EXIT_USAGE;
	}
	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		kst_errk(stat(dir, &sb) < 0 ? -errno : -ENOTDIR, "%s", dir);
		return KST_EXIT_FAIL;
	}
	if (!store)
		store = !is_partition_dir(dir);
	rc = store ? ks_store_check(dir, o.repair ? KS_CHECK_REPAIR : 0,
	                 on_problem, &o, &st) :
	             ks_log_check(dir, o.repair ? KS_CHECK_REPAIR : 0,
	                 on_problem, &o, &st);
	if (rc != 0 && rc != KS_ECORRUPT) {
		kst_errk(rc, "cannot check %s", dir);
		return KST_EXIT_FAIL;
	}
	if (!o.quiet) {
		printf("%s: %" PRIu64 " partition%s, %" PRIu64 " segment%s, %"
		    PRIu64 " batch%s, %" PRIu64 " bytes: %" PRIu64
		    " problem%s", dir, st.partitions,
		    st.partitions == 1 ? "" : "s", st.segments,
		    st.segments == 1 ? "" : "s", st.batches,
		    st.batches == 1 ? "" : "es", st.bytes, st.problems,
		    st.problems == 1 ? "" : "s");
		if (o.repair)
			printf(", %" PRIu64 " repaired, %" PRIu64
			    " bytes cut", st.repaired, st.cut_bytes);
		putchar('\n');
	}
	return rc == 0 ? KST_EXIT_OK : KST_EXIT_FAIL;
}
