"""OpenCVEdgeFace: an algebraically equivalent rewrite of EdgeFace that Debian's OpenCV 4.6 DNN
importer accepts (NCHW only, no LayerNormalization op, no broadcasts OpenCV gets wrong). See
../../shared/docs/edgeface-on-opencv-4.6.md for why each rewrite is needed. Built from
read_checkpoint()'s description (edgeface_checkpoint.py); checked against ReferenceEdgeFace
(edgeface_reference.py) by convert_edgeface.py.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from edgeface_checkpoint import (L2_EPS, LN_EPS, ConvBlockSpec, EdgeFaceSpec,
                                 Linear, SplitTransposeSpec, _bias_or_zero, _f32,
                                 fourier_positions, stage_sizes)

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
