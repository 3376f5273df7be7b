/* YAML request bodies (Content-Type application/yaml), turned into the same
 * JSON object a JSON body gives, as the Kubernetes apiserver does through
 * sigs.k8s.io/yaml: plain scalars resolve the YAML 1.1 way (null, bools
 * including yes/no/on/off, ints, floats), quoted ones stay strings, anchors,
 * aliases and merge keys work. The input is hostile: one document, mapping
 * keys must be scalars and unique, nesting and alias expansion are bounded,
 * and every error names the line and column. Built from libyaml's events with
 * an explicit stack, no recursion. */
#include "apiserver.h"

#include "error/error.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* How big a node is once aliases are expanded: values, and bytes of JSON. */
typedef struct ysize {
    size_t values;
    size_t bytes;
} ysize;

typedef struct yframe {
    json_t *node;   /* the array or object being built */
    json_t *merged; /* an object: entries from "<<" merge keys, applied at the end */
    char *anchor;   /* registered when the node is complete */
    char *key;      /* a mapping's pending key, NULL when the next scalar is a key */
    int key_is_merge;
    ysize size; /* this node's, aliases expanded */
} yframe;

typedef struct yanchor {
    char *name;
    json_t *value;
    ysize size;
} yanchor;

typedef struct ybuild {
    yframe stack[APISERVER_YAML_MAX_DEPTH];
    int depth;
    yanchor *anchors;
    size_t n_anchors, cap_anchors;
    json_t *root;
    int documents;
} ybuild;

static int at(const yaml_mark_t *m, int code, const char *fmt, const char *what)
{
    return porch_error_set(code, "malformed YAML in the request body at line %lu, column %lu: %s%s",
                           (unsigned long)m->line + 1, (unsigned long)m->column + 1, fmt,
                           what ? what : "");
}

/* ---- scalars ---- */

static int is_one_of(const char *s, const char *const *set)
{
    for (size_t i = 0; set[i]; i++)
        if (strcmp(s, set[i]) == 0)
            return 1;
    return 0;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"y",  "Y",  "yes",  "Yes",  "YES",  "on",
                                         "On", "ON", "true", "True", "TRUE", NULL};
static const char *const false_words[] = {"n",   "N",   "no",    "No",    "NO",    "off",
                                          "Off", "OFF", "false", "False", "FALSE", NULL};

/* Copies s without '_' (YAML 1.1 digit separators) into buf; 0 when it fits. */
static int strip_underscores(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; *s; s++) {
        if (*s == '_')
            continue;
        if (n + 1 >= cap)
            return -1;
        buf[n++] = *s;
    }
    buf[n] = '\0';
    return 0;
}

static int all_digits(const char *s, const char *digits)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (strchr(digits, *s) == NULL)
            return 0;
    return 1;
}

/* An integer in YAML 1.1 form (decimal, 0x hex, 0o or leading-0 octal, 0b
 * binary, '_' separators); 1 and *out when it is one. */
static int parse_int(const char *text, json_int_t *out, int *overflow)
{
    char buf[80];
    *overflow = 0;
    if (strip_underscores(text, buf, sizeof(buf)) != 0)
        return 0;
    const char *p = buf;
    int neg = 0;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    int base = 10;
    const char *digits = "0123456789";
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        base = 16, digits = "0123456789abcdefABCDEF", p += 2;
    else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
        base = 8, digits = "01234567", p += 2;
    else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
        base = 2, digits = "01", p += 2;
    else if (p[0] == '0' && p[1] != '\0')
        base = 8, digits = "01234567", p += 1;
    if (!all_digits(p, digits) || text[0] == '_')
        return 0;
    errno = 0;
    unsigned long long v = strtoull(p, NULL, base);
    if (errno == ERANGE || v > (unsigned long long)LLONG_MAX + (neg ? 1u : 0u)) {
        *overflow = base == 10;
        return base == 10 ? 0 : -1;
    }
    *out = neg ? (json_int_t)(0 - v) : (json_int_t)v;
    return 1;
}

/* [-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)? and the .inf/.nan words. */
static int parse_float(const char *text, double *out, int *special)
{
    static const char *const specials[] = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf",
                                           "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
                                           ".NaN",  ".NAN",  NULL};
    *special = is_one_of(text, specials);
    if (*special)
        return 1;
    char buf[128];
    if (strip_underscores(text, buf, sizeof(buf)) != 0)
        return 0;
    const char *p = buf;
    if (*p == '+' || *p == '-')
        p++;
    size_t int_digits = strspn(p, "0123456789");
    p += int_digits;
    size_t frac_digits = 0;
    if (*p == '.') {
        p++;
        frac_digits = strspn(p, "0123456789");
        p += frac_digits;
    } else if (int_digits == 0) {
        return 0;
    }
    if (int_digits == 0 && frac_digits == 0)
        return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        size_t exp_digits = strspn(p, "0123456789");
        if (exp_digits == 0)
            return 0;
        p += exp_digits;
    }
    if (*p != '\0' || text[0] == '_')
        return 0;
    *out = strtod(buf, NULL);
    return isfinite(*out) ? 1 : -1;
}

static int tag_is(const yaml_char_t *tag, const char *short_name)
{
    char full[64];
    snprintf(full, sizeof(full), "tag:yaml.org,2002:%s", short_name);
    return tag != NULL && strcmp((const char *)tag, full) == 0;
}

/* The JSON value of one scalar event (new reference), or NULL with the error set. */
static json_t *scalar_value(const yaml_event_t *ev)
{
    const char *text = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const yaml_char_t *tag = ev->data.scalar.tag;
    const yaml_mark_t *m = &ev->start_mark;
    if (strlen(text) != len) {
        at(m, 400, "a string holds a NUL character", NULL);
        return NULL;
    }
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    int tagged = tag != NULL && strcmp((const char *)tag, "!") != 0;
    if (tag_is(tag, "str") || tag_is(tag, "binary") || tag_is(tag, "timestamp") ||
        (!plain && !tagged) ||
        (tagged && !tag_is(tag, "null") && !tag_is(tag, "bool") && !tag_is(tag, "int") &&
         !tag_is(tag, "float"))) {
        json_t *s = json_stringn(text, len);
        if (s == NULL)
            at(m, 400, "a string is not valid UTF-8", NULL);
        return s;
    }
    if ((!tagged || tag_is(tag, "null")) && is_one_of(text, null_words))
        return json_null();
    if (!tagged || tag_is(tag, "bool")) {
        if (is_one_of(text, true_words))
            return json_true();
        if (is_one_of(text, false_words))
            return json_false();
    }
    json_int_t i;
    int overflow = 0;
    if (!tagged || tag_is(tag, "int")) {
        int r = parse_int(text, &i, &overflow);
        if (r == 1)
            return json_integer(i);
        if (r < 0) {
            at(m, 400, "integer out of range: ", text);
            return NULL;
        }
    }
    if (!tagged || tag_is(tag, "float") || overflow) {
        double d;
        int special = 0;
        int r = parse_float(text, &d, &special);
        if (r != 0 && special) {
            at(m, 400, "JSON cannot represent the number ", text);
            return NULL;
        }
        if (r == 1)
            return json_real(d);
        if (r < 0) {
            at(m, 400, "number out of range: ", text);
            return NULL;
        }
    }
    if (tagged) {
        at(m, 400, "the value does not match its tag ", (const char *)tag);
        return NULL;
    }
    json_t *s = json_stringn(text, len);
    if (s == NULL)
        at(m, 400, "a string is not valid UTF-8", NULL);
    return s;
}

/* ---- building ---- */

static void frame_clear(yframe *f)
{
    json_decref(f->node);
    json_decref(f->merged);
    free(f->anchor);
    free(f->key);
    memset(f, 0, sizeof(*f));
}

static void build_free(ybuild *b)
{
    for (int i = 0; i < b->depth; i++)
        frame_clear(&b->stack[i]);
    for (size_t i = 0; i < b->n_anchors; i++) {
        free(b->anchors[i].name);
        json_decref(b->anchors[i].value);
    }
    free(b->anchors);
    json_decref(b->root);
}

static int anchor_add(ybuild *b, const char *name, json_t *value, ysize size)
{
    if (name == NULL)
        return 0;
    if (b->n_anchors == b->cap_anchors) {
        size_t ncap = b->cap_anchors ? b->cap_anchors * 2 : 8;
        yanchor *na = realloc(b->anchors, ncap * sizeof(*na));
        if (na == NULL)
            return porch_error_set(500, "out of memory");
        b->anchors = na;
        b->cap_anchors = ncap;
    }
    yanchor *a = &b->anchors[b->n_anchors];
    a->name = strdup(name);
    if (a->name == NULL)
        return porch_error_set(500, "out of memory");
    a->value = json_incref(value);
    a->size = size;
    b->n_anchors++;
    return 0;
}

static const yanchor *anchor_find(const ybuild *b, const char *name)
{
    for (size_t i = b->n_anchors; i-- > 0;) /* a redefined anchor: the latest wins */
        if (strcmp(b->anchors[i].name, name) == 0)
            return &b->anchors[i];
    return NULL;
}

/* Merges a "<<" value (a mapping, or a sequence of mappings) into f->merged;
 * earlier sources win, as the merge key type says. */
static int merge_into(yframe *f, json_t *value, const yaml_mark_t *m)
{
    if (f->merged == NULL)
        f->merged = json_object();
    json_t *one = value;
    size_t i = 0, n = json_is_array(value) ? json_array_size(value) : 1;
    for (; i < n; i++) {
        if (json_is_array(value))
            one = json_array_get(value, i);
        if (!json_is_object(one))
            return at(m, 400,
                      "the value of a merge key \"<<\" must be a mapping or a list of "
                      "mappings",
                      NULL);
        const char *k;
        json_t *v;
        json_object_foreach(one, k, v)
        {
            if (json_object_get(f->merged, k) == NULL)
                json_object_set(f->merged, k, v);
        }
    }
    return 0;
}

/* Places a complete value (stolen) into the node on top of the stack, or as the root. */
static int place(ybuild *b, json_t *value, ysize size, const yaml_mark_t *m)
{
    if (b->depth == 0) {
        b->root = value;
        return 0;
    }
    yframe *f = &b->stack[b->depth - 1];
    f->size.values += size.values;
    f->size.bytes += size.bytes;
    if (f->size.values > APISERVER_YAML_MAX_VALUES) {
        json_decref(value);
        return at(m, 400, "the document expands to more than 2,000,000 values (aliases?)", NULL);
    }
    if (f->size.bytes > APISERVER_YAML_MAX_JSON_BYTES) {
        json_decref(value);
        return at(m, 400, "the document expands to more than 24 MiB of JSON (aliases?)", NULL);
    }
    if (json_is_array(f->node)) {
        json_array_append_new(f->node, value);
        return 0;
    }
    if (f->key == NULL) { /* this value is a key */
        if (!json_is_string(value)) {
            int scalar = !json_is_object(value) && !json_is_array(value);
            json_decref(value);
            if (!scalar)
                return at(m, 400, "a mapping key must be a scalar, not a mapping or a list", NULL);
            return at(m, 400, "a mapping key must be a string", NULL);
        }
        f->key = strdup(json_string_value(value));
        json_decref(value);
        return f->key ? 0 : porch_error_set(500, "out of memory");
    }
    int rc = 0;
    if (f->key_is_merge) {
        rc = merge_into(f, value, m);
    } else if (json_object_get(f->node, f->key) != NULL) {
        rc = at(m, 400, "duplicate mapping key ", f->key);
    } else {
        json_object_set(f->node, f->key, value);
    }
    json_decref(value);
    free(f->key);
    f->key = NULL;
    f->key_is_merge = 0;
    return rc;
}

static int push(ybuild *b, json_t *node, const yaml_char_t *anchor, const yaml_mark_t *m)
{
    if (b->depth >= APISERVER_YAML_MAX_DEPTH) {
        json_decref(node);
        return at(m, 400, "nested deeper than 100 levels", NULL);
    }
    yframe *f = &b->stack[b->depth++];
    memset(f, 0, sizeof(*f));
    f->node = node;
    f->size.values = 1;
    f->size.bytes = 3; /* brackets and a comma */
    if (anchor != NULL && (f->anchor = strdup((const char *)anchor)) == NULL)
        return porch_error_set(500, "out of memory");
    return 0;
}

static int pop(ybuild *b, const yaml_mark_t *m)
{
    yframe f = b->stack[--b->depth];
    if (json_is_object(f.node) && f.key != NULL) {
        frame_clear(&f);
        return at(m, 400, "a mapping key has no value", NULL);
    }
    if (f.merged != NULL) {
        const char *k;
        json_t *v;
        json_object_foreach(f.merged, k, v)
        {
            if (json_object_get(f.node, k) == NULL)
                json_object_set(f.node, k, v);
        }
    }
    json_t *node = json_incref(f.node);
    ysize size = f.size;
    int rc = anchor_add(b, f.anchor, node, size);
    frame_clear(&f);
    if (rc != 0) {
        json_decref(node);
        return rc;
    }
    return place(b, node, size, m);
}

/* Marks the next value of a mapping as the value of a plain "<<" key. */
static void note_merge_key(ybuild *b, const yaml_event_t *ev)
{
    if (b->depth == 0)
        return;
    yframe *f = &b->stack[b->depth - 1];
    if (json_is_object(f->node) && f->key == NULL &&
        ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        strcmp((const char *)ev->data.scalar.value, "<<") == 0 && ev->data.scalar.tag == NULL)
        f->key_is_merge = 1;
}

static int on_event(ybuild *b, const yaml_event_t *ev)
{
    const yaml_mark_t *m = &ev->start_mark;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->documents > 1)
            return at(m, 400, "the body holds more than one YAML document; send one object", NULL);
        return 0;
    case YAML_SCALAR_EVENT: {
        note_merge_key(b, ev);
        yframe *top = b->depth > 0 ? &b->stack[b->depth - 1] : NULL;
        json_t *v;
        if (top != NULL && json_is_object(top->node) && top->key == NULL) {
            /* a key: its text, as sigs.k8s.io/yaml turns 1: or true: into "1", "true" */
            v = json_stringn((const char *)ev->data.scalar.value, ev->data.scalar.length);
            if (v == NULL)
                return at(m, 400, "a mapping key is not valid UTF-8 or holds a NUL", NULL);
        } else {
            v = scalar_value(ev);
        }
        if (v == NULL)
            return -1;
        ysize one = {1, ev->data.scalar.length + 3}; /* quotes and a comma */
        if (anchor_add(b, (const char *)ev->data.scalar.anchor, v, one) != 0) {
            json_decref(v);
            return -1;
        }
        return place(b, v, one, m);
    }
    case YAML_ALIAS_EVENT: {
        const yanchor *a = anchor_find(b, (const char *)ev->data.alias.anchor);
        if (a == NULL)
            return at(m, 400, "unknown alias *", (const char *)ev->data.alias.anchor);
        return place(b, json_incref(a->value), a->size, m);
    }
    case YAML_SEQUENCE_START_EVENT:
        return push(b, json_array(), ev->data.sequence_start.anchor, m);
    case YAML_MAPPING_START_EVENT:
        return push(b, json_object(), ev->data.mapping_start.anchor, m);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return pop(b, m);
    default:
        return 0;
    }
}

int apiserver_body_yaml(const char *buf, size_t len, json_t **out)
{
    *out = NULL;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return porch_error_set(500, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    ybuild *b = calloc(1, sizeof(*b));
    int rc = b ? 0 : porch_error_set(500, "out of memory");
    for (int done = 0; rc == 0 && !done;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            const yaml_mark_t *m = &parser.problem_mark;
            rc = porch_error_set(400,
                                 "malformed YAML in the request body at line %lu, column %lu: "
                                 "%s%s%s",
                                 (unsigned long)m->line + 1, (unsigned long)m->column + 1,
                                 parser.problem ? parser.problem : "syntax error",
                                 parser.context ? " " : "", parser.context ? parser.context : "");
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (rc == 0 && (b->root == NULL || json_is_null(b->root)))
        rc = porch_error_set(400, "the request body is empty; send a YAML mapping");
    else if (rc == 0 && !json_is_object(b->root))
        rc = porch_error_set(400, "the request body must be a YAML mapping (an object)");
    if (rc == 0) {
        *out = b->root;
        b->root = NULL;
    }
    if (b != NULL) {
        build_free(b);
        free(b);
    }
    return rc == 0 ? 0 : -1;
}
