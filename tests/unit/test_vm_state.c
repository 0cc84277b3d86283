/* The lifecycle state machine: every (state, event) pair, plus the vm
 * module's actions on a VM that is never started (no guest needed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "vm/vm.h"

struct row {
    enum vm_state from;
    enum vm_event ev;
    int ok;              /* 1: allowed */
    enum vm_state to;
};

static const struct row table[] = {
    { VM_NOT_STARTED, VM_EV_CONFIGURE, 1, VM_NOT_STARTED },
    { VM_NOT_STARTED, VM_EV_START, 1, VM_RUNNING },
    { VM_NOT_STARTED, VM_EV_PAUSE, 0, 0 },
    { VM_NOT_STARTED, VM_EV_RESUME, 0, 0 },
    { VM_NOT_STARTED, VM_EV_SHUTDOWN, 1, VM_STOPPED },
    { VM_NOT_STARTED, VM_EV_RESET, 0, 0 },
    { VM_NOT_STARTED, VM_EV_STOPPED, 1, VM_STOPPED },
    { VM_RUNNING, VM_EV_CONFIGURE, 0, 0 },
    { VM_RUNNING, VM_EV_START, 0, 0 },
    { VM_RUNNING, VM_EV_PAUSE, 1, VM_PAUSED },
    { VM_RUNNING, VM_EV_RESUME, 1, VM_RUNNING },
    { VM_RUNNING, VM_EV_SHUTDOWN, 1, VM_RUNNING },
    { VM_RUNNING, VM_EV_RESET, 1, VM_RUNNING },
    { VM_RUNNING, VM_EV_STOPPED, 1, VM_STOPPED },
    { VM_PAUSED, VM_EV_CONFIGURE, 0, 0 },
    { VM_PAUSED, VM_EV_START, 0, 0 },
    { VM_PAUSED, VM_EV_PAUSE, 1, VM_PAUSED },
    { VM_PAUSED, VM_EV_RESUME, 1, VM_RUNNING },
    { VM_PAUSED, VM_EV_SHUTDOWN, 1, VM_RUNNING },
    { VM_PAUSED, VM_EV_RESET, 1, VM_RUNNING },
    { VM_PAUSED, VM_EV_STOPPED, 1, VM_STOPPED },
    { VM_STOPPED, VM_EV_CONFIGURE, 0, 0 },
    { VM_STOPPED, VM_EV_START, 0, 0 },
    { VM_STOPPED, VM_EV_PAUSE, 0, 0 },
    { VM_STOPPED, VM_EV_RESUME, 0, 0 },
    { VM_STOPPED, VM_EV_SHUTDOWN, 0, 0 },
    { VM_STOPPED, VM_EV_RESET, 0, 0 },
    { VM_STOPPED, VM_EV_STOPPED, 0, 0 },
};

static void test_table(void **state)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const struct row *r = &table[i];
        enum vm_state to = (enum vm_state)99;
        const char *why = "unset";
        int rc = vm_state_next(r->from, r->ev, &to, &why);
        if (r->ok) {
            assert_int_equal(rc, 0);
            assert_int_equal(to, r->to);
            assert_null(why);
        } else {
            assert_int_equal(rc, -EINVAL);
            assert_int_equal(to, 99); /* untouched on refusal */
            assert_non_null(why);
            assert_true(strlen(why) > 5);
        }
    }
}

static void test_names(void **state)
{
    assert_string_equal(vm_state_name(VM_NOT_STARTED), "Not started");
    assert_string_equal(vm_state_name(VM_RUNNING), "Running");
    assert_string_equal(vm_state_name(VM_PAUSED), "Paused");
    assert_string_equal(vm_state_name((enum vm_state)42), "Unknown");
    assert_string_equal(vm_event_name(VM_EV_START), "InstanceStart");
    assert_int_equal(vm_state_next(VM_RUNNING, (enum vm_event)42, NULL, NULL), -EINVAL);
}

/* The vm module refuses what does not fit "Not started" and says why. */
static void test_vm_not_started(void **state)
{
    struct vm *vm;
    char err[VM_ERR_LEN];
    assert_int_equal(vm_create(&vm, "t1", NULL), 0);
    assert_int_equal(vm_get_state(vm), VM_NOT_STARTED);
    assert_int_equal(vm_pause(vm, err), -EINVAL);
    assert_non_null(strstr(err, "not started"));
    assert_int_equal(vm_resume(vm, err), -EINVAL);
    assert_int_equal(vm_reset(vm, err), -EINVAL);
    /* Start with nothing configured: a clear error, still Not started. */
    assert_int_equal(vm_start(vm, err), -EINVAL);
    assert_non_null(strstr(err, "no kernel"));
    assert_int_equal(vm_get_state(vm), VM_NOT_STARTED);
    json_t *body = json_pack("{s:s}", "kernel_image_path", "/nonexistent/Image");
    assert_int_equal(vm_configure(vm, VM_RES_BOOT_SOURCE, NULL, body, err), 0);
    json_decref(body);
    /* The firmware defaults to the default guest's OpenSBI when that is
     * built (else the error says where it looked): either way the error
     * names what is missing. */
    assert_int_equal(vm_start(vm, err), -EINVAL);
    assert_true(strstr(err, "/nonexistent/Image") || strstr(err, "firmware"));
    /* Shutdown before start: the loop ends at once with status 0. */
    assert_int_equal(vm_shutdown(vm, err), 0);
    assert_int_equal(vm_get_state(vm), VM_STOPPED);
    assert_int_equal(vm_run(vm, NULL), 0);
    assert_int_equal(vm_pause(vm, err), -EINVAL);
    assert_non_null(strstr(err, "stopped"));
    vm_destroy(vm);
}

static void test_vm_signal_before_start(void **state)
{
    struct vm *vm;
    volatile sig_atomic_t sig = SIGTERM;
    assert_int_equal(vm_create(&vm, NULL, NULL), 0);
    assert_int_equal(vm_run(vm, &sig), 128 + SIGTERM);
    json_t *info = vm_info_json(vm);
    assert_string_equal(json_string_value(json_object_get(info, "id")), "anonymous-instance");
    json_decref(info);
    vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_vm_not_started),
        cmocka_unit_test(test_vm_signal_before_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
