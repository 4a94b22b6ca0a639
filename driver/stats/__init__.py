"""Numbers: results and their merge (`result`), SLOs (`thresholds`), the validity
verdict (`validity`) and run-to-run comparison (`compare`). No I/O but JSON files."""
