/* Internal kernel interface of the redge runtime. rt_kernels.c holds the ISA-independent part; each kernel set
 * (the files in isa/, picked by the build from the target's `runtime.kernels`) defines the functions marked [ISA]. */
#ifndef RT_KERNELS_H
#define RT_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "redge_rt.h"

/* Bytes of the prepared-activation buffer for `k` inputs. */
size_t rk_prep_bytes(uint32_t k);
/* [ISA] Per-row symmetric int8 quantization: returns the scale (max|x|/127, or 1 for an all-zero row). */
float rk_quant_row(const float *x, uint32_t k, int8_t *q);
/* [ISA] Reorder/widen the int8 activation row for the kernel path (no-op copy for the portable path). */
void rk_prep(const int8_t *q, uint32_t k, int bits, void *buf);
/* int32 dot products of rows [r0, r0 + nrows) of L over inputs [k0, k0 + len) with the prepared activations:
 * rk_dot_rows_fast when L->fast (group boundaries on the SIMD chunks), else rk_dot_rows_c. */
void rk_dot_rows(const rt_lin *L, uint32_t r0, uint32_t nrows, uint32_t k0, uint32_t len, const int8_t *q,
                 const void *xprep, int32_t *acc);
/* Portable dot products over natural-order activations q (the fallback and the SIMD kernels' tails). */
void rk_dot_rows_c(const rt_lin *L, uint32_t r0, uint32_t nrows, uint32_t k0, uint32_t len, const int8_t *q,
                   int32_t *acc);
/* [ISA] The same sums over the rk_prep-ared activations xprep (q for tails). */
void rk_dot_rows_fast(const rt_lin *L, uint32_t r0, uint32_t nrows, uint32_t k0, uint32_t len, const int8_t *q,
                      const void *xprep, int32_t *acc);
/* y[out] = linear(x) with int8 activations (q / xprep from rk_quant_row + rk_prep, scale xs). */
void rk_linear_q(const rt_lin *L, const int8_t *q, const void *xprep, float xs, float *y);
/* y[out] = linear(x) with float activations. */
void rk_linear_f(const rt_lin *L, const float *x, float *y);
/* One scale value of L (row r, group g). */
float rk_scale(const rt_lin *L, uint32_t r, uint32_t g);
/* Dequantized element (r, k) of L. */
float rk_weight(const rt_lin *L, uint32_t r, uint32_t k);
/* exp(x) in float32, ~1 ulp, same result on every target (no libm; mirrored by runtime/numerics.py). */
float rk_expf(float x);
/* [ISA] t[i] = silu(t[i]) * t[F + i] for i < F (SwiGLU gate on t = [gate | up]). */
void rk_silu_mul(float *t, uint32_t F);
/* [ISA] Attention helpers: sum a[i] * b[i] (4 partial sums, fixed order), y += a * x, x[i] = exp(x[i] - m). */
float rk_dot_f32(const float *a, const float *b, uint32_t n);
void rk_axpy_f32(float *y, float a, const float *x, uint32_t n);
void rk_exp_shift(float *x, uint32_t n, float m);

#endif
