/* Float vector kernels on Helium (MVE, Cortex-M55): kernel set `helium`. Each function computes the same IEEE
 * float32 values as isa/vec_c.c (same operations, same order), only 4 lanes at a time; tails use rt_scalar.h. */
#if !defined(__ARM_FEATURE_MVE)
#error "kernel set 'helium' needs a core with MVE (e.g. cflags -mcpu=cortex-m55 -mfloat-abi=hard)"
#endif
#include <arm_mve.h>

#include "rt_kernels.h"
#include "rt_scalar.h"

/* Four lanes of rk_expf_inl, operation for operation (VRINTN = the 1.5 * 2^23 rounding in this range). */
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

/* exp 4 lanes at a time, then the IEEE division per element (Helium has no vector divide). */
void rk_silu_mul(float *t, uint32_t F) {
    float den[16];
    uint32_t i = 0, j;
    for (; i + 16 <= F; i += 16) {
        for (j = 0; j < 16; j += 4)
            vst1q_f32(den + j, vaddq_n_f32(vexpq(vnegq_f32(vld1q_f32(t + i + j))), 1.0f));
        for (j = 0; j < 16; j++) t[i + j] = (t[i + j] / den[j]) * t[F + i + j];
    }
    for (; i < F; i++) t[i] = rk_silu1(t[i], t[F + i]);
}

float rk_dot_f32(const float *a, const float *b, uint32_t n) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    int32_t left;
    for (left = (int32_t)n; left > 0; left -= 4, a += 4, b += 4) {
        mve_pred16_t p = vctp32q((uint32_t)left);
        acc = vaddq_m_f32(acc, acc, vmulq_f32(vldrwq_z_f32(a, p), vldrwq_z_f32(b, p)), p);
    }
    return (vgetq_lane_f32(acc, 0) + vgetq_lane_f32(acc, 1)) + (vgetq_lane_f32(acc, 2) + vgetq_lane_f32(acc, 3));
}

void rk_axpy_f32(float *y, float a, const float *x, uint32_t n) {
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vmulq_n_f32(vld1q_f32(x + i), a)));
    for (; i < n; i++) y[i] += x[i] * a;
}

void rk_exp_shift(float *x, uint32_t n, float m) {
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vexpq(vsubq_n_f32(vld1q_f32(x + i), m)));
    for (; i < n; i++) x[i] = rk_expf_inl(x[i] - m);
}

/* absmax with VMAXNMA, the divisions per element into a 16-float block, then VCVTN (round half even) + clamp +
 * truncating byte store. */
float rk_quant_row(const float *x, uint32_t k, int8_t *q) {
    float32x4_t m = vdupq_n_f32(0.0f);
    float v[16], s;
    uint32_t i = 0, j;
    int32_t left;
    const int32x4_t hi = vdupq_n_s32(127), lo = vdupq_n_s32(-127);
    for (left = (int32_t)k; left > 0; left -= 4, i += 4) {
        mve_pred16_t p = vctp32q((uint32_t)left);
        m = vmaxnmaq_m_f32(m, vldrwq_z_f32(x + i, p), p);
    }
    s = rk_row_scale(vmaxnmavq_f32(0.0f, m));
    for (i = 0; i + 16 <= k; i += 16) {
        for (j = 0; j < 16; j++) v[j] = x[i + j] / s;
        for (j = 0; j < 16; j += 4)
            vstrbq_s32(q + i + j, vmaxq_s32(vminq_s32(vcvtnq_s32_f32(vld1q_f32(v + j)), hi), lo));
    }
    for (; i < k; i++) q[i] = rk_q8(x[i], s);
    return s;
}
