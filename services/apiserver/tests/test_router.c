/* The request-facing parsers: resource paths (hostile ones are 404s),
 * query options, label/field selectors, JSON bodies with error positions,
 * protobuf Namespace/Secret bodies, merge and JSON patches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "apiserver.h"
#include "error/error.h"

static void test_paths(void **state)
{
    (void)state;
    apiserver_route r;
    assert_int_equal(apiserver_route_parse("/api/v1/namespaces/default/secrets/s1", &r), 0);
    assert_true(r.core);
    assert_string_equal(r.ns, "default");
    assert_string_equal(r.resource, "secrets");
    assert_string_equal(r.name, "s1");
    assert_int_equal(apiserver_route_parse("/api/v1/namespaces/foo", &r), 0);
    assert_string_equal(r.resource, "namespaces");
    assert_string_equal(r.name, "foo");
    assert_string_equal(r.ns, "");
    assert_int_equal(apiserver_route_parse("/api/v1/namespaces", &r), 0);
    assert_string_equal(r.resource, "namespaces");
    assert_int_equal(
        apiserver_route_parse(
            "/apis/porch.kpt.dev/v1alpha1/namespaces/ns/packagerevisions/r.p.ws/approval", &r),
        0);
    assert_string_equal(r.group, "porch.kpt.dev");
    assert_string_equal(r.version, "v1alpha1");
    assert_string_equal(r.name, "r.p.ws");
    assert_string_equal(r.subresource, "approval");
    assert_int_equal(apiserver_route_parse("/apis/config.porch.kpt.dev/v1alpha1/repositories", &r),
                     0);
    assert_string_equal(r.ns, "");
    assert_string_equal(r.resource, "repositories");
    const char *bad[] = {"/apis/x/v1/namespaces/../secrets",
                         "/apis//v1/r",
                         "/api/v2x",
                         "/apis/g/v/ns/a/b/c/d",
                         "/apis/g/v/r/na me",
                         "/other",
                         "/apis/g/v/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(apiserver_route_parse(bad[i], &r), -1);
        assert_int_equal(porch_error_last()->code, 404);
    }
}

static void test_query(void **state)
{
    (void)state;
    apiserver_query q;
    assert_int_equal(apiserver_query_parse("labelSelector=a%3Db%2Cc&limit=10&watch=1&x=y", &q), 0);
    assert_string_equal(q.label_selector, "a=b,c");
    assert_int_equal(q.limit, 10);
    assert_true(q.watch);
    assert_int_equal(apiserver_query_parse("limit=-1", &q), -1);
    assert_int_equal(porch_error_last()->code, 400);
}

static void test_selectors(void **state)
{
    (void)state;
    apiserver_selector *s;
    json_t *labels = json_pack("{s:s,s:s}", "team", "a", "env", "prod");
    assert_int_equal(apiserver_selector_parse_labels("team=a, env in (prod,dev),!gone", &s), 0);
    assert_true(apiserver_selector_match(s, apiserver_selector_labels_lookup, labels));
    apiserver_selector_free(s);
    assert_int_equal(apiserver_selector_parse_labels("team!=a", &s), 0);
    assert_false(apiserver_selector_match(s, apiserver_selector_labels_lookup, labels));
    apiserver_selector_free(s);
    assert_int_equal(apiserver_selector_parse_labels("env notin (prod)", &s), 0);
    assert_false(apiserver_selector_match(s, apiserver_selector_labels_lookup, labels));
    apiserver_selector_free(s);
    assert_int_equal(apiserver_selector_parse_labels("a=(", &s), -1);
    assert_int_equal(porch_error_last()->code, 400);
    assert_int_equal(
        apiserver_selector_parse_fields("spec.packageMetadata.labels[a b]=x,metadata.name==y", &s),
        0);
    apiserver_selector_free(s);
    assert_int_equal(apiserver_selector_parse_fields("metadata.name", &s), -1);
    json_decref(labels);
}

/* Selectors keep their tokens in a pool sized from the text (each watch holds
 * two for its lifetime; they were 140 KB each): the worst shapes for that pool
 * — empty values, the longest tokens, the most requirements — parse and match. */
static void test_selector_bounds(void **state)
{
    (void)state;
    apiserver_selector *s;
    json_t *labels = json_pack("{s:s}", "k", "");
    assert_int_equal(apiserver_selector_parse_labels("k in (,,,,,,,,,,,,,,,)", &s), 0);
    assert_true(apiserver_selector_match(s, apiserver_selector_labels_lookup, labels));
    apiserver_selector_free(s);
    assert_int_equal(apiserver_selector_parse_labels("k in (,,,,,,,,,,,,,,,,)", &s), -1); /* 17 */
    assert_int_equal(apiserver_selector_parse_labels("k=,k==,k!=x", &s), 0);
    assert_true(apiserver_selector_match(s, apiserver_selector_labels_lookup, labels));
    apiserver_selector_free(s);
    char text[2048];
    memset(text, 'a', 255);
    strcpy(text + 255, "=b");
    assert_int_equal(apiserver_selector_parse_labels(text, &s), 0); /* a 255-byte key */
    apiserver_selector_free(s);
    memset(text, 'a', 256);
    strcpy(text + 256, "=b");
    assert_int_equal(apiserver_selector_parse_labels(text, &s), -1);
    size_t n = 0;
    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%sk%d", i ? "," : "", i);
    assert_int_equal(apiserver_selector_parse_labels(text, &s), 0);
    apiserver_selector_free(s);
    snprintf(text + n, sizeof(text) - n, ",k32");
    assert_int_equal(apiserver_selector_parse_labels(text, &s), -1);
    assert_non_null(strstr(porch_error_last()->message, "more than 32 requirements"));
    /* field values may hold spaces and brackets */
    assert_int_equal(apiserver_selector_parse_fields("metadata.name= a (b) ,spec.x=y  ", &s), 0);
    apiserver_selector_free(s);
    json_decref(labels);
}

static void test_json_errors(void **state)
{
    (void)state;
    json_t *doc;
    assert_int_equal(apiserver_body_json("{\"a\":\n  1,}", 11, &doc), -1);
    assert_int_equal(porch_error_last()->code, 400);
    assert_non_null(strstr(porch_error_last()->message, "line 2"));
    assert_int_equal(apiserver_body_json("[1]", 3, &doc), -1);
    assert_int_equal(apiserver_body_json("{\"a\":1}", 7, &doc), 0);
    json_decref(doc);
}

/* A body nested 2,000 deep crashed the apiserver: jansson recursed past the
 * end of civetweb's 100 KB thread stack. Nesting is bounded before parsing;
 * brackets inside strings do not count. */
static void test_json_depth(void **state)
{
    (void)state;
    char body[4200];
    size_t n = 0;
    n += (size_t)snprintf(body, sizeof(body), "{\"s\":\"[[[[{{\\\"\",\n\"x\":");
    for (int i = 0; i < 99; i++)
        body[n++] = '[';
    for (int i = 0; i < 99; i++)
        body[n++] = ']';
    body[n++] = '}';
    json_t *doc = NULL;
    if (apiserver_body_json(body, n, &doc) != 0) /* 100 levels with the object */
        fail_msg("%s", porch_error_last()->message);
    json_decref(doc);
    n = 0;
    n += (size_t)snprintf(body, sizeof(body), "{\"x\":\n");
    for (int i = 0; i < 2000; i++)
        body[n++] = '[';
    for (int i = 0; i < 2000; i++)
        body[n++] = ']';
    body[n++] = '}';
    assert_int_equal(apiserver_body_json(body, n, &doc), -1);
    assert_int_equal(porch_error_last()->code, 400);
    assert_non_null(
        strstr(porch_error_last()->message, "nested deeper than 100 levels at line 2, column 100"));
}

/* What `kubectl create secret generic s --from-literal=u=admin --type=kubernetes.io/basic-auth`
 * sends. */
static void test_protobuf_secret(void **state)
{
    (void)state;
    static const unsigned char body[] = {
        'k',  '8',  's',  0,                                                         /* magic */
        0x0a, 0x0c, 0x0a, 0x02, 'v', '1',  0x12, 0x06, 'S', 'e', 'c', 'r', 'e', 't', /* TypeMeta */
        0x12, 0x2d,                                                        /* raw, 45 bytes */
        0x0a, 0x05, 0x0a, 0x03, 's', 'e',  'c',                            /* metadata.name */
        0x12, 0x0a, 0x0a, 0x01, 'u', 0x12, 0x05, 'a',  'd', 'm', 'i', 'n', /* data u=admin */
        0x1a, 0x18, 'k',  'u',  'b', 'e',  'r',  'n',  'e', 't', 'e', 's', '.', 'i',
        'o',  '/',  'b',  'a',  's', 'i',  'c',  '-',  'a', 'u', 't', 'h'};
    json_t *obj;
    assert_int_equal(apiserver_body_protobuf((const char *)body, sizeof(body), &obj), 0);
    assert_string_equal(json_string_value(json_object_get(obj, "kind")), "Secret");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")), "sec");
    assert_string_equal(json_string_value(json_object_get(json_object_get(obj, "data"), "u")),
                        "YWRtaW4=");
    assert_string_equal(json_string_value(json_object_get(obj, "type")),
                        "kubernetes.io/basic-auth");
    json_decref(obj);
    assert_int_equal(apiserver_body_protobuf((const char *)body, 20, &obj), -1);
}

/* A map entry with a key and no value is "" (fuzz finding: the "" leaked;
 * the ASan build of this test caught it). */
static void test_protobuf_entry_without_value(void **state)
{
    (void)state;
    static const unsigned char body[] = {'k',  '8',  's',  0, /* magic */
                                         0x0a, 0x0c, 0x0a, 0x02, 'v', '1', 0x12,
                                         0x06, 'S',  'e',  'c',  'r', 'e', 't', /* TypeMeta */
                                         0x12, 0x0c,                            /* raw, 12 bytes */
                                         0x0a, 0x05, 0x0a, 0x03, 's', 'e', 'c', /* metadata.name */
                                         0x12, 0x03, 0x0a, 0x01, 'u'}; /* data u (no value) */
    json_t *obj;
    assert_int_equal(apiserver_body_protobuf((const char *)body, sizeof(body), &obj), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(obj, "data"), "u")), "");
    json_decref(obj);
}

static void test_patches(void **state)
{
    (void)state;
    json_t *target = json_pack("{s:{s:s,s:s},s:[i,i]}", "spec", "a", "1", "b", "2", "list", 1, 2);
    json_t *patch = json_pack("{s:{s:n,s:s}}", "spec", "a", "c", "3");
    json_t *out;
    assert_int_equal(apiserver_patch_merge(target, patch, &out), 0);
    assert_null(json_object_get(json_object_get(out, "spec"), "a"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "spec"), "c")), "3");
    json_decref(out);
    json_decref(patch);
    patch = json_loads("[{\"op\":\"add\",\"path\":\"/list/-\",\"value\":3},"
                       "{\"op\":\"replace\",\"path\":\"/spec/b\",\"value\":\"x\"},"
                       "{\"op\":\"test\",\"path\":\"/list/2\",\"value\":3}]",
                       0, NULL);
    assert_int_equal(apiserver_patch_json(target, patch, &out), 0);
    assert_int_equal(json_array_size(json_object_get(out, "list")), 3);
    json_decref(out);
    json_decref(patch);
    /* 40 self-copies would double the document 40 times: refused, not run. */
    json_t *bomb = json_array();
    for (int i = 0; i < 40; i++)
        json_array_append_new(
            bomb, json_pack("{s:s, s:s, s:s}", "op", "copy", "from", "/list", "path", "/list/-"));
    assert_int_equal(apiserver_patch_json(target, bomb, &out), -1);
    assert_int_equal(porch_error_last()->code, 422);
    json_decref(bomb);
    patch = json_loads("[{\"op\":\"remove\",\"path\":\"/nope\"}]", 0, NULL);
    assert_int_equal(apiserver_patch_json(target, patch, &out), -1);
    assert_int_equal(porch_error_last()->code, 422);
    json_decref(patch);
    json_decref(target);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_protobuf_secret),
        cmocka_unit_test(test_patches),
        cmocka_unit_test(test_protobuf_entry_without_value),
        cmocka_unit_test(test_json_depth),
        cmocka_unit_test(test_selector_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
