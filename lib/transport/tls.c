/*
 * tls.c: the "tls+tcp" transport, OpenSSL over tcp.c's sockets. One
 * SSL_CTX per listener (shared by its connections, which each hold a
 * reference) and one per dial. Peers may close without close_notify
 * (Kafka clients do): that is an EOF, not an error.
 */
#include "transport/transport_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__thread char ks__tls_error[256];

KS_API void ks_tls_config_init(ks_tls_config_t *tls, int server)
{
	if (!tls)
		return;
	memset(tls, 0, sizeof *tls);
	tls->verify_peer = server ? 0 : 1;
}

/* Keeps OpenSSL's reason for the caller (net.c logs it), and fails. */
static int tls_fail(const char *what, const char *file)
{
	char reason[160] = "";
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, reason, sizeof reason);
	ERR_clear_error();
	snprintf(ks__tls_error, sizeof ks__tls_error, "%s%s%s: %s", what,
	    file ? " " : "", file ? file : "", reason[0] ? reason : "failed");
	return KS_EINVAL;
}

static int load_cert_key(SSL_CTX *ctx, const ks_tls_config_t *tls)
{
	if (!tls->cert_file != !tls->key_file) {
		snprintf(ks__tls_error, sizeof ks__tls_error,
		    "cert_file and key_file go together");
		return KS_EINVAL;
	}
	if (!tls->cert_file)
		return 0;
	if (SSL_CTX_use_certificate_chain_file(ctx, tls->cert_file) != 1)
		return tls_fail("cannot load certificate", tls->cert_file);
	if (SSL_CTX_use_PrivateKey_file(ctx, tls->key_file,
	    SSL_FILETYPE_PEM) != 1)
		return tls_fail("cannot load key", tls->key_file);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return tls_fail("key does not match certificate",
		    tls->cert_file);
	return 0;
}

static int load_ca(SSL_CTX *ctx, const char *ca_file)
{
	if (ca_file) {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
			return tls_fail("cannot load CA file", ca_file);
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		return tls_fail("cannot load the system CA store", NULL);
	}
	return 0;
}

static SSL_CTX *new_ctx(int server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() :
	    TLS_client_method());

	if (ctx) {
		SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
		/* libevent may retry a write with a moved buffer */
		SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	}
	return ctx;
}

struct tls_listener {
	void *sl;           /* tcp.c's listener */
	SSL_CTX *ctx;
};

static struct bufferevent *tls_wrap(void *warg, struct event_base *base,
    int fd)
{
	SSL *ssl = SSL_new(warg);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static int tls_listen(const ks_url_t *url, const ks_tls_config_t *tls,
    struct event_base *base, ks_transport_accept_fn *accept, void *arg,
    void **lp)
{
	struct tls_listener *tl;
	int rc;

	*lp = NULL;
	if (!tls || !tls->cert_file || !tls->key_file) {
		snprintf(ks__tls_error, sizeof ks__tls_error,
		    "a tls+tcp listener needs cert_file and key_file");
		return KS_EINVAL;
	}
	tl = calloc(1, sizeof *tl);
	if (!tl)
		return KS_ENOMEM;
	tl->ctx = new_ctx(1);
	if (!tl->ctx) {
		free(tl);
		return tls_fail("SSL_CTX_new", NULL);
	}
	rc = load_cert_key(tl->ctx, tls);
	if (rc == 0 && tls->verify_peer) {
		rc = load_ca(tl->ctx, tls->ca_file);
		if (rc == 0 && tls->ca_file) {
			STACK_OF(X509_NAME) *names =
			    SSL_load_client_CA_file(tls->ca_file);
			if (names)
				SSL_CTX_set_client_CA_list(tl->ctx, names);
		}
		SSL_CTX_set_verify(tl->ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	if (rc == 0)
		rc = ks__sock_listen(url, 0, base, accept, arg, tls_wrap,
		    tl->ctx, &tl->sl);
	if (rc != 0) {
		SSL_CTX_free(tl->ctx);
		free(tl);
		return rc;
	}
	*lp = tl;
	return 0;
}

static int tls_bound(void *l, char *buf, size_t len)
{
	return ks__sock_bound(((struct tls_listener *)l)->sl, buf, len);
}

static void tls_close(void *l)
{
	struct tls_listener *tl = l;

	if (!tl)
		return;
	ks__sock_close(tl->sl);
	SSL_CTX_free(tl->ctx);   /* open connections keep their reference */
	free(tl);
}

static int is_ip(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1;
}

static int tls_dial(const ks_url_t *url, const ks_tls_config_t *tls,
    struct event_base *base, struct bufferevent **bevp)
{
	ks_tls_config_t dflt;
	struct sockaddr_storage ss;
	socklen_t slen;
	struct bufferevent *bev;
	const char *name;
	SSL_CTX *ctx;
	SSL *ssl;
	int rc;

	if (!tls) {
		ks_tls_config_init(&dflt, 0);
		tls = &dflt;
	}
	if (url->port <= 0)
		return KS_EINVAL;
	rc = ks__sock_resolve(url, 0, &ss, &slen);
	if (rc != 0)
		return rc;
	ctx = new_ctx(0);
	if (!ctx)
		return tls_fail("SSL_CTX_new", NULL);
	rc = load_cert_key(ctx, tls);
	if (rc == 0 && tls->verify_peer) {
		rc = load_ca(ctx, tls->ca_file);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	ssl = rc == 0 ? SSL_new(ctx) : NULL;
	SSL_CTX_free(ctx);       /* ssl holds its own reference */
	if (rc != 0)
		return rc;
	if (!ssl)
		return tls_fail("SSL_new", NULL);
	name = tls->server_name ? tls->server_name : url->host;
	if (!is_ip(name))
		SSL_set_tlsext_host_name(ssl, name);   /* SNI: names only */
	if (tls->verify_peer) {
		int ok = is_ip(name) ?
		    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) :
		    SSL_set1_host(ssl, name);
		if (ok != 1) {
			SSL_free(ssl);
			return tls_fail("bad server name", name);
		}
	}
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		return KS_ENOMEM;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	errno = 0;
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss,
	    (int)slen) != 0) {
		rc = errno ? -errno : -ECONNREFUSED;
		bufferevent_free(bev);
		return rc;
	}
	ks__sock_nodelay(bufferevent_getfd(bev));
	*bevp = bev;
	return 0;
}

const ks_transport_ops_t ks__transport_tls = {
	.scheme = "tls+tcp",
	.listen = tls_listen,
	.bound = tls_bound,
	.close = tls_close,
	.dial = tls_dial,
};
