/*
 * topic_config.c: a topic's configuration, with Kafka's property names,
 * and the metadata file that keeps it across restarts: `name=value` lines
 * and an XXH64 checksum line (docs/format.md, "The store directory").
 *
 * The file is the configuration's one serialised form, and it is also
 * how a configuration is checked: one that does not read back from its
 * own text is out of range (ks__topic_config_check). So the ranges live
 * in one place, ks_topic_config_set() and ks_log_config_set().
 */
#include "core/internal.h"
#include "log/log_impl.h"
#include "log/meta.h"
#include "store/store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define META_VERSION 1
#define META_MAX 65536          /* a larger file is not one of ours */
#define SUM_KEY "xxh64="
#define SUM_LINE (sizeof SUM_KEY - 1 + 16 + 1) /* "xxh64=" 16 hex "\n" */

void ks_topic_config_init(ks_topic_config_t *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->partitions = 1;
	cfg->cleanup_policy = KS_CLEANUP_DELETE;
	cfg->delete_retention_ms = 24LL * 3600 * 1000;
	cfg->min_compaction_lag_ms = 0;
	cfg->min_cleanable_dirty_ratio = 0.5;
	ks_log_config_init(&cfg->log);
}

/* ---- values ------------------------------------------------------------ */

/*
 * Numbers in configuration and in the file are read and written in the
 * C locale: an application that calls setlocale() must not turn "0.5"
 * into an error, nor write "0,5" into a file another process reads.
 */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t get_c_locale(void)
{
	pthread_once(&c_locale_once, c_locale_init);
	return c_locale;
}

static int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return KS_ECONFIG;
	*out = v;
	return 0;
}

static int parse_ratio(const char *s, double *out)
{
	locale_t loc = get_c_locale();
	char *end;
	double v;
	errno = 0;
	v = loc ? strtod_l(s, &end, loc) : strtod(s, &end);
	/* written so that NaN fails too */
	if (errno || end == s || *end || !(v >= 0.0 && v <= 1.0))
		return KS_ECONFIG;
	*out = v;
	return 0;
}

/* The shortest of %.15g to %.17g that reads back as v. */
static void format_ratio(char *buf, size_t len, double v)
{
	locale_t loc = get_c_locale(), old = (locale_t)0;
	int prec;
	if (loc)
		old = uselocale(loc);
	for (prec = 15; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (loc)
		uselocale(old);
}

/* "delete", "compact", or both separated by a comma (spaces allowed
 * around each, as Kafka's list values). */
static int parse_policy(const char *s, int *out)
{
	int policy = 0;
	for (;;) {
		size_t n;
		while (*s == ' ')
			s++;
		n = strcspn(s, ", ");
		if (n == 6 && memcmp(s, "delete", 6) == 0)
			policy |= KS_CLEANUP_DELETE;
		else if (n == 7 && memcmp(s, "compact", 7) == 0)
			policy |= KS_CLEANUP_COMPACT;
		else
			return KS_ECONFIG;
		s += n;
		while (*s == ' ')
			s++;
		if (*s == 0)
			break;
		if (*s++ != ',')
			return KS_ECONFIG;
	}
	*out = policy;
	return 0;
}

static const char *policy_name(int policy)
{
	switch (policy) {
	case KS_CLEANUP_DELETE:
		return "delete";
	case KS_CLEANUP_COMPACT:
		return "compact";
	case KS_CLEANUP_DELETE | KS_CLEANUP_COMPACT:
		return "compact,delete";
	}
	return NULL;
}

int ks_topic_config_set(ks_topic_config_t *cfg, const char *name,
    const char *value)
{
	int64_t v;
	int rc;

	if (!cfg || !name || !value)
		return KS_EINVAL;
	if (strcmp(name, "cleanup.policy") == 0) {
		int policy;
		if ((rc = parse_policy(value, &policy)) == 0)
			cfg->cleanup_policy = policy;
		return rc;
	}
	if (strcmp(name, "delete.retention.ms") == 0) {
		if ((rc = parse_i64(value, 0, INT64_MAX, &v)) == 0)
			cfg->delete_retention_ms = v;
		return rc;
	}
	if (strcmp(name, "min.compaction.lag.ms") == 0) {
		if ((rc = parse_i64(value, 0, INT64_MAX, &v)) == 0)
			cfg->min_compaction_lag_ms = v;
		return rc;
	}
	if (strcmp(name, "min.cleanable.dirty.ratio") == 0) {
		double r;
		if ((rc = parse_ratio(value, &r)) == 0)
			cfg->min_cleanable_dirty_ratio = r;
		return rc;
	}
	/* The partition count is not a topic property in Kafka either
	 * (num.partitions is the broker's default): it is set in the
	 * structure, or with ks_topic_add_partitions(). */
	return ks_log_config_set(&cfg->log, name, value);
}

/* ---- the metadata file ------------------------------------------------- */

/* The log properties the file holds, in its order. */
enum { U32, U64, I64 };
#define L(name, field, kind) { name, offsetof(ks_log_config_t, field), kind }
static const struct {
	const char *name;
	size_t off;
	int kind;
} log_props[] = {
	L("segment.bytes", segment_bytes, U64),
	L("segment.ms", segment_ms, I64),
	L("segment.index.bytes", segment_index_bytes, U32),
	L("index.interval.bytes", index_interval_bytes, U32),
	L("max.message.bytes", max_message_bytes, U32),
	L("retention.ms", retention_ms, I64),
	L("retention.bytes", retention_bytes, I64),
	L("flush.messages", flush_messages, U64),
	L("flush.ms", flush_ms, I64),
};
#undef L

static void hex(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;
	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = 0;
}

static int unhex(uint8_t *out, const char *s, size_t n)
{
	size_t i;
	for (i = 0; i < 2 * n; i++) {
		int d;
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(d << 4);
		else
			out[i / 2] |= (uint8_t)d;
	}
	return s[2 * n] == 0 ? 0 : -1;
}

/*
 * The lines before the checksum. Returns the length, or KS_ECONFIG for a
 * cleanup policy that has no name (every other field is written as it is
 * and judged when read back).
 */
static int encode_body(const ks_topic_config_t *cfg, const uint8_t *id,
    char *buf, size_t cap)
{
	const char *policy = policy_name(cfg->cleanup_policy);
	char idhex[2 * KS__TOPIC_ID_LEN + 1], ratio[40];
	size_t len, i;
	int n;

	if (!policy)
		return KS_ECONFIG;
	hex(idhex, id, KS__TOPIC_ID_LEN);
	format_ratio(ratio, sizeof ratio, cfg->min_cleanable_dirty_ratio);
	n = snprintf(buf, cap,
	    "version=%d\n"
	    "id=%s\n"
	    "partitions=%" PRId32 "\n"
	    "cleanup.policy=%s\n"
	    "delete.retention.ms=%" PRId64 "\n"
	    "min.compaction.lag.ms=%" PRId64 "\n"
	    "min.cleanable.dirty.ratio=%s\n",
	    META_VERSION, idhex, cfg->partitions, policy,
	    cfg->delete_retention_ms, cfg->min_compaction_lag_ms, ratio);
	if (n < 0 || (size_t)n >= cap)
		return KS_ECONFIG;
	len = (size_t)n;
	for (i = 0; i < sizeof log_props / sizeof log_props[0]; i++) {
		const char *f = (const char *)&cfg->log + log_props[i].off;
		uint32_t u32;
		uint64_t u64;
		int64_t i64;
		switch (log_props[i].kind) {
		case U32:
			memcpy(&u32, f, 4);
			n = snprintf(buf + len, cap - len, "%s=%" PRIu32 "\n",
			    log_props[i].name, u32);
			break;
		case U64:
			memcpy(&u64, f, 8);
			n = snprintf(buf + len, cap - len, "%s=%" PRIu64 "\n",
			    log_props[i].name, u64);
			break;
		default:
			memcpy(&i64, f, 8);
			n = snprintf(buf + len, cap - len, "%s=%" PRId64 "\n",
			    log_props[i].name, i64);
			break;
		}
		if (n < 0 || (size_t)n >= cap - len)
			return KS_ECONFIG;
		len += (size_t)n;
	}
	return (int)len;
}

/* ---- reading properties back -------------------------------------------- */

static const char *const config_names[] = {
	"cleanup.policy", "delete.retention.ms", "min.compaction.lag.ms",
	"min.cleanable.dirty.ratio", "segment.bytes", "segment.ms",
	"segment.index.bytes", "index.interval.bytes", "max.message.bytes",
	"retention.ms", "retention.bytes", "flush.messages", "flush.ms", NULL
};

const char *const *ks_topic_config_names(void)
{
	return config_names;
}

/* The value is read from the file's own text, so there is one
 * formatting of each property. */
int ks_topic_config_get(const ks_topic_config_t *cfg, const char *name,
    char *buf, size_t len)
{
	uint8_t id[KS__TOPIC_ID_LEN] = { 0 };
	char body[2048], *p;
	size_t n = name ? strlen(name) : 0;
	int i, blen;

	if (!cfg || !name || !buf)
		return KS_EINVAL;
	for (i = 0; config_names[i]; i++)
		if (strcmp(config_names[i], name) == 0)
			break;
	if (!config_names[i])
		return KS_ECONFIG;
	if ((blen = encode_body(cfg, id, body, sizeof body)) < 0)
		return blen;
	for (p = body; p < body + blen; p = strchr(p, '\n') + 1) {
		size_t vlen;
		if (strncmp(p, name, n) != 0 || p[n] != '=')
			continue;
		p += n + 1;
		vlen = strcspn(p, "\n");
		if (vlen >= len)
			return KS_EINVAL;
		memcpy(buf, p, vlen);
		buf[vlen] = 0;
		return 0;
	}
	return KS_ECONFIG;
}

/*
 * Parses the lines before the checksum into cfg, starting from Kafka's
 * defaults: a property the file lacks (written by an older version) has
 * its default. 0, or -1 with why filled.
 */
static int parse_body(char *p, size_t len, ks_topic_config_t *cfg,
    uint8_t *id, char *why, size_t whylen)
{
	ks_topic_config_t c;
	char *end = p + len;
	int line = 0, have_id = 0, have_parts = 0;

	ks_topic_config_init(&c);
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *eq;
		int64_t v;
		line++;
		if (!nl) {
			snprintf(why, whylen, "line %d: no newline", line);
			return -1;
		}
		*nl = 0;
		eq = strchr(p, '=');
		if (!eq) {
			snprintf(why, whylen, "line %d: not name=value", line);
			return -1;
		}
		*eq++ = 0;
		if (line == 1) {
			if (strcmp(p, "version") != 0 || parse_i64(eq, 1, 1,
			        &v) != 0) {
				snprintf(why, whylen, "line 1: not version=%d",
				    META_VERSION);
				return -1;
			}
		} else if (strcmp(p, "id") == 0) {
			if (unhex(id, eq, KS__TOPIC_ID_LEN) != 0) {
				snprintf(why, whylen, "line %d: bad id", line);
				return -1;
			}
			have_id = 1;
		} else if (strcmp(p, "partitions") == 0) {
			if (parse_i64(eq, 1, INT32_MAX, &v) != 0) {
				snprintf(why, whylen, "line %d: bad partition "
				    "count '%s'", line, eq);
				return -1;
			}
			c.partitions = (int32_t)v;
			have_parts = 1;
		} else if (ks_topic_config_set(&c, p, eq) != 0) {
			/* A property of a later version that this one cannot
			 * honour: refusing beats silently dropping it. */
			snprintf(why, whylen, "line %d: unknown property or "
			    "bad value: %s=%s", line, p, eq);
			return -1;
		}
		p = nl + 1;
	}
	if (!have_id || !have_parts) {
		snprintf(why, whylen, "no %s line", have_id ? "partitions" :
		    "id");
		return -1;
	}
	*cfg = c;
	return 0;
}

int ks__topic_config_check(const ks_topic_config_t *cfg)
{
	uint8_t id[KS__TOPIC_ID_LEN] = { 0 };
	ks_topic_config_t back;
	char buf[4096], why[16];
	int len = encode_body(cfg, id, buf, sizeof buf);
	if (len < 0)
		return len;
	if (parse_body(buf, (size_t)len, &back, id, why, sizeof why) != 0)
		return KS_ECONFIG;
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ks__topic_meta_write(const ks_store_t *s, const char *name,
    const ks_topic_config_t *cfg, const uint8_t *id)
{
	char buf[4096], tmp[PATH_MAX], path[PATH_MAX], file[PATH_MAX];
	int len, fd, rc;

	len = encode_body(cfg, id, buf, sizeof buf - SUM_LINE);
	if (len < 0)
		return len;
	snprintf(buf + len, sizeof buf - (size_t)len, SUM_KEY "%016" PRIx64
	    "\n", (uint64_t)XXH64(buf, (size_t)len, 0));
	len += (int)SUM_LINE;
	snprintf(file, sizeof file, "%s%s", name, KS__TOPIC_TMP);
	if ((rc = ks__store_path(s, tmp, sizeof tmp, file)) != 0)
		return rc;
	snprintf(file, sizeof file, "%s%s", name, KS__TOPIC_SUFFIX);
	if ((rc = ks__store_path(s, path, sizeof path, file)) != 0)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, buf, (size_t)len);
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	return ks__fsync_dir(s->dir);
}

int ks__topic_meta_read(const ks_store_t *s, const char *name,
    ks_topic_config_t *cfg, uint8_t *id, uint64_t *sum)
{
	char path[PATH_MAX], file[PATH_MAX], why[160], *buf;
	size_t len = 0, body;
	uint64_t want;
	uint8_t sb[8];
	int rc = 0;

	snprintf(file, sizeof file, "%s%s", name, KS__TOPIC_SUFFIX);
	if ((rc = ks__store_path(s, path, sizeof path, file)) != 0)
		return rc;
	rc = ks__file_read(path, META_MAX, &buf, &len);
	if (rc == -EFBIG || (rc == 0 && len < SUM_LINE)) {
		snprintf(why, sizeof why, "%zu bytes", len);
		free(buf);
		goto corrupt;
	}
	if (rc)
		return rc;
	body = len >= SUM_LINE ? len - SUM_LINE : 0;
	if (len < SUM_LINE || memcmp(buf + body, SUM_KEY, sizeof SUM_KEY - 1)
	    != 0 || buf[len - 1] != '\n' || memchr(buf, 0, len)) {
		snprintf(why, sizeof why, "no checksum line at the end");
		free(buf);
		goto corrupt;
	}
	buf[len - 1] = 0;
	if (unhex(sb, buf + body + sizeof SUM_KEY - 1, 8) != 0 ||
	    (want = ks__be64(sb)) != XXH64(buf, body, 0)) {
		snprintf(why, sizeof why, "checksum mismatch");
		free(buf);
		goto corrupt;
	}
	rc = parse_body(buf, body, cfg, id, why, sizeof why);
	free(buf);
	if (rc != 0)
		goto corrupt;
	*sum = want;
	return 0;
corrupt:
	ks__logf(s->cfg.log_cb, s->cfg.log_opaque, KS_LOG_ERR,
	    "%s: damaged topic metadata: %s", path, why);
	return KS_ECORRUPT;
}
