/*
 * codec.c: encode and decode the stored records: queue records, message
 * headers, message records, and the fixed-width keys.
 *
 * All integers are big-endian. Each variable record starts with a version
 * byte so a later format can be read next to this one. The message is split
 * in two: an immutable record (ids, attributes, body) written once, and a
 * small fixed-size header (visibility, receive count, timestamps) rewritten
 * on every receive, so receive and change-visibility touch a 40-byte value
 * instead of copying the body. A message's first header travels inside its
 * record (version 2), so a send writes one row instead of two; the separate
 * header row only appears once something changes it (queue_std.c).
 * Decoders never trust lengths: every read is bounds-checked and a short or
 * inconsistent buffer is LMQ_ECORRUPT.
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

#define QREC_VERSION 6 /* 2 added due_ms and sweep_ms, 3 front_seq, 4 the
                         * metric totals and history minute, 5 the seal key,
                         * 6 the stored bytes and the removal totals; 1-5
                         * are still read (totals 0, clear, stored bytes 0
                         * until the home's upgrade counts them) */
#define MREC_VERSION 2 /* 2 carries the first header; 1 is still read */
#define MREC_SEALED 3  /* 2 with its contents sealed (seal.c) */

/* ---- bounded reader ----------------------------------------------------- */

typedef struct rd {
    const uint8_t *p;
    size_t left;
    bool bad;
} rd;

static const uint8_t *
take(rd *r, size_t n)
{
    if (r->bad || r->left < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static uint8_t
rd_u8(rd *r)
{
    const uint8_t *p = take(r, 1);
    return p ? p[0] : 0;
}

static uint16_t
rd_u16(rd *r)
{
    const uint8_t *p = take(r, 2);
    return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}

static uint32_t
rd_u32(rd *r)
{
    const uint8_t *p = take(r, 4);
    return p ? lmq__get_u32(p) : 0;
}

static uint64_t
rd_u64(rd *r)
{
    const uint8_t *p = take(r, 8);
    return p ? lmq__get_u64(p) : 0;
}

static void
put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* ---- keys ------------------------------------------------------------------ */

void
lmq__mkey(uint8_t k[LMQ_MKEY_LEN], uint32_t qid, uint64_t seq)
{
    lmq__put_u32(k, qid);
    lmq__put_u64(k + 4, seq);
}

void
lmq__vkey(uint8_t k[LMQ_VKEY_LEN], uint32_t qid, int64_t at, uint64_t seq)
{
    lmq__put_u32(k, qid);
    /* Times are positive epoch ms; clamp negatives so order holds. */
    lmq__put_u64(k + 4, at < 0 ? 0 : (uint64_t)at);
    lmq__put_u64(k + 12, seq);
}

/* ---- queue records ---------------------------------------------------------- */

void
lmq__qrec_init(lmq_qrec *r)
{
    memset(r, 0, sizeof *r);
    r->visibility_timeout = 30;
    r->retention = 345600;
    r->max_size = LMQ_MAX_MSG_SIZE;
}

void
lmq__qrec_free(lmq_qrec *r)
{
    lmq_map_free(r->attrs);
    lmq_map_free(r->tags);
    r->attrs = r->tags = NULL;
}

enum {
    QF_FIFO = 1,
    QF_CBD = 2,
    QF_SCOPE_GROUP = 4,
    QF_TP_GROUP = 8,
};

#define QREC_FIXED (1 + 4 + 1 + 8 * 2 + 4 * 6 + 8 + 8 * 8 + 8 * 6 + 1 + 1 + \
                    8 + 4 + 8 * 5)

int
lmq__qrec_encode(const lmq_qrec *r, uint8_t **buf, size_t *len)
{
    uint8_t *ab = NULL, *tb = NULL;
    size_t al = 0, tl = 0, namelen = strlen(r->name);
    int rc;
    const uint8_t *tail = r->tail;
    size_t tail_len = r->tail_len;

    if (r->attrs || r->tags || !tail) {
        if ((rc = lmq__map_encode(r->attrs, &ab, &al)) != 0)
            return rc;
        if ((rc = lmq__map_encode(r->tags, &tb, &tl)) != 0) {
            free(ab);
            return rc;
        }
        tail = NULL;
        tail_len = 8 + al + tl;
    }
    size_t n = QREC_FIXED + namelen + tail_len;
    uint8_t *b = malloc(n), *p = b;
    if (!b) {
        free(ab);
        free(tb);
        return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    *p++ = QREC_VERSION;
    lmq__put_u32(p, r->qid), p += 4;
    *p++ = (uint8_t)((r->fifo ? QF_FIFO : 0) | (r->content_dedup ? QF_CBD : 0) |
                     (r->dedup_scope_group ? QF_SCOPE_GROUP : 0) |
                     (r->throughput_per_group ? QF_TP_GROUP : 0));
    lmq__put_u64(p, (uint64_t)r->created_ms), p += 8;
    lmq__put_u64(p, (uint64_t)r->modified_ms), p += 8;
    lmq__put_u32(p, r->visibility_timeout), p += 4;
    lmq__put_u32(p, r->retention), p += 4;
    lmq__put_u32(p, r->max_size), p += 4;
    lmq__put_u32(p, r->delay), p += 4;
    lmq__put_u32(p, r->wait), p += 4;
    lmq__put_u32(p, r->redrive_max), p += 4;
    lmq__put_u64(p, r->next_seq), p += 8;
    lmq__put_u64(p, (uint64_t)r->n_visible), p += 8;
    lmq__put_u64(p, (uint64_t)r->n_inflight), p += 8;
    lmq__put_u64(p, (uint64_t)r->n_delayed), p += 8;
    lmq__put_u64(p, (uint64_t)r->settled_ms), p += 8;
    lmq__put_u64(p, (uint64_t)r->last_purge_ms), p += 8;
    lmq__put_u64(p, (uint64_t)r->due_ms), p += 8;
    lmq__put_u64(p, (uint64_t)r->sweep_ms), p += 8;
    lmq__put_u64(p, r->front_seq), p += 8;
    lmq__put_u64(p, r->m_sent), p += 8;
    lmq__put_u64(p, r->m_sent_bytes), p += 8;
    lmq__put_u64(p, r->m_received), p += 8;
    lmq__put_u64(p, r->m_deleted), p += 8;
    lmq__put_u64(p, r->m_empty), p += 8;
    lmq__put_u64(p, r->m_minute), p += 8;
    *p++ = r->seal_kind;
    memcpy(p, r->seal_fp, 8), p += 8;
    lmq__put_u32(p, r->seal_reuse), p += 4;
    lmq__put_u64(p, r->stored_bytes), p += 8;
    lmq__put_u64(p, r->m_dropped), p += 8;
    lmq__put_u64(p, r->m_expired), p += 8;
    lmq__put_u64(p, r->m_purged), p += 8;
    lmq__put_u64(p, r->m_moved), p += 8;
    *p++ = (uint8_t)namelen;
    memcpy(p, r->name, namelen), p += namelen;
    if (tail) {
        memcpy(p, tail, tail_len);
    } else {
        lmq__put_u32(p, (uint32_t)al), p += 4;
        if (al)
            memcpy(p, ab, al), p += al;
        lmq__put_u32(p, (uint32_t)tl), p += 4;
        if (tl)
            memcpy(p, tb, tl);
    }
    free(ab);
    free(tb);
    *buf = b;
    *len = n;
    return 0;
}

int
lmq__qrec_decode(const void *buf, size_t len, bool maps, lmq_qrec *r)
{
    rd d = {buf, len, false};
    lmq__qrec_init(r);
    uint8_t version = rd_u8(&d);
    if (version < 1 || version > QREC_VERSION)
        return lmq__seterr(LMQ_ECORRUPT, "queue record: unknown version");
    r->qid = rd_u32(&d);
    uint8_t f = rd_u8(&d);
    r->fifo = f & QF_FIFO;
    r->content_dedup = f & QF_CBD;
    r->dedup_scope_group = f & QF_SCOPE_GROUP;
    r->throughput_per_group = f & QF_TP_GROUP;
    r->created_ms = (int64_t)rd_u64(&d);
    r->modified_ms = (int64_t)rd_u64(&d);
    r->visibility_timeout = rd_u32(&d);
    r->retention = rd_u32(&d);
    r->max_size = rd_u32(&d);
    r->delay = rd_u32(&d);
    r->wait = rd_u32(&d);
    r->redrive_max = rd_u32(&d);
    r->next_seq = rd_u64(&d);
    r->n_visible = (int64_t)rd_u64(&d);
    r->n_inflight = (int64_t)rd_u64(&d);
    r->n_delayed = (int64_t)rd_u64(&d);
    r->settled_ms = (int64_t)rd_u64(&d);
    r->last_purge_ms = (int64_t)rd_u64(&d);
    if (version >= 2) {
        r->due_ms = (int64_t)rd_u64(&d);
        r->sweep_ms = (int64_t)rd_u64(&d);
    }
    /* Before 3 every message has a vis entry: none lies at or after the
     * next seq. */
    r->front_seq = version >= 3 ? rd_u64(&d) : r->next_seq + 1;
    if (version >= 4) {
        r->m_sent = rd_u64(&d);
        r->m_sent_bytes = rd_u64(&d);
        r->m_received = rd_u64(&d);
        r->m_deleted = rd_u64(&d);
        r->m_empty = rd_u64(&d);
        r->m_minute = rd_u64(&d);
    }
    if (version >= 5) {
        r->seal_kind = rd_u8(&d);
        const uint8_t *fp = take(&d, 8);
        if (fp)
            memcpy(r->seal_fp, fp, 8);
        r->seal_reuse = rd_u32(&d);
        if (r->seal_kind > LMQ_SEAL_KMS)
            return lmq__seterr(LMQ_ECORRUPT, "queue record: bad seal kind");
    }
    if (version >= 6) {
        r->stored_bytes = rd_u64(&d);
        r->m_dropped = rd_u64(&d);
        r->m_expired = rd_u64(&d);
        r->m_purged = rd_u64(&d);
        r->m_moved = rd_u64(&d);
    }
    uint8_t nl = rd_u8(&d);
    const uint8_t *name = take(&d, nl);
    if (d.bad || nl > 80)
        return lmq__seterr(LMQ_ECORRUPT, "queue record: truncated");
    memcpy(r->name, name, nl);
    r->name[nl] = '\0';
    r->tail = d.p;
    r->tail_len = d.left;
    /* Validate the tail's framing even when not decoding it. */
    uint32_t al = rd_u32(&d);
    const uint8_t *ab = take(&d, al);
    uint32_t tl = rd_u32(&d);
    const uint8_t *tb = take(&d, tl);
    if (d.bad || d.left != 0)
        return lmq__seterr(LMQ_ECORRUPT, "queue record: bad tail");
    if (!maps)
        return 0;
    int rc = lmq__map_decode(ab, al, &r->attrs);
    if (rc == 0)
        rc = lmq__map_decode(tb, tl, &r->tags);
    if (rc) {
        lmq__qrec_free(r);
        return rc;
    }
    r->tail = NULL;
    r->tail_len = 0;
    return 0;
}

/* ---- message headers ---------------------------------------------------------- */

void
lmq__mhdr_encode(const lmq_mhdr *h, uint8_t out[LMQ_MHDR_SIZE])
{
    lmq__put_u64(out, (uint64_t)h->visible_at);
    lmq__put_u64(out + 8, (uint64_t)h->enqueue_ms);
    lmq__put_u64(out + 16, (uint64_t)h->first_recv_ms);
    lmq__put_u64(out + 24, (uint64_t)h->recv_start_ms);
    lmq__put_u32(out + 32, h->recv_count);
    out[36] = h->state;
    out[37] = h->flags;
    out[38] = out[39] = 0;
}

int
lmq__mhdr_decode(const void *buf, size_t len, lmq_mhdr *h)
{
    const uint8_t *p = buf;
    if (len != LMQ_MHDR_SIZE)
        return lmq__seterr(LMQ_ECORRUPT, "message header: bad size");
    h->visible_at = (int64_t)lmq__get_u64(p);
    h->enqueue_ms = (int64_t)lmq__get_u64(p + 8);
    h->first_recv_ms = (int64_t)lmq__get_u64(p + 16);
    h->recv_start_ms = (int64_t)lmq__get_u64(p + 24);
    h->recv_count = lmq__get_u32(p + 32);
    h->state = p[36];
    h->flags = p[37]; /* 0 in formats 1 and 2 */
    return 0;
}

/* ---- message records -------------------------------------------------------------- */

/* version, first header, 36 id, 32 md5, sent, 4 x u16 string lengths,
 * attrs u32, body u32 (version 1 had no header) */
#define MREC_FIXED (1 + LMQ_MHDR_SIZE + 36 + 32 + 8 + 2 * 4 + 4 + 4)

size_t
lmq__mview_size(const lmq_mview *m)
{
    return MREC_FIXED + m->group_len + m->dedup_len + m->trace_len +
           m->dlq_src_len + m->attrs_len + m->body_len;
}

static uint8_t *
put_str16(uint8_t *p, const char *s, size_t n)
{
    put_u16(p, (uint16_t)n);
    if (n)
        memcpy(p + 2, s, n);
    return p + 2 + n;
}

/* Writes the shared tail rd_tail() reads. */
static void
put_tail(const lmq_mview *m, uint8_t *p)
{
    p = put_str16(p, m->dedup, m->dedup_len);
    p = put_str16(p, m->trace, m->trace_len);
    p = put_str16(p, m->dlq_src, m->dlq_src_len);
    lmq__put_u32(p, (uint32_t)m->attrs_len), p += 4;
    if (m->attrs_len)
        memcpy(p, m->attrs, m->attrs_len), p += m->attrs_len;
    lmq__put_u32(p, (uint32_t)m->body_len), p += 4;
    if (m->body_len)
        memcpy(p, m->body, m->body_len);
}

void
lmq__mview_encode(const lmq_mview *m, const lmq_mhdr *h, uint8_t *p)
{
    *p++ = MREC_VERSION;
    lmq__mhdr_encode(h, p), p += LMQ_MHDR_SIZE;
    memcpy(p, m->message_id, 36), p += 36;
    memcpy(p, m->md5_body, 32), p += 32;
    lmq__put_u64(p, (uint64_t)m->sent_ms), p += 8;
    p = put_str16(p, m->group, m->group_len);
    put_tail(m, p);
}

static const char *
rd_str16(rd *d, size_t *n)
{
    *n = rd_u16(d);
    const uint8_t *p = take(d, *n);
    return *n ? (const char *)p : NULL;
}

/* The tail both record kinds share (a clear record's after its group id, a
 * sealed record's plaintext after its MD5): dedup id, trace header, DLQ
 * source, attributes, body; it must end the buffer. what names the record
 * in the error. */
static int
rd_tail(rd *d, lmq_mview *m, const char *what)
{
    m->dedup = rd_str16(d, &m->dedup_len);
    m->trace = rd_str16(d, &m->trace_len);
    m->dlq_src = rd_str16(d, &m->dlq_src_len);
    m->attrs_len = rd_u32(d);
    m->attrs = take(d, m->attrs_len);
    m->body_len = rd_u32(d);
    m->body = (const char *)take(d, m->body_len);
    if (d->bad || d->left != 0)
        return lmq__seterr(LMQ_ECORRUPT, "%s: bad framing", what);
    if (m->attrs_len == 0)
        m->attrs = NULL;
    return 0;
}

/* ---- sealed message records (version 3) ----------------------------------
 * version, first header, 36 id, sent, group (str16), key fingerprint (8),
 * period u32, nonce (24), ciphertext length u32, ciphertext of the inner
 * encoding: 32 md5, dedup, trace, DLQ source (str16 each), attrs (u32
 * length), body (u32 length); plus its 16-byte tag. Everything before the
 * ciphertext is authenticated with it (seal.c). */
#define SREC_FIXED (1 + LMQ_MHDR_SIZE + 36 + 8 + 2 + 8 + 4 + LMQ_SEAL_NONCE + 4)

size_t
lmq__mview_inner_size(const lmq_mview *m)
{
    return 32 + 2 * 3 + 4 + 4 + m->dedup_len + m->trace_len + m->dlq_src_len +
           m->attrs_len + m->body_len;
}

void
lmq__mview_inner_encode(const lmq_mview *m, uint8_t *p)
{
    memcpy(p, m->md5_body, 32), p += 32;
    put_tail(m, p);
}

int
lmq__mview_inner_decode(const uint8_t *buf, size_t len, lmq_mview *m)
{
    rd d = {buf, len, false};
    const uint8_t *md5 = take(&d, 32);
    if (d.bad)
        return lmq__seterr(LMQ_ECORRUPT, "sealed message: truncated");
    memcpy(m->md5_body, md5, 32);
    m->md5_body[32] = '\0';
    return rd_tail(&d, m, "sealed message");
}

size_t
lmq__msealed_size(const lmq_mview *m)
{
    return SREC_FIXED + m->group_len + lmq__mview_inner_size(m) +
           LMQ_SEAL_TAG;
}

uint8_t *
lmq__msealed_encode(const lmq_mview *m, const lmq_mhdr *h, const uint8_t fp[8],
                    uint32_t period, size_t ct_len, uint8_t *p, uint8_t **nonce)
{
    *p++ = MREC_SEALED;
    lmq__mhdr_encode(h, p), p += LMQ_MHDR_SIZE;
    memcpy(p, m->message_id, 36), p += 36;
    lmq__put_u64(p, (uint64_t)m->sent_ms), p += 8;
    p = put_str16(p, m->group, m->group_len);
    memcpy(p, fp, 8), p += 8;
    lmq__put_u32(p, period), p += 4;
    *nonce = p, p += LMQ_SEAL_NONCE;
    lmq__put_u32(p, (uint32_t)ct_len), p += 4;
    return p;
}

static int
decode_sealed(rd *d, const void *buf, lmq_mview *m)
{
    take(d, LMQ_MHDR_SIZE);
    const uint8_t *id = take(d, 36);
    if (d->bad)
        return lmq__seterr(LMQ_ECORRUPT, "message record: truncated");
    memcpy(m->message_id, id, 36);
    m->sent_ms = (int64_t)rd_u64(d);
    m->group = rd_str16(d, &m->group_len);
    const uint8_t *fp = take(d, 8);
    m->period = rd_u32(d);
    m->nonce = take(d, LMQ_SEAL_NONCE);
    m->ct_len = rd_u32(d);
    m->ct = take(d, m->ct_len);
    if (d->bad || d->left != 0 || m->ct_len < LMQ_SEAL_TAG)
        return lmq__seterr(LMQ_ECORRUPT, "message record: bad framing");
    memcpy(m->fp, fp, 8);
    m->rec = buf;
    m->sealed = true;
    return 0;
}

int
lmq__mview_decode(const void *buf, size_t len, lmq_mview *m)
{
    rd d = {buf, len, false};
    memset(m, 0, sizeof *m);
    uint8_t version = rd_u8(&d);
    if (version == MREC_SEALED)
        return decode_sealed(&d, buf, m);
    if (version != 1 && version != MREC_VERSION)
        return lmq__seterr(LMQ_ECORRUPT, "message record: unknown version");
    if (version >= 2)
        take(&d, LMQ_MHDR_SIZE);
    const uint8_t *id = take(&d, 36), *md5 = take(&d, 32);
    if (d.bad)
        return lmq__seterr(LMQ_ECORRUPT, "message record: truncated");
    memcpy(m->message_id, id, 36);
    memcpy(m->md5_body, md5, 32);
    m->sent_ms = (int64_t)rd_u64(&d);
    m->group = rd_str16(&d, &m->group_len);
    return rd_tail(&d, m, "message record");
}

/* The fixed framing of the sealed inner encoding: md5, three str16
 * lengths, the attributes' and the body's u32 lengths. */
#define INNER_FIXED (32 + 2 * 3 + 4 + 4)

size_t
lmq__mview_stored_size(const lmq_mview *mv, bool sealed)
{
    return sealed ? lmq__mview_inner_size(mv) - INNER_FIXED
                  : lmq__metrics_msg_size(mv);
}

size_t
lmq__mrec_stored_size(const void *buf, size_t len)
{
    lmq_mview mv;
    if (lmq__mview_decode(buf, len, &mv) != 0)
        return 0;
    if (mv.sealed) /* its inner encoding less the framing, as above */
        return mv.ct_len >= LMQ_SEAL_TAG + INNER_FIXED
                   ? mv.ct_len - LMQ_SEAL_TAG - INNER_FIXED
                   : 0;
    return lmq__metrics_msg_size(&mv);
}

int
lmq__mrec_hdr(const void *buf, size_t len, lmq_mhdr *h)
{
    const uint8_t *p = buf;
    if (len < 1 || (p[0] != 1 && p[0] != MREC_VERSION && p[0] != MREC_SEALED))
        return lmq__seterr(LMQ_ECORRUPT, "message record: unknown version");
    if (p[0] == 1)
        return LMQ__NOTFOUND; /* its header is always a row of its own */
    if (len < 1 + LMQ_MHDR_SIZE)
        return lmq__seterr(LMQ_ECORRUPT, "message record: truncated");
    return lmq__mhdr_decode(p + 1, LMQ_MHDR_SIZE, h);
}
