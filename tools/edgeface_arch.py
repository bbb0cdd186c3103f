"""EdgeFace (EdgeNeXt backbone + 512-d head) model definitions for convert_edgeface.py.

Three things live here:
  * read_checkpoint(): turns an EdgeFace state dict (float, dynamically quantized qint8, or
    low-rank "gamma" variants) into an architecture description plus float64 weights, derived
    from tensor shapes so that variants other than XXS/XS need no code change;
  * ReferenceEdgeFace: a plain PyTorch model that follows the original EdgeNeXt forward pass
    (token layout, F.normalize, nn.LayerNorm ...) -- the "PyTorch float model";
  * OpenCVEdgeFace: an algebraically equivalent rewrite that Debian's OpenCV 4.6 DNN importer
    accepts (NCHW only, no LayerNormalization op, no broadcasts OpenCV gets wrong). See
    ../../shared/docs/edgeface-on-opencv-4.6.md for why each rewrite is needed.

Written from the published architecture description (timm edgenext.py, EdgeFace timmfr.py).
"""

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

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


# --------------------------------------------------------------------------------------------
# Reference model: the original forward pass, float32, weights as loaded (dequantized)
# --------------------------------------------------------------------------------------------

def _f32(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float32)


class _RefLinear(nn.Module):
    def __init__(self, lin: Linear):
        super().__init__()
        self.layers = nn.ModuleList()
        for w, b in lin.factors:
            m = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
            m.weight.data = _f32(w)
            if b is not None:
                m.bias.data = _f32(b)
            self.layers.append(m)

    def forward(self, x):
        for m in self.layers:
            x = m(x)
        return x


def _ref_ln(x, W, name):
    """LayerNorm over the last (channel) axis."""
    return F.layer_norm(x, (x.shape[-1],), W[name + ".weight"], W[name + ".bias"], LN_EPS)


def _ref_ln2d(x, W, name):
    return _ref_ln(x.permute(0, 2, 3, 1), W, name).permute(0, 3, 1, 2)


class _RefMlpTail(nn.Module):
    """norm -> fc1 -> GELU -> fc2 -> layer scale, channels-last, as in timm."""

    def __init__(self, W32, W, bp):
        super().__init__()
        self.bp = bp
        self.fc1 = _RefLinear(W[bp + "mlp.fc1"])
        self.fc2 = _RefLinear(W[bp + "mlp.fc2"])
        self.W = W32

    def forward(self, x):  # x: [B, H, W, C]
        x = _ref_ln(x, self.W, self.bp + "norm")
        x = self.fc2(F.gelu(self.fc1(x)))
        return self.W[self.bp + "gamma"] * x


class _RefConvBlock(nn.Module):
    def __init__(self, spec: ConvBlockSpec, W32, W, bp):
        super().__init__()
        self.spec, self.bp, self.W = spec, bp, W32
        self.tail = _RefMlpTail(W32, W, bp)

    def forward(self, x):
        shortcut = x
        x = F.conv2d(x, self.W[self.bp + "conv_dw.weight"], self.W[self.bp + "conv_dw.bias"],
                     padding=self.spec.kernel // 2, groups=self.spec.dim)
        x = self.tail(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return shortcut + x


class _RefSplitTranspose(nn.Module):
    def __init__(self, spec: SplitTransposeSpec, W32, W, bp):
        super().__init__()
        self.spec, self.bp, self.W = spec, bp, W32
        self.qkv = _RefLinear(W[bp + "xca.qkv"])
        self.proj = _RefLinear(W[bp + "xca.proj"])
        self.tail = _RefMlpTail(W32, W, bp)

    def _pos(self, h, w):
        # Computed per call in float32 like the original module, from the input shape.
        p = fourier_positions(self.spec.pos_hidden, h, w, dtype=torch.float32)
        return F.conv2d(p, self.W[self.bp + "pos_embd.token_projection.weight"],
                        self.W[self.bp + "pos_embd.token_projection.bias"])

    def forward(self, x):
        s, W, bp = self.spec, self.W, self.bp
        shortcut = x
        parts = x.chunk(len(s.split_sizes), dim=1)
        outs = []
        sp = None
        for i in range(len(s.split_sizes) - 1):
            sp = parts[i] if i == 0 else sp + parts[i]
            sp = F.conv2d(sp, W[f"{bp}convs.{i}.weight"], W[f"{bp}convs.{i}.bias"],
                          padding=s.conv_kernel // 2, groups=s.split_sizes[i])
            outs.append(sp)
        outs.append(parts[-1])
        x = torch.cat(outs, 1)

        B, C, H, Wd = x.shape
        x = x.reshape(B, C, H * Wd).permute(0, 2, 1)
        if s.pos_hidden:
            x = x + self._pos(H, Wd).reshape(1, -1, H * Wd).permute(0, 2, 1)
        x = x + W[bp + "gamma_xca"] * self._xca(_ref_ln(x, W, bp + "norm_xca"))
        x = x.reshape(B, H, Wd, C)
        x = self.tail(x).permute(0, 3, 1, 2)
        return shortcut + x

    def _xca(self, x):
        B, N, C = x.shape
        h = self.spec.heads
        qkv = self.qkv(x).reshape(B, N, 3, h, C // h).permute(2, 0, 3, 4, 1)
        q, k, v = qkv.unbind(0)
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        attn = attn * self.W[self.bp + "xca.temperature"].reshape(h, 1, 1)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).permute(0, 3, 1, 2).reshape(B, N, C)
        return self.proj(x)


class ReferenceEdgeFace(nn.Module):
    """The original EdgeFace forward pass in float32 (B,N,C token layout inside attention)."""

    def __init__(self, spec: EdgeFaceSpec, W):
        super().__init__()
        self.spec = spec
        # Plain tensors (not Linear objects) as float32, shared by the sub-modules.
        self.W = {k: _f32(v) for k, v in W.items() if isinstance(v, torch.Tensor)}
        self.blocks = nn.ModuleList()
        for si, st in enumerate(spec.stages):
            mods = nn.ModuleList()
            for bi, b in enumerate(st.blocks):
                bp = f"stages.{si}.blocks.{bi}."
                if isinstance(b, ConvBlockSpec):
                    mods.append(_RefConvBlock(b, self.W, W, bp))
                else:
                    mods.append(_RefSplitTranspose(b, self.W, W, bp))
            self.blocks.append(mods)
        self.head_fc = _RefLinear(W["head.fc"])

    @torch.no_grad()
    def forward(self, x):
        W, s = self.W, self.spec
        x = F.conv2d(x, W["stem.0.weight"], W["stem.0.bias"], stride=s.stem_stride,
                     padding=s.stem_padding)
        x = _ref_ln2d(x, W, "stem.1")
        for si, st in enumerate(s.stages):
            if st.downsample:
                sp = f"stages.{si}.downsample."
                x = _ref_ln2d(x, W, sp + "0")
                x = F.conv2d(x, W[sp + "1.weight"], W[sp + "1.bias"], stride=2)
            for blk in self.blocks[si]:
                x = blk(x)
        x = F.adaptive_avg_pool2d(x, 1)
        x = _ref_ln2d(x, W, "head.norm").flatten(1)
        return self.head_fc(x)


# --------------------------------------------------------------------------------------------
# OpenCV-friendly rewrite. Every fold is done in float64 and stored as float32.
# --------------------------------------------------------------------------------------------

INV_SQRT2 = 1.0 / math.sqrt(2.0)


class _ChannelNorm(nn.Module):
    """LayerNorm over channels without affine, in NCHW with equal-shape element-wise ops only.

    OpenCV 4.6 has no LayerNormalization op and aborts on [1,C,H,W] op [1,1,H,W] broadcasts,
    so channel statistics are taken by a 1x1 conv C->1 (weight 1/C) and spread back to C
    channels by a 1x1 conv 1->C (weight 1, exact copy). That costs 2*C*H*W multiply-adds
    where a CxC averaging conv costs C*C*H*W, and keeps the file small. eps rides in the
    variance conv's bias, and the square root is taken on the single channel.
    With `centered_input` the caller has already folded the centering into its own conv
    (valid when that conv's raw output is used nowhere else).
    """

    def __init__(self, dim: int, centered_input: bool = False):
        super().__init__()
        self.centered_input = centered_input
        self.register_buffer("avg_w", torch.full((1, dim, 1, 1), 1.0 / dim))
        self.register_buffer("eps_b", torch.full((1,), LN_EPS))
        self.register_buffer("spread_w", torch.ones(dim, 1, 1, 1))

    def forward(self, x):
        if self.centered_input:
            xc = x
        else:
            xc = x - F.conv2d(F.conv2d(x, self.avg_w), self.spread_w)
        std = torch.sqrt(F.conv2d(xc * xc, self.avg_w, self.eps_b))
        return xc / F.conv2d(std, self.spread_w)


def center_conv_output(w: torch.Tensor, b: torch.Tensor):
    """Fold `y - mean_c(y)` into the conv producing y (float64)."""
    return w - w.mean(dim=0, keepdim=True), b - b.mean()


class _Pointwise(nn.Module):
    """A Linear as a chain of 1x1 convs (one, or two for a low-rank layer)."""

    def __init__(self, factors):
        super().__init__()
        self.n = len(factors)
        for i, (w, b) in enumerate(factors):
            self.register_buffer(f"w{i}", _f32(w)[:, :, None, None].contiguous())
            self.register_buffer(f"b{i}", _f32(b).contiguous())

    def forward(self, x):
        for i in range(self.n):
            x = F.conv2d(x, getattr(self, f"w{i}"), getattr(self, f"b{i}"))
        return x


def fold_linear(lin: Linear, in_scale=None, in_shift=None, out_scale=None,
                keep_low_rank: bool = True):
    """Factors of  out_scale * lin(in_scale * x + in_shift)  in float64.

    in_scale/in_shift fold a preceding LayerNorm affine (exact: a 1x1 conv has no padding);
    out_scale folds layer scale and GELU constants. A low-rank chain stays factored when that
    is cheaper than the composed matrix.
    """
    factors = [(w.clone(), _bias_or_zero((w, b)).clone()) for w, b in lin.factors]
    cost = sum(w.numel() for w, _ in factors)
    if len(factors) > 1 and (not keep_low_rank or cost >= lin.in_features * lin.out_features):
        factors = [lin.composed()]
    w0, b0 = factors[0]
    if in_shift is not None:
        b0 = b0 + w0 @ in_shift
    if in_scale is not None:
        w0 = w0 * in_scale[None, :]
    factors[0] = (w0, b0)
    if out_scale is not None:
        wl, bl = factors[-1]
        factors[-1] = (wl * out_scale[:, None], bl * out_scale)
    return factors


class _RwMlpTail(nn.Module):
    """LayerNorm -> fc1 -> GELU -> fc2 -> layer scale, as 1x1 convs.

    GELU(x) = x/2 (1 + erf(x/sqrt2)); with u = x/sqrt2 folded into fc1 and the remaining
    1/sqrt2 folded into fc2's input, the graph only needs u * (1 + erf(u)).
    """

    def __init__(self, W, bp, dim, keep_low_rank):
        super().__init__()
        fc1, fc2 = W[bp + "mlp.fc1"], W[bp + "mlp.fc2"]
        self.norm = _ChannelNorm(dim)
        self.fc1 = _Pointwise(fold_linear(
            fc1, W[bp + "norm.weight"], W[bp + "norm.bias"],
            out_scale=torch.full((fc1.out_features,), INV_SQRT2, dtype=torch.float64),
            keep_low_rank=keep_low_rank))
        self.fc2 = _Pointwise(fold_linear(
            fc2, in_scale=torch.full((fc2.in_features,), INV_SQRT2, dtype=torch.float64),
            out_scale=W[bp + "gamma"], keep_low_rank=keep_low_rank))

    def forward(self, x):
        u = self.fc1(self.norm(x))
        return self.fc2(u * (1.0 + torch.erf(u)))


def crop_same_kernel(w: torch.Tensor, hw: int) -> torch.Tensor:
    """Drop kernel taps of a 'same'-padded conv that can only ever see zero padding.

    On an hw x hw map no output is more than hw-1 pixels from an input, so a kernel wider than
    2*hw-1 (EdgeNeXt's 9x9 on the final 3x3 map) has an all-padding rim: removing it and
    shrinking the padding to match is exact and saves most of that conv's work.
    """
    k = w.shape[-1]
    keep = min(k, 2 * hw - 1)
    cut = (k - keep) // 2
    return w[..., cut:cut + keep, cut:cut + keep]


class _RwConvBlock(nn.Module):
    def __init__(self, spec: ConvBlockSpec, W, bp, hw: int, keep_low_rank):
        super().__init__()
        self.dim = spec.dim
        w = crop_same_kernel(W[bp + "conv_dw.weight"], hw)
        self.pad = w.shape[-1] // 2
        self.register_buffer("dw_w", _f32(w).contiguous())
        self.register_buffer("dw_b", _f32(W[bp + "conv_dw.bias"]))
        self.tail = _RwMlpTail(W, bp, spec.dim, keep_low_rank)

    def forward(self, x):
        y = F.conv2d(x, self.dw_w, self.dw_b, padding=self.pad, groups=self.dim)
        return x + self.tail(y)


class _RwSplitTranspose(nn.Module):
    def __init__(self, spec: SplitTransposeSpec, W, bp, hw: int, keep_low_rank):
        super().__init__()
        self.spec = spec
        self.hw = hw
        C, h = spec.dim, spec.heads
        for i in range(len(spec.split_sizes) - 1):
            self.register_buffer(f"cw{i}", _f32(W[f"{bp}convs.{i}.weight"]))
            self.register_buffer(f"cb{i}", _f32(W[f"{bp}convs.{i}.bias"]))
        if spec.pos_hidden:
            # Independent of the input: precompute once for the fixed feature-map size.
            p = fourier_positions(spec.pos_hidden, hw, hw)
            p = F.conv2d(p, W[bp + "pos_embd.token_projection.weight"],
                         W[bp + "pos_embd.token_projection.bias"])
            self.register_buffer("pos", _f32(p).contiguous())
        self.norm_xca = _ChannelNorm(C)
        g, be = W[bp + "norm_xca.weight"], W[bp + "norm_xca.bias"]
        wqkv, bqkv = W[bp + "xca.qkv"].composed()
        # The q/k/v split happens on the weights, so the graph has three plain convs
        # (rows 0:C, C:2C, 2C:3C; within each, channel = head*dh + d as in the original).
        for j, name in enumerate("qkv"):
            part = Linear([(wqkv[j * C:(j + 1) * C], bqkv[j * C:(j + 1) * C])])
            self.add_module(name, _Pointwise(fold_linear(part, g, be)))
        # F.normalize over tokens as t / sqrt(mean(t^2) * N + eps^2): GlobalAveragePool keeps
        # the result [1,C,1,1], a broadcast OpenCV handles.
        self.register_buffer("temp", _f32(W[bp + "xca.temperature"].repeat_interleave(C // h))
                             .reshape(1, C, 1, 1).contiguous())
        self.proj = _Pointwise(fold_linear(W[bp + "xca.proj"], out_scale=W[bp + "gamma_xca"],
                                           keep_low_rank=keep_low_rank))
        self.tail = _RwMlpTail(W, bp, C, keep_low_rank)

    def _l2n(self, t):
        ms = F.adaptive_avg_pool2d(t * t, 1)
        return t / torch.sqrt(ms * float(self.hw * self.hw) + L2_EPS * L2_EPS)

    def forward(self, x):
        s = self.spec
        shortcut = x
        outs, start, sp = [], 0, None
        for i, n in enumerate(s.split_sizes):
            part = x[:, start:start + n]
            start += n
            if i == len(s.split_sizes) - 1:
                outs.append(part)
                break
            sp = part if i == 0 else sp + part
            sp = F.conv2d(sp, getattr(self, f"cw{i}"), getattr(self, f"cb{i}"),
                          padding=s.conv_kernel // 2, groups=n)
            outs.append(sp)
        x = torch.cat(outs, 1)
        if s.pos_hidden:
            x = x + self.pos

        C, h, n = s.dim, s.heads, self.hw * self.hw
        # The exported graph has a fixed batch of 1 (a traced batch size would add Shape ops);
        # training runs it eagerly on batches.
        b = 1 if torch.jit.is_tracing() else x.shape[0]
        y = self.norm_xca(x)
        q = (self._l2n(self.q(y)) * self.temp).reshape(b, h, C // h, n)
        k = self._l2n(self.k(y)).reshape(b, h, C // h, n)
        v = self.v(y).reshape(b, h, C // h, n)
        attn = torch.softmax(torch.matmul(q, k.transpose(2, 3)), dim=-1)
        a = torch.matmul(attn, v).reshape(b, C, self.hw, self.hw)
        x = x + self.proj(a)
        return shortcut + self.tail(x)


class OpenCVEdgeFace(nn.Module):
    """Same function as ReferenceEdgeFace for a fixed 1x3xSxS input, in ops OpenCV 4.6 runs."""

    def __init__(self, spec: EdgeFaceSpec, W, input_size: int = 112, keep_low_rank: bool = True):
        super().__init__()
        self.spec = spec
        self.input_size = input_size
        sizes = stage_sizes(spec, input_size)
        if min(sizes) < 1:
            raise ValueError(f"input {input_size} is too small for {len(spec.stages)} stages")

        # The stem's raw conv output only feeds its LayerNorm, so centering folds into it;
        # the LN output feeds a padded conv and a residual, so its affine stays explicit.
        sw, sb = center_conv_output(W["stem.0.weight"], W["stem.0.bias"])
        self.register_buffer("stem_w", _f32(sw).contiguous())
        self.register_buffer("stem_b", _f32(sb).contiguous())
        c0 = sw.shape[0]
        self.stem_norm = _ChannelNorm(c0, centered_input=True)
        self.register_buffer("stem_g", _f32(W["stem.1.weight"]).reshape(1, c0, 1, 1).contiguous())
        self.register_buffer("stem_be", _f32(W["stem.1.bias"]).reshape(1, c0, 1, 1).contiguous())

        self.stages = nn.ModuleList()
        for si, (st, hw) in enumerate(zip(spec.stages, sizes)):
            mods = nn.ModuleDict()
            if st.downsample:
                sp = f"stages.{si}.downsample."
                g, be = W[sp + "0.weight"], W[sp + "0.bias"]
                dw, db = W[sp + "1.weight"], W[sp + "1.bias"]
                # LN affine folds into the unpadded 2x2 conv.
                db = db + (dw * be[None, :, None, None]).sum(dim=(1, 2, 3))
                dw = dw * g[None, :, None, None]
                mods["ds_norm"] = _ChannelNorm(st.in_dim)
                mods["ds_conv"] = _ConvHolder(dw, db, stride=2)
            blocks = nn.ModuleList()
            for bi, b in enumerate(st.blocks):
                bp = f"stages.{si}.blocks.{bi}."
                if isinstance(b, ConvBlockSpec):
                    blocks.append(_RwConvBlock(b, W, bp, hw, keep_low_rank))
                else:
                    blocks.append(_RwSplitTranspose(b, W, bp, hw, keep_low_rank))
            mods["blocks"] = blocks
            self.stages.append(mods)

        cl = spec.stages[-1].dim
        self.head_norm = _ChannelNorm(cl)
        self.head_fc = _Pointwise(fold_linear(W["head.fc"], W["head.norm.weight"],
                                              W["head.norm.bias"], keep_low_rank=keep_low_rank))

    def forward(self, x):
        s = self.spec
        x = F.conv2d(x, self.stem_w, self.stem_b, stride=s.stem_stride, padding=s.stem_padding)
        x = self.stem_norm(x) * self.stem_g + self.stem_be
        for mods in self.stages:
            if "ds_norm" in mods:
                x = mods["ds_conv"](mods["ds_norm"](x))
            for blk in mods["blocks"]:
                x = blk(x)
        x = F.adaptive_avg_pool2d(x, 1)
        x = self.head_fc(self.head_norm(x))
        return torch.flatten(x, 1)


class _ConvHolder(nn.Module):
    def __init__(self, w, b, stride):
        super().__init__()
        self.stride = stride
        self.register_buffer("w", _f32(w).contiguous())
        self.register_buffer("b", _f32(b).contiguous())

    def forward(self, x):
        return F.conv2d(x, self.w, self.b, stride=self.stride)
