/* kpt's field-level 3-way merge (kyaml merge3) of one resource: origin is
 * the old upstream, local the user's copy (changed in place), updated the
 * new upstream. Upstream changes win on conflicts; associative lists merge
 * by key ("name", then port fields); other lists are replaced when changed. */
#include "cad_internal.h"
#include "merge3.h"

#include "error/error.h"

#include <stdlib.h>
#include <string.h>

static const char *const assoc_keys[] = {"name", "containerPort", "port", "mountPath", "devicePath",
                                         "ip", "topologyKey", NULL};

/* The key field shared by every map item of the lists, or NULL. */
static const char *list_key(const krm_node *a, const krm_node *b, const krm_node *c)
{
    const krm_node *lists[3] = {a, b, c};
    for (int k = 0; assoc_keys[k]; k++) {
        bool ok = true, any = false;
        for (int l = 0; l < 3 && ok; l++) {
            const krm_node *q = lists[l];
            for (size_t i = 0; q && i < krm_seq_len(q) && ok; i++) {
                const krm_node *it = krm_seq_at(q, i);
                const krm_node *v = krm_node_kind(it) == KRM_MAP ? krm_map_get(it, assoc_keys[k]) : NULL;
                ok = v && krm_node_kind(v) == KRM_SCALAR;
                any = true;
            }
        }
        if (ok && any)
            return assoc_keys[k];
    }
    return NULL;
}

static krm_node *find_item(const krm_node *q, const char *key, const char *val)
{
    for (size_t i = 0; q && i < krm_seq_len(q); i++) {
        krm_node *it = krm_seq_at(q, i);
        const krm_node *v = krm_map_get(it, key);
        if (v && !strcmp(krm_node_value(v), val))
            return it;
    }
    return NULL;
}

/* New list items from upstream come out with their keys sorted, as kyaml
 * writes them. */
static krm_node *sorted_copy(krm_stream *s, const krm_node *n)
{
    if (krm_node_kind(n) != KRM_MAP)
        return krm_node_copy(s, n);
    size_t len = krm_map_len(n);
    size_t *idx = malloc((len + 1) * sizeof *idx);
    for (size_t i = 0; i < len; i++)
        idx[i] = i;
    for (size_t i = 1; i < len; i++)
        for (size_t j = i; j > 0 && strcmp(krm_node_value(krm_map_key_at(n, idx[j - 1])),
                                           krm_node_value(krm_map_key_at(n, idx[j]))) > 0; j--) {
            size_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    krm_node *m = krm_node_new_map(s);
    for (size_t i = 0; i < len; i++)
        krm_map_set(s, m, krm_node_value(krm_map_key_at(n, idx[i])),
                    sorted_copy(s, krm_map_value_at(n, idx[i])));
    free(idx);
    return m;
}

static krm_node *merge_seq(krm_stream *s, const krm_node *o, krm_node *l, const krm_node *u)
{
    const char *key = list_key(o, l, u);
    if (!key)
        return o && krm_node_equal(o, u) ? l : krm_node_copy(s, u);
    krm_node *out = krm_node_new_seq(s);
    for (size_t i = 0; i < krm_seq_len(l); i++) {
        krm_node *le = krm_seq_at(l, i);
        const char *kv = krm_node_value(krm_map_get(le, key));
        krm_node *oe = find_item(o, key, kv), *ue = find_item(u, key, kv);
        if (!ue && oe)
            continue; /* deleted upstream */
        krm_seq_append(s, out, ue ? cad_merge3(s, oe, le, ue) : le);
    }
    for (size_t i = 0; i < krm_seq_len(u); i++) {
        krm_node *ue = krm_seq_at(u, i);
        const char *kv = krm_node_value(krm_map_get(ue, key));
        if (find_item(l, key, kv) || find_item(o, key, kv))
            continue; /* merged above, or deleted locally */
        krm_seq_append(s, out, sorted_copy(s, ue));
    }
    /* keep the local list node (style, comments): move the items back */
    while (krm_seq_len(l))
        krm_seq_delete(l, 0);
    for (size_t i = 0; i < krm_seq_len(out); i++)
        krm_seq_append(s, l, krm_seq_at(out, i));
    return l;
}

static krm_node *merge_map(krm_stream *s, const krm_node *o, krm_node *l, const krm_node *u)
{
    for (size_t i = 0; i < krm_map_len(l);) {
        const char *k = krm_node_value(krm_map_key_at(l, i));
        const krm_node *ov = o ? krm_map_get(o, k) : NULL, *uv = krm_map_get(u, k);
        if (!uv) {
            if (ov) {
                krm_map_delete(l, k); /* deleted upstream */
                continue;
            }
            i++;
            continue;
        }
        krm_node *lv = krm_map_value_at(l, i);
        krm_node *mv = cad_merge3(s, ov, lv, uv);
        if (mv != lv)
            krm_map_set(s, l, k, mv);
        i++;
    }
    for (size_t i = 0; i < krm_map_len(u); i++) {
        const char *k = krm_node_value(krm_map_key_at(u, i));
        if (krm_map_get(l, k) || (o && krm_map_get(o, k)))
            continue; /* present, or deleted locally */
        krm_map_set(s, l, k, krm_node_copy(s, krm_map_value_at(u, i)));
    }
    return l;
}

krm_node *cad_merge3(krm_stream *s, const krm_node *o, krm_node *l, const krm_node *u)
{
    if (!u)
        return l;
    if (!l)
        return krm_node_copy(s, u);
    krm_kind lk = krm_node_kind(l), uk = krm_node_kind(u);
    if (lk == KRM_MAP && uk == KRM_MAP && (!o || krm_node_kind(o) == KRM_MAP))
        return merge_map(s, o, l, u);
    if (lk == KRM_SEQ && uk == KRM_SEQ && (!o || krm_node_kind(o) == KRM_SEQ))
        return merge_seq(s, o, l, u);
    if (o && krm_node_equal(o, u))
        return l; /* upstream unchanged: keep local */
    if (krm_node_equal(l, u))
        return l;
    return krm_node_copy(s, u);
}
