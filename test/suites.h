/*
 * suites.h: every Check suite of the test runner, one line each.
 * A test file test/check_<concept>.c defines Suite *<concept>_suite(void).
 */
KS_SUITE(core)
KS_SUITE(crc32c)
KS_SUITE(varint)
KS_SUITE(batch)
KS_SUITE(index)
KS_SUITE(segment)
KS_SUITE(log)
KS_SUITE(retention)
KS_SUITE(recovery)
KS_SUITE(crash)
KS_SUITE(multiproc)
KS_SUITE(faults)
KS_SUITE(wait)
KS_SUITE(compact)
KS_SUITE(store)
KS_SUITE(coordinator)
KS_SUITE(assignor)
KS_SUITE(consumer_protocol)
KS_SUITE(client)
KS_SUITE(group)
KS_SUITE(group_crash)
KS_SUITE(bus)
KS_SUITE(compress)
/* The network layers (make WITH_NET=0 leaves them out). */
#ifdef KS_WITH_NET
KS_SUITE(transport)
KS_SUITE(kproto)
KS_SUITE(kserver)
KS_SUITE(kclient)
KS_SUITE(kcompat)
KS_SUITE(kmalformed)
#endif
