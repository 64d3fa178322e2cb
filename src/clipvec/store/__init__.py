"""The Milvus collection of image vectors (see ``clipvec.store.image_store``)."""

from clipvec.store.image_store import *  # noqa: F403 - the package's public names, until it is split
from clipvec.store.image_store import PATHS_KEPT, Hit, ImageRecord, ImageStore, clamp_score, drop_collection  # noqa: F401
