/* Basic types shared by every layer: distinct names for guest-physical,
 * guest-virtual and host sizes so signatures say which space they speak. */
#ifndef CORRAL_CORE_TYPES_H
#define CORRAL_CORE_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t gpa_t; /* guest-physical address */
typedef uint64_t gva_t; /* guest-virtual address */

#define WARN_UNUSED __attribute__((warn_unused_result))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
