/* Subcommands of the corral CLI beyond run/up (main.c). */
#ifndef CORRAL_CLI_CLI_H
#define CORRAL_CLI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Print "corral: error: <fmt % arg> (see 'corral help')"; returns 2. */
int cli_usage_error(const char *fmt, const char *arg);
/* corral ctl (--sock PATH | --name NAME) [--json] COMMAND (ctl.c) */
int cli_ctl(int argc, char **argv);
/* corral ps [--json] [--all] (ps.c) */
int cli_ps(int argc, char **argv);
/* corral stop NAME... [--force] [--timeout SECONDS] (stop.c) */
int cli_stop(int argc, char **argv);
/* The API socket of the live VM registered as `name` into sock; 0, or 1
 * with the reason printed (ctl.c). */
int cli_sock_for_name(const char *name, char *sock, size_t len);
/* argv (after the command word) holds --help or -h (help.c). */
bool cli_asks_help(int argc, char **argv);
/* Print cmd's own help; false when it has none here (help.c). */
bool cli_print_command_help(const char *cmd);
/* Walk a JSON value as "key.sub[i]: value" lines (ctl.c). */
void cli_json_flat(const char *prefix, const json_t *j,
                   void (*line)(const char *key, const char *value, void *opaque),
                   void *opaque);
/* corral snapshot create|merge ... (snapshot.c) */
int cli_snapshot(int argc, char **argv);
/* corral migrate --sock PATH URI (migrate.c) */
int cli_migrate(int argc, char **argv);
/* corral agent --etcd URL --name HOST --addr ADDR (agent.c) */
int cli_agent(int argc, char **argv);
/* corral cluster [--etcd URL] COMMAND (cluster.c) */
int cli_cluster(int argc, char **argv);
/* corral image debian [options] OUT.qcow2: execs scripts/debian-image.sh
 * (image.c); returns only on error. */
int cli_image(int argc, char **argv);

#endif
