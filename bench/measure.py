"""Run a command and report its wall time and peak RSS, from a small process: a child's ru_maxrss counts the pages it
shared with its parent before exec, so a measuring parent that holds torch would add its own ~0.5 GB to every figure.

    python bench/measure.py OUT.json CMD [ARG ...]
"""
import json, os, sys, time

if __name__ == '__main__':
    out, cmd = sys.argv[1], sys.argv[2:]
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0: os.execvp(cmd[0], cmd)
    _, status, usage = os.wait4(pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    with open(out, 'w') as f:
        json.dump({'rc': rc, 'seconds': time.perf_counter() - t0, 'peak_rss': usage.ru_maxrss * 1024}, f)
    sys.exit(rc)
