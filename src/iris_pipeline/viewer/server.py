"""The viewer's web server: a Bokeh server application plus a read-only file route for downloads."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from bokeh.application import Application
from bokeh.application.handlers.function import FunctionHandler
from bokeh.server.server import Server
from tornado.ioloop import IOLoop
from tornado.web import StaticFileHandler

from ..exceptions import IrisPipelineError
from .app import ViewerPage

__all__ = ["ViewerServer", "serve"]


class _DownloadHandler(StaticFileHandler):
    """Serves the products as attachments (no caching: a product may be rewritten during the night)."""

    def set_extra_headers(self, path):
        self.set_header("Content-Disposition", f'attachment; filename="{Path(path).name}"')
        self.set_header("Cache-Control", "no-store")


class ViewerServer:
    """A viewer on ``folder`` at ``http://address:port/``, run in a background thread (`start`, `stop`).

    Parameters
    ----------
    folder : path-like
        Folder of products (searched recursively).
    port : int
        TCP port.
    address : str
        Interface to listen on; 127.0.0.1 (this machine only) by default.
    """

    def __init__(self, folder, port: int = 5006, address: str = "127.0.0.1"):
        self.folder = Path(folder).resolve()
        if not self.folder.is_dir():
            raise IrisPipelineError(f"{folder}: not a folder")
        self.port, self.address = int(port), address
        self._server = None
        self._thread = None
        self._ready = threading.Event()
        self._error = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/"

    def _make_server(self) -> Server:
        folder = self.folder
        application = Application(FunctionHandler(lambda doc: ViewerPage(doc, folder)))
        origins = [f"{self.address}:{self.port}", f"localhost:{self.port}", f"127.0.0.1:{self.port}"]
        return Server(
            {"/": application}, port=self.port, address=self.address, allow_websocket_origin=origins,
            extra_patterns=[(r"/files/(.*)", _DownloadHandler, {"path": str(folder)})], num_procs=1,
        )  # fmt: skip

    def run(self) -> None:
        """Serve in this thread until interrupted."""
        self._server = self._make_server()
        self._server.start()
        self._server.io_loop.start()

    def start(self) -> ViewerServer:
        """Serve from a background thread; returns once the port is open."""

        def target():
            asyncio.set_event_loop(asyncio.new_event_loop())
            try:
                self._server = self._make_server()
                self._server.start()
            except Exception as err:  # reported to the caller of start()
                self._error = err
                self._ready.set()
                return
            self._ready.set()
            self._server.io_loop.start()

        self._thread = threading.Thread(target=target, name="iris-viewer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise IrisPipelineError(f"viewer: cannot listen on {self.address}:{self.port} ({self._error})")
        return self

    def stop(self) -> None:
        """Stop the server started by `start` and wait for its thread."""
        if self._server is None:
            return
        loop: IOLoop = self._server.io_loop

        def shutdown():
            self._server.stop()
            loop.stop()

        loop.add_callback(shutdown)
        if self._thread is not None:
            self._thread.join(timeout=10)
            loop.close(all_fds=True)


def serve(folder, port: int = 5006, address: str = "127.0.0.1") -> None:
    """Run the viewer on ``folder`` until interrupted (Ctrl-C)."""
    server = ViewerServer(folder, port, address)
    print(f"iris-pipeline view: {server.folder} at {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
