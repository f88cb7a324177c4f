"""Presentation-attack detection: depth relief, motion parallax, a passive model.

Each check returns a CheckResult (score 0..1, passed True/False/None, reasons,
measurements); ``report.assess_liveness`` runs the checks the evidence allows
and ``report.combine`` turns them into one LivenessReport: any failed check
makes a spoof; otherwise live needs a passed depth or motion check (and every
check in ``LivenessConfig.required``); otherwise the evidence is insufficient.

What the thresholds rest on, and what they do not cover:
- Depth and motion thresholds were set on synthetic evidence (biometrics.attacks):
  a face relief model rendered at the landmarks of the real shipped photos, with
  a modelled sensor, and rendered head turns. A real depth camera and real video
  need the suite re-run on recorded presentations before the numbers mean much.
- Motion parallax cannot stop a replayed VIDEO of a real head turning (it has
  real parallax); the suite's "screen_video" attack shows it. Depth (a screen is
  flat) or the passive model has to catch that, so a cabinet with a depth camera
  should set ``required={"depth"}``.
- The passive model is optional and only as good as its training data; the
  test model's weights carry a non-commercial dataset caveat (see its PROVENANCE).
"""
