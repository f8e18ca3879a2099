/*
 * groups.c: kstream groups list|describe|reset-offsets|delete, as
 * kafka-consumer-groups.sh does it: members and their partitions,
 * committed offsets and lag, and moving a stopped group's offsets (a
 * dry run unless --execute).
 */
#define _GNU_SOURCE
#include "tool.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_TOPIC = KST_OPT_FIRST_FREE,
	OPT_ALL_TOPICS,
	OPT_EARLIEST,
	OPT_LATEST,
	OPT_TO_OFFSET,
	OPT_SHIFT_BY,
	OPT_TO_DATETIME,
	OPT_EXECUTE,
	OPT_DRY_RUN,
};

static const struct option longopts[] = {
	KST_TARGET_LONGOPTS,
	{ "long", no_argument, NULL, 'l' },
	{ "topic", required_argument, NULL, OPT_TOPIC },
	{ "all-topics", no_argument, NULL, OPT_ALL_TOPICS },
	{ "to-earliest", no_argument, NULL, OPT_EARLIEST },
	{ "to-latest", no_argument, NULL, OPT_LATEST },
	{ "to-offset", required_argument, NULL, OPT_TO_OFFSET },
	{ "shift-by", required_argument, NULL, OPT_SHIFT_BY },
	{ "to-datetime", required_argument, NULL, OPT_TO_DATETIME },
	{ "execute", no_argument, NULL, OPT_EXECUTE },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	KST_LONGOPTS_END,
};

static const char usage[] =
    "usage: kstream groups list [-l]\n"
    "       kstream groups describe GROUP\n"
    "       kstream groups reset-offsets GROUP\n"
    "               (--topic T[:P[,P...]]... | --all-topics)\n"
    "               (--to-earliest | --to-latest | --to-offset N |\n"
    "                --shift-by N | --to-datetime T) [--execute]\n"
    "       kstream groups delete GROUP\n\n"
    "  -l, --long          list: with each group's state and "
    "protocol type\n"
    "  --topic T[:P,...]   reset-offsets: these partitions of T "
    "(default all)\n"
    "  --all-topics        reset-offsets: every partition the group "
    "committed\n"
    "  --to-earliest       to each partition's first offset\n"
    "  --to-latest         to each partition's end\n"
    "  --to-offset N       to offset N (kept within the log)\n"
    "  --shift-by N        N (may be negative) from the committed "
    "offset\n"
    "  --to-datetime T     to the first record at or after T "
    "(milliseconds\n"
    "                      or ISO 8601, such as "
    "2024-05-01T12:00:00Z)\n"
    "  --execute           commit the new offsets (without it: a dry "
    "run that\n"
    "                      prints the plan and changes nothing)\n\n"
    KST_TARGET_HELP;

static int list(kst_target_t *t, int lng)
{
	ks_group_listing_t *gs;
	size_t n, i;
	int rc, w = 5;

	if (kst_target_admin(t, 0) != 0)
		return KST_EXIT_FAIL;
	if ((rc = ks_admin_list_groups(t->admin, &gs, &n)) != 0) {
		kst_errk(rc, "cannot list groups");
		return KST_EXIT_FAIL;
	}
	for (i = 0; i < n; i++)
		w = kst_width(w, gs[i].group_id);
	if (lng)
		printf("%-*s  %-19s  %s\n", w, "GROUP", "STATE",
		    "PROTOCOL-TYPE");
	for (i = 0; i < n; i++) {
		if (lng)
			printf("%-*s  %-19s  %s\n", w, gs[i].group_id,
			    ks_group_state_name(gs[i].state),
			    gs[i].protocol_type && *gs[i].protocol_type ?
			    gs[i].protocol_type : "-");
		else
			printf("%s\n", gs[i].group_id);
	}
	ks_group_list_free(gs);
	return KST_EXIT_OK;
}

/* A row of describe's partition table. */
struct row {
	const char *topic;
	int32_t partition;
	int64_t committed;       /* -1: none */
	const char *member;      /* NULL: no member owns it */
	const char *client_id, *host;
};

/* The order of the tables' rows: by topic, then partition. */
static int tp_cmp(const char *ta, int32_t pa, const char *tb, int32_t pb)
{
	int c = strcmp(ta, tb);
	if (c)
		return c;
	return (pa > pb) - (pa < pb);
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	return tp_cmp(x->topic, x->partition, y->topic, y->partition);
}

static struct row *row_find(struct row *rows, size_t n, const char *topic,
    int32_t p)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (rows[i].partition == p && strcmp(rows[i].topic, topic) == 0)
			return &rows[i];
	return NULL;
}

static int describe(kst_target_t *t, const char *group)
{
	ks_group_info_t *gi = NULL;
	ks_committed_t *co = NULL;
	ks_assignment_t **as = NULL;
	struct row *rows = NULL;
	size_t nco = 0, nrows = 0, cap = 0, i, j, k;
	int rc, ret = KST_EXIT_FAIL, wt = 5, wm = 9;

	if (kst_target_admin(t, 0) != 0)
		return KST_EXIT_FAIL;
	if ((rc = ks_admin_describe_group(t->admin, group, &gi)) != 0 ||
	    (rc = ks_admin_group_offsets(t->admin, group, &co, &nco)) != 0) {
		kst_errk(rc, "cannot describe group %s", group);
		goto out;
	}
	if (gi->state == KS_GROUP_DEAD && gi->member_count == 0 && !nco) {
		kst_err("unknown group %s", group);
		goto out;
	}
	if (!(as = calloc(gi->member_count + 1, sizeof *as)))
		goto nomem;
	cap = nco + 16;
	if (!(rows = calloc(cap, sizeof *rows)))
		goto nomem;
	for (i = 0; i < nco; i++) {
		rows[nrows].topic = co[i].topic;
		rows[nrows].partition = co[i].partition;
		rows[nrows].committed = co[i].offset;
		nrows++;
	}

	printf("Group: %s\tState: %s\tProtocol: %s%s%s", gi->group_id,
	    ks_group_state_name(gi->state),
	    *gi->protocol_type ? gi->protocol_type : "-",
	    *gi->protocol_name ? "/" : "", gi->protocol_name);
	/* DescribeGroups does not carry the generation: -1 from a broker */
	if (gi->generation >= 0)
		printf("\tGeneration: %" PRId32, gi->generation);
	printf("\tMembers: %zu\n", gi->member_count);
	for (i = 0; i < gi->member_count; i++) {
		const ks_group_member_info_t *m = &gi->members[i];
		wm = kst_width(wm, m->member_id);
		/* a consumer's assignment is ConsumerProtocol; others' are
		 * not ours to read */
		if (m->assignment_len && !strcmp(gi->protocol_type,
		        "consumer") && ks_assignment_decode(m->assignment,
		        m->assignment_len, &as[i]) != 0)
			as[i] = NULL;
	}
	if (gi->member_count) {
		printf("%-*s  %-16s  %-16s  %s\n", wm, "MEMBER-ID",
		    "CLIENT-ID", "HOST", "PARTITIONS");
		for (i = 0; i < gi->member_count; i++) {
			const ks_group_member_info_t *m = &gi->members[i];
			printf("%-*s  %-16s  %-16s  ", wm, m->member_id,
			    m->client_id, m->client_host);
			if (!as[i] || !as[i]->assigned_count)
				printf("-");
			for (j = 0; as[i] && j < as[i]->assigned_count; j++) {
				const ks_partition_list_t *pl =
				    &as[i]->assigned[j];
				printf("%s%s:", j ? " " : "", pl->topic);
				for (k = 0; k < pl->partition_count; k++)
					printf("%s%" PRId32, k ? "," : "",
					    pl->partitions[k]);
			}
			printf("\n");
		}
	}
	/* every assigned partition gets a row, committed or not */
	for (i = 0; i < gi->member_count; i++) {
		for (j = 0; as[i] && j < as[i]->assigned_count; j++) {
			const ks_partition_list_t *pl = &as[i]->assigned[j];
			for (k = 0; k < pl->partition_count; k++) {
				struct row *r = row_find(rows, nrows,
				    pl->topic, pl->partitions[k]);
				if (!r) {
					if (nrows == cap) {
						struct row *nr = realloc(rows,
						    2 * cap * sizeof *nr);
						if (!nr)
							goto nomem;
						rows = nr;
						cap *= 2;
					}
					r = &rows[nrows++];
					memset(r, 0, sizeof *r);
					r->topic = pl->topic;
					r->partition = pl->partitions[k];
					r->committed = -1;
				}
				r->member = gi->members[i].member_id;
			}
		}
	}
	qsort(rows, nrows, sizeof *rows, row_cmp);
	for (i = 0; i < nrows; i++)
		wt = kst_width(wt, rows[i].topic);
	printf("\n%-*s  %9s  %14s  %14s  %10s  %s\n", wt, "TOPIC", "PARTITION",
	    "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID");
	for (i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		char cur[24], end[24], lag[24];
		int64_t e;
		if (r->committed >= 0)
			snprintf(cur, sizeof cur, "%" PRId64, r->committed);
		else
			snprintf(cur, sizeof cur, "-");
		rc = ks_admin_list_offset(t->admin, r->topic, r->partition,
		    KS_OFFSET_END, &e);
		if (rc == 0) {
			snprintf(end, sizeof end, "%" PRId64, e);
			if (r->committed >= 0)
				snprintf(lag, sizeof lag, "%" PRId64,
				    e > r->committed ? e - r->committed : 0);
			else
				snprintf(lag, sizeof lag, "-");
		} else if (rc == KS_ETOPIC || rc == KS_EPARTITION) {
			snprintf(end, sizeof end, "-");
			snprintf(lag, sizeof lag, "-");
		} else {
			kst_errk(rc, "cannot read the end of %s [%" PRId32 "]",
			    r->topic, r->partition);
			goto out;
		}
		printf("%-*s  %9" PRId32 "  %14s  %14s  %10s  %s\n", wt,
		    r->topic, r->partition, cur, end, lag,
		    r->member ? r->member : "-");
	}
	ret = KST_EXIT_OK;
	goto out;
nomem:
	kst_errk(KS_ENOMEM, "describing %s", group);
out:
	for (i = 0; as && gi && i < gi->member_count; i++)
		ks_assignment_free(as[i]);
	free(as);
	free(rows);
	if (co)
		ks_committed_free(co);
	if (gi)
		ks_group_info_free(gi);
	return ret;
}

/* ---- reset-offsets -------------------------------------------------- */

enum { TO_NONE, TO_EARLIEST, TO_LATEST, TO_OFFSET, TO_SHIFT, TO_TIME };

/* One --topic T[:P,...]. */
struct tsel {
	char *topic;
	int32_t *parts;     /* NULL: every partition */
	size_t nparts;
};

static int tsel_parse(const char *arg, struct tsel *s)
{
	const char *colon = strrchr(arg, ':');
	memset(s, 0, sizeof *s);
	if (!colon) {
		s->topic = strdup(arg);
		return s->topic && *arg ? 0 : -1;
	}
	if (colon == arg || !(s->topic = strndup(arg, (size_t)(colon - arg))))
		return -1;
	for (arg = colon + 1;;) {
		const char *e = strchr(arg, ',');
		char num[16];
		size_t l = e ? (size_t)(e - arg) : strlen(arg);
		int64_t v;
		int32_t *np;
		if (l == 0 || l >= sizeof num)
			return -1;
		memcpy(num, arg, l);
		num[l] = '\0';
		if (kst_parse_int(num, 0, INT32_MAX, &v) != 0)
			return -1;
		if (!(np = realloc(s->parts, (s->nparts + 1) * sizeof *np)))
			return -1;
		s->parts = np;
		s->parts[s->nparts++] = (int32_t)v;
		if (!e)
			return 0;
		arg = e + 1;
	}
}

struct plan {
	ks_topic_partition_t *v;
	int64_t *current;
	size_t n, cap;
};

static int plan_add(struct plan *pl, const char *topic, int32_t p)
{
	size_t i;
	for (i = 0; i < pl->n; i++)
		if (pl->v[i].partition == p && !strcmp(pl->v[i].topic, topic))
			return 0;
	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 16;
		ks_topic_partition_t *nv = realloc(pl->v, cap * sizeof *nv);
		int64_t *nc;
		if (!nv)
			return -1;
		pl->v = nv;
		if (!(nc = realloc(pl->current, cap * sizeof *nc)))
			return -1;
		pl->current = nc;
		pl->cap = cap;
	}
	pl->v[pl->n].topic = topic;
	pl->v[pl->n].partition = p;
	pl->v[pl->n].offset = -1;
	pl->current[pl->n] = -1;
	pl->n++;
	return 0;
}

static int plan_cmp(const void *a, const void *b)
{
	const ks_topic_partition_t *x = a, *y = b;
	return tp_cmp(x->topic, x->partition, y->topic, y->partition);
}

static int reset(kst_target_t *t, const char *group, struct tsel *sel,
    size_t nsel, int all_topics, int to, int64_t arg, int execute)
{
	ks_committed_t *co = NULL;
	ks_group_info_t *gi = NULL;
	struct plan pl = { NULL, NULL, 0, 0 };
	size_t nco = 0, i, j;
	int rc, ret = KST_EXIT_FAIL, wt = 5;

	if (kst_target_admin(t, execute) != 0)
		return KST_EXIT_FAIL;
	if ((rc = ks_admin_group_offsets(t->admin, group, &co, &nco)) != 0 ||
	    (rc = ks_admin_describe_group(t->admin, group, &gi)) != 0) {
		kst_errk(rc, "cannot read group %s", group);
		goto out;
	}
	if (gi->member_count) {
		/* Kafka's rule: offsets move only under a stopped group */
		kst_err("group %s has %zu active member%s (state %s): stop "
		    "its consumers first", group, gi->member_count,
		    gi->member_count == 1 ? "" : "s",
		    ks_group_state_name(gi->state));
		goto out;
	}
	if (all_topics) {
		for (i = 0; i < nco; i++)
			if (plan_add(&pl, co[i].topic, co[i].partition) != 0)
				goto nomem;
		if (!pl.n) {
			kst_err("group %s has no committed offsets: name the "
			    "topics with --topic", group);
			goto out;
		}
	}
	for (i = 0; i < nsel; i++) {
		ks_topic_info_t *ti;
		size_t np;
		if ((rc = kst_target_topic(t, execute, sel[i].topic,
		         sel[i].parts, sel[i].nparts, &ti)) != 0)
			goto out;
		/* the partitions named, else every one */
		np = sel[i].parts ? sel[i].nparts : (size_t)ti->partition_count;
		for (j = 0; j < np && rc == 0; j++)
			if (plan_add(&pl, sel[i].topic, sel[i].parts ?
			        sel[i].parts[j] : (int32_t)j) != 0)
				rc = KS_ENOMEM;
		ks_admin_topics_free(ti);
		if (rc)
			goto nomem;
	}
	qsort(pl.v, pl.n, sizeof *pl.v, plan_cmp);
	for (i = 0; i < pl.n; i++) {
		ks_topic_partition_t *p = &pl.v[i];
		int64_t start, end, cur = -1, to_off;
		for (j = 0; j < nco; j++)
			if (co[j].partition == p->partition &&
			    !strcmp(co[j].topic, p->topic))
				cur = co[j].offset;
		pl.current[i] = cur;
		if ((rc = ks_admin_list_offset(t->admin, p->topic,
		         p->partition, KS_OFFSET_BEGINNING, &start)) != 0 ||
		    (rc = ks_admin_list_offset(t->admin, p->topic,
		         p->partition, KS_OFFSET_END, &end)) != 0) {
			kst_errk(rc, "cannot read the offsets of %s [%" PRId32
			    "]", p->topic, p->partition);
			goto out;
		}
		switch (to) {
		case TO_EARLIEST:
			to_off = start;
			break;
		case TO_LATEST:
			to_off = end;
			break;
		case TO_OFFSET:
			to_off = arg;
			break;
		case TO_SHIFT:
			if (cur < 0) {
				kst_err("%s has no committed offset for %s "
				    "[%" PRId32 "] to shift", group, p->topic,
				    p->partition);
				goto out;
			}
			to_off = cur + arg;
			break;
		default:
			if ((rc = ks_admin_list_offset(t->admin, p->topic,
			         p->partition, arg, &to_off)) != 0) {
				kst_errk(rc, "cannot find the time in %s [%"
				    PRId32 "]", p->topic, p->partition);
				goto out;
			}
			break;
		}
		/* kept within the log, as Kafka does */
		if (to_off < start)
			to_off = start;
		if (to_off > end)
			to_off = end;
		p->offset = to_off;
		wt = kst_width(wt, p->topic);
	}
	printf("%-*s  %9s  %14s  %10s\n", wt, "TOPIC", "PARTITION",
	    "CURRENT-OFFSET", "NEW-OFFSET");
	for (i = 0; i < pl.n; i++) {
		char cur[24];
		if (pl.current[i] >= 0)
			snprintf(cur, sizeof cur, "%" PRId64, pl.current[i]);
		else
			snprintf(cur, sizeof cur, "-");
		printf("%-*s  %9" PRId32 "  %14s  %10" PRId64 "\n", wt,
		    pl.v[i].topic, pl.v[i].partition, cur, pl.v[i].offset);
	}
	if (!execute) {
		fflush(stdout);
		fprintf(stderr, "%s: dry run: nothing changed (--execute "
		    "commits these offsets)\n", kst_cmd);
		ret = KST_EXIT_OK;
		goto out;
	}
	rc = ks_admin_commit_offsets(t->admin, group, pl.v, pl.n);
	if (rc == KS_EBUSY)
		kst_err("group %s has active members: stop its consumers "
		    "first", group);
	else if (rc)
		kst_errk(rc, "cannot commit the offsets of %s", group);
	else
		ret = KST_EXIT_OK;
	goto out;
nomem:
	kst_errk(KS_ENOMEM, "planning");
out:
	free(pl.v);
	free(pl.current);
	if (co)
		ks_committed_free(co);
	if (gi)
		ks_group_info_free(gi);
	return ret;
}

static int delete(kst_target_t *t, const char *group)
{
	int rc;

	if (kst_target_admin(t, 1) != 0)
		return KST_EXIT_FAIL;
	rc = ks_admin_delete_group(t->admin, group);
	if (rc == KS_EGROUP)
		kst_err("unknown group %s", group);
	else if (rc == KS_EBUSY)
		kst_err("group %s has active members: stop its consumers "
		    "first", group);
	else if (rc)
		kst_errk(rc, "cannot delete group %s", group);
	else
		printf("deleted group %s\n", group);
	return rc ? KST_EXIT_FAIL : KST_EXIT_OK;
}

int kst_groups(int argc, char **argv)
{
	static const char *const actions[] = { "list", "describe",
		"reset-offsets", "delete", NULL };
	kst_target_t t;
	kst_args_t args = { argc, argv, ":l", longopts, usage, &t, 0 };
	struct tsel *sel = NULL;
	size_t nsel = 0, i;
	int64_t arg = 0;
	int opt, ret = KST_EXIT_USAGE, a, lng = 0, all_topics = 0;
	int to = TO_NONE, execute = 0, dry_run = 0;
	const char *group = NULL;

	kst_target_init(&t);
	while ((opt = kst_getopt(&args)) != -1) {
		int newto = TO_NONE;
		switch (opt) {
		case KST_OPT_EXIT:
			ret = args.status;
			goto out;
		case 'l':
			lng = 1;
			break;
		case OPT_TOPIC: {
			struct tsel *ns = realloc(sel, (nsel + 1) *
			    sizeof *ns);
			if (!ns) {
				kst_errk(KS_ENOMEM, "--topic");
				ret = KST_EXIT_FAIL;
				goto out;
			}
			sel = ns;
			if (tsel_parse(optarg, &sel[nsel]) != 0) {
				nsel++;
				kst_err("--topic wants TOPIC or TOPIC:P[,P...],"
				    " not '%s'", optarg);
				goto out;
			}
			nsel++;
			break;
		}
		case OPT_ALL_TOPICS:
			all_topics = 1;
			break;
		case OPT_EARLIEST:
			newto = TO_EARLIEST;
			break;
		case OPT_LATEST:
			newto = TO_LATEST;
			break;
		case OPT_TO_OFFSET:
			if (kst_opt_int("--to-offset", optarg, 0, INT64_MAX,
			        "an offset", &arg) != 0)
				goto out;
			newto = TO_OFFSET;
			break;
		case OPT_SHIFT_BY:
			if (kst_opt_int("--shift-by", optarg, INT64_MIN / 2,
			        INT64_MAX / 2, "a number", &arg) != 0)
				goto out;
			newto = TO_SHIFT;
			break;
		case OPT_TO_DATETIME:
			if (kst_opt_time("--to-datetime", optarg, &arg) != 0)
				goto out;
			newto = TO_TIME;
			break;
		case OPT_EXECUTE:
			execute = 1;
			break;
		case OPT_DRY_RUN:
			dry_run = 1;
			break;
		}
		if (newto != TO_NONE) {
			if (to != TO_NONE) {
				kst_err("reset-offsets takes one of "
				    "--to-earliest, --to-latest, --to-offset, "
				    "--shift-by, --to-datetime");
				goto out;
			}
			to = newto;
		}
	}
	if ((a = kst_operands(&args, actions, "group", &group)) < 0)
		goto out;
	if (lng && a != 0) {
		kst_err("-l goes with list");
		goto out;
	}
	if (a != 2 && (nsel || all_topics || to != TO_NONE || execute ||
	        dry_run)) {
		kst_err("--topic, --all-topics, --to-*, --shift-by, --execute "
		    "go with reset-offsets");
		goto out;
	}
	if (a == 2) {
		if (!nsel && !all_topics) {
			kst_err("reset-offsets: which partitions? --topic T "
			    "or --all-topics");
			goto out;
		}
		if (nsel && all_topics) {
			kst_err("reset-offsets: --topic or --all-topics, not "
			    "both");
			goto out;
		}
		if (to == TO_NONE) {
			kst_err("reset-offsets: to where? --to-earliest, "
			    "--to-latest, --to-offset N, --shift-by N or "
			    "--to-datetime T");
			goto out;
		}
		if (execute && dry_run) {
			kst_err("--execute or --dry-run, not both");
			goto out;
		}
	}
	if (kst_target_check(&t) != 0)
		goto out;

	switch (a) {
	case 0:
		ret = list(&t, lng);
		break;
	case 1:
		ret = describe(&t, group);
		break;
	case 2:
		ret = reset(&t, group, sel, nsel, all_topics, to, arg,
		    execute);
		break;
	default:
		ret = delete(&t, group);
		break;
	}
out:
	for (i = 0; i < nsel; i++) {
		free(sel[i].topic);
		free(sel[i].parts);
	}
	free(sel);
	kst_target_close(&t);
	return ret;
}
