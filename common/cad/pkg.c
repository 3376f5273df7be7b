/* A package as a list of resources: reading its KRM files (kpt's selection,
 * .krmignore, subpackage boundaries) into annotated krm nodes, and writing
 * the resources back to the files their path/index annotations name. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cad_internal.h"

#include "error/error.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ANNO_PKGPATH "internal.config.kubernetes.io/package-path"

int cad_items_push(cad_items *it, krm_node *n)
{
    if (it->n == it->cap) {
        size_t nc = it->cap ? it->cap * 2 : 64;
        krm_node **nv = realloc(it->v, nc * sizeof *nv);
        if (!nv)
            return porch_error_set(500, "out of memory");
        it->v = nv;
        it->cap = nc;
    }
    it->v[it->n++] = n;
    return 0;
}

int cad_pool_keep(cad_pool *p, krm_stream *s, char *buf)
{
    if (s) {
        if (p->n == p->cap) {
            size_t nc = p->cap ? p->cap * 2 : 32;
            krm_stream **nv = realloc(p->s, nc * sizeof *nv);
            if (!nv)
                return porch_error_set(500, "out of memory");
            p->s = nv;
            p->cap = nc;
        }
        p->s[p->n++] = s;
    }
    if (buf) {
        if (p->nb == p->capb) {
            size_t nc = p->capb ? p->capb * 2 : 32;
            char **nv = realloc(p->bufs, nc * sizeof *nv);
            if (!nv)
                return porch_error_set(500, "out of memory");
            p->bufs = nv;
            p->capb = nc;
        }
        p->bufs[p->nb++] = buf;
    }
    return 0;
}

krm_stream *cad_pool_stream(cad_pool *p)
{
    krm_stream *s = krm_stream_new();
    if (!s || cad_pool_keep(p, s, NULL) < 0) {
        krm_stream_free(s);
        return NULL;
    }
    return s;
}

void cad_pool_free(cad_pool *p)
{
    for (size_t i = 0; i < p->n; i++)
        krm_stream_free(p->s[i]);
    for (size_t i = 0; i < p->nb; i++)
        free(p->bufs[i]);
    free(p->s);
    free(p->bufs);
    free(p->heads);
    memset(p, 0, sizeof *p);
}

static int pool_add_head(cad_pool *p, const krm_node *root, const char *comment)
{
    if (p->nh == p->caph) {
        size_t nc = p->caph ? p->caph * 2 : 16;
        cad_doc_head *nv = realloc(p->heads, nc * sizeof *nv);
        if (!nv)
            return porch_error_set(500, "out of memory");
        p->heads = nv;
        p->caph = nc;
    }
    p->heads[p->nh++] = (cad_doc_head){root, comment};
    return 0;
}

const char *cad_pool_doc_head(const cad_pool *p, const krm_node *root)
{
    for (size_t i = 0; i < p->nh; i++)
        if (p->heads[i].root == root)
            return p->heads[i].comment;
    return NULL;
}

int cad_set_anno_q(krm_stream *s, krm_node *r, const char *k, const char *v)
{
    if (krm_res_set_annotation(s, r, k, v) < 0)
        return -1;
    krm_node *a = krm_path_get(r, "metadata.annotations");
    krm_node *val = a ? krm_map_get(a, k) : NULL;
    if (val)
        krm_node_set_style(val, KRM_SINGLE);
    return 0;
}

bool cad_is_kptfile(const krm_node *r)
{
    const char *k = krm_res_kind(r), *a = krm_res_api_version(r);
    return k && !strcmp(k, "Kptfile") && a && !strncmp(a, "kpt.dev/", 8);
}

static bool krm_file(const char *rel)
{
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    size_t l = strlen(base);
    if (!strcmp(base, "Kptfile"))
        return true;

    return (l > 5 && !strcmp(base + l - 5, ".yaml")) || (l > 4 && !strcmp(base + l - 4, ".yml")) ||
           (l > 5 && !strcmp(base + l - 5, ".json"));
}

static void read_krmignore(const char *dir, cad_strv *pats)
{
    char *p = cad_path_join(dir, ".krmignore"), *buf;
    size_t len;
    if (cad_read_file(p, &buf, &len) == 0) {
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            while (*line == ' ')
                line++;
            size_t l = strlen(line);
            while (l && (line[l - 1] == ' ' || line[l - 1] == '\r' || line[l - 1] == '/'))
                line[--l] = '\0';
            if (*line && *line != '#')
                cad_strv_push(pats, line[0] == '/' ? line + 1 : line);
        }
        free(buf);
    }
    porch_error_clear();
    free(p);
}

static bool ignored(const cad_strv *pats, const char *rel)
{
    for (size_t i = 0; i < pats->n; i++) {
        const char *pat = pats->v[i];
        /* match the path, any leading directory, or any component */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", rel);
        for (char *s = tmp + strlen(tmp);; ) {
            if (fnmatch(pat, tmp, FNM_PATHNAME) == 0)
                return true;
            char *sl = strrchr(tmp, '/');
            if (!sl)
                break;
            *sl = '\0';
            (void)s;
        }
        const char *c = rel;
        while (c) {
            const char *e = strchr(c, '/');
            char comp[1024];
            snprintf(comp, sizeof comp, "%.*s", e ? (int)(e - c) : (int)strlen(c), c);
            if (!strchr(pat, '/') && fnmatch(pat, comp, 0) == 0)
                return true;
            c = e ? e + 1 : NULL;
        }
    }
    return false;
}

/* kyaml's ignore rule: a file is matched against the .krmignore of the
 * innermost package holding it (the root's patterns are `root_pats`), with
 * its path relative to that package; a parent's patterns do not reach into
 * a subpackage. */
static bool krmignored(const char *dir, const char *rel, const cad_strv *root_pats)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", rel);
    char *sl;
    while ((sl = strrchr(tmp, '/'))) {
        *sl = '\0';
        char *sub = cad_path_join(dir, tmp);
        char *k = cad_path_join(sub, "Kptfile");
        bool pkg = access(k, F_OK) == 0;
        free(k);
        if (pkg) {
            cad_strv pats = {0};
            read_krmignore(sub, &pats);
            bool yes = ignored(&pats, rel + strlen(tmp) + 1);
            cad_strv_free(&pats);
            free(sub);
            return yes;
        }
        free(sub);
    }
    return ignored(root_pats, rel);
}

/* True when a directory between the package root and rel's file holds a Kptfile. */
static bool in_subpkg(const char *dir, const char *rel)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", rel);
    char *sl;
    while ((sl = strrchr(tmp, '/'))) {
        *sl = '\0';
        char *k = cad_sprintf("%s/%s/Kptfile", dir, tmp);
        bool yes = access(k, F_OK) == 0;
        free(k);
        if (yes)
            return true;
    }
    return false;
}

static int annotate(krm_stream *s, krm_node *root, const char *rel, int index, krm_seqindent si,
                    const char *pkg_path)
{
    char idx[32];
    snprintf(idx, sizeof idx, "%d", index);
    if (cad_set_anno_q(s, root, KRM_ANNO_INDEX, idx) < 0 ||
        cad_set_anno_q(s, root, KRM_ANNO_PATH, rel) < 0 ||
        cad_set_anno_q(s, root, KRM_ANNO_IINDEX, idx) < 0)
        return -1;
    if (pkg_path && cad_set_anno_q(s, root, ANNO_PKGPATH, pkg_path) < 0)
        return -1;
    if (cad_set_anno_q(s, root, KRM_ANNO_IPATH, rel) < 0 ||
        cad_set_anno_q(s, root, KRM_ANNO_SEQINDENT, si == KRM_SEQ_WIDE ? "wide" : "compact") < 0)
        return -1;
    return 0;
}

krm_node *cad_fn_config_read(cad_pool *pool, const char *fs_path, const char *path,
                             const char *shown)
{
    char *buf;
    size_t len;
    krm_stream *s;
    if (cad_read_file(fs_path, &buf, &len) < 0) {
        char why[256]; /* Go's error text: strerror in lower case */
        snprintf(why, sizeof why, "%s", strerror(errno));
        why[0] = (char)tolower((unsigned char)why[0]);
        porch_error_set(404, "failed to open functionConfig from path \"%s\": open %s: %s", path,
                        shown, why);
        return NULL;
    }
    if (krm_stream_parse(buf, len, path, NULL, &s) < 0) {
        free(buf);
        porch_error_set(400, "failed to read functionConfig \"%s\": %s", path,
                        porch_error_last()->message);
        return NULL;
    }
    cad_pool_keep(pool, s, buf);
    krm_node *found = NULL;
    size_t n = 0;
    for (size_t d = 0; d < krm_stream_count(s); d++) {
        krm_node *r = krm_doc_root(krm_stream_doc(s, d));
        if (!r || (krm_node_kind(r) == KRM_SCALAR && krm_scalar_is_null(r)))
            continue;
        if (krm_node_kind(r) == KRM_SCALAR) {
            krm_buf b = {0};
            krm_node_emit(r, KRM_SEQ_COMPACT, &b);
            porch_error_set(400,
                            "failed to read functionConfig \"%s\": wrong node kind: expected "
                            "MappingNode but got ScalarNode: node contents:\n%.*s",
                            path, (int)b.len, b.data ? b.data : "");
            krm_buf_free(&b);
            return NULL;
        }
        if (!found)
            found = r;
        n++;
    }
    if (n > 1) {
        porch_error_set(400, "functionConfig \"%s\" must not contain more than one config, got %zu",
                        path, n);
        return NULL;
    }
    const char *miss = !found ? NULL
                       : krm_node_kind(found) != KRM_MAP || !krm_res_api_version(found)
                           ? "apiVersion"
                       : !krm_res_kind(found) ? "kind"
                       : !krm_res_name(found) ? "metadata.name"
                                              : NULL;
    if (!found || miss) {
        porch_error_set(400, "functionConfig \"%s\": resource must have `%s`", path,
                        miss ? miss : "apiVersion");
        return NULL;
    }
    return found;
}

int cad_items_check_krm(const cad_items *items, size_t from)
{
    for (size_t i = from; i < items->n; i++) {
        const krm_node *r = items->v[i];
        const char *miss = !krm_res_api_version(r) ? "apiVersion"
                           : !krm_res_kind(r)      ? "kind"
                           : !krm_res_name(r)      ? "metadata.name"
                                                   : NULL;
        const char *rel = krm_res_path(r);
        rel = rel ? rel : "";
        const char *b = strrchr(rel, '/');
        b = b ? b + 1 : rel;
        /* kpt reads kustomize's files but does not hold them to KRM rules */
        if (miss && (!strcmp(b, "kustomization.yaml") || !strcmp(b, "kustomization.yml") ||
                     !strcmp(b, "Kustomization")))
            miss = NULL;
        if (miss)
            return porch_error_set(400,
                                   "input resource list must contain only KRM resources: %s: "
                                   "resource must have `%s`",
                                   rel, miss);
    }
    return 0;
}

int cad_pkg_read(cad_pool *pool, const char *dir, bool subpkgs, const char *pkg_path,
                 cad_items *out, cad_strv *files)
{
    cad_strv all = {0}, pats = {0};
    if (cad_list_files(dir, &all) < 0)
        return -1;
    read_krmignore(dir, &pats);
    int rc = 0;
    for (size_t i = 0; i < all.n && rc == 0; i++) {
        const char *rel = all.v[i];
        if (!krm_file(rel) || krmignored(dir, rel, &pats) || (!subpkgs && in_subpkg(dir, rel)))
            continue;
        char *full = cad_path_join(dir, rel), *buf;
        char *rec = cad_path_join(pkg_path ? pkg_path : dir, rel);
        size_t len;
        krm_stream *s = NULL;
        if (cad_read_file(full, &buf, &len) < 0) {
            free(full);
            free(rec);
            rc = -1;
            break;
        }
        if (krm_stream_parse(buf, len, rel, NULL, &s) < 0) {
            free(buf);
            free(full);
            free(rec);
            rc = -1;
            break;
        }
        cad_pool_keep(pool, s, buf);
        int index = 0;
        for (size_t d = 0; d < krm_stream_count(s) && rc == 0; d++) {
            krm_doc *doc = krm_stream_doc(s, d);
            krm_node *root = krm_doc_root(doc);
            if (!root || krm_node_kind(root) != KRM_MAP)
                continue;
            rc = annotate(s, root, rel, index, krm_doc_seqindent(doc), pkg_path);
            if (rc == 0)
                rc = cad_items_push(out, root);
            if (rc == 0 && krm_doc_comment(doc, KRM_COMMENT_HEAD))
                rc = pool_add_head(pool, root, krm_doc_comment(doc, KRM_COMMENT_HEAD));
            index++;
        }
        if (rc == 0 && index > 0 && files)
            rc = cad_strv_push(files, rec);
        free(rec);
        free(full);
    }
    cad_strv_free(&all);
    cad_strv_free(&pats);
    return rc;
}

void cad_default_path(const krm_node *r, char *out, size_t cap)
{
    const char *kind = krm_res_kind(r), *name = krm_res_name(r), *ns = krm_res_namespace(r);
    char lk[256];
    size_t i = 0;
    for (; kind && kind[i] && i + 1 < sizeof lk; i++)
        lk[i] = (char)tolower((unsigned char)kind[i]);
    lk[i] = '\0';
    if (ns && *ns)
        snprintf(out, cap, "%s/%s_%s.yaml", ns, lk, name ? name : "");
    else
        snprintf(out, cap, "%s_%s.yaml", lk, name ? name : "");
}

static void clear_annos(krm_node *r)
{
    krm_res_clear_kpt_annotations(r);
    krm_res_delete_annotation(r, ANNO_PKGPATH);
    krm_res_delete_annotation(r, "internal.config.k8s.io/kpt-resource-id");
}

typedef struct witem {
    char *full;
    int index;
    size_t order;
    krm_seqindent si;
    krm_node *node;
} witem;

static int by_file(const void *a, const void *b)
{
    const witem *x = a, *y = b;
    int c = strcmp(x->full, y->full);
    if (c)
        return c;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static bool is_json(const char *p)
{
    size_t l = strlen(p);
    return l > 5 && !strcmp(p + l - 5, ".json");
}

static int write_group(witem *g, size_t n)
{
    krm_buf b = {0};
    int rc = 0;
    if (is_json(g[0].full)) {
        rc = krm_node_emit_json(g[0].node, &b);
    } else {
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (i > 0)
                rc = krm_buf_put(&b, "---\n", 4);
            if (rc == 0)
                rc = krm_node_emit(g[i].node, g[i].si, &b);
        }
    }
    if (rc == 0) {
        char *old = NULL;
        size_t ol = 0;
        bool same = cad_read_file(g[0].full, &old, &ol) == 0 && ol == b.len &&
                    (ol == 0 || !memcmp(old, b.data, ol));
        free(old);
        porch_error_clear();
        if (!same)
            rc = cad_write_file(g[0].full, b.data ? b.data : "", b.len);
    }
    krm_buf_free(&b);
    return rc;
}

static int path_escapes(const char *p)
{
    if (p[0] == '/')
        return 1;
    int depth = 0;
    const char *c = p;
    while (*c) {
        const char *e = strchr(c, '/');
        size_t l = e ? (size_t)(e - c) : strlen(c);
        if (l == 2 && !strncmp(c, "..", 2))
            depth--;
        else if (!(l == 1 && c[0] == '.') && l > 0)
            depth++;
        if (depth < 0)
            return 1;
        if (!e)
            break;
        c = e + 1;
    }
    return 0;
}

int cad_pkg_write(const char *dir, cad_items *items, const cad_strv *old_files)
{
    witem *w = calloc(items->n + 1, sizeof *w);
    if (!w)
        return porch_error_set(500, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < items->n && rc == 0; i++) {
        krm_node *r = items->v[i];
        const char *pp = krm_res_annotation(r, ANNO_PKGPATH);
        const char *p = krm_res_path(r);
        char def[4096];
        if (!p) {
            cad_default_path(r, def, sizeof def);
            p = def;
        }
        if (path_escapes(p)) {
            rc = porch_error_set(400, "function must not modify resources outside of package: "
                                      "resource has path %s", p);
            break;
        }
        w[i].full = cad_path_join(pp ? pp : dir, p);
        w[i].index = krm_res_index(r);
        const char *si = krm_res_annotation(r, KRM_ANNO_SEQINDENT);
        w[i].si = si && !strcmp(si, "wide") ? KRM_SEQ_WIDE : KRM_SEQ_COMPACT;
        w[i].order = i;
        w[i].node = r;
    }
    if (rc == 0) {
        for (size_t i = 0; i < items->n; i++)
            clear_annos(items->v[i]);
        qsort(w, items->n, sizeof *w, by_file);
        for (size_t i = 0; i < items->n && rc == 0;) {
            size_t j = i + 1;
            while (j < items->n && !strcmp(w[j].full, w[i].full))
                j++;
            rc = write_group(&w[i], j - i);
            i = j;
        }
    }
    if (rc == 0 && old_files) {
        for (size_t f = 0; f < old_files->n; f++) {
            bool kept = false;
            for (size_t i = 0; i < items->n && !kept; i++)
                kept = !strcmp(w[i].full, old_files->v[f]);
            if (!kept)
                unlink(old_files->v[f]);
        }
    }
    for (size_t i = 0; i < items->n; i++)
        free(w[i].full);
    free(w);
    return rc;
}

int cad_items_unwrap(cad_items *items, krm_buf *out)
{
    for (size_t i = 0; i < items->n; i++) {
        krm_node *r = items->v[i];
        const char *si = krm_res_annotation(r, KRM_ANNO_SEQINDENT);
        krm_seqindent s = si && !strcmp(si, "wide") ? KRM_SEQ_WIDE : KRM_SEQ_COMPACT;
        clear_annos(r);
        if (i > 0 && krm_buf_put(out, "---\n", 4) < 0)
            return -1;
        if (krm_node_emit(r, s, out) < 0)
            return -1;
    }
    return 0;
}
