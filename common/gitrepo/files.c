/* A revision's file set in and out of git trees: reading every blob under a
 * package directory (text as UTF-8, anything else base64 so bytes survive
 * JSON), building a tree from a file set, and replacing one directory of a
 * root tree (the package) while sharing every other subtree unchanged. */
#include "internal.h"


#include "error/error.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
            len = 2;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
        } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
            len = 4;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

static char *base64_encode(const unsigned char *data, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    return out;
}

static unsigned char *base64_decode(const char *text, size_t *n)
{
    size_t len = strlen(text);
    unsigned char *out = malloc(3 * (len / 4) + 3);
    int k = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
    if (k < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts '=' padding as zero bytes */
    if (len >= 1 && text[len - 1] == '=')
        k--;
    if (len >= 2 && text[len - 2] == '=')
        k--;
    *n = (size_t)k;
    return out;
}

typedef struct walk_ctx {
    git_repository *git;
    json_t *resources, *binary;
    int rc;
} walk_ctx;

static int walk_cb(const char *root, const git_tree_entry *e, void *payload)
{
    walk_ctx *w = payload;
    if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
        return 0;
    git_blob *blob = NULL;
    if (git_blob_lookup(&blob, w->git, git_tree_entry_id(e)) != 0) {
        w->rc = gitrepo_git_error(500, "cannot read a package file");
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s%s", root, git_tree_entry_name(e));
    const unsigned char *data = git_blob_rawcontent(blob);
    size_t n = (size_t)git_blob_rawsize(blob);
    if (utf8_valid(data, n)) {
        json_object_set_new(w->resources, path, json_stringn((const char *)data, n));
    } else {
        char *b64 = base64_encode(data, n);
        json_object_set_new(w->binary, path, json_string(b64));
        free(b64);
    }
    git_blob_free(blob);
    return 0;
}

int gitrepo_commit_subtree(git_repository *git, const git_oid *commit, const char *path,
                           git_tree **out)
{
    git_commit *c = NULL;
    git_tree *root = NULL;
    *out = NULL;
    if (git_commit_lookup(&c, git, commit) != 0)
        return porch_error_set(404, "commit %s not found in the mirror", git_oid_tostr_s(commit));
    int rc = git_commit_tree(&root, c);
    git_commit_free(c);
    if (rc != 0)
        return gitrepo_git_error(500, "cannot read the commit's tree");
    if (!path || !*path) {
        *out = root;
        return 0;
    }
    git_tree_entry *e = NULL;
    rc = git_tree_entry_bypath(&e, root, path);
    if (rc == 0 && git_tree_entry_type(e) == GIT_OBJECT_TREE)
        rc = git_tree_lookup(out, git, git_tree_entry_id(e));
    else
        rc = porch_error_set(404, "directory %s not found in commit %.12s", path,
                             git_oid_tostr_s(commit));
    git_tree_entry_free(e);
    git_tree_free(root);
    return rc;
}

int gitrepo_read_files(gitrepo *repo, const char *sha, const char *path, json_t **resources,
                       json_t **binary)
{
    git_oid oid;
    *resources = NULL;
    if (binary)
        *binary = NULL;
    if (!sha || git_oid_fromstr(&oid, sha) != 0)
        return porch_error_set(400, "bad commit id %s", sha ? sha : "(none)");
    git_tree *tree = NULL;
    int rc = gitrepo_commit_subtree(gitrepo_reader(repo), &oid, path, &tree);
    if (rc != 0)
        return rc;
    walk_ctx w = {gitrepo_reader(repo), json_object(), json_object(), 0};
    if (git_tree_walk(tree, GIT_TREEWALK_PRE, walk_cb, &w) != 0 && w.rc == 0)
        w.rc = gitrepo_git_error(500, "cannot walk the package tree");
    git_tree_free(tree);
    if (w.rc != 0) {
        json_decref(w.resources);
        json_decref(w.binary);
        return w.rc;
    }
    *resources = w.resources;
    if (binary)
        *binary = w.binary;
    else
        json_decref(w.binary);
    return 0;
}

/* ---- building trees ---- */

typedef struct file_ent {
    const char *path; /* relative, '/'-separated */
    git_oid blob;
} file_ent;

static int cmp_ent(const void *a, const void *b)
{
    return strcmp(((const file_ent *)a)->path, ((const file_ent *)b)->path);
}

/* Git's order of tree entries: by name, a directory's name read as if it
 * ended in '/'. */
int gitrepo_entry_cmp(const char *a, size_t alen, int adir, const char *b, size_t blen, int bdir)
{
    size_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n);
    if (c)
        return c;
    unsigned ca = n < alen ? (unsigned char)a[n] : adir ? '/' : 0;
    unsigned cb = n < blen ? (unsigned char)b[n] : bdir ? '/' : 0;
    return ca < cb ? -1 : ca > cb ? 1 : 0;
}

/* One entry of a tree being built. */
typedef struct tree_ent {
    const char *name;
    size_t len;
    int dir;
    git_oid id;
} tree_ent;

static int cmp_tree_ent(const void *a, const void *b)
{
    const tree_ent *x = a, *y = b;
    return gitrepo_entry_cmp(x->name, x->len, x->dir, y->name, y->len, y->dir);
}

/* What git refuses as a tree entry name (libgit2's tree builder did too). */
static int bad_entry_name(const char *name, size_t len)
{
    return len == 0 || memchr(name, '/', len) || (len == 1 && name[0] == '.') ||
           (len == 2 && !memcmp(name, "..", 2)) || (len == 4 && !strncasecmp(name, ".git", 4));
}

/* Serialises entries (sorted here into git's order) as a tree object and
 * writes it like the root trees. Two entries of one name — a file "a" beside
 * files under "a/" — are refused: git cannot hold both. */
static int write_tree(git_repository *git, gitrepo_spares *spares, tree_ent *te, size_t n,
                      const char *where, git_oid *out)
{
    if (n > 1)
        qsort(te, n, sizeof *te, cmp_tree_ent);
    size_t size = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && te[i].len == te[i - 1].len && !memcmp(te[i].name, te[i - 1].name, te[i].len))
            return porch_error_set(400, "bad file path %s%.*s: both a file and a directory", where,
                                   (int)te[i].len, te[i].name);
        size += 7 + te[i].len + 1 + GIT_OID_RAWSZ;
    }
    char *buf = malloc(size ? size : 1), *w = buf;
    if (!buf)
        return porch_error_set(500, "out of memory building a tree");
    for (size_t i = 0; i < n; i++) {
        const char *mode = te[i].dir ? "40000 " : "100644 ";
        size_t ml = strlen(mode);
        memcpy(w, mode, ml);
        memcpy(w + ml, te[i].name, te[i].len);
        w += ml + te[i].len;
        *w++ = '\0';
        memcpy(w, te[i].id.id, GIT_OID_RAWSZ);
        w += GIT_OID_RAWSZ;
    }
    int rc = gitrepo_object_put(git, spares, buf, (size_t)(w - buf), GIT_OBJECT_TREE, 1, out);
    free(buf);
    return rc;
}

/* Builds the tree for ents[0..n) which all start with `prefix` (length plen). */
static int build_level(git_repository *git, gitrepo_spares *spares, file_ent *ents, size_t n,
                       size_t plen, git_oid *out)
{
    tree_ent *te = calloc(n ? n : 1, sizeof *te);
    if (!te)
        return porch_error_set(500, "out of memory building a tree");
    size_t nte = 0;
    int rc = 0;
    size_t i = 0;
    while (i < n && rc == 0) {
        const char *rest = ents[i].path + plen;
        const char *slash = strchr(rest, '/');
        size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
        if (bad_entry_name(rest, len)) {
            rc = porch_error_set(400, "bad file path %s", ents[i].path);
            break;
        }
        te[nte] = (tree_ent){rest, len, slash != NULL, {{0}}};
        if (!slash) {
            te[nte++].id = ents[i++].blob;
            continue;
        }
        size_t j = i;
        while (j < n && strncmp(ents[j].path + plen, rest, len + 1) == 0)
            j++;
        rc = build_level(git, spares, ents + i, j - i, plen + len + 1, &te[nte++].id);
        i = j;
    }
    if (rc == 0) {
        char where[1024];
        snprintf(where, sizeof where, "%.*s", (int)plen, n ? ents[0].path : "");
        rc = write_tree(git, spares, te, nte, where, out);
    }
    free(te);
    return rc;
}

/* The blob for data at `path`: old's when it already holds exactly these
 * bytes there (a blob reachable from a ref needs no write, nor libgit2's
 * freshening of it), else a newly written one. */
static int put_blob(git_repository *git, gitrepo_spares *spares, const git_tree *old,
                    const char *path, const void *data, size_t len, git_oid *out)
{
    git_tree_entry *e = NULL;
    if (old && git_odb_hash(out, data, len, GIT_OBJECT_BLOB) == 0 &&
        git_tree_entry_bypath(&e, old, path) == 0) {
        int same = git_tree_entry_type(e) == GIT_OBJECT_BLOB &&
                   git_tree_entry_filemode(e) == GIT_FILEMODE_BLOB &&
                   git_oid_equal(git_tree_entry_id(e), out);
        git_tree_entry_free(e);
        if (same)
            return 0;
    }
    return gitrepo_object_put(git, spares, data, len, GIT_OBJECT_BLOB, 0, out);
}

/* The old package's files that are not UTF-8 text and not in resources:
 * with no binary set given, they stay (the engine's file sets and the
 * resources API carry text only, so they could never be sent back). */
typedef struct kept_ctx {
    git_repository *git;
    json_t *resources;
    file_ent *v;
    size_t n, cap;
    int rc;
} kept_ctx;

static int kept_cb(const char *root, const git_tree_entry *e, void *payload)
{
    kept_ctx *k = payload;
    if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
        return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s%s", root, git_tree_entry_name(e));
    if (json_object_get(k->resources, path))
        return 0;
    git_blob *blob = NULL;
    if (git_blob_lookup(&blob, k->git, git_tree_entry_id(e)) != 0) {
        k->rc = gitrepo_git_error(500, "cannot read a package file");
        return -1;
    }
    int text = utf8_valid(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
    git_blob_free(blob);
    if (text)
        return 0; /* a text file the new set leaves out is deleted */
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 4;
        file_ent *v = realloc(k->v, cap * sizeof *v);
        if (!v) {
            k->rc = porch_error_set(500, "out of memory");
            return -1;
        }
        k->v = v;
        k->cap = cap;
    }
    k->v[k->n].path = strdup(path);
    git_oid_cpy(&k->v[k->n].blob, git_tree_entry_id(e));
    k->n++;
    return 0;
}

int gitrepo_tree_from_files(git_repository *git, gitrepo_spares *spares, const git_tree *old,
                            json_t *resources, json_t *binary, git_oid *out)
{
    kept_ctx kept = {git, resources, NULL, 0, 0, 0};
    if (!binary && old && git_tree_walk(old, GIT_TREEWALK_PRE, kept_cb, &kept) != 0 && !kept.rc)
        kept.rc = gitrepo_git_error(500, "cannot walk the package's tree");
    size_t total = json_object_size(resources) + (binary ? json_object_size(binary) : 0) + kept.n;
    file_ent *ents = calloc(total + 1, sizeof *ents);
    size_t n = 0;
    int rc = kept.rc;
    for (size_t i = 0; rc == 0 && i < kept.n; i++)
        ents[n++] = kept.v[i];
    const char *key;
    json_t *val;
    json_object_foreach(resources, key, val)
    {
        if (rc != 0)
            break;
        if (!json_is_string(val)) {
            rc = porch_error_set(400, "resources[%s] must be a string", key);
            break;
        }
        ents[n].path = key;
        rc = put_blob(git, spares, old, key, json_string_value(val), json_string_length(val),
                      &ents[n].blob);
        n++;
    }
    if (binary && rc == 0) {
        json_object_foreach(binary, key, val)
        {
            size_t len = 0;
            unsigned char *data =
                json_is_string(val) ? base64_decode(json_string_value(val), &len) : NULL;
            if (!data) {
                rc = porch_error_set(400, "binary[%s] must be base64 text", key);
                break;
            }
            ents[n].path = key;
            rc = put_blob(git, spares, old, key, data, len, &ents[n].blob);
            free(data);
            n++;
        }
    }
    if (rc == 0) {
        qsort(ents, n, sizeof *ents, cmp_ent);
        for (size_t i = 0; i < n; i++)
            if (ents[i].path[0] == '/' || strstr(ents[i].path, "..") ||
                (i > 0 && strcmp(ents[i].path, ents[i - 1].path) == 0))
                rc = porch_error_set(400, "bad file path %s", ents[i].path);
    }
    if (rc == 0)
        rc = build_level(git, spares, ents, n, 0, out);
    free(ents);
    for (size_t i = 0; i < kept.n; i++)
        free((char *)kept.v[i].path);
    free(kept.v);
    return rc;
}

int gitrepo_read_revision(gitrepo *repo, const char *name, json_t **item, json_t **resources,
                          json_t **binary)
{
    json_t *it = NULL, *res = NULL, *bin = NULL;
    int rc = gitrepo_find(repo, name, &it);
    if (rc == 0) {
        json_t *spec = json_object_get(it, "spec");
        const char *sha =
            json_string_value(json_object_get(json_object_get(it, "metadata"), "resourceVersion"));
        char path[2048];
        gitrepo_full_path(repo, json_string_value(json_object_get(spec, "packageName")), path,
                          sizeof path);
        rc = gitrepo_read_files(repo, sha, path, &res, &bin);
    }
    if (rc == 0 && item)
        *item = json_incref(it);
    if (rc == 0 && resources)
        *resources = json_incref(res);
    if (rc == 0 && binary)
        *binary = json_incref(bin);
    json_decref(it);
    json_decref(res);
    json_decref(bin);
    return rc;
}
