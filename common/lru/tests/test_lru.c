/* Tests of lru_cache: copies in and out, replacement, the byte budget with
 * least-recently-used eviction, and removal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "lru/lru.h"

static int has(lru_cache *c, const char *key)
{
    char *v = NULL;
    size_t n;
    int found = lru_get(c, key, &v, &n);
    free(v);
    return found;
}

static void values_are_copied_in_and_out(void **state)
{
    lru_cache *c = lru_new(1024);
    char data[] = "a\0b"; /* bytes, not only text */
    lru_put(c, "k", data, 3);
    data[0] = 'z';
    char *v = NULL;
    size_t n = 0;
    assert_int_equal(lru_get(c, "k", &v, &n), 1);
    assert_int_equal(n, 3);
    assert_memory_equal(v, "a\0b", 3);
    assert_int_equal(v[3], '\0');
    v[0] = 'y';
    free(v);
    assert_int_equal(lru_get(c, "k", &v, &n), 1);
    assert_int_equal(v[0], 'a');
    free(v);
    assert_int_equal(lru_get(c, "other", &v, &n), 0);
    assert_null(v);
    lru_free(c);
}

static void a_put_replaces(void **state)
{
    lru_cache *c = lru_new(1024);
    lru_put(c, "k", "one", 3);
    lru_put(c, "k", "three", 5);
    char *v = NULL;
    size_t n, entries, bytes;
    assert_int_equal(lru_get(c, "k", &v, &n), 1);
    assert_string_equal(v, "three");
    free(v);
    lru_usage(c, &entries, &bytes);
    assert_int_equal(entries, 1);
    assert_int_equal(bytes, 1 + 5);
    lru_free(c);
}

static void the_least_recently_used_goes_first(void **state)
{
    char value[100];
    memset(value, 'x', sizeof value);
    lru_cache *c = lru_new(3 * 101); /* three entries of a 1-byte key and 100 bytes */
    lru_put(c, "a", value, 100);
    lru_put(c, "b", value, 100);
    lru_put(c, "c", value, 100);
    assert_true(has(c, "a")); /* a is now fresher than b */
    lru_put(c, "d", value, 100);
    assert_false(has(c, "b"));
    assert_true(has(c, "a"));
    assert_true(has(c, "c"));
    assert_true(has(c, "d"));
    size_t entries, bytes;
    lru_usage(c, &entries, &bytes);
    assert_int_equal(entries, 3);
    assert_true(bytes <= 3 * 101);
    /* bigger than the whole budget: not kept, nothing evicted */
    char big[400];
    memset(big, 'y', sizeof big);
    lru_put(c, "big", big, sizeof big);
    assert_false(has(c, "big"));
    lru_usage(c, &entries, &bytes);
    assert_int_equal(entries, 3);
    lru_free(c);
}

static void removal_and_a_zero_budget(void **state)
{
    lru_cache *c = lru_new(1024);
    lru_put(c, "k", "v", 1);
    assert_int_equal(lru_has(c, "k"), 1);
    assert_int_equal(lru_has(c, "absent"), 0);
    lru_remove(c, "k");
    assert_int_equal(lru_has(c, "k"), 0);
    lru_remove(c, "absent");
    assert_false(has(c, "k"));
    size_t entries, bytes;
    lru_usage(c, &entries, &bytes);
    assert_int_equal(entries, 0);
    assert_int_equal(bytes, 0);
    lru_free(c);
    c = lru_new(0);
    lru_put(c, "k", "v", 1);
    assert_false(has(c, "k"));
    lru_free(c);
}

static void many_keys_share_buckets(void **state)
{
    lru_cache *c = lru_new(1 << 20);
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        lru_put(c, key, key, strlen(key));
    }
    for (int i = 0; i < 20000; i += 997) {
        snprintf(key, sizeof key, "key-%d", i);
        char *v = NULL;
        size_t n;
        assert_int_equal(lru_get(c, key, &v, &n), 1);
        assert_string_equal(v, key);
        free(v);
    }
    lru_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(values_are_copied_in_and_out),
        cmocka_unit_test(a_put_replaces),
        cmocka_unit_test(the_least_recently_used_goes_first),
        cmocka_unit_test(removal_and_a_zero_budget),
        cmocka_unit_test(many_keys_share_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
