#!/bin/sh
# demo-broker.sh BROKER_BINARY: kstream-broker and kcat, a round trip.
#
# Starts the broker on a scratch store and a free loopback port, produces
# a few lines with kcat (the topic is created on first use, as Kafka's
# auto.create.topics.enable does), reads them back, lists the metadata,
# and stops the broker with SIGTERM. `make demo` runs it.
set -eu

broker=${1:?usage: demo-broker.sh BROKER_BINARY}
if ! command -v kcat >/dev/null 2>&1; then
	echo "demo-broker: kcat is not installed (apt-get install kcat)"
	exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kstream-demo.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"$broker" --dir "$tmp/store" --listen tcp://127.0.0.1:0 \
	--set num.partitions=1 >"$tmp/out" 2>"$tmp/err" &
pid=$!
# The broker prints "listening on tcp://127.0.0.1:PORT" once it listens.
i=0
until line=$(grep -m1 '^listening on ' "$tmp/out"); do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "demo-broker: the broker did not start:"; cat "$tmp/err"
		exit 1
	fi
	sleep 0.1
done
addr=${line#listening on tcp://}
echo "== kstream-broker: $line (store in $tmp/store)"

echo "== kcat -P -X acks=all: three lines into topic 'greetings'"
printf 'hello\nfrom kcat\nthrough kstream\n' |
	kcat -P -b "$addr" -t greetings -X acks=all

echo "== kcat -C -e -o beginning: read back"
kcat -C -b "$addr" -t greetings -e -o beginning -q -f '  offset %o: %s\n'

echo "== kcat -L: what the broker says about itself"
kcat -L -b "$addr" -t greetings | sed 's/^/  /'

kill -TERM "$pid"
wait "$pid" && echo "== kstream-broker stopped cleanly on SIGTERM"
pid=
