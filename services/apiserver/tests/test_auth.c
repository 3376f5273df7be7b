/* Client certificate subjects become users as in Kubernetes: CN is the user
 * name, every O a group; a subject without CN is refused with 401. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "apiserver.h"
#include "error/error.h"

static void test_admin_subject(void **state)
{
    (void)state;
    apiserver_user u;
    assert_int_equal(apiserver_auth_from_subject("/CN=porch-admin/O=system:masters", &u), 0);
    assert_string_equal(u.name, "porch-admin");
    assert_int_equal(u.n_groups, 1);
    assert_string_equal(u.groups[0], "system:masters");
}

static void test_groups_in_any_order(void **state)
{
    (void)state;
    apiserver_user u;
    assert_int_equal(apiserver_auth_from_subject("/O=a/C=DE/CN=alice/O=b", &u), 0);
    assert_string_equal(u.name, "alice");
    assert_int_equal(u.n_groups, 2);
    assert_string_equal(u.groups[1], "b");
}

static void test_no_cn_is_401(void **state)
{
    (void)state;
    apiserver_user u;
    assert_int_equal(apiserver_auth_from_subject("/O=system:masters", &u), -1);
    assert_int_equal(porch_error_last()->code, 401);
    assert_int_equal(apiserver_auth_from_subject(NULL, &u), -1);
}

static void test_caller_object(void **state)
{
    (void)state;
    apiserver_user u;
    assert_int_equal(apiserver_auth_from_subject("/CN=bob/O=dev", &u), 0);
    json_t *c = apiserver_auth_caller(&u);
    assert_string_equal(json_string_value(json_object_get(c, "user")), "bob");
    json_t *g = json_object_get(c, "groups");
    assert_int_equal(json_array_size(g), 2);
    assert_string_equal(json_string_value(json_array_get(g, 0)), "dev");
    assert_string_equal(json_string_value(json_array_get(g, 1)), "system:authenticated");
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_subject),
        cmocka_unit_test(test_groups_in_any_order),
        cmocka_unit_test(test_no_cn_is_401),
        cmocka_unit_test(test_caller_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
