/* Kernel benchmark firmware: one mat-vec y = W x (W: OUT x IN codes in the weight region) with int8 per-token
 * activations, configured by a 16-byte block the host loads at __input_start (the weight window's last MiB, QEMU
 * -device loader):
 *   u32 magic 'KBEN', u32 bits (8 or 4), u32 group (0 = per channel), u32 reps.
 * Prints "kbench bits group checksum" over semihosting. Instruction counts come from the TCG plugin. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rt_kernels.h"

#define OUT 512
#define IN 512

extern uint8_t __weights_start[], __input_start[];
__attribute__((section(".arena"))) static float scales[OUT * (IN / 32)];
__attribute__((section(".arena"))) static float x[IN];
__attribute__((section(".arena"))) static float y[OUT];
__attribute__((section(".arena"))) static int8_t q[IN];
__attribute__((section(".arena"), aligned(16))) static uint8_t prep[2 * (IN + 64)];

extern void initialise_monitor_handles(void);

static uint32_t lcg(uint32_t *s) { *s = *s * 1664525u + 1013904223u; return *s >> 8; }

__attribute__((noinline)) static void bench_quant(void) {
    float xs = rk_quant_row(x, IN, q);
    (void)xs;
}

int main(void) {
    const uint32_t *cfg = (const uint32_t *)(const void *)__input_start;
    uint32_t bits = 8, group = 0, reps = 1, seed = 12345, i;
    rt_lin L;
    float xs, sum = 0.0f;
    initialise_monitor_handles();
    if (cfg[0] == 0x4E45424Bu) { bits = cfg[1]; group = cfg[2]; reps = cfg[3] ? cfg[3] : 1; }
    memset(&L, 0, sizeof L);
    L.bits = (uint8_t)bits; L.out = OUT; L.in = IN;
    L.group = group ? group : IN; L.ngroups = IN / L.group;
    L.row_bytes = bits == 4 ? IN / 2 : IN;
    L.w = __weights_start; L.scales = (const uint8_t *)scales; L.fast = 1;
    for (i = 0; i < OUT * L.row_bytes; i++) __weights_start[i] = (uint8_t)lcg(&seed);
    if (bits == 8) for (i = 0; i < OUT * L.row_bytes; i++) if (__weights_start[i] == 0x80) __weights_start[i] = 0x81;
    for (i = 0; i < OUT * L.ngroups; i++) scales[i] = 1.0f / (float)(1 + (i & 7));
    for (i = 0; i < IN; i++) x[i] = (float)((int32_t)(lcg(&seed) & 255) - 128) * 0.01f;
    bench_quant();
    xs = rk_quant_row(x, IN, q);
    rk_prep(q, IN, (int)bits, prep);
    for (i = 0; i < reps; i++) rk_linear_q(&L, q, prep, xs, y);
    for (i = 0; i < OUT; i++) sum += y[i] * (float)(1 + (i & 3));
    printf("kbench %lu %lu %.6e\n", (unsigned long)bits, (unsigned long)group, (double)sum);
    return 0;
}
