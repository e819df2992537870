"""VideoPose3D's Human3.6M file layout (:mod:`sealloss.data.vp3d`), on small files in that exact
layout built here: from the embedded CMU set (always), and from the shared Human3.6M files
(skipped with a reason when they are absent).

The files are written as VideoPose3D's preparation scripts write them: ``np.savez_compressed``
of a dict (``positions_3d``: subject -> action -> (F, 32 or 17, 3) world metres;
``positions_2d``: subject -> action -> list of per-camera (F, 17, 2) pixels; ``metadata``).

All of these tests are new with the reader (there was no VideoPose3D reader before); the
crafted-pickle test also checks that its payload does run under ``np.load(allow_pickle=True)``,
so that it could fail.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from sealloss.data.cameras import Camera, project_camera_points, world_to_camera
from sealloss.data.embedded import EMBEDDED_FILE, load_embedded
from sealloss.data.vp3d import (
    VP3D_KEEP_32,
    VP3D_SYMMETRY,
    load_vp3d_2d,
    load_vp3d_3d,
    vp3d_pairs,
)
from sealloss.errors import DataFormatError, DataNotFoundError

METADATA = {"layout_name": "h36m", "num_joints": 17,
            "keypoints_symmetry": [list(VP3D_SYMMETRY[0]), list(VP3D_SYMMETRY[1])]}


def write_vp3d_set(folder: Path, positions_3d: dict, positions_2d: dict, cameras: dict,
                   order: list[str], metadata: dict | None = None) -> tuple[Path, Path, Path]:
    """``data_3d_test.npz``, ``data_2d_test_gt.npz`` and ``cameras.json`` in VideoPose3D's /
    ``h36m_cameras.json``'s layouts (``cameras``: subject -> camera id -> :class:`Camera` with
    ``T`` in millimetres)."""
    folder.mkdir(parents=True, exist_ok=True)
    p3, p2, pc = folder / "data_3d_test.npz", folder / "data_2d_test_gt.npz", folder / "cams.json"
    np.savez_compressed(p3, positions_3d=positions_3d)
    np.savez_compressed(p2, positions_2d=positions_2d, metadata=metadata or METADATA)
    pc.write_text(json.dumps({"camera_order": order, "cameras": {
        s: {cid: c.to_dict() for cid, c in cs.items()} for s, cs in cameras.items()}}))
    return p2, p3, pc


def cmu_vp3d_set(folder: Path, joints32: bool = False) -> tuple[Path, Path, Path]:
    """The embedded CMU clips as a VideoPose3D file set: each clip a subject (its name, e.g.
    ``"02_01"``; each clip has its own four virtual cameras), its motion the action, the 2D its
    projection in pixels, cameras in ``h36m_cameras.json``'s layout with ``T`` in mm. Rows of
    :func:`vp3d_pairs` on it line up with ``load_embedded(None)``'s."""
    with np.load(EMBEDDED_FILE) as z:
        d = {k: z[k] for k in z.files}
    res_w, res_h = (int(v) for v in d["res"])
    order = [f"cam{i}" for i in range(d["cam_R"].shape[1])]
    p3d: dict = {}
    p2d: dict = {}
    cams: dict = {}
    g = np.random.default_rng(0)
    for k, name in enumerate(d["clip_names"].astype(str)):
        world = d["world"][d["frame_clip"] == k].astype(np.float64)  # metres
        motion = str(d["clip_motion"][k])
        views, cams[name] = [], {}
        for ci, cid in enumerate(order):
            cam_m = Camera(R=d["cam_R"][k, ci], T=d["cam_T"][k, ci], f=d["cam_f"][k, ci],
                           c=d["cam_c"][k, ci], res_w=res_w, res_h=res_h, name=cid)
            views.append(project_camera_points(world_to_camera(world, cam_m), cam_m)
                         .astype(np.float32))
            cams[name][cid] = Camera(R=cam_m.R, T=cam_m.T * 1000.0, f=cam_m.f, c=cam_m.c,
                                     res_w=res_w, res_h=res_h, name=cid)
        if joints32:
            full = g.uniform(-3, 3, size=(world.shape[0], 32, 3))
            full[:, list(VP3D_KEEP_32)] = world
            world = full
        p3d[name] = {motion: world.astype(np.float32)}
        p2d[name] = {motion: views}
    return write_vp3d_set(folder, p3d, p2d, cams, order)


def test_cmu_set_reads_as_the_embedded_pairs(tmp_path: Path) -> None:
    p2, p3, pc = cmu_vp3d_set(tmp_path)
    got = vp3d_pairs(p2, p3, pc)
    want = load_embedded(None)
    assert got["x2d"].shape == want["x2d"].shape and got["y3d"].shape == want["y3d"].shape
    np.testing.assert_allclose(got["x2d"], want["x2d"], atol=2e-5)
    np.testing.assert_allclose(got["y3d"], want["y3d"], atol=1e-5)
    np.testing.assert_allclose(got["root_cam"], want["root_cam"], atol=1e-5)
    np.testing.assert_array_equal(got["subject"], want["clip"])
    np.testing.assert_array_equal(got["action"], want["action"])
    np.testing.assert_array_equal(got["trial"], want["action"])
    np.testing.assert_array_equal(got["camera"], want["camera"])
    np.testing.assert_array_equal(got["seq_id"], want["seq_id"])
    assert (got["res_w"] == 1000).all() and (got["res_h"] == 1000).all()
    # frame: index within the sequence, restarting per camera
    first = got["frame"][(got["seq_id"] == 0) & (got["camera"] == 1)]
    np.testing.assert_array_equal(first, np.arange(first.size))


def test_one_row_by_hand(tmp_path: Path) -> None:
    """Screen frame and camera frame computed by hand for one row, no library helper."""
    p2, p3, pc = cmu_vp3d_set(tmp_path)
    got = vp3d_pairs(p2, p3, pc)
    with np.load(EMBEDDED_FILE) as z:
        world = z["world"][z["frame_clip"] == 0][3].astype(np.float64)
        R, T, f, c = z["cam_R"][0, 2], z["cam_T"][0, 2], z["cam_f"][0, 2], z["cam_c"][0, 2]
    row = int(np.flatnonzero((got["seq_id"] == 0) & (got["camera"] == 2) & (got["frame"] == 3))[0])
    xc = (world - T) @ R.T
    px = xc[:, :2] / xc[:, 2:] * f + c
    np.testing.assert_allclose(got["x2d"][row], px / 1000 * 2 - 1, atol=2e-5)
    np.testing.assert_allclose(got["y3d"][row], xc - xc[0], atol=1e-5)
    assert got["y3d"][row][0].tolist() == [0, 0, 0]


def test_32_joint_3d_keeps_videopose3d_joints(tmp_path: Path) -> None:
    p2, p3, pc = cmu_vp3d_set(tmp_path / "a", joints32=True)
    q2, q3, qc = cmu_vp3d_set(tmp_path / "b")
    raw = load_vp3d_3d(p3)
    assert next(iter(next(iter(raw.values())).values())).shape[1:] == (17, 3)
    a, b = vp3d_pairs(p2, p3, pc), vp3d_pairs(q2, q3, qc)
    np.testing.assert_allclose(a["y3d"], b["y3d"], atol=1e-6)


def test_2d_only_subjects_every_and_metadata(tmp_path: Path) -> None:
    p2, p3, pc = cmu_vp3d_set(tmp_path)
    pos, meta = load_vp3d_2d(p2)
    assert meta["layout_name"] == "h36m" and meta["num_joints"] == 17
    assert len(pos["02_01"]["walk"]) == 4
    only2d = vp3d_pairs(p2, None, pc, subjects=["05_06", "01_01"], every=3)
    assert "y3d" not in only2d and "root_cam" not in only2d
    assert list(dict.fromkeys(only2d["subject"].tolist())) == ["05_06", "01_01"]
    assert (only2d["frame"] % 3 == 0).all()
    full = vp3d_pairs(p2, p3, pc)
    sel = (full["subject"] == "05_06") & (full["frame"] % 3 == 0)
    np.testing.assert_array_equal(only2d["x2d"][only2d["subject"] == "05_06"], full["x2d"][sel])
    with pytest.raises(DataNotFoundError, match="nobody"):
        vp3d_pairs(p2, p3, pc, subjects=["nobody"])


def test_default_camera_file_comes_from_the_data_folder(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    p2, p3, pc = cmu_vp3d_set(tmp_path / "vp3d")
    (tmp_path / "data" / "h36m").mkdir(parents=True)
    (tmp_path / "data" / "h36m" / "h36m_cameras.json").write_text(pc.read_text())
    a = vp3d_pairs(p2, p3, root=tmp_path / "data")
    monkeypatch.setenv("SEALLOSS_DATA", str(tmp_path / "data"))
    b = vp3d_pairs(p2, p3)
    np.testing.assert_array_equal(a["x2d"], b["x2d"])
    monkeypatch.delenv("SEALLOSS_DATA")
    with pytest.raises(DataNotFoundError, match="SEALLOSS_DATA"):
        vp3d_pairs(p2, p3)


def _small_set(tmp_path: Path, f3: int = 5, f2: int = 5, **kw) -> tuple[Path, Path, Path]:
    g = np.random.default_rng(1)
    world = g.normal(scale=0.3, size=(f3, 17, 3)) + np.array([0.0, 0.0, 1.0])
    cam = Camera(R=np.eye(3), T=np.array([0.0, -5000.0, 1000.0]), f=np.array([1000.0, 1000.0]),
                 c=np.array([500.0, 500.0]), res_w=1000, res_h=1002, name="c0")
    px = g.uniform(0, 1000, size=(f2, 17, 2)).astype(np.float32)
    return write_vp3d_set(tmp_path, kw.get("p3", {"S1": {"Walking 1": world}}),
                          kw.get("p2", {"S1": {"Walking 1": [px]}}), {"S1": {"c0": cam}},
                          ["c0"], kw.get("metadata"))


def test_2d_longer_than_3d_is_cut_shorter_is_refused(tmp_path: Path) -> None:
    p2, p3, pc = _small_set(tmp_path / "a", f3=5, f2=8)
    got = vp3d_pairs(p2, p3, pc)
    assert got["x2d"].shape == (5, 17, 2) and got["action"][0] == "Walking"
    assert got["trial"][0] == "Walking 1" and (got["res_h"] == 1002).all()
    # the screen frame uses the camera's own height: y offset h / w
    px = load_vp3d_2d(p2)[0]["S1"]["Walking 1"][0][:5]
    np.testing.assert_allclose(got["x2d"], px / 1000 * 2 - np.array([1, 1.002]), atol=1e-5)
    p2, p3, pc = _small_set(tmp_path / "b", f3=8, f2=5)
    with pytest.raises(DataFormatError, match="fewer than the 8"):
        vp3d_pairs(p2, p3, pc)


def test_layout_and_content_errors_name_the_problem(tmp_path: Path) -> None:
    coco = {"layout_name": "coco", "num_joints": 17, "keypoints_symmetry": [[1], [2]]}
    p2, p3, pc = _small_set(tmp_path / "coco", metadata=coco)
    with pytest.raises(DataFormatError, match="'coco'"):
        vp3d_pairs(p2, p3, pc)
    he = {"layout_name": "humaneva15", "num_joints": 15, "keypoints_symmetry": [[2], [5]]}
    p2, p3, pc = _small_set(tmp_path / "he", metadata=he)
    with pytest.raises(DataFormatError, match="humaneva_pairs"):
        vp3d_pairs(p2, p3, pc)
    swapped = dict(METADATA, keypoints_symmetry=[list(VP3D_SYMMETRY[1]), list(VP3D_SYMMETRY[0])])
    p2, p3, pc = _small_set(tmp_path / "sym", metadata=swapped)
    with pytest.raises(DataFormatError, match="another order"):
        vp3d_pairs(p2, p3, pc)
    mm = {"S1": {"Walking 1": np.random.default_rng(0).normal(scale=300, size=(5, 17, 3))}}
    p2, p3, pc = _small_set(tmp_path / "mm", p3=mm)
    with pytest.raises(DataFormatError, match="millimetres"):
        vp3d_pairs(p2, p3, pc)
    other = {"S1": {"Eating 2": np.zeros((5, 17, 3))}}
    p2, p3, pc = _small_set(tmp_path / "trial", p3=other)
    with pytest.raises(DataFormatError, match="no trial 'Walking 1'"):
        vp3d_pairs(p2, p3, pc)
    p2, p3, pc = _small_set(tmp_path / "subj", p3={"S5": other["S1"]})
    with pytest.raises(DataFormatError, match="no subject 'S1'"):
        vp3d_pairs(p2, p3, pc)
    bad = {"S1": {"Walking 1": [np.zeros((5, 16, 2))]}}
    p2, p3, pc = _small_set(tmp_path / "shape", p2=bad)
    with pytest.raises(DataFormatError, match=r"\(frames, 17, 2\)"):
        vp3d_pairs(p2, p3, pc)
    flat = tmp_path / "flat.npz"
    np.savez(flat, positions_3d=np.zeros((5, 17, 3)))
    with pytest.raises(DataFormatError, match="expected a dict"):
        load_vp3d_3d(flat)


class _Payload:
    """Pickles as a call of ``os.system`` (what a crafted data file could carry)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.skipif(os.name != "posix", reason="the payload uses a POSIX shell command")
@pytest.mark.parametrize("entry", ("positions_2d", "metadata", "positions_3d"))
def test_a_crafted_file_runs_no_code(tmp_path: Path, entry: str) -> None:
    marker = tmp_path / "ran"
    p2, p3, pc = _small_set(tmp_path / "ok")
    good2 = {"positions_2d": load_vp3d_2d(p2)[0], "metadata": METADATA}
    evil = {"S1": {"Walking 1": [_Payload(f"touch {marker}")]}}
    if entry == "positions_3d":
        np.savez(p3, positions_3d=evil)
    else:
        np.savez(p2, **{**good2, entry: evil})
    with pytest.raises(DataFormatError, match="system") as e:
        vp3d_pairs(p2, p3, pc)
    assert "refused without running it" in str(e.value)
    assert not marker.exists()
    # the payload is live: a bare allow_pickle=True load runs it
    with np.load(p3 if entry == "positions_3d" else p2, allow_pickle=True) as z:
        z[entry]
    assert marker.exists()


# --------------------------------------------------------------------------- Human3.6M
def test_h36m_set_reads_as_h36m_pairs(h36m_root: Path, tmp_path: Path) -> None:
    """VideoPose3D-layout files built from the shared Human3.6M files (world metres, 2D GT by
    projecting with the calibration, as VideoPose3D's data_2d_h36m_gt.npz) read back as
    :func:`h36m_pairs` with the shared ``h36m_cameras.json`` found from ``root=``."""
    from sealloss.data.h36m import CAMERA_ORDER, h36m_pairs, load_h36m

    data = load_h36m(h36m_root)
    subject = "S11"
    p3d: dict = {subject: {}}
    p2d: dict = {subject: {}}
    for s in np.flatnonzero(data.seq_subject == subject):
        world_mm = data.positions_world[data.seq_id == s].astype(np.float64)
        trial = str(data.seq_action[s])
        p3d[subject][trial] = (world_mm / 1000.0).astype(np.float32)
        p2d[subject][trial] = [
            project_camera_points(world_to_camera(world_mm, data.cameras[subject][cid]),
                                  data.cameras[subject][cid]).astype(np.float32)
            for cid in CAMERA_ORDER]
    p2, p3 = tmp_path / "data_2d_h36m_gt.npz", tmp_path / "data_3d_h36m.npz"
    np.savez_compressed(p3, positions_3d=p3d)
    np.savez_compressed(p2, positions_2d=p2d, metadata=METADATA)
    got = vp3d_pairs(p2, p3, root=h36m_root.parent)
    want = h36m_pairs(subject, dataset=data)
    assert got["x2d"].shape == want["x2d"].shape
    np.testing.assert_allclose(got["x2d"], want["x2d"], atol=1e-4)
    np.testing.assert_allclose(got["y3d"], want["y3d"], atol=1e-5)
    for k in ("subject", "action", "camera", "res_w", "res_h"):
        np.testing.assert_array_equal(got[k], want[k])
