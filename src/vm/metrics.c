/* GET /metrics (a Corral extension): counters read from the running board.
 * Hart counters are written by their hart thread with relaxed atomic
 * stores (hart_counter_add); they are read here with relaxed atomic loads
 * (monotonic, possibly a block old). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/vclock.h"
#include "cpu/riscv/hart.h"
#include "vm/vm.h"

static uint64_t rd(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static uint64_t host_rss_bytes(void)
{
    unsigned long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    return n == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* KSM's view of this process (Linux 6.1+: /proc/self/ksm_stat); NULL
 * when the kernel has no such file. */
static json_t *ksm_json(void)
{
    FILE *f = fopen("/proc/self/ksm_stat", "r");
    if (!f)
        return NULL;
    char key[64];
    long long v;
    long long merging = 0, zero = 0, profit = 0;
    while (fscanf(f, "%63s %lld", key, &v) == 2) {
        if (!strcmp(key, "ksm_merging_pages"))
            merging = v;
        else if (!strcmp(key, "ksm_zero_pages"))
            zero = v;
        else if (!strcmp(key, "ksm_process_profit"))
            profit = v;
    }
    fclose(f);
    return json_pack("{s:I, s:I, s:I}", "merging_pages", (json_int_t)merging, "zero_pages",
                     (json_int_t)zero, "process_profit_bytes", (json_int_t)profit);
}

json_t *vm_metrics_json(struct vm *vm)
{
    uint64_t total = 0, tlb_h = 0, tlb_m = 0, blk_h = 0, blk_m = 0, mmio = 0, uptime_ms = 0;
    json_t *per_hart = json_array();
    json_t *devices = json_object();
    pthread_mutex_lock(&vm->lock);
    enum vm_state state = vm->state;
    struct machine *m = vm->m;
    if (m) {
        for (unsigned i = 0; i < m->nharts; i++) {
            const struct hart *h = m->harts[i];
            uint64_t n = rd(&h->instret);
            total += n;
            json_array_append_new(per_hart, json_integer((json_int_t)n));
            tlb_h += rd(&h->stats.tlb_hits);
            tlb_m += rd(&h->stats.tlb_misses);
            blk_h += rd(&h->stats.block_hits);
            blk_m += rd(&h->stats.block_misses);
        }
        mmio = atomic_load_explicit(&m->bus.mmio_exits, memory_order_relaxed);
        /* Each device that counts (its metrics op), under its own name. */
        for (unsigned i = 0; i < m->ndevices; i++) {
            const struct machine_device *d = &m->devices[i];
            if (!d->ops->metrics)
                continue;
            struct machine_metrics mm = { .label = d->name };
            d->ops->metrics(d->dev, &mm);
            json_t *o = json_object();
            for (unsigned k = 0; k < mm.n; k++)
                json_object_set_new(o, mm.m[k].name, json_integer((json_int_t)mm.m[k].value));
            json_object_set_new(devices, mm.label, o);
        }
        uptime_ms = (uint64_t)(vclock_host_now_ns() - vm->started_ns) / 1000000;
    }
    unsigned resets = vm->resets;
    pthread_mutex_unlock(&vm->lock);

    uint64_t tx = atomic_load_explicit(&vm->con_tx_bytes, memory_order_relaxed);
    uint64_t rx = atomic_load_explicit(&vm->con_rx_bytes, memory_order_relaxed);
    uint64_t dropped = vm_console_dropped(vm);
    json_object_set_new(devices, "uart0",
                        json_pack("{s:I, s:I, s:I}", "tx_bytes", (json_int_t)tx, "rx_bytes",
                                  (json_int_t)rx, "dropped_bytes", (json_int_t)dropped));
    json_t *j = json_pack(
        "{s:s, s:I, s:I, s:{s:I, s:o}, s:{s:I, s:I}, s:{s:I, s:I}, s:I,"
        " s:o, s:I, s:I}",
        "state", vm_state_name(state),
        "uptime_ms", (json_int_t)uptime_ms,
        "resets", (json_int_t)resets,
        "instructions", "total", (json_int_t)total, "per_hart", per_hart,
        "tlb", "hits", (json_int_t)tlb_h, "misses", (json_int_t)tlb_m,
        "block_cache", "hits", (json_int_t)blk_h, "misses", (json_int_t)blk_m,
        "mmio_exits", (json_int_t)mmio,
        "devices", devices,
        "host_rss_bytes", (json_int_t)host_rss_bytes(),
        "console_dropped_bytes", (json_int_t)dropped);
    json_t *ksm = ksm_json();
    if (j && ksm)
        json_object_set_new(j, "ksm", ksm);
    else
        json_decref(ksm);
    return j;
}
