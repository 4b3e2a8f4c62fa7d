/* Bare-metal startup for the QEMU Cortex-M boards (mps2-an386, mps2-an500, mps3-an547): vector table, .data/.bss
 * set-up, FPU/MVE enable, then exit(main()) through newlib + librdimon semihosting (QEMU quits on SYS_EXIT). */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
extern int main(void);
void Reset_Handler(void);
void Default_Handler(void);

__attribute__((section(".vectors"), used)) static const void *const vectors[16] = {
    &__stack_top, (const void *)Reset_Handler,
    (const void *)Default_Handler, (const void *)Default_Handler, (const void *)Default_Handler,
    (const void *)Default_Handler, (const void *)Default_Handler, 0, 0, 0, 0,
    (const void *)Default_Handler, (const void *)Default_Handler, 0,
    (const void *)Default_Handler, (const void *)Default_Handler,
};

static void semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
}

void Default_Handler(void) {
    static const uint32_t args[2] = {0x20024u, 3u};   /* ADP_Stopped_RunTimeErrorUnknown */
    semihost(0x04, "redge: fault\n");
    semihost(0x18, args);
    for (;;) {}
}

void Reset_Handler(void) {
    uint32_t *src = &__data_load, *dst = &__data_start;
    while (dst < &__data_end) *dst++ = *src++;
    for (dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;   /* CPACR: CP10/CP11 full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    exit(main());
}

void _init(void) {}
void _fini(void) {}
