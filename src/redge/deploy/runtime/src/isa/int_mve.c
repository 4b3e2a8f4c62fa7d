/* Integer mat-vec kernels on Helium (MVE, Cortex-M55): kernel set `helium`.
 *   int8: VLDRB + VMLADAVA, 16 MACs per instruction, 4 rows share each activation load.
 *   int4: one 16-byte load holds 32 codes; low nibbles (even elements) are VSHL'd by 4, high nibbles (odd elements)
 *   masked with 0xF0, so both are code*16 as int8 and VMLADAVA runs on them directly (the sum is shifted right by 4
 *   at the end, exact). The activations are permuted once per call so that each 32-element chunk is
 *   [16 even | 16 odd].
 */
#if !defined(__ARM_FEATURE_MVE)
#error "kernel set 'helium' needs a core with MVE (e.g. cflags -mcpu=cortex-m55 -mfloat-abi=hard)"
#endif
#include <arm_mve.h>
#include <string.h>

#include "rt_kernels.h"

const char *rt_kernel_path(void) { return "mve"; }

/* Elements per permuted chunk of the prepared activations, by weight width. */
static uint32_t chunk(int bits) { return bits == 4 ? 32u : 16u; }

void rk_prep(const int8_t *q, uint32_t k, int bits, void *buf) {
    uint32_t c = chunk(bits), full = k / c * c, i, j;
    int8_t *o = buf;
    if (bits == 4) {
        for (i = 0; i < full; i += 32)
            for (j = 0; j < 16; j++) { o[i + j] = q[i + 2 * j]; o[i + 16 + j] = q[i + 2 * j + 1]; }
    } else {
        memcpy(o, q, full);
    }
    for (i = full; i < k; i++) o[i] = q[i];
}

void rk_dot_rows_fast(const rt_lin *L, uint32_t r0, uint32_t nrows, uint32_t k0, uint32_t len, const int8_t *q,
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
                rk_dot_rows_c(L, r0 + r, 1, k0 + full, len - full, q, tail);
                acc[r] += tail[0];
            }
        }
    }
}
