/* The function-runner's result cache: hits return what was put, the LRU
 * bound holds in entries and in bytes (oldest unused first), oversized
 * values are not stored, and the key separates its parts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h> /* after the three it needs */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

static void put_str(fr_cache *c, const unsigned char *k, const char *s)
{
    json_t *v = json_string(s);
    fr_cache_put(c, k, v, strlen(s));
    json_decref(v);
}

static void key_of(const char *a, const char *b, unsigned char k[FR_KEY_LEN])
{
    const char *p[] = {a, b};
    size_t l[] = {strlen(a), strlen(b)};
    fr_cache_key(p, l, 2, k);
}

static void hit_returns_value_and_counts(void **state)
{
    fr_cache *c;
    assert_int_equal(fr_cache_new(4, 1024, &c), 0);
    unsigned char k[FR_KEY_LEN];
    key_of("img", "x", k);
    assert_null(fr_cache_get(c, k));
    json_t *val = json_string("value");
    fr_cache_put(c, k, val, 5);
    json_decref(val);
    json_t *v = fr_cache_get(c, k);
    assert_string_equal(json_string_value(v), "value");
    json_decref(v);
    fr_cache_stats st;
    fr_cache_stats_get(c, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 1);
    fr_cache_free(c);
}

static void key_separates_parts(void **state)
{
    unsigned char a[FR_KEY_LEN], b[FR_KEY_LEN];
    key_of("ab", "c", a);
    key_of("a", "bc", b);
    assert_memory_not_equal(a, b, FR_KEY_LEN);
}

static void entry_bound_evicts_least_recently_used(void **state)
{
    fr_cache *c;
    assert_int_equal(fr_cache_new(2, 1024, &c), 0);
    unsigned char k1[FR_KEY_LEN], k2[FR_KEY_LEN], k3[FR_KEY_LEN];
    key_of("1", "", k1);
    key_of("2", "", k2);
    key_of("3", "", k3);
    put_str(c, k1, "one");
    put_str(c, k2, "two");
    json_decref(fr_cache_get(c, k1)); /* 1 is now more recent than 2 */
    put_str(c, k3, "three");
    json_t *v1 = fr_cache_get(c, k1), *v2 = fr_cache_get(c, k2);
    assert_non_null(v1);
    assert_null(v2);
    json_decref(v1);
    fr_cache_stats st;
    fr_cache_stats_get(c, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.evictions, 1);
    fr_cache_free(c);
}

static void byte_bound_holds_and_oversize_is_skipped(void **state)
{
    fr_cache *c;
    assert_int_equal(fr_cache_new(100, 10, &c), 0);
    unsigned char k[FR_KEY_LEN];
    char name[8];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "%d", i);
        key_of(name, "", k);
        put_str(c, k, "abcd");
    }
    fr_cache_stats st;
    fr_cache_stats_get(c, &st);
    assert_true(st.bytes <= 10);
    assert_int_equal(st.entries, 2);
    key_of("big", "", k);
    put_str(c, k, "0123456789abc");
    assert_null(fr_cache_get(c, k));
    fr_cache_free(c);
}

static void zero_entries_disables(void **state)
{
    fr_cache *c;
    assert_int_equal(fr_cache_new(0, 1024, &c), 0);
    unsigned char k[FR_KEY_LEN];
    key_of("a", "b", k);
    put_str(c, k, "v");
    assert_null(fr_cache_get(c, k));
    fr_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hit_returns_value_and_counts),
        cmocka_unit_test(key_separates_parts),
        cmocka_unit_test(entry_bound_evicts_least_recently_used),
        cmocka_unit_test(byte_bound_holds_and_oversize_is_skipped),
        cmocka_unit_test(zero_entries_disables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
