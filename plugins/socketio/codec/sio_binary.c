/*
 * Binary reconstruction: a BINARY_EVENT / BINARY_ACK header announces N
 * attachments; exactly N binary buffers follow. The placeholders were
 * checked when the header arrived (sio__decode), so completion only
 * attaches bytes; a bad header fails before any attachment is accepted.
 */
#include <stdlib.h>
#include <string.h>

#include "sio_internal.h"

void sio_message_clear(sio_message *m)
{
    if (m == NULL)
        return;
    if (m->att) {
        for (uint32_t k = 0; k < m->pkt.attachments; k++)
            free(m->att[k].bytes);
        free(m->att);
    }
    sio_packet_clear(&m->pkt);
    memset(m, 0, sizeof *m);
}

void sio_decoder_init(sio_decoder *d, const sio_limits *lim)
{
    memset(d, 0, sizeof *d);
    if (lim)
        d->lim = *lim;
    else
        sio_limits_default(&d->lim);
}

void sio_decoder_reset(sio_decoder *d)
{
    sio_message_clear(&d->pending);
    d->reconstructing = 0;
    d->received = 0;
    d->received_bytes = 0;
}

static int fail_reset(sio_decoder *d, int rc)
{
    sio_decoder_reset(d);
    return rc;
}

/* Hand the pending packet over to *out and go back to idle. */
static int complete(sio_decoder *d, sio_message *out)
{
    *out = d->pending;
    memset(&d->pending, 0, sizeof d->pending);
    d->reconstructing = 0;
    d->received = 0;
    d->received_bytes = 0;
    return SIO_DECODED;
}

/* The header's spans point into the caller's buffer, which is gone by the
 * time the attachments arrive: keep an owned copy of the namespace. */
static int own_namespace(sio_packet *p)
{
    if (p->nsp_len == 1 && p->nsp[0] == '/') {
        p->nsp = "/";
        return 0;
    }
    p->owned = malloc(p->nsp_len + 1);
    if (p->owned == NULL)
        return PARLEY_ENOMEM;
    memcpy(p->owned, p->nsp, p->nsp_len);
    p->owned[p->nsp_len] = '\0';
    p->nsp = p->owned;
    return 0;
}

int sio_decoder_text(sio_decoder *d, const char *buf, size_t len, sio_message *out,
                     parley_error *err)
{
    cJSON *stack_refs[SIO_STACK_REFS];
    cJSON **refs = stack_refs;
    sio_packet pkt;
    int rc;

    if (out == NULL)
        return sio__fail(err, PARLEY_EINVAL, "NULL argument");
    memset(out, 0, sizeof *out);
    if (d->reconstructing)
        return fail_reset(d, sio__fail(err, PARLEY_EPROTO,
                                       "got text while reconstructing a binary packet "
                                       "(%u of %u attachments received)",
                                       (unsigned)d->received,
                                       (unsigned)d->pending.pkt.attachments));
    if (d->lim.max_attachments > SIO_STACK_REFS) {
        refs = calloc(d->lim.max_attachments, sizeof *refs);
        if (refs == NULL)
            return sio__fail(err, PARLEY_ENOMEM, "out of memory");
    } else {
        memset(stack_refs, 0, sizeof stack_refs);
    }
    rc = sio__decode(buf, len, &d->lim, &pkt, refs, err);
    if (rc < 0)
        goto done;
    if (pkt.type != SIO_BINARY_EVENT && pkt.type != SIO_BINARY_ACK) {
        out->pkt = pkt;
        rc = SIO_DECODED;
        goto done;
    }
    /* Only the spans into buf need fixing; the event name lives in the tree. */
    pkt.payload = NULL;
    pkt.payload_len = 0;
    if (own_namespace(&pkt) < 0) {
        sio_packet_clear(&pkt);
        rc = sio__fail(err, PARLEY_ENOMEM, "out of memory");
        goto done;
    }
    d->pending.pkt = pkt;
    if (pkt.attachments > 0) {
        /* pkt.attachments <= max_attachments, checked by the header. */
        d->pending.att = calloc(pkt.attachments, sizeof *d->pending.att);
        if (d->pending.att == NULL) {
            sio_message_clear(&d->pending);
            rc = sio__fail(err, PARLEY_ENOMEM, "out of memory");
            goto done;
        }
        for (uint32_t k = 0; k < pkt.attachments; k++)
            d->pending.att[k].node = refs[k];
    }
    d->reconstructing = 1;
    rc = pkt.attachments == 0 ? complete(d, out) : SIO_PENDING;
done:
    if (refs != stack_refs)
        free(refs);
    return rc;
}

int sio_decoder_binary(sio_decoder *d, const uint8_t *buf, size_t len, sio_message *out,
                       parley_error *err)
{
    sio_attachment *a;

    if (out == NULL || (buf == NULL && len > 0))
        return sio__fail(err, PARLEY_EINVAL, "NULL argument");
    memset(out, 0, sizeof *out);
    if (!d->reconstructing)
        return fail_reset(d, sio__fail(err, PARLEY_EPROTO,
                                       "got binary data when not reconstructing a packet"));
    if (len > d->lim.max_attachment_bytes - d->received_bytes)
        return fail_reset(d, sio__fail(err, PARLEY_ETOOBIG,
                                       "attachments exceed the limit of %zu bytes",
                                       d->lim.max_attachment_bytes));
    a = &d->pending.att[d->received];
    a->bytes = malloc(len > 0 ? len : 1);
    if (a->bytes == NULL)
        return fail_reset(d, sio__fail(err, PARLEY_ENOMEM, "out of memory"));
    if (len > 0)
        memcpy(a->bytes, buf, len);
    a->len = len;
    d->received_bytes += len;
    if (++d->received < d->pending.pkt.attachments)
        return SIO_PENDING;
    return complete(d, out);
}
