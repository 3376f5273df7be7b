/* Porch's lifecycle rules as pure functions (spec §3.6–§3.9, §4): what a
 * create may ask for, which lifecycle changes an update or the approval
 * subresource may make, and what a delete may remove. No I/O: the engine's
 * handlers call these before touching git, so a refusal changes nothing. */
#ifndef PORCH_ENGINE_RULES_H
#define PORCH_ENGINE_RULES_H

#include <jansson.h>

#define ENGINE_LATEST_LABEL "kpt.dev/latest-revision"

/* Checks a create request's object (§3.6 steps 1 and 3, and the task count
 * of step 5). 0 or -1 with the Kubernetes code and message. */
int engine_rules_check_create(const char *namespace_, json_t *object);

/* Checks an update of `old` to `new` (§3.7 step 2 and §3.8). `approval` is
 * 1 for the approval subresource. On success *lifecycle is the target
 * lifecycle (borrowed from `new`, "Draft" when empty). */
int engine_rules_check_update(json_t *old, json_t *new_, int approval, const char **lifecycle);

/* Checks a delete of `obj` (§3.9 step 1). */
int engine_rules_check_delete(json_t *obj);

/* 1 when package paths `a` and `b` nest: one is a directory above the other
 * ("team/app" and "team/app/db"); equal paths or shared name prefixes
 * ("app" and "app-db") do not (§3.6 step 5, Porch's PathsOverlap). */
int engine_rules_paths_nest(const char *a, const char *b);

/* "" and "Draft" → "Draft"; the four lifecycles → themselves; else NULL. */
const char *engine_rules_lifecycle(const char *text);

#endif
