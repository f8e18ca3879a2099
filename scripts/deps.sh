#!/bin/sh
# Installs kstream's missing build and test dependencies on Debian/Ubuntu
# (`deps.sh bench`: also the benchmarks' peers, among them a Redis server,
# which Debian starts as a service: only `make bench` asks for it).
# A package is installed only when it cannot be found; on other systems
# the list of what is missing is printed instead.
set -u
missing=""
need() { # need PKGCONFIG_MODULE DEBIAN_PACKAGE
	if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists "$1"; then
		missing="$missing $2"
	fi
}
need_cmd() { # need_cmd COMMAND DEBIAN_PACKAGE
	command -v "$1" >/dev/null 2>&1 || missing="$missing $2"
}
need_file() { # need_file PATH DEBIAN_PACKAGE
	[ -e "$1" ] || missing="$missing $2"
}
command -v pkg-config >/dev/null 2>&1 || missing="pkg-config"
need libevent libevent-dev
need openssl libssl-dev
need libxxhash libxxhash-dev
need check check
need zlib zlib1g-dev          # compression codecs
need liblz4 liblz4-dev
need libzstd libzstd-dev
need_file /usr/include/snappy-c.h libsnappy-dev
need raft libraft-dev          # replication: the controllers' Raft
need libuv libuv1-dev           # libraft's I/O
need rdkafka librdkafka-dev   # tests and benchmarks: the reference Kafka client
need_cmd kcat kcat            # tests: a real Kafka client on the command line
need_cmd openssl openssl      # tests: certificates for TLS
if [ "${1:-}" = bench ]; then
	need sqlite3 libsqlite3-dev   # bench_log
	need lmdb liblmdb-dev         # bench_log
	need libzmq libzmq3-dev       # bench_bus
	need_cmd redis-server redis-server # bench_kafka
fi
[ -z "$missing" ] && exit 0

echo "kstream: missing build dependencies:$missing"
if command -v apt-get >/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	if $sudo apt-get install -y -q $missing >/dev/null 2>&1 ||
	   { $sudo apt-get update -q >/dev/null 2>&1 &&
	     DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing; }; then
		echo "kstream: installed:$missing"
		exit 0
	fi
	echo "kstream: apt-get could not install them; install by hand:$missing" >&2
	exit 1
fi
echo "kstream: not a Debian system; install the equivalents of:$missing" >&2
exit 1
