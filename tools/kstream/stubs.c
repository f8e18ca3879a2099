/* stubs.c: placeholders while the subcommands are written (weak: a
 * subcommand's own file replaces its entry). Removed when all exist. */
#include "tool.h"

#define STUB(n)                                                              \
	__attribute__((weak)) int kst_##n(int argc, char **argv)             \
	{                                                                    \
		(void)argc;                                                  \
		(void)argv;                                                  \
		kst_err("not built yet");                                    \
		return KST_EXIT_FAIL;                                        \
	}
STUB(topics)
STUB(produce)
STUB(consume)
STUB(groups)
STUB(dump)
STUB(check)
STUB(stats)
