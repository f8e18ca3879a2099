/*
 * url.c: ks_url_parse, strict: "scheme://host:port" with an IPv6 host in
 * brackets, or "scheme:///absolute/path" (unix). Anything else, or a part
 * too long for ks_url_t, is KS_EINVAL; the scheme itself is not checked
 * against the registry here.
 */
#include "transport/transport_impl.h"

#include <stdio.h>
#include <string.h>

static int scheme_char(char c, int first)
{
	if (c >= 'a' && c <= 'z')
		return 1;
	if (first)
		return 0;
	return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

static int host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

static int ip6_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F') || c == ':' || c == '.' || c == '%' ||
	    /* a zone id after '%' may be an interface name */
	    (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z') || c == '_' ||
	    c == '-';
}

/* A decimal port of 1..5 digits, 0..65535, running to the end of s. */
static int parse_port(const char *s, int *port)
{
	long v = 0;
	size_t i;

	if (!*s || strlen(s) > 5)
		return KS_EINVAL;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return KS_EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (v > 65535)
		return KS_EINVAL;
	*port = (int)v;
	return 0;
}

KS_API int ks_url_parse(const char *s, ks_url_t *url)
{
	const char *p, *rest, *hs, *he, *ps;
	size_t n;

	if (!s || !url)
		return KS_EINVAL;
	memset(url, 0, sizeof *url);
	url->port = -1;
	p = strstr(s, "://");
	if (!p || p == s || (size_t)(p - s) >= sizeof url->scheme)
		return KS_EINVAL;
	for (n = 0; s + n < p; n++)
		if (!scheme_char(s[n], n == 0))
			return KS_EINVAL;
	memcpy(url->scheme, s, (size_t)(p - s));
	rest = p + 3;

	if (*rest == '/') {
		/* path form: scheme:///abs/path */
		n = strlen(rest);
		if (n < 2 || n >= sizeof url->path || rest[n - 1] == '/')
			return KS_EINVAL;
		memcpy(url->path, rest, n + 1);
		return 0;
	}
	if (strcmp(url->scheme, "unix") == 0)
		return KS_EINVAL;   /* unix needs an absolute path */

	if (*rest == '[') {
		hs = rest + 1;
		he = strchr(hs, ']');
		if (!he || he == hs || he[1] != ':')
			return KS_EINVAL;
		for (p = hs; p < he; p++)
			if (!ip6_char(*p))
				return KS_EINVAL;
		if (!memchr(hs, ':', (size_t)(he - hs)))
			return KS_EINVAL;   /* brackets are for IPv6 only */
		ps = he + 2;
	} else {
		hs = rest;
		he = strrchr(rest, ':');
		if (!he || he == hs)
			return KS_EINVAL;
		for (p = hs; p < he; p++)
			if (!host_char(*p))
				return KS_EINVAL;   /* includes a bare IPv6 ':' */
		ps = he + 1;
	}
	n = (size_t)(he - hs);
	if (n >= sizeof url->host)
		return KS_EINVAL;
	if (parse_port(ps, &url->port) != 0) {
		memset(url, 0, sizeof *url);
		return KS_EINVAL;
	}
	memcpy(url->host, hs, n);
	url->host[n] = '\0';
	return 0;
}

void ks__url_hostport(const ks_url_t *url, char *buf, size_t len)
{
	if (strchr(url->host, ':'))
		snprintf(buf, len, "[%s]:%d", url->host, url->port);
	else
		snprintf(buf, len, "%s:%d", url->host, url->port);
}
