/* Label and field selectors in Kubernetes syntax: "a=b,c!=d,e in (x,y),
 * f notin (z),g,!h" for labels, "metadata.name=x,spec.revision==1" for
 * fields. Parsing is strict (bad syntax is a 400 naming the selector); the
 * caller supplies the values of an object through a lookup callback. */
#include "apiserver.h"

#include "error/error.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define SEL_MAX_REQS 32
#define SEL_MAX_VALUES 16
#define SEL_TEXT 256

typedef enum { SEL_EQ, SEL_NEQ, SEL_IN, SEL_NOTIN, SEL_EXISTS, SEL_NOTEXISTS } sel_op;

/* Keys and values point into the selector's pool, a buffer sized from the
 * text (every token is a copy of part of it), so a selector costs a few
 * hundred bytes, not the worst case: every watch holds two for its lifetime. */
typedef struct sel_req {
    char *key;
    sel_op op;
    char *values[SEL_MAX_VALUES];
    int n_values;
} sel_req;

struct apiserver_selector {
    sel_req *reqs;
    int n, cap;
    char *pool;
    size_t used, size;
};

/* The next free byte of the pool, with room for any token of the text. */
static char *pool_next(apiserver_selector *s)
{
    return s->pool + s->used;
}

/* Marks the token just written at pool_next() as taken. */
static char *pool_take(apiserver_selector *s)
{
    char *tok = s->pool + s->used;
    s->used += strlen(tok) + 1;
    return tok;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* A label key or value: [A-Za-z0-9._/-]. A field key may also hold a bracketed
 * map key ("spec.packageMetadata.labels[team]") with any bytes but ']'. */
static const char *read_token(const char *p, char *out, int field)
{
    size_t n = 0;
    int in_brackets = 0;
    for (;; n++) {
        int c = (unsigned char)p[n];
        if (c == '\0')
            break;
        if (in_brackets) {
            if (c == ']')
                in_brackets = 0;
        } else if (field && c == '[') {
            in_brackets = 1;
        } else if (!(isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/')) {
            break;
        }
        if (n + 1 >= SEL_TEXT)
            return NULL;
        out[n] = (char)c;
    }
    out[n] = '\0';
    return in_brackets ? NULL : p + n;
}

static int bad(const char *what, const char *text)
{
    return porch_error_set(400, "unable to parse requirement: invalid %s selector \"%.300s\"", what,
                           text);
}

/* "(a,b,c)" into r->values. */
static const char *read_set(const char *p, apiserver_selector *s, sel_req *r)
{
    p = skip_ws(p);
    if (*p != '(')
        return NULL;
    p++;
    for (;;) {
        p = skip_ws(p);
        if (r->n_values >= SEL_MAX_VALUES)
            return NULL;
        p = read_token(p, pool_next(s), 0);
        if (p == NULL)
            return NULL;
        r->values[r->n_values++] = pool_take(s);
        p = skip_ws(p);
        if (*p == ')')
            return p + 1;
        if (*p != ',')
            return NULL;
        p++;
    }
}

static void selector_free(apiserver_selector *s)
{
    if (s != NULL) {
        free(s->reqs);
        free(s->pool);
        free(s);
    }
}

static int parse(const char *text, int field, apiserver_selector **out)
{
    *out = NULL;
    apiserver_selector *s = calloc(1, sizeof(*s));
    size_t len = strlen(text);
    if (s != NULL) {
        s->size = 2 * len + 2; /* tokens are disjoint parts of text, each + NUL */
        s->pool = malloc(s->size);
    }
    if (s == NULL || s->pool == NULL) {
        selector_free(s);
        return porch_error_set(500, "out of memory");
    }
    const char *what = field ? "field" : "label";
    const char *p = skip_ws(text);
    while (*p != '\0') {
        if (s->n >= SEL_MAX_REQS) {
            selector_free(s);
            return porch_error_set(400, "%s selector has more than %d requirements", what,
                                   SEL_MAX_REQS);
        }
        if (s->n == s->cap) {
            int ncap = s->cap ? s->cap * 2 : 2;
            sel_req *nr = realloc(s->reqs, sizeof(sel_req) * (size_t)ncap);
            if (nr == NULL) {
                selector_free(s);
                return porch_error_set(500, "out of memory");
            }
            s->reqs = nr;
            s->cap = ncap;
        }
        sel_req *r = &s->reqs[s->n];
        memset(r, 0, sizeof(*r));
        int negated = 0;
        if (!field && *p == '!') {
            negated = 1;
            p = skip_ws(p + 1);
        }
        p = read_token(p, pool_next(s), field);
        if (p == NULL || *pool_next(s) == '\0')
            goto fail;
        r->key = pool_take(s);
        p = skip_ws(p);
        if (negated) {
            r->op = SEL_NOTEXISTS;
        } else if (*p == ',' || *p == '\0') {
            if (field)
                goto fail;
            r->op = SEL_EXISTS;
        } else if (p[0] == '!' && p[1] == '=') {
            r->op = SEL_NEQ;
            p += 2;
        } else if (p[0] == '=' && p[1] == '=') {
            r->op = SEL_EQ;
            p += 2;
        } else if (p[0] == '=') {
            r->op = SEL_EQ;
            p += 1;
        } else if (!field && strncmp(p, "in", 2) == 0 && (p[2] == ' ' || p[2] == '(')) {
            r->op = SEL_IN;
            if ((p = read_set(p + 2, s, r)) == NULL)
                goto fail;
        } else if (!field && strncmp(p, "notin", 5) == 0 && (p[5] == ' ' || p[5] == '(')) {
            r->op = SEL_NOTIN;
            if ((p = read_set(p + 5, s, r)) == NULL)
                goto fail;
        } else {
            goto fail;
        }
        if (r->op == SEL_EQ || r->op == SEL_NEQ) {
            p = skip_ws(p);
            char *v = pool_next(s);
            if (field) { /* field values may hold any byte but ',' */
                size_t n = strcspn(p, ",");
                if (n >= SEL_TEXT)
                    goto fail;
                memcpy(v, p, n);
                v[n] = '\0';
                while (n > 0 && v[n - 1] == ' ')
                    v[--n] = '\0';
                p += strcspn(p, ",");
            } else if ((p = read_token(p, v, 0)) == NULL) {
                goto fail;
            }
            r->values[0] = pool_take(s);
            r->n_values = 1;
        }
        s->n++;
        p = skip_ws(p);
        if (*p == ',')
            p = skip_ws(p + 1);
        else if (*p != '\0')
            goto fail;
    }
    *out = s;
    return 0;
fail:
    selector_free(s);
    return bad(what, text);
}

int apiserver_selector_parse_labels(const char *text, apiserver_selector **out)
{
    return parse(text ? text : "", 0, out);
}

int apiserver_selector_parse_fields(const char *text, apiserver_selector **out)
{
    return parse(text ? text : "", 1, out);
}

void apiserver_selector_free(apiserver_selector *s)
{
    selector_free(s);
}

int apiserver_selector_empty(const apiserver_selector *s)
{
    return s == NULL || s->n == 0;
}

int apiserver_selector_check(apiserver_selector *s, apiserver_selector_check_fn fn, void *ud)
{
    if (s == NULL)
        return 0;
    for (int i = 0; i < s->n; i++) {
        sel_req *r = &s->reqs[i];
        char empty[1] = "";
        char *value = r->n_values ? r->values[0] : empty;
        int rc = fn(r->key, r->op == SEL_EQ, value, strlen(value) + 1, ud);
        if (rc < 0)
            return -1;
        if (rc > 0) { /* the caller says this requirement matches everything */
            memmove(&s->reqs[i], &s->reqs[i + 1], sizeof(sel_req) * (size_t)(s->n - i - 1));
            s->n--;
            i--;
        }
    }
    return 0;
}

int apiserver_selector_match(const apiserver_selector *s, apiserver_selector_lookup_fn lookup,
                             void *ud)
{
    if (s == NULL)
        return 1;
    char buf[SEL_TEXT];
    for (int i = 0; i < s->n; i++) {
        const sel_req *r = &s->reqs[i];
        const char *v = lookup(ud, r->key, buf, sizeof(buf));
        int in = 0;
        for (int j = 0; v != NULL && j < r->n_values; j++)
            if (strcmp(v, r->values[j]) == 0)
                in = 1;
        switch (r->op) {
        case SEL_EQ:
        case SEL_IN:
            if (!in)
                return 0;
            break;
        case SEL_NEQ:
        case SEL_NOTIN:
            if (in)
                return 0;
            break;
        case SEL_EXISTS:
            if (v == NULL)
                return 0;
            break;
        case SEL_NOTEXISTS:
            if (v != NULL)
                return 0;
            break;
        }
    }
    return 1;
}

const char *apiserver_selector_labels_lookup(void *labels, const char *key, char *buf, size_t cap)
{
    (void)buf;
    (void)cap;
    return json_string_value(json_object_get((json_t *)labels, key));
}
