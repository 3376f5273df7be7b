/* Running one KRM function over a list of resources as kpt does: selection
 * (selectors/exclude with kpt-resource-id), the ResourceList wire format
 * with id annotations, the exec child, parsing the answer, healing comments
 * by id, merging unselected resources back, and the [PASS]/[FAIL] report. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cad_internal.h"

#include "error/error.h"
#include "fn/exec.h"
#include "fn/fn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ANNO_RESID "internal.config.k8s.io/kpt-resource-id"
#define ANNO_MIGID "internal.config.kubernetes.io/annotations-migration-resource-id"
#define ANNO_IID "internal.config.kubernetes.io/id"
#define ANNO_ID "config.k8s.io/id"

void cad_fnres_free(cad_fnres *r)
{
    free(r->stderr_text);
    free(r->error);
    memset(r, 0, sizeof *r);
}

static bool kv_match(const krm_node *map, const char *spec)
{
    if (!spec || !*spec)
        return true;
    char *dup = strdup(spec), *save = NULL;
    bool ok = true;
    for (char *t = strtok_r(dup, ",", &save); t && ok; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (eq)
            *eq = '\0';
        const krm_node *v = map ? krm_map_get(map, t) : NULL;
        ok = v && krm_node_kind(v) == KRM_SCALAR && (!eq || !strcmp(krm_node_value(v), eq + 1));
    }
    free(dup);
    return ok;
}

static bool str_match(const char *want, const char *have)
{
    return !want || !*want || (have && !strcmp(want, have));
}

static bool cli_sel_empty(const cad_selector *s)
{
    return !s || (!s->api_version && !s->kind && !s->name && !s->ns && !s->labels && !s->annotations);
}

static bool sel_match(const cad_selector *s, const krm_node *r)
{
    return str_match(s->api_version, krm_res_api_version(r)) && str_match(s->kind, krm_res_kind(r)) &&
           str_match(s->name, krm_res_name(r)) && str_match(s->ns, krm_res_namespace(r)) &&
           kv_match(krm_path_get(r, "metadata.labels"), s->labels) &&
           kv_match(krm_path_get(r, "metadata.annotations"), s->annotations);
}

static bool node_sel_match(const krm_node *sel, const krm_node *r)
{
    const krm_node *v;
#define F(key, getter)                                                                             \
    if ((v = krm_map_get(sel, key)) && krm_node_kind(v) == KRM_SCALAR &&                           \
        !str_match(krm_node_value(v), getter(r)))                                                  \
        return false;
    F("apiVersion", krm_res_api_version)
    F("kind", krm_res_kind)
    F("name", krm_res_name)
    F("namespace", krm_res_namespace)
#undef F
    const char *maps[2][2] = {{"labels", "metadata.labels"}, {"annotations", "metadata.annotations"}};
    for (int m = 0; m < 2; m++) {
        const krm_node *want = krm_map_get(sel, maps[m][0]);
        if (!want || krm_node_kind(want) != KRM_MAP)
            continue;
        const krm_node *have = krm_path_get(r, maps[m][1]);
        for (size_t i = 0; i < krm_map_len(want); i++) {
            const krm_node *hv = have ? krm_map_get(have, krm_node_value(krm_map_key_at(want, i))) : NULL;
            if (!hv || strcmp(krm_node_value(hv), krm_node_value(krm_map_value_at(want, i))))
                return false;
        }
    }
    return true;
}

static bool any_node_sel(const krm_node *seq, const krm_node *r)
{
    for (size_t i = 0; seq && i < krm_seq_len(seq); i++)
        if (node_sel_match(krm_seq_at(seq, i), r))
            return true;
    return false;
}

static bool has_selection(const cad_fnspec *fn)
{
    return (fn->selectors && krm_seq_len(fn->selectors)) || (fn->exclude && krm_seq_len(fn->exclude)) ||
           !cli_sel_empty(fn->match) || !cli_sel_empty(fn->cli_exclude);
}

static bool selected(const cad_fnspec *fn, const krm_node *r)
{
    bool in = true;
    if (fn->selectors && krm_seq_len(fn->selectors))
        in = any_node_sel(fn->selectors, r);
    if (in && !cli_sel_empty(fn->match))
        in = sel_match(fn->match, r);
    if (in && fn->exclude && krm_seq_len(fn->exclude) && any_node_sel(fn->exclude, r))
        in = false;
    if (in && !cli_sel_empty(fn->cli_exclude) && sel_match(fn->cli_exclude, r))
        in = false;
    return in;
}

static void drop_ids(krm_node *r)
{
    krm_res_delete_annotation(r, ANNO_MIGID);
    krm_res_delete_annotation(r, ANNO_IID);
    krm_res_delete_annotation(r, ANNO_ID);
}

/* Resolves a bare command name through PATH, as exec.Command does. */
static char *resolve_cmd(const char *name)
{
    if (strchr(name, '/'))
        return strdup(name);
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    char *dup = strdup(path), *save = NULL, *found = NULL;
    for (char *d = strtok_r(dup, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *c = cad_path_join(*d ? d : ".", name);
        if (access(c, X_OK) == 0)
            found = c;
        else
            free(c);
    }
    free(dup);
    return found ? found : strdup(name);
}

static int run_exec(const cad_fnspec *fn, const krm_buf *in, fn_exec_result *res, cad_fnres *r)
{
    cad_strv argv = {0};
    if (cad_shell_split(fn->exec, &argv) < 0 || argv.n == 0) {
        cad_strv_free(&argv);
        r->error = cad_sprintf("invalid exec command \"%s\"", fn->exec);
        return -1;
    }
    char *path = resolve_cmd(argv.v[0]);
    fn_exec_spec spec = {.path = path, .args = argv.v + 1, .name = fn->display, .inherit_env = 1};
    fn_exec_limits lim = {0};
    int rc = fn_exec_run(&spec, &lim, in->data, in->len, res);
    if (rc < 0)
        r->error = strdup(porch_error_last()->message);
    free(path);
    cad_strv_free(&argv);
    return rc;
}

/* Images run through the evaluator: built-in catalog functions in process
 * (no container runtime here); the answer looks like an exec run. */
static int run_image(const cad_fn_opts *o, const cad_fnspec *fn, const krm_buf *in,
                     fn_exec_result *res, cad_fnres *r)
{
    if (o->run_image) {
        int rc = o->run_image(o->run_image_ud, fn->image, in->data, in->len, res);
        if (rc < 0)
            r->error = strdup(porch_error_last()->message);
        return rc;
    }
    fn_runtime_opts ro = {.builtins = true, .inherit_env = true};
    fn_runtime *rt = NULL;
    if (fn_runtime_new(&ro, &rt) < 0) {
        r->error = strdup(porch_error_last()->message);
        return -1;
    }
    fn_call call = {.image = fn->image};
    int rc = fn_runtime_eval_text(rt, &call, in->data, in->len, res);
    if (rc < 0)
        r->error = strdup(porch_error_last()->message);
    fn_runtime_free(rt);
    return rc;
}

/* The function's answer without the functionConfig it echoes: kpt ignores
 * it, and its comments must not leak into the items. */
static char *drop_function_config(const char *out, size_t len, size_t *nlen)
{
    char *b = malloc(len + 1);
    size_t n = 0;
    if (!b)
        return NULL;
    for (size_t i = 0; i < len;) {
        const char *eol = memchr(out + i, '\n', len - i);
        size_t l = eol ? (size_t)(eol - (out + i)) + 1 : len - i;
        if (l >= 15 && !memcmp(out + i, "functionConfig:", 15)) {
            /* kpt ignores the functionConfig a function echoes; its comments
             * must not leak into the items */
            i += l;
            while (i < len && (out[i] == ' ' || out[i] == '#' || out[i] == '\n' || out[i] == '-')) {
                const char *e = memchr(out + i, '\n', len - i);
                i = e ? (size_t)(e - out) + 1 : len;
            }
            continue;
        }
        memcpy(b + n, out + i, l);
        n += l;
        i += l;
    }
    b[n] = '\0';
    *nlen = n;
    return b;
}

/* Parses the function's answer; returns the ResourceList root or NULL. */
static krm_node *parse_output(cad_pool *pool, const char *out, size_t len, const char *name)
{
    krm_stream *s = NULL;
    char *copy = drop_function_config(out, len, &len);
    if (!copy)
        return NULL;
    if (krm_stream_parse(copy, len, name, NULL, &s) < 0) {
        free(copy);
        return NULL;
    }
    cad_pool_keep(pool, s, copy);
    for (size_t d = 0; d < krm_stream_count(s); d++) {
        krm_node *root = krm_doc_root(krm_stream_doc(s, d));
        if (root && krm_node_kind(root) == KRM_MAP)
            return root;
    }
    return NULL;
}

int cad_fn_run(cad_pool *pool, const cad_fn_opts *o, const cad_fnspec *fn, cad_items *items,
               bool validator, cad_fnres *r)
{
    memset(r, 0, sizeof *r);
    krm_stream *ws = cad_pool_stream(pool);
    if (!ws)
        return -1;
    bool sel = has_selection(fn);
    r->had_selection = sel;
    cad_items input = {0};
    char num[32];
    for (size_t i = 0; i < items->n; i++) {
        krm_node *it = items->v[i];
        if (sel) {
            snprintf(num, sizeof num, "%zu", i);
            cad_set_anno_q(ws, it, ANNO_RESID, num);
            if (!selected(fn, it))
                continue;
        }
        cad_items_push(&input, it);
    }
    r->nselected = input.n;
    for (size_t i = 0; i < input.n; i++) {
        snprintf(num, sizeof num, "%zu", i);
        cad_set_anno_q(ws, input.v[i], ANNO_MIGID, num);
        snprintf(num, sizeof num, "%zu", i + 1);
        cad_set_anno_q(ws, input.v[i], ANNO_IID, num);
        cad_set_anno_q(ws, input.v[i], ANNO_ID, num);
    }
    krm_buf in = {0};
    int rc = krm_emit_resource_list(input.v, input.n, fn->config, &in);
    for (size_t i = 0; i < input.n; i++)
        drop_ids(input.v[i]);
    fn_exec_result res = {0};
    if (rc == 0) {
        if (fn->exec) {
            if (!o->allow_exec) {
                r->error = strdup("must run with `--allow-exec` option to allow running function binaries");
                rc = -1;
            } else {
                rc = run_exec(fn, &in, &res, r);
            }
        } else {
            rc = run_image(o, fn, &in, &res, r);
        }
    } else {
        r->error = strdup(porch_error_last()->message);
    }
    krm_buf_free(&in);
    if (rc < 0) {
        r->exit_code = 1;
        free(input.v);
        fn_exec_result_free(&res);
        return -1;
    }
    r->exit_code = res.exit_code;
    r->stderr_text = res.err ? strdup(res.err) : strdup("");
    krm_node *rl = parse_output(pool, res.out ? res.out : "", res.out_len, fn->display);
    if (rl) {
        krm_node *results = krm_map_get(rl, "results");
        if (results && krm_node_kind(results) == KRM_SEQ && krm_seq_len(results))
            r->results = results;
    }
    if (res.exit_code != 0) {
        fn_exec_result_free(&res);
        free(input.v);
        return -1;
    }
    fn_exec_result_free(&res);
    krm_node *out_items = rl ? krm_map_get(rl, "items") : NULL;
    if (!rl || (out_items && krm_node_kind(out_items) != KRM_SEQ && !krm_scalar_is_null(out_items))) {
        r->error = strdup("failed to parse the function output as a ResourceList");
        r->exit_code = 1;
        free(input.v);
        return -1;
    }
    if (validator) {
        free(input.v);
        return 0;
    }
    cad_items outv = {0};
    size_t nout = out_items && krm_node_kind(out_items) == KRM_SEQ ? krm_seq_len(out_items) : 0;
    for (size_t i = 0; i < nout; i++) {
        krm_node *it = krm_seq_at(out_items, i);
        if (krm_node_kind(it) != KRM_MAP)
            continue;
        const char *id = krm_res_annotation(it, ANNO_ID);
        if (!id)
            id = krm_res_annotation(it, ANNO_IID);
        long k = id ? atol(id) : 0;
        krm_node *in = k >= 1 && (size_t)k <= input.n ? input.v[k - 1] : NULL;
        /* "- # a\n  # b\n  key:" (a multi-line head comment as kpt writes an
         * item) reads back as "# a" on the first key and "# b" on the item;
         * a file's head comment lives on the first key, so join them there —
         * unless the input item itself carried a head comment (a ResourceList
         * read from stdin: "items:\n# c\n- a:"), where it stays the item's and
         * healing must not add it a second time */
        const char *h = krm_node_comment(it, KRM_COMMENT_HEAD);
        krm_node *k0 = krm_map_len(it) ? krm_map_key_at(it, 0) : NULL;
        if (h && k0 && !(in && krm_node_comment(in, KRM_COMMENT_HEAD))) {
            const char *kh = krm_node_comment(k0, KRM_COMMENT_HEAD);
            char *j = kh ? cad_sprintf("%s\n%s", kh, h) : strdup(h);
            krm_node_set_comment(ws, k0, KRM_COMMENT_HEAD, j);
            krm_node_set_comment(ws, it, KRM_COMMENT_HEAD, NULL);
            free(j);
        }
        if (in) {
            krm_heal_comments(ws, in, it);
            /* kyaml heals from the document it read: the document's head
             * comment lands on the resource when that has none */
            const char *dh = cad_pool_doc_head(pool, in);
            if (dh && !krm_node_comment(it, KRM_COMMENT_HEAD))
                krm_node_set_comment(ws, it, KRM_COMMENT_HEAD, dh);
        }
        drop_ids(it);
        cad_items_push(&outv, it);
    }
    if (sel) {
        cad_items merged = {0};
        bool *used = calloc(outv.n + 1, sizeof *used);
        for (size_t i = 0; i < items->n; i++) {
            krm_node *it = items->v[i];
            const char *rid = krm_res_annotation(it, ANNO_RESID);
            bool was_sel = false;
            for (size_t j = 0; j < input.n && !was_sel; j++)
                was_sel = input.v[j] == it;
            if (!was_sel) {
                cad_items_push(&merged, it);
                continue;
            }
            for (size_t j = 0; j < outv.n; j++) {
                const char *orid = krm_res_annotation(outv.v[j], ANNO_RESID);
                if (!used[j] && orid && rid && !strcmp(orid, rid)) {
                    used[j] = true;
                    cad_items_push(&merged, outv.v[j]);
                    break;
                }
            }
        }
        for (size_t j = 0; j < outv.n; j++)
            if (!used[j])
                cad_items_push(&merged, outv.v[j]);
        free(used);
        free(outv.v);
        outv = merged;
        for (size_t i = 0; i < outv.n; i++)
            krm_res_delete_annotation(outv.v[i], ANNO_RESID);
        for (size_t i = 0; i < items->n; i++)
            krm_res_delete_annotation(items->v[i], ANNO_RESID);
    }
    free(items->v);
    *items = outv;
    free(input.v);
    return 0;
}

/* ---- reporting ---- */

static void print_result(FILE *log, const krm_node *res)
{
    const krm_node *sev = krm_map_get(res, "severity"), *msg = krm_map_get(res, "message");
    const krm_node *ref = krm_map_get(res, "resourceRef"), *field = krm_map_get(res, "field");
    const char *sv = sev ? krm_node_value(sev) : "info";
    fprintf(log, "    [%s]", sv && *sv ? sv : "info");
    if (ref && krm_node_kind(ref) == KRM_MAP) {
        const char *av = krm_res_api_version(ref), *k = krm_res_kind(ref);
        const krm_node *nm = krm_map_get(ref, "name"), *ns = krm_map_get(ref, "namespace");
        fprintf(log, " %s/%s/", av ? av : "", k ? k : "");
        if (ns)
            fprintf(log, "%s/", krm_node_value(ns));
        fprintf(log, "%s", nm ? krm_node_value(nm) : "");
    }
    const krm_node *fp = field ? krm_map_get(field, "path") : NULL;
    if (fp)
        fprintf(log, " %s", krm_node_value(fp));
    fprintf(log, ": %s\n", msg ? krm_node_value(msg) : "");
}

void cad_fn_report(FILE *log, const cad_fnspec *fn, const cad_fnres *r, bool ok, bool truncate)
{
    (void)truncate;
    if (!log)
        return;
    fprintf(log, "[%s] \"%s\" in 0s\n", ok ? "PASS" : "FAIL", fn->display);
    if (r->results) {
        fputs("  [Results]:\n", log);
        for (size_t i = 0; i < krm_seq_len(r->results); i++)
            print_result(log, krm_seq_at(r->results, i));
    }
    if (r->stderr_text && *r->stderr_text) {
        fputs("  Stderr:\n", log);
        const char *p = r->stderr_text;
        for (;;) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            fprintf(log, "    %.*s\n", (int)n, p);
            if (!nl)
                break;
            p = nl + 1;
        }
    }
    if (!ok && !r->error)
        fprintf(log, "  Exit code: %d\n\n", r->exit_code);
}

/* ---- results file ---- */

static krm_node *str(krm_stream *s, const char *v)
{
    return krm_node_new_string(s, v);
}

static krm_node *num(krm_stream *s, int v)
{
    char b[32];
    snprintf(b, sizeof b, "%d", v);
    return krm_node_new_scalar(s, b, strlen(b), KRM_PLAIN);
}

int cad_resultlist_add(cad_resultlist *l, const cad_fnspec *fn, const cad_fnres *r)
{
    if (!l->s) {
        l->s = krm_stream_new();
        l->items = krm_node_new_seq(l->s);
    }
    krm_node *m = krm_node_new_map(l->s);
    krm_map_set(l->s, m, fn->exec ? "exec" : "image", str(l->s, fn->exec ? fn->exec : fn->image));
    if (r->stderr_text && *r->stderr_text && r->exit_code != 0)
        krm_map_set(l->s, m, "stderr", str(l->s, r->stderr_text));
    krm_map_set(l->s, m, "exitCode", num(l->s, r->exit_code));
    if (r->results)
        krm_map_set(l->s, m, "results", krm_node_copy(l->s, r->results));
    if (r->exit_code != 0)
        l->exit_code = 1;
    return krm_seq_append(l->s, l->items, m);
}

int cad_resultlist_write(cad_resultlist *l, const char *dir, FILE *log)
{
    if (!dir)
        return 0;
    krm_stream *s = l->s ? l->s : krm_stream_new();
    krm_node *m = krm_node_new_map(s);
    krm_map_set(s, m, "apiVersion", str(s, "kpt.dev/v1"));
    krm_map_set(s, m, "kind", str(s, "FunctionResultList"));
    krm_node *md = krm_node_new_map(s);
    krm_map_set(s, md, "name", str(s, "fnresults"));
    krm_map_set(s, m, "metadata", md);
    krm_map_set(s, m, "exitCode", num(s, l->exit_code));
    krm_map_set(s, m, "items", l->items ? l->items : krm_node_new_seq(s));
    krm_buf b = {0};
    int rc = krm_node_emit(m, KRM_SEQ_WIDE, &b);
    char *p = cad_path_join(dir, "results.yaml");
    if (rc == 0)
        rc = cad_write_file(p, b.data, b.len);
    if (rc == 0 && log)
        fprintf(log, "For complete results, see %s\n", p);
    free(p);
    krm_buf_free(&b);
    if (!l->s)
        krm_stream_free(s);
    return rc;
}

void cad_resultlist_free(cad_resultlist *l)
{
    krm_stream_free(l->s);
    memset(l, 0, sizeof *l);
}

krm_node *cad_configmap(krm_stream *s, krm_node *data, bool eval_order)
{
    krm_node *m = krm_node_new_map(s), *md = krm_node_new_map(s);
    krm_map_set(s, md, "name", str(s, "function-input"));
    if (eval_order) {
        krm_map_set(s, m, "metadata", md);
        krm_map_set(s, m, "data", data);
        krm_map_set(s, m, "kind", str(s, "ConfigMap"));
        krm_map_set(s, m, "apiVersion", str(s, "v1"));
    } else {
        krm_map_set(s, m, "apiVersion", str(s, "v1"));
        krm_map_set(s, m, "kind", str(s, "ConfigMap"));
        krm_map_set(s, m, "metadata", md);
        krm_map_set(s, m, "data", data);
    }
    return m;
}
