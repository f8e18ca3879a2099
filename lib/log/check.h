/*
 * check.h: ks_log_check with the log configuration to repair with
 * (lib/log/check.c). The store checks each partition with its topic's
 * settings, so that the indexes a repair rebuilds are the ones the store's
 * writer would build (index.interval.bytes, segment.index.bytes).
 */
#ifndef KS_LOG_CHECK_H
#define KS_LOG_CHECK_H

#include <kstream/log.h>

/* As ks_log_check(); cfg (may be NULL: the defaults) is used only to open
 * the log for a repair. */
int ks__log_check(const char *dir, const ks_log_config_t *cfg, int flags,
    ks_check_cb *cb, void *opaque, ks_check_stat_t *st);

#endif
