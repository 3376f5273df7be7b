/* The engine's PackageRevisionResources ops: read a revision's files, and
 * replace a Draft's file set — rendered through the package's function
 * pipeline (CaD render), committed as "Rendering package" only when the
 * render succeeded or the revision asks to push on render failure (§7). */
#include "cad/cad.h"
#include "engine.h"
#include "error/error.h"
#include "krm/krm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PUSH_ON_FAILURE "porch.kpt.dev/push-on-render-failure"

/* A PackageRevisionResources object for revision `pr` with `resources`. */
static json_t *prr_object(json_t *pr, json_t *resources, json_t *render_status)
{
    json_t *meta = json_object_get(pr, "metadata"), *spec = json_object_get(pr, "spec");
    json_t *m = json_pack("{s:O, s:O, s:O, s:O}", "name", json_object_get(meta, "name"), "namespace",
                          json_object_get(meta, "namespace"), "uid", json_object_get(meta, "uid"),
                          "resourceVersion", json_object_get(meta, "resourceVersion"));
    if (json_object_get(meta, "creationTimestamp"))
        json_object_set(m, "creationTimestamp", json_object_get(meta, "creationTimestamp"));
    json_t *s = json_pack("{s:O, s:O, s:O, s:O}", "packageName", json_object_get(spec, "packageName"),
                          "workspaceName", json_object_get(spec, "workspaceName"), "repository",
                          json_object_get(spec, "repository"), "resources", resources);
    if (json_object_get(spec, "revision"))
        json_object_set(s, "revision", json_object_get(spec, "revision"));
    json_t *status = json_object();
    if (render_status)
        json_object_set(status, "renderStatus", render_status);
    return json_pack("{s:s, s:s, s:o, s:o, s:o}", "apiVersion", "porch.kpt.dev/v1alpha1", "kind",
                     "PackageRevisionResources", "metadata", m, "spec", s, "status", status);
}

static int handle_get(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    engine_call c = {.eng = ud, .req = req};
    const char *ns = engine_str(req->args, "namespace", NULL), *name = engine_str(req->args, "name", NULL);
    if (!ns || !*ns || !name || !*name)
        return porch_error_set(400, "engine.get-resources needs namespace and name");
    json_t *pr, *resources;
    if (engine_get_revision(&c, ns, name, &pr) < 0)
        return porch_error_last()->code == 404
                   ? porch_error_set(404, "packagerevisionresources.porch.kpt.dev \"%s\" not found",
                                     name)
                   : -1;
    int rc = engine_read_files(&c, pr, &resources);
    if (rc == 0) {
        *result = json_pack("{s:o}", "object", prr_object(pr, resources, NULL));
        json_decref(resources);
    }
    json_decref(pr);
    return rc;
}

static int handle_list(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    engine_call c = {.eng = ud, .req = req};
    const char *ns = engine_str(req->args, "namespace", NULL);
    json_t *args = json_pack("{s:s, s:s}", "kind", ENGINE_KIND_REVISION, "namespace", engine_or_empty(ns)),
           *res = NULL;
    int rc = engine_cache(&c, "cache.list", args, &res);
    json_decref(args);
    if (rc < 0)
        return -1;
    json_t *items = json_array();
    size_t i;
    json_t *pr;
    json_array_foreach(json_object_get(res, "items"), i, pr) {
        json_t *resources;
        if (engine_read_files(&c, pr, &resources) < 0)
            continue; /* a repository gone mid-list: skip its revisions */
        json_array_append_new(items, prr_object(pr, resources, NULL));
        json_decref(resources);
    }
    json_decref(res);
    *result = json_pack("{s:o}", "items", items);
    return 0;
}

/* Reads results.yaml of a render into JSON (NULL when there is none). */
/* Renders a file set in porch-function-runner (`render`: kpt fn render with
 * its built-in functions and the executables its image map names, as Porch's
 * engine hands every function to its runner); see engine.h. */
int engine_render_files(engine *eng, json_t **resources, json_t **status)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    *status = NULL;
    json_t *args = json_pack("{s:O}", "resources", *resources), *out = NULL;
    bus_call_opts opts = {.rid = log_rid()};
    int rc = bus_client_call(eng->functions, "function-runner.render", args, &opts, &out, NULL);
    json_decref(args);
    if (rc < 0)
        return -1;
    json_t *files = json_object_get(out, "resources"), *st = json_object_get(out, "renderStatus");
    if (!json_is_object(files) || !json_is_object(st)) {
        json_decref(out);
        return porch_error_set(502, "porch-function-runner answered render without resources "
                                    "and renderStatus");
    }
    json_decref(*resources);
    *resources = json_incref(files);
    *status = json_incref(st);
    const char *message = json_string_value(json_object_get(st, "error"));
    if (message && *message)
        rc = porch_error_set(500, "%s", message);
    json_decref(out);
    log_debug("rendered", "ms", log_ms_since(&t0), "files",
              json_integer((json_int_t)json_object_size(*resources)));
    return rc;
}

static int handle_update(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    engine_call c = {.eng = ud, .req = req};
    const char *ns = engine_str(req->args, "namespace", NULL), *name = engine_str(req->args, "name", NULL);
    json_t *obj = json_object_get(req->args, "object");
    if (!ns || !*ns || !name || !*name || !json_is_object(obj))
        return porch_error_set(400, "engine.update-resources needs namespace, name and object");
    json_t *resources = json_deep_copy(json_object_get(json_object_get(obj, "spec"), "resources"));
    if (!json_is_object(resources)) {
        json_decref(resources);
        return porch_error_set(400, "spec.resources must be an object of path → file content");
    }
    char key[600];
    snprintf(key, sizeof key, "%s/%s", ns, name);
    if (engine_lock(c.eng, key, "package revision resources") < 0) {
        json_decref(resources);
        return -1;
    }
    json_t *pr = NULL, *render_status = NULL, *stored = NULL;
    int rc = engine_get_revision(&c, ns, name, &pr);
    const char *want = engine_str(obj, "metadata", "resourceVersion");
    if (rc == 0 && (!want || strcmp(want, engine_or_empty(engine_str(pr, "metadata", "resourceVersion")))))
        rc = porch_error_set(409, "Operation cannot be fulfilled on "
                                  "packagerevisionresources.porch.kpt.dev \"%s\": the object has "
                                  "been modified; please apply your changes to the latest version "
                                  "and try again", name);
    const char *lc = pr ? engine_or_empty(engine_str(pr, "spec", "lifecycle")) : "";
    if (rc == 0 && *lc && strcmp(lc, "Draft"))
        rc = porch_error_set(422, "cannot update a package revision with lifecycle value \"%s\"; "
                                  "package must be Draft", lc);
    if (rc == 0 && !json_is_string(json_object_get(resources, "Kptfile")))
        rc = porch_error_set(400, "package must contain Kptfile at root");
    int pushed_despite = 0;
    char written[48] = ""; /* the new draft commit (40 hex digits) */
    char render_error[PORCH_ERROR_MESSAGE_MAX] = "";
    if (rc == 0 && engine_render(c.eng, &resources, &render_status) < 0) {
        snprintf(render_error, sizeof render_error, "%s", porch_error_last()->message);
        const char *push = engine_str(json_object_get(pr, "metadata"), "annotations", PUSH_ON_FAILURE);
        if (push && !strcmp(push, "true"))
            pushed_despite = 1;
        else
            rc = porch_error_set(500, "error rendering package in kpt function pipeline. Package "
                                      "NOT pushed to remote. Fix locally (until 'kpt fn render' "
                                      "succeeds) and retry. Details: %s", render_error);
    }
    const char *repo = pr ? engine_str(pr, "spec", "repository") : NULL;
    if (rc == 0 && !pushed_despite) /* its propose re-renders: start while the write runs */
        engine_render_ahead(c.eng, resources, NULL);
    if (rc == 0) {
        json_t *args = json_pack("{s:O, s:O, s:O, s:{s:s}, s:s, s:s, s:o}", "packageName",
                                 json_object_get(json_object_get(pr, "spec"), "packageName"),
                                 "workspaceName",
                                 json_object_get(json_object_get(pr, "spec"), "workspaceName"),
                                 "resources", resources, "task", "type", "render", "message",
                                 "Rendering package", "expect", engine_revision_commit(pr),
                                 "author", engine_author(&c)), *res = NULL;
        json_object_set_new(args, "item", json_false());
        json_object_set(args, "listPackage", json_object_get(json_object_get(pr, "spec"), "packageName"));
        rc = engine_write_draft(&c, ns, repo, args, &res);
        snprintf(written, sizeof written, "%s",
                 engine_or_empty(engine_str(res, "resourceVersion", NULL)));
        json_decref(args);
        json_decref(res);
    }
    if (rc == 0)
        rc = engine_sync_package(&c, ns, repo, engine_str(pr, "spec", "packageName"), name,
                                 &stored);
    if (rc == 0 && !pushed_despite) { /* and stage that render on the new commit */
        json_t *at = engine_stage_at(ns, repo, pr, written);
        engine_render_ahead(c.eng, resources, at);
        json_decref(at);
    }
    engine_unlock(c.eng, key);
    engine_call_end(&c);
    if (rc == 0 && pushed_despite)
        rc = porch_error_set(500, "error rendering package in kpt function pipeline. Package "
                                  "pushed to remote despite render failure. Details: %s",
                             render_error);
    if (rc == 0) /* with the revision it moved, for the API server's recent copy */
        *result = json_pack("{s:o, s:O*}", "object", prr_object(stored, resources, render_status),
                            "revision", stored);
    json_decref(stored);
    json_decref(pr);
    json_decref(resources);
    json_decref(render_status);
    return rc;
}

int engine_resources_register(engine *eng)
{
    if (bus_server_register(eng->svc.bus, "get-resources", handle_get, eng) < 0 ||
        bus_server_register(eng->svc.bus, "list-resources", handle_list, eng) < 0 ||
        bus_server_register(eng->svc.bus, "update-resources", handle_update, eng) < 0)
        return -1;
    return 0;
}
