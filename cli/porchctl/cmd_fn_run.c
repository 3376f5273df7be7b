/* The local function runner behind `fn eval --exec` and `fn render`: the
 * package becomes annotated items (kpt's wire format, ids included), the
 * function reads and writes a ResourceList, comments are healed onto its
 * output by resource id, and files are rewritten from the result. */
#include "cmd_fn_run.h"

#include "cmd_fn_io.h"

#include "error/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct fnrun_pkg {
    char *dir;
    krm_stream **streams;
    size_t nstreams, capstreams;
    krm_node **items;
    size_t n, cap;
    krm_node **orig; /* originals by id-1 */
    size_t norig;
    char **files; /* files that held resources */
    size_t nfiles;
};

static int keep_stream(fnrun_pkg *p, krm_stream *s)
{
    if (p->nstreams == p->capstreams) {
        p->capstreams = p->capstreams ? p->capstreams * 2 : 16;
        krm_stream **ns = realloc(p->streams, p->capstreams * sizeof *ns);
        if (!ns)
            return porch_error_set(500, "out of memory");
        p->streams = ns;
    }
    p->streams[p->nstreams++] = s;
    return 0;
}

static int push_item(fnrun_pkg *p, krm_node *n)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        krm_node **ni = realloc(p->items, p->cap * sizeof *ni);
        if (!ni)
            return porch_error_set(500, "out of memory");
        p->items = ni;
    }
    p->items[p->n++] = n;
    return 0;
}

static int set_q(krm_stream *s, krm_node *r, const char *k, const char *v)
{
    if (krm_res_set_annotation(s, r, k, v) < 0)
        return -1;
    krm_node *n = krm_path_get(r, "metadata.annotations");
    krm_node *val = krm_map_get(n, k);
    if (val)
        krm_node_set_style(val, KRM_SINGLE);
    return 0;
}

int fnrun_load(const char *dir, fnrun_pkg **out)
{
    fnrun_pkg *p = calloc(1, sizeof *p);
    if (!p || !(p->dir = strdup(dir)))
        return porch_error_set(500, "out of memory");
    char **files;
    size_t nf;
    if (fnio_list_package(dir, &files, &nf) < 0) {
        fnrun_free(p);
        return -1;
    }
    p->files = calloc(nf + 1, sizeof *p->files);
    int rc = 0;
    for (size_t i = 0; i < nf; i++) {
        char full[8192], *buf;
        size_t len;
        snprintf(full, sizeof full, "%s/%s", dir, files[i]);
        krm_stream *s;
        if (rc == 0 && (rc = fnio_read_file(full, &buf, &len)) == 0) {
            rc = krm_stream_parse(buf, len, files[i], NULL, &s);
            free(buf);
            if (rc == 0 && (rc = keep_stream(p, s)) == 0) {
                int index = 0;
                for (size_t d = 0; d < krm_stream_count(s) && rc == 0; d++) {
                    krm_doc *doc = krm_stream_doc(s, d);
                    krm_node *r = krm_doc_root(doc);
                    if (!r || krm_node_kind(r) != KRM_MAP)
                        continue;
                    char id[32], mid[32];
                    snprintf(id, sizeof id, "%zu", p->n + 1);
                    snprintf(mid, sizeof mid, "%zu", p->n);
                    rc = krm_res_set_kpt_annotations(s, r, files[i], index++, krm_doc_seqindent(doc));
                    if (rc == 0)
                        rc = set_q(s, r, "internal.config.kubernetes.io/annotations-migration-resource-id", mid);
                    if (rc == 0)
                        rc = set_q(s, r, "internal.config.kubernetes.io/id", id);
                    if (rc == 0)
                        rc = set_q(s, r, "config.k8s.io/id", id);
                    if (rc == 0)
                        rc = push_item(p, r);
                }
                if (index > 0)
                    p->files[p->nfiles++] = strdup(files[i]);
            }
        }
        free(files[i]);
    }
    free(files);
    if (rc == 0) {
        p->orig = malloc((p->n + 1) * sizeof *p->orig);
        memcpy(p->orig, p->items, p->n * sizeof *p->orig);
        p->norig = p->n;
    }
    if (rc < 0) {
        fnrun_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

void fnrun_free(fnrun_pkg *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nstreams; i++)
        krm_stream_free(p->streams[i]);
    for (size_t i = 0; i < p->nfiles; i++)
        free(p->files[i]);
    free(p->files);
    free(p->streams);
    free(p->items);
    free(p->orig);
    free(p->dir);
    free(p);
}

size_t fnrun_count(const fnrun_pkg *p)
{
    return p->n;
}
krm_node *fnrun_item(const fnrun_pkg *p, size_t i)
{
    return i < p->n ? p->items[i] : NULL;
}
const char *fnrun_dir(const fnrun_pkg *p)
{
    return p->dir;
}

static int run_child(const char *cmd, const char *in, size_t inlen, char **out, size_t *outlen)
{
    char tmpl[4096];
    const char *td = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/porchctl-fn-XXXXXX", td && *td ? td : "/tmp");
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return porch_error_set(500, "temp file: %s", strerror(errno));
    unlink(tmpl);
    if (write(fd, in, inlen) != (ssize_t)inlen || lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        return porch_error_set(500, "temp file write failed");
    }
    char *argv[64], *copy = strdup(cmd);
    int argc = 0;
    for (char *t = strtok(copy, " "); t && argc < 63; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    int pfd[2];
    if (argc == 0 || pipe(pfd) < 0) {
        close(fd);
        free(copy);
        return porch_error_set(400, "cannot run function %s", cmd);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 0);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        close(fd);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd);
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "rb");
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(b, cap);
            if (!nb) {
                free(b);
                b = NULL;
            } else {
                b = nb;
            }
        }
    }
    fclose(f);
    int st = 0;
    waitpid(pid, &st, 0);
    free(copy);
    if (!b)
        return porch_error_set(500, "out of memory");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        free(b);
        return porch_error_set(500, "exit status %d", WIFEXITED(st) ? WEXITSTATUS(st) : 128);
    }
    *out = b;
    *outlen = n;
    return 0;
}

static krm_node *original_of(fnrun_pkg *p, const krm_node *r)
{
    const char *id = krm_res_annotation(r, "config.k8s.io/id");
    if (!id)
        id = krm_res_annotation(r, "internal.config.kubernetes.io/id");
    long i = id ? atol(id) : 0;
    return i >= 1 && (size_t)i <= p->norig ? p->orig[i - 1] : NULL;
}

int fnrun_exec(fnrun_pkg *p, const char *cmd, const krm_node *fn_config)
{
    krm_buf rl = {0};
    if (krm_emit_resource_list(p->items, p->n, fn_config, &rl) < 0)
        return -1;
    char *out;
    size_t outlen;
    int rc = run_child(cmd, rl.data, rl.len, &out, &outlen);
    krm_buf_free(&rl);
    if (rc < 0)
        return -1;
    krm_stream *s;
    rc = krm_stream_parse(out, outlen, "function output", NULL, &s);
    free(out);
    if (rc < 0 || keep_stream(p, s) < 0)
        return -1;
    krm_node *root = krm_stream_count(s) ? krm_doc_root(krm_stream_doc(s, 0)) : NULL;
    krm_node *list = root ? krm_map_get(root, "items") : NULL;
    p->n = 0;
    for (size_t i = 0; i < krm_seq_len(list); i++) {
        krm_node *r = krm_seq_at(list, i);
        if (krm_node_kind(r) != KRM_MAP)
            continue;
        krm_node *o = original_of(p, r);
        if (o && krm_heal_comments(s, o, r) < 0)
            return -1;
        if (push_item(p, r) < 0)
            return -1;
    }
    return 0;
}

typedef struct wi {
    const char *path;
    int index;
    size_t order;
    krm_seqindent si;
    krm_node *node;
} wi;

static int wi_cmp(const void *a, const void *b)
{
    const wi *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (c)
        return c;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

int fnrun_write(fnrun_pkg *p)
{
    wi *w = calloc(p->n + 1, sizeof *w);
    char (*paths)[1024] = calloc(p->n + 1, sizeof *paths);
    if (!w || !paths) {
        free(w);
        free(paths);
        return porch_error_set(500, "out of memory");
    }
    for (size_t i = 0; i < p->n; i++) {
        krm_node *r = p->items[i];
        const char *path = krm_res_path(r);
        if (path)
            snprintf(paths[i], sizeof paths[i], "%s", path);
        else
            snprintf(paths[i], sizeof paths[i], "%s_%s.yaml", krm_res_kind(r) ? krm_res_kind(r) : "",
                     krm_res_name(r) ? krm_res_name(r) : "");
        const char *si = krm_res_annotation(r, KRM_ANNO_SEQINDENT);
        w[i] = (wi){paths[i], krm_res_index(r) < 0 ? 0 : krm_res_index(r), i,
                    si && !strcmp(si, "wide") ? KRM_SEQ_WIDE : KRM_SEQ_COMPACT, r};
        krm_res_clear_kpt_annotations(r);
    }
    qsort(w, p->n, sizeof *w, wi_cmp);
    int rc = 0;
    for (size_t i = 0; i < p->n && rc == 0;) {
        size_t j = i + 1;
        while (j < p->n && !strcmp(w[j].path, w[i].path))
            j++;
        krm_buf b = {0};
        size_t l = strlen(w[i].path);
        if (l > 5 && !strcmp(w[i].path + l - 5, ".json")) {
            rc = krm_node_emit_json(w[i].node, &b);
        } else {
            for (size_t k = i; k < j && rc == 0; k++) {
                if (k > i)
                    rc = krm_buf_put(&b, "---\n", 4);
                if (rc == 0)
                    rc = krm_node_emit(w[k].node, w[k].si, &b);
            }
        }
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", p->dir, w[i].path);
        if (rc == 0)
            rc = fnio_write_file(full, b.data ? b.data : "", b.len);
        krm_buf_free(&b);
        i = j;
    }
    for (size_t f = 0; f < p->nfiles && rc == 0; f++) {
        bool still = false;
        for (size_t i = 0; i < p->n && !still; i++)
            still = !strcmp(w[i].path, p->files[f]);
        if (!still) {
            char full[8192];
            snprintf(full, sizeof full, "%s/%s", p->dir, p->files[f]);
            unlink(full);
        }
    }
    free(w);
    free(paths);
    return rc;
}
