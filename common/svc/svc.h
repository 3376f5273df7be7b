/* What every Porch service shares: flags and environment variables, the
 * default ipc:// addresses under the data directory, logging set-up, the bus
 * server with `health` and `describe`, peer clients, and SIGTERM draining.
 * A service's main.c fills a svc_context, registers its ops and calls svc_run. */
#ifndef PORCH_SVC_H
#define PORCH_SVC_H

#include "bus/bus.h"
#include "log/log.h"

#include <stdint.h>

typedef enum {
    SVC_APISERVER = 0,
    SVC_ENGINE,
    SVC_CACHE,
    SVC_GIT_ADAPTER,
    SVC_OCI_ADAPTER,
    SVC_FUNCTION_RUNNER,
    SVC_COUNT
} svc_id;

#define SVC_PEER(id) (1u << (id))

/* "apiserver", "engine", "cache", "git-adapter", "oci-adapter", "function-runner". */
const char *svc_name(svc_id id);
/* Looks a name up; -1 when unknown. */
int svc_lookup(const char *name);

/* A service-specific flag: `--flag VALUE` or `--flag=VALUE`, else $env, else `def`. */
typedef struct svc_flag {
    const char *flag;  /* "--port" */
    const char *env;   /* "PORCH_PORT" */
    const char *def;   /* default text, or NULL */
    const char *help;
    char **value;      /* receives a malloc'd copy (owned by the caller) */
} svc_flag;

/* Optional extra health check: return 0 healthy, or negative with porch_error_set(). */
typedef int (*svc_health_fn)(void *userdata, json_t *result);

typedef struct svc_context {
    svc_id id;
    char *listen_url;               /* --listen / PORCH_LISTEN */
    char *data_dir;                 /* --data-dir / PORCH_DATA_DIR */
    char *trace_path;               /* --trace-bus FILE / PORCH_TRACE_BUS: log every bus message */
    log_level level;                /* --log-level / PORCH_LOG_LEVEL */
    int workers;                    /* --workers / PORCH_WORKERS */
    char *peer_urls[SVC_COUNT];     /* --<peer>-url / PORCH_<PEER>_URL, comma-separated */
    unsigned peers;                 /* SVC_PEER() mask of the peers this service talks to */
    int64_t started_ms;
    bus_server *bus;
    svc_health_fn health_check;
    void *health_userdata;
    int stop_pipe[2];               /* written by the signal handler */
} svc_context;

/* Parses argv and the environment, sets up logging, creates the data
 * directory, and creates (not starts) the bus server with `health` and
 * `describe` registered. Returns 0; 1 when --help/--version was printed
 * (exit 0); negative on a bad flag, with the message already printed. */
int svc_init(svc_context *ctx, svc_id id, unsigned peers, const svc_flag *extra, size_t n_extra,
             int argc, char **argv);

/* A new client for a peer from --<peer>-url (all comma-separated URLs dialled). */
int svc_peer_client(svc_context *ctx, svc_id peer, bus_client **out);

/* Starts the bus server, then blocks until SIGTERM/SIGINT; then drains the
 * bus (at most 1.5 s) and returns 0, or negative if the listener could not start. */
int svc_run(svc_context *ctx);

/* Starts the listener only (for services that run their own loop); pair with svc_wait_signal. */
int svc_start(svc_context *ctx);
/* Blocks until SIGTERM/SIGINT or until `poll_ms` elapses (returns 1 on signal, 0 on timeout). */
int svc_wait_signal(svc_context *ctx, int poll_ms);
void svc_stop(svc_context *ctx);

void svc_free(svc_context *ctx);

/* Milliseconds on the monotonic clock. */
int64_t svc_now_ms(void);

#endif
