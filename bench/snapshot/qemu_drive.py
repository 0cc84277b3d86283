#!/usr/bin/env python3
"""QEMU side of the snapshot and migration benchmarks (bench/snapshot/qemu.sh,
bench/migrate/qemu.sh).

Drives qemu-system-riscv64 -M virt processes through QMP on a unix socket
and their serial console on a second unix socket (a reader thread stamps
every console line with the host's monotonic time), runs the page-verifying
workload guest/pagecheck.c in the guest, and prints key=value lines:

  qemu_drive.py snapshot GUEST_DIR WORKDIR     migrate to a file (paused VM),
                                               kill, restore with -incoming,
                                               and savevm/loadvm on a qcow2
  qemu_drive.py migrate GUEST_DIR WORKDIR      pre-copy and post-copy over
                                               loopback TCP, unlimited and
                                               32 MiB/s

Standard library only. Every wait has a timeout; a timeout or a guest that
does not answer is reported as a value (e.g. answered=no), never a hang.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

MEM = os.environ.get("BENCH_MEM", "512M")
DIRTY_MIB = int(os.environ.get("BENCH_DIRTY_MIB", "128"))
DIRTY_RATE = os.environ.get("BENCH_DIRTY_RATE", "125")  # MB/s of rewrites
WARMUP_S = float(os.environ.get("BENCH_WARMUP", "4"))
STATUS = "/run/pagecheck.status"
# -cpu for QEMU, e.g. "rv64,sstc=off" (Linux then takes its timer through
# OpenSBI and the CLINT instead of Sstc's stimecmp). The guest froze after
# some restores and migrations with either timer here.
QEMU_CPU = os.environ.get("BENCH_QEMU_CPU", "")
KEY_PREFIX = os.environ.get("BENCH_KEY_PREFIX", "")


def now():
    return time.monotonic()


def log(msg):
    print("# " + msg, file=sys.stderr, flush=True)


class Qmp:
    def __init__(self, path, timeout=30):
        deadline = now() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if now() > deadline:
                    raise RuntimeError("QMP socket %s did not appear" % path)
                time.sleep(0.002)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("QMP connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise RuntimeError("QMP %s: %s" % (name, r["error"].get("desc", r["error"])))
            return r.get("return")

    def hmp(self, line):
        return self.cmd("human-monitor-command", **{"command-line": line})


class Console:
    """The guest's serial console: lines with host arrival times."""

    def __init__(self, path, logpath, timeout=30):
        deadline = now() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if now() > deadline:
                    raise RuntimeError("serial socket %s did not appear" % path)
                time.sleep(0.002)
        self.lines = []
        self.cond = threading.Condition()
        self.log = open(logpath, "a")
        self.seq = 0
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        part = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            part += data
            while b"\n" in part:
                line, part = part.split(b"\n", 1)
                text = line.decode("utf-8", "replace").rstrip("\r")
                t = now()
                with self.cond:
                    self.lines.append((t, text))
                    self.cond.notify_all()
                self.log.write("%.6f %s\n" % (t, text))
                self.log.flush()

    def echoed_only(self):
        """The last command came back as the tty's echo, but no answer: the
        guest takes interrupts but its scheduler never runs the shell (a
        frozen timer)."""
        m = getattr(self, "last_marker", None)
        with self.cond:
            seen = any(m in text for _, text in self.lines) if m else False
            done = any(text.startswith(m + " rc=") for _, text in self.lines) if m else False
        return seen and not done

    def send(self, text):
        self.sock.sendall(text.encode())

    def wait(self, pred, timeout, start=0):
        """First (index, time, text) from index start on with pred(text)."""
        deadline = now() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    t, text = self.lines[i]
                    if pred(text):
                        return i, t, text
                    i += 1
                left = deadline - now()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def run(self, command, timeout=30):
        """Run a shell command; (output lines, marker time, rc) or None."""
        self.seq += 1
        marker = "BENCHEND-%d-%d" % (os.getpid(), self.seq)
        with self.cond:
            start = len(self.lines)
        self.last_marker = marker
        self.send("%s; echo %s rc=$?\n" % (command, marker))
        got = self.wait(lambda s: s.startswith(marker + " rc="), timeout, start)
        if not got:
            return None
        i, t, text = got
        out = [x[1] for x in self.lines[start:i]]
        return out, t, int(text.split("rc=", 1)[1] or -1)


def parse_status(lines):
    for text in reversed(lines):
        m = re.search(r"pagecheck seed=.*", text)
        if m:
            return dict(kv.split("=", 1) for kv in m.group(0).split()[1:] if "=" in kv)
    return None


class Vm:
    def __init__(self, name, work, gdir, extra=(), incoming=None, disk=None, smp=1):
        self.name = name
        self.qmp_path = os.path.join(work, name + ".qmp")
        self.ser_path = os.path.join(work, name + ".serial")
        for p in (self.qmp_path, self.ser_path):
            if os.path.exists(p):
                os.unlink(p)
        cmd = ["qemu-system-riscv64", "-M", "virt", "-m", MEM, "-smp", str(smp),
               "-display", "none", "-monitor", "none", "-no-reboot",
               "-bios", os.path.join(gdir, "fw_dynamic.bin"),
               "-kernel", os.path.join(gdir, "Image"),
               "-initrd", os.path.join(gdir, "initramfs.cpio"),
               "-append", "console=ttyS0 quiet",
               "-chardev", "socket,id=ser0,path=%s,server=on,wait=off" % self.ser_path,
               "-serial", "chardev:ser0",
               "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path]
        if QEMU_CPU:
            cmd += ["-cpu", QEMU_CPU]
        if disk:
            cmd += ["-drive", "if=none,id=d0,format=qcow2,file=" + disk,
                    "-device", "virtio-blk-device,drive=d0"]
        if incoming:
            cmd += ["-incoming", incoming]
        cmd += list(extra)
        self.errlog = open(os.path.join(work, name + ".stderr"), "a")
        self.t_launch = now()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.errlog, stderr=self.errlog)
        self.qmp = Qmp(self.qmp_path)
        self.con = Console(self.ser_path, os.path.join(work, name + ".console"))

    def wait_running(self, timeout=60, poll=0.001, cont=False):
        """Time the VM reached running; with cont, a VM that the incoming
        state left paused (the snapshot was taken paused) is resumed."""
        deadline = now() + timeout
        while now() < deadline:
            st = self.qmp.cmd("query-status")
            if st.get("status") == "running":
                return now()
            if cont and st.get("status") == "paused":
                self.qmp.cmd("cont")
                continue
            if self.proc.poll() is not None:
                return None
            time.sleep(poll)
        return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def status(self, timeout=30):
        r = self.con.run("pagecheck --print " + STATUS, timeout)
        if not r or r[2] != 0:
            return None
        return parse_status(r[0])


def boot_with_pagecheck(vm, rate=DIRTY_RATE):
    if not vm.con.wait(lambda s: "guest ready" in s, 240):
        raise RuntimeError("%s: guest did not boot" % vm.name)
    time.sleep(0.5)
    vm.con.send("pagecheck --mib %d --rate %s --status %s 2>/run/pagecheck.log &\n" % (DIRTY_MIB, rate, STATUS))
    deadline = now() + 60
    while now() < deadline:
        time.sleep(1)
        st = vm.status(20)
        if st:
            break
    else:
        raise RuntimeError("%s: pagecheck did not start" % vm.name)
    time.sleep(WARMUP_S)
    return vm.status()


def guest_clock_lag(vm):
    """Host realtime minus the guest's `date +%s` (s), or 'n/a'."""
    r = vm.con.run("echo GT=$(date +%s)", 20)
    if not r:
        return "n/a"
    for text in r[0]:
        if text.startswith("GT="):
            return "%d" % round(time.time() - int(text[3:]))
    return "n/a"


def check_after(vm, before, prefix, out, settle=3.0, need_rounds=2, timeout=60):
    """Pages intact and the guest alive after a restore or migration:
    the first status, then wait until pagecheck finished need_rounds more
    full sweeps (every page verified after the move)."""
    s1 = vm.status(30)
    if not s1:
        out[prefix + "answered"] = "no"
        out[prefix + "mismatches"] = "n/a"
        out[prefix + "frozen"] = "yes(echo-only)" if vm.con.echoed_only() else "n/a"
        return
    out[prefix + "answered"] = "yes"
    r1 = int(s1["rounds"])
    time.sleep(settle)
    s2 = vm.status(30)
    deadline = now() + timeout
    while s2 and int(s2["rounds"]) < r1 + need_rounds and int(s2.get("age_ms", 0)) < 5000 and now() < deadline:
        time.sleep(1)
        s2 = vm.status(30)
    if not s2:
        out[prefix + "answered"] = "first-only"
        s2 = s1
    age = int(s2.get("age_ms", 0))
    frozen = int(s2["rounds"]) <= r1 or age > 5000
    out[prefix + "frozen"] = "yes" if frozen else "no"
    if out[prefix + "answered"] == "first-only" and vm.con.echoed_only():
        out[prefix + "frozen"] = "yes(echo-only)"
    out[prefix + "status_age_ms"] = str(age)
    out[prefix + "rounds_after"] = str(int(s2["rounds"]) - r1)
    out[prefix + "mismatches"] = s2["mismatches"]
    out[prefix + "clock_backwards"] = s2["clock_backwards"]
    if before:
        out[prefix + "uptime_continued"] = "yes" if int(s2["uptime_ms"]) >= int(before["uptime_ms"]) else "no"
    if s2["mismatches"] != "0":
        r = vm.con.run("grep -m 3 mismatch /run/pagecheck.log", 20)
        lines = [x for x in (r[0] if r else []) if x.startswith("pagecheck") and "mismatch page=" in x]
        out[prefix + "first_mismatch"] = lines[0] if lines else "n/a"
    out[prefix + "guest_clock_lag_s"] = "n/a" if frozen else guest_clock_lag(vm)


def wait_migration(qmp, timeout, on_poll=None):
    deadline = now() + timeout
    while True:
        info = qmp.cmd("query-migrate")
        st = info.get("status")
        if st in ("completed", "failed", "cancelled"):
            return info
        if on_poll:
            on_poll(info)
        if now() > deadline:
            return info
        time.sleep(0.005)


def emit(out):
    for k, v in out.items():
        print("%s%s=%s" % (KEY_PREFIX, k, v), flush=True)


# ---------------------------------------------------------------- snapshot

def bench_snapshot(gdir, work):
    out = {}
    state = os.path.join(work, "snapshot.state")
    # 1. migrate "exec:cat > FILE" from a paused VM, then -incoming "exec:cat FILE".
    a = Vm("snap-src", work, gdir)
    try:
        before = boot_with_pagecheck(a)
        a.qmp.cmd("migrate-set-parameters", **{"max-bandwidth": 64 << 30})
        a.qmp.cmd("stop")
        t0 = now()
        a.qmp.cmd("migrate", uri="exec:cat > " + state)
        info = wait_migration(a.qmp, 120)
        out["file_create_s"] = "%.3f" % (now() - t0)
        out["file_create_status"] = info.get("status")
        out["file_create_qemu_total_ms"] = info.get("total-time", "n/a")
        out["file_bytes"] = str(os.path.getsize(state))
        out["file_disk_bytes"] = str(os.stat(state).st_blocks * 512)
    finally:
        a.kill()
    b = Vm("snap-restore", work, gdir, incoming="exec:cat " + state)
    try:
        t_run = b.wait_running(cont=True)
        out["file_restore_running_s"] = "%.3f" % (t_run - b.t_launch) if t_run else "n/a"
        t0 = now()
        r = b.con.run("echo PING", 30)
        out["file_restore_first_answer_s"] = "%.3f" % (r[1] - b.t_launch) if r else "n/a"
        out["file_restore_answer_after_running_s"] = "%.3f" % (r[1] - t0) if r else "n/a"
        check_after(b, before, "file_restore_", out)
    finally:
        b.kill()

    # 2. savevm / loadvm with a qcow2 disk (internal snapshot).
    disk = os.path.join(work, "snap.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "64M"], check=True)
    a = Vm("savevm-src", work, gdir, disk=disk)
    try:
        before = boot_with_pagecheck(a)
        t0 = now()
        res = a.qmp.hmp("savevm bench")
        out["savevm_s"] = "%.3f" % (now() - t0)
        out["savevm_ok"] = "yes" if not (res or "").strip() else "no: " + res.strip().replace("\n", " ")
        out["savevm_qcow2_bytes"] = str(os.path.getsize(disk))
    finally:
        a.kill()
    b = Vm("loadvm", work, gdir, disk=disk, extra=["-loadvm", "bench"])
    try:
        t_run = b.wait_running()
        out["loadvm_running_s"] = "%.3f" % (t_run - b.t_launch) if t_run else "n/a"
        r = b.con.run("echo PING", 30)
        out["loadvm_first_answer_s"] = "%.3f" % (r[1] - b.t_launch) if r else "n/a"
        check_after(b, before, "loadvm_", out)
    finally:
        b.kill()
    emit(out)


# ---------------------------------------------------------------- migrate

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def bench_migrate_one(gdir, work, mode, cap_mibps, out):
    p = "%s_%s_" % (mode, "32mibps" if cap_mibps else "unlimited")
    port = free_port()
    a = Vm(p + "src", work, gdir)
    b = None
    try:
        before = boot_with_pagecheck(a)
        b = Vm(p + "dst", work, gdir, incoming="tcp:127.0.0.1:%d" % port)
        caps = [{"capability": "postcopy-ram", "state": mode == "postcopy"}]
        a.qmp.cmd("migrate-set-capabilities", capabilities=caps)
        b.qmp.cmd("migrate-set-capabilities", capabilities=caps)
        bw = (cap_mibps << 20) if cap_mibps else (64 << 30)
        params = {"max-bandwidth": bw}
        if mode == "postcopy":
            params["max-postcopy-bandwidth"] = bw
        a.qmp.cmd("migrate-set-parameters", **params)
        out[p + "downtime_limit_ms"] = a.qmp.cmd("query-migrate-parameters").get("downtime-limit", "n/a")
        state = {"postcopy_at": None, "forced": False}
        t0 = now()

        def on_poll(info):
            if mode == "postcopy" and state["postcopy_at"] is None:
                # Switch once the first full pass is done (QEMU's usual way).
                if info.get("ram", {}).get("dirty-sync-count", 0) >= 2:
                    a.qmp.cmd("migrate-start-postcopy")
                    state["postcopy_at"] = now() - t0

        a.qmp.cmd("migrate", uri="tcp:127.0.0.1:%d" % port)
        info = wait_migration(a.qmp, 30, on_poll)
        if info.get("status") not in ("completed", "failed", "cancelled"):
            # Did not converge in 30 s: let it stop the guest for as long as it
            # needs, so the run still ends and the pages can be checked.
            state["forced"] = True
            a.qmp.cmd("migrate-set-parameters", **{"downtime-limit": 60000, "max-bandwidth": 64 << 30})
            info = wait_migration(a.qmp, 120, on_poll)
        wall = now() - t0
        ram = info.get("ram", {})
        out[p + "status"] = info.get("status")
        out[p + "converged"] = "no (forced after 30 s)" if state["forced"] else "yes"
        out[p + "wall_s"] = "%.3f" % wall
        out[p + "total_ms"] = info.get("total-time", "n/a")
        out[p + "downtime_ms"] = info.get("downtime", "n/a")
        out[p + "setup_ms"] = info.get("setup-time", "n/a")
        out[p + "bytes"] = ram.get("transferred", "n/a")
        out[p + "iterations"] = ram.get("dirty-sync-count", "n/a")
        out[p + "normal_pages"] = ram.get("normal", "n/a")
        out[p + "zero_pages"] = ram.get("duplicate", "n/a")
        if mode == "postcopy":
            out[p + "postcopy_started_s"] = "%.3f" % state["postcopy_at"] if state["postcopy_at"] is not None else "never"
            out[p + "postcopy_requests"] = ram.get("postcopy-requests", "n/a")
        a.kill()
        t_run = b.wait_running(30)
        out[p + "dst_running"] = "yes" if t_run else "no"
        if t_run:
            check_after(b, before, p, out)
    except RuntimeError as e:
        out[p + "error"] = str(e).replace("\n", " ")
    finally:
        a.kill()
        if b:
            b.kill()


def bench_migrate(gdir, work):
    out = {}
    modes = os.environ.get("BENCH_MIGRATE_MODES", "precopy postcopy").split()
    caps = [int(x) for x in os.environ.get("BENCH_MIGRATE_CAPS", "0 32").split()]
    for cap in caps:
        for mode in modes:
            bench_migrate_one(gdir, work, mode, cap, out)
            emit(out)
            out.clear()


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("snapshot", "migrate"):
        print("usage: qemu_drive.py snapshot|migrate GUEST_DIR WORKDIR", file=sys.stderr)
        return 2
    what, gdir, work = sys.argv[1:]
    for f in ("fw_dynamic.bin", "Image", "initramfs.cpio"):
        if not os.path.isfile(os.path.join(gdir, f)):
            print("qemu_drive: %s: no %s" % (gdir, f), file=sys.stderr)
            return 1
    if not shutil.which("qemu-system-riscv64"):
        print("qemu_drive: qemu-system-riscv64 is missing", file=sys.stderr)
        return 1
    os.makedirs(work, exist_ok=True)
    try:
        (bench_snapshot if what == "snapshot" else bench_migrate)(gdir, work)
    except RuntimeError as e:
        print("error=%s" % str(e).replace("\n", " "), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
