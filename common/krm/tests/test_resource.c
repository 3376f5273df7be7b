/* KRM helper tests: identity fields, labels/annotations, paths with list
 * selectors, kpt's path/index annotations, deep copy/equality and comment healing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "krm/krm.h"

static const char *DEPLOY = "apiVersion: apps/v1\n"
                            "kind: Deployment\n"
                            "metadata:\n"
                            "  name: web # the name\n"
                            "  namespace: prod\n"
                            "spec:\n"
                            "  template:\n"
                            "    spec:\n"
                            "      containers:\n"
                            "      - name: side\n"
                            "        image: side:1\n"
                            "      - name: main # main container\n"
                            "        image: app:1\n";

static krm_stream *parse(const char *y)
{
    krm_stream *s = NULL;
    assert_int_equal(krm_stream_parse(y, strlen(y), "t.yaml", NULL, &s), 0);
    return s;
}

static char *emit(const krm_node *n)
{
    krm_buf b = {0};
    assert_int_equal(krm_node_emit(n, KRM_SEQ_COMPACT, &b), 0);
    return b.data;
}

static void test_identity(void **st)
{
    (void)st;
    krm_stream *s = parse(DEPLOY);
    krm_node *r = krm_doc_root(krm_stream_doc(s, 0));
    assert_string_equal(krm_res_api_version(r), "apps/v1");
    assert_string_equal(krm_res_kind(r), "Deployment");
    assert_string_equal(krm_res_name(r), "web");
    assert_string_equal(krm_res_namespace(r), "prod");
    krm_stream_free(s);
}

static void test_path_get_and_set_with_selector(void **st)
{
    (void)st;
    krm_stream *s = parse(DEPLOY);
    krm_node *r = krm_doc_root(krm_stream_doc(s, 0));
    krm_node *img = krm_path_get(r, "spec.template.spec.containers[name=main].image");
    assert_non_null(img);
    assert_string_equal(krm_node_value(img), "app:1");
    assert_string_equal(krm_node_value(krm_path_get(r, "spec.template.spec.containers[0].name")),
                        "side");
    assert_int_equal(krm_path_set(s, r, "spec.template.spec.containers[name=main].image",
                                  krm_node_new_string(s, "app:2")),
                     0);
    assert_int_equal(krm_path_set(s, r, "spec.strategy.type", krm_node_new_string(s, "Recreate")),
                     0);
    char *out = emit(r);
    assert_non_null(strstr(out, "      - name: main # main container\n        image: app:2\n"));
    assert_non_null(strstr(out, "  strategy:\n    type: Recreate\n"));
    free(out);
    assert_null(krm_path_get(r, "spec.template.spec.containers[name=nope].image"));
    krm_stream_free(s);
}

static void test_labels_annotations(void **st)
{
    (void)st;
    krm_stream *s = parse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n");
    krm_node *r = krm_doc_root(krm_stream_doc(s, 0));
    assert_int_equal(krm_res_set_label(s, r, "app", "web"), 0);
    assert_int_equal(krm_res_set_annotation(s, r, "replicas", "3"), 0);
    assert_string_equal(krm_res_label(r, "app"), "web");
    char *out = emit(r);
    assert_string_equal(out, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n"
                             "    app: web\n  annotations:\n    replicas: \"3\"\n");
    free(out);
    assert_int_equal(krm_res_delete_annotation(r, "replicas"), 0);
    assert_null(krm_map_get(krm_map_get(r, "metadata"), "annotations"));
    assert_int_equal(krm_res_delete_annotation(r, "replicas"), 1);
    krm_stream_free(s);
}

static void test_kpt_annotations_roundtrip(void **st)
{
    (void)st;
    krm_stream *s = parse("replicaCount: 2\n");
    krm_node *r = krm_doc_root(krm_stream_doc(s, 0));
    assert_int_equal(krm_res_set_kpt_annotations(s, r, "values.yaml", 3, KRM_SEQ_WIDE), 0);
    assert_string_equal(krm_res_path(r), "values.yaml");
    assert_int_equal(krm_res_index(r), 3);
    assert_string_equal(krm_res_annotation(r, KRM_ANNO_SEQINDENT), "wide");
    char *out = emit(r);
    assert_non_null(strstr(out, "    config.kubernetes.io/index: '3'\n"));
    free(out);
    krm_res_clear_kpt_annotations(r);
    out = emit(r);
    assert_string_equal(out, "replicaCount: 2\n");
    free(out);
    krm_stream_free(s);
}

static void test_legacy_path_annotation_fallback(void **st)
{
    (void)st;
    krm_stream *s = parse("metadata:\n  annotations:\n    config.kubernetes.io/path: a/b.yaml\n"
                          "    config.kubernetes.io/index: '2'\n");
    krm_node *r = krm_doc_root(krm_stream_doc(s, 0));
    assert_string_equal(krm_res_path(r), "a/b.yaml");
    assert_int_equal(krm_res_index(r), 2);
    krm_stream_free(s);
}

static void test_copy_and_equal(void **st)
{
    (void)st;
    krm_stream *s = parse(DEPLOY);
    krm_stream *d = krm_stream_new();
    krm_node *r = krm_doc_root(krm_stream_doc(s, 0));
    krm_node *c = krm_node_copy(d, r);
    assert_true(krm_node_equal(r, c));
    krm_stream_free(s); /* the copy owns its own memory */
    krm_stream *s2 = parse(
        "kind: Deployment\napiVersion: \"apps/v1\"\nmetadata: {namespace: prod, name: web}\n"
        "spec:\n  template:\n    spec:\n      containers:\n      - {name: side, image: side:1}\n"
        "      - {name: main, image: app:1}\n");
    assert_true(krm_node_equal(c, krm_doc_root(krm_stream_doc(s2, 0))));
    krm_path_set(d, c, "metadata.name", krm_node_new_string(d, "other"));
    assert_false(krm_node_equal(c, krm_doc_root(krm_stream_doc(s2, 0))));
    krm_stream_free(s2);
    krm_stream_free(d);
}

static void test_heal_comments(void **st)
{
    (void)st;
    krm_stream *s = parse(DEPLOY);
    krm_stream *o = parse(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\n"
        "  labels:\n    app: web\nspec:\n  template:\n    spec:\n      containers:\n"
        "      - name: main\n        image: app:2\n      - name: side\n        image: side:1\n");
    krm_node *after = krm_doc_root(krm_stream_doc(o, 0));
    assert_int_equal(krm_heal_comments(o, krm_doc_root(krm_stream_doc(s, 0)), after), 0);
    char *out = emit(after);
    assert_non_null(strstr(out, "  name: web # the name\n"));
    assert_non_null(strstr(out, "      - name: main # main container\n        image: app:2\n"));
    free(out);
    krm_stream_free(s);
    krm_stream_free(o);
}

static void test_migration_follows_changed_half(void **st)
{
    (void)st;
    krm_stream *s = parse("kind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n"
                          "    config.kubernetes.io/path: a.yaml\n");
    krm_node *r = krm_doc_root(krm_stream_doc(s, 0));
    krm_anno_format fmt;
    assert_int_equal(krm_res_migrate_pre(s, r, 0, &fmt), 0);
    assert_int_equal(fmt, KRM_ANNO_LEGACY_ONLY);
    assert_string_equal(krm_res_annotation(r, KRM_ANNO_IPATH), "a.yaml");
    krm_stream *d = krm_stream_new();
    krm_node *before = krm_node_copy(d, r);
    /* the function moves the resource by editing only the internal path */
    assert_int_equal(krm_res_set_annotation(s, r, KRM_ANNO_IPATH, "b.yaml"), 0);
    assert_int_equal(krm_res_migrate_post(s, r, before, fmt), 0);
    assert_string_equal(krm_res_annotation(r, KRM_ANNO_PATH), "b.yaml");
    assert_null(krm_res_annotation(r, KRM_ANNO_IPATH));
    assert_null(krm_res_annotation(r, KRM_ANNO_MIGRATION_ID));
    krm_stream_free(d);
    krm_stream_free(s);
}

static void test_migration_rejects_differing_halves(void **st)
{
    (void)st;
    krm_stream *s = parse("metadata:\n  annotations:\n    config.kubernetes.io/path: a.yaml\n"
                          "    internal.config.kubernetes.io/path: b.yaml\n");
    assert_int_equal(krm_res_migrate_pre(s, krm_doc_root(krm_stream_doc(s, 0)), 0, NULL), -1);
    krm_stream_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_path_get_and_set_with_selector),
        cmocka_unit_test(test_labels_annotations),
        cmocka_unit_test(test_kpt_annotations_roundtrip),
        cmocka_unit_test(test_legacy_path_annotation_fallback),
        cmocka_unit_test(test_copy_and_equal),
        cmocka_unit_test(test_heal_comments),
        cmocka_unit_test(test_migration_follows_changed_half),
        cmocka_unit_test(test_migration_rejects_differing_halves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
