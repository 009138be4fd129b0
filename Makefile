# c4emu — build, run and test.  `make run` and `make test` install missing
# Debian packages first (tools/install-deps.sh), then build with pkg-config.
# V=1 shows commands.  `make asan` runs the tests under ASan+UBSan.

BUILD   ?= build
PKGS    := lua5.1 libuv libssl libcrypto libzip expat lua5.1-bitop lua5.1-cjson
# issue 14: lua-dkjson (the driver's `require "json"`, read at run time) and unzip have
# no pkg-config file: they are in tools/install-deps.sh only.
# issue 17: web console
PKGS    += libwebsockets
# issue 13: HTTP
PKGS    += libcurl
# issue 15: the console
PKGS    += readline
CC      ?= cc
OPT     ?= -O2
SAN     ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Wshadow -fPIC -MMD -MP -Iemulator -Ic4api \
           $(SAN) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS += $(SAN)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm

ifeq ($(V),1)
Q :=
else
Q := @
endif

CMDS    := $(wildcard emulator/emu_cmd_*.c)
FRONTS  := emulator/emu_main.c emulator/emu_module.c emulator/emu_specclient.c $(CMDS)
# issue 10: the Director's spec methods
MODULE_EXTRA := emulator/emu_module_director.c
# issue 9: the spec module's devices and spawn (emu_channel.c, the framing, is core: unit-tested)
MODULE_EXTRA += emulator/emu_device.c emulator/emu_devchan.c \
                emulator/emu_spawn.c
# issue 13: HTTP fake devices
MODULE_EXTRA += emulator/emu_httpdev.c
# issue 12: d:set_binding_address, d:net_connections, d:serial
MODULE_EXTRA += emulator/emu_netspec.c
# issue 11: proxies and bindings
MODULE_EXTRA += emulator/emu_module_proxy.c emulator/emu_module_project.c
# s3-apis-b: d:reflash_lock, d:reflash_lock_revoke
MODULE_EXTRA += emulator/emu_module_reflash.c
FRONTS  += $(MODULE_EXTRA)
# issue 15: the console, in the binary only
# issue 17: emu_pretty.c is core now (the web console's Lua tab prints with it)
CONSOLE := emulator/emu_console.c
FRONTS  += $(CONSOLE)
CORE    := $(filter-out $(FRONTS),$(wildcard emulator/*.c c4api/*.c c4api/*/*.c))
CORE_O  := $(CORE:%.c=$(BUILD)/obj/%.o)
UNIT    := $(wildcard spec/unit/*.c)
UNIT_O  := $(UNIT:%.c=$(BUILD)/obj/%.o)
DRIVERS := $(patsubst fixtures/drivers/%/,%,$(sort $(dir $(wildcard fixtures/drivers/*/driver.xml))))
C4ZS    := $(DRIVERS:%=$(BUILD)/fixtures/%.c4z)
DEPS    := $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/obj/*/*/*.d $(BUILD)/obj/*/*/*/*.d)

.PHONY: all deps run test asan unit spec bench clean fixtures certs install uninstall fuzz fuzz-build
all: $(BUILD)/c4emu $(BUILD)/c4emu.so $(BUILD)/pack-c4z fixtures certs

deps:
	$(Q)tools/install-deps.sh

# The two README commands: set-up first, then a fresh make that sees pkg-config.
run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(BUILD)/c4emu run fixtures/drivers/sample

test: deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/unit
	$(Q)$(MAKE) --no-print-directory fuzz-build
	$(Q)BUILD=$(BUILD) FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) tools/run-tests.sh

# GCC's -fsanitize=undefined leaves out float-cast-overflow (a NaN or 1e300
# cast to an integer), float-divide-by-zero and bounds-strict: added, since a
# driver's numbers reach C casts.
ASAN_SAN := -fsanitize=address,undefined,float-cast-overflow,float-divide-by-zero,bounds-strict \
            -fno-omit-frame-pointer -fno-sanitize-recover=all
asan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	  SAN="$(ASAN_SAN)" \
	  all build-asan/unit
	$(Q)BUILD=build-asan SANITIZE=1 tools/run-tests.sh

# issue 17: where an installed c4emu finds the web console's page (the build
# tree's emulator/web is found first; `make install` sets this to its prefix).
EMU_WEB_DIR ?= /usr/local/share/c4emu/web
$(BUILD)/obj/emulator/emu_web.o: CFLAGS += -DEMU_WEB_DIR='"$(EMU_WEB_DIR)"'

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/c4emu: $(CORE_O) $(BUILD)/obj/emulator/emu_main.o $(CMDS:%.c=$(BUILD)/obj/%.o) \
                $(CONSOLE:%.c=$(BUILD)/obj/%.o)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/c4emu.so: $(CORE_O) $(BUILD)/obj/emulator/emu_module.o $(BUILD)/obj/emulator/emu_specclient.o \
                   $(MODULE_EXTRA:%.c=$(BUILD)/obj/%.o)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/unit: $(CORE_O) $(UNIT_O)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

# issue 14: the zip writing is emulator/emu_zipwrite.c, shared with `c4emu pack`.
$(BUILD)/pack-c4z: tools/pack_c4z.c $(BUILD)/obj/emulator/emu_zipwrite.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

.SECONDEXPANSION:
# Fixture drivers are folders; their .c4z twins are packed at build time.
fixtures: $(C4ZS) $(BUILD)/fixtures/bad/.done
$(BUILD)/fixtures/%.c4z: $(BUILD)/pack-c4z $$(shell find fixtures/drivers/% -type f 2>/dev/null)
	@mkdir -p $(dir $@)
	$(Q)$(BUILD)/pack-c4z fixtures/drivers/$* $@

# Hostile packages (zip bombs, '..' entries) are generated, never committed.
$(BUILD)/fixtures/bad/.done: tools/make-bad-fixtures.sh $(BUILD)/pack-c4z $(wildcard fixtures/bad/*/*)
	$(Q)tools/make-bad-fixtures.sh $(BUILD)/fixtures/bad $(BUILD)/pack-c4z >/dev/null
	@touch $@

# Test certificates are made here, never committed.
certs: $(BUILD)/certs/.done
$(BUILD)/certs/.done: tools/gen-certs.sh
	$(Q)tools/gen-certs.sh $(BUILD)/certs >/dev/null
	@touch $@

# The CreateServer echo benchmark: a plain libuv echo server and the load client.
$(BUILD)/bench-uv-echo: tools/bench_uv_echo.c
$(BUILD)/bench-echo-client: tools/bench_echo_client.c
$(BUILD)/bench-lua-floor: tools/bench_lua_floor.c
$(BUILD)/bench-uv-echo $(BUILD)/bench-echo-client $(BUILD)/bench-lua-floor:
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(LDLIBS) -o $@

.PHONY: bench-echo
bench-echo: all $(BUILD)/bench-uv-echo $(BUILD)/bench-echo-client
	$(Q)BUILD=$(BUILD) tools/bench_echo.sh

# The same servers' instructions per message under callgrind (noise-free).
.PHONY: bench-instr
bench-instr: all $(BUILD)/bench-uv-echo $(BUILD)/bench-echo-client $(BUILD)/bench-lua-floor
	$(Q)BUILD=$(BUILD) tools/bench_instr.sh

# issue 15: watchdog and coverage overhead
.PHONY: bench-watchdog
bench-watchdog: all $(BUILD)/bench-echo-client
	$(Q)BUILD=$(BUILD) tools/bench_watchdog.sh

bench: all $(BUILD)/bench-uv-echo $(BUILD)/bench-echo-client
	$(Q)tools/bench.sh

# Installs the command, the Lua module where Debian's lua5.1 and busted look
# (PREFIX/lib/lua/5.1, PREFIX/share/lua/5.1: on their default paths for
# /usr/local), the busted helper (require "c4emu.busted") and the man page.
PREFIX  ?= /usr/local
DESTDIR ?=
WEBFILES  := $(notdir $(wildcard emulator/web/*))
INSTALLED := bin/c4emu lib/lua/5.1/c4emu.so share/lua/5.1/c4emu/busted.lua share/man/man1/c4emu.1 \
             $(WEBFILES:%=share/c4emu/web/%)

install: $(BUILD)/c4emu $(BUILD)/c4emu.so
	@$(if $(Q),echo "  INSTALL $(DESTDIR)$(PREFIX)")
	$(Q)install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/lua/5.1 \
	  $(DESTDIR)$(PREFIX)/share/lua/5.1/c4emu $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/c4emu/web
	$(Q)install -m 755 $(BUILD)/c4emu $(DESTDIR)$(PREFIX)/bin/c4emu
	$(Q)install -m 644 $(BUILD)/c4emu.so $(DESTDIR)$(PREFIX)/lib/lua/5.1/c4emu.so
	$(Q)install -m 644 emulator/c4emu/busted.lua $(DESTDIR)$(PREFIX)/share/lua/5.1/c4emu/busted.lua
	$(Q)install -m 644 emulator/c4emu.1 $(DESTDIR)$(PREFIX)/share/man/man1/c4emu.1
	$(Q)install -m 644 $(wildcard emulator/web/*) $(DESTDIR)$(PREFIX)/share/c4emu/web/

uninstall:
	@$(if $(Q),echo "  UNINSTALL $(DESTDIR)$(PREFIX)")
	$(Q)rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED))
	$(Q)rmdir $(DESTDIR)$(PREFIX)/share/lua/5.1/c4emu $(DESTDIR)$(PREFIX)/share/c4emu/web \
	  $(DESTDIR)$(PREFIX)/share/c4emu 2>/dev/null || true

# The README's API coverage table is generated from the version table.
.PHONY: readme-apis
readme-apis: $(BUILD)/c4emu
	$(Q)BUILD=$(BUILD) tools/update-readme-apis.sh

# issue 16: libFuzzer harnesses (fuzz/fuzz_*.c), built with clang under ASan +
# UBSan (float-cast-overflow included) into $(FUZZ_BUILD).  `make fuzz` runs
# each for FUZZ_SECONDS (default 60) from its committed seed corpus
# (fuzz/corpus/<name>, copied: the grown corpus stays in $(FUZZ_BUILD));
# `make test` runs each for TEST_FUZZ_SECONDS so a regression fails CI.
FUZZ_BUILD        ?= build-fuzz
FUZZERS           := framer xml package json matcher
FUZZ_SECONDS      ?= 60
TEST_FUZZ_SECONDS ?= 10
FUZZ_SAN := -fsanitize=fuzzer-no-link,address,undefined,float-cast-overflow,float-divide-by-zero \
            -fno-sanitize-recover=all -fno-omit-frame-pointer
fuzz-build: deps
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang OPT=-O1 SAN="$(FUZZ_SAN)" \
	  $(FUZZERS:%=$(FUZZ_BUILD)/fuzz-%)
fuzz: fuzz-build
	$(Q)FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) tools/run-fuzz.sh $(FUZZERS)
$(BUILD)/fuzz-%: fuzz/fuzz_%.c $(CORE_O)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CC) $(CFLAGS) -fsanitize=fuzzer $< $(CORE_O) $(LDLIBS) -o $@

clean:
	rm -rf build build-asan build-fuzz

-include $(DEPS)
