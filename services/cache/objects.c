/* Bus handlers for the cache's objects (see objects.h). Every argument is
 * checked before the store sees it, and errors name the argument. */
#include "objects.h"
#include "error/error.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MAX_WAIT_MS 10000
#define CACHE_MAX_LIMIT 100000

/* kind: a lower-case resource name, optionally with its group ("repositories.config.porch.kpt.dev"). */
static int arg_kind(json_t *args, const char **out)
{
    const char *kind = json_string_value(json_object_get(args, "kind"));
    if (!kind || !*kind || strlen(kind) > 128)
        return porch_error_set(400, "args.kind: a resource name is required (e.g. \"secrets\")");
    for (const char *p = kind; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '.' && *p != '-')
            return porch_error_set(400, "args.kind \"%s\": only a-z, 0-9, '.' and '-' are allowed",
                                   kind);
    *out = kind;
    return 0;
}

static int arg_string(json_t *args, const char *key, size_t max, int required, const char **out)
{
    json_t *v = json_object_get(args, key);
    *out = "";
    if (!v || json_is_null(v))
        return required ? porch_error_set(400, "args.%s is required", key) : 0;
    if (!json_is_string(v))
        return porch_error_set(400, "args.%s must be a string", key);
    if (json_string_length(v) > max)
        return porch_error_set(400, "args.%s is longer than %zu characters", key, max);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return porch_error_set(400, "args.%s contains a NUL character", key);
    *out = json_string_value(v);
    if (required && !**out)
        return porch_error_set(400, "args.%s must not be empty", key);
    return 0;
}

static int arg_int(json_t *args, const char *key, json_int_t max, json_int_t *out)
{
    json_t *v = json_object_get(args, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return porch_error_set(400, "args.%s must be an integer from 0 to %lld", key,
                               (long long)max);
    *out = json_integer_value(v);
    return 0;
}

static int handle_put(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    const char *kind, *ns, *name, *mode_text, *rv;
    if (arg_kind(req->args, &kind) < 0 || arg_string(req->args, "namespace", 63, 0, &ns) < 0 ||
        arg_string(req->args, "name", 253, 1, &name) < 0 ||
        arg_string(req->args, "mode", 16, 0, &mode_text) < 0 ||
        arg_string(req->args, "resourceVersion", 32, 0, &rv) < 0)
        return -1;
    json_t *object = json_object_get(req->args, "object");
    if (!json_is_object(object))
        return porch_error_set(400, "args.object must be a JSON object");
    cache_put_mode mode;
    if (!*mode_text || strcmp(mode_text, "create") == 0)
        mode = CACHE_PUT_CREATE;
    else if (strcmp(mode_text, "update") == 0)
        mode = CACHE_PUT_UPDATE;
    else if (strcmp(mode_text, "upsert") == 0)
        mode = CACHE_PUT_UPSERT;
    else
        return porch_error_set(400, "args.mode \"%s\" is not one of create, update, upsert",
                               mode_text);
    json_t *stored;
    if (cache_store_put(ud, kind, ns, name, object, mode, rv, &stored) < 0)
        return -1;
    *result = json_pack("{s:o}", "object", stored);
    return 0;
}

static int handle_get(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    const char *kind, *ns, *name;
    if (arg_kind(req->args, &kind) < 0 || arg_string(req->args, "namespace", 63, 0, &ns) < 0 ||
        arg_string(req->args, "name", 253, 1, &name) < 0)
        return -1;
    json_t *object;
    if (cache_store_get(ud, kind, ns, name, &object) < 0)
        return -1;
    *result = json_pack("{s:o}", "object", object);
    return 0;
}

/* The store's current resourceVersion (the last event's sequence). */
static int64_t current_rv(cache_store *store)
{
    json_t *probe = json_object();
    cache_store_check(store, probe);
    int64_t rv = json_integer_value(json_object_get(probe, "event_seq"));
    json_decref(probe);
    return rv;
}

static int handle_list(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    const char *kind, *ns, *cont;
    json_int_t limit;
    if (arg_kind(req->args, &kind) < 0 || arg_string(req->args, "namespace", 63, 0, &ns) < 0 ||
        arg_string(req->args, "continue", 600, 0, &cont) < 0 ||
        arg_int(req->args, "limit", CACHE_MAX_LIMIT, &limit) < 0)
        return -1;
    const char *owner, *grp, *upstream;
    if (arg_string(req->args, "repository", 253, 0, &owner) < 0 ||
        arg_string(req->args, "packageName", 253, 0, &grp) < 0 ||
        arg_string(req->args, "upstreamOf", 253, 0, &upstream) < 0)
        return -1;
    json_t *items;
    char *next = NULL;
    int64_t rv = 0;
    if (*upstream) {
        /* revisions made from `upstream` (the delete check of spec §3.9), by index */
        if (!*ns)
            return porch_error_set(400, "args.namespace is required with args.upstreamOf");
        if (cache_store_list_referencing(ud, kind, ns, upstream, &items) < 0)
            return -1;
        rv = current_rv(ud);
    } else if (*owner) {
        /* one repository's (or package's) objects, by index; with `overlapping`
         * also the packages above and below packageName (the nesting check) */
        json_t *overlapping = json_object_get(req->args, "overlapping");
        if (!*ns)
            return porch_error_set(400, "args.namespace is required with args.repository");
        if (overlapping && !json_is_boolean(overlapping))
            return porch_error_set(400, "args.overlapping must be a boolean");
        if (json_is_true(overlapping) && !*grp)
            return porch_error_set(400, "args.overlapping needs args.packageName");
        if (json_is_true(overlapping)
                ? cache_store_list_overlapping(ud, kind, ns, owner, grp, &items) < 0
                : cache_store_list_owned(ud, kind, ns, owner, *grp ? grp : NULL, &items) < 0)
            return -1;
        rv = current_rv(ud);
    } else if (cache_store_list(ud, kind, ns, (size_t)limit, cont, &items, &next, &rv) < 0) {
        return -1;
    }
    char rv_text[32];
    snprintf(rv_text, sizeof rv_text, "%lld", (long long)rv);
    *result = json_pack("{s:o, s:s}", "items", items, "resourceVersion", rv_text);
    if (next)
        json_object_set_new(*result, "continue", json_string(next));
    free(next);
    return 0;
}

static int handle_delete(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    const char *kind, *ns, *name, *rv, *uid;
    if (arg_kind(req->args, &kind) < 0 || arg_string(req->args, "namespace", 63, 0, &ns) < 0 ||
        arg_string(req->args, "name", 253, 1, &name) < 0 ||
        arg_string(req->args, "resourceVersion", 32, 0, &rv) < 0 ||
        arg_string(req->args, "uid", 64, 0, &uid) < 0)
        return -1;
    json_t *deleted;
    if (cache_store_delete(ud, kind, ns, name, rv, uid, &deleted) < 0)
        return -1;
    *result = json_pack("{s:o}", "object", deleted);
    return 0;
}

static int handle_events(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    const char *since_text;
    json_int_t limit, wait_ms;
    if (arg_string(req->args, "since", 32, 1, &since_text) < 0 ||
        arg_int(req->args, "limit", CACHE_MAX_LIMIT, &limit) < 0 ||
        arg_int(req->args, "wait_ms", CACHE_MAX_WAIT_MS, &wait_ms) < 0)
        return -1;
    char *end;
    long long since = strtoll(since_text, &end, 10);
    if (*end || since < 0)
        return porch_error_set(400, "args.since \"%s\" is not a resourceVersion", since_text);
    json_t *kinds = json_object_get(req->args, "kinds");
    if (kinds && !json_is_array(kinds))
        return porch_error_set(400, "args.kinds must be an array of resource names");
    json_t *events;
    int64_t rv;
    if (cache_store_events(ud, kinds, since, (size_t)limit, (int)wait_ms, &events, &rv) < 0)
        return -1;
    char rv_text[32];
    snprintf(rv_text, sizeof rv_text, "%lld", (long long)rv);
    *result = json_pack("{s:o, s:s}", "events", events, "resourceVersion", rv_text);
    return 0;
}

int cache_objects_register(bus_server *bus, cache_store *store)
{
    if (bus_server_register(bus, "put", handle_put, store) < 0 ||
        bus_server_register(bus, "get", handle_get, store) < 0 ||
        bus_server_register(bus, "list", handle_list, store) < 0 ||
        bus_server_register(bus, "delete", handle_delete, store) < 0 ||
        bus_server_register(bus, "events", handle_events, store) < 0)
        return -1;
    return 0;
}
