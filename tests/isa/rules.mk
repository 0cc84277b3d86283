# Bare-metal ISA test programs: tests/isa/*.S -> $(BUILD)/isa/*.elf
# Each program includes tests/isa/common.h; see tests/isa/README.md.
RV_CC := riscv64-unknown-elf-gcc
ISA_SRCS := $(sort $(wildcard tests/isa/*.S))
ISA_ELFS := $(ISA_SRCS:tests/isa/%.S=$(BUILD)/isa/%.elf)
ISA_CFLAGS := -march=rv64gc_zicsr_zifencei_zba_zbb_zbs -mabi=lp64d -nostdlib \
	-nostartfiles -static -mcmodel=medany -Wl,--no-warn-rwx-segments -Wa,--fatal-warnings -Itests/isa -T tests/isa/link.ld

$(BUILD)/isa/%.elf: tests/isa/%.S tests/isa/link.ld $(wildcard tests/isa/*.h) | deps
	@mkdir -p $(dir $@)
	$(RV_CC) $(ISA_CFLAGS) -o $@ $<

isa: $(ISA_ELFS)

# Runs every program on QEMU, the reference (needs qemu-system-riscv64).
isa-qemu: $(ISA_ELFS)
	@tests/isa/run-qemu.sh $(ISA_ELFS)

.PHONY: isa-qemu
