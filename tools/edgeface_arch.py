"""EdgeFace (EdgeNeXt backbone + 512-d head) model definitions, in three modules:
  * edgeface_checkpoint.py: read_checkpoint() (architecture description + float64 weights);
  * edgeface_reference.py: ReferenceEdgeFace, the original forward pass (the float reference);
  * edgeface_opencv.py: OpenCVEdgeFace, the rewrite Debian's OpenCV 4.6 DNN imports.
This module gathers them for the tools that use all three (convert_edgeface.py, train_dsr.py,
bench_reference.py).
"""

from edgeface_checkpoint import (CheckpointError, EdgeFaceSpec, Linear,
                                 fourier_positions, read_checkpoint, stage_sizes)
from edgeface_opencv import OpenCVEdgeFace
from edgeface_reference import ReferenceEdgeFace

__all__ = ["CheckpointError", "EdgeFaceSpec", "Linear", "OpenCVEdgeFace", "ReferenceEdgeFace",
           "fourier_positions", "read_checkpoint", "stage_sizes"]
