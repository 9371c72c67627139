"""The whole-run lease in the artifact store: machines sharing one ``artifacts_url`` take turns.

Run against moto's S3 server (``If-None-Match: *`` on PUT) and against a local folder used
as the store (a hard link), the two atomic creates the lease relies on. Each "machine" is
its own folder (catalog, locks); they share only the URL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from support.servers import moto_s3

from imdbops.objectstore import ObjectStore
from imdbops.orchestrator import DAG, Manifest, Runner, Task
from imdbops.orchestrator.lease import LeaseHeldError, LeaseLostError, StoreLease
from imdbops.orchestrator.store import RemoteStore

KEY, SECRET = "lease-key", "lease-secret"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with moto_s3(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.fixture(params=["s3", "folder"])
def store_url(request, tmp_path):
    """(url, storage options) of an empty store: a moto bucket, or a local folder. (The
    subprocess scenarios run on S3 only: the folder's create is proven by the others.)"""
    if request.param == "folder":
        return str(tmp_path / "store"), {}
    import s3fs

    endpoint = request.getfixturevalue("s3")
    name = f"lease-{request.node.name[:40].replace('_', '-').replace('[', '-').lower()}"
    name = "".join(c for c in name if c.isalnum() or c == "-").strip("-")[:60]
    s3fs.S3FileSystem(key=KEY, secret=SECRET, endpoint_url=endpoint).mkdir(name)
    return f"s3://{name}/state", {"endpoint_url": endpoint, "key": KEY, "secret": SECRET}


def machine(root: Path, mod, url: str, options: dict, *, wait_s=0.0, ttl_s=30.0) -> Runner:
    """The toy chain make -> gated as a machine at ``root`` runs it, holding the lease."""
    catalog = {"numbers": root / "data" / "numbers.json", "reversed": root / "data" / "rev.json"}
    tasks = [
        Task("make", mod.make, outputs=["numbers"], params={"n": 4}),
        Task("gated", mod.gated, inputs=["numbers"], outputs={"out": "reversed"}),
    ]
    store = RemoteStore(url, options, lock_dir=root / "locks")
    return Runner(
        DAG("leased", tasks, catalog),
        store=store,
        resources={"log_dir": root / "log"},
        lock_wait_s=wait_s,
        lease_ttl_s=ttl_s,
    )


def _wait_for(path: Path, proc=None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc is None or proc.poll() is None, "the holder ended early"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_the_store_creates_an_object_only_if_absent(store_url):
    """moto's server honours If-None-Match on PUT (s3fs ``mode="create"``); a folder links."""
    url, options = store_url
    objects = ObjectStore(url, options)
    assert objects.create_only("leases/x/000000000001.json", b"first") is True
    assert objects.create_only("leases/x/000000000001.json", b"second") is False
    assert objects.read_bytes("leases/x/000000000001.json") == b"first"


def test_a_second_machine_is_refused_or_waits_then_finds_everything_cached(
    tmp_path, toy, store_url
):
    mod, _ = toy
    url, options = store_url
    a = machine(tmp_path / "a", mod, url, options)
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(a=a.run(run_id="run-a")))
    thread.start()
    try:
        _wait_for(tmp_path / "a" / "log" / "gated.started")
        with pytest.raises(LeaseHeldError) as refused:
            machine(tmp_path / "b", mod, url, options).run(run_id="run-b")
        message = str(refused.value)
        assert "another run of DAG 'leased' holds its lease" in message
        assert "token 1" in message and "pipeline.lease_wait_s" in message
        assert not Manifest.exists(a.store, "run-b")  # refused before writing anything

        waiting: dict = {}
        b = machine(tmp_path / "b", mod, url, options, wait_s=60)
        waiter = threading.Thread(target=lambda: waiting.update(b=b.run(run_id="run-b2")))
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive()  # queued behind a
    finally:
        (tmp_path / "a" / "log" / "release").touch()
        thread.join(60)
    waiter.join(60)
    assert result["a"].ok and waiting["b"].ok
    assert {n: i["decision"] for n, i in waiting["b"].tasks.items()} == {
        "make": "skipped",
        "gated": "skipped",
    }
    leases = StoreLease(ObjectStore(url, options), "leased")._tokens()
    assert leases == [1, 2]  # a took token 1, b token 2 after a released it


HOLDER = """
import sys
from imdbops.objectstore import ObjectStore
from imdbops.orchestrator.lease import StoreLease
import json, time
url, options, ttl, flag = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
lease = StoreLease(ObjectStore(url, options), "leased", ttl_s=ttl)
lease.acquire()
open(flag, "w").write(str(lease.token))
time.sleep(600)
"""


@pytest.mark.parametrize("store_url", ["s3"], indirect=True)
def test_a_killed_holders_lease_is_taken_over_once_it_expires(tmp_path, toy, store_url):
    mod, _ = toy
    url, options = store_url
    flag = tmp_path / "holding"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), url, json.dumps(options), "2", str(flag)]
    )
    try:
        _wait_for(flag, holder)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    with pytest.raises(LeaseHeldError):  # not expired yet: refused
        machine(tmp_path / "b", mod, url, options).run(run_id="early")
    (tmp_path / "b" / "log").mkdir(parents=True)
    (tmp_path / "b" / "log" / "release").touch()
    taken = machine(tmp_path / "b", mod, url, options, wait_s=30).run(run_id="after")
    assert taken.ok
    assert StoreLease(ObjectStore(url, options), "leased")._tokens() == [1, 2]


STALLER = """
import importlib, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
mod = importlib.import_module(sys.argv[2])
sys.path.insert(0, sys.argv[6])
from unit.orchestrator.test_orchestrator_lease import machine
import json
runner = machine(Path(sys.argv[3]), mod, sys.argv[4], json.loads(sys.argv[5]), ttl_s=1.5)
from imdbops.orchestrator.lease import LeaseLostError
try:
    runner.run(run_id="stalled")
except LeaseLostError as exc:
    print(exc)
    sys.exit(3)
sys.exit(0)
"""


@pytest.mark.parametrize("store_url", ["s3"], indirect=True)
def test_a_holder_that_stalled_past_its_expiry_cannot_write_after_the_new_holder(
    tmp_path, toy, store_url
):
    """Paused (SIGSTOP) mid-task, the first run loses its lease to a second machine; resumed
    (SIGCONT) it stops at its next write: no manifest state, no cache record over the new."""
    mod, path = toy
    url, options = store_url
    tests_dir = Path(__file__).resolve().parents[2]
    a_root = tmp_path / "a"
    args = [sys.executable, "-c", textwrap.dedent(STALLER), str(path.parent), mod.__name__]
    args += [str(a_root), url, json.dumps(options), str(tests_dir)]
    stalled = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        _wait_for(a_root / "log" / "gated.started", stalled)
        os.kill(stalled.pid, signal.SIGSTOP)
        b = machine(tmp_path / "b", mod, url, options, wait_s=30, ttl_s=30)
        (tmp_path / "b" / "log").mkdir(parents=True)
        (tmp_path / "b" / "log" / "release").touch()
        taken = b.run(run_id="new")
        assert taken.ok
        record_before = b.store.load_record("leased", "gated")
        (a_root / "log" / "release").touch()
    finally:
        os.kill(stalled.pid, signal.SIGCONT)
    out, _ = stalled.communicate(timeout=60)
    assert stalled.returncode == 3, out
    assert "lost the lease of DAG 'leased' (token 1)" in out and "token 2" in out
    # The stalled run's gated task finished, but neither its state nor its record landed.
    assert b.store.load_record("leased", "gated") == record_before
    assert record_before["run_id"] == "new"
    assert Manifest.load(b.store, "stalled").tasks["gated"]["state"] == "running"


def test_a_lost_lease_fences_every_run_state_write(tmp_path, store_url):
    url, options = store_url
    old = StoreLease(ObjectStore(url, options), "leased", ttl_s=0.5)
    old.acquire()
    old._stop.set()  # stalled: renews no more
    time.sleep(0.7)
    new = StoreLease(ObjectStore(url, options), "leased", ttl_s=30, wait_s=5)
    assert new.acquire() == 2
    try:
        store = RemoteStore(url, options, lock_dir=tmp_path / "locks")
        store.fence = old
        with pytest.raises(LeaseLostError):
            store.store_record("leased", "gated", {"key": "stale"})
        with pytest.raises(LeaseLostError):
            store.write_manifest({"run_id": "r", "tasks": {}})
        assert store.load_record("leased", "gated") is None
        assert store.read_manifest("r") is None
        store.fence = new
        store.store_record("leased", "gated", {"key": "fresh"})
        assert store.load_record("leased", "gated") == {"key": "fresh"}
    finally:
        new.release()
