"""DSR network and EdgeFace low-rank adapter, shared by train_dsr.py and convert_edgeface.py.

DSR: a residual over a bicubic upscale made outside the graph (cv::resize INTER_CUBIC in C++,
cv2.resize in training, so both see the same input). The bicubic 112x112 face is taken to a
28x28 latent by a learned 4x4 stride-4 conv (a learnable space-to-depth), refined by 3x3 convs
with PReLU, and brought back to 112x112 by a 4x4 stride-4 ConvTranspose whose weights start at
zero, so an untrained DSR is exactly bicubic. Every op is one OpenCV 4.6 runs fast (no
PixelShuffle, no resize in the graph), and the output is 112x112 whatever the input size:
112/24 and 112/32 need no special case because the resampling is the bicubic step.

Values: BGR, (pixel - 127.5) / 127.5 in and out (OpenCV blobFromImage order, no channel swap).

Adapter: LoRA updates (W + B A, B starts at zero) of the 1x1 convs (the Linear layers) of the
OpenCV-ready EdgeFace rewrite. Because the update is a plain matrix added to a folded weight, it
folds exactly into the exported graph: the adapted model costs nothing extra at run time.
"""
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

LATENT_STRIDE = 4
OUT_SIZE = 112


class DSR(nn.Module):
    def __init__(self, channels: int = 40, layers: int = 6):
        super().__init__()
        self.channels, self.layers = channels, layers
        self.inp = nn.Conv2d(3, channels, LATENT_STRIDE, stride=LATENT_STRIDE)
        body = []
        for _ in range(layers):
            body += [nn.Conv2d(channels, channels, 3, padding=1), nn.PReLU(channels, 0.1)]
        self.body = nn.Sequential(*body)
        self.out = nn.ConvTranspose2d(channels, 3, LATENT_STRIDE, stride=LATENT_STRIDE)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x):  # x: bicubic 112x112, normalised BGR
        z = self.inp(x)
        z = z + self.body(z)
        return x + self.out(z)

    def config(self) -> Dict[str, int]:
        return {"channels": self.channels, "layers": self.layers}


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def dsr_macs(channels: int, layers: int) -> int:
    """Multiply-adds of one forward pass at 112x112 (convs only)."""
    lat = (OUT_SIZE // LATENT_STRIDE) ** 2
    k = LATENT_STRIDE * LATENT_STRIDE * 3
    return lat * (k * channels + layers * channels * channels * 9 + channels * k)


# --------------------------------------------------------------------------------------------
# Adapter
# --------------------------------------------------------------------------------------------

def pointwise_layers(edgeface: nn.Module) -> Dict[str, nn.Module]:
    """The adaptable 1x1 convs of an OpenCVEdgeFace: name -> _Pointwise with one factor."""
    out = {}
    for name, mod in edgeface.named_modules():
        if type(mod).__name__ == "_Pointwise" and getattr(mod, "n", 0) == 1:
            out[name] = mod
    return out


def _attach(edgeface: nn.Module, names, delta):
    """Makes the named pointwise layers compute with w0 + delta(key) (differentiable); returns
    the function that puts the class's own forward back."""
    layers = pointwise_layers(edgeface)
    handles = []
    for name in names:
        mod, key = layers[name], name.replace(".", "_")

        def fwd(x, mod=mod, key=key):
            return F.conv2d(x, mod.w0 + delta(key), mod.b0)

        mod.forward = fwd
        handles.append(mod)

    def detach():
        for m in handles:
            del m.forward  # back to the class's forward
    return detach


class LoRA(nn.Module):
    """Low-rank updates for the pointwise layers of an OpenCVEdgeFace (its buffers stay frozen)."""

    def __init__(self, edgeface: nn.Module, rank: int = 8, seed: int = 0):
        super().__init__()
        self.rank = rank
        self.names = sorted(pointwise_layers(edgeface))
        g = torch.Generator().manual_seed(seed)
        self.A = nn.ParameterDict()
        self.B = nn.ParameterDict()
        layers = pointwise_layers(edgeface)
        for name in self.names:
            w = layers[name].w0
            out_c, in_c = w.shape[0], w.shape[1]
            key = name.replace(".", "_")
            self.A[key] = nn.Parameter(torch.randn(rank, in_c, generator=g) / in_c ** 0.5)
            self.B[key] = nn.Parameter(torch.zeros(out_c, rank))
        self._edgeface = [edgeface]  # not a submodule: its weights are not the adapter's

    def deltas(self) -> Dict[str, torch.Tensor]:
        return {n: self.B[n.replace(".", "_")] @ self.A[n.replace(".", "_")] for n in self.names}

    def factors(self) -> Dict[str, tuple]:
        """Each layer's update as (A, B), D = B A: what the adapters' file holds."""
        return {n: (self.A[n.replace(".", "_")], self.B[n.replace(".", "_")]) for n in self.names}

    def attach(self):
        """Makes the EdgeFace's forward use W + BA (differentiable). Returns a detach function."""
        return _attach(self._edgeface[0], self.names,
                       lambda key: (self.B[key] @ self.A[key])[:, :, None, None])


class FullUpdate(nn.Module):
    """Full-rank updates of the same 1x1 convs (W + D, D starts at zero): the full fine-tune of
    the recogniser's pointwise layers, which hold almost all of its weights. AdamW's weight decay
    on D pulls the student towards the teacher. Same interface as LoRA (rank 0)."""

    def __init__(self, edgeface: nn.Module):
        super().__init__()
        self.rank = 0
        layers = pointwise_layers(edgeface)
        self.names = sorted(layers)
        self.D = nn.ParameterDict()
        for name in self.names:
            w = layers[name].w0
            self.D[name.replace(".", "_")] = nn.Parameter(torch.zeros(w.shape[0], w.shape[1]))
        self._edgeface = [edgeface]

    def factors(self) -> Dict[str, tuple]:
        """Each layer's update as (A, B) with D = B A, for the adapters' file format: A = I
        (the folding tools then need no case of their own)."""
        return {n: (torch.eye(d.shape[1]), d) for n, d in self.deltas().items()}

    def deltas(self) -> Dict[str, torch.Tensor]:
        return {n: self.D[n.replace(".", "_")] for n in self.names}

    def attach(self):
        """Makes the EdgeFace's forward use W + D (differentiable). Returns a detach function."""
        return _attach(self._edgeface[0], self.names, lambda key: self.D[key][:, :, None, None])


def make_update(edgeface: nn.Module, rank: int, seed: int = 0) -> nn.Module:
    """rank > 0: a LoRA adapter; rank 0: full-rank updates (FullUpdate)."""
    return FullUpdate(edgeface) if rank == 0 else LoRA(edgeface, rank, seed)


def apply_adapter(edgeface: nn.Module, deltas: Dict[str, torch.Tensor]) -> int:
    """Folds saved deltas into an OpenCVEdgeFace's buffers (for export). Returns layers changed."""
    layers = pointwise_layers(edgeface)
    missing = sorted(set(deltas) - set(layers))
    if missing:
        raise ValueError(f"adapter names layers this EdgeFace lacks: {', '.join(missing[:5])}")
    for name, d in deltas.items():
        w = layers[name].w0
        if tuple(d.shape) != tuple(w.shape[:2]):
            raise ValueError(f"adapter layer {name}: shape {tuple(d.shape)} != {tuple(w.shape[:2])}")
        w.copy_((w.double() + d.double()[:, :, None, None]).float())
    return len(deltas)


def adapter_arrays(lora: nn.Module) -> Dict[str, "object"]:
    """The adapter as saved in models/adapters/*.npz: '<layer>:A' and '<layer>:B' float32 arrays
    (what tools/convert_edgeface.py --adapter folds into EdgeFace)."""
    import numpy as np
    arrays = {}
    for n, (a, b) in lora.factors().items():
        arrays[f"{n}:A"] = a.detach().cpu().numpy().astype(np.float32)
        arrays[f"{n}:B"] = b.detach().cpu().numpy().astype(np.float32)
    return arrays
