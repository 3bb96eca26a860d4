/*
 * error.c: the error table (generated from LMQ_ERRNO_MAP in lmq.h) and the
 * thread-local error detail returned by lmq_errmsg().
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char errbuf[512];

struct errinfo {
    int code;
    const char *name;
    const char *sqs;
    const char *text; /* "NAME: message" */
};

static const struct errinfo errtab[] = {
#define X(name, val, sqs, msg) {val, #name, sqs, #name ": " msg},
    LMQ_ERRNO_MAP(X)
#undef X
};

static const struct errinfo *
find(int err)
{
    for (size_t i = 0; i < sizeof errtab / sizeof errtab[0]; i++)
        if (errtab[i].code == err)
            return &errtab[i];
    return NULL;
}

LMQ_API const char *
lmq_strerror(int err)
{
    const struct errinfo *e = find(err);
    return e ? e->text : "LMQ_EUNKNOWN: unknown error code";
}

LMQ_API const char *
lmq_err_name(int err)
{
    const struct errinfo *e = find(err);
    return e ? e->name : "LMQ_EUNKNOWN";
}

LMQ_API const char *
lmq_err_sqs_code(int err)
{
    const struct errinfo *e = find(err);
    return e ? e->sqs : "InternalFailure";
}

LMQ_API const char *
lmq_errmsg(void)
{
    return errbuf[0] ? errbuf : "success";
}

int
lmq__seterr(int code, const char *fmt, ...)
{
    if (fmt == NULL) {
        snprintf(errbuf, sizeof errbuf, "%s", lmq_strerror(code));
        return code;
    }
    int n = snprintf(errbuf, sizeof errbuf, "%s: ", lmq_err_name(code));
    if (n < 0 || (size_t)n >= sizeof errbuf)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf + n, sizeof errbuf - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

void
lmq__clearerr(void)
{
    errbuf[0] = '\0';
}
