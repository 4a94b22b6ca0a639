"""Numbers: one endpoint's figures and their accessors (`endpoint`), worker blocks to
windows and endpoints (`window`), results and their merge (`result`), SLOs
(`thresholds`), the exit code and verdict text (`verdict`), the validity verdict
(`validity`) and run-to-run comparison (`compare`). No I/O but JSON files."""
