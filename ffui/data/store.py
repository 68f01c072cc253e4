"""The database side of datasets, by the names the CLI, the TUI and the tests use.

A facade: each job is its own module, and this one re-exports their public names.

- ``datasets``  lookup (``resolve``), list, show, remove, new-name checks
- ``rows``      pages (keyset both ways), counts, whole-dataset reads in a worker thread
- ``fill``      the one fill path every new dataset goes through (import, merge, operations)
- ``importing`` import of a file, folder or hub id, with progress
- ``derive``    dedupe, filter, split, sample, shuffle, merge
- ``export``    export to files, the trainer's dataset.jsonl
- ``stats``     statistics of a stored dataset
- ``prompts``   prompt templates bound to a dataset

The SQL over ``scrape_sessions``/``scraped_pairs`` is ffui.db's (``scraped_data``,
``dataset_fill``).
"""

from __future__ import annotations

from .datasets import (display_name, list_datasets, remove, resolve, session_for_registry_id,
                       session_layout, session_meta, show)
from .derive import dedupe, filter_dataset, merge, sample, shuffle, split
from .export import export_dataset, write_training_file
from .fill import Progress, fill_dataset
from .importing import import_dataset
from .prompts import (add_prompt, get_prompt_by_name, list_prompts, prompt_dataset,
                      render_prompt_samples)
from .rows import (count, field_names, iter_records_sync, iter_stored, page, page_before,
                   record_fields_sample)
from .stats import dataset_stats as stats

__all__ = [
    "Progress",
    "add_prompt", "count", "dedupe", "display_name", "export_dataset", "field_names",
    "fill_dataset", "filter_dataset", "get_prompt_by_name", "import_dataset",
    "iter_records_sync", "iter_stored", "list_datasets", "list_prompts", "merge", "page",
    "page_before", "prompt_dataset", "record_fields_sample", "remove", "render_prompt_samples",
    "resolve", "sample", "session_for_registry_id", "session_layout", "session_meta", "show",
    "shuffle", "split", "stats", "write_training_file",
]
