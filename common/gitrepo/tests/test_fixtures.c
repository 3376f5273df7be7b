/* Discovery on Porch's own fixture repositories: each tar is unpacked, opened
 * through gitrepo as a file remote, and must list exactly the revisions
 * Porch's tests (pkg/externalrepo/git/git_test.go) expect — names, revisions,
 * lifecycles, workspaces and the latest label — plus publish info and tasks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error/error.h"
#include "fixture_util.h"
#include "gitrepo/gitrepo.h"

typedef struct opened {
    char tmp[256];
    char remote[512];
    gitrepo *repo;
    json_t *items;
} opened;

/* Unpacks and opens `fixture` as repository `name` with `directory`; skips without fixtures. */
static void open_fixture(opened *o, const char *fixture, const char *name, const char *directory)
{
    memset(o, 0, sizeof *o);
    if (!fixture_dir())
        skip();
    assert_int_equal(fixture_unpack(fixture, o->tmp, sizeof o->tmp, o->remote, sizeof o->remote),
                     0);
    char cache[512];
    snprintf(cache, sizeof cache, "%s/cache", o->tmp);
    gitrepo_config cfg = {.name = name,
                          .namespace_ = "default",
                          .url = o->remote,
                          .branch = "main",
                          .directory = directory,
                          .cache_dir = cache};
    int rc = gitrepo_open(&cfg, &o->repo);
    if (rc != 0)
        fail_msg("open %s: %s", fixture, porch_error_last()->message);
    assert_int_equal(gitrepo_list(o->repo, &o->items), 0);
}

static void close_fixture(opened *o)
{
    json_decref(o->items);
    gitrepo_free(o->repo);
    fixture_cleanup(o->tmp);
}

static const char *sget(json_t *obj, const char *a, const char *b)
{
    const char *s = json_string_value(json_object_get(json_object_get(obj, a), b));
    return s ? s : "";
}

/* "name|packageName|workspace|revision|lifecycle[|latest]" for one item. */
static void describe(json_t *item, char *buf, size_t len)
{
    json_t *labels = json_object_get(json_object_get(item, "metadata"), "labels");
    int latest = json_object_get(labels, "kpt.dev/latest-revision") != NULL;
    snprintf(buf, len, "%s|%s|%s|%d|%s%s", sget(item, "metadata", "name"),
             sget(item, "spec", "packageName"), sget(item, "spec", "workspaceName"),
             (int)json_integer_value(json_object_get(json_object_get(item, "spec"), "revision")),
             sget(item, "spec", "lifecycle"), latest ? "|latest" : "");
}

static void expect_exactly(json_t *items, const char *const *want, size_t n)
{
    char got[8192] = "";
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        char d[512];
        describe(item, d, sizeof d);
        strcat(got, d);
        strcat(got, "\n");
        int found = 0;
        for (size_t k = 0; k < n; k++)
            if (strcmp(want[k], d) == 0)
                found = 1;
        if (!found)
            fail_msg("unexpected revision %s; all:\n%s", d, got);
    }
    if (json_array_size(items) != n)
        fail_msg("got %zu revisions, want %zu:\n%s", json_array_size(items), n, got);
}

static json_t *find(json_t *items, const char *name)
{
    size_t i;
    json_t *item;
    json_array_foreach(items, i,
                       item) if (strcmp(sget(item, "metadata", "name"), name) == 0) return item;
    fail_msg("revision %s not listed", name);
    return NULL;
}

static void simple_repository(void **state)
{
    opened o;
    open_fixture(&o, "simple-repository", "simple", "/");
    const char *want[] = {
        "simple.empty.v1|empty|v1|1|Published|latest",
        "simple.basens.v1|basens|v1|1|Published",
        "simple.basens.v2|basens|v2|2|Published|latest",
        "simple.istions.v1|istions|v1|1|Published",
        "simple.istions.v2|istions|v2|2|Published|latest",
        "simple.empty.main|empty|main|-1|Published",
        "simple.basens.main|basens|main|-1|Published",
        "simple.istions.main|istions|main|-1|Published",
    };
    expect_exactly(o.items, want, sizeof want / sizeof *want);
    json_t *b2 = find(o.items, "simple.basens.v2");
    assert_string_equal(sget(b2, "metadata", "resourceVersion"),
                        "c93d417f1393ae5d7def978da70c42b62e645cda");
    json_t *lock = json_object_get(json_object_get(b2, "status"), "selfLock");
    assert_string_equal(sget(lock, "git", "ref"), "basens/v2");
    assert_string_equal(sget(lock, "git", "directory"), "basens");
    /* The order is leaf name, revision, lifecycle, name. */
    assert_string_equal(sget(json_array_get(o.items, 0), "metadata", "name"), "simple.basens.main");
    close_fixture(&o);
}

static void drafts_repository(void **state)
{
    opened o;
    open_fixture(&o, "drafts-repository", "drafts", "/");
    const char *want[] = {
        "drafts.empty.v1|empty|v1|1|Published|latest",
        "drafts.basens.v1|basens|v1|1|Published",
        "drafts.basens.v2|basens|v2|2|Published|latest",
        "drafts.istions.v1|istions|v1|1|Published",
        "drafts.istions.v2|istions|v2|2|Published|latest",
        "drafts.bucket.v1|bucket|v1|0|Draft",
        "drafts.none.v1|none|v1|0|Draft",
        "drafts.pkg-with-history.v1|pkg-with-history|v1|0|Draft",
        "drafts.basens.main|basens|main|-1|Published",
        "drafts.empty.main|empty|main|-1|Published",
        "drafts.istions.main|istions|main|-1|Published",
    };
    expect_exactly(o.items, want, sizeof want / sizeof *want);
    json_t *d = find(o.items, "drafts.bucket.v1");
    assert_string_equal(sget(json_object_get(d, "status"), "selfLock", "type"), "git");
    assert_true(json_is_null(json_object_get(json_object_get(d, "status"), "publishTimestamp")));
    assert_null(json_object_get(json_object_get(d, "spec"), "revision")); /* omitted when 0 */
    close_fixture(&o);
}

static void trivial_repository_has_no_packages(void **state)
{
    opened o;
    open_fixture(&o, "trivial-repository", "trivial", "/");
    assert_int_equal(json_array_size(o.items), 0);
    close_fixture(&o);
}

static void empty_repository_needs_create_branch(void **state)
{
    if (!fixture_dir())
        skip();
    char tmp[256], remote[512], cache[512];
    assert_int_equal(fixture_unpack("empty-repository", tmp, sizeof tmp, remote, sizeof remote), 0);
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    gitrepo_config cfg = {
        .name = "empty", .namespace_ = "default", .url = remote, .cache_dir = cache};
    gitrepo *repo = NULL;
    assert_int_equal(gitrepo_open(&cfg, &repo), -1);
    assert_int_equal(porch_error_last()->code, 404);
    assert_non_null(strstr(porch_error_last()->message, "branch \"main\" doesn't exist"));
    cfg.create_branch = 1;
    assert_int_equal(gitrepo_open(&cfg, &repo), 0);
    char head[GITREPO_SHA_HEX];
    gitrepo_branch_head(repo, head);
    assert_int_equal(strlen(head), 40);
    json_t *items = NULL, *res = NULL;
    assert_int_equal(gitrepo_list(repo, &items), 0);
    assert_int_equal(json_array_size(items), 0);
    assert_int_equal(gitrepo_read_files(repo, head, "", &res, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(res, "README.md")), "Created by porch");
    json_decref(items);
    json_decref(res);
    gitrepo_free(repo);
    /* The remote itself now has the branch. */
    git_repository *r = NULL;
    git_oid oid;
    assert_int_equal(git_repository_open(&r, remote), 0);
    assert_int_equal(git_reference_name_to_id(&oid, r, "refs/heads/main"), 0);
    git_repository_free(r);
    fixture_cleanup(tmp);
}

/* gitrepo_find discovers one package only; it must agree with the full listing. */
static void find_agrees_with_list(opened *o)
{
    size_t i;
    json_t *item;
    json_array_foreach(o->items, i, item)
    {
        json_t *one = NULL;
        const char *name = sget(item, "metadata", "name");
        if (gitrepo_find(o->repo, name, &one) != 0)
            fail_msg("find %s: %s", name, porch_error_last()->message);
        if (!json_equal(one, item))
            fail_msg("find %s differs from list", name);
        json_decref(one);
    }
    json_t *none = NULL;
    assert_int_equal(gitrepo_find(o->repo, "nested.catalog.nope.v1", &none), -1);
    assert_int_equal(porch_error_last()->code, 404);
}

static void nested_repository(void **state)
{
    opened o;
    open_fixture(&o, "nested-repository", "nested", "/");
    find_agrees_with_list(&o);
    const char *want[] = {
        "nested.catalog.empty.v1|catalog/empty|v1|1|Published|latest",
        "nested.catalog.gcp.bucket.v1|catalog/gcp/bucket|v1|1|Published|latest",
        "nested.catalog.namespace.basens.v1|catalog/namespace/basens|v1|1|Published",
        "nested.catalog.namespace.basens.v2|catalog/namespace/basens|v2|2|Published",
        "nested.catalog.namespace.basens.v3|catalog/namespace/basens|v3|3|Published|latest",
        "nested.catalog.namespace.istions.v1|catalog/namespace/istions|v1|1|Published",
        "nested.catalog.namespace.istions.v2|catalog/namespace/istions|v2|2|Published",
        "nested.catalog.namespace.istions.v3|catalog/namespace/istions|v3|3|Published|latest",
        "nested.sample.v1|sample|v1|1|Published",
        "nested.sample.v2|sample|v2|2|Published|latest",
        "nested.catalog.gcp.bucket.v2|catalog/gcp/bucket|v2|0|Draft",
        "nested.catalog.gcp.cloud-sql.v1|catalog/gcp/cloud-sql|v1|0|Draft",
        "nested.catalog.gcp.spanner.v1|catalog/gcp/spanner|v1|0|Draft",
        "nested.catalog.empty.main|catalog/empty|main|-1|Published",
        "nested.catalog.gcp.bucket.main|catalog/gcp/bucket|main|-1|Published",
        "nested.catalog.namespace.basens.main|catalog/namespace/basens|main|-1|Published",
        "nested.catalog.namespace.istions.main|catalog/namespace/istions|main|-1|Published",
        "nested.sample.main|sample|main|-1|Published",
    };
    expect_exactly(o.items, want, sizeof want / sizeof *want);
    close_fixture(&o);
}

static void nested_repository_directories(void **state)
{
    opened o;
    open_fixture(&o, "nested-repository", "directory", "catalog/gcp");
    const char *want[] = {
        "directory.bucket.v1|bucket|v1|1|Published|latest",
        "directory.bucket.v2|bucket|v2|0|Draft",
        "directory.cloud-sql.v1|cloud-sql|v1|0|Draft",
        "directory.spanner.v1|spanner|v1|0|Draft",
        "directory.bucket.main|bucket|main|-1|Published",
    };
    expect_exactly(o.items, want, sizeof want / sizeof *want);
    close_fixture(&o);
    open_fixture(&o, "nested-repository", "directory", "nonexistent");
    assert_int_equal(json_array_size(o.items), 0);
    close_fixture(&o);
}

static void publishinfo_repository(void **state)
{
    opened o;
    open_fixture(&o, "publishinfo-repository", "directory", "");
    find_agrees_with_list(&o);
    const char *want[] = {
        "directory.draft-pkg.v1|draft-pkg|v1|0|Draft",
        "directory.pkg-with-anno.v1|pkg-with-anno|v1|1|Published|latest",
        "directory.pkg-without-anno.v1|pkg-without-anno|v1|1|Published|latest",
        /* the .md's tree is stale: main holds the three packages above and some-pkg */
        "directory.some-pkg.main|some-pkg|main|-1|Published",
        "directory.pkg-with-anno.main|pkg-with-anno|main|-1|Published",
        "directory.pkg-without-anno.main|pkg-without-anno|main|-1|Published",
    };
    expect_exactly(o.items, want, sizeof want / sizeof *want);
    json_t *d = find(o.items, "directory.draft-pkg.v1");
    assert_null(json_object_get(json_object_get(d, "status"), "publishedBy"));
    assert_true(json_is_null(json_object_get(json_object_get(d, "status"), "publishTimestamp")));
    json_t *t = find(o.items, "directory.pkg-with-anno.v1");
    assert_string_equal(sget(t, "status", "publishedBy"), "pkg-with-anno-author@example.com");
    assert_string_equal(sget(t, "status", "publishTimestamp"), "2022-08-26T22:47:35Z");
    json_t *task = json_array_get(json_object_get(json_object_get(t, "spec"), "tasks"), 0);
    assert_string_equal(json_string_value(json_object_get(task, "type")), "init");
    json_t *m = find(o.items, "directory.pkg-with-anno.main");
    assert_string_equal(sget(m, "status", "publishedBy"), "pkg-with-anno-author@example.com");
    assert_string_equal(sget(m, "status", "publishTimestamp"), "2022-08-26T22:47:35Z");
    json_t *w = find(o.items, "directory.pkg-without-anno.main");
    assert_null(json_object_get(json_object_get(w, "status"), "publishedBy"));
    assert_true(json_is_null(json_object_get(json_object_get(w, "status"), "publishTimestamp")));
    close_fixture(&o);
}

static void manually_tagged_repository(void **state)
{
    opened o;
    open_fixture(&o, "manual-tagged-repository", "blueprint", "");
    const char *want[] = {
        "blueprint.pkg.main|pkg|main|-1|Published",
        "blueprint.pkg.v1|pkg|v1|1|Published",
        "blueprint.pkg.v2|pkg|v2|2|Published|latest",
    };
    expect_exactly(o.items, want, sizeof want / sizeof *want);
    json_t *v1 = find(o.items, "blueprint.pkg.v1");
    json_t *task = json_array_get(json_object_get(json_object_get(v1, "spec"), "tasks"), 0);
    assert_string_equal(json_string_value(json_object_get(task, "type")), "init");
    /* pkg/v2 is an annotated tag: the revision is the commit it points at */
    assert_string_equal(sget(find(o.items, "blueprint.pkg.v2"), "metadata", "resourceVersion"),
                        sget(find(o.items, "blueprint.pkg.main"), "metadata", "resourceVersion"));
    close_fixture(&o);
}

static void invalid_annotation_is_ignored(void **state)
{
    opened o;
    open_fixture(&o, "nested-repository-with-invalid-kpt-annotation", "blueprint", "blueprint");
    find_agrees_with_list(&o);
    const char *want[] = {
        "blueprint.bp1.main|bp1|main|-1|Published",   "blueprint.bp1.v1|bp1|v1|1|Published",
        "blueprint.bp1.v2|bp1|v2|2|Published",        "blueprint.bp1.v3|bp1|v3|3|Published|latest",
        "blueprint.bp2.main|bp2|main|-1|Published",   "blueprint.bp2.v1|bp2|v1|1|Published",
        "blueprint.bp2.v2|bp2|v2|2|Published|latest",
    };
    expect_exactly(o.items, want, sizeof want / sizeof *want);
    json_t *task = json_array_get(
        json_object_get(json_object_get(find(o.items, "blueprint.bp2.v2"), "spec"), "tasks"), 0);
    assert_string_equal(json_string_value(json_object_get(task, "type")), "edit");
    close_fixture(&o);
    open_fixture(&o, "nested-repository-with-invalid-kpt-annotation", "blueprint2", "blueprint2");
    const char *want2[] = {
        "blueprint2.bp10.main|bp10|main|-1|Published",
        "blueprint2.bp10.v1|bp10|v1|1|Published|latest",
    };
    expect_exactly(o.items, want2, sizeof want2 / sizeof *want2);
    close_fixture(&o);
}

static void reads_a_revision_s_files(void **state)
{
    opened o;
    open_fixture(&o, "simple-repository", "simple", "");
    json_t *b2 = find(o.items, "simple.istions.v2");
    json_t *res = NULL, *bin = NULL;
    assert_int_equal(
        gitrepo_read_files(o.repo, sget(b2, "metadata", "resourceVersion"), "istions", &res, &bin),
        0);
    assert_int_equal(json_object_size(res), 4);
    assert_non_null(json_object_get(res, "Kptfile"));
    assert_non_null(json_object_get(res, "istions.yaml"));
    assert_non_null(json_object_get(res, "package-context.yaml"));
    assert_non_null(json_object_get(res, "README.md"));
    assert_int_equal(json_object_size(bin), 0);
    json_decref(res);
    json_decref(bin);
    assert_int_equal(
        gitrepo_read_files(o.repo, sget(b2, "metadata", "resourceVersion"), "nope", &res, &bin),
        -1);
    assert_int_equal(porch_error_last()->code, 404);
    close_fixture(&o);
}

static void unreachable_remote_is_503(void **state)
{
    gitrepo_config cfg = {.name = "x",
                          .namespace_ = "default",
                          .url = "/nonexistent/repo.git",
                          .cache_dir = "/tmp/porch-gitrepo-unreachable"};
    gitrepo *repo = NULL;
    assert_int_equal(gitrepo_open(&cfg, &repo), -1);
    assert_int_equal(porch_error_last()->code, 503);
    assert_non_null(strstr(porch_error_last()->message, "/nonexistent/repo.git"));
    fixture_cleanup("/tmp/porch-gitrepo-unreachable");
}

static int setup(void **state)
{
    git_libgit2_init();
    return 0;
}

static int teardown(void **state)
{
    git_libgit2_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_repository),
        cmocka_unit_test(drafts_repository),
        cmocka_unit_test(trivial_repository_has_no_packages),
        cmocka_unit_test(empty_repository_needs_create_branch),
        cmocka_unit_test(nested_repository),
        cmocka_unit_test(nested_repository_directories),
        cmocka_unit_test(publishinfo_repository),
        cmocka_unit_test(manually_tagged_repository),
        cmocka_unit_test(invalid_annotation_is_ignored),
        cmocka_unit_test(reads_a_revision_s_files),
        cmocka_unit_test(unreachable_remote_is_503),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
