/* `fn render`: hydrates a package as kpt does — subpackages first (each
 * pipeline sees its package and its rendered subpackages), mutators then
 * validators, configPath/configMap, selectors/exclude — then writes the
 * resources back and records the outcome in the root Kptfile's status. */
#include "cad_internal.h"

#include "error/error.h"
#include "fn/fn.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct render_ctx {
    const cad_render_opts *o;
    cad_pool pool;
    krm_stream *ws;
    cad_strv files;      /* absolute paths that held resources */
    krm_node *msteps, *vsteps; /* status steps */
    char *summary;       /* errorSummary */
    char *fail_pkg;      /* "pkg ./db" of the failing package */
    char *fail_msg;
    bool fail_raw;    /* fail_msg is not a pipeline.run error (kpt's runtime validation) */
    bool fail_nested; /* fail_msg names its own operation ("pkg.Subpackages: ...") */
    bool record;      /* write the render record even though no package was read */
    cad_resultlist results;
    int nfns, npkgs;
} render_ctx;

static krm_node *str(krm_stream *s, const char *v)
{
    return krm_node_new_string(s, v);
}

/* kpt's message for a Kptfile that cannot be read or decoded (its error
 * resolver): the package directory and the decoder's error. */
static int unreadable(const char *dir, const char *detail)
{
    char *abs = cad_abspath(dir), *d = strdup(detail); /* detail may be the error slot itself */
    porch_error_set(400, "Kptfile at \"%s\" can't be read.\n\nDetails:\n%s", abs, d ? d : "");
    free(abs);
    free(d);
    return -1;
}

/* go-yaml's text for a Kptfile that does not parse (into detail), or false. */
static bool kptfile_syntax_error(const char *dir, char *detail, size_t cap)
{
    char *p = cad_path_join(dir, "Kptfile"), *buf = NULL;
    size_t len;
    bool bad =
        cad_read_file(p, &buf, &len) == 0 && krm_syntax_error_goyaml(buf, len, detail, cap) < 0;
    porch_error_clear();
    free(buf);
    free(p);
    return bad;
}

static krm_node *read_kptfile(render_ctx *c, const char *dir)
{
    char *p = cad_path_join(dir, "Kptfile"), *buf;
    size_t len;
    krm_stream *s;
    if (cad_read_file(p, &buf, &len) < 0) {
        char *abs = cad_abspath(dir);
        porch_error_set(404, "No Kptfile found at \"%s\".", abs);
        free(abs);
        free(p);
        return NULL;
    }
    free(p);
    if (krm_stream_parse(buf, len, "Kptfile", NULL, &s) < 0) {
        char detail[4096];
        if (krm_syntax_error_goyaml(buf, len, detail, sizeof detail) == 0)
            snprintf(detail, sizeof detail, "%s", porch_error_last()->message);
        unreadable(dir, detail);
        free(buf);
        return NULL;
    }
    cad_pool_keep(&c->pool, s, buf);
    krm_node *r = krm_stream_count(s) ? krm_doc_root(krm_stream_doc(s, 0)) : NULL;
    if (!r || krm_node_kind(r) != KRM_MAP || !cad_is_kptfile(r)) {
        porch_error_set(400, "%s/Kptfile: invalid Kptfile", dir);
        return NULL;
    }
    return r;
}

/* Direct subpackages: directories with a Kptfile, not nested in another one. */
static int find_subpkgs(const char *dir, const char *rel, cad_strv *out, int depth)
{
    char *d = *rel ? cad_path_join(dir, rel) : strdup(dir);
    DIR *dd = opendir(d);
    free(d);
    if (!dd)
        return 0;
    cad_strv names = {0};
    struct dirent *de;
    while ((de = readdir(dd)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, ".git"))
            cad_strv_push(&names, de->d_name);
    closedir(dd);
    for (size_t i = 0; i + 1 < names.n; i++)
        for (size_t j = i + 1; j < names.n; j++)
            if (strcmp(names.v[i], names.v[j]) > 0) {
                char *t = names.v[i];
                names.v[i] = names.v[j];
                names.v[j] = t;
            }
    for (size_t i = 0; i < names.n; i++) {
        char *r = *rel ? cad_path_join(rel, names.v[i]) : strdup(names.v[i]);
        char *full = cad_path_join(dir, r);
        if (cad_is_dir(full)) {
            char *k = cad_path_join(full, "Kptfile");
            if (access(k, F_OK) == 0)
                cad_strv_push(out, r);
            else if (depth < 32)
                find_subpkgs(dir, r, out, depth + 1);
            free(k);
        }
        free(full);
        free(r);
    }
    cad_strv_free(&names);
    return 0;
}

static krm_node *step_node(render_ctx *c, const cad_fnspec *fn, const cad_fnres *r)
{
    krm_stream *s = c->ws;
    krm_node *m = krm_node_new_map(s);
    const char *what = fn->exec ? fn->exec : fn->image;
    /* absolute exec paths are written quoted: same data, and a YAML reader
     * never sees a normalised "@..." placeholder as a plain scalar */
    krm_map_set(s, m, fn->exec ? "exec" : "image",
                what[0] == '/' ? krm_node_new_scalar(s, what, strlen(what), KRM_DOUBLE) : str(s, what));
    if (r->stderr_text && *r->stderr_text)
        krm_map_set(s, m, "stderr", str(s, r->stderr_text));
    if (r->error)
        krm_map_set(s, m, "executionError", str(s, r->error));
    char b[32];
    snprintf(b, sizeof b, "%d", r->exit_code);
    krm_map_set(s, m, "exitCode", krm_node_new_scalar(s, b, strlen(b), KRM_PLAIN));
    if (r->results) {
        krm_map_set(s, m, "results", krm_node_copy(s, r->results));
        krm_node *errs = krm_node_new_seq(s);
        for (size_t i = 0; i < krm_seq_len(r->results); i++) {
            krm_node *it = krm_seq_at(r->results, i), *sev = krm_map_get(it, "severity");
            if (sev && !strcmp(krm_node_value(sev), "error"))
                krm_seq_append(s, errs, krm_node_copy(s, it));
        }
        if (krm_seq_len(errs))
            krm_map_set(s, m, "errorResults", errs);
    }
    return m;
}

/* The package's own resource in the file configPath names, or NULL. */
static krm_node *fn_config_item(krm_node *cp, const cad_items *items, const char *pkg_abs)
{
    const char *want = krm_node_value(cp);
    if (!strncmp(want, "./", 2))
        want += 2;
    for (size_t i = 0; i < items->n; i++) {
        const char *pp =
            krm_res_annotation(items->v[i], "internal.config.kubernetes.io/package-path");
        const char *p = krm_res_path(items->v[i]);
        if (pp && p && !strcmp(pp, pkg_abs) && !strcmp(p, want))
            return items->v[i];
    }
    return NULL;
}

static krm_node *fn_config(render_ctx *c, krm_node *f, cad_items *items, const char *pkg_abs)
{
    krm_node *cp = krm_map_get(f, "configPath"), *cm = krm_map_get(f, "configMap");
    if (cp) {
        krm_node *r = fn_config_item(cp, items, pkg_abs);
        if (!r)
            porch_error_set(400, "missing function config \"%s\"", krm_node_value(cp));
        return r;
    }
    if (cm && krm_node_kind(cm) == KRM_MAP) {
        krm_node *data = krm_node_new_map(c->ws);
        for (size_t i = 0; i < krm_map_len(cm); i++) {
            krm_node *v = krm_map_value_at(cm, i);
            krm_map_set(c->ws, data, krm_node_value(krm_map_key_at(cm, i)),
                        krm_node_kind(v) == KRM_SCALAR ? str(c->ws, krm_node_value(v)) : krm_node_copy(c->ws, v));
        }
        return cad_configmap(c->ws, data, false);
    }
    return NULL;
}

/* The name kpt gives a step in messages: its name, else the image's last
 * path element without tag or digest. */
static void step_name(krm_node *f, char *out, size_t cap)
{
    krm_node *n = krm_map_get(f, "name"), *img = krm_map_get(f, "image");
    const char *v = n ? krm_node_value(n) : img ? krm_node_value(img) : "";
    if (!n) {
        const char *sl = strrchr(v, '/');
        v = sl ? sl + 1 : v;
    }
    snprintf(out, cap, "%s", v);
    if (!n)
        out[strcspn(out, ":@")] = '\0';
}

/* kpt's runtime check of a pipeline (pkg.ValidatePipeline): every configPath
 * names a file of the package itself, not of a subpackage. */
static int check_config_paths(render_ctx *c, krm_node *pl, const cad_items *items,
                              const char *pkg_abs)
{
    static const char *const lists[] = {"mutators", "validators"};
    for (int l = 0; l < 2; l++) {
        krm_node *q = krm_map_get(pl, lists[l]);
        for (size_t i = 0; q && krm_node_kind(q) == KRM_SEQ && i < krm_seq_len(q); i++) {
            krm_node *cp = krm_map_get(krm_seq_at(q, i), "configPath");
            if (!cp || fn_config_item(cp, items, pkg_abs))
                continue;
            char name[256];
            step_name(krm_seq_at(q, i), name, sizeof name);
            const char *v = krm_node_value(cp);
            c->fail_msg =
                cad_sprintf("Kptfile is invalid:\nField: `pipeline.%s[%zu].configPath`\n"
                            "Value: \"%s\"\nReason: functionConfig resource for %.*s \"%s\" "
                            "is missing from path \"%s\", this also occurs if \"%s\" is part "
                            "of a subpackage\n",
                            lists[l], i, v, (int)strlen(lists[l]) - 1, lists[l], name, v, v);
            c->fail_raw = true;
            return porch_error_set(400, "%s", c->fail_msg);
        }
    }
    return 0;
}

static int run_list(render_ctx *c, krm_node *list, bool validators, cad_items *items, const char *display,
                    const char *pkg_abs)
{
    for (size_t i = 0; list && i < krm_seq_len(list); i++) {
        krm_node *f = krm_seq_at(list, i);
        krm_node *img = krm_map_get(f, "image"), *ex = krm_map_get(f, "exec");
        char ibuf[1024];
        cad_fnspec fn = {.image = img ? fn_image_expand(krm_node_value(img), ibuf, sizeof ibuf) : NULL,
                         .exec = ex ? krm_node_value(ex) : NULL,
                         .selectors = krm_map_get(f, "selectors"), .exclude = krm_map_get(f, "exclude")};
        fn.display = fn.exec ? fn.exec : fn.image;
        if (!fn.display)
            return porch_error_set(400, "function must have either image or exec");
        porch_error_clear();
        fn.config = fn_config(c, f, items, pkg_abs);
        if (!fn.config && porch_error_last()->code)
            return -1;
        cad_fnres r = {0};
        int frc = cad_fn_run(&c->pool, &c->o->fn, &fn, items, validators, &r);
        FILE *log = c->o->fn.log;
        if (log && !r.error) {
            fprintf(log, "[RUNNING] \"%s\"", fn.display);
            if (r.had_selection)
                fprintf(log, " on %zu resource(s)", r.nselected);
            fprintf(log, " on package \"%s\"\n", display);
        }
        if (!r.error)
            cad_fn_report(log, &fn, &r, frc == 0, c->o->fn.truncate_output);
        krm_seq_append(c->ws, validators ? c->vsteps : c->msteps, step_node(c, &fn, &r));
        cad_resultlist_add(&c->results, &fn, &r);
        c->nfns++;
        if (frc < 0) {
            if (r.error) {
                c->summary = cad_sprintf("%s: %s", fn.display, r.error);
                c->fail_msg = strdup(r.error);
                porch_error_set(400, "%s", r.error);
            } else {
                c->summary = cad_sprintf("%s: exit code %d", fn.display, r.exit_code);
                c->fail_msg = strdup("already handled error");
                porch_error_set(400, "already handled error");
            }
            cad_fnres_free(&r);
            return -1;
        }
        cad_fnres_free(&r);
    }
    return 0;
}

/* kpt validates a package's pipeline before running it: configPath must be
 * a relative path to a file of the package. */
static int unknown_fields(const krm_node *m, const char *const *known, const char *type)
{
    for (size_t i = 0; m && krm_node_kind(m) == KRM_MAP && i < krm_map_len(m); i++) {
        const krm_node *k = krm_map_key_at(m, i);
        bool ok = false;
        for (int j = 0; known[j] && !ok; j++)
            ok = !strcmp(known[j], krm_node_value(k));
        if (!ok)
            return porch_error_set(400, "yaml: unmarshal errors:\n  line %d: field %s not found in type %s",
                                   krm_node_line(k), krm_node_value(k), type);
    }
    return 0;
}

/* What kpt finds wrong with a pipeline function as a whole, or NULL. */
static const char *function_problem(krm_node *f)
{
    krm_node *img = krm_map_get(f, "image"), *ex = krm_map_get(f, "exec");
    krm_node *cm = krm_map_get(f, "configMap"), *cp = krm_map_get(f, "configPath");
    bool has_img = img && *krm_node_value(img), has_ex = ex && *krm_node_value(ex);
    if (!has_img && !has_ex)
        return "must specify a functon (`image` or `exec`) to execute";
    if (has_img && has_ex)
        return "must not specify both `image` and `exec` at the same time";
    if (cm && krm_node_kind(cm) == KRM_MAP && krm_map_len(cm) && cp && *krm_node_value(cp))
        return "functionConfig must not specify both `configMap` and `configPath` at the same time";
    return NULL;
}

/* kpt's test: filepath.Clean(v) contains "..". Segments are cleaned as
 * Clean does ("a/../b" is "b"); a ".." left over, or one inside a name, counts. */
static bool escapes_package(const char *v)
{
    int depth = 0;
    for (const char *p = v; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && !strncmp(p, "..", 2)) {
            if (depth == 0)
                return true;
            depth--;
        } else if (n && !(n == 1 && *p == '.')) {
            for (size_t i = 0; i + 1 < n; i++)
                if (p[i] == '.' && p[i + 1] == '.')
                    return true;
            depth++;
        }
        p += n + (e ? 1 : 0);
    }
    return false;
}

/* Why a configPath is invalid (kpt's syntax check, then the file must hold
 * exactly one KRM resource), or NULL; a new string. */
static char *config_path_problem(const char *dir, const char *display, const char *v)
{
    if (!*v)
        return strdup("path must not be empty");
    if (v[0] == '/')
        return strdup("path must be relative");
    if (escapes_package(v))
        return strdup("path must not be outside the package");
    char *full = cad_path_join(dir, v), *shown = cad_path_join(display, v);
    cad_pool pool = {0};
    char *reason = NULL;
    if (!cad_fn_config_read(&pool, full, v, shown))
        reason = strdup(porch_error_last()->message);
    cad_pool_free(&pool);
    free(full);
    free(shown);
    return reason;
}

static int validate_pipeline(krm_node *kf, const char *dir, const char *display)
{
    static const char *const lists[] = {"mutators", "validators"};
    static const char *const top[] = {"apiVersion", "kind", "metadata", "info", "upstream", "upstreamLock",
                                      "pipeline", "inventory", "status", NULL};
    static const char *const fnk[] = {"image", "exec", "configPath", "configMap", "name", "selectors",
                                      "exclude", NULL};
    const char *av = krm_res_api_version(kf);
    if (av && strcmp(av, "kpt.dev/v1")) {
        char *abs = cad_abspath(dir);
        porch_error_set(400, "Kptfile at \"%s/Kptfile\" has an old version (\"%s\") of the Kptfile schema.\n"
                             "Please update the package to the latest format by following "
                             "https://kpt.dev/installation/migration.", abs, av + 8);
        free(abs);
        return -1;
    }
    if (unknown_fields(kf, top, "v1.KptFile") < 0)
        return unreadable(dir, porch_error_last()->message);
    krm_node *pl = krm_map_get(kf, "pipeline");
    for (int l = 0; pl && l < 2; l++) {
        krm_node *q = krm_map_get(pl, lists[l]);
        for (size_t i = 0; q && krm_node_kind(q) == KRM_SEQ && i < krm_seq_len(q); i++) {
            krm_node *f = krm_seq_at(q, i), *cm = krm_map_get(f, "configMap");
            if (unknown_fields(f, fnk, "v1.Function") < 0)
                return unreadable(dir, porch_error_last()->message);
            for (size_t j = 0; cm && krm_node_kind(cm) == KRM_MAP && j < krm_map_len(cm); j++) {
                krm_node *v = krm_map_value_at(cm, j);
                if (krm_node_kind(v) != KRM_SCALAR) {
                    char detail[256];
                    snprintf(detail, sizeof detail,
                             "yaml: unmarshal errors:\n  line %d: cannot unmarshal %s into string",
                             krm_node_line(v), krm_node_kind(v) == KRM_SEQ ? "!!seq" : "!!map");
                    return unreadable(dir, detail);
                }
            }
        }
    }
    for (int l = 0; pl && l < 2; l++) {
        krm_node *q = krm_map_get(pl, lists[l]);
        for (size_t i = 0; q && krm_node_kind(q) == KRM_SEQ && i < krm_seq_len(q); i++) {
            krm_node *f = krm_seq_at(q, i), *cp = krm_map_get(f, "configPath");
            const char *whole = function_problem(f);
            if (whole)
                return porch_error_set(
                    400, "Kptfile is invalid:\nField: `pipeline.%s[%zu]`\nReason: %s\n", lists[l],
                    i, whole);
            if (!cp)
                continue;
            const char *v = krm_node_value(cp);
            char *reason = config_path_problem(dir, display, v);
            if (reason) {
                porch_error_set(400, "Kptfile is invalid:\nField: `pipeline.%s[%zu].configPath`\nValue: "
                                     "\"%s\"\nReason: %s\n", lists[l], i, v, reason);
                free(reason);
                return -1;
            }
        }
    }
    return 0;
}

/* kpt reads a package's resources as the first step of its pipeline: a
 * read error is that step's execution error. */
static void record_read_error(render_ctx *c, krm_node *kf)
{
    c->fail_msg = strdup(porch_error_last()->message);
    const char *msg = c->fail_msg;
    krm_node *pl = krm_map_get(kf, "pipeline");
    krm_node *q = pl ? krm_map_get(pl, "mutators") : NULL;
    bool validators = false;
    if (!q || !krm_seq_len(q)) {
        q = pl ? krm_map_get(pl, "validators") : NULL;
        validators = true;
    }
    if (!q || krm_node_kind(q) != KRM_SEQ || !krm_seq_len(q))
        return;
    krm_node *f = krm_seq_at(q, 0), *img = krm_map_get(f, "image"), *ex = krm_map_get(f, "exec");
    char ibuf[1024];
    cad_fnspec fn = {.image = img ? fn_image_expand(krm_node_value(img), ibuf, sizeof ibuf) : NULL,
                     .exec = ex ? krm_node_value(ex) : NULL};
    if (!fn.image && !fn.exec)
        return;
    cad_fnres r = {.exit_code = 1, .error = strdup(msg)};
    krm_seq_append(c->ws, validators ? c->vsteps : c->msteps, step_node(c, &fn, &r));
    c->summary = cad_sprintf("%s: %s", fn.exec ? fn.exec : fn.image, msg);
    porch_error_set(400, "%s", msg);
    cad_fnres_free(&r);
}

static int hydrate(render_ctx *c, const char *dir, const char *display, const char *rel, cad_items *out)
{
    krm_node *kf = read_kptfile(c, dir);
    if (!kf || validate_pipeline(kf, dir, display) < 0)
        return -1;
    cad_strv subs = {0};
    find_subpkgs(dir, "", &subs, 0);
    cad_items items = {0};
    int rc = 0;
    /* kpt reads every direct subpackage's Kptfile before hydrating any:
     * one that does not parse fails this package (and is recorded so) */
    for (size_t i = 0; i < subs.n && rc == 0; i++) {
        char detail[4096], *sd = cad_path_join(dir, subs.v[i]);
        if (kptfile_syntax_error(sd, detail, sizeof detail)) {
            char *srel = cad_sprintf("%s/%s", rel, subs.v[i]);
            c->fail_msg = cad_sprintf(
                "pkg.Subpackages: pkg %s: error reading Kptfile at \"%s\": %s", srel, srel, detail);
            c->fail_nested = true;
            c->fail_pkg = strdup(rel);
            c->record = true;
            rc = unreadable(sd, detail);
            free(srel);
        }
        free(sd);
    }
    for (size_t i = 0; i < subs.n && rc == 0; i++) {
        char *sd = cad_path_join(dir, subs.v[i]), *sdisp = cad_path_join(display, subs.v[i]);
        char *srel = cad_sprintf("%s/%s", rel, subs.v[i]);
        cad_items sub = {0};
        rc = hydrate(c, sd, sdisp, srel, &sub);
        for (size_t j = 0; j < sub.n; j++)
            cad_items_push(&items, sub.v[j]);
        free(sub.v);
        free(sd);
        free(sdisp);
        free(srel);
    }
    cad_strv_free(&subs);
    if (rc == 0) {
        char *abs = cad_abspath(dir);
        size_t n0 = items.n;
        rc = cad_pkg_read(&c->pool, dir, false, abs, &items, &c->files);
        if (rc == 0)
            rc = cad_items_check_krm(&items, n0);
        c->npkgs++;
        if (rc < 0)
            record_read_error(c, kf);
        if (c->o->fn.log)
            fprintf(c->o->fn.log, "Package \"%s\":\n", display);
        krm_node *pl = krm_map_get(kf, "pipeline");
        if (rc == 0 && pl)
            rc = check_config_paths(c, pl, &items, abs);
        if (rc == 0 && pl)
            rc = run_list(c, krm_map_get(pl, "mutators"), false, &items, display, abs);
        if (rc == 0 && pl)
            rc = run_list(c, krm_map_get(pl, "validators"), true, &items, display, abs);
        if (rc < 0 && !c->fail_pkg)
            c->fail_pkg = strdup(rel);
        if (c->o->fn.log && rc == 0)
            fputc('\n', c->o->fn.log);
        free(abs);
    }
    *out = items;
    return rc;
}

/* YAML 1.1 booleans that go-yaml v3 still quotes when it writes a string. */
static bool old_bool(const char *v)
{
    static const char *const w[] = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On",
                                    "ON", "off", "Off", "OFF", NULL};
    for (int i = 0; w[i]; i++)
        if (!strcmp(v, w[i]))
            return true;
    return false;
}

/* kpt writes the render record by marshalling its typed Kptfile
 * (kptfileutil.WriteKptfileToFS): fields in the structs' order, unknown
 * ones gone, quotes only where YAML needs them. The schema below is kpt's
 * api/kptfile/v1. Comments, the sequence style and the order of string
 * maps are kept: newer kpt drops comments and sorts maps too, but kpt
 * 1.0.0-beta.56 did not rewrite the Kptfile at all, and its corpus
 * (conformance/kpt) holds them. */
typedef enum { F_STR, F_STRMAP, F_STRLIST, F_STRUCT, F_LIST } fkind;
typedef struct field {
    const char *key;
    fkind kind;
    const struct field *sub; /* F_STRUCT / F_LIST items */
} field;

static const field f_git[] = {{"repo", F_STR, NULL},
                              {"directory", F_STR, NULL},
                              {"ref", F_STR, NULL},
                              {"commit", F_STR, NULL},
                              {NULL, F_STR, NULL}};
static const field f_upstream[] = {{"type", F_STR, NULL},
                                   {"git", F_STRUCT, f_git},
                                   {"updateStrategy", F_STR, NULL},
                                   {NULL, F_STR, NULL}};
static const field f_generic[] = {{"storeID", F_STR, NULL},
                                  {"resourceID", F_STR, NULL},
                                  {"resourceVersion", F_STR, NULL},
                                  {NULL, F_STR, NULL}};
static const field f_lock[] = {{"type", F_STR, NULL},
                               {"git", F_STRUCT, f_git},
                               {"generic", F_STRUCT, f_generic},
                               {NULL, F_STR, NULL}};
static const field f_gate[] = {{"conditionType", F_STR, NULL}, {NULL, F_STR, NULL}};
static const field f_info[] = {
    {"site", F_STR, NULL},        {"emails", F_STRLIST, NULL},        {"license", F_STR, NULL},
    {"licenseFile", F_STR, NULL}, {"description", F_STR, NULL},       {"keywords", F_STRLIST, NULL},
    {"man", F_STR, NULL},         {"readinessGates", F_LIST, f_gate}, {NULL, F_STR, NULL}};
static const field f_selector[] = {{"apiVersion", F_STR, NULL}, {"kind", F_STR, NULL},
                                   {"name", F_STR, NULL},       {"namespace", F_STR, NULL},
                                   {"labels", F_STRMAP, NULL},  {"annotations", F_STRMAP, NULL},
                                   {NULL, F_STR, NULL}};
static const field f_function[] = {{"image", F_STR, NULL},
                                   {"exec", F_STR, NULL},
                                   {"configPath", F_STR, NULL},
                                   {"configMap", F_STRMAP, NULL},
                                   {"name", F_STR, NULL},
                                   {"tag", F_STR, NULL},
                                   {"selectors", F_LIST, f_selector},
                                   {"exclude", F_LIST, f_selector},
                                   {NULL, F_STR, NULL}};
static const field f_pipeline[] = {
    {"mutators", F_LIST, f_function}, {"validators", F_LIST, f_function}, {NULL, F_STR, NULL}};
static const field f_inventory[] = {{"namespace", F_STR, NULL},      {"name", F_STR, NULL},
                                    {"inventoryID", F_STR, NULL},    {"labels", F_STRMAP, NULL},
                                    {"annotations", F_STRMAP, NULL}, {NULL, F_STR, NULL}};
static const field f_meta[] = {{"name", F_STR, NULL},
                               {"namespace", F_STR, NULL},
                               {"labels", F_STRMAP, NULL},
                               {"annotations", F_STRMAP, NULL},
                               {NULL, F_STR, NULL}};
static const field f_kptfile[] = {{"apiVersion", F_STR, NULL},
                                  {"kind", F_STR, NULL},
                                  {"metadata", F_STRUCT, f_meta},
                                  {"upstream", F_STRUCT, f_upstream},
                                  {"upstreamLock", F_STRUCT, f_lock},
                                  {"info", F_STRUCT, f_info},
                                  {"pipeline", F_STRUCT, f_pipeline},
                                  {"inventory", F_STRUCT, f_inventory},
                                  {NULL, F_STR, NULL}};

/* A string as Go marshals it: plain unless YAML needs quotes (YAML 1.1
 * booleans are quoted by go-yaml too, so they keep their quotes). */
static krm_node *marshal_str(krm_stream *s, const krm_node *v)
{
    const char *t = krm_node_value(v);
    if (krm_node_style(v) != KRM_PLAIN && old_bool(t))
        return krm_node_new_scalar(s, t, strlen(t), krm_node_style(v));
    return krm_node_new_string(s, t);
}

static void keep_comments(krm_stream *s, const krm_node *from, krm_node *to)
{
    const krm_comment w[] = {KRM_COMMENT_HEAD, KRM_COMMENT_LINE, KRM_COMMENT_FOOT};
    for (int i = 0; from && to && i < 3; i++) {
        const char *c = krm_node_comment(from, w[i]);
        if (c)
            krm_node_set_comment(s, to, w[i], c);
    }
}

/* m[key] = x, with the comments of the source entry (key kk, value v). */
static void set_kept(krm_stream *s, krm_node *m, const krm_node *kk, const krm_node *v, krm_node *x)
{
    keep_comments(s, v, x);
    krm_map_set(s, m, krm_node_value(kk), x);
    keep_comments(s, kk, krm_map_key_at(m, krm_map_len(m) - 1));
}

static krm_node *key_node(const krm_node *m, const char *key)
{
    for (size_t i = 0; i < krm_map_len(m); i++)
        if (!strcmp(krm_node_value(krm_map_key_at(m, i)), key))
            return krm_map_key_at(m, i);
    return NULL;
}

/* Non-empty value of kind k rebuilt from v, or NULL (omitempty). */
static krm_node *marshal(krm_stream *s, const krm_node *v, fkind k, const field *sub)
{
    if (!v)
        return NULL;
    krm_kind vk = krm_node_kind(v);
    if (k == F_STR)
        return vk == KRM_SCALAR && !krm_scalar_is_null(v) && *krm_node_value(v) ? marshal_str(s, v)
                                                                                : NULL;
    if (k == F_STRLIST || k == F_LIST) {
        if (vk != KRM_SEQ || !krm_seq_len(v))
            return NULL;
        krm_node *q = krm_node_new_seq(s);
        for (size_t i = 0; i < krm_seq_len(v); i++) {
            krm_node *it = k == F_LIST ? marshal(s, krm_seq_at(v, i), F_STRUCT, sub)
                                       : marshal_str(s, krm_seq_at(v, i));
            it = it ? it : krm_node_new_map(s);
            keep_comments(s, krm_seq_at(v, i), it);
            krm_seq_append(s, q, it);
        }
        return q;
    }
    if (vk != KRM_MAP || !krm_map_len(v))
        return NULL;
    krm_node *m = krm_node_new_map(s);
    if (k == F_STRMAP) { /* in source order: see above */
        for (size_t i = 0; i < krm_map_len(v); i++)
            set_kept(s, m, krm_map_key_at(v, i), krm_map_value_at(v, i),
                     marshal_str(s, krm_map_value_at(v, i)));
        return m;
    }
    for (const field *f = sub; f->key; f++) {
        krm_node *x = marshal(s, krm_map_get(v, f->key), f->kind, f->sub);
        if (x)
            set_kept(s, m, key_node(v, f->key), krm_map_get(v, f->key), x);
    }
    return krm_map_len(m) ? m : NULL;
}

static int write_status(render_ctx *c, bool ok)
{
    char *p = cad_path_join(c->o->dir, "Kptfile"), *buf = NULL;
    size_t len;
    krm_stream *s = NULL;
    int rc = cad_read_file(p, &buf, &len);
    if (rc == 0)
        rc = krm_stream_parse(buf, len, "Kptfile", NULL, &s);
    krm_node *root = rc == 0 && krm_stream_count(s) ? krm_doc_root(krm_stream_doc(s, 0)) : NULL;
    if (root && krm_node_kind(root) == KRM_MAP) {
        krm_seqindent si = krm_doc_seqindent(krm_stream_doc(s, 0));
        root = marshal(s, root, F_STRUCT, f_kptfile);
        if (!root)
            root = krm_node_new_map(s);
        krm_node *st = krm_node_new_map(s), *conds = krm_node_new_seq(s), *cond = krm_node_new_map(s);
        krm_map_set(s, cond, "type", str(s, "Rendered"));
        krm_map_set(s, cond, "status", str(s, ok ? "True" : "False"));
        krm_map_set(s, cond, "reason", str(s, ok ? "RenderSuccess" : "RenderFailed"));
        if (!ok) {
            char *m = cad_sprintf(c->fail_raw      ? "pkg.render: pkg %s: %s"
                                  : c->fail_nested ? "pkg.render: pkg %s:\n\t%s"
                                                   : "pkg.render: pkg %s:\n\tpipeline.run: %s",
                                  c->fail_pkg ? c->fail_pkg : ".",
                                  c->fail_msg ? c->fail_msg : porch_error_last()->message);
            krm_map_set(s, cond, "message", str(s, m));
            free(m);
        }
        krm_seq_append(s, conds, cond);
        krm_map_set(s, st, "conditions", conds);
        krm_node *rs = krm_node_new_map(s);
        if (krm_seq_len(c->msteps))
            krm_map_set(s, rs, "mutationSteps", krm_node_copy(s, c->msteps));
        if (krm_seq_len(c->vsteps))
            krm_map_set(s, rs, "validationSteps", krm_node_copy(s, c->vsteps));
        if (!ok && c->summary)
            krm_map_set(s, rs, "errorSummary", str(s, c->summary));
        if (krm_map_len(rs))
            krm_map_set(s, st, "renderStatus", rs);
        krm_map_set(s, root, "status", st);
        krm_buf b = {0};
        rc = krm_node_emit(root, si, &b);
        if (rc == 0)
            rc = cad_write_file(p, b.data, b.len);
        krm_buf_free(&b);
    }
    krm_stream_free(s);
    free(buf);
    free(p);
    return rc;
}

/* kpt's adjustRelPath for output elsewhere than the package: paths become
 * relative to the root package and the package-path annotation goes. */
static int root_relative_paths(krm_stream *s, cad_items *items, const char *root_abs)
{
    size_t rl = strlen(root_abs);
    for (size_t i = 0; i < items->n; i++) {
        krm_node *r = items->v[i];
        const char *pp = krm_res_annotation(r, "internal.config.kubernetes.io/package-path");
        const char *p = krm_res_path(r);
        if (pp && p && !strncmp(pp, root_abs, rl) && pp[rl] == '/') {
            char *np = cad_sprintf("%s/%s", pp + rl + 1, p);
            int rc = cad_set_anno_q(s, r, KRM_ANNO_PATH, np);
            if (rc == 0 && krm_res_annotation(r, KRM_ANNO_IPATH))
                rc = cad_set_anno_q(s, r, KRM_ANNO_IPATH, np);
            free(np);
            if (rc < 0)
                return -1;
        }
        krm_res_delete_annotation(r, "internal.config.kubernetes.io/package-path");
    }
    return 0;
}

int cad_fn_render(const cad_render_opts *o)
{
    if (!cad_exists(o->dir))
        return porch_error_set(404, "lstat %s: no such file or directory", o->dir);
    if (o->output && strcmp(o->output, "stdout") && strcmp(o->output, "unwrap") && cad_exists(o->output))
        return porch_error_set(409, "directory \"%s\" already exists, please delete the directory and retry",
                               o->output);
    render_ctx c = {.o = o};
    c.ws = cad_pool_stream(&c.pool);
    c.msteps = krm_node_new_seq(c.ws);
    c.vsteps = krm_node_new_seq(c.ws);
    cad_items items = {0};
    porch_error_clear();
    /* "." is shown by its directory name, as kpt does */
    char *abs = cad_abspath(o->dir);
    const char *base = strrchr(abs, '/');
    const char *display = !strcmp(o->dir, ".") || !strcmp(o->dir, "./") ? (base && base[1] ? base + 1 : abs) : o->dir;
    int rc = hydrate(&c, o->dir, display, ".", &items);
    if (rc == 0 && o->output)
        rc = root_relative_paths(c.ws, &items, abs);
    free(abs);
    porch_error nerr = *porch_error_last();
    bool handled = c.fail_msg && !strcmp(c.fail_msg, "already handled error");
    if (rc == 0) {
        if (o->output && !strcmp(o->output, "stdout")) {
            krm_buf b = {0};
            rc = krm_emit_resource_list(items.v, items.n, NULL, &b);
            fwrite(b.data, 1, b.len, stdout);
            krm_buf_free(&b);
        } else if (o->output && !strcmp(o->output, "unwrap")) {
            krm_buf b = {0};
            rc = cad_items_unwrap(&items, &b);
            fwrite(b.data, 1, b.len, stdout);
            krm_buf_free(&b);
        } else if (o->output) {
            rc = cad_pkg_write(o->output, &items, NULL);
        } else {
            rc = cad_pkg_write(o->dir, &items, &c.files);
        }
        nerr = *porch_error_last();
    }
    if ((c.npkgs > 0 || c.record) && cad_exists(o->dir) &&
        !o->output) /* kpt records in-place renders only */
        write_status(&c, rc == 0);
    if (o->fn.results_dir)
        cad_resultlist_write(&c.results, o->fn.results_dir, NULL);
    if (rc == 0 && o->fn.log)
        fprintf(o->fn.log, "Successfully executed %d function(s) in %d package(s).\n", c.nfns, c.npkgs);
    if (o->fn.results_dir && o->fn.log)
        fprintf(o->fn.log, "For complete results, see %s/results.yaml\n", o->fn.results_dir);
    free(items.v);
    cad_strv_free(&c.files);
    cad_resultlist_free(&c.results);
    free(c.summary);
    free(c.fail_pkg);
    free(c.fail_msg);
    cad_pool_free(&c.pool);
    if (rc < 0) {
        porch_error_set(nerr.code ? nerr.code : 400, "%s", nerr.message);
        return handled ? 1 : -1;
    }
    return 0;
}
