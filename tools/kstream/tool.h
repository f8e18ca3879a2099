/*
 * tool.h: what the kstream(1) subcommands share: the target options
 * (--store DIR or --broker URL with TLS files), opening an admin handle,
 * producer or consumer on that target, and error reporting.
 *
 * Each subcommand is one file with one entry point, kst_<name>(argc,
 * argv), argv[0] being the subcommand's name; it walks its options with
 * kst_getopt (KST_TARGET_LONGOPTS and KST_LONGOPTS_END in its table), its
 * operands with kst_operands, and returns the process's exit status:
 *   0 done; 1 the operation failed (one line on stderr says why);
 *   2 usage error (bad or missing arguments; says which).
 * kstream check returns 1 when damage remains.
 */
#ifndef KST_TOOL_H
#define KST_TOOL_H

#include <kstream/kstream.h>

#include <getopt.h>
#include <stdio.h>

#define KST_EXIT_OK 0
#define KST_EXIT_FAIL 1
#define KST_EXIT_USAGE 2

/* getopt_long values of the target options: above any short option. */
enum {
	KST_OPT_STORE = 1000,   /* --store DIR */
	KST_OPT_BROKER,         /* --broker URL (tcp://, tls+tcp:// or
	                           host:port, comma-separated list) */
	KST_OPT_CA,             /* --ca FILE: CA certificates (tls+tcp) */
	KST_OPT_CERT,           /* --cert FILE: client certificate */
	KST_OPT_KEY,            /* --key FILE: its private key */
	KST_OPT_SERVER_NAME,    /* --server-name NAME: name to verify */
	KST_OPT_INSECURE,       /* --insecure: no certificate verification */
	KST_OPT_TIMEOUT,        /* --timeout MS: request timeout (30000) */
	KST_OPT_HELP,           /* --help (KST_LONGOPTS_END) */
	KST_OPT_FIRST_FREE      /* subcommands number their own from here */
};

#define KST_TARGET_LONGOPTS                                                  \
	{ "store", required_argument, NULL, KST_OPT_STORE },                 \
	{ "broker", required_argument, NULL, KST_OPT_BROKER },               \
	{ "ca", required_argument, NULL, KST_OPT_CA },                       \
	{ "cert", required_argument, NULL, KST_OPT_CERT },                   \
	{ "key", required_argument, NULL, KST_OPT_KEY },                     \
	{ "server-name", required_argument, NULL, KST_OPT_SERVER_NAME },     \
	{ "insecure", no_argument, NULL, KST_OPT_INSECURE },                 \
	{ "timeout", required_argument, NULL, KST_OPT_TIMEOUT }

/* Every subcommand's table ends with --help and the terminator. */
#define KST_LONGOPTS_END                                                     \
	{ "help", no_argument, NULL, KST_OPT_HELP },                         \
	{ NULL, 0, NULL, 0 }

/* The text --help prints for the target options. */
#define KST_TARGET_HELP                                                      \
	"Target (one of):\n"                                                 \
	"  --store DIR          a store directory on this machine\n"        \
	"  --broker URL         a Kafka-protocol broker: host:port, tcp://\n" \
	"                       or tls+tcp:// (or $KSTREAM_BROKER)\n"       \
	"  --ca FILE            CA certificates to verify a TLS broker\n"   \
	"  --cert FILE --key FILE  client certificate for mutual TLS\n"     \
	"  --server-name NAME   host name to verify (default: the URL's)\n" \
	"  --insecure           do not verify the broker's certificate\n"   \
	"  --timeout MS         request timeout (30000)\n"

typedef struct kst_target {
	const char *store_dir;      /* --store, else $KSTREAM_STORE */
	const char *broker;         /* --broker, else $KSTREAM_BROKER */
	ks_tls_config_t tls;        /* from --ca, --cert, --key... */
	int32_t timeout_ms;
	/* opened by kst_target_*: */
	ks_store_t *store;
	int store_rdonly;           /* the store was opened read-only */
	ks_admin_t *admin;
	int store_create;           /* kst_target_store creates a missing
	                               store directory (topics create) */
	int named;                  /* --store or --broker was given (not
	                               only the environment) */
} kst_target_t;

/* The program's and subcommand's names, for messages ("kstream topics"). */
extern const char *kst_cmd;

/* Prints "kstream <cmd>: <message>\n" to stderr. */
void kst_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints the message and the library error's text:
 * "kstream topics: cannot create orders: already exists". */
void kst_errk(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sets the defaults (and the environment's KSTREAM_STORE/KSTREAM_BROKER). */
void kst_target_init(kst_target_t *t);

/* If opt is a target option, takes arg and returns 1; else 0. A bad
 * value prints why and returns -1 (exit KST_EXIT_USAGE). */
int kst_target_option(kst_target_t *t, int opt, const char *arg);

/*
 * kst_target_check: exactly one of --store and --broker was given;
 * prints a usage error and returns -1 otherwise.
 */
int kst_target_check(kst_target_t *t);

/* The remote configuration for --broker (timeouts, TLS). */
void kst_target_remote(kst_target_t *t, ks_remote_config_t *rc);

/*
 * kst_target_store: opens --store. write: 1 to open for writing; 0 to
 * open for writing if the store is free, else read-only (another process,
 * such as a broker, holds it). Prints the error and returns it.
 */
int kst_target_store(kst_target_t *t, int write);

/*
 * kst_target_admin: an admin handle on the target in t->admin (the store
 * opened as kst_target_store(t, write) would). Prints the error and
 * returns it.
 */
int kst_target_admin(kst_target_t *t, int write);

/* Closes whatever was opened. */
void kst_target_close(kst_target_t *t);

/* A subcommand's command line, as kst_getopt and kst_operands walk it. */
typedef struct kst_args {
	int argc;
	char **argv;
	const char *shortopts;          /* getopt_long's; starts with ':' */
	const struct option *longopts;  /* ends with KST_LONGOPTS_END */
	const char *usage;              /* what --help prints */
	kst_target_t *target;           /* NULL: no target options */
	int status;                     /* after KST_OPT_EXIT: the exit status */
} kst_args_t;

/* What kst_getopt returns when the subcommand is to return a->status. */
#define KST_OPT_EXIT (-2)

/*
 * kst_getopt: the next of the subcommand's own options (getopt_long's
 * value; optarg holds its argument), or -1 when the options end (optind
 * is then at the first operand). It takes the target options into
 * a->target itself, and ends the run with KST_OPT_EXIT after --help (and
 * -h, where shortopts has it: a->usage on stdout, KST_EXIT_OK), or after
 * a usage error it has said (an unknown option, a missing value, a bad
 * target option: KST_EXIT_USAGE).
 */
int kst_getopt(kst_args_t *a);

/*
 * kst_operands: the operands after the options. With actions (NULL
 * terminated: topics and groups), an action, then the name of a `what`
 * ("topic") unless the action is actions[0] (list); without actions, the
 * name of a `what` (consume and produce), or nothing if what is NULL
 * (stats). Nothing more may follow. Returns the action's index (0
 * without actions) with the name in *name, or -1 after saying what is
 * missing or unexpected (exit KST_EXIT_USAGE).
 */
int kst_operands(kst_args_t *a, const char *const *actions,
    const char *what, const char **name);

/*
 * kst_opt_int: an option's value as a decimal integer in [min, max] in
 * *v; otherwise says "OPT: 'ARG' is not WHAT" and returns -1.
 */
int kst_opt_int(const char *opt, const char *arg, int64_t min, int64_t max,
    const char *what, int64_t *v);

/* kst_opt_time: an option's value by kst_parse_time; says why not, -1. */
int kst_opt_time(const char *opt, const char *arg, int64_t *ms);

/*
 * kst_target_topic: describes topic through the admin handle (opened
 * first as kst_target_admin(t, write) would) and checks that it has each
 * of parts[0..nparts). Says "unknown topic T", "topic T has no partition
 * P" or the error, and returns it; else 0 with *ti for
 * ks_admin_topics_free.
 */
int kst_target_topic(kst_target_t *t, int write, const char *topic,
    const int32_t *parts, size_t nparts, ks_topic_info_t **ti);

/*
 * kst_utf8_len: the length of the well-formed UTF-8 sequence at p (at
 * most n bytes long, n >= 1): 1 to 4, or 0 if there is none (a stray
 * byte, an overlong form, a surrogate, beyond U+10FFFF).
 */
size_t kst_utf8_len(const unsigned char *p, size_t n);

/* A table column's width w, widened to hold s. */
int kst_width(int w, const char *s);

/* Whether s ends with suffix. */
int kst_ends_with(const char *s, const char *suffix);

/* Parses "beginning", "end" or an offset into KS_OFFSET_* or >= 0. */
int kst_parse_offset(const char *s, int64_t *off);

/* Parses a decimal integer in [min, max]; -1 if it is not one. */
int kst_parse_int(const char *s, int64_t min, int64_t max, int64_t *v);

/*
 * kst_parse_time: a point in time as milliseconds since the epoch: a
 * number of milliseconds, or ISO 8601 "YYYY-MM-DDTHH:MM[:SS[.sss]]"
 * with an optional "Z" or "+HH:MM" / "-HH:MM" (none: local time, as
 * kafka-consumer-groups.sh reads it). -1 if it is neither.
 */
int kst_parse_time(const char *s, int64_t *ms);

/* The subcommands. */
int kst_topics(int argc, char **argv);
int kst_produce(int argc, char **argv);
int kst_consume(int argc, char **argv);
int kst_groups(int argc, char **argv);
int kst_dump(int argc, char **argv);
int kst_check(int argc, char **argv);
int kst_stats(int argc, char **argv);

#endif /* KST_TOOL_H */
