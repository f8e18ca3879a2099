/*
 * produce.c: kstream produce TOPIC: records from stdin or a file, one per
 * line or per delimiter, optionally "key SEP value", with fixed headers,
 * to a store (ks_producer_new) or a broker (ks_producer_connect), as
 * kafka-console-producer.sh and kcat -P do. Every record is acknowledged
 * or failed before the program exits; the exit status says which.
 */
#define _GNU_SOURCE
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
	OPT_ACKS = KST_OPT_FIRST_FREE,
	OPT_SYNC,
};

static const struct option longopts[] = {
	KST_TARGET_LONGOPTS,
	{ "partition", required_argument, NULL, 'p' },
	{ "key-separator", required_argument, NULL, 'K' },
	{ "delimiter", required_argument, NULL, 'D' },
	{ "header", required_argument, NULL, 'H' },
	{ "file", required_argument, NULL, 'f' },
	{ "acks", required_argument, NULL, OPT_ACKS },
	{ "compression", required_argument, NULL, 'z' },
	{ "sync", no_argument, NULL, OPT_SYNC },
	{ "quiet", no_argument, NULL, 'q' },
	KST_LONGOPTS_END,
};

static const char usage[] =
    "usage: kstream produce TOPIC [OPTIONS] < RECORDS\n\n"
    "Writes one record per line of stdin (or of --file).\n\n"
    "  -p, --partition P       every record to partition P (default: "
    "by key,\n"
    "                          keyless ones spread in batches)\n"
    "  -K, --key-separator S   each record is KEY S VALUE\n"
    "  -D, --delimiter D       records end with D, not a newline\n"
    "  -H, --header K=V        add this header to every record "
    "(repeatable)\n"
    "  -f, --file PATH         read PATH instead of stdin\n"
    "  --acks 0|1|all          acknowledgement a broker gives "
    "(default all)\n"
    "  -z, --compression C     none, gzip, snappy, lz4 or zstd\n"
    "  --sync                  send records one at a time, each "
    "acknowledged\n"
    "                          (on a store: durable) before the next\n"
    "  -q, --quiet             no progress bar, no summary\n"
    "S and D understand \\n \\t \\r \\0 \\\\ and \\xHH.\n\n"
    KST_TARGET_HELP;

/* Decodes \n \t \r \0 \\ \xHH in s into a malloc'd buffer. */
static char *unescape(const char *s, size_t *lenp)
{
	char *out = malloc(strlen(s) + 1), *o = out;
	if (!out)
		return NULL;
	for (; *s; s++) {
		if (*s != '\\' || !s[1]) {
			*o++ = *s;
			continue;
		}
		switch (*++s) {
		case 'n': *o++ = '\n'; break;
		case 't': *o++ = '\t'; break;
		case 'r': *o++ = '\r'; break;
		case '0': *o++ = '\0'; break;
		case 'x': {
			unsigned v;
			int n = 0;
			if (sscanf(s + 1, "%2x%n", &v, &n) == 1 && n == 2) {
				*o++ = (char)v;
				s += 2;
			} else {
				*o++ = '\\';
				*o++ = 'x';
			}
			break;
		}
		default: *o++ = *s; break;
		}
	}
	*lenp = (size_t)(o - out);
	return out;
}

/* What the delivery callback (the producer's I/O thread) reports. */
struct tally {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t done;      /* records acknowledged */
	uint64_t failed;    /* records failed */
	int first_err;
	char first_topic[256];
	int32_t first_part;
	int first_kafka;    /* the broker's code behind it, if any */
};

#ifdef KS_WITH_NET
static void delivered(void *opaque, const char *topic, int32_t partition,
    int64_t base_offset, size_t count, int err)
{
	struct tally *t = opaque;
	(void)base_offset;
	pthread_mutex_lock(&t->mu);
	if (err) {
		if (!t->failed) {
			t->first_err = err;
			snprintf(t->first_topic, sizeof t->first_topic, "%s",
			    topic ? topic : "?");
			t->first_part = partition;
			t->first_kafka = ks_kafka_last_error();
		}
		t->failed += count;
	} else {
		t->done += count;
	}
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}
#endif

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *human_bytes(double b, char *buf, size_t len)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;
	while (b >= 1024 && i < 4) {
		b /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%.0f %s", b, u[i]);
	else
		snprintf(buf, len, "%.1f %s", b, u[i]);
	return buf;
}

/* The state of one run. */
struct run {
	const char *topic;
	int32_t partition;
	int sync, remote, quiet, bar;
	const char *ksep;
	size_t ksep_len;
	const ks_header_t *hdrs;
	size_t nhdrs;
	ks_producer_t *prod;
	struct tally tally;
	/* records waiting to be handed to the producer */
	ks_record_t *recs;
	size_t nrecs, caprecs, pend_bytes;
	/* progress */
	uint64_t records, bytes, lineno;
	uint64_t in_bytes, in_size;  /* in_size 0: unknown */
	double t0, last_bar;
	int failed;                  /* a local produce failed */
};

/* Whether a progress line is on the terminal: errors clear it first. */
static int bar_shown;

static void bar_clear(void)
{
	if (bar_shown)
		fputs("\r\033[K", stderr);
	bar_shown = 0;
}

static void bar(struct run *r, int final)
{
	char b1[32], line[160];
	double el = now_s() - r->t0, rate;
	int n;

	if (!r->bar || (!final && now_s() - r->last_bar < 0.2))
		return;
	r->last_bar = now_s();
	rate = el > 0 ? (double)r->records / el : 0;
	n = snprintf(line, sizeof line, "%" PRIu64 " records  %s  %.0f "
	    "records/s", r->records, human_bytes((double)r->bytes, b1,
	    sizeof b1), rate);
	if (r->in_size && r->in_bytes && n > 0 && (size_t)n < sizeof line) {
		double frac = (double)r->in_bytes / (double)r->in_size;
		double eta = frac > 0 ? el / frac - el : 0;
		if (frac > 1)
			frac = 1;
		if (eta < 0)
			eta = 0;
		snprintf(line + n, sizeof line - (size_t)n,
		    "  %3.0f%%  ETA %d:%02d", frac * 100, (int)eta / 60,
		    (int)eta % 60);
	}
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
	bar_shown = 1;
}

/* Holds the caller back while too much is queued in a remote producer
 * (it queues without a bound): at most ~64 MiB or 100000 records. */
static void throttle(struct run *r)
{
	uint64_t avg = r->records ? r->bytes / r->records + 64 : 64;
	uint64_t limit = (64u << 20) / avg;

	if (limit > 100000)
		limit = 100000;
	if (limit < 100)
		limit = 100;
	pthread_mutex_lock(&r->tally.mu);
	while (r->records - r->tally.done - r->tally.failed > limit) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&r->tally.cv, &r->tally.mu, &ts);
	}
	pthread_mutex_unlock(&r->tally.mu);
}

/* Hands the waiting records to the producer. 0, or -1 after a failure
 * that was printed. */
static int send_pending(struct run *r)
{
	int rc, flags = 0;

	if (!r->nrecs)
		return 0;
	if (r->remote) {
		/* --sync on a broker: a result array makes the call wait
		 * for the acknowledgement */
		ks_produce_result_t res[1];
		rc = ks_produce(r->prod, r->topic, r->partition, r->recs,
		    r->nrecs, 0, r->sync ? res : NULL);
		if (rc == 0 && r->sync) {
			pthread_mutex_lock(&r->tally.mu);
			r->tally.done += r->nrecs;
			pthread_mutex_unlock(&r->tally.mu);
		}
	} else {
		if (r->sync)
			flags |= KS_PRODUCE_DURABLE;
		rc = ks_produce(r->prod, r->topic, r->partition, r->recs,
		    r->nrecs, flags, NULL);
		if (rc == 0)
			r->tally.done += r->nrecs;
	}
	if (rc) {
		bar_clear();
		if (rc == KS_ETOPIC)
			kst_err("unknown topic %s", r->topic);
		else if (rc == KS_EPARTITION)
			kst_err("topic %s has no partition %" PRId32,
			    r->topic, r->partition);
		else
			kst_errk(rc, "cannot produce to %s", r->topic);
		r->failed = 1;
		return -1;
	}
	r->nrecs = 0;
	r->pend_bytes = 0;
	if (r->remote && !r->sync)
		throttle(r);
	bar(r, 0);
	return 0;
}

/* One record's text: [p, p + len). */
static int add_record(struct run *r, const char *p, size_t len)
{
	ks_record_t *rec;

	r->lineno++;
	if (r->nrecs == r->caprecs) {
		size_t cap = r->caprecs ? r->caprecs * 2 : 256;
		ks_record_t *n = realloc(r->recs, cap * sizeof *n);
		if (!n) {
			kst_errk(KS_ENOMEM, "reading records");
			return -1;
		}
		r->recs = n;
		r->caprecs = cap;
	}
	rec = &r->recs[r->nrecs];
	memset(rec, 0, sizeof *rec);
	rec->timestamp = -1;
	rec->headers = r->nhdrs ? r->hdrs : NULL;
	rec->header_count = r->nhdrs;
	if (r->ksep) {
		const char *s = memmem(p, len, r->ksep, r->ksep_len);
		if (!s) {
			bar_clear();
			kst_err("record %" PRIu64 " has no key separator",
			    r->lineno);
			return -1;
		}
		rec->key = p;
		rec->key_len = (size_t)(s - p);
		p = s + r->ksep_len;
		len -= rec->key_len + r->ksep_len;
	}
	rec->value = p;
	rec->value_len = len;
	r->nrecs++;
	r->records++;
	r->bytes += rec->key_len + rec->value_len;
	r->pend_bytes += rec->key_len + rec->value_len;
	/* Batches stay well under max.message.bytes (1 MiB by default). */
	if (r->sync || r->nrecs >= 4096 || r->pend_bytes >= (256u << 10))
		return send_pending(r);
	return 0;
}

/* Reads fd to its end, cutting records at delim. */
static int read_records(struct run *r, int fd, const char *delim,
    size_t dlen)
{
	size_t cap = 1u << 20, len = 0, pos, scan = 0;
	char *buf = malloc(cap);
	ssize_t got;
	int rc = 0;

	if (!buf) {
		kst_errk(KS_ENOMEM, "reading records");
		return -1;
	}
	for (;;) {
		if (len == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				kst_errk(KS_ENOMEM, "a record longer than %zu "
				    "bytes", cap);
				rc = -1;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			bar_clear();
			kst_errk(-e, "read");
			rc = -1;
			break;
		}
		r->in_bytes += (uint64_t)got;
		len += (size_t)got;
		/* whole records in buf[0..len) */
		pos = 0;
		for (;;) {
			char *d = len - scan >= dlen ?
			    memmem(buf + scan, len - scan, delim, dlen) : NULL;
			if (!d) {
				scan = len >= dlen - 1 ? len - (dlen - 1) : 0;
				if (scan < pos)
					scan = pos;
				break;
			}
			if ((rc = add_record(r, buf + pos,
			         (size_t)(d - (buf + pos)))) != 0)
				goto out;
			pos = (size_t)(d - buf) + dlen;
			scan = pos;
		}
		/* the producer copies or appends: buf may be reused */
		if ((rc = send_pending(r)) != 0)
			break;
		if (got == 0) {
			if (pos < len)  /* the last record, without delimiter */
				rc = add_record(r, buf + pos, len - pos);
			if (rc == 0)
				rc = send_pending(r);
			break;
		}
		memmove(buf, buf + pos, len - pos);
		len -= pos;
		scan -= pos;
	}
out:
	free(buf);
	return rc;
}

int kst_produce(int argc, char **argv)
{
	kst_target_t t;
	kst_args_t args = { argc, argv, ":p:K:D:H:f:z:q", longopts, usage, &t,
		0 };
	struct run r;
	ks_producer_config_t pc;
	ks_header_t *hdrs = NULL;
	char *ksep = NULL, *delim = NULL;
	const char *file = NULL, *delim_arg = "\\n";
	size_t dlen = 0, nh = 0;
	int64_t v;
	int opt, ret = KST_EXIT_USAGE, rc, fd = 0;
	double el;

	memset(&r, 0, sizeof r);
	pthread_mutex_init(&r.tally.mu, NULL);
	pthread_cond_init(&r.tally.cv, NULL);
	r.partition = KS_PARTITION_ANY;
	kst_target_init(&t);
	ks_producer_config_init(&pc);
	while ((opt = kst_getopt(&args)) != -1) {
		switch (opt) {
		case KST_OPT_EXIT:
			ret = args.status;
			goto out;
		case 'p':
			if (kst_opt_int("--partition", optarg, 0, INT32_MAX,
			        "a partition number", &v) != 0)
				goto out;
			r.partition = (int32_t)v;
			break;
		case 'K':
			free(ksep);
			if (!(ksep = unescape(optarg, &r.ksep_len)) ||
			    !r.ksep_len) {
				kst_err("--key-separator must not be empty");
				goto out;
			}
			break;
		case 'D':
			delim_arg = optarg;
			break;
		case 'H': {
			const char *eq = strchr(optarg, '=');
			ks_header_t *nhd = realloc(hdrs, (nh + 1) *
			    sizeof *nhd);
			if (!nhd) {
				kst_errk(KS_ENOMEM, "--header");
				ret = KST_EXIT_FAIL;
				goto out;
			}
			hdrs = nhd;
			if (!eq || eq == optarg) {
				kst_err("--header wants KEY=VALUE, not '%s'",
				    optarg);
				goto out;
			}
			hdrs[nh].key = optarg;
			hdrs[nh].key_len = (size_t)(eq - optarg);
			hdrs[nh].value = eq + 1;
			hdrs[nh].value_len = strlen(eq + 1);
			nh++;
			break;
		}
		case 'f':
			file = optarg;
			break;
		case OPT_ACKS:
			if (!strcmp(optarg, "all") || !strcmp(optarg, "-1"))
				pc.acks = -1;
			else if (!strcmp(optarg, "0") || !strcmp(optarg, "1"))
				pc.acks = atoi(optarg);
			else {
				kst_err("--acks: 0, 1 or all, not '%s'",
				    optarg);
				goto out;
			}
			break;
		case 'z':
			rc = ks_compression_parse(optarg);
			if (rc < 0) {
				if (rc == KS_ECOMPRESSION)
					kst_err("--compression: %s is not "
					    "built into this kstream", optarg);
				else
					kst_err("--compression: none, gzip, "
					    "snappy, lz4 or zstd, not '%s'",
					    optarg);
				goto out;
			}
			pc.compression = rc;
			break;
		case OPT_SYNC:
			r.sync = 1;
			break;
		case 'q':
			r.quiet = 1;
			break;
		}
	}
	if (kst_operands(&args, NULL, "topic", &r.topic) < 0)
		goto out;
	if (!(delim = unescape(delim_arg, &dlen)) || !dlen) {
		kst_err("--delimiter must not be empty");
		goto out;
	}
	if (kst_target_check(&t) != 0)
		goto out;
	r.ksep = ksep;
	r.hdrs = hdrs;
	r.nhdrs = nh;

	ret = KST_EXIT_FAIL;
	if (file && (fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		kst_errk(-errno, "cannot open %s", file);
		fd = 0;
		goto out;
	}
	if (file) {
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
			r.in_size = (uint64_t)st.st_size;
	}
	if (t.store_dir) {
		if ((rc = kst_target_store(&t, 1)) != 0)
			goto out;
		/* a missing topic or partition is said before any input
		 * is read */
		{
			ks_topic_t *tp;
			if ((rc = ks_topic_open(t.store, r.topic, &tp)) != 0) {
				if (rc == KS_ETOPIC || rc == KS_ENAME)
					kst_err("unknown topic %s", r.topic);
				else
					kst_errk(rc, "cannot open %s", r.topic);
				goto out;
			}
			v = ks_topic_partitions(tp);
			ks_topic_release(tp);
			if (r.partition >= v) {
				kst_err("topic %s has no partition %" PRId32
				    " (it has %" PRId64 ")", r.topic,
				    r.partition, v);
				goto out;
			}
		}
		rc = ks_producer_new(t.store, &pc, &r.prod);
		if (rc) {
			kst_errk(rc, "cannot make a producer");
			goto out;
		}
	} else {
#ifdef KS_WITH_NET
		ks_remote_config_t rcfg;
		kst_target_remote(&t, &rcfg);
		pc.delivery_cb = delivered;
		pc.delivery_opaque = &r.tally;
		/* The remote producer keeps one batch per partition in
		 * flight: a batch is what one round trip carries. Bulk loading
		 * wants librdkafka's batch.size (1000000), not Java's 16 KiB. */
		pc.batch_bytes = 1000000;
		r.remote = 1;
		rc = ks_producer_connect(t.broker, &pc, &rcfg, &r.prod);
		if (rc) {
			kst_errk(rc, "cannot connect to %s", t.broker);
			goto out;
		}
#endif
	}
	r.bar = !r.quiet && isatty(2);
	r.t0 = now_s();
	rc = read_records(&r, fd, delim, dlen);
#ifdef KS_WITH_NET
	if (r.remote) {
		/* the records still queued: each gets its answer or its
		 * failure after the producer's retries */
		int frc = ks_producer_flush(r.prod, -1);
		bar_clear();
		if (frc) {
			kst_errk(frc, "waiting for acknowledgements");
			rc = -1;
		}
	}
#endif
	ks_producer_free(r.prod);
	r.prod = NULL;
	el = now_s() - r.t0;
	bar_clear();
	pthread_mutex_lock(&r.tally.mu);
	if (r.tally.failed) {
		fprintf(stderr, "%s: %" PRIu64 " of %" PRIu64 " records "
		    "failed; the first, to %s [%" PRId32 "]: %s", kst_cmd,
		    r.tally.failed, r.records, r.tally.first_topic,
		    r.tally.first_part, ks_strerror(r.tally.first_err));
#ifdef KS_WITH_NET
		if (r.tally.first_kafka)
			fprintf(stderr, " (%s)",
			    ks_kafka_error_name(r.tally.first_kafka));
#endif
		fputc('\n', stderr);
		rc = -1;
	}
	/* a failure is its one line (which says how many failed) */
	if (!r.quiet && !rc) {
		char b[32];
		fprintf(stderr, "%s: produced %" PRIu64 " records (%" PRIu64
		    " bytes%s%s) to %s in %.2f s\n", kst_cmd, r.tally.done,
		    r.bytes, r.bytes >= 1024 ? ", " : "", r.bytes >= 1024 ?
		    human_bytes((double)r.bytes, b, sizeof b) : "", r.topic,
		    el);
	}
	pthread_mutex_unlock(&r.tally.mu);
	ret = rc ? KST_EXIT_FAIL : KST_EXIT_OK;
out:
	if (r.prod)
		ks_producer_free(r.prod);
	if (fd > 0)
		close(fd);
	free(r.recs);
	free(hdrs);
	free(ksep);
	free(delim);
	kst_target_close(&t);
	pthread_mutex_destroy(&r.tally.mu);
	pthread_cond_destroy(&r.tally.cv);
	return ret;
}
