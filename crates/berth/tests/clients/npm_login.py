import os, pty, sys, time
user, password, registry = sys.argv[1], sys.argv[2], sys.argv[3]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("npm", ["npm", "login", "--scope=@" + user, "--auth-type=legacy", "--registry=" + registry])
out = b""
sent = set()
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    if b"Username:" in out and "u" not in sent:
        os.write(fd, user.encode() + b"\r"); sent.add("u")
    if b"Password:" in out and "p" not in sent:
        os.write(fd, password.encode() + b"\r"); sent.add("p")
    if b"Email" in out and "e" not in sent:
        os.write(fd, b"x@example.com\r"); sent.add("e")
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace").replace(password, "***"))
sys.exit(os.waitstatus_to_exitcode(status))
