/* SQLite store of porch-cache (see store.h). One connection, guarded by one
 * mutex, so a write, its precondition check and its event row are a single
 * transaction; a condition variable wakes event long-polls on every write. */
#include "store.h"
#include "error/error.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define STMT_CACHE 48

struct cache_store {
    sqlite3 *db;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int64_t seq; /* last event sequence = current resourceVersion */
    int64_t retained; /* events kept for watchers to resume from */
    int batch;        /* > 0 while the lock holder runs a batch (one transaction) */
    struct {
        char *sql;
        sqlite3_stmt *stmt;
    } stmts[STMT_CACHE]; /* prepared once, reset after each use (under the lock) */
    size_t nstmts;
};

/* Objects live in one of two databases: `main` (cache.db: what sync derives
 * from the remotes, and the event log) and `cfg` (config.db: what only users
 * create — standalone Namespaces, Secrets, Repositories and the labels they
 * put on package revisions). Deleting cache.db loses only warm-up time. */
static const char *const config_kinds[] = {
    "namespaces", "secrets", "repositories.config.porch.kpt.dev", "packagerevmetas.porch.kpt.dev",
};

static const char *table_for(const char *kind)
{
    for (size_t i = 0; i < sizeof config_kinds / sizeof config_kinds[0]; i++)
        if (strcmp(kind, config_kinds[i]) == 0)
            return "cfg.objects";
    return "main.objects";
}

static const char *const objects_sql =
    "CREATE TABLE IF NOT EXISTS %s.objects ("
    "  kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,"
    "  rv INTEGER NOT NULL, body TEXT NOT NULL,"
    "  owner TEXT NOT NULL DEFAULT '', grp TEXT NOT NULL DEFAULT '',"
    "  upstream TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY (kind, namespace, name));"
    "DROP INDEX IF EXISTS %s.objects_by_owner;"
    /* with name last, one package's objects come out in name order from the
     * index alone (see cache_store_list_owned) */
    "CREATE INDEX IF NOT EXISTS %s.objects_by_owner_name ON objects(kind, namespace, owner, grp,"
    " name);"
    "CREATE INDEX IF NOT EXISTS %s.objects_by_upstream ON objects(kind, namespace, upstream);";

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, type TEXT NOT NULL,"
    "  object TEXT NOT NULL, ts INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '5');";

/* Creates (or upgrades: owner/grp came in schema 3) the objects table of `db`. */
static int create_objects(sqlite3 *db, const char *schema, char **err)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "ALTER TABLE %s.objects ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
             schema);
    sqlite3_exec(db, sql, NULL, NULL, NULL);
    snprintf(sql, sizeof sql, "ALTER TABLE %s.objects ADD COLUMN grp TEXT NOT NULL DEFAULT ''",
             schema);
    sqlite3_exec(db, sql, NULL, NULL, NULL);
    /* schema 5: the revision a package revision was cloned or upgraded from */
    snprintf(sql, sizeof sql, "ALTER TABLE %s.objects ADD COLUMN upstream TEXT NOT NULL DEFAULT ''",
             schema);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK) { /* new column: fill it */
        snprintf(sql, sizeof sql,
                 "UPDATE %s.objects SET upstream = COALESCE("
                 "json_extract(body, '$.spec.tasks[0].clone.upstreamRef.upstreamRef.name'),"
                 "json_extract(body, '$.spec.tasks[0].upgrade.newUpstreamRef.name'), '')"
                 " WHERE json_valid(body)",
                 schema);
        sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    snprintf(sql, sizeof sql, objects_sql, schema, schema, schema, schema);
    return sqlite3_exec(db, sql, NULL, NULL, err);
}

static int db_error(cache_store *store, const char *what)
{
    return porch_error_set(503, "cache: %s: %s", what, sqlite3_errmsg(store->db));
}

/* A prepared statement for `sql`, from the store's cache (parsing SQL was a
 * quarter of a large sync's time). Give it back with stmt_done. */
static int stmt_get(cache_store *store, const char *sql, sqlite3_stmt **out)
{
    for (size_t i = 0; i < store->nstmts; i++)
        if (strcmp(store->stmts[i].sql, sql) == 0) {
            *out = store->stmts[i].stmt;
            return SQLITE_OK;
        }
    int rc = sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    if (rc == SQLITE_OK && store->nstmts < STMT_CACHE) {
        store->stmts[store->nstmts].sql = strdup(sql);
        store->stmts[store->nstmts].stmt = *out;
        store->nstmts++;
    } else if (rc == SQLITE_OK) {
        sqlite3_finalize(*out); /* full: statements are built from a fixed set, never here */
        rc = sqlite3_prepare_v2(store->db, sql, -1, out, NULL);
    }
    return rc;
}

static void stmt_done(cache_store *store, sqlite3_stmt *stmt)
{
    for (size_t i = 0; i < store->nstmts; i++)
        if (store->stmts[i].stmt == stmt) {
            sqlite3_reset(stmt);
            sqlite3_clear_bindings(stmt);
            return;
        }
    sqlite3_finalize(stmt);
}

/* Runs a parameterless statement through the cache. */
static int stmt_exec(cache_store *store, const char *sql)
{
    sqlite3_stmt *stmt;
    int rc = stmt_get(store, sql, &stmt);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(stmt);
    stmt_done(store, stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int64_t query_int(cache_store *store, const char *sql)
{
    sqlite3_stmt *stmt;
    int64_t v = 0;
    if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

/* "DIR/cache.db" → "DIR/config.db" (same directory). */
static void config_path(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(out, len, "%.*s/config.db", (int)(slash - path), path);
    else
        snprintf(out, len, "config.db");
}

/* Keeps resourceVersions growing when cache.db was deleted but config.db kept. */
static void seed_sequence(cache_store *store)
{
    int64_t cfg_max = query_int(store, "SELECT COALESCE(MAX(rv), 0) FROM cfg.objects");
    if (cfg_max <= store->seq)
        return;
    char sql[160];
    snprintf(sql, sizeof sql,
             "DELETE FROM sqlite_sequence WHERE name = 'events';"
             "INSERT INTO sqlite_sequence(name, seq) VALUES ('events', %lld);",
             (long long)cfg_max);
    sqlite3_exec(store->db, sql, NULL, NULL, NULL);
    store->seq = cfg_max;
}

int cache_store_open(const char *path, cache_store **out)
{
    cache_store *store = calloc(1, sizeof *store);
    if (!store)
        return porch_error_set(500, "cache: out of memory");
    pthread_mutexattr_t attr; /* recursive: a batch holds it across its operations */
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&store->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    pthread_cond_init(&store->changed, NULL);
    int rc = sqlite3_open_v2(path, &store->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    char *err = NULL, cfg[4200], attach[4300];
    config_path(path, cfg, sizeof cfg);
    char *quoted = sqlite3_mprintf("ATTACH DATABASE %Q AS cfg", cfg);
    snprintf(attach, sizeof attach, "%s", quoted ? quoted : "");
    sqlite3_free(quoted);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(store->db, attach, NULL, NULL, &err);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(store->db,
                          "PRAGMA main.journal_mode=WAL; PRAGMA cfg.journal_mode=WAL;"
                          "PRAGMA synchronous=NORMAL;",
                          NULL, NULL, &err);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(store->db, schema_sql, NULL, NULL, &err);
    if (rc == SQLITE_OK)
        rc = create_objects(store->db, "main", &err);
    if (rc == SQLITE_OK)
        rc = create_objects(store->db, "cfg", &err);
    if (rc == SQLITE_OK) /* schema ≤ 3 kept users' objects in cache.db: move them */
        rc = sqlite3_exec(store->db,
                          "INSERT OR IGNORE INTO cfg.objects SELECT * FROM main.objects WHERE kind IN"
                          " ('namespaces','secrets','repositories.config.porch.kpt.dev',"
                          "'packagerevmetas.porch.kpt.dev');"
                          "DELETE FROM main.objects WHERE kind IN ('namespaces','secrets',"
                          "'repositories.config.porch.kpt.dev','packagerevmetas.porch.kpt.dev');",
                          NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        porch_error_set(500, "cache: cannot open SQLite database %s: %s", path,
                        err ? err : sqlite3_errmsg(store->db));
        sqlite3_free(err);
        cache_store_close(store);
        return -1;
    }
    sqlite3_busy_timeout(store->db, 5000);
    store->seq = query_int(store, "SELECT COALESCE(MAX(seq), 0) FROM events");
    seed_sequence(store);
    store->retained = CACHE_EVENTS_RETAINED;
    *out = store;
    return 0;
}

void cache_store_close(cache_store *store)
{
    if (!store)
        return;
    for (size_t i = 0; i < store->nstmts; i++) {
        sqlite3_finalize(store->stmts[i].stmt);
        free(store->stmts[i].sql);
    }
    sqlite3_close(store->db);
    pthread_mutex_destroy(&store->lock);
    pthread_cond_destroy(&store->changed);
    free(store);
}

void cache_store_set_retention(cache_store *store, int64_t events)
{
    store->retained = events > 0 ? events : CACHE_EVENTS_RETAINED;
}

int cache_store_check(cache_store *store, json_t *result)
{
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(store->db, "SELECT journal_mode FROM pragma_journal_mode", -1,
                                &stmt, NULL);
    if (rc == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
        json_object_set_new(result, "journal_mode",
                            json_string((const char *)sqlite3_column_text(stmt, 0)));
        json_object_set_new(result, "event_seq", json_integer(store->seq));
        sqlite3_finalize(stmt);
        pthread_mutex_unlock(&store->lock);
        return 0;
    }
    porch_error_set(503, "cache: SQLite is not answering: %s", sqlite3_errmsg(store->db));
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&store->lock);
    return -1;
}

/* ---- helpers (called with the lock held) ---- */

static void now_rfc3339(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void new_uuid(char *buf, size_t len)
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        memset(b, 0x5a, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

static int load_object(cache_store *store, const char *kind, const char *ns, const char *name,
                       json_t **object, int64_t *rv)
{
    sqlite3_stmt *stmt;
    *object = NULL;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT body, rv FROM %s WHERE kind=? AND namespace=? AND name=?",
             table_for(kind));
    if (stmt_get(store, sql, &stmt) != SQLITE_OK)
        return db_error(store, "read");
    sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *object = json_loads((const char *)sqlite3_column_text(stmt, 0), 0, NULL);
        if (rv)
            *rv = sqlite3_column_int64(stmt, 1);
    }
    stmt_done(store, stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_error(store, "read");
    return 0;
}

/* Appends the event row; returns its sequence number or -1. */
static int64_t log_event(cache_store *store, const char *kind, const char *type, json_t *object)
{
    sqlite3_stmt *stmt;
    char *text = json_dumps(object, JSON_COMPACT);
    int64_t seq = -1;
    if (text && stmt_get(store, "INSERT INTO events(kind, type, object, ts) VALUES (?,?,?,?)",
                         &stmt) == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, text, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, (sqlite3_int64)time(NULL));
        if (sqlite3_step(stmt) == SQLITE_DONE)
            seq = sqlite3_last_insert_rowid(store->db);
        stmt_done(store, stmt);
    }
    free(text);
    int64_t every = store->retained >= 10 ? store->retained / 10 : 1;
    if (seq > 0 && seq % every == 0) {
        char sql[128];
        snprintf(sql, sizeof sql, "DELETE FROM events WHERE seq <= %lld",
                 (long long)(seq - store->retained));
        sqlite3_exec(store->db, sql, NULL, NULL, NULL);
    }
    return seq;
}

/* The registered revision a package revision was made from (spec §3.9 step
 * 2): its first task's clone.upstreamRef.upstreamRef.name or
 * upgrade.newUpstreamRef.name; "" when none. Borrowed from `spec`. */
static const char *upstream_of(json_t *spec)
{
    json_t *task = json_array_get(json_object_get(spec, "tasks"), 0);
    json_t *clone = json_object_get(json_object_get(json_object_get(task, "clone"), "upstreamRef"),
                                    "upstreamRef");
    const char *name = json_string_value(json_object_get(clone, "name"));
    if (!name)
        name = json_string_value(json_object_get(
            json_object_get(json_object_get(task, "upgrade"), "newUpstreamRef"), "name"));
    return name ? name : "";
}

static int write_object(cache_store *store, const char *kind, const char *ns, const char *name,
                        int64_t rv, json_t *object)
{
    sqlite3_stmt *stmt;
    char *text = json_dumps(object, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int ok = 0;
    /* Objects that belong to a repository's package are indexed by both. */
    json_t *spec = json_object_get(object, "spec");
    const char *owner = json_string_value(json_object_get(spec, "repository"));
    const char *grp = json_string_value(json_object_get(spec, "packageName"));
    const char *upstream = upstream_of(spec);
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT OR REPLACE INTO %s(kind, namespace, name, rv, body, owner, grp, upstream)"
             " VALUES (?,?,?,?,?,?,?,?)", table_for(kind));
    if (text && stmt_get(store, sql, &stmt) == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, rv);
        sqlite3_bind_text(stmt, 5, text, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 6, owner ? owner : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 7, grp ? grp : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 8, upstream, -1, SQLITE_STATIC);
        ok = sqlite3_step(stmt) == SQLITE_DONE;
        stmt_done(store, stmt);
    }
    free(text);
    return ok ? 0 : db_error(store, "write");
}

static int check_rv(const char *expected, int64_t actual, const char *kind, const char *name)
{
    if (!expected || !*expected)
        return 0;
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)actual);
    if (strcmp(expected, buf) != 0)
        return porch_error_set(409, "Operation cannot be fulfilled on %s \"%s\": the object has "
                                    "been modified; please apply your changes to the latest "
                                    "version and try again", kind, name);
    return 0;
}

/* Fills server-owned metadata for a create or an update. */
static void set_metadata(json_t *object, json_t *old, const char *ns, const char *name)
{
    json_t *meta = json_object_get(object, "metadata");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(object, "metadata", meta);
    }
    json_object_set_new(meta, "name", json_string(name));
    if (*ns)
        json_object_set_new(meta, "namespace", json_string(ns));
    else
        json_object_del(meta, "namespace");
    json_t *old_meta = json_object_get(old, "metadata");
    if (old_meta) {
        json_object_set(meta, "uid", json_object_get(old_meta, "uid"));
        json_object_set(meta, "creationTimestamp", json_object_get(old_meta, "creationTimestamp"));
        json_int_t gen = json_integer_value(json_object_get(old_meta, "generation"));
        if (!json_equal(json_object_get(object, "spec"), json_object_get(old, "spec")))
            gen++;
        json_object_set_new(meta, "generation", json_integer(gen ? gen : 1));
        return;
    }
    char buf[64];
    if (!json_is_string(json_object_get(meta, "uid"))) {
        new_uuid(buf, sizeof buf);
        json_object_set_new(meta, "uid", json_string(buf));
    }
    if (!json_is_string(json_object_get(meta, "creationTimestamp"))) {
        now_rfc3339(buf, sizeof buf);
        json_object_set_new(meta, "creationTimestamp", json_string(buf));
    }
    json_object_set_new(meta, "generation", json_integer(1));
}

static void set_rv(json_t *object, int64_t rv)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)rv);
    json_object_set_new(json_object_get(object, "metadata"), "resourceVersion", json_string(buf));
}

/* ---- transactions: one per write, or a savepoint inside a batch ---- */

static void txn_begin(cache_store *store)
{
    stmt_exec(store, store->batch ? "SAVEPOINT op" : "BEGIN IMMEDIATE");
}

static int txn_commit(cache_store *store)
{
    return stmt_exec(store, store->batch ? "RELEASE op" : "COMMIT");
}

static void txn_rollback(cache_store *store)
{
    sqlite3_exec(store->db, store->batch ? "ROLLBACK TO op; RELEASE op" : "ROLLBACK", NULL, NULL,
                 NULL);
}

void cache_store_batch_begin(cache_store *store)
{
    pthread_mutex_lock(&store->lock);
    if (store->batch++ == 0)
        sqlite3_exec(store->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
}

int cache_store_batch_end(cache_store *store)
{
    int rc = 0;
    if (--store->batch == 0 && sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(store, "commit");
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
        /* what the batch's writes announced did not land: follow the log */
        store->seq = query_int(store, "SELECT COALESCE(MAX(seq), 0) FROM events");
    }
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* ---- public operations ---- */

int cache_store_put(cache_store *store, const char *kind, const char *ns, const char *name,
                    json_t *object, cache_put_mode mode, const char *expected_rv, json_t **stored)
{
    *stored = NULL;
    if (!json_is_object(object))
        return porch_error_set(400, "cache: object must be a JSON object");
    json_t *copy = json_deep_copy(object);
    json_t *old = NULL;
    int64_t old_rv = 0;
    int rc = -1;
    pthread_mutex_lock(&store->lock);
    txn_begin(store);
    if (load_object(store, kind, ns, name, &old, &old_rv) < 0)
        goto out;
    if (old && mode == CACHE_PUT_CREATE) {
        porch_error_set_reason(409, "AlreadyExists", "%s \"%s\" already exists", kind, name);
        goto out;
    }
    if (!old && mode == CACHE_PUT_UPDATE) {
        porch_error_set(404, "%s \"%s\" not found", kind, name);
        goto out;
    }
    if (old && check_rv(expected_rv, old_rv, kind, name) < 0)
        goto out;
    set_metadata(copy, old, ns, name);
    int64_t seq = store->seq + 1;
    set_rv(copy, seq);
    int64_t logged = log_event(store, kind, old ? "MODIFIED" : "ADDED", copy);
    if (logged < 0) {
        db_error(store, "event log");
        goto out;
    }
    if (logged != seq) { /* the log was rebuilt or edited outside us: follow it */
        seq = logged;
        set_rv(copy, seq);
    }
    if (write_object(store, kind, ns, name, seq, copy) < 0)
        goto out;
    if (txn_commit(store) != SQLITE_OK) {
        db_error(store, "commit");
        goto out;
    }
    store->seq = seq;
    pthread_cond_broadcast(&store->changed);
    *stored = json_incref(copy);
    rc = 0;
out:
    if (rc != 0)
        txn_rollback(store);
    pthread_mutex_unlock(&store->lock);
    json_decref(old);
    json_decref(copy);
    return rc;
}

int cache_store_get(cache_store *store, const char *kind, const char *ns, const char *name,
                    json_t **object)
{
    pthread_mutex_lock(&store->lock);
    int rc = load_object(store, kind, ns, name, object, NULL);
    pthread_mutex_unlock(&store->lock);
    if (rc == 0 && !*object)
        return porch_error_set(404, "%s \"%s\" not found", kind, name);
    return rc;
}

/* Continue tokens are "<namespace>/<name>" of the last item returned. */
int cache_store_list(cache_store *store, const char *kind, const char *ns, size_t limit,
                     const char *cont, json_t **items, char **next, int64_t *rv)
{
    *items = NULL;
    *next = NULL;
    const char *after_ns = "", *after_name = "";
    char *token = cont && *cont ? strdup(cont) : NULL;
    if (token) {
        char *slash = strchr(token, '/');
        if (!slash) {
            free(token);
            return porch_error_set(400, "invalid continue token \"%s\"", cont);
        }
        *slash = '\0';
        after_ns = token;
        after_name = slash + 1;
    }
    int all_ns = !ns || !*ns;
    sqlite3_stmt *stmt;
    pthread_mutex_lock(&store->lock);
    *rv = store->seq;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT namespace, name, body FROM %s WHERE kind = ?1 AND (?2 OR namespace = ?3)"
             " AND (namespace > ?4 OR (namespace = ?4 AND name > ?5)) ORDER BY namespace, name"
             " LIMIT ?6", table_for(kind));
    int rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        pthread_mutex_unlock(&store->lock);
        free(token);
        return db_error(store, "list");
    }
    sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, all_ns);
    sqlite3_bind_text(stmt, 3, all_ns ? "" : ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, after_ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, after_name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 6, limit ? (sqlite3_int64)limit + 1 : -1);
    json_t *list = json_array();
    size_t n = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (limit && n == limit) {
            char buf[512];
            json_t *last = json_array_get(list, n - 1);
            json_t *meta = json_object_get(last, "metadata");
            const char *lns = json_string_value(json_object_get(meta, "namespace"));
            snprintf(buf, sizeof buf, "%s/%s", lns ? lns : "",
                     json_string_value(json_object_get(meta, "name")));
            *next = strdup(buf);
            break;
        }
        json_t *obj = json_loads((const char *)sqlite3_column_text(stmt, 2), 0, NULL);
        if (obj) {
            json_array_append_new(list, obj);
            n++;
        }
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&store->lock);
    free(token);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(list);
        free(*next);
        *next = NULL;
        return db_error(store, "list");
    }
    *items = list;
    return 0;
}

/* Runs `sql` (selecting one column, body) with up to four text parameters
 * (NULL ones left unbound) and collects the parsed bodies into *items. */
static int select_bodies(cache_store *store, const char *sql, const char *const params[4],
                         json_t **items)
{
    sqlite3_stmt *stmt;
    *items = NULL;
    pthread_mutex_lock(&store->lock);
    if (stmt_get(store, sql, &stmt) != SQLITE_OK) {
        pthread_mutex_unlock(&store->lock);
        return db_error(store, "list");
    }
    for (int i = 0; i < 4; i++)
        if (params[i])
            sqlite3_bind_text(stmt, i + 1, params[i], -1, SQLITE_STATIC);
    json_t *list = json_array();
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        json_t *obj = json_loads((const char *)sqlite3_column_text(stmt, 0), 0, NULL);
        if (obj)
            json_array_append_new(list, obj);
    }
    stmt_done(store, stmt);
    pthread_mutex_unlock(&store->lock);
    if (rc != SQLITE_DONE) {
        json_decref(list);
        return db_error(store, "list");
    }
    *items = list;
    return 0;
}

int cache_store_list_owned(cache_store *store, const char *kind, const char *ns, const char *owner,
                           const char *grp, json_t **items)
{
    char sql[256];
    /* Two statements, not "(?4 IS NULL OR grp = ?4)", and "+name": otherwise
     * SQLite walks the primary key (it is in name order) over every revision
     * of the namespace, reading each row, to find one package's. */
    snprintf(sql, sizeof sql,
             "SELECT body FROM %s WHERE kind = ?1 AND namespace = ?2 AND owner = ?3%s"
             " ORDER BY %s", table_for(kind), grp ? " AND grp = ?4" : "", grp ? "name" : "+name");
    const char *const params[4] = {kind, ns, owner, grp};
    return select_bodies(store, sql, params, items);
}

int cache_store_list_overlapping(cache_store *store, const char *kind, const char *ns,
                                 const char *owner, const char *path, json_t **items)
{
    char sql[256];
    /* the path itself and everything under it: a range of the owner index
     * ('0' follows '/'), then each parent directory by equality */
    snprintf(sql, sizeof sql,
             "SELECT body FROM %s WHERE kind = ?1 AND namespace = ?2 AND owner = ?3"
             " AND grp >= ?4 AND grp < ?4 || '0' ORDER BY +name", table_for(kind));
    const char *const params[4] = {kind, ns, owner, path};
    if (select_bodies(store, sql, params, items) < 0)
        return -1;
    for (const char *slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
        char *parent = strndup(path, (size_t)(slash - path));
        json_t *more = NULL;
        int rc = parent ? cache_store_list_owned(store, kind, ns, owner, parent, &more) : -1;
        free(parent);
        if (rc < 0) {
            json_decref(*items);
            *items = NULL;
            return -1;
        }
        json_array_extend(*items, more);
        json_decref(more);
    }
    return 0;
}

int cache_store_list_referencing(cache_store *store, const char *kind, const char *ns,
                                 const char *upstream, json_t **items)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT body FROM %s WHERE kind = ?1 AND namespace = ?2 AND upstream = ?3"
             " ORDER BY +name", table_for(kind));
    const char *const params[4] = {kind, ns, upstream, NULL};
    return select_bodies(store, sql, params, items);
}

int cache_store_delete(cache_store *store, const char *kind, const char *ns, const char *name,
                       const char *expected_rv, const char *expected_uid, json_t **deleted)
{
    *deleted = NULL;
    json_t *old = NULL;
    int64_t old_rv = 0;
    int rc = -1;
    pthread_mutex_lock(&store->lock);
    txn_begin(store);
    if (load_object(store, kind, ns, name, &old, &old_rv) < 0)
        goto out;
    if (!old) {
        porch_error_set(404, "%s \"%s\" not found", kind, name);
        goto out;
    }
    if (check_rv(expected_rv, old_rv, kind, name) < 0)
        goto out;
    const char *uid = json_string_value(json_object_get(json_object_get(old, "metadata"), "uid"));
    if (expected_uid && *expected_uid && (!uid || strcmp(uid, expected_uid) != 0)) {
        porch_error_set(409, "Precondition failed: UID in precondition: %s, UID in object meta: %s",
                        expected_uid, uid ? uid : "");
        goto out;
    }
    int64_t seq = log_event(store, kind, "DELETED", old);
    sqlite3_stmt *stmt;
    char sql[256];
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE kind=? AND namespace=? AND name=?",
             table_for(kind));
    if (seq < 0 || stmt_get(store, sql, &stmt) != SQLITE_OK) {
        db_error(store, "delete");
        goto out;
    }
    sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(stmt);
    stmt_done(store, stmt);
    if (step != SQLITE_DONE || txn_commit(store) != SQLITE_OK) {
        db_error(store, "delete");
        goto out;
    }
    store->seq = seq;
    set_rv(old, seq);
    pthread_cond_broadcast(&store->changed);
    *deleted = json_incref(old);
    rc = 0;
out:
    if (rc != 0)
        txn_rollback(store);
    pthread_mutex_unlock(&store->lock);
    json_decref(old);
    return rc;
}

static int kind_wanted(json_t *kinds, const char *kind)
{
    if (!json_is_array(kinds) || json_array_size(kinds) == 0)
        return 1;
    size_t i;
    json_t *k;
    json_array_foreach(kinds, i, k) if (json_is_string(k) && strcmp(json_string_value(k), kind) == 0)
        return 1;
    return 0;
}

/* Appends events after `since` to `out`; *scanned_to is the last sequence
 * looked at when the scan stopped at its limit, else the store's sequence. */
static int read_events(cache_store *store, json_t *kinds, int64_t since, size_t limit,
                       json_t *out, int64_t *scanned_to)
{
    size_t rows = 0;
    *scanned_to = store->seq;
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT seq, kind, type, object FROM events WHERE seq > ? ORDER BY seq"
                           " LIMIT ?",
                           -1, &stmt, NULL) != SQLITE_OK)
        return db_error(store, "events");
    sqlite3_bind_int64(stmt, 1, since);
    sqlite3_bind_int64(stmt, 2, (sqlite3_int64)(limit ? limit : 1000));
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        if (++rows == (limit ? limit : 1000))
            *scanned_to = sqlite3_column_int64(stmt, 0);
        const char *kind = (const char *)sqlite3_column_text(stmt, 1);
        if (!kind_wanted(kinds, kind))
            continue;
        json_t *obj = json_loads((const char *)sqlite3_column_text(stmt, 3), 0, NULL);
        char rv[32];
        snprintf(rv, sizeof rv, "%lld", (long long)sqlite3_column_int64(stmt, 0));
        json_array_append_new(out, json_pack("{s:s, s:s, s:o, s:s}", "type",
                                             (const char *)sqlite3_column_text(stmt, 2), "kind",
                                             kind, "object", obj ? obj : json_null(),
                                             "resourceVersion", rv));
    }
    sqlite3_finalize(stmt);
    return 0;
}

int cache_store_events(cache_store *store, json_t *kinds, int64_t since, size_t limit,
                       int wait_ms, json_t **events, int64_t *rv)
{
    *events = NULL;
    pthread_mutex_lock(&store->lock);
    int64_t oldest = query_int(store, "SELECT COALESCE(MIN(seq), 0) FROM events");
    if (since < 0 || since > store->seq ||
        (oldest > 0 && since < oldest - 1) || (oldest == 0 && since < store->seq)) {
        pthread_mutex_unlock(&store->lock);
        return porch_error_set(410, "too old resource version: %lld (%lld)", (long long)since,
                               (long long)(oldest > 0 ? oldest - 1 : store->seq));
    }
    if (wait_ms > 0 && store->seq <= since) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_ms / 1000;
        until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (store->seq <= since &&
               pthread_cond_timedwait(&store->changed, &store->lock, &until) == 0) {
        }
    }
    json_t *out = json_array();
    int rc = read_events(store, kinds, since, limit, out, rv);
    pthread_mutex_unlock(&store->lock);
    if (rc < 0) {
        json_decref(out);
        return -1;
    }
    *events = out;
    return 0;
}
