/*
 * timer.c: one-shot timers on a ks_net loop (libevent's evtimer). Each is
 * kept on its net's list so that ks_net_free frees those still alive
 * without firing them.
 */
#include "transport/transport_impl.h"

#include <event2/event.h>
#include <stdlib.h>

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	ks_timer_t *t = arg;

	t->fn(t->arg);
}

KS_API int ks_timer_new(ks_net_t *net, void (*fn)(void *arg), void *arg,
    ks_timer_t **tp)
{
	ks_timer_t *t;

	if (tp)
		*tp = NULL;
	if (!net || !fn || !tp)
		return KS_EINVAL;
	t = calloc(1, sizeof *t);
	if (!t)
		return KS_ENOMEM;
	t->ev = evtimer_new(ks__net_base(net), timer_cb, t);
	if (!t->ev) {
		free(t);
		return KS_ENOMEM;
	}
	t->net = net;
	t->fn = fn;
	t->arg = arg;
	ks__net_timer_link(net, t);
	*tp = t;
	return 0;
}

KS_API void ks_timer_arm(ks_timer_t *t, int ms)
{
	struct timeval tv;

	if (!t)
		return;
	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(t->ev, &tv);
}

KS_API void ks_timer_cancel(ks_timer_t *t)
{
	if (t)
		evtimer_del(t->ev);
}

KS_API void ks_timer_free(ks_timer_t *t)
{
	if (!t)
		return;
	event_free(t->ev);
	ks__net_timer_unlink(t->net, t);
	free(t);
}
