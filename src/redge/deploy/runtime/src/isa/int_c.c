/* Integer mat-vec kernels, portable C (host and any core): kernel set `c`. Activations stay in natural order. */
#include <string.h>

#include "rt_kernels.h"

const char *rt_kernel_path(void) { return "c"; }

void rk_prep(const int8_t *q, uint32_t k, int bits, void *buf) { (void)bits; memcpy(buf, q, k); }

void rk_dot_rows_fast(const rt_lin *L, uint32_t r0, uint32_t nrows, uint32_t k0, uint32_t len, const int8_t *q,
                      const void *xprep, int32_t *acc) {
    (void)xprep;
    rk_dot_rows_c(L, r0, nrows, k0, len, q, acc);
}
