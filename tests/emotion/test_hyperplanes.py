import numpy as np
import pytest

from emohead.emotion import (EmotionHyperplanes, HyperplaneError, blend_normal, fit_hyperplanes, group_counts,
                             mar_balanced_indices, mar_groups, per_emotion_accuracy, refine, switch_schedule,
                             switch_weights)

EMOTIONS = ("happy", "sad", "angry")


def clusters(n=300, seed=0, spread=0.3):
    """Three separable clusters along known directions in 10-d, plus a MAR that is independent of emotion."""
    rng = np.random.default_rng(seed)
    dirs = np.eye(10)[[0, 3, 7]] * 2.0
    labels = np.repeat(EMOTIONS, n)
    alpha = np.concatenate([d + spread * rng.normal(size=(n, 10)) for d in dirs])
    mar = rng.uniform(0, 0.6, size=len(alpha))
    return alpha, labels, mar, dirs


def test_separable_clusters_high_accuracy_and_known_direction():
    alpha, labels, mar, dirs = clusters()
    planes = fit_hyperplanes(alpha, labels, mar, emotions=EMOTIONS)
    test_alpha, test_labels, _, _ = clusters(seed=1)
    acc = per_emotion_accuracy(planes, test_alpha, test_labels)
    assert min(acc.values()) > 0.97
    np.testing.assert_allclose(np.linalg.norm(planes.normals, axis=1), 1.0, atol=1e-5)
    # one-vs-rest normal of cluster i points along its direction minus the mean of the others
    for i, e in enumerate(EMOTIONS):
        true = dirs[i] - dirs[[j for j in range(3) if j != i]].mean(0)
        cos = planes.normal(e) @ true / np.linalg.norm(true)
        assert cos > 0.9, (e, cos)
    assert (planes.predict(test_alpha) == np.repeat([0, 1, 2], 300)).mean() > 0.97


def test_mar_groups_are_equal_width():
    g = mar_groups(np.array([0.0, 0.1, 0.45, 0.5, 0.99, 1.0]), 5)
    assert g.tolist() == [0, 0, 2, 2, 4, 4]
    assert mar_groups(np.ones(4), 5).tolist() == [0, 0, 0, 0]


def test_balancing_equalises_group_counts():
    rng = np.random.default_rng(0)
    # positives mostly have an open mouth, negatives a closed one: the bias balancing removes
    mar = np.concatenate([rng.beta(5, 2, 500), rng.beta(2, 5, 1500)])
    positive = np.arange(2000) < 500
    before = group_counts(mar, positive)
    assert before[0].std() > 10 and not np.array_equal(before[0], before[1])
    idx = mar_balanced_indices(mar, positive, groups=5, rng=rng)
    after = group_counts(mar[idx], positive[idx], value_range=(mar.min(), mar.max()))
    np.testing.assert_array_equal(after[0], after[1])  # both classes: the same MAR histogram
    assert after.sum() > 0.4 * positive.sum()
    assert len(set(idx.tolist())) == len(idx)
    strict = mar_balanced_indices(mar, positive, groups=5, rng=rng, equal_groups=True)
    after = group_counts(mar[strict], positive[strict], value_range=(mar.min(), mar.max()))
    nonzero = after[:, after.sum(0) > 0]
    assert np.all(nonzero == nonzero[0, 0]), after


def test_balancing_removes_mouth_bias_from_the_normal():
    """A confound: 'happy' frames talk more (open mouth on dim 0). Balanced training ignores dim 0 more."""
    rng = np.random.default_rng(3)
    n = 3000
    happy = rng.random(n) < 0.3
    mar = np.where(happy, rng.beta(5, 2, n), rng.beta(2, 5, n)) * 0.6
    alpha = rng.normal(size=(n, 10)) * 0.4
    alpha[:, 0] += 3.0 * mar              # mouth dim follows MAR
    alpha[:, 5] += np.where(happy, 0.5, -0.5)  # the true emotion dim
    labels = np.where(happy, "happy", "sad")
    biased = fit_hyperplanes(alpha, labels, mar, emotions=("happy", "sad"), balance_mar=False)
    balanced = fit_hyperplanes(alpha, labels, mar, emotions=("happy", "sad"), balance_mar=True)
    assert abs(balanced.normal("happy")[0]) < abs(biased.normal("happy")[0]) - 0.1
    assert balanced.normal("happy")[5] > 0.6


def test_refinement_raises_decision_monotonically():
    alpha, labels, mar, _ = clusters()
    planes = fit_hyperplanes(alpha, labels, mar, emotions=EMOTIONS)
    base = alpha[labels == "sad"][:20]
    values = [planes.decision(refine(base, tau, planes.normal("happy")))[:, 0] for tau in np.linspace(0, 4, 9)]
    diffs = np.diff(np.stack(values), axis=0)
    assert (diffs > 0).all()
    assert (values[-1] > 0).all() and (values[0] < 0).all()
    per_frame_tau = refine(base, np.linspace(0, 1, 20), planes.normal("happy"))
    assert per_frame_tau.shape == base.shape


def test_blend_and_switch():
    alpha, labels, mar, _ = clusters()
    planes = fit_hyperplanes(alpha, labels, mar, emotions=EMOTIONS)
    np.testing.assert_allclose(blend_normal(planes, "happy", "sad", 0.0), planes.normal("happy"))
    np.testing.assert_allclose(blend_normal(planes, "happy", "sad", 1.0), planes.normal("sad"), atol=1e-6)
    w = switch_weights(50, 25, switch_time=1.0, ramp=0.4)
    assert w[:25].max() == 0 and w[-1] == 1 and np.all(np.diff(w) >= 0) and 0 < w[27] < 1
    sched = switch_schedule(planes, "happy", "sad", 50, 25, 1.0, 0.4)
    assert sched.shape == (50, 10)
    np.testing.assert_allclose(sched[0], planes.normal("happy"))
    with pytest.raises(HyperplaneError, match=r"\[0, 1\]"):
        blend_normal(planes, "happy", "sad", 1.5)


def test_save_load_round_trip(tmp_path):
    alpha, labels, mar, _ = clusters()
    planes = fit_hyperplanes(alpha, labels, mar, emotions=EMOTIONS, svm_c=0.5, seed=4)
    path = planes.save(tmp_path / "planes")
    assert path.suffix == ".npz" and path.with_suffix(".json").exists()
    back = EmotionHyperplanes.load(path)
    assert back.emotions == EMOTIONS and back.settings == planes.settings
    np.testing.assert_array_equal(back.normals, planes.normals)
    np.testing.assert_array_equal(back.decision(alpha[:5]), planes.decision(alpha[:5]))
    with pytest.raises(HyperplaneError, match="not found"):
        EmotionHyperplanes.load(tmp_path / "missing")
    # damaged files are named: a truncated .npz, a truncated .json, NaN normals
    import shutil

    for name in ("trunc_npz", "trunc_json", "nan"):
        shutil.copy(path, tmp_path / f"{name}.npz")
        shutil.copy(path.with_suffix(".json"), tmp_path / f"{name}.json")
    (tmp_path / "trunc_npz.npz").write_bytes(path.read_bytes()[:100])
    (tmp_path / "trunc_json.json").write_text(path.with_suffix(".json").read_text()[:10])
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["normals"][0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", **arrays)
    for name, message in (("trunc_npz", "trunc_npz.npz: not a readable hyperplane file"),
                          ("trunc_json", "trunc_json.npz: not a readable hyperplane file"),
                          ("nan", r"nan.npz: \['normals'\] hold NaN")):
        with pytest.raises(HyperplaneError, match=message):
            EmotionHyperplanes.load(tmp_path / f"{name}.npz")


@pytest.mark.parametrize("mutate, message", [
    (lambda a, l, m: (a, np.full(len(l), "happy"), m), "at least two emotions"),
    (lambda a, l, m: (np.where(np.arange(a.size).reshape(a.shape) == 7, np.nan, a), l, m), "NaN"),
    (lambda a, l, m: (a, l[:-3], m), "labels has"),
    (lambda a, l, m: (a, l, m[:-1]), "mar has"),
    (lambda a, l, m: (a, np.where(l == "angry", "bored", l), m), "unknown emotion"),
    (lambda a, l, m: (a[:, :3].ravel(), l, m), "alpha must be"),
])
def test_bad_input_is_named(mutate, message):
    alpha, labels, mar, _ = clusters(n=30)
    a, l, m = mutate(alpha, labels, mar)
    with pytest.raises(HyperplaneError, match=message):
        fit_hyperplanes(a, l, m, emotions=EMOTIONS if message != "unknown emotion" else EMOTIONS)


def test_unknown_emotion_lookup():
    alpha, labels, mar, _ = clusters(n=30)
    planes = fit_hyperplanes(alpha, labels, mar, emotions=EMOTIONS)
    with pytest.raises(HyperplaneError, match="unknown emotion 'bored'"):
        planes.normal("bored")


def test_cli_fit_hyperplanes(tmp_path, capsys):
    from emohead.cli import main
    from emohead.config import load_profile
    from emohead.synth.corpus import generate_corpus

    data = tmp_path / "data"
    generate_corpus(load_profile("smoke", {"synth.n_actors": 1, "synth.image_size": 32}), data, progress=False)
    assert main(["fit-hyperplanes", "--profile", "smoke", "--data", str(data), "--out", str(tmp_path / "hp")]) == 0
    planes = EmotionHyperplanes.load(tmp_path / "hp" / "hyperplanes.npz")
    assert len(planes.emotions) == 8
    import json

    report = json.loads((tmp_path / "hp" / "report.json").read_text())
    assert set(report["accuracy_balanced"]) <= set(planes.emotions)
    assert "cosine_to_generator_balanced" in report
    assert main(["fit-hyperplanes", "--data", str(data), "--out", str(tmp_path / "x"), "--speaker", "nobody"]) == 2
    assert "--speaker 'nobody'" in capsys.readouterr().err
