/* A local remote's ref updates written as git's files backend writes them:
 * every ref locked with <ref>.lock (created exclusively, so git, libgit2 and
 * other adapters racing on it are refused), every old value checked, then
 * each new value renamed into place or the loose ref removed. Unlike
 * libgit2's transaction it does not prune the directories a deletion empties
 * right away (the caller does, every few hundred deletions): the next draft
 * of the package needs them again, and a directory made and removed costs
 * more than the rest of the update on ext4. For the same file system's sake a
 * lock is a spare file linked into place, a deletion's empty lock becomes a
 * spare again, and a replaced or deleted ref file goes to the trash
 * (chores.c). Deleting a ref that is also in packed-refs, or anything unusual
 * (a symbolic ref), is left to libgit2. */
#include "internal.h"

#include "error/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_MAX_LEN 4096

typedef struct ref_lock {
    const gitrepo_refupdate *up;
    char path[PATH_MAX_LEN];
    size_t gitdir_len; /* path = git dir + ref name */
    int fd;            /* the lock file's descriptor, -1 once closed or not opened */
    int locked;
    int written; /* the lock holds a new value: not empty any more */
    int had_loose; /* the ref had a loose file before */
} ref_lock;

static int cmp_lock(const void *a, const void *b)
{
    return strcmp(((const ref_lock *)a)->up->ref, ((const ref_lock *)b)->up->ref);
}

/* mkdir -p of the directories above `path`, from `from` on (the part after
 * the git dir). Usually only the last is missing (a package's first ref of
 * a kind): a spare directory renamed into place stands for its mkdir. */
static void make_parents(char *path, size_t from, const gitrepo_fs_aid *aid)
{
    char spare[PATH_MAX_LEN], *last = strrchr(path + from, '/');
    if (last && gitrepo_spares_take_dir(aid->spares, spare, sizeof spare) == 0) {
        *last = '\0';
        int rc = rename(spare, path);
        *last = '/';
        if (rc == 0)
            return;
        rmdir(spare);
    }
    for (char *p = strchr(path + from, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        mkdir(path, 0777); /* EEXIST is the common answer */
        *p = '/';
    }
}

/* The value of `ref` in packed-refs (hex into out, "" when absent). */
static void packed_value(const char *buf, size_t len, const char *ref, char out[GITREPO_SHA_HEX])
{
    out[0] = '\0';
    size_t rlen = strlen(ref);
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        if ((size_t)(line_end - p) == GIT_OID_HEXSZ + 1 + rlen && p[GIT_OID_HEXSZ] == ' ' &&
            !memcmp(p + GIT_OID_HEXSZ + 1, ref, rlen)) {
            memcpy(out, p, GIT_OID_HEXSZ);
            out[GIT_OID_HEXSZ] = '\0';
            return;
        }
        p = line_end + 1;
    }
}

/* packed-refs as it is now: the cached copy while the file's identity and
 * time stamp are unchanged (git replaces it by renaming a new file in), else
 * read again; NULL when there is none. Borrowed until the next call. */
static const char *packed_refs(const char *gitdir, gitrepo_packed_cache *pc, size_t *len)
{
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%spacked-refs", gitdir);
    struct stat st;
    *len = 0;
    if (stat(path, &st) != 0)
        return NULL;
    if (pc->data && pc->dev == st.st_dev && pc->ino == st.st_ino &&
        pc->size == (long long)st.st_size && pc->mtime_sec == (long long)st.st_mtim.tv_sec &&
        pc->mtime_nsec == (long)st.st_mtim.tv_nsec) {
        *len = pc->len;
        return pc->data;
    }
    free(pc->data);
    pc->data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = (size_t)st.st_size + 1, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    pc->data = buf;
    pc->len = n;
    pc->dev = st.st_dev;
    pc->ino = st.st_ino;
    pc->size = (long long)st.st_size;
    pc->mtime_sec = (long long)st.st_mtim.tv_sec;
    pc->mtime_nsec = (long)st.st_mtim.tv_nsec;
    *len = n;
    return buf;
}

void gitrepo_packed_cache_clear(gitrepo_packed_cache *pc)
{
    free(pc->data);
    memset(pc, 0, sizeof *pc);
}

/* The loose value of the ref at path: 1 with hex, 0 absent, -1 unusual (symbolic, garbage). */
static int loose_value(const char *path, char out[GITREPO_SHA_HEX])
{
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == EISDIR || errno == ENOTDIR ? 0 : -1;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0 && errno == EISDIR)
        return 0; /* an empty directory left where a ref may now go */
    if (n < GIT_OID_HEXSZ)
        return -1;
    for (int i = 0; i < GIT_OID_HEXSZ; i++)
        if (!strchr("0123456789abcdef", buf[i]))
            return -1;
    memcpy(out, buf, GIT_OID_HEXSZ);
    out[GIT_OID_HEXSZ] = '\0';
    return 1;
}

static void unlock_all(ref_lock *l, size_t n, const gitrepo_fs_aid *aid)
{
    for (size_t i = 0; i < n; i++) {
        if (l[i].fd >= 0)
            close(l[i].fd);
        l[i].fd = -1;
        if (l[i].locked) {
            char lock[PATH_MAX_LEN + 8];
            snprintf(lock, sizeof lock, "%s.lock", l[i].path);
            if (aid->spares && !l[i].written)
                gitrepo_spares_give(aid->spares, lock); /* empty: a spare again */
            else
                unlink(lock);
            l[i].locked = 0;
        }
    }
}

/* Creates the lock file: a spare linked into place (link(2) refuses an
 * existing name as O_EXCL does), else a new file. */
static int create_lock(ref_lock *l, const char *lock, const gitrepo_fs_aid *aid)
{
    char spare[PATH_MAX_LEN];
    unsigned long serial;
    if (gitrepo_spares_take(aid->spares, spare, sizeof spare, &serial) == 0) {
        if (link(spare, lock) == 0) {
            unlink(spare);
            return 0;
        }
        int err = errno;
        if (err == EEXIST || access(spare, F_OK) == 0) { /* the lock's problem, not the spare's */
            gitrepo_spares_untake(aid->spares, serial);
            errno = err;
            return -1;
        }
        /* the spare vanished: a new file, as without spares */
    }
    l->fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    return l->fd >= 0 ? 0 : -1;
}

static int lock_one(ref_lock *l, const gitrepo_fs_aid *aid)
{
    char lock[PATH_MAX_LEN + 8];
    snprintf(lock, sizeof lock, "%s.lock", l->path);
    int rc = create_lock(l, lock, aid);
    /* a directory may vanish between our mkdir and open (a concurrent prune) */
    for (int tries = 0; rc != 0 && errno == ENOENT && tries < 3; tries++) {
        make_parents(lock, l->gitdir_len + 5, aid); /* refs/ exists */
        rc = create_lock(l, lock, aid);
    }
    if (rc == 0) {
        l->locked = 1;
        return 0;
    }
    if (errno == EEXIST)
        return porch_error_set(409, "%s is being updated by another writer; retry", l->up->ref);
    if (errno == ENOTDIR || errno == EISDIR)
        return porch_error_set(409, "%s conflicts with an existing ref", l->up->ref);
    return porch_error_set(500, "cannot lock %s: %s", l->up->ref, strerror(errno));
}

static int apply_one(ref_lock *l, const gitrepo_fs_aid *aid)
{
    char lock[PATH_MAX_LEN + 8];
    snprintf(lock, sizeof lock, "%s.lock", l->path);
    if (!l->up->new_) { /* delete: the loose ref goes (to the trash), then its lock */
        if (gitrepo_chores_discard(aid->chores, aid->trash_dir, l->path) != 0 &&
            unlink(l->path) != 0 && errno != ENOENT)
            return porch_error_set(500, "cannot delete %s: %s", l->up->ref, strerror(errno));
        return 0;
    }
    char line[GIT_OID_HEXSZ + 2];
    snprintf(line, sizeof line, "%.40s\n", l->up->new_);
    l->written = 1;
    if (l->fd < 0) /* a spare (empty) made it: open it now, without O_TRUNC, which
                      makes ext4 start the file's write-back at close */
        l->fd = open(lock, O_WRONLY | O_CLOEXEC);
    ssize_t w = l->fd >= 0 ? write(l->fd, line, GIT_OID_HEXSZ + 1) : -1;
    int rc = l->fd >= 0 ? close(l->fd) : -1;
    l->fd = -1;
    if (w != GIT_OID_HEXSZ + 1 || rc != 0)
        return porch_error_set(500, "cannot write %s", l->up->ref);
    if (l->had_loose) /* the replaced file's inode is freed behind, in the trash */
        gitrepo_chores_keep(aid->chores, aid->trash_dir, l->path);
    if (rename(lock, l->path) != 0 && !(errno == EISDIR && rmdir(l->path) == 0 &&
                                        rename(lock, l->path) == 0))
        return porch_error_set(500, "cannot update %s: %s", l->up->ref, strerror(errno));
    l->locked = 0; /* the lock became the ref */
    return 0;
}

int gitrepo_refs_write_local(git_repository *remote, gitrepo_packed_cache *pc,
                             const gitrepo_fs_aid *aid, const gitrepo_refupdate *ups, size_t n,
                             int *handled)
{
    *handled = 0;
    const char *gitdir = git_repository_commondir(remote);
    if (!gitdir || n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int valid = 0;
        if (git_reference_name_is_valid(&valid, ups[i].ref) != 0 || !valid ||
            strncmp(ups[i].ref, "refs/", 5) != 0 ||
            strlen(gitdir) + strlen(ups[i].ref) >= PATH_MAX_LEN ||
            (ups[i].new_ && strlen(ups[i].new_) != GIT_OID_HEXSZ))
            return 0; /* libgit2 says what is wrong */
    }
    ref_lock *l = calloc(n, sizeof *l);
    if (!l)
        return 0;
    for (size_t i = 0; i < n; i++) {
        l[i].up = &ups[i];
        l[i].fd = -1;
        snprintf(l[i].path, sizeof l[i].path, "%s%s", gitdir, ups[i].ref);
        l[i].gitdir_len = strlen(gitdir);
    }
    qsort(l, n, sizeof *l, cmp_lock); /* one order for every writer */
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = lock_one(&l[i], aid);
    size_t plen = 0;
    const char *packed = NULL;
    int packed_read = 0, decline = 0;
    for (size_t i = 0; i < n && rc == 0 && !decline; i++) {
        char cur[GITREPO_SHA_HEX], in_packed[GITREPO_SHA_HEX] = "";
        int loose = loose_value(l[i].path, cur);
        l[i].had_loose = loose > 0;
        if (loose < 0) {
            decline = 1;
            break;
        }
        if (!loose || !l[i].up->new_) {
            if (!packed_read) {
                packed = packed_refs(gitdir, pc, &plen);
                packed_read = 1;
            }
            if (packed)
                packed_value(packed, plen, l[i].up->ref, in_packed);
        }
        if (!l[i].up->new_ && in_packed[0])
            decline = 1; /* deleting it rewrites packed-refs: libgit2's job */
        else
            rc = gitrepo_check_old(l[i].up, loose ? cur : in_packed);
    }
    if (decline || rc != 0) {
        unlock_all(l, n, aid);
        free(l);
        if (!decline)
            *handled = 1;
        return decline ? 0 : rc;
    }
    *handled = 1;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = apply_one(&l[i], aid);
    unlock_all(l, n, aid);
    free(l);
    return rc;
}
