/* JSON-lines logger (see log.h). The configuration is written once by a
 * service's main before any thread starts; a mutex keeps lines from
 * interleaving when several workers log at the same instant. */
#include "log/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static struct {
    char svc[64];
    log_level level;
    FILE *out;
    pthread_mutex_t lock;
} log_config = {"porch", LOG_INFO, NULL, PTHREAD_MUTEX_INITIALIZER};

static _Thread_local char tls_rid[128];

int log_level_parse(const char *text, log_level *out)
{
    static const struct { const char *name; log_level level; } names[] = {
        {"debug", LOG_DEBUG}, {"info", LOG_INFO},   {"warn", LOG_WARN},
        {"warning", LOG_WARN}, {"error", LOG_ERROR},
    };
    for (size_t i = 0; text && i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(text, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(log_level level)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    return level <= LOG_ERROR ? names[level] : "info";
}

void log_setup(const char *svc, log_level level, FILE *out)
{
    snprintf(log_config.svc, sizeof log_config.svc, "%s", svc ? svc : "porch");
    log_config.level = level;
    log_config.out = out;
}

int log_enabled(log_level level)
{
    return level >= log_config.level;
}

json_t *log_ms_since(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = (double)(now.tv_sec - since->tv_sec) * 1e3 +
                (double)(now.tv_nsec - since->tv_nsec) / 1e6;
    return json_real((double)(long long)(ms * 100) / 100);
}

void log_set_rid(const char *rid)
{
    snprintf(tls_rid, sizeof tls_rid, "%s", rid ? rid : "");
}

const char *log_rid(void)
{
    return tls_rid;
}

static void format_timestamp(char *buf, size_t len)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%06ldZ", (long)tv.tv_usec);
}

void log_event(log_level level, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    if (!log_enabled(level)) {
        /* Still consume (and free) the stolen values. */
        for (const char *key = va_arg(ap, const char *); key; key = va_arg(ap, const char *))
            json_decref(va_arg(ap, json_t *));
        va_end(ap);
        return;
    }
    char ts[40];
    format_timestamp(ts, sizeof ts);
    json_t *event = json_pack("{s:s, s:s, s:s, s:s, s:s}", "ts", ts, "level",
                              log_level_name(level), "svc", log_config.svc, "rid", tls_rid,
                              "msg", msg ? msg : "");
    for (const char *key = va_arg(ap, const char *); key; key = va_arg(ap, const char *)) {
        json_t *value = va_arg(ap, json_t *);
        if (value && event)
            json_object_set_new(event, key, value);
        else
            json_decref(value);
    }
    va_end(ap);
    if (!event)
        return;
    char *line = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(event);
    if (!line)
        return;
    FILE *out = log_config.out ? log_config.out : stderr;
    pthread_mutex_lock(&log_config.lock);
    fputs(line, out);
    fputc('\n', out);
    fflush(out);
    pthread_mutex_unlock(&log_config.lock);
    free(line);
}
