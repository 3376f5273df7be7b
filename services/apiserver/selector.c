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

typedef struct sel_req {
    char key[SEL_TEXT];
    sel_op op;
    char values[SEL_MAX_VALUES][SEL_TEXT];
    int n_values;
} sel_req;

struct apiserver_selector {
    sel_req reqs[SEL_MAX_REQS];
    int n;
};

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
static const char *read_set(const char *p, sel_req *r)
{
    p = skip_ws(p);
    if (*p != '(')
        return NULL;
    p++;
    for (;;) {
        p = skip_ws(p);
        if (r->n_values >= SEL_MAX_VALUES)
            return NULL;
        p = read_token(p, r->values[r->n_values], 0);
        if (p == NULL)
            return NULL;
        r->n_values++;
        p = skip_ws(p);
        if (*p == ')')
            return p + 1;
        if (*p != ',')
            return NULL;
        p++;
    }
}

static int parse(const char *text, int field, apiserver_selector **out)
{
    *out = NULL;
    apiserver_selector *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return porch_error_set(500, "out of memory");
    const char *what = field ? "field" : "label";
    const char *p = skip_ws(text);
    while (*p != '\0') {
        if (s->n >= SEL_MAX_REQS) {
            free(s);
            return porch_error_set(400, "%s selector has more than %d requirements", what,
                                   SEL_MAX_REQS);
        }
        sel_req *r = &s->reqs[s->n];
        int negated = 0;
        if (!field && *p == '!') {
            negated = 1;
            p = skip_ws(p + 1);
        }
        p = read_token(p, r->key, field);
        if (p == NULL || r->key[0] == '\0')
            goto fail;
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
            if ((p = read_set(p + 2, r)) == NULL)
                goto fail;
        } else if (!field && strncmp(p, "notin", 5) == 0 && (p[5] == ' ' || p[5] == '(')) {
            r->op = SEL_NOTIN;
            if ((p = read_set(p + 5, r)) == NULL)
                goto fail;
        } else {
            goto fail;
        }
        if (r->op == SEL_EQ || r->op == SEL_NEQ) {
            p = skip_ws(p);
            if (field) { /* field values may hold any byte but ',' */
                size_t n = strcspn(p, ",");
                if (n >= SEL_TEXT)
                    goto fail;
                memcpy(r->values[0], p, n);
                r->values[0][n] = '\0';
                while (n > 0 && r->values[0][n - 1] == ' ')
                    r->values[0][--n] = '\0';
                p += strcspn(p, ",");
            } else if ((p = read_token(p, r->values[0], 0)) == NULL) {
                goto fail;
            }
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
    free(s);
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
    free(s);
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
        int rc = fn(r->key, r->op == SEL_EQ, r->n_values ? r->values[0] : "", SEL_TEXT, ud);
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
