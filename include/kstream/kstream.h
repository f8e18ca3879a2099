/*
 * kstream.h: the one header to include. See kstream(7).
 */
#ifndef KSTREAM_H
#define KSTREAM_H

#include <kstream/common.h>
#include <kstream/record.h>
#include <kstream/log.h>
#include <kstream/metrics.h>
#include <kstream/store.h>
#include <kstream/assignor.h>
#include <kstream/group.h>
#include <kstream/client.h>
#include <kstream/admin.h>
#include <kstream/transport.h>
#include <kstream/kafka.h>
#include <kstream/cluster.h>

#endif /* KSTREAM_H */
