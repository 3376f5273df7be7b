/* Shared service scaffolding (see svc.h): flag and environment parsing, the
 * default ipc:// addresses, health/describe, peer clients and the SIGTERM
 * self-pipe. The signal pipe is the one process-wide variable: a signal
 * handler cannot reach a context struct any other way. */
#include "svc/svc.h"
#include "error/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SVC_IPC_PATH_MAX 107

static const char *const svc_names[SVC_COUNT] = {
    "apiserver", "engine", "cache", "git-adapter", "oci-adapter", "function-runner",
};

static volatile sig_atomic_t signal_fd = -1;

const char *svc_name(svc_id id)
{
    return id < SVC_COUNT ? svc_names[id] : "unknown";
}

int svc_lookup(const char *name)
{
    for (int i = 0; i < SVC_COUNT; i++)
        if (strcmp(svc_names[i], name) == 0)
            return i;
    return -1;
}

int64_t svc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "git-adapter" -> "--git-adapter-url" and "PORCH_GIT_ADAPTER_URL". */
static void peer_flag_names(svc_id id, char *flag, size_t flag_len, char *env, size_t env_len)
{
    snprintf(flag, flag_len, "--%s-url", svc_names[id]);
    size_t n = (size_t)snprintf(env, env_len, "PORCH_");
    for (const char *p = svc_names[id]; *p && n + 1 < env_len; p++)
        env[n++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    snprintf(env + n, env_len - n, "_URL");
}

typedef struct flag_slot {
    char flag[64];
    char env[64];
    const char *def;
    const char *help;
    char **value;
} flag_slot;

static void print_help(svc_context *ctx, const flag_slot *slots, size_t n)
{
    printf("porch-%s %s: Porch in C service\n\nFlags (each also read from its environment "
           "variable):\n", svc_names[ctx->id], PORCH_VERSION);
    for (size_t i = 0; i < n; i++)
        printf("  %-26s %-26s %s%s%s%s\n", slots[i].flag, slots[i].env, slots[i].help,
               slots[i].def ? " (default " : "", slots[i].def ? slots[i].def : "",
               slots[i].def ? ")" : "");
}

static int parse_flags(svc_context *ctx, flag_slot *slots, size_t n, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help(ctx, slots, n);
            return 1;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("porch-%s %s\n", svc_names[ctx->id], PORCH_VERSION);
            return 1;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        size_t k = 0;
        while (k < n && !(strlen(slots[k].flag) == name_len && strncmp(slots[k].flag, arg, name_len) == 0))
            k++;
        if (k == n) {
            fprintf(stderr, "porch-%s: unknown flag %s (see --help)\n", svc_names[ctx->id], arg);
            return -1;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) {
            fprintf(stderr, "porch-%s: flag %s needs a value\n", svc_names[ctx->id], slots[k].flag);
            return -1;
        }
        free(*slots[k].value);
        *slots[k].value = strdup(value);
    }
    for (size_t k = 0; k < n; k++) {
        if (*slots[k].value)
            continue;
        const char *env = getenv(slots[k].env);
        const char *value = env && *env ? env : slots[k].def;
        if (value)
            *slots[k].value = strdup(value);
    }
    return 0;
}

static int check_url(svc_context *ctx, const char *what, const char *url)
{
    static const char *schemes[] = {"ipc://", "tcp://", "tls+tcp://", "inproc://"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t len = strlen(schemes[i]);
        if (strncmp(url, schemes[i], len) != 0)
            continue;
        if (url[len] == '\0')
            break;
        if (i == 0 && strlen(url + len) > SVC_IPC_PATH_MAX) {
            fprintf(stderr, "porch-%s: %s %s: the socket path is longer than %d bytes; use a "
                            "shorter --data-dir\n", svc_names[ctx->id], what, url, SVC_IPC_PATH_MAX);
            return -1;
        }
        return 0;
    }
    fprintf(stderr, "porch-%s: %s \"%s\" is not a valid bus URL (ipc://PATH, tcp://HOST:PORT, "
                    "tls+tcp://HOST:PORT)\n", svc_names[ctx->id], what, url);
    return -1;
}

static int prepare_data_dir(svc_context *ctx)
{
    if (mkdir(ctx->data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "porch-%s: cannot create --data-dir %s: %s\n", svc_names[ctx->id],
                ctx->data_dir, strerror(errno));
        return -1;
    }
    char resolved[PATH_MAX];
    if (!realpath(ctx->data_dir, resolved)) {
        fprintf(stderr, "porch-%s: --data-dir %s: %s\n", svc_names[ctx->id], ctx->data_dir,
                strerror(errno));
        return -1;
    }
    free(ctx->data_dir);
    ctx->data_dir = strdup(resolved);
    return 0;
}

static char *default_url(const svc_context *ctx, svc_id id)
{
    size_t len = strlen(ctx->data_dir) + 64;
    char *url = malloc(len);
    if (url)
        snprintf(url, len, "ipc://%s/%s.sock", ctx->data_dir, svc_names[id]);
    return url;
}

static int handle_health(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    svc_context *ctx = ud;
    json_t *res = json_pack("{s:s, s:s}", "status", "ok", "service", svc_names[ctx->id]);
    if (ctx->health_check && ctx->health_check(ctx->health_userdata, res) < 0) {
        json_decref(res);
        return -1;
    }
    *result = res;
    return 0;
}

static int handle_describe(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    svc_context *ctx = ud;
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    char replica[200];
    snprintf(replica, sizeof replica, "%s/%ld", host, (long)getpid());
    json_t *peers = json_object();
    for (int i = 0; i < SVC_COUNT; i++)
        if ((ctx->peers & SVC_PEER(i)) && ctx->peer_urls[i])
            json_object_set_new(peers, svc_names[i], json_string(ctx->peer_urls[i]));
    *result = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:o, s:o, s:o}", "service",
                        svc_names[ctx->id], "version", PORCH_VERSION, "replica", replica, "pid",
                        (json_int_t)getpid(), "uptime_ms",
                        (json_int_t)(svc_now_ms() - ctx->started_ms), "listen", ctx->listen_url,
                        "ops", bus_server_ops(ctx->bus), "counters",
                        bus_server_counters(ctx->bus), "peers", peers);
    return 0;
}

int svc_init(svc_context *ctx, svc_id id, unsigned peers, const svc_flag *extra, size_t n_extra,
             int argc, char **argv)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->id = id;
    ctx->peers = peers & ~SVC_PEER(id);
    ctx->started_ms = svc_now_ms();
    ctx->stop_pipe[0] = ctx->stop_pipe[1] = -1;
    char *level_text = NULL;
    char *workers_text = NULL;
    flag_slot slots[SVC_COUNT + 16];
    size_t n = 0;
    struct { const char *flag, *env, *def, *help; char **value; } base[] = {
        {"--listen", "PORCH_LISTEN", NULL, "bus URL to listen on (ipc://DATA/<svc>.sock)", &ctx->listen_url},
        {"--data-dir", "PORCH_DATA_DIR", ".porch", "data directory", &ctx->data_dir},
        {"--log-level", "PORCH_LOG_LEVEL", "info", "debug|info|warn|error", &level_text},
        {"--trace-bus", "PORCH_TRACE_BUS", NULL, "append every bus message to FILE (debug)", &ctx->trace_path},
        {"--workers", "PORCH_WORKERS", "8", "concurrent bus requests", &workers_text},
    };
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++, n++) {
        snprintf(slots[n].flag, sizeof slots[n].flag, "%s", base[i].flag);
        snprintf(slots[n].env, sizeof slots[n].env, "%s", base[i].env);
        slots[n].def = base[i].def;
        slots[n].help = base[i].help;
        slots[n].value = base[i].value;
    }
    for (int i = 0; i < SVC_COUNT; i++) {
        if (!(ctx->peers & SVC_PEER(i)))
            continue;
        peer_flag_names((svc_id)i, slots[n].flag, sizeof slots[n].flag, slots[n].env,
                        sizeof slots[n].env);
        slots[n].def = NULL;
        slots[n].help = "peer bus URL(s), comma-separated (ipc://DATA/<peer>.sock)";
        slots[n].value = &ctx->peer_urls[i];
        n++;
    }
    for (size_t i = 0; i < n_extra && n < sizeof slots / sizeof slots[0]; i++, n++) {
        snprintf(slots[n].flag, sizeof slots[n].flag, "%s", extra[i].flag);
        snprintf(slots[n].env, sizeof slots[n].env, "%s", extra[i].env ? extra[i].env : "");
        slots[n].def = extra[i].def;
        slots[n].help = extra[i].help ? extra[i].help : "";
        slots[n].value = extra[i].value;
    }
    int rc = parse_flags(ctx, slots, n, argc, argv);
    if (rc == 0 && log_level_parse(level_text, &ctx->level) != 0) {
        fprintf(stderr, "porch-%s: --log-level \"%s\" is not one of debug, info, warn, error\n",
                svc_names[id], level_text);
        rc = -1;
    }
    char *end = NULL;
    long workers = workers_text ? strtol(workers_text, &end, 10) : 8;
    if (rc == 0 && (!end || *end || workers < 1 || workers > 256)) {
        fprintf(stderr, "porch-%s: --workers \"%s\" must be a number from 1 to 256\n",
                svc_names[id], workers_text);
        rc = -1;
    }
    free(level_text);
    free(workers_text);
    if (rc != 0)
        return rc;
    ctx->workers = (int)workers;
    log_setup(svc_names[id], ctx->level, stderr);
    if (prepare_data_dir(ctx) < 0)
        return -1;
    if (!ctx->listen_url)
        ctx->listen_url = default_url(ctx, id);
    if (check_url(ctx, "--listen", ctx->listen_url) < 0)
        return -1;
    for (int i = 0; i < SVC_COUNT; i++) {
        if (!(ctx->peers & SVC_PEER(i)))
            continue;
        if (!ctx->peer_urls[i])
            ctx->peer_urls[i] = default_url(ctx, (svc_id)i);
        char *copy = strdup(ctx->peer_urls[i]);
        char *save = NULL;
        for (char *url = strtok_r(copy, ",", &save); url; url = strtok_r(NULL, ",", &save)) {
            char what[80];
            snprintf(what, sizeof what, "--%s-url", svc_names[i]);
            if (check_url(ctx, what, url) < 0) {
                free(copy);
                return -1;
            }
        }
        free(copy);
    }
    bus_server_opts opts = {.service = svc_names[id], .listen_url = ctx->listen_url,
                            .workers = ctx->workers, .trace_path = ctx->trace_path};
    if (bus_server_new(&opts, &ctx->bus) < 0) {
        fprintf(stderr, "porch-%s: %s\n", svc_names[id], porch_error_last()->message);
        return -1;
    }
    bus_server_register(ctx->bus, "health", handle_health, ctx);
    bus_server_register(ctx->bus, "describe", handle_describe, ctx);
    return 0;
}

int svc_peer_client(svc_context *ctx, svc_id peer, bus_client **out)
{
    if (peer >= SVC_COUNT || !ctx->peer_urls[peer])
        return porch_error_set(500, "porch-%s has no URL for peer %s", svc_names[ctx->id],
                               svc_name(peer));
    char *copy = strdup(ctx->peer_urls[peer]);
    const char *urls[16];
    size_t n = 0;
    char *save = NULL;
    for (char *url = strtok_r(copy, ",", &save); url && n < 16; url = strtok_r(NULL, ",", &save))
        urls[n++] = url;
    bus_client_opts opts = {.peer = svc_names[peer]};
    int rc = bus_client_new(urls, n, &opts, out);
    free(copy);
    return rc;
}

static void on_signal(int sig)
{
    (void)sig;
    int fd = signal_fd;
    if (fd >= 0) {
        char byte = 1;
        ssize_t w = write(fd, &byte, 1);
        (void)w;
    }
}

int svc_start(svc_context *ctx)
{
    if (pipe2(ctx->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return porch_error_set(500, "cannot create signal pipe: %s", strerror(errno));
    signal_fd = ctx->stop_pipe[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (bus_server_start(ctx->bus) < 0) {
        fprintf(stderr, "porch-%s: %s\n", svc_names[ctx->id], porch_error_last()->message);
        log_error("cannot start", "error", json_string(porch_error_last()->message));
        return -1;
    }
    log_info("started", "pid", json_integer(getpid()), "data_dir", json_string(ctx->data_dir));
    return 0;
}

int svc_wait_signal(svc_context *ctx, int poll_ms)
{
    struct pollfd pfd = {.fd = ctx->stop_pipe[0], .events = POLLIN};
    int rv = poll(&pfd, 1, poll_ms);
    if (rv > 0) {
        char buf[16];
        while (read(ctx->stop_pipe[0], buf, sizeof buf) > 0) {
        }
        return 1;
    }
    return 0;
}

void svc_stop(svc_context *ctx)
{
    log_info("stopping");
    bus_server_stop(ctx->bus, 1500);
}

int svc_run(svc_context *ctx)
{
    if (svc_start(ctx) < 0)
        return -1;
    while (!svc_wait_signal(ctx, 1000)) {
    }
    svc_stop(ctx);
    log_info("stopped");
    return 0;
}

void svc_free(svc_context *ctx)
{
    bus_server_free(ctx->bus);
    ctx->bus = NULL;
    signal_fd = -1;
    for (int i = 0; i < 2; i++)
        if (ctx->stop_pipe[i] >= 0)
            close(ctx->stop_pipe[i]);
    free(ctx->listen_url);
    free(ctx->data_dir);
    free(ctx->trace_path);
    for (int i = 0; i < SVC_COUNT; i++)
        free(ctx->peer_urls[i]);
    memset(ctx, 0, sizeof *ctx);
}
