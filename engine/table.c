/* table.c: lifetime of a table (see table.h). */
#include <stdlib.h>
#include <string.h>

#include "table.h"

void table_free(table *t)
{
    if (!t) return;
    for (int i = 0; i < t->ncols; i++) column_free(&t->cols[i]);
    if (!t->is_history && t->keys.slots) strmap_free(&t->keys);
    free(t->name);
    free(t->file);
    free(t->path);
    free(t->key);
    free(t->date_col);
    free(t->owner);
    free(t->offsets);
    memset(t, 0, sizeof *t);
}

int table_find_col(const table *t, const char *name)
{
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0) return i;
    return -1;
}
