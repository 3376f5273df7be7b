/* YAML request bodies: what Kubernetes (sigs.k8s.io/yaml over YAML 1.1)
 * makes of scalars, anchors and merge keys, and the hostile inputs that must
 * be a 400 naming line and column: syntax errors, several documents, complex
 * or duplicate keys, deep nesting, alias bombs, non-JSON numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "apiserver.h"
#include "error/error.h"

static json_t *parse_ok(const char *text)
{
    json_t *doc = NULL;
    int rc = apiserver_body_yaml(text, strlen(text), &doc);
    if (rc != 0)
        fprintf(stderr, "unexpected error: %s\n", porch_error_last()->message);
    assert_int_equal(rc, 0);
    assert_non_null(doc);
    return doc;
}

/* Parses text expecting a 400 whose message contains `want`. */
static void parse_fails(const char *text, const char *want)
{
    json_t *doc = NULL;
    assert_int_equal(apiserver_body_yaml(text, strlen(text), &doc), -1);
    assert_null(doc);
    assert_int_equal(porch_error_last()->code, 400);
    if (strstr(porch_error_last()->message, want) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", porch_error_last()->message, want);
}

static void test_object(void **state)
{
    (void)state;
    json_t *doc = parse_ok("apiVersion: v1\n"
                           "kind: Secret\n"
                           "metadata:\n"
                           "  name: s1\n"
                           "  labels: {team: a, \"yes\": 'on'}\n"
                           "stringData:\n"
                           "  script: |\n"
                           "    echo hi\n"
                           "items: [1, -2, 0x1f, 0o17, 017, 1_000, 1.5, .5, 1e3, ~, null, true, "
                           "yes, Off, \"1\", '2', 2026-01-01, 0.1.2, -]\n");
    json_t *want = json_loads(
        "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s1\","
        "\"labels\":{\"team\":\"a\",\"yes\":\"on\"}},\"stringData\":{\"script\":\"echo hi\\n\"},"
        "\"items\":[1,-2,31,15,15,1000,1.5,0.5,1000.0,null,null,true,true,false,\"1\",\"2\","
        "\"2026-01-01\",\"0.1.2\",\"-\"]}",
        0, NULL);
    assert_non_null(want);
    if (!json_equal(doc, want)) {
        char *got = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("got %s", got);
    }
    json_decref(want);
    json_decref(doc);
}

static void test_keys_tags_anchors(void **state)
{
    (void)state;
    json_t *doc = parse_ok("base: &b {x: 1, y: 2}\n"
                           "use:\n"
                           "  <<: *b\n"
                           "  y: 3\n"
                           "many: {<<: [{a: 1}, {a: 2, c: 4}], c: 5}\n"
                           "1: int key\n"
                           "true: bool key\n"
                           "s: !!str 12\n"
                           "i: !!int \"12\"\n"
                           "list: &l [a, b]\n"
                           "again: *l\n");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "use"), "x")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "use"), "y")), 3);
    json_t *many = json_object_get(doc, "many");
    assert_int_equal(json_integer_value(json_object_get(many, "a")), 1);
    assert_int_equal(json_integer_value(json_object_get(many, "c")), 5);
    assert_string_equal(json_string_value(json_object_get(doc, "1")), "int key");
    assert_string_equal(json_string_value(json_object_get(doc, "true")), "bool key");
    assert_string_equal(json_string_value(json_object_get(doc, "s")), "12");
    assert_int_equal(json_integer_value(json_object_get(doc, "i")), 12);
    assert_true(json_equal(json_object_get(doc, "list"), json_object_get(doc, "again")));
    json_decref(doc);
    /* JSON is YAML: a kubectl-style JSON body under a YAML content type works too */
    doc = parse_ok("{\"kind\": \"Namespace\", \"metadata\": {\"name\": \"n\"}}");
    assert_string_equal(json_string_value(json_object_get(doc, "kind")), "Namespace");
    json_decref(doc);
    doc = parse_ok("---\nkind: Namespace\n...\n");
    json_decref(doc);
}

static void test_malformed(void **state)
{
    (void)state;
    parse_fails("kind: Secret\nmetadata:\n  name: [x\n", "line 4, column 1");
    parse_fails("a: b\n c: d\n", "line 2, column 3");
    parse_fails("kind: \"unterminated\n", "malformed YAML in the request body at line");
    parse_fails("a: 1\n---\nb: 2\n", "more than one YAML document");
    parse_fails("a: 1\na: 2\n", "line 2, column 4: duplicate mapping key a");
    parse_fails("? [a, b]\n: c\n", "a mapping key must be a scalar");
    parse_fails("a: *nope\n", "line 1, column 4: unknown alias *nope");
    parse_fails("a: &x [1, *x]\n", "unknown alias *x"); /* no self-reference */
    parse_fails("a: .inf\n", "JSON cannot represent the number .inf");
    parse_fails("a: !!int twelve\n", "does not match its tag");
    parse_fails("a: 0x8000000000000000\n", "integer out of range");
    parse_fails("- a\n- b\n", "must be a YAML mapping");
    parse_fails("", "empty");
    parse_fails("# only a comment\n", "empty");
    parse_fails("<<: 3\n", "merge key");
    parse_fails("a: \"nul\\0here\"\n", "NUL");
}

static void test_bounds(void **state)
{
    (void)state;
    /* 101 levels of nesting */
    char deep[512] = "a: ";
    for (int i = 0; i < 101; i++)
        strcat(deep, "[");
    for (int i = 0; i < 101; i++)
        strcat(deep, "]");
    parse_fails(deep, "nested deeper than 100 levels");
    deep[3 + 99] = '\0'; /* 99 opening brackets, then close them */
    for (int i = 0; i < 99; i++)
        strcat(deep, "]");
    json_t *doc = parse_ok(deep);
    json_decref(doc);
    /* a billion laughs: 10 levels of 10 aliases each */
    char bomb[2048] = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 10; i++) {
        char line[160];
        snprintf(line, sizeof(line),
                 "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
                 i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
        strcat(bomb, line);
    }
    parse_fails(bomb, "expands to more than 2,000,000 values");
    /* few values, many bytes: a 1 MiB string used 30 times */
    size_t big = 1024 * 1024;
    char *text = malloc(big + 200);
    assert_non_null(text);
    size_t n = (size_t)sprintf(text, "s: &s ");
    memset(text + n, 'x', big);
    n += big;
    n += (size_t)sprintf(text + n, "\nl: [*s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, "
                                   "*s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s]\n");
    doc = NULL;
    assert_int_equal(apiserver_body_yaml(text, n, &doc), -1);
    assert_non_null(strstr(porch_error_last()->message, "more than 24 MiB of JSON"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_object),
        cmocka_unit_test(test_keys_tags_anchors),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
