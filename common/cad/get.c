/* `pkg get`: fetches a package directory from git at a ref, writes it to
 * the destination, records upstream and upstreamLock in its Kptfile, marks
 * each resource for later merges (kpt-merge comment, upstream-identifier)
 * and fetches subpackages that declare their own upstream. */
#include "cad_internal.h"
#include "git_fetch.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cad_parse_pkg_arg(const char *arg, char **repo, char **dir, char **ref)
{
    char *a = strdup(arg);
    char *at = NULL;
    const char *g = strstr(a, ".git");
    while (g && g[4] && g[4] != '/' && g[4] != '@')
        g = strstr(g + 4, ".git");
    size_t rl;
    const char *rest;
    if (g) {
        rl = (size_t)(g - a);
        rest = g + 4;
    } else {
        at = strrchr(a, '@');
        rl = at ? (size_t)(at - a) : strlen(a);
        rest = a + rl;
    }
    *repo = strndup(a, rl);
    at = strchr(rest, '@');
    char *d = at ? strndup(rest, (size_t)(at - rest)) : strdup(rest);
    *ref = at ? strdup(at + 1) : NULL;
    if (!*d || !strcmp(d, "/")) {
        free(d);
        d = strdup("/");
    } else if (d[0] != '/') {
        char *t = cad_sprintf("/%s", d);
        free(d);
        d = t;
    }
    size_t l = strlen(d);
    while (l > 1 && d[l - 1] == '/')
        d[--l] = '\0';
    *dir = d;
    free(a);
    return 0;
}

static krm_node *upstream_node(krm_stream *s, const char *repo, const char *dir, const char *ref,
                               const char *strategy, const char *commit)
{
    krm_node *u = krm_node_new_map(s), *gm = krm_node_new_map(s);
    krm_map_set(s, u, "type", krm_node_new_string(s, "git"));
    krm_map_set(s, gm, "repo", krm_node_new_string(s, repo));
    krm_map_set(s, gm, "directory", krm_node_new_string(s, dir));
    krm_map_set(s, gm, "ref", krm_node_new_string(s, ref));
    if (commit)
        krm_map_set(s, gm, "commit", krm_node_new_string(s, commit));
    krm_map_set(s, u, "git", gm);
    if (strategy)
        krm_map_set(s, u, "updateStrategy", krm_node_new_string(s, strategy));
    return u;
}

static void copy_key_comments(krm_stream *s, const krm_node *from, krm_node *to)
{
    const char *c = krm_node_comment(from, KRM_COMMENT_HEAD);
    if (c)
        krm_node_set_comment(s, to, KRM_COMMENT_HEAD, c);
    c = krm_node_comment(from, KRM_COMMENT_LINE);
    if (c)
        krm_node_set_comment(s, to, KRM_COMMENT_LINE, c);
}

/* Rebuilds the Kptfile map with upstream (when given) right after metadata
 * and upstreamLock right after upstream. */
int cad_kptfile_set_upstream(krm_stream *s, krm_node *root, krm_node *up, krm_node *lock)
{
    krm_node *m = krm_node_new_map(s);
    bool placed = false;
    for (size_t i = 0; i < krm_map_len(root); i++) {
        const char *k = krm_node_value(krm_map_key_at(root, i));
        if ((up && !strcmp(k, "upstream")) || !strcmp(k, "upstreamLock"))
            continue;
        krm_map_set(s, m, k, krm_map_value_at(root, i));
        copy_key_comments(s, krm_map_key_at(root, i), krm_map_key_at(m, krm_map_len(m) - 1));
        if (up && !strcmp(k, "metadata")) {
            krm_map_set(s, m, "upstream", up);
            krm_map_set(s, m, "upstreamLock", lock);
            placed = true;
        } else if (!up && !strcmp(k, "upstream")) {
            krm_map_set(s, m, "upstreamLock", lock);
            placed = true;
        }
    }
    if (!placed) {
        if (up)
            krm_map_set(s, m, "upstream", up);
        krm_map_set(s, m, "upstreamLock", lock);
    }
    while (krm_map_len(root))
        krm_map_delete(root, krm_node_value(krm_map_key_at(root, 0)));
    for (size_t i = 0; i < krm_map_len(m); i++) {
        krm_map_set(s, root, krm_node_value(krm_map_key_at(m, i)), krm_map_value_at(m, i));
        copy_key_comments(s, krm_map_key_at(m, i), krm_map_key_at(root, i));
    }
    return 0;
}

/* The identity kpt records on fetched resources: "group|Kind|ns|name". */
void cad_res_identifier(const krm_node *r, char *out, size_t cap)
{
    const char *av = krm_res_api_version(r), *k = krm_res_kind(r), *n = krm_res_name(r),
               *ns = krm_res_namespace(r);
    const char *sl = av ? strchr(av, '/') : NULL;
    snprintf(out, cap, "%.*s|%s|%s|%s", sl ? (int)(sl - av) : 0, sl ? av : "", k ? k : "",
             ns && *ns ? ns : "default", n ? n : "");
}

static bool is_kptfile_path(const char *rel)
{
    const char *b = strrchr(rel, '/');
    return !strcmp(b ? b + 1 : rel, "Kptfile");
}

static bool yaml_name(const char *rel)
{
    size_t l = strlen(rel);
    return (l > 5 && !strcmp(rel + l - 5, ".yaml")) || (l > 4 && !strcmp(rel + l - 4, ".yml"));
}

/* Adds the kpt-merge comment and upstream-identifier to every resource of
 * a parsed file; returns true when something was added. */
bool cad_mark_stream(krm_stream *s)
{
    bool changed = false;
    for (size_t d = 0; d < krm_stream_count(s); d++) {
        krm_node *r = krm_doc_root(krm_stream_doc(s, d));
        if (!r || krm_node_kind(r) != KRM_MAP || !krm_res_kind(r) || !krm_res_name(r))
            continue;
        char id[1024], cm[1024];
        cad_res_identifier(r, id, sizeof id);
        const char *ns = krm_res_namespace(r);
        snprintf(cm, sizeof cm, "# kpt-merge: %s/%s", ns ? ns : "", krm_res_name(r));
        for (size_t k = 0; k < krm_map_len(r); k++)
            if (!strcmp(krm_node_value(krm_map_key_at(r, k)), "metadata"))
                krm_node_set_comment(s, krm_map_key_at(r, k), KRM_COMMENT_LINE, cm);
        cad_set_anno_q(s, r, "internal.kpt.dev/upstream-identifier", id);
        changed = true;
    }
    return changed;
}

/* cad_git_xform marking the resources of YAML files as they are exported. */
int cad_mark_xform(const char *rel, const char *in, size_t len, char **out, size_t *outlen)
{
    if (is_kptfile_path(rel) || !yaml_name(rel))
        return 0;
    krm_stream *s = NULL;
    if (krm_stream_parse(in, len, rel, NULL, &s) < 0) {
        porch_error_clear();
        return 0;
    }
    int rc = 0;
    if (cad_mark_stream(s)) {
        krm_buf b = {0};
        if (krm_stream_emit(s, &b) == 0) {
            *out = b.data;
            *outlen = b.len;
            rc = 1;
        } else {
            krm_buf_free(&b);
            rc = -1;
        }
    }
    krm_stream_free(s);
    return rc;
}

/* Marks every resource of the files under dest (subpackage Kptfiles aside). */
int cad_mark_resources(const char *dest)
{
    cad_strv files = {0};
    if (cad_list_files(dest, &files) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < files.n && rc == 0; i++) {
        char *full = cad_path_join(dest, files.v[i]), *buf = NULL, *out = NULL;
        size_t len, ol;
        if (cad_read_file(full, &buf, &len) == 0) {
            int x = cad_mark_xform(files.v[i], buf, len, &out, &ol);
            if (x == 1)
                rc = cad_write_file(full, out, ol);
            else if (x < 0)
                rc = -1;
        }
        porch_error_clear();
        free(out);
        free(buf);
        free(full);
    }
    cad_strv_free(&files);
    return rc;
}

static int write_root_kptfile(const char *dest, const char *name, const cad_get_opts *o, const char *dir,
                              const char *ref, const char *commit)
{
    char *kp = cad_path_join(dest, "Kptfile"), *buf = NULL;
    size_t len;
    krm_stream *s = NULL;
    krm_node *root = NULL;
    krm_seqindent si = KRM_SEQ_COMPACT;
    if (cad_read_file(kp, &buf, &len) == 0 && krm_stream_parse(buf, len, "Kptfile", NULL, &s) == 0 &&
        krm_stream_count(s)) {
        root = krm_doc_root(krm_stream_doc(s, 0));
        si = krm_doc_seqindent(krm_stream_doc(s, 0));
    }
    porch_error_clear();
    if (!root || krm_node_kind(root) != KRM_MAP) {
        krm_stream_free(s);
        s = krm_stream_new();
        root = krm_node_new_map(s);
        krm_map_set(s, root, "apiVersion", krm_node_new_string(s, "kpt.dev/v1"));
        krm_map_set(s, root, "kind", krm_node_new_string(s, "Kptfile"));
        krm_map_set(s, root, "metadata", krm_node_new_map(s));
    }
    krm_node *md = krm_map_get(root, "metadata");
    if (!md || krm_node_kind(md) != KRM_MAP) {
        md = krm_node_new_map(s);
        krm_map_set(s, root, "metadata", md);
    }
    krm_map_set(s, md, "name", krm_node_new_string(s, name));
    const char *strategy = o->strategy ? (*o->strategy ? o->strategy : NULL) : "resource-merge";
    cad_kptfile_set_upstream(s, root, upstream_node(s, o->repo, dir, ref, strategy, NULL),
                             upstream_node(s, o->repo, dir, ref, NULL, commit));
    krm_buf b = {0};
    int rc = krm_node_emit(root, si, &b);
    if (rc == 0)
        rc = cad_write_file(kp, b.data, b.len);
    krm_buf_free(&b);
    krm_stream_free(s);
    free(buf);
    free(kp);
    return rc;
}

int cad_fetch_into(const cad_get_opts *o, const char *dest, const char *name);

/* Subpackages that declare an upstream but have no lock yet are fetched too. */
static int fetch_remote_subpkgs(const char *dest, FILE *log)
{
    cad_strv files = {0};
    if (cad_list_files(dest, &files) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < files.n && rc == 0; i++) {
        if (!is_kptfile_path(files.v[i]) || !strcmp(files.v[i], "Kptfile"))
            continue;
        char *full = cad_path_join(dest, files.v[i]), *buf = NULL;
        size_t len;
        krm_stream *s = NULL;
        if (cad_read_file(full, &buf, &len) == 0 && krm_stream_parse(buf, len, "Kptfile", NULL, &s) == 0 &&
            krm_stream_count(s)) {
            krm_node *r = krm_doc_root(krm_stream_doc(s, 0));
            krm_node *g = krm_path_get(r, "upstream.git");
            if (g && !krm_map_get(r, "upstreamLock")) {
                krm_node *repo = krm_map_get(g, "repo"), *d = krm_map_get(g, "directory"),
                         *ref = krm_map_get(g, "ref");
                char *sub = strndup(files.v[i], strlen(files.v[i]) - 8);
                size_t sl = strlen(sub);
                if (sl && sub[sl - 1] == '/')
                    sub[sl - 1] = '\0';
                char *sd = cad_path_join(dest, sub);
                cad_get_opts so = {.repo = repo ? krm_node_value(repo) : "",
                                   .directory = d ? krm_node_value(d) : "/",
                                   .ref = ref ? krm_node_value(ref) : NULL, .log = log};
                krm_node *st = krm_path_get(r, "upstream.updateStrategy");
                so.strategy = st ? krm_node_value(st) : ""; /* as declared */
                const char *base = strrchr(sd, '/');
                char *nm = krm_res_name(r) ? strdup(krm_res_name(r)) : strdup(base ? base + 1 : sd);
                cad_rm_rf(full);
                rc = cad_fetch_into(&so, sd, nm);
                free(nm);
                free(sd);
                free(sub);
            }
        }
        porch_error_clear();
        krm_stream_free(s);
        free(buf);
        free(full);
    }
    cad_strv_free(&files);
    return rc;
}

int cad_fetch_into(const cad_get_opts *o, const char *dest, const char *name)
{
    cad_git *g = NULL;
    char hex[41], *ref = NULL;
    const char *dir = o->directory && *o->directory ? o->directory : "/";
    if (o->log)
        fprintf(o->log, "Fetching %s@%s\n", o->repo, o->ref ? o->ref : "main");
    if (cad_git_open(o->repo, &g) < 0)
        return -1;
    int rc = cad_git_resolve(g, o->ref, &ref, hex);
    if (rc < 0) {
        porch_error_set(404, "unknown ref \"%s\" for repository %s", o->ref, o->repo);
        cad_git_close(g);
        return -1;
    }
    rc = cad_git_export(g, hex, dir, dest, cad_mark_xform);
    cad_git_close(g);
    if (rc == 0 && o->log)
        fprintf(o->log, "Adding package \"%s\".\n", dir[0] == '/' && dir[1] ? dir + 1 : dir);
    if (rc == 0)
        rc = write_root_kptfile(dest, name, o, dir, ref, hex);
    if (rc == 0)
        rc = fetch_remote_subpkgs(dest, o->log);
    free(ref);
    return rc;
}

int cad_pkg_get(const cad_get_opts *o)
{
    const char *dir = o->directory && *o->directory ? o->directory : "/";
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : NULL;
    if (!base) {
        const char *rb = strrchr(o->repo, '/');
        base = rb ? rb + 1 : o->repo;
    }
    char *dest;
    if (!o->dest)
        dest = strdup(base);
    else if (cad_is_dir(o->dest))
        dest = cad_path_join(o->dest, base);
    else
        dest = strdup(o->dest);
    size_t l = strlen(dest);
    while (l > 1 && dest[l - 1] == '/')
        dest[--l] = '\0';
    if (cad_exists(dest)) {
        int r = porch_error_set(409, "destination directory %s already exists", dest);
        free(dest);
        return r;
    }
    char *abs = cad_abspath(dest);
    const char *nb = strrchr(abs, '/');
    char *name = strdup(nb ? nb + 1 : abs);
    free(abs);
    if (o->log)
        fprintf(o->log, "Package \"%s\":\n", name);
    int rc = cad_fetch_into(o, dest, name);
    if (rc < 0) {
        porch_error rem = *porch_error_last();
        cad_rm_rf(dest);
        porch_error_set(rem.code, "%s", rem.message);
    } else if (o->log) {
        fprintf(o->log, "\nFetched 1 package(s).\n");
    }
    free(name);
    free(dest);
    return rc;
}
