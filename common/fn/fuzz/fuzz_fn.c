/* libFuzzer target for the evaluator's wire path and the built-ins: the
 * first byte picks a built-in and its functionConfig, the rest is taken as
 * a ResourceList's text. Nothing may crash, leak or hang; what a function
 * answers must be a ResourceList our parser reads back. */
#include "error/error.h"
#include "fn/fn.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *image, *config;
} cases[] = {
    {"set-namespace", "apiVersion: v1\nkind: ConfigMap\ndata:\n  namespace: fuzz\n"},
    {"set-labels", "apiVersion: v1\nkind: ConfigMap\ndata:\n  app: fuzz\n  tier: b\n"},
    {"set-annotations", "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n"},
    {"set-image", "apiVersion: v1\nkind: ConfigMap\ndata:\n  name: nginx\n  newTag: '2'\n"},
    {"apply-setters", "apiVersion: v1\nkind: ConfigMap\ndata:\n  tag: '2'\n  env: '[a, b]'\n"},
    {"create-setters", "apiVersion: v1\nkind: ConfigMap\ndata:\n  tag: '1.2'\n  env: |\n    - a\n"},
    {"list-setters", NULL},
    {"search-replace",
     "apiVersion: v1\nkind: ConfigMap\ndata:\n  by-path: '**.name'\n  by-value-regex: (.*)-x\n"
     "  put-value: ${1}-y\n"},
    {"ensure-name-substring", "apiVersion: v1\nkind: ConfigMap\ndata:\n  prepend: p-\n"},
    {"remove-local-config-resources", NULL},
    {"upsert-resource", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: v\n"},
    {"apply-replacements",
     "apiVersion: fn.kpt.dev/v1alpha1\nkind: ApplyReplacements\nreplacements:\n- source:\n"
     "    kind: ConfigMap\n    fieldPath: data.a\n  targets:\n  - select:\n      kind: X\n"
     "    fieldPaths: [spec.a.[name=b].c]\n    options: {create: true}\n"},
    {"set-enforcement-action",
     "apiVersion: v1\nkind: ConfigMap\ndata:\n  enforcementAction: warn\n"},
    {"fix", NULL},
    {"format", NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fn_runtime *rt;
    if (!rt) {
        fn_runtime_opts o = {.builtins = true};
        if (fn_runtime_new(&o, &rt) < 0)
            abort();
    }
    if (size < 1 || size > (1 << 16))
        return 0;
    size_t which = data[0] % (sizeof cases / sizeof *cases);
    krm_buf in = {0};
    krm_buf_put(&in, (const char *)data + 1, size - 1);
    if (cases[which].config) {
        /* appended as the list's functionConfig, indented under the key */
        const char *k = "\nfunctionConfig:\n";
        krm_buf_put(&in, k, strlen(k));
        for (const char *p = cases[which].config; *p;) {
            const char *e = strchr(p, '\n');
            size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
            krm_buf_put(&in, "  ", 2);
            krm_buf_put(&in, p, n);
            p += n;
        }
    }
    fn_call call = {.image = cases[which].image};
    fn_exec_result res;
    if (fn_runtime_eval_text(rt, &call, in.data, in.len, &res) == 0) {
        krm_stream *s = NULL;
        if (krm_stream_parse(res.out, res.out_len, "answer", NULL, &s) == 0)
            krm_stream_free(s);
        fn_exec_result_free(&res);
    }
    porch_error_clear();
    krm_buf_free(&in);
    return 0;
}
