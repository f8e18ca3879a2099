/*
 * kstream/transport.h: framed connections over pluggable byte transports.
 * See ks_net_new(3) and kstream-transport(7).
 *
 * Two levels:
 *
 *  - A transport is an ops table registered under a URL scheme (nng's
 *    model): "tcp" (tcp://host:port, IPv4 or IPv6 in brackets),
 *    "tls+tcp" (OpenSSL over TCP) and "unix" (unix:///path) are built in,
 *    and ks_transport_register() adds one's own. A transport's job is to
 *    turn a URL into libevent bufferevents: listening ones hand accepted
 *    connections to a callback, dialing ones connect to a peer.
 *
 *  - A ks_net_t is an event loop in a thread of its own that owns
 *    listeners and connections of any transport and speaks frames on
 *    them: a 4-byte big-endian length, then that many bytes (Kafka's
 *    framing). It enforces the limits in ks_net_config_t: frame size,
 *    connection count, idle and request timeouts, and the memory a
 *    connection may hold, reading no more from a peer that does not read
 *    its answers (backpressure).
 *
 * Threads: ks_net_new, ks_net_free, ks_net_listen, ks_net_dial,
 * ks_net_call and ks_listener_* may be called from any thread except the
 * loop's own (ks_net_call also from the loop). Everything else on a
 * ks_conn_t runs on the loop thread: inside a ks_frame_fn or
 * ks_conn_event_fn, or a function run by ks_net_call().
 *
 * Users of the server and client (kstream/kafka.h) need none of this
 * beyond ks_tls_config_t; it is here for transport writers and for
 * applications that speak their own framed protocol.
 */
#ifndef KSTREAM_TRANSPORT_H
#define KSTREAM_TRANSPORT_H

#include <kstream/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;   /* libevent's, for transport writers */
struct bufferevent;

/* ---- URLs ---------------------------------------------------------------- */

/*
 * A parsed URL: "scheme://host:port" (host may be a name, an IPv4 address
 * or an IPv6 address in brackets; port 0 asks for any free port when
 * listening) or "unix:///absolute/path".
 */
typedef struct ks_url {
	char scheme[32];
	char host[256];      /* without brackets */
	int port;            /* 0..65535; -1 for unix */
	char path[108];      /* unix: the socket's path */
} ks_url_t;

/* ks_url_parse: 0, or KS_EINVAL for anything malformed or too long. */
KS_API int ks_url_parse(const char *s, ks_url_t *url);

/* ---- TLS ---------------------------------------------------------------- */

/*
 * TLS settings for tls+tcp. Files are PEM. A server needs cert_file and
 * key_file; with verify_peer it requires a client certificate signed by
 * ca_file (mutual TLS). A client verifies the server's certificate
 * against ca_file (or the system's store when NULL) and its name against
 * server_name (NULL: the URL's host) unless verify_peer is 0, and
 * presents cert_file/key_file when given. Strings are copied.
 */
typedef struct ks_tls_config {
	const char *cert_file;
	const char *key_file;
	const char *ca_file;
	const char *server_name;
	int verify_peer;         /* client default 1, server default 0 */
} ks_tls_config_t;

KS_API void ks_tls_config_init(ks_tls_config_t *tls, int server);

/* ---- transports ---------------------------------------------------------- */

/* Hands an accepted connection to ks_net; peer is "host:port" or "unix". */
typedef void ks_transport_accept_fn(void *arg, struct bufferevent *bev,
    const char *peer);

/*
 * A transport. Every function runs on the loop thread of the ks_net_t
 * whose event_base it is given. Strings and the ks_tls_config_t are valid
 * only during the call (copy what you keep).
 */
typedef struct ks_transport_ops {
	const char *scheme;  /* "tcp"; static storage */

	/*
	 * listen: binds url and accepts on base, calling accept(arg, bev,
	 * peer) for each connection with a bufferevent the ks_net then owns
	 * (created with BEV_OPT_CLOSE_ON_FREE). *lp is the transport's
	 * listener. Errors: KS_EINVAL, -errno (-EADDRINUSE, ...).
	 */
	int (*listen)(const ks_url_t *url, const ks_tls_config_t *tls,
	    struct event_base *base, ks_transport_accept_fn *accept, void *arg,
	    void **lp);

	/* bound: the URL actually bound ("tcp://127.0.0.1:40123"). */
	int (*bound)(void *l, char *buf, size_t len);

	/* close: stops accepting and frees the listener. */
	void (*close)(void *l);

	/*
	 * dial: starts connecting to url and returns the bufferevent at once;
	 * ks_net waits for BEV_EVENT_CONNECTED (for TLS, the handshake done)
	 * or BEV_EVENT_ERROR.
	 */
	int (*dial)(const ks_url_t *url, const ks_tls_config_t *tls,
	    struct event_base *base, struct bufferevent **bevp);
} ks_transport_ops_t;

/*
 * ks_transport_register: adds ops (kept by pointer: static storage) under
 * ops->scheme for every ks_net_t. KS_EEXIST if the scheme is taken,
 * KS_EINVAL for a NULL member. Thread-safe.
 */
KS_API int ks_transport_register(const ks_transport_ops_t *ops);

/* ks_transport_find: the transport for a scheme, or NULL. */
KS_API const ks_transport_ops_t *ks_transport_find(const char *scheme);

/* ---- framed connections -------------------------------------------------- */

typedef struct ks_net ks_net_t;
typedef struct ks_listener ks_listener_t;
typedef struct ks_conn ks_conn_t;

typedef struct ks_net_config {
	size_t max_frame;          /* largest frame accepted (104857600, Kafka's
	                              socket.request.max.bytes); a larger one
	                              closes the connection */
	int max_connections;       /* accepted at once (10000); more are closed
	                              at once */
	int idle_timeout_ms;       /* no frame either way for this long closes
	                              (600000, connections.max.idle.ms; 0 off) */
	int request_timeout_ms;    /* a frame must arrive whole within this of
	                              its first byte (30000; 0 off) */
	size_t max_conn_buffer;    /* output bytes queued on a connection before
	                              it stops reading (4194304) */
	ks_log_cb *log_cb;         /* why a TLS handshake failed, refused
	                              connections, ... (ks_log_stderr) */
	void *log_opaque;
} ks_net_config_t;

KS_API void ks_net_config_init(ks_net_config_t *cfg);

/*
 * ks_net_new: an event loop and its thread. cfg may be NULL (defaults) and
 * is copied. To release, ks_net_free(): it closes every listener and
 * connection (each gets KS_CONN_CLOSED) and joins the thread.
 */
KS_API int ks_net_new(const ks_net_config_t *cfg, ks_net_t **netp);
KS_API void ks_net_free(ks_net_t *net);

/* Return values of a ks_frame_fn. */
#define KS_FRAME_NEXT 0  /* deliver the next frame when it is there */
#define KS_FRAME_HOLD 1  /* deliver nothing more until ks_conn_resume() */

/*
 * ks_frame_fn: one whole frame, without its length prefix; valid during
 * the call only. Frames of a connection come one at a time, in order:
 * a handler that answers later returns KS_FRAME_HOLD, and the next frame
 * waits until it calls ks_conn_resume(), so answers leave in order.
 */
typedef int ks_frame_fn(void *arg, ks_conn_t *conn, const void *frame,
    size_t len);

/* Events of a ks_conn_event_fn. */
#define KS_CONN_OPEN 1    /* accepted (listeners only) */
#define KS_CONN_CLOSED 2  /* gone: err says why (0: closed by us or at
                             ks_net_free; -ECONNRESET, KS_ETIMEDOUT,
                             KS_EMSGSIZE for an oversized frame, ...);
                             the conn is invalid after the callback */

typedef void ks_conn_event_fn(void *arg, ks_conn_t *conn, int event,
    int err);

/* The callbacks of a listener's connections or of a dialed one. */
typedef struct ks_conn_handler {
	ks_frame_fn *frame;
	ks_conn_event_fn *event;  /* may be NULL */
	void *arg;
} ks_conn_handler_t;

/*
 * ks_net_listen: listens on url ("tcp://0.0.0.0:9092", "tcp://[::1]:0",
 * "tls+tcp://...", "unix:///run/ks.sock"); tls is for tls+tcp only.
 * Accepted connections use h (copied). Errors: KS_EINVAL (bad URL,
 * unknown scheme, no TLS config for tls+tcp, unreadable certificate or
 * key), -errno from bind (-EADDRINUSE). To release, ks_listener_close()
 * or ks_net_free().
 */
KS_API int ks_net_listen(ks_net_t *net, const char *url,
    const ks_tls_config_t *tls, const ks_conn_handler_t *h,
    ks_listener_t **lp);

/* ks_listener_url: the URL bound, with the real port when 0 was asked. */
KS_API int ks_listener_url(ks_listener_t *l, char *buf, size_t len);

/* ks_listener_port: the port bound (-1 for unix). */
KS_API int ks_listener_port(ks_listener_t *l);

/* ks_listener_close: stops accepting; open connections stay. */
KS_API void ks_listener_close(ks_listener_t *l);

/*
 * ks_net_dial: connects to url (and completes the TLS handshake), waiting
 * up to timeout_ms. The connection uses h (copied); its frames arrive on
 * the loop thread. Errors: KS_EINVAL, KS_ETIMEDOUT, -ECONNREFUSED and
 * other -errno, -EPROTO for a failed TLS handshake or certificate check
 * (the reason goes to the log hook). To release, ks_conn_close() (on the
 * loop thread) or ks_net_free().
 */
KS_API int ks_net_dial(ks_net_t *net, const char *url,
    const ks_tls_config_t *tls, int timeout_ms, const ks_conn_handler_t *h,
    ks_conn_t **connp);

/*
 * ks_net_call: runs fn(arg) on the loop thread, soon; from any thread.
 * KS_ECLOSED once ks_net_free has begun (fn is then not called).
 */
KS_API int ks_net_call(ks_net_t *net, void (*fn)(void *arg), void *arg);

/* ---- on the loop thread ------------------------------------------------- */

/*
 * Timers on the loop: ks_timer_new makes one that calls fn(arg) on the
 * loop thread each time it fires; ks_timer_arm (re)arms it to fire once,
 * ms from now; ks_timer_cancel disarms it; ks_timer_free cancels and
 * frees it (NULL is a no-op). All four on the loop thread only. Timers
 * still alive at ks_net_free are freed without firing.
 */
typedef struct ks_timer ks_timer_t;
KS_API int ks_timer_new(ks_net_t *net, void (*fn)(void *arg), void *arg,
    ks_timer_t **tp);
KS_API void ks_timer_arm(ks_timer_t *t, int ms);
KS_API void ks_timer_cancel(ks_timer_t *t);
KS_API void ks_timer_free(ks_timer_t *t);

/*
 * ks_conn_send: queues len bytes (copied) for the peer. The caller writes
 * its own length prefixes (a frame may be sent in several pieces).
 * ks_conn_send_ref: queues bytes that stay where they are (a mapped
 * segment) until sent, then calls release(arg); release is called also
 * when the connection closes first, and on error.
 * Errors: KS_ECLOSED, KS_ENOMEM.
 */
KS_API int ks_conn_send(ks_conn_t *conn, const void *buf, size_t len);
KS_API int ks_conn_send_ref(ks_conn_t *conn, const void *buf, size_t len,
    void (*release)(void *arg), void *arg);

/* ks_conn_resume: delivers frames again after KS_FRAME_HOLD. */
KS_API void ks_conn_resume(ks_conn_t *conn);

/*
 * ks_conn_close: closes once queued bytes are sent (at most 1 s later);
 * KS_CONN_CLOSED follows with err 0.
 */
KS_API void ks_conn_close(ks_conn_t *conn);

/* The peer's address ("127.0.0.1:51234", "[::1]:5123", "unix"). */
KS_API const char *ks_conn_peer(const ks_conn_t *conn);

/* A pointer the user keeps with the connection (NULL at first). */
KS_API void ks_conn_set_data(ks_conn_t *conn, void *data);
KS_API void *ks_conn_data(const ks_conn_t *conn);

/* Bytes queued for the peer and not yet written. */
KS_API size_t ks_conn_pending(const ks_conn_t *conn);

/* The ks_net_t a connection belongs to. */
KS_API ks_net_t *ks_conn_net(const ks_conn_t *conn);

#ifdef __cplusplus
}
#endif

#endif /* KSTREAM_TRANSPORT_H */
