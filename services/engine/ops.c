/* The engine's PackageRevision ops: create (init, edit, clone), update
 * (lifecycle, metadata, approval) and delete. Each checks the rules first
 * (rules.c), takes the object's try-lock, writes through the git adapter,
 * then syncs the repository into the cache and answers with what readers see. */
#include "cad/cad.h"
#include "engine.h"
#include "error/error.h"
#include "kptfile.h"
#include "log/log.h"
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GIT_SHA_MAX 72 /* a hex object id (SHA-1 or SHA-256) and its NUL */

static const char *leaf_of(const char *pkg)
{
    const char *slash = strrchr(pkg, '/');
    return slash ? slash + 1 : pkg;
}

/* The user's part of a revision's labels: all but kpt.dev/latest-revision (new object). */
static json_t *user_labels(json_t *meta)
{
    json_t *labels = json_object_get(meta, "labels");
    json_t *out = json_is_object(labels) ? json_deep_copy(labels) : json_object();
    json_object_del(out, ENGINE_LATEST_LABEL);
    return out;
}

static json_t *annotations_of(json_t *meta)
{
    json_t *a = json_object_get(meta, "annotations");
    return json_is_object(a) ? json_deep_copy(a) : json_object();
}

/* Stores the user's labels and annotations of revision `name` (as a
 * PackageRevMeta: merged into the existing ones, or with `seen` — the
 * metadata of the revision as the caller read it — replacing them), then
 * syncs the written package into the cache, which applies them; *out is the
 * revision as readers now see it. Unchanged metadata is not written again
 * (config.db commits are synchronous). */
static int finish_write(engine_call *c, const char *ns, const char *repo, const char *pkg,
                        const char *name, json_t *user_meta, json_t *seen, json_t **out)
{
    json_t *labels = json_object_get(user_meta, "labels");
    json_t *annotations = json_object_get(user_meta, "annotations");
    json_t *args, *res = NULL;
    int rc = 0;
    if (json_is_object(labels) || json_is_object(annotations) || seen) {
        json_t *old = NULL, *old_meta = seen;
        if (!seen) {
            json_t *get = json_pack("{s:s, s:s, s:s}", "kind", ENGINE_KIND_REVMETA, "namespace",
                                    ns, "name", name);
            if (engine_cache(c, "cache.get", get, &old) < 0)
                porch_error_clear();
            json_decref(get);
            old_meta = json_object_get(json_object_get(old, "object"), "metadata");
        }
        json_t *old_labels = user_labels(old_meta), *old_annotations = annotations_of(old_meta);
        json_t *new_labels = user_labels(user_meta);
        json_t *new_annotations = annotations_of(user_meta);
        if (!seen) { /* merge: what the update does not name stays */
            json_object_update_missing(new_labels, old_labels);
            json_object_update_missing(new_annotations, old_annotations);
        }
        int same = json_equal(new_labels, old_labels) && json_equal(new_annotations, old_annotations);
        json_decref(old_labels);
        json_decref(old_annotations);
        json_decref(old);
        if (same) {
            json_decref(new_labels);
            json_decref(new_annotations);
            goto sync;
        }
        json_t *meta = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:o}}", "apiVersion",
                                 "porch.kpt.dev/v1alpha1", "kind", "PackageRevMeta", "metadata",
                                 "name", name, "namespace", ns, "labels", new_labels,
                                 "annotations", new_annotations);
        args = json_pack("{s:s, s:s, s:s, s:o, s:s}", "kind", ENGINE_KIND_REVMETA, "namespace", ns,
                         "name", name, "object", meta, "mode", "upsert");
        rc = engine_cache(c, "cache.put", args, &res);
        json_decref(args);
        json_decref(res);
        if (rc < 0)
            return -1;
    }
sync:
    return engine_sync_package(c, ns, repo, pkg, name, out);
}

/* Renders a new or updated Draft's files in place; a failure is Porch's 500. */
static int render_or_fail(engine *eng, json_t **resources)
{
    json_t *status = NULL;
    int rc = engine_render(eng, resources, &status);
    json_decref(status);
    if (rc == 0)
        return 0;
    char details[PORCH_ERROR_MESSAGE_MAX];
    snprintf(details, sizeof details, "%s", porch_error_last()->message);
    return porch_error_set(500, "Error rendering package in kpt function pipeline. Package NOT "
                                "pushed to remote. Fix locally (until 'kpt fn render' succeeds) "
                                "and retry. Details: %s",
                           details);
}

/* §3.7 step 6: a Draft's content follows its update — the Kptfile takes
 * spec.packageMetadata (replacing), spec.readinessGates and, when given,
 * status.conditions — and is re-rendered. A changed file set is committed
 * (task render) and *commit receives the new draft commit; an unchanged one
 * is not committed again (Porch commits an identical tree; the revision's
 * resourceVersion then stays what the client saw). */
static int update_draft(engine_call *c, const char *ns, const char *repo, json_t *old, json_t *obj,
                        const char *to, char *commit, size_t commit_len, int *moved)
{
    json_t *files = NULL, *resources = NULL;
    int rc = engine_read_files(c, old, &files);
    if (rc < 0)
        return -1;
    resources = json_deep_copy(files);
    json_t *spec = json_object_get(obj, "spec"), *old_spec = json_object_get(old, "spec");
    json_t *pm = json_object_get(spec, "packageMetadata");
    json_t *gates = json_object_get(spec, "readinessGates");
    json_t *conditions = json_object_get(json_object_get(obj, "status"), "conditions");
    rc = engine_kptfile_sync(resources, pm ? pm : json_object_get(old_spec, "packageMetadata"),
                             gates ? gates : json_object_get(old_spec, "readinessGates"),
                             json_is_array(conditions) ? conditions : NULL);
    if (rc == 0)
        rc = render_or_fail(c->eng, &resources);
    if (rc == 0 && !json_equal(files, resources)) {
        json_t *args = json_pack("{s:O, s:O, s:O, s:{s:s}, s:s, s:s, s:o}", "packageName",
                                 json_object_get(old_spec, "packageName"), "workspaceName",
                                 json_object_get(old_spec, "workspaceName"), "resources",
                                 resources, "task", "type", "render", "message",
                                 "Rendering package", "expect", engine_revision_commit(old),
                                 "author", engine_author(c)), *res = NULL;
        json_object_set_new(args, "item", json_false());
        json_object_set(args, "listPackage", json_object_get(old_spec, "packageName"));
        /* a propose commits and moves in one push, as Porch's draft close does */
        *moved = !strcmp(to, "Proposed");
        if (!*moved) /* its propose re-renders: start while the write runs */
            engine_render_ahead(c->eng, resources, NULL);
        if (*moved)
            json_object_set_new(args, "lifecycle", json_string("Proposed"));
        rc = engine_write_draft(c, ns, repo, args, &res);
        const char *sha = json_string_value(json_object_get(res, "resourceVersion"));
        if (rc == 0 && sha)
            snprintf(commit, commit_len, "%s", sha);
        if (rc == 0 && !*moved) { /* and stage that render on the new commit */
            json_t *at = engine_stage_at(ns, repo, old, commit);
            engine_render_ahead(c->eng, resources, at);
            json_decref(at);
        }
        json_decref(args);
        json_decref(res);
    }
    json_decref(files);
    json_decref(resources);
    return rc;
}

/* §3.6 step 5: unique workspace in the package, init/clone only for new packages. */
static int check_unique(engine_call *c, const char *ns, const char *repo, const char *pkg,
                        const char *ws, const char *task_type)
{
    int creating = !strcmp(task_type, "init") || !strcmp(task_type, "clone");
    /* a new package also must not nest with another: the same indexed list
     * then holds the packages above and below its path too */
    json_t *args = json_pack("{s:s, s:s, s:s, s:s, s:b}", "kind", ENGINE_KIND_REVISION, "namespace",
                             ns, "repository", repo, "packageName", pkg, "overlapping", creating),
           *res = NULL;
    int listed = engine_cache(c, "cache.list", args, &res);
    json_decref(args);
    if (listed < 0)
        return -1;
    json_t *items = json_incref(json_object_get(res, "items"));
    json_decref(res);
    size_t i;
    json_t *it;
    int rc = 0, exists = 0;
    json_array_foreach(items, i, it) {
        if (strcmp(engine_or_empty(engine_str(it, "spec", "repository")), repo) ||
            strcmp(engine_or_empty(engine_str(it, "spec", "packageName")), pkg))
            continue;
        exists = 1;
        if (!strcmp(engine_or_empty(engine_str(it, "spec", "workspaceName")), ws)) {
            rc = porch_error_set_reason(409, "AlreadyExists",
                                        "package revision workspaceNames must be unique; package "
                                        "revision with name %s in repo %s with package name %s "
                                        "already exists", ws, repo, pkg);
            break;
        }
    }
    if (rc == 0 && exists && !strcmp(task_type, "clone"))
        rc = porch_error_set_reason(409, "AlreadyExists",
                                    "`clone` cannot create a new revision for package \"%s\" that "
                                    "already exists in repo \"%s\"; make subsequent revisions "
                                    "using `copy`", pkg, repo);
    else if (rc == 0 && exists && !strcmp(task_type, "init"))
        rc = porch_error_set_reason(409, "AlreadyExists",
                                    "package \"%s\" already exists in repository \"%s\"", pkg, repo);
    json_array_foreach(items, i, it) {
        const char *other = engine_or_empty(engine_str(it, "spec", "packageName"));
        if (rc != 0 || !creating)
            break;
        if (strcmp(engine_or_empty(engine_str(it, "spec", "repository")), repo) == 0 &&
            engine_rules_paths_nest(pkg, other))
            rc = porch_error_set_reason(409, "Conflict",
                                        "package path \"%s\" conflicts with existing package "
                                        "\"%s\": packages cannot be nested", pkg, other);
    }
    json_decref(items);
    return rc;
}

/* Reads a revision's files through the git adapter (new reference). */
static int task_init(engine *eng, json_t *task, const char *pkg, json_t **resources)
{
    json_t *init = json_object_get(task, "init");
    char *dir = NULL;
    if (engine_workdir_new(eng, &dir) < 0)
        return -1;
    char pkg_dir[4200];
    snprintf(pkg_dir, sizeof pkg_dir, "%s/%s", dir, leaf_of(pkg));
    char keywords[2048] = "";
    size_t i, n = 0;
    json_t *k;
    json_array_foreach(json_object_get(init, "keywords"), i, k) if (json_is_string(k))
        n += (size_t)snprintf(keywords + n, n < sizeof keywords ? sizeof keywords - n : 0, "%s%s",
                              n ? "," : "", json_string_value(k));
    char default_desc[300];
    snprintf(default_desc, sizeof default_desc, "%s description", pkg);
    const char *desc = engine_str(init, "description", NULL);
    cad_init_opts o = {.dir = pkg_dir, .name = leaf_of(pkg),
                       .description = desc && *desc ? desc : default_desc,
                       .keywords = n ? keywords : NULL, .site = engine_str(init, "site", NULL)};
    int rc = mkdir(pkg_dir, 0700) == 0 ? cad_pkg_init(&o) : porch_error_set(500, "engine: mkdir");
    if (rc == 0)
        rc = cad_files_read(pkg_dir, resources);
    cad_workdir_remove(dir);
    free(dir);
    return rc;
}

static int task_edit(engine_call *c, json_t *task, const char *ns, const char *repo,
                     const char *pkg, json_t **resources)
{
    const char *src = engine_str(json_object_get(task, "edit"), "sourceRef", "name");
    if (!src || !*src)
        return porch_error_set(422, "edit task: sourceRef.name is required");
    json_t *source;
    if (engine_get_revision(c, ns, src, &source) < 0)
        return -1;
    int rc = 0;
    const char *lc = engine_or_empty(engine_str(source, "spec", "lifecycle"));
    json_int_t rev = json_integer_value(json_object_get(json_object_get(source, "spec"), "revision"));
    if (strcmp(engine_or_empty(engine_str(source, "spec", "repository")), repo) ||
        strcmp(engine_or_empty(engine_str(source, "spec", "packageName")), pkg))
        rc = porch_error_set(422, "edit task: source %s is not a revision of package %s in "
                                  "repository %s", src, pkg, repo);
    else if (rev < 0)
        rc = porch_error_set(422, "edit task: %s may not be the placeholder package revision", src);
    else if (strcmp(lc, "Published") && strcmp(lc, "DeletionProposed"))
        rc = porch_error_set(422, "edit task: source %s must be published (it is %s)", src, lc);
    if (rc == 0)
        rc = engine_read_files(c, source, resources);
    json_decref(source);
    return rc;
}

static int task_clone(engine_call *c, json_t *task, const char *ns, const char *pkg,
                      json_t **resources)
{
    json_t *up = json_object_get(json_object_get(task, "clone"), "upstreamRef");
    const char *src = engine_str(json_object_get(up, "upstreamRef"), "name", NULL);
    if (src && *src) {
        json_t *source;
        if (engine_get_revision(c, ns, src, &source) < 0)
            return -1;
        json_int_t rev = json_integer_value(json_object_get(json_object_get(source, "spec"), "revision"));
        int rc = rev < 0 ? porch_error_set(422, "clone task: %s may not be the placeholder "
                                                "package revision", src)
                         : engine_read_files(c, source, resources);
        json_t *lock = json_object_get(json_object_get(source, "status"), "selfLock");
        json_t *git = json_object_get(lock, "git");
        if (rc == 0 && git) {
            json_t *upstream = json_pack("{s:s, s:{s:O, s:O, s:O}, s:s}", "type", "git", "git",
                                         "repo", json_object_get(git, "repo"), "directory",
                                         json_object_get(git, "directory"), "ref",
                                         json_object_get(git, "ref"), "updateStrategy",
                                         "resource-merge");
            json_t *lock_of = json_pack("{s:s, s:O}", "type", "git", "git", git);
            rc = engine_kptfile_edit(*resources, NULL, 0, leaf_of(pkg), upstream, lock_of);
            json_decref(lock_of); /* borrowed by the edit */
            json_decref(upstream);
        }
        json_decref(source);
        return rc;
    }
    json_t *git = json_object_get(up, "git");
    const char *url = engine_str(git, "repo", NULL);
    if (!url || !*url)
        return porch_error_set(422, "clone task: upstreamRef needs upstreamRef.name or git.repo");
    char *dir = NULL;
    if (engine_workdir_new(c->eng, &dir) < 0)
        return -1;
    char dest[4200];
    snprintf(dest, sizeof dest, "%s/%s", dir, leaf_of(pkg));
    cad_get_opts o = {.repo = url, .directory = engine_or_empty(engine_str(git, "directory", NULL)),
                      .ref = engine_str(git, "ref", NULL), .dest = dest};
    int rc = cad_pkg_get(&o);
    if (rc == 0)
        rc = cad_files_read(dest, resources);
    cad_workdir_remove(dir);
    free(dir);
    return rc;
}

/* A registered revision by name for a task, refusing the placeholder (§5). */
static int task_source(engine_call *c, const char *ns, json_t *ref, const char *task,
                       const char *field, json_t **out)
{
    const char *name = engine_str(ref, "name", NULL);
    if (!name || !*name)
        return porch_error_set(422, "%s task: %s.name is required", task, field);
    if (engine_get_revision(c, ns, name, out) < 0)
        return -1;
    if (json_integer_value(json_object_get(json_object_get(*out, "spec"), "revision")) < 0) {
        json_decref(*out);
        *out = NULL;
        return porch_error_set(422, "%s task: %s %s may not be the placeholder package revision",
                               task, field, name);
    }
    return 0;
}

/* upgrade {oldUpstreamRef, newUpstreamRef, localPackageRevisionRef, strategy} (§6.4):
 * kpt's pkg update of the local revision to the new upstream's ref. */
static int task_upgrade(engine_call *c, json_t *task, const char *ns, const char *pkg,
                        json_t **resources)
{
    json_t *up = json_object_get(task, "upgrade");
    json_t *old_up = NULL, *new_up = NULL, *local = NULL;
    int rc = task_source(c, ns, json_object_get(up, "oldUpstreamRef"), "upgrade", "oldUpstreamRef",
                         &old_up);
    if (rc == 0)
        rc = task_source(c, ns, json_object_get(up, "newUpstreamRef"), "upgrade", "newUpstreamRef",
                         &new_up);
    if (rc == 0)
        rc = task_source(c, ns, json_object_get(up, "localPackageRevisionRef"), "upgrade",
                         "localPackageRevisionRef", &local);
    json_t *files = NULL;
    if (rc == 0)
        rc = engine_read_files(c, local, &files);
    char *dir = NULL;
    if (rc == 0)
        rc = engine_workdir_new(c->eng, &dir);
    char pkg_dir[4200] = "";
    if (rc == 0) {
        snprintf(pkg_dir, sizeof pkg_dir, "%s/%s", dir, leaf_of(pkg));
        rc = mkdir(pkg_dir, 0700) == 0 ? cad_files_write(pkg_dir, files)
                                       : porch_error_set(500, "engine: mkdir");
    }
    if (rc == 0) {
        json_t *lock_git = json_object_get(json_object_get(json_object_get(new_up, "status"),
                                                           "selfLock"), "git");
        const char *ref = json_string_value(json_object_get(lock_git, "ref"));
        const char *strategy = engine_str(up, "strategy", NULL);
        cad_update_opts o = {.dir = pkg_dir, .ref = ref,
                             .strategy = strategy && *strategy ? strategy : "resource-merge"};
        rc = cad_pkg_update(&o);
    }
    if (rc == 0) {
        json_decref(files);
        files = NULL;
        rc = cad_files_read(pkg_dir, resources);
    }
    cad_workdir_remove(dir);
    free(dir);
    json_decref(files);
    json_decref(old_up);
    json_decref(new_up);
    json_decref(local);
    return rc;
}

static int handle_create(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    engine_call c = {.eng = ud, .req = req};
    const char *ns = engine_str(req->args, "namespace", NULL);
    json_t *obj = json_object_get(req->args, "object");
    if (engine_rules_check_create(ns, obj) < 0)
        return -1;
    json_t *spec = json_object_get(obj, "spec");
    const char *repo = engine_str(spec, "repository", NULL), *pkg = engine_str(spec, "packageName", NULL),
               *ws = engine_str(spec, "workspaceName", NULL);
    json_t *repo_args = json_pack("{s:s, s:s, s:s}", "kind", ENGINE_KIND_REPOSITORY, "namespace",
                                  ns, "name", repo), *repo_res = NULL;
    int rc = engine_cache(&c, "cache.get", repo_args, &repo_res);
    json_decref(repo_args);
    int deployment = json_is_true(json_object_get(
        json_object_get(json_object_get(repo_res, "object"), "spec"), "deployment"));
    json_decref(repo_res);
    if (rc < 0)
        return porch_error_last()->code == 404
                   ? porch_error_set(404, "repositories.config.porch.kpt.dev \"%s\" not found", repo)
                   : -1;
    json_t *task = json_array_get(json_object_get(spec, "tasks"), 0);
    json_t *default_task = NULL;
    if (!task)
        task = default_task = json_pack("{s:s, s:{}}", "type", "init", "init");
    const char *type = engine_or_empty(engine_str(task, "type", NULL));
    char key[600];
    snprintf(key, sizeof key, "%s-%s-%s-%s", ns, repo, pkg, ws);
    if (engine_lock(c.eng, key, "packagerevisions.porch.kpt.dev") < 0) {
        json_decref(default_task);
        return -1;
    }
    json_t *resources = NULL;
    rc = check_unique(&c, ns, repo, pkg, ws, type);
    if (rc == 0) {
        if (!strcmp(type, "init"))
            rc = task_init(c.eng, task, pkg, &resources);
        else if (!strcmp(type, "edit"))
            rc = task_edit(&c, task, ns, repo, pkg, &resources);
        else if (!strcmp(type, "clone")) {
            rc = task_clone(&c, task, ns, pkg, &resources);
            if (rc == 0 && deployment) /* only clone does this (§6.2) */
                rc = engine_package_context(resources, pkg);
        }
        else if (!strcmp(type, "upgrade"))
            rc = task_upgrade(&c, task, ns, pkg, &resources);
        else
            rc = porch_error_set(422, "task type \"%s\" is not supported (init, edit, clone, "
                                      "upgrade)", type);
    }
    if (rc == 0 && json_object_get(spec, "packageMetadata"))
        rc = engine_kptfile_edit(resources, json_object_get(spec, "packageMetadata"), 0, NULL, NULL,
                                 NULL);
    if (rc == 0 && json_is_array(json_object_get(spec, "readinessGates")))
        rc = engine_kptfile_sync(resources, NULL, json_object_get(spec, "readinessGates"), NULL);
    if (rc == 0) /* §3.6 step 6: a render failure always fails the create */
        rc = render_or_fail(c.eng, &resources);
    json_t *written = NULL;
    if (rc == 0) {
        json_t *args = json_pack("{s:s, s:s, s:O, s:O, s:o, s:b, s:s}", "packageName", pkg,
                                 "workspaceName", ws, "resources", resources, "task", task,
                                 "author", engine_author(&c), "item", 0, "listPackage", pkg);
        rc = engine_write_draft(&c, ns, repo, args, &written);
        json_decref(args);
    }
    json_t *stored = NULL;
    if (rc == 0)
        rc = finish_write(&c, ns, repo, pkg, engine_str(written, "name", NULL),
                          json_object_get(obj, "metadata"), NULL, &stored);
    if (rc == 0) /* a new Draft is likely proposed next, which re-renders; it is
                  * usually edited first, so its trees are not staged yet */
        engine_render_ahead(c.eng, resources, NULL);
    engine_unlock(c.eng, key);
    engine_call_end(&c);
    json_decref(written);
    json_decref(resources);
    json_decref(default_task);
    if (rc < 0)
        return -1;
    *result = json_pack("{s:o}", "object", stored);
    return 0;
}

static int check_resource_version(json_t *old, json_t *new_, const char *name)
{
    const char *want = engine_str(new_, "metadata", "resourceVersion");
    const char *have = engine_str(old, "metadata", "resourceVersion");
    if (!want || !*want)
        return porch_error_set(409, "Operation cannot be fulfilled on packagerevisions.porch.kpt.dev "
                                    "\"%s\": resourceVersion must be specified for an update", name);
    if (!have || strcmp(want, have) != 0)
        return porch_error_set(409, "Operation cannot be fulfilled on packagerevisions.porch.kpt.dev "
                                    "\"%s\": the object has been modified; please apply your "
                                    "changes to the latest version and try again", name);
    return 0;
}

static int handle_update(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    engine_call c = {.eng = ud, .req = req};
    const char *ns = engine_str(req->args, "namespace", NULL), *name = engine_str(req->args, "name", NULL);
    const char *sub = engine_str(req->args, "subresource", NULL);
    json_t *obj = json_object_get(req->args, "object");
    if (!ns || !*ns || !name || !*name || !json_is_object(obj))
        return porch_error_set(400, "engine.update needs namespace, name and object");
    int approval = sub && !strcmp(sub, "approval");
    char key[600];
    snprintf(key, sizeof key, "%s/%s", ns, name);
    json_t *old = NULL, *stored = NULL;
    if (engine_lock(c.eng, key, "packagerevisions.porch.kpt.dev") < 0)
        return -1;
    const char *to = NULL;
    int rc = engine_get_revision(&c, ns, name, &old);
    if (rc == 0)
        rc = check_resource_version(old, obj, name);
    if (rc == 0)
        rc = engine_rules_check_update(old, obj, approval, &to);
    const char *from = (engine_str(old, "spec", "lifecycle") && *engine_str(old, "spec", "lifecycle") ? engine_str(old, "spec", "lifecycle") : "Draft");
    const char *repo = old ? engine_str(old, "spec", "repository") : NULL;
    char commit[GIT_SHA_MAX] = "";
    int moved = 0;
    if (rc == 0 && !approval && !strcmp(from, "Draft"))
        rc = update_draft(&c, ns, repo, old, obj, to, commit, sizeof commit, &moved);
    if (rc == 0 && strcmp(from, to) != 0 && !moved) {
        json_t *args = json_pack("{s:s, s:s, s:s, s:o, s:b, s:s}", "name", name, "lifecycle", to,
                                 "expect", *commit ? commit : engine_revision_commit(old),
                                 "author", engine_author(&c), "item", 0, "listPackage",
                                 engine_or_empty(engine_str(old, "spec", "packageName"))),
               *res = NULL;
        rc = engine_git(&c, ns, repo, "git-adapter.set_lifecycle", args, &res);
        json_decref(args);
        json_decref(res);
    }
    if (rc == 0)
        rc = finish_write(&c, ns, repo, engine_str(old, "spec", "packageName"), name,
                          json_object_get(obj, "metadata"), json_object_get(old, "metadata"),
                          &stored);
    engine_unlock(c.eng, key);
    engine_call_end(&c);
    json_decref(old);
    if (rc < 0)
        return -1;
    *result = json_pack("{s:o}", "object", stored);
    return 0;
}

/* §3.9 step 2: a revision another revision in the namespace was cloned from
 * (or upgraded to) is not deleted; placeholders are not counted. One indexed
 * query in the cache, whatever the namespace's size. */
static int check_not_upstream(engine_call *c, const char *ns, const char *name)
{
    json_t *args = json_pack("{s:s, s:s, s:s}", "kind", ENGINE_KIND_REVISION, "namespace", ns,
                             "upstreamOf", name), *res = NULL;
    int rc = engine_cache(c, "cache.list", args, &res);
    json_decref(args);
    if (rc < 0)
        return -1;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(res, "items"), i, it)
    {
        if (json_integer_value(json_object_get(json_object_get(it, "spec"), "revision")) == -1)
            continue;
        rc = porch_error_set(403, "cannot delete package revision, it is referenced as upstream "
                                  "by: %s",
                             engine_or_empty(engine_str(it, "metadata", "name")));
        break;
    }
    json_decref(res);
    return rc;
}

static int handle_delete(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    engine_call c = {.eng = ud, .req = req};
    const char *ns = engine_str(req->args, "namespace", NULL), *name = engine_str(req->args, "name", NULL);
    const char *rv = engine_str(req->args, "resourceVersion", NULL), *uid = engine_str(req->args, "uid", NULL);
    if (!ns || !*ns || !name || !*name)
        return porch_error_set(400, "engine.delete needs namespace and name");
    char key[600];
    snprintf(key, sizeof key, "%s/%s", ns, name);
    if (engine_lock(c.eng, key, "packagerevisions.porch.kpt.dev") < 0)
        return -1;
    json_t *old = NULL;
    int rc = engine_get_revision(&c, ns, name, &old);
    if (rc == 0 && rv && *rv && strcmp(rv, engine_or_empty(engine_str(old, "metadata", "resourceVersion"))))
        rc = porch_error_set(409, "Operation cannot be fulfilled on packagerevisions.porch.kpt.dev "
                                  "\"%s\": the object has been modified", name);
    if (rc == 0 && uid && *uid && strcmp(uid, engine_or_empty(engine_str(old, "metadata", "uid"))))
        rc = porch_error_set(409, "Precondition failed: UID in precondition: %s", uid);
    if (rc == 0)
        rc = engine_rules_check_delete(old);
    if (rc == 0)
        rc = check_not_upstream(&c, ns, name);
    const char *repo = old ? engine_str(old, "spec", "repository") : NULL;
    if (rc == 0) {
        json_t *args = json_pack("{s:s, s:s, s:o, s:s}", "name", name, "expect",
                                 engine_revision_commit(old), "author", engine_author(&c),
                                 "listPackage",
                                 engine_or_empty(engine_str(old, "spec", "packageName"))),
               *res = NULL;
        rc = engine_git(&c, ns, repo, "git-adapter.delete", args, &res);
        json_decref(args);
        json_decref(res);
    }
    if (rc == 0)
        rc = engine_sync_package(&c, ns, repo, engine_str(old, "spec", "packageName"), NULL, NULL);
    engine_unlock(c.eng, key);
    engine_call_end(&c);
    if (rc < 0) {
        json_decref(old);
        return -1;
    }
    *result = json_pack("{s:o}", "object", old);
    return 0;
}

int engine_ops_register(engine *eng)
{
    if (bus_server_register(eng->svc.bus, "create", handle_create, eng) < 0 ||
        bus_server_register(eng->svc.bus, "update", handle_update, eng) < 0 ||
        bus_server_register(eng->svc.bus, "delete", handle_delete, eng) < 0)
        return -1;
    return 0;
}
