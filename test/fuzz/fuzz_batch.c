/*
 * fuzz_batch.c: libFuzzer target for the RecordBatch v2 decoder, what a
 * broker runs on every Produce and a client on every Fetch. Any input:
 * validation, record iteration and header walks must stay in bounds and
 * agree with each other. Build and run: make fuzz [FUZZ_SECONDS=60].
 */
#include <kstream/kstream.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch(const void *p, size_t len)
{
	volatile uint8_t sink = 0;
	const uint8_t *b = p;
	if (len)
		sink ^= b[0] ^ b[len - 1];
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ks_batch_info_t info;
	ks_batch_iter_t it;
	ks_record_t rec;
	int valid = ks_batch_validate(data, size, &info) == 0;
	int r, n = 0;

	(void)ks_batch_parse(data, size, &info);
	ks_batch_iter_init(&it, data, size, 0);
	while ((r = ks_batch_iter_next(&it, &rec)) > 0) {
		ks_header_t h;
		size_t pos = 0;
		touch(rec.key, rec.key_len);
		touch(rec.value, rec.value_len);
		while (ks_record_header_next(&rec, &pos, &h) > 0) {
			touch(h.key, h.key_len);
			touch(h.value, h.value_len);
		}
		n++;
	}
	/* a batch that validates decodes without error, all its records */
	if (valid && !(info.attributes & (KS_BATCH_COMPRESSION_MASK |
	                                   KS_BATCH_CONTROL))) {
		n = 0;
		ks_batch_iter_init(&it, data,
		    KS_BATCH_LOG_OVERHEAD + (size_t)info.batch_length, INT64_MIN);
		while ((r = ks_batch_iter_next(&it, &rec)) > 0)
			n++;
		if (r < 0 || n != info.record_count)
			abort();
	}
	return 0;
}
