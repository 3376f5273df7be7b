/* The git-adapter's bus ops (schemas in schemas/bus/ops/git-adapter.<verb>.json)
 * and the table of open repositories they share: one entry per
 * <namespace>/<repository>, each with its own mutex so requests on one
 * repository run one at a time while other repositories proceed. */
#ifndef PORCH_GIT_ADAPTER_OPS_H
#define PORCH_GIT_ADAPTER_OPS_H

#include "bus/bus.h"
#include "gitrepo/gitrepo.h"

#include <pthread.h>

typedef struct ga_repo {
    char key[512];        /* "<namespace>/<repository>" */
    pthread_mutex_t lock; /* held for the whole of each op on this repository */
    int refs;             /* users; the entry is freed when closed and unused */
    int closed;
    gitrepo *repo;
    json_t *config; /* the open args (without credentials' values changing identity) */
    struct ga_repo *next;
} ga_repo;

typedef struct ga_table {
    pthread_mutex_t lock; /* guards the list and the refs counts */
    ga_repo *head;
    const char *mirrors_dir;
    gitrepo_chores *chores; /* the repositories' file-system chores (NULL: done inline) */
} ga_table;

void ga_table_init(ga_table *t, const char *mirrors_dir);
void ga_table_free(ga_table *t);

/* Registers open, check, close, list, read, write_draft, set_lifecycle and delete. */
int ga_ops_register(bus_server *srv, ga_table *t);

#endif
