/*
 * dump.c: `kstream dump FILE...`: a segment's .log printed batch by batch
 * (and with -r record by record), or its .index / .timeindex entry by
 * entry, in the manner of Kafka's kafka-dump-log.sh. It reads the files
 * by the documented format (docs/format.md) with the public batch
 * functions only, and never writes.
 */
#define _GNU_SOURCE
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct dump_opts {
	int records;    /* -r: each record */
	int deep;       /* --deep: validate every record too */
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Whether p[0..n) is valid UTF-8 with no control characters. */
static int printable_utf8(const uint8_t *p, size_t n)
{
	size_t i = 0, l;

	while (i < n) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
		if ((l = kst_utf8_len(p + i, n - i)) == 0)
			return 0;
		i += l;
	}
	return 1;
}

/*
 * Prints bytes as text: printable text as it is; otherwise every byte
 * outside printable ASCII (and the backslash) as \xHH, so that the line
 * stays one line and binary values remain readable.
 */
static void print_bytes(const void *v, size_t n)
{
	const uint8_t *p = v;
	size_t i;

	if (!v) {
		fputs("null", stdout);
		return;
	}
	if (printable_utf8(p, n) && !memchr(p, '\\', n)) {
		fwrite(p, 1, n, stdout);
		return;
	}
	for (i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			putchar(p[i]);
		else if (p[i] == '\\')
			fputs("\\\\", stdout);
		else
			printf("\\x%02x", p[i]);
	}
}

static const char *bool_s(int v)
{
	return v ? "true" : "false";
}

/* The base offset in a "<20 digits>.<ext>" file name, or 0. */
static int64_t file_base(const char *path)
{
	const char *b = strrchr(path, '/');
	int64_t v = 0;
	int i;

	b = b ? b + 1 : path;
	for (i = 0; i < 20; i++) {
		if (b[i] < '0' || b[i] > '9')
			return 0;
		if (v > (INT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (b[i] - '0');
	}
	return b[20] == '.' ? v : 0;
}

/* A zigzag varint at *p (below end), as the batch format encodes them. */
static int read_varint(const uint8_t **p, const uint8_t *end, int64_t *v)
{
	uint64_t u = 0;
	int shift = 0;
	while (*p < end && shift < 64) {
		uint8_t b = *(*p)++;
		u |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
			return 0;
		}
		shift += 7;
	}
	return -1;
}

/* A control batch's marker: its one record's key is version, type. */
static void print_control(const uint8_t *b, size_t len,
    const ks_batch_info_t *info)
{
	const uint8_t *p = b + KS_BATCH_HEADER_SIZE, *end = b + len;
	int64_t rlen, ts, od, klen;

	if (read_varint(&p, end, &rlen) || p >= end)
		goto bad;
	p++; /* attributes */
	if (read_varint(&p, end, &ts) || read_varint(&p, end, &od) ||
	    read_varint(&p, end, &klen) || klen < 4 || end - p < klen)
		goto bad;
	printf("| offset: %" PRId64 " endTxnMarker: %s\n",
	    info->base_offset + od,
	    be32(p) == 1 ? "COMMIT" : be32(p) == 0 ? "ABORT" : "UNKNOWN");
	return;
bad:
	printf("| control record: malformed\n");
}

static int print_records(const uint8_t *b, size_t len,
    const ks_batch_info_t *info)
{
	void *plain = NULL;
	size_t plen = len;
	const uint8_t *buf = b;
	ks_batch_iter_t it;
	ks_record_t r;
	int rc, log_append = info->attributes & KS_BATCH_TIMESTAMP_LOG_APPEND;

	if (info->attributes & KS_BATCH_CONTROL) {
		print_control(b, len, info);
		return 0;
	}
	if (info->attributes & KS_BATCH_COMPRESSION_MASK) {
		rc = ks_batch_decompress(b, len, &plain, &plen);
		if (rc) {
			printf("| records cannot be read: %s\n",
			    ks_strerror(rc));
			return rc;
		}
		buf = plain;
	}
	ks_batch_iter_init(&it, buf, plen, 0);
	while ((rc = ks_batch_iter_next(&it, &r)) == 1) {
		size_t hp = 0;
		ks_header_t h;
		int first = 1;

		printf("| offset: %" PRId64 " %s: %" PRId64 " keySize: %ld "
		    "valueSize: %ld headers: [", r.offset,
		    log_append ? "LogAppendTime" : "CreateTime", r.timestamp,
		    r.key ? (long)r.key_len : -1L,
		    r.value ? (long)r.value_len : -1L);
		while ((rc = ks_record_header_next(&r, &hp, &h)) == 1) {
			if (!first)
				putchar(',');
			first = 0;
			print_bytes(h.key, h.key_len);
			putchar('=');
			print_bytes(h.value, h.value_len);
		}
		fputs("] key: ", stdout);
		print_bytes(r.key, r.key_len);
		fputs(" payload: ", stdout);
		print_bytes(r.value, r.value_len);
		putchar('\n');
		if (rc < 0)
			break;
	}
	free(plain);
	if (rc < 0) {
		printf("| records cannot be read: %s\n", ks_strerror(rc));
		return rc;
	}
	return 0;
}

/* Maps path read-only: 0, or prints why and returns -1. */
static int map_file(const char *path, const uint8_t **m, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*m = NULL;
	*len = 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		kst_errk(-errno, "%s", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		kst_err("%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ,
		    MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			kst_errk(-errno, "%s", path);
			close(fd);
			return -1;
		}
		*m = p;
		*len = (size_t)st.st_size;
	}
	close(fd);
	return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return 0;
	return 1;
}

/*
 * A .log file: batches from position 0 until the end of the file, the
 * zero-filled tail of a preallocated file, or a batch that cannot be read
 * (said on stderr: 1). A batch whose CRC (or, --deep, records) is bad is
 * printed with isvalid: false, and the walk goes on.
 */
static int dump_log(const char *path, const struct dump_opts *o)
{
	const uint8_t *m;
	size_t len, pos = 0;
	int status = KST_EXIT_OK;

	if (map_file(path, &m, &len) != 0)
		return KST_EXIT_FAIL;
	printf("Dumping %s\n", path);
	printf("Log starting offset: %" PRId64 "\n", file_base(path));
	while (pos < len) {
		ks_batch_info_t info;
		size_t left = len - pos, total;
		uint32_t blen;
		int rc, valid;

		if (left < KS_BATCH_LOG_OVERHEAD ||
		    (blen = be32(m + pos + 8)) == 0) {
			if (all_zero(m + pos, left)) {
				printf("Zero-filled tail: %zu bytes from "
				    "position %zu\n", left, pos);
				break;
			}
			kst_err("%s: position %zu: %s", path, pos,
			    left < KS_BATCH_LOG_OVERHEAD ? "torn batch header" :
			    "data after a zero batch length");
			status = KST_EXIT_FAIL;
			break;
		}
		total = (size_t)blen + KS_BATCH_LOG_OVERHEAD;
		rc = ks_batch_parse(m + pos, left, &info);
		if (rc) {
			kst_err("%s: position %zu: %s%s", path, pos,
			    ks_strerror(rc), total > left ?
			    " (batch runs past the end of the file)" : "");
			status = KST_EXIT_FAIL;
			break;
		}
		valid = ks_crc32c(0, m + pos + 21, total - 21) == info.crc;
		if (valid && o->deep) {
			rc = ks_batch_validate(m + pos, total, NULL);
			if (rc == 0 &&
			    (info.attributes & KS_BATCH_COMPRESSION_MASK)) {
				void *plain = NULL;
				size_t plen;
				rc = ks_batch_decompress(m + pos, total,
				    &plain, &plen);
				free(plain);
			}
			if (rc) {
				valid = 0;
				kst_err("%s: position %zu: %s", path, pos,
				    ks_strerror(rc));
			}
		}
		if (!valid)
			status = KST_EXIT_FAIL;
		printf("baseOffset: %" PRId64 " lastOffset: %" PRId64
		    " count: %" PRId32 " baseSequence: %" PRId32
		    " lastSequence: %" PRId32 " producerId: %" PRId64
		    " producerEpoch: %d partitionLeaderEpoch: %" PRId32
		    " isTransactional: %s isControl: %s position: %zu"
		    " %s: %" PRId64 " size: %zu magic: %d"
		    " compresscodec: %s crc: %" PRIu32 " isvalid: %s\n",
		    info.base_offset,
		    info.base_offset + info.last_offset_delta,
		    info.record_count, info.base_sequence,
		    info.base_sequence < 0 ? -1 :
		        (int32_t)((uint32_t)info.base_sequence +
		            (uint32_t)info.last_offset_delta),
		    info.producer_id, (int)info.producer_epoch,
		    info.leader_epoch,
		    bool_s(info.attributes & KS_BATCH_TRANSACTIONAL),
		    bool_s(info.attributes & KS_BATCH_CONTROL), pos,
		    info.attributes & KS_BATCH_TIMESTAMP_LOG_APPEND ?
		        "LogAppendTime" : "CreateTime", info.max_timestamp,
		    total, (int)info.magic,
		    ks_compression_name(info.attributes &
		        KS_BATCH_COMPRESSION_MASK),
		    info.crc, bool_s(valid));
		if (o->records && valid &&
		    print_records(m + pos, total, &info) != 0)
			status = KST_EXIT_FAIL;
		pos += total;
	}
	if (len)
		munmap((void *)m, len);
	return status;
}

/* An index: entries up to the zero-filled tail of a preallocated file. */
static int dump_index(const char *path, int time)
{
	const uint8_t *m;
	size_t len, esz = time ? 12 : 8, i;
	int64_t base = file_base(path);

	if (map_file(path, &m, &len) != 0)
		return KST_EXIT_FAIL;
	printf("Dumping %s\n", path);
	for (i = 0; i + esz <= len; i += esz) {
		const uint8_t *e = m + i;
		if (time) {
			/* A zero entry after the first ends the index. */
			if (i > 0 && all_zero(e, esz))
				break;
			if (i == 0 && all_zero(m, len))
				break;
			printf("timestamp: %" PRId64 " offset: %" PRId64 "\n",
			    (int64_t)be64(e), base + (int32_t)be32(e + 8));
		} else {
			/* Position 0 is never indexed: a zero entry ends it. */
			if (all_zero(e, esz))
				break;
			printf("offset: %" PRId64 " position: %" PRIu32 "\n",
			    base + (int32_t)be32(e), be32(e + 4));
		}
	}
	if (len)
		munmap((void *)m, len);
	return KST_EXIT_OK;
}

static const char usage[] =
    "usage: kstream dump [-r] [--deep] FILE...\n\n"
    "Prints a segment file (.log) batch by batch, or an offset index\n"
    "(.index) or time index (.timeindex) entry by entry.\n\n"
    "  -r, --records   also print each record: offset, timestamp,\n"
    "                  key, value and headers (text as it is, other\n"
    "                  bytes as \\xHH)\n"
    "  -d, --deep      validate every record of every batch, not\n"
    "                  only its CRC (isvalid)\n"
    "  -h, --help      this text\n\n"
    "Exit status: 0 done, 1 a file could not be read or holds a bad\n"
    "batch, 2 usage error.\n";

int kst_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "records", no_argument, NULL, 'r' },
		{ "deep", no_argument, NULL, 'd' },
		KST_LONGOPTS_END,
	};
	kst_args_t args = { argc, argv, ":rdh", longopts, usage, NULL, 0 };
	struct dump_opts o = { 0, 0 };
	int c, i, status = KST_EXIT_OK;

	while ((c = kst_getopt(&args)) != -1) {
		switch (c) {
		case KST_OPT_EXIT:
			return args.status;
		case 'r':
			o.records = 1;
			break;
		case 'd':
			o.deep = 1;
			break;
		}
	}
	if (optind >= argc) {
		kst_err("no file given (--help for usage)");
		return KST_EXIT_USAGE;
	}
	for (i = optind; i < argc; i++) {
		const char *f = argv[i];
		int rc;
		if (kst_ends_with(f, ".log"))
			rc = dump_log(f, &o);
		else if (kst_ends_with(f, ".timeindex"))
			rc = dump_index(f, 1);
		else if (kst_ends_with(f, ".index"))
			rc = dump_index(f, 0);
		else {
			kst_err("%s: not a .log, .index or .timeindex file", f);
			return KST_EXIT_USAGE;
		}
		if (rc != KST_EXIT_OK)
			status = rc;
	}
	return status;
}
