"""The procedural face's 10-d expression space, made entangled like 3DDFA's (EmoHead Fig. 5).

Steps:
    1. Sample AU activations ``a`` ([M, K]) from the distribution the generator produces
       (:func:`sample_expression_aus`): emotion prototypes at levels 1-3 with per-actor styles,
       speech articulation (AU25/26/18/24 with realistic correlations), blinks, and mixes.
    2. PCA of the vertex displacements ``d = B a`` (B = au_basis as [3N, K]) done in AU space:
       with the metric G = B^T B and the AU covariance C, the eigenvectors of B C B^T are
       B G^-1/2 w_i where G^1/2 C G^1/2 w_i = lambda_i w_i. Keep the top 10: P = G^-1/2 W [K, 10].
    3. Whiten: P_w = P diag(sqrt(lambda)), so the coordinates alpha of the sampled faces have unit
       variance. 4. Mix by a fixed seeded random rotation Q (10 x 10 orthogonal):
       ``expression_to_au = P_w Q^T`` and ``expression_basis = au_basis @ expression_to_au``.
    Single alpha dims are then entangled with several emotions, as in the paper.
"""
from __future__ import annotations

import numpy as np

from emohead.data.emotions import MEAD_EMOTIONS
from emohead.face import emotion_aus as E
from emohead.face.facs import AU_NAMES
from emohead.face.morphable import N_EXPRESSION
def sample_expression_aus(n: int, au_names: tuple[str, ...] = AU_NAMES, seed: int = 0) -> np.ndarray:
    """AU activations [n, K] from the generator's distribution (emotion, speech, blinks, mixes).

    Mixture: 30 % emotion only (any MEAD emotion, level 1-3, random actor style), 20 % speech only,
    8 % blink only, 42 % emotion + speech (+ a blink with p = 0.2). Speech: AU25 ~ U(0, 1) with AU26
    correlated to it; rounded vowels add AU18; bilabials use AU24 with the jaw closed (no AU26).
    """
    names = list(au_names)
    k = {a: i for i, a in enumerate(names)}
    rng = np.random.default_rng([seed, 777])
    out = np.zeros((n, len(names)))
    kind = rng.choice(4, size=n, p=[0.30, 0.20, 0.08, 0.42])
    emos = list(MEAD_EMOTIONS)
    for i in range(n):
        a = np.zeros(len(names))
        if kind[i] in (0, 3):
            emo = emos[rng.integers(len(emos))]
            lvl = int(rng.integers(1, 4))
            style = E.actor_style(int(rng.integers(1 << 30)), names)
            a += E.emotion_au(emo, lvl, names, actor_style=style) * rng.uniform(0.85, 1.15)
        if kind[i] in (1, 3):
            u = rng.random()
            if u < 0.2:                                     # bilabial: lips pressed, jaw closed
                a[k["AU24"]] += rng.uniform(0.3, 1.0)
            else:
                open_ = rng.uniform(0.0, 1.0)
                a[k["AU25"]] += open_
                a[k["AU26"]] += np.clip(open_ * rng.uniform(0.3, 1.1) + rng.normal(0, 0.05), 0, 1.2)
                if u > 0.75:                                # rounded vowel
                    a[k["AU18"]] += rng.uniform(0.3, 1.0)
        if kind[i] == 2 or (kind[i] == 3 and rng.random() < 0.2):
            a[k["AU45"]] += rng.uniform(0.5, 1.0)
        out[i] = a
    return np.clip(out, 0.0, 1.6).astype(np.float32)


def expression_from_aus(au_basis: np.ndarray, samples: np.ndarray, seed: int = 0,
                        n_components: int = N_EXPRESSION) -> tuple[np.ndarray, np.ndarray]:
    """PCA (metric G = B^T B), whitening and a seeded rotation -> (expression_to_au [K, 10], eigvals [10]).

    samples: [M, K] AU activations. See the module docstring for the derivation.
    """
    n, _, k = au_basis.shape
    bm = au_basis.reshape(n * 3, k).astype(np.float64)
    g = bm.T @ bm                                              # [K, K]
    ev, evec = np.linalg.eigh(g)
    ev = np.clip(ev, 1e-12, None)
    g_half = (evec * np.sqrt(ev)) @ evec.T
    g_ihalf = (evec / np.sqrt(ev)) @ evec.T
    c = np.cov(samples.astype(np.float64), rowvar=False)       # [K, K] AU covariance
    lam, w = np.linalg.eigh(g_half @ c @ g_half)
    order = np.argsort(lam)[::-1][:n_components]
    lam, w = lam[order], w[:, order]
    w = w * np.sign(w[np.argmax(np.abs(w), axis=0), np.arange(n_components)])   # deterministic signs
    p_white = g_ihalf @ w * np.sqrt(lam)[None, :]              # [K, 10]: e_i sqrt(lambda_i) = B p_i
    rng = np.random.default_rng([seed, 1010])
    qm, rq = np.linalg.qr(rng.standard_normal((n_components, n_components)))
    qm = qm * np.sign(np.diag(rq))[None, :]                    # Haar-random orthogonal Q
    return (p_white @ qm.T).astype(np.float32), lam
