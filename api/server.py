"""Run one API replica under uvicorn with Keptn-grade graceful shutdown.

At SIGTERM readiness fails first (the gateway and probes stop routing here), uvicorn then stops accepting,
finishes in-flight requests, and only after that the lifespan drains NATS — so no request that was accepted loses
its publish.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

import uvicorn

from api.app import create_app
from keptn_temporal.settings import Settings

GRACEFUL_SHUTDOWN_S = 30
# Below nginx's upstream keepalive_timeout would race idle closes; the gateway keeps 4 s, so 5 s here.
KEEP_ALIVE_S = 5


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app) -> None:  # type: ignore[no-untyped-def]
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._app.state.readiness.stopping = True
        super().handle_exit(sig, frame)


def serve(settings: Settings) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        timeout_keep_alive=KEEP_ALIVE_S,
        log_level="info",
        access_log=False,
        lifespan="on",
    )
    server = _Server(config, app)
    # uvicorn restores the previous handlers and re-raises the captured signal after its shutdown, which would
    # end the process with -15. A completed drain is a clean exit for us, so the restored handlers ignore it.
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    server.run()
    return 0 if server.started else 1
