/* Applies sql/NNN_name.sql files in order, each once. */
#ifndef SHAREKEEP_MIGRATE_H
#define SHAREKEEP_MIGRATE_H

#include "config.h"

/* Returns 0 when every migration is applied (now or before). Prints one
 * line per file to stdout. */
int migrate_run(const struct config *cfg);

#endif
