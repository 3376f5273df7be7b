/* The discovery documents kubectl depends on: group list, group documents and
 * resource lists with the names, kinds, verbs and subresources of
 * spec/porch-api.md §2, and the legacy /api documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "apiserver.h"

#include <string.h>

static json_t *load(const char *path)
{
    apiserver_discovery *d = NULL;
    assert_int_equal(apiserver_discovery_new("127.0.0.1:9443", &d), 0);
    const char *text = apiserver_discovery_lookup(d, path);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    apiserver_discovery_free(d);
    return doc;
}

static json_t *find_resource(json_t *list, const char *name)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(list, "resources"), i,
                       r) if (strcmp(json_string_value(json_object_get(r, "name")), name) ==
                              0) return r;
    return NULL;
}

/* Verbs as one space-joined string, in the order served. */
static void assert_verbs(json_t *r, const char *want)
{
    char got[256] = "";
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(r, "verbs"), i, v)
    {
        if (i)
            strcat(got, " ");
        strcat(got, json_string_value(v));
    }
    assert_string_equal(got, want);
}

static void assert_resource(json_t *list, const char *name, const char *singular, const char *kind,
                            const char *verbs)
{
    json_t *r = find_resource(list, name);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "singularName")), singular);
    assert_string_equal(json_string_value(json_object_get(r, "kind")), kind);
    assert_true(json_is_true(json_object_get(r, "namespaced")));
    assert_verbs(r, verbs);
}

static void test_porch_resources_match_spec(void **state)
{
    (void)state;
    json_t *doc = load("/apis/porch.kpt.dev/v1alpha1");
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "kind")), "APIResourceList");
    assert_string_equal(json_string_value(json_object_get(doc, "groupVersion")),
                        "porch.kpt.dev/v1alpha1");
    assert_int_equal(json_array_size(json_object_get(doc, "resources")), 4);
    assert_resource(doc, "packagerevisions", "packagerevision", "PackageRevision",
                    "create delete get list patch update watch");
    assert_resource(doc, "packagerevisions/approval", "", "PackageRevision", "get patch update");
    assert_resource(doc, "packagerevisionresources", "packagerevisionresources",
                    "PackageRevisionResources", "get list patch update");
    assert_resource(doc, "packages", "package", "PorchPackage", "get list");
    /* No short names, no /status on packagerevisions. */
    assert_null(json_object_get(find_resource(doc, "packagerevisions"), "shortNames"));
    assert_null(find_resource(doc, "packagerevisions/status"));
    json_decref(doc);
}

static void test_repositories_have_short_name_and_status(void **state)
{
    (void)state;
    json_t *doc = load("/apis/config.porch.kpt.dev/v1alpha1");
    assert_non_null(doc);
    assert_resource(doc, "repositories", "repository", "Repository",
                    "create delete deletecollection get list patch update watch");
    json_t *short_names = json_object_get(find_resource(doc, "repositories"), "shortNames");
    assert_int_equal(json_array_size(short_names), 1);
    assert_string_equal(json_string_value(json_array_get(short_names, 0)), "repo");
    assert_resource(doc, "repositories/status", "", "Repository", "get patch update");
    json_decref(doc);
}

static void test_group_list_names_both_groups(void **state)
{
    (void)state;
    json_t *doc = load("/apis");
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "kind")), "APIGroupList");
    json_t *groups = json_object_get(doc, "groups");
    assert_int_equal(json_array_size(groups), 2);
    const char *names[] = {"porch.kpt.dev", "config.porch.kpt.dev"};
    for (size_t i = 0; i < 2; i++) {
        json_t *g = json_array_get(groups, i);
        assert_string_equal(json_string_value(json_object_get(g, "name")), names[i]);
        json_t *pref = json_object_get(g, "preferredVersion");
        assert_string_equal(json_string_value(json_object_get(pref, "version")), "v1alpha1");
        json_t *v0 = json_array_get(json_object_get(g, "versions"), 0);
        char gv[64];
        snprintf(gv, sizeof(gv), "%s/v1alpha1", names[i]);
        assert_string_equal(json_string_value(json_object_get(v0, "groupVersion")), gv);
    }
    json_decref(doc);
}

static void test_group_document(void **state)
{
    (void)state;
    json_t *doc = load("/apis/porch.kpt.dev");
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "kind")), "APIGroup");
    assert_string_equal(json_string_value(json_object_get(doc, "name")), "porch.kpt.dev");
    json_decref(doc);
    doc = load("/apis/config.porch.kpt.dev");
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "name")), "config.porch.kpt.dev");
    json_decref(doc);
}

static void test_core_api(void **state)
{
    (void)state;
    json_t *doc = load("/api");
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "kind")), "APIVersions");
    assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "versions"), 0)),
                        "v1");
    json_t *addr = json_array_get(json_object_get(doc, "serverAddressByClientCIDRs"), 0);
    assert_string_equal(json_string_value(json_object_get(addr, "serverAddress")),
                        "127.0.0.1:9443");
    json_decref(doc);
    doc = load("/api/v1");
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "groupVersion")), "v1");
    assert_non_null(find_resource(doc, "secrets"));
    json_t *ns = find_resource(doc, "namespaces");
    assert_non_null(ns);
    assert_false(json_is_true(json_object_get(ns, "namespaced")));
    json_decref(doc);
}

static void test_unknown_paths_are_not_discovery(void **state)
{
    (void)state;
    assert_null(load("/apis/porch.kpt.dev/v1alpha2"));
    assert_null(load("/apis/"));
    assert_null(load("/"));
    assert_null(load("/apis/porch.kpt.dev/v1alpha1/packagerevisions"));
}

static void test_version_shape(void **state)
{
    (void)state;
    json_t *v = apiserver_discovery_version();
    const char *keys[] = {"major",     "minor",     "gitVersion", "gitCommit", "gitTreeState",
                          "buildDate", "goVersion", "compiler",   "platform"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_true(json_is_string(json_object_get(v, keys[i])));
    assert_string_equal(json_string_value(json_object_get(v, "major")), "1");
    assert_non_null(strstr(json_string_value(json_object_get(v, "gitVersion")), "porch"));
    json_decref(v);
}

static void test_status_shape(void **state)
{
    (void)state;
    json_t *st = apiserver_status_new(404, NULL, "nope");
    assert_string_equal(json_string_value(json_object_get(st, "kind")), "Status");
    assert_string_equal(json_string_value(json_object_get(st, "status")), "Failure");
    assert_string_equal(json_string_value(json_object_get(st, "reason")), "NotFound");
    assert_int_equal(json_integer_value(json_object_get(st, "code")), 404);
    json_decref(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_porch_resources_match_spec),
        cmocka_unit_test(test_repositories_have_short_name_and_status),
        cmocka_unit_test(test_group_list_names_both_groups),
        cmocka_unit_test(test_group_document),
        cmocka_unit_test(test_core_api),
        cmocka_unit_test(test_unknown_paths_are_not_discovery),
        cmocka_unit_test(test_version_shape),
        cmocka_unit_test(test_status_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
