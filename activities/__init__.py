"""Activities: all I/O of the sequences (store, eventbus). The worker registers ALL_ACTIVITIES."""

from collections.abc import Callable
from typing import Any

from activities.health import control_plane_ping

ALL_ACTIVITIES: list[Callable[..., Any]] = [control_plane_ping]
