#!/bin/sh
# demo-broker.sh BROKER_BINARY [KSTREAM_TOOL]: kstream-broker, kcat and
# the kstream tool.
#
# Starts the broker on a scratch store and a free loopback port, with its
# metrics endpoint; produces a few lines with kcat (the topic is created on
# first use, as Kafka's auto.create.topics.enable does), reads them back,
# lists the metadata; then the kstream tool describes the topic, reads it
# as a consumer group, shows the group's lag and scrapes the broker's
# metrics; stops the broker with SIGTERM and checks the store it leaves.
# `make demo` runs it.
set -eu

broker=${1:?usage: demo-broker.sh BROKER_BINARY [KSTREAM_TOOL]}
tool=${2:-}
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
	--metrics http://127.0.0.1:0/metrics \
	--set num.partitions=1 >"$tmp/out" 2>"$tmp/err" &
pid=$!
# The broker prints "listening on tcp://127.0.0.1:PORT" once it listens.
i=0
until line=$(grep -m1 '^listening on ' "$tmp/out") &&
	metrics=$(grep -m1 '^metrics on ' "$tmp/out"); do
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

if [ -n "$tool" ]; then
	metrics=${metrics#metrics on }
	echo "== kstream topics describe greetings --broker $addr"
	"$tool" topics describe greetings --broker "$addr" | sed -n '1,4p;/^\*/p' | sed 's/^/  /'
	echo "== kstream consume greetings --group demo --count 2: a group reads two records and commits"
	"$tool" consume greetings --group demo --offset beginning --count 2 \
		-f '  %o: %s\n' --broker "$addr"
	echo "== kstream groups describe demo: committed offsets and lag"
	"$tool" groups describe demo --broker "$addr" | sed 's/^/  /'
	echo "== kstream stats --metrics $metrics --filter topic_records"
	"$tool" stats --metrics "$metrics" --filter topic_records | sed 's/^/  /'
fi

kill -TERM "$pid"
wait "$pid" && echo "== kstream-broker stopped cleanly on SIGTERM"
pid=

if [ -n "$tool" ]; then
	echo "== kstream check: the store the broker left"
	"$tool" check "$tmp/store" | sed 's/^/  /'
fi
