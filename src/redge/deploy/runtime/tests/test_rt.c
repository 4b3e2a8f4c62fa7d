/* C test driver for the redge runtime, built with -fsanitize=address,undefined by the Python tests.
 * Usage: test_rt BLOB   -- loads and runs BLOB, then feeds the loader corrupted copies (truncations, bit flips,
 * out-of-range table fields with valid checksums) in exactly-sized heap buffers: every one must be rejected with
 * an error code and no sanitizer report. Prints "ok <n_cases>" on success. (The test itself may allocate; the
 * runtime never does.) */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "redge_rt.h"

static rt_model model;

static int try_load(const uint8_t *src, size_t len, int crc) {
    uint8_t *buf = malloc(len ? len : 1);
    int rc;
    memcpy(buf, src, len);
    rc = rt_load(&model, buf, len, crc);
    free(buf);
    return rc;
}

static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

/* Re-seal header and table CRCs after editing a table entry, so the bounds checks themselves are exercised. */
static void reseal(uint8_t *b) {
    uint32_t n = (uint32_t)b[16] | ((uint32_t)b[17] << 8) | ((uint32_t)b[18] << 16) | ((uint32_t)b[19] << 24);
    put32(b + 48, rt_crc32(b + 256, (size_t)n * 128));
    put32(b + 252, rt_crc32(b, 252));
}

int main(int argc, char **argv) {
    FILE *fp;
    long len;
    uint8_t *blob, *work;
    size_t i, cases = 0;
    uint32_t n;
    int rc;
    if (argc < 2 || !(fp = fopen(argv[1], "rb"))) { fprintf(stderr, "usage: test_rt BLOB\n"); return 2; }
    fseek(fp, 0, SEEK_END); len = ftell(fp); fseek(fp, 0, SEEK_SET);
    blob = malloc((size_t)len); work = malloc((size_t)len);
    if (fread(blob, 1, (size_t)len, fp) != (size_t)len) return 2;
    fclose(fp);
    /* the intact blob loads and runs */
    memcpy(work, blob, (size_t)len);
    rc = rt_load(&model, work, (size_t)len, 1);
    if (rc) { printf("FAIL intact blob rejected: %d\n", rc); return 1; }
    {
        size_t need = rt_arena_size(&model);
        void *raw = malloc(need + 16);
        void *arena = (void *)(((uintptr_t)raw + 15) & ~(uintptr_t)15);
        int32_t *tok = calloc(model.seq_len, 4), *preds = calloc(model.seq_len, 4);
        rt_opts o = {RT_ACT_AUTO, 1, 0, 1, 1};
        rt_result r;
        for (i = 0; i < model.seq_len; i++) tok[i] = (int32_t)(1 + i % (model.vocab - 1));
        if (rt_set_arena(&model, arena, need - 16) != RT_ERR_ARENA) { printf("FAIL small arena accepted\n"); return 1; }
        if ((rc = rt_set_arena(&model, arena, need))) { printf("FAIL arena %d\n", rc); return 1; }
        if ((rc = rt_run(&model, tok, NULL, &o, preds, NULL, &r))) { printf("FAIL run %d\n", rc); return 1; }
        o.act_mode = RT_ACT_INT8;
        if ((rc = rt_run(&model, tok, NULL, &o, preds, NULL, &r))) { printf("FAIL run int8 %d\n", rc); return 1; }
        tok[0] = (int32_t)model.vocab;
        if (rt_run(&model, tok, NULL, &o, preds, NULL, &r) != RT_ERR_INPUT) { printf("FAIL bad token accepted\n"); return 1; }
        free(raw); free(tok); free(preds);
    }
    /* truncations */
    for (i = 0; i < (size_t)len; i += 1 + (size_t)len / 97) {
        if (try_load(blob, i, 1) == RT_OK) { printf("FAIL truncated to %zu accepted\n", i); return 1; }
        cases++;
    }
    /* single bit flips anywhere: rejected with CRCs on (header / table / data checksums) */
    for (i = 0; i < (size_t)len; i += 1 + (size_t)len / 301) {
        memcpy(work, blob, (size_t)len);
        work[i] ^= (uint8_t)(1u << (i % 8));
        if (try_load(work, (size_t)len, 1) == RT_OK && memcmp(work, blob, (size_t)len)) {
            /* flips in alignment padding between tensors are harmless and not covered by any CRC */
            if (i >= 256) continue;
            printf("FAIL flip at %zu accepted\n", i); return 1;
        }
        cases++;
        try_load(work, (size_t)len, 0);   /* without tensor CRCs: may load, must not read out of bounds */
    }
    /* out-of-range table fields with valid checksums */
    n = (uint32_t)blob[16] | ((uint32_t)blob[17] << 8);
    for (i = 0; i < n; i++) {
        uint8_t *e;
        int k;
        for (k = 0; k < 8; k++) {
            memcpy(work, blob, (size_t)len);
            e = work + 256 + i * 128;
            switch (k) {
            case 0: put64(e + 104, (uint64_t)len); break;                 /* offset at the end */
            case 1: put64(e + 112, (uint64_t)len * 4); break;             /* size past the end */
            case 2: put64(e + 104, ~(uint64_t)0 - 8); break;              /* offset overflow */
            case 3: put32(e + 76, 0x7FFFFFFFu); break;                    /* huge dim */
            case 4: put32(e + 92, 0x7FFFFFF0u); break;                    /* scale index out of range */
            case 5: e[64] = 200; break;                                   /* unknown dtype */
            case 6: memset(e, 'A', 64); break;                            /* name without NUL */
            case 7: e[65] = 9; break;                                     /* ndim */
            }
            reseal(work);
            rc = try_load(work, (size_t)len, 0);
            if (rc == RT_OK && k != 6) { printf("FAIL entry %zu mutation %d accepted\n", i, k); return 1; }
            cases++;
        }
    }
    /* header config fields out of range (sizes, loop counts: halt_max_steps, cycles, layers, puzzle rows) */
    {
        static const size_t offs[] = {40, 16, 32, 60, 64, 68, 72, 76, 80, 84, 88, 92, 96, 100, 104, 108, 112};
        for (i = 0; i < sizeof offs / sizeof offs[0]; i++) {
            memcpy(work, blob, (size_t)len);
            put32(work + offs[i], 0xFFFFFFF0u);
            put32(work + 252, rt_crc32(work, 252));
            if (try_load(work, (size_t)len, 0) == RT_OK) { printf("FAIL header field %zu accepted\n", offs[i]); return 1; }
            cases++;
        }
    }
    printf("ok %zu\n", cases);
    free(blob); free(work);
    return 0;
}
