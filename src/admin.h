/* Operator commands: key rotation and retirement, rewrap, verify, status,
 * export/import of sealed records. None of them ever outputs plaintext.
 * Each takes its own argv (argv[0] is the command name) and returns the
 * exit status; the command table (command.c) names them. */
#ifndef SHAREKEEP_ADMIN_H
#define SHAREKEEP_ADMIN_H

int admin_rewrap(const char *config_path, int argc, char **argv);
int admin_verify(const char *config_path, int argc, char **argv);
int admin_status(const char *config_path, int argc, char **argv);
int admin_keygen(const char *config_path, int argc, char **argv);
int admin_rotate(const char *config_path, int argc, char **argv);
int admin_retire(const char *config_path, int argc, char **argv);
int admin_export(const char *config_path, int argc, char **argv);
int admin_import(const char *config_path, int argc, char **argv);
/* admin_prune.c */
int admin_prune(const char *config_path, int argc, char **argv);
int admin_purge(const char *config_path, int argc, char **argv);

#endif
