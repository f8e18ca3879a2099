/*
 * compact.h: what the log's open path needs from compaction (compact.c).
 *
 * A compaction replaces a sealed segment's three files by renames:
 * <base>.{index,timeindex,log}.cleaned (being written) -> .swap (complete,
 * the .log's rename is the commit point) -> the final names. A crash leaves
 * the old files or the new ones; ks__compact_finish() settles what it left.
 */
#ifndef KS_LOG_COMPACT_H
#define KS_LOG_COMPACT_H

#include <kstream/common.h>

#define KS__CLEANER_FILE "cleaner-offset"
#define KS__META_CLEANER 0x4b53434fu /* "KSCO" */

/*
 * For a writer opening dir, before it lists the segments: deletes every
 * *.cleaned file; completes each <base>.log.swap whose <base>.log still
 * exists (its .index.swap and .timeindex.swap first, the .log last) and
 * deletes it otherwise (the segment was deleted meanwhile); deletes index
 * .swap files without a .log.swap. Reports what it did through cb.
 * Returns 0 or -errno (a rename that failed: the log must not be opened
 * half swapped).
 */
int ks__compact_finish(const char *dir, ks_log_cb *cb, void *opaque);

#endif /* KS_LOG_COMPACT_H */
