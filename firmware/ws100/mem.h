/* The four string functions the firmware uses (mem.c): no C library is linked, and <string.h>
 * comes with one (newlib), which a bare `gcc-arm-none-eabi` install does not have. */
#ifndef MEM_H
#define MEM_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int value, size_t n);
size_t strlen(const char *text);

#endif
