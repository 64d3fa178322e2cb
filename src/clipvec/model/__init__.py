"""The CLIP model: checkpoint facts, loading, encoding, and locally built test models."""
