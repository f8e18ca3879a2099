/* index.c: the offset and time indexes of a segment. */
#include "log/index.h"
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int ks__index_open(ks__index_t *ix, const char *path, unsigned esz,
    int64_t base, size_t cap_bytes, int writable)
{
	struct stat st;
	size_t len;
	int rc;

	memset(ix, 0, sizeof *ix);
	ix->fd = -1;
	ix->esz = esz;
	ix->base = base;
	ix->fd = open(path, writable ? O_RDWR | O_CREAT | O_CLOEXEC :
	                               O_RDONLY | O_CLOEXEC, 0644);
	if (ix->fd < 0)
		return -errno;
	if (fstat(ix->fd, &st) < 0)
		goto fail;
	len = (size_t)st.st_size;
	ix->n = len / esz;
	if (writable) {
		cap_bytes -= cap_bytes % esz;
		if (cap_bytes < len)
			cap_bytes = len - len % esz;
		if (len < cap_bytes && (rc = posix_fallocate(ix->fd, 0,
		                            (off_t)cap_bytes)) != 0) {
			errno = rc;
			goto fail;
		}
		ix->cap = cap_bytes / esz;
		len = cap_bytes;
	}
	if (len == 0)
		return 0;
	ix->map = mmap(NULL, len, writable ? PROT_READ | PROT_WRITE : PROT_READ,
	    MAP_SHARED, ix->fd, 0);
	if (ix->map == MAP_FAILED) {
		ix->map = NULL;
		goto fail;
	}
	ix->map_len = len;
	return 0;
fail:
	rc = -errno;
	close(ix->fd);
	ix->fd = -1;
	return rc;
}

int ks__index_seal(ks__index_t *ix)
{
	ix->cap = 0;
	if (ix->fd >= 0 && ftruncate(ix->fd, (off_t)(ix->n * ix->esz)) < 0)
		return -errno;
	return 0;
}

void ks__index_close(ks__index_t *ix, int trim)
{
	if (trim && ix->fd >= 0 && ix->cap)
		(void)ks__index_seal(ix);
	if (ix->map)
		munmap(ix->map, ix->map_len);
	if (ix->fd >= 0)
		close(ix->fd);
	ix->map = NULL;
	ix->fd = -1;
}

int ks__index_sync(ks__index_t *ix)
{
	if (ix->fd >= 0 && fdatasync(ix->fd) < 0)
		return -errno;
	return 0;
}

static inline int64_t off_at(const ks__index_t *ix, size_t i)
{
	const uint8_t *e = ix->map + i * ix->esz;
	return ix->base + ks__be32(ix->esz == KS__OFFIDX_ENTRY ? e : e + 8);
}
static inline uint32_t pos_at(const ks__index_t *ix, size_t i)
{
	return ks__be32(ix->map + i * KS__OFFIDX_ENTRY + 4);
}
static inline int64_t ts_at(const ks__index_t *ix, size_t i)
{
	return (int64_t)ks__be64(ix->map + i * KS__TIMEIDX_ENTRY);
}

size_t ks__offidx_sanitize(ks__index_t *ix, size_t log_size)
{
	size_t i, n = ix->n;
	for (i = 0; i < n; i++) {
		if (pos_at(ix, i) == 0 || pos_at(ix, i) >= log_size)
			break;
		if (i > 0 && (off_at(ix, i) <= off_at(ix, i - 1) ||
		                 pos_at(ix, i) <= pos_at(ix, i - 1)))
			break;
	}
	ix->n = i;
	return n - i;
}

size_t ks__timeidx_sanitize(ks__index_t *ix, int64_t max_rel)
{
	size_t i, n = ix->n;
	for (i = 0; i < n; i++) {
		if (off_at(ix, i) - ix->base > max_rel)
			break;
		if (i > 0 && (ts_at(ix, i) <= ts_at(ix, i - 1) ||
		                 off_at(ix, i) < off_at(ix, i - 1)))
			break;
	}
	ix->n = i;
	return n - i;
}

int ks__offidx_append(ks__index_t *ix, int64_t offset, uint32_t pos)
{
	uint8_t *e;
	if (ix->n >= ix->cap)
		return -ENOSPC;
	e = ix->map + ix->n * KS__OFFIDX_ENTRY;
	ks__put_be32(e, (uint32_t)(offset - ix->base));
	ks__put_be32(e + 4, pos);
	__atomic_store_n(&ix->n, ix->n + 1, __ATOMIC_RELEASE);
	return 0;
}

int ks__timeidx_append(ks__index_t *ix, int64_t ts, int64_t offset)
{
	uint8_t *e;
	if (ix->n >= ix->cap)
		return -ENOSPC;
	e = ix->map + ix->n * KS__TIMEIDX_ENTRY;
	ks__put_be64(e, (uint64_t)ts);
	ks__put_be32(e + 8, (uint32_t)(offset - ix->base));
	__atomic_store_n(&ix->n, ix->n + 1, __ATOMIC_RELEASE);
	return 0;
}

void ks__index_truncate(ks__index_t *ix, int64_t offset)
{
	size_t n = ix->n;
	while (n > 0 && off_at(ix, n - 1) >= offset)
		n--;
	__atomic_store_n(&ix->n, n, __ATOMIC_RELEASE);
}

/* Index of the first entry whose key is above the target, by bisection. */
static size_t upper_offset(const ks__index_t *ix, int64_t offset)
{
	size_t lo = 0, hi = ks__index_count(ix);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (off_at(ix, mid) <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int ks__offidx_entry(const ks__index_t *ix, int64_t offset, int64_t *eoff,
    uint32_t *epos)
{
	size_t i = upper_offset(ix, offset);
	if (i == 0)
		return -1;
	*eoff = off_at(ix, i - 1);
	*epos = pos_at(ix, i - 1);
	return 0;
}

uint32_t ks__offidx_lookup(const ks__index_t *ix, int64_t offset)
{
	int64_t o;
	uint32_t p;
	return ks__offidx_entry(ix, offset, &o, &p) == 0 ? p : 0;
}

int ks__timeidx_entry(const ks__index_t *ix, int64_t ts, int64_t *ets,
    int64_t *eoff)
{
	size_t lo = 0, hi = ks__index_count(ix);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ts_at(ix, mid) < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -1;
	*ets = ts_at(ix, lo - 1);
	*eoff = off_at(ix, lo - 1);
	return 0;
}

int64_t ks__timeidx_lookup(const ks__index_t *ix, int64_t ts)
{
	int64_t t, o;
	return ks__timeidx_entry(ix, ts, &t, &o) == 0 ? o : -1;
}

int ks__timeidx_last(const ks__index_t *ix, int64_t *ts, int64_t *offset)
{
	size_t n = ks__index_count(ix);
	if (n == 0)
		return -1;
	*ts = ts_at(ix, n - 1);
	*offset = off_at(ix, n - 1);
	return 0;
}

int ks__offidx_last(const ks__index_t *ix, int64_t *offset, uint32_t *pos)
{
	size_t n = ks__index_count(ix);
	if (n == 0)
		return -1;
	*offset = off_at(ix, n - 1);
	*pos = pos_at(ix, n - 1);
	return 0;
}
