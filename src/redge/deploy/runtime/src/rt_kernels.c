/* redge runtime kernels: int8 / int4 weight mat-vec with int8 activations (int32 accumulation), in three paths
 * chosen at build time:
 *   - MVE (Helium, Cortex-M55): __ARM_FEATURE_MVE. int8: VLDRB + VMLADAVA, 16 MACs per instruction, 4 rows share
 *     each activation load. int4: one 16-byte load holds 32 codes; low nibbles (even elements) are VSHL'd by 4, high
 *     nibbles (odd elements) masked with 0xF0, so both are code*16 as int8 and VMLADAVA runs on them directly (the
 *     sum is shifted right by 4 at the end, exact). The activations are permuted once per call so that each
 *     32-element chunk is [16 even | 16 odd].
 *   - DSP (Cortex-M4/M7): __ARM_FEATURE_DSP. Activations are widened to int16 once per call and stored in the
 *     order SXTB16 produces weights in; int8: SXTB16 / SXTB16 ROR #8 + SMLAD, 2 rows per pass; int4: (b << 4) &
 *     0xF0F0F0F0 and b & 0xF0F0F0F0 give code*16 bytes, then SXTB16 + SMLAD, sum >> 4 at the end.
 *   - portable C (host, others).
 * Group-wise scales: the fast paths need group sizes that are multiples of 32 (or one group per row); others use
 * the portable dot product with the natural-order activations (still exact, just slower).
 */
#include "rt_kernels.h"

#include <string.h>

#if defined(__ARM_FEATURE_MVE)
#include <arm_mve.h>
#define RK_PATH "mve"
#elif defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#define RK_PATH "dsp"
#else
#define RK_PATH "c"
#endif

const char *rt_kernel_path(void) { return RK_PATH; }

static inline uint32_t ld32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }

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

/* ---------------------------------------------------------------------------------------------------------- */
/* exp: Cody-Waite range reduction + degree-6 polynomial (Cephes expf coefficients), ~1 ulp on [-87.3, 88]. The
 * scalar and MVE forms below execute the same IEEE float32 operations in the same order (n = round-half-even(x *
 * log2 e) via 1.5 * 2^23, no fused multiply-add), so every target -- and the torch mirror in
 * redge.deploy.runtime.numerics -- gets the same bits. x < -87.3 gives 0; x is clamped to 88.7 above. */
#define RK_EXP_HI 88.7f
#define RK_EXP_LO (-87.3f)
#define RK_LOG2E 1.44269504088896341f
#define RK_LN2_HI 0.693359375f
#define RK_LN2_LO 2.12194440e-4f
#define RK_P0 1.9875691500e-4f
#define RK_P1 1.3981999507e-3f
#define RK_P2 8.3334519073e-3f
#define RK_P3 4.1665795894e-2f
#define RK_P4 1.6666665459e-1f
#define RK_P5 5.0000001201e-1f
#define RK_RND 12582912.0f      /* 1.5 * 2^23: x + RK_RND - RK_RND = round-half-even(x) for |x| < 2^22 */

static inline float expf_inl(float x) {
    float n, r, p, r2, s;
    uint32_t bits;
    if (x > RK_EXP_HI) x = RK_EXP_HI;
    if (x < RK_EXP_LO) return 0.0f;
    n = (x * RK_LOG2E + RK_RND) - RK_RND;
    r = x - n * RK_LN2_HI;
    r = r + n * RK_LN2_LO;
    r2 = r * r;
    p = RK_P0 * r + RK_P1;
    p = p * r + RK_P2;
    p = p * r + RK_P3;
    p = p * r + RK_P4;
    p = p * r + RK_P5;
    p = p * r2 + r + 1.0f;
    bits = (uint32_t)((int32_t)n + 127) << 23;
    memcpy(&s, &bits, 4);
    return p * s;
}

float rk_expf(float x) { return expf_inl(x); }

#if defined(__ARM_FEATURE_MVE)
/* Four lanes of expf_inl, operation for operation (VRINTN = the 1.5 * 2^23 rounding in this range). */
static inline float32x4_t vexpq(float32x4_t x) {
    mve_pred16_t under = vcmpltq_n_f32(x, RK_EXP_LO);
    float32x4_t n, r, r2, p;
    int32x4_t bits;
    x = vmaxnmq_f32(vminnmq_f32(x, vdupq_n_f32(RK_EXP_HI)), vdupq_n_f32(RK_EXP_LO));
    n = vrndnq_f32(vmulq_n_f32(x, RK_LOG2E));
    r = vsubq_f32(x, vmulq_n_f32(n, RK_LN2_HI));
    r = vaddq_f32(r, vmulq_n_f32(n, RK_LN2_LO));
    r2 = vmulq_f32(r, r);
    p = vaddq_n_f32(vmulq_n_f32(r, RK_P0), RK_P1);
    p = vaddq_n_f32(vmulq_f32(p, r), RK_P2);
    p = vaddq_n_f32(vmulq_f32(p, r), RK_P3);
    p = vaddq_n_f32(vmulq_f32(p, r), RK_P4);
    p = vaddq_n_f32(vmulq_f32(p, r), RK_P5);
    p = vaddq_n_f32(vaddq_f32(vmulq_f32(p, r2), r), 1.0f);
    bits = vshlq_n_s32(vaddq_n_s32(vcvtq_s32_f32(n), 127), 23);
    return vpselq_f32(vdupq_n_f32(0.0f), vmulq_f32(p, vreinterpretq_f32_s32(bits)), under);
}
#endif

/* SwiGLU gate: t[i] = (g / (1 + exp(-g))) * t[F + i], g = t[i], for i < F (t = [gate | up]). MVE: exp 4 lanes at
 * a time, then the IEEE division per element (Helium has no vector divide); same values as the scalar loop. */
void rk_silu_mul(float *t, uint32_t F) {
    uint32_t i = 0;
#if defined(__ARM_FEATURE_MVE)
    float den[16];
    uint32_t j;
    for (; i + 16 <= F; i += 16) {
        for (j = 0; j < 16; j += 4)
            vst1q_f32(den + j, vaddq_n_f32(vexpq(vnegq_f32(vld1q_f32(t + i + j))), 1.0f));
        for (j = 0; j < 16; j++) t[i + j] = (t[i + j] / den[j]) * t[F + i + j];
    }
#endif
    for (; i < F; i++) {
        float g = t[i];
        t[i] = (g / (1.0f + expf_inl(-g))) * t[F + i];
    }
}

/* Float attention products. rk_dot_f32: four running sums, element i into sum i % 4, combined as (s0 + s1) +
 * (s2 + s3) -- the order Helium's 4 lanes give, used by the scalar path too. rk_axpy_f32: y[i] += a * x[i]
 * (per element, no reordering). rk_exp_shift: x[i] = exp(x[i] - m), vectorised exp. */
float rk_dot_f32(const float *a, const float *b, uint32_t n) {
#if defined(__ARM_FEATURE_MVE)
    float32x4_t acc = vdupq_n_f32(0.0f);
    int32_t left;
    for (left = (int32_t)n; left > 0; left -= 4, a += 4, b += 4) {
        mve_pred16_t p = vctp32q((uint32_t)left);
        acc = vaddq_m_f32(acc, acc, vmulq_f32(vldrwq_z_f32(a, p), vldrwq_z_f32(b, p)), p);
    }
    return (vgetq_lane_f32(acc, 0) + vgetq_lane_f32(acc, 1)) + (vgetq_lane_f32(acc, 2) + vgetq_lane_f32(acc, 3));
#else
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    uint32_t i;
    for (i = 0; i < n; i++) s[i & 3] += a[i] * b[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
#endif
}

void rk_axpy_f32(float *y, float a, const float *x, uint32_t n) {
    uint32_t i = 0;
#if defined(__ARM_FEATURE_MVE)
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vmulq_n_f32(vld1q_f32(x + i), a)));
#endif
    for (; i < n; i++) y[i] += x[i] * a;
}

void rk_exp_shift(float *x, uint32_t n, float m) {
    uint32_t i = 0;
#if defined(__ARM_FEATURE_MVE)
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vexpq(vsubq_n_f32(vld1q_f32(x + i), m)));
#endif
    for (; i < n; i++) x[i] = expf_inl(x[i] - m);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Activation quantization: scale = max|x|/127 (1 for an all-zero row), q = clamp(round_half_even(x / scale),
 * -127, 127) with the IEEE division (what quant.kernels.quantize_per_token computes). MVE: absmax with VMAXNMA,
 * the divisions per element into a 16-float block, then VCVTN (round half even) + clamp + truncating byte store.
 * Scalar: the rounding is read off the bits of x/scale + 1.5 * 2^23 (exact for |x/scale| < 2^22). */
float rk_quant_row(const float *x, uint32_t k, int8_t *q) {
    float amax = 0.0f, s;
    uint32_t i = 0;
#if defined(__ARM_FEATURE_MVE)
    {
        float32x4_t m = vdupq_n_f32(0.0f);
        int32_t left;
        for (left = (int32_t)k; left > 0; left -= 4, i += 4) {
            mve_pred16_t p = vctp32q((uint32_t)left);
            m = vmaxnmaq_m_f32(m, vldrwq_z_f32(x + i, p), p);
        }
        amax = vmaxnmavq_f32(0.0f, m);
        i = 0;
    }
#else
    for (; i < k; i++) { float a = x[i] < 0 ? -x[i] : x[i]; if (a > amax) amax = a; }
    i = 0;
#endif
    s = amax / 127.0f;
    if (!(s > 0.0f)) s = 1.0f;
#if defined(__ARM_FEATURE_MVE)
    {
        float v[16];
        uint32_t j;
        const int32x4_t hi = vdupq_n_s32(127), lo = vdupq_n_s32(-127);
        for (; i + 16 <= k; i += 16) {
            for (j = 0; j < 16; j++) v[j] = x[i + j] / s;
            for (j = 0; j < 16; j += 4)
                vstrbq_s32(q + i + j, vmaxq_s32(vminq_s32(vcvtnq_s32_f32(vld1q_f32(v + j)), hi), lo));
        }
    }
#endif
    for (; i < k; i++) {
        float t = x[i] / s + RK_RND;
        uint32_t b;
        int32_t c;
        memcpy(&b, &t, 4);
        c = (int32_t)b - 0x4B400000;
        q[i] = (int8_t)(c > 127 ? 127 : c < -127 ? -127 : c);
    }
    return s;
}

uint32_t rk_chunk(int bits) {
#if defined(__ARM_FEATURE_MVE)
    return bits == 4 ? 32u : 16u;
#elif defined(__ARM_FEATURE_DSP)
    return bits == 4 ? 8u : 4u;
#else
    (void)bits; return 1u;
#endif
}

size_t rk_prep_bytes(uint32_t k) { return 2u * ((size_t)k + 64u); }

void rk_prep(const int8_t *q, uint32_t k, int bits, void *buf) {
    uint32_t c = rk_chunk(bits), full = k / c * c, i, j;
#if defined(__ARM_FEATURE_MVE)
    int8_t *o = buf;
    if (bits == 4) {
        for (i = 0; i < full; i += 32)
            for (j = 0; j < 16; j++) { o[i + j] = q[i + 2 * j]; o[i + 16 + j] = q[i + 2 * j + 1]; }
    } else {
        memcpy(o, q, full);
    }
    for (i = full; i < k; i++) o[i] = q[i];
#elif defined(__ARM_FEATURE_DSP)
    int16_t *o = buf;
    if (bits == 4) {   /* per 8: x0 x4 | x2 x6 | x1 x5 | x3 x7 */
        static const uint8_t perm[8] = {0, 4, 2, 6, 1, 5, 3, 7};
        for (i = 0; i < full; i += 8) for (j = 0; j < 8; j++) o[i + j] = q[i + perm[j]];
    } else {           /* per 4: x0 x2 | x1 x3 */
        for (i = 0; i < full; i += 4) { o[i] = q[i]; o[i + 1] = q[i + 2]; o[i + 2] = q[i + 1]; o[i + 3] = q[i + 3]; }
    }
    for (i = full; i < k; i++) o[i] = q[i];
    (void)j;
#else
    (void)c; (void)full; (void)i; (void)j; (void)bits;
    memcpy(buf, q, k);
#endif
}

/* Portable dot products (natural activation order). */
static void dot_rows_c(const rt_lin *L, uint32_t r0, uint32_t nrows, uint32_t k0, uint32_t len, const int8_t *q,
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

#if defined(__ARM_FEATURE_MVE)
static void dot_rows_fast(const rt_lin *L, uint32_t r0, uint32_t nrows, uint32_t k0, uint32_t len, const int8_t *q,
                          const void *xprep, int32_t *acc) {
    const int8_t *xp = (const int8_t *)xprep + k0;
    uint32_t r = 0;
    if (L->bits == 8) {
        uint32_t full = len / 16 * 16, k;
        int32_t rem = (int32_t)(len - full);
        for (; r + 4 <= nrows; r += 4) {
            const int8_t *w0 = (const int8_t *)(L->w + (size_t)(r0 + r) * L->row_bytes) + k0;
            const int8_t *w1 = w0 + L->row_bytes, *w2 = w1 + L->row_bytes, *w3 = w2 + L->row_bytes;
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            const int8_t *x = xp;
            for (k = 0; k < full; k += 16) {
                int8x16_t xv = vld1q_s8(x);
                a0 = vmladavaq_s8(a0, vld1q_s8(w0), xv);
                a1 = vmladavaq_s8(a1, vld1q_s8(w1), xv);
                a2 = vmladavaq_s8(a2, vld1q_s8(w2), xv);
                a3 = vmladavaq_s8(a3, vld1q_s8(w3), xv);
                x += 16; w0 += 16; w1 += 16; w2 += 16; w3 += 16;
            }
            if (rem) {
                mve_pred16_t p = vctp8q((uint32_t)rem);
                int8x16_t xv = vldrbq_z_s8(x, p);
                a0 = vmladavaq_p_s8(a0, vldrbq_z_s8(w0, p), xv, p);
                a1 = vmladavaq_p_s8(a1, vldrbq_z_s8(w1, p), xv, p);
                a2 = vmladavaq_p_s8(a2, vldrbq_z_s8(w2, p), xv, p);
                a3 = vmladavaq_p_s8(a3, vldrbq_z_s8(w3, p), xv, p);
            }
            acc[r] = a0; acc[r + 1] = a1; acc[r + 2] = a2; acc[r + 3] = a3;
        }
        for (; r < nrows; r++) {
            const int8_t *w0 = (const int8_t *)(L->w + (size_t)(r0 + r) * L->row_bytes) + k0;
            const int8_t *x = xp;
            int32_t a0 = 0;
            for (k = 0; k < full; k += 16) { a0 = vmladavaq_s8(a0, vld1q_s8(w0), vld1q_s8(x)); x += 16; w0 += 16; }
            if (rem) {
                mve_pred16_t p = vctp8q((uint32_t)rem);
                a0 = vmladavaq_p_s8(a0, vldrbq_z_s8(w0, p), vldrbq_z_s8(x, p), p);
            }
            acc[r] = a0;
        }
    } else {
        uint32_t full = len / 32 * 32, k;
        const uint8x16_t mask = vdupq_n_u8(0xF0);
        for (; r + 2 <= nrows; r += 2) {
            const uint8_t *w0 = L->w + (size_t)(r0 + r) * L->row_bytes + k0 / 2;
            const uint8_t *w1 = w0 + L->row_bytes;
            const int8_t *x = xp;
            int32_t a0 = 0, a1 = 0;
            for (k = 0; k < full; k += 32) {
                int8x16_t xe = vld1q_s8(x), xo = vld1q_s8(x + 16);
                uint8x16_t b0 = vld1q_u8(w0), b1 = vld1q_u8(w1);
                a0 = vmladavaq_s8(a0, vreinterpretq_s8_u8(vshlq_n_u8(b0, 4)), xe);
                a0 = vmladavaq_s8(a0, vreinterpretq_s8_u8(vandq_u8(b0, mask)), xo);
                a1 = vmladavaq_s8(a1, vreinterpretq_s8_u8(vshlq_n_u8(b1, 4)), xe);
                a1 = vmladavaq_s8(a1, vreinterpretq_s8_u8(vandq_u8(b1, mask)), xo);
                x += 32; w0 += 16; w1 += 16;
            }
            acc[r] = a0 >> 4; acc[r + 1] = a1 >> 4;
        }
        for (; r < nrows; r++) {
            const uint8_t *w0 = L->w + (size_t)(r0 + r) * L->row_bytes + k0 / 2;
            const int8_t *x = xp;
            int32_t a0 = 0;
            for (k = 0; k < full; k += 32) {
                uint8x16_t b0 = vld1q_u8(w0);
                a0 = vmladavaq_s8(a0, vreinterpretq_s8_u8(vshlq_n_u8(b0, 4)), vld1q_s8(x));
                a0 = vmladavaq_s8(a0, vreinterpretq_s8_u8(vandq_u8(b0, mask)), vld1q_s8(x + 16));
                x += 32; w0 += 16;
            }
            acc[r] = a0 >> 4;
        }
        if (full < len) {           /* tail in natural order */
            int32_t tail[1];
            for (r = 0; r < nrows; r++) {
                dot_rows_c(L, r0 + r, 1, k0 + full, len - full, q, tail);
                acc[r] += tail[0];
            }
        }
    }
}
#elif defined(__ARM_FEATURE_DSP)
static inline uint32_t sxtb16_ror8(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

static void dot_rows_fast(const rt_lin *L, uint32_t r0, uint32_t nrows, uint32_t k0, uint32_t len, const int8_t *q,
                          const void *xprep, int32_t *acc) {
    const int16_t *xp = (const int16_t *)xprep + k0;
    uint32_t r = 0, k;
    if (L->bits == 8) {
        uint32_t full16 = len / 16 * 16, full4 = len / 4 * 4;
        for (; r + 2 <= nrows; r += 2) {
            const uint8_t *w0 = L->w + (size_t)(r0 + r) * L->row_bytes + k0, *w1 = w0 + L->row_bytes;
            const uint32_t *xw = (const uint32_t *)(const void *)xp;   /* prep buffer: 4-byte aligned */
            const int16_t *x;
            int32_t a0 = 0, a1 = 0;
            for (k = 0; k < full16; k += 16) {
                uint32_t x0 = xw[0], x1 = xw[1], x2 = xw[2], x3 = xw[3];
                uint32_t u0 = ld32(w0), v0 = ld32(w0 + 4), u1 = ld32(w1), v1 = ld32(w1 + 4);
                a0 = __smlad(__sxtb16(u0), x0, a0); a0 = __smlad(sxtb16_ror8(u0), x1, a0);
                a0 = __smlad(__sxtb16(v0), x2, a0); a0 = __smlad(sxtb16_ror8(v0), x3, a0);
                a1 = __smlad(__sxtb16(u1), x0, a1); a1 = __smlad(sxtb16_ror8(u1), x1, a1);
                a1 = __smlad(__sxtb16(v1), x2, a1); a1 = __smlad(sxtb16_ror8(v1), x3, a1);
                x0 = xw[4]; x1 = xw[5]; x2 = xw[6]; x3 = xw[7];
                u0 = ld32(w0 + 8); v0 = ld32(w0 + 12); u1 = ld32(w1 + 8); v1 = ld32(w1 + 12);
                a0 = __smlad(__sxtb16(u0), x0, a0); a0 = __smlad(sxtb16_ror8(u0), x1, a0);
                a0 = __smlad(__sxtb16(v0), x2, a0); a0 = __smlad(sxtb16_ror8(v0), x3, a0);
                a1 = __smlad(__sxtb16(u1), x0, a1); a1 = __smlad(sxtb16_ror8(u1), x1, a1);
                a1 = __smlad(__sxtb16(v1), x2, a1); a1 = __smlad(sxtb16_ror8(v1), x3, a1);
                xw += 8; w0 += 16; w1 += 16;
            }
            x = (const int16_t *)xw;
            for (; k < full4; k += 4) {
                uint32_t x0 = ld32(x), x1 = ld32(x + 2), u0 = ld32(w0), u1 = ld32(w1);
                a0 = __smlad(__sxtb16(u0), x0, a0); a0 = __smlad(sxtb16_ror8(u0), x1, a0);
                a1 = __smlad(__sxtb16(u1), x0, a1); a1 = __smlad(sxtb16_ror8(u1), x1, a1);
                x += 4; w0 += 4; w1 += 4;
            }
            for (; k < len; k++) { a0 += (int8_t)*w0++ * (int32_t)*x; a1 += (int8_t)*w1++ * (int32_t)*x++; }
            acc[r] = a0; acc[r + 1] = a1;
        }
        for (; r < nrows; r++) {
            const uint8_t *w0 = L->w + (size_t)(r0 + r) * L->row_bytes + k0;
            const int16_t *x = xp;
            int32_t a0 = 0;
            for (k = 0; k < full4; k += 4) {
                uint32_t u0 = ld32(w0);
                a0 = __smlad(__sxtb16(u0), ld32(x), a0); a0 = __smlad(sxtb16_ror8(u0), ld32(x + 2), a0);
                x += 4; w0 += 4;
            }
            for (; k < len; k++) a0 += (int8_t)*w0++ * (int32_t)*x++;
            acc[r] = a0;
        }
    } else {
        uint32_t full = len / 8 * 8;
        const uint32_t m = 0xF0F0F0F0u;
        for (; r + 2 <= nrows; r += 2) {
            const uint8_t *w0 = L->w + (size_t)(r0 + r) * L->row_bytes + k0 / 2, *w1 = w0 + L->row_bytes;
            const uint32_t *xw = (const uint32_t *)(const void *)xp;
            int32_t a0 = 0, a1 = 0;
            uint32_t mr = m;
            __asm__("" : "+r"(mr));   /* keep the mask in a register: AND Rd, Rm, Rn, LSL #4 is one instruction */
            for (k = 0; k < full; k += 8) {
                uint32_t x0 = xw[0], x1 = xw[1], x2 = xw[2], x3 = xw[3];
                uint32_t b0 = ld32(w0), b1 = ld32(w1);
                uint32_t l0 = mr & (b0 << 4), h0 = b0 & mr, l1 = mr & (b1 << 4), h1 = b1 & mr;
                a0 = __smlad(__sxtb16(l0), x0, a0); a0 = __smlad(sxtb16_ror8(l0), x1, a0);
                a0 = __smlad(__sxtb16(h0), x2, a0); a0 = __smlad(sxtb16_ror8(h0), x3, a0);
                a1 = __smlad(__sxtb16(l1), x0, a1); a1 = __smlad(sxtb16_ror8(l1), x1, a1);
                a1 = __smlad(__sxtb16(h1), x2, a1); a1 = __smlad(sxtb16_ror8(h1), x3, a1);
                xw += 4; w0 += 4; w1 += 4;
            }
            acc[r] = a0 >> 4; acc[r + 1] = a1 >> 4;
        }
        for (; r < nrows; r++) {
            const uint8_t *w0 = L->w + (size_t)(r0 + r) * L->row_bytes + k0 / 2;
            const int16_t *x = xp;
            int32_t a0 = 0;
            for (k = 0; k < full; k += 8) {
                uint32_t b0 = ld32(w0), l0 = (b0 << 4) & m, h0 = b0 & m;
                a0 = __smlad(__sxtb16(l0), ld32(x), a0); a0 = __smlad(sxtb16_ror8(l0), ld32(x + 2), a0);
                a0 = __smlad(__sxtb16(h0), ld32(x + 4), a0); a0 = __smlad(sxtb16_ror8(h0), ld32(x + 6), a0);
                x += 8; w0 += 4;
            }
            acc[r] = a0 >> 4;
        }
        if (full < len) {
            int32_t tail[1];
            for (r = 0; r < nrows; r++) {
                dot_rows_c(L, r0 + r, 1, k0 + full, len - full, q, tail);
                acc[r] += tail[0];
            }
        }
    }
}
#endif

void rk_dot_rows(const rt_lin *L, uint32_t r0, uint32_t nrows, uint32_t k0, uint32_t len, const int8_t *q,
                 const void *xprep, int32_t *acc) {
#if defined(__ARM_FEATURE_MVE) || defined(__ARM_FEATURE_DSP)
    if (L->fast) { dot_rows_fast(L, r0, nrows, k0, len, q, xprep, acc); return; }
#endif
    (void)xprep;
    dot_rows_c(L, r0, nrows, k0, len, q, acc);
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
