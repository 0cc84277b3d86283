/* The guest side of MMDS (net/mmds_http.c): any bytes as what a guest
 * sends on its connection to 169.254.169.254:80. The first byte picks the
 * version, imds_compat and how the rest is cut into segments (as TCP
 * would deliver it); answers are taken in random-sized bites, as the
 * guest's window allows. Nothing may crash, leak, or grow past the bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/mmds.h"

static struct mmds *store(void)
{
    static struct mmds *m;
    if (!m) {
        char err[256];
        m = mmds_new();
        json_t *d = json_loads("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\",\"l\":[1,"
                               "{\"a\":\"b\"}],\"n\":null,\"o\":{\"p\":\"q\"}},\"api\":{}}}",
                               0, NULL);
        if (!m || !d || mmds_put(m, d, err, sizeof(err)))
            abort();
        json_decref(d);
    }
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mmds *m = store();
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    mmds_configure(m, mode & 1 ? MMDS_V2 : MMDS_V1, MMDS_DEFAULT_IPV4, mode & 2);
    size_t seg = 1 + (mode >> 2) * 37;
    struct mmds_conn *c = malloc(sizeof(*c));
    if (!c)
        return 0;
    mmds_conn_init(c);
    for (size_t at = 1; at < size; at += seg) {
        size_t n = size - at < seg ? size - at : seg;
        mmds_conn_feed(c, m, data + at, n, at);
        if (c->out_len > MMDS_HTTP_MAX_OUT)
            abort();
        if (c->out_len && (at & 3))
            mmds_conn_consume(c, (c->out_len + 1) / 2);
        if (c->in_len > sizeof(c->in))
            abort();
    }
    mmds_conn_free(c);
    free(c);
    return 0;
}
