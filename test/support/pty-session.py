"""Runs a command on a pseudo-terminal and relays it: the terminal's output to our stdout,
our stdin to the terminal (as typing). Exits with the command's exit code.

Usage: pty-session.py '<json>' where json is {"argv": [...], "env": {...}}
Unlike pty-drive.py, the answers are decided while the command runs (a code the user pool
has just sent, the authenticator app's current code).
"""
import json, os, pty, select, sys

spec = json.loads(sys.argv[1])
# The test harness's coverage preload, in our environment, goes on to the command.
env = {**{k: v for k, v in os.environ.items() if k == "NODE_OPTIONS" or k.startswith("_TAPJS_PROCESSINFO_")}, **spec["env"]}
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(spec["argv"][0], spec["argv"], env)

stdin_open = True
out = sys.stdout.buffer
while True:
    watch = [fd] + ([sys.stdin.fileno()] if stdin_open else [])
    ready, _, _ = select.select(watch, [], [], 0.05)
    if fd in ready:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            break
        out.write(chunk)
        out.flush()
    if stdin_open and sys.stdin.fileno() in ready:
        data = os.read(sys.stdin.fileno(), 4096)
        if not data:
            stdin_open = False
        else:
            # One character at a time, as typing: prompts read keypresses.
            for ch in data:
                os.write(fd, bytes([ch]))

_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
