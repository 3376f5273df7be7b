/* Edits of a package's Kptfile text that the engine's tasks make (spec §3.6,
 * §3.7, §6.2): package metadata into metadata.labels/annotations, the name,
 * and the upstream pointers of a clone — through the KRM document model, so
 * comments and formatting survive as kpt keeps them. */
#ifndef PORCH_ENGINE_KPTFILE_H
#define PORCH_ENGINE_KPTFILE_H

#include <jansson.h>

/* Applies to resources["Kptfile"] in place: `metadata` = {labels, annotations}
 * merged (replace = 0) or replacing the user's (replace = 1); `name` (or NULL)
 * becomes metadata.name; `upstream`/`lock` (JSON, or NULL) become upstream and
 * upstreamLock. 400 when there is no parsable Kptfile. */
int engine_kptfile_edit(json_t *resources, json_t *metadata, int replace, const char *name,
                        json_t *upstream, json_t *lock);

/* A Draft update's Kptfile changes (spec §3.7 step 6): metadata.labels and
 * annotations replaced by `package_metadata` {labels, annotations} (NULL:
 * unchanged; kpt's local-config marker kept), info.readinessGates set from
 * `readiness_gates` and status.conditions from `conditions` (JSON arrays; NULL:
 * unchanged; empty: removed). The text is rewritten only when something changed. */
int engine_kptfile_sync(json_t *resources, json_t *package_metadata, json_t *readiness_gates,
                        json_t *conditions);

/* Porch's package context generator, run when cloning into a deployment
 * repository (spec §6.2): beside every Kptfile, package-context.yaml becomes a
 * local-config ConfigMap `kptfile.kpt.dev` with data.name = that Kptfile's
 * name and data.package-path = `package_path` (the packageName). */
int engine_package_context(json_t *resources, const char *package_path);

#endif
