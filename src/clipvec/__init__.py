"""clipvec: CLIP image and text vectors, served with BentoML and stored in Milvus."""

__version__ = "0.1.0"
