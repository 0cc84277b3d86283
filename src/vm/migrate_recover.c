/* Post-copy recovery handshake (migrate_recover.h). */
#include "vm/migrate_recover.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vm/migrate_pages.h"
#include "vm/migrate_stream.h"

void mig_resume_put(struct state_out *o, const uint8_t id[MIG_ID_LEN])
{
    state_begin(o, "pc-resume", 1, 0);
    state_put_u64(o, MIG_MAGIC);
    state_put_u32(o, MIG_VERSION);
    state_put_u64(o, MIG_F_RECOVER);
    state_put_bytes(o, id, MIG_ID_LEN);
    state_end(o);
}

int mig_resume_check(struct state_section *s, const uint8_t id[MIG_ID_LEN], char *why,
                     size_t whylen)
{
    if (strcmp(s->id, "pc-resume")) {
        snprintf(why, whylen, "expected a post-copy recovery (pc-resume), got '%.31s'", s->id);
        return -EINVAL;
    }
    uint64_t magic = state_get_u64(&s->body);
    uint32_t version = state_get_u32(&s->body);
    uint64_t features = state_get_u64(&s->body);
    uint8_t got[MIG_ID_LEN];
    state_get_bytes(&s->body, got, sizeof(got));
    if (state_in_status(&s->body) || magic != MIG_MAGIC) {
        snprintf(why, whylen, "not a Corral post-copy recovery");
        return -EINVAL;
    }
    if (version != MIG_VERSION || !(features & MIG_F_RECOVER) || (features & ~MIG_F_KNOWN)) {
        snprintf(why, whylen, "recovery with protocol version %u (features 0x%llx); this "
                 "Corral speaks version %u with features 0x%llx", version,
                 (unsigned long long)features, MIG_VERSION, (unsigned long long)MIG_F_KNOWN);
        return -EINVAL;
    }
    if (memcmp(got, id, MIG_ID_LEN)) {
        snprintf(why, whylen, "a recovery for another migration (its id differs)");
        return -EINVAL;
    }
    if (state_in_finish(&s->body)) {
        snprintf(why, whylen, "a malformed recovery frame");
        return -EINVAL;
    }
    return 0;
}

void mig_resume_ack_put(struct state_out *o, const uint8_t id[MIG_ID_LEN],
                        const uint64_t *missing, const uint64_t *wanted, size_t words)
{
    state_begin(o, "pc-resume-ack", 1, 0);
    state_put_bytes(o, id, MIG_ID_LEN);
    state_put_u32(o, (uint32_t)words);
    for (size_t w = 0; w < words; w++)
        state_put_u64(o, missing[w]);
    size_t count_at = o->len;
    state_put_u32(o, 0);
    uint32_t n = 0;
    for (size_t w = 0; w < words && n < MIG_RECOVER_URGENT_MAX; w++)
        for (uint64_t m = missing[w] & wanted[w]; m && n < MIG_RECOVER_URGENT_MAX; m &= m - 1) {
            state_put_u64(o, (uint64_t)w * 64 + (unsigned)__builtin_ctzll(m));
            n++;
        }
    for (unsigned i = 0; i < 4 && !o->err; i++)
        o->buf[count_at + i] = (uint8_t)(n >> (8 * i));
    state_end(o);
}

int mig_resume_ack_parse(struct state_in *in, const uint8_t id[MIG_ID_LEN], const uint64_t *map,
                         size_t words, uint64_t *missing, uint64_t *urgent, uint32_t *n,
                         char *why, size_t whylen)
{
    uint8_t got[MIG_ID_LEN];
    state_get_bytes(in, got, sizeof(got));
    uint32_t w = state_get_u32(in);
    if (state_in_status(in)) {
        snprintf(why, whylen, "a malformed recovery answer");
        return -EINVAL;
    }
    if (memcmp(got, id, MIG_ID_LEN)) {
        snprintf(why, whylen, "the peer answered for another migration (its id differs)");
        return -EINVAL;
    }
    if (w != words) {
        snprintf(why, whylen, "the peer's page map has %u words, this guest's RAM %zu", w, words);
        return -EINVAL;
    }
    for (size_t i = 0; i < words; i++) {
        missing[i] = state_get_u64(in);
        if (missing[i] & ~map[i]) {
            snprintf(why, whylen, "the peer lacks page %llu, which it had before post-copy",
                     (unsigned long long)(i * 64 + (unsigned)__builtin_ctzll(missing[i] & ~map[i])));
            return -EINVAL;
        }
    }
    uint32_t k = state_get_u32(in);
    if (state_in_status(in) || k > MIG_RECOVER_URGENT_MAX) {
        snprintf(why, whylen, "a malformed recovery answer (%u pages waited for)", k);
        return -EINVAL;
    }
    for (uint32_t i = 0; i < k; i++) {
        uint64_t p = state_get_u64(in);
        if (state_in_status(in) || p >= (uint64_t)words * 64 ||
            !((missing[p >> 6] >> (p & 63)) & 1)) {
            snprintf(why, whylen, "the peer waits for page %llu, which it does not lack",
                     (unsigned long long)p);
            return -EINVAL;
        }
        urgent[i] = p;
    }
    if (state_in_finish(in)) {
        snprintf(why, whylen, "a malformed recovery answer (bytes left over)");
        return -EINVAL;
    }
    *n = k;
    return 0;
}
