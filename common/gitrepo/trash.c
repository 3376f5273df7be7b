/* Deferred removal of deleted loose refs. On ext4 a ref file that replaced
 * another by rename (how every ref update lands) has its block allocated and
 * its write-back started at once, and unlinking it later waits for that
 * write and frees the block: 0.2-0.6 ms on the project VM, the largest single
 * step of a propose (which deletes the draft branch). A deletion therefore
 * renames the ref into a trash directory beside the mirror — for git the ref
 * is gone at that instant, as with an unlink — and one background thread per
 * process unlinks it. Trash left by a crash is swept when a repository is
 * opened; a trash directory on another file system means a plain unlink. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TRASH_QUEUE 256

typedef struct trash_queue {
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    char *paths[TRASH_QUEUE];
    size_t head, count;
    int busy; /* the thread is unlinking one it took */
    unsigned long serial;
} trash_queue;

static trash_queue trash = {.lock = PTHREAD_MUTEX_INITIALIZER,
                            .wake = PTHREAD_COND_INITIALIZER,
                            .idle = PTHREAD_COND_INITIALIZER};

static pthread_once_t trash_once = PTHREAD_ONCE_INIT;
static int trash_thread_ok;

static void *trash_loop(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&trash.lock);
    for (;;) {
        while (trash.count == 0) {
            trash.busy = 0;
            pthread_cond_broadcast(&trash.idle);
            pthread_cond_wait(&trash.wake, &trash.lock);
        }
        char *path = trash.paths[trash.head];
        trash.head = (trash.head + 1) % TRASH_QUEUE;
        trash.count--;
        trash.busy = 1;
        pthread_mutex_unlock(&trash.lock);
        unlink(path);
        free(path);
        pthread_mutex_lock(&trash.lock);
    }
    return NULL;
}

static void trash_start(void)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    trash_thread_ok = pthread_create(&t, &attr, trash_loop, NULL) == 0;
    pthread_attr_destroy(&attr);
    if (trash_thread_ok)
        atexit(gitrepo_trash_flush);
}

int gitrepo_trash_move(const char *trash_dir, const char *path)
{
    pthread_once(&trash_once, trash_start);
    if (!trash_dir || !*trash_dir || !trash_thread_ok)
        return -1;
    pthread_mutex_lock(&trash.lock);
    int full = trash.count == TRASH_QUEUE;
    unsigned long serial = ++trash.serial;
    pthread_mutex_unlock(&trash.lock);
    if (full)
        return -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    size_t n = strlen(trash_dir) + 64;
    char *dst = malloc(n);
    if (!dst)
        return -1;
    /* pid, time and a serial: unique even between replicas sharing a volume */
    snprintf(dst, n, "%s/%ld-%lx-%lu", trash_dir, (long)getpid(), (unsigned long)ts.tv_nsec,
             serial);
    int rc = rename(path, dst);
    if (rc != 0 && errno == ENOENT && access(path, F_OK) == 0 && mkdir(trash_dir, 0700) == 0)
        rc = rename(path, dst);
    if (rc != 0) {
        free(dst);
        return -1; /* EXDEV and the like: the caller unlinks */
    }
    pthread_mutex_lock(&trash.lock);
    if (trash.count == TRASH_QUEUE) { /* filled meanwhile: this one now */
        pthread_mutex_unlock(&trash.lock);
        unlink(dst);
        free(dst);
        return 0;
    }
    trash.paths[(trash.head + trash.count) % TRASH_QUEUE] = dst;
    trash.count++;
    pthread_cond_signal(&trash.wake);
    pthread_mutex_unlock(&trash.lock);
    return 0;
}

void gitrepo_trash_flush(void)
{
    if (!trash_thread_ok)
        return;
    pthread_mutex_lock(&trash.lock);
    while (trash.count > 0 || trash.busy)
        pthread_cond_wait(&trash.idle, &trash.lock);
    pthread_mutex_unlock(&trash.lock);
}

void gitrepo_trash_sweep(const char *trash_dir)
{
    DIR *d = trash_dir ? opendir(trash_dir) : NULL;
    if (!d)
        return;
    int fd = dirfd(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(fd, e->d_name, 0);
    closedir(d);
}
