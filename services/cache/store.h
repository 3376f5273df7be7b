/* The cache's SQLite store: Kubernetes-style objects keyed by (kind,
 * namespace, name) and the event log whose sequence numbers are the
 * resourceVersions. Opened in WAL mode under the data directory. Metadata
 * derived from the remotes can be rebuilt; standalone-mode objects
 * (Repository, Namespace, Secret) live only here. */
#ifndef PORCH_CACHE_STORE_H
#define PORCH_CACHE_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cache_store cache_store;

typedef enum { CACHE_PUT_CREATE = 0, CACHE_PUT_UPDATE, CACHE_PUT_UPSERT } cache_put_mode;

/* How many events are kept for watchers to resume from. */
#define CACHE_EVENTS_RETAINED 10000

int cache_store_open(const char *path, cache_store **out);
void cache_store_close(cache_store *store);
/* Changes how many events are retained (tests; CACHE_EVENTS_RETAINED by default). */
void cache_store_set_retention(cache_store *store, int64_t events);
/* Runs a trivial query; fills `result` with journal mode and current event sequence. */
int cache_store_check(cache_store *store, json_t *result);

/* Writes an object (borrowed) and logs an ADDED or MODIFIED event. On create,
 * metadata.uid (unless given), creationTimestamp and generation are set; on
 * update they are kept from the stored object and generation grows when
 * `spec` changed. A non-empty `expected_rv` must equal the stored
 * resourceVersion (else 409 Conflict). `*stored` (new reference) is the object
 * as stored, with its new resourceVersion. Errors: 409 AlreadyExists on create
 * of an existing object, 404 on update of a missing one. */
int cache_store_put(cache_store *store, const char *kind, const char *ns, const char *name,
                    json_t *object, cache_put_mode mode, const char *expected_rv, json_t **stored);

/* Runs the calling thread's next store operations as one transaction (each
 * still all-or-nothing through a savepoint), holding the store for others
 * until cache_store_batch_end, which commits (-1 and rolled back on failure).
 * Many small commits cost a WAL write each; a sync of thousands of revisions
 * batches them in chunks. Batches nest. */
void cache_store_batch_begin(cache_store *store);
int cache_store_batch_end(cache_store *store);

int cache_store_get(cache_store *store, const char *kind, const char *ns, const char *name,
                    json_t **object);

/* Lists objects of `kind` in `ns` (NULL or "" = every namespace) ordered by
 * namespace then name; at most `limit` (0 = all) after the `cont` token.
 * `*next` (malloc'd, NULL at the end) continues; `*rv` is the list's resourceVersion. */
int cache_store_list(cache_store *store, const char *kind, const char *ns, size_t limit,
                     const char *cont, json_t **items, char **next, int64_t *rv);

/* Objects of `kind` in `ns` whose spec.repository is `owner` and, when `grp`
 * is not NULL, whose spec.packageName is `grp` — by index, not by scanning. */
int cache_store_list_owned(cache_store *store, const char *kind, const char *ns, const char *owner,
                           const char *grp, json_t **items);

/* Objects of `kind` in `ns` of repository `owner` whose spec.packageName is
 * `path`, lies under it ("path/…") or above it (a parent directory of it) —
 * the packages a new package at `path` would nest with (spec §3.6). By index;
 * may hold a few more (names that only share the prefix): callers compare. */
int cache_store_list_overlapping(cache_store *store, const char *kind, const char *ns,
                                 const char *owner, const char *path, json_t **items);

/* Objects of `kind` in `ns` made from revision `upstream` (their first task
 * clones it, or upgrades to it), by index; *items is a new array. */
int cache_store_list_referencing(cache_store *store, const char *kind, const char *ns,
                                 const char *upstream, json_t **items);

/* Deletes an object, logging a DELETED event; `expected_rv`/`expected_uid`
 * are preconditions when non-empty (409 when they differ). */
int cache_store_delete(cache_store *store, const char *kind, const char *ns, const char *name,
                       const char *expected_rv, const char *expected_uid, json_t **deleted);

/* Events after `since` for the listed kinds (NULL = all): an array of
 * {type, kind, object, resourceVersion}. Waits up to `wait_ms` for one to
 * arrive. 410 Expired when `since` is older than the retained log. */
int cache_store_events(cache_store *store, json_t *kinds, int64_t since, size_t limit,
                       int wait_ms, json_t **events, int64_t *rv);

#endif
