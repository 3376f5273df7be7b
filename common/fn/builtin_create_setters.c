/* create-setters: parameterizes fields by adding "# kpt-set:" comments:
 * a scalar containing a scalar setter's value gets the pattern with that
 * value replaced by ${name} (longest values first); a sequence whose items
 * are exactly an array setter's items (any order) gets "# kpt-set: ${name}". */
#include "fn_builtin.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct csetter {
    const char *name, *value;
    krm_node *list; /* array setters: the parsed YAML sequence */
} csetter;

typedef struct csetters {
    csetter *v;
    size_t n;
    krm_stream *parsed; /* owns the array setters' lists */
} csetters;

static bool pattern_for(const csetters *cs, const char *val, krm_buf *out)
{
    bool hit = false;
    for (const char *p = val; *p;) {
        const csetter *m = NULL;
        for (size_t i = 0; i < cs->n; i++) {
            size_t l = strlen(cs->v[i].value);
            if (!cs->v[i].list && l && !strncmp(p, cs->v[i].value, l)) {
                m = &cs->v[i];
                break; /* sorted longest first */
            }
        }
        if (m) {
            krm_buf_put(out, "${", 2);
            krm_buf_put(out, m->name, strlen(m->name));
            krm_buf_put(out, "}", 1);
            p += strlen(m->value);
            hit = true;
        } else {
            krm_buf_put(out, p++, 1);
        }
    }
    krm_buf_put(out, "", 1);
    return hit;
}

static void tag_scalar(fn_ctx *c, const csetters *cs, krm_node *v)
{
    const char *val = krm_node_value(v);
    if (!val || strchr(val, '\n'))
        return;
    krm_buf pat = {0};
    krm_buf_put(&pat, "# kpt-set: ", 11);
    size_t base = pat.len;
    krm_buf body = {0};
    if (pattern_for(cs, val, &body)) {
        krm_buf_put(&pat, body.data, strlen(body.data) + 1);
        krm_node_set_comment(c->s, v, KRM_COMMENT_LINE, pat.data);
    }
    (void)base;
    krm_buf_free(&body);
    krm_buf_free(&pat);
}

static int cmp_node_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool same_items(krm_node *a, krm_node *b)
{
    size_t n = krm_seq_len(a);
    if (n == 0 || n != krm_seq_len(b))
        return false;
    const char **x = calloc(n, sizeof *x), **y = calloc(n, sizeof *y);
    bool ok = x && y;
    for (size_t i = 0; ok && i < n; i++) {
        x[i] = fn_scalar(krm_seq_at(a, i));
        y[i] = fn_scalar(krm_seq_at(b, i));
        ok = x[i] && y[i];
    }
    if (ok) {
        qsort(x, n, sizeof *x, cmp_node_str);
        qsort(y, n, sizeof *y, cmp_node_str);
        for (size_t i = 0; ok && i < n; i++)
            ok = !strcmp(x[i], y[i]);
    }
    free(x);
    free(y);
    return ok;
}

static void walk(fn_ctx *c, const csetters *cs, krm_node *n, int depth)
{
    if (krm_node_kind(n) == KRM_MAP) {
        for (size_t i = 0; i < krm_map_len(n); i++) {
            krm_node *k = krm_map_key_at(n, i), *v = krm_map_value_at(n, i);
            const char *ks = fn_scalar(k);
            if (depth == 0 && ks && (!strcmp(ks, "apiVersion") || !strcmp(ks, "kind")))
                continue;
            if (krm_node_kind(v) == KRM_SCALAR) {
                tag_scalar(c, cs, v);
            } else if (krm_node_kind(v) == KRM_SEQ) {
                bool tagged = false;
                for (size_t s = 0; s < cs->n && !tagged; s++) {
                    if (cs->v[s].list && same_items(v, cs->v[s].list)) {
                        char com[512];
                        snprintf(com, sizeof com, "# kpt-set: ${%s}", cs->v[s].name);
                        krm_node_set_comment(c->s, krm_node_is_flow(v) ? v : k, KRM_COMMENT_LINE,
                                             com);
                        tagged = true;
                    }
                }
                if (!tagged)
                    walk(c, cs, v, depth + 1);
            } else {
                walk(c, cs, v, depth + 1);
            }
        }
    } else if (krm_node_kind(n) == KRM_SEQ) {
        for (size_t i = 0; i < krm_seq_len(n); i++) {
            krm_node *v = krm_seq_at(n, i);
            if (krm_node_kind(v) == KRM_SCALAR)
                tag_scalar(c, cs, v);
            else
                walk(c, cs, v, depth + 1);
        }
    }
}

static int by_len_desc(const void *a, const void *b)
{
    size_t la = strlen(((const csetter *)a)->value), lb = strlen(((const csetter *)b)->value);
    return la < lb   ? 1
           : la > lb ? -1
                     : strcmp(((const csetter *)a)->name, ((const csetter *)b)->name);
}

int fn_builtin_create_setters(fn_ctx *c)
{
    const krm_node *data = fn_config_data(c);
    if (!data && c->config && fn_config_kind(c) && !fn_config_is(c, "ConfigMap"))
        return fn_fail(c, "`functionConfig` must be a `ConfigMap` with setters in `data`");
    if (!data || krm_map_len(data) == 0)
        return fn_fail(c, "config map cannot be empty: give setter names and values in `data`");
    csetters cs = {0};
    cs.v = calloc(krm_map_len(data), sizeof *cs.v);
    cs.parsed = krm_stream_new();
    if (!cs.v || !cs.parsed) {
        free(cs.v);
        krm_stream_free(cs.parsed);
        return porch_error_set(500, "out of memory");
    }
    for (size_t i = 0; i < krm_map_len(data); i++) {
        const char *k = fn_scalar(krm_map_key_at(data, i));
        const char *v = fn_scalar(krm_map_value_at(data, i));
        if (!k || !v || !*v)
            continue;
        csetter *s = &cs.v[cs.n++];
        s->name = k;
        s->value = v;
        krm_stream *vs = NULL;
        if (strchr(v, '\n') || v[0] == '[' || v[0] == '-') {
            if (krm_stream_parse(v, strlen(v), "setter", NULL, &vs) == 0) {
                krm_node *r = krm_stream_count(vs) ? krm_doc_root(krm_stream_doc(vs, 0)) : NULL;
                if (r && krm_node_kind(r) == KRM_SEQ)
                    s->list = krm_node_copy(cs.parsed, r);
                krm_stream_free(vs);
            } else {
                porch_error_clear();
            }
        }
    }
    qsort(cs.v, cs.n, sizeof *cs.v, by_len_desc);
    for (size_t i = 0; i < krm_seq_len(c->items); i++) {
        krm_node *o = krm_seq_at(c->items, i);
        if (krm_node_kind(o) == KRM_MAP && !fn_is_local_config(o))
            walk(c, &cs, o, 0);
    }
    free(cs.v);
    krm_stream_free(cs.parsed);
    return 0;
}
