/*
 * proto.h: the Kafka wire protocol's primitives, shared by the server and
 * the client. One kp_io_t either reads a frame or writes one, and every
 * message is described once (msg.h) by a function that calls the
 * primitives below on pointers to its fields: in read mode they fill the
 * fields, in write mode they encode them.
 *
 * Reading: bounds-checked, with a sticky error. The first malformed input
 * (truncated, a negative length that is not an allowed null, a length or
 * count past the end, a varint too long) sets io->err = KS_ECORRUPT and
 * every later call is a no-op, so a message function runs to its end and
 * returns io->err. Strings are NUL-terminated copies in the arena; bytes
 * (kp_bytes) point into the frame, which must outlive them.
 *
 * Writing: into a growable buffer, plus "references" (kp_w_ref): external
 * bytes (a mapped log segment) placed at the current position without
 * being copied. Errors (KS_ENOMEM, KS_EINVAL for a value that cannot be
 * encoded at io->version) are sticky too.
 *
 * Not thread-safe: one kp_io_t per thread at a time.
 */
#ifndef KS_KAFKA_PROTO_H
#define KS_KAFKA_PROTO_H

#include <kstream/common.h>
#include <kstream/transport.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- API keys and the table of what we serve ------------------------- */

enum kp_api_key {
	KP_PRODUCE = 0,
	KP_FETCH = 1,
	KP_LIST_OFFSETS = 2,
	KP_METADATA = 3,
	KP_OFFSET_COMMIT = 8,
	KP_OFFSET_FETCH = 9,
	KP_FIND_COORDINATOR = 10,
	KP_JOIN_GROUP = 11,
	KP_HEARTBEAT = 12,
	KP_LEAVE_GROUP = 13,
	KP_SYNC_GROUP = 14,
	KP_DESCRIBE_GROUPS = 15,
	KP_LIST_GROUPS = 16,
	KP_API_VERSIONS = 18,
	KP_CREATE_TOPICS = 19,
	KP_DELETE_TOPICS = 20,
	KP_OFFSET_FOR_LEADER_EPOCH = 23,
	KP_DESCRIBE_CONFIGS = 32,
	KP_ALTER_CONFIGS = 33,
	KP_CREATE_PARTITIONS = 37,
	KP_DELETE_GROUPS = 42,
	KP_INCREMENTAL_ALTER_CONFIGS = 44,
	/* replication: brokers to their leaders and to the controller */
	KP_ALTER_PARTITION = 56,
	KP_BROKER_REGISTRATION = 62,
	KP_BROKER_HEARTBEAT = 63,
};

typedef struct kp_api {
	int16_t key;
	const char *name;     /* "Produce" */
	int16_t min_version;  /* the range we implement (and advertise) */
	int16_t max_version;
	int16_t flexible;     /* Kafka's first flexible version of the API,
	                         even when beyond max_version: it decides the
	                         header version of any request */
} kp_api_t;

/* The served APIs, by increasing key; kp_api_count() entries. */
extern const kp_api_t kp_apis[];
size_t kp_api_count(void);
/* The entry for key, or NULL if we do not serve it. */
const kp_api_t *kp_api_find(int16_t key);
/* 1 if we implement key at version, else 0. */
int kp_api_supported(int16_t key, int16_t version);
/* Whether (key, version) uses the flexible encoding (0 for unknown keys). */
int kp_api_flexible(int16_t key, int16_t version);
/* The API's name, or "Unknown". */
const char *kp_api_name(int16_t key);

/* ---- arena: the allocations of one decoded request, freed at once ------- */

typedef struct kp_arena_chunk kp_arena_chunk_t;
typedef struct kp_arena {
	kp_arena_chunk_t *head;  /* newest chunk first */
	size_t total;            /* bytes allocated from malloc */
} kp_arena_t;

/* A zeroed arena needs no init; kp_arena_init zeroes it. */
void kp_arena_init(kp_arena_t *a);
/* size zeroed bytes aligned for any type, or NULL (out of memory). */
void *kp_arena_alloc(kp_arena_t *a, size_t size);
/* Frees every allocation; the arena is empty and reusable. */
void kp_arena_free(kp_arena_t *a);

/* ---- values ------------------------------------------------------------ */

/* A string: s need not be NUL-terminated when writing; decoded ones are.
 * len -1 is null (s NULL). {NULL, 0} writes "". */
typedef struct {
	const char *s;
	int32_t len;
} kp_str_t;

/* Bytes: len -1 is null. Decoded ones point into the frame. */
typedef struct {
	const uint8_t *p;
	int32_t len;
} kp_bytes_t;

/* A kp_str_t for a C string; NULL gives a null string. */
kp_str_t kp_cstr(const char *s);
/* kp_str_t equality (null equals only null). */
int kp_str_eq(kp_str_t a, kp_str_t b);
/* Equality with a C string (NULL matches a null string). */
int kp_str_eq_c(kp_str_t a, const char *s);
/* kp_bytes_t equality (null equals only null). */
int kp_bytes_eq(kp_bytes_t a, kp_bytes_t b);

/* ---- the io ------------------------------------------------------------ */

/* A referenced piece of a writer's output (see kp_w_ref). */
typedef struct kp_ref {
	size_t pos;            /* offset in buf where the bytes go */
	const void *p;
	size_t len;
	void (*release)(void *arg);  /* may be NULL */
	void *arg;
} kp_ref_t;

typedef struct kp_io {
	int writing;          /* 0: reader, 1: writer */
	int err;              /* sticky: 0, KS_ECORRUPT, KS_ENOMEM, KS_EINVAL */
	int16_t version;      /* the API version of the body */
	int flexible;         /* that version uses the flexible encoding */

	/* reader */
	const uint8_t *start, *p, *end;
	kp_arena_t *arena;

	/* writer */
	uint8_t *buf;
	size_t len, cap;
	kp_ref_t *refs;
	size_t n_refs, cap_refs;
	size_t ref_bytes;     /* sum of the refs' lengths */
	size_t frame_pos;     /* offset in buf of the reserved prefix */
	size_t frame_ref_bytes; /* ref_bytes at kp_w_frame_begin */
	int in_frame;
} kp_io_t;

/*
 * kp_reader_init: a reader over frame[0..len) (a whole frame without its
 * length prefix), allocating from arena. version 0, not flexible until a
 * header function or kp_io_set_version sets them. Never fails.
 */
void kp_reader_init(kp_io_t *io, const void *frame, size_t len,
    kp_arena_t *arena);

/* kp_writer_init: an empty writer. Release with kp_writer_free(). */
void kp_writer_init(kp_io_t *io);

/* kp_writer_free: frees the buffer and calls release for every reference
 * not handed to a connection yet. NULL-safe; the io may be reused after
 * kp_writer_init. */
void kp_writer_free(kp_io_t *io);

/* Sets io->version and io->flexible for the body of (key, version). */
void kp_io_set_version(kp_io_t *io, int16_t key, int16_t version);

/* Reader: bytes not read yet. */
static inline size_t kp_r_left(const kp_io_t *io)
{
	return (size_t)(io->end - io->p);
}

/* Sets the sticky error (the first one wins). */
static inline void kp_fail(kp_io_t *io, int err)
{
	if (!io->err)
		io->err = err;
}

/* ---- primitives (both modes) -------------------------------------------- */

void kp_i8(kp_io_t *io, int8_t *v);
void kp_i16(kp_io_t *io, int16_t *v);
void kp_i32(kp_io_t *io, int32_t *v);
void kp_i64(kp_io_t *io, int64_t *v);
void kp_bool(kp_io_t *io, bool *v);        /* reading: any non-zero is true */
void kp_uuid(kp_io_t *io, uint8_t uuid[16]);
void kp_uvarint(kp_io_t *io, uint32_t *v); /* unsigned, at most 5 bytes */
void kp_varint(kp_io_t *io, int32_t *v);   /* zigzag */

/*
 * Strings: STRING or COMPACT_STRING per io->flexible. kp_str rejects null
 * (reading: KS_ECORRUPT; writing len -1: KS_EINVAL); kp_nstr allows it.
 * kp_str16/kp_nstr16 are always the non-compact form (the request
 * header's client_id in header v2).
 */
void kp_str(kp_io_t *io, kp_str_t *s);
void kp_nstr(kp_io_t *io, kp_str_t *s);
void kp_nstr16(kp_io_t *io, kp_str_t *s);

/*
 * Bytes: BYTES or COMPACT_BYTES; decoded ones point into the frame (zero
 * copy). kp_nbytes allows null (len -1).
 */
void kp_bytes(kp_io_t *io, kp_bytes_t *b);
void kp_nbytes(kp_io_t *io, kp_bytes_t *b);

/*
 * kp_nbytes_ref: as kp_nbytes, but in write mode b's bytes are added with
 * kp_w_ref(io, b->p, b->len, release, arg) instead of being copied, and
 * release(arg) (when not NULL) is called exactly once: after the bytes
 * are sent, or when the writer is freed, even if the io is in error.
 * Reading: as kp_nbytes (release is ignored).
 */
void kp_nbytes_ref(kp_io_t *io, kp_bytes_t *b, void (*release)(void *),
    void *arg);

/*
 * kp_array: an ARRAY or COMPACT_ARRAY's count. *elems is a pointer to the
 * array (pass &ptr; any element type), *n its count, -1 for null.
 * Reading: checks count * min_wire <= bytes left (min_wire: the fewest
 * bytes an element takes on the wire at any version, >= 1; too high a
 * value rejects valid input), so a huge count cannot make
 * us allocate; allocates count * elem_size zeroed bytes from the arena;
 * null only when nullable (else KS_ECORRUPT); *n = -1 and *elems = NULL
 * for null. Writing: writes *n (-1 only when nullable, else KS_EINVAL);
 * the caller then encodes the elements. Use KP_ARRAY.
 */
void kp_array(kp_io_t *io, void *elems, int32_t *n, size_t elem_size,
    size_t min_wire, int nullable);
#define KP_ARRAY(io, ptr, n, min_wire, nullable) \
	kp_array((io), &(ptr), &(n), sizeof(*(ptr)), (min_wire), (nullable))

/* Arrays of int32 and of (non-null) strings: count and elements. */
void kp_i32_array(kp_io_t *io, int32_t **a, int32_t *n, int nullable);
void kp_str_array(kp_io_t *io, kp_str_t **a, int32_t *n, int nullable);

/*
 * kp_tags: the tagged-field section of a flexible struct; a no-op when
 * !io->flexible. Reading skips every tagged field (we use none); writing
 * writes an empty one.
 */
void kp_tags(kp_io_t *io);

/* ---- the writer's output ------------------------------------------------- */

/* Appends len raw bytes (copied). */
void kp_w_raw(kp_io_t *io, const void *p, size_t len);

/*
 * kp_w_ref: len bytes at p go at the current position, not copied; p must
 * stay valid until release(arg) (when not NULL) is called, exactly once:
 * after they are sent (kp_w_send), by kp_writer_free, or at once if the
 * reference cannot be recorded (out of memory: the io gets KS_ENOMEM).
 */
void kp_w_ref(kp_io_t *io, const void *p, size_t len,
    void (*release)(void *arg), void *arg);

/* Total bytes written so far, references included. */
size_t kp_w_len(const kp_io_t *io);

/*
 * kp_w_frame_begin: reserves the 4-byte length prefix of a frame at the
 * current position; kp_w_frame_end fills it with the bytes written since
 * (KS_EMSGSIZE beyond INT32_MAX). One frame at a time.
 */
void kp_w_frame_begin(kp_io_t *io);
int kp_w_frame_end(kp_io_t *io);

/*
 * kp_w_send: sends everything written, in order, on conn (loop thread):
 * owned bytes with ks_conn_send, references with ks_conn_send_ref, which
 * then owns their release. Returns io->err if the writer is in error
 * (nothing sent), else 0 or ks_conn_send's error. Either way the writer
 * must still be freed with kp_writer_free (which releases only references
 * not handed over).
 */
int kp_w_send(kp_io_t *io, ks_conn_t *conn);

/*
 * kp_w_flatten: a malloc'd copy of everything written, references
 * included (tests, the fuzzer, or a transport without references). free()
 * it. KS_ENOMEM, or io->err.
 */
int kp_w_flatten(const kp_io_t *io, uint8_t **out, size_t *len);

/* ---- headers ------------------------------------------------------------ */

typedef struct kp_req_hdr {
	int16_t api_key;
	int16_t api_version;
	int32_t correlation_id;
	kp_str_t client_id;   /* nullable; never compact */
} kp_req_hdr_t;

/*
 * kp_req_hdr: reads or writes a request header: v1 (key, version,
 * correlation id, client id), or v2 (v1 + tagged fields) when the API is
 * flexible at that version (known APIs only: an unknown key is read as v1).
 * Then sets io->version/flexible for the body (kp_io_set_version). Returns
 * io->err.
 */
int kp_req_hdr(kp_io_t *io, kp_req_hdr_t *h);

/* The response header version of (key, version): 1 when flexible, 0 when
 * not, and always 0 for ApiVersions. */
int kp_resp_hdr_version(int16_t key, int16_t version);

/*
 * kp_resp_hdr: reads or writes the response header of (key, version)
 * (correlation id, + tagged fields in v1), then sets io->version/flexible
 * for the body. Returns io->err.
 */
int kp_resp_hdr(kp_io_t *io, int16_t key, int16_t version,
    int32_t *correlation_id);

/* ---- Kafka error codes (errors.c) ----------------------------------------- */

enum kp_error_code {
	KP_UNKNOWN_SERVER_ERROR = -1,
	KP_NONE = 0,
	KP_OFFSET_OUT_OF_RANGE = 1,
	KP_CORRUPT_MESSAGE = 2,
	KP_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KP_INVALID_FETCH_SIZE = 4,
	KP_LEADER_NOT_AVAILABLE = 5,
	KP_NOT_LEADER_OR_FOLLOWER = 6,
	KP_REQUEST_TIMED_OUT = 7,
	KP_MESSAGE_TOO_LARGE = 10,
	KP_OFFSET_METADATA_TOO_LARGE = 12,
	KP_NETWORK_EXCEPTION = 13,
	KP_COORDINATOR_LOAD_IN_PROGRESS = 14,
	KP_COORDINATOR_NOT_AVAILABLE = 15,
	KP_NOT_COORDINATOR = 16,
	KP_INVALID_TOPIC_EXCEPTION = 17,
	KP_RECORD_LIST_TOO_LARGE = 18,
	KP_NOT_ENOUGH_REPLICAS = 19,
	KP_NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
	KP_INVALID_REQUIRED_ACKS = 21,
	KP_ILLEGAL_GENERATION = 22,
	KP_INCONSISTENT_GROUP_PROTOCOL = 23,
	KP_INVALID_GROUP_ID = 24,
	KP_UNKNOWN_MEMBER_ID = 25,
	KP_INVALID_SESSION_TIMEOUT = 26,
	KP_REBALANCE_IN_PROGRESS = 27,
	KP_INVALID_COMMIT_OFFSET_SIZE = 28,
	KP_TOPIC_AUTHORIZATION_FAILED = 29,
	KP_GROUP_AUTHORIZATION_FAILED = 30,
	KP_UNSUPPORTED_VERSION = 35,
	KP_TOPIC_ALREADY_EXISTS = 36,
	KP_INVALID_PARTITIONS = 37,
	KP_INVALID_REPLICATION_FACTOR = 38,
	KP_INVALID_REPLICA_ASSIGNMENT = 39,
	KP_INVALID_CONFIG = 40,
	KP_NOT_CONTROLLER = 41,
	KP_INVALID_REQUEST = 42,
	KP_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
	KP_POLICY_VIOLATION = 44,
	KP_INVALID_TIMESTAMP = 32,
	KP_KAFKA_STORAGE_ERROR = 56,
	KP_GROUP_ID_NOT_FOUND = 69,
	KP_NON_EMPTY_GROUP = 68,
	KP_FENCED_LEADER_EPOCH = 74,
	KP_UNKNOWN_LEADER_EPOCH = 75,
	KP_UNSUPPORTED_COMPRESSION_TYPE = 76,
	KP_OFFSET_NOT_AVAILABLE = 78,
	KP_MEMBER_ID_REQUIRED = 79,
	KP_FENCED_INSTANCE_ID = 82,
	KP_UNKNOWN_TOPIC_ID = 100,
	KP_INELIGIBLE_REPLICA = 107,
	KP_NEW_LEADER_ELECTED = 108,
};

/* The Kafka code closest to a kstream error (KS_ETOPIC ->
 * UNKNOWN_TOPIC_OR_PARTITION, ...); 0 for 0; -1 UNKNOWN_SERVER_ERROR for
 * anything without one. */
int16_t ks__kafka_err_from_ks(int ks_err);
/* The reverse: 0 for NONE, the KS_E* code closest to a Kafka code, or
 * KS_EBROKER for codes without one. */
int ks__kafka_err_to_ks(int16_t code);
/* Sets this thread's ks_kafka_last_error() (the client, on a broker error). */
void ks__kafka_set_last_error(int16_t code);

#endif /* KS_KAFKA_PROTO_H */
