/* Saved state of one hart: section "hart", version 1 (the machine names
 * one per hart). Everything in the "architectural state" block of struct
 * hart, plus the two cross-thread fields (mip_hw, mtimecmp), as explicit
 * little-endian fields; the TLB, block cache and other host-side caches
 * are rebuilt, not saved. Hart stopped (parked or not started). */
#ifndef CORRAL_CPU_RISCV_HART_STATE_H
#define CORRAL_CPU_RISCV_HART_STATE_H

#include "core/types.h"

struct hart;
struct state_out;
struct state_in;

#define HART_STATE_VERSION 1

void hart_save_state(const struct hart *h, struct state_out *o);
/* Validates every field a guest could not have produced (privilege,
 * hart id, misa) and drops every cached translation and block. */
int hart_load_state(struct hart *h, struct state_in *in, uint32_t version) WARN_UNUSED;

#endif
