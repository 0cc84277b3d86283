#!/usr/bin/env bash
# Runs bare-metal ISA test ELFs on QEMU's virt machine (the reference for
# tests/isa): prints PASS/FAIL per program, exits non-zero if any failed.
# QEMU exits 0 on the finisher's pass and with the case number on failure.
set -u
failed=0
for elf in "$@"; do
    name=$(basename "$elf" .elf)
    # smpN_NAME programs need N harts.
    cpus=1
    [[ $name =~ ^smp([0-9])_ ]] && cpus=${BASH_REMATCH[1]}
    out=$(timeout 60 qemu-system-riscv64 -M virt -bios none -m 256M -smp "$cpus" -nographic \
        -monitor none -serial stdio -kernel "$elf" 2>&1)
    rc=$?
    if [ $rc -eq 0 ]; then
        printf '  PASS  %s\n' "$name"
    else
        failed=$((failed + 1))
        printf '  FAIL  %s (exit %d) %s\n' "$name" "$rc" "$(printf '%s' "$out" | tail -n 1)"
    fi
done
[ $failed -eq 0 ]
