/* resource-merge tests: kpt's field-level 3-way merge — upstream wins on a
 * conflicting scalar, both sides' edits to different fields survive,
 * associative lists merge by name with new upstream items key-sorted,
 * scalar lists are replaced, and upstream/local deletions are honoured. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../merge3.h"
#include "krm/krm.h"

typedef struct trio {
    krm_stream *o, *l, *u;
} trio;

static krm_node *root(krm_stream **s, const char *y)
{
    assert_int_equal(krm_stream_parse(y, strlen(y), "t.yaml", NULL, s), 0);
    return krm_doc_root(krm_stream_doc(*s, 0));
}

/* Merges and returns the emitted result (caller frees). */
static char *merge(const char *o, const char *l, const char *u)
{
    trio t = {0};
    krm_node *on = root(&t.o, o), *ln = root(&t.l, l), *un = root(&t.u, u);
    krm_node *m = cad_merge3(t.l, on, ln, un);
    krm_buf b = {0};
    assert_int_equal(krm_node_emit(m, KRM_SEQ_COMPACT, &b), 0);
    krm_stream_free(t.o);
    krm_stream_free(t.l);
    krm_stream_free(t.u);
    return b.data;
}

static void test_upstream_wins_conflict(void **state)
{
    (void)state;
    char *r = merge("a: 1\nb: x\n", "a: 5\nb: x\n", "a: 3\nb: x\n");
    assert_string_equal(r, "a: 3\nb: x\n");
    free(r);
}

static void test_both_sides_kept(void **state)
{
    (void)state;
    char *r = merge("a: 1\nb: x\n", "a: 1\nb: local # mine\nc: added\n", "a: 2\nb: x\n");
    assert_string_equal(r, "a: 2\nb: local # mine\nc: added\n");
    free(r);
}

static void test_assoc_list_by_name(void **state)
{
    (void)state;
    const char *o = "c:\n- name: web\n  image: a:1\n- name: side\n  image: s:1\n";
    const char *l = "c:\n- name: web\n  image: a:1\n  env: dev\n- name: side\n  image: s:1\n";
    const char *u = "c:\n- name: web\n  image: a:2\n- name: side\n  image: s:1\n- name: metrics\n  image: p:1\n";
    char *r = merge(o, l, u);
    assert_string_equal(r, "c:\n- name: web\n  image: a:2\n  env: dev\n- name: side\n  image: s:1\n"
                           "- image: p:1\n  name: metrics\n");
    free(r);
}

static void test_scalar_list_replaced(void **state)
{
    (void)state;
    char *r = merge("args: [a, b]\n", "args: [a, b, local]\n", "args: [a, c]\n");
    assert_string_equal(r, "args: [a, c]\n");
    free(r);
}

static void test_deletions(void **state)
{
    (void)state;
    /* upstream deleted b; local deleted c (upstream changed it: stays deleted) */
    char *r = merge("a: 1\nb: 2\nc: 3\n", "a: 1\nb: 2\n", "a: 1\nc: 4\n");
    assert_string_equal(r, "a: 1\n");
    free(r);
}

static void test_upstream_added_field(void **state)
{
    (void)state;
    char *r = merge("a: 1\n", "a: 1\n", "a: 1\nn:\n  k: v\n");
    assert_string_equal(r, "a: 1\nn:\n  k: v\n");
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upstream_wins_conflict), cmocka_unit_test(test_both_sides_kept),
        cmocka_unit_test(test_assoc_list_by_name),     cmocka_unit_test(test_scalar_list_replaced),
        cmocka_unit_test(test_deletions),              cmocka_unit_test(test_upstream_added_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
