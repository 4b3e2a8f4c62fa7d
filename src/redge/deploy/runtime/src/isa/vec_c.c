/* Float vector kernels, portable C (host, Cortex-M4/M7 and any core without Helium). Kernel sets `c` and `dsp`. */
#include "rt_kernels.h"
#include "rt_scalar.h"

void rk_silu_mul(float *t, uint32_t F) {
    uint32_t i;
    for (i = 0; i < F; i++) t[i] = rk_silu1(t[i], t[F + i]);
}

/* Four running sums, element i into sum i % 4, combined as (s0 + s1) + (s2 + s3): the order Helium's 4 lanes give. */
float rk_dot_f32(const float *a, const float *b, uint32_t n) {
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    uint32_t i;
    for (i = 0; i < n; i++) s[i & 3] += a[i] * b[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

void rk_axpy_f32(float *y, float a, const float *x, uint32_t n) {
    uint32_t i;
    for (i = 0; i < n; i++) y[i] += x[i] * a;
}

void rk_exp_shift(float *x, uint32_t n, float m) {
    uint32_t i;
    for (i = 0; i < n; i++) x[i] = rk_expf_inl(x[i] - m);
}

float rk_quant_row(const float *x, uint32_t k, int8_t *q) {
    float amax = 0.0f, s;
    uint32_t i;
    for (i = 0; i < k; i++) { float a = x[i] < 0 ? -x[i] : x[i]; if (a > amax) amax = a; }
    s = rk_row_scale(amax);
    for (i = 0; i < k; i++) q[i] = rk_q8(x[i], s);
    return s;
}
