/*
 * consume.c: kstream consume TOPIC: reads records by partition and offset
 * (assign) or as a member of a group (subscribe, committing what it
 * printed), until each partition's end as it was at the start, a count,
 * or for ever; prints them with a kcat-like format or as JSON lines.
 */
#define _GNU_SOURCE
#include "tool.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	OPT_TIMESTAMP = KST_OPT_FIRST_FREE,
	OPT_SINCE,
};

static const struct option longopts[] = {
	KST_TARGET_LONGOPTS,
	{ "group", required_argument, NULL, 'g' },
	{ "partition", required_argument, NULL, 'p' },
	{ "offset", required_argument, NULL, 'o' },
	{ "timestamp", required_argument, NULL, OPT_TIMESTAMP },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "count", required_argument, NULL, 'c' },
	{ "exit", no_argument, NULL, 'e' },
	{ "follow", no_argument, NULL, 'F' },
	{ "format", required_argument, NULL, 'f' },
	{ "json", no_argument, NULL, 'J' },
	{ "key-separator", required_argument, NULL, 'K' },
	KST_LONGOPTS_END,
};

static const char usage[] =
    "usage: kstream consume TOPIC [OPTIONS]\n\n"
    "Prints the topic's records, by default from the beginning of "
    "every\npartition to the end each had when the command "
    "started.\n\n"
    "  -g, --group G          consume as a member of group G: from "
    "its committed\n"
    "                         offsets (else --offset beginning|end, "
    "default\n"
    "                         beginning), committing what was "
    "printed\n"
    "  -p, --partition P      only partition P (repeatable; default "
    "all)\n"
    "  -o, --offset O         beginning, end, an offset N, or -N: N "
    "records\n"
    "                         before each partition's end\n"
    "  --timestamp T, --since T\n"
    "                         from the first record at or after T: "
    "milliseconds\n"
    "                         since the epoch or ISO 8601 "
    "(2024-05-01T12:00:00Z)\n"
    "  -c, --count N          stop after N records\n"
    "  -e, --exit             stop at the end (the default)\n"
    "  -F, --follow           wait for new records until "
    "interrupted\n"
    "  -f, --format FMT       each record as FMT (default \"%s\\n\"): "
    "%t topic,\n"
    "                         %p partition, %o offset, %k key, %s "
    "value, %K key\n"
    "                         size, %S value size (-1: null), %T "
    "timestamp (ms),\n"
    "                         %h headers (k=v,...), %% a %; \\n "
    "\\t \\r \\\\ escapes\n"
    "  -J, --json             each record as a JSON object on a "
    "line\n"
    "  -K, --key-separator S  print KEY S VALUE (without --format)\n\n"
    KST_TARGET_HELP;

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* ---- output ---------------------------------------------------------- */

static void put_bytes(FILE *o, const void *p, size_t n)
{
	if (n)
		fwrite(p, 1, n, o);
}

/*
 * A JSON string: UTF-8 as it is, with ", \ and control characters
 * escaped; a byte that is not part of well-formed UTF-8 becomes \u00XX
 * (the byte's value as a code point), so any data gives valid JSON.
 * NULL gives null.
 */
static void put_json_string(FILE *o, const void *data, size_t n)
{
	const unsigned char *p = data, *end = p + n;

	if (!data) {
		fputs("null", o);
		return;
	}
	putc('"', o);
	while (p < end) {
		size_t l;
		switch (*p) {
		case '"': fputs("\\\"", o); p++; continue;
		case '\\': fputs("\\\\", o); p++; continue;
		case '\n': fputs("\\n", o); p++; continue;
		case '\r': fputs("\\r", o); p++; continue;
		case '\t': fputs("\\t", o); p++; continue;
		case '\b': fputs("\\b", o); p++; continue;
		case '\f': fputs("\\f", o); p++; continue;
		}
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(o, "\\u%04x", *p);
			p++;
			continue;
		}
		if ((l = kst_utf8_len(p, (size_t)(end - p))) == 0) {
			fprintf(o, "\\u%04x", *p);
			p++;
			continue;
		}
		put_bytes(o, p, l);
		p += l;
	}
	putc('"', o);
}

static void put_json(FILE *o, const ks_message_t *m)
{
	ks_header_t h;
	size_t pos = 0;
	int first = 1;

	fputs("{\"topic\":", o);
	put_json_string(o, m->topic, strlen(m->topic));
	fprintf(o, ",\"partition\":%" PRId32 ",\"offset\":%" PRId64
	    ",\"timestamp\":%" PRId64 ",\"key\":", m->partition,
	    m->rec.offset, m->rec.timestamp);
	put_json_string(o, m->rec.key, m->rec.key_len);
	fputs(",\"value\":", o);
	put_json_string(o, m->rec.value, m->rec.value_len);
	fputs(",\"headers\":{", o);
	while (ks_record_header_next(&m->rec, &pos, &h) == 1) {
		if (!first)
			putc(',', o);
		first = 0;
		put_json_string(o, h.key ? h.key : "", h.key_len);
		putc(':', o);
		put_json_string(o, h.value, h.value_len);
	}
	fputs("}}\n", o);
}

static void put_headers(FILE *o, const ks_record_t *rec)
{
	ks_header_t h;
	size_t pos = 0;
	int first = 1;

	while (ks_record_header_next(rec, &pos, &h) == 1) {
		if (!first)
			putc(',', o);
		first = 0;
		put_bytes(o, h.key, h.key_len);
		if (h.value) {
			putc('=', o);
			put_bytes(o, h.value, h.value_len);
		}
	}
}

/* Whether fmt is a format put_format understands; says why if not. */
static int format_ok(const char *fmt)
{
	const char *p;
	for (p = fmt; *p; p++) {
		if (*p == '%') {
			if (!p[1] || !strchr("tpokKsSTh%", p[1])) {
				kst_err("--format: unknown conversion '%%%.1s' "
				    "(%%t %%p %%o %%k %%K %%s %%S %%T %%h %%%%)",
				    p[1] ? p + 1 : "");
				return 0;
			}
			p++;
		} else if (*p == '\\' && p[1]) {
			p++;
		}
	}
	return 1;
}

static void put_format(FILE *o, const char *fmt, const ks_message_t *m)
{
	const ks_record_t *r = &m->rec;
	const char *p;

	for (p = fmt; *p; p++) {
		if (*p == '\\' && p[1]) {
			switch (*++p) {
			case 'n': putc('\n', o); break;
			case 't': putc('\t', o); break;
			case 'r': putc('\r', o); break;
			case '0': putc('\0', o); break;
			default: putc(*p, o); break;
			}
			continue;
		}
		if (*p != '%' || !p[1]) {
			putc(*p, o);
			continue;
		}
		switch (*++p) {
		case 't': fputs(m->topic, o); break;
		case 'p': fprintf(o, "%" PRId32, m->partition); break;
		case 'o': fprintf(o, "%" PRId64, r->offset); break;
		case 'T': fprintf(o, "%" PRId64, r->timestamp); break;
		case 'k': put_bytes(o, r->key, r->key_len); break;
		case 's': put_bytes(o, r->value, r->value_len); break;
		case 'K':
			fprintf(o, "%lld", r->key ? (long long)r->key_len : -1);
			break;
		case 'S':
			fprintf(o, "%lld", r->value ? (long long)r->value_len :
			    -1);
			break;
		case 'h': put_headers(o, r); break;
		default: putc(*p, o); break;
		}
	}
}

/* ---- consuming ----------------------------------------------------- */

struct part {
	int64_t end;     /* the end offset when first seen; -1 not known */
	int64_t next;    /* the offset after the last one printed; -1 none */
};

struct run {
	const char *topic;
	const char *group;
	ks_consumer_t *c;
	ks_admin_t *admin;
	struct part *parts;
	size_t nparts;
	int commit_err;
	int joined;             /* a group rebalance completed */
};

static struct part *part_get(struct run *r, int32_t p)
{
	if ((size_t)p >= r->nparts) {
		size_t n = (size_t)p + 1, i;
		struct part *np = realloc(r->parts, n * sizeof *np);
		if (!np)
			return NULL;
		for (i = r->nparts; i < n; i++)
			np[i].end = np[i].next = -1;
		r->parts = np;
		r->nparts = n;
	}
	return &r->parts[p];
}

/* Commits what was printed from parts[0..n) (group mode). */
static int commit_printed(struct run *r, const ks_topic_partition_t *parts,
    size_t n, int flags)
{
	ks_topic_partition_t *c;
	size_t i, k = 0;
	int rc = 0;

	if (!r->group || !n)
		return 0;
	if (!(c = calloc(n, sizeof *c)))
		return KS_ENOMEM;
	for (i = 0; i < n; i++) {
		struct part *p;
		if (strcmp(parts[i].topic, r->topic) != 0 ||
		    (size_t)parts[i].partition >= r->nparts)
			continue;
		p = &r->parts[parts[i].partition];
		if (p->next < 0)
			continue;
		c[k].topic = r->topic;
		c[k].partition = parts[i].partition;
		c[k].offset = p->next;
		k++;
	}
	if (k)
		rc = ks_consumer_commit(r->c, c, k, flags);
	free(c);
	return rc;
}

static void on_rebalance(void *opaque, ks_consumer_t *c, int event,
    const ks_topic_partition_t *parts, size_t n)
{
	struct run *r = opaque;
	int rc;
	(void)c;
	if (event == KS_REBALANCE_ASSIGNED)
		r->joined = 1; /* perhaps with no partitions at all */
	if (event != KS_REBALANCE_REVOKED)
		return;
	/* the partitions go to another member: it resumes after what was
	 * printed here */
	if ((rc = commit_printed(r, parts, n, 0)) != 0 && !r->commit_err)
		r->commit_err = rc;
}

/*
 * Whether every assigned partition reached the end it had when first
 * seen. A partition seen for the first time gets its end now.
 */
static int at_end(struct run *r, int *err)
{
	const ks_topic_partition_t *a;
	size_t n, i;
	int rc;

	if ((rc = ks_consumer_assignment(r->c, &a, &n)) != 0) {
		*err = rc;
		return 0;
	}
	if (n == 0)
		return r->joined; /* waiting for partitions, or given none */
	for (i = 0; i < n; i++) {
		struct part *p = part_get(r, a[i].partition);
		if (!p) {
			*err = KS_ENOMEM;
			return 0;
		}
		if (p->end < 0) {
			int64_t end;
			rc = ks_admin_list_offset(r->admin, r->topic,
			    a[i].partition, KS_OFFSET_END, &end);
			if (rc) {
				*err = rc;
				return 0;
			}
			p->end = end;
		}
		if (a[i].offset < p->end)
			return 0;
	}
	return 1;
}

int kst_consume(int argc, char **argv)
{
	kst_target_t t;
	kst_args_t args = { argc, argv, ":g:p:o:c:eFf:JK:", longopts, usage,
		&t, 0 };
	struct run r;
	ks_consumer_config_t cc;
	ks_topic_info_t *ti = NULL;
	ks_topic_partition_t *assign = NULL;
	int32_t *want = NULL;
	size_t nwant = 0, i, nassign = 0;
	const char *fmt = NULL, *offset_arg = NULL;
	char *ksep_fmt = NULL;
	int64_t count = -1, printed = 0, v, ts = -1, offset = KS_OFFSET_BEGINNING;
	int opt, ret = KST_EXIT_USAGE, rc = 0, json = 0, follow = 0;
	int exit_flag = 0, negative = 0;
	struct sigaction sa;
	struct timespec last_commit;
	FILE *o = stdout;

	memset(&r, 0, sizeof r);
	kst_target_init(&t);
	ks_consumer_config_init(&cc);
	while ((opt = kst_getopt(&args)) != -1) {
		switch (opt) {
		case KST_OPT_EXIT:
			ret = args.status;
			goto out;
		case 'g':
			if (!*optarg) {
				kst_err("--group wants a name");
				goto out;
			}
			r.group = optarg;
			break;
		case 'p': {
			int32_t *nw;
			if (kst_opt_int("--partition", optarg, 0, INT32_MAX,
			        "a partition number", &v) != 0)
				goto out;
			if (!(nw = realloc(want, (nwant + 1) * sizeof *nw))) {
				kst_errk(KS_ENOMEM, "--partition");
				ret = KST_EXIT_FAIL;
				goto out;
			}
			want = nw;
			want[nwant++] = (int32_t)v;
			break;
		}
		case 'o':
			offset_arg = optarg;
			if (optarg[0] == '-' && kst_parse_int(optarg + 1, 0,
			        INT64_MAX, &v) == 0) {
				negative = 1;
				offset = v;
			} else if (kst_parse_offset(optarg, &offset) != 0) {
				kst_err("--offset: beginning, end, N or -N, "
				    "not '%s'", optarg);
				goto out;
			} else {
				negative = 0;
			}
			break;
		case OPT_TIMESTAMP:
		case OPT_SINCE:
			if (kst_opt_time(opt == OPT_SINCE ? "--since" :
			        "--timestamp", optarg, &ts) != 0)
				goto out;
			break;
		case 'c':
			if (kst_opt_int("--count", optarg, 1, INT64_MAX,
			        "a count >= 1", &count) != 0)
				goto out;
			break;
		case 'e':
			exit_flag = 1;
			break;
		case 'F':
			follow = 1;
			break;
		case 'f':
			fmt = optarg;
			break;
		case 'J':
			json = 1;
			break;
		case 'K': {
			/* "%k" SEP "%s\n", SEP's own % and \ kept literal */
			size_t n = strlen(optarg), k = 0;
			const char *s;
			free(ksep_fmt);
			if (!n || !(ksep_fmt = malloc(2 * n + 8))) {
				kst_err("--key-separator must not be empty");
				ksep_fmt = NULL;
				goto out;
			}
			ksep_fmt[k++] = '%';
			ksep_fmt[k++] = 'k';
			for (s = optarg; *s; s++) {
				if (*s == '%' || *s == '\\')
					ksep_fmt[k++] = *s;
				ksep_fmt[k++] = *s;
			}
			memcpy(ksep_fmt + k, "%s\\n", 5);
			break;
		}
		}
	}
	if (kst_operands(&args, NULL, "topic", &r.topic) < 0)
		goto out;
	if (exit_flag && follow) {
		kst_err("--exit or --follow, not both");
		goto out;
	}
	if (json && fmt) {
		kst_err("--format or --json, not both");
		goto out;
	}
	if (fmt && !format_ok(fmt))
		goto out;
	if (!fmt && !json)
		fmt = ksep_fmt ? ksep_fmt : "%s\\n";
	if (ts >= 0 && offset_arg) {
		kst_err("--offset or --timestamp, not both");
		goto out;
	}
	if (r.group && nwant) {
		kst_err("--group or --partition, not both (a group's members "
		    "share the partitions)");
		goto out;
	}
	if (r.group && (ts >= 0 || negative || offset >= 0)) {
		kst_err("with --group, --offset is beginning or end (where to "
		    "start without a committed offset); to move a group, use "
		    "kstream groups reset-offsets");
		goto out;
	}
	if (kst_target_check(&t) != 0)
		goto out;

	ret = KST_EXIT_FAIL;
	/* a group commits: its store must be open for writing */
	if (t.store_dir && kst_target_store(&t, r.group != NULL) != 0)
		goto out;
	if (r.group && t.store_rdonly) {
		kst_err("store %s is held by another process: consume by "
		    "group through --broker", t.store_dir);
		goto out;
	}
	if (kst_target_topic(&t, r.group != NULL, r.topic, want, nwant,
	        &ti) != 0)
		goto out;
	r.admin = t.admin;

	cc.group_id = r.group;
	cc.client_id = "kstream";
	cc.enable_auto_commit = 0;
	cc.auto_offset_reset = offset == KS_OFFSET_END ? KS_RESET_LATEST :
	    KS_RESET_EARLIEST;
	cc.rebalance_cb = on_rebalance;
	cc.opaque = &r;
	if (t.store_dir) {
		rc = ks_consumer_new(t.store, &cc, &r.c);
	} else {
#ifdef KS_WITH_NET
		ks_remote_config_t rcfg;
		kst_target_remote(&t, &rcfg);
		rc = ks_consumer_connect(t.broker, &cc, &rcfg, &r.c);
#endif
	}
	if (rc) {
		kst_errk(rc, "cannot make a consumer");
		goto out;
	}

	if (r.group) {
		const char *topics[1] = { r.topic };
		if ((rc = ks_consumer_subscribe(r.c, topics, 1)) != 0) {
			kst_errk(rc, "cannot join group %s", r.group);
			goto out;
		}
	} else {
		/* every partition's start, resolved now against the ends
		 * the description gave */
		size_t np = nwant ? nwant : (size_t)ti->partition_count;
		if (!(assign = calloc(np ? np : 1, sizeof *assign))) {
			kst_errk(KS_ENOMEM, "assigning");
			goto out;
		}
		for (i = 0; i < np; i++) {
			int32_t p = nwant ? want[i] : (int32_t)i;
			const ks_partition_info_t *pi = &ti->partitions[p];
			struct part *pp = part_get(&r, p);
			int64_t at;
			if (!pp) {
				kst_errk(KS_ENOMEM, "assigning");
				goto out;
			}
			if (pi->error) {
				kst_errk(pi->error, "%s [%" PRId32 "]",
				    r.topic, p);
				goto out;
			}
			pp->end = pi->end_offset;
			if (ts >= 0) {
				rc = ks_admin_list_offset(t.admin, r.topic, p,
				    ts, &at);
				if (rc) {
					kst_errk(rc, "cannot find time %" PRId64
					    " in %s [%" PRId32 "]", ts,
					    r.topic, p);
					goto out;
				}
			} else if (offset == KS_OFFSET_BEGINNING) {
				at = pi->start_offset;
			} else if (offset == KS_OFFSET_END) {
				at = pi->end_offset;
			} else if (negative) {
				at = pi->end_offset - offset;
			} else {
				at = offset;
			}
			/* out of range: the nearest end, as auto.offset.reset
			 * would */
			if (at < pi->start_offset)
				at = pi->start_offset;
			if (at > pi->end_offset)
				at = pi->end_offset;
			assign[nassign].topic = r.topic;
			assign[nassign].partition = p;
			assign[nassign].offset = at;
			nassign++;
		}
		if ((rc = ks_consumer_assign(r.c, assign, nassign)) != 0) {
			kst_errk(rc, "cannot read %s", r.topic);
			goto out;
		}
	}

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	clock_gettime(CLOCK_MONOTONIC, &last_commit);

	rc = 0;
	while (!stop_signal && (count < 0 || printed < count)) {
		const ks_message_t *m;
		int n, err = 0;

		if (!follow && at_end(&r, &err))
			break;
		if (err) {
			kst_errk(err, "reading %s", r.topic);
			rc = err;
			break;
		}
		n = ks_consumer_poll(r.c, 200, &m);
		if (n < 0) {
			if (n == KS_ETHREAD || stop_signal)
				continue;
			kst_errk(n, "reading %s", r.topic);
			rc = n;
			break;
		}
		for (i = 0; i < (size_t)n && (count < 0 || printed < count);
		    i++) {
			struct part *pp;
			if (strcmp(m[i].topic, r.topic) != 0)
				continue;
			if (json)
				put_json(o, &m[i]);
			else
				put_format(o, fmt, &m[i]);
			if ((pp = part_get(&r, m[i].partition)) != NULL)
				pp->next = m[i].rec.offset + 1;
			printed++;
		}
		if (fflush(o) != 0 || ferror(o)) {
			if (errno != EPIPE) {
				kst_errk(-errno, "writing the records");
				rc = -errno;
			}
			break;
		}
		if (r.commit_err) {
			kst_errk(r.commit_err, "cannot commit for group %s",
			    r.group);
			rc = r.commit_err;
			break;
		}
		if (r.group && follow) {
			/* a long-running member commits now and then */
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - last_commit.tv_sec >= 5) {
				const ks_topic_partition_t *a;
				size_t na;
				last_commit = now;
				if (ks_consumer_assignment(r.c, &a, &na) == 0)
					(void)commit_printed(&r, a, na,
					    KS_COMMIT_ASYNC);
			}
		}
	}
	if (r.group) {
		const ks_topic_partition_t *a;
		const ks_message_t *m;
		size_t na;
		int crc, tries;
		for (tries = 0;; tries++) {
			crc = ks_consumer_assignment(r.c, &a, &na);
			if (crc == 0)
				crc = commit_printed(&r, a, na, 0);
			if (crc != KS_EREBALANCE || tries == 50)
				break;
			/* Stopped mid-rebalance (a member came or went):
			 * polls finish it (records they fetch are not
			 * printed, and only printed ones are committed);
			 * then what is still ours is committed, and what was
			 * taken was committed when it was revoked. */
			if (ks_consumer_poll(r.c, 200, &m) > 0)
				ks_consumer_release(r.c);
		}
		if (crc) {
			kst_errk(crc, "cannot commit for group %s", r.group);
			rc = crc;
		}
	}
	ret = rc ? KST_EXIT_FAIL : KST_EXIT_OK;
out:
	if (r.c) {
		int crc = ks_consumer_close(r.c);
		if (crc && ret == KST_EXIT_OK) {
			kst_errk(crc, "closing the consumer");
			ret = KST_EXIT_FAIL;
		}
	}
	if (ti)
		ks_admin_topics_free(ti);
	free(assign);
	free(want);
	free(ksep_fmt);
	free(r.parts);
	kst_target_close(&t);
	return ret;
}
