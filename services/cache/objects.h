/* The cache's object ops on the bus: put, get, list, delete and events
 * (the watch feed). Argument checking lives here; storage in store.c. */
#ifndef PORCH_CACHE_OBJECTS_H
#define PORCH_CACHE_OBJECTS_H

#include "bus/bus.h"
#include "store.h"

int cache_objects_register(bus_server *bus, cache_store *store);

#endif
