/* remove-local-config-resources: drops every resource annotated
 * config.kubernetes.io/local-config: "true" (the Kptfile excepted) and
 * reports how many were pruned and their names with their files. */
#include "fn_builtin.h"

#include <stdio.h>
#include <string.h>

int fn_builtin_remove_local_config_resources(fn_ctx *c)
{
    int count = 0;
    for (size_t i = 0; i < krm_seq_len(c->items); i++) {
        krm_node *o = krm_seq_at(c->items, i);
        const char *k = krm_res_kind(o);
        if (fn_is_local_config(o) && !(k && !strcmp(k, "Kptfile")))
            count++;
    }
    fn_resultf(c, FN_SEV_INFO, NULL, NULL, "Number of resources pruned: %d", count);
    for (size_t i = 0; i < krm_seq_len(c->items);) {
        krm_node *o = krm_seq_at(c->items, i);
        const char *k = krm_res_kind(o);
        if (!fn_is_local_config(o) || (k && !strcmp(k, "Kptfile"))) {
            i++;
            continue;
        }
        char msg[512];
        const char *name = krm_res_name(o);
        snprintf(msg, sizeof msg, "Resource name: [%s]", name ? name : "");
        fn_result r = {.message = msg, .severity = FN_SEV_INFO, .file_index = -1};
        r.file_path = (char *)krm_res_path(o);
        r.file_index = -1; /* the catalog reports the file only */
        fn_results_add_full(c->results, &r);
        krm_seq_delete(c->items, i);
    }
    return 0;
}
