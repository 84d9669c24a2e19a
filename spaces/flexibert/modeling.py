"""FlexiBERT encoder (NAS-Bench-BERT models) for the current transformers API.

Written from the operator semantics in method-facts §7.2. One encoder layer = a token-mixing operator
(``layer.mixer``) followed by a feed-forward block (``layer.feed_forward``):

* SA-SDP  multi-head scaled dot-product self-attention -> SelfOutput (Linear, dropout, residual LayerNorm).
* SA-WMA  as SDP with an extra bias-free Linear(H, H) applied to the query projection.
* LT-DFT  Linear(H, H), heads split, real part of the 2-D FFT over (sequence, head_dim). No output Linear,
          residual or LayerNorm: its output replaces the hidden state.
* LT-DCT  the same with an unnormalised 2-D type-II DCT.
* DSC-k   ConvBERT-style mixed attention: max(1, heads // 2) attention heads of size H / heads, plus a
          span-based dynamic convolution of the same width (separable Conv1d on the keys, kernel generator
          Linear -> softmax over k taps, unfolded windows); both halves concatenated -> SelfOutput.
* FF      Linear(H, w1) + GELU, (num_feed_forward - 1) x [Linear + GELU] reusing the *same* GELU module, then
          Linear(w_last, H), dropout, residual LayerNorm. The GELU is the only activation module of a layer, so
          a forward hook on it fires num_feed_forward times per layer.

In the faithful build every operator honours ``attention_mask`` so that padded positions never change the
outputs at real positions; the reference build ignores the mask (as the published code did).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutput

from swaplm.errors import SwapError

from .configuration import FlexiBertConfig
from .spectral import spectral_mix


class FlexiBertDropout(nn.Dropout):
    """``nn.Dropout`` whose CPU keep-mask comes from 16 random bits per element (drop probability
    ``round(p * 65536) / 65536``, kept values scaled by ``1 / (1 - that)``): about 5x faster than
    ``bernoulli_`` on CPU, where train-mode dropout otherwise costs a fifth of a forward. Other devices use
    ``F.dropout``. Draws from torch's global RNG, so it is reproducible under ``torch.manual_seed``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu" or self.p >= 1 or not x.is_floating_point():
            return F.dropout(x, self.p, True, self.inplace)
        threshold = round(self.p * 65536)
        n = x.numel()
        bits = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-2**63, None).view(torch.int16)[:n]
        keep = (bits >= threshold - 32768).view(x.shape)
        return (x * (65536 / (65536 - threshold))).mul_(keep)


def _zero_padded(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero the padded positions of (B, L, C) ``x``; ``mask`` (B, L) bool, True for real tokens."""
    return x if mask is None else x * mask.unsqueeze(-1).to(x.dtype)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, dropout: nn.Module,
            mask: torch.Tensor | None) -> torch.Tensor:
    """Multi-head scaled dot-product attention on (B, L, heads*d) projections -> (B, L, heads, d)."""
    b, length, width = q.shape
    d = width // heads
    q, k, v = (t.view(b, length, heads, d).transpose(1, 2) for t in (q, k, v))
    scores = (q * (1 / math.sqrt(d))) @ k.transpose(-1, -2)
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)
    probs = dropout(scores.softmax(dim=-1))
    return (probs @ v).transpose(1, 2)


class FlexiBertEmbeddings(nn.Module):
    """Word + position + token-type embeddings (embedding_size wide), LayerNorm, dropout."""

    def __init__(self, config: FlexiBertConfig):
        super().__init__()
        e = config.embedding_size
        self.word_embeddings = nn.Embedding(config.vocab_size, e, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, e)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, e)
        self.LayerNorm = nn.LayerNorm(e, eps=config.layer_norm_eps)
        self.dropout = FlexiBertDropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        b, length = inputs_embeds.shape[:2]
        if length > self.position_embeddings.num_embeddings:
            raise SwapError(f"sequence length {length} exceeds max_position_embeddings "
                            f"{self.position_embeddings.num_embeddings}; truncate the inputs")
        if position_ids is None:
            position_ids = torch.arange(length, device=inputs_embeds.device).unsqueeze(0)
        if token_type_ids is None:
            token_type_ids = torch.zeros((b, length), dtype=torch.long, device=inputs_embeds.device)
        x = inputs_embeds + self.token_type_embeddings(token_type_ids) + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(x))


class FlexiBertSelfOutput(nn.Module):
    """Linear(H, H), dropout, LayerNorm(x + residual)."""

    def __init__(self, config: FlexiBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = FlexiBertDropout(config.hidden_dropout_prob)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class FlexiBertSelfAttention(nn.Module):
    """SA-SDP (``weighted=False``) or SA-WMA (``weighted=True``: bias-free Linear on the query)."""

    def __init__(self, config: FlexiBertConfig, heads: int, weighted: bool):
        super().__init__()
        h = config.hidden_size
        self.heads = heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)
        self.weight = nn.Linear(h, h, bias=False) if weighted else None
        self.dropout = FlexiBertDropout(config.attention_probs_dropout_prob)
        self.output = FlexiBertSelfOutput(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q = self.query(x)
        if self.weight is not None:
            q = self.weight(q)
        ctx = _attend(q, self.key(x), self.value(x), self.heads, self.dropout, mask)
        return self.output(ctx.reshape(x.shape), x)


class FlexiBertLinearTransform(nn.Module):
    """LT-DFT / LT-DCT: Linear(H, H), then the 2-D transform per head; no output Linear, residual or norm."""

    def __init__(self, config: FlexiBertConfig, heads: int, kind: str):
        super().__init__()
        self.heads, self.kind = heads, kind
        self.input = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return spectral_mix(self.input(x), self.kind, self.heads, mask)


class FlexiBertSeparableConv1d(nn.Module):
    """Depthwise Conv1d (k taps, 'same' padding, no bias) then pointwise Conv1d (with bias); (B, C, L) layout."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.depthwise = nn.Conv1d(in_channels, in_channels, kernel_size, padding=kernel_size // 2,
                                   groups=in_channels, bias=False)
        self.pointwise = nn.Conv1d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class FlexiBertDynamicConvAttention(nn.Module):
    """DSC-k: ConvBERT-style span-based dynamic convolution mixed with self-attention.

    ``heads = max(1, num_operation_heads // 2)`` attention heads of size ``d = H / num_operation_heads``;
    the convolution half has the same ``heads * d`` width. The conv kernel at each position is generated from
    (separable conv of the input) * query, softmaxed over the k taps, and applied to the k-window of a
    pointwise projection of the input. Attention and conv outputs are concatenated head-wise (width H).
    """

    def __init__(self, config: FlexiBertConfig, operation_heads: int, kernel_size: int):
        super().__init__()
        h = config.hidden_size
        self.heads = max(1, operation_heads // 2)
        self.head_size = h // operation_heads
        self.kernel_size = kernel_size
        width = self.heads * self.head_size
        if 2 * width != h:
            raise SwapError(f"DSC with {operation_heads} heads cannot fill hidden_size {h}")
        self.query = nn.Linear(h, width)
        self.key = nn.Linear(h, width)
        self.value = nn.Linear(h, width)
        self.key_conv = FlexiBertSeparableConv1d(h, width, kernel_size)
        self.kernel = nn.Linear(width, self.heads * kernel_size)
        self.conv_out = nn.Linear(h, width)
        self.dropout = FlexiBertDropout(config.attention_probs_dropout_prob)
        self.output = FlexiBertSelfOutput(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, length, _ = x.shape
        a, d, k = self.heads, self.head_size, self.kernel_size
        q = self.query(x)
        key_conv = self.key_conv(_zero_padded(x, mask).transpose(1, 2)).transpose(1, 2)
        taps = self.kernel(key_conv * q).view(b, length, a, k).softmax(dim=-1)
        values = _zero_padded(self.conv_out(x), mask)
        windows = F.pad(values, (0, 0, k // 2, k // 2)).unfold(1, k, 1)  # (B, L, a*d, k)
        conv = torch.einsum("blhdk,blhk->blhd", windows.unflatten(2, (a, d)), taps)
        ctx = _attend(q, self.key(x), self.value(x), a, self.dropout, mask)
        mixed = torch.cat([ctx, conv], dim=2).reshape(b, length, 2 * a * d)
        return self.output(mixed, x)


class FlexiBertFeedForward(nn.Module):
    """Stacked Linear+GELU layers (one shared GELU module), Linear back to H, dropout, residual LayerNorm."""

    def __init__(self, config: FlexiBertConfig, widths: list[int]):
        super().__init__()
        h = config.hidden_size
        self.dense_in = nn.Linear(h, widths[0])
        self.dense_hidden = nn.ModuleList(nn.Linear(i, o) for i, o in zip(widths[:-1], widths[1:]))
        self.act = ACT2FN[config.hidden_act]
        self.dense_out = nn.Linear(widths[-1], h)
        self.dropout = FlexiBertDropout(config.hidden_dropout_prob)
        self.LayerNorm = nn.LayerNorm(h, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.dense_in(x))
        for dense in self.dense_hidden:
            y = self.act(dense(y))
        return self.LayerNorm(self.dropout(self.dense_out(y)) + x)


def build_mixer(config: FlexiBertConfig, layer: dict) -> nn.Module:
    """The token-mixing operator of one layer dict."""
    op, param, heads = layer["operation_type"], layer["operation_parameter"], layer["num_operation_heads"]
    if op == "SA":
        return FlexiBertSelfAttention(config, heads, weighted=(param == "WMA"))
    if op == "LT":
        return FlexiBertLinearTransform(config, heads, kind=param.lower())
    return FlexiBertDynamicConvAttention(config, heads, int(param))


class FlexiBertLayer(nn.Module):
    def __init__(self, config: FlexiBertConfig, index: int):
        super().__init__()
        self.mixer = build_mixer(config, config.layers[index])
        self.feed_forward = FlexiBertFeedForward(config, config.feed_forward_widths(index))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.feed_forward(self.mixer(x, mask))


class FlexiBertEncoder(nn.Module):
    def __init__(self, config: FlexiBertConfig):
        super().__init__()
        self.layers = nn.ModuleList(FlexiBertLayer(config, i) for i in range(len(config.layers)))

    def forward(self, x, mask=None, output_hidden_states: bool = False):
        states = [x] if output_hidden_states else None
        for layer in self.layers:
            x = layer(x, mask)
            if states is not None:
                states.append(x)
        return x, (tuple(states) if states is not None else None)


class FlexiBertPreTrainedModel(PreTrainedModel):
    """HF plumbing: config class, weight init (Linear/Conv/Embedding N(0, 0.02^2), bias 0, pad row 0,
    LayerNorm 1/0 — the base-class ``_init_weights``), save/load."""

    config_class = FlexiBertConfig
    config: FlexiBertConfig
    base_model_prefix = "flexibert"
    main_input_name = "input_ids"
    _no_split_modules = ["FlexiBertLayer"]

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, FlexiBertSeparableConv1d):  # explicit: the conv bias starts at zero
            init.zeros_(module.pointwise.bias)


class FlexiBertModel(FlexiBertPreTrainedModel):
    """The bare FlexiBERT encoder; returns ``BaseModelOutput(last_hidden_state=(B, L, hidden_size))``."""

    def __init__(self, config: FlexiBertConfig):
        super().__init__(config)
        self.embeddings = FlexiBertEmbeddings(config)
        self.embeddings_project = (nn.Linear(config.embedding_size, config.hidden_size)
                                   if config.embedding_size != config.hidden_size else None)
        self.encoder = FlexiBertEncoder(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.word_embeddings = value

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, output_hidden_states: bool | None = None, return_dict: bool | None = None,
                **kwargs):
        if (input_ids is None) == (inputs_embeds is None):
            raise SwapError("pass exactly one of input_ids or inputs_embeds to FlexiBertModel")
        x = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        if self.embeddings_project is not None:
            x = self.embeddings_project(x)
        mask = None
        if self.config.apply_attention_mask and attention_mask is not None:
            mask = attention_mask.to(device=x.device).bool()
        if output_hidden_states is None:
            output_hidden_states = bool(self.config.output_hidden_states)
        x, states = self.encoder(x, mask, output_hidden_states)
        if return_dict is False:
            return (x,) + ((states,) if states is not None else ())
        return BaseModelOutput(last_hidden_state=x, hidden_states=states)


AutoConfig.register(FlexiBertConfig.model_type, FlexiBertConfig, exist_ok=True)
AutoModel.register(FlexiBertConfig, FlexiBertModel, exist_ok=True)

__all__ = ["FlexiBertModel", "FlexiBertPreTrainedModel", "build_mixer"]
