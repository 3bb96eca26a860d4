#include "lmq_test.h"
Suite *lmq_suite_admin(void);
Suite *
lmq_suite_admin(void)
{
    return suite_create("admin");
}
int
main(void)
{
    return lmq_test_run(lmq_suite_admin());
}
