/* gitrepo: Porch's git layer (spec §3.2, §5, §11). A bare mirror per remote
 * URL, discovery of package revisions from refs and `kpt:` commit
 * annotations, reading a revision's files, and the writes of the package
 * lifecycle (draft commits, propose, publish, delete) pushed with
 * compare-and-swap on the old ref values. All libgit2 code of Porch lives here. */
#ifndef PORCH_GITREPO_H
#define PORCH_GITREPO_H

#include <jansson.h>
#include <stddef.h>

#define GITREPO_SHA_HEX 41 /* 40 hex digits + NUL */
#define GITREPO_UID_LEN 37 /* 36 characters + NUL */
#define GITREPO_NAME_MAX 254

/* Committer of every commit, and author when no user is known (§10). */
#define GITREPO_PORCH_NAME "Package Orchestration Service"
#define GITREPO_PORCH_EMAIL "porch@kpt.dev"

/* ---- names, UIDs, revisions (names.c) ---- */

/* 1 when `s` is a DNS-1123 label (lower-case alphanumerics and '-', <= 63). */
int gitrepo_is_dns1123_label(const char *s);
/* 1 when `s` is a DNS-1123 subdomain (labels joined by '.', <= 253). */
int gitrepo_is_dns1123_subdomain(const char *s);

/* `<repo>.<packageName with "/"→".">.<workspace>` into buf; -1 (400) when empty or too long. */
int gitrepo_name_compose(const char *repo, const char *package_name, const char *workspace,
                         char *buf, size_t len);
/* §3.2 validation; -1 with a 422 naming the bad part. */
int gitrepo_name_validate(const char *repo, const char *package_name, const char *workspace);

typedef struct gitrepo_name_parts {
    char repository[GITREPO_NAME_MAX];
    char path[GITREPO_NAME_MAX];    /* "a/b" for r.a.b.pkg.ws, "" when none */
    char package[GITREPO_NAME_MAX]; /* leaf name */
    char workspace[GITREPO_NAME_MAX];
} gitrepo_name_parts;
/* Splits an object name as Porch does (§3.2); -1 (400) when unparseable. */
int gitrepo_name_parse(const char *name, gitrepo_name_parts *out);

/* UUIDv5 of "packagerevision:porch.kpt.dev/v1alpha1/<ns>/<name>" lower-cased. */
void gitrepo_uid(const char *namespace_, const char *name, char out[GITREPO_UID_LEN]);

/* "v3" or "3" → 3; anything that is not an integer → -1 (Porch's Revision2Int). */
int gitrepo_revision_parse(const char *version);

/* The mirror directory name for a URL: "/" and ":" replaced by "-" (§11.1). */
int gitrepo_mirror_dirname(const char *url, char *buf, size_t len);

/* ---- commit annotations (annotation.c) ---- */

/* Every `kpt:{...}` line of a commit message as a new JSON array of objects;
 * unparsable annotations are skipped and counted in *skipped (may be NULL). */
json_t *gitrepo_annotations_parse(const char *message, int *skipped);
/* The first line for a task type (§6.5): init → "Creating new empty revision" ... */
const char *gitrepo_task_message(const char *task_type);
/* A full commit message: "<first>\n[\n]\nkpt:<compact JSON>\n" (§11.4). `draft`
 * adds the extra blank line of draft commits; `task` may be NULL. malloc'd. */
char *gitrepo_commit_message(const char *first_line, int draft, const char *package_path,
                             const char *workspace, const char *revision, const json_t *task);

/* ---- repositories (mirror.c) ---- */

/* One background thread doing a process's file-system chores for its
 * repositories (chores.c): spare files made ahead of writes, dropped ref
 * files unlinked behind them. Optional: without it writes do both inline.
 * Free it after every repository that uses it. */
typedef struct gitrepo_chores gitrepo_chores;
typedef struct gitrepo_spares gitrepo_spares;
int gitrepo_chores_new(gitrepo_chores **out);
void gitrepo_chores_free(gitrepo_chores *c);
/* Waits until nothing is queued and every pool of spares is full (tests). */
void gitrepo_chores_flush(gitrepo_chores *c);

typedef struct gitrepo_config {
    const char *name; /* Repository object name (first part of object names) */
    const char *namespace_;
    const char *url;       /* https://…, file://…, or a local path */
    const char *branch;    /* "main" when NULL or "" */
    const char *directory; /* "", "/" or a path under which packages live */
    int create_branch;     /* push an initial commit when the branch is missing */
    int deployment;        /* copied to status.deployment */
    const char *username;  /* basic auth (with password) */
    const char *password;
    const char *bearer_token; /* sent as "Authorization: Bearer …" */
    const char *cache_dir;    /* mirrors live in <cache_dir>/<dirname(url)> */
    gitrepo_chores *chores;   /* borrowed; NULL: file-system chores inline */
} gitrepo_config;

typedef struct gitrepo gitrepo;

/* Initialises libgit2 for a process (pair with git_libgit2_shutdown) and
 * lets its object cache hold whole trees and small blobs, which discovery
 * reads over and over (libgit2's default caches no tree over 4 KiB, so a
 * directory of 1,000 packages was inflated again for every revision).
 * Objects read are not re-hashed (git does not either). `cache_mb`: the
 * cache's bound in MiB (0: 64). */
int gitrepo_library_init(unsigned cache_mb);

/* Opens (creating if needed) the mirror, fetches, and checks the branch
 * (creating it with createBranch). Errors: 503 unreachable remote, 401 bad or
 * missing credentials, 404 missing branch, 400 bad configuration. */
int gitrepo_open(const gitrepo_config *cfg, gitrepo **out);
void gitrepo_free(gitrepo *repo);
/* Fetches with prune (same errors as open). */
int gitrepo_fetch(gitrepo *repo);
/* Health check without fetching (ls-remote, §13.3): the remote answers and
 * has the branch (unless createBranch). *head receives the remote's branch
 * commit ("" when absent). Same errors as gitrepo_open. */
int gitrepo_check(gitrepo *repo, char head[GITREPO_SHA_HEX]);
/* Borrowed: the mirror's directory. */
const char *gitrepo_mirror_path(const gitrepo *repo);
/* The registered branch's head commit, or "" when the branch does not exist. */
int gitrepo_branch_head(gitrepo *repo, char sha[GITREPO_SHA_HEX]);
/* SHA-256 hex over all ref names and targets of the mirror: changes whenever a ref does. */
int gitrepo_version(gitrepo *repo, char out[65]);

/* ---- discovery (discover.c) ---- */

/* All package revisions (§11.2) as a new JSON array of PackageRevision
 * objects, sorted by leaf package name, revision, lifecycle, name, with
 * kpt.dev/latest-revision computed. Uses the mirror as last fetched. */
int gitrepo_list(gitrepo *repo, json_t **out);
/* One revision by object name (new reference); 404 when absent. */
int gitrepo_find(gitrepo *repo, const char *name, json_t **out);
/* The revisions of one package (packageName, relative to the directory), as
 * gitrepo_list would list them; reads only that package's trees. */
int gitrepo_list_package(gitrepo *repo, const char *package, json_t **out);

/* ---- files (files.c) ---- */

/* Files under `path` (repository-relative, "" = root) of commit `sha`:
 * *resources (new object) maps relative path → UTF-8 text; files that are
 * not valid UTF-8 go to *binary (new object, path → base64) instead. */
int gitrepo_read_files(gitrepo *repo, const char *sha, const char *path, json_t **resources,
                       json_t **binary);

/* One revision by object name: *item (its PackageRevision, new reference)
 * and its files as gitrepo_read_files gives them; any out may be NULL. */
int gitrepo_read_revision(gitrepo *repo, const char *name, json_t **item, json_t **resources,
                          json_t **binary);

/* ---- writes (write.c) ---- */

typedef struct gitrepo_author {
    const char *name; /* NULL: Porch */
    const char *email;
} gitrepo_author;

typedef struct gitrepo_draft_spec {
    const char *package; /* packageName, relative to the directory */
    const char *workspace;
    json_t *resources;   /* borrowed: complete new file set, path → text */
    json_t *binary;      /* borrowed, may be NULL: path → base64; NULL keeps the package's
                          * non-UTF-8 files not named in resources (text-only file sets) */
    json_t *task;        /* borrowed, may be NULL: the task annotated on the commit */
    const char *message; /* first line; NULL: from the task type (§6.5) */
    const char *expect;  /* current draft commit, or NULL/"" to create a new draft */
    int propose;         /* with expect: the commit lands on proposed/<D/path>/<ws> and the
                          * draft branch goes, in the same push (Draft → Proposed) */
    gitrepo_author author;
} gitrepo_draft_spec;

/* Commits the file set on drafts/<D/path>/<ws> (first commit: on the branch
 * head) and pushes it; 409 when the draft moved or already exists (or, when
 * proposing, when the proposed branch exists). */
int gitrepo_write_draft(gitrepo *repo, const gitrepo_draft_spec *spec, char sha[GITREPO_SHA_HEX]);

/* Builds and writes the trees a write_draft of `spec` onto its current
 * draft commit (`expect`, required) would commit, without committing or
 * pushing, and remembers the root tree: the write that follows with the same
 * files skips rebuilding the branch's root (what a propose re-commits after
 * its render was done ahead, spec §3.7). Objects not committed later are
 * unreachable and left to git gc. 409 when the draft is not at `expect`. */
int gitrepo_stage_draft(gitrepo *repo, const gitrepo_draft_spec *spec);

/* Moves a revision (by object name) to `lifecycle` (§3.7, §3.8, §11.5, §11.6):
 * Draft⇄Proposed, Proposed→Published (publish: revision = max + 1, or
 * `revision` when > 0), Published⇄DeletionProposed. `expect` (NULL: don't
 * check) is the resourceVersion the caller saw; a mismatch is 409.
 * *updated (may be NULL) receives the revision as now listed. */
int gitrepo_set_lifecycle(gitrepo *repo, const char *name, const char *lifecycle, int revision,
                          const char *expect, const gitrepo_author *author, json_t **updated);

/* Deletes a revision (§11.7); Published → 403 (propose deletion first). */
int gitrepo_delete(gitrepo *repo, const char *name, const char *expect,
                   const gitrepo_author *author);

#endif
