/* Internals shared by the gitrepo sources: the repository handle, libgit2
 * error translation, remote-ref naming and the compare-and-swap push. Not
 * part of the public API (gitrepo.h). */
#ifndef PORCH_GITREPO_INTERNAL_H
#define PORCH_GITREPO_INTERNAL_H

#include "gitrepo/gitrepo.h"

#include <git2.h>

/* What discovery needs from a commit, cached per repository (commits.c). */
typedef struct gitrepo_commit_info {
    git_oid id;
    git_time_t time; /* committer time: the walk order */
    git_time_t author_time;
    char *author_email;  /* NULL when empty */
    json_t *annotations; /* array of parsed kpt: annotations */
    unsigned nparents;
    git_oid *parents;
    unsigned mark;    /* walk bookkeeping */
    unsigned indexed; /* its task annotations are in the repository's task index */
} gitrepo_commit_info;

typedef struct gitrepo_commit_cache gitrepo_commit_cache;

/* Root trees kept raw in memory, the last few a repository wrote (splice.c). */
typedef struct gitrepo_raw_tree {
    git_oid id;
    char *data; /* malloc'd; NULL: empty slot */
    size_t size;
} gitrepo_raw_tree;
#define GITREPO_RAW_TREES 4
typedef struct gitrepo_raw_cache {
    gitrepo_raw_tree slot[GITREPO_RAW_TREES];
    unsigned next;
} gitrepo_raw_cache;
void gitrepo_raw_cache_clear(gitrepo_raw_cache *c);

/* A local remote's packed-refs as last read, with the stat that says it is current (refwrite.c). */
typedef struct gitrepo_packed_cache {
    char *data;
    size_t len;
    unsigned long long dev, ino;
    long long size, mtime_sec;
    long mtime_nsec;
} gitrepo_packed_cache;
void gitrepo_packed_cache_clear(gitrepo_packed_cache *pc);

/* A draft root tree remembered by what it was built from (write.c). */
typedef struct gitrepo_root_memo {
    git_oid key;  /* hash of the parent commit, the package path and the package tree */
    git_oid root; /* the root tree a draft commit on that parent gets */
    int used;
} gitrepo_root_memo;
#define GITREPO_ROOT_MEMOS 16

/* The mirror's refs in memory, sorted by name (refs.c). */
typedef struct gitrepo_ref {
    char *name; /* full mirror name: refs/remotes/origin/…, refs/tags/… */
    git_oid oid;
} gitrepo_ref;

typedef struct gitrepo_refs {
    gitrepo_ref *v;
    size_t n, cap;
    int loaded;
    int digest_valid;
    char digest[65];
} gitrepo_refs;

struct gitrepo {
    char *name, *namespace_, *url, *branch, *dir; /* dir: directory without '/' at ends */
    char *username, *password, *bearer;
    char *mirror_path;
    char *trash_dir;         /* local remotes: dropped ref files go here (chores.c) */
    gitrepo_chores *chores;  /* borrowed from the config; may be NULL */
    gitrepo_spares *spares;  /* local remotes on the mirror's file system */
    char *remote_path; /* local remotes only: the path libgit2 opens directly */
    int deployment;
    int create_branch;
    git_repository *git;
    gitrepo_commit_cache *commits; /* created on first use */
    int packed_once;               /* the mirror's refs were packed by this handle */
    unsigned loose_mirror;         /* loose refs written to the mirror since the last pack */
    unsigned loose_remote;         /* ... and to a local remote */
    unsigned remote_deletes;       /* ref deletions in a local remote since its last prune */
    gitrepo_refs refs;             /* the mirror's refs, loaded on first use */
    git_repository *remote_git;    /* local remotes: kept open between pushes */
    json_t *task_index;            /* "<package>\n<workspace>" of every task annotation seen */
    git_oid *task_index_new;       /* ref targets set since (by our pushes), to index next */
    size_t task_index_nnew, task_index_capnew;
    int task_index_rescan; /* the refs were re-read: look at every target */
    int fanout_made;       /* the remote's objects/xx directories exist */
    gitrepo_root_memo root_memo[GITREPO_ROOT_MEMOS]; /* recent draft roots (a ring) */
    unsigned root_memo_next;
    unsigned long root_memo_hits; /* writes whose root tree was found staged */
    gitrepo_raw_cache roots;      /* root trees written last, raw */
    gitrepo_packed_cache remote_packed; /* local remotes: their packed-refs */
    int borrows_objects;          /* local remote linked through objects/info/alternates:
                                     refs live in memory only, objects in the remote */
};

/* (Re)reads the refs into repo->refs: from the mirror, or for a local remote
 * whose objects the mirror borrows, from the remote itself (mirror.c). */
int gitrepo_refs_load(gitrepo *repo);
/* Replaces repo->refs with the refs of `src`: its mirrored refs, or with
 * `from_remote` its branches and tags under the mirror's names. */
int gitrepo_refs_read(gitrepo *repo, git_repository *src, int from_remote);
/* Where new objects go: the local remote itself when the mirror borrows its
 * objects (a push then has nothing to copy), else the mirror. */
git_repository *gitrepo_objects(gitrepo *repo);
/* The handle reads go through: the local remote's own when its objects are
 * borrowed and it is open (the handle writes use, so what a write or a
 * staging just parsed is in the same object cache), else the mirror's. No
 * side effects: it opens nothing and leaves the error slot alone. */
git_repository *gitrepo_reader(gitrepo *repo);
void gitrepo_refs_clear(gitrepo_refs *refs);
/* The target of a mirror ref (borrowed until the next change), or NULL. */
const git_oid *gitrepo_refs_get(gitrepo *repo, const char *name);
/* Records a mirror ref's new target; oid NULL removes it. Memory only. */
void gitrepo_refs_set(gitrepo *repo, const char *name, const git_oid *oid);
/* The refs whose names start with `prefix`: count, and *first (borrowed). */
size_t gitrepo_refs_range(gitrepo *repo, const char *prefix, const gitrepo_ref **first);
/* SHA-256 hex over all names and targets; cached until a ref changes. */
const char *gitrepo_refs_digest(gitrepo *repo);

/* The cached info of a commit (borrowed, lives as long as the repository), or NULL. */
const gitrepo_commit_info *gitrepo_commit_get(gitrepo *repo, const git_oid *id);
void gitrepo_commit_cache_free(gitrepo_commit_cache *cache);
/* Visits `start` and its ancestors newest-first by committer time; fn returns 1 to stop. */
typedef int (*gitrepo_walk_fn)(const gitrepo_commit_info *c, void *payload);
void gitrepo_walk(gitrepo *repo, const git_oid *start, gitrepo_walk_fn fn, void *payload);
/* Adds the task annotations of every commit reachable from the refs and not
 * indexed yet (so each commit is read once per handle) to repo->task_index. */
void gitrepo_task_index_update(gitrepo *repo);
/* 0 when no commit ever seen carries a task for `full_path` and workspace
 * `ws` (matched like Porch's loadTasks: workspaceName, or revision when the
 * annotation has no workspaceName): then the history walk can be skipped. */
int gitrepo_task_index_has(gitrepo *repo, const char *full_path, const char *ws);

/* One ref update of a push: `old` NULL = must not exist, "*" = don't check;
 * `new_` NULL = delete. Ref names are the remote's full names. */
/* What a write uses to keep inode work off its path (chores.c); any may be NULL. */
typedef struct gitrepo_fs_aid {
    gitrepo_chores *chores;
    gitrepo_spares *spares;
    const char *trash_dir;
} gitrepo_fs_aid;

typedef struct gitrepo_refupdate {
    const char *ref;
    const char *old;
    const char *new_;
} gitrepo_refupdate;

/* 0 when ref update u may apply to a ref whose value is `current` ("" absent), else 409. */
int gitrepo_check_old(const gitrepo_refupdate *u, const char *current);
/* A local remote's ref updates, written as git's files backend does (refwrite.c):
 * *handled 0 means declined (a packed ref to delete, a symbolic ref, an odd
 * name) and nothing was changed — use libgit2's transaction. */
int gitrepo_refs_write_local(git_repository *remote, gitrepo_packed_cache *packed,
                             const gitrepo_fs_aid *aid, const gitrepo_refupdate *ups, size_t n,
                             int *handled);

/* Background file-system chores (chores.c; gitrepo_chores_new/_free/_flush
 * are public). discard moves `path` into trash_dir, keep links it there (so
 * a rename over it frees no inode); either way the trash copy is unlinked
 * by the chores thread. 0 done, -1 not done (no chores, another file
 * system, a full queue): the caller unlinks, or renames over, itself. */
int gitrepo_chores_discard(gitrepo_chores *c, const char *trash_dir, const char *path);
int gitrepo_chores_keep(gitrepo_chores *c, const char *trash_dir, const char *path);
/* Unlinks every file in dir (what a crashed process left). */
void gitrepo_chores_sweep(const char *dir);
/* A pool of spare empty files (mode 0644), in a directory of its own under
 * parent, kept filled by the chores thread; NULL when parent is not on
 * target_dir's file system. Pools of dead processes are swept. */
gitrepo_spares *gitrepo_spares_new(gitrepo_chores *c, const char *parent, const char *target_dir);
void gitrepo_spares_free(gitrepo_spares *s);
/* A spare's path (now the caller's to rename or link away): 0, or -1 when
 * none is ready (s may be NULL). untake hands back one taken but unused. */
int gitrepo_spares_take(gitrepo_spares *s, char *path, size_t len, unsigned long *serial);
void gitrepo_spares_untake(gitrepo_spares *s, unsigned long serial);
/* A spare empty directory's path (to rename into place): 0, or -1 when none. */
int gitrepo_spares_take_dir(gitrepo_spares *s, char *path, size_t len);
/* Adopts an empty file (a ref lock no longer needed) as a spare. */
void gitrepo_spares_give(gitrepo_spares *s, const char *path);
/* Pushes all updates in one go, each checked against its `old` value; 409 on a mismatch. */
int gitrepo_push(gitrepo *repo, const gitrepo_refupdate *updates, size_t n);

/* The mirror's name for a remote ref: refs/heads/x → refs/remotes/origin/x; tags unchanged. */
void gitrepo_local_ref(const char *remote_ref, char *buf, size_t len);
/* Turns the last libgit2 error into the error slot with `code`; returns -1. */
int gitrepo_git_error(int code, const char *what);
/* Full package path: "<dir>/<package>" or "<package>". */
void gitrepo_full_path(const gitrepo *repo, const char *package, char *buf, size_t len);
/* Git's order of tree entries: by name, a directory's read as if it ended in '/' (files.c). */
int gitrepo_entry_cmp(const char *a, size_t alen, int adir, const char *b, size_t blen, int bdir);
/* Replaces (or with new_tree NULL removes) the directory `path` in tree
 * `base` (may be NULL) by splicing raw trees (splice.c); `cache` (may be
 * NULL) supplies and keeps root trees' bytes. */
int gitrepo_tree_replace_at(git_repository *git, gitrepo_spares *spares, gitrepo_raw_cache *cache,
                            const git_oid *base, const char *path, const git_oid *new_tree,
                            git_oid *out);
/* The directory `path` of tree `root`: 1 with *out, 0 when absent (or a file), -1 on error. */
int gitrepo_tree_find(git_repository *git, gitrepo_raw_cache *cache, const git_oid *root,
                      const char *path, git_oid *out);
/* Writes an object (out: its id) unless it is there already, which is then
 * only freshened (libgit2's write, for git gc). A new one goes straight to a
 * loose file, without the rescan of the pack directory git_odb_write makes
 * for every object it does not find: with `stored`, as a zlib stream of
 * stored (uncompressed) blocks — for trees of ids that deflate barely
 * shrinks, and commits; so too a blob up to 64 KiB when `spares` (may be
 * NULL) supplies the file — else through libgit2's loose backend (loose.c). */
int gitrepo_object_put(git_repository *git, gitrepo_spares *spares, const void *data,
                       size_t len, git_object_t type, int stored, git_oid *out);
/* A zlib stream of stored deflate blocks for in[0..n): out must hold
 * gitrepo_zlib_stored_size(n) bytes; returns the bytes written. */
size_t gitrepo_zlib_stored_size(size_t n);
size_t gitrepo_zlib_stored(const unsigned char *in, size_t n, unsigned char *out);
/* A commit object's content as git writes it (tree, parents, author,
 * committer, blank line, message): malloc'd into *out (write.c). */
int gitrepo_commit_buffer(const git_oid *tree, const git_oid *parents, size_t nparents,
                          const git_signature *author, const git_signature *committer,
                          const char *message, char **out, size_t *out_len);
/* Builds a tree from a file set (resources: path → text, binary: path → base64).
 * A file whose content is already at its path in `old` (the package's tree
 * before; may be NULL) reuses that blob: nothing is written for it. With
 * binary NULL, old's non-UTF-8 files that resources does not name are kept
 * (text-only file sets cannot carry them); with binary given, only its files. */
int gitrepo_tree_from_files(git_repository *git, gitrepo_spares *spares, const git_tree *old,
                            json_t *resources, json_t *binary, git_oid *out);
/* The tree of directory `path` in commit `commit` (new object), or 404. */
/* Fills spec.packageMetadata/readinessGates and status.conditions/upstreamLock
 * from a package's Kptfile, given by its blob id (kptfile.c). */
int gitrepo_kptfile_fields(gitrepo *repo, const git_oid *kptfile, json_t *spec, json_t *status);
int gitrepo_commit_subtree(git_repository *git, const git_oid *commit, const char *path,
                           git_tree **out);

#endif
