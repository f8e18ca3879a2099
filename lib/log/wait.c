/*
 * wait.c: waking readers when records arrive: ks_log_wait for a thread that
 * blocks, and watchers for those that wait elsewhere (an eventfd in an
 * event loop, a consumer waiting on many partitions).
 */
#include "core/internal.h"
#include "log/log_impl.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* A watcher list. Appenders walk it without a lock, so it is never changed:
 * (un)watch publishes a new one and keeps the old until the log goes. */
struct ks__watchers {
	struct ks__watchers *next_old;
	size_t n;
	struct {
		ks_log_wake_fn *fn;
		void *arg;
	} w[];
};

void ks__log_wait_init(ks_log_t *log)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&log->wait_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&log->wait_mu, NULL);
	pthread_mutex_init(&log->watch_mu, NULL);
}

void ks__log_wait_destroy(ks_log_t *log)
{
	struct ks__watchers *w = log->old_watchers, *n;
	for (; w; w = n) {
		n = w->next_old;
		free(w);
	}
	free(log->watchers);
	pthread_cond_destroy(&log->wait_cv);
	pthread_mutex_destroy(&log->wait_mu);
	pthread_mutex_destroy(&log->watch_mu);
}

void ks__log_wake(ks_log_t *log)
{
	struct ks__watchers *w;
	size_t i;

	/* Counted, so that ks_log_unwatch can wait for walks of the old
	 * list to end before it returns; the list is loaded again once
	 * counted. Without watchers (NULL), nothing to count. */
	if (__atomic_load_n(&log->watchers, __ATOMIC_RELAXED)) {
		__atomic_add_fetch(&log->waking, 1, __ATOMIC_SEQ_CST);
		w = __atomic_load_n(&log->watchers, __ATOMIC_SEQ_CST);
		for (i = 0; w && i < w->n; i++)
			w->w[i].fn(w->w[i].arg);
		__atomic_sub_fetch(&log->waking, 1, __ATOMIC_RELEASE);
	}
	/* The end was stored before this load (and a waiter counts itself
	 * before it loads the end): one of the two sees the other. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&log->waiters, __ATOMIC_RELAXED) > 0) {
		pthread_mutex_lock(&log->wait_mu);
		pthread_cond_broadcast(&log->wait_cv);
		pthread_mutex_unlock(&log->wait_mu);
	}
}

static void deadline_after(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

int ks_log_wait(ks_log_t *log, int64_t offset, int timeout_ms)
{
	struct timespec dl;
	int rc = 0;

	if (!log)
		return KS_EINVAL;
	if (__atomic_load_n(&log->closed, __ATOMIC_ACQUIRE))
		return KS_ECLOSED;
	if (ks_log_end_offset(log) > offset)
		return 0;
	if (timeout_ms == 0)
		return KS_ETIMEDOUT;
	if (timeout_ms > 0)
		deadline_after(&dl, timeout_ms);
	if (log->rdonly) {
		/* No signal crosses processes: look every millisecond. */
		for (;;) {
			struct timespec now;
			usleep(1000);
			if (ks_log_end_offset(log) > offset)
				return 0;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (timeout_ms > 0 && (now.tv_sec > dl.tv_sec ||
			                          (now.tv_sec == dl.tv_sec &&
			                              now.tv_nsec >= dl.tv_nsec)))
				return KS_ETIMEDOUT;
		}
	}
	__atomic_add_fetch(&log->waiters, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&log->wait_mu);
	while (ks__load64(&log->end) <= offset) {
		if (timeout_ms < 0)
			pthread_cond_wait(&log->wait_cv, &log->wait_mu);
		else if (pthread_cond_timedwait(&log->wait_cv, &log->wait_mu,
		             &dl) == ETIMEDOUT) {
			rc = ks__load64(&log->end) > offset ? 0 : KS_ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&log->wait_mu);
	__atomic_sub_fetch(&log->waiters, 1, __ATOMIC_SEQ_CST);
	return rc;
}

/* Publishes a copy of the list with (fn, arg) added or, if add is 0,
 * removed. */
static int rewatch(ks_log_t *log, ks_log_wake_fn *fn, void *arg, int add)
{
	struct ks__watchers *old, *w;
	size_t i, n = 0, found = 0;

	if (!log || !fn)
		return KS_EINVAL;
	pthread_mutex_lock(&log->watch_mu);
	old = log->watchers;
	w = malloc(sizeof *w + ((old ? old->n : 0) + 1) * sizeof w->w[0]);
	if (!w) {
		pthread_mutex_unlock(&log->watch_mu);
		return KS_ENOMEM;
	}
	for (i = 0; old && i < old->n; i++) {
		if (old->w[i].fn == fn && old->w[i].arg == arg) {
			found = 1;
			if (!add)
				continue;
		}
		w->w[n++] = old->w[i];
	}
	if (add && !found) {
		w->w[n].fn = fn;
		w->w[n++].arg = arg;
	}
	w->n = n;
	if (n == 0) {
		free(w);
		w = NULL;
	}
	__atomic_store_n(&log->watchers, w, __ATOMIC_SEQ_CST);
	if (old) {
		old->next_old = log->old_watchers;
		log->old_watchers = old;
	}
	pthread_mutex_unlock(&log->watch_mu);
	/* A grace period: once no appender is walking a list, none can be
	 * walking the old one, and fn is not called again for a removal. */
	while (!add && __atomic_load_n(&log->waking, __ATOMIC_SEQ_CST) > 0)
		sched_yield();
	return add || found ? 0 : KS_EINVAL;
}

int ks_log_watch(ks_log_t *log, ks_log_wake_fn *fn, void *arg)
{
	if (log && log->rdonly)
		return KS_ERDONLY; /* the writer is elsewhere: no calls */
	return rewatch(log, fn, arg, 1);
}

int ks_log_unwatch(ks_log_t *log, ks_log_wake_fn *fn, void *arg)
{
	return rewatch(log, fn, arg, 0);
}
