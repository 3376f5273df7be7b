/* Replacing one directory of a root tree (the package) by splicing the raw
 * tree objects, with the root trees a repository wrote last kept raw in
 * memory: every commit rewrites a root of thousands of entries, and the next
 * write starts from the root the last one wrote (a draft's next commit, the
 * branch after a publish). Finding the package in it is a scan of the raw
 * bytes; nothing is parsed into a git_tree and nothing is read back. */
#include "internal.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gitrepo_raw_cache_clear(gitrepo_raw_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < GITREPO_RAW_TREES; i++) {
        free(c->slot[i].data);
        c->slot[i].data = NULL;
        c->slot[i].size = 0;
    }
}

static const gitrepo_raw_tree *raw_cache_get(gitrepo_raw_cache *c, const git_oid *id)
{
    for (size_t i = 0; c && i < GITREPO_RAW_TREES; i++)
        if (c->slot[i].data && git_oid_equal(&c->slot[i].id, id))
            return &c->slot[i];
    return NULL;
}

/* Keeps a copy of the tree's bytes; an allocation failure only loses the copy. */
static void raw_cache_put(gitrepo_raw_cache *c, const git_oid *id, const char *data, size_t size)
{
    if (!c || raw_cache_get(c, id))
        return;
    gitrepo_raw_tree *t = &c->slot[c->next++ % GITREPO_RAW_TREES];
    char *copy = malloc(size ? size : 1);
    free(t->data);
    t->data = copy;
    t->size = copy ? size : 0;
    if (copy) {
        memcpy(copy, data, size);
        git_oid_cpy(&t->id, id);
    }
}

/* A tree's raw bytes: from the cache, else read (*hold then owns them). */
typedef struct raw_view {
    const char *data;
    size_t size;
    git_odb_object *hold;
} raw_view;

static int raw_read(git_repository *git, gitrepo_raw_cache *c, const git_oid *id, raw_view *v)
{
    memset(v, 0, sizeof *v);
    v->data = "";
    if (!id)
        return 0;
    const gitrepo_raw_tree *t = raw_cache_get(c, id);
    if (t) {
        v->data = t->data;
        v->size = t->size;
        return 0;
    }
    git_odb *odb = NULL;
    int rc = git_repository_odb(&odb, git) == 0 && git_odb_read(&v->hold, odb, id) == 0 &&
                     git_odb_object_type(v->hold) == GIT_OBJECT_TREE
                 ? 0
                 : porch_error_set(500, "cannot read tree %s", git_oid_tostr_s(id));
    git_odb_free(odb);
    if (rc != 0) {
        git_odb_object_free(v->hold);
        v->hold = NULL;
        return rc;
    }
    v->data = git_odb_object_data(v->hold);
    v->size = git_odb_object_size(v->hold);
    raw_cache_put(c, id, v->data, v->size); /* the next write starts from it too */
    return 0;
}

/* One entry of a raw tree at offset *i: its name, mode kind and id; advances *i. */
typedef struct raw_entry {
    const char *name;
    size_t len, total; /* name length; bytes of the whole entry */
    int dir;
    const unsigned char *id;
} raw_entry;

static int raw_next(const char *data, size_t size, size_t *i, raw_entry *e, const git_oid *tree)
{
    const char *start = data + *i;
    const char *sp = memchr(start, ' ', size - *i);
    const char *nul = sp ? memchr(sp + 1, '\0', size - (size_t)(sp + 1 - data)) : NULL;
    if (!nul || (size_t)(nul + 1 - data) + GIT_OID_RAWSZ > size)
        return porch_error_set(500, "malformed tree object %s",
                               tree ? git_oid_tostr_s(tree) : "(new)");
    size_t mlen = (size_t)(sp - start);
    e->name = sp + 1;
    e->len = (size_t)(nul - e->name);
    e->total = (size_t)(nul + 1 - start) + GIT_OID_RAWSZ;
    e->dir = (mlen == 5 && !memcmp(start, "40000", 5)) ||
             (mlen == 6 && !memcmp(start, "040000", 6)); /* old tools zero-padded */
    e->id = (const unsigned char *)nul + 1;
    *i += e->total;
    return 0;
}

/* The directory entry `name` of a raw tree: 1 with *id, 0 when absent or a file. */
static int raw_find_dir(const raw_view *v, const git_oid *tree, const char *name, size_t nlen,
                        git_oid *id)
{
    size_t i = 0;
    raw_entry e = {0};
    while (i < v->size) {
        if (raw_next(v->data, v->size, &i, &e, tree) != 0)
            return -1;
        if (e.len == nlen && !memcmp(e.name, name, nlen)) {
            if (!e.dir)
                return 0;
            git_oid_fromraw(id, e.id);
            return 1;
        }
    }
    return 0;
}

int gitrepo_tree_find(git_repository *git, gitrepo_raw_cache *c, const git_oid *root,
                      const char *path, git_oid *out)
{
    git_oid cur = *root;
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        raw_view v; /* the cache is for roots: levels below are read as they come */
        if (n == 0 || raw_read(git, p == path ? c : NULL, &cur, &v) != 0)
            return n == 0 ? porch_error_set(400, "bad package path \"%s\"", path) : -1;
        git_oid next;
        int found = raw_find_dir(&v, &cur, p, n, &next);
        git_odb_object_free(v.hold);
        if (found <= 0)
            return found < 0 ? -1 : 0;
        cur = next;
        if (!slash) {
            *out = cur;
            return 1;
        }
        p = slash + 1;
    }
}

/* Writes tree `base` (NULL: empty) with its entry `name` set to directory
 * `child` (NULL: removed); *empty tells whether the result has no entries.
 * With a cache, the result's bytes are kept in it. */
static int splice_tree(git_repository *git, gitrepo_spares *spares, gitrepo_raw_cache *c,
                       const git_oid *base, const char *name, const git_oid *child, git_oid *out,
                       int *empty)
{
    raw_view v;
    if (raw_read(git, c, base, &v) != 0)
        return -1;
    size_t nlen = strlen(name), elen = 6 + nlen + 1 + GIT_OID_RAWSZ;
    char *buf = malloc(v.size + elen), *w = buf;
    int rc = buf ? 0 : porch_error_set(500, "out of memory");
    int placed = child == NULL, entries = 0;
    size_t i = 0;
    while (rc == 0 && i < v.size) {
        size_t at = i;
        raw_entry e = {0};
        if ((rc = raw_next(v.data, v.size, &i, &e, base)) != 0)
            break;
        if (e.len == nlen && !memcmp(e.name, name, nlen)) /* replaced or removed */
            continue;
        if (!placed && gitrepo_entry_cmp(name, nlen, 1, e.name, e.len, e.dir) < 0) {
            w += sprintf(w, "40000 %s", name) + 1;
            memcpy(w, child->id, GIT_OID_RAWSZ);
            w += GIT_OID_RAWSZ;
            placed = 1;
            entries++;
        }
        memcpy(w, v.data + at, e.total);
        w += e.total;
        entries++;
    }
    if (rc == 0 && !placed) {
        w += sprintf(w, "40000 %s", name) + 1;
        memcpy(w, child->id, GIT_OID_RAWSZ);
        w += GIT_OID_RAWSZ;
        entries++;
    }
    if (rc == 0)
        rc = gitrepo_object_put(git, spares, buf, (size_t)(w - buf), GIT_OBJECT_TREE, 1, out);
    if (rc == 0)
        raw_cache_put(c, out, buf, (size_t)(w - buf));
    *empty = entries == 0;
    free(buf);
    git_odb_object_free(v.hold);
    return rc;
}

/* The cache holds root trees only: the levels below are small and many. */
static int replace_in(git_repository *git, gitrepo_spares *spares, gitrepo_raw_cache *c,
                      const git_oid *base, const char *path, const git_oid *new_tree,
                      git_oid *out, int *empty)
{
    const char *slash = strchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : strlen(path);
    char name[1024];
    if (n == 0 || n >= sizeof name)
        return porch_error_set(400, "bad package path \"%s\"", path);
    snprintf(name, sizeof name, "%.*s", (int)n, path);
    git_oid child;
    const git_oid *child_p = new_tree;
    if (slash) {
        git_oid sub;
        int found = 0;
        if (base) {
            raw_view v;
            if (raw_read(git, c, base, &v) != 0)
                return -1;
            found = raw_find_dir(&v, base, name, n, &sub);
            int base_empty = v.size == 0;
            git_odb_object_free(v.hold);
            if (found < 0)
                return -1;
            if (!found && !new_tree) { /* nothing to remove */
                git_oid_cpy(out, base);
                *empty = base_empty;
                return 0;
            }
        }
        int emptied = 0;
        int rc = replace_in(git, spares, NULL, found ? &sub : NULL, slash + 1, new_tree, &child,
                            &emptied);
        if (rc != 0)
            return rc;
        child_p = emptied ? NULL : &child; /* don't keep an emptied directory */
    }
    return splice_tree(git, spares, c, base, name, child_p, out, empty);
}

int gitrepo_tree_replace_at(git_repository *git, gitrepo_spares *spares, gitrepo_raw_cache *c,
                            const git_oid *base, const char *path, const git_oid *new_tree,
                            git_oid *out)
{
    int empty = 0;
    return replace_in(git, spares, c, base, path, new_tree, out, &empty);
}
