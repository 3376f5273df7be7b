/* list-setters: lists the setters used by "# kpt-set:" comments, with the
 * value each currently has (recovered by matching the pattern against the
 * field), its type and how many fields use it, one result per setter. */
#include "fn_builtin.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lsetter {
    char name[256];
    char value[2048];
    char type[16];
    int count;
} lsetter;

typedef struct lset {
    lsetter *v;
    size_t n;
} lset;

static lsetter *find(lset *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].name, name))
            return &l->v[i];
    lsetter *nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    if (!nv)
        return NULL;
    l->v = nv;
    lsetter *s = &l->v[l->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    return s;
}

static const char *type_of(const char *v)
{
    if (!strcmp(v, "true") || !strcmp(v, "false"))
        return "bool";
    char *end;
    if (*v) {
        strtoll(v, &end, 10);
        if (!*end)
            return "int";
        strtod(v, &end);
        if (!*end)
            return "float";
    }
    return "str";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void seq_value(krm_node *seq, char *buf, size_t len)
{
    size_t n = krm_seq_len(seq);
    const char **v = calloc(n + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v && i < n; i++) {
        const char *x = fn_scalar(krm_seq_at(seq, i));
        if (x)
            v[k++] = x;
    }
    if (v)
        qsort(v, k, sizeof *v, cmp_str);
    size_t o = (size_t)snprintf(buf, len, "[");
    for (size_t i = 0; v && i < k && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", v[i]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
    free(v);
}

/* Matches "pre${a}mid${b}post" against value, filling each setter seen. */
static void match(lset *l, const char *pat, const char *val)
{
    const char *p = pat, *v = val;
    while (*p) {
        const char *st = strstr(p, "${");
        const char *en = st ? strchr(st + 2, '}') : NULL;
        if (!st || !en)
            return;
        size_t lit = (size_t)(st - p);
        if (strncmp(p, v, lit))
            return;
        v += lit;
        char name[256];
        size_t nl = (size_t)(en - st - 2);
        if (nl >= sizeof name)
            return;
        memcpy(name, st + 2, nl);
        name[nl] = '\0';
        p = en + 1;
        /* the setter value runs up to the next literal */
        const char *nx = strstr(p, "${");
        size_t next_lit = nx ? (size_t)(nx - p) : strlen(p);
        const char *vend;
        if (next_lit == 0)
            vend = nx ? v : v + strlen(v);
        else {
            char litbuf[512];
            size_t ll = next_lit < sizeof litbuf ? next_lit : sizeof litbuf - 1;
            memcpy(litbuf, p, ll);
            litbuf[ll] = '\0';
            vend = nx ? strstr(v, litbuf) : v + strlen(v) - (strlen(v) >= ll ? ll : 0);
            if (!vend)
                return;
        }
        lsetter *s = find(l, name);
        if (!s)
            return;
        size_t vl = (size_t)(vend - v);
        if (vl >= sizeof s->value)
            vl = sizeof s->value - 1;
        memcpy(s->value, v, vl);
        s->value[vl] = '\0';
        snprintf(s->type, sizeof s->type, "%s", type_of(s->value));
        s->count++;
        v = vend;
    }
}

static int visit(fn_ctx *c, const fn_setter_site *site, void *ud)
{
    lset *l = ud;
    krm_node *value = site->value;
    const char *pat = site->pattern;
    if (krm_node_kind(value) == KRM_SEQ) {
        size_t pl = strlen(pat);
        if (pl < 4 || strncmp(pat, "${", 2) || pat[pl - 1] != '}')
            return 0;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(pl - 3), pat + 2);
        lsetter *s = find(l, name);
        if (s) {
            seq_value(value, s->value, sizeof s->value);
            snprintf(s->type, sizeof s->type, "array");
            s->count++;
        }
        return 0;
    }
    const char *v = krm_node_value(value);
    match(l, pat, v ? v : "");
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const lsetter *)a)->name, ((const lsetter *)b)->name);
}

int fn_builtin_list_setters(fn_ctx *c)
{
    lset l = {0};
    for (size_t i = 0; i < krm_seq_len(c->items); i++) {
        krm_node *o = krm_seq_at(c->items, i);
        if (krm_node_kind(o) == KRM_MAP)
            fn_walk_setters(c, o, visit, &l);
    }
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, by_name);
    for (size_t i = 0; i < l.n; i++)
        fn_resultf(c, FN_SEV_NONE, NULL, NULL, "Name: %s, Value: %s, Type: %s, Count: %d",
                   l.v[i].name, l.v[i].value, l.v[i].type[0] ? l.v[i].type : "str", l.v[i].count);
    free(l.v);
    return 0;
}
