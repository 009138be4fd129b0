#!/usr/bin/env python3
"""Drives a program on a pseudo-terminal for the console specs.

usage: pty_drive.py STEP... -- COMMAND ARGS...
  send:TEXT     type TEXT (Python escapes: \\n, \\x04 for Ctrl-D, \\x1b[A for up)
  expect:REGEX  wait (up to 30 s) until the output since the last expect matches
                (terminal escape sequences and carriage returns removed)
  signal:NAME   send a signal (INT, TERM) to the program
Prints the whole transcript, then "exit=N" (N: the program's exit status);
a failed expect prints "pty_drive: timed out waiting for REGEX" and exits 3.
"""
import os, pty, re, select, signal, sys, time

def clean(data):
    return re.sub(rb"\x1b\[[0-9;?]*[A-Za-z~]", b"", data).replace(b"\r", b"")

def main():
    sep = sys.argv.index("--")
    steps, cmd = sys.argv[1:sep], sys.argv[sep + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm"
        os.execvp(cmd[0], cmd)
    out = b""
    mark = 0

    def pump(timeout):
        nonlocal out
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        out += data
        return True

    for step in steps:
        kind, _, arg = step.partition(":")
        if kind == "send":
            os.write(fd, arg.encode("latin-1").decode("unicode_escape").encode("latin-1"))
        elif kind == "signal":
            os.kill(pid, getattr(signal, "SIG" + arg))
        elif kind == "expect":
            rx = re.compile(arg.encode(), re.S)
            deadline = time.time() + 30
            while True:
                m = rx.search(clean(out), mark)
                if m:
                    mark = m.end()
                    break
                if time.time() > deadline or not pump(0.1):  # timed out, or EOF
                    if rx.search(clean(out), mark):
                        continue
                    sys.stdout.write(out.decode("latin-1"))
                    print("\npty_drive: timed out waiting for " + arg)
                    os.kill(pid, signal.SIGKILL)
                    sys.exit(3)
    # Ctrl-D (EOF) is read as such only in readline's raw mode: a spec sends
    # it after the prompt is back, never while a line still runs.
    deadline = time.time() + 30
    status = None
    while time.time() < deadline:
        wpid, st = os.waitpid(pid, os.WNOHANG)
        if wpid:
            status = os.waitstatus_to_exitcode(st)
            break
        pump(0.05)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        status = "killed"
    # what the program wrote just before it exited
    while True:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r or not pump(0):
            break
    sys.stdout.write(out.decode("latin-1"))
    print("\nexit=%s" % status)

main()
