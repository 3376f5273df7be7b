/* Comment healing: functions usually drop comments, so after one runs kpt
 * copies the comments of each original resource onto the matching nodes of
 * the function's output. Nodes match by map key, and list items by their
 * "name" (or first scalar key) value, falling back to position. */
#include "krm_internal.h"

#include <string.h>

static const char *item_id(const krm_node *n, const char **field)
{
    static const char *const keys[] = {"name", "key", "id", "containerPort", "port", NULL};
    if (!n || n->kind != KRM_MAP)
        return NULL;
    for (int i = 0; keys[i]; i++) {
        const krm_node *v = krm_map_get(n, keys[i]);
        if (v && v->kind == KRM_SCALAR) {
            *field = keys[i];
            return v->value;
        }
    }
    return NULL;
}

static int copy_one(krm_stream *s, const krm_node *from, krm_node *to)
{
    if (KX(from, head) && !KX(to, head) &&
        krm_node_set_comment(s, to, KRM_COMMENT_HEAD, KX(from, head)) < 0)
        return -1;
    if (KX(from, line_c) && !KX(to, line_c) &&
        krm_node_set_comment(s, to, KRM_COMMENT_LINE, KX(from, line_c)) < 0)
        return -1;
    if (KX(from, foot) && !KX(to, foot) &&
        krm_node_set_comment(s, to, KRM_COMMENT_FOOT, KX(from, foot)) < 0)
        return -1;
    return 0;
}

static int heal(krm_stream *s, const krm_node *b, krm_node *a, int depth)
{
    if (!b || !a || depth > 1000)
        return 0;
    if (copy_one(s, b, a) < 0)
        return -1;
    if (b->kind == KRM_MAP && a->kind == KRM_MAP) {
        for (size_t i = 0; i + 1 < b->n; i += 2) {
            const krm_node *bk = b->items[i];
            if (bk->kind != KRM_SCALAR)
                continue;
            for (size_t j = 0; j + 1 < a->n; j += 2) {
                krm_node *ak = a->items[j];
                if (ak->kind == KRM_SCALAR && ak->len == bk->len &&
                    !memcmp(ak->value, bk->value, bk->len)) {
                    if (copy_one(s, bk, ak) < 0 ||
                        heal(s, b->items[i + 1], a->items[j + 1], depth + 1) < 0)
                        return -1;
                    break;
                }
            }
        }
    } else if (b->kind == KRM_SEQ && a->kind == KRM_SEQ) {
        for (size_t i = 0; i < a->n; i++) {
            const char *field = NULL, *id = item_id(a->items[i], &field);
            const krm_node *match = NULL;
            if (id) {
                for (size_t j = 0; j < b->n && !match; j++) {
                    const krm_node *v = krm_map_get(b->items[j], field);
                    if (v && v->kind == KRM_SCALAR && !strcmp(v->value, id))
                        match = b->items[j];
                }
            } else if (i < b->n) {
                match = b->items[i];
            }
            if (match && heal(s, match, a->items[i], depth + 1) < 0)
                return -1;
        }
    }
    return 0;
}

int krm_heal_comments(krm_stream *s, const krm_node *before, krm_node *after)
{
    return heal(s, before, after, 0);
}
