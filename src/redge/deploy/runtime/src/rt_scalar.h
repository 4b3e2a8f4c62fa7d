/* Scalar float helpers shared by the portable kernels and the SIMD files' tails (static inline: one definition,
 * the same IEEE float32 operations in the same order wherever they are used; see runtime/numerics.py). */
#ifndef RT_SCALAR_H
#define RT_SCALAR_H

#include <stdint.h>
#include <string.h>

/* exp: Cody-Waite range reduction + degree-6 polynomial (Cephes expf coefficients), ~1 ulp on [-87.3, 88]. The
 * scalar and MVE forms execute the same IEEE float32 operations in the same order (n = round-half-even(x * log2 e)
 * via 1.5 * 2^23, no fused multiply-add), so every target -- and the torch mirror in redge.deploy.runtime.numerics
 * -- gets the same bits. x < -87.3 gives 0; x is clamped to 88.7 above; NaN (a blob's NaN or inf weights make
 * them) comes back as NaN before the float -> int conversion, which would be undefined for it. */
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

static inline float rk_expf_inl(float x) {
    float n, r, p, r2, s;
    uint32_t bits;
    if (x != x) return x;
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

/* SwiGLU of one element: silu(g) * up with the runtime's exp. */
static inline float rk_silu1(float g, float up) { return (g / (1.0f + rk_expf_inl(-g))) * up; }

/* Per-row activation scale from max|x|: max|x| / 127, or 1 for an all-zero (or NaN) row. */
static inline float rk_row_scale(float amax) {
    float s = amax / 127.0f;
    return s > 0.0f ? s : 1.0f;
}

/* One int8 activation code: clamp(round_half_even(x / s), -127, 127), the rounding read off the bits of
 * x / s + 1.5 * 2^23 (exact for |x / s| < 2^22). */
static inline int8_t rk_q8(float x, float s) {
    float t = x / s + RK_RND;
    uint32_t b;
    int32_t c;
    memcpy(&b, &t, 4);
    c = (int32_t)b - 0x4B400000;
    return (int8_t)(c > 127 ? 127 : c < -127 ? -127 : c);
}

#endif
