/*
 * kproto_util.h: what the codec suites (kproto, kcluster_codec) share:
 * bytes built by hand from Kafka's schemas, a body encoded or decoded at
 * one version, and the round trip that every request and response of a
 * served version must pass (test/kproto_util.c; built only with the
 * network layers).
 */
#ifndef KS_TEST_KPROTO_UTIL_H
#define KS_TEST_KPROTO_UTIL_H

#include "util.h"

#include "kafka/msg.h"

#include <stddef.h>
#include <stdint.h>

/* ---- expected bytes, by hand */

typedef struct {
	uint8_t b[4096];
	size_t n;
} kt_hb_t;

/* Each appends to h, asserting that it fits; integers are big-endian. */
void kt_hb_u8(kt_hb_t *h, unsigned v);
void kt_hb_i16(kt_hb_t *h, int64_t v);
void kt_hb_i32(kt_hb_t *h, int64_t v);
void kt_hb_i64(kt_hb_t *h, int64_t v);
void kt_hb_raw(kt_hb_t *h, const void *p, size_t n);
/* STRING: int16 length and bytes. */
void kt_hb_str(kt_hb_t *h, const char *s);
/* COMPACT_STRING: length + 1 as an unsigned varint (short strings only). */
void kt_hb_cstr(kt_hb_t *h, const char *s);

/* ---- bodies */

/*
 * Encodes body m of (key, v), request or response, into a malloc'd buffer
 * and sets *len; NULL and *rc the error if the encoder refuses m.
 */
uint8_t *kt_enc_rc(int resp, int16_t key, int16_t v, void *m, size_t *len,
    int *rc);
/* The same, asserting that the encoder accepts m. */
uint8_t *kt_enc(int resp, int16_t key, int16_t v, void *m, size_t *len);
/*
 * Decodes buf[0..len) as body of (key, v) into m (zeroed first, msize
 * bytes), its parts in a; returns io.err and, on success, asserts that
 * every byte was consumed.
 */
int kt_dec(int resp, int16_t key, int16_t v, const uint8_t *buf,
    size_t len, kp_arena_t *a, void *m, size_t msize);

/* ---- comparisons: kt_what names the message and version in failures */

extern char kt_what[80];
#define SEQ(a, b) \
	ck_assert_msg(kp_str_eq((a), (b)), "%s: %s differs", kt_what, #a)
#define BEQ(a, b) \
	ck_assert_msg(kp_bytes_eq((a), (b)), "%s: %s differs", kt_what, #a)
#define IEQ(a, b)                                                          \
	ck_assert_msg((int64_t)(a) == (int64_t)(b),                        \
	    "%s: %s = %lld, want %lld", kt_what, #a, (long long)(a),       \
	    (long long)(b))
#define S(x) kp_cstr(x)

/* ---- round trips */

/*
 * A filler sets every field of a message to a value unlike its default,
 * whether or not version v has it; a comparison checks the fields v has
 * against the original and the others against Kafka's defaults.
 */
typedef void kt_fill_fn(void *m);
typedef void kt_cmp_fn(int v, const void *orig, const void *dec);

struct kt_codec_case {
	int16_t key;
	kt_fill_fn *fill_req;
	kt_cmp_fn *cmp_req;
	kt_fill_fn *fill_resp;
	kt_cmp_fn *cmp_resp;
};

/*
 * At version v, the request (resp 0) or response of c: encodes, decodes
 * and compares; re-encodes the decoded message to the same bytes; decodes
 * every strict prefix to KS_ECORRUPT.
 */
void kt_codec_one_way(const struct kt_codec_case *c, int resp, int16_t v);
/*
 * Both ways at every version the API table serves for c->key (which must
 * be there); returns how many versions that was.
 */
int kt_codec_all_versions(const struct kt_codec_case *c);

#endif /* KS_TEST_KPROTO_UTIL_H */
