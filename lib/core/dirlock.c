/*
 * dirlock.c: the directory a log or a store lives in, and the lock that
 * keeps out a second writer: flock on <dir>/.lock, which holds the
 * writer's pid so that the refused one can say who holds it.
 */
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int ks__dir_check(const char *dir, int create)
{
	struct stat st;
	if (create && mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (stat(dir, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int ks__dir_lock(const char *dir, const char *what, ks_log_cb *cb,
    void *opaque, int *fdp)
{
	char path[PATH_MAX], pid[32];
	ssize_t got;
	int fd, n, rc;

	*fdp = -1;
	if (snprintf(path, sizeof path, "%s/.lock", dir) >= (int)sizeof path)
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? KS_ELOCKED : -errno;
		got = pread(fd, pid, sizeof pid - 1, 0);
		pid[got > 0 ? got : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		ks__logf(cb, opaque, KS_LOG_ERR,
		    "%s: %s locked by another writer (pid %s)", dir, what,
		    *pid ? pid : "unknown");
		close(fd);
		return rc;
	}
	n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*fdp = fd;
	return 0;
}
