/*
 * check_consumer_protocol.c: the ConsumerProtocol codec
 * (ks_subscription_*, ks_assignment_*): round trips of every version,
 * bytes built by hand from Kafka's schemas, newer versions, and malformed
 * input of every kind, which must fail cleanly and never read astray.
 */
#include "util.h"

#include <kstream/assignor.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Encodes sub into a malloc'd buffer, checking the measuring call. */
static uint8_t *enc_sub(const ks_subscription_t *sub, size_t *lenp)
{
	size_t len = 0, len2 = 0;
	uint8_t *buf;

	ck_assert_int_eq(ks_subscription_encode(sub, NULL, 0, &len),
	    -ENOBUFS);
	ck_assert_uint_gt(len, 0);
	buf = malloc(len + 1);
	ck_assert_ptr_nonnull(buf);
	buf[len] = 0xee;
	if (len > 1)
		ck_assert_int_eq(ks_subscription_encode(sub, buf, len - 1,
		    &len2), -ENOBUFS);
	KT_OK(ks_subscription_encode(sub, buf, len, &len2));
	ck_assert_uint_eq(len2, len);
	ck_assert_uint_eq(buf[len], 0xee); /* nothing past the end */
	*lenp = len;
	return buf;
}

static uint8_t *enc_asg(const ks_assignment_t *a, size_t *lenp)
{
	size_t len = 0, len2 = 0;
	uint8_t *buf;

	ck_assert_int_eq(ks_assignment_encode(a, NULL, 0, &len), -ENOBUFS);
	buf = malloc(len + 1);
	ck_assert_ptr_nonnull(buf);
	buf[len] = 0xee;
	KT_OK(ks_assignment_encode(a, buf, len, &len2));
	ck_assert_uint_eq(len2, len);
	ck_assert_uint_eq(buf[len], 0xee);
	*lenp = len;
	return buf;
}

static void same_lists(const ks_partition_list_t *a, size_t na,
    const ks_partition_list_t *b, size_t nb)
{
	size_t i, j;

	ck_assert_uint_eq(na, nb);
	for (i = 0; i < na; i++) {
		ck_assert_str_eq(a[i].topic, b[i].topic);
		ck_assert_uint_eq(a[i].partition_count, b[i].partition_count);
		for (j = 0; j < a[i].partition_count; j++)
			ck_assert_int_eq(a[i].partitions[j],
			    b[i].partitions[j]);
	}
}

/* A subscription using every field of version 3. */
static const char *const sub_topics[] = { "orders", "payments", "" };
static const int32_t own0[] = { 0, 2, 7 };
static const int32_t own1[] = { 1 };
static const ks_partition_list_t sub_owned[] = {
	{ "orders", own0, 3 },
	{ "payments", own1, 1 },
	{ "empty", NULL, 0 },
};
static const uint8_t sub_ud[] = { 0, 1, 2, 0xff };

static void full_sub(ks_subscription_t *s, int16_t version)
{
	ks_subscription_init(s);
	s->version = version;
	s->topics = sub_topics;
	s->topic_count = 3;
	s->user_data = sub_ud;
	s->user_data_len = sizeof sub_ud;
	s->owned = sub_owned;
	s->owned_count = 3;
	s->generation_id = 42;
	s->rack_id = "rack-a";
}

START_TEST(test_init)
{
	ks_subscription_t s;
	ks_assignment_t a;

	memset(&s, 0x5a, sizeof s);
	ks_subscription_init(&s);
	ck_assert_int_eq(s.version, KS_CONSUMER_PROTOCOL_VERSION);
	ck_assert_int_eq(s.version, 3);
	ck_assert_uint_eq(s.topic_count, 0);
	ck_assert_ptr_null(s.user_data);
	ck_assert_uint_eq(s.owned_count, 0);
	ck_assert_int_eq(s.generation_id, -1);
	ck_assert_ptr_null(s.rack_id);
	memset(&a, 0x5a, sizeof a);
	ks_assignment_init(&a);
	ck_assert_int_eq(a.version, 3);
	ck_assert_uint_eq(a.assigned_count, 0);
	ck_assert_ptr_null(a.assigned);
	ck_assert_ptr_null(a.user_data);
	/* NULL is tolerated. */
	ks_subscription_init(NULL);
	ks_assignment_init(NULL);
	ks_subscription_free(NULL);
	ks_assignment_free(NULL);
}
END_TEST

START_TEST(test_subscription_round_trips)
{
	int16_t v;

	for (v = 0; v <= 3; v++) {
		ks_subscription_t s, *d = NULL;
		size_t len, i;
		uint8_t *buf;

		full_sub(&s, v);
		buf = enc_sub(&s, &len);
		KT_OK(ks_subscription_decode(buf, len, &d));
		ck_assert_ptr_nonnull(d);
		/* The result must not point into the input. */
		memset(buf, 0xcc, len);
		free(buf);
		ck_assert_int_eq(d->version, v);
		ck_assert_uint_eq(d->topic_count, 3);
		for (i = 0; i < 3; i++)
			ck_assert_str_eq(d->topics[i], sub_topics[i]);
		ck_assert_uint_eq(d->user_data_len, sizeof sub_ud);
		ck_assert_mem_eq(d->user_data, sub_ud, sizeof sub_ud);
		if (v >= 1)
			same_lists(d->owned, d->owned_count, sub_owned, 3);
		else
			ck_assert_uint_eq(d->owned_count, 0);
		ck_assert_int_eq(d->generation_id, v >= 2 ? 42 : -1);
		if (v >= 3)
			ck_assert_str_eq(d->rack_id, "rack-a");
		else
			ck_assert_ptr_null(d->rack_id);
		ks_subscription_free(d);
	}
}
END_TEST

/* Nulls, empties and the defaults go through as they are. */
START_TEST(test_subscription_edges)
{
	static const uint8_t none[1];
	ks_subscription_t s, *d;
	size_t len;
	uint8_t *buf;

	/* Nothing at all, v3: null user data and rack stay null. */
	ks_subscription_init(&s);
	buf = enc_sub(&s, &len);
	/* 2 version + 4 topics + 4 user data + 4 owned + 4 gen + 2 rack. */
	ck_assert_uint_eq(len, 20);
	KT_OK(ks_subscription_decode(buf, len, &d));
	ck_assert_uint_eq(d->topic_count, 0);
	ck_assert_ptr_null(d->user_data);
	ck_assert_uint_eq(d->user_data_len, 0);
	ck_assert_uint_eq(d->owned_count, 0);
	ck_assert_int_eq(d->generation_id, -1);
	ck_assert_ptr_null(d->rack_id);
	ks_subscription_free(d);
	free(buf);

	/* Empty (not null) user data and an empty rack id. */
	s.user_data = none;
	s.user_data_len = 0;
	s.rack_id = "";
	buf = enc_sub(&s, &len);
	KT_OK(ks_subscription_decode(buf, len, &d));
	ck_assert_ptr_nonnull(d->user_data);
	ck_assert_uint_eq(d->user_data_len, 0);
	ck_assert_str_eq(d->rack_id, "");
	ks_subscription_free(d);
	free(buf);
}
END_TEST

START_TEST(test_assignment_round_trips)
{
	int16_t v;

	for (v = 0; v <= 3; v++) {
		ks_assignment_t a, *d = NULL;
		size_t len;
		uint8_t *buf;

		ks_assignment_init(&a);
		a.version = v;
		a.assigned = sub_owned;
		a.assigned_count = 3;
		if (v & 1) {
			a.user_data = sub_ud;
			a.user_data_len = sizeof sub_ud;
		}
		buf = enc_asg(&a, &len);
		KT_OK(ks_assignment_decode(buf, len, &d));
		memset(buf, 0xcc, len);
		free(buf);
		ck_assert_int_eq(d->version, v);
		same_lists(d->assigned, d->assigned_count, sub_owned, 3);
		if (v & 1) {
			ck_assert_uint_eq(d->user_data_len, sizeof sub_ud);
			ck_assert_mem_eq(d->user_data, sub_ud, sizeof sub_ud);
		} else {
			ck_assert_ptr_null(d->user_data);
		}
		ks_assignment_free(d);
	}
}
END_TEST

/*
 * Built by hand from ConsumerProtocolSubscription v0: version int16,
 * Topics []string, UserData bytes.
 */
static const uint8_t v0_sub[] = {
	0x00, 0x00,                     /* version 0 */
	0x00, 0x00, 0x00, 0x02,         /* 2 topics */
	0x00, 0x02, 't', '0',           /* "t0" */
	0x00, 0x03, 'b', 'a', 'r',      /* "bar" */
	0x00, 0x00, 0x00, 0x03,         /* user data: 3 bytes */
	0x01, 0x02, 0x03,
};

/*
 * ConsumerProtocolAssignment v0: version int16, AssignedPartitions
 * [](Topic string, Partitions []int32), UserData bytes.
 */
static const uint8_t v0_asg[] = {
	0x00, 0x00,                     /* version 0 */
	0x00, 0x00, 0x00, 0x01,         /* 1 topic */
	0x00, 0x02, 't', '0',           /* "t0" */
	0x00, 0x00, 0x00, 0x02,         /* 2 partitions */
	0x00, 0x00, 0x00, 0x00,         /* 0 */
	0x00, 0x00, 0x01, 0x02,         /* 258 */
	0xff, 0xff, 0xff, 0xff,         /* user data: null */
};

START_TEST(test_known_bytes)
{
	static const char *const topics[] = { "t0", "bar" };
	static const uint8_t ud[] = { 1, 2, 3 };
	static const int32_t parts[] = { 0, 258 };
	static const ks_partition_list_t lists[] = { { "t0", parts, 2 } };
	ks_subscription_t s, *ds;
	ks_assignment_t a, *da;
	uint8_t *buf;
	size_t len;

	ks_subscription_init(&s);
	s.version = 0;
	s.topics = topics;
	s.topic_count = 2;
	s.user_data = ud;
	s.user_data_len = 3;
	/* Fields v0 lacks are left out, as Kafka leaves out ignorables. */
	s.owned = lists;
	s.owned_count = 1;
	s.generation_id = 9;
	s.rack_id = "r";
	buf = enc_sub(&s, &len);
	ck_assert_uint_eq(len, sizeof v0_sub);
	ck_assert_mem_eq(buf, v0_sub, sizeof v0_sub);
	free(buf);
	KT_OK(ks_subscription_decode(v0_sub, sizeof v0_sub, &ds));
	ck_assert_int_eq(ds->version, 0);
	ck_assert_uint_eq(ds->topic_count, 2);
	ck_assert_str_eq(ds->topics[0], "t0");
	ck_assert_str_eq(ds->topics[1], "bar");
	ck_assert_uint_eq(ds->user_data_len, 3);
	ck_assert_mem_eq(ds->user_data, ud, 3);
	ck_assert_int_eq(ds->generation_id, -1);
	ks_subscription_free(ds);

	ks_assignment_init(&a);
	a.version = 0;
	a.assigned = lists;
	a.assigned_count = 1;
	buf = enc_asg(&a, &len);
	ck_assert_uint_eq(len, sizeof v0_asg);
	ck_assert_mem_eq(buf, v0_asg, sizeof v0_asg);
	free(buf);
	KT_OK(ks_assignment_decode(v0_asg, sizeof v0_asg, &da));
	same_lists(da->assigned, da->assigned_count, lists, 1);
	ck_assert_ptr_null(da->user_data);
	ks_assignment_free(da);
}
END_TEST

/* v3's tail, by hand: owned partitions, generation, rack. */
START_TEST(test_known_bytes_v3)
{
	static const uint8_t v3[] = {
		0x00, 0x03,                     /* version 3 */
		0x00, 0x00, 0x00, 0x01,         /* 1 topic */
		0x00, 0x01, 'a',
		0xff, 0xff, 0xff, 0xff,         /* user data: null */
		0x00, 0x00, 0x00, 0x01,         /* 1 owned topic */
		0x00, 0x01, 'a',
		0x00, 0x00, 0x00, 0x01,         /* 1 partition */
		0x00, 0x00, 0x00, 0x05,
		0x00, 0x00, 0x00, 0x07,         /* generation 7 */
		0x00, 0x02, 'r', '1',           /* rack "r1" */
	};
	static const char *const topics[] = { "a" };
	static const int32_t p5[] = { 5 };
	static const ks_partition_list_t owned[] = { { "a", p5, 1 } };
	ks_subscription_t s, *d;
	uint8_t *buf;
	size_t len;

	ks_subscription_init(&s);
	s.topics = topics;
	s.topic_count = 1;
	s.owned = owned;
	s.owned_count = 1;
	s.generation_id = 7;
	s.rack_id = "r1";
	buf = enc_sub(&s, &len);
	ck_assert_uint_eq(len, sizeof v3);
	ck_assert_mem_eq(buf, v3, sizeof v3);
	free(buf);
	KT_OK(ks_subscription_decode(v3, sizeof v3, &d));
	same_lists(d->owned, d->owned_count, owned, 1);
	ck_assert_int_eq(d->generation_id, 7);
	ck_assert_str_eq(d->rack_id, "r1");
	ks_subscription_free(d);
}
END_TEST

/*
 * A newer version is read with the fields this library knows, and what
 * follows them is ignored; so are trailing bytes after any version.
 */
START_TEST(test_newer_versions)
{
	ks_subscription_t s, *d;
	ks_assignment_t a, *da;
	uint8_t *buf, *big;
	size_t len;
	int16_t v;

	full_sub(&s, 3);
	buf = enc_sub(&s, &len);
	big = malloc(len + 9);
	memcpy(big, buf, len);
	memcpy(big + len, "future!!!", 9);
	for (v = 4; v > 0; v = (int16_t)(v == 4 ? 100 : v == 100 ?
	    INT16_MAX : -1)) {
		big[0] = (uint8_t)(v >> 8);
		big[1] = (uint8_t)v;
		KT_OK(ks_subscription_decode(big, len + 9, &d));
		ck_assert_int_eq(d->version, v);
		ck_assert_int_eq(d->generation_id, 42);
		ck_assert_str_eq(d->rack_id, "rack-a");
		same_lists(d->owned, d->owned_count, sub_owned, 3);
		ks_subscription_free(d);
		/* A newer version's own fields are not optional. */
		ck_assert_int_eq(ks_subscription_decode(big, len - 1, &d),
		    KS_ECORRUPT);
	}
	/* v0 with trailing bytes. */
	memcpy(big, v0_sub, sizeof v0_sub);
	memset(big + sizeof v0_sub, 0xff, 5);
	KT_OK(ks_subscription_decode(big, sizeof v0_sub + 5, &d));
	ck_assert_uint_eq(d->topic_count, 2);
	ks_subscription_free(d);
	free(big);
	free(buf);

	/* Assignment v7 with a field from the future. */
	ks_assignment_init(&a);
	a.assigned = sub_owned;
	a.assigned_count = 3;
	buf = enc_asg(&a, &len);
	big = malloc(len + 4);
	memcpy(big, buf, len);
	memset(big + len, 0, 4);
	big[1] = 7;
	KT_OK(ks_assignment_decode(big, len + 4, &da));
	ck_assert_int_eq(da->version, 7);
	same_lists(da->assigned, da->assigned_count, sub_owned, 3);
	/* It cannot be encoded again as version 7, only as a known one. */
	ck_assert_int_eq(ks_assignment_encode(da, NULL, 0, &len),
	    KS_EINVAL);
	ks_assignment_free(da);
	free(big);
	free(buf);
}
END_TEST

/* Every strict prefix of a valid encoding is truncated: an error. */
START_TEST(test_truncations)
{
	int16_t v;

	for (v = 0; v <= 3; v++) {
		ks_subscription_t s, *d;
		ks_assignment_t a, *da;
		size_t len, i;
		uint8_t *buf;

		full_sub(&s, v);
		buf = enc_sub(&s, &len);
		for (i = 0; i < len; i++) {
			/* A copy of exactly i bytes, so ASan sees overreads. */
			uint8_t *cut = malloc(i ? i : 1);

			memcpy(cut, buf, i);
			d = (ks_subscription_t *)1;
			ck_assert_int_eq(ks_subscription_decode(cut, i, &d),
			    KS_ECORRUPT);
			ck_assert_ptr_null(d);
			free(cut);
		}
		free(buf);

		ks_assignment_init(&a);
		a.version = v;
		a.assigned = sub_owned;
		a.assigned_count = 3;
		a.user_data = sub_ud;
		a.user_data_len = sizeof sub_ud;
		buf = enc_asg(&a, &len);
		for (i = 0; i < len; i++) {
			uint8_t *cut = malloc(i ? i : 1);

			memcpy(cut, buf, i);
			da = (ks_assignment_t *)1;
			ck_assert_int_eq(ks_assignment_decode(cut, i, &da),
			    KS_ECORRUPT);
			ck_assert_ptr_null(da);
			free(cut);
		}
		free(buf);
	}
	/* No bytes at all, NULL included. */
	{
		ks_subscription_t *d;

		ck_assert_int_eq(ks_subscription_decode(NULL, 0, &d),
		    KS_ECORRUPT);
		ck_assert_int_eq(ks_subscription_decode(NULL, 3, &d),
		    KS_EINVAL);
		ck_assert_int_eq(ks_subscription_decode(v0_sub, 1, NULL),
		    KS_EINVAL);
	}
}
END_TEST

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int dec_sub(const uint8_t *b, size_t len)
{
	ks_subscription_t *d = NULL;
	int rc = ks_subscription_decode(b, len, &d);

	ck_assert(rc == 0 ? d != NULL : d == NULL);
	ks_subscription_free(d);
	return rc;
}

static int dec_asg(const uint8_t *b, size_t len)
{
	ks_assignment_t *d = NULL;
	int rc = ks_assignment_decode(b, len, &d);

	ck_assert(rc == 0 ? d != NULL : d == NULL);
	ks_assignment_free(d);
	return rc;
}

/* Counts and lengths that are negative, huge, or one past what is left. */
START_TEST(test_bad_lengths)
{
	static const uint32_t bad32[] = { 0xffffffff, 0xfffffffe, 0x80000000,
		0x7fffffff, 0x10000000, 0x00010000 };
	uint8_t b[64];
	size_t i;

	/* Topic count (offset 2). */
	for (i = 0; i < sizeof bad32 / sizeof bad32[0]; i++) {
		memcpy(b, v0_sub, sizeof v0_sub);
		put32(b + 2, bad32[i]);
		ck_assert_int_eq(dec_sub(b, sizeof v0_sub), KS_ECORRUPT);
	}
	/* 3 topics where 2 are: the user data is read as a string. */
	memcpy(b, v0_sub, sizeof v0_sub);
	put32(b + 2, 3);
	ck_assert_int_eq(dec_sub(b, sizeof v0_sub), KS_ECORRUPT);
	/* Topic string lengths: null (not nullable), negative, too long. */
	memcpy(b, v0_sub, sizeof v0_sub);
	b[6] = 0xff, b[7] = 0xff;
	ck_assert_int_eq(dec_sub(b, sizeof v0_sub), KS_ECORRUPT);
	b[6] = 0x80, b[7] = 0x00;
	ck_assert_int_eq(dec_sub(b, sizeof v0_sub), KS_ECORRUPT);
	b[6] = 0x7f, b[7] = 0xff;
	ck_assert_int_eq(dec_sub(b, sizeof v0_sub), KS_ECORRUPT);
	b[6] = 0x00, b[7] = 0x10;
	ck_assert_int_eq(dec_sub(b, sizeof v0_sub), KS_ECORRUPT);
	/* A NUL inside a topic name. */
	memcpy(b, v0_sub, sizeof v0_sub);
	b[9] = 0;
	ck_assert_int_eq(dec_sub(b, sizeof v0_sub), KS_ECORRUPT);
	/* User data length (offset 15): -2, huge, one too many. */
	memcpy(b, v0_sub, sizeof v0_sub);
	for (i = 0; i < sizeof bad32 / sizeof bad32[0]; i++) {
		if (bad32[i] == 0xffffffff)
			continue; /* null: valid */
		put32(b + 15, bad32[i]);
		ck_assert_int_eq(dec_sub(b, sizeof v0_sub), KS_ECORRUPT);
	}
	put32(b + 15, 4);
	ck_assert_int_eq(dec_sub(b, sizeof v0_sub), KS_ECORRUPT);
	put32(b + 15, 0xffffffff); /* null, then 3 trailing bytes: fine */
	ck_assert_int_eq(dec_sub(b, sizeof v0_sub), 0);
	/* A negative version. */
	memcpy(b, v0_sub, sizeof v0_sub);
	b[0] = 0xff;
	ck_assert_int_eq(dec_sub(b, sizeof v0_sub), KS_ECORRUPT);

	/* Assignment: topic count (2), partition count (10), user data. */
	for (i = 0; i < sizeof bad32 / sizeof bad32[0]; i++) {
		memcpy(b, v0_asg, sizeof v0_asg);
		put32(b + 2, bad32[i]);
		ck_assert_int_eq(dec_asg(b, sizeof v0_asg), KS_ECORRUPT);
		memcpy(b, v0_asg, sizeof v0_asg);
		put32(b + 10, bad32[i]);
		ck_assert_int_eq(dec_asg(b, sizeof v0_asg), KS_ECORRUPT);
		memcpy(b, v0_asg, sizeof v0_asg);
		if (bad32[i] != 0xffffffff) {
			put32(b + 22, bad32[i]);
			ck_assert_int_eq(dec_asg(b, sizeof v0_asg),
			    KS_ECORRUPT);
		}
	}
	memcpy(b, v0_asg, sizeof v0_asg);
	put32(b + 10, 3); /* 3 partitions: the user data is eaten */
	ck_assert_int_eq(dec_asg(b, sizeof v0_asg), KS_ECORRUPT);
	memcpy(b, v0_asg, sizeof v0_asg);
	b[0] = 0x80; /* version -32768 */
	ck_assert_int_eq(dec_asg(b, sizeof v0_asg), KS_ECORRUPT);
}
END_TEST

/* The v3 rack id: null is fine, other negatives and overruns are not. */
START_TEST(test_bad_rack)
{
	static const char *const topics[] = { "a" };
	ks_subscription_t s;
	uint8_t *buf;
	size_t len;

	ks_subscription_init(&s);
	s.topics = topics;
	s.topic_count = 1;
	s.rack_id = "xy";
	buf = enc_sub(&s, &len);
	ck_assert_int_eq(dec_sub(buf, len), 0);
	buf[len - 4] = 0xff, buf[len - 3] = 0xfe;
	ck_assert_int_eq(dec_sub(buf, len), KS_ECORRUPT);
	buf[len - 4] = 0x00, buf[len - 3] = 0x03;
	ck_assert_int_eq(dec_sub(buf, len), KS_ECORRUPT);
	buf[len - 4] = 0xff, buf[len - 3] = 0xff; /* null + 2 trailing */
	ck_assert_int_eq(dec_sub(buf, len), 0);
	free(buf);
}
END_TEST

/* Random bytes and random damage to valid encodings: never a crash. */
START_TEST(test_fuzz)
{
	uint64_t seed = kt_seed(0xc0ffee), x = seed;
	uint8_t *valid[8], b[256];
	size_t vlen[8], nvalid = 0, i, k;
	ks_subscription_t s;
	ks_assignment_t a;
	int16_t v;

	for (v = 0; v <= 3; v++) {
		full_sub(&s, v);
		valid[nvalid] = enc_sub(&s, &vlen[nvalid]);
		nvalid++;
		ks_assignment_init(&a);
		a.version = v;
		a.assigned = sub_owned;
		a.assigned_count = 3;
		valid[nvalid] = enc_asg(&a, &vlen[nvalid]);
		nvalid++;
	}
	for (i = 0; i < 200000; i++) {
		size_t len, which;
		uint8_t *in;
		int rc;

		x = kt_mix64(x);
		which = x % nvalid;
		if (x >> 60 == 0) {
			/* Pure noise. */
			len = (x >> 8) % sizeof b;
			for (k = 0; k < len; k++)
				b[k] = (uint8_t)kt_mix64(x + k);
		} else {
			/* A valid encoding with a few bytes changed. */
			len = vlen[which] < sizeof b ? vlen[which] : sizeof b;
			memcpy(b, valid[which], len);
			for (k = 0; k < 1 + (x >> 40) % 3; k++) {
				uint64_t r = kt_mix64(x ^ (k + 1));

				b[r % len] = (uint8_t)(r >> 32);
			}
			if ((x >> 20) % 4 == 0)
				len = (x >> 24) % (len + 1);
		}
		/* An exact-size copy, so that overreads are caught. */
		in = malloc(len ? len : 1);
		memcpy(in, b, len);
		rc = dec_sub(in, len);
		ck_assert_msg(rc == 0 || rc == KS_ECORRUPT,
		    "seed %#llx: rc %d", (unsigned long long)seed, rc);
		if (rc == 0) {
			/* What decodes encodes back, in a known version. */
			ks_subscription_t *d;
			size_t n;

			KT_OK(ks_subscription_decode(in, len, &d));
			if (d->version <= 3) {
				uint8_t *out;

				ck_assert_int_eq(ks_subscription_encode(d, NULL,
				    0, &n), -ENOBUFS);
				ck_assert_uint_le(n, len);
				out = malloc(n);
				KT_OK(ks_subscription_encode(d, out, n, &n));
				ck_assert_mem_eq(out, in, n);
				free(out);
			}
			ks_subscription_free(d);
		}
		rc = dec_asg(in, len);
		ck_assert_msg(rc == 0 || rc == KS_ECORRUPT,
		    "seed %#llx: rc %d", (unsigned long long)seed, rc);
		free(in);
	}
	for (i = 0; i < nvalid; i++)
		free(valid[i]);
}
END_TEST

START_TEST(test_encode_errors)
{
	static const char *const with_null[] = { "a", NULL };
	static const int32_t p[] = { 1 };
	static const ks_partition_list_t bad_list[] = { { NULL, p, 1 } };
	static const ks_partition_list_t no_parts[] = { { "a", NULL, 1 } };
	ks_subscription_t s;
	ks_assignment_t a;
	uint8_t buf[64];
	size_t len = 12345;
	char *longname;
	const char *one[1];

	ks_subscription_init(&s);
	ck_assert_int_eq(ks_subscription_encode(NULL, buf, 64, &len),
	    KS_EINVAL);
	ck_assert_int_eq(ks_subscription_encode(&s, buf, 64, NULL),
	    KS_EINVAL);
	ck_assert_int_eq(ks_subscription_encode(&s, NULL, 64, &len),
	    KS_EINVAL);
	s.version = 4;
	ck_assert_int_eq(ks_subscription_encode(&s, buf, 64, &len),
	    KS_EINVAL);
	s.version = -1;
	ck_assert_int_eq(ks_subscription_encode(&s, buf, 64, &len),
	    KS_EINVAL);
	ks_subscription_init(&s);
	s.topics = with_null;
	s.topic_count = 2;
	ck_assert_int_eq(ks_subscription_encode(&s, buf, 64, &len),
	    KS_EINVAL);
	s.topics = NULL;
	ck_assert_int_eq(ks_subscription_encode(&s, buf, 64, &len),
	    KS_EINVAL);
	ks_subscription_init(&s);
	s.user_data_len = 3; /* with NULL data */
	ck_assert_int_eq(ks_subscription_encode(&s, buf, 64, &len),
	    KS_EINVAL);
	ks_subscription_init(&s);
	s.owned = bad_list;
	s.owned_count = 1;
	ck_assert_int_eq(ks_subscription_encode(&s, buf, 64, &len),
	    KS_EINVAL);
	s.owned = no_parts;
	ck_assert_int_eq(ks_subscription_encode(&s, buf, 64, &len),
	    KS_EINVAL);
	s.version = 0; /* owned partitions are not in v0: not looked at */
	KT_OK(ks_subscription_encode(&s, buf, 64, &len));

	/* A string of 32767 bytes is the longest. */
	longname = malloc(32769);
	memset(longname, 'x', 32768);
	longname[32768] = '\0';
	ks_subscription_init(&s);
	one[0] = longname;
	s.topics = one;
	s.topic_count = 1;
	ck_assert_int_eq(ks_subscription_encode(&s, NULL, 0, &len),
	    KS_EINVAL);
	longname[32767] = '\0';
	ck_assert_int_eq(ks_subscription_encode(&s, NULL, 0, &len),
	    -ENOBUFS);
	ck_assert_uint_eq(len, 20 + 2 + 32767);
	s.topic_count = 0;
	s.rack_id = longname;
	ck_assert_int_eq(ks_subscription_encode(&s, NULL, 0, &len),
	    -ENOBUFS);
	longname[32767] = 'x';
	ck_assert_int_eq(ks_subscription_encode(&s, NULL, 0, &len),
	    KS_EINVAL);
	free(longname);

	ks_assignment_init(&a);
	ck_assert_int_eq(ks_assignment_encode(NULL, buf, 64, &len),
	    KS_EINVAL);
	a.version = 4;
	ck_assert_int_eq(ks_assignment_encode(&a, buf, 64, &len),
	    KS_EINVAL);
	ks_assignment_init(&a);
	a.assigned_count = 1;
	ck_assert_int_eq(ks_assignment_encode(&a, buf, 64, &len),
	    KS_EINVAL);
	a.assigned = bad_list;
	ck_assert_int_eq(ks_assignment_encode(&a, buf, 64, &len),
	    KS_EINVAL);
	ks_assignment_init(&a);
	KT_OK(ks_assignment_encode(&a, buf, 64, &len));
	ck_assert_uint_eq(len, 10);
}
END_TEST

Suite *consumer_protocol_suite(void)
{
	Suite *s = suite_create("consumer_protocol");
	TCase *tc = tcase_create("consumer_protocol");

	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_subscription_round_trips);
	tcase_add_test(tc, test_subscription_edges);
	tcase_add_test(tc, test_assignment_round_trips);
	tcase_add_test(tc, test_known_bytes);
	tcase_add_test(tc, test_known_bytes_v3);
	tcase_add_test(tc, test_newer_versions);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_bad_lengths);
	tcase_add_test(tc, test_bad_rack);
	tcase_add_test(tc, test_fuzz);
	tcase_add_test(tc, test_encode_errors);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}
