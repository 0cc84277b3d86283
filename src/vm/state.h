/* The VM lifecycle as one state machine that every caller (CLI, API,
 * config file, the main loop) goes through:
 *
 *   Not started --start--> Running <--pause/resume--> Paused
 *        |                    |                          |
 *        +------- stop -------+---------- stop ----------+--> Stopped
 *
 * Configuration is accepted only before start. Pure functions: no locks,
 * no machine; the vm module applies them under its lock. */
#ifndef CORRAL_VM_STATE_H
#define CORRAL_VM_STATE_H

enum vm_state {
    VM_NOT_STARTED = 0,
    VM_RUNNING,
    VM_PAUSED,
    VM_STOPPED,
};

enum vm_event {
    VM_EV_CONFIGURE,  /* change boot source, machine config, devices */
    VM_EV_START,      /* InstanceStart */
    VM_EV_PAUSE,
    VM_EV_RESUME,
    VM_EV_SHUTDOWN,   /* ask the guest to power off (or exit if not started) */
    VM_EV_RESET,      /* reboot in place */
    VM_EV_STOPPED,    /* the guest or the user ended the VM */
};

/* The state after `ev` in state `from`; 0, or -EINVAL when the event does
 * not fit the state (then `why` points to a one-line reason). A no-op
 * (pausing a paused VM) is allowed, as Firecracker does. */
int vm_state_next(enum vm_state from, enum vm_event ev, enum vm_state *to,
                  const char **why);
/* "Not started", "Running", "Paused", "Stopped" (the API's spelling). */
const char *vm_state_name(enum vm_state s);
const char *vm_event_name(enum vm_event ev);

#endif
