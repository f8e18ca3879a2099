# kstream build. `make` builds libkstream.a and libkstream.so; see README.md.
#
#   make                  the libraries
#   make check            the Check suites, the symbols test and an install test
#   make check SANITIZE=1 the same under AddressSanitizer and UBSan
#   make check-threads    the threaded suites under ThreadSanitizer
#   make bench            the benchmark tables (bench/: log, event bus)
#   make demo             a short showcase
#   make install PREFIX=/usr/local DESTDIR=
#   make deps             install missing build dependencies (Debian/Ubuntu)
#   make fuzz             the batch and request decoders under libFuzzer (needs clang)

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
PCDIR   ?= $(LIBDIR)/pkgconfig
DESTDIR ?=

CC      ?= cc
HDR     := include/kstream/common.h
MAJOR   := $(shell sed -n 's/^\#define KS_VERSION_MAJOR \([0-9]*\)/\1/p' $(HDR))
MINOR   := $(shell sed -n 's/^\#define KS_VERSION_MINOR \([0-9]*\)/\1/p' $(HDR))
PATCH   := $(shell sed -n 's/^\#define KS_VERSION_PATCH \([0-9]*\)/\1/p' $(HDR))
VERSION := $(MAJOR).$(MINOR).$(PATCH)

ifeq ($(SANITIZE),1)
B        := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT      := -O1
else ifeq ($(SANITIZE),thread)
B        := build/tsan
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan
OPT      := -O1
else
B        := build/rel
SANFLAGS :=
OPT      := -O2
endif

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS   ?= $(OPT) -g
KSFLAGS   = -std=gnu11 $(WARN) -pthread -fPIC -fvisibility=hidden \
            -DKS_BUILDING_LIBRARY -Iinclude -Ilib $(SANFLAGS) $(KSFLAGS_OPT)
LDLIBS   := -lxxhash -lpthread
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)

# Optional parts (zstd's way): WITH_NET=0 leaves out lib/transport and
# lib/kafka (and libevent, OpenSSL); WITH_COMPRESSION=0 leaves out the
# codecs (zlib, snappy, lz4, zstd), and compressed batches then fail with
# KS_ECOMPRESSION.
WITH_NET         ?= 1
WITH_COMPRESSION ?= 1
LAYERS   := core log store group client admin
ifeq ($(WITH_COMPRESSION),1)
KSFLAGS_OPT += -DKS_WITH_COMPRESSION
LDLIBS   += -lz -lsnappy -llz4 -lzstd
endif
ifeq ($(WITH_NET),1)
LAYERS   += transport kafka replication
KSFLAGS_OPT += -DKS_WITH_NET
LDLIBS   += -levent_openssl -levent_pthreads -levent -lssl -lcrypto -lraft -luv
endif
# The tests and benchmarks of the network layer use librdkafka as the peer.
TEST_LIBS := $(if $(filter 1,$(WITH_NET)),-lrdkafka,)

LIB_SRC  := $(sort $(foreach l,$(LAYERS),$(wildcard lib/$(l)/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
STATIC   := $(B)/libkstream.a
SHARED   := $(B)/libkstream.so.$(VERSION)
SONAME   := libkstream.so.$(MAJOR)

NET_TESTS:= test/check_transport.c test/check_cluster.c test/check_rmeta.c test/check_controller.c test/check_replica.c $(wildcard test/check_k*.c)
TEST_SRC := $(sort $(filter-out $(if $(filter 1,$(WITH_NET)),,$(NET_TESTS)),$(wildcard test/check_*.c)))
# The headers whose functions this build exports (for the symbols test).
API_HDRS := $(filter-out $(if $(filter 1,$(WITH_NET)),,include/kstream/transport.h include/kstream/kafka.h include/kstream/cluster.h),$(wildcard include/kstream/*.h))
# test/kserver_util.c: the in-process server and raw client of the wire suites.
# test/cluster_util.c: the kstream-broker clusters of the cluster suite.
# test/kproto_util.c: the codec suites' hand-built bytes and round trips.
TEST_OBJ := $(TEST_SRC:%.c=$(B)/%.o) $(B)/test/main.o $(B)/test/util.o $(B)/test/proc.o \
            $(if $(filter 1,$(WITH_NET)),$(B)/test/kserver_util.o \
                $(B)/test/cluster_util.o $(B)/test/kproto_util.o)
BENCH_SRC:= $(sort $(wildcard bench/*.c))
EXAMPLES := $(filter-out $(if $(filter 1,$(WITH_NET)),,broker),$(patsubst examples/%.c,%,$(wildcard examples/*.c)))
# examples/broker.c is also the installed program kstream-broker.
BROKER   := $(if $(filter 1,$(WITH_NET)),$(if $(wildcard examples/broker.c),$(B)/kstream-broker))
# The kstream(1) tool: one file per subcommand, on the public API only.
TOOL_SRC := $(sort $(wildcard tools/kstream/*.c))
TOOL     := $(B)/kstream

.PHONY: deps-bench all lib check check-threads test bench demo install uninstall deps clean examples check-install fuzz

all: $(STATIC) $(SHARED) $(B)/libkstream.so $(BROKER) $(TOOL)

lib: all

$(B)/%.o: %.c $(wildcard include/kstream/*.h) $(wildcard lib/*/*.h) $(wildcard test/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(KSFLAGS) -MMD -c -o $@ $<

# The library asks for GNU extensions on the command line; tests and
# examples ask in their own sources, as a user's program would.
$(LIB_OBJ): KSFLAGS += -D_GNU_SOURCE

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	$(CC) $(CFLAGS) $(SANFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LDLIBS)

$(B)/libkstream.so: $(SHARED)
	ln -sf libkstream.so.$(VERSION) $(B)/$(SONAME)
	ln -sf $(SONAME) $@

# --- tests -------------------------------------------------------------------
$(B)/test/run: $(TEST_OBJ) $(STATIC)
	$(CC) $(CFLAGS) $(SANFLAGS) -pthread -o $@ $(TEST_OBJ) $(STATIC) $(LDLIBS) $(TEST_LIBS) $(CHECK_LIBS)

# The symbols test takes the address of every function the headers declare
# and links against the shared library: a missing export fails the link.
$(B)/test/symbols.c: $(wildcard include/kstream/*.h) test/gen_symbols.sh
	@mkdir -p $(dir $@)
	sh test/gen_symbols.sh $(API_HDRS) > $@

$(B)/test/symbols: $(B)/test/symbols.c $(B)/libkstream.so
	$(CC) $(CFLAGS) $(SANFLAGS) -Iinclude -o $@ $< -L$(B) -lkstream

check: deps all $(B)/test/run $(B)/test/symbols
	LD_LIBRARY_PATH=$(B) $(B)/test/symbols $(CURDIR)/$(B)/libkstream.so.$(MAJOR)
	sh test/check_manpages.sh
	cd $(B)/test && KS_TEST_TMP=$${TMPDIR:-/tmp} ./run
	$(MAKE) --no-print-directory check-install

test: check

# The suites whose threads share a log, under ThreadSanitizer.
check-threads:
	$(MAKE) --no-print-directory SANITIZE=thread all build/tsan/test/run
	cd build/tsan/test && TSAN_OPTIONS=halt_on_error=1 KS_TEST_TMP=$${TMPDIR:-/tmp} ./run log multiproc wait compact coordinator client group bus metrics transport kserver kclient kmetrics admin controller replica

# Install into a scratch DESTDIR and build every example against it through
# pkg-config, as a user would.
check-install: all
	@rm -rf $(B)/stage
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(B)/stage PREFIX=/usr >/dev/null
	@for ex in $(EXAMPLES); do \
	  PKG_CONFIG_SYSROOT_DIR=$(CURDIR)/$(B)/stage \
	  PKG_CONFIG_PATH=$(CURDIR)/$(B)/stage/usr/lib/pkgconfig \
	  sh -c '$(CC) -Wall -Wextra -o $(B)/stage/'$$ex' examples/'$$ex'.c $$(pkg-config --cflags --libs kstream)' \
	  || exit 1; echo "example $$ex: builds against the installed library"; done

# --- examples, demo, bench ---------------------------------------------------
$(B)/examples/%: examples/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANFLAGS) -std=gnu11 $(WARN) -pthread -Iinclude -o $@ $< $(STATIC) $(LDLIBS)

examples: $(EXAMPLES:%=$(B)/examples/%)

$(B)/kstream-broker: examples/broker.c $(STATIC)
	$(CC) $(CFLAGS) $(SANFLAGS) -std=gnu11 $(WARN) -pthread -Iinclude -o $@ $< $(STATIC) $(LDLIBS)

$(TOOL): $(TOOL_SRC) tools/kstream/tool.h $(STATIC)
	$(CC) $(CFLAGS) $(SANFLAGS) -std=gnu11 $(WARN) -pthread -Iinclude $(filter -DKS_WITH_NET,$(KSFLAGS_OPT)) -o $@ $(TOOL_SRC) $(STATIC) $(LDLIBS)

demo: deps $(B)/examples/demo $(BROKER) $(TOOL)
	$(B)/examples/demo
	$(if $(BROKER),sh scripts/demo-broker.sh $(BROKER) $(TOOL))

$(B)/bench/bench_log: bench/bench_log.c bench/harness.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O2 -std=gnu11 $(WARN) -pthread -Iinclude -Ilib -o $@ $< $(STATIC) $(LDLIBS) -lsqlite3 -llmdb

$(B)/bench/bench_bus: bench/bench_bus.c bench/harness.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O2 -std=gnu11 $(WARN) -pthread -Iinclude -o $@ $< $(STATIC) $(LDLIBS) -lzmq

$(B)/bench/bench_kafka: bench/bench_kafka.c bench/harness.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O2 -std=gnu11 $(WARN) -pthread -Iinclude -o $@ $< $(STATIC) $(LDLIBS) -lrdkafka

$(B)/bench/bench_cluster: bench/bench_cluster.c bench/harness.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O2 -std=gnu11 $(WARN) -pthread -Iinclude -o $@ $< $(STATIC) $(LDLIBS) -lrdkafka

$(B)/bench/bench_tool: bench/bench_tool.c bench/harness.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O2 -std=gnu11 $(WARN) -pthread -Iinclude -o $@ $< $(STATIC) $(LDLIBS)

bench: deps-bench $(BROKER) $(B)/bench/bench_log $(B)/bench/bench_bus $(if $(filter 1,$(WITH_NET)),$(B)/bench/bench_kafka $(TOOL) $(B)/bench/bench_tool $(B)/bench/bench_cluster)
	$(B)/bench/bench_log
	$(B)/bench/bench_bus
	$(if $(filter 1,$(WITH_NET)),$(B)/bench/bench_kafka)
	$(if $(filter 1,$(WITH_NET)),$(B)/bench/bench_tool)
	$(if $(filter 1,$(WITH_NET)),$(B)/bench/bench_cluster)

# --- fuzzing (clang's libFuzzer) ----------------------------------------------
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(LIB_SRC)
# The library goes into an archive of its own (instrumented for the fuzzer),
# so that a target links only the objects it uses.
FUZZ_FLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE -DKS_BUILDING_LIBRARY -Iinclude -Ilib
FUZZ_OBJ := $(FUZZ_SRC:%.c=build/fuzz/obj/%.o)
FUZZ_BIN := build/fuzz/fuzz_batch build/fuzz/fuzz_request

build/fuzz/obj/%.o: %.c
	@command -v clang >/dev/null || { echo "make fuzz needs clang (apt-get install clang)"; exit 1; }
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -c -o $@ $<

build/fuzz/libkstream.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BIN): build/fuzz/%: test/fuzz/%.c build/fuzz/libkstream.a
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< \
	    build/fuzz/libkstream.a $(LDLIBS)

fuzz: $(FUZZ_BIN)
	@mkdir -p build/fuzz/corpus build/fuzz/corpus_request
	build/fuzz/fuzz_batch -max_total_time=$(FUZZ_SECONDS) -max_len=65536 build/fuzz/corpus
	build/fuzz/fuzz_request -max_total_time=$(FUZZ_SECONDS) -max_len=65536 build/fuzz/corpus_request

# --- install -----------------------------------------------------------------
# kstream.pc is written at install time: it names this install's prefix.
install: all
	install -d $(DESTDIR)$(INCDIR)/kstream $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PCDIR) $(DESTDIR)$(PREFIX)/bin \
	           $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 644 include/kstream/*.h $(DESTDIR)$(INCDIR)/kstream/
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	$(if $(BROKER),install -m 755 $(BROKER) $(DESTDIR)$(PREFIX)/bin/)
	install -m 755 $(TOOL) $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf libkstream.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libkstream.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCDIR@|$(INCDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    pkgconfig/kstream.pc.in > $(DESTDIR)$(PCDIR)/kstream.pc
	install -m 644 man/man3/*.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 644 man/man7/*.7 $(DESTDIR)$(MANDIR)/man7/
	if [ -d man/man1 ]; then install -m 644 man/man1/*.1 $(DESTDIR)$(MANDIR)/man1/; fi

uninstall:
	rm -rf $(DESTDIR)$(INCDIR)/kstream
	rm -f $(DESTDIR)$(PREFIX)/bin/kstream-broker $(DESTDIR)$(PREFIX)/bin/kstream
	rm -f $(DESTDIR)$(LIBDIR)/libkstream.a $(DESTDIR)$(LIBDIR)/libkstream.so \
	      $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libkstream.so.$(VERSION) \
	      $(DESTDIR)$(PCDIR)/kstream.pc
	for f in man/man3/*.3; do rm -f $(DESTDIR)$(MANDIR)/man3/$$(basename $$f); done
	for f in man/man7/*.7; do rm -f $(DESTDIR)$(MANDIR)/man7/$$(basename $$f); done
	for f in man/man1/*.1; do [ -e "$$f" ] && rm -f $(DESTDIR)$(MANDIR)/man1/$$(basename $$f); done; true

# --- dependencies ------------------------------------------------------------
deps:
	@sh scripts/deps.sh

deps-bench:
	@sh scripts/deps.sh bench

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
