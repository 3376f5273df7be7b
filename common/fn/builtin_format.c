/* format: puts each resource's well-known fields in kubectl order
 * (apiVersion, kind, metadata, spec, data, status...; metadata: name,
 * namespace, labels, annotations) and leaves everything else as written;
 * comments travel with their fields. */
#include "fn_builtin.h"

#include <string.h>

static const char *const top_order[] = {"apiVersion", "kind", "metadata", "spec", "data",
                                        "stringData", "type", "status",   NULL};
static const char *const meta_order[] = {"name",   "generateName", "namespace",
                                         "labels", "annotations",  NULL};

static int rank(const char *const *order, const char *k)
{
    for (int i = 0; order[i]; i++)
        if (k && !strcmp(order[i], k))
            return i;
    return 1000;
}

/* Stable reorder by rank: re-sets each pair in order (delete + append). */
static void reorder(krm_stream *s, krm_node *m, const char *const *order)
{
    if (!m || krm_node_kind(m) != KRM_MAP)
        return;
    size_t n = krm_map_len(m);
    /* only plain mappings: complex or repeated keys are left as written */
    for (size_t i = 0; i < n; i++) {
        const char *k = fn_scalar(krm_map_key_at(m, i));
        if (!k || strlen(k) >= 512)
            return;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(k, fn_scalar(krm_map_key_at(m, j))))
                return;
    }
    for (int r = 0; r <= 1000; r = r < 1000 && order[r] ? r + 1 : (r == 1000 ? 1001 : 1000)) {
        /* move every key of rank r to the end, preserving their relative order */
        size_t moved = 0;
        for (size_t i = 0; i + moved < n;) {
            const char *k = fn_scalar(krm_map_key_at(m, i));
            if (rank(order, k) == r) {
                krm_node *key = krm_map_key_at(m, i), *val = krm_map_value_at(m, i);
                char buf[512];
                strncpy(buf, k, sizeof buf - 1);
                buf[sizeof buf - 1] = '\0';
                const char *hc = krm_node_comment(key, KRM_COMMENT_HEAD);
                char hbuf[4096] = "";
                if (hc)
                    strncpy(hbuf, hc, sizeof hbuf - 1);
                krm_map_delete(m, buf);
                krm_map_set(s, m, buf, val);
                if (hbuf[0]) {
                    size_t last = krm_map_len(m) - 1;
                    krm_node_set_comment(s, krm_map_key_at(m, last), KRM_COMMENT_HEAD, hbuf);
                }
                moved++;
            } else {
                i++;
            }
        }
    }
}

int fn_builtin_format(fn_ctx *c)
{
    for (size_t i = 0; i < krm_seq_len(c->items); i++) {
        krm_node *o = krm_seq_at(c->items, i);
        if (krm_node_kind(o) != KRM_MAP)
            continue;
        reorder(c->s, o, top_order);
        reorder(c->s, krm_map_get(o, "metadata"), meta_order);
    }
    return 0;
}
