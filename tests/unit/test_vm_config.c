/* The configuration parsers shared by the API and --config-file: shapes,
 * limits, unknown keys, ids, and the mapping onto the board's config. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vm/config.h"

static struct vm_config cfg;
static char err[VM_ERR_LEN];

static int setup(void **state)
{
    vmcfg_init(&cfg);
    err[0] = 0;
    return 0;
}

static int teardown(void **state)
{
    vmcfg_free(&cfg);
    return 0;
}

static json_t *js(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);
    assert_non_null(j);
    return j;
}


static int put_boot(const char *text)
{
    json_t *j = js(text);
    int r = vmcfg_put_boot_source(&cfg, j, err);
    json_decref(j);
    return r;
}

static int put_mc(const char *text)
{
    json_t *j = js(text);
    int r = vmcfg_put_machine_config(&cfg, j, err);
    json_decref(j);
    return r;
}

static int put_drive(const char *id, const char *text)
{
    json_t *j = js(text);
    int r = vmcfg_put_drive(&cfg, id, j, err);
    json_decref(j);
    return r;
}

static int put_net(const char *id, const char *text)
{
    json_t *j = js(text);
    int r = vmcfg_put_net(&cfg, id, j, err);
    json_decref(j);
    return r;
}

static void test_boot_source(void **state)
{
    assert_int_equal(put_boot("{\"kernel_image_path\":\"/k\",\"initrd_path\":\"/i\","
                              "\"boot_args\":\"console=ttyS0 x\",\"firmware_path\":\"/f\"}"), 0);
    assert_string_equal(cfg.kernel, "/k");
    assert_string_equal(cfg.initrd, "/i");
    assert_string_equal(cfg.cmdline, "console=ttyS0 x");
    assert_string_equal(cfg.firmware, "/f");
    /* A PUT replaces the whole resource. */
    assert_int_equal(put_boot("{\"kernel_image_path\":\"/k2\",\"initrd_path\":null}"), 0);
    assert_string_equal(cfg.kernel, "/k2");
    assert_null(cfg.initrd);
    assert_null(cfg.firmware);
    /* Refusals leave it as it was. */
    assert_int_equal(put_boot("{\"initrd_path\":\"/i\"}"), -EINVAL);
    assert_non_null(strstr(err, "missing 'kernel_image_path'"));
    assert_int_equal(put_boot("{\"kernel_image_path\":\"/k\",\"kernel\":\"x\"}"), -EINVAL);
    assert_non_null(strstr(err, "unknown key 'kernel'"));
    assert_int_equal(put_boot("{\"kernel_image_path\":5}"), -EINVAL);
    assert_non_null(strstr(err, "must be a string"));
    assert_int_equal(put_boot("{\"kernel_image_path\":\"\"}"), -EINVAL);
    assert_int_equal(put_boot("[1]"), -EINVAL);
    assert_int_equal(put_boot("{\"kernel_image_path\":\"a\\u0000b\"}"), -EINVAL);
    assert_string_equal(cfg.kernel, "/k2");
}

static void test_machine_config(void **state)
{
    assert_int_equal(put_mc("{\"vcpu_count\":4,\"mem_size_mib\":1024,\"smt\":false}"), 0);
    assert_int_equal(cfg.ncpus, 4);
    assert_int_equal(cfg.mem_mib, 1024);
    assert_int_equal(put_mc("{\"vcpu_count\":0,\"mem_size_mib\":1024}"), -EINVAL);
    assert_int_equal(put_mc("{\"vcpu_count\":9,\"mem_size_mib\":1024}"), -EINVAL);
    assert_int_equal(put_mc("{\"vcpu_count\":1,\"mem_size_mib\":8}"), -EINVAL);
    assert_int_equal(put_mc("{\"vcpu_count\":1,\"mem_size_mib\":1e3}"), -EINVAL);
    assert_int_equal(put_mc("{\"vcpu_count\":1}"), -EINVAL);
    assert_non_null(strstr(err, "mem_size_mib"));
    assert_int_equal(put_mc("{\"vcpu_count\":1,\"mem_size_mib\":64,\"smt\":true}"), -EINVAL);
    assert_int_equal(put_mc("{\"vcpu_count\":\"1\",\"mem_size_mib\":64}"), -EINVAL);
    assert_int_equal(put_mc("{\"vcpu_count\":-1,\"mem_size_mib\":64}"), -EINVAL);
    assert_int_equal(cfg.ncpus, 4);
    json_t *j = vmcfg_machine_config_json(&cfg);
    assert_int_equal(json_integer_value(json_object_get(j, "vcpu_count")), 4);
    json_decref(j);
}

static void test_drives(void **state)
{
    assert_int_equal(put_drive("data", "{\"drive_id\":\"data\",\"path_on_host\":\"/d\","
                                       "\"is_root_device\":false,\"is_read_only\":true}"), 0);
    assert_int_equal(put_drive("rootfs", "{\"path_on_host\":\"/r\",\"is_root_device\":true,"
                                         "\"format\":\"qcow2\"}"), 0);
    assert_int_equal(cfg.ndrives, 2);
    /* Same id replaces. */
    assert_int_equal(put_drive("data", "{\"path_on_host\":\"/d2\",\"is_root_device\":false}"), 0);
    assert_int_equal(cfg.ndrives, 2);
    assert_string_equal(cfg.drives[0].path, "/d2");
    assert_false(cfg.drives[0].readonly);
    /* A second root, a mismatched id, bad ids, bad format. */
    assert_int_equal(put_drive("x", "{\"path_on_host\":\"/x\",\"is_root_device\":true}"),
                     -EINVAL);
    assert_non_null(strstr(err, "root device"));
    assert_int_equal(put_drive("x", "{\"drive_id\":\"y\",\"path_on_host\":\"/x\","
                                    "\"is_root_device\":false}"), -EINVAL);
    assert_int_equal(put_drive("a-b", "{\"path_on_host\":\"/x\",\"is_root_device\":false}"),
                     -EINVAL);
    assert_int_equal(put_drive("x", "{\"path_on_host\":\"/x\"}"), -EINVAL);
    assert_int_equal(put_drive("x", "{\"path_on_host\":\"/x\",\"is_root_device\":false,"
                                    "\"format\":\"vmdk\"}"), -EINVAL);
    /* Full. */
    char id[16];
    for (int i = 0; cfg.ndrives < VM_MAX_DRIVES; i++) {
        snprintf(id, sizeof(id), "d%d", i);
        assert_int_equal(put_drive(id, "{\"path_on_host\":\"/x\",\"is_root_device\":false}"), 0);
    }
    assert_int_equal(put_drive("more", "{\"path_on_host\":\"/x\",\"is_root_device\":false}"),
                     -EINVAL);
    assert_non_null(strstr(err, "at most"));
}

static void test_nets(void **state)
{
    assert_int_equal(put_net("eth0", "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\","
                                     "\"guest_mac\":\"06:00:AC:10:00:02\"}"), 0);
    assert_int_equal(cfg.nets[0].kind, MACHINE_NET_TAP);
    assert_true(cfg.nets[0].mac_set);
    assert_int_equal(cfg.nets[0].mac[2], 0xac);
    assert_int_equal(put_net("eth1", "{\"type\":\"user\",\"hostfwd\":[\"tcp::2222-:22\"]}"), 0);
    assert_int_equal(cfg.nets[1].kind, MACHINE_NET_USER);
    assert_int_equal(cfg.nets[1].nhostfwd, 1);
    assert_int_equal(put_net("e", "{\"type\":\"tap\"}"), -EINVAL);
    assert_int_equal(put_net("e", "{\"type\":\"user\",\"host_dev_name\":\"t\"}"), -EINVAL);
    assert_int_equal(put_net("e", "{\"type\":\"vde\"}"), -EINVAL);
    assert_int_equal(put_net("e", "{\"host_dev_name\":\"t\",\"hostfwd\":[\"x\"]}"), -EINVAL);
    assert_int_equal(put_net("e", "{\"hostfwd\":[1]}"), -EINVAL);
    assert_int_equal(put_net("e", "{\"hostfwd\":\"tcp::1-:1\"}"), -EINVAL);
    assert_int_equal(put_net("e", "{\"guest_mac\":\"01:00:00:00:00:01\"}"), -EINVAL);
    assert_int_equal(cfg.nnets, 2);
}

/* rate_limiter on drives, rx_/tx_rate_limiter on interfaces: PUT, PATCH,
 * the JSON view, the board's config, bad bodies changing nothing. */
static void test_rate_limiters(void **state)
{
    assert_int_equal(put_drive("data", "{\"path_on_host\":\"/d\",\"is_root_device\":false,"
                                       "\"rate_limiter\":{\"bandwidth\":{\"size\":8388608,"
                                       "\"refill_time\":1000}}}"), 0);
    assert_int_equal(put_drive("rootfs", "{\"path_on_host\":\"/r\",\"is_root_device\":true}"),
                     0);
    assert_int_equal(cfg.drives[0].rate_limit.bw.size, 8388608);
    assert_false(ratelimit_cfg_active(&cfg.drives[1].rate_limit));
    static const char *const bad[] = {
        "{\"rate_limiter\":{\"bandwidth\":{\"size\":-1,\"refill_time\":10}}}",
        "{\"rate_limiter\":{\"bandwidth\":{\"size\":1,\"refill_time\":0}}}",
        "{\"rate_limiter\":{\"bandwidth\":{\"size\":1,\"refill_time\":5,\"x\":1}}}",
        "{\"rate_limiter\":{\"iops\":{}}}",
        "{\"rate_limiter\":5}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[300];
        snprintf(body, sizeof(body), "{\"path_on_host\":\"/d\",\"is_root_device\":false,%s",
                 bad[i] + 1);
        assert_int_equal(put_drive("data", body), -EINVAL);
        assert_non_null(strstr(err, "rate_limiter"));
    }
    assert_int_equal(cfg.drives[0].rate_limit.bw.size, 8388608);

    /* PATCH: only the limiter; the root drive is the machine's disk 0. */
    const struct vm_drive *d;
    unsigned idx = 99;
    json_t *j = js("{\"drive_id\":\"data\",\"rate_limiter\":{\"ops\":{\"size\":100,"
                   "\"refill_time\":1000}}}");
    assert_int_equal(vmcfg_patch_drive(&cfg, "data", j, &d, &idx, err), 0);
    json_decref(j);
    assert_int_equal(idx, 1);
    assert_ptr_equal(d, &cfg.drives[0]);
    assert_int_equal(d->rate_limit.bw.size, 8388608); /* not named: kept */
    assert_int_equal(d->rate_limit.ops.size, 100);
    j = js("{\"rate_limiter\":null}");
    assert_int_equal(vmcfg_patch_drive(&cfg, "rootfs", j, &d, &idx, err), 0);
    assert_int_equal(idx, 0);
    json_decref(j);
    static const char *const bad_patch[] = {
        "{\"path_on_host\":\"/elsewhere\"}",
        "{\"is_read_only\":true}",
        "{\"drive_id\":\"rootfs\"}",
        "{\"rate_limiter\":{\"ops\":{\"size\":1}}}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(bad_patch) / sizeof(bad_patch[0]); i++) {
        j = js(bad_patch[i]);
        assert_int_equal(vmcfg_patch_drive(&cfg, "data", j, &d, &idx, err), -EINVAL);
        json_decref(j);
    }
    j = js("{}");
    assert_int_equal(vmcfg_patch_drive(&cfg, "nope", j, &d, &idx, err), -EINVAL);
    assert_non_null(strstr(err, "no drive 'nope'"));
    json_decref(j);
    assert_int_equal(cfg.drives[0].rate_limit.ops.size, 100);

    assert_int_equal(put_net("eth0", "{\"type\":\"user\",\"tx_rate_limiter\":{\"bandwidth\":"
                                     "{\"size\":1000,\"refill_time\":100}}}"), 0);
    assert_int_equal(cfg.nets[0].tx_limit.bw.size, 1000);
    assert_false(ratelimit_cfg_active(&cfg.nets[0].rx_limit));
    assert_int_equal(put_net("eth0", "{\"rx_rate_limiter\":{\"ops\":{\"size\":-3,"
                                     "\"refill_time\":100}}}"), -EINVAL);
    assert_non_null(strstr(err, "rx_rate_limiter"));
    /* A PATCH with one bad member changes neither. */
    j = js("{\"rx_rate_limiter\":{\"ops\":{\"size\":5,\"refill_time\":100}},"
           "\"tx_rate_limiter\":{\"ops\":{\"size\":5,\"refill_time\":0}}}");
    assert_int_equal(vmcfg_patch_net(&cfg, "eth0", j, &idx, err), -EINVAL);
    json_decref(j);
    assert_false(ratelimit_cfg_active(&cfg.nets[0].rx_limit));
    j = js("{\"iface_id\":\"eth0\",\"rx_rate_limiter\":{\"ops\":{\"size\":5,"
           "\"refill_time\":100}},\"tx_rate_limiter\":null}");
    assert_int_equal(vmcfg_patch_net(&cfg, "eth0", j, &idx, err), 0);
    json_decref(j);
    assert_int_equal(idx, 0);
    assert_int_equal(cfg.nets[0].rx_limit.ops.size, 5);
    assert_false(ratelimit_cfg_active(&cfg.nets[0].tx_limit));
    j = js("{\"host_dev_name\":\"tap1\"}");
    assert_int_equal(vmcfg_patch_net(&cfg, "eth0", j, &idx, err), -EINVAL);
    assert_non_null(strstr(err, "unknown key 'host_dev_name'"));
    json_decref(j);

    /* GET /vm/config shows them and loads back the same. */
    assert_int_equal(put_boot("{\"kernel_image_path\":\"/k\",\"firmware_path\":\"/f\"}"), 0);
    json_t *out = vmcfg_to_json(&cfg);
    json_t *dr = json_array_get(json_object_get(out, "drives"), 0);
    assert_non_null(json_object_get(json_object_get(dr, "rate_limiter"), "ops"));
    assert_null(json_object_get(json_array_get(json_object_get(out, "drives"), 1),
                                "rate_limiter"));
    struct vm_config again;
    vmcfg_init(&again);
    assert_int_equal(vmcfg_apply_document(&again, out, err), 0);
    assert_memory_equal(&again.drives[0].rate_limit, &cfg.drives[0].rate_limit,
                        sizeof(struct ratelimit_cfg));
    assert_memory_equal(&again.nets[0].rx_limit, &cfg.nets[0].rx_limit,
                        sizeof(struct ratelimit_cfg));
    vmcfg_free(&again);
    json_decref(out);

    /* The board gets them in its disk order (root first). */
    struct machine_config mc;
    assert_int_equal(vmcfg_to_machine(&cfg, &mc, err), 0);
    assert_string_equal(mc.disks[1].path, "/d");
    assert_int_equal(mc.disks[1].rate_limit.ops.size, 100);
    assert_false(ratelimit_cfg_active(&mc.disks[0].rate_limit));
    assert_int_equal(mc.nets[0].rx_limit.ops.size, 5);
}

static void test_mac_and_ids(void **state)
{
    uint8_t mac[6];
    assert_int_equal(vmcfg_parse_mac("02:ab:cd:ef:01:23", mac), 0);
    assert_int_equal(mac[5], 0x23);
    assert_int_equal(vmcfg_parse_mac("02:ab:cd:ef:01", mac), -EINVAL);
    assert_int_equal(vmcfg_parse_mac("02:ab:cd:ef:01:2g", mac), -EINVAL);
    assert_int_equal(vmcfg_parse_mac("02:ab:cd:ef:01: 3", mac), -EINVAL);
    assert_int_equal(vmcfg_parse_mac("02:ab:cd:ef:01:234", mac), -EINVAL);
    assert_int_equal(vmcfg_parse_mac(NULL, mac), -EINVAL);
    assert_true(vmcfg_valid_id("root_fs1"));
    assert_false(vmcfg_valid_id(""));
    assert_false(vmcfg_valid_id("a/b"));
    assert_false(vmcfg_valid_id("0123456789012345678901234567890123456789012345678901234567890123"));
}

static void test_document_roundtrip(void **state)
{
    const char *doc =
        "{\"boot-source\":{\"kernel_image_path\":\"/k\",\"boot_args\":\"console=ttyS0\","
        "\"firmware_path\":\"/f\"},"
        "\"machine-config\":{\"vcpu_count\":2,\"mem_size_mib\":256},"
        "\"drives\":[{\"drive_id\":\"data\",\"path_on_host\":\"/d\",\"is_root_device\":false},"
        "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/r\",\"is_root_device\":true,"
        "\"is_read_only\":true}],"
        "\"network-interfaces\":[{\"iface_id\":\"eth0\",\"type\":\"user\"}],"
        "\"vsock\":{\"vsock_id\":\"v0\",\"guest_cid\":7,\"uds_path\":\"/tmp/v.sock\"}}";
    json_t *j = js(doc);
    assert_int_equal(vmcfg_apply_document(&cfg, j, err), 0);
    json_decref(j);
    /* GET /vm/config gives a document that loads into the same config. */
    json_t *out = vmcfg_to_json(&cfg);
    struct vm_config again;
    vmcfg_init(&again);
    assert_int_equal(vmcfg_apply_document(&again, out, err), 0);
    json_t *out2 = vmcfg_to_json(&again);
    assert_true(json_equal(out, out2));
    json_t *vs = json_object_get(out, "vsock");
    assert_int_equal(json_integer_value(json_object_get(vs, "guest_cid")), 7);
    assert_string_equal(json_string_value(json_object_get(vs, "uds_path")), "/tmp/v.sock");
    assert_string_equal(json_string_value(json_object_get(vs, "vsock_id")), "v0");
    json_decref(out);
    json_decref(out2);
    vmcfg_free(&again);

    /* The root drive goes first and boot_args gain root=. */
    struct machine_config mc;
    assert_int_equal(vmcfg_to_machine(&cfg, &mc, err), 0);
    assert_int_equal(mc.ncpus, 2);
    assert_int_equal(mc.mem_size, 256ULL << 20);
    assert_int_equal(mc.ndisks, 2);
    assert_string_equal(mc.disks[0].path, "/r");
    assert_true(mc.disks[0].readonly);
    assert_string_equal(mc.disks[1].path, "/d");
    assert_string_equal(mc.cmdline, "console=ttyS0 root=/dev/vda ro");
    assert_int_equal(mc.nnets, 1);
    assert_int_equal(mc.nets[0].kind, MACHINE_NET_USER);
    assert_int_equal(mc.vsock_cid, 7);
    assert_string_equal(mc.vsock_uds, "/tmp/v.sock");
}

static void test_document_errors(void **state)
{
    static const struct {
        const char *doc, *needle;
    } bad[] = {
        { "{\"loggers\":{}}", "unknown key 'loggers'" },
        { "{\"logger\":{\"level\":\"Loud\"}}", "'level' is 'Loud'" },
        { "{\"vsock\":{\"guest_cid\":3}}", "missing 'uds_path'" },
        { "{\"vsock\":{\"guest_cid\":2,\"uds_path\":\"/v\"}}", "'guest_cid' is 2" },
        { "{\"pmem\":[{\"id\":\"p\"}]}", "'pmem' is not supported" },
        { "{\"boot-source\":{\"kernel_image_path\":\"/k\",\"x\":1}}", "unknown key 'x'" },
        { "{\"drives\":{}}", "'drives' must be an array" },
        { "{\"drives\":[{\"path_on_host\":\"/d\",\"is_root_device\":false}]}", "drive_id" },
        { "{\"network-interfaces\":[{\"iface_id\":\"e\",\"typo\":1}]}", "unknown key 'typo'" },
        { "[]", "JSON object" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = js(bad[i].doc);
        assert_int_equal(vmcfg_apply_document(&cfg, j, err), -EINVAL);
        if (!strstr(err, bad[i].needle))
            fail_msg("%s: got '%s'", bad[i].doc, err);
        json_decref(j);
    }
}

static void test_load_file(void **state)
{
    char path[] = "/tmp/corral-test-cfg-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "{\"machine-config\":{\"vcpu_count\":3,\"mem_size_mib\":128}}";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(vmcfg_load_file(&cfg, path, err), 0);
    assert_int_equal(cfg.ncpus, 3);
    FILE *f = fopen(path, "w");
    fputs("{\"machine-config\": {\"vcpu_count\": 1,}", f);
    fclose(f);
    assert_int_equal(vmcfg_load_file(&cfg, path, err), -EINVAL);
    assert_non_null(strstr(err, path));
    unlink(path);
    assert_int_equal(vmcfg_load_file(&cfg, path, err), -EINVAL);
}

static void test_to_machine_needs(void **state)
{
    struct machine_config mc;
    assert_int_equal(vmcfg_to_machine(&cfg, &mc, err), -EINVAL);
    assert_non_null(strstr(err, "kernel"));
    assert_int_equal(put_boot("{\"kernel_image_path\":\"/k\",\"firmware_path\":\"/f\","
                              "\"boot_args\":\"root=/dev/vdb\"}"), 0);
    assert_int_equal(put_drive("r", "{\"path_on_host\":\"/r\",\"is_root_device\":true}"), 0);
    assert_int_equal(vmcfg_to_machine(&cfg, &mc, err), 0);
    assert_string_equal(mc.cmdline, "root=/dev/vdb"); /* the user's root wins */
    assert_int_equal(vmcfg_set_str(&cfg.cmdline, NULL), 0);
    assert_int_equal(vmcfg_to_machine(&cfg, &mc, err), 0);
    assert_string_equal(mc.cmdline, VM_DEFAULT_CMDLINE " root=/dev/vda rw");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_boot_source), T(test_machine_config), T(test_drives), T(test_nets),
        T(test_rate_limiters),
        T(test_mac_and_ids), T(test_document_roundtrip), T(test_document_errors),
        T(test_load_file), T(test_to_machine_needs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
