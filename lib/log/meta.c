/* meta.c: small checksummed records beside a log's segments. */
#include "log/meta.h"
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <xxhash.h>

#define KS__META_MAX 8

int ks__fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int ks__meta_write(const char *dir, const char *name, uint32_t magic,
    const int64_t *vals, size_t n, int durable)
{
	uint8_t buf[8 + 8 * KS__META_MAX + 8];
	char tmp[PATH_MAX], path[PATH_MAX];
	size_t i, len = 8 + 8 * n;
	int fd, rc = 0;

	if (n > KS__META_MAX)
		return KS_EINVAL;
	ks__put_be32(buf, magic);
	ks__put_be32(buf + 4, (uint32_t)n);
	for (i = 0; i < n; i++)
		ks__put_be64(buf + 8 + 8 * i, (uint64_t)vals[i]);
	ks__put_be64(buf + len, XXH64(buf, len, 0));
	len += 8;
	snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != (ssize_t)len)
		rc = errno ? -errno : -EIO;
	else if (durable && fdatasync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	return durable ? ks__fsync_dir(dir) : 0;
}

int ks__meta_read(const char *dir, const char *name, uint32_t magic,
    int64_t *vals, size_t n)
{
	uint8_t buf[8 + 8 * KS__META_MAX + 8 + 1];
	char path[PATH_MAX];
	size_t i, len = 8 + 8 * n;
	ssize_t got;
	int fd;

	if (n > KS__META_MAX)
		return KS_EINVAL;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	got = read(fd, buf, sizeof buf);
	close(fd);
	if (got != (ssize_t)(len + 8) || ks__be32(buf) != magic ||
	    ks__be32(buf + 4) != n || ks__be64(buf + len) != XXH64(buf, len, 0))
		return KS_ECORRUPT;
	for (i = 0; i < n; i++)
		vals[i] = (int64_t)ks__be64(buf + 8 + 8 * i);
	return 0;
}
