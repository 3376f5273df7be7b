/* OpenAPI documents for kubectl: /openapi/v3 (the root index and one
 * document per group/version, which `kubectl explain` reads and whose PATCH
 * operations advertise fieldValidation so kubectl validates server-side) and
 * /openapi/v2 (one JSON document). Schemas are small hand-written subsets of
 * Porch's types, built once at start-up and served as pre-rendered text. */
#include "apiserver.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct schema_def {
    const char *group;
    const char *version;
    const char *kind;
    const char *resource;
    int namespaced;
    const char *description;
    const char *spec_json;   /* JSON schema of .spec (or the top-level extras for core kinds) */
    const char *status_json; /* JSON schema of .status, or NULL */
} schema_def;

#define STR "{\"type\":\"string\"}"
#define INT "{\"type\":\"integer\"}"
#define BOOL "{\"type\":\"boolean\"}"
#define STRMAP "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}"

/* clang-format off */
static const schema_def defs[] = {
    {"config.porch.kpt.dev", "v1alpha1", "Repository", "repositories", 1,
     "Repository registers a git repository or OCI registry with Porch.",
     "{\"type\":\"object\",\"description\":\"RepositorySpec defines the desired state of Repository.\",\"properties\":{"
     "\"description\":{\"type\":\"string\",\"description\":\"User-friendly description of the repository.\"},"
     "\"type\":{\"type\":\"string\",\"enum\":[\"git\",\"oci\"],\"description\":\"Type of the repository (git or oci). Immutable.\"},"
     "\"deployment\":{\"type\":\"boolean\",\"description\":\"The repository holds deployment packages.\"},"
     "\"content\":{\"type\":\"string\",\"description\":\"Content stored in the repository; only Package.\"},"
     "\"sync\":{\"type\":\"object\",\"properties\":{\"schedule\":{\"type\":\"string\",\"description\":\"Cron expression for periodic syncs.\"},\"runOnceAt\":{\"type\":\"string\",\"format\":\"date-time\"}}},"
     "\"git\":{\"type\":\"object\",\"description\":\"Git repository details.\",\"required\":[\"repo\"],\"properties\":{"
     "\"repo\":{\"type\":\"string\",\"description\":\"Address of the git repository. Immutable.\"},"
     "\"branch\":{\"type\":\"string\",\"description\":\"Branch Porch works on (default main). Immutable.\"},"
     "\"createBranch\":" BOOL ",\"directory\":{\"type\":\"string\",\"description\":\"Directory within the repository. Immutable.\"},"
     "\"secretRef\":{\"type\":\"object\",\"properties\":{\"name\":" STR "}},\"author\":" STR ",\"email\":" STR "}},"
     "\"oci\":{\"type\":\"object\",\"properties\":{\"registry\":" STR ",\"secretRef\":{\"type\":\"object\",\"properties\":{\"name\":" STR "}}}}}}",
     "{\"type\":\"object\",\"description\":\"RepositoryStatus is the observed state of Repository.\",\"properties\":{"
     "\"conditions\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"type\":" STR ",\"status\":" STR ",\"reason\":" STR ",\"message\":" STR ",\"lastTransitionTime\":" STR ",\"observedGeneration\":" INT "}}},"
     "\"lastFullSyncTime\":" STR ",\"nextFullSyncTime\":" STR ",\"observedGeneration\":" INT ",\"packageCount\":" INT ",\"gitCommitHash\":" STR "}}"},
    {"porch.kpt.dev", "v1alpha1", "PackageRevision", "packagerevisions", 1,
     "PackageRevision is one revision of a kpt package in a registered repository.",
     "{\"type\":\"object\",\"description\":\"PackageRevisionSpec defines the desired state of PackageRevision.\",\"properties\":{"
     "\"packageName\":{\"type\":\"string\",\"description\":\"Path of the package under the repository directory.\"},"
     "\"repository\":{\"type\":\"string\",\"description\":\"Name of the Repository.\"},"
     "\"workspaceName\":{\"type\":\"string\",\"description\":\"Unique workspace name of this revision.\"},"
     "\"revision\":{\"type\":\"integer\",\"description\":\"Revision number; 0 for drafts, -1 for placeholders.\"},"
     "\"lifecycle\":{\"type\":\"string\",\"enum\":[\"Draft\",\"Proposed\",\"Published\",\"DeletionProposed\"]},"
     "\"tasks\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"type\":" STR "}}},"
     "\"readinessGates\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"conditionType\":" STR "}}},"
     "\"packageMetadata\":{\"type\":\"object\",\"properties\":{\"labels\":" STRMAP ",\"annotations\":" STRMAP "}}}}",
     "{\"type\":\"object\",\"properties\":{\"upstreamLock\":{\"type\":\"object\"},\"selfLock\":{\"type\":\"object\"},"
     "\"publishedBy\":" STR ",\"publishTimestamp\":" STR ",\"deployment\":" BOOL ",\"conditions\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}}}}"},
    {"porch.kpt.dev", "v1alpha1", "PackageRevisionResources", "packagerevisionresources", 1,
     "PackageRevisionResources holds the files of a package revision.",
     "{\"type\":\"object\",\"properties\":{\"packageName\":" STR ",\"workspaceName\":" STR ",\"revision\":" INT ",\"repository\":" STR ","
     "\"resources\":{\"type\":\"object\",\"description\":\"File contents by path.\",\"additionalProperties\":{\"type\":\"string\"}}}}",
     "{\"type\":\"object\",\"properties\":{\"renderStatus\":{\"type\":\"object\"}}}"},
    {"porch.kpt.dev", "v1alpha1", "PorchPackage", "packages", 1,
     "PorchPackage is a package across its revisions.",
     "{\"type\":\"object\",\"properties\":{\"packageName\":" STR ",\"repository\":" STR "}}",
     "{\"type\":\"object\",\"properties\":{\"latestRevision\":" INT "}}"},
    {"", "v1", "Namespace", "namespaces", 0, "Namespace provides a scope for names.",
     "{\"type\":\"object\",\"properties\":{\"finalizers\":{\"type\":\"array\",\"items\":" STR "}}}",
     "{\"type\":\"object\",\"properties\":{\"phase\":" STR "}}"},
    {"", "v1", "Secret", "secrets", 1, "Secret holds secret data of a certain type.", NULL, NULL},
};
/* clang-format on */
#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

typedef struct openapi_doc {
    char path[128];
    char *body;
} openapi_doc;

struct apiserver_openapi {
    openapi_doc docs[8];
    size_t n;
};

static json_t *meta_schema(void)
{
    return json_pack(
        "{s:s, s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s, s:{s:s}}, "
        "s:{s:s, s:{s:s}}, s:{s:s, s:{s:s}}}}",
        "type", "object", "description",
        "Standard object's metadata: name, namespace, labels, annotations, resourceVersion...",
        "properties", "name", "type", "string", "namespace", "type", "string", "uid", "type",
        "string", "resourceVersion", "type", "string", "creationTimestamp", "type", "string",
        "generateName", "type", "string", "labels", "type", "object", "additionalProperties",
        "type", "string", "annotations", "type", "object", "additionalProperties", "type", "string",
        "finalizers", "type", "array", "items", "type", "string");
}

static json_t *schema_for(const schema_def *d)
{
    json_t *props = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:o}", "apiVersion", "type", "string",
                              "description", "APIVersion of this object.", "kind", "type", "string",
                              "description", "Kind of this object.", "metadata", meta_schema());
    if (d->spec_json != NULL)
        json_object_set_new(props, "spec", json_loads(d->spec_json, 0, NULL));
    if (d->status_json != NULL)
        json_object_set_new(props, "status", json_loads(d->status_json, 0, NULL));
    if (strcmp(d->kind, "Secret") == 0) {
        json_object_set_new(props, "type", json_pack("{s:s}", "type", "string"));
        json_object_set_new(props, "data",
                            json_pack("{s:s, s:{s:s, s:s}}", "type", "object",
                                      "additionalProperties", "type", "string", "format", "byte"));
        json_object_set_new(props, "stringData",
                            json_pack("{s:s, s:{s:s}}", "type", "object", "additionalProperties",
                                      "type", "string"));
        json_object_set_new(props, "immutable", json_pack("{s:s}", "type", "boolean"));
    }
    return json_pack("{s:s, s:s, s:o, s:[{s:s, s:s, s:s}]}", "type", "object", "description",
                     d->description, "properties", props, "x-kubernetes-group-version-kind",
                     "group", d->group, "kind", d->kind, "version", d->version);
}

static void schema_name(const schema_def *d, char *buf, size_t cap)
{
    if (d->group[0] == '\0')
        snprintf(buf, cap, "io.k8s.api.core.%s.%s", d->version, d->kind);
    else
        snprintf(buf, cap, "dev.kpt.porch.%s.%s.%s",
                 strncmp(d->group, "config.", 7) == 0 ? "config" : "api", d->version, d->kind);
}

/* The write operations of one resource path, each naming its GVK and the
 * dryRun / fieldValidation / fieldManager parameters. */
static json_t *operations(const schema_def *d, const char *ref, int item)
{
    json_t *params = json_pack("[{s:s, s:s, s:{s:s}}, {s:s, s:s, s:{s:s}}, {s:s, s:s, s:{s:s}}]",
                               "name", "dryRun", "in", "query", "schema", "type", "string", "name",
                               "fieldValidation", "in", "query", "schema", "type", "string", "name",
                               "fieldManager", "in", "query", "schema", "type", "string");
    json_t *gvk =
        json_pack("{s:s, s:s, s:s}", "group", d->group, "kind", d->kind, "version", d->version);
    json_t *resp = json_pack("{s:{s:s, s:{s:{s:{s:s}}}}}", "200", "description", "OK", "content",
                             "application/json", "schema", "$ref", ref);
    json_t *path = json_object();
    const char *verbs[] = {item ? "get" : "get", item ? "put" : "post", item ? "patch" : NULL,
                           item ? "delete" : NULL};
    const char *actions[] = {item ? "get" : "list", item ? "put" : "post", "patch", "delete"};
    for (size_t i = 0; i < 4; i++) {
        if (verbs[i] == NULL)
            continue;
        json_t *op =
            json_pack("{s:O, s:s, s:O, s:s}", "responses", resp, "x-kubernetes-action", actions[i],
                      "x-kubernetes-group-version-kind", gvk, "operationId", actions[i]);
        if (i > 0)
            json_object_set(op, "parameters", params);
        json_object_set_new(path, verbs[i], op);
    }
    json_decref(params);
    json_decref(gvk);
    json_decref(resp);
    return path;
}

static char *render_v3(const char *group, const char *version)
{
    json_t *schemas = json_object();
    json_t *paths = json_object();
    for (size_t i = 0; i < N_DEFS; i++) {
        const schema_def *d = &defs[i];
        if (strcmp(d->group, group) != 0 || strcmp(d->version, version) != 0)
            continue;
        char name[160], ref[200], base[200], item[260];
        schema_name(d, name, sizeof(name));
        snprintf(ref, sizeof(ref), "#/components/schemas/%s", name);
        json_object_set_new(schemas, name, schema_for(d));
        if (group[0] == '\0')
            snprintf(base, sizeof(base), "/api/%s/%s%s", version,
                     d->namespaced ? "namespaces/{namespace}/" : "", d->resource);
        else
            snprintf(base, sizeof(base), "/apis/%s/%s/%s%s", group, version,
                     d->namespaced ? "namespaces/{namespace}/" : "", d->resource);
        snprintf(item, sizeof(item), "%s/{name}", base);
        json_object_set_new(paths, base, operations(d, ref, 0));
        json_object_set_new(paths, item, operations(d, ref, 1));
    }
    char title[128];
    snprintf(title, sizeof(title), "Porch %s%s%s", group, group[0] ? "/" : "", version);
    json_t *doc =
        json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:o}}", "openapi", "3.0.0", "info", "title", title,
                  "version", version, "paths", paths, "components", "schemas", schemas);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

static char *render_v2(void)
{
    json_t *schemas = json_object();
    for (size_t i = 0; i < N_DEFS; i++) {
        char name[160];
        schema_name(&defs[i], name, sizeof(name));
        json_object_set_new(schemas, name, schema_for(&defs[i]));
    }
    json_t *doc = json_pack("{s:s, s:{s:s, s:s}, s:{}, s:o}", "swagger", "2.0", "info", "title",
                            "Porch", "version", PORCH_VERSION, "paths", "definitions", schemas);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

static void add(apiserver_openapi *o, const char *path, char *body)
{
    if (o->n < sizeof(o->docs) / sizeof(o->docs[0]) && body != NULL) {
        snprintf(o->docs[o->n].path, sizeof(o->docs[0].path), "%s", path);
        o->docs[o->n++].body = body;
    } else {
        free(body);
    }
}

int apiserver_openapi_new(apiserver_openapi **out)
{
    apiserver_openapi *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return porch_error_set(500, "out of memory");
    static const char *const gvs[][3] = {
        {"", "v1", "api/v1"},
        {"porch.kpt.dev", "v1alpha1", "apis/porch.kpt.dev/v1alpha1"},
        {"config.porch.kpt.dev", "v1alpha1", "apis/config.porch.kpt.dev/v1alpha1"},
    };
    json_t *index = json_object();
    for (size_t i = 0; i < 3; i++) {
        char path[128], url[200];
        snprintf(path, sizeof(path), "/openapi/v3/%s", gvs[i][2]);
        char *body = render_v3(gvs[i][0], gvs[i][1]);
        unsigned long h = 5381;
        for (const char *p = body ? body : ""; *p; p++)
            h = h * 33 + (unsigned char)*p;
        snprintf(url, sizeof(url), "%s?hash=%016lX", path, h);
        json_object_set_new(index, gvs[i][2], json_pack("{s:s}", "serverRelativeURL", url));
        add(o, path, body);
    }
    json_t *root = json_pack("{s:o}", "paths", index);
    add(o, "/openapi/v3", json_dumps(root, JSON_COMPACT));
    json_decref(root);
    add(o, "/openapi/v2", render_v2());
    *out = o;
    return 0;
}

void apiserver_openapi_free(apiserver_openapi *o)
{
    if (o == NULL)
        return;
    for (size_t i = 0; i < o->n; i++)
        free(o->docs[i].body);
    free(o);
}

const char *apiserver_openapi_lookup(const apiserver_openapi *o, const char *path)
{
    for (size_t i = 0; o != NULL && i < o->n; i++)
        if (strcmp(o->docs[i].path, path) == 0)
            return o->docs[i].body;
    return NULL;
}
