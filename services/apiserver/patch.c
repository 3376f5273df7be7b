/* PATCH bodies applied to the current object: JSON merge patch (RFC 7386;
 * strategic merge patch is treated the same, as for CRDs) and JSON patch
 * (RFC 6902: add, remove, replace, move, copy, test; pointers per RFC 6901). */
#include "apiserver.h"

#include "error/error.h"

#include <stdlib.h>
#include <string.h>

/* Applies `patch` (borrowed) to `target` (modified in place); returns the
 * result, which is a new reference (target when both are objects). */
static json_t *merge(json_t *target, json_t *patch, int depth)
{
    if (!json_is_object(patch) || depth > 64)
        return json_deep_copy(patch);
    json_t *out = json_is_object(target) ? json_incref(target) : json_object();
    const char *key;
    json_t *val;
    json_object_foreach(patch, key, val)
    {
        if (json_is_null(val)) {
            json_object_del(out, key);
        } else {
            json_t *cur = json_object_get(out, key);
            json_object_set_new(out, key, merge(cur, val, depth + 1));
        }
    }
    return out;
}

int apiserver_patch_merge(json_t *target, json_t *patch, json_t **out)
{
    if (!json_is_object(patch))
        return porch_error_set(400, "a merge patch must be a JSON object");
    *out = merge(target, patch, 0);
    return 0;
}

/* Decodes one RFC 6901 reference token (~1 -> /, ~0 -> ~) into out. */
static int pointer_token(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    size_t n = 0;
    while (*s != '\0' && *s != '/') {
        char c = *s++;
        if (c == '~') {
            if (*s == '0')
                c = '~';
            else if (*s == '1')
                c = '/';
            else
                return -1;
            s++;
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    *p = s;
    return 0;
}

/* Array index token: digits, or "-" (end) when allowed; -1 when invalid. */
static long array_index(const char *tok, size_t size, int allow_end)
{
    if (allow_end && strcmp(tok, "-") == 0)
        return (long)size;
    if (*tok == '\0' || (tok[0] == '0' && tok[1] != '\0'))
        return -1;
    long v = 0;
    for (const char *c = tok; *c; c++) {
        if (*c < '0' || *c > '9' || v > 1000000)
            return -1;
        v = v * 10 + (*c - '0');
    }
    return v;
}

/* Finds the parent container of `path` and its last token. */
static int resolve_parent(json_t *doc, const char *path, json_t **parent, char *last, size_t cap)
{
    if (path[0] != '/')
        return porch_error_set(400, "JSON patch path \"%.200s\" must start with '/'", path);
    const char *p = path + 1;
    json_t *cur = doc;
    char tok[512];
    for (;;) {
        if (pointer_token(&p, tok, sizeof(tok)) != 0)
            return porch_error_set(400, "JSON patch path \"%.200s\" is not a valid pointer", path);
        if (*p == '\0') {
            *parent = cur;
            snprintf(last, cap, "%s", tok);
            return 0;
        }
        p++;
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            long i = array_index(tok, json_array_size(cur), 0);
            cur = i < 0 ? NULL : json_array_get(cur, (size_t)i);
        } else {
            cur = NULL;
        }
        if (cur == NULL)
            return porch_error_set(422, "JSON patch path \"%.200s\" does not exist", path);
    }
}

static json_t *pointer_get(json_t *doc, const char *path)
{
    if (path[0] == '\0')
        return doc;
    json_t *parent;
    char last[512];
    if (resolve_parent(doc, path, &parent, last, sizeof(last)) != 0)
        return NULL;
    if (json_is_object(parent))
        return json_object_get(parent, last);
    if (json_is_array(parent)) {
        long i = array_index(last, json_array_size(parent), 0);
        return i < 0 ? NULL : json_array_get(parent, (size_t)i);
    }
    return NULL;
}

static int op_remove(json_t *doc, const char *path, json_t **removed)
{
    json_t *parent;
    char last[512];
    if (resolve_parent(doc, path, &parent, last, sizeof(last)) != 0)
        return -1;
    if (json_is_object(parent) && json_object_get(parent, last) != NULL) {
        if (removed)
            *removed = json_incref(json_object_get(parent, last));
        json_object_del(parent, last);
        return 0;
    }
    if (json_is_array(parent)) {
        long i = array_index(last, json_array_size(parent), 0);
        if (i >= 0 && (size_t)i < json_array_size(parent)) {
            if (removed)
                *removed = json_incref(json_array_get(parent, (size_t)i));
            json_array_remove(parent, (size_t)i);
            return 0;
        }
    }
    return porch_error_set(422, "JSON patch cannot remove \"%.200s\": it does not exist", path);
}

/* add/replace `value` (stolen) at `path`. */
static int op_add(json_t *doc, const char *path, json_t *value, int replace)
{
    json_t *parent;
    char last[512];
    if (resolve_parent(doc, path, &parent, last, sizeof(last)) != 0) {
        json_decref(value);
        return -1;
    }
    if (json_is_object(parent)) {
        if (replace && json_object_get(parent, last) == NULL) {
            json_decref(value);
            return porch_error_set(422, "JSON patch cannot replace \"%.200s\": it does not exist",
                                   path);
        }
        json_object_set_new(parent, last, value);
        return 0;
    }
    if (json_is_array(parent)) {
        size_t size = json_array_size(parent);
        long i = array_index(last, size, !replace);
        if (i >= 0 && (replace ? (size_t)i < size : (size_t)i <= size)) {
            if (replace)
                json_array_set_new(parent, (size_t)i, value);
            else
                json_array_insert_new(parent, (size_t)i, value);
            return 0;
        }
    }
    json_decref(value);
    return porch_error_set(422, "JSON patch path \"%.200s\" is out of range", path);
}

/* Values created by add/replace/copy, counted so that a small patch of
 * "copy /a into /a/x" operations cannot double the document until memory
 * runs out. */
#define PATCH_NODE_BUDGET 2000000

static size_t count_nodes(json_t *v, size_t limit)
{
    size_t n = 1;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c)
        {
            if (n > limit)
                break;
            n += count_nodes(c, limit - n);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c)
        {
            if (n > limit)
                break;
            n += count_nodes(c, limit - n);
        }
    }
    return n;
}

static int apply_op(json_t *doc, json_t *op, size_t *budget)
{
    const char *name = json_string_value(json_object_get(op, "op"));
    const char *path = json_string_value(json_object_get(op, "path"));
    json_t *value = json_object_get(op, "value");
    const char *from = json_string_value(json_object_get(op, "from"));
    if (name == NULL || path == NULL)
        return porch_error_set(400, "every JSON patch operation needs \"op\" and \"path\"");
    if (path[0] == '\0')
        return porch_error_set(422, "JSON patch cannot change the whole document (path \"\")");
    if (strcmp(name, "add") == 0 || strcmp(name, "replace") == 0) {
        if (value == NULL)
            return porch_error_set(400, "JSON patch \"%s\" needs a \"value\"", name);
        size_t n = count_nodes(value, *budget + 1);
        if (n > *budget)
            return porch_error_set(422, "JSON patch creates more than %d values",
                                   PATCH_NODE_BUDGET);
        *budget -= n;
        return op_add(doc, path, json_deep_copy(value), name[0] == 'r');
    }
    if (strcmp(name, "remove") == 0)
        return op_remove(doc, path, NULL);
    if (strcmp(name, "test") == 0) {
        json_t *cur = pointer_get(doc, path);
        if (cur == NULL || value == NULL || !json_equal(cur, value))
            return porch_error_set(422, "JSON patch test failed at \"%.200s\"", path);
        return 0;
    }
    if (strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) {
        if (from == NULL)
            return porch_error_set(400, "JSON patch \"%s\" needs \"from\"", name);
        json_t *v = NULL;
        if (name[0] == 'm') {
            if (strncmp(path, from, strlen(from)) == 0 && path[strlen(from)] == '/')
                return porch_error_set(422, "JSON patch cannot move \"%.200s\" into itself", from);
            if (op_remove(doc, from, &v) != 0)
                return -1;
        } else {
            json_t *src = pointer_get(doc, from);
            if (src == NULL)
                return porch_error_set(422, "JSON patch \"from\" \"%.200s\" does not exist", from);
            size_t n = count_nodes(src, *budget + 1);
            if (n > *budget)
                return porch_error_set(422, "JSON patch creates more than %d values",
                                       PATCH_NODE_BUDGET);
            *budget -= n;
            v = json_deep_copy(src);
        }
        return op_add(doc, path, v, 0);
    }
    return porch_error_set(400, "unknown JSON patch operation \"%.64s\"", name);
}

int apiserver_patch_json(json_t *target, json_t *patch, json_t **out)
{
    if (!json_is_array(patch))
        return porch_error_set(400, "a JSON patch must be a JSON array of operations");
    if (json_array_size(patch) > 10000)
        return porch_error_set(400, "a JSON patch may have at most 10000 operations");
    json_t *doc = json_deep_copy(target);
    size_t budget = PATCH_NODE_BUDGET;
    size_t i;
    json_t *op;
    json_array_foreach(patch, i, op)
    {
        if (!json_is_object(op) || apply_op(doc, op, &budget) != 0) {
            if (!json_is_object(op))
                porch_error_set(400, "JSON patch operation %zu is not an object", i);
            json_decref(doc);
            return -1;
        }
    }
    *out = doc;
    return 0;
}
