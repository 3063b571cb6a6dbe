/* The bench's mailbox: the world outside the MCU, as the bench emulates it, and what the firmware
 * tells the board's hardware. ABI version 1; docs/firmware-in-the-loop.md is its reference and
 * emulators/qemu_mailbox.py its other side.
 *
 * It sits at the start of the AN385's 16 MB PSRAM (0x21000000), which the bench backs with a file
 * it maps (QEMU's QMP cannot write guest memory). The firmware's image has no section there, so
 * QEMU's loader, which re-applies every ELF segment on reset, leaves it alone: what the firmware
 * keeps across resets (boot count, the factory-written serial number) lives here too. */
#ifndef MAILBOX_H
#define MAILBOX_H

#include <stdint.h>

#define MAILBOX_ADDR 0x21000000u
#define MAILBOX_MAGIC 0x424D4243u /* "CBMB" little-endian */
#define MAILBOX_VERSION 1u

enum fw_state { FW_OFF = 0, FW_BOOTING = 1, FW_RUNNING = 2 };

struct mailbox {
    /* written by the bench before the guest runs */
    uint32_t magic;          /* 0x00 MAILBOX_MAGIC */
    uint16_t version;        /* 0x04 MAILBOX_VERSION */
    uint16_t size;           /* 0x06 sizeof(struct mailbox) */
    uint32_t seed;           /* 0x08 seed of the sensors' noise */
    /* bench -> firmware: the board's inputs, updated while the guest runs */
    uint32_t supply_mv;      /* 0x0C voltage at the battery terminals, mV */
    int32_t temperature_mc;  /* 0x10 ambient temperature, milli-degC */
    uint32_t humidity_mpct;  /* 0x14 relative humidity, milli-%RH */
    uint32_t pressure_dpa;   /* 0x18 pressure, 0.1 Pa */
    uint32_t reserved_in;    /* 0x1C 0 */
    /* firmware -> bench */
    uint32_t boot_count;     /* 0x20 boots since the bench created the mailbox */
    uint8_t state;           /* 0x24 enum fw_state: FW_RUNNING once the banner is out */
    uint8_t power_mode;      /* 0x25 the power mode the MCU is in: 0 sleep .. 3 radio test */
    uint16_t reserved_out;   /* 0x26 0 */
    uint32_t boot_time_us;   /* 0x28 reset to FW_RUNNING, on the firmware's own clock */
    /* the board's flash: a factory-written serial number (u8 length + ASCII) */
    uint8_t serial[256];     /* 0x2C */
};

#define MAILBOX ((volatile struct mailbox *)MAILBOX_ADDR)

#endif
