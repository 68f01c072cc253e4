"""ffui's dataset pipeline: formats, streaming import/export, operations, stats, prompts.

Modules (none imports torch, transformers, textual or ``datasets`` at import time):

- ``errors``   DataError: one clear line naming the file and line/row
- ``sources``  where rows come from: a RowSource subclass per kind of input (JSONL, JSON, CSV,
               TSV, Parquet, save_to_disk and data folders, hub ids, records); ``open_source``
- ``readers``  the reading helpers sources share: compression, limits, bad-line wording, specs
- ``formats``  format detection, canonical record <-> original row / chatml
- ``writers``  JSONL, Parquet and save_to_disk-folder writers
- ``importer`` import plans and previews (no database)
- ``store``    the database side's public names, re-exported from the modules below
- ``datasets`` lookup, list, show, remove, new-name checks
- ``rows``     pages (both ways), counts, whole-dataset reads in a worker thread
- ``fill``     the one fill path for every new dataset (filling marker, chunks, progress, cancel)
- ``importing`` import with progress
- ``derive``   dedupe/filter/split/sample/shuffle/merge of stored datasets
- ``export``   export to files and the trainer's dataset.jsonl
- ``ops``      merge/dedupe/filter/split/sample as functions over iterables
- ``stats``    dataset statistics (of a record stream, and of a stored dataset)
- ``prompts``  prompt templates: placeholders and rendering; prompts in the database
- ``training`` the trainer's dataset file (``export_for_training``)
"""
