"""Which reads must be Strong.

Collections use ``consistency_level="Session"``: a read waits for this client's own writes
only. That misses deletes on a 2.3 server, other clients' writes, and rows a server is
still replaying after a (re)start; those reads are Strong (see ``ReadConsistency``). Milvus
Lite is one process with one client: only deletes and foreign writes apply there.
"""

from __future__ import annotations

from typing import Any

from clipvec.errors import StoreUnavailable
from clipvec.store.connection import Connection


class ReadConsistency:
    """The consistency level of the next read, kept in step with the connection's fortunes."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        # A 2.3 server returns no timestamp for deletes, so pymilvus' Session consistency
        # cannot see them: the first read after a delete asks for Strong instead.
        self._after_delete = False
        # A server may be replaying its log (just restarted, or we just lost it): until one
        # read with Strong consistency has succeeded, Session reads could miss stored rows
        # written by other processes and answer "no hits" for data that is there.
        self._catch_up = not conn.is_lite
        conn.on_unavailable = self._lost
        conn.on_strong_read = self._caught_up

    def _lost(self) -> None:
        self._catch_up = not self._conn.is_lite  # reads wait for the server to catch up

    def _caught_up(self) -> None:
        self._catch_up = False  # a Strong read came back: the server has caught up

    def strong_next_read(self) -> None:
        """The next read is Strong: rows were deleted, or other clients wrote meanwhile."""
        self._after_delete = True

    @property
    def stale(self) -> bool:
        """True while a Session read could show deleted rows or miss stored ones."""
        return self._after_delete or self._catch_up

    def read_options(self) -> dict[str, Any]:
        """Extra query/search arguments for the next read (``consistency_level`` or none)."""
        if self._catch_up:  # every read, from every thread, until one Strong read has come back
            self._check_loaded()
            return {"consistency_level": "Strong"}
        if self._after_delete:
            self._after_delete = False
            return {"consistency_level": "Strong"}
        return {}

    def _check_loaded(self) -> None:
        """A server that just came back may still be loading the collection: say so (503).

        Until it has loaded every segment it answers searches from what it has, which can be
        nothing: "no hits" for data that is stored. Asked only while catching up.
        """
        conn = self._conn
        state = conn.call(conn.client.get_load_state, conn.collection)
        name = getattr(state.get("state"), "name", str(state.get("state")))
        if name == "NotLoad":
            conn.call(conn.client.load_collection, conn.collection, timeout=conn.reload_timeout)
        elif name != "Loaded":
            progress = state.get("progress")
            raise StoreUnavailable(
                f"Milvus at {conn.uri} is still loading collection {conn.collection!r}"
                + (f" ({progress}%)" if progress is not None else "")
            )
