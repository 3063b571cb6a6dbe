/* WS-100 reference firmware: the serial protocol of docs/protocol.md on UART0 of an mps2-an385.
 *
 * Interrupts fill a receive ring and drain a transmit ring; the main loop parses frames, answers
 * them, streams telemetry and sleeps in `wfi` when there is nothing to do (a polling loop would
 * spin a host core and drop frames when the host is busy). Time is read from a free-running
 * hardware counter (timer 0): counting tick interrupts drifts whenever QEMU is descheduled.
 *
 * Defect builds (`make VARIANT=<name>`, defects.toml) compile in one real bug each, under
 * DEFECT_<NAME>. */
#include <stddef.h>
#include <stdint.h>

#include "mailbox.h"
#include "mem.h"
#include "mps2_an385.h"

#define FW_MAJOR 1
#define FW_MINOR 4
#define FW_PATCH 2
#define FW_VERSION "1.4.2"
#define PART_NUMBER "WS-100"
#define HW_REVISION "B"
static const uint8_t BLE_ADDRESS[6] = {0xC0, 0xFF, 0xEE, 0x00, 0x01, 0x23};

#ifdef DEFECT_TELEMETRY_CLOCK
#define TELEMETRY_CLOCK_HZ 20000000u /* the bug: the period is computed for a 20 MHz timer */
#else
#define TELEMETRY_CLOCK_HZ SYSCLK_HZ
#endif

enum { SYNC0 = 0xA5, SYNC1 = 0x5A, VERSION = 1, HEADER = 7, CRC_SIZE = 2, MAX_PAYLOAD = 512 };
enum { PING = 0x01, GET_INFO, READ_SENSORS, SET_MODE, SELF_TEST, SET_STREAM,
       FACTORY_WRITE_SERIAL, RESET, TELEMETRY = 0x40, NACK = 0x7F, RESPONSE = 0x80 };
enum { BAD_CRC = 1, UNKNOWN_TYPE, BAD_LENGTH, BAD_VALUE, ALREADY_PROVISIONED,
       UNSUPPORTED_VERSION };
enum { MODE_SLEEP = 0, MODE_IDLE, MODE_ACTIVE, MODE_RADIO_TEST };
#define INTERBYTE_TIMEOUT_MS 20u

/* ---- time: timer 0 free-running over its full 32 bits, read on demand ------------------- */
#define TICKS_PER_MS (SYSCLK_HZ / 1000u)
static uint32_t clock_last = 0xFFFFFFFFu;
static uint64_t clock_ticks; /* APB clock ticks since boot */
static uint32_t clock_ms, clock_sub;

static uint32_t irqs_save(void)
{
    uint32_t primask;
    __asm volatile("mrs %0, primask\n cpsid i" : "=r"(primask)::"memory");
    return primask;
}

static void irqs_restore(uint32_t primask) { __asm volatile("msr primask, %0" ::"r"(primask) : "memory"); }

/* Fold the ticks since the last read into the clock; timer 0's wrap interrupt calls it too, so
 * no 2^32-tick period (172 s) is ever missed. */
static void clock_update(void)
{
    uint32_t saved = irqs_save();
    uint32_t value = TIMER_VALUE(TIMER0_BASE);
    uint32_t elapsed = clock_last - value; /* a down counter, modulo 2^32 */
    clock_last = value;
    clock_ticks += elapsed;
    clock_ms += elapsed / TICKS_PER_MS;
    clock_sub += elapsed % TICKS_PER_MS;
    if (clock_sub >= TICKS_PER_MS) {
        clock_sub -= TICKS_PER_MS;
        clock_ms++;
    }
    irqs_restore(saved);
}

static uint64_t now_ticks(void)
{
    clock_update();
    return clock_ticks;
}

static uint32_t now_ms(void)
{
    clock_update();
    return clock_ms;
}

void timer0_irq(void)
{
    TIMER_INT(TIMER0_BASE) = 1;
    clock_update();
}

void timer1_irq(void) { TIMER_INT(TIMER1_BASE) = 1; /* only wakes the main loop */ }

static void clock_init(void)
{
    TIMER_RELOAD(TIMER0_BASE) = 0xFFFFFFFFu;
    TIMER_VALUE(TIMER0_BASE) = 0xFFFFFFFFu;
    TIMER_CTRL(TIMER0_BASE) = TIMER_CTRL_EN | TIMER_CTRL_IE;
    irq_enable(IRQ_TIMER0);
    irq_enable(IRQ_TIMER1);
}

/* Timer 1 wakes the main loop every millisecond, and every 25 us while bytes are arriving. Time is
 * never counted from it (timer 0 is the clock); it works around QEMU 7.2: QEMU's main loop
 * sometimes does not look at the UART's chardev again until some other event wakes it (seen: a
 * frame stalled mid-way for the 172 s until timer 0 wrapped). A guest timer is such an event, so
 * it bounds the stall to its period. */
#define WAKE_IDLE_TICKS TICKS_PER_MS
#define WAKE_RX_TICKS (SYSCLK_HZ / 40000u)
#define RX_BURST_MS 2u

static void wakeups(uint32_t period)
{
    if (TIMER_RELOAD(TIMER1_BASE) != period - 1 || !TIMER_CTRL(TIMER1_BASE)) {
        TIMER_RELOAD(TIMER1_BASE) = period - 1;
        TIMER_VALUE(TIMER1_BASE) = period - 1;
        TIMER_CTRL(TIMER1_BASE) = TIMER_CTRL_EN | TIMER_CTRL_IE;
    }
}

/* ---- UART0: rings filled and drained by interrupts ---------------------------------------- */
#define RX_SIZE 1024u
#define TX_SIZE 4096u
static volatile uint8_t rx_ring[RX_SIZE], tx_ring[TX_SIZE];
static volatile uint32_t rx_head, rx_tail, tx_head, tx_tail; /* head: next write */

static uint32_t rx_count(void) { return rx_head - rx_tail; }
static uint32_t tx_free(void) { return TX_SIZE - (tx_head - tx_tail); }

/* Take bytes from the UART while the ring has room; when it is full the byte stays in the UART,
 * which then refuses the next one: QEMU holds it back instead of dropping it. */
static void rx_pull(void)
{
    while ((UART_STATE(UART0_BASE) & UART_STATE_RXFULL) && rx_count() < RX_SIZE) {
        rx_ring[rx_head % RX_SIZE] = (uint8_t)UART_DATA(UART0_BASE);
        rx_head++;
    }
}

void uart0_rx_irq(void)
{
    UART_INT(UART0_BASE) = UART_INT_RX;
    rx_pull();
}

static void tx_push_next(void)
{
    if (tx_head != tx_tail && !(UART_STATE(UART0_BASE) & UART_STATE_TXFULL)) {
        UART_DATA(UART0_BASE) = tx_ring[tx_tail % TX_SIZE];
        tx_tail++;
    }
}

void uart0_tx_irq(void)
{
    UART_INT(UART0_BASE) = UART_INT_TX;
    tx_push_next();
}

static void uart_write(const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        cpu_irqs_off();
        while (tx_free() == 0) { /* the TX interrupt drains it; wfi wakes on it */
            cpu_wait_for_interrupt();
            cpu_irqs_on();
            cpu_irqs_off();
        }
        tx_ring[tx_head % TX_SIZE] = data[i];
        tx_head++;
        tx_push_next();
        cpu_irqs_on();
    }
}

static void uart_puts(const char *text) { uart_write((const uint8_t *)text, (uint32_t)strlen(text)); }

static void uart_flush(void)
{
    cpu_irqs_off();
    while (tx_head != tx_tail || (UART_STATE(UART0_BASE) & UART_STATE_TXFULL)) {
        cpu_wait_for_interrupt();
        cpu_irqs_on();
        cpu_irqs_off();
    }
    cpu_irqs_on();
}

static void uart_init(void)
{
    UART_BAUDDIV(UART0_BASE) = SYSCLK_HZ / 115200u;
    UART_CTRL(UART0_BASE) = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_TXIE | UART_CTRL_RXIE;
    irq_enable(IRQ_UART0_RX);
    irq_enable(IRQ_UART0_TX);
}

/* ---- frames ---------------------------------------------------------------------------------- */
static uint16_t crc16(const uint8_t *data, uint32_t len)
{
    uint16_t crc = 0xFFFF; /* CRC-16/CCITT-FALSE */
    while (len--) {
        crc ^= (uint16_t)(*data++ << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

static int crc_matches(uint16_t received, uint16_t computed)
{
#ifdef DEFECT_CRC8
    return (uint8_t)received == (uint8_t)computed; /* the bug: the CRC kept in a uint8_t */
#else
    return received == computed;
#endif
}

static uint8_t frame_out[HEADER + MAX_PAYLOAD + CRC_SIZE];

/* Build one frame in frame_out; `payload` may point into it. */
static uint32_t frame_build(uint8_t type, uint8_t seq, const uint8_t *payload, uint32_t len)
{
    frame_out[0] = SYNC0;
    frame_out[1] = SYNC1;
    frame_out[2] = VERSION;
    frame_out[3] = type;
    frame_out[4] = seq;
    frame_out[5] = (uint8_t)len;
    frame_out[6] = (uint8_t)(len >> 8);
    if (payload != frame_out + HEADER)
        memmove(frame_out + HEADER, payload, len);
    uint16_t crc = crc16(frame_out + 2, HEADER - 2 + len);
    frame_out[HEADER + len] = (uint8_t)crc;
    frame_out[HEADER + len + 1] = (uint8_t)(crc >> 8);
    return HEADER + len + CRC_SIZE;
}

static void send(uint8_t type, uint8_t seq, const uint8_t *payload, uint32_t len)
{
    uart_write(frame_out, frame_build(type, seq, payload, len));
}

static void nack(uint8_t request_type, uint8_t seq, uint8_t code)
{
    const uint8_t payload[2] = {request_type, code};
    send(NACK, seq, payload, 2);
}

static uint8_t *put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    return put16(put16(p, v), v >> 16);
}

static uint8_t *put_text(uint8_t *p, const char *text)
{
    uint32_t len = (uint32_t)strlen(text);
    *p++ = (uint8_t)len;
    memcpy(p, text, len);
    return p + len;
}

/* ---- the board: mailbox, sensors, modes ------------------------------------------------------ */
static int mailbox_valid(void)
{
    return MAILBOX->magic == MAILBOX_MAGIC && MAILBOX->version == MAILBOX_VERSION;
}

static uint32_t noise_state;

static int32_t noise(int32_t amplitude)
{
    noise_state ^= noise_state << 13; /* xorshift32 */
    noise_state ^= noise_state >> 17;
    noise_state ^= noise_state << 5;
    return (int32_t)(noise_state % (uint32_t)(2 * amplitude + 1)) - amplitude;
}

/* One conversion of every sensor: the bench's environment plus the sensors' own noise. */
static uint8_t *put_sensors(uint8_t *p)
{
    static uint8_t reading[10];
#ifdef DEFECT_STUCK_SENSOR
    static int converted; /* the bug: the first conversion is kept and never started again */
    if (converted)
        return (uint8_t *)memcpy(p, reading, sizeof reading) + sizeof reading;
    converted = 1;
#endif
    int32_t cdeg = 0, cpct = 0, dpa = 0, mv = 0;
    if (mailbox_valid()) {
        cdeg = MAILBOX->temperature_mc / 10 + noise(6);
        cpct = (int32_t)(MAILBOX->humidity_mpct / 10) + noise(25);
        dpa = (int32_t)MAILBOX->pressure_dpa + noise(40);
        mv = (int32_t)MAILBOX->supply_mv + noise(3);
    }
    uint8_t *q = put16(reading, (uint32_t)cdeg);
    q = put16(q, (uint32_t)(cpct < 0 ? 0 : cpct));
    q = put32(q, (uint32_t)(dpa < 0 ? 0 : dpa));
    put16(q, (uint32_t)(mv < 0 ? 0 : mv));
    return (uint8_t *)memcpy(p, reading, sizeof reading) + sizeof reading;
}

static uint8_t mode = MODE_IDLE;

static void set_mode(uint8_t wanted)
{
    mode = wanted;
#ifdef DEFECT_NEVER_SLEEPS
    MAILBOX->power_mode = wanted == MODE_SLEEP ? MODE_IDLE : wanted; /* the bug: sleep is ignored */
#else
    MAILBOX->power_mode = wanted;
#endif
}

static int stream_on;
static uint32_t stream_period; /* APB ticks */
static uint64_t stream_due;
static uint32_t telemetry_counter;

static void stream_tick(void)
{
    uint8_t payload[18];
    if (!stream_on || now_ticks() < stream_due)
        return;
    stream_due += stream_period;
    telemetry_counter++;
    uint8_t *p = put32(payload, telemetry_counter);
    p = put32(p, now_ms());
    put_sensors(p);
    uint32_t size = frame_build(TELEMETRY, (uint8_t)telemetry_counter, payload, sizeof payload);
    if (tx_free() >= size) /* a full line drops telemetry, never a reply */
        uart_write(frame_out, size);
}

/* ---- requests -------------------------------------------------------------------------------- */
static void reboot(void)
{
    uart_flush(); /* the empty RESET response leaves before the reset */
    SCB_AIRCR = AIRCR_SYSRESETREQ;
    for (;;)
        ;
}

static void handle(uint8_t type, uint8_t seq, const uint8_t *payload, uint32_t len)
{
    static uint8_t out[MAX_PAYLOAD];
    uint8_t *p = out;
    uint8_t reply = type | RESPONSE;
    switch (type) {
    case PING:
        send(reply, seq, payload, len);
        return;
    case GET_INFO:
    case READ_SENSORS:
    case SELF_TEST:
    case RESET:
        if (len != 0)
            break;
        if (type == GET_INFO) {
            volatile uint8_t *serial = MAILBOX->serial;
            *p++ = serial[0];
            for (uint32_t i = 0; i < serial[0]; i++)
                *p++ = serial[1 + i];
            p = put_text(p, PART_NUMBER);
            p = put_text(p, HW_REVISION);
            *p++ = FW_MAJOR;
            *p++ = FW_MINOR;
            *p++ = FW_PATCH;
            memcpy(p, BLE_ADDRESS, sizeof BLE_ADDRESS);
            p += sizeof BLE_ADDRESS;
        } else if (type == READ_SENSORS) {
            p = put_sensors(p);
        } else if (type == SELF_TEST) {
            p = put16(p, mailbox_valid() ? 0 : 0x01); /* no sensor inputs: the sensor failed */
        }
        send(reply, seq, out, (uint32_t)(p - out));
        if (type == RESET)
            reboot();
        return;
    case SET_MODE:
        if (len != 1)
            break;
        if (payload[0] > MODE_RADIO_TEST) {
            nack(type, seq, BAD_VALUE);
            return;
        }
        set_mode(payload[0]);
        send(reply, seq, payload, 1);
        return;
    case SET_STREAM: {
        if (len != 3)
            break;
        uint32_t rate = payload[1] | (uint32_t)payload[2] << 8;
        if (payload[0] && (rate < 1 || rate > 200)) {
            nack(type, seq, BAD_VALUE);
            return;
        }
        stream_on = payload[0] != 0;
        if (stream_on) {
            stream_period = TELEMETRY_CLOCK_HZ / rate;
            stream_due = now_ticks() + stream_period;
        }
        send(reply, seq, payload, 3);
        return;
    }
    case FACTORY_WRITE_SERIAL:
        if (len < 1 || payload[0] != len - 1)
            break;
        for (uint32_t i = 1; i < len; i++)
            if (payload[i] > 0x7F)
                goto bad_length; /* not ASCII: the payload does not parse */
        if (MAILBOX->serial[0]) {
            nack(type, seq, ALREADY_PROVISIONED);
            return;
        }
        for (uint32_t i = 0; i < len; i++)
            MAILBOX->serial[i] = payload[i];
        send(reply, seq, payload, len);
        return;
    default:
        nack(type, seq, UNKNOWN_TYPE); /* telemetry, NACK and responses included */
        return;
    }
bad_length:
    nack(type, seq, BAD_LENGTH);
}

/* ---- the receiver: frames out of the byte stream, resynchronising on damage ------------------ */
static uint8_t acc[HEADER + MAX_PAYLOAD + CRC_SIZE];
static uint32_t acc_len, last_rx_ms;

static void consume(uint32_t count)
{
    memmove(acc, acc + count, acc_len - count);
    acc_len -= count;
}

/* Answer every complete frame at the head of `acc`; skip one byte after damage (docs/protocol.md,
 * Resynchronization); console text and noise between frames are dropped. */
static void parse(void)
{
    for (;;) {
        uint32_t start = 0;
        while (start < acc_len && !(acc[start] == SYNC0 && (start + 1 == acc_len || acc[start + 1] == SYNC1)))
            start++;
        consume(start);
        if (acc_len < HEADER)
            return;
        uint32_t len = acc[5] | (uint32_t)acc[6] << 8;
        if (len > MAX_PAYLOAD) {
            nack(acc[3], acc[4], BAD_LENGTH);
            consume(1);
            continue;
        }
        uint32_t size = HEADER + len + CRC_SIZE;
        if (acc_len < size)
            return;
        uint16_t received = acc[HEADER + len] | (uint16_t)(acc[HEADER + len + 1] << 8);
        if (!crc_matches(received, crc16(acc + 2, HEADER - 2 + len))) {
            nack(acc[3], acc[4], BAD_CRC);
            consume(1);
            continue;
        }
        if (acc[2] != VERSION) {
            nack(acc[3], acc[4], UNSUPPORTED_VERSION);
            consume(1);
            continue;
        }
        handle(acc[3], acc[4], acc + HEADER, len);
        consume(size);
    }
}

static void receive(void)
{
    while (rx_count()) {
        while (rx_count() && acc_len < sizeof acc) {
            acc[acc_len++] = rx_ring[rx_tail % RX_SIZE];
            rx_tail++;
        }
        last_rx_ms = now_ms();
        parse();
        cpu_irqs_off();
        rx_pull(); /* bytes the full ring left in the UART */
        cpu_irqs_on();
    }
    if (acc_len && now_ms() - last_rx_ms >= INTERBYTE_TIMEOUT_MS) {
        if (acc_len >= HEADER) /* a header that promised more than came */
            nack(acc[3], acc[4], BAD_LENGTH);
        consume(1);
        parse();
    }
}

/* ---- boot and the main loop ------------------------------------------------------------------ */
static void print_banner(uint32_t boot)
{
    char digits[11];
    int n = 0;
    do {
        digits[n++] = (char)('0' + boot % 10);
        boot /= 10;
    } while (boot);
    uart_puts("\r\ncitebench-fw " FW_VERSION " (" PART_NUMBER " rev " HW_REVISION ") boot #");
    while (n)
        uart_write((const uint8_t *)&digits[--n], 1);
    uart_puts("\r\nready\r\n");
}

int main(void)
{
    clock_init();
    uart_init();
    uint32_t boot = 0;
    if (mailbox_valid()) {
        MAILBOX->state = FW_BOOTING;
        boot = ++MAILBOX->boot_count;
        noise_state = MAILBOX->seed ^ (boot * 0x9E3779B9u);
    }
    if (!noise_state)
        noise_state = 0x2545F491u;
    set_mode(MODE_IDLE);
    print_banner(boot);
    uart_flush();
    MAILBOX->boot_time_us = (uint32_t)(now_ticks() / (SYSCLK_HZ / 1000000u));
    MAILBOX->state = FW_RUNNING;
    for (;;) {
        receive();
        stream_tick();
        if (acc_len || now_ms() - last_rx_ms < RX_BURST_MS)
            wakeups(WAKE_RX_TICKS);
        else
            wakeups(WAKE_IDLE_TICKS);
        cpu_irqs_off();
        if (!rx_count()) {
            SCB_SCR = mode == MODE_SLEEP ? SCR_SLEEPDEEP : 0;
            cpu_wait_for_interrupt();
        }
        cpu_irqs_on();
    }
}
