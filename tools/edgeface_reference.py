"""ReferenceEdgeFace: a plain PyTorch model that follows the original EdgeNeXt forward pass
(token layout, F.normalize, nn.LayerNorm ...) -- the "PyTorch float model" every conversion is
checked against. Built from read_checkpoint()'s description (edgeface_checkpoint.py).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from edgeface_checkpoint import (LN_EPS, ConvBlockSpec, EdgeFaceSpec, Linear,
                                 SplitTransposeSpec, _f32, fourier_positions)

# --------------------------------------------------------------------------------------------
# Reference model: the original forward pass, float32, weights as loaded (dequantized)
# --------------------------------------------------------------------------------------------

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
