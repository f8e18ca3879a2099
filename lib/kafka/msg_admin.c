/*
 * msg_admin.c: the bodies of the admin requests (see msg.h):
 * DescribeConfigs (32), AlterConfigs (33), CreatePartitions (37),
 * DeleteGroups (42) and IncrementalAlterConfigs (44).
 */
#include "kafka/msg.h"

#define RD (!io->writing)

static const kp_str_t null_str = { NULL, -1 };

/* ---- DescribeConfigs ------------------------------------------------------- */

int kp_describe_configs_req(kp_io_t *io, kp_describe_configs_req_t *m)
{
	int16_t v = io->version;

	KP_ARRAY(io, m->resources, m->n_resources, 3, 0);
	for (int32_t i = 0; i < m->n_resources; i++) {
		kp_describe_configs_resource_t *r = &m->resources[i];
		kp_i8(io, &r->resource_type);
		kp_str(io, &r->resource_name);
		kp_str_array(io, &r->configuration_keys,
		    &r->n_configuration_keys, 1);
		kp_tags(io);
	}
	if (v >= 1)
		kp_bool(io, &m->include_synonyms);
	if (v >= 3)
		kp_bool(io, &m->include_documentation);
	kp_tags(io);
	return io->err;
}

static void describe_configs_entry(kp_io_t *io, kp_describe_configs_entry_t *e)
{
	int16_t v = io->version;

	kp_str(io, &e->name);
	kp_nstr(io, &e->value);
	kp_bool(io, &e->read_only);
	if (v == 0) {
		kp_bool(io, &e->is_default);
		if (RD)
			e->config_source = -1;
	} else {
		kp_i8(io, &e->config_source);
		if (RD)
			e->is_default =
			    e->config_source == KP_CONFIG_SOURCE_DEFAULT;
	}
	kp_bool(io, &e->is_sensitive);
	if (v >= 1) {
		KP_ARRAY(io, e->synonyms, e->n_synonyms, 3, 0);
		for (int32_t k = 0; k < e->n_synonyms; k++) {
			kp_describe_configs_synonym_t *s = &e->synonyms[k];
			kp_str(io, &s->name);
			kp_nstr(io, &s->value);
			kp_i8(io, &s->source);
			kp_tags(io);
		}
	}
	if (v >= 3) {
		kp_i8(io, &e->config_type);
		kp_nstr(io, &e->documentation);
	} else if (RD) {
		e->documentation = null_str;
	}
	kp_tags(io);
}

int kp_describe_configs_resp(kp_io_t *io, kp_describe_configs_resp_t *m)
{
	kp_i32(io, &m->throttle_time_ms);
	KP_ARRAY(io, m->results, m->n_results, 6, 0);
	for (int32_t i = 0; i < m->n_results; i++) {
		kp_describe_configs_result_t *r = &m->results[i];
		kp_i16(io, &r->error_code);
		kp_nstr(io, &r->error_message);
		kp_i8(io, &r->resource_type);
		kp_str(io, &r->resource_name);
		KP_ARRAY(io, r->configs, r->n_configs, 5, 0);
		for (int32_t j = 0; j < r->n_configs; j++)
			describe_configs_entry(io, &r->configs[j]);
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

/* ---- AlterConfigs and IncrementalAlterConfigs ------------------------------ */

static int alter_configs_req(kp_io_t *io, kp_alter_configs_req_t *m,
    int incremental)
{
	KP_ARRAY(io, m->resources, m->n_resources, 3, 0);
	for (int32_t i = 0; i < m->n_resources; i++) {
		kp_alter_configs_resource_t *r = &m->resources[i];
		kp_i8(io, &r->resource_type);
		kp_str(io, &r->resource_name);
		KP_ARRAY(io, r->configs, r->n_configs, 2, 0);
		for (int32_t j = 0; j < r->n_configs; j++) {
			kp_alter_configs_entry_t *e = &r->configs[j];
			kp_str(io, &e->name);
			if (incremental)
				kp_i8(io, &e->op);
			kp_nstr(io, &e->value);
			kp_tags(io);
		}
		kp_tags(io);
	}
	kp_bool(io, &m->validate_only);
	kp_tags(io);
	return io->err;
}

static int alter_configs_resp(kp_io_t *io, kp_alter_configs_resp_t *m)
{
	kp_i32(io, &m->throttle_time_ms);
	KP_ARRAY(io, m->results, m->n_results, 5, 0);
	for (int32_t i = 0; i < m->n_results; i++) {
		kp_alter_configs_result_t *r = &m->results[i];
		kp_i16(io, &r->error_code);
		kp_nstr(io, &r->error_message);
		kp_i8(io, &r->resource_type);
		kp_str(io, &r->resource_name);
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

int kp_alter_configs_req(kp_io_t *io, kp_alter_configs_req_t *m)
{
	return alter_configs_req(io, m, 0);
}

int kp_alter_configs_resp(kp_io_t *io, kp_alter_configs_resp_t *m)
{
	return alter_configs_resp(io, m);
}

int kp_incremental_alter_configs_req(kp_io_t *io,
    kp_incremental_alter_configs_req_t *m)
{
	return alter_configs_req(io, m, 1);
}

int kp_incremental_alter_configs_resp(kp_io_t *io,
    kp_incremental_alter_configs_resp_t *m)
{
	return alter_configs_resp(io, m);
}

/* ---- CreatePartitions ------------------------------------------------------ */

int kp_create_partitions_req(kp_io_t *io, kp_create_partitions_req_t *m)
{
	KP_ARRAY(io, m->topics, m->n_topics, 6, 0);
	for (int32_t i = 0; i < m->n_topics; i++) {
		kp_create_partitions_topic_t *t = &m->topics[i];
		kp_str(io, &t->name);
		kp_i32(io, &t->count);
		KP_ARRAY(io, t->assignments, t->n_assignments, 1, 1);
		for (int32_t j = 0; j < t->n_assignments; j++) {
			kp_create_partitions_assignment_t *a =
			    &t->assignments[j];
			kp_i32_array(io, &a->broker_ids, &a->n_broker_ids, 0);
			kp_tags(io);
		}
		kp_tags(io);
	}
	kp_i32(io, &m->timeout_ms);
	kp_bool(io, &m->validate_only);
	kp_tags(io);
	return io->err;
}

int kp_create_partitions_resp(kp_io_t *io, kp_create_partitions_resp_t *m)
{
	kp_i32(io, &m->throttle_time_ms);
	KP_ARRAY(io, m->results, m->n_results, 4, 0);
	for (int32_t i = 0; i < m->n_results; i++) {
		kp_create_partitions_result_t *r = &m->results[i];
		kp_str(io, &r->name);
		kp_i16(io, &r->error_code);
		kp_nstr(io, &r->error_message);
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}

/* ---- DeleteGroups ------------------------------------------------------------ */

int kp_delete_groups_req(kp_io_t *io, kp_delete_groups_req_t *m)
{
	kp_str_array(io, &m->groups, &m->n_groups, 0);
	kp_tags(io);
	return io->err;
}

int kp_delete_groups_resp(kp_io_t *io, kp_delete_groups_resp_t *m)
{
	kp_i32(io, &m->throttle_time_ms);
	KP_ARRAY(io, m->results, m->n_results, 3, 0);
	for (int32_t i = 0; i < m->n_results; i++) {
		kp_str(io, &m->results[i].group_id);
		kp_i16(io, &m->results[i].error_code);
		kp_tags(io);
	}
	kp_tags(io);
	return io->err;
}
