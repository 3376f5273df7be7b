/* set-enforcement-action: sets spec.enforcementAction on every Gatekeeper
 * constraint (apiVersion constraints.gatekeeper.sh/...) to dryrun, warn or
 * deny, and reports how many policies changed and their names. */
#include "fn_builtin.h"

#include <stdio.h>

#include <string.h>

int fn_builtin_set_enforcement_action(fn_ctx *c)
{
    const char *action = fn_config_get(c, "enforcementAction");
    if (!action || !*action)
        return fn_fail(c,
                       "the function config must set `enforcementAction` (dryrun, warn or deny)");
    if (strcmp(action, "dryrun") && strcmp(action, "warn") && strcmp(action, "deny"))
        return fn_fail(c, "enforcementAction must be one of dryrun, warn, deny, not %s", action);
    int count = 0;
    size_t n = krm_seq_len(c->items);
    for (size_t i = 0; i < n; i++) {
        krm_node *o = krm_seq_at(c->items, i);
        const char *av = krm_res_api_version(o);
        if (av && !strncmp(av, "constraints.gatekeeper.sh/", 26))
            count++;
    }
    fn_resultf(c, FN_SEV_INFO, NULL, NULL, "Number of policies set to [%s]: %d", action, count);
    for (size_t i = 0; i < n; i++) {
        krm_node *o = krm_seq_at(c->items, i);
        const char *av = krm_res_api_version(o);
        if (!av || strncmp(av, "constraints.gatekeeper.sh/", 26))
            continue;
        krm_node *spec = fn_ensure_map(c->s, o, "spec");
        if (spec)
            fn_set_string(c->s, spec, "enforcementAction", action);
        fn_result r = {.severity = FN_SEV_INFO, .file_index = -1};
        char msg[512];
        const char *name = krm_res_name(o);
        snprintf(msg, sizeof msg, "Policy name: [%s]", name ? name : "");
        r.message = msg;
        r.file_path = (char *)krm_res_path(o);
        r.file_index = -1; /* the catalog reports the file only */
        fn_results_add_full(c->results, &r);
    }
    return 0;
}
