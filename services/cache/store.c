/* SQLite store of porch-cache (see store.h). One connection in serialized
 * mode shared by the worker threads; WAL keeps readers off the writer's path. */
#include "store.h"
#include "error/error.h"

#include <sqlite3.h>
#include <stdlib.h>

struct cache_store {
    sqlite3 *db;
};

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, namespace TEXT,"
    "  name TEXT, type TEXT NOT NULL, object TEXT, ts INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '1');";

int cache_store_open(const char *path, cache_store **out)
{
    cache_store *store = calloc(1, sizeof *store);
    if (!store)
        return porch_error_set(500, "cache: out of memory");
    int rc = sqlite3_open_v2(path, &store->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             NULL);
    char *err = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(store->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL,
                          NULL, &err);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(store->db, schema_sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        porch_error_set(500, "cache: cannot open SQLite database %s: %s", path,
                        err ? err : sqlite3_errmsg(store->db));
        sqlite3_free(err);
        cache_store_close(store);
        return -1;
    }
    sqlite3_busy_timeout(store->db, 5000);
    *out = store;
    return 0;
}

void cache_store_close(cache_store *store)
{
    if (!store)
        return;
    sqlite3_close(store->db);
    free(store);
}

int cache_store_check(cache_store *store, json_t *result)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(store->db,
                                "SELECT (SELECT journal_mode FROM pragma_journal_mode),"
                                " (SELECT COALESCE(MAX(seq), 0) FROM events)",
                                -1, &stmt, NULL);
    if (rc == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
        json_object_set_new(result, "journal_mode",
                            json_string((const char *)sqlite3_column_text(stmt, 0)));
        json_object_set_new(result, "event_seq", json_integer(sqlite3_column_int64(stmt, 1)));
        sqlite3_finalize(stmt);
        return 0;
    }
    porch_error_set(503, "cache: SQLite is not answering: %s", sqlite3_errmsg(store->db));
    sqlite3_finalize(stmt);
    return -1;
}
