/* Reset and the vector table: what runs before main() on a Cortex-M3 without a C library. */
#include <stdint.h>

extern uint32_t _stack_top, _data_start, _data_end, _data_load, _bss_start, _bss_end;
extern int main(void);
void uart0_rx_irq(void);
void uart0_tx_irq(void);
void timer0_irq(void);
void timer1_irq(void);

void reset_handler(void)
{
    uint32_t *src = &_data_load;
    for (uint32_t *dst = &_data_start; dst < &_data_end;)
        *dst++ = *src++;
    for (uint32_t *dst = &_bss_start; dst < &_bss_end;)
        *dst++ = 0;
    main();
    for (;;)
        ;
}

static void fault_handler(void)
{
    for (;;) /* a fault stops the board: the bench sees it stop answering */
        ;
}

typedef void (*vector)(void);

/* 16 system exceptions, then the AN385's external interrupts 0..9 */
__attribute__((section(".vectors"), used)) static const vector vectors[16 + 10] = {
    [0] = (vector)&_stack_top,
    [1] = reset_handler,
    [2] = fault_handler, /* NMI */
    [3] = fault_handler, /* HardFault */
    [4] = fault_handler, /* MemManage */
    [5] = fault_handler, /* BusFault */
    [6] = fault_handler, /* UsageFault */
    [11] = fault_handler, /* SVCall */
    [14] = fault_handler, /* PendSV */
    [15] = fault_handler, /* SysTick: not used */
    [16 + 0] = uart0_rx_irq,
    [16 + 1] = uart0_tx_irq,
    [16 + 8] = timer0_irq,
    [16 + 9] = timer1_irq,
};
