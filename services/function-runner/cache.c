/* LRU result cache: a hash table of buckets for lookup and a doubly linked
 * list for recency, under one mutex (entries are small and lookups short;
 * measured, the lock is not what evaluate spends its time on). */
#include "cache.h"

#include "error/error.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct fr_entry {
    unsigned char key[FR_KEY_LEN];
    json_t *value;
    size_t len;
    struct fr_entry *prev, *next; /* LRU list: head = most recent */
    struct fr_entry *chain;       /* hash bucket */
} fr_entry;

struct fr_cache {
    pthread_mutex_t mu;
    size_t max_entries, max_bytes;
    fr_entry **buckets;
    size_t nbuckets;
    fr_entry *head, *tail;
    fr_cache_stats st;
};

int fr_cache_new(size_t max_entries, size_t max_bytes, fr_cache **out)
{
    fr_cache *c = calloc(1, sizeof *c);
    if (!c)
        return porch_error_set(500, "out of memory");
    c->max_entries = max_entries;
    c->max_bytes = max_bytes;
    c->nbuckets = 64;
    while (c->nbuckets < max_entries * 2 && c->nbuckets < (1u << 20))
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return porch_error_set(500, "out of memory");
    }
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return 0;
}

void fr_cache_free(fr_cache *c)
{
    if (!c)
        return;
    for (fr_entry *e = c->head, *n; e; e = n) {
        n = e->next;
        json_decref(e->value);
        free(e);
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void fr_cache_key(const char *const *parts, const size_t *lens, size_t n,
                  unsigned char key[FR_KEY_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int kl = FR_KEY_LEN;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t i = 0; i < n; i++) {
        uint64_t l = lens[i];
        EVP_DigestUpdate(md, &l, sizeof l);
        if (l)
            EVP_DigestUpdate(md, parts[i], lens[i]);
    }
    EVP_DigestFinal_ex(md, key, &kl);
    EVP_MD_CTX_free(md);
}

static size_t bucket_of(const fr_cache *c, const unsigned char *key)
{
    size_t h;
    memcpy(&h, key, sizeof h);
    return h & (c->nbuckets - 1);
}

static void lru_unlink(fr_cache *c, fr_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(fr_cache *c, fr_entry *e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static fr_entry *find(fr_cache *c, const unsigned char *key)
{
    for (fr_entry *e = c->buckets[bucket_of(c, key)]; e; e = e->chain)
        if (!memcmp(e->key, key, FR_KEY_LEN))
            return e;
    return NULL;
}

static void drop(fr_cache *c, fr_entry *e)
{
    fr_entry **pp = &c->buckets[bucket_of(c, e->key)];
    while (*pp && *pp != e)
        pp = &(*pp)->chain;
    if (*pp)
        *pp = e->chain;
    lru_unlink(c, e);
    c->st.entries--;
    c->st.bytes -= e->len;
    json_decref(e->value);
    free(e);
}

json_t *fr_cache_get(fr_cache *c, const unsigned char key[FR_KEY_LEN])
{
    json_t *v = NULL;
    pthread_mutex_lock(&c->mu);
    fr_entry *e = c->max_entries ? find(c, key) : NULL;
    if (e) {
        lru_unlink(c, e);
        lru_push_front(c, e);
        v = json_incref(e->value);
        c->st.hits++;
    } else {
        c->st.misses++;
    }
    pthread_mutex_unlock(&c->mu);
    return v;
}

void fr_cache_put(fr_cache *c, const unsigned char key[FR_KEY_LEN], json_t *value, size_t bytes)
{
    if (!c->max_entries || bytes > c->max_bytes || !value)
        return;
    fr_entry *n = calloc(1, sizeof *n);
    if (!n)
        return;
    memcpy(n->key, key, FR_KEY_LEN);
    n->value = json_incref(value);
    n->len = bytes;
    pthread_mutex_lock(&c->mu);
    fr_entry *old = find(c, key);
    if (old)
        drop(c, old);
    while (c->tail && (c->st.entries + 1 > c->max_entries || c->st.bytes + bytes > c->max_bytes)) {
        drop(c, c->tail);
        c->st.evictions++;
    }
    size_t b = bucket_of(c, key);
    n->chain = c->buckets[b];
    c->buckets[b] = n;
    lru_push_front(c, n);
    c->st.entries++;
    c->st.bytes += bytes;
    pthread_mutex_unlock(&c->mu);
}

void fr_cache_stats_get(fr_cache *c, fr_cache_stats *st)
{
    pthread_mutex_lock(&c->mu);
    *st = c->st;
    pthread_mutex_unlock(&c->mu);
}
