/* Parser tests: errors carry file:line:col, limits stop hostile input, and
 * the tree keeps styles, tags, anchors and comments where kpt keeps them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error/error.h"
#include "krm/krm.h"

static char *roundtrip(const char *in)
{
    krm_stream *s;
    if (krm_stream_parse(in, strlen(in), "t.yaml", NULL, &s) < 0)
        return NULL;
    krm_buf b = {0};
    assert_int_equal(krm_stream_emit(s, &b), 0);
    krm_stream_free(s);
    return b.data ? b.data : strdup("");
}

static void expect_rt(const char *in, const char *want)
{
    char *got = roundtrip(in);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_malformed_reports_position(void **st)
{
    (void)st;
    krm_stream *s = NULL;
    const char *in = "a: 1\nb: [1, 2\nc: 3\n";
    assert_int_equal(krm_stream_parse(in, strlen(in), "bad.yaml", NULL, &s), -1);
    assert_null(s);
    assert_int_equal(porch_error_last()->code, 400);
    assert_non_null(strstr(porch_error_last()->message, "bad.yaml:"));
}

static void test_unknown_alias_is_error(void **st)
{
    (void)st;
    krm_stream *s = NULL;
    assert_int_equal(krm_stream_parse("a: *nope\n", 9, "x.yaml", NULL, &s), -1);
    assert_non_null(strstr(porch_error_last()->message, "unknown anchor"));
}

static void test_billion_laughs_limited(void **st)
{
    (void)st;
    char in[4096];
    strcpy(in, "a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    char prev = 'a';
    for (char c = 'b'; c <= 'j'; c++, prev++) {
        char line[256];
        snprintf(line, sizeof line, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n",
                 c, c, prev, prev, prev, prev, prev, prev, prev, prev, prev, prev);
        strcat(in, line);
    }
    krm_stream *s = NULL;
    assert_int_equal(krm_stream_parse(in, strlen(in), "lol.yaml", NULL, &s), -1);
    assert_non_null(strstr(porch_error_last()->message, "aliases expand"));
}

static void test_depth_limited(void **st)
{
    (void)st;
    size_t n = 100000;
    char *in = malloc(2 * n + 1);
    memset(in, '[', n);
    memset(in + n, ']', n);
    in[2 * n] = '\0';
    krm_stream *s = NULL;
    assert_int_equal(krm_stream_parse(in, 2 * n, "deep.yaml", NULL, &s), -1);
    free(in);
}

static void test_stream_size_limited(void **st)
{
    (void)st;
    krm_limits lim = {.max_stream_bytes = 8};
    krm_stream *s = NULL;
    assert_int_equal(krm_stream_parse("a: 123456789\n", 13, "big.yaml", &lim, &s), -1);
}

static void test_new_strings_quoted(void **st)
{
    (void)st;
    krm_stream *s = krm_stream_new();
    krm_node *m = krm_node_new_map(s);
    const char *vals[] = {"1",          "true", "null", "~", "0x1F", "1e3",
                          "2001-12-14", "yes",  "a: b", "",  "x",    NULL};
    for (int i = 0; vals[i]; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        krm_map_set(s, m, k, krm_node_new_string(s, vals[i]));
    }
    krm_buf b = {0};
    assert_int_equal(krm_node_emit(m, KRM_SEQ_COMPACT, &b), 0);
    assert_string_equal(b.data,
                        "k0: \"1\"\nk1: \"true\"\nk2: \"null\"\nk3: \"~\"\nk4: \"0x1F\"\n"
                        "k5: \"1e3\"\nk6: \"2001-12-14\"\nk7: yes\nk8: 'a: b'\nk9: \"\"\nk10: x\n");
    krm_buf_free(&b);
    krm_stream_free(s);
}

static void test_comments_kept(void **st)
{
    (void)st;
    expect_rt("# head\na: 1 # line\nb:\n  # inner\n  c: 2\n# foot\n",
              "# head\na: 1 # line\nb:\n  # inner\n  c: 2\n# foot\n");
}

/* kpt writes an item's multi-line head comment after the dash; the lines
 * after the first belong to the same item, not to the previous one's foot. */
static void test_item_head_comment_after_dash(void **st)
{
    (void)st;
    const char *in = "items:\n- a: 1\n  b:\n    c: 2\n- # one\n  #\n  # two\n  d: 3\n";
    expect_rt(in, in);
    krm_stream *s;
    assert_int_equal(krm_stream_parse(in, strlen(in), "t.yaml", NULL, &s), 0);
    krm_node *items = krm_map_get(krm_doc_root(krm_stream_doc(s, 0)), "items");
    krm_node *first = krm_seq_at(items, 0), *second = krm_seq_at(items, 1);
    assert_null(krm_node_comment(krm_map_value_at(first, 1), KRM_COMMENT_FOOT));
    assert_null(krm_node_comment(krm_map_key_at(first, 1), KRM_COMMENT_FOOT));
    assert_string_equal(krm_node_comment(krm_map_key_at(second, 0), KRM_COMMENT_HEAD),
                        "# one\n#\n# two");
    krm_stream_free(s);
}

/* kpt prints go-yaml's wording: line of the context mark, +1 for scanner errors. */
static void test_syntax_error_goyaml(void **st)
{
    (void)st;
    char msg[256];
    const char *bad = "# c\napiVersion: v1\nkslsls\n;s;s\n";
    assert_int_equal(krm_syntax_error_goyaml(bad, strlen(bad), msg, sizeof msg), -1);
    assert_string_equal(msg, "yaml: line 3: could not find expected ':'");
    const char *bad2 = "a: b\nc: d: e\n";
    assert_int_equal(krm_syntax_error_goyaml(bad2, strlen(bad2), msg, sizeof msg), -1);
    assert_string_equal(msg, "yaml: line 2: mapping values are not allowed in this context");
    assert_int_equal(krm_syntax_error_goyaml("a: 1\n", 5, msg, sizeof msg), 0);
}

static void test_merge_key_tagged(void **st)
{
    (void)st;
    expect_rt("a: &x {k: v}\nb:\n  <<: *x\n  z: 1\n",
              "a: &x {k: v}\nb:\n  !!merge <<: *x\n  z: 1\n");
}

static void test_folded_and_literal(void **st)
{
    (void)st;
    expect_rt("a: >\n  one\n  two\nb: |-\n  x\n", "a: >\n  one two\n\nb: |-\n  x\n");
}

static void test_crlf(void **st)
{
    (void)st;
    expect_rt("a: 1\r\nb:\r\n- x # c\r\n", "a: 1\nb:\n- x # c\n");
}

static void test_emoji_escaped(void **st)
{
    (void)st;
    expect_rt("a: \"\xF0\x9F\x9A\x80 go\"\nb: \xC3\xA9\n", "a: \"\\U0001F680 go\"\nb: \xC3\xA9\n");
}

static void test_many_anchors_and_aliases(void **st)
{
    (void)st;
    /* aliases are looked up by hash: 20k aliases to the first of 20k anchors stay linear */
    krm_buf in = {0};
    char line[64];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(line, sizeof line, "a%d: &a%d x\n", i, i);
        krm_buf_put(&in, line, (size_t)n);
    }
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(line, sizeof line, "b%d: *a0\n", i);
        krm_buf_put(&in, line, (size_t)n);
    }
    krm_stream *s = NULL;
    assert_int_equal(krm_stream_parse(in.data, in.len, "anchors.yaml", NULL, &s), 0);
    krm_node *b = krm_map_get(krm_doc_root(krm_stream_doc(s, 0)), "b19999");
    assert_int_equal(krm_node_kind(b), KRM_ALIAS);
    assert_string_equal(krm_node_value(krm_node_alias_target(b)), "x");
    krm_stream_free(s);
    krm_buf_free(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_reports_position),
        cmocka_unit_test(test_unknown_alias_is_error),
        cmocka_unit_test(test_billion_laughs_limited),
        cmocka_unit_test(test_depth_limited),
        cmocka_unit_test(test_stream_size_limited),
        cmocka_unit_test(test_new_strings_quoted),
        cmocka_unit_test(test_comments_kept),
        cmocka_unit_test(test_item_head_comment_after_dash),
        cmocka_unit_test(test_syntax_error_goyaml),
        cmocka_unit_test(test_merge_key_tagged),
        cmocka_unit_test(test_folded_and_literal),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_emoji_escaped),
        cmocka_unit_test(test_many_anchors_and_aliases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
