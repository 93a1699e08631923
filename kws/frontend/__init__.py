"""The fixed-point MFCC front end (numpy), its streaming form and its float reference.

- :func:`mfcc`, :func:`mfcc_batch`: int16 audio -> int8 (frames, 10)
- :class:`StreamingMfcc`: chunks in, frames out, equal to the batch result
- :func:`build_tables`: the integer tables shared with the C twin
"""

from kws.frontend.mfcc import frames_to_features, mfcc, mfcc_batch
from kws.frontend.streaming import StreamingMfcc
from kws.frontend.tables import FrontendTables, build_tables

__all__ = ["FrontendTables", "StreamingMfcc", "build_tables", "frames_to_features", "mfcc",
           "mfcc_batch"]
