/* libFuzzer target for the KRM document model: parse → emit → parse → emit.
 * Whatever we emit must parse back, and emitting the re-parsed tree must not
 * crash; JSON output and the KRM helpers are exercised on the way. */
#include "krm/krm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    krm_limits lim = {.max_depth = 64, .max_alias_nodes = 100000, .max_stream_bytes = 1 << 20};
    krm_stream *s = NULL;
    if (krm_stream_parse((const char *)data, size, "fuzz.yaml", &lim, &s) < 0)
        return 0;
    krm_buf out = {0};
    if (krm_stream_emit(s, &out) < 0)
        abort();
    for (size_t i = 0; i < krm_stream_count(s); i++) {
        krm_node *root = krm_doc_root(krm_stream_doc(s, i));
        if (!root)
            continue;
        krm_buf j = {0};
        krm_node_emit_json(root, &j);
        krm_buf_free(&j);
        (void)krm_res_name(root);
        (void)krm_path_get(root, "spec.template.spec.containers[name=main].image");
        krm_node *c = krm_node_copy(s, root);
        if (c && !krm_node_equal(root, c))
            abort();
    }
    krm_stream *s2 = NULL;
    if (krm_stream_parse(out.data ? out.data : "", out.len, "fuzz-out.yaml", &lim, &s2) < 0) {
        /* our own output must read back */
        abort();
    }
    krm_buf out2 = {0};
    if (krm_stream_emit(s2, &out2) < 0)
        abort();
    krm_buf_free(&out2);
    krm_stream_free(s2);
    krm_buf_free(&out);
    krm_stream_free(s);
    return 0;
}
