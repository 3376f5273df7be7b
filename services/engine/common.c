/* Helpers shared by the engine's handlers (see engine.h): peer calls that
 * carry the request id and caller, try-locks, and small revision readers. */
#include "engine.h"
#include "error/error.h"

#include <stdlib.h>
#include <string.h>

static int call(engine_call *c, bus_client *client, const char *op, json_t *args, json_t **result)
{
    bus_call_opts opts = {.rid = c->req->id, .caller = c->req->caller, .deadline_ms = 120000};
    return bus_client_call(client, op, args, &opts, result, NULL);
}

int engine_cache(engine_call *c, const char *op, json_t *args, json_t **result)
{
    return call(c, c->eng->cache, op, args, result);
}

void engine_call_end(engine_call *c)
{
    json_decref(c->listed);
    c->listed = NULL;
}

/* A write's answer may carry the package as now listed: kept for the sync. */
static int keep_listing(engine_call *c, json_t *result)
{
    json_t *listed = json_object_get(result, "listed");
    if (json_is_object(listed)) {
        json_decref(c->listed);
        c->listed = json_incref(listed);
        json_object_del(result, "listed");
    }
    return 0;
}

int engine_git(engine_call *c, const char *ns, const char *repo, const char *op, json_t *args,
               json_t **result)
{
    json_object_set_new(args, "namespace", json_string(ns));
    json_object_set_new(args, "repository", json_string(repo));
    if (call(c, c->eng->git, op, args, result) == 0)
        return keep_listing(c, *result);
    if (porch_error_last()->code != 404 || !strstr(porch_error_last()->message, "is not open"))
        return -1;
    json_t *sync_args = json_pack("{s:s, s:s}", "namespace", ns, "name", repo), *summary = NULL;
    int rc = engine_cache(c, "cache.sync", sync_args, &summary);
    json_decref(sync_args);
    json_decref(summary);
    if (rc < 0)
        return -1;
    if (call(c, c->eng->git, op, args, result) < 0)
        return -1;
    return keep_listing(c, *result);
}

int engine_lock(engine *eng, const char *key, const char *what)
{
    int rc = -1, free_slot = -1;
    pthread_mutex_lock(&eng->locks_mutex);
    for (int i = 0; i < ENGINE_MAX_LOCKS; i++) {
        if (eng->locks[i] && strcmp(eng->locks[i], key) == 0) {
            pthread_mutex_unlock(&eng->locks_mutex);
            return porch_error_set(409,
                                   "Operation cannot be fulfilled on %s: another request is "
                                   "already in progress on %s",
                                   what, key);
        }
        if (!eng->locks[i] && free_slot < 0)
            free_slot = i;
    }
    if (free_slot >= 0) {
        eng->locks[free_slot] = strdup(key);
        rc = 0;
    }
    pthread_mutex_unlock(&eng->locks_mutex);
    return rc == 0 ? 0 : porch_error_set(429, "too many concurrent changes; retry");
}

void engine_unlock(engine *eng, const char *key)
{
    pthread_mutex_lock(&eng->locks_mutex);
    for (int i = 0; i < ENGINE_MAX_LOCKS; i++)
        if (eng->locks[i] && strcmp(eng->locks[i], key) == 0) {
            free(eng->locks[i]);
            eng->locks[i] = NULL;
            break;
        }
    pthread_mutex_unlock(&eng->locks_mutex);
}

int engine_get_revision(engine_call *c, const char *ns, const char *name, json_t **pr)
{
    json_t *args = json_pack("{s:s, s:s, s:s}", "kind", ENGINE_KIND_REVISION, "namespace", ns,
                             "name", name),
           *res = NULL;
    int rc = engine_cache(c, "cache.get", args, &res);
    json_decref(args);
    if (rc < 0) {
        if (porch_error_last()->code == 404)
            porch_error_set(404, "packagerevisions.porch.kpt.dev \"%s\" not found", name);
        return -1;
    }
    *pr = json_incref(json_object_get(res, "object"));
    json_decref(res);
    return 0;
}

int engine_sync_package(engine_call *c, const char *ns, const char *repo, const char *pkg,
                        const char *name, json_t **out)
{
    if (out)
        *out = NULL;
    json_t *args = json_pack("{s:s, s:s, s:s}", "namespace", ns, "name", repo, "package", pkg),
           *res = NULL;
    if (c->listed)
        json_object_set_new(args, "listed", c->listed);
    c->listed = NULL;
    int rc = engine_cache(c, "cache.sync", args, &res);
    json_decref(args);
    if (rc < 0 || !name) {
        json_decref(res);
        return rc < 0 ? -1 : 0;
    }
    /* the sync answers with the package's revisions as stored: no read-back */
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(res, "items"), i, item)
    {
        const char *n =
            json_string_value(json_object_get(json_object_get(item, "metadata"), "name"));
        if (n && strcmp(n, name) == 0) {
            *out = json_incref(item);
            break;
        }
    }
    json_decref(res);
    return *out ? 0 : engine_get_revision(c, ns, name, out);
}

const char *engine_revision_commit(json_t *pr)
{
    const char *sha = json_string_value(json_object_get(
        json_object_get(json_object_get(json_object_get(pr, "status"), "selfLock"), "git"),
        "commit"));
    return sha ? sha : "";
}

json_t *engine_stage_at(const char *ns, const char *repo, json_t *pr, const char *commit)
{
    const char *pkg = engine_str(pr, "spec", "packageName");
    const char *ws = engine_str(pr, "spec", "workspaceName");
    if (!ns || !repo || !pkg || !ws || !commit || !*commit)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "namespace", ns, "repository", repo,
                     "packageName", pkg, "workspaceName", ws, "expect", commit);
}

json_t *engine_author(engine_call *c)
{
    const char *user = json_string_value(json_object_get(c->req->caller, "user"));
    if (!user || !*user)
        return json_object();
    return json_pack("{s:s, s:s}", "name", user, "email", user);
}

const char *engine_str(json_t *obj, const char *a, const char *b)
{
    json_t *x = json_object_get(obj, a);
    return json_string_value(b ? json_object_get(x, b) : x);
}

const char *engine_or_empty(const char *s)
{
    return s ? s : "";
}

int engine_read_files(engine_call *c, json_t *pr, json_t **resources)
{
    const char *ns = engine_str(pr, "metadata", "namespace");
    const char *repo = engine_str(pr, "spec", "repository");
    const char *pkg = engine_str(pr, "spec", "packageName");
    if (engine_contents_get(c->eng->contents, ns, repo, pkg, engine_revision_commit(pr), resources))
        return 0;
    json_t *args = json_pack("{s:s}", "name", engine_str(pr, "metadata", "name")), *res = NULL;
    int rc = engine_git(c, ns, repo, "git-adapter.read", args, &res);
    json_decref(args);
    if (rc < 0)
        return -1;
    *resources = json_incref(json_object_get(res, "resources"));
    /* kept under the commit the adapter read, which may be newer than pr's */
    engine_contents_put(c->eng->contents, ns, repo, pkg,
                        engine_revision_commit(json_object_get(res, "item")), *resources);
    json_decref(res);
    return 0;
}

int engine_write_draft(engine_call *c, const char *ns, const char *repo, json_t *args,
                       json_t **result)
{
    if (engine_git(c, ns, repo, "git-adapter.write_draft", args, result) < 0)
        return -1;
    engine_contents_put(c->eng->contents, ns, repo, engine_str(args, "packageName", NULL),
                        engine_str(*result, "resourceVersion", NULL),
                        json_object_get(args, "resources"));
    return 0;
}
