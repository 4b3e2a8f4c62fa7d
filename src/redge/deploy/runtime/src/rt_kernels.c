/* redge runtime kernels, the part shared by every instruction set: scales, dequantized weights, exp, the portable
 * int8/int4 dot product (natural activation order) and the two linear layers built on the per-ISA kernels.
 *
 * Instruction-set kernels live in isa/, one file per set, and the build compiles the files of the target's kernel
 * set (deploy/capabilities.py KERNEL_SETS, chosen by `runtime.kernels` in the target YAML):
 *   - isa/int_c.c, isa/int_dsp.c, isa/int_mve.c: rt_kernel_path, rk_prep, rk_dot_rows_fast
 *     (portable C; Arm DSP SXTB16 + SMLAD; Helium VLDRB + VMLADAVA);
 *   - isa/vec_c.c, isa/vec_mve.c: rk_silu_mul, rk_dot_f32, rk_axpy_f32, rk_exp_shift, rk_quant_row.
 * Group-wise scales: the fast paths need group sizes that are multiples of 32 (or one group per row); others use
 * the portable dot product with the natural-order activations (still exact, just slower).
 */
#include "rt_kernels.h"

#include <string.h>

#include "rt_scalar.h"

float rk_scale(const rt_lin *L, uint32_t r, uint32_t g) {
    size_t idx = L->per_tensor ? 0 : (size_t)r * L->ngroups + g;
    if (L->scale_dtype == 0) {
        float f; memcpy(&f, L->scales + 4 * idx, 4); return f;
    } else if (L->scale_dtype == 2) {
        uint16_t h; uint32_t u; float f;
        memcpy(&h, L->scales + 2 * idx, 2); u = (uint32_t)h << 16; memcpy(&f, &u, 4); return f;
    } else {
        uint16_t h; uint32_t sign, exp, man, u; float f;
        memcpy(&h, L->scales + 2 * idx, 2);
        sign = (uint32_t)(h >> 15) << 31; exp = (h >> 10) & 0x1F; man = h & 0x3FF;
        if (exp == 0x1F) u = sign | 0x7F800000u | (man << 13);
        else if (exp) u = sign | ((exp + 112) << 23) | (man << 13);
        else if (!man) u = sign;
        else { exp = 113; while (!(man & 0x400)) { man <<= 1; exp--; } u = sign | (exp << 23) | ((man & 0x3FF) << 13); }
        memcpy(&f, &u, 4); return f;
    }
}

static inline int32_t code_at(const rt_lin *L, uint32_t r, uint32_t k) {
    const uint8_t *row = L->w + (size_t)r * L->row_bytes;
    if (L->bits == 8) return (int8_t)row[k];
    return (int32_t)((row[k >> 1] >> ((k & 1) * 4)) & 0xF) - (((row[k >> 1] >> ((k & 1) * 4)) & 0x8) << 1);
}

float rk_weight(const rt_lin *L, uint32_t r, uint32_t k) {
    if (L->bits == 32) { float f; memcpy(&f, L->w + ((size_t)r * L->in + k) * 4, 4); return f; }
    return (float)code_at(L, r, k) * rk_scale(L, r, k / L->group);
}

float rk_expf(float x) { return rk_expf_inl(x); }

size_t rk_prep_bytes(uint32_t k) { return 2u * ((size_t)k + 64u); }

/* Portable dot products (natural activation order). */
void rk_dot_rows_c(const rt_lin *L, uint32_t r0, uint32_t nrows, uint32_t k0, uint32_t len, const int8_t *q,
                   int32_t *acc) {
    uint32_t r, k;
    for (r = 0; r < nrows; r++) {
        const uint8_t *row = L->w + (size_t)(r0 + r) * L->row_bytes;
        int32_t a = 0;
        if (L->bits == 8) {
            const int8_t *w = (const int8_t *)row + k0;
            const int8_t *x = q + k0;
            for (k = 0; k < len; k++) a += (int32_t)w[k] * (int32_t)x[k];
        } else {
            for (k = k0; k < k0 + len; k++) {
                int32_t nib = (row[k >> 1] >> ((k & 1) * 4)) & 0xF;
                a += (nib - ((nib & 8) << 1)) * (int32_t)q[k];
            }
        }
        acc[r] = a;
    }
}

void rk_dot_rows(const rt_lin *L, uint32_t r0, uint32_t nrows, uint32_t k0, uint32_t len, const int8_t *q,
                 const void *xprep, int32_t *acc) {
    if (L->fast) rk_dot_rows_fast(L, r0, nrows, k0, len, q, xprep, acc);
    else rk_dot_rows_c(L, r0, nrows, k0, len, q, acc);
}

#define RK_ROWS 16

static inline float scale_fast(const rt_lin *L, uint32_t r, uint32_t g) {
    if (L->scale_dtype == 0) {
        float f;
        memcpy(&f, L->scales + 4 * (L->per_tensor ? 0 : (size_t)r * L->ngroups + g), 4);
        return f;
    }
    return rk_scale(L, r, g);
}

void rk_linear_q(const rt_lin *L, const int8_t *q, const void *xprep, float xs, float *y) {
    int32_t acc[RK_ROWS];
    uint32_t r0, r, g;
    if (L->bits == 32) {   /* float weights: dequantize the activations back (exact: q * xs) */
        uint32_t k;
        for (r = 0; r < L->out; r++) {
            const uint8_t *row = L->w + (size_t)r * L->in * 4;
            float a = 0.0f;
            for (k = 0; k < L->in; k++) { float w; memcpy(&w, row + 4 * k, 4); a += w * ((float)q[k] * xs); }
            y[r] = L->bias ? a + L->bias[r] : a;
        }
        return;
    }
    for (r0 = 0; r0 < L->out; r0 += RK_ROWS) {
        uint32_t nr = L->out - r0 < RK_ROWS ? L->out - r0 : RK_ROWS;
        for (g = 0; g < L->ngroups; g++) {
            uint32_t k0 = g * L->group, len = L->in - k0 < L->group ? L->in - k0 : L->group;
            rk_dot_rows(L, r0, nr, k0, len, q, xprep, acc);
            if (L->ngroups == 1) {
                for (r = 0; r < nr; r++) y[r0 + r] = (float)acc[r] * scale_fast(L, r0 + r, 0);
            } else if (g == 0) {
                for (r = 0; r < nr; r++) y[r0 + r] = (float)acc[r] * scale_fast(L, r0 + r, 0);
            } else {
                for (r = 0; r < nr; r++) y[r0 + r] += (float)acc[r] * scale_fast(L, r0 + r, g);
            }
        }
        for (r = 0; r < nr; r++) {
            y[r0 + r] *= xs;
            if (L->bias) y[r0 + r] += L->bias[r0 + r];
        }
    }
}

void rk_linear_f(const rt_lin *L, const float *x, float *y) {
    uint32_t r, g, k;
    for (r = 0; r < L->out; r++) {
        const uint8_t *row = L->w + (size_t)r * L->row_bytes;
        float a = 0.0f;
        if (L->bits == 32) {
            for (k = 0; k < L->in; k++) { float w; memcpy(&w, row + 4 * k, 4); a += w * x[k]; }
        } else {
            for (g = 0; g < L->ngroups; g++) {
                uint32_t k0 = g * L->group, k1 = k0 + L->group < L->in ? k0 + L->group : L->in;
                float s = rk_scale(L, r, g), part = 0.0f;
                if (L->bits == 8) {
                    for (k = k0; k < k1; k++) part += (float)(int8_t)row[k] * x[k];
                } else {
                    for (k = k0; k < k1; k++) {
                        int32_t nib = (row[k >> 1] >> ((k & 1) * 4)) & 0xF;
                        part += (float)(nib - ((nib & 8) << 1)) * x[k];
                    }
                }
                a += s * part;
            }
        }
        y[r] = L->bias ? a + L->bias[r] : a;
    }
}
