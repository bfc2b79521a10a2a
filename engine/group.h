/* group.h: histories grouped per entity in O(n). */
#ifndef DF_GROUP_H
#define DF_GROUP_H

#include "error.h"
#include "table.h"

/* Orders h's rows by entity (stable: file order within an entity) and fills h->offsets
 * (n_entities + 1 entries); frees h->owner. */
df_status group_history(table *h, uint64_t n_entities, df_error *err);

#endif
