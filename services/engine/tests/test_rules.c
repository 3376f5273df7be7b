/* Tests of the lifecycle rules against spec §3.6–§3.9 and the e2e
 * suite's forbidden transitions (scenario 18) and invalid creates (19). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "error/error.h"
#include "rules.h"

static json_t *pr(const char *lifecycle, const char *ws)
{
    return json_pack("{s:{s:s}, s:{s:s, s:s, s:s, s:s}}", "metadata", "name", "r.p.ws", "spec",
                     "packageName", "p", "workspaceName", ws, "repository", "r", "lifecycle",
                     lifecycle);
}

static int update(const char *from, const char *to, int approval)
{
    json_t *a = pr(from, "ws"), *b = pr(to, "ws");
    const char *lc;
    int rc = engine_rules_check_update(a, b, approval, &lc);
    json_decref(a);
    json_decref(b);
    return rc == 0 ? 0 : porch_error_last()->code;
}

static void allowed_transitions(void **state)
{
    assert_int_equal(update("Draft", "Proposed", 0), 0);
    assert_int_equal(update("Proposed", "Draft", 0), 0);
    assert_int_equal(update("Proposed", "Published", 1), 0);
    assert_int_equal(update("Proposed", "Draft", 1), 0);
    assert_int_equal(update("Published", "DeletionProposed", 0), 0);
    assert_int_equal(update("DeletionProposed", "Published", 1), 0);
    assert_int_equal(update("", "Proposed", 0), 0);
}

static void forbidden_transitions_are_422(void **state)
{
    assert_int_equal(update("Draft", "Published", 0), 422);
    assert_int_equal(update("Draft", "Published", 1), 422);
    assert_int_equal(update("Draft", "DeletionProposed", 1), 422);
    assert_int_equal(update("Draft", "Bogus", 0), 422);
    assert_int_equal(update("Proposed", "Published", 0), 422);
    assert_int_equal(update("Published", "Proposed", 0), 422);
    assert_int_equal(update("Published", "Draft", 1), 422);
    assert_non_null(strstr(porch_error_last()->message, "cannot change approval"));
    assert_int_equal(update("Draft", "Published", 1), 422);
    assert_non_null(strstr(porch_error_last()->message, "only Proposed packages can be approved"));
}

static void published_spec_is_frozen(void **state)
{
    json_t *a = pr("Published", "v1"), *b = pr("Published", "renamed");
    const char *lc;
    assert_int_equal(engine_rules_check_update(a, b, 0, &lc), -1);
    assert_int_equal(porch_error_last()->code, 422);
    json_decref(b);
    b = pr("DeletionProposed", "v1");
    json_object_del(json_object_get(b, "spec"), "packageMetadata");
    assert_int_equal(engine_rules_check_update(a, b, 0, &lc), 0);
    assert_string_equal(lc, "DeletionProposed");
    json_decref(a);
    json_decref(b);
}

static void latest_label_is_managed(void **state)
{
    json_t *a = pr("Draft", "ws"), *b = pr("Draft", "ws");
    json_object_set_new(json_object_get(b, "metadata"), "labels",
                        json_pack("{s:s}", ENGINE_LATEST_LABEL, "true"));
    const char *lc;
    assert_int_equal(engine_rules_check_update(a, b, 0, &lc), -1);
    assert_int_equal(porch_error_last()->code, 422);
    assert_int_equal(engine_rules_check_create("ns", b), -1);
    assert_int_equal(porch_error_last()->code, 422);
    json_decref(a);
    json_decref(b);
}

static int create(const char *ns, const char *repo, const char *pkg, const char *ws,
                  const char *lc)
{
    json_t *o = json_pack("{s:{s:s?, s:s?, s:s?, s:s?}}", "spec", "repository", repo,
                          "packageName", pkg, "workspaceName", ws, "lifecycle", lc);
    int rc = engine_rules_check_create(ns, o);
    json_decref(o);
    return rc == 0 ? 0 : porch_error_last()->code;
}

static void create_checks(void **state)
{
    assert_int_equal(create("ns", "r", "p", "ws", NULL), 0);
    assert_int_equal(create("ns", "r", "team/app/pkg", "ws", "Draft"), 0);
    assert_int_equal(create("", "r", "p", "ws", NULL), 400);
    assert_int_equal(create("ns", NULL, "p", "ws", NULL), 400);
    assert_non_null(strstr(porch_error_last()->message, "spec.repositoryName is required"));
    assert_int_equal(create("ns", "r", "Bad_Name", "ws", NULL), 422);
    assert_int_equal(create("ns", "r", "a//b", "ws", NULL), 422);
    assert_int_equal(create("ns", "r", "/a", "ws", NULL), 422);
    assert_int_equal(create("ns", "r", "p", "", NULL), 422);
    assert_int_equal(create("ns", "r", "p", "WS", NULL), 422);
    assert_int_equal(create("ns", "r", "p", "ws", "Published"), 422);
    json_t *o = json_pack("{s:{s:s, s:s, s:s, s:[{s:s},{s:s}]}}", "spec", "repository", "r",
                          "packageName", "p", "workspaceName", "w", "tasks", "type", "init",
                          "type", "init");
    assert_int_equal(engine_rules_check_create("ns", o), -1);
    assert_non_null(strstr(porch_error_last()->message, "more than one task"));
    json_decref(o);
}

static void delete_of_published_is_403(void **state)
{
    json_t *p = pr("Published", "v1"), *d = pr("DeletionProposed", "v1"), *w = pr("Draft", "w");
    assert_int_equal(engine_rules_check_delete(p), -1);
    assert_int_equal(porch_error_last()->code, 403);
    assert_int_equal(engine_rules_check_delete(d), 0);
    assert_int_equal(engine_rules_check_delete(w), 0);
    json_decref(p);
    json_decref(d);
    json_decref(w);
}

static void package_paths_nest_by_directory(void **state)
{
    assert_true(engine_rules_paths_nest("team/app", "team/app/db"));
    assert_true(engine_rules_paths_nest("team/app/db", "team"));
    assert_true(engine_rules_paths_nest("a", "a/b/c"));
    assert_false(engine_rules_paths_nest("app", "app"));
    assert_false(engine_rules_paths_nest("app", "app-db"));
    assert_false(engine_rules_paths_nest("app/db", "app-db/x"));
    assert_false(engine_rules_paths_nest("team/app", "team/apps"));
    assert_false(engine_rules_paths_nest("team/app", "team/b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(allowed_transitions),
        cmocka_unit_test(forbidden_transitions_are_422),
        cmocka_unit_test(published_spec_is_frozen),
        cmocka_unit_test(latest_label_is_managed),
        cmocka_unit_test(create_checks),
        cmocka_unit_test(delete_of_published_is_403),
        cmocka_unit_test(package_paths_nest_by_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
