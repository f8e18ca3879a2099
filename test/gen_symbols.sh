#!/bin/sh
# Generates a program that takes the address of every function declared
# with KS_API in the given headers, and looks each one up by name in the
# shared library: linking fails if one is missing, and the lookup fails if
# one is not exported (hidden visibility, a static function).
echo '#include <kstream/kstream.h>'
echo '#include <dlfcn.h>'
echo '#include <stdio.h>'
echo 'typedef void (*fn_t)(void);'
echo 'static const struct { const char *name; fn_t fn; } syms[] = {'
grep -h '^KS_API' "$@" | sed -E 's/.*[ *]([a-z_0-9]+)\(.*/\1/' | sort -u |
	while read -r f; do echo "	{ \"$f\", (fn_t)$f },"; done
echo '};'
echo 'int main(int argc, char **argv) {'
echo '	size_t i, n = sizeof syms / sizeof syms[0];'
echo '	void *h = dlopen(argc > 1 ? argv[1] : "libkstream.so", RTLD_NOW | RTLD_LOCAL);'
printf '%s\n' '	if (!h) { printf("symbols: %s\n", dlerror()); return 1; }'
echo '	for (i = 0; i < n; i++) {'
echo '		void *p = dlsym(h, syms[i].name);'
printf '%s\n' '		if (!p || syms[i].fn == NULL) { printf("symbols: %s is not exported\n", syms[i].name); return 1; }'
echo '	}'
printf '%s\n' '	printf("symbols: all %zu public functions are exported\n", n);'
echo '	return 0;'
echo '}'
