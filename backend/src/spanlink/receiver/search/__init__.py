"""Full-text search indexing off the ingest path.

Ingest stores spans and queues them (``span_search_queue``); :class:`SearchIndexer`, one per
receiver process, computes their vectors into ``span_search`` in bounded transactions right
after each commit (and every ``search_index_interval_s`` for batches other processes
queued). Several processes share the queue safely: a batch is claimed with
``FOR UPDATE SKIP LOCKED``, indexed and removed in one transaction. Searches match the
spans still queued on the fly (``storage._search``), so nothing stored is ever missing
from a search.
"""

from __future__ import annotations

from spanlink.receiver.search._indexer import IndexedBatch, SearchIndexer

__all__ = ["IndexedBatch", "SearchIndexer"]
