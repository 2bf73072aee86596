"""Loading the 3DDFA_V2 weights: only weights-only files, clear errors naming the file, width read off the file."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from emohead.tracking import models
from emohead.tracking.tddfa_net import TddfaNet, WeightsError, load_tddfa_net


class _Payload:
    """Unpickling this would create the marker file: the attack a weights-only loader must refuse."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_missing_file_names_it(tmp_path):
    with pytest.raises(models.ModelsMissingError, match="no_such_weights.pth"):
        load_tddfa_net(tmp_path / "no_such_weights.pth")


def test_not_a_checkpoint_names_it(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_text("not weights")
    with pytest.raises(WeightsError, match="junk.pth"):
        load_tddfa_net(junk)
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"module.fc.weight": torch.zeros(3, 3)}}, other)
    with pytest.raises(WeightsError, match="other.pth.*not a 3DDFA_V2"):
        load_tddfa_net(other)
    broken = tmp_path / "broken.pth"
    sd = TddfaNet(0.5).state_dict()
    sd.pop("dw6.bn_sep.running_var")
    torch.save({"state_dict": sd}, broken)
    with pytest.raises(WeightsError, match="(?s)broken.pth.*running_var"):
        load_tddfa_net(broken)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_pickle_payload_is_refused(tmp_path, writer):
    marker = tmp_path / "marker_created"
    path = tmp_path / "evil.pth"
    payload = {"state_dict": {"conv1.weight": _Payload(marker)}}
    if writer == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    assert not marker.exists()
    with pytest.raises(WeightsError, match="evil.pth.*weights-only"):
        load_tddfa_net(path)
    assert not marker.exists(), "the weights loader ran a pickle payload"


def test_width_is_read_off_the_state_dict(tmp_path):
    torch.manual_seed(0)
    net = TddfaNet(1.0).eval()
    path = tmp_path / "mb1_120x120.pth"
    torch.save({"epoch": 1, "state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)
    loaded = load_tddfa_net(path)
    assert loaded.width == 1.0 and loaded.conv1.out_channels == 32 and loaded.fc_param.in_features == 1024
    x = torch.randn(2, 3, 120, 120)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))


def test_released_mb05_loads(model_dir):
    net = load_tddfa_net(model_dir / models.TDDFA_WEIGHTS)
    assert net.width == 0.5 and net.conv1.out_channels == 16 and net.fc_lm is not None
    with torch.no_grad():
        out = net(torch.zeros(1, 3, 120, 120))
    assert out.shape == (1, 62) and np.isfinite(out.numpy()).all()
