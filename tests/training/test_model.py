"""Unit tests of the GRU models: each loss term against a hand computation, weight sharing, initialisation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from index.corpus import BOS, EOS, PAD
from training.model import ModelConfig, MultimodalGRU, negative_log_probs

V, FDIM = 30, 6


def make(kind: str, **kw: object) -> MultimodalGRU:
    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, vocab_size=V, feature_dim=FDIM, embed_dim=8, hidden_dim=12, **kw)  # type: ignore[arg-type]
    model = MultimodalGRU(cfg, torch.arange(V, dtype=torch.float64) + 1)
    if model.image_fc is not None:  # positive weights so ReLU(W f) is not all zero
        torch.nn.init.uniform_(model.image_fc.weight, 0.0, 0.5)
    return model


def batch() -> tuple[torch.Tensor, ...]:
    sentences = [[5, 6, 7, 8], [9, 10], [11, 12, 13]]
    width = max(len(s) for s in sentences) + 1
    inputs = torch.full((3, width), PAD)
    targets = torch.full((3, width), PAD)
    for i, s in enumerate(sentences):
        inputs[i, 0] = BOS
        inputs[i, 1 : len(s) + 1] = torch.tensor(s)
        targets[i, : len(s)] = torch.tensor(s)
        targets[i, len(s)] = EOS
    lengths = torch.tensor([len(s) + 1 for s in sentences])
    features = torch.rand(3, FDIM)
    has_image = torch.tensor([True, False, True])
    return inputs, targets, lengths, features, has_image


def run_gru(model: MultimodalGRU, ids: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
    """One unpadded sentence through the GRU: outputs [T, H]."""
    out, _ = model.gru(model.embedding(ids).unsqueeze(0), None if h0 is None else h0.view(1, 1, -1))
    return out[0]


def manual_nll(
    model: MultimodalGRU, inputs, targets, lengths, features, has_image, image_h0: bool
) -> torch.Tensor:
    losses = []
    for i in range(len(lengths)):
        n = int(lengths[i])
        h0 = F.relu(model.image_fc(features[i])) if image_h0 and has_image[i] else None  # type: ignore[misc]
        z = model.fc(run_gru(model, inputs[i, :n], h0))
        logits = z @ model.output_weight.t() + model.out_bias
        losses.append(F.cross_entropy(logits, targets[i, :n], reduction="none"))
    return torch.cat(losses).mean()


@pytest.mark.parametrize("kind", ["text", "a", "a-noshare"])
def test_full_softmax_nll_matches_hand_computation(kind: str) -> None:
    model = make(kind)
    inputs, targets, lengths, features, has_image = batch()
    out = model(inputs, targets, lengths, features, has_image, full_softmax=True)
    expected = manual_nll(model, inputs, targets, lengths, features, has_image, image_h0=kind != "text")
    assert torch.allclose(out["nll"], expected, atol=1e-5)
    assert torch.allclose(out["loss"], expected, atol=1e-5)
    assert float(out["image"]) == 0.0


def test_model_a_image_sets_initial_state_and_text_only_sentences_start_at_zero() -> None:
    model = make("a")
    inputs, _, lengths, features, has_image = batch()
    _, out, _ = model.encode(inputs, features, has_image)
    h0 = F.relu(model.image_fc(features[0]))  # type: ignore[misc]
    assert torch.allclose(out[0, :5], run_gru(model, inputs[0, :5], h0), atol=1e-5)
    assert torch.allclose(out[1, :3], run_gru(model, inputs[1, :3], None), atol=1e-5)
    assert not torch.allclose(out[0, :5], run_gru(model, inputs[0, :5], None), atol=1e-3)


def test_model_b_term_is_distance_of_last_state_to_image_projection() -> None:
    model = make("b", image_loss_weight=0.7)
    inputs, targets, lengths, features, has_image = batch()
    out = model(inputs, targets, lengths, features, has_image, full_softmax=True)
    dists = []
    for i in (0, 2):  # sentences with an image; h0 = 0 in Model B
        n = int(lengths[i])
        last = run_gru(model, inputs[i, :n], None)[-1]
        dists.append(torch.linalg.vector_norm(last - F.relu(model.image_fc(features[i]))))  # type: ignore[misc]
    expected = torch.stack(dists).mean()
    assert float(expected.detach()) > 0.1
    assert torch.allclose(out["image"], expected, atol=1e-5)
    nll = manual_nll(model, inputs, targets, lengths, features, has_image, image_h0=False)
    assert torch.allclose(out["loss"], nll + 0.7 * expected, atol=1e-5)


def test_model_c_term_is_mean_word_distance_to_image_projection() -> None:
    model = make("c", image_loss_weight=0.3)
    inputs, targets, lengths, features, has_image = batch()
    out = model(inputs, targets, lengths, features, has_image, full_softmax=True)
    per_sentence = []
    for i in (0, 2):
        n = int(lengths[i])
        words = model.embedding(inputs[i, 1:n])  # the sentence's words, not <bos>
        target = F.relu(model.image_fc(features[i]))  # type: ignore[misc]
        per_sentence.append(torch.linalg.vector_norm(words - target, dim=1).mean())
    expected = torch.stack(per_sentence).mean()
    assert torch.allclose(out["image"], expected, atol=1e-5)
    nll = manual_nll(model, inputs, targets, lengths, features, has_image, image_h0=False)
    assert torch.allclose(out["loss"], nll + 0.3 * expected, atol=1e-5)


def test_image_terms_vanish_without_images() -> None:
    for kind in ("b", "c"):
        model = make(kind)
        inputs, targets, lengths, features, _ = batch()
        out = model(inputs, targets, lengths, features, torch.zeros(3, dtype=torch.bool), full_softmax=True)
        assert float(out["image"]) == 0.0


def test_sampled_softmax_matches_formula_and_removes_accidental_hits() -> None:
    model = make("a", num_negatives=50)
    inputs, targets, lengths, features, has_image = batch()
    gen = torch.Generator().manual_seed(3)
    out = model(inputs, targets, lengths, features, has_image, full_softmax=False, generator=gen)
    neg = torch.multinomial(model.neg_probs, 50, replacement=True, generator=torch.Generator().manual_seed(3))
    _, h, _ = model.encode(inputs, features, has_image)
    mask = torch.arange(inputs.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    z, y = model.fc(h[mask]), targets[mask]
    log_kq = torch.log(model.neg_probs * 50)
    w, b = model.output_weight, model.out_bias
    losses = []
    for j in range(len(y)):
        true = z[j] @ w[y[j]] + b[y[j]] - log_kq[y[j]]
        negs = [z[j] @ w[k] + b[k] - log_kq[k] for k in neg if k != y[j]]  # accidental hits dropped
        losses.append(-true + torch.logsumexp(torch.stack([true, *negs]), 0))
    assert bool((neg.unsqueeze(0) == y.unsqueeze(1)).any()), "the test needs at least one accidental hit"
    assert torch.allclose(out["nll"], torch.stack(losses).mean(), atol=1e-4)


def test_negative_distribution_is_log_frequency_without_pad_and_bos() -> None:
    counts = torch.tensor([0.0, 5, 100, 100, 1, 9, 999])
    q = negative_log_probs(counts)
    assert q[PAD] == 0 and q[BOS] == 0
    assert torch.allclose(q.sum(), torch.tensor(1.0))
    assert torch.allclose(q[6] / q[5], torch.log1p(torch.tensor(999.0)) / torch.log1p(torch.tensor(9.0)))


def test_softmax_choice_is_automatic_by_vocabulary_size() -> None:
    assert ModelConfig(kind="text", vocab_size=5000).use_full_softmax
    assert not ModelConfig(kind="text", vocab_size=50_000).use_full_softmax
    assert not ModelConfig(kind="text", vocab_size=10, softmax="sampled").use_full_softmax


def test_weight_sharing_uses_the_embedding_as_output_projection() -> None:
    model = make("a")
    assert model.out_weight is None
    assert model.output_weight is model.embedding.weight
    names = [n for n, _ in model.named_parameters()]
    assert "out_weight" not in names and names.count("embedding.weight") == 1
    noshare = make("a-noshare")
    assert noshare.out_weight is not None and noshare.output_weight is not noshare.embedding.weight


def test_shared_matrix_gets_gradient_from_both_uses() -> None:
    """grad(shared E) == grad(input embedding) + grad(output matrix) of an unshared twin, equal weights."""
    shared, twin = make("a"), make("a-noshare")
    state = {k: v for k, v in shared.state_dict().items()}
    state["out_weight"] = shared.embedding.weight.detach().clone()
    twin.load_state_dict(state)
    inputs, targets, lengths, features, has_image = batch()
    for m in (shared, twin):
        m(inputs, targets, lengths, features, has_image, full_softmax=True)["loss"].backward()
    g_in, g_out = twin.embedding.weight.grad, twin.out_weight.grad  # type: ignore[union-attr]
    assert g_in is not None and g_out is not None
    assert g_in.abs().sum() > 0 and g_out.abs().sum() > 0
    assert torch.allclose(shared.embedding.weight.grad, g_in + g_out, atol=1e-6)  # type: ignore[arg-type]
    # <eos> is only ever a target: its row's gradient comes from the output use alone, and it is there.
    assert shared.embedding.weight.grad[EOS].abs().sum() > 0  # type: ignore[index]
    assert g_in[EOS].abs().sum() == 0


def test_gru_gate_biases_start_at_one_and_embeddings_are_small() -> None:
    model = make("text")
    h = model.config.hidden_dim
    assert torch.all(model.gru.bias_ih_l0[: 2 * h] == 1.0)
    assert torch.all(model.gru.bias_ih_l0[2 * h :] == 0.0) and torch.all(model.gru.bias_hh_l0 == 0.0)
    assert 0.05 < float(model.embedding.weight.detach().std()) < 0.2


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown model kind"):
        ModelConfig(kind="d")
    with pytest.raises(ValueError, match="needs image features"):
        MultimodalGRU(ModelConfig(kind="a", vocab_size=V, feature_dim=0))


def test_shared_matrix_gradient_with_sampled_softmax_matches_unshared_twin() -> None:
    """The single gather of the shared path gives the same gradient as separate input and output matrices."""
    shared, twin = make("a", num_negatives=20), make("a-noshare", num_negatives=20)
    state = {k: v for k, v in shared.state_dict().items()}
    state["out_weight"] = shared.embedding.weight.detach().clone()
    twin.load_state_dict(state)
    inputs, targets, lengths, features, has_image = batch()
    losses = []
    for m in (shared, twin):
        gen = torch.Generator().manual_seed(5)
        out = m(inputs, targets, lengths, features, has_image, full_softmax=False, generator=gen)
        out["loss"].backward()
        losses.append(out["loss"])
    assert torch.allclose(losses[0], losses[1], atol=1e-6)
    g_in, g_out = twin.embedding.weight.grad, twin.out_weight.grad  # type: ignore[union-attr]
    assert g_in is not None and g_out is not None and g_out.abs().sum() > 0
    assert torch.allclose(shared.embedding.weight.grad, g_in + g_out, atol=1e-6)  # type: ignore[arg-type]
