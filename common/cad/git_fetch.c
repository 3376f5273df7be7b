/* libgit2 access for pkg get/update/diff: open a local repository (plain
 * path or file://) or clone a remote one, resolve a branch/tag/commit ref
 * to a commit, and export one directory of its tree to disk.
 * Candidate to move into common/gitrepo once that module settles. */
#include "cad_internal.h"
#include "git_fetch.h"

#include "error/error.h"

#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cad_git {
    git_repository *repo;
    char *tmp; /* clone directory to remove, or NULL */
};

static int git_err(int code, const char *what)
{
    const git_error *e = git_error_last();
    return porch_error_set(code, "%s: %s", what, e && e->message ? e->message : "git error");
}

int cad_git_open(const char *url, cad_git **out)
{
    git_libgit2_init();
    cad_git *g = calloc(1, sizeof *g);
    if (!g)
        return porch_error_set(500, "out of memory");
    const char *path = !strncmp(url, "file://", 7) ? url + 7 : url;
    int rc;
    if (path[0] == '/' || path[0] == '.') {
        rc = git_repository_open_ext(&g->repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
        if (rc < 0) {
            char *withgit = cad_sprintf("%s.git", path);
            rc = git_repository_open_ext(&g->repo, withgit, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
            free(withgit);
        }
        if (rc < 0) {
            free(g);
            return git_err(404, url);
        }
    } else {
        const char *td = getenv("TMPDIR");
        g->tmp = cad_sprintf("%s/porchctl-clone-XXXXXX", td && *td ? td : "/tmp");
        if (!mkdtemp(g->tmp)) {
            free(g->tmp);
            free(g);
            return porch_error_set(500, "cannot create a temporary directory");
        }
        git_clone_options co;
        git_clone_options_init(&co, GIT_CLONE_OPTIONS_VERSION);
        co.bare = 1;
        if (git_clone(&g->repo, url, g->tmp, &co) < 0) {
            int r = git_err(404, url);
            cad_rm_rf(g->tmp);
            free(g->tmp);
            free(g);
            return r;
        }
    }
    *out = g;
    return 0;
}

void cad_git_close(cad_git *g)
{
    if (!g)
        return;
    git_repository_free(g->repo);
    if (g->tmp) {
        cad_rm_rf(g->tmp);
        free(g->tmp);
    }
    free(g);
}

static int peel_commit(git_object *obj, char hex[41])
{
    git_object *c = NULL;
    if (git_object_peel(&c, obj, GIT_OBJECT_COMMIT) < 0)
        return -1;
    git_oid_tostr(hex, 41, git_object_id(c));
    git_object_free(c);
    return 0;
}

int cad_git_resolve(cad_git *g, const char *ref, char **ref_out, char hex[41])
{
    if (!ref || !*ref) {
        git_reference *head = NULL;
        if (git_reference_lookup(&head, g->repo, "HEAD") < 0)
            return git_err(404, "HEAD");
        const char *t = git_reference_symbolic_target(head);
        char *name = strdup(t && !strncmp(t, "refs/heads/", 11) ? t + 11 : "main");
        git_reference_free(head);
        int rc = cad_git_resolve(g, name, NULL, hex);
        if (rc == 0 && ref_out)
            *ref_out = name;
        else
            free(name);
        return rc;
    }
    const char *cands[] = {"refs/heads/%s", "refs/tags/%s", "refs/remotes/origin/%s", "%s"};
    for (int i = 0; i < 4; i++) {
        char *full = cad_sprintf(cands[i], ref);
        git_object *obj = NULL;
        int rc = git_revparse_single(&obj, g->repo, full);
        free(full);
        if (rc == 0) {
            rc = peel_commit(obj, hex);
            git_object_free(obj);
            if (rc == 0) {
                if (ref_out)
                    *ref_out = strdup(ref);
                return 0;
            }
        }
    }
    return porch_error_set(404, "unknown ref \"%s\"", ref);
}

typedef struct export_ctx {
    git_repository *repo;
    const char *dest;
    cad_git_xform xform;
    int err;
} export_ctx;

static int export_cb(const char *root, const git_tree_entry *e, void *payload)
{
    export_ctx *x = payload;
    if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
        return 0;
    char *rel = cad_sprintf("%s%s", root, git_tree_entry_name(e));
    char *full = cad_path_join(x->dest, rel);
    git_blob *b = NULL;
    if (git_blob_lookup(&b, x->repo, git_tree_entry_id(e)) < 0) {
        free(full);
        free(rel);
        x->err = git_err(500, "blob");
        return -1;
    }
    git_filemode_t mode = git_tree_entry_filemode(e);
    int rc;
    if (mode == GIT_FILEMODE_LINK) {
        char *t = strndup(git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
        char *dir = strdup(full);
        char *sl = strrchr(dir, '/');
        if (sl)
            *sl = '\0';
        cad_mkdirs(dir);
        free(dir);
        rc = symlink(t, full) < 0 ? porch_error_set(500, "symlink %s", full) : 0;
        free(t);
    } else {
        char *t = NULL;
        size_t tl = 0;
        int xr = x->xform ? x->xform(rel, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b), &t, &tl) : 0;
        if (xr == 1)
            rc = cad_write_file(full, t, tl);
        else
            rc = cad_write_file(full, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
        free(t);
        if (rc == 0 && mode == GIT_FILEMODE_BLOB_EXECUTABLE)
            chmod(full, 0755);
    }
    git_blob_free(b);
    free(full);
    free(rel);
    if (rc < 0) {
        x->err = -1;
        return -1;
    }
    return 0;
}

int cad_git_export(cad_git *g, const char *hex, const char *dir, const char *dest, cad_git_xform xform)
{
    git_oid oid;
    git_commit *c = NULL;
    git_tree *tree = NULL, *sub = NULL;
    if (git_oid_fromstr(&oid, hex) < 0 || git_commit_lookup(&c, g->repo, &oid) < 0)
        return git_err(404, hex);
    int rc = git_commit_tree(&tree, c);
    git_commit_free(c);
    if (rc < 0)
        return git_err(500, "tree");
    while (dir && *dir == '/')
        dir++;
    if (dir && *dir) {
        char *d = strdup(dir);
        size_t l = strlen(d);
        while (l && d[l - 1] == '/')
            d[--l] = '\0';
        git_tree_entry *e = NULL;
        rc = git_tree_entry_bypath(&e, tree, d);
        if (rc == 0 && git_tree_entry_type(e) == GIT_OBJECT_TREE)
            rc = git_tree_lookup(&sub, g->repo, git_tree_entry_id(e));
        else if (rc == 0)
            rc = -1;
        git_tree_entry_free(e);
        if (rc < 0) {
            git_tree_free(tree);
            rc = porch_error_set(404, "package directory \"%s\" not found at %s", d, hex);
            free(d);
            return rc;
        }
        free(d);
        git_tree_free(tree);
        tree = sub;
    }
    export_ctx x = {.repo = g->repo, .dest = dest, .xform = xform};
    if (cad_mkdirs(dest) < 0) {
        git_tree_free(tree);
        return -1;
    }
    rc = git_tree_walk(tree, GIT_TREEWALK_PRE, export_cb, &x);
    git_tree_free(tree);
    return rc < 0 || x.err ? -1 : 0;
}
