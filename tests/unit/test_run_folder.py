"""A finished run's folder: deleted when asked, kept when asked or when something is mounted below it."""

from __future__ import annotations

from harness import cleanup


def _run_folder(tmp_path):
    workdir = tmp_path / "strata-run"
    (workdir / "nodes" / "edge1" / "layers").mkdir(parents=True)
    (workdir / "nodes" / "edge1" / "layers" / "blob").write_bytes(b"x" * 1024)
    (workdir / "orchestrator.log").write_text("log\n")
    return workdir


def test_a_measured_run_leaves_nothing(tmp_path):
    workdir = _run_folder(tmp_path)
    assert cleanup.remove_run_folder(workdir, keep=False)
    assert not workdir.exists()


def test_a_failed_run_keeps_its_logs(tmp_path):
    workdir = _run_folder(tmp_path)
    assert not cleanup.remove_run_folder(workdir, keep=True)
    assert (workdir / "orchestrator.log").read_text() == "log\n"


def test_a_folder_with_a_mount_below_it_is_never_deleted(tmp_path, monkeypatch):
    workdir = _run_folder(tmp_path)
    import dataplane.agent.rootfs as rootfs

    monkeypatch.setattr(rootfs, "mounts_under", lambda folder: [str(folder / "nodes" / "edge1" / "rootfs")])
    assert not cleanup.remove_run_folder(workdir, keep=False)
    assert (workdir / "nodes" / "edge1" / "layers" / "blob").exists()
