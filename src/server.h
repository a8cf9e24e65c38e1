/* Processes: the FastCGI prefork master and its workers, and the one-shot
 * CGI mode. */
#ifndef SHAREKEEP_SERVER_H
#define SHAREKEEP_SERVER_H

#include "config.h"
#include "keyring.h"

/* Serves FastCGI until SIGTERM/SIGINT; SIGHUP reloads the config file and
 * keyring. Takes ownership of cfg and kr. Returns a process exit code. */
int server_run(const char *config_path, struct config *cfg, struct keyring *kr);

/* Serves exactly one request over CGI (environment + stdin/stdout). */
int server_run_cgi(const struct config *cfg, const struct keyring *kr);

/* Whether we were started as a CGI program rather than a FastCGI server. */
int server_is_cgi(void);

#endif
