/* libFuzzer harness for the blob loader (rt_load) and what a loaded model feeds the forward (rt_arena_size,
 * rt_set_arena, one small rt_run). Each input is loaded twice from an exactly-sized heap copy (ASan sees any read
 * past its end): as it is, with every checksum verified, and with its table and header CRCs recomputed and tensor
 * CRCs off, so mutations get past the checksums to the field checks behind them. An accepted blob must respect the
 * runtime's limits; its forward runs when it is small (bounded work keeps the fuzzer fast). */
#include <string.h>

#include "fuzz_common.h"
#include "redge_rt.h"

static rt_model model;

static void reseal(uint8_t *b, size_t len) {
    uint32_t n;
    if (len < 256) return;
    n = fz_rd32(b + 16);
    if (256u + (uint64_t)n * 128u <= len) fz_put32(b + 48, rt_crc32(b + 256, (size_t)n * 128u));
    fz_put32(b + 252, rt_crc32(b, 252));
}

static uint64_t forward_work(const rt_model *m) {
    uint64_t mixer = m->mlp_t ? 3ull * m->token_inter * m->hidden
                              : 4ull * m->hidden * m->hidden + 2ull * m->S * m->hidden;
    uint64_t per_pos = 3ull * m->inter * m->hidden + mixer;
    uint64_t layers = (uint64_t)m->L_layers + m->H_layers;
    return 2 * layers * m->S * per_pos + (uint64_t)m->seq_len * m->vocab * m->hidden;
}

static void exercise(void) {
    size_t need = rt_arena_size(&model), i;
    void *raw;
    int32_t *tokens, *preds;
    float *logits, *row = NULL;
    rt_opts o = {RT_ACT_AUTO, 1, 0, 1, 1};
    rt_result r;
    FZ_CHECK(model.halt_max_steps >= 1 && model.halt_max_steps <= RT_MAX_STEPS, "halt_max_steps within limits");
    FZ_CHECK(model.H_cycles >= 1 && model.H_cycles <= RT_MAX_CYCLES && model.L_cycles >= 1 &&
             model.L_cycles <= RT_MAX_CYCLES, "cycles within limits");
    FZ_CHECK(model.L_layers >= 1 && model.L_layers <= RT_MAX_LAYERS && model.H_layers <= RT_MAX_LAYERS, "layers");
    FZ_CHECK(model.S <= RT_MAX_SEQ && model.vocab <= RT_MAX_DIM && model.hidden <= RT_MAX_DIM, "sizes");
    FZ_CHECK(model.num_puzzle_ids <= RT_MAX_PUZZLE_IDS && model.puzzle_emb_ndim <= RT_MAX_DIM, "puzzle table");
    FZ_CHECK(need > 0 && need <= RT_MAX_ARENA, "arena within RT_MAX_ARENA");
    if (need > (64u << 20) || forward_work(&model) > 4000000u) return;
    raw = malloc(need + 16);
    tokens = malloc(model.seq_len * sizeof *tokens);
    preds = malloc(model.seq_len * sizeof *preds);
    logits = malloc((size_t)model.seq_len * model.vocab * sizeof *logits);
    if (model.puzzle_emb_ndim) row = calloc(model.puzzle_emb_ndim, sizeof *row);
    for (i = 0; i < model.seq_len; i++) tokens[i] = (int32_t)(i % model.vocab);
    FZ_CHECK(rt_set_arena(&model, (void *)(((uintptr_t)raw + 15) & ~(uintptr_t)15), need) == RT_OK, "arena accepted");
    FZ_CHECK(rt_run(&model, tokens, row, &o, preds, logits, &r) == RT_OK && r.steps == 1, "small forward runs");
    o.act_mode = RT_ACT_INT8;
    FZ_CHECK(rt_run(&model, tokens, row, &o, preds, NULL, &r) == RT_OK, "int8 forward runs");
    o.depth = RT_MAX_STEPS + 1;
    FZ_CHECK(rt_run(&model, tokens, row, &o, preds, NULL, &r) == RT_ERR_ARG, "depth above RT_MAX_STEPS refused");
    o.depth = 1;
    tokens[0] = (int32_t)model.vocab;
    FZ_CHECK(rt_run(&model, tokens, row, &o, preds, NULL, &r) == RT_ERR_INPUT, "token id out of range refused");
    free(raw); free(tokens); free(preds); free(logits); free(row);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);   /* malloc: 16-byte aligned, as rt_load needs */
    memcpy(buf, data, size);
    if (rt_load(&model, buf, size, 1) == RT_OK) exercise();
    reseal(buf, size);
    if (rt_load(&model, buf, size, 0) == RT_OK) exercise();
    free(buf);
    return 0;
}
