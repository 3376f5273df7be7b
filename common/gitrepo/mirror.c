/* Mirrors (spec §11.1): a bare repository per remote URL under the cache
 * directory with Porch's refspecs, fetched with prune; credentials (basic auth
 * through the credential callback, bearer tokens as an Authorization header);
 * createBranch; and the push used by every write, which checks each ref's old
 * value (compare-and-swap) so that a racing writer gets a 409, never a force. */
#include "internal.h"

#include "error/error.h"
#include "log/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

int gitrepo_git_error(int code, const char *what)
{
    const git_error *e = git_error_last();
    return porch_error_set(code, "%s: %s", what,
                           e && e->message ? e->message : "unknown git error");
}

void gitrepo_local_ref(const char *remote_ref, char *buf, size_t len)
{
    if (strncmp(remote_ref, "refs/heads/", 11) == 0)
        snprintf(buf, len, "refs/remotes/origin/%s", remote_ref + 11);
    else
        snprintf(buf, len, "%s", remote_ref);
}

void gitrepo_full_path(const gitrepo *repo, const char *package, char *buf, size_t len)
{
    if (repo->dir[0])
        snprintf(buf, len, "%s/%s", repo->dir, package);
    else
        snprintf(buf, len, "%s", package);
}

const char *gitrepo_mirror_path(const gitrepo *repo)
{
    return repo->mirror_path;
}

/* A local remote (file:// or a path) is opened directly for pushes. */
static char *local_remote_path(const char *url)
{
    if (strncmp(url, "file://", 7) == 0)
        return strdup(url + 7);
    if (strstr(url, "://") || (strchr(url, '@') && strchr(url, ':')))
        return NULL;
    char abs[PATH_MAX];
    if (realpath(url, abs))
        return strdup(abs);
    return strdup(url);
}

/* ---- credentials ---- */

/* Payload of every remote callback: the repository, credential attempts, push status. */
typedef struct remote_opts {
    gitrepo *repo;
    int attempts;
    char header[4096];
    char *headers[1];
    char push_msg[1024];
} remote_opts;

static int credential_cb(git_credential **out, const char *url, const char *username_from_url,
                         unsigned int allowed, void *payload)
{
    remote_opts *st = payload;
    (void)url;
    (void)username_from_url;
    if (st->attempts++ > 0)
        return GIT_EAUTH; /* the credentials we have were refused: don't loop */
    if (st->repo->username && (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT))
        return git_credential_userpass_plaintext_new(out, st->repo->username,
                                                     st->repo->password ? st->repo->password : "");
    return GIT_EAUTH;
}

static void remote_opts_init(gitrepo *repo, remote_opts *ro, git_remote_callbacks *cb,
                             git_strarray *headers)
{
    memset(ro, 0, sizeof *ro);
    ro->repo = repo;
    cb->credentials = credential_cb;
    cb->payload = ro;
    if (repo->bearer) {
        snprintf(ro->header, sizeof ro->header, "Authorization: Bearer %s", repo->bearer);
        ro->headers[0] = ro->header;
        headers->strings = ro->headers;
        headers->count = 1;
    }
}

/* Classifies a failed network operation: credentials 401, missing remote 503. */
static int remote_error(gitrepo *repo, int rc, const char *what)
{
    const git_error *e = git_error_last();
    const char *msg = e && e->message ? e->message : "unknown error";
    if (rc == GIT_EAUTH || strstr(msg, "authentication") || strstr(msg, "401") ||
        strstr(msg, "403") || strstr(msg, "credentials"))
        return porch_error_set(401,
                               "authentication to repository %s failed (%s): %s; check the "
                               "repository's secret",
                               repo->url, what, msg);
    return porch_error_set(503, "cannot reach repository %s (%s): %s", repo->url, what, msg);
}

static int copy_reachable(git_repository *srcrepo, git_odb *dst, const git_oid *oid);
static void make_fanout_dirs(const char *objects);

static int is_mirrored(const char *name)
{
    return strncmp(name, "refs/heads/", 11) == 0 || strncmp(name, "refs/tags/", 10) == 0;
}

/* Removes the empty directories below `dir` (left by packed or deleted loose
 * refs) so ref iteration does not walk them; `dir` itself stays. */
static void prune_empty_dirs(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || e->d_type != DT_DIR)
            continue;
        char sub[4096];
        int n = snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof sub)
            continue; /* deeper than any ref path we write */
        prune_empty_dirs(sub);
        rmdir(sub); /* fails harmlessly when not empty */
    }
    closedir(d);
}

#define PACK_REFS_EVERY 32
/* A local remote's refs are packed far less often: packing also packs the
 * transient drafts/ and proposed/ branches, and deleting a packed ref rewrites
 * the whole packed-refs file (one per propose, approve or delete until they are
 * gone). Git's own gc leaves refs loose for much longer than this. */
#define REMOTE_PACK_REFS_EVERY 1024
/* Ref deletions in a local remote between prunes of the directories they empty. */
#define REMOTE_PRUNE_EVERY 256

/* Keeps the mirror's refs in one packed-refs file (listings then read one file
 * instead of a loose file per tag): once per handle and after every
 * PACK_REFS_EVERY loose writes, or now when `force`. */
static void pack_mirror_refs(gitrepo *repo, int force)
{
    if (repo->packed_once && repo->loose_mirror < PACK_REFS_EVERY && !force)
        return;
    git_refdb *db = NULL;
    if (git_repository_refdb(&db, repo->git) != 0)
        return;
    if (git_refdb_compress(db) == 0) {
        char refs[4096];
        snprintf(refs, sizeof refs, "%s/refs/remotes/origin", repo->mirror_path);
        prune_empty_dirs(refs);
        snprintf(refs, sizeof refs, "%s/refs/tags", repo->mirror_path);
        prune_empty_dirs(refs);
        repo->packed_once = 1;
        repo->loose_mirror = 0;
    }
    git_refdb_free(db);
}

/* The local remote's repository, opened once per handle (libgit2 re-checks
 * its packed-refs and object packs on access, so others' pushes are seen). */
static int local_remote(gitrepo *repo, git_repository **out)
{
    if (!repo->remote_git &&
        git_repository_open_ext(&repo->remote_git, repo->remote_path,
                                GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) != 0) {
        repo->remote_git = NULL;
        return porch_error_set(503, "cannot reach repository %s: %s", repo->url,
                               git_error_last() ? git_error_last()->message : "cannot open");
    }
    *out = repo->remote_git;
    return 0;
}

/* Local remotes: read the remote's refs directly, copy the objects the mirror
 * lacks, set the tracking refs and prune the rest — what a fetch with Porch's
 * refspecs and prune does, without libgit2's pack negotiation. What the
 * mirror has comes from the in-memory refs, kept in step. */
static int fetch_local(gitrepo *repo)
{
    git_repository *remote = NULL;
    if (local_remote(repo, &remote) != 0)
        return -1;
    if (!repo->refs.loaded && gitrepo_refs_load(repo) != 0)
        return -1;
    /* a mark per mirror ref: seen in the remote this time */
    size_t nhave = repo->refs.n;
    char *seen = calloc(nhave ? nhave : 1, 1);
    char **have_names = malloc((nhave ? nhave : 1) * sizeof *have_names);
    for (size_t i = 0; i < nhave; i++)
        have_names[i] = strdup(repo->refs.v[i].name);
    git_odb *dst = NULL;
    git_reference_iterator *it = NULL;
    git_reference *ref;
    int rc = git_repository_odb(&dst, repo->git);
    if (rc == 0)
        rc = git_reference_iterator_new(&it, remote);
    size_t changed = 0;
    while (rc == 0 && git_reference_next(&ref, it) == 0) {
        const char *name = git_reference_name(ref);
        if (git_reference_type(ref) == GIT_REFERENCE_DIRECT && is_mirrored(name)) {
            const git_oid *oid = git_reference_target(ref);
            char local[2048];
            gitrepo_local_ref(name, local, sizeof local);
            const git_oid *cur = gitrepo_refs_get(repo, local);
            if (cur) {
                size_t lo = 0, hi = nhave;
                while (lo < hi) { /* have_names is sorted like the refs were */
                    size_t mid = lo + (hi - lo) / 2;
                    if (strcmp(have_names[mid], local) < 0)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                if (lo < nhave && strcmp(have_names[lo], local) == 0)
                    seen[lo] = 1;
            }
            if (!cur || !git_oid_equal(cur, oid)) {
                git_reference *r = NULL;
                if (copy_reachable(remote, dst, oid) != 0 ||
                    git_reference_create(&r, repo->git, local, oid, 1, "fetch") != 0)
                    rc = gitrepo_git_error(500, "cannot copy a ref from the remote");
                else
                    gitrepo_refs_set(repo, local, oid);
                git_reference_free(r);
                changed++;
            }
        }
        git_reference_free(ref);
    }
    git_reference_iterator_free(it);
    /* prune tracking refs and tags the remote no longer has */
    for (size_t i = 0; i < nhave; i++) {
        if (rc == 0 && !seen[i]) {
            git_reference *r = NULL;
            if (git_reference_lookup(&r, repo->git, have_names[i]) == 0)
                git_reference_delete(r);
            git_reference_free(r);
            gitrepo_refs_set(repo, have_names[i], NULL);
            changed++;
        }
        free(have_names[i]);
    }
    free(have_names);
    free(seen);
    repo->loose_mirror += (unsigned)changed;
    if (rc == 0)
        pack_mirror_refs(repo, 0);
    git_odb_free(dst);
    return rc;
}

/* The remote's value of refs/heads/<branch>, read without fetching. */
static int remote_branch_head(gitrepo *repo, char head[GITREPO_SHA_HEX])
{
    char ref[1024];
    snprintf(ref, sizeof ref, "refs/heads/%s", repo->branch);
    head[0] = 0;
    if (repo->remote_path) {
        git_repository *remote = NULL;
        git_oid oid;
        if (local_remote(repo, &remote) != 0)
            return -1;
        if (git_reference_name_to_id(&oid, remote, ref) == 0)
            git_oid_tostr(head, GITREPO_SHA_HEX, &oid);
        return 0;
    }
    git_remote *remote = NULL;
    if (git_remote_lookup(&remote, repo->git, "origin") != 0)
        return gitrepo_git_error(500, "mirror has no origin remote");
    git_remote_callbacks cb;
    git_remote_init_callbacks(&cb, GIT_REMOTE_CALLBACKS_VERSION);
    git_strarray headers = {NULL, 0};
    remote_opts ro;
    remote_opts_init(repo, &ro, &cb, &headers);
    int rc = git_remote_connect(remote, GIT_DIRECTION_FETCH, &cb, NULL, &headers);
    if (rc != 0) {
        rc = remote_error(repo, rc, "ls-remote");
    } else {
        const git_remote_head **heads = NULL;
        size_t n = 0;
        git_remote_ls(&heads, &n, remote);
        for (size_t i = 0; i < n; i++)
            if (strcmp(heads[i]->name, ref) == 0)
                git_oid_tostr(head, GITREPO_SHA_HEX, &heads[i]->oid);
        git_remote_disconnect(remote);
    }
    git_remote_free(remote);
    return rc;
}

int gitrepo_check(gitrepo *repo, char head[GITREPO_SHA_HEX])
{
    int rc = remote_branch_head(repo, head);
    if (rc == 0 && !head[0] && !repo->create_branch)
        rc = porch_error_set(404, "branch \"%s\" doesn't exist in repository %s", repo->branch,
                             repo->url);
    return rc;
}

int gitrepo_refs_load(gitrepo *repo)
{
    git_repository *remote = NULL;
    if (!repo->borrows_objects)
        return gitrepo_refs_read(repo, repo->git, 0);
    if (local_remote(repo, &remote) != 0)
        return -1;
    return gitrepo_refs_read(repo, remote, 1);
}

git_repository *gitrepo_objects(gitrepo *repo)
{
    git_repository *remote = NULL;
    if (repo->borrows_objects && local_remote(repo, &remote) == 0) {
        if (!repo->fanout_made) {
            char objects[4200];
            snprintf(objects, sizeof objects, "%sobjects", git_repository_path(remote));
            make_fanout_dirs(objects);
            repo->fanout_made = 1;
        }
        return remote;
    }
    porch_error_clear();
    return repo->git;
}

git_repository *gitrepo_reader(gitrepo *repo)
{
    return repo->borrows_objects && repo->remote_git ? repo->remote_git : repo->git;
}

int gitrepo_fetch(gitrepo *repo)
{
    /* a local remote whose objects we borrow: fetching is re-reading its refs */
    if (repo->borrows_objects)
        return gitrepo_refs_load(repo);
    if (repo->remote_path)
        return fetch_local(repo);
    git_remote *remote = NULL;
    if (git_remote_lookup(&remote, repo->git, "origin") != 0)
        return gitrepo_git_error(500, "mirror has no origin remote");
    git_fetch_options fo;
    git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    remote_opts ro;
    remote_opts_init(repo, &ro, &fo.callbacks, &fo.custom_headers);
    fo.prune = GIT_FETCH_PRUNE;
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    int rc = git_remote_fetch(remote, NULL, &fo, "fetch");
    git_remote_free(remote);
    if (rc != 0)
        return remote_error(repo, rc, "fetch");
    return gitrepo_refs_load(repo);
}

static int create_branch(gitrepo *repo)
{
    git_oid blob, tree, commit;
    git_treebuilder *tb = NULL;
    git_signature *sig = NULL;
    const char *readme = "Created by porch";
    int rc = git_blob_create_from_buffer(&blob, repo->git, readme, strlen(readme));
    if (rc == 0)
        rc = git_treebuilder_new(&tb, repo->git, NULL);
    if (rc == 0)
        rc = git_treebuilder_insert(NULL, tb, "README.md", &blob, GIT_FILEMODE_BLOB);
    if (rc == 0)
        rc = git_treebuilder_write(&tree, tb);
    git_treebuilder_free(tb);
    if (rc == 0)
        rc = git_signature_now(&sig, GITREPO_PORCH_NAME, GITREPO_PORCH_EMAIL);
    git_tree *t = NULL;
    if (rc == 0)
        rc = git_tree_lookup(&t, repo->git, &tree);
    if (rc == 0)
        rc = git_commit_create(&commit, repo->git, NULL, sig, sig, NULL,
                               "Initial commit: Creating main branch", t, 0, NULL);
    git_tree_free(t);
    git_signature_free(sig);
    if (rc != 0)
        return gitrepo_git_error(500, "cannot create the initial commit");
    char ref[1024], sha[GITREPO_SHA_HEX];
    snprintf(ref, sizeof ref, "refs/heads/%s", repo->branch);
    git_oid_tostr(sha, sizeof sha, &commit);
    gitrepo_refupdate up = {ref, NULL, sha};
    return gitrepo_push(repo, &up, 1);
}

int gitrepo_branch_head(gitrepo *repo, char sha[GITREPO_SHA_HEX])
{
    char ref[1024];
    snprintf(ref, sizeof ref, "refs/remotes/origin/%s", repo->branch);
    sha[0] = 0;
    const git_oid *oid = gitrepo_refs_get(repo, ref);
    if (oid)
        git_oid_tostr(sha, GITREPO_SHA_HEX, oid);
    return 0;
}

/* A mirror of a repository on this machine borrows its objects through
 * objects/info/alternates instead of copying them one by one (a 1,000-package
 * repository is then mirrored in milliseconds instead of 15,000 loose-object
 * writes). The fetch still sets the mirror's own refs; objects it creates
 * itself (draft commits) stay in the mirror and are copied on push. */
/* The 256 loose-object directories of a local remote we write objects into,
 * made before our first write to it: a freshly packed repository has none,
 * and a write then paid a mkdir (a new inode and block, slow on some file
 * systems) for most of its objects until all existed. Git itself creates
 * them the same way, one at a time; a remote only read is left as it is. */
static void make_fanout_dirs(const char *objects)
{
    char dir[4300];
    for (int i = 0; i < 256; i++) {
        snprintf(dir, sizeof dir, "%s/%02x", objects, i);
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            return; /* read-only or gone: writes will say so */
    }
}

static void link_local_objects(gitrepo *repo)
{
    if (!repo->remote_path)
        return;
    char objects[4200], alternates[4300], current[4300] = "";
    struct stat st;
    snprintf(objects, sizeof objects, "%s/objects", repo->remote_path);
    if (stat(objects, &st) != 0 || !S_ISDIR(st.st_mode))
        snprintf(objects, sizeof objects, "%s/.git/objects", repo->remote_path);
    if (stat(objects, &st) != 0 || !S_ISDIR(st.st_mode))
        return;
    snprintf(alternates, sizeof alternates, "%s/objects/info/alternates", repo->mirror_path);
    FILE *f = fopen(alternates, "r");
    if (f) {
        if (!fgets(current, sizeof current, f))
            current[0] = '\0';
        fclose(f);
        current[strcspn(current, "\n")] = '\0';
    }
    if (strcmp(current, objects) == 0) {
        repo->borrows_objects = 1;
        return;
    }
    f = fopen(alternates, "w");
    if (!f)
        return;
    int ok = fprintf(f, "%s\n", objects) > 0;
    ok = fclose(f) == 0 && ok;
    repo->borrows_objects = ok;
    git_odb *odb = NULL;
    if (repo->git && git_repository_odb(&odb, repo->git) == 0) {
        git_odb_add_disk_alternate(odb, objects);
        git_odb_free(odb);
    }
}

static int open_mirror(gitrepo *repo)
{
    struct stat st;
    if (stat(repo->mirror_path, &st) == 0) {
        if (git_repository_open_bare(&repo->git, repo->mirror_path) != 0)
            return gitrepo_git_error(500, "cannot open mirror");
        link_local_objects(repo);
        return 0;
    }
    if (git_repository_init(&repo->git, repo->mirror_path, 1) != 0)
        return gitrepo_git_error(500, "cannot create mirror");
    link_local_objects(repo);
    git_remote *remote = NULL;
    if (git_remote_create_with_fetchspec(&remote, repo->git, "origin", repo->url,
                                         "+refs/heads/*:refs/remotes/origin/*") != 0 ||
        git_remote_add_fetch(repo->git, "origin", "+refs/tags/*:refs/tags/*") != 0) {
        git_remote_free(remote);
        return gitrepo_git_error(500, "cannot configure the mirror's remote");
    }
    git_remote_free(remote);
    return 0;
}

int gitrepo_library_init(unsigned cache_mb)
{
    int rc = git_libgit2_init();
    if (rc < 0)
        return gitrepo_git_error(500, "cannot initialise libgit2");
    git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)(cache_mb ? cache_mb : 64) << 20);
    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, (size_t)4 << 20);
    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_BLOB, (size_t)64 << 10);
    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_COMMIT, (size_t)64 << 10);
    /* like git itself, do not re-hash every object read (a quarter of a full
     * listing's time); fsck and the transport still check what comes in */
    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
    /* every object our trees and commits name was written or found just
     * before; the check re-read each one's header from disk (a file open per
     * entry of every tree built) */
    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
    return 0;
}

/* A local remote's trash and spare files, in the mirror (chores.c). */
static void open_chores(gitrepo *repo, gitrepo_chores *chores)
{
    size_t n = strlen(repo->mirror_path) + 16;
    char *spares = malloc(n);
    repo->trash_dir = malloc(n);
    if (!spares || !repo->trash_dir) {
        free(spares);
        return;
    }
    repo->chores = chores;
    snprintf(repo->trash_dir, n, "%s/porch-trash", repo->mirror_path);
    gitrepo_chores_sweep(repo->trash_dir);
    snprintf(spares, n, "%s/porch-spare", repo->mirror_path);
    repo->spares = gitrepo_spares_new(chores, spares, repo->remote_path);
    free(spares);
}

int gitrepo_open(const gitrepo_config *cfg, gitrepo **out)
{
    *out = NULL;
    if (!cfg->url || !*cfg->url)
        return porch_error_set(400, "spec.git.repo is required");
    if (!cfg->cache_dir || !*cfg->cache_dir)
        return porch_error_set(400, "no cache directory for git mirrors");
    gitrepo *repo = calloc(1, sizeof *repo);
    repo->name = strdup(cfg->name ? cfg->name : "");
    repo->namespace_ = strdup(cfg->namespace_ ? cfg->namespace_ : "");
    repo->url = strdup(cfg->url);
    repo->branch = strdup(cfg->branch && *cfg->branch ? cfg->branch : "main");
    const char *d = cfg->directory ? cfg->directory : "";
    while (*d == '/')
        d++;
    repo->dir = strdup(d);
    for (size_t n = strlen(repo->dir); n > 0 && repo->dir[n - 1] == '/'; n--)
        repo->dir[n - 1] = 0;
    repo->username = dup_or_null(cfg->username);
    repo->password = dup_or_null(cfg->password);
    repo->bearer = dup_or_null(cfg->bearer_token);
    repo->deployment = cfg->deployment;
    repo->create_branch = cfg->create_branch;
    repo->remote_path = local_remote_path(cfg->url);
    char dirname[2048];
    int rc = gitrepo_mirror_dirname(cfg->url, dirname, sizeof dirname);
    if (rc == 0) {
        size_t n = strlen(cfg->cache_dir) + strlen(dirname) + 2;
        repo->mirror_path = malloc(n);
        snprintf(repo->mirror_path, n, "%s/%s", cfg->cache_dir, dirname);
        if (mkdir(cfg->cache_dir, 0700) != 0 && errno != EEXIST)
            rc = porch_error_set(500, "cannot create %s: %s", cfg->cache_dir, strerror(errno));
    }
    if (rc == 0)
        rc = open_mirror(repo);
    if (rc == 0 && repo->remote_path && cfg->chores)
        open_chores(repo, cfg->chores);
    if (rc == 0)
        rc = gitrepo_fetch(repo);
    if (rc == 0) {
        char head[GITREPO_SHA_HEX];
        gitrepo_branch_head(repo, head);
        if (!head[0] && repo->create_branch) {
            rc = create_branch(repo);
        } else if (!head[0]) {
            rc = porch_error_set(404,
                                 "branch \"%s\" doesn't exist in repository %s; create it "
                                 "or set spec.git.createBranch",
                                 repo->branch, repo->url);
        }
    }
    if (rc != 0) {
        gitrepo_free(repo);
        return rc;
    }
    *out = repo;
    return 0;
}

void gitrepo_free(gitrepo *repo)
{
    if (!repo)
        return;
    gitrepo_commit_cache_free(repo->commits);
    gitrepo_raw_cache_clear(&repo->roots);
    gitrepo_packed_cache_clear(&repo->remote_packed);
    gitrepo_refs_clear(&repo->refs);
    json_decref(repo->task_index);
    free(repo->task_index_new);
    git_repository_free(repo->remote_git);
    git_repository_free(repo->git);
    free(repo->name);
    free(repo->namespace_);
    free(repo->url);
    free(repo->branch);
    free(repo->dir);
    free(repo->username);
    free(repo->password);
    free(repo->bearer);
    free(repo->mirror_path);
    gitrepo_spares_free(repo->spares);
    free(repo->trash_dir);
    free(repo->remote_path);
    free(repo);
}

/* ---- version ---- */

int gitrepo_version(gitrepo *repo, char out[65])
{
    memcpy(out, gitrepo_refs_digest(repo), 65);
    return 0;
}

/* ---- push with compare-and-swap ---- */

/* Copies `oid` and everything it reaches that `dst` lacks. */
static int copy_objects(git_odb *src, git_odb *dst, const git_oid *oid)
{
    if (git_odb_exists(dst, oid))
        return 0;
    git_odb_object *obj = NULL;
    if (git_odb_read(&obj, src, oid) != 0)
        return -1;
    git_object_t type = git_odb_object_type(obj);
    git_oid written;
    int rc = git_odb_write(&written, dst, git_odb_object_data(obj), git_odb_object_size(obj), type);
    git_odb_object_free(obj);
    if (rc != 0)
        return rc;
    return 1; /* caller walks children */
}

static int copy_reachable(git_repository *srcrepo, git_odb *dst, const git_oid *oid)
{
    git_odb *src = NULL;
    git_repository_odb(&src, srcrepo);
    /* Depth-first over commits and trees; stop at objects the remote already has. */
    size_t cap = 256, n = 0;
    git_oid *stack = malloc(cap * sizeof *stack);
    stack[n++] = *oid;
    int rc = 0;
    while (n > 0 && rc == 0) {
        git_oid cur = stack[--n];
        int c = copy_objects(src, dst, &cur);
        if (c < 0) {
            rc = c;
            break;
        }
        if (c == 0)
            continue;
        git_object *obj = NULL;
        if (git_object_lookup(&obj, srcrepo, &cur, GIT_OBJECT_ANY) != 0)
            continue;
        if (git_object_type(obj) == GIT_OBJECT_COMMIT) {
            const git_commit *cm = (const git_commit *)obj;
            unsigned np = git_commit_parentcount(cm);
            if (n + np + 1 >= cap) {
                cap = (n + np + 1) * 2;
                stack = realloc(stack, cap * sizeof *stack);
            }
            stack[n++] = *git_commit_tree_id(cm);
            for (unsigned i = 0; i < np; i++)
                stack[n++] = *git_commit_parent_id(cm, i);
        } else if (git_object_type(obj) == GIT_OBJECT_TREE) {
            const git_tree *t = (const git_tree *)obj;
            size_t ne = git_tree_entrycount(t);
            if (n + ne + 1 >= cap) {
                cap = (n + ne + 1) * 2;
                stack = realloc(stack, cap * sizeof *stack);
            }
            for (size_t i = 0; i < ne; i++) {
                const git_tree_entry *e = git_tree_entry_byindex(t, i);
                if (git_tree_entry_type(e) != GIT_OBJECT_COMMIT) /* skip submodules */
                    stack[n++] = *git_tree_entry_id(e);
            }
        } else if (git_object_type(obj) == GIT_OBJECT_TAG) {
            stack[n++] = *git_tag_target_id((const git_tag *)obj);
        }
        git_object_free(obj);
    }
    free(stack);
    git_odb_free(src);
    return rc;
}

int gitrepo_check_old(const gitrepo_refupdate *u, const char *current)
{
    if (u->old && strcmp(u->old, "*") == 0)
        return 0;
    const char *want = u->old ? u->old : "";
    if (strcmp(want, current) == 0)
        return 0;
    if (!*want)
        return porch_error_set_reason(
            409, "AlreadyExists", "%s already exists in the remote (at %.12s)", u->ref, current);
    return porch_error_set(409,
                           "the object has been modified; %s is at %.12s, expected %.12s; "
                           "please apply your changes to the latest version and try again",
                           u->ref, *current ? current : "(deleted)", want);
}

/* Local remotes: copy the objects, then lock every ref, check, and commit. */
static int push_local(gitrepo *repo, const gitrepo_refupdate *ups, size_t n)
{
    git_repository *remote = NULL;
    if (local_remote(repo, &remote) != 0)
        return -1;
    git_odb *dst = NULL;
    git_transaction *tx = NULL;
    int rc = git_repository_odb(&dst, remote);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        git_oid oid;
        if (!ups[i].new_)
            continue;
        if (git_oid_fromstr(&oid, ups[i].new_) != 0 || copy_reachable(repo->git, dst, &oid) != 0)
            rc = gitrepo_git_error(500, "cannot copy objects to the remote");
    }
    int handled = 0;
    size_t changes = 0;
    if (rc == 0) {
        gitrepo_fs_aid aid = {repo->chores, repo->spares, repo->trash_dir};
        rc = gitrepo_refs_write_local(remote, &repo->remote_packed, &aid, ups, n, &handled);
        changes = handled && rc == 0 ? n : 0;
    }
    if (rc == 0 && !handled && git_transaction_new(&tx, remote) != 0)
        rc = gitrepo_git_error(500, "cannot start a ref transaction");
    for (size_t i = 0; rc == 0 && !handled && i < n; i++) {
        int lr = git_transaction_lock_ref(tx, ups[i].ref);
        if (lr == GIT_ELOCKED || lr == GIT_EMODIFIED)
            rc = porch_error_set(409, "%s is being updated by another writer; retry", ups[i].ref);
        else if (lr != 0)
            rc = gitrepo_git_error(500, "cannot lock a remote ref");
    }
    git_signature *sig = NULL;
    if (rc == 0 && !handled)
        git_signature_now(&sig, GITREPO_PORCH_NAME, GITREPO_PORCH_EMAIL);
    for (size_t i = 0; rc == 0 && !handled && i < n; i++) {
        git_oid cur;
        char cursha[GITREPO_SHA_HEX] = "";
        if (git_reference_name_to_id(&cur, remote, ups[i].ref) == 0)
            git_oid_tostr(cursha, sizeof cursha, &cur);
        rc = gitrepo_check_old(&ups[i], cursha);
        if (rc != 0)
            break;
        if (ups[i].new_) {
            git_oid oid;
            git_oid_fromstr(&oid, ups[i].new_);
            rc = git_transaction_set_target(tx, ups[i].ref, &oid, sig, "porch: push");
            changes++;
        } else if (cursha[0]) {
            rc = git_transaction_remove(tx, ups[i].ref);
            changes++;
        }
        if (rc != 0)
            rc = gitrepo_git_error(500, "cannot stage a ref update");
    }
    if (rc == 0 && !handled && changes > 0 && git_transaction_commit(tx) != 0)
        rc = gitrepo_git_error(500, "cannot update the remote refs");
    /* the directories our deletions emptied, every REMOTE_PRUNE_EVERY of them
     * (after each one, as libgit2 and git do, an rmdir and the next draft's
     * mkdir cost more than the rest of a propose's push) */
    for (size_t i = 0; rc == 0 && handled && i < n; i++)
        repo->remote_deletes += ups[i].new_ == NULL;
    if (rc == 0 && repo->remote_deletes >= REMOTE_PRUNE_EVERY) {
        static const char *const spaces[] = {"refs/heads/drafts", "refs/heads/proposed",
                                             "refs/heads/deletionProposed"};
        for (size_t k = 0; k < 3; k++) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s%s", git_repository_commondir(remote), spaces[k]);
            prune_empty_dirs(dir);
        }
        repo->remote_deletes = 0;
    }
    /* what git gc's pack-refs does, every PACK_REFS_EVERY of our updates:
     * libgit2 removes a loose ref only while holding its lock and unchanged */
    repo->loose_remote += (unsigned)changes;
    git_refdb *db = NULL;
    if (rc == 0 && repo->loose_remote >= REMOTE_PACK_REFS_EVERY &&
        git_repository_refdb(&db, remote) == 0) {
        git_transaction_free(tx);
        tx = NULL;
        if (git_refdb_compress(db) == 0)
            repo->loose_remote = 0;
        git_refdb_free(db);
    }
    git_signature_free(sig);
    git_transaction_free(tx);
    git_odb_free(dst);
    return rc;
}

static int push_update_cb(const char *refname, const char *status, void *data)
{
    remote_opts *ro = data;
    if (status && !ro->push_msg[0])
        snprintf(ro->push_msg, sizeof ro->push_msg, "%s: %s", refname, status);
    return 0;
}

/* Network remotes: connect, compare the advertised refs with `old`, then send
 * the commands with those old values (the server refuses if a ref moved since). */
static int push_remote(gitrepo *repo, const gitrepo_refupdate *ups, size_t n)
{
    git_remote *remote = NULL;
    if (git_remote_lookup(&remote, repo->git, "origin") != 0)
        return gitrepo_git_error(500, "mirror has no origin remote");
    git_push_options po;
    git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
    remote_opts ro;
    remote_opts_init(repo, &ro, &po.callbacks, &po.custom_headers);
    int rc =
        git_remote_connect(remote, GIT_DIRECTION_PUSH, &po.callbacks, NULL, &po.custom_headers);
    if (rc != 0) {
        rc = remote_error(repo, rc, "push");
        git_remote_free(remote);
        return rc;
    }
    const git_remote_head **heads = NULL;
    size_t nheads = 0;
    git_remote_ls(&heads, &nheads, remote);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char cur[GITREPO_SHA_HEX] = "";
        for (size_t h = 0; h < nheads; h++)
            if (strcmp(heads[h]->name, ups[i].ref) == 0)
                git_oid_tostr(cur, sizeof cur, &heads[h]->oid);
        rc = gitrepo_check_old(&ups[i], cur);
    }
    char **specs = calloc(n, sizeof *specs);
    char **tmprefs = calloc(n, sizeof *tmprefs);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char buf[2048];
        if (ups[i].new_) {
            /* push from a temporary local ref naming the commit */
            git_oid oid;
            git_reference *r = NULL;
            snprintf(buf, sizeof buf, "refs/porch-push/%zu", i);
            git_oid_fromstr(&oid, ups[i].new_);
            git_reference_create(&r, repo->git, buf, &oid, 1, NULL);
            git_reference_free(r);
            tmprefs[i] = strdup(buf);
            snprintf(buf, sizeof buf, "+refs/porch-push/%zu:%s", i, ups[i].ref);
        } else {
            snprintf(buf, sizeof buf, ":%s", ups[i].ref);
        }
        specs[i] = strdup(buf);
    }
    if (rc == 0) {
        po.callbacks.push_update_reference = push_update_cb;
        ro.attempts = 0;
        git_strarray arr = {specs, n};
        if (git_remote_upload(remote, &arr, &po) != 0)
            rc = remote_error(repo, -1, "push");
        else if (ro.push_msg[0])
            rc = porch_error_set(409, "the remote refused the update (%s); fetch and retry",
                                 ro.push_msg);
    }
    for (size_t i = 0; i < n; i++) {
        if (tmprefs[i]) {
            git_reference *r = NULL;
            if (git_reference_lookup(&r, repo->git, tmprefs[i]) == 0)
                git_reference_delete(r);
            git_reference_free(r);
        }
        free(tmprefs[i]);
        free(specs[i]);
    }
    free(tmprefs);
    free(specs);
    git_remote_disconnect(remote);
    git_remote_free(remote);
    return rc;
}

/* Network remotes, atomically: libgit2 1.5 cannot send git's "atomic" push
 * capability, so when the git CLI is installed the push goes through
 * `git push --atomic` with a --force-with-lease=<ref>:<old> per ref (the
 * server then refuses all updates if any ref moved). Credentials travel in
 * the environment (http.extraHeader), never in argv. Returns 1 when git is absent. */
#define GIT_CLI "/usr/bin/git"

static char *auth_header(gitrepo *repo)
{
    char *h = NULL;
    if (repo->bearer) {
        size_t n = strlen(repo->bearer) + 32;
        h = malloc(n);
        snprintf(h, n, "Authorization: Bearer %s", repo->bearer);
    } else if (repo->username) {
        char plain[1024];
        snprintf(plain, sizeof plain, "%s:%s", repo->username,
                 repo->password ? repo->password : "");
        size_t n = 4 * (strlen(plain) / 3 + 1) + 32;
        h = malloc(n);
        int k = snprintf(h, n, "Authorization: Basic ");
        EVP_EncodeBlock((unsigned char *)h + k, (const unsigned char *)plain, (int)strlen(plain));
    }
    return h;
}

static int push_cli(gitrepo *repo, const gitrepo_refupdate *ups, size_t n)
{
    if (access(GIT_CLI, X_OK) != 0)
        return 1;
    size_t nargs = 0, cap = 8 + 2 * n;
    char **argv = calloc(cap + 1, sizeof *argv);
    argv[nargs++] = strdup("git");
    argv[nargs++] = strdup("-C");
    argv[nargs++] = strdup(repo->mirror_path);
    argv[nargs++] = strdup("push");
    argv[nargs++] = strdup("--atomic");
    argv[nargs++] = strdup("--porcelain");
    argv[nargs++] = strdup("origin");
    for (size_t i = 0; i < n; i++) {
        char buf[4096];
        if (!ups[i].old || strcmp(ups[i].old, "*") != 0) {
            snprintf(buf, sizeof buf, "--force-with-lease=%s:%s", ups[i].ref,
                     ups[i].old ? ups[i].old : "");
            argv[nargs++] = strdup(buf);
        }
        if (ups[i].new_)
            snprintf(buf, sizeof buf, "%s%s:%s",
                     strcmp(ups[i].old ? ups[i].old : "", "*") == 0 ? "+" : "", ups[i].new_,
                     ups[i].ref);
        else
            snprintf(buf, sizeof buf, ":%s", ups[i].ref);
        argv[nargs++] = strdup(buf);
    }
    /* environment: ours plus the auth header as a config entry, no prompts */
    size_t envn = 0;
    while (environ[envn])
        envn++;
    char **env = calloc(envn + 6, sizeof *env);
    size_t e = 0;
    for (size_t i = 0; i < envn; i++)
        if (strncmp(environ[i], "GIT_", 4) != 0)
            env[e++] = environ[i];
    char *hdr = auth_header(repo);
    char *extra[4] = {NULL};
    extra[0] = strdup("GIT_TERMINAL_PROMPT=0");
    if (hdr) {
        extra[1] = strdup("GIT_CONFIG_COUNT=1");
        extra[2] = strdup("GIT_CONFIG_KEY_0=http.extraHeader");
        size_t len = strlen(hdr) + 32;
        extra[3] = malloc(len);
        snprintf(extra[3], len, "GIT_CONFIG_VALUE_0=%s", hdr);
    }
    for (int i = 0; i < 4; i++)
        if (extra[i])
            env[e++] = extra[i];
    env[e] = NULL;
    int pipefd[2];
    int rc = pipe(pipefd);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    pid_t pid = 0;
    if (rc == 0)
        rc = posix_spawn(&pid, GIT_CLI, &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    char out[8192];
    size_t got = 0;
    ssize_t k;
    while ((k = read(pipefd[0], out + got, sizeof out - 1 - got)) > 0)
        got += (size_t)k;
    out[got] = 0;
    close(pipefd[0]);
    int status = 0;
    if (rc == 0)
        waitpid(pid, &status, 0);
    for (size_t i = 0; i < nargs; i++)
        free(argv[i]);
    free(argv);
    for (int i = 0; i < 4; i++)
        free(extra[i]);
    free(env);
    free(hdr);
    if (rc != 0)
        return porch_error_set(500, "cannot run %s: %s", GIT_CLI, strerror(rc));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    if (strstr(out, "Authentication failed") || strstr(out, "could not read Username") ||
        strstr(out, "403"))
        return porch_error_set(401, "authentication to repository %s failed (push): %s", repo->url,
                               out);
    if (strstr(out, "stale info") || strstr(out, "rejected") || strstr(out, "atomic"))
        return porch_error_set(409,
                               "the remote refused the update (a ref moved); fetch and "
                               "retry: %s",
                               out);
    return porch_error_set(503, "cannot push to repository %s: %s", repo->url, out);
}

int gitrepo_push(gitrepo *repo, const gitrepo_refupdate *ups, size_t n)
{
    int rc;
    if (repo->remote_path) {
        rc = push_local(repo, ups, n);
    } else {
        rc = push_cli(repo, ups, n);
        if (rc == 1)
            rc = push_remote(repo, ups, n); /* no git CLI: per-ref checks, not atomic */
    }
    if (rc != 0) {
        /* a ref moved under us: bring the mirror up to date for the next
         * attempt and for readers, keeping the push's error */
        if (porch_error_last()->code == 409) {
            porch_error saved = *porch_error_last();
            gitrepo_fetch(repo);
            porch_error_set_reason(saved.code, saved.reason, "%s", saved.message);
        }
        return rc;
    }
    /* Mirror the new values so a read right after the write sees them
     * (in memory only when the refs are read from a local remote). */
    for (size_t i = 0; i < n; i++) {
        if (repo->borrows_objects) {
            char local[2048];
            git_oid oid;
            gitrepo_local_ref(ups[i].ref, local, sizeof local);
            if (ups[i].new_)
                git_oid_fromstr(&oid, ups[i].new_);
            gitrepo_refs_set(repo, local, ups[i].new_ ? &oid : NULL);
            continue;
        }
        char local[2048];
        gitrepo_local_ref(ups[i].ref, local, sizeof local);
        git_reference *r = NULL;
        if (ups[i].new_) {
            git_oid oid;
            git_oid_fromstr(&oid, ups[i].new_);
            git_reference_create(&r, repo->git, local, &oid, 1, "porch: push");
            gitrepo_refs_set(repo, local, &oid);
        } else {
            if (git_reference_lookup(&r, repo->git, local) == 0)
                git_reference_delete(r);
            gitrepo_refs_set(repo, local, NULL);
        }
        git_reference_free(r);
    }
    if (!repo->borrows_objects) {
        repo->loose_mirror += (unsigned)n;
        pack_mirror_refs(repo, 0);
    }
    return 0;
}
