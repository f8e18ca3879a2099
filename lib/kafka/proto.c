/*
 * proto.c: the wire protocol's primitives (see proto.h): the arena, the
 * reader and writer, request and response headers, the table of APIs.
 */
#include "kafka/proto.h"

#include "core/internal.h"
#include "core/varint.h"

#include <stdlib.h>
#include <string.h>

/* ---- the API table -------------------------------------------------------- */

/* Ranges checked field by field against Kafka's message schemas;
 * "flexible" is Kafka's first flexible version of each API. */
const kp_api_t kp_apis[] = {
	/* Produce from v0: librdkafka enables gzip, snappy and lz4 only
	 * toward a broker whose Produce range reaches the old versions. Any
	 * version carries RecordBatch v2 here; magic 0/1 message sets get
	 * UNSUPPORTED_FOR_MESSAGE_FORMAT, as from Kafka 4. */
	{ KP_PRODUCE, "Produce", 0, 7, 9 },
	{ KP_FETCH, "Fetch", 4, 11, 12 },
	{ KP_LIST_OFFSETS, "ListOffsets", 0, 3, 6 },
	{ KP_METADATA, "Metadata", 0, 6, 9 },
	{ KP_OFFSET_COMMIT, "OffsetCommit", 0, 7, 8 },
	{ KP_OFFSET_FETCH, "OffsetFetch", 1, 5, 6 },
	{ KP_FIND_COORDINATOR, "FindCoordinator", 0, 2, 3 },
	{ KP_JOIN_GROUP, "JoinGroup", 0, 5, 6 },
	{ KP_HEARTBEAT, "Heartbeat", 0, 3, 4 },
	{ KP_LEAVE_GROUP, "LeaveGroup", 0, 3, 4 },
	{ KP_SYNC_GROUP, "SyncGroup", 0, 3, 4 },
	{ KP_DESCRIBE_GROUPS, "DescribeGroups", 0, 4, 5 },
	{ KP_LIST_GROUPS, "ListGroups", 0, 2, 3 },
	{ KP_API_VERSIONS, "ApiVersions", 0, 3, 3 },
	{ KP_CREATE_TOPICS, "CreateTopics", 0, 4, 5 },
	{ KP_DELETE_TOPICS, "DeleteTopics", 0, 3, 4 },
	{ KP_OFFSET_FOR_LEADER_EPOCH, "OffsetForLeaderEpoch", 0, 4, 4 },
	{ KP_DESCRIBE_CONFIGS, "DescribeConfigs", 0, 4, 4 },
	{ KP_ALTER_CONFIGS, "AlterConfigs", 0, 2, 2 },
	{ KP_CREATE_PARTITIONS, "CreatePartitions", 0, 3, 2 },
	{ KP_DELETE_GROUPS, "DeleteGroups", 0, 2, 2 },
	{ KP_INCREMENTAL_ALTER_CONFIGS, "IncrementalAlterConfigs", 0, 1, 1 },
	/* AlterPartition v2+ names topics by id, which kstream has not */
	{ KP_ALTER_PARTITION, "AlterPartition", 0, 1, 0 },
	{ KP_BROKER_REGISTRATION, "BrokerRegistration", 0, 1, 0 },
	{ KP_BROKER_HEARTBEAT, "BrokerHeartbeat", 0, 0, 0 },
};

size_t kp_api_count(void)
{
	return sizeof(kp_apis) / sizeof(kp_apis[0]);
}

const kp_api_t *kp_api_find(int16_t key)
{
	for (size_t i = 0; i < kp_api_count(); i++)
		if (kp_apis[i].key == key)
			return &kp_apis[i];
	return NULL;
}

int kp_api_supported(int16_t key, int16_t version)
{
	const kp_api_t *a = kp_api_find(key);
	return a && version >= a->min_version && version <= a->max_version;
}

int kp_api_flexible(int16_t key, int16_t version)
{
	const kp_api_t *a = kp_api_find(key);
	return a && version >= a->flexible;
}

const char *kp_api_name(int16_t key)
{
	const kp_api_t *a = kp_api_find(key);
	return a ? a->name : "Unknown";
}

/* ---- arena ---------------------------------------------------------------- */

struct kp_arena_chunk {
	kp_arena_chunk_t *next;
	size_t used, size;
	max_align_t data[];
};

#define KP_ARENA_CHUNK 8192

void kp_arena_init(kp_arena_t *a)
{
	a->head = NULL;
	a->total = 0;
}

void *kp_arena_alloc(kp_arena_t *a, size_t size)
{
	const size_t align = _Alignof(max_align_t);
	size_t need = (size + align - 1) & ~(align - 1);
	kp_arena_chunk_t *c = a->head;

	if (size > SIZE_MAX / 2)
		return NULL;
	if (need == 0)
		need = align;
	if (!c || c->size - c->used < need) {
		/* A big allocation gets a chunk of its own, behind the current
		 * one, so the current one's free space stays usable. */
		size_t csize = need > KP_ARENA_CHUNK / 2 ? need : KP_ARENA_CHUNK;
		kp_arena_chunk_t *n = malloc(sizeof(*n) + csize);
		if (!n)
			return NULL;
		n->size = csize;
		n->used = 0;
		a->total += csize;
		if (c && csize != KP_ARENA_CHUNK) {
			n->next = c->next;
			c->next = n;
		} else {
			n->next = c;
			a->head = n;
		}
		c = n;
	}
	void *p = (char *)c->data + c->used;
	c->used += need;
	memset(p, 0, size);
	return p;
}

void kp_arena_free(kp_arena_t *a)
{
	kp_arena_chunk_t *c = a->head;
	while (c) {
		kp_arena_chunk_t *n = c->next;
		free(c);
		c = n;
	}
	a->head = NULL;
	a->total = 0;
}

/* ---- values --------------------------------------------------------------- */

kp_str_t kp_cstr(const char *s)
{
	kp_str_t r = { s, -1 };
	if (s) {
		size_t n = strlen(s);
		r.len = n > INT32_MAX ? INT32_MAX : (int32_t)n;
	}
	return r;
}

int kp_str_eq(kp_str_t a, kp_str_t b)
{
	if (a.len < 0 || b.len < 0)
		return a.len < 0 && b.len < 0;
	return a.len == b.len && (a.len == 0 || !memcmp(a.s, b.s, (size_t)a.len));
}

int kp_str_eq_c(kp_str_t a, const char *s)
{
	return kp_str_eq(a, kp_cstr(s));
}

int kp_bytes_eq(kp_bytes_t a, kp_bytes_t b)
{
	if (a.len < 0 || b.len < 0)
		return a.len < 0 && b.len < 0;
	return a.len == b.len && (a.len == 0 || !memcmp(a.p, b.p, (size_t)a.len));
}

/* ---- io --------------------------------------------------------------------- */

void kp_reader_init(kp_io_t *io, const void *frame, size_t len,
    kp_arena_t *arena)
{
	memset(io, 0, sizeof(*io));
	io->start = io->p = frame;
	io->end = io->start + len;
	io->arena = arena;
}

void kp_writer_init(kp_io_t *io)
{
	memset(io, 0, sizeof(*io));
	io->writing = 1;
}

void kp_writer_free(kp_io_t *io)
{
	if (!io)
		return;
	for (size_t i = 0; i < io->n_refs; i++)
		if (io->refs[i].release)
			io->refs[i].release(io->refs[i].arg);
	free(io->refs);
	free(io->buf);
	io->refs = NULL;
	io->buf = NULL;
	io->n_refs = io->cap_refs = io->len = io->cap = io->ref_bytes = 0;
}

void kp_io_set_version(kp_io_t *io, int16_t key, int16_t version)
{
	io->version = version;
	io->flexible = kp_api_flexible(key, version);
}

/* Reader: n bytes at the cursor, or NULL (and KS_ECORRUPT). */
static const uint8_t *take(kp_io_t *io, size_t n)
{
	if (io->err)
		return NULL;
	if (kp_r_left(io) < n) {
		io->err = KS_ECORRUPT;
		return NULL;
	}
	const uint8_t *p = io->p;
	io->p += n;
	return p;
}

/* Writer: room for n more bytes at buf + len, or NULL (and KS_ENOMEM). */
static uint8_t *room(kp_io_t *io, size_t n)
{
	if (io->err)
		return NULL;
	if (io->cap - io->len < n) {
		size_t cap = io->cap ? io->cap : 256;
		while (cap - io->len < n) {
			if (cap > SIZE_MAX / 2) {
				io->err = KS_ENOMEM;
				return NULL;
			}
			cap *= 2;
		}
		uint8_t *b = realloc(io->buf, cap);
		if (!b) {
			io->err = KS_ENOMEM;
			return NULL;
		}
		io->buf = b;
		io->cap = cap;
	}
	return io->buf + io->len;
}

void kp_w_raw(kp_io_t *io, const void *p, size_t len)
{
	uint8_t *d = room(io, len);
	if (d) {
		if (len)
			memcpy(d, p, len);
		io->len += len;
	}
}

/* ---- primitives ------------------------------------------------------------- */

void kp_i8(kp_io_t *io, int8_t *v)
{
	if (io->writing) {
		uint8_t b = (uint8_t)*v;
		kp_w_raw(io, &b, 1);
	} else {
		const uint8_t *p = take(io, 1);
		if (p)
			*v = (int8_t)p[0];
	}
}

void kp_i16(kp_io_t *io, int16_t *v)
{
	if (io->writing) {
		uint8_t b[2];
		ks__put_be16(b, (uint16_t)*v);
		kp_w_raw(io, b, 2);
	} else {
		const uint8_t *p = take(io, 2);
		if (p)
			*v = (int16_t)ks__be16(p);
	}
}

void kp_i32(kp_io_t *io, int32_t *v)
{
	if (io->writing) {
		uint8_t b[4];
		ks__put_be32(b, (uint32_t)*v);
		kp_w_raw(io, b, 4);
	} else {
		const uint8_t *p = take(io, 4);
		if (p)
			*v = (int32_t)ks__be32(p);
	}
}

void kp_i64(kp_io_t *io, int64_t *v)
{
	if (io->writing) {
		uint8_t b[8];
		ks__put_be64(b, (uint64_t)*v);
		kp_w_raw(io, b, 8);
	} else {
		const uint8_t *p = take(io, 8);
		if (p)
			*v = (int64_t)ks__be64(p);
	}
}

void kp_bool(kp_io_t *io, bool *v)
{
	int8_t b = *v ? 1 : 0;
	kp_i8(io, &b);
	if (!io->writing && !io->err)
		*v = b != 0;
}

void kp_uuid(kp_io_t *io, uint8_t uuid[16])
{
	if (io->writing) {
		kp_w_raw(io, uuid, 16);
	} else {
		const uint8_t *p = take(io, 16);
		if (p)
			memcpy(uuid, p, 16);
	}
}

/* The protocol's unsigned varints hold 32 bits: at most 5 bytes. */
static int get_uvarint32(kp_io_t *io, uint32_t *v)
{
	uint64_t u;
	size_t n;
	if (io->err)
		return -1;
	n = ks__uvarint_get(io->p, io->end, &u);
	if (n == 0 || n > 5 || u > UINT32_MAX) {
		io->err = KS_ECORRUPT;
		return -1;
	}
	io->p += n;
	*v = (uint32_t)u;
	return 0;
}

static void put_uvarint(kp_io_t *io, uint64_t v)
{
	uint8_t b[KS__VARINT_MAX];
	kp_w_raw(io, b, ks__uvarint_put(b, v));
}

void kp_uvarint(kp_io_t *io, uint32_t *v)
{
	if (io->writing)
		put_uvarint(io, *v);
	else
		get_uvarint32(io, v);
}

void kp_varint(kp_io_t *io, int32_t *v)
{
	if (io->writing) {
		put_uvarint(io, ks__zigzag64(*v) & 0xffffffffu);
		return;
	}
	uint32_t u;
	if (get_uvarint32(io, &u) == 0)
		*v = (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

/*
 * Reads a length: int16 (strings), int32 (bytes, arrays) or a compact
 * unsigned varint N+1 (flexible). Returns the length as sent (-1 null,
 * other negatives are the caller's to reject), or LEN_ERR on error
 * (io->err set).
 */
enum { LEN16, LEN32 };
#define LEN_ERR INT64_MIN

static int64_t read_len(kp_io_t *io, int wide, int compact)
{
	if (compact) {
		uint32_t u;
		if (get_uvarint32(io, &u))
			return LEN_ERR;
		return (int64_t)u - 1;
	}
	if (wide == LEN16) {
		int16_t n = 0;
		kp_i16(io, &n);
		return io->err ? LEN_ERR : n;
	}
	int32_t n = 0;
	kp_i32(io, &n);
	return io->err ? LEN_ERR : n;
}

static void write_len(kp_io_t *io, int64_t len, int wide, int compact)
{
	if (compact) {
		put_uvarint(io, (uint64_t)(len + 1));
	} else if (wide == LEN16) {
		int16_t n = (int16_t)len;
		kp_i16(io, &n);
	} else {
		int32_t n = (int32_t)len;
		kp_i32(io, &n);
	}
}

static void str_io(kp_io_t *io, kp_str_t *s, int nullable, int compact)
{
	if (io->err)
		return;
	if (io->writing) {
		if (s->len < 0) {
			if (!nullable) {
				io->err = KS_EINVAL;
				return;
			}
			write_len(io, -1, LEN16, compact);
			return;
		}
		if (!compact && s->len > INT16_MAX) {
			io->err = KS_EINVAL;
			return;
		}
		write_len(io, s->len, LEN16, compact);
		if (s->len)
			kp_w_raw(io, s->s, (size_t)s->len);
		return;
	}
	int64_t n = read_len(io, LEN16, compact);
	if (n == LEN_ERR)
		return;
	if (n < 0) {
		if (n != -1 || !nullable) {
			io->err = KS_ECORRUPT;
			return;
		}
		s->s = NULL;
		s->len = -1;
		return;
	}
	const uint8_t *p = take(io, (size_t)n);
	if (!p)
		return;
	char *c = kp_arena_alloc(io->arena, (size_t)n + 1);
	if (!c) {
		io->err = KS_ENOMEM;
		return;
	}
	memcpy(c, p, (size_t)n);
	c[n] = '\0';
	s->s = c;
	s->len = (int32_t)n;
}

void kp_str(kp_io_t *io, kp_str_t *s)
{
	str_io(io, s, 0, io->flexible);
}

void kp_nstr(kp_io_t *io, kp_str_t *s)
{
	str_io(io, s, 1, io->flexible);
}

void kp_nstr16(kp_io_t *io, kp_str_t *s)
{
	str_io(io, s, 1, 0);
}

static void bytes_io(kp_io_t *io, kp_bytes_t *b, int nullable,
    void (*release)(void *), void *arg, int by_ref)
{
	if (io->writing) {
		if (io->err || (b->len < 0 && !nullable)) {
			kp_fail(io, KS_EINVAL);
			if (by_ref && release)
				release(arg);
			return;
		}
		write_len(io, b->len < 0 ? -1 : b->len, LEN32, io->flexible);
		if (b->len <= 0) {
			if (by_ref && release)
				release(arg);
			return;
		}
		if (by_ref)
			kp_w_ref(io, b->p, (size_t)b->len, release, arg);
		else
			kp_w_raw(io, b->p, (size_t)b->len);
		return;
	}
	int64_t n = read_len(io, LEN32, io->flexible);
	if (n == LEN_ERR)
		return;
	if (n < 0) {
		if (n != -1 || !nullable) {
			io->err = KS_ECORRUPT;
			return;
		}
		b->p = NULL;
		b->len = -1;
		return;
	}
	const uint8_t *p = take(io, (size_t)n);
	if (!p)
		return;
	b->p = p;
	b->len = (int32_t)n;
}

void kp_bytes(kp_io_t *io, kp_bytes_t *b)
{
	bytes_io(io, b, 0, NULL, NULL, 0);
}

void kp_nbytes(kp_io_t *io, kp_bytes_t *b)
{
	bytes_io(io, b, 1, NULL, NULL, 0);
}

void kp_nbytes_ref(kp_io_t *io, kp_bytes_t *b, void (*release)(void *),
    void *arg)
{
	bytes_io(io, b, 1, release, arg, 1);
}

void kp_array(kp_io_t *io, void *elems, int32_t *n, size_t elem_size,
    size_t min_wire, int nullable)
{
	void *ptr = NULL;
	if (io->err)
		return;
	if (io->writing) {
		if (*n < 0 && !nullable) {
			io->err = KS_EINVAL;
			return;
		}
		write_len(io, *n < 0 ? -1 : *n, LEN32, io->flexible);
		return;
	}
	int64_t cnt = read_len(io, LEN32, io->flexible);
	if (cnt == LEN_ERR)
		return;
	if (cnt < 0) {
		if (cnt != -1 || !nullable) {
			io->err = KS_ECORRUPT;
			return;
		}
		*n = -1;
		memcpy(elems, &ptr, sizeof(ptr));
		return;
	}
	if (min_wire == 0)
		min_wire = 1;
	if ((uint64_t)cnt > kp_r_left(io) / min_wire) {
		io->err = KS_ECORRUPT;
		return;
	}
	if (cnt > 0) {
		ptr = kp_arena_alloc(io->arena, (size_t)cnt * elem_size);
		if (!ptr) {
			io->err = KS_ENOMEM;
			return;
		}
	}
	memcpy(elems, &ptr, sizeof(ptr));
	*n = (int32_t)cnt;
}

void kp_tags(kp_io_t *io)
{
	if (!io->flexible || io->err)
		return;
	if (io->writing) {
		put_uvarint(io, 0);
		return;
	}
	uint32_t count, tag, size;
	if (get_uvarint32(io, &count))
		return;
	for (uint32_t i = 0; i < count && !io->err; i++) {
		if (get_uvarint32(io, &tag) || get_uvarint32(io, &size))
			return;
		take(io, size);
	}
}

/* ---- writer output ---------------------------------------------------------- */

void kp_w_ref(kp_io_t *io, const void *p, size_t len,
    void (*release)(void *arg), void *arg)
{
	/* Recorded even after an error, so that release is always called
	 * exactly once (by kp_writer_free at the latest). */
	if (io->n_refs == io->cap_refs) {
		size_t cap = io->cap_refs ? io->cap_refs * 2 : 8;
		kp_ref_t *r = realloc(io->refs, cap * sizeof(*r));
		if (!r) {
			kp_fail(io, KS_ENOMEM);
			if (release)
				release(arg);
			return;
		}
		io->refs = r;
		io->cap_refs = cap;
	}
	io->refs[io->n_refs++] = (kp_ref_t){ io->len, p, len, release, arg };
	io->ref_bytes += len;
}

size_t kp_w_len(const kp_io_t *io)
{
	return io->len + io->ref_bytes;
}

void kp_w_frame_begin(kp_io_t *io)
{
	static const uint8_t zero[4];
	io->frame_pos = io->len;
	io->frame_ref_bytes = io->ref_bytes;
	io->in_frame = 1;
	kp_w_raw(io, zero, 4);
}

int kp_w_frame_end(kp_io_t *io)
{
	if (!io->in_frame)
		kp_fail(io, KS_EINVAL);
	io->in_frame = 0;
	if (io->err)
		return io->err;
	/* The prefix lies in buf; references added since follow it. */
	size_t n = io->len - io->frame_pos - 4 +
	    (io->ref_bytes - io->frame_ref_bytes);
	if (n > INT32_MAX) {
		io->err = KS_EMSGSIZE;
		return io->err;
	}
	ks__put_be32(io->buf + io->frame_pos, (uint32_t)n);
	return 0;
}

int kp_w_flatten(const kp_io_t *io, uint8_t **out, size_t *len)
{
	size_t total = kp_w_len(io), off = 0, o = 0;
	uint8_t *b;
	if (io->err)
		return io->err;
	b = malloc(total ? total : 1);
	if (!b)
		return KS_ENOMEM;
	for (size_t i = 0; i < io->n_refs; i++) {
		const kp_ref_t *r = &io->refs[i];
		memcpy(b + o, io->buf + off, r->pos - off);
		o += r->pos - off;
		off = r->pos;
		if (r->len)
			memcpy(b + o, r->p, r->len);
		o += r->len;
	}
	if (io->len > off)
		memcpy(b + o, io->buf + off, io->len - off);
	*out = b;
	*len = total;
	return 0;
}

/* ---- headers ---------------------------------------------------------------- */

int kp_req_hdr(kp_io_t *io, kp_req_hdr_t *h)
{
	io->flexible = 0;
	kp_i16(io, &h->api_key);
	kp_i16(io, &h->api_version);
	kp_i32(io, &h->correlation_id);
	kp_nstr16(io, &h->client_id);
	io->flexible = kp_api_flexible(h->api_key, h->api_version);
	kp_tags(io);
	io->version = h->api_version;
	return io->err;
}

int kp_resp_hdr_version(int16_t key, int16_t version)
{
	if (key == KP_API_VERSIONS)
		return 0;
	return kp_api_flexible(key, version) ? 1 : 0;
}

int kp_resp_hdr(kp_io_t *io, int16_t key, int16_t version,
    int32_t *correlation_id)
{
	kp_i32(io, correlation_id);
	io->flexible = kp_resp_hdr_version(key, version);
	kp_tags(io);
	kp_io_set_version(io, key, version);
	return io->err;
}

/* ---- arrays of primitives -------------------------------------------------- */

void kp_i32_array(kp_io_t *io, int32_t **a, int32_t *n, int nullable)
{
	KP_ARRAY(io, *a, *n, 4, nullable);
	for (int32_t i = 0; i < *n; i++)
		kp_i32(io, &(*a)[i]);
}

void kp_str_array(kp_io_t *io, kp_str_t **a, int32_t *n, int nullable)
{
	KP_ARRAY(io, *a, *n, 1, nullable);
	for (int32_t i = 0; i < *n; i++)
		kp_str(io, &(*a)[i]);
}
