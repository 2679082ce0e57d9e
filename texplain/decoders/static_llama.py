"""A static-cache, slot-based decode step for Llama-family causal LMs (the prefix decoder's fast path).

Why not the model's own ``forward`` with a ``DynamicCache``: for TExplain's workload (one short soft prefix
per image, N = 1000 sentences of 20-30 words each) that path re-concatenates the whole key-value cache
at every step, copies the prefix's keys and values into every row, expands grouped-query heads, and
stops a batch only when its longest sentence ends. Here:

- the prefix's keys and values are computed once per image (one forward of k embeddings, batch 1) and
  only *copied* into a row's slot when a sentence starts (a few hundred kB per sentence, against ~25
  forward steps of compute per sentence);
- the cache is preallocated once, ``(layers, rows, kv_heads, width, head_dim)``, and written in place at
  each row's own position, so nothing is reallocated per step;
- every row ("slot") has its own position: a finished sentence frees its slot and the next sentence
  starts there on the next step (continuous batching, as in Orca, Yu et al. OSDI 2022, and vLLM), so the
  matrix multiplications stay as large as the batch;
- q/k/v and gate/up projections are concatenated into one matrix each (fewer, larger matmuls), and
  every weight is packed once into oneDNN's blocked layout (``PackedLinear``);
  grouped-query attention multiplies each key/value head with its group of query heads, no repeat,
  as one batch of 3-D matmuls over (row, key/value head);
- the weights can be cast once to bf16 (CPUs with AVX512-BF16 or AMX run bf16 matmuls faster); the
  residual stream, norms and softmaxes stay fp32, as transformers' Llama does under autocast.

Every row's attention runs over a fixed width (k + max_tokens), masked beyond the row's length, so a
row's arithmetic does not depend on which other rows share the batch (the sampler promises that an
image's sentences do not depend on the batching). The math follows transformers' ``LlamaForCausalLM``
(RMSNorm, rotary embeddings from the model's own ``rotary_emb``, SiLU-gated MLP) and is tested against it.

``StaticLlamaStepper`` wraps the prefix run and the slots as the ``SlotStepper`` (decoders/stepper.py) that
``PrefixLMDecoder.static_stepper`` offers the sampler, which never sees the model behind it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from texplain.decoders.stepper import SlotStepper


def supports_static_llama(model: torch.nn.Module) -> bool:
    """Whether ``model`` is a plain Llama-family causal LM that this decode step reproduces exactly."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "model_type", None) not in ("llama",):
        return False
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None or not hasattr(inner, "rotary_emb"):
        return False
    # Sliding windows, MLP biases or logit soft-capping would need more than the plain Llama math below.
    if getattr(config, "sliding_window", None) or getattr(config, "mlp_bias", False):
        return False
    return all(hasattr(layer, "self_attn") and hasattr(layer, "mlp") for layer in layers)


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # As LlamaRMSNorm: normalise in fp32, then scale by the weight.
    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


class PackedLinear:
    """``F.linear(x, weight, bias)`` with the weight reordered once into oneDNN's blocked layout (CPU only).

    Why: ``F.linear`` hands a plain row-major weight to the matmul library at every call, which then
    packs it again; on this machine the packed call is 5-10% faster in bf16 (the q/k/v projection, whose
    960 outputs are an awkward width, up to 1.9x) and 1.2-1.7x faster in fp32, where ``F.linear`` goes
    to a different library. bf16 results are bit-identical to ``F.linear``; fp32 results differ in the
    last bits (a different summation order), within the tests' tolerance against transformers. Either
    way a row's result does not depend on the other rows in the batch (checked in
    tests/test_static_llama.py), which the sampler's batching promise needs. Elsewhere (GPUs, builds
    without oneDNN, other dtypes) it is plain ``F.linear``.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None, rows_hint: int = 256):
        self.bias = bias
        self.packed = None
        if weight.device.type == "cpu" and weight.dtype in (torch.float32, torch.bfloat16) and torch.backends.mkldnn.is_available():
            try:
                self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), rows_hint)
            except (RuntimeError, AttributeError):  # an op missing from this build: stay on F.linear
                self.packed = None
        # The plain weight is kept only when nothing was packed: holding both would double the decoder's
        # weight memory (the callers always pass inputs of the weight's dtype and device).
        self.weight = None if self.packed is not None else weight

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed is not None:
            return torch.ops.mkldnn._linear_pointwise(x.contiguous(), self.packed, self.bias, "none", [], "")
        return F.linear(x, self.weight, self.bias)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class StaticLlamaWeights:
    """The frozen model's weights, rearranged once for decoding (fused projections, one dtype)."""

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype):
        config = model.config
        inner = model.model
        self.dtype = dtype
        self.num_heads = int(config.num_attention_heads)
        self.num_kv_heads = int(getattr(config, "num_key_value_heads", None) or self.num_heads)
        self.head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // self.num_heads)
        self.scaling = self.head_dim**-0.5
        # With a power-of-two scaling (head_dim 64, 256, ...) scaling the queries first rounds exactly as
        # scaling the scores after; otherwise the scores are scaled, as transformers does.
        self.exact_query_scaling = math.log2(self.scaling).is_integer()
        self.embed = inner.embed_tokens.weight  # (V, d), fp32: a lookup, no matmul
        self.final_norm = inner.norm.weight.float()
        self.final_eps = float(inner.norm.variance_epsilon)
        self.lm_head = PackedLinear(model.get_output_embeddings().weight.detach().to(dtype))  # (V, d)
        self.rotary = inner.rotary_emb
        self.layers = []
        for layer in inner.layers:
            attn, mlp = layer.self_attn, layer.mlp
            qkv = torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]).detach().to(dtype)  # ((H+2Hkv)*hd, d)
            biases = [p.bias for p in (attn.q_proj, attn.k_proj, attn.v_proj)]
            qkv_bias = torch.cat(biases).detach().to(dtype) if all(b is not None for b in biases) else None
            o_bias = None if attn.o_proj.bias is None else attn.o_proj.bias.detach().to(dtype)
            self.layers.append(
                {
                    "in_norm": layer.input_layernorm.weight.float(),
                    "in_eps": float(layer.input_layernorm.variance_epsilon),
                    "qkv": PackedLinear(qkv, qkv_bias),
                    "o": PackedLinear(attn.o_proj.weight.detach().to(dtype), o_bias),
                    "post_norm": layer.post_attention_layernorm.weight.float(),
                    "post_eps": float(layer.post_attention_layernorm.variance_epsilon),
                    "gate_up": PackedLinear(torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]).detach().to(dtype)),  # (2I, d)
                    "down": PackedLinear(mlp.down_proj.weight.detach().to(dtype)),  # (d, I)
                    "act": mlp.act_fn,
                }
            )


class StaticLlamaSlots:
    """``rows`` decoding slots over a preallocated cache of ``prefix_len + max_tokens`` positions each.

    Usage: ``start(rows, prefix_keys, prefix_values)`` puts a new sentence in those slots (its prefix copied
    in, length 0); ``step(token_ids)`` feeds one token to every slot and returns next-token logits (bf16 under bf16, else fp32);
    ``keep(rows)`` compacts the batch to the given slots (used when no sentences are left to refill).
    """

    def __init__(self, weights: StaticLlamaWeights, rows: int, prefix_len: int, max_tokens: int, device: torch.device):
        self.w = weights
        self.prefix_len = prefix_len
        self.width = prefix_len + max_tokens
        w = weights
        # Zeros, not empty: a masked position multiplies its (finite) value by 0; garbage could be NaN.
        shape = (len(w.layers), rows, w.num_kv_heads, self.width, w.head_dim)
        self.keys = torch.zeros(shape, dtype=w.dtype, device=device)  # (L, R, Hkv, W, hd)
        self.values = torch.zeros(shape, dtype=w.dtype, device=device)  # (L, R, Hkv, W, hd)
        self.lengths = torch.zeros(rows, dtype=torch.long, device=device)  # tokens fed after the prefix
        self.rows = rows
        positions = torch.arange(self.width, device=device)[None]  # (1, W)
        probe = torch.zeros(1, dtype=torch.float32, device=device)
        cos, sin = w.rotary(probe, positions)  # (1, W, hd) each
        self.cos, self.sin = cos[0].float(), sin[0].float()  # (W, hd)
        self.columns = torch.arange(self.width, device=device)  # (W,)

    @torch.inference_mode()
    def start(self, rows: torch.Tensor, prefix_keys: torch.Tensor, prefix_values: torch.Tensor) -> None:
        """Begin a sentence in ``rows`` (n,) with the prefix cache (L, n or 1, Hkv, k, hd)."""
        k = self.prefix_len
        self.keys[:, rows, :, :k] = prefix_keys.to(self.keys.dtype)
        self.values[:, rows, :, :k] = prefix_values.to(self.values.dtype)
        self.lengths[rows] = 0

    @torch.inference_mode()
    def keep(self, rows: torch.Tensor) -> torch.Tensor:
        """Keep only the slots ``rows`` (sorted); the batch shrinks to n = len(rows) slots.

        Live slots beyond n move into the free slots below n (only those rows are copied), and the cache
        becomes a view of its first n slots. Returns the old slot of each new slot (n,), so the caller
        can reorder its own per-slot state the same way."""
        n = len(rows)
        source = torch.arange(n, device=rows.device)
        free_below = torch.nonzero(~torch.isin(source, rows)).flatten()  # new homes
        movers = rows[rows >= n]  # live slots that must move down
        if len(movers):
            self.keys[:, free_below] = self.keys[:, movers]
            self.values[:, free_below] = self.values[:, movers]
            self.lengths[free_below] = self.lengths[movers]
            source[free_below] = movers
        self.keys = self.keys[:, :n]
        self.values = self.values[:, :n]
        self.lengths = self.lengths[:n]
        self.rows = n
        return source

    @torch.inference_mode()
    def step(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Feed token_ids (R,) at each slot's next position; logits (R, V) in fp32 for the token after it."""
        w = self.w
        rows = self.rows
        H, Hkv, hd = w.num_heads, w.num_kv_heads, w.head_dim
        group = H // Hkv
        slot = torch.arange(rows, device=token_ids.device)  # (R,)
        position = self.prefix_len + self.lengths  # (R,)
        cos, sin = self.cos[position][:, None], self.sin[position][:, None]  # (R, 1, hd)
        # A row sees its prefix and its own tokens up to and including this one; the rest of the width is
        # masked by adding -inf (adding 0 or -inf is exact, so this equals a masked_fill, in one op fewer).
        hidden = self.columns[None] > position[:, None]  # (R, W)
        additive_mask = torch.zeros(hidden.shape, dtype=self.keys.dtype, device=hidden.device).masked_fill_(hidden, float("-inf"))
        additive_mask = additive_mask[:, None, None]  # (R, 1, 1, W)
        x = F.embedding(token_ids, w.embed).float()  # (R, d)
        for index, layer in enumerate(w.layers):
            h = _rms_norm(x, layer["in_norm"], layer["in_eps"]).to(w.dtype)  # (R, d)
            qkv = layer["qkv"](h).float()  # (R, (H+2Hkv)*hd)
            # Rotary embeddings on queries and keys together (one set of ops for both).
            qk = qkv[:, : (H + Hkv) * hd].view(rows, H + Hkv, hd)
            qk = qk * cos + _rotate_half(qk) * sin  # (R, H+Hkv, hd)
            q, k = qk[:, :H], qk[:, H:]
            v = qkv[:, (H + Hkv) * hd :].view(rows, Hkv, hd)
            keys, values = self.keys[index], self.values[index]  # (R, Hkv, W, hd)
            keys[slot, :, position] = k.to(keys.dtype)
            values[slot, :, position] = v.to(values.dtype)
            if w.exact_query_scaling:
                q = q * w.scaling  # a power of two: exact, and on (R, H, hd) rather than on the (R, H, W) scores
            # Query heads grouped by their key/value head, and (row, kv head) pairs as one batch of 3-D
            # matmuls: torch.bmm on (R*Hkv, G, hd) @ (R*Hkv, hd, W) takes 0.99 ms a layer at 256 rows here,
            # against 1.74 ms for torch.matmul on the same tensors kept 4-D, with the same bits out.
            q = q.reshape(rows * Hkv, group, hd).to(keys.dtype)
            scores = torch.bmm(q, keys.view(rows * Hkv, self.width, hd).transpose(1, 2)).view(rows, Hkv, group, self.width)
            if not w.exact_query_scaling:
                scores = scores.float() * w.scaling
            scores = scores + additive_mask
            attention = torch.softmax(scores, dim=-1, dtype=torch.float32).to(values.dtype)  # (R, Hkv, G, W)
            context = torch.bmm(attention.view(rows * Hkv, group, self.width), values.view(rows * Hkv, self.width, hd))
            x = x + layer["o"](context.view(rows, H * hd).to(w.dtype)).float()  # (R, d)
            h = _rms_norm(x, layer["post_norm"], layer["post_eps"]).to(w.dtype)
            gate, up = layer["gate_up"](h).chunk(2, dim=-1)  # (R, I) each
            x = x + layer["down"](layer["act"](gate) * up).float()  # (R, d)
        self.lengths += 1
        h = _rms_norm(x, w.final_norm, w.final_eps).to(w.dtype)
        # bf16 logits stay bf16: the sampler's kernel reads them directly (a float32 copy of (R, V)
        # costs ~10 ms a step at 256 rows); other dtypes come back as float32.
        logits = w.lm_head(h)  # (R, V)
        return logits if logits.dtype == torch.bfloat16 else logits.float()


@torch.inference_mode()
def prefix_cache(model: torch.nn.Module, conditioning: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run the soft prefix (B, k, d) once: first-token logits (B, V) and its keys, values (L, B, Hkv, k, hd).

    The prefix goes through the model's own forward, so its keys and values are exactly what
    transformers would cache (rotary embeddings applied)."""
    out = model(inputs_embeds=conditioning.float(), use_cache=True)
    cache = out.past_key_values
    keys = torch.stack([layer.keys for layer in cache.layers])  # (L, B, Hkv, k, hd)
    values = torch.stack([layer.values for layer in cache.layers])  # (L, B, Hkv, k, hd)
    return out.logits[:, -1].float(), keys, values


class StaticLlamaStepper(SlotStepper):
    """The ``SlotStepper`` (decoders/stepper.py) of a Llama-family prefix decoder: ``prefix_cache`` once per
    image, then ``StaticLlamaSlots`` over a cache sized at prefill, when the prefix length is known."""

    def __init__(self, model: torch.nn.Module, weights: StaticLlamaWeights, rows: int, max_tokens: int, device: torch.device):
        self.model = model
        self.weights = weights
        self.max_tokens = max_tokens
        self.device = device
        self._rows = rows
        self._slots: StaticLlamaSlots | None = None
        self._prefix_keys: torch.Tensor | None = None
        self._prefix_values: torch.Tensor | None = None

    @property
    def rows(self) -> int:
        return self._slots.rows if self._slots is not None else self._rows

    def _ready(self) -> StaticLlamaSlots:
        if self._slots is None:
            raise RuntimeError("StaticLlamaStepper: call prefill(conditionings) before start, step or keep")
        return self._slots

    def prefill(self, conditionings: torch.Tensor) -> torch.Tensor:
        first_logits, self._prefix_keys, self._prefix_values = prefix_cache(self.model, conditionings)  # (B, V), (L, B, Hkv, k, hd)
        self._slots = StaticLlamaSlots(self.weights, self._rows, conditionings.shape[1], self.max_tokens, self.device)
        return first_logits

    def start(self, slots: torch.Tensor, images: torch.Tensor) -> None:
        self._ready().start(slots, self._prefix_keys[:, images], self._prefix_values[:, images])

    def step(self, token_ids: torch.Tensor) -> torch.Tensor:
        return self._ready().step(token_ids)

    def keep(self, slots: torch.Tensor) -> torch.Tensor:
        return self._ready().keep(slots)
