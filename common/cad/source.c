/* `fn source`: a package read as eval and render read it (subpackages,
 * .krmignore, kpt's annotations), written as one ResourceList with an
 * optional functionConfig from a file. */
#include "cad_internal.h"

#include "error/error.h"

#include <stdlib.h>

/* The first mapping document of path, annotated as kpt reads it (a package
 * of one file, named as given). */
static krm_node *read_config(cad_pool *pool, const char *path)
{
    char *buf;
    size_t len;
    krm_stream *s;
    if (cad_read_file(path, &buf, &len) < 0)
        return NULL;
    if (krm_stream_parse(buf, len, path, NULL, &s) < 0) {
        free(buf);
        return NULL;
    }
    cad_pool_keep(pool, s, buf);
    for (size_t d = 0; d < krm_stream_count(s); d++) {
        krm_doc *doc = krm_stream_doc(s, d);
        krm_node *r = krm_doc_root(doc);
        if (r && krm_node_kind(r) == KRM_MAP)
            return krm_res_set_kpt_annotations(s, r, path, 0, krm_doc_seqindent(doc)) < 0 ? NULL
                                                                                          : r;
    }
    porch_error_set(400, "expected exactly 1 functionConfig, found 0");
    return NULL;
}

int cad_fn_source(const char *dir, const char *fn_config, char **out, size_t *len)
{
    cad_pool pool = {0};
    cad_items items = {0};
    krm_node *config = NULL;
    krm_buf b = {0};
    *out = NULL;
    *len = 0;
    int rc = 0;
    if (!cad_is_dir(dir))
        rc = porch_error_set(404, "lstat %s: no such file or directory", dir);
    if (rc == 0 && fn_config && !(config = read_config(&pool, fn_config)))
        rc = -1;
    if (rc == 0)
        rc = cad_pkg_read(&pool, dir, true, NULL, &items, NULL);
    if (rc == 0)
        rc = krm_emit_resource_list(items.v, items.n, config, &b);
    if (rc == 0) {
        *out = b.data;
        *len = b.len;
    } else {
        krm_buf_free(&b);
    }
    free(items.v);
    cad_pool_free(&pool);
    return rc;
}
