# Corral — build, test, run. Every target that needs a package installs it
# first through scripts/deps.sh (idempotent, silent when all is there).

# Both cores by default (CI runs plain `make test`); -jN on the command
# line still wins.
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc)
endif

CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif
BUILD ?= build
# libfdt and libvdeplug ship no pkg-config file on Debian 12: linked by name below.
PKGS := slirp libzstd libxxhash jansson libmicrohttpd zlib libseccomp libcurl
OPT ?= -O2
CFLAGS_BASE := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	-Isrc -D_GNU_SOURCE -g $(OPT) -fno-strict-aliasing \
	-DCORRAL_SOURCE_DIR=\"$(CURDIR)\"
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS += $(CFLAGS_BASE) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS += $(PKG_LIBS) -lfdt -lvdeplug -lpthread -lm $(EXTRA_LDLIBS)

LIB_SRCS := $(filter-out src/cli/%,$(shell find src -name '*.c' | sort))
CLI_SRCS := $(shell find src/cli -name '*.c' 2>/dev/null | sort)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
# Host-side helpers of the tests and benchmarks (tests/tools).
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(wildcard tests/tools/*.c))

DEPS_STAMP := $(BUILD)/.deps-checked

.PHONY: all deps test unit tools isa guest-tests asan run bench guest clean clang fuzz fuzz-build tsan \
	install uninstall

all: $(BUILD)/corral

# Checked once per make invocation (and whenever the script changes).
deps:
	@scripts/deps.sh

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libcorral.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/corral: $(CLI_OBJS) $(BUILD)/libcorral.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BUILD)/libcorral.a | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libcorral.a $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)

$(BUILD)/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -o $@ $<
tools: $(TOOL_BINS)
# test_console builds the console and monitor sources in (the CLI is not
# in libcorral.a).
$(BUILD)/tests/unit/test_console: $(CLI_SRCS) $(wildcard src/cli/*.h)

# Bare-metal ISA test programs (tests/isa/Makefile.inc builds them).
include tests/isa/rules.mk

# Everything: unit tests, ISA programs, the QEMU pipeline check and the
# guest tests. Ends with "N passed, N failed[, N skipped]".
test: deps $(BUILD)/corral unit isa tools fuzz-build
	@BUILD=$(BUILD) FUZZ_BUILD=build-fuzz tests/run-all.sh

# Unit tests, the ISA programs and the guest tests that drive device code
# (hostile guests, virtio) under AddressSanitizer + UBSan.
ASAN_GUEST_TESTS ?= hostile_mmio hostile_files virtio_* console_flood api_limits
asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
		EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		EXTRA_LDLIBS="-fsanitize=address,undefined" build-asan/corral unit isa
	@BUILD=build-asan CORRAL_SUITES="unit isa guest" CORRAL_GUEST_ONLY="$(ASAN_GUEST_TESTS)" \
		tests/run-all.sh

# libFuzzer targets: every tests/fuzz/fuzz_*.c, linked against a clang +
# ASan + UBSan build of the library (build-fuzz/libcorral.a). `make fuzz`
# runs each for FUZZ_SECONDS from tests/fuzz/corpus/NAME/ (make test runs
# them as the "fuzz" suite).
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/fuzz/%)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SECONDS ?= 5
fuzz-build: deps
	@$(MAKE) --no-print-directory CC=clang BUILD=build-fuzz OPT=-O1 \
		EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN) -DCORRAL_FUZZ" \
		EXTRA_LDLIBS="$(FUZZ_SAN)" build-fuzz/libcorral.a $(FUZZ_BINS)

build-fuzz/fuzz/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(wildcard tests/unit/virtio_driver.h) \
		build-fuzz/libcorral.a
	@mkdir -p $(dir $@)
	clang $(CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -Itests/fuzz -o $@ $< \
		build-fuzz/libcorral.a $(LDLIBS)

fuzz: fuzz-build
	@FUZZ_BUILD=build-fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) CORRAL_SUITES=fuzz tests/run-all.sh

# ThreadSanitizer build; guest-RAM accessors are racy by the guest's own
# design and suppressed (tests/tsan.supp). TSAN_GUEST_TESTS run under it
# (virtio_blk: harts hand disk requests to the workers themselves).
TSAN_GUEST_TESTS ?= console_flood api_limits cli_test_mode hostile_files virtio_blk
tsan: deps
	@$(MAKE) --no-print-directory CC=clang BUILD=build-tsan OPT=-O1 \
		EXTRA_CFLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
		EXTRA_LDLIBS="-fsanitize=thread" build-tsan/corral
	@TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=1 exitcode=66" \
		BUILD=build-tsan CORRAL_SUITES=guest CORRAL_GUEST_ONLY="$(TSAN_GUEST_TESTS)" \
		tests/run-all.sh

clang: deps
	@$(MAKE) --no-print-directory CC=clang BUILD=build-clang build-clang/corral unit

guest: deps
	@scripts/guest.sh

# The first run fetches and builds the guest, with progress on stderr.
run: deps $(BUILD)/corral
	@scripts/guest.sh --progress
	@$(BUILD)/corral up

# The binary, its man page and bash completion under $(DESTDIR)$(PREFIX).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
install: $(BUILD)/corral
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(BASHCOMPDIR)"
	install -m 0755 $(BUILD)/corral "$(DESTDIR)$(BINDIR)/corral"
	install -m 0644 docs/corral.1 "$(DESTDIR)$(MANDIR)/man1/corral.1"
	install -m 0644 scripts/corral.bash-completion "$(DESTDIR)$(BASHCOMPDIR)/corral"

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/corral" "$(DESTDIR)$(MANDIR)/man1/corral.1" \
		"$(DESTDIR)$(BASHCOMPDIR)/corral"

bench: deps $(BUILD)/corral isa
	@BUILD=$(BUILD) bench/run-all.sh

clean:
	rm -rf build build-asan build-clang build-fuzz build-tsan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
