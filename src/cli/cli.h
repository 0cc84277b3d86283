/* Subcommands of the corral CLI beyond run/up (main.c). */
#ifndef CORRAL_CLI_CLI_H
#define CORRAL_CLI_CLI_H

/* Print "corral: error: <fmt % arg> (see 'corral help')"; returns 2. */
int cli_usage_error(const char *fmt, const char *arg);
/* corral ctl --sock PATH [--json] status|pause|resume|shutdown|reset|metrics */
int cli_ctl(int argc, char **argv);
/* corral ps [--json] */
int cli_ps(int argc, char **argv);
/* corral snapshot create|merge ... (snapshot.c) */
int cli_snapshot(int argc, char **argv);
/* corral migrate --sock PATH URI (migrate.c) */
int cli_migrate(int argc, char **argv);

#endif
