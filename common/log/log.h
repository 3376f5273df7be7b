/* Structured logging: one JSON line per event with ts, level, svc, rid, msg and
 * any extra fields. The request id is per thread (set by the bus server loop for
 * the request being handled), so handlers never pass it around by hand. */
#ifndef PORCH_LOG_H
#define PORCH_LOG_H

#include <jansson.h>
#include <stdio.h>
#include <time.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* A duration field for a log line: milliseconds since `since` (CLOCK_MONOTONIC),
 * to 0.01 ms, as a new JSON real. */
json_t *log_ms_since(const struct timespec *since);

/* Parses "debug", "info", "warn"/"warning" or "error" (case-insensitive). 0 ok, -1 bad. */
int log_level_parse(const char *text, log_level *out);
const char *log_level_name(log_level level);

/* Configures the process logger once at start-up: service name (copied),
 * minimum level, and output stream (borrowed; stderr when NULL). */
void log_setup(const char *svc, log_level level, FILE *out);
int log_enabled(log_level level);

/* The request id of the current thread ("" when none); the pointer stays valid
 * until the next log_set_rid on the same thread. NULL clears. */
void log_set_rid(const char *rid);
const char *log_rid(void);

/* Emits one event. After `msg`, pairs of (const char *key, json_t *value) end
 * with NULL; the values are stolen (a NULL value is skipped). Values MUST be
 * json_t * (json_string(s), json_integer(n)...): varargs are not type-checked,
 * so integration-tests/lint.sh checks every call site. */
void log_event(log_level level, const char *msg, ...) __attribute__((sentinel));

#define log_debug(...) log_event(LOG_DEBUG, __VA_ARGS__, NULL)
#define log_info(...) log_event(LOG_INFO, __VA_ARGS__, NULL)
#define log_warn(...) log_event(LOG_WARN, __VA_ARGS__, NULL)
#define log_error(...) log_event(LOG_ERROR, __VA_ARGS__, NULL)

#endif
