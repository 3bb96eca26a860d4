/*
 * fuzz_mutate.h: the shared mutator of the fuzz targets' short modes.
 */
#ifndef LMQ_FUZZ_MUTATE_H
#define LMQ_FUZZ_MUTATE_H

#include <stddef.h>
#include <stdint.h>

/* The next number of the xorshift64* sequence of state *s (non-zero). */
uint64_t lmq_fuzz_rnd(uint64_t *s);
/* Edit the n bytes at b (1-4 random edits, never past max bytes; b has
 * room for max); returns the new length. Byte 0 is kept. */
size_t lmq_fuzz_mutate(uint64_t *s, uint8_t *b, size_t n, size_t max);

#endif
