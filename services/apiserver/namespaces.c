/* Namespace deletion as Kubernetes does it. DELETE marks the Namespace
 * Terminating (deletionTimestamp, status.phase) and answers at once; this
 * file's one background thread — the apiserver's namespace controller — then
 * deletes the Repositories and Secrets in it (the cache's sync drops a deleted
 * Repository's package revisions), waits until nothing is left, removes the
 * "kubernetes" entry of spec.finalizers and deletes the Namespace once no
 * metadata.finalizers remain. It rescans every few seconds, so a restart or a
 * second replica simply carries on. Creates in a Terminating or missing
 * Namespace are refused (apiserver_namespace_check_create). */
#include "apiserver.h"

#include "error/error.h"
#include "log/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_RESCAN_MS 5000
#define NS_PAGE 500

struct apiserver_ns_controller {
    bus_client *cache;
    pthread_t thread;
    int started;
    int stop;
    int kicked;
    pthread_mutex_t mu;
    pthread_cond_t cond;
};

static const char *meta_string(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

int apiserver_namespace_terminating(json_t *ns)
{
    return json_object_get(json_object_get(ns, "metadata"), "deletionTimestamp") != NULL;
}

int apiserver_namespace_check_create(bus_client *cache, const char *ns, const char *rid,
                                     json_t *caller, const char *resource, const char *name,
                                     json_t **details)
{
    *details = NULL;
    if (ns == NULL || ns[0] == '\0')
        return 0;
    json_t *args = json_pack("{s:s, s:s, s:s}", "kind", "namespaces", "namespace", "", "name", ns);
    json_t *result = NULL;
    bus_call_opts opts = {.rid = rid, .caller = caller, .deadline_ms = 0};
    int rc = bus_client_call(cache, "cache.get", args, &opts, &result, NULL);
    json_decref(args);
    if (rc != 0) {
        if (porch_error_last()->code != 404)
            return -1; /* the cache cannot say: fail the create with its error */
        /* As Kubernetes' NamespaceLifecycle admission: nothing is created in a
         * Namespace that does not exist (it would never be cleaned up). */
        porch_error_set_reason(404, "NotFound", "namespaces \"%s\" not found", ns);
        *details = json_pack("{s:s, s:s, s:s}", "name", ns, "group", "", "kind", "namespaces");
        return -1;
    }
    int terminating = apiserver_namespace_terminating(json_object_get(result, "object"));
    json_decref(result);
    if (!terminating)
        return 0;
    porch_error_set_reason(403, "Forbidden",
                           "%s \"%s\" is forbidden: unable to create new content in namespace %s "
                           "because it is being terminated",
                           resource, name ? name : "", ns);
    char msg[128];
    snprintf(msg, sizeof(msg), "namespace %s is being terminated", ns);
    *details = json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "name", name ? name : "", "causes", "reason",
                         "NamespaceTerminating", "message", msg, "field", "metadata.namespace");
    return -1;
}

/* ---- the controller ---- */

static int call(apiserver_ns_controller *c, const char *op, json_t *args, json_t **result)
{
    bus_call_opts opts = {.rid = NULL, .caller = NULL, .deadline_ms = 0};
    int rc = bus_client_call(c->cache, op, args, &opts, result, NULL);
    json_decref(args);
    return rc;
}

/* Deletes one object the way a user's DELETE would: objects with finalizers
 * get a deletionTimestamp, the rest go. 404 and 409 (someone else got there
 * first) are not failures. */
static void delete_object(apiserver_ns_controller *c, const char *kind, const char *ns, json_t *obj)
{
    const char *name = meta_string(obj, "name");
    const char *rv = meta_string(obj, "resourceVersion");
    json_t *result = NULL;
    int rc;
    if (name == NULL || json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp"))
        return;
    if (json_array_size(json_object_get(json_object_get(obj, "metadata"), "finalizers")) > 0) {
        char now[32];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_t *copy = json_deep_copy(obj);
        json_object_set_new(json_object_get(copy, "metadata"), "deletionTimestamp",
                            json_string(now));
        rc =
            call(c, "cache.put",
                 json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}", "kind", kind, "namespace", ns, "name",
                           name, "object", copy, "mode", "update", "resourceVersion", rv ? rv : ""),
                 &result);
    } else {
        rc = call(c, "cache.delete",
                  json_pack("{s:s, s:s, s:s, s:s}", "kind", kind, "namespace", ns, "name", name,
                            "resourceVersion", rv ? rv : ""),
                  &result);
    }
    json_decref(result);
    if (rc != 0 && porch_error_last()->code != 404 && porch_error_last()->code != 409)
        log_warn("namespace controller: cannot delete", "namespace", json_string(ns), "kind",
                 json_string(kind), "name", json_string(name), "error",
                 json_string(porch_error_last()->message));
    porch_error_clear();
}

/* Deletes every object of `kind` in `ns`; returns how many were there, or -1. */
static int delete_all(apiserver_ns_controller *c, const char *kind, const char *ns)
{
    int seen = 0;
    char cont[640] = "";
    for (;;) {
        json_t *args =
            json_pack("{s:s, s:s, s:i}", "kind", kind, "namespace", ns, "limit", NS_PAGE);
        if (cont[0])
            json_object_set_new(args, "continue", json_string(cont));
        json_t *result = NULL;
        if (call(c, "cache.list", args, &result) != 0)
            return -1;
        size_t i;
        json_t *obj;
        json_array_foreach(json_object_get(result, "items"), i, obj)
        {
            seen++;
            delete_object(c, kind, ns, obj);
        }
        const char *next = json_string_value(json_object_get(result, "continue"));
        snprintf(cont, sizeof(cont), "%s", next ? next : "");
        json_decref(result);
        if (cont[0] == '\0')
            return seen;
    }
}

/* 1 when `ns` still holds objects of `kind`, 0 when not, -1 on error. */
static int any_left(apiserver_ns_controller *c, const char *kind, const char *ns)
{
    json_t *result = NULL;
    if (call(c, "cache.list",
             json_pack("{s:s, s:s, s:i}", "kind", kind, "namespace", ns, "limit", 1), &result) != 0)
        return -1;
    int left = json_array_size(json_object_get(result, "items")) > 0;
    json_decref(result);
    return left;
}

/* Removes "kubernetes" from spec.finalizers; deletes the Namespace when no finalizer is left. */
static void finish(apiserver_ns_controller *c, json_t *ns_obj)
{
    const char *name = meta_string(ns_obj, "name");
    const char *rv = meta_string(ns_obj, "resourceVersion");
    json_t *copy = json_deep_copy(ns_obj);
    json_t *spec = json_object_get(copy, "spec");
    json_t *fins = json_object_get(spec, "finalizers");
    for (size_t i = json_array_size(fins); i-- > 0;)
        if (json_is_string(json_array_get(fins, i)) &&
            strcmp(json_string_value(json_array_get(fins, i)), "kubernetes") == 0)
            json_array_remove(fins, i);
    int others =
        json_array_size(fins) > 0 ||
        json_array_size(json_object_get(json_object_get(copy, "metadata"), "finalizers")) > 0;
    json_t *result = NULL;
    int rc;
    if (others)
        rc = call(c, "cache.put",
                  json_pack("{s:s, s:s, s:s, s:O, s:s, s:s}", "kind", "namespaces", "namespace", "",
                            "name", name, "object", copy, "mode", "update", "resourceVersion",
                            rv ? rv : ""),
                  &result);
    else
        rc = call(c, "cache.delete",
                  json_pack("{s:s, s:s, s:s, s:s}", "kind", "namespaces", "namespace", "", "name",
                            name, "resourceVersion", rv ? rv : ""),
                  &result);
    json_decref(result);
    json_decref(copy);
    if (rc == 0)
        log_info("namespace deleted with its content", "namespace", json_string(name));
    porch_error_clear();
}

static int has_kube_finalizer(json_t *ns_obj)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(json_object_get(ns_obj, "spec"), "finalizers"), i, f)
    {
        if (json_is_string(f) && strcmp(json_string_value(f), "kubernetes") == 0)
            return 1;
    }
    return 0;
}

void apiserver_namespace_add_finalizer(json_t *ns)
{
    json_t *spec = json_object_get(ns, "spec");
    if (!json_is_object(spec)) {
        spec = json_object();
        json_object_set_new(ns, "spec", spec);
    }
    json_t *fin = json_object_get(spec, "finalizers");
    if (!json_is_array(fin)) {
        fin = json_array();
        json_object_set_new(spec, "finalizers", fin);
    }
    if (!has_kube_finalizer(ns))
        json_array_append_new(fin, json_string("kubernetes"));
}

/* One Namespace being deleted: its content first, then itself. */
static void finalize(apiserver_ns_controller *c, json_t *ns_obj)
{
    const char *ns = meta_string(ns_obj, "name");
    if (ns == NULL)
        return;
    if (has_kube_finalizer(ns_obj)) {
        static const char *const owned[] = {"repositories.config.porch.kpt.dev", "secrets"};
        for (size_t k = 0; k < 2; k++)
            if (delete_all(c, owned[k], ns) < 0)
                return;
        /* Package revisions and packages go with their Repository (the cache's sync). */
        static const char *const all[] = {"repositories.config.porch.kpt.dev", "secrets",
                                          "packagerevisions.porch.kpt.dev",
                                          "packages.porch.kpt.dev"};
        for (size_t k = 0; k < 4; k++)
            if (any_left(c, all[k], ns) != 0)
                return; /* next pass */
    } else if (json_array_size(json_object_get(json_object_get(ns_obj, "metadata"), "finalizers")) >
                   0 ||
               json_array_size(json_object_get(json_object_get(ns_obj, "spec"), "finalizers")) >
                   0) {
        return; /* someone else's finalizer: theirs to remove */
    }
    finish(c, ns_obj);
}

/* One pass over every Namespace; 1 when some are still terminating. */
static int pass(apiserver_ns_controller *c)
{
    json_t *result = NULL;
    if (call(c, "cache.list",
             json_pack("{s:s, s:s, s:i}", "kind", "namespaces", "namespace", "", "limit", 100000),
             &result) != 0) {
        porch_error_clear();
        return 1;
    }
    int pending = 0;
    size_t i;
    json_t *ns;
    json_array_foreach(json_object_get(result, "items"), i, ns)
    {
        if (!apiserver_namespace_terminating(ns))
            continue;
        pending |= has_kube_finalizer(ns);
        finalize(c, ns);
    }
    json_decref(result);
    return pending;
}

static void *controller_main(void *arg)
{
    apiserver_ns_controller *c = arg;
    log_set_rid("namespace-controller");
    int wait_ms = 0; /* a first pass at start: carry on after a restart */
    int busy = 0;    /* passes in a row that left a Namespace terminating */
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        if (!c->kicked && wait_ms > 0) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += wait_ms / 1000;
            until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&c->cond, &c->mu, &until);
            if (c->stop)
                break;
        }
        if (c->kicked)
            busy = 0; /* a new deletion: quick passes again */
        c->kicked = 0;
        pthread_mutex_unlock(&c->mu);
        /* While a Namespace is terminating, look again soon (its package
         * revisions go asynchronously) — for a while: one held by someone's
         * finalizer is then looked at only now and then. */
        busy = pass(c) ? busy + 1 : 0;
        wait_ms = busy > 0 && busy < 50 ? 200 : NS_RESCAN_MS;
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int apiserver_ns_controller_new(bus_client *cache, apiserver_ns_controller **out)
{
    apiserver_ns_controller *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return porch_error_set(500, "out of memory");
    c->cache = cache;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&c->thread, NULL, controller_main, c) != 0) {
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cond);
        free(c);
        return porch_error_set(500, "cannot start the namespace controller thread");
    }
    c->started = 1;
    *out = c;
    return 0;
}

void apiserver_ns_controller_kick(apiserver_ns_controller *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->kicked = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

void apiserver_ns_controller_free(apiserver_ns_controller *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    if (c->started)
        pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
    free(c);
}
