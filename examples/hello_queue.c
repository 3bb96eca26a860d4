/*
 * hello_queue.c: the smallest complete lmq program: open a home, create a
 * queue, send a message, receive it, delete it.
 *   hello_queue [HOME]
 */
#include <lmq.h>

#include <stdio.h>
#include <stdlib.h>

static int
fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, lmq_errmsg());
    return 1;
}

int
main(int argc, char **argv)
{
    const char *home = argc > 1 ? argv[1] : "hello-home";
    lmq_env *env;
    lmq_queue *q;
    if (lmq_env_open(home, NULL, &env) != 0)
        return fail("open");
    if (lmq_queue_create(env, "hello", NULL, NULL, NULL) != 0 ||
        lmq_queue_open(env, "hello", &q) != 0)
        return fail("queue");

    lmq_send_entry e;
    lmq_send_result sent;
    lmq_send_entry_init(&e);
    e.body = "hello, queue";
    if (lmq_send(q, &e, &sent) != 0)
        return fail("send");
    printf("sent %s (md5 %s)\n", sent.message_id, sent.md5_body);

    lmq_recv_opts o;
    lmq_msg *m[1];
    size_t n;
    lmq_recv_opts_init(&o);
    o.wait_seconds = 1;
    if (lmq_receive(q, &o, m, 1, &n) != 0)
        return fail("receive");
    for (size_t i = 0; i < n; i++) {
        int deleted;
        printf("received \"%s\" (receive count %u)\n",
               lmq_msg_body(m[i], NULL), lmq_msg_receive_count(m[i]));
        if (lmq_delete(q, lmq_msg_receipt(m[i]), &deleted) != 0)
            return fail("delete");
        lmq_msg_free(m[i]);
    }
    lmq_queue_close(q);
    lmq_env_close(env);
    return 0;
}
