/* search-replace: finds scalar fields by path pattern (a.*.c, a.**.c,
 * a.b[1], a.b[*]), by value or whole-value regex and by file path, and puts
 * a new value and/or line comment (with ${N} capture groups), creating a
 * plain path when nothing matches a value-less search, as the catalog does. */
#include "fn_builtin.h"

#include "error/error.h"

#include <fnmatch.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEGS 64

typedef struct sr {
    fn_ctx *c;
    const char *by_value, *by_regex, *by_path, *by_file, *put_value, *put_comment;
    regex_t re;
    bool has_re;
    char *pat[MAX_SEGS];
    size_t npat;
    int matches;
} sr;

static size_t split_path(const char *p, char *out[], size_t max)
{
    size_t n = 0;
    char *dup = strdup(p), *save = NULL;
    for (char *t = strtok_r(dup, ".", &save); t && n < max; t = strtok_r(NULL, ".", &save)) {
        char *br = strchr(t, '[');
        if (br && br != t) {
            *br = '\0';
            out[n++] = strdup(t);
            *br = '[';
            if (n < max)
                out[n++] = strdup(br);
        } else {
            out[n++] = strdup(t);
        }
    }
    free(dup);
    return n;
}

static bool seg_match(const char *pat, const char *seg)
{
    if (!strcmp(pat, "*"))
        return seg[0] != '[';
    if (!strcmp(pat, "[*]"))
        return seg[0] == '[';
    return !strcmp(pat, seg);
}

static bool path_match(char *const *pat, size_t np, char *const *segs, size_t ns)
{
    if (np == 0)
        return ns == 0;
    if (!strcmp(pat[0], "**")) {
        for (size_t k = 0; k <= ns; k++)
            if (path_match(pat + 1, np - 1, segs + k, ns - k))
                return true;
        return false;
    }
    return ns > 0 && seg_match(pat[0], segs[0]) && path_match(pat + 1, np - 1, segs + 1, ns - 1);
}

/* Expands ${N} from the regex captures of `val`. */
static void expand(const sr *x, const char *tmpl, const char *val, const regmatch_t *m,
                   krm_buf *out)
{
    for (const char *p = tmpl; *p;) {
        if (p[0] == '$' && p[1] == '{' && x->has_re) {
            char *end;
            long g = strtol(p + 2, &end, 10);
            if (end != p + 2 && *end == '}' && g >= 0 && g < 10 && m[g].rm_so >= 0) {
                krm_buf_put(out, val + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
                p = end + 1;
                continue;
            }
        }
        krm_buf_put(out, p++, 1);
    }
    krm_buf_put(out, "", 1);
}

static void report(sr *x, krm_node *item, const char *path, const char *what, const char *v)
{
    char msg[4096];
    if (what)
        snprintf(msg, sizeof msg, "Mutated field %s to \"%s\"", what, v);
    else
        snprintf(msg, sizeof msg, "Matched field");
    fn_result r = {
        .message = msg, .severity = FN_SEV_NONE, .field_path = (char *)path, .file_index = -1};
    r.file_path = (char *)krm_res_path(item);
    r.file_index = r.file_path ? krm_res_index(item) : -1;
    fn_results_add_full(x->c->results, &r);
}

static void visit_scalar(sr *x, krm_node *item, krm_node *parent, krm_node *v, char *const *segs,
                         size_t ns)
{
    if (x->npat && !path_match(x->pat, x->npat, segs, ns))
        return;
    const char *val = krm_node_value(v);
    if (!val)
        return;
    regmatch_t m[10];
    for (int i = 0; i < 10; i++)
        m[i].rm_so = m[i].rm_eo = -1;
    if (x->by_value && strcmp(val, x->by_value))
        return;
    if (x->has_re &&
        (regexec(&x->re, val, 10, m, 0) || m[0].rm_so != 0 || (size_t)m[0].rm_eo != strlen(val)))
        return;
    char path[2048] = "";
    size_t o = 0;
    for (size_t i = 0; i < ns && o < sizeof path; i++)
        o += (size_t)snprintf(path + o, sizeof path - o, "%s%s", i && segs[i][0] != '[' ? "." : "",
                              segs[i]);
    x->matches++;
    char *orig = strdup(val);
    if (x->put_value) {
        krm_buf nv = {0};
        expand(x, x->put_value, orig, m, &nv);
        fn_scalar_replace(x->c->s, parent, parent ? segs[ns - 1] : NULL, v, nv.data);
        report(x, item, path, "value", nv.data);
        krm_buf_free(&nv);
    }
    if (x->put_comment) {
        krm_buf nc = {0}, com = {0};
        expand(x, x->put_comment, orig, m, &nc);
        krm_buf_put(&com, "# ", 2);
        krm_buf_put(&com, nc.data, strlen(nc.data) + 1);
        krm_node_set_comment(x->c->s, v, KRM_COMMENT_LINE, com.data);
        report(x, item, path, "comment", nc.data);
        krm_buf_free(&nc);
        krm_buf_free(&com);
    }
    if (!x->put_value && !x->put_comment)
        report(x, item, path, NULL, NULL);
    free(orig);
}

static void walk(sr *x, krm_node *item, krm_node *parent, krm_node *n, char **segs, size_t ns)
{
    if (ns >= MAX_SEGS)
        return;
    if (krm_node_kind(n) == KRM_SCALAR) {
        if (ns)
            visit_scalar(x, item, parent, n, segs, ns);
        return;
    }
    if (krm_node_kind(n) == KRM_MAP) {
        for (size_t i = 0; i < krm_map_len(n); i++) {
            const char *k = fn_scalar(krm_map_key_at(n, i));
            segs[ns] = (char *)(k ? k : "");
            walk(x, item, n, krm_map_value_at(n, i), segs, ns + 1);
        }
    } else if (krm_node_kind(n) == KRM_SEQ) {
        for (size_t i = 0; i < krm_seq_len(n); i++) {
            char idx[32];
            snprintf(idx, sizeof idx, "[%zu]", i);
            segs[ns] = idx;
            walk(x, item, NULL, krm_seq_at(n, i), segs, ns + 1);
        }
    }
}

static bool file_match(const char *pat, const char *path)
{
    if (!path)
        return false;
    if (!fnmatch(pat, path, FNM_PATHNAME))
        return true;
    if (!strncmp(pat, "**/", 3)) {
        for (const char *p = path;; p++) {
            if (!fnmatch(pat + 3, p, FNM_PATHNAME))
                return true;
            p = strchr(p, '/');
            if (!p)
                return false;
        }
    }
    return !fnmatch(pat, path, 0);
}

static bool simple_path(const char *p)
{
    return p && !strpbrk(p, "*[");
}

static int read_config(fn_ctx *c, sr *x)
{
    if (c->config && fn_config_kind(c) && !fn_config_is(c, "ConfigMap"))
        return fn_fail(c, "`functionConfig` must be a `ConfigMap`");
    x->by_value = fn_config_get(c, "by-value");
    x->by_regex = fn_config_get(c, "by-value-regex");
    x->by_path = fn_config_get(c, "by-path");
    x->by_file = fn_config_get(c, "by-file-path");
    x->put_value = fn_config_get(c, "put-value");
    x->put_comment = fn_config_get(c, "put-comment");
    if (!x->by_value && !x->by_regex && !x->by_path)
        return fn_fail(c, "at least one of [by-value, by-value-regex, by-path] must be provided");
    if (x->by_value && x->by_regex)
        return fn_fail(c, "only one of [by-value, by-value-regex] can be provided");
    if (x->by_regex) {
        if (regcomp(&x->re, x->by_regex, REG_EXTENDED))
            return fn_fail(c, "failed to compile by-value-regex %s", x->by_regex);
        x->has_re = true;
    }
    if (x->by_path)
        x->npat = split_path(x->by_path, x->pat, MAX_SEGS);
    return 0;
}

int fn_builtin_search_replace(fn_ctx *c)
{
    sr x = {.c = c};
    int rc = read_config(c, &x);
    for (size_t i = 0; rc == 0 && i < krm_seq_len(c->items); i++) {
        krm_node *o = krm_seq_at(c->items, i);
        if (krm_node_kind(o) != KRM_MAP)
            continue;
        if (x.by_file && !file_match(x.by_file, krm_res_path(o)))
            continue;
        char *segs[MAX_SEGS];
        int before = x.matches;
        walk(&x, o, NULL, o, segs, 0);
        /* a plain by-path with put-value and no value matcher creates the field */
        if (x.matches == before && x.put_value && simple_path(x.by_path) && !x.by_value &&
            !x.has_re && !krm_path_get(o, x.by_path)) {
            krm_node *v = krm_node_new_string(c->s, x.put_value);
            if (v && krm_path_set(c->s, o, x.by_path, v) == 0) {
                x.matches++;
                report(&x, o, x.by_path, "value", x.put_value);
            }
        }
    }
    for (size_t i = 0; i < x.npat; i++)
        free(x.pat[i]);
    if (x.has_re)
        regfree(&x.re);
    return rc;
}
