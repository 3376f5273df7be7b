/* The lifecycle writes against a real bare repository (Porch's trivial
 * fixture): draft commits with Porch's message and tree, propose, publish as
 * one two-parent commit with branch + tag + proposed deletion, deletion
 * proposals, deletes, 409 on stale values, and `git fsck --strict` at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <git2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../internal.h"
#include "error/error.h"
#include "fixture_util.h"
#include "gitrepo/gitrepo.h"

typedef struct env {
    char tmp[256], remote[512];
    gitrepo *repo;
    gitrepo_chores *chores;
} env;

static int open_env(env *e)
{
    memset(e, 0, sizeof *e);
    if (!fixture_dir())
        return -1;
    assert_int_equal(
        fixture_unpack("trivial-repository", e->tmp, sizeof e->tmp, e->remote, sizeof e->remote),
        0);
    char cache[512];
    snprintf(cache, sizeof cache, "%s/cache", e->tmp);
    assert_int_equal(gitrepo_chores_new(&e->chores), 0);
    gitrepo_config cfg = {.name = "r", .namespace_ = "ns", .url = e->remote, .cache_dir = cache,
                          .chores = e->chores};
    assert_int_equal(gitrepo_open(&cfg, &e->repo), 0);
    return 0;
}

static void close_env(env *e)
{
    gitrepo_free(e->repo);
    gitrepo_chores_free(e->chores);
    fixture_cleanup(e->tmp);
}

/* The remote's value of `ref` ("" when absent). */
static void remote_ref(env *e, const char *ref, char sha[GITREPO_SHA_HEX])
{
    git_repository *r = NULL;
    git_object *obj = NULL;
    sha[0] = 0;
    assert_int_equal(git_repository_open(&r, e->remote), 0);
    if (git_revparse_single(&obj, r, ref) == 0) {
        git_object *peeled = NULL;
        git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
        git_oid_tostr(sha, GITREPO_SHA_HEX, git_object_id(peeled));
        git_object_free(peeled);
    }
    git_object_free(obj);
    git_repository_free(r);
}

static char *remote_message(env *e, const char *sha, unsigned *nparents)
{
    git_repository *r = NULL;
    git_commit *c = NULL;
    git_oid oid;
    git_oid_fromstr(&oid, sha);
    assert_int_equal(git_repository_open(&r, e->remote), 0);
    assert_int_equal(git_commit_lookup(&c, r, &oid), 0);
    char *m = strdup(git_commit_message(c));
    if (nparents)
        *nparents = git_commit_parentcount(c);
    git_commit_free(c);
    git_repository_free(r);
    return m;
}

static json_t *files(void)
{
    return json_pack("{s:s, s:s, s:s}", "Kptfile",
                     "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg1\n",
                     "README.md", "# pkg1\n", "sub/cm.yaml", "kind: ConfigMap\n");
}

static json_t *item(env *e, const char *name)
{
    json_t *it = NULL;
    if (gitrepo_find(e->repo, name, &it) != 0)
        return NULL;
    return it;
}

static const char *field(json_t *it, const char *a, const char *b)
{
    const char *s = json_string_value(json_object_get(json_object_get(it, a), b));
    return s ? s : "";
}

static void draft_commit_is_written_like_porch(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    json_t *res = files();
    json_t *bin = json_pack("{s:s}", "bin/blob.dat", "AP/+gA=="); /* 00 ff fe 80 */
    json_t *task = json_loads("{\"type\":\"init\",\"init\":{\"description\":\"d\"}}", 0, NULL);
    gitrepo_draft_spec spec = {.package = "pkg1",
                               .workspace = "ws1",
                               .resources = res,
                               .binary = bin,
                               .task = task,
                               .author = {"Jane", "jane@example.com"}};
    char sha[GITREPO_SHA_HEX], main_head[GITREPO_SHA_HEX];
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, sha), 0);
    char remote_sha[GITREPO_SHA_HEX];
    remote_ref(&e, "refs/heads/drafts/pkg1/ws1", remote_sha);
    assert_string_equal(sha, remote_sha);
    char *msg = remote_message(&e, sha, NULL);
    assert_string_equal(msg, "Creating new empty revision\n\n\nkpt:{\"package\":\"pkg1\","
                             "\"workspaceName\":\"ws1\",\"revision\":\"0\",\"task\":{\"type\":"
                             "\"init\",\"init\":{\"description\":\"d\"}}}\n");
    free(msg);
    json_t *it = item(&e, "r.pkg1.ws1");
    assert_non_null(it);
    assert_string_equal(field(it, "spec", "lifecycle"), "Draft");
    assert_string_equal(field(it, "metadata", "resourceVersion"), sha);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(it, "spec"), "tasks"), 0), "type")),
        "init");
    json_decref(it);
    /* files come back byte for byte, binary included */
    json_t *got = NULL, *gotbin = NULL;
    assert_int_equal(gitrepo_read_files(e.repo, sha, "pkg1", &got, &gotbin), 0);
    assert_true(json_equal(got, res));
    assert_string_equal(json_string_value(json_object_get(gotbin, "bin/blob.dat")), "AP/+gA==");
    json_decref(got);
    json_decref(gotbin);
    /* creating it again is a conflict; updating with a stale value too */
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, sha), -1);
    assert_int_equal(porch_error_last()->code, 409);
    assert_string_equal(porch_error_last()->reason, "AlreadyExists");
    remote_ref(&e, "refs/heads/main", main_head);
    spec.expect = main_head;
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, sha), -1);
    assert_int_equal(porch_error_last()->code, 409);
    /* an update with the right value appends a render commit */
    json_t *render = json_pack("{s:s}", "type", "render");
    spec.expect = remote_sha;
    spec.task = render;
    spec.binary = NULL;
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, sha), 0);
    msg = remote_message(&e, sha, NULL);
    assert_non_null(strstr(msg, "Rendering package\n\n\nkpt:"));
    free(msg);
    assert_int_equal(gitrepo_read_files(e.repo, sha, "pkg1", &got, &gotbin), 0);
    /* a text-only file set keeps the binary file (text_only_updates_keep_binary_files) */
    assert_string_equal(json_string_value(json_object_get(gotbin, "bin/blob.dat")), "AP/+gA==");
    json_decref(got);
    json_decref(gotbin);
    /* tasks still say init */
    it = item(&e, "r.pkg1.ws1");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(it, "spec"), "tasks"), 0), "type")),
        "init");
    json_decref(it);
    json_decref(render);
    json_decref(task);
    json_decref(bin);
    json_decref(res);
    close_env(&e);
}

static void propose_publish_delete(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    json_t *res = files();
    json_t *task = json_loads("{\"type\":\"init\",\"init\":{}}", 0, NULL);
    gitrepo_draft_spec spec = {
        .package = "a/pkg1", .workspace = "ws1", .resources = res, .task = task};
    char sha[GITREPO_SHA_HEX], got[GITREPO_SHA_HEX], old_main[GITREPO_SHA_HEX];
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, sha), 0);
    json_t *it = NULL;
    /* Draft → Proposed renames the branch in one push */
    assert_int_equal(gitrepo_set_lifecycle(e.repo, "r.a.pkg1.ws1", "Proposed", 0, sha, NULL, &it),
                     0);
    assert_string_equal(field(it, "spec", "lifecycle"), "Proposed");
    json_decref(it);
    remote_ref(&e, "refs/heads/drafts/a/pkg1/ws1", got);
    assert_string_equal(got, "");
    remote_ref(&e, "refs/heads/proposed/a/pkg1/ws1", got);
    assert_string_equal(got, sha);
    /* a stale resourceVersion is a 409 */
    assert_int_equal(gitrepo_set_lifecycle(e.repo, "r.a.pkg1.ws1", "Published", 0,
                                           "0000000000000000000000000000000000000000", NULL, NULL),
                     -1);
    assert_int_equal(porch_error_last()->code, 409);
    /* publish: one commit, two parents, branch + tag + proposed deletion */
    remote_ref(&e, "refs/heads/main", old_main);
    gitrepo_author approver = {"Approver", "approver@example.com"};
    assert_int_equal(
        gitrepo_set_lifecycle(e.repo, "r.a.pkg1.ws1", "Published", 0, sha, &approver, &it), 0);
    assert_string_equal(field(it, "spec", "lifecycle"), "Published");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(it, "spec"), "revision")),
                     1);
    assert_string_equal(field(it, "status", "publishedBy"), "approver@example.com");
    assert_non_null(json_object_get(json_object_get(it, "metadata"), "labels"));
    json_decref(it);
    char tag[GITREPO_SHA_HEX], main_head[GITREPO_SHA_HEX];
    remote_ref(&e, "refs/tags/a/pkg1/v1", tag);
    remote_ref(&e, "refs/heads/main", main_head);
    assert_string_equal(tag, main_head);
    remote_ref(&e, "refs/heads/proposed/a/pkg1/ws1", got);
    assert_string_equal(got, "");
    unsigned np = 0;
    char *msg = remote_message(&e, tag, &np);
    assert_int_equal(np, 2);
    assert_string_equal(msg, "Approving package revision a/pkg1/1\n\nkpt:{\"package\":\"a/pkg1\","
                             "\"workspaceName\":\"ws1\",\"revision\":\"1\"}\n");
    free(msg);
    it = item(&e, "r.a.pkg1.main");
    assert_non_null(it);
    assert_string_equal(field(it, "status", "publishedBy"), "approver@example.com");
    json_decref(it);
    /* a second revision gets number 2 */
    spec.workspace = "ws2";
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, sha), 0);
    assert_int_equal(gitrepo_set_lifecycle(e.repo, "r.a.pkg1.ws2", "Proposed", 0, NULL, NULL, NULL),
                     0);
    assert_int_equal(gitrepo_set_lifecycle(e.repo, "r.a.pkg1.ws2", "Published", 0, NULL, NULL, &it),
                     0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(it, "spec"), "revision")),
                     2);
    json_decref(it);
    it = item(&e, "r.a.pkg1.ws1");
    assert_null(json_object_get(json_object_get(it, "metadata"), "labels")); /* no longer latest */
    json_decref(it);
    /* Published cannot be deleted; DeletionProposed can, and leaves the branch alone */
    assert_int_equal(gitrepo_delete(e.repo, "r.a.pkg1.ws1", NULL, NULL), -1);
    assert_int_equal(porch_error_last()->code, 403);
    assert_int_equal(
        gitrepo_set_lifecycle(e.repo, "r.a.pkg1.ws1", "DeletionProposed", 0, NULL, NULL, &it), 0);
    assert_string_equal(field(it, "spec", "lifecycle"), "DeletionProposed");
    json_decref(it);
    remote_ref(&e, "refs/heads/deletionProposed/a/pkg1/v1", got);
    assert_string_equal(got, tag);
    assert_int_equal(
        gitrepo_set_lifecycle(e.repo, "r.a.pkg1.ws1", "Published", 0, NULL, NULL, NULL), 0);
    remote_ref(&e, "refs/heads/deletionProposed/a/pkg1/v1", got);
    assert_string_equal(got, "");
    assert_int_equal(
        gitrepo_set_lifecycle(e.repo, "r.a.pkg1.ws1", "DeletionProposed", 0, NULL, NULL, NULL), 0);
    assert_int_equal(gitrepo_delete(e.repo, "r.a.pkg1.ws1", NULL, NULL), 0);
    remote_ref(&e, "refs/tags/a/pkg1/v1", got);
    assert_string_equal(got, "");
    remote_ref(&e, "refs/heads/deletionProposed/a/pkg1/v1", got);
    assert_string_equal(got, "");
    assert_null(item(&e, "r.a.pkg1.ws1"));
    it = item(&e, "r.a.pkg1.main");
    assert_non_null(it);
    json_decref(it);
    /* the placeholder: deleting it commits "Delete a/pkg1" on the branch */
    assert_int_equal(
        gitrepo_set_lifecycle(e.repo, "r.a.pkg1.main", "DeletionProposed", 0, NULL, NULL, NULL), 0);
    assert_int_equal(gitrepo_delete(e.repo, "r.a.pkg1.main", NULL, NULL), 0);
    remote_ref(&e, "refs/heads/main", main_head);
    msg = remote_message(&e, main_head, NULL);
    assert_string_equal(msg, "Delete a/pkg1");
    free(msg);
    assert_null(item(&e, "r.a.pkg1.main"));
    it = item(&e, "r.a.pkg1.ws2"); /* its tag survives */
    assert_non_null(it);
    json_decref(it);
    /* drafts are deleted with their branch */
    spec.workspace = "ws3";
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, sha), 0);
    assert_int_equal(gitrepo_delete(e.repo, "r.a.pkg1.ws3", NULL, NULL), 0);
    remote_ref(&e, "refs/heads/drafts/a/pkg1/ws3", got);
    assert_string_equal(got, "");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "git -C '%s' fsck --strict >/dev/null 2>&1", e.remote);
    assert_int_equal(system(cmd), 0);
    json_decref(task);
    json_decref(res);
    close_env(&e);
}

/* A Draft's last write and its propose in one push (what the engine does when
 * a propose re-renders): the commit lands on proposed/, drafts/ goes; a new
 * draft cannot be proposed in its first write; an existing proposed branch
 * is a 409 that leaves the draft where it was. */
static void write_and_propose_in_one_push(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    json_t *res = files();
    gitrepo_draft_spec spec = {.package = "a/pkg1", .workspace = "ws1", .resources = res};
    char first[GITREPO_SHA_HEX], second[GITREPO_SHA_HEX], got[GITREPO_SHA_HEX];
    spec.propose = 1;
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, first), -1);
    assert_int_equal(porch_error_last()->code, 400);
    spec.propose = 0;
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, first), 0);
    json_object_set_new(res, "README.md", json_string("# pkg1, rendered\n"));
    spec.expect = first;
    spec.propose = 1;
    spec.message = "Rendering package";
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, second), 0);
    assert_string_not_equal(first, second);
    remote_ref(&e, "refs/heads/drafts/a/pkg1/ws1", got);
    assert_string_equal(got, "");
    remote_ref(&e, "refs/heads/proposed/a/pkg1/ws1", got);
    assert_string_equal(got, second);
    unsigned parents = 0;
    char *msg = remote_message(&e, second, &parents);
    assert_int_equal(parents, 1);
    assert_non_null(strstr(msg, "Rendering package"));
    free(msg);
    json_t *it = item(&e, "r.a.pkg1.ws1");
    assert_non_null(it);
    assert_string_equal(field(it, "spec", "lifecycle"), "Proposed");
    assert_string_equal(field(it, "metadata", "resourceVersion"), second);
    json_decref(it);

    /* ws2: its proposed branch is already there (someone pushed it) → 409, draft kept */
    char ws2[GITREPO_SHA_HEX], third[GITREPO_SHA_HEX];
    spec = (gitrepo_draft_spec){.package = "a/pkg1", .workspace = "ws2", .resources = res};
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, ws2), 0);
    gitrepo_refupdate up = {"refs/heads/proposed/a/pkg1/ws2", NULL, ws2};
    assert_int_equal(gitrepo_push(e.repo, &up, 1), 0);
    spec.expect = ws2;
    spec.propose = 1;
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, third), -1);
    assert_int_equal(porch_error_last()->code, 409);
    remote_ref(&e, "refs/heads/drafts/a/pkg1/ws2", got);
    assert_string_equal(got, ws2);
    json_decref(res);
    close_env(&e);
}

/* A propose after a render done ahead: the staged trees are what the write
 * commits (and only when its files are the staged ones); staging moves no ref. */
static void a_staged_write_commits_the_staged_root(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    json_t *res = files(), *rendered = files(), *other = files();
    json_object_set_new(rendered, "README.md", json_string("# pkg1, rendered ahead\n"));
    json_object_set_new(other, "README.md", json_string("# pkg1, edited meanwhile\n"));
    char first[GITREPO_SHA_HEX], ws2[GITREPO_SHA_HEX], sha[GITREPO_SHA_HEX], got[GITREPO_SHA_HEX];
    gitrepo_draft_spec spec = {.package = "pkg1", .workspace = "ws1", .resources = res};
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, first), 0);
    spec.workspace = "ws2";
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, ws2), 0);

    gitrepo_draft_spec stage = {.package = "pkg1", .workspace = "ws1", .resources = rendered};
    assert_int_equal(gitrepo_stage_draft(e.repo, &stage), -1); /* no expect */
    assert_int_equal(porch_error_last()->code, 400);
    stage.expect = ws2; /* another draft's commit */
    assert_int_equal(gitrepo_stage_draft(e.repo, &stage), -1);
    assert_int_equal(porch_error_last()->code, 409);
    stage.expect = first;
    stage.resources = json_object(); /* no Kptfile */
    assert_int_equal(gitrepo_stage_draft(e.repo, &stage), -1);
    assert_int_equal(porch_error_last()->code, 400);
    json_decref(stage.resources);
    stage.resources = rendered;
    assert_int_equal(gitrepo_stage_draft(e.repo, &stage), 0);
    stage.workspace = "ws2";
    stage.expect = ws2;
    assert_int_equal(gitrepo_stage_draft(e.repo, &stage), 0);
    remote_ref(&e, "refs/heads/drafts/pkg1/ws1", got);
    assert_string_equal(got, first);
    remote_ref(&e, "refs/heads/proposed/pkg1/ws1", got);
    assert_string_equal(got, "");

    /* ws1 proposes the staged files: the staged root is committed */
    unsigned long hits = e.repo->root_memo_hits;
    spec = (gitrepo_draft_spec){.package = "pkg1",
                                .workspace = "ws1",
                                .resources = rendered,
                                .expect = first,
                                .propose = 1,
                                .message = "Rendering package"};
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, sha), 0);
    assert_int_equal(e.repo->root_memo_hits, hits + 1);
    json_t *read = NULL, *bin = NULL;
    assert_int_equal(gitrepo_read_files(e.repo, sha, "pkg1", &read, &bin), 0);
    assert_true(json_equal(read, rendered));
    json_decref(read);
    json_decref(bin);
    /* ws2 commits other files than it staged: built afresh, nothing stale */
    spec.workspace = "ws2";
    spec.expect = ws2;
    spec.resources = other;
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, sha), 0);
    assert_int_equal(e.repo->root_memo_hits, hits + 1);
    assert_int_equal(gitrepo_read_files(e.repo, sha, "pkg1", &read, &bin), 0);
    assert_true(json_equal(read, other));
    json_decref(read);
    json_decref(bin);
    remote_ref(&e, "refs/heads/proposed/pkg1/ws2", got);
    assert_string_equal(got, sha);
    json_decref(res);
    json_decref(rendered);
    json_decref(other);
    close_env(&e);
}

static void check_sees_the_remote_branch_without_fetching(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    char head[GITREPO_SHA_HEX], remote_head[GITREPO_SHA_HEX];
    assert_int_equal(gitrepo_check(e.repo, head), 0);
    remote_ref(&e, "refs/heads/main", remote_head);
    assert_string_equal(head, remote_head);
    /* someone deletes the branch: the check says so, clearly */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "git -C '%s' update-ref -d refs/heads/main", e.remote);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(gitrepo_check(e.repo, head), -1);
    assert_int_equal(porch_error_last()->code, 404);
    assert_non_null(strstr(porch_error_last()->message, "branch \"main\" doesn't exist"));
    close_env(&e);
}

static void push_checks_old_values(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    char head[GITREPO_SHA_HEX], got[GITREPO_SHA_HEX];
    gitrepo_branch_head(e.repo, head);
    /* creating a ref that exists, or moving one from a stale value, is a 409 */
    gitrepo_refupdate up = {"refs/heads/main", NULL, head};
    assert_int_equal(gitrepo_push(e.repo, &up, 1), -1);
    assert_int_equal(porch_error_last()->code, 409);
    gitrepo_refupdate two[2] = {
        {"refs/heads/other", NULL, head},
        {"refs/heads/main", "1111111111111111111111111111111111111111", NULL}};
    assert_int_equal(gitrepo_push(e.repo, two, 2), -1);
    assert_int_equal(porch_error_last()->code, 409);
    remote_ref(&e, "refs/heads/other", got); /* nothing half-written */
    assert_string_equal(got, "");
    remote_ref(&e, "refs/heads/main", got);
    assert_string_equal(got, head);
    close_env(&e);
}

/* Ref updates of a local remote, written as git's files backend does: a ref
 * another writer holds locked is a 409 that changes nothing; packed refs are
 * read (moved with a loose value, deleted through libgit2, which rewrites
 * packed-refs); an empty directory where the ref goes is replaced; git sees
 * exactly the refs we wrote, and fsck --strict stays clean. */
static void local_ref_updates_follow_the_files_backend(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    char head[GITREPO_SHA_HEX], got[GITREPO_SHA_HEX], path[1024], cmd[1200];
    gitrepo_branch_head(e.repo, head);
    snprintf(cmd, sizeof cmd, "git -C %s pack-refs --all", e.remote);
    assert_int_equal(system(cmd), 0);
    /* someone else holds refs/heads/x: both updates refused, neither applied */
    snprintf(path, sizeof path, "%s/refs/heads/x.lock", e.remote);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    gitrepo_refupdate two[2] = {{"refs/heads/a", NULL, head}, {"refs/heads/x", NULL, head}};
    assert_int_equal(gitrepo_push(e.repo, two, 2), -1);
    assert_int_equal(porch_error_last()->code, 409);
    assert_non_null(strstr(porch_error_last()->message, "another writer"));
    remote_ref(&e, "refs/heads/a", got);
    assert_string_equal(got, "");
    struct stat st;
    assert_int_equal(stat(path, &st), 0); /* their lock is theirs */
    unlink(path);
    /* main lives in packed-refs only: checked against it, moved by a loose ref */
    char moved[GITREPO_SHA_HEX];
    gitrepo_refupdate mk = {"refs/heads/drafts/p/w", NULL, head};
    assert_int_equal(gitrepo_push(e.repo, &mk, 1), 0);
    snprintf(moved, sizeof moved, "%s", head);
    gitrepo_refupdate stale = {"refs/heads/main", "1111111111111111111111111111111111111111", head};
    assert_int_equal(gitrepo_push(e.repo, &stale, 1), -1);
    assert_int_equal(porch_error_last()->code, 409);
    /* delete the draft (loose): its directories stay, git no longer sees it */
    gitrepo_refupdate del = {"refs/heads/drafts/p/w", moved, NULL};
    assert_int_equal(gitrepo_push(e.repo, &del, 1), 0);
    remote_ref(&e, "refs/heads/drafts/p/w", got);
    assert_string_equal(got, "");
    snprintf(path, sizeof path, "%s/refs/heads/drafts/p", e.remote);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    /* an empty directory where a ref now goes */
    snprintf(path, sizeof path, "%s/refs/heads/drafts/p/w2", e.remote);
    assert_int_equal(mkdir(path, 0755), 0);
    gitrepo_refupdate onto = {"refs/heads/drafts/p/w2", NULL, head};
    assert_int_equal(gitrepo_push(e.repo, &onto, 1), 0);
    remote_ref(&e, "refs/heads/drafts/p/w2", got);
    assert_string_equal(got, head);
    /* a packed ref deleted: packed-refs rewritten without it */
    snprintf(cmd, sizeof cmd, "git -C %s pack-refs --all", e.remote);
    assert_int_equal(system(cmd), 0);
    gitrepo_refupdate del2 = {"refs/heads/drafts/p/w2", head, NULL};
    assert_int_equal(gitrepo_push(e.repo, &del2, 1), 0);
    remote_ref(&e, "refs/heads/drafts/p/w2", got);
    assert_string_equal(got, "");
    snprintf(cmd, sizeof cmd, "test \"$(git -C %s for-each-ref --format='%%(refname)' refs/heads/)\" = refs/heads/main && git -C %s fsck --strict >/dev/null 2>&1",
             e.remote, e.remote);
    assert_int_equal(system(cmd), 0);
    close_env(&e);
}

/* Number of entries in a directory (-1 when it cannot be read). */
static int dir_entries(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "test -d %s && exit $(ls -A %s | wc -l)", dir, dir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A deleted loose ref is moved to the mirror's trash (git no longer sees it
 * at once) and unlinked there by a background thread; what a crash left in
 * the trash is swept at the next open; a trash on another file system than
 * the remote means a plain unlink. */
static void deleted_refs_go_through_the_trash(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    char head[GITREPO_SHA_HEX], got[GITREPO_SHA_HEX], path[1024];
    gitrepo_branch_head(e.repo, head);
    assert_non_null(e.repo->trash_dir);
    for (int i = 0; i < 20; i++) {
        char ref[128];
        snprintf(ref, sizeof ref, "refs/heads/drafts/t%d/w", i);
        gitrepo_refupdate mk = {ref, NULL, head}, del = {ref, head, NULL};
        assert_int_equal(gitrepo_push(e.repo, &mk, 1), 0);
        assert_int_equal(gitrepo_push(e.repo, &del, 1), 0);
        remote_ref(&e, ref, got);
        assert_string_equal(got, "");
        snprintf(path, sizeof path, "%s/%s", e.remote, ref);
        assert_int_not_equal(access(path, F_OK), 0);
        snprintf(path, sizeof path, "%s/%s.lock", e.remote, ref);
        assert_int_not_equal(access(path, F_OK), 0);
    }
    gitrepo_chores_flush(e.chores);
    assert_int_equal(dir_entries(e.repo->trash_dir), 0);
    /* a leftover (a crash between the move and the unlink) goes at the next open */
    snprintf(path, sizeof path, "%s/123-abc-1", e.repo->trash_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(head, f);
    fclose(f);
    char cache[600];
    snprintf(cache, sizeof cache, "%s/cache", e.tmp);
    gitrepo_free(e.repo);
    gitrepo_config cfg = {.name = "r", .namespace_ = "ns", .url = e.remote, .cache_dir = cache,
                          .chores = e.chores};
    assert_int_equal(gitrepo_open(&cfg, &e.repo), 0);
    assert_int_equal(dir_entries(e.repo->trash_dir), 0);
    gitrepo_free(e.repo);
    /* the mirror (and its trash) on another file system: deletions still land */
    char shm[] = "/dev/shm/porch-trash-test.XXXXXX";
    if (mkdtemp(shm)) {
        gitrepo_config other = {.name = "r", .namespace_ = "ns", .url = e.remote, .cache_dir = shm,
                                .chores = e.chores};
        assert_int_equal(gitrepo_open(&other, &e.repo), 0);
        gitrepo_refupdate mk = {"refs/heads/drafts/x/w", NULL, head};
        gitrepo_refupdate del = {"refs/heads/drafts/x/w", head, NULL};
        assert_int_equal(gitrepo_push(e.repo, &mk, 1), 0);
        assert_int_equal(gitrepo_push(e.repo, &del, 1), 0);
        remote_ref(&e, "refs/heads/drafts/x/w", got);
        assert_string_equal(got, "");
        gitrepo_chores_flush(e.chores);
        assert_true(dir_entries(e.repo->trash_dir) <= 0);
        gitrepo_free(e.repo);
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf %s", shm);
        assert_int_equal(system(cmd), 0);
    }
    e.repo = NULL;
    close_env(&e);
}

/* Files under dir (recursively), -1 when it cannot be read. */
static int files_under(const char *dir)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "test -d %s && exit $(find %s -type f | wc -l)", dir, dir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* With chores, ref locks and new objects are spare files renamed or linked
 * into place: the pool is refilled behind the writes, objects come out
 * read-only and readable by git, and two handles on one mirror (two
 * Repositories of one URL) each keep a pool of their own — when they shared
 * one, the second open swept the first's spares and its next lock failed. */
static void writes_use_spare_files(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    char head[GITREPO_SHA_HEX], got[GITREPO_SHA_HEX], spares[600], path[1024], hex[64];
    gitrepo_branch_head(e.repo, head);
    snprintf(spares, sizeof spares, "%s/porch-spare", gitrepo_mirror_path(e.repo));
    gitrepo_chores_flush(e.chores);
    assert_int_equal(files_under(spares), 32);
    git_oid blob;
    const char *text = "spare me\n";
    assert_int_equal(gitrepo_object_put(gitrepo_objects(e.repo), e.repo->spares, text,
                                        strlen(text), GIT_OBJECT_BLOB, 0, &blob), 0);
    git_oid_tostr(hex, sizeof hex, &blob);
    snprintf(path, sizeof path, "%s/objects/%.2s/%s", e.remote, hex, hex + 2);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0444);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "test \"$(git -C %s cat-file -p %s)\" = 'spare me'", e.remote, hex);
    assert_int_equal(system(cmd), 0);
    /* a second handle on the same mirror */
    char cache[600];
    snprintf(cache, sizeof cache, "%s/cache", e.tmp);
    gitrepo_config cfg = {.name = "r2", .namespace_ = "ns", .url = e.remote, .cache_dir = cache,
                          .chores = e.chores};
    gitrepo *two = NULL;
    assert_int_equal(gitrepo_open(&cfg, &two), 0);
    for (int i = 0; i < 40; i++) {
        char ref[128];
        snprintf(ref, sizeof ref, "refs/heads/drafts/s%d/w", i);
        if (i == 1 || i == 2) { /* what spare directories there are now */
            gitrepo_chores_flush(e.chores);
            snprintf(cmd, sizeof cmd,
                     "find %s -path '*/d/*' -type d -printf '%%i\\n' > %s/spare-dirs", spares,
                     e.tmp);
            assert_int_equal(system(cmd), 0);
        }
        gitrepo_refupdate mk = {ref, NULL, head};
        assert_int_equal(gitrepo_push(i % 2 ? two : e.repo, &mk, 1), 0);
        remote_ref(&e, ref, got);
        assert_string_equal(got, head);
        if (i == 1 || i == 2) { /* the package's new ref directory was one of them */
            snprintf(cmd, sizeof cmd,
                     "grep -qx \"$(stat -c %%i %s/refs/heads/drafts/s%d)\" %s/spare-dirs",
                     e.remote, i, e.tmp);
            assert_int_equal(system(cmd), 0);
        }
    }
    gitrepo_chores_flush(e.chores); /* both pools full again (locks handed back may add) */
    assert_in_range(files_under(spares), 64, 80);
    snprintf(cmd, sizeof cmd, "test $(find %s -path '*/d/*' -type d | wc -l) -eq 16", spares);
    assert_int_equal(system(cmd), 0);
    gitrepo_free(two); /* its pool goes with it */
    assert_in_range(files_under(spares), 32, 40);
    snprintf(cmd, sizeof cmd, "git -C %s fsck --strict >/dev/null 2>&1", e.remote);
    assert_int_equal(system(cmd), 0);
    close_env(&e);
}

/* Directories that deletions empty are pruned in batches (every 256
 * deletions), not after each one: a ref iteration must not walk thousands of
 * them, and a propose must not pay an rmdir and the next draft a mkdir. */
static void emptied_ref_directories_are_pruned_in_batches(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    char head[GITREPO_SHA_HEX], ref[128], cmd[1200];
    gitrepo_branch_head(e.repo, head);
    for (int i = 0; i < 300; i++) {
        snprintf(ref, sizeof ref, "refs/heads/drafts/p%03d/w", i);
        gitrepo_refupdate mk = {ref, NULL, head}, del = {ref, head, NULL};
        assert_int_equal(gitrepo_push(e.repo, &mk, 1), 0);
        assert_int_equal(gitrepo_push(e.repo, &del, 1), 0);
    }
    snprintf(cmd, sizeof cmd, "test $(find %s/refs/heads/drafts -mindepth 1 -type d | wc -l) -eq 44",
             e.remote);
    assert_int_equal(system(cmd), 0); /* the 256 first were pruned, the last 44 wait */
    snprintf(cmd, sizeof cmd, "test -z \"$(git -C %s for-each-ref refs/heads/drafts)\"", e.remote);
    assert_int_equal(system(cmd), 0);
    close_env(&e);
}

/* A Draft update from a text-only file set (the engine's, the resources API's)
 * keeps the package's binary files; a text file it leaves out is deleted; an
 * explicit binary set replaces them. */
static void text_only_updates_keep_binary_files(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    json_t *res = files();
    json_t *bin = json_pack("{s:s}", "bin/blob.dat", "AP/+gA==");
    char first[GITREPO_SHA_HEX], second[GITREPO_SHA_HEX], third[GITREPO_SHA_HEX];
    gitrepo_draft_spec spec = {.package = "pkg1", .workspace = "ws1", .resources = res,
                               .binary = bin};
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, first), 0);
    json_object_del(res, "README.md");
    spec = (gitrepo_draft_spec){.package = "pkg1", .workspace = "ws1", .resources = res,
                                .expect = first};
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, second), 0);
    json_t *got = NULL, *gotbin = NULL;
    assert_int_equal(gitrepo_read_files(e.repo, second, "pkg1", &got, &gotbin), 0);
    assert_true(json_equal(got, res)); /* README.md gone */
    assert_string_equal(json_string_value(json_object_get(gotbin, "bin/blob.dat")), "AP/+gA==");
    json_decref(got);
    json_decref(gotbin);
    json_t *none = json_object();
    spec.expect = second;
    spec.binary = none;
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, third), 0);
    assert_int_equal(gitrepo_read_files(e.repo, third, "pkg1", &got, &gotbin), 0);
    assert_int_equal(json_object_size(gotbin), 0);
    json_decref(got);
    json_decref(gotbin);
    json_decref(none);
    json_decref(res);
    json_decref(bin);
    close_env(&e);
}

static void racing_publishers_one_wins(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    /* a second handle on the same remote, with its own mirror */
    char cache2[512];
    snprintf(cache2, sizeof cache2, "%s/cache2", e.tmp);
    gitrepo_config cfg = {.name = "r", .namespace_ = "ns", .url = e.remote, .cache_dir = cache2};
    gitrepo *other = NULL;
    assert_int_equal(gitrepo_open(&cfg, &other), 0);
    json_t *res = files();
    gitrepo_draft_spec spec = {.package = "p", .workspace = "w", .resources = res};
    char sha[GITREPO_SHA_HEX];
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, sha), 0);
    assert_int_equal(gitrepo_set_lifecycle(e.repo, "r.p.w", "Proposed", 0, NULL, NULL, NULL), 0);
    /* both saw the same proposal; the first approval wins, the second finds it gone */
    assert_int_equal(gitrepo_set_lifecycle(other, "r.p.w", "Published", 0, sha, NULL, NULL), 0);
    assert_int_equal(gitrepo_set_lifecycle(e.repo, "r.p.w", "Published", 0, sha, NULL, NULL), -1);
    assert_int_equal(porch_error_last()->code, 409);
    /* after the first publish the revision is Published: the second is refused, not re-pushed */
    json_t *it = item(&e, "r.p.w");
    assert_string_equal(field(it, "spec", "lifecycle"), "Published");
    json_decref(it);
    json_decref(res);
    gitrepo_free(other);
    close_env(&e);
}

typedef struct publisher {
    env *e;
    int id;
    int failures;
    char error[PORCH_ERROR_MESSAGE_MAX];
} publisher;

/* One writer with its own mirror: five packages created, proposed, published. */
static void *publish_five(void *arg)
{
    publisher *p = arg;
    char cache[512];
    snprintf(cache, sizeof cache, "%s/cache-w%d", p->e->tmp, p->id);
    /* odd writers share the test's chores thread, even ones do their chores inline */
    gitrepo_config cfg = {.name = "r", .namespace_ = "ns", .url = p->e->remote, .cache_dir = cache,
                          .chores = p->id % 2 ? p->e->chores : NULL};
    gitrepo *repo = NULL;
    if (gitrepo_open(&cfg, &repo) != 0) {
        p->failures = 5;
        return NULL;
    }
    json_t *res = files();
    for (int i = 0; i < 5; i++) {
        char pkg[32], name[64], sha[GITREPO_SHA_HEX];
        snprintf(pkg, sizeof pkg, "w%d-p%d", p->id, i);
        snprintf(name, sizeof name, "r.%s.ws", pkg);
        gitrepo_draft_spec spec = {.package = pkg, .workspace = "ws", .resources = res};
        if (gitrepo_write_draft(repo, &spec, sha) != 0 ||
            gitrepo_set_lifecycle(repo, name, "Proposed", 0, sha, NULL, NULL) != 0 ||
            gitrepo_set_lifecycle(repo, name, "Published", 0, sha, NULL, NULL) != 0) {
            p->failures++;
            snprintf(p->error, sizeof p->error, "%s", porch_error_last()->message);
        }
    }
    json_decref(res);
    gitrepo_free(repo);
    return NULL;
}

static void concurrent_publishers_of_different_packages_all_land(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    publisher p[2] = {{&e, 1, 0, ""}, {&e, 2, 0, ""}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, publish_five, &p[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++)
        if (p[i].failures)
            fail_msg("writer %d: %d failures, last: %s", p[i].id, p[i].failures, p[i].error);
    /* the branch carries all ten packages, each with its tag v1 */
    json_t *items = NULL;
    assert_int_equal(gitrepo_fetch(e.repo), 0);
    assert_int_equal(gitrepo_list(e.repo, &items), 0);
    assert_int_equal(json_array_size(items), 20); /* 10 placeholders + 10 v1 */
    json_decref(items);
    char got[GITREPO_SHA_HEX];
    remote_ref(&e, "refs/tags/w2-p4/v1", got);
    assert_int_equal(strlen(got), 40);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "git -C '%s' fsck --strict >/dev/null 2>&1", e.remote);
    assert_int_equal(system(cmd), 0);
    close_env(&e);
}

/* The mirror's refs live in memory between fetches: someone else's push is
 * caught by the compare-and-swap (409, nothing overwritten), and the 409
 * leaves the mirror fetched, so the next read shows the remote's value. */
static void a_push_by_someone_else_is_refused_then_seen(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    json_t *res = files();
    gitrepo_draft_spec spec = {.package = "p", .workspace = "w", .resources = res};
    char sha[GITREPO_SHA_HEX], head[GITREPO_SHA_HEX], version[65], after[65];
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, sha), 0);
    gitrepo_version(e.repo, version);
    /* someone moves the draft branch to a commit of their own */
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && c=$(git commit-tree -p %s -m theirs %s^{tree}) && "
             "git update-ref refs/heads/drafts/p/w $c",
             e.remote, sha, sha);
    assert_int_equal(system(cmd), 0);
    char theirs[GITREPO_SHA_HEX];
    remote_ref(&e, "refs/heads/drafts/p/w", theirs);
    assert_string_not_equal(theirs, sha);
    /* our update, based on what we saw, is refused */
    spec.expect = sha;
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, head), -1);
    assert_int_equal(porch_error_last()->code, 409);
    char now[GITREPO_SHA_HEX];
    remote_ref(&e, "refs/heads/drafts/p/w", now);
    assert_string_equal(now, theirs);
    /* and the mirror now shows their commit, with a new version */
    json_t *it = item(&e, "r.p.w");
    assert_string_equal(field(it, "metadata", "resourceVersion"), theirs);
    json_decref(it);
    gitrepo_version(e.repo, after);
    assert_string_not_equal(version, after);
    /* an update based on their commit goes through */
    spec.expect = theirs;
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, head), 0);
    json_decref(res);
    close_env(&e);
}

/* A second handle (another adapter replica) whose mirror is behind still
 * finds a revision written through the first, and updates it. */
static void a_mirror_behind_fetches_when_the_caller_knows_more(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    char cache2[512];
    snprintf(cache2, sizeof cache2, "%s/cache2", e.tmp);
    gitrepo_config cfg = {.name = "r", .namespace_ = "ns", .url = e.remote, .cache_dir = cache2};
    gitrepo *other = NULL;
    assert_int_equal(gitrepo_open(&cfg, &other), 0);
    json_t *res = files();
    gitrepo_draft_spec spec = {.package = "p", .workspace = "w", .resources = res};
    char sha[GITREPO_SHA_HEX], sha2[GITREPO_SHA_HEX];
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, sha), 0);
    spec.expect = sha;
    assert_int_equal(gitrepo_write_draft(other, &spec, sha2), 0);
    assert_int_equal(gitrepo_set_lifecycle(e.repo, "r.p.w", "Proposed", 0, sha2, NULL, NULL), 0);
    json_decref(res);
    gitrepo_free(other);
    close_env(&e);
}

/* How many of the remote's 256 loose-object directories exist. */
static int fanout_dirs(env *e)
{
    int n = 0;
    char dir[700];
    for (int i = 0; i < 256; i++) {
        struct stat st;
        snprintf(dir, sizeof dir, "%s/objects/%02x", e->remote, i);
        n += stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    }
    return n;
}

static void object_dirs_are_made_at_the_first_write_only(void **state)
{
    env e;
    if (open_env(&e) != 0)
        skip();
    int before = fanout_dirs(&e);
    assert_true(before < 256);
    json_t *all = NULL;
    assert_int_equal(gitrepo_list(e.repo, &all), 0); /* reading leaves the remote as it is */
    json_decref(all);
    assert_int_equal(fanout_dirs(&e), before);
    json_t *res = files();
    gitrepo_draft_spec spec = {.package = "fan", .workspace = "ws", .resources = res};
    char sha[GITREPO_SHA_HEX];
    assert_int_equal(gitrepo_write_draft(e.repo, &spec, sha), 0);
    assert_int_equal(fanout_dirs(&e), 256);
    json_decref(res);
    close_env(&e);
}

static int setup(void **state)
{
    gitrepo_library_init(0);
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
        cmocka_unit_test(draft_commit_is_written_like_porch),
        cmocka_unit_test(object_dirs_are_made_at_the_first_write_only),
        cmocka_unit_test(propose_publish_delete),
        cmocka_unit_test(write_and_propose_in_one_push),
        cmocka_unit_test(text_only_updates_keep_binary_files),
        cmocka_unit_test(a_staged_write_commits_the_staged_root),
        cmocka_unit_test(check_sees_the_remote_branch_without_fetching),
        cmocka_unit_test(push_checks_old_values),
        cmocka_unit_test(local_ref_updates_follow_the_files_backend),
        cmocka_unit_test(deleted_refs_go_through_the_trash),
        cmocka_unit_test(writes_use_spare_files),
        cmocka_unit_test(emptied_ref_directories_are_pruned_in_batches),
        cmocka_unit_test(racing_publishers_one_wins),
        cmocka_unit_test(concurrent_publishers_of_different_packages_all_land),
        cmocka_unit_test(a_push_by_someone_else_is_refused_then_seen),
        cmocka_unit_test(a_mirror_behind_fetches_when_the_caller_knows_more),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
