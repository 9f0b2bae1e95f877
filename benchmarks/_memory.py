"""Resident-memory readings shared by the benchmarks (Linux /proc)."""


def status_kib(field):
    """A field of /proc/self/status in KiB, e.g. "VmHWM:" (peak) or "VmRSS:"; 0 elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mib():
    """High-water mark of this process's resident set since exec (or a reset), MiB.

    Unlike ``ru_maxrss`` it does not keep the parent's size from before exec.
    """
    return status_kib("VmHWM:") / 1024
