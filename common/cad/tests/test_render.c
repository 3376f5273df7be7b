/* render/eval/source tests on a scratch package with shell exec functions:
 * subpackages render first and parents see their resources, validators
 * cannot change resources, a failing function writes nothing but the
 * Kptfile render record, exec needs allow_exec, eval validates its
 * functionConfig file and input, source honours subpackage .krmignore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cad_internal.h"
#include "cad/cad.h"
#include "error/error.h"

static char dir[256];

static void put(const char *rel, const char *text, int mode)
{
    char *p = cad_path_join(dir, rel);
    assert_int_equal(cad_write_file(p, text, strlen(text)), 0);
    chmod(p, (mode_t)mode);
    free(p);
}

static char *get(const char *rel)
{
    char *p = cad_path_join(dir, rel), *b = NULL;
    size_t n;
    if (cad_read_file(p, &b, &n) < 0)
        b = NULL;
    free(p);
    return b;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/cad-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char *fn = cad_sprintf("#!/bin/sh\nsed 's/color: blue/color: red/'\n");
    put("fn/recolor.sh", fn, 0755);
    free(fn);
    put("fn/sneaky.sh", "#!/bin/sh\nsed 's/red/green/'\n", 0755);
    put("fn/fail.sh", "#!/bin/sh\ncat >/dev/null\necho boom >&2\nexit 1\n", 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cad_rm_rf(dir);
    return 0;
}

static void write_pkg(const char *mutator, const char *validator)
{
    char *kf = cad_sprintf("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: root\npipeline:\n"
                           "  mutators:\n  - exec: %s/fn/%s\n%s%s%s",
                           dir, mutator, validator ? "  validators:\n  - exec: " : "", validator ? dir : "",
                           validator ? "/fn/" : "");
    if (validator) {
        char *k2 = cad_sprintf("%s%s\n", kf, validator);
        free(kf);
        kf = k2;
    }
    put("pkg/Kptfile", kf, 0644);
    free(kf);
    put("pkg/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a # keep me\ndata:\n  color: blue\n", 0644);
    put("pkg/sub/Kptfile", "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: sub\n", 0644);
    put("pkg/sub/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  color: blue\n", 0644);
}

static int render(bool allow)
{
    char *p = cad_path_join(dir, "pkg");
    cad_render_opts o = {.fn = {.allow_exec = allow, .truncate_output = true}, .dir = p};
    int rc = cad_fn_render(&o);
    free(p);
    return rc;
}

static void test_parent_pipeline_sees_subpackage(void **state)
{
    (void)state;
    write_pkg("recolor.sh", NULL);
    assert_int_equal(render(true), 0);
    char *a = get("pkg/cm.yaml"), *b = get("pkg/sub/cm.yaml"), *k = get("pkg/Kptfile");
    assert_non_null(strstr(a, "color: red"));
    assert_non_null(strstr(a, "# keep me"));
    assert_non_null(strstr(b, "color: red"));
    assert_non_null(strstr(k, "reason: RenderSuccess"));
    free(a);
    free(b);
    free(k);
}

static void test_validator_output_ignored(void **state)
{
    (void)state;
    write_pkg("recolor.sh", "sneaky.sh");
    assert_int_equal(render(true), 0);
    char *a = get("pkg/cm.yaml");
    assert_non_null(strstr(a, "color: red"));
    assert_null(strstr(a, "green"));
    free(a);
}

static void test_failure_writes_only_record(void **state)
{
    (void)state;
    write_pkg("recolor.sh", "fail.sh");
    assert_int_not_equal(render(true), 0);
    char *a = get("pkg/cm.yaml"), *k = get("pkg/Kptfile");
    assert_non_null(strstr(a, "color: blue"));
    assert_non_null(strstr(k, "reason: RenderFailed"));
    assert_non_null(strstr(k, "exitCode: 1"));
    free(a);
    free(k);
}

static void test_exec_needs_allow(void **state)
{
    (void)state;
    write_pkg("recolor.sh", NULL);
    assert_int_not_equal(render(false), 0);
    char *a = get("pkg/cm.yaml");
    assert_non_null(strstr(a, "color: blue"));
    free(a);
}

static void test_eval_selector(void **state)
{
    (void)state;
    write_pkg("recolor.sh", NULL);
    char *p = cad_path_join(dir, "pkg"), *fn = cad_path_join(dir, "fn/recolor.sh");
    cad_eval_opts o = {.fn = {.allow_exec = true}, .dir = p, .exec = fn, .match = {.name = "b"}};
    assert_int_equal(cad_fn_eval(&o), 0);
    char *a = get("pkg/cm.yaml"), *b = get("pkg/sub/cm.yaml");
    assert_non_null(strstr(a, "color: blue"));
    assert_non_null(strstr(b, "color: red"));
    free(a);
    free(b);
    free(p);
    free(fn);
}

/* A subpackage's .krmignore covers its own files; the root's patterns do
 * not reach into it (kyaml's rule). */
static void test_source_subpackage_krmignore(void **state)
{
    (void)state;
    write_pkg("recolor.sh", NULL);
    put("pkg/.krmignore", "cm.yaml\n", 0644);
    put("pkg/sub/.krmignore", "junk.yaml\n", 0644);
    put("pkg/sub/junk.yaml", "not: krm\n", 0644);
    char *p = cad_path_join(dir, "pkg"), *out = NULL;
    size_t len;
    assert_int_equal(cad_fn_source(p, NULL, &out, &len), 0);
    assert_null(strstr(out, "junk.yaml"));
    assert_non_null(strstr(out, "path: 'sub/cm.yaml'"));
    assert_null(strstr(out, "path: 'cm.yaml'"));
    free(out);
    free(p);
}

static int eval_with_config(const char *config_text)
{
    put("config.yaml", config_text, 0644);
    char *p = cad_path_join(dir, "pkg"), *fn = cad_path_join(dir, "fn/recolor.sh");
    char *cfg = cad_path_join(dir, "config.yaml");
    cad_eval_opts o = {.fn = {.allow_exec = true}, .dir = p, .exec = fn, .fn_config = cfg};
    int rc = cad_fn_eval(&o);
    free(p);
    free(fn);
    free(cfg);
    return rc;
}

/* --fn-config holds exactly one KRM resource, with kpt's messages. */
static void test_eval_fn_config_validated(void **state)
{
    (void)state;
    write_pkg("recolor.sh", NULL);
    assert_int_equal(eval_with_config("apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n"), -1);
    assert_non_null(strstr(porch_error_last()->message, "resource must have `metadata.name`"));
    assert_int_equal(eval_with_config("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n"
                                      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n"),
                     -1);
    assert_non_null(
        strstr(porch_error_last()->message, "must not contain more than one config, got 2"));
    assert_int_equal(eval_with_config("\nnot a config\n"), -1);
    assert_non_null(strstr(porch_error_last()->message,
                           "wrong node kind: expected MappingNode but got ScalarNode: node "
                           "contents:\nnot a config\n"));
    char *a = get("pkg/cm.yaml");
    assert_non_null(strstr(a, "color: blue"));
    free(a);
    assert_int_equal(
        eval_with_config("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n"), 0);
}

/* eval refuses input that is not KRM, naming the file. */
static void test_eval_rejects_non_krm(void **state)
{
    (void)state;
    write_pkg("recolor.sh", NULL);
    put("pkg/bad.yaml", "kind: Thing\nmetadata:\n  name: x\n", 0644);
    char *p = cad_path_join(dir, "pkg"), *fn = cad_path_join(dir, "fn/recolor.sh");
    cad_eval_opts o = {.fn = {.allow_exec = true}, .dir = p, .exec = fn};
    assert_int_equal(cad_fn_eval(&o), -1);
    assert_string_equal(porch_error_last()->message,
                        "input resource list must contain only KRM resources: bad.yaml: resource "
                        "must have `apiVersion`");
    free(p);
    free(fn);
}

/* --save: kpt's Function (expanded image, k=v as configMap, selectors);
 * the same image again updates its entry; no Kptfile is not an error. */
static void test_eval_save_function(void **state)
{
    (void)state;
    write_pkg("recolor.sh", NULL);
    put("pkg/Kptfile", "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: root # keep\n",
        0644);
    char *p = cad_path_join(dir, "pkg");
    char *kv[] = {"namespace=a", NULL};
    cad_eval_opts o = {.dir = p,
                       .image = "set-namespace:latest",
                       .kv = kv,
                       .save = true,
                       .match = {.kind = "ConfigMap"}};
    assert_int_equal(cad_fn_eval(&o), 0);
    kv[0] = "namespace=b";
    assert_int_equal(cad_fn_eval(&o), 0);
    char *k = get("pkg/Kptfile");
    assert_string_equal(k,
                        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: root # keep\n"
                        "pipeline:\n  mutators:\n"
                        "    - image: ghcr.io/kptdev/krm-functions-catalog/set-namespace:latest\n"
                        "      configMap:\n        namespace: b\n"
                        "      selectors:\n        - kind: ConfigMap\n");
    free(k);
    char *kf = cad_path_join(dir, "pkg/Kptfile");
    unlink(kf);
    free(kf);
    assert_int_equal(cad_fn_eval(&o), 0);
    free(p);
}

/* render checks every configPath before running anything: inside the
 * package, one KRM resource, and a file of the package itself. */
static void test_render_config_path_checks(void **state)
{
    (void)state;
    write_pkg("recolor.sh", NULL);
    char *kf =
        cad_sprintf("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: root\n"
                    "pipeline:\n  mutators:\n  - exec: %s/fn/recolor.sh\n    configPath: %%s\n",
                    dir);
    char *k1 = cad_sprintf(kf, "a/../../x.yaml");
    put("pkg/Kptfile", k1, 0644);
    assert_int_not_equal(render(true), 0);
    assert_non_null(
        strstr(porch_error_last()->message, "Reason: path must not be outside the package"));
    char *k2 = cad_sprintf(kf, "two.yaml");
    put("pkg/Kptfile", k2, 0644);
    put("pkg/two.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
        0644);
    assert_int_not_equal(render(true), 0);
    assert_non_null(
        strstr(porch_error_last()->message,
               "functionConfig \"two.yaml\" must not contain more than one config, got 2"));
    char *k3 = cad_sprintf(kf, "sub/cm.yaml");
    put("pkg/Kptfile", k3, 0644);
    assert_int_not_equal(render(true), 0);
    assert_non_null(
        strstr(porch_error_last()->message,
               "Reason: functionConfig resource for mutator \"\" is missing from path "
               "\"sub/cm.yaml\", this also occurs if \"sub/cm.yaml\" is part of a subpackage"));
    char *k4 = cad_sprintf("%s    configMap:\n      a: b\n", k3);
    put("pkg/Kptfile", k4, 0644);
    assert_int_not_equal(render(true), 0);
    assert_non_null(
        strstr(porch_error_last()->message,
               "Field: `pipeline.mutators[0]`\nReason: functionConfig must not specify both "
               "`configMap` and `configPath` at the same time"));
    free(k4);
    char *a = get("pkg/cm.yaml");
    assert_non_null(strstr(a, "color: blue"));
    free(a);
    free(k1);
    free(k2);
    free(k3);
    free(kf);
}

/* render -o DIR: the rendered package (subpackages at their paths) goes to
 * DIR and the source package, its Kptfile included, is not touched. */
static void test_render_out_of_place(void **state)
{
    (void)state;
    write_pkg("recolor.sh", NULL);
    char *before = get("pkg/Kptfile");
    char *p = cad_path_join(dir, "pkg"), *out = cad_path_join(dir, "out");
    cad_render_opts o = {.fn = {.allow_exec = true}, .dir = p, .output = out};
    assert_int_equal(cad_fn_render(&o), 0);
    char *a = get("out/cm.yaml"), *b = get("out/sub/cm.yaml"), *k = get("pkg/Kptfile");
    char *src = get("pkg/cm.yaml");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(strstr(b, "color: red"));
    assert_string_equal(k, before);
    assert_non_null(strstr(src, "color: blue"));
    free(a);
    free(b);
    free(k);
    free(src);
    free(before);
    free(p);
    free(out);
}

/* A document's head comment (a block followed by a blank line) becomes the
 * resource's head comment after a function, as kyaml heals from the
 * document it read. */
static void test_document_head_comment_after_function(void **state)
{
    (void)state;
    write_pkg("recolor.sh", NULL);
    put("pkg/cm.yaml",
        "# license\n\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n"
        "  color: blue\n",
        0644);
    assert_int_equal(render(true), 0);
    char *a = get("pkg/cm.yaml");
    assert_string_equal(a,
                        "# license\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n"
                        "  color: red\n");
    free(a);
}

/* A Kptfile that does not parse: kpt's resolver message with go-yaml's
 * text; a subpackage's is recorded in the root's render status. */
static void test_render_unreadable_kptfiles(void **state)
{
    (void)state;
    write_pkg("recolor.sh", NULL);
    put("pkg/sub/Kptfile", "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: a: b\n",
        0644);
    assert_int_not_equal(render(true), 0);
    assert_non_null(
        strstr(porch_error_last()->message,
               "/sub\" can't be read.\n\nDetails:\nyaml: line 4: mapping values are not "
               "allowed in this context"));
    char *k = get("pkg/Kptfile");
    assert_non_null(strstr(k,
                           "pkg.Subpackages: pkg ./sub: error reading Kptfile at \"./sub\": yaml: "
                           "line 4: mapping values"));
    free(k);
    put("pkg/Kptfile", "apiVersion: kpt.dev/v1\nkind: Kptfile\nx\n;y\n", 0644);
    assert_int_not_equal(render(true), 0);
    assert_non_null(
        strstr(porch_error_last()->message,
               "can't be read.\n\nDetails:\nyaml: line 3: could not find expected ':'"));
}

/* The render record rewrites the Kptfile as kpt's typed struct: fields in
 * the struct's order (selectors: kind before name), unknown fields gone;
 * comments and map order stay (kpt beta.56 did not rewrite it at all). */
static void test_render_record_struct_order(void **state)
{
    (void)state;
    write_pkg("recolor.sh", NULL);
    char *kf =
        cad_sprintf("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: root\n"
                    "pipeline:\n  mutators:\n  - configMap: # cfg\n      b: '2'\n      a: x\n"
                    "    exec: %s/fn/recolor.sh\n    selectors:\n    - name: a\n      kind: "
                    "ConfigMap\n",
                    dir);
    put("pkg/Kptfile", kf, 0644);
    assert_int_equal(render(true), 0);
    char *k = get("pkg/Kptfile");
    char *want =
        cad_sprintf("apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: root\n"
                    "pipeline:\n  mutators:\n  - exec: %s/fn/recolor.sh\n    configMap: # cfg\n"
                    "      b: \"2\"\n      a: x\n    selectors:\n    - kind: ConfigMap\n"
                    "      name: a\nstatus:\n",
                    dir);
    assert_non_null(k);
    assert_memory_equal(k, want, strlen(want));
    free(want);
    free(k);
    free(kf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parent_pipeline_sees_subpackage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validator_output_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_writes_only_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_needs_allow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval_selector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_subpackage_krmignore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval_fn_config_validated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval_rejects_non_krm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval_save_function, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_config_path_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_out_of_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_document_head_comment_after_function, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_unreadable_kptfiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_record_struct_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
