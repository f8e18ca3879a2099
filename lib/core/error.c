/* error.c: error strings and names, the version, the default log hook. */
#include "core/internal.h"

#include <errno.h>
#include <stdio.h>

const char *ks_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
#define KS__ERR_STR(name, val, str) \
	case KS_##name:             \
		return str;
		KS_ERRNO_MAP(KS__ERR_STR)
#undef KS__ERR_STR
	}
	if (err < 0 && err > -4096) {
		const char *d = strerrordesc_np(-err); /* static, unlike strerror */
		if (d)
			return d;
	}
	return "unknown error";
}

const char *ks_errname(int err)
{
	switch (err) {
	case 0:
		return "OK";
#define KS__ERR_NAME(name, val, str) \
	case KS_##name:              \
		return "KS_" #name;
		KS_ERRNO_MAP(KS__ERR_NAME)
#undef KS__ERR_NAME
	}
	if (err < 0 && err > -4096) {
		const char *n = strerrorname_np(-err);
		if (n)
			return n;
	}
	return "UNKNOWN";
}

int ks_version(void)
{
	return KS_VERSION_NUMBER;
}

#define KS__STR2(x) #x
#define KS__STR(x) KS__STR2(x)
const char *ks_version_string(void)
{
	return KS__STR(KS_VERSION_MAJOR) "." KS__STR(KS_VERSION_MINOR) "." KS__STR(
	    KS_VERSION_PATCH);
}

void ks_log_stderr(void *opaque, int level, const char *msg)
{
	(void)opaque;
	if (level <= KS_LOG_WARNING)
		fprintf(stderr, "kstream: %s\n", msg);
}

void ks__logf(ks_log_cb *cb, void *opaque, int level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	if (!cb)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	cb(opaque, level, buf);
}
