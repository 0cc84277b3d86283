/* Each subcommand's own --help (the general list is in main.c). Texts
 * for commands whose parsers live elsewhere, so that `corral X --help`
 * answers before X parses anything. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct cmd_help {
    const char *name, *text;
};

static const struct cmd_help helps[] = {
    { "image",
      "usage: corral image debian [--size SIZE] [--suite SUITE] [--mirror URL]\n"
      "                           [--ssh-key FILE.pub] [--rebuild] OUT.qcow2\n"
      "\n"
      "Build a bootable Debian riscv64 system from Debian's archive: debootstrap\n"
      "--foreign on the host (as root), the second stage inside Corral, Debian's\n"
      "kernel (linux-image-riscv64), a getty on ttyS0, DHCP and openssh-server.\n"
      "15 to 30 minutes, with progress; cached in ~/.cache/corral/debian/SUITE and\n"
      "resumed after an interruption. Boot it with 'corral up --debian'.\n"
      "  --size SIZE     disk size (default 8G, at least 2G)\n"
      "  --suite SUITE   trixie (default), forky or sid (riscv64 is in Debian from trixie)\n"
      "  --mirror URL    Debian mirror (default http://deb.debian.org/debian)\n"
      "  --ssh-key FILE  root's authorized key (default: the first ~/.ssh/id_*.pub;\n"
      "                  without one, SSH takes the generated root password)\n"
      "  --rebuild       start over instead of resuming the cached build\n" },
    { "snapshot",
      "usage: corral snapshot create --sock PATH --dir DIR [--diff] [--no-resume]\n"
      "       corral snapshot merge --dir DIR --out DIR2\n"
      "\n"
      "create: pause the VM (if it runs), write DIR/state and DIR/memory, resume.\n"
      "  --sock PATH   the VM's API socket\n"
      "  --dir DIR     where the snapshot goes (created if missing)\n"
      "  --diff        only the pages written since the last snapshot (a Diff\n"
      "                on top of it; restore needs the whole chain)\n"
      "  --no-resume   leave the VM paused afterwards\n"
      "merge: fold DIR's Diff chain into one Full snapshot in DIR2.\n"
      "\n"
      "Run a snapshot again with 'corral restore DIR' (docs/snapshots.md).\n" },
    { "restore",
      "usage: corral restore DIR [--paused] [--api-sock PATH] [--name NAME]\n"
      "                      [--console stdio|pty|file:PATH] [--ignore-disk-changes]\n"
      "\n"
      "Run the snapshot in DIR (corral snapshot create) in this new process; the\n"
      "same as 'corral run --restore DIR'. The snapshot brings the whole machine:\n"
      "--kernel, --disk, --net and the like are refused.\n"
      "  --paused               load, but do not run until resumed (ctl resume)\n"
      "  --api-sock PATH        serve the management API\n"
      "  --name NAME            register the VM for corral ps / stop\n"
      "  --ignore-disk-changes  accept raw disks changed since the snapshot\n" },
    { "migrate",
      "usage: corral migrate --sock PATH [--mode precopy|postcopy|auto] [--zstd LEVEL]\n"
      "                      [--delta-cache MIB] [--no-dedup] [--no-zero-pages]\n"
      "                      [--max-bandwidth MIBPS] [--downtime-ms N] [--compress-threads N]\n"
      "                      [--migrate-disks] [--recover-window SECS] URI\n"
      "       corral migrate --sock PATH --recover URI\n"
      "\n"
      "Live-migrate the VM behind --sock to a 'corral run --incoming URI' (or a\n"
      "process given PUT /migrate/incoming). URI: tcp:HOST:PORT, unix:PATH, fd:N.\n"
      "The source stops once the destination runs (docs/migration.md).\n"
      "  --mode M            precopy (default), postcopy, or auto (switch to\n"
      "                      post-copy after 3 rounds)\n"
      "  --zstd LEVEL        compress pages (1..19; 0 = off)\n"
      "  --compress-threads N  compress on N threads (default 1)\n"
      "  --migrate-disks     copy the disks too (the destination needs --disk-override)\n"
      "  --delta-cache MIB   send changed pages as deltas against a cache\n"
      "  --no-dedup          send repeated pages again\n"
      "  --no-zero-pages     send zero pages as data\n"
      "  --max-bandwidth N   cap at N MiB/s\n"
      "  --downtime-ms N     the longest pause to aim for (default 50)\n"
      "  --recover-window S  post-copy: how long both sides wait for a recovery\n"
      "                      when the link breaks (1..600 s, default 60)\n"
      "  --recover URI       post-copy paused by a broken link (postcopy-paused):\n"
      "                      on the destination listen on URI, then on the source\n"
      "                      connect to it and finish the migration\n" },
};

bool cli_asks_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    }
    return false;
}

bool cli_print_command_help(const char *cmd)
{
    for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
        if (!strcmp(helps[i].name, cmd)) {
            fputs(helps[i].text, stdout);
            return true;
        }
    return false;
}
