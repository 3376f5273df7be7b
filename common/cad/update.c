/* `pkg update`: brings a fetched package to a new upstream ref with kpt's
 * strategies — resource-merge (3-way merge of resources matched by their
 * upstream identity, 3-way file merge of the rest), fast-forward,
 * force-delete-replace and copy-merge — and moves upstream/upstreamLock. */
#include "cad_internal.h"
#include "git_fetch.h"
#include "merge3.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct res {
    char *file;   /* package-relative */
    krm_doc *doc;
    krm_node *node;
    char id[1024];
} res;

typedef struct side {
    const char *dir;
    cad_strv files;     /* all files */
    krm_stream **streams; /* per file, NULL for non-KRM */
    char **texts;         /* per file, the text read (YAML files only) */
    size_t *lens;
    res *r;
    size_t n, cap;
} side;

static bool yaml_file(const char *rel)
{
    size_t l = strlen(rel);
    return (l > 5 && !strcmp(rel + l - 5, ".yaml")) || (l > 4 && !strcmp(rel + l - 4, ".yml"));
}

static bool kptfile(const char *rel)
{
    const char *b = strrchr(rel, '/');
    return !strcmp(b ? b + 1 : rel, "Kptfile");
}

static int load_side(side *sd, const char *dir)
{
    sd->dir = dir;
    if (cad_list_files(dir, &sd->files) < 0)
        return -1;
    sd->streams = calloc(sd->files.n + 1, sizeof *sd->streams);
    sd->texts = calloc(sd->files.n + 1, sizeof *sd->texts);
    sd->lens = calloc(sd->files.n + 1, sizeof *sd->lens);
    for (size_t i = 0; i < sd->files.n; i++) {
        const char *rel = sd->files.v[i];
        if (!yaml_file(rel))
            continue;
        char *full = cad_path_join(dir, rel), *buf;
        size_t len;
        krm_stream *s = NULL;
        if (cad_read_file(full, &buf, &len) == 0 && krm_stream_parse(buf, len, rel, NULL, &s) == 0) {
            for (size_t d = 0; d < krm_stream_count(s); d++) {
                krm_doc *doc = krm_stream_doc(s, d);
                krm_node *r = krm_doc_root(doc);
                if (!r || krm_node_kind(r) != KRM_MAP || !krm_res_kind(r) || !krm_res_name(r))
                    continue;
                if (sd->n == sd->cap) {
                    sd->cap = sd->cap ? sd->cap * 2 : 32;
                    sd->r = realloc(sd->r, sd->cap * sizeof *sd->r);
                }
                res *x = &sd->r[sd->n++];
                x->file = sd->files.v[i];
                x->doc = doc;
                x->node = r;
                const char *a = krm_res_annotation(r, "internal.kpt.dev/upstream-identifier");
                if (a)
                    snprintf(x->id, sizeof x->id, "%s", a);
                else
                    cad_res_identifier(r, x->id, sizeof x->id);
            }
            sd->texts[i] = buf;
            sd->lens[i] = len;
            sd->streams[i] = s;
        } else {
            porch_error_clear();
        }
        free(full);
    }
    return 0;
}

static void free_side(side *sd)
{
    for (size_t i = 0; i < sd->files.n; i++) {
        krm_stream_free(sd->streams ? sd->streams[i] : NULL);
        free(sd->texts ? sd->texts[i] : NULL);
    }
    free(sd->streams);
    free(sd->texts);
    free(sd->lens);
    free(sd->r);
    cad_strv_free(&sd->files);
}

static res *find_res(side *sd, const char *id)
{
    for (size_t i = 0; i < sd->n; i++)
        if (!strcmp(sd->r[i].id, id))
            return &sd->r[i];
    return NULL;
}

static int file_index(const side *sd, const char *rel)
{
    for (size_t i = 0; i < sd->files.n; i++)
        if (!strcmp(sd->files.v[i], rel))
            return (int)i;
    return -1;
}

static bool file_has_res(const side *sd, const char *rel)
{
    for (size_t i = 0; i < sd->n; i++)
        if (!strcmp(sd->r[i].file, rel))
            return true;
    return false;
}

static bool same_file(const char *a, const char *b)
{
    char *x = NULL, *y = NULL;
    size_t lx = 0, ly = 0;
    int ra = cad_read_file(a, &x, &lx), rb = cad_read_file(b, &y, &ly);
    porch_error_clear();
    bool same = (ra < 0 && rb < 0) || (ra == 0 && rb == 0 && lx == ly && !memcmp(x, y, lx));
    free(x);
    free(y);
    return same;
}

static int emit_to(krm_stream *s, const char *path, const char *old, size_t oldlen)
{
    size_t live = 0;
    for (size_t d = 0; d < krm_stream_count(s); d++)
        if (krm_doc_root(krm_stream_doc(s, d)))
            live++;
    if (!live)
        return unlink(path) < 0 ? 0 : 0;
    krm_buf b = {0};
    int rc = krm_stream_emit(s, &b);
    if (rc == 0 && !(old && oldlen == b.len && !memcmp(old, b.data, b.len)))
        rc = cad_write_file(path, b.data ? b.data : "", b.len);
    krm_buf_free(&b);
    return rc;
}

/* resource-merge of the KRM resources and 3-way merge of the other files. */
static int resource_merge(side *o, side *l, side *u, const char *dest)
{
    bool *ltouched = calloc(l->files.n + 1, sizeof *ltouched);
    /* resources present locally */
    for (size_t i = 0; i < l->n; i++) {
        res *lr = &l->r[i], *orr = find_res(o, lr->id), *ur = find_res(u, lr->id);
        int fi = file_index(l, lr->file);
        krm_stream *s = l->streams[fi];
        if (ur) {
            krm_node *m = cad_merge3(s, orr ? orr->node : NULL, lr->node, ur->node);
            if (m != lr->node)
                krm_doc_set_root(lr->doc, m);
            ltouched[fi] = true;
        } else if (orr) {
            krm_doc_set_root(lr->doc, NULL); /* deleted upstream */
            ltouched[fi] = true;
        }
    }
    /* resources new upstream */
    cad_strv newfiles = {0};
    krm_stream **newstreams = calloc(u->n + 1, sizeof *newstreams);
    for (size_t i = 0; i < u->n; i++) {
        res *ur = &u->r[i];
        if (find_res(l, ur->id) || find_res(o, ur->id))
            continue;
        int fi = file_index(l, ur->file);
        if (fi >= 0 && l->streams[fi]) {
            krm_stream_add_doc(l->streams[fi], krm_node_copy(l->streams[fi], ur->node));
            ltouched[fi] = true;
            continue;
        }
        size_t k = 0;
        while (k < newfiles.n && strcmp(newfiles.v[k], ur->file))
            k++;
        if (k == newfiles.n) {
            cad_strv_push(&newfiles, ur->file);
            newstreams[k] = krm_stream_new();
        }
        krm_doc *nd = krm_stream_add_doc(newstreams[k], krm_node_copy(newstreams[k], ur->node));
        int ufi = file_index(u, ur->file);
        (void)ufi;
        (void)nd;
    }
    int rc = 0;
    /* every local resource is (re)marked, as kpt does after a merge */
    for (size_t i = 0; i < l->files.n && rc == 0; i++) {
        if (!l->streams[i] || kptfile(l->files.v[i]))
            continue;
        if (!cad_mark_stream(l->streams[i]) && !ltouched[i])
            continue;
        char *p = cad_path_join(dest, l->files.v[i]);
        rc = emit_to(l->streams[i], p, l->texts[i], l->lens[i]);
        free(p);
    }
    for (size_t k = 0; k < newfiles.n && rc == 0; k++) {
        char *p = cad_path_join(dest, newfiles.v[k]);
        rc = emit_to(newstreams[k], p, NULL, 0);
        free(p);
        krm_stream_free(newstreams[k]);
    }
    free(newstreams);
    cad_strv_free(&newfiles);
    free(ltouched);
    /* other files: local unchanged since origin -> take updated */
    cad_strv all = {0};
    for (size_t i = 0; i < o->files.n; i++)
        cad_strv_push(&all, o->files.v[i]);
    for (size_t i = 0; i < u->files.n; i++)
        if (file_index(o, u->files.v[i]) < 0)
            cad_strv_push(&all, u->files.v[i]);
    for (size_t i = 0; i < all.n && rc == 0; i++) {
        const char *rel = all.v[i];
        if (!strcmp(rel, "Kptfile") || file_has_res(o, rel) || file_has_res(u, rel) || file_has_res(l, rel))
            continue;
        char *op = cad_path_join(o->dir, rel), *lp = cad_path_join(dest, rel), *up = cad_path_join(u->dir, rel);
        if (kptfile(rel)) {
            if (!cad_exists(lp) && cad_exists(up) && !cad_exists(op))
                rc = cad_copy_tree(up, lp, false);
        } else if (same_file(op, lp) && !same_file(lp, up)) {
            if (cad_exists(up))
                rc = cad_copy_tree(up, lp, false);
            else
                unlink(lp);
        }
        free(op);
        free(lp);
        free(up);
    }
    cad_strv_free(&all);
    return rc;
}

static krm_node *str(krm_stream *s, const char *v)
{
    return krm_node_new_string(s, v);
}

/* Moves upstream.ref / updateStrategy / upstreamLock in the local Kptfile
 * and merges upstream's other Kptfile changes. */
static int update_kptfile(const char *dest, const char *odir, const char *udir, const char *repo,
                          const char *directory, const char *ref, const char *commit, const char *strategy,
                          bool lock_too)
{
    char *kp = cad_path_join(dest, "Kptfile"), *buf = NULL;
    size_t len;
    krm_stream *s = NULL;
    int rc = cad_read_file(kp, &buf, &len);
    if (rc == 0)
        rc = krm_stream_parse(buf, len, "Kptfile", NULL, &s);
    krm_node *root = rc == 0 && krm_stream_count(s) ? krm_doc_root(krm_stream_doc(s, 0)) : NULL;
    if (!root) {
        free(buf);
        free(kp);
        krm_stream_free(s);
        return rc < 0 ? rc : porch_error_set(400, "invalid Kptfile");
    }
    /* upstream's own Kptfile changes (info, pipeline...) */
    side o = {0}, u = {0};
    char *okp = cad_path_join(odir, "Kptfile"), *ukp = cad_path_join(udir, "Kptfile"), *ob = NULL, *ub = NULL;
    size_t ol, ul;
    krm_stream *os = NULL, *us = NULL;
    if (lock_too && cad_read_file(okp, &ob, &ol) == 0 && cad_read_file(ukp, &ub, &ul) == 0 &&
        krm_stream_parse(ob, ol, "Kptfile", NULL, &os) == 0 && krm_stream_parse(ub, ul, "Kptfile", NULL, &us) == 0 &&
        krm_stream_count(os) && krm_stream_count(us)) {
        krm_node *orr = krm_doc_root(krm_stream_doc(os, 0)), *urr = krm_doc_root(krm_stream_doc(us, 0));
        const char *skip[] = {"metadata", "upstream", "upstreamLock", "status", NULL};
        for (int i = 0; skip[i]; i++) {
            krm_map_delete(orr, skip[i]);
            krm_map_delete(urr, skip[i]);
        }
        cad_merge3(s, orr, root, urr);
    }
    porch_error_clear();
    (void)o;
    (void)u;
    free(okp);
    free(ukp);
    free(ob);
    free(ub);
    krm_node *up = krm_map_get(root, "upstream");
    krm_node *g = up ? krm_map_get(up, "git") : NULL;
    if (g && ref)
        krm_map_set(s, g, "ref", str(s, ref));
    if (up && strategy)
        krm_map_set(s, up, "updateStrategy", str(s, strategy));
    krm_node *lock = krm_node_new_map(s), *lg = krm_node_new_map(s);
    krm_map_set(s, lock, "type", str(s, "git"));
    krm_map_set(s, lg, "repo", str(s, repo));
    krm_map_set(s, lg, "directory", str(s, directory));
    krm_map_set(s, lg, "ref", str(s, ref));
    krm_map_set(s, lg, "commit", str(s, commit));
    krm_map_set(s, lock, "git", lg);
    if (lock_too)
        cad_kptfile_set_upstream(s, root, NULL, lock);
    krm_buf b = {0};
    rc = krm_node_emit(root, krm_doc_seqindent(krm_stream_doc(s, 0)), &b);
    if (rc == 0)
        rc = cad_write_file(kp, b.data, b.len);
    krm_buf_free(&b);
    krm_stream_free(s);
    krm_stream_free(os);
    krm_stream_free(us);
    free(buf);
    free(kp);
    return rc;
}

static int local_changes(side *o, side *l, const char *dest, cad_strv *changed)
{
    for (size_t i = 0; i < l->files.n; i++) {
        const char *rel = l->files.v[i];
        if (!strcmp(rel, "Kptfile"))
            continue;
        char *op = cad_path_join(o->dir, rel), *lp = cad_path_join(dest, rel);
        if (!same_file(op, lp))
            cad_strv_push(changed, rel);
        free(op);
        free(lp);
    }
    for (size_t i = 0; i < o->files.n; i++)
        if (strcmp(o->files.v[i], "Kptfile") && file_index(l, o->files.v[i]) < 0)
            cad_strv_push(changed, o->files.v[i]);
    return (int)changed->n;
}

static int replace_with(const char *dest, const char *udir, bool delete_local)
{
    if (delete_local) {
        cad_strv files = {0};
        cad_list_files(dest, &files);
        for (size_t i = 0; i < files.n; i++) {
            if (!strcmp(files.v[i], "Kptfile"))
                continue;
            char *p = cad_path_join(dest, files.v[i]);
            unlink(p);
            free(p);
        }
        cad_strv_free(&files);
    }
    cad_strv uf = {0};
    cad_list_files(udir, &uf);
    int rc = 0;
    for (size_t i = 0; i < uf.n && rc == 0; i++) {
        if (!strcmp(uf.v[i], "Kptfile"))
            continue;
        char *a = cad_path_join(udir, uf.v[i]), *b = cad_path_join(dest, uf.v[i]);
        unlink(b);
        rc = cad_copy_tree(a, b, false);
        free(a);
        free(b);
    }
    cad_strv_free(&uf);
    return rc;
}

int cad_pkg_update(const cad_update_opts *o)
{
    if (!cad_exists(o->dir))
        return porch_error_set(404, "lstat %s: no such file or directory", o->dir);
    char *kp = cad_path_join(o->dir, "Kptfile"), *buf = NULL;
    size_t len;
    krm_stream *ks = NULL;
    int rc = cad_read_file(kp, &buf, &len);
    free(kp);
    if (rc < 0)
        return porch_error_set(404, "%s: no Kptfile found (not a kpt package)", o->dir);
    if (krm_stream_parse(buf, len, "Kptfile", NULL, &ks) < 0) {
        free(buf);
        return -1;
    }
    free(buf);
    krm_node *root = krm_stream_count(ks) ? krm_doc_root(krm_stream_doc(ks, 0)) : NULL;
    krm_node *g = root ? krm_path_get(root, "upstream.git") : NULL;
    if (!g) {
        krm_stream_free(ks);
        return porch_error_set(400, "package must have an upstream reference");
    }
    krm_node *rn = krm_map_get(g, "repo"), *dn = krm_map_get(g, "directory"), *refn = krm_map_get(g, "ref");
    krm_node *lockc = krm_path_get(root, "upstreamLock.git.commit");
    krm_node *stn = krm_path_get(root, "upstream.updateStrategy");
    char *repo = strdup(rn ? krm_node_value(rn) : "");
    char *directory = strdup(dn ? krm_node_value(dn) : "/");
    char *ref = strdup(o->ref ? o->ref : refn ? krm_node_value(refn) : "");
    char *lock = lockc ? strdup(krm_node_value(lockc)) : NULL;
    const char *strategy = o->strategy ? o->strategy : stn ? krm_node_value(stn) : "resource-merge";
    char *strat = strdup(strategy);
    krm_stream_free(ks);
    FILE *log = o->log;
    if (log)
        fprintf(log, "Package \"%s\":\nFetching upstream from %s@%s\n", o->dir, repo, ref);
    cad_git *git = NULL;
    char uhex[41], ohex[41];
    char *tmp = NULL, *odir = NULL, *udir = NULL;
    rc = cad_git_open(repo, &git);
    if (rc == 0 && cad_git_resolve(git, *ref ? ref : NULL, NULL, uhex) < 0)
        rc = porch_error_set(404, "unknown ref \"%s\" for repository %s", ref, repo);
    if (rc == 0) {
        if (lock)
            snprintf(ohex, sizeof ohex, "%s", lock);
        else
            memcpy(ohex, uhex, sizeof ohex);
        const char *td = getenv("TMPDIR");
        tmp = cad_sprintf("%s/porchctl-update-XXXXXX", td && *td ? td : "/tmp");
        if (!mkdtemp(tmp))
            rc = porch_error_set(500, "cannot create a temporary directory");
        odir = cad_path_join(tmp, "origin");
        udir = cad_path_join(tmp, "updated");
    }
    if (rc == 0 && log)
        fprintf(log, "Fetching origin from %s@%s\n", repo, ref);
    if (rc == 0)
        rc = cad_git_export(git, ohex, directory, odir, cad_mark_xform);
    if (rc == 0)
        rc = cad_git_export(git, uhex, directory, udir, cad_mark_xform);
    cad_git_close(git);
    side so = {0}, sl = {0}, su = {0};
    if (rc == 0)
        rc = load_side(&so, odir);
    if (rc == 0)
        rc = load_side(&sl, o->dir);
    if (rc == 0)
        rc = load_side(&su, udir);
    if (rc == 0 && log)
        fprintf(log, "Updating package \"%s\" with strategy \"%s\".\n", o->dir, strat);
    if (rc == 0) {
        if (!strcmp(strat, "fast-forward")) {
            cad_strv ch = {0};
            if (local_changes(&so, &sl, o->dir, &ch) > 0) {
                char list[4096] = "";
                for (size_t i = 0; i < ch.n; i++)
                    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? " " : "", ch.v[i]);
                /* kpt has already moved upstream.ref and the strategy */
                update_kptfile(o->dir, odir, udir, repo, directory, ref, uhex, o->strategy, false);
                rc = porch_error_set(409, "local package files have been modified: [%s]", list);
            } else {
                rc = replace_with(o->dir, udir, true);
            }
            cad_strv_free(&ch);
        } else if (!strcmp(strat, "force-delete-replace")) {
            rc = replace_with(o->dir, udir, true);
        } else if (!strcmp(strat, "copy-merge")) {
            rc = replace_with(o->dir, udir, false);
        } else if (!strcmp(strat, "resource-merge")) {
            rc = resource_merge(&so, &sl, &su, o->dir);
        } else {
            rc = porch_error_set(400, "unknown update strategy \"%s\"", strat);
        }
    }
    if (rc == 0)
        rc = update_kptfile(o->dir, odir, udir, repo, directory, ref, uhex, o->strategy, true);
    if (rc == 0 && log)
        fprintf(log, "\nUpdated 1 package(s).\n");
    free_side(&so);
    free_side(&sl);
    free_side(&su);
    if (tmp) {
        porch_error keep = *porch_error_last();
        cad_rm_rf(tmp);
        if (rc < 0)
            porch_error_set(keep.code, "%s", keep.message);
    }
    free(tmp);
    free(odir);
    free(udir);
    free(repo);
    free(directory);
    free(ref);
    free(lock);
    free(strat);
    return rc;
}
