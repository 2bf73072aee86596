"""Run one ``.tflite`` model with LiteRT (``ai_edge_litert``, no TensorFlow).

``LiteModel(path)(x)`` feeds one float32 input (its exact shape, e.g. [1, 128, 128, 3]) and returns the outputs
as float32 arrays keyed by tensor name, in the model's output order.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .models import ModelsMissingError


class LiteModel:
    """A LiteRT interpreter with its tensors allocated. ``input_shape``: the input's shape; ``output_names`` and
    ``output_shapes`` (name -> shape) of the outputs."""

    def __init__(self, path: str | os.PathLike, *, num_threads: int | None = None):
        path = Path(path)
        if not path.is_file():
            raise ModelsMissingError(f"model file {path} does not exist")
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._interp = Interpreter(model_path=str(path), num_threads=num_threads)
        except ValueError as exc:
            raise ValueError(f"{path} is not a readable .tflite model: {exc}") from exc
        self._interp.allocate_tensors()
        self.path = path
        (inp,) = self._interp.get_input_details()
        self._input_index = inp["index"]
        self.input_shape = tuple(int(s) for s in inp["shape"])
        details = self._interp.get_output_details()
        self._outputs = [(d["name"], d["index"]) for d in details]
        self.output_names = [name for name, _ in self._outputs]
        self.output_shapes = {d["name"]: tuple(int(s) for s in d["shape"]) for d in details}

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.shape != self.input_shape:
            raise ValueError(f"{self.path.name} expects input {self.input_shape}, got {x.shape}")
        self._interp.set_tensor(self._input_index, x)
        self._interp.invoke()
        return {name: np.array(self._interp.get_tensor(idx), dtype=np.float32) for name, idx in self._outputs}
