"""The caption loss of a frozen Llama-family LM, computed with no padding and no work nobody uses
(the prefix decoder's fast training path: the translator stage is most of a default run's time; benchmarks/bench_training.py).

Training the translator (paper, Section 3: LM cross-entropy on captions given the translator's output)
through transformers' own forward does work that the loss never reads:

- padding: a batch is right-padded to its longest caption, and every padded position goes through every
  layer (captions of 20-30 words are 25-40 tokens, so about a fifth of the rows are padding);
- logits at every position: the LM head (49152 x 576 for SmolLM2, a fifth of the model's FLOPs) runs at
  the prefix positions and at the padding too, and the (B, L, V) logits are then copied to fp32 whole;
- the frozen weights are re-cast to bf16 by autocast at every call (autocast caches casts only for
  weights that require grad, and the LM's do not).

Here the k prefix embeddings and caption embeddings of every caption are packed into one (N, d) stream
(N = the sum of the real lengths): the projections and the MLP run on the packed rows only, attention
runs per caption (the packed rows scattered into a (B, H, n_max, hd) grid, causal, right-padded, so a
real query never sees a padded key), and the final norm, LM head and cross-entropy run only on the rows
that predict a caption token. Weights are cast once per dtype and kept; the residual stream, norms and
softmaxes stay fp32, as transformers' Llama under autocast, and attention (queries, keys, values, scores,
probabilities, context) runs in fp32 whatever the compute dtype: the translator learns only through the
gradient reaching the prefix, which arrives through the caption tokens' attention to the prefix keys and
values, and in bf16 that gradient is mostly rounding. Measured on SmolLM2-135M, 16 world captions, an
untrained mlp_bn prefix, against the fp32 gradient: cosine -0.14 with bf16 attention (norm 2.3x), 0.98
with fp32 attention (transformers' padded forward under bf16 autocast: 0.83); trained 5 epochs, bf16
attention ended at validation loss 1.73 against 1.44 in fp32 (docs/measurements.md). Attention is ~1.5% of the FLOPs
at these lengths, so fp32 costs little there. The loss is the same quantity as
``FrozenDecoder.caption_loss`` (mean token cross-entropy over caption tokens and EOS), equal within
float rounding (tests/test_fast_caption_loss.py); gradients reach the conditioning (the translator)
through the activations only, since no weight requires grad.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from texplain.caption_token_weights import weighted_token_mean
from texplain.decoders.static_llama import _rms_norm, _rotate_half, supports_static_llama


class LlamaTrainingWeights:
    """The frozen model's weights in one compute dtype, fused (q/k/v, gate/up), for the training forward.

    Plain tensors without grad: autograd then computes input gradients only (``grad_x = grad_y @ W``)."""

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype):
        config = model.config
        inner = model.model
        self.dtype = dtype
        self.num_heads = int(config.num_attention_heads)
        self.num_kv_heads = int(getattr(config, "num_key_value_heads", None) or self.num_heads)
        self.head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // self.num_heads)
        self.embed = inner.embed_tokens.weight  # (V, d): a lookup, kept in the model's dtype
        self.final_norm = inner.norm.weight.detach().float()
        self.final_eps = float(inner.norm.variance_epsilon)
        self.lm_head = model.get_output_embeddings().weight.detach().to(dtype)  # (V, d)
        self.rotary = inner.rotary_emb

        def cast(*weights):
            return torch.cat([w.detach() for w in weights]).to(dtype).contiguous()

        def bias(*modules):
            biases = [m.bias for m in modules]
            return None if any(b is None for b in biases) else cast(*biases)

        self.layers = []
        for layer in inner.layers:
            attn, mlp = layer.self_attn, layer.mlp
            self.layers.append(
                {
                    "in_norm": layer.input_layernorm.weight.detach().float(),
                    "in_eps": float(layer.input_layernorm.variance_epsilon),
                    "qkv": cast(attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight),  # ((H+2Hkv)*hd, d)
                    "qkv_bias": bias(attn.q_proj, attn.k_proj, attn.v_proj),
                    "o": cast(attn.o_proj.weight),  # (d, H*hd)
                    "o_bias": None if attn.o_proj.bias is None else cast(attn.o_proj.bias),
                    "post_norm": layer.post_attention_layernorm.weight.detach().float(),
                    "post_eps": float(layer.post_attention_layernorm.variance_epsilon),
                    "gate_up": cast(mlp.gate_proj.weight, mlp.up_proj.weight),  # (2I, d)
                    "down": cast(mlp.down_proj.weight),  # (d, I)
                    "act": mlp.act_fn,
                }
            )


def supports_fast_caption_loss(model: torch.nn.Module) -> bool:
    """The same plain-Llama test as the sampler's static path (no sliding window, no MLP bias)."""
    return supports_static_llama(model)


def _to_grid(packed: torch.Tensor, grid_index: torch.Tensor, batch: int, n_max: int) -> torch.Tensor:
    """Packed rows (N, heads, hd) into their cells of a zero (B, heads, n_max, hd) grid."""
    heads, hd = packed.shape[1], packed.shape[2]
    grid = packed.new_zeros(batch * n_max, heads, hd).index_copy(0, grid_index, packed)
    return grid.view(batch, n_max, heads, hd).transpose(1, 2)


def packed_caption_loss(
    weights: LlamaTrainingWeights, conditioning: torch.Tensor, caption_ids: list[list[int]], token_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean token cross-entropy of each caption's ids (caption tokens then EOS) given its conditioning.

    conditioning: (B, k, d), the translator's output (gradients flow back into it); caption_ids: B lists;
    token_weights: (V,) a weight per target id (texplain/caption_token_weights.py), None: the plain mean."""
    w = weights
    device = conditioning.device
    batch, k, d = conditioning.shape
    if len(caption_ids) != batch:
        raise ValueError(f"{batch} conditionings but {len(caption_ids)} captions")
    H, Hkv, hd = w.num_heads, w.num_kv_heads, w.head_dim
    lengths = [k + len(ids) - 1 for ids in caption_ids]  # tokens fed per caption: prefix + all but the last target
    n_max = max(lengths)
    # Inputs: each caption's prefix then the embeddings of its tokens but the last, packed back to back.
    fed = torch.tensor([t for ids in caption_ids for t in ids[:-1]], dtype=torch.long, device=device)
    token_embeddings = F.embedding(fed, w.embed).float()  # (sum(L-1), d)
    pieces, offset = [], 0
    for b, ids in enumerate(caption_ids):
        pieces.append(conditioning[b].float())  # (k, d)
        pieces.append(token_embeddings[offset : offset + len(ids) - 1])
        offset += len(ids) - 1
    x = torch.cat(pieces)  # (N, d), the fp32 residual stream
    # Where each packed row sits in the (B, n_max) grid, its position, and the rows that predict a target.
    grid_index = torch.cat([b * n_max + torch.arange(n, device=device) for b, n in enumerate(lengths)])  # (N,)
    positions = torch.cat([torch.arange(n, device=device) for n in lengths])  # (N,)
    starts = torch.tensor([0] + lengths[:-1], device=device).cumsum(0)  # (B,)
    predicting = torch.cat([starts[b] + k - 1 + torch.arange(len(ids), device=device) for b, ids in enumerate(caption_ids)])  # (M,)
    targets = torch.tensor([t for ids in caption_ids for t in ids], dtype=torch.long, device=device)  # (M,)

    cos, sin = w.rotary(x[:1], torch.arange(n_max, device=device)[None])  # (1, n_max, hd) each
    cos, sin = cos[0].float()[positions][:, None], sin[0].float()[positions][:, None]  # (N, 1, hd)
    rows = x.shape[0]
    scaling = hd**-0.5
    causal = torch.full((n_max, n_max), float("-inf"), device=device).triu(1)  # (n, n): a row sees itself and before
    with torch.autocast(device.type, enabled=False):  # every cast below is explicit
        for layer in w.layers:
            h = _rms_norm(x, layer["in_norm"], layer["in_eps"]).to(w.dtype)  # (N, d)
            qkv = F.linear(h, layer["qkv"], layer["qkv_bias"]).float()  # (N, (H+2Hkv)*hd)
            qk = qkv[:, : (H + Hkv) * hd].view(rows, H + Hkv, hd)
            qk = qk * cos + _rotate_half(qk) * sin  # rotary on queries and keys together
            q, key = qk[:, :H], qk[:, H:]  # (N, H, hd), (N, Hkv, hd), fp32 (see the module docstring)
            value = qkv[:, (H + Hkv) * hd :].view(rows, Hkv, hd)
            # Per-caption causal attention on the grid; unused grid cells are zeros and, right of every real
            # row, never attended to by one.
            grid_q = _to_grid(q, grid_index, batch, n_max).view(batch, Hkv, H // Hkv, n_max, hd)  # (B, Hkv, G, n, hd)
            grid_k = _to_grid(key, grid_index, batch, n_max)[:, :, None]  # (B, Hkv, 1, n, hd)
            grid_v = _to_grid(value, grid_index, batch, n_max)[:, :, None]
            # Plain matmuls and a softmax, not scaled_dot_product_attention: at these lengths (n ~ 40) its CPU
            # flash kernel's backward is 3-5x slower (measured in bf16 here). Grouped-query heads broadcast
            # against their key/value head, no copies.
            scores = torch.matmul(grid_q, grid_k.transpose(-1, -2)) * scaling + causal  # (B, Hkv, G, n, n)
            attention = torch.softmax(scores, dim=-1)
            context = torch.matmul(attention, grid_v).view(batch, H, n_max, hd)  # (B, H, n, hd)
            context = context.transpose(1, 2).reshape(batch * n_max, H * hd)[grid_index].to(w.dtype)  # (N, H*hd)
            x = x + F.linear(context, layer["o"], layer["o_bias"]).float()
            h = _rms_norm(x, layer["post_norm"], layer["post_eps"]).to(w.dtype)
            gate, up = F.linear(h, layer["gate_up"]).chunk(2, dim=-1)  # (N, I) each
            x = x + F.linear(layer["act"](gate) * up, layer["down"]).float()
        # Only the rows that predict a caption token reach the final norm, the LM head and the loss.
        h = _rms_norm(x[predicting], w.final_norm, w.final_eps).to(w.dtype)  # (M, d)
        logits = F.linear(h, w.lm_head)  # (M, V)
        return weighted_token_mean(F.cross_entropy(logits.float(), targets, reduction="none"), targets, token_weights)
