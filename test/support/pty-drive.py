"""Runs a command on a pseudo-terminal and answers its prompts, as a person would.

Usage: pty-drive.py '<json>' where json is
  {"argv": [...], "env": {...}, "steps": [["<regex to wait for>", "<text to type>"], ...], "timeout": 20}
Prints one JSON line: {"exit": code, "output": everything the terminal showed}.
"""
import json, os, pty, re, select, sys, time

spec = json.loads(sys.argv[1])
# The test harness's coverage preload, in our environment, goes on to the command.
env = {**{k: v for k, v in os.environ.items() if k == "NODE_OPTIONS" or k.startswith("_TAPJS_PROCESSINFO_")}, **spec["env"]}
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(spec["argv"][0], spec["argv"], env)

deadline = time.time() + spec.get("timeout", 20)
output = b""
steps = list(spec["steps"])
seen = 0  # answered prompts are matched only in output that came after them


def read_some(wait):
    global output
    ready, _, _ = select.select([fd], [], [], wait)
    if not ready:
        return True
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return False
    if not chunk:
        return False
    output += chunk
    return True


alive = True
while alive and time.time() < deadline:
    alive = read_some(0.05)
    if steps and re.search(steps[0][0], output[seen:].decode("utf-8", "replace")):
        seen = len(output)
        for ch in steps.pop(0)[1]:
            os.write(fd, ch.encode())
            time.sleep(0.01)

status = None
while time.time() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    read_some(0.05)
else:
    os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)

code = os.waitstatus_to_exitcode(status) if status is not None else None
print(json.dumps({"exit": code, "output": output.decode("utf-8", "replace"), "unanswered": [s[0] for s in steps]}))
