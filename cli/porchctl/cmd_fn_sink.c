/* `porchctl fn sink DIR`: reads a ResourceList (or plain multi-document YAML)
 * on stdin and writes the resources back to files named by their path
 * annotations, ordered by index, with kpt's annotations removed. */
#include "cmd_fn_io.h"
#include "commands.h"

#include "error/error.h"
#include "krm/krm.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct out_item {
    char path[4096];
    int index;
    size_t order;
    krm_seqindent si;
    krm_node *node;
} out_item;

static int by_path_index(const void *a, const void *b)
{
    const out_item *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (c)
        return c;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void default_path(const krm_node *r, char *out, size_t cap)
{
    const char *kind = krm_res_kind(r), *name = krm_res_name(r), *ns = krm_res_namespace(r);
    char lk[256];
    size_t i = 0;
    for (; kind && kind[i] && i + 1 < sizeof lk; i++)
        lk[i] = (char)tolower((unsigned char)kind[i]);
    lk[i] = '\0';
    if (ns && *ns)
        snprintf(out, cap, "%s/%s_%s.yaml", ns, lk, name ? name : "");
    else
        snprintf(out, cap, "%s_%s.yaml", lk, name ? name : "");
}

static bool is_json(const char *p)
{
    size_t l = strlen(p);
    return l > 5 && !strcmp(p + l - 5, ".json");
}

static int write_group(const char *dir, out_item *g, size_t n)
{
    krm_buf b = {0};
    int rc = 0;
    if (is_json(g[0].path)) {
        rc = krm_node_emit_json(g[0].node, &b);
    } else {
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (i > 0)
                rc = krm_buf_put(&b, "---\n", 4);
            if (rc == 0)
                rc = krm_node_emit(g[i].node, g[i].si, &b);
        }
    }
    if (rc == 0) {
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", dir, g[0].path);
        rc = fnio_write_file(full, b.data ? b.data : "", b.len);
    }
    krm_buf_free(&b);
    return rc;
}

int porchctl_cmd_fn_sink(int argc, char **argv)
{
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("Usage: porchctl fn sink DIR\n");
            return 0;
        }
        if (argv[i][0] == '-') {
            fprintf(stderr, "Error: unknown flag: %s\n", argv[i]);
            return 1;
        }
        dir = argv[i];
    }
    if (!dir)
        dir = ".";
    else if (access(dir, F_OK) == 0) { /* kpt's CheckDirectoryNotPresent, before reading */
        fprintf(stderr,
                "error: directory \"%s\" already exists, please delete the directory and retry\n",
                dir);
        return 1;
    }
    char *buf;
    size_t len;
    krm_stream *s = NULL;
    if (fnio_read_stdin(&buf, &len) < 0 || krm_stream_parse(buf, len, "<stdin>", NULL, &s) < 0) {
        fprintf(stderr, "Error: %s\n", porch_error_last()->message);
        return 1;
    }
    size_t cap = 64, n = 0;
    out_item *items = malloc(cap * sizeof *items);
    int rc = items ? 0 : -1;
    for (size_t d = 0; d < krm_stream_count(s) && rc == 0; d++) {
        krm_node *root = krm_doc_root(krm_stream_doc(s, d));
        if (!root || krm_node_kind(root) != KRM_MAP)
            continue;
        krm_node *list = NULL;
        const char *kind = krm_res_kind(root);
        if (kind && !strcmp(kind, "ResourceList"))
            list = krm_map_get(root, "items");
        size_t cnt = list ? krm_seq_len(list) : 1;
        for (size_t i = 0; i < cnt; i++) {
            krm_node *r = list ? krm_seq_at(list, i) : root;
            if (!r || krm_node_kind(r) != KRM_MAP)
                continue;
            if (n == cap) {
                cap *= 2;
                out_item *ni = realloc(items, cap * sizeof *ni);
                if (!ni) {
                    rc = -1;
                    break;
                }
                items = ni;
            }
            out_item *o = &items[n];
            const char *p = krm_res_path(r);
            if (p)
                snprintf(o->path, sizeof o->path, "%s", p);
            else
                default_path(r, o->path, sizeof o->path);
            o->index = krm_res_index(r);
            if (o->index < 0)
                o->index = 0;
            const char *si = krm_res_annotation(r, KRM_ANNO_SEQINDENT);
            o->si = si && !strcmp(si, "wide") ? KRM_SEQ_WIDE : KRM_SEQ_COMPACT;
            o->order = n;
            o->node = r;
            krm_res_clear_kpt_annotations(r);
            n++;
        }
    }
    if (rc == 0)
        qsort(items, n, sizeof *items, by_path_index);
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = i + 1;
        while (j < n && !strcmp(items[j].path, items[i].path))
            j++;
        rc = write_group(dir, &items[i], j - i);
        i = j;
    }
    if (rc < 0)
        fprintf(stderr, "Error: %s\n", porch_error_last()->message);
    free(items);
    krm_stream_free(s);
    free(buf);
    return rc < 0 ? 1 : 0;
}
