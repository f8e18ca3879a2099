/*
 * fuzz_request.c: libFuzzer target for the Kafka protocol codec, what the
 * server runs on every frame a client sends. The input is a frame without
 * its length prefix: the request header is decoded, then the body of that
 * API and version when we serve it, and the same bytes as that API's
 * response body (what a client decodes). Whatever decodes must re-encode,
 * and its re-encoding must decode and re-encode to the same bytes.
 * Build and run: make fuzz [FUZZ_SECONDS=60].
 */
#include "kafka/msg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encodes m as the body of (key, v); a malloc'd buffer or NULL. */
static uint8_t *encode(int resp, int16_t key, int16_t v, void *m,
    size_t *len)
{
	kp_io_t w;
	uint8_t *out = NULL;
	int rc;

	kp_writer_init(&w);
	kp_io_set_version(&w, key, v);
	rc = resp ? kp_resp_body(&w, key, m) : kp_req_body(&w, key, m);
	/* Everything decoded is encodable: the decoder only yields values
	 * the encoder accepts at the same version. */
	if (rc)
		abort();
	if (kp_w_flatten(&w, &out, len))
		abort();
	kp_writer_free(&w);
	return out;
}

static void body(int resp, int16_t key, int16_t v, const uint8_t *p,
    size_t n)
{
	union {
		kp_req_any_t req;
		kp_resp_any_t resp;
	} m1, m2;
	kp_arena_t a;
	kp_io_t r;
	uint8_t *e1, *e2;
	size_t l1, l2;
	int rc;

	kp_arena_init(&a);
	memset(&m1, 0, sizeof m1);
	kp_reader_init(&r, p, n, &a);
	kp_io_set_version(&r, key, v);
	rc = resp ? kp_resp_body(&r, key, &m1) : kp_req_body(&r, key, &m1);
	if (rc != r.err)
		abort();
	if (rc) {
		if (rc != KS_ECORRUPT && rc != KS_ENOMEM)
			abort();
		kp_arena_free(&a);
		return;
	}
	e1 = encode(resp, key, v, &m1, &l1);
	memset(&m2, 0, sizeof m2);
	kp_reader_init(&r, e1, l1, &a);
	kp_io_set_version(&r, key, v);
	rc = resp ? kp_resp_body(&r, key, &m2) : kp_req_body(&r, key, &m2);
	if (rc || kp_r_left(&r) != 0)
		abort();
	e2 = encode(resp, key, v, &m2, &l2);
	if (l1 != l2 || memcmp(e1, e2, l1) != 0)
		abort();
	free(e1);
	free(e2);
	kp_arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kp_arena_t a;
	kp_io_t r;
	kp_req_hdr_t h;

	kp_arena_init(&a);
	memset(&h, 0, sizeof h);
	kp_reader_init(&r, data, size, &a);
	if (kp_req_hdr(&r, &h) == 0 &&
	    kp_api_supported(h.api_key, h.api_version)) {
		size_t off = (size_t)(r.p - data);
		/* the body alone in its own allocation: ASan sees overreads */
		uint8_t *b = malloc(size - off + 1);
		if (!b)
			abort();
		memcpy(b, data + off, size - off);
		body(0, h.api_key, h.api_version, b, size - off);
		body(1, h.api_key, h.api_version, b, size - off);
		free(b);
	}
	kp_arena_free(&a);
	return 0;
}
