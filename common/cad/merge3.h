/* kpt's field-level 3-way merge of one resource (see merge3.c). */
#ifndef PORCH_CAD_MERGE3_H
#define PORCH_CAD_MERGE3_H

#include "krm/krm.h"

/* Merges upstream's change from `origin` to `updated` into `local`; returns
 * the merged node (usually `local`, changed in place; new nodes live in s).
 * origin may be NULL (field added on both sides). */
krm_node *cad_merge3(krm_stream *s, const krm_node *origin, krm_node *local, const krm_node *updated);

#endif
