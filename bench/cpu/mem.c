/* memcpy/memset of our own: 8-byte words when both ends line up, bytes
 * otherwise.  Built with -fno-tree-loop-distribute-patterns so the compiler
 * does not turn these loops back into calls to themselves.  memcpy and
 * memset are also exported for the calls GCC emits for struct copies in
 * the freestanding build. */
#include "kernels.h"

void *bench_memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    if ((((uintptr_t)d ^ (uintptr_t)s) & 7) == 0) {
        while (n && ((uintptr_t)d & 7)) {
            *d++ = *s++;
            n--;
        }
        uint64_t *dw = (uint64_t *)d;
        const uint64_t *sw = (const uint64_t *)s;
        while (n >= 32) {
            uint64_t a = sw[0], b = sw[1], c = sw[2], e = sw[3];
            dw[0] = a;
            dw[1] = b;
            dw[2] = c;
            dw[3] = e;
            dw += 4;
            sw += 4;
            n -= 32;
        }
        while (n >= 8) {
            *dw++ = *sw++;
            n -= 8;
        }
        d = (unsigned char *)dw;
        s = (const unsigned char *)sw;
    }
    while (n--)
        *d++ = *s++;
    return dst;
}

void *bench_memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    uint64_t w = (unsigned char)c * 0x0101010101010101ull;

    while (n && ((uintptr_t)d & 7)) {
        *d++ = (unsigned char)c;
        n--;
    }
    uint64_t *dw = (uint64_t *)d;
    while (n >= 32) {
        dw[0] = w;
        dw[1] = w;
        dw[2] = w;
        dw[3] = w;
        dw += 4;
        n -= 32;
    }
    while (n >= 8) {
        *dw++ = w;
        n -= 8;
    }
    d = (unsigned char *)dw;
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

#ifdef BENCH_FREESTANDING
void *memcpy(void *dst, const void *src, size_t n)
{
    return bench_memcpy(dst, src, n);
}

void *memset(void *dst, int c, size_t n)
{
    return bench_memset(dst, c, n);
}
#endif
