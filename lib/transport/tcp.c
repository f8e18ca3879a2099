/*
 * tcp.c: the "tcp" and "unix" transports. They differ only in addressing:
 * both listen with an evconnlistener and hand out socket bufferevents.
 * tls.c reuses the listener with a wrap function that puts OpenSSL on
 * each accepted socket.
 */
#include "transport/transport_impl.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct sock_listener {
	struct evconnlistener *el;
	struct event *pause_ev;  /* re-enables accepting after EMFILE */
	ks_transport_accept_fn *accept;
	void *arg;
	ks__wrap_fn *wrap;
	void *warg;
	int unix_domain;
	char scheme[32];
	char path[108];        /* unix: removed at close */
};

void ks__sock_nodelay(int fd)
{
	int one = 1;

	/* Small answers must leave at once: Kafka is request/response. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void ks__sock_name(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(buf, len, "%s:%d", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(buf, len, "[%s]:%d", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "unix");
	}
}

int ks__sock_resolve(const ks_url_t *url, int passive,
    struct sockaddr_storage *ss, socklen_t *slen)
{
	struct addrinfo hints, *res = NULL;
	char port[12];
	int rc;

	if (!url->host[0] || url->port < 0)
		return KS_EINVAL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	snprintf(port, sizeof port, "%d", url->port);
	rc = getaddrinfo(url->host, port, &hints, &res);
	if (rc != 0 || !res) {
		if (res)
			freeaddrinfo(res);
		if (rc == EAI_SYSTEM)
			return errno ? -errno : KS_EINVAL;
		if (rc == EAI_NONAME || rc == EAI_AGAIN || rc == EAI_FAIL ||
		    rc == EAI_NODATA)
			return -EHOSTUNREACH;
		return KS_EINVAL;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*slen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int unix_addr(const ks_url_t *url, struct sockaddr_un *sun,
    socklen_t *slen)
{
	size_t n = strlen(url->path);

	if (n == 0 || url->path[0] != '/' || n >= sizeof sun->sun_path)
		return KS_EINVAL;
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, url->path, n + 1);
	*slen = (socklen_t)sizeof *sun;
	return 0;
}

/*
 * A socket file left by a process that died is removed; a live one (a
 * connect succeeds) or a file that is not a socket is -EADDRINUSE.
 */
static int unix_clear_stale(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc;

	if (lstat(sun->sun_path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EADDRINUSE;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	close(fd);
	if (rc == 0)
		return -EADDRINUSE;
	if (unlink(sun->sun_path) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static void accept_cb(struct evconnlistener *el, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct sock_listener *sl = arg;
	struct event_base *base = evconnlistener_get_base(el);
	struct bufferevent *bev;
	char peer[64];

	if (!sl->unix_domain)
		ks__sock_nodelay(fd);
	if (sl->wrap)
		bev = sl->wrap(sl->warg, base, fd);
	else
		bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		evutil_closesocket(fd);
		return;
	}
	if (sl->unix_domain || salen <= 0)
		snprintf(peer, sizeof peer, "unix");
	else
		ks__sock_name(sa, peer, sizeof peer);
	sl->accept(sl->arg, bev, peer);
}

/*
 * Out of descriptors (or memory), the listening socket stays readable and
 * libevent would retry at once, spinning: pause accepting for 100 ms.
 */
static void accept_error_cb(struct evconnlistener *el, void *arg)
{
	struct sock_listener *sl = arg;
	struct timeval tv = { 0, 100000 };
	int e = EVUTIL_SOCKET_ERROR();

	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
		evconnlistener_disable(el);
		evtimer_add(sl->pause_ev, &tv);
	}
}

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sock_listener *sl = arg;

	evconnlistener_enable(sl->el);
}

int ks__sock_listen(const ks_url_t *url, int unix_domain,
    struct event_base *base, ks_transport_accept_fn *accept, void *arg,
    ks__wrap_fn *wrap, void *warg, void **lp)
{
	struct sockaddr_storage ss;
	socklen_t slen = 0;
	struct sock_listener *sl;
	int fd, rc, one = 1;

	*lp = NULL;
	if (unix_domain) {
		rc = unix_addr(url, (struct sockaddr_un *)&ss, &slen);
		if (rc == 0)
			rc = unix_clear_stale((struct sockaddr_un *)&ss);
	} else {
		rc = ks__sock_resolve(url, 1, &ss, &slen);
	}
	if (rc != 0)
		return rc;
	sl = calloc(1, sizeof *sl);
	if (!sl)
		return KS_ENOMEM;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		rc = -errno;
		free(sl);
		return rc;
	}
	if (!unix_domain)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, slen) != 0 ||
	    listen(fd, 1024) != 0) {
		rc = -errno;
		close(fd);
		free(sl);
		return rc;
	}
	sl->accept = accept;
	sl->arg = arg;
	sl->wrap = wrap;
	sl->warg = warg;
	sl->unix_domain = unix_domain;
	snprintf(sl->scheme, sizeof sl->scheme, "%s", url->scheme);
	if (unix_domain)
		snprintf(sl->path, sizeof sl->path, "%s", url->path);
	sl->pause_ev = evtimer_new(base, accept_resume_cb, sl);
	sl->el = sl->pause_ev ? evconnlistener_new(base, accept_cb, sl,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd) : NULL;
	if (!sl->el) {
		if (sl->pause_ev)
			event_free(sl->pause_ev);
		close(fd);
		if (unix_domain)
			unlink(sl->path);
		free(sl);
		return KS_ENOMEM;
	}
	evconnlistener_set_error_cb(sl->el, accept_error_cb);
	*lp = sl;
	return 0;
}

int ks__sock_bound(void *l, char *buf, size_t len)
{
	struct sock_listener *sl = l;
	struct sockaddr_storage ss;
	socklen_t slen = sizeof ss;
	char hp[80];
	int n;

	if (sl->unix_domain) {
		n = snprintf(buf, len, "%s://%s", sl->scheme, sl->path);
	} else {
		if (getsockname(evconnlistener_get_fd(sl->el),
		    (struct sockaddr *)&ss, &slen) != 0)
			return -errno;
		ks__sock_name((struct sockaddr *)&ss, hp, sizeof hp);
		n = snprintf(buf, len, "%s://%s", sl->scheme, hp);
	}
	return n < 0 || (size_t)n >= len ? KS_EINVAL : 0;
}

void ks__sock_close(void *l)
{
	struct sock_listener *sl = l;

	if (!sl)
		return;
	evconnlistener_free(sl->el);
	event_free(sl->pause_ev);
	if (sl->unix_domain)
		unlink(sl->path);
	free(sl);
}

static int tcp_listen(const ks_url_t *url, const ks_tls_config_t *tls,
    struct event_base *base, ks_transport_accept_fn *accept, void *arg,
    void **lp)
{
	return ks__sock_listen(url, 0, base, accept, arg, NULL, NULL, lp);
}

static int unix_listen(const ks_url_t *url, const ks_tls_config_t *tls,
    struct event_base *base, ks_transport_accept_fn *accept, void *arg,
    void **lp)
{
	return ks__sock_listen(url, 1, base, accept, arg, NULL, NULL, lp);
}

/* Starts a non-blocking connect of a plain socket bufferevent. */
static int sock_dial(const struct sockaddr *sa, socklen_t slen, int tcp,
    struct event_base *base, struct bufferevent **bevp)
{
	struct bufferevent *bev;
	int rc;

	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		return KS_ENOMEM;
	errno = 0;
	if (bufferevent_socket_connect(bev, sa, (int)slen) != 0) {
		rc = errno ? -errno : -ECONNREFUSED;
		bufferevent_free(bev);
		return rc;
	}
	if (tcp)
		ks__sock_nodelay(bufferevent_getfd(bev));
	*bevp = bev;
	return 0;
}

static int tcp_dial(const ks_url_t *url, const ks_tls_config_t *tls,
    struct event_base *base, struct bufferevent **bevp)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	int rc;

	if (url->port <= 0)
		return KS_EINVAL;
	rc = ks__sock_resolve(url, 0, &ss, &slen);
	if (rc != 0)
		return rc;
	return sock_dial((struct sockaddr *)&ss, slen, 1, base, bevp);
}

static int unix_dial(const ks_url_t *url, const ks_tls_config_t *tls,
    struct event_base *base, struct bufferevent **bevp)
{
	struct sockaddr_un sun;
	socklen_t slen;
	int rc;

	rc = unix_addr(url, &sun, &slen);
	if (rc != 0)
		return rc;
	return sock_dial((struct sockaddr *)&sun, slen, 0, base, bevp);
}

const ks_transport_ops_t ks__transport_tcp = {
	.scheme = "tcp",
	.listen = tcp_listen,
	.bound = ks__sock_bound,
	.close = ks__sock_close,
	.dial = tcp_dial,
};

const ks_transport_ops_t ks__transport_unix = {
	.scheme = "unix",
	.listen = unix_listen,
	.bound = ks__sock_bound,
	.close = ks__sock_close,
	.dial = unix_dial,
};
