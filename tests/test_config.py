import ast
import dataclasses
import inspect

import pytest

from emohead import config as C


def test_paper_values_are_the_defaults():
    p = C.Profile()
    assert (p.media.fps, p.media.sample_rate, p.media.expression_dims) == (25, 16000, 10)
    assert (p.features.audio_dim, p.features.emotion_dim, p.features.text_dim) == (768, 768, 4096)
    a = p.audio2exp
    assert (a.d, a.dh, a.n_neighbors, a.ffn_widths, a.rho, a.lr, a.iterations) == (
        512, 512, 5, (512, 256, 256, 128), 0.5, 5e-4, 20000)
    n = p.nerf
    assert (n.iterations, n.refine_start) == (200000, 100000)
    assert (n.lambda_photo, n.lambda_cord, n.lambda_shape) == (1.0, 1e-3, 1e-9)
    assert (n.crop_mead, n.crop_cremad) == (512, 340)
    assert p.hyperplanes.mar_groups == 5


def test_paper_profile_keeps_paper_budgets():
    p = C.load_profile("paper")
    assert p.audio2exp.iterations == 20000 and p.nerf.iterations == 200000 and p.nerf.refine_start == 100000
    assert p.audio2exp.d == 512 and p.audio2exp.n_neighbors == 5


def test_profiles_exist_and_scale():
    assert set(C.PROFILES) >= {"smoke", "cpu", "gpu", "paper"}
    s, c = C.PROFILES["smoke"], C.PROFILES["cpu"]
    assert s.synth.image_size == 64 and c.synth.image_size == 128 and C.PROFILES["gpu"].synth.image_size == 512
    assert s.audio2exp.iterations < c.audio2exp.iterations < C.PROFILES["paper"].audio2exp.iterations
    for p in C.PROFILES.values():
        assert p.nerf.refine_start <= p.nerf.iterations


def _field_docstrings(cls) -> dict[str, str]:
    """Attribute docstrings (a string literal right after the field) parsed from the source."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = nxt.value.value
    return docs


@pytest.mark.parametrize("cls", [C.MediaConfig, C.SynthConfig, C.FeatureConfig, C.AnalyserConfig, C.HyperplaneConfig,
                                 C.Audio2ExpConfig, C.NerfConfig, C.EvalConfig, C.Profile])
def test_every_field_has_a_docstring_citing_its_source(cls):
    docs = _field_docstrings(cls)
    for f in dataclasses.fields(cls):
        assert f.name in docs, f"{cls.__name__}.{f.name} has no docstring"
        doc = docs[f.name]
        assert "\n" not in doc.strip(), f"{cls.__name__}.{f.name}: docstring should be one line"
    if cls is not C.Profile:
        cited = [d for d in docs.values() if any(k in d for k in ("Sec.", "Table", "eq.", "ours", "Fig.", "instant-ngp", "DESIGN", "syncnet", "3DDFA", "scikit"))]
        assert len(cited) == len(docs), f"{cls.__name__}: every docstring must say where its value comes from"


def test_configs_are_frozen():
    p = C.load_profile("smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.audio2exp.d = 3  # type: ignore[misc]


@pytest.mark.parametrize("name", sorted(C.PROFILES))
def test_yaml_round_trip(tmp_path, name):
    p = C.load_profile(name, {"nerf.lambda_cord": 2e-3, "synth.levels": [1, 3]})
    path = C.save_config(p, tmp_path / "cfg.yaml")
    q = C.load_config(path)
    assert q == p
    assert isinstance(q.audio2exp.ffn_widths, tuple) and q.synth.levels == (1, 3)


def test_overrides_apply_and_coerce():
    p = C.load_profile("cpu", {"audio2exp.iterations": 7, "nerf.lr": 1, "seed": 5, "synth.levels": [2]})
    assert p.audio2exp.iterations == 7 and p.nerf.lr == 1.0 and isinstance(p.nerf.lr, float)
    assert p.seed == 5 and p.synth.levels == (2,)
    assert C.PROFILES["cpu"].audio2exp.iterations != 7, "profiles must not be mutated"


@pytest.mark.parametrize("overrides, message", [
    ({"audio2exp.iters": 1}, "iters"),
    ({"nope.d": 1}, "nope"),
    ({"audio2exp.d": "wide"}, "audio2exp.d"),
    ({"audio2exp.d": 1.5}, "audio2exp.d"),
    ({"hyperplanes.balance_mar": 1}, "hyperplanes.balance_mar"),
    ({"audio2exp.variant": "fancy"}, "audio2exp.variant"),
    ({"synth.levels": [1, "x"]}, "synth.levels[1]"),
    ({"a.b.c": 1}, "a.b.c"),
    ({"media": 3}, "media"),
])
def test_bad_overrides_name_the_field(overrides, message):
    with pytest.raises(C.ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        C.load_profile("smoke", overrides)


def test_unknown_profile():
    with pytest.raises(C.ConfigError, match="unknown profile 'fast'"):
        C.load_profile("fast")


def test_load_config_errors_name_the_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("audio2exp:\n  d: 512\n  widths: [1]\n")
    with pytest.raises(C.ConfigError, match=r"bad.yaml.*widths"):
        C.load_config(bad)
    bad.write_text("nerf:\n  iterations: many\n")
    with pytest.raises(C.ConfigError, match=r"nerf.iterations"):
        C.load_config(bad)
    bad.write_text("nerf: [unclosed\n")
    with pytest.raises(C.ConfigError, match="not valid YAML"):
        C.load_config(bad)
    with pytest.raises(C.ConfigError, match="not found"):
        C.load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("text, expected", [
    ("nerf.iterations=500", ("nerf.iterations", 500)),
    ("nerf.lambda_cord=1e-3", ("nerf.lambda_cord", 1e-3)),
    ("synth.levels=[1, 2]", ("synth.levels", [1, 2])),
    ("features.text_backend=llama", ("features.text_backend", "llama")),
])
def test_parse_override(text, expected):
    assert C.parse_override(text) == expected


@pytest.mark.parametrize("override, message", [
    ({"audio2exp.lr": -1e-3}, r"audio2exp.lr: must be > 0, got -0.001"),
    ({"nerf.lr": 0.0}, r"nerf.lr: must be > 0"),
    ({"nerf.iterations": 0}, r"nerf.iterations: must be > 0"),
    ({"audio2exp.batch_size": -4}, r"audio2exp.batch_size: must be > 0"),
    ({"synth.image_size": 0}, r"synth.image_size: must be > 0"),
    ({"audio2exp.rho": -0.5}, r"audio2exp.rho: must be >= 0"),
    ({"nerf.lambda_cord": float("inf")}, r"nerf.lambda_cord: inf is not a finite number"),
    ({"audio2exp.ffn_widths": [64, -1]}, r"audio2exp.ffn_widths: must be >= 0"),
])
def test_out_of_range_settings_are_refused_at_parse_time(override, message):
    with pytest.raises(C.ConfigError, match=message):
        C.load_profile("smoke", override)
    data = C.to_dict(C.load_profile("smoke"))
    stage, name = next(iter(override)).split(".")
    data[stage][name] = next(iter(override.values()))
    with pytest.raises(C.ConfigError, match="must be|finite"):           # a config file is checked the same way
        C.from_dict(data, source="my.yaml")


def test_every_named_profile_is_in_range():
    for name, profile in C.PROFILES.items():
        assert C.from_dict(C.to_dict(profile), source=name) == profile
