/*
 * crc32c.h: the CRC-32C implementations behind ks_crc32c(), exposed so the
 * tests can hold the hardware path against the portable one.
 */
#ifndef KS_CORE_CRC32C_H
#define KS_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The portable (slicing-by-8) path; same contract as ks_crc32c(). */
uint32_t ks__crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* 1 if ks_crc32c() runs on a CRC instruction on this CPU, else 0. */
int ks__crc32c_hw_available(void);

#endif /* KS_CORE_CRC32C_H */
