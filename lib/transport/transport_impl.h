/*
 * transport_impl.h: what the files of lib/transport share. The built-in
 * transports (tcp.c, tls.c), the scheme registry (registry.c) and the
 * framed connections of ks_net (net.c, timer.c).
 */
#ifndef KS_TRANSPORT_IMPL_H
#define KS_TRANSPORT_IMPL_H

#include <kstream/transport.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

struct event;

/* The built-in ops tables, registered by registry.c. */
extern const ks_transport_ops_t ks__transport_tcp;
extern const ks_transport_ops_t ks__transport_unix;
extern const ks_transport_ops_t ks__transport_tls;

/*
 * tcp.c's listener, shared with tls.c: wrap (when set) turns an accepted
 * socket into a bufferevent (TLS), else a plain socket bufferevent is made.
 * Returns NULL on failure (the fd is then closed by the caller).
 */
typedef struct bufferevent *ks__wrap_fn(void *warg, struct event_base *base,
    int fd);
int ks__sock_listen(const ks_url_t *url, int unix_domain,
    struct event_base *base, ks_transport_accept_fn *accept, void *arg,
    ks__wrap_fn *wrap, void *warg, void **lp);
int ks__sock_bound(void *l, char *buf, size_t len);
void ks__sock_close(void *l);
/* The address to connect to for url (first getaddrinfo answer). */
int ks__sock_resolve(const ks_url_t *url, int passive,
    struct sockaddr_storage *ss, socklen_t *slen);
/* "1.2.3.4:5", "[::1]:5" or "unix" for an address. */
void ks__sock_name(const struct sockaddr *sa, char *buf, size_t len);
void ks__sock_nodelay(int fd);

/* tls.c: why the last TLS setup on this thread failed ("" if it did not),
 * for net.c to log: transports have no log of their own. */
extern __thread char ks__tls_error[256];

/* The transport's "host:port" text for url (brackets for IPv6). */
void ks__url_hostport(const ks_url_t *url, char *buf, size_t len);

/* CLOCK_MONOTONIC_COARSE in ms: cheap enough to read on every read. */
int64_t ks__net_now_ms(void);

/* net.c: timers live on the ks_net's list so ks_net_free can free them. */
struct event_base *ks__net_base(ks_net_t *net);
void ks__net_timer_link(ks_net_t *net, ks_timer_t *t);
void ks__net_timer_unlink(ks_net_t *net, ks_timer_t *t);
void ks__timer_free_all(ks_net_t *net);

/*
 * What a ks_net_t has counted since ks_net_new, for the server's metrics
 * (any thread; each figure read once, relaxed). Connections count once
 * open (accepted, or dialed and connected); bytes are those read from and
 * written to the transport (TLS: the plaintext).
 */
typedef struct ks__net_stats {
	uint64_t open;      /* open now: opened - closed */
	uint64_t opened;
	uint64_t accepted;  /* of them, accepted by a listener */
	uint64_t closed;
	uint64_t bytes_in, bytes_out;
} ks__net_stats_t;
void ks__net_stats(ks_net_t *net, ks__net_stats_t *st);

struct ks_timer {
	ks_net_t *net;
	struct event *ev;
	void (*fn)(void *arg);
	void *arg;
	struct ks_timer *prev, *next;
};

#endif /* KS_TRANSPORT_IMPL_H */
