/* The "coremark-like" kernel: our own code doing the four kinds of work
 * EEMBC's CoreMark mixes in each iteration, at about its sizes, because
 * CoreMark itself is in no package registry this project may use and we
 * write every line ourselves (so its figures are this kernel's, not
 * CoreMark scores):
 *  - a linked list of 64 small records: find by value, reverse, and a
 *    merge sort by value then back by index (pointer chasing, branches);
 *  - 16x16 matrices of int16: add and multiply by a constant, matrix by
 *    vector, matrix by matrix into int32, and a product of bit fields
 *    (multiply-accumulate loops);
 *  - a state machine that scans a buffer of number-like tokens
 *    ("1250", "-7.25", "3.5e-4", "0x1f", garbage) and counts the states it
 *    passes through (a switch on each byte: unpredictable branches);
 *  - a CRC-16 over every result, which also seeds the next iteration.
 * Integer only, so the host and the guest agree bit for bit. */
#include "kernels.h"

/* ---- CRC-16 (CCITT polynomial, bit by bit as CoreMark does it) ---- */

static uint16_t crc16_byte(uint8_t b, uint16_t crc)
{
    for (int i = 0; i < 8; i++) {
        uint16_t x = (uint16_t)((b ^ crc) & 1);
        b >>= 1;
        crc = (uint16_t)(x ? ((crc ^ 0x4002) >> 1) | 0x8000 : crc >> 1);
    }
    return crc;
}

static uint16_t crc16_u16(uint16_t v, uint16_t crc)
{
    crc = crc16_byte((uint8_t)v, crc);
    return crc16_byte((uint8_t)(v >> 8), crc);
}

static uint16_t crc16_u32(uint32_t v, uint16_t crc)
{
    crc = crc16_u16((uint16_t)v, crc);
    return crc16_u16((uint16_t)(v >> 16), crc);
}

/* ---- linked list ---- */

#define LIST_N 64

struct rec {
    struct rec *next;
    int16_t value;
    int16_t index;
};

static struct rec pool[LIST_N];

static struct rec *list_build(uint16_t seed)
{
    struct rec *head = 0;
    for (int i = LIST_N - 1; i >= 0; i--) {
        seed = (uint16_t)(seed * 25173u + 13849u);
        pool[i].value = (int16_t)(seed & 0x7fff) >> 4;
        pool[i].index = (int16_t)i;
        pool[i].next = head;
        head = &pool[i];
    }
    return head;
}

static struct rec *list_find(struct rec *l, int16_t value)
{
    while (l && l->value != value)
        l = l->next;
    return l;
}

static struct rec *list_reverse(struct rec *l)
{
    struct rec *out = 0;
    while (l) {
        struct rec *n = l->next;
        l->next = out;
        out = l;
        l = n;
    }
    return out;
}

static int by_value(const struct rec *a, const struct rec *b)
{
    return a->value != b->value ? a->value - b->value : a->index - b->index;
}

static int by_index(const struct rec *a, const struct rec *b)
{
    return a->index - b->index;
}

/* Bottom-up merge sort of a singly linked list (no recursion, no extra
 * memory), stable. */
static struct rec *list_sort(struct rec *l, int (*cmp)(const struct rec *, const struct rec *))
{
    for (unsigned width = 1;; width *= 2) {
        struct rec *p = l, *tail = 0;
        unsigned merges = 0;
        l = 0;
        while (p) {
            merges++;
            struct rec *q = p;
            unsigned psize = 0, qsize = width;
            while (psize < width && q) {
                psize++;
                q = q->next;
            }
            while (psize || (qsize && q)) {
                struct rec *e;
                if (!psize) {
                    e = q, q = q->next, qsize--;
                } else if (!qsize || !q || cmp(p, q) <= 0) {
                    e = p, p = p->next, psize--;
                } else {
                    e = q, q = q->next, qsize--;
                }
                if (tail)
                    tail->next = e;
                else
                    l = e;
                tail = e;
            }
            p = q;
        }
        tail->next = 0;
        if (merges <= 1)
            return l;
    }
}

static uint16_t list_work(struct rec **headp, uint16_t seed, uint16_t crc)
{
    struct rec *l = *headp;
    unsigned found = 0, missed = 0;
    for (int i = 0; i < 8; i++) {
        int16_t want = (int16_t)(((seed >> (i & 7)) + i * 97) & 0x7ff);
        struct rec *r = list_find(l, want);
        if (r) {
            found++;
            r->value = (int16_t)(r->value ^ 0x55);
        } else {
            missed++;
        }
        l = list_reverse(l);
    }
    l = list_sort(l, by_value);
    crc = crc16_u16((uint16_t)l->value, crc);
    for (struct rec *r = l; r; r = r->next)
        crc = crc16_u16((uint16_t)r->index, crc);
    l = list_sort(l, by_index);
    /* A slow drift keeps the list changing from one iteration to the next. */
    pool[seed % LIST_N].value = (int16_t)(pool[seed % LIST_N].value + (seed & 15) - 7);
    *headp = l;
    return crc16_u16((uint16_t)(found << 8 | missed), crc);
}

/* ---- matrices ---- */

#define MAT_N 16

static int16_t ma[MAT_N][MAT_N], mb[MAT_N][MAT_N];
static int32_t mc[MAT_N][MAT_N];
static int32_t vec[MAT_N];

static void mat_init(uint16_t seed)
{
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            seed = (uint16_t)(seed * 25173u + 13849u);
            ma[i][j] = (int16_t)((seed >> 4) & 0x3ff) - 0x1ff;
            mb[i][j] = (int16_t)((seed >> 2) & 0xff) - 0x7f;
        }
}

static uint16_t mat_sum(uint16_t crc)
{
    int32_t s = 0;
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++)
            s += mc[i][j] > 4096 ? 3 : mc[i][j] < -4096 ? -1 : 1;
    return crc16_u32((uint32_t)s, crc);
}

static uint16_t mat_work(int16_t k, uint16_t crc)
{
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++)
            ma[i][j] = (int16_t)(ma[i][j] + k);
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++)
            mc[i][j] = (int32_t)ma[i][j] * k;
    crc = mat_sum(crc);
    for (int i = 0; i < MAT_N; i++) {
        int32_t s = 0;
        for (int j = 0; j < MAT_N; j++)
            s += (int32_t)ma[i][j] * mb[j][i];
        vec[i] = s;
        crc = crc16_u32((uint32_t)s, crc);
    }
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            int32_t s = 0;
            for (int x = 0; x < MAT_N; x++)
                s += (int32_t)ma[i][x] * mb[x][j];
            mc[i][j] = s;
        }
    crc = mat_sum(crc);
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            int32_t s = 0;
            for (int x = 0; x < MAT_N; x++) {
                int32_t t = (int32_t)ma[i][x] * mb[x][j];
                s += ((t >> 2) & 0xf) * ((t >> 5) & 0x7f);
            }
            mc[i][j] = s;
        }
    crc = mat_sum(crc);
    /* Undo the add, so the values stay bounded over many iterations. */
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++)
            ma[i][j] = (int16_t)(ma[i][j] - k + (vec[i] & 1));
    return crc;
}

/* ---- state machine ---- */

#define TEXT_LEN 512

enum st { S_START, S_INT, S_FRAC, S_EXP, S_EXPSIGN, S_SCI, S_HEX0, S_HEX, S_SIGN, S_BAD, S_N };

static char text[TEXT_LEN];

static void text_init(uint16_t seed)
{
    static const char *const tok[] = { "1250", "-7.25", "3.5e-4", "0x1f", "+42", "9.",
                                       "1e+9", "-0", "x7", ".5", "0xfg", "65535" };
    unsigned n = 0;
    while (n + 8 < TEXT_LEN) {
        seed = (uint16_t)(seed * 25173u + 13849u);
        const char *t = tok[(seed >> 8) % (sizeof(tok) / sizeof(tok[0]))];
        while (*t && n + 1 < TEXT_LEN)
            text[n++] = *t++;
        text[n++] = ',';
    }
    while (n < TEXT_LEN)
        text[n++] = ',';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static uint16_t state_work(uint16_t seed, uint16_t crc)
{
    unsigned count[S_N] = { 0 }, finals[S_N] = { 0 };
    enum st s = S_START;
    for (unsigned i = 0; i < TEXT_LEN; i++) {
        char c = text[i];
        if (c == ',') {
            finals[s]++;
            s = S_START;
            continue;
        }
        switch (s) {
        case S_START:
            s = c == '0' ? S_HEX0 : is_digit(c) ? S_INT : (c == '+' || c == '-') ? S_SIGN
                : c == '.' ? S_FRAC : S_BAD;
            break;
        case S_SIGN:
            s = is_digit(c) ? S_INT : c == '.' ? S_FRAC : S_BAD;
            break;
        case S_HEX0:
            s = c == 'x' ? S_HEX : is_digit(c) ? S_INT : c == '.' ? S_FRAC : S_BAD;
            break;
        case S_HEX:
            s = is_digit(c) || (c >= 'a' && c <= 'f') ? S_HEX : S_BAD;
            break;
        case S_INT:
            s = is_digit(c) ? S_INT : c == '.' ? S_FRAC : (c == 'e' || c == 'E') ? S_EXP : S_BAD;
            break;
        case S_FRAC:
            s = is_digit(c) ? S_FRAC : (c == 'e' || c == 'E') ? S_EXP : S_BAD;
            break;
        case S_EXP:
            s = (c == '+' || c == '-') ? S_EXPSIGN : is_digit(c) ? S_SCI : S_BAD;
            break;
        case S_EXPSIGN:
        case S_SCI:
            s = is_digit(c) ? S_SCI : S_BAD;
            break;
        default:
            break;
        }
        count[s]++;
    }
    for (int k = 0; k < S_N; k++) {
        crc = crc16_u32(count[k], crc);
        crc = crc16_u32(finals[k], crc);
    }
    /* Corrupt a few bytes (and repair them on the next pass over them),
     * as CoreMark does, so the scan's branches do not settle. */
    for (unsigned i = seed % 7; i < TEXT_LEN; i += 61)
        if (text[i] != ',')
            text[i] = (char)(text[i] ^ 1);
    return crc;
}

uint64_t k_mixed(unsigned scale)
{
    uint16_t crc = 0, seed = 0x3415;
    struct rec *head = list_build(seed);
    mat_init(seed);
    text_init(seed);
    uint64_t h = 0;
    for (unsigned long it = 0; it < 2500ul * scale; it++) {
        crc = list_work(&head, seed, crc);
        crc = mat_work((int16_t)(crc & 0x7), crc);
        crc = state_work(seed, crc);
        seed = (uint16_t)(seed ^ crc);
        h = h * 31 + crc;
    }
    return h;
}
