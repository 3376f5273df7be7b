/* Tests of the per-thread error slot: codes map to Kubernetes reasons,
 * messages are formatted and bounded, and threads do not share slots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>

#include "error/error.h"

static void set_returns_minus_one_and_fills_slot(void **state)
{
    assert_int_equal(porch_error_set(409, "package %s exists", "p1"), -1);
    assert_int_equal(porch_error_last()->code, 409);
    assert_string_equal(porch_error_last()->reason, "Conflict");
    assert_string_equal(porch_error_last()->message, "package p1 exists");
    porch_error_clear();
    assert_int_equal(porch_error_last()->code, 0);
}

static void explicit_reason_is_kept(void **state)
{
    porch_error_set_reason(409, "AlreadyExists", "x");
    assert_string_equal(porch_error_last()->reason, "AlreadyExists");
}

static void long_message_is_truncated_not_overflowed(void **state)
{
    char big[PORCH_ERROR_MESSAGE_MAX * 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    porch_error_set(400, "%s", big);
    assert_int_equal(strlen(porch_error_last()->message), PORCH_ERROR_MESSAGE_MAX - 1);
}

static void *other_thread(void *arg)
{
    porch_error_set(500, "other");
    return NULL;
}

static void slots_are_per_thread(void **state)
{
    porch_error_set(404, "mine");
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    assert_int_equal(porch_error_last()->code, 404);
    assert_string_equal(porch_error_last()->message, "mine");
}

static void reasons_follow_kubernetes(void **state)
{
    assert_string_equal(porch_error_reason_for(404), "NotFound");
    assert_string_equal(porch_error_reason_for(503), "ServiceUnavailable");
    assert_string_equal(porch_error_reason_for(504), "Timeout");
    assert_string_equal(porch_error_reason_for(422), "Invalid");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_returns_minus_one_and_fills_slot),
        cmocka_unit_test(explicit_reason_is_kept),
        cmocka_unit_test(long_message_is_truncated_not_overflowed),
        cmocka_unit_test(slots_are_per_thread),
        cmocka_unit_test(reasons_follow_kubernetes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
