/* Tests of the engine's content cache: keys, copies, the byte budget and
 * least-recently-used eviction, and inputs it must refuse to keep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "contents.h"

#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"

static json_t *files(const char *kptfile_text)
{
    return json_pack("{s:s, s:s}", "Kptfile", kptfile_text, "cm.yaml", "kind: ConfigMap\n");
}

static void kept_files_come_back_as_copies(void **state)
{
    engine_contents *cc = engine_contents_new(1 << 20);
    json_t *f = files("a"), *got = NULL;
    engine_contents_put(cc, "ns", "repo", "pkg", C1, f);
    json_object_set_new(f, "Kptfile", json_string("changed after put"));
    assert_int_equal(engine_contents_get(cc, "ns", "repo", "pkg", C1, &got), 1);
    assert_string_equal(json_string_value(json_object_get(got, "Kptfile")), "a");
    json_object_set_new(got, "Kptfile", json_string("changed after get"));
    json_decref(got);
    assert_int_equal(engine_contents_get(cc, "ns", "repo", "pkg", C1, &got), 1);
    assert_string_equal(json_string_value(json_object_get(got, "Kptfile")), "a");
    assert_int_equal(json_object_size(got), 2);
    json_decref(got);
    json_decref(f);
    engine_contents_free(cc);
}

static void every_key_part_counts(void **state)
{
    engine_contents *cc = engine_contents_new(1 << 20);
    json_t *f = files("a"), *got = NULL;
    engine_contents_put(cc, "ns", "repo", "pkg", C1, f);
    assert_int_equal(engine_contents_get(cc, "ns", "repo", "pkg", C2, &got), 0);
    assert_null(got);
    assert_int_equal(engine_contents_get(cc, "ns2", "repo", "pkg", C1, &got), 0);
    assert_int_equal(engine_contents_get(cc, "ns", "repo2", "pkg", C1, &got), 0);
    assert_int_equal(engine_contents_get(cc, "ns", "repo", "pkg/sub", C1, &got), 0);
    /* parts holding the key's separator are refused: these two would read alike */
    engine_contents_put(cc, "a\x1f" "b", "c", "d", C1, f);
    assert_int_equal(engine_contents_get(cc, "a", "b\x1f" "c", "d", C1, &got), 0);
    size_t entries, bytes;
    engine_contents_usage(cc, &entries, &bytes);
    assert_int_equal(entries, 1);
    json_decref(f);
    engine_contents_free(cc);
}

static void bad_input_is_not_kept(void **state)
{
    engine_contents *cc = engine_contents_new(1 << 20);
    json_t *f = files("a"), *got = NULL;
    engine_contents_put(cc, "ns", "repo", "pkg", "", f);
    engine_contents_put(cc, "ns", "repo", "pkg", "HEAD", f);
    engine_contents_put(cc, "ns", "repo", "pkg", "111111111111111111111111111111111111111g", f);
    engine_contents_put(cc, "", "repo", "pkg", C1, f);
    engine_contents_put(cc, "ns", NULL, "pkg", C1, f);
    json_t *not_text = json_pack("{s:i}", "Kptfile", 3);
    engine_contents_put(cc, "ns", "repo", "p2", C1, not_text);
    json_t *empty = json_object();
    engine_contents_put(cc, "ns", "repo", "p3", C1, empty);
    size_t entries, bytes;
    engine_contents_usage(cc, &entries, &bytes);
    assert_int_equal(entries, 0);
    assert_int_equal(bytes, 0);
    assert_int_equal(engine_contents_get(cc, "ns", "repo", "pkg", "HEAD", &got), 0);
    json_decref(not_text);
    json_decref(empty);
    json_decref(f);
    engine_contents_free(cc);
}

static void the_budget_counts_keys_and_text(void **state)
{
    /* one entry: its key (ns, repo, a, commit: 50 bytes) and the compact JSON
     * of the files; a budget of one entry's size keeps only the newest */
    json_t *f = files("a"), *got = NULL;
    char *text = json_dumps(f, JSON_COMPACT);
    size_t one = strlen(text) + 50;
    free(text);
    engine_contents *cc = engine_contents_new(one);
    engine_contents_put(cc, "ns", "repo", "a", C1, f);
    engine_contents_put(cc, "ns", "repo", "b", C1, f);
    assert_int_equal(engine_contents_get(cc, "ns", "repo", "a", C1, &got), 0);
    assert_int_equal(engine_contents_get(cc, "ns", "repo", "b", C1, &got), 1);
    json_decref(got);
    size_t entries, bytes;
    engine_contents_usage(cc, &entries, &bytes);
    assert_int_equal(entries, 1);
    assert_int_equal(bytes, one);
    json_decref(f);
    engine_contents_free(cc);
}

static void a_second_put_replaces_the_first(void **state)
{
    engine_contents *cc = engine_contents_new(1 << 20);
    json_t *f1 = files("one"), *f2 = files("two"), *got = NULL;
    engine_contents_put(cc, "ns", "repo", "pkg", C1, f1);
    engine_contents_put(cc, "ns", "repo", "pkg", C1, f2);
    size_t entries, bytes;
    engine_contents_usage(cc, &entries, &bytes);
    assert_int_equal(entries, 1);
    assert_int_equal(engine_contents_get(cc, "ns", "repo", "pkg", C1, &got), 1);
    assert_string_equal(json_string_value(json_object_get(got, "Kptfile")), "two");
    json_decref(got);
    json_decref(f1);
    json_decref(f2);
    engine_contents_free(cc);
}

static void a_zero_budget_keeps_nothing(void **state)
{
    engine_contents *cc = engine_contents_new(0);
    json_t *f = files("a"), *got = NULL;
    engine_contents_put(cc, "ns", "repo", "pkg", C1, f);
    assert_int_equal(engine_contents_get(cc, "ns", "repo", "pkg", C1, &got), 0);
    json_decref(f);
    engine_contents_free(cc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kept_files_come_back_as_copies),
        cmocka_unit_test(every_key_part_counts),
        cmocka_unit_test(bad_input_is_not_kept),
        cmocka_unit_test(the_budget_counts_keys_and_text),
        cmocka_unit_test(a_second_put_replaces_the_first),
        cmocka_unit_test(a_zero_budget_keeps_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
