/*
 * kstream.h: the one header to include. See kstream(7).
 */
#ifndef KSTREAM_H
#define KSTREAM_H

#include <kstream/common.h>
#include <kstream/record.h>
#include <kstream/log.h>

#endif /* KSTREAM_H */
