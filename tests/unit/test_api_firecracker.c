/* Firecracker conformance without a guest: every operation of
 * Firecracker's published API (swagger 1.17, listed below by hand) is
 * sent to a VM that is never started, in the order of Firecracker's
 * getting-started guide, with Firecracker's own field set. Each answers
 * 2xx with the right shape, or 400 with the reason docs/api.yaml gives
 * for it (x-corral-refused, word for word), or a state refusal the step
 * names. Then: GET /vm/config round-trips through the config parser; the
 * config fixture with Firecracker's vm_config.json fields loads; the
 * metrics sink never blocks on a FIFO without a reader and flushes on its
 * period; PUT /logger really redirects and filters the log. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "core/log.h"
#include "vm/config.h"

#ifndef CORRAL_SOURCE_DIR
#define CORRAL_SOURCE_DIR "."
#endif

/* Firecracker's swagger (src/firecracker/swagger/firecracker.yaml): every
 * path and method. */
static const struct {
    const char *method, *path;
} fc_ops[] = {
    { "GET", "/" }, { "PUT", "/actions" },
    { "GET", "/balloon" }, { "PUT", "/balloon" }, { "PATCH", "/balloon" },
    { "GET", "/balloon/statistics" }, { "PATCH", "/balloon/statistics" },
    { "PATCH", "/balloon/hinting/start" }, { "GET", "/balloon/hinting/status" },
    { "PATCH", "/balloon/hinting/stop" },
    { "PUT", "/boot-source" }, { "PUT", "/cpu-config" },
    { "PUT", "/drives/{drive_id}" }, { "PATCH", "/drives/{drive_id}" },
    { "PUT", "/pmem/{id}" }, { "PATCH", "/pmem/{id}" },
    { "PUT", "/logger" },
    { "GET", "/machine-config" }, { "PUT", "/machine-config" }, { "PATCH", "/machine-config" },
    { "PUT", "/metrics" },
    { "PUT", "/mmds" }, { "PATCH", "/mmds" }, { "GET", "/mmds" }, { "PUT", "/mmds/config" },
    { "PUT", "/entropy" }, { "PUT", "/serial" },
    { "PUT", "/hotplug/memory" }, { "PATCH", "/hotplug/memory" }, { "GET", "/hotplug/memory" },
    { "PUT", "/network-interfaces/{iface_id}" }, { "PATCH", "/network-interfaces/{iface_id}" },
    { "PUT", "/snapshot/create" }, { "PUT", "/snapshot/load" },
    { "GET", "/version" }, { "PATCH", "/vm" }, { "GET", "/vm/config" }, { "PUT", "/vsock" },
};
#define N_FC_OPS (sizeof(fc_ops) / sizeof(fc_ops[0]))

static struct vm *vm;
static struct api_ctx ctx;
static char dir[64];

static void path_in(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static void touch(const char *name)
{
    char p[128];
    path_in(p, sizeof(p), name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
}

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/corral-fc-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    touch("vmlinux");
    touch("fw_dynamic.bin");
    touch("rootfs.ext4");
    assert_int_equal(vm_create(&vm, "fc", NULL), 0);
    api_ctx_init(&ctx, vm);
    return 0;
}

static int teardown(void **state)
{
    api_ctx_destroy(&ctx);
    vm_destroy(vm);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* A request; the reply's body stays the caller's. */
static struct api_reply call(const char *method, const char *path, const char *body)
{
    struct api_reply rep = { 0 };
    api_dispatch(&ctx, method, path, body, body ? strlen(body) : 0, &rep);
    return rep;
}

/* Body templates: @ is the test directory. */
static char *expand(const char *t)
{
    static char buf[2048];
    size_t n = 0;
    for (; *t && n + 80 < sizeof(buf); t++) {
        if (*t == '@')
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s", dir);
        else
            buf[n++] = *t;
    }
    buf[n] = 0;
    return buf;
}

/* docs/api.yaml: the x-corral mark and x-corral-refused reason of an
 * operation ("" when absent). */
static void spec_mark(const char *method, const char *path, char *mark, char *why)
{
    FILE *f = fopen(CORRAL_SOURCE_DIR "/docs/api.yaml", "r");
    assert_non_null(f);
    char line[512], cur[128] = "", want[16];
    bool in_paths = false, in_op = false;
    mark[0] = why[0] = 0;
    snprintf(want, sizeof(want), "    %s:", method);
    for (char *p = want; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] && line[0] != ' ') {
            in_paths = !strcmp(line, "paths:");
            continue;
        }
        if (!in_paths)
            continue;
        if (!strncmp(line, "  /", 3)) {
            snprintf(cur, sizeof(cur), "%.*s", (int)strcspn(line + 2, ":"), line + 2);
            in_op = false;
            continue;
        }
        if (!strncmp(line, "    ", 4) && line[4] != ' ') {
            in_op = !strcmp(cur, path) && !strcmp(line, want);
            continue;
        }
        if (!in_op)
            continue;
        if (!strncmp(line, "      x-corral: ", 16))
            snprintf(mark, 32, "%.31s", line + 16);
        static const char refused[] = "      x-corral-refused: \"";
        if (!strncmp(line, refused, strlen(refused))) {
            const char *w = line + strlen(refused);
            snprintf(why, 256, "%.*s", (int)strcspn(w, "\""), w);
        }
    }
    fclose(f);
}

/* The getting-started sequence, then every other operation. status 0:
 * any 2xx. A 400 a step expects names why (a state the VM is not in). */
static const struct step {
    const char *method, *path, *body;
    unsigned status;
    const char *needle;
} steps[] = {
    { "GET", "/", NULL, 200, NULL },
    { "GET", "/version", NULL, 200, NULL },
    { "PUT", "/logger", "{\"log_path\":\"@/fc.log\",\"level\":\"Warning\",\"show_level\":true,"
                        "\"show_log_origin\":true}", 204, NULL },
    { "PUT", "/metrics", "{\"metrics_path\":\"@/metrics.json\",\"emit_id\":true,"
                         "\"properties\":{\"team\":\"corral\"}}", 204, NULL },
    { "PUT", "/metrics", "{\"metrics_path\":\"@/other.json\"}", 400, "already initialized" },
    /* Firecracker's getting-started guide, its bodies as written. */
    { "PUT", "/boot-source", "{\"kernel_image_path\":\"@/vmlinux\",\"boot_args\":"
                             "\"console=ttyS0 reboot=k panic=1 pci=off\","
                             "\"firmware_path\":\"@/fw_dynamic.bin\"}", 204, NULL },
    { "PUT", "/drives/rootfs", "{\"drive_id\":\"rootfs\",\"path_on_host\":\"@/rootfs.ext4\","
                               "\"is_root_device\":true,\"is_read_only\":false}", 204, NULL },
    { "PUT", "/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":1024,\"smt\":false,"
                                "\"track_dirty_pages\":true,\"huge_pages\":\"None\"}", 204, NULL },
    { "PUT", "/network-interfaces/eth0", "{\"iface_id\":\"eth0\",\"guest_mac\":"
                                         "\"06:00:AC:10:00:02\",\"host_dev_name\":\"tap0\"}",
      204, NULL },
    /* Firecracker's full drive and interface field sets. */
    { "PUT", "/drives/data", "{\"drive_id\":\"data\",\"partuuid\":null,\"is_root_device\":false,"
                             "\"cache_type\":\"Unsafe\",\"is_read_only\":true,\"path_on_host\":"
                             "\"@/rootfs.ext4\",\"io_engine\":\"Async\",\"rate_limiter\":null,"
                             "\"socket\":null}", 204, NULL },
    { "PUT", "/drives/rootfs", "{\"drive_id\":\"rootfs\",\"partuuid\":\"0eaa91a0-01\","
                               "\"is_root_device\":true,\"cache_type\":\"Writeback\","
                               "\"is_read_only\":false,\"path_on_host\":\"@/rootfs.ext4\","
                               "\"io_engine\":\"Sync\",\"rate_limiter\":{\"bandwidth\":"
                               "{\"size\":1048576,\"refill_time\":100}}}", 204, NULL },
    { "PUT", "/drives/gone", "{\"drive_id\":\"gone\",\"path_on_host\":\"@/nothing.ext4\","
                             "\"is_root_device\":false}", 400,
      "drive 'gone': path_on_host '" },
    { "PUT", "/drives/vhost", "{\"drive_id\":\"vhost\",\"is_root_device\":false,\"socket\":"
                              "\"/run/vhost.sock\"}", 400, "vhost-user-block) is not supported" },
    { "PATCH", "/drives/rootfs", "{\"drive_id\":\"rootfs\",\"rate_limiter\":{\"ops\":"
                                 "{\"size\":100,\"refill_time\":1000}}}", 204, NULL },
    { "PUT", "/network-interfaces/eth1", "{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\","
                                         "\"mtu\":1500,\"rx_rate_limiter\":null,"
                                         "\"tx_rate_limiter\":null}", 204, NULL },
    { "PUT", "/network-interfaces/eth2", "{\"iface_id\":\"eth2\",\"host_dev_name\":\"tap2\","
                                         "\"mtu\":9000}", 400, "fixed MTU of 1500" },
    { "PATCH", "/network-interfaces/eth0", "{\"iface_id\":\"eth0\",\"rx_rate_limiter\":"
                                           "{\"bandwidth\":{\"size\":1000,\"refill_time\":10}}}",
      204, NULL },
    { "PATCH", "/machine-config", "{\"vcpu_count\":1}", 204, NULL },
    { "PATCH", "/machine-config", "{}", 400, "Empty PATCH request." },
    { "PATCH", "/machine-config", "{\"smt\":true}", 400, "'smt' is not supported on RISC-V" },
    { "PUT", "/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":1024,\"huge_pages\":\"2M\"}",
      400, "2M (hugetlbfs) is not supported" },
    { "PUT", "/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":1024,\"cpu_template\":"
                                "\"T2\"}", 400, "only None" },
    { "GET", "/machine-config", NULL, 200, NULL },
    { "PUT", "/entropy", "{\"rate_limiter\":{\"bandwidth\":{\"size\":1000,\"refill_time\":100}}}",
      204, NULL },
    { "PUT", "/serial", "{\"serial_out_path\":\"@/serial.log\"}", 204, NULL },
    { "PUT", "/serial", "{\"serial_out_path\":\"@/no/such/dir/serial.log\"}", 400,
      "serial_out_path '" },
    { "PUT", "/balloon", "{\"amount_mib\":0,\"deflate_on_oom\":true,\"stats_polling_interval_s\":1,"
                         "\"free_page_hinting\":false,\"free_page_reporting\":true}", 204, NULL },
    { "PUT", "/balloon", "{\"amount_mib\":0,\"deflate_on_oom\":true,\"free_page_hinting\":true}",
      400, "'free_page_hinting' is not supported" },
    /* Before start: Corral's balloon answers once the device exists. */
    { "GET", "/balloon", NULL, 0, NULL },
    { "PATCH", "/balloon", "{\"amount_mib\":16}", 400, "not running" },
    { "GET", "/balloon/statistics", NULL, 400, NULL },
    { "PATCH", "/balloon/statistics", "{\"stats_polling_interval_s\":2}", 0, NULL },
    { "PUT", "/actions", "{\"action_type\":\"FlushMetrics\"}", 204, NULL },
    /* Not started: the states Firecracker also refuses. */
    { "PATCH", "/vm", "{\"state\":\"Paused\"}", 400, "not started" },
    { "PUT", "/snapshot/create", "{\"snapshot_path\":\"@/s\",\"mem_file_path\":\"@/m\","
                                 "\"snapshot_type\":\"Full\"}", 400, NULL },
    { "PUT", "/snapshot/load", "{\"snapshot_path\":\"@/none\",\"mem_backend\":{\"backend_type\":"
                               "\"File\",\"backend_path\":\"@/none.mem\"},\"track_dirty_pages\":"
                               "true,\"resume_vm\":false,\"network_overrides\":[],"
                               "\"clock_realtime\":false}", 400,
      "must come before any configuration" },
    { "PUT", "/snapshot/load", "{\"snapshot_path\":\"@/s\",\"vsock_override\":{\"uds_path\":"
                               "\"/x\"}}", 400, "vsock_override is not supported" },
    /* MMDS: on a TAP interface (eth0 and eth1 are TAP ones) as on a user-mode one. */
    { "PUT", "/mmds/config", "{\"version\":\"V2\",\"network_interfaces\":[\"eth0\"]}", 204,
      NULL },
    { "PUT", "/network-interfaces/mmds0", "{\"iface_id\":\"mmds0\",\"type\":\"user\"}", 204,
      NULL },
    { "PUT", "/mmds/config", "{\"version\":\"V2\",\"network_interfaces\":[\"mmds0\"],"
                             "\"ipv4_address\":\"169.254.170.2\",\"imds_compat\":false}", 204,
      NULL },
    { "PUT", "/mmds", "{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\"}}}", 204, NULL },
    { "PATCH", "/mmds", "{\"latest\":{\"meta-data\":{\"ami-id\":null,\"b\":\"c\"}}}", 204,
      NULL },
    { "GET", "/mmds", NULL, 200, NULL },
    { "GET", "/vm/config", NULL, 200, NULL },
    /* Refused, each with its documented reason. */
    { "PATCH", "/balloon/hinting/start", "{\"acknowledge_on_stop\":true}", 400, NULL },
    { "GET", "/balloon/hinting/status", NULL, 400, NULL },
    { "PATCH", "/balloon/hinting/stop", NULL, 400, NULL },
    { "PUT", "/cpu-config", "{\"kvm_capabilities\":[]}", 400, NULL },
    { "PUT", "/pmem/pmem0", "{\"id\":\"pmem0\",\"path_on_host\":\"@/rootfs.ext4\"}", 400, NULL },
    { "PATCH", "/pmem/pmem0", "{\"id\":\"pmem0\"}", 400, NULL },
    { "PUT", "/vsock", "{\"guest_cid\":3,\"uds_path\":\"@/v.sock\"}", 204, NULL },
    { "PUT", "/vsock", "{\"guest_cid\":2,\"uds_path\":\"@/v.sock\"}", 400, "'guest_cid' is 2" },
    { "PUT", "/hotplug/memory", "{\"total_size_mib\":1024}", 400, NULL },
    { "PATCH", "/hotplug/memory", "{\"requested_size_mib\":512}", 400, NULL },
    { "GET", "/hotplug/memory", NULL, 400, NULL },
    /* Firecracker's answers to what is not a route. */
    { "GET", "/invalid", NULL, 400, "Invalid request method and/or path: GET invalid." },
    { "DELETE", "/machine-config", NULL, 400,
      "Invalid request method and/or path: DELETE machine-config." },
    /* Last: start fails on the empty images, and says so. */
    { "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", 400, NULL },
};

static void check_shape(const struct step *s, json_t *body)
{
    if (!strcmp(s->path, "/")) {
        assert_true(json_is_string(json_object_get(body, "id")));
        assert_string_equal(json_string_value(json_object_get(body, "state")), "Not started");
        assert_true(json_is_string(json_object_get(body, "vmm_version")));
        assert_true(json_is_string(json_object_get(body, "app_name")));
    } else if (!strcmp(s->path, "/version")) {
        assert_true(json_is_string(json_object_get(body, "firecracker_version")));
    } else if (!strcmp(s->path, "/machine-config")) {
        assert_int_equal(json_integer_value(json_object_get(body, "vcpu_count")), 1);
        assert_int_equal(json_integer_value(json_object_get(body, "mem_size_mib")), 1024);
        assert_true(json_is_false(json_object_get(body, "smt")));
        assert_true(json_is_true(json_object_get(body, "track_dirty_pages")));
        assert_string_equal(json_string_value(json_object_get(body, "huge_pages")), "None");
    }
}

static void test_every_firecracker_route(void **state)
{
    bool covered[N_FC_OPS] = { false };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        const struct step *s = &steps[i];
        char body[2048] = "";
        if (s->body)
            snprintf(body, sizeof(body), "%s", expand(s->body));
        struct api_reply rep = call(s->method, s->path, s->body ? body : NULL);
        /* Which route answered, and is it one of Firecracker's? */
        char id[VM_ID_LEN + 1], allow[64];
        struct api_reply tmp = { 0 };
        const struct api_route *r = api_route_find(s->method, s->path, id, sizeof(id), allow,
                                                   sizeof(allow), &tmp);
        for (size_t k = 0; r && k < N_FC_OPS; k++)
            if (!strcmp(fc_ops[k].method, r->method) && !strcmp(fc_ops[k].path, r->path))
                covered[k] = true;
        bool ok = s->status ? rep.status == s->status : rep.status / 100 == 2;
        if (ok && s->needle)
            ok = strstr(rep.fault, s->needle) != NULL;
        if (ok && r && r->refused) {
            /* The answer is the documented reason, word for word. */
            char mark[32], why[256], want[API_ERR_LEN];
            spec_mark(r->method, r->path, mark, why);
            snprintf(want, sizeof(want), "%s %s is not supported: %s", r->method, r->path, why);
            if (strcmp(mark, "refused") || strcmp(rep.fault, want))
                fail_msg("%s %s: docs/api.yaml marks it '%s' with '%s'; the server said '%s'",
                         s->method, s->path, mark, why, rep.fault);
        }
        if (!ok)
            fail_msg("step %zu: %s %s %s: got %u '%s', want %u '%s'", i, s->method, s->path,
                     body, rep.status, rep.fault, s->status, s->needle ? s->needle : "");
        if (rep.status == 200)
            check_shape(s, rep.body);
        json_decref(rep.body);
    }
    /* Every Firecracker operation was sent, and docs/api.yaml says what
     * Corral does with it. */
    for (size_t k = 0; k < N_FC_OPS; k++) {
        char mark[32], why[256];
        if (!covered[k])
            fail_msg("no step sends Firecracker's %s %s", fc_ops[k].method, fc_ops[k].path);
        spec_mark(fc_ops[k].method, fc_ops[k].path, mark, why);
        if (strcmp(mark, "supported") && strcmp(mark, "refused"))
            fail_msg("docs/api.yaml: Firecracker's %s %s is marked '%s'", fc_ops[k].method,
                     fc_ops[k].path, mark);
        if (!strcmp(mark, "refused") && !why[0])
            fail_msg("docs/api.yaml: %s %s is refused without a reason", fc_ops[k].method,
                     fc_ops[k].path);
    }
}

/* GET /vm/config holds everything configured (the rng, the default boot
 * args, the new fields), and reads back through --config-file's parser
 * into the same document. */
static void test_vm_config_roundtrip(void **state)
{
    struct api_reply rep;
    rep = call("PUT", "/boot-source", expand("{\"kernel_image_path\":\"@/vmlinux\"}"));
    assert_int_equal(rep.status, 204);
    rep = call("PUT", "/drives/rootfs", expand("{\"path_on_host\":\"@/rootfs.ext4\","
                                               "\"is_root_device\":true,\"partuuid\":\"abcd-02\","
                                               "\"cache_type\":\"Unsafe\",\"io_engine\":\"Async\"}"));
    assert_int_equal(rep.status, 204);
    rep = call("PUT", "/network-interfaces/eth0", "{\"host_dev_name\":\"tap0\",\"mtu\":1500}");
    assert_int_equal(rep.status, 204);
    rep = call("PUT", "/entropy", "{}");
    assert_int_equal(rep.status, 204);
    rep = call("PUT", "/serial", expand("{\"serial_out_path\":\"@/serial.log\",\"rate_limiter\":"
                                        "{\"size\":100,\"refill_time\":10}}"));
    assert_int_equal(rep.status, 204);
    rep = call("PATCH", "/machine-config", "{\"track_dirty_pages\":true,\"huge_pages\":"
                                           "\"Transparent\"}");
    assert_int_equal(rep.status, 204);

    rep = call("GET", "/vm/config", NULL);
    assert_int_equal(rep.status, 200);
    json_t *doc = rep.body;
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "boot-source"),
                                                          "boot_args")), VM_DEFAULT_CMDLINE);
    assert_non_null(json_object_get(doc, "entropy"));
    json_t *d = json_array_get(json_object_get(doc, "drives"), 0);
    assert_string_equal(json_string_value(json_object_get(d, "cache_type")), "Unsafe");
    assert_string_equal(json_string_value(json_object_get(d, "partuuid")), "abcd-02");
    assert_string_equal(json_string_value(json_object_get(d, "io_engine")), "Async");
    json_t *n = json_array_get(json_object_get(doc, "network-interfaces"), 0);
    assert_int_equal(json_integer_value(json_object_get(n, "mtu")), 1500);
    json_t *ser = json_object_get(doc, "serial");
    assert_non_null(strstr(json_string_value(json_object_get(ser, "serial_out_path")),
                           "serial.log"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ser, "rate_limiter"),
                                                        "size")), 100);
    json_t *mc = json_object_get(doc, "machine-config");
    assert_true(json_is_true(json_object_get(mc, "track_dirty_pages")));
    assert_string_equal(json_string_value(json_object_get(mc, "huge_pages")), "Transparent");

    /* Through the parser and back: the same document. */
    struct vm_config c;
    char err[VM_ERR_LEN];
    vmcfg_init(&c);
    if (vmcfg_apply_document(&c, doc, err))
        fail_msg("GET /vm/config does not load back: %s", err);
    json_t *again = vmcfg_to_json(&c);
    if (!json_equal(doc, again)) {
        char *a = json_dumps(doc, JSON_SORT_KEYS), *b = json_dumps(again, JSON_SORT_KEYS);
        fail_msg("round trip differs:\n%s\n%s", a, b);
    }
    /* The root drive's partuuid reaches the kernel's command line. */
    struct machine_config m;
    assert_int_equal(vmcfg_set_str(&c.firmware, "/fw"), 0);
    assert_int_equal(vmcfg_to_machine(&c, &m, err), 0);
    assert_non_null(strstr(m.cmdline, "root=PARTUUID=abcd-02 rw"));
    json_decref(again);
    vmcfg_free(&c);
    json_decref(doc);
}

/* tests/fixtures/firecracker_vm_config.json: Firecracker's own
 * tests/framework/vm_config.json, field for field. */
static void test_firecracker_config_file(void **state)
{
    json_error_t je;
    json_t *doc = json_load_file(CORRAL_SOURCE_DIR "/tests/fixtures/firecracker_vm_config.json",
                                 0, &je);
    assert_non_null(doc);
    static const char *const fc_keys[] = { "boot-source", "drives", "machine-config",
                                           "cpu-config", "balloon", "network-interfaces",
                                           "vsock", "logger", "metrics", "mmds-config",
                                           "entropy", "pmem", "memory-hotplug" };
    for (size_t i = 0; i < sizeof(fc_keys) / sizeof(fc_keys[0]); i++)
        if (!json_object_get(doc, fc_keys[i]))
            fail_msg("the fixture lacks Firecracker's '%s'", fc_keys[i]);
    struct vm_config c;
    char err[VM_ERR_LEN];
    vmcfg_init(&c);
    if (vmcfg_apply_document(&c, doc, err))
        fail_msg("the fixture does not load: %s", err);
    assert_int_equal(c.ncpus, 2);
    assert_int_equal(c.mem_mib, 1024);
    assert_int_equal(c.ndrives, 1);
    assert_string_equal(c.drives[0].cache, "unsafe");
    assert_true(c.drives[0].root);
    assert_false(c.balloon.present);
    vmcfg_free(&c);
    /* A vsock section configures the device. */
    json_object_set_new(doc, "vsock", json_pack("{s:i, s:s}", "guest_cid", 3, "uds_path", "/v"));
    vmcfg_init(&c);
    assert_int_equal(vmcfg_apply_document(&c, doc, err), 0);
    assert_int_equal(c.vsock_cid, 3);
    assert_string_equal(c.vsock_uds, "/v");
    vmcfg_free(&c);
    /* What Corral lacks is refused with a reason, not as an unknown key. */
    json_object_set_new(doc, "pmem", json_pack("[{s:s}]", "id", "p"));
    vmcfg_init(&c);
    assert_int_equal(vmcfg_apply_document(&c, doc, err), -EINVAL);
    assert_non_null(strstr(err, "'pmem' is not supported"));
    vmcfg_free(&c);
    json_decref(doc);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A FIFO nobody reads: PUT /metrics answers at once, and 300 flushes
 * never wait (the pipe fills, lines are dropped and counted); once a
 * reader comes, the lines it gets are whole JSON objects. */
static void test_metrics_fifo_never_blocks(void **state)
{
    char fifo[128], body[256];
    path_in(fifo, sizeof(fifo), "metrics.fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    snprintf(body, sizeof(body), "{\"metrics_path\":\"%s\"}", fifo);
    double t0 = now_s();
    struct api_reply rep = call("PUT", "/metrics", body);
    assert_int_equal(rep.status, 204);
    for (int i = 0; i < 300; i++) {
        rep = call("PUT", "/actions", "{\"action_type\":\"FlushMetrics\"}");
        assert_int_equal(rep.status, 204);
    }
    double took = now_s() - t0;
    uint64_t lines, dropped;
    api_metrics_counts(ctx.metrics, &lines, &dropped);
    if (took > 10.0 || dropped == 0 || lines == 0)
        fail_msg("300 flushes to a FIFO without a reader: %.2f s, %llu lines, %llu dropped",
                 took, (unsigned long long)lines, (unsigned long long)dropped);
    int fd = open(fifo, O_RDONLY | O_NONBLOCK);
    assert_true(fd >= 0);
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = 0;
    char *nl = strchr(buf, '\n');
    assert_non_null(nl);
    *nl = 0;
    json_t *j = json_loads(buf, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_integer(json_object_get(j, "utc_timestamp_ms")));
    assert_non_null(json_object_get(j, "instructions"));
    json_decref(j);
    close(fd);
}

/* The sink's own period (60 s through the API; 50 ms here). */
static void test_metrics_period(void **state)
{
    char path[128], err[API_ERR_LEN];
    struct api_metrics *m;
    path_in(path, sizeof(path), "period.json");
    json_t *extra = json_pack("{s:s}", "id", "fc");
    assert_int_equal(api_metrics_open(&m, vm, path, 50, extra, err), 0);
    json_decref(extra);
    usleep(400 * 1000);
    api_metrics_close(m);
    int n = count_lines(path);
    if (n < 3)
        fail_msg("%d lines in 400 ms at one per 50 ms", n);
    FILE *f = fopen(path, "r");
    char line[8192];
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    json_t *j = json_loads(line, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "fc");
    json_decref(j);
    assert_int_equal(api_metrics_open(&m, vm, "/nonexistent/dir/m.json", 50, NULL, err),
                     -ENOENT);
    assert_non_null(strstr(err, "metrics_path '/nonexistent/dir/m.json'"));
}

static bool file_has(const char *path, const char *needle)
{
    char buf[16384];
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

/* PUT /logger: the log goes to the file, at the level asked, with the
 * level word and the origin, and only from the module asked. */
static void test_logger(void **state)
{
    char path[128], body[512];
    path_in(path, sizeof(path), "corral.log");
    snprintf(body, sizeof(body), "{\"log_path\":\"%s\",\"level\":\"info\",\"show_level\":true,"
                                 "\"show_log_origin\":true}", path);
    struct api_reply rep = call("PUT", "/logger", body);
    assert_int_equal(rep.status, 204);
    log_info("fc-test info line");
    log_debug("fc-test debug line");
    assert_true(file_has(path, "info: [tests/unit/test_api_firecracker.c:"));
    assert_true(file_has(path, "fc-test info line"));
    assert_false(file_has(path, "fc-test debug line"));
    rep = call("PUT", "/logger", "{\"level\":\"Debug\",\"module\":\"vm::migrate\"}");
    assert_int_equal(rep.status, 204);
    log_warn("fc-test filtered out");
    assert_false(file_has(path, "fc-test filtered out"));
    rep = call("PUT", "/logger", "{\"level\":\"Off\"}");
    assert_int_equal(rep.status, 204);
    log_error("fc-test off");
    assert_false(file_has(path, "fc-test off"));
    rep = call("PUT", "/logger", "{\"level\":\"Loud\"}");
    assert_int_equal(rep.status, 400);
    assert_non_null(strstr(rep.fault, "'level' is 'Loud'"));
    rep = call("GET", "/vm/config", NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(rep.body, "logger"),
                                                          "level")), "Off");
    json_decref(rep.body);
    /* Back to the CLI's defaults for the tests that follow. */
    struct log_options o = { .level = LOG_WARN, .show_level = LOG_SHOW_LEVEL_CLI };
    char err[128];
    assert_int_equal(log_configure(NULL, &o, err, sizeof(err)), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_every_firecracker_route), T(test_vm_config_roundtrip),
        T(test_firecracker_config_file), T(test_metrics_fifo_never_blocks),
        T(test_metrics_period), T(test_logger),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
