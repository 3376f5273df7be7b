/* A per-repository cache of what discovery needs from each commit (committer
 * time, author, parents, parsed `kpt:` annotations) and a committer-time
 * ordered walk over it. Commits never change, so entries never go stale;
 * walking history for tasks and publish info then costs memory reads instead
 * of opening and inflating every object on every listing. */
#include "internal.h"

#include "log/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gitrepo_commit_cache {
    gitrepo_commit_info **slots; /* open addressing, power-of-two capacity */
    size_t cap, n;
    unsigned epoch; /* walk marks */
};

static size_t slot_of(const git_oid *id, size_t cap)
{
    size_t h;
    memcpy(&h, id->id, sizeof h);
    return h & (cap - 1);
}

static void cache_insert(gitrepo_commit_cache *c, gitrepo_commit_info *ci)
{
    if ((c->n + 1) * 2 > c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 1024;
        gitrepo_commit_info **ns = calloc(ncap, sizeof *ns);
        for (size_t i = 0; i < c->cap; i++) {
            gitrepo_commit_info *e = c->slots[i];
            if (!e)
                continue;
            size_t s = slot_of(&e->id, ncap);
            while (ns[s])
                s = (s + 1) & (ncap - 1);
            ns[s] = e;
        }
        free(c->slots);
        c->slots = ns;
        c->cap = ncap;
    }
    size_t s = slot_of(&ci->id, c->cap);
    while (c->slots[s])
        s = (s + 1) & (c->cap - 1);
    c->slots[s] = ci;
    c->n++;
}

void gitrepo_commit_cache_free(gitrepo_commit_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->cap; i++) {
        gitrepo_commit_info *e = c->slots[i];
        if (!e)
            continue;
        free(e->author_email);
        json_decref(e->annotations);
        free(e->parents);
        free(e);
    }
    free(c->slots);
    free(c);
}

const gitrepo_commit_info *gitrepo_commit_get(gitrepo *repo, const git_oid *id)
{
    if (!repo->commits)
        repo->commits = calloc(1, sizeof *repo->commits);
    gitrepo_commit_cache *c = repo->commits;
    if (c->cap) {
        for (size_t s = slot_of(id, c->cap); c->slots[s]; s = (s + 1) & (c->cap - 1))
            if (git_oid_equal(&c->slots[s]->id, id))
                return c->slots[s];
    }
    git_commit *commit = NULL;
    if (git_commit_lookup(&commit, gitrepo_reader(repo), id) != 0)
        return NULL;
    gitrepo_commit_info *ci = calloc(1, sizeof *ci);
    ci->id = *id;
    ci->time = git_commit_time(commit);
    const git_signature *a = git_commit_author(commit);
    if (a) {
        ci->author_time = a->when.time;
        ci->author_email = a->email && *a->email ? strdup(a->email) : NULL;
    }
    int bad = 0;
    ci->annotations = gitrepo_annotations_parse(git_commit_message(commit), &bad);
    if (bad)
        log_debug("ignoring unparsable kpt annotation", "commit", json_string(git_oid_tostr_s(id)));
    ci->nparents = git_commit_parentcount(commit);
    ci->parents = calloc(ci->nparents + 1, sizeof *ci->parents);
    for (unsigned i = 0; i < ci->nparents; i++)
        ci->parents[i] = *git_commit_parent_id(commit, i);
    git_commit_free(commit);
    cache_insert(c, ci);
    return ci;
}

/* ---- committer-time ordered walk: a max-heap of commits not yet visited ---- */

typedef struct heap {
    const gitrepo_commit_info **v;
    size_t n, cap;
} heap;

static int later(const gitrepo_commit_info *a, const gitrepo_commit_info *b)
{
    return a->time > b->time;
}

static void heap_push(heap *h, const gitrepo_commit_info *ci)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = realloc(h->v, h->cap * sizeof *h->v);
    }
    size_t i = h->n++;
    h->v[i] = ci;
    while (i > 0 && later(h->v[i], h->v[(i - 1) / 2])) {
        const gitrepo_commit_info *t = h->v[i];
        h->v[i] = h->v[(i - 1) / 2];
        h->v[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static const gitrepo_commit_info *heap_pop(heap *h)
{
    if (h->n == 0)
        return NULL;
    const gitrepo_commit_info *top = h->v[0];
    h->v[0] = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && later(h->v[l], h->v[m]))
            m = l;
        if (r < h->n && later(h->v[r], h->v[m]))
            m = r;
        if (m == i)
            break;
        const gitrepo_commit_info *t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
    return top;
}

void gitrepo_walk(gitrepo *repo, const git_oid *start, gitrepo_walk_fn fn, void *payload)
{
    const gitrepo_commit_info *first = gitrepo_commit_get(repo, start);
    if (!first)
        return;
    unsigned epoch = ++repo->commits->epoch;
    heap h = {0};
    ((gitrepo_commit_info *)first)->mark = epoch;
    heap_push(&h, first);
    const gitrepo_commit_info *ci;
    while ((ci = heap_pop(&h)) != NULL) {
        if (fn(ci, payload))
            break;
        for (unsigned i = 0; i < ci->nparents; i++) {
            const gitrepo_commit_info *p = gitrepo_commit_get(repo, &ci->parents[i]);
            if (p && p->mark != epoch) {
                ((gitrepo_commit_info *)p)->mark = epoch;
                heap_push(&h, p);
            }
        }
    }
    free(h.v);
}

/* ---- the task index: which (package, workspace) pairs have task annotations ---- */

static void index_key(const char *pkg, const char *ws, char *buf, size_t len)
{
    snprintf(buf, len, "%s\n%s", pkg, ws);
}

static void index_commit(gitrepo *repo, const gitrepo_commit_info *ci)
{
    size_t i;
    json_t *a;
    char key[4096];
    json_array_foreach(ci->annotations, i, a)
    {
        const char *pkg = json_string_value(json_object_get(a, "package"));
        const char *ws = json_string_value(json_object_get(a, "workspaceName"));
        if (!pkg || !json_is_object(json_object_get(a, "task")))
            continue;
        if (!ws || !*ws)
            ws = json_string_value(json_object_get(a, "revision"));
        index_key(pkg, ws ? ws : "", key, sizeof key);
        json_object_set_new(repo->task_index, key, json_true());
    }
}

/* Indexes `start` (a commit, or an annotated tag) and its unindexed ancestors. */
static void index_from(gitrepo *repo, git_oid start, git_oid **stack, size_t *cap)
{
    const gitrepo_commit_info *tip = gitrepo_commit_get(repo, &start);
    if (tip && tip->indexed)
        return;
    if (!tip) { /* an annotated tag: its commit */
        git_object *obj = NULL, *peeled = NULL;
        if (git_object_lookup(&obj, gitrepo_reader(repo), &start, GIT_OBJECT_ANY) == 0 &&
            git_object_type(obj) == GIT_OBJECT_TAG &&
            git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) == 0)
            start = *git_object_id(peeled);
        git_object_free(peeled);
        git_object_free(obj);
    }
    size_t n = 0;
    (*stack)[n++] = start;
    while (n > 0) {
        git_oid id = (*stack)[--n];
        gitrepo_commit_info *ci = (gitrepo_commit_info *)gitrepo_commit_get(repo, &id);
        if (!ci || ci->indexed)
            continue;
        ci->indexed = 1;
        index_commit(repo, ci);
        if (n + ci->nparents >= *cap) {
            *cap = (n + ci->nparents) * 2;
            *stack = realloc(*stack, *cap * sizeof **stack);
        }
        for (unsigned i = 0; i < ci->nparents; i++)
            (*stack)[n++] = ci->parents[i];
    }
}

void gitrepo_task_index_update(gitrepo *repo)
{
    if (!repo->task_index) {
        repo->task_index = json_object();
        repo->task_index_rescan = 1;
    }
    /* refs change only by a re-read (rescan) or our own pushes (listed in
     * task_index_new): nothing else can have brought new commits */
    if (!repo->task_index_rescan && repo->task_index_nnew == 0)
        return;
    size_t cap = 256;
    git_oid *stack = malloc(cap * sizeof *stack);
    if (repo->task_index_rescan) {
        const gitrepo_ref *refs;
        size_t nrefs = gitrepo_refs_range(repo, "", &refs);
        for (size_t r = 0; r < nrefs; r++)
            index_from(repo, refs[r].oid, &stack, &cap);
        repo->task_index_rescan = 0;
    } else { /* only what our own pushes set since */
        for (size_t i = 0; i < repo->task_index_nnew; i++)
            index_from(repo, repo->task_index_new[i], &stack, &cap);
    }
    repo->task_index_nnew = 0;
    free(stack);
}

int gitrepo_task_index_has(gitrepo *repo, const char *full_path, const char *ws)
{
    char key[4096];
    index_key(full_path, ws, key, sizeof key);
    return repo->task_index && json_object_get(repo->task_index, key) != NULL;
}
