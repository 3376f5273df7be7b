/* The parts of a PackageRevision that live in its Kptfile (spec §3.1):
 * spec.packageMetadata (metadata.labels/annotations), spec.readinessGates
 * (info.readinessGates), status.conditions, and status.upstreamLock (when
 * the Kptfile has both a git upstream and an upstreamLock). Read from the
 * revision's commit and converted through the KRM document model. */
#include "internal.h"

#include "error/error.h"
#include "krm/krm.h"

#include <string.h>

/* A KRM node as a new JSON value (NULL when absent). */
static json_t *node_json(const krm_node *n)
{
    if (!n)
        return NULL;
    krm_buf b = {0};
    json_t *out = NULL;
    if (krm_node_emit_json(n, &b) == 0)
        out = json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
    krm_buf_free(&b);
    return out;
}

static const krm_node *child(const krm_node *map, const char *key)
{
    return map && krm_node_kind(map) == KRM_MAP ? krm_map_get(map, key) : NULL;
}

int gitrepo_kptfile_fields(gitrepo *repo, const git_oid *kptfile, json_t *spec, json_t *status)
{
    git_blob *blob = NULL;
    if (git_blob_lookup(&blob, gitrepo_reader(repo), kptfile) != 0)
        return porch_error_set(404, "cannot read the Kptfile blob %s", git_oid_tostr_s(kptfile));
    int rc;
    krm_stream *s = NULL;
    rc = krm_stream_parse(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob), "Kptfile",
                          NULL, &s);
    git_blob_free(blob);
    if (rc < 0)
        return -1; /* an unparsable Kptfile leaves the revision without these fields */
    const krm_node *root = krm_stream_count(s) ? krm_doc_root(krm_stream_doc(s, 0)) : NULL;
    const krm_node *meta = child(root, "metadata");
    json_t *labels = node_json(child(meta, "labels"));
    json_t *annotations = node_json(child(meta, "annotations"));
    json_t *pm = json_object();
    json_object_set_new(pm, "labels", json_is_object(labels) ? labels : json_object());
    json_object_set_new(pm, "annotations", json_is_object(annotations) ? annotations : json_object());
    if (!json_is_object(labels))
        json_decref(labels);
    if (!json_is_object(annotations))
        json_decref(annotations);
    json_object_set_new(spec, "packageMetadata", pm);
    json_t *gates = node_json(child(child(root, "info"), "readinessGates"));
    if (json_is_array(gates))
        json_object_set_new(spec, "readinessGates", gates);
    else
        json_decref(gates);
    json_t *conditions = node_json(child(child(root, "status"), "conditions"));
    if (json_is_array(conditions))
        json_object_set_new(status, "conditions", conditions);
    else
        json_decref(conditions);
    const krm_node *upstream = child(root, "upstream");
    json_t *lock = node_json(child(root, "upstreamLock"));
    if (child(upstream, "git") && json_is_object(json_object_get(lock, "git")))
        json_object_set_new(status, "upstreamLock", lock);
    else
        json_decref(lock);
    krm_stream_free(s);
    return 0;
}
