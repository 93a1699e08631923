/*
 * m4_startup.c: reset and vector table for a Cortex-M4F under qemu-system-arm -M mps2-an386.
 *
 * Reset: enable the FPU (CPACR, before any hard-float code), copy .data from flash, zero .bss,
 * open the semihosting handles, run the constructors, then exit(main()) so that QEMU's exit
 * status is main's return value (run with -semihosting-config enable=on,target=native).
 * A fault exits with status 125 instead of hanging.
 */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);

void Reset_Handler(void);
void Fault_Handler(void);

/* With -nostartfiles nothing provides these; __libc_init_array calls them. */
void _init(void) {}
void _fini(void) {}

#define CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void)
{
    uint32_t *src, *dst;
    CPACR |= 0xFu << 20;  /* CP10 and CP11 (the FPU): full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    for (src = &_sidata, dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
    initialise_monitor_handles();
    __libc_init_array();
    exit(main());
}

void Fault_Handler(void)
{
    exit(125);
}

__attribute__((section(".isr_vector"), used))
static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&_estack,  /* initial stack pointer */
    Reset_Handler,
    Fault_Handler,  /* NMI */
    Fault_Handler,  /* HardFault */
    Fault_Handler,  /* MemManage */
    Fault_Handler,  /* BusFault */
    Fault_Handler,  /* UsageFault */
    0, 0, 0, 0,
    Fault_Handler,  /* SVCall */
    Fault_Handler,  /* DebugMonitor */
    0,
    Fault_Handler,  /* PendSV */
    Fault_Handler,  /* SysTick (never enabled as an interrupt) */
};
