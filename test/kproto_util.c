/* kproto_util.c: the codec suites' shared helpers; see kproto_util.h. */
#include "kproto_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char kt_what[80];

/* ---- expected bytes, by hand */

void kt_hb_u8(kt_hb_t *h, unsigned v)
{
	ck_assert_uint_lt(h->n, sizeof h->b);
	h->b[h->n++] = (uint8_t)v;
}

static void hb_be(kt_hb_t *h, int64_t v, int bytes)
{
	for (int s = (bytes - 1) * 8; s >= 0; s -= 8)
		kt_hb_u8(h, (unsigned)((uint64_t)v >> s) & 0xff);
}

void kt_hb_i16(kt_hb_t *h, int64_t v) { hb_be(h, v, 2); }
void kt_hb_i32(kt_hb_t *h, int64_t v) { hb_be(h, v, 4); }
void kt_hb_i64(kt_hb_t *h, int64_t v) { hb_be(h, v, 8); }

void kt_hb_raw(kt_hb_t *h, const void *p, size_t n)
{
	ck_assert_uint_le(h->n + n, sizeof h->b);
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

void kt_hb_str(kt_hb_t *h, const char *s)
{
	kt_hb_i16(h, (int64_t)strlen(s));
	kt_hb_raw(h, s, strlen(s));
}

void kt_hb_cstr(kt_hb_t *h, const char *s)
{
	ck_assert_uint_lt(strlen(s), 127);
	kt_hb_u8(h, (unsigned)strlen(s) + 1);
	kt_hb_raw(h, s, strlen(s));
}

/* ---- bodies */

uint8_t *kt_enc_rc(int resp, int16_t key, int16_t v, void *m, size_t *len,
    int *rc)
{
	kp_io_t w;
	uint8_t *out = NULL;

	kp_writer_init(&w);
	kp_io_set_version(&w, key, v);
	*rc = resp ? kp_resp_body(&w, key, m) : kp_req_body(&w, key, m);
	if (*rc == 0)
		ck_assert_int_eq(kp_w_flatten(&w, &out, len), 0);
	kp_writer_free(&w);
	return out;
}

uint8_t *kt_enc(int resp, int16_t key, int16_t v, void *m, size_t *len)
{
	int rc;
	uint8_t *out = kt_enc_rc(resp, key, v, m, len, &rc);

	ck_assert_msg(rc == 0, "%s v%d %s: encoding fails: %d",
	    kp_api_name(key), v, resp ? "response" : "request", rc);
	return out;
}

int kt_dec(int resp, int16_t key, int16_t v, const uint8_t *buf,
    size_t len, kp_arena_t *a, void *m, size_t msize)
{
	kp_io_t r;
	int rc;

	memset(m, 0, msize);
	kp_reader_init(&r, buf, len, a);
	kp_io_set_version(&r, key, v);
	rc = resp ? kp_resp_body(&r, key, m) : kp_req_body(&r, key, m);
	ck_assert_int_eq(rc, r.err);
	if (rc == 0)
		ck_assert_uint_eq(kp_r_left(&r), 0);
	return rc;
}

/* ---- round trips */

void kt_codec_one_way(const struct kt_codec_case *c, int resp, int16_t v)
{
	kp_req_any_t orig_req, dec_req;
	kp_resp_any_t orig_resp, dec_resp;
	void *orig = resp ? (void *)&orig_resp : (void *)&orig_req;
	void *d = resp ? (void *)&dec_resp : (void *)&dec_req;
	size_t msize = resp ? sizeof orig_resp : sizeof orig_req;
	kp_arena_t a;
	uint8_t *buf, *buf2;
	size_t len, len2;

	snprintf(kt_what, sizeof kt_what, "%s %s v%d", kp_api_name(c->key),
	    resp ? "response" : "request", v);
	kp_arena_init(&a);
	memset(orig, 0, msize);
	(resp ? c->fill_resp : c->fill_req)(orig);
	buf = kt_enc(resp, c->key, v, orig, &len);
	ck_assert_msg(kt_dec(resp, c->key, v, buf, len, &a, d, msize) == 0,
	    "%s: does not decode", kt_what);
	(resp ? c->cmp_resp : c->cmp_req)(v, orig, d);

	buf2 = kt_enc(resp, c->key, v, d, &len2);
	ck_assert_msg(kt_same_bytes(buf, len, buf2, len2),
	    "%s: re-encoding differs", kt_what);
	free(buf2);

	for (size_t cut = 0; cut < len; cut++) {
		/* a copy of exactly cut bytes, so ASan sees any overread */
		uint8_t *t = malloc(cut ? cut : 1);
		kp_arena_t a2;

		ck_assert_ptr_nonnull(t);
		memcpy(t, buf, cut);
		kp_arena_init(&a2);
		ck_assert_msg(kt_dec(resp, c->key, v, t, cut, &a2, d, msize) ==
		    KS_ECORRUPT, "%s: cut at %zu of %zu decodes", kt_what, cut,
		    len);
		kp_arena_free(&a2);
		free(t);
	}
	free(buf);
	kp_arena_free(&a);
}

int kt_codec_all_versions(const struct kt_codec_case *c)
{
	const kp_api_t *api = kp_api_find(c->key);
	int n = 0;

	ck_assert_ptr_nonnull(api);
	for (int16_t v = api->min_version; v <= api->max_version; v++) {
		kt_codec_one_way(c, 0, v);
		kt_codec_one_way(c, 1, v);
		n++;
	}
	return n;
}
