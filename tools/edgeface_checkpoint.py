"""EdgeFace checkpoints: read_checkpoint() turns an EdgeFace state dict (float, dynamically
quantized qint8, or low-rank "gamma" variants) into an architecture description (EdgeFaceSpec)
plus float64 weights, derived from tensor shapes so that variants other than XXS/XS need no code
change; also the input-independent pieces both model definitions share (stage sizes, Fourier
positions).

Written from the published architecture description (timm edgenext.py, EdgeFace timmfr.py).
The models built from it: edgeface_reference.py (the original forward pass) and
edgeface_opencv.py (the rewrite OpenCV 4.6 imports).
"""

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn

LN_EPS = 1e-6          # every LayerNorm in EdgeNeXt uses eps=1e-6
L2_EPS = 1e-12         # F.normalize default
POS_TEMPERATURE = 10000.0  # PositionalEncodingFourier default; not stored in checkpoints


class CheckpointError(Exception):
    """The file is not an EdgeFace checkpoint this tool understands."""


# --------------------------------------------------------------------------------------------
# Checkpoint parsing
# --------------------------------------------------------------------------------------------

@dataclass
class Linear:
    """A Linear layer as a chain of factors y = W_n(...(W_1 x + b_1)...) + b_n.

    Low-rank EdgeFace variants store two chained Linears (linear1 without bias, linear2);
    keeping the chain lets the reference model stay faithful and lets the rewrite decide
    whether composing them is cheaper.
    """
    factors: List[Tuple[torch.Tensor, Optional[torch.Tensor]]]  # float64 (W [out,in], b [out])

    @property
    def in_features(self) -> int:
        return self.factors[0][0].shape[1]

    @property
    def out_features(self) -> int:
        return self.factors[-1][0].shape[0]

    def composed(self) -> Tuple[torch.Tensor, torch.Tensor]:
        w = self.factors[0][0]
        b = _bias_or_zero(self.factors[0])
        for fw, fb in self.factors[1:]:
            b = fw @ b + (fb if fb is not None else 0.0)
            w = fw @ w
        return w, b


def _bias_or_zero(factor):
    w, b = factor
    return b if b is not None else torch.zeros(w.shape[0], dtype=torch.float64)


@dataclass
class ConvBlockSpec:
    dim: int
    kernel: int


@dataclass
class SplitTransposeSpec:
    dim: int
    split_sizes: List[int]   # torch.chunk sizes; all but the last go through a depthwise conv
    conv_kernel: int
    heads: int
    pos_hidden: int          # 0: no positional encoding


@dataclass
class StageSpec:
    in_dim: int
    dim: int
    downsample: bool
    blocks: list = field(default_factory=list)


@dataclass
class EdgeFaceSpec:
    in_chans: int
    stem_kernel: int
    stem_stride: int
    stem_padding: int
    stages: List[StageSpec]
    embedding_size: int

    def describe(self) -> str:
        dims = "/".join(str(s.dim) for s in self.stages)
        depths = "/".join(str(len(s.blocks)) for s in self.stages)
        kinds = []
        for s in self.stages:
            for b in s.blocks:
                if isinstance(b, SplitTransposeSpec):
                    kinds.append(f"STB(splits={len(b.split_sizes)},heads={b.heads},"
                                 f"pos={'y' if b.pos_hidden else 'n'})")
        ks = "/".join(str(next((b.kernel for b in s.blocks if isinstance(b, ConvBlockSpec)), 0))
                      for s in self.stages)
        return f"dims {dims}, depths {depths}, kernels {ks}, {' '.join(kinds)}, out {self.embedding_size}"


# Keys that dynamically quantized Linear modules carry but that do not affect the float math:
# the output scale/zero point are unused by dynamic quantization, dtype is implied by the tensor.
_IGNORABLE_SUFFIXES = (".scale", ".zero_point", "._packed_params.dtype")


def _unwrap_state_dict(obj) -> Dict[str, object]:
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise CheckpointError(f"expected a state dict, got {type(obj).__name__}")
    for wrapper in ("state_dict", "model_state_dict", "model"):
        inner = obj.get(wrapper)
        if isinstance(inner, dict) and inner and all(isinstance(k, str) for k in inner):
            if any(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    sd = dict(obj)
    # EdgeFace wraps timm's EdgeNeXt as `self.model`; DataParallel adds `module.`.
    for prefix in ("module.", "model."):
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


class _Reader:
    """Pulls tensors out of a state dict, remembering which keys were consumed."""

    def __init__(self, sd: Dict[str, object]):
        self.sd = sd
        self.used = set()

    def has(self, key: str) -> bool:
        return key in self.sd

    def tensor(self, key: str) -> torch.Tensor:
        if key not in self.sd:
            raise CheckpointError(f"missing key '{key}'")
        v = self.sd[key]
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"key '{key}' is a {type(v).__name__}, expected a tensor")
        self.used.add(key)
        if v.is_quantized:
            v = v.dequantize()
        return v.detach().to(torch.float64)

    def opt_tensor(self, key: str) -> Optional[torch.Tensor]:
        return self.tensor(key) if key in self.sd else None

    def linear(self, base: str) -> Linear:
        if self.has(base + ".weight"):
            w = self.tensor(base + ".weight")
            b = self.opt_tensor(base + ".bias")
            if w.dim() != 2:
                raise CheckpointError(f"'{base}.weight' has shape {tuple(w.shape)}, expected 2-D")
            return Linear([(w, b)])
        packed_key = base + "._packed_params._packed_params"
        if self.has(packed_key):
            packed = self.sd[packed_key]
            # torch saves a dynamically quantized Linear's packed params as (qweight, bias);
            # reading them directly avoids needing a quantized engine to unpack them.
            if not (isinstance(packed, (tuple, list)) and len(packed) == 2
                    and isinstance(packed[0], torch.Tensor)):
                raise CheckpointError(
                    f"'{packed_key}' is not a (weight, bias) pair (got {type(packed).__name__}); "
                    "this torch version stores packed params differently")
            self.used.add(packed_key)
            qw, qb = packed
            w = (qw.dequantize() if qw.is_quantized else qw).detach().to(torch.float64)
            b = None if qb is None else qb.detach().to(torch.float64)
            return Linear([(w, b)])
        if self.has(base + ".linear1.weight") or self.has(base + ".linear1._packed_params._packed_params"):
            first = self.linear(base + ".linear1")
            second = self.linear(base + ".linear2")
            if first.out_features != second.in_features:
                raise CheckpointError(f"low-rank factors of '{base}' do not chain")
            return Linear(first.factors + second.factors)
        raise CheckpointError(f"no weights for Linear layer '{base}' (looked for .weight, "
                              "._packed_params._packed_params and .linear1/.linear2)")

    def unused(self) -> List[str]:
        return sorted(k for k in self.sd
                      if k not in self.used and not k.endswith(_IGNORABLE_SUFFIXES))


def _indices(sd, prefix: str) -> List[int]:
    out = set()
    for k in sd:
        if k.startswith(prefix):
            head = k[len(prefix):].split(".", 1)[0]
            if head.isdigit():
                out.add(int(head))
    idx = sorted(out)
    if idx != list(range(len(idx))):
        raise CheckpointError(f"non-contiguous indices under '{prefix}': {idx}")
    return idx


def chunk_sizes(dim: int, chunks: int) -> List[int]:
    """Sizes torch.chunk(dim, chunks) produces (it may return fewer chunks than asked)."""
    step = -(-dim // chunks)
    sizes = []
    left = dim
    while left > 0:
        sizes.append(min(step, left))
        left -= step
    return sizes


def read_checkpoint(path: str):
    """Returns (spec, weights) with weights a dict of float64 tensors and Linear objects."""
    try:
        obj = torch.load(path, map_location="cpu")
    except FileNotFoundError:
        raise
    except Exception as e:  # pickle errors, truncated files, ...
        raise CheckpointError(f"cannot load '{path}' with torch.load: {e}") from e
    sd = _unwrap_state_dict(obj)
    r = _Reader(sd)
    W: Dict[str, object] = {}

    if not r.has("stem.0.weight"):
        sample = ", ".join(list(sd)[:5])
        raise CheckpointError(f"no 'stem.0.weight' (after stripping 'model.'); keys start with: {sample}")
    stem_w = r.tensor("stem.0.weight")
    if stem_w.dim() != 4 or stem_w.shape[2] != stem_w.shape[3]:
        raise CheckpointError(f"unexpected stem weight shape {tuple(stem_w.shape)}")
    W["stem.0.weight"] = stem_w
    W["stem.0.bias"] = _opt_bias(r, "stem.0.bias", stem_w.shape[0])
    W["stem.1.weight"] = r.tensor("stem.1.weight")
    W["stem.1.bias"] = r.tensor("stem.1.bias")
    stem_k = stem_w.shape[2]
    # timm: 'patch' stem is a 4x4 stride-4 conv; 'overlap' stem a 9x9 stride-4 conv padded k//2.
    stem_pad = 0 if stem_k == 4 else stem_k // 2

    stages = []
    dim = stem_w.shape[0]
    for si in _indices(sd, "stages."):
        sp = f"stages.{si}."
        in_dim = dim
        downsample = r.has(sp + "downsample.1.weight")
        if downsample:
            W[sp + "downsample.0.weight"] = r.tensor(sp + "downsample.0.weight")
            W[sp + "downsample.0.bias"] = r.tensor(sp + "downsample.0.bias")
            dw = r.tensor(sp + "downsample.1.weight")
            if tuple(dw.shape[1:]) != (in_dim, 2, 2):
                raise CheckpointError(f"unexpected downsample weight shape {tuple(dw.shape)} in stage {si}")
            W[sp + "downsample.1.weight"] = dw
            W[sp + "downsample.1.bias"] = _opt_bias(r, sp + "downsample.1.bias", dw.shape[0])
            dim = dw.shape[0]
        if downsample != (si > 0):
            # timm's downsample_block variant (edgenext_small_rw) strides inside the first
            # block instead; silently treating it as stride 1 would give a wrong model.
            raise CheckpointError(f"stage {si} {'has' if downsample else 'lacks'} a downsample "
                                  "layer; only the standard EdgeNeXt layout is supported")
        stage = StageSpec(in_dim=in_dim, dim=dim, downsample=downsample)
        for bi in _indices(sd, sp + "blocks."):
            bp = f"{sp}blocks.{bi}."
            if r.has(bp + "conv_dw.weight"):
                stage.blocks.append(_read_conv_block(r, W, bp, dim))
            elif r.has(bp + "xca.temperature"):
                stage.blocks.append(_read_split_transpose(r, W, bp, dim))
            else:
                raise CheckpointError(f"block '{bp[:-1]}' is neither a conv block (conv_dw) "
                                      "nor a split-transpose block (xca)")
        if not stage.blocks:
            raise CheckpointError(f"stage {si} has no blocks")
        stages.append(stage)
    if not stages:
        raise CheckpointError("no 'stages.N' keys")

    W["head.norm.weight"] = r.tensor("head.norm.weight")
    W["head.norm.bias"] = r.tensor("head.norm.bias")
    head_fc = r.linear("head.fc")
    if head_fc.in_features != dim:
        raise CheckpointError(f"head.fc expects {head_fc.in_features} inputs, backbone gives {dim}")
    W["head.fc"] = head_fc

    left = r.unused()
    if left:
        raise CheckpointError(f"unknown keys (unsupported architecture variant?): {left[:8]}"
                              + (" ..." if len(left) > 8 else ""))

    spec = EdgeFaceSpec(in_chans=stem_w.shape[1], stem_kernel=stem_k, stem_stride=4,
                        stem_padding=stem_pad, stages=stages,
                        embedding_size=head_fc.out_features)
    return spec, W


def _opt_bias(r: _Reader, key: str, n: int) -> torch.Tensor:
    b = r.opt_tensor(key)
    return b if b is not None else torch.zeros(n, dtype=torch.float64)


def _read_mlp(r: _Reader, W, bp: str, dim: int, norm: str, gamma: str):
    W[bp + norm + ".weight"] = r.tensor(bp + norm + ".weight")
    W[bp + norm + ".bias"] = r.tensor(bp + norm + ".bias")
    fc1 = r.linear(bp + "mlp.fc1")
    fc2 = r.linear(bp + "mlp.fc2")
    if fc1.in_features != dim or fc2.out_features != dim or fc1.out_features != fc2.in_features:
        raise CheckpointError(f"MLP shapes of '{bp[:-1]}' do not fit dim {dim}")
    W[bp + "mlp.fc1"] = fc1
    W[bp + "mlp.fc2"] = fc2
    g = r.opt_tensor(bp + gamma)  # layer scale is optional in timm (ls_init_value=0)
    W[bp + gamma] = g if g is not None else torch.ones(dim, dtype=torch.float64)


def _read_conv_block(r: _Reader, W, bp: str, dim: int) -> ConvBlockSpec:
    w = r.tensor(bp + "conv_dw.weight")
    if w.shape[0] != dim or w.shape[1] != 1 or w.shape[2] != w.shape[3] or w.shape[2] % 2 == 0:
        raise CheckpointError(f"'{bp}conv_dw.weight' has shape {tuple(w.shape)}; expected a "
                              f"stride-1 depthwise conv on {dim} channels with an odd kernel")
    W[bp + "conv_dw.weight"] = w
    W[bp + "conv_dw.bias"] = _opt_bias(r, bp + "conv_dw.bias", dim)
    _read_mlp(r, W, bp, dim, "norm", "gamma")
    return ConvBlockSpec(dim=dim, kernel=w.shape[2])


def _read_split_transpose(r: _Reader, W, bp: str, dim: int) -> SplitTransposeSpec:
    n_convs = len(_indices(r.sd, bp + "convs."))
    sizes = chunk_sizes(dim, n_convs + 1)
    if len(sizes) != n_convs + 1:
        raise CheckpointError(f"'{bp[:-1]}': {dim} channels cannot be chunked into {n_convs + 1}")
    kernel = None
    for ci in range(n_convs):
        w = r.tensor(f"{bp}convs.{ci}.weight")
        if w.shape[0] != sizes[ci] or w.shape[1] != 1 or w.shape[2] != w.shape[3] or w.shape[2] % 2 == 0:
            raise CheckpointError(f"'{bp}convs.{ci}.weight' has shape {tuple(w.shape)}, "
                                  f"expected a depthwise conv on {sizes[ci]} channels")
        if kernel is not None and w.shape[2] != kernel:
            raise CheckpointError(f"'{bp[:-1]}': split convs with different kernels")
        kernel = w.shape[2]
        W[f"{bp}convs.{ci}.weight"] = w
        W[f"{bp}convs.{ci}.bias"] = _opt_bias(r, f"{bp}convs.{ci}.bias", sizes[ci])
    pos_hidden = 0
    if r.has(bp + "pos_embd.token_projection.weight"):
        pw = r.tensor(bp + "pos_embd.token_projection.weight")
        if pw.shape[0] != dim or pw.shape[1] % 2 or tuple(pw.shape[2:]) != (1, 1):
            raise CheckpointError(f"unexpected positional projection shape {tuple(pw.shape)}")
        W[bp + "pos_embd.token_projection.weight"] = pw
        W[bp + "pos_embd.token_projection.bias"] = _opt_bias(
            r, bp + "pos_embd.token_projection.bias", dim)
        pos_hidden = pw.shape[1] // 2
    temp = r.tensor(bp + "xca.temperature")
    heads = temp.shape[0]
    if temp.numel() != heads or dim % heads:
        raise CheckpointError(f"'{bp}xca.temperature' shape {tuple(temp.shape)} does not fit dim {dim}")
    W[bp + "xca.temperature"] = temp.reshape(heads)
    W[bp + "norm_xca.weight"] = r.tensor(bp + "norm_xca.weight")
    W[bp + "norm_xca.bias"] = r.tensor(bp + "norm_xca.bias")
    qkv = r.linear(bp + "xca.qkv")
    proj = r.linear(bp + "xca.proj")
    if qkv.in_features != dim or qkv.out_features != 3 * dim or proj.in_features != dim \
            or proj.out_features != dim:
        raise CheckpointError(f"attention shapes of '{bp[:-1]}' do not fit dim {dim}")
    W[bp + "xca.qkv"] = qkv
    W[bp + "xca.proj"] = proj
    g = r.opt_tensor(bp + "gamma_xca")
    W[bp + "gamma_xca"] = g if g is not None else torch.ones(dim, dtype=torch.float64)
    _read_mlp(r, W, bp, dim, "norm", "gamma")
    return SplitTransposeSpec(dim=dim, split_sizes=sizes, conv_kernel=kernel or 3, heads=heads,
                              pos_hidden=pos_hidden)


def stage_sizes(spec: EdgeFaceSpec, size: int) -> List[int]:
    """Feature-map side at each stage for a square input of `size` pixels."""
    s = (size + 2 * spec.stem_padding - spec.stem_kernel) // spec.stem_stride + 1
    out = []
    for st in spec.stages:
        if st.downsample:
            s = (s - 2) // 2 + 1
        out.append(s)
    return out


def fourier_positions(hidden: int, h: int, w: int, dtype=torch.float64) -> torch.Tensor:
    """The input-independent part of EdgeNeXt's PositionalEncodingFourier: [1, 2*hidden, h, w]."""
    ones = torch.ones(1, h, w, dtype=dtype)
    y = ones.cumsum(1)
    x = ones.cumsum(2)
    eps = 1e-6
    y = y / (y[:, -1:, :] + eps) * (2 * math.pi)
    x = x / (x[:, :, -1:] + eps) * (2 * math.pi)
    dim_t = torch.arange(hidden, dtype=dtype)
    dim_t = POS_TEMPERATURE ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / hidden)
    px = x[..., None] / dim_t
    py = y[..., None] / dim_t
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=4).flatten(3)
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=4).flatten(3)
    return torch.cat((py, px), dim=3).permute(0, 3, 1, 2)


def _f32(t: torch.Tensor) -> torch.Tensor:
    """float64 weights as the float32 the models hold."""
    return t.to(torch.float32)
