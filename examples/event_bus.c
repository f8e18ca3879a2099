/*
 * event_bus.c: kstream as an event bus between the threads of one process.
 *
 * Two producer threads publish keyed events to the topic "events" (4
 * partitions); one consumer thread, assigned every partition, waits on the
 * consumer's file descriptor with poll(2), as an event loop would, and
 * drains what arrived. Events with the same key land in the same partition,
 * so each key's events are read in the order they were produced.
 *
 *   cc -o event_bus event_bus.c $(pkg-config --cflags --libs kstream)
 */
#define _GNU_SOURCE
#include <kstream/kstream.h>
#include <kstream/client.h>

#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRODUCERS 2
#define EVENTS 50000 /* per producer */
#define KEYS 8       /* "user-0" .. "user-7" */
#define PARTITIONS 4

#define CHECK(expr)                                                         \
	do {                                                                \
		int rc_ = (expr);                                           \
		if (rc_ < 0) {                                              \
			fprintf(stderr, "%s: %s\n", #expr, ks_strerror(rc_)); \
			exit(1);                                            \
		}                                                           \
	} while (0)

static ks_store_t *store;
static ks_producer_t *producer; /* one producer, shared by both threads */

static void *produce(void *arg)
{
	int id = (int)(intptr_t)arg, i;

	for (i = 0; i < EVENTS; i++) {
		char key[16], value[64];
		ks_record_t rec = { .timestamp = -1 }; /* -1: now */

		snprintf(key, sizeof key, "user-%d", i % KEYS);
		snprintf(value, sizeof value, "click %d by producer %d", i, id);
		rec.key = key;
		rec.key_len = strlen(key);
		rec.value = value;
		rec.value_len = strlen(value);
		/* KS_PARTITION_ANY: the key's hash picks the partition. The
		 * record is copied into the log before the call returns. */
		CHECK(ks_produce(producer, "events", KS_PARTITION_ANY, &rec, 1,
		    0, NULL));
	}
	return NULL;
}

static void *consume(void *arg)
{
	ks_topic_partition_t parts[PARTITIONS];
	const ks_message_t *msgs;
	ks_consumer_t *c;
	ks_consumer_config_t cfg;
	long total = 0, per_part[PARTITIONS] = { 0 };
	struct pollfd pfd;
	int i, n;

	(void)arg;
	ks_consumer_config_init(&cfg);
	cfg.max_poll_records = 1000;
	CHECK(ks_consumer_new(store, &cfg, &c));
	for (i = 0; i < PARTITIONS; i++) {
		parts[i].topic = "events";
		parts[i].partition = i;
		parts[i].offset = KS_OFFSET_BEGINNING;
	}
	CHECK(ks_consumer_assign(c, parts, PARTITIONS));

	/* The consumer's descriptor becomes readable when records arrive
	 * after a ks_consumer_poll that returned none. An event loop puts it
	 * in its poll set next to its other descriptors. */
	pfd.fd = ks_consumer_fd(c);
	pfd.events = POLLIN;
	while (total < (long)PRODUCERS * EVENTS) {
		/* Take what is ready without waiting (timeout 0); once a poll
		 * returns none, sleep in poll(2) until the descriptor is
		 * readable. The timeout bounds the sleep: a member of a
		 * consumer group would use its heartbeat interval. */
		n = ks_consumer_poll(c, 0, &msgs);
		CHECK(n);
		if (n == 0) {
			if (poll(&pfd, 1, 1000) < 0)
				perror("poll");
			continue;
		}
		/* msgs[] points into the log's mapped memory: valid until the
		 * next ks_consumer_poll on this consumer. */
		for (i = 0; i < n; i++) {
			const ks_message_t *m = &msgs[i];

			if (total + i < 5)
				printf("  partition %d offset %-3lld "
				    "%.*s: %.*s\n", (int)m->partition,
				    (long long)m->rec.offset,
				    (int)m->rec.key_len,
				    (const char *)m->rec.key,
				    (int)m->rec.value_len,
				    (const char *)m->rec.value);
			per_part[m->partition]++;
		}
		total += n;
	}
	printf("consumed %ld events:", total);
	for (i = 0; i < PARTITIONS; i++)
		printf(" partition %d: %ld%s", i, per_part[i],
		    i + 1 < PARTITIONS ? "," : "\n");
	CHECK(ks_consumer_close(c));
	return NULL;
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
	char dir[] = "/tmp/kstream-event-bus-XXXXXX";
	ks_store_config_t scfg;
	ks_topic_config_t tcfg;
	pthread_t cons, prods[PRODUCERS];
	int i;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	/* A store in a fresh directory, holding one topic of 4 partitions.
	 * No flush policy: an event bus between threads needs no fsync. */
	ks_store_config_init(&scfg);
	scfg.flags |= KS_STORE_CREATE;
	CHECK(ks_store_open(dir, &scfg, &store));
	ks_topic_config_init(&tcfg);
	tcfg.partitions = PARTITIONS;
	CHECK(ks_topic_create(store, "events", &tcfg));
	CHECK(ks_producer_new(store, NULL, &producer));
	printf("kstream %s: %d producers -> topic \"events\" (%d partitions) "
	    "-> 1 consumer\n", ks_version_string(), PRODUCERS, PARTITIONS);

	pthread_create(&cons, NULL, consume, NULL);
	for (i = 0; i < PRODUCERS; i++)
		pthread_create(&prods[i], NULL, produce, (void *)(intptr_t)i);
	for (i = 0; i < PRODUCERS; i++)
		pthread_join(prods[i], NULL);
	pthread_join(cons, NULL);

	/* Producers and consumers go before the store they work on. */
	ks_producer_free(producer);
	CHECK(ks_store_close(store));
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}
