/* KRM document model benchmark: parse + emit of a ~10 MB multi-document
 * stream, beside libyaml's own parse → emit event pass-through on the same
 * input in the same process; peak memory of the model measured in a child
 * process with getrusage (ru_maxrss), relative to the input size. */
#include "krm/krm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void gen(krm_buf *b, size_t target)
{
    char tmp[4096];
    for (int i = 0; b->len < target; i++) {
        int n = snprintf(tmp, sizeof tmp,
                         "# Deployment %d of the benchmark stream\n"
                         "apiVersion: apps/v1\n"
                         "kind: Deployment\n"
                         "metadata:\n"
                         "  name: app-%d # line comment\n"
                         "  namespace: team-%d\n"
                         "  labels:\n"
                         "    app.kubernetes.io/name: app-%d\n"
                         "    app.kubernetes.io/part-of: bench\n"
                         "  annotations:\n"
                         "    config.kubernetes.io/local-config: \"false\"\n"
                         "spec:\n"
                         "  replicas: %d\n"
                         "  selector:\n"
                         "    matchLabels: {app: app-%d}\n"
                         "  template:\n"
                         "    metadata:\n"
                         "      labels:\n"
                         "        app: app-%d\n"
                         "    spec:\n"
                         "      # the containers\n"
                         "      containers:\n"
                         "      - name: main\n"
                         "        image: registry.example.com/team/app:1.%d.0\n"
                         "        args: [\"--port=8080\", \"--verbose\"]\n"
                         "        ports:\n"
                         "        - containerPort: 8080\n"
                         "          protocol: TCP\n"
                         "        env:\n"
                         "        - name: MODE\n"
                         "          value: 'production'\n"
                         "        - name: RATIO\n"
                         "          value: \"0.5\"\n"
                         "        resources:\n"
                         "          limits: {cpu: 500m, memory: 128Mi}\n"
                         "      - name: sidecar\n"
                         "        image: registry.example.com/proxy:2.%d\n"
                         "        command:\n"
                         "        - /bin/sh\n"
                         "        - -c\n"
                         "        - |\n"
                         "          echo starting\n"
                         "          exec proxy --upstream=localhost:8080\n"
                         "---\n",
                         i, i, i % 17, i, i % 5 + 1, i, i, i % 100, i % 10);
        krm_buf_put(b, tmp, (size_t)n);
    }
}

static int w_handler(void *data, unsigned char *buffer, size_t size)
{
    krm_buf_put(data, buffer, size);
    return 1;
}

/* libyaml parse → emit, event by event. */
static size_t libyaml_pass(const char *in, size_t len)
{
    yaml_parser_t p;
    yaml_emitter_t e;
    krm_buf out = {0};
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)in, len);
    yaml_emitter_initialize(&e);
    yaml_emitter_set_output(&e, w_handler, &out);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1);
    yaml_event_t ev;
    for (;;) {
        if (!yaml_parser_parse(&p, &ev)) {
            fprintf(stderr, "libyaml parse error\n");
            exit(1);
        }
        int done = ev.type == YAML_STREAM_END_EVENT;
        if (!yaml_emitter_emit(&e, &ev)) {
            fprintf(stderr, "libyaml emit error\n");
            exit(1);
        }
        if (done)
            break;
    }
    yaml_parser_delete(&p);
    yaml_emitter_delete(&e);
    size_t n = out.len;
    krm_buf_free(&out);
    return n;
}

static size_t krm_pass(const char *in, size_t len)
{
    krm_stream *s;
    if (krm_stream_parse(in, len, "bench.yaml", NULL, &s) < 0) {
        fprintf(stderr, "krm parse failed\n");
        exit(1);
    }
    krm_buf out = {0};
    krm_stream_emit(s, &out);
    size_t n = out.len;
    krm_buf_free(&out);
    krm_stream_free(s);
    return n;
}

static int discard(void *ctx, const char *p, size_t n)
{
    (void)p;
    *(size_t *)ctx += n;
    return 0;
}

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
    size_t target = argc > 1 ? (size_t)atol(argv[1]) : 10u << 20;
    int iters = argc > 2 ? atoi(argv[2]) : 3;
    krm_buf in = {0};
    gen(&in, target);
    double mb = in.len / 1048576.0;
    printf("input: %.1f MB, %d iterations each\n", mb, iters);
    fflush(stdout);

    /* memory: a child process holding only the input, then parsing and emitting */
    pid_t pid = fork();
    if (pid == 0) {
        long base = maxrss_kb();
        krm_stream *s;
        krm_stream_parse(in.data, in.len, "bench.yaml", NULL, &s);
        long parsed = maxrss_kb();
        size_t written = 0;
        krm_stream_emit_to(s, discard, &written); /* streamed, as porchctl writes files */
        long peak = maxrss_kb();
        printf(
            "memory (parse + streamed emit): process peak %.1f MB = %.2fx input; the input buffer "
            "itself %.1f MB; model alone %.1f MB = %.2fx input (peak after parse %.1f MB)\n",
            peak / 1024.0, peak * 1024.0 / in.len, base / 1024.0, (peak - base) / 1024.0,
            (peak - base) * 1024.0 / in.len, parsed / 1024.0);
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);

    /* best of N, both on the wall clock and on this process's CPU clock (the machine is shared) */
    double wl = 1e9, wk = 1e9, cl = 1e9, ck = 1e9;
    for (int i = 0; i < iters; i++) {
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        libyaml_pass(in.data, in.len);
        double w1 = clock_s(CLOCK_MONOTONIC), c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        krm_pass(in.data, in.len);
        double w2 = clock_s(CLOCK_MONOTONIC), c2 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        wl = w1 - w0 < wl ? w1 - w0 : wl;
        wk = w2 - w1 < wk ? w2 - w1 : wk;
        cl = c1 - c0 < cl ? c1 - c0 : cl;
        ck = c2 - c1 < ck ? c2 - c1 : ck;
    }
    printf("libyaml parse->emit pass-through: wall %.3f s (%.1f MB/s), cpu %.3f s (%.1f MB/s)\n",
           wl, mb / wl, cl, mb / cl);
    printf(
        "krm parse+emit (comments, kpt style): wall %.3f s (%.1f MB/s), cpu %.3f s (%.1f MB/s)\n",
        wk, mb / wk, ck, mb / ck);
    printf("ratio krm/libyaml throughput: wall %.2f, cpu %.2f (target >= 0.5)\n", wl / wk, cl / ck);
    if (argc > 3) {
        FILE *f = fopen(argv[3], "wb");
        fwrite(in.data, 1, in.len, f);
        fclose(f);
    }
    krm_buf_free(&in);
    return 0;
}
