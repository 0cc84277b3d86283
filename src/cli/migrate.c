/* corral migrate --sock PATH [options] URI: start a live migration
 * of the VM behind PATH to a `corral run --incoming URI` process, show its
 * progress, and print the final statistics. Exit 0 when it completed (the
 * source process then ends by itself), 1 when it failed (the VM goes on).
 * corral migrate --sock PATH --recover URI: a post-copy paused by a broken
 * link goes on over URI (docs/migration.md, "Post-copy recovery"): on the
 * destination it listens and returns; on the source it follows the rest
 * of the migration as above. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/cli.h"

static json_t *get_json(const char *sock, const char *path)
{
    unsigned status;
    char *resp, err[API_ERR_LEN];
    if (api_client_request(sock, "GET", path, NULL, &status, &resp, err))
        return NULL;
    json_error_t je;
    json_t *j = status == 200 ? json_loads(resp, 0, &je) : NULL;
    free(resp);
    return j;
}

static double num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : 0;
}

/* --flag N in lo..hi; -1 when it is not a number in range. */
static long num_arg(const char *v, long lo, long hi)
{
    char *end;
    long n = strtol(v, &end, 10);
    return *v && !*end && n >= lo && n <= hi ? n : -1;
}

/* Follow the migration to its end: progress on a terminal, then the
 * final statistics. `recovering`: after PUT /migrate/recover (a failed
 * attempt leaves post-copy paused, not the VM running here). */
static int follow(const char *sock, const char *uri, bool recovering)
{
    bool tty = isatty(STDERR_FILENO);
    json_t *last = NULL;
    for (;;) {
        usleep(50000);
        json_t *j = get_json(sock, "/migrate");
        if (!j)
            break; /* the source exited: completed, see the last status */
        json_decref(last);
        last = j;
        const char *st = json_string_value(json_object_get(j, "status"));
        json_t *ram = json_object_get(j, "ram");
        if (tty)
            fprintf(stderr, "\r%-10s %8.1f MiB sent, round %.0f, %.0f pages left, %.0f MiB/s   ",
                    st ? st : "?", num(ram, "transferred_bytes") / 1048576.0,
                    num(ram, "iterations"), num(ram, "remaining_pages"),
                    num(j, "bandwidth_mibps"));
        if (st && strcmp(st, "setup") && strcmp(st, "active") && strcmp(st, "postcopy-active") &&
            strcmp(st, "postcopy-recover"))
            break;
    }
    if (tty)
        fprintf(stderr, "\n");
    if (!last) {
        fprintf(stderr, "corral: error: %s: no answer from the VM\n", sock);
        return 1;
    }
    const char *st = json_string_value(json_object_get(last, "status"));
    bool ok = st && !strcmp(st, "completed");
    json_t *ram = json_object_get(last, "ram");
    if (ok) {
        printf("migration to %s completed: total %.1f ms, downtime %.1f ms, %.1f MiB sent "
               "(%.0f pages, %.0f zero, %.0f compressed, %.0f dedup, %.0f delta; ratio %.2f), "
               "%.0f rounds\n",
               uri, num(last, "total_time_ms"), num(last, "downtime_ms"),
               num(ram, "transferred_bytes") / 1048576.0, num(ram, "normal_pages"),
               num(ram, "zero_pages"), num(ram, "compressed_pages"), num(ram, "dedup_pages"),
               num(ram, "delta_pages"), num(ram, "compression_ratio"), num(ram, "iterations"));
        const char *mode = json_string_value(json_object_get(last, "mode"));
        json_t *disk = json_object_get(last, "disk");
        if (disk)
            printf("storage: %.1f MiB of disk content sent (%.0f chunks)\n",
                   num(disk, "transferred_bytes") / 1048576.0, num(disk, "chunks"));
        if (num(last, "cpu_throttle_percentage") > 0)
            printf("auto-converge: the guest's harts were throttled to %.0f%% to converge\n",
                   num(last, "cpu_throttle_percentage"));
        double rec = num(last, "postcopy_recoveries");
        if (rec > 0)
            printf("post-copy recovered %.0f time%s after its link broke\n", rec,
                   rec == 1 ? "" : "s");
        if (mode && strcmp(mode, "precopy"))
            printf("mode %s: %.0f pages the destination faulted on were served on demand\n", mode,
                   num(last, "postcopy_requests"));
        json_decref(last);
        return 0;
    }
    json_t *e = json_object_get(last, "error");
    if (st && !strcmp(st, "postcopy-paused"))
        fprintf(stderr, "corral: error: post-copy paused: %s (the guest's memory is split: "
                "recover with 'corral migrate --sock %s --recover URI' on the destination, "
                "then here)\n", json_is_string(e) ? json_string_value(e) : "", sock);
    else if (recovering || (st && !strcmp(st, "failed") &&
                            json_integer_value(json_object_get(last, "postcopy_recoveries"))))
        fprintf(stderr, "corral: error: migration %s: %s (the VM stays paused here)\n",
                st ? st : "failed", json_is_string(e) ? json_string_value(e) : "");
    else
        fprintf(stderr, "corral: error: migration %s: %s (the VM keeps running here)\n",
                st ? st : "failed", json_is_string(e) ? json_string_value(e) : "");
    json_decref(last);
    return 1;
}

static int put(const char *sock, const char *path, const char *text)
{
    unsigned status;
    char *resp, err[API_ERR_LEN];
    if (api_client_request(sock, "PUT", path, text, &status, &resp, err)) {
        fprintf(stderr, "corral: error: %s\n", err);
        return 1;
    }
    if (status >= 300) {
        json_error_t je;
        json_t *j = json_loads(resp, 0, &je);
        json_t *m = json_object_get(j, "fault_message");
        fprintf(stderr, "corral: error: %s\n", json_is_string(m) ? json_string_value(m) : resp);
        json_decref(j);
        free(resp);
        return 1;
    }
    free(resp);
    return 0;
}

static int recover_migration(const char *sock, const char *uri)
{
    if (!sock)
        return cli_usage_error("migrate: --recover URI needs --sock PATH%s", "");
    json_t *body = json_pack("{s:s}", "uri", uri);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    int r = text ? put(sock, "/migrate/recover", text) : 1;
    free(text);
    if (r)
        return r;
    json_t *j = get_json(sock, "/migrate");
    bool incoming = j && json_is_true(json_object_get(j, "incoming"));
    json_decref(j);
    if (incoming) {
        printf("post-copy recovery: listening on %s; now on the source: corral migrate "
               "--sock SOURCE --recover %s\n", uri, uri);
        return 0;
    }
    return follow(sock, uri, true);
}

int cli_migrate(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "sock", required_argument, NULL, 's' },
        { "downtime-ms", required_argument, NULL, 'd' },
        { "max-bandwidth", required_argument, NULL, 'b' },
        { "zstd", required_argument, NULL, 'z' },
        { "compress-threads", required_argument, NULL, 't' },
        { "delta-cache", required_argument, NULL, 'c' },
        { "no-dedup", no_argument, NULL, 'D' },
        { "no-zero-pages", no_argument, NULL, 'Z' },
        { "mode", required_argument, NULL, 'm' },
        { "migrate-disks", no_argument, NULL, 'S' },
        { "recover", required_argument, NULL, 'R' },
        { "recover-window", required_argument, NULL, 'W' },
        { 0 },
    };
    static const struct { int opt; const char *name, *key; long lo, hi; } nums[] = {
        { 'd', "--downtime-ms", "downtime_limit_ms", 1, 60000 },
        { 'b', "--max-bandwidth", "max_bandwidth_mibps", 0, 1000000 },
        { 'z', "--zstd", "zstd_level", 0, 19 },
        { 't', "--compress-threads", "threads", 1, 64 },
        { 'c', "--delta-cache", "delta_cache_mib", 0, 4096 },
        { 'W', "--recover-window", "postcopy_recover_window_s", 1, 600 },
    };
    const char *sock = NULL, *recover = NULL;
    json_t *body = json_object(), *comp = json_object();
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        bool known = false;
        for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
            if (c != nums[i].opt)
                continue;
            long n = num_arg(optarg, nums[i].lo, nums[i].hi);
            if (n < 0) {
                char what[96];
                snprintf(what, sizeof(what), "%s %s: expected %ld..%ld", nums[i].name, optarg,
                         nums[i].lo, nums[i].hi);
                json_decref(body);
                json_decref(comp);
                return cli_usage_error("migrate: %s", what);
            }
            json_object_set_new(c == 'z' || c == 't' ? comp : body, nums[i].key, json_integer(n));
            known = true;
        }
        if (known)
            continue;
        switch (c) {
        case 's': sock = optarg; break;
        case 'D': json_object_set_new(body, "dedup", json_false()); break;
        case 'm': json_object_set_new(body, "mode", json_string(optarg)); break;
        case 'Z': json_object_set_new(comp, "zero_pages", json_false()); break;
        case 'S': json_object_set_new(body, "migrate_disks", json_true()); break;
        case 'R': recover = optarg; break;
        default:
            json_decref(body);
            json_decref(comp);
            return cli_usage_error("migrate: unknown option or missing value near '%s'",
                                   argv[optind - 1]);
        }
    }
    if (recover && (json_object_size(body) || json_object_size(comp) || optind != argc)) {
        json_decref(body);
        json_decref(comp);
        return cli_usage_error("migrate: --recover URI takes no other option but --sock, and no "
                               "destination (it is the URI)%s", "");
    }
    if (recover) {
        json_decref(body);
        json_decref(comp);
        return recover_migration(sock, recover);
    }
    if (!sock || optind != argc - 1) {
        json_decref(body);
        json_decref(comp);
        return cli_usage_error("migrate: usage: corral migrate --sock PATH [--downtime-ms N] "
                               "[--max-bandwidth MIBPS] [--zstd LEVEL] [--compress-threads N] "
                               "[--delta-cache MIB] "
                               "[--no-dedup] [--no-zero-pages] [--mode precopy|postcopy|auto] "
                               "[--migrate-disks] URI, or --sock PATH --recover URI%s", "");
    }
    const char *uri = argv[optind];
    json_object_set_new(body, "uri", json_string(uri));
    if (json_object_size(comp))
        json_object_set(body, "compression", comp);
    json_decref(comp);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int r = put(sock, "/migrate", text);
    free(text);
    return r ? r : follow(sock, uri, false);
}
