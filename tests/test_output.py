"""Nothing a user records is lost: the output is checked before the load, result.json
is always written first, a broken summary or report costs nothing else, and an output
that goes away during the run is replaced by a fallback that is named."""
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson

from driver.reports.output import new_run_dir
from servers import aiohttp_server, ok_app

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, capture_output=True,
                          timeout=timeout)


def _one_line_error(proc, code=2) -> str:
    err = proc.stderr.decode().strip()
    assert proc.returncode == code, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_each_run_gets_its_own_directory(tmp_path):
    a, b = new_run_dir(tmp_path), new_run_dir(tmp_path)
    assert a != b and a.is_dir() and b.is_dir()


def test_an_output_that_cannot_be_written_is_refused_before_the_load(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    cases = {
        str(a_file): "is a file",
        str(a_file / "below"): "is below the file",
        "/proc/self/driver-out": "/proc/self/driver-out: cannot write results there",  # not writable
    }
    with aiohttp_server(ok_app) as srv:
        for output, needle in cases.items():
            proc = _cli("run", srv.url + "/", "-d", "5s", "-u", "1", "-w", "1", "-q", "-o", output)
            err = _one_line_error(proc)
            assert needle in err and "--output" in err
        assert srv.requests == 0  # refused before any load


def test_an_output_that_goes_away_during_the_run_falls_back_and_says_where(tmp_path):
    base = tmp_path / "out"
    with aiohttp_server(ok_app) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "driver.cli", "run", srv.url + "/", "-d", "2s", "-u", "2",
                                 "-w", "1", "-q", "-o", str(base)], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        time.sleep(1.0)
        shutil.rmtree(base)
        base.write_text("now a file")  # the output cannot become a directory any more
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    line = next(l for l in err.decode().splitlines() if "could not be written" in l)
    fallback = Path(line.rsplit("the results are in ", 1)[1])
    data = orjson.loads((fallback / "result.json").read_bytes())
    assert data["totals"]["requests"] > 0
    shutil.rmtree(fallback)


def test_result_json_is_written_whatever_the_formats(tmp_path):
    with aiohttp_server(ok_app) as srv:
        proc = _cli("run", srv.url + "/", "-n", "20", "-u", "1", "-w", "1", "-q", "--report", "md",
                    "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()
    (run_dir,) = tmp_path.iterdir()
    assert sorted(p.name for p in run_dir.iterdir()) == ["result.json", "summary.md"]


def test_a_run_that_recorded_nothing_still_saves_and_summarises(tmp_path):
    scenario = tmp_path / "idle.py"
    scenario.write_text(textwrap.dedent("""
        import asyncio
        from driver.scenario import User, task

        class Idle(User):
            @task
            async def idle(self):
                await asyncio.sleep(0.2)  # never sends a request
    """))
    out = tmp_path / "out"
    with aiohttp_server(ok_app) as srv:
        proc = _cli("run", srv.url, "-s", str(scenario), "-d", "1s", "-u", "2", "-w", "1", "-q", "-o", str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr
    (path,) = out.glob("*/result.json")
    assert orjson.loads(path.read_bytes())["totals"]["requests"] == 0


def test_report_into_a_file_is_one_line(tmp_path):
    with aiohttp_server(ok_app) as srv:
        proc = _cli("run", srv.url + "/", "-n", "5", "-u", "1", "-w", "1", "-q", "-o", str(tmp_path / "r"))
    (result,) = (tmp_path / "r").glob("*/result.json")
    target = tmp_path / "taken"
    target.write_text("x")
    err = _one_line_error(_cli("report", str(result), "--report", "md", "-o", str(target)))
    assert "is a file" in err
    proc = _cli("report", str(result), "--report", "md", "-o", str(tmp_path / "new" / "dir"))
    assert proc.returncode == 0 and (tmp_path / "new" / "dir" / "summary.md").exists()
