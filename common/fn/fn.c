/* The evaluator: picks what runs an image (deny list, the image map of
 * executables, the built-in C functions), runs it over a ResourceList held in
 * a krm tree, and collects results. Exec functions get the list as YAML on
 * stdin and hand one back on stdout, which is parsed, checked and healed. */
#include "fn/fn.h"
#include "fn_builtin.h"

#include "error/error.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fn_mapping {
    char *image; /* as written; matched with or without its tag */
    char *exec;
    char **args; /* NULL-terminated or NULL */
} fn_mapping;

struct fn_runtime {
    fn_runtime_opts opts;
    char **deny;
    size_t n_deny;
    fn_mapping *map;
    size_t n_map;
};

/* ---- results ---- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int fn_results_add_full(fn_results *r, const fn_result *src)
{
    if (r->len == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 8;
        fn_result *ni = realloc(r->items, nc * sizeof *ni);
        if (!ni)
            return porch_error_set(500, "out of memory");
        r->items = ni;
        r->cap = nc;
    }
    fn_result *d = &r->items[r->len++];
    d->message = dup_or_null(src->message ? src->message : "");
    d->severity = src->severity;
    d->ref_api_version = dup_or_null(src->ref_api_version);
    d->ref_kind = dup_or_null(src->ref_kind);
    d->ref_name = dup_or_null(src->ref_name);
    d->ref_namespace = dup_or_null(src->ref_namespace);
    d->field_path = dup_or_null(src->field_path);
    d->file_path = dup_or_null(src->file_path);
    d->file_index = src->file_index;
    return 0;
}

int fn_results_add(fn_results *r, fn_severity sev, const char *message, const krm_node *resource,
                   const char *field_path)
{
    fn_result x = {.message = (char *)message,
                   .severity = sev,
                   .file_index = -1,
                   .field_path = (char *)field_path};
    if (resource) {
        x.ref_api_version = (char *)krm_res_api_version(resource);
        x.ref_kind = (char *)krm_res_kind(resource);
        x.ref_name = (char *)krm_res_name(resource);
        x.ref_namespace = (char *)krm_res_namespace(resource);
        x.file_path = (char *)krm_res_path(resource);
        x.file_index = x.file_path ? krm_res_index(resource) : -1;
    }
    return fn_results_add_full(r, &x);
}

void fn_results_free(fn_results *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->len; i++) {
        fn_result *x = &r->items[i];
        free(x->message);
        free(x->ref_api_version);
        free(x->ref_kind);
        free(x->ref_name);
        free(x->ref_namespace);
        free(x->field_path);
        free(x->file_path);
    }
    free(r->items);
    memset(r, 0, sizeof *r);
}

bool fn_results_has_error(const fn_results *r)
{
    for (size_t i = 0; r && i < r->len; i++)
        if (r->items[i].severity == FN_SEV_ERROR)
            return true;
    return false;
}

const char *fn_severity_name(fn_severity sev)
{
    switch (sev) {
    case FN_SEV_INFO:
        return "info";
    case FN_SEV_WARNING:
        return "warning";
    case FN_SEV_ERROR:
        return "error";
    default:
        return NULL;
    }
}

static void put_str(krm_stream *s, krm_node *m, const char *k, const char *v)
{
    if (v && *v)
        krm_map_set(s, m, k, krm_node_new_string(s, v));
}

krm_node *fn_results_to_node(krm_stream *s, const fn_results *r)
{
    krm_node *seq = krm_node_new_seq(s);
    for (size_t i = 0; seq && r && i < r->len; i++) {
        const fn_result *x = &r->items[i];
        krm_node *m = krm_node_new_map(s);
        put_str(s, m, "message", x->message);
        put_str(s, m, "severity", fn_severity_name(x->severity));
        if (x->ref_kind || x->ref_name) {
            krm_node *ref = krm_node_new_map(s);
            put_str(s, ref, "apiVersion", x->ref_api_version);
            put_str(s, ref, "kind", x->ref_kind);
            put_str(s, ref, "name", x->ref_name);
            put_str(s, ref, "namespace", x->ref_namespace);
            krm_map_set(s, m, "resourceRef", ref);
        }
        if (x->field_path) {
            krm_node *f = krm_node_new_map(s);
            put_str(s, f, "path", x->field_path);
            krm_map_set(s, m, "field", f);
        }
        if (x->file_path) {
            krm_node *f = krm_node_new_map(s);
            put_str(s, f, "path", x->file_path);
            if (x->file_index > 0) {
                char b[32];
                snprintf(b, sizeof b, "%d", x->file_index);
                krm_map_set(s, f, "index", krm_node_new_scalar(s, b, strlen(b), KRM_PLAIN));
            }
            krm_map_set(s, m, "file", f);
        }
        krm_seq_append(s, seq, m);
    }
    return seq;
}

/* ---- image names ---- */

static const char *const catalog_prefixes[] = {
    "gcr.io/kpt-fn/",
    "ghcr.io/kptdev/krm-functions-catalog/",
    "ghcr.io/kptdev/kpt-functions-catalog/",
    "gcr.io/kpt-fn-contrib/",
    "docker.io/kptdev/krm-functions-catalog/",
};

const char *fn_image_function_name(const char *image, char *buf, size_t len)
{
    if (!image || !*image || !buf || len == 0)
        return NULL;
    const char *name = NULL;
    for (size_t i = 0; i < sizeof catalog_prefixes / sizeof *catalog_prefixes; i++) {
        size_t pl = strlen(catalog_prefixes[i]);
        if (!strncmp(image, catalog_prefixes[i], pl)) {
            name = image + pl;
            break;
        }
    }
    if (!name)
        name = strchr(image, '/') ? NULL : image;
    if (!name)
        return NULL;
    size_t n = strcspn(name, ":@");
    if (n == 0 || n >= len || memchr(name, '/', n))
        return NULL;
    memcpy(buf, name, n);
    buf[n] = '\0';
    return buf;
}

const char *fn_image_expand(const char *image, char *buf, size_t len)
{
    if (!image)
        image = "";
    snprintf(buf, len, "%s%s", strchr(image, '/') || !*image ? "" : catalog_prefixes[1], image);
    return buf;
}

/* "repo/img:tag" → length of "repo/img" (the tag starts after the last '/'). */
static size_t image_base_len(const char *image)
{
    const char *slash = strrchr(image, '/');
    const char *from = slash ? slash + 1 : image;
    return (size_t)(from - image) + strcspn(from, ":@");
}

/* ---- the image map file ---- */

static void mapping_free(fn_mapping *m)
{
    free(m->image);
    free(m->exec);
    for (size_t i = 0; m->args && m->args[i]; i++)
        free(m->args[i]);
    free(m->args);
}

static int map_add(fn_runtime *rt, const char *image, const char *exec, const krm_node *args)
{
    fn_mapping *nm = realloc(rt->map, (rt->n_map + 1) * sizeof *nm);
    if (!nm)
        return porch_error_set(500, "out of memory");
    rt->map = nm;
    fn_mapping *m = &rt->map[rt->n_map++];
    memset(m, 0, sizeof *m);
    m->image = strdup(image);
    m->exec = strdup(exec);
    if (args && krm_node_kind(args) == KRM_SEQ) {
        size_t n = krm_seq_len(args);
        m->args = calloc(n + 1, sizeof *m->args);
        for (size_t i = 0; m->args && i < n; i++) {
            const char *v = krm_node_value(krm_seq_at(args, i));
            m->args[i] = strdup(v ? v : "");
        }
    }
    return 0;
}

/* Accepts `functions: [{image, exec, args}]` (Porch function-runner style,
 * `command` as a synonym of exec) or a flat mapping `image: /path/to/exec`. */
static int load_image_map(fn_runtime *rt, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return porch_error_set(400, "cannot read the functions config %s: %m", path);
    krm_buf b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        krm_buf_put(&b, chunk, n);
    fclose(f);
    krm_stream *s = NULL;
    int rc = krm_stream_parse(b.data ? b.data : "", b.len, path, NULL, &s);
    krm_buf_free(&b);
    if (rc < 0)
        return -1;
    krm_node *root = krm_stream_count(s) ? krm_doc_root(krm_stream_doc(s, 0)) : NULL;
    krm_node *list = root ? krm_map_get(root, "functions") : NULL;
    rc = 0;
    if (list && krm_node_kind(list) == KRM_SEQ) {
        for (size_t i = 0; rc == 0 && i < krm_seq_len(list); i++) {
            krm_node *e = krm_seq_at(list, i);
            const char *img = fn_scalar(krm_map_get(e, "image"));
            const char *ex = fn_scalar(krm_map_get(e, "exec"));
            if (!ex)
                ex = fn_scalar(krm_map_get(e, "command"));
            if (!img || !ex)
                rc = porch_error_set(400, "%s: functions[%zu] needs `image` and `exec`", path, i);
            else
                rc = map_add(rt, img, ex, krm_map_get(e, "args"));
        }
    } else if (root && krm_node_kind(root) == KRM_MAP) {
        for (size_t i = 0; rc == 0 && i < krm_map_len(root); i++) {
            const char *img = fn_scalar(krm_map_key_at(root, i));
            const char *ex = fn_scalar(krm_map_value_at(root, i));
            if (!img || !ex)
                rc = porch_error_set(400, "%s: entry %zu must map an image to an executable", path,
                                     i);
            else
                rc = map_add(rt, img, ex, NULL);
        }
    } else if (root && !krm_scalar_is_null(root)) {
        rc = porch_error_set(400, "%s: expected `functions:` list of {image, exec}", path);
    }
    krm_stream_free(s);
    return rc;
}

/* ---- runtime ---- */

int fn_runtime_new(const fn_runtime_opts *opts, fn_runtime **out)
{
    fn_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return porch_error_set(500, "out of memory");
    if (opts)
        rt->opts = *opts;
    else
        rt->opts.builtins = true;
    rt->opts.image_map = NULL;
    rt->opts.deny_images = NULL;
    for (size_t i = 0; opts && opts->deny_images && opts->deny_images[i]; i++) {
        char **nd = realloc(rt->deny, (rt->n_deny + 1) * sizeof *nd);
        if (!nd) {
            fn_runtime_free(rt);
            return porch_error_set(500, "out of memory");
        }
        rt->deny = nd;
        rt->deny[rt->n_deny++] = strdup(opts->deny_images[i]);
    }
    if (opts && opts->image_map && load_image_map(rt, opts->image_map) < 0) {
        fn_runtime_free(rt);
        return -1;
    }
    *out = rt;
    return 0;
}

void fn_runtime_free(fn_runtime *rt)
{
    if (!rt)
        return;
    for (size_t i = 0; i < rt->n_deny; i++)
        free(rt->deny[i]);
    free(rt->deny);
    for (size_t i = 0; i < rt->n_map; i++)
        mapping_free(&rt->map[i]);
    free(rt->map);
    free(rt);
}

char *fn_runtime_available(const fn_runtime *rt)
{
    krm_buf b = {0};
    const char *sep = "";
    for (size_t i = 0; rt->opts.builtins && i < fn_builtin_count(); i++) {
        krm_buf_put(&b, sep, strlen(sep));
        krm_buf_put(&b, fn_builtin_at(i)->name, strlen(fn_builtin_at(i)->name));
        sep = ", ";
    }
    for (size_t i = 0; i < rt->n_map; i++) {
        krm_buf_put(&b, sep, strlen(sep));
        krm_buf_put(&b, rt->map[i].image, strlen(rt->map[i].image));
        sep = ", ";
    }
    krm_buf_put(&b, "", 1);
    return b.data;
}

size_t fn_runtime_mapped_count(const fn_runtime *rt)
{
    return rt->n_map;
}

const char *fn_runtime_mapped_image(const fn_runtime *rt, size_t i, const char **exec)
{
    if (i >= rt->n_map)
        return NULL;
    if (exec)
        *exec = rt->map[i].exec;
    return rt->map[i].image;
}

static bool denied(const fn_runtime *rt, const char *image)
{
    for (size_t i = 0; i < rt->n_deny; i++) {
        if (!fnmatch(rt->deny[i], image, 0))
            return true;
        size_t bl = image_base_len(image);
        char base[512];
        if (bl < sizeof base) {
            memcpy(base, image, bl);
            base[bl] = '\0';
            if (!fnmatch(rt->deny[i], base, 0))
                return true;
        }
    }
    return false;
}

static const fn_mapping *find_mapping(const fn_runtime *rt, const char *image)
{
    for (size_t i = 0; i < rt->n_map; i++)
        if (!strcmp(rt->map[i].image, image))
            return &rt->map[i];
    size_t bl = image_base_len(image);
    for (size_t i = 0; i < rt->n_map; i++) {
        const char *m = rt->map[i].image;
        if (strlen(m) == bl && !strncmp(m, image, bl))
            return &rt->map[i];
    }
    return NULL;
}

/* ---- built-ins ---- */

static krm_node *rl_items(krm_stream *s, krm_node *rl)
{
    krm_node *items = krm_map_get(rl, "items");
    if (items && krm_node_kind(items) == KRM_SEQ)
        return items;
    if (items && !krm_scalar_is_null(items))
        return NULL;
    items = krm_node_new_seq(s);
    if (!items || krm_map_set(s, rl, "items", items) < 0)
        return NULL;
    return items;
}

/* ---- the SDK's item order ---- */

typedef struct sort_key {
    char *id; /* "apiVersion kind namespace name", as the SDK's KubeObjects.Less */
    size_t pos;
    krm_node *item;
} sort_key;

static int cmp_sort_key(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->pos < y->pos ? -1 : x->pos > y->pos);
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* Sorts items as a function built on the kpt functions SDK writes them
 * (ResourceList.ToYAML sorts before writing); equal ids keep their order. */
static int sort_items_like_sdk(krm_stream *s, krm_node *items)
{
    size_t n = krm_seq_len(items);
    sort_key *k = calloc(n ? n : 1, sizeof *k);
    if (!k)
        return porch_error_set(500, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        krm_node *it = krm_seq_at(items, i);
        bool map = krm_node_kind(it) == KRM_MAP;
        const char *f[4] = {map ? krm_res_api_version(it) : NULL, map ? krm_res_kind(it) : NULL,
                            map ? krm_res_namespace(it) : NULL, map ? krm_res_name(it) : NULL};
        size_t len = 4;
        for (int j = 0; j < 4; j++)
            len += strlen(or_empty(f[j]));
        k[i] = (sort_key){.id = malloc(len), .pos = i, .item = it};
        if (!k[i].id) {
            rc = porch_error_set(500, "out of memory");
            break;
        }
        snprintf(k[i].id, len, "%s %s %s %s", or_empty(f[0]), or_empty(f[1]), or_empty(f[2]),
                 or_empty(f[3]));
    }
    if (rc == 0) {
        qsort(k, n, sizeof *k, cmp_sort_key);
        while (krm_seq_len(items))
            krm_seq_delete(items, krm_seq_len(items) - 1);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = krm_seq_append(s, items, k[i].item);
    }
    for (size_t i = 0; i < n; i++)
        free(k[i].id);
    free(k);
    return rc;
}

static int run_builtin(const fn_builtin *b, const char *image, krm_stream *s, krm_node *rl,
                       fn_results *results)
{
    fn_ctx c = {.s = s, .rl = rl, .results = results, .name = b->name};
    c.items = rl_items(s, rl);
    if (!c.items)
        return porch_error_set(400, "function %s: the ResourceList's items is not a list", image);
    krm_node *cfg = krm_map_get(rl, "functionConfig");
    c.config = cfg && krm_node_kind(cfg) == KRM_MAP ? cfg : NULL;
    int rc = b->run(&c);
    if (rc == 0 && b->sdk_sorted)
        rc = sort_items_like_sdk(s, c.items);
    if (rc < 0 && porch_error_last()->code == 0)
        porch_error_set(400, "function %s failed", image);
    return rc;
}

/* ---- wire text ---- */

static int parse_wire(const char *text, size_t len, const char *name, krm_stream **out)
{
    return krm_stream_parse(text, len, name, NULL, out);
}

/* ---- exec functions ---- */

#define FN_ID_ANNO "config.k8s.io/id"

static int parse_result_item(const krm_node *r, fn_results *out)
{
    if (krm_node_kind(r) != KRM_MAP)
        return 0;
    fn_result x = {.file_index = -1};
    x.message = (char *)fn_scalar(krm_map_get(r, "message"));
    const char *sev = fn_scalar(krm_map_get(r, "severity"));
    x.severity = !sev                      ? FN_SEV_NONE
                 : !strcmp(sev, "error")   ? FN_SEV_ERROR
                 : !strcmp(sev, "warning") ? FN_SEV_WARNING
                                           : FN_SEV_INFO;
    const krm_node *ref = krm_map_get(r, "resourceRef");
    if (ref) {
        x.ref_api_version = (char *)fn_scalar(krm_map_get(ref, "apiVersion"));
        x.ref_kind = (char *)fn_scalar(krm_map_get(ref, "kind"));
        x.ref_name = (char *)fn_scalar(krm_map_get(ref, "name"));
        x.ref_namespace = (char *)fn_scalar(krm_map_get(ref, "namespace"));
    }
    x.field_path = (char *)fn_scalar(krm_path_get(r, "field.path"));
    x.file_path = (char *)fn_scalar(krm_path_get(r, "file.path"));
    const char *idx = fn_scalar(krm_path_get(r, "file.index"));
    if (idx)
        x.file_index = atoi(idx);
    return fn_results_add_full(out, &x);
}

static void collect_results(const krm_node *root, fn_results *out)
{
    const krm_node *rs = krm_map_get(root, "results");
    for (size_t i = 0; rs && krm_node_kind(rs) == KRM_SEQ && i < krm_seq_len(rs); i++)
        parse_result_item(krm_seq_at(rs, i), out);
}

/* Checks the output is a ResourceList; *items_out is its items (NULL = none). */
static int check_output(const char *name, krm_stream *os, krm_node **root_out, krm_node **items_out)
{
    krm_node *root = krm_stream_count(os) ? krm_doc_root(krm_stream_doc(os, 0)) : NULL;
    if (!root || krm_node_kind(root) != KRM_MAP)
        return porch_error_set(500,
                               "function %s: output is not a ResourceList (empty or not "
                               "a mapping)",
                               name);
    const char *kind = fn_scalar(krm_map_get(root, "kind"));
    if (!kind || strcmp(kind, "ResourceList"))
        return porch_error_set(500, "function %s: output is not a ResourceList (kind %s)", name,
                               kind ? kind : "missing");
    krm_node *items = krm_map_get(root, "items");
    if (items && krm_node_kind(items) != KRM_SEQ && !krm_scalar_is_null(items))
        return porch_error_set(500,
                               "function %s: output ResourceList has `items` that is not "
                               "a list",
                               name);
    *root_out = root;
    *items_out = items && krm_node_kind(items) == KRM_SEQ ? items : NULL;
    return 0;
}

/* Replaces rl.items by copies of the output items, healing comments from the
 * input item with the same temporary id and dropping that id. */
static int adopt_items(krm_stream *s, krm_node *rl, krm_node *in_items, krm_node *out_items)
{
    krm_node *seq = krm_node_new_seq(s);
    if (!seq)
        return porch_error_set(500, "out of memory");
    size_t n_in = in_items ? krm_seq_len(in_items) : 0;
    for (size_t i = 0; out_items && i < krm_seq_len(out_items); i++) {
        krm_node *it = krm_node_copy(s, krm_seq_at(out_items, i));
        if (!it)
            return porch_error_set(500, "out of memory");
        const char *id = krm_res_annotation(it, FN_ID_ANNO);
        if (id) {
            char *end;
            long k = strtol(id, &end, 10);
            if (*end == '\0' && k >= 0 && (size_t)k < n_in)
                krm_heal_comments(s, krm_seq_at(in_items, (size_t)k), it);
            krm_res_delete_annotation(it, FN_ID_ANNO);
        }
        krm_seq_append(s, seq, it);
    }
    for (size_t i = 0; i < n_in; i++)
        krm_res_delete_annotation(krm_seq_at(in_items, i), FN_ID_ANNO);
    return krm_map_set(s, rl, "items", seq);
}

static int run_exec(fn_runtime *rt, const char *name, const char *path, char *const *args,
                    const char *workdir, int timeout_ms, krm_stream *s, krm_node *rl,
                    fn_results *results, char **stderr_out)
{
    fn_exec_limits lim = rt->opts.limits;
    if (timeout_ms > 0 && (lim.timeout_ms <= 0 || timeout_ms < lim.timeout_ms))
        lim.timeout_ms = timeout_ms;
    krm_node *items = rl_items(s, rl);
    if (!items)
        return porch_error_set(400, "function %s: the ResourceList's items is not a list", name);
    size_t n = krm_seq_len(items);
    krm_node **v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return porch_error_set(500, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%zu", i);
        v[i] = krm_seq_at(items, i);
        if (krm_node_kind(v[i]) == KRM_MAP)
            krm_res_set_annotation(s, v[i], FN_ID_ANNO, id);
    }
    krm_buf in = {0};
    krm_node *cfg = krm_map_get(rl, "functionConfig");
    int rc = krm_emit_resource_list(v, n, cfg, &in);
    free(v);
    if (rc < 0) {
        krm_buf_free(&in);
        return -1;
    }
    fn_exec_spec spec = {.path = path,
                         .args = args,
                         .name = name,
                         .workdir = workdir,
                         .inherit_env = rt->opts.inherit_env};
    fn_exec_result res;
    rc = fn_exec_run(&spec, &lim, in.data ? in.data : "", in.len, &res);
    krm_buf_free(&in);
    if (rc < 0) {
        fn_exec_result_free(&res);
        goto strip;
    }
    if (stderr_out)
        *stderr_out = res.err ? strdup(res.err) : NULL;
    krm_stream *os = NULL;
    krm_node *oroot = NULL, *oitems = NULL;
    if (fn_exec_check(&spec, &lim, &res) < 0) {
        /* keep the function's own results when it printed a ResourceList */
        porch_error saved = *porch_error_last();
        if (res.out_len && !res.timed_out && !res.stdout_overflow &&
            parse_wire(res.out, res.out_len, name, &os) == 0 &&
            check_output(name, os, &oroot, &oitems) == 0)
            collect_results(oroot, results);
        krm_stream_free(os);
        fn_exec_result_free(&res);
        porch_error_set_reason(saved.code, saved.reason, "%s", saved.message);
        rc = -1;
        goto strip;
    }
    if (parse_wire(res.out ? res.out : "", res.out_len, name, &os) < 0) {
        porch_error saved = *porch_error_last();
        fn_exec_result_free(&res);
        rc = porch_error_set(500, "function %s: output is not valid YAML: %s", name, saved.message);
        goto strip;
    }
    fn_exec_result_free(&res);
    rc = check_output(name, os, &oroot, &oitems);
    if (rc == 0) {
        collect_results(oroot, results);
        rc = adopt_items(s, rl, items, oitems);
    }
    krm_stream_free(os);
    if (rc == 0)
        return 0;
strip:
    for (size_t i = 0; i < krm_seq_len(items); i++)
        krm_res_delete_annotation(krm_seq_at(items, i), FN_ID_ANNO);
    return rc;
}

/* ---- dispatch ---- */

int fn_runtime_eval(fn_runtime *rt, const fn_call *call, krm_stream *s, krm_node *rl,
                    fn_results *results, char **stderr_out)
{
    if (stderr_out)
        *stderr_out = NULL;
    if (!rl || krm_node_kind(rl) != KRM_MAP)
        return porch_error_set(400, "the ResourceList is not a mapping");
    if (call->exec_path && *call->exec_path) {
        if (!rt->opts.allow_exec)
            return porch_error_set(403,
                                   "exec function %s is not allowed: pass --allow-exec "
                                   "to run executables",
                                   call->exec_path);
        return run_exec(rt, call->exec_path, call->exec_path, call->exec_args, call->workdir,
                        call->timeout_ms, s, rl, results, stderr_out);
    }
    const char *image = call->image;
    if (!image || !*image)
        return porch_error_set(400, "a function needs an image or an exec path");
    if (denied(rt, image))
        return porch_error_set(403, "function image %s is denied by the runtime configuration",
                               image);
    const fn_mapping *m = find_mapping(rt, image);
    if (m)
        return run_exec(rt, image, m->exec, m->args, call->workdir, call->timeout_ms, s, rl,
                        results, stderr_out);
    char name[128];
    const fn_builtin *b = NULL;
    if (rt->opts.builtins && fn_image_function_name(image, name, sizeof name))
        b = fn_builtin_find(name);
    if (b)
        return run_builtin(b, image, s, rl, results);
    char *avail = fn_runtime_available(rt);
    porch_error_set(404,
                    "function image %s is not available here: no built-in or mapped "
                    "executable for it; available: %s",
                    image, avail && *avail ? avail : "(none)");
    free(avail);
    return -1;
}

/* The built-in fn_runtime_eval would run for call, or NULL. */
static const fn_builtin *builtin_for(const fn_runtime *rt, const fn_call *call)
{
    char name[128];
    if ((call->exec_path && *call->exec_path) || !call->image || !rt->opts.builtins ||
        denied(rt, call->image) || find_mapping(rt, call->image) ||
        !fn_image_function_name(call->image, name, sizeof name))
        return NULL;
    return fn_builtin_find(name);
}

int fn_runtime_eval_text(fn_runtime *rt, const fn_call *call, const char *in, size_t len,
                         fn_exec_result *res)
{
    memset(res, 0, sizeof *res);
    krm_stream *s = NULL;
    if (parse_wire(in ? in : "", len, "ResourceList", &s) < 0)
        return -1;
    krm_node *rl = krm_stream_count(s) ? krm_doc_root(krm_stream_doc(s, 0)) : NULL;
    fn_results results = {0};
    char *err = NULL;
    int rc = fn_runtime_eval(rt, call, s, rl, &results, &err);
    int code = rc < 0 ? porch_error_last()->code : 0;
    if (rc < 0 && (code == 404 || code == 403 || !rl || krm_node_kind(rl) != KRM_MAP)) {
        fn_results_free(&results);
        free(err);
        krm_stream_free(s);
        return -1;
    }
    krm_buf e = {0};
    if (err)
        krm_buf_put(&e, err, strlen(err));
    bool builtin = builtin_for(rt, call) != NULL;
    if (rc < 0 && builtin) {
        /* what a catalog function built on the kpt SDK prints when it fails */
        const char *sdk = "failed to evaluate function: error: function failure";
        krm_buf_put(&e, sdk, strlen(sdk));
    } else if (rc < 0) {
        const char *msg = porch_error_last()->message;
        if (!fn_results_has_error(&results))
            fn_results_add(&results, FN_SEV_ERROR, msg, NULL, NULL);
        if (e.len && e.data[e.len - 1] != '\n')
            krm_buf_put(&e, "\n", 1);
        krm_buf_put(&e, msg, strlen(msg));
    } else if (builtin && fn_results_has_error(&results)) {
        const char *sdk = "failed to evaluate function: error: function failure";
        krm_buf_put(&e, sdk, strlen(sdk));
    }
    krm_buf_put(&e, "", 1);
    res->exit_code = rc < 0 || fn_results_has_error(&results) ? 1 : 0;
    if (results.len)
        krm_map_set(s, rl, "results", fn_results_to_node(s, &results));
    krm_map_delete(rl, "functionConfig");
    krm_buf out = {0};
    krm_node_emit(rl, KRM_SEQ_COMPACT, &out);
    krm_buf_put(&out, "", 1);
    res->out = out.data;
    res->out_len = out.len - 1;
    res->err = e.data;
    res->err_len = e.len - 1;
    fn_results_free(&results);
    free(err);
    krm_stream_free(s);
    return 0;
}
