/* Tests of cron schedules: field syntax, refusals naming the field, and next
 * runs across minutes, hours, days, weekdays and month ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "cron.h"
#include "error/error.h"

/* 2025-01-15T10:30:20Z, a Wednesday */
#define T0 ((time_t)1736937020)

static time_t next(const char *expr, time_t after)
{
    cron_schedule s;
    assert_int_equal(cron_parse(expr, &s), 0);
    return cron_next(&s, after);
}

static void every_minute(void **state)
{
    assert_int_equal(next("*/1 * * * *", T0), T0 - 20 + 60);
    assert_int_equal(next("* * * * *", T0 - 20), T0 - 20 + 60); /* strictly after */
}

static void steps_ranges_lists(void **state)
{
    assert_int_equal(next("*/10 * * * *", T0), T0 - 20 + 10 * 60);      /* 10:40 */
    assert_int_equal(next("5,50 * * * *", T0), T0 - 20 + 20 * 60);      /* 10:50 */
    time_t midnight = T0 - 20 - (10 * 3600 + 30 * 60);
    assert_int_equal(next("0 9-17/4 * * *", T0), midnight + 13 * 3600); /* 9, 13, 17 → 13:00 */
    assert_int_equal(next("0 0 * * *", T0), T0 - 20 - (10 * 3600 + 30 * 60) + 24 * 3600); /* midnight */
}

static void weekdays_and_month_days(void **state)
{
    time_t midnight = T0 - 20 - (10 * 3600 + 30 * 60);
    assert_int_equal(next("0 0 * * 0", T0), midnight + 4 * 24 * 3600);   /* Sunday the 19th */
    assert_int_equal(next("0 0 * * 7", T0), midnight + 4 * 24 * 3600);   /* 7 is Sunday too */
    assert_int_equal(next("0 0 1 * *", T0), midnight + 17 * 24 * 3600);  /* February 1st */
    assert_int_equal(next("0 0 1 * 0", T0), midnight + 4 * 24 * 3600);   /* either day field */
    assert_int_equal(next("0 0 31 2 *", T0), -1);                        /* never */
}

static void bad_schedules_are_refused(void **state)
{
    cron_schedule s;
    const char *bad[] = {"", "* * * *", "* * * * * *", "61 * * * *", "* 24 * * *",
                         "*/0 * * * *", "a * * * *", "5-2 * * * *", "* * 0 * *", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(cron_parse(bad[i], &s), -1);
        assert_int_equal(porch_error_last()->code, 400);
    }
    assert_int_equal(cron_parse("61 * * * *", &s), -1);
    assert_non_null(strstr(porch_error_last()->message, "minute"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_minute),
        cmocka_unit_test(steps_ranges_lists),
        cmocka_unit_test(weekdays_and_month_days),
        cmocka_unit_test(bad_schedules_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
