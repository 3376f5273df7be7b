/* Lifecycle writes (spec §11.3–11.7): draft commits whose tree is the branch
 * tree with the package directory replaced, propose/reject as one push that
 * renames the branch, publish as one two-parent commit pushed with the branch,
 * the tag and the proposed-branch deletion together, deletion proposals and
 * deletes. Every push checks the old ref values, so a racing writer gets 409. */
#include "internal.h"


#include "error/error.h"
#include "log/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REF_MAX 2048
#define PATH_LEN 1024 /* package paths; refs built from them fit REF_MAX */

static int make_signature(const gitrepo_author *a, git_signature **out)
{
    const char *name = a && a->name && *a->name ? a->name : GITREPO_PORCH_NAME;
    const char *email = a && a->email && *a->email ? a->email : GITREPO_PORCH_EMAIL;
    if (git_signature_now(out, name, email) != 0)
        return gitrepo_git_error(400, "bad commit author");
    return 0;
}

/* Appends one signature line as git writes it: "<header> <name> <<email>> <time> <±hhmm>". */
static int signature_line(char *buf, size_t cap, size_t *len, const char *header,
                          const git_signature *sig)
{
    int offset = sig->when.offset;
    char sign = (offset < 0 || sig->when.sign == '-') ? '-' : '+';
    if (offset < 0)
        offset = -offset;
    int n = snprintf(buf + *len, cap - *len, "%s %s <%s> %lld %c%02d%02d\n", header, sig->name,
                     sig->email, (long long)sig->when.time, sign, offset / 60, offset % 60);
    if (n < 0 || (size_t)n >= cap - *len)
        return -1;
    *len += (size_t)n;
    return 0;
}

int gitrepo_commit_buffer(const git_oid *tree, const git_oid *parents, size_t nparents,
                          const git_signature *author, const git_signature *committer,
                          const char *message, char **out, size_t *out_len)
{
    size_t cap = 512 + strlen(author->name) + strlen(author->email) + strlen(committer->name) +
                 strlen(committer->email) + strlen(message) + 48 * nparents, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return porch_error_set(500, "out of memory building a commit");
    len += (size_t)snprintf(buf, cap, "tree %s\n", git_oid_tostr_s(tree));
    for (size_t i = 0; i < nparents; i++)
        len += (size_t)snprintf(buf + len, cap - len, "parent %s\n", git_oid_tostr_s(&parents[i]));
    if (signature_line(buf, cap, &len, "author", author) != 0 ||
        signature_line(buf, cap, &len, "committer", committer) != 0) {
        free(buf);
        return porch_error_set(500, "commit header too long");
    }
    len += (size_t)snprintf(buf + len, cap - len, "\n%s", message);
    *out = buf;
    *out_len = len;
    return 0;
}

/* Creates a commit object (no ref moves) and returns its id as hex. Built
 * here, byte for byte what git_commit_create_from_ids writes, so that it is
 * written like our trees: nothing read back, no rescan of the pack
 * directory for an object that cannot be in a pack yet. */
static int create_commit(gitrepo *repo, const git_oid *tree_id, const git_oid *parents,
                         size_t nparents, const char *message, const gitrepo_author *author,
                         char sha[GITREPO_SHA_HEX])
{
    git_signature *asig = NULL, *csig = NULL;
    char *buf = NULL;
    size_t len = 0;
    git_oid id;
    int rc = make_signature(author, &asig);
    if (rc == 0)
        rc = make_signature(NULL, &csig);
    if (rc == 0)
        rc = gitrepo_commit_buffer(tree_id, parents, nparents, asig, csig, message, &buf, &len);
    if (rc == 0)
        rc = gitrepo_object_put(gitrepo_objects(repo), repo->spares, buf, len, GIT_OBJECT_COMMIT,
                                1, &id);
    if (rc == 0)
        git_oid_tostr(sha, GITREPO_SHA_HEX, &id);
    free(buf);
    git_signature_free(asig);
    git_signature_free(csig);
    return rc;
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* The mirror's value of a remote ref ("" when absent). */
static void remote_ref_value(gitrepo *repo, const char *remote_ref, char sha[GITREPO_SHA_HEX])
{
    char local[REF_MAX];
    gitrepo_local_ref(remote_ref, local, sizeof local);
    sha[0] = 0;
    const git_oid *oid = gitrepo_refs_get(repo, local);
    if (oid)
        git_oid_tostr(sha, GITREPO_SHA_HEX, oid);
}

/* The root tree id of commit `sha` (the commit is read; its tree is not). */
static int commit_root(gitrepo *repo, const char *sha, git_oid *root)
{
    git_oid oid;
    git_commit *c = NULL;
    if (git_oid_fromstr(&oid, sha) != 0)
        return porch_error_set(400, "bad commit id %s", sha);
    if (git_commit_lookup(&c, gitrepo_objects(repo), &oid) != 0)
        return porch_error_set(404, "commit %s not found in the mirror", sha);
    git_oid_cpy(root, git_commit_tree_id(c));
    git_commit_free(c);
    return 0;
}

static char *first_line_for(const gitrepo_draft_spec *spec, char *buf, size_t len)
{
    if (spec->message && *spec->message)
        return (char *)spec->message;
    const char *type = json_string_value(json_object_get(spec->task, "type"));
    const char *m = gitrepo_task_message(type);
    if (m)
        return (char *)m;
    snprintf(buf, len, "Intermediate commit: %s", type);
    return buf;
}

/* The memo key of a draft root: parent commit, package path, package tree. */
static void root_memo_key(const char *parent, const char *full, const git_oid *pkg_tree,
                          git_oid *key)
{
    char buf[GITREPO_SHA_HEX + PATH_LEN + GITREPO_SHA_HEX + 2];
    int n = snprintf(buf, sizeof buf, "%s\n%s\n%s", parent, full, git_oid_tostr_s(pkg_tree));
    git_odb_hash(key, buf, (size_t)n, GIT_OBJECT_BLOB);
}

/* 1 with *root when the memo has key and the root tree is still in the database. */
static int root_memo_find(gitrepo *repo, const git_oid *key, git_oid *root)
{
    for (size_t i = 0; i < GITREPO_ROOT_MEMOS; i++) {
        const gitrepo_root_memo *m = &repo->root_memo[i];
        if (!m->used || !git_oid_equal(&m->key, key))
            continue;
        git_odb *odb = NULL;
        int there = git_repository_odb(&odb, gitrepo_objects(repo)) == 0 &&
                    git_odb_exists_ext(odb, &m->root, GIT_ODB_LOOKUP_NO_REFRESH);
        git_odb_free(odb);
        if (there) {
            git_oid_cpy(root, &m->root);
            repo->root_memo_hits++;
        }
        return there;
    }
    return 0;
}

static void root_memo_put(gitrepo *repo, const git_oid *key, const git_oid *root)
{
    gitrepo_root_memo *m = &repo->root_memo[repo->root_memo_next++ % GITREPO_ROOT_MEMOS];
    git_oid_cpy(&m->key, key);
    git_oid_cpy(&m->root, root);
    m->used = 1;
}

/* The root tree of a draft commit on `parent` whose package `full` holds
 * spec's files: the package tree is built (reusing the old one's blobs) and
 * spliced into the parent's root, unless the memo already has that root. */
static int draft_root(gitrepo *repo, const gitrepo_draft_spec *spec, const char *full,
                      const char *parent, git_oid *root)
{
    git_repository *git = gitrepo_objects(repo);
    git_oid base, pkg_tree, key, old_id;
    git_tree *old_pkg = NULL; /* the package before: its unchanged files are reused */
    int rc = commit_root(repo, parent, &base);
    if (rc == 0) {
        int found = gitrepo_tree_find(git, &repo->roots, &base, full, &old_id);
        if (found < 0)
            rc = -1;
        else if (found)
            git_tree_lookup(&old_pkg, git, &old_id);
    }
    if (rc == 0)
        rc = gitrepo_tree_from_files(gitrepo_objects(repo), repo->spares, old_pkg,
                                     spec->resources, spec->binary, &pkg_tree);
    git_tree_free(old_pkg);
    if (rc == 0) {
        root_memo_key(parent, full, &pkg_tree, &key);
        if (!root_memo_find(repo, &key, root)) {
            rc = gitrepo_tree_replace_at(git, repo->spares, &repo->roots, &base, full, &pkg_tree,
                                         root);
            if (rc == 0)
                root_memo_put(repo, &key, root);
        }
    }
    return rc;
}

/* Checks a write's package, workspace and files, and fills the package's
 * full path and its draft branch. */
static int draft_check(gitrepo *repo, const gitrepo_draft_spec *spec, char full[PATH_LEN],
                       char ref[REF_MAX])
{
    if (gitrepo_name_validate(repo->name, spec->package, spec->workspace) != 0)
        return -1;
    if (!json_is_object(spec->resources) || !json_object_get(spec->resources, "Kptfile"))
        return porch_error_set(400, "package must contain Kptfile at root");
    gitrepo_full_path(repo, spec->package, full, PATH_LEN);
    snprintf(ref, REF_MAX, "refs/heads/drafts/%s/%s", full, spec->workspace);
    return 0;
}

/* Parses what the listing after the propose will read of a staged root —
 * the root, the package's tree and its Kptfile — into the reader's object
 * cache now, off the propose's path. Failures only mean a colder listing. */
static void prime_listing(gitrepo *repo, const git_oid *root_id, const char *full)
{
    git_repository *git = gitrepo_reader(repo);
    git_tree *root = NULL, *pkg = NULL;
    git_tree_entry *e = NULL;
    git_blob *kptfile = NULL;
    if (git_tree_lookup(&root, git, root_id) == 0 && git_tree_entry_bypath(&e, root, full) == 0 &&
        git_tree_lookup(&pkg, git, git_tree_entry_id(e)) == 0) {
        const git_tree_entry *k = git_tree_entry_byname(pkg, "Kptfile");
        if (k && git_blob_lookup(&kptfile, git, git_tree_entry_id(k)) == 0)
            git_blob_free(kptfile);
    }
    git_tree_free(pkg);
    git_tree_entry_free(e);
    git_tree_free(root);
    git_error_clear();
}

int gitrepo_stage_draft(gitrepo *repo, const gitrepo_draft_spec *spec)
{
    char full[PATH_LEN], ref[REF_MAX], cur[GITREPO_SHA_HEX];
    if (draft_check(repo, spec, full, ref) != 0)
        return -1;
    if (!spec->expect || !*spec->expect)
        return porch_error_set(400, "staging needs the draft's current commit (expect)");
    remote_ref_value(repo, ref, cur);
    if (strcmp(cur, spec->expect) != 0)
        return porch_error_set(409, "draft %s/%s is at %.12s, not %.12s: nothing staged",
                               spec->package, spec->workspace, cur[0] ? cur : "(absent)",
                               spec->expect);
    git_oid root;
    int rc = draft_root(repo, spec, full, cur, &root);
    if (rc == 0)
        prime_listing(repo, &root, full);
    return rc;
}

int gitrepo_write_draft(gitrepo *repo, const gitrepo_draft_spec *spec, char sha[GITREPO_SHA_HEX])
{
    sha[0] = 0;
    int rc;
    char full[PATH_LEN], ref[REF_MAX], cur[GITREPO_SHA_HEX], parent[GITREPO_SHA_HEX];
    if (draft_check(repo, spec, full, ref) != 0)
        return -1;
    /* No fetch first: the mirror is as of our last push or fetch, and the
     * push's compare-and-swap refuses (409, then fetches) when the remote moved. */
    remote_ref_value(repo, ref, cur);
    int creating = !spec->expect || !*spec->expect;
    if (creating && spec->propose)
        return porch_error_set(400, "a new draft cannot be proposed in the same write");
    if (creating ? cur[0] != 0 : strcmp(cur, spec->expect) != 0) {
        /* the mirror disagrees with the caller: it may be behind, fetch once */
        rc = gitrepo_fetch(repo);
        if (rc != 0)
            return rc;
        remote_ref_value(repo, ref, cur);
    }
    if (creating) {
        if (cur[0])
            return porch_error_set_reason(409, "AlreadyExists",
                                          "draft %s/%s already exists (branch drafts/%s/%s)",
                                          spec->package, spec->workspace, full, spec->workspace);
        gitrepo_branch_head(repo, parent);
        if (!parent[0])
            return porch_error_set(404, "branch \"%s\" doesn't exist", repo->branch);
    } else {
        if (strcmp(cur, spec->expect) != 0)
            return porch_error_set(409,
                                   "the object has been modified; draft %s/%s is at %.12s, "
                                   "expected %.12s; please apply your changes to the latest "
                                   "version and try again",
                                   spec->package, spec->workspace, cur[0] ? cur : "(deleted)",
                                   spec->expect);
        snprintf(parent, sizeof parent, "%s", cur);
    }
    struct timespec t_start, t_tree, t_commit;
    clock_gettime(CLOCK_MONOTONIC, &t_start);
    git_oid root, parent_oid;
    unsigned long hits = repo->root_memo_hits;
    rc = draft_root(repo, spec, full, parent, &root);
    if (rc != 0)
        return rc;
    int staged = repo->root_memo_hits != hits;
    clock_gettime(CLOCK_MONOTONIC, &t_tree);
    char buf[256];
    char *msg = gitrepo_commit_message(first_line_for(spec, buf, sizeof buf), 1, full,
                                       spec->workspace, "0", spec->task);
    git_oid_fromstr(&parent_oid, parent);
    char newsha[GITREPO_SHA_HEX];
    rc = create_commit(repo, &root, &parent_oid, 1, msg, &spec->author, newsha);
    free(msg);
    if (rc != 0)
        return rc;
    char proposed[REF_MAX];
    snprintf(proposed, sizeof proposed, "refs/heads/proposed/%s/%s", full, spec->workspace);
    gitrepo_refupdate ups[2] = {{ref, cur[0] ? cur : NULL, newsha}};
    if (spec->propose) {
        ups[0] = (gitrepo_refupdate){proposed, NULL, newsha};
        ups[1] = (gitrepo_refupdate){ref, cur, NULL};
    }
    clock_gettime(CLOCK_MONOTONIC, &t_commit);
    rc = gitrepo_push(repo, ups, spec->propose ? 2 : 1);
    if (rc == 0)
        snprintf(sha, GITREPO_SHA_HEX, "%s", newsha);
    log_debug("draft written", "staged", json_boolean(staged), "tree_ms",
              json_real(ms_between(&t_start, &t_tree)), "commit_ms",
              json_real(ms_between(&t_tree, &t_commit)), "push_ms", log_ms_since(&t_commit));
    return rc;
}

/* What the lifecycle operations need to know about a listed revision. */
typedef struct target {
    json_t *item;
    const char *package, *workspace, *lifecycle, *sha, *ref_short;
    int revision;
    char full[PATH_LEN];
} target;

static const char *revision_sha(json_t *item)
{
    const char *sha =
        json_string_value(json_object_get(json_object_get(item, "metadata"), "resourceVersion"));
    return sha ? sha : "";
}

static int load_target(gitrepo *repo, const char *name, const char *expect, target *t)
{
    memset(t, 0, sizeof *t);
    int rc = gitrepo_find(repo, name, &t->item);
    /* the mirror may be behind the caller (another adapter replica wrote, or
     * someone pushed): when it does not show what the caller saw, fetch once */
    if ((rc != 0 && porch_error_last()->code == 404) ||
        (rc == 0 && expect && *expect && strcmp(expect, revision_sha(t->item)) != 0)) {
        json_decref(t->item);
        t->item = NULL;
        rc = gitrepo_fetch(repo);
        if (rc == 0)
            rc = gitrepo_find(repo, name, &t->item);
    }
    if (rc != 0)
        return rc;
    json_t *spec = json_object_get(t->item, "spec");
    t->package = json_string_value(json_object_get(spec, "packageName"));
    t->workspace = json_string_value(json_object_get(spec, "workspaceName"));
    t->lifecycle = json_string_value(json_object_get(spec, "lifecycle"));
    t->revision = (int)json_integer_value(json_object_get(spec, "revision"));
    t->sha =
        json_string_value(json_object_get(json_object_get(t->item, "metadata"), "resourceVersion"));
    t->ref_short = json_string_value(json_object_get(
        json_object_get(json_object_get(json_object_get(t->item, "status"), "selfLock"), "git"),
        "ref"));
    gitrepo_full_path(repo, t->package, t->full, sizeof t->full);
    if (expect && *expect && strcmp(expect, t->sha) != 0) {
        json_decref(t->item);
        t->item = NULL;
        return porch_error_set(409,
                               "Operation cannot be fulfilled on packagerevisions.porch.kpt.dev "
                               "\"%s\": the object has been modified; please apply your "
                               "changes to the latest version and try again",
                               name);
    }
    return 0;
}

static void deletion_proposed_ref(const target *t, char *buf, size_t len)
{
    if (t->revision > 0)
        snprintf(buf, len, "refs/heads/deletionProposed/%s/v%d", t->full, t->revision);
    else
        snprintf(buf, len, "refs/heads/deletionProposed/%s/%s", t->full, t->workspace);
}

/* 1 + the highest vN tag of the package (freed numbers are reused, §5). */
static int next_revision(gitrepo *repo, const char *full)
{
    char prefix[REF_MAX];
    snprintf(prefix, sizeof prefix, "refs/tags/%s/v", full);
    const gitrepo_ref *first;
    size_t n = gitrepo_refs_range(repo, prefix, &first);
    size_t plen = strlen(prefix) - 1; /* keep the 'v' */
    int max = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = first[i].name + plen;
        int rev = strchr(v, '/') ? -1 : gitrepo_revision_parse(v);
        if (rev > max)
            max = rev;
    }
    return max + 1;
}

static int publish(gitrepo *repo, const target *t, int revision, const gitrepo_author *author)
{
    char head[GITREPO_SHA_HEX], branch_ref[REF_MAX], tag_ref[REF_MAX], proposed_ref[REF_MAX];
    gitrepo_branch_head(repo, head);
    if (!head[0])
        return porch_error_set(404, "branch \"%s\" doesn't exist", repo->branch);
    int n = revision > 0 ? revision : next_revision(repo, t->full);
    snprintf(branch_ref, sizeof branch_ref, "refs/heads/%s", repo->branch);
    snprintf(tag_ref, sizeof tag_ref, "refs/tags/%s/v%d", t->full, n);
    snprintf(proposed_ref, sizeof proposed_ref, "refs/heads/proposed/%s/%s", t->full, t->workspace);
    git_repository *git = gitrepo_objects(repo);
    git_oid parents[2], root, draft_root_id, pkg, base;
    git_oid_fromstr(&parents[0], head);
    git_oid_fromstr(&parents[1], t->sha);
    int rc = commit_root(repo, t->sha, &draft_root_id);
    if (rc == 0) {
        int found = gitrepo_tree_find(git, &repo->roots, &draft_root_id, t->full, &pkg);
        if (found == 0)
            rc = porch_error_set(404, "directory %s not found in commit %.12s", t->full, t->sha);
        else if (found < 0)
            rc = -1;
    }
    if (rc == 0)
        rc = commit_root(repo, head, &base);
    if (rc == 0)
        rc = gitrepo_tree_replace_at(git, repo->spares, &repo->roots, &base, t->full, &pkg, &root);
    if (rc != 0)
        return rc;
    char first[REF_MAX + 64], rev[16], sha[GITREPO_SHA_HEX];
    snprintf(first, sizeof first, "Approving package revision %s/%d", t->full, n);
    snprintf(rev, sizeof rev, "%d", n);
    char *msg = gitrepo_commit_message(first, 0, t->full, t->workspace, rev, NULL);
    rc = create_commit(repo, &root, parents, 2, msg, author, sha);
    free(msg);
    if (rc != 0)
        return rc;
    gitrepo_refupdate ups[3] = {
        {branch_ref, head, sha},
        {tag_ref, NULL, sha},
        {proposed_ref, t->sha, NULL},
    };
    return gitrepo_push(repo, ups, 3);
}

static int set_lifecycle_once(gitrepo *repo, const char *name, const char *lifecycle, int revision,
                              const char *expect, const gitrepo_author *author, json_t **updated,
                              int *branch_write)
{
    target t;
    int rc = load_target(repo, name, expect, &t);
    if (rc != 0)
        return rc;
    const char *from = t.lifecycle;
    char a[REF_MAX], b[REF_MAX];
    if (strcmp(from, lifecycle) == 0) {
        rc = 0;
    } else if (strcmp(from, "Draft") == 0 && strcmp(lifecycle, "Proposed") == 0) {
        snprintf(a, sizeof a, "refs/heads/proposed/%s/%s", t.full, t.workspace);
        snprintf(b, sizeof b, "refs/heads/drafts/%s/%s", t.full, t.workspace);
        gitrepo_refupdate ups[2] = {{a, NULL, t.sha}, {b, t.sha, NULL}};
        rc = gitrepo_push(repo, ups, 2);
    } else if (strcmp(from, "Proposed") == 0 && strcmp(lifecycle, "Draft") == 0) {
        snprintf(a, sizeof a, "refs/heads/drafts/%s/%s", t.full, t.workspace);
        snprintf(b, sizeof b, "refs/heads/proposed/%s/%s", t.full, t.workspace);
        gitrepo_refupdate ups[2] = {{a, NULL, t.sha}, {b, t.sha, NULL}};
        rc = gitrepo_push(repo, ups, 2);
    } else if (strcmp(from, "Proposed") == 0 && strcmp(lifecycle, "Published") == 0) {
        *branch_write = 1;
        rc = publish(repo, &t, revision, author);
    } else if (strcmp(from, "Published") == 0 && strcmp(lifecycle, "DeletionProposed") == 0) {
        deletion_proposed_ref(&t, a, sizeof a);
        gitrepo_refupdate up = {a, NULL, t.sha};
        rc = gitrepo_push(repo, &up, 1);
    } else if (strcmp(from, "DeletionProposed") == 0 && strcmp(lifecycle, "Published") == 0) {
        deletion_proposed_ref(&t, a, sizeof a);
        gitrepo_refupdate up = {a, "*", NULL};
        rc = gitrepo_push(repo, &up, 1);
    } else {
        rc = porch_error_set(422, "cannot change the lifecycle of %s from %s to %s", name, from,
                             lifecycle);
    }
    json_decref(t.item);
    if (rc == 0 && updated)
        rc = gitrepo_find(repo, name, updated);
    return rc;
}

/* Commit "Delete <path>" on the branch (nothing when the package is already gone). */
static int delete_from_branch(gitrepo *repo, const target *t, const gitrepo_author *author,
                              gitrepo_refupdate *up, char branch_ref[REF_MAX],
                              char head[GITREPO_SHA_HEX], char sha[GITREPO_SHA_HEX])
{
    gitrepo_branch_head(repo, head);
    sha[0] = 0;
    if (!head[0])
        return 0;
    git_repository *git = gitrepo_objects(repo);
    git_oid head_oid, root, base, pkg;
    git_oid_fromstr(&head_oid, head);
    int rc = commit_root(repo, head, &base);
    int found = rc == 0 ? gitrepo_tree_find(git, &repo->roots, &base, t->full, &pkg) : -1;
    if (found <= 0) {
        porch_error_clear();
        return 0; /* absent: skip the commit */
    }
    rc = gitrepo_tree_replace_at(git, repo->spares, &repo->roots, &base, t->full, NULL, &root);
    char msg[REF_MAX + 16];
    snprintf(msg, sizeof msg, "Delete %s", t->full);
    if (rc == 0)
        rc = create_commit(repo, &root, &head_oid, 1, msg, author, sha);
    if (rc == 0) {
        snprintf(branch_ref, REF_MAX, "refs/heads/%s", repo->branch);
        *up = (gitrepo_refupdate){branch_ref, head, sha};
    }
    return rc;
}

static int delete_once(gitrepo *repo, const char *name, const char *expect,
                       const gitrepo_author *author, int *branch_write)
{
    target t;
    int rc = load_target(repo, name, expect, &t);
    if (rc != 0)
        return rc;
    char a[REF_MAX], b[REF_MAX], head[GITREPO_SHA_HEX], sha[GITREPO_SHA_HEX];
    gitrepo_refupdate ups[2];
    size_t n = 0;
    if (strcmp(t.lifecycle, "Published") == 0) {
        rc = porch_error_set(403,
                             "packagerevisions.porch.kpt.dev \"%s\" is forbidden: published "
                             "PackageRevisions must be proposed for deletion by setting "
                             "spec.lifecycle to 'DeletionProposed' prior to deletion",
                             name);
    } else if (strcmp(t.lifecycle, "Draft") == 0 || strcmp(t.lifecycle, "Proposed") == 0) {
        snprintf(a, sizeof a, "refs/heads/%s", t.ref_short);
        ups[n++] = (gitrepo_refupdate){a, t.sha, NULL};
    } else if (strcmp(t.ref_short, repo->branch) == 0) {
        /* the placeholder: remove the package from the branch */
        *branch_write = 1;
        rc = delete_from_branch(repo, &t, author, &ups[n], b, head, sha);
        if (rc == 0 && sha[0])
            n++;
        deletion_proposed_ref(&t, a, sizeof a);
        ups[n++] = (gitrepo_refupdate){a, "*", NULL};
    } else {
        snprintf(b, sizeof b, "refs/tags/%s", t.ref_short);
        ups[n++] = (gitrepo_refupdate){b, "*", NULL};
        deletion_proposed_ref(&t, a, sizeof a);
        ups[n++] = (gitrepo_refupdate){a, "*", NULL};
    }
    if (rc == 0)
        rc = gitrepo_push(repo, ups, n);
    json_decref(t.item);
    return rc;
}

/* Writes that commit on the branch race with every other writer of the
 * branch; like Porch (§10, 3 attempts there) they re-fetch and retry when the push
 * was refused because a ref moved. Other conflicts go straight back (409). */
#define BRANCH_ATTEMPTS 5

static int retry_conflict(int rc, int branch_write, int attempt)
{
    if (rc == 0 || !branch_write || attempt + 1 >= BRANCH_ATTEMPTS ||
        porch_error_last()->code != 409)
        return 0;
    log_info("branch moved under a write; retrying on the fetched mirror", "attempt",
             json_integer(attempt + 1));
    /* jittered backoff so two writers that collided do not collide again */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    unsigned jitter = (unsigned)(now.tv_nsec / 1000) % 50000u;
    usleep((useconds_t)(30000u * (unsigned)(attempt + 1) + jitter));
    return 1;
}

int gitrepo_set_lifecycle(gitrepo *repo, const char *name, const char *lifecycle, int revision,
                          const char *expect, const gitrepo_author *author, json_t **updated)
{
    if (updated)
        *updated = NULL;
    int rc;
    for (int attempt = 0;; attempt++) {
        int branch_write = 0;
        rc = set_lifecycle_once(repo, name, lifecycle, revision, expect, author, updated,
                                &branch_write);
        if (!retry_conflict(rc, branch_write, attempt))
            break;
    }
    return rc;
}

int gitrepo_delete(gitrepo *repo, const char *name, const char *expect,
                   const gitrepo_author *author)
{
    int rc;
    for (int attempt = 0;; attempt++) {
        int branch_write = 0;
        rc = delete_once(repo, name, expect, author, &branch_write);
        if (!retry_conflict(rc, branch_write, attempt))
            break;
    }
    return rc;
}
