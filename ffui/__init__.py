"""ffui: a terminal fine-tuning studio.

The package is the headless core. It never imports textual, and never imports
torch or transformers at import time (only ffui.train does, in its own process).
"""

__version__ = "0.1.0"
