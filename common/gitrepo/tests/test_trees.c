/* gitrepo_tree_replace_at splices raw tree objects; these tests hold it to what
 * libgit2's tree builder writes for the same change (byte-identical trees,
 * so the same ids), across git's entry order (a directory sorts as if its
 * name ended in '/'), insertion, replacement, removal, nested paths and the
 * pruning of emptied directories, on a scratch bare repository. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "error/error.h"

static git_repository *repo;
static char dir[64];

static int setup(void **state)
{
    git_libgit2_init();
    snprintf(dir, sizeof dir, "/tmp/porch-trees-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(git_repository_init(&repo, dir, 1), 0);
    return 0;
}

static int teardown(void **state)
{
    git_repository_free(repo);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    git_libgit2_shutdown();
    return 0;
}

static git_oid blob(const char *text)
{
    git_oid id;
    assert_int_equal(git_blob_create_from_buffer(&id, repo, text, strlen(text)), 0);
    return id;
}

/* A tree of files ("name") and directories ("name/", each holding one file). */
static git_tree *tree_of(const char *const *names)
{
    git_treebuilder *tb = NULL;
    assert_int_equal(git_treebuilder_new(&tb, repo, NULL), 0);
    for (int i = 0; names[i]; i++) {
        size_t n = strlen(names[i]);
        char name[64];
        snprintf(name, sizeof name, "%s", names[i]);
        git_oid id = blob(names[i]);
        if (n && name[n - 1] == '/') {
            name[n - 1] = 0;
            git_treebuilder *sub = NULL;
            git_oid sid;
            assert_int_equal(git_treebuilder_new(&sub, repo, NULL), 0);
            assert_int_equal(git_treebuilder_insert(NULL, sub, "f", &id, GIT_FILEMODE_BLOB), 0);
            assert_int_equal(git_treebuilder_write(&sid, sub), 0);
            git_treebuilder_free(sub);
            assert_int_equal(git_treebuilder_insert(NULL, tb, name, &sid, GIT_FILEMODE_TREE), 0);
        } else {
            assert_int_equal(git_treebuilder_insert(NULL, tb, name, &id, GIT_FILEMODE_BLOB), 0);
        }
    }
    git_oid tid;
    assert_int_equal(git_treebuilder_write(&tid, tb), 0);
    git_treebuilder_free(tb);
    git_tree *t = NULL;
    assert_int_equal(git_tree_lookup(&t, repo, &tid), 0);
    return t;
}

/* What libgit2's builder writes for base with `name` set to dir `child` (NULL: removed). */
static git_oid expected(const git_tree *base, const char *name, const git_oid *child)
{
    git_treebuilder *tb = NULL;
    assert_int_equal(git_treebuilder_new(&tb, repo, base), 0);
    if (child)
        assert_int_equal(git_treebuilder_insert(NULL, tb, name, child, GIT_FILEMODE_TREE), 0);
    else if (git_treebuilder_get(tb, name))
        assert_int_equal(git_treebuilder_remove(tb, name), 0);
    git_oid id;
    assert_int_equal(git_treebuilder_write(&id, tb), 0);
    git_treebuilder_free(tb);
    return id;
}

static void same_as_the_builder_in_git_order(void **state)
{
    const char *const base_names[] = {"a",   "a-b/", "a.b", "a/",  "a0",  "ab/", "b",
                                      "b.c", "b0/",  "z",   "zz/", "Z",   "_x",  NULL};
    git_tree *base = tree_of(base_names);
    git_tree *pkg_t = tree_of((const char *const[]){"Kptfile", "cm.yaml", NULL});
    const git_oid *pkg = git_tree_id(pkg_t);
    /* new names landing everywhere, existing files and dirs replaced, and removed */
    const char *names[] = {"a",  "a-b", "a.b", "a0", "ab", "b",  "b-", "b.c", "b0", "b/",
                           "c",  "z",   "zz",  "Z",  "_x", "0",  "a-", "a.", "aa", "b00",
                           "zzz", "~",  "A",   "a-b-c", NULL};
    for (int i = 0; names[i]; i++) {
        char name[16];
        snprintf(name, sizeof name, "%s", names[i]);
        if (strchr(name, '/'))
            continue; /* only plain names at one level */
        git_oid got, want = expected(base, name, pkg);
        assert_int_equal(gitrepo_tree_replace_at(repo, NULL, NULL, git_tree_id(base), name, pkg, &got), 0);
        char g[GIT_OID_HEXSZ + 1], w[GIT_OID_HEXSZ + 1];
        if (!git_oid_equal(&got, &want))
            fail_msg("set %s: %s, the builder wrote %s", name, git_oid_tostr(g, sizeof g, &got),
                     git_oid_tostr(w, sizeof w, &want));
        want = expected(base, name, NULL);
        assert_int_equal(gitrepo_tree_replace_at(repo, NULL, NULL, git_tree_id(base), name, NULL, &got), 0);
        if (!git_oid_equal(&got, &want))
            fail_msg("remove %s: %s, the builder wrote %s", name,
                     git_oid_tostr(g, sizeof g, &got), git_oid_tostr(w, sizeof w, &want));
    }
    git_tree_free(pkg_t);
    git_tree_free(base);
}

static git_oid entry_at(git_oid root, const char *path)
{
    git_tree *t = NULL;
    git_tree_entry *e = NULL;
    git_oid id = {{0}};
    assert_int_equal(git_tree_lookup(&t, repo, &root), 0);
    if (git_tree_entry_bypath(&e, t, path) == 0)
        git_oid_cpy(&id, git_tree_entry_id(e));
    git_tree_entry_free(e);
    git_tree_free(t);
    return id;
}

static void nested_paths_and_emptied_directories(void **state)
{
    git_tree *pkg_t = tree_of((const char *const[]){"Kptfile", NULL});
    const git_oid *pkg = git_tree_id(pkg_t);
    git_oid zero = {{0}}, r1, r2, r3, r4;
    /* from nothing: a/b/c */
    assert_int_equal(gitrepo_tree_replace_at(repo, NULL, NULL, NULL, "a/b/c", pkg, &r1), 0);
    git_oid got = entry_at(r1, "a/b/c");
    assert_true(git_oid_equal(&got, pkg));
    /* a sibling a/b/d, then a/x */
    git_tree *t1 = NULL, *t2 = NULL, *t3 = NULL;
    assert_int_equal(git_tree_lookup(&t1, repo, &r1), 0);
    assert_int_equal(gitrepo_tree_replace_at(repo, NULL, NULL, git_tree_id(t1), "a/b/d", pkg, &r2), 0);
    got = entry_at(r2, "a/b/c");
    assert_true(git_oid_equal(&got, pkg));
    got = entry_at(r2, "a/b/d");
    assert_true(git_oid_equal(&got, pkg));
    /* removing a/b/c keeps a/b (d is there); removing a/b/d then drops a/b and a */
    assert_int_equal(git_tree_lookup(&t2, repo, &r2), 0);
    assert_int_equal(gitrepo_tree_replace_at(repo, NULL, NULL, git_tree_id(t2), "a/b/c", NULL, &r3), 0);
    got = entry_at(r3, "a/b/c");
    assert_true(git_oid_equal(&got, &zero));
    got = entry_at(r3, "a/b/d");
    assert_true(git_oid_equal(&got, pkg));
    assert_int_equal(git_tree_lookup(&t3, repo, &r3), 0);
    assert_int_equal(gitrepo_tree_replace_at(repo, NULL, NULL, git_tree_id(t3), "a/b/d", NULL, &r4), 0);
    git_tree *t4 = NULL;
    assert_int_equal(git_tree_lookup(&t4, repo, &r4), 0);
    assert_int_equal(git_tree_entrycount(t4), 0);
    /* removing what is not there leaves the tree as it was */
    git_oid r5;
    assert_int_equal(gitrepo_tree_replace_at(repo, NULL, NULL, git_tree_id(t2), "q/r", NULL, &r5), 0);
    assert_true(git_oid_equal(&r5, &r2));
    git_tree_free(t1);
    git_tree_free(t2);
    git_tree_free(t3);
    git_tree_free(t4);
    git_tree_free(pkg_t);
}

/* Trees written by old tools zero-pad a directory's mode ("040000"): such an
 * entry still sorts as a directory when a new one is placed beside it. */
static void zero_padded_directories_keep_their_place(void **state)
{
    git_tree *pkg_t = tree_of((const char *const[]){"Kptfile", NULL});
    const git_oid *pkg = git_tree_id(pkg_t);
    char raw[64];
    size_t n = (size_t)sprintf(raw, "040000 ab") + 1;
    memcpy(raw + n, pkg->id, GIT_OID_RAWSZ);
    n += GIT_OID_RAWSZ;
    git_odb *odb = NULL;
    git_oid base_id, out;
    assert_int_equal(git_repository_odb(&odb, repo), 0);
    assert_int_equal(git_odb_write(&base_id, odb, raw, n, GIT_OBJECT_TREE), 0);
    git_odb_free(odb);
    git_tree *base = NULL, *t = NULL;
    assert_int_equal(git_tree_lookup(&base, repo, &base_id), 0);
    /* "ab-x" < "ab/" (a directory) although "ab-x" > "ab" (a file) */
    assert_int_equal(gitrepo_tree_replace_at(repo, NULL, NULL, git_tree_id(base), "ab-x", pkg, &out), 0);
    assert_int_equal(git_tree_lookup(&t, repo, &out), 0);
    assert_int_equal(git_tree_entrycount(t), 2);
    assert_string_equal(git_tree_entry_name(git_tree_entry_byindex(t, 0)), "ab-x");
    assert_string_equal(git_tree_entry_name(git_tree_entry_byindex(t, 1)), "ab");
    git_tree_free(t);
    git_tree_free(base);
    git_tree_free(pkg_t);
}

/* Roots kept raw between writes give the same trees as reading them back,
 * and finding a package scans them: nested, absent, or a file of that name. */
static void a_raw_root_cache_changes_nothing(void **state)
{
    git_tree *pkg_t = tree_of((const char *const[]){"Kptfile", NULL});
    git_tree *base = tree_of((const char *const[]){"a-b", "a0/", "b", "z/", NULL});
    const git_oid *pkg = git_tree_id(pkg_t);
    gitrepo_raw_cache cache = {0};
    git_oid with[4], without[4], prev_with = *git_tree_id(base), prev_without = prev_with;
    const char *const paths[] = {"a/b/c", "a/b/d", "x", "a/b/c"};
    for (int i = 0; i < 4; i++) {
        const git_oid *child = i == 3 ? NULL : pkg; /* the last one removes */
        assert_int_equal(gitrepo_tree_replace_at(repo, NULL, &cache, &prev_with, paths[i], child, &with[i]), 0);
        assert_int_equal(gitrepo_tree_replace_at(repo, NULL, NULL, &prev_without, paths[i], child, &without[i]), 0);
        assert_true(git_oid_equal(&with[i], &without[i]));
        prev_with = with[i];
        prev_without = without[i];
    }
    git_oid found;
    assert_int_equal(gitrepo_tree_find(repo, &cache, &with[2], "a/b/d", &found), 1);
    assert_true(git_oid_equal(&found, pkg));
    assert_int_equal(gitrepo_tree_find(repo, &cache, &with[2], "x", &found), 1);
    assert_int_equal(gitrepo_tree_find(repo, &cache, &with[2], "a/b/q", &found), 0);
    assert_int_equal(gitrepo_tree_find(repo, &cache, &with[2], "b", &found), 0); /* a file */
    assert_int_equal(gitrepo_tree_find(repo, &cache, &with[2], "b/x", &found), 0);
    assert_int_equal(gitrepo_tree_find(repo, NULL, &with[2], "a/b/d", &found), 1);
    gitrepo_raw_cache_clear(&cache);
    git_tree_free(base);
    git_tree_free(pkg_t);
}

/* A file set's tree, serialised here: the same id as libgit2's builder
 * gives for names in tricky git order, nested; names git cannot hold are 400. */
static void file_set_trees_are_what_the_builder_writes(void **state)
{
    const char *const names[] = {"a-b", "a.b", "a0", "a/", "b", "Kptfile", "zz/", NULL};
    git_tree *want = tree_of(names);
    json_t *files = json_object();
    for (int i = 0; names[i]; i++) {
        size_t n = strlen(names[i]);
        char path[64];
        if (names[i][n - 1] == '/')
            snprintf(path, sizeof path, "%sf", names[i]);
        else
            snprintf(path, sizeof path, "%s", names[i]);
        json_object_set_new(files, path, json_string(names[i]));
    }
    git_oid got;
    assert_int_equal(gitrepo_tree_from_files(repo, NULL, NULL, files, NULL, &got), 0);
    assert_true(git_oid_equal(&got, git_tree_id(want)));
    git_tree_free(want);
    json_decref(files);
    const char *const bad[][2] = {{"a", "a/b"}, {".git/config", NULL}, {"x/../y", NULL},
                                  {"a//b", NULL}, {"./a", NULL}, {"sub/.GIT/x", NULL}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        files = json_object();
        for (int j = 0; j < 2 && bad[k][j]; j++)
            json_object_set_new(files, bad[k][j], json_string("x"));
        assert_int_equal(gitrepo_tree_from_files(repo, NULL, NULL, files, NULL, &got), -1);
        assert_int_equal(porch_error_last()->code, 400);
        json_decref(files);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(same_as_the_builder_in_git_order, setup, teardown),
        cmocka_unit_test_setup_teardown(nested_paths_and_emptied_directories, setup, teardown),
        cmocka_unit_test_setup_teardown(zero_padded_directories_keep_their_place, setup, teardown),
        cmocka_unit_test_setup_teardown(file_set_trees_are_what_the_builder_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(a_raw_root_cache_changes_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
