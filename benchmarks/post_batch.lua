-- wrk script: POST 100-event Segment batches with unique messageIds (a counter per thread).
-- The body template comes from the file named by the BODY_FILE environment variable;
-- "__ID__" inside it is replaced with a fresh id for every request.
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
local template = f:read("*a")
f:close()
local counter = 0
local thread_tag = tostring(math.random(1, 1e9))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("AUTH_HEADER")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end

request = function()
  counter = counter + 1
  local body = template:gsub("__ID__", thread_tag .. "-" .. counter)
  return wrk.format(nil, "/v1/batch", nil, body)
end
