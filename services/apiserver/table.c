/* meta.k8s.io/v1 Table responses, what `kubectl get` prints: the columns of
 * spec/porch-api.md §3.4 for package revisions, resources and packages, the
 * Repository CRD printer columns of §9, and the kube-apiserver columns for
 * namespaces and secrets. Ages are rendered here, as the server does. */
#include "apiserver.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct column {
    const char *name;
    const char *type;
    const char *format;
    int priority;
    const char *description;
} column;

#define NAME_COL                                                                                   \
    {                                                                                              \
        "Name", "string", "name", 0, "Name must be unique within a namespace."                     \
    }
#define AGE_COL                                                                                    \
    {                                                                                              \
        "Age", "date", "", 0, "Time since the object was created."                                 \
    }

static const column pr_cols[] = {
    NAME_COL,
    {"Package", "string", "", 0, "spec.packageName"},
    {"WorkspaceName", "string", "", 0, "spec.workspaceName"},
    {"Revision", "integer", "", 0, "spec.revision"},
    {"Latest", "boolean", "", 0, "label kpt.dev/latest-revision"},
    {"Lifecycle", "string", "", 0, "spec.lifecycle"},
    {"Repository", "string", "", 0, "spec.repository"},
    {NULL, NULL, NULL, 0, NULL},
};
static const column prr_cols[] = {
    NAME_COL,
    {"Package", "string", "", 0, "spec.packageName"},
    {"WorkspaceName", "string", "", 0, "spec.workspaceName"},
    {"Revision", "integer", "", 0, "spec.revision"},
    {"Repository", "string", "", 0, "spec.repository"},
    {"Files", "integer", "", 0, "number of files in spec.resources"},
    {NULL, NULL, NULL, 0, NULL},
};
static const column pkg_cols[] = {
    NAME_COL,
    {"Package", "string", "", 0, "spec.packageName"},
    {"Repository", "string", "", 0, "spec.repository"},
    {"Latest Revision", "integer", "", 0, "status.latestRevision"},
    {NULL, NULL, NULL, 0, NULL},
};
static const column repo_cols[] = {
    NAME_COL,
    {"Type", "string", "", 0, ".spec.type"},
    {"Content", "string", "", 0, ".spec.content"},
    {"Sync schedule", "string", "", 0, ".spec.sync.schedule"},
    {"Deployment", "boolean", "", 0, ".spec.deployment"},
    {"Ready", "string", "", 0, ".status.conditions[?(@.type=='Ready')].status"},
    {"Address", "string", "", 0, ".spec['git','oci']['repo','registry']"},
    {"Branch", "string", "", 0, ".spec.git.branch"},
    AGE_COL,
    {NULL, NULL, NULL, 0, NULL},
};
static const column ns_cols[] = {
    NAME_COL,
    {"Status", "string", "", 0, "The status of the namespace"},
    AGE_COL,
    {NULL, NULL, NULL, 0, NULL},
};
static const column secret_cols[] = {
    NAME_COL,
    {"Type", "string", "", 0, "The type of the secret"},
    {"Data", "string", "", 0, "The number of keys in the secret"},
    AGE_COL,
    {NULL, NULL, NULL, 0, NULL},
};

static const column *columns_for(const apiserver_kind *k)
{
    if (strcmp(k->resource, "packagerevisions") == 0)
        return pr_cols;
    if (strcmp(k->resource, "packagerevisionresources") == 0)
        return prr_cols;
    if (strcmp(k->resource, "packages") == 0)
        return pkg_cols;
    if (strcmp(k->resource, "repositories") == 0)
        return repo_cols;
    if (strcmp(k->resource, "namespaces") == 0)
        return ns_cols;
    return secret_cols;
}

static json_t *str_or_null(json_t *v)
{
    return json_is_string(v) ? json_incref(v) : json_null();
}

static json_t *get2(json_t *obj, const char *a, const char *b)
{
    return json_object_get(json_object_get(obj, a), b);
}

/* "5m", "3h", "2d" as kubectl's HumanDuration prints them (short form). */
static json_t *age(json_t *obj)
{
    const char *ts = json_string_value(get2(obj, "metadata", "creationTimestamp"));
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (ts == NULL || strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
        return json_string("<unknown>");
    long secs = (long)difftime(time(NULL), timegm(&tm));
    char buf[32];
    if (secs < 0)
        secs = 0;
    if (secs < 120)
        snprintf(buf, sizeof(buf), "%lds", secs);
    else if (secs < 3600 * 3)
        snprintf(buf, sizeof(buf), "%ldm", secs / 60);
    else if (secs < 86400 * 2)
        snprintf(buf, sizeof(buf), "%ldh", secs / 3600);
    else
        snprintf(buf, sizeof(buf), "%ldd", secs / 86400);
    return json_string(buf);
}

static json_t *ready_status(json_t *obj)
{
    size_t i;
    json_t *c;
    json_array_foreach(get2(obj, "status", "conditions"), i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        if (type && strcmp(type, "Ready") == 0)
            return str_or_null(json_object_get(c, "status"));
    }
    return json_null();
}

static json_t *cells_for(const apiserver_kind *k, json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    json_t *name = str_or_null(get2(obj, "metadata", "name"));
    if (strcmp(k->resource, "packagerevisions") == 0) {
        const char *latest = json_string_value(
            json_object_get(get2(obj, "metadata", "labels"), "kpt.dev/latest-revision"));
        const char *lc = json_string_value(json_object_get(spec, "lifecycle"));
        return json_pack("[o, o, o, I, b, s, o]", name,
                         str_or_null(json_object_get(spec, "packageName")),
                         str_or_null(json_object_get(spec, "workspaceName")),
                         json_integer_value(json_object_get(spec, "revision")),
                         latest && strcmp(latest, "true") == 0, lc && *lc ? lc : "Draft",
                         str_or_null(json_object_get(spec, "repository")));
    }
    if (strcmp(k->resource, "packagerevisionresources") == 0)
        return json_pack("[o, o, o, I, o, I]", name,
                         str_or_null(json_object_get(spec, "packageName")),
                         str_or_null(json_object_get(spec, "workspaceName")),
                         json_integer_value(json_object_get(spec, "revision")),
                         str_or_null(json_object_get(spec, "repository")),
                         (json_int_t)json_object_size(json_object_get(spec, "resources")));
    if (strcmp(k->resource, "packages") == 0)
        return json_pack("[o, o, o, I]", name, str_or_null(json_object_get(spec, "packageName")),
                         str_or_null(json_object_get(spec, "repository")),
                         json_integer_value(get2(obj, "status", "latestRevision")));
    if (strcmp(k->resource, "repositories") == 0) {
        json_t *addr = get2(spec, "git", "repo");
        if (addr == NULL)
            addr = get2(spec, "oci", "registry");
        json_t *dep = json_object_get(spec, "deployment");
        return json_pack("[o, o, o, o, o, o, o, o, o]", name,
                         str_or_null(json_object_get(spec, "type")),
                         str_or_null(json_object_get(spec, "content")),
                         str_or_null(get2(spec, "sync", "schedule")),
                         json_is_boolean(dep) ? json_incref(dep) : json_null(), ready_status(obj),
                         str_or_null(addr), str_or_null(get2(spec, "git", "branch")), age(obj));
    }
    if (strcmp(k->resource, "namespaces") == 0)
        return json_pack("[o, o, o]", name, str_or_null(get2(obj, "status", "phase")), age(obj));
    return json_pack("[o, o, I, o]", name, str_or_null(json_object_get(obj, "type")),
                     (json_int_t)json_object_size(json_object_get(obj, "data")), age(obj));
}

static json_t *row_object(json_t *obj, const char *include)
{
    if (include && strcmp(include, "Object") == 0)
        return json_incref(obj);
    json_t *meta = json_object_get(obj, "metadata");
    return json_pack("{s:s, s:s, s:O}", "kind", "PartialObjectMetadata", "apiVersion",
                     "meta.k8s.io/v1", "metadata", meta ? meta : json_object());
}

json_t *apiserver_table_row(const apiserver_kind *kind, json_t *obj, const char *include)
{
    json_t *row = json_pack("{s:o}", "cells", cells_for(kind, obj));
    if (!(include && strcmp(include, "None") == 0))
        json_object_set_new(row, "object", row_object(obj, include));
    return row;
}

json_t *apiserver_table_new(const apiserver_kind *kind, json_t *items, const char *include)
{
    json_t *defs = json_array();
    for (const column *c = columns_for(kind); c->name; c++)
        json_array_append_new(defs, json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", c->name, "type",
                                              c->type, "format", c->format, "description",
                                              c->description, "priority", c->priority));
    json_t *rows = json_array();
    size_t i;
    json_t *obj;
    json_array_foreach(items, i, obj)
        json_array_append_new(rows, apiserver_table_row(kind, obj, include));
    return json_pack("{s:s, s:s, s:{}, s:o, s:o}", "kind", "Table", "apiVersion", "meta.k8s.io/v1",
                     "metadata", "columnDefinitions", defs, "rows", rows);
}
