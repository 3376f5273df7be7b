/* lru_cache (see lru.h): a hash table with chained buckets whose entries also
 * sit on a recency list; one mutex; eviction from the cold end of the list. */
#include "lru/lru.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LRU_BUCKETS 4096

typedef struct lru_entry {
    char *key;
    char *data;
    size_t len, bytes;
    struct lru_entry *chain;         /* next in the bucket */
    struct lru_entry *newer, *older; /* recency list */
} lru_entry;

struct lru_cache {
    pthread_mutex_t lock;
    size_t max_bytes, bytes, count;
    lru_entry *newest, *oldest;
    lru_entry *buckets[LRU_BUCKETS];
};

lru_cache *lru_new(size_t max_bytes)
{
    lru_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    c->max_bytes = max_bytes;
    return c;
}

static void entry_free(lru_entry *e)
{
    free(e->key);
    free(e->data);
    free(e);
}

void lru_free(lru_cache *c)
{
    if (!c)
        return;
    for (lru_entry *e = c->newest, *next; e; e = next) {
        next = e->older;
        entry_free(e);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static size_t bucket_of(const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h % LRU_BUCKETS);
}

static lru_entry **find_slot(lru_cache *c, const char *key)
{
    lru_entry **slot = &c->buckets[bucket_of(key)];
    while (*slot && strcmp((*slot)->key, key) != 0)
        slot = &(*slot)->chain;
    return slot;
}

static void unlink_recency(lru_cache *c, lru_entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void push_newest(lru_cache *c, lru_entry *e)
{
    e->older = c->newest;
    e->newer = NULL;
    if (c->newest)
        c->newest->newer = e;
    c->newest = e;
    if (!c->oldest)
        c->oldest = e;
}

static void remove_entry(lru_cache *c, lru_entry **slot)
{
    lru_entry *e = *slot;
    *slot = e->chain;
    unlink_recency(c, e);
    c->bytes -= e->bytes;
    c->count--;
    entry_free(e);
}

void lru_put(lru_cache *c, const char *key, const void *data, size_t len)
{
    if (!c || !key || (!data && len))
        return;
    size_t bytes = strlen(key) + len;
    if (bytes > c->max_bytes)
        return;
    lru_entry *e = calloc(1, sizeof *e);
    char *k = strdup(key), *d = malloc(len + 1);
    if (!e || !k || !d) {
        free(e);
        free(k);
        free(d);
        return;
    }
    if (len)
        memcpy(d, data, len);
    d[len] = '\0';
    *e = (lru_entry){.key = k, .data = d, .len = len, .bytes = bytes};
    pthread_mutex_lock(&c->lock);
    lru_entry **slot = find_slot(c, key);
    if (*slot)
        remove_entry(c, slot);
    while (c->oldest && c->bytes + bytes > c->max_bytes)
        remove_entry(c, find_slot(c, c->oldest->key));
    slot = find_slot(c, key);
    *slot = e;
    push_newest(c, e);
    c->bytes += bytes;
    c->count++;
    pthread_mutex_unlock(&c->lock);
}

int lru_get(lru_cache *c, const char *key, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!c || !key)
        return 0;
    pthread_mutex_lock(&c->lock);
    lru_entry *e = *find_slot(c, key);
    if (e) {
        unlink_recency(c, e);
        push_newest(c, e);
        *out = malloc(e->len + 1);
        if (*out) {
            memcpy(*out, e->data, e->len + 1);
            *len = e->len;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return *out != NULL;
}

int lru_has(lru_cache *c, const char *key)
{
    if (!c || !key)
        return 0;
    pthread_mutex_lock(&c->lock);
    int found = *find_slot(c, key) != NULL;
    pthread_mutex_unlock(&c->lock);
    return found;
}

void lru_remove(lru_cache *c, const char *key)
{
    if (!c || !key)
        return;
    pthread_mutex_lock(&c->lock);
    lru_entry **slot = find_slot(c, key);
    if (*slot)
        remove_entry(c, slot);
    pthread_mutex_unlock(&c->lock);
}

void lru_usage(lru_cache *c, size_t *entries, size_t *bytes)
{
    pthread_mutex_lock(&c->lock);
    *entries = c->count;
    *bytes = c->bytes;
    pthread_mutex_unlock(&c->lock);
}
