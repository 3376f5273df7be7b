/* Round-trip corpus: each corpus/input file goes through what
 * `porchctl fn source | porchctl fn sink` does (annotate, ResourceList,
 * re-parse, strip, write back) and must equal kpt's own output, recorded by
 * regen.sh in corpus/expected (NAME.none: nothing written, NAME.error: kpt failed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error/error.h"
#include "krm/krm.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t r = fread(b, 1, (size_t)n, f);
    fclose(f);
    b[r] = '\0';
    *len = r;
    return b;
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Returns 0 and the written file in *out (NULL when nothing is written), -1 on parse error. */
static int source_sink(const char *name, const char *in, size_t len, krm_buf *out, bool *none)
{
    krm_stream *s;
    if (krm_stream_parse(in, len, name, NULL, &s) < 0)
        return -1;
    krm_node *items[256];
    size_t n = 0;
    for (size_t d = 0; d < krm_stream_count(s) && n < 256; d++) {
        krm_doc *doc = krm_stream_doc(s, d);
        krm_node *r = krm_doc_root(doc);
        if (!r || krm_node_kind(r) != KRM_MAP)
            continue;
        assert_int_equal(krm_res_set_kpt_annotations(s, r, name, (int)n, krm_doc_seqindent(doc)),
                         0);
        items[n++] = r;
    }
    krm_buf rl = {0};
    assert_int_equal(krm_emit_resource_list(items, n, NULL, &rl), 0);
    krm_stream_free(s);
    krm_stream *s2;
    assert_int_equal(krm_stream_parse(rl.data, rl.len, "rl", NULL, &s2), 0);
    krm_node *list = krm_map_get(krm_doc_root(krm_stream_doc(s2, 0)), "items");
    *none = krm_seq_len(list) == 0;
    size_t nl = strlen(name);
    bool json = nl > 5 && !strcmp(name + nl - 5, ".json");
    for (size_t i = 0; i < krm_seq_len(list); i++) {
        krm_node *r = krm_seq_at(list, i);
        const char *si = krm_res_annotation(r, KRM_ANNO_SEQINDENT);
        krm_seqindent k = si && !strcmp(si, "wide") ? KRM_SEQ_WIDE : KRM_SEQ_COMPACT;
        krm_res_clear_kpt_annotations(r);
        if (json) {
            assert_int_equal(krm_node_emit_json(r, out), 0);
            break;
        }
        if (i > 0)
            krm_buf_put(out, "---\n", 4);
        assert_int_equal(krm_node_emit(r, k, out), 0);
    }
    krm_buf_free(&rl);
    krm_stream_free(s2);
    return 0;
}

static void test_corpus(void **st)
{
    (void)st;
    const char *src = getenv("PORCH_SOURCE_DIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/common/krm/tests/corpus", src ? src : ".");
    char indir[4200];
    snprintf(indir, sizeof indir, "%s/input", dir);
    DIR *d = opendir(indir);
    assert_non_null(d);
    struct dirent *de;
    int checked = 0, failed = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[8400], e[8400];
        snprintf(p, sizeof p, "%s/%s", indir, de->d_name);
        size_t len = 0, elen = 0;
        char *in = slurp(p, &len);
        assert_non_null(in);
        krm_buf out = {0};
        bool none = false;
        int rc = source_sink(de->d_name, in, len, &out, &none);
        snprintf(e, sizeof e, "%s/expected/%s.error", dir, de->d_name);
        if (exists(e)) {
            if (rc == 0) {
                fprintf(stderr, "%s: kpt rejects this input, we accepted it\n", de->d_name);
                failed++;
            }
        } else if (rc < 0) {
            fprintf(stderr, "%s: parse failed: %s\n", de->d_name, porch_error_last()->message);
            failed++;
        } else {
            snprintf(e, sizeof e, "%s/expected/%s.none", dir, de->d_name);
            if (exists(e)) {
                if (!none) {
                    fprintf(stderr, "%s: kpt writes no file, we wrote:\n%s\n", de->d_name,
                            out.data);
                    failed++;
                }
            } else {
                snprintf(e, sizeof e, "%s/expected/%s", dir, de->d_name);
                char *want = slurp(e, &elen);
                assert_non_null(want);
                if (out.len != elen || memcmp(out.data, want, elen)) {
                    fprintf(stderr, "%s: differs from kpt\n--- kpt\n%s--- ours\n%s", de->d_name,
                            want, out.data ? out.data : "");
                    failed++;
                }
                free(want);
            }
        }
        checked++;
        krm_buf_free(&out);
        free(in);
    }
    closedir(d);
    fprintf(stderr, "corpus: %d files, %d differ from kpt\n", checked, failed);
    assert_true(checked >= 15);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_corpus)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
