"""Every call ffui makes to RunPod's API, through the ``runpod`` SDK (1.12; GraphQL today).

RunPod is moving its public API from GraphQL to REST: this module is the only one that talks to
it, so a change of transport is this one file. The SDK posts to
``{RUNPOD_API_BASE_URL or https://api.runpod.io}/graphql`` with the key in an ``Authorization:
Bearer`` header (never the URL); it escapes nothing it puts into a query, so every value ffui
passes is checked here first (``safe``) and anything larger is shipped base64-encoded.

Errors come back as ``RunPodError`` (one line saying what to do): ``BadKey`` for a refused or
missing key, ``NoCapacity`` for the several wordings of "no GPU of that type free now".
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

from ffui.errors import FfuiError

DEFAULT_API = "https://api.runpod.io"
NAME_PREFIX = "ffui-"  # every pod ffui makes is named ffui-<run uuid>
KEY_ENV = "RUNPOD_API_KEY"
NO_CAPACITY = ("no longer any instances available", "not enough free gpu", "no instances available",
               "no available instances", "could not find any pods with required specifications")
NOT_FOUND = ("not found", "does not exist")
SAFE_VALUE = re.compile(r"[A-Za-z0-9 _./:=+,@%-]*")  # nothing that can end or escape a GraphQL string
SAFE_COMMAND = re.compile(r"[A-Za-z0-9 _./:=+,@%$;&|>'-]*")  # a start command: still no " \ or newline

_sdk_lock = threading.Lock()  # the SDK keeps the key in a module global


class RunPodError(FfuiError):
    """A RunPod call failed; ``str()`` says what to do."""


class BadKey(RunPodError):
    pass


class NoCapacity(RunPodError):
    pass


MISSING_KEY = ("no RunPod API key: set one with 'ffui settings set runpod.api_key' (it is asked for, "
               f"never put on the command line) or in the environment variable {KEY_ENV}")
REFUSED_KEY = ("RunPod refused the API key: check it on runpod.io (Settings > API Keys) and set it again "
               "with 'ffui settings set runpod.api_key'")


def api_base() -> str:
    return os.environ.get("RUNPOD_API_BASE_URL", DEFAULT_API)


def safe(what: str, value: str, pattern: re.Pattern = SAFE_VALUE) -> str:
    """``value`` unchanged, or a RunPodError: the SDK pastes it into a GraphQL string unescaped."""
    if not pattern.fullmatch(value) or len(value) > 20000:
        raise RunPodError(f"{what} {value[:40]!r} has characters RunPod's API cannot take (quotes, backslashes, "
                          "newlines); use plain letters, digits and ._/:-")
    return value


def pod_name(job_uuid: str) -> str:
    return NAME_PREFIX + safe("the run's uuid", job_uuid)


class RunPod:
    """The account of one API key. Every method raises RunPodError on failure."""

    def __init__(self, api_key: str | None):
        if not api_key:
            raise BadKey(MISSING_KEY)
        self.key = api_key

    # -- the transport --------------------------------------------------------------------

    def call(self, fn_name: str, *args: Any, **kwargs: Any) -> Any:
        """Run one SDK function with this key, its exceptions turned into one-line RunPodErrors."""
        import requests
        import runpod
        from runpod import error as sdk_error

        with _sdk_lock:
            runpod.api_key = self.key  # create_pod and terminate_pod read only the global
            try:
                fn = getattr(runpod, fn_name, None) or getattr(runpod.api.graphql, fn_name)
                return fn(*args, **kwargs)
            except sdk_error.AuthenticationError:
                raise BadKey(REFUSED_KEY) from None
            except sdk_error.QueryError as exc:
                raise classify(str(exc)) from None
            except requests.exceptions.JSONDecodeError:
                raise RunPodError(f"RunPod ({api_base()}) answered with something that is not JSON; "
                                  "it may be down: try again in a few minutes") from None
            except requests.exceptions.RequestException as exc:
                raise RunPodError(f"cannot reach RunPod at {api_base()} ({type(exc).__name__}); "
                                  "check the network or the proxy settings, then try again") from None
            finally:
                runpod.api_key = None

    # -- the account ----------------------------------------------------------------------

    def gpu_types(self) -> list[dict]:
        """Every GPU type with its memory and on-demand $/hr in each cloud (prices may be null)."""
        query = ("query GpuTypes { gpuTypes { id displayName memoryInGb secureCloud communityCloud "
                 "securePrice communityPrice } }")
        return self.call("run_graphql_query", query, api_key=self.key)["data"]["gpuTypes"] or []

    def pods(self) -> list[dict]:
        return self.call("get_pods", api_key=self.key) or []

    def ffui_pods(self) -> list[dict]:
        return [p for p in self.pods() if str(p.get("name") or "").startswith(NAME_PREFIX)]

    def pod(self, pod_id: str) -> dict | None:
        """The pod, or None when it does not exist (terminated, or never made)."""
        try:
            return self.call("get_pod", safe("pod id", pod_id), api_key=self.key)
        except RunPodError as exc:
            if any(words in str(exc).lower() for words in NOT_FOUND):
                return None
            raise

    def find(self, name: str) -> list[dict]:
        return [p for p in self.pods() if p.get("name") == name]

    def create(self, *, name: str, image: str, gpu: str, gpu_count: int, cloud: str, env: dict[str, str],
               start_command: str, port: int, disk_gb: int) -> dict:
        for key, value in env.items():
            safe("environment variable name", key, re.compile(r"[A-Z_][A-Z0-9_]*"))
            safe(f"the value of {key}", value)
        try:
            return self.call(
                "create_pod", safe("pod name", name), safe("image", image), safe("GPU type", gpu),
                cloud_type=cloud, gpu_count=int(gpu_count), volume_in_gb=0, container_disk_in_gb=int(disk_gb),
                ports=f"{int(port)}/http", env=env, docker_args=safe("start command", start_command, SAFE_COMMAND),
                support_public_ip=False, start_ssh=False,
            )
        except ValueError:  # the SDK's own check that the GPU type exists
            raise RunPodError(f"RunPod has no GPU type {gpu!r}; 'ffui pods gpus' lists the ones it has") from None

    def terminate(self, pod_id: str) -> None:
        """Terminate the pod; one that is already gone is success (terminate is idempotent)."""
        try:
            self.call("terminate_pod", safe("pod id", pod_id))
        except RunPodError as exc:
            if not any(words in str(exc).lower() for words in NOT_FOUND):
                raise


def classify(message: str) -> RunPodError:
    low = message.lower()
    if any(words in low for words in NO_CAPACITY):
        return NoCapacity(f"RunPod has no free GPU of that type now ({message[:120]})")
    if "unauthorized" in low or "api key" in low:
        return BadKey(REFUSED_KEY)
    return RunPodError(f"RunPod refused the request: {message[:200]}")


async def api_key(db) -> str | None:
    """The key: the environment's RUNPOD_API_KEY, else the setting runpod.api_key."""
    from ffui.db import get_setting

    return os.environ.get(KEY_ENV) or await get_setting(db, "runpod.api_key") or None


async def account(db) -> RunPod:
    """The RunPod account of this home's key (BadKey saying how to set one when there is none)."""
    from ffui.db import register_secret

    key = await api_key(db)
    register_secret(key)  # no log line this process writes may show it
    return RunPod(key)
