/* config.c: a log's configuration, with Kafka's property names. */
#include "core/internal.h"

#include <errno.h>
#include <kstream/log.h>
#include <stdlib.h>

void ks_log_config_init(ks_log_config_t *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->segment_bytes = 1u << 30;
	cfg->segment_ms = 7LL * 24 * 3600 * 1000;
	cfg->segment_index_bytes = 10u << 20;
	cfg->index_interval_bytes = 4096;
	cfg->max_message_bytes = 1048588;
	cfg->retention_ms = 7LL * 24 * 3600 * 1000;
	cfg->retention_bytes = -1;
	cfg->flush_messages = 0;
	cfg->flush_ms = 0;
	cfg->leader_epoch = 0;
	cfg->log_cb = ks_log_stderr;
}

/* A property: where it lives and the values it may take. */
struct prop {
	const char *name;
	size_t off;
	int size; /* 4 or 8 bytes */
	int64_t min, max;
};

#define P(name, field, lo, hi) \
	{ name, offsetof(ks_log_config_t, field), \
	  (int)sizeof(((ks_log_config_t *)0)->field), lo, hi }
static const struct prop props[] = {
	/* positions within a segment are 32-bit, as in Kafka */
	P("segment.bytes", segment_bytes, 14, INT32_MAX),
	P("segment.ms", segment_ms, 1, INT64_MAX),
	P("segment.index.bytes", segment_index_bytes, 12 * 4, INT32_MAX),
	P("index.interval.bytes", index_interval_bytes, 0, INT32_MAX),
	P("max.message.bytes", max_message_bytes, 61, INT32_MAX),
	P("retention.ms", retention_ms, -1, INT64_MAX),
	P("retention.bytes", retention_bytes, -1, INT64_MAX),
	P("flush.messages", flush_messages, 0, INT64_MAX),
	P("flush.ms", flush_ms, 0, INT64_MAX),
};
#undef P

int ks_log_config_set(ks_log_config_t *cfg, const char *name,
    const char *value)
{
	size_t i;
	if (!cfg || !name || !value)
		return KS_EINVAL;
	for (i = 0; i < sizeof props / sizeof props[0]; i++) {
		const struct prop *p = &props[i];
		char *end;
		long long v;
		if (strcmp(p->name, name) != 0)
			continue;
		errno = 0;
		v = strtoll(value, &end, 10);
		if (errno || end == value || *end || v < p->min || v > p->max)
			return KS_ECONFIG;
		if (p->size == 4) {
			uint32_t u = (uint32_t)v;
			memcpy((char *)cfg + p->off, &u, 4);
		} else {
			int64_t w = v;
			memcpy((char *)cfg + p->off, &w, 8);
		}
		return 0;
	}
	return KS_ECONFIG;
}
