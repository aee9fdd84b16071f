"""``import openvino`` without its telemetry, for the embedders and the int8 vector scan.

On import, OpenVINO's converter module (``openvino.tools.ovc``, imported by ``openvino``
itself) and NNCF each start a usage-statistics client from the ``openvino-telemetry`` package:
a network call from a background thread that forks (it once hung a concurrent numpy matmul
here). Both libraries fall back to their own no-op stubs when ``openvino_telemetry`` cannot be
imported (``openvino/tools/ovc/telemetry_utils.py``, ``nncf/telemetry/wrapper.py``), so we make
it unimportable *in this process only* — a ``None`` entry in ``sys.modules``, Python's
documented "this module is not available". That is cleaner than the previous opt-out,
``CI=true`` in ``os.environ``: that changed the environment of every child process too (pip,
tqdm and test tools all behave differently under CI) and was set merely by importing our
module. The other documented opt-out writes a consent file into the user's home.
"""

from __future__ import annotations

import sys
from typing import Any

TELEMETRY_MODULE = "openvino_telemetry"


def import_openvino() -> Any:
    """The ``openvino`` module, loaded with telemetry disabled (see the module docstring)."""
    if "openvino" not in sys.modules and TELEMETRY_MODULE not in sys.modules:
        sys.modules[TELEMETRY_MODULE] = None  # type: ignore[assignment]
    import openvino

    return openvino


def import_nncf() -> Any:
    """``nncf`` (int8 quantization, export only), with the same telemetry opt-out."""
    import_openvino()
    import nncf

    return nncf
