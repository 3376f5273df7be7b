/* porch-supervisor: keeps the six Porch services of a local stack running.
 * It starts each one with --data-dir DIR (output to DIR/logs/<svc>.log),
 * records DIR/<svc>.pid, restarts a service that exits with exponential
 * backoff (100 ms doubling to 5 s, reset after 10 s of uptime), and on
 * SIGTERM/SIGINT stops them all (SIGTERM, 3 s grace, SIGKILL) and cleans up. */
#include "error/error.h"
#include "log/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SUP_MAX_SERVICES 16
#define SUP_MAX_ARGS 32
#define SUP_BACKOFF_MIN_MS 100
#define SUP_BACKOFF_MAX_MS 5000
#define SUP_STABLE_MS 10000
#define SUP_STOP_GRACE_MS 3000

static const char *const default_services[] = {"apiserver",   "engine",      "cache",
                                               "git-adapter", "oci-adapter", "function-runner"};

typedef struct sup_child {
    char name[64];
    char *extra[SUP_MAX_ARGS]; /* borrowed from argv */
    int n_extra;
    pid_t pid;          /* 0 while not running */
    int64_t started_ms; /* when the current (or last) instance started */
    int64_t restart_at; /* when to start again; 0 when not scheduled */
    int backoff_ms;
    unsigned restarts;
} sup_child;

typedef struct sup_ctx {
    char data_dir[PATH_MAX];
    char bin_dir[PATH_MAX];
    char log_dir[PATH_MAX];
    sup_child children[SUP_MAX_SERVICES];
    int n_children;
    int stopping;
} sup_ctx;

static int64_t sup_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int sup_usage(void)
{
    fprintf(stderr,
            "usage: porch-supervisor --data-dir DIR --bin-dir DIR [--log-dir DIR]\n"
            "                        [--arg SVC=ARG]... [SVC...]\n"
            "Starts porch-SVC for each SVC (default: all six services) with --data-dir DIR,\n"
            "restarts them when they exit, and stops them all on SIGTERM.\n"
            "--arg apiserver=--port=9443 adds one argument to one service.\n");
    return -1;
}

static sup_child *sup_find(sup_ctx *ctx, const char *name)
{
    for (int i = 0; i < ctx->n_children; i++)
        if (strcmp(ctx->children[i].name, name) == 0)
            return &ctx->children[i];
    return NULL;
}

static int sup_add_child(sup_ctx *ctx, const char *name)
{
    if (sup_find(ctx, name) != NULL)
        return 0;
    if (ctx->n_children == SUP_MAX_SERVICES || strlen(name) >= sizeof(ctx->children[0].name) ||
        strchr(name, '/') != NULL) {
        fprintf(stderr, "porch-supervisor: bad or too many services at \"%s\"\n", name);
        return -1;
    }
    sup_child *c = &ctx->children[ctx->n_children++];
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->backoff_ms = SUP_BACKOFF_MIN_MS;
    return 0;
}

/* --arg SVC=ARG: one extra argument for one service (added to the list if new). */
static int sup_add_arg(sup_ctx *ctx, char *spec)
{
    char *eq = strchr(spec, '=');
    if (eq == NULL || eq == spec) {
        fprintf(stderr, "porch-supervisor: --arg \"%s\" must look like SVC=ARG\n", spec);
        return -1;
    }
    *eq = '\0';
    if (sup_add_child(ctx, spec) != 0)
        return -1;
    sup_child *c = sup_find(ctx, spec);
    if (c->n_extra == SUP_MAX_ARGS) {
        fprintf(stderr, "porch-supervisor: too many --arg for %s\n", spec);
        return -1;
    }
    c->extra[c->n_extra++] = eq + 1;
    return 0;
}

/* Makes `in` absolute into `out`; -1 with a message when it does not exist. */
static int sup_abs_dir(const char *flag, const char *in, char *out)
{
    if (realpath(in, out) == NULL) {
        fprintf(stderr, "porch-supervisor: %s %s: %s\n", flag, in, strerror(errno));
        return -1;
    }
    return 0;
}

static int sup_parse(sup_ctx *ctx, int argc, char **argv)
{
    const char *data = NULL, *bin = NULL, *logs = NULL;
    int named = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (strcmp(a, "--data-dir") == 0 && has_value)
            data = argv[++i];
        else if (strcmp(a, "--bin-dir") == 0 && has_value)
            bin = argv[++i];
        else if (strcmp(a, "--log-dir") == 0 && has_value)
            logs = argv[++i];
        else if (strcmp(a, "--arg") == 0 && has_value) {
            if (sup_add_arg(ctx, argv[++i]) != 0)
                return -1;
        } else if (a[0] == '-')
            return sup_usage();
        else {
            if (sup_add_child(ctx, a) != 0)
                return -1;
            named++;
        }
    }
    if (data == NULL || bin == NULL)
        return sup_usage();
    if (named == 0)
        for (size_t i = 0; i < sizeof(default_services) / sizeof(default_services[0]); i++)
            if (sup_add_child(ctx, default_services[i]) != 0)
                return -1;
    if (sup_abs_dir("--data-dir", data, ctx->data_dir) != 0 ||
        sup_abs_dir("--bin-dir", bin, ctx->bin_dir) != 0)
        return -1;
    if (logs == NULL) {
        snprintf(ctx->log_dir, sizeof(ctx->log_dir), "%.*s/logs", PATH_MAX - 8, ctx->data_dir);
        mkdir(ctx->log_dir, 0700);
    } else if (sup_abs_dir("--log-dir", logs, ctx->log_dir) != 0) {
        return -1;
    }
    return 0;
}

/* Writes "<pid>\n" to DIR/<name>.pid atomically (temp file + rename). */
static int sup_write_pid(const sup_ctx *ctx, const char *name, pid_t pid)
{
    char path[PATH_MAX + 80], tmp[PATH_MAX + 96];
    snprintf(path, sizeof(path), "%s/%s.pid", ctx->data_dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return porch_error_set(500, "cannot write %s: %s", tmp, strerror(errno));
    fprintf(f, "%ld\n", (long)pid);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return porch_error_set(500, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

static void sup_remove_pid(const sup_ctx *ctx, const char *name)
{
    char path[PATH_MAX + 80];
    snprintf(path, sizeof(path), "%s/%s.pid", ctx->data_dir, name);
    unlink(path);
}

/* In the forked child: log file, clean signal state, exec. Never returns. */
static void sup_exec_child(const sup_ctx *ctx, const sup_child *c, int err_fd)
{
    char log_path[PATH_MAX + 80], exe[PATH_MAX + 80];
    snprintf(log_path, sizeof(log_path), "%s/%s.log", ctx->log_dir, c->name);
    snprintf(exe, sizeof(exe), "%s/porch-%s", ctx->bin_dir, c->name);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    /* If the supervisor dies without cleaning up, take the service with it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int in = open("/dev/null", O_RDONLY);
    int out = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in >= 0 && out >= 0) {
        dup2(in, STDIN_FILENO);
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
        char *args[SUP_MAX_ARGS + 4];
        int n = 0;
        args[n++] = exe;
        args[n++] = "--data-dir";
        args[n++] = (char *)ctx->data_dir;
        for (int i = 0; i < c->n_extra; i++)
            args[n++] = c->extra[i];
        args[n] = NULL;
        execv(exe, args);
    }
    int e = errno;
    ssize_t w = write(err_fd, &e, sizeof(e));
    (void)w;
    _exit(127);
}

/* Starts one service; 0, or negative when it could not even be executed. */
static int sup_start(sup_ctx *ctx, sup_child *c)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return porch_error_set(500, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return porch_error_set(500, "fork for %s: %s", c->name, strerror(errno));
    }
    if (pid == 0) {
        close(pipefd[0]);
        sup_exec_child(ctx, c, pipefd[1]);
    }
    close(pipefd[1]);
    int child_errno = 0;
    ssize_t r = read(pipefd[0], &child_errno, sizeof(child_errno));
    close(pipefd[0]);
    c->started_ms = sup_now_ms();
    c->restart_at = 0;
    if (r == (ssize_t)sizeof(child_errno)) {
        waitpid(pid, NULL, 0);
        return porch_error_set(500, "cannot execute %s/porch-%s: %s", ctx->bin_dir, c->name,
                               strerror(child_errno));
    }
    c->pid = pid;
    sup_write_pid(ctx, c->name, pid);
    log_info("service started", "service", json_string(c->name), "pid", json_integer(pid),
             "restarts", json_integer(c->restarts));
    return 0;
}

/* Plans the next start of `c` after it exited or failed to start. */
static void sup_schedule(sup_child *c, int64_t now)
{
    if (now - c->started_ms >= SUP_STABLE_MS)
        c->backoff_ms = SUP_BACKOFF_MIN_MS;
    c->restart_at = now + c->backoff_ms;
    log_info("service restart scheduled", "service", json_string(c->name), "in_ms",
             json_integer(c->backoff_ms));
    c->backoff_ms = c->backoff_ms * 2 > SUP_BACKOFF_MAX_MS ? SUP_BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static sup_child *sup_by_pid(sup_ctx *ctx, pid_t pid)
{
    for (int i = 0; i < ctx->n_children; i++)
        if (ctx->children[i].pid == pid)
            return &ctx->children[i];
    return NULL;
}

/* Reaps every exited child; schedules restarts unless we are stopping. */
static void sup_reap(sup_ctx *ctx)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        sup_child *c = sup_by_pid(ctx, pid);
        if (c == NULL)
            continue;
        c->pid = 0;
        sup_remove_pid(ctx, c->name);
        json_t *how_json = WIFSIGNALED(status) ? json_sprintf("signal %d", WTERMSIG(status))
                                          : json_sprintf("exit %d", WEXITSTATUS(status));
        if (ctx->stopping) {
            log_info("service stopped", "service", json_string(c->name), "status", how_json);
            continue;
        }
        log_warn("service exited", "service", json_string(c->name), "pid", json_integer(pid),
                 "status", how_json, "uptime_ms", json_integer(sup_now_ms() - c->started_ms));
        c->restarts++;
        sup_schedule(c, sup_now_ms());
    }
}

/* Starts every child whose restart time has come; returns ms to the next one (or 1000). */
static int sup_start_due(sup_ctx *ctx)
{
    int64_t now = sup_now_ms();
    int64_t next = now + 1000;
    for (int i = 0; i < ctx->n_children; i++) {
        sup_child *c = &ctx->children[i];
        if (c->pid != 0 || c->restart_at == 0)
            continue;
        if (c->restart_at <= now && sup_start(ctx, c) != 0) {
            log_error("cannot start service", "service", json_string(c->name), "error",
                      json_string(porch_error_last()->message));
            sup_schedule(c, now);
        }
        if (c->pid == 0 && c->restart_at < next)
            next = c->restart_at;
    }
    int64_t wait = next - sup_now_ms();
    return wait < 1 ? 1 : (int)wait;
}

static int sup_running(const sup_ctx *ctx)
{
    int n = 0;
    for (int i = 0; i < ctx->n_children; i++)
        n += ctx->children[i].pid != 0;
    return n;
}

static void sup_signal_all(sup_ctx *ctx, int sig)
{
    for (int i = 0; i < ctx->n_children; i++)
        if (ctx->children[i].pid != 0)
            kill(ctx->children[i].pid, sig);
}

/* Waits for one signal from `set` for at most `ms`; returns it, or 0 on timeout. */
static int sup_wait(const sigset_t *set, int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig < 0 ? 0 : sig;
}

/* SIGTERM to all, up to 3 s for them to exit, SIGKILL for the rest. */
static void sup_stop_all(sup_ctx *ctx, const sigset_t *set)
{
    ctx->stopping = 1;
    sup_signal_all(ctx, SIGTERM);
    int64_t deadline = sup_now_ms() + SUP_STOP_GRACE_MS;
    sup_reap(ctx);
    while (sup_running(ctx) > 0 && sup_now_ms() < deadline) {
        sup_wait(set, (int)(deadline - sup_now_ms()));
        sup_reap(ctx);
    }
    if (sup_running(ctx) > 0) {
        log_warn("services did not stop in time; killing", "count", json_integer(sup_running(ctx)));
        sup_signal_all(ctx, SIGKILL);
        while (sup_running(ctx) > 0) {
            sup_wait(set, 100);
            sup_reap(ctx);
        }
    }
}

int main(int argc, char **argv)
{
    sup_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    if (sup_parse(&ctx, argc, argv) != 0)
        return 2;
    log_setup("supervisor", LOG_INFO, stderr);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (sup_write_pid(&ctx, "supervisor", getpid()) != 0) {
        fprintf(stderr, "porch-supervisor: %s\n", porch_error_last()->message);
        return 1;
    }
    log_info("supervisor started", "pid", json_integer(getpid()), "data_dir",
             json_string(ctx.data_dir), "services", json_integer(ctx.n_children));
    int64_t now = sup_now_ms();
    for (int i = 0; i < ctx.n_children; i++)
        ctx.children[i].restart_at = now;
    int sig = 0;
    while (sig != SIGTERM && sig != SIGINT && sig != SIGHUP) {
        int wait_ms = sup_start_due(&ctx);
        sig = sup_wait(&set, wait_ms);
        sup_reap(&ctx);
    }
    log_info("stopping all services", "signal", json_integer(sig));
    sup_stop_all(&ctx, &set);
    sup_remove_pid(&ctx, "supervisor");
    log_info("supervisor stopped");
    return 0;
}
