/* The served kinds and their REST verbs. Stored kinds (namespaces, secrets,
 * repositories) live in porch-cache; package revisions are read from the
 * cache (filled by its repository sync) and written through the engine;
 * package revision resources go to the engine both ways. This file owns the
 * Kubernetes conventions: verbs, list/selectors/paging, create/update/patch/
 * delete with preconditions, dryRun, fieldValidation and Status errors. */
#include "apiserver.h"

#include "error/error.h"
#include "log/log.h"

#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PORCH_GROUP "porch.kpt.dev"
#define CONFIG_GROUP "config.porch.kpt.dev"
#define LIST_PAGE 500

/* clang-format off */
static const apiserver_kind kinds[] = {
    {"", "v1", "namespaces", "Namespace", "NamespaceList", "namespaces", 0,
     APISERVER_STORE_CACHE, " get list watch create update patch delete ", "status"},
    {"", "v1", "secrets", "Secret", "SecretList", "secrets", 1,
     APISERVER_STORE_CACHE, " get list watch create update patch delete ", NULL},
    {CONFIG_GROUP, "v1alpha1", "repositories", "Repository", "RepositoryList",
     "repositories.config.porch.kpt.dev", 1, APISERVER_STORE_CACHE,
     " get list watch create update patch delete ", "status"},
    {PORCH_GROUP, "v1alpha1", "packagerevisions", "PackageRevision", "PackageRevisionList",
     "packagerevisions.porch.kpt.dev", 1, APISERVER_STORE_PR,
     " get list watch create update patch delete ", "approval"},
    {PORCH_GROUP, "v1alpha1", "packagerevisionresources", "PackageRevisionResources",
     "PackageRevisionResourcesList", "packagerevisionresources.porch.kpt.dev", 1,
     APISERVER_STORE_PRR, " get list update patch ", NULL},
    {PORCH_GROUP, "v1alpha1", "packages", "PorchPackage", "PorchPackageList",
     "packages.porch.kpt.dev", 1, APISERVER_STORE_PKG, " get list ", NULL},
};
/* clang-format on */

const apiserver_kind *apiserver_kind_find(const apiserver_route *r)
{
    const char *group = r->core ? "" : r->group;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].group, group) == 0 && strcmp(kinds[i].version, r->version) == 0 &&
            strcmp(kinds[i].resource, r->resource) == 0)
            return &kinds[i];
    return NULL;
}

const apiserver_kind *apiserver_kind_by_bus(const char *bus_kind)
{
    for (size_t i = 0; bus_kind && i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].bus_kind, bus_kind) == 0)
            return &kinds[i];
    return NULL;
}

const char *apiserver_request_verb(const char *method, const apiserver_route *r,
                                   const apiserver_query *q)
{
    int named = r->name[0] != '\0';
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return q->watch ? "watch" : named ? "get" : "list";
    if (strcmp(method, "POST") == 0)
        return named ? "" : "create";
    if (strcmp(method, "PUT") == 0)
        return named ? "update" : "";
    if (strcmp(method, "PATCH") == 0)
        return named ? "patch" : "";
    if (strcmp(method, "DELETE") == 0)
        return named ? "delete" : "deletecollection";
    return "";
}

/* ---- small helpers ---- */

static json_t *meta_of(json_t *obj)
{
    json_t *m = json_object_get(obj, "metadata");
    if (!json_is_object(m)) {
        m = json_object();
        json_object_set_new(obj, "metadata", m);
    }
    return m;
}

static const char *meta_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static const char *str_at(json_t *obj, const char *a, const char *b, const char *c)
{
    json_t *v = json_object_get(obj, a);
    if (b)
        v = json_object_get(v, b);
    if (c)
        v = json_object_get(v, c);
    return json_string_value(v);
}

static char *api_version_of(const apiserver_kind *k, char *buf, size_t cap)
{
    if (k->group[0] == '\0')
        snprintf(buf, cap, "%s", k->version);
    else
        snprintf(buf, cap, "%s/%s", k->group, k->version);
    return buf;
}

/* "repositories.config.porch.kpt.dev" or "secrets", as Kubernetes names a resource in messages. */
static const char *qualified(const apiserver_kind *k, char *buf, size_t cap)
{
    if (k->group[0] == '\0')
        snprintf(buf, cap, "%s", k->resource);
    else
        snprintf(buf, cap, "%s.%s", k->resource, k->group);
    return buf;
}

static const char *req_ns(const apiserver_request *req)
{
    return req->kind->namespaced ? req->route->ns : "";
}

static int dry_run(const apiserver_request *req)
{
    return strcmp(req->query->dry_run, "All") == 0;
}

/* Sets Status details {name, group, kind} (and causes when given, stolen). */
static void set_details(apiserver_request *req, const char *name, json_t *causes)
{
    json_decref(req->details);
    req->details = json_pack("{s:s, s:s, s:s}", "name", name ? name : "", "group", req->kind->group,
                             "kind", req->kind->resource);
    if (causes != NULL)
        json_object_set_new(req->details, "causes", causes);
}

int apiserver_resource_reply_error(apiserver_request *req)
{
    const porch_error *e = porch_error_last();
    int code = e->code >= 400 && e->code < 600 ? e->code : 500;
    json_t *st = apiserver_status_new(code, e->reason[0] ? e->reason : NULL, e->message);
    if (req->details != NULL)
        json_object_set(st, "details", req->details);
    else if (req->route->name[0] != '\0' && req->kind != NULL) {
        set_details(req, req->route->name, NULL);
        json_object_set(st, "details", req->details);
    }
    apiserver_http_reply_json(req->conn, code, st);
    json_decref(st);
    return code;
}

static int reply_object(apiserver_request *req, int code, json_t *obj)
{
    if (req->as_table && json_is_object(obj) &&
        json_string_value(json_object_get(obj, "kind")) != NULL &&
        strcmp(json_string_value(json_object_get(obj, "kind")), "Status") != 0) {
        json_t *items = json_pack("[O]", obj);
        json_t *table = apiserver_table_new(req->kind, items, req->query->include_object);
        json_decref(items);
        code = apiserver_http_reply_json(req->conn, code, table);
        json_decref(table);
        return code;
    }
    if (req->warning[0] != '\0') {
        char *text = json_dumps(obj, JSON_COMPACT);
        char headers[700];
        snprintf(headers, sizeof(headers), "Warning: 299 - \"%s\"\r\n", req->warning);
        apiserver_http_reply_headers(req->conn, code, "application/json", headers, text,
                                     text ? strlen(text) : 0);
        free(text);
        return code;
    }
    return apiserver_http_reply_json(req->conn, code, obj);
}

/* Calls a peer with the request's id and caller; *result is a new reference. */
static int peer_call(apiserver_request *req, bus_client *peer, const char *op, json_t *args,
                     json_t **result)
{
    bus_call_opts opts = {.rid = req->rid, .caller = req->caller, .deadline_ms = 0};
    json_t *details = NULL;
    int rc = bus_client_call(peer, op, args, &opts, result, &details);
    json_decref(args);
    if (rc != 0 && json_is_object(details)) {
        json_decref(req->details);
        req->details = details;
    } else {
        json_decref(details);
    }
    return rc;
}

/* The object from a {"object": ...} reply (new reference). */
static json_t *take_object(json_t *result)
{
    json_t *obj = json_incref(json_object_get(result, "object"));
    json_decref(result);
    return obj;
}

/* Fills in kind and apiVersion, which the store may not keep. */
static void stamp_type(const apiserver_kind *k, json_t *obj)
{
    char av[96];
    if (!json_is_object(obj))
        return;
    json_object_set_new(obj, "apiVersion", json_string(api_version_of(k, av, sizeof(av))));
    json_object_set_new(obj, "kind", json_string(k->kind));
}

/* A package revision as it is now stored (stamped), kept as this server's
 * recent copy of it (recent.h). */
static void remember(apiserver_request *req, json_t *obj)
{
    if (req->kind->store == APISERVER_STORE_PR)
        apiserver_recent_put(req->ctx->recent, req_ns(req), obj);
}

/* A PackageRevisionResources update's answer also carries the package
 * revision it moved ("revision"): kept as the recent copy of that revision. */
static void remember_revision_of(apiserver_request *req, json_t *result)
{
    json_t *pr = json_object_get(result, "revision");
    if (req->kind->store != APISERVER_STORE_PRR || !json_is_object(pr))
        return;
    json_t *copy = json_deep_copy(pr);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (kinds[i].store == APISERVER_STORE_PR)
            stamp_type(&kinds[i], copy);
    apiserver_recent_put(req->ctx->recent, req_ns(req), copy);
    json_decref(copy);
}

/* ---- reads ---- */

static int fetch(apiserver_request *req, const char *name, json_t **out)
{
    json_t *result = NULL;
    int rc;
    if (req->kind->store == APISERVER_STORE_PRR)
        rc = peer_call(req, req->ctx->engine, "engine.get-resources",
                       json_pack("{s:s, s:s}", "namespace", req_ns(req), "name", name), &result);
    else
        rc = peer_call(req, req->ctx->cache, "cache.get",
                       json_pack("{s:s, s:s, s:s}", "kind", req->kind->bus_kind, "namespace",
                                 req_ns(req), "name", name),
                       &result);
    if (rc != 0) {
        if (porch_error_last()->code == 404) {
            char q[160];
            porch_error_set_reason(404, "NotFound", "%s \"%s\" not found",
                                   qualified(req->kind, q, sizeof(q)), name);
            set_details(req, name, NULL);
        }
        return -1;
    }
    *out = take_object(result);
    if (*out == NULL)
        return porch_error_set(500, "%s returned no object", req->kind->bus_kind);
    stamp_type(req->kind, *out);
    remember(req, *out);
    return 0;
}

static int serve_get(apiserver_request *req)
{
    json_t *obj = NULL;
    if (fetch(req, req->route->name, &obj) != 0)
        return apiserver_resource_reply_error(req);
    int code = reply_object(req, 200, obj);
    json_decref(obj);
    return code;
}

/* ---- selectors ---- */

static const char *lifecycle_of(json_t *obj)
{
    const char *l = str_at(obj, "spec", "lifecycle", NULL);
    return l && *l ? l : "Draft";
}

typedef struct field_ctx {
    const apiserver_kind *kind;
    json_t *obj;
} field_ctx;

static const char *field_lookup(void *ud, const char *key, char *buf, size_t cap)
{
    field_ctx *f = ud;
    json_t *obj = f->obj;
    if (strcmp(key, "metadata.name") == 0)
        return meta_str(obj, "name");
    if (strcmp(key, "metadata.namespace") == 0) {
        const char *ns = meta_str(obj, "namespace");
        return ns ? ns : "";
    }
    if (strcmp(key, "type") == 0)
        return json_string_value(json_object_get(obj, "type"));
    if (strcmp(key, "status.phase") == 0)
        return str_at(obj, "status", "phase", NULL);
    if (strcmp(key, "spec.revision") == 0) {
        snprintf(buf, cap, "%lld",
                 (long long)json_integer_value(
                     json_object_get(json_object_get(obj, "spec"), "revision")));
        return buf;
    }
    if (strcmp(key, "spec.lifecycle") == 0)
        return lifecycle_of(obj);
    if (strncmp(key, "spec.packageMetadata.labels[", 28) == 0) {
        size_t n = strlen(key + 28);
        if (n == 0 || n >= cap)
            return NULL;
        snprintf(buf, cap, "%.*s", (int)(n - 1), key + 28);
        json_t *labels = json_object_get(
            json_object_get(json_object_get(obj, "spec"), "packageMetadata"), "labels");
        return json_string_value(json_object_get(labels, buf));
    }
    if (strncmp(key, "spec.", 5) == 0)
        return str_at(obj, "spec", key + 5, NULL);
    return NULL;
}

/* Which field selectors each kind supports, and Porch's rules for package revisions (§3.5). */
static int field_check(const char *key, int equality, char *value, size_t cap, void *ud)
{
    const apiserver_kind *k = ud;
    (void)cap;
    int porch = k->store == APISERVER_STORE_PR || k->store == APISERVER_STORE_PRR;
    int ok = strcmp(key, "metadata.name") == 0 || strcmp(key, "metadata.namespace") == 0;
    if (strcmp(k->resource, "secrets") == 0 && strcmp(key, "type") == 0)
        ok = 1;
    if (strcmp(k->resource, "namespaces") == 0 && strcmp(key, "status.phase") == 0)
        ok = 1;
    if (porch && (strcmp(key, "spec.revision") == 0 || strcmp(key, "spec.packageName") == 0 ||
                  strcmp(key, "spec.repository") == 0 || strcmp(key, "spec.workspaceName") == 0 ||
                  strcmp(key, "spec.lifecycle") == 0 ||
                  (strncmp(key, "spec.packageMetadata.labels[", 28) == 0 &&
                   key[strlen(key) - 1] == ']' && strlen(key) > 29)))
        ok = 1;
    if (!ok)
        return porch_error_set(400, "\"%s\" is not a known field selector: only %s are supported",
                               key,
                               porch ? "metadata.name, metadata.namespace, spec.revision, "
                                       "spec.packageName, spec.repository, spec.workspaceName, "
                                       "spec.lifecycle and spec.packageMetadata.labels[KEY]"
                                     : "metadata.name and metadata.namespace");
    if (!porch)
        return 0;
    if (!equality)
        return porch_error_set(400, "field selector %s: only the operators = and == are supported",
                               key);
    if (value[0] == '\0')
        return porch_error_set(400, "field selector %s needs a value", key);
    if (strcmp(key, "spec.lifecycle") == 0 && strcmp(value, "Draft") != 0 &&
        strcmp(value, "Proposed") != 0 && strcmp(value, "Published") != 0 &&
        strcmp(value, "DeletionProposed") != 0)
        return porch_error_set(400,
                               "field selector spec.lifecycle=%s: lifecycle must be Draft, "
                               "Proposed, Published or DeletionProposed",
                               value);
    if (strcmp(key, "spec.revision") == 0) {
        if (value[0] == 'v')
            memmove(value, value + 1, strlen(value));
        char *end = NULL;
        long rev = strtol(value, &end, 10);
        if (value[0] == '\0' || *end != '\0')
            return porch_error_set(400, "field selector spec.revision=%s is not an integer", value);
        if (rev == 0)
            return 1; /* Porch treats revision 0 as "any" */
    }
    return 0;
}

int apiserver_filter_init(apiserver_filter *f, const apiserver_kind *kind, const char *ns,
                          const char *label_selector, const char *field_selector)
{
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    snprintf(f->ns, sizeof(f->ns), "%s", ns ? ns : "");
    if (apiserver_selector_parse_labels(label_selector, &f->labels) != 0 ||
        apiserver_selector_parse_fields(field_selector, &f->fields) != 0 ||
        apiserver_selector_check(f->fields, field_check, (void *)kind) != 0) {
        apiserver_filter_clear(f);
        return -1;
    }
    return 0;
}

void apiserver_filter_clear(apiserver_filter *f)
{
    apiserver_selector_free(f->labels);
    apiserver_selector_free(f->fields);
    f->labels = f->fields = NULL;
}

int apiserver_filter_match(const apiserver_filter *f, json_t *obj)
{
    if (f->ns[0] != '\0') {
        const char *ns = meta_str(obj, "namespace");
        if (ns == NULL || strcmp(ns, f->ns) != 0)
            return 0;
    }
    json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
    if (!apiserver_selector_match(f->labels, apiserver_selector_labels_lookup, labels))
        return 0;
    field_ctx fc = {f->kind, obj};
    return apiserver_selector_match(f->fields, field_lookup, &fc);
}

/* ---- list ---- */

/* Collects matching items into `items`, honouring limit/continue; *next is the
 * continue token ("<ns>/<name>" of the last item returned) or NULL; *rv the list RV. */
static int collect(apiserver_request *req, const apiserver_filter *f, json_t *items, char **next,
                   char *rv, size_t rv_cap)
{
    long limit = req->query->limit;
    char cont[640];
    snprintf(cont, sizeof(cont), "%s", req->query->cont);
    *next = NULL;
    int filtered = !apiserver_selector_empty(f->labels) || !apiserver_selector_empty(f->fields);
    for (;;) {
        long page = filtered ? LIST_PAGE : (limit > 0 ? limit : 0);
        json_t *args = json_pack("{s:s, s:s, s:I}", "kind", req->kind->bus_kind, "namespace",
                                 req_ns(req), "limit", (json_int_t)page);
        if (cont[0] != '\0')
            json_object_set_new(args, "continue", json_string(cont));
        json_t *result = NULL;
        if (peer_call(req, req->ctx->cache, "cache.list", args, &result) != 0)
            return -1;
        if (rv[0] == '\0')
            snprintf(rv, rv_cap, "%s",
                     json_string_value(json_object_get(result, "resourceVersion"))
                         ? json_string_value(json_object_get(result, "resourceVersion"))
                         : "0");
        json_t *page_items = json_object_get(result, "items");
        const char *page_next = json_string_value(json_object_get(result, "continue"));
        size_t i, n = json_array_size(page_items);
        json_t *obj;
        json_array_foreach(page_items, i, obj)
        {
            if (!apiserver_filter_match(f, obj))
                continue;
            stamp_type(req->kind, obj);
            json_array_append(items, obj);
            if (limit > 0 && (long)json_array_size(items) == limit &&
                (i + 1 < n || page_next != NULL)) {
                char tok[600];
                const char *ns = meta_str(obj, "namespace");
                snprintf(tok, sizeof(tok), "%s/%s", ns ? ns : "", meta_str(obj, "name"));
                *next = strdup(tok);
                json_decref(result);
                return 0;
            }
        }
        if (page_next == NULL || (!filtered && limit > 0)) {
            if (page_next != NULL)
                *next = strdup(page_next);
            json_decref(result);
            return 0;
        }
        snprintf(cont, sizeof(cont), "%s", page_next);
        json_decref(result);
    }
}

static int collect_prr(apiserver_request *req, const apiserver_filter *f, json_t *items)
{
    json_t *result = NULL;
    if (peer_call(req, req->ctx->engine, "engine.list-resources",
                  json_pack("{s:s}", "namespace", req_ns(req)), &result) != 0)
        return -1;
    size_t i;
    json_t *obj;
    json_array_foreach(json_object_get(result, "items"), i, obj)
    {
        if (!apiserver_filter_match(f, obj))
            continue;
        stamp_type(req->kind, obj);
        json_array_append(items, obj);
    }
    json_decref(result);
    return 0;
}

static int serve_list(apiserver_request *req)
{
    apiserver_filter f;
    if (apiserver_filter_init(&f, req->kind, req_ns(req), req->query->label_selector,
                              req->query->field_selector) != 0)
        return apiserver_resource_reply_error(req);
    if (req->query->watch) {
        int code = apiserver_watch_serve(req, &f);
        apiserver_filter_clear(&f);
        return code;
    }
    if (req->kind->store != APISERVER_STORE_PRR && req->ctx->watch != NULL &&
        !(req->as_table && strcmp(req->query->include_object, "Object") == 0)) {
        char rv[32];
        apiserver_index *ix = apiserver_watch_hub_index(req->ctx->watch, 2000, rv, sizeof(rv));
        apiserver_index_out out;
        if (ix != NULL && apiserver_index_list(ix, req->kind, &f, req->query->limit,
                                               req->query->cont, req->as_table, rv, &out) == 0) {
            apiserver_filter_clear(&f);
            int code;
            if (out.whole != NULL) {
                code = apiserver_http_reply(req->conn, 200, "application/json", out.whole,
                                            strlen(out.whole));
            } else {
                size_t hl = strlen(out.head), tl = strlen(out.tail);
                code = apiserver_http_reply_parts(req->conn, 200, "application/json", out.head, hl,
                                                  out.body, out.body_len, out.tail, tl);
            }
            apiserver_index_out_clear(&out);
            return code;
        }
        if (ix != NULL && porch_error_last()->code == 400) {
            apiserver_filter_clear(&f);
            return apiserver_resource_reply_error(req);
        }
    }
    json_t *items = json_array();
    char *next = NULL;
    char rv[32] = "";
    int rc = req->kind->store == APISERVER_STORE_PRR
                 ? collect_prr(req, &f, items)
                 : collect(req, &f, items, &next, rv, sizeof(rv));
    apiserver_filter_clear(&f);
    if (rc != 0) {
        json_decref(items);
        free(next);
        return apiserver_resource_reply_error(req);
    }
    json_t *doc;
    if (req->as_table) {
        doc = apiserver_table_new(req->kind, items, req->query->include_object);
        json_decref(items);
    } else {
        char av[96];
        doc = json_pack("{s:s, s:s, s:{}, s:o}", "kind", req->kind->list_kind, "apiVersion",
                        api_version_of(req->kind, av, sizeof(av)), "metadata", "items", items);
    }
    json_t *meta = json_object_get(doc, "metadata");
    json_object_set_new(meta, "resourceVersion", json_string(rv[0] ? rv : "0"));
    if (next != NULL)
        json_object_set_new(meta, "continue", json_string(next));
    free(next);
    int code = apiserver_http_reply_json(req->conn, 200, doc);
    json_decref(doc);
    return code;
}

/* ---- validation and defaulting ---- */

static int dns_label(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static int dns_subdomain(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 253)
        return 0;
    char buf[254];
    memcpy(buf, s, n + 1);
    for (char *tok = strtok(buf, "."); tok; tok = strtok(NULL, "."))
        if (!dns_label(tok))
            return 0;
    return s[0] != '.' && s[n - 1] != '.' && strstr(s, "..") == NULL;
}

/* Appends a cause; returns the array for chaining. */
static void add_cause(json_t *causes, const char *field, const char *fmt, const char *value)
{
    char msg[600];
    snprintf(msg, sizeof(msg), fmt, value ? value : "");
    json_array_append_new(causes, json_pack("{s:s, s:s, s:s}", "reason", "FieldValueInvalid",
                                            "message", msg, "field", field));
}

/* 422 Invalid from the collected causes, as the Kubernetes validation layer words it. */
static int invalid(apiserver_request *req, const char *name, json_t *causes)
{
    char text[1600] = "";
    size_t i;
    json_t *c;
    json_array_foreach(causes, i, c)
    {
        size_t used = strlen(text);
        snprintf(text + used, sizeof(text) - used, "%s%s: %s", i ? ", " : "",
                 json_string_value(json_object_get(c, "field")),
                 json_string_value(json_object_get(c, "message")));
    }
    char q[160];
    const char *kind = req->kind->kind;
    if (req->kind->group[0] != '\0')
        snprintf(q, sizeof(q), "%s.%s", kind, req->kind->group);
    else
        snprintf(q, sizeof(q), "%s", kind);
    porch_error_set_reason(422, "Invalid", "%s \"%s\" is invalid: %s", q, name ? name : "", text);
    set_details(req, name, causes);
    json_object_set_new(req->details, "kind", json_string(req->kind->kind));
    return -1;
}

static int changed(json_t *a, json_t *b)
{
    if (a == NULL && b == NULL)
        return 0;
    if (a == NULL || b == NULL)
        return 1;
    return !json_equal(a, b);
}

static int validate_repository(apiserver_request *req, json_t *obj, json_t *old)
{
    json_t *causes = json_array();
    const char *name = meta_str(obj, "name");
    if (!dns_label(name))
        add_cause(causes, "metadata.name",
                  "Invalid value: \"%s\": must be a lowercase RFC 1123 label of at most 63 "
                  "characters",
                  name);
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) {
        add_cause(causes, "spec", "Required value%s", "");
        return invalid(req, name, causes);
    }
    const char *type = json_string_value(json_object_get(spec, "type"));
    if (type == NULL || (strcmp(type, "git") != 0 && strcmp(type, "oci") != 0))
        add_cause(causes, "spec.type",
                  "Unsupported value: \"%s\": supported values: \"git\", "
                  "\"oci\"",
                  type ? type : "");
    json_t *git = json_object_get(spec, "git");
    if (type && strcmp(type, "git") == 0) {
        const char *repo = json_string_value(json_object_get(git, "repo"));
        if (repo == NULL || repo[0] == '\0')
            add_cause(causes, "spec.git.repo", "Required value%s", "");
        json_t *branch = json_object_get(git, "branch");
        if (branch == NULL && json_is_object(git))
            json_object_set_new(git, "branch", json_string("main"));
        else if (branch != NULL && (!json_is_string(branch) || json_string_length(branch) == 0))
            add_cause(causes, "spec.git.branch", "Invalid value: \"%s\": must not be empty", "");
    }
    if (type && strcmp(type, "oci") == 0 &&
        json_string_value(json_object_get(json_object_get(spec, "oci"), "registry")) == NULL)
        add_cause(causes, "spec.oci.registry", "Required value%s", "");
    json_t *content = json_object_get(spec, "content");
    if (content == NULL)
        json_object_set_new(spec, "content", json_string("Package"));
    else if (!json_is_string(content) || strcmp(json_string_value(content), "Package") != 0)
        add_cause(causes, "spec.content",
                  "Unsupported value: \"%s\": supported values: \"Package\"",
                  json_string_value(content));
    json_t *dep = json_object_get(spec, "deployment");
    if (dep != NULL && !json_is_boolean(dep))
        add_cause(causes, "spec.deployment", "Invalid value: must be a boolean%s", "");
    if (old != NULL) {
        json_t *ospec = json_object_get(old, "spec");
        json_t *ogit = json_object_get(ospec, "git");
        static const char *const git_fields[] = {"repo", "branch", "directory"};
        if (changed(json_object_get(ospec, "type"), json_object_get(spec, "type")))
            add_cause(causes, "spec.type", "Invalid value: \"%s\": spec.type is immutable", type);
        for (size_t i = 0; i < 3; i++) {
            if (changed(json_object_get(ogit, git_fields[i]),
                        json_object_get(git, git_fields[i]))) {
                char field[64];
                snprintf(field, sizeof(field), "spec.git.%s", git_fields[i]);
                add_cause(causes, field, "Invalid value: %s is immutable", field);
            }
        }
        if (changed(json_object_get(json_object_get(ospec, "oci"), "registry"),
                    json_object_get(json_object_get(spec, "oci"), "registry")))
            add_cause(causes, "spec.oci.registry",
                      "Invalid value: spec.oci.registry is immutable%s", "");
    }
    if (json_array_size(causes) > 0)
        return invalid(req, name, causes);
    json_decref(causes);
    return 0;
}

static int validate_secret(apiserver_request *req, json_t *obj)
{
    const char *name = meta_str(obj, "name");
    json_t *causes = json_array();
    if (!dns_subdomain(name))
        add_cause(causes, "metadata.name",
                  "Invalid value: \"%s\": must be a lowercase RFC 1123 subdomain", name);
    const char *t = json_string_value(json_object_get(obj, "type"));
    if (t == NULL || *t == '\0')
        json_object_set_new(obj, "type", json_string("Opaque"));
    json_t *sd = json_object_get(obj, "stringData");
    if (json_is_object(sd)) {
        json_t *data = json_object_get(obj, "data");
        if (!json_is_object(data)) {
            data = json_object();
            json_object_set_new(obj, "data", data);
        }
        const char *k;
        json_t *v;
        json_object_foreach(sd, k, v)
        {
            const char *s = json_string_value(v);
            char *enc =
                apiserver_base64_encode((const unsigned char *)(s ? s : ""), s ? strlen(s) : 0);
            json_object_set_new(data, k, json_string(enc ? enc : ""));
            free(enc);
        }
        json_object_del(obj, "stringData");
    }
    const char *type = json_string_value(json_object_get(obj, "type"));
    json_t *data = json_object_get(obj, "data");
    if (type && strcmp(type, "kubernetes.io/basic-auth") == 0 &&
        json_object_get(data, "username") == NULL && json_object_get(data, "password") == NULL)
        add_cause(causes, "data[username]",
                  "Required value: a basic-auth secret needs "
                  "username or password%s",
                  "");
    if (json_array_size(causes) > 0)
        return invalid(req, name, causes);
    json_decref(causes);
    return 0;
}

/* spec.finalizers is the namespace controller's: "kubernetes" is added on
 * create and kept from the stored object on update (only the controller
 * removes it); the phase follows deletionTimestamp. */
static int validate_namespace(apiserver_request *req, json_t *obj, json_t *old)
{
    const char *name = meta_str(obj, "name");
    if (!dns_label(name)) {
        json_t *causes = json_array();
        add_cause(causes, "metadata.name",
                  "Invalid value: \"%s\": must be a lowercase RFC 1123 label", name);
        return invalid(req, name, causes);
    }
    json_object_del(meta_of(obj), "namespace");
    json_t *spec = json_object_get(obj, "spec");
    if (!json_is_object(spec)) {
        spec = json_object();
        json_object_set_new(obj, "spec", spec);
    }
    if (old != NULL) {
        json_t *ofin = json_object_get(json_object_get(old, "spec"), "finalizers");
        if (ofin != NULL)
            json_object_set_new(spec, "finalizers", json_deep_copy(ofin));
        else
            json_object_del(spec, "finalizers");
    } else {
        apiserver_namespace_add_finalizer(obj);
    }
    const char *phase = apiserver_namespace_terminating(obj) ? "Terminating" : "Active";
    json_object_set_new(obj, "status", json_pack("{s:s}", "phase", phase));
    return 0;
}

static int validate(apiserver_request *req, json_t *obj, json_t *old)
{
    if (strcmp(req->kind->resource, "repositories") == 0)
        return validate_repository(req, obj, old);
    if (strcmp(req->kind->resource, "secrets") == 0)
        return validate_secret(req, obj);
    if (strcmp(req->kind->resource, "namespaces") == 0)
        return validate_namespace(req, obj, old);
    return 0;
}

/* fieldValidation: unknown top-level fields (and unknown Repository spec
 * fields) → 400 under Strict, a Warning header under Warn. */
static int check_fields(apiserver_request *req, json_t *obj)
{
    const char *mode = req->query->field_validation;
    if (strcmp(mode, "Ignore") == 0)
        return 0;
    static const char *const common[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
    static const char *const secret[] = {"apiVersion", "kind", "metadata",  "data",
                                         "stringData", "type", "immutable", NULL};
    static const char *const repo_spec[] = {"description", "type", "deployment", "content",
                                            "sync",        "git",  "oci",        "upstream",
                                            "repository",  NULL};
    const char *const *allowed = strcmp(req->kind->resource, "secrets") == 0 ? secret : common;
    char unknown[300] = "";
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++)
            ok |= strcmp(allowed[i], k) == 0;
        if (!ok && unknown[0] == '\0')
            snprintf(unknown, sizeof(unknown), "%.200s", k);
    }
    if (unknown[0] == '\0' && strcmp(req->kind->resource, "repositories") == 0) {
        json_object_foreach(json_object_get(obj, "spec"), k, v)
        {
            int ok = 0;
            for (size_t i = 0; repo_spec[i]; i++)
                ok |= strcmp(repo_spec[i], k) == 0;
            if (!ok && unknown[0] == '\0')
                snprintf(unknown, sizeof(unknown), "spec.%.200s", k);
        }
    }
    if (unknown[0] == '\0')
        return 0;
    if (strcmp(mode, "Strict") == 0)
        return porch_error_set(400, "strict decoding error: unknown field \"%s\"", unknown);
    snprintf(req->warning, sizeof(req->warning), "unknown field \\\"%s\\\"", unknown);
    return 0;
}

/* ---- bodies ---- */

/* application/yaml (also application/x-yaml, text/yaml), parameters allowed. */
static int is_yaml_type(const char *ct)
{
    static const char *const types[] = {"application/yaml", "application/x-yaml", "text/yaml"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t n = strlen(types[i]);
        if (strncasecmp(ct, types[i], n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '))
            return 1;
    }
    return 0;
}

static int read_object(apiserver_request *req, json_t **out, int allow_array)
{
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    if (apiserver_body_read(req->conn, req->ctx->body_max, &buf, &len) != 0)
        return -1;
    const char *ct = mg_get_header(req->conn, "Content-Type");
    int rc;
    if (ct != NULL && strncmp(ct, "application/vnd.kubernetes.protobuf", 35) == 0) {
        rc = apiserver_body_protobuf(buf, len, out);
    } else if (ct != NULL && strstr(ct, "yaml") != NULL) {
        if (allow_array) /* a PATCH: its type says which patch; YAML is none of them */
            rc = porch_error_set(415,
                                 "Content-Type %.100s is not a patch type; send "
                                 "application/merge-patch+json, "
                                 "application/strategic-merge-patch+json or "
                                 "application/json-patch+json (server-side apply is not "
                                 "supported)",
                                 ct);
        else if (is_yaml_type(ct))
            rc = apiserver_body_yaml(buf, len, out);
        else
            rc = porch_error_set(415,
                                 "Content-Type %.100s is not supported; send application/json "
                                 "or application/yaml",
                                 ct);
    } else if (allow_array) {
        json_error_t err;
        if (apiserver_body_json_depth(buf, len) != 0) {
            free(buf);
            return -1;
        }
        *out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
        rc = *out ? 0
                  : porch_error_set(400,
                                    "malformed JSON in the request body at line %d, column %d "
                                    "(byte %d): %s",
                                    err.line, err.column, err.position, err.text);
    } else {
        rc = apiserver_body_json(buf, len, out);
    }
    free(buf);
    return rc;
}

/* Checks kind/apiVersion/namespace of a body against the route and fills them in. */
static int check_identity(apiserver_request *req, json_t *obj)
{
    char av[96];
    api_version_of(req->kind, av, sizeof(av));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *apiv = json_string_value(json_object_get(obj, "apiVersion"));
    if ((kind && *kind && strcmp(kind, req->kind->kind) != 0) ||
        (apiv && *apiv && strcmp(apiv, av) != 0))
        return porch_error_set(400, "the body is a %s %s, but the path %s serves %s %s",
                               apiv ? apiv : "", kind ? kind : "", req->kind->resource, av,
                               req->kind->kind);
    stamp_type(req->kind, obj);
    json_t *meta = meta_of(obj);
    if (req->kind->namespaced) {
        const char *ns = json_string_value(json_object_get(meta, "namespace"));
        if (ns != NULL && *ns && strcmp(ns, req->route->ns) != 0)
            return porch_error_set(400,
                                   "the namespace of the provided object (%s) does not match "
                                   "the namespace sent on the request (%s)",
                                   ns, req->route->ns);
        json_object_set_new(meta, "namespace", json_string(req->route->ns));
    }
    return 0;
}

static void strip_server_fields(json_t *obj)
{
    json_t *meta = meta_of(obj);
    static const char *const fields[] = {"uid",        "resourceVersion",   "creationTimestamp",
                                         "generation", "deletionTimestamp", "managedFields",
                                         "selfLink"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        json_object_del(meta, fields[i]);
}

static void now_rfc3339(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- create ---- */

static void generate_name(json_t *meta)
{
    const char *gen = json_string_value(json_object_get(meta, "generateName"));
    if (gen == NULL || json_object_get(meta, "name") != NULL)
        return;
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    unsigned char rnd[5];
    char rid[40];
    bus_new_request_id(rid, sizeof(rid)); /* a convenient random source */
    char name[300];
    for (int i = 0; i < 5; i++)
        rnd[i] = (unsigned char)alphabet[(unsigned char)rid[i * 2] % (sizeof(alphabet) - 1)];
    snprintf(name, sizeof(name), "%.200s%.5s", gen, (const char *)rnd);
    json_object_set_new(meta, "name", json_string(name));
}

static int do_create(apiserver_request *req, json_t *obj)
{
    json_t *meta = meta_of(obj);
    if (check_identity(req, obj) != 0 || check_fields(req, obj) != 0)
        return -1;
    strip_server_fields(obj);
    generate_name(meta);
    if (req->kind->namespaced && req->ctx->standalone) {
        char q[160];
        json_t *details = NULL;
        if (apiserver_namespace_check_create(req->ctx->cache, req->route->ns, req->rid, req->caller,
                                             qualified(req->kind, q, sizeof(q)),
                                             meta_str(obj, "name"), &details) != 0) {
            if (details != NULL) {
                if (porch_error_last()->code == 403) { /* about the object, not the Namespace */
                    json_object_set_new(details, "group", json_string(req->kind->group));
                    json_object_set_new(details, "kind", json_string(req->kind->resource));
                }
                json_decref(req->details);
                req->details = details;
            }
            return -1;
        }
    }
    json_t *result = NULL;
    if (req->kind->store == APISERVER_STORE_PR) {
        if (dry_run(req))
            return 201;
        if (peer_call(req, req->ctx->engine, "engine.create",
                      json_pack("{s:s, s:O}", "namespace", req->route->ns, "object", obj),
                      &result) != 0)
            return -1;
    } else {
        const char *name = meta_str(obj, "name");
        if (name == NULL || *name == '\0')
            return porch_error_set(400, "metadata.name or metadata.generateName is required");
        if (validate(req, obj, NULL) != 0)
            return -1;
        if (dry_run(req)) {
            char now[32];
            now_rfc3339(now, sizeof(now));
            json_object_set_new(meta, "creationTimestamp", json_string(now));
            return 201;
        }
        if (peer_call(req, req->ctx->cache, "cache.put",
                      json_pack("{s:s, s:s, s:s, s:O, s:s}", "kind", req->kind->bus_kind,
                                "namespace", req_ns(req), "name", name, "object", obj, "mode",
                                "create"),
                      &result) != 0) {
            if (porch_error_last()->code == 409) {
                char q[160];
                porch_error_set_reason(409, "AlreadyExists", "%s \"%s\" already exists",
                                       qualified(req->kind, q, sizeof(q)), name);
                set_details(req, name, NULL);
            }
            return -1;
        }
    }
    json_t *stored = take_object(result);
    if (stored == NULL)
        return porch_error_set(500, "the store returned no object");
    json_object_clear(obj);
    json_object_update(obj, stored);
    json_decref(stored);
    stamp_type(req->kind, obj);
    remember(req, obj);
    return 201;
}

static int serve_create(apiserver_request *req)
{
    json_t *obj = NULL;
    if (read_object(req, &obj, 0) != 0)
        return apiserver_resource_reply_error(req);
    int code = do_create(req, obj);
    if (code < 0)
        code = apiserver_resource_reply_error(req);
    else
        code = reply_object(req, code, obj);
    json_decref(obj);
    return code;
}

/* ---- update ---- */

static int conflict(apiserver_request *req, const char *name, const char *why)
{
    char q[160];
    porch_error_set_reason(409, "Conflict", "Operation cannot be fulfilled on %s \"%s\": %s",
                           qualified(req->kind, q, sizeof(q)), name, why);
    set_details(req, name, NULL);
    return -1;
}

static const char *stale_text = "the object has been modified; please apply your changes to the "
                                "latest version and try again";

/* Writes `obj` (the complete new object; modified to the stored result) over
 * `old` (the current one, borrowed; NULL when not fetched). 200, or -1. */
static int do_update(apiserver_request *req, json_t *obj, json_t *old)
{
    const char *name = req->route->name;
    const char *sub = req->route->subresource;
    if (check_identity(req, obj) != 0 || check_fields(req, obj) != 0)
        return -1;
    json_t *meta = meta_of(obj);
    const char *bname = json_string_value(json_object_get(meta, "name"));
    if (bname != NULL && strcmp(bname, name) != 0)
        return porch_error_set(400,
                               "the name of the object (%s) does not match the name on the URL "
                               "(%s)",
                               bname, name);
    json_object_set_new(meta, "name", json_string(name));
    const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
    if (rv == NULL || *rv == '\0')
        return conflict(req, name,
                        "metadata.resourceVersion must be specified for an update; get the "
                        "object first and send back its resourceVersion");
    if (old != NULL) {
        const char *orv = meta_str(old, "resourceVersion");
        if (orv != NULL && strcmp(orv, rv) != 0)
            return conflict(req, name, stale_text);
    }
    json_t *result = NULL;
    if (req->kind->store == APISERVER_STORE_PR || req->kind->store == APISERVER_STORE_PRR) {
        if (dry_run(req))
            return 200;
        int rc;
        if (req->kind->store == APISERVER_STORE_PR)
            rc = peer_call(req, req->ctx->engine, "engine.update",
                           json_pack("{s:s, s:s, s:O, s:s}", "namespace", req->route->ns, "name",
                                     name, "object", obj, "subresource", sub),
                           &result);
        else
            rc = peer_call(req, req->ctx->engine, "engine.update-resources",
                           json_pack("{s:s, s:s, s:O}", "namespace", req->route->ns, "name", name,
                                     "object", obj),
                           &result);
        if (rc != 0)
            return -1;
    } else {
        if (old == NULL)
            return porch_error_set(500, "internal: update without the current object");
        /* The main resource never writes status; /status writes only status. */
        if (strcmp(sub, "status") == 0) {
            json_t *status = json_incref(json_object_get(obj, "status"));
            json_t *copy = json_deep_copy(old);
            json_object_set_new(json_object_get(copy, "metadata"), "resourceVersion",
                                json_string(rv));
            if (status)
                json_object_set_new(copy, "status", status);
            else
                json_object_del(copy, "status");
            json_object_clear(obj);
            json_object_update(obj, copy);
            json_decref(copy);
        } else if (strcmp(req->kind->resource, "namespaces") != 0) {
            json_t *status = json_object_get(old, "status");
            if (status)
                json_object_set(obj, "status", status);
            else
                json_object_del(obj, "status");
        }
        /* Server-owned metadata comes from the stored object. */
        json_t *ometa = json_object_get(old, "metadata");
        static const char *const keep[] = {"uid", "creationTimestamp", "generation",
                                           "deletionTimestamp"};
        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
            json_t *v = json_object_get(ometa, keep[i]);
            if (v)
                json_object_set(meta_of(obj), keep[i], v);
            else
                json_object_del(meta_of(obj), keep[i]);
        }
        if (validate(req, obj, old) != 0)
            return -1;
        if (dry_run(req))
            return 200;
        json_t *fin = json_object_get(meta_of(obj), "finalizers");
        /* A Namespace also waits for its spec.finalizers (the namespace controller's). */
        json_t *spec_fins = json_object_get(json_object_get(obj, "spec"), "finalizers");
        size_t spec_fin =
            strcmp(req->kind->resource, "namespaces") == 0 ? json_array_size(spec_fins) : 0;
        if (json_object_get(meta_of(obj), "deletionTimestamp") != NULL &&
            json_array_size(fin) == 0 && spec_fin == 0) {
            if (peer_call(req, req->ctx->cache, "cache.delete",
                          json_pack("{s:s, s:s, s:s, s:s}", "kind", req->kind->bus_kind,
                                    "namespace", req_ns(req), "name", name, "resourceVersion", rv),
                          &result) != 0)
                return -1;
        } else if (peer_call(req, req->ctx->cache, "cache.put",
                             json_pack("{s:s, s:s, s:s, s:O, s:s, s:s}", "kind",
                                       req->kind->bus_kind, "namespace", req_ns(req), "name", name,
                                       "object", obj, "mode", "update", "resourceVersion", rv),
                             &result) != 0) {
            if (porch_error_last()->code == 409)
                return conflict(req, name, stale_text);
            return -1;
        }
    }
    remember_revision_of(req, result);
    json_t *stored = take_object(result);
    if (stored != NULL) {
        json_object_clear(obj);
        json_object_update(obj, stored);
        json_decref(stored);
    }
    stamp_type(req->kind, obj);
    remember(req, obj);
    return 200;
}

/* The current object for a write: cache kinds always, package revisions for
 * the resourceVersion check (their reads come from the cache too). */
static int fetch_current(apiserver_request *req, json_t *obj, json_t **old)
{
    *old = NULL;
    if (req->kind->store == APISERVER_STORE_PRR)
        return 0;
    /* the recent copy of exactly the version the client updates is what a
     * fetch would return (the engine still checks that it is current) */
    const char *rv = meta_str(obj, "resourceVersion");
    if (req->kind->store == APISERVER_STORE_PR && rv && *rv &&
        apiserver_recent_get(req->ctx->recent, req_ns(req), req->route->name, rv, old))
        return 0;
    return fetch(req, req->route->name, old);
}

static int serve_update(apiserver_request *req)
{
    json_t *obj = NULL, *old = NULL;
    int code = -1;
    if (read_object(req, &obj, 0) == 0 && fetch_current(req, obj, &old) == 0)
        code = do_update(req, obj, old);
    if (code < 0 && req->kind->store == APISERVER_STORE_PR) /* the copy may be what was stale */
        apiserver_recent_forget(req->ctx->recent, req_ns(req), req->route->name);
    code = code < 0 ? apiserver_resource_reply_error(req) : reply_object(req, code, obj);
    json_decref(obj);
    json_decref(old);
    return code;
}

/* ---- patch ---- */

static int apply_patch(apiserver_request *req, json_t *current, json_t *patch, json_t **out)
{
    const char *ct = mg_get_header(req->conn, "Content-Type");
    if (ct == NULL || strncmp(ct, "application/merge-patch+json", 28) == 0 ||
        strncmp(ct, "application/strategic-merge-patch+json", 38) == 0) {
        json_t *copy = json_deep_copy(current); /* the merge works in place */
        int rc = apiserver_patch_merge(copy, patch, out);
        json_decref(copy);
        return rc;
    }
    if (strncmp(ct, "application/json-patch+json", 27) == 0)
        return apiserver_patch_json(current, patch, out);
    return porch_error_set(415,
                           "the body of a PATCH must be application/merge-patch+json, "
                           "application/strategic-merge-patch+json or "
                           "application/json-patch+json (got %.100s); server-side apply is not "
                           "supported",
                           ct);
}

static int patch_sets_rv(json_t *patch)
{
    if (json_is_object(patch))
        return json_object_get(json_object_get(patch, "metadata"), "resourceVersion") != NULL;
    size_t i;
    json_t *op;
    json_array_foreach(patch, i, op)
    {
        const char *path = json_string_value(json_object_get(op, "path"));
        if (path && strcmp(path, "/metadata/resourceVersion") == 0)
            return 1;
    }
    return 0;
}

static int serve_patch(apiserver_request *req)
{
    json_t *patch = NULL;
    if (read_object(req, &patch, 1) != 0)
        return apiserver_resource_reply_error(req);
    int pinned = patch_sets_rv(patch);
    int code = -1;
    json_t *result = NULL;
    /* Without a resourceVersion in the patch a concurrent write is not the
     * caller's conflict: re-read and re-apply, as Kubernetes does. */
    for (int attempt = 0; attempt < 5 && code < 0; attempt++) {
        json_t *current = NULL;
        json_decref(result);
        result = NULL;
        /* An unpinned patch of a package revision starts from this server's
         * recent copy: when it is stale, the engine answers 409 and the next
         * attempt fetches. */
        int copy = !pinned && attempt == 0 && req->kind->store == APISERVER_STORE_PR &&
                   !dry_run(req) &&
                   apiserver_recent_get(req->ctx->recent, req_ns(req), req->route->name, NULL,
                                        &current);
        if (!copy && fetch(req, req->route->name, &current) != 0)
            break;
        if (apply_patch(req, current, patch, &result) != 0) {
            json_decref(current);
            if (copy)
                continue; /* perhaps only the copy was stale */
            break;
        }
        json_t *meta = meta_of(result);
        json_object_set(meta, "name",
                        json_object_get(json_object_get(current, "metadata"), "name"));
        if (!pinned)
            json_object_set(
                meta, "resourceVersion",
                json_object_get(json_object_get(current, "metadata"), "resourceVersion"));
        json_t *old = req->kind->store == APISERVER_STORE_PRR ? NULL : current;
        code = do_update(req, result, old);
        json_decref(current);
        int failed = code < 0 ? porch_error_last()->code : 0;
        if (copy && failed) {
            apiserver_recent_forget(req->ctx->recent, req_ns(req), req->route->name);
            if (failed == 409 || failed == 422 || failed == 400)
                continue; /* judged on what may have been a stale copy: fetch, re-apply */
        }
        if (code < 0 && (pinned || porch_error_last()->code != 409))
            break;
    }
    code = code < 0 ? apiserver_resource_reply_error(req) : reply_object(req, code, result);
    json_decref(result);
    json_decref(patch);
    return code;
}

/* ---- delete ---- */

/* DELETE of a Namespace: it turns Terminating (deletionTimestamp, phase,
 * "kubernetes" in spec.finalizers) and the namespace controller deletes its
 * content, then it. Already Terminating: answered as it is. *result gets
 * {"object": ...} of the stored Namespace. */
static int mark_terminating(apiserver_request *req, json_t *old, json_t **result)
{
    *result = NULL;
    if (apiserver_namespace_terminating(old))
        return 0;
    json_t *obj = json_deep_copy(old);
    char now[32];
    now_rfc3339(now, sizeof(now));
    json_object_set_new(meta_of(obj), "deletionTimestamp", json_string(now));
    apiserver_namespace_add_finalizer(obj); /* one stored without it: its content goes too */
    json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Terminating"));
    const char *rv = meta_str(old, "resourceVersion");
    int rc = peer_call(req, req->ctx->cache, "cache.put",
                       json_pack("{s:s, s:s, s:s, s:O, s:s, s:s}", "kind", req->kind->bus_kind,
                                 "namespace", "", "name", req->route->name, "object", obj, "mode",
                                 "update", "resourceVersion", rv ? rv : ""),
                       result);
    json_decref(obj);
    if (rc != 0 && porch_error_last()->code == 409)
        conflict(req, req->route->name, stale_text);
    return rc;
}

static int serve_delete(apiserver_request *req)
{
    const char *name = req->route->name;
    json_t *opts = NULL;
    const struct mg_request_info *ri = mg_get_request_info(req->conn);
    if (ri->content_length != 0) {
        char *buf = NULL;
        size_t len = 0;
        if (apiserver_body_read(req->conn, req->ctx->body_max, &buf, &len) != 0)
            return apiserver_resource_reply_error(req);
        if (len > 0 && apiserver_body_json(buf, len, &opts) != 0) {
            free(buf);
            return apiserver_resource_reply_error(req);
        }
        free(buf);
    }
    json_t *pre = json_object_get(opts, "preconditions");
    const char *want_uid = json_string_value(json_object_get(pre, "uid"));
    const char *want_rv = json_string_value(json_object_get(pre, "resourceVersion"));
    json_t *dry = json_object_get(opts, "dryRun");
    int dry_opts = json_is_array(dry) && json_array_size(dry) > 0;
    json_t *old = NULL, *result = NULL;
    int code = -1;
    if (fetch(req, name, &old) != 0)
        goto out;
    const char *uid = meta_str(old, "uid"), *rv = meta_str(old, "resourceVersion");
    if ((want_uid && uid && strcmp(want_uid, uid) != 0) ||
        (want_rv && rv && strcmp(want_rv, rv) != 0)) {
        char why[300];
        snprintf(why, sizeof(why), "Precondition failed: %s in precondition: %s, %s in object: %s",
                 want_uid ? "UID" : "ResourceVersion", want_uid ? want_uid : want_rv,
                 want_uid ? "UID" : "ResourceVersion", want_uid ? uid : rv);
        conflict(req, name, why);
        goto out;
    }
    if (dry_run(req) || dry_opts) {
        code = reply_object(req, 200, old);
        goto out;
    }
    if (strcmp(req->kind->resource, "namespaces") == 0) {
        if (mark_terminating(req, old, &result) != 0)
            goto out;
        apiserver_ns_controller_kick(req->ctx->namespaces);
        json_t *obj = take_object(result);
        result = NULL;
        if (obj == NULL)
            obj = json_incref(old);
        stamp_type(req->kind, obj);
        code = reply_object(req, 200, obj);
        json_decref(obj);
        goto out;
    }
    json_t *args =
        json_pack("{s:s, s:s, s:s, s:s}", "namespace", req_ns(req), "name", name, "resourceVersion",
                  want_rv ? want_rv : "", "uid", want_uid ? want_uid : "");
    if (req->kind->store == APISERVER_STORE_PR) {
        apiserver_recent_forget(req->ctx->recent, req_ns(req), name);
        if (peer_call(req, req->ctx->engine, "engine.delete", args, &result) != 0)
            goto out;
    } else if (json_array_size(json_object_get(json_object_get(old, "metadata"), "finalizers")) >
               0) {
        /* Finalizers pending: mark for deletion; the last finalizer removal deletes. */
        json_decref(args);
        if (json_object_get(json_object_get(old, "metadata"), "deletionTimestamp") == NULL) {
            char now[32];
            now_rfc3339(now, sizeof(now));
            json_object_set_new(meta_of(old), "deletionTimestamp", json_string(now));
            if (peer_call(req, req->ctx->cache, "cache.put",
                          json_pack("{s:s, s:s, s:s, s:O, s:s, s:s}", "kind", req->kind->bus_kind,
                                    "namespace", req_ns(req), "name", name, "object", old, "mode",
                                    "update", "resourceVersion", rv ? rv : ""),
                          &result) != 0)
                goto out;
        } else {
            result = json_pack("{s:O}", "object", old);
        }
    } else {
        json_object_set_new(args, "kind", json_string(req->kind->bus_kind));
        if (peer_call(req, req->ctx->cache, "cache.delete", args, &result) != 0) {
            if (porch_error_last()->code == 409)
                conflict(req, name, stale_text);
            goto out;
        }
    }
    json_t *obj = take_object(result);
    result = NULL;
    if (obj == NULL)
        obj = json_incref(old);
    stamp_type(req->kind, obj);
    code = reply_object(req, 200, obj);
    json_decref(obj);
out:
    if (code < 0)
        code = apiserver_resource_reply_error(req);
    json_decref(result);
    json_decref(old);
    json_decref(opts);
    return code;
}

/* ---- dispatch ---- */

static int has_verb(const apiserver_kind *k, const char *verb)
{
    char needle[40];
    snprintf(needle, sizeof(needle), " %s ", verb);
    return strstr(k->verbs, needle) != NULL;
}

static int method_not_allowed(apiserver_request *req)
{
    char q[160];
    porch_error_set_reason(405, "MethodNotAllowed",
                           "the server does not allow this method on the requested resource: "
                           "%s %s%s%s",
                           req->method, qualified(req->kind, q, sizeof(q)),
                           req->route->subresource[0] ? "/" : "", req->route->subresource);
    return apiserver_resource_reply_error(req);
}

int apiserver_resource_serve(apiserver_request *req)
{
    const apiserver_route *r = req->route;
    if (req->kind == NULL) {
        porch_error_set_reason(
            404, "NotFound", "the server could not find the requested resource (%s %s%s%s)",
            r->core ? "v1" : r->group, r->resource, r->name[0] ? "/" : "", r->name);
        return apiserver_resource_reply_error(req);
    }
    if (r->subresource[0] != '\0' &&
        (req->kind->subresource == NULL || strcmp(r->subresource, req->kind->subresource) != 0)) {
        porch_error_set_reason(404, "NotFound",
                               "the server could not find the requested resource "
                               "(%s/%s)",
                               r->resource, r->subresource);
        return apiserver_resource_reply_error(req);
    }
    if (req->kind->namespaced && r->ns[0] == '\0' && strcmp(req->verb, "list") != 0 &&
        strcmp(req->verb, "watch") != 0) {
        porch_error_set_reason(404, "NotFound",
                               "%s are namespaced: use /namespaces/NAMESPACE/%s in the path",
                               r->resource, r->resource);
        return apiserver_resource_reply_error(req);
    }
    if (r->subresource[0] != '\0' && strcmp(req->verb, "get") != 0 &&
        strcmp(req->verb, "update") != 0 && strcmp(req->verb, "patch") != 0)
        return method_not_allowed(req);
    if (req->verb[0] == '\0' || !has_verb(req->kind, req->verb))
        return method_not_allowed(req);
    if (strcmp(req->verb, "get") == 0)
        return serve_get(req);
    if (strcmp(req->verb, "list") == 0 || strcmp(req->verb, "watch") == 0)
        return serve_list(req);
    if (strcmp(req->verb, "create") == 0)
        return serve_create(req);
    if (strcmp(req->verb, "update") == 0)
        return serve_update(req);
    if (strcmp(req->verb, "patch") == 0)
        return serve_patch(req);
    if (strcmp(req->verb, "delete") == 0)
        return serve_delete(req);
    return method_not_allowed(req);
}
