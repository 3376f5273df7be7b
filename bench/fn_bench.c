/* Function runner benchmark: `evaluate` of set-namespace then set-labels on
 * a 1,000-resource ResourceList through porch-function-runner over ipc (one
 * request, both built-ins), beside (a) plain krm parse + emit of the same
 * list in this process and (b) the same two steps as exec functions that
 * only copy stdin to stdout (/bin/cat), plus the cache hit of a repeat and
 * (c) the JSON transport floor (the list as a JSON string, both ways), and
 * the conditional repeat (list by digest, answer only if changed).
 * Usage: bench-fn [ITERATIONS] (starts the runner found next to itself). */
#include "bus/bus.h"
#include "krm/krm.h"
#include "log/log.h"

#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* 1,000 resources: Deployments, Services and ConfigMaps with comments. */
static char *make_list(size_t n, size_t *len)
{
    krm_buf b = {0};
    const char *head = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n";
    krm_buf_put(&b, head, strlen(head));
    char item[2048];
    for (size_t i = 0; i < n; i++) {
        int k;
        if (i % 3 == 0)
            k = snprintf(item, sizeof item,
                         "- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n"
                         "    name: app-%zu # the app\n    namespace: default\n"
                         "    labels:\n      app: app-%zu\n  spec:\n    replicas: 3\n"
                         "    selector:\n      matchLabels:\n        app: app-%zu\n"
                         "    template:\n      metadata:\n        labels:\n          app: app-%zu\n"
                         "      spec:\n        containers:\n        - name: main\n"
                         "          image: nginx:1.25\n          ports:\n"
                         "          - containerPort: 80\n",
                         i, i, i, i);
        else if (i % 3 == 1)
            k = snprintf(item, sizeof item,
                         "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: svc-%zu\n"
                         "    namespace: default\n  spec:\n    selector:\n      app: app-%zu\n"
                         "    ports:\n    - port: 80\n      targetPort: 8080\n",
                         i, i);
        else
            k = snprintf(item, sizeof item,
                         "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: cm-%zu\n"
                         "    namespace: default\n  data:\n    # settings\n    key: value-%zu\n"
                         "    other: \"42\"\n",
                         i, i);
        krm_buf_put(&b, item, (size_t)k);
    }
    *len = b.len;
    krm_buf_put(&b, "", 1);
    return b.data;
}

typedef struct stats {
    double p50, p90, mean;
} stats;

static stats summarize(double *v, int n)
{
    stats s = {0};
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    for (int i = 0; i < n; i++)
        s.mean += v[i] / n;
    s.p50 = v[n / 2];
    s.p90 = v[(n * 9) / 10];
    return s;
}

static stats bench_parse_emit(const char *text, size_t len, int iters)
{
    double *v = calloc((size_t)iters, sizeof *v);
    for (int i = 0; i < iters; i++) {
        double t0 = now_ms();
        krm_stream *s = NULL;
        if (krm_stream_parse(text, len, "bench", NULL, &s) < 0)
            abort();
        krm_buf out = {0};
        krm_stream_emit(s, &out);
        krm_buf_free(&out);
        krm_stream_free(s);
        v[i] = now_ms() - t0;
    }
    stats st = summarize(v, iters);
    free(v);
    return st;
}

/* The transport floor: the list as a JSON string, encoded and decoded once
 * each way (request and reply), as the bus does for every evaluate. */
static stats bench_json(const char *text, int iters)
{
    double *v = calloc((size_t)iters, sizeof *v);
    for (int i = 0; i < iters; i++) {
        double t0 = now_ms();
        for (int dir = 0; dir < 2; dir++) {
            json_t *o = json_pack("{s:s}", "resourceList", text);
            char *d = json_dumps(o, JSON_COMPACT);
            json_t *back = json_loads(d, JSON_REJECT_DUPLICATES, NULL);
            json_decref(back);
            free(d);
            json_decref(o);
        }
        v[i] = now_ms() - t0;
    }
    stats st = summarize(v, iters);
    free(v);
    return st;
}

static json_t *pipeline(const char *img1, const char *img2, const char *ns)
{
    return json_pack("[{s:s, s:{s:s, s:s, s:{s:s}}}, {s:s, s:{s:s, s:s, s:{s:s}}}]", "image", img1,
                     "functionConfig", "apiVersion", "v1", "kind", "ConfigMap", "data", "namespace",
                     ns, "image", img2, "functionConfig", "apiVersion", "v1", "kind", "ConfigMap",
                     "data", "tier", "backend");
}

/* `vary`: a fresh namespace per call so nothing is served from the cache. */
static stats bench_evaluate(bus_client *c, const char *text, const char *img1, const char *img2,
                            int iters, int vary, int *exit_code, int *cached)
{
    double *v = calloc((size_t)iters, sizeof *v);
    for (int i = 0; i < iters; i++) {
        char ns[64];
        snprintf(ns, sizeof ns, vary ? "bench-%d" : "bench", i);
        json_t *args =
            json_pack("{s:s, s:o}", "resourceList", text, "functions", pipeline(img1, img2, ns));
        json_t *res = NULL;
        bus_call_opts o = {.deadline_ms = 60000};
        double t0 = now_ms();
        if (bus_client_call(c, "function-runner.evaluate", args, &o, &res, NULL) < 0) {
            fprintf(stderr, "bench-fn: evaluate failed\n");
            exit(1);
        }
        v[i] = now_ms() - t0;
        *exit_code = (int)json_integer_value(json_object_get(res, "exitCode"));
        *cached = json_is_true(json_object_get(res, "cached"));
        json_decref(res);
        json_decref(args);
    }
    stats st = summarize(v, iters);
    free(v);
    return st;
}

/* The conditional form of a repeat: the list by digest, the answer only when
 * it differs from the output the caller already holds (ifNoneMatch). */
static stats bench_digest_hit(bus_client *c, const char *text, const char *img1, const char *img2,
                              int iters, int *not_modified)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    char hexd[65];
    EVP_Digest(text, strlen(text), d, &dl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hexd + 2 * i, 3, "%02x", d[i]);
    json_t *args =
        json_pack("{s:s, s:o}", "resourceList", text, "functions", pipeline(img1, img2, "bench"));
    json_t *res = NULL;
    bus_call_opts o = {.deadline_ms = 60000};
    if (bus_client_call(c, "function-runner.evaluate", args, &o, &res, NULL) < 0)
        exit(1);
    char *etag = strdup(json_string_value(json_object_get(res, "resourceListSha256")));
    json_decref(res);
    json_decref(args);
    double *v = calloc((size_t)iters, sizeof *v);
    for (int i = 0; i < iters; i++) {
        args = json_pack("{s:s, s:s, s:o}", "resourceListSha256", hexd, "ifNoneMatch", etag,
                         "functions", pipeline(img1, img2, "bench"));
        double t0 = now_ms();
        if (bus_client_call(c, "function-runner.evaluate", args, &o, &res, NULL) < 0) {
            fprintf(stderr, "bench-fn: digest evaluate failed\n");
            exit(1);
        }
        v[i] = now_ms() - t0;
        *not_modified = json_is_true(json_object_get(res, "notModified"));
        json_decref(res);
        json_decref(args);
    }
    free(etag);
    stats st = summarize(v, iters);
    free(v);
    return st;
}

static void row(const char *what, stats s, double base)
{
    printf("| %-52s | %8.2f | %8.2f | %8.2f | %6.2fx |\n", what, s.p50, s.p90, s.mean,
           s.p50 / base);
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 30;
    if (iters < 3)
        iters = 3;
    log_setup("bench-fn", LOG_ERROR, stderr);
    char self[PATH_MAX], runner[PATH_MAX + 64];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    self[sl > 0 ? sl : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(runner, sizeof runner, "%s/porch-function-runner", self);
    char dir[] = "/tmp/bench-fn-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    chmod(dir, 0755);
    char map[PATH_MAX], url[PATH_MAX];
    snprintf(map, sizeof map, "%s/functions.yaml", dir);
    FILE *f = fopen(map, "w");
    fprintf(f, "functions:\n- image: bench/copy-namespace\n  exec: /bin/cat\n"
               "- image: bench/copy-labels\n  exec: /bin/cat\n");
    fclose(f);
    snprintf(url, sizeof url, "ipc://%s/fr.sock", dir);
    pid_t pid = fork();
    if (pid == 0) {
        execl(runner, runner, "--data-dir", dir, "--listen", url, "--functions-config", map,
              "--log-level", "error", (char *)NULL);
        _exit(127);
    }
    char sock[PATH_MAX];
    snprintf(sock, sizeof sock, "%s/fr.sock", dir);
    for (int i = 0; i < 100 && access(sock, F_OK) != 0; i++)
        usleep(20000);
    const char *urls[] = {url};
    bus_client_opts co = {.peer = "function-runner", .deadline_ms = 60000};
    bus_client *c = NULL;
    if (bus_client_new(urls, 1, &co, &c) < 0) {
        fprintf(stderr, "bench-fn: cannot reach %s\n", url);
        kill(pid, SIGTERM);
        return 1;
    }
    size_t len;
    char *text = make_list(1000, &len);
    int ec = 0, cached = 0;
    bench_evaluate(c, text, "set-namespace", "set-labels", 2, 1, &ec, &cached); /* warm-up */
    stats a = bench_parse_emit(text, len, iters);
    stats js = bench_json(text, iters);
    stats bi = bench_evaluate(c, text, "gcr.io/kpt-fn/set-namespace:v0.4",
                              "gcr.io/kpt-fn/set-labels:v0.2", iters, 1, &ec, &cached);
    int bi_ec = ec;
    stats hit = bench_evaluate(c, text, "gcr.io/kpt-fn/set-namespace:v0.4",
                               "gcr.io/kpt-fn/set-labels:v0.2", iters, 0, &ec, &cached);
    int hit_cached = cached, not_modified = 0;
    stats dig = bench_digest_hit(c, text, "gcr.io/kpt-fn/set-namespace:v0.4",
                                 "gcr.io/kpt-fn/set-labels:v0.2", iters, &not_modified);
    stats ex = bench_evaluate(c, text, "bench/copy-namespace:v1", "bench/copy-labels:v1", iters, 1,
                              &ec, &cached);
    int ex_ec = ec;
    printf("ResourceList: 1,000 resources, %zu bytes; %d iterations each; times in ms\n\n", len,
           iters);
    printf("| %-52s | %8s | %8s | %8s | %7s |\n", "what", "p50", "p90", "mean", "vs (a)");
    printf("|%.54s|%.10s|%.10s|%.10s|%.9s|\n",
           "------------------------------------------------------", "----------", "----------",
           "----------", "---------");
    row("(a) krm parse + emit, in process", a, a.p50);
    row("evaluate set-namespace + set-labels (built-ins)", bi, a.p50);
    row("evaluate, same request again (cache hit)", hit, a.p50);
    row("cache hit by digest + ifNoneMatch (notModified)", dig, a.p50);
    row("(b) evaluate, both steps as exec /bin/cat", ex, a.p50);
    row("(c) JSON floor: list as a JSON string, there and back", js, a.p50);
    printf("\nbuilt-in exit code %d, cache hit %s, notModified %s, exec exit code %d\n", bi_ec,
           hit_cached ? "yes" : "NO", not_modified ? "yes" : "NO", ex_ec);
    printf("targets: built-in <= 2x (a): %s; cache hit <= 0.1x (a): full list %s, by digest %s\n",
           bi.p50 <= 2 * a.p50 ? "met" : "MISSED", hit.p50 <= 0.1 * a.p50 ? "met" : "MISSED",
           dig.p50 <= 0.1 * a.p50 ? "met" : "MISSED");
    bus_client_free(c);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    unlink(map);
    free(text);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
