/* Watch: ONE background pump per apiserver process long-polls cache.events
 * and appends every event to a shared ring; each HTTP watcher (a civetweb
 * worker thread) waits on the ring's condition variable, filters by kind,
 * namespace and selectors, and writes chunked JSON lines. Resuming from a
 * resourceVersion replays from the ring (or once from the cache when the ring
 * has moved on); a version the cache no longer has is 410 Gone. */
#include "apiserver.h"

#include "error/error.h"
#include "log/log.h"

#include <civetweb.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Events kept for watchers that fall behind or resume: each holds its parsed
 * object (~3 KB for a package revision); older ones are read back from the
 * cache (catch_up). Kubernetes' watch cache keeps 100 per resource. */
#define HUB_RING 256
/* Events a watcher copies out of the ring per wake-up. */
#define WATCH_BATCH 64
#define HUB_POLL_MS 1000
#define HUB_QUIET_MS 50 /* no event for this long after a batch: trim memory */
#define WATCH_DEFAULT_TIMEOUT_S 1800
#define WATCH_BOOKMARK_EVERY_S 60

typedef struct hub_event {
    int64_t rv;
    char type[12];
    char *kind;
    json_t *object;
} hub_event;

struct apiserver_watch_hub {
    bus_client *cache;
    apiserver_index *index;
    pthread_t thread;
    int started;
    int stop;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    hub_event ring[HUB_RING];
    size_t head;  /* next slot to write */
    size_t count; /* events held */
    int64_t base; /* the ring holds every event with base < rv <= last */
    int64_t last;
    int ready;
};

/* ---- the pump ---- */

static void ring_clear(apiserver_watch_hub *hub)
{
    for (size_t i = 0; i < HUB_RING; i++) {
        free(hub->ring[i].kind);
        json_decref(hub->ring[i].object);
        memset(&hub->ring[i], 0, sizeof(hub->ring[i]));
    }
    hub->head = hub->count = 0;
}

static void ring_push(apiserver_watch_hub *hub, json_t *ev)
{
    hub_event *slot = &hub->ring[hub->head];
    if (hub->count == HUB_RING) {
        hub->base = slot->rv; /* evicting the oldest */
        free(slot->kind);
        json_decref(slot->object);
    } else {
        hub->count++;
    }
    slot->rv = strtoll(json_string_value(json_object_get(ev, "resourceVersion"))
                           ? json_string_value(json_object_get(ev, "resourceVersion"))
                           : "0",
                       NULL, 10);
    snprintf(slot->type, sizeof(slot->type), "%s",
             json_string_value(json_object_get(ev, "type"))
                 ? json_string_value(json_object_get(ev, "type"))
                 : "MODIFIED");
    const char *kind = json_string_value(json_object_get(ev, "kind"));
    slot->kind = strdup(kind ? kind : "");
    slot->object = json_incref(json_object_get(ev, "object"));
    hub->head = (hub->head + 1) % HUB_RING;
}

/* The cache's current resourceVersion (its event sequence). */
static int current_rv(bus_client *cache, int64_t *rv)
{
    json_t *result = NULL;
    json_t *args = json_pack("{s:s, s:i}", "kind", "namespaces", "limit", 1);
    int rc = bus_client_call(cache, "cache.list", args, NULL, &result, NULL);
    json_decref(args);
    if (rc != 0)
        return -1;
    const char *s = json_string_value(json_object_get(result, "resourceVersion"));
    *rv = s ? strtoll(s, NULL, 10) : 0;
    json_decref(result);
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Fills the index from cache.list of every stored kind; events after the
 * version read before this call are applied on top, so the result converges. */
static int load_index(apiserver_watch_hub *hub)
{
    static const char *const bus_kinds[] = {
        "namespaces", "secrets", "repositories.config.porch.kpt.dev",
        "packagerevisions.porch.kpt.dev", "packages.porch.kpt.dev"};
    apiserver_index_reset(hub->index);
    for (size_t k = 0; k < sizeof(bus_kinds) / sizeof(bus_kinds[0]); k++) {
        char cont[640] = "";
        for (;;) {
            json_t *args =
                json_pack("{s:s, s:s, s:i}", "kind", bus_kinds[k], "namespace", "", "limit", 1000);
            if (cont[0])
                json_object_set_new(args, "continue", json_string(cont));
            json_t *result = NULL;
            int rc = bus_client_call(hub->cache, "cache.list", args, NULL, &result, NULL);
            json_decref(args);
            if (rc != 0)
                return -1;
            size_t i;
            json_t *obj;
            json_array_foreach(json_object_get(result, "items"), i, obj)
                apiserver_index_apply(hub->index, "ADDED", bus_kinds[k], obj);
            const char *next = json_string_value(json_object_get(result, "continue"));
            snprintf(cont, sizeof(cont), "%s", next ? next : "");
            json_decref(result);
            if (cont[0] == '\0')
                break;
        }
    }
    apiserver_index_set_ready(hub->index);
    return 0;
}

static void *pump(void *arg)
{
    apiserver_watch_hub *hub = arg;
    log_set_rid("watch-pump");
    int quiet = 1; /* the last poll brought no event */
    while (!__atomic_load_n(&hub->stop, __ATOMIC_ACQUIRE)) {
        if (!hub->ready) {
            int64_t rv;
            if (current_rv(hub->cache, &rv) != 0 || load_index(hub) != 0) {
                sleep_ms(500);
                continue;
            }
            pthread_mutex_lock(&hub->mu);
            ring_clear(hub);
            hub->base = hub->last = rv;
            hub->ready = 1;
            pthread_cond_broadcast(&hub->cond);
            pthread_mutex_unlock(&hub->mu);
        }
        char since[32];
        snprintf(since, sizeof(since), "%lld", (long long)hub->last);
        json_t *args =
            json_pack("{s:s, s:i, s:i}", "since", since, "limit", 1000, "wait_ms",
                      quiet ? HUB_POLL_MS : HUB_QUIET_MS);
        /* Give freed memory (TLS handshakes, big lists, event fan-out) back
         * while the events have stopped: after a batch a short poll, and a
         * trim only before polls that follow an empty one. (A trim after
         * every write ran beside the request still being answered, and it
         * madvises every free page: a TLB shootdown on each CPU.) */
        if (quiet)
            malloc_trim(0);
        json_t *result = NULL;
        bus_call_opts opts = {.rid = NULL, .caller = NULL, .deadline_ms = HUB_POLL_MS + 5000};
        int rc = bus_client_call(hub->cache, "cache.events", args, &opts, &result, NULL);
        json_decref(args);
        if (rc != 0) {
            if (porch_error_last()->code == 410) {
                log_warn("watch pump fell behind the cache's history; restarting watchers");
                pthread_mutex_lock(&hub->mu);
                hub->ready = 0;
                pthread_mutex_unlock(&hub->mu);
            } else {
                sleep_ms(500);
            }
            continue;
        }
        const char *rv = json_string_value(json_object_get(result, "resourceVersion"));
        quiet = json_array_size(json_object_get(result, "events")) == 0;
        size_t i;
        json_t *ev;
        json_array_foreach(json_object_get(result, "events"), i, ev) apiserver_index_apply(
            hub->index, json_string_value(json_object_get(ev, "type")),
            json_string_value(json_object_get(ev, "kind")), json_object_get(ev, "object"));
        pthread_mutex_lock(&hub->mu);
        json_array_foreach(json_object_get(result, "events"), i, ev) ring_push(hub, ev);
        if (rv != NULL && strtoll(rv, NULL, 10) > hub->last)
            hub->last = strtoll(rv, NULL, 10);
        pthread_cond_broadcast(&hub->cond);
        pthread_mutex_unlock(&hub->mu);
        json_decref(result);
    }
    return NULL;
}

int apiserver_watch_hub_new(bus_client *cache, apiserver_watch_hub **out)
{
    apiserver_watch_hub *hub = calloc(1, sizeof(*hub));
    if (hub == NULL)
        return porch_error_set(500, "out of memory");
    hub->cache = cache;
    if (apiserver_index_new(&hub->index) != 0) {
        free(hub);
        return -1;
    }
    pthread_mutex_init(&hub->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&hub->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&hub->thread, NULL, pump, hub) != 0) {
        free(hub);
        return porch_error_set(500, "cannot start the watch pump thread");
    }
    hub->started = 1;
    *out = hub;
    return 0;
}

void apiserver_watch_hub_free(apiserver_watch_hub *hub)
{
    if (hub == NULL)
        return;
    __atomic_store_n(&hub->stop, 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(&hub->mu);
    pthread_cond_broadcast(&hub->cond);
    pthread_mutex_unlock(&hub->mu);
    if (hub->started)
        pthread_join(hub->thread, NULL);
    ring_clear(hub);
    apiserver_index_free(hub->index);
    pthread_mutex_destroy(&hub->mu);
    pthread_cond_destroy(&hub->cond);
    free(hub);
}

apiserver_index *apiserver_watch_hub_index(apiserver_watch_hub *hub, int timeout_ms, char *rv,
                                           size_t cap)
{
    int64_t want;
    if (current_rv(hub->cache, &want) != 0)
        return NULL;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&hub->mu);
    while ((!hub->ready || hub->last < want) && !hub->stop)
        if (pthread_cond_timedwait(&hub->cond, &hub->mu, &until) != 0)
            break;
    int ok = hub->ready && hub->last >= want;
    snprintf(rv, cap, "%lld", (long long)hub->last);
    pthread_mutex_unlock(&hub->mu);
    return ok ? hub->index : NULL;
}

/* ---- one watcher ---- */

typedef struct watcher {
    apiserver_request *req;
    apiserver_filter *filter;
    int64_t cursor;
    int failed; /* the client went away */
} watcher;

static int send_text(watcher *w, const char *text, size_t len)
{
    if (w->failed)
        return -1;
    if (mg_send_chunk(w->req->conn, text, (unsigned)len) <= 0) {
        w->failed = 1;
        return -1;
    }
    return 0;
}

/* Writes {"type":..,"object":..}\n, the object as a Table row when asked. */
static int send_event(watcher *w, const char *type, json_t *obj)
{
    json_t *out = obj;
    if (w->req->as_table && strcmp(type, "BOOKMARK") != 0 && strcmp(type, "ERROR") != 0) {
        json_t *items = json_pack("[O]", obj);
        out = apiserver_table_new(w->req->kind, items, w->req->query->include_object);
        json_decref(items);
    } else {
        json_incref(out);
    }
    json_t *ev = json_pack("{s:s, s:o}", "type", type, "object", out);
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    if (text == NULL)
        return -1;
    size_t len = strlen(text);
    text[len] = '\n'; /* replaces the NUL; sent with its length */
    int rc = send_text(w, text, len + 1);
    free(text);
    return rc;
}

static int send_bookmark(watcher *w, int initial_end)
{
    char rv[32], av[96];
    snprintf(rv, sizeof(rv), "%lld", (long long)w->cursor);
    const apiserver_kind *k = w->req->kind;
    if (k->group[0])
        snprintf(av, sizeof(av), "%s/%s", k->group, k->version);
    else
        snprintf(av, sizeof(av), "%s", k->version);
    json_t *obj = json_pack("{s:s, s:s, s:{s:s}}", "kind", k->kind, "apiVersion", av, "metadata",
                            "resourceVersion", rv);
    if (initial_end)
        json_object_set_new(json_object_get(obj, "metadata"), "annotations",
                            json_pack("{s:s}", "k8s.io/initial-events-end", "true"));
    int rc = send_event(w, "BOOKMARK", obj);
    json_decref(obj);
    return rc;
}

static void stamp(const apiserver_kind *k, json_t *obj)
{
    char av[96];
    if (!json_is_object(obj))
        return;
    if (k->group[0])
        snprintf(av, sizeof(av), "%s/%s", k->group, k->version);
    else
        snprintf(av, sizeof(av), "%s", k->version);
    json_object_set_new(obj, "apiVersion", json_string(av));
    json_object_set_new(obj, "kind", json_string(k->kind));
}

/* Sends one event object if it is of our kind and passes the filter. */
static int maybe_send(watcher *w, const char *type, const char *kind, json_t *obj)
{
    if (strcmp(kind, w->req->kind->bus_kind) != 0 || !json_is_object(obj) ||
        !apiserver_filter_match(w->filter, obj))
        return 0;
    json_t *copy = json_copy(obj); /* shallow: shared with other watchers */
    stamp(w->req->kind, copy);
    int rc = send_event(w, type, copy);
    json_decref(copy);
    return rc;
}

/* The initial state as ADDED events; sets the cursor to the list's version. */
static int send_initial(watcher *w)
{
    apiserver_request *req = w->req;
    char cont[640] = "";
    const char *ns = req->kind->namespaced ? req->route->ns : "";
    for (int first = 1;; first = 0) {
        json_t *args = json_pack("{s:s, s:s, s:i}", "kind", req->kind->bus_kind, "namespace", ns,
                                 "limit", 500);
        if (cont[0])
            json_object_set_new(args, "continue", json_string(cont));
        json_t *result = NULL;
        bus_call_opts opts = {.rid = req->rid, .caller = req->caller, .deadline_ms = 0};
        int rc = bus_client_call(req->ctx->cache, "cache.list", args, &opts, &result, NULL);
        json_decref(args);
        if (rc != 0)
            return -1;
        if (first) {
            const char *rv = json_string_value(json_object_get(result, "resourceVersion"));
            w->cursor = rv ? strtoll(rv, NULL, 10) : 0;
        }
        size_t i;
        json_t *obj;
        json_array_foreach(json_object_get(result, "items"), i, obj)
            maybe_send(w, "ADDED", req->kind->bus_kind, obj);
        const char *next = json_string_value(json_object_get(result, "continue"));
        if (next == NULL || w->failed) {
            json_decref(result);
            return 0;
        }
        snprintf(cont, sizeof(cont), "%s", next);
        json_decref(result);
    }
}

/* Catches up from the cache itself when the ring no longer reaches back to
 * the cursor; -1 with 410 when the cache has dropped that history too. */
static int catch_up(watcher *w)
{
    char since[32];
    snprintf(since, sizeof(since), "%lld", (long long)w->cursor);
    json_t *args = json_pack("{s:s, s:[s], s:i, s:i}", "since", since, "kinds",
                             w->req->kind->bus_kind, "limit", 1000, "wait_ms", 0);
    json_t *result = NULL;
    bus_call_opts opts = {.rid = w->req->rid, .caller = w->req->caller, .deadline_ms = 0};
    int rc = bus_client_call(w->req->ctx->cache, "cache.events", args, &opts, &result, NULL);
    json_decref(args);
    if (rc != 0)
        return -1;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(result, "events"), i, ev)
    {
        const char *type = json_string_value(json_object_get(ev, "type"));
        const char *kind = json_string_value(json_object_get(ev, "kind"));
        maybe_send(w, type ? type : "MODIFIED", kind ? kind : "", json_object_get(ev, "object"));
    }
    const char *rv = json_string_value(json_object_get(result, "resourceVersion"));
    int64_t next = rv ? strtoll(rv, NULL, 10) : w->cursor;
    w->cursor = next > w->cursor ? next : w->cursor;
    json_decref(result);
    return 0;
}

static int64_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* Copies the ring's events after the cursor (new references) into out. */
static size_t take_events(apiserver_watch_hub *hub, int64_t cursor, hub_event *out, size_t cap)
{
    size_t n = 0;
    size_t start = (hub->head + HUB_RING - hub->count) % HUB_RING;
    for (size_t i = 0; i < hub->count && n < cap; i++) {
        hub_event *e = &hub->ring[(start + i) % HUB_RING];
        if (e->rv <= cursor)
            continue;
        out[n] = *e;
        out[n].kind = strdup(e->kind);
        json_incref(out[n].object);
        n++;
    }
    return n;
}

/* Follows the hub until timeout or the client leaves. */
static void follow(watcher *w, int64_t deadline)
{
    apiserver_watch_hub *hub = w->req->ctx->watch;
    hub_event *batch = malloc(sizeof(hub_event) * WATCH_BATCH);
    int64_t next_bookmark = now_s() + WATCH_BOOKMARK_EVERY_S;
    while (batch != NULL && !w->failed && now_s() < deadline) {
        /* A client that went away frees its thread now, not at the next
         * event of its kind or the timeout (30 minutes by default). */
        if (apiserver_http_peer_gone(w->req->conn)) {
            w->failed = 1;
            break;
        }
        pthread_mutex_lock(&hub->mu);
        if ((!hub->ready || hub->last <= w->cursor) && !hub->stop) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&hub->cond, &hub->mu, &until);
        }
        if (hub->stop) {
            pthread_mutex_unlock(&hub->mu);
            break;
        }
        size_t n = 0;
        int behind = hub->ready && w->cursor < hub->base;
        int64_t last = hub->last;
        if (hub->ready && !behind)
            n = take_events(hub, w->cursor, batch, WATCH_BATCH);
        pthread_mutex_unlock(&hub->mu);
        if (behind) {
            if (catch_up(w) != 0)
                break;
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            maybe_send(w, batch[i].type, batch[i].kind, batch[i].object);
            w->cursor = batch[i].rv;
            free(batch[i].kind);
            json_decref(batch[i].object);
        }
        if (n < WATCH_BATCH && last > w->cursor)
            w->cursor = last; /* the rest of the window held no events of ours */
        if (w->req->query->allow_bookmarks && now_s() >= next_bookmark) {
            send_bookmark(w, 0);
            next_bookmark = now_s() + WATCH_BOOKMARK_EVERY_S;
        }
    }
    free(batch);
}

/* Gives back the pages of this thread's stack below the current frame. A
 * watch holds its civetweb worker thread for up to 30 minutes, and the TLS
 * handshake and request parsing before it touched ~50 KB of stack that
 * following the hub never needs again; with 200 watches that was 8 MB of RSS.
 * Pages below the stack pointer hold nothing live (one page of margin covers
 * the red zone), and touching them again just maps fresh zero pages. */
static void release_stack_below(void)
{
    pthread_attr_t attr;
    void *lo = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    int rc = pthread_attr_getstack(&attr, &lo, &size);
    pthread_attr_destroy(&attr);
    long page = sysconf(_SC_PAGESIZE);
    if (rc != 0 || lo == NULL || page <= 0)
        return;
    char here;
    uintptr_t sp = (uintptr_t)&here;
    uintptr_t low = ((uintptr_t)lo + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t high = (sp & ~((uintptr_t)page - 1)) - 2 * (uintptr_t)page;
    if (sp < (uintptr_t)lo || sp > (uintptr_t)lo + size || high <= low)
        return;
    madvise((void *)low, high - low, MADV_DONTNEED);
}

static int gone(apiserver_request *req, const char *rv)
{
    porch_error_set_reason(410, "Expired", "too old resource version: %s", rv);
    return apiserver_resource_reply_error(req);
}

int apiserver_watch_serve(apiserver_request *req, apiserver_filter *filter)
{
    if (req->kind->store == APISERVER_STORE_PRR || req->ctx->watch == NULL) {
        porch_error_set_reason(405, "MethodNotAllowed", "watch is not supported on %s",
                               req->kind->resource);
        return apiserver_resource_reply_error(req);
    }
    watcher w = {.req = req, .filter = filter, .cursor = 0, .failed = 0};
    const char *rv = req->query->resource_version;
    int initial = rv[0] == '\0' || strcmp(rv, "0") == 0 || req->query->send_initial_events == 1;
    if (!initial) {
        char *end = NULL;
        long long v = strtoll(rv, &end, 10);
        if (*end != '\0' || v < 0) {
            porch_error_set(400, "resourceVersion \"%s\" is not a valid resource version", rv);
            return apiserver_resource_reply_error(req);
        }
        w.cursor = v;
        /* Check the version is still served before committing to a 200; a
         * version from the future gets 3 s to appear, as in Kubernetes. */
        apiserver_watch_hub *hub = req->ctx->watch;
        pthread_mutex_lock(&hub->mu);
        for (int i = 0; i < 3 && (!hub->ready || w.cursor > hub->last); i++) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&hub->cond, &hub->mu, &until);
        }
        int in_ring = hub->ready && w.cursor >= hub->base;
        int too_large = hub->ready && w.cursor > hub->last;
        long long last = (long long)hub->last;
        pthread_mutex_unlock(&hub->mu);
        if (too_large) {
            porch_error_set_reason(504, "Timeout",
                                   "Too large resource version: %lld, current: %lld", v, last);
            req->details =
                json_pack("{s:[{s:s, s:s}], s:i}", "causes", "reason", "ResourceVersionTooLarge",
                          "message", "Too large resource version", "retryAfterSeconds", 1);
            return apiserver_resource_reply_error(req);
        }
        if (!in_ring) {
            json_t *args = json_pack("{s:s, s:[s], s:i, s:i}", "since", rv, "kinds",
                                     req->kind->bus_kind, "limit", 1, "wait_ms", 0);
            json_t *result = NULL;
            bus_call_opts opts = {.rid = req->rid, .caller = req->caller, .deadline_ms = 0};
            int rc = bus_client_call(req->ctx->cache, "cache.events", args, &opts, &result, NULL);
            json_decref(args);
            json_decref(result);
            if (rc != 0)
                return porch_error_last()->code == 410 ? gone(req, rv)
                                                       : apiserver_resource_reply_error(req);
        }
    }
    mg_printf(req->conn,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
              "Cache-Control: no-cache, private\r\nX-Content-Type-Options: nosniff\r\n\r\n");
    if (initial) {
        if (send_initial(&w) != 0) {
            json_t *st =
                apiserver_status_new(porch_error_last()->code, NULL, porch_error_last()->message);
            send_event(&w, "ERROR", st);
            json_decref(st);
            mg_send_chunk(req->conn, "", 0);
            return 200;
        }
        if (req->query->allow_bookmarks)
            send_bookmark(&w, 1);
    }
    long timeout =
        req->query->timeout_seconds > 0 ? req->query->timeout_seconds : WATCH_DEFAULT_TIMEOUT_S;
    porch_error_clear();
    release_stack_below();
    follow(&w, now_s() + timeout);
    if (!w.failed && porch_error_last()->code == 410) {
        json_t *st = apiserver_status_new(410, "Expired", porch_error_last()->message);
        send_event(&w, "ERROR", st);
        json_decref(st);
    }
    if (!w.failed)
        mg_send_chunk(req->conn, "", 0);
    return 200;
}
