/* Model firmware: runs puzzles through the redge runtime on an emulated Cortex-M core.
 *
 * The host (redge.deploy.runtime.qemu) loads the blob at the start of the weight region and an input block at
 * __input_start (the weight window's last MiB) with QEMU's generic loader. Input block (little-endian):
 *   u32 magic 'RINP', u32 n_puzzles, i32 act_mode, i32 depth, i32 early_exit, i32 H_cycles, i32 L_cycles,
 *   u32 check_crc, u32 has_rows, u32 print_logits, 6 x u32 reserved (64 bytes in all),
 *   then n_puzzles x seq_len i32 tokens, then (has_rows) n_puzzles x puzzle_emb_ndim f32 rows.
 * Output over semihosting, one line each: "arena <bytes>", per puzzle "P <i> <steps> <q_halt hex> <q_cont hex>
 * <preds as digits>" and with print_logits "L <i> <logit bits as hex words>", then "done <status>".
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "redge_rt.h"

extern uint8_t __weights_start[], __input_start[], __arena_start[], __arena_end[];
extern void initialise_monitor_handles(void);

static rt_model model;
static int32_t preds[RT_MAX_SEQ];
static float logits_buf[65536];

static uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

int main(void) {
    const uint32_t *in = (const uint32_t *)(const void *)__input_start;
    const int32_t *tokens;
    const float *rows;
    rt_opts opts;
    rt_result res;
    uint32_t n, i, t;
    size_t need;
    int rc;
    initialise_monitor_handles();
    if (in[0] != 0x504E4952u) { printf("done %d no input block\n", RT_ERR_ARG); return 1; }
    n = in[1];
    opts.act_mode = (int32_t)in[2]; opts.depth = (int32_t)in[3]; opts.early_exit = (int32_t)in[4];
    opts.H_cycles = (int32_t)in[5]; opts.L_cycles = (int32_t)in[6];
    rc = rt_load(&model, __weights_start, (size_t)(__input_start - __weights_start), (int)in[7]);
    if (rc) { printf("done %d load\n", rc); return 1; }
    need = rt_arena_size(&model);
    printf("arena %lu\n", (unsigned long)need);
    rc = rt_set_arena(&model, __arena_start, (size_t)(__arena_end - __arena_start));
    if (rc) { printf("done %d arena\n", rc); return 1; }
    if (model.seq_len > RT_MAX_SEQ || (size_t)model.seq_len * model.vocab > 65536) { printf("done %d io\n", RT_ERR_CONFIG); return 1; }
    tokens = (const int32_t *)(const void *)(in + 16);
    rows = (const float *)(const void *)(tokens + (size_t)n * model.seq_len);
    for (i = 0; i < n; i++) {
        const float *row = in[8] ? rows + (size_t)i * model.puzzle_emb_ndim : NULL;
        rc = rt_run(&model, tokens + (size_t)i * model.seq_len, row, &opts, preds, in[9] ? logits_buf : NULL, &res);
        if (rc) { printf("done %d run\n", rc); return 1; }
        printf("P %lu %ld %08lx %08lx ", (unsigned long)i, (long)res.steps, (unsigned long)bits_of(res.q_halt),
               (unsigned long)bits_of(res.q_continue));
        for (t = 0; t < model.seq_len; t++) putchar(preds[t] < 10 ? '0' + preds[t] : 'a' + preds[t] - 10);
        putchar('\n');
        if (in[9]) {
            printf("L %lu", (unsigned long)i);
            for (t = 0; t < model.seq_len * model.vocab; t++) printf(" %08lx", (unsigned long)bits_of(logits_buf[t]));
            putchar('\n');
        }
    }
    printf("done 0\n");
    return 0;
}
