"""The web UI: start, watch and steer runs from a browser (`driver ui`, `driver run --ui`).

    from driver.ui import UiServer, RunManager
    with UiServer(RunManager(Path("."), Path("driver-results")), "127.0.0.1", 0) as ui:
        print(ui.url)

Modules: server (the aiohttp app: page, API, event stream, the safety rules), manager
(runs, steers, stops, listeners), live (windows and results as the page's JSON), form
(the start form -> a Plan), files (the working and output directories, nothing else),
serve (listening, in a thread), static/ (the page; charts with the HTML report's
vendored uPlot).
"""
from __future__ import annotations

from driver.ui.manager import LiveRun, RunManager
from driver.ui.serve import UiServer, make_server, url_of

__all__ = ["LiveRun", "RunManager", "UiServer", "make_server", "url_of"]
