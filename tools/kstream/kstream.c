/*
 * kstream.c: the kstream(1) tool's entry point: picks the subcommand and
 * holds what the subcommands share (tool.h).
 */
#define _GNU_SOURCE
#include "tool.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <time.h>

const char *kst_cmd = "kstream";

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *what;
} cmds[] = {
	{ "topics", kst_topics, "list, create, describe, alter, delete topics" },
	{ "produce", kst_produce, "write records from stdin or a file" },
	{ "consume", kst_consume, "read records, by group or partition" },
	{ "groups", kst_groups, "list, describe, reset offsets, delete groups" },
	{ "dump", kst_dump, "print a segment or index file batch by batch" },
	{ "check", kst_check, "verify a store; --repair cuts damage" },
	{ "stats", kst_stats, "print a store's or a broker's metrics" },
};

static void usage(FILE *f)
{
	size_t i;
	fprintf(f, "usage: kstream COMMAND [OPTIONS] [ARGS]\n\n"
	    "Commands:\n");
	for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		fprintf(f, "  %-9s %s\n", cmds[i].name, cmds[i].what);
	fprintf(f, "\nEvery command takes --store DIR or --broker URL, and "
	    "--help.\nkstream --version prints the version. See kstream(1).\n");
}

int main(int argc, char **argv)
{
	static char name[64];
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return KST_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return KST_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("kstream %s\n", ks_version_string());
		return KST_EXIT_OK;
	}
	for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		snprintf(name, sizeof name, "kstream %s", cmds[i].name);
		kst_cmd = name;
		return cmds[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "kstream: unknown command '%s' (kstream --help lists "
	    "them)\n", argv[1]);
	return KST_EXIT_USAGE;
}

/* ---- messages ---------------------------------------------------------- */

void kst_err(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", kst_cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * What a broker explained about its last refusal ("alter topic t: bad
 * value for retention.ms"), kept by the remote client's log callback so
 * that kst_errk puts it on the error's one line. The client may log from
 * its loop thread, hence the lock.
 */
#ifdef KS_WITH_NET
static pthread_mutex_t note_mu = PTHREAD_MUTEX_INITIALIZER;
static char broker_note[512];

static void remote_log(void *opaque, int level, const char *msg)
{
	const char *p = strstr(msg, ": ");
	(void)opaque;
	if (level > KS_LOG_WARNING)
		return;
	pthread_mutex_lock(&note_mu);
	/* "what NAME: explanation": topic names cannot hold ':' */
	snprintf(broker_note, sizeof broker_note, "%s", p ? p + 2 : msg);
	pthread_mutex_unlock(&note_mu);
}
#endif

void kst_errk(int err, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", kst_cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s", ks_strerror(err));
#ifdef KS_WITH_NET
	if (err == KS_EBROKER || ks_kafka_last_error() != 0) {
		int k = ks_kafka_last_error();
		if (k)
			fprintf(stderr, " (%s)", ks_kafka_error_name(k));
	}
	pthread_mutex_lock(&note_mu);
	if (broker_note[0])
		fprintf(stderr, ": %s", broker_note);
	broker_note[0] = 0;
	pthread_mutex_unlock(&note_mu);
#endif
	fputc('\n', stderr);
}

/* ---- numbers ------------------------------------------------------------- */

int kst_parse_int(const char *s, int64_t min, int64_t max, int64_t *v)
{
	char *end;
	long long x;
	if (!s || !*s)
		return -1;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || *end || x < min || x > max)
		return -1;
	*v = x;
	return 0;
}

int kst_parse_offset(const char *s, int64_t *off)
{
	if (strcmp(s, "beginning") == 0 || strcmp(s, "earliest") == 0) {
		*off = KS_OFFSET_BEGINNING;
		return 0;
	}
	if (strcmp(s, "end") == 0 || strcmp(s, "latest") == 0) {
		*off = KS_OFFSET_END;
		return 0;
	}
	return kst_parse_int(s, 0, INT64_MAX, off);
}

int kst_parse_time(const char *s, int64_t *ms)
{
	struct tm tm;
	const char *p;
	int64_t frac = 0, v;
	long off = 0;
	int n = 0, fd = 0, local = 1;
	time_t secs;

	if (kst_parse_int(s, 0, INT64_MAX, &v) == 0) {
		*ms = v;
		return 0;
	}
	memset(&tm, 0, sizeof tm);
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	        &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &n) != 5 || n != 16)
		return -1;
	p = s + n;
	if (*p == ':') {
		if (!isdigit((unsigned char)p[1]) ||
		    !isdigit((unsigned char)p[2]))
			return -1;
		tm.tm_sec = (p[1] - '0') * 10 + (p[2] - '0');
		p += 3;
		if (*p == '.') {
			for (p++; isdigit((unsigned char)*p); p++, fd++)
				if (fd < 3)
					frac = frac * 10 + (*p - '0');
			if (fd == 0)
				return -1;
			for (; fd < 3; fd++)
				frac *= 10;
		}
	}
	if (*p == 'Z' && p[1] == '\0') {
		local = 0;
	} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
	    isdigit((unsigned char)p[2]) && p[3] == ':' &&
	    isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5]) &&
	    p[6] == '\0') {
		local = 0;
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600L +
		    ((p[4] - '0') * 10 + (p[5] - '0')) * 60L;
		if (*p == '-')
			off = -off;
	} else if (*p != '\0') {
		return -1;
	}
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60 || tm.tm_year < 1970)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_isdst = -1;
	secs = local ? mktime(&tm) : timegm(&tm);
	if (secs == (time_t)-1)
		return -1;
	secs -= off;
	if (secs < 0)
		return -1;
	*ms = (int64_t)secs * 1000 + frac;
	return 0;
}

/* ---- text --------------------------------------------------------------- */

size_t kst_utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

int kst_width(int w, const char *s)
{
	int n = (int)strlen(s);

	return n > w ? n : w;
}

int kst_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* ---- the command line --------------------------------------------------- */

/* The usage error for what getopt_long returned as opt ('?' unknown,
 * ':' a value missing), naming the option and the subcommand's --help. */
static int bad_option(char **argv, int opt)
{
	const char *a = optind > 0 ? argv[optind - 1] : "";

	if (opt == ':')
		kst_err("option '%s' wants a value (%s --help)", a, kst_cmd);
	else if (optopt > 0 && optopt < 256 && a[0] == '-' && a[1] != '-')
		kst_err("unknown option '-%c' (%s --help)", optopt, kst_cmd);
	else
		kst_err("unknown option '%s' (%s --help)", a, kst_cmd);
	return KST_EXIT_USAGE;
}

int kst_getopt(kst_args_t *a)
{
	int opt, r;

	opterr = 0;
	while ((opt = getopt_long(a->argc, a->argv, a->shortopts, a->longopts,
	            NULL)) != -1) {
		if (opt == KST_OPT_HELP || opt == 'h') {
			fputs(a->usage, stdout);
			a->status = KST_EXIT_OK;
			return KST_OPT_EXIT;
		}
		if (opt == '?' || opt == ':') {
			a->status = bad_option(a->argv, opt);
			return KST_OPT_EXIT;
		}
		r = a->target ? kst_target_option(a->target, opt, optarg) : 0;
		if (r < 0) {
			a->status = KST_EXIT_USAGE;
			return KST_OPT_EXIT;
		}
		if (r == 0)
			return opt;
	}
	return -1;
}

int kst_operands(kst_args_t *a, const char *const *actions,
    const char *what, const char **name)
{
	const char *action = NULL, *colon = "";
	char list[256], up[32];
	size_t off = 0, k;
	int i = 0;

	if (actions) {
		/* "list, create, ... or delete" */
		list[0] = '\0';
		for (k = 0; actions[k] && off < sizeof list; k++) {
			int n = snprintf(list + off, sizeof list - off, "%s%s",
			    !k ? "" : actions[k + 1] ? ", " : " or ",
			    actions[k]);
			if (n < 0)
				break;
			off += (size_t)n;
		}
		if (optind >= a->argc) {
			kst_err("which action? %s", list);
			return -1;
		}
		action = a->argv[optind++];
		colon = ": ";
		for (i = 0; actions[i] && strcmp(actions[i], action); i++)
			;
		if (!actions[i]) {
			kst_err("unknown action '%s': %s", action, list);
			return -1;
		}
	}
	if (what && (!actions || i > 0)) {
		if (optind < a->argc) {
			*name = a->argv[optind++];
		} else if (action) {
			kst_err("%s: which %s?", action, what);
			return -1;
		} else {
			for (k = 0; what[k] && k < sizeof up - 1; k++)
				up[k] = (char)toupper((unsigned char)what[k]);
			up[k] = '\0';
			kst_err("which %s? (%s %s)", what, kst_cmd, up);
			return -1;
		}
	}
	if (optind < a->argc) {
		kst_err("%s%sunexpected argument '%s'", action ? action : "",
		    colon, a->argv[optind]);
		return -1;
	}
	return i;
}

int kst_opt_int(const char *opt, const char *arg, int64_t min, int64_t max,
    const char *what, int64_t *v)
{
	if (kst_parse_int(arg, min, max, v) == 0)
		return 0;
	kst_err("%s: '%s' is not %s", opt, arg, what);
	return -1;
}

int kst_opt_time(const char *opt, const char *arg, int64_t *ms)
{
	if (kst_parse_time(arg, ms) == 0)
		return 0;
	kst_err("%s: '%s' is neither milliseconds nor an ISO 8601 time", opt,
	    arg);
	return -1;
}

/* ---- the target ---------------------------------------------------------- */

void kst_target_init(kst_target_t *t)
{
	memset(t, 0, sizeof *t);
	t->store_dir = getenv("KSTREAM_STORE");
	t->broker = getenv("KSTREAM_BROKER");
	if (t->store_dir && !*t->store_dir)
		t->store_dir = NULL;
	if (t->broker && !*t->broker)
		t->broker = NULL;
#ifdef KS_WITH_NET
	ks_tls_config_init(&t->tls, 0);
#endif
	t->timeout_ms = 30000;
}

int kst_target_option(kst_target_t *t, int opt, const char *arg)
{
	int64_t v;

	switch (opt) {
	case KST_OPT_STORE:
	case KST_OPT_BROKER:
		/* An option given names the target: the environment's other
		 * one steps aside. */
		if (opt == KST_OPT_STORE) {
			t->store_dir = arg;
			if (t->broker == getenv("KSTREAM_BROKER"))
				t->broker = NULL;
		} else {
			t->broker = arg;
			if (t->store_dir == getenv("KSTREAM_STORE"))
				t->store_dir = NULL;
		}
		t->named = 1;
		break;
	case KST_OPT_CA:
		t->tls.ca_file = arg;
		break;
	case KST_OPT_CERT:
		t->tls.cert_file = arg;
		break;
	case KST_OPT_KEY:
		t->tls.key_file = arg;
		break;
	case KST_OPT_SERVER_NAME:
		t->tls.server_name = arg;
		break;
	case KST_OPT_INSECURE:
		t->tls.verify_peer = 0;
		break;
	case KST_OPT_TIMEOUT:
		if (kst_opt_int("--timeout", arg, 1, INT32_MAX,
		        "a number of milliseconds", &v) != 0)
			return -1;
		t->timeout_ms = (int32_t)v;
		break;
	default:
		return 0;
	}
	return 1;
}

int kst_target_check(kst_target_t *t)
{
	if (t->store_dir && t->broker) {
		kst_err("give --store or --broker, not both");
		return -1;
	}
	if (!t->store_dir && !t->broker) {
		kst_err("no target: give --store DIR or --broker URL");
		return -1;
	}
#ifndef KS_WITH_NET
	if (t->broker) {
		kst_err("--broker: this kstream was built without the network "
		    "modules (WITH_NET=0)");
		return -1;
	}
#endif
	if ((t->tls.cert_file != NULL) != (t->tls.key_file != NULL)) {
		kst_err("--cert and --key go together");
		return -1;
	}
	return 0;
}

void kst_target_remote(kst_target_t *t, ks_remote_config_t *rc)
{
#ifdef KS_WITH_NET
	ks_remote_config_init(rc);
	rc->request_timeout_ms = t->timeout_ms;
	rc->tls = &t->tls;
	rc->log_cb = remote_log;
#else
	(void)t;
	(void)rc;
#endif
}

/* While a store is being opened its messages are held: the one naming
 * the lock holder is dropped when the tool says it in its own words. */
static struct {
	int holding;
	char buf[2048];
	size_t len;
} held;

static void quiet_log(void *opaque, int level, const char *msg)
{
	(void)opaque;
	/* The tool prints its own one-line errors; the library's notes
	 * about recovery and the like still matter to an operator. */
	if (level > KS_LOG_WARNING)
		return;
	if (held.holding) {
		int n = snprintf(held.buf + held.len, sizeof held.buf -
		    held.len, "%s: %s\n", kst_cmd, msg);
		if (n > 0 && (size_t)n < sizeof held.buf - held.len)
			held.len += (size_t)n;
		return;
	}
	fprintf(stderr, "%s: %s\n", kst_cmd, msg);
}

static void held_end(int drop)
{
	if (!drop)
		fputs(held.buf, stderr);
	held.holding = 0;
	held.len = 0;
	held.buf[0] = '\0';
}

int kst_target_store(kst_target_t *t, int write)
{
	ks_store_config_t cfg;
	int rc;

	if (t->store)
		return 0;
	ks_store_config_init(&cfg);
	cfg.cleaner_interval_ms = 0;
	cfg.log_cb = quiet_log;
	if (t->store_create)
		cfg.flags |= KS_STORE_CREATE;
	held.holding = 1;
	rc = ks_store_open(t->store_dir, &cfg, &t->store);
	held_end(rc == KS_ELOCKED);
	if (rc == KS_ELOCKED && !write) {
		cfg.flags |= KS_STORE_RDONLY;
		rc = ks_store_open(t->store_dir, &cfg, &t->store);
		t->store_rdonly = rc == 0;
	}
	if (rc == KS_ELOCKED)
		kst_err("store %s is open for writing by another process "
		    "(a broker? then use --broker)", t->store_dir);
	else if (rc)
		kst_errk(rc, "cannot open store %s", t->store_dir);
	return rc;
}

int kst_target_admin(kst_target_t *t, int write)
{
	int rc;

	if (t->admin)
		return 0;
	if (t->store_dir) {
		if ((rc = kst_target_store(t, write)) != 0)
			return rc;
		rc = ks_admin_new(t->store, &t->admin);
		if (rc)
			kst_errk(rc, "cannot manage store %s", t->store_dir);
		return rc;
	}
#ifdef KS_WITH_NET
	{
		ks_remote_config_t rc_;
		kst_target_remote(t, &rc_);
		rc = ks_admin_connect(t->broker, &rc_, &t->admin);
		if (rc)
			kst_errk(rc, "cannot connect to %s", t->broker);
		return rc;
	}
#else
	return KS_EINVAL;
#endif
}

int kst_target_topic(kst_target_t *t, int write, const char *topic,
    const int32_t *parts, size_t nparts, ks_topic_info_t **ti)
{
	size_t i;
	int rc;

	*ti = NULL;
	if ((rc = kst_target_admin(t, write)) != 0)
		return rc;
	if ((rc = ks_admin_describe_topic(t->admin, topic, ti)) != 0) {
		if (rc == KS_ETOPIC || rc == KS_ENAME)
			kst_err("unknown topic %s", topic);
		else
			kst_errk(rc, "cannot describe %s", topic);
		return rc;
	}
	for (i = 0; i < nparts; i++)
		if (parts[i] >= (*ti)->partition_count) {
			kst_err("topic %s has no partition %" PRId32 " (it has %"
			    PRId32 ")", topic, parts[i], (*ti)->partition_count);
			ks_admin_topics_free(*ti);
			*ti = NULL;
			return KS_EPARTITION;
		}
	return 0;
}

void kst_target_close(kst_target_t *t)
{
	ks_admin_free(t->admin);
	t->admin = NULL;
	if (t->store)
		(void)ks_store_close(t->store);
	t->store = NULL;
}
