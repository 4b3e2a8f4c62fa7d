/* Shared helpers of the libFuzzer harnesses (fuzz_blob.c, fuzz_emb.c): little-endian access and a hard failure
 * that libFuzzer reports as a finding when a loader accepts what its contract says it must refuse. */
#ifndef REDGE_FUZZ_COMMON_H
#define REDGE_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static inline uint32_t fz_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void fz_put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

#define FZ_CHECK(cond, what) \
    do { if (!(cond)) { fprintf(stderr, "contract violated: %s\n", what); abort(); } } while (0)

#endif
