/* The evaluator and the built-ins on small ResourceLists: each built-in's
 * output text and results as the catalog gives them, image-name parsing,
 * unknown (404, listing what runs) and denied (403) images, and exec
 * functions through an image map (round trip keeps comments, bad output is
 * a clear error naming the function). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h> /* after the three it needs */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error/error.h"
#include "fn/fn.h"

static const char *HEAD = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n";

/* Runs image over HEAD+body; returns the emitted ResourceList (malloc'd) or NULL. */
static char *run(fn_runtime *rt, const char *image, const char *body, fn_results *res, int *rc)
{
    char *in = NULL;
    if (asprintf(&in, "%s%s", HEAD, body) < 0)
        return NULL;
    krm_stream *s = NULL;
    assert_int_equal(krm_stream_parse(in, strlen(in), "test", NULL, &s), 0);
    free(in);
    krm_node *rl = krm_doc_root(krm_stream_doc(s, 0));
    fn_call call = {.image = image};
    *rc = fn_runtime_eval(rt, &call, s, rl, res, NULL);
    krm_map_delete(rl, "functionConfig");
    krm_buf out = {0};
    krm_node_emit(rl, KRM_SEQ_COMPACT, &out);
    krm_buf_put(&out, "", 1);
    krm_stream_free(s);
    return out.data;
}

static fn_runtime *builtin_rt(void)
{
    fn_runtime *rt;
    fn_runtime_opts o = {.builtins = true};
    assert_int_equal(fn_runtime_new(&o, &rt), 0);
    return rt;
}

static void expect(const char *image, const char *body, const char *want_items,
                   const char *want_first_result)
{
    fn_runtime *rt = builtin_rt();
    fn_results res = {0};
    int rc;
    char *out = run(rt, image, body, &res, &rc);
    assert_int_equal(rc, 0);
    const char *items = strstr(out, "items:");
    assert_non_null(items);
    assert_string_equal(items, want_items);
    if (want_first_result) {
        assert_true(res.len > 0);
        assert_string_equal(res.items[0].message, want_first_result);
    }
    free(out);
    fn_results_free(&res);
    fn_runtime_free(rt);
}

static void image_names(void **state)
{
    char b[64];
    assert_string_equal(fn_image_function_name("gcr.io/kpt-fn/set-labels:v0.2.0", b, sizeof b),
                        "set-labels");
    assert_string_equal(
        fn_image_function_name("ghcr.io/kptdev/krm-functions-catalog/set-namespace:latest", b,
                               sizeof b),
        "set-namespace");
    assert_string_equal(fn_image_function_name("apply-setters@sha256:ab", b, sizeof b),
                        "apply-setters");
    assert_null(fn_image_function_name("example.com/team/set-labels:v1", b, sizeof b));
}

static void set_namespace_moves_namespaced_resources(void **state)
{
    expect("gcr.io/kpt-fn/set-namespace:v0.4",
           "items:\n- apiVersion: v1\n  kind: Service\n  metadata:\n    name: s # keep me\n"
           "    namespace: old\n- apiVersion: rbac.authorization.k8s.io/v1\n"
           "  kind: ClusterRoleBinding\n  metadata:\n    name: crb\n  subjects:\n"
           "  - kind: ServiceAccount\n    name: default\n    namespace: old\n"
           "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data:\n    namespace: new\n",
           "items:\n- apiVersion: rbac.authorization.k8s.io/v1\n"
           "  kind: ClusterRoleBinding\n  metadata:\n    name: crb\n  subjects:\n"
           "  - kind: ServiceAccount\n    name: default\n    namespace: new\n"
           "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: s # keep me\n"
           "    namespace: new\n",
           "namespace [old] updated to \"new\", 2 value(s) changed");
}

/* The catalog's SDK-based functions write their items sorted by
 * "apiVersion kind namespace name"; the others keep the input order. */
static void sdk_functions_sort_items(void **state)
{
    const char *in =
        "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n"
        "- apiVersion: rbac.authorization.k8s.io/v1\n  kind: Role\n  metadata:\n    name: d\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n"
        "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data:\n"
        "    namespace: n\n";
    expect("set-namespace", in,
           "items:\n- apiVersion: rbac.authorization.k8s.io/v1\n  kind: Role\n  metadata:\n    "
           "name: d\n"
           "    namespace: n\n"
           "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n    namespace: n\n"
           "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n    namespace: n\n",
           NULL);
    expect("set-annotations", in,
           "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n"
           "    annotations:\n      namespace: n\n"
           "- apiVersion: rbac.authorization.k8s.io/v1\n  kind: Role\n  metadata:\n    name: d\n"
           "    annotations:\n      namespace: n\n"
           "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n"
           "    annotations:\n      namespace: n\n",
           NULL);
    (void)state;
}

static void set_labels_updates_selectors_in_sorted_order(void **state)
{
    expect("set-labels:latest",
           "items:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: d\n"
           "  spec:\n    template:\n      metadata:\n        labels:\n          app: x\n"
           "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data:\n    tier: b\n"
           "    app: y\n",
           "items:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: d\n"
           "    labels:\n      app: y\n      tier: b\n  spec:\n    template:\n      metadata:\n"
           "        labels:\n          app: y\n          tier: b\n    selector:\n"
           "      matchLabels:\n        app: y\n        tier: b\n",
           "set 6 labels in total");
}

/* Regression (kpt-e2e krm-check-exclude-kustomize): the SDK's IsGVK lets an
 * empty kind or apiVersion match any, so a kustomization.yaml (neither) gets
 * the Service selector and the Deployment label selector as well. */
static void set_labels_on_a_resource_without_kind_matches_every_kind(void **state)
{
    expect("set-labels:latest",
           "items:\n- resources:\n  - r.yaml\n"
           "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data:\n    tier: b\n",
           "items:\n- resources:\n  - r.yaml\n  metadata:\n    labels:\n      tier: b\n"
           "  spec:\n    selector:\n      tier: b\n      matchLabels:\n        tier: b\n",
           "set 4 labels in total");
}

static void set_annotations_and_image(void **state)
{
    expect("set-annotations",
           "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: m\n"
           "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data:\n    b: '2'\n    a: x\n",
           "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: m\n"
           "    annotations:\n      a: x\n      b: \"2\"\n",
           NULL);
    expect("set-image",
           "items:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p\n  spec:\n"
           "    containers:\n    - name: a\n      image: nginx:1.1\n    - name: b\n"
           "      image: redis\nfunctionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data:\n"
           "    name: nginx\n    newName: bitnami/nginx\n    newTag: '2.0'\n",
           "items:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p\n  spec:\n"
           "    containers:\n    - name: a\n      image: bitnami/nginx:2.0\n    - name: b\n"
           "      image: redis\n",
           "summary: updated a total of 1 image(s)");
}

static void apply_setters_and_search_replace(void **state)
{
    expect("apply-setters",
           "items:\n- apiVersion: v1\n  kind: X\n  metadata:\n    name: x\n"
           "  replicas: 4 # kpt-set: ${r}\n  image: \"nginx:1\" # kpt-set: nginx:${tag}\n"
           "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data:\n    r: '3'\n"
           "    tag: '2'\n",
           "items:\n- apiVersion: v1\n  kind: X\n  metadata:\n    name: x\n"
           "  replicas: 3 # kpt-set: ${r}\n  image: \"nginx:2\" # kpt-set: nginx:${tag}\n",
           "set field value to \"3\"");
    expect("search-replace",
           "items:\n- apiVersion: v1\n  kind: X\n  metadata:\n    name: the-x\n"
           "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data:\n"
           "    by-value-regex: the-(.*)\n    put-value: my-${1}\n",
           "items:\n- apiVersion: v1\n  kind: X\n  metadata:\n    name: my-x\n",
           "Mutated field value to \"my-x\"");
}

static void remove_local_config_and_upsert(void **state)
{
    expect("remove-local-config-resources",
           "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n"
           "    annotations:\n      config.kubernetes.io/local-config: \"true\"\n"
           "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n",
           "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n",
           "Number of resources pruned: 1");
    expect("upsert-resource",
           "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n  data:\n"
           "    k: old\nfunctionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n"
           "    name: a\n  data:\n    k: new\n",
           "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n  data:\n"
           "    k: new\n",
           NULL);
}

static void config_errors_are_error_results(void **state)
{
    fn_runtime *rt = builtin_rt();
    fn_results res = {0};
    int rc;
    char *out = run(rt, "set-namespace", "items: []\n", &res, &rc);
    assert_int_equal(rc, -1);
    assert_true(fn_results_has_error(&res));
    assert_non_null(strstr(porch_error_last()->message, "FunctionConfig is missing"));
    free(out);
    fn_results_free(&res);
    fn_runtime_free(rt);
}

static void unknown_image_is_404_listing_what_runs(void **state)
{
    fn_runtime *rt = builtin_rt();
    fn_results res = {0};
    int rc;
    free(run(rt, "gcr.io/kpt-fn/starlark:v0.4", "items: []\n", &res, &rc));
    assert_int_equal(rc, -1);
    assert_int_equal(porch_error_last()->code, 404);
    assert_non_null(strstr(porch_error_last()->message, "starlark"));
    assert_non_null(strstr(porch_error_last()->message, "set-labels"));
    fn_runtime_free(rt);
}

static void denied_image_is_403(void **state)
{
    const char *deny[] = {"gcr.io/kpt-fn/set-*", NULL};
    fn_runtime_opts o = {.builtins = true, .deny_images = deny};
    fn_runtime *rt;
    assert_int_equal(fn_runtime_new(&o, &rt), 0);
    fn_results res = {0};
    int rc;
    free(run(rt, "gcr.io/kpt-fn/set-labels:v0.2", "items: []\n", &res, &rc));
    assert_int_equal(rc, -1);
    assert_int_equal(porch_error_last()->code, 403);
    fn_runtime_free(rt);
}

static fn_runtime *mapped_rt(const char *image, const char *script, char *path, size_t plen)
{
    char sp[] = "/tmp/fn-test-XXXXXX";
    int fd = mkstemp(sp);
    assert_true(fd >= 0);
    dprintf(fd, "#!/bin/sh\n%s\n", script);
    close(fd);
    chmod(sp, 0755);
    snprintf(path, plen, "/tmp/fn-map-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    fprintf(f, "functions:\n- image: %s\n  exec: %s\n", image, sp);
    fclose(f);
    fn_runtime_opts o = {.builtins = true, .image_map = path};
    fn_exec_limits_service(&o.limits);
    o.limits.timeout_ms = 5000;
    o.limits.drop_to_nobody = 0;
    fn_runtime *rt;
    assert_int_equal(fn_runtime_new(&o, &rt), 0);
    return rt;
}

static void mapped_exec_round_trip_keeps_comments(void **state)
{
    char map[128];
    fn_runtime *rt =
        mapped_rt("example.com/fn/copy", "sed 's/value: a/value: b/'", map, sizeof map);
    fn_results res = {0};
    int rc;
    char *out = run(rt, "example.com/fn/copy:v1",
                    "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: m\n"
                    "  data:\n    # the value\n    value: a # inline\n",
                    &res, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(strstr(out, "items:"),
                        "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: m\n"
                        "  data:\n    # the value\n    value: b # inline\n");
    free(out);
    fn_results_free(&res);
    fn_runtime_free(rt);
    unlink(map);
}

static void mapped_exec_invalid_output_names_function(void **state)
{
    char map[128];
    fn_runtime *rt =
        mapped_rt("example.com/fn/bad", "cat >/dev/null; echo '{ not: [yaml'", map, sizeof map);
    fn_results res = {0};
    int rc;
    free(run(rt, "example.com/fn/bad:v1", "items: []\n", &res, &rc));
    assert_int_equal(rc, -1);
    assert_non_null(strstr(porch_error_last()->message, "example.com/fn/bad:v1"));
    assert_non_null(strstr(porch_error_last()->message, "not valid YAML"));
    fn_runtime_free(rt);
    unlink(map);
}

static void eval_text_speaks_the_exec_protocol(void **state)
{
    fn_runtime *rt = builtin_rt();
    const char *in = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
                     "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: m\n"
                     "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data:\n"
                     "    namespace: n\n";
    fn_call call = {.image = "set-namespace"};
    fn_exec_result res;
    assert_int_equal(fn_runtime_eval_text(rt, &call, in, strlen(in), &res), 0);
    assert_int_equal(res.exit_code, 0);
    assert_non_null(strstr(res.out, "    namespace: n\n"));
    assert_non_null(strstr(res.out, "results:\n- message: namespace [default]"));
    fn_exec_result_free(&res);
    fn_runtime_free(rt);
}

static void ensure_name_substring_renames_references(void **state)
{
    expect("ensure-name-substring",
           "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: cm\n"
           "- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: prod-p\n  spec:\n"
           "    volumes:\n    - name: v\n      configMap:\n        name: cm\n"
           "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data:\n    prepend: prod-\n",
           "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: prod-cm\n"
           "- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: prod-p\n  spec:\n"
           "    volumes:\n    - name: v\n      configMap:\n        name: prod-cm\n",
           NULL);
}

static void create_and_list_setters(void **state)
{
    expect("create-setters",
           "items:\n- apiVersion: v1\n  kind: X\n  metadata:\n    name: x\n"
           "  image: nginx:1.2\n  envs:\n  - b\n  - a\n"
           "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data:\n    tag: '1.2'\n"
           "    envs: |\n      - a\n      - b\n",
           "items:\n- apiVersion: v1\n  kind: X\n  metadata:\n    name: x\n"
           "  image: nginx:1.2 # kpt-set: nginx:${tag}\n  envs: # kpt-set: ${envs}\n  - b\n  - a\n",
           NULL);
    expect("list-setters",
           "items:\n- apiVersion: v1\n  kind: X\n  metadata:\n    name: x\n"
           "  image: nginx:1.2 # kpt-set: nginx:${tag}\n  n: 3 # kpt-set: ${n}\n",
           "items:\n- apiVersion: v1\n  kind: X\n  metadata:\n    name: x\n"
           "  image: nginx:1.2 # kpt-set: nginx:${tag}\n  n: 3 # kpt-set: ${n}\n",
           "Name: n, Value: 3, Type: int, Count: 1");
}

static void apply_replacements_copies_fields(void **state)
{
    expect("apply-replacements",
           "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: src\n  data:\n"
           "    host: db.example.com\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n"
           "    name: dst\n  data:\n    url: postgres://old:5432\n"
           "functionConfig:\n  apiVersion: fn.kpt.dev/v1alpha1\n  kind: ApplyReplacements\n"
           "  replacements:\n  - source:\n      kind: ConfigMap\n      name: src\n"
           "      fieldPath: data.host\n    targets:\n    - select:\n        name: dst\n"
           "      fieldPaths:\n      - data.url\n      options:\n        delimiter: ':'\n"
           "        index: 1\n",
           "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n"
           "    name: dst\n  data:\n    url: postgres:db.example.com:5432\n"
           "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: src\n  data:\n"
           "    host: db.example.com\n",
           NULL);
}

/* "data.[a.b/c]" names the key "a.b/c" (kyaml's SmarterPathSplitter). */
static void apply_replacements_bracketed_key(void **state)
{
    expect("apply-replacements",
           "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: src\n  data:\n"
           "    name: front\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: dst\n"
           "  data:\n    app.kubernetes.io/app: old\n"
           "functionConfig:\n  apiVersion: fn.kpt.dev/v1alpha1\n  kind: ApplyReplacements\n"
           "  replacements:\n  - source:\n      kind: ConfigMap\n      name: src\n"
           "      fieldPath: data.name\n    targets:\n    - select:\n        name: dst\n"
           "      fieldPaths:\n      - data.[app.kubernetes.io/app]\n",
           "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: dst\n"
           "  data:\n    app.kubernetes.io/app: front\n"
           "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: src\n  data:\n"
           "    name: front\n",
           NULL);
    (void)state;
}

static void enforcement_action_and_format(void **state)
{
    expect("set-enforcement-action",
           "items:\n- apiVersion: constraints.gatekeeper.sh/v1beta1\n  kind: K8sX\n"
           "  metadata:\n    name: c\n  spec:\n    enforcementAction: deny\n"
           "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data:\n"
           "    enforcementAction: dryrun\n",
           "items:\n- apiVersion: constraints.gatekeeper.sh/v1beta1\n  kind: K8sX\n"
           "  metadata:\n    name: c\n  spec:\n    enforcementAction: dryrun\n",
           "Number of policies set to [dryrun]: 1");
    expect("format",
           "items:\n- spec:\n    a: 1\n  metadata:\n    labels:\n      x: y\n    name: n\n"
           "  kind: K\n  apiVersion: v1\n",
           "items:\n- apiVersion: v1\n  kind: K\n  metadata:\n    name: n\n    labels:\n"
           "      x: y\n  spec:\n    a: 1\n",
           NULL);
}

static void flat_image_map_and_bad_map(void **state)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/fn-flat-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    fprintf(f, "example.com/a: /bin/cat\nexample.com/b: /bin/true\n");
    fclose(f);
    fn_runtime_opts o = {.builtins = false, .image_map = path};
    fn_runtime *rt;
    assert_int_equal(fn_runtime_new(&o, &rt), 0);
    assert_int_equal(fn_runtime_mapped_count(rt), 2);
    const char *exec = NULL;
    assert_string_equal(fn_runtime_mapped_image(rt, 1, &exec), "example.com/b");
    assert_string_equal(exec, "/bin/true");
    char *avail = fn_runtime_available(rt);
    assert_string_equal(avail, "example.com/a, example.com/b");
    free(avail);
    fn_runtime_free(rt);
    f = fopen(path, "w");
    fprintf(f, "functions:\n- image: example.com/a\n");
    fclose(f);
    assert_int_equal(fn_runtime_new(&o, &rt), -1);
    assert_non_null(strstr(porch_error_last()->message, "needs `image` and `exec`"));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(image_names),
        cmocka_unit_test(set_namespace_moves_namespaced_resources),
        cmocka_unit_test(sdk_functions_sort_items),
        cmocka_unit_test(set_labels_updates_selectors_in_sorted_order),
        cmocka_unit_test(set_labels_on_a_resource_without_kind_matches_every_kind),
        cmocka_unit_test(set_annotations_and_image),
        cmocka_unit_test(apply_setters_and_search_replace),
        cmocka_unit_test(remove_local_config_and_upsert),
        cmocka_unit_test(config_errors_are_error_results),
        cmocka_unit_test(unknown_image_is_404_listing_what_runs),
        cmocka_unit_test(denied_image_is_403),
        cmocka_unit_test(mapped_exec_round_trip_keeps_comments),
        cmocka_unit_test(mapped_exec_invalid_output_names_function),
        cmocka_unit_test(eval_text_speaks_the_exec_protocol),
        cmocka_unit_test(ensure_name_substring_renames_references),
        cmocka_unit_test(create_and_list_setters),
        cmocka_unit_test(apply_replacements_copies_fields),
        cmocka_unit_test(apply_replacements_bracketed_key),
        cmocka_unit_test(enforcement_action_and_format),
        cmocka_unit_test(flat_image_map_and_bad_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
