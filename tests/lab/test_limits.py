"""lab/limits.py: host limits checked before booting nodes, raised (said on stderr) or refused by name. No host."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import limits

STOCK = {  # a stock Debian 12 host
    "fs.inotify.max_user_instances": 128, "fs.inotify.max_user_watches": 122_000,
    "kernel.keys.root_maxkeys": 1_000_000, "kernel.keys.root_maxbytes": 25_000_000,
    "kernel.pid_max": 32768, "kernel.threads-max": 190_000,
}
IDLE = {"fs.inotify.max_user_instances": 40, "fs.inotify.max_user_watches": 100}


def sysctls(values: dict[str, int]) -> tuple[dict[str, int], list[tuple[str, int]]]:
    return dict(values), []


def run(new: int, values: dict[str, int], *, raise_limits: bool = True, fail_write: bool = False,
        memory_mb: int = 24_000, per_node: dict[str, int] | None = None) -> tuple[list[str], list[tuple[str, int]]]:
    writes: list[tuple[str, int]] = []

    def write(name: str, value: int) -> None:
        if fail_write:
            raise OSError(30, "Read-only file system")
        writes.append((name, value))
        values[name] = value

    done = limits.ensure(new, {"control_plane": 3, "workers": new - 3}, raise_limits=raise_limits,
                         per_node=per_node, use=dict(IDLE), read=values.__getitem__, write=write,
                         available_mb=lambda: memory_mb)
    return done, writes


def test_a_small_lab_changes_nothing() -> None:
    values = dict(STOCK)
    assert run(6, values) == ([], []) and values == STOCK


def test_fifty_three_nodes_raise_inotify_instances_and_say_so(capsys: pytest.CaptureFixture[str]) -> None:
    values = dict(STOCK)
    done, writes = run(53, values)
    need = 40 + 53 * limits.PER_NODE["fs.inotify.max_user_instances"]
    assert [name for name, _ in writes] == ["fs.inotify.max_user_instances"]
    value = writes[0][1]
    assert value >= need * limits.HEADROOM and value % 64 == 0
    assert done == [f"fs.inotify.max_user_instances={value}"]
    err = capsys.readouterr().err
    assert f"raised fs.inotify.max_user_instances from 128 to {value} (sysctl -w fs.inotify.max_user_instances={value})" in err
    assert "53 more node(s)" in err
    assert run(53, values)[1] == []  # raised once: the next `up` finds it enough


def test_refused_up_front_with_the_exact_setting() -> None:
    values = dict(STOCK, **{"kernel.pid_max": 4096})
    with pytest.raises(limits.LimitError) as refused:
        run(53, values, raise_limits=False)
    text = str(refused.value)
    assert "`sysctl -w fs.inotify.max_user_instances=" in text and "`sysctl -w kernel.pid_max=" in text
    assert "fs.inotify.max_user_instances is 128; 40 in use" in text
    assert "max_user_watches" not in text and values == dict(STOCK, **{"kernel.pid_max": 4096})


def test_refused_when_raising_fails() -> None:
    with pytest.raises(limits.LimitError, match=r"raising it failed \(.*Read-only file system\): run `sysctl -w "
                                                r"fs.inotify.max_user_instances=\d+` as root"):
        run(53, dict(STOCK), fail_write=True)


def test_a_measured_node_using_more_than_assumed_counts() -> None:
    measured = {"fs.inotify.max_user_instances": 40}
    needs = {n.name: n for n in limits.needs(10, measured, use=dict(IDLE), read=STOCK.__getitem__)}
    assert needs["fs.inotify.max_user_instances"].adds == 400 and not needs["fs.inotify.max_user_instances"].enough
    smaller = {n.name: n for n in limits.needs(10, {"fs.inotify.max_user_instances": 1}, use={}, read=STOCK.__getitem__)}
    assert smaller["fs.inotify.max_user_instances"].adds == 10 * limits.PER_NODE["fs.inotify.max_user_instances"]


def test_short_memory_refused_before_any_setting() -> None:
    values = dict(STOCK)
    with pytest.raises(limits.LimitError, match=r"53 more node\(s\) need about \d+ MB of memory; 2000 MB is available"):
        run(53, values, memory_mb=2000)
    assert values == STOCK


def test_sysctl_names_map_to_proc_sys() -> None:
    assert limits.sysctl_path("fs.inotify.max_user_instances") == Path("/proc/sys/fs/inotify/max_user_instances")
    assert limits.sysctl_path("kernel.threads-max") == Path("/proc/sys/kernel/threads-max")


def test_usage_read_from_proc(tmp_path: Path) -> None:
    """inotify instances and watches of a user's processes, keys from /proc/key-users, as the kernel shows them."""
    proc = tmp_path / "proc"
    for pid, uid_fds in ((10, 2), (11, 1)):
        fd_dir = proc / str(pid) / "fd"
        fd_dir.mkdir(parents=True)
        (proc / str(pid) / "fdinfo").mkdir()
        (proc / str(pid) / "task" / str(pid)).mkdir(parents=True)
        for fd in range(uid_fds):
            (fd_dir / str(fd)).symlink_to("anon_inode:inotify")
            (proc / str(pid) / "fdinfo" / str(fd)).write_text(
                "pos:\t0\nflags:\t02004000\ninotify wd:1 ino:1 sdev:1 mask:fc6 ignored_mask:0\n"
                "inotify wd:2 ino:2 sdev:1 mask:fc6 ignored_mask:0\n")
        (fd_dir / "9").symlink_to("/dev/null")
    (proc / "self").mkdir()
    uid = proc.stat().st_uid
    assert limits.inotify_in_use(uid, proc) == (3, 6)
    assert limits.inotify_in_use(uid + 1, proc) == (0, 0)
    assert limits.node_usage([10, 99], proc) == {"fs.inotify.max_user_instances": 2, "fs.inotify.max_user_watches": 4,
                                                 "kernel.pid_max": 1, "kernel.threads-max": 1}
    assert limits.tasks_in_use(proc) == 2
    key_users = tmp_path / "key-users"
    key_users.write_text("    0:    81 80/80 75/1000000 1294/25000000\n 1000:     2 2/2 2/200 50/20000\n")
    assert limits.keys_in_use(0, key_users) == (75, 1294) and limits.keys_in_use(1000, key_users) == (2, 50)
    assert limits.keys_in_use(7, key_users) == (0, 0)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemFree:         1000 kB\nMemAvailable:   20480000 kB\n")
    assert limits.mem_available_mb(meminfo) == 20000
