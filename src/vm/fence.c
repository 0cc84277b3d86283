/* The heartbeat check of vm/fence.h. */
#include "vm/fence.h"

#include <sys/stat.h>
#include <time.h>

#define FENCE_CHECK_NS (200 * 1000000LL)

bool vm_fence_expired(struct vm_fence *f, int64_t now_ns, int *wait_ms)
{
    if (!f->path)
        return false;
    if (now_ns < f->next_check_ns) {
        int left = (int)((f->next_check_ns - now_ns) / 1000000) + 1;
        if (left < *wait_ms)
            *wait_ms = left;
        return false;
    }
    f->next_check_ns = now_ns + FENCE_CHECK_NS;
    if (*wait_ms > FENCE_CHECK_NS / 1000000)
        *wait_ms = FENCE_CHECK_NS / 1000000;
    struct stat st;
    if (stat(f->path, &st))
        return true;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t age_ms = (now.tv_sec - st.st_mtim.tv_sec) * 1000LL +
                     (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000;
    return age_ms > f->timeout_ms;
}
