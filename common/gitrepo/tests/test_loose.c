/* Objects we write without libgit2's writer: loose objects with stored
 * deflate blocks (loose.c) — every size around the 65,535-byte block limit
 * reads back byte for byte through libgit2 and git itself (cat-file, fsck
 * --strict), with the id git gives the same content, and an object already
 * there is left as it was — and commit objects (write.c), byte for byte
 * what libgit2 builds from the same tree, parents and signatures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../internal.h"

static git_repository *repo;
static char dir[64];

static int setup(void **state)
{
    git_libgit2_init();
    snprintf(dir, sizeof dir, "/tmp/porch-loose-XXXXXX");
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

static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (unsigned char)(seed >> 16);
    }
    return p;
}

static void stored_blobs_of_every_size_read_back(void **state)
{
    const size_t sizes[] = {0, 1, 100, 65534, 65535, 65536, 65537, 131070, 200000};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        unsigned char *data = pattern(sizes[k], (unsigned)k + 7);
        git_oid id, want;
        assert_int_equal(git_odb_hash(&want, data, sizes[k], GIT_OBJECT_BLOB), 0);
        assert_int_equal(gitrepo_object_put(repo, NULL, data, sizes[k], GIT_OBJECT_BLOB, 1, &id), 0);
        assert_true(git_oid_equal(&id, &want));
        git_odb *odb = NULL;
        git_odb_object *obj = NULL;
        assert_int_equal(git_repository_odb(&odb, repo), 0);
        assert_int_equal(git_odb_read(&obj, odb, &id), 0);
        assert_int_equal(git_odb_object_size(obj), sizes[k]);
        assert_memory_equal(git_odb_object_data(obj), data, sizes[k]);
        git_odb_object_free(obj);
        git_odb_free(odb);
        /* git agrees on the bytes */
        char cmd[512], path[256];
        snprintf(path, sizeof path, "%s/expect.bin", dir);
        FILE *f = fopen(path, "wb");
        fwrite(data, 1, sizes[k], f);
        fclose(f);
        snprintf(cmd, sizeof cmd, "git -C %s cat-file blob %s | cmp -s - %s", dir,
                 git_oid_tostr_s(&id), path);
        assert_int_equal(system(cmd), 0);
        free(data);
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "git -C %s fsck --strict --unreachable >/dev/null 2>&1", dir);
    assert_int_equal(system(cmd), 0);
}

static void an_existing_object_is_not_rewritten(void **state)
{
    const char *text = "kept as written\n";
    git_oid id, again;
    assert_int_equal(git_blob_create_from_buffer(&id, repo, text, strlen(text)), 0);
    char path[256], hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof hex, &id);
    snprintf(path, sizeof path, "%s/objects/%.2s/%s", dir, hex, hex + 2);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    assert_int_equal(gitrepo_object_put(repo, NULL, text, strlen(text), GIT_OBJECT_BLOB, 1, &again), 0);
    assert_true(git_oid_equal(&id, &again));
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(before.st_size, after.st_size);
}

static void the_stream_is_zlib_with_stored_blocks(void **state)
{
    unsigned char in[3] = {'a', 'b', 'c'}, out[32];
    assert_int_equal(gitrepo_zlib_stored_size(3), 2 + 3 + 5 + 4);
    size_t n = gitrepo_zlib_stored(in, 3, out);
    /* 78 01 | final stored block, LEN 3, NLEN ~3 | "abc" | adler32("abc") = 0x024d0127 */
    const unsigned char want[] = {0x78, 0x01, 0x01, 0x03, 0x00, 0xfc, 0xff, 'a', 'b', 'c',
                                  0x02, 0x4d, 0x01, 0x27};
    assert_int_equal(n, sizeof want);
    assert_memory_equal(out, want, sizeof want);
}

static void commit_buffer_is_what_libgit2_builds(void **state)
{
    git_treebuilder *tb = NULL;
    git_oid tree_id, parent_id, blob_id;
    assert_int_equal(git_blob_create_from_buffer(&blob_id, repo, "x\n", 2), 0);
    assert_int_equal(git_treebuilder_new(&tb, repo, NULL), 0);
    assert_int_equal(git_treebuilder_insert(NULL, tb, "x", &blob_id, GIT_FILEMODE_BLOB), 0);
    assert_int_equal(git_treebuilder_write(&tree_id, tb), 0);
    git_treebuilder_free(tb);
    git_tree *tree = NULL;
    assert_int_equal(git_tree_lookup(&tree, repo, &tree_id), 0);
    const int offsets[] = {0, 330, -420, -30};
    for (size_t k = 0; k < sizeof offsets / sizeof *offsets; k++) {
        git_signature *a = NULL, *c = NULL;
        assert_int_equal(git_signature_new(&a, "Jane Doe", "jane@example.com", 1796190000 + (git_time_t)k,
                                           offsets[k]), 0);
        assert_int_equal(git_signature_new(&c, "Package Orchestration Service", "porch@kpt.dev",
                                           1796190100, 0), 0);
        const char *msg = "Rendering package\n\n\nkpt:{\"package\":\"p\",\"revision\":\"0\"}\n";
        git_commit *parent = NULL;
        const git_commit *parents[1] = {NULL};
        size_t np = 0;
        if (k > 0) {
            assert_int_equal(git_commit_lookup(&parent, repo, &parent_id), 0);
            parents[0] = parent;
            np = 1;
        }
        git_buf want = {0};
        assert_int_equal(git_commit_create_buffer(&want, repo, a, c, NULL, msg, tree, np, parents), 0);
        char *got = NULL;
        size_t len = 0;
        assert_int_equal(gitrepo_commit_buffer(&tree_id, np ? &parent_id : NULL, np, a, c, msg, &got, &len), 0);
        assert_int_equal(len, want.size);
        assert_memory_equal(got, want.ptr, len);
        assert_int_equal(git_odb_hash(&parent_id, got, len, GIT_OBJECT_COMMIT), 0);
        git_oid written;
        assert_int_equal(gitrepo_object_put(repo, NULL, got, len, GIT_OBJECT_COMMIT, 1, &written), 0);
        assert_true(git_oid_equal(&written, &parent_id));
        free(got);
        git_buf_dispose(&want);
        git_commit_free(parent);
        git_signature_free(a);
        git_signature_free(c);
    }
    git_tree_free(tree);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "git -C %s fsck --strict %s >/dev/null 2>&1", dir, git_oid_tostr_s(&parent_id));
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_stream_is_zlib_with_stored_blocks),
        cmocka_unit_test(stored_blobs_of_every_size_read_back),
        cmocka_unit_test(an_existing_object_is_not_rewritten),
        cmocka_unit_test(commit_buffer_is_what_libgit2_builds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
