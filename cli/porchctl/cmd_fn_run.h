/* Running exec functions over a local package, shared by `fn eval --exec` and
 * `fn render`: load the package as annotated items, pipe a ResourceList
 * through the function, heal comments, write the files back as kpt does. */
#ifndef PORCHCTL_CMD_FN_RUN_H
#define PORCHCTL_CMD_FN_RUN_H

#include "krm/krm.h"

#include <stddef.h>

typedef struct fnrun_pkg fnrun_pkg;

/* Reads every KRM file of `dir`; items get kpt's path/index/id annotations. */
int fnrun_load(const char *dir, fnrun_pkg **out);
void fnrun_free(fnrun_pkg *p);
size_t fnrun_count(const fnrun_pkg *p);
krm_node *fnrun_item(const fnrun_pkg *p, size_t i);
const char *fnrun_dir(const fnrun_pkg *p);
/* Runs `cmd` (split on spaces) with the current items (and fn_config) as a
 * ResourceList on stdin; on success the items are replaced by its output,
 * comments healed from the matching originals. */
int fnrun_exec(fnrun_pkg *p, const char *cmd, const krm_node *fn_config);
/* Writes the items back: each file rebuilt from its items, files whose items
 * are all gone removed, files without resources left alone. */
int fnrun_write(fnrun_pkg *p);

#endif
