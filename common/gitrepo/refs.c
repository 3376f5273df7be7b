/* The mirror's refs held in memory: a sorted array of (name, target) for the
 * mirrored refs (refs/remotes/origin/…, refs/tags/…), loaded once per handle,
 * kept current by fetches and by our own pushes. Discovery, writes and the
 * version digest read it instead of scanning the refdb (thousands of stat
 * and open calls per operation on a large repository). */
#include "internal.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_mirrored_name(const char *name)
{
    return strncmp(name, "refs/remotes/origin/", 20) == 0 || strncmp(name, "refs/tags/", 10) == 0;
}

/* Index of the first entry >= name. */
static size_t lower_bound(const gitrepo_refs *r, const char *name)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(r->v[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int cmp_ref(const void *a, const void *b)
{
    return strcmp(((const gitrepo_ref *)a)->name, ((const gitrepo_ref *)b)->name);
}

void gitrepo_refs_clear(gitrepo_refs *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].name);
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* Room for one more entry. */
static void reserve(gitrepo_refs *r)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
    }
}

static void append(gitrepo_refs *r, const char *name, const git_oid *oid)
{
    reserve(r);
    r->v[r->n].name = strdup(name);
    r->v[r->n].oid = *oid;
    r->n++;
}

int gitrepo_refs_read(gitrepo *repo, git_repository *src, int from_remote)
{
    gitrepo_refs *r = &repo->refs;
    gitrepo_refs_clear(r);
    git_reference_iterator *it = NULL;
    if (git_reference_iterator_new(&it, src) != 0)
        return gitrepo_git_error(from_remote ? 503 : 500, "cannot list the repository's refs");
    git_reference *ref;
    char local[2048];
    while (git_reference_next(&ref, it) == 0) {
        const char *name = git_reference_name(ref);
        if (git_reference_type(ref) == GIT_REFERENCE_DIRECT) {
            if (!from_remote && is_mirrored_name(name)) {
                append(r, name, git_reference_target(ref));
            } else if (from_remote && (strncmp(name, "refs/heads/", 11) == 0 ||
                                       strncmp(name, "refs/tags/", 10) == 0)) {
                gitrepo_local_ref(name, local, sizeof local);
                append(r, local, git_reference_target(ref));
            }
        }
        git_reference_free(ref);
    }
    git_reference_iterator_free(it);
    if (r->n > 1)
        qsort(r->v, r->n, sizeof *r->v, cmp_ref);
    r->loaded = 1;
    repo->task_index_rescan = 1;
    return 0;
}

static gitrepo_refs *ready(gitrepo *repo)
{
    if (!repo->refs.loaded)
        gitrepo_refs_load(repo);
    return &repo->refs;
}

const git_oid *gitrepo_refs_get(gitrepo *repo, const char *name)
{
    gitrepo_refs *r = ready(repo);
    size_t i = lower_bound(r, name);
    return i < r->n && strcmp(r->v[i].name, name) == 0 ? &r->v[i].oid : NULL;
}

void gitrepo_refs_set(gitrepo *repo, const char *name, const git_oid *oid)
{
    gitrepo_refs *r = ready(repo);
    size_t i = lower_bound(r, name);
    int found = i < r->n && strcmp(r->v[i].name, name) == 0;
    r->digest_valid = 0;
    if (oid) { /* the task index looks at this target on its next update */
        if (repo->task_index_nnew == repo->task_index_capnew) {
            repo->task_index_capnew = repo->task_index_capnew ? repo->task_index_capnew * 2 : 16;
            repo->task_index_new = realloc(repo->task_index_new,
                                           repo->task_index_capnew * sizeof *repo->task_index_new);
        }
        repo->task_index_new[repo->task_index_nnew++] = *oid;
    }
    if (found && oid) {
        r->v[i].oid = *oid;
    } else if (found) {
        free(r->v[i].name);
        memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof *r->v);
        r->n--;
    } else if (oid) {
        reserve(r);
        memmove(&r->v[i + 1], &r->v[i], (r->n - i) * sizeof *r->v);
        r->v[i].name = strdup(name);
        r->v[i].oid = *oid;
        r->n++;
    }
}

size_t gitrepo_refs_range(gitrepo *repo, const char *prefix, const gitrepo_ref **first)
{
    gitrepo_refs *r = ready(repo);
    size_t i = lower_bound(r, prefix), len = strlen(prefix), j = i;
    while (j < r->n && strncmp(r->v[j].name, prefix, len) == 0)
        j++;
    *first = r->v + i;
    return j - i;
}

const char *gitrepo_refs_digest(gitrepo *repo)
{
    gitrepo_refs *r = ready(repo);
    if (r->digest_valid)
        return r->digest;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; i < r->n; i++) {
        EVP_DigestUpdate(ctx, r->v[i].name, strlen(r->v[i].name) + 1);
        EVP_DigestUpdate(ctx, r->v[i].oid.id, sizeof r->v[i].oid.id);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < 32; i++)
        snprintf(r->digest + 2 * i, 3, "%02x", md[i]);
    r->digest_valid = 1;
    return r->digest;
}
