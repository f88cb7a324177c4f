"""Depth relief: does the depth map inside the face look like a face?

A face is a peak: the nose tip is closer to the camera than the face around it
in EVERY direction (up to the nose bridge, sideways to the cheeks, down to the
lips). A photo, however it is held, is a sheet of paper: flat, tilted, or bent
in one direction only (paper cannot stretch, so it is developable), and along
the bend's axis a straight line runs through the nose at constant slope, so
some direction shows no relief. A screen is flat and often drops depth pixels.
The depth map is registered to the colour image (same pixel grid), in mm,
0 where the sensor has no reading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from biometrics.engine import DetectedFace
from biometrics.errors import LivenessInputError
from biometrics.face_geometry import image_to_uv, uv_to_image
from biometrics.liveness.result import CheckResult, ramp
from biometrics.pose import estimate_pose


@dataclass(frozen=True)
class DepthConfig:
    directions: int = 16
    ring_radius_iod: float = 0.6  # where the surrounding face is sampled
    nose_radius_iod: float = 0.25  # where the nose's own slopes are sampled
    min_valid_fraction: float = 0.6  # of the face box with a depth reading
    # Weakest direction's relief. A face shows ~15-45 mm at 0.6 IOD; a sheet
    # bent into a tube of 40 mm radius (which ruins the photo) still shows < 4.
    min_relief_mm: float = 6.0
    min_median_relief_mm: float = 12.0
    # Readings this far behind (or in front of) the nose tip are not the face:
    # the wall beside a turned head, a hand, a hole. They are left out.
    face_depth_range_mm: float = 90.0
    # Relief of the weakest vs the strongest direction; a bent sheet is very anisotropic.
    min_isotropy: float = 0.12  # a turned head (15-20 deg yaw) still gives >= 0.16
    # The nose is a sharp peak, not the top of a dome: a ball or a balloon with a
    # face printed on it has almost no relief this close to the tip.
    min_nose_prominence_mm: float = 5.0
    min_nose_sharpness: float = 0.2  # nose-slope relief / ring relief; a sphere gives ~0.17
    max_roughness_mm: float = 6.0  # residual after smoothing: noise, speckle, screen artefacts
    # Beyond this head pose (as biometrics.pose estimates it) the nose hides the
    # cheek it turns towards and the relief test no longer holds; the check then
    # has no evidence and the customer is asked to face the camera. Set on
    # rendered poses: 20 degrees of yaw (estimated ~28) and 15 of pitch (~22) pass.
    max_yaw: float = 30.0
    max_pitch: float = 22.0


DEPTH_MISSING = "depth_missing"
DEPTH_POSE = "depth_pose_out_of_range"
DEPTH_FLAT = "depth_flat"
DEPTH_NOT_FACE_SHAPED = "depth_not_face_shaped"
DEPTH_ROUGH = "depth_not_smooth"


def _median_in_disk(depth: npt.NDArray[np.float32], x: float, y: float, r: float) -> float:
    height, width = depth.shape
    x0, x1 = max(int(x - r), 0), min(int(x + r) + 1, width)
    y0, y1 = max(int(y - r), 0), min(int(y + r) + 1, height)
    if x0 >= x1 or y0 >= y1:
        return math.nan
    patch = depth[y0:y1, x0:x1]
    ys, xs = np.mgrid[y0:y1, x0:x1]
    inside = ((xs - x) ** 2 + (ys - y) ** 2 <= r * r) & (patch > 0)
    return float(np.median(patch[inside])) if inside.any() else math.nan


def _roughness(depth: npt.NDArray[np.float32], face: DetectedFace, iod_px: float) -> float:
    """RMS of the depth minus its smoothed self over the inner face (eyes to mouth),
    where a real face is a smooth surface; ``depth`` holds only face readings."""
    x1, y1, x2, y2 = (round(v) for v in face.bbox)
    height, width = depth.shape
    x0, y0 = max(x1, 0), max(y1, 0)
    box = depth[y0 : min(y2, height), x0 : min(x2, width)]
    valid = box > 0
    if valid.sum() < 16:
        return math.inf
    to_uv = image_to_uv(face.kps)
    ys, xs = np.mgrid[y0 : y0 + box.shape[0], x0 : x0 + box.shape[1]]
    u = to_uv[0, 0] * xs + to_uv[0, 1] * ys + to_uv[0, 2]
    v = to_uv[1, 0] * xs + to_uv[1, 1] * ys + to_uv[1, 2]
    inner = (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    # Normalised convolution: smooth only over valid pixels.
    sigma = max(1.0, 0.05 * iod_px)
    weights = cv2.GaussianBlur(valid.astype(np.float32), (0, 0), sigma)
    smooth = cv2.GaussianBlur(np.where(valid, box, 0).astype(np.float32), (0, 0), sigma)
    smooth = smooth / np.maximum(weights, 1e-6)
    residual = (box - smooth)[valid & inner & (weights > 0.5)]
    return float(np.sqrt(np.mean(residual**2))) if residual.size else math.inf


def check_depth(
    depth_mm: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    face: DetectedFace,
    config: DepthConfig = DepthConfig(),
) -> CheckResult:
    """Judge the depth map (mm, registered to the colour image) inside ``face``."""
    depth = np.asarray(depth_mm, dtype=np.float32)
    if depth.ndim != 2:
        raise LivenessInputError(f"a depth map is a 2-D array, got shape {depth.shape}")
    depth = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
    x1, y1, x2, y2 = (round(v) for v in face.bbox)
    box = depth[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)]
    valid_fraction = float((box > 0).mean()) if box.size else 0.0
    measurements = {"valid_fraction": valid_fraction}
    if valid_fraction < config.min_valid_fraction:
        return CheckResult("depth", 0.0, None, (DEPTH_MISSING,), measurements)

    pose = estimate_pose(face.kps)
    measurements.update(yaw=pose.yaw, pitch=pose.pitch)
    if abs(pose.yaw) > config.max_yaw or abs(pose.pitch) > config.max_pitch:
        return CheckResult("depth", 0.0, None, (DEPTH_POSE,), measurements)
    to_image = uv_to_image(face.kps)
    iod_px = float(np.hypot(to_image[0, 0], to_image[1, 0]))
    disk = max(1.5, 0.08 * iod_px)
    nose_x, nose_y = to_image[:, 2]
    nose = _median_in_disk(depth, nose_x, nose_y, disk)
    if math.isnan(nose):
        return CheckResult("depth", 0.0, None, (DEPTH_MISSING,), measurements)
    near_face = np.abs(depth - nose) <= config.face_depth_range_mm
    depth = np.where(near_face, depth, 0.0).astype(np.float32)

    def ring(radius_iod: float) -> npt.NDArray[np.float64]:
        values = []
        for k in range(config.directions):
            angle = 2 * math.pi * k / config.directions
            u, v = radius_iod * math.cos(angle), radius_iod * math.sin(angle)
            x = to_image[0, 0] * u + to_image[0, 1] * v + to_image[0, 2]
            y = to_image[1, 0] * u + to_image[1, 1] * v + to_image[1, 2]
            values.append(_median_in_disk(depth, x, y, disk) - nose)
        return np.array(values, dtype=np.float64)

    relief, slopes = ring(config.ring_radius_iod), ring(config.nose_radius_iod)
    if np.isnan(relief).mean() > 0.25 or np.isnan(slopes).mean() > 0.25:
        return CheckResult("depth", 0.0, None, (DEPTH_MISSING,), measurements)
    relief, slopes = relief[~np.isnan(relief)], slopes[~np.isnan(slopes)]
    weakest, median, strongest = float(relief.min()), float(np.median(relief)), float(relief.max())
    isotropy = weakest / strongest if strongest > 0 else 0.0
    prominence = float(np.median(slopes))
    sharpness = prominence / median if median > 0 else 0.0
    roughness = _roughness(depth, face, iod_px)
    measurements.update(
        min_relief_mm=weakest,
        median_relief_mm=median,
        max_relief_mm=strongest,
        isotropy=isotropy,
        nose_prominence_mm=prominence,
        nose_sharpness=sharpness,
        roughness_mm=min(roughness, 1e6),  # inf when too few pixels; keep JSON finite
    )
    reasons = []
    if median < config.min_median_relief_mm:
        reasons.append(DEPTH_FLAT)
    elif (
        weakest < config.min_relief_mm
        or isotropy < config.min_isotropy
        or prominence < config.min_nose_prominence_mm
        or sharpness < config.min_nose_sharpness
    ):
        reasons.append(DEPTH_NOT_FACE_SHAPED)
    if roughness > config.max_roughness_mm:
        reasons.append(DEPTH_ROUGH)
    score = min(
        ramp(weakest, config.min_relief_mm, 2 * config.min_relief_mm),
        ramp(median, config.min_median_relief_mm, 2 * config.min_median_relief_mm),
        ramp(isotropy, config.min_isotropy, 2 * config.min_isotropy),
        ramp(prominence, config.min_nose_prominence_mm, 2 * config.min_nose_prominence_mm),
    )
    if reasons:
        score = min(score, 0.49)
    return CheckResult("depth", score, not reasons, tuple(reasons), measurements)
