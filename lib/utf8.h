/*
 * utf8.h: the one UTF-8 decoder of lmq (issue 23).
 *
 * Header-only (static inline, libc only) so that the library, the wire
 * layer and the CLI, which see only each other's public symbols, all use
 * this one definition: strict UTF-8 as SQS and the AWS CLI take it, no
 * overlong forms, no surrogates, nothing above U+10FFFF.
 */
#ifndef LMQ_UTF8_H
#define LMQ_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decode the code point at s[*i] (of len bytes) into *cp and advance *i.
 * Returns false, leaving *i alone, on any malformed or non-scalar
 * sequence (a stray continuation byte, a truncated sequence, an overlong
 * form, a surrogate, or above U+10FFFF). */
static inline bool
lmq__utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp)
{
    /* The smallest code point each sequence length may encode; anything
     * below is an overlong form. */
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned char b = s[*i];
    size_t n;
    uint32_t c;

    if (b < 0x80) {
        *cp = b;
        (*i)++;
        return true;
    }
    if (b >= 0xC0 && b <= 0xDF) {
        n = 2;
        c = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        n = 3;
        c = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF7) {
        n = 4;
        c = b & 0x07;
    } else {
        return false; /* continuation byte or 0xF8-0xFF as a lead */
    }
    if (len - *i < n)
        return false; /* truncated */
    for (size_t k = 1; k < n; k++) {
        unsigned char t = s[*i + k];
        if ((t & 0xC0) != 0x80)
            return false;
        c = (c << 6) | (t & 0x3F);
    }
    if (c < min_cp[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return false;
    *cp = c;
    *i += n;
    return true;
}

/* Whether s (len bytes) is well-formed UTF-8 throughout. */
static inline bool
lmq__utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;
    while (i < len)
        if (!lmq__utf8_next(s, len, &i, &cp))
            return false;
    return true;
}

/* The code points of s (len bytes); a malformed byte counts as one. */
static inline size_t
lmq__utf8_count(const unsigned char *s, size_t len)
{
    size_t i = 0, k = 0;
    uint32_t cp;
    while (i < len) {
        if (!lmq__utf8_next(s, len, &i, &cp))
            i++;
        k++;
    }
    return k;
}

#endif
