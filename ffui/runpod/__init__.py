"""Training on RunPod pods: the API (``api``, the only module that talks to RunPod), the pod's
agent (``agent``, standard library only, shipped in the pod's start command) and ffui's client
of it (``agent_client``), what is uploaded (``bundle``), a run's pod choices and the executor's
settings (``options``), and the account's ffui pods against the runs (``orphans``). The
executor itself is ffui.jobs.executors.runpod; docs/jobs.md describes the whole.
"""
