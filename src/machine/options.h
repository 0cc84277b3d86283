/* Parsers for the device flags of `corral run` (and the API's drive and
 * network resources): fill the structs of machine/virt.h. They check
 * syntax only; whether a file or port is usable is checked by
 * machine_create. Strings in the result are heap copies owned by the
 * caller for the life of the process. `err` holds VIRT_ERR_LEN bytes and
 * gets one line on failure. Main thread. */
#ifndef CORRAL_MACHINE_OPTIONS_H
#define CORRAL_MACHINE_OPTIONS_H

#include "machine/virt.h"

/* PATH[,format=raw][,readonly][,serial=S][,bw=BYTES_PER_S][,iops=N]
 * (",," is a literal comma; bw and iops take K, M, G suffixes) */
int machine_parse_disk(const char *arg, struct machine_disk *out, char *err) WARN_UNUSED;
/* user[,hostfwd=tcp::2222-:22]...[,mac=52:54:00:12:34:56] | tap=NAME[,bridge=BR][,mac=...]
 * | vde=PATH[,mac=...] (or vde,path=PATH),
 * then [,rx_bw=B][,tx_bw=B][,rx_pps=N][,tx_pps=N] (per second; rx is
 * towards the guest) */
int machine_parse_net(const char *arg, struct machine_net *out, char *err) WARN_UNUSED;
/* cid=N,uds=PATH (N from 3; PATH the host's unix socket): *uds is a heap
 * copy the caller frees. */
int machine_parse_vsock(const char *arg, uint64_t *cid, char **uds, char *err) WARN_UNUSED;
/* Free what a successful parse allocated; the struct is zeroed. */
void machine_disk_release(struct machine_disk *d);
void machine_net_release(struct machine_net *n);

#endif
