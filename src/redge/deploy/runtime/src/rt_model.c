/* redge runtime: blob loader (bounds-checked, CRC-verified, no allocation) and the TRM / HRM forward.
 *
 * Forward of one ACT step (matches redge.models: reasoner.py, trm.py, hrm.py, layers.py):
 *   x = sqrt(D) * [puzzle prefix ; embed(tokens)]     (learned positions: sqrt(D) * 0.707106781 * (e + pos))
 *   for h in H_cycles: for l in L_cycles: z_L = Lnet(z_L, z_H + x);  z_H = (TRM: Lnet, HRM: Hnet)(z_H, z_L)
 *   net(h, inj): h = h + inj, then per block (post-norm):
 *       h = rms(h + attn(h))        or mlp_t: h^T = rms_seq(h^T + swiglu_t(h^T))  (per channel, over positions)
 *       h = rms(h + swiglu(h))
 *   logits = lm_head(z_H[prefix:]), q = q_head(z_H[0]).
 * Arena layout: zH, zL, X, W (S x D floats each), qkv (S x 3D, attention only), tmp (max(2F, 2Ft, 3D) floats),
 * tmp2, col (S floats x 2), RoPE cos/sin (S x head_dim/2), xq (int8, max_in), xprep (kernel buffer).
 */
#include <math.h>
#include <string.h>

#include "redge_rt.h"
#include "rt_kernels.h"

#define HDR 256u
#define ENT 128u

size_t rt_model_size(void) { return sizeof(rt_model); }
static uint64_t arena_bytes(const rt_model *m);

/* ------------------------------------------------------------------------------------------------ CRC-32 */
static uint32_t crc_table[256];
static int crc_ready;

uint32_t rt_crc32(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    if (!crc_ready) {
        uint32_t k, j, v;
        for (k = 0; k < 256; k++) {
            v = k;
            for (j = 0; j < 8; j++) v = (v & 1) ? 0xEDB88320u ^ (v >> 1) : v >> 1;
            crc_table[k] = v;
        }
        crc_ready = 1;
    }
    for (i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* --------------------------------------------------------------------------------------- little-endian reads */
static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (rd16(p + 2) << 16); }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }
static float rdf(const uint8_t *p) { uint32_t u = rd32(p); float f; memcpy(&f, &u, 4); return f; }

typedef struct {
    const uint8_t *base;
    size_t len;
    uint32_t n;
    uint64_t data_offset;
} blob_view;

/* One validated table entry. */
typedef struct {
    uint8_t dtype, ndim, role, bits, gran, act_bits;
    uint32_t group, shape[4];
    int32_t scale_index, zero_index;
    uint64_t offset, nbytes;
} entry;

static int entry_at(const blob_view *b, uint32_t i, entry *e) {
    const uint8_t *p = b->base + HDR + (size_t)i * ENT;
    uint64_t count = 1, expect;
    uint32_t d;
    e->dtype = p[64]; e->ndim = p[65]; e->role = p[66]; e->bits = p[67]; e->gran = p[68]; e->act_bits = p[69];
    e->group = rd32(p + 72);
    for (d = 0; d < 4; d++) e->shape[d] = rd32(p + 76 + 4 * d);
    e->scale_index = (int32_t)rd32(p + 92); e->zero_index = (int32_t)rd32(p + 96);
    e->offset = rd64(p + 104); e->nbytes = rd64(p + 112);
    if (memchr(p, 0, 64) == NULL) return RT_ERR_FORMAT;
    if (e->dtype > 7 || e->ndim > 4 || e->role > 2 || e->gran > 3 || (e->act_bits != 0 && e->act_bits != 8))
        return RT_ERR_FORMAT;
    if (e->scale_index < -1 || e->scale_index >= (int32_t)b->n) return RT_ERR_FORMAT;
    if (e->zero_index < -1 || e->zero_index >= (int32_t)b->n) return RT_ERR_FORMAT;
    for (d = 0; d < e->ndim; d++) {
        if (e->shape[d] == 0 || e->shape[d] > (1u << 28)) return RT_ERR_FORMAT;
        count *= e->shape[d];
        if (count > ((uint64_t)1 << 40)) return RT_ERR_FORMAT;
    }
    if (e->dtype == 5 || e->dtype == 6) {       /* nibble-packed rows */
        uint64_t cols = e->ndim ? e->shape[e->ndim - 1] : 1;
        expect = (count / cols) * ((cols + 1) / 2);
    } else {
        static const uint8_t size[8] = {4, 2, 2, 1, 1, 0, 0, 4};
        expect = count * size[e->dtype];
    }
    if (e->nbytes != expect) return RT_ERR_FORMAT;
    if (e->offset < b->data_offset || e->offset > b->len || e->nbytes > b->len - e->offset) return RT_ERR_TRUNCATED;
    return RT_OK;
}

static int find(const blob_view *b, const char *name, entry *e) {
    uint32_t i;
    size_t n = strlen(name);
    if (n >= 64) return RT_ERR_MISSING;
    for (i = 0; i < b->n; i++) {
        const uint8_t *p = b->base + HDR + (size_t)i * ENT;
        if (memcmp(p, name, n) == 0 && p[n] == 0) return entry_at(b, i, e);
    }
    return RT_ERR_MISSING;
}

static int get_f32(const blob_view *b, const char *name, uint32_t count, const float **out) {
    entry e;
    int rc = find(b, name, &e);
    if (rc) return rc;
    if (e.dtype != 0 || e.nbytes != (uint64_t)count * 4) return RT_ERR_SHAPE;
    *out = (const float *)(const void *)(b->base + e.offset);
    return RT_OK;
}

/* A [out, in] weight (linear or embedding table) with its scale entry. */
static int get_lin(const blob_view *b, const char *name, uint32_t out, uint32_t in, int need, rt_lin *L) {
    entry e, s;
    int rc = find(b, name, &e);
    memset(L, 0, sizeof *L);
    if (rc) return (rc == RT_ERR_MISSING && !need) ? RT_OK : rc;
    if (e.ndim != 2 || e.shape[0] != out || e.shape[1] != in) return RT_ERR_SHAPE;
    L->w = b->base + e.offset; L->out = out; L->in = in; L->act8 = (uint8_t)(e.act_bits == 8);
    if (e.dtype == 0) {                       /* float weight */
        L->bits = 32; L->group = in; L->ngroups = 1; L->row_bytes = in * 4;
        return e.scale_index == -1 ? RT_OK : RT_ERR_FORMAT;
    }
    if (e.dtype == 4 || e.dtype == 6 || e.zero_index != -1) return RT_ERR_UNSUPPORTED;   /* asymmetric codes */
    if (e.dtype != 3 && e.dtype != 5) return RT_ERR_UNSUPPORTED;                         /* bf16/f16/i32 */
    if (e.scale_index < 0) return RT_ERR_FORMAT;
    if (entry_at(b, (uint32_t)e.scale_index, &s)) return RT_ERR_FORMAT;
    if (s.role != 1 || s.ndim != 2 || s.dtype > 2) return RT_ERR_FORMAT;
    L->bits = e.dtype == 3 ? 8 : 4;
    L->row_bytes = e.dtype == 3 ? in : (in + 1) / 2;
    L->scale_dtype = s.dtype;
    L->scales = b->base + s.offset;
    if (e.gran == 1) {                         /* per tensor */
        if (s.shape[0] != 1 || s.shape[1] != 1) return RT_ERR_SHAPE;
        L->per_tensor = 1; L->group = in; L->ngroups = 1;
    } else if (e.gran == 2) {                  /* per channel */
        if (s.shape[0] != out || s.shape[1] != 1) return RT_ERR_SHAPE;
        L->group = in; L->ngroups = 1;
    } else if (e.gran == 3) {                  /* per group */
        if (e.group == 0 || s.shape[0] != out || s.shape[1] != (in + e.group - 1) / e.group) return RT_ERR_SHAPE;
        L->group = e.group < in ? e.group : in; L->ngroups = s.shape[1];
        if (L->group == in) L->ngroups = 1;
    } else {
        return RT_ERR_FORMAT;
    }
    L->fast = (uint8_t)(L->ngroups == 1 || L->group % 32 == 0);
    return RT_OK;
}

static void name_of(char *buf, const char *level, uint32_t layer, const char *rest) {
    /* "<level>.layers.<layer>.<rest>" without snprintf (not needed on the device) */
    char num[12];
    int n = 0;
    uint32_t v = layer;
    do { num[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    strcpy(buf, level); strcat(buf, ".layers.");
    { size_t len = strlen(buf); while (n) buf[len++] = num[--n]; buf[len] = 0; }
    strcat(buf, "."); strcat(buf, rest);
}

static int load_blocks(const blob_view *b, rt_model *m, const char *level, uint32_t nl, rt_block *blk) {
    char name[80];
    uint32_t i, D = m->hidden, F = m->inter;
    int rc;
    for (i = 0; i < nl; i++) {
        if (m->mlp_t) {
            name_of(name, level, i, "mlp_t.gate_up_proj.weight");
            if ((rc = get_lin(b, name, 2 * m->token_inter, m->S, 1, &blk[i].t_gate_up))) return rc;
            name_of(name, level, i, "mlp_t.down_proj.weight");
            if ((rc = get_lin(b, name, m->S, m->token_inter, 1, &blk[i].t_down))) return rc;
        } else {
            name_of(name, level, i, "self_attn.qkv_proj.weight");
            if ((rc = get_lin(b, name, 3 * D, D, 1, &blk[i].qkv))) return rc;
            name_of(name, level, i, "self_attn.o_proj.weight");
            if ((rc = get_lin(b, name, D, D, 1, &blk[i].o))) return rc;
        }
        name_of(name, level, i, "mlp.gate_up_proj.weight");
        if ((rc = get_lin(b, name, 2 * F, D, 1, &blk[i].gate_up))) return rc;
        name_of(name, level, i, "mlp.down_proj.weight");
        if ((rc = get_lin(b, name, D, F, 1, &blk[i].down))) return rc;
    }
    return RT_OK;
}

int rt_load(rt_model *m, const uint8_t *blob, size_t len, int check_crc) {
    blob_view b;
    const uint8_t *h = blob;
    uint64_t file_size, table_end;
    uint32_t i;
    int rc;
    if (!m || !blob) return RT_ERR_ARG;
    memset(m, 0, sizeof *m);
    if (((uintptr_t)blob & 3u) != 0) return RT_ERR_ARG;
    if (len < 8 || memcmp(h, "REDGEBLB", 8) != 0) return RT_ERR_MAGIC;
    if (len < HDR) return RT_ERR_TRUNCATED;
    if (rt_crc32(h, 252) != rd32(h + 252)) return RT_ERR_CRC;
    if (rd16(h + 8) != 1 || rd16(h + 10) != HDR || rd16(h + 12) != ENT || rd64(h + 24) != HDR) return RT_ERR_FORMAT;
    if (rd32(h + 20) & ~RT_BLOB_EMB_BOUND) return RT_ERR_FORMAT;  /* unknown header flags */
    file_size = rd64(h + 40);
    if (file_size > len) return RT_ERR_TRUNCATED;
    b.base = blob; b.len = (size_t)file_size; b.n = rd32(h + 16); b.data_offset = rd64(h + 32);
    if (b.n > RT_MAX_TENSORS) return RT_ERR_FORMAT;
    table_end = HDR + (uint64_t)b.n * ENT;
    if (table_end > b.data_offset || b.data_offset > file_size) return RT_ERR_TRUNCATED;
    if (rt_crc32(h + HDR, (size_t)(table_end - HDR)) != rd32(h + 48)) return RT_ERR_CRC;
    for (i = 0; i < b.n; i++) {
        entry e;
        if ((rc = entry_at(&b, i, &e))) return rc;
        if (check_crc && rt_crc32(blob + e.offset, (size_t)e.nbytes) != rd32(blob + HDR + (size_t)i * ENT + 100))
            return RT_ERR_CRC;
    }
    /* config */
    m->arch = h[56]; m->pos = h[57]; m->mlp_t = h[58]; m->no_act_continue = h[59];
    m->vocab = rd32(h + 60); m->seq_len = rd32(h + 64); m->prefix = rd32(h + 68); m->hidden = rd32(h + 72);
    m->heads = rd32(h + 76); m->inter = rd32(h + 80); m->token_inter = rd32(h + 84);
    m->H_cycles = rd32(h + 88); m->L_cycles = rd32(h + 92); m->H_layers = rd32(h + 96); m->L_layers = rd32(h + 100);
    m->halt_max_steps = rd32(h + 104); m->num_puzzle_ids = rd32(h + 108); m->puzzle_emb_ndim = rd32(h + 112);
    m->eps = rdf(h + 116); m->rope_theta = rdf(h + 120);
    m->emb_bound = (rd32(h + 20) & RT_BLOB_EMB_BOUND) != 0; m->emb_crc32 = rd32(h + 160);
    if (m->arch > 1 || m->pos > 2 || m->mlp_t > 1) return RT_ERR_CONFIG;
    if (!m->vocab || m->vocab > RT_MAX_DIM || !m->seq_len || m->seq_len > RT_MAX_SEQ || m->prefix > RT_MAX_SEQ) return RT_ERR_CONFIG;
    if (!m->hidden || m->hidden > RT_MAX_DIM || !m->heads || m->hidden % m->heads || (m->hidden / m->heads) % 2)
        return RT_ERR_CONFIG;
    if (!m->inter || m->inter > RT_MAX_DIM || m->token_inter > RT_MAX_DIM || (m->mlp_t && !m->token_inter)) return RT_ERR_CONFIG;
    if (!m->L_layers || m->L_layers > RT_MAX_LAYERS || m->H_layers > RT_MAX_LAYERS) return RT_ERR_CONFIG;
    if (m->arch == 1 && (!m->H_layers || m->mlp_t)) return RT_ERR_CONFIG;
    if (m->puzzle_emb_ndim > RT_MAX_DIM || m->puzzle_emb_ndim > (uint64_t)m->prefix * m->hidden) return RT_ERR_CONFIG;
    if (m->num_puzzle_ids > RT_MAX_PUZZLE_IDS) return RT_ERR_CONFIG;
    /* every loop count the forward takes from the blob is bounded */
    if (!m->H_cycles || m->H_cycles > RT_MAX_CYCLES || !m->L_cycles || m->L_cycles > RT_MAX_CYCLES)
        return RT_ERR_CONFIG;
    if (!m->halt_max_steps || m->halt_max_steps > RT_MAX_STEPS) return RT_ERR_CONFIG;
    if (!(m->eps > 0.0f) || !(m->rope_theta > 0.0f)) return RT_ERR_CONFIG;
    m->S = m->seq_len + m->prefix;
    if (m->S > RT_MAX_SEQ) return RT_ERR_CONFIG;
    m->head_dim = m->hidden / m->heads;
    /* tensors */
    if ((rc = get_f32(&b, "H_init", m->hidden, &m->H_init))) return rc;
    if ((rc = get_f32(&b, "L_init", m->hidden, &m->L_init))) return rc;
    if ((rc = get_lin(&b, "embed_tokens.embedding_weight", m->vocab, m->hidden, 1, &m->embed))) return rc;
    if (m->pos == 2 && (rc = get_lin(&b, "embed_pos.embedding_weight", m->S, m->hidden, 1, &m->embed_pos))) return rc;
    if ((rc = get_lin(&b, "lm_head.weight", m->vocab, m->hidden, 1, &m->lm_head))) return rc;
    if ((rc = get_lin(&b, "q_head.weight", 2, m->hidden, 1, &m->q_head))) return rc;
    rc = get_f32(&b, "q_head.bias", 2, &m->q_head.bias);
    if (rc && rc != RT_ERR_MISSING) return rc;
    if ((rc = load_blocks(&b, m, "L_level", m->L_layers, m->L))) return rc;
    if (m->arch == 1 && (rc = load_blocks(&b, m, "H_level", m->H_layers, m->H))) return rc;
    m->max_in = m->hidden > m->inter ? m->hidden : m->inter;
    if (m->mlp_t) {
        if (m->S > m->max_in) m->max_in = m->S;
        if (m->token_inter > m->max_in) m->max_in = m->token_inter;
    }
    if (arena_bytes(m) > RT_MAX_ARENA) return RT_ERR_CONFIG;
    return RT_OK;
}

/* ------------------------------------------------------------------------------------------------ arena */
static size_t al16(size_t n) { return (n + 15u) & ~(size_t)15u; }
static uint64_t al16w(uint64_t n) { return (n + 15u) & ~(uint64_t)15u; }

static size_t tmp_floats(const rt_model *m) {
    size_t t = 2u * m->inter;
    if (2u * m->token_inter > t) t = 2u * m->token_inter;
    if (3u * m->hidden > t) t = 3u * m->hidden;
    if (m->S > t) t = m->S;
    if (m->vocab > t) t = m->vocab;
    return t;
}

/* The arena layout's size in 64 bits: the config's limits keep it far from overflow, RT_MAX_ARENA bounds it (a
 * 32-bit size_t would wrap at 4 GiB otherwise). */
static uint64_t arena_bytes(const rt_model *m) {
    uint64_t sd = (uint64_t)m->S * m->hidden, n = 0;
    n += 4 * al16w(sd * 4);                                       /* zH, zL, X, W */
    if (!m->mlp_t) n += al16w(3 * sd * 4);                        /* qkv */
    n += 2 * al16w((uint64_t)tmp_floats(m) * 4);                  /* tmp, tmp2 */
    n += 2 * al16w((uint64_t)m->S * 4);                           /* col (+ its output) */
    n += 2 * al16w((uint64_t)m->S * (m->head_dim / 2) * 4);       /* RoPE cos / sin */
    n += al16w((uint64_t)m->max_in + 16);                         /* xq */
    n += al16w(rk_prep_bytes(m->max_in));                         /* xprep */
    return n;
}

size_t rt_arena_size(const rt_model *m) {
    if (!m || !m->hidden) return 0;
    return (size_t)arena_bytes(m);
}

int rt_set_arena(rt_model *m, void *arena, size_t size) {
    uint8_t *p = arena;
    size_t sd, need, half, s, i;
    if (!m || !arena || !m->hidden) return RT_ERR_ARG;
    need = rt_arena_size(m);
    if (size < need || ((uintptr_t)arena & 15u)) return RT_ERR_ARENA;
    sd = (size_t)m->S * m->hidden;
    m->zH = (float *)(void *)p; p += al16(sd * 4);
    m->zL = (float *)(void *)p; p += al16(sd * 4);
    m->X = (float *)(void *)p; p += al16(sd * 4);
    m->W = (float *)(void *)p; p += al16(sd * 4);
    m->qkv = NULL;
    if (!m->mlp_t) { m->qkv = (float *)(void *)p; p += al16(3 * sd * 4); }
    m->tmp = (float *)(void *)p; p += al16(tmp_floats(m) * 4);
    m->tmp2 = (float *)(void *)p; p += al16(tmp_floats(m) * 4);
    m->col = (float *)(void *)p; p += 2 * al16((size_t)m->S * 4);
    half = m->head_dim / 2;
    m->rope_cos = (float *)(void *)p; p += al16((size_t)m->S * half * 4);
    m->rope_sin = (float *)(void *)p; p += al16((size_t)m->S * half * 4);
    m->xq = (int8_t *)p; p += al16(m->max_in + 16);
    m->xprep = p;
    /* RoPE tables (official: inv_freq = 1 / theta^(2i/d), angle = pos * inv_freq in float32) */
    for (i = 0; i < half; i++) {
        float inv = 1.0f / (float)pow((double)m->rope_theta, (double)(float)(2.0 * (double)i / (double)m->head_dim));
        for (s = 0; s < m->S; s++) {
            float ang = (float)s * inv;
            m->rope_cos[s * half + i] = (float)cos((double)ang);
            m->rope_sin[s * half + i] = (float)sin((double)ang);
        }
    }
    m->arena_ready = 1;
    return RT_OK;
}

/* --------------------------------------------------------------------------------------------- forward */
static void rms_norm(float *x, uint32_t n, uint32_t stride, float eps) {
    float ss = 0.0f, r;
    uint32_t i;
    for (i = 0; i < n; i++) ss += x[i * stride] * x[i * stride];
    r = 1.0f / sqrtf(ss / (float)n + eps);
    for (i = 0; i < n; i++) x[i * stride] = x[i * stride] * r;
}

static void linear(rt_model *m, const rt_lin *L, const float *x, float *y, int act) {
    int int8 = act == RT_ACT_AUTO ? L->act8 : act == RT_ACT_INT8;
    if (int8 && L->bits != 32) {   /* float weights (kept fp32 by the recipe) always see float inputs */
        float xs = rk_quant_row(x, L->in, m->xq);
        if (L->fast && L->bits != 32) rk_prep(m->xq, L->in, L->bits, m->xprep);
        rk_linear_q(L, m->xq, m->xprep, xs, y);
    } else {
        rk_linear_f(L, x, y);
    }
}

/* SwiGLU on one row: y = down(silu(gate) * up), gate_up rows ordered [gate | up]. */
static void swiglu(rt_model *m, const rt_lin *gu, const rt_lin *down, const float *x, float *y, int act) {
    uint32_t F = gu->out / 2;
    float *t = m->tmp;
    linear(m, gu, x, t, act);
    rk_silu_mul(t, F);
    linear(m, down, t, y, act);
}

static void rope(const rt_model *m, float *v, uint32_t pos) {
    uint32_t h, i, half = m->head_dim / 2;
    const float *c = m->rope_cos + (size_t)pos * half, *s = m->rope_sin + (size_t)pos * half;
    for (h = 0; h < m->heads; h++) {
        float *q = v + h * m->head_dim;
        for (i = 0; i < half; i++) {
            float a = q[i], b = q[i + half];
            q[i] = a * c[i] + (-b) * s[i];
            q[i + half] = b * c[i] + a * s[i];
        }
    }
}

static void attention_block(rt_model *m, const rt_block *bk, float *hbuf, int act) {
    uint32_t S = m->S, D = m->hidden, hd = m->head_dim, t, j, hh, i;
    float *qkv = m->qkv, *att = m->tmp2, *sc = m->col, *o = m->tmp;
    float scale = 1.0f / sqrtf((float)hd);
    for (t = 0; t < S; t++) {
        linear(m, &bk->qkv, hbuf + (size_t)t * D, qkv + (size_t)t * 3 * D, act);
        if (m->pos == 1) { rope(m, qkv + (size_t)t * 3 * D, t); rope(m, qkv + (size_t)t * 3 * D + D, t); }
    }
    for (t = 0; t < S; t++) {
        const float *q = qkv + (size_t)t * 3 * D;
        for (hh = 0; hh < m->heads; hh++) {
            float mx = -3.0e38f, sum = 0.0f, inv;
            for (j = 0; j < S; j++) {
                sc[j] = rk_dot_f32(q + hh * hd, qkv + (size_t)j * 3 * D + D + hh * hd, hd) * scale;
                if (sc[j] > mx) mx = sc[j];
            }
            rk_exp_shift(sc, S, mx);
            for (j = 0; j < S; j++) sum += sc[j];
            inv = 1.0f / sum;
            for (i = 0; i < hd; i++) att[hh * hd + i] = 0.0f;
            for (j = 0; j < S; j++) rk_axpy_f32(att + hh * hd, sc[j] * inv, qkv + (size_t)j * 3 * D + 2 * D + hh * hd, hd);
        }
        linear(m, &bk->o, att, o, act);
        for (i = 0; i < D; i++) hbuf[(size_t)t * D + i] += o[i];
        rms_norm(hbuf + (size_t)t * D, D, 1, m->eps);
    }
}

static void mlp_t_block(rt_model *m, const rt_block *bk, float *hbuf, int act) {
    uint32_t S = m->S, D = m->hidden, d, s;
    float *col = m->col, *out = m->col + ((S + 3u) & ~3u);
    for (d = 0; d < D; d++) {
        for (s = 0; s < S; s++) col[s] = hbuf[(size_t)s * D + d];
        swiglu(m, &bk->t_gate_up, &bk->t_down, col, out, act);
        for (s = 0; s < S; s++) col[s] += out[s];
        rms_norm(col, S, 1, m->eps);
        for (s = 0; s < S; s++) hbuf[(size_t)s * D + d] = col[s];
    }
}

/* h = net(h + inj) over `nl` blocks, in place on h. */
static void reasoning(rt_model *m, const rt_block *blk, uint32_t nl, float *h, const float *inj, int act) {
    uint32_t l, t, i, S = m->S, D = m->hidden;
    for (i = 0; i < S * D; i++) h[i] += inj[i];
    for (l = 0; l < nl; l++) {
        if (m->mlp_t) mlp_t_block(m, &blk[l], h, act);
        else attention_block(m, &blk[l], h, act);
        for (t = 0; t < S; t++) {
            float *row = h + (size_t)t * D;
            swiglu(m, &blk[l].gate_up, &blk[l].down, row, m->tmp2, act);
            for (i = 0; i < D; i++) row[i] += m->tmp2[i];
            rms_norm(row, D, 1, m->eps);
        }
    }
}

static void embed(rt_model *m, const int32_t *tokens, const float *puzzle_row) {
    uint32_t S = m->S, D = m->hidden, t, i;
    float sq = (float)sqrt((double)D);
    for (i = 0; i < m->prefix * D; i++) m->X[i] = (puzzle_row && i < m->puzzle_emb_ndim) ? puzzle_row[i] : 0.0f;
    for (t = 0; t < m->seq_len; t++)
        for (i = 0; i < D; i++) m->X[(size_t)(m->prefix + t) * D + i] = rk_weight(&m->embed, (uint32_t)tokens[t], i);
    for (t = 0; t < S; t++)
        for (i = 0; i < D; i++) {
            float *x = &m->X[(size_t)t * D + i];
            if (m->pos == 2) *x = 0.707106781f * (*x + rk_weight(&m->embed_pos, t, i));
            *x = sq * *x;
        }
}

int rt_run(rt_model *m, const int32_t *tokens, const float *puzzle_row, const rt_opts *opts, int32_t *preds,
           float *logits, rt_result *res) {
    uint32_t S, D, t, i, v, step, depth, T, n, hc, lc, sd;
    int act;
    float q[2];
    if (!m || !tokens || !opts || !preds || !res || !m->arena_ready) return RT_ERR_ARG;
    if (opts->act_mode < RT_ACT_AUTO || opts->act_mode > RT_ACT_F32) return RT_ERR_ARG;
    S = m->S; D = m->hidden; sd = S * D; act = opts->act_mode;
    for (t = 0; t < m->seq_len; t++) if (tokens[t] < 0 || (uint32_t)tokens[t] >= m->vocab) return RT_ERR_INPUT;
    if (opts->depth > RT_MAX_STEPS || opts->H_cycles > RT_MAX_CYCLES || opts->L_cycles > RT_MAX_CYCLES) return RT_ERR_ARG;
    depth = opts->depth > 0 ? (uint32_t)opts->depth : m->halt_max_steps;
    T = opts->H_cycles > 0 ? (uint32_t)opts->H_cycles : m->H_cycles;
    n = opts->L_cycles > 0 ? (uint32_t)opts->L_cycles : m->L_cycles;
    embed(m, tokens, puzzle_row);
    for (t = 0; t < S; t++) { memcpy(m->zH + (size_t)t * D, m->H_init, D * 4); memcpy(m->zL + (size_t)t * D, m->L_init, D * 4); }
    res->steps = 0;
    for (step = 0; step < depth; step++) {
        for (hc = 0; hc < T; hc++) {
            for (lc = 0; lc < n; lc++) {       /* z_L = net(z_L, z_H + x) */
                for (i = 0; i < sd; i++) m->W[i] = m->zH[i] + m->X[i];
                reasoning(m, m->L, m->L_layers, m->zL, m->W, act);
            }
            /* z_H = net(z_H, z_L): TRM reuses L_level, HRM has its own H_level */
            if (m->arch == 1) reasoning(m, m->H, m->H_layers, m->zH, m->zL, act);
            else reasoning(m, m->L, m->L_layers, m->zH, m->zL, act);
        }
        linear(m, &m->q_head, m->zH, q, act);
        res->q_halt = q[0]; res->q_continue = q[1]; res->steps = (int32_t)(step + 1);
        /* the model's own halting rule: TRM q_halt > 0, HRM (no_act_continue 0) q_halt > q_continue */
        if (opts->early_exit && (m->no_act_continue ? q[0] > 0.0f : q[0] > q[1])) break;
    }
    for (t = 0; t < m->seq_len; t++) {
        float *row = m->tmp2, best;
        linear(m, &m->lm_head, m->zH + (size_t)(m->prefix + t) * D, row, act);
        best = row[0]; preds[t] = 0;
        for (v = 0; v < m->vocab; v++) {
            if (logits) logits[(size_t)t * m->vocab + v] = row[v];
            if (row[v] > best) { best = row[v]; preds[t] = (int32_t)v; }
        }
    }
    return RT_OK;
}
