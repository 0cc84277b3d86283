/* Private to the privileged-architecture files (csr.c, trap.c, mmu.c) and
 * their tests: CSR numbers, field masks and the few helpers they share.
 * Hart thread only. */
#ifndef CORRAL_CPU_RISCV_CSR_H
#define CORRAL_CPU_RISCV_CSR_H

#include "cpu/riscv/hart.h"

/* CSR numbers (privileged spec, table "Currently allocated CSR addresses") */
#define CSR_FFLAGS 0x001
#define CSR_FRM 0x002
#define CSR_FCSR 0x003
#define CSR_SSTATUS 0x100
#define CSR_SIE 0x104
#define CSR_STVEC 0x105
#define CSR_SCOUNTEREN 0x106
#define CSR_SENVCFG 0x10A
#define CSR_SSCRATCH 0x140
#define CSR_SEPC 0x141
#define CSR_SCAUSE 0x142
#define CSR_STVAL 0x143
#define CSR_SIP 0x144
#define CSR_STIMECMP 0x14D
#define CSR_SATP 0x180
#define CSR_MSTATUS 0x300
#define CSR_MISA 0x301
#define CSR_MEDELEG 0x302
#define CSR_MIDELEG 0x303
#define CSR_MIE 0x304
#define CSR_MTVEC 0x305
#define CSR_MCOUNTEREN 0x306
#define CSR_MENVCFG 0x30A
#define CSR_MCOUNTINHIBIT 0x320
#define CSR_MHPMEVENT3 0x323
#define CSR_MHPMEVENT31 0x33F
#define CSR_MSCRATCH 0x340
#define CSR_MEPC 0x341
#define CSR_MCAUSE 0x342
#define CSR_MTVAL 0x343
#define CSR_MIP 0x344
#define CSR_PMPCFG0 0x3A0
#define CSR_PMPCFG15 0x3AF
#define CSR_PMPADDR0 0x3B0
#define CSR_PMPADDR63 0x3EF
#define CSR_TSELECT 0x7A0
#define CSR_TDATA1 0x7A1
#define CSR_TDATA2 0x7A2
#define CSR_TDATA3 0x7A3
#define CSR_TINFO 0x7A4
#define CSR_MCYCLE 0xB00
#define CSR_MINSTRET 0xB02
#define CSR_MHPMCOUNTER3 0xB03
#define CSR_MHPMCOUNTER31 0xB1F
#define CSR_CYCLE 0xC00
#define CSR_TIME 0xC01
#define CSR_INSTRET 0xC02
#define CSR_HPMCOUNTER3 0xC03
#define CSR_HPMCOUNTER31 0xC1F
#define CSR_MVENDORID 0xF11
#define CSR_MARCHID 0xF12
#define CSR_MIMPID 0xF13
#define CSR_MHARTID 0xF14
#define CSR_MCONFIGPTR 0xF15

/* mstatus fields writable through mstatus / sstatus, and sstatus' view */
#define MSTATUS_WRITABLE                                                       \
    (MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP |   \
     MSTATUS_MPP | MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR |     \
     MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR)
#define SSTATUS_WRITABLE                                                       \
    (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM |     \
     MSTATUS_MXR)
#define SSTATUS_VIEW                                                           \
    (SSTATUS_WRITABLE | MSTATUS_UBE | MSTATUS_VS | MSTATUS_XS | MSTATUS_UXL |  \
     MSTATUS_SD)
/* UXL = SXL = 2: XLEN 64 in every mode, not changeable. */
#define MSTATUS_XL64 ((2ULL << 32) | (2ULL << 34))

#define MIP_S_MASK (MIP_SSIP | MIP_STIP | MIP_SEIP)
#define MIP_ALL_MASK (MIP_S_MASK | MIP_MSIP | MIP_MTIP | MIP_MEIP)

/* Exceptions that may be delegated to S: everything defined but
 * ecall-from-M (11) and the reserved 10 and 14. */
#define MEDELEG_WRITABLE 0xB3FFULL

#define MENVCFG_FIOM (1ULL << 0)
#define MENVCFG_STCE (1ULL << 63)

#define SATP_MODE_SHIFT 60
#define SATP_MODE_BARE 0
#define SATP_MODE_SV39 8
#define SATP_MODE_SV48 9
#define SATP_MODE_SV57 10
#define SATP_ASID_MASK (0xFFFFULL << 44)
#define SATP_PPN_MASK ((1ULL << 44) - 1)

#define COUNTEREN_TM (1ULL << 1)

/* trap.c: mip as software sees it: device lines, software bits and the
 * two timer compares evaluated now. */
uint64_t hart_mip_read(struct hart *h);

#endif
