/* porch-function-runner: evaluates KRM functions for the engine — built-in
 * C implementations of catalog images and sandboxed executables mapped from
 * images by --functions-config — over the bus (`evaluate`, with a sha256
 * result cache bounded by entries and bytes), renders whole packages
 * (`render`: kpt fn render of a file set), and says in `functions` what can
 * run. Concurrency comes from the bus worker pool; fn_runtime is shared
 * read-only by every worker. */
#include "cache.h"
#include "cad/cad.h"
#include "error/error.h"
#include "fn/exec.h"
#include "fn/fn.h"
#include "svc/svc.h"

#include <openssl/evp.h>

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fr_service {
    svc_context svc;
    fn_runtime *rt;
    fr_cache *cache;
    fr_cache *inputs; /* recent input lists by digest (args.resourceListSha256) */
    char *functions_config, *timeout_ms, *cache_entries, *cache_bytes, *deny, *max_input;
    size_t max_entries, max_bytes, max_input_bytes;
    char **deny_list;
    char work_dir[4096]; /* renders' package directories */
    int own_work_dir;    /* made here in /dev/shm: removed at exit */
} fr_service;

/* ---- JSON <-> krm ---- */

static krm_node *json_to_krm(krm_stream *s, const json_t *j)
{
    char buf[64];
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        krm_node *m = krm_node_new_map(s);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) krm_map_set(s, m, k, json_to_krm(s, v));
        return m;
    }
    case JSON_ARRAY: {
        krm_node *q = krm_node_new_seq(s);
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) krm_seq_append(s, q, json_to_krm(s, v));
        return q;
    }
    case JSON_STRING:
        return krm_node_new_string(s, json_string_value(j));
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(j));
        return krm_node_new_scalar(s, buf, strlen(buf), KRM_PLAIN);
    case JSON_REAL:
        snprintf(buf, sizeof buf, "%g", json_real_value(j));
        return krm_node_new_scalar(s, buf, strlen(buf), KRM_PLAIN);
    case JSON_TRUE:
        return krm_node_new_scalar(s, "true", 4, KRM_PLAIN);
    case JSON_FALSE:
        return krm_node_new_scalar(s, "false", 5, KRM_PLAIN);
    default:
        return krm_node_new_scalar(s, "null", 4, KRM_PLAIN);
    }
}

static json_t *results_json(const fn_results *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->len; i++) {
        const fn_result *x = &r->items[i];
        json_t *o = json_object();
        json_object_set_new(o, "message", json_string(x->message ? x->message : ""));
        if (fn_severity_name(x->severity))
            json_object_set_new(o, "severity", json_string(fn_severity_name(x->severity)));
        if (x->ref_kind || x->ref_name) {
            json_t *ref = json_object();
            if (x->ref_api_version)
                json_object_set_new(ref, "apiVersion", json_string(x->ref_api_version));
            if (x->ref_kind)
                json_object_set_new(ref, "kind", json_string(x->ref_kind));
            if (x->ref_name)
                json_object_set_new(ref, "name", json_string(x->ref_name));
            if (x->ref_namespace)
                json_object_set_new(ref, "namespace", json_string(x->ref_namespace));
            json_object_set_new(o, "resourceRef", ref);
        }
        if (x->field_path)
            json_object_set_new(o, "field", json_pack("{s:s}", "path", x->field_path));
        if (x->file_path) {
            json_t *f = json_pack("{s:s}", "path", x->file_path);
            if (x->file_index >= 0)
                json_object_set_new(f, "index", json_integer(x->file_index));
            json_object_set_new(o, "file", f);
        }
        json_array_append_new(a, o);
    }
    return a;
}

/* ---- evaluate ---- */

/* Sets rl.functionConfig from a JSON object or YAML text (NULL/null: left as is). */
static int set_config(fr_service *fr, krm_stream *s, krm_node *rl, const json_t *fc)
{
    krm_limits lim = {.max_stream_bytes = fr->max_input_bytes,
                      .max_doc_bytes = fr->max_input_bytes};
    if (fc && json_is_object(fc)) {
        krm_map_set(s, rl, "functionConfig", json_to_krm(s, fc));
    } else if (fc && json_is_string(fc)) {
        krm_stream *cs = NULL;
        const char *ct = json_string_value(fc);
        if (krm_stream_parse(ct, strlen(ct), "functionConfig", &lim, &cs) < 0) {
            porch_error e = *porch_error_last();
            return porch_error_set(400, "functionConfig is not valid YAML: %s", e.message);
        }
        krm_node *root = krm_stream_count(cs) ? krm_doc_root(krm_stream_doc(cs, 0)) : NULL;
        if (root)
            krm_map_set(s, rl, "functionConfig", krm_node_copy(s, root));
        krm_stream_free(cs);
    }
    return 0;
}

static int parse_input(fr_service *fr, const char *text, size_t len, const json_t *fc,
                       krm_stream **s_out, krm_node **rl_out)
{
    krm_limits lim = {.max_stream_bytes = fr->max_input_bytes,
                      .max_doc_bytes = fr->max_input_bytes};
    krm_stream *s = NULL;
    if (krm_stream_parse(text, len, "resourceList", &lim, &s) < 0) {
        porch_error e = *porch_error_last(); /* the message is formatted into the same slot */
        return porch_error_set(400, "args.resourceList is not valid YAML: %s", e.message);
    }
    krm_node *rl = krm_stream_count(s) ? krm_doc_root(krm_stream_doc(s, 0)) : NULL;
    const char *kind = rl ? krm_res_kind(rl) : NULL;
    if (!rl || krm_node_kind(rl) != KRM_MAP || !kind || strcmp(kind, "ResourceList")) {
        krm_stream_free(s);
        return porch_error_set(400, "args.resourceList must be a ResourceList "
                                    "(kind: ResourceList, items: [...])");
    }
    if (set_config(fr, s, rl, fc) < 0) {
        krm_stream_free(s);
        return -1;
    }
    *s_out = s;
    *rl_out = rl;
    return 0;
}

/* Runs the steps (image + functionConfig each) in order over one parsed
 * list: the first failure stops the pipeline. */
static json_t *run(fr_service *fr, const json_t *steps, const char *text, size_t len,
                   int64_t deadline_ms, int *exit_code)
{
    int64_t started = svc_now_ms();
    krm_stream *s = NULL;
    krm_node *rl = NULL;
    if (parse_input(fr, text, len, NULL, &s, &rl) < 0)
        return NULL;
    fn_results res = {0};
    char *err = NULL;
    int rc = 0;
    size_t i;
    json_t *step;
    json_array_foreach(steps, i, step)
    {
        fn_call call = {.image = json_string_value(json_object_get(step, "image"))};
        if (deadline_ms > 0) {
            /* what is left of the caller's budget, less a margin for the reply */
            int64_t left = deadline_ms - (svc_now_ms() - started) - 200;
            call.timeout_ms = left > 0 ? (int)left : 1;
        }
        const json_t *fc = json_object_get(step, "functionConfig");
        if (fc && !json_is_null(fc)) {
            krm_map_delete(rl, "functionConfig");
            if (set_config(fr, s, rl, fc) < 0) {
                fn_results_free(&res);
                krm_stream_free(s);
                return NULL;
            }
        }
        char *step_err = NULL;
        rc = fn_runtime_eval(fr->rt, &call, s, rl, &res, &step_err);
        if (step_err && *step_err) {
            char *joined = NULL;
            if (asprintf(&joined, "%s%s", err ? err : "", step_err) >= 0) {
                free(err);
                err = joined;
            }
        }
        free(step_err);
        if (rc < 0 || fn_results_has_error(&res))
            break;
    }
    json_t *out = NULL;
    if (rc < 0 && (porch_error_last()->code == 404 || porch_error_last()->code == 403)) {
        fn_results_free(&res);
        free(err);
        krm_stream_free(s);
        return NULL;
    }
    krm_buf b = {0};
    krm_buf e = {0};
    if (err)
        krm_buf_put(&e, err, strlen(err));
    *exit_code = rc < 0 || fn_results_has_error(&res) ? 1 : 0;
    if (rc < 0) {
        const char *msg = porch_error_last()->message;
        if (e.len && e.data[e.len - 1] != '\n')
            krm_buf_put(&e, "\n", 1);
        krm_buf_put(&e, msg, strlen(msg));
        bool has = false;
        for (size_t i = 0; i < res.len; i++)
            has |= res.items[i].severity == FN_SEV_ERROR;
        if (!has)
            fn_results_add(&res, FN_SEV_ERROR, msg, NULL, NULL);
        krm_buf_put(&b, text, len); /* a failed function changes nothing */
    } else {
        krm_map_delete(rl, "functionConfig");
        if (res.len)
            krm_map_set(s, rl, "results", fn_results_to_node(s, &res));
        krm_node_emit(rl, KRM_SEQ_COMPACT, &b);
    }
    krm_buf_put(&b, "", 1);
    krm_buf_put(&e, "", 1);
    out = json_pack("{s:s, s:o, s:i, s:s, s:b}", "resourceList", b.data, "results",
                    results_json(&res), "exitCode", *exit_code, "stderr", e.data, "cached", 0);
    krm_buf_free(&b);
    krm_buf_free(&e);
    fn_results_free(&res);
    free(err);
    krm_stream_free(s);
    return out;
}

/* What a cached result costs: its text and messages, roughly. */
static size_t result_bytes(const json_t *r)
{
    size_t n = 256 + json_string_length(json_object_get(r, "resourceList")) +
               json_string_length(json_object_get(r, "stderr"));
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r, "results"), i, x) n +=
        64 + json_string_length(json_object_get(x, "message"));
    return n;
}

/* args.functions ([{image, functionConfig}]) or args.image + args.functionConfig. */
static json_t *steps_of(const json_t *args)
{
    json_t *fns = json_object_get(args, "functions");
    if (fns) {
        if (!json_is_array(fns) || json_array_size(fns) == 0) {
            porch_error_set(400,
                            "args.functions must be a non-empty list of {image, functionConfig}");
            return NULL;
        }
        size_t i;
        json_t *f;
        json_array_foreach(fns, i, f)
        {
            json_t *im = json_object_get(f, "image"), *fc = json_object_get(f, "functionConfig");
            if (!json_is_string(im) || !*json_string_value(im)) {
                porch_error_set(400, "args.functions[%zu].image must be a non-empty string", i);
                return NULL;
            }
            if (fc && !json_is_object(fc) && !json_is_string(fc) && !json_is_null(fc)) {
                porch_error_set(400,
                                "args.functions[%zu].functionConfig must be an object or "
                                "YAML text",
                                i);
                return NULL;
            }
        }
        return json_incref(fns);
    }
    json_t *ji = json_object_get(args, "image"), *fc = json_object_get(args, "functionConfig");
    if (!json_is_string(ji) || !*json_string_value(ji)) {
        porch_error_set(400, "args.image must be a non-empty string (e.g. "
                             "\"gcr.io/kpt-fn/set-labels:v0.2\"), or give args.functions");
        return NULL;
    }
    if (fc && !json_is_object(fc) && !json_is_string(fc) && !json_is_null(fc)) {
        porch_error_set(400, "args.functionConfig must be an object or YAML text");
        return NULL;
    }
    json_t *step = json_pack("{s:O}", "image", ji);
    if (fc)
        json_object_set(step, "functionConfig", fc);
    return json_pack("[o]", step);
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    static const char x[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = x[d[i] >> 4];
        out[2 * i + 1] = x[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha256_hex(const char *text, size_t len, char out[2 * FR_KEY_LEN + 1])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_Digest(text, len, d, &dl, EVP_sha256(), NULL);
    hex(d, FR_KEY_LEN, out);
}

/* The input list: args.resourceList (kept in the input store under its
 * digest), or args.resourceListSha256 naming a list sent before. */
static json_t *input_of(fr_service *fr, const json_t *args, char digest[2 * FR_KEY_LEN + 1])
{
    json_t *jr = json_object_get(args, "resourceList");
    json_t *jd = json_object_get(args, "resourceListSha256");
    if (json_is_string(jr)) {
        if (json_string_length(jr) > fr->max_input_bytes) {
            porch_error_set(413, "args.resourceList is %zu bytes, over the %zu-byte limit",
                            json_string_length(jr), fr->max_input_bytes);
            return NULL;
        }
        sha256_hex(json_string_value(jr), json_string_length(jr), digest);
        unsigned char k[FR_KEY_LEN];
        const char *parts[] = {digest};
        size_t lens[] = {2 * FR_KEY_LEN};
        fr_cache_key(parts, lens, 1, k);
        fr_cache_put(fr->inputs, k, jr, json_string_length(jr) + 64);
        return json_incref(jr);
    }
    if (!json_is_string(jd) || json_string_length(jd) != 2 * FR_KEY_LEN) {
        porch_error_set(400, "args.resourceList must be the ResourceList as YAML text (or "
                             "args.resourceListSha256 the digest of one sent before)");
        return NULL;
    }
    snprintf(digest, 2 * FR_KEY_LEN + 1, "%s", json_string_value(jd));
    unsigned char k[FR_KEY_LEN];
    const char *parts[] = {digest};
    size_t lens[] = {2 * FR_KEY_LEN};
    fr_cache_key(parts, lens, 1, k);
    json_t *held = fr_cache_get(fr->inputs, k);
    if (!held)
        porch_error_set_reason(412, "PreconditionFailed",
                               "no ResourceList with sha256 %s is held here: send it as "
                               "args.resourceList",
                               digest);
    return held;
}

/* The reply for a result: with args.ifNoneMatch equal to the output's digest,
 * the list itself is left out (notModified). */
static json_t *reply_of(json_t *r, const json_t *args, bool cached)
{
    json_t *out = json_copy(r); /* shallow: the big strings stay shared */
    if (!out)
        return NULL;
    json_object_set_new(out, "cached", json_boolean(cached));
    const char *inm = json_string_value(json_object_get(args, "ifNoneMatch"));
    const char *have = json_string_value(json_object_get(r, "resourceListSha256"));
    bool nm = inm && have && !strcmp(inm, have);
    json_object_set_new(out, "notModified", json_boolean(nm));
    if (nm)
        json_object_set_new(out, "resourceList", json_string(""));
    return out;
}

static int handle_evaluate(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    fr_service *fr = ud;
    char digest[2 * FR_KEY_LEN + 1];
    json_t *steps = steps_of(req->args);
    if (!steps)
        return -1;
    json_t *in = input_of(fr, req->args, digest);
    if (!in) {
        json_decref(steps);
        return -1;
    }
    char *st = json_dumps(steps, JSON_SORT_KEYS | JSON_COMPACT);
    const char *parts[] = {st ? st : "", digest};
    size_t lens[] = {st ? strlen(st) : 0, 2 * FR_KEY_LEN};
    unsigned char key[FR_KEY_LEN];
    fr_cache_key(parts, lens, 2, key);
    free(st);
    json_t *hit = fr_cache_get(fr->cache, key);
    if (hit) {
        *result = reply_of(hit, req->args, true);
        json_decref(hit);
        json_decref(steps);
        json_decref(in);
        if (*result)
            return 0;
        return porch_error_set(500, "out of memory");
    }
    int exit_code = 0;
    json_t *r =
        run(fr, steps, json_string_value(in), json_string_length(in), req->deadline_ms, &exit_code);
    json_decref(steps);
    json_decref(in);
    if (!r)
        return -1;
    const char *olist = json_string_value(json_object_get(r, "resourceList"));
    char odigest[2 * FR_KEY_LEN + 1];
    sha256_hex(olist ? olist : "", olist ? strlen(olist) : 0, odigest);
    json_object_set_new(r, "resourceListSha256", json_string(odigest));
    if (exit_code == 0)
        fr_cache_put(fr->cache, key, r, result_bytes(r));
    *result = reply_of(r, req->args, false);
    json_decref(r);
    return *result ? 0 : porch_error_set(500, "out of memory");
}

static int handle_functions(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    fr_service *fr = ud;
    json_t *b = json_array(), *imgs = json_array();
    char *avail = fn_runtime_available(fr->rt);
    size_t nm = fn_runtime_mapped_count(fr->rt);
    /* built-ins are the names before the mapped images in the available list */
    char *save = NULL;
    size_t idx = 0, total = 0;
    for (char *p = avail; p && *p; p++)
        total += *p == ',';
    total = avail && *avail ? total + 1 : 0;
    for (char *t = strtok_r(avail, ", ", &save); t; t = strtok_r(NULL, ", ", &save), idx++)
        if (idx + nm < total)
            json_array_append_new(b, json_string(t));
    free(avail);
    for (size_t i = 0; i < nm; i++) {
        const char *exec = NULL;
        const char *img = fn_runtime_mapped_image(fr->rt, i, &exec);
        json_array_append_new(imgs, json_pack("{s:s, s:s}", "image", img, "exec", exec));
    }
    fr_cache_stats st;
    fr_cache_stats_get(fr->cache, &st);
    *result = json_pack("{s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "builtins", b,
                        "images", imgs, "cache", "entries", (json_int_t)st.entries, "bytes",
                        (json_int_t)st.bytes, "maxEntries", (json_int_t)fr->max_entries, "maxBytes",
                        (json_int_t)fr->max_bytes, "hits", (json_int_t)st.hits, "misses",
                        (json_int_t)st.misses, "evictions", (json_int_t)st.evictions);
    return 0;
}

/* ---- render ---- */

/* cad's image runner for a render here: this runner's runtime (built-ins,
 * the image map, the deny list, the time limit of each function). */
static int run_image_here(void *ud, const char *image, const char *rl, size_t len,
                          fn_exec_result *res)
{
    fr_service *fr = ud;
    fn_call call = {.image = image};
    return fn_runtime_eval_text(fr->rt, &call, rl, len, res);
}

/* kpt fn render of a package's file set (args.resources: path → text): what
 * porch-engine asks for every Draft update, one call per render instead of
 * one per function. A function that fails is renderStatus.error (the reply is
 * still ok); a file set that cannot be written (bad path) is a 400. */
static int handle_render(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    (void)details;
    fr_service *fr = ud;
    json_t *files = json_object_get(req->args, "resources");
    if (!json_is_object(files))
        return porch_error_set(400, "args.resources must be an object of file path → text");
    size_t total = 0;
    const char *path;
    json_t *text;
    json_object_foreach(files, path, text)
    {
        if (!json_is_string(text))
            return porch_error_set(400, "args.resources[\"%.200s\"] must be a string", path);
        total += json_string_length(text);
    }
    if (total > fr->max_input_bytes)
        return porch_error_set(413, "args.resources holds %zu bytes, more than %zu", total,
                               fr->max_input_bytes);
    json_t *copy = json_deep_copy(files), *status = NULL;
    cad_fn_opts o = {.allow_exec = false, .truncate_output = true, .run_image = run_image_here,
                     .run_image_ud = fr};
    if (cad_render_files(&copy, fr->work_dir, &o, &status) < 0 && !status) {
        json_decref(copy);
        return -1;
    }
    porch_error_clear(); /* a failed function is in the status */
    *result = json_pack("{s:o, s:o}", "resources", copy, "renderStatus", status);
    return 0;
}

/* Scratch space for renders: RAM when /dev/shm is writable, else DATA/fr-work. */
static int make_work_dir(fr_service *fr)
{
    char fallback[4096];
    snprintf(fallback, sizeof fallback, "%s/fr-work", fr->svc.data_dir);
    return cad_scratch_dir("fr", fallback, fr->work_dir, sizeof fr->work_dir, &fr->own_work_dir);
}

/* ---- set-up ---- */

static int parse_size(const char *flag, const char *v, size_t *out)
{
    char *end;
    unsigned long long x = strtoull(v ? v : "", &end, 10);
    if (!v || end == v || *end)
        return porch_error_set(400, "%s \"%s\" must be a whole number", flag, v ? v : "");
    *out = (size_t)x;
    return 0;
}

static int setup(fr_service *fr)
{
    fn_runtime_opts o = {.builtins = true};
    fn_exec_limits_service(&o.limits);
    size_t t;
    if (parse_size("--fn-timeout-ms", fr->timeout_ms, &t) < 0 ||
        parse_size("--cache-entries", fr->cache_entries, &fr->max_entries) < 0 ||
        parse_size("--cache-bytes", fr->cache_bytes, &fr->max_bytes) < 0 ||
        parse_size("--max-input-bytes", fr->max_input, &fr->max_input_bytes) < 0)
        return -1;
    if (t)
        o.limits.timeout_ms = (int)t;
    if (fr->functions_config && *fr->functions_config)
        o.image_map = fr->functions_config;
    if (fr->deny && *fr->deny) {
        size_t n = 1;
        for (const char *p = fr->deny; *p; p++)
            n += *p == ',';
        fr->deny_list = calloc(n + 1, sizeof *fr->deny_list);
        char *dup = strdup(fr->deny), *save = NULL;
        size_t k = 0;
        for (char *tk = strtok_r(dup, ",", &save); tk; tk = strtok_r(NULL, ",", &save))
            fr->deny_list[k++] = strdup(tk);
        free(dup);
        o.deny_images = (const char *const *)fr->deny_list;
    }
    if (fn_runtime_new(&o, &fr->rt) < 0 ||
        fr_cache_new(fr->max_entries, fr->max_bytes, &fr->cache) < 0 ||
        fr_cache_new(fr->max_entries, fr->max_bytes / 2, &fr->inputs) < 0)
        return -1;
    if (make_work_dir(fr) < 0)
        return -1;
    if (bus_server_register(fr->svc.bus, "evaluate", handle_evaluate, fr) < 0 ||
        bus_server_register(fr->svc.bus, "render", handle_render, fr) < 0 ||
        bus_server_register(fr->svc.bus, "functions", handle_functions, fr) < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    fr_service fr = {0};
    /* Renders and evaluations parse and free many small documents per request;
     * glibc's default trimming handed each free back with madvise, and the
     * next parse faulted the pages in again (a render took twice as long as
     * in-process). Keep up to 64 MiB, as porch-engine does. */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    const svc_flag flags[] = {
        {"--functions-config", "PORCH_FUNCTIONS_CONFIG", NULL,
         "YAML file mapping images to executables (functions: [{image, exec, args}])",
         &fr.functions_config},
        {"--fn-timeout-ms", "PORCH_FN_TIMEOUT_MS", "30000", "deadline of one exec function",
         &fr.timeout_ms},
        {"--cache-entries", "PORCH_FN_CACHE_ENTRIES", "1024",
         "result cache size in entries (0 disables the cache)", &fr.cache_entries},
        {"--cache-bytes", "PORCH_FN_CACHE_BYTES", "268435456", "result cache size in bytes",
         &fr.cache_bytes},
        {"--deny-images", "PORCH_FN_DENY_IMAGES", NULL,
         "comma-separated image patterns never run (glob, e.g. 'gcr.io/evil/*')", &fr.deny},
        {"--max-input-bytes", "PORCH_FN_MAX_INPUT_BYTES", "33554432",
         "largest ResourceList accepted", &fr.max_input},
    };
    int rc =
        svc_init(&fr.svc, SVC_FUNCTION_RUNNER, 0, flags, sizeof flags / sizeof *flags, argc, argv);
    if (rc == 0 && setup(&fr) < 0) {
        fprintf(stderr, "porch-function-runner: %s\n", porch_error_last()->message);
        rc = -1;
    }
    if (rc == 0)
        rc = svc_run(&fr.svc);
    if (fr.own_work_dir)
        cad_workdir_remove(fr.work_dir);
    fn_runtime_free(fr.rt);
    fr_cache_free(fr.cache);
    fr_cache_free(fr.inputs);
    for (size_t i = 0; fr.deny_list && fr.deny_list[i]; i++)
        free(fr.deny_list[i]);
    free(fr.deny_list);
    free(fr.functions_config);
    free(fr.timeout_ms);
    free(fr.cache_entries);
    free(fr.cache_bytes);
    free(fr.deny);
    free(fr.max_input);
    svc_free(&fr.svc);
    return rc > 0 ? 0 : (rc < 0 ? 1 : 0);
}
