/* The lifecycle transition table (see state.h). */
#include "vm/state.h"

#include <errno.h>
#include <stddef.h>

const char *vm_state_name(enum vm_state s)
{
    switch (s) {
    case VM_NOT_STARTED: return "Not started";
    case VM_RUNNING: return "Running";
    case VM_PAUSED: return "Paused";
    case VM_STOPPED: return "Stopped";
    }
    return "Unknown";
}

const char *vm_event_name(enum vm_event ev)
{
    switch (ev) {
    case VM_EV_CONFIGURE: return "configure";
    case VM_EV_START: return "InstanceStart";
    case VM_EV_PAUSE: return "pause";
    case VM_EV_RESUME: return "resume";
    case VM_EV_SHUTDOWN: return "Shutdown";
    case VM_EV_RESET: return "Reset";
    case VM_EV_STOPPED: return "stop";
    }
    return "unknown";
}

int vm_state_next(enum vm_state from, enum vm_event ev, enum vm_state *to,
                  const char **why)
{
    const char *reason = NULL;
    enum vm_state next = from;

    if (from == VM_STOPPED) {
        reason = "the VM has stopped";
        goto refuse;
    }
    switch (ev) {
    case VM_EV_CONFIGURE:
        if (from != VM_NOT_STARTED)
            reason = "the VM configuration cannot change after InstanceStart";
        break;
    case VM_EV_START:
        if (from != VM_NOT_STARTED)
            reason = "the VM was already started";
        else
            next = VM_RUNNING;
        break;
    case VM_EV_PAUSE:
        if (from == VM_NOT_STARTED)
            reason = "the VM is not started";
        else
            next = VM_PAUSED;
        break;
    case VM_EV_RESUME:
        if (from == VM_NOT_STARTED)
            reason = "the VM is not started";
        else
            next = VM_RUNNING;
        break;
    case VM_EV_SHUTDOWN:
        /* Running or Paused: the guest is asked (a paused one is resumed
         * first) and the VM stops later; Not started: nothing to ask. */
        next = from == VM_NOT_STARTED ? VM_STOPPED : VM_RUNNING;
        break;
    case VM_EV_RESET:
        if (from == VM_NOT_STARTED)
            reason = "the VM is not started";
        else
            next = VM_RUNNING;
        break;
    case VM_EV_STOPPED:
        next = VM_STOPPED;
        break;
    default:
        reason = "unknown event";
        break;
    }
    if (reason)
        goto refuse;
    if (to)
        *to = next;
    if (why)
        *why = NULL;
    return 0;

refuse:
    if (why)
        *why = reason;
    return -EINVAL;
}
