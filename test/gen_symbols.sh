#!/bin/sh
# Generates a program that takes the address of every function declared
# with KS_API in the given headers: linked against the shared library, it
# fails to link if any of them is not exported.
echo '#include <kstream/kstream.h>'
echo '#include <stdio.h>'
echo 'typedef void (*fn_t)(void);'
echo 'static const struct { const char *name; fn_t fn; } syms[] = {'
grep -h '^KS_API' "$@" | sed -E 's/.*[ *]([a-z_0-9]+)\(.*/\1/' | sort -u |
	while read -r f; do echo "	{ \"$f\", (fn_t)$f },"; done
echo '};'
echo 'int main(void) {'
echo '	size_t i, n = sizeof syms / sizeof syms[0];'
echo '	for (i = 0; i < n; i++) if (syms[i].fn == NULL) { printf("missing %s\n", syms[i].name); return 1; }'
echo '	printf("symbols: %zu public functions exported\n", n);'
echo '	return 0;'
echo '}'
