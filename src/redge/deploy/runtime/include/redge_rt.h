/* redge C runtime: TRM / HRM inference from a redge blob (src/redge/deploy/blob.py, layout version 1).
 *
 * C99, no dynamic allocation: the caller provides the model struct (rt_model, static on a microcontroller) and one
 * arena whose size rt_arena_size() computes from the blob's config (the "plan"). Every read of the blob is
 * bounds-checked by rt_load() before any pointer into it is kept.
 *
 * Arithmetic (what the Python reference in tests/deploy/runtime reproduces):
 *   - weights: int8 or int4 codes, symmetric, per-tensor / per-channel / per-group scales (f32, f16 or bf16);
 *     f32 weights for tensors kept in float (q_head, H_init, ...).
 *   - int8 activations (blob act_bits = 8, or RT_ACT_INT8): every linear's input row (a token; for mlp_t a channel over the sequence axis) is quantized
 *     symmetric per row: scale = max|x| / 127 (1 if the row is all zero), q = clamp(round_half_even(x / scale),
 *     -127, 127); the dot products accumulate in int32; y = (sum_g float(acc_g) * w_scale_g) * x_scale (+ bias).
 *     This is exactly redge.quant.kernels.quantize_per_token / Int8Kernel._w8a8.
 *   - float activations (act_bits = 0, or RT_ACT_F32): y = sum_g w_scale_g * (sum_k code_k * x_k) (+ bias): weight-only recipes.
 *   - everything else (RMSNorm, RoPE, attention, SiLU, softmax) in float32, -ffp-contract=off, so the host and the
 *     Cortex-M builds compute the same values.
 */
#ifndef REDGE_RT_H
#define REDGE_RT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Limits on everything a blob or an embedding file supplies that sizes a loop, a buffer or a table: rt_load and
 * rt_emb_open reject larger values (RT_ERR_CONFIG / RT_ERR_FORMAT), so a crafted file with valid checksums cannot make
 * the runtime loop for hours or overflow an arena computation. These #defines are the one source of truth:
 * redge.deploy.capabilities reads them from this file (the Python blob and embedding readers and `redge plan`/`export`
 * enforce the same values), and a target YAML's runtime.max_* may narrow (never widen) them with -D flags.
 * Plain decimal literals only (the Python side parses them). */
#ifndef RT_MAX_LAYERS
#define RT_MAX_LAYERS 16            /* H_layers, L_layers (per level) */
#endif
#ifndef RT_MAX_SEQ
#define RT_MAX_SEQ 8192             /* seq_len, prefix_len and their sum (positions) */
#endif
#ifndef RT_MAX_DIM
#define RT_MAX_DIM 65536            /* vocab_size, hidden_size, intermediate, token_inter, puzzle_emb_ndim */
#endif
#ifndef RT_MAX_CYCLES
#define RT_MAX_CYCLES 64            /* H_cycles, L_cycles (and the rt_opts overrides) */
#endif
#ifndef RT_MAX_STEPS
#define RT_MAX_STEPS 256            /* halt_max_steps (and rt_opts.depth) */
#endif
#ifndef RT_MAX_PUZZLE_IDS
#define RT_MAX_PUZZLE_IDS 16777216  /* num_puzzle_ids, rows of an embedding file */
#endif
#ifndef RT_MAX_TENSORS
#define RT_MAX_TENSORS 4096         /* n_tensors (table entries) */
#endif
#ifndef RT_MAX_ARENA
#define RT_MAX_ARENA 1073741824     /* bytes of arena the config asks for (rt_arena_size), computed in 64 bits */
#endif

enum rt_status {
    RT_OK = 0,
    RT_ERR_ARG = 1,          /* NULL pointer, bad option */
    RT_ERR_MAGIC = 2,        /* not a redge blob */
    RT_ERR_TRUNCATED = 3,    /* a size or offset points outside the buffer */
    RT_ERR_CRC = 4,          /* header, table or tensor checksum mismatch */
    RT_ERR_FORMAT = 5,       /* inconsistent header / table field */
    RT_ERR_CONFIG = 6,       /* model config out of the supported range (the RT_MAX_* limits) */
    RT_ERR_MISSING = 7,      /* a tensor the model needs is absent */
    RT_ERR_SHAPE = 8,        /* a tensor has the wrong shape / dtype */
    RT_ERR_UNSUPPORTED = 9,  /* valid blob, feature not in this runtime (asymmetric codes, bf16 weights) */
    RT_ERR_ARENA = 10,       /* arena too small or misaligned */
    RT_ERR_INPUT = 11,       /* token id or puzzle id out of range */
    RT_ERR_PAIR = 12         /* the embedding file was not exported with this blob (its data CRC differs) */
};

/* RT_ACT_AUTO: each linear as its blob entry says (act_bits 8 -> int8 per-token input, 0 -> float input). */
enum rt_act_mode { RT_ACT_AUTO = 0, RT_ACT_INT8 = 1, RT_ACT_F32 = 2 };

/* One linear layer (or embedding table) as views into the blob. */
typedef struct {
    const uint8_t *w;        /* codes, row-major, row_bytes per row (f32 values when bits == 32) */
    const uint8_t *scales;   /* raw scale values, [1 or out, ngroups] */
    const float *bias;       /* NULL if none */
    uint32_t out, in, group, ngroups, row_bytes;
    uint8_t bits;            /* 8, 4 or 32 */
    uint8_t scale_dtype;     /* 0 f32, 1 f16, 2 bf16 */
    uint8_t per_tensor;      /* one scale for the whole tensor */
    uint8_t fast;            /* group boundaries align with the SIMD chunking (group % 32 == 0 or one group) */
    uint8_t act8;            /* blob act_bits == 8: int8 per-token input */
} rt_lin;

typedef struct {
    rt_lin qkv, o, gate_up, down;   /* attention blocks (qkv, o unused with mlp_t) */
    rt_lin t_gate_up, t_down;       /* mlp_t token mixer */
} rt_block;

typedef struct {
    /* config (from the blob header) */
    uint32_t arch, pos, mlp_t, no_act_continue;
    uint32_t vocab, seq_len, prefix, hidden, heads, inter, token_inter;
    uint32_t H_cycles, L_cycles, H_layers, L_layers, halt_max_steps, puzzle_emb_ndim;
    uint32_t num_puzzle_ids;
    uint32_t emb_bound, emb_crc32;  /* header flag EMB_BOUND: the data CRC of the blob's own embedding file */
    float eps, rope_theta;
    uint32_t S, head_dim, max_in, max_out;
    /* weights */
    const float *H_init, *L_init;
    rt_lin embed, embed_pos, lm_head, q_head;
    rt_block L[RT_MAX_LAYERS], H[RT_MAX_LAYERS];
    /* arena views (set by rt_set_arena) */
    float *zH, *zL, *X, *W, *qkv, *tmp, *tmp2, *col, *rope_cos, *rope_sin;
    int8_t *xq;
    void *xprep;
    int arena_ready;
} rt_model;

typedef struct {
    int32_t act_mode;     /* rt_act_mode */
    int32_t depth;        /* ACT steps (<= 0: halt_max_steps; at most RT_MAX_STEPS) */
    int32_t early_exit;   /* stop at the first step at which the model halts: q_halt > 0 (TRM), q_halt > q_continue (HRM) */
    int32_t H_cycles;     /* <= 0: config; at most RT_MAX_CYCLES */
    int32_t L_cycles;     /* <= 0: config; at most RT_MAX_CYCLES */
} rt_opts;

typedef struct {
    float q_halt, q_continue;
    int32_t steps;        /* ACT steps run */
} rt_result;

/* Parse and verify a blob (`check_crc`: also verify every tensor's CRC-32). `blob` must be 4-byte aligned and stay
 * alive as long as the model is used. Returns RT_OK or an rt_status; on error the model is unusable. */
int rt_load(rt_model *m, const uint8_t *blob, size_t len, int check_crc);
/* Arena bytes the loaded model needs (activations, carry, RoPE tables, int8 buffers). */
size_t rt_arena_size(const rt_model *m);
/* Hand the arena (at least rt_arena_size bytes, 16-byte aligned) to the model; fills the RoPE tables. */
int rt_set_arena(rt_model *m, void *arena, size_t size);
/* Run one puzzle: tokens [seq_len], puzzle_row [puzzle_emb_ndim] floats or NULL (zeros). Writes preds [seq_len]
 * and, if non-NULL, logits [seq_len * vocab] of the last step run. */
int rt_run(rt_model *m, const int32_t *tokens, const float *puzzle_row, const rt_opts *opts, int32_t *preds,
           float *logits, rt_result *res);
/* Blob header flag (offset 20): emb_crc32 (offset 160) is the data CRC of the blob's own embedding file. */
#define RT_BLOB_EMB_BOUND 1u

/* A puzzle-embedding file (src/redge/deploy/embeddings.py, version 1) in memory-mapped flash: rows are read one at
 * a time, straight from the file (bf16 rows widened to float). */
typedef struct {
    const uint8_t *data;  /* row 0 */
    uint32_t rows, dim, dtype, stride, crc;  /* crc: the header's data_crc32 */
} rt_emb;

/* Verify an embedding file's header (checksum, dtype, shape within the limits, size within `len`) and, with
 * `check_crc`, its data checksum. `file` must stay alive while `e` is used. */
int rt_emb_open(rt_emb *e, const uint8_t *file, size_t len, int check_crc);
/* Row `id` as dim floats into `out` (RT_ERR_INPUT if id >= rows). */
int rt_emb_row(const rt_emb *e, uint32_t id, float *out);
/* The file fits the model: its row width is the model's puzzle_emb_ndim (RT_ERR_SHAPE otherwise) and, for a blob
 * bound to its embedding file, its data CRC is the one the blob names (RT_ERR_PAIR otherwise: a new file beside an
 * old blob, say after an export killed between its two renames). */
int rt_emb_check(const rt_emb *e, const rt_model *m);
/* sizeof(rt_model), for callers that allocate it themselves (ctypes). */
size_t rt_model_size(void);
/* Which kernel path this build uses: "c", "dsp" or "mve". */
const char *rt_kernel_path(void);
/* CRC-32 (IEEE, as zlib.crc32). */
uint32_t rt_crc32(const uint8_t *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif
