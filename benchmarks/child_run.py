"""Running one benchmark child at a time: its exit code, wall time, peak RSS and CPU time, and the machine's load.

Peak RSS is the child's VmHWM from /proc, polled while it runs (it only grows; the last read before the exit is
kept). ru_maxrss is not used for it because Linux carries the high-water mark of the forking process into the exec'd
child (fs/exec.c: setmax_mm_hiwater_rss on the old mm): a child of a parent with torch loaded reports the parent's
RSS. The parents here stay small (no torch, no big arrays) anyway; ru_maxrss is returned too, for the record.
CPU time is ru_utime + ru_stime of that child, from os.wait4. Linux only (/proc)."""
import os
import re
import subprocess
import time
from pathlib import Path


def run_child(cmd, log, cwd, poll=0.05):
    """Runs cmd (each item str()'d) in cwd with stdout and stderr to the file log, polling its VmHWM every poll
    seconds; returns (exit code, wall seconds, peak RSS bytes, ru_maxrss bytes, CPU seconds of the child)."""
    t = time.perf_counter()
    hwm = 0
    with open(log, "w") as f:
        p = subprocess.Popen([str(c) for c in cmd], stdout=f, stderr=subprocess.STDOUT, cwd=cwd)
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            try:
                m = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{p.pid}/status").read_text())
                hwm = max(hwm, int(m.group(1)) * 1024) if m else hwm
            except OSError:
                pass
            time.sleep(poll)
        p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, time.perf_counter() - t, hwm, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime


def load_average():
    """The 1, 5 and 15 minute load averages."""
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
