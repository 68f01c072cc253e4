"""The trainer process (`python -m ffui.train RUN_DIR`), the tiny-model builder and launch helpers.

Importing this package stays light (no torch/transformers): the CLI imports
ffui.train.config and ffui.train.launch. Only ffui.train.runner/backends/callback/tiny,
run inside the trainer process, import the heavy libraries, inside functions.
"""
