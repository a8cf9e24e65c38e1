/* Operator commands: key rotation and retirement, rewrap, verify, status,
 * export/import of sealed records. None of them ever outputs plaintext. */
#ifndef SHAREKEEP_ADMIN_H
#define SHAREKEEP_ADMIN_H

/* Returns 1 and sets *rc when cmd is an admin command (handled), else 0.
 * argv[0] is the command name. */
int admin_dispatch(const char *config_path, const char *cmd, int argc, char **argv, int *rc);

#endif
