/* Discovery (spec §11.2–11.3, §5, §3.3): package revisions from the mirror's
 * refs — placeholders from the branch head's Kptfile directories, tags
 * <path>/vN (Published or DeletionProposed), drafts/… and proposed/… branches
 * — with workspaces, publish info and tasks read from the `kpt:` commit
 * annotations, and the kpt.dev/latest-revision label; each as PackageRevision JSON. */
#include "internal.h"

#include "error/error.h"
#include "log/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ORIGIN "refs/remotes/origin/"

typedef struct rev {
    char *full_path; /* package path in the repository, with the directory */
    char *package;   /* packageName: relative to the directory */
    char *workspace;
    char *ref_short; /* selfLock.ref: drafts/…, proposed/…, <path>/vN, or the branch */
    char *lifecycle;
    char *name;
    int revision;
    git_oid commit;
    git_oid kptfile; /* the package's Kptfile blob at that commit */
    char *published_by;      /* NULL when none */
    git_time_t published_at; /* 0 when none */
    json_t *tasks;           /* array, may be empty */
    int latest;
} rev;

typedef struct rev_list {
    rev *items;
    size_t n, cap;
} rev_list;

typedef struct list_ctx {
    gitrepo *repo;
    rev_list revs;
    json_t *deletion_proposed; /* set: "<full path>/<vN or ws>" → true */
    json_t *latest_commit;     /* branch walk: full path → sha of the newest annotating commit */
    const char *only;          /* NULL, or the one package path to discover (gitrepo_find) */
} list_ctx;

static rev *rev_add(rev_list *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 32;
        l->items = realloc(l->items, l->cap * sizeof *l->items);
    }
    rev *r = &l->items[l->n++];
    memset(r, 0, sizeof *r);
    return r;
}

static void rev_clear(rev *r)
{
    free(r->full_path);
    free(r->package);
    free(r->workspace);
    free(r->ref_short);
    free(r->lifecycle);
    free(r->name);
    free(r->published_by);
    json_decref(r->tasks);
}

/* Porch's packageInDirectory. */
static int in_directory(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 0)
        return 1;
    return strncmp(path, dir, n) == 0 && (path[n] == 0 || path[n] == '/');
}

static const char *relative(const gitrepo *repo, const char *full)
{
    size_t n = strlen(repo->dir);
    if (n == 0)
        return full;
    return full[n] == '/' ? full + n + 1 : full + n;
}

/* The Kptfile entry of a package directory's tree, or NULL. */
static const git_tree_entry *kptfile_entry(const git_tree *t)
{
    const git_tree_entry *e = git_tree_entry_byname(t, "Kptfile");
    return e && git_tree_entry_type(e) == GIT_OBJECT_BLOB &&
                   git_tree_entry_filemode(e) != GIT_FILEMODE_LINK
               ? e
               : NULL;
}

/* 1 when `path` in `commit` is a directory holding a Kptfile; *kptfile gets its blob. */
static int package_kptfile(gitrepo *repo, const git_oid *commit, const char *path,
                           git_oid *kptfile)
{
    git_tree *t = NULL;
    if (gitrepo_commit_subtree(gitrepo_reader(repo), commit, path, &t) != 0) {
        porch_error_clear();
        return 0;
    }
    const git_tree_entry *e = kptfile_entry(t);
    if (e)
        *kptfile = *git_tree_entry_id(e);
    git_tree_free(t);
    return e != NULL;
}

static const char *ann_str(json_t *a, const char *key)
{
    const char *s = json_string_value(json_object_get(a, key));
    return s ? s : "";
}

/* workspaceName of the first annotation of the commit for the package, or NULL. */
static char *workspace_from_commit(const gitrepo_commit_info *c, const char *full_path)
{
    size_t i;
    json_t *a;
    json_array_foreach(c->annotations, i, a)
    {
        if (strcmp(ann_str(a, "package"), full_path) == 0 && *ann_str(a, "workspaceName"))
            return strdup(ann_str(a, "workspaceName"));
    }
    return NULL;
}

static int is_first_task(const char *type)
{
    return strcmp(type, "init") == 0 || strcmp(type, "clone") == 0 || strcmp(type, "edit") == 0 ||
           strcmp(type, "upgrade") == 0;
}

typedef struct task_walk {
    const char *full_path, *workspace;
    json_t *tasks;
} task_walk;

static int task_visit(const gitrepo_commit_info *c, void *payload)
{
    task_walk *tw = payload;
    size_t i;
    json_t *a;
    json_array_foreach(c->annotations, i, a)
    {
        const char *ws = ann_str(a, "workspaceName");
        int ws_match = strcmp(ws, tw->workspace) == 0 ||
                       (!*ws && strcmp(ann_str(a, "revision"), tw->workspace) == 0);
        if (strcmp(ann_str(a, "package"), tw->full_path) != 0 || !ws_match)
            continue;
        json_t *task = json_object_get(a, "task");
        const char *type = json_string_value(json_object_get(task, "type"));
        if (!json_is_object(task) || !type)
            continue;
        if (is_first_task(type)) {
            json_array_clear(tw->tasks);
            json_array_append(tw->tasks, task);
        }
        if (strcmp(type, "init") == 0 || strcmp(type, "clone") == 0)
            return 1;
    }
    return 0;
}

/* Porch's loadTasks: walk back in committer-time order; the creating task is
 * the last init/edit/clone/upgrade seen for this package and workspace, and
 * the walk stops at an init or clone. */
static json_t *load_tasks(gitrepo *repo, const git_oid *start, const char *full_path,
                          const char *workspace)
{
    task_walk tw = {full_path, workspace, json_array()};
    /* most revisions of a large repository have no task annotation at all
     * (placeholders; packages pushed with plain git): no walk for them */
    if (gitrepo_task_index_has(repo, full_path, workspace))
        gitrepo_walk(repo, start, task_visit, &tw);
    return tw.tasks;
}

static void set_author(rev *r, const gitrepo_commit_info *c)
{
    if (!c)
        return;
    r->published_by = c->author_email ? strdup(c->author_email) : NULL;
    r->published_at = c->author_time;
}

/* Fills the common fields; takes ownership of nothing. */
static rev *add_revision(list_ctx *ctx, const char *full_path, const char *workspace, int revision,
                         const char *lifecycle, const git_oid *commit, const git_oid *kptfile,
                         const char *ref_short)
{
    rev *r = rev_add(&ctx->revs);
    r->kptfile = *kptfile;
    r->full_path = strdup(full_path);
    r->package = strdup(relative(ctx->repo, full_path));
    r->workspace = strdup(workspace);
    r->revision = revision;
    r->lifecycle = strdup(lifecycle);
    r->commit = *commit;
    r->ref_short = strdup(ref_short);
    char name[1024];
    if (gitrepo_name_compose(ctx->repo->name[0] ? ctx->repo->name : "repo", r->package, workspace,
                             name, sizeof name) != 0)
        name[0] = 0;
    r->name = strdup(name);
    r->tasks = load_tasks(ctx->repo, commit, full_path, workspace);
    return r;
}

/* ---- branch placeholders ---- */

static void discover_tree(list_ctx *ctx, const git_tree *t, const char *path, git_commit *head);

static void add_placeholder(list_ctx *ctx, const char *full_path, const git_oid *kptfile,
                            git_commit *head)
{
    gitrepo *repo = ctx->repo;
    if (!*relative(repo, full_path))
        return; /* a Kptfile at the directory itself has no package name */
    char dp[2048];
    snprintf(dp, sizeof dp, "%s/%s", full_path, repo->branch);
    const char *lifecycle =
        json_object_get(ctx->deletion_proposed, dp) ? "DeletionProposed" : "Published";
    rev *r = add_revision(ctx, full_path, repo->branch, -1, lifecycle, git_commit_id(head),
                          kptfile, repo->branch);
    const char *sha = json_string_value(json_object_get(ctx->latest_commit, full_path));
    git_oid oid;
    if (sha && git_oid_fromstr(&oid, sha) == 0)
        set_author(r, gitrepo_commit_get(repo, &oid));
}

static void discover_tree(list_ctx *ctx, const git_tree *t, const char *path, git_commit *head)
{
    const git_tree_entry *kptfile = kptfile_entry(t);
    if (kptfile) {
        add_placeholder(ctx, path, git_tree_entry_id(kptfile), head);
        return; /* nested Kptfiles belong to this package */
    }
    size_t n = git_tree_entrycount(t);
    for (size_t i = 0; i < n; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(t, i);
        if (git_tree_entry_type(e) != GIT_OBJECT_TREE)
            continue;
        git_tree *sub = NULL;
        if (git_tree_lookup(&sub, gitrepo_reader(ctx->repo), git_tree_entry_id(e)) != 0)
            continue;
        char child[2048];
        if (*path)
            snprintf(child, sizeof child, "%s/%s", path, git_tree_entry_name(e));
        else
            snprintf(child, sizeof child, "%s", git_tree_entry_name(e));
        discover_tree(ctx, sub, child, head);
        git_tree_free(sub);
    }
}

/* One walk of the branch history: the newest annotating commit per package. */
static int history_visit(const gitrepo_commit_info *c, void *payload)
{
    list_ctx *ctx = payload;
    size_t i;
    json_t *a;
    json_array_foreach(c->annotations, i, a)
    {
        const char *p = ann_str(a, "package");
        if (*p && !json_object_get(ctx->latest_commit, p))
            json_object_set_new(ctx->latest_commit, p, json_string(git_oid_tostr_s(&c->id)));
    }
    /* when looking for one package, stop once it is found */
    return ctx->only && json_object_get(ctx->latest_commit, ctx->only) != NULL;
}

static void index_branch_history(list_ctx *ctx, const git_oid *head)
{
    gitrepo_walk(ctx->repo, head, history_visit, ctx);
}

static void discover_branch(list_ctx *ctx, const git_oid *head_oid)
{
    git_commit *head = NULL;
    if (git_commit_lookup(&head, gitrepo_reader(ctx->repo), head_oid) != 0)
        return;
    git_tree *t = NULL;
    git_oid kptfile;
    if (ctx->only) {
        if (package_kptfile(ctx->repo, head_oid, ctx->only, &kptfile)) {
            index_branch_history(ctx, head_oid);
            add_placeholder(ctx, ctx->only, &kptfile, head);
        }
    } else if (gitrepo_commit_subtree(gitrepo_reader(ctx->repo), head_oid, ctx->repo->dir,
                                      &t) == 0) {
        index_branch_history(ctx, head_oid);
        discover_tree(ctx, t, ctx->repo->dir, head);
        git_tree_free(t);
    } else {
        porch_error_clear(); /* the directory does not exist (yet): no packages */
    }
    git_commit_free(head);
}

/* ---- tags and draft/proposed branches ---- */

static void discover_tag(list_ctx *ctx, const char *refname, const git_oid *target)
{
    const char *name = refname + strlen("refs/tags/");
    const char *slash = strrchr(name, '/');
    if (!slash)
        return; /* release tags and the like */
    char path[2048];
    snprintf(path, sizeof path, "%.*s", (int)(slash - name), name);
    const char *version = slash + 1;
    if (!in_directory(path, ctx->repo->dir) || !*relative(ctx->repo, path) ||
        (ctx->only && strcmp(ctx->only, path) != 0))
        return;
    git_object *tagged = NULL, *obj = NULL;
    if (git_object_lookup(&tagged, gitrepo_reader(ctx->repo), target, GIT_OBJECT_ANY) != 0) {
        log_warn("tag points at a missing object; skipped", "tag", json_string(name));
        return;
    }
    int rc = git_object_peel(&obj, tagged, GIT_OBJECT_COMMIT);
    git_object_free(tagged);
    if (rc != 0) {
        log_warn("tag does not point at a commit; skipped", "tag", json_string(name));
        return;
    }
    git_commit *c = (git_commit *)obj;
    git_oid kptfile;
    if (!package_kptfile(ctx->repo, git_commit_id(c), path, &kptfile)) {
        log_warn("tag has no Kptfile at its package path; skipped", "tag", json_string(name));
        git_object_free(obj);
        return;
    }
    int revision = gitrepo_revision_parse(version);
    char *ws = NULL;
    const gitrepo_commit_info *ci = gitrepo_commit_get(ctx->repo, git_commit_id(c));
    if (revision != -1) {
        ws = ci ? workspace_from_commit(ci, path) : NULL;
        if (!ws) {
            char buf[32];
            snprintf(buf, sizeof buf, "v%d", revision);
            ws = strdup(buf);
        }
    } else {
        ws = strdup(version);
    }
    char dp[2200];
    if (revision > 0)
        snprintf(dp, sizeof dp, "%s/v%d", path, revision);
    else
        snprintf(dp, sizeof dp, "%s/%s", path, ws);
    const char *lifecycle =
        json_object_get(ctx->deletion_proposed, dp) ? "DeletionProposed" : "Published";
    rev *r = add_revision(ctx, path, ws, revision, lifecycle, git_commit_id(c), &kptfile, name);
    set_author(r, ci);
    free(ws);
    git_object_free(obj);
}

static void discover_draft(list_ctx *ctx, const char *refname, const git_oid *target,
                           const char *lifecycle)
{
    const char *short_ref = refname + strlen(ORIGIN); /* drafts/a/b/ws */
    const char *suffix = strchr(short_ref, '/') + 1;  /* a/b/ws */
    const char *slash = strrchr(suffix, '/');
    if (!slash || slash == suffix)
        return;
    char path[2048];
    snprintf(path, sizeof path, "%.*s", (int)(slash - suffix), suffix);
    if (!in_directory(path, ctx->repo->dir) || !*relative(ctx->repo, path) ||
        (ctx->only && strcmp(ctx->only, path) != 0))
        return;
    git_oid oid = *target, kptfile;
    if (!package_kptfile(ctx->repo, &oid, path, &kptfile)) {
        log_warn("draft branch has no Kptfile at its package path; skipped", "ref",
                 json_string(short_ref));
        return;
    }
    add_revision(ctx, path, slash + 1, 0, lifecycle, &oid, &kptfile, short_ref);
}

/* ---- output ---- */

static int lifecycle_rank(const char *l)
{
    if (strcmp(l, "Draft") == 0)
        return 0;
    if (strcmp(l, "Proposed") == 0)
        return 1;
    if (strcmp(l, "Published") == 0)
        return 2;
    return 3;
}

static const char *leaf(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int cmp_rev(const void *a, const void *b)
{
    const rev *x = a, *y = b;
    int c = strcmp(leaf(x->package), leaf(y->package));
    if (c)
        return c;
    if (x->revision != y->revision)
        return x->revision < y->revision ? -1 : 1;
    c = lifecycle_rank(x->lifecycle) - lifecycle_rank(y->lifecycle);
    if (c)
        return c;
    return strcmp(x->name, y->name);
}

/* kpt.dev/latest-revision: the highest revision > 0 among Published and
 * DeletionProposed revisions of each package (keyed by packageName). */
static void mark_latest(rev_list *l)
{
    json_t *best = json_object(); /* packageName → highest published revision */
    for (size_t i = 0; i < l->n; i++) {
        rev *r = &l->items[i];
        if (r->revision <= 0 || lifecycle_rank(r->lifecycle) < 2)
            continue;
        json_t *b = json_object_get(best, r->package);
        if (!b || json_integer_value(b) < r->revision)
            json_object_set_new(best, r->package, json_integer(r->revision));
    }
    for (size_t i = 0; i < l->n; i++) {
        rev *r = &l->items[i];
        r->latest = r->revision > 0 && lifecycle_rank(r->lifecycle) >= 2 &&
                    json_integer_value(json_object_get(best, r->package)) == r->revision;
    }
    json_decref(best);
}

static json_t *rev_json(const gitrepo *repo, const rev *r)
{
    char uid[GITREPO_UID_LEN], sha[GITREPO_SHA_HEX];
    gitrepo_uid(repo->namespace_, r->name, uid);
    git_oid_tostr(sha, sizeof sha, &r->commit);
    json_t *meta = json_pack("{s:s, s:s, s:s, s:s}", "name", r->name, "namespace", repo->namespace_,
                             "uid", uid, "resourceVersion", sha);
    if (r->latest)
        json_object_set_new(meta, "labels", json_pack("{s:s}", "kpt.dev/latest-revision", "true"));
    json_t *spec = json_pack("{s:s, s:s, s:s}", "packageName", r->package, "repository", repo->name,
                             "workspaceName", r->workspace);
    if (r->revision != 0)
        json_object_set_new(spec, "revision", json_integer(r->revision));
    json_object_set_new(spec, "lifecycle", json_string(r->lifecycle));
    if (json_array_size(r->tasks) > 0)
        json_object_set(spec, "tasks", r->tasks);
    json_t *status = json_object();
    json_object_set_new(status, "selfLock",
                        json_pack("{s:s, s:{s:s, s:s, s:s, s:s}}", "type", "git", "git", "repo",
                                  repo->url, "directory", r->package, "ref", r->ref_short, "commit",
                                  sha));
    int published = lifecycle_rank(r->lifecycle) >= 2;
    if (published && r->published_by)
        json_object_set_new(status, "publishedBy", json_string(r->published_by));
    if (published && r->published_at) {
        char ts[32];
        time_t t = (time_t)r->published_at;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(status, "publishTimestamp", json_string(ts));
    } else {
        json_object_set_new(status, "publishTimestamp", json_null());
    }
    if (repo->deployment)
        json_object_set_new(status, "deployment", json_true());
    if (gitrepo_kptfile_fields((gitrepo *)repo, &r->kptfile, spec, status) < 0)
        porch_error_clear(); /* listed all the same, without the Kptfile's fields */
    return json_pack("{s:s, s:s, s:o, s:o, s:o}", "apiVersion", "porch.kpt.dev/v1alpha1", "kind",
                     "PackageRevision", "metadata", meta, "spec", spec, "status", status);
}

/* Routes one mirror ref to the discovery of its kind. */
static void discover_ref(list_ctx *ctx, const gitrepo_ref *ref)
{
    if (strncmp(ref->name, ORIGIN "drafts/", strlen(ORIGIN "drafts/")) == 0)
        discover_draft(ctx, ref->name, &ref->oid, "Draft");
    else if (strncmp(ref->name, ORIGIN "proposed/", strlen(ORIGIN "proposed/")) == 0)
        discover_draft(ctx, ref->name, &ref->oid, "Proposed");
    else if (strncmp(ref->name, "refs/tags/", 10) == 0)
        discover_tag(ctx, ref->name, &ref->oid);
}

typedef struct ordered_ref {
    const gitrepo_ref *ref;
    git_time_t time;
} ordered_ref;

static int cmp_ordered_ref(const void *a, const void *b)
{
    const ordered_ref *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    return strcmp(x->ref->name, y->ref->name);
}

/* With `only`, reads just the refs under that package's prefixes: the
 * in-memory refs are sorted, so each prefix is one binary search. */
static int list_filtered(gitrepo *repo, const char *only, json_t **out)
{
    list_ctx ctx = {repo, {0}, json_object(), json_object(), only};
    char branch_ref[1024], prefix[3 * GITREPO_NAME_MAX + 64];
    gitrepo_task_index_update(repo); /* reads only commits new since the last listing */
    snprintf(branch_ref, sizeof branch_ref, ORIGIN "%s", repo->branch);
    const gitrepo_ref *first;
    size_t n = gitrepo_refs_range(repo, ORIGIN "deletionProposed/", &first);
    for (size_t i = 0; i < n; i++)
        json_object_set_new(ctx.deletion_proposed,
                            first[i].name + strlen(ORIGIN "deletionProposed/"), json_true());
    if (only) {
        static const char *const kinds[] = {ORIGIN "drafts/", ORIGIN "proposed/", "refs/tags/"};
        for (size_t k = 0; k < 3; k++) {
            snprintf(prefix, sizeof prefix, "%s%s/", kinds[k], only);
            n = gitrepo_refs_range(repo, prefix, &first);
            for (size_t i = 0; i < n; i++)
                discover_ref(&ctx, &first[i]);
        }
    } else {
        /* In history order, not name order: consecutive commits' trees are
         * stored as deltas of each other, so each is rebuilt from a base
         * libgit2 just rebuilt (several times faster on a large repository). */
        n = gitrepo_refs_range(repo, "", &first);
        ordered_ref *order = malloc((n ? n : 1) * sizeof *order);
        for (size_t i = 0; i < n; i++) {
            const gitrepo_commit_info *ci = gitrepo_commit_get(repo, &first[i].oid);
            order[i] = (ordered_ref){&first[i], ci ? ci->time : 0};
        }
        if (n > 1)
            qsort(order, n, sizeof *order, cmp_ordered_ref);
        for (size_t i = 0; i < n; i++)
            discover_ref(&ctx, order[i].ref);
        free(order);
    }
    const git_oid *head_oid = gitrepo_refs_get(repo, branch_ref);
    git_oid head;
    int have_head = head_oid != NULL;
    if (have_head)
        head = *head_oid;
    if (have_head)
        discover_branch(&ctx, &head);
    mark_latest(&ctx.revs);
    if (ctx.revs.n > 1) /* qsort's base may not be NULL, even for zero items */
        qsort(ctx.revs.items, ctx.revs.n, sizeof *ctx.revs.items, cmp_rev);
    json_t *arr = json_array();
    for (size_t i = 0; i < ctx.revs.n; i++) {
        json_array_append_new(arr, rev_json(repo, &ctx.revs.items[i]));
        rev_clear(&ctx.revs.items[i]);
    }
    free(ctx.revs.items);
    json_decref(ctx.deletion_proposed);
    json_decref(ctx.latest_commit);
    *out = arr;
    return 0;
}

int gitrepo_list(gitrepo *repo, json_t **out)
{
    return list_filtered(repo, NULL, out);
}

int gitrepo_list_package(gitrepo *repo, const char *package, json_t **out)
{
    char full[3 * GITREPO_NAME_MAX];
    gitrepo_full_path(repo, package, full, sizeof full);
    return list_filtered(repo, full, out);
}

int gitrepo_find(gitrepo *repo, const char *name, json_t **out)
{
    *out = NULL;
    gitrepo_name_parts parts;
    if (gitrepo_name_parse(name, &parts) != 0 || strcmp(parts.repository, repo->name) != 0)
        return porch_error_set(404, "packagerevisions.porch.kpt.dev \"%s\" not found", name);
    /* Names map back to one package path: '.' cannot occur in its DNS-label segments. */
    char pkg[2 * GITREPO_NAME_MAX], full[3 * GITREPO_NAME_MAX];
    if (parts.path[0])
        snprintf(pkg, sizeof pkg, "%s/%s", parts.path, parts.package);
    else
        snprintf(pkg, sizeof pkg, "%s", parts.package);
    gitrepo_full_path(repo, pkg, full, sizeof full);
    json_t *all = NULL;
    int rc = list_filtered(repo, full, &all);
    if (rc != 0)
        return rc;
    size_t i;
    json_t *item;
    json_array_foreach(all, i, item)
    {
        const char *n =
            json_string_value(json_object_get(json_object_get(item, "metadata"), "name"));
        if (n && strcmp(n, name) == 0) {
            *out = json_incref(item);
            break;
        }
    }
    json_decref(all);
    if (!*out)
        return porch_error_set(404, "packagerevisions.porch.kpt.dev \"%s\" not found", name);
    return 0;
}
