/*
 * msg.h: the bodies of every request and response kstream serves, one
 * struct each, and one function per struct that reads or writes it at
 * io->version (see proto.h): int kp_<api>_req(io, m), kp_<api>_resp(io, m).
 * They return io->err (0, KS_ECORRUPT when reading, KS_ENOMEM or
 * KS_EINVAL when writing).
 *
 * Reading fills m (which must start zeroed: kp_reader_init does not touch
 * it) with arrays and strings allocated from io->arena and bytes pointing
 * into the frame. Fields absent at the version are set to Kafka's
 * documented default (noted "= x"), otherwise left zero. Writing encodes
 * only the fields that exist at io->version.
 *
 * Arrays: a pointer and an int32_t n_<name> count; -1 is a null array
 * where the protocol allows one (noted "nullable"). Versions noted "vN+"
 * exist from N on, as in Kafka's message schemas.
 */
#ifndef KS_KAFKA_MSG_H
#define KS_KAFKA_MSG_H

#include "kafka/proto.h"

/* ---- Produce (0), v3-7 ------------------------------------------------ */

typedef struct kp_produce_req_part {
	int32_t index;
	kp_bytes_t records;          /* nullable; RecordBatch(es), zero-copy */
	/* writing only: when set, records are sent by reference and
	 * records_release(records_arg) is called once (kp_nbytes_ref) */
	void (*records_release)(void *arg);
	void *records_arg;
} kp_produce_req_part_t;

typedef struct kp_produce_req_topic {
	kp_str_t name;
	int32_t n_partitions;
	kp_produce_req_part_t *partitions;
} kp_produce_req_topic_t;

typedef struct kp_produce_req {
	kp_str_t transactional_id;   /* v3+, nullable */
	int16_t acks;                /* 0: no response is sent */
	int32_t timeout_ms;
	int32_t n_topics;
	kp_produce_req_topic_t *topics;
} kp_produce_req_t;

typedef struct kp_produce_resp_part {
	int32_t index;
	int16_t error_code;
	int64_t base_offset;
	int64_t log_append_time_ms;  /* v2+ = -1 */
	int64_t log_start_offset;    /* v5+ = -1 */
} kp_produce_resp_part_t;

typedef struct kp_produce_resp_topic {
	kp_str_t name;
	int32_t n_partitions;
	kp_produce_resp_part_t *partitions;
} kp_produce_resp_topic_t;

typedef struct kp_produce_resp {
	int32_t n_topics;
	kp_produce_resp_topic_t *topics;
	int32_t throttle_time_ms;    /* v1+ */
} kp_produce_resp_t;

int kp_produce_req(kp_io_t *io, kp_produce_req_t *m);
int kp_produce_resp(kp_io_t *io, kp_produce_resp_t *m);

/* ---- Fetch (1), v4-11 ----------------------------------------------------- */

typedef struct kp_fetch_req_part {
	int32_t partition;
	int32_t current_leader_epoch; /* v9+ = -1 */
	int64_t fetch_offset;
	int64_t log_start_offset;     /* v5+ = -1 */
	int32_t partition_max_bytes;
} kp_fetch_req_part_t;

typedef struct kp_fetch_req_topic {
	kp_str_t topic;
	int32_t n_partitions;
	kp_fetch_req_part_t *partitions;
} kp_fetch_req_topic_t;

typedef struct kp_fetch_forgotten {
	kp_str_t topic;
	int32_t n_partitions;
	int32_t *partitions;
} kp_fetch_forgotten_t;

typedef struct kp_fetch_req {
	int32_t replica_id;          /* -1 for consumers */
	int32_t max_wait_ms;
	int32_t min_bytes;
	int32_t max_bytes;           /* v3+ = 0x7fffffff */
	int8_t isolation_level;      /* v4+ = 0 (read uncommitted) */
	int32_t session_id;          /* v7+ = 0 */
	int32_t session_epoch;       /* v7+ = -1 */
	int32_t n_topics;
	kp_fetch_req_topic_t *topics;
	int32_t n_forgotten;         /* v7+ */
	kp_fetch_forgotten_t *forgotten;
	kp_str_t rack_id;            /* v11+ = "" */
} kp_fetch_req_t;

typedef struct kp_aborted_txn {
	int64_t producer_id;
	int64_t first_offset;
} kp_aborted_txn_t;

typedef struct kp_fetch_resp_part {
	int32_t partition;
	int16_t error_code;
	int64_t high_watermark;
	int64_t last_stable_offset;   /* v4+ = -1 */
	int64_t log_start_offset;     /* v5+ = -1 */
	int32_t n_aborted;            /* v4+, nullable */
	kp_aborted_txn_t *aborted;
	int32_t preferred_read_replica; /* v11+ = -1 */
	kp_bytes_t records;           /* nullable; zero-copy both ways */
	/* writing only: when set, records are sent by reference (a log
	 * view) and records_release(records_arg) is called exactly once,
	 * even if encoding fails (kp_nbytes_ref) */
	void (*records_release)(void *arg);
	void *records_arg;
} kp_fetch_resp_part_t;

typedef struct kp_fetch_resp_topic {
	kp_str_t topic;
	int32_t n_partitions;
	kp_fetch_resp_part_t *partitions;
} kp_fetch_resp_topic_t;

typedef struct kp_fetch_resp {
	int32_t throttle_time_ms;     /* v1+ */
	int16_t error_code;           /* v7+ */
	int32_t session_id;           /* v7+ */
	int32_t n_topics;
	kp_fetch_resp_topic_t *topics;
} kp_fetch_resp_t;

int kp_fetch_req(kp_io_t *io, kp_fetch_req_t *m);
int kp_fetch_resp(kp_io_t *io, kp_fetch_resp_t *m);

/* ---- ListOffsets (2), v0-3 ------------------------------------------------ */

typedef struct kp_list_offsets_req_part {
	int32_t partition;
	int64_t timestamp;           /* -1 latest, -2 earliest, else a time */
	int32_t max_num_offsets;     /* v0 only = 1 */
} kp_list_offsets_req_part_t;

typedef struct kp_list_offsets_req_topic {
	kp_str_t name;
	int32_t n_partitions;
	kp_list_offsets_req_part_t *partitions;
} kp_list_offsets_req_topic_t;

typedef struct kp_list_offsets_req {
	int32_t replica_id;          /* -1 for consumers */
	int8_t isolation_level;      /* v2+ = 0 */
	int32_t n_topics;
	kp_list_offsets_req_topic_t *topics;
} kp_list_offsets_req_t;

/*
 * v0 answers with an array of offsets instead of (timestamp, offset).
 * Reading v0: old_offsets/n_old_offsets as sent, offset = the first of
 * them (-1 if none), timestamp = -1. Writing v0: old_offsets if
 * n_old_offsets > 0, else [offset] when offset >= 0, else [].
 */
typedef struct kp_list_offsets_resp_part {
	int32_t partition;
	int16_t error_code;
	int32_t n_old_offsets;       /* v0 only */
	int64_t *old_offsets;
	int64_t timestamp;           /* v1+ = -1 */
	int64_t offset;              /* v1+ = -1 */
} kp_list_offsets_resp_part_t;

typedef struct kp_list_offsets_resp_topic {
	kp_str_t name;
	int32_t n_partitions;
	kp_list_offsets_resp_part_t *partitions;
} kp_list_offsets_resp_topic_t;

typedef struct kp_list_offsets_resp {
	int32_t throttle_time_ms;    /* v2+ */
	int32_t n_topics;
	kp_list_offsets_resp_topic_t *topics;
} kp_list_offsets_resp_t;

int kp_list_offsets_req(kp_io_t *io, kp_list_offsets_req_t *m);
int kp_list_offsets_resp(kp_io_t *io, kp_list_offsets_resp_t *m);

/* ---- Metadata (3), v0-6 --------------------------------------------------- */

typedef struct kp_metadata_req {
	/* -1 (null): all topics. On the wire v0 has no null and sends [] for
	 * "all"; reading v0 [] gives -1, writing v0 -1 gives []. v1+ [] is
	 * "no topics" (n_topics 0). */
	int32_t n_topics;
	kp_str_t *topics;
	bool allow_auto_topic_creation; /* v4+ = true */
} kp_metadata_req_t;

typedef struct kp_metadata_broker {
	int32_t node_id;
	kp_str_t host;
	int32_t port;
	kp_str_t rack;               /* v1+, nullable = null */
} kp_metadata_broker_t;

typedef struct kp_metadata_part {
	int16_t error_code;
	int32_t partition;
	int32_t leader_id;
	int32_t n_replicas;
	int32_t *replicas;
	int32_t n_isr;
	int32_t *isr;
	int32_t n_offline;           /* v5+ */
	int32_t *offline;
} kp_metadata_part_t;

typedef struct kp_metadata_topic {
	int16_t error_code;
	kp_str_t name;
	bool is_internal;            /* v1+ = false */
	int32_t n_partitions;
	kp_metadata_part_t *partitions;
} kp_metadata_topic_t;

typedef struct kp_metadata_resp {
	int32_t throttle_time_ms;    /* v3+ */
	int32_t n_brokers;
	kp_metadata_broker_t *brokers;
	kp_str_t cluster_id;         /* v2+, nullable = null */
	int32_t controller_id;       /* v1+ = -1 */
	int32_t n_topics;
	kp_metadata_topic_t *topics;
} kp_metadata_resp_t;

int kp_metadata_req(kp_io_t *io, kp_metadata_req_t *m);
int kp_metadata_resp(kp_io_t *io, kp_metadata_resp_t *m);

/* ---- OffsetCommit (8), v0-7 ----------------------------------------------- */

typedef struct kp_offset_commit_req_part {
	int32_t partition;
	int64_t offset;
	int32_t leader_epoch;        /* v6+ = -1 */
	int64_t commit_timestamp;    /* v1 only = -1 */
	kp_str_t metadata;           /* nullable */
} kp_offset_commit_req_part_t;

typedef struct kp_offset_commit_req_topic {
	kp_str_t name;
	int32_t n_partitions;
	kp_offset_commit_req_part_t *partitions;
} kp_offset_commit_req_topic_t;

typedef struct kp_offset_commit_req {
	kp_str_t group_id;
	int32_t generation_id;       /* v1+ = -1 */
	kp_str_t member_id;          /* v1+ = "" */
	kp_str_t group_instance_id;  /* v7+, nullable = null */
	int64_t retention_time_ms;   /* v2-4 = -1 */
	int32_t n_topics;
	kp_offset_commit_req_topic_t *topics;
} kp_offset_commit_req_t;

typedef struct kp_offset_commit_resp_part {
	int32_t partition;
	int16_t error_code;
} kp_offset_commit_resp_part_t;

typedef struct kp_offset_commit_resp_topic {
	kp_str_t name;
	int32_t n_partitions;
	kp_offset_commit_resp_part_t *partitions;
} kp_offset_commit_resp_topic_t;

typedef struct kp_offset_commit_resp {
	int32_t throttle_time_ms;    /* v3+ */
	int32_t n_topics;
	kp_offset_commit_resp_topic_t *topics;
} kp_offset_commit_resp_t;

int kp_offset_commit_req(kp_io_t *io, kp_offset_commit_req_t *m);
int kp_offset_commit_resp(kp_io_t *io, kp_offset_commit_resp_t *m);

/* ---- OffsetFetch (9), v1-5 ------------------------------------------------ */

typedef struct kp_offset_fetch_req_topic {
	kp_str_t name;
	int32_t n_partitions;
	int32_t *partitions;
} kp_offset_fetch_req_topic_t;

typedef struct kp_offset_fetch_req {
	kp_str_t group_id;
	int32_t n_topics;            /* v2+ nullable: -1 = every committed */
	kp_offset_fetch_req_topic_t *topics;
} kp_offset_fetch_req_t;

typedef struct kp_offset_fetch_resp_part {
	int32_t partition;
	int64_t offset;              /* -1: nothing committed */
	int32_t leader_epoch;        /* v5+ = -1 */
	kp_str_t metadata;           /* nullable */
	int16_t error_code;
} kp_offset_fetch_resp_part_t;

typedef struct kp_offset_fetch_resp_topic {
	kp_str_t name;
	int32_t n_partitions;
	kp_offset_fetch_resp_part_t *partitions;
} kp_offset_fetch_resp_topic_t;

typedef struct kp_offset_fetch_resp {
	int32_t throttle_time_ms;    /* v3+ */
	int32_t n_topics;
	kp_offset_fetch_resp_topic_t *topics;
	int16_t error_code;          /* v2+ */
} kp_offset_fetch_resp_t;

int kp_offset_fetch_req(kp_io_t *io, kp_offset_fetch_req_t *m);
int kp_offset_fetch_resp(kp_io_t *io, kp_offset_fetch_resp_t *m);

/* ---- FindCoordinator (10), v0-2 ------------------------------------------- */

typedef struct kp_find_coordinator_req {
	kp_str_t key;                /* the group id */
	int8_t key_type;             /* v1+ = 0 (group); 1 transaction */
} kp_find_coordinator_req_t;

typedef struct kp_find_coordinator_resp {
	int32_t throttle_time_ms;    /* v1+ */
	int16_t error_code;
	kp_str_t error_message;      /* v1+, nullable = null */
	int32_t node_id;
	kp_str_t host;
	int32_t port;
} kp_find_coordinator_resp_t;

int kp_find_coordinator_req(kp_io_t *io, kp_find_coordinator_req_t *m);
int kp_find_coordinator_resp(kp_io_t *io, kp_find_coordinator_resp_t *m);

/* ---- JoinGroup (11), v0-5 ------------------------------------------------- */

typedef struct kp_join_group_protocol {
	kp_str_t name;
	kp_bytes_t metadata;
} kp_join_group_protocol_t;

typedef struct kp_join_group_req {
	kp_str_t group_id;
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms; /* v1+ = session_timeout_ms */
	kp_str_t member_id;
	kp_str_t group_instance_id;  /* v5+, nullable = null */
	kp_str_t protocol_type;
	int32_t n_protocols;
	kp_join_group_protocol_t *protocols;
} kp_join_group_req_t;

typedef struct kp_join_group_member {
	kp_str_t member_id;
	kp_str_t group_instance_id;  /* v5+, nullable = null */
	kp_bytes_t metadata;
} kp_join_group_member_t;

typedef struct kp_join_group_resp {
	int32_t throttle_time_ms;    /* v2+ */
	int16_t error_code;
	int32_t generation_id;
	kp_str_t protocol_name;
	kp_str_t leader;
	kp_str_t member_id;
	int32_t n_members;           /* the leader's only */
	kp_join_group_member_t *members;
} kp_join_group_resp_t;

int kp_join_group_req(kp_io_t *io, kp_join_group_req_t *m);
int kp_join_group_resp(kp_io_t *io, kp_join_group_resp_t *m);

/* ---- Heartbeat (12), v0-3 ------------------------------------------------- */

typedef struct kp_heartbeat_req {
	kp_str_t group_id;
	int32_t generation_id;
	kp_str_t member_id;
	kp_str_t group_instance_id;  /* v3+, nullable = null */
} kp_heartbeat_req_t;

typedef struct kp_heartbeat_resp {
	int32_t throttle_time_ms;    /* v1+ */
	int16_t error_code;
} kp_heartbeat_resp_t;

int kp_heartbeat_req(kp_io_t *io, kp_heartbeat_req_t *m);
int kp_heartbeat_resp(kp_io_t *io, kp_heartbeat_resp_t *m);

/* ---- LeaveGroup (13), v0-3 ------------------------------------------------ */

typedef struct kp_leave_group_member {
	kp_str_t member_id;
	kp_str_t group_instance_id;  /* nullable */
} kp_leave_group_member_t;

typedef struct kp_leave_group_req {
	kp_str_t group_id;
	kp_str_t member_id;          /* v0-2 */
	int32_t n_members;           /* v3+ */
	kp_leave_group_member_t *members;
} kp_leave_group_req_t;

typedef struct kp_leave_group_member_resp {
	kp_str_t member_id;
	kp_str_t group_instance_id;  /* nullable */
	int16_t error_code;
} kp_leave_group_member_resp_t;

typedef struct kp_leave_group_resp {
	int32_t throttle_time_ms;    /* v1+ */
	int16_t error_code;
	int32_t n_members;           /* v3+ */
	kp_leave_group_member_resp_t *members;
} kp_leave_group_resp_t;

int kp_leave_group_req(kp_io_t *io, kp_leave_group_req_t *m);
int kp_leave_group_resp(kp_io_t *io, kp_leave_group_resp_t *m);

/* ---- SyncGroup (14), v0-3 ------------------------------------------------- */

typedef struct kp_sync_group_assignment {
	kp_str_t member_id;
	kp_bytes_t assignment;
} kp_sync_group_assignment_t;

typedef struct kp_sync_group_req {
	kp_str_t group_id;
	int32_t generation_id;
	kp_str_t member_id;
	kp_str_t group_instance_id;  /* v3+, nullable = null */
	int32_t n_assignments;       /* the leader's only */
	kp_sync_group_assignment_t *assignments;
} kp_sync_group_req_t;

typedef struct kp_sync_group_resp {
	int32_t throttle_time_ms;    /* v1+ */
	int16_t error_code;
	kp_bytes_t assignment;
} kp_sync_group_resp_t;

int kp_sync_group_req(kp_io_t *io, kp_sync_group_req_t *m);
int kp_sync_group_resp(kp_io_t *io, kp_sync_group_resp_t *m);

/* ---- DescribeGroups (15), v0-4 -------------------------------------------- */

typedef struct kp_describe_groups_req {
	int32_t n_groups;
	kp_str_t *groups;
	bool include_authorized_operations; /* v3+ */
} kp_describe_groups_req_t;

typedef struct kp_described_member {
	kp_str_t member_id;
	kp_str_t group_instance_id;  /* v4+, nullable = null */
	kp_str_t client_id;
	kp_str_t client_host;
	kp_bytes_t metadata;
	kp_bytes_t assignment;
} kp_described_member_t;

typedef struct kp_described_group {
	int16_t error_code;
	kp_str_t group_id;
	kp_str_t state;              /* "Stable", "Empty", "Dead", ... */
	kp_str_t protocol_type;
	kp_str_t protocol_data;      /* the chosen protocol (assignor) */
	int32_t n_members;
	kp_described_member_t *members;
	int32_t authorized_operations; /* v3+ = INT32_MIN */
} kp_described_group_t;

typedef struct kp_describe_groups_resp {
	int32_t throttle_time_ms;    /* v1+ */
	int32_t n_groups;
	kp_described_group_t *groups;
} kp_describe_groups_resp_t;

int kp_describe_groups_req(kp_io_t *io, kp_describe_groups_req_t *m);
int kp_describe_groups_resp(kp_io_t *io, kp_describe_groups_resp_t *m);

/* ---- ListGroups (16), v0-2 ------------------------------------------------ */

typedef struct kp_list_groups_req {
	int unused;                  /* the body is empty up to v3 */
} kp_list_groups_req_t;

typedef struct kp_listed_group {
	kp_str_t group_id;
	kp_str_t protocol_type;
} kp_listed_group_t;

typedef struct kp_list_groups_resp {
	int32_t throttle_time_ms;    /* v1+ */
	int16_t error_code;
	int32_t n_groups;
	kp_listed_group_t *groups;
} kp_list_groups_resp_t;

int kp_list_groups_req(kp_io_t *io, kp_list_groups_req_t *m);
int kp_list_groups_resp(kp_io_t *io, kp_list_groups_resp_t *m);

/* ---- ApiVersions (18), v0-3 ----------------------------------------------- */

typedef struct kp_api_versions_req {
	kp_str_t client_software_name;    /* v3+ = "" */
	kp_str_t client_software_version; /* v3+ = "" */
} kp_api_versions_req_t;

typedef struct kp_api_version {
	int16_t api_key;
	int16_t min_version;
	int16_t max_version;
} kp_api_version_t;

/*
 * A request at a version we do not implement gets error 35
 * (UNSUPPORTED_VERSION) in a v0 body (kp_io_set_version(io, 18, 0)) that
 * still lists our ranges; its header is v0 anyway. kp_api_versions_fill
 * fills api_keys from kp_apis (arena-allocated; KS_ENOMEM).
 */
typedef struct kp_api_versions_resp {
	int16_t error_code;
	int32_t n_api_keys;
	kp_api_version_t *api_keys;
	int32_t throttle_time_ms;    /* v1+ */
} kp_api_versions_resp_t;

int kp_api_versions_req(kp_io_t *io, kp_api_versions_req_t *m);
int kp_api_versions_resp(kp_io_t *io, kp_api_versions_resp_t *m);
int kp_api_versions_fill(kp_api_versions_resp_t *m, kp_arena_t *arena);

/* ---- CreateTopics (19), v0-4 ---------------------------------------------- */

typedef struct kp_create_topics_assignment {
	int32_t partition;
	int32_t n_broker_ids;
	int32_t *broker_ids;
} kp_create_topics_assignment_t;

typedef struct kp_create_topics_config {
	kp_str_t name;
	kp_str_t value;              /* nullable */
} kp_create_topics_config_t;

typedef struct kp_creatable_topic {
	kp_str_t name;
	int32_t num_partitions;      /* -1: the broker's default (v4+) */
	int16_t replication_factor;  /* -1: the broker's default (v4+) */
	int32_t n_assignments;
	kp_create_topics_assignment_t *assignments;
	int32_t n_configs;
	kp_create_topics_config_t *configs;
} kp_creatable_topic_t;

typedef struct kp_create_topics_req {
	int32_t n_topics;
	kp_creatable_topic_t *topics;
	int32_t timeout_ms;
	bool validate_only;          /* v1+ = false */
} kp_create_topics_req_t;

typedef struct kp_create_topics_result {
	kp_str_t name;
	int16_t error_code;
	kp_str_t error_message;      /* v1+, nullable = null */
} kp_create_topics_result_t;

typedef struct kp_create_topics_resp {
	int32_t throttle_time_ms;    /* v2+ */
	int32_t n_topics;
	kp_create_topics_result_t *topics;
} kp_create_topics_resp_t;

int kp_create_topics_req(kp_io_t *io, kp_create_topics_req_t *m);
int kp_create_topics_resp(kp_io_t *io, kp_create_topics_resp_t *m);

/* ---- DeleteTopics (20), v0-3 ---------------------------------------------- */

typedef struct kp_delete_topics_req {
	int32_t n_topics;
	kp_str_t *topics;
	int32_t timeout_ms;
} kp_delete_topics_req_t;

typedef struct kp_delete_topics_result {
	kp_str_t name;
	int16_t error_code;
} kp_delete_topics_result_t;

typedef struct kp_delete_topics_resp {
	int32_t throttle_time_ms;    /* v1+ */
	int32_t n_topics;
	kp_delete_topics_result_t *topics;
} kp_delete_topics_resp_t;

int kp_delete_topics_req(kp_io_t *io, kp_delete_topics_req_t *m);
int kp_delete_topics_resp(kp_io_t *io, kp_delete_topics_resp_t *m);

/* ---- the admin APIs' shared values ------------------------------------------ */

/* Resource types of the config APIs (Kafka's ConfigResource.Type). */
enum kp_resource_type {
	KP_RESOURCE_UNKNOWN = 0,
	KP_RESOURCE_TOPIC = 2,
	KP_RESOURCE_BROKER = 4,
	KP_RESOURCE_BROKER_LOGGER = 8,
};

/* DescribeConfigs' config_source (v1+). */
enum kp_config_source {
	KP_CONFIG_SOURCE_UNKNOWN = 0,
	KP_CONFIG_SOURCE_TOPIC = 1,          /* set on the topic */
	KP_CONFIG_SOURCE_DYNAMIC_BROKER = 2,
	KP_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER = 3,
	KP_CONFIG_SOURCE_STATIC_BROKER = 4,  /* the broker's own file */
	KP_CONFIG_SOURCE_DEFAULT = 5,        /* the built-in default */
};

/* DescribeConfigs' config_type (v3+). */
enum kp_config_type {
	KP_CONFIG_TYPE_UNKNOWN = 0,
	KP_CONFIG_TYPE_BOOLEAN = 1,
	KP_CONFIG_TYPE_STRING = 2,
	KP_CONFIG_TYPE_INT = 3,
	KP_CONFIG_TYPE_SHORT = 4,
	KP_CONFIG_TYPE_LONG = 5,
	KP_CONFIG_TYPE_DOUBLE = 6,
	KP_CONFIG_TYPE_LIST = 7,
	KP_CONFIG_TYPE_CLASS = 8,
	KP_CONFIG_TYPE_PASSWORD = 9,
};

/* IncrementalAlterConfigs' config_operation. */
enum kp_config_op {
	KP_CONFIG_OP_SET = 0,
	KP_CONFIG_OP_DELETE = 1,   /* back to the default */
	KP_CONFIG_OP_APPEND = 2,   /* list-valued properties only */
	KP_CONFIG_OP_SUBTRACT = 3, /* list-valued properties only */
};

/* ---- DescribeConfigs (32), v0-4 (v4+ flexible) ----------------------------- */

typedef struct kp_describe_configs_resource {
	int8_t resource_type;        /* KP_RESOURCE_* */
	kp_str_t resource_name;      /* topic name, or broker id "0" */
	int32_t n_configuration_keys; /* nullable: -1 = every property */
	kp_str_t *configuration_keys;
} kp_describe_configs_resource_t;

typedef struct kp_describe_configs_req {
	int32_t n_resources;
	kp_describe_configs_resource_t *resources;
	bool include_synonyms;       /* v1+ = false */
	bool include_documentation;  /* v3+ = false */
} kp_describe_configs_req_t;

typedef struct kp_describe_configs_synonym {
	kp_str_t name;
	kp_str_t value;              /* nullable */
	int8_t source;               /* KP_CONFIG_SOURCE_* */
} kp_describe_configs_synonym_t;

/*
 * is_default exists only in v0 and config_source only from v1. Writing:
 * v0 sends is_default as set; v1+ sends config_source (is_default is not
 * derived). Reading v0: config_source = -1; reading v1+: is_default =
 * (config_source == KP_CONFIG_SOURCE_DEFAULT).
 */
typedef struct kp_describe_configs_entry {
	kp_str_t name;
	kp_str_t value;              /* nullable (sensitive values) */
	bool read_only;
	bool is_default;             /* v0 only */
	int8_t config_source;        /* v1+ = -1 */
	bool is_sensitive;
	int32_t n_synonyms;          /* v1+ */
	kp_describe_configs_synonym_t *synonyms;
	int8_t config_type;          /* v3+ = 0 (unknown) */
	kp_str_t documentation;      /* v3+, nullable = null */
} kp_describe_configs_entry_t;

typedef struct kp_describe_configs_result {
	int16_t error_code;
	kp_str_t error_message;      /* nullable */
	int8_t resource_type;
	kp_str_t resource_name;
	int32_t n_configs;
	kp_describe_configs_entry_t *configs;
} kp_describe_configs_result_t;

typedef struct kp_describe_configs_resp {
	int32_t throttle_time_ms;
	int32_t n_results;
	kp_describe_configs_result_t *results;
} kp_describe_configs_resp_t;

int kp_describe_configs_req(kp_io_t *io, kp_describe_configs_req_t *m);
int kp_describe_configs_resp(kp_io_t *io, kp_describe_configs_resp_t *m);

/* ---- AlterConfigs (33), v0-2 (v2+ flexible) ----------------------------------
 * and IncrementalAlterConfigs (44), v0-1 (v1+ flexible): the same shapes,
 * the incremental one with an operation per property. */

typedef struct kp_alter_configs_entry {
	kp_str_t name;
	int8_t op;                   /* IncrementalAlterConfigs only:
	                                KP_CONFIG_OP_*; AlterConfigs = 0 */
	kp_str_t value;              /* nullable */
} kp_alter_configs_entry_t;

typedef struct kp_alter_configs_resource {
	int8_t resource_type;        /* KP_RESOURCE_* */
	kp_str_t resource_name;
	int32_t n_configs;
	kp_alter_configs_entry_t *configs;
} kp_alter_configs_resource_t;

typedef struct kp_alter_configs_req {
	int32_t n_resources;
	kp_alter_configs_resource_t *resources;
	bool validate_only;
} kp_alter_configs_req_t;

typedef struct kp_alter_configs_result {
	int16_t error_code;
	kp_str_t error_message;      /* nullable */
	int8_t resource_type;
	kp_str_t resource_name;
} kp_alter_configs_result_t;

typedef struct kp_alter_configs_resp {
	int32_t throttle_time_ms;
	int32_t n_results;
	kp_alter_configs_result_t *results;
} kp_alter_configs_resp_t;

typedef kp_alter_configs_req_t kp_incremental_alter_configs_req_t;
typedef kp_alter_configs_resp_t kp_incremental_alter_configs_resp_t;

int kp_alter_configs_req(kp_io_t *io, kp_alter_configs_req_t *m);
int kp_alter_configs_resp(kp_io_t *io, kp_alter_configs_resp_t *m);
int kp_incremental_alter_configs_req(kp_io_t *io,
    kp_incremental_alter_configs_req_t *m);
int kp_incremental_alter_configs_resp(kp_io_t *io,
    kp_incremental_alter_configs_resp_t *m);

/* ---- CreatePartitions (37), v0-3 (v2+ flexible) ------------------------------ */

typedef struct kp_create_partitions_assignment {
	int32_t n_broker_ids;
	int32_t *broker_ids;
} kp_create_partitions_assignment_t;

typedef struct kp_create_partitions_topic {
	kp_str_t name;
	int32_t count;               /* the new total number of partitions */
	int32_t n_assignments;       /* nullable: -1 = the broker chooses */
	kp_create_partitions_assignment_t *assignments;
} kp_create_partitions_topic_t;

typedef struct kp_create_partitions_req {
	int32_t n_topics;
	kp_create_partitions_topic_t *topics;
	int32_t timeout_ms;
	bool validate_only;
} kp_create_partitions_req_t;

typedef struct kp_create_partitions_result {
	kp_str_t name;
	int16_t error_code;
	kp_str_t error_message;      /* nullable */
} kp_create_partitions_result_t;

typedef struct kp_create_partitions_resp {
	int32_t throttle_time_ms;
	int32_t n_results;
	kp_create_partitions_result_t *results;
} kp_create_partitions_resp_t;

int kp_create_partitions_req(kp_io_t *io, kp_create_partitions_req_t *m);
int kp_create_partitions_resp(kp_io_t *io, kp_create_partitions_resp_t *m);

/* ---- DeleteGroups (42), v0-2 (v2+ flexible) ---------------------------------- */

typedef struct kp_delete_groups_req {
	int32_t n_groups;
	kp_str_t *groups;
} kp_delete_groups_req_t;

typedef struct kp_delete_groups_result {
	kp_str_t group_id;
	int16_t error_code;
} kp_delete_groups_result_t;

typedef struct kp_delete_groups_resp {
	int32_t throttle_time_ms;
	int32_t n_results;
	kp_delete_groups_result_t *results;
} kp_delete_groups_resp_t;

int kp_delete_groups_req(kp_io_t *io, kp_delete_groups_req_t *m);
int kp_delete_groups_resp(kp_io_t *io, kp_delete_groups_resp_t *m);

/* ---- replication: OffsetForLeaderEpoch (23), AlterPartition (56),
 * BrokerRegistration (62), BrokerHeartbeat (63) (msg_cluster.c) ------------- */

/* OffsetForLeaderEpoch, v0-4 (v4+ flexible): where a leader epoch ends in
 * the leader's log, so a follower or consumer can truncate what it holds
 * past that point. */
typedef struct kp_ofle_req_part {
	int32_t partition;
	int32_t current_leader_epoch; /* v2+ = -1: not checked */
	int32_t leader_epoch;         /* the epoch asked about */
} kp_ofle_req_part_t;

typedef struct kp_ofle_req_topic {
	kp_str_t topic;
	int32_t n_partitions;
	kp_ofle_req_part_t *partitions;
} kp_ofle_req_topic_t;

typedef struct kp_offset_for_leader_epoch_req {
	int32_t replica_id;           /* v3+ = -2; -1 a consumer, else the
	                                 follower's broker id */
	int32_t n_topics;
	kp_ofle_req_topic_t *topics;
} kp_offset_for_leader_epoch_req_t;

typedef struct kp_ofle_resp_part {
	int16_t error_code;
	int32_t partition;
	int32_t leader_epoch;         /* v1+ = -1 */
	int64_t end_offset;           /* -1: unknown */
} kp_ofle_resp_part_t;

typedef struct kp_ofle_resp_topic {
	kp_str_t topic;
	int32_t n_partitions;
	kp_ofle_resp_part_t *partitions;
} kp_ofle_resp_topic_t;

typedef struct kp_offset_for_leader_epoch_resp {
	int32_t throttle_time_ms;     /* v2+ */
	int32_t n_topics;
	kp_ofle_resp_topic_t *topics;
} kp_offset_for_leader_epoch_resp_t;

int kp_offset_for_leader_epoch_req(kp_io_t *io,
    kp_offset_for_leader_epoch_req_t *m);
int kp_offset_for_leader_epoch_resp(kp_io_t *io,
    kp_offset_for_leader_epoch_resp_t *m);

/* AlterPartition, v0-1 (flexible): a leader asks the controller to change
 * a partition's in-sync set. Topics by name (v2+ name them by id: not
 * implemented). */
typedef struct kp_alter_partition_req_part {
	int32_t partition_index;
	int32_t leader_epoch;
	int32_t n_new_isr;
	int32_t *new_isr;
	int8_t leader_recovery_state; /* v1+ = 0 */
	int32_t partition_epoch;
} kp_alter_partition_req_part_t;

typedef struct kp_alter_partition_req_topic {
	kp_str_t topic_name;
	int32_t n_partitions;
	kp_alter_partition_req_part_t *partitions;
} kp_alter_partition_req_topic_t;

typedef struct kp_alter_partition_req {
	int32_t broker_id;
	int64_t broker_epoch;
	int32_t n_topics;
	kp_alter_partition_req_topic_t *topics;
} kp_alter_partition_req_t;

typedef struct kp_alter_partition_resp_part {
	int32_t partition_index;
	int16_t error_code;
	int32_t leader_id;
	int32_t leader_epoch;
	int32_t n_isr;
	int32_t *isr;
	int8_t leader_recovery_state; /* v1+ = 0 */
	int32_t partition_epoch;
} kp_alter_partition_resp_part_t;

typedef struct kp_alter_partition_resp_topic {
	kp_str_t topic_name;
	int32_t n_partitions;
	kp_alter_partition_resp_part_t *partitions;
} kp_alter_partition_resp_topic_t;

typedef struct kp_alter_partition_resp {
	int32_t throttle_time_ms;
	int16_t error_code;
	int32_t n_topics;
	kp_alter_partition_resp_topic_t *topics;
} kp_alter_partition_resp_t;

int kp_alter_partition_req(kp_io_t *io, kp_alter_partition_req_t *m);
int kp_alter_partition_resp(kp_io_t *io, kp_alter_partition_resp_t *m);

/* BrokerRegistration, v0-1 (flexible): a broker joins the cluster. */
typedef struct kp_broker_listener {
	kp_str_t name;
	kp_str_t host;
	int32_t port;                 /* uint16 on the wire: 0-65535, else
	                                 writing fails with KS_EINVAL */
	int16_t security_protocol;
} kp_broker_listener_t;

typedef struct kp_broker_feature {
	kp_str_t name;
	int16_t min_supported_version;
	int16_t max_supported_version;
} kp_broker_feature_t;

typedef struct kp_broker_registration_req {
	int32_t broker_id;
	kp_str_t cluster_id;
	uint8_t incarnation_id[16];   /* a uuid */
	int32_t n_listeners;
	kp_broker_listener_t *listeners;
	int32_t n_features;
	kp_broker_feature_t *features;
	kp_str_t rack;                /* nullable */
	bool is_migrating_zk_broker;  /* v1+ = false */
} kp_broker_registration_req_t;

typedef struct kp_broker_registration_resp {
	int32_t throttle_time_ms;
	int16_t error_code;
	int64_t broker_epoch;         /* -1: none assigned */
} kp_broker_registration_resp_t;

int kp_broker_registration_req(kp_io_t *io, kp_broker_registration_req_t *m);
int kp_broker_registration_resp(kp_io_t *io,
    kp_broker_registration_resp_t *m);

/* BrokerHeartbeat, v0 (flexible): a registered broker stays alive. */
typedef struct kp_broker_heartbeat_req {
	int32_t broker_id;
	int64_t broker_epoch;
	int64_t current_metadata_offset;
	bool want_fence;
	bool want_shut_down;
} kp_broker_heartbeat_req_t;

typedef struct kp_broker_heartbeat_resp {
	int32_t throttle_time_ms;
	int16_t error_code;
	bool is_caught_up;
	bool is_fenced;
	bool should_shut_down;
} kp_broker_heartbeat_resp_t;

int kp_broker_heartbeat_req(kp_io_t *io, kp_broker_heartbeat_req_t *m);
int kp_broker_heartbeat_resp(kp_io_t *io, kp_broker_heartbeat_resp_t *m);

/* ---- by API key ------------------------------------------------------------ */

/* Any request or response body, for code that dispatches on the key. */
typedef union kp_req_any {
	kp_produce_req_t produce;
	kp_fetch_req_t fetch;
	kp_list_offsets_req_t list_offsets;
	kp_metadata_req_t metadata;
	kp_offset_commit_req_t offset_commit;
	kp_offset_fetch_req_t offset_fetch;
	kp_find_coordinator_req_t find_coordinator;
	kp_join_group_req_t join_group;
	kp_heartbeat_req_t heartbeat;
	kp_leave_group_req_t leave_group;
	kp_sync_group_req_t sync_group;
	kp_describe_groups_req_t describe_groups;
	kp_list_groups_req_t list_groups;
	kp_api_versions_req_t api_versions;
	kp_create_topics_req_t create_topics;
	kp_delete_topics_req_t delete_topics;
	kp_describe_configs_req_t describe_configs;
	kp_alter_configs_req_t alter_configs;
	kp_create_partitions_req_t create_partitions;
	kp_delete_groups_req_t delete_groups;
	kp_incremental_alter_configs_req_t incremental_alter_configs;
	kp_offset_for_leader_epoch_req_t offset_for_leader_epoch;
	kp_alter_partition_req_t alter_partition;
	kp_broker_registration_req_t broker_registration;
	kp_broker_heartbeat_req_t broker_heartbeat;
} kp_req_any_t;

typedef union kp_resp_any {
	kp_produce_resp_t produce;
	kp_fetch_resp_t fetch;
	kp_list_offsets_resp_t list_offsets;
	kp_metadata_resp_t metadata;
	kp_offset_commit_resp_t offset_commit;
	kp_offset_fetch_resp_t offset_fetch;
	kp_find_coordinator_resp_t find_coordinator;
	kp_join_group_resp_t join_group;
	kp_heartbeat_resp_t heartbeat;
	kp_leave_group_resp_t leave_group;
	kp_sync_group_resp_t sync_group;
	kp_describe_groups_resp_t describe_groups;
	kp_list_groups_resp_t list_groups;
	kp_api_versions_resp_t api_versions;
	kp_create_topics_resp_t create_topics;
	kp_delete_topics_resp_t delete_topics;
	kp_describe_configs_resp_t describe_configs;
	kp_alter_configs_resp_t alter_configs;
	kp_create_partitions_resp_t create_partitions;
	kp_delete_groups_resp_t delete_groups;
	kp_incremental_alter_configs_resp_t incremental_alter_configs;
	kp_offset_for_leader_epoch_resp_t offset_for_leader_epoch;
	kp_alter_partition_resp_t alter_partition;
	kp_broker_registration_resp_t broker_registration;
	kp_broker_heartbeat_resp_t broker_heartbeat;
} kp_resp_any_t;

/*
 * kp_req_body / kp_resp_body: kp_<api>_req / _resp for key, m pointing to
 * the matching struct (or a kp_req_any_t / kp_resp_any_t). KS_EINVAL for
 * a key we do not serve.
 */
int kp_req_body(kp_io_t *io, int16_t key, void *m);
int kp_resp_body(kp_io_t *io, int16_t key, void *m);

#endif /* KS_KAFKA_MSG_H */
