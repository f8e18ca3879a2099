/*
 * tool.h: what the kstream(1) subcommands share: the target options
 * (--store DIR or --broker URL with TLS files), opening an admin handle,
 * producer or consumer on that target, and error reporting.
 *
 * Each subcommand is one file with one entry point, kst_<name>(argc,
 * argv), argv[0] being the subcommand's name; it parses its own options
 * with getopt_long (KST_TARGET_LONGOPTS in its table, kst_target_option()
 * in its switch) and returns the process's exit status:
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

/*
 * kst_bad_option: the usage error for what getopt_long returned as
 * opt ('?' unknown, ':' a value missing: optstring starts with ':'),
 * naming the option and the subcommand's --help. Returns KST_EXIT_USAGE.
 */
int kst_bad_option(char **argv, int opt);

/* The subcommands. */
int kst_topics(int argc, char **argv);
int kst_produce(int argc, char **argv);
int kst_consume(int argc, char **argv);
int kst_groups(int argc, char **argv);
int kst_dump(int argc, char **argv);
int kst_check(int argc, char **argv);
int kst_stats(int argc, char **argv);

#endif /* KST_TOOL_H */
