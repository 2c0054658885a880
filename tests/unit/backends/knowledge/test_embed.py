"""The embedded embedder reads its weights and tokenizer from the wordllama wheel: no network."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from agenthost.backends.knowledge._embed import StaticEmbedder


def test_embeds_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the embedder tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    embedder = StaticEmbedder()
    vectors = embedder.embed_sync(["a small cat", "a little kitten", "stock market crash", ""])
    assert vectors.shape == (4, 256) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert not vectors[3].any()  # an empty text has no direction
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embedder.name == "local:wordllama-l2-supercat-256"
