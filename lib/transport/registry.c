/*
 * registry.c: transports by URL scheme. The built-ins are registered once,
 * on first use; the table only grows (a transport is never removed, so a
 * pointer from ks_transport_find stays valid).
 */
#include "transport/transport_impl.h"

#include <pthread.h>
#include <string.h>

#define KS__MAX_TRANSPORTS 64

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static const ks_transport_ops_t *reg[KS__MAX_TRANSPORTS];
static int nreg;

static const ks_transport_ops_t *find_locked(const char *scheme)
{
	int i;

	for (i = 0; i < nreg; i++)
		if (strcmp(reg[i]->scheme, scheme) == 0)
			return reg[i];
	return NULL;
}

static int add(const ks_transport_ops_t *ops)
{
	int rc = 0;

	pthread_mutex_lock(&reg_mu);
	if (find_locked(ops->scheme))
		rc = KS_EEXIST;
	else if (nreg == KS__MAX_TRANSPORTS)
		rc = KS_ENOMEM;
	else
		reg[nreg++] = ops;
	pthread_mutex_unlock(&reg_mu);
	return rc;
}

static void builtins(void)
{
	add(&ks__transport_tcp);
	add(&ks__transport_tls);
	add(&ks__transport_unix);
}

KS_API int ks_transport_register(const ks_transport_ops_t *ops)
{
	ks_url_t u;
	char probe[64];
	size_t n;

	if (!ops || !ops->scheme || !ops->listen || !ops->bound ||
	    !ops->close || !ops->dial)
		return KS_EINVAL;
	/* The scheme must be one ks_url_parse accepts. */
	n = strlen(ops->scheme);
	if (n == 0 || n >= sizeof u.scheme)
		return KS_EINVAL;
	memcpy(probe, ops->scheme, n);
	memcpy(probe + n, ":///x", 6);
	if (ks_url_parse(probe, &u) != 0)
		return KS_EINVAL;
	pthread_once(&reg_once, builtins);
	return add(ops);
}

KS_API const ks_transport_ops_t *ks_transport_find(const char *scheme)
{
	const ks_transport_ops_t *ops;

	if (!scheme)
		return NULL;
	pthread_once(&reg_once, builtins);
	pthread_mutex_lock(&reg_mu);
	ops = find_locked(scheme);
	pthread_mutex_unlock(&reg_mu);
	return ops;
}
