/* Prometheus metrics shared by all workers: one anonymous shared mapping
 * made by the master before it forks, updated with relaxed atomics, so a
 * scrape answered by any worker sees every worker's counts and counts
 * survive worker restarts. */
#ifndef SHAREKEEP_METRICS_H
#define SHAREKEEP_METRICS_H

#include <stddef.h>

#include "router.h"

/* Creates the shared block (call once, before forking). 0 or -1. Without it
 * every metrics_* call is a no-op and the exposition is empty. */
int metrics_init(void);

/* route: the index of the matched row of router_routes, or -1 when none
 * matched. */
void metrics_request(int route, int status, double seconds);
void metrics_db_error(void);
void metrics_worker_restart(void);
void metrics_share_stored(void);
void metrics_record_unopenable(void);
void metrics_fetch_truncated(void);

/* Writes the Prometheus text exposition into a malloc'd buffer. 0 or -1. */
int metrics_render(char **out, size_t *len);

#endif
