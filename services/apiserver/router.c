/* The REST router: turns a decoded request path into {group, version,
 * namespace, resource, name, subresource} and a query string into the list
 * options Kubernetes defines. Input is hostile: every segment is bounded and
 * checked, and anything that is not a Kubernetes resource path is a 404. */
#include "apiserver.h"

#include "error/error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies the next '/'-separated segment of *p into out; 0, or -1 when it is
 * empty, too long, or holds bytes a Kubernetes name never has. */
static int next_segment(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    if (*s == '/')
        s++;
    size_t n = 0;
    while (s[n] != '\0' && s[n] != '/')
        n++;
    if (n == 0 || n >= cap)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '-' || c == '.' || c == '_' || c == ':'))
            return -1;
    }
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    *p = s + n;
    return 0;
}

static int not_found(const char *path)
{
    return porch_error_set(404, "the server could not find the requested resource (%.200s)", path);
}

/* Parses what follows /api/v1 or /apis/G/V: [namespaces/NS/]RES[/NAME[/SUB]].
 * The core group also has /api/v1/namespaces[/NAME[/SUB]] itself. */
static int parse_tail(const char *p, const char *path, apiserver_route *out)
{
    char seg[APISERVER_NAME_MAX];
    if (next_segment(&p, seg, sizeof(seg)) != 0)
        return not_found(path);
    if (strcmp(seg, "namespaces") == 0 && *p != '\0') {
        if (next_segment(&p, out->ns, sizeof(out->ns)) != 0)
            return not_found(path);
        if (*p == '\0') { /* /api/v1/namespaces/NAME */
            strcpy(out->resource, "namespaces");
            strcpy(out->name, out->ns);
            out->ns[0] = '\0';
            return 0;
        }
        if (next_segment(&p, seg, sizeof(seg)) != 0)
            return not_found(path);
        if (out->core && strcmp(seg, "status") == 0 && *p == '\0') {
            strcpy(out->resource, "namespaces");
            strcpy(out->name, out->ns);
            strcpy(out->subresource, "status");
            out->ns[0] = '\0';
            return 0;
        }
        if (strlen(seg) >= sizeof(out->resource))
            return not_found(path);
        strcpy(out->resource, seg);
    } else {
        if (strlen(seg) >= sizeof(out->resource))
            return not_found(path);
        strcpy(out->resource, seg);
    }
    if (*p == '\0')
        return 0;
    if (next_segment(&p, out->name, sizeof(out->name)) != 0)
        return not_found(path);
    if (*p == '\0')
        return 0;
    if (next_segment(&p, out->subresource, sizeof(out->subresource)) != 0 || *p != '\0')
        return not_found(path);
    return 0;
}

int apiserver_route_parse(const char *path, apiserver_route *out)
{
    memset(out, 0, sizeof(*out));
    if (path == NULL || strlen(path) > APISERVER_PATH_MAX)
        return porch_error_set(414, "request path is longer than %d bytes", APISERVER_PATH_MAX);
    const char *p = path;
    if (strncmp(p, "/api/v1/", 8) == 0) {
        out->core = 1;
        strcpy(out->version, "v1");
        return parse_tail(p + 7, path, out);
    }
    if (strncmp(p, "/apis/", 6) != 0)
        return not_found(path);
    p += 5;
    if (next_segment(&p, out->group, sizeof(out->group)) != 0 ||
        next_segment(&p, out->version, sizeof(out->version)) != 0 || *p != '/')
        return not_found(path);
    return parse_tail(p, path, out);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes src[0..n) into out (form encoding: '+' is a space); -1 when it does not fit. */
static int url_decode(const char *src, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)src[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n + 0 && hexval(src[i + 1]) >= 0 &&
                   hexval(src[i + 2]) >= 0) {
            c = hexval(src[i + 1]) * 16 + hexval(src[i + 2]);
            i += 2;
        }
        if (c == 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

static int parse_bool(const char *v)
{
    return strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

/* Stores one decoded key=value; unknown keys are ignored as Kubernetes does. */
static int query_set(apiserver_query *q, const char *key, const char *val)
{
    struct {
        const char *key;
        char *dst;
        size_t cap;
    } strs[] = {
        {"labelSelector", q->label_selector, sizeof(q->label_selector)},
        {"fieldSelector", q->field_selector, sizeof(q->field_selector)},
        {"continue", q->cont, sizeof(q->cont)},
        {"resourceVersion", q->resource_version, sizeof(q->resource_version)},
        {"dryRun", q->dry_run, sizeof(q->dry_run)},
        {"fieldValidation", q->field_validation, sizeof(q->field_validation)},
        {"includeObject", q->include_object, sizeof(q->include_object)},
        {"fieldManager", q->field_manager, sizeof(q->field_manager)},
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (strcmp(key, strs[i].key) != 0)
            continue;
        if (strlen(val) >= strs[i].cap)
            return porch_error_set(400, "query parameter %s is too long (at most %zu bytes)", key,
                                   strs[i].cap - 1);
        strcpy(strs[i].dst, val);
        return 0;
    }
    if (strcmp(key, "watch") == 0) {
        q->watch = parse_bool(val);
    } else if (strcmp(key, "allowWatchBookmarks") == 0) {
        q->allow_bookmarks = parse_bool(val);
    } else if (strcmp(key, "sendInitialEvents") == 0) {
        q->send_initial_events = parse_bool(val) ? 1 : -1;
    } else if (strcmp(key, "limit") == 0 || strcmp(key, "timeoutSeconds") == 0) {
        char *end = NULL;
        long v = strtol(val, &end, 10);
        if (*val == '\0' || *end != '\0' || v < 0 || v > 100000000)
            return porch_error_set(
                400, "query parameter %s=\"%.64s\" must be a non-negative integer", key, val);
        if (key[0] == 'l')
            q->limit = v;
        else
            q->timeout_seconds = v;
    }
    return 0;
}

int apiserver_query_parse(const char *qs, apiserver_query *out)
{
    memset(out, 0, sizeof(*out));
    if (qs == NULL)
        return 0;
    if (strlen(qs) > APISERVER_QUERY_MAX)
        return porch_error_set(414, "query string is longer than %d bytes", APISERVER_QUERY_MAX);
    const char *p = qs;
    while (*p != '\0') {
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        char key[64], val[APISERVER_QUERY_MAX + 1];
        size_t klen = eq ? (size_t)(eq - p) : n;
        if (url_decode(p, klen, key, sizeof(key)) == 0) {
            const char *v = eq ? eq + 1 : p + n;
            size_t vlen = eq ? n - klen - 1 : 0;
            if (url_decode(v, vlen, val, sizeof(val)) != 0)
                return porch_error_set(400, "query parameter %s is not valid URL encoding", key);
            if (query_set(out, key, val) != 0)
                return -1;
        }
        p += n;
        if (*p == '&')
            p++;
    }
    return 0;
}
