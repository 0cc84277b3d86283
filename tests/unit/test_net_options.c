/* The virtual-network options: --net vde=PATH and tap=NAME,bridge=BR as
 * the CLI parses them, the API's "vde_path" and "bridge" fields, what the
 * board's saved configuration keeps of them (a restored or migrated VM
 * plugs into a VDE switch again and puts its TAP on the same bridge), and
 * the one-line errors of a missing switch or bridge. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "machine/options.h"
#include "machine/virt.h"
#include "net/net.h"
#include "state/state.h"
#include "vm/config.h"

static char err[VIRT_ERR_LEN];

static int parse(const char *arg, struct machine_net *n)
{
    err[0] = 0;
    return machine_parse_net(arg, n, err);
}

static void test_parse_vde(void **state)
{
    struct machine_net n;
    assert_int_equal(parse("vde=/run/sw,mac=52:54:00:00:00:01,tx_bw=1M", &n), 0);
    assert_int_equal(n.kind, MACHINE_NET_VDE);
    assert_string_equal(n.vde_path, "/run/sw");
    assert_null(n.tap_name);
    assert_null(n.bridge);
    assert_true(n.mac_set);
    machine_net_release(&n);
    /* A libvdeplug URL with a comma, as ",,". */
    assert_int_equal(parse("vde,path=vxvde://239.1.2.3/x,,y", &n), 0);
    assert_string_equal(n.vde_path, "vxvde://239.1.2.3/x,y");
    machine_net_release(&n);

    assert_int_equal(parse("vde=", &n), -EINVAL);
    assert_non_null(strstr(err, "vde needs the switch's socket directory"));
    assert_int_equal(parse("vde", &n), -EINVAL);
    assert_int_equal(parse("vde=/sw,bridge=br0", &n), -EINVAL);
    assert_non_null(strstr(err, "unknown option 'bridge=br0'"));
    assert_int_equal(parse("vde=/sw,hostfwd=tcp::1-:1", &n), -EINVAL);
    char *longp = malloc(MACHINE_VDE_PATH_MAX + 8);
    assert_non_null(longp);
    memcpy(longp, "vde=/", 5);
    memset(longp + 5, 'a', MACHINE_VDE_PATH_MAX);
    longp[5 + MACHINE_VDE_PATH_MAX] = 0;
    assert_int_equal(parse(longp, &n), -EINVAL);
    longp[4 + MACHINE_VDE_PATH_MAX] = 0; /* exactly the limit */
    assert_int_equal(parse(longp, &n), 0);
    machine_net_release(&n);
    free(longp);
}

static void test_parse_bridge(void **state)
{
    struct machine_net n;
    assert_int_equal(parse("tap=vm0,bridge=br0", &n), 0);
    assert_int_equal(n.kind, MACHINE_NET_TAP);
    assert_string_equal(n.tap_name, "vm0");
    assert_string_equal(n.bridge, "br0");
    machine_net_release(&n);
    assert_int_equal(parse("tap=vm0", &n), 0);
    assert_null(n.bridge);
    machine_net_release(&n);
    assert_int_equal(parse("tap=vm0,bridge=0123456789abcde", &n), 0); /* 15 */
    machine_net_release(&n);

    assert_int_equal(parse("tap=vm0,bridge=0123456789abcdef", &n), -EINVAL);
    assert_non_null(strstr(err, "bridge=0123456789abcdef: an interface name"));
    assert_int_equal(parse("tap=vm0,bridge=", &n), -EINVAL);
    assert_int_equal(parse("tap=vm0,bridge=a/b", &n), -EINVAL);
    assert_int_equal(parse("user,bridge=br0", &n), -EINVAL);
    assert_non_null(strstr(err, "unknown option 'bridge=br0'"));
    assert_int_equal(parse("tap=0123456789abcdef", &n), -EINVAL);
    assert_non_null(strstr(err, "at most 15 characters"));
    assert_int_equal(parse("bridge=br0", &n), -EINVAL);
    assert_non_null(strstr(err, "vde=PATH"));
}

static int put_net(struct vm_config *c, const char *id, const char *text, char *e)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    assert_non_null(j);
    int r = vmcfg_put_net(c, id, j, e);
    json_decref(j);
    return r;
}

static void test_api_fields(void **state)
{
    struct vm_config c, again;
    char e[VM_ERR_LEN];
    vmcfg_init(&c);
    assert_int_equal(put_net(&c, "net0", "{\"iface_id\":\"net0\",\"type\":\"vde\","
                             "\"vde_path\":\"/run/sw\"}", e), 0);
    assert_int_equal(c.nets[0].kind, MACHINE_NET_VDE);
    assert_string_equal(c.nets[0].vde_path, "/run/sw");
    /* The type follows from vde_path alone. */
    assert_int_equal(put_net(&c, "net1", "{\"iface_id\":\"net1\",\"vde_path\":\"/b\"}", e), 0);
    assert_int_equal(c.nets[1].kind, MACHINE_NET_VDE);
    assert_int_equal(put_net(&c, "net1", "{\"iface_id\":\"net1\",\"host_dev_name\":\"vm0\","
                             "\"bridge\":\"br0\"}", e), 0);
    assert_int_equal(c.nets[1].kind, MACHINE_NET_TAP);
    assert_string_equal(c.nets[1].bridge, "br0");

    static const char *const bad[][2] = {
        { "{\"type\":\"vde\"}", "needs 'vde_path'" },
        { "{\"type\":\"vde\",\"vde_path\":\"\"}", "needs 'vde_path'" },
        { "{\"type\":\"user\",\"vde_path\":\"/s\"}", "'vde_path' needs type vde" },
        { "{\"type\":\"vde\",\"vde_path\":\"/s\",\"host_dev_name\":\"t\"}", "not vde" },
        { "{\"type\":\"vde\",\"vde_path\":\"/s\",\"bridge\":\"br0\"}", "'bridge' needs type tap" },
        { "{\"host_dev_name\":\"t\",\"bridge\":\"0123456789abcdef\"}", "1 to 15 characters" },
        { "{\"host_dev_name\":\"t\",\"bridge\":\"\"}", "1 to 15 characters" },
        { "{\"host_dev_name\":\"0123456789abcdef\"}", "at most 15 characters" },
        { "{\"host_dev_name\":\"t\",\"bridge\":7}", "bridge" },
        { "{\"type\":\"bridge\"}", "tap, user or vde" },
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        e[0] = 0;
        assert_int_equal(put_net(&c, "x", bad[i][0], e), -EINVAL);
        if (!strstr(e, bad[i][1]))
            fail_msg("%s: '%s' does not say '%s'", bad[i][0], e, bad[i][1]);
    }
    assert_int_equal(c.nnets, 2);

    /* GET /vm/config shows them and loads back the same. */
    json_error_t je;
    json_t *boot = json_loads("{\"kernel_image_path\":\"/k\"}", 0, &je);
    assert_int_equal(vmcfg_put_boot_source(&c, boot, e), 0);
    json_decref(boot);
    json_t *out = vmcfg_to_json(&c);
    json_t *n0 = json_array_get(json_object_get(out, "network-interfaces"), 0);
    assert_string_equal(json_string_value(json_object_get(n0, "type")), "vde");
    vmcfg_init(&again);
    if (vmcfg_apply_document(&again, out, e))
        fail_msg("%s", e);
    assert_int_equal(again.nets[0].kind, MACHINE_NET_VDE);
    assert_string_equal(again.nets[0].vde_path, "/run/sw");
    assert_string_equal(again.nets[1].bridge, "br0");
    json_decref(out);
    vmcfg_free(&again);

    /* The board gets them. */
    struct machine_config mc;
    assert_int_equal(vmcfg_to_machine(&c, &mc, e), 0);
    assert_int_equal(mc.nets[0].kind, MACHINE_NET_VDE);
    assert_string_equal(mc.nets[0].vde_path, "/run/sw");
    assert_string_equal(mc.nets[1].tap_name, "vm0");
    assert_string_equal(mc.nets[1].bridge, "br0");
    vmcfg_free(&c);
}

static void save_load(struct machine *m, struct machine_saved_config *sc)
{
    struct state_out o;
    state_out_init(&o);
    state_out_header(&o);
    machine_config_save(m, "test", &o);
    assert_int_equal(state_out_status(&o), 0);
    struct state_in in;
    char e[200];
    assert_int_equal(state_in_open(&in, o.buf, o.len, "t", e, sizeof(e)), 0);
    assert_int_equal(machine_config_load(&in, sc), 0);
    state_out_free(&o);
}

/* A snapshot or migration stream names the VDE switch and the bridge. */
static void test_saved_config(void **state)
{
    struct machine *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    m->nharts = 1;
    m->bus.ram.base = VIRT_RAM_BASE;
    m->bus.ram.size = 64 << 20;
    m->cfg.nnets = 3;
    m->cfg.nets[0] = (struct machine_net){ .kind = MACHINE_NET_VDE, .vde_path = "/run/sw" };
    m->cfg.nets[1] = (struct machine_net){ .kind = MACHINE_NET_TAP, .tap_name = "vm0",
                                           .bridge = "br0" };
    m->cfg.nets[2] = (struct machine_net){ .kind = MACHINE_NET_USER };
    struct machine_saved_config sc;
    save_load(m, &sc);
    assert_int_equal(sc.cfg.nnets, 3);
    assert_int_equal(sc.cfg.nets[0].kind, MACHINE_NET_VDE);
    assert_string_equal(sc.cfg.nets[0].vde_path, "/run/sw");
    assert_null(sc.cfg.nets[0].tap_name);
    assert_null(sc.cfg.nets[0].bridge);
    assert_string_equal(sc.cfg.nets[1].tap_name, "vm0");
    assert_string_equal(sc.cfg.nets[1].bridge, "br0");
    assert_null(sc.cfg.nets[2].bridge);
    /* Back into the VM's configuration, as a restore does. */
    struct vm_config c;
    char e[VM_ERR_LEN];
    vmcfg_init(&c);
    for (unsigned i = 0; i < sc.cfg.nnets; i++)
        assert_int_equal(vmcfg_add_net(&c, &sc.cfg.nets[i], e), 0);
    assert_string_equal(c.nets[0].vde_path, "/run/sw");
    assert_string_equal(c.nets[1].bridge, "br0");
    vmcfg_free(&c);
    machine_saved_config_free(&sc);

    /* No bridge: no subsection, no bridge after a load. */
    m->cfg.nets[1].bridge = NULL;
    save_load(m, &sc);
    assert_null(sc.cfg.nets[1].bridge);
    assert_string_equal(sc.cfg.nets[1].tap_name, "vm0");
    machine_saved_config_free(&sc);
    free(m);
}

/* The host ends that are not there: one line naming them. */
static void test_open_errors(void **state)
{
    struct net_backend *nb = NULL;
    char e[200];
#ifndef __SANITIZE_ADDRESS__
    /* (libvdeplug dlopens its plugins with RTLD_DEEPBIND, which the ASan
     * runtime refuses: make asan checks the bridge errors only.) */
    assert_int_not_equal(net_vde_open(NULL, "/nonexistent/corral-sw", &nb, e, sizeof(e)), 0);
    assert_null(nb);
    assert_non_null(strstr(e, "vde=/nonexistent/corral-sw: cannot connect to the VDE switch"));
    assert_null(strchr(e, '\n'));
#else
    (void)nb;
    print_message("vde open errors not checked under ASan (libvdeplug uses RTLD_DEEPBIND)\n");
#endif
    assert_int_equal(net_bridge_add_port("corral-nobr9", "lo", e, sizeof(e)), -ENODEV);
    assert_non_null(strstr(e, "bridge=corral-nobr9: no such bridge"));
    /* lo exists and is no bridge. */
    assert_int_equal(net_bridge_add_port("lo", "lo", e, sizeof(e)), -EINVAL);
    assert_non_null(strstr(e, "not a bridge"));
    assert_int_equal(net_bridge_add_port("0123456789abcdef", "lo", e, sizeof(e)), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_vde),
        cmocka_unit_test(test_parse_bridge),
        cmocka_unit_test(test_api_fields),
        cmocka_unit_test(test_saved_config),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
