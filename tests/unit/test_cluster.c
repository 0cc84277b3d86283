/* The cluster's pieces without etcd or VMs: records round-trip and refuse
 * hostile JSON, etcd's answers parse (and malformed ones do not), base64,
 * placement picks the host with the most free memory that fits and never a
 * draining or excluded one, the balance plan narrows the gap and stops,
 * and a VM configuration's size is read as 'corral run' would. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/etcd.h"
#include "cluster/placement.h"
#include "cluster/records.h"

static void test_names(void **state)
{
    assert_true(cluster_valid_name("h1"));
    assert_true(cluster_valid_name("web-01.a_b"));
    assert_false(cluster_valid_name(""));
    assert_false(cluster_valid_name(".h"));
    assert_false(cluster_valid_name("-h"));
    assert_false(cluster_valid_name("a/b"));
    assert_false(cluster_valid_name("a b"));
    char longname[80];
    memset(longname, 'a', 64);
    longname[64] = '\0';
    assert_false(cluster_valid_name(longname));
    longname[63] = '\0';
    assert_true(cluster_valid_name(longname));
}

static void test_vm_roundtrip(void **state)
{
    struct cluster_vm v = { .running = true, .shared_storage = true, .cpus = 2,
                            .memory_mib = 256, .epoch = 7, .migrate_id = 99, .failovers = 1,
                            .lost_ms = 1234, .config = "{\"machine-config\":{\"vcpu_count\":2}}",
                            .snapshot_id = 5, .snapshot_done = 4, .last_snapshot_ms = 777,
                            .last_snapshot_id = 4, .restore_pending = true };
    strcpy(v.snapshot_dir, "/shared/snap-5");
    strcpy(v.last_snapshot, "/shared/snap-4");
    strcpy(v.name, "vm1");
    strcpy(v.host, "h1");
    strcpy(v.migrate_to, "h2");
    strcpy(v.migrate_mode, "postcopy");
    strcpy(v.message, "hello \"quoted\"");
    char *text = cluster_vm_encode(&v), err[256];
    assert_non_null(text);
    struct cluster_vm w;
    assert_int_equal(cluster_vm_decode(text, &w, err, sizeof(err)), 0);
    assert_string_equal(w.name, "vm1");
    assert_string_equal(w.host, "h1");
    assert_string_equal(w.migrate_to, "h2");
    assert_string_equal(w.migrate_mode, "postcopy");
    assert_string_equal(w.message, "hello \"quoted\"");
    assert_true(w.running && w.shared_storage);
    assert_int_equal(w.cpus, 2);
    assert_int_equal(w.memory_mib, 256);
    assert_int_equal(w.epoch, 7);
    assert_int_equal(w.migrate_id, 99);
    assert_int_equal(w.failovers, 1);
    assert_int_equal(w.lost_ms, 1234);
    assert_string_equal(w.config, "{\"machine-config\":{\"vcpu_count\":2}}");
    assert_int_equal(w.snapshot_id, 5);
    assert_int_equal(w.snapshot_done, 4);
    assert_string_equal(w.snapshot_dir, "/shared/snap-5");
    assert_string_equal(w.last_snapshot, "/shared/snap-4");
    assert_int_equal(w.last_snapshot_ms, 777);
    assert_int_equal(w.last_snapshot_id, 4);
    assert_true(w.restore_pending);
    cluster_vm_free(&w);
    free(text);
}

static void test_records_hostile(void **state)
{
    static const char *const bad_vms[] = {
        "",
        "[]",
        "{\"name\":\"vm1\"}",                                  /* no config */
        "{\"name\":\"vm1\",\"config\":[]}",                    /* config not an object */
        "{\"name\":\"../x\",\"config\":{}}",                    /* bad name */
        "{\"name\":\"vm1\",\"host\":\"h/1\",\"config\":{}}",   /* bad host */
        "{\"name\":\"vm1\",\"config\":{},\"memory_mib\":-1}",
        "{\"name\":\"vm1\",\"config\":{},\"memory_mib\":\"5\"}",
        "{\"name\":\"vm1\",\"config\":{},\"running\":1}",
        "{\"name\":\"vm1\",\"config\":{},\"epoch\":1.5}",
        "{\"name\":\"vm\\u0000x\",\"config\":{}}",              /* NUL inside */
        "{\"name\":\"\",\"config\":{}}",
        "{\"name\":\"vm1\",\"config\":{},\"last_snapshot\":\"rel/dir\"}", /* not absolute */
        "{\"name\":\"vm1\",\"config\":{},\"snapshot_dir\":\"-x\"}",
        "{\"name\":\"vm1\",\"config\":{},\"restore_pending\":\"yes\"}",
    };
    char err[256];
    for (size_t i = 0; i < sizeof(bad_vms) / sizeof(bad_vms[0]); i++) {
        struct cluster_vm v;
        err[0] = '\0';
        assert_int_not_equal(cluster_vm_decode(bad_vms[i], &v, err, sizeof(err)), 0);
        assert_true(err[0] != '\0');
        assert_null(v.config);
    }
    /* Unknown fields are ignored (a newer agent's records still read). */
    struct cluster_vm v;
    assert_int_equal(cluster_vm_decode("{\"name\":\"vm1\",\"config\":{},\"future\":[1]}", &v, err,
                                       sizeof(err)),
                     0);
    cluster_vm_free(&v);
    struct cluster_host h;
    assert_int_not_equal(cluster_host_decode("{\"addr\":\"x\"}", &h, err, sizeof(err)), 0);
    assert_int_not_equal(cluster_host_decode("{\"name\":\"h\",\"cpus\":100000}", &h, err, sizeof(err)),
                         0);
    struct cluster_incoming in;
    assert_int_not_equal(cluster_incoming_decode("{\"host\":\"h\",\"uri\":\"unix:/x\"}", &in, err,
                                                 sizeof(err)),
                         0);
    assert_int_equal(cluster_incoming_decode("{\"host\":\"h\",\"uri\":\"tcp:1.2.3.4:5\","
                                             "\"migrate_id\":3}",
                                             &in, err, sizeof(err)),
                     0);
    assert_int_equal(in.migrate_id, 3);
    struct cluster_status s;
    assert_int_not_equal(cluster_status_decode("{\"host\":\"h\",\"migration\":5}", &s, err,
                                               sizeof(err)),
                         0);
    assert_null(s.migration);
}

static void test_host_status_roundtrip(void **state)
{
    struct cluster_host h = { .cpus = 4, .memory_mib = 2048, .started_ms = 5 };
    strcpy(h.name, "h2");
    strcpy(h.addr, "10.77.0.12");
    char *t = cluster_host_encode(&h), err[128];
    struct cluster_host g;
    assert_int_equal(cluster_host_decode(t, &g, err, sizeof(err)), 0);
    assert_string_equal(g.addr, "10.77.0.12");
    assert_int_equal(g.memory_mib, 2048);
    assert_int_equal(g.cpus, 4);
    free(t);
    struct cluster_status s = { .pid = 42, .epoch = 3, .migration = "{\"status\":\"completed\"}" };
    strcpy(s.host, "h2");
    strcpy(s.state, "running");
    t = cluster_status_encode(&s);
    struct cluster_status r;
    assert_int_equal(cluster_status_decode(t, &r, err, sizeof(err)), 0);
    assert_int_equal(r.pid, 42);
    assert_string_equal(r.state, "running");
    assert_string_equal(r.migration, "{\"status\":\"completed\"}");
    cluster_status_free(&r);
    free(t);
}

static void test_base64(void **state)
{
    static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar",
                                         "/corral/vms/x" };
    static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                       "Zm9vYmFy", "L2NvcnJhbC92bXMveA==" };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        char *e = etcd_b64_encode(plain[i], strlen(plain[i]));
        assert_string_equal(e, enc[i]);
        char out[64];
        assert_int_equal(etcd_b64_decode(e, strlen(e), out), (long)strlen(plain[i]));
        assert_string_equal(out, plain[i]);
        free(e);
    }
    char out[16];
    assert_int_equal(etcd_b64_decode("Zm9", 3, out), -1);      /* not a multiple of 4 */
    assert_int_equal(etcd_b64_decode("Zm=v", 4, out), -1);     /* padding inside */
    assert_int_equal(etcd_b64_decode("Z===", 4, out), -1);     /* too much padding */
    assert_int_equal(etcd_b64_decode("Zm9v!A==", 8, out), -1); /* not the alphabet */
    assert_int_equal(etcd_b64_decode("Zg==Zg==", 8, out), -1); /* padding before the end */
}

static void test_etcd_answers(void **state)
{
    struct etcd_range r;
    const char *ok = "{\"header\":{\"revision\":\"9\"},\"kvs\":[{\"key\":\"L2EvYg==\","
                     "\"create_revision\":\"2\",\"mod_revision\":\"5\",\"value\":\"aGk=\","
                     "\"lease\":\"77\"},{\"key\":\"L2EvYw==\"}],\"count\":\"2\"}";
    assert_int_equal(etcd_parse_range(ok, strlen(ok), &r), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.revision, 9);
    assert_string_equal(r.kvs[0].key, "/a/b");
    assert_string_equal(r.kvs[0].value, "hi");
    assert_int_equal(r.kvs[0].mod_revision, 5);
    assert_int_equal(r.kvs[0].lease, 77);
    assert_string_equal(r.kvs[1].value, ""); /* an empty value is left out */
    etcd_range_free(&r);
    const char *none = "{\"header\":{\"revision\":\"3\"}}";
    assert_int_equal(etcd_parse_range(none, strlen(none), &r), 0);
    assert_int_equal(r.n, 0);
    static const char *const bad[] = {
        "", "[]", "{\"kvs\":{}}", "{\"kvs\":[1]}", "{\"kvs\":[{}]}",
        "{\"kvs\":[{\"key\":\"!!!!\"}]}", "{\"kvs\":[{\"key\":\"YQ==\",\"mod_revision\":\"x\"}]}",
        "{\"kvs\":[{\"key\":\"YQBi\"}]}", /* "a\0b": a NUL inside a key */
        "{\"header\":{\"revision\":\"99999999999999999999\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_not_equal(etcd_parse_range(bad[i], strlen(bad[i]), &r), 0);
    bool s;
    assert_int_equal(etcd_parse_txn("{\"succeeded\":true}", 18, &s), 0);
    assert_true(s);
    assert_int_equal(etcd_parse_txn("{\"header\":{}}", 13, &s), 0);
    assert_false(s); /* false is left out */
    assert_int_not_equal(etcd_parse_txn("{\"succeeded\":\"yes\"}", 19, &s), 0);
    assert_int_not_equal(etcd_parse_txn("nope", 4, &s), 0);
}

static struct cluster_host host(const char *name, uint64_t mib, bool draining)
{
    struct cluster_host h = { .memory_mib = mib, .draining = draining, .cpus = 2 };
    snprintf(h.name, sizeof(h.name), "%s", name);
    return h;
}

static struct cluster_vm vm(const char *name, const char *on, uint64_t mib)
{
    struct cluster_vm v = { .memory_mib = mib, .running = true };
    snprintf(v.name, sizeof(v.name), "%s", name);
    snprintf(v.host, sizeof(v.host), "%s", on);
    return v;
}

static void test_placement(void **state)
{
    struct cluster_host hs[3] = { host("a", 1024, false), host("b", 1024, false),
                                  host("c", 1024, false) };
    struct cluster_vm vs[4] = { vm("v1", "a", 512), vm("v2", "b", 256), vm("v3", "c", 128),
                                vm("v4", "c", 128) };
    assert_int_equal(cluster_host_used("c", vs, 4), 256);
    /* Free: a 512, b 768, c 768: b and c tie, b comes first by name. */
    assert_int_equal(cluster_place(hs, 3, vs, 4, 128, NULL), 1);
    assert_int_equal(cluster_place(hs, 3, vs, 4, 128, "b"), 2);
    assert_int_equal(cluster_place(hs, 3, vs, 4, 800, NULL), -1); /* fits nowhere */
    hs[1].draining = true;
    assert_int_equal(cluster_place(hs, 3, vs, 4, 128, NULL), 2);
    /* A stopped VM takes nothing; a migrating one counts on both ends. */
    vs[2].running = false;
    assert_int_equal(cluster_host_used("c", vs, 4), 128);
    strcpy(vs[3].migrate_to, "a");
    assert_int_equal(cluster_host_used("a", vs, 4), 640);
    assert_int_equal(cluster_place(hs, 3, vs, 4, 0, NULL), 2);
    assert_int_equal(cluster_place(hs, 0, vs, 4, 0, NULL), -1);
}

static void test_balance(void **state)
{
    struct cluster_host hs[2] = { host("a", 1024, false), host("b", 1024, false) };
    struct cluster_vm vs[4] = { vm("v1", "a", 256), vm("v2", "a", 256), vm("v3", "a", 256),
                                vm("v4", "a", 256) };
    struct cluster_move plan[8];
    size_t n = cluster_balance_plan(hs, 2, vs, 4, plan, 8);
    assert_int_equal(n, 2); /* 4 on a, 0 on b -> 2 and 2 */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(plan[i].host, 1);
    assert_int_not_equal(plan[0].vm, plan[1].vm);
    /* Already even: nothing. */
    strcpy(vs[0].host, "b");
    strcpy(vs[1].host, "b");
    assert_int_equal(cluster_balance_plan(hs, 2, vs, 4, plan, 8), 0);
    /* A VM too big for the other host is not moved; a draining host takes none. */
    struct cluster_vm big[1] = { vm("big", "a", 900) };
    hs[1].memory_mib = 512;
    assert_int_equal(cluster_balance_plan(hs, 2, big, 1, plan, 8), 0);
    hs[1].memory_mib = 1024;
    hs[1].draining = true;
    strcpy(vs[0].host, "a");
    strcpy(vs[1].host, "a");
    assert_int_equal(cluster_balance_plan(hs, 2, vs, 4, plan, 8), 0);
    /* The plan is bounded by max. */
    hs[1].draining = false;
    assert_int_equal(cluster_balance_plan(hs, 2, vs, 4, plan, 1), 1);
}

static void test_config_size(void **state)
{
    unsigned cpus;
    uint64_t mib;
    char err[256];
    assert_int_equal(cluster_config_size("{\"machine-config\":{\"vcpu_count\":2,\"mem_size_mib\":"
                                         "300}}",
                                         &cpus, &mib, err, sizeof(err)),
                     0);
    assert_int_equal(cpus, 2);
    assert_int_equal(mib, 300);
    assert_int_equal(cluster_config_size("{}", &cpus, &mib, err, sizeof(err)), 0);
    assert_true(cpus >= 1 && mib >= 64); /* corral run's defaults */
    assert_int_not_equal(cluster_config_size("{\"machine-config\":{\"vcpu_count\":99}}", &cpus,
                                             &mib, err, sizeof(err)),
                         0);
    assert_non_null(strstr(err, "vcpu_count"));
    assert_int_not_equal(cluster_config_size("{\"bogus\":1}", &cpus, &mib, err, sizeof(err)), 0);
    assert_int_not_equal(cluster_config_size("not json", &cpus, &mib, err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),          cmocka_unit_test(test_vm_roundtrip),
        cmocka_unit_test(test_records_hostile), cmocka_unit_test(test_host_status_roundtrip),
        cmocka_unit_test(test_base64),          cmocka_unit_test(test_etcd_answers),
        cmocka_unit_test(test_placement),       cmocka_unit_test(test_balance),
        cmocka_unit_test(test_config_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
