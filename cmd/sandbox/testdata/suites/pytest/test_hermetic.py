"""A fixture: a test suite that does what real ones do (writes files, uses
/tmp, starts processes, tries the network) and prints what it saw as
"FACT key=value" lines. cmd/sandbox's TestSuites runs it natively and under
`sandbox exec -- python3 -m pytest` and compares. It reads suite.conf
(port=, tag=) from its directory."""

import os
import socket
import subprocess


def conf(key):
    with open("suite.conf") as f:
        for line in f:
            if line.startswith(key + "="):
                return line.strip()[len(key) + 1:]
    raise KeyError(key)


def fact(key, value):
    print(f"FACT {key}={value}", flush=True)


def test_hermetic_writes(tmp_path):
    tag = conf("tag")
    for p in [f"written-by-python-{tag}", f"/tmp/suite-{tag}-python", tmp_path / "x"]:
        with open(p, "w") as f:
            f.write("x")
    fact("wrote", "ok")


def test_hermetic_process():
    out = subprocess.run(["sh", "-c", "echo child"], capture_output=True, check=True, text=True)
    fact("child", out.stdout.strip())
    fact("pid", os.getpid())


def test_hermetic_network():
    try:
        socket.create_connection(("127.0.0.1", int(conf("port"))), timeout=2).close()
        fact("host-listener", "reached")
    except OSError:
        fact("host-listener", "refused")
    with socket.socket() as l:
        l.bind(("127.0.0.1", 0))
        l.listen()
        socket.create_connection(l.getsockname()).close()
    fact("loopback", "ok")


def test_hermetic_env():
    fact("env", ",".join(sorted(os.environ)))


def test_fails():
    assert False, "this test fails"


def test_exits():
    os._exit(3)
