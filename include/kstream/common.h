/*
 * kstream/common.h: version, export macro, error codes, logging hook.
 *
 * If it is not declared in a header under include/kstream/, it is not an API.
 *
 * ABI rules: within one major version, a struct with an *_init function
 * (ks_log_config_t) only grows at its end, and callers always initialise it
 * through that function; every other public struct (records, headers, views,
 * iterators, infos, stats: passed in arrays or allocated by the caller)
 * keeps its size and layout. A function whose contract must change gets a
 * new name (_v2); an existing signature never changes.
 */
#ifndef KSTREAM_COMMON_H
#define KSTREAM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KS_VERSION_MAJOR 0
#define KS_VERSION_MINOR 2
#define KS_VERSION_PATCH 0
#define KS_VERSION_NUMBER \
	(KS_VERSION_MAJOR * 10000 + KS_VERSION_MINOR * 100 + KS_VERSION_PATCH)

#if defined(KS_BUILDING_LIBRARY) && defined(__GNUC__)
#define KS_API __attribute__((visibility("default")))
#else
#define KS_API
#endif

/*
 * Error codes. Every function that can fail returns int: 0 on success or a
 * negative code. System errors are passed through as -errno (for instance
 * -ENOSPC, -EIO); the library's own codes below lie outside errno's range.
 * KS_ERRNO_MAP is the single list: it generates the enum and ks_strerror().
 */
#define KS_ERRNO_MAP(XX)                                                      \
	XX(EINVAL, -20001, "invalid argument")                                \
	XX(ENOMEM, -20002, "out of memory")                                   \
	XX(ECORRUPT, -20003, "corrupt data")                                  \
	XX(EMAGIC, -20004, "unsupported record batch magic")                  \
	XX(ECRC, -20005, "record batch CRC mismatch")                         \
	XX(EMSGSIZE, -20006, "record batch larger than max.message.bytes")    \
	XX(EBATCH, -20007, "malformed record batch")                          \
	XX(ERECORD, -20008, "malformed record")                               \
	XX(EOFFSET, -20009, "offset out of range")                            \
	XX(ERDONLY, -20010, "log is open read-only")                          \
	XX(ELOCKED, -20011, "log is locked by another writer")                \
	XX(ECLOSED, -20012, "handle is closed")                               \
	XX(ETIMEDOUT, -20013, "timed out")                                    \
	XX(EBUSY, -20014, "resource busy")                                    \
	XX(ESEQUENCE, -20015, "batch offset does not follow the log end")     \
	XX(ECOMPRESSION, -20016, "compressed batch: codec not available")     \
	XX(EFATAL, -20017, "log failed earlier and must be reopened")         \
	XX(ECONFIG, -20018, "unknown or invalid configuration property")  \
	XX(ETOPIC, -20019, "unknown topic")                                   \
	XX(EPARTITION, -20020, "unknown partition")                           \
	XX(EEXIST, -20021, "already exists")                                  \
	XX(ENAME, -20022, "invalid name")                                     \
	XX(EGENERATION, -20023, "illegal generation")                         \
	XX(EMEMBER, -20024, "unknown member")                                 \
	XX(EREBALANCE, -20025, "rebalance in progress")                       \
	XX(ENOTASSIGNED, -20026, "partition not assigned to this consumer")   \
	XX(ENOOFFSET, -20027, "no committed offset to resume from")           \
	XX(EPROTOCOL, -20028, "inconsistent group protocol")                  \
	XX(ETHREAD, -20029, "handle used from two threads at once")          \
	XX(EBROKER, -20030, "the broker answered with an error")             \
	XX(EGROUP, -20031, "unknown group")

enum ks_error {
#define KS__ERR_ENUM(name, val, str) KS_##name = (val),
	KS_ERRNO_MAP(KS__ERR_ENUM)
#undef KS__ERR_ENUM
};

/*
 * ks_strerror: a static, never-NULL English description of an error code
 * returned by any kstream function, including -errno values.
 */
KS_API const char *ks_strerror(int err);

/* ks_errname: the code's symbolic name ("KS_ECRC", "ENOSPC"), static. */
KS_API const char *ks_errname(int err);

/* ks_version: KS_VERSION_NUMBER of the library actually linked. */
KS_API int ks_version(void);

/* ks_version_string: "MAJOR.MINOR.PATCH", static. */
KS_API const char *ks_version_string(void);

/* Log levels, as syslog's. */
enum ks_log_level {
	KS_LOG_ERR = 3,
	KS_LOG_WARNING = 4,
	KS_LOG_NOTICE = 5,
	KS_LOG_INFO = 6,
	KS_LOG_DEBUG = 7
};

/*
 * Logging hook. Called from whichever library thread has something to say;
 * the callback must be thread-safe and must not call back into the handle
 * that logged. msg is valid only during the call.
 */
typedef void ks_log_cb(void *opaque, int level, const char *msg);

/* ks_log_stderr: a ks_log_cb that prints WARNING and worse to stderr. */
KS_API void ks_log_stderr(void *opaque, int level, const char *msg);

#ifdef __cplusplus
}
#endif

#endif /* KSTREAM_COMMON_H */
