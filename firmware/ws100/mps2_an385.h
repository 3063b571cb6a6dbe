/* The few peripherals of QEMU's mps2-an385 (Arm's AN385 FPGA image, Cortex-M3) this firmware
 * uses: CMSDK APB UART0 and timers 0/1, and the Cortex-M3 system control block and NVIC.
 * Addresses and interrupt numbers from Arm's AN385 application note (table "APB peripherals")
 * and QEMU's hw/arm/mps2.c, which follows it. */
#ifndef MPS2_AN385_H
#define MPS2_AN385_H

#include <stdint.h>

#define SYSCLK_HZ 25000000u /* every APB peripheral's clock on the AN385 */

#define REG32(addr) (*(volatile uint32_t *)(addr))

/* CMSDK APB UART0: one-byte holding registers each way, an interrupt per direction */
#define UART0_BASE 0x40004000u
#define UART_DATA(b) REG32((b) + 0x00)
#define UART_STATE(b) REG32((b) + 0x04) /* bit 0 TX full, bit 1 RX full */
#define UART_CTRL(b) REG32((b) + 0x08)
#define UART_INT(b) REG32((b) + 0x0C) /* read: status; write 1: clear */
#define UART_BAUDDIV(b) REG32((b) + 0x10)
#define UART_STATE_TXFULL 1u
#define UART_STATE_RXFULL 2u
#define UART_CTRL_TXEN 1u
#define UART_CTRL_RXEN 2u
#define UART_CTRL_TXIE 4u
#define UART_CTRL_RXIE 8u
#define UART_INT_TX 1u
#define UART_INT_RX 2u
#define IRQ_UART0_RX 0
#define IRQ_UART0_TX 1

/* CMSDK APB timers: 32-bit down counters on the APB clock, reloading at zero */
#define TIMER0_BASE 0x40000000u
#define TIMER1_BASE 0x40001000u
#define TIMER_CTRL(b) REG32((b) + 0x00) /* bit 0 enable, bit 3 interrupt enable */
#define TIMER_VALUE(b) REG32((b) + 0x04)
#define TIMER_RELOAD(b) REG32((b) + 0x08)
#define TIMER_INT(b) REG32((b) + 0x0C)
#define TIMER_CTRL_EN 1u
#define TIMER_CTRL_IE 8u
#define IRQ_TIMER0 8
#define IRQ_TIMER1 9

/* Cortex-M3 system control */
#define NVIC_ISER0 REG32(0xE000E100u)
#define NVIC_ICER0 REG32(0xE000E180u)
#define SCB_AIRCR REG32(0xE000ED0Cu)
#define SCB_SCR REG32(0xE000ED10u)
#define AIRCR_SYSRESETREQ 0x05FA0004u
#define SCR_SLEEPDEEP 4u

static inline void irq_enable(int irq) { NVIC_ISER0 = 1u << irq; }
static inline void irq_disable(int irq) { NVIC_ICER0 = 1u << irq; }
static inline void cpu_irqs_off(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void cpu_irqs_on(void) { __asm volatile("cpsie i" ::: "memory"); }
static inline void cpu_wait_for_interrupt(void) { __asm volatile("dsb\n wfi" ::: "memory"); }

#endif
