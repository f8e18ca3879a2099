/*
 * compacted_table.c: a compacted topic as a key-value table.
 *
 * The topic "prices" (cleanup.policy=compact, 64 KiB segments) receives
 * 300 price updates for each of 100 products, then deletes 10 of them with
 * tombstones (a null value). The cleaner keeps only each key's latest
 * record: a reader that starts from the beginning rebuilds the current
 * table from what is left, however long the topic's history. A tombstone
 * stays for delete.retention.ms, so that readers that come later still
 * learn of the delete; a pass "a day later" removes them too.
 *
 *   cc -o compacted_table compacted_table.c $(pkg-config --cflags --libs kstream)
 */
#define _GNU_SOURCE
#include <kstream/kstream.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PARTITIONS 4
#define KEYS 100
#define ROUNDS 300
#define DELETED(k) ((k) % 10 == 3) /* sku-003, sku-013, ... are deleted */

#define CHECK(expr)                                                         \
	do {                                                                \
		int rc_ = (expr);                                           \
		if (rc_ < 0) {                                              \
			fprintf(stderr, "%s: %s\n", #expr, ks_strerror(rc_)); \
			exit(1);                                            \
		}                                                           \
	} while (0)

/* A table row: the product's latest price, or absent. */
struct row {
	int present;
	char value[48];
};

static ks_store_t *store;

/* Records, tombstones, bytes and segments over every partition. */
static void census(ks_topic_t *topic, const char *when)
{
	uint64_t bytes = 0, records = 0, tombstones = 0;
	unsigned segments = 0;
	int32_t p;

	for (p = 0; p < PARTITIONS; p++) {
		ks_log_t *log;
		ks_log_iter_t *it;
		ks_log_stat_t st;
		ks_record_t rec;
		int r;

		CHECK(ks_topic_partition(topic, p, &log));
		CHECK(ks_log_stat(log, &st));
		bytes += st.size_bytes;
		segments += st.segment_count;
		CHECK(ks_log_iter_new(log, ks_log_start_offset(log), &it));
		while ((r = ks_log_iter_next(it, &rec)) > 0) {
			records++;
			tombstones += rec.value == NULL;
		}
		CHECK(r);
		ks_log_iter_free(it);
	}
	printf("%-24s %6llu records (%llu tombstones), %4.0f KiB in %u segments\n",
	    when, (unsigned long long)records, (unsigned long long)tombstones,
	    bytes / 1024.0, segments);
}

/*
 * Rebuilds the table by reading every partition from the beginning, as a
 * service does at start-up: each record sets its key's row, a tombstone
 * removes it. Returns the number of rows.
 */
static int rebuild(struct row *table, long *readp)
{
	ks_topic_partition_t parts[PARTITIONS];
	const ks_message_t *msgs;
	ks_consumer_t *c;
	long nread = 0;
	int i, n, rows = 0;
	int32_t p;

	memset(table, 0, KEYS * sizeof *table);
	CHECK(ks_consumer_new(store, NULL, &c)); /* no group: assign() */
	for (p = 0; p < PARTITIONS; p++)
		parts[p] = (ks_topic_partition_t){ "prices", p,
			KS_OFFSET_BEGINNING };
	CHECK(ks_consumer_assign(c, parts, PARTITIONS));
	for (;;) {
		int64_t lag, behind = 0;

		for (p = 0; p < PARTITIONS; p++) {
			CHECK(ks_consumer_lag(c, "prices", p, &lag));
			behind += lag;
		}
		if (behind == 0)
			break; /* caught up with every partition */
		CHECK(n = ks_consumer_poll(c, 100, &msgs));
		for (i = 0; i < n; i++) {
			const ks_record_t *r = &msgs[i].rec;
			char key[16];
			int k;

			snprintf(key, sizeof key, "%.*s", (int)r->key_len,
			    (const char *)r->key);
			k = atoi(key + 4); /* "sku-042" */
			if (k < 0 || k >= KEYS)
				continue;
			if (r->value == NULL) {
				table[k].present = 0; /* tombstone */
			} else {
				table[k].present = 1;
				snprintf(table[k].value, sizeof table[k].value,
				    "%.*s", (int)r->value_len,
				    (const char *)r->value);
			}
		}
		nread += n;
	}
	CHECK(ks_consumer_close(c));
	for (i = 0; i < KEYS; i++)
		rows += table[i].present;
	*readp = nread;
	return rows;
}

/* Compares the rebuilt table with what was written last. */
static int verify(const struct row *table, const struct row *latest)
{
	int k, wrong = 0;

	for (k = 0; k < KEYS; k++)
		if (table[k].present != latest[k].present ||
		    (latest[k].present &&
		        strcmp(table[k].value, latest[k].value) != 0))
			wrong++;
	return wrong;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	char dir[] = "/tmp/kstream-table-XXXXXX";
	static struct row latest[KEYS], table[KEYS];
	ks_store_config_t scfg;
	ks_topic_config_t tcfg;
	ks_producer_t *prod;
	ks_topic_t *topic;
	ks_record_t recs[KEYS];
	char keys[KEYS][16], values[KEYS][48];
	struct timespec now;
	int64_t a_day_later;
	long nread;
	int k, round, rows, wrong, failed = 0;
	int32_t p;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	/* No cleaner thread: this program runs the passes itself. */
	ks_store_config_init(&scfg);
	scfg.flags |= KS_STORE_CREATE;
	scfg.cleaner_interval_ms = 0;
	CHECK(ks_store_open(dir, &scfg, &store));

	ks_topic_config_init(&tcfg);
	tcfg.partitions = PARTITIONS;
	CHECK(ks_topic_config_set(&tcfg, "cleanup.policy", "compact"));
	/* Small segments, so that most of the history lies in sealed
	 * segments, the only ones the cleaner rewrites. */
	CHECK(ks_topic_config_set(&tcfg, "segment.bytes", "65536"));
	CHECK(ks_topic_create(store, "prices", &tcfg));
	CHECK(ks_topic_open(store, "prices", &topic));
	CHECK(ks_producer_new(store, NULL, &prod));
	printf("kstream %s: topic \"prices\" (%d partitions, cleanup.policy="
	    "compact, segment.bytes=65536) in %s\n\n", ks_version_string(),
	    PARTITIONS, dir);

	/* 1. History: ROUNDS updates of every key, a round per call. */
	for (round = 0; round < ROUNDS; round++) {
		for (k = 0; k < KEYS; k++) {
			snprintf(keys[k], sizeof keys[k], "sku-%03d", k);
			snprintf(values[k], sizeof values[k],
			    "%d.%02d EUR (update %d)", 10 + (k * 7 + round) % 90,
			    (k + round * 13) % 100, round + 1);
			memset(&recs[k], 0, sizeof recs[k]);
			recs[k].key = keys[k];
			recs[k].key_len = strlen(keys[k]);
			recs[k].value = values[k];
			recs[k].value_len = strlen(values[k]);
			recs[k].timestamp = -1;
			latest[k].present = 1;
			strcpy(latest[k].value, values[k]);
		}
		CHECK(ks_produce(prod, "prices", KS_PARTITION_ANY, recs, KEYS,
		    0, NULL));
	}
	/* 2. Deletes: a record with a null value is a tombstone. */
	for (k = 0; k < KEYS; k++) {
		ks_record_t tomb = { .timestamp = -1 };

		if (!DELETED(k))
			continue;
		tomb.key = keys[k];
		tomb.key_len = strlen(keys[k]);
		tomb.value = NULL;
		CHECK(ks_produce(prod, "prices", KS_PARTITION_ANY, &tomb, 1, 0,
		    NULL));
		latest[k].present = 0;
	}
	printf("wrote %d updates of %d keys, then %d tombstones\n",
	    ROUNDS * KEYS, KEYS, KEYS / 10);
	census(topic, "before compaction:");

	/* 3. Seal the active segments (the cleaner never touches the one
	 * being written), then one cleaner pass, as the store's cleaner
	 * thread makes them every log.retention.check.interval.ms. */
	for (p = 0; p < PARTITIONS; p++) {
		ks_log_t *log;

		CHECK(ks_topic_partition(topic, p, &log));
		CHECK(ks_log_roll(log));
	}
	CHECK(ks_store_clean(store, -1));
	census(topic, "after compaction:");

	/* 4. The table, read back from the beginning. */
	rows = rebuild(table, &nread);
	wrong = verify(table, latest);
	printf("rebuilt the table from %ld records: %d rows, %s\n", nread, rows,
	    wrong ? "WRONG" : "each key's value is the latest written");
	failed |= wrong != 0 || rows != KEYS - KEYS / 10;
	for (k = 0; k < 5; k++)
		printf("  sku-%03d  %s\n", k,
		    table[k].present ? table[k].value : "(deleted)");

	/*
	 * 5. A day later (delete.retention.ms, 1 day by default, has
	 * passed), the tombstones go as well. The previous pass left nothing
	 * dirty, so let the next pass run whatever the dirty ratio.
	 */
	CHECK(ks_topic_config(topic, &tcfg));
	CHECK(ks_topic_config_set(&tcfg, "min.cleanable.dirty.ratio", "0"));
	CHECK(ks_topic_alter(store, "prices", &tcfg));
	clock_gettime(CLOCK_REALTIME, &now);
	a_day_later = (int64_t)now.tv_sec * 1000 + tcfg.delete_retention_ms +
	    60000;
	CHECK(ks_store_clean(store, a_day_later));
	census(topic, "a day later:");

	ks_producer_free(prod);
	ks_topic_release(topic);
	CHECK(ks_store_close(store));
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	printf("\n%s; removed %s\n", failed ? "FAILED" : "done", dir);
	return failed;
}
