/* `porchctl fn source [DIR] [--fn-config FILE]`: prints the package as a
 * ResourceList, with kpt's index/path/seqindent annotations on each item,
 * items ordered by file path then document index (as kpt does). */
#include "cmd_fn_io.h"
#include "commands.h"

#include "error/error.h"
#include "krm/krm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct items {
    krm_node **v;
    size_t n, cap;
} items;

static int push(items *it, krm_node *n)
{
    if (it->n == it->cap) {
        it->cap = it->cap ? it->cap * 2 : 64;
        krm_node **nv = realloc(it->v, it->cap * sizeof *nv);
        if (!nv)
            return porch_error_set(500, "out of memory");
        it->v = nv;
    }
    it->v[it->n++] = n;
    return 0;
}

/* Parses one file into `s`, annotating each non-empty document. */
static int source_file(const char *full, const char *rel, krm_stream **keep, items *out,
                       bool first_only)
{
    char *buf;
    size_t len;
    if (fnio_read_file(full, &buf, &len) < 0)
        return -1;
    krm_stream *s;
    int rc = krm_stream_parse(buf, len, rel, NULL, &s);
    if (rc < 0) {
        free(buf);
        return -1;
    }
    int index = 0;
    for (size_t d = 0; d < krm_stream_count(s); d++) {
        krm_doc *doc = krm_stream_doc(s, d);
        krm_node *root = krm_doc_root(doc);
        if (!root || (krm_node_kind(root) == KRM_SCALAR && krm_scalar_is_null(root)))
            continue;
        if (krm_node_kind(root) != KRM_MAP)
            continue;
        if (krm_res_set_kpt_annotations(s, root, rel, index, krm_doc_seqindent(doc)) < 0 ||
            push(out, root) < 0) {
            rc = -1;
            break;
        }
        index++;
        if (first_only)
            break;
    }
    free(buf);
    *keep = s;
    return rc;
}

int porchctl_cmd_fn_source(int argc, char **argv)
{
    const char *dir = ".", *fn_config = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fn-config") && i + 1 < argc)
            fn_config = argv[++i];
        else if (!strncmp(argv[i], "--fn-config=", 12))
            fn_config = argv[i] + 12;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("Usage: porchctl fn source [DIR] [--fn-config FILE]\n");
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "Error: unknown flag: %s\n", argv[i]);
            return 1;
        } else
            dir = argv[i];
    }
    char **files = NULL;
    size_t nfiles = 0;
    if (fnio_list_package(dir, &files, &nfiles) < 0) {
        fprintf(stderr, "Error: %s\n", porch_error_last()->message);
        return 1;
    }
    krm_stream **streams = calloc(nfiles + 1, sizeof *streams);
    items it = {0};
    int rc = 0;
    for (size_t i = 0; i < nfiles && rc == 0; i++) {
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", dir, files[i]);
        rc = source_file(full, files[i], &streams[i], &it, false);
    }
    krm_node *fc = NULL;
    if (rc == 0 && fn_config) {
        items fcs = {0};
        rc = source_file(fn_config, fn_config, &streams[nfiles], &fcs, true);
        fc = fcs.n ? fcs.v[0] : NULL;
        free(fcs.v);
    }
    if (rc == 0) {
        krm_buf out = {0};
        rc = krm_emit_resource_list(it.v, it.n, fc, &out);
        if (rc == 0)
            fwrite(out.data, 1, out.len, stdout);
        krm_buf_free(&out);
    }
    if (rc < 0)
        fprintf(stderr, "Error: %s\n", porch_error_last()->message);
    for (size_t i = 0; i <= nfiles; i++)
        krm_stream_free(streams[i]);
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    free(streams);
    free(it.v);
    return rc < 0 ? 1 : 0;
}
