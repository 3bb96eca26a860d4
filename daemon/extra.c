/*
 * extra.c: endpoints beyond SQS, for tests and operators (/_lmq/...,
 * /_aws/sqs/...).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lmqd.h"

enum MHD_Result
lmqd_extra(struct MHD_Connection *con, lmqd_conn *c, const char *method)
{
    (void)method;
    const char *msg = "{\"error\":\"no such endpoint\"}";
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(msg), (void *)msg, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "x-amzn-RequestId", c->rid);
    enum MHD_Result ret = MHD_queue_response(con, 404, r);
    MHD_destroy_response(r);
    c->resp.status = 404;
    lmqd_log_request(c);
    return ret;
}

void
lmqd_test_clock_setup(const char *home, lmq_env_opts *eo)
{
    (void)home;
    (void)eo;
}
