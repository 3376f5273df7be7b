/* File-system chores done off a write's path by one background thread.
 * On ext4 without a journal (the project VM) making an inode scans past every
 * inode freed in the last minutes (20 µs per file on a quiet disk, 180 µs
 * after a churn), and freeing a file whose block was already written waits
 * for that write (0.2-0.6 ms). So spare empty files are made ahead (a write
 * renames or links one into place instead of creating a file), and files a
 * write drops are moved or linked to a trash directory and unlinked here. */
#include "internal.h"

#include "error/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHORES_QUEUE 1024
#define SPARES_TARGET 32
#define SPARES_ROOM (SPARES_TARGET + 8) /* taken ones handed back fit */
#define SPARE_DIRS_TARGET 8

struct gitrepo_spares {
    gitrepo_chores *chores;
    char *dir;
    unsigned long ready[SPARES_ROOM]; /* names (serials) of the spare files made */
    size_t n;
    unsigned long dirs[SPARE_DIRS_TARGET]; /* ... and of the spare directories (d/<serial>) */
    size_t n_dirs;
    int refilling, closing;
};

struct gitrepo_chores {
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    pthread_t thread;
    int stop, busy;
    char *unlinks[CHORES_QUEUE]; /* a ring of paths to unlink */
    size_t head, count;
    gitrepo_spares **pools;
    size_t n_pools, cap_pools;
    unsigned long serial;
};

/* A pool below its target that is not closing, or NULL. Under c->lock. */
static gitrepo_spares *pool_to_fill(gitrepo_chores *c)
{
    for (size_t i = 0; i < c->n_pools; i++)
        if (!c->pools[i]->closing && (c->pools[i]->n < SPARES_TARGET ||
                                      c->pools[i]->n_dirs < SPARE_DIRS_TARGET))
            return c->pools[i];
    return NULL;
}

/* Makes an empty file at path. Its inode is made unnamed (O_TMPFILE) and
 * then linked in: the slow part runs without the directory's lock, which a
 * write renaming a spare out of that directory needs. */
static int make_file(const char *dir, const char *path)
{
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        int rc = linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
        close(fd);
        if (rc == 0)
            return 0;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static void make_spare(gitrepo_chores *c, gitrepo_spares *s)
{
    unsigned long serial = ++c->serial;
    int dir = s->n_dirs < SPARE_DIRS_TARGET && s->n >= SPARES_TARGET / 2;
    s->refilling = 1;
    pthread_mutex_unlock(&c->lock);
    char path[4200];
    /* spare directories apart: making one holds its parent's lock */
    snprintf(path, sizeof path, "%s/%s%lu", s->dir, dir ? "d/" : "", serial);
    int rc = dir ? mkdir(path, 0777) : make_file(s->dir, path);
    pthread_mutex_lock(&c->lock);
    s->refilling = 0;
    if (rc == 0 && dir && s->n_dirs < SPARE_DIRS_TARGET)
        s->dirs[s->n_dirs++] = serial;
    else if (rc == 0 && !dir && s->n < SPARES_TARGET)
        s->ready[s->n++] = serial;
    else if (rc != 0)
        s->closing = 1; /* cannot make files there: stop trying, takes fall back */
    pthread_cond_broadcast(&c->idle);
}

static void *chores_main(void *arg)
{
    gitrepo_chores *c = arg;
    pthread_setname_np(pthread_self(), "git-chores"); /* for top -H and perf */
    pthread_mutex_lock(&c->lock);
    for (;;) {
        if (c->count > 0) {
            char *path = c->unlinks[c->head];
            c->head = (c->head + 1) % CHORES_QUEUE;
            c->count--;
            c->busy = 1;
            pthread_mutex_unlock(&c->lock);
            unlink(path);
            free(path);
            pthread_mutex_lock(&c->lock);
            continue;
        }
        gitrepo_spares *s = c->stop ? NULL : pool_to_fill(c);
        if (s) {
            c->busy = 1;
            make_spare(c, s);
            continue;
        }
        c->busy = 0;
        pthread_cond_broadcast(&c->idle);
        if (c->stop)
            break;
        pthread_cond_wait(&c->wake, &c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int gitrepo_chores_new(gitrepo_chores **out)
{
    *out = NULL;
    gitrepo_chores *c = calloc(1, sizeof *c);
    if (!c)
        return porch_error_set(500, "out of memory for the git chores");
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    pthread_cond_init(&c->idle, NULL);
    if (pthread_create(&c->thread, NULL, chores_main, c) != 0) {
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->wake);
        pthread_cond_destroy(&c->idle);
        free(c);
        return porch_error_set(500, "cannot start the git chores thread");
    }
    *out = c;
    return 0;
}

void gitrepo_chores_free(gitrepo_chores *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = 1; /* queued unlinks are still done */
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    free(c->pools);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->wake);
    pthread_cond_destroy(&c->idle);
    free(c);
}

void gitrepo_chores_flush(gitrepo_chores *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    while (c->count > 0 || c->busy || (!c->stop && pool_to_fill(c)))
        pthread_cond_wait(&c->idle, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

/* Queues path (owned) for unlinking; 0, or -1 when the queue is full (not taken). */
static int queue_unlink(gitrepo_chores *c, char *path)
{
    pthread_mutex_lock(&c->lock);
    int full = c->count == CHORES_QUEUE || c->stop;
    if (!full) {
        c->unlinks[(c->head + c->count) % CHORES_QUEUE] = path;
        c->count++;
        pthread_cond_signal(&c->wake);
    }
    pthread_mutex_unlock(&c->lock);
    return full ? -1 : 0;
}

/* A new name in trash_dir (malloc'd). */
static char *trash_name(gitrepo_chores *c, const char *trash_dir)
{
    pthread_mutex_lock(&c->lock);
    unsigned long serial = ++c->serial;
    pthread_mutex_unlock(&c->lock);
    size_t n = strlen(trash_dir) + 48;
    char *dst = malloc(n);
    /* pid and serial: unique between the processes of one host sharing a mirror */
    if (dst)
        snprintf(dst, n, "%s/%ld-%lu", trash_dir, (long)getpid(), serial);
    return dst;
}

/* link or rename `path` into the trash, making the directory once. */
static int into_trash(const char *path, const char *dst, const char *trash_dir, int keep)
{
    int rc = keep ? link(path, dst) : rename(path, dst);
    if (rc != 0 && errno == ENOENT && access(path, F_OK) == 0 &&
        (mkdir(trash_dir, 0700) == 0 || errno == EEXIST))
        rc = keep ? link(path, dst) : rename(path, dst);
    return rc;
}

static int to_trash(gitrepo_chores *c, const char *trash_dir, const char *path, int keep)
{
    if (!c || !trash_dir)
        return -1;
    char *dst = trash_name(c, trash_dir);
    if (!dst || into_trash(path, dst, trash_dir, keep) != 0) {
        free(dst);
        return -1; /* EXDEV, a vanished file and the like: the caller's way */
    }
    if (queue_unlink(c, dst) != 0) {
        unlink(dst);
        free(dst);
    }
    return 0;
}

int gitrepo_chores_discard(gitrepo_chores *c, const char *trash_dir, const char *path)
{
    return to_trash(c, trash_dir, path, 0);
}

int gitrepo_chores_keep(gitrepo_chores *c, const char *trash_dir, const char *path)
{
    return to_trash(c, trash_dir, path, 1);
}

void gitrepo_chores_sweep(const char *dir)
{
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d)
        return;
    int fd = dirfd(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            unlinkat(fd, e->d_name, 0) != 0 && errno == EISDIR)
            unlinkat(fd, e->d_name, AT_REMOVEDIR); /* a spare directory: empty */
    closedir(d);
}

/* Removes a pool's directory: its spare directories, files, and itself. */
static void remove_dir(const char *dir)
{
    char dirs[4300];
    snprintf(dirs, sizeof dirs, "%s/d", dir);
    gitrepo_chores_sweep(dirs);
    gitrepo_chores_sweep(dir);
    rmdir(dir);
}

/* Pools of processes that are gone (a crash, a restart) left their
 * directories in parent; a live process's, ours included, stay. */
static void sweep_dead_pools(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char *end = NULL;
        long pid = strtol(e->d_name, &end, 10);
        if (pid <= 0 || !end || *end != '-' || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
        remove_dir(path);
    }
    closedir(d);
}

gitrepo_spares *gitrepo_spares_new(gitrepo_chores *c, const char *parent, const char *target_dir)
{
    struct stat a, b;
    if (!c || (mkdir(parent, 0700) != 0 && errno != EEXIST) || stat(parent, &a) != 0 ||
        stat(target_dir, &b) != 0 || a.st_dev != b.st_dev)
        return NULL; /* another file system: files cannot be renamed across */
    sweep_dead_pools(parent);
    gitrepo_spares *s = calloc(1, sizeof *s);
    size_t n = strlen(parent) + 48;
    if (!s || !(s->dir = malloc(n))) {
        free(s);
        return NULL;
    }
    pthread_mutex_lock(&c->lock);
    unsigned long serial = ++c->serial;
    pthread_mutex_unlock(&c->lock);
    /* a directory per pool: two handles on one mirror never share spares */
    snprintf(s->dir, n, "%s/%ld-%lu", parent, (long)getpid(), serial);
    char dirs[4300];
    snprintf(dirs, sizeof dirs, "%s/d", s->dir);
    if (mkdir(s->dir, 0700) != 0 || mkdir(dirs, 0700) != 0) {
        rmdir(s->dir);
        free(s->dir);
        free(s);
        return NULL;
    }
    s->chores = c;
    pthread_mutex_lock(&c->lock);
    if (c->n_pools == c->cap_pools) {
        size_t cap = c->cap_pools ? 2 * c->cap_pools : 8;
        gitrepo_spares **bigger = realloc(c->pools, cap * sizeof *bigger);
        if (!bigger) {
            pthread_mutex_unlock(&c->lock);
            rmdir(s->dir);
            free(s->dir);
            free(s);
            return NULL;
        }
        c->pools = bigger;
        c->cap_pools = cap;
    }
    c->pools[c->n_pools++] = s;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    return s;
}

void gitrepo_spares_free(gitrepo_spares *s)
{
    if (!s)
        return;
    gitrepo_chores *c = s->chores;
    pthread_mutex_lock(&c->lock);
    s->closing = 1;
    while (s->refilling)
        pthread_cond_wait(&c->idle, &c->lock);
    for (size_t i = 0; i < c->n_pools; i++)
        if (c->pools[i] == s) {
            c->pools[i] = c->pools[--c->n_pools];
            break;
        }
    pthread_mutex_unlock(&c->lock);
    remove_dir(s->dir);
    free(s->dir);
    free(s);
}

int gitrepo_spares_take(gitrepo_spares *s, char *path, size_t len, unsigned long *serial)
{
    if (!s)
        return -1;
    gitrepo_chores *c = s->chores;
    pthread_mutex_lock(&c->lock);
    int have = s->n > 0 && !s->closing;
    if (have)
        *serial = s->ready[--s->n];
    pthread_cond_signal(&c->wake); /* make another */
    pthread_mutex_unlock(&c->lock);
    if (!have)
        return -1;
    snprintf(path, len, "%s/%lu", s->dir, *serial);
    return 0;
}

int gitrepo_spares_take_dir(gitrepo_spares *s, char *path, size_t len)
{
    if (!s)
        return -1;
    gitrepo_chores *c = s->chores;
    pthread_mutex_lock(&c->lock);
    int have = s->n_dirs > 0 && !s->closing;
    unsigned long serial = have ? s->dirs[--s->n_dirs] : 0;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    if (have)
        snprintf(path, len, "%s/d/%lu", s->dir, serial);
    return have ? 0 : -1;
}

void gitrepo_spares_untake(gitrepo_spares *s, unsigned long serial)
{
    gitrepo_chores *c = s->chores;
    pthread_mutex_lock(&c->lock);
    if (s->n < SPARES_ROOM)
        s->ready[s->n++] = serial; /* else it stays on disk until the pool goes */
    pthread_mutex_unlock(&c->lock);
}

void gitrepo_spares_give(gitrepo_spares *s, const char *path)
{
    gitrepo_chores *c = s->chores;
    pthread_mutex_lock(&c->lock);
    int room = s->n < SPARES_ROOM && !s->closing;
    unsigned long serial = ++c->serial;
    pthread_mutex_unlock(&c->lock);
    char dst[4200];
    snprintf(dst, sizeof dst, "%s/%lu", s->dir, serial);
    if (!room || rename(path, dst) != 0) {
        unlink(path); /* empty: freeing it costs little */
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (s->n < SPARES_ROOM)
        s->ready[s->n++] = serial;
    pthread_mutex_unlock(&c->lock);
}
