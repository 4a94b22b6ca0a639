-- wrk script for the driver benchmarks: POST the shared JSON body with its
-- Content-Type on every request (keep-alive, no think time).
-- The body file is $WRK_BODY_FILE, else benchmarks/body.json relative to the
-- directory wrk runs in (run_http.py sets the variable).
local path = os.getenv("WRK_BODY_FILE") or "benchmarks/body.json"
local f = assert(io.open(path, "rb"), "cannot open body file " .. path)
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
