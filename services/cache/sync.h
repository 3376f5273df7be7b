/* Repository synchronisation: turns each Repository object into the package
 * revisions and packages found in its remote, through porch-git-adapter.
 * A background thread syncs a repository when it is registered or its spec
 * changes, and every repository on a period; the `sync` op does one now
 * (the engine calls it after each write so readers see the result). */
#ifndef PORCH_CACHE_SYNC_H
#define PORCH_CACHE_SYNC_H

#include "bus/bus.h"
#include "store.h"

#define CACHE_KIND_REPOSITORY "repositories.config.porch.kpt.dev"
#define CACHE_KIND_REVISION "packagerevisions.porch.kpt.dev"
#define CACHE_KIND_PACKAGE "packages.porch.kpt.dev"
/* Users' labels and annotations of a package revision (stored in config.db). */
#define CACHE_KIND_REVMETA "packagerevmetas.porch.kpt.dev"

typedef struct cache_sync cache_sync;

/* `git` is borrowed and must outlive the syncer; period_s ≥ 1. */
int cache_sync_new(cache_store *store, bus_client *git, int period_s, cache_sync **out);
int cache_sync_start(cache_sync *sync);
/* Stops the thread (waiting at most 1 s) and frees; -1 when the thread was
 * still busy and had to be left running (nothing it uses may be freed then). */
int cache_sync_free(cache_sync *sync);

/* Syncs one repository now — only package `pkg` when not NULL (what the
 * engine asks after writing it: the cost does not grow with the repository).
 * `listed` (borrowed, may be NULL; only with pkg) is that package as the git
 * adapter listed it right after the write ({items}), used instead of asking
 * the adapter again. *summary (new reference, may be NULL) is {revisions,
 * packages, ready, message}. A missing Repository removes what was listed for
 * it (unregister) and answers 404. */
int cache_sync_repository(cache_sync *sync, const char *ns, const char *name, const char *pkg,
                          json_t *listed, json_t **summary);

/* Registers the `sync` op: {namespace, name} → summary. */
int cache_sync_register(bus_server *bus, cache_sync *sync);

#endif
