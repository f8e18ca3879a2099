/* check_rmeta.c: the cluster metadata image and its commands (no threads). */
#define _GNU_SOURCE
#include "util.h"

#include "replication/meta.h"

#include <stdlib.h>
#include <string.h>

static void run(struct ks__rimage *img, int rc, struct ks__rcmd *cmd)
{
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(ks__rimage_apply(img, cmd->p, cmd->len), 0);
	free(cmd->p);
}

static void reg(struct ks__rimage *img, int32_t id, int unclean)
{
	struct ks__rendpoint ep = { "tcp", "127.0.0.1", 9000 + id };
	struct ks__rcmd c;

	run(img, ks__rcmd_register(&c, id, unclean, &ep, 1), &c);
}

static void fence(struct ks__rimage *img, int32_t id, int on)
{
	struct ks__rcmd c;

	run(img, on ? ks__rcmd_fence(&c, id) : ks__rcmd_unfence(&c, id), &c);
}

static void create(struct ks__rimage *img, const char *name, int32_t n,
    int32_t rf)
{
	int32_t r[64];
	struct ks__rcmd c;

	KT_OK(ks__rassign(img, 0, n, rf, r));
	run(img, ks__rcmd_create_topic(&c, name, "retention.ms=1\n", n, rf,
	    r), &c);
}

static void alter(struct ks__rimage *img, const char *t, int32_t p,
    int32_t leader, int32_t le, int32_t pe, const int32_t *isr, int32_t n)
{
	struct ks__rcmd c;

	run(img, ks__rcmd_alter_isr(&c, t, p, leader, le, pe, isr, n), &c);
}

/* Three brokers and topic "t" of 3 partitions, rf 3. */
static struct ks__rimage *three(int unclean)
{
	struct ks__rimage *img = ks__rimage_new();

	ck_assert_ptr_nonnull(img);
	reg(img, 1, unclean);
	reg(img, 2, 0);
	reg(img, 3, 0);
	create(img, "t", 3, 3);
	return img;
}

static int same_image(const struct ks__rimage *a, const struct ks__rimage *b)
{
	int32_t i;

	if (a->applied != b->applied || a->unclean != b->unclean ||
	    a->nbrokers != b->nbrokers || a->ntopics != b->ntopics)
		return 0;
	if (a->nbrokers && memcmp(a->brokers, b->brokers,
	    (size_t)a->nbrokers * sizeof *a->brokers))
		return 0;
	for (i = 0; i < a->ntopics; i++) {
		const struct ks__rtopic *x = &a->topics[i], *y = &b->topics[i];

		if (strcmp(x->name, y->name) || strcmp(x->configs, y->configs) ||
		    x->nparts != y->nparts)
			return 0;
		if (x->nparts && memcmp(x->parts, y->parts,
		    (size_t)x->nparts * sizeof *x->parts))
			return 0;
	}
	return 1;
}

START_TEST(register_and_create)
{
	struct ks__rimage *img = three(0);
	const struct ks__rtopic *t = ks__rimage_topic(img, "t");
	const struct ks__rendpoint *ep;
	int32_t p, leaders[4] = { 0 };

	ck_assert_int_eq(img->nbrokers, 3);
	ck_assert_int_eq(img->unclean, 0);
	ck_assert_ptr_nonnull(ks__rimage_broker(img, 2));
	ck_assert_int_eq(ks__rimage_broker(img, 2)->fenced, 0);
	ck_assert_ptr_null(ks__rimage_broker(img, 4));
	ep = ks__rimage_endpoint(img, 3, "tcp");
	ck_assert_ptr_nonnull(ep);
	ck_assert_str_eq(ep->host, "127.0.0.1");
	ck_assert_int_eq(ep->port, 9003);
	ck_assert_ptr_null(ks__rimage_endpoint(img, 3, "tls+tcp"));
	ck_assert_ptr_nonnull(ks__rimage_endpoint(img, 3, NULL));
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t->configs, "retention.ms=1\n");
	ck_assert_int_eq(t->nparts, 3);
	/* the assignment spreads leaders: one partition led by each */
	for (p = 0; p < 3; p++) {
		const struct ks__rpart *pp = ks__rimage_part(img, "t", p);

		ck_assert_int_eq(pp->nreplicas, 3);
		ck_assert_int_eq(pp->nisr, 3);
		ck_assert_int_eq(pp->leader, pp->replicas[0]);
		ck_assert_int_eq(pp->leader_epoch, 0);
		ck_assert_int_eq(pp->partition_epoch, 0);
		leaders[pp->leader]++;
	}
	ck_assert_int_eq(leaders[1], 1);
	ck_assert_int_eq(leaders[2], 1);
	ck_assert_int_eq(leaders[3], 1);
	ck_assert_ptr_null(ks__rimage_part(img, "t", 3));
	ck_assert_ptr_null(ks__rimage_part(img, "u", 0));
	/* an existing name: no-op */
	create(img, "t", 1, 1);
	ck_assert_int_eq(ks__rimage_topic(img, "t")->nparts, 3);
	ks__rimage_unref(img);
}
END_TEST

START_TEST(assign_errors)
{
	struct ks__rimage *img = three(0);
	int32_t r[8];

	ck_assert_int_eq(ks__rassign(img, 0, 1, 4, r), KS_EINVAL);
	ck_assert_int_eq(ks__rassign(img, 0, 1, 0, r), KS_EINVAL);
	fence(img, 3, 1);
	ck_assert_int_eq(ks__rassign(img, 0, 1, 3, r), KS_EINVAL);
	KT_OK(ks__rassign(img, 1, 2, 2, r));
	/* deterministic, over the live members only */
	ck_assert_int_eq(r[0], 2);
	ck_assert_int_eq(r[1], 1);
	ck_assert_int_eq(r[2], 1);
	ck_assert_int_eq(r[3], 2);
	ks__rimage_unref(img);
}
END_TEST

START_TEST(fence_elects_from_isr)
{
	struct ks__rimage *img = three(0);
	const struct ks__rpart *p;
	int32_t old_leader, le;

	p = ks__rimage_part(img, "t", 0);
	old_leader = p->leader;
	le = p->leader_epoch;
	ck_assert_int_eq(old_leader, 1);
	fence(img, 1, 1);
	p = ks__rimage_part(img, "t", 0);
	ck_assert_int_eq(ks__rimage_broker(img, 1)->fenced, 1);
	ck_assert_int_eq(p->leader, p->replicas[1]);
	ck_assert_int_eq(p->leader_epoch, le + 1);
	ck_assert_int_eq(p->partition_epoch, 1);
	ck_assert(!ks__rpart_in_isr(p, 1));
	ck_assert_int_eq(p->nisr, 2);
	/* where 1 was a follower: it left the ISR, same leader and epoch */
	p = ks__rimage_part(img, "t", 1);
	ck_assert_int_eq(p->leader, 2);
	ck_assert_int_eq(p->leader_epoch, 0);
	ck_assert_int_eq(p->partition_epoch, 1);
	ck_assert(!ks__rpart_in_isr(p, 1));
	/* fencing again changes nothing */
	fence(img, 1, 1);
	ck_assert_int_eq(ks__rimage_part(img, "t", 1)->partition_epoch, 1);
	ks__rimage_unref(img);
}
END_TEST

START_TEST(offline_keeps_last_isr)
{
	struct ks__rimage *img = three(0);
	const struct ks__rpart *p;

	fence(img, 1, 1);
	fence(img, 2, 1);
	p = ks__rimage_part(img, "t", 0);
	ck_assert_int_eq(p->leader, 3);
	ck_assert_int_eq(p->nisr, 1);
	fence(img, 3, 1);
	p = ks__rimage_part(img, "t", 0);
	ck_assert_int_eq(p->leader, -1);
	ck_assert_int_eq(p->nisr, 1);
	ck_assert_int_eq(p->isr[0], 3);
	ck_assert_int_eq(p->leader_epoch, 3);
	/* unfenced a second time, it still does not lead */
	fence(img, 1, 0);
	p = ks__rimage_part(img, "t", 0);
	ck_assert_int_eq(p->leader, -1);
	/* the last in-sync replica comes back and leads */
	fence(img, 3, 0);
	p = ks__rimage_part(img, "t", 0);
	ck_assert_int_eq(p->leader, 3);
	ck_assert_int_eq(p->leader_epoch, 4);
	ks__rimage_unref(img);
}
END_TEST

START_TEST(unclean_election)
{
	struct ks__rimage *img = three(1);
	const struct ks__rpart *p;

	ck_assert_int_eq(img->unclean, 1);
	fence(img, 1, 1);
	fence(img, 2, 1);
	fence(img, 3, 1);
	ck_assert_int_eq(ks__rimage_part(img, "t", 0)->leader, -1);
	/* re-registering 2 does not change the flag the first set */
	reg(img, 2, 0);
	ck_assert_int_eq(img->unclean, 1);
	p = ks__rimage_part(img, "t", 0);
	ck_assert_int_eq(p->leader, 2);
	ck_assert_int_eq(p->nisr, 1);
	ck_assert_int_eq(p->isr[0], 2);
	ks__rimage_unref(img);
}
END_TEST

START_TEST(alter_isr)
{
	struct ks__rimage *img = three(0);
	const struct ks__rpart *p;
	int32_t isr12[] = { 1, 2 }, isr23[] = { 2, 3 }, isr123[] = { 1, 2, 3 };

	/* partition 0: leader 1, epochs 0/0, ISR {1,2,3} */
	alter(img, "t", 0, 1, 0, 0, isr12, 2);
	p = ks__rimage_part(img, "t", 0);
	ck_assert_int_eq(p->nisr, 2);
	ck_assert_int_eq(p->partition_epoch, 1);
	/* stale partition epoch, wrong leader epoch, wrong leader */
	alter(img, "t", 0, 1, 0, 0, isr123, 3);
	alter(img, "t", 0, 1, 1, 1, isr123, 3);
	alter(img, "t", 0, 2, 0, 1, isr123, 3);
	ck_assert_int_eq(ks__rimage_part(img, "t", 0)->nisr, 2);
	/* drops the leader */
	alter(img, "t", 0, 1, 0, 1, isr23, 2);
	ck_assert_int_eq(ks__rimage_part(img, "t", 0)->partition_epoch, 1);
	/* adds a fenced member */
	fence(img, 3, 1);
	p = ks__rimage_part(img, "t", 0);
	ck_assert_int_eq(p->partition_epoch, 1);
	alter(img, "t", 0, 1, 0, 1, isr123, 3);
	ck_assert_int_eq(ks__rimage_part(img, "t", 0)->nisr, 2);
	/* back, then valid */
	fence(img, 3, 0);
	alter(img, "t", 0, 1, 0, 1, isr123, 3);
	p = ks__rimage_part(img, "t", 0);
	ck_assert_int_eq(p->nisr, 3);
	ck_assert_int_eq(p->partition_epoch, 2);
	ks__rimage_unref(img);
}
END_TEST

START_TEST(delete_and_partitions)
{
	struct ks__rimage *img = three(0);
	struct ks__rcmd c;
	int32_t r[6];

	create(img, "a", 1, 1);
	create(img, "z", 1, 1);
	KT_OK(ks__rassign(img, 3, 2, 3, r));
	run(img, ks__rcmd_create_partitions(&c, "t", 2, 3, r), &c);
	ck_assert_int_eq(ks__rimage_topic(img, "t")->nparts, 5);
	ck_assert_int_eq(ks__rimage_part(img, "t", 4)->leader, r[3]);
	run(img, ks__rcmd_create_partitions(&c, "nope", 2, 3, r), &c);
	ck_assert_ptr_null(ks__rimage_topic(img, "nope"));
	run(img, ks__rcmd_delete_topic(&c, "t"), &c);
	ck_assert_ptr_null(ks__rimage_topic(img, "t"));
	ck_assert_ptr_nonnull(ks__rimage_topic(img, "a"));
	ck_assert_ptr_nonnull(ks__rimage_topic(img, "z"));
	ck_assert_int_eq(img->ntopics, 2);
	run(img, ks__rcmd_delete_topic(&c, "t"), &c);
	ck_assert_int_eq(img->ntopics, 2);
	ks__rimage_unref(img);
}
END_TEST

START_TEST(constructors_refuse)
{
	struct ks__rcmd c;
	int32_t dup[] = { 1, 1 }, neg[] = { -1 };
	char big[70000];

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	ck_assert_int_eq(ks__rcmd_create_topic(&c, "t", "", 1, 2, dup),
	    KS_EINVAL);
	ck_assert_int_eq(ks__rcmd_create_topic(&c, "t", "", 1, 1, neg),
	    KS_EINVAL);
	ck_assert_int_eq(ks__rcmd_create_topic(&c, "", "", 1, 1, dup),
	    KS_EINVAL);
	ck_assert_int_eq(ks__rcmd_create_topic(&c, big, "", 1, 1, dup),
	    KS_EINVAL);
	ck_assert_int_eq(ks__rcmd_create_topic(&c, "t", big, 1, 1, dup),
	    KS_EINVAL);
	ck_assert_int_eq(ks__rcmd_create_topic(&c, "t", "", 1, 17, dup),
	    KS_EINVAL);
	ck_assert_int_eq(ks__rcmd_alter_isr(&c, "t", 0, 1, 0, 0, dup, 0),
	    KS_EINVAL);
	ck_assert_int_eq(ks__rcmd_register(&c, 1, 0, NULL, 5), KS_EINVAL);
}
END_TEST

START_TEST(snapshot_round_trip)
{
	struct ks__rimage *img = three(1), *back, *dup;
	struct ks__rcmd s;

	create(img, "b", 2, 2);
	fence(img, 2, 1);
	img->applied = 77;
	KT_OK(ks__rimage_encode(img, &s));
	KT_OK(ks__rimage_decode(s.p, s.len, &back));
	ck_assert(same_image(img, back));
	dup = ks__rimage_dup(img);
	ck_assert(same_image(img, dup));
	/* a copy is independent */
	fence(dup, 1, 1);
	ck_assert(!same_image(img, dup));
	ks__rimage_ref(back);
	ks__rimage_unref(back);
	ks__rimage_unref(back);
	ks__rimage_unref(dup);
	ks__rimage_unref(img);
	ks__rimage_unref(NULL);
	free(s.p);
}
END_TEST

/* Every truncated prefix, and a few flipped bytes, of cmd fail cleanly
 * (or apply as something valid) without touching a copy of img. */
static void prefixes(struct ks__rimage *img, struct ks__rcmd *cmd)
{
	struct ks__rimage *before = ks__rimage_dup(img);
	size_t n;

	for (n = 0; n < cmd->len; n++) {
		uint8_t *cut = malloc(n ? n : 1);

		memcpy(cut, cmd->p, n);
		ck_assert_int_eq(ks__rimage_apply(img, n ? cut : NULL, n),
		    KS_ECORRUPT);
		ck_assert(same_image(img, before));
		free(cut);
	}
	/* one byte too many */
	{
		uint8_t *longer = malloc(cmd->len + 1);

		memcpy(longer, cmd->p, cmd->len);
		longer[cmd->len] = 0;
		ck_assert_int_eq(ks__rimage_apply(img, longer, cmd->len + 1),
		    KS_ECORRUPT);
		ck_assert(same_image(img, before));
		free(longer);
	}
	ks__rimage_unref(before);
	free(cmd->p);
}

START_TEST(truncated_commands)
{
	struct ks__rimage *img = three(0);
	struct ks__rendpoint eps[2] = { { "tcp", "h", 1 },
	    { "tls+tcp", "h", 2 } };
	struct ks__rcmd c;
	int32_t r[] = { 1, 2, 3, 2, 3, 1 }, isr[] = { 1, 2 };
	uint8_t bad = 99;

	KT_OK(ks__rcmd_register(&c, 4, 0, eps, 2));
	prefixes(img, &c);
	KT_OK(ks__rcmd_fence(&c, 2));
	prefixes(img, &c);
	KT_OK(ks__rcmd_unfence(&c, 2));
	prefixes(img, &c);
	KT_OK(ks__rcmd_create_topic(&c, "new", "a=b", 2, 3, r));
	prefixes(img, &c);
	KT_OK(ks__rcmd_delete_topic(&c, "t"));
	prefixes(img, &c);
	KT_OK(ks__rcmd_create_partitions(&c, "t", 2, 3, r));
	prefixes(img, &c);
	KT_OK(ks__rcmd_alter_isr(&c, "t", 0, 1, 0, 0, isr, 2));
	prefixes(img, &c);
	ck_assert_int_eq(ks__rimage_apply(img, &bad, 1), KS_ECORRUPT);
	ks__rimage_unref(img);
}
END_TEST

START_TEST(truncated_snapshot)
{
	struct ks__rimage *img = three(0), *back;
	struct ks__rcmd s;
	size_t n;

	KT_OK(ks__rimage_encode(img, &s));
	for (n = 0; n < s.len; n++) {
		uint8_t *cut = malloc(n ? n : 1);

		memcpy(cut, s.p, n);
		back = (void *)1;
		ck_assert_int_eq(ks__rimage_decode(n ? cut : NULL, n, &back),
		    KS_ECORRUPT);
		ck_assert_ptr_null(back);
		free(cut);
	}
	/* every single flipped byte: corrupt, or an image that re-encodes */
	for (n = 0; n < s.len; n++) {
		int rc;

		s.p[n] ^= 0xff;
		rc = ks__rimage_decode(s.p, s.len, &back);
		ck_assert(rc == 0 || rc == KS_ECORRUPT);
		if (rc == 0)
			ks__rimage_unref(back);
		s.p[n] ^= 0xff;
	}
	free(s.p);
	ks__rimage_unref(img);
}
END_TEST

Suite *rmeta_suite(void)
{
	Suite *s = suite_create("rmeta");
	TCase *tc = tcase_create("image");

	tcase_add_test(tc, register_and_create);
	tcase_add_test(tc, assign_errors);
	tcase_add_test(tc, fence_elects_from_isr);
	tcase_add_test(tc, offline_keeps_last_isr);
	tcase_add_test(tc, unclean_election);
	tcase_add_test(tc, alter_isr);
	tcase_add_test(tc, delete_and_partitions);
	tcase_add_test(tc, constructors_refuse);
	tcase_add_test(tc, snapshot_round_trip);
	tcase_add_test(tc, truncated_commands);
	tcase_add_test(tc, truncated_snapshot);
	suite_add_tcase(s, tc);
	return s;
}
