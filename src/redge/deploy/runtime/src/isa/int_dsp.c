/* Integer mat-vec kernels with the Arm DSP extension (Cortex-M4/M7, M33, M55 without Helium): kernel set `dsp`.
 * Activations are widened to int16 once per call and stored in the order SXTB16 produces weights in; int8:
 * SXTB16 / SXTB16 ROR #8 + SMLAD, 2 rows per pass; int4: (b << 4) & 0xF0F0F0F0 and b & 0xF0F0F0F0 give code*16
 * bytes, then SXTB16 + SMLAD, sum >> 4 at the end.
 */
#if !defined(__ARM_FEATURE_DSP)
#error "kernel set 'dsp' needs a core with the DSP extension (e.g. cflags -mcpu=cortex-m4 -mfloat-abi=hard)"
#endif
#include <arm_acle.h>
#include <string.h>

#include "rt_kernels.h"

const char *rt_kernel_path(void) { return "dsp"; }

/* Elements per permuted chunk of the prepared activations, by weight width. */
static uint32_t chunk(int bits) { return bits == 4 ? 8u : 4u; }

void rk_prep(const int8_t *q, uint32_t k, int bits, void *buf) {
    uint32_t c = chunk(bits), full = k / c * c, i, j;
    int16_t *o = buf;
    if (bits == 4) {   /* per 8: x0 x4 | x2 x6 | x1 x5 | x3 x7 */
        static const uint8_t perm[8] = {0, 4, 2, 6, 1, 5, 3, 7};
        for (i = 0; i < full; i += 8) for (j = 0; j < 8; j++) o[i + j] = q[i + perm[j]];
    } else {           /* per 4: x0 x2 | x1 x3 */
        for (i = 0; i < full; i += 4) { o[i] = q[i]; o[i + 1] = q[i + 2]; o[i + 2] = q[i + 1]; o[i + 3] = q[i + 3]; }
    }
    for (i = full; i < k; i++) o[i] = q[i];
}

static inline uint32_t ld32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static inline uint32_t sxtb16_ror8(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

void rk_dot_rows_fast(const rt_lin *L, uint32_t r0, uint32_t nrows, uint32_t k0, uint32_t len, const int8_t *q,
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
                rk_dot_rows_c(L, r0 + r, 1, k0 + full, len - full, q, tail);
                acc[r] += tail[0];
            }
        }
    }
}
