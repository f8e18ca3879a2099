/*
 * kserver_util.c: the in-process Kafka server of the wire suites and a
 * blocking loopback client speaking lib/kafka's codec.
 */
#define _GNU_SOURCE
#include "kserver_util.h"

#include "kafka/msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int kt_kserver_start(ks_store_t *store, const ks_kafka_server_config_t *cfg,
    ks_kafka_server_t **srvp)
{
	char url[300];
	ks_url_t u;

	KT_OK(ks_kafka_server_new(store, cfg, srvp));
	KT_OK(ks_kafka_server_listen(*srvp, "tcp://127.0.0.1:0", NULL));
	KT_OK(ks_kafka_server_url(*srvp, 0, url, sizeof url));
	KT_OK(ks_url_parse(url, &u));
	ck_assert_str_eq(u.scheme, "tcp");
	ck_assert_int_gt(u.port, 0);
	return u.port;
}

void kt_kserver_stop(ks_kafka_server_t **srvp, ks_store_t **storep,
    char **dirp)
{
	ks_kafka_server_free(*srvp);
	*srvp = NULL;
	if (*storep)
		KT_OK(ks_store_close(*storep));
	*storep = NULL;
	kt_rmrf_free(dirp);
}

/* ---- a blocking client */

int kt_tcp_connect(int port, int timeout_s)
{
	struct sockaddr_in sa;
	struct timeval tv = { .tv_sec = timeout_s };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0,
	    "connect to 127.0.0.1:%d: %s", port, strerror(errno));
	if (timeout_s > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

void kt_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		ck_assert_msg(n > 0, "write: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

void kt_read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);
		ck_assert_msg(n > 0, "read: %s", n ? strerror(errno) : "EOF");
		p += n;
		len -= (size_t)n;
	}
}

void kt_kafka_send(int fd, int16_t key, int16_t ver, int32_t corr,
    const char *client_id, void *body)
{
	kp_req_hdr_t h = { .api_key = key, .api_version = ver,
		.correlation_id = corr };
	uint8_t *buf;
	size_t len;
	kp_io_t io;

	h.client_id = kp_cstr(client_id);
	kp_writer_init(&io);
	kp_w_frame_begin(&io);
	KT_OK(kp_req_hdr(&io, &h));
	KT_OK(kp_req_body(&io, key, body));
	KT_OK(kp_w_frame_end(&io));
	KT_OK(kp_w_flatten(&io, &buf, &len));
	kt_write_all(fd, buf, len);
	free(buf);
	kp_writer_free(&io);
}

size_t kt_kafka_read_frame(int fd, kp_arena_t *arena, uint8_t **framep)
{
	uint8_t hdr[4], *frame;
	size_t len;
	ssize_t n;

	/* EOF before a frame is an answer too: the server closed */
	do
		n = read(fd, hdr, 4);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	ck_assert_msg(n > 0, "read: %s", strerror(errno));
	kt_read_full(fd, hdr + n, 4 - (size_t)n);
	len = ntohl(*(uint32_t *)hdr);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_lt(len, 64u << 20);
	frame = kp_arena_alloc(arena, len);
	kt_read_full(fd, frame, len);
	*framep = frame;
	return len;
}

void kt_kafka_recv(int fd, int16_t key, int16_t ver, int32_t corr,
    kp_arena_t *arena, void *resp)
{
	uint8_t *frame;
	size_t len = kt_kafka_read_frame(fd, arena, &frame);
	int32_t got;
	kp_io_t io;

	ck_assert_msg(len > 0, "connection closed instead of an answer");
	kp_reader_init(&io, frame, len, arena);
	KT_OK(kp_resp_hdr(&io, key, ver, &got));
	ck_assert_int_eq(got, corr);
	KT_OK(kp_resp_body(&io, key, resp));
	ck_assert_uint_eq(kp_r_left(&io), 0);
}
