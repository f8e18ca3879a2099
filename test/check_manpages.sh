#!/bin/sh
# Every function declared with KS_API has a man page, and every page
# renders without warnings.
status=0
n=0
for f in $(grep -h '^KS_API' include/kstream/*.h |
	sed -E 's/.*[ *]([a-z_0-9]+)\(.*/\1/' | sort -u); do
	n=$((n + 1))
	if [ ! -f "man/man3/$f.3" ]; then
		echo "manpages: no page for $f"
		status=1
	fi
done
cd man || exit 1
if ! command -v man >/dev/null 2>&1; then
	echo "manpages: man(1) is not installed: pages not rendered (apt-get install man-db)"
	exit $status
fi
for p in man3/*.3 man7/*.7; do
	out=$(MANWIDTH=80 man --warnings -l -E UTF-8 "$p" 2>&1 >/dev/null)
	if [ -n "$out" ]; then
		echo "manpages: $p: $out"
		status=1
	fi
done
[ $status -eq 0 ] && echo "manpages: all $n public functions have a page; every page renders cleanly"
exit $status
