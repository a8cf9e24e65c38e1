/* Processes: the FastCGI prefork master and its workers, and the one-shot
 * CGI mode. */
#ifndef SHAREKEEP_SERVER_H
#define SHAREKEEP_SERVER_H

#include "app.h"

/* Serves FastCGI until SIGTERM/SIGINT; SIGHUP reloads the config file,
 * keyring and auth files. Takes ownership of *l. Returns an exit code. */
int server_run(const char *config_path, struct app_loaded *l);

/* Serves exactly one request over CGI (environment + stdin/stdout), with
 * the config at config_path (NULL: defaults and SHAREKEEP_* only); a config
 * or key file that cannot be loaded is answered 503. stdout is closed once
 * the response is written. Then exits: 0 when the response was sent. */
_Noreturn void server_run_cgi(const char *config_path);

/* Whether we were started as a CGI program rather than a FastCGI server. */
int server_is_cgi(void);

#endif
