/* Names, the name parser, UIDs and revision numbers of package revisions
 * (spec §3.2, §5): the rules Porch applies, pinned down one behaviour each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <string.h>

#include "error/error.h"
#include "gitrepo/gitrepo.h"

static void uid_matches_the_spec_example(void **state)
{
    char uid[GITREPO_UID_LEN];
    gitrepo_uid("rpkg-init", "git.init-package.init-1", uid);
    assert_string_equal(uid, "45ee0692-730a-51b2-9a1d-ad4f4ad55dc8");
}

static void uid_is_case_insensitive(void **state)
{
    char a[GITREPO_UID_LEN], b[GITREPO_UID_LEN];
    gitrepo_uid("RPKG-Init", "Git.Init-Package.Init-1", a);
    gitrepo_uid("rpkg-init", "git.init-package.init-1", b);
    assert_string_equal(a, b);
}

static void compose_replaces_slashes_with_dots(void **state)
{
    char buf[GITREPO_NAME_MAX];
    assert_int_equal(gitrepo_name_compose("r", "a/b/pkg", "ws", buf, sizeof buf), 0);
    assert_string_equal(buf, "r.a.b.pkg.ws");
    assert_int_equal(gitrepo_name_compose("blueprints", "basens", "v1", buf, sizeof buf), 0);
    assert_string_equal(buf, "blueprints.basens.v1");
    assert_int_equal(gitrepo_name_compose("r", "", "ws", buf, sizeof buf), -1);
    assert_int_equal(porch_error_last()->code, 400);
}

static void parse_splits_repository_path_leaf_workspace(void **state)
{
    gitrepo_name_parts p;
    assert_int_equal(gitrepo_name_parse("r.a.b.pkg.ws", &p), 0);
    assert_string_equal(p.repository, "r");
    assert_string_equal(p.path, "a/b");
    assert_string_equal(p.package, "pkg");
    assert_string_equal(p.workspace, "ws");
    assert_int_equal(gitrepo_name_parse("blueprints.basens.v1", &p), 0);
    assert_string_equal(p.path, "");
    assert_string_equal(p.package, "basens");
    assert_string_equal(p.workspace, "v1");
}

static void parse_keeps_a_dotted_version_workspace_whole(void **state)
{
    gitrepo_name_parts p;
    assert_int_equal(gitrepo_name_parse("repo.pkg.v2.0.0", &p), 0);
    assert_string_equal(p.repository, "repo");
    assert_string_equal(p.package, "pkg");
    assert_string_equal(p.workspace, "v2.0.0");
    assert_int_equal(gitrepo_name_parse("repo.cat.pkg.v10.1", &p), 0);
    assert_string_equal(p.path, "cat");
    assert_string_equal(p.package, "pkg");
    assert_string_equal(p.workspace, "v10.1");
}

static void parse_rejects_names_without_three_parts(void **state)
{
    gitrepo_name_parts p;
    assert_int_equal(gitrepo_name_parse("nodots", &p), -1);
    assert_int_equal(porch_error_last()->code, 400);
    assert_int_equal(gitrepo_name_parse("repo.ws", &p), -1);
    assert_int_equal(gitrepo_name_parse(".pkg.ws", &p), -1);
}

static void dns_labels_and_subdomains(void **state)
{
    assert_true(gitrepo_is_dns1123_label("basens"));
    assert_true(gitrepo_is_dns1123_label("a-1"));
    assert_false(gitrepo_is_dns1123_label("-a"));
    assert_false(gitrepo_is_dns1123_label("a-"));
    assert_false(gitrepo_is_dns1123_label("Upper"));
    assert_false(gitrepo_is_dns1123_label("a.b"));
    assert_false(gitrepo_is_dns1123_label(""));
    char l64[65];
    memset(l64, 'a', 64);
    l64[64] = 0;
    assert_false(gitrepo_is_dns1123_label(l64));
    l64[63] = 0;
    assert_true(gitrepo_is_dns1123_label(l64));
    assert_true(gitrepo_is_dns1123_subdomain("r.a.b.pkg.ws"));
    assert_false(gitrepo_is_dns1123_subdomain("r..ws"));
}

static void validate_names_the_bad_part(void **state)
{
    assert_int_equal(gitrepo_name_validate("r", "a/b/pkg", "ws"), 0);
    assert_int_equal(gitrepo_name_validate("R", "pkg", "ws"), -1);
    assert_int_equal(porch_error_last()->code, 422);
    assert_non_null(strstr(porch_error_last()->message, "repository"));
    assert_int_equal(gitrepo_name_validate("r", "a//pkg", "ws"), -1);
    assert_int_equal(gitrepo_name_validate("r", "a/Pkg", "ws"), -1);
    assert_non_null(strstr(porch_error_last()->message, "Pkg"));
    assert_int_equal(gitrepo_name_validate("r", "pkg", "v1.0"), -1);
    assert_non_null(strstr(porch_error_last()->message, "workspaceName"));
    char longpath[200] = "";
    for (int i = 0; i < 13; i++)
        strcat(longpath, "abcde/");
    strcat(longpath, "p");
    assert_int_equal(gitrepo_name_validate("r", longpath, "ws"), -1); /* 66 chars without '/' */
}

static void revisions_from_tag_versions(void **state)
{
    assert_int_equal(gitrepo_revision_parse("v1"), 1);
    assert_int_equal(gitrepo_revision_parse("v12"), 12);
    assert_int_equal(gitrepo_revision_parse("3"), 3);
    assert_int_equal(gitrepo_revision_parse("v2.0.0"), -1);
    assert_int_equal(gitrepo_revision_parse("main"), -1);
    assert_int_equal(gitrepo_revision_parse("v"), -1);
}

static void mirror_dirname_replaces_slash_and_colon(void **state)
{
    char buf[256];
    assert_int_equal(gitrepo_mirror_dirname("https://github.com/a/b.git", buf, sizeof buf), 0);
    assert_string_equal(buf, "https---github.com-a-b.git");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uid_matches_the_spec_example),
        cmocka_unit_test(uid_is_case_insensitive),
        cmocka_unit_test(compose_replaces_slashes_with_dots),
        cmocka_unit_test(parse_splits_repository_path_leaf_workspace),
        cmocka_unit_test(parse_keeps_a_dotted_version_workspace_whole),
        cmocka_unit_test(parse_rejects_names_without_three_parts),
        cmocka_unit_test(dns_labels_and_subdomains),
        cmocka_unit_test(validate_names_the_bad_part),
        cmocka_unit_test(revisions_from_tag_versions),
        cmocka_unit_test(mirror_dirname_replaces_slash_and_colon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
