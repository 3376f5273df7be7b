/* The discovery documents kubectl reads before anything else: /api, /api/v1,
 * /apis, /apis/<group> and /apis/<group>/<version>, plus /version. They are
 * static, so they are built once from the tables below (names, kinds and
 * verbs as in spec/porch-api.md §2) and served as pre-rendered JSON text. */
#include "apiserver.h"

#include "error/error.h"

#include <stdlib.h>
#include <string.h>

typedef struct resource_def {
    const char *name;
    const char *singular;
    const char *kind;
    int namespaced;
    const char *verbs;      /* space-separated, sorted as Kubernetes lists them */
    const char *short_name; /* NULL when none */
} resource_def;

typedef struct group_version_def {
    const char *group; /* "" for the core group */
    const char *version;
    const resource_def *resources;
} group_version_def;

/* Core v1: served by the standalone apiserver because no kube-apiserver is behind it. */
static const resource_def core_v1[] = {
    {"namespaces", "namespace", "Namespace", 0, "create delete get list patch update watch", "ns"},
    {"secrets", "secret", "Secret", 1, "create delete get list patch update watch", NULL},
    {NULL, NULL, NULL, 0, NULL, NULL},
};

static const resource_def porch_v1alpha1[] = {
    {"packagerevisions", "packagerevision", "PackageRevision", 1,
     "create delete get list patch update watch", NULL},
    {"packagerevisions/approval", "", "PackageRevision", 1, "get patch update", NULL},
    {"packagerevisionresources", "packagerevisionresources", "PackageRevisionResources", 1,
     "get list patch update", NULL},
    {"packages", "package", "PorchPackage", 1, "get list", NULL},
    {NULL, NULL, NULL, 0, NULL, NULL},
};

/* Repository is a CRD upstream, so it carries the CRD verb set and /status. */
static const resource_def config_v1alpha1[] = {
    {"repositories", "repository", "Repository", 1,
     "create delete deletecollection get list patch update watch", "repo"},
    {"repositories/status", "", "Repository", 1, "get patch update", NULL},
    {NULL, NULL, NULL, 0, NULL, NULL},
};

static const group_version_def group_versions[] = {
    {"", "v1", core_v1},
    {"porch.kpt.dev", "v1alpha1", porch_v1alpha1},
    {"config.porch.kpt.dev", "v1alpha1", config_v1alpha1},
};
#define N_GROUP_VERSIONS (sizeof(group_versions) / sizeof(group_versions[0]))

/* One served path and its pre-rendered body. */
typedef struct discovery_doc {
    char *path;
    char *body;
} discovery_doc;

struct apiserver_discovery {
    discovery_doc docs[16];
    size_t n_docs;
};

static json_t *verbs_array(const char *verbs)
{
    json_t *arr = json_array();
    const char *p = verbs;
    while (*p != '\0') {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        json_array_append_new(arr, json_stringn(p, len));
        p += len;
        while (*p == ' ')
            p++;
    }
    return arr;
}

static json_t *resource_json(const resource_def *r)
{
    json_t *o =
        json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", r->name, "singularName", r->singular,
                  "namespaced", r->namespaced, "kind", r->kind, "verbs", verbs_array(r->verbs));
    if (r->short_name != NULL)
        json_object_set_new(o, "shortNames", json_pack("[s]", r->short_name));
    return o;
}

static json_t *group_version_json(const group_version_def *gv)
{
    char text[128];
    snprintf(text, sizeof(text), "%s/%s", gv->group, gv->version);
    return json_pack("{s:s, s:s}", "groupVersion", text, "version", gv->version);
}

/* APIResourceList for one group/version; the core list has no apiVersion, as in Kubernetes. */
static json_t *resource_list_json(const group_version_def *gv)
{
    json_t *resources = json_array();
    for (const resource_def *r = gv->resources; r->name != NULL; r++)
        json_array_append_new(resources, resource_json(r));
    char gvtext[128];
    if (gv->group[0] == '\0')
        snprintf(gvtext, sizeof(gvtext), "%s", gv->version);
    else
        snprintf(gvtext, sizeof(gvtext), "%s/%s", gv->group, gv->version);
    json_t *doc = json_pack("{s:s, s:s, s:o}", "kind", "APIResourceList", "groupVersion", gvtext,
                            "resources", resources);
    if (gv->group[0] != '\0')
        json_object_set_new(doc, "apiVersion", json_string("v1"));
    return doc;
}

/* APIGroup for a named group (one version each today). */
static json_t *group_json(const group_version_def *gv)
{
    return json_pack("{s:s, s:s, s:s, s:[o], s:o}", "kind", "APIGroup", "apiVersion", "v1", "name",
                     gv->group, "versions", group_version_json(gv), "preferredVersion",
                     group_version_json(gv));
}

static json_t *group_list_json(void)
{
    json_t *groups = json_array();
    for (size_t i = 0; i < N_GROUP_VERSIONS; i++) {
        if (group_versions[i].group[0] == '\0')
            continue;
        json_t *g = group_json(&group_versions[i]);
        json_object_del(g, "kind");
        json_object_del(g, "apiVersion");
        json_array_append_new(groups, g);
    }
    return json_pack("{s:s, s:s, s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups",
                     groups);
}

static json_t *api_versions_json(const char *server_address)
{
    return json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions", "versions", "v1",
                     "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress",
                     server_address);
}

/* Renders `doc` (stolen) under `path`. */
static int add_doc(apiserver_discovery *d, const char *path, json_t *doc)
{
    if (doc == NULL || d->n_docs == sizeof(d->docs) / sizeof(d->docs[0])) {
        json_decref(doc);
        return porch_error_set(500, "discovery: cannot build the document for %s", path);
    }
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    char *p = strdup(path);
    if (body == NULL || p == NULL) {
        free(body);
        free(p);
        return porch_error_set(500, "discovery: out of memory rendering %s", path);
    }
    d->docs[d->n_docs].path = p;
    d->docs[d->n_docs].body = body;
    d->n_docs++;
    return 0;
}

int apiserver_discovery_new(const char *server_address, apiserver_discovery **out)
{
    apiserver_discovery *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return porch_error_set(500, "discovery: out of memory");
    int rc = add_doc(d, "/api", api_versions_json(server_address));
    if (rc == 0)
        rc = add_doc(d, "/apis", group_list_json());
    for (size_t i = 0; rc == 0 && i < N_GROUP_VERSIONS; i++) {
        const group_version_def *gv = &group_versions[i];
        char path[160];
        if (gv->group[0] == '\0') {
            snprintf(path, sizeof(path), "/api/%s", gv->version);
        } else {
            snprintf(path, sizeof(path), "/apis/%s", gv->group);
            rc = add_doc(d, path, group_json(gv));
            snprintf(path, sizeof(path), "/apis/%s/%s", gv->group, gv->version);
        }
        if (rc == 0)
            rc = add_doc(d, path, resource_list_json(gv));
    }
    if (rc != 0) {
        apiserver_discovery_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void apiserver_discovery_free(apiserver_discovery *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n_docs; i++) {
        free(d->docs[i].path);
        free(d->docs[i].body);
    }
    free(d);
}

const char *apiserver_discovery_lookup(const apiserver_discovery *d, const char *path)
{
    for (size_t i = 0; i < d->n_docs; i++)
        if (strcmp(d->docs[i].path, path) == 0)
            return d->docs[i].body;
    return NULL;
}

#if defined(__x86_64__)
#define DISCOVERY_ARCH "amd64"
#elif defined(__aarch64__)
#define DISCOVERY_ARCH "arm64"
#else
#define DISCOVERY_ARCH "unknown"
#endif

/* kubectl warns when the server's minor version is far from its own, so we
 * report the Kubernetes API level we implement and put ours in gitVersion. */
json_t *apiserver_discovery_version(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major", "1", "minor", "32",
                     "gitVersion", "v1.32.0+porch-c-" PORCH_VERSION, "gitCommit", "",
                     "gitTreeState", "", "buildDate", "", "goVersion", "", "compiler", "cc",
                     "platform", "linux/" DISCOVERY_ARCH);
}
