-- wrk script: request every tile of the path list in turn.
-- PREFIX is the URL path before z/x/y, AUTH an optional Authorization value.
local paths = {}
local prefix = os.getenv("PREFIX") or "/"
local suffix = os.getenv("SUFFIX") or ""
local auth = os.getenv("AUTH")
for line in io.lines(os.getenv("PATHS")) do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i % #paths + 1
  local headers = {}
  if auth and auth ~= "" then headers["Authorization"] = auth end
  return wrk.format("GET", prefix .. paths[i] .. suffix, headers)
end
response = function(status, headers, body)
  if status ~= 200 then print("status " .. status) end
end
