# c4emu — build, run and test.  `make run` and `make test` install missing
# Debian packages first (tools/install-deps.sh), then build with pkg-config.
# V=1 shows commands.  `make asan` runs the tests under ASan+UBSan.

BUILD   ?= build
PKGS    := lua5.1 libuv libssl libcrypto libzip expat lua5.1-bitop lua5.1-cjson
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

FRONTS  := emulator/emu_main.c emulator/emu_module.c emulator/emu_specclient.c \
           emulator/emu_console.c emulator/emu_pretty.c
CORE    := $(filter-out $(FRONTS),$(wildcard emulator/*.c c4api/*.c c4api/*/*.c))
CORE_O  := $(CORE:%.c=$(BUILD)/obj/%.o)
UNIT    := $(wildcard spec/unit/*.c)
UNIT_O  := $(UNIT:%.c=$(BUILD)/obj/%.o)
DRIVERS := $(patsubst fixtures/drivers/%/,%,$(sort $(dir $(wildcard fixtures/drivers/*/driver.xml))))
C4ZS    := $(DRIVERS:%=$(BUILD)/fixtures/%.c4z)
DEPS    := $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/obj/*/*/*.d $(BUILD)/obj/*/*/*/*.d)

.PHONY: all deps run test asan unit spec bench clean fixtures certs
all: $(BUILD)/c4emu $(BUILD)/c4emu.so $(BUILD)/pack-c4z fixtures certs

deps:
	$(Q)tools/install-deps.sh

# The two README commands: set-up first, then a fresh make that sees pkg-config.
run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(BUILD)/c4emu run fixtures/drivers/sample

test: deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/unit
	$(Q)BUILD=$(BUILD) tools/run-tests.sh

asan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  all build-asan/unit
	$(Q)BUILD=build-asan SANITIZE=1 tools/run-tests.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/c4emu: $(CORE_O) $(BUILD)/obj/emulator/emu_main.o $(BUILD)/obj/emulator/emu_console.o \
                $(BUILD)/obj/emulator/emu_pretty.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/c4emu.so: $(CORE_O) $(BUILD)/obj/emulator/emu_module.o $(BUILD)/obj/emulator/emu_specclient.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/unit: $(CORE_O) $(UNIT_O)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

$(BUILD)/pack-c4z: tools/pack_c4z.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(LDLIBS) -o $@

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
$(BUILD)/bench-uv-echo $(BUILD)/bench-echo-client:
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(LDLIBS) -o $@

.PHONY: bench-echo
bench-echo: all $(BUILD)/bench-uv-echo $(BUILD)/bench-echo-client
	$(Q)BUILD=$(BUILD) tools/bench_echo.sh

# issue 15: watchdog and coverage overhead
.PHONY: bench-watchdog
bench-watchdog: all $(BUILD)/bench-echo-client
	$(Q)BUILD=$(BUILD) tools/bench_watchdog.sh

bench: all $(BUILD)/bench-uv-echo $(BUILD)/bench-echo-client
	$(Q)tools/bench.sh

clean:
	rm -rf build build-asan

-include $(DEPS)
