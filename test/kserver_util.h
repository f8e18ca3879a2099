/*
 * kserver_util.h: the in-process Kafka server of the wire suites (kserver,
 * kadmin, kmetrics, kmalformed) and a blocking loopback client for it
 * (test/kserver_util.c; built only with the network layers).
 */
#ifndef KS_TEST_KSERVER_UTIL_H
#define KS_TEST_KSERVER_UTIL_H

#include "util.h"

#include "kafka/proto.h"

#include <kstream/kafka.h>

/*
 * Starts a server on store with cfg (NULL: the defaults), listening on
 * tcp://127.0.0.1:0; sets *srvp and returns the port it got.
 */
int kt_kserver_start(ks_store_t *store, const ks_kafka_server_config_t *cfg,
    ks_kafka_server_t **srvp);
/*
 * The suites' teardown: frees *srvp, closes *storep, removes the
 * directory *dirp and frees its name; each may be NULL already; all are
 * left NULL.
 */
void kt_kserver_stop(ks_kafka_server_t **srvp, ks_store_t **storep,
    char **dirp);

/* ---- a blocking client */

/*
 * A connection to 127.0.0.1:port (TCP_NODELAY, close-on-exec); with
 * timeout_s > 0 a read waits at most that long, so that a broken server
 * fails the test instead of hanging it.
 */
int kt_tcp_connect(int port, int timeout_s);
/* Writes all of p[0..len), asserting. */
void kt_write_all(int fd, const void *p, size_t len);
/* Reads exactly len bytes into p, asserting (EOF fails). */
void kt_read_full(int fd, void *p, size_t len);

/* Sends one request: header v1/v2 for (key, ver, corr, client_id), body. */
void kt_kafka_send(int fd, int16_t key, int16_t ver, int32_t corr,
    const char *client_id, void *body);
/*
 * Reads one response frame (without its length) into arena and sets
 * *framep; its length, or 0 if the server closed the connection first.
 */
size_t kt_kafka_read_frame(int fd, kp_arena_t *arena, uint8_t **framep);
/*
 * Reads the next response, which must be for corr, and decodes it whole
 * into resp (its parts in arena).
 */
void kt_kafka_recv(int fd, int16_t key, int16_t ver, int32_t corr,
    kp_arena_t *arena, void *resp);

#endif /* KS_TEST_KSERVER_UTIL_H */
