/*
 * topics.c: kstream topics list|create|describe|alter|delete, as
 * kafka-topics.sh (and kafka-configs.sh for a topic's properties) does
 * it, on a store or a broker through the admin API (admin.h).
 */
#define _GNU_SOURCE
#include "tool.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_PARTITIONS = KST_OPT_FIRST_FREE,
	OPT_CONFIG,
	OPT_DELETE_CONFIG,
	OPT_INTERNAL,
};

static const struct option longopts[] = {
	KST_TARGET_LONGOPTS,
	{ "partitions", required_argument, NULL, OPT_PARTITIONS },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "delete-config", required_argument, NULL, OPT_DELETE_CONFIG },
	{ "internal", no_argument, NULL, OPT_INTERNAL },
	{ "long", no_argument, NULL, 'l' },
	KST_LONGOPTS_END,
};

static const char usage[] =
    "usage: kstream topics list [-l] [--internal]\n"
    "       kstream topics create NAME [--partitions N] "
    "[--config K=V]...\n"
    "       kstream topics describe NAME\n"
    "       kstream topics alter NAME [--config K=V]... "
    "[--delete-config K]...\n"
    "                            [--partitions N]\n"
    "       kstream topics delete NAME\n\n"
    "  -l, --long           list: with each topic's partition count\n"
    "  --internal           list: include internal topics "
    "(__consumer_offsets)\n"
    "  --partitions N       create: N partitions (default: the "
    "target's);\n"
    "                       alter: grow the topic to N partitions\n"
    "  --config K=V         a topic property by Kafka's name "
    "(retention.ms=...)\n"
    "  --delete-config K    alter: return K to its default\n\n"
    KST_TARGET_HELP;

/* The --config arguments as the NULL-terminated pairs admin.h takes. */
struct pairs {
	const char **v;
	size_t n;
};

static int pairs_add(struct pairs *p, const char *k, size_t klen,
    const char *val)
{
	const char **nv = realloc(p->v, (p->n + 3) * sizeof *nv);
	char *key;
	if (!nv || !(key = strndup(k, klen))) {
		if (nv)
			p->v = nv;
		kst_errk(KS_ENOMEM, "--config");
		return -1;
	}
	p->v = nv;
	p->v[p->n++] = key;
	p->v[p->n++] = val;
	p->v[p->n] = NULL;
	return 0;
}

static void pairs_free(struct pairs *p)
{
	size_t i;
	for (i = 0; i < p->n; i += 2)
		free((char *)p->v[i]);
	free(p->v);
}

static int list(kst_target_t *t, int lng, int internal)
{
	ks_topic_info_t *ts;
	size_t n, i;
	int rc, w = 5;

	if ((rc = kst_target_admin(t, 0)) != 0)
		return KST_EXIT_FAIL;
	rc = ks_admin_list_topics(t->admin, internal ? KS_ADMIN_INTERNAL : 0,
	    &ts, &n);
	if (rc) {
		kst_errk(rc, "cannot list topics");
		return KST_EXIT_FAIL;
	}
	for (i = 0; i < n; i++)
		w = kst_width(w, ts[i].name);
	if (lng)
		printf("%-*s  %s\n", w, "TOPIC", "PARTITIONS");
	for (i = 0; i < n; i++) {
		if (ts[i].internal && !internal)
			continue;
		if (lng)
			printf("%-*s  %" PRId32 "\n", w, ts[i].name,
			    ts[i].partition_count);
		else
			printf("%s\n", ts[i].name);
	}
	ks_admin_topics_free(ts);
	return KST_EXIT_OK;
}

static int describe(kst_target_t *t, const char *name)
{
	ks_topic_info_t *ti;
	size_t i;
	int32_t p;
	int rc;

	if ((rc = kst_target_admin(t, 0)) != 0)
		return KST_EXIT_FAIL;
	if ((rc = ks_admin_describe_topic(t->admin, name, &ti)) != 0) {
		kst_errk(rc, "cannot describe %s", name);
		return KST_EXIT_FAIL;
	}
	printf("Topic: %s\tPartitions: %" PRId32 "%s\n", ti->name,
	    ti->partition_count, ti->internal ? "\tInternal" : "");
	printf("%9s  %20s  %20s  %6s\n", "PARTITION", "START-OFFSET",
	    "END-OFFSET", "LEADER");
	for (p = 0; ti->partitions && p < ti->partition_count; p++) {
		const ks_partition_info_t *pi = &ti->partitions[p];
		char lead[16];
		if (pi->leader >= 0)
			snprintf(lead, sizeof lead, "%" PRId32, pi->leader);
		else
			snprintf(lead, sizeof lead, "-");
		if (pi->error)
			printf("%9" PRId32 "  %20s  %20s  %6s  (%s)\n",
			    pi->partition, "?", "?", lead,
			    ks_strerror(pi->error));
		else
			printf("%9" PRId32 "  %20" PRId64 "  %20" PRId64
			    "  %6s\n", pi->partition, pi->start_offset,
			    pi->end_offset, lead);
	}
	printf("Configs (* set for this topic):\n");
	for (i = 0; i < ti->config_count; i++)
		printf("%c %s=%s\n", ti->configs[i].is_default ? ' ' : '*',
		    ti->configs[i].name,
		    ti->configs[i].value ? ti->configs[i].value : "");
	ks_admin_topics_free(ti);
	return KST_EXIT_OK;
}

static int create(kst_target_t *t, const char *name, int64_t partitions,
    const struct pairs *cfg)
{
	int rc;

	t->store_create = 1;
	if ((rc = kst_target_admin(t, 1)) != 0)
		return KST_EXIT_FAIL;
	rc = ks_admin_create_topic(t->admin, name, (int32_t)partitions,
	    cfg->v);
	if (rc == KS_EEXIST)
		kst_err("topic %s already exists", name);
	else if (rc)
		kst_errk(rc, "cannot create topic %s", name);
	else
		printf("created topic %s\n", name);
	return rc ? KST_EXIT_FAIL : KST_EXIT_OK;
}

static int alter(kst_target_t *t, const char *name, int64_t partitions,
    const struct pairs *cfg)
{
	int rc;

	if ((rc = kst_target_admin(t, 1)) != 0)
		return KST_EXIT_FAIL;
	if (cfg->n && (rc = ks_admin_alter_topic(t->admin, name, cfg->v))) {
		kst_errk(rc, "cannot alter %s", name);
		return KST_EXIT_FAIL;
	}
	if (partitions > 0) {
		rc = ks_admin_add_partitions(t->admin, name,
		    (int32_t)partitions);
		if (rc == KS_EINVAL)
			kst_err("cannot grow %s to %" PRId64 " partitions: "
			    "a topic's partition count can only grow", name,
			    partitions);
		else if (rc)
			kst_errk(rc, "cannot grow %s to %" PRId64
			    " partitions", name, partitions);
		if (rc)
			return KST_EXIT_FAIL;
	}
	printf("altered topic %s\n", name);
	return KST_EXIT_OK;
}

static int delete(kst_target_t *t, const char *name)
{
	int rc;

	if ((rc = kst_target_admin(t, 1)) != 0)
		return KST_EXIT_FAIL;
	if ((rc = ks_admin_delete_topic(t->admin, name)) != 0) {
		kst_errk(rc, "cannot delete %s", name);
		return KST_EXIT_FAIL;
	}
	printf("deleted topic %s\n", name);
	return KST_EXIT_OK;
}

int kst_topics(int argc, char **argv)
{
	static const char *const actions[] = { "list", "create", "describe",
		"alter", "delete", NULL };
	kst_target_t t;
	kst_args_t args = { argc, argv, ":l", longopts, usage, &t, 0 };
	struct pairs cfg = { NULL, 0 };
	int64_t partitions = 0;
	int opt, lng = 0, internal = 0, ret = KST_EXIT_USAGE, a;
	const char *name = NULL, *eq;

	kst_target_init(&t);
	while ((opt = kst_getopt(&args)) != -1) {
		switch (opt) {
		case KST_OPT_EXIT:
			ret = args.status;
			goto out;
		case 'l':
			lng = 1;
			break;
		case OPT_INTERNAL:
			internal = 1;
			break;
		case OPT_PARTITIONS:
			if (kst_opt_int("--partitions", optarg, 1, INT32_MAX,
			        "a count >= 1", &partitions) != 0)
				goto out;
			break;
		case OPT_CONFIG:
			if (!(eq = strchr(optarg, '=')) || eq == optarg) {
				kst_err("--config wants NAME=VALUE, not '%s'",
				    optarg);
				goto out;
			}
			if (pairs_add(&cfg, optarg, (size_t)(eq - optarg),
			        eq + 1) != 0) {
				ret = KST_EXIT_FAIL;
				goto out;
			}
			break;
		case OPT_DELETE_CONFIG:
			if (!*optarg) {
				kst_err("--delete-config wants a name");
				goto out;
			}
			if (pairs_add(&cfg, optarg, strlen(optarg), "") != 0) {
				ret = KST_EXIT_FAIL;
				goto out;
			}
			break;
		}
	}
	if ((a = kst_operands(&args, actions, "topic", &name)) < 0)
		goto out;
	if ((lng || internal) && a != 0) {
		kst_err("-l and --internal go with list");
		goto out;
	}
	if (cfg.n && a != 1 && a != 3) {
		kst_err("--config and --delete-config go with create and "
		    "alter");
		goto out;
	}
	if (partitions && a != 1 && a != 3) {
		kst_err("--partitions goes with create and alter");
		goto out;
	}
	if (a == 1) {
		size_t i;
		for (i = 1; i < cfg.n; i += 2)
			if (!*cfg.v[i]) {
				kst_err("create: --config %s wants a value",
				    cfg.v[i - 1]);
				goto out;
			}
	}
	if (a == 3 && !cfg.n && !partitions) {
		kst_err("alter: nothing to change: give --config, "
		    "--delete-config or --partitions");
		goto out;
	}
	if (kst_target_check(&t) != 0)
		goto out;

	switch (a) {
	case 0:
		ret = list(&t, lng, internal);
		break;
	case 1:
		ret = create(&t, name, partitions, &cfg);
		break;
	case 2:
		ret = describe(&t, name);
		break;
	case 3:
		ret = alter(&t, name, partitions, &cfg);
		break;
	default:
		ret = delete(&t, name);
		break;
	}
out:
	pairs_free(&cfg);
	kst_target_close(&t);
	return ret;
}
