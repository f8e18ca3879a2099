/*
 * check_transport.c: lib/transport on loopback: URLs, the scheme
 * registry, framed echo over tcp (IPv4, IPv6), unix and tls+tcp, TLS
 * verification and mutual TLS, the limits of ks_net_config_t,
 * backpressure, send_ref releases, HOLD/resume, ks_net_call and timers.
 *
 * Waits are bounded (30 s) but never timed assertions: a test waits for a
 * state, then checks it.
 */
#define _GNU_SOURCE
#include "kserver_util.h"
#include "util.h"

#include <kstream/transport.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 30000

/* ---- a shared state with a condition, and waiting for it --------------- */

struct box {
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void box_init(struct box *b)
{
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
}

static void box_destroy(struct box *b)
{
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
}

static void box_signal(struct box *b)
{
	pthread_cond_broadcast(&b->cv);
}

/* Waits, with b->mu held, until *flag reaches want (or WAIT_MS). */
#define BOX_WAIT(b, cond)                                                     \
	do {                                                                  \
		struct timespec dl_;                                          \
		clock_gettime(CLOCK_REALTIME, &dl_);                          \
		dl_.tv_sec += WAIT_MS / 1000;                                 \
		while (!(cond))                                               \
			if (pthread_cond_timedwait(&(b)->cv, &(b)->mu,        \
			    &dl_) == ETIMEDOUT)                               \
				break;                                        \
	} while (0)

/* ---- log capture ----------------------------------------------------- */

static struct box logbox;
static char logbuf[8192];

static void cap_log(void *opaque, int level, const char *msg)
{
	size_t n;

	pthread_mutex_lock(&logbox.mu);
	n = strlen(logbuf);
	snprintf(logbuf + n, sizeof logbuf - n, "%s\n", msg);
	pthread_mutex_unlock(&logbox.mu);
}

static int log_has(const char *s)
{
	int r;

	pthread_mutex_lock(&logbox.mu);
	r = strstr(logbuf, s) != NULL;
	pthread_mutex_unlock(&logbox.mu);
	return r;
}

static ks_net_t *new_net(ks_net_config_t *cfg)
{
	ks_net_config_t c;
	ks_net_t *net = NULL;

	if (!cfg) {
		ks_net_config_init(&c);
		cfg = &c;
	}
	cfg->log_cb = cap_log;
	ck_assert_int_eq(ks_net_new(cfg, &net), 0);
	return net;
}

/* ---- frames of a test stream: seq (4 bytes BE) then a pattern --------- */

static size_t frame_size(uint32_t seq)
{
	if (seq % 97 == 13)
		return 300000;          /* spans several buffer chains */
	return 4 + (seq * 37) % 3000;
}

static uint8_t pat(uint32_t seq, size_t i)
{
	return (uint8_t)(seq * 7 + i * 13);
}

/* Appends frame seq, with its length prefix, to buf at *off. */
static void put_frame(uint8_t *buf, size_t *off, uint32_t seq)
{
	size_t n = frame_size(seq), i;
	uint8_t *p = buf + *off;

	p[0] = (uint8_t)(n >> 24);
	p[1] = (uint8_t)(n >> 16);
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
	p[4] = (uint8_t)(seq >> 24);
	p[5] = (uint8_t)(seq >> 16);
	p[6] = (uint8_t)(seq >> 8);
	p[7] = (uint8_t)seq;
	for (i = 4; i < n; i++)
		p[4 + i] = pat(seq, i);
	*off += 4 + n;
}

static int frame_ok(const uint8_t *f, size_t len, uint32_t seq)
{
	size_t i;

	if (len != frame_size(seq))
		return 0;
	if ((uint32_t)((f[0] << 24) | (f[1] << 16) | (f[2] << 8) | f[3]) !=
	    seq)
		return 0;
	for (i = 4; i < len; i++)
		if (f[i] != pat(seq, i))
			return 0;
	return 1;
}

/* ---- a peer: counts frames (checking the stream) and events ----------- */

struct peer {
	struct box b;
	int opened, closed, close_err, frames, bad;
	uint32_t next;          /* the seq expected next */
	long long bytes;
	ks_conn_t *conn;        /* the last opened */
	int echo;               /* answer each frame with itself */
	int check;              /* check the stream's seq/pattern */
	size_t answer;          /* answer each frame with this many bytes */
	size_t max_pending;
	int hold;               /* HOLD each frame, answer from a timer */
	int in_frame_while_held;
	int held_now;
	ks_timer_t *timer;
	ks_conn_t *held_conn;
	uint32_t held_seq;
	int call_rc_at_close;   /* ks_net_call from the CLOSED callback */
	int try_call_at_close;
};

static void peer_init(struct peer *p)
{
	memset(p, 0, sizeof *p);
	box_init(&p->b);
	p->close_err = 1;
}

static void send_frame(ks_conn_t *c, const void *f, size_t len)
{
	uint8_t hdr[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16),
		(uint8_t)(len >> 8), (uint8_t)len };

	ck_assert_int_eq(ks_conn_send(c, hdr, 4), 0);
	ck_assert_int_eq(ks_conn_send(c, f, len), 0);
}

static void noop(void *arg)
{
}

static int peer_frame(void *arg, ks_conn_t *c, const void *f, size_t len)
{
	struct peer *p = arg;
	static uint8_t zeros[65536];
	size_t pend;

	pthread_mutex_lock(&p->b.mu);
	if (p->held_now)
		p->in_frame_while_held = 1;
	if (p->check) {
		if (len < 4 || !frame_ok(f, len, p->next))
			p->bad++;
		p->next++;
	}
	p->frames++;
	p->bytes += (long long)len;
	pthread_mutex_unlock(&p->b.mu);
	if (p->echo)
		send_frame(c, f, len);
	if (p->answer) {
		size_t left = p->answer;
		uint8_t hdr[4] = { (uint8_t)(left >> 24), (uint8_t)(left >> 16),
			(uint8_t)(left >> 8), (uint8_t)left };
		ck_assert_int_eq(ks_conn_send(c, hdr, 4), 0);
		while (left) {
			size_t n = left < sizeof zeros ? left : sizeof zeros;
			ck_assert_int_eq(ks_conn_send(c, zeros, n), 0);
			left -= n;
		}
		pend = ks_conn_pending(c);
		pthread_mutex_lock(&p->b.mu);
		if (pend > p->max_pending)
			p->max_pending = pend;
		pthread_mutex_unlock(&p->b.mu);
	}
	pthread_mutex_lock(&p->b.mu);
	box_signal(&p->b);
	pthread_mutex_unlock(&p->b.mu);
	if (p->hold) {
		/* answer later, from a timer: frames must wait meanwhile */
		pthread_mutex_lock(&p->b.mu);
		p->held_now = 1;
		p->held_conn = c;
		memcpy(&p->held_seq, f, 4);
		pthread_mutex_unlock(&p->b.mu);
		return KS_FRAME_HOLD;
	}
	return KS_FRAME_NEXT;
}

static void peer_event(void *arg, ks_conn_t *c, int ev, int err)
{
	struct peer *p = arg;
	int rc = 0;

	if (ev == KS_CONN_CLOSED && p->try_call_at_close)
		rc = ks_net_call(ks_conn_net(c), noop, NULL);
	pthread_mutex_lock(&p->b.mu);
	if (ev == KS_CONN_OPEN) {
		p->opened++;
		p->conn = c;
	} else if (ev == KS_CONN_CLOSED) {
		p->closed++;
		p->close_err = err;
		if (p->try_call_at_close)
			p->call_rc_at_close = rc;
		if (p->held_conn == c)
			p->held_conn = NULL;
	}
	box_signal(&p->b);
	pthread_mutex_unlock(&p->b.mu);
}

static ks_conn_handler_t handler(struct peer *p)
{
	ks_conn_handler_t h = { peer_frame, peer_event, p };
	return h;
}

/* ---- sending from the loop --------------------------------------------- */

struct sendjob {
	ks_conn_t *conn;
	const uint8_t *buf;
	size_t len;
	int rc;
	struct box b;
	int done;
};

static void sendjob_fn(void *arg)
{
	struct sendjob *j = arg;

	j->rc = ks_conn_send(j->conn, j->buf, j->len);
	pthread_mutex_lock(&j->b.mu);
	j->done = 1;
	box_signal(&j->b);
	pthread_mutex_unlock(&j->b.mu);
}

/* Sends buf on conn from the loop and waits until it is queued. */
static void loop_send(ks_net_t *net, ks_conn_t *c, const void *buf,
    size_t len)
{
	struct sendjob j = { .conn = c, .buf = buf, .len = len };

	box_init(&j.b);
	ck_assert_int_eq(ks_net_call(net, sendjob_fn, &j), 0);
	pthread_mutex_lock(&j.b.mu);
	BOX_WAIT(&j.b, j.done);
	ck_assert_int_eq(j.done, 1);
	pthread_mutex_unlock(&j.b.mu);
	ck_assert_int_eq(j.rc, 0);
	box_destroy(&j.b);
}

/* Runs fn(arg) on the loop and waits for it. */
struct syncjob {
	void (*fn)(void *);
	void *arg;
	struct box b;
	int done;
};

static void syncjob_fn(void *arg)
{
	struct syncjob *j = arg;

	j->fn(j->arg);
	pthread_mutex_lock(&j->b.mu);
	j->done = 1;
	box_signal(&j->b);
	pthread_mutex_unlock(&j->b.mu);
}

static void on_loop(ks_net_t *net, void (*fn)(void *), void *arg)
{
	struct syncjob j = { .fn = fn, .arg = arg };

	box_init(&j.b);
	ck_assert_int_eq(ks_net_call(net, syncjob_fn, &j), 0);
	pthread_mutex_lock(&j.b.mu);
	BOX_WAIT(&j.b, j.done);
	ck_assert_int_eq(j.done, 1);
	pthread_mutex_unlock(&j.b.mu);
	box_destroy(&j.b);
}

/* ---- raw sockets (the peer misbehaving) ------------------------------- */

static int raw_connect(const char *url)
{
	ks_url_t u;
	struct timeval tv = { WAIT_MS / 1000, 0 };
	int fd;

	ck_assert_int_eq(ks_url_parse(url, &u), 0);
	if (u.port < 0) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		snprintf(sun.sun_path, sizeof sun.sun_path, "%s", u.path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun,
		    sizeof sun), 0);
	} else {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		int one = 1;
		sin.sin_port = htons((uint16_t)u.port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin,
		    sizeof sin), 0);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return fd;
}

/* Reads exactly len bytes: 0, or -1 at EOF/error/timeout. */
static int raw_read(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 1 if the peer closed (EOF or reset) within WAIT_MS; extra bytes are
 * skipped. */
static int raw_closed(int fd)
{
	uint8_t buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0)
			return 1;
		if (n < 0)
			return errno == ECONNRESET || errno == EPIPE;
	}
}

/* Writes a frame of len bytes of x and reads the echo back. */
static void raw_echo(int fd, size_t len)
{
	uint8_t *b = malloc(4 + len), *r = malloc(4 + len);

	memset(b + 4, 'x', len);
	b[0] = (uint8_t)(len >> 24);
	b[1] = (uint8_t)(len >> 16);
	b[2] = (uint8_t)(len >> 8);
	b[3] = (uint8_t)len;
	kt_write_all(fd, b, 4 + len);
	ck_assert_int_eq(raw_read(fd, r, 4 + len), 0);
	ck_assert_int_eq(memcmp(b, r, 4 + len), 0);
	free(b);
	free(r);
}

/* ---- URLs ---------------------------------------------------------------- */

START_TEST(url_parse)
{
	static const char *bad[] = {
		"", "tcp", "tcp:/", "tcp://", "://x:1", "tcp://host",
		"tcp://host:", "tcp://:9092", "tcp://host:65536",
		"tcp://host:-1", "tcp://host:+1", "tcp://host:123456",
		"tcp://host:9092/", "tcp://host:9092x", "tcp://ho st:1",
		"tcp://::1:9092", "tcp://[::1]", "tcp://[::1]9092",
		"tcp://[]:1", "tcp://[::1:1", "tcp://[127.0.0.1]:1",
		"TCP://host:1", "1tcp://h:1", "t_p://h:1", "unix://",
		"unix://relative/path", "unix://host:1", "unix:///",
		"unix:///dir/", "tcp:///", NULL,
	};
	char longhost[300], longpath[200], longscheme[64], buf[400];
	ks_url_t u;
	int i;

	ck_assert_int_eq(ks_url_parse("tcp://127.0.0.1:9092", &u), 0);
	ck_assert_str_eq(u.scheme, "tcp");
	ck_assert_str_eq(u.host, "127.0.0.1");
	ck_assert_int_eq(u.port, 9092);
	ck_assert_int_eq(ks_url_parse("tcp://[::1]:0", &u), 0);
	ck_assert_str_eq(u.host, "::1");
	ck_assert_int_eq(u.port, 0);
	ck_assert_int_eq(ks_url_parse("tls+tcp://broker-1.example.com:65535",
	    &u), 0);
	ck_assert_str_eq(u.scheme, "tls+tcp");
	ck_assert_str_eq(u.host, "broker-1.example.com");
	ck_assert_int_eq(u.port, 65535);
	ck_assert_int_eq(ks_url_parse("tcp://[fe80::1%eth0]:1", &u), 0);
	ck_assert_str_eq(u.host, "fe80::1%eth0");
	ck_assert_int_eq(ks_url_parse("unix:///run/ks.sock", &u), 0);
	ck_assert_str_eq(u.scheme, "unix");
	ck_assert_str_eq(u.path, "/run/ks.sock");
	ck_assert_int_eq(u.port, -1);
	ck_assert_str_eq(u.host, "");
	/* unknown schemes parse: the registry decides */
	ck_assert_int_eq(ks_url_parse("my-t.2+x://h:1", &u), 0);
	ck_assert_str_eq(u.scheme, "my-t.2+x");

	for (i = 0; bad[i]; i++)
		ck_assert_msg(ks_url_parse(bad[i], &u) == KS_EINVAL,
		    "\"%s\" parsed", bad[i]);
	ck_assert_int_eq(ks_url_parse(NULL, &u), KS_EINVAL);

	memset(longhost, 'a', 255);
	longhost[255] = '\0';
	snprintf(buf, sizeof buf, "tcp://%s:1", longhost);
	ck_assert_int_eq(ks_url_parse(buf, &u), 0);
	memset(longhost, 'a', 256);
	longhost[256] = '\0';
	snprintf(buf, sizeof buf, "tcp://%s:1", longhost);
	ck_assert_int_eq(ks_url_parse(buf, &u), KS_EINVAL);
	memset(longpath, 'p', sizeof longpath);
	longpath[0] = '/';
	longpath[107] = '\0';          /* 107 bytes: fits sun_path */
	snprintf(buf, sizeof buf, "unix://%s", longpath);
	ck_assert_int_eq(ks_url_parse(buf, &u), 0);
	longpath[107] = 'p';
	longpath[108] = '\0';
	snprintf(buf, sizeof buf, "unix://%s", longpath);
	ck_assert_int_eq(ks_url_parse(buf, &u), KS_EINVAL);
	memset(longscheme, 'a', 32);
	longscheme[32] = '\0';
	snprintf(buf, sizeof buf, "%s://h:1", longscheme);
	ck_assert_int_eq(ks_url_parse(buf, &u), KS_EINVAL);
	longscheme[31] = '\0';
	snprintf(buf, sizeof buf, "%s://h:1", longscheme);
	ck_assert_int_eq(ks_url_parse(buf, &u), 0);
}
END_TEST

/* ---- echo ------------------------------------------------------------- */

#define NFRAMES 600

/*
 * A server that echoes, a client dialed through url that sends NFRAMES
 * frames (half in one write, the rest one by one, one of them byte by
 * byte) and checks what comes back, in order.
 */
static void echo_run(const char *listen_url, const ks_tls_config_t *stls,
    const ks_tls_config_t *ctls, const char *dial_host)
{
	struct peer srv, cli;
	ks_conn_handler_t hs, hc;
	ks_listener_t *l;
	ks_conn_t *c;
	ks_net_t *net;
	char url[320], durl[320];
	uint8_t *buf;
	size_t off = 0, total = 0, i, one;
	uint32_t s;
	ks_url_t u;

	peer_init(&srv);
	peer_init(&cli);
	srv.echo = 1;
	srv.check = 1;
	cli.check = 1;
	hs = handler(&srv);
	hc = handler(&cli);
	net = new_net(NULL);
	ck_assert_int_eq(ks_net_listen(net, listen_url, stls, &hs, &l), 0);
	ck_assert_int_eq(ks_listener_url(l, url, sizeof url), 0);
	ck_assert_int_eq(ks_url_parse(url, &u), 0);
	if (u.port >= 0) {
		ck_assert_int_gt(ks_listener_port(l), 0);
		ck_assert_int_eq(ks_listener_port(l), u.port);
	} else {
		ck_assert_int_eq(ks_listener_port(l), -1);
	}
	if (dial_host)
		snprintf(durl, sizeof durl, "%s://%s:%d", u.scheme, dial_host,
		    u.port);
	else
		snprintf(durl, sizeof durl, "%s", url);
	ck_assert_int_eq(ks_net_dial(net, durl, ctls, WAIT_MS, &hc, &c), 0);
	ck_assert_ptr_nonnull(c);

	for (s = 0; s < NFRAMES; s++)
		total += 4 + frame_size(s);
	buf = malloc(total);
	for (s = 0; s < NFRAMES; s++)
		put_frame(buf, &off, s);
	/* the first half in one send: many frames in one write */
	for (s = 0, one = 0; s < NFRAMES / 2; s++)
		one += 4 + frame_size(s);
	loop_send(net, c, buf, one);
	/* one frame a byte at a time, each byte its own loop turn */
	for (i = 0; i < 4 + frame_size(NFRAMES / 2) && i < 64; i++)
		loop_send(net, c, buf + one + i, 1);
	/* the rest of the frames one loop turn each */
	off = one + i;
	for (s = NFRAMES / 2 + 1; s <= NFRAMES; s++) {
		size_t end = one;
		uint32_t k;
		for (k = NFRAMES / 2; k < s; k++)
			end += 4 + frame_size(k);
		if (end > off) {
			loop_send(net, c, buf + off, end - off);
			off = end;
		}
	}
	ck_assert_uint_eq(off, total);

	pthread_mutex_lock(&cli.b.mu);
	BOX_WAIT(&cli.b, cli.frames == NFRAMES);
	ck_assert_int_eq(cli.frames, NFRAMES);
	ck_assert_int_eq(cli.bad, 0);
	pthread_mutex_unlock(&cli.b.mu);
	pthread_mutex_lock(&srv.b.mu);
	ck_assert_int_eq(srv.frames, NFRAMES);
	ck_assert_int_eq(srv.bad, 0);
	ck_assert_int_eq(srv.opened, 1);
	pthread_mutex_unlock(&srv.b.mu);
	/* both sides name their peer */
	pthread_mutex_lock(&srv.b.mu);
	if (strchr(u.host, ':'))
		ck_assert_str_eq(ks_conn_peer(c), url + strlen(u.scheme) + 3);
	if (u.port < 0) {
		ck_assert_str_eq(ks_conn_peer(srv.conn), "unix");
		ck_assert_str_eq(ks_conn_peer(c), "unix");
	} else if (strchr(u.host, ':')) {
		ck_assert(strncmp(ks_conn_peer(srv.conn), "[::1]:", 6) == 0);
	} else {
		ck_assert(strncmp(ks_conn_peer(srv.conn), "127.0.0.1:", 10) ==
		    0);
		ck_assert(strncmp(ks_conn_peer(c), "127.0.0.1:", 10) == 0);
	}
	pthread_mutex_unlock(&srv.b.mu);

	ks_net_free(net);
	/* both ends got KS_CONN_CLOSED with 0 at ks_net_free */
	ck_assert_int_eq(srv.closed, 1);
	ck_assert_int_eq(srv.close_err, 0);
	ck_assert_int_eq(cli.closed, 1);
	ck_assert_int_eq(cli.close_err, 0);
	free(buf);
	box_destroy(&srv.b);
	box_destroy(&cli.b);
}

START_TEST(echo_tcp4)
{
	echo_run("tcp://127.0.0.1:0", NULL, NULL, NULL);
}
END_TEST

static int have_ipv6(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	int fd = socket(AF_INET6, SOCK_STREAM, 0), ok;

	if (fd < 0)
		return 0;
	a.sin6_addr = in6addr_loopback;
	ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

START_TEST(echo_tcp6)
{
	if (!have_ipv6()) {
		fprintf(stderr, "transport: no IPv6 loopback: skipping "
		    "echo_tcp6\n");
		return;
	}
	echo_run("tcp://[::1]:0", NULL, NULL, NULL);
}
END_TEST

START_TEST(echo_unix)
{
	char *dir = kt_tmpdir("transport-unix"), url[300];
	struct stat st;

	snprintf(url, sizeof url, "unix://%s/ks.sock", dir);
	echo_run(url, NULL, NULL, NULL);
	/* the socket file is removed at close */
	snprintf(url, sizeof url, "%s/ks.sock", dir);
	ck_assert_int_ne(stat(url, &st), 0);
	kt_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- TLS --------------------------------------------------------------- */

static char *certdir;

static char *cert(const char *name)
{
	return kt_path(certdir, name);
}

static void make_certs(void)
{
	char cmd[600];

	certdir = kt_tmpdir("transport-certs");
	snprintf(cmd, sizeof cmd, "sh %s/test/gen_certs.sh %s",
	    getenv("KS_SRCDIR") ? getenv("KS_SRCDIR") : "../../..", certdir);
	if (system(cmd) != 0) {
		kt_rmrf(certdir);
		ck_abort_msg("%s failed", cmd);
	}
}

static void free_certs(void)
{
	kt_rmrf(certdir);
	free(certdir);
}

struct tlsfiles {
	char *ca, *scert, *skey, *ccert, *ckey;
};

static void tls_files(struct tlsfiles *f)
{
	f->ca = cert("ca.pem");
	f->scert = cert("server.pem");
	f->skey = cert("server.key");
	f->ccert = cert("client.pem");
	f->ckey = cert("client.key");
}

static void tls_files_free(struct tlsfiles *f)
{
	free(f->ca);
	free(f->scert);
	free(f->skey);
	free(f->ccert);
	free(f->ckey);
}

START_TEST(echo_tls)
{
	struct tlsfiles f;
	ks_tls_config_t s, c;

	make_certs();
	tls_files(&f);
	ks_tls_config_init(&s, 1);
	ck_assert_int_eq(s.verify_peer, 0);
	s.cert_file = f.scert;
	s.key_file = f.skey;
	ks_tls_config_init(&c, 0);
	ck_assert_int_eq(c.verify_peer, 1);
	c.ca_file = f.ca;
	/* by IP address (SAN IP:127.0.0.1) and by name (SAN DNS:localhost) */
	echo_run("tls+tcp://127.0.0.1:0", &s, &c, NULL);
	echo_run("tls+tcp://127.0.0.1:0", &s, &c, "localhost");
	tls_files_free(&f);
	free_certs();
}
END_TEST

/* Dials url with tls and expects it refused: -EPROTO at the dial, or (TLS
 * 1.3 checks a client certificate after the client's handshake is done)
 * a close with an error before any answer. */
static void expect_tls_refused(ks_net_t *net, const char *url,
    const ks_tls_config_t *tls, struct peer *srv)
{
	struct peer cli;
	ks_conn_handler_t hc;
	ks_conn_t *c = NULL;
	static const uint8_t ping[] = { 0, 0, 0, 4, 0, 0, 0, 0 };
	int rc, opened;

	peer_init(&cli);
	hc = handler(&cli);
	pthread_mutex_lock(&srv->b.mu);
	opened = srv->opened;
	pthread_mutex_unlock(&srv->b.mu);
	rc = ks_net_dial(net, url, tls, WAIT_MS, &hc, &c);
	if (rc == 0) {
		struct sendjob j = { .conn = c, .buf = ping, .len = 8 };
		box_init(&j.b);
		/* c may be closed already: send through the handler's box */
		pthread_mutex_lock(&cli.b.mu);
		if (!cli.closed) {
			pthread_mutex_unlock(&cli.b.mu);
			ks_net_call(net, sendjob_fn, &j);
			pthread_mutex_lock(&j.b.mu);
			BOX_WAIT(&j.b, j.done);
			pthread_mutex_unlock(&j.b.mu);
			pthread_mutex_lock(&cli.b.mu);
		}
		/* an alert (-EPROTO), a reset or an EOF, racing with the
		 * ping: any way, closed without an answer */
		BOX_WAIT(&cli.b, cli.closed == 1);
		ck_assert_int_eq(cli.closed, 1);
		ck_assert_int_eq(cli.frames, 0);
		pthread_mutex_unlock(&cli.b.mu);
		box_destroy(&j.b);
	} else {
		ck_assert_int_eq(rc, -EPROTO);
		ck_assert_ptr_null(c);
		ck_assert_int_eq(cli.closed, 0);   /* never reached the user */
	}
	/* the server failed the handshake, and never delivered a frame */
	pthread_mutex_lock(&srv->b.mu);
	BOX_WAIT(&srv->b, srv->opened > opened && srv->closed == srv->opened);
	ck_assert_int_eq(srv->closed, srv->opened);
	ck_assert_int_gt(srv->opened, opened);
	ck_assert_int_eq(srv->close_err, -EPROTO);
	ck_assert_int_eq(srv->frames, 0);
	pthread_mutex_unlock(&srv->b.mu);
	box_destroy(&cli.b);
}

START_TEST(tls_verify)
{
	struct tlsfiles f;
	ks_tls_config_t s, c;
	struct peer srv, cli;
	ks_conn_handler_t hs, hc;
	ks_listener_t *l;
	ks_conn_t *conn;
	ks_net_t *net;
	char url[320];
	int port;

	make_certs();
	tls_files(&f);
	peer_init(&srv);
	peer_init(&cli);
	srv.echo = 1;
	hs = handler(&srv);
	hc = handler(&cli);
	net = new_net(NULL);
	ks_tls_config_init(&s, 1);
	s.cert_file = f.scert;
	s.key_file = f.skey;
	ck_assert_int_eq(ks_net_listen(net, "tls+tcp://127.0.0.1:0", &s, &hs,
	    &l), 0);
	port = ks_listener_port(l);

	/* wrong name: -EPROTO, and the log says why */
	ks_tls_config_init(&c, 0);
	c.ca_file = f.ca;
	c.server_name = "wrong.example.com";
	snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", port);
	ck_assert_int_eq(ks_net_dial(net, url, &c, WAIT_MS, &hc, &conn),
	    -EPROTO);
	ck_assert(log_has("certificate verify failed") ||
	    log_has("hostname mismatch"));
	/* an IP the certificate does not name */
	c.server_name = "127.0.0.2";
	ck_assert_int_eq(ks_net_dial(net, url, &c, WAIT_MS, &hc, &conn),
	    -EPROTO);
	/* a CA that did not sign it (the system store) */
	c.server_name = NULL;
	c.ca_file = NULL;
	ck_assert_int_eq(ks_net_dial(net, url, &c, WAIT_MS, &hc, &conn),
	    -EPROTO);
	/* no verification at all: accepted */
	c.verify_peer = 0;
	c.server_name = "wrong.example.com";
	ck_assert_int_eq(ks_net_dial(net, url, &c, WAIT_MS, &hc, &conn), 0);
	/* an unreadable CA file is a configuration error */
	c.verify_peer = 1;
	c.ca_file = "/nonexistent/ca.pem";
	ck_assert_int_eq(ks_net_dial(net, url, &c, WAIT_MS, &hc, &conn),
	    KS_EINVAL);
	ck_assert_int_eq(cli.closed, 0);

	/* listeners: TLS needs a config with a readable cert and key */
	ck_assert_int_eq(ks_net_listen(net, "tls+tcp://127.0.0.1:0", NULL,
	    &hs, &l), KS_EINVAL);
	s.key_file = "/nonexistent/server.key";
	ck_assert_int_eq(ks_net_listen(net, "tls+tcp://127.0.0.1:0", &s, &hs,
	    &l), KS_EINVAL);
	s.key_file = f.ckey;       /* a key that is not the cert's */
	ck_assert_int_eq(ks_net_listen(net, "tls+tcp://127.0.0.1:0", &s, &hs,
	    &l), KS_EINVAL);
	ks_net_free(net);
	box_destroy(&srv.b);
	box_destroy(&cli.b);
	tls_files_free(&f);
	free_certs();
}
END_TEST

START_TEST(tls_mutual)
{
	struct tlsfiles f;
	ks_tls_config_t s, c;
	struct peer srv;
	ks_conn_handler_t hs;
	ks_listener_t *l;
	ks_net_t *net;
	char url[320];

	make_certs();
	tls_files(&f);
	peer_init(&srv);
	srv.echo = 1;
	hs = handler(&srv);
	net = new_net(NULL);
	ks_tls_config_init(&s, 1);
	s.cert_file = f.scert;
	s.key_file = f.skey;
	s.ca_file = f.ca;
	s.verify_peer = 1;
	ck_assert_int_eq(ks_net_listen(net, "tls+tcp://127.0.0.1:0", &s, &hs,
	    &l), 0);
	ck_assert_int_eq(ks_listener_url(l, url, sizeof url), 0);

	/* without a client certificate: refused */
	ks_tls_config_init(&c, 0);
	c.ca_file = f.ca;
	expect_tls_refused(net, url, &c, &srv);
	/* with the server's own certificate as client: not a clientAuth
	 * certificate, refused too */
	c.cert_file = f.scert;
	c.key_file = f.skey;
	expect_tls_refused(net, url, &c, &srv);
	ks_net_free(net);
	box_destroy(&srv.b);

	/* with the client certificate: served */
	ks_tls_config_init(&c, 0);
	c.ca_file = f.ca;
	c.cert_file = f.ccert;
	c.key_file = f.ckey;
	echo_run("tls+tcp://127.0.0.1:0", &s, &c, NULL);
	tls_files_free(&f);
	free_certs();
}
END_TEST

/* ---- dial and listen errors -------------------------------------------- */

START_TEST(dial_errors)
{
	struct peer p;
	ks_conn_handler_t h;
	ks_listener_t *l, *l2;
	ks_conn_t *c;
	ks_net_t *net;
	char url[320];
	int port, lfd;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof sin;
	struct tlsfiles f;
	ks_tls_config_t tc;

	peer_init(&p);
	h = handler(&p);
	net = new_net(NULL);
	ck_assert_int_eq(ks_net_dial(net, "tcp://127.0.0.1", NULL, 1000, &h,
	    &c), KS_EINVAL);
	ck_assert_int_eq(ks_net_dial(net, "nosuch://127.0.0.1:1", NULL, 1000,
	    &h, &c), KS_EINVAL);
	ck_assert_int_eq(ks_net_listen(net, "nosuch://127.0.0.1:1", NULL, &h,
	    &l), KS_EINVAL);
	ck_assert_int_eq(ks_net_listen(net, "tcp://127.0.0.1", NULL, &h, &l),
	    KS_EINVAL);

	/* a port nobody listens on: refused */
	ck_assert_int_eq(ks_net_listen(net, "tcp://127.0.0.1:0", NULL, &h, &l),
	    0);
	port = ks_listener_port(l);
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
	/* taken: -EADDRINUSE */
	ck_assert_int_eq(ks_net_listen(net, url, NULL, &h, &l2), -EADDRINUSE);
	ks_listener_close(l);
	ck_assert_int_eq(ks_net_dial(net, url, NULL, WAIT_MS, &h, &c),
	    -ECONNREFUSED);
	ck_assert_ptr_null(c);

	/* TLS to a peer that accepts TCP but never answers: times out */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d",
	    ntohs(sin.sin_port));
	make_certs();
	tls_files(&f);
	ks_tls_config_init(&tc, 0);
	tc.ca_file = f.ca;
	ck_assert_int_eq(ks_net_dial(net, url, &tc, 300, &h, &c),
	    KS_ETIMEDOUT);
	ck_assert_ptr_null(c);
	close(lfd);
	ck_assert_int_eq(p.closed, 0);
	ks_net_free(net);
	box_destroy(&p.b);
	tls_files_free(&f);
	free_certs();
}
END_TEST

START_TEST(unix_stale)
{
	char *dir = kt_tmpdir("transport-stale"), url[300];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct peer p;
	ks_conn_handler_t h;
	ks_listener_t *l, *l2;
	ks_net_t *net;
	struct stat st;
	int fd;

	peer_init(&p);
	p.echo = 1;
	h = handler(&p);
	/* a socket file whose process is gone */
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/s.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	close(fd);
	ck_assert_int_eq(stat(sun.sun_path, &st), 0);
	net = new_net(NULL);
	snprintf(url, sizeof url, "unix://%s", sun.sun_path);
	ck_assert_int_eq(ks_net_listen(net, url, NULL, &h, &l), 0);
	/* a live one is not taken over */
	ck_assert_int_eq(ks_net_listen(net, url, NULL, &h, &l2), -EADDRINUSE);
	fd = raw_connect(url);
	raw_echo(fd, 10);
	close(fd);
	ks_listener_close(l);
	ck_assert_int_ne(stat(sun.sun_path, &st), 0);
	/* a regular file is not removed */
	fd = open(sun.sun_path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	ck_assert_int_eq(ks_net_listen(net, url, NULL, &h, &l), -EADDRINUSE);
	ck_assert_int_eq(stat(sun.sun_path, &st), 0);
	ks_net_free(net);
	box_destroy(&p.b);
	kt_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- limits ------------------------------------------------------------ */

struct limit_srv {
	ks_net_t *net;
	ks_listener_t *l;
	struct peer p;
	char url[320];
};

/* A server that echoes, or that answers each frame with `answer` bytes. */
static void limit_start(struct limit_srv *s, ks_net_config_t *cfg,
    size_t answer)
{
	ks_conn_handler_t h;

	peer_init(&s->p);
	s->p.echo = !answer;
	s->p.answer = answer;
	h = handler(&s->p);
	s->net = new_net(cfg);
	ck_assert_int_eq(ks_net_listen(s->net, "tcp://127.0.0.1:0", NULL, &h,
	    &s->l), 0);
	ck_assert_int_eq(ks_listener_url(s->l, s->url, sizeof s->url), 0);
}

static void limit_stop(struct limit_srv *s)
{
	ks_net_free(s->net);
	box_destroy(&s->p.b);
}

/* Waits for the server's nth close and returns its error. */
static int wait_closed(struct peer *p, int n)
{
	int err;

	pthread_mutex_lock(&p->b.mu);
	BOX_WAIT(&p->b, p->closed >= n);
	ck_assert_int_ge(p->closed, n);
	err = p->close_err;
	pthread_mutex_unlock(&p->b.mu);
	return err;
}

START_TEST(limit_frame_size)
{
	struct limit_srv s;
	ks_net_config_t cfg;
	uint8_t hdr[4];
	int fd;

	ks_net_config_init(&cfg);
	cfg.max_frame = 1000;
	limit_start(&s, &cfg, 0);
	fd = raw_connect(s.url);
	raw_echo(fd, 1000);             /* at the limit: fine */
	hdr[0] = 0;
	hdr[1] = 0;
	hdr[2] = 0x03;
	hdr[3] = 0xe9;                  /* 1001 */
	kt_write_all(fd, hdr, 4);
	ck_assert_int_eq(wait_closed(&s.p, 1), KS_EMSGSIZE);
	ck_assert(raw_closed(fd));
	close(fd);

	/* a negative length */
	fd = raw_connect(s.url);
	memset(hdr, 0xff, 4);
	kt_write_all(fd, hdr, 4);
	ck_assert_int_eq(wait_closed(&s.p, 2), KS_EMSGSIZE);
	ck_assert(raw_closed(fd));
	close(fd);
	ck_assert_int_eq(s.p.frames, 1);
	limit_stop(&s);
}
END_TEST

START_TEST(limit_idle)
{
	struct limit_srv s;
	ks_net_config_t cfg;
	int fd;

	ks_net_config_init(&cfg);
	cfg.idle_timeout_ms = 200;
	limit_start(&s, &cfg, 0);
	fd = raw_connect(s.url);
	raw_echo(fd, 5);
	/* then nothing: closed for idleness */
	ck_assert_int_eq(wait_closed(&s.p, 1), KS_ETIMEDOUT);
	ck_assert(raw_closed(fd));
	close(fd);
	limit_stop(&s);
}
END_TEST

START_TEST(limit_request)
{
	struct limit_srv s;
	ks_net_config_t cfg;
	static const uint8_t part[] = { 0, 0, 0, 10, 'a', 'b' };
	int fd;

	ks_net_config_init(&cfg);
	cfg.idle_timeout_ms = 0;
	cfg.request_timeout_ms = 200;
	limit_start(&s, &cfg, 0);
	fd = raw_connect(s.url);
	raw_echo(fd, 5);
	/* a frame that never completes */
	kt_write_all(fd, part, sizeof part);
	ck_assert_int_eq(wait_closed(&s.p, 1), KS_ETIMEDOUT);
	ck_assert(raw_closed(fd));
	close(fd);
	/* just its length's first bytes count too */
	fd = raw_connect(s.url);
	kt_write_all(fd, part, 2);
	ck_assert_int_eq(wait_closed(&s.p, 2), KS_ETIMEDOUT);
	ck_assert(raw_closed(fd));
	close(fd);
	limit_stop(&s);
}
END_TEST

START_TEST(limit_connections)
{
	struct limit_srv s;
	ks_net_config_t cfg;
	int a, b, x, d;

	ks_net_config_init(&cfg);
	cfg.max_connections = 2;
	limit_start(&s, &cfg, 0);
	a = raw_connect(s.url);
	b = raw_connect(s.url);
	raw_echo(a, 10);
	raw_echo(b, 10);
	/* the third is accepted and closed at once */
	x = raw_connect(s.url);
	ck_assert(raw_closed(x));
	close(x);
	ck_assert(log_has("refusing"));
	/* the others keep working */
	raw_echo(a, 100);
	raw_echo(b, 100);
	/* once one leaves, a new one is served */
	close(a);
	ck_assert_int_eq(wait_closed(&s.p, 1), 0);
	d = raw_connect(s.url);
	raw_echo(d, 10);
	raw_echo(b, 10);
	close(b);
	close(d);
	pthread_mutex_lock(&s.p.b.mu);
	ck_assert_int_eq(s.p.opened, 3);
	pthread_mutex_unlock(&s.p.b.mu);
	limit_stop(&s);
}
END_TEST

/*
 * Garbage from the network: random bytes on many connections. The server
 * closes each (bad length, or the peer's EOF) and never crashes.
 */
START_TEST(garbage)
{
	struct limit_srv s;
	ks_net_config_t cfg;
	uint64_t x = kt_seed(42);
	uint8_t buf[4096];
	int i, fd;
	size_t j, n;

	ks_net_config_init(&cfg);
	cfg.max_frame = 65536;
	limit_start(&s, &cfg, 0);
	for (i = 0; i < 200; i++) {
		fd = raw_connect(s.url);
		x = kt_mix64(x);
		n = 1 + x % sizeof buf;
		for (j = 0; j < n; j++) {
			x = kt_mix64(x);
			buf[j] = (uint8_t)x;
		}
		/* now and then a plausible length first */
		if (i % 3 == 0 && n >= 4) {
			buf[0] = 0;
			buf[1] = 0;
		}
		(void)!write(fd, buf, n);
		close(fd);
		wait_closed(&s.p, i + 1);
	}
	/* still serving */
	fd = raw_connect(s.url);
	raw_echo(fd, 100);
	close(fd);
	limit_stop(&s);
}
END_TEST

/*
 * ks_conn_close sends what is queued first, then closes; KS_CONN_CLOSED
 * (err 0) comes from the loop, not from inside ks_conn_close.
 */
static int in_close, closed_inside, send_after_close = 1, close_frames;

static int close_frame(void *arg, ks_conn_t *c, const void *f, size_t len)
{
	static uint8_t big[1 << 20];
	uint8_t hdr[4] = { 0, 0x10, 0, 0 };    /* 1 MiB */

	close_frames++;

	ck_assert_int_eq(ks_conn_send(c, hdr, 4), 0);
	ck_assert_int_eq(ks_conn_send(c, big, sizeof big), 0);
	in_close = 1;
	ks_conn_close(c);
	in_close = 0;
	send_after_close = ks_conn_send(c, hdr, 4);
	ks_conn_close(c);                       /* twice: harmless */
	return KS_FRAME_NEXT;
}

static void close_event(void *arg, ks_conn_t *c, int ev, int err)
{
	if (ev == KS_CONN_CLOSED && in_close)
		closed_inside = 1;
	peer_event(arg, c, ev, err);
}

START_TEST(close_flushes)
{
	struct peer p;
	ks_conn_handler_t h;
	ks_listener_t *l;
	ks_net_t *net;
	char url[320];
	uint8_t *got = malloc(4 + (1 << 20));
	int fd;

	peer_init(&p);
	h.frame = close_frame;
	h.event = close_event;
	h.arg = &p;
	net = new_net(NULL);
	ck_assert_int_eq(ks_net_listen(net, "tcp://127.0.0.1:0", NULL, &h, &l),
	    0);
	ck_assert_int_eq(ks_listener_url(l, url, sizeof url), 0);
	fd = raw_connect(url);
	/* the second frame is never delivered: the first closed */
	kt_write_all(fd, "\0\0\0\1x\0\0\0\1y", 10);
	ck_assert_int_eq(raw_read(fd, got, 4 + (1 << 20)), 0);
	ck_assert(raw_closed(fd));
	ck_assert_int_eq(wait_closed(&p, 1), 0);
	ck_assert_int_eq(closed_inside, 0);
	ck_assert_int_eq(send_after_close, KS_ECLOSED);
	ck_assert_int_eq(close_frames, 1);
	close(fd);
	ks_net_free(net);
	ck_assert_int_eq(p.closed, 1);
	box_destroy(&p.b);
	free(got);
}
END_TEST

/* ---- backpressure ------------------------------------------------------ */

struct probe {
	struct peer *p;
	size_t pending;
};

static void probe_fn(void *arg)
{
	struct probe *pr = arg;
	ks_conn_t *c;

	pthread_mutex_lock(&pr->p->b.mu);
	c = pr->p->conn;
	pthread_mutex_unlock(&pr->p->b.mu);
	pr->pending = c ? ks_conn_pending(c) : 0;
}

#define BP_REQS 2000
#define BP_ANSWER 65536

START_TEST(backpressure)
{
	struct limit_srv s;
	ks_net_config_t cfg;
	struct peer *p;
	struct probe pr;
	struct peer echo;
	ks_conn_handler_t eh;
	ks_listener_t *el;
	char eurl[320];
	uint8_t req[8 * BP_REQS], *ans;
	int fd, other, i, served;
	long long got = 0;

	ks_net_config_init(&cfg);
	cfg.max_conn_buffer = 256 * 1024;
	limit_start(&s, &cfg, BP_ANSWER);
	p = &s.p;
	peer_init(&echo);
	echo.echo = 1;
	eh = handler(&echo);
	ck_assert_int_eq(ks_net_listen(s.net, "tcp://127.0.0.1:0", NULL, &eh,
	    &el), 0);
	ck_assert_int_eq(ks_listener_url(el, eurl, sizeof eurl), 0);
	fd = raw_connect(s.url);
	for (i = 0; i < BP_REQS; i++) {
		req[8 * i] = 0;
		req[8 * i + 1] = 0;
		req[8 * i + 2] = 0;
		req[8 * i + 3] = 4;
		memcpy(req + 8 * i + 4, &i, 4);
	}
	kt_write_all(fd, req, sizeof req);    /* and never read the answers */

	/* wait until the server holds a full queue for this peer */
	pr.p = p;
	pr.pending = 0;
	for (i = 0; i < 3000 && pr.pending < cfg.max_conn_buffer / 2; i++) {
		on_loop(s.net, probe_fn, &pr);
		if (pr.pending < cfg.max_conn_buffer / 2)
			usleep(10000);
	}
	ck_assert_uint_ge(pr.pending, cfg.max_conn_buffer / 2);
	/* meanwhile another client is served, by the same loop */
	other = raw_connect(eurl);
	raw_echo(other, 1000);
	close(other);
	/* the queue stayed bounded: the cap plus one answer at most */
	pthread_mutex_lock(&p->b.mu);
	ck_assert_uint_le(p->max_pending, cfg.max_conn_buffer + BP_ANSWER + 4);
	served = p->frames;
	pthread_mutex_unlock(&p->b.mu);
	ck_assert_int_lt(served, BP_REQS);
	on_loop(s.net, probe_fn, &pr);
	ck_assert_uint_le(pr.pending, cfg.max_conn_buffer + BP_ANSWER + 4);

	/* once the peer reads, every request is answered */
	ans = malloc(4 + BP_ANSWER);
	for (i = 0; i < BP_REQS; i++) {
		ck_assert_int_eq(raw_read(fd, ans, 4 + BP_ANSWER), 0);
		got += 4 + BP_ANSWER;
	}
	ck_assert_int_eq(got, (long long)BP_REQS * (4 + BP_ANSWER));
	pthread_mutex_lock(&p->b.mu);
	ck_assert_int_eq(p->frames, BP_REQS);
	ck_assert_uint_le(p->max_pending, cfg.max_conn_buffer + BP_ANSWER + 4);
	pthread_mutex_unlock(&p->b.mu);
	free(ans);
	close(fd);
	limit_stop(&s);
	box_destroy(&echo.b);
}
END_TEST

/*
 * A peer that resets the connection while the server writes to it: the
 * write fails (EPIPE or ECONNRESET) and closes the connection; SIGPIPE
 * does not kill the process.
 */
START_TEST(peer_gone)
{
	struct limit_srv s;
	struct linger lg = { 1, 0 };
	uint8_t buf[4];
	int fd, err;

	limit_start(&s, NULL, 32 * 1024 * 1024);
	fd = raw_connect(s.url);
	kt_write_all(fd, "\0\0\0\1x", 5);
	ck_assert_int_eq(raw_read(fd, buf, 4), 0);   /* the answer began */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);                                  /* RST */
	err = wait_closed(&s.p, 1);
	ck_assert_msg(err == -EPIPE || err == -ECONNRESET, "closed with %s",
	    ks_errname(err));
	limit_stop(&s);
}
END_TEST

/* ---- send_ref ------------------------------------------------------------ */

static struct box relbox;
static int releases;
static uint8_t refbuf[32 * 1024 * 1024];
static ks_conn_t *ref_conn;

static void release_fn(void *arg)
{
	pthread_mutex_lock(&relbox.mu);
	releases += arg == refbuf ? 1 : 1000;
	box_signal(&relbox);
	pthread_mutex_unlock(&relbox.mu);
}

static size_t ref_len;

static int ref_frame(void *arg, ks_conn_t *c, const void *f, size_t len)
{
	int rc = ks_conn_send_ref(c, refbuf, ref_len, release_fn, refbuf);

	ck_assert_int_eq(rc, 0);
	return KS_FRAME_NEXT;
}

static int closed_send_ref_rc = 1;

static void ref_event(void *arg, ks_conn_t *c, int ev, int err)
{
	if (ev == KS_CONN_OPEN)
		ref_conn = c;
	if (ev == KS_CONN_CLOSED)
		/* too late: refused, and released all the same */
		closed_send_ref_rc = ks_conn_send_ref(c, refbuf, 10,
		    release_fn, refbuf);
}

/* On the loop: the bytes the server still queues for its peer. */
static void ref_probe(void *arg)
{
	*(size_t *)arg = ref_conn ? ks_conn_pending(ref_conn) : 0;
}

START_TEST(send_ref)
{
	size_t pend = 0;
	ks_conn_handler_t h = { ref_frame, NULL, NULL };
	ks_listener_t *l;
	ks_net_t *net;
	char url[320];
	uint8_t *got;
	int fd;

	box_init(&relbox);
	/* sent: released once, after the bytes left */
	ref_len = 4 + 1000;
	memset(refbuf, 'r', ref_len);
	refbuf[0] = 0;
	refbuf[1] = 0;
	refbuf[2] = 0x03;
	refbuf[3] = 0xe8;
	net = new_net(NULL);
	ck_assert_int_eq(ks_net_listen(net, "tcp://127.0.0.1:0", NULL, &h, &l),
	    0);
	ck_assert_int_eq(ks_listener_url(l, url, sizeof url), 0);
	fd = raw_connect(url);
	kt_write_all(fd, "\0\0\0\1x", 5);
	got = malloc(ref_len);
	ck_assert_int_eq(raw_read(fd, got, ref_len), 0);
	ck_assert_int_eq(memcmp(got, refbuf, ref_len), 0);
	pthread_mutex_lock(&relbox.mu);
	BOX_WAIT(&relbox, releases >= 1);
	ck_assert_int_eq(releases, 1);
	pthread_mutex_unlock(&relbox.mu);
	close(fd);
	ks_net_free(net);
	ck_assert_int_eq(releases, 1);

	/* unsent at close: released once all the same */
	releases = 0;
	ref_len = sizeof refbuf;    /* more than the socket buffers hold */
	h.event = ref_event;
	net = new_net(NULL);
	ck_assert_int_eq(ks_net_listen(net, "tcp://127.0.0.1:0", NULL, &h, &l),
	    0);
	ck_assert_int_eq(ks_listener_url(l, url, sizeof url), 0);
	fd = raw_connect(url);
	kt_write_all(fd, "\0\0\0\1x", 5);
	ck_assert_int_eq(raw_read(fd, got, 4), 0);   /* it is under way */
	/* more than the kernel's buffers: still queued here */
	on_loop(net, ref_probe, &pend);
	ck_assert_uint_gt(pend, 0);
	pthread_mutex_lock(&relbox.mu);
	ck_assert_int_eq(releases, 0);
	pthread_mutex_unlock(&relbox.mu);
	ks_net_free(net);
	ck_assert_int_eq(closed_send_ref_rc, KS_ECLOSED);
	ck_assert_int_eq(releases, 2);   /* the big one, the refused one */
	close(fd);
	free(got);
	box_destroy(&relbox);
}
END_TEST

/* ---- HOLD / resume ------------------------------------------------------- */

static void answer_held(void *arg)
{
	struct peer *p = arg;
	ks_conn_t *c;
	uint32_t seq;

	pthread_mutex_lock(&p->b.mu);
	c = p->held_conn;
	seq = p->held_seq;
	p->held_now = 0;
	pthread_mutex_unlock(&p->b.mu);
	if (!c)
		return;
	send_frame(c, &seq, 4);
	ks_conn_resume(c);
}

/* A frame handler that holds, and a timer that answers and resumes. */
static int hold_frame(void *arg, ks_conn_t *c, const void *f, size_t len)
{
	struct peer *p = arg;
	int r;

	r = peer_frame(arg, c, f, len);
	if (!p->timer)
		ck_assert_int_eq(ks_timer_new(ks_conn_net(c), answer_held, p,
		    &p->timer), 0);
	ks_timer_arm(p->timer, 1);
	return r;
}

START_TEST(hold_resume)
{
	struct peer srv;
	ks_conn_handler_t h;
	ks_listener_t *l;
	ks_net_t *net;
	char url[320];
	uint8_t reqs[100 * 8], ans[8];
	uint32_t i, seq;
	int fd;

	peer_init(&srv);
	srv.hold = 1;
	h = handler(&srv);
	h.frame = hold_frame;
	net = new_net(NULL);
	ck_assert_int_eq(ks_net_listen(net, "tcp://127.0.0.1:0", NULL, &h, &l),
	    0);
	ck_assert_int_eq(ks_listener_url(l, url, sizeof url), 0);
	fd = raw_connect(url);
	for (i = 0; i < 100; i++) {
		reqs[8 * i] = 0;
		reqs[8 * i + 1] = 0;
		reqs[8 * i + 2] = 0;
		reqs[8 * i + 3] = 4;
		memcpy(reqs + 8 * i + 4, &i, 4);
	}
	kt_write_all(fd, reqs, sizeof reqs);   /* all pipelined at once */
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(raw_read(fd, ans, 8), 0);
		memcpy(&seq, ans + 4, 4);
		ck_assert_uint_eq(seq, i);
	}
	pthread_mutex_lock(&srv.b.mu);
	ck_assert_int_eq(srv.frames, 100);
	ck_assert_int_eq(srv.in_frame_while_held, 0);
	pthread_mutex_unlock(&srv.b.mu);
	close(fd);
	ck_assert_int_eq(wait_closed(&srv, 1), 0);
	ks_net_free(net);
	box_destroy(&srv.b);
}
END_TEST

/*
 * A handler that holds forever: the server stops reading once a whole
 * further frame waits, so a pipelining peer is pushed back by TCP
 * instead of filling the server's memory.
 */
static int hold_forever(void *arg, ks_conn_t *c, const void *f, size_t len)
{
	peer_frame(arg, c, f, len);
	return KS_FRAME_HOLD;
}

START_TEST(hold_pushback)
{
	struct peer srv;
	ks_conn_handler_t h;
	ks_listener_t *l;
	ks_net_t *net;
	char url[320];
	static uint8_t chunk[1 << 16];
	size_t total = 0, limit = (size_t)256 << 20, i;
	struct pollfd pfd;
	int fd;

	peer_init(&srv);
	h = handler(&srv);
	h.frame = hold_forever;
	net = new_net(NULL);
	ck_assert_int_eq(ks_net_listen(net, "tcp://127.0.0.1:0", NULL, &h, &l),
	    0);
	ck_assert_int_eq(ks_listener_url(l, url, sizeof url), 0);
	/* 1 KiB frames, back to back */
	for (i = 0; i + 1028 <= sizeof chunk; i += 1028) {
		chunk[i + 2] = 0x04;
		memset(chunk + i + 4, 'h', 1024);
	}
	fd = raw_connect(url);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	pfd.fd = fd;
	pfd.events = POLLOUT;
	while (total < limit) {
		ssize_t n = write(fd, chunk, 63 * 1028);
		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		ck_assert(n < 0 && errno == EAGAIN);
		/* no room for half a second: pushed back */
		if (poll(&pfd, 1, 500) == 0)
			break;
	}
	ck_assert_uint_lt(total, limit);
	pthread_mutex_lock(&srv.b.mu);
	ck_assert_int_eq(srv.frames, 1);
	pthread_mutex_unlock(&srv.b.mu);
	ks_net_free(net);
	ck_assert_int_eq(srv.closed, 1);
	close(fd);
	box_destroy(&srv.b);
}
END_TEST

/* ---- ks_net_call ---------------------------------------------------------- */

struct counter {
	int n;
	pthread_t loop;
	int loop_set, wrong_thread;
};

static void count_fn(void *arg)
{
	struct counter *c = arg;

	/* only the loop thread runs calls: no lock needed */
	if (!c->loop_set) {
		c->loop = pthread_self();
		c->loop_set = 1;
	} else if (!pthread_equal(c->loop, pthread_self())) {
		c->wrong_thread = 1;
	}
	c->n++;
}

struct caller {
	ks_net_t *net;
	struct counter *c;
};

static void *caller_main(void *arg)
{
	struct caller *k = arg;
	int i;

	for (i = 0; i < 1000; i++)
		if (ks_net_call(k->net, count_fn, k->c) != 0)
			break;
	return NULL;
}


struct loop_dial {
	ks_net_t *net;
	int rc;
};

static void dial_on_loop(void *arg)
{
	struct loop_dial *d = arg;
	ks_conn_handler_t h = { peer_frame, NULL, NULL };
	ks_conn_t *c;

	/* it would wait for itself */
	d->rc = ks_net_dial(d->net, "tcp://127.0.0.1:1", NULL, 1000, &h, &c);
}

START_TEST(net_call)
{
	struct loop_dial dl;
	ks_net_config_t bad;
	ks_net_t *bnet;
	struct counter cnt = { 0 };
	struct caller k;
	pthread_t th[4];
	struct peer p;
	ks_conn_handler_t h;
	ks_listener_t *l;
	ks_conn_t *c;
	ks_net_t *net;
	char url[320];
	int i;

	net = new_net(NULL);
	k.net = net;
	k.c = &cnt;
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, caller_main, &k),
		    0);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	/* calls run in order: this one after all of theirs */
	on_loop(net, noop, NULL);
	ck_assert_int_eq(cnt.n, 4000);
	ck_assert_int_eq(cnt.wrong_thread, 0);
	ck_assert(!pthread_equal(cnt.loop, pthread_self()));
	ck_assert_int_eq(ks_net_call(net, NULL, NULL), KS_EINVAL);
	dl.net = net;
	dl.rc = 1;
	on_loop(net, dial_on_loop, &dl);
	ck_assert_int_eq(dl.rc, KS_EINVAL);
	ks_net_config_init(&bad);
	bad.max_frame = 0;
	ck_assert_int_eq(ks_net_new(&bad, &bnet), KS_EINVAL);
	ks_net_config_init(&bad);
	bad.max_connections = 0;
	ck_assert_int_eq(ks_net_new(&bad, &bnet), KS_EINVAL);
	ck_assert_int_eq(ks_net_new(NULL, NULL), KS_EINVAL);

	/* once ks_net_free has begun, calls are refused */
	peer_init(&p);
	p.echo = 1;
	p.try_call_at_close = 1;
	h = handler(&p);
	ck_assert_int_eq(ks_net_listen(net, "tcp://127.0.0.1:0", NULL, &h, &l),
	    0);
	ck_assert_int_eq(ks_listener_url(l, url, sizeof url), 0);
	ck_assert_int_eq(ks_net_dial(net, url, NULL, WAIT_MS, &h, &c), 0);
	ks_net_free(net);
	ck_assert_int_ge(p.closed, 1);
	ck_assert_int_eq(p.call_rc_at_close, KS_ECLOSED);
	box_destroy(&p.b);
}
END_TEST

/* ---- timers ------------------------------------------------------------ */

struct tstate {
	struct box b;
	int fired_a, fired_b, fired_c;
	ks_timer_t *a, *b2, *c;
	ks_net_t *net;
};

static void fire_a(void *arg)
{
	struct tstate *t = arg;

	pthread_mutex_lock(&t->b.mu);
	t->fired_a++;
	box_signal(&t->b);
	pthread_mutex_unlock(&t->b.mu);
}

static void fire_b(void *arg)
{
	struct tstate *t = arg;

	pthread_mutex_lock(&t->b.mu);
	t->fired_b++;
	box_signal(&t->b);
	pthread_mutex_unlock(&t->b.mu);
}

static void fire_c(void *arg)
{
	struct tstate *t = arg;

	pthread_mutex_lock(&t->b.mu);
	t->fired_c++;
	pthread_mutex_unlock(&t->b.mu);
}

static void timers_setup(void *arg)
{
	struct tstate *t = arg;

	ck_assert_int_eq(ks_timer_new(t->net, fire_a, t, &t->a), 0);
	ck_assert_int_eq(ks_timer_new(t->net, fire_b, t, &t->b2), 0);
	ck_assert_int_eq(ks_timer_new(t->net, fire_c, t, &t->c), 0);
	/* a: cancelled before it is due; b fires later than a would */
	ks_timer_arm(t->a, 20);
	ks_timer_cancel(t->a);
	ks_timer_arm(t->b2, 200);
	/* c: far away, still armed at ks_net_free */
	ks_timer_arm(t->c, 600000);
}

static void timers_rearm(void *arg)
{
	struct tstate *t = arg;

	ks_timer_arm(t->a, 1);
	ks_timer_arm(t->a, 5);     /* re-arming replaces: fires once */
	ks_timer_arm(t->b2, 300);  /* and b fires again, later */
}

static void timers_free(void *arg)
{
	struct tstate *t = arg;

	ks_timer_free(t->a);
	ks_timer_free(t->b2);
	ks_timer_free(NULL);
}

START_TEST(timers)
{
	struct tstate t;
	ks_timer_t *x;

	memset(&t, 0, sizeof t);
	box_init(&t.b);
	t.net = new_net(NULL);
	ck_assert_int_eq(ks_timer_new(t.net, NULL, NULL, &x), KS_EINVAL);
	on_loop(t.net, timers_setup, &t);
	pthread_mutex_lock(&t.b.mu);
	BOX_WAIT(&t.b, t.fired_b == 1);
	ck_assert_int_eq(t.fired_b, 1);
	ck_assert_int_eq(t.fired_a, 0);
	pthread_mutex_unlock(&t.b.mu);
	on_loop(t.net, timers_rearm, &t);
	pthread_mutex_lock(&t.b.mu);
	BOX_WAIT(&t.b, t.fired_b == 2);
	ck_assert_int_eq(t.fired_b, 2);
	/* a, due well before b, fired once only */
	ck_assert_int_eq(t.fired_a, 1);
	pthread_mutex_unlock(&t.b.mu);
	on_loop(t.net, timers_free, &t);
	/* c is still armed: freed at ks_net_free without firing */
	ks_net_free(t.net);
	ck_assert_int_eq(t.fired_a, 1);
	ck_assert_int_eq(t.fired_c, 0);
	box_destroy(&t.b);
}
END_TEST

/* ---- a transport of one's own -------------------------------------------- */

static int my_listens;

static int my_listen(const ks_url_t *url, const ks_tls_config_t *tls,
    struct event_base *base, ks_transport_accept_fn *accept, void *arg,
    void **lp)
{
	const ks_transport_ops_t *tcp = ks_transport_find("tcp");

	__atomic_add_fetch(&my_listens, 1, __ATOMIC_SEQ_CST);
	return tcp->listen(url, tls, base, accept, arg, lp);
}

static int my_bound(void *l, char *buf, size_t len)
{
	return ks_transport_find("tcp")->bound(l, buf, len);
}

static void my_close(void *l)
{
	ks_transport_find("tcp")->close(l);
}

static int my_dials;

static int my_dial(const ks_url_t *url, const ks_tls_config_t *tls,
    struct event_base *base, struct bufferevent **bevp)
{
	__atomic_add_fetch(&my_dials, 1, __ATOMIC_SEQ_CST);
	return ks_transport_find("tcp")->dial(url, tls, base, bevp);
}

static const ks_transport_ops_t my_ops = {
	.scheme = "mytcp",
	.listen = my_listen,
	.bound = my_bound,
	.close = my_close,
	.dial = my_dial,
};

static const ks_transport_ops_t dup_tcp = {
	.scheme = "tcp",
	.listen = my_listen,
	.bound = my_bound,
	.close = my_close,
	.dial = my_dial,
};

static const ks_transport_ops_t incomplete = {
	.scheme = "half",
	.listen = my_listen,
};

static const ks_transport_ops_t bad_scheme = {
	.scheme = "Bad Scheme",
	.listen = my_listen,
	.bound = my_bound,
	.close = my_close,
	.dial = my_dial,
};

START_TEST(user_transport)
{
	int rc;

	ck_assert_ptr_nonnull(ks_transport_find("tcp"));
	ck_assert_ptr_nonnull(ks_transport_find("tls+tcp"));
	ck_assert_ptr_nonnull(ks_transport_find("unix"));
	ck_assert_ptr_null(ks_transport_find("mytcp2"));
	ck_assert_ptr_null(ks_transport_find(NULL));
	rc = ks_transport_register(&my_ops);
	ck_assert(rc == 0 ||
	    (rc == KS_EEXIST && ks_transport_find("mytcp") == &my_ops));
	ck_assert_ptr_eq(ks_transport_find("mytcp"), &my_ops);
	ck_assert_int_eq(ks_transport_register(&my_ops), KS_EEXIST);
	ck_assert_int_eq(ks_transport_register(&dup_tcp), KS_EEXIST);
	ck_assert_ptr_ne(ks_transport_find("tcp"), &dup_tcp);
	ck_assert_int_eq(ks_transport_register(&incomplete), KS_EINVAL);
	ck_assert_int_eq(ks_transport_register(&bad_scheme), KS_EINVAL);
	ck_assert_int_eq(ks_transport_register(NULL), KS_EINVAL);

	echo_run("mytcp://127.0.0.1:0", NULL, NULL, NULL);
	ck_assert_int_ge(my_listens, 1);
	ck_assert_int_ge(my_dials, 1);
}
END_TEST

/* ---- big frames: read in place, in few reads ------------------------- */

/* Sizes of big_frames' stream: beyond the eagerly allocated 8 MiB, small
 * after big, big ones back to back, an empty one. */
static const size_t big_sizes[] = { 20 * 1024 * 1024 + 3, 5, 1048577,
	1048577, 300000, 7, 0, 4096, 9 * 1024 * 1024, 1 };
#define NBIG (sizeof big_sizes / sizeof big_sizes[0])

struct bigsrv {
	struct box b;
	int frames, bad, closed;
};

static uint8_t big_pat(size_t k, size_t i)
{
	return (uint8_t)(k * 31 + i * 7 + (i >> 12));
}

static int big_frame(void *arg, ks_conn_t *c, const void *f, size_t len)
{
	struct bigsrv *s = arg;
	const uint8_t *p = f;
	size_t i, k;
	int ok;

	pthread_mutex_lock(&s->b.mu);
	k = (size_t)s->frames % NBIG;
	pthread_mutex_unlock(&s->b.mu);
	ok = len == big_sizes[k];
	for (i = 0; ok && i < len; i++)
		ok = p[i] == big_pat(k, i);
	pthread_mutex_lock(&s->b.mu);
	s->frames++;
	if (!ok)
		s->bad++;
	box_signal(&s->b);
	pthread_mutex_unlock(&s->b.mu);
	return KS_FRAME_NEXT;
}

static void big_event(void *arg, ks_conn_t *c, int ev, int err)
{
	struct bigsrv *s = arg;

	pthread_mutex_lock(&s->b.mu);
	if (ev == KS_CONN_CLOSED)
		s->closed++;
	box_signal(&s->b);
	pthread_mutex_unlock(&s->b.mu);
}

/* Sends the stream twice, in pieces of odd sizes, to a server at url. */
static void big_run(const char *url)
{
	struct bigsrv s;
	ks_conn_handler_t h = { big_frame, big_event, &s };
	ks_net_config_t cfg;
	ks_listener_t *l;
	ks_net_t *net;
	char bound[320];
	uint8_t *buf, *p;
	size_t total = 0, k, i, off, piece = 0;
	int fd, round;

	memset(&s, 0, sizeof s);
	box_init(&s.b);
	ks_net_config_init(&cfg);
	cfg.max_frame = 32 * 1024 * 1024;
	net = new_net(&cfg);
	ck_assert_int_eq(ks_net_listen(net, url, NULL, &h, &l), 0);
	ck_assert_int_eq(ks_listener_url(l, bound, sizeof bound), 0);
	for (k = 0; k < NBIG; k++)
		total += 4 + big_sizes[k];
	buf = malloc(total);
	ck_assert_ptr_nonnull(buf);
	for (k = 0, p = buf; k < NBIG; k++) {
		p[0] = (uint8_t)(big_sizes[k] >> 24);
		p[1] = (uint8_t)(big_sizes[k] >> 16);
		p[2] = (uint8_t)(big_sizes[k] >> 8);
		p[3] = (uint8_t)big_sizes[k];
		for (i = 0; i < big_sizes[k]; i++)
			p[4 + i] = big_pat(k, i);
		p += 4 + big_sizes[k];
	}
	fd = raw_connect(bound);
	for (round = 0; round < 2; round++) {
		/* whole, then in pieces that split lengths and frames */
		for (off = 0; off < total; off += piece) {
			piece = round == 0 ? total : 65537 + off % 3;
			if (piece > total - off)
				piece = total - off;
			kt_write_all(fd, buf + off, piece);
		}
	}
	pthread_mutex_lock(&s.b.mu);
	BOX_WAIT(&s.b, s.frames == (int)(2 * NBIG));
	ck_assert_int_eq(s.frames, (int)(2 * NBIG));
	ck_assert_int_eq(s.bad, 0);
	ck_assert_int_eq(s.closed, 0);
	pthread_mutex_unlock(&s.b.mu);
	/* the peer's close is seen */
	close(fd);
	pthread_mutex_lock(&s.b.mu);
	BOX_WAIT(&s.b, s.closed == 1);
	ck_assert_int_eq(s.closed, 1);
	pthread_mutex_unlock(&s.b.mu);
	ks_net_free(net);
	free(buf);
	box_destroy(&s.b);
}

START_TEST(big_frames)
{
	char *dir = kt_tmpdir("transport-big"), url[300];

	big_run("tcp://127.0.0.1:0");
	snprintf(url, sizeof url, "unix://%s/ks.sock", dir);
	big_run(url);
	kt_rmrf(dir);
	free(dir);
}
END_TEST

Suite *transport_suite(void)
{
	Suite *s = suite_create("transport");
	TCase *tc = tcase_create("transport");

	box_init(&logbox);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, url_parse);
	tcase_add_test(tc, user_transport);
	tcase_add_test(tc, echo_tcp4);
	tcase_add_test(tc, echo_tcp6);
	tcase_add_test(tc, echo_unix);
	tcase_add_test(tc, echo_tls);
	tcase_add_test(tc, tls_verify);
	tcase_add_test(tc, tls_mutual);
	tcase_add_test(tc, dial_errors);
	tcase_add_test(tc, unix_stale);
	tcase_add_test(tc, limit_frame_size);
	tcase_add_test(tc, limit_idle);
	tcase_add_test(tc, limit_request);
	tcase_add_test(tc, limit_connections);
	tcase_add_test(tc, garbage);
	tcase_add_test(tc, close_flushes);
	tcase_add_test(tc, backpressure);
	tcase_add_test(tc, peer_gone);
	tcase_add_test(tc, send_ref);
	tcase_add_test(tc, hold_resume);
	tcase_add_test(tc, hold_pushback);
	tcase_add_test(tc, net_call);
	tcase_add_test(tc, timers);
	tcase_add_test(tc, big_frames);
	suite_add_tcase(s, tc);
	return s;
}
