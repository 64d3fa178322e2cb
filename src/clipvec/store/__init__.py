"""The one place that owns the Milvus collection: image vectors in, nearest images out.

Works the same against Milvus Lite 2.5 (a local ``*.db`` file) and a Milvus 2.3+ server
(``http(s)://host:port``). Portability rules learnt the hard way, each checked on both:

* collections use ``consistency_level="Session"``, but a 2.3 server returns no timestamp
  for a delete, so Session reads do not see it: the first read after a delete is Strong;
* ``count()`` counts rows (``count(*)`` over ``content_hash != ""``), never collection
  statistics, which ignore deletes;
* a restarted server may not reload the collection: calls that fail with "not loaded" load
  it and retry once;
* ``paths`` is ``ARRAY<VARCHAR>`` (a 2.3 server only takes JSON *objects*, not lists);
* duplicate primary keys inside one upsert request are stored twice by both backends, so
  ``upsert`` deduplicates (last record wins) before sending;
* requests are small (<= 512 rows, ~1 MiB): Lite slows down sharply above ~4 MB per request
  (8k rows of 512-d took 71 s instead of ~1 s) and both backends are fastest around 500 rows;
* string literals in filters: Lite decodes only ``\\"`` and ``\\\\``; a 2.3 server's ``like``
  has no escape for ``%``/``_``. Path prefixes are therefore filtered with a range
  (``path >= p and path < p'``), which is exact for any characters; control characters
  cannot be written in a Lite filter at all and are checked on the client;
* the model, dimension, metric and schema version are kept in the collection description
  (JSON), which both backends store; the vector field's dim and the index's metric are
  checked too;
* ``index_type="auto"``: exact FLAT on Lite (which offers only FLAT, IVF_FLAT, AUTOINDEX;
  ~15 ms at 100k rows, IVF_FLAT ~1 ms at ~99% recall), HNSW (M 16, efConstruction 200,
  search ef max(128, top_k)) on a server.

The parts, each with one job (``ImageStore`` composes them):

* ``records``: ``ImageRecord`` and ``Hit``, the size limits, record <-> row, hit parsing;
* ``meta_columns``: a photo's metadata as schema version 2's columns (unknown = a sentinel);
* ``filters``: the filter language (literals, prefix ranges, ``content_hash in [...]``);
* ``lite_file``: the Lite file itself (its lock, damage check, on-disk write check);
* ``lite_registry``: which Lite files this process holds open, released by the last user;
* ``lite_helper``: milvus-lite's helper process started as soon as it listens (not after 0.5 s);
* ``outages``: which Milvus errors mean "cannot serve now" (503), by code, then by text;
* ``connection``: opening the client, every call (timeout, reload, unavailable), closing;
* ``consistency``: which reads must be Strong;
* ``schema``: the schema (version 2; version 1 still opens), its index, and the check that
  an existing collection fits;
* ``writes``: verified, batched, deduplicated upserts, and deletes;
* ``names``: adding one name to a content's record, atomic per hash and read back;
* ``reads``: count, get, get by path, every record a page at a time;
* ``nearest``: vector search with path prefix, photo filter and minimum score;
* ``meta_filter``: the photo filter (``MetaFilter``) compiled into one expression;
* ``geo``: great-circle distances and the lat/lon box of a circle (``near``);
* ``facets``: cameras, lenses, formats and dates with counts, and the distinct keys;
* ``image_store``: the ``ImageStore`` facade;
* ``roots``: the folders and S3 prefixes imported into a collection (a companion collection);
* ``drop``: deleting a whole collection (needs no model).
"""

from clipvec.store.drop import drop_collection
from clipvec.store.facets import FacetCount, Facets
from clipvec.store.filters import literal, prefix_filter
from clipvec.store.image_store import ImageStore
from clipvec.store.meta_filter import MetaFilter, Near
from clipvec.store.names import NameAdded
from clipvec.store.records import (
    MAX_TOP_K,
    PATHS_KEPT,
    SCORE_RANGES,
    Hit,
    ImageRecord,
    clamp_score,
    higher_is_better,
)
from clipvec.store.schema import METRICS, SCHEMA_VERSION

__all__ = [
    "FacetCount",
    "Facets",
    "MetaFilter",
    "Near",
    "MAX_TOP_K",
    "METRICS",
    "PATHS_KEPT",
    "SCHEMA_VERSION",
    "SCORE_RANGES",
    "Hit",
    "ImageRecord",
    "ImageStore",
    "NameAdded",
    "clamp_score",
    "drop_collection",
    "higher_is_better",
    "literal",
    "prefix_filter",
]
