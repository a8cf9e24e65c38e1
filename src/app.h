/* One request, start to finish: parse, route, handle, respond, log. The
 * FastCGI loop, the CGI entry point and the tests all come through here. */
#ifndef SHAREKEEP_APP_H
#define SHAREKEEP_APP_H

#include "handlers/handlers.h"
#include "http.h"

/* Returns the HTTP status sent (or < 0 when the response could not be written). */
int app_handle(struct app *app, char *const *envp, const struct http_io *io);

#endif
