/* Shared by the fuzz targets: recompute the checksum of every section in
 * a buffer so mutations inside payloads reach the field decoders instead
 * of stopping at the checksum check. */
#ifndef CORRAL_FUZZ_RESEAL_H
#define CORRAL_FUZZ_RESEAL_H

#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

static void fuzz_reseal(uint8_t *p, size_t len, size_t off)
{
    while (off < len) {
        size_t start = off;
        if (len - off < 1)
            return;
        size_t idlen = p[off];
        if (idlen == 0 || idlen > 31 || len - off < 1 + idlen + 16)
            return;
        off += 1 + idlen + 8;
        uint64_t plen = 0;
        for (int i = 0; i < 8; i++)
            plen |= (uint64_t)p[off + i] << (8 * i);
        off += 8;
        if (plen > len - off || len - off - plen < 8)
            return;
        off += plen;
        uint64_t sum = XXH64(p + start, off - start, 0);
        for (int i = 0; i < 8; i++)
            p[off + i] = (uint8_t)(sum >> (8 * i));
        off += 8;
    }
}


#endif
