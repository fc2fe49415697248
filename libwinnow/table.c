/* wn_table_*: Arrow C Data Interface record batches. */
#include "build_config.h"

#include <string.h>

#include <winnow/table.h>

void wn_table_release(struct wn_table *table)
{
    if (table == NULL)
        return;
    if (table->array.release != NULL)
        table->array.release(&table->array);
    if (table->schema.release != NULL)
        table->schema.release(&table->schema);
    memset(table, 0, sizeof(*table));
}

void wn_table_move(struct wn_table *dst, struct wn_table *src)
{
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

int wn_table_is_live(const struct wn_table *table)
{
    return table != NULL && table->schema.release != NULL && table->array.release != NULL;
}

int64_t wn_table_num_rows(const struct wn_table *table)
{
    return wn_table_is_live(table) ? table->array.length : 0;
}

int64_t wn_table_num_columns(const struct wn_table *table)
{
    return wn_table_is_live(table) ? table->schema.n_children : 0;
}

int wn_table_validate(const struct wn_table *table, struct wn_error *err)
{
    if (!wn_table_is_live(table))
        return wn_error_set(err, WN_EINVAL, "the table is released");
    if (table->schema.format == NULL || strcmp(table->schema.format, "+s") != 0)
        return wn_error_set(err, WN_EINVAL, "the table's schema is not a struct (\"+s\")");
    return 0;
}
