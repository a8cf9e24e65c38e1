/* One request, start to finish: parse, route, handle, respond, log. The
 * FastCGI loop, the CGI entry point and the tests all come through here. */
#ifndef SHAREKEEP_APP_H
#define SHAREKEEP_APP_H

#include "handlers/handlers.h"
#include "http.h"

/* Everything read from disk at start and on SIGHUP. */
struct app_loaded {
    struct config cfg;
    struct keyring *kr;
    struct auth *auth;
};

/* Loads config, keyring and auth files; on failure err says which and why
 * and *out is left empty. */
int app_load(const char *config_path, struct app_loaded *out, char *err, size_t errlen);
/* app_load in two steps, so that a CGI process can start what needs only
 * the config (its database connection) before reading the key files:
 * app_load_config fills out->cfg; app_load_keys then loads the keyring and
 * auth files. Either, on failure, says why in err and empties *out. */
int app_load_config(const char *config_path, struct app_loaded *out, char *err, size_t errlen);
int app_load_keys(struct app_loaded *out, char *err, size_t errlen);
void app_loaded_free(struct app_loaded *l);

/* peer: the transport's view of who sent the request (see http_request).
 * Returns the HTTP status sent (or < 0 when the response could not be
 * written). */
int app_handle(struct app *app, char *const *envp, const struct http_io *io, const char *peer);

#endif
